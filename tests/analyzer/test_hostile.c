/* What a hostile dump or database can do (issue #16): names that are
 * terminal controls reach no terminal raw, and 'sql' neither crashes on
 * odd statements nor writes files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tdump.h"

/* Retitles an xterm, clears the screen (C0 and C1 forms), rewrites the line. */
#define EVIL "x\x1b]0;PWNED\x07\x1b[2J\xc2\x9b" "2J\r\n\x7fy"

#define MOD 0x10000
#define NS 0x11000    /* the module's __dict__ */
#define LIST 0x12000  /* grows by PER_DUMP items per dump */
#define FRAME 0x13000 /* the main thread's frame */
#define TASK 0x14000
#define ITEM 0x1000000
#define VALUE 0x2000000
#define PER_DUMP 4

static void tracked(tdump *t, uint64_t addr, const char *type, uint64_t size, unsigned gen,
                    uint64_t trace)
{
	hs_object o = {.addr = addr, .type = td_type(t, type), .size = size,
	               .flags = HS_OF_GC_TRACKED | (gen << HS_OF_GEN_SHIFT) |
	                        (trace ? HS_OF_HAS_TRACE : 0),
	               .trace = trace};
	td_object(t, &o);
}

/* One application at dump `dump` (1, 2, 3): every name it has is EVIL (the
 * module, a dict key, the items' type, an attribute, a string's value, a
 * file, a thread, a coroutine, a metadata value), and a list of items
 * that grows, so that 'leaks' and 'diff' name them too. */
static char *evil_dump(const char *name, int dump)
{
	char *path = td_path(name);
	tdump *t = td_open(path);
	hs_writer *w = td_writer(t);
	hs_writer_meta_int(w, "pid", 4242);
	hs_writer_meta_f64(w, "time", 1000.0 + dump);
	hs_writer_meta_str(w, "argv", EVIL);
	uint64_t frame = hs_writer_frame(w, td_str(t, EVIL ".py"), 5);
	uint64_t tb = hs_writer_traceback(w, 1, &frame, 1);
	hs_site site = {.traceback = tb, .count = 10, .bytes = 1000};
	cr_assert(!hs_writer_site(w, &site));

	hs_object mod = {.addr = MOD, .type = td_type(t, "module"), .size = 72,
	                 .flags = HS_OF_HAS_NAME, .name = td_str(t, EVIL)};
	td_object(t, &mod);
	td_ref(t, MOD, NS, HS_E_DICT_ATTR, NULL);
	td_root(t, MOD, HS_R_MODULES, EVIL, 0);
	tracked(t, NS, "dict", 640, 2, 0);
	td_ref(t, NS, LIST, HS_E_DICT_VALUE, "'" EVIL "'");
	int items = PER_DUMP * dump;
	tracked(t, LIST, "list", 56 + 8 * (uint64_t)items, 2, 0);
	hs_edge e[3 * PER_DUMP];
	for (int k = 0; k < items; k++)
		e[k] = (hs_edge){ITEM + (uint64_t)k * 0x100, HS_E_INDEX, (uint64_t)k};
	td_refs(t, LIST, e, (size_t)items);
	for (int k = 0; k < items; k++) {
		uint64_t a = ITEM + (uint64_t)k * 0x100, v = VALUE + (uint64_t)k * 0x100;
		tracked(t, a, EVIL ".It" EVIL "em", 64, k / PER_DUMP + 1 == dump ? 0 : 2, tb);
		td_ref(t, a, v, HS_E_ATTR, EVIL);
		hs_object s = {.addr = v, .type = td_type(t, "builtins.str"), .size = 80,
		               .flags = HS_OF_HAS_VALUE, .value = (const uint8_t *)EVIL,
		               .value_len = strlen(EVIL)};
		td_object(t, &s);
	}

	hs_object fr = {.addr = FRAME, .type = td_type(t, "frame"), .size = 400,
	                .flags = HS_OF_HAS_NAME, .name = td_str(t, EVIL)};
	td_object(t, &fr);
	td_ref(t, FRAME, TASK, HS_E_LOCAL, EVIL);
	td_root(t, FRAME, HS_R_THREAD_FRAME, NULL, 7);
	hs_thread th = {.ident = 7, .native_id = 70, .name = td_str(t, EVIL), .frame = FRAME,
	                .flags = 3};
	cr_assert(!hs_writer_thread(w, &th));
	td_obj(t, TASK, "_asyncio.Task", 1000);
	hs_await chain[1] = {{TASK + 0x10, td_str(t, EVIL), td_str(t, EVIL ".py"), 9}};
	hs_task tk = {.addr = TASK, .state = HS_T_PENDING, .name = td_str(t, EVIL), .n = 1,
	              .chain = chain};
	cr_assert(!hs_writer_task(w, &tk));
	td_close(t);
	return path;
}

/* The first byte of text that would drive a terminal: C0 controls but the
 * newline, DEL, and C1 controls in UTF-8; NULL when there is none. */
static const char *control(const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		if ((*p < 0x20 && *p != '\n') || *p == 0x7f ||
		    (p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0))
			return (const char *)p;
	return NULL;
}

static void no_control(const char *cmd, const char *out, int mentions)
{
	const char *c = control(out);
	cr_assert_null(c, "'%s' printed byte 0x%02x at %ld", cmd, (unsigned char)*c,
	               c ? (long)(c - out) : 0L);
	if (mentions)
		cr_assert(strstr(out, "PWNED"), "'%s' does not show the name: %s", cmd, out);
}

Test(hostile, names_reach_the_terminal_as_text)
{
	char *d[3], *svg = td_path("leak.svg"), *html = td_path("report.html");
	for (int k = 0; k < 3; k++) {
		char name[16];
		snprintf(name, sizeof(name), "e%d.hsnap", k + 1);
		d[k] = evil_dump(name, k + 1);
	}
	/* %1$s..%3$s: the dumps oldest first; %4$s, %5$s: output files. */
	static const struct {
		const char *cmd;
		int mentions; /* the output shows an EVIL name */
		int rc;
	} cmds[] = {
		{"info %3$s", 1, 0},
		{"info --json %3$s", 1, 0},
		{"top %3$s", 1, 0},
		{"top %3$s --by module", 1, 0},
		{"top %3$s --by site --json", 1, 0},
		{"show %3$s 0x1000000", 1, 0},
		{"show %3$s 0x2000000", 1, 0},
		{"show %3$s 0x10000", 1, 0},
		{"show %3$s 0x13000", 1, 0},
		{"show --json %3$s 0x1000000", 1, 0},
		{"show %3$s Itxem", 0, 1},
		{"show %3$s 0x10008", 1, 1}, /* inside the module: the error names it */
		{"path %3$s 0x2000100", 1, 0},
		{"path %3$s 0x14000 --all 3", 1, 0},
		{"path --json %3$s 0x2000100", 1, 0},
		{"dominators %3$s", 1, 0},
		{"dominators --json %3$s", 1, 0},
		{"tasks %3$s", 1, 0},
		{"tasks --json %3$s", 1, 0},
		{"sites %3$s", 1, 0},
		{"sites %3$s --by traceback", 1, 0},
		{"sites %3$s --by file --json", 1, 0},
		{"diff %1$s %3$s", 1, 0},
		{"diff %1$s %3$s --by site", 1, 0},
		{"diff %1$s %3$s --new", 1, 0},
		{"diff %1$s %3$s --json", 1, 0},
		{"leaks --min-growth 0 %1$s %2$s %3$s", 1, 0},
		{"leaks --min-growth 0 %1$s %2$s", 1, 0},
		{"leaks --min-growth 0 --json %1$s %2$s %3$s", 1, 0},
		{"sql %3$s 'SELECT s FROM strings'", 1, 0},
		{"sql --json %3$s 'SELECT * FROM objects_v'", 1, 0},
		{"graph %1$s %2$s %3$s --leak 1 --min-growth 0 -o %4$s", 0, 0},
		{"graph %1$s %2$s %3$s --leak 1 --min-growth 0 -o %4$s --json", 1, 0},
		{"report %1$s %2$s %3$s -o %5$s", 0, 0},
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char *cmd, *out;
		cr_assert(asprintf(&cmd, cmds[i].cmd, d[0], d[1], d[2], svg, html) > 0);
		int rc = td_run(&out, "%s 2>&1", cmd);
		cr_assert_eq(rc, cmds[i].rc, "'%s' exited %d: %s", cmd, rc, out);
		no_control(cmd, out, cmds[i].mentions);
		free(out);
		free(cmd);
	}
	for (int k = 0; k < 3; k++)
		free(d[k]);
	free(svg);
	free(html);
}

/* A database made to name its source and its columns with controls. */
Test(hostile, database_names_reach_the_terminal_as_text)
{
	char *path = evil_dump("db.hsnap", 1), *db = td_path("evil.db"), *py = td_path("evil.py");
	char *out;
	cr_assert_eq(td_run(NULL, "load %s -o %s >/dev/null 2>&1", path, db), 0);
	FILE *f = fopen(py, "w");
	cr_assert(f);
	fputs("import sqlite3, sys\n"
	      "evil = 'x\\x1b]0;PWNED\\x07\\x1b[2J\\x9b2J'\n"
	      "c = sqlite3.connect(sys.argv[1])\n"
	      "c.execute('CREATE TABLE t (\"%s\" INTEGER)' % evil)\n"
	      "c.execute('INSERT INTO t VALUES (1)')\n"
	      "c.execute(\"UPDATE meta SET value = ? WHERE key = 'load.source'\", (evil,))\n"
	      "c.commit()\n",
	      f);
	fclose(f);
	cr_assert_eq(td_sh(NULL, "python3 %s %s", py, db), 0);
	cr_assert_eq(td_run(&out, "sql %s 'SELECT * FROM t' 2>&1", db), 0, "%s", out);
	no_control("sql", out, 1);
	free(out);
	cr_assert_eq(td_run(&out, "info %s 2>&1", db), 0, "%s", out);
	no_control("info", out, 1);
	free(out);
	free(py);
	free(db);
	free(path);
}

Test(hostile, sql_statements_without_columns_or_with_many)
{
	char *path = evil_dump("cols.hsnap", 1), *out;
	cr_assert_eq(td_run(&out, "sql %s 'PRAGMA cache_size=10' 2>&1", path), 0, "%s", out);
	cr_assert_str_eq(out, "");
	free(out);
	cr_assert_eq(td_run(&out, "sql --json %s 'PRAGMA cache_size=10; SELECT 1 AS one' 2>&1", path),
	             0, "%s", out);
	cr_assert_str_eq(out, "[{\"one\":1}]\n");
	free(out);
	/* 40 columns: all of them, in both forms */
	char sel[1024] = "SELECT 1 AS c1";
	for (int i = 2; i <= 40; i++)
		snprintf(sel + strlen(sel), sizeof(sel) - strlen(sel), ", %d AS c%d", i, i);
	cr_assert_eq(td_run(&out, "sql %s '%s' 2>&1", path, sel), 0, "%s", out);
	cr_assert(strstr(out, "c39  c40\n"), "%s", out);
	cr_assert(strstr(out, "39   40\n"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "sql --json %s '%s' 2>&1", path, sel), 0, "%s", out);
	cr_assert(td_json_ok(out), "%s", out);
	cr_assert(strstr(out, "\"c32\":32,\"c33\":33,"), "%s", out);
	cr_assert(strstr(out, "\"c40\":40}]"), "%s", out);
	free(out);
	free(path);
}

Test(hostile, sql_writes_no_file)
{
	char *path = evil_dump("w.hsnap", 1), *copy = td_path("copy.db"), *other = td_path("o.db");
	char *out;
	cr_assert_eq(td_run(&out, "sql %s \"VACUUM INTO '%s'\" 2>&1", path, copy), 1, "%s", out);
	cr_assert(strstr(out, "heapsnap: sql: ATTACH and VACUUM are refused"), "%s", out);
	cr_assert_neq(access(copy, F_OK), 0, "VACUUM INTO wrote '%s'", copy);
	free(out);
	cr_assert_eq(td_run(&out, "sql %s \"VACUUM\" 2>&1", path), 1, "%s", out);
	free(out);
	/* an existing database, even read-only, is not the dump's */
	cr_assert_eq(td_run(NULL, "load %s -o %s >/dev/null 2>&1", path, other), 0);
	cr_assert_eq(td_run(&out, "sql %s \"ATTACH '%s' AS o; SELECT count(*) FROM o.objects\" 2>&1",
	                    path, other), 1, "%s", out);
	cr_assert(strstr(out, "refused"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "sql %s \"PRAGMA temp_store_directory = '/tmp'\" 2>&1", path), 1,
	             "%s", out);
	free(out);
	/* writes stay refused by the read-only database; temporary tables work */
	cr_assert_eq(td_run(&out, "sql %s \"DELETE FROM objects\" 2>&1", path), 1, "%s", out);
	cr_assert(strstr(out, "readonly"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "sql %s 'CREATE TEMP TABLE n AS SELECT 7 AS seven;"
	                          " SELECT seven FROM n' 2>&1", path), 0, "%s", out);
	cr_assert_str_eq(out, "seven\n7\n");
	free(out);
	free(other);
	free(copy);
	free(path);
}
