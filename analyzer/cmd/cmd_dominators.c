/* cmd_dominators.c - 'heapsnap dominators': the objects retaining the most
 * memory and what they hold (the top of MAT's dominator tree). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "db.h"

/* "1,000 Task (1.2 MiB), 3 dict (...)": the types of the objects it
 * immediately dominates, largest retained first. */
static int holds(sqlite3 *db, int64_t id, hsa_json *j, hsa_str *out, char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT t.name, h.count, h.retained FROM top_holds h LEFT JOIN types t"
		" ON t.id = h.type WHERE h.object = ? ORDER BY h.retained DESC LIMIT 3";
	sqlite3_stmt *st = hsa_db_prepare(db, sql, err, errlen);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (j)
		hsa_json_array(j, "holds");
	int rc = 0, r = 0;
	while (!rc && (r = hsa_db_step(st, err, errlen)) > 0) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		int64_t n = sqlite3_column_int64(st, 1), bytes = sqlite3_column_int64(st, 2);
		if (j) {
			hsa_json_open(j, NULL);
			hsa_json_str(j, "type", type);
			hsa_json_int(j, "count", n);
			hsa_json_int(j, "retained", bytes);
			hsa_json_close(j);
		} else {
			char c[32], b[16];
			rc = hsa_str_printf(out, "%s%s %s (%s)", out->len ? ", " : "",
			                    hsa_human_count((uint64_t)n, c), type ? type : "?",
			                    hsa_human_size((uint64_t)bytes, b));
		}
	}
	if (j)
		hsa_json_end(j);
	sqlite3_finalize(st);
	if (rc)
		snprintf(err, errlen, "out of memory");
	return rc || r < 0 ? -1 : 0;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	hsa_table *t = NULL;
	char err[1024];
	uint64_t n;
	hsa_json j, *jp = NULL;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_USAGE;
	if (hsa_arg_count(cmd, &a, "n", 20, &n))
		goto done;
	if (n > 1000) {
		hsa_usage_error(cmd, "-n is at most 1000 (the database ranks the 1000 largest)");
		goto done;
	}
	rc = HSA_EXIT_FAIL;
	hsa_warnings warnings = {0};
	int failed = hsa_db_open(a.pos[0], &db, &warnings, err, sizeof(err));
	hsa_warnings_print(&warnings);
	if (failed) {
		hsa_error("%s", err);
		goto done;
	}
	st = hsa_db_prepare(db,
	                    "SELECT o.id, o.addr, o.retained, o.size FROM top_retained t"
	                    " JOIN objects o ON o.id = t.object ORDER BY t.rank LIMIT ?",
	                    err, sizeof(err));
	if (!st) {
		hsa_error("%s", err);
		goto done;
	}
	sqlite3_bind_int64(st, 1, (int64_t)n);
	err[0] = 0;
	double total = (double)hsa_db_meta_int(db, "load.reachable_bytes", 0);
	static const char *const heads[] = {"retained", "share", "size", "address", "object",
	                                    "holds"};
	if (hsa_arg(cmd, &a, "json")) {
		jp = &j;
		hsa_json_init(&j, stdout);
		hsa_json_open(&j, NULL);
		hsa_json_f64(&j, "reachable_bytes", total);
		hsa_json_array(&j, "rows");
	} else if (!(t = hsa_table_new(6, heads, "rrrlll"))) {
		goto fail;
	}
	int r;
	while ((r = hsa_db_step(st, err, sizeof(err))) > 0) {
		int64_t id = sqlite3_column_int64(st, 0);
		uint64_t addr = (uint64_t)sqlite3_column_int64(st, 1);
		uint64_t ret = (uint64_t)sqlite3_column_int64(st, 2);
		uint64_t size = (uint64_t)sqlite3_column_int64(st, 3);
		double share = total > 0 ? 100.0 * (double)ret / total : 0;
		hsa_str desc = {0}, h = {0};
		char as[32], b1[16], b2[16];
		snprintf(as, sizeof(as), "0x%" PRIx64, addr);
		int bad = hsa_db_describe(db, id, &desc);
		if (!bad && jp) {
			hsa_json_open(&j, NULL);
			hsa_json_str(&j, "address", as);
			hsa_json_str(&j, "object", desc.s);
			hsa_json_int(&j, "retained", (int64_t)ret);
			hsa_json_int(&j, "size", (int64_t)size);
			hsa_json_f64(&j, "share", share);
			bad = holds(db, id, &j, NULL, err, sizeof(err));
			hsa_json_close(&j);
		} else if (!bad) {
			bad = holds(db, id, NULL, &h, err, sizeof(err)) || hsa_table_row(t) ||
			      hsa_table_cell(t, "%s", hsa_human_size(ret, b1)) ||
			      hsa_table_cell(t, "%.1f%%", share) ||
			      hsa_table_cell(t, "%s", hsa_human_size(size, b2)) ||
			      hsa_table_cell(t, "%s", as) || hsa_table_cell(t, "%s", desc.s) ||
			      hsa_table_cell(t, "%s", h.s ? h.s : "");
		}
		hsa_str_free(&desc);
		hsa_str_free(&h);
		if (bad)
			goto fail;
	}
	if (r < 0)
		goto fail;
	if (jp) {
		hsa_json_end_document(&j);
	} else {
		hsa_table_print(t, stdout, "");
	}
	rc = 0;
	goto done;
fail:
	if (!err[0])
		snprintf(err, sizeof(err), "query failed: %s", sqlite3_errmsg(db));
	hsa_error("%s", err);
done:
	hsa_table_free(t);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"n", 'n', "N", "show the N largest, at most 1000 (default 20)"},
	{"json", 0, NULL, "print JSON for scripts"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_dominators = {
	.name = "dominators",
	.summary = "the objects that retain the most memory, and what they hold",
	.usage = "DUMP [-n N] [--json]",
	.details = "An object's retained size is the memory that would be freed if it went\n"
	           "away: itself and everything only reachable through it (the objects it\n"
	           "dominates). 'holds' groups its immediate dominator-tree children by type.",
	.min_pos = 1,
	.max_pos = 1,
	.opts = opts,
	.run = run,
};
