/* write.c - the analysis database's schema and its bulk write from a dump
 * (hsa_db_load). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "heap.h"
#include "native.h"

static const char schema[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value);"
	"CREATE TABLE sections(kind TEXT PRIMARY KEY, sections INTEGER, records INTEGER,"
	" compressed INTEGER, raw INTEGER);"
	"CREATE TABLE strings(id INTEGER PRIMARY KEY, s TEXT);"
	"CREATE TABLE types(id INTEGER PRIMARY KEY, addr INTEGER, name TEXT, module TEXT,"
	" count INTEGER, size INTEGER, retained INTEGER);"
	"CREATE TABLE modules(name TEXT PRIMARY KEY, count INTEGER, size INTEGER,"
	" retained INTEGER) WITHOUT ROWID;"
	"CREATE TABLE objects(id INTEGER PRIMARY KEY, addr INTEGER NOT NULL, type INTEGER,"
	" size INTEGER, len INTEGER, refcnt INTEGER, flags INTEGER, value, name TEXT,"
	" trace INTEGER, reachable INTEGER, depth INTEGER, parent INTEGER, pkind INTEGER,"
	" plabel INTEGER, idom INTEGER, retained INTEGER, nrefs INTEGER);"
	"CREATE TABLE edges(id INTEGER PRIMARY KEY, refs TEXT, referrers TEXT);"
	"CREATE TABLE edge_kinds(kind INTEGER PRIMARY KEY, name TEXT);"
	"CREATE TABLE roots(id INTEGER PRIMARY KEY, object INTEGER, kind TEXT, name TEXT,"
	" extra INTEGER);"
	"CREATE TABLE frames(id INTEGER PRIMARY KEY, filename TEXT, lineno INTEGER);"
	"CREATE TABLE tracebacks(id INTEGER PRIMARY KEY, total_nframe INTEGER,"
	" nframe INTEGER, frame INTEGER);"
	"CREATE TABLE traceback_frames(traceback INTEGER, depth INTEGER, frame INTEGER,"
	" PRIMARY KEY(traceback, depth)) WITHOUT ROWID;"
	"CREATE TABLE sites(traceback INTEGER, domain INTEGER, count INTEGER, bytes INTEGER);"
	"CREATE TABLE alloc_sites(frame INTEGER PRIMARY KEY, count INTEGER, size INTEGER,"
	" retained INTEGER);"
	"CREATE TABLE threads(ident INTEGER, native_id INTEGER, name TEXT, frame INTEGER,"
	" main INTEGER, dumping INTEGER);"
	"CREATE TABLE tasks(id INTEGER PRIMARY KEY, object INTEGER, addr INTEGER, state TEXT,"
	" name TEXT, coro INTEGER, awaited INTEGER, kind TEXT);"
	"CREATE TABLE task_awaits(task INTEGER, depth INTEGER, addr INTEGER, object INTEGER,"
	" name TEXT, file TEXT, line INTEGER, PRIMARY KEY(task, depth)) WITHOUT ROWID;"
	"CREATE TABLE native_modules(id INTEGER PRIMARY KEY, path TEXT, build_id TEXT);"
	"CREATE TABLE native_sites(id INTEGER PRIMARY KEY, alloc TEXT, count INTEGER,"
	" bytes INTEGER, nframe INTEGER, npy INTEGER);"
	"CREATE TABLE native_frames(site INTEGER, depth INTEGER, module INTEGER, addr INTEGER,"
	" symbol TEXT, function TEXT, file TEXT, line INTEGER,"
	" PRIMARY KEY(site, depth)) WITHOUT ROWID;"
	"CREATE TABLE native_pyframes(site INTEGER, depth INTEGER, file TEXT, line INTEGER,"
	" function TEXT, PRIMARY KEY(site, depth)) WITHOUT ROWID;"
	"CREATE TABLE top_retained(rank INTEGER PRIMARY KEY, object INTEGER);"
	"CREATE TABLE top_holds(object INTEGER, type INTEGER, count INTEGER, retained INTEGER,"
	" PRIMARY KEY(object, type)) WITHOUT ROWID;"
	"CREATE TABLE type_top(type INTEGER, rank INTEGER, object INTEGER,"
	" PRIMARY KEY(type, rank)) WITHOUT ROWID;"
	"CREATE VIEW objects_v AS SELECT o.id, printf('0x%x', o.addr) AS address,"
	" t.name AS type, o.size, o.len, o.value, o.name, o.reachable, o.depth,"
	" o.retained, o.parent, o.idom, o.trace FROM objects o LEFT JOIN types t"
	" ON t.id = o.type;"
	"CREATE VIEW refs AS SELECT e.id AS src, j.key AS seq,"
	" json_extract(j.value, '$[0]') AS dst, json_extract(j.value, '$[1]') AS kind,"
	" json_extract(j.value, '$[2]') AS label FROM edges e, json_each(e.refs) j;"
	"CREATE VIEW referrers AS SELECT e.id AS dst, r.src, r.seq, r.kind, r.label"
	" FROM edges e, json_each(e.referrers) j, refs r WHERE r.src = j.value AND r.dst = e.id;"
	"CREATE VIEW refs_v AS SELECT r.src, r.seq, r.dst, k.name AS kind,"
	" CASE WHEN r.kind = 4 THEN r.label ELSE s.s END AS label FROM refs r"
	" LEFT JOIN edge_kinds k ON k.kind = r.kind"
	" LEFT JOIN strings s ON s.id = r.label AND r.kind != 4;"
	"CREATE VIEW referrers_v AS SELECT r.dst, r.src, r.seq, k.name AS kind,"
	" CASE WHEN r.kind = 4 THEN r.label ELSE s.s END AS label FROM referrers r"
	" LEFT JOIN edge_kinds k ON k.kind = r.kind"
	" LEFT JOIN strings s ON s.id = r.label AND r.kind != 4;";

/* The header ids open.c checks first: a heapsnap database of this schema. */
#define STR_(x) #x
#define STR(x) STR_(x)
static const char header_ids[] = "PRAGMA application_id=" STR(HSA_APPLICATION_ID) ";"
                                 "PRAGMA user_version=" STR(HSA_SCHEMA_VERSION) ";";

/* Indexes are built after the rows are in: far cheaper than keeping them
 * up to date row by row. Orders by retained size come precomputed (the
 * top_* tables) rather than as indexes over every object. */
static const char indexes[] =
	"CREATE INDEX objects_addr ON objects(addr);"
	"CREATE INDEX tasks_object ON tasks(object);";

enum {
	S_META, S_STRING, S_TYPE, S_ROOT, S_FRAME, S_TB, S_TBF, S_SITE,
	S_THREAD, S_TASK, S_AWAIT, S_NMOD, S_NSITE, S_NFRAME, S_NPY, NSTMT
};

static const char *const stmt_sql[NSTMT] = {
	"INSERT OR REPLACE INTO meta VALUES(?,?)",
	"INSERT OR REPLACE INTO strings VALUES(?,?)",
	"INSERT OR REPLACE INTO types VALUES(?,?,?,?,?,?,?)",
	"INSERT INTO roots(object, kind, name, extra) VALUES(?,?,?,?)",
	"INSERT OR REPLACE INTO frames VALUES(?,?,?)",
	"INSERT OR REPLACE INTO tracebacks VALUES(?,?,?,?)",
	"INSERT OR REPLACE INTO traceback_frames VALUES(?,?,?)",
	"INSERT INTO sites VALUES(?,?,?,?)",
	"INSERT INTO threads VALUES(?,?,?,?,?,?)",
	"INSERT INTO tasks(object, addr, state, name, coro, awaited, kind) VALUES(?,?,?,?,?,?,?)",
	"INSERT OR REPLACE INTO task_awaits VALUES(?,?,?,?,?,?,?)",
	"INSERT OR REPLACE INTO native_modules VALUES(?,?,?)",
	"INSERT INTO native_sites(alloc, count, bytes, nframe, npy) VALUES(?,?,?,?,?)",
	"INSERT INTO native_frames(site, depth, module, addr, symbol) VALUES(?,?,?,?,?)",
	"INSERT INTO native_pyframes VALUES(?,?,?,?,?)",
};

typedef struct writer {
	sqlite3 *db;
	sqlite3_stmt *st[NSTMT];
	const hsa_heap *h;
	const hsa_graph *g;
	const uint64_t *type_count, *type_size, *type_retained;
	const uint32_t *type_module;
	char **modules;
	uint64_t ordinal; /* objects met in the second pass */
	hsa_progress *prog;
	hsa_warnings *warnings;
} writer;

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "database error: %s", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	return -1;
}

/* Steps and resets a bound insert. */
static int step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s && *s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* An object's address where its id goes: resolve_sql turns it into the
 * id once the address index exists, so the load need not keep its
 * address map (the largest array per object) past the read. */
static void bind_obj(sqlite3_stmt *st, int i, uint64_t addr)
{
	if (addr)
		sqlite3_bind_int64(st, i, (int64_t)addr);
	else
		sqlite3_bind_null(st, i);
}

static const char resolve_sql[] =
	"UPDATE tasks SET object = (SELECT id FROM objects WHERE addr = tasks.object),"
	" coro = (SELECT id FROM objects WHERE addr = tasks.coro),"
	" awaited = (SELECT id FROM objects WHERE addr = tasks.awaited);"
	"UPDATE task_awaits SET object = (SELECT id FROM objects WHERE addr = task_awaits.object);"
	"UPDATE threads SET frame = (SELECT id FROM objects WHERE addr = threads.frame);";

static int put_task(writer *w, const hs_task *t)
{
	const hsa_heap *h = w->h;
	sqlite3_stmt *st = w->st[S_TASK];
	bind_obj(st, 1, t->addr);
	sqlite3_bind_int64(st, 2, (int64_t)t->addr);
	sqlite3_bind_text(st, 3, hs_task_state_name(t->state), -1, SQLITE_STATIC);
	bind_text(st, 4, hsa_heap_string(h, t->name));
	bind_obj(st, 5, t->coro);
	bind_obj(st, 6, t->awaited);
	/* The dumper writes a coroutine, an await chain and a name for Tasks
	 * only: a record with none of them is a plain Future. */
	sqlite3_bind_text(st, 7, t->coro || t->n || t->name ? "task" : "future", -1, SQLITE_STATIC);
	if (step(st))
		return -1;
	int64_t task = sqlite3_last_insert_rowid(w->db);
	st = w->st[S_AWAIT];
	for (uint64_t i = 0; i < t->n; i++) {
		const hs_await *a = &t->chain[i];
		sqlite3_bind_int64(st, 1, task);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sqlite3_bind_int64(st, 3, (int64_t)a->addr);
		bind_obj(st, 4, a->addr);
		bind_text(st, 5, hsa_heap_string(h, a->name));
		bind_text(st, 6, hsa_heap_string(h, a->file));
		sqlite3_bind_int64(st, 7, (int64_t)a->line);
		if (step(st))
			return -1;
	}
	return 0;
}

static int put_native_module(writer *w, const hs_native_module *m)
{
	sqlite3_stmt *st = w->st[S_NMOD];
	char hex[2 * 64 + 1];
	size_t n = m->build_id_len < 64 ? m->build_id_len : 64;
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", m->build_id[i]);
	hex[2 * n] = '\0';
	sqlite3_bind_int64(st, 1, (int64_t)m->id);
	bind_text(st, 2, hsa_heap_string(w->h, m->path));
	bind_text(st, 3, hex);
	return step(st);
}

static const char *const alloc_names[] = {"malloc", "calloc", "realloc", "memalign", "mmap"};

static int put_native_site(writer *w, const hs_native_site *s)
{
	const hsa_heap *h = w->h;
	sqlite3_stmt *st = w->st[S_NSITE];
	sqlite3_bind_text(st, 1, s->alloc < 5 ? alloc_names[s->alloc] : "unknown", -1,
	                  SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)s->count);
	sqlite3_bind_int64(st, 3, (int64_t)s->bytes);
	sqlite3_bind_int64(st, 4, (int64_t)s->n);
	sqlite3_bind_int64(st, 5, (int64_t)s->npy);
	if (step(st))
		return -1;
	int64_t site = sqlite3_last_insert_rowid(w->db);
	st = w->st[S_NFRAME];
	for (uint64_t i = 0; i < s->n; i++) {
		sqlite3_bind_int64(st, 1, site);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sqlite3_bind_int64(st, 3, (int64_t)s->frames[i].module);
		sqlite3_bind_int64(st, 4, (int64_t)s->frames[i].addr);
		bind_text(st, 5, hsa_heap_string(h, s->frames[i].symbol));
		if (step(st))
			return -1;
	}
	st = w->st[S_NPY];
	for (uint64_t i = 0; i < s->npy; i++) {
		sqlite3_bind_int64(st, 1, site);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		bind_text(st, 3, hsa_heap_string(h, s->py[i].file));
		sqlite3_bind_int64(st, 4, (int64_t)s->py[i].line);
		bind_text(st, 5, hsa_heap_string(h, s->py[i].function));
		if (step(st))
			return -1;
	}
	return 0;
}

static int put_meta(writer *w, const hs_meta *m)
{
	sqlite3_stmt *st = w->st[S_META];
	sqlite3_bind_text(st, 1, m->key, (int)m->key_len, SQLITE_STATIC);
	switch (m->type) {
	case HS_M_UINT:
		/* Above INT64_MAX only as text, SQLite integers being signed. */
		if (m->u > INT64_MAX) {
			char buf[32];
			snprintf(buf, sizeof(buf), "%" PRIu64, m->u);
			sqlite3_bind_text(st, 2, buf, -1, SQLITE_TRANSIENT);
		} else {
			sqlite3_bind_int64(st, 2, (int64_t)m->u);
		}
		break;
	case HS_M_INT:
		sqlite3_bind_int64(st, 2, m->i);
		break;
	case HS_M_F64:
		sqlite3_bind_double(st, 2, m->f);
		break;
	default:
		sqlite3_bind_text(st, 2, m->s ? m->s : "", (int)m->s_len, SQLITE_STATIC);
		break;
	}
	return step(st);
}

/* A types row; id 0 stands for the types the dump does not define. */
static int put_type(writer *w, uint64_t id, uint64_t addr, const char *name)
{
	sqlite3_stmt *st = w->st[S_TYPE];
	sqlite3_bind_int64(st, 1, (int64_t)id);
	if (id)
		sqlite3_bind_int64(st, 2, (int64_t)addr);
	else
		sqlite3_bind_null(st, 2);
	bind_text(st, 3, name);
	bind_text(st, 4, w->modules[w->type_module[id]]);
	sqlite3_bind_int64(st, 5, (int64_t)w->type_count[id]);
	sqlite3_bind_int64(st, 6, (int64_t)w->type_size[id]);
	sqlite3_bind_int64(st, 7, (int64_t)w->type_retained[id]);
	return step(st);
}

/* The second pass: every record but objects (hsa_objects below) and
 * references goes in as it comes. */
static int put_record(void *ctx, const hs_section *sec, const hs_record *rec)
{
	writer *w = ctx;
	const hsa_heap *h = w->h;
	sqlite3_stmt *st;
	switch (rec->kind) {
	case HS_K_META:
		return put_meta(w, &rec->u.meta);
	case HS_K_STRINGS:
		st = w->st[S_STRING];
		sqlite3_bind_int64(st, 1, (int64_t)rec->u.str.id);
		sqlite3_bind_text(st, 2, rec->u.str.s, (int)rec->u.str.len, SQLITE_STATIC);
		return step(st);
	case HS_K_TYPES: {
		uint64_t id = rec->u.type.id;
		if (!id || id > h->ntypes)
			return 0;
		return put_type(w, id, rec->u.type.addr, hsa_heap_string(h, rec->u.type.name));
	}
	case HS_K_FRAMES:
		st = w->st[S_FRAME];
		sqlite3_bind_int64(st, 1, (int64_t)rec->u.frame.id);
		bind_text(st, 2, hsa_heap_string(h, rec->u.frame.filename));
		sqlite3_bind_int64(st, 3, (int64_t)rec->u.frame.lineno);
		return step(st);
	case HS_K_TRACEBACKS: {
		const hs_traceback *tb = &rec->u.traceback;
		st = w->st[S_TB];
		sqlite3_bind_int64(st, 1, (int64_t)tb->id);
		sqlite3_bind_int64(st, 2, (int64_t)tb->total_nframe);
		sqlite3_bind_int64(st, 3, (int64_t)tb->n);
		if (tb->n)
			sqlite3_bind_int64(st, 4, (int64_t)tb->frames[0]);
		else
			sqlite3_bind_null(st, 4);
		if (step(st))
			return -1;
		st = w->st[S_TBF];
		for (uint64_t i = 0; i < tb->n; i++) {
			sqlite3_bind_int64(st, 1, (int64_t)tb->id);
			sqlite3_bind_int64(st, 2, (int64_t)i);
			sqlite3_bind_int64(st, 3, (int64_t)tb->frames[i]);
			if (step(st))
				return -1;
		}
		return 0;
	}
	case HS_K_SITES:
		st = w->st[S_SITE];
		sqlite3_bind_int64(st, 1, (int64_t)rec->u.site.traceback);
		sqlite3_bind_int64(st, 2, (int64_t)rec->u.site.domain);
		sqlite3_bind_int64(st, 3, (int64_t)rec->u.site.count);
		sqlite3_bind_int64(st, 4, (int64_t)rec->u.site.bytes);
		return step(st);
	case HS_K_THREADS:
		st = w->st[S_THREAD];
		sqlite3_bind_int64(st, 1, (int64_t)rec->u.thread.ident);
		sqlite3_bind_int64(st, 2, (int64_t)rec->u.thread.native_id);
		bind_text(st, 3, hsa_heap_string(h, rec->u.thread.name));
		bind_obj(st, 4, rec->u.thread.frame);
		sqlite3_bind_int(st, 5, rec->u.thread.flags & 1);
		sqlite3_bind_int(st, 6, (rec->u.thread.flags >> 1) & 1);
		return step(st);
	case HS_K_TASKS:
		return put_task(w, &rec->u.task);
	case HS_K_NATIVE_MODULES:
		return put_native_module(w, &rec->u.native_module);
	case HS_K_NATIVE_SITES:
		return put_native_site(w, &rec->u.native_site);
	}
	return 0;
}

/* The references go in as one edges row per object, its references and
 * its distinct referrers as JSON arrays that the refs and referrers views
 * unfold: a row per object rather than per reference, and no index on
 * dst to build, halve the load (SQLite's cost is per row). The rows come
 * from a virtual table over the CSR arrays ("INSERT INTO edges SELECT *
 * FROM hsa_edges" runs inside SQLite's own loop). */

/* Referrers of every node, ascending (repeats adjacent): reverse CSR. */
typedef struct referrers {
	uint64_t *off; /* [n+1] */
	hsa_node *src; /* [m] */
} referrers;

static void referrers_free(referrers *r)
{
	free(r->off);
	free(r->src);
	memset(r, 0, sizeof(*r));
}

static int referrers_build(const hsa_heap *h, referrers *r)
{
	r->off = calloc(h->n + 1, sizeof(uint64_t));
	r->src = malloc((h->m ? h->m : 1) * sizeof(hsa_node));
	if (!r->off || !r->src) {
		referrers_free(r);
		return -1;
	}
	for (uint64_t e = 0; e < h->m; e++)
		r->off[h->out_dst[e] + 1]++;
	for (uint64_t v = 0; v < h->n; v++)
		r->off[v + 1] += r->off[v];
	/* Fill through off[d], which then holds the end of d's slice, the
	 * start of d+1's: shifting by one restores the offsets. */
	for (uint64_t v = 0; v < h->n; v++)
		for (uint64_t e = h->out_off[v]; e < h->out_off[v + 1]; e++)
			r->src[r->off[h->out_dst[e]]++] = (hsa_node)v;
	memmove(r->off + 1, r->off, h->n * sizeof(uint64_t));
	r->off[0] = 0;
	return 0;
}

typedef struct edges_aux {
	const hsa_heap *h;
	const referrers *in;
	hsa_progress *prog;
	uint64_t max_len;   /* SQLite's longest value */
	uint64_t too_long;  /* objects whose list exceeded it, left out */
} edges_aux;

typedef struct edges_cursor {
	sqlite3_vtab_cursor base;
	edges_aux *aux;
	uint64_t v;          /* current node */
	hsa_str out, in;     /* its references and referrers as JSON */
} edges_cursor;

/* Both virtual tables of the load are scans over its own data: SQLite's
 * base plus the context the module was registered with. */
typedef struct aux_vtab {
	sqlite3_vtab base;
	void *aux;
} aux_vtab;

static int aux_connect(sqlite3 *db, void *aux, const char *decl, sqlite3_vtab **out)
{
	int rc = sqlite3_declare_vtab(db, decl);
	if (rc != SQLITE_OK)
		return rc;
	aux_vtab *t = sqlite3_malloc(sizeof(*t));
	if (!t)
		return SQLITE_NOMEM;
	memset(t, 0, sizeof(*t));
	t->aux = aux;
	*out = &t->base;
	return SQLITE_OK;
}

static int aux_disconnect(sqlite3_vtab *t)
{
	sqlite3_free(t);
	return SQLITE_OK;
}

static int scan_best_index(sqlite3_vtab *t, sqlite3_index_info *info)
{
	info->estimatedCost = 1e9;
	return SQLITE_OK;
}

/* Decimal digits of x at p; returns the count. snprintf costs more than
 * the rest of an edge's row. */
static size_t put_u64(char *p, uint64_t x)
{
	char tmp[20];
	size_t n = 0;
	do
		tmp[n++] = (char)('0' + x % 10);
	while (x /= 10);
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* The longest entry: "[4294967295,255,4294967295]," and "4294967295,". */
#define REF_MAX 28
#define SRC_MAX 11

/* [[dst,kind,label],...] and [src,...] of node v; empty when none. A row
 * longer than SQLite's longest value loses its longer list, then the
 * other if need be (counted in too_long and warned about): shortest
 * entries ("[1,0,0]", "1") bound the length before anything is built. */
static int edges_json(edges_cursor *c)
{
	const hsa_heap *h = c->aux->h;
	const referrers *in = c->aux->in;
	uint64_t max = c->aux->max_len, v = c->v;
	c->out.len = c->in.len = 0;
	uint64_t a = h->out_off[v], b = h->out_off[v + 1];
	int dropped = 0;
	if (a < b && (b - a) * 8 > max) {
		dropped = 1;
	} else if (a < b) {
		if (hsa_str_reserve(&c->out, (b - a) * REF_MAX + 2))
			return -1;
		char *p = c->out.s;
		*p++ = '[';
		for (uint64_t e = a; e < b; e++) {
			if (e > a)
				*p++ = ',';
			*p++ = '[';
			p += put_u64(p, (uint64_t)h->out_dst[e] + 1);
			*p++ = ',';
			p += put_u64(p, h->kind[e]);
			*p++ = ',';
			p += put_u64(p, h->label[e]);
			*p++ = ']';
		}
		*p++ = ']';
		*p = 0;
		c->out.len = (size_t)(p - c->out.s);
	}
	a = in->off[v];
	b = in->off[v + 1];
	uint64_t distinct = 0;
	for (uint64_t i = a; i < b; i++)
		distinct += i == a || in->src[i] != in->src[i - 1];
	if (distinct && distinct * 2 > max) {
		dropped = 1;
	} else if (distinct) {
		if (hsa_str_reserve(&c->in, distinct * SRC_MAX + 2))
			return -1;
		char *p = c->in.s;
		*p++ = '[';
		for (uint64_t i = a; i < b; i++) {
			if (i > a && in->src[i] == in->src[i - 1])
				continue;
			if (i > a)
				*p++ = ',';
			p += put_u64(p, (uint64_t)in->src[i] + 1);
		}
		*p++ = ']';
		*p = 0;
		c->in.len = (size_t)(p - c->in.s);
	}
	/* the row's other fields and record header take well under 64 bytes */
	while ((c->out.len || c->in.len) && c->out.len + c->in.len + 64 > max) {
		dropped = 1;
		if (c->out.len >= c->in.len)
			c->out.len = 0;
		else
			c->in.len = 0;
	}
	c->aux->too_long += dropped;
	return 0;
}

/* Builds node v's row. */
static int edges_settle(edges_cursor *c)
{
	const hsa_heap *h = c->aux->h;
	if (c->v < h->n && edges_json(c))
		return SQLITE_NOMEM;
	return SQLITE_OK;
}

static int edges_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                         sqlite3_vtab **out, char **err)
{
	return aux_connect(db, aux, "CREATE TABLE x(id, refs, referrers)", out);
}

static int edges_open(sqlite3_vtab *t, sqlite3_vtab_cursor **out)
{
	edges_cursor *c = sqlite3_malloc(sizeof(*c));
	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	c->aux = ((aux_vtab *)t)->aux;
	*out = &c->base;
	return SQLITE_OK;
}

static int edges_close(sqlite3_vtab_cursor *cur)
{
	edges_cursor *c = (edges_cursor *)cur;
	hsa_str_free(&c->out);
	hsa_str_free(&c->in);
	sqlite3_free(c);
	return SQLITE_OK;
}

static int edges_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
                        sqlite3_value **argv)
{
	edges_cursor *c = (edges_cursor *)cur;
	c->v = 0;
	return edges_settle(c);
}

static int edges_next(sqlite3_vtab_cursor *cur)
{
	edges_cursor *c = (edges_cursor *)cur;
	c->v++;
	if (!(c->v & 0xffff))
		hsa_progress_update(c->aux->prog, c->v);
	return edges_settle(c);
}

static int edges_eof(sqlite3_vtab_cursor *cur)
{
	edges_cursor *c = (edges_cursor *)cur;
	return c->v >= c->aux->h->n;
}

static void result_json(sqlite3_context *ctx, const hsa_str *b)
{
	if (b->len)
		sqlite3_result_text64(ctx, b->s, b->len, SQLITE_TRANSIENT, SQLITE_UTF8);
	else
		sqlite3_result_null(ctx);
}

static int edges_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i)
{
	edges_cursor *c = (edges_cursor *)cur;
	if (i == 0) /* node v is row v + 1: SQLite's next rowid */
		sqlite3_result_null(ctx);
	else
		result_json(ctx, i == 1 ? &c->out : &c->in);
	return SQLITE_OK;
}

static int edges_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = (sqlite3_int64)((edges_cursor *)cur)->v;
	return SQLITE_OK;
}

static const sqlite3_module edges_module = {
	.xConnect = edges_connect,
	.xBestIndex = scan_best_index,
	.xDisconnect = aux_disconnect,
	.xOpen = edges_open,
	.xClose = edges_close,
	.xFilter = edges_filter,
	.xNext = edges_next,
	.xEof = edges_eof,
	.xColumn = edges_column,
	.xRowid = edges_rowid,
};

static int put_edges(writer *w, const char *path, char *err, size_t errlen)
{
	hsa_progress prog;
	referrers in = {0};
	edges_aux aux = {w->h, &in, &prog,
	                 (uint64_t)sqlite3_limit(w->db, SQLITE_LIMIT_LENGTH, -1), 0};
	int rc = -1;
	if (referrers_build(w->h, &in)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	hsa_progress_start(&prog, "writing references", w->h->n);
	if (sqlite3_create_module(w->db, "hsa_edges", &edges_module, &aux) != SQLITE_OK)
		snprintf(err, errlen, "database error: %s", sqlite3_errmsg(w->db));
	else
		rc = exec(w->db, "INSERT INTO edges SELECT * FROM hsa_edges", err, errlen);
	hsa_progress_end(&prog);
	referrers_free(&in);
	if (!rc && aux.too_long)
		hsa_warnings_add(w->warnings, "'%s': %" PRIu64 " objects have more references or"
		                 " referrers than an SQLite value holds; those lists are not in the"
		                 " refs and referrers views (the graph work used them)",
		                 path, aux.too_long);
	return rc;
}

/* The object rows come through a virtual table as well: "INSERT INTO
 * objects SELECT * FROM hsa_objects" pulls the dump's second pass, and the
 * records that are not objects go into their tables on the way. */
typedef struct objects_aux {
	writer *w;
	hs_reader *r;
} objects_aux;


typedef struct objects_cursor {
	sqlite3_vtab_cursor base;
	objects_aux *aux;
	hsa_scan scan;
	hsa_file_stats st;
	hs_record rec;
	uint64_t v;       /* node of the current object */
	uint64_t emitted; /* rows before it */
	int eof;
} objects_cursor;

static int objects_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                           sqlite3_vtab **out, char **err)
{
	return aux_connect(db, aux,
	                   "CREATE TABLE x(id, addr, type, size, len, refcnt, flags, value, name,"
	                   " trace, reachable, depth, parent, pkind, plabel, idom, retained,"
	                   " nrefs)",
	                   out);
}

static int objects_open(sqlite3_vtab *t, sqlite3_vtab_cursor **out)
{
	objects_cursor *c = sqlite3_malloc(sizeof(*c));
	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	c->aux = ((aux_vtab *)t)->aux;
	*out = &c->base;
	return SQLITE_OK;
}

static int objects_close(sqlite3_vtab_cursor *c)
{
	sqlite3_free(c);
	return SQLITE_OK;
}

/* To the next object that is a node (duplicates were dropped at read),
 * writing the other records met on the way. */
static int objects_advance(objects_cursor *c)
{
	writer *w = c->aux->w;
	while (hsa_scan_next(&c->scan, &c->rec) > 0) {
		if (c->rec.kind != HS_K_OBJECTS) {
			if (put_record(w, &c->scan.sec, &c->rec)) {
				sqlite3_vtab *t = c->base.pVtab;
				sqlite3_free(t->zErrMsg);
				t->zErrMsg = sqlite3_mprintf("%s", sqlite3_errmsg(w->db));
				return SQLITE_ERROR;
			}
			continue;
		}
		uint64_t v = w->ordinal++;
		if (!(v & 0xffff))
			hsa_progress_update(w->prog, v);
		if (v < w->h->n && w->h->addr[v]) {
			c->v = v;
			return SQLITE_OK;
		}
	}
	c->eof = 1;
	return SQLITE_OK;
}

static int objects_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
                          sqlite3_value **argv)
{
	objects_cursor *c = (objects_cursor *)cur;
	hsa_scan_begin(&c->scan, c->aux->r, &c->st, NULL);
	c->emitted = 0;
	return objects_advance(c);
}

static int objects_next(sqlite3_vtab_cursor *cur)
{
	((objects_cursor *)cur)->emitted++;
	return objects_advance((objects_cursor *)cur);
}

static int objects_eof(sqlite3_vtab_cursor *cur)
{
	return ((objects_cursor *)cur)->eof;
}

static void result_node(sqlite3_context *ctx, hsa_node v)
{
	if (v == HSA_NONE)
		sqlite3_result_null(ctx);
	else
		sqlite3_result_int64(ctx, (int64_t)v + 1);
}

static int objects_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i)
{
	objects_cursor *c = (objects_cursor *)cur;
	const hs_object *o = &c->rec.u.object;
	const hsa_heap *h = c->aux->w->h;
	const hsa_graph *g = c->aux->w->g;
	uint64_t v = c->v;
	int reach = g->depth[v] != HSA_UNREACHABLE;
	switch (i) {
	case 0:
		/* Ids follow the rows while no record was dropped: NULL makes
		 * SQLite append the row as the next rowid, without the seek an
		 * explicit id costs to check it is new (a tenth of the load). */
		if (v == c->emitted)
			sqlite3_result_null(ctx);
		else
			sqlite3_result_int64(ctx, (int64_t)v + 1);
		break;
	case 1:
		sqlite3_result_int64(ctx, (int64_t)o->addr);
		break;
	case 2:
		sqlite3_result_int64(ctx, (int64_t)h->type[v]);
		break;
	case 3:
		sqlite3_result_int64(ctx, (int64_t)o->size);
		break;
	case 4:
		if (o->flags & HS_OF_HAS_LEN)
			sqlite3_result_int64(ctx, (int64_t)o->len);
		else
			sqlite3_result_null(ctx);
		break;
	case 5:
		sqlite3_result_int64(ctx, (int64_t)o->refcnt);
		break;
	case 6:
		sqlite3_result_int64(ctx, o->flags);
		break;
	case 7:
		if (!(o->flags & HS_OF_HAS_VALUE))
			sqlite3_result_null(ctx);
		else if (hsa_utf8_valid(o->value, o->value_len))
			sqlite3_result_text(ctx, (const char *)o->value, (int)o->value_len,
			                    SQLITE_TRANSIENT);
		else
			sqlite3_result_blob(ctx, o->value, (int)o->value_len, SQLITE_TRANSIENT);
		break;
	case 8: {
		const char *name = o->flags & HS_OF_HAS_NAME ? hsa_heap_string(h, o->name) : "";
		if (*name)
			sqlite3_result_text(ctx, name, -1, SQLITE_TRANSIENT);
		else
			sqlite3_result_null(ctx);
		break;
	}
	case 9:
		if (h->trace[v])
			sqlite3_result_int64(ctx, h->trace[v]);
		else
			sqlite3_result_null(ctx);
		break;
	case 10:
		sqlite3_result_int(ctx, reach);
		break;
	case 11:
		if (reach)
			sqlite3_result_int64(ctx, g->depth[v]);
		else
			sqlite3_result_null(ctx);
		break;
	case 12:
		result_node(ctx, g->parent[v]);
		break;
	case 13:
	case 14:
		if (g->parent[v] == HSA_NONE)
			sqlite3_result_null(ctx);
		else
			sqlite3_result_int64(ctx, i == 13 ? g->pkind[v] : g->plabel[v]);
		break;
	case 15:
		result_node(ctx, g->idom[v]);
		break;
	case 16:
		sqlite3_result_int64(ctx, (int64_t)g->retained[v]);
		break;
	default:
		sqlite3_result_int64(ctx, (int64_t)(h->out_off[v + 1] - h->out_off[v]));
		break;
	}
	return SQLITE_OK;
}

static int objects_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = (sqlite3_int64)((objects_cursor *)cur)->v;
	return SQLITE_OK;
}

static const sqlite3_module objects_module = {
	.xConnect = objects_connect,
	.xBestIndex = scan_best_index,
	.xDisconnect = aux_disconnect,
	.xOpen = objects_open,
	.xClose = objects_close,
	.xFilter = objects_filter,
	.xNext = objects_next,
	.xEof = objects_eof,
	.xColumn = objects_column,
	.xRowid = objects_rowid,
};

/* Every record of the second pass, objects through hsa_objects. */
static int put_objects(writer *w, hs_reader *r, char *err, size_t errlen)
{
	objects_aux aux = {w, r};
	if (sqlite3_create_module(w->db, "hsa_objects", &objects_module, &aux) != SQLITE_OK) {
		snprintf(err, errlen, "database error: %s", sqlite3_errmsg(w->db));
		return -1;
	}
	return exec(w->db, "INSERT INTO objects SELECT * FROM hsa_objects", err, errlen);
}

static int put_roots(writer *w)
{
	const hsa_heap *h = w->h;
	sqlite3_stmt *st = w->st[S_ROOT];
	for (uint64_t i = 0; i < h->nroots; i++) {
		const hsa_root_ref *r = &h->roots[i];
		sqlite3_bind_int64(st, 1, (int64_t)r->node + 1);
		sqlite3_bind_text(st, 2, hs_root_kind_name(r->kind), -1, SQLITE_STATIC);
		bind_text(st, 3, hsa_heap_string(h, r->name));
		sqlite3_bind_int64(st, 4, (int64_t)r->extra);
		if (step(st))
			return -1;
	}
	return 0;
}

static int put_sections(writer *w)
{
	const hsa_file_stats *fs = &w->h->stats;
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (sqlite3_prepare_v2(w->db, "INSERT INTO sections VALUES(?,?,?,?,?)", -1, &st, NULL))
		return -1;
	for (unsigned k = 0; k <= HS_K_MAX_KNOWN; k++) {
		const hsa_kind_stats *ks = &fs->kind[k];
		if (!ks->sections && !ks->records)
			continue;
		sqlite3_bind_text(st, 1, k ? hs_kind_name(k) : "unknown", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)ks->sections);
		sqlite3_bind_int64(st, 3, (int64_t)ks->records);
		sqlite3_bind_int64(st, 4, (int64_t)ks->comp);
		sqlite3_bind_int64(st, 5, (int64_t)ks->raw);
		if (step(st))
			goto done;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(w->db, "INSERT INTO edge_kinds VALUES(?,?)", -1, &st, NULL))
		return -1;
	for (unsigned k = 0; k <= HS_E_MAX_KNOWN; k++) {
		sqlite3_bind_int(st, 1, (int)k);
		sqlite3_bind_text(st, 2, hs_edge_kind_name(k), -1, SQLITE_STATIC);
		if (step(st))
			goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	return rc;
}

/* Per-group rows: modules and allocation sites. */
static int put_groups(writer *w, const char *sql, uint64_t n, const uint64_t *count,
                      const uint64_t *size, const uint64_t *retained, char **names)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(w->db, sql, -1, &st, NULL))
		return -1;
	int rc = 0;
	for (uint64_t k = 0; k < n && !rc; k++) {
		if (!count[k])
			continue;
		if (names)
			sqlite3_bind_text(st, 1, names[k], -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(st, 1, (int64_t)k);
		sqlite3_bind_int64(st, 2, (int64_t)count[k]);
		sqlite3_bind_int64(st, 3, (int64_t)size[k]);
		sqlite3_bind_int64(st, 4, (int64_t)retained[k]);
		rc = step(st);
	}
	sqlite3_finalize(st);
	return rc;
}

static int meta_int(writer *w, const char *key, int64_t v)
{
	sqlite3_stmt *st = w->st[S_META];
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	return step(st);
}

static int meta_text(writer *w, const char *key, const char *v)
{
	sqlite3_stmt *st = w->st[S_META];
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, v, -1, SQLITE_STATIC);
	return step(st);
}

/* What the commands show as totals, and what the cache compares. */
static int put_totals(writer *w, const char *path, const struct stat *sb, double secs)
{
	const hsa_heap *h = w->h;
	const hsa_graph *g = w->g;
	uint64_t objects = 0, bytes = 0, reach_bytes = 0;
	for (uint64_t v = 0; v < h->n; v++) {
		if (!h->addr[v])
			continue;
		objects++;
		bytes += h->size[v];
		if (g->depth[v] != HSA_UNREACHABLE)
			reach_bytes += h->size[v];
	}
	char *abs = realpath(path, NULL);
	int rc = meta_int(w, "load.schema", HSA_SCHEMA_VERSION) ||
	         meta_text(w, "load.version", HEAPSNAP_VERSION) ||
	         meta_text(w, "load.source", abs ? abs : path) ||
	         meta_int(w, "load.source_size", (int64_t)sb->st_size) ||
	         meta_int(w, "load.source_mtime_ns",
	                  (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec) ||
	         meta_int(w, "load.source_inode", (int64_t)sb->st_ino) ||
	         meta_int(w, "load.complete", h->stats.complete && !h->stats.problems) ||
	         meta_text(w, "load.problem", h->stats.problem) ||
	         meta_int(w, "load.objects", (int64_t)objects) ||
	         meta_int(w, "load.bytes", (int64_t)bytes) ||
	         meta_int(w, "load.references", (int64_t)h->m) ||
	         meta_int(w, "load.edges", (int64_t)h->stats.edges) ||
	         meta_int(w, "load.roots", (int64_t)h->nroots) ||
	         meta_int(w, "load.types", (int64_t)h->ntypes) ||
	         meta_int(w, "load.reachable", (int64_t)g->reachable) ||
	         meta_int(w, "load.reachable_bytes", (int64_t)reach_bytes) ||
	         meta_int(w, "load.garbage", (int64_t)g->garbage) ||
	         meta_int(w, "load.garbage_bytes", (int64_t)g->garbage_bytes) ||
	         meta_int(w, "load.max_depth", (int64_t)g->max_depth) ||
	         meta_int(w, "load.dropped_objects", (int64_t)h->dup_objects) ||
	         meta_int(w, "load.dropped_references", (int64_t)h->dangling_refs) ||
	         meta_int(w, "load.dropped_roots", (int64_t)h->dangling_roots) ||
	         meta_int(w, "load.seconds_x1000", (int64_t)(secs * 1000));
	free(abs);
	return rc;
}

/* Counts, sizes and set-retained sizes per type, module and site. */
typedef struct groups {
	uint64_t ntypes, nmods, nsites;
	uint64_t *count[3], *size[3], *retained[3];
	uint32_t *of[3];   /* per node: its group in each grouping */
	uint32_t *type_module;
	char **modules;
} groups;

static void groups_free(groups *gs)
{
	for (int k = 0; k < 3; k++) {
		free(gs->count[k]);
		free(gs->size[k]);
		free(gs->retained[k]);
	}
	free(gs->of[1]);
	free(gs->of[2]);
	free(gs->type_module);
	for (uint64_t i = 0; i < gs->nmods; i++)
		free(gs->modules[i]);
	free(gs->modules);
}

static int groups_compute(const hsa_heap *h, const hsa_graph *g, groups *gs)
{
	memset(gs, 0, sizeof(*gs));
	if (hsa_type_modules(h, &gs->type_module, &gs->modules, &gs->nmods))
		return -1;
	gs->ntypes = h->ntypes + 1;
	gs->nsites = 0;
	for (uint64_t t = 1; t <= h->ntracebacks; t++)
		if (h->tb_frame[t] + 1 > gs->nsites)
			gs->nsites = h->tb_frame[t] + 1;
	if (gs->nsites > UINT32_MAX || !gs->nsites)
		gs->nsites = 1;
	uint64_t ng[3] = {gs->ntypes, gs->nmods, gs->nsites};
	uint64_t n = h->n ? h->n : 1;
	gs->of[0] = h->type;
	gs->of[1] = malloc(n * sizeof(uint32_t));
	gs->of[2] = malloc(n * sizeof(uint32_t));
	if (!gs->of[1] || !gs->of[2])
		return -1;
	for (int k = 0; k < 3; k++) {
		gs->count[k] = calloc(ng[k], sizeof(uint64_t));
		gs->size[k] = calloc(ng[k], sizeof(uint64_t));
		gs->retained[k] = calloc(ng[k], sizeof(uint64_t));
		if (!gs->count[k] || !gs->size[k] || !gs->retained[k])
			return -1;
	}
	for (uint64_t v = 0; v < h->n; v++) {
		uint64_t site = h->tb_frame[h->trace[v]];
		gs->of[1][v] = gs->type_module[h->type[v]];
		gs->of[2][v] = site < gs->nsites ? (uint32_t)site : 0;
		if (!h->addr[v])
			continue;
		for (int k = 0; k < 3; k++) {
			gs->count[k][gs->of[k][v]]++;
			gs->size[k][gs->of[k][v]] += h->size[v];
		}
	}
	hsa_grouping gr[3];
	for (int k = 0; k < 3; k++)
		gr[k] = (hsa_grouping){gs->of[k], ng[k], gs->retained[k]};
	return hsa_group_retained(h, g, gr, 3);
}

/* The graph work runs on a second thread while the references, which do
 * not depend on it, go into the database. */
typedef struct graph_job {
	const hsa_heap *h;
	hsa_graph g;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int started, joined, rc;
	int labels_done; /* the BFS read the labels: they may go */
} graph_job;

static void labels_done(void *arg)
{
	graph_job *job = arg;
	pthread_mutex_lock(&job->lock);
	job->labels_done = 1;
	pthread_cond_signal(&job->cond);
	pthread_mutex_unlock(&job->lock);
}

static void *graph_main(void *arg)
{
	graph_job *job = arg;
	job->rc = hsa_graph_compute(job->h, &job->g, labels_done, job);
	return NULL;
}

/* Waits until the graph work no longer reads the labels. */
static void labels_wait(graph_job *job)
{
	pthread_mutex_lock(&job->lock);
	while (!job->labels_done)
		pthread_cond_wait(&job->cond, &job->lock);
	pthread_mutex_unlock(&job->lock);
}

static int graph_join(graph_job *job)
{
	if (job->started && !job->joined) {
		pthread_join(job->thread, NULL);
		job->joined = 1;
	}
	return job->rc;
}

/* SQLite calls this every million steps of a long statement. */
static int index_progress(void *p)
{
	hsa_progress_update(p, 0);
	return 0;
}

static int write_db(hsa_heap *h, graph_job *job, const char *path,
                    const struct stat *sb, const char *tmp, double t0,
                    hsa_warnings *warnings, char *err, size_t errlen)
{
	writer w;
	memset(&w, 0, sizeof(w));
	groups gs;
	memset(&gs, 0, sizeof(gs));
	hs_reader *r = NULL;
	hsa_progress prog;
	int rc = -1;
	const hsa_graph *g = &job->g;
	w.h = h;
	w.g = g;
	w.prog = &prog;
	w.warnings = warnings;
	/* One thread writes: no connection mutex (a tenth of the load). */
	if (sqlite3_open_v2(tmp, &w.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL)) {
		snprintf(err, errlen, "cannot create database '%s': %s", tmp,
		         w.db ? sqlite3_errmsg(w.db) : "out of memory");
		goto done;
	}
	/* A fresh file nobody else sees until the rename: no journal, no
	 * syncs; a crash leaves only a temporary file behind. Inserts come in
	 * key order and need little cache; a small cache also makes the index
	 * sorter spill early into runs it merges on both cores, twice as fast
	 * as one big in-memory sort. auto_vacuum keeps pointer-map pages,
	 * through which SQLite steps over a long value's overflow pages
	 * without reading them: a container's referrers, stored after its
	 * list of millions, are found in milliseconds. */
	if (exec(w.db,
	         "PRAGMA page_size=8192; PRAGMA auto_vacuum=INCREMENTAL;"
	         " PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
	         "PRAGMA locking_mode=EXCLUSIVE; PRAGMA cache_size=-4096; PRAGMA threads=2;",
	         err, errlen) ||
	    exec(w.db, "BEGIN", err, errlen) || exec(w.db, schema, err, errlen) ||
	    exec(w.db, header_ids, err, errlen))
		goto done;
	for (int i = 0; i < NSTMT; i++)
		if (!(w.st[i] = hsa_db_prepare(w.db, stmt_sql[i], err, errlen)))
			goto done;
	if (put_edges(&w, path, err, errlen))
		goto done;
	/* Labels were for the edges rows and the BFS's parent references
	 * only; the rest of the graph work never reads them. */
	labels_wait(job);
	free(h->label);
	h->label = NULL;
	if (graph_join(job) || groups_compute(h, g, &gs)) {
		snprintf(err, errlen, "out of memory analyzing '%s'", path);
		goto done;
	}
	hsa_heap_drop_edges(h);
	w.type_count = gs.count[0];
	w.type_size = gs.size[0];
	w.type_retained = gs.retained[0];
	w.type_module = gs.type_module;
	w.modules = gs.modules;
	r = hs_reader_open(path, err, errlen);
	if (!r)
		goto done;
	hsa_progress_start(&prog, "writing objects", h->n);
	int s = put_objects(&w, r, err, errlen);
	hsa_progress_end(&prog);
	if (s)
		goto done;
	if ((gs.count[0][0] && put_type(&w, 0, 0, HSA_UNKNOWN_TYPE)) || put_roots(&w) ||
	    put_sections(&w) ||
	    put_groups(&w, "INSERT INTO modules VALUES(?,?,?,?)", gs.nmods, gs.count[1],
	               gs.size[1], gs.retained[1], gs.modules) ||
	    put_groups(&w, "INSERT INTO alloc_sites VALUES(?,?,?,?)", gs.nsites, gs.count[2],
	               gs.size[2], gs.retained[2], NULL) ||
	    hsa_rank_write(w.db, h, g)) {
		snprintf(err, errlen, "cannot write database '%s': %s", tmp, sqlite3_errmsg(w.db));
		goto done;
	}
	hsa_progress_start(&prog, "indexing", 0);
	sqlite3_progress_handler(w.db, 1 << 20, index_progress, &prog);
	if (exec(w.db, indexes, err, errlen) || exec(w.db, resolve_sql, err, errlen) ||
	    hsa_native_symbolize(w.db, err, errlen))
		goto done;
	sqlite3_progress_handler(w.db, 0, NULL, NULL);
	hsa_progress_end(&prog);
	if (put_totals(&w, path, sb, hsa_now() - t0) || exec(w.db, "COMMIT", err, errlen)) {
		if (!err[0])
			snprintf(err, errlen, "cannot write database '%s': %s", tmp,
			         sqlite3_errmsg(w.db));
		goto done;
	}
	rc = 0;
done:
	for (int i = 0; i < NSTMT; i++)
		sqlite3_finalize(w.st[i]);
	if (w.db && sqlite3_close(w.db) != SQLITE_OK && !rc) {
		snprintf(err, errlen, "cannot write database '%s': %s", tmp, sqlite3_errmsg(w.db));
		rc = -1;
	}
	hs_reader_free(r);
	groups_free(&gs);
	return rc;
}

static void warn_load(hsa_warnings *w, const char *path, const hsa_heap *h)
{
	static const int essential[] = {HS_K_STRINGS, HS_K_TYPES, HS_K_OBJECTS, HS_K_REFS,
	                                HS_K_ROOTS};
	hsa_str missing = {0};
	int complete = h->stats.complete && !h->stats.problems;
	if (!complete)
		for (size_t i = 0; i < sizeof(essential) / sizeof(essential[0]); i++)
			if (!h->stats.kind[essential[i]].records)
				hsa_str_printf(&missing, "%s%s", missing.len ? ", " : "",
				               hs_kind_name((unsigned)essential[i]));
	if (missing.len)
		hsa_warnings_add(w, "'%s': no %s records survived", path, missing.s);
	hsa_str_free(&missing);
	hsa_db_warn_incomplete(w, path, complete, h->stats.problem,
	                       (int64_t)(h->n - h->dup_objects), (int64_t)h->m, (int64_t)h->nroots);
	if (h->dangling_refs)
		hsa_warnings_add(w, "'%s': %" PRIu64 " references point outside the dump and were"
		                 " dropped", path, h->dangling_refs);
	if (h->dangling_roots)
		hsa_warnings_add(w, "'%s': %" PRIu64 " roots are not objects of the dump and were"
		                 " dropped", path, h->dangling_roots);
	if (h->dup_objects)
		hsa_warnings_add(w, "'%s': %" PRIu64 " object records repeat an address and were"
		                 " dropped", path, h->dup_objects);
	if (h->untyped)
		hsa_warnings_add(w, "'%s': %" PRIu64 " objects have a type no record of the dump"
		                 " defines; they count as '" HSA_UNKNOWN_TYPE "'", path, h->untyped);
}

int hsa_db_load(const char *path, const char *out, mode_t mode, hsa_warnings *w, char *err,
                size_t errlen)
{
	hsa_heap h;
	graph_job job;
	memset(&job, 0, sizeof(job));
	pthread_mutex_init(&job.lock, NULL);
	pthread_cond_init(&job.cond, NULL);
	struct stat sb;
	char *tmp = NULL;
	int rc = -1, have_heap = 0;
	double t0 = hsa_now();
	err[0] = 0;
	if (stat(path, &sb)) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		goto done;
	}
	if (hsa_heap_read(&h, path, err, errlen))
		goto done;
	have_heap = 1;
	warn_load(w, path, &h);
	hsa_addrmap_free(&h.map);
	if (asprintf(&tmp, "%s.tmp%d", out, (int)getpid()) < 0) {
		tmp = NULL;
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	/* The database holds every value preview of the dump: its file exists
	 * with its final mode before SQLite writes a byte (the load keeps no
	 * journal; SQLite makes its sort files 0600 and unlinks them at once). */
	if (!mode)
		mode = (sb.st_mode & 0666) | 0600;
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0 || fchmod(fd, mode)) {
		snprintf(err, errlen, "cannot create database '%s': %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto done;
	}
	close(fd);
	job.h = &h;
	if (pthread_create(&job.thread, NULL, graph_main, &job)) {
		snprintf(err, errlen, "cannot start a thread: %s", strerror(errno));
		goto done;
	}
	job.started = 1;
	if (write_db(&h, &job, path, &sb, tmp, t0, w, err, errlen))
		goto done;
	if (rename(tmp, out)) {
		snprintf(err, errlen, "cannot rename '%s' to '%s': %s", tmp, out, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	graph_join(&job);
	if (rc && tmp)
		unlink(tmp);
	free(tmp);
	hsa_graph_free(&job.g);
	pthread_cond_destroy(&job.cond);
	pthread_mutex_destroy(&job.lock);
	if (have_heap)
		hsa_heap_free(&h);
	return rc;
}
