/*
 * leaks.h - what grows between dumps, who holds it and where it was made:
 * the analysis behind 'heapsnap leaks', for 'report' and 'graph --leak'.
 *
 * Objects are matched across dumps by address and type, sharpened by GC
 * generation and allocation traceback (match.h). With three or more dumps
 * a leak candidate is an object created after the first dump and alive in
 * every later one (memlab's three-snapshot technique); with two dumps it is
 * any object new in the second (weaker: per-request objects alive at the
 * second dump look the same). Candidates are grouped by type, allocation
 * site and retention-path signature; a group is reported when its count
 * rises from dump to dump and its holder (the accumulation point: the
 * deepest object most members' shortest paths pass through) still grew
 * between the last two dumps. Churn (constant counts), bounded caches at
 * their bound and objects only weakly referenced are not reported.
 */
#ifndef HSA_LEAKS_H
#define HSA_LEAKS_H

#include <stddef.h>
#include <stdint.h>

#include "memory.h"
#include "native.h"
#include "util.h"

#define HSA_LEAK_MAX_DUMPS 8
#define HSA_LEAK_SAMPLES 5

typedef struct hsa_leak_group {
	char *type;      /* full type name of the members: "app.stats.Task" */
	char *via;       /* the holder's items' type when they only carry the
	                    members ("tuple": lru_cache keys holding self;
	                    "method": callbacks holding their object), or NULL;
	                    type, site, signature and the figures below are then
	                    those of the carried objects */
	char *site;      /* where they were made, "/app/stats.py:52": the innermost
	                    allocation frame outside the standard library (else
	                    the innermost), or NULL without tracemalloc */
	char *signature; /* members' shortest path, indices and keys masked:
	                    "module app.stats → __dict__['_pending'] → list[*] → Task" */
	uint64_t count[HSA_LEAK_MAX_DUMPS];    /* members per dump */
	uint64_t retained[HSA_LEAK_MAX_DUMPS]; /* members' retained size per dump,
	                                          each object counted once */
	int64_t retained_growth;  /* retained[last] - retained[0] */
	uint64_t survivors;       /* members new after the first dump and alive
	                             in every later one (two dumps: new ones) */
	uint64_t fresh;           /* members of the last dump new since the first
	                             (survivors and those made since) */
	uint64_t sample[HSA_LEAK_SAMPLES]; /* addresses of members in the last dump,
	                                      a survivor first */
	int nsample;

	/* The accumulation point, in the last dump. holder_addr is 0 when no
	 * object holds most members (each then has its own root). */
	uint64_t holder_addr;
	char *holder_type;   /* "builtins.list" */
	char *holder;        /* for people: "list `_pending` in module `app.stats`" */
	char *holder_path;   /* path from a root to the holder, with addresses
	                        left out: "module app.stats → __dict__['_pending'] → list" */
	uint64_t holder_len[HSA_LEAK_MAX_DUMPS];      /* its fan-out per dump: its length,
	                                                 or its references when it has
	                                                 none; 0 where not found */
	uint64_t holder_retained[HSA_LEAK_MAX_DUMPS]; /* its retained size per dump */
	char *where; /* where pending tasks wait: "`ship()` at app.py:30, awaiting
	                `Event.wait()` at locks.py:213", or NULL */
	char *also;  /* other groups folded into this one (reached through its
	                members, or with the same holder), largest first:
	                "traceback ×20, frame ×40", or NULL */
	char *sentence; /* the finding in one sentence, as the command prints it
	                   (its retained growth is retained_growth) */
} hsa_leak_group;

/* What hsa_leaks_find reports. */
typedef struct hsa_leak_opts {
	/* A group is reported only when its retained growth reaches this many
	 * bytes (memlab's --ignore-leak-cluster-size-below); HSA_LEAK_AUTO:
	 * 1/16384 of the last dump's RSS, at least 16 KiB (a few hundred
	 * bytes of churn in a 50 MiB process is no leak, nor the few timers
	 * and handles an event loop holds at any moment). */
	uint64_t min_growth;
} hsa_leak_opts;
#define HSA_LEAK_AUTO UINT64_MAX

typedef struct hsa_leak_report {
	int ndumps;
	int weak;  /* 1 with two dumps: candidates are new objects, survival unchecked */
	uint64_t objects[HSA_LEAK_MAX_DUMPS];  /* objects per dump */
	uint64_t matched[HSA_LEAK_MAX_DUMPS];  /* objects of dump k matched to dump k-1
	                                          (matched[0] is 0) */
	uint64_t candidates;  /* objects behind the groups' survivors, before grouping */
	uint64_t dead[HSA_LEAK_MAX_DUMPS];       /* objects dead in all but name per dump
	                                            (cancelled asyncio handles still
	                                            scheduled, done tasks and futures):
	                                            never members of a group */
	uint64_t dead_bytes[HSA_LEAK_MAX_DUMPS]; /* their shallow size */
	uint64_t min_growth;  /* the floor applied (bytes) */
	uint64_t below_floor; /* groups that grew but less than min_growth */
	uint64_t ngroups;
	hsa_leak_group *groups; /* ranked by retained growth, largest first */
	hsa_mem mem[HSA_LEAK_MAX_DUMPS]; /* each dump's memory accounting */
	/* With every dump taken under `run --native`: its native allocation
	 * sites, and those that grew in every dump (native.h), largest first;
	 * the findings' strings are the last dump's. */
	int native_tracked;
	hsa_native_dump native[HSA_LEAK_MAX_DUMPS];
	hsa_native_finding *native_findings;
	size_t nnative;
	int unexplained;           /* memory no object explains grew: a finding */
	uint64_t unexplained_rank; /* the groups of more retained growth before it */
} hsa_leak_report;

/* Finds the leaks across dumps[0..n) (oldest first, 2 <= n <=
 * HSA_LEAK_MAX_DUMPS), each a dump or a database as hsa_db_open takes it
 * (dumps are loaded into their cached database first); opts NULL for the
 * defaults. Warnings (the loads', dumps of different processes or out of
 * order) go to w (util.h; NULL drops them). Returns 0 with
 * *out allocated (free with hsa_leak_report_free), or -1 with err filled
 * ("'path': ...", "out of memory"). */
int hsa_leaks_find(const char *const *dumps, int n, const hsa_leak_opts *opts,
                   hsa_leak_report **out, hsa_warnings *w, char *err, size_t errlen);
void hsa_leak_report_free(hsa_leak_report *r);

#endif
