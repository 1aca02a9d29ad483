/*
 * native.h - native allocation sites of a dump (the native_* tables,
 * SCHEMA.md; dumps of `python -m heapsnap run --native`): symbolised at
 * load, named for people, and compared across dumps like object groups.
 *
 * A site is named by the first native frame that is not the C library's
 * own (strdup, operator new) nor libffi's, with its file:line when the
 * module's debug information says it, and by the innermost Python frame
 * that was running ("called from worker.py:31"). A block whose first such
 * frame is libffi's was allocated by a foreign function called through
 * ctypes: the site is the allocator itself ("`malloc` called through
 * ctypes"). Sites of one name are one group.
 */
#ifndef HSA_NATIVE_H
#define HSA_NATIVE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* At load: fills native_frames' function, file and line from each
 * module's symbols and debug information (addr2line, when installed),
 * for modules whose file is on this machine with the recorded build-id.
 * What cannot be resolved keeps the dump's dynamic symbol. Returns 0, or
 * -1 with err on a database error only. */
int hsa_native_symbolize(sqlite3 *db, char *err, size_t errlen);

typedef struct hsa_native_group {
	char *where;          /* "`leak` in leakext.so (leakext.c:27)" */
	char *caller;         /* "native_ext.py:13", or "" */
	int64_t bytes, count; /* live */
	int64_t sites;        /* stacks merged into it */
} hsa_native_group;

typedef struct hsa_native_dump {
	int tracked;          /* the dump has native sections (or native.* keys) */
	hsa_native_group *g;  /* by bytes, largest first */
	size_t n;
	int64_t bytes, count, sites, overhead;
} hsa_native_dump;

/* Reads the groups of the loaded dump db into d (zeroed first). Returns
 * 0, or -1 with err. */
int hsa_native_read(sqlite3 *db, hsa_native_dump *d, char *err, size_t errlen);
void hsa_native_dump_free(hsa_native_dump *d);

/* A group that grew in every dump. */
typedef struct hsa_native_finding {
	const char *where, *caller; /* borrowed from the last dump */
	int64_t growth;             /* bytes, first dump to last */
	int64_t first, last;        /* bytes in the first and last dump */
	int64_t count_first, count_last;
} hsa_native_finding;

/* Compares the groups of d[0..n) (oldest first, n >= 2, each tracked):
 * a group is a finding when its bytes grew between every two dumps and by
 * more than noise in all. *out (malloc'ed, largest growth first) and *nout
 * receive the findings. Returns 0, or -1 when out of memory. */
int hsa_native_compare(const hsa_native_dump *d, int n, uint64_t noise,
                       hsa_native_finding **out, size_t *nout);

/* "native: 46.3 MiB more from `codec_open` in libcodec.so (called from
 * worker.py:31)". Returns 0 or -1 (no memory). */
int hsa_native_sentence(const hsa_native_finding *f, hsa_str *out);

/* The findings as JSON objects in an array under key:
 * {"where", "caller", "growth", "first", "last", "count_first",
 * "count_last", "sentence"}. */
void hsa_native_json(hsa_json *j, const char *key, const hsa_native_finding *f, size_t n);

#endif
