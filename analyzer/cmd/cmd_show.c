/* cmd_show.c - 'heapsnap show': one object, its referrers and referents. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "db.h"
#include "hsnap.h"
#include "path.h"

typedef struct shown {
	sqlite3 *db;
	hsa_json *j; /* NULL: text */
	uint64_t limit;
	int64_t parent, pkind, plabel; /* the BFS parent and its reference */
	char err[1024];
} shown;

/* A referrer or referent: the other object and the reference's kind and
 * label. */
typedef struct nrow {
	int64_t other, label;
	int kind;
} nrow;

/* The rows gathered for one list, one past the limit at most (which tells
 * that the list was cut). */
typedef struct gather {
	shown *s;
	nrow *rows;
	uint64_t n, cap, max;
	int64_t id, src;         /* the object shown; the referrer being read */
	uint64_t count;          /* referrers counted */
} gather;

/* 1 once the rows are full, -1 without memory. */
static int push(gather *g, int64_t other, int kind, int64_t label)
{
	if (g->n == g->cap) {
		uint64_t cap = g->cap ? g->cap * 2 : 64;
		nrow *r = realloc(g->rows, cap * sizeof(nrow));
		if (!r) {
			snprintf(g->s->err, sizeof(g->s->err), "out of memory");
			return -1;
		}
		g->rows = r;
		g->cap = cap;
	}
	g->rows[g->n++] = (nrow){other, label, kind};
	return g->n == g->max;
}

static int on_referent(void *ctx, const int64_t *v)
{
	return push(ctx, v[0], (int)v[1], v[2]);
}

static int on_reference_to(void *ctx, const int64_t *v)
{
	gather *g = ctx;
	return v[0] == g->id ? push(g, g->src, (int)v[1], v[2]) : 0;
}

static int count_one(void *ctx, const int64_t *v)
{
	((gather *)ctx)->count++;
	return 0;
}

/* Past this many bytes (some 50,000 references) the BFS parent's list is
 * not read: its row is the reference the shortest path crosses, stored
 * with the object. */
#define BIG_LIST (1u << 20)

/* A referrer's references to the object shown: read from its list, or for
 * the BFS parent with a long list, the one the load recorded. */
static int on_referrer(void *ctx, const int64_t *v)
{
	gather *g = ctx;
	shown *s = g->s;
	g->src = v[0];
	int r = hsa_edges_each(s->db, "refs", v[0], 3, v[0] == s->parent ? BIG_LIST : 0,
	                       on_reference_to, g, s->err, sizeof(s->err));
	if (r == 1)
		return push(g, v[0], (int)s->pkind, s->plabel);
	return r < 0 ? -1 : g->n == g->max;
}

/* Referrers or referents as a table or JSON, counted as objects or as
 * references. */
static int neighbours(shown *s, const char *title, int by_object, int64_t total,
                      const gather *g)
{
	hsa_table *t = NULL;
	int rc = -1, cut = g->n > s->limit;
	static const char *const heads[] = {"via", "address", "object"};
	if (s->j) {
		hsa_json_open(s->j, title);
		hsa_json_int(s->j, "count", total);
		hsa_json_str(s->j, "unit", by_object ? "objects" : "references");
		hsa_json_array(s->j, "items");
	} else if (!(t = hsa_table_new(3, heads, "lll"))) {
		goto done;
	}
	for (uint64_t i = 0; i < g->n && i < s->limit; i++) {
		const nrow *r = &g->rows[i];
		hsa_str label = {0}, desc = {0};
		char addr[32];
		uint64_t a;
		int bad = hsa_db_addr(s->db, r->other, &a);
		snprintf(addr, sizeof(addr), "0x%" PRIx64, a);
		bad = bad || hsa_db_edge_label(s->db, r->kind, r->label, &label) ||
		          hsa_db_describe(s->db, r->other, &desc);
		if (!bad && s->j) {
			hsa_json_open(s->j, NULL);
			hsa_json_str(s->j, "address", addr);
			hsa_json_str(s->j, "object", desc.s);
			hsa_json_str(s->j, "kind", hs_edge_kind_name((unsigned)r->kind));
			hsa_json_str(s->j, "label", label.s ? label.s : "");
			hsa_json_close(s->j);
		} else if (!bad) {
			bad = hsa_table_row(t) || hsa_table_cell(t, "%s", label.s ? label.s : "") ||
			      hsa_table_cell(t, "%s", addr) || hsa_table_cell(t, "%s", desc.s);
		}
		hsa_str_free(&label);
		hsa_str_free(&desc);
		if (bad)
			goto done;
	}
	if (s->j) {
		hsa_json_end(s->j);
		hsa_json_close(s->j);
	} else {
		printf("\n%s: %" PRId64 "%s%s\n", title, total,
		       !by_object ? "" : total == 1 ? " object" : " objects",
		       cut ? " (the first shown; see -n)" : "");
		if (total)
			hsa_table_print(t, stdout, "  ");
	}
	rc = 0;
done:
	hsa_table_free(t);
	return rc;
}

/* Both lists, each read in pieces up to the limit: neither the object's
 * list nor a referrer's is ever held whole (a list of millions). */
static int lists(shown *s, int64_t id, int64_t nrefs)
{
	gather g = {s, NULL, 0, 0, s->limit < UINT64_MAX ? s->limit + 1 : UINT64_MAX, id, 0, 0};
	int rc = -1;
	/* Referrers are counted as objects: the object's own row has them,
	 * where counting their references would read every referrer's list
	 * (a class with millions of instances). */
	if (hsa_edges_each(s->db, "referrers", id, 1, 0, count_one, &g, s->err,
	                   sizeof(s->err)) < 0 ||
	    hsa_edges_each(s->db, "referrers", id, 1, 0, on_referrer, &g, s->err,
	                   sizeof(s->err)) < 0 ||
	    neighbours(s, "referrers", 1, (int64_t)g.count, &g))
		goto done;
	g.n = 0;
	if (hsa_edges_each(s->db, "refs", id, 3, 0, on_referent, &g, s->err, sizeof(s->err)) < 0 ||
	    neighbours(s, "referents", 0, nrefs, &g))
		goto done;
	rc = 0;
done:
	free(g.rows);
	return rc;
}

static int traceback(shown *s, int64_t trace)
{
	static const char sql[] = "SELECT f.filename, f.lineno FROM traceback_frames tf"
	                          " JOIN frames f ON f.id = tf.frame WHERE tf.traceback = ?"
	                          " ORDER BY tf.depth";
	sqlite3_stmt *st = hsa_db_prepare(s->db, sql, s->err, sizeof(s->err));
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, trace);
	if (s->j)
		hsa_json_array(s->j, "traceback");
	else
		printf("  allocated  ");
	int first = 1, r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *file = (const char *)sqlite3_column_text(st, 0);
		int64_t line = sqlite3_column_int64(st, 1);
		if (s->j) {
			hsa_json_open(s->j, NULL);
			hsa_json_str(s->j, "file", file);
			hsa_json_int(s->j, "line", line);
			hsa_json_close(s->j);
		} else {
			hsa_str tty = {0};
			printf("%s%s:%" PRId64 "\n", first ? "" : "             ",
			       file ? hsa_tty(&tty, file) : "?", line);
			hsa_str_free(&tty);
		}
		first = 0;
	}
	if (s->j)
		hsa_json_end(s->j);
	else if (first)
		printf("(traceback not in the dump)\n");
	if (r != SQLITE_DONE)
		snprintf(s->err, sizeof(s->err), "database query failed: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? 0 : -1;
}

static int show(shown *s, int64_t id)
{
	static const char sql[] =
		"SELECT o.addr, t.name, o.size, o.retained, o.refcnt, o.flags, o.len, o.value,"
		" o.name, o.trace, o.reachable, o.depth, o.idom,"
		" (SELECT value FROM meta WHERE key = 'load.reachable_bytes'),"
		" o.parent, o.pkind, o.plabel, o.nrefs"
		" FROM objects o LEFT JOIN types t ON t.id = o.type WHERE o.id = ?";
	sqlite3_stmt *st = hsa_db_prepare(s->db, sql, s->err, sizeof(s->err));
	hsa_str desc = {0}, dom = {0}, val = {0}, tty = {0};
	int rc = -1;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int r = hsa_db_step(st, s->err, sizeof(s->err));
	if (!r)
		snprintf(s->err, sizeof(s->err), "no object #%" PRId64 " in the database", id);
	if (r <= 0)
		goto done;
	uint64_t addr = (uint64_t)sqlite3_column_int64(st, 0);
	const char *type = (const char *)sqlite3_column_text(st, 1);
	uint64_t size = (uint64_t)sqlite3_column_int64(st, 2);
	uint64_t retained = (uint64_t)sqlite3_column_int64(st, 3);
	int64_t flags = sqlite3_column_int64(st, 5);
	int reachable = sqlite3_column_int(st, 10);
	int64_t idom = sqlite3_column_type(st, 12) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 12);
	double total = sqlite3_column_double(st, 13);
	s->parent = sqlite3_column_type(st, 14) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 14);
	s->pkind = sqlite3_column_int64(st, 15);
	s->plabel = sqlite3_column_int64(st, 16);
	int64_t nrefs = sqlite3_column_int64(st, 17);
	char addrs[32], b1[16], b2[16];
	snprintf(addrs, sizeof(addrs), "0x%" PRIx64, addr);
	uint64_t daddr = 0;
	if (hsa_db_describe(s->db, id, &desc) ||
	    (idom && (hsa_db_describe(s->db, idom, &dom) || hsa_db_addr(s->db, idom, &daddr))))
		goto done;
	if (s->j) {
		hsa_json_open(s->j, NULL);
		hsa_json_str(s->j, "address", addrs);
		hsa_json_str(s->j, "description", desc.s);
		hsa_json_str(s->j, "type", type);
		hsa_json_int(s->j, "size", (int64_t)size);
		hsa_json_int(s->j, "retained", (int64_t)retained);
		hsa_json_int(s->j, "refcnt", sqlite3_column_int64(st, 4));
		hsa_json_int(s->j, "flags", flags);
		if (sqlite3_column_type(st, 6) != SQLITE_NULL)
			hsa_json_int(s->j, "len", sqlite3_column_int64(st, 6));
		if (sqlite3_column_type(st, 7) != SQLITE_NULL)
			hsa_json_strn(s->j, "value", sqlite3_column_blob(st, 7),
			              (size_t)sqlite3_column_bytes(st, 7));
		if (sqlite3_column_type(st, 8) != SQLITE_NULL)
			hsa_json_str(s->j, "name", (const char *)sqlite3_column_text(st, 8));
		hsa_json_bool(s->j, "reachable", reachable);
		if (reachable)
			hsa_json_int(s->j, "depth", sqlite3_column_int64(st, 11));
		if (idom) {
			char da[32];
			snprintf(da, sizeof(da), "0x%" PRIx64, daddr);
			hsa_json_open(s->j, "dominator");
			hsa_json_str(s->j, "address", da);
			hsa_json_str(s->j, "description", dom.s);
			hsa_json_close(s->j);
		}
	} else {
		/* Text from the dump reaches the terminal through hsa_tty. */
		printf("%s %s\n", addrs, hsa_tty(&tty, desc.s));
		printf("  type       %s\n", type ? hsa_tty(&tty, type) : "(unknown)");
		printf("  size       %s\n", hsa_human_size(size, b1));
		printf("  retained   %s", hsa_human_size(retained, b2));
		if (total > 0 && reachable)
			printf(" (%.1f%% of the reachable heap)", 100.0 * (double)retained / total);
		printf("\n  refcnt     %" PRId64 "\n", (int64_t)sqlite3_column_int64(st, 4));
		printf("  gc         %s", flags & HS_OF_GC_TRACKED ? "tracked" : "untracked");
		if (flags & HS_OF_GC_TRACKED)
			printf(", generation %" PRId64, (flags & HS_OF_GEN_MASK) >> HS_OF_GEN_SHIFT);
		printf("%s\n", flags & HS_OF_FINALIZER ? ", has a finalizer" : "");
		if (sqlite3_column_type(st, 6) != SQLITE_NULL)
			printf("  len        %" PRId64 "\n", (int64_t)sqlite3_column_int64(st, 6));
		if (sqlite3_column_type(st, 8) != SQLITE_NULL)
			printf("  name       %s\n", hsa_tty(&tty, (const char *)sqlite3_column_text(st, 8)));
		if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
			if (hsa_str_repr(&val, sqlite3_column_blob(st, 7),
			                 (size_t)sqlite3_column_bytes(st, 7), 400))
				goto done;
			printf("  value      '%s'%s\n", hsa_tty(&tty, val.s),
			       flags & HS_OF_VALUE_TRUNC ? " (truncated)" : "");
		}
		if (reachable)
			printf("  depth      %" PRId64 " references from a root\n",
			       (int64_t)sqlite3_column_int64(st, 11));
		else
			printf("  reachable  no: garbage awaiting collection\n");
		if (idom)
			printf("  dominator  0x%" PRIx64 " %s\n", daddr,
			       hsa_tty(&tty, dom.s));
	}
	if (sqlite3_column_type(st, 9) != SQLITE_NULL && traceback(s, sqlite3_column_int64(st, 9)))
		goto done;
	if (lists(s, id, nrefs))
		goto done;
	if (s->j) {
		hsa_json_close(s->j);
		hsa_json_finish(s->j);
	}
	rc = 0;
done:
	if (rc && !s->err[0])
		snprintf(s->err, sizeof(s->err), "query failed: %s", sqlite3_errmsg(s->db));
	hsa_str_free(&desc);
	hsa_str_free(&dom);
	hsa_str_free(&val);
	hsa_str_free(&tty);
	sqlite3_finalize(st);
	return rc;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	shown s;
	hsa_json j;
	memset(&s, 0, sizeof(s));
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_USAGE;
	if (hsa_arg_count(cmd, &a, "n", 20, &s.limit))
		goto done;
	rc = HSA_EXIT_FAIL;
	int64_t id;
	hsa_warnings warnings = {0};
	int failed = hsa_db_open(a.pos[0], &s.db, &warnings, s.err, sizeof(s.err));
	hsa_warnings_print(&warnings);
	if (failed || hsa_db_resolve(s.db, a.pos[1], &id, s.err, sizeof(s.err))) {
		hsa_error("%s", s.err);
		goto done;
	}
	if (hsa_arg(cmd, &a, "json")) {
		hsa_json_init(&j, stdout);
		s.j = &j;
	}
	if (show(&s, id)) {
		hsa_error("%s", s.err);
		goto done;
	}
	rc = 0;
done:
	sqlite3_close(s.db);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"n", 'n', "N", "list at most N referrers and referents (default 20)"},
	{"json", 0, NULL, "print JSON for scripts"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_show = {
	.name = "show",
	.summary = "one object: sizes, value, allocation traceback, referrers, referents",
	.usage = "DUMP OBJ [-n N] [--json]",
	.details = "OBJ is an address (0x7f3a...) or TYPE[#k], the k-th largest object of\n"
	           "that type by retained size (TYPE#1, the largest, when #k is left out).\n"
	           "TYPE is a full name (builtins.dict) or a unique short one (dict).\n"
	           "Referrers are counted as objects (one may refer more than once),\n"
	           "referents as references. Of a container of more than some 50,000\n"
	           "references that is OBJ's parent on its shortest path, only the reference\n"
	           "that path crosses is listed: its list is not read.",
	.min_pos = 2,
	.max_pos = 2,
	.opts = opts,
	.run = run,
};
