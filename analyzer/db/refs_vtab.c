/* refs_vtab.c - the refs and referrers views unfolded in C.
 *
 * The database's views unfold edges rows with json_each, which a plain
 * sqlite3 shell has: about a microsecond per reference, several minutes
 * for a scan of 100M. 'heapsnap sql' puts temporary views of the same
 * names and columns in front of them (an unqualified name finds the temp
 * schema first), over a virtual table that parses the rows' arrays
 * directly and names kinds and labels from tables read once. */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "hsnap.h"

/* Columns of both tables; the views pick and name them. */
enum { C_SRC, C_SEQ, C_DST, C_KIND, C_LABEL, C_KIND_NAME, C_LABEL_TEXT, NCOLS };

/* idxNum bits: which arguments xFilter gets, in this order. */
enum { F_KEY = 1, F_OTHER = 2, F_KIND = 4, F_LABEL = 8, F_TEXT = 16 };

typedef struct refs_vtab {
	sqlite3_vtab base;
	sqlite3 *db;
	int rev;            /* referrers: keyed by dst */
	int loaded;
	char **str;         /* [nstr + 1] strings.s by id, NULL where none */
	int *str_len;
	int64_t nstr;
	char *kind_name[256];
} refs_vtab;

typedef struct refs_cursor {
	sqlite3_vtab_cursor base;
	sqlite3_stmt *rows;  /* edges rows (id, refs) being unfolded */
	sqlite3_stmt *one;   /* the refs of one source, for referrers */
	const char *p;       /* in the current row's array */
	int64_t src, seq, dst, label;
	int kind, eof;
	/* referrers of key: the sources still to read */
	int64_t *srcs;
	size_t nsrcs, cap, at;
	int nomem;           /* the list outgrew memory */
	/* prefilters (SQLite checks again: a row they pass may still fail) */
	int idx;
	int64_t key, other, fkind, flabel;
	const char *text;
	int text_len;
	sqlite3_int64 rowid;
} refs_cursor;

static int connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                   sqlite3_vtab **out, char **err)
{
	(void)aux;
	int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(src, seq, dst, kind, label, kind_name,"
	                                  " label_text)");
	if (rc != SQLITE_OK)
		return rc;
	refs_vtab *t = sqlite3_malloc(sizeof(*t));
	if (!t)
		return SQLITE_NOMEM;
	memset(t, 0, sizeof(*t));
	t->db = db;
	t->rev = argc > 3 && !strcmp(argv[3], "rev");
	(void)err;
	*out = &t->base;
	return SQLITE_OK;
}

static int disconnect(sqlite3_vtab *vt)
{
	refs_vtab *t = (refs_vtab *)vt;
	for (int64_t i = 0; t->str && i <= t->nstr; i++)
		free(t->str[i]);
	free(t->str);
	free(t->str_len);
	for (int k = 0; k < 256; k++)
		free(t->kind_name[k]);
	sqlite3_free(t);
	return SQLITE_OK;
}

static int best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	refs_vtab *t = (refs_vtab *)vt;
	int key = t->rev ? C_DST : C_SRC, other = t->rev ? C_SRC : C_DST;
	static const struct { int col, bit; } usable[] = {
		{-1, F_KEY}, {-1, F_OTHER}, {C_KIND, F_KIND}, {C_LABEL, F_LABEL},
		{C_LABEL_TEXT, F_TEXT},
	};
	int at[5] = {-1, -1, -1, -1, -1};
	for (int i = 0; i < info->nConstraint; i++) {
		const struct sqlite3_index_constraint *c = &info->aConstraint[i];
		if (!c->usable || c->op != SQLITE_INDEX_CONSTRAINT_EQ)
			continue;
		for (int u = 0; u < 5; u++) {
			int col = u == 0 ? key : u == 1 ? other : usable[u].col;
			/* a label compared under another collation may match text
			 * that differs in bytes: no prefilter then */
			if (c->iColumn == col && at[u] < 0 &&
			    (col != C_LABEL_TEXT || !sqlite3_stricmp(sqlite3_vtab_collation(info, i),
			                                             "BINARY")))
				at[u] = i;
		}
	}
	int argv = 0;
	info->idxNum = 0;
	for (int u = 0; u < 5; u++) {
		if (at[u] < 0)
			continue;
		info->idxNum |= usable[u].bit;
		info->aConstraintUsage[at[u]].argvIndex = ++argv;
		/* the key is exact; the rest only narrows */
		info->aConstraintUsage[at[u]].omit = u == 0;
	}
	info->estimatedCost = info->idxNum & F_KEY ? 10 : 1e9;
	info->estimatedRows = info->idxNum & F_KEY ? 10 : 100000000;
	return SQLITE_OK;
}

/* Strings and kind names, read on first use. */
static int load_names(refs_vtab *t)
{
	if (t->loaded)
		return SQLITE_OK;
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_NOMEM, r;
	if (sqlite3_prepare_v2(t->db, "SELECT max(id) FROM strings", -1, &st, NULL) != SQLITE_OK)
		goto db_error;
	if (sqlite3_step(st) != SQLITE_ROW)
		goto db_error;
	t->nstr = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (t->nstr < 0)
		t->nstr = 0;
	t->str = calloc((size_t)t->nstr + 1, sizeof(char *));
	t->str_len = calloc((size_t)t->nstr + 1, sizeof(int));
	if (!t->str || !t->str_len)
		goto done;
	if (sqlite3_prepare_v2(t->db, "SELECT id, s FROM strings WHERE s IS NOT NULL", -1, &st,
	                       NULL) != SQLITE_OK)
		goto db_error;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const unsigned char *s = sqlite3_column_text(st, 1);
		int len = sqlite3_column_bytes(st, 1);
		if (id < 1 || id > t->nstr || t->str[id])
			continue;
		if (!s || !(t->str[id] = malloc((size_t)len + 1)))
			goto done;
		memcpy(t->str[id], s, (size_t)len + 1);
		t->str_len[id] = len;
	}
	if (r != SQLITE_DONE)
		goto db_error;
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(t->db, "SELECT kind, name FROM edge_kinds", -1, &st, NULL) !=
	    SQLITE_OK)
		goto db_error;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t k = sqlite3_column_int64(st, 0);
		const char *s = (const char *)sqlite3_column_text(st, 1);
		if (k >= 0 && k < 256 && s && !t->kind_name[k] && !(t->kind_name[k] = strdup(s)))
			goto done;
	}
	if (r != SQLITE_DONE)
		goto db_error;
	t->loaded = 1;
	rc = SQLITE_OK;
	goto done;
db_error:
	rc = SQLITE_ERROR;
	sqlite3_free(t->base.zErrMsg);
	t->base.zErrMsg = sqlite3_mprintf("%s", sqlite3_errmsg(t->db));
done:
	sqlite3_finalize(st);
	return rc;
}

static int open_cursor(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	refs_cursor *c = sqlite3_malloc(sizeof(*c));
	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

static void reset(refs_cursor *c)
{
	sqlite3_finalize(c->rows);
	sqlite3_finalize(c->one);
	free(c->srcs);
	c->rows = c->one = NULL;
	c->srcs = NULL;
	c->nsrcs = c->cap = c->at = 0;
	c->p = NULL;
}

static int close_cursor(sqlite3_vtab_cursor *cur)
{
	reset((refs_cursor *)cur);
	sqlite3_free(cur);
	return SQLITE_OK;
}

static int fail(refs_cursor *c, const char *what)
{
	refs_vtab *t = (refs_vtab *)c->base.pVtab;
	sqlite3_free(t->base.zErrMsg);
	t->base.zErrMsg = sqlite3_mprintf("%s", what ? what : sqlite3_errmsg(t->db));
	return SQLITE_ERROR;
}

/* Whether the current reference passes the prefilters. */
static int wanted(const refs_cursor *c, const refs_vtab *t)
{
	if ((c->idx & F_OTHER) && (t->rev ? c->src : c->dst) != c->other)
		return 0;
	if ((c->idx & F_KIND) && c->kind != c->fkind)
		return 0;
	if ((c->idx & F_LABEL) && c->label != c->flabel)
		return 0;
	if ((c->idx & F_TEXT) && c->text) {
		if (c->kind == HS_E_INDEX || c->label < 1 || c->label > t->nstr || !t->str[c->label])
			return 0;
		return t->str_len[c->label] == c->text_len &&
		       !memcmp(t->str[c->label], c->text, (size_t)c->text_len);
	}
	return 1;
}

/* The next row of the scan whose array is not exhausted; 0, 1 at the end,
 * or -1. */
static int next_row(refs_cursor *c)
{
	int r = sqlite3_step(c->rows);
	if (r == SQLITE_DONE)
		return 1;
	if (r != SQLITE_ROW)
		return -1;
	c->src = sqlite3_column_int64(c->rows, 0);
	c->p = (const char *)sqlite3_column_text(c->rows, 1);
	c->seq = -1;
	return 0;
}

/* Referrers: the refs array of the next source still to read. */
static int next_source(refs_cursor *c)
{
	if (c->at >= c->nsrcs)
		return 1;
	c->src = c->srcs[c->at++];
	sqlite3_reset(c->one);
	sqlite3_bind_int64(c->one, 1, c->src);
	int r = sqlite3_step(c->one);
	if (r == SQLITE_DONE) {
		c->p = NULL;
		return 0;
	}
	if (r != SQLITE_ROW)
		return -1;
	c->p = (const char *)sqlite3_column_text(c->one, 0);
	c->seq = -1;
	return 0;
}

/* Advances to the next reference that passes the prefilters. */
static int advance(refs_cursor *c)
{
	refs_vtab *t = (refs_vtab *)c->base.pVtab;
	for (;;) {
		int e = hsa_edges_next(&c->p, &c->dst, &c->kind, &c->label);
		if (e < 0)
			return fail(c, "bad references in the edges table");
		if (e > 0) {
			c->seq++;
			if ((!(t->rev && (c->idx & F_KEY)) || c->dst == c->key) && wanted(c, t)) {
				c->rowid++;
				return SQLITE_OK;
			}
			continue;
		}
		int r = c->rows ? next_row(c) : next_source(c);
		if (r < 0)
			return fail(c, NULL);
		if (r > 0) {
			c->eof = 1;
			return SQLITE_OK;
		}
	}
}

/* hsa_edges_each's callback: one referrer more. */
static int add_source(void *ctx, const int64_t *v)
{
	refs_cursor *c = ctx;
	if (c->nsrcs == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		int64_t *n = realloc(c->srcs, cap * sizeof(int64_t));
		if (!n) {
			c->nomem = 1;
			return -1;
		}
		c->srcs = n;
		c->cap = cap;
	}
	c->srcs[c->nsrcs++] = *v;
	return 0;
}

/* The referrers of the key, read from its edges row in pieces. */
static int read_sources(refs_cursor *c, refs_vtab *t)
{
	char err[256];
	c->nomem = 0;
	if (hsa_edges_each(t->db, "referrers", c->key, 1, 0, add_source, c, err, sizeof(err)) < 0)
		return c->nomem ? SQLITE_NOMEM : fail(c, err);
	return SQLITE_OK;
}

static int filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
                  sqlite3_value **argv)
{
	(void)idxstr;
	refs_cursor *c = (refs_cursor *)cur;
	refs_vtab *t = (refs_vtab *)cur->pVtab;
	int a = 0, rc;
	reset(c);
	c->eof = 0;
	c->rowid = 0;
	c->idx = idx;
	c->text = NULL;
	if ((rc = load_names(t)) != SQLITE_OK)
		return rc;
	if (idx & F_KEY) {
		/* the views' ids compare as integers: '42' and 42.0 are object 42 */
		sqlite3_value *v = argv[a++];
		int type = sqlite3_value_numeric_type(v);
		double d = sqlite3_value_double(v);
		if (type != SQLITE_INTEGER && (type != SQLITE_FLOAT || d != (double)(int64_t)d)) {
			c->eof = 1;
			return SQLITE_OK;
		}
		c->key = sqlite3_value_int64(v);
	}
	if (idx & F_OTHER)
		c->other = sqlite3_value_int64(argv[a++]);
	if (idx & F_KIND)
		c->fkind = sqlite3_value_int64(argv[a++]);
	if (idx & F_LABEL)
		c->flabel = sqlite3_value_int64(argv[a++]);
	if (idx & F_TEXT) {
		sqlite3_value *v = argv[a++];
		/* only text can equal a string label; an integer may equal an
		 * index, so no prefilter for it */
		if (sqlite3_value_type(v) == SQLITE_TEXT) {
			c->text = (const char *)sqlite3_value_text(v);
			c->text_len = sqlite3_value_bytes(v);
		}
	}
	/* Narrowing arguments compare as integers only when they are;
	 * otherwise SQLite alone judges. */
	for (int i = (idx & F_KEY) ? 1 : 0; i < argc - ((idx & F_TEXT) ? 1 : 0); i++)
		if (sqlite3_value_type(argv[i]) != SQLITE_INTEGER)
			c->idx &= ~(F_OTHER | F_KIND | F_LABEL);
	const char *sql = t->rev && (idx & F_KEY) ? "SELECT refs FROM edges WHERE id = ?"
	                  : idx & F_KEY ? "SELECT id, refs FROM edges WHERE id = ?"
	                                : "SELECT id, refs FROM edges WHERE refs IS NOT NULL";
	sqlite3_stmt **st = t->rev && (idx & F_KEY) ? &c->one : &c->rows;
	if (sqlite3_prepare_v2(t->db, sql, -1, st, NULL) != SQLITE_OK)
		return fail(c, NULL);
	if (idx & F_KEY) {
		if (t->rev) {
			if ((rc = read_sources(c, t)) != SQLITE_OK)
				return rc;
		} else {
			sqlite3_bind_int64(c->rows, 1, c->key);
		}
	}
	return advance(c);
}

static int next(sqlite3_vtab_cursor *cur)
{
	return advance((refs_cursor *)cur);
}

static int eof(sqlite3_vtab_cursor *cur)
{
	return ((refs_cursor *)cur)->eof;
}

static int column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i)
{
	refs_cursor *c = (refs_cursor *)cur;
	refs_vtab *t = (refs_vtab *)cur->pVtab;
	switch (i) {
	case C_SRC: sqlite3_result_int64(ctx, c->src); break;
	case C_SEQ: sqlite3_result_int64(ctx, c->seq); break;
	case C_DST: sqlite3_result_int64(ctx, c->dst); break;
	case C_KIND: sqlite3_result_int(ctx, c->kind); break;
	case C_LABEL: sqlite3_result_int64(ctx, c->label); break;
	case C_KIND_NAME:
		if (c->kind >= 0 && c->kind < 256 && t->kind_name[c->kind])
			sqlite3_result_text(ctx, t->kind_name[c->kind], -1, SQLITE_STATIC);
		else
			sqlite3_result_null(ctx);
		break;
	default: /* C_LABEL_TEXT: the index, or the string the label names */
		if (c->kind == HS_E_INDEX)
			sqlite3_result_int64(ctx, c->label);
		else if (c->label >= 1 && c->label <= t->nstr && t->str[c->label])
			sqlite3_result_text(ctx, t->str[c->label], t->str_len[c->label],
			                    SQLITE_STATIC);
		else
			sqlite3_result_null(ctx);
	}
	return SQLITE_OK;
}

static int rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out)
{
	*out = ((refs_cursor *)cur)->rowid;
	return SQLITE_OK;
}

/* With xCreate, not eponymous-only: CREATE VIRTUAL TABLE makes the two. */
static const sqlite3_module refs_module = {
	.xCreate = connect,
	.xDestroy = disconnect,
	.xConnect = connect,
	.xBestIndex = best_index,
	.xDisconnect = disconnect,
	.xOpen = open_cursor,
	.xClose = close_cursor,
	.xFilter = filter,
	.xNext = next,
	.xEof = eof,
	.xColumn = column,
	.xRowid = rowid,
};

/* The temp views shadow the database's, column for column. */
static const char fast_views[] =
	"CREATE VIRTUAL TABLE temp.hsa_refs_fwd USING hsa_refs(fwd);"
	"CREATE VIRTUAL TABLE temp.hsa_refs_rev USING hsa_refs(rev);"
	"CREATE TEMP VIEW refs AS SELECT src, seq, dst, kind, label FROM temp.hsa_refs_fwd;"
	"CREATE TEMP VIEW referrers AS SELECT dst, src, seq, kind, label FROM temp.hsa_refs_rev;"
	"CREATE TEMP VIEW refs_v AS SELECT src, seq, dst, kind_name AS kind,"
	" label_text AS label FROM temp.hsa_refs_fwd;"
	"CREATE TEMP VIEW referrers_v AS SELECT dst, src, seq, kind_name AS kind,"
	" label_text AS label FROM temp.hsa_refs_rev;";

int hsa_db_fast_refs(sqlite3 *db, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_create_module(db, "hsa_refs", &refs_module, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, fast_views, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "database error: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}
