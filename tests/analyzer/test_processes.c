/* 'leaks', 'report' and 'diff' over dumps of several processes (a prefork
 * service's workers in one folder): sorted by dump time, grouped by
 * process (pid and start), each process's series analysed on its own;
 * --pid and --since; a process with one dump is named, never a silent
 * "no leak". */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tdump.h"

#define MOD 0x10000
#define NS 0x11000
#define PENDING 0x12000
#define ITEM 0x1000000
#define PER_DUMP 10
#define MIB (1024 * 1024ULL)
#define STEP 600 /* seconds between two dumps of the folder */

/* A process as its dumps' metadata tell it. */
typedef struct proc {
	int64_t pid;
	uint64_t ticks;   /* process.start_ticks; 0: a dump before the process.* keys */
	const char *host;
	const char *argv;
	int leaks;        /* its list grows by PER_DUMP items per dump */
} proc;

static double t0; /* the folder's first dump: two hours ago */

static void tracked(tdump *t, uint64_t addr, const char *type, uint64_t size, unsigned gen)
{
	hs_object o = {.addr = addr, .type = td_type(t, type), .size = size,
	               .flags = HS_OF_GC_TRACKED | (gen << HS_OF_GEN_SHIFT)};
	td_object(t, &o);
}

/* The nth dump (1, 2, ...) of process p, taken at slot (t0 + slot * STEP),
 * written as dir/name. */
static void proc_dump(const char *dir, const char *name, const proc *p, int nth, int slot)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	tdump *t = td_open(path);
	hs_writer *w = td_writer(t);
	hs_writer_meta_int(w, "pid", p->pid);
	hs_writer_meta_str(w, "host", p->host);
	hs_writer_meta_str(w, "argv", p->argv);
	if (p->ticks) {
		hs_writer_meta_uint(w, "process.start_ticks", p->ticks);
		hs_writer_meta_str(w, "process.boot_id", "0b0b0b0b-1111-2222-3333-444455556666");
		hs_writer_meta_f64(w, "process.start", t0 - 3600 + (double)p->ticks / 100);
	}
	hs_writer_meta_f64(w, "time", t0 + slot * STEP);
	hs_writer_meta_uint(w, "rss", (50 + (uint64_t)nth) * MIB);
	hs_object mod = {.addr = MOD, .type = td_type(t, "module"), .size = 72,
	                 .flags = HS_OF_HAS_NAME, .name = td_str(t, "app")};
	td_object(t, &mod);
	td_ref(t, MOD, NS, HS_E_DICT_ATTR, NULL);
	td_root(t, MOD, HS_R_MODULES, "app", 0);
	tracked(t, NS, "dict", 640, 2);
	td_ref(t, NS, PENDING, HS_E_DICT_VALUE, "'_pending'");
	int items = p->leaks ? PER_DUMP * nth : PER_DUMP;
	tracked(t, PENDING, "list", 56 + 8 * (uint64_t)items, 2);
	hs_edge e[64];
	for (int k = 0; k < items; k++)
		e[k] = (hs_edge){ITEM + (uint64_t)k * 0x100, HS_E_INDEX, (uint64_t)k};
	td_refs(t, PENDING, e, (size_t)items);
	for (int k = 0; k < items; k++)
		tracked(t, ITEM + (uint64_t)k * 0x100, "app.Item", 1000,
		        p->leaks && k / PER_DUMP + 1 == nth ? 0 : 2);
	td_close(t);
}

static const proc leaker = {4033, 1000, "web1", "[\"app.py\", \"--worker\", \"1\"]", 1};
static const proc steady = {4034, 2000, "web1", "[\"app.py\", \"--worker\", \"2\"]", 0};
static const proc once = {4035, 3000, "web1", "[\"app.py\", \"--worker\", \"3\"]", 0};
/* pid 4033 again, after the leaker exited: another process */
static const proc reused = {4033, 9000, "web1", "[\"app.py\", \"--worker\", \"4\"]", 0};

/* A folder of eight dumps of four processes, the two workers' dumps
 * interleaved in time, the names sorting against the time order (a
 * restarted worker's pid sorts first). Returns the folder. */
static char *prefork_folder(void)
{
	t0 = (double)time(NULL) - 7200;
	char *dir = td_path("workers");
	cr_assert_eq(mkdir(dir, 0700), 0);
	proc_dump(dir, "z-4033-1.hsnap", &leaker, 1, 0);
	proc_dump(dir, "y-4034-1.hsnap", &steady, 1, 1);
	proc_dump(dir, "x-4033-2.hsnap", &leaker, 2, 2);
	proc_dump(dir, "w-4034-2.hsnap", &steady, 2, 3);
	proc_dump(dir, "v-4033-3.hsnap", &leaker, 3, 4);
	proc_dump(dir, "u-4034-3.hsnap", &steady, 3, 5);
	proc_dump(dir, "t-4035-1.hsnap", &once, 1, 6);
	proc_dump(dir, "a-4033-1.hsnap", &reused, 1, 7);
	return dir;
}

/* Whether a occurs in text before b (both must occur). */
static int before(const char *text, const char *a, const char *b)
{
	const char *x = strstr(text, a), *y = strstr(text, b);
	cr_assert(x && y, "'%s' or '%s' missing: %s", a, b, text);
	return x < y;
}

Test(processes, leaks_sorts_groups_and_names_the_leaking_process)
{
	char *dir = prefork_folder(), *out;
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 %s 2>&1", dir), 0, "%s", out);
	cr_assert(strstr(out, "8 dumps of 4 processes, by dump time"), "%s", out);
	cr_assert_null(strstr(out, "different processes"), "%s", out);
	/* the leaker's series, oldest first, whatever the names say */
	cr_assert(strstr(out, "== pid 4033 started "), "%s", out);
	cr_assert(strstr(out, ", [\"app.py\", \"--worker\", \"1\"]: 3 dumps =="), "%s", out);
	cr_assert(before(out, "z-4033-1.hsnap", "x-4033-2.hsnap"), "%s", out);
	cr_assert(before(out, "x-4033-2.hsnap", "v-4033-3.hsnap"), "%s", out);
	cr_assert(strstr(out, "#1 list `_pending` in module `app` grew from 10 to 30 items"), "%s",
	          out);
	cr_assert(strstr(out, "   count     10 → 20 → 30 "), "%s", out);
	/* every dump of a series is the same process: all matched */
	cr_assert(strstr(out, "x-4033-2.hsnap  23 objects, 13 the same as in dump 1"), "%s", out);
	/* the steady worker, its own series */
	cr_assert(before(out, "y-4034-1.hsnap", "w-4034-2.hsnap"), "%s", out);
	cr_assert(strstr(out, "no leak found"), "%s", out);
	/* one dump: named, never taken for "no leak" */
	cr_assert(strstr(out, "only one dump of pid 4035: cannot tell growth"), "%s", out);
	/* pid 4033 reused: told apart by its start */
	cr_assert(strstr(out, "[\"app.py\", \"--worker\", \"4\"]: 1 dump =="), "%s", out);
	cr_assert(strstr(out, "\nsummary: pid 4033 started "), "%s", out);
	cr_assert(strstr(out, " leaks (1 growing group); pid 4034: no leak found; pid 4035: one"
	                      " dump, cannot tell growth; pid 4033 started "),
	          "%s", out);
	free(out);
	/* the same dumps named one by one, newest first: the same answer */
	char *again;
	cr_assert_eq(td_run(&again, "leaks --min-growth 0 %1$s/a-4033-1.hsnap %1$s/t-4035-1.hsnap"
	                            " %1$s/u-4034-3.hsnap %1$s/v-4033-3.hsnap %1$s/w-4034-2.hsnap"
	                            " %1$s/x-4033-2.hsnap %1$s/y-4034-1.hsnap %1$s/z-4033-1.hsnap",
	                    dir),
	             0, "%s", again);
	cr_assert(strstr(again, "#1 list `_pending` in module `app` grew from 10 to 30 items"), "%s",
	          again);
	cr_assert(strstr(again, " leaks (1 growing group); pid 4034: no leak found;"), "%s", again);
	free(again);
	free(dir);
}

Test(processes, leaks_json_per_process)
{
	char *dir = prefork_folder(), *out;
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 %s --json", dir), 0, "%s", out);
	cr_assert(td_json_ok(out), "%s", out);
	cr_assert(strstr(out, "\"processes\":[{\"pid\":4033,\"start\":"), "%s", out);
	cr_assert(strstr(out, "\"argv\":\"[\\\"app.py\\\", \\\"--worker\\\", \\\"1\\\"]\","
	                      "\"executable\":null,\"dumps_found\":3,\"verdict\":\"leaks\","
	                      "\"dumps\":[\""),
	          "%s", out);
	/* each process keeps the shape of a one-process answer */
	cr_assert(strstr(out, "\"groups\":[{\"rank\":1,\"sentence\":\"list `_pending` in module"
	                      " `app` grew from 10 to 30 items"),
	          "%s", out);
	cr_assert(strstr(out, "\"dumps_found\":3,\"verdict\":\"no leak\""), "%s", out);
	cr_assert(strstr(out, "\"pid\":4035,"), "%s", out);
	cr_assert(strstr(out, "\"dumps_found\":1,\"verdict\":\"one dump\",\"dumps\":[\""), "%s", out);
	cr_assert(strstr(out, "\"leaking\":[4033]}\n"), "%s", out);
	free(out);
	free(dir);
}

Test(processes, leaks_pid_and_since)
{
	char *dir = prefork_folder(), *out;
	/* one process: the answer of one process, no heading */
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 --pid 4034 %s", dir), 0, "%s", out);
	cr_assert(strstr(out, "3 dumps, oldest first:"), "%s", out);
	cr_assert(strstr(out, "no leak found"), "%s", out);
	cr_assert_null(strstr(out, "4033"), "%s", out);
	cr_assert_null(strstr(out, "=="), "%s", out);
	free(out);
	/* a pid reused is two processes */
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 --pid 4033 %s", dir), 0, "%s", out);
	cr_assert(strstr(out, "4 dumps of 2 processes"), "%s", out);
	free(out);
	/* one dump of the process: said, and no answer */
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 --pid 4035 %s 2>&1", dir), 1, "%s", out);
	cr_assert(strstr(out, "only one dump of pid 4035: cannot tell growth"), "%s", out);
	cr_assert(strstr(out, "no process has two dumps among the 1: cannot tell growth"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 --pid 9999 %s 2>&1", dir), 1, "%s", out);
	cr_assert(strstr(out, "no dump of pid 9999 among the 8 given"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 --pid x %s 2>&1", dir), 2, "%s", out);
	free(out);

	/* from the leaker's second dump on: two of its dumps, a weaker answer */
	char since[32];
	time_t at = (time_t)(t0 + 2 * STEP);
	strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", gmtime(&at));
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 --pid 4034 --pid 4033 --since %s %s", since, dir), 0, "%s",
	             out);
	cr_assert(strstr(out, "3 dumps of 2 processes"), "%s", out);
	cr_assert_null(strstr(out, "z-4033-1"), "%s", out);
	cr_assert(strstr(out, "only two dumps"), "%s", out);
	cr_assert(strstr(out, "grew from 20 to 30 items"), "%s", out);
	free(out);
	/* relative: the last 65 minutes hold one dump of each of two processes */
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 --since 65m %s 2>&1", dir), 1, "%s", out);
	cr_assert(strstr(out, "2 dumps of 2 processes"), "%s", out);
	cr_assert(strstr(out, "only one dump of pid 4035"), "%s", out);
	cr_assert(strstr(out, "only one dump of pid 4033"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 --since 5m %s 2>&1", dir), 1, "%s", out);
	cr_assert(strstr(out, "no dump at or after 5m among the 8 given"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 --since yesterday %s 2>&1", dir), 2, "%s", out);
	free(out);
	free(dir);
}

/* Dumps written before the process.* keys: pid and host make the process. */
Test(processes, old_dumps_by_pid_and_host)
{
	t0 = (double)time(NULL) - 7200;
	char *dir = td_path("old");
	cr_assert_eq(mkdir(dir, 0700), 0);
	proc a = {7, 0, "h1", "[\"a.py\"]", 1}, b = {7, 0, "h2", "[\"a.py\"]", 0};
	proc_dump(dir, "1.hsnap", &a, 1, 0);
	proc_dump(dir, "2.hsnap", &b, 1, 1);
	proc_dump(dir, "3.hsnap", &a, 2, 2);
	proc_dump(dir, "4.hsnap", &a, 3, 3);
	char *out;
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 %s", dir), 0, "%s", out);
	cr_assert(strstr(out, "4 dumps of 2 processes"), "%s", out);
	cr_assert(strstr(out, "grew from 10 to 30 items"), "%s", out);
	cr_assert(strstr(out, "only one dump of pid 7 on h2: cannot tell growth"), "%s", out);
	free(out);
	free(dir);
}

Test(processes, report_titles_by_process_with_timelines)
{
	char *dir = prefork_folder(), *html = td_path("workers.html"), *out;
	cr_assert_eq(td_run(&out, "report --min-growth 0 %s -o %s --json", dir, html), 0, "%s", out);
	cr_assert(td_json_ok(out), "%s", out);
	cr_assert(strstr(out, "\"rows\":{\"dumps\":8,"), "%s", out);
	cr_assert(strstr(out, "\"processes\":[{\"pid\":4033,\"dumps\":3,\"verdict\":\"leaks\","
	                      "\"focus\":true},{\"pid\":4034,\"dumps\":3,\"verdict\":\"no leak\","
	                      "\"focus\":false},{\"pid\":4035,\"dumps\":1,\"verdict\":\"one dump\""),
	          "%s", out);
	free(out);
	char *page = td_read(html);
	cr_assert_null(strstr(page, "dumps of pid"), "a title of one pid over four processes");
	cr_assert(strstr(page, "8 dumps of 4 processes (pid 4033 leaks; pid 4034: no leak found;"
	                       " pid 4035: one dump, growth unknown; pid 4033: one dump, growth"
	                       " unknown); the sections after the leak groups are about pid 4033"
	                       " started "),
	          "%s", page);
	/* a timeline per process, its dumps in time order */
	cr_assert(strstr(page, "<table class=\"timeline\" id=\"timeline-4\">"), "%s", page);
	cr_assert(before(page, "id=\"timeline-1\"", "z-4033-1.hsnap"), "%s", page);
	cr_assert(before(page, "z-4033-1.hsnap", "x-4033-2.hsnap"), "%s", page);
	cr_assert(before(page, "x-4033-2.hsnap", "v-4033-3.hsnap"), "%s", page);
	cr_assert(before(page, "v-4033-3.hsnap", "id=\"timeline-2\""), "%s", page);
	/* dump, taken, objects, heap, reachable, garbage, RSS */
	char row[256], taken[32];
	time_t at = (time_t)(t0 + 2 * STEP);
	strftime(taken, sizeof(taken), "%Y-%m-%dT%H:%M:%SZ", gmtime(&at));
	snprintf(row, sizeof(row), "<tr><td>x-4033-2.hsnap</td><td>%s</td><td class=\"n\">23</td>"
	         "<td class=\"n\">20.4 KiB</td>", taken);
	cr_assert(strstr(page, row), "no row %s in %s", row, page);
	cr_assert(strstr(page, "<td class=\"n\">52.0 MiB</td>"), "%s", page);
	/* the leaker's groups first, with the ids of a one-process page */
	cr_assert(strstr(page, "<a href=\"#leak-1\">1</a>"), "%s", page);
	cr_assert(strstr(page, "<table id=\"leak-table-2\">"), "%s", page);
	cr_assert(strstr(page, "Only one dump of this process: its growth cannot be told."), "%s",
	          page);
	free(page);
	free(html);
	free(dir);
}

Test(processes, diff_takes_a_folder_and_orders_by_time)
{
	t0 = (double)time(NULL) - 7200;
	char *dir = td_path("pair");
	cr_assert_eq(mkdir(dir, 0700), 0);
	proc_dump(dir, "b.hsnap", &leaker, 1, 0);
	proc_dump(dir, "a.hsnap", &leaker, 3, 1);
	char *out, *swapped;
	cr_assert_eq(td_run(&out, "diff %s --json", dir), 0, "%s", out);
	cr_assert(strstr(out, "{\"type\":\"app.Item\",\"count\":[10,30],\"count_delta\":20,"), "%s",
	          out);
	cr_assert_eq(td_run(&swapped, "diff %1$s/a.hsnap %1$s/b.hsnap --json", dir), 0, "%s",
	             swapped);
	cr_assert_str_eq(out, swapped);
	free(out);
	free(swapped);
	/* two processes: said */
	proc_dump(dir, "c.hsnap", &steady, 1, 2);
	cr_assert_eq(td_run(&out, "diff %1$s/a.hsnap %1$s/c.hsnap 2>&1 >/dev/null", dir), 0, "%s",
	             out);
	cr_assert(strstr(out, "are dumps of different processes (pid 4033 and 4034)"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "diff %s 2>&1", dir), 2, "%s", out);
	cr_assert(strstr(out, "diff compares two dumps, not 3"), "%s", out);
	free(out);
	free(dir);
}

/* graph --leak K draws leaks' group K whatever the order the dumps come
 * in: they are put in the order they were taken, as leaks does; dumps of
 * two processes are refused. */
Test(processes, graph_leak_orders_dumps_by_time)
{
	char *dir = prefork_folder(), *out, *svg = td_path("leak.svg");
	cr_assert_eq(td_run(&out, "graph --min-growth 0 %1$s/v-4033-3.hsnap %1$s/z-4033-1.hsnap"
	                          " %1$s/x-4033-2.hsnap --leak 1 -o %2$s --json 2>&1", dir, svg),
	             0, "%s", out);
	cr_assert(strstr(out, "leak 1: list `_pending` in module `app` grew from 10 to 30 items"),
	          "%s", out);
	free(out);
	cr_assert_neq(td_run(&out, "graph --min-growth 0 %1$s/z-4033-1.hsnap %1$s/y-4034-1.hsnap"
	                           " --leak 1 -o %2$s 2>&1", dir, svg), 0, "%s", out);
	cr_assert(strstr(out, "'--leak K' compares the dumps of one process, and these are of 2"),
	          "%s", out);
	free(out);
	free(svg);
	free(dir);
}
