/* cmd_tasks.c - 'heapsnap tasks': asyncio tasks grouped by coroutine and
 * the place they wait at. */
#include <inttypes.h>
#include <stdlib.h>

#include "util.h"
#include "db.h"

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char err[1024];
	uint64_t n;
	hsa_json j, *jp = NULL;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_USAGE;
	if (hsa_arg_count(cmd, &a, "n", 50, &n))
		goto done;
	rc = HSA_EXIT_FAIL;
	if (hsa_db_open(a.pos[0], &db, err, sizeof(err)) ||
	    !(st = hsa_db_prepare(db, hsa_sql_task_groups, err, sizeof(err)))) {
		hsa_error("%s", err);
		goto done;
	}
	sqlite3_bind_int64(st, 1, (int64_t)n);
	const hsa_col cols[] = {{"coroutine", 's'}, {"awaiting_at", 's'}, {"tasks", 'n'},
	                        {"pending", 'n'}, {"cancelled", 'n'}, {"finished", 'n'}};
	if (hsa_arg(cmd, &a, "json")) {
		jp = &j;
		hsa_json_init(&j, stdout);
		hsa_json_open(&j, NULL);
		hsa_json_array(&j, "groups");
	}
	int64_t rows = hsa_render(st, cols, 6, jp, "", err, sizeof(err));
	if (rows < 0) {
		hsa_error("%s", err);
		goto done;
	}
	if (jp) {
		hsa_json_end_document(&j);
	} else if (!rows) {
		printf("no asyncio tasks in this dump\n");
	}
	rc = 0;
done:
	sqlite3_finalize(st);
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
	.summary = "asyncio tasks grouped by coroutine and await location",
	.usage = "DUMP [-n N] [--json]",
	.details = "Counts the dump's asyncio tasks by their coroutine and the line their\n"
	           "innermost awaited coroutine is suspended at, with their states: the\n"
	           "classic leak is thousands of pending tasks waiting at one place.",
	.min_pos = 1,
	.max_pos = 1,
	.opts = opts,
	.run = run,
};
