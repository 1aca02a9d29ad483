/* rank.c - the largest objects by retained size, overall and per type, and
 * what the largest ones hold: the top_* tables of the database, computed
 * in one pass with bounded heaps instead of indexes over every object. */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "heap.h"

#define TOP_RETAINED 1000
#define TOP_PER_TYPE 100
#define TOP_HOLDS 5

typedef struct ranked {
	uint64_t key;
	hsa_node node;
} ranked;

/* "a before b" in descending key order, earlier node first on ties. */
static int above(const ranked *a, const ranked *b)
{
	return a->key > b->key || (a->key == b->key && a->node < b->node);
}

/* A min-heap (the smallest at [0]) of at most cap entries. */
static void heap_offer(ranked *hp, uint32_t *n, uint32_t cap, ranked x)
{
	uint32_t i;
	if (*n < cap) {
		i = (*n)++;
		while (i && above(&hp[(i - 1) / 2], &x)) {
			hp[i] = hp[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		hp[i] = x;
		return;
	}
	if (!above(&x, &hp[0]))
		return;
	i = 0;
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && above(&hp[c], &hp[c + 1]))
			c++;
		if (!above(&x, &hp[c]))
			break;
		hp[i] = hp[c];
		i = c;
	}
	hp[i] = x;
}

static int cmp_ranked(const void *a, const void *b)
{
	return above(a, b) ? -1 : above(b, a);
}

typedef struct held {
	uint32_t rank, type;
	uint64_t count, retained;
} held;

static int cmp_held(const void *a, const void *b)
{
	const held *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return 0;
}

static int cmp_held_retained(const void *a, const void *b)
{
	const held *x = a, *y = b;
	return x->retained > y->retained ? -1 : x->retained < y->retained;
}

static int insert(sqlite3_stmt *st, int n, const int64_t *v)
{
	for (int i = 0; i < n; i++)
		sqlite3_bind_int64(st, i + 1, v[i]);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int hsa_rank_write(sqlite3 *db, const hsa_heap *h, const hsa_graph *g)
{
	int rc = -1;
	uint64_t nt = h->ntypes + 1;
	ranked top[TOP_RETAINED], *per = NULL;
	uint32_t ntop = 0, *nper = calloc(nt, sizeof(uint32_t));
	/* Per type a heap of min(objects, TOP_PER_TYPE) entries at off[t]. */
	uint64_t *off = calloc(nt + 1, sizeof(uint64_t));
	uint16_t *rank = calloc(h->n ? h->n : 1, sizeof(uint16_t));
	held *hs = NULL;
	uint64_t nh = 0, cap = 0;
	sqlite3_stmt *st = NULL;
	if (!nper || !off || !rank)
		goto done;
	for (uint64_t v = 0; v < h->n; v++)
		if (h->addr[v] && off[h->type[v] + 1] < TOP_PER_TYPE)
			off[h->type[v] + 1]++;
	for (uint64_t t = 0; t < nt; t++)
		off[t + 1] += off[t];
	if (!(per = malloc((off[nt] ? off[nt] : 1) * sizeof(ranked))))
		goto done;
	for (uint64_t v = 0; v < h->n; v++) {
		if (!h->addr[v])
			continue;
		ranked x = {g->retained[v], (hsa_node)v};
		uint32_t t = h->type[v];
		if (g->depth[v] != HSA_UNREACHABLE)
			heap_offer(top, &ntop, TOP_RETAINED, x);
		heap_offer(per + off[t], &nper[t], (uint32_t)(off[t + 1] - off[t]), x);
	}
	if (ntop)
		qsort(top, ntop, sizeof(ranked), cmp_ranked);
	if (sqlite3_prepare_v2(db, "INSERT INTO top_retained VALUES(?,?)", -1, &st, NULL))
		goto done;
	for (uint32_t i = 0; i < ntop; i++) {
		rank[top[i].node] = (uint16_t)(i + 1);
		if (insert(st, 2, (int64_t[]){i + 1, (int64_t)top[i].node + 1}))
			goto done;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "INSERT INTO type_top VALUES(?,?,?)", -1, &st, NULL))
		goto done;
	for (uint64_t t = 0; t < nt; t++) {
		ranked *p = per + off[t];
		qsort(p, nper[t], sizeof(ranked), cmp_ranked);
		for (uint32_t i = 0; i < nper[t]; i++)
			if (insert(st, 3, (int64_t[]){(int64_t)t, i + 1, (int64_t)p[i].node + 1}))
				goto done;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* What the top objects hold: their dominator-tree children by type. */
	for (uint64_t v = 0; v < h->n; v++) {
		if (g->idom[v] == HSA_NONE || !rank[g->idom[v]])
			continue;
		if (nh == cap) {
			cap = cap ? cap * 2 : 1024;
			held *p = realloc(hs, cap * sizeof(held));
			if (!p)
				goto done;
			hs = p;
		}
		hs[nh++] = (held){rank[g->idom[v]], h->type[v], 1, g->retained[v]};
	}
	if (nh) /* hs is NULL when nothing is held */
		qsort(hs, nh, sizeof(held), cmp_held);
	uint64_t k = 0;
	for (uint64_t i = 0; i < nh; i++) {
		if (k && hs[k - 1].rank == hs[i].rank && hs[k - 1].type == hs[i].type) {
			hs[k - 1].count++;
			hs[k - 1].retained += hs[i].retained;
		} else {
			hs[k++] = hs[i];
		}
	}
	if (sqlite3_prepare_v2(db, "INSERT INTO top_holds VALUES(?,?,?,?)", -1, &st, NULL))
		goto done;
	for (uint64_t i = 0; i < k;) {
		uint64_t j = i;
		while (j < k && hs[j].rank == hs[i].rank)
			j++;
		qsort(hs + i, j - i, sizeof(held), cmp_held_retained);
		for (uint64_t x = i; x < j && x < i + TOP_HOLDS; x++)
			if (insert(st, 4, (int64_t[]){(int64_t)top[hs[x].rank - 1].node + 1, hs[x].type,
			                              (int64_t)hs[x].count, (int64_t)hs[x].retained}))
				goto done;
		i = j;
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	free(per);
	free(nper);
	free(off);
	free(rank);
	free(hs);
	return rc;
}
