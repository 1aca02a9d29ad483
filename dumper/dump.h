/*
 * dump.h - the dumper core: walk the interpreter's heap and write a .hsnap.
 *
 * The core creates no Python object per heap object and writes to no heap
 * object (no reference count changes, no gc.get_objects()), so a fork()ed
 * child can call hs_dump_fd() while copy-on-write stays near zero. Its own
 * memory comes from libc malloc, which tracemalloc never sees.
 *
 * Both entry points must be called with the GIL held by the calling thread,
 * which must have a Python thread state. Outside its own memory a dump
 * touches only the GC's enabled flag (off for the walk, then restored),
 * tracemalloc's table lock (held for the walk when tracing; waited for at
 * most 2 s, as a forked child may inherit it held) and the calling
 * thread's locale (C for LC_NUMERIC, then restored). Called while the
 * collector runs (from a finalizer) it refuses with EBUSY.
 */
#ifndef HS_DUMP_H
#define HS_DUMP_H

#include <stddef.h>
#include <stdint.h>

/* What to store of str, bytes, int and float objects, and of names that
 * may be data. */
enum hs_values {
	HS_VALUES_NONE = 0,    /* no contents at all: no previews, no dict-key
	                          text, no argv, no attribute names that are no
	                          identifiers, no thread or task names but
	                          Python's defaults (dumps leaving the network) */
	HS_VALUES_PREVIEW = 1  /* bounded previews (preview_len bytes) */
};

struct hs_dump_opts {
	int values;              /* enum hs_values */
	size_t preview_len;      /* preview bytes per value; 0: 128, at most 1024 */
	int level;               /* zstd level; 0: the writer's default */
	/* Extra string metadata, e.g. what triggered the dump: NULL, or an
	 * array of key, value, key, value, ..., NULL. */
	const char *const *meta;
	/* The process the dump describes (metadata pid and ppid); 0: this
	 * one. A fork()ed child dumping for its parent passes the parent's. */
	long pid, ppid;
};

struct hs_dump_result {
	uint64_t objects;        /* object records written */
	uint64_t refs;           /* edges written */
	uint64_t roots;          /* root records written */
	uint64_t bytes;          /* file size */
	uint64_t extra_bytes;    /* peak memory of the dumper's own tables */
	double seconds;          /* wall time of the dump */
};

/* Learns what the dumper needs from the running interpreter; call once
 * with the GIL before the first dump (importing heapsnap._dumper does).
 * Returns 0, or -1 with a Python exception set. */
int hs_dump_init(void);

/* Writes a complete dump to fd (a file positioned at its start, or a pipe
 * or socket; the caller keeps and closes it) and fsyncs it (files). opts may be
 * NULL for the defaults; res may be NULL. Returns 0, or an errno value
 * (EIO when the failure is not an OS error) with a lowercase message in
 * err. */
int hs_dump_fd(int fd, const struct hs_dump_opts *opts,
               struct hs_dump_result *res, char *err, size_t errlen);

/* Writes a dump to path atomically: a 0600 temp file in the same directory
 * (".<name>.tmp.<pid>", flock()ed while open), fsync, rename, fsync of
 * the directory. On failure nothing is left at path nor at the temp name.
 * First removes the directory's ".<name>.hsnap.tmp.<pid>" files whose
 * process is gone and which no one has locked (left by a service killed
 * with its dump child). Returns 0 or an errno value, as hs_dump_fd; the
 * message names the path. */
int hs_dump_path(const char *path, const struct hs_dump_opts *opts,
                 struct hs_dump_result *res, char *err, size_t errlen);

#endif
