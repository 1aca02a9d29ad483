/*
 * types.c - one record per distinct type of a written object: its hs type
 * id and what the walk needs to know about its instances.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* The tp_traverse of classes defined in Python; found by hs_dump_init(). */
static traverseproc subtype_traverse;

int hs_dump_init(void)
{
	/* Only classes defined in Python use subtype_traverse, static inside
	 * typeobject.c: borrow it from one importlib always has. */
	PyInterpreterState *interp = PyThreadState_Get()->interp;
	PyObject *cls = hsd_module_get(interp, "_frozen_importlib", "ModuleSpec");
	if (!cls || !PyType_Check(cls) ||
	    !(((PyTypeObject *)cls)->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
		PyErr_SetString(PyExc_ImportError,
		                "heapsnap: no _frozen_importlib.ModuleSpec class");
		return -1;
	}
	subtype_traverse = ((PyTypeObject *)cls)->tp_traverse;
	return 0;
}

static uint8_t exact_shape(PyTypeObject *b)
{
	if (b == &PyUnicode_Type) return HSD_SH_STR;
	if (b == &PyBytes_Type) return HSD_SH_BYTES;
	if (b == &PyByteArray_Type) return HSD_SH_BYTEARRAY;
	if (b == &PyBool_Type) return HSD_SH_BOOL;
	if (b == &PyLong_Type) return HSD_SH_INT;
	if (b == &PyFloat_Type) return HSD_SH_FLOAT;
	if (b == Py_TYPE(Py_None)) return HSD_SH_NONE;
	if (b == &PyTuple_Type) return HSD_SH_TUPLE;
	if (b == &PyList_Type) return HSD_SH_LIST;
	if (b == &PyDict_Type) return HSD_SH_DICT;
	if (b == &PySet_Type || b == &PyFrozenSet_Type) return HSD_SH_SET;
	if (b == &PyType_Type) return HSD_SH_TYPE;
	if (b == &PyModule_Type) return HSD_SH_MODULE;
	if (b == &PyFunction_Type) return HSD_SH_FUNCTION;
	if (b == &PyMethod_Type) return HSD_SH_METHOD;
	if (b == &PyCFunction_Type || b == &PyCMethod_Type)
		return HSD_SH_CFUNCTION;
	if (b == &PyCode_Type) return HSD_SH_CODE;
	if (b == &PyCell_Type) return HSD_SH_CELL;
	if (b == &PyFrame_Type) return HSD_SH_FRAME;
	if (b == &PyGen_Type || b == &PyCoro_Type || b == &PyAsyncGen_Type)
		return HSD_SH_GEN;
	if (b == &_PyWeakref_RefType || b == &_PyWeakref_ProxyType ||
	    b == &_PyWeakref_CallableProxyType)
		return HSD_SH_WEAKREF;
	if (b == (PyTypeObject *)PyExc_BaseException) return HSD_SH_EXCEPTION;
	if (b == &PyTraceBack_Type) return HSD_SH_TRACEBACK;
	return HSD_SH_OTHER;
}

static uint8_t shape_of(PyTypeObject *tp)
{
	for (PyTypeObject *b = tp; b; b = b->tp_base) {
		uint8_t s = exact_shape(b);
		if (s != HSD_SH_OTHER)
			return s;
	}
	return HSD_SH_OTHER;
}

size_t hsd_type_name(PyTypeObject *tp, char *out, size_t cap)
{
	struct hsd_buf b = { out, 0, cap, 0 };
	if (tp->tp_flags & Py_TPFLAGS_HEAPTYPE) {
		PyHeapTypeObject *ht = (PyHeapTypeObject *)tp;
		PyObject *mod = hsd_dict_get(hsd_type_dict(tp), "__module__");
		if (mod && PyUnicode_Check(mod) && !hsd_str_eq(mod, "builtins")) {
			hsd_buf_str(&b, mod);
			hsd_buf_put(&b, ".", 1);
		}
		if (ht->ht_qualname && PyUnicode_Check(ht->ht_qualname))
			hsd_buf_str(&b, ht->ht_qualname);
		else
			hsd_buf_puts(&b, tp->tp_name);
	} else {
		hsd_buf_puts(&b, tp->tp_name);
	}
	return b.len;
}

void hsd_types_free(struct hsd_ctx *c)
{
	for (size_t i = 0; i < c->types.cap; i++) {
		if (c->types.e[i].k1)
			free((void *)(uintptr_t)c->types.e[i].v1);
	}
	hsd_map_free(&c->types);
}

struct hsd_type *hsd_type_get(struct hsd_ctx *c, PyTypeObject *tp)
{
	/* a direct-mapped cache in front of the table: heaps mix few types */
	struct hsd_type **slot = &c->type_cache[((uintptr_t)tp >> 4 ^
	                                         (uintptr_t)tp >> 12) &
	                                        (HSD_TYPE_CACHE - 1)];
	if (*slot && (*slot)->tp == tp)
		return *slot;
	struct hsd_map_entry *e = hsd_map_get(&c->types, (uintptr_t)tp, 0);
	if (!e) {
		hsd_fail(c, ENOMEM, "out of memory for the type table");
		return NULL;
	}
	if (e->v1)
		return *slot = (struct hsd_type *)(uintptr_t)e->v1;
	struct hsd_type *t = calloc(1, sizeof(*t));
	if (!t) {
		hsd_fail(c, ENOMEM, "out of memory for the type table");
		return NULL;
	}
	e->v1 = (uintptr_t)t;
	t->tp = tp;
	t->shape = shape_of(tp);
	t->sizer = hsd_sizer_of(tp);
	t->role = hsd_task_role(c, tp);
	t->subtype = subtype_traverse && tp->tp_traverse == subtype_traverse;
	if (tp->tp_finalize || tp->tp_del)
		t->oflags |= HS_OF_FINALIZER;
	char name[512];
	size_t n = hsd_type_name(tp, name, sizeof(name));
	uint64_t sid = hs_writer_string(c->w, name, n);
	t->id = sid ? hs_writer_type(c->w, (uintptr_t)tp, sid) : 0;
	if (!t->id) {
		hsd_check_writer(c);
		return NULL;
	}
	/* The type object itself is written too; static types are reached
	 * from nowhere else. */
	if (hsd_visit(c, (PyObject *)tp, 0) < 0)
		return NULL;
	return *slot = t;
}
