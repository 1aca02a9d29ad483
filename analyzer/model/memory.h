/*
 * memory.h - what the Python objects explain of a process's resident set
 * and what they do not, from a dump's memory metadata (the mem.* keys,
 * format/FORMAT.md) and its objects' sizes:
 *
 *   RSS = Python objects + pymalloc free + malloc outside objects
 *         + tracemalloc + malloc free + files + other
 *
 * "malloc outside objects" is what pymalloc and malloc hand out beyond the
 * objects' sizes (C extensions, ctypes, libraries, interpreter tables);
 * "other" is the rest of the resident set (stacks, code, mappings of no
 * allocator, minus what the allocators hold but never touched), so it may
 * be negative. Across dumps, memory no object explains (the anonymous
 * resident set minus objects, allocator slack and tracemalloc) that grows
 * in every dump is a finding of its own: a native leak.
 */
#ifndef HSA_MEMORY_H
#define HSA_MEMORY_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

typedef enum hsa_mem_part {
	HSA_MEM_OBJECTS,       /* the sum of the objects' sizes */
	HSA_MEM_PYMALLOC_FREE, /* pymalloc's arenas minus its allocated blocks */
	HSA_MEM_OUTSIDE,       /* malloc outside objects, 0 at least */
	HSA_MEM_TRACEMALLOC,   /* tracemalloc's own traces */
	HSA_MEM_MALLOC_FREE,   /* free memory in malloc's arenas */
	HSA_MEM_FILES,         /* file-backed and shared resident pages */
	HSA_MEM_OTHER,         /* the remainder of the resident set */
	HSA_MEM_NPARTS
} hsa_mem_part;

typedef struct hsa_mem {
	int known;       /* the dump recorded its resident set (rss or mem.rss) */
	int detailed;    /* it recorded mem.rss and the kernel's split of it */
	uint64_t rss, hwm;
	int have[HSA_MEM_NPARTS];     /* the dump had what this part needs */
	int64_t part[HSA_MEM_NPARTS]; /* bytes; parts without have[] are 0 */
	int64_t unexplained;          /* outside + other: anonymous memory no
	                                 object accounts for */
} hsa_mem;

/* Reads the accounting of the loaded dump db into m. A dump without any
 * RSS figure leaves m->known 0. */
void hsa_mem_read(sqlite3 *db, hsa_mem *m);

/* The one line, without a label: "RSS 77.0 MiB = Python objects 5.8 MiB
 * + pymalloc free 1.2 MiB + malloc outside objects 64.1 MiB (+46.3 MiB
 * since dump 1) + ...". With base, each part that moved by more than the
 * noise (hsa_mem_noise) carries its change and `since` ("dump 1"). Parts
 * the dump has no figures for are left out. Returns 0 or -1 (no memory);
 * m must be known. */
int hsa_mem_line(const hsa_mem *m, const hsa_mem *base, const char *since, hsa_str *out);

/* lead, the line and a newline on f when m is known ("memory    RSS ...").
 * Returns 0 or -1 (no memory). */
int hsa_mem_print(FILE *f, const char *lead, const hsa_mem *m, const hsa_mem *base,
                  const char *since);

/* The accounting as a JSON object under key (NULL inside an array):
 * rss, hwm, each part and unexplained in bytes, null where unknown. */
void hsa_mem_json(hsa_json *j, const char *key, const hsa_mem *m);
/* m[0..n) as an array of such objects under key. */
void hsa_mem_json_dumps(hsa_json *j, const char *key, const hsa_mem *m, int n);

/* Changes smaller than this are noise for a resident set of rss bytes:
 * 1 MiB, or 1 % of rss when that is more. */
uint64_t hsa_mem_noise(uint64_t rss);

/* Whether the memory no object explains is a finding across m[0..n)
 * (oldest first, n >= 2): every dump detailed, it grew by more than the
 * noise between every two dumps, and by more in all than `explained`
 * (the object groups' growth, which carries undercounts of its own). */
int hsa_mem_unexplained(const hsa_mem *m, int n, int64_t explained);

/* The finding in one sentence, as 'leaks' prints it ("memory no Python
 * object explains grew from 20.3 MiB to 44.6 MiB ..."). Returns 0 or -1
 * (no memory). */
int hsa_mem_sentence(const hsa_mem *m, int n, hsa_str *out);

/* For 'leaks': decides r->unexplained from r->mem against r's groups
 * (their retained growth is what the objects explain), with its place
 * among them by growth. */
struct hsa_leak_report;
void hsa_mem_leaks(struct hsa_leak_report *r);

/* The finding as 'leaks' prints it: "#native <sentence>", its growth per
 * dump and where to look next (nothing when out of memory); "memory" in
 * JSON ({"dumps": [...], "unexplained": {"rank", "growth", "sentence"} or
 * null}). */
void hsa_mem_leaks_print(FILE *f, const struct hsa_leak_report *r);
void hsa_mem_leaks_json(hsa_json *j, const struct hsa_leak_report *r);

#endif
