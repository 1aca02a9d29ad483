/* asyncio tasks in terms of the task, on a dump of known structure: tasks
 * and plain futures counted apart; each group of tasks led by its
 * coroutine and the line that created it (tracemalloc's traceback, else
 * the coroutine's def line), then its await chain, in 'tasks', in
 * hsa_task_text (what 'leaks' says) and in the graph's task boxes. Also a
 * held-from-C root named by the dumper, in 'path' and 'graph'. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio.h"
#include "db.h"
#include "tdump.h"

enum {
	MOD = 0x1000, DICT = 0x2000, LIST = 0x3000, TASK = 0x4000, CORO = 0x5000, CODE = 0x6000,
	FUT = 0x7000, LOOSE = 0x7800, DONE = 0x7900, BOUND = 0x8000, PLAIN = 0x8100,
};

/* Task k (0-3) at TASK + k * 0x100: 0 and 1 pending, created at app.py:31
 * (a traceback through asyncio's own frames); 2 pending, untraced; 3
 * cancelled, created at app.py:31. Pending task k awaits future FUT + k. */
static void task(tdump *t, int k, uint64_t trace)
{
	uint64_t addr = TASK + (uint64_t)k * 0x100, coro = CORO + (uint64_t)k * 0x100;
	hs_object o = {.addr = addr, .type = td_type(t, "_asyncio.Task"), .size = 200,
	               .flags = trace && k != 2 ? HS_OF_HAS_TRACE : 0, .trace = k != 2 ? trace : 0};
	td_object(t, &o);
	td_ref(t, addr, coro, HS_E_NAMED, "_coro");
	hs_object c = {.addr = coro, .type = td_type(t, "coroutine"), .size = 100,
	               .flags = HS_OF_HAS_NAME, .name = td_str(t, "worker")};
	td_object(t, &c);
	td_ref(t, coro, CODE, HS_E_NAMED, "gi_code");
	int pending = k < 3;
	hs_await chain[4] = {
		{coro, td_str(t, "worker"), td_str(t, "/srv/app/app.py"), 7},
		{coro + 0x10, td_str(t, "Client.send"), td_str(t, "/srv/app/client.py"), 12},
		{coro + 0x20, td_str(t, "Event.wait"),
		 td_str(t, "/usr/lib/python3.11/asyncio/locks.py"), 213},
		{FUT + (uint64_t)k, td_str(t, "_asyncio.Future"), 0, 0},
	};
	hs_task tk = {.addr = addr, .state = pending ? HS_T_PENDING : HS_T_CANCELLED,
	              .name = td_str(t, "Task-1"), .coro = coro,
	              .awaited = pending ? FUT + (uint64_t)k : 0, .n = pending ? 4 : 1,
	              .chain = chain};
	cr_assert(!hs_writer_task(td_writer(t), &tk));
	if (pending) {
		td_obj(t, FUT + (uint64_t)k, "_asyncio.Future", 100);
		hs_task f = {.addr = FUT + (uint64_t)k, .state = HS_T_PENDING};
		cr_assert(!hs_writer_task(td_writer(t), &f));
		td_root(t, addr, HS_R_ASYNC_TASK, NULL, 0);
	}
}

static char *known_dump(const char *name, int traced)
{
	char *path = td_path(name);
	tdump *t = td_open(path);
	hs_writer *w = td_writer(t);
	/* innermost first: asyncio's create_task, then the program's call */
	uint64_t frames[4] = {
		hs_writer_frame(w, td_str(t, "/usr/lib/python3.11/asyncio/base_events.py"), 436),
		hs_writer_frame(w, td_str(t, "/usr/lib/python3.11/asyncio/tasks.py"), 384),
		hs_writer_frame(w, td_str(t, "/srv/app/app.py"), 31),
		hs_writer_frame(w, td_str(t, "/srv/app/app.py"), 50),
	};
	uint64_t tb = traced ? hs_writer_traceback(w, 4, frames, 4) : 0;
	hs_object mod = {.addr = MOD, .type = td_type(t, "module"), .size = 72,
	                 .flags = HS_OF_HAS_NAME, .name = td_str(t, "app")};
	td_object(t, &mod);
	td_root(t, MOD, HS_R_MODULES, "app", 0);
	td_ref(t, MOD, DICT, HS_E_DICT_ATTR, NULL);
	td_obj(t, DICT, "builtins.dict", 232);
	td_ref(t, DICT, LIST, HS_E_DICT_VALUE, "'_tasks'");
	hs_edge le[6];
	for (int k = 0; k < 4; k++)
		le[k] = (hs_edge){TASK + (uint64_t)k * 0x100, HS_E_INDEX, (uint64_t)k};
	le[4] = (hs_edge){LOOSE, HS_E_INDEX, 4};
	le[5] = (hs_edge){DONE, HS_E_INDEX, 5};
	td_obj(t, LIST, "builtins.list", 120);
	td_refs(t, LIST, le, 6);
	hs_object code = {.addr = CODE, .type = td_type(t, "code"), .size = 300,
	                  .flags = HS_OF_HAS_NAME, .name = td_str(t, "worker /srv/app/app.py:5")};
	td_object(t, &code);
	for (int k = 0; k < 4; k++)
		task(t, k, tb);
	/* plain futures: one no task awaits, one done */
	td_obj(t, LOOSE, "_asyncio.Future", 100);
	td_obj(t, DONE, "_asyncio.Future", 100);
	hs_task loose = {.addr = LOOSE, .state = HS_T_PENDING};
	hs_task done = {.addr = DONE, .state = HS_T_FINISHED};
	cr_assert(!hs_writer_task(w, &loose));
	cr_assert(!hs_writer_task(w, &done));
	/* held from C: a bound method atexit holds (named), a list nobody names */
	hs_object m = {.addr = BOUND, .type = td_type(t, "method"), .size = 48,
	               .flags = HS_OF_HAS_NAME, .name = td_str(t, "Conn.close")};
	td_object(t, &m);
	td_root(t, BOUND, HS_R_HELD_FROM_C, "registered with atexit (callback 3 of 5)", 1);
	td_obj(t, PLAIN, "builtins.list", 56);
	td_root(t, PLAIN, HS_R_HELD_FROM_C, NULL, 2);
	td_close(t);
	return path;
}

static char *run_ok(const char *fmt, const char *a, const char *b)
{
	char *out;
	int rc = td_run(&out, fmt, a, b);
	cr_assert_eq(rc, 0, "exit %d for '%s': %s", rc, fmt, out);
	return out;
}

Test(tasks, tasks_and_futures_apart)
{
	char *path = known_dump("apart.hsnap", 1);
	char *out = run_ok("tasks %s%s", path, "");
	cr_assert(strstr(out, "3 pending tasks (what asyncio.all_tasks() counts), 1 cancelled,"
	                      " 0 finished\n"), "%s", out);
	cr_assert(strstr(out, "4 pending futures (not tasks): 3 awaited by pending tasks, 1 by none;"
	                      " 1 done\n"), "%s", out);
	/* created where the program called create_task, not in asyncio */
	cr_assert(strstr(out, "  2  `worker()` created at app.py:31\n"), "%s", out);
	cr_assert(strstr(out, "     `worker` app.py:7 → `Client.send` client.py:12 → `Event.wait`"
	                      " locks.py:213\n"), "%s", out);
	/* untraced: where the coroutine is defined */
	cr_assert(strstr(out, "  1  `worker()` defined at app.py:5\n"), "%s", out);
	cr_assert(strstr(out, "  1  `worker()` created at app.py:31 (1 cancelled)\n"), "%s", out);
	cr_assert_null(strstr(out, "Future"), "a future among the tasks: %s", out);
	free(out);
	out = run_ok("tasks --json %s%s", path, "");
	cr_assert(td_json_ok(out), "%s", out);
	cr_assert(strstr(out, "{\"tasks\":{\"pending\":3,\"cancelled\":1,\"finished\":0},"
	                      "\"futures\":{\"pending\":4,\"cancelled\":0,\"finished\":1,"
	                      "\"awaited\":3},\"groups\":["), "%s", out);
	cr_assert(strstr(out, "{\"coroutine\":\"worker\",\"created_at\":\"/srv/app/app.py:31\","
	                      "\"defined_at\":null,\"chain\":[{\"name\":\"worker\",\"file\":"
	                      "\"/srv/app/app.py\",\"line\":7},{\"name\":\"Client.send\"," ),
	          "%s", out);
	cr_assert(strstr(out, "\"tasks\":2,\"pending\":2,\"cancelled\":0,\"finished\":0}"), "%s",
	          out);
	free(out);
	/* -n: the largest groups */
	out = run_ok("tasks %s %s", path, "-n 1");
	cr_assert(strstr(out, "... and 2 more groups"), "%s", out);
	free(out);
	free(path);
}

Test(tasks, untraced_dump_names_the_def_line)
{
	char *path = known_dump("untraced.hsnap", 0);
	char *out = run_ok("tasks %s%s", path, "");
	cr_assert(strstr(out, "  3  `worker()` defined at app.py:5\n"), "%s", out);
	cr_assert(strstr(out, "  1  `worker()` defined at app.py:5 (1 cancelled)\n"), "%s", out);
	free(out);
	free(path);
}

/* What 'leaks' says of a task: hsa_task_text. */
Test(tasks, task_text)
{
	char *path = known_dump("text.hsnap", 1), err[256];
	sqlite3 *db = NULL;
	cr_assert_eq(hsa_db_open(path, &db, NULL, err, sizeof(err)), 0, "%s", err);
	static const struct {
		uint64_t addr;
		int r;
		const char *text;
	} cases[] = {
		{TASK, 1, "`worker()` created at app.py:31, suspended at app.py:7 awaiting"
		          " `Client.send` client.py:12 → `Event.wait` locks.py:213"},
		{TASK + 0x200, 1, "`worker()` defined at app.py:5, suspended at app.py:7 awaiting"
		                  " `Client.send` client.py:12 → `Event.wait` locks.py:213"},
		{TASK + 0x300, 1, "`worker()` created at app.py:31, cancelled"},
		{LOOSE, 0, ""},
		{LIST, 0, ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sqlite3_stmt *st = hsa_db_prepare(db, "SELECT id FROM objects WHERE addr = ?", err,
		                                  sizeof(err));
		cr_assert(st, "%s", err);
		sqlite3_bind_int64(st, 1, (int64_t)cases[i].addr);
		cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
		int64_t id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		hsa_str s = {0};
		int r = hsa_task_text(db, id, &s, err, sizeof(err));
		cr_assert_eq(r, cases[i].r, "0x%lx: %d (%s)", (unsigned long)cases[i].addr, r, err);
		cr_assert_str_eq(s.s ? s.s : "", cases[i].text);
		hsa_str_free(&s);
	}
	sqlite3_close(db);
	free(path);
}

Test(tasks, graph_box_shows_coroutine_and_creation_line)
{
	char *path = known_dump("graph.hsnap", 1), *dot = td_path("task.dot");
	free(run_ok("graph %s 0x4000 -o %s", path, dot));
	char *got = td_read(dot);
	cr_assert(strstr(got, "label=\"pending asyncio task\\nTask worker()\\ncreated at app.py:31\\n"
	                      "200 B"), "%s", got);
	free(got);
	free(dot);
	free(path);
}

Test(tasks, held_from_c_root_named_by_its_holder)
{
	char *path = known_dump("held.hsnap", 1), *dot = td_path("held.dot");
	char *out = run_ok("path %s %s", path, "0x8000");
	cr_assert(strstr(out, "method Conn.close registered with atexit (callback 3 of 5)\n"), "%s",
	          out);
	cr_assert_null(strstr(out, "held from C"), "%s", out);
	free(out);
	/* without a name from the dumper, the refcount surplus */
	out = run_ok("path %s %s", path, "0x8100");
	cr_assert(strstr(out, "list held from C (+2)\n"), "%s", out);
	free(out);
	free(run_ok("graph %s 0x8000 -o %s", path, dot));
	char *got = td_read(dot);
	cr_assert(strstr(got, "label=\"registered with atexit (callback 3 of 5)\\nmethod Conn.close"),
	          "%s", got);
	free(got);
	free(run_ok("graph %s 0x8100 -o %s", path, dot));
	got = td_read(dot);
	cr_assert(strstr(got, "label=\"held from C (+2)\\nlist"), "%s", got);
	free(got);
	free(dot);
	free(path);
}
