/* graph.c - reachability, shortest paths, dominators and retained sizes,
 * all iterative over the CSR arrays of a hsa_heap.
 *
 * Dominators use semi-NCA (Georgiadis, "Linear-Time Algorithms for
 * Dominators and Related Problems", 2005): a DFS numbers the reachable
 * nodes in preorder, semidominators are computed in reverse preorder with
 * path compression, and each immediate dominator is the nearest common
 * ancestor found by walking up from the DFS parent. Everything below
 * works in preorder numbers; 0 is the virtual root whose children are the
 * dump's roots. */
#include <stdlib.h>
#include <string.h>

#include "heap.h"

#define NIL UINT32_MAX

/* A growable stack of (vertex, position) pairs for iterative DFS. */
typedef struct stack {
	uint32_t *v;
	uint64_t *pos;
	uint64_t n, cap;
} stack;

static int push(stack *s, uint32_t v, uint64_t pos)
{
	if (s->n == s->cap) {
		uint64_t cap = s->cap ? s->cap * 2 : 4096;
		uint32_t *nv = realloc(s->v, cap * sizeof(uint32_t));
		if (!nv)
			return -1;
		s->v = nv;
		uint64_t *np = realloc(s->pos, cap * sizeof(uint64_t));
		if (!np)
			return -1;
		s->pos = np;
		s->cap = cap;
	}
	s->v[s->n] = v;
	s->pos[s->n++] = pos;
	return 0;
}

static void stack_free(stack *s)
{
	free(s->v);
	free(s->pos);
}

static int strong(const hsa_heap *h, uint64_t e)
{
	return h->kind[e] != HS_E_WEAK;
}

/* The order roots are seeded in. Tier 0 (the interpreter's module tables,
 * then frames, statics and the rest) runs to the end before references
 * held from C (inferred from refcounts) and then pending asyncio tasks
 * claim what it left: an object the program also holds gets the program's
 * path ("module app → _inflight → Task"), which names a leak's holder,
 * rather than "asyncio task → callbacks → discard → set". */
static int tier(uint32_t kind)
{
	switch (kind) {
	case HS_R_MODULES:
	case HS_R_SYSDICT:
	case HS_R_BUILTINS:
		return 0;
	case HS_R_HELD_FROM_C:
		return 2;
	case HS_R_ASYNC_TASK:
		return 3;
	default:
		return 1;
	}
}

/* Multi-source BFS: depth and shortest-path parent of every node. */
static int bfs(const hsa_heap *h, hsa_graph *g)
{
	hsa_node *queue = malloc((h->n ? h->n : 1) * sizeof(hsa_node));
	if (!queue)
		return -1;
	uint64_t head = 0, tail = 0;
	for (uint64_t v = 0; v < h->n; v++) {
		g->depth[v] = HSA_UNREACHABLE;
		g->parent[v] = HSA_NONE;
	}
	/* Module-table roots first: among equally short paths, the one from a
	 * module reads best ("module app.stats → ..."). */
	for (int pass = 0; pass < 4; pass++) {
		for (uint64_t i = 0; i < h->nroots; i++) {
			hsa_node r = h->roots[i].node;
			if (tier(h->roots[i].kind) == pass && g->depth[r] == HSA_UNREACHABLE) {
				g->depth[r] = 0;
				queue[tail++] = r;
			}
		}
		if (!pass)
			continue;
		while (head < tail) {
			hsa_node u = queue[head++];
			uint32_t d = g->depth[u] + 1;
			for (uint64_t e = h->out_off[u]; e < h->out_off[u + 1]; e++) {
				hsa_node x = h->out_dst[e];
				if (g->depth[x] == HSA_UNREACHABLE && strong(h, e)) {
					g->depth[x] = d;
					g->parent[x] = u;
					g->pkind[x] = h->kind[e];
					g->plabel[x] = h->label[e];
					queue[tail++] = x;
					if (d > g->max_depth)
						g->max_depth = d;
				}
			}
		}
	}
	g->reachable = tail;
	free(queue);
	return 0;
}

/* Everything semi-NCA needs, indexed by preorder number (0..nv-1). */
typedef struct snca {
	uint32_t *pre;      /* [n] node -> preorder number, NIL if unreachable */
	hsa_node *vert;     /* preorder -> node (vert[0] unused: virtual root) */
	uint32_t *parent;   /* DFS parent */
	uint32_t *semi, *label, *ancestor, *idom;
	uint64_t *pred_off; /* predecessors in preorder numbers, CSR */
	uint32_t *pred;
	uint64_t nv;
} snca;

static void snca_free(snca *s)
{
	free(s->pre);
	free(s->vert);
	free(s->parent);
	free(s->semi);
	free(s->label);
	free(s->ancestor);
	free(s->idom);
	free(s->pred_off);
	free(s->pred);
}

/* Iterative DFS from the virtual root, numbering nodes in preorder. */
static int dfs(const hsa_heap *h, snca *s)
{
	stack st = {0};
	int rc = -1;
	uint32_t next = 1;
	for (uint64_t v = 0; v < h->n; v++)
		s->pre[v] = NIL;
	for (uint64_t i = 0; i < h->nroots; i++) {
		hsa_node r = h->roots[i].node;
		if (s->pre[r] != NIL)
			continue;
		s->pre[r] = next;
		s->vert[next] = r;
		s->parent[next++] = 0;
		if (push(&st, r, h->out_off[r]))
			goto done;
		while (st.n) {
			hsa_node u = st.v[st.n - 1];
			uint64_t e = st.pos[st.n - 1];
			if (e == h->out_off[u + 1]) {
				st.n--;
				continue;
			}
			st.pos[st.n - 1] = e + 1;
			hsa_node x = h->out_dst[e];
			if (s->pre[x] != NIL || !strong(h, e))
				continue;
			s->pre[x] = next;
			s->vert[next] = x;
			s->parent[next++] = s->pre[u];
			if (push(&st, x, h->out_off[x]))
				goto done;
			/* What x's references lead to, fetched all at once: the
			 * first is looked at now, the rest when the walk returns. */
			for (uint64_t f = h->out_off[x]; f < h->out_off[x + 1]; f++) {
				__builtin_prefetch(&s->pre[h->out_dst[f]]);
				__builtin_prefetch(&h->out_off[h->out_dst[f]]);
			}
		}
	}
	s->nv = next;
	rc = 0;
done:
	stack_free(&st);
	return rc;
}

/* How far ahead the flat passes over the references prefetch the
 * randomly placed entry each one touches: memory latency, not work,
 * bounds them. */
#define AHEAD 16

/* Predecessor lists in preorder numbers; roots get the virtual root.
 * Sources in node order read the references as one sequential array. */
static int preds(const hsa_heap *h, snca *s)
{
	uint64_t nv = s->nv;
	s->pred_off = calloc(nv + 1, sizeof(uint64_t));
	if (!s->pred_off)
		return -1;
	for (uint64_t v = 0; v < h->n; v++) {
		if (s->pre[v] == NIL)
			continue;
		for (uint64_t e = h->out_off[v]; e < h->out_off[v + 1]; e++) {
			if (e + AHEAD < h->m)
				__builtin_prefetch(&s->pre[h->out_dst[e + AHEAD]]);
			if (strong(h, e))
				s->pred_off[s->pre[h->out_dst[e]] + 1]++;
		}
	}
	for (uint64_t i = 0; i < h->nroots; i++)
		s->pred_off[s->pre[h->roots[i].node] + 1]++;
	for (uint64_t i = 0; i < nv; i++)
		s->pred_off[i + 1] += s->pred_off[i];
	uint64_t np = s->pred_off[nv];
	s->pred = malloc((np ? np : 1) * sizeof(uint32_t));
	if (!s->pred)
		return -1;
	/* Fill through pred_off[w], which then holds the end of w's list, the
	 * start of w+1's: shifting by one restores the offsets. */
	for (uint64_t v = 0; v < h->n; v++) {
		uint32_t pv = s->pre[v];
		if (pv == NIL)
			continue;
		for (uint64_t e = h->out_off[v]; e < h->out_off[v + 1]; e++) {
			if (e + AHEAD < h->m)
				__builtin_prefetch(&s->pre[h->out_dst[e + AHEAD]]);
			if (strong(h, e))
				s->pred[s->pred_off[s->pre[h->out_dst[e]]]++] = pv;
		}
	}
	for (uint64_t i = 0; i < h->nroots; i++)
		s->pred[s->pred_off[s->pre[h->roots[i].node]]++] = 0;
	memmove(s->pred_off + 1, s->pred_off, nv * sizeof(uint64_t));
	s->pred_off[0] = 0;
	return 0;
}

/* Path compression of the link-eval forest, iteratively: the ancestors
 * that need updating are collected first, then updated top-down. */
static uint32_t eval(snca *s, uint32_t v, uint32_t *work)
{
	if (s->ancestor[v] == NIL)
		return v;
	uint64_t n = 0;
	for (uint32_t x = v; s->ancestor[s->ancestor[x]] != NIL; x = s->ancestor[x])
		work[n++] = x;
	while (n) {
		uint32_t x = work[--n], a = s->ancestor[x];
		if (s->semi[s->label[a]] < s->semi[s->label[x]])
			s->label[x] = s->label[a];
		s->ancestor[x] = s->ancestor[a];
	}
	return s->label[v];
}

static int dominators(const hsa_heap *h, hsa_graph *g)
{
	snca s;
	memset(&s, 0, sizeof(s));
	int rc = -1;
	uint64_t cap = g->reachable + 1;
	uint32_t *work = NULL;
	s.pre = malloc((h->n ? h->n : 1) * sizeof(uint32_t));
	s.vert = malloc(cap * sizeof(hsa_node));
	s.parent = malloc(cap * sizeof(uint32_t));
	if (!s.pre || !s.vert || !s.parent || dfs(h, &s) || preds(h, &s))
		goto done;
	free(s.pre);
	s.pre = NULL;
	uint64_t nv = s.nv;
	s.semi = malloc(nv * sizeof(uint32_t));
	s.label = malloc(nv * sizeof(uint32_t));
	s.ancestor = malloc(nv * sizeof(uint32_t));
	work = malloc(nv * sizeof(uint32_t));
	if (!s.semi || !s.label || !s.ancestor || !work)
		goto done;
	for (uint64_t i = 0; i < nv; i++) {
		s.semi[i] = s.label[i] = (uint32_t)i;
		s.ancestor[i] = NIL;
	}
	for (uint64_t w = nv - 1; w >= 1; w--) {
		/* The next vertex's predecessors, fetched while this one runs. */
		for (uint64_t p = s.pred_off[w - 1]; p < s.pred_off[w]; p++) {
			__builtin_prefetch(&s.ancestor[s.pred[p]]);
			__builtin_prefetch(&s.label[s.pred[p]]);
		}
		for (uint64_t p = s.pred_off[w]; p < s.pred_off[w + 1]; p++) {
			/* A predecessor numbered before w is not linked yet: eval
			 * would return it, its semi still itself. Skipping the two
			 * random reads matters on big heaps. */
			uint32_t v = s.pred[p];
			uint32_t sv = v < w ? v : s.semi[eval(&s, v, work)];
			if (sv < s.semi[w])
				s.semi[w] = sv;
		}
		s.label[w] = s.semi[w];
		s.ancestor[w] = s.parent[w];
	}
	free(s.pred);
	free(s.pred_off);
	free(s.label);
	free(s.ancestor);
	s.pred = NULL;
	s.pred_off = NULL;
	s.label = s.ancestor = NULL;
	/* The nearest common ancestor step; idom reuses the parent array. */
	s.idom = s.parent;
	s.parent = NULL;
	for (uint64_t w = 1; w < nv; w++) {
		uint32_t d = s.idom[w];
		while (d > s.semi[w])
			d = s.idom[d];
		s.idom[w] = d;
	}
	/* Retained sizes bottom-up: children come after their dominator in
	 * preorder, so reverse preorder finishes each child first. */
	for (uint64_t v = 0; v < h->n; v++) {
		g->idom[v] = HSA_NONE;
		g->retained[v] = 0;
	}
	for (uint64_t w = 1; w < nv; w++)
		g->retained[s.vert[w]] = h->size[s.vert[w]];
	for (uint64_t w = nv - 1; w >= 1; w--) {
		uint32_t d = s.idom[w];
		if (d) {
			g->idom[s.vert[w]] = s.vert[d];
			g->retained[s.vert[d]] += g->retained[s.vert[w]];
		}
	}
	rc = 0;
done:
	free(work);
	snca_free(&s);
	return rc;
}

int hsa_graph_compute(const hsa_heap *h, hsa_graph *g, void (*paths_done)(void *),
                      void *ctx)
{
	memset(g, 0, sizeof(*g));
	uint64_t n = h->n ? h->n : 1;
	g->depth = malloc(n * sizeof(uint32_t));
	g->parent = malloc(n * sizeof(hsa_node));
	g->pkind = malloc(n);
	g->plabel = malloc(n * sizeof(uint32_t));
	g->idom = malloc(n * sizeof(hsa_node));
	g->retained = malloc(n * sizeof(uint64_t));
	int bad = !g->depth || !g->parent || !g->pkind || !g->plabel || !g->idom ||
	          !g->retained || bfs(h, g);
	if (paths_done)
		paths_done(ctx);
	if (bad || dominators(h, g)) {
		hsa_graph_free(g);
		return -1;
	}
	for (uint64_t v = 0; v < h->n; v++) {
		if (h->addr[v] && g->depth[v] == HSA_UNREACHABLE) {
			g->garbage++;
			g->garbage_bytes += h->size[v];
		}
	}
	return 0;
}

void hsa_graph_free(hsa_graph *g)
{
	if (!g)
		return;
	free(g->depth);
	free(g->parent);
	free(g->pkind);
	free(g->plabel);
	free(g->idom);
	free(g->retained);
	memset(g, 0, sizeof(*g));
}

int hsa_group_retained(const hsa_heap *h, const hsa_graph *g, hsa_grouping *gr, int ngr)
{
	int rc = -1;
	/* Dominator tree children (node n stands for the virtual root). */
	uint64_t *off = calloc(h->n + 2, sizeof(uint64_t));
	hsa_node *kids = malloc((h->n ? h->n : 1) * sizeof(hsa_node));
	uint32_t *active[8] = {0};
	stack st = {0};
	if (!off || !kids || ngr > 8)
		goto done;
	for (int k = 0; k < ngr; k++) {
		memset(gr[k].retained, 0, gr[k].ngroups * sizeof(uint64_t));
		if (!(active[k] = calloc(gr[k].ngroups ? gr[k].ngroups : 1, sizeof(uint32_t))))
			goto done;
	}
	for (uint64_t v = 0; v < h->n; v++)
		if (g->depth[v] != HSA_UNREACHABLE)
			off[(g->idom[v] == HSA_NONE ? h->n : g->idom[v]) + 1]++;
	for (uint64_t v = 0; v <= h->n; v++)
		off[v + 1] += off[v];
	{
		uint64_t *fill = malloc((h->n + 1) * sizeof(uint64_t));
		if (!fill)
			goto done;
		memcpy(fill, off, (h->n + 1) * sizeof(uint64_t));
		for (uint64_t v = 0; v < h->n; v++)
			if (g->depth[v] != HSA_UNREACHABLE)
				kids[fill[g->idom[v] == HSA_NONE ? h->n : g->idom[v]]++] = (hsa_node)v;
		free(fill);
	}
	/* Walk the dominator tree; a node adds its retained size to its group
	 * unless an ancestor of the same group already did. */
	if (push(&st, (uint32_t)h->n, off[h->n]))
		goto done;
	while (st.n) {
		uint32_t x = st.v[st.n - 1];
		uint64_t p = st.pos[st.n - 1];
		if (p == off[x + 1]) {
			st.n--;
			if (x != h->n)
				for (int k = 0; k < ngr; k++)
					active[k][gr[k].group[x]]--;
			continue;
		}
		st.pos[st.n - 1] = p + 1;
		hsa_node c = kids[p];
		for (int k = 0; k < ngr; k++) {
			uint32_t grp = gr[k].group[c];
			if (!active[k][grp]++)
				gr[k].retained[grp] += g->retained[c];
		}
		if (push(&st, c, off[c]))
			goto done;
	}
	rc = 0;
done:
	for (int k = 0; k < 8; k++)
		free(active[k]);
	stack_free(&st);
	free(off);
	free(kids);
	return rc;
}
