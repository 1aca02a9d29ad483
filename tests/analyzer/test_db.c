/* The analysis database as input: its file mode, its header ids, a
 * database damaged after the load (parents that loop, wrong ids), and
 * types named by the ids their records carry. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "tdump.h"

enum { MOD = 0x1000, DICT = 0x2000, LIST = 0x3000, ITEM = 0x4000 };

/* module app → __dict__ → ['items'] → list → Item x3, dump mode 0600. */
static char *chain_dump(const char *name)
{
	char *path = td_path(name);
	tdump *t = td_open(path);
	hs_object mod = {.addr = MOD, .type = td_type(t, "module"), .size = 72,
	                 .flags = HS_OF_HAS_NAME, .name = td_str(t, "app")};
	td_object(t, &mod);
	td_ref(t, MOD, DICT, HS_E_DICT_ATTR, NULL);
	td_obj(t, DICT, "builtins.dict", 232);
	td_ref(t, DICT, LIST, HS_E_DICT_VALUE, "'items'");
	td_obj(t, LIST, "builtins.list", 88);
	hs_edge le[3];
	for (int i = 0; i < 3; i++) {
		td_obj(t, ITEM + (uint64_t)i * 0x100, "app.Item", 100);
		le[i] = (hs_edge){ITEM + (uint64_t)i * 0x100, HS_E_INDEX, (uint64_t)i};
	}
	td_refs(t, LIST, le, 3);
	td_root(t, MOD, HS_R_MODULES, "app", 0);
	td_close(t);
	cr_assert(!chmod(path, 0600));
	return path;
}

static char *db_of(const char *dump)
{
	char *db;
	cr_assert(asprintf(&db, "%s.db", dump) > 0);
	return db;
}

static mode_t mode_of(const char *path)
{
	struct stat sb;
	cr_assert(!stat(path, &sb), "no %s", path);
	return sb.st_mode & 07777;
}

/* Runs heapsnap ARGS under a time limit (a walk that loops must not hang
 * the test); *err gets its standard error, *out (may be NULL) its output. */
static int run_limited(char **out, char **err, const char *args)
{
	char *errfile = td_path("stderr"), *o = NULL;
	int rc = td_sh(&o, "timeout 20 %s %s 2>%s", HEAPSNAP_BIN, args, errfile);
	*err = td_read(errfile);
	unlink(errfile);
	free(errfile);
	if (out)
		*out = o;
	else
		free(o);
	return rc;
}

static int lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void sqlite(const char *db, const char *sql)
{
	cr_assert_eq(td_sh(NULL, "sqlite3 %s \"%s\"", db, sql), 0, "sqlite3 %s", sql);
}

Test(db, mode_follows_the_dump)
{
	char *dump = chain_dump("private.hsnap"), *db = db_of(dump);
	/* A permissive umask must not widen the database beyond the dump. */
	cr_assert_eq(td_sh(NULL, "umask 0; %s top %s >/dev/null", HEAPSNAP_BIN, dump), 0);
	cr_assert_eq(mode_of(db), 0600, "database mode %o", mode_of(db));
	unlink(db);
	cr_assert(!chmod(dump, 0640));
	cr_assert_eq(td_sh(NULL, "umask 077; %s load %s >/dev/null", HEAPSNAP_BIN, dump), 0);
	cr_assert_eq(mode_of(db), 0640, "database mode %o", mode_of(db));
	char *named = td_path("named.db");
	cr_assert_eq(td_sh(NULL, "umask 0; %s load %s -o %s >/dev/null", HEAPSNAP_BIN, dump,
	                   named), 0);
	cr_assert_eq(mode_of(named), 0600, "database mode %o", mode_of(named));
	free(named);
	free(db);
	free(dump);
}

Test(db, header_ids)
{
	char *dump = chain_dump("ids.hsnap"), *db = db_of(dump), *out;
	cr_assert_eq(td_run(NULL, "load %s >/dev/null", dump), 0);
	cr_assert_eq(td_sh(&out, "sqlite3 %s 'PRAGMA application_id; PRAGMA user_version'", db), 0);
	/* "HSDB", and the schema version of meta load.schema */
	char want[64];
	snprintf(want, sizeof(want), "%d\n%d\n", HSA_APPLICATION_ID, HSA_SCHEMA_VERSION);
	cr_assert_str_eq(out, want);
	free(out);
	free(db);
	free(dump);
}

static void parents_loop(const char *cmd, const char *expect)
{
	char *dump = chain_dump("loop.hsnap"), *db = db_of(dump), *out, *err, *args;
	cr_assert_eq(td_run(NULL, "load %s >/dev/null", dump), 0);
	sqlite(db, "UPDATE objects SET parent = id");
	/* Given the dump: loaded again, one warning, the right answer. */
	cr_assert(asprintf(&args, cmd, dump) > 0);
	int rc = run_limited(&out, &err, args);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
	cr_assert(strstr(err, "damaged database (the path of object"), "%s", err);
	cr_assert(strstr(err, "loading '"), "%s", err);
	cr_assert_eq(lines(err), 1, "%s", err);
	if (expect)
		cr_assert(strstr(out, expect), "%s", out);
	free(out);
	free(err);
	free(args);
	/* Now consistent: no warning. */
	cr_assert(asprintf(&args, cmd, dump) > 0);
	cr_assert_eq(run_limited(NULL, &err, args), 0, "%s", err);
	cr_assert_str_eq(err, "");
	free(err);
	free(args);
	/* Given only the database: one line naming it, exit 1. */
	sqlite(db, "UPDATE objects SET parent = id");
	cr_assert(asprintf(&args, cmd, db) > 0);
	rc = run_limited(NULL, &err, args);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
	cr_assert(strstr(err, db) && strstr(err, "damaged database"), "%s", err);
	cr_assert_eq(lines(err), 1, "%s", err);
	free(err);
	free(args);
	free(db);
	free(dump);
}

Test(db, looping_parents_path)
{
	parents_loop("path %s 0x4100", "module app → __dict__['items'] → list[1] → Item");
}

Test(db, looping_parents_graph)
{
	char *dot = td_path("loop.dot"), *cmd;
	cr_assert(asprintf(&cmd, "graph %%s 0x4100 -o %s", dot) > 0);
	parents_loop(cmd, "objects and folds");
	free(cmd);
	free(dot);
}

Test(db, looping_parents_report)
{
	char *html = td_path("loop.html"), *cmd;
	cr_assert(asprintf(&cmd, "report %%s -o %s", html) > 0);
	parents_loop(cmd, NULL);
	free(cmd);
	free(html);
}

/* leaks and diff read the parents into memory (match.c) */
Test(db, looping_parents_leaks)
{
	char *other = chain_dump("other.hsnap"), *cmd;
	cr_assert(asprintf(&cmd, "leaks %%s %s", other) > 0);
	parents_loop(cmd, "no leak found");
	free(cmd);
	free(other);
}

Test(db, looping_parents_diff)
{
	char *other = chain_dump("other.hsnap"), *cmd;
	cr_assert(asprintf(&cmd, "diff %%s %s --new", other) > 0);
	parents_loop(cmd, "0 objects");
	free(cmd);
	free(other);
}

static void wrong_header(const char *pragma, const char *why)
{
	char *dump = chain_dump("header.hsnap"), *db = db_of(dump), *out, *err, *args;
	cr_assert_eq(td_run(NULL, "load %s >/dev/null", dump), 0);
	sqlite(db, pragma);
	cr_assert(asprintf(&args, "path %s 0x4000", db) > 0);
	int rc = run_limited(NULL, &err, args);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
	cr_assert(strstr(err, db) && strstr(err, why), "%s", err);
	cr_assert_eq(lines(err), 1, "%s", err);
	free(err);
	free(args);
	cr_assert(asprintf(&args, "path %s 0x4000", dump) > 0);
	rc = run_limited(&out, &err, args);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
	cr_assert(strstr(err, why) && strstr(err, "loading '"), "%s", err);
	cr_assert_eq(lines(err), 1, "%s", err);
	cr_assert(strstr(out, "list[0] → Item"), "%s", out);
	free(out);
	free(err);
	cr_assert_eq(run_limited(NULL, &err, args), 0, "%s", err);
	cr_assert_str_eq(err, "", "loaded again but still damaged");
	free(err);
	free(args);
	free(db);
	free(dump);
}

Test(db, wrong_application_id)
{
	wrong_header("PRAGMA application_id = 7", "application_id is 0x7");
}

Test(db, wrong_user_version)
{
	wrong_header("PRAGMA user_version = 9", "user_version is 9");
}

/* The offset of the first section of kind in the dump at path. */
static uint64_t first_section(const char *path, unsigned kind, uint64_t *len)
{
	char err[256];
	hs_reader *r = hs_reader_open(path, err, sizeof(err));
	cr_assert(r, "%s", err);
	hs_section sec;
	while (hs_reader_next_section(r, &sec) == 1)
		if (sec.kind == kind) {
			hs_reader_free(r);
			*len = sec.comp_len;
			return sec.offset;
		}
	cr_assert_fail("no section of kind %u in %s", kind, path);
	return 0;
}

Test(db, types_by_their_ids)
{
	char *path = td_path("types.hsnap"), *out, *err;
	tdump *t = td_open(path);
	/* Type 1 alone in the first types section, which is then damaged:
	 * the records left (types 2, 3) are no longer at positions 2, 3. */
	uint64_t lost = td_type(t, "app.Lost");
	cr_assert(!hs_writer_flush(td_writer(t)));
	hs_object mod = {.addr = MOD, .type = td_type(t, "module"), .size = 72,
	                 .flags = HS_OF_HAS_NAME, .name = td_str(t, "app")};
	td_object(t, &mod);
	hs_edge e[2] = {{0x5000, HS_E_ATTR, td_str(t, "lost")}, {0x6000, HS_E_ATTR, td_str(t, "kept")}};
	td_refs(t, MOD, e, 2);
	hs_object o = {.addr = 0x5000, .type = lost, .size = 1000};
	td_object(t, &o);
	td_obj(t, 0x6000, "app.Kept", 100);
	td_root(t, MOD, HS_R_MODULES, "app", 0);
	td_close(t);
	uint64_t len, off = first_section(path, HS_K_TYPES, &len);
	int fd = open(path, O_RDWR);
	cr_assert(fd >= 0);
	unsigned char b;
	cr_assert_eq(pread(fd, &b, 1, (off_t)(off + 40 + len / 2)), 1);
	b ^= 0xff;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)(off + 40 + len / 2)), 1);
	close(fd);

	char *args;
	cr_assert(asprintf(&args, "top --json %s --by type", path) > 0);
	cr_assert_eq(run_limited(&out, &err, args), 0, "%s", err);
	cr_assert(strstr(err, "1 objects have a type no record of the dump defines; they count as"
	                      " 'unknown type'"), "%s", err);
	cr_assert(strstr(out, "{\"type\":\"unknown type\",\"count\":1,\"size\":1000,"), "%s", out);
	cr_assert(strstr(out, "{\"type\":\"app.Kept\",\"count\":1,\"size\":100,"), "%s", out);
	cr_assert(strstr(out, "{\"type\":\"module\",\"count\":1,\"size\":72,"), "%s", out);
	cr_assert_null(strstr(out, "app.Lost"), "%s", out);
	free(out);
	free(err);
	free(args);
	cr_assert(asprintf(&args, "top --json %s --by module", path) > 0);
	cr_assert_eq(run_limited(&out, &err, args), 0, "%s", err);
	cr_assert(strstr(out, "{\"module\":\"unknown type\",\"count\":1,\"size\":1000,"), "%s", out);
	cr_assert(strstr(out, "{\"module\":\"app\",\"count\":1,\"size\":100,"), "%s", out);
	free(out);
	free(err);
	free(args);
	cr_assert(asprintf(&args, "path %s 0x5000", path) > 0);
	cr_assert_eq(run_limited(&out, &err, args), 0, "%s", err);
	cr_assert(strstr(out, "module app.lost → unknown type"), "%s", out);
	free(out);
	free(err);
	free(args);
	free(path);
}

/* Every row of a query as text, one line each. */
static char *rows_of(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
	             sqlite3_errmsg(db));
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(st); i++)
			fprintf(f, "%s%s", i ? "|" : "",
			        sqlite3_column_type(st, i) == SQLITE_NULL
			                ? "NULL"
			                : (const char *)sqlite3_column_text(st, i));
		fputc('\n', f);
	}
	cr_assert_eq(r, SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	fclose(f);
	return out;
}

/* 'heapsnap sql' unfolds references in C through temp views named as the
 * database's json_each views: every query gives the rows the database's
 * views give a plain sqlite3, whatever the prefilters the virtual table
 * takes (a key, kind, label, label text, another collation, a text id). */
Test(db, fast_refs_views_match_the_database)
{
	char *dump = td_path("refs.hsnap"), *db = db_of(dump), *out = NULL;
	tdump *t = td_open(dump);
	td_obj(t, MOD, "module", 72);
	td_ref(t, MOD, DICT, HS_E_DICT_ATTR, NULL);
	td_obj(t, DICT, "builtins.dict", 232);
	hs_edge de[] = {{LIST, HS_E_DICT_KEY, td_str(t, "'items'")},
	                {LIST, HS_E_DICT_VALUE, td_str(t, "'items'")},
	                {ITEM, HS_E_WEAK, 0},
	                {ITEM + 0x100, HS_E_DICT_VALUE, td_str(t, "Items")}};
	td_refs(t, DICT, de, 4);
	td_obj(t, LIST, "builtins.list", 88);
	hs_edge le[4];
	for (int i = 0; i < 3; i++) {
		td_obj(t, ITEM + (uint64_t)i * 0x100, "app.Item", 100);
		le[i] = (hs_edge){ITEM + (uint64_t)i * 0x100, HS_E_INDEX, (uint64_t)i};
		td_ref(t, ITEM + (uint64_t)i * 0x100, LIST, HS_E_ATTR, "items");
	}
	le[3] = (hs_edge){ITEM, HS_E_INDEX, 3};
	td_refs(t, LIST, le, 4);
	td_root(t, MOD, HS_R_MODULES, "app", 0);
	td_close(t);
	cr_assert_eq(td_run(&out, "load %s", dump), 0, "%s", out);
	free(out);
	sqlite3 *plain = NULL, *fast = NULL;
	char err[512];
	cr_assert_eq(sqlite3_open_v2(db, &plain, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(hsa_db_open(db, &fast, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(hsa_db_fast_refs(fast, err, sizeof(err)), 0, "%s", err);
	static const char *const queries[] = {
		"SELECT * FROM refs ORDER BY src, seq",
		"SELECT * FROM referrers ORDER BY dst, src, seq",
		"SELECT * FROM refs_v ORDER BY src, seq",
		"SELECT * FROM referrers_v ORDER BY dst, src, seq",
		"SELECT * FROM refs WHERE src = 4 ORDER BY seq",
		"SELECT * FROM refs WHERE src = '4' ORDER BY seq",
		"SELECT * FROM refs WHERE src = NULL",
		"SELECT * FROM referrers WHERE dst = 5 ORDER BY src, seq",
		"SELECT * FROM referrers WHERE dst = 5.0 ORDER BY src, seq",
		"SELECT * FROM referrers WHERE src = 2 ORDER BY dst, seq",
		"SELECT * FROM refs WHERE dst = 5 ORDER BY src, seq",
		"SELECT * FROM refs WHERE kind = 4 AND label = 0 ORDER BY src, seq",
		"SELECT * FROM refs WHERE kind = '4'",
		"SELECT * FROM refs_v WHERE label = 'items' ORDER BY src, seq",
		"SELECT * FROM refs_v WHERE label = 'ITEMS' COLLATE NOCASE ORDER BY src, seq",
		"SELECT * FROM refs_v WHERE label = '''items''' ORDER BY src, seq",
		"SELECT * FROM refs_v WHERE label = 2 ORDER BY src, seq",
		"SELECT * FROM referrers_v WHERE dst = 3 AND label = 'items' ORDER BY src, seq",
		("SELECT o.id, count(*) FROM objects o JOIN referrers r ON r.dst = o.id"
		 " GROUP BY o.id ORDER BY o.id"),
	};
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		char *a = rows_of(plain, queries[i]), *b = rows_of(fast, queries[i]);
		cr_assert_str_eq(b, a, "%s", queries[i]);
		free(a);
		free(b);
	}
	/* the rows came from the virtual table, not json_each */
	char *plan = rows_of(fast, "EXPLAIN QUERY PLAN SELECT * FROM refs_v WHERE label = 'items'");
	cr_assert(strstr(plan, "VIRTUAL TABLE") && !strstr(plan, "json_each"), "%s", plan);
	free(plan);
	char *count = rows_of(fast, "SELECT count(*) FROM refs_v WHERE label = 'items'");
	cr_assert_str_eq(count, "3\n", "%s", count);
	free(count);
	sqlite3_close(plain);
	sqlite3_close(fast);
	free(db);
	free(dump);
}

/* Library code prints nothing: the load's warnings (here a reference to
 * no object of the dump) come back to the caller in its hsa_warnings, from
 * hsa_db_load and again from hsa_db_open loading the dump into its cache;
 * NULL drops them. stderr is a file meanwhile, and stays empty. */
Test(db, warnings_go_to_the_caller)
{
	char *dump = td_path("dangling.hsnap"), *db = td_path("dangling.db");
	char *errfile = td_path("dangling.stderr"), err[512];
	tdump *t = td_open(dump);
	td_obj(t, MOD, "module", 72);
	td_ref(t, MOD, LIST, HS_E_ATTR, "items");
	td_ref(t, MOD, 0xdead0, HS_E_ATTR, "gone");
	td_obj(t, LIST, "builtins.list", 64);
	td_root(t, MOD, HS_R_MODULES, "app", 0);
	td_close(t);
	fflush(stderr);
	int saved = dup(STDERR_FILENO), fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(saved >= 0 && fd >= 0);
	cr_assert(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
	hsa_warnings w = {0}, opened = {0};
	int loaded = hsa_db_load(dump, db, 0, &w, err, sizeof(err));
	sqlite3 *h = NULL;
	int open_rc = hsa_db_open(dump, &h, &opened, err, sizeof(err));
	sqlite3_close(h);
	int dropped = hsa_db_load(dump, db, 0, NULL, err, sizeof(err));
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	cr_assert_eq(loaded, 0, "%s", err);
	cr_assert_eq(open_rc, 0, "%s", err);
	cr_assert_eq(dropped, 0, "%s", err);
	char *printed = td_read(errfile);
	cr_assert_str_eq(printed, "", "library code printed: %s", printed);
	free(printed);
	cr_assert_eq(w.n, 1);
	cr_assert(strstr(w.msg[0], "1 references point outside the dump and were dropped") &&
	          strstr(w.msg[0], dump), "%s", w.msg[0]);
	cr_assert_eq(opened.n, 1);
	cr_assert_str_eq(opened.msg[0], w.msg[0]);
	hsa_warnings_free(&w);
	hsa_warnings_free(&opened);
	hsa_warnings_free(NULL);
	free(errfile);
	free(db);
	free(dump);
}

/* Object ids are the records' order even when a record is dropped (one
 * repeating an address): the rows after it keep their ids, and the
 * references and parents their targets. */
Test(db, ids_follow_records_past_a_dropped_one)
{
	char *dump = td_path("dup.hsnap"), *db = db_of(dump), *out = NULL;
	tdump *t = td_open(dump);
	hs_object mod = {.addr = MOD, .type = td_type(t, "module"), .size = 72,
	                 .flags = HS_OF_HAS_NAME, .name = td_str(t, "app")};
	td_object(t, &mod);
	hs_edge me[] = {{DICT, HS_E_DICT_ATTR, 0}, {LIST, HS_E_ATTR, td_str(t, "items")}};
	td_refs(t, MOD, me, 2);
	td_obj(t, DICT, "builtins.dict", 232);
	td_obj(t, MOD, "builtins.dict", 64); /* repeats the module's address: dropped */
	td_obj(t, LIST, "builtins.list", 88);
	td_ref(t, LIST, ITEM, HS_E_INDEX, NULL);
	td_obj(t, ITEM, "app.Item", 100);
	td_root(t, MOD, HS_R_MODULES, "app", 0);
	td_close(t);
	cr_assert_eq(td_run(&out, "load %s 2>&1", dump), 0, "%s", out);
	cr_assert(strstr(out, "1 object records repeat an address and were dropped"), "%s", out);
	free(out);
	sqlite3 *h = NULL;
	cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	char *rows = rows_of(h, "SELECT o.id, o.addr, o.parent, group_concat(r.dst)"
	                        " FROM objects o LEFT JOIN refs r ON r.src = o.id"
	                        " GROUP BY o.id ORDER BY o.id");
	char expect[256];
	snprintf(expect, sizeof(expect), "1|%d|NULL|2,4\n2|%d|1|NULL\n4|%d|1|5\n5|%d|4|NULL\n",
	         MOD, DICT, LIST, ITEM);
	cr_assert_str_eq(rows, expect);
	free(rows);
	/* every id has an edges row, the dropped record's empty */
	rows = rows_of(h, "SELECT id, refs IS NULL AND referrers IS NULL FROM edges ORDER BY id");
	cr_assert_str_eq(rows, "1|0\n2|0\n3|1\n4|0\n5|0\n");
	free(rows);
	sqlite3_close(h);
	free(db);
	free(dump);
}
