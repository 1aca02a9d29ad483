/* End to end: a real asyncio program (e2e_tasks.py) with 300 pending tasks
 * behind an Event and 200 plain futures, dumped with and without
 * tracemalloc: 'tasks' counts tasks as asyncio.all_tasks() does, futures
 * apart, and leads the group with the coroutine, the line that created
 * the tasks (the def line without tracemalloc) and the await chain; so
 * does 'report'. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdump.h"

typedef struct lines {
	int create, def, writer, send, all_tasks;
} lines;

static lines dump(const char *path, const char *mode)
{
	char *cmd, out[256] = "";
	lines l;
	cr_assert(asprintf(&cmd, "PYTHONPATH=%s %s %s/e2e_tasks.py %s %s", HS_TEST_PYPATH,
	                   HS_TEST_PYTHON, HS_TEST_SCRIPTS, path, mode) > 0);
	FILE *p = popen(cmd, "r");
	cr_assert(p);
	cr_assert(fgets(out, sizeof(out), p), "no output from %s", cmd);
	cr_assert_eq(pclose(p), 0, "%s failed", cmd);
	cr_assert_eq(sscanf(out, "%d %d %d %d %d", &l.create, &l.def, &l.writer, &l.send,
	                    &l.all_tasks), 5, "%s", out);
	free(cmd);
	return l;
}

static void check(const char *mode)
{
	char *path = td_path("tasks.hsnap"), *out, want[256];
	lines l = dump(path, mode);
	cr_assert_eq(td_run(&out, "tasks %s", path), 0, "%s", out);
	snprintf(want, sizeof(want), "%d pending tasks (what asyncio.all_tasks() counts), 0 cancelled,"
	         " 3 finished\n", l.all_tasks);
	cr_assert(strstr(out, want), "want '%s' in:\n%s", want, out);
	/* 200 made by loop.create_future(), 300 the tasks' Event.wait() waits on */
	cr_assert(strstr(out, "500 pending futures (not tasks): 300 awaited by pending tasks,"
	                      " 200 by none;"), "%s", out);
	if (*mode)
		snprintf(want, sizeof(want), "  300  `stats_writer()` created at e2e_tasks.py:%d\n",
		         l.create);
	else
		snprintf(want, sizeof(want), "  300  `stats_writer()` defined at e2e_tasks.py:%d\n",
		         l.def);
	cr_assert(strstr(out, want), "want '%s' in:\n%s", want, out);
	snprintf(want, sizeof(want), "  `stats_writer` e2e_tasks.py:%d → `Client.send` e2e_tasks.py:%d"
	         " → `Event.wait` locks.py:", l.writer, l.send);
	cr_assert(strstr(out, want), "want '%s' in:\n%s", want, out);
	free(out);
	/* the report counts the same, tasks and futures apart */
	char *html_path = td_path("tasks.html");
	cr_assert_eq(td_run(&out, "report %s -o %s", path, html_path), 0, "%s", out);
	free(out);
	char *html = td_read(html_path);
	snprintf(want, sizeof(want), "Pending tasks per dump (what <code>asyncio.all_tasks()</code>"
	         " counts): %d; pending futures that are not tasks: 500.", l.all_tasks);
	cr_assert(strstr(html, want), "want '%s' in the report", want);
	snprintf(want, sizeof(want), "<td>`stats_writer()` %s at e2e_tasks.py:%d</td><td>"
	         "`stats_writer` e2e_tasks.py:%d → `Client.send` e2e_tasks.py:%d → `Event.wait`"
	         " locks.py:", *mode ? "created" : "defined", *mode ? l.create : l.def, l.writer,
	         l.send);
	cr_assert(strstr(html, want), "want '%s' in the report", want);
	free(html);
	free(html_path);
	free(path);
}

Test(e2e_tasks, traced, .timeout = 60)
{
	check("trace");
}

Test(e2e_tasks, untraced, .timeout = 60)
{
	check("");
}
