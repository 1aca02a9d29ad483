/* cmd_sql.c - 'heapsnap sql': any read-only query on the database. */
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "db.h"

/* The connection is read-only, but VACUUM INTO writes a copy of the
 * database to any path (through an ATTACH of its own), an ATTACH reads
 * any file and the directory pragmas send temporary files elsewhere: sql
 * reads the dump's database and writes no file. Records what it refused. */
static int authorize(void *ctx, int action, const char *a, const char *b, const char *c,
                     const char *d)
{
	const char **refused = ctx;
	(void)b, (void)c, (void)d;
	if (action == SQLITE_ATTACH) {
		*refused = "ATTACH and VACUUM are refused: sql reads the dump's database only";
		return SQLITE_DENY;
	}
	if (action == SQLITE_PRAGMA && a &&
	    (!sqlite3_stricmp(a, "temp_store_directory") ||
	     !sqlite3_stricmp(a, "data_store_directory"))) {
		*refused = "the directory pragmas are refused: sql writes no file";
		return SQLITE_DENY;
	}
	return SQLITE_OK;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char err[1024];
	const char *refused = NULL;
	hsa_json j, *jp = NULL;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_FAIL;
	hsa_warnings warnings = {0};
	int failed = hsa_db_open(a.pos[0], &db, &warnings, err, sizeof(err));
	hsa_warnings_print(&warnings);
	if (failed) {
		hsa_error("%s", err);
		goto done;
	}
	if (hsa_db_fast_refs(db, err, sizeof(err))) {
		hsa_error("'%s': %s", a.pos[0], err);
		goto done;
	}
	sqlite3_set_authorizer(db, authorize, &refused);
	if (hsa_arg(cmd, &a, "json")) {
		jp = &j;
		hsa_json_init(&j, stdout);
		hsa_json_array(&j, NULL);
	}
	/* Every statement of the text in turn; rows of all go to one output. */
	const char *sql = a.pos[1];
	while (sql && *sql) {
		const char *tail = NULL;
		if (sqlite3_prepare_v2(db, sql, -1, &st, &tail) != SQLITE_OK) {
			hsa_error("sql: %s", refused ? refused : sqlite3_errmsg(db));
			goto done;
		}
		if (st && hsa_render(st, NULL, 0, jp, "", err, sizeof(err)) < 0) {
			hsa_error("sql: %s", refused ? refused : err);
			goto done;
		}
		sqlite3_finalize(st);
		st = NULL;
		sql = tail;
	}
	if (jp) {
		hsa_json_end(&j);
		hsa_json_finish(&j);
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"json", 0, NULL, "print the rows as a JSON array of objects"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_sql = {
	.name = "sql",
	.summary = "run SQL queries on the database of a dump",
	.usage = "DUMP 'SELECT ...' [--json]",
	.details = "The database is opened read-only and no statement writes a file (ATTACH,\n"
	           "VACUUM INTO are refused); the tables and views are described in\n"
	           "analyzer/SCHEMA.md. Example:\n"
	           "  heapsnap sql app.hsnap \"SELECT type, count(*) FROM objects_v GROUP BY 1\"",
	.min_pos = 2,
	.max_pos = 2,
	.opts = opts,
	.run = run,
};
