/* cmd_report.c - 'heapsnap report': one self-contained HTML page about
 * dumps of one process or several (a prefork service's workers): each
 * process's timeline, its leak groups with their paths and pictures; what
 * holds the most memory, top types, asyncio tasks and allocation sites of
 * one process, the one that leaks most. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "args.h"
#include "asyncio.h"
#include "db.h"
#include "graphviz.h"
#include "hsnap.h"
#include "html.h"
#include "leaks.h"
#include "series.h"

#define LEAK_ROWS 20
#define LEAK_GRAPHS 3
#define GRAPH_NODES 30
#define GRAPH_DEPTH 2

/* One process: its dumps compared, their leaks. */
typedef struct proc_page {
	const hsa_proc *p;
	int n;              /* dumps compared: at most HSA_LEAK_MAX_DUMPS of p->n */
	char **paths;       /* oldest first */
	sqlite3 *last;      /* the last one's database */
	hsa_leak_report *leaks; /* NULL with one dump */
	hsa_leak_opts lo;
} proc_page;

typedef struct report {
	FILE *f;
	hsa_series *s;      /* every dump, by process */
	sqlite3 **all;      /* their databases, in s->dumps order */
	proc_page *procs;   /* s->nprocs */
	int focus;          /* the process the sections after the leaks are about */
	/* the focus process's dumps compared, oldest first */
	int n;
	char **paths;
	sqlite3 *db[HSA_LEAK_MAX_DUMPS];
	sqlite3 *last;      /* db[n - 1] */
	hsa_leak_report *leaks; /* NULL with one dump */
	hsa_leak_opts lo;
	/* what the page holds, for --json: rows per table, pictures */
	uint64_t dump_rows, leak_rows, largest_rows, type_rows, task_rows, site_rows, pictures;
	char err[1024];
} report;

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

/* A picture of who holds starts in the dump db, inline. */
static int graph(report *r, sqlite3 *db, const int64_t *starts, size_t n, uint64_t depth,
                 const char *caption, const char *id)
{
	hsa_viz *v = NULL;
	char *svg = NULL;
	size_t len = 0;
	hsa_viz_opts o = {.depth = depth, .max_nodes = GRAPH_NODES, .fan = 10,
	                  .caption = caption, .id = id};
	hsa_warnings warnings = {0};
	int rc = hsa_viz_build(db, starts, n, &o, &v, &warnings, r->err, sizeof(r->err));
	hsa_warnings_print(&warnings);
	rc = rc || hsa_viz_render(v, "svg", NULL, &svg, &len, r->err, sizeof(r->err));
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

static int leaking(const hsa_leak_report *l) { return l && (l->ngroups || l->unexplained); }

/* "pid 4033 leaks", "pid 4035: no leak found", "pid 4034: one dump" */
static int verdict(const proc_page *pp, hsa_str *out)
{
	const hsa_dump_id *d = pp->p->first;
	int rc = d->pid ? hsa_str_printf(out, "pid %" PRId64, d->pid) : hsa_str_printf(out, "pid ?");
	return rc || hsa_str_printf(out, "%s", leaking(pp->leaks) ? " leaks"
	                                       : pp->leaks      ? ": no leak found"
	                                                        : ": one dump, growth unknown");
}

/* One process's dumps in time: objects, heap and resident set per dump. */
static int timeline(report *r, const proc_page *pp)
{
	int rc = 0;
	for (int k = 0; k < pp->p->n && !rc; k++) {
		int i = pp->p->dump[k];
		sqlite3 *db = r->all[i];
		char t[24], c[32], b1[16], b2[16], b3[16], b4[16];
		hsa_mem m;
		hsa_mem_read(db, &m);
		fputs("<tr>", r->f);
		rc = hsa_html_td(r->f, 0, "%s", hsa_file_base(r->s->dumps[i].path)) ||
		     hsa_html_td(r->f, 0, "%s", hsa_utc(r->s->dumps[i].time, t)) ||
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
		     hsa_html_td(r->f, 1, "%s", m.known ? hsa_human_size(m.rss, b4) : "?") ||
		     hsa_html_td(r->f, 0, "%s",
		                 hsa_db_meta_int(db, "load.complete", 0) ? "yes" : "no: truncated");
		fputs("</tr>\n", r->f);
		r->dump_rows++;
	}
	return rc;
}

static int dumps_section(report *r)
{
	int many = r->s->nprocs > 1, rc = 0;
	fputs(many ? "<h2 id=\"dumps\">Processes and their dumps</h2>\n" : "<h2 id=\"dumps\">Dumps</h2>\n",
	      r->f);
	for (int i = 0; i < r->s->nprocs && !rc; i++) {
		const proc_page *pp = &r->procs[i];
		hsa_str title = {0}, v = {0};
		if (many) {
			rc = hsa_proc_title(pp->p, &title) || verdict(pp, &v);
			if (!rc) {
				fprintf(r->f, "<h3 id=\"process-%d\">", i + 1);
				hsa_html_esc(r->f, title.s, title.len);
				fputs("</h3>\n<p>", r->f);
				hsa_html_esc(r->f, v.s, v.len);
				fprintf(r->f, " (%d dump%s).</p>\n", pp->p->n, pp->p->n == 1 ? "" : "s");
			}
		}
		hsa_str_free(&title);
		hsa_str_free(&v);
		fprintf(r->f, "<table class=\"timeline\" id=\"timeline-%d\">\n<thead><tr><th>dump</th>"
		        "<th>taken (UTC)</th><th class=\"n\">objects</th><th class=\"n\">heap</th>"
		        "<th class=\"n\">reachable</th><th class=\"n\">garbage</th><th class=\"n\">RSS</th>"
		        "<th>complete</th></tr></thead>\n<tbody>\n", i + 1);
		rc = rc || timeline(r, pp);
		fputs("</tbody>\n</table>\n", r->f);
	}
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

static int leak_row(report *r, const hsa_leak_report *l, const char *id, uint64_t i,
                    const hsa_leak_group *g)
{
	hsa_str counts = {0}, grow = {0};
	char b[16];
	int n = l->ndumps;
	int rc = series(&counts, g->count, n, 0) ||
	         hsa_str_printf(&grow, "%s%s", g->retained_growth < 0 ? "-" : "+",
	                        hsa_human_size((uint64_t)(g->retained_growth < 0
	                                                          ? -g->retained_growth
	                                                          : g->retained_growth), b));
	fprintf(r->f, "<tr><td class=\"n\"><a href=\"#%s%" PRIu64 "\">%" PRIu64 "</a></td>", id,
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

/* prefix and gprefix make the ids of the group's heading and picture:
 * "leak-" and "leak" for the first process shown. */
static int leak_detail(report *r, sqlite3 *last, const char *prefix, const char *gprefix,
                       uint64_t i, const hsa_leak_group *g)
{
	int64_t starts[HSA_VIZ_LEAK_STARTS];
	char id[48];
	hsa_str cap = {0};
	fprintf(r->f, "<h3 id=\"%s%" PRIu64 "\">Leak %" PRIu64 ": ", prefix, i + 1, i + 1);
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
	int n = hsa_viz_leak_starts(last, g, starts, r->err, sizeof(r->err));
	if (n < 0)
		return -1;
	if (!n) {
		fputs("<p class=\"muted\">Its objects are not in the last dump.</p>\n", r->f);
		return 0;
	}
	snprintf(id, sizeof(id), "%s%" PRIu64, gprefix, i + 1);
	int rc = hsa_str_printf(&cap, "leak %" PRIu64 ": %s", i + 1,
	                        g->holder ? g->holder : g->type) ||
	         graph(r, last, starts, (size_t)n, HSA_VIZ_LEAK_DEPTH, cap.s, id);
	hsa_str_free(&cap);
	return rc;
}

/* One process's leak groups; shown is its place in the section (0: the
 * first, with the ids of a one-process page). */
static int proc_leaks(report *r, const proc_page *pp, int shown)
{
	const hsa_leak_report *l = pp->leaks;
	char c[32], table[32], prefix[32], gprefix[32];
	if (r->s->nprocs > 1) {
		hsa_str title = {0};
		int rc = hsa_proc_title(pp->p, &title);
		if (!rc) {
			fputs("<h3>", r->f);
			hsa_html_esc(r->f, title.s, title.len);
			fputs("</h3>\n", r->f);
		}
		hsa_str_free(&title);
		if (rc)
			return -1;
	}
	if (!l) {
		fprintf(r->f, "<p class=\"muted\">Only one dump of this process: its growth cannot be"
		        " told.</p>\n");
		return 0;
	}
	snprintf(table, sizeof(table), shown ? "leak-table-%d" : "leak-table", shown + 1);
	snprintf(prefix, sizeof(prefix), shown ? "leak-%d-" : "leak-", shown + 1);
	snprintf(gprefix, sizeof(gprefix), shown ? "leak%d_" : "leak", shown + 1);
	fprintf(r->f, "<p>Objects created after the first dump and still alive in %s, grouped by"
	        " type, allocation site and path from a root; a group is listed when it grows from"
	        " dump to dump. %s candidates.</p>\n",
	        l->weak ? "the second" : "every later one", hsa_human_count(l->candidates, c));
	if (pp->n < pp->p->n)
		fprintf(r->f, "<p class=\"muted\">%d of its %d dumps compared, spread over its whole"
		        " time.</p>\n", pp->n, pp->p->n);
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
	fprintf(r->f, "<table id=\"%s\">\n<thead><tr><th class=\"n\">#</th><th>objects</th>"
	        "<th class=\"n\">count per dump</th><th class=\"n\">retained</th>"
	        "<th class=\"n\">growth</th><th>held by</th><th>allocated at</th></tr></thead>\n"
	        "<tbody>\n", table);
	int rc = 0;
	for (uint64_t i = 0; i < l->ngroups && i < LEAK_ROWS && !rc; i++, r->leak_rows++)
		rc = leak_row(r, l, prefix, i, &l->groups[i]);
	if (!l->ngroups)
		fputs("<tr><td colspan=\"7\">nothing grows: no leak group</td></tr>\n", r->f);
	fputs("</tbody>\n</table>\n", r->f);
	for (uint64_t i = 0; i < l->ngroups && i < LEAK_GRAPHS && !rc; i++)
		rc = leak_detail(r, pp->last, prefix, gprefix, i, &l->groups[i]);
	return rc;
}

/* The focus process first, then the others by their first dump. */
static int leaks_section(report *r)
{
	fputs("<h2 id=\"leaks\">Leak groups</h2>\n", r->f);
	if (r->s->nprocs == 1 && !r->leaks) {
		fputs("<p class=\"muted\">Leaks are what grows between dumps: give two or three dumps"
		      " of the process taken minutes apart.</p>\n", r->f);
		return 0;
	}
	int rc = proc_leaks(r, &r->procs[r->focus], 0), shown = 1;
	for (int i = 0; i < r->s->nprocs && !rc; i++)
		if (i != r->focus)
			rc = proc_leaks(r, &r->procs[i], shown++);
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
	int rc = st ? 0 : -1, step = 0;
	fputs("<h2 id=\"largest\">What holds the most memory</h2>\n<p>In the last dump: the objects"
	      " whose removal would free the most (retained size, each object counted once).</p>\n"
	      "<table>\n<thead><tr><th>object</th><th>address</th><th class=\"n\">retained</th>"
	      "<th class=\"n\">of the heap</th></tr></thead>\n<tbody>\n", r->f);
	while (!rc && (step = hsa_db_step(st, r->err, sizeof(r->err))) > 0) {
		int64_t id = sqlite3_column_int64(st, 0);
		uint64_t retained = (uint64_t)sqlite3_column_int64(st, 2);
		hsa_str desc = {0};
		char b[16];
		top = top ? top : id;
		fputs("<tr>", r->f);
		if ((rc = hsa_db_describe(r->last, id, &desc)))
			snprintf(r->err, sizeof(r->err), "database query failed: %s",
			         sqlite3_errmsg(r->last));
		rc = rc || hsa_html_td(r->f, 0, "%s", desc.s) ||
		     hsa_html_td(r->f, 0, "0x%" PRIx64, (uint64_t)sqlite3_column_int64(st, 1)) ||
		     hsa_html_td(r->f, 1, "%s", hsa_human_size(retained, b)) ||
		     hsa_html_td(r->f, 1, "%.1f %%", total > 0 ? 100.0 * (double)retained / total : 0);
		fputs("</tr>\n", r->f);
		hsa_str_free(&desc);
		r->largest_rows++;
	}
	fputs("</tbody>\n</table>\n", r->f);
	sqlite3_finalize(st);
	if (step < 0)
		return -1;
	if (!rc && top) {
		hsa_str cap = {0};
		rc = hsa_str_printf(&cap, "who holds ") || hsa_db_describe(r->last, top, &cap) ||
		     graph(r, r->last, &top, 1, GRAPH_DEPTH, cap.s, "largest");
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
	int rc = st ? 0 : -1, step = 0;
	for (int k = 0; k + 1 < r->n && !rc; k++)
		if (!(other[k] = hsa_db_prepare(r->db[k], "SELECT total(count) FROM types WHERE name = ?",
		                                r->err, sizeof(r->err))))
			rc = -1;
	fprintf(r->f, "<h2 id=\"types\">Top types</h2>\n<table>\n<thead><tr><th>type</th>"
	        "<th class=\"n\">%s</th><th class=\"n\">size</th><th class=\"n\">retained</th>"
	        "</tr></thead>\n<tbody>\n", r->n > 1 ? "count per dump" : "count");
	while (!rc && (step = hsa_db_step(st, r->err, sizeof(r->err))) > 0) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		uint64_t counts[HSA_LEAK_MAX_DUMPS];
		hsa_str cs = {0};
		char b1[16], b2[16];
		for (int k = 0; k + 1 < r->n && !rc; k++) {
			sqlite3_reset(other[k]);
			sqlite3_bind_text(other[k], 1, name, -1, SQLITE_STATIC);
			int found = hsa_db_step(other[k], r->err, sizeof(r->err));
			rc = found < 0;
			counts[k] = found > 0 ? (uint64_t)sqlite3_column_int64(other[k], 0) : 0;
		}
		counts[r->n - 1] = (uint64_t)sqlite3_column_int64(st, 1);
		fputs("<tr>", r->f);
		rc = rc || series(&cs, counts, r->n, 0) || hsa_html_td(r->f, 0, "%s", name ? name : "?") ||
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
	return rc || step < 0 ? -1 : 0;
}

/* One row of the tasks table: what the group runs and where it comes
 * from, where it waits, its counts. */
static int task_row(report *r, const hsa_task_group *g)
{
	hsa_str lead = {0}, chain = {0};
	char c[4][32];
	int rc = hsa_task_lead(g, &lead) || hsa_task_chain_text(g, 0, &chain);
	if (!rc) {
		fputs("<tr>", r->f);
		rc = hsa_html_td(r->f, 0, "%s", lead.s) ||
		     hsa_html_td(r->f, 0, "%s", chain.s ? chain.s : "") ||
		     hsa_html_td(r->f, 1, "%s", hsa_human_count(g->tasks, c[0])) ||
		     hsa_html_td(r->f, 1, "%s", hsa_human_count(g->pending, c[1])) ||
		     hsa_html_td(r->f, 1, "%s", hsa_human_count(g->cancelled, c[2])) ||
		     hsa_html_td(r->f, 1, "%s", hsa_human_count(g->finished, c[3]));
		fputs("</tr>\n", r->f);
	}
	hsa_str_free(&lead);
	hsa_str_free(&chain);
	return rc;
}

/* Pending tasks (what asyncio.all_tasks() counts) and, apart, pending
 * plain futures per dump; the last dump's tasks by coroutine, creation
 * site and await chain. */
static int tasks_section(report *r)
{
	uint64_t pending[HSA_LEAK_MAX_DUMPS], futures[HSA_LEAK_MAX_DUMPS];
	hsa_task_group *g = NULL;
	size_t ng = 0;
	int rc = 0, any = 0;
	for (int k = 0; k < r->n && !rc; k++) {
		hsa_task_counts c;
		rc = hsa_task_counts_get(r->db[k], &c, r->err, sizeof(r->err));
		for (int i = HS_T_PENDING; !rc && i <= HS_T_FINISHED; i++)
			any |= c.tasks[i] + c.futures[i] > 0;
		pending[k] = c.tasks[HS_T_PENDING];
		futures[k] = c.futures[HS_T_PENDING];
	}
	fputs("<h2 id=\"tasks\">asyncio tasks</h2>\n", r->f);
	if (rc || !any) {
		fputs("<p class=\"muted\">No asyncio tasks in these dumps.</p>\n", r->f);
		return rc ? -1 : 0;
	}
	hsa_str s = {0}, f = {0};
	if (series(&s, pending, r->n, 0) || series(&f, futures, r->n, 0) ||
	    hsa_task_groups(r->last, &g, &ng, r->err, sizeof(r->err))) {
		hsa_str_free(&s);
		hsa_str_free(&f);
		return -1;
	}
	fputs("<p>Pending tasks per dump (what <code>asyncio.all_tasks()</code> counts): ", r->f);
	hsa_html_esc(r->f, s.s, strlen(s.s));
	fputs("; pending futures that are not tasks: ", r->f);
	hsa_html_esc(r->f, f.s, strlen(f.s));
	fputs(". In the last dump, by coroutine, the line that created them and where they"
	      " wait:</p>\n", r->f);
	hsa_str_free(&s);
	hsa_str_free(&f);
	fputs("<table id=\"tasks-table\">\n<thead><tr><th>coroutine</th><th>await chain</th>"
	      "<th class=\"n\">tasks</th><th class=\"n\">pending</th>"
	      "<th class=\"n\">cancelled</th><th class=\"n\">finished</th></tr></thead>\n"
	      "<tbody>\n", r->f);
	for (size_t i = 0; i < ng && i < 20 && !rc; i++)
		rc = task_row(r, &g[i]);
	fputs("</tbody>\n</table>\n", r->f);
	r->task_rows = ng < 20 ? ng : 20;
	hsa_task_groups_free(g, ng);
	if (rc)
		snprintf(r->err, sizeof(r->err), "out of memory");
	return rc ? -1 : 0;
}

static int sites_section(report *r)
{
	static const char sql[] =
		"SELECT f.filename || ':' || f.lineno, a.count, a.size, a.retained FROM alloc_sites a"
		" JOIN frames f ON f.id = a.frame WHERE a.frame != 0 ORDER BY a.size DESC LIMIT 15";
	fputs("<h2 id=\"sites\">Allocation sites</h2>\n", r->f);
	sqlite3_stmt *st = hsa_db_prepare(r->last, sql, r->err, sizeof(r->err));
	int any = st ? hsa_db_step(st, r->err, sizeof(r->err)) : -1;
	if (any <= 0) {
		sqlite3_finalize(st);
		if (any < 0)
			return -1;
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
	int rc = 0;
	if (r->s->nprocs == 1) {
		int n = r->procs[0].p->n;
		fprintf(r->f, "%d dump%s of pid %" PRId64 " on ", n, n > 1 ? "s" : "",
		        hsa_db_meta_int(r->last, "pid", 0));
	} else {
		/* never "N dumps of pid X" over dumps of several processes */
		fprintf(r->f, "%d dumps of %d processes (", r->s->n, r->s->nprocs);
		for (int i = 0; i < r->s->nprocs && !rc; i++) {
			hsa_str v = {0};
			if (!(rc = verdict(&r->procs[i], &v))) {
				fputs(i ? "; " : "", r->f);
				hsa_html_esc(r->f, v.s, v.len);
			}
			hsa_str_free(&v);
		}
		fputs("); the sections after the leak groups are about ", r->f);
		hsa_str t = {0};
		if (!rc && !(rc = hsa_proc_title(r->procs[r->focus].p, &t)))
			hsa_html_esc(r->f, t.s, t.len);
		hsa_str_free(&t);
		fputs(leaking(r->leaks) ? ", which leaks most" : "", r->f);
		fputs("; its last dump on ", r->f);
	}
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
	rc = rc || dumps_section(r) || leaks_section(r) || largest_section(r) || types_section(r) ||
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
	hsa_json_array(&j, "processes");
	for (int i = 0; i < r->s->nprocs; i++) {
		const proc_page *pp = &r->procs[i];
		hsa_json_open(&j, NULL);
		if (pp->p->first->pid)
			hsa_json_int(&j, "pid", pp->p->first->pid);
		else
			hsa_json_null(&j, "pid");
		hsa_json_uint(&j, "dumps", (uint64_t)pp->p->n);
		hsa_json_str(&j, "verdict", !pp->leaks ? "one dump" : leaking(pp->leaks) ? "leaks"
		                                                                        : "no leak");
		hsa_json_bool(&j, "focus", i == r->focus);
		hsa_json_close(&j);
	}
	hsa_json_end(&j);
	hsa_json_array(&j, "dumps");
	for (int k = 0; k < r->s->n; k++)
		hsa_json_str(&j, NULL, r->s->dumps[k].path);
	hsa_json_end(&j);
	if (r->leaks)
		hsa_json_uint(&j, "leak_groups", r->leaks->ngroups);
	else
		hsa_json_null(&j, "leak_groups");
	hsa_json_uint(&j, "pictures", r->pictures);
	hsa_json_open(&j, "rows");
	hsa_json_uint(&j, "dumps", r->dump_rows);
	hsa_json_uint(&j, "leaks", r->leak_rows);
	hsa_json_uint(&j, "largest", r->largest_rows);
	hsa_json_uint(&j, "types", r->type_rows);
	hsa_json_uint(&j, "tasks", r->task_rows);
	hsa_json_uint(&j, "sites", r->site_rows);
	hsa_json_close(&j);
	hsa_json_close(&j);
	hsa_json_finish(&j);
}

/* The leaking process of the largest growth; with none, the one with the
 * most dumps (the later one of as many). */
static int focus_of(const report *r)
{
	int best = 0;
	int64_t most = -1;
	for (int i = 0; i < r->s->nprocs; i++) {
		const hsa_leak_report *l = r->procs[i].leaks;
		if (!leaking(l))
			continue;
		int64_t g = l->ngroups ? l->groups[0].retained_growth
		                       : l->mem[l->ndumps - 1].unexplained - l->mem[0].unexplained;
		if (g > most) {
			most = g;
			best = i;
		}
	}
	for (int i = 1; most < 0 && i < r->s->nprocs; i++)
		if (r->procs[i].p->n >= r->procs[best].p->n)
			best = i;
	return best;
}

/* Opens every dump, compares each process's dumps and takes the focus's
 * as the page's. */
static int prepare(report *r)
{
	hsa_series *s = r->s;
	if (!(r->all = calloc((size_t)s->n, sizeof(sqlite3 *))) ||
	    !(r->procs = calloc((size_t)s->nprocs, sizeof(proc_page))))
		return -1;
	hsa_warnings warnings = {0};
	for (int k = 0; k < s->n; k++) {
		int failed = hsa_db_open(s->dumps[k].path, &r->all[k], &warnings, r->err, sizeof(r->err));
		hsa_warnings_print(&warnings);
		if (failed)
			return -1;
	}
	for (int i = 0; i < s->nprocs; i++) {
		proc_page *pp = &r->procs[i];
		int pick[HSA_LEAK_MAX_DUMPS];
		pp->p = &s->procs[i];
		pp->n = hsa_proc_pick(pp->p, HSA_LEAK_MAX_DUMPS, pick);
		if (!(pp->paths = malloc((size_t)pp->n * sizeof(char *))))
			return -1;
		for (int k = 0; k < pp->n; k++)
			pp->paths[k] = s->dumps[pp->p->dump[pick[k]]].path;
		pp->last = r->all[pp->p->dump[pick[pp->n - 1]]];
		if (pp->n < 2)
			continue;
		int failed = hsa_leaks_find((const char *const *)pp->paths, pp->n, &r->lo, &pp->leaks, &warnings,
		                         r->err, sizeof(r->err));
		hsa_warnings_print(&warnings);
		if (failed)
			return -1;
	}
	r->focus = focus_of(r);
	const proc_page *f = &r->procs[r->focus];
	int pick[HSA_LEAK_MAX_DUMPS];
	r->n = hsa_proc_pick(f->p, HSA_LEAK_MAX_DUMPS, pick);
	r->paths = f->paths;
	for (int k = 0; k < r->n; k++)
		r->db[k] = r->all[f->p->dump[pick[k]]];
	r->last = f->last;
	r->leaks = f->leaks;
	return 0;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	hsa_series_filter sf;
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
	if (hsa_series_options(cmd, &a, &sf) ||
	    hsa_arg_size(cmd, &a, "min-growth", HSA_LEAK_AUTO, &r.lo.min_growth)) {
		rc = HSA_EXIT_USAGE;
		goto done;
	}
	rc = HSA_EXIT_FAIL;
	hsa_warnings warnings = {0};
	int failed = hsa_series_read(a.pos, a.npos, &sf, &r.s, &warnings, r.err, sizeof(r.err));
	hsa_warnings_print(&warnings);
	if (failed || prepare(&r))
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
	for (int i = 0; r.procs && i < r.s->nprocs; i++) {
		hsa_leak_report_free(r.procs[i].leaks);
		free(r.procs[i].paths);
	}
	for (int k = 0; r.all && k < r.s->n; k++)
		sqlite3_close(r.all[k]);
	free(r.procs);
	free(r.all);
	hsa_series_free(r.s);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"output", 'o', "FILE", "write the report to FILE (HTML, one self-contained file)"},
	{"pid", 0, "PID", "only the dumps of process PID"},
	{"since", 0, "TIME", "only the dumps taken at or after TIME (2024-12-06T03:46Z, or 10m, 2h"
	                     " back from now)"},
	{"min-growth", 0, "SIZE", "the floor on a leak group's retained growth, as for 'heapsnap"
	                          " leaks'"},
	{"json", 0, NULL, "print what was written as JSON: the file, its tables' rows, pictures"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_report = {
	.name = "report",
	.summary = "one HTML page: dumps, leak groups with pictures, types, tasks, sites",
	.usage = "DUMP...|DIR... -o FILE.html [--pid PID] [--since TIME] [--json]",
	.details = "Dumps, or directories of them, in any order: they are put in the order\n"
	           "they were taken and grouped by process (pid and start time), each with\n"
	           "its timeline (objects, heap, RSS per dump) and its leak groups; leak\n"
	           "groups need two dumps or more of a process, taken minutes apart (three\n"
	           "confirm survivors; at most 8 are compared, spread over its time). The\n"
	           "largest objects, types, tasks and sites are of the process that leaks\n"
	           "most. The page needs no network: CSS and the SVG pictures are inline.",
	.min_pos = 1,
	.max_pos = INT_MAX,
	.opts = opts,
	.run = run,
};
