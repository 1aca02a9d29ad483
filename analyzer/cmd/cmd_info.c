/* cmd_info.c - 'heapsnap info': metadata, sections, record counts and the
 * analysis totals (reachable, garbage, roots). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "db.h"
#include "memory.h"

static const char *const totals[] = {
	"objects", "bytes", "references", "roots", "types", "reachable", "reachable_bytes",
	"garbage", "garbage_bytes", "max_depth", "dropped_objects", "dropped_references",
	"dropped_roots",
};
#define NTOTALS (sizeof(totals) / sizeof(totals[0]))

typedef struct info {
	sqlite3 *db;
	char *source, *problem;
	int64_t size, complete, total[NTOTALS];
	char err[1024];
} info;

/* Returns 0, or -1 with in->err filled (the document left unfinished). */
static int print_json(info *in)
{
	hsa_json j;
	char *err = in->err;
	size_t errlen = sizeof(in->err);
	int r = -1;
	hsa_json_init(&j, stdout);
	hsa_json_open(&j, NULL);
	hsa_json_str(&j, "file", in->source);
	hsa_json_int(&j, "size", in->size);
	hsa_json_str(&j, "state", in->complete ? "complete" : "truncated or damaged");
	hsa_json_bool(&j, "complete", (int)in->complete);
	if (in->problem && *in->problem)
		hsa_json_str(&j, "problem", in->problem);
	else
		hsa_json_null(&j, "problem");
	hsa_json_open(&j, "meta");
	sqlite3_stmt *st = hsa_db_prepare(in->db,
	                                  "SELECT key, value FROM meta WHERE key NOT LIKE 'load.%'"
	                                  " ORDER BY rowid",
	                                  err, errlen);
	while (st && (r = hsa_db_step(st, err, errlen)) > 0) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		if (sqlite3_column_type(st, 1) == SQLITE_INTEGER)
			hsa_json_int(&j, key, sqlite3_column_int64(st, 1));
		else if (sqlite3_column_type(st, 1) == SQLITE_FLOAT)
			hsa_json_f64(&j, key, sqlite3_column_double(st, 1));
		else
			hsa_json_strn(&j, key, sqlite3_column_blob(st, 1),
			              (size_t)sqlite3_column_bytes(st, 1));
	}
	sqlite3_finalize(st);
	if (r < 0)
		return -1;
	hsa_json_close(&j);
	hsa_json_array(&j, "sections");
	st = hsa_db_prepare(in->db,
	                    "SELECT kind, sections, records, compressed, raw,"
	                    " round(CAST(raw AS REAL) / max(compressed, 1), 2) AS ratio"
	                    " FROM sections ORDER BY rowid",
	                    err, errlen);
	int64_t rows = st ? hsa_render(st, NULL, 0, &j, NULL, err, errlen) : -1;
	sqlite3_finalize(st);
	if (rows < 0)
		return -1;
	hsa_json_end(&j);
	hsa_json_open(&j, "records");
	st = hsa_db_prepare(in->db, "SELECT kind, records FROM sections WHERE kind != 'index'",
	                    err, errlen);
	r = -1;
	while (st && (r = hsa_db_step(st, err, errlen)) > 0)
		hsa_json_int(&j, (const char *)sqlite3_column_text(st, 0),
		             sqlite3_column_int64(st, 1));
	sqlite3_finalize(st);
	if (r < 0)
		return -1;
	hsa_json_int(&j, "edges", hsa_db_meta_int(in->db, "load.edges", 0));
	hsa_json_close(&j);
	hsa_json_open(&j, "totals");
	for (size_t i = 0; i < NTOTALS; i++)
		hsa_json_int(&j, totals[i], in->total[i]);
	hsa_json_close(&j);
	hsa_mem m;
	hsa_mem_read(in->db, &m);
	hsa_mem_json(&j, "memory", &m);
	hsa_json_close(&j);
	hsa_json_finish(&j);
	return 0;
}

static int print_text(info *in)
{
	char a[32], b[32];
	int64_t *t = in->total;
	hsa_str tty = {0};
	/* A database names its source and problem: text for the terminal. */
	printf("file      %s (%s)\n", hsa_tty(&tty, in->source),
	       hsa_human_size((uint64_t)in->size, a));
	printf("state     %s%s%s\n", in->complete ? "complete" : "truncated or damaged",
	       in->problem && *in->problem ? ": " : "", hsa_tty(&tty, in->problem));
	hsa_str_free(&tty);
	sqlite3_stmt *st = hsa_db_prepare(in->db,
	                                  "SELECT key, value FROM meta WHERE key NOT LIKE 'load.%'"
	                                  " ORDER BY rowid",
	                                  in->err, sizeof(in->err));
	static const hsa_col mcols[] = {{"key", 's'}, {"value", 'v'}};
	printf("\nmetadata\n");
	if (!st || hsa_render(st, mcols, 2, NULL, "  ", in->err, sizeof(in->err)) < 0)
		goto fail;
	sqlite3_finalize(st);
	st = hsa_db_prepare(in->db,
	                    "SELECT kind, sections, records, compressed, raw,"
	                    " printf('%.1fx', CAST(raw AS REAL) / max(compressed, 1)) FROM sections"
	                    " UNION ALL SELECT 'total', sum(sections), sum(records), sum(compressed),"
	                    " sum(raw), printf('%.1fx', CAST(sum(raw) AS REAL) / max(sum(compressed), 1))"
	                    " FROM sections",
	                    in->err, sizeof(in->err));
	static const hsa_col scols[] = {{"kind", 's'}, {"sections", 'n'}, {"records", 'n'},
	                                {"compressed", 'b'}, {"raw", 'b'}, {"ratio", 's'}};
	printf("\nsections\n");
	if (!st || hsa_render(st, scols, 6, NULL, "  ", in->err, sizeof(in->err)) < 0)
		goto fail;
	sqlite3_finalize(st);
	printf("\nheap\n");
	printf("  objects     %s (%s)\n", hsa_human_count((uint64_t)t[0], a),
	       hsa_human_size((uint64_t)t[1], b));
	printf("  references  %s\n", hsa_human_count((uint64_t)t[2], a));
	printf("  types       %s\n", hsa_human_count((uint64_t)t[4], a));
	printf("  roots       %s\n", hsa_human_count((uint64_t)t[3], a));
	printf("  reachable   %s objects (%s), at most %" PRId64 " references from a root\n",
	       hsa_human_count((uint64_t)t[5], a), hsa_human_size((uint64_t)t[6], b), t[9]);
	printf("  garbage     %s unreachable objects (%s) awaiting collection\n",
	       hsa_human_count((uint64_t)t[7], a), hsa_human_size((uint64_t)t[8], b));
	if (t[10] || t[11] || t[12])
		printf("  dropped     %" PRId64 " repeated objects, %" PRId64
		       " references and %" PRId64 " roots to objects not in the dump\n",
		       t[10], t[11], t[12]);
	hsa_mem m;
	hsa_mem_read(in->db, &m);
	if (hsa_mem_print(stdout, "  memory      ", &m, NULL, NULL)) {
		snprintf(in->err, sizeof(in->err), "out of memory");
		return -1;
	}
	return 0;
fail:
	sqlite3_finalize(st);
	return -1;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	info in;
	memset(&in, 0, sizeof(in));
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_FAIL;
	hsa_warnings warnings = {0};
	int failed = hsa_db_open(a.pos[0], &in.db, &warnings, in.err, sizeof(in.err));
	hsa_warnings_print(&warnings);
	if (failed) {
		hsa_error("%s", in.err);
		goto done;
	}
	in.source = hsa_db_meta_text(in.db, "load.source");
	in.problem = hsa_db_meta_text(in.db, "load.problem");
	in.size = hsa_db_meta_int(in.db, "load.source_size", 0);
	in.complete = hsa_db_meta_int(in.db, "load.complete", 0);
	for (size_t i = 0; i < NTOTALS; i++) {
		char key[64];
		snprintf(key, sizeof(key), "load.%s", totals[i]);
		in.total[i] = hsa_db_meta_int(in.db, key, 0);
	}
	if (hsa_arg(cmd, &a, "json") ? print_json(&in) : print_text(&in)) {
		hsa_error("%s", in.err);
		goto done;
	}
	rc = 0;
done:
	free(in.source);
	free(in.problem);
	sqlite3_close(in.db);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"json", 0, NULL, "print JSON for scripts"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_info = {
	.name = "info",
	.summary = "a dump's metadata, sections, record counts and heap totals",
	.usage = "DUMP [--json]",
	.details = "Prints the dump's metadata records; its sections of each kind with record\n"
	           "counts, compressed and raw sizes; whether it is complete (or else the\n"
	           "first problem the reader found); and the heap totals: objects,\n"
	           "references, roots, reachable objects and unreachable garbage.",
	.min_pos = 1,
	.max_pos = 1,
	.opts = opts,
	.run = run,
};
