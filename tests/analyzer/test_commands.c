/* The analysis commands on a dump of known structure: a module holding a
 * list of asyncio tasks through its __dict__, a weak reference, an
 * unreachable cycle, a thread, allocation statistics. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tdump.h"

enum {
	MOD = 0x1000, DICT = 0x2000, LIST = 0x3000, KEY = 0x3100, TASK = 0x4000,
	WREF = 0x5000, LOST = 0x6000, CYC = 0x8000, FRAME = 0x9000, MAIN = 0x9100,
};

static void task(tdump *t, uint64_t addr, unsigned state, const char *coro, uint64_t line)
{
	hs_await chain[2] = {
		{addr + 0x10, td_str(t, coro), td_str(t, "app.py"), 0},
		{addr + 0x20, td_str(t, "sleep"), td_str(t, "asyncio/tasks.py"), line},
	};
	chain[1].file = td_str(t, line == 10 ? "app.py" : "other.py");
	hs_task tk = {.addr = addr, .state = state, .name = td_str(t, "Task-1"), .n = 2,
	              .chain = chain};
	cr_assert(!hs_writer_task(td_writer(t), &tk));
}

static char *known_dump(const char *name)
{
	char *path = td_path(name);
	tdump *t = td_open(path);
	hs_writer *w = td_writer(t);
	uint64_t frame = hs_writer_frame(w, td_str(t, "app.py"), 5);
	uint64_t tb = hs_writer_traceback(w, 1, &frame, 1);
	hs_site site = {.traceback = tb, .domain = 0, .count = 10, .bytes = 1000};
	cr_assert(!hs_writer_site(w, &site));

	hs_object mod = {.addr = MOD, .type = td_type(t, "module"), .size = 72,
	                 .flags = HS_OF_HAS_NAME, .name = td_str(t, "app.stats")};
	td_object(t, &mod);
	td_ref(t, MOD, DICT, HS_E_DICT_ATTR, NULL);
	td_ref(t, MOD, WREF, HS_E_ATTR, "cache");
	td_obj(t, DICT, "builtins.dict", 232);
	hs_edge de[2] = {{KEY, HS_E_DICT_KEY, td_str(t, "'_pending'")},
	                 {LIST, HS_E_DICT_VALUE, td_str(t, "'_pending'")}};
	td_refs(t, DICT, de, 2);
	hs_object key = {.addr = KEY, .type = td_type(t, "builtins.str"), .size = 57,
	                 .flags = HS_OF_HAS_VALUE, .value = (const uint8_t *)"_pending",
	                 .value_len = 8};
	td_object(t, &key);
	hs_object list = {.addr = LIST, .type = td_type(t, "builtins.list"), .size = 88,
	                  .flags = HS_OF_HAS_LEN | HS_OF_HAS_TRACE, .len = 3, .trace = tb};
	td_object(t, &list);
	hs_edge le[3];
	for (int i = 0; i < 3; i++) {
		td_obj(t, TASK + (uint64_t)i * 0x100, "_asyncio.Task", 1000);
		le[i] = (hs_edge){TASK + (uint64_t)i * 0x100, HS_E_INDEX, (uint64_t)i};
	}
	td_refs(t, LIST, le, 3);
	/* The weakref is a shorter way to task 1, but weak: never a path. It
	 * is the only way to LOST, which is therefore garbage. */
	td_obj(t, WREF, "weakref.ReferenceType", 80);
	hs_edge we[2] = {{TASK + 0x100, HS_E_WEAK, 0}, {LOST, HS_E_WEAK, 0}};
	td_refs(t, WREF, we, 2);
	td_obj(t, LOST, "builtins.bytes", 500);
	td_obj(t, CYC, "app.Node", 64);
	td_obj(t, CYC + 0x100, "app.Node", 64);
	td_ref(t, CYC, CYC + 0x100, HS_E_ATTR, "next");
	td_ref(t, CYC + 0x100, CYC, HS_E_ATTR, "prev");
	hs_object fr = {.addr = FRAME, .type = td_type(t, "frame"), .size = 400,
	                .flags = HS_OF_HAS_NAME, .name = td_str(t, "main")};
	td_object(t, &fr);
	td_obj(t, MAIN, "_asyncio.Task", 1000);
	td_ref(t, FRAME, MAIN, HS_E_LOCAL, "t");
	td_root(t, MOD, HS_R_MODULES, "app.stats", 0);
	td_root(t, FRAME, HS_R_THREAD_FRAME, NULL, 7);
	hs_thread th = {.ident = 7, .native_id = 70, .name = td_str(t, "MainThread"),
	                .frame = FRAME, .flags = 3};
	cr_assert(!hs_writer_thread(w, &th));
	task(t, TASK, HS_T_PENDING, "worker", 10);
	task(t, TASK + 0x100, HS_T_PENDING, "worker", 10);
	task(t, TASK + 0x200, HS_T_CANCELLED, "worker", 10);
	task(t, MAIN, HS_T_FINISHED, "main", 20);
	td_close(t);
	return path;
}

static char *run_ok(const char *fmt, const char *path, const char *arg)
{
	char *out;
	int rc = td_run(&out, fmt, path, arg);
	cr_assert_eq(rc, 0, "exit %d for '%s': %s", rc, fmt, out);
	return out;
}

Test(commands, path_with_labels)
{
	char *path = known_dump("path.hsnap");
	char *out = run_ok("path %s %s", path, "0x4100");
	cr_assert(strstr(out, "path 1: module app.stats → __dict__['_pending'] → list[1] → Task\n"),
	          "%s", out);
	cr_assert(strstr(out, ".__dict__"), "%s", out);
	cr_assert_null(strstr(out, "weak"), "a weak reference on a path: %s", out);
	free(out);
	/* Reachable only through a weak reference: no path, it is garbage. */
	out = run_ok("path %s %s", path, "0x6000");
	cr_assert(strstr(out, "not reachable from any root"), "%s", out);
	free(out);
	/* From a thread's frame, by local variable. */
	out = run_ok("path %s %s", path, "0x9100");
	cr_assert(strstr(out, "thread MainThread frame main.f_locals['t'] → Task"), "%s", out);
	free(out);
	out = run_ok("path %s %s --all 5", path, "0x4100");
	cr_assert(strstr(out, "path 1:"), "%s", out);
	cr_assert_null(strstr(out, "path 2:"), "%s", out);
	free(out);
	free(path);
}

Test(commands, garbage_and_totals)
{
	char *path = known_dump("garbage.hsnap");
	char *out = run_ok("info --json %s%s", path, "");
	cr_assert(td_json_ok(out), "%s", out);
	/* The weakly held bytes and the two-object cycle. */
	cr_assert(strstr(out, "\"garbage\":3,"), "%s", out);
	cr_assert(strstr(out, "\"garbage_bytes\":628,"), "%s", out);
	cr_assert(strstr(out, "\"roots\":2,"), "%s", out);
	cr_assert(strstr(out, "\"complete\":true"), "%s", out);
	free(out);
	out = run_ok("sql %s %s", path, "'SELECT count(*) FROM objects WHERE NOT reachable'");
	cr_assert(strstr(out, "\n3\n"), "%s", out);
	free(out);
	free(path);
}

Test(commands, tasks_grouped)
{
	char *path = known_dump("tasks.hsnap");
	char *out = run_ok("tasks --json %s%s", path, "");
	cr_assert(td_json_ok(out), "%s", out);
	cr_assert(strstr(out, "{\"tasks\":{\"pending\":2,\"cancelled\":1,\"finished\":1},"), "%s",
	          out);
	cr_assert(strstr(out, "{\"coroutine\":\"worker\",\"created_at\":null,\"defined_at\":null,"
	                      "\"chain\":[{\"name\":\"worker\",\"file\":\"app.py\",\"line\":0},"
	                      "{\"name\":\"sleep\",\"file\":\"app.py\",\"line\":10}],\"tasks\":3,"
	                      "\"pending\":2,\"cancelled\":1,\"finished\":0}"),
	          "%s", out);
	cr_assert(strstr(out, "{\"name\":\"sleep\",\"file\":\"other.py\",\"line\":20}],\"tasks\":1,"
	                      "\"pending\":0,\"cancelled\":0,\"finished\":1}"),
	          "%s", out);
	free(out);
	free(path);
}

Test(commands, show_and_resolution)
{
	char *path = known_dump("show.hsnap"), *out;
	out = run_ok("show %s %s", path, "0x3000");
	cr_assert(strstr(out, "0x3000 list (len 3)"), "%s", out);
	cr_assert(strstr(out, "['_pending']  0x2000   dict"), "%s", out);
	cr_assert(strstr(out, "[2]  0x4200   Task"), "%s", out);
	cr_assert(strstr(out, "app.py:5"), "%s", out);
	cr_assert(strstr(out, "retained   3.0 KiB"), "%s", out);
	free(out);
	out = run_ok("show %s %s", path, "list");
	cr_assert(strstr(out, "0x3000 list"), "%s", out);
	free(out);
	out = run_ok("show %s %s", path, "Task#4");
	cr_assert(strstr(out, "Task"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "show %s 0x3008 2>&1", path), 1);
	cr_assert_str_eq(out, "heapsnap: no object at 0x3008; it is inside 0x3000 (list (len 3), 88 "
	                      "bytes)\n");
	free(out);
	cr_assert_eq(td_run(&out, "show %s Tsak 2>&1", path), 1);
	cr_assert(strstr(out, "no type 'Tsak' in the dump; closest: _asyncio.Task"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "show %s Task#9 2>&1", path), 1);
	cr_assert(strstr(out, "fewer"), "%s", out);
	free(out);
	free(path);
}

Test(commands, top_and_dominators)
{
	char *path = known_dump("top.hsnap"), *out;
	out = run_ok("top %s %s", path, "--by type --sort count -n 1");
	cr_assert(strstr(out, "_asyncio.Task      4  3.9 KiB   3.9 KiB"), "%s", out);
	free(out);
	out = run_ok("top --json %s %s", path, "--by module");
	cr_assert(strstr(out, "{\"module\":\"app\",\"count\":2,\"size\":128,\"retained\":0}"), "%s",
	          out);
	free(out);
	out = run_ok("dominators %s %s", path, "-n 1");
	cr_assert(strstr(out, "0x1000   module app.stats"), "%s", out);
	cr_assert(strstr(out, "1 builtins.dict"), "%s", out);
	free(out);
	free(path);
}

Test(commands, every_json_parses)
{
	char *path = known_dump("json.hsnap");
	static const char *const cmds[] = {
		"info --json %s", "top --json %s", "top --json --by module %s",
		"top --json --by site --sort retained %s", "show --json %s 0x3000",
		"show --json %s 0x5000", "path --json %s 0x4100", "path --json --all 3 %s 0x6000",
		"dominators --json %s", "sites --json %s", "sites --json --by traceback %s",
		"sites --json --by file %s", "tasks --json %s",
		"sql --json %s 'SELECT * FROM objects_v; SELECT * FROM refs_v'",
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char *out;
		cr_assert_eq(td_run(&out, cmds[i], path), 0, "%s", cmds[i]);
		cr_assert(td_json_ok(out), "%s: %s", cmds[i], out);
		free(out);
	}
	char *db = td_path("json.db"), *out;
	cr_assert_eq(td_run(&out, "load --json %s -o %s", path, db), 0);
	cr_assert(td_json_ok(out), "%s", out);
	free(out);
	free(db);
	free(path);
}

Test(commands, cache_reused_until_the_dump_changes)
{
	char *path = known_dump("cache.hsnap"), *db;
	cr_assert(asprintf(&db, "%s.db", path) > 0);
	cr_assert_eq(td_run(NULL, "top %s >/dev/null", path), 0);
	struct stat a, b;
	cr_assert_eq(stat(db, &a), 0);
	cr_assert_eq(td_run(NULL, "tasks %s >/dev/null", path), 0);
	cr_assert_eq(stat(db, &b), 0);
	cr_assert_eq(a.st_ino, b.st_ino, "reloaded an unchanged dump");
	/* A new dump at the same path: loaded again. */
	free(known_dump("cache.hsnap"));
	cr_assert_eq(td_run(NULL, "top %s >/dev/null", path), 0);
	cr_assert_eq(stat(db, &b), 0);
	cr_assert_neq(a.st_ino, b.st_ino, "kept a stale database");
	/* A database given directly works like its dump. */
	char *out;
	cr_assert_eq(td_run(&out, "path %s 0x4100", db), 0);
	cr_assert(strstr(out, "list[1] → Task"), "%s", out);
	free(out);
	free(db);
	free(path);
}

Test(commands, bad_input)
{
	char *path = known_dump("bad.hsnap"), *out;
	struct stat sb;
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(truncate(path, sb.st_size * 2 / 3), 0);
	cr_assert_eq(td_run(&out, "top %s 2>&1 >/dev/null", path), 0);
	cr_assert(strstr(out, "heapsnap: warning: '"), "%s", out);
	cr_assert(strstr(out, "truncated or damaged"), "%s", out);
	free(out);
	char *junk = td_path("junk.hsnap");
	FILE *f = fopen(junk, "w");
	fputs("definitely not a heap snapshot\n", f);
	fclose(f);
	cr_assert_eq(td_run(&out, "top %s 2>&1", junk), 1);
	cr_assert(strstr(out, "not a heapsnap dump"), "%s", out);
	cr_assert_eq(strchr(out, '\n') - out + 1, (long)strlen(out), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "top %s --by color 2>&1", junk), 2);
	cr_assert(strstr(out, "must be one of type|module|site"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "show /nonexistent.hsnap 0x1 2>&1"), 1);
	cr_assert(strstr(out, "No such file or directory"), "%s", out);
	free(out);
	free(junk);
	free(path);
}

/* The refs and referrers views unfold the edges rows into one row per
 * reference, both ways, repeated and weak references included. */
Test(commands, refs_and_referrers_views)
{
	char *path = td_path("views.hsnap");
	tdump *t = td_open(path);
	td_obj(t, 0x100, "builtins.list", 72);
	td_obj(t, 0x200, "builtins.str", 50);
	td_obj(t, 0x300, "weakref.ReferenceType", 80);
	td_obj(t, 0x400, "app.Holder", 48);
	hs_edge le[3] = {{0x200, HS_E_INDEX, 0}, {0x200, HS_E_INDEX, 1}, {0x300, HS_E_INDEX, 2}};
	td_refs(t, 0x100, le, 3);
	td_ref(t, 0x300, 0x200, HS_E_WEAK, NULL);
	td_ref(t, 0x400, 0x200, HS_E_ATTR, "name");
	td_root(t, 0x100, HS_R_MODULES, "app", 0);
	td_root(t, 0x400, HS_R_MODULES, "app2", 0);
	td_close(t);
	char *out = run_ok("sql %s %s", path,
	                   "'SELECT group_concat(e, \" \") FROM (SELECT"
	                   " printf(\"%x>%x/%d/%s\", s.addr, d.addr, r.seq, r.kind) AS e"
	                   " FROM refs_v r JOIN objects s ON s.id = r.src"
	                   " JOIN objects d ON d.id = r.dst ORDER BY s.addr, r.seq)'");
	cr_assert(strstr(out, "100>200/0/index 100>200/1/index 100>300/2/index 300>200/0/weak"
	                      " 400>200/0/attr\n"),
	          "%s", out);
	free(out);
	out = run_ok("sql %s %s", path,
	             "'SELECT group_concat(e, \" \") FROM (SELECT"
	             " printf(\"%x:%d:%d:%d\", s.addr, r.seq, r.kind, r.label) AS e"
	             " FROM referrers r JOIN objects s ON s.id = r.src"
	             " WHERE r.dst = (SELECT id FROM objects WHERE addr = 512) ORDER BY s.addr, r.seq)'");
	cr_assert(strstr(out, "100:0:4:0 100:1:4:1 300:0:11:0 400:0:3:"), "%s", out);
	free(out);
	out = run_ok("sql %s %s", path,
	             "'SELECT group_concat(e, \" \") FROM (SELECT kind || \":\" || coalesce(label, \"-\") AS e"
	             " FROM referrers_v WHERE dst = (SELECT id FROM objects WHERE addr = 512)"
	             " ORDER BY src, seq)'");
	cr_assert(strstr(out, "index:0 index:1 weak:- attr:name\n"), "%s", out);
	free(out);
	out = run_ok("sql %s %s", path,
	             "'SELECT (SELECT count(*) FROM refs) || \"=\" || value FROM meta"
	             " WHERE key = \"load.references\"'");
	cr_assert(strstr(out, "5=5"), "%s", out);
	free(out);
	/* show counts referring objects; all four references are listed */
	out = run_ok("show %s %s", path, "0x200");
	cr_assert(strstr(out, "referrers: 3 objects\n"), "%s", out);
	cr_assert(strstr(out, "[0] ") && strstr(out, "[1] ") && strstr(out, "(weak)") &&
	          strstr(out, ".name "), "%s", out);
	free(out);
	out = run_ok("show %s %s", path, "0x200 -n 2");
	cr_assert(strstr(out, "referrers: 3 objects (the first shown; see -n)\n"), "%s", out);
	free(out);
	free(path);
}
