/*
 * path.h - retention paths from a root to an object, and their labels.
 *
 * The one-line form (hsa_path_format) is also the path signature that
 * 'diff', 'leaks' and 'graph' group by: it names types and labels, never
 * addresses, so the same structure gives the same text across dumps.
 */
#ifndef HSA_PATH_H
#define HSA_PATH_H

#include <sqlite3.h>
#include <stdint.h>

#include "util.h"

typedef struct hsa_hop {
	int64_t id;    /* object id */
	int kind;      /* kind of the reference from the previous hop; -1 at the root */
	int64_t label; /* its label: string id, or the index for HS_E_INDEX */
} hsa_hop;

typedef struct hsa_path {
	hsa_hop *hops; /* root first, the object last */
	uint64_t n;
} hsa_path;

/* The shortest path from a root to object id (BFS parents recorded at load
 * time; weak references never on it). A damaged cache is loaded again
 * (hsa_db_damaged), its warnings added to w (NULL drops them). Returns 1
 * with *p filled, 0 when the object is unreachable, -1 on a database
 * error (err filled). */
int hsa_path_shortest(sqlite3 *db, int64_t id, hsa_path *p, hsa_warnings *w, char *err,
                      size_t errlen);
/* Up to max paths, one through each distinct referrer of id, shortest
 * first (the first is the shortest path). Returns the number found (0:
 * unreachable) or -1. *paths is malloc'ed; free with hsa_paths_free. */
int64_t hsa_paths(sqlite3 *db, int64_t id, uint64_t max, hsa_path **paths, hsa_warnings *w,
                  char *err, size_t errlen);
void hsa_path_free(hsa_path *p);
void hsa_paths_free(hsa_path *paths, uint64_t n);

/* The label of a reference as Python would write the access: ['key'],
 * .name, [3], f_locals['x'], cell x, .__dict__, .__class__, .__self__,
 * .__func__, (weak); text is the label string (NULL for none). */
int hsa_edge_label(int kind, int64_t label, const char *text, hsa_str *out);
/* The label of a stored reference, looking its string up in db. */
int hsa_db_edge_label(sqlite3 *db, int kind, int64_t label, hsa_str *out);
/* How the root at object id is held: "module app.stats", "thread
 * MainThread frame f", "method close held from C (+1)", "method close
 * registered with atexit (callback 3 of 5)" (the holder the dumper
 * names), "asyncio task", ... */
int hsa_root_text(sqlite3 *db, int64_t id, hsa_str *out);
/* The short type name of object id ("list", "Task"). */
int hsa_type_short(sqlite3 *db, int64_t id, hsa_str *out);
/* One line: "module app.stats → __dict__['_pending'] → list[2998] → Task". */
int hsa_path_format(sqlite3 *db, const hsa_path *p, hsa_str *out);

#endif
