/* cmd_sites.c - 'heapsnap sites': tracemalloc-style allocation statistics. */
#include <inttypes.h>
#include <stdlib.h>

#include "args.h"
#include "db.h"

static const char *const by_names[] = {"lineno", "traceback", "file", NULL};

static const char *const by_sql[] = {
	"SELECT f.filename || ':' || f.lineno, sum(s.count), sum(s.bytes) FROM sites s"
	" JOIN tracebacks t ON t.id = s.traceback LEFT JOIN frames f ON f.id = t.frame"
	" GROUP BY t.frame ORDER BY 3 DESC, 1 LIMIT ?",
	"SELECT (SELECT group_concat(filename || ':' || lineno, ' <- ') FROM"
	" (SELECT f.filename, f.lineno FROM traceback_frames tf JOIN frames f ON f.id = tf.frame"
	" WHERE tf.traceback = s.traceback ORDER BY tf.depth)), sum(s.count), sum(s.bytes)"
	" FROM sites s GROUP BY s.traceback ORDER BY 3 DESC, 1 LIMIT ?",
	"SELECT f.filename, sum(s.count), sum(s.bytes) FROM sites s"
	" JOIN tracebacks t ON t.id = s.traceback LEFT JOIN frames f ON f.id = t.frame"
	" GROUP BY f.filename ORDER BY 3 DESC, 1 LIMIT ?",
};

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL, *tot = NULL;
	char err[1024];
	uint64_t n;
	hsa_json j, *jp = NULL;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_USAGE;
	int by = hsa_arg_choice(cmd, &a, "by", by_names);
	if (by < 0 || hsa_arg_count(cmd, &a, "n", 10, &n))
		goto done;
	rc = HSA_EXIT_FAIL;
	hsa_warnings warnings = {0};
	int failed = hsa_db_open(a.pos[0], &db, &warnings, err, sizeof(err));
	hsa_warnings_print(&warnings);
	if (failed || !(st = hsa_db_prepare(db, by_sql[by], err, sizeof(err))) ||
	    !(tot = hsa_db_prepare(db, "SELECT count(*), total(count), total(bytes) FROM sites",
	                           err, sizeof(err)))) {
		hsa_error("%s", err);
		goto done;
	}
	sqlite3_bind_int64(st, 1, (int64_t)n);
	if (hsa_db_step(tot, err, sizeof(err)) < 0) {
		hsa_error("%s", err);
		goto done;
	}
	int64_t nsites = sqlite3_column_int64(tot, 0);
	double blocks = sqlite3_column_double(tot, 1), bytes = sqlite3_column_double(tot, 2);
	const hsa_col cols[] = {{by_names[by], 's'}, {"count", 'n'}, {"size", 'b'}};
	if (hsa_arg(cmd, &a, "json")) {
		jp = &j;
		hsa_json_init(&j, stdout);
		hsa_json_open(&j, NULL);
		hsa_json_str(&j, "by", by_names[by]);
		hsa_json_int(&j, "tracebacks", nsites);
		hsa_json_f64(&j, "blocks", blocks);
		hsa_json_f64(&j, "bytes", bytes);
		hsa_json_array(&j, "rows");
	} else if (!nsites) {
		printf("no allocation statistics in this dump (tracemalloc was not tracing)\n");
		rc = 0;
		goto done;
	} else {
		char c[32], b[16];
		printf("%s in %s blocks from %" PRId64 " tracebacks, by %s\n",
		       hsa_human_size((uint64_t)bytes, b), hsa_human_count((uint64_t)blocks, c),
		       nsites, by_names[by]);
	}
	if (hsa_render(st, cols, 3, jp, "", err, sizeof(err)) < 0) {
		hsa_error("%s", err);
		goto done;
	}
	if (jp)
		hsa_json_end_document(&j);
	rc = 0;
done:
	sqlite3_finalize(st);
	sqlite3_finalize(tot);
	sqlite3_close(db);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"by", 0, "lineno|traceback|file", "group by innermost line (default), traceback or file"},
	{"n", 'n', "N", "show the N largest (default 10)"},
	{"json", 0, NULL, "print JSON for scripts"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_sites = {
	.name = "sites",
	.summary = "allocation statistics per line, traceback or file (tracemalloc style)",
	.usage = "DUMP [--by lineno|traceback|file] [-n N] [--json]",
	.details = "The live memory blocks tracemalloc traced when the dump was taken,\n"
	           "grouped like tracemalloc's Snapshot.statistics(). Empty unless the\n"
	           "process ran with tracemalloc tracing.",
	.min_pos = 1,
	.max_pos = 1,
	.opts = opts,
	.run = run,
};
