/*
 * graphviz.h - objgraph-style pictures of who holds an object (or what it
 * holds), built with libcgraph and laid out and rendered in-process with
 * libgvc.
 *
 * The picture starts from one or more objects and walks referrers (or
 * referents) breadth-first up to a depth and a node budget. The shortest
 * path from a root to the first start object is always drawn (its middle
 * folded into one node when it alone exceeds the budget); more than `fan`
 * new neighbours of an object fold into one "+N more referrers" node that
 * counts them by type. Every string from the dump is escaped, so a label
 * renders as text, never as markup.
 */
#ifndef HSA_GRAPHVIZ_H
#define HSA_GRAPHVIZ_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct hsa_viz_opts {
	int refs;            /* 1: what the start objects hold; 0: who holds them */
	uint64_t depth;      /* hops from a start object to expand at most */
	uint64_t max_nodes;  /* nodes drawn at most, folds included (>= 3) */
	uint64_t fan;        /* new neighbours drawn per object before folding */
	const char *caption; /* text above the picture, or NULL */
	const char *id;      /* prefix of the SVG element ids, or NULL */
} hsa_viz_opts;

typedef struct hsa_viz hsa_viz;

/* Chooses the objects to draw around start[0..nstart) (nstart at most
 * max_nodes / 3, at least 1) and builds the graph. Warnings (a damaged
 * cache loaded again on the way) go to w (util.h; NULL drops them).
 * Returns 0 with *out set, or -1 with err filled. */
int hsa_viz_build(sqlite3 *db, const int64_t *start, size_t nstart, const hsa_viz_opts *o,
                  hsa_viz **out, hsa_warnings *w, char *err, size_t errlen);
/* Nodes in the graph. */
uint64_t hsa_viz_nodes(const hsa_viz *v);
/* Renders as format ("svg", "png", "pdf", or "dot": the graph before
 * layout) into the file at path, or with path NULL into *data (malloc'ed,
 * NUL-terminated, *len bytes). Returns 0, or -1 with err filled. */
int hsa_viz_render(hsa_viz *v, const char *format, const char *path, char **data, size_t *len,
                   char *err, size_t errlen);
void hsa_viz_free(hsa_viz *v);

/* The objects to draw for a leak group in db (the last of its dumps): the
 * holder and three members (five members without a holder). Returns how
 * many of them the dump has, or -1 with err filled. */
#define HSA_VIZ_LEAK_STARTS 5
/* Leak pictures look one hop around these: the path shows why the holder
 * lives, the hop who else holds the members. */
#define HSA_VIZ_LEAK_DEPTH 1
struct hsa_leak_group;
int hsa_viz_leak_starts(sqlite3 *db, const struct hsa_leak_group *g,
                        int64_t starts[HSA_VIZ_LEAK_STARTS], char *err, size_t errlen);

/* The output format named by a file's extension ("svg", "png", "pdf",
 * "dot"), or NULL when it is none of these. */
const char *hsa_viz_format(const char *path);

#endif
