/* cmd_load.c - 'heapsnap load': a dump into an SQLite database. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "db.h"

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	sqlite3 *db = NULL;
	char err[1024], *out = NULL;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_FAIL;
	const char *path = a.pos[0], *o = hsa_arg(cmd, &a, "output");
	out = o ? strdup(o) : hsa_db_cache_path(path);
	if (!out) {
		hsa_error("cannot open '%s': no place for its database; use -o", path);
		goto done;
	}
	double t0 = hsa_now();
	/* A database the user names is private; the one beside the dump is
	 * as private as the dump. */
	hsa_warnings warnings = {0};
	int failed = hsa_db_load(path, out, o ? 0600 : 0, &warnings, err, sizeof(err));
	hsa_warnings_print(&warnings);
	if (failed || sqlite3_open_v2(out, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		hsa_error("%s", err);
		goto done;
	}
	double secs = hsa_now() - t0;
	static const char *const keys[] = {"objects", "references", "roots", "reachable",
	                                   "garbage", "garbage_bytes"};
	int64_t v[6];
	for (int i = 0; i < 6; i++) {
		char key[64];
		snprintf(key, sizeof(key), "load.%s", keys[i]);
		v[i] = hsa_db_meta_int(db, key, 0);
	}
	if (hsa_arg(cmd, &a, "json")) {
		hsa_json j;
		hsa_json_init(&j, stdout);
		hsa_json_open(&j, NULL);
		hsa_json_str(&j, "dump", path);
		hsa_json_str(&j, "database", out);
		for (int i = 0; i < 6; i++)
			hsa_json_int(&j, keys[i], v[i]);
		hsa_json_f64(&j, "seconds", secs);
		hsa_json_close(&j);
		hsa_json_finish(&j);
	} else {
		char b[16];
		printf("loaded '%s' into '%s' in %.1f s: %" PRId64 " objects, %" PRId64
		       " references, %" PRId64 " roots, %" PRId64 " unreachable (%s garbage)\n",
		       path, out, secs, v[0], v[1], v[2], v[4], hsa_human_size((uint64_t)v[5], b));
	}
	rc = 0;
done:
	sqlite3_close(db);
	free(out);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"output", 'o', "DB", "write the database here (default: DUMP.db beside the dump)"},
	{"json", 0, NULL, "print JSON for scripts"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_load = {
	.name = "load",
	.summary = "load a dump into an SQLite database (schema: analyzer/SCHEMA.md)",
	.usage = "DUMP [-o DB] [--json]",
	.details = "Reads the dump, computes reachability from the roots, shortest paths,\n"
	           "the dominator tree and retained sizes, and writes everything into an\n"
	           "SQLite database that the other commands (and sqlite3) query. Other\n"
	           "commands given a dump load it into DUMP.db themselves and reuse it while\n"
	           "the dump is unchanged.",
	.min_pos = 1,
	.max_pos = 1,
	.opts = opts,
	.run = run,
};
