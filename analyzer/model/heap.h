/*
 * heap.h - a dump's object graph in compact arrays, and the graph work
 * done on it at load time (reachability, BFS distances and parents,
 * dominators, retained sizes, per-group retained sizes).
 *
 * Nodes are the dump's objects in file order (node k is the k-th object
 * record), so a second pass over the dump meets them in node order.
 */
#ifndef HSA_HEAP_H
#define HSA_HEAP_H

#include <stdint.h>

#include "addrmap.h"
#include "dump.h"
#include "hsnap.h"

/* The name of type 0, which objects of a type the dump does not define
 * (its types section damaged) get: in 'types' and, as their module, in
 * 'modules'. */
#define HSA_UNKNOWN_TYPE "unknown type"

typedef struct hsa_root_ref {
	hsa_node node;
	uint32_t kind;  /* enum hs_root_kind */
	uint64_t name;  /* string id or 0 */
	uint64_t extra;
} hsa_root_ref;

typedef struct hsa_heap {
	hs_reader *reader;     /* kept open: its string table names types */
	hsa_file_stats stats;  /* what the read saw: sections, problems */

	uint64_t n;            /* nodes */
	uint64_t *addr;        /* [n]; 0 for an object record that is ignored
	                          (a duplicate address, or address 0) */
	uint32_t *type;        /* [n] type id, 0 if unknown */
	uint64_t *size;        /* [n] shallow size */
	uint32_t *trace;       /* [n] allocation traceback id, 0 if none */
	hsa_addrmap map;       /* address -> node */

	uint64_t m;            /* references whose source and target are nodes */
	uint64_t *out_off;     /* [n+1] CSR: node v's references are [out_off[v], out_off[v+1]) */
	hsa_node *out_dst;     /* [m] */
	uint8_t *kind;         /* [m] enum hs_edge_kind */
	uint32_t *label;       /* [m] string id, or the index for HS_E_INDEX;
	                          32 bits for the memory budget, saturating
	                          (no dump has 4G strings; no list 4G items) */

	uint64_t nroots;
	hsa_root_ref *roots;   /* roots whose object is in the dump, file order */

	uint64_t ntypes;       /* the largest type id defined */
	uint64_t *type_name;   /* [ntypes+1] string id per type id, 0 where no
	                          record defines the id (type 0: unknown) */
	uint64_t ntracebacks;  /* the largest traceback id defined */
	uint64_t *tb_frame;    /* [ntracebacks+1] innermost frame id per
	                          traceback id, 0 if none or undefined */

	uint64_t module_type;  /* type id of 'module' objects, 0 if none */
	uint64_t nmodnames;
	uint64_t *modnames;    /* string ids of module names seen */

	/* What was dropped, for the load warning; untyped: objects whose type
	 * id no record defines, given type 0. */
	uint64_t dup_objects, dangling_refs, dangling_roots, untyped;
} hsa_heap;

/* Reads a dump into h (zeroed by the call). Returns 0, or -1 with err
 * filled ("'path': not a heapsnap dump...", "out of memory ..."). A
 * truncated or damaged dump loads its intact part: h->stats says what
 * the reader saw. */
int hsa_heap_read(hsa_heap *h, const char *path, char *err, size_t errlen);
void hsa_heap_free(hsa_heap *h);
/* Frees the reference arrays (out_dst, kind, label; m stays) once nothing
 * more needs them, to lower the load's peak memory. out_off stays: the
 * object rows count each object's references from it. */
void hsa_heap_drop_edges(hsa_heap *h);
/* The string for id, or "" (never NULL). */
const char *hsa_heap_string(const hsa_heap *h, uint64_t id);

/* ---- graph work (graph.c) ---------------------------------------------- */

#define HSA_UNREACHABLE UINT32_MAX

typedef struct hsa_graph {
	uint32_t *depth;     /* [n] BFS distance from a root, HSA_UNREACHABLE */
	hsa_node *parent;    /* [n] BFS parent (shortest path), HSA_NONE at roots */
	uint8_t *pkind;      /* [n] kind and label of the parent's reference the */
	uint32_t *plabel;    /* BFS crossed: a path's labels without reading the
	                        parent's whole list (a list of millions) */
	hsa_node *idom;      /* [n] immediate dominator, HSA_NONE when it is the
	                        virtual root over all roots, or unreachable */
	uint64_t *retained;  /* [n] retained size, 0 when unreachable */
	uint64_t reachable;  /* nodes reachable from the roots */
	uint64_t garbage, garbage_bytes; /* unreachable valid nodes and their size */
	uint64_t max_depth;
} hsa_graph;

/* Reachability and BFS from all roots (held-from-C roots, then asyncio
 * tasks, only for what the others leave), ignoring HS_E_WEAK references;
 * dominators by semi-NCA with a virtual root whose children are the
 * roots; retained sizes. Iterative throughout. paths_done (may be NULL)
 * is called with ctx exactly once, when h->label is no longer read (after
 * the BFS, or on failure), so that another thread may free it while the
 * dominators run. Returns 0 or -1 (no memory). */
int hsa_graph_compute(const hsa_heap *h, hsa_graph *g, void (*paths_done)(void *),
                      void *ctx);
void hsa_graph_free(hsa_graph *g);

/* A grouping of nodes (by type, module, allocation site): group[v] in
 * [0, ngroups). retained[k] receives the retained size of the set of
 * reachable nodes in group k: the sizes of all nodes dominated by some
 * node of the group, each counted once. */
typedef struct hsa_grouping {
	const uint32_t *group;
	uint64_t ngroups;
	uint64_t *retained; /* [ngroups], filled */
} hsa_grouping;
int hsa_group_retained(const hsa_heap *h, const hsa_graph *g, hsa_grouping *gr, int ngr);

/* Grouping helpers: the module of every type id ([ntypes+1] indices into
 * *names, a malloc'ed array of malloc'ed strings) and the site (innermost
 * allocation frame id) of every node. */
int hsa_type_modules(const hsa_heap *h, uint32_t **type_module, char ***names,
                     uint64_t *nnames);
/* The length of the module part of a "module.qualname" type name, given
 * the module names known in the dump (sorted). */
size_t hsa_module_prefix(const char *tname, char *const *mods, uint64_t nmods);

#endif
