/* graphviz.c - choosing the objects of a reference picture, and drawing it
 * with Graphviz (libcgraph + libgvc, in-process). */
#include <errno.h>
#include <gvc.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrmap.h"
#include "asyncio.h"
#include "db.h"
#include "graphviz.h"
#include "hsnap.h"
#include "leaks.h"
#include "path.h"

#define MAX_TALLY 64 /* types counted separately in a fold */
#define PER_TYPE 3   /* new neighbours of one type drawn per object */

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

typedef struct tally {
	int64_t type;
	uint64_t n;
} tally;

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
	char *err;
	size_t errlen;
};

/* Graphviz reads \n, \l, \N... in labels and decodes HTML entities, so a
 * backslash or an ampersand from the dump must not reach it bare. */
static const char *const gv_esc[128] = {['\\'] = "\\\\", ['&'] = "&amp;"};

static int text(hsa_str *b, const char *s, size_t len, size_t max)
{
	return hsa_str_text(b, s ? s : "", s ? len : 0, max, gv_esc);
}

static int fail(hsa_viz *v, const char *what)
{
	if (!v->err[0])
		snprintf(v->err, v->errlen, "%s: %s", what,
		         v->db && sqlite3_errcode(v->db) != SQLITE_OK ? sqlite3_errmsg(v->db)
		                                                       : "out of memory");
	return -1;
}

/* ---- choosing what to draw ------------------------------------------- */

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
	int r = hsa_path_shortest(v->db, s, &p, v->err, v->errlen);
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
		rc = fail(v, "cannot build the graph");
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
		const char *full = sqlite3_step(st) == SQLITE_ROW
		                           ? (const char *)sqlite3_column_text(st, 0) : NULL;
		const char *name = full ? (strrchr(full, '.') ? strrchr(full, '.') + 1 : full)
		                        : "object";
		rc = hsa_str_printf(out, "\\n%s ", hsa_human_count(t[i].n, c)) ||
		     text(out, name, strlen(name), 40);
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
	return rc ? fail(v, "cannot build the graph") : 0;
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
	int rc = 0;
	if (sqlite3_prepare_v2(v->db, sql[v->o.refs != 0], -1, &st, NULL) != SQLITE_OK)
		return fail(v, "cannot build the graph");
	for (uint32_t k = 0; k < v->nn && !rc; k++) {
		if (!v->nodes[k].id || v->nodes[k].expanded)
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, v->nodes[k].id);
		while (!rc && sqlite3_step(st) == SQLITE_ROW) {
			uint32_t o = find(v, sqlite3_column_int64(st, 0));
			int kind = sqlite3_column_int(st, 1);
			int64_t label = sqlite3_column_int64(st, 2);
			if (o != UINT32_MAX)
				rc = v->o.refs ? add_edge(v, k, o, kind, label, 0)
				               : add_edge(v, o, k, kind, label, 0);
		}
	}
	sqlite3_finalize(st);
	return rc ? fail(v, "cannot build the graph") : 0;
}

static int is_root(sqlite3 *db, int64_t id)
{
	sqlite3_stmt *st = NULL;
	int r = 0;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM roots WHERE object = ? LIMIT 1", -1, &st,
	                       NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		r = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return r;
}

static int choose(hsa_viz *v, const int64_t *start, size_t nstart)
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
		if (!v->o.refs && !v->nodes[k].start && is_root(v->db, v->nodes[k].id))
			continue;
		if (expand(v, k))
			return -1;
	}
	return connect(v);
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

/* ---- labels ------------------------------------------------------------ */

typedef struct root_style {
	const char *kind; /* roots.kind */
	const char *fill;
} root_style;

/* objgraph draws modules green; the other roots get their own colours. */
static const root_style root_styles[] = {
	{"modules", "#b9e4b0"},     {"thread-frame", "#b3d4f5"}, {"asyncio-task", "#dcc3ea"},
	{"held-from-c", "#f7c1bb"}, {NULL, "#d7ecc8"},
};

#define START_FILL "#ffd180"
#define START_LINE "#e65100"
#define PATH_LINE "#c62828"

/* The root line of a label ("module app.stats", "thread MainThread",
 * "held from C (+1)", or the holder the dumper names: "registered with
 * atexit (callback 3 of 5)") and the root's style; 0 when id is no root.
 * A module also held from C is shown as the module. */
static int root_line(hsa_viz *v, int64_t id, hsa_str *out, const root_style **style)
{
	static const char sql[] =
		"SELECT r.kind, r.name, r.extra, (SELECT name FROM threads WHERE ident = r.extra)"
		" FROM roots r WHERE r.object = ? ORDER BY r.kind != 'modules', r.id LIMIT 1";
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(v->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto done;
	const char *kind = (const char *)sqlite3_column_text(st, 0);
	const char *name = (const char *)sqlite3_column_text(st, 1);
	int64_t extra = sqlite3_column_int64(st, 2);
	const char *thread = (const char *)sqlite3_column_text(st, 3);
	kind = kind ? kind : "other";
	const root_style *s = root_styles;
	while (s->kind && strcmp(s->kind, kind))
		s++;
	*style = s;
	if (!strcmp(kind, "modules") && !name) {
		rc = hsa_str_printf(out, "sys.modules");
	} else if (!strcmp(kind, "modules")) {
		rc = hsa_str_printf(out, "module ") || text(out, name, strlen(name), 60);
	} else if (!strcmp(kind, "thread-frame")) {
		rc = hsa_str_printf(out, "thread ");
		if (!rc && thread)
			rc = text(out, thread, strlen(thread), 40);
		else if (!rc)
			rc = hsa_str_printf(out, "%" PRId64, extra);
	} else if (!strcmp(kind, "held-from-c") && name) {
		rc = text(out, name, strlen(name), 60);
	} else if (!strcmp(kind, "held-from-c")) {
		rc = hsa_str_printf(out, "held from C (+%" PRId64 ")", extra);
	} else if (!strcmp(kind, "asyncio-task")) {
		rc = hsa_str_printf(out, "pending asyncio task");
	} else {
		rc = hsa_str_printf(out, "root: ") || text(out, kind, strlen(kind), 20);
	}
	rc = rc ? -1 : 1;
done:
	sqlite3_finalize(st);
	return rc;
}

/* " stats_writer()\ncreated at app.py:31" after the type of a task's box:
 * what it runs and where it comes from. */
static int task_lines(hsa_viz *v, int64_t id, hsa_str *label)
{
	hsa_task_group g;
	int r = hsa_task_describe(v->db, id, &g, v->err, v->errlen);
	if (r <= 0)
		return r;
	int rc = hsa_str_printf(label, " ") || text(label, g.coro, strlen(g.coro), 40) ||
	         hsa_str_printf(label, "()");
	if (!rc && g.site) {
		const char *base = hsa_file_base(g.site);
		rc = hsa_str_printf(label, "\\n%s at ", g.created ? "created" : "defined") ||
		     text(label, base, strlen(base), 40);
	}
	hsa_task_group_clear(&g);
	return rc ? -1 : 0;
}

/* Sets the label, tooltip and colours of the node for object n->id:
 *   [root line] / type and name (a task's coroutine and creation line) /
 *   value or length / size, retained size. */
static int object_attrs(hsa_viz *v, const vnode *n, Agnode_t *an, uint32_t maxd)
{
	static const char sql[] =
		"SELECT o.addr, t.name, o.size, o.retained, o.len, o.value, o.name, o.reachable,"
		" o.flags, t.name = 'builtins.module' OR t.name = 'module'"
		" FROM objects o LEFT JOIN types t ON t.id = o.type WHERE o.id = ?";
	sqlite3_stmt *st = NULL;
	hsa_str label = {0}, tip = {0};
	const root_style *rs = NULL;
	const char *fill;
	char fillbuf[16], b1[16], b2[16], c[32];
	int rc = -1;
	if (sqlite3_prepare_v2(v->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_int64(st, 1, n->id);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto done;
	uint64_t addr = (uint64_t)sqlite3_column_int64(st, 0);
	const char *type = (const char *)sqlite3_column_text(st, 1);
	const char *tshort = type && strrchr(type, '.') ? strrchr(type, '.') + 1 : type;
	uint64_t size = (uint64_t)sqlite3_column_int64(st, 2);
	uint64_t retained = (uint64_t)sqlite3_column_int64(st, 3);
	int module = sqlite3_column_int(st, 9);
	int root = root_line(v, n->id, &label, &rs);
	if (root < 0)
		goto done;
	/* A module root's line names it already. */
	if (!(module && rs == &root_styles[0])) {
		if (root && hsa_str_printf(&label, "\\n"))
			goto done;
		if (text(&label, tshort ? tshort : "object", tshort ? strlen(tshort) : 6, 40))
			goto done;
		if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
			const char *name = (const char *)sqlite3_column_text(st, 6);
			if (hsa_str_printf(&label, " ") || text(&label, name, strlen(name), 40))
				goto done;
		}
		if (task_lines(v, n->id, &label))
			goto done;
	}
	if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
		const char *val = sqlite3_column_blob(st, 5);
		size_t vlen = (size_t)sqlite3_column_bytes(st, 5);
		int trunc = (sqlite3_column_int64(st, 8) & HS_OF_VALUE_TRUNC) != 0;
		if (hsa_str_printf(&label, "\\n'") || text(&label, val, vlen, 32) ||
		    hsa_str_printf(&label, "'%s", trunc && vlen <= 32 ? "\xe2\x80\xa6" : ""))
			goto done;
	} else if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
		if (hsa_str_printf(&label, "\\nlen %s",
		                   hsa_human_count((uint64_t)sqlite3_column_int64(st, 4), c)))
			goto done;
	}
	if (hsa_str_printf(&label, "\\n%s", hsa_human_size(size, b1)) ||
	    (!sqlite3_column_int(st, 7) && hsa_str_printf(&label, ", garbage")) ||
	    (retained > size && hsa_str_printf(&label, ", retains %s",
	                                       hsa_human_size(retained, b2))) ||
	    (n->undrawn && hsa_str_printf(&label, "\\n+%s %s not drawn",
	                                  hsa_human_count(n->undrawn, c),
	                                  v->o.refs ? "referents" : "referrers")))
		goto done;
	if (hsa_str_printf(&tip, "0x%" PRIx64 " ", addr) ||
	    text(&tip, type ? type : "object", type ? strlen(type) : 6, 200))
		goto done;
	fill = rs ? rs->fill : fillbuf;
	if (!rs) {
		/* Shaded by distance from the start, darker further away. */
		unsigned level = 255 - (unsigned)(64 * (uint64_t)n->dist / (maxd ? maxd : 1));
		snprintf(fillbuf, sizeof(fillbuf), "#%02x%02x%02x", level, level, level);
	}
	agsafeset(an, "label", label.s, "");
	agsafeset(an, "tooltip", tip.s, "");
	agsafeset(an, "fillcolor", n->start ? START_FILL : (char *)fill, "");
	if (root)
		agsafeset(an, "peripheries", "2", "");
	if (n->start) {
		agsafeset(an, "color", START_LINE, "");
		agsafeset(an, "penwidth", "2", "");
	}
	rc = 0;
done:
	hsa_str_free(&label);
	hsa_str_free(&tip);
	sqlite3_finalize(st);
	return rc;
}

static int edge_attrs(hsa_viz *v, const vedge *e, Agedge_t *ae)
{
	hsa_str raw = {0}, label = {0};
	int rc = 0;
	if (e->kind >= 0 && hsa_db_edge_label(v->db, e->kind, e->label, &raw))
		rc = -1;
	const char *l = raw.s ? raw.s : "";
	while (*l == ' ')
		l++;
	if (!rc && *l && text(&label, l, strlen(l), 40))
		rc = -1;
	if (!rc && label.s)
		agsafeset(ae, "label", label.s, "");
	if (e->kind < 0 || e->kind == HS_E_WEAK)
		agsafeset(ae, "style", "dashed", "");
	if (e->path) {
		agsafeset(ae, "color", PATH_LINE, "");
		agsafeset(ae, "fontcolor", PATH_LINE, "");
		agsafeset(ae, "penwidth", "2", "");
	}
	hsa_str_free(&raw);
	hsa_str_free(&label);
	return rc;
}

/* The caption in lines of about 100 characters: Graphviz does not wrap. */
static int caption(hsa_str *out, const char *s)
{
	int rc = 0;
	size_t lines = 0;
	while (*s && !rc && lines++ < 8) {
		size_t n = strcspn(s, "\n");
		if (n > 100) {
			size_t cut = 100;
			while (cut > 50 && s[cut] != ' ')
				cut--;
			if (s[cut] != ' ')
				for (cut = 100; ((unsigned char)s[cut] & 0xc0) == 0x80; cut--)
					; /* not inside a UTF-8 sequence */
			n = cut;
		}
		rc = (out->len && hsa_str_printf(out, "\\n")) || text(out, s, n, 100);
		s += n;
		s += *s == '\n' || *s == ' ';
	}
	return rc;
}

static const struct {
	int kind;
	const char *name, *value;
} defaults[] = {
	{AGRAPH, "fontname", "Helvetica"}, {AGRAPH, "fontsize", "12"},
	{AGRAPH, "bgcolor", "white"},      {AGNODE, "shape", "box"},
	{AGNODE, "style", "filled"},       {AGNODE, "fillcolor", "white"},
	{AGNODE, "fontname", "Helvetica"}, {AGNODE, "fontsize", "10"},
	{AGEDGE, "fontname", "Helvetica"}, {AGEDGE, "fontsize", "9"},
	{AGEDGE, "color", "#555555"},      {AGEDGE, "arrowsize", "0.7"},
};

static int build(hsa_viz *v)
{
	Agraph_t *g = v->g = agopen("heapsnap", Agdirected, NULL);
	if (!g)
		return fail(v, "cannot build the graph");
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		agattr(g, defaults[i].kind, (char *)defaults[i].name, (char *)defaults[i].value);
	if (v->o.id) {
		hsa_str id = {0};
		if (text(&id, v->o.id, strlen(v->o.id), 64))
			return fail(v, "cannot build the graph");
		agsafeset(g, "id", id.s ? id.s : "", "");
		hsa_str_free(&id);
	}
	if (v->o.caption) {
		hsa_str cap = {0};
		if (caption(&cap, v->o.caption) ||
		    hsa_str_printf(&cap, "\\norange: the start \xc2\xb7 double border: a root \xc2\xb7"
		                         " red: the shortest path from a root"))
			return fail(v, "cannot build the graph");
		agsafeset(g, "label", cap.s ? cap.s : "", "");
		agsafeset(g, "labelloc", "t", "");
		hsa_str_free(&cap);
	}
	if (v->nn > 200) {
		/* dot's crossing minimization dominates beyond a few hundred boxes;
		 * fewer rounds bring 1,000 of them from seconds to about one. */
		char mc[16];
		snprintf(mc, sizeof(mc), "%.2f", 200.0 / v->nn);
		agsafeset(g, "mclimit", mc, "");
	}
	uint32_t maxd = 0;
	for (uint32_t i = 0; i < v->nn; i++)
		if (v->nodes[i].dist > maxd)
			maxd = v->nodes[i].dist;
	Agnode_t **an = calloc(v->nn ? v->nn : 1, sizeof(Agnode_t *));
	if (!an)
		return fail(v, "cannot build the graph");
	int rc = 0;
	for (uint32_t i = 0; i < v->nn && !rc; i++) {
		char name[24];
		snprintf(name, sizeof(name), "n%" PRIu32, i + 1);
		an[i] = agnode(g, name, 1);
		const vnode *n = &v->nodes[i];
		if (n->id) {
			rc = object_attrs(v, n, an[i], maxd);
		} else {
			agsafeset(an[i], "label", n->text, "");
			agsafeset(an[i], "style", "dashed", "");
			agsafeset(an[i], "shape", "note", "");
		}
	}
	for (uint32_t i = 0; i < v->ne && !rc; i++) {
		const vedge *e = &v->edges[i];
		rc = edge_attrs(v, e, agedge(g, an[e->a], an[e->b], NULL, 1));
	}
	free(an);
	return rc ? fail(v, "cannot label the graph") : 0;
}

int hsa_viz_build(sqlite3 *db, const int64_t *start, size_t nstart, const hsa_viz_opts *o,
                  hsa_viz **out, char *err, size_t errlen)
{
	hsa_viz *v = calloc(1, sizeof(*v));
	*out = NULL;
	err[0] = 0;
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	v->db = db;
	v->o = *o;
	v->err = err;
	v->errlen = errlen;
	if (v->o.max_nodes < 3)
		v->o.max_nodes = 3;
	if (v->o.max_nodes > UINT32_MAX / 8)
		v->o.max_nodes = UINT32_MAX / 8;
	if (nstart > v->o.max_nodes / 3)
		nstart = v->o.max_nodes / 3;
	if (!nstart) {
		snprintf(err, errlen, "no object to draw");
		free(v);
		return -1;
	}
	/* Lines beyond a few per node only blacken the picture. */
	v->emax = (uint32_t)(4 * v->o.max_nodes);
	v->nodes = calloc(v->o.max_nodes, sizeof(vnode));
	v->queue = calloc(v->o.max_nodes, sizeof(uint32_t));
	if (!v->nodes || !v->queue || hsa_addrmap_init(&v->ids, v->o.max_nodes) ||
	    choose(v, start, nstart) || (dedupe_edges(v), build(v))) {
		if (!err[0])
			snprintf(err, errlen, "out of memory");
		hsa_viz_free(v);
		return -1;
	}
	*out = v;
	return 0;
}

uint64_t hsa_viz_nodes(const hsa_viz *v) { return v->nn; }

void hsa_viz_free(hsa_viz *v)
{
	if (!v)
		return;
	if (v->g)
		agclose(v->g);
	for (uint32_t i = 0; v->nodes && i < v->nn; i++)
		free(v->nodes[i].text);
	free(v->nodes);
	free(v->edges);
	free(v->queue);
	hsa_addrmap_free(&v->ids);
	free(v);
}

size_t hsa_viz_leak_starts(sqlite3 *db, const hsa_leak_group *g,
                           int64_t starts[HSA_VIZ_LEAK_STARTS])
{
	size_t max = g->holder_addr ? 4 : HSA_VIZ_LEAK_STARTS;
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	if (sqlite3_prepare_v2(db, "SELECT id FROM objects WHERE addr = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return 0;
	for (int k = g->holder_addr ? -1 : 0; k < g->nsample && n < max; k++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, (int64_t)(k < 0 ? g->holder_addr : g->sample[k]));
		if (sqlite3_step(st) == SQLITE_ROW)
			starts[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return n;
}

/* ---- rendering --------------------------------------------------------- */

const char *hsa_viz_format(const char *path)
{
	static const char *const formats[] = {"svg", "png", "pdf", "dot", NULL};
	const char *dot = strrchr(path, '.');
	for (int i = 0; dot && formats[i]; i++)
		if (!strcasecmp(dot + 1, formats[i]))
			return formats[i];
	return NULL;
}

/* Graphviz reports problems through a callback; the last one explains a
 * failed layout or render. */
static char gv_message[256];

static int gv_error(char *msg)
{
	snprintf(gv_message, sizeof(gv_message), "%s", msg);
	size_t n = strlen(gv_message);
	while (n && (gv_message[n - 1] == '\n' || gv_message[n - 1] == ' '))
		gv_message[--n] = 0;
	return 0;
}

/* One Graphviz context for the process: Graphviz 2.42's pango plugin keeps
 * a pointer into the first context's font table, so a layout in a second
 * context after the first was freed reads freed memory. */
static GVC_t *gvc;

static void gvc_free(void)
{
	gvFreeContext(gvc);
	gvc = NULL;
}

int hsa_viz_render(hsa_viz *v, const char *format, const char *path, char **data, size_t *len,
                   char *err, size_t errlen)
{
	FILE *f = NULL;
	int laid = 0, rc = -1;
	gv_message[0] = 0;
	agseterrf(gv_error);
	agseterr(AGERR);
	if (path && !(f = fopen(path, "wb"))) {
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		goto done;
	}
	if (!path && !(f = open_memstream(data, len))) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if (!strcmp(format, "dot")) {
		/* The graph before layout: 'dot' lays it out again from this. */
		if (agwrite(v->g, f)) {
			snprintf(err, errlen, "cannot write the graph");
			goto done;
		}
	} else {
		if (!gvc && (gvc = gvContext()))
			atexit(gvc_free);
		if (!gvc || gvLayout(gvc, v->g, "dot")) {
			snprintf(err, errlen, "graph layout failed%s%s", gv_message[0] ? ": " : "",
			         gv_message);
			goto done;
		}
		laid = 1;
		if (gvRender(gvc, v->g, format, f)) {
			snprintf(err, errlen, "cannot render %s%s%s", format, gv_message[0] ? ": " : "",
			         gv_message);
			goto done;
		}
	}
	rc = 0;
done:
	if (laid)
		gvFreeLayout(gvc, v->g);
	if (f && (ferror(f) | fclose(f)) && !rc) {
		snprintf(err, errlen, "cannot write '%s': %s", path ? path : "memory", strerror(errno));
		rc = -1;
	}
	if (rc && path)
		remove(path);
	if (rc && !path && f) {
		free(*data);
		*data = NULL;
	}
	agseterrf(NULL);
	return rc;
}
