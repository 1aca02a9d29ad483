/* viz_choose.c - which objects a reference picture shows: paths from
 * roots, neighbours breadth-first with folds, the starts of a leak. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio.h"
#include "db.h"
#include "hsnap.h"
#include "leaks.h"
#include "path.h"
#include "viz_impl.h"

#define MAX_TALLY 64 /* types counted separately in a fold */
#define PER_TYPE 3   /* new neighbours of one type drawn per object */

typedef struct tally {
	int64_t type;
	uint64_t n;
} tally;

static uint32_t find(const hsa_viz *v, int64_t id)
{
	hsa_node k = hsa_addrmap_get(&v->ids, (uint64_t)id);
	return k == HSA_NONE ? UINT32_MAX : k;
}

/* Adds a node while the budget lasts; returns its index or UINT32_MAX. */
static uint32_t add_node(hsa_viz *v, int64_t id, uint32_t dist)
{
	if (v->nn >= v->o.max_nodes)
		return UINT32_MAX;
	vnode *n = &v->nodes[v->nn];
	memset(n, 0, sizeof(*n));
	n->id = id;
	n->dist = dist;
	if (id)
		hsa_addrmap_put(&v->ids, (uint64_t)id, v->nn);
	return v->nn++;
}

static int add_edge(hsa_viz *v, uint32_t a, uint32_t b, int kind, int64_t label, int path)
{
	if (v->ne == v->emax)
		return 0; /* enough lines for one picture */
	if (v->ne == v->ecap) {
		uint32_t cap = v->ecap ? v->ecap * 2 : 64;
		vedge *e = realloc(v->edges, cap * sizeof(vedge));
		if (!e)
			return -1;
		v->edges = e;
		v->ecap = cap;
	}
	v->edges[v->ne] = (vedge){a, b, kind, label, (uint8_t)path, v->ne};
	v->ne++;
	return 0;
}

static void enqueue(hsa_viz *v, uint32_t k)
{
	if (!v->nodes[k].queued) {
		v->nodes[k].queued = 1;
		v->queue[v->qtail++] = k;
	}
}

/* The shortest path from a root to start object s. For the first start
 * it is drawn whatever the budget, its middle folded into one node when
 * needed; other starts get theirs only while the budget lasts. */
static int add_path(hsa_viz *v, int64_t s, int first)
{
	hsa_path p;
	int r = hsa_path_shortest(v->db, s, &p, v->w, v->err, v->errlen);
	if (r <= 0)
		return r;
	uint64_t n = p.n, missing = 0;
	for (uint64_t i = 0; i < n; i++)
		missing += find(v, p.hops[i].id) == UINT32_MAX;
	uint64_t avail = v->o.max_nodes - v->nn;
	int rc = 0;
	if (missing > avail && !first)
		goto done;
	/* Keep hops [0, head) and [n - 1 - tail, n); one node stands for the rest. */
	uint64_t head = n, tail = 0;
	if (missing > avail) {
		uint64_t keep = avail - 1;
		head = (keep + 1) / 2;
		tail = keep - head;
	}
	uint32_t prev = UINT32_MAX;
	for (uint64_t i = 0; i < n && !rc; i++) {
		const hsa_hop *h = &p.hops[i];
		uint32_t dist = (uint32_t)(n - 1 - i);
		if (i == head) {
			uint32_t e = add_node(v, 0, dist);
			hsa_str t = {0};
			char c[32];
			rc = e == UINT32_MAX ||
			     hsa_str_printf(&t, "\xe2\x80\xa6 %s more objects on the path \xe2\x80\xa6",
			                    hsa_human_count(n - 1 - tail - head, c)) ||
			     add_edge(v, prev, e, -1, 0, 1);
			if (e != UINT32_MAX)
				v->nodes[e].text = t.s;
			else
				hsa_str_free(&t);
			prev = e;
			i = n - 1 - tail;
			h = &p.hops[i];
			dist = (uint32_t)tail;
		}
		uint32_t k = find(v, h->id);
		if (k == UINT32_MAX)
			k = add_node(v, h->id, dist);
		if (i && !rc)
			rc = add_edge(v, prev, k, h->kind, h->label, 1);
		prev = k;
	}
	if (rc)
		rc = hsa_viz_fail(v, "cannot build the graph");
done:
	hsa_path_free(&p);
	return rc;
}

/* The entry of type in t[0..*nt), added while there is room, else NULL. */
static tally *entry(tally *t, int *nt, int64_t type)
{
	for (int i = 0; i < *nt; i++)
		if (t[i].type == type)
			return &t[i];
	if (*nt == MAX_TALLY)
		return NULL;
	t[*nt] = (tally){type, 0};
	return &t[(*nt)++];
}

static int by_count(const void *a, const void *b)
{
	const tally *x = a, *y = b;
	return x->n != y->n ? (x->n < y->n ? 1 : -1) : (x->type > y->type) - (x->type < y->type);
}

/* "+9,990 more referrers\n9,000 Record\n990 dict": what a fold stands for,
 * the three commonest types named. */
static int fold_text(hsa_viz *v, uint64_t hidden, tally *t, int nt, uint64_t other,
                     hsa_str *out)
{
	sqlite3_stmt *st = NULL;
	char c[32];
	int rc = hsa_str_printf(out, "+%s more %s", hsa_human_count(hidden, c),
	                        v->o.refs ? "referents" : "referrers");
	if (nt > 0)
		qsort(t, (size_t)nt, sizeof(tally), by_count);
	for (int i = 3; i < nt; i++)
		other += t[i].n;
	if (!rc && sqlite3_prepare_v2(v->db, "SELECT name FROM types WHERE id = ?", -1, &st,
	                              NULL) != SQLITE_OK)
		rc = -1;
	for (int i = 0; i < nt && i < 3 && !rc; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, t[i].type);
		int found = hsa_db_step(st, v->err, v->errlen);
		if (found < 0) {
			rc = -1;
			break;
		}
		const char *full = found ? (const char *)sqlite3_column_text(st, 0) : NULL;
		const char *name = full ? (strrchr(full, '.') ? strrchr(full, '.') + 1 : full)
		                        : "object";
		rc = hsa_str_printf(out, "\\n%s ", hsa_human_count(t[i].n, c)) ||
		     hsa_viz_text(out, name, strlen(name), 40);
	}
	if (!rc && other)
		rc = hsa_str_printf(out, "\\n%s of other types", hsa_human_count(other, c));
	sqlite3_finalize(st);
	return rc;
}

/* Draws up to fan new neighbours of node k (PER_TYPE of one type at most,
 * so that a crowd of one kind shows its variety) and the edges to those
 * already drawn; folds the rest into one node while the budget allows. */
static int expand(hsa_viz *v, uint32_t k)
{
	static const char *const sql[2] = {
		"SELECT r.src, r.kind, r.label, o.type FROM referrers r JOIN objects o ON o.id = r.src"
		" WHERE r.dst = ? ORDER BY o.reachable DESC, o.depth, r.src, r.seq",
		"SELECT r.dst, r.kind, r.label, o.type FROM refs r JOIN objects o ON o.id = r.dst"
		" WHERE r.src = ? ORDER BY r.seq",
	};
	sqlite3_stmt *st = NULL;
	tally t[MAX_TALLY], drawn[MAX_TALLY];
	int nt = 0, nd = 0, rc = -1;
	uint64_t shown = 0, hidden = 0, other = 0;
	int64_t last = 0;
	if (sqlite3_prepare_v2(v->db, sql[v->o.refs != 0], -1, &st, NULL) != SQLITE_OK)
		goto done;
	uint32_t dist = v->nodes[k].dist;
	v->nodes[k].expanded = 1;
	sqlite3_bind_int64(st, 1, v->nodes[k].id);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		int kind = sqlite3_column_int(st, 1);
		int64_t label = sqlite3_column_int64(st, 2);
		uint32_t o = find(v, id);
		if (o == UINT32_MAX && id == last)
			continue; /* a second reference from a neighbour folded already */
		last = id;
		int64_t type = sqlite3_column_int64(st, 3);
		/* One node stays free for the fold while neighbours remain. */
		if (o == UINT32_MAX && shown < v->o.fan && v->nn + 1 < v->o.max_nodes) {
			tally *d = entry(drawn, &nd, type);
			if (d && d->n < PER_TYPE) {
				d->n++;
				o = add_node(v, id, dist + 1);
				shown++;
			}
		}
		if (o == UINT32_MAX) {
			tally *h = entry(t, &nt, type);
			hidden++;
			if (h)
				h->n++;
			else
				other++;
			continue;
		}
		if (v->o.refs ? add_edge(v, k, o, kind, label, 0) : add_edge(v, o, k, kind, label, 0))
			goto done;
		/* Newly drawn, or a path object reached sooner than along the path. */
		if (v->nodes[o].dist > dist) {
			v->nodes[o].dist = dist + 1;
			enqueue(v, o);
		}
	}
	if (step != SQLITE_DONE)
		goto done;
	if (hidden) {
		uint32_t f = add_node(v, 0, dist + 1);
		if (f == UINT32_MAX) {
			v->nodes[k].undrawn = hidden;
		} else {
			hsa_str s = {0};
			if (fold_text(v, hidden, t, nt, other, &s)) {
				hsa_str_free(&s);
				goto done;
			}
			v->nodes[f].text = s.s;
			if (v->o.refs ? add_edge(v, k, f, -1, 0, 0) : add_edge(v, f, k, -1, 0, 0))
				goto done;
		}
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	return rc ? hsa_viz_fail(v, "cannot build the graph") : 0;
}

/* The references between drawn objects that no expansion listed: into a
 * root, or out of the last ring (up to a bound per object). */
static int connect(hsa_viz *v)
{
	static const char *const sql[2] = {
		"SELECT src, kind, label FROM referrers WHERE dst = ? LIMIT 10000",
		"SELECT dst, kind, label FROM refs WHERE src = ? ORDER BY seq LIMIT 10000",
	};
	sqlite3_stmt *st = NULL;
	int rc = 0, r;
	if (sqlite3_prepare_v2(v->db, sql[v->o.refs != 0], -1, &st, NULL) != SQLITE_OK)
		return hsa_viz_fail(v, "cannot build the graph");
	for (uint32_t k = 0; k < v->nn && !rc; k++) {
		if (!v->nodes[k].id || v->nodes[k].expanded)
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, v->nodes[k].id);
		while (!rc && (r = hsa_db_step(st, v->err, v->errlen)) > 0) {
			uint32_t o = find(v, sqlite3_column_int64(st, 0));
			int kind = sqlite3_column_int(st, 1);
			int64_t label = sqlite3_column_int64(st, 2);
			if (o != UINT32_MAX)
				rc = v->o.refs ? add_edge(v, k, o, kind, label, 0)
				               : add_edge(v, o, k, kind, label, 0);
		}
		rc = rc || r < 0;
	}
	sqlite3_finalize(st);
	return rc ? hsa_viz_fail(v, "cannot build the graph") : 0;
}

/* 1 when id is a root, 0 when not, -1 with v->err filled. */
static int is_root(hsa_viz *v, int64_t id)
{
	sqlite3_stmt *st = hsa_db_prepare(v->db, "SELECT 1 FROM roots WHERE object = ? LIMIT 1",
	                                  v->err, v->errlen);
	int r = -1;
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		r = hsa_db_step(st, v->err, v->errlen);
	}
	sqlite3_finalize(st);
	return r;
}

static int by_pair(const void *x, const void *y)
{
	const vedge *a = x, *b = y;
	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	if (a->b != b->b)
		return a->b < b->b ? -1 : 1;
	if (a->path != b->path)
		return a->path ? -1 : 1;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

static int by_seq(const void *x, const void *y)
{
	const vedge *a = x, *b = y;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

/* One edge per pair of nodes (a path edge first), in the order found. */
static void dedupe_edges(hsa_viz *v)
{
	if (!v->ne)
		return;
	qsort(v->edges, v->ne, sizeof(vedge), by_pair);
	uint32_t n = 1;
	for (uint32_t i = 1; i < v->ne; i++)
		if (v->edges[i].a != v->edges[n - 1].a || v->edges[i].b != v->edges[n - 1].b)
			v->edges[n++] = v->edges[i];
	v->ne = n;
	qsort(v->edges, v->ne, sizeof(vedge), by_seq);
}

int hsa_viz_choose(hsa_viz *v, const int64_t *start, size_t nstart)
{
	for (size_t i = 0; i < nstart; i++)
		if (find(v, start[i]) == UINT32_MAX) {
			uint32_t k = add_node(v, start[i], 0);
			v->nodes[k].start = 1;
			enqueue(v, k);
		}
	for (size_t i = 0; i < nstart; i++)
		if (add_path(v, start[i], i == 0) < 0)
			return -1;
	/* Breadth-first from the starts; a root explains what it holds, so who
	 * holds a root is not asked (unless it is a start). */
	while (v->qhead < v->qtail) {
		uint32_t k = v->queue[v->qhead++];
		if (v->nodes[k].dist >= v->o.depth)
			continue;
		int root = !v->o.refs && !v->nodes[k].start ? is_root(v, v->nodes[k].id) : 0;
		if (root < 0)
			return hsa_viz_fail(v, "cannot build the graph");
		if (root)
			continue;
		if (expand(v, k))
			return -1;
	}
	if (connect(v))
		return -1;
	dedupe_edges(v);
	return 0;
}


int hsa_viz_leak_starts(sqlite3 *db, const hsa_leak_group *g,
                        int64_t starts[HSA_VIZ_LEAK_STARTS], char *err, size_t errlen)
{
	int max = g->holder_addr ? 4 : HSA_VIZ_LEAK_STARTS, n = 0, r = 0;
	sqlite3_stmt *st = hsa_db_prepare(db, "SELECT id FROM objects WHERE addr = ?", err, errlen);
	if (!st)
		return -1;
	for (int k = g->holder_addr ? -1 : 0; k < g->nsample && n < max && r >= 0; k++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, (int64_t)(k < 0 ? g->holder_addr : g->sample[k]));
		if ((r = hsa_db_step(st, err, errlen)) > 0)
			starts[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return r < 0 ? -1 : n;
}
