/* cmd_report.c - 'heapsnap report': one self-contained HTML page about one
 * to eight dumps: metadata, leak groups with their paths and pictures,
 * what holds the most memory, top types, asyncio tasks, allocation sites. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"
#include "db.h"
#include "graphviz.h"
#include "html.h"
#include "leaks.h"

#define LEAK_ROWS 20
#define LEAK_GRAPHS 3
#define GRAPH_NODES 30
#define GRAPH_DEPTH 2

typedef struct report {
	FILE *f;
	int n;              /* dumps, oldest first */
	char **paths;
	sqlite3 *db[HSA_LEAK_MAX_DUMPS];
	sqlite3 *last;      /* db[n - 1] */
	hsa_leak_report *leaks; /* NULL with one dump */
	/* what the page holds, for --json: rows per table, pictures */
	uint64_t leak_rows, largest_rows, type_rows, task_rows, site_rows, pictures;
	char err[1024];
} report;

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* "1,200 → 2,400 → 3,600" */
static int series(hsa_str *out, const uint64_t *v, int n, int bytes)
{
	char buf[32];
	int rc = 0;
	for (int k = 0; k < n && !rc; k++)
		rc = hsa_str_printf(out, "%s%s", k ? " \xe2\x86\x92 " : "",
		                    bytes ? hsa_human_size(v[k], buf) : hsa_human_count(v[k], buf));
	return rc;
}

/* A picture of who holds starts in the last dump, inline. */
static int graph(report *r, const int64_t *starts, size_t n, uint64_t depth,
                 const char *caption, const char *id)
{
	hsa_viz *v = NULL;
	char *svg = NULL;
	size_t len = 0;
	hsa_viz_opts o = {.depth = depth, .max_nodes = GRAPH_NODES, .fan = 10,
	                  .caption = caption, .id = id};
	int rc = hsa_viz_build(r->last, starts, n, &o, &v, r->err, sizeof(r->err)) ||
	         hsa_viz_render(v, "svg", NULL, &svg, &len, r->err, sizeof(r->err));
	if (!rc) {
		fputs("<div class=\"graph\">\n", r->f);
		rc = hsa_html_svg(r->f, svg, len);
		fputs("</div>\n", r->f);
		r->pictures++;
	}
	free(svg);
	hsa_viz_free(v);
	return rc ? -1 : 0;
}

static int dumps_section(report *r)
{
	fputs("<h2 id=\"dumps\">Dumps</h2>\n<table>\n<thead><tr><th>dump</th><th>taken (UTC)</th>"
	      "<th class=\"n\">pid</th><th class=\"n\">objects</th><th class=\"n\">heap</th>"
	      "<th class=\"n\">reachable</th><th class=\"n\">garbage</th><th class=\"n\">RSS</th>"
	      "<th>complete</th></tr></thead>\n<tbody>\n",
	      r->f);
	int rc = 0;
	for (int k = 0; k < r->n && !rc; k++) {
		sqlite3 *db = r->db[k];
		char *taken = hsa_db_meta_text(db, "time.utc");
		char c[32], b1[16], b2[16], b3[16], b4[16];
		fputs("<tr>", r->f);
		rc = hsa_html_td(r->f, 0, "%s", base(r->paths[k])) ||
		     hsa_html_td(r->f, 0, "%s", taken ? taken : "?") ||
		     hsa_html_td(r->f, 1, "%" PRId64, hsa_db_meta_int(db, "pid", 0)) ||
		     hsa_html_td(r->f, 1, "%s",
		                 hsa_human_count((uint64_t)hsa_db_meta_int(db, "load.objects", 0), c)) ||
		     hsa_html_td(r->f, 1, "%s",
		                 hsa_human_size((uint64_t)hsa_db_meta_int(db, "load.bytes", 0), b1)) ||
		     hsa_html_td(r->f, 1, "%s",
		                 hsa_human_size((uint64_t)hsa_db_meta_int(db, "load.reachable_bytes", 0),
		                                b2)) ||
		     hsa_html_td(r->f, 1, "%s",
		                 hsa_human_size((uint64_t)hsa_db_meta_int(db, "load.garbage_bytes", 0),
		                                b3)) ||
		     hsa_html_td(r->f, 1, "%s",
		                 hsa_human_size((uint64_t)hsa_db_meta_int(db, "rss", 0), b4)) ||
		     hsa_html_td(r->f, 0, "%s",
		                 hsa_db_meta_int(db, "load.complete", 0) ? "yes" : "no: truncated");
		fputs("</tr>\n", r->f);
		free(taken);
	}
	fputs("</tbody>\n</table>\n", r->f);
	hsa_mem m[2];
	hsa_str line = {0};
	hsa_mem_read(r->db[0], &m[0]);
	hsa_mem_read(r->last, &m[1]);
	if (!rc && m[1].known &&
	    !(rc = hsa_mem_line(&m[1], r->n > 1 ? &m[0] : NULL, "dump 1", &line))) {
		fputs("<p>Memory of the last dump: ", r->f);
		hsa_html_esc(r->f, line.s, line.len);
		fputs("</p>\n", r->f);
	}
	hsa_str_free(&line);
	return rc;
}

static int leak_row(report *r, uint64_t i, const hsa_leak_group *g)
{
	hsa_str counts = {0}, grow = {0};
	char b[16];
	int n = r->leaks->ndumps;
	int rc = series(&counts, g->count, n, 0) ||
	         hsa_str_printf(&grow, "%s%s", g->retained_growth < 0 ? "-" : "+",
	                        hsa_human_size((uint64_t)(g->retained_growth < 0
	                                                          ? -g->retained_growth
	                                                          : g->retained_growth), b));
	fprintf(r->f, "<tr><td class=\"n\"><a href=\"#leak-%" PRIu64 "\">%" PRIu64 "</a></td>",
	        i + 1, i + 1);
	rc = rc || hsa_html_td(r->f, 0, "%s", g->type) ||
	     hsa_html_td(r->f, 1, "%s", counts.s ? counts.s : "") ||
	     hsa_html_td(r->f, 1, "%s", hsa_human_size(g->retained[n - 1], b)) ||
	     hsa_html_td(r->f, 1, "%s", grow.s ? grow.s : "") ||
	     hsa_html_td(r->f, 0, "%s", g->holder ? g->holder : "(no common holder)") ||
	     hsa_html_td(r->f, 0, "%s", g->site ? g->site : "-");
	fputs("</tr>\n", r->f);
	hsa_str_free(&counts);
	hsa_str_free(&grow);
	return rc;
}

static int leak_detail(report *r, uint64_t i, const hsa_leak_group *g)
{
	int64_t starts[HSA_VIZ_LEAK_STARTS];
	char id[32];
	hsa_str cap = {0};
	fprintf(r->f, "<h3 id=\"leak-%" PRIu64 "\">Leak %" PRIu64 ": ", i + 1, i + 1);
	hsa_html_esc(r->f, g->type, strlen(g->type));
	fputs("</h3>\n<p class=\"finding\">", r->f);
	hsa_html_esc(r->f, g->sentence, strlen(g->sentence));
	fputs("</p>\n<p>Path: <code>", r->f);
	const char *path = g->holder_path ? g->holder_path : g->signature;
	hsa_html_esc(r->f, path, strlen(path));
	fputs("</code></p>\n", r->f);
	if (g->where) {
		fputs("<p>Waiting at: <code>", r->f);
		hsa_html_esc(r->f, g->where, strlen(g->where));
		fputs("</code></p>\n", r->f);
	}
	if (g->also) {
		fputs("<p class=\"muted\">Also held there: ", r->f);
		hsa_html_esc(r->f, g->also, strlen(g->also));
		fputs("</p>\n", r->f);
	}
	size_t n = hsa_viz_leak_starts(r->last, g, starts);
	if (!n) {
		fputs("<p class=\"muted\">Its objects are not in the last dump.</p>\n", r->f);
		return 0;
	}
	snprintf(id, sizeof(id), "leak%" PRIu64, i + 1);
	int rc = hsa_str_printf(&cap, "leak %" PRIu64 ": %s", i + 1,
	                        g->holder ? g->holder : g->type) ||
	         graph(r, starts, n, HSA_VIZ_LEAK_DEPTH, cap.s, id);
	hsa_str_free(&cap);
	return rc;
}

static int leaks_section(report *r)
{
	fputs("<h2 id=\"leaks\">Leak groups</h2>\n", r->f);
	if (!r->leaks) {
		fputs("<p class=\"muted\">Leaks are what grows between dumps: give two or three dumps"
		      " of the process taken minutes apart.</p>\n", r->f);
		return 0;
	}
	const hsa_leak_report *l = r->leaks;
	char c[32];
	fprintf(r->f, "<p>Objects created after the first dump and still alive in %s, grouped by"
	        " type, allocation site and path from a root; a group is listed when it grows from"
	        " dump to dump. %s candidates.</p>\n",
	        l->weak ? "the second" : "every later one", hsa_human_count(l->candidates, c));
	if (l->weak)
		fputs("<p class=\"muted\">Only two dumps: per-request objects alive at the second dump"
		      " look the same as leaks; a third dump confirms what survives.</p>\n", r->f);
	if (l->unexplained) {
		hsa_str s = {0};
		if (hsa_mem_sentence(l->mem, l->ndumps, &s)) {
			snprintf(r->err, sizeof(r->err), "out of memory");
			return -1;
		}
		fputs("<p class=\"finding\"><strong>Outside Python objects:</strong> ", r->f);
		hsa_html_esc(r->f, s.s, s.len);
		fputs("</p>\n", r->f);
		hsa_str_free(&s);
	}
	fputs("<table id=\"leak-table\">\n<thead><tr><th class=\"n\">#</th><th>objects</th>"
	      "<th class=\"n\">count per dump</th><th class=\"n\">retained</th>"
	      "<th class=\"n\">growth</th><th>held by</th><th>allocated at</th></tr></thead>\n"
	      "<tbody>\n", r->f);
	int rc = 0;
	for (uint64_t i = 0; i < l->ngroups && i < LEAK_ROWS && !rc; i++, r->leak_rows++)
		rc = leak_row(r, i, &l->groups[i]);
	if (!l->ngroups)
		fputs("<tr><td colspan=\"7\">nothing grows: no leak group</td></tr>\n", r->f);
	fputs("</tbody>\n</table>\n", r->f);
	for (uint64_t i = 0; i < l->ngroups && i < LEAK_GRAPHS && !rc; i++)
		rc = leak_detail(r, i, &l->groups[i]);
	return rc;
}

/* The top of the dominator tree in the last dump, and who holds its top. */
static int largest_section(report *r)
{
	static const char sql[] =
		"SELECT t.object, o.addr, o.retained FROM top_retained t JOIN objects o"
		" ON o.id = t.object ORDER BY t.rank LIMIT 10";
	sqlite3_stmt *st = hsa_db_prepare(r->last, sql, r->err, sizeof(r->err));
	double total = (double)hsa_db_meta_int(r->last, "load.reachable_bytes", 0);
	int64_t top = 0;
	int rc = st ? 0 : -1;
	fputs("<h2 id=\"largest\">What holds the most memory</h2>\n<p>In the last dump: the objects"
	      " whose removal would free the most (retained size, each object counted once).</p>\n"
	      "<table>\n<thead><tr><th>object</th><th>address</th><th class=\"n\">retained</th>"
	      "<th class=\"n\">of the heap</th></tr></thead>\n<tbody>\n", r->f);
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		uint64_t retained = (uint64_t)sqlite3_column_int64(st, 2);
		hsa_str desc = {0};
		char b[16];
		top = top ? top : id;
		fputs("<tr>", r->f);
		rc = hsa_db_describe(r->last, id, &desc) || hsa_html_td(r->f, 0, "%s", desc.s) ||
		     hsa_html_td(r->f, 0, "0x%" PRIx64, (uint64_t)sqlite3_column_int64(st, 1)) ||
		     hsa_html_td(r->f, 1, "%s", hsa_human_size(retained, b)) ||
		     hsa_html_td(r->f, 1, "%.1f %%", total > 0 ? 100.0 * (double)retained / total : 0);
		fputs("</tr>\n", r->f);
		hsa_str_free(&desc);
		r->largest_rows++;
	}
	fputs("</tbody>\n</table>\n", r->f);
	sqlite3_finalize(st);
	if (!rc && top) {
		hsa_str cap = {0};
		rc = hsa_str_printf(&cap, "who holds ") || hsa_db_describe(r->last, top, &cap) ||
		     graph(r, &top, 1, GRAPH_DEPTH, cap.s, "largest");
		hsa_str_free(&cap);
	}
	return rc;
}

/* Types by retained size in the last dump, with their counts in every dump. */
static int types_section(report *r)
{
	static const char sql[] = "SELECT name, count, size, retained FROM types WHERE count > 0"
	                          " ORDER BY retained DESC, name LIMIT 20";
	sqlite3_stmt *st = hsa_db_prepare(r->last, sql, r->err, sizeof(r->err));
	sqlite3_stmt *other[HSA_LEAK_MAX_DUMPS] = {0};
	int rc = st ? 0 : -1;
	for (int k = 0; k + 1 < r->n && !rc; k++)
		if (!(other[k] = hsa_db_prepare(r->db[k], "SELECT total(count) FROM types WHERE name = ?",
		                                r->err, sizeof(r->err))))
			rc = -1;
	fprintf(r->f, "<h2 id=\"types\">Top types</h2>\n<table>\n<thead><tr><th>type</th>"
	        "<th class=\"n\">%s</th><th class=\"n\">size</th><th class=\"n\">retained</th>"
	        "</tr></thead>\n<tbody>\n", r->n > 1 ? "count per dump" : "count");
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		uint64_t counts[HSA_LEAK_MAX_DUMPS];
		hsa_str cs = {0};
		char b1[16], b2[16];
		for (int k = 0; k + 1 < r->n; k++) {
			sqlite3_reset(other[k]);
			sqlite3_bind_text(other[k], 1, name, -1, SQLITE_STATIC);
			counts[k] = sqlite3_step(other[k]) == SQLITE_ROW
			                    ? (uint64_t)sqlite3_column_int64(other[k], 0) : 0;
		}
		counts[r->n - 1] = (uint64_t)sqlite3_column_int64(st, 1);
		fputs("<tr>", r->f);
		rc = series(&cs, counts, r->n, 0) || hsa_html_td(r->f, 0, "%s", name ? name : "?") ||
		     hsa_html_td(r->f, 1, "%s", cs.s) ||
		     hsa_html_td(r->f, 1, "%s", hsa_human_size((uint64_t)sqlite3_column_int64(st, 2),
		                                               b1)) ||
		     hsa_html_td(r->f, 1, "%s", hsa_human_size((uint64_t)sqlite3_column_int64(st, 3),
		                                               b2));
		fputs("</tr>\n", r->f);
		hsa_str_free(&cs);
		r->type_rows++;
	}
	fputs("</tbody>\n</table>\n", r->f);
	sqlite3_finalize(st);
	for (int k = 0; k + 1 < r->n; k++)
		sqlite3_finalize(other[k]);
	return rc;
}

static int tasks_section(report *r)
{
	uint64_t pending[HSA_LEAK_MAX_DUMPS];
	int rc = 0, any = 0;
	for (int k = 0; k < r->n && !rc; k++) {
		sqlite3_stmt *st = hsa_db_prepare(r->db[k], "SELECT count(*), total(state = 'pending')"
		                                  " FROM tasks", r->err, sizeof(r->err));
		rc = !st || sqlite3_step(st) != SQLITE_ROW;
		if (!rc) {
			any |= sqlite3_column_int64(st, 0) > 0;
			pending[k] = (uint64_t)sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
	}
	fputs("<h2 id=\"tasks\">asyncio tasks</h2>\n", r->f);
	if (rc || !any) {
		fputs("<p class=\"muted\">No asyncio tasks in these dumps.</p>\n", r->f);
		return rc ? -1 : 0;
	}
	hsa_str s = {0};
	if (series(&s, pending, r->n, 0))
		return -1;
	fputs("<p>Pending tasks per dump: ", r->f);
	hsa_html_esc(r->f, s.s, strlen(s.s));
	fputs(". In the last dump, by coroutine and the line they wait at:</p>\n", r->f);
	hsa_str_free(&s);
	sqlite3_stmt *st = hsa_db_prepare(r->last, hsa_sql_task_groups, r->err, sizeof(r->err));
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, 20);
	const hsa_col cols[] = {{"coroutine", 's'}, {"waiting at", 's'}, {"tasks", 'n'},
	                        {"pending", 'n'}, {"cancelled", 'n'}, {"finished", 'n'}};
	int64_t rows = hsa_html_query(r->f, st, cols, 6, "tasks-table", r->err, sizeof(r->err));
	sqlite3_finalize(st);
	r->task_rows = rows > 0 ? (uint64_t)rows : 0;
	return rows < 0 ? -1 : 0;
}

static int sites_section(report *r)
{
	static const char sql[] =
		"SELECT f.filename || ':' || f.lineno, a.count, a.size, a.retained FROM alloc_sites a"
		" JOIN frames f ON f.id = a.frame WHERE a.frame != 0 ORDER BY a.size DESC LIMIT 15";
	fputs("<h2 id=\"sites\">Allocation sites</h2>\n", r->f);
	sqlite3_stmt *st = hsa_db_prepare(r->last, sql, r->err, sizeof(r->err));
	if (!st)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		fputs("<p class=\"muted\">No allocation tracebacks in the last dump: run the process"
		      " with tracemalloc tracing (PYTHONTRACEMALLOC=1) to see where objects were"
		      " made.</p>\n", r->f);
		return 0;
	}
	sqlite3_reset(st);
	fputs("<p>Live objects of the last dump by the line that allocated them"
	      " (tracemalloc).</p>\n", r->f);
	const hsa_col cols[] = {{"allocated at", 's'}, {"objects", 'n'}, {"size", 'b'},
	                        {"retained", 'b'}};
	int64_t rows = hsa_html_query(r->f, st, cols, 4, "sites-table", r->err, sizeof(r->err));
	sqlite3_finalize(st);
	r->site_rows = rows > 0 ? (uint64_t)rows : 0;
	return rows < 0 ? -1 : 0;
}

static int write_report(report *r)
{
	char *py = hsa_db_meta_text(r->last, "python.version");
	char *host = hsa_db_meta_text(r->last, "host");
	char *argv = hsa_db_meta_text(r->last, "argv");
	hsa_html_begin(r->f, "heapsnap report");
	fputs("<header>\n<h1>heapsnap report</h1>\n<p class=\"muted\">", r->f);
	fprintf(r->f, "%d dump%s of pid %" PRId64 " on ", r->n, r->n > 1 ? "s" : "",
	        hsa_db_meta_int(r->last, "pid", 0));
	hsa_html_esc(r->f, host ? host : "?", strlen(host ? host : "?"));
	fputs(": <code>", r->f);
	hsa_html_esc(r->f, argv ? argv : "?", strlen(argv ? argv : "?"));
	fputs("</code>, Python ", r->f);
	hsa_html_esc(r->f, py ? py : "?", py ? strcspn(py, " ") : 1);
	fputs(". Written by heapsnap " HEAPSNAP_VERSION ".</p>\n</header>\n"
	      "<nav><a href=\"#dumps\">Dumps</a><a href=\"#leaks\">Leak groups</a>"
	      "<a href=\"#largest\">Largest</a><a href=\"#types\">Types</a>"
	      "<a href=\"#tasks\">asyncio tasks</a><a href=\"#sites\">Allocation sites</a></nav>\n",
	      r->f);
	if (r->leaks && r->leaks->ngroups) {
		const char *s = r->leaks->groups[0].sentence;
		fputs("<p class=\"finding\"><strong>The largest leak:</strong> ", r->f);
		hsa_html_esc(r->f, s, strlen(s));
		fputs("</p>\n", r->f);
	}
	free(py);
	free(host);
	free(argv);
	int rc = dumps_section(r) || leaks_section(r) || largest_section(r) || types_section(r) ||
	         tasks_section(r) || sites_section(r);
	hsa_html_end(r->f);
	return rc;
}

/* What was written: the file and what the page holds, in counts. */
static void print_json(const report *r, const char *out)
{
	hsa_json j;
	struct stat sb;
	hsa_json_init(&j, stdout);
	hsa_json_open(&j, NULL);
	hsa_json_str(&j, "file", out);
	hsa_json_uint(&j, "bytes", stat(out, &sb) ? 0 : (uint64_t)sb.st_size);
	hsa_json_array(&j, "dumps");
	for (int k = 0; k < r->n; k++)
		hsa_json_str(&j, NULL, r->paths[k]);
	hsa_json_end(&j);
	if (r->leaks)
		hsa_json_uint(&j, "leak_groups", r->leaks->ngroups);
	else
		hsa_json_null(&j, "leak_groups");
	hsa_json_uint(&j, "pictures", r->pictures);
	hsa_json_open(&j, "rows");
	hsa_json_uint(&j, "dumps", (uint64_t)r->n);
	hsa_json_uint(&j, "leaks", r->leak_rows);
	hsa_json_uint(&j, "largest", r->largest_rows);
	hsa_json_uint(&j, "types", r->type_rows);
	hsa_json_uint(&j, "tasks", r->task_rows);
	hsa_json_uint(&j, "sites", r->site_rows);
	hsa_json_close(&j);
	hsa_json_close(&j);
	hsa_json_finish(&j);
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	report r;
	memset(&r, 0, sizeof(r));
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	const char *out = hsa_arg(cmd, &a, "output");
	if (!out) {
		hsa_usage_error(cmd, "say where the report goes: -o FILE.html");
		rc = HSA_EXIT_USAGE;
		goto done;
	}
	rc = HSA_EXIT_FAIL;
	r.n = a.npos;
	r.paths = a.pos;
	for (int k = 0; k < r.n; k++)
		if (hsa_db_open(a.pos[k], &r.db[k], r.err, sizeof(r.err)))
			goto fail;
	r.last = r.db[r.n - 1];
	if (r.n > 1 &&
	    hsa_leaks_find((const char *const *)a.pos, r.n, NULL, &r.leaks, r.err, sizeof(r.err)))
		goto fail;
	if (!(r.f = fopen(out, "w"))) {
		snprintf(r.err, sizeof(r.err), "cannot write '%s': %s", out, strerror(errno));
		goto fail;
	}
	int wrote = !write_report(&r);
	int ioerr = ferror(r.f) | fclose(r.f);
	r.f = NULL;
	if (wrote && ioerr)
		snprintf(r.err, sizeof(r.err), "cannot write '%s': %s", out, strerror(errno));
	if (!wrote || ioerr) {
		remove(out);
		goto fail;
	}
	if (hsa_arg(cmd, &a, "json"))
		print_json(&r, out);
	else
		printf("%s\n", out);
	rc = 0;
	goto done;
fail:
	hsa_error("%s", r.err[0] ? r.err : "out of memory");
done:
	hsa_leak_report_free(r.leaks);
	for (int k = 0; k < r.n; k++)
		sqlite3_close(r.db[k]);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"output", 'o', "FILE", "write the report to FILE (HTML, one self-contained file)"},
	{"json", 0, NULL, "print what was written as JSON: the file, its tables' rows, pictures"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_report = {
	.name = "report",
	.summary = "one HTML page: dumps, leak groups with pictures, types, tasks, sites",
	.usage = "DUMP... -o FILE.html [--json]",
	.details = "Dumps oldest first (one to eight); leak groups need two or more, taken\n"
	           "minutes apart (three confirm survivors). The page needs no network: CSS\n"
	           "and the SVG pictures are inline.",
	.min_pos = 1,
	.max_pos = HSA_LEAK_MAX_DUMPS,
	.opts = opts,
	.run = run,
};
