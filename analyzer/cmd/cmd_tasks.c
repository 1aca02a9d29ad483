/* cmd_tasks.c - 'heapsnap tasks': asyncio tasks grouped by coroutine,
 * creation site and await chain; plain futures counted apart. */
#include <inttypes.h>
#include <stdlib.h>

#include "asyncio.h"
#include "db.h"
#include "hsnap.h"
#include "args.h"

static void json_counts(hsa_json *j, const char *key, const uint64_t *by)
{
	hsa_json_open(j, key);
	hsa_json_uint(j, "pending", by[HS_T_PENDING]);
	hsa_json_uint(j, "cancelled", by[HS_T_CANCELLED]);
	hsa_json_uint(j, "finished", by[HS_T_FINISHED]);
}

static void json_groups(hsa_json *j, const hsa_task_counts *c, const hsa_task_group *g,
                        size_t n)
{
	hsa_json_init(j, stdout);
	hsa_json_open(j, NULL);
	json_counts(j, "tasks", c->tasks);
	hsa_json_close(j);
	json_counts(j, "futures", c->futures);
	hsa_json_uint(j, "awaited", c->awaited);
	hsa_json_close(j);
	hsa_json_array(j, "groups");
	for (size_t i = 0; i < n; i++) {
		hsa_json_open(j, NULL);
		hsa_json_str(j, "coroutine", g[i].coro);
		if (g[i].site && g[i].created)
			hsa_json_str(j, "created_at", g[i].site);
		else
			hsa_json_null(j, "created_at");
		if (g[i].site && !g[i].created)
			hsa_json_str(j, "defined_at", g[i].site);
		else
			hsa_json_null(j, "defined_at");
		hsa_json_array(j, "chain");
		for (size_t k = 0; k < g[i].nchain; k++) {
			hsa_json_open(j, NULL);
			hsa_json_str(j, "name", g[i].chain[k].name);
			hsa_json_str(j, "file", g[i].chain[k].file);
			hsa_json_int(j, "line", g[i].chain[k].line);
			hsa_json_close(j);
		}
		hsa_json_end(j);
		hsa_json_uint(j, "tasks", g[i].tasks);
		hsa_json_uint(j, "pending", g[i].pending);
		hsa_json_uint(j, "cancelled", g[i].cancelled);
		hsa_json_uint(j, "finished", g[i].finished);
		hsa_json_close(j);
	}
	hsa_json_end_document(j);
}

/* "  2 pending, 1 cancelled" after a lead when not all of a group pend. */
static int states(const hsa_task_group *g, hsa_str *out)
{
	const uint64_t by[] = {g->pending, g->cancelled, g->finished};
	static const char *const words[] = {"pending", "cancelled", "finished"};
	char c[32];
	int rc = 0, k = 0;
	if (g->pending == g->tasks)
		return 0;
	for (int i = 0; i < 3 && !rc; i++)
		if (by[i])
			rc = hsa_str_printf(out, "%s%s %s", k++ ? ", " : " (",
			                    hsa_human_count(by[i], c), words[i]);
	return rc || hsa_str_printf(out, ")");
}

static int print_groups(const hsa_task_counts *c, const hsa_task_group *g, size_t n,
                        uint64_t shown)
{
	char a[32], b[32], d[32];
	hsa_str line = {0}, tty = {0};
	int rc = 0;
	printf("%s pending tasks (what asyncio.all_tasks() counts), %s cancelled, %s finished\n",
	       hsa_human_count(c->tasks[HS_T_PENDING], a), hsa_human_count(c->tasks[HS_T_CANCELLED], b),
	       hsa_human_count(c->tasks[HS_T_FINISHED], d));
	printf("%s pending futures (not tasks): %s awaited by pending tasks, ",
	       hsa_human_count(c->futures[HS_T_PENDING], a), hsa_human_count(c->awaited, b));
	printf("%s by none; %s done\n",
	       hsa_human_count(c->futures[HS_T_PENDING] - c->awaited, a),
	       hsa_human_count(c->futures[HS_T_CANCELLED] + c->futures[HS_T_FINISHED], b));
	for (size_t i = 0; i < n && i < shown && !rc; i++) {
		line.len = 0;
		rc = hsa_task_lead(&g[i], &line) || states(&g[i], &line);
		if (rc)
			break;
		printf("%s%10s  %s\n", i ? "" : "\n", hsa_human_count(g[i].tasks, a), hsa_tty(&tty, line.s));
		line.len = 0;
		if (g[i].nchain && (rc = hsa_task_chain_text(&g[i], 0, &line)) == 0)
			printf("%10s  %s\n", "", hsa_tty(&tty, line.s));
	}
	if (!rc && n > shown)
		printf("... and %s more groups (-n)\n", hsa_human_count(n - shown, a));
	hsa_str_free(&line);
	hsa_str_free(&tty);
	return rc;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	sqlite3 *db = NULL;
	hsa_task_group *groups = NULL;
	size_t ng = 0;
	hsa_task_counts counts;
	char err[1024];
	uint64_t n;
	hsa_json j;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_USAGE;
	if (hsa_arg_count(cmd, &a, "n", 50, &n))
		goto done;
	rc = HSA_EXIT_FAIL;
	hsa_warnings warnings = {0};
	int failed = hsa_db_open(a.pos[0], &db, &warnings, err, sizeof(err));
	hsa_warnings_print(&warnings);
	if (failed || hsa_task_counts_get(db, &counts, err, sizeof(err)) ||
	    hsa_task_groups(db, &groups, &ng, err, sizeof(err))) {
		hsa_error("%s", err);
		goto done;
	}
	uint64_t all = 0;
	for (int k = HS_T_PENDING; k <= HS_T_FINISHED; k++)
		all += counts.tasks[k] + counts.futures[k];
	if (hsa_arg(cmd, &a, "json")) {
		json_groups(&j, &counts, groups, ng < n ? ng : (size_t)n);
	} else if (!all) {
		printf("no asyncio tasks in this dump\n");
	} else if (print_groups(&counts, groups, ng, n)) {
		hsa_error("out of memory");
		goto done;
	}
	rc = 0;
done:
	hsa_task_groups_free(groups, ng);
	sqlite3_close(db);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"n", 'n', "N", "show the N largest groups (default 50)"},
	{"json", 0, NULL, "print JSON for scripts"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_tasks = {
	.name = "tasks",
	.summary = "asyncio tasks grouped by coroutine, creation site and await chain",
	.usage = "DUMP [-n N] [--json]",
	.details = "Counts the dump's asyncio tasks (what asyncio.all_tasks() counts) and,\n"
	           "apart, its plain futures. Groups the tasks by their coroutine, the line\n"
	           "that created them (tracemalloc's traceback of the Task; without it, the\n"
	           "line the coroutine is defined at) and the chain of awaits they are\n"
	           "suspended in: the classic leak is thousands of pending tasks waiting at\n"
	           "one place.",
	.min_pos = 1,
	.max_pos = 1,
	.opts = opts,
	.run = run,
};
