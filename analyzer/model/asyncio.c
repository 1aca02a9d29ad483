/* asyncio.c - asyncio tasks for people: coroutine, creation site and await
 * chain, one task or grouped (asyncio.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio.h"
#include "db.h"
#include "hsnap.h"
#include "match.h"

enum { Q_CHAIN, Q_TRACE, Q_CODE, NQ };

static const char *const q_sql[NQ] = {
	"SELECT name, file, line FROM task_awaits WHERE task = ? ORDER BY depth",
	"SELECT f.filename, f.lineno FROM traceback_frames tf JOIN frames f ON f.id = tf.frame"
	" WHERE tf.traceback = ? ORDER BY tf.depth",
	/* the coroutine's code object (gi_code, f_code): "qualname file:line"
	 * with the def line */
	"SELECT o.name FROM refs r JOIN objects o ON o.id = r.dst JOIN types t ON t.id = o.type"
	" WHERE r.src = ? AND t.name IN ('code', 'builtins.code') AND o.name IS NOT NULL LIMIT 1",
};

/* Tasks with what tasks_read needs: id, state, coroutine, the Task's
 * traceback, the coroutine's name. */
#define TASK_SELECT                                                                       \
	"SELECT t.id, t.state, t.coro, o.trace, c.name FROM tasks t"                      \
	" LEFT JOIN objects o ON o.id = t.object LEFT JOIN objects c ON c.id = t.coro"    \
	" WHERE t.kind = 'task'"

typedef struct reader {
	sqlite3 *db;
	sqlite3_stmt *q[NQ];
	char *err;
	size_t errlen;
} reader;

static int reader_open(reader *r, sqlite3 *db, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->db = db;
	r->err = err;
	r->errlen = errlen;
	for (int i = 0; i < NQ; i++)
		if (!(r->q[i] = hsa_db_prepare(db, q_sql[i], err, errlen)))
			return -1;
	return 0;
}

static void reader_close(reader *r)
{
	for (int i = 0; i < NQ; i++)
		sqlite3_finalize(r->q[i]);
}

static int dberr(reader *r)
{
	snprintf(r->err, r->errlen, "database query failed: %s", sqlite3_errmsg(r->db));
	return -1;
}

static int nomem(reader *r)
{
	snprintf(r->err, r->errlen, "out of memory");
	return -1;
}

/* Counts one task of state (tasks.state) into g. */
static void count_state(hsa_task_group *g, const char *state)
{
	g->tasks++;
	if (state && !strcmp(state, hs_task_state_name(HS_T_PENDING)))
		g->pending++;
	else if (state && !strcmp(state, hs_task_state_name(HS_T_CANCELLED)))
		g->cancelled++;
	else
		g->finished++;
}

/* "file:line" from a row's two columns. */
static char *file_line(sqlite3_stmt *st, int col)
{
	char *s = NULL;
	const char *file = (const char *)sqlite3_column_text(st, col);
	if (asprintf(&s, "%s:%" PRId64, file ? file : "?", (int64_t)sqlite3_column_int64(st, col + 1)) < 0)
		return NULL;
	return s;
}

/* Where the Task of traceback trace was created: its traceback's
 * innermost frame outside the standard library (create_task's caller,
 * not asyncio's own frames), else its innermost frame. */
static int created_at(reader *r, int64_t trace, hsa_task_group *g)
{
	sqlite3_stmt *st = r->q[Q_TRACE];
	int rc = 0, step = SQLITE_DONE;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, trace);
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *file = (const char *)sqlite3_column_text(st, 0);
		int app = file && !hsa_file_stdlib(file);
		if (g->site && !app)
			continue;
		free(g->site);
		if (!(g->site = file_line(st, 0)))
			rc = nomem(r);
		if (app)
			break;
	}
	if (!rc && step != SQLITE_ROW && step != SQLITE_DONE)
		rc = dberr(r);
	sqlite3_reset(st);
	g->created = g->site != NULL;
	return rc;
}

/* Where coroutine coro is defined: its code's "qualname file:line". */
static int defined_at(reader *r, int64_t coro, hsa_task_group *g)
{
	sqlite3_stmt *st = r->q[Q_CODE];
	int rc = 0;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, coro);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *file = name ? strchr(name, ' ') : NULL;
		if (file && file[1] && strrchr(file, ':') && !(g->site = strdup(file + 1)))
			rc = nomem(r);
	} else if (step != SQLITE_DONE) {
		rc = dberr(r);
	}
	sqlite3_reset(st);
	return rc;
}

/* Fills g (zeroed) with task id's coroutine, site and chain, counting it
 * as one task of state. trace is the Task's traceback id (0: none), coro
 * its coroutine's object id (0: none), cname that object's name. */
static int task_read(reader *r, int64_t id, const char *state, int64_t coro, int64_t trace,
                     const char *cname, hsa_task_group *g)
{
	sqlite3_stmt *st = r->q[Q_CHAIN];
	int rc = 0, step = SQLITE_DONE, first = 1;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (first && name && !(g->coro = strdup(name)))
			rc = nomem(r);
		first = 0;
		if (rc || sqlite3_column_type(st, 1) == SQLITE_NULL)
			continue;
		hsa_await_link *c = realloc(g->chain, (g->nchain + 1) * sizeof(*c));
		if (!c) {
			rc = nomem(r);
			break;
		}
		g->chain = c;
		c = &c[g->nchain++];
		*c = (hsa_await_link){NULL, strdup((const char *)sqlite3_column_text(st, 1)),
		                      sqlite3_column_int64(st, 2)};
		if (!(c->name = strdup(name ? name : "?")) || !c->file)
			rc = nomem(r);
	}
	if (!rc && step != SQLITE_ROW && step != SQLITE_DONE)
		rc = dberr(r);
	sqlite3_reset(st);
	if (!rc && !g->coro && !(g->coro = strdup(cname ? cname : "?")))
		rc = nomem(r);
	if (!rc && trace)
		rc = created_at(r, trace, g);
	if (!rc && !g->site && coro)
		rc = defined_at(r, coro, g);
	count_state(g, state);
	return rc;
}

void hsa_task_group_clear(hsa_task_group *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nchain; i++) {
		free(g->chain[i].name);
		free(g->chain[i].file);
	}
	free(g->chain);
	free(g->coro);
	free(g->site);
	memset(g, 0, sizeof(*g));
}

void hsa_task_groups_free(hsa_task_group *groups, size_t n)
{
	for (size_t i = 0; groups && i < n; i++)
		hsa_task_group_clear(&groups[i]);
	free(groups);
}

int hsa_task_counts_get(sqlite3 *db, hsa_task_counts *c, char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT kind, state, count(*), 0 FROM tasks GROUP BY kind, state"
		" UNION ALL SELECT 'awaited', NULL, count(*), 1 FROM tasks"
		" WHERE kind = 'future' AND state = 'pending' AND object IN"
		" (SELECT awaited FROM tasks WHERE kind = 'task' AND state = 'pending')";
	memset(c, 0, sizeof(*c));
	sqlite3_stmt *st = hsa_db_prepare(db, sql, err, errlen);
	if (!st)
		return -1;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(st, 0);
		const char *state = (const char *)sqlite3_column_text(st, 1);
		uint64_t n = (uint64_t)sqlite3_column_int64(st, 2);
		if (sqlite3_column_int(st, 3)) {
			c->awaited = n;
			continue;
		}
		uint64_t *by = kind && !strcmp(kind, "task") ? c->tasks : c->futures;
		for (unsigned k = HS_T_PENDING; k <= HS_T_FINISHED; k++)
			if (state && !strcmp(state, hs_task_state_name(k)))
				by[k] += n;
	}
	if (step != SQLITE_DONE)
		snprintf(err, errlen, "database query failed: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return step == SQLITE_DONE ? 0 : -1;
}

/* What makes tasks one group: coroutine, site and chain, as one string
 * (fields apart by control characters no name holds). */
static int group_key(const hsa_task_group *g, hsa_str *key)
{
	key->len = 0;
	int rc = hsa_str_printf(key, "%s\x1f%s\x1f%d", g->coro, g->site ? g->site : "", g->created);
	for (size_t i = 0; i < g->nchain && !rc; i++)
		rc = hsa_str_printf(key, "\x1f%s\x1e%s\x1e%" PRId64, g->chain[i].name,
		                    g->chain[i].file, g->chain[i].line);
	return rc;
}

static int by_pending(const void *a, const void *b)
{
	const hsa_task_group *x = a, *y = b;
	if (x->pending != y->pending)
		return x->pending < y->pending ? 1 : -1;
	if (x->tasks != y->tasks)
		return x->tasks < y->tasks ? 1 : -1;
	int c = strcmp(x->coro, y->coro);
	return c ? c : strcmp(x->site ? x->site : "", y->site ? y->site : "");
}

int hsa_task_groups(sqlite3 *db, hsa_task_group **groups, size_t *n, char *err, size_t errlen)
{
	reader r;
	sqlite3_stmt *st = NULL;
	hsa_names keys = {0};
	hsa_str key = {0};
	hsa_task_group *gs = NULL, one = {0};
	size_t ng = 0, cap = 0;
	int rc = -1, step;
	*groups = NULL;
	*n = 0;
	if (reader_open(&r, db, err, errlen) || !(st = hsa_db_prepare(db, TASK_SELECT, err, errlen)))
		goto done;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (task_read(&r, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
		              sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
		              (const char *)sqlite3_column_text(st, 4), &one))
			goto done;
		if (group_key(&one, &key))
			goto nomem;
		/* Group k is key id k + 1 (id 0 is ""): a new key is the next group. */
		uint32_t id = hsa_names_id(&keys, key.s, key.len);
		if (id == HSA_KMAP_NONE)
			goto nomem;
		if (id - 1 < ng) {
			hsa_task_group *g = &gs[id - 1];
			g->tasks += one.tasks;
			g->pending += one.pending;
			g->cancelled += one.cancelled;
			g->finished += one.finished;
			hsa_task_group_clear(&one);
			continue;
		}
		if (ng == cap) {
			size_t c = cap ? 2 * cap : 16;
			hsa_task_group *p = realloc(gs, c * sizeof(*p));
			if (!p)
				goto nomem;
			gs = p;
			cap = c;
		}
		gs[ng++] = one;
		memset(&one, 0, sizeof(one));
	}
	if (step != SQLITE_DONE) {
		snprintf(err, errlen, "database query failed: %s", sqlite3_errmsg(db));
		goto done;
	}
	if (ng)
		qsort(gs, ng, sizeof(*gs), by_pending);
	*groups = gs;
	*n = ng;
	gs = NULL;
	rc = 0;
	goto done;
nomem:
	snprintf(err, errlen, "out of memory");
done:
	hsa_task_group_clear(&one);
	hsa_task_groups_free(gs, ng);
	hsa_names_free(&keys);
	hsa_str_free(&key);
	sqlite3_finalize(st);
	reader_close(&r);
	return rc;
}

int hsa_task_describe(sqlite3 *db, int64_t object, hsa_task_group *g, char *err, size_t errlen)
{
	reader r;
	sqlite3_stmt *st = NULL;
	int rc = -1;
	memset(g, 0, sizeof(*g));
	memset(&r, 0, sizeof(r));
	/* Most objects asked about are no task: one lookup (tasks_object) for them. */
	if (!(st = hsa_db_prepare(db, TASK_SELECT " AND t.object = ?", err, errlen)))
		goto done;
	sqlite3_bind_int64(st, 1, object);
	int step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		rc = 0;
	} else if (step != SQLITE_ROW) {
		snprintf(err, errlen, "database query failed: %s", sqlite3_errmsg(db));
	} else if (reader_open(&r, db, err, errlen) ||
	           task_read(&r, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
	                     sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
	                     (const char *)sqlite3_column_text(st, 4), g)) {
		hsa_task_group_clear(g);
	} else {
		rc = 1;
	}
done:
	sqlite3_finalize(st);
	reader_close(&r);
	return rc;
}

int hsa_task_lead(const hsa_task_group *g, hsa_str *out)
{
	if (hsa_str_printf(out, "`%s()`", g->coro ? g->coro : "?"))
		return -1;
	if (!g->site)
		return 0;
	return hsa_str_printf(out, " %s at %s", g->created ? "created" : "defined",
	                      hsa_file_base(g->site));
}

int hsa_task_chain_text(const hsa_task_group *g, size_t from, hsa_str *out)
{
	int rc = 0;
	for (size_t i = from; i < g->nchain && !rc; i++)
		rc = hsa_str_printf(out, "%s`%s` %s:%" PRId64, i > from ? " \xe2\x86\x92 " : "",
		                    g->chain[i].name, hsa_file_base(g->chain[i].file),
		                    g->chain[i].line);
	return rc;
}

int hsa_task_text(sqlite3 *db, int64_t object, hsa_str *out, char *err, size_t errlen)
{
	hsa_task_group g;
	int r = hsa_task_describe(db, object, &g, err, errlen);
	if (r <= 0)
		return r;
	int rc = hsa_task_lead(&g, out);
	if (!rc && !g.pending)
		rc = hsa_str_printf(out, ", %s", g.cancelled ? "cancelled" : "finished");
	else if (!rc && g.nchain)
		rc = hsa_str_printf(out, ", suspended at %s:%" PRId64, hsa_file_base(g.chain[0].file),
		                    g.chain[0].line) ||
		     (g.nchain > 1 && (hsa_str_printf(out, " awaiting ") ||
		                       hsa_task_chain_text(&g, 1, out)));
	hsa_task_group_clear(&g);
	if (rc)
		snprintf(err, errlen, "out of memory");
	return rc ? -1 : 1;
}
