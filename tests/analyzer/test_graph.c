/* Graph work against brute force on random graphs: reachability with weak
 * references excluded, BFS depths and parents, immediate dominators,
 * retained sizes and per-group retained sizes. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heap.h"
#include "tdump.h"

#define MAXN 48

typedef struct rgraph {
	int n, nroots;
	int roots[8];
	int m;
	int src[400], dst[400], weak[400];
	uint64_t size[MAXN];
	int type[MAXN];
} rgraph;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* Mixes shapes: random edges (cycles), diamonds, chains, unreachable
 * islands, weak references, several roots, self loops. */
static void random_graph(rgraph *g)
{
	memset(g, 0, sizeof(*g));
	g->n = 1 + (int)rnd(MAXN);
	g->nroots = 1 + (int)rnd(g->n < 4 ? (unsigned)g->n : 4);
	for (int i = 0; i < g->nroots; i++)
		g->roots[i] = (int)rnd((unsigned)g->n);
	int m = (int)rnd((unsigned)(g->n * 3 + 1));
	for (int i = 0; i < m && g->m < 400; i++) {
		int a = (int)rnd((unsigned)g->n), b;
		/* Forward edges make chains and diamonds; random ones cycles. */
		b = rnd(3) ? a + 1 + (int)rnd(3) : (int)rnd((unsigned)g->n);
		if (b >= g->n)
			b = (int)rnd((unsigned)g->n);
		g->src[g->m] = a;
		g->dst[g->m] = b;
		g->weak[g->m++] = rnd(8) == 0;
	}
	for (int v = 0; v < g->n; v++) {
		g->size[v] = 16 + rnd(100);
		g->type[v] = (int)rnd(3);
	}
}

static uint64_t addr_of(int v) { return 0x10000 + (uint64_t)v * 32; }

static void write_graph(const rgraph *g, const char *path)
{
	static const char *const tnames[] = {"mod.A", "mod.B", "other.C"};
	tdump *t = td_open(path);
	/* Objects in a scrambled order so node order differs from address
	 * order; references emitted per source in another order. */
	int order[MAXN];
	for (int v = 0; v < g->n; v++)
		order[v] = v;
	for (int v = g->n - 1; v > 0; v--) {
		int k = (int)rnd((unsigned)v + 1), x = order[v];
		order[v] = order[k];
		order[k] = x;
	}
	for (int i = 0; i < g->n; i++)
		td_obj(t, addr_of(order[i]), tnames[g->type[order[i]]], g->size[order[i]]);
	for (int i = g->n - 1; i >= 0; i--) {
		int v = order[i];
		hs_edge e[400];
		size_t k = 0;
		for (int j = 0; j < g->m; j++)
			if (g->src[j] == v)
				e[k++] = (hs_edge){addr_of(g->dst[j]), g->weak[j] ? HS_E_WEAK : HS_E_OTHER, 0};
		if (k)
			td_refs(t, addr_of(v), e, k);
	}
	for (int i = 0; i < g->nroots; i++)
		td_root(t, addr_of(g->roots[i]), HS_R_OTHER, NULL, 0);
	td_close(t);
}

/* Reachable set from the roots avoiding the nodes in `removed`. */
static void reach(const rgraph *g, const int *removed, int *seen)
{
	int queue[MAXN], head = 0, tail = 0;
	memset(seen, 0, sizeof(int) * MAXN);
	for (int i = 0; i < g->nroots; i++) {
		int r = g->roots[i];
		if (!removed[r] && !seen[r]) {
			seen[r] = 1;
			queue[tail++] = r;
		}
	}
	while (head < tail) {
		int u = queue[head++];
		for (int j = 0; j < g->m; j++) {
			int x = g->dst[j];
			if (g->src[j] == u && !g->weak[j] && !removed[x] && !seen[x]) {
				seen[x] = 1;
				queue[tail++] = x;
			}
		}
	}
}

static void brute_depths(const rgraph *g, int *depth)
{
	int queue[MAXN], head = 0, tail = 0;
	for (int v = 0; v < g->n; v++)
		depth[v] = -1;
	for (int i = 0; i < g->nroots; i++)
		if (depth[g->roots[i]] < 0) {
			depth[g->roots[i]] = 0;
			queue[tail++] = g->roots[i];
		}
	while (head < tail) {
		int u = queue[head++];
		for (int j = 0; j < g->m; j++)
			if (g->src[j] == u && !g->weak[j] && depth[g->dst[j]] < 0) {
				depth[g->dst[j]] = depth[u] + 1;
				queue[tail++] = g->dst[j];
			}
	}
}

static void check_graph(const rgraph *g, const char *path)
{
	hsa_heap h;
	hsa_graph gr;
	char err[256];
	cr_assert_eq(hsa_heap_read(&h, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(hsa_graph_compute(&h, &gr, NULL, NULL), 0);
	cr_assert_eq(h.n, (uint64_t)g->n);
	hsa_node node[MAXN];
	for (int v = 0; v < g->n; v++) {
		node[v] = hsa_addrmap_get(&h.map, addr_of(v));
		cr_assert_neq(node[v], HSA_NONE);
	}
	int none[MAXN] = {0}, live[MAXN], depth[MAXN];
	reach(g, none, live);
	brute_depths(g, depth);
	/* dom[v][d]: d dominates v (removing d cuts v off). */
	static int dom[MAXN][MAXN];
	for (int d = 0; d < g->n; d++) {
		int removed[MAXN] = {0}, seen[MAXN];
		removed[d] = 1;
		reach(g, removed, seen);
		for (int v = 0; v < g->n; v++)
			dom[v][d] = live[v] && !seen[v];
	}
	uint64_t garbage = 0;
	for (int v = 0; v < g->n; v++) {
		hsa_node x = node[v];
		if (!live[v]) {
			garbage++;
			cr_assert_eq(gr.depth[x], HSA_UNREACHABLE);
			cr_assert_eq(gr.idom[x], HSA_NONE);
			cr_assert_eq(gr.retained[x], 0);
			continue;
		}
		cr_assert_eq(gr.depth[x], (uint32_t)depth[v], "depth of %d", v);
		/* The immediate dominator is the strict dominator that all the
		 * others dominate: the one with the most dominators itself. */
		int idom = -1, best = -1;
		for (int d = 0; d < g->n; d++) {
			if (d == v || !dom[v][d])
				continue;
			int nd = 0;
			for (int k = 0; k < g->n; k++)
				nd += dom[d][k];
			if (nd > best) {
				best = nd;
				idom = d;
			}
		}
		cr_assert_eq(gr.idom[x], idom < 0 ? HSA_NONE : node[idom], "idom of %d", v);
		uint64_t retained = 0;
		for (int u = 0; u < g->n; u++)
			if (dom[u][v])
				retained += g->size[u];
		cr_assert_eq(gr.retained[x], retained, "retained of %d", v);
		if (depth[v] > 0) {
			/* The BFS parent is a strong referrer one step closer. */
			int ok = 0;
			for (int j = 0; j < g->m; j++)
				ok |= node[g->src[j]] == gr.parent[x] && g->dst[j] == v && !g->weak[j] &&
				      depth[g->src[j]] == depth[v] - 1;
			cr_assert(ok, "parent of %d", v);
		}
	}
	cr_assert_eq(gr.garbage, garbage);
	/* Group retained: what members of the group dominate, each object once
	 * (MAT's minimum retained size of a set). */
	uint32_t *group = malloc(h.n * sizeof(uint32_t));
	uint64_t got[3];
	for (int v = 0; v < g->n; v++)
		group[node[v]] = (uint32_t)g->type[v];
	hsa_grouping grp = {group, 3, got};
	cr_assert_eq(hsa_group_retained(&h, &gr, &grp, 1), 0);
	for (int t = 0; t < 3; t++) {
		uint64_t want = 0;
		for (int u = 0; u < g->n; u++) {
			int held = 0;
			for (int s = 0; s < g->n; s++)
				held |= g->type[s] == t && dom[u][s];
			if (held)
				want += g->size[u];
		}
		cr_assert_eq(got[t], want, "group %d", t);
	}
	free(group);
	hsa_graph_free(&gr);
	hsa_heap_free(&h);
}

Test(graph, random_graphs_against_brute_force, .timeout = 60)
{
	char *path = td_path("random.hsnap");
	for (int i = 0; i < 3000; i++) {
		rgraph g;
		random_graph(&g);
		write_graph(&g, path);
		check_graph(&g, path);
	}
	unlink(path);
	free(path);
}

/* A long chain: iterative code must not recurse a million deep. */
Test(graph, deep_chain)
{
	char *path = td_path("chain.hsnap");
	tdump *t = td_open(path);
	enum { N = 200000 };
	for (uint64_t i = 0; i < N; i++) {
		td_obj(t, 0x100000 + i * 16, "Node", 10);
		if (i + 1 < N)
			td_ref(t, 0x100000 + i * 16, 0x100000 + (i + 1) * 16, HS_E_ATTR, "next");
	}
	td_root(t, 0x100000, HS_R_OTHER, NULL, 0);
	td_close(t);
	hsa_heap h;
	hsa_graph gr;
	char err[256];
	cr_assert_eq(hsa_heap_read(&h, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(hsa_graph_compute(&h, &gr, NULL, NULL), 0);
	hsa_node first = hsa_addrmap_get(&h.map, 0x100000);
	hsa_node last = hsa_addrmap_get(&h.map, 0x100000 + (N - 1) * 16);
	cr_assert_eq(gr.retained[first], (uint64_t)N * 10);
	cr_assert_eq(gr.depth[last], N - 1);
	cr_assert_eq(gr.max_depth, N - 1);
	hsa_graph_free(&gr);
	hsa_heap_free(&h);
	free(path);
}
