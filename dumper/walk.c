/*
 * walk.c - the heap walk: every GC-tracked object from the GC lists, then
 * every untracked object reachable from them, each written exactly once.
 *
 * Pass 1 marks the tracked objects in the address map. Pass 2 writes each
 * tracked object and, through an explicit stack (no recursion on heap
 * depth), each untracked referent not seen before; references to tracked
 * objects are counted for the "held from C" roots. Nothing is written to
 * any object and no Python object is created.
 */
#include "internal.h"

#include <stdlib.h>

#define FROM_GC(g) ((PyObject *)((PyGC_Head *)(g) + 1))

/* The visitproc that appends HS_E_OTHER edges. */
static int collect(PyObject *o, void *arg)
{
	/* Always 0: some traverse functions drop edges after a non-zero
	 * return (3.11's TaskObj_traverse). */
	hsd_edge(arg, o, HS_E_OTHER, 0);
	return 0;
}

int hsd_edge(struct hsd_ctx *c, PyObject *dst, uint32_t kind, uint64_t label)
{
	if (!dst)
		return 0;
	if (c->nedges == c->capedges &&
	    hsd_grow(c, (void **)&c->edges, &c->capedges, c->nedges + 1,
	             sizeof(*c->edges)) < 0)
		return -1;
	hs_edge *e = &c->edges[c->nedges++];
	e->dst = (uintptr_t)dst;
	e->kind = kind;
	e->label = label;
	return 0;
}

int hsd_visit(struct hsd_ctx *c, PyObject *o, int counted)
{
	int r = hsd_addrmap_visit(&c->map, (uintptr_t)o, counted);
	if (r < 0)
		return hsd_fail(c, ENOMEM, "no address map entry for object %p",
		                (void *)o);
	if (r == 0)
		return 0;
	if (c->nstack == c->capstack &&
	    hsd_grow(c, (void **)&c->stack, &c->capstack, c->nstack + 1,
	             sizeof(*c->stack)) < 0)
		return -1;
	c->stack[c->nstack++] = o;
	return 0;
}

int hsd_visit_edges(struct hsd_ctx *c, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		const hs_edge *e = &c->edges[i];
		if (hsd_visit(c, (PyObject *)e->dst, e->kind != HS_E_WEAK) < 0)
			return -1;
	}
	return 0;
}

/* Statically allocated: static types, the singletons, and (3.11+) the
 * objects inside _PyRuntime (small ints, empty tuple, one-char strings). */
static int is_static(PyObject *o)
{
	if (PyType_Check(o))
		return !(((PyTypeObject *)o)->tp_flags & Py_TPFLAGS_HEAPTYPE);
	uintptr_t a = (uintptr_t)o, r = (uintptr_t)&_PyRuntime;
	if (a >= r && a < r + sizeof(_PyRuntime))
		return 1;
	return o == Py_None || o == Py_True || o == Py_False ||
	       o == Py_Ellipsis || o == Py_NotImplemented;
}

static int emit(struct hsd_ctx *c, PyObject *o, uint32_t flags,
                struct hsd_buf *vb)
{
	PyTypeObject *tp = Py_TYPE(o);
	const struct hsd_type *t = hsd_type_get(c, tp);
	if (!t)
		return -1;
	hs_object rec = { 0 };
	rec.addr = (uintptr_t)o;
	rec.type = t->id;
	rec.size = hsd_sizeof(o, t);
	rec.refcnt = (uint64_t)Py_REFCNT(o);
	rec.flags = flags | t->oflags;
	if (PyType_Check(o))
		rec.flags |= HS_OF_IS_TYPE;
	int fixed = is_static(o);
	if (fixed)
		rec.flags |= HS_OF_STATIC;
	hsd_describe(c, o, t, &rec, vb);
	if (c->tm && (rec.trace = hsd_tm_object(c, o)))
		rec.flags |= HS_OF_HAS_TRACE;
	/* Edges and their label strings first: the writer then puts the
	 * object and its edges in one record. */
	c->nedges = 0;
	if (tp->tp_traverse && _PyObject_IS_GC(o))
		tp->tp_traverse(o, collect, c);
	if (hsd_label(c, o, t) < 0)
		return -1;
	if (hs_writer_object(c->w, &rec) < 0 ||
	    (c->nedges && hs_writer_refs(c->w, rec.addr, c->edges, c->nedges) < 0))
		return hsd_check_writer(c);
	c->nobjects++;
	c->nrefs += c->nedges;
	if (flags & HS_OF_GC_TRACKED)
		hsd_addrmap_refcnt(&c->map, rec.addr, (uint32_t)rec.refcnt);
	/* Static objects live for the whole process: roots of their own (a
	 * static type's dict is reachable from nothing else). */
	if (fixed && hsd_root(c, rec.addr, HS_R_STATIC, 0, 0) < 0)
		return -1;
	if (hsd_visit_edges(c, 0, c->nedges) < 0)
		return -1;
	if (t->role != HSD_ROLE_NONE && hsd_task_record(c, o, t) < 0)
		return -1;
	return 0;
}

/* Writes every queued untracked object. */
static int drain(struct hsd_ctx *c)
{
	char preview[1024];
	struct hsd_buf vb = { preview, 0, c->preview_len, 0 };
	while (c->nstack > 0) {
		if (emit(c, c->stack[--c->nstack], 0, &vb) < 0)
			return -1;
	}
	return 0;
}

int hsd_walk(struct hsd_ctx *c)
{
	for (int i = 0; i < HSD_GC_LISTS; i++) {
		PyGC_Head *head = hsd_gc_list(c->interp, i);
		for (PyGC_Head *g = (PyGC_Head *)head->_gc_next; g != head;
		     g = (PyGC_Head *)g->_gc_next) {
			if (hsd_addrmap_track(&c->map, (uintptr_t)FROM_GC(g)) < 0)
				return hsd_fail(c, ENOMEM, "no address map entry for "
				                "object %p", (void *)FROM_GC(g));
		}
	}
	if (hsd_addrmap_seal(&c->map) < 0)
		return hsd_fail(c, ENOMEM, "out of memory for reference counters");
	hsd_account(c);

	if (hsd_roots(c) < 0)
		return -1;
	/* the roots go out first: a dump cut off later still has them */
	if (hs_writer_flush(c->w) < 0) {
		hsd_check_writer(c);
		return -1;
	}
	if (drain(c) < 0)
		return -1;

	char preview[1024];
	struct hsd_buf vb = { preview, 0, c->preview_len, 0 };
	for (int i = 0; i < HSD_GC_LISTS; i++) {
		int gen = i < NUM_GENERATIONS ? i : NUM_GENERATIONS - 1;
		uint32_t flags = HS_OF_GC_TRACKED |
		                 ((uint32_t)gen << HS_OF_GEN_SHIFT);
		PyGC_Head *head = hsd_gc_list(c->interp, i);
		for (PyGC_Head *g = (PyGC_Head *)head->_gc_next; g != head;
		     g = (PyGC_Head *)g->_gc_next) {
			/* the list is a pointer chase: fetch the next object
			 * while this one is written */
			__builtin_prefetch((void *)g->_gc_next);
			__builtin_prefetch((char *)g->_gc_next + 64);
			if (emit(c, FROM_GC(g), flags, &vb) < 0 || drain(c) < 0)
				return -1;
		}
	}
	hsd_account(c);
	return hsd_held_from_c(c);
}
