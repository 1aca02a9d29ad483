/*
 * memstat.h - where the process's memory is, recorded in every dump's
 * metadata (the mem.* keys, FORMAT.md): the kernel's view (resident set,
 * its peak, anonymous, file and shared parts), pymalloc's arenas and
 * blocks, glibc malloc's heap, and tracemalloc's own tables. The analyzer
 * sets them against the objects' sizes to tell what the Python objects
 * explain and what they do not (a native leak).
 *
 * Nothing here runs Python code, creates Python objects or takes a lock a
 * fork child could inherit held.
 */
#ifndef HSD_MEMSTAT_H
#define HSD_MEMSTAT_H

#include "internal.h"

/* The figures, taken before the dump allocates its own tables. */
struct hsd_memstat {
	/* /proc/self/status, bytes; have_status 0 when unreadable */
	int have_status;
	uint64_t rss, hwm, rss_anon, rss_file, rss_shmem;
	/* pymalloc (_PyObject_DebugMallocStats); have_pymalloc 0 when another
	 * allocator serves objects (PYTHONMALLOC=malloc) */
	int have_pymalloc;
	uint64_t py_arenas, py_arena_bytes, py_allocated, py_free_blocks,
	         py_free_pools, py_overhead;
	/* glibc mallinfo2(): have_malloc 0 without glibc 2.33 or later */
	int have_malloc;
	uint64_t malloc_arena, malloc_in_use, malloc_free, malloc_mmapped;
};

/* Fills m (fields it cannot read stay 0 with their have_ flag). The
 * kernel's figures are those of process pid (0: this one): a fork child
 * dumping its parent reads the parent's, whose file pages and peak the
 * child does not share; the allocators' are this process's, the parent's
 * as of fork(). Needs the GIL (pymalloc's state is read as is). */
void hsd_memstat_take(struct hsd_memstat *m, long pid);

/* Writes m as mem.* metadata. Returns 0, or -1 after hsd_fail. */
int hsd_memstat_write(struct hsd_ctx *c, const struct hsd_memstat *m);

/* tracemalloc's memory for the traces of every domain, as malloc holds
 * it (the tables, each entry and its trace). Call with tracemalloc's
 * table lock held; domains may be NULL. */
uint64_t hsd_memstat_tm_bytes(_Py_hashtable_t *traces, _Py_hashtable_t *domains);

#endif
