/*
 * internal.h - state shared by the dumper's files during one dump.
 *
 * Names here are hsd_ (dumper-internal). Everything allocated during a dump
 * uses libc malloc: tracemalloc never sees it and a forked child needs no
 * Python allocator state.
 */
#ifndef HSD_INTERNAL_H
#define HSD_INTERNAL_H

#include "compat.h"

#include <stdint.h>
#include <stdio.h>

#include "addrmap.h"
#include "map.h"
#include "native.h"
#include "dump.h"
#include "hsnap.h"

/* How an object's type is described, labelled and sized; found once per
 * type from the nearest built-in base (see types.c). */
enum hsd_shape {
	HSD_SH_OTHER = 0,
	HSD_SH_STR,
	HSD_SH_BYTES,
	HSD_SH_BYTEARRAY,
	HSD_SH_INT,
	HSD_SH_BOOL,
	HSD_SH_FLOAT,
	HSD_SH_NONE,
	HSD_SH_TUPLE,
	HSD_SH_LIST,
	HSD_SH_DICT,
	HSD_SH_SET,
	HSD_SH_TYPE,
	HSD_SH_MODULE,
	HSD_SH_FUNCTION,
	HSD_SH_METHOD,
	HSD_SH_CFUNCTION,
	HSD_SH_CODE,
	HSD_SH_CELL,
	HSD_SH_FRAME,
	HSD_SH_GEN,
	HSD_SH_WEAKREF,
	HSD_SH_EXCEPTION,
	HSD_SH_TRACEBACK
};

/* Which built-in __sizeof__ an object's type resolves to. */
enum hsd_sizer {
	HSD_SZ_OBJECT = 0, /* object.__sizeof__, and any override not ours */
	HSD_SZ_INT,
	HSD_SZ_STR,
	HSD_SZ_BYTEARRAY,
	HSD_SZ_LIST,
	HSD_SZ_DICT,
	HSD_SZ_SET,
	HSD_SZ_TYPE,
	HSD_SZ_CODE,
	HSD_SZ_FRAME,
	HSD_SZ_GEN,
	HSD_SZ_DEQUE
};

/* asyncio roles (tasks.c). */
enum hsd_role { HSD_ROLE_NONE = 0, HSD_ROLE_FUTURE, HSD_ROLE_TASK,
                HSD_ROLE_FUTURE_ITER };

struct hsd_type {
	PyTypeObject *tp;     /* NULL: empty slot */
	uint64_t id;          /* hs type id */
	uint32_t oflags;      /* HS_OF_* every instance gets */
	uint8_t shape;        /* enum hsd_shape of the nearest built-in base */
	uint8_t sizer;        /* enum hsd_sizer */
	uint8_t role;         /* enum hsd_role */
	uint8_t subtype;      /* instances are traversed by subtype_traverse */
};

/* A cached text label for an immutable key object (str, int ...). */
struct hsd_label_slot {
	PyObject *key;
	uint64_t plain;       /* the text itself (names) */
	uint64_t repr;        /* the repr (dict keys) */
};
#define HSD_LABEL_SLOTS 8192
#define HSD_TYPE_CACHE 256

/* Interned constant labels, indexed by enum hsd_name. */
enum hsd_name {
	HSD_N_DICT, HSD_N_CLASS, HSD_N_CODE, HSD_N_GLOBALS, HSD_N_BUILTINS,
	HSD_N_MODULE, HSD_N_DEFAULTS, HSD_N_KWDEFAULTS, HSD_N_DOC,
	HSD_N_NAME, HSD_N_CLOSURE, HSD_N_ANNOTATIONS, HSD_N_QUALNAME,
	HSD_N_SELF, HSD_N_FUNC, HSD_N_CELL_CONTENTS, HSD_N_MRO, HSD_N_BASES,
	HSD_N_BASE, HSD_N_SUBCLASSES, HSD_N_CACHE, HSD_N_MODULE_OBJ,
	HSD_N_CALLBACK, HSD_N_F_BACK, HSD_N_F_TRACE, HSD_N_F_LOCALS,
	HSD_N_F_FUNC, HSD_N_F_CODE, HSD_N_FRAME_OBJ, HSD_N_EXC, HSD_N_CONSTS,
	HSD_N_NAMES, HSD_N_LOCALSPLUSNAMES, HSD_N_LOCALSPLUSKINDS,
	HSD_N_FILENAME, HSD_N_LINETABLE, HSD_N_EXCEPTIONTABLE, HSD_N_CO_CODE,
	HSD_N_LOOP, HSD_N_CALLBACK0, HSD_N_CONTEXT0, HSD_N_CALLBACKS,
	HSD_N_RESULT, HSD_N_EXCEPTION, HSD_N_EXCEPTION_TB, HSD_N_SOURCE_TB,
	HSD_N_CANCEL_MSG, HSD_N_CANCELLED_EXC, HSD_N_FUT_WAITER, HSD_N_CORO,
	HSD_N_TASK_NAME, HSD_N_CONTEXT, HSD_N_CO_NAME, HSD_N_CO_QUALNAME,
	HSD_N_GI_CODE, HSD_N_FUTURE, HSD_N_ARGS, HSD_N_NOTES, HSD_N_TRACEBACK,
	HSD_N_CAUSE, HSD_N_CONTEXT_EXC, HSD_N_TB_NEXT, HSD_N_TB_FRAME,
	HSD_N_COUNT
};

struct hsd_tm;    /* tracemalloc.c */
struct hsd_tasks; /* tasks.c */

struct hsd_ctx {
	hs_writer *w;
	const struct hs_dump_opts *opts;
	size_t preview_len;
	PyInterpreterState *interp;
	PyThreadState *tstate;        /* the dumping thread */

	struct hsd_addrmap map;

	PyObject **stack;             /* untracked objects still to write */
	size_t nstack, capstack;

	hs_edge *edges;               /* the current object's edges */
	size_t nedges, capedges;

	struct hsd_map types;         /* type object -> struct hsd_type * */
	struct hsd_type *type_cache[HSD_TYPE_CACHE];
	uint64_t frame_type_id;       /* type of pseudo interpreter frames */

	struct hsd_label_slot *labels;
	uint64_t names[HSD_N_COUNT];

	struct hsd_tm *tm;
	struct hsd_tasks *tasks;

	uint64_t nobjects, nrefs, nroots;
	size_t peak_bytes;            /* the dumper's own tables, at peak */

	int failed;
	int err_code;                 /* errno value of the failure */
	int sink_errno;               /* errno of the last failed write */
	char *err;
	size_t errlen;
};

/* Records the first failure (printf-style message); returns -1. */
int hsd_fail(struct hsd_ctx *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Checks the writer's sticky error; returns 0 or -1 (after hsd_fail). */
int hsd_check_writer(struct hsd_ctx *c);
/* Grows a libc array to hold at least n elements of size sz. */
int hsd_grow(struct hsd_ctx *c, void **arr, size_t *cap, size_t n, size_t sz);
/* Bytes of the dumper's own tables now; updates peak_bytes. */
void hsd_account(struct hsd_ctx *c);

/* types.c */
struct hsd_type *hsd_type_get(struct hsd_ctx *c, PyTypeObject *tp);
void hsd_types_free(struct hsd_ctx *c);
/* "module.qualname" of a type into buf (plain name for builtins). */
size_t hsd_type_name(PyTypeObject *tp, char *buf, size_t cap);

/* walk.c */
int hsd_walk(struct hsd_ctx *c);
/* Appends an edge to c->edges. */
int hsd_edge(struct hsd_ctx *c, PyObject *dst, uint32_t kind, uint64_t label);
/* Notes the referents of edges [from, to): counts references to tracked
 * objects (weak edges excepted) and queues unseen untracked ones. */
int hsd_visit_edges(struct hsd_ctx *c, size_t from, size_t to);
/* Queues o for writing if the walk has not seen it (roots use this). */
int hsd_visit(struct hsd_ctx *c, PyObject *o, int counted);

/* sizes.c */
uint8_t hsd_sizer_of(PyTypeObject *tp);
uint64_t hsd_sizeof(PyObject *o, const struct hsd_type *t);
/* Memory an interpreter frame's locals and stack take. */
uint64_t hsd_iframe_size(PyCodeObject *code);

/* text.c: values, names and labels as UTF-8 */
struct hsd_buf {
	char *p;
	size_t len, cap;
	int trunc;            /* something did not fit */
};
void hsd_buf_put(struct hsd_buf *b, const char *s, size_t n);
void hsd_buf_puts(struct hsd_buf *b, const char *s);
void hsd_buf_printf(struct hsd_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The text of a str (UTF-8), bounded by the buffer. */
void hsd_buf_str(struct hsd_buf *b, PyObject *s);
uint64_t hsd_intern_cstr(struct hsd_ctx *c, const char *s);
/* Label ids for a key object, cached per object: its text or its repr. */
uint64_t hsd_label_plain(struct hsd_ctx *c, PyObject *key);
uint64_t hsd_label_repr(struct hsd_ctx *c, PyObject *key);
/* What values="none" keeps of names that may be data: an attribute name
 * only when it is an identifier; a thread's or task's name only when it is
 * the one Python gives by default (MainThread, Thread-N, Task-N ...).
 * With previews, the plain label. 0: no label. */
uint64_t hsd_label_attr(struct hsd_ctx *c, PyObject *name);
uint64_t hsd_label_name(struct hsd_ctx *c, PyObject *name);
/* Fills len, value and name of an object record; buf backs the value. */
void hsd_describe(struct hsd_ctx *c, PyObject *o, const struct hsd_type *t,
                  hs_object *rec, struct hsd_buf *valbuf);
/* "qualname file:line" of a code object, interned. */
uint64_t hsd_code_name(struct hsd_ctx *c, PyCodeObject *code, int line);
int hsd_names_init(struct hsd_ctx *c);

/* labels.c */
/* A position in the current object's traverse edges [pos, end) while
 * labelling them; with emit set, fields become new edges instead. */
struct hsd_cursor {
	size_t pos, end;
	int emit;
};
/* Labels the next unlabelled edge to p near the cursor (or appends it). */
void hsd_mark(struct hsd_ctx *c, struct hsd_cursor *cur, PyObject *p,
              uint32_t kind, uint64_t label);
/* Labels the traverse edges of o (c->edges[0..n)) and appends the edges
 * tp_traverse leaves out (dict keys, weak targets, code and static type
 * fields). */
int hsd_label(struct hsd_ctx *c, PyObject *o, const struct hsd_type *t);
/* Appends the labelled edges an interpreter frame holds (as
 * _PyFrame_Traverse visits them). */
int hsd_frame_edges(struct hsd_ctx *c, _PyInterpreterFrame *f);

/* pyread.c: reading Python objects without running Python code */
PyObject *hsd_dict_get(PyObject *dict, const char *name);
PyObject *hsd_module_get(PyInterpreterState *interp, const char *module,
                         const char *name);
PyObject *hsd_attr(PyObject *o, const char *name);
int hsd_str_eq(PyObject *s, const char *ascii);
/* An int's value if it fits in 64 bits: returns 0, else -1. */
int hsd_long_u64(PyObject *o, uint64_t *v, int *neg);

/* roots.c */
int hsd_root(struct hsd_ctx *c, uintptr_t addr, uint32_t kind, uint64_t name,
             uint64_t extra);
int hsd_roots(struct hsd_ctx *c);
int hsd_held_from_c(struct hsd_ctx *c);

/* tasks.c */
int hsd_tasks_init(struct hsd_ctx *c);
void hsd_tasks_free(struct hsd_ctx *c);
uint8_t hsd_task_role(struct hsd_ctx *c, PyTypeObject *tp);
int hsd_task_record(struct hsd_ctx *c, PyObject *o, const struct hsd_type *t);
/* Labels the fields of a Task or Future (TaskObj_traverse order). */
void hsd_task_fields(struct hsd_ctx *c, PyObject *o, const struct hsd_type *t,
                     struct hsd_cursor *cur);
/* 1 if o is a pending task already written as a root. */
int hsd_task_is_root(struct hsd_ctx *c, PyObject *o);

/* tracemalloc.c */
int hsd_tm_begin(struct hsd_ctx *c);
uint64_t hsd_tm_object(struct hsd_ctx *c, PyObject *o);
int hsd_tm_end(struct hsd_ctx *c);
size_t hsd_tm_bytes(const struct hsd_ctx *c);
void hsd_tm_free(struct hsd_ctx *c);

/* native.c (and native.h): the native allocation tracker, when preloaded */
/* The calling thread's allocations go untracked while on (the dump's own). */
void hsd_native_quiet(int on);
/* Writes the live native sites and the native.* metadata; nothing
 * without the tracker. Returns 0 or -1 (hsd_fail). */
int hsd_native_write(struct hsd_ctx *c);

/* meta.c */
int hsd_meta_begin(struct hsd_ctx *c, int gc_enabled);
int hsd_meta_end(struct hsd_ctx *c, double seconds);
/* This process's resident set in bytes (/proc/self/statm), or 0. */
uint64_t hsd_rss_bytes(void);

#endif
