/*
 * snap.h - dumps side by side: each dump's objects read from its database
 * into arrays, with names shared across dumps (names.h). Identity across
 * dumps is match.h's.
 */
#ifndef HSA_SNAP_H
#define HSA_SNAP_H

#include <sqlite3.h>
#include <stdint.h>

#include "addrmap.h"
#include "names.h"
#include "util.h"

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
	                        (identity evidence, match.h); 0 for none */
	uint64_t ntraces;
	uint32_t *trace_site; /* [ntraces+1] names id of "file:line" (hsa_snap_site) */
	uint32_t *trace_all;  /* [ntraces+1] names id of the whole traceback */
	uint64_t nroots;
	hsa_snap_root *roots; /* by node */
} hsa_snap;

/* Opens n dumps (or databases) at once, loading the dumps not yet cached
 * in parallel, and reads their objects. Type names and tracebacks go into
 * names. The warnings of the opens and loads go to w (NULL drops them),
 * in the order of paths. Returns 0, or -1 with err filled ("'path':
 * ..."); on failure the snaps are freed. */
int hsa_snaps_open(hsa_snap *snaps, const char *const *paths, int n, hsa_names *names,
                   hsa_warnings *w, char *err, size_t errlen);
void hsa_snap_free(hsa_snap *s);
/* Opens n dumps or databases as hsa_db_open does, loading the dumps not
 * yet cached in parallel; warnings go to w as above. Returns 0, or -1
 * with err filled (dbs[] NULL). */
int hsa_dbs_open(sqlite3 **dbs, const char *const *paths, int n, hsa_warnings *w, char *err,
                 size_t errlen);

/* The allocation site (names id of "file:line") of node v, 0 for none:
 * the innermost frame of its traceback that is the program's, not the
 * standard library's (a Logger is made where getLogger was called, not in
 * logging/__init__.py), else the innermost. */
uint32_t hsa_snap_site(const hsa_snap *s, hsa_node v);
/* The root record of node v, or NULL. */
const hsa_snap_root *hsa_snap_root_of(const hsa_snap *s, hsa_node v);

#endif
