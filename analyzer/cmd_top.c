/* cmd_top.c - 'heapsnap top': the type / module / allocation-site histogram. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"
#include "db.h"

static const char *const sort_names[] = {"size", "count", "retained", NULL};

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *sql = NULL, err[1024];
	uint64_t n;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_USAGE;
	int by = hsa_arg_choice(cmd, &a, "by", hsa_group_by);
	int sort = hsa_arg_choice(cmd, &a, "sort", sort_names);
	if (by < 0 || sort < 0 || hsa_arg_count(cmd, &a, "n", 20, &n))
		goto done;
	rc = HSA_EXIT_FAIL;
	if (hsa_db_open(a.pos[0], &db, err, sizeof(err))) {
		hsa_error("%s", err);
		goto done;
	}
	static const int sort_col[] = {3, 2, 4};
	if (asprintf(&sql, "%s ORDER BY %d DESC, 1 LIMIT %" PRIu64, hsa_group_sql[by], sort_col[sort],
	             n) < 0) {
		sql = NULL;
		goto done;
	}
	if (!(st = hsa_db_prepare(db, sql, err, sizeof(err)))) {
		hsa_error("%s", err);
		goto done;
	}
	const hsa_col cols[] = {{hsa_group_by[by], 's'}, {"count", 'n'}, {"size", 'b'},
	                        {"retained", 'b'}};
	int64_t objects = hsa_db_meta_int(db, "load.objects", 0);
	int64_t bytes = hsa_db_meta_int(db, "load.bytes", 0);
	hsa_json j, *jp = NULL;
	if (hsa_arg(cmd, &a, "json")) {
		jp = &j;
		hsa_json_init(&j, stdout);
		hsa_json_open(&j, NULL);
		hsa_json_str(&j, "by", hsa_group_by[by]);
		hsa_json_str(&j, "sort", sort_names[sort]);
		hsa_json_int(&j, "objects", objects);
		hsa_json_int(&j, "bytes", bytes);
		hsa_json_array(&j, "rows");
	} else {
		char c[32], b[16];
		printf("%s objects, %s, by %s, largest %s first\n", hsa_human_count((uint64_t)objects, c),
		       hsa_human_size((uint64_t)bytes, b), hsa_group_by[by], sort_names[sort]);
	}
	if (hsa_render(st, cols, 4, jp, "", err, sizeof(err)) < 0) {
		hsa_error("%s", err);
		goto done;
	}
	if (jp)
		hsa_json_end_document(&j);
	rc = 0;
done:
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(sql);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"by", 0, "type|module|site", "group objects by type (default), module or allocation site"},
	{"sort", 0, "count|size|retained", "order by this column (default size)"},
	{"n", 'n', "N", "show the N largest groups (default 20)"},
	{"json", 0, NULL, "print JSON for scripts"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_top = {
	.name = "top",
	.summary = "the largest types, modules or allocation sites, with retained size",
	.usage = "DUMP [--by type|module|site] [--sort count|size|retained] [-n N] [--json]",
	.details = "A histogram of the heap like objgraph's show_most_common_types and MAT's\n"
	           "class histogram. 'size' is the shallow size of the group's objects;\n"
	           "'retained' is what would be freed if every object of the group went\n"
	           "away (each object counted once). A site is the innermost frame of the\n"
	           "allocation traceback (tracemalloc must have been tracing).",
	.min_pos = 1,
	.max_pos = 1,
	.opts = opts,
	.run = run,
};
