/*
 * compat.h - the CPython-version-specific reads the dumper needs, in one
 * place. Built with Py_BUILD_CORE so the internal headers are usable; only
 * reads, never writes, to interpreter structures.
 */
#ifndef HSD_COMPAT_H
#define HSD_COMPAT_H

#include <Python.h>
#include <frameobject.h>
#include <opcode.h>
#include "internal/pycore_code.h"
#include "internal/pycore_dict.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_gc.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_moduleobject.h"
#include "internal/pycore_object.h"
#include "internal/pycore_pymem.h"
#include "internal/pycore_runtime.h"
#include "internal/pycore_hashtable.h"
#include "internal/pycore_typeobject.h"
#if PY_VERSION_HEX >= 0x030C0000
#include "internal/pycore_long.h"
#include "internal/pycore_tracemalloc.h"
#endif

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030E0000
#error "the heapsnap dumper supports CPython 3.11 to 3.13"
#endif

/* The GC lists: generations 0-2, then the permanent generation. */
#define HSD_GC_LISTS (NUM_GENERATIONS + 1)

static inline PyGC_Head *hsd_gc_list(PyInterpreterState *interp, int i)
{
	if (i < NUM_GENERATIONS)
		return &interp->gc.generations[i].head;
	return &interp->gc.permanent_generation.head;
}

static inline PyObject *hsd_interp_modules(PyInterpreterState *interp)
{
#if PY_VERSION_HEX >= 0x030C0000
	return interp->imports.modules;
#else
	return interp->modules;
#endif
}

static inline _PyInterpreterFrame *hsd_thread_frame(PyThreadState *ts)
{
#if PY_VERSION_HEX >= 0x030D0000
	return ts->current_frame;
#else
	return ts->cframe ? ts->cframe->current_frame : NULL;
#endif
}

/* The frame's code object, or NULL when it runs none (3.13 shim frames). */
static inline PyCodeObject *hsd_frame_code(_PyInterpreterFrame *f)
{
#if PY_VERSION_HEX >= 0x030D0000
	return PyCode_Check(f->f_executable) ? (PyCodeObject *)f->f_executable
	                                     : NULL;
#else
	return f->f_code;
#endif
}

/* The strong reference a frame holds to its code (or executable). */
static inline PyObject *hsd_frame_executable(_PyInterpreterFrame *f)
{
#if PY_VERSION_HEX >= 0x030D0000
	return f->f_executable;
#else
	return (PyObject *)f->f_code;
#endif
}

static inline PyObject *hsd_frame_func(_PyInterpreterFrame *f)
{
#if PY_VERSION_HEX >= 0x030C0000
	return f->f_funcobj;
#else
	return (PyObject *)f->f_func;
#endif
}

/* Index of the instruction the frame is at, in code units. */
static inline int hsd_frame_lasti(_PyInterpreterFrame *f)
{
	return _PyInterpreterFrame_LASTI(f);
}

/* The next instruction to run in a suspended frame. */
static inline _Py_CODEUNIT hsd_frame_next_instr(_PyInterpreterFrame *f)
{
#if PY_VERSION_HEX >= 0x030D0000
	return f->instr_ptr[0];
#else
	return f->prev_instr[1];
#endif
}

/* True for frames of the C stack that hold no Python state (3.12+). */
static inline int hsd_frame_is_shim(_PyInterpreterFrame *f)
{
#if PY_VERSION_HEX >= 0x030C0000
	return f->owner == FRAME_OWNED_BY_CSTACK || hsd_frame_code(f) == NULL;
#else
	(void)f;
	return 0;
#endif
}

static inline int hsd_code_unit_opcode(_Py_CODEUNIT u)
{
#if PY_VERSION_HEX >= 0x030C0000
	return u.op.code;
#else
	return _Py_OPCODE(u);
#endif
}

static inline int hsd_code_unit_oparg(_Py_CODEUNIT u)
{
#if PY_VERSION_HEX >= 0x030C0000
	return u.op.arg;
#else
	return _Py_OPARG(u);
#endif
}

/* True when the opcode is RESUME or one of its specializations. */
static inline int hsd_is_resume(int opcode)
{
#if PY_VERSION_HEX >= 0x030D0000
	return opcode == RESUME || opcode == RESUME_CHECK;
#elif PY_VERSION_HEX >= 0x030C0000
	return opcode == RESUME;
#else
	return opcode == RESUME || opcode == RESUME_QUICK;
#endif
}

/* An instance's attribute values stored outside a dict object (3.11+
 * "inline values"), or NULL; the names are the type's cached keys. */
static inline PyDictValues *hsd_inline_values(PyObject *o)
{
	PyTypeObject *tp = Py_TYPE(o);
	/* the names live in a heap type's cached keys */
	if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE))
		return NULL;
#if PY_VERSION_HEX >= 0x030D0000
	if (!(tp->tp_flags & Py_TPFLAGS_INLINE_VALUES))
		return NULL;
	PyDictValues *v = _PyObject_InlineValues(o);
	return v->valid ? v : NULL;
#elif PY_VERSION_HEX >= 0x030C0000
	if (!(tp->tp_flags & Py_TPFLAGS_MANAGED_DICT))
		return NULL;
	PyDictOrValues dv = *_PyObject_DictOrValuesPointer(o);
	return _PyDictOrValues_IsValues(dv) ? _PyDictOrValues_GetValues(dv)
	                                    : NULL;
#else
	if (!(tp->tp_flags & Py_TPFLAGS_MANAGED_DICT))
		return NULL;
	return *_PyObject_ValuesPointer(o);
#endif
}

/* The instance's __dict__ object, or NULL (never materializes one). */
static inline PyObject *hsd_instance_dict(PyObject *o)
{
	PyTypeObject *tp = Py_TYPE(o);
	if (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
#if PY_VERSION_HEX >= 0x030D0000
		return (PyObject *)_PyObject_ManagedDictPointer(o)->dict;
#elif PY_VERSION_HEX >= 0x030C0000
		PyDictOrValues dv = *_PyObject_DictOrValuesPointer(o);
		return _PyDictOrValues_IsValues(dv) ? NULL
		                                    : _PyDictOrValues_GetDict(dv);
#else
		return *_PyObject_ManagedDictPointer(o);
#endif
	}
	Py_ssize_t off = tp->tp_dictoffset;
	if (off == 0)
		return NULL;
	if (off < 0) {
		Py_ssize_t n = Py_SIZE(o);
		if (n < 0)
			n = -n;
		off += (Py_ssize_t)_PyObject_VAR_SIZE(tp, n);
	}
	return *(PyObject **)((char *)o + off);
}

/* Digits of an int: count, sign and the little-endian 30-bit digits. */
static inline const digit *hsd_long_digits(PyObject *o, size_t *n, int *neg)
{
	PyLongObject *l = (PyLongObject *)o;
#if PY_VERSION_HEX >= 0x030C0000
	*n = _PyLong_DigitCount(l);
	*neg = _PyLong_IsNegative(l);
	return l->long_value.ob_digit;
#else
	Py_ssize_t s = Py_SIZE(l);
	*n = (size_t)(s < 0 ? -s : s);
	*neg = s < 0;
	return l->ob_digit;
#endif
}

/* tracemalloc's on/off switch and frame limit. */
static inline struct _PyTraceMalloc_Config *hsd_tm_config(void)
{
#if PY_VERSION_HEX >= 0x030C0000
	return &_PyRuntime.tracemalloc.config;
#else
	return &_Py_tracemalloc_config;
#endif
}

/* False for legacy (3.11 wstr-only) strings whose data is not there. */
static inline int hsd_str_ready(PyObject *s)
{
#if PY_VERSION_HEX < 0x030C0000
	return PyUnicode_IS_READY(s);
#else
	(void)s;
	return 1;
#endif
}

/* The __slots__ members of a heap type, stored after the type object
 * (_PyHeapType_GET_MEMBERS, private from 3.12). */
static inline PyMemberDef *hsd_heap_type_members(PyTypeObject *tp)
{
	return (PyMemberDef *)((char *)tp + Py_TYPE(tp)->tp_basicsize);
}

/* Bytes of an int before its digits. */
#if PY_VERSION_HEX >= 0x030C0000
#define HSD_LONG_HEAD offsetof(PyLongObject, long_value.ob_digit)
#else
#define HSD_LONG_HEAD offsetof(PyLongObject, ob_digit)
#endif

/* The code a generator or coroutine runs. */
static inline PyCodeObject *hsd_gen_code(PyGenObject *g)
{
#if PY_VERSION_HEX >= 0x030C0000
	return hsd_frame_code((_PyInterpreterFrame *)g->gi_iframe);
#else
	return g->gi_code;
#endif
}

/* Objects that live forever (3.12+ immortal refcount); 3.11 has none. */
static inline int hsd_is_immortal(PyObject *o)
{
#if PY_VERSION_HEX >= 0x030C0000
	return _Py_IsImmortal(o);
#else
	(void)o;
	return 0;
#endif
}

/* The dict of subclass weak references a type owns, or NULL. From 3.12
 * static builtin types keep it in the interpreter instead. */
static inline PyObject *hsd_type_subclasses(PyTypeObject *tp)
{
#if PY_VERSION_HEX >= 0x030C0000
	if (tp->tp_flags & _Py_TPFLAGS_STATIC_BUILTIN)
		return NULL;
#endif
	return (PyObject *)tp->tp_subclasses;
}

/* A type's __dict__ (borrowed). From 3.12 static builtin types keep it in
 * the interpreter, not in tp_dict. */
static inline PyObject *hsd_type_dict(PyTypeObject *tp)
{
#if PY_VERSION_HEX >= 0x030C0000
	return _PyType_GetDict(tp);
#else
	return tp->tp_dict;
#endif
}

#endif
