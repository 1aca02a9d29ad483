/* cmd_diff.c - 'heapsnap diff': what changed between two dumps, by group
 * (objgraph's show_growth, tracemalloc's compare_to, with retained size),
 * or the objects of the newer dump that were not in the older one. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "db.h"
#include "hsnap.h"
#include "match.h"
#include "memory.h"
#include "native.h"
#include "series.h"

static const char *const sort_names[] = {"size", "count", "retained", NULL};

/* One group in both dumps: [0] the older, [1] the newer. */
typedef struct row {
	uint32_t name;
	int64_t v[3][2]; /* count, size, retained (the order of sort_names is size first) */
} row;

enum { COUNT, SIZE, RETAINED };

typedef struct rows {
	hsa_names names;
	hsa_kmap index; /* name -> row */
	row *r;
	uint64_t n, cap;
} rows;

static void rows_free(rows *t)
{
	hsa_names_free(&t->names);
	hsa_kmap_free(&t->index);
	free(t->r);
}

/* The row of a group name, added when new; NULL when out of memory. */
static row *row_of(rows *t, const char *name)
{
	uint32_t id = hsa_names_id(&t->names, name, strlen(name));
	if (id == HSA_KMAP_NONE)
		return NULL;
	if (t->n == t->cap) {
		uint64_t cap = t->cap ? t->cap * 2 : 256;
		row *p = realloc(t->r, cap * sizeof(row));
		if (!p)
			return NULL;
		t->r = p;
		t->cap = cap;
	}
	uint32_t key[4] = {id, 0, 0, 0};
	uint32_t i = hsa_kmap_put(&t->index, key, (uint32_t)t->n);
	if (i == HSA_KMAP_NONE)
		return NULL;
	if (i == t->n) {
		memset(&t->r[i], 0, sizeof(row));
		t->r[i].name = id;
		t->n++;
	}
	return &t->r[i];
}

/* Reads the groups of one dump into column k of the rows. */
static int read_groups(sqlite3 *db, const char *path, int by, int k, rows *t, char *err,
                       size_t errlen)
{
	sqlite3_stmt *st = hsa_db_prepare(db, hsa_group_sql[by], err, errlen);
	int r;
	if (!st)
		return -1;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		row *w = row_of(t, name ? name : "");
		if (!w) {
			sqlite3_finalize(st);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		w->v[COUNT][k] += sqlite3_column_int64(st, 1);
		w->v[SIZE][k] += sqlite3_column_int64(st, 2);
		w->v[RETAINED][k] += sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	if (r != SQLITE_DONE) {
		snprintf(err, errlen, "'%s': database query failed: %s", path, sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

static int sort_key;

static int by_growth(const void *a, const void *b)
{
	const row *x = a, *y = b;
	int64_t dx = x->v[sort_key][1] - x->v[sort_key][0];
	int64_t dy = y->v[sort_key][1] - y->v[sort_key][0];
	if (dx != dy)
		return dx > dy ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name;
}

/* "+1,234", "-56", "0"; bytes as "+1.5 MiB". */
static const char *signed_text(int64_t d, int bytes, char *buf)
{
	char t[32];
	uint64_t m = d < 0 ? (uint64_t)-d : (uint64_t)d;
	snprintf(buf, 40, "%s%s", d > 0 ? "+" : d < 0 ? "-" : "",
	         bytes ? hsa_human_size(m, t) : hsa_human_count(m, t));
	return buf;
}

static void json_pair(hsa_json *j, const char *key, const int64_t *v, const char *dkey)
{
	hsa_json_array(j, key);
	hsa_json_int(j, NULL, v[0]);
	hsa_json_int(j, NULL, v[1]);
	hsa_json_end(j);
	hsa_json_int(j, dkey, v[1] - v[0]);
}

static int diff_groups(char **paths, int by, int sort, uint64_t max, int json, char *err,
                       size_t errlen)
{
	sqlite3 *db[2] = {NULL, NULL};
	rows t = {0};
	hsa_table *tab = NULL;
	int rc = -1;
	int64_t tot[2][2];
	hsa_mem mem[2];
	hsa_native_dump nat[2];
	hsa_native_finding *nf = NULL;
	size_t nnf = 0;
	hsa_str line = {0}, tty = {0};
	memset(nat, 0, sizeof(nat));
	err[0] = 0;
	hsa_warnings warnings = {0};
	int failed = hsa_dbs_open(db, (const char *const *)paths, 2, &warnings, err, errlen);
	hsa_warnings_print(&warnings);
	if (failed || read_groups(db[0], paths[0], by, 0, &t, err, errlen) ||
	    read_groups(db[1], paths[1], by, 1, &t, err, errlen) ||
	    hsa_native_read(db[0], &nat[0], err, errlen) || hsa_native_read(db[1], &nat[1], err, errlen))
		goto done;
	/* with both dumps taken under run --native: the sites that grew */
	int native = nat[0].tracked && nat[1].tracked;
	for (int k = 0; k < 2; k++) {
		tot[k][0] = hsa_db_meta_int(db[k], "load.objects", 0);
		tot[k][1] = hsa_db_meta_int(db[k], "load.bytes", 0);
		hsa_mem_read(db[k], &mem[k]);
	}
	if (native && hsa_native_compare(nat, 2, hsa_mem_noise(mem[1].rss), &nf, &nnf))
		goto done;
	/* Only what changed, largest growth first. */
	uint64_t n = 0;
	for (uint64_t i = 0; i < t.n; i++) {
		const row *w = &t.r[i];
		if (w->v[COUNT][0] != w->v[COUNT][1] || w->v[SIZE][0] != w->v[SIZE][1] ||
		    w->v[RETAINED][0] != w->v[RETAINED][1])
			t.r[n++] = *w;
	}
	static const int key_of_sort[] = {SIZE, COUNT, RETAINED};
	sort_key = key_of_sort[sort];
	if (n)
		qsort(t.r, n, sizeof(row), by_growth);
	if (n > max)
		n = max;
	if (json) {
		hsa_json j;
		hsa_json_init(&j, stdout);
		hsa_json_open(&j, NULL);
		hsa_json_str(&j, "old", paths[0]);
		hsa_json_str(&j, "new", paths[1]);
		hsa_json_str(&j, "by", hsa_group_by[by]);
		hsa_json_str(&j, "sort", sort_names[sort]);
		int64_t objs[2] = {tot[0][0], tot[1][0]}, bytes[2] = {tot[0][1], tot[1][1]};
		json_pair(&j, "objects", objs, "objects_delta");
		json_pair(&j, "bytes", bytes, "bytes_delta");
		hsa_mem_json_dumps(&j, "memory", mem, 2);
		if (native)
			hsa_native_json(&j, "native", nf, nnf);
		hsa_json_array(&j, "rows");
		for (uint64_t i = 0; i < n; i++) {
			const row *w = &t.r[i];
			hsa_json_open(&j, NULL);
			hsa_json_str(&j, hsa_group_by[by], hsa_names_str(&t.names, w->name));
			json_pair(&j, "count", w->v[COUNT], "count_delta");
			json_pair(&j, "size", w->v[SIZE], "size_delta");
			json_pair(&j, "retained", w->v[RETAINED], "retained_delta");
			hsa_json_close(&j);
		}
		hsa_json_end_document(&j);
		rc = 0;
		goto done;
	}
	char a[40], b[40], c[40], d[40], e[40], f[40];
	printf("%s → %s: %s → %s objects (%s), %s → %s (%s); by %s, largest %s growth first\n",
	       paths[0], paths[1], hsa_human_count((uint64_t)tot[0][0], a),
	       hsa_human_count((uint64_t)tot[1][0], b), signed_text(tot[1][0] - tot[0][0], 0, c),
	       hsa_human_size((uint64_t)tot[0][1], d), hsa_human_size((uint64_t)tot[1][1], e),
	       signed_text(tot[1][1] - tot[0][1], 1, f), hsa_group_by[by], sort_names[sort]);
	if (hsa_mem_print(stdout, "  memory  ", &mem[1], &mem[0], "OLD"))
		goto done;
	for (size_t i = 0; i < nnf; i++) {
		line.len = 0;
		if (hsa_native_sentence(&nf[i], &line))
			goto done;
		printf("  %s\n", hsa_tty(&tty, line.s));
	}
	if (!n) {
		printf("  no %s changed\n", hsa_group_by[by]);
		rc = 0;
		goto done;
	}
	const char *heads[] = {hsa_group_by[by], "count", "Δcount", "size", "Δsize", "retained",
	                       "Δretained"};
	if (!(tab = hsa_table_new(7, heads, "lrrrrrr")))
		goto done;
	for (uint64_t i = 0; i < n; i++) {
		const row *w = &t.r[i];
		if (hsa_table_row(tab) || hsa_table_cell(tab, "%s", hsa_names_str(&t.names, w->name)) ||
		    hsa_table_cell(tab, "%s", hsa_human_count((uint64_t)w->v[COUNT][1], a)) ||
		    hsa_table_cell(tab, "%s", signed_text(w->v[COUNT][1] - w->v[COUNT][0], 0, b)) ||
		    hsa_table_cell(tab, "%s", hsa_human_size((uint64_t)w->v[SIZE][1], a)) ||
		    hsa_table_cell(tab, "%s", signed_text(w->v[SIZE][1] - w->v[SIZE][0], 1, b)) ||
		    hsa_table_cell(tab, "%s", hsa_human_size((uint64_t)w->v[RETAINED][1], a)) ||
		    hsa_table_cell(tab, "%s", signed_text(w->v[RETAINED][1] - w->v[RETAINED][0], 1, b)))
			goto done;
	}
	hsa_table_print(tab, stdout, "  ");
	rc = 0;
done:
	if (rc && !err[0])
		snprintf(err, errlen, "out of memory");
	hsa_table_free(tab);
	rows_free(&t);
	free(nf);
	hsa_native_dump_free(&nat[0]);
	hsa_native_dump_free(&nat[1]);
	hsa_str_free(&line);
	hsa_str_free(&tty);
	sqlite3_close(db[0]);
	sqlite3_close(db[1]);
	return rc;
}

/* ---- --new ------------------------------------------------------------- */

typedef struct fresh {
	hsa_node v;
	uint64_t retained;
} fresh;

static int by_retained(const void *a, const void *b)
{
	const fresh *x = a, *y = b;
	if (x->retained != y->retained)
		return x->retained > y->retained ? -1 : 1;
	return x->v < y->v ? -1 : x->v > y->v;
}

static int by_size_desc(const void *a, const void *b)
{
	const row *x = a, *y = b;
	if (x->v[SIZE][1] != y->v[SIZE][1])
		return x->v[SIZE][1] > y->v[SIZE][1] ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name;
}

/* The module of every type (keyed by the names id of the type's name) or
 * the innermost frame of every traceback id, as the newer database has
 * them; group names go into t. */
static int group_names(const hsa_snap *s, int by, hsa_names *names, rows *t, hsa_kmap *modules,
                       uint32_t **frame, uint64_t *nframe, char *err, size_t errlen)
{
	static const char *const sql[] = {
		NULL,
		"SELECT name, module FROM types",
		"SELECT t.id, f.filename || ':' || f.lineno FROM tracebacks t"
		" JOIN frames f ON f.id = t.frame",
	};
	if (!sql[by])
		return 0;
	sqlite3_stmt *st = hsa_db_prepare(s->db, sql[by], err, errlen);
	int r;
	if (!st)
		return -1;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		uint32_t g = hsa_names_id(&t->names, name ? name : "", name ? strlen(name) : 0);
		if (g == HSA_KMAP_NONE) {
			r = SQLITE_NOMEM;
			break;
		}
		if (by == 1) {
			const char *type = (const char *)sqlite3_column_text(st, 0);
			uint32_t key[4] = {hsa_names_id(names, type ? type : "", type ? strlen(type) : 0)};
			if (key[0] == HSA_KMAP_NONE || hsa_kmap_put(modules, key, g) == HSA_KMAP_NONE) {
				r = SQLITE_NOMEM;
				break;
			}
			continue;
		}
		int64_t id = sqlite3_column_int64(st, 0);
		if (id < 0 || id >= UINT32_MAX)
			continue;
		if ((uint64_t)id >= *nframe) {
			uint64_t cap = (uint64_t)id * 2 + 1;
			uint32_t *p = realloc(*frame, cap * sizeof(uint32_t));
			if (!p) {
				r = SQLITE_NOMEM;
				break;
			}
			memset(p + *nframe, 0, (cap - *nframe) * sizeof(uint32_t));
			*frame = p;
			*nframe = cap;
		}
		(*frame)[id] = g;
	}
	if (r == SQLITE_NOMEM)
		snprintf(err, errlen, "out of memory");
	else if (r != SQLITE_DONE)
		snprintf(err, errlen, "'%s': database query failed: %s", s->path, sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? 0 : -1;
}

static int diff_new(char **paths, int by, uint64_t max, int json, char *err, size_t errlen)
{
	hsa_snap s[2];
	hsa_names names = {0};
	hsa_node *m = NULL;
	fresh *f = NULL;
	uint32_t *frame = NULL;
	uint64_t nframe = 0, nf = 0, bytes = 0;
	hsa_kmap modules = {0};
	rows t = {0};
	hsa_table *tab = NULL;
	int rc = -1;
	err[0] = 0;
	hsa_warnings warnings = {0};
	int failed = hsa_snaps_open(s, (const char *const *)paths, 2, &names, &warnings, err, errlen);
	hsa_warnings_print(&warnings);
	if (failed)
		return -1;
	const hsa_snap *nw = &s[1];
	m = malloc((nw->n ? nw->n : 1) * sizeof(hsa_node));
	f = malloc((nw->n ? nw->n : 1) * sizeof(fresh));
	if (!m || !f || hsa_match(&s[0], nw, m) < 0)
		goto done;
	if (group_names(nw, by, &names, &t, &modules, &frame, &nframe, err, errlen))
		goto done;
	for (uint64_t v = 0; v < nw->n; v++) {
		if (!nw->addr[v] || m[v] != HSA_NONE)
			continue;
		uint32_t key[4] = {nw->type[v]}, g = 0;
		if (by == 1)
			g = hsa_kmap_get(&modules, key);
		else if (by == 2)
			g = nw->trace[v] < nframe ? frame[nw->trace[v]] : 0;
		const char *name = !by ? hsa_names_str(&names, nw->type[v])
		                   : g && g != HSA_KMAP_NONE ? hsa_names_str(&t.names, g)
		                   : by == 2 ? "(no allocation traceback)" : "builtins";
		row *w = row_of(&t, name);
		if (!w)
			goto done;
		w->v[COUNT][1]++;
		w->v[SIZE][1] += (int64_t)nw->size[v];
		bytes += nw->size[v];
		f[nf++] = (fresh){(hsa_node)v, nw->retained[v]};
	}
	if (t.n)
		qsort(t.r, t.n, sizeof(row), by_size_desc);
	if (nf)
		qsort(f, nf, sizeof(fresh), by_retained);
	uint64_t ng = t.n < max ? t.n : max, no = nf < max ? nf : max;
	char a[40], b[40], c[40];
	hsa_json j;
	if (json) {
		hsa_json_init(&j, stdout);
		hsa_json_open(&j, NULL);
		hsa_json_str(&j, "old", paths[0]);
		hsa_json_str(&j, "new", paths[1]);
		hsa_json_str(&j, "by", hsa_group_by[by]);
		hsa_json_uint(&j, "new_objects", nf);
		hsa_json_uint(&j, "new_bytes", bytes);
		hsa_json_array(&j, "groups");
		for (uint64_t i = 0; i < ng; i++) {
			hsa_json_open(&j, NULL);
			hsa_json_str(&j, hsa_group_by[by], hsa_names_str(&t.names, t.r[i].name));
			hsa_json_int(&j, "count", t.r[i].v[COUNT][1]);
			hsa_json_int(&j, "size", t.r[i].v[SIZE][1]);
			hsa_json_close(&j);
		}
		hsa_json_end(&j);
		hsa_json_array(&j, "objects");
	} else {
		printf("%s objects (%s) of %s were not in %s (same address and type, GC generation"
		       " not younger, same allocation traceback)\n",
		       hsa_human_count(nf, a), hsa_human_size(bytes, b), paths[1], paths[0]);
		if (!nf) {
			rc = 0;
			goto done;
		}
		const char *gh[] = {hsa_group_by[by], "count", "size"};
		if (!(tab = hsa_table_new(3, gh, "lrr")))
			goto done;
		for (uint64_t i = 0; i < ng; i++)
			if (hsa_table_row(tab) ||
			    hsa_table_cell(tab, "%s", hsa_names_str(&t.names, t.r[i].name)) ||
			    hsa_table_cell(tab, "%s", hsa_human_count((uint64_t)t.r[i].v[COUNT][1], a)) ||
			    hsa_table_cell(tab, "%s", hsa_human_size((uint64_t)t.r[i].v[SIZE][1], b)))
				goto done;
		hsa_table_print(tab, stdout, "  ");
		hsa_table_free(tab);
		printf("\nthe largest of them by retained size:\n");
		const char *oh[] = {"address", "type", "size", "retained", "site"};
		if (!(tab = hsa_table_new(5, oh, "llrrl")))
			goto done;
	}
	for (uint64_t i = 0; i < no; i++) {
		hsa_node v = f[i].v;
		uint32_t site = hsa_snap_site(nw, v);
		int live = (nw->flags[v] & HSA_SNAP_REACHABLE) != 0;
		snprintf(c, sizeof(c), "0x%" PRIx64, nw->addr[v]);
		if (json) {
			hsa_json_open(&j, NULL);
			hsa_json_str(&j, "address", c);
			hsa_json_str(&j, "type", hsa_names_str(&names, nw->type[v]));
			hsa_json_uint(&j, "size", nw->size[v]);
			hsa_json_uint(&j, "retained", nw->retained[v]);
			hsa_json_bool(&j, "reachable", live);
			if (site)
				hsa_json_str(&j, "site", hsa_names_str(&names, site));
			else
				hsa_json_null(&j, "site");
			hsa_json_close(&j);
		} else if (hsa_table_row(tab) || hsa_table_cell(tab, "%s", c) ||
		           hsa_table_cell(tab, "%s", hsa_names_str(&names, nw->type[v])) ||
		           hsa_table_cell(tab, "%s", hsa_human_size(nw->size[v], a)) ||
		           hsa_table_cell(tab, "%s", live ? hsa_human_size(nw->retained[v], b) : "garbage") ||
		           hsa_table_cell(tab, "%s", site ? hsa_names_str(&names, site) : "")) {
			goto done;
		}
	}
	if (json) {
		hsa_json_end_document(&j);
	} else {
		hsa_table_print(tab, stdout, "  ");
	}
	rc = 0;
done:
	if (rc && !err[0])
		snprintf(err, errlen, "out of memory");
	hsa_table_free(tab);
	rows_free(&t);
	hsa_names_free(&names);
	hsa_snap_free(&s[0]);
	hsa_snap_free(&s[1]);
	free(m);
	free(f);
	free(frame);
	hsa_kmap_free(&modules);
	return rc;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	hsa_series *s = NULL;
	char err[1024];
	uint64_t n;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_USAGE;
	int by = hsa_arg_choice(cmd, &a, "by", hsa_group_by);
	int sort = hsa_arg_choice(cmd, &a, "sort", sort_names);
	if (by < 0 || sort < 0 || hsa_arg_count(cmd, &a, "n", 20, &n))
		goto done;
	if (hsa_arg(cmd, &a, "new") && hsa_arg(cmd, &a, "sort")) {
		hsa_usage_error(cmd, "'--sort' orders the group table; '--new' lists by size");
		goto done;
	}
	rc = HSA_EXIT_FAIL;
	hsa_warnings warnings = {0};
	int failed = hsa_series_read(a.pos, a.npos, NULL, &s, &warnings, err, sizeof(err));
	hsa_warnings_print(&warnings);
	if (failed) {
		hsa_error("%s", err);
		goto done;
	}
	if (s->n != 2) {
		hsa_usage_error(cmd, "diff compares two dumps, not %d", s->n);
		rc = HSA_EXIT_USAGE;
		goto done;
	}
	/* the older one is OLD, whatever the order given */
	char *paths[2] = {s->dumps[0].path, s->dumps[1].path};
	if (s->nprocs > 1)
		hsa_warn("'%s' and '%s' are dumps of different processes (pid %" PRId64 " and %" PRId64
		         "): groups compare, no object is the same in both",
		         paths[0], paths[1], s->dumps[0].pid, s->dumps[1].pid);
	int json = hsa_arg(cmd, &a, "json") != NULL;
	if (hsa_arg(cmd, &a, "new") ? diff_new(paths, by, n, json, err, sizeof(err))
	                            : diff_groups(paths, by, sort, n, json, err, sizeof(err))) {
		hsa_error("%s", err);
		goto done;
	}
	rc = 0;
done:
	hsa_series_free(s);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"by", 0, "type|module|site", "group objects by type (default), module or allocation site"},
	{"sort", 0, "size|count|retained", "order by the growth of this column (default size)"},
	{"n", 'n', "N", "show the N groups that grew most (default 20)"},
	{"new", 0, NULL, "the objects of NEW that were not in OLD, by group and the largest"},
	{"json", 0, NULL, "print JSON for scripts"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_diff = {
	.name = "diff",
	.summary = "what grew between two dumps, by type, module or site, with retained size",
	.usage = "OLD NEW | DIR [--by type|module|site] [--sort size|count|retained] [-n N] [--new]"
	         " [--json]",
	.details =
		"OLD is the one dumped first, in whichever order the two are given (or found\n"
		"in DIR, which must hold two). Per group, the count, size and retained size\n"
		"in NEW with their change since OLD, the largest growth first; groups that\n"
		"did not change are left out (objgraph's show_growth and tracemalloc's\n"
		"compare_to, with retained size).\n"
		"With --new, the objects of NEW that were not in OLD. An object is the same\n"
		"in both when it has the same address and type, its GC generation is not\n"
		"younger and, when tracemalloc traced both, its allocation traceback is\n"
		"the same; CPython reuses addresses, so this is a guess that a freed object\n"
		"replaced by a look-alike can fool ('leaks' groups them to see through).",
	.min_pos = 1,
	.max_pos = 2,
	.opts = opts,
	.run = run,
};
