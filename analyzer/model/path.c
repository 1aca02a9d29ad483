/* path.c - retention paths and reference labels. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "hsnap.h"
#include "path.h"

/* Runs a one-row query with one integer parameter; returns 1 with the
 * statement positioned on the row (caller finalizes), 0 for no row, -1. */
static int row(sqlite3 *db, const char *sql, int64_t a, sqlite3_stmt **out)
{
	if (sqlite3_prepare_v2(db, sql, -1, out, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(*out, 1, a);
	int rc = sqlite3_step(*out);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Stops at the first strong reference to hop->id. */
static int strong_to(void *ctx, const int64_t *v)
{
	hsa_hop *hop = ctx;
	if (v[0] != hop->id || v[1] == HS_E_WEAK)
		return 0;
	hop->kind = (int)v[1];
	hop->label = v[2];
	return 1;
}

/* The first strong reference from src to hop->id: its kind and label into
 * hop. Returns 1, 0 when there is none (only weak ones, or src's list is
 * not in the database: too long for an SQLite value, which the load
 * warned about), -1. src's list is read in pieces. */
static int edge_between(sqlite3 *db, int64_t src, hsa_hop *hop, char *err, size_t errlen)
{
	hop->kind = -1;
	if (hsa_edges_each(db, "refs", src, 3, 0, strong_to, hop, err, errlen) < 0)
		return -1;
	return hop->kind >= 0;
}

/* Walks the BFS parents from id up to a root into p (object first): 1,
 * 0 when id is unreachable, -1 on a query error, -2 when the chain is
 * inconsistent (why filled). The database is input: every parent must be
 * a reachable object one step nearer a root, so the walk ends within the
 * depth of id, and in any case within as many steps as there are
 * objects. */
static int parents(sqlite3 *db, int64_t id, hsa_path *p, char *why, size_t whylen)
{
	sqlite3_stmt *st = NULL, *max = NULL;
	uint64_t cap = 0, steps = 0;
	int64_t depth = -1;
	int rc = -1;
	if (sqlite3_prepare_v2(db, "SELECT max(id) FROM objects", -1, &max, NULL) != SQLITE_OK ||
	    sqlite3_step(max) != SQLITE_ROW ||
	    sqlite3_prepare_v2(db, "SELECT reachable, parent, depth, pkind, plabel FROM objects"
	                       " WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		goto done;
	uint64_t nobj = (uint64_t)sqlite3_column_int64(max, 0);
	for (int64_t cur = id;; steps++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, cur);
		int r = sqlite3_step(st);
		if (r != SQLITE_ROW && (r != SQLITE_DONE || cur == id))
			goto done;
		int reach = r == SQLITE_ROW && sqlite3_column_int(st, 0);
		if (!reach && cur == id) {
			rc = 0;
			goto done;
		}
		int root = reach && sqlite3_column_type(st, 1) == SQLITE_NULL;
		int64_t d = reach && sqlite3_column_type(st, 2) != SQLITE_NULL
		                    ? sqlite3_column_int64(st, 2) : -1;
		if (d < 0 || steps >= nobj || (depth >= 0 && d != depth - 1) || root != (d == 0)) {
			snprintf(why, whylen, "the path of object %" PRId64 " to a root breaks at object"
			         " %" PRId64, id, cur);
			rc = -2;
			goto done;
		}
		depth = d;
		if (p->n == cap) {
			cap = cap ? cap * 2 : 16;
			hsa_hop *h = realloc(p->hops, cap * sizeof(hsa_hop));
			if (!h)
				goto done;
			p->hops = h;
		}
		/* The reference the load's BFS crossed to cur: its parent's list,
		 * a list of millions maybe, is never read. */
		p->hops[p->n++] = root ? (hsa_hop){cur, -1, 0}
		                       : (hsa_hop){cur, sqlite3_column_int(st, 3),
		                                   sqlite3_column_int64(st, 4)};
		if (root)
			break;
		cur = sqlite3_column_int64(st, 1);
	}
	rc = 1;
done:
	sqlite3_finalize(st);
	sqlite3_finalize(max);
	return rc;
}

int hsa_path_shortest(sqlite3 *db, int64_t id, hsa_path *p, hsa_warnings *w, char *err,
                      size_t errlen)
{
	char why[256];
	memset(p, 0, sizeof(*p));
	int rc = parents(db, id, p, why, sizeof(why));
	/* A damaged chain: the dump is loaded again and the walk retried. */
	if (rc == -2) {
		hsa_path_free(p);
		if (hsa_db_damaged(db, why, w, err, errlen))
			return -1;
		if ((rc = parents(db, id, p, why, sizeof(why))) == -2) {
			snprintf(err, errlen, "'%s': damaged database (%s) after loading its dump again",
			         sqlite3_db_filename(db, "main"), why);
			hsa_path_free(p);
			return -1;
		}
	}
	if (rc <= 0)
		goto done;
	for (uint64_t i = 0; i < p->n / 2; i++) {
		hsa_hop t = p->hops[i];
		p->hops[i] = p->hops[p->n - 1 - i];
		p->hops[p->n - 1 - i] = t;
	}
done:
	if (rc < 0)
		snprintf(err, errlen, "database query failed: %s", sqlite3_errmsg(db));
	if (rc != 1)
		hsa_path_free(p);
	return rc;
}

void hsa_path_free(hsa_path *p)
{
	if (!p)
		return;
	free(p->hops);
	memset(p, 0, sizeof(*p));
}

void hsa_paths_free(hsa_path *paths, uint64_t n)
{
	if (!paths)
		return;
	for (uint64_t i = 0; i < n; i++)
		hsa_path_free(&paths[i]);
	free(paths);
}

/* The referrers of an object nearest a root, their strong reference to
 * it, at most k, ordered by (depth, id). */
typedef struct nearest {
	sqlite3 *db;
	sqlite3_stmt *obj;
	int64_t id, parent;
	uint64_t n, k;
	struct {
		int64_t src, depth;
		hsa_hop hop;
	} *c;
	char *err;
	size_t errlen;
} nearest;

static int on_referrer(void *ctx, const int64_t *v)
{
	nearest *nr = ctx;
	if (v[0] == nr->parent)
		return 0;
	sqlite3_reset(nr->obj);
	sqlite3_bind_int64(nr->obj, 1, v[0]);
	int r = sqlite3_step(nr->obj);
	if (r == SQLITE_DONE)
		return 0;
	if (r != SQLITE_ROW)
		return -1;
	if (!sqlite3_column_int(nr->obj, 0))
		return 0;
	int64_t depth = sqlite3_column_int64(nr->obj, 1);
	/* Referrers come in id order: one no nearer than the k-th kept is out. */
	if (nr->n == nr->k && depth >= nr->c[nr->k - 1].depth)
		return 0;
	hsa_hop hop = {nr->id, -1, 0};
	if ((r = edge_between(nr->db, v[0], &hop, nr->err, nr->errlen)) <= 0)
		return r;
	uint64_t i = nr->n < nr->k ? nr->n++ : nr->k - 1;
	for (; i && nr->c[i - 1].depth > depth; i--)
		nr->c[i] = nr->c[i - 1];
	nr->c[i].src = v[0];
	nr->c[i].depth = depth;
	nr->c[i].hop = hop;
	return 0;
}

int64_t hsa_paths(sqlite3 *db, int64_t id, uint64_t max, hsa_path **paths, hsa_warnings *w,
                  char *err, size_t errlen)
{
	hsa_path *out = calloc(max + 1, sizeof(hsa_path));
	nearest nr = {db, NULL, id, 0, 0, max - 1, NULL, err, errlen};
	uint64_t n = 1;
	err[0] = 0;
	if (!out)
		goto fail;
	int r = hsa_path_shortest(db, id, &out[0], w, err, errlen);
	if (r <= 0) {
		free(out);
		*paths = NULL;
		return r;
	}
	if (out[0].n == 1 || max == 1) {
		*paths = out;
		return 1;
	}
	/* The other referrers by their own distance from a root (the BFS
	 * parent gave the shortest path already), read in pieces: a list of
	 * millions among them is never held. Then their walks: a walk may
	 * load a damaged database again, which no open statement may hold
	 * up. */
	nr.parent = out[0].hops[out[0].n - 2].id;
	if (!(nr.c = malloc(nr.k * sizeof(*nr.c))) ||
	    !(nr.obj = hsa_db_prepare(db, "SELECT reachable, depth FROM objects WHERE id = ?", err,
	                              errlen)) ||
	    hsa_edges_each(db, "referrers", id, 1, 0, on_referrer, &nr, err, errlen) < 0)
		goto fail;
	sqlite3_finalize(nr.obj);
	nr.obj = NULL;
	for (uint64_t i = 0; i < nr.n; i++) {
		hsa_path *p = &out[n];
		if (hsa_path_shortest(db, nr.c[i].src, p, w, err, errlen) != 1)
			goto fail;
		hsa_hop *h = realloc(p->hops, (p->n + 1) * sizeof(hsa_hop));
		if (!h)
			goto fail;
		p->hops = h;
		p->hops[p->n++] = nr.c[i].hop;
		n++;
	}
	free(nr.c);
	*paths = out;
	return (int64_t)n;
fail:
	if (!err[0])
		snprintf(err, errlen, "database query failed: %s", sqlite3_errmsg(db));
	sqlite3_finalize(nr.obj);
	free(nr.c);
	hsa_paths_free(out, max + 1);
	*paths = NULL;
	return -1;
}

int hsa_edge_label(int kind, int64_t label, const char *text, hsa_str *out)
{
	const char *t = text ? text : "?";
	switch (kind) {
	case HS_E_DICT_VALUE:
		return hsa_str_printf(out, "[%s]", t);
	case HS_E_DICT_KEY:
		return hsa_str_printf(out, " key %s", t);
	case HS_E_ATTR:
	case HS_E_NAMED:
		return hsa_str_printf(out, ".%s", t);
	case HS_E_INDEX:
		return hsa_str_printf(out, "[%" PRId64 "]", label);
	case HS_E_LOCAL:
		return hsa_str_printf(out, ".f_locals['%s']", t);
	case HS_E_CELL:
		return hsa_str_printf(out, " cell %s", t);
	case HS_E_DICT_ATTR:
		return hsa_str_printf(out, ".__dict__");
	case HS_E_CLASS:
		return hsa_str_printf(out, ".__class__");
	case HS_E_SELF:
		return hsa_str_printf(out, ".__self__");
	case HS_E_FUNC:
		return hsa_str_printf(out, ".__func__");
	case HS_E_WEAK:
		return hsa_str_printf(out, " (weak)");
	default:
		return 0;
	}
}

int hsa_db_edge_label(sqlite3 *db, int kind, int64_t label, hsa_str *out)
{
	sqlite3_stmt *st = NULL;
	char *text = NULL;
	if (kind != HS_E_INDEX && label &&
	    row(db, "SELECT s FROM strings WHERE id = ?", label, &st) == 1)
		text = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	int rc = hsa_edge_label(kind, label, text, out);
	free(text);
	return rc;
}

int hsa_type_short(sqlite3 *db, int64_t id, hsa_str *out)
{
	sqlite3_stmt *st = NULL;
	int r = row(db, "SELECT t.name FROM objects o JOIN types t ON t.id = o.type"
	                " WHERE o.id = ?", id, &st);
	const char *name = r == 1 ? (const char *)sqlite3_column_text(st, 0) : NULL;
	const char *dot = name ? strrchr(name, '.') : NULL;
	int rc = hsa_str_printf(out, "%s", dot ? dot + 1 : name ? name : "object");
	sqlite3_finalize(st);
	return rc;
}

int hsa_root_text(sqlite3 *db, int64_t id, hsa_str *out)
{
	static const char sql[] =
		"SELECT r.kind, r.name, r.extra, (SELECT name FROM threads WHERE ident = r.extra)"
		" FROM roots r WHERE r.object = ? ORDER BY r.id LIMIT 1";
	sqlite3_stmt *st = NULL;
	int rc;
	if (row(db, sql, id, &st) != 1) {
		sqlite3_finalize(st);
		return hsa_db_describe(db, id, out);
	}
	const char *kind = (const char *)sqlite3_column_text(st, 0);
	const char *name = (const char *)sqlite3_column_text(st, 1);
	int64_t extra = sqlite3_column_int64(st, 2);
	const char *thread = (const char *)sqlite3_column_text(st, 3);
	if (!strcmp(kind, hs_root_kind_name(HS_R_MODULES)) && name) {
		rc = hsa_str_printf(out, "module %s", name);
	} else if (!strcmp(kind, hs_root_kind_name(HS_R_THREAD_FRAME))) {
		if (thread)
			rc = hsa_str_printf(out, "thread %s ", thread);
		else
			rc = hsa_str_printf(out, "thread %" PRId64 " ", extra);
		rc = rc || hsa_db_describe(db, id, out);
	} else if (!strcmp(kind, hs_root_kind_name(HS_R_HELD_FROM_C))) {
		/* the holder when the dumper knows it: "registered with atexit
		 * (callback 3 of 5)" */
		rc = hsa_db_describe(db, id, out) ||
		     (name ? hsa_str_printf(out, " %s", name)
		           : hsa_str_printf(out, " held from C (+%" PRId64 ")", extra));
	} else if (!strcmp(kind, hs_root_kind_name(HS_R_ASYNC_TASK))) {
		rc = hsa_str_printf(out, "asyncio task ") || hsa_db_describe(db, id, out);
	} else {
		rc = hsa_str_printf(out, "%s%s%s ", kind, name ? " " : "", name ? name : "") ||
		     hsa_db_describe(db, id, out);
	}
	sqlite3_finalize(st);
	return rc;
}

int hsa_path_format(sqlite3 *db, const hsa_path *p, hsa_str *out)
{
	int rc = 0;
	for (uint64_t i = 0; i < p->n && !rc; i++) {
		const hsa_hop *h = &p->hops[i];
		if (i && hsa_str_printf(out, " → "))
			return -1;
		/* A __dict__ reached from its owner is named for the attribute, so
		 * the dict's key reads as the owner's: "__dict__['x']". */
		if (!i)
			rc = hsa_root_text(db, h->id, out);
		else if (h->kind == HS_E_DICT_ATTR)
			rc = hsa_str_printf(out, "__dict__");
		else
			rc = hsa_type_short(db, h->id, out);
		if (!rc && i + 1 < p->n && p->hops[i + 1].kind != HS_E_DICT_ATTR)
			rc = hsa_db_edge_label(db, p->hops[i + 1].kind, p->hops[i + 1].label, out);
	}
	return rc;
}
