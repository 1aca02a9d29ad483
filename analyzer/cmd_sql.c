/* cmd_sql.c - 'heapsnap sql': any read-only query on the database. */
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "db.h"

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char err[1024];
	hsa_json j, *jp = NULL;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_FAIL;
	if (hsa_db_open(a.pos[0], &db, err, sizeof(err))) {
		hsa_error("%s", err);
		goto done;
	}
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
			hsa_error("sql: %s", sqlite3_errmsg(db));
			goto done;
		}
		if (st && hsa_render(st, NULL, 0, jp, "", err, sizeof(err)) < 0) {
			hsa_error("sql: %s", err);
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
	.details = "The database is opened read-only; the tables and views are described in\n"
	           "analyzer/SCHEMA.md. Example:\n"
	           "  heapsnap sql app.hsnap \"SELECT type, count(*) FROM objects_v GROUP BY 1\"",
	.min_pos = 2,
	.max_pos = 2,
	.opts = opts,
	.run = run,
};
