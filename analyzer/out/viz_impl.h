/*
 * viz_impl.h - what graphviz.c (labels, layout, rendering) and
 * viz_choose.c (which objects to draw) share: the picture in the making.
 */
#ifndef HSA_VIZ_IMPL_H
#define HSA_VIZ_IMPL_H

#include <gvc.h>
#include <sqlite3.h>
#include <stdint.h>

#include "addrmap.h"
#include "graphviz.h"
#include "util.h"

typedef struct vnode {
	int64_t id;      /* object id; 0 for a fold or an elided stretch of path */
	uint32_t dist;   /* hops from the nearest start object */
	uint8_t start;
	uint8_t queued;  /* put on the breadth-first queue */
	uint8_t expanded; /* its neighbours were listed */
	char *text;      /* label of a fold or an elision (escaped), else NULL */
	uint64_t undrawn; /* neighbours left out for want of nodes */
} vnode;

typedef struct vedge {
	uint32_t a, b;   /* referrer -> referent */
	int kind;        /* HS_E_*, or -1 for the edge of a fold or an elision */
	int64_t label;
	uint8_t path;    /* on the shortest path from a root */
	uint32_t seq;    /* insertion order, to keep the first of duplicates */
} vedge;

struct hsa_viz {
	sqlite3 *db;
	hsa_viz_opts o;
	vnode *nodes; /* [o.max_nodes] */
	uint32_t nn;
	vedge *edges;
	uint32_t ne, ecap, emax;
	hsa_addrmap ids; /* object id -> node index */
	uint32_t *queue; /* [o.max_nodes] */
	uint32_t qhead, qtail;
	Agraph_t *g;
	hsa_warnings *w;
	char *err;
	size_t errlen;
};

/* Appends s as label text Graphviz shows as it is (at most max chars). */
int hsa_viz_text(hsa_str *b, const char *s, size_t len, size_t max);
/* Fills v's error ("what: SQLite's message" or out of memory) unless set;
 * returns -1. */
int hsa_viz_fail(hsa_viz *v, const char *what);
/* Chooses the nodes and edges around start[0..nstart) (nstart >= 1):
 * v->nodes and v->edges, one edge per pair of nodes. Returns
 * 0, or -1 with v's error. */
int hsa_viz_choose(hsa_viz *v, const int64_t *start, size_t nstart);

#endif
