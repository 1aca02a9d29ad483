/* cmd_graph.c - 'heapsnap graph': the picture of who holds an object (or
 * what it holds), objgraph style, as SVG, PNG, PDF or DOT. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "args.h"
#include "db.h"
#include "graphviz.h"
#include "leaks.h"
#include "series.h"

#define FAN 10 /* objgraph folds more than 10 referrers too */

/* The largest objects of the type of object first (up to max), and the
 * caption naming them. */
static int type_starts(sqlite3 *db, int64_t first, int refs, uint64_t max, int64_t **starts,
                       size_t *n, hsa_str *cap, char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT tt.object, t.count, t.name FROM objects o JOIN types t ON t.id = o.type"
		" JOIN type_top tt ON tt.type = o.type WHERE o.id = ? ORDER BY tt.rank LIMIT ?";
	sqlite3_stmt *st = hsa_db_prepare(db, sql, err, errlen);
	char *name = NULL;
	uint64_t count = 0;
	int rc = -1, r;
	*n = 0;
	if (!st || !(*starts = calloc(max, sizeof(int64_t))))
		goto done;
	sqlite3_bind_int64(st, 1, first);
	sqlite3_bind_int64(st, 2, (int64_t)max);
	while ((r = hsa_db_step(st, err, errlen)) > 0) {
		(*starts)[(*n)++] = sqlite3_column_int64(st, 0);
		count = (uint64_t)sqlite3_column_int64(st, 1);
		if (!name && sqlite3_column_text(st, 2) &&
		    !(name = strdup((const char *)sqlite3_column_text(st, 2))))
			goto done;
	}
	if (r < 0)
		goto done;
	if (!*n) {
		snprintf(err, errlen, "no ranked objects of that type in the dump");
		goto done;
	}
	const char *dot = name ? strrchr(name, '.') : NULL;
	char c1[32], c2[32];
	if (*n > 1)
		snprintf(c1, sizeof(c1), "the %zu largest", *n);
	rc = hsa_str_printf(cap, "%s%s of %s %s objects%s", refs ? "what " : "who holds ",
	                    *n > 1 ? c1 : "the largest", hsa_human_count(count, c2),
	                    dot ? dot + 1 : name ? name : "?",
	                    refs ? (*n > 1 ? " hold" : " holds") : "");
done:
	free(name);
	sqlite3_finalize(st);
	return rc;
}

/* The dumps '--leak' compares, as 'heapsnap leaks' compares them: in the
 * order they were taken (whatever the order given), at most
 * HSA_LEAK_MAX_DUMPS spread over the series, all of one process, so that
 * group k is the group leaks printed as #k. *paths (malloc'ed, pointing
 * into *s) has *n dumps, the newest last. */
static int leak_dumps(char **args, int nargs, hsa_series **s, char ***paths, int *n, char *err,
                      size_t errlen)
{
	hsa_warnings warnings = {0};
	int failed = hsa_series_read(args, nargs, NULL, s, &warnings, err, errlen);
	hsa_warnings_print(&warnings);
	if (failed)
		return -1;
	if ((*s)->nprocs != 1) {
		snprintf(err, errlen, "'--leak K' compares the dumps of one process, and these are of %d"
		         " ('heapsnap leaks' prints the command for each)", (*s)->nprocs);
		return -1;
	}
	const hsa_proc *p = &(*s)->procs[0];
	int pick[HSA_LEAK_MAX_DUMPS];
	*n = hsa_proc_pick(p, HSA_LEAK_MAX_DUMPS, pick);
	if (*n < 2) {
		snprintf(err, errlen, "'--leak K' needs two dumps of the process or more");
		return -1;
	}
	if (!(*paths = malloc((size_t)*n * sizeof(char *)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int k = 0; k < *n; k++)
		(*paths)[k] = (*s)->dumps[p->dump[pick[k]]].path;
	return 0;
}

/* The holder and sample members of leak group k across the dumps, in the
 * last dump (db). */
static int leak_starts(char **dumps, int n, const hsa_leak_opts *lo, sqlite3 *db, uint64_t k,
                       int64_t **starts, size_t *nstarts, hsa_str *cap, char *err,
                       size_t errlen)
{
	hsa_leak_report *r = NULL;
	int rc = -1;
	hsa_warnings warnings = {0};
	int failed = hsa_leaks_find((const char *const *)dumps, n, lo, &r, &warnings, err, errlen);
	hsa_warnings_print(&warnings);
	if (failed)
		return -1;
	if (k > r->ngroups) {
		snprintf(err, errlen, "no leak group %" PRIu64 ": the dumps show %" PRIu64, k,
		         r->ngroups);
		goto done;
	}
	const hsa_leak_group *g = &r->groups[k - 1];
	if (!(*starts = calloc(HSA_VIZ_LEAK_STARTS, sizeof(int64_t))))
		goto done;
	int found = hsa_viz_leak_starts(db, g, *starts, err, errlen);
	if (found < 0)
		goto done;
	if (!(*nstarts = (size_t)found)) {
		snprintf(err, errlen, "leak group %" PRIu64 " has no object in '%s'", k, dumps[n - 1]);
		goto done;
	}
	rc = hsa_str_printf(cap, "leak %" PRIu64 ": %s", k, g->sentence);
done:
	hsa_leak_report_free(r);
	return rc;
}

static int object_caption(sqlite3 *db, int64_t id, int refs, hsa_str *cap)
{
	char as[32];
	uint64_t addr;
	if (hsa_db_addr(db, id, &addr))
		return -1;
	snprintf(as, sizeof(as), "0x%" PRIx64, addr);
	return hsa_str_printf(cap, "%s", refs ? "what " : "who holds ") ||
	       hsa_db_describe(db, id, cap) || hsa_str_printf(cap, " at %s%s", as, refs ? " holds" : "");
}

/* What was written: the file, its caption and what it draws, in counts.
 * Returns 0, or -1 with err filled. */
static int print_json(sqlite3 *db, const char *out, const char *format, const char *caption,
                      const int64_t *starts, size_t nstarts, const hsa_viz *v, char *err,
                      size_t errlen)
{
	hsa_json j;
	struct stat sb;
	char as[32];
	hsa_json_init(&j, stdout);
	hsa_json_open(&j, NULL);
	hsa_json_str(&j, "file", out);
	hsa_json_str(&j, "format", format);
	hsa_json_uint(&j, "bytes", stat(out, &sb) ? 0 : (uint64_t)sb.st_size);
	hsa_json_str(&j, "caption", caption);
	hsa_json_array(&j, "starts");
	for (size_t i = 0; i < nstarts; i++) {
		uint64_t addr;
		if (hsa_db_addr(db, starts[i], &addr)) {
			snprintf(err, errlen, "database query failed: %s", sqlite3_errmsg(db));
			return -1;
		}
		snprintf(as, sizeof(as), "0x%" PRIx64, addr);
		hsa_json_str(&j, NULL, as);
	}
	hsa_json_end(&j);
	hsa_json_uint(&j, "nodes", hsa_viz_nodes(v));
	hsa_json_close(&j);
	hsa_json_finish(&j);
	return 0;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	sqlite3 *db = NULL;
	hsa_series *series = NULL;
	char **ldumps = NULL;
	int nldumps = 0;
	hsa_viz *v = NULL;
	int64_t *starts = NULL, one;
	size_t nstarts = 0;
	hsa_str cap = {0};
	char err[1024];
	uint64_t depth, max_nodes;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_USAGE;
	const char *type = hsa_arg(cmd, &a, "type"), *out = hsa_arg(cmd, &a, "output");
	int refs = hsa_arg(cmd, &a, "refs") != NULL;
	uint64_t leak = 0;
	hsa_leak_opts lo;
	if (hsa_arg_count(cmd, &a, "leak", 0, &leak) ||
	    hsa_arg_size(cmd, &a, "min-growth", HSA_LEAK_AUTO, &lo.min_growth) ||
	    hsa_arg_count(cmd, &a, "depth", leak ? HSA_VIZ_LEAK_DEPTH : 4, &depth) ||
	    hsa_arg_count(cmd, &a, "max-nodes", 80, &max_nodes))
		goto done;
	const char *format = out ? hsa_viz_format(out) : NULL;
	if (!out) {
		hsa_usage_error(cmd, "say where the picture goes: -o FILE.svg|.png|.pdf|.dot");
		goto done;
	}
	if (!format) {
		hsa_usage_error(cmd, "'%s' must end in .svg, .png, .pdf or .dot", out);
		goto done;
	}
	if (refs && hsa_arg(cmd, &a, "backrefs")) {
		hsa_usage_error(cmd, "give '--backrefs' or '--refs', not both");
		goto done;
	}
	if (leak && (type || a.npos < 2)) {
		hsa_usage_error(cmd, "'--leak K' needs the dumps it compares: heapsnap graph D1 D2"
		                " [D3] --leak K");
		goto done;
	}
	if (!leak && (a.npos > 2 || (a.npos == 2) == (type != NULL))) {
		hsa_usage_error(cmd, "give an object, '--type T' or '--leak K' (usage: heapsnap %s %s)",
		                cmd->name, cmd->usage);
		goto done;
	}
	if (max_nodes < 3) {
		hsa_usage_error(cmd, "option '--max-nodes' needs at least 3");
		goto done;
	}
	rc = HSA_EXIT_FAIL;
	if (leak && leak_dumps(a.pos, a.npos, &series, &ldumps, &nldumps, err, sizeof(err)))
		goto fail;
	const char *dump = leak ? ldumps[nldumps - 1] : a.pos[0];
	hsa_warnings warnings = {0};
	int failed = hsa_db_open(dump, &db, &warnings, err, sizeof(err));
	hsa_warnings_print(&warnings);
	if (failed || (!leak && hsa_db_resolve(db, type ? type : a.pos[1], &one, err, sizeof(err))))
		goto fail;
	if (leak) {
		if (leak_starts(ldumps, nldumps, &lo, db, leak, &starts, &nstarts, &cap, err,
		                sizeof(err)))
			goto fail;
	} else if (type) {
		uint64_t max = max_nodes / 3 < FAN ? max_nodes / 3 : FAN;
		if (type_starts(db, one, refs, max, &starts, &nstarts, &cap, err, sizeof(err)))
			goto fail;
	} else {
		starts = &one;
		nstarts = 1;
		if (object_caption(db, one, refs, &cap)) {
			snprintf(err, sizeof(err), "query failed: %s", sqlite3_errmsg(db));
			goto fail;
		}
	}
	hsa_viz_opts o = {.refs = refs, .depth = depth, .max_nodes = max_nodes, .fan = FAN,
	                  .caption = cap.s};
	failed = hsa_viz_build(db, starts, nstarts, &o, &v, &warnings, err, sizeof(err));
	hsa_warnings_print(&warnings);
	if (failed || hsa_viz_render(v, format, out, NULL, NULL, err, sizeof(err)))
		goto fail;
	if (hsa_arg(cmd, &a, "json")) {
		if (print_json(db, out, format, cap.s, starts, nstarts, v, err, sizeof(err)))
			goto fail;
	} else {
		printf("%s: %" PRIu64 " objects and folds\n", out, hsa_viz_nodes(v));
	}
	rc = 0;
	goto done;
fail:
	hsa_error("%s", err);
done:
	hsa_viz_free(v);
	if (starts != &one)
		free(starts);
	hsa_str_free(&cap);
	free(ldumps);
	hsa_series_free(series);
	sqlite3_close(db);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"type", 0, "T", "start from the largest objects of type T (up to 10)"},
	{"leak", 0, "K", "start from leak group K of 'heapsnap leaks' on the same dumps"},
	{"min-growth", 0, "SIZE", "with --leak: the floor 'heapsnap leaks --min-growth' applies"},
	{"backrefs", 0, NULL, "draw who refers to the objects, up to a root (default)"},
	{"refs", 0, NULL, "draw what the objects refer to"},
	{"depth", 0, "N", "follow references N hops from the start (default 4; 1 with --leak)"},
	{"max-nodes", 0, "N", "draw N boxes at most, folds included (default 80)"},
	{"output", 'o', "FILE", "write FILE.svg, .png, .pdf or .dot (Graphviz source)"},
	{"json", 0, NULL, "print what was written as JSON: the file, caption, start objects, boxes"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_graph = {
	.name = "graph",
	.summary = "draw who holds an object (objgraph style) as SVG, PNG, PDF or DOT",
	.usage = "DUMP OBJ|DUMP --type T|DUMP... --leak K [--backrefs|--refs] [--depth N]"
	         " [--max-nodes N] -o FILE [--json]",
	.details = "Boxes show the type, a value preview or length, the size and the retained\n"
	           "size; the start object is orange, roots have a double border (modules\n"
	           "green, thread frames blue, asyncio tasks purple, references held from C\n"
	           "red) and the shortest path from a root is drawn in red, always. Edges are\n"
	           "labelled with the key, attribute, index or local variable. New referrers\n"
	           "of one object beyond 10 (or 3 of one type) fold into a '+N more\n"
	           "referrers' box counting them by type. OBJ is 0xADDR or TYPE[#k] as for\n"
	           "'show'. With --leak K, give the dumps 'heapsnap leaks' compared, in any\n"
	           "order (they are put in the order they were taken, as leaks does): the\n"
	           "picture of the newest shows the holder of group K and some of its\n"
	           "members.",
	.min_pos = 1,
	.max_pos = HSA_LEAK_MAX_DUMPS,
	.opts = opts,
	.run = run,
};
