/* match.c - identity across dumps: which object of one dump is which of the next. */
#include <stdlib.h>

#include "hsnap.h"
#include "match.h"

static uint32_t whole_trace(const hsa_snap *s, hsa_node v)
{
	uint32_t t = s->trace[v];
	return t && t <= s->ntraces ? s->trace_all[t] : 0;
}

/* States of a newer object in hsa_match. */
enum { M_NONE, M_SAME, M_DIFF, M_ASK_PARENT };

/* The state of v when its own evidence says nothing: a new object if its
 * shortest-path parent sits where its older counterpart's parent sat and
 * that parent is not the same object (the members of a freed and
 * reallocated timer are new with it); else the same. Resolved up the
 * parent chain without recursion: the chain's undecided nodes are pushed,
 * then decided top-down. */
static void resolve(const hsa_snap *older, const hsa_snap *newer, const hsa_node *m, uint8_t *st,
                    hsa_node v, hsa_node *stack)
{
	uint64_t depth = 0;
	while (st[v] == M_ASK_PARENT && depth < newer->n) {
		stack[depth++] = v;
		hsa_node p = newer->parent[v], q = older->parent[m[v]];
		if (p == HSA_NONE || q == HSA_NONE || newer->addr[p] != older->addr[q])
			break;
		v = p;
	}
	while (depth) {
		hsa_node w = stack[--depth];
		hsa_node p = newer->parent[w], q = older->parent[m[w]];
		int inherit = p != HSA_NONE && q != HSA_NONE && newer->addr[p] == older->addr[q];
		st[w] = inherit && st[p] != M_SAME && st[p] != M_ASK_PARENT ? M_DIFF : M_SAME;
	}
}

int64_t hsa_match(const hsa_snap *older, const hsa_snap *newer, hsa_node *m)
{
	hsa_addrmap map;
	int64_t matched = 0;
	uint64_t c = newer->n ? newer->n : 1;
	uint8_t *st = calloc(c, 1);
	hsa_node *stack = malloc(c * sizeof(hsa_node));
	if (!st || !stack || hsa_addrmap_init(&map, older->n)) {
		free(st);
		free(stack);
		return -1;
	}
	for (uint64_t u = 0; u < older->n; u++)
		if (older->addr[u])
			hsa_addrmap_put(&map, older->addr[u], (hsa_node)u);
	hsa_addrmap_get_many(&map, newer->addr, newer->n, m);
	hsa_addrmap_free(&map);
	int traces = older->tracing && newer->tracing;
	for (uint64_t v = 0; v < newer->n; v++) {
		hsa_node u = m[v];
		if (u == HSA_NONE)
			continue;
		uint16_t fo = older->flags[u], fn = newer->flags[v];
		int tracked = (fo & fn & HS_OF_GC_TRACKED) != 0;
		int younger = tracked && (fn & HS_OF_GEN_MASK) < (fo & HS_OF_GEN_MASK);
		uint64_t ko = older->sketch[u], kn = newer->sketch[v];
		if (older->type[u] != newer->type[v] || younger ||
		    (traces && whole_trace(older, u) != whole_trace(newer, (hsa_node)v)))
			st[v] = M_NONE;
		else if (ko && kn)
			st[v] = ko & kn ? M_SAME : M_DIFF;
		else
			st[v] = M_ASK_PARENT;
	}
	for (uint64_t v = 0; v < newer->n; v++) {
		if (st[v] == M_ASK_PARENT)
			resolve(older, newer, m, st, (hsa_node)v, stack);
		if (st[v] == M_SAME)
			matched++;
		else
			m[v] = HSA_NONE;
	}
	free(st);
	free(stack);
	return matched;
}

