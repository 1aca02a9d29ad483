/*
 * asyncio.h - asyncio tasks for people: the coroutine a task runs, where
 * it was created and the await chain it is suspended in, one task or
 * grouped. Tasks are what asyncio.all_tasks() counts; plain futures
 * (tasks.kind 'future': what tasks wait on, loop.create_future()) are
 * counted apart.
 *
 * Texts are raw: names come from the dump, so a caller escapes them for
 * its medium (hsa_tty, hsa_html_esc, Graphviz labels).
 */
#ifndef HSA_ASYNCIO_H
#define HSA_ASYNCIO_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* One link of an await chain: a coroutine or generator suspended at
 * file:line. */
typedef struct hsa_await_link {
	char *name;   /* qualname: "AnalyticsClient.send" */
	char *file;   /* as the dump has it, a full path */
	int64_t line;
} hsa_await_link;

/* Tasks running the same coroutine, created at the same line and
 * suspended along the same chain; or one task (hsa_task_describe). */
typedef struct hsa_task_group {
	char *coro;    /* the coroutine's qualname, "?" when the dump lacks it */
	char *site;    /* "file:line", NULL when unknown: with created 1 the line
	                * that created the tasks (the innermost frame outside
	                * the standard library of the Task's tracemalloc
	                * traceback), with created 0 the coroutine's def line */
	int created;
	hsa_await_link *chain; /* the links with a file, outermost (the
	                        * coroutine itself) first; none once done */
	size_t nchain;
	uint64_t tasks, pending, cancelled, finished;
} hsa_task_group;

/* Tasks and plain futures by state, indexed by enum hs_task_state
 * (pending, cancelled, finished). */
typedef struct hsa_task_counts {
	uint64_t tasks[3];
	uint64_t futures[3];
	uint64_t awaited; /* pending futures that some pending task awaits */
} hsa_task_counts;

/* Fills *c from db. Returns 0 or -1 with err filled. */
int hsa_task_counts_get(sqlite3 *db, hsa_task_counts *c, char *err, size_t errlen);

/* Every task of db in groups, the most pending first (then the most
 * tasks, then by coroutine and site). *groups is malloc'ed (NULL when
 * there are none); free it with hsa_task_groups_free. Returns 0 or -1
 * with err filled (*groups NULL, *n 0). */
int hsa_task_groups(sqlite3 *db, hsa_task_group **groups, size_t *n, char *err, size_t errlen);
/* Frees n groups and the array; accepts NULL. */
void hsa_task_groups_free(hsa_task_group *groups, size_t n);
/* Frees what one group holds (not g itself) and zeroes it; accepts NULL. */
void hsa_task_group_clear(hsa_task_group *g);

/* The task whose Task object is object id, as a group of one. Returns 1
 * with *g filled (free with hsa_task_group_clear), 0 when object is no
 * task (a plain future included; *g zeroed), -1 with err filled. */
int hsa_task_describe(sqlite3 *db, int64_t object, hsa_task_group *g, char *err,
                      size_t errlen);

/* What tasks run and where they come from, appended to out:
 * "`stats_writer()` created at app.py:31" (or "defined at", without
 * tracemalloc), "`stats_writer()`" when the site is unknown. Files by
 * their base name. Returns 0 or -1 (no memory). */
int hsa_task_lead(const hsa_task_group *g, hsa_str *out);
/* The chain from link `from` on, appended to out: "`stats_writer`
 * app.py:25 → `AnalyticsClient.send` app.py:16 → `Queue.get`
 * queues.py:158". Returns 0 or -1 (no memory). */
int hsa_task_chain_text(const hsa_task_group *g, size_t from, hsa_str *out);

/* One sentence about the task whose Task object is object id, appended to
 * out: its lead, then where it waits ("`stats_writer()` created at
 * app.py:31, suspended at app.py:25 awaiting `AnalyticsClient.send`
 * app.py:16 → `Queue.get` queues.py:158") or that it is done ("...,
 * finished"). Returns 1, 0 when object is no task (out unchanged), or -1
 * with err filled. */
int hsa_task_text(sqlite3 *db, int64_t object, hsa_str *out, char *err, size_t errlen);

#endif
