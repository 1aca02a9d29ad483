/*
 * sizes.c - shallow sizes equal to sys.getsizeof() for built-in types,
 * computed without calling __sizeof__ (that would allocate an int, and for
 * Python overrides run code). The type's __sizeof__ is resolved along its
 * MRO once; built-in implementations are mirrored here, anything else
 * (Python overrides, unknown C methods) gets object.__sizeof__'s formula.
 * sys.getsizeof adds the pre-header (GC header, managed dict pointers).
 * Beyond sys.getsizeof, an instance counts the attribute values it owns
 * (FORMAT.md, objects): tracemalloc sees them, getsizeof does not.
 */
#include "internal.h"

#include <string.h>

enum { DEQUE_BLOCK_SIZE = (64 + 2) * sizeof(void *) };

/* The head of collections.deque's private struct, up to leftindex. */
struct deque_head {
	PyObject_VAR_HEAD
	void *leftblock;
	void *rightblock;
	Py_ssize_t leftindex;
};

static uint8_t sizer_of_owner(PyTypeObject *owner)
{
	if (owner == &PyLong_Type) return HSD_SZ_INT;
	if (owner == &PyUnicode_Type) return HSD_SZ_STR;
	if (owner == &PyByteArray_Type) return HSD_SZ_BYTEARRAY;
	if (owner == &PyList_Type) return HSD_SZ_LIST;
	if (owner == &PyDict_Type) return HSD_SZ_DICT;
	if (owner == &PySet_Type || owner == &PyFrozenSet_Type) return HSD_SZ_SET;
	if (owner == &PyType_Type) return HSD_SZ_TYPE;
	if (owner == &PyCode_Type) return HSD_SZ_CODE;
	if (owner == &PyFrame_Type) return HSD_SZ_FRAME;
	if (owner == &PyGen_Type || owner == &PyCoro_Type ||
	    owner == &PyAsyncGen_Type)
		return HSD_SZ_GEN;
	if (strcmp(owner->tp_name, "collections.deque") == 0 &&
	    owner->tp_basicsize >= (Py_ssize_t)sizeof(struct deque_head))
		return HSD_SZ_DEQUE;
	return HSD_SZ_OBJECT;
}

uint8_t hsd_sizer_of(PyTypeObject *tp)
{
	PyObject *mro = tp->tp_mro;
	if (!mro || !PyTuple_Check(mro))
		return HSD_SZ_OBJECT;
	for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
		PyObject *b = PyTuple_GET_ITEM(mro, i);
		if (!PyType_Check(b))
			continue;
		PyObject *d = hsd_dict_get(hsd_type_dict((PyTypeObject *)b),
		                           "__sizeof__");
		if (!d)
			continue;
		if (Py_IS_TYPE(d, &PyMethodDescr_Type))
			return sizer_of_owner(PyDescr_TYPE(d));
		return HSD_SZ_OBJECT;
	}
	return HSD_SZ_OBJECT;
}

/* _PyDict_KeysSize() of dictobject.c, which is not exported. */
static size_t dict_keys_size(PyDictKeysObject *k)
{
	size_t es = k->dk_kind == DICT_KEYS_GENERAL ? sizeof(PyDictKeyEntry)
	                                            : sizeof(PyDictUnicodeEntry);
	size_t n = (size_t)1 << k->dk_log2_size;
	return sizeof(PyDictKeysObject) + ((size_t)1 << k->dk_log2_index_bytes) +
	       (n << 1) / 3 * es;
}

static size_t str_size(PyObject *o)
{
	size_t n = hsd_str_ready(o) ? (size_t)PyUnicode_GET_LENGTH(o) : 0;
	size_t size;
	if (PyUnicode_IS_COMPACT_ASCII(o)) {
		size = sizeof(PyASCIIObject) + n + 1;
	} else if (PyUnicode_IS_COMPACT(o)) {
		size = sizeof(PyCompactUnicodeObject) + (n + 1) * PyUnicode_KIND(o);
	} else {
		size = sizeof(PyUnicodeObject);
		if (((PyUnicodeObject *)o)->data.any)
			size += (n + 1) * PyUnicode_KIND(o);
	}
	PyCompactUnicodeObject *cu = (PyCompactUnicodeObject *)o;
#if PY_VERSION_HEX < 0x030C0000
	PyASCIIObject *au = (PyASCIIObject *)o;
	if (au->wstr && (!PyUnicode_IS_READY(o) || (void *)au->wstr != PyUnicode_DATA(o))) {
		size_t wlen = PyUnicode_IS_COMPACT_ASCII(o) ? (size_t)au->length
		                                            : (size_t)cu->wstr_length;
		size += (wlen + 1) * sizeof(wchar_t);
	}
#endif
	if (!PyUnicode_IS_COMPACT_ASCII(o) && cu->utf8 &&
	    (void *)cu->utf8 != PyUnicode_DATA(o))
		size += (size_t)cu->utf8_length + 1;
	return size;
}

/* _PyCodeObjectExtra, private to Objects/codeobject.c */
struct code_extra {
	Py_ssize_t ce_size;
	void *ce_extras[1];
};

static size_t code_size(PyCodeObject *co)
{
	size_t size = (size_t)_PyObject_VAR_SIZE(Py_TYPE(co), Py_SIZE(co));
	const struct code_extra *x = co->co_extra;
	if (x)
		size += sizeof(*x) + (size_t)(x->ce_size - 1) * sizeof(x->ce_extras[0]);
	return size;
}

/* shared_keys_usable_size() of dictobject.c: the values a split table of
 * these keys has room for, what _PyDict_SizeOf counts for one. */
static size_t split_capacity(const PyDictKeysObject *k)
{
	return (size_t)(k->dk_nentries + k->dk_usable);
}

/* Bytes of the attribute values block o owns that sys.getsizeof leaves
 * out: 3.13's values inline after the object (valid or not, they stay in
 * its block), 3.11/3.12's separate values array until a __dict__ takes it
 * over (then the dict counts it). */
static size_t values_size(PyObject *o)
{
#if PY_VERSION_HEX >= 0x030D0000
	if (!(Py_TYPE(o)->tp_flags & Py_TPFLAGS_INLINE_VALUES))
		return 0;
	/* _PyInlineValuesSize() with the capacity this object was given */
	size_t cap = _PyObject_InlineValues(o)->capacity;
	return _Py_SIZE_ROUND_UP(cap, sizeof(PyObject *)) +
	       (cap + 1) * sizeof(PyObject *);
#else
	const PyDictValues *v = hsd_inline_values(o);
	if (!v)
		return 0;
	/* new_values() of dictobject.c: round_up(cap + 2, 8) prefix bytes,
	 * the last holding that length, then cap pointers, cap being the
	 * shared keys' capacity when o was made. That capacity only shrinks
	 * (by one per new instance, to one spare): today's, held to what the
	 * prefix allows, is exact once it settles and near before. */
	size_t prefix = ((const uint8_t *)v)[-1];
	const PyDictKeysObject *k = ((PyHeapTypeObject *)Py_TYPE(o))->ht_cached_keys;
	size_t cap = k ? split_capacity(k) : 0;
	if (cap + 2 > prefix)
		cap = prefix - 2;
	else if (cap + 2 + sizeof(PyObject *) <= prefix)
		cap = prefix - 1 - sizeof(PyObject *);
	return prefix + cap * sizeof(PyObject *);
#endif
}

uint64_t hsd_iframe_size(PyCodeObject *code)
{
	return offsetof(_PyInterpreterFrame, localsplus) +
	       (uint64_t)(code->co_nlocalsplus + code->co_stacksize) *
	       sizeof(PyObject *);
}

uint64_t hsd_sizeof(PyObject *o, const struct hsd_type *t)
{
	PyTypeObject *tp = Py_TYPE(o);
	size_t size;
	switch (t->sizer) {
	case HSD_SZ_INT: {
		size_t n;
		int neg;
		hsd_long_digits(o, &n, &neg);
		size = HSD_LONG_HEAD + (n ? n : 1) * sizeof(digit);
		break;
	}
	case HSD_SZ_STR:
		size = str_size(o);
		break;
	case HSD_SZ_BYTEARRAY:
		size = (size_t)tp->tp_basicsize + (size_t)((PyByteArrayObject *)o)->ob_alloc;
		break;
	case HSD_SZ_LIST:
		size = (size_t)tp->tp_basicsize +
		       (size_t)((PyListObject *)o)->allocated * sizeof(void *);
		break;
	case HSD_SZ_DICT: {
		PyDictObject *d = (PyDictObject *)o;
		size = (size_t)_PyDict_SizeOf(d);
#if PY_VERSION_HEX >= 0x030D0000
		/* values inside an instance count in the instance */
		if (d->ma_values && d->ma_values->embedded)
			size -= split_capacity(d->ma_keys) * sizeof(PyObject *);
#endif
		break;
	}
	case HSD_SZ_SET: {
		PySetObject *s = (PySetObject *)o;
		size = (size_t)tp->tp_basicsize;
		if (s->table != s->smalltable)
			size += (size_t)(s->mask + 1) * sizeof(setentry);
		break;
	}
	case HSD_SZ_TYPE: {
		PyTypeObject *self = (PyTypeObject *)o;
		if (self->tp_flags & Py_TPFLAGS_HEAPTYPE) {
			PyHeapTypeObject *ht = (PyHeapTypeObject *)self;
			size = sizeof(PyHeapTypeObject);
			if (ht->ht_cached_keys)
				size += dict_keys_size(ht->ht_cached_keys);
		} else {
			size = sizeof(PyTypeObject);
		}
		break;
	}
	case HSD_SZ_CODE:
		size = code_size((PyCodeObject *)o);
		break;
	case HSD_SZ_FRAME:
		size = offsetof(PyFrameObject, _f_frame_data) +
		       hsd_iframe_size(hsd_frame_code(((PyFrameObject *)o)->f_frame));
		break;
	case HSD_SZ_GEN:
		size = offsetof(PyGenObject, gi_iframe) +
		       hsd_iframe_size(hsd_gen_code((PyGenObject *)o));
		break;
	case HSD_SZ_DEQUE: {
		const struct deque_head *d = (const struct deque_head *)o;
		size_t blocks = (size_t)(d->leftindex + Py_SIZE(o) + 63) / 64;
		size = (size_t)tp->tp_basicsize + blocks * DEQUE_BLOCK_SIZE;
		break;
	}
	default:
		size = (size_t)tp->tp_basicsize;
		if (tp->tp_itemsize > 0)
			size += (size_t)(Py_SIZE(o) * tp->tp_itemsize);
		break;
	}
#if PY_VERSION_HEX >= 0x030D0000
	/* 3.13 adds no pre-header for static types, which have none */
	if (tp == &PyType_Type && !(((PyTypeObject *)o)->tp_flags & Py_TPFLAGS_HEAPTYPE))
		return size;
#endif
	return size + values_size(o) + _PyType_PreHeaderSize(tp);
}
