/*
 * match.h - dumps side by side: each dump's objects in memory with names
 * shared across dumps, and which object of one dump is which of the next.
 *
 * Identity across dumps. CPython never moves an object, so an object alive
 * in two dumps has the same address in both; but a freed object's address
 * is soon reused, so the same address alone proves little. An object of
 * the newer dump is taken to be the object at its address in the older
 * dump when
 *   - both have the same type (by name),
 *   - when both are tracked by the GC, its generation is not younger
 *     (collections only promote: a gen-2 object followed by a gen-0 one
 *     at the same address is a new object),
 *   - when both dumps were taken with tracemalloc tracing, both have the
 *     same allocation traceback (or neither has one),
 *   - when both hold scalar values (their own value preview, or str, int,
 *     float, bytes... objects they refer to, keyed by the reference's kind
 *     and label), at least one is the same in both: a survivor may change
 *     some attributes, a reallocated timer differs in all (`_when`). The
 *     values are compared through a 64-bit sketch per object (one bit per
 *     value), so two different objects pass with odds of about k*k/64 for
 *     k values each; singletons (None, True, small ints) do not count.
 *   - otherwise, when its shortest-path parent sits at the address where
 *     the older object's parent sat, that parent is the same object too:
 *     what a new object holds alone on its path is new with it.
 * Limits: an object freed and replaced by one of the same type, from the
 * same line, holding the same values (or none) under a surviving parent,
 * passes for the old one; a survivor that replaced every scalar it holds
 * passes for a new one; the generation test means nothing for untracked
 * objects (str, int, atomic dicts and tuples), and on CPython 3.14's
 * incremental collector, whose old generation alternates between two
 * spaces. Group counts (leaks.h) do not depend on identity, so such a
 * guess can add a candidate but cannot make a steady group look like it
 * grows.
 */
#ifndef HSA_MATCH_H
#define HSA_MATCH_H

#include <sqlite3.h>
#include <stdint.h>

#include "addrmap.h"

/* ---- small hash maps --------------------------------------------------- */

/* Four 32-bit words -> a 32-bit value, open addressing. */
typedef struct hsa_kmap {
	uint32_t *keys; /* [cap * 4] */
	uint32_t *vals; /* [cap], HSA_KMAP_NONE for an empty slot */
	uint64_t n, cap;
} hsa_kmap;
#define HSA_KMAP_NONE UINT32_MAX

/* The value stored for k, or HSA_KMAP_NONE. */
uint32_t hsa_kmap_get(const hsa_kmap *m, const uint32_t k[4]);
/* Stores k -> v unless k is present; returns the value now stored for k,
 * or HSA_KMAP_NONE when out of memory. v must not be HSA_KMAP_NONE. */
uint32_t hsa_kmap_put(hsa_kmap *m, const uint32_t k[4], uint32_t v);
void hsa_kmap_free(hsa_kmap *m);

/* Strings interned across dumps: type names, sites, labels. Id 0 is "". */
typedef struct hsa_names {
	char **s;        /* [n] */
	uint64_t n, cap;
	uint32_t *slot;  /* [nslots] id + 1, 0 for an empty slot */
	uint64_t nslots;
} hsa_names;

/* The id of s[0..len), added when new; HSA_KMAP_NONE when out of memory. */
uint32_t hsa_names_id(hsa_names *t, const char *s, size_t len);
const char *hsa_names_str(const hsa_names *t, uint32_t id);
void hsa_names_free(hsa_names *t);

/* ---- one dump ---------------------------------------------------------- */

/* Bits of hsa_snap.flags beside the dump's HS_OF_* ones. */
#define HSA_SNAP_REACHABLE 0x8000u
/* Dead in all but name: an asyncio handle cancelled but still waiting in
 * the loop's heap, a task or future already done, and what they alone
 * keep alive (dominate). */
#define HSA_SNAP_DEAD 0x4000u

/* The first root record of an object. */
typedef struct hsa_snap_root {
	hsa_node node;
	uint32_t kind; /* enum hs_root_kind */
	uint32_t text; /* names id: "module app", "frame run", "method close" */
} hsa_snap_root;

typedef struct hsa_snap {
	char *path;          /* as given */
	sqlite3 *db;
	int tracing;         /* tracemalloc was tracing when it was dumped */
	uint64_t n;          /* node v is the database's object id v + 1 */
	uint64_t *addr;      /* [n] */
	uint32_t *type;      /* [n] names id of the type name */
	uint16_t *flags;     /* [n] HS_OF_* low bits, HSA_SNAP_REACHABLE */
	uint32_t *trace;     /* [n] the database's traceback id, 0 for none */
	hsa_node *parent;    /* [n] BFS parent, HSA_NONE where a path starts */
	hsa_node *idom;      /* [n] immediate dominator or HSA_NONE */
	uint64_t *retained;  /* [n] */
	uint64_t *size;      /* [n] shallow size */
	uint8_t *pkind;      /* [n] kind of the reference from the parent */
	uint32_t *plabel;    /* [n] its label: a string id of the database, or
	                        0 (indices are not kept) */
	uint64_t *sketch;    /* [n] the scalar values it holds, one bit each
	                        (identity evidence, see above); 0 for none */
	uint64_t ntraces;
	uint32_t *trace_site; /* [ntraces+1] names id of "file:line" (hsa_snap_site) */
	uint32_t *trace_all;  /* [ntraces+1] names id of the whole traceback */
	uint64_t nroots;
	hsa_snap_root *roots; /* by node */
} hsa_snap;

/* Opens n dumps (or databases) at once, loading the dumps not yet cached
 * in parallel, and reads their objects. Type names and tracebacks go into
 * names. Returns 0, or -1 with err filled ("'path': ..."); on failure the
 * snaps are freed. */
int hsa_snaps_open(hsa_snap *snaps, const char *const *paths, int n, hsa_names *names,
                   char *err, size_t errlen);
void hsa_snap_free(hsa_snap *s);
/* Opens n dumps or databases as hsa_db_open does, loading the dumps not
 * yet cached in parallel. Returns 0, or -1 with err filled (dbs[] NULL). */
int hsa_dbs_open(sqlite3 **dbs, const char *const *paths, int n, char *err, size_t errlen);

/* The allocation site (names id of "file:line") of node v, 0 for none:
 * the innermost frame of its traceback that is the program's, not the
 * standard library's (a Logger is made where getLogger was called, not in
 * logging/__init__.py), else the innermost. */
uint32_t hsa_snap_site(const hsa_snap *s, hsa_node v);
/* The root record of node v, or NULL. */
const hsa_snap_root *hsa_snap_root_of(const hsa_snap *s, hsa_node v);

/* For every object of newer, the same object in older by the rule above,
 * or HSA_NONE: m[v] for v < newer->n. Returns the number matched, or -1
 * when out of memory. */
int64_t hsa_match(const hsa_snap *older, const hsa_snap *newer, hsa_node *m);

#endif
