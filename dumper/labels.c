/*
 * labels.c - edge labels, and the references tp_traverse leaves out.
 *
 * The edges of an object are what its tp_traverse visits, so they equal
 * gc.get_referents() by construction. Labels are then given by replaying,
 * for types whose traverse order is known, the sequence of fields the
 * traverse visits: each expected (pointer, label) is matched against the
 * next few unlabelled edges. A wrong guess about a field only costs its
 * label, never an edge.
 *
 * Extra edges, appended after the traverse edges: the keys of str-keyed
 * dicts (dict_traverse skips them because str cannot form cycles), the
 * target of a weak reference (HS_E_WEAK), the fields of code objects and
 * static types (not GC objects, so never traversed), a type's
 * subclass table and its cached instance-attribute names.
 */
#include "internal.h"

#include <structmember.h>

/* How far ahead of the cursor an expected field may be found. */
#define WINDOW 8

void hsd_mark(struct hsd_ctx *c, struct hsd_cursor *cur, PyObject *p,
              uint32_t kind, uint64_t label)
{
	if (!p)
		return;
	if (cur->emit) {
		hsd_edge(c, p, kind, label);
		return;
	}
	size_t lim = cur->pos + WINDOW < cur->end ? cur->pos + WINDOW : cur->end;
	for (size_t i = cur->pos; i < lim; i++) {
		hs_edge *e = &c->edges[i];
		if (e->dst == (uintptr_t)p && e->kind == HS_E_OTHER) {
			e->kind = kind;
			e->label = label;
			cur->pos = i + 1;
			return;
		}
	}
}

static void named(struct hsd_ctx *c, struct hsd_cursor *cur, PyObject *p,
                  enum hsd_name n)
{
	if (n == HSD_N_DICT)
		hsd_mark(c, cur, p, HS_E_DICT_ATTR, 0);
	else
		hsd_mark(c, cur, p, HS_E_NAMED, c->names[n]);
}

/* The fields of an interpreter frame, in _PyFrame_Traverse order. */
static void frame_fields(struct hsd_ctx *c, struct hsd_cursor *cur,
                         _PyInterpreterFrame *f)
{
	PyCodeObject *code = hsd_frame_code(f);
	named(c, cur, (PyObject *)f->frame_obj, HSD_N_FRAME_OBJ);
	named(c, cur, f->f_locals, HSD_N_F_LOCALS);
	named(c, cur, hsd_frame_func(f), HSD_N_F_FUNC);
	named(c, cur, hsd_frame_executable(f), HSD_N_F_CODE);
	if (!code)
		return;
	int nlocals = code->co_nlocalsplus;
	/* An executing frame hides its value stack (stacktop -1) but its
	 * locals are always initialized. */
	int n = f->stacktop >= 0 ? f->stacktop : nlocals;
	if (n > nlocals + code->co_stacksize)
		n = nlocals + code->co_stacksize;
	PyObject *names = code->co_localsplusnames;
	PyObject *kinds = code->co_localspluskinds;
	for (int i = 0; i < n; i++) {
		PyObject *v = f->localsplus[i];
		if (!v)
			continue;
		if (i >= nlocals) {
			if (cur->emit)
				hsd_edge(c, v, HS_E_OTHER, 0);
			continue;
		}
		uint32_t kind = HS_E_LOCAL;
		if (kinds && PyBytes_Check(kinds) && i < PyBytes_GET_SIZE(kinds) &&
		    (PyBytes_AS_STRING(kinds)[i] & (CO_FAST_CELL | CO_FAST_FREE)))
			kind = HS_E_CELL;
		PyObject *name = names && PyTuple_Check(names) &&
		                 i < PyTuple_GET_SIZE(names)
		                 ? PyTuple_GET_ITEM(names, i) : NULL;
		hsd_mark(c, cur, v, kind, hsd_label_plain(c, name));
	}
}

int hsd_frame_edges(struct hsd_ctx *c, _PyInterpreterFrame *f)
{
	struct hsd_cursor cur = { 0, 0, 1 };
	frame_fields(c, &cur, f);
	return c->failed ? -1 : 0;
}

/* What subtype_traverse visits before the base type's traverse: __slots__
 * members, inline attribute values, the __dict__, the class. */
static void subtype_fields(struct hsd_ctx *c, struct hsd_cursor *cur,
                           PyObject *o)
{
	PyTypeObject *type = Py_TYPE(o);
	PyTypeObject *base = type;
	traverseproc subtype = type->tp_traverse;
	while (base && base->tp_traverse == subtype) {
		Py_ssize_t n = Py_SIZE(base);
		PyMemberDef *mp = hsd_heap_type_members(base);
		for (Py_ssize_t i = 0; i < n; i++, mp++) {
			if (mp->type != T_OBJECT_EX)
				continue;
			PyObject *v = *(PyObject **)((char *)o + mp->offset);
			if (v)
				hsd_mark(c, cur, v, HS_E_ATTR, hsd_intern_cstr(c, mp->name));
		}
		base = base->tp_base;
	}
	PyDictValues *values = hsd_inline_values(o);
	if (values) {
		PyDictKeysObject *keys = ((PyHeapTypeObject *)type)->ht_cached_keys;
		PyDictUnicodeEntry *e = DK_UNICODE_ENTRIES(keys);
		for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
			if (values->values[i])
				hsd_mark(c, cur, values->values[i], HS_E_ATTR,
				         hsd_label_attr(c, e[i].me_key));
		}
	}
	if (!base || type->tp_dictoffset != base->tp_dictoffset) {
		PyObject *dict = hsd_instance_dict(o);
		/* 3.13 traverses valid inline values instead of the __dict__
		 * viewing them: that dict gets an edge of its own */
		if (values && dict)
			hsd_edge(c, dict, HS_E_DICT_ATTR, 0);
		else
			named(c, cur, dict, HSD_N_DICT);
	}
	if ((type->tp_flags & Py_TPFLAGS_HEAPTYPE) &&
	    (!base || !base->tp_traverse ||
	     !(base->tp_flags & Py_TPFLAGS_HEAPTYPE)))
		hsd_mark(c, cur, (PyObject *)type, HS_E_CLASS, 0);
}

static void dict_fields(struct hsd_ctx *c, struct hsd_cursor *cur, PyObject *o)
{
	PyDictObject *mp = (PyDictObject *)o;
	PyDictKeysObject *keys = mp->ma_keys;
	Py_ssize_t n = keys->dk_nentries;
	if (DK_IS_UNICODE(keys)) {
		PyDictUnicodeEntry *e = DK_UNICODE_ENTRIES(keys);
		for (Py_ssize_t i = 0; i < n; i++) {
			PyObject *v = mp->ma_values ? mp->ma_values->values[i]
			                            : e[i].me_value;
			if (v)
				hsd_mark(c, cur, v, HS_E_DICT_VALUE,
				     hsd_label_repr(c, e[i].me_key));
		}
		/* the keys the traverse skipped */
		for (Py_ssize_t i = 0; i < n; i++) {
			PyObject *v = mp->ma_values ? mp->ma_values->values[i]
			                            : e[i].me_value;
			if (v && e[i].me_key)
				hsd_edge(c, e[i].me_key, HS_E_DICT_KEY,
				         hsd_label_repr(c, e[i].me_key));
		}
		return;
	}
	PyDictKeyEntry *e = DK_ENTRIES(keys);
	for (Py_ssize_t i = 0; i < n; i++) {
		if (!e[i].me_value)
			continue;
		uint64_t label = hsd_label_repr(c, e[i].me_key);
		hsd_mark(c, cur, e[i].me_value, HS_E_DICT_VALUE, label);
		hsd_mark(c, cur, e[i].me_key, HS_E_DICT_KEY, label);
	}
}

/* list_traverse and tupletraverse visit the items last to first */
static void items(struct hsd_ctx *c, struct hsd_cursor *cur, PyObject **v,
                  Py_ssize_t n)
{
	for (Py_ssize_t i = n; i-- > 0;)
		hsd_mark(c, cur, v[i], HS_E_INDEX, (uint64_t)i);
}

static void type_fields(struct hsd_ctx *c, struct hsd_cursor *cur,
                        PyTypeObject *tp)
{
	int heap = (tp->tp_flags & Py_TPFLAGS_HEAPTYPE) != 0;
	/* Static types are not GC objects: nothing was traversed, so their
	 * strong references are emitted. */
	struct hsd_cursor emit = { 0, 0, 1 };
	struct hsd_cursor *k = heap ? cur : &emit;
	named(c, k, hsd_type_dict(tp), HSD_N_DICT);
	if (heap)
		named(c, k, tp->tp_cache, HSD_N_CACHE);
	named(c, k, tp->tp_mro, HSD_N_MRO);
	named(c, k, tp->tp_bases, HSD_N_BASES);
	named(c, k, (PyObject *)tp->tp_base, HSD_N_BASE);
	if (heap)
		named(c, k, ((PyHeapTypeObject *)tp)->ht_module, HSD_N_MODULE_OBJ);
	named(c, &emit, hsd_type_subclasses(tp), HSD_N_SUBCLASSES);
	PyDictKeysObject *keys = heap ? ((PyHeapTypeObject *)tp)->ht_cached_keys
	                              : NULL;
	if (keys) {
		PyDictUnicodeEntry *e = DK_UNICODE_ENTRIES(keys);
		for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
			if (e[i].me_key)
				hsd_edge(c, e[i].me_key, HS_E_DICT_KEY,
				         hsd_label_repr(c, e[i].me_key));
		}
	}
}

static void code_fields(struct hsd_ctx *c, PyCodeObject *co)
{
	struct hsd_cursor emit = { 0, 0, 1 };
	named(c, &emit, co->co_consts, HSD_N_CONSTS);
	named(c, &emit, co->co_names, HSD_N_NAMES);
	named(c, &emit, co->co_exceptiontable, HSD_N_EXCEPTIONTABLE);
	named(c, &emit, co->co_localsplusnames, HSD_N_LOCALSPLUSNAMES);
	named(c, &emit, co->co_localspluskinds, HSD_N_LOCALSPLUSKINDS);
	named(c, &emit, co->co_filename, HSD_N_FILENAME);
	named(c, &emit, co->co_name, HSD_N_CO_NAME);
	named(c, &emit, co->co_qualname, HSD_N_CO_QUALNAME);
	named(c, &emit, co->co_linetable, HSD_N_LINETABLE);
#if PY_VERSION_HEX < 0x030C0000
	named(c, &emit, co->_co_code, HSD_N_CO_CODE);
#endif
}

static void function_fields(struct hsd_ctx *c, struct hsd_cursor *cur,
                            PyFunctionObject *f)
{
	named(c, cur, f->func_code, HSD_N_CODE);
	named(c, cur, f->func_globals, HSD_N_GLOBALS);
	named(c, cur, f->func_builtins, HSD_N_BUILTINS);
	named(c, cur, f->func_module, HSD_N_MODULE);
	named(c, cur, f->func_defaults, HSD_N_DEFAULTS);
	named(c, cur, f->func_kwdefaults, HSD_N_KWDEFAULTS);
	named(c, cur, f->func_doc, HSD_N_DOC);
	named(c, cur, f->func_name, HSD_N_NAME);
	named(c, cur, f->func_dict, HSD_N_DICT);
	named(c, cur, f->func_closure, HSD_N_CLOSURE);
	named(c, cur, f->func_annotations, HSD_N_ANNOTATIONS);
	named(c, cur, f->func_qualname, HSD_N_QUALNAME);
}

static void gen_fields(struct hsd_ctx *c, struct hsd_cursor *cur, PyGenObject *g)
{
#if PY_VERSION_HEX < 0x030C0000
	named(c, cur, (PyObject *)g->gi_code, HSD_N_GI_CODE);
#endif
	named(c, cur, g->gi_name, HSD_N_NAME);
	named(c, cur, g->gi_qualname, HSD_N_QUALNAME);
	if (g->gi_frame_state < FRAME_CLEARED)
		frame_fields(c, cur, (_PyInterpreterFrame *)g->gi_iframe);
	named(c, cur, g->gi_exc_state.exc_value, HSD_N_EXC);
}

int hsd_label(struct hsd_ctx *c, PyObject *o, const struct hsd_type *t)
{
	struct hsd_cursor cur = { 0, c->nedges, 0 };
	if (t->subtype)
		subtype_fields(c, &cur, o);
	if (t->role)
		hsd_task_fields(c, o, t, &cur);
	switch (t->shape) {
	case HSD_SH_DICT:
		dict_fields(c, &cur, o);
		break;
	case HSD_SH_LIST:
		items(c, &cur, ((PyListObject *)o)->ob_item, Py_SIZE(o));
		break;
	case HSD_SH_TUPLE:
		items(c, &cur, ((PyTupleObject *)o)->ob_item, Py_SIZE(o));
		break;
	case HSD_SH_TYPE:
		type_fields(c, &cur, (PyTypeObject *)o);
		break;
	case HSD_SH_CODE:
		code_fields(c, (PyCodeObject *)o);
		break;
	case HSD_SH_FUNCTION:
		function_fields(c, &cur, (PyFunctionObject *)o);
		break;
	case HSD_SH_METHOD:
		hsd_mark(c, &cur, ((PyMethodObject *)o)->im_func, HS_E_FUNC, 0);
		hsd_mark(c, &cur, ((PyMethodObject *)o)->im_self, HS_E_SELF, 0);
		break;
	case HSD_SH_CFUNCTION:
		hsd_mark(c, &cur, ((PyCFunctionObject *)o)->m_self, HS_E_SELF, 0);
		named(c, &cur, ((PyCFunctionObject *)o)->m_module, HSD_N_MODULE);
		break;
	case HSD_SH_CELL:
		/* a slot of the cell; HS_E_CELL is a frame's cell variable */
		hsd_mark(c, &cur, ((PyCellObject *)o)->ob_ref, HS_E_NAMED,
		     c->names[HSD_N_CELL_CONTENTS]);
		break;
	case HSD_SH_MODULE: {
		/* module_traverse visits the module state first, md_dict last */
		PyObject *d = ((PyModuleObject *)o)->md_dict;
		if (d && cur.end > cur.pos) {
			struct hsd_cursor last = { cur.end - 1, cur.end, 0 };
			named(c, &last, d, HSD_N_DICT);
		}
		break;
	}
	case HSD_SH_FRAME: {
		PyFrameObject *f = (PyFrameObject *)o;
		named(c, &cur, (PyObject *)f->f_back, HSD_N_F_BACK);
		named(c, &cur, f->f_trace, HSD_N_F_TRACE);
		if (f->f_frame->owner == FRAME_OWNED_BY_FRAME_OBJECT)
			frame_fields(c, &cur, f->f_frame);
		break;
	}
	case HSD_SH_GEN:
		gen_fields(c, &cur, (PyGenObject *)o);
		break;
	case HSD_SH_EXCEPTION: {
		/* BaseException_traverse's order; subclasses with fields of
		 * their own (OSError, ImportError...) visit those first */
		PyBaseExceptionObject *e = (PyBaseExceptionObject *)o;
		named(c, &cur, e->dict, HSD_N_DICT);
		named(c, &cur, e->args, HSD_N_ARGS);
		named(c, &cur, e->notes, HSD_N_NOTES);
		named(c, &cur, e->traceback, HSD_N_TRACEBACK);
		named(c, &cur, e->cause, HSD_N_CAUSE);
		named(c, &cur, e->context, HSD_N_CONTEXT_EXC);
		break;
	}
	case HSD_SH_TRACEBACK:
		named(c, &cur, (PyObject *)((PyTracebackObject *)o)->tb_next, HSD_N_TB_NEXT);
		named(c, &cur, (PyObject *)((PyTracebackObject *)o)->tb_frame, HSD_N_TB_FRAME);
		break;
	case HSD_SH_WEAKREF: {
		PyWeakReference *wr = (PyWeakReference *)o;
		named(c, &cur, wr->wr_callback, HSD_N_CALLBACK);
		if (wr->wr_object && wr->wr_object != Py_None)
			hsd_edge(c, wr->wr_object, HS_E_WEAK, 0);
		break;
	}
	default:
		break;
	}
	/* C types visit their (heap) type too */
	uintptr_t tp = (uintptr_t)Py_TYPE(o);
	for (size_t i = 0; i < cur.end; i++) {
		if (c->edges[i].dst == tp && c->edges[i].kind == HS_E_OTHER)
			c->edges[i].kind = HS_E_CLASS;
	}
	return c->failed ? -1 : 0;
}
