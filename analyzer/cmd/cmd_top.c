/* cmd_top.c - 'heapsnap top': the type / module / allocation-site histogram. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "args.h"
#include "db.h"
#include "dump.h"
#include "heap.h"

static const char *const sort_names[] = {"size", "count", "retained", NULL};

/* top --fast of a dump with no database yet: one pass over the dump
 * counts objects and sizes per type into an in-memory database holding
 * the 'types' table's first columns, so the rows render as top's. */
static int from_dump(const char *path, sqlite3 **db, int64_t *objects, int64_t *bytes,
                     char *err, size_t errlen)
{
	hs_reader *r = hs_reader_open(path, err, errlen);
	hsa_type_hist th;
	hsa_file_stats st;
	hsa_progress prog;
	sqlite3_stmt *ins = NULL;
	int rc = -1;
	if (!r)
		return -1;
	hsa_progress_start(&prog, "reading dump", hs_reader_size(r));
	int s = hsa_type_hist_read(r, &th, &st, &prog);
	hsa_progress_end(&prog);
	if (s) {
		snprintf(err, errlen, "out of memory reading '%s'", path);
		goto done;
	}
	if (!st.complete || st.problems)
		hsa_warn("'%s' is truncated or damaged (%s); counting its intact part", path,
		         st.problem[0] ? st.problem : "incomplete");
	if (sqlite3_open(":memory:", db) != SQLITE_OK ||
	    sqlite3_exec(*db, "CREATE TABLE types(name TEXT, count INTEGER, size INTEGER)", NULL,
	                 NULL, NULL) != SQLITE_OK ||
	    !(ins = hsa_db_prepare(*db, "INSERT INTO types VALUES(?,?,?)", err, errlen)))
		goto dberr;
	for (uint64_t t = 0; t < th.ntypes; t++) {
		if (!th.count[t])
			continue;
		const char *name = t ? hs_reader_string(r, th.name[t], NULL) : HSA_UNKNOWN_TYPE;
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, name ? name : HSA_UNKNOWN_TYPE, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(ins, 2, (int64_t)th.count[t]);
		sqlite3_bind_int64(ins, 3, (int64_t)th.size[t]);
		if (sqlite3_step(ins) != SQLITE_DONE)
			goto dberr;
	}
	*objects = (int64_t)th.objects;
	*bytes = (int64_t)th.bytes;
	rc = 0;
	goto done;
dberr:
	if (!err[0])
		snprintf(err, errlen, "database error: %s",
		         *db ? sqlite3_errmsg(*db) : "out of memory");
done:
	sqlite3_finalize(ins);
	hsa_type_hist_free(&th);
	hs_reader_free(r);
	return rc;
}

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
	/* Retained sizes and sites need the load; so does a dump whose
	 * database is up to date already. */
	int fast = hsa_arg(cmd, &a, "fast") && !hsa_db_cached(a.pos[0]);
	if (fast && (by || sort == 2)) {
		hsa_error("top --fast groups by type and sorts by size or count: retained sizes"
		          " and modules need the dump loaded");
		goto done;
	}
	rc = HSA_EXIT_FAIL;
	int64_t objects = 0, bytes = 0;
	err[0] = 0;
	hsa_warnings warnings = {0};
	int failed = fast ? from_dump(a.pos[0], &db, &objects, &bytes, err, sizeof(err))
	               : hsa_db_open(a.pos[0], &db, &warnings, err, sizeof(err));
	hsa_warnings_print(&warnings);
	if (failed) {
		hsa_error("%s", err);
		goto done;
	}
	if (!fast) {
		objects = hsa_db_meta_int(db, "load.objects", 0);
		bytes = hsa_db_meta_int(db, "load.bytes", 0);
	}
	static const int sort_col[] = {3, 2, 4};
	if (asprintf(&sql, "%s ORDER BY %d DESC, 1 LIMIT %" PRIu64,
	             fast ? "SELECT name, count, size FROM types" : hsa_group_sql[by],
	             sort_col[sort], n) < 0) {
		sql = NULL;
		goto done;
	}
	if (!(st = hsa_db_prepare(db, sql, err, sizeof(err)))) {
		hsa_error("%s", err);
		goto done;
	}
	const hsa_col cols[] = {{hsa_group_by[by], 's'}, {"count", 'n'}, {"size", 'b'},
	                        {"retained", 'b'}};
	hsa_json j, *jp = NULL;
	if (hsa_arg(cmd, &a, "json")) {
		jp = &j;
		hsa_json_init(&j, stdout);
		hsa_json_open(&j, NULL);
		hsa_json_str(&j, "by", hsa_group_by[by]);
		hsa_json_str(&j, "sort", sort_names[sort]);
		hsa_json_int(&j, "objects", objects);
		hsa_json_int(&j, "bytes", bytes);
		hsa_json_bool(&j, "fast", fast);
		hsa_json_array(&j, "rows");
	} else {
		char c[32], b[16];
		printf("%s objects, %s, by %s, largest %s first%s\n",
		       hsa_human_count((uint64_t)objects, c), hsa_human_size((uint64_t)bytes, b),
		       hsa_group_by[by], sort_names[sort],
		       fast ? " (read from the dump: no retained sizes until it is loaded)" : "");
	}
	if (hsa_render(st, cols, fast ? 3 : 4, jp, "", err, sizeof(err)) < 0) {
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
	{"fast", 0, NULL, "without a database yet: counts and sizes by type read straight from"
	                  " the dump, no load"},
	{"json", 0, NULL, "print JSON for scripts"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_top = {
	.name = "top",
	.summary = "the largest types, modules or allocation sites, with retained size",
	.usage = "DUMP [--by type|module|site] [--sort count|size|retained] [-n N] [--fast]"
	         " [--json]",
	.details = "A histogram of the heap like objgraph's show_most_common_types and MAT's\n"
	           "class histogram. 'size' is the shallow size of the group's objects;\n"
	           "'retained' is what would be freed if every object of the group went\n"
	           "away (each object counted once). A site is the innermost frame of the\n"
	           "allocation traceback (tracemalloc must have been tracing).\n"
	           "--fast answers a dump not loaded yet in one pass over it, a fraction of\n"
	           "a load: objects and shallow sizes by type, no retained sizes (a record\n"
	           "repeating an address, which a load drops, counts). With the dump's\n"
	           "database up to date, --fast reads it as top does.",
	.min_pos = 1,
	.max_pos = 1,
	.opts = opts,
	.run = run,
};
