/*
 * roots.c - where the heap is held from: the interpreter's module table,
 * builtins and sys dicts, every thread's stack frames, and objects whose
 * reference count exceeds the references found in the heap ("held from
 * C": the subtraction gc's subtract_refs does to find external references).
 *
 * 3.11 frames are _PyInterpreterFrame structs, not objects, unless a frame
 * object was asked for. Each frame a thread runs is written as a pseudo
 * object of type "frame" at the struct's address with labelled edges to its
 * function, code and locals, and an "f_back" edge to the calling frame;
 * frames of running generators are the generator objects themselves.
 * Frame roots carry the thread ident in extra; the thread record has the
 * thread's name.
 */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

int hsd_root(struct hsd_ctx *c, uintptr_t addr, uint32_t kind,
             uint64_t name, uint64_t extra)
{
	hs_root r = { addr, kind, name, extra };
	if (hs_writer_root(c->w, &r) < 0)
		return hsd_check_writer(c);
	c->nroots++;
	return 0;
}

/* A root the interpreter holds by a strong reference: counted, so the
 * object is not also reported as held from C. */
static int interp_root(struct hsd_ctx *c, PyObject *o, uint32_t kind)
{
	if (!o)
		return 0;
	if (hsd_visit(c, o, 1) < 0)
		return -1;
	return hsd_root(c, (uintptr_t)o, kind, 0, 0);
}

/* The name of the threading.Thread running with this ident, or 0. */
static uint64_t thread_name(struct hsd_ctx *c, PyObject *active,
                            unsigned long ident)
{
	Py_ssize_t pos = 0;
	PyObject *k, *v;
	while (active && PyDict_Next(active, &pos, &k, &v)) {
		uint64_t id;
		int neg;
		if (hsd_long_u64(k, &id, &neg) < 0 || neg || id != ident)
			continue;
		PyObject *name = hsd_attr(v, "_name");
		return name && PyUnicode_Check(name) ? hsd_label_name(c, name) : 0;
	}
	return 0;
}

/* The address a frame is written at: its generator, or the frame struct. */
static uintptr_t frame_addr(_PyInterpreterFrame *f)
{
	if (f->owner == FRAME_OWNED_BY_GENERATOR)
		return (uintptr_t)_PyFrame_GetGenerator(f);
	return (uintptr_t)f;
}

static int skipped(_PyInterpreterFrame *f)
{
	return hsd_frame_is_shim(f) || _PyFrame_IsIncomplete(f);
}

static _PyInterpreterFrame *older(_PyInterpreterFrame *f)
{
	for (f = f->previous; f && skipped(f); f = f->previous)
		;
	return f;
}

static int pseudo_frame(struct hsd_ctx *c, _PyInterpreterFrame *f,
                        uint64_t name)
{
	PyCodeObject *code = hsd_frame_code(f);
	hs_object rec = { 0 };
	rec.addr = (uintptr_t)f;
	rec.type = c->frame_type_id;
	rec.size = hsd_iframe_size(code);
	rec.flags = HS_OF_HAS_NAME;
	rec.name = name;
	c->nedges = 0;
	if (hsd_frame_edges(c, f) < 0)
		return -1;
	size_t nrefs = c->nedges;
	/* the caller's frame: a link in the stack, not a reference */
	_PyInterpreterFrame *back = older(f);
	if (back && hsd_edge(c, (PyObject *)frame_addr(back), HS_E_NAMED,
	                     c->names[HSD_N_F_BACK]) < 0)
		return -1;
	if (hs_writer_object(c->w, &rec) < 0 ||
	    (c->nedges && hs_writer_refs(c->w, rec.addr, c->edges, c->nedges) < 0))
		return hsd_check_writer(c);
	c->nobjects++;
	c->nrefs += c->nedges;
	if (hsd_visit_edges(c, 0, nrefs) < 0)
		return -1;
	return 0;
}

static int thread_root(struct hsd_ctx *c, PyThreadState *ts, PyObject *active)
{
	uint64_t tname = thread_name(c, active, ts->thread_id);
	uintptr_t innermost = 0;
	for (_PyInterpreterFrame *f = hsd_thread_frame(ts); f; f = f->previous) {
		if (skipped(f))
			continue;
		PyCodeObject *code = hsd_frame_code(f);
		int line = PyCode_Addr2Line(code, hsd_frame_lasti(f) *
		                                  (int)sizeof(_Py_CODEUNIT));
		uint64_t fname = hsd_code_name(c, code, line);
		uintptr_t addr = frame_addr(f);
		if (f->owner != FRAME_OWNED_BY_GENERATOR &&
		    pseudo_frame(c, f, fname) < 0)
			return -1;
		if (hsd_root(c, addr, HS_R_THREAD_FRAME, fname, ts->thread_id) < 0)
			return -1;
		if (!innermost)
			innermost = addr;
	}
	hs_thread t = { 0 };
	t.ident = ts->thread_id;
	t.native_id = ts->native_thread_id;
	t.name = tname;
	t.frame = innermost;
	t.flags = (ts->thread_id == _PyRuntime.main_thread ? 1u : 0u) |
	          (ts == c->tstate ? 2u : 0u);
	if (hs_writer_thread(c->w, &t) < 0)
		return hsd_check_writer(c);
	return 0;
}

/* Every module of the table is a root of its own, named by its key: a
 * path then starts "module app.stats → ..." rather than at the table,
 * and is no hop longer than one from a thread's frame (a script's
 * module-level frame has the module's dict as its locals). */
static int module_roots(struct hsd_ctx *c, PyObject *modules)
{
	Py_ssize_t pos = 0;
	PyObject *k, *v;
	while (modules && PyDict_Check(modules) && PyDict_Next(modules, &pos, &k, &v)) {
		if (v == Py_None || !PyUnicode_Check(k))
			continue;
		if (hsd_root(c, (uintptr_t)v, HS_R_MODULES, hsd_label_plain(c, k), 0) < 0)
			return -1;
	}
	return 0;
}

int hsd_roots(struct hsd_ctx *c)
{
	PyInterpreterState *interp = c->interp;
	if (interp_root(c, hsd_interp_modules(interp), HS_R_MODULES) < 0 ||
	    module_roots(c, hsd_interp_modules(interp)) < 0 ||
	    interp_root(c, interp->builtins, HS_R_BUILTINS) < 0 ||
	    interp_root(c, interp->sysdict, HS_R_SYSDICT) < 0)
		return -1;
	const struct hsd_type *ft = hsd_type_get(c, &PyFrame_Type);
	if (!ft)
		return -1;
	c->frame_type_id = ft->id;
	PyObject *active = hsd_module_get(interp, "threading", "_active");
	for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts;
	     ts = PyThreadState_Next(ts)) {
		if (thread_root(c, ts, active) < 0)
			return -1;
	}
	return 0;
}

static int is_interp_root(struct hsd_ctx *c, PyObject *o)
{
	return o == hsd_interp_modules(c->interp) || o == c->interp->builtins ||
	       o == c->interp->sysdict;
}

/* What the interpreter holds from C, by holder: the held-from-C root of
 * such an object is named for it: "registered with atexit (callback 2
 * of 5)", rather than "held from C". Keys are addresses; v2 is HOLDER_NAMED (v1 the name's string
 * id) or HOLDER_NONE (no C holder: a module's __dict__, whose extra
 * reference is the running frames' value stacks, which the walk cannot
 * see; the module root reaches it). */
enum { HOLDER_NAMED = 1, HOLDER_NONE = 2 };

struct holders {
	struct hsd_ctx *c;
	struct hsd_map map;
};

static int holder(struct holders *h, PyObject *o, int how, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int holder(struct holders *h, PyObject *o, int how, const char *fmt, ...)
{
	if (!o)
		return 0;
	struct hsd_map_entry *e = hsd_map_get(&h->map, (uintptr_t)o, 0);
	if (!e)
		return hsd_fail(h->c, ENOMEM, "out of memory naming C holders");
	if (e->v2)
		return 0;
	e->v2 = (uint64_t)how;
	if (how == HOLDER_NAMED) {
		char name[160];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(name, sizeof(name), fmt, ap);
		va_end(ap);
		e->v1 = hsd_intern_cstr(h->c, name);
	}
	return 0;
}

static int static_type_dicts(struct holders *h)
{
#if PY_VERSION_HEX >= 0x030D0000
	size_t n = h->c->interp->types.builtins.num_initialized;
	managed_static_type_state *st = h->c->interp->types.builtins.initialized;
#elif PY_VERSION_HEX >= 0x030C0000
	size_t n = h->c->interp->types.num_builtins_initialized;
	static_builtin_state *st = h->c->interp->types.builtins;
#else
	/* 3.11 keeps a static type's __dict__ in the type: an edge */
	size_t n = 0;
	struct { PyTypeObject *type; PyObject *tp_dict; } *st = NULL;
#endif
	for (size_t i = 0; i < n; i++) {
		char tname[120];
		if (!st[i].type)
			continue;
		hsd_type_name(st[i].type, tname, sizeof(tname));
		if (holder(h, st[i].tp_dict, HOLDER_NAMED, "held by the interpreter as the __dict__ of type %s", tname) < 0)
			return -1;
	}
	return 0;
}

static int signal_handlers(struct holders *h)
{
#if PY_VERSION_HEX >= 0x030C0000
	for (int sig = 1; sig < Py_NSIG; sig++) {
#if PY_VERSION_HEX >= 0x030D0000
		PyObject *f = _PyRuntime.signals.handlers[sig].func;
#else
		PyObject *f = (PyObject *)_PyRuntime.signals.handlers[sig].func._value;
#endif
		const char *abbrev = sigabbrev_np(sig);
		if (f && holder(h, f, HOLDER_NAMED, "registered as the handler of SIG%s",
		                abbrev ? abbrev : "?") < 0)
			return -1;
	}
#else
	/* 3.11 keeps the handlers in signalmodule.c's static array */
	(void)h;
#endif
	return 0;
}

/* 3.11 and 3.12: a thread started by threading keeps, in its thread
 * state, a weak reference to the lock threading's shutdown waits on. */
static int thread_locks(struct holders *h)
{
#if PY_VERSION_HEX < 0x030D0000
	for (PyThreadState *ts = PyInterpreterState_ThreadHead(h->c->interp); ts;
	     ts = PyThreadState_Next(ts))
		if (ts->on_delete_data &&
		    holder(h, (PyObject *)ts->on_delete_data, HOLDER_NAMED,
		           "held by the thread state of its thread (threading's shutdown lock,"
		           " thread %lu)", ts->thread_id) < 0)
			return -1;
#else
	(void)h;
#endif
	return 0;
}

static int c_holders(struct holders *h)
{
	PyInterpreterState *interp = h->c->interp;
	struct atexit_state *ax = &interp->atexit;
	for (int i = 0; i < ax->ncallbacks; i++) {
		if (!ax->callbacks[i])
			continue;
		if (holder(h, ax->callbacks[i]->func, HOLDER_NAMED, "registered with atexit (callback %d of %d)",
		           i + 1, ax->ncallbacks) < 0 ||
		    holder(h, ax->callbacks[i]->args, HOLDER_NAMED,
		           "held by atexit as a callback's arguments (callback %d of %d)", i + 1, ax->ncallbacks) < 0 ||
		    holder(h, ax->callbacks[i]->kwargs, HOLDER_NAMED,
		           "held by atexit as a callback's keyword arguments (callback %d of %d)", i + 1,
		           ax->ncallbacks) < 0)
			return -1;
	}
#if PY_VERSION_HEX >= 0x030D0000
	PyObject *search = interp->codecs.search_path, *cache = interp->codecs.search_cache,
		 *errors = interp->codecs.error_registry;
#else
	PyObject *search = interp->codec_search_path, *cache = interp->codec_search_cache,
		 *errors = interp->codec_error_registry;
#endif
	if (holder(h, interp->audit_hooks, HOLDER_NAMED, "held by the interpreter as the sys.addaudithook hooks") < 0 ||
	    holder(h, search, HOLDER_NAMED, "held by the interpreter as the codecs.register search functions") < 0 ||
	    holder(h, cache, HOLDER_NAMED, "held by the interpreter as the codecs lookup cache") < 0 ||
	    holder(h, errors, HOLDER_NAMED, "held by the interpreter as the codecs.register_error handlers") < 0 ||
	    holder(h, interp->before_forkers, HOLDER_NAMED, "held by the interpreter as the os.register_at_fork(before=) callbacks") < 0 ||
	    holder(h, interp->after_forkers_parent, HOLDER_NAMED,
	           "held by the interpreter as the os.register_at_fork(after_in_parent=) callbacks") < 0 ||
	    holder(h, interp->after_forkers_child, HOLDER_NAMED,
	           "held by the interpreter as the os.register_at_fork(after_in_child=) callbacks") < 0 ||
	    static_type_dicts(h) < 0 || signal_handlers(h) < 0 || thread_locks(h) < 0)
		return -1;
	PyObject *modules = hsd_interp_modules(interp);
	Py_ssize_t pos = 0;
	PyObject *k, *v;
	while (modules && PyDict_Check(modules) && PyDict_Next(modules, &pos, &k, &v))
		if (PyModule_Check(v) && holder(h, PyModule_GetDict(v), HOLDER_NONE, NULL) < 0)
			return -1;
	return 0;
}

static int held(void *arg, uintptr_t addr, uint32_t surplus)
{
	struct holders *h = arg;
	struct hsd_ctx *c = h->c;
	PyObject *o = (PyObject *)addr;
	if (hsd_is_immortal(o) || is_interp_root(c, o) || hsd_task_is_root(c, o))
		return 0;
	/* a lookup: an absent key is added zeroed, which reads "unnamed" */
	struct hsd_map_entry *e = hsd_map_get(&h->map, addr, 0);
	if (!e)
		return hsd_fail(c, ENOMEM, "out of memory naming C holders");
	if (e->v2 == HOLDER_NONE)
		return 0;
	return hsd_root(c, addr, HS_R_HELD_FROM_C, e->v2 == HOLDER_NAMED ? e->v1 : 0, surplus);
}

int hsd_held_from_c(struct hsd_ctx *c)
{
	struct holders h = { c, { 0 } };
	int rc = c_holders(&h);
	if (!rc)
		rc = hsd_addrmap_surplus(&c->map, held, &h);
	hsd_map_free(&h.map);
	return rc;
}
