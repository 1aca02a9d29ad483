/* snap.c - one dump's database read into arrays (hsa_snap); several
 * opened side by side within a memory budget. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "hsnap.h"
#include "snap.h"
#include "util.h"

/* The per-object arrays read_objects fills. */
static void free_objects(hsa_snap *s)
{
	free(s->addr);
	free(s->flags);
	free(s->trace);
	free(s->parent);
	free(s->idom);
	free(s->retained);
	free(s->size);
	free(s->pkind);
	free(s->plabel);
	free(s->sketch);
	s->addr = s->retained = s->size = s->sketch = NULL;
	s->flags = NULL;
	s->trace = s->plabel = NULL;
	s->parent = s->idom = NULL;
	s->pkind = NULL;
}

void hsa_snap_free(hsa_snap *s)
{
	if (!s)
		return;
	free(s->path);
	sqlite3_close(s->db);
	free_objects(s);
	free(s->type);
	free(s->trace_site);
	free(s->trace_all);
	free(s->roots);
	memset(s, 0, sizeof(*s));
}

/* Fills err for a failed read of s: out of memory, or the database's
 * error. Returns -1. */
static int read_failed(const hsa_snap *s, int oom, char *err, size_t errlen)
{
	if (oom)
		snprintf(err, errlen, "out of memory reading '%s'", s->path);
	else
		snprintf(err, errlen, "'%s': database query failed: %s", s->path, sqlite3_errmsg(s->db));
	return -1;
}

/* What a reading thread needs and reports. */
/* Loads in flight share a memory budget and the cores: a load's arrays
 * peak at about 4.5 times the dump's decompressed object and reference
 * records (42 bytes per object and reference, measured on bench/scale's
 * heaps), so three 30M-object loads side by side would take 12 GB; and a
 * load keeps two cores busy (the graph work beside the database writes),
 * so on two cores three loads side by side take as long as in turn
 * (bench/scale, 5M objects: 39.8 s and 39.2 s) with 0.6 GB more at the
 * peak. A load waits while others run and it would not fit; the first
 * always runs. */
typedef struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t budget, in_use;
	long slots, running;
} gate;

static void gate_enter(gate *g, uint64_t need)
{
	pthread_mutex_lock(&g->lock);
	while (g->running && (g->running >= g->slots || g->in_use + need > g->budget))
		pthread_cond_wait(&g->cond, &g->lock);
	g->in_use += need;
	g->running++;
	pthread_mutex_unlock(&g->lock);
}

static void gate_leave(gate *g, uint64_t need)
{
	pthread_mutex_lock(&g->lock);
	g->in_use -= need;
	g->running--;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* What loading path would take at its peak; 0 when it has a database. */
static uint64_t load_need(const char *path)
{
	char err[256];
	if (hsa_db_cached(path))
		return 0;
	hs_reader *r = hs_reader_open(path, err, sizeof(err));
	hs_section sec;
	uint64_t raw = 0;
	int s;
	while (r && (s = hs_reader_next_section(r, &sec)) != 0)
		if (s > 0 && (sec.kind == HS_K_OBJECTS || sec.kind == HS_K_REFS))
			raw += sec.raw_len;
	hs_reader_free(r);
	return raw / 2 * 9;
}

/* HEAPSNAP_LOAD_MEMORY when set (a container's /proc/meminfo shows the
 * host's), else a third of the memory available: room for the objects
 * read from each database afterwards and for whatever else runs. */
static uint64_t load_budget(hsa_warnings *w)
{
	const char *env = getenv("HEAPSNAP_LOAD_MEMORY");
	uint64_t set;
	if (env && !hsa_parse_size(env, &set))
		return set;
	if (env)
		hsa_warnings_add(w, "HEAPSNAP_LOAD_MEMORY='%s' is not a size (bytes, or with K, M,"
		                 " G); using a third of the available memory", env);
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	uint64_t kb = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %" SCNu64, &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb ? kb * 1024 / 3 : UINT64_MAX;
}

typedef struct job {
	hsa_snap *s;
	gate *gate;
	uint64_t need;     /* its load's memory, 0 if already loaded */
	int objects;       /* read the objects too, not just open */
	uint32_t *db_type; /* [n] the database's type id, mapped to names later */
	uint64_t *shash;   /* [nstrings + 1] hash of each string of the database */
	uint64_t nstrings;
	uint32_t *vhash;   /* [n] hash of each object's value preview, 0 for none */
	uint32_t *depth;   /* [n] the database's depth, to check the parents */
	uint64_t cancelled; /* shash of "_cancelled" */
	uint32_t vtrue;     /* vhash of True */
	hsa_warnings w;     /* its open's and reload's, given to the caller in order */
	char err[1024];
	int rc;
} job;

static hsa_node node_or_none(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? HSA_NONE
	                                               : (hsa_node)(sqlite3_column_int64(st, i) - 1);
}

/* The largest id of table (objects, strings, tracebacks), 0 when empty.
 * Returns 0, or -1 with err filled. */
static int max_id(const hsa_snap *s, const char *table, int64_t *n, char *err, size_t errlen)
{
	char sql[64];
	snprintf(sql, sizeof(sql), "SELECT max(id) FROM %s", table);
	sqlite3_stmt *st = hsa_db_prepare(s->db, sql, err, errlen);
	int r = st ? sqlite3_step(st) : SQLITE_ERROR;
	*n = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	if (r != SQLITE_ROW)
		return st ? read_failed(s, 0, err, errlen) : -1;
	if (*n < 0 || (uint64_t)*n > HSA_MAX_NODES) {
		snprintf(err, errlen, "'%s': bad %s ids in the database", s->path, table);
		return -1;
	}
	return 0;
}

/* The strings of the database hashed by content: labels are string ids,
 * which differ from dump to dump. */
static int read_strings(job *jb)
{
	hsa_snap *s = jb->s;
	sqlite3_stmt *st = NULL;
	int rc = -1, r;
	int64_t n;
	if (max_id(s, "strings", &n, jb->err, sizeof(jb->err)))
		goto done;
	jb->nstrings = (uint64_t)n;
	if (!(jb->shash = calloc(jb->nstrings + 1, sizeof(uint64_t)))) {
		read_failed(s, 1, jb->err, sizeof(jb->err));
		goto done;
	}
	if (!(st = hsa_db_prepare(s->db, "SELECT id, s FROM strings", jb->err, sizeof(jb->err))))
		goto done;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const void *text = sqlite3_column_blob(st, 1);
		if (id >= 1 && id <= n)
			jb->shash[id] = hsa_hash_bytes(text, (size_t)sqlite3_column_bytes(st, 1));
	}
	rc = r == SQLITE_DONE ? 0 : read_failed(s, 0, jb->err, sizeof(jb->err));
done:
	sqlite3_finalize(st);
	return rc;
}

/* Identity evidence (match.h): one bit of v's 64-bit sketch per scalar
 * value v holds, its own included, keyed by the edge kind and label. */
static uint64_t evidence_bit(int kind, uint64_t label, uint32_t vhash)
{
	return 1ull << (hsa_hash_mix(((uint64_t)(unsigned)kind << 56) ^ label ^
	                             ((uint64_t)vhash << 20)) & 63);
}

/* Whether every BFS parent is an object one step nearer a root: a
 * crafted or damaged database could make the parents loop. Returns 0, or
 * 1 with jb->err saying which object is wrong. */
static int parents_damaged(job *jb)
{
	const hsa_snap *s = jb->s;
	for (uint64_t v = 0; v < s->n; v++) {
		hsa_node p = s->parent[v];
		if (p != HSA_NONE && (p >= s->n || jb->depth[p] + 1 != jb->depth[v])) {
			snprintf(jb->err, sizeof(jb->err),
			         "the path of object %" PRIu64 " to a root breaks at object %" PRIu64,
			         v + 1, (uint64_t)p + 1);
			return 1;
		}
	}
	return 0;
}

/* The objects table into arrays, then the kind and label of every
 * object's reference from its BFS parent: one pass over the edges rows
 * is far cheaper than a lookup per object. Returns 0, -1 with jb->err, or
 * 1 for a database whose parents are inconsistent (jb->err says why). */
static int read_objects(job *jb)
{
	hsa_snap *s = jb->s;
	sqlite3_stmt *st = NULL;
	int rc = -1, nomem = 0;
	int64_t n;
	if (max_id(s, "objects", &n, jb->err, sizeof(jb->err)))
		goto done;
	s->n = (uint64_t)n;
	uint64_t c = s->n ? s->n : 1;
	s->addr = calloc(c, sizeof(uint64_t));
	jb->db_type = calloc(c, sizeof(uint32_t));
	s->flags = calloc(c, sizeof(uint16_t));
	s->trace = calloc(c, sizeof(uint32_t));
	s->parent = malloc(c * sizeof(hsa_node));
	s->idom = malloc(c * sizeof(hsa_node));
	s->retained = calloc(c, sizeof(uint64_t));
	s->size = calloc(c, sizeof(uint64_t));
	s->pkind = malloc(c);
	s->plabel = calloc(c, sizeof(uint32_t));
	s->sketch = calloc(c, sizeof(uint64_t));
	jb->vhash = calloc(c, sizeof(uint32_t));
	jb->depth = calloc(c, sizeof(uint32_t));
	if (!s->addr || !jb->db_type || !s->flags || !s->trace || !s->parent || !s->idom ||
	    !s->retained || !s->size || !s->pkind || !s->plabel || !s->sketch || !jb->vhash ||
	    !jb->depth) {
		nomem = 1;
		goto done;
	}
	memset(s->parent, 0xff, c * sizeof(hsa_node));
	memset(s->idom, 0xff, c * sizeof(hsa_node));
	memset(s->pkind, 0xff, c);
	if (!(st = hsa_db_prepare(s->db,
	                          "SELECT id, addr, type, flags, trace, reachable, parent, idom,"
	                          " retained, size, value, depth FROM objects",
	                          jb->err, sizeof(jb->err))))
		goto done;
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (id < 1 || id > n)
			continue;
		uint64_t v = (uint64_t)id - 1;
		s->addr[v] = (uint64_t)sqlite3_column_int64(st, 1);
		int64_t t = sqlite3_column_int64(st, 2), tr = sqlite3_column_int64(st, 4);
		jb->db_type[v] = t > 0 && t < UINT32_MAX ? (uint32_t)t : 0;
		s->flags[v] = (uint16_t)((sqlite3_column_int64(st, 3) & HS_OF_KNOWN_MASK) |
		                         (sqlite3_column_int(st, 5) ? HSA_SNAP_REACHABLE : 0));
		s->trace[v] = tr > 0 && tr < UINT32_MAX ? (uint32_t)tr : 0;
		s->parent[v] = node_or_none(st, 6);
		s->idom[v] = node_or_none(st, 7);
		s->retained[v] = (uint64_t)sqlite3_column_int64(st, 8);
		s->size[v] = (uint64_t)sqlite3_column_int64(st, 9);
		jb->depth[v] = (uint32_t)sqlite3_column_int64(st, 11);
		if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
			const void *val = sqlite3_column_blob(st, 10);
			uint32_t h = (uint32_t)hsa_hash_bytes(val, (size_t)sqlite3_column_bytes(st, 10));
			jb->vhash[v] = h ? h : 1;
			/* Singletons (None, True, small ints) are everybody's:
			 * no evidence. */
			if (!(s->flags[v] & HS_OF_STATIC))
				s->sketch[v] |= evidence_bit(-1, 0, jb->vhash[v]);
		}
	}
	if (r != SQLITE_DONE)
		goto done;
	sqlite3_finalize(st);
	st = NULL;
	if (parents_damaged(jb)) {
		rc = 1;
		goto done;
	}
	/* The edges rows' JSON parsed here: the refs view's json_each costs
	 * ten times more per reference. */
	if (!(st = hsa_db_prepare(s->db, "SELECT id, refs FROM edges WHERE refs IS NOT NULL",
	                          jb->err, sizeof(jb->err))))
		goto done;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t src = sqlite3_column_int64(st, 0) - 1, dst, label;
		const char *p = (const char *)sqlite3_column_text(st, 1);
		int kind, e;
		while ((e = hsa_edges_next(&p, &dst, &kind, &label)) > 0) {
			dst--;
			if (kind == HS_E_WEAK || dst < 0 || dst >= n)
				continue;
			if (jb->vhash[dst] && src >= 0 && src < n) {
				uint64_t lh = kind == HS_E_INDEX ? (uint64_t)label
				              : label > 0 && (uint64_t)label <= jb->nstrings ? jb->shash[label]
				                                                            : 0;
				if (!(s->flags[dst] & HS_OF_STATIC))
					s->sketch[src] |= evidence_bit(kind, lh, jb->vhash[dst]);
				else if (kind == HS_E_ATTR && lh == jb->cancelled && jb->vhash[dst] == jb->vtrue)
					s->flags[src] |= HSA_SNAP_DEAD;
			}
			if (s->parent[dst] != (hsa_node)src || s->pkind[dst] != 0xff)
				continue;
			s->pkind[dst] = (uint8_t)kind;
			s->plabel[dst] = kind != HS_E_INDEX && label > 0 && label < UINT32_MAX
			                         ? (uint32_t)label
			                         : 0;
		}
		if (e < 0) {
			snprintf(jb->err, sizeof(jb->err), "'%s': bad references of object %" PRId64
			         " in the database", s->path, src + 1);
			goto done;
		}
	}
	rc = r == SQLITE_DONE ? 0 : -1;
done:
	if (rc && !jb->err[0])
		read_failed(s, nomem, jb->err, sizeof(jb->err));
	sqlite3_finalize(st);
	free(jb->depth);
	jb->depth = NULL;
	return rc;
}

static void *job_main(void *arg)
{
	job *jb = arg;
	if (jb->need)
		gate_enter(jb->gate, jb->need);
	jb->rc = hsa_db_open(jb->s->path, &jb->s->db, &jb->w, jb->err, sizeof(jb->err)) ? -1 : 0;
	if (jb->need)
		gate_leave(jb->gate, jb->need);
	if (!jb->rc && jb->objects) {
		/* The scans read each page once: a small page cache does as
		 * well and keeps three dumps' caches from adding 200 MB. */
		sqlite3_exec(jb->s->db, "PRAGMA cache_size=-4096", NULL, NULL, NULL);
		jb->cancelled = hsa_hash_bytes("_cancelled", 10);
		jb->vtrue = (uint32_t)hsa_hash_bytes("True", 4);
		jb->rc = read_strings(jb) ? -1 : read_objects(jb);
		if (jb->rc == 1) {
			/* a dump's damaged cache is loaded again, then read once more */
			char why[sizeof(jb->err)];
			snprintf(why, sizeof(why), "%s", jb->err);
			jb->err[0] = 0;
			free_objects(jb->s);
			free(jb->db_type);
			free(jb->vhash);
			jb->db_type = NULL;
			jb->vhash = NULL;
			jb->rc = hsa_db_damaged(jb->s->db, why, &jb->w, jb->err, sizeof(jb->err)) ? -1
			         : read_objects(jb);
			if (jb->rc == 1) {
				snprintf(why, sizeof(why), "%s", jb->err);
				snprintf(jb->err, sizeof(jb->err), "'%.400s': damaged database (%.400s)",
				         jb->s->path, why);
				jb->rc = -1;
			}
		}
		free(jb->shash);
		free(jb->vhash);
		jb->shash = NULL;
		jb->vhash = NULL;
	}
	return NULL;
}


/* Where each traceback's object was made ("file:line", see
 * hsa_snap_site), and the whole traceback's text. */
static int read_traces(hsa_snap *s, hsa_names *names, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	hsa_str all = {0};
	int rc = -1, r, app = 0, nomem = 0;
	int64_t cur = -1;
	if (!(st = hsa_db_prepare(s->db, "SELECT max(id) FROM tracebacks", err, errlen)) ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto done;
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	s->ntraces = n > 0 && n < UINT32_MAX ? (uint64_t)n : 0;
	s->trace_site = calloc(s->ntraces + 1, sizeof(uint32_t));
	s->trace_all = calloc(s->ntraces + 1, sizeof(uint32_t));
	if (!s->trace_site || !s->trace_all) {
		nomem = 1;
		goto done;
	}
	static const char sql[] =
		"SELECT tf.traceback, tf.depth, f.filename || ':' || f.lineno FROM traceback_frames tf"
		" JOIN frames f ON f.id = tf.frame ORDER BY tf.traceback, tf.depth";
	if (!(st = hsa_db_prepare(s->db, sql, err, errlen)))
		goto done;
	/* One row past the end flushes the last traceback. */
	for (;;) {
		r = sqlite3_step(st);
		if (r != SQLITE_ROW && r != SQLITE_DONE)
			goto done;
		int64_t tb = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -2;
		if (tb != cur && cur > 0 && (uint64_t)cur <= s->ntraces && all.s) {
			if ((s->trace_all[cur] = hsa_names_id(names, all.s, all.len)) == HSA_KMAP_NONE) {
				nomem = 1;
				goto done;
			}
		}
		if (r == SQLITE_DONE)
			break;
		const char *at = (const char *)sqlite3_column_text(st, 2);
		if (tb != cur) {
			all.len = 0;
			cur = tb;
			app = 0;
		}
		/* The innermost frame, replaced by the innermost one of the
		 * program (not the standard library) when there is one. */
		if (tb > 0 && (uint64_t)tb <= s->ntraces && at && !app &&
		    (!s->trace_site[tb] || !hsa_file_stdlib(at))) {
			if ((s->trace_site[tb] = hsa_names_id(names, at, strlen(at))) == HSA_KMAP_NONE) {
				nomem = 1;
				goto done;
			}
			app = !hsa_file_stdlib(at);
		}
		if (at && hsa_str_printf(&all, "%s%s", all.len ? " <- " : "", at)) {
			nomem = 1;
			goto done;
		}
	}
	rc = 0;
done:
	if (rc)
		read_failed(s, nomem, err, errlen);
	sqlite3_finalize(st);
	hsa_str_free(&all);
	return rc;
}

static int cmp_root(const void *a, const void *b)
{
	hsa_node x = ((const hsa_snap_root *)a)->node, y = ((const hsa_snap_root *)b)->node;
	return x < y ? -1 : x > y;
}

static uint32_t root_kind(const char *name)
{
	for (uint32_t k = 0; k <= HS_R_MAX_KNOWN; k++)
		if (!strcmp(name, hs_root_kind_name(k)))
			return k;
	return HS_R_OTHER;
}

/* How a root is held, in words that stay the same from dump to dump (no
 * lengths or line numbers, unlike hsa_root_text): "module app",
 * "sys.modules", "frame run", "method Conn.close held from C". */
static int root_words(uint32_t kind, const char *rname, const char *type, const char *oname,
                      hsa_str *out)
{
	const char *dot = strrchr(type, '.');
	const char *tshort = dot ? dot + 1 : type;
	size_t olen = oname ? strcspn(oname, " ") : 0;
	switch (kind) {
	case HS_R_MODULES:
		return rname ? hsa_str_printf(out, "module %s", rname) : hsa_str_printf(out, "sys.modules");
	case HS_R_BUILTINS:
		return hsa_str_printf(out, "builtins");
	case HS_R_SYSDICT:
		return hsa_str_printf(out, "sys.__dict__");
	case HS_R_ASYNC_TASK:
		return hsa_str_printf(out, "asyncio task");
	case HS_R_HELD_FROM_C:
		/* the dumper names the C holders it knows, "registered with
		 * atexit (callback 3 of 5)": the words before the parenthesis,
		 * as members of one group differ in it */
		if (rname)
			return hsa_str_printf(out, "%s%s%.*s %.*s", tshort, olen ? " " : "", (int)olen,
			                      olen ? oname : "", (int)(strstr(rname, " (")
			                      ? (size_t)(strstr(rname, " (") - rname) : strlen(rname)),
			                      rname);
		/* fall through */
	default:
		return hsa_str_printf(out, "%s%s%s%.*s%s", kind == HS_R_STATIC ? "static " : "", tshort,
		                      olen ? " " : "", (int)olen, olen ? oname : "",
		                      kind == HS_R_HELD_FROM_C ? " held from C" : "");
	}
}

static int read_roots(hsa_snap *s, hsa_names *names, char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT r.object, r.kind, r.name, coalesce(t.name, ''), o.name FROM roots r"
		" JOIN objects o ON o.id = r.object LEFT JOIN types t ON t.id = o.type"
		" ORDER BY r.object, r.id";
	sqlite3_stmt *st = hsa_db_prepare(s->db, sql, err, errlen);
	hsa_str w = {0};
	uint64_t cap = 0;
	int rc = -1, r, nomem = 1;
	if (!st)
		return -1;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (id < 1 || (uint64_t)id > s->n ||
		    (s->nroots && s->roots[s->nroots - 1].node == (hsa_node)(id - 1)))
			continue;
		if (s->nroots == cap) {
			cap = cap ? cap * 2 : 256;
			hsa_snap_root *p = realloc(s->roots, cap * sizeof(hsa_snap_root));
			if (!p)
				goto done;
			s->roots = p;
		}
		uint32_t kind = root_kind((const char *)sqlite3_column_text(st, 1));
		w.len = 0;
		if (root_words(kind, (const char *)sqlite3_column_text(st, 2),
		               (const char *)sqlite3_column_text(st, 3),
		               (const char *)sqlite3_column_text(st, 4), &w))
			goto done;
		uint32_t text = hsa_names_id(names, w.s, w.len);
		if (text == HSA_KMAP_NONE)
			goto done;
		s->roots[s->nroots++] = (hsa_snap_root){(hsa_node)(id - 1), kind, text};
	}
	/* ORDER BY r.object keeps them sorted by node already. */
	nomem = 0;
	rc = r == SQLITE_DONE ? 0 : -1;
done:
	if (rc)
		read_failed(s, nomem, err, errlen);
	sqlite3_finalize(st);
	hsa_str_free(&w);
	return rc;
}

/* Maps the database's type ids to names ids, in place. */
static int read_types(hsa_snap *s, const uint32_t *db_type, hsa_names *names, char *err,
                      size_t errlen)
{
	sqlite3_stmt *st = hsa_db_prepare(s->db, "SELECT id, name FROM types ORDER BY id", err,
	                                  errlen);
	uint32_t *map = NULL;
	uint64_t nmap = 0;
	int rc = -1, r, nomem = 1;
	if (!st)
		return -1;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		if (id < 0 || id >= UINT32_MAX)
			continue;
		if ((uint64_t)id >= nmap) {
			uint64_t cap = (uint64_t)id * 2 + 2;
			uint32_t *p = realloc(map, cap * sizeof(uint32_t));
			if (!p)
				goto done;
			memset(p + nmap, 0, (cap - nmap) * sizeof(uint32_t));
			map = p;
			nmap = cap;
		}
		if ((map[id] = hsa_names_id(names, name ? name : "", name ? strlen(name) : 0)) ==
		    HSA_KMAP_NONE)
			goto done;
	}
	if (r != SQLITE_DONE) {
		nomem = 0;
		goto done;
	}
	s->type = malloc((s->n ? s->n : 1) * sizeof(uint32_t));
	if (!s->type)
		goto done;
	for (uint64_t v = 0; v < s->n; v++)
		s->type[v] = db_type[v] < nmap ? map[db_type[v]] : 0;
	rc = 0;
done:
	if (rc)
		read_failed(s, nomem, err, errlen);
	sqlite3_finalize(st);
	free(map);
	return rc;
}

/* Opens the n databases in parallel (one thread each: loads and reads are
 * SQLite-bound and the connections independent; loads as memory allows),
 * reading the objects when objects is set. On failure err has the first
 * dump's problem. */
static int open_all(hsa_snap *snaps, const char *const *paths, int n, int objects,
                    job *jobs, hsa_warnings *w, char *err, size_t errlen)
{
	pthread_t *tids = calloc((size_t)n, sizeof(pthread_t));
	int rc = -1, started = 0;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, load_budget(w), 0,
	          cores >= 4 ? cores / 2 : 1, 0};
	if (!tids) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		jobs[i].s = &snaps[i];
		jobs[i].gate = &g;
		jobs[i].need = load_need(paths[i]);
		jobs[i].objects = objects;
		if (!(snaps[i].path = strdup(paths[i]))) {
			snprintf(err, errlen, "out of memory");
			goto done;
		}
	}
	for (; started < n; started++)
		if (pthread_create(&tids[started], NULL, job_main, &jobs[started]))
			break;
	for (int i = started; i < n; i++)
		job_main(&jobs[i]);
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	/* in the order of the dumps, not of the threads' finishing */
	for (int i = 0; i < n; i++)
		hsa_warnings_move(w, &jobs[i].w);
	for (int i = 0; i < n; i++)
		if (jobs[i].rc) {
			snprintf(err, errlen, "%s", jobs[i].err);
			goto done;
		}
	rc = 0;
done:
	free(tids);
	return rc;
}

int hsa_dbs_open(sqlite3 **dbs, const char *const *paths, int n, hsa_warnings *w, char *err,
                 size_t errlen)
{
	hsa_snap *snaps = calloc((size_t)n, sizeof(hsa_snap));
	job *jobs = calloc((size_t)n, sizeof(job));
	int rc = -1;
	if (!snaps || !jobs)
		snprintf(err, errlen, "out of memory");
	else
		rc = open_all(snaps, paths, n, 0, jobs, w, err, errlen);
	for (int i = 0; snaps && i < n; i++) {
		dbs[i] = rc ? NULL : snaps[i].db;
		if (!rc)
			snaps[i].db = NULL;
		hsa_snap_free(&snaps[i]);
	}
	free(snaps);
	free(jobs);
	return rc;
}

/* What a dead object alone keeps alive (it dominates it: a cancelled
 * timer's context and arguments) is dead with it. Each object's
 * dominator chain is climbed once: the chain's undecided objects are
 * pushed, then decided top-down. Returns 0, or -1 when out of memory. */
static int dead_dominated(hsa_snap *s)
{
	enum { UNKNOWN, ALIVE, DEAD };
	uint8_t *st = calloc(s->n ? s->n : 1, 1);
	hsa_node *stack = malloc((s->n ? s->n : 1) * sizeof(hsa_node));
	if (!st || !stack) {
		free(st);
		free(stack);
		return -1;
	}
	for (uint64_t v = 0; v < s->n; v++) {
		uint64_t depth = 0;
		hsa_node x = (hsa_node)v;
		while (x < s->n && st[x] == UNKNOWN && !(s->flags[x] & HSA_SNAP_DEAD) && depth < s->n) {
			stack[depth++] = x;
			x = s->idom[x];
		}
		int dead = x < s->n && (st[x] == DEAD || (s->flags[x] & HSA_SNAP_DEAD));
		if (x < s->n && st[x] == UNKNOWN)
			st[x] = dead ? DEAD : ALIVE;
		while (depth) {
			hsa_node w = stack[--depth];
			st[w] = dead ? DEAD : ALIVE;
			if (dead)
				s->flags[w] |= HSA_SNAP_DEAD;
		}
	}
	free(st);
	free(stack);
	return 0;
}

/* HSA_SNAP_DEAD stays only on asyncio handles (a user's object with a
 * `_cancelled` flag may well be a leak), and is added to done tasks and
 * futures, then to what they alone keep alive. */
static int read_dead(hsa_snap *s, hsa_names *names, char *err, size_t errlen)
{
	static const char *const handles[] = { "asyncio.events.Handle", "asyncio.events.TimerHandle" };
	uint32_t h[2];
	for (int i = 0; i < 2; i++)
		if ((h[i] = hsa_names_id(names, handles[i], strlen(handles[i]))) == HSA_KMAP_NONE)
			return read_failed(s, 1, err, errlen);
	for (uint64_t v = 0; v < s->n; v++)
		if (s->type[v] != h[0] && s->type[v] != h[1])
			s->flags[v] &= (uint16_t)~HSA_SNAP_DEAD;
	sqlite3_stmt *st = hsa_db_prepare(s->db, "SELECT object FROM tasks WHERE state <> 'pending'",
	                                  err, errlen);
	int r;
	if (!st)
		return -1;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (id >= 1 && (uint64_t)id <= s->n)
			s->flags[id - 1] |= HSA_SNAP_DEAD;
	}
	sqlite3_finalize(st);
	if (r != SQLITE_DONE)
		return read_failed(s, 0, err, errlen);
	return dead_dominated(s) ? read_failed(s, 1, err, errlen) : 0;
}

int hsa_snaps_open(hsa_snap *snaps, const char *const *paths, int n, hsa_names *names,
                   hsa_warnings *w, char *err, size_t errlen)
{
	job *jobs = calloc((size_t)n, sizeof(job));
	int rc = -1;
	memset(snaps, 0, (size_t)n * sizeof(hsa_snap));
	if (!jobs) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (open_all(snaps, paths, n, 1, jobs, w, err, errlen))
		goto done;
	for (int i = 0; i < n; i++) {
		hsa_snap *s = &snaps[i];
		s->tracing = hsa_db_meta_int(s->db, "tracemalloc.tracing", 0) > 0;
		if (read_types(s, jobs[i].db_type, names, err, errlen) ||
		    read_traces(s, names, err, errlen) || read_roots(s, names, err, errlen) ||
		    read_dead(s, names, err, errlen))
			goto done;
	}
	rc = 0;
done:
	for (int i = 0; i < n; i++)
		free(jobs[i].db_type);
	free(jobs);
	if (rc)
		for (int i = 0; i < n; i++)
			hsa_snap_free(&snaps[i]);
	return rc;
}

uint32_t hsa_snap_site(const hsa_snap *s, hsa_node v)
{
	uint32_t t = s->trace[v];
	return t && t <= s->ntraces ? s->trace_site[t] : 0;
}

const hsa_snap_root *hsa_snap_root_of(const hsa_snap *s, hsa_node v)
{
	hsa_snap_root key = {v, 0, 0};
	return s->nroots ? bsearch(&key, s->roots, s->nroots, sizeof(hsa_snap_root), cmp_root)
	                 : NULL;
}
