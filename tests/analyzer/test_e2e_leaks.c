/* End to end: small Python programs of known leak shapes (tests/analyzer/leaks) dump
 * their heap three times; 'heapsnap leaks' must rank the right holder and
 * type first, and must not report the repaired or harmless twins. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tdump.h"

/* One line per reported group, first group first:
 * "type|via|holder type|holder text|where|also|sentence". */
static const char extract[] =
	"import json, sys\n"
	"r = json.load(sys.stdin)['processes'][0]  # the dumps are of one process\n"
	"print('weak' if r['weak'] else 'strong', r['candidates'])\n"
	"for g in r['groups']:\n"
	"    h = g['holder'] or {}\n"
	"    print('|'.join(str(x) for x in (g['type'], g.get('via', ''), h.get('type', ''),\n"
	"          h.get('text', ''), g.get('where', ''), g.get('also', ''), g['sentence'])))\n";

typedef struct found {
	char *out;     /* all the lines */
	char *first;   /* the first group's line, or NULL */
	char head[64]; /* "strong 1200" */
} found;

/* Runs leaks/NAME.py (with ARGS) into a fresh directory, then 'heapsnap
 * leaks' on its first ndumps dumps. */
static found run_leaks(const char *name, const char *args, int ndumps)
{
	char *dir = td_path(name), *cmd, *py;
	cr_assert_eq(mkdir(dir, 0700), 0);
	cr_assert(asprintf(&cmd, "PYTHONPATH=%s %s %s/leaks/%s.py %s %s", HS_TEST_PYPATH,
	                   HS_TEST_PYTHON, HS_TEST_SCRIPTS, name, dir, args) > 0);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
	cr_assert(asprintf(&py, "%s/extract.py", dir) > 0);
	FILE *f = fopen(py, "w");
	cr_assert(f);
	fputs(extract, f);
	fclose(f);
	found r = {0};
	char dumps[1024] = "";
	for (int k = 1; k <= ndumps; k++)
		snprintf(dumps + strlen(dumps), sizeof(dumps) - strlen(dumps), " %s/d%d.hsnap", dir, k);
	cr_assert_eq(td_run(&r.out, "leaks%s --json | %s %s", dumps, HS_TEST_PYTHON, py), 0,
	             "leaks on %s: %s", name, r.out);
	char *nl = strchr(r.out, '\n');
	cr_assert(nl, "%s", r.out);
	snprintf(r.head, sizeof(r.head), "%.*s", (int)(nl - r.out), r.out);
	if (nl[1])
		r.first = strndup(nl + 1, strcspn(nl + 1, "\n"));
	free(cmd);
	free(py);
	free(dir);
	return r;
}

static void found_free(found *r)
{
	free(r->out);
	free(r->first);
}

/* The first group is of type `type` (carried in `via` objects), held by
 * a `holder_type` whose description has `holder_has`. The caller frees. */
static found expect(const char *name, const char *type, const char *via,
                    const char *holder_type, const char *holder_has)
{
	found r = run_leaks(name, "", 3);
	cr_assert(!strncmp(r.head, "strong ", 7), "%s", r.out);
	cr_assert(r.first, "%s: nothing reported:\n%s", name, r.out);
	char want[512];
	snprintf(want, sizeof(want), "%s|%s|%s|", type, via, holder_type);
	cr_assert(!strncmp(r.first, want, strlen(want)), "%s: want '%s...', got\n%s", name, want,
	          r.out);
	cr_assert(strstr(r.first, holder_has), "%s: holder without '%s':\n%s", name, holder_has,
	          r.out);
	return r;
}

/* No group names any of the words (the program's own types and
 * structures). */
static void expect_none(const char *name, const char *args, const char *const *words)
{
	found r = run_leaks(name, args, 3);
	const char *groups = strchr(r.out, '\n') + 1;
	for (int i = 0; words[i]; i++)
		cr_assert_null(strstr(groups, words[i]), "%s %s: '%s' reported:\n%s", name, args,
		               words[i], r.out);
	found_free(&r);
}

static void check(const char *name, const char *type, const char *via, const char *holder_type,
                  const char *holder_has)
{
	found r = expect(name, type, via, holder_type, holder_has);
	found_free(&r);
}

TestSuite(leaks, .timeout = 60);

Test(leaks, module_dict_cache)
{
	check("dict_cache", "dict_cache.Response", "", "dict",
	      "`_responses` in module `dict_cache`");
}

Test(leaks, closure_cache)
{
	check("closure_cache", "closure_cache.Response", "", "dict",
	      "dict in the closure of `make_handler.<locals>.handle`");
}

Test(leaks, lru_cache_on_method_keeps_self)
{
	check("lru_method", "lru_method.Service", "tuple", "dict",
	      "_lru_cache_wrapper `lookup` of class `Service`");
}

Test(leaks, logger_per_request)
{
	check("logger", "logging.Logger", "", "dict", "`loggerDict` of Manager");
}

Test(leaks, callbacks_never_removed)
{
	check("callbacks", "callbacks.Handler", "method", "list",
	      "`_listeners` of Emitter `bus`");
}

Test(leaks, exceptions_keep_frames)
{
	found r = expect("exception", "exception.FetchError", "", "dict",
	                 "`_failures` in module `exception`");
	cr_assert(strstr(r.first, "frame ×"), "the frames under the tracebacks: %s", r.first);
	found_free(&r);
}

Test(leaks, asyncio_tasks_behind_stalled_backend)
{
	found r = expect("asyncio_tasks", "_asyncio.Task", "", "set",
	                 "`_inflight` in module `asyncio_tasks`");
	/* led by the tasks: coroutine, creation line, await chain */
	cr_assert(strstr(r.first, "|`ship_stats()` created at asyncio_tasks.py:40, suspended at"
	                          " asyncio_tasks.py:28 awaiting `Backend.send`"), "where: %s", r.first);
	cr_assert(strstr(r.first, "|pending tasks of `ship_stats()` created at asyncio_tasks.py:40"
	                          " grew from 200 to 600; set `_inflight`"), "sentence: %s", r.first);
	found_free(&r);
}

Test(leaks, held_only_from_c)
{
	/* atexit keeps the bound methods in a C array: no holder object,
	 * the roots are references held from C, named for atexit. */
	found r = run_leaks("atexit_close", "", 3);
	cr_assert(r.first, "%s", r.out);
	cr_assert(!strncmp(r.first, "atexit_close.Connection|method|||", 33), "%s", r.out);
	cr_assert(strstr(r.first, "such as method Connection.close registered with atexit"), "%s",
	          r.first);
	found_free(&r);
}

Test(leaks, untracked_dicts)
{
	check("untracked", "dict", "", "list", "`_queries` in module `untracked`");
}

Test(leaks, two_dumps_are_weaker)
{
	found r = run_leaks("dict_cache", "", 2);
	cr_assert(!strncmp(r.head, "weak ", 5), "%s", r.out);
	cr_assert(r.first && !strncmp(r.first, "dict_cache.Response||dict|", 26), "%s", r.out);
	found_free(&r);
}

Test(leaks, bounded_cache_at_its_bound)
{
	static const char *const words[] = {"bounded_cache", "Entry", "`items`", NULL};
	expect_none("bounded_cache", "", words);
}

Test(leaks, weak_value_registry)
{
	static const char *const words[] = {"weak_registry", "Session", "_registry", NULL};
	expect_none("weak_registry", "", words);
}

Test(leaks, per_request_churn)
{
	static const char *const words[] = {"churn", "Request", "_in_flight", NULL};
	expect_none("churn", "", words);
}

Test(leaks, asyncio_with_timeout)
{
	static const char *const words[] = {"asyncio_tasks", "Task", "Future", "_inflight", NULL};
	expect_none("asyncio_tasks", "--fixed", words);
}

Test(leaks, tree_index_one_group)
{
	/* Records at every depth of a search tree: one group, all of them */
	found r = expect("tree_index", "tree_index.Node", "", "tree_index.Index", "`index`");
	cr_assert(strstr(r.first, "keeps more and more `Node` objects: 300, now 900"), "%s", r.out);
	cr_assert(strstr(r.first, "Record ×900"), "%s", r.out);
	int lines = 0;
	for (const char *p = r.out; *p; p++)
		lines += *p == '\n';
	cr_assert_eq(lines, 2, "one group only (not one per depth):\n%s", r.out);
	found_free(&r);
}

Test(leaks, asyncio_wait_for_under_steady_load)
{
	/* timers cancelled but still scheduled, and new timers and futures
	 * at the addresses of freed ones: no leak */
	found r = run_leaks("wait_for", "", 3);
	cr_assert_null(r.first, "reported:\n%s", r.out);
	found_free(&r);
}

Test(leaks, fire_and_forget_tasks_count_what_they_hold)
{
	/* tasks nobody holds are roots: behind the futures an Event's waiters
	 * deque holds, they and their payloads count with the group */
	found r = expect("task_roots", "_asyncio.Future", "", "collections.deque", "`_waiters`");
	cr_assert(strstr(r.first, "|pending tasks of `stats_writer()` created at task_roots.py:"),
	          "%s", r.first);
	const char *mib = strstr(r.first, "(+");
	cr_assert(mib && strstr(mib, " MiB retained)"), "growth under a MiB: %s", r.first);
	found_free(&r);
}
