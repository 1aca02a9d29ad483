/*
 * tasks.c - asyncio Tasks and Futures of the C _asyncio module: state,
 * name, coroutine, the await chain down to what the task waits on, and a
 * root for every pending task.
 *
 * TaskObj and FutureObj are private to Modules/_asynciomodule.c; their
 * layout is replicated here (3.11-3.12, and 3.13 which moved the bit
 * fields last and the __dict__ and weak references into the pre-header)
 * and used only when the live types' basicsize and __dict__/weakref
 * offsets match it (else tasks are written as plain objects and the
 * metadata says why).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#if PY_VERSION_HEX >= 0x030D0000
#define FUTURE_HEAD(prefix)                                                  \
	PyObject_HEAD                                                        \
	PyObject *prefix##_loop;                                             \
	PyObject *prefix##_callback0;                                        \
	PyObject *prefix##_context0;                                         \
	PyObject *prefix##_callbacks;                                        \
	PyObject *prefix##_exception;                                        \
	PyObject *prefix##_exception_tb;                                     \
	PyObject *prefix##_result;                                           \
	PyObject *prefix##_source_tb;                                        \
	PyObject *prefix##_cancel_msg;                                       \
	PyObject *prefix##_cancelled_exc;                                    \
	int prefix##_state;                                                  \
	unsigned prefix##_log_tb : 1;                                        \
	unsigned prefix##_blocking : 1;

struct future {
	FUTURE_HEAD(fut)
};

struct task {
	FUTURE_HEAD(task)
	unsigned task_must_cancel : 1;
	unsigned task_log_destroy_pending : 1;
	int task_num_cancels_requested;
	PyObject *task_fut_waiter;
	PyObject *task_coro;
	PyObject *task_name;
	PyObject *task_context;
};

/* managed __dict__ and weak references: no fields, offsets -1 */
#define FUTURE_DICT(f) NULL
#define LAYOUT_OK(tp, type, prefix)                                          \
	((tp)->tp_basicsize == (Py_ssize_t)sizeof(type) &&                   \
	 (tp)->tp_dictoffset == -1)
#else
#define FUTURE_HEAD(prefix)                                                  \
	PyObject_HEAD                                                        \
	PyObject *prefix##_loop;                                             \
	PyObject *prefix##_callback0;                                        \
	PyObject *prefix##_context0;                                         \
	PyObject *prefix##_callbacks;                                        \
	PyObject *prefix##_exception;                                        \
	PyObject *prefix##_exception_tb;                                     \
	PyObject *prefix##_result;                                           \
	PyObject *prefix##_source_tb;                                        \
	PyObject *prefix##_cancel_msg;                                       \
	int prefix##_state;                                                  \
	int prefix##_log_tb;                                                 \
	int prefix##_blocking;                                               \
	PyObject *dict;                                                      \
	PyObject *prefix##_weakreflist;                                      \
	PyObject *prefix##_cancelled_exc;

struct future {
	FUTURE_HEAD(fut)
};

struct task {
	FUTURE_HEAD(task)
	PyObject *task_fut_waiter;
	PyObject *task_coro;
	PyObject *task_name;
	PyObject *task_context;
	int task_must_cancel;
	int task_log_destroy_pending;
	int task_num_cancels_requested;
};

#define FUTURE_DICT(f) ((f)->dict)
#define LAYOUT_OK(tp, type, prefix)                                          \
	((tp)->tp_basicsize == (Py_ssize_t)sizeof(type) &&                   \
	 (tp)->tp_dictoffset == (Py_ssize_t)offsetof(type, dict) &&          \
	 (tp)->tp_weaklistoffset ==                                          \
	         (Py_ssize_t)offsetof(type, prefix##_weakreflist))
#endif

struct future_iter {
	PyObject_HEAD
	PyObject *future;
};

#define CHAIN_MAX 64

struct hsd_tasks {
	PyTypeObject *task_type;
	PyTypeObject *future_type;
};

int hsd_tasks_init(struct hsd_ctx *c)
{
	PyObject *task = hsd_module_get(c->interp, "_asyncio", "Task");
	PyObject *fut = hsd_module_get(c->interp, "_asyncio", "Future");
	if (!task || !fut || !PyType_Check(task) || !PyType_Check(fut))
		return 0; /* asyncio not in use */
	if (!LAYOUT_OK((PyTypeObject *)task, struct task, task) ||
	    !LAYOUT_OK((PyTypeObject *)fut, struct future, fut)) {
		if (hs_writer_meta_str(c->w, "asyncio.error",
		                       "unknown _asyncio task layout") < 0)
			return hsd_check_writer(c);
		return 0;
	}
	if (!(c->tasks = calloc(1, sizeof(*c->tasks))))
		return hsd_fail(c, ENOMEM, "out of memory for asyncio state");
	c->tasks->task_type = (PyTypeObject *)task;
	c->tasks->future_type = (PyTypeObject *)fut;
	return 0;
}

void hsd_tasks_free(struct hsd_ctx *c)
{
	free(c->tasks);
	c->tasks = NULL;
}

uint8_t hsd_task_role(struct hsd_ctx *c, PyTypeObject *tp)
{
	if (!c->tasks)
		return HSD_ROLE_NONE;
	if (PyType_IsSubtype(tp, c->tasks->task_type))
		return HSD_ROLE_TASK;
	if (PyType_IsSubtype(tp, c->tasks->future_type))
		return HSD_ROLE_FUTURE;
	if (strcmp(tp->tp_name, "_asyncio.FutureIter") == 0 &&
	    tp->tp_basicsize == (Py_ssize_t)sizeof(struct future_iter))
		return HSD_ROLE_FUTURE_ITER;
	return HSD_ROLE_NONE;
}

void hsd_task_fields(struct hsd_ctx *c, PyObject *o, const struct hsd_type *t,
                     struct hsd_cursor *cur)
{
	if (t->role == HSD_ROLE_FUTURE_ITER) {
		hsd_mark(c, cur, ((struct future_iter *)o)->future, HS_E_NAMED,
		         c->names[HSD_N_FUTURE]);
		return;
	}
	if (t->role == HSD_ROLE_TASK) {
		struct task *k = (struct task *)o;
		hsd_mark(c, cur, k->task_context, HS_E_NAMED, c->names[HSD_N_CONTEXT]);
		hsd_mark(c, cur, k->task_coro, HS_E_NAMED, c->names[HSD_N_CORO]);
		hsd_mark(c, cur, k->task_name, HS_E_NAMED, c->names[HSD_N_TASK_NAME]);
		hsd_mark(c, cur, k->task_fut_waiter, HS_E_NAMED,
		         c->names[HSD_N_FUT_WAITER]);
	}
	struct future *f = (struct future *)o;
	static const enum hsd_name names[] = {
		HSD_N_LOOP, HSD_N_CALLBACK0, HSD_N_CONTEXT0, HSD_N_CALLBACKS,
		HSD_N_RESULT, HSD_N_EXCEPTION, HSD_N_EXCEPTION_TB, HSD_N_SOURCE_TB,
		HSD_N_CANCEL_MSG, HSD_N_CANCELLED_EXC, HSD_N_DICT,
	};
	PyObject *fields[] = {
		f->fut_loop, f->fut_callback0, f->fut_context0, f->fut_callbacks,
		f->fut_result, f->fut_exception, f->fut_exception_tb,
		f->fut_source_tb, f->fut_cancel_msg, f->fut_cancelled_exc,
		FUTURE_DICT(f),
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		hsd_mark(c, cur, fields[i],
		         names[i] == HSD_N_DICT ? HS_E_DICT_ATTR : HS_E_NAMED,
		         names[i] == HSD_N_DICT ? 0 : c->names[names[i]]);
}

/* What a suspended generator or coroutine awaits (_PyGen_yf without the
 * new reference): the top of its stack when it stopped in a yield from. */
static PyObject *awaiting(PyGenObject *g)
{
	if (g->gi_frame_state >= FRAME_CLEARED ||
	    g->gi_frame_state == FRAME_CREATED)
		return NULL;
	_PyInterpreterFrame *f = (_PyInterpreterFrame *)g->gi_iframe;
	PyCodeObject *code = hsd_frame_code(f);
	_Py_CODEUNIT next = hsd_frame_next_instr(f);
	if (!code || !hsd_is_resume(hsd_code_unit_opcode(next)) ||
	    hsd_code_unit_oparg(next) < 2 || f->stacktop <= code->co_nlocalsplus)
		return NULL;
	return f->localsplus[f->stacktop - 1];
}

static uint64_t type_name_id(struct hsd_ctx *c, PyTypeObject *tp)
{
	char name[256];
	size_t n = hsd_type_name(tp, name, sizeof(name));
	return hs_writer_string(c->w, name, n);
}

/* The await chain from a task's coroutine, outermost first; returns the
 * number of links and sets *awaited to the innermost future. */
static size_t chain(struct hsd_ctx *c, PyObject *o, hs_await *out,
                    uintptr_t *awaited)
{
	size_t n = 0;
	while (o && n < CHAIN_MAX) {
		PyTypeObject *tp = Py_TYPE(o);
		const struct hsd_type *t = hsd_type_get(c, tp);
		if (!t)
			return n;
		if (t->role == HSD_ROLE_FUTURE_ITER) {
			o = ((struct future_iter *)o)->future;
			continue;
		}
		hs_await *a = &out[n++];
		*a = (hs_await){ .addr = (uintptr_t)o }; /* futures have no file:line */
		if (t->shape != HSD_SH_GEN) {
			a->name = type_name_id(c, tp);
			if (t->role == HSD_ROLE_FUTURE || t->role == HSD_ROLE_TASK)
				*awaited = (uintptr_t)o;
			return n;
		}
		PyGenObject *g = (PyGenObject *)o;
		_PyInterpreterFrame *f = (_PyInterpreterFrame *)g->gi_iframe;
		PyCodeObject *code = hsd_frame_code(f);
		a->name = hsd_label_plain(c, g->gi_qualname);
		if (code && g->gi_frame_state < FRAME_CLEARED) {
			a->file = hsd_label_plain(c, code->co_filename);
			a->line = (uint64_t)PyCode_Addr2Line(
				code, hsd_frame_lasti(f) * (int)sizeof(_Py_CODEUNIT));
		}
		o = awaiting(g);
	}
	return n;
}

static int is_task(struct hsd_ctx *c, PyObject *o)
{
	return c->tasks && PyType_IsSubtype(Py_TYPE(o), c->tasks->task_type);
}

int hsd_task_is_root(struct hsd_ctx *c, PyObject *o)
{
	return is_task(c, o) && ((struct future *)o)->fut_state == HS_T_PENDING;
}

int hsd_task_record(struct hsd_ctx *c, PyObject *o, const struct hsd_type *t)
{
	if (t->role != HSD_ROLE_TASK && t->role != HSD_ROLE_FUTURE)
		return 0;
	struct future *f = (struct future *)o;
	hs_task rec = { 0 };
	hs_await links[CHAIN_MAX];
	rec.addr = (uintptr_t)o;
	rec.state = (uint32_t)f->fut_state;
	if (t->role == HSD_ROLE_TASK) {
		struct task *k = (struct task *)o;
		uintptr_t awaited = 0;
		if (k->task_name && PyUnicode_Check(k->task_name)) {
			rec.name = hsd_label_name(c, k->task_name);
		} else if (k->task_name && PyLong_Check(k->task_name)) {
			/* 3.12+ names tasks lazily: "Task-<n>" */
			uint64_t v;
			int neg;
			char buf[40];
			if (hsd_long_u64(k->task_name, &v, &neg) == 0) {
				snprintf(buf, sizeof(buf), "Task-%llu",
				         (unsigned long long)v);
				rec.name = hsd_intern_cstr(c, buf);
			}
		}
		rec.coro = (uintptr_t)k->task_coro;
		rec.n = chain(c, k->task_coro, links, &awaited);
		rec.chain = links;
		rec.awaited = awaited ? awaited : (uintptr_t)k->task_fut_waiter;
	}
	if (hs_writer_task(c->w, &rec) < 0)
		return hsd_check_writer(c);
	if (t->role == HSD_ROLE_TASK && f->fut_state == HS_T_PENDING &&
	    hsd_root(c, rec.addr, HS_R_ASYNC_TASK, rec.name, 0) < 0)
		return -1;
	return c->failed ? -1 : 0;
}
