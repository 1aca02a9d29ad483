/*
 * attach.h - what 'heapsnap attach' and the payload it loads into a
 * throwaway copy of the target share: the payload's description of the
 * interpreter layout it was built for, the arguments the attacher writes
 * into the copy, and the report the payload leaves there.
 *
 * Both sides are built from this one header, so a payload and an attacher
 * of the same build agree; abi guards against payloads of another build.
 */
#ifndef HS_ATTACH_H
#define HS_ATTACH_H

#include <stdint.h>

#define HS_ATTACH_ABI 1
#define HS_ATTACH_MSG 512

/* The layout symbol every payload exports, read by the attacher from the
 * payload file (never by loading it): offsets from the internal headers of
 * the Python the payload was built for. */
#define HS_ATTACH_LAYOUT_SYM "hs_attach_layout"
/* The entry point: const struct hs_attach_report *ENTRY(const struct
 * hs_attach_args *). */
#define HS_ATTACH_ENTRY_SYM "hs_attach_main"

/* How the attacher asks the GIL's holder to let go at its next bytecode
 * boundary (the request a thread waiting for the GIL makes). */
enum hs_attach_drop {
	HS_DROP_INTERP = 1, /* 3.11, 3.12: interp->ceval.gil_drop_request and
	                       eval_breaker ints */
	HS_DROP_TSTATE = 2  /* 3.13: bit 0 of the holder's tstate->eval_breaker */
};

struct hs_attach_layout {
	uint32_t abi;              /* HS_ATTACH_ABI */
	uint32_t hexversion;       /* PY_VERSION_HEX of the headers */
	uint32_t gil_in_interp;    /* 0: the GIL is _PyRuntime + gil (3.11);
	                              1: *(interp + gil) points to it */
	uint32_t drop;             /* enum hs_attach_drop */
	uint64_t interp_main;      /* _PyRuntimeState: interpreters.main */
	uint64_t gil;              /* see gil_in_interp */
	uint64_t gil_locked;       /* struct _gil_runtime_state: locked (int) */
	uint64_t gil_last_holder;  /* ... last_holder (PyThreadState *) */
	uint64_t gc_collecting;    /* PyInterpreterState: gc.collecting (int) */
	/* HS_DROP_INTERP: offsets in PyInterpreterState of ints */
	uint64_t eval_breaker;     /* HS_DROP_TSTATE: in PyThreadState (uintptr) */
	uint64_t drop_request;
	uint64_t calls_to_do;      /* the other reasons eval_breaker is set for */
	uint64_t async_exc;
	uint64_t gc_scheduled;     /* 3.12; 0 when absent */
	uint64_t signals_pending;  /* in _PyRuntimeState */
	uint64_t calls_to_do_main; /* in _PyRuntimeState (3.12); 0 when absent */
};

/* Written by the attacher into the copy; strings point into the copy. */
struct hs_attach_args {
	uint32_t abi;
	int32_t fd;                /* where the dump goes (a pipe's write end) */
	int32_t values;            /* enum hs_values */
	int32_t pad;
	int64_t pid, ppid;         /* the target's, for the metadata */
	/* 3.12+: offset of _Py_tss_tstate in the TLS block of the object
	 * defining _PyRuntime, or -1 when unknown (then PyThreadState_Swap) */
	int64_t tss_offset;
	/* NULL-ended key, value, ... metadata (trigger=attach and how) */
	const char *const *meta;
};

struct hs_attach_report {
	int32_t code;              /* 0, or an errno value */
	int32_t done;              /* 1 once the payload returned */
	uint64_t objects, refs, roots, bytes;
	double seconds;
	char msg[HS_ATTACH_MSG];   /* NUL-terminated, when code != 0 */
};

#endif
