/* Objects inside a container of a million items (#14): path and show read
 * neither the container's whole reference list nor its referrers', so
 * they run in little memory whatever the container's size; top --fast
 * answers from the dump before any load. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tdump.h"

#define NITEMS 1000000
/* The address space path and show get: some 30 MB of libraries and SQLite's
 * cache and the rows they read, never the list. */
#define CAP_MB 64
enum { MOD = 0x1000, DICT = 0x2000, HOLDER = 0x3000, LIST = 0x4000, EARLY = 0x5000,
       ITEM = 0x100000 };
#define LAST (ITEM + (uint64_t)(NITEMS - 1) * 0x40)

/* module app → __dict__ → ['big'] → list of a million Items; the last one
 * also in a small dict under ['holder']['last'], the first one nearer a
 * root through app.early['first']. */
static char *big_dump(void)
{
	char *path = td_path("big.hsnap");
	tdump *t = td_open(path);
	hs_object mod = {.addr = MOD, .type = td_type(t, "module"), .size = 72,
	                 .flags = HS_OF_HAS_NAME, .name = td_str(t, "app")};
	td_object(t, &mod);
	hs_edge me[2] = {{DICT, HS_E_DICT_ATTR, 0}, {EARLY, HS_E_ATTR, td_str(t, "early")}};
	td_refs(t, MOD, me, 2);
	td_obj(t, EARLY, "builtins.dict", 232);
	td_ref(t, EARLY, ITEM, HS_E_DICT_VALUE, "'first'");
	td_obj(t, DICT, "builtins.dict", 232);
	hs_edge de[2] = {{LIST, HS_E_DICT_VALUE, td_str(t, "'big'")},
	                 {HOLDER, HS_E_DICT_VALUE, td_str(t, "'holder'")}};
	td_refs(t, DICT, de, 2);
	td_obj(t, HOLDER, "builtins.dict", 232);
	td_ref(t, HOLDER, LAST, HS_E_DICT_VALUE, "'last'");
	td_obj(t, LIST, "builtins.list", 8 * (uint64_t)NITEMS + 56);
	hs_edge *le = malloc(NITEMS * sizeof(hs_edge));
	cr_assert(le);
	for (uint64_t i = 0; i < NITEMS; i++) {
		td_obj(t, ITEM + i * 0x40, "app.Item", 48);
		le[i] = (hs_edge){ITEM + i * 0x40, HS_E_INDEX, i};
	}
	td_refs(t, LIST, le, NITEMS);
	free(le);
	td_root(t, MOD, HS_R_MODULES, "app", 0);
	td_close(t);
	return path;
}

/* AddressSanitizer reserves terabytes of shadow address space: under it
 * the cap cannot apply (the plain build's run of this test checks it). */
#if defined(__SANITIZE_ADDRESS__)
#define ADDRESS_CAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ADDRESS_CAP 0
#endif
#endif
#ifndef ADDRESS_CAP
#define ADDRESS_CAP 1
#endif

/* heapsnap ARGS with its address space capped at limit_mb: reading the
 * list's million references whole (some 20 MB of JSON, 80 MB parsed)
 * does not fit, reading them in pieces does. */
static int run_capped(char **out, int limit_mb, const char *args)
{
	if (!ADDRESS_CAP)
		return td_sh(out, "%s %s", HEAPSNAP_BIN, args);
	return td_sh(out, "ulimit -v %d && %s %s", limit_mb * 1024, HEAPSNAP_BIN, args);
}

/* The path's labels come from the reference the load's BFS crossed. */
static void path_of_the_last_item(const char *dump)
{
	char *out = NULL, args[512];
	snprintf(args, sizeof(args), "path %s 0x%llx", dump, (unsigned long long)LAST);
	cr_assert_eq(run_capped(&out, CAP_MB, args), 0, "%s", out);
	cr_assert(strstr(out, "path 1: module app → __dict__['big'] → list[999999] → Item"), "%s",
	          out);
	free(out);
	/* --all: the other referrer's path, the list never unfolded. */
	snprintf(args, sizeof(args), "path %s 0x%llx --all 5", dump, (unsigned long long)LAST);
	cr_assert_eq(run_capped(&out, CAP_MB, args), 0, "%s", out);
	cr_assert(strstr(out, "path 1: module app → __dict__['big'] → list[999999] → Item"), "%s",
	          out);
	cr_assert(strstr(out, "path 2: module app → __dict__['holder'] → dict['last'] → Item"),
	          "%s", out);
	cr_assert(!strstr(out, "path 3"), "%s", out);
	free(out);
	/* The list is the first item's other referrer, not its parent: it is
	 * read in pieces too. */
	snprintf(args, sizeof(args), "path %s 0x%x --all 5", dump, ITEM);
	cr_assert_eq(run_capped(&out, CAP_MB, args), 0, "%s", out);
	cr_assert(strstr(out, "path 1: module app.early → dict['first'] → Item"), "%s", out);
	cr_assert(strstr(out, "path 2: module app → __dict__['big'] → list[0] → Item"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "sql %s 'SELECT pkind, plabel, nrefs FROM objects WHERE"
	                          " addr = %llu'", dump, (unsigned long long)LAST), 0);
	cr_assert(strstr(out, "4") && strstr(out, "999999"), "%s", out);
	free(out);
}

/* Both referrers with their labels: the list's from the stored BFS
 * reference, the small dict's from its own list. */
static void show_of_the_last_item(const char *dump)
{
	char *out = NULL, args[512];
	snprintf(args, sizeof(args), "show %s 0x%llx --json", dump, (unsigned long long)LAST);
	cr_assert_eq(run_capped(&out, CAP_MB, args), 0, "%s", out);
	cr_assert(td_json_ok(out), "%s", out);
	cr_assert(strstr(out, "\"referrers\":{\"count\":2,\"unit\":\"objects\""), "%s", out);
	cr_assert(strstr(out, "\"address\":\"0x3000\",\"object\":\"dict\",\"kind\":\"dict-value\","
	                      "\"label\":\"['last']\""), "%s", out);
	cr_assert(strstr(out, "\"address\":\"0x4000\",\"object\":\"list (len 0)\",\"kind\":\"index\","
	                      "\"label\":\"[999999]\"") ||
	          strstr(out, "\"address\":\"0x4000\",\"object\":\"list\",\"kind\":\"index\","
	                      "\"label\":\"[999999]\""), "%s", out);
	free(out);
}

/* The list itself: its million references counted, the first three
 * listed. */
static void show_of_the_list(const char *dump)
{
	char *out = NULL, args[512];
	snprintf(args, sizeof(args), "show %s 0x%x -n 3", dump, LIST);
	cr_assert_eq(run_capped(&out, CAP_MB, args), 0, "%s", out);
	cr_assert(strstr(out, "referents: 1000000 (the first shown; see -n)"), "%s", out);
	cr_assert(strstr(out, "[2]"), "%s", out);
	cr_assert(!strstr(out, "[3]"), "%s", out);
	free(out);
}

/* The first answer before any load: counts and sizes by type straight
 * from the dump, no database made. */
static void top_fast(const char *dump)
{
	char *out = NULL, *db = NULL;
	cr_assert_eq(td_run(&out, "top %s --fast --json", dump), 0, "%s", out);
	cr_assert(td_json_ok(out), "%s", out);
	cr_assert(strstr(out, "\"objects\":1000005,\"bytes\":56000824,\"fast\":true"), "%s", out);
	cr_assert(strstr(out, "{\"type\":\"app.Item\",\"count\":1000000,\"size\":48000000}"),
	          "%s", out);
	free(out);
	cr_assert(asprintf(&db, "%s.db", dump) > 0);
	cr_assert_neq(access(db, F_OK), 0, "top --fast made %s", db);
	free(db);
	cr_assert_neq(td_run(&out, "top %s --fast --by module", dump), 0, "%s", out);
	free(out);
}

/* One dump and load for the three checks (a test runs in a process of
 * its own). */
Test(scale, a_million_items, .timeout = 120)
{
	char *dump = big_dump(), *out = NULL;
	top_fast(dump);
	cr_assert_eq(td_run(&out, "load %s", dump), 0, "%s", out);
	free(out);
	/* The list's referrers lie after its 20 MB of references in its edges
	 * row: the pointer-map pages of auto_vacuum let SQLite step over them
	 * unread. */
	char *db = NULL;
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	cr_assert(asprintf(&db, "%s.db", dump) > 0);
	cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(h, "PRAGMA auto_vacuum", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_assert_neq(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	free(db);
	path_of_the_last_item(dump);
	show_of_the_last_item(dump);
	show_of_the_list(dump);
	free(dump);
}

/* A statement that fails while it steps is an error naming the failure,
 * never the end of its rows ("no object at 0x..."): the objects table of
 * a loaded database swapped for a view whose rows cannot be computed. */
Test(scale, step_errors_are_reported)
{
	char *dump = td_path("small.hsnap"), *db = NULL, *out = NULL, *err = td_path("err");
	tdump *t = td_open(dump);
	td_obj(t, MOD, "module", 72);
	td_ref(t, MOD, LIST, HS_E_ATTR, "items");
	td_obj(t, LIST, "builtins.list", 64);
	td_root(t, MOD, HS_R_MODULES, "app", 0);
	td_close(t);
	cr_assert(asprintf(&db, "%s.db", dump) > 0);
	cr_assert_eq(td_run(&out, "load %s -o %s", dump, db), 0, "%s", out);
	free(out);
	sqlite3 *h = NULL;
	cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(h, "ALTER TABLE objects RENAME TO objects_rows;"
	                             "CREATE VIEW objects AS SELECT *, json('not json') AS bad"
	                             " FROM objects_rows WHERE bad IS NOT NULL",
	                          NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
	sqlite3_close(h);
	cr_assert_neq(td_sh(&out, "%s show %s 0x%x 2>%s", HEAPSNAP_BIN, db, LIST, err), 0, "%s",
	              out);
	free(out);
	out = td_read(err);
	cr_assert(strstr(out, "database query failed: malformed JSON"), "%s", out);
	free(out);
	cr_assert_neq(td_sh(&out, "%s show %s builtins.list 2>%s", HEAPSNAP_BIN, db, err), 0);
	free(out);
	out = td_read(err);
	cr_assert(strstr(out, "query failed: malformed JSON"), "%s", out);
	free(out);
	free(err);
	free(db);
	free(dump);
}

/* A dump of 60 lists of 100,000 references each to 1,000 Items: a load's
 * load takes a second or so. */
#define NLISTS 60
#define NREFS 100000
#define NITEMS_SMALL 1000
static char *lists_dump(int k)
{
	char name[32];
	snprintf(name, sizeof(name), "lists%d.hsnap", k);
	char *path = td_path(name);
	tdump *t = td_open(path);
	hs_object mod = {.addr = MOD, .type = td_type(t, "module"), .size = 72,
	                 .flags = HS_OF_HAS_NAME, .name = td_str(t, "app")};
	td_object(t, &mod);
	hs_edge me[NLISTS];
	for (uint64_t l = 0; l < NLISTS; l++)
		me[l] = (hs_edge){LIST + l * 0x100, HS_E_ATTR, td_str(t, "lists")};
	td_refs(t, MOD, me, NLISTS);
	hs_edge *le = malloc(NREFS * sizeof(hs_edge));
	cr_assert(le);
	for (uint64_t i = 0; i < NITEMS_SMALL; i++)
		td_obj(t, ITEM + i * 0x40, "app.Item", 48);
	for (uint64_t l = 0; l < NLISTS; l++) {
		td_obj(t, LIST + l * 0x100, "builtins.list", 8 * (uint64_t)NREFS + 56);
		for (uint64_t i = 0; i < NREFS; i++)
			le[i] = (hs_edge){ITEM + (i % NITEMS_SMALL) * 0x40, HS_E_INDEX, i};
		td_refs(t, LIST + l * 0x100, le, NREFS);
	}
	free(le);
	td_root(t, MOD, HS_R_MODULES, "app", 0);
	td_close(t);
	return path;
}

/* Runs 'heapsnap leaks' on the dumps, none loaded before, with
 * HEAPSNAP_LOAD_MEMORY set to budget; returns the most loads seen under
 * way at once (their temporary databases, NAME.db.tmpPID, polled). */
static int leaks_loads(char *const *dumps, const char *budget)
{
	char *dir = strdup(dumps[0]);
	cr_assert(dir);
	*strrchr(dir, '/') = 0;
	for (int i = 0; i < 3; i++) {
		char *db = NULL;
		cr_assert(asprintf(&db, "%s.db", dumps[i]) > 0);
		unlink(db);
		free(db);
	}
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (!pid) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		setenv("HEAPSNAP_LOAD_MEMORY", budget, 1);
		execl(HEAPSNAP_BIN, "heapsnap", "leaks", dumps[0], dumps[1], dumps[2], (char *)NULL);
		_exit(127);
	}
	int status, most = 0;
	pid_t r;
	while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
		DIR *d = opendir(dir);
		struct dirent *e;
		int now = 0;
		while (d && (e = readdir(d))) {
			const char *t = strstr(e->d_name, ".db.tmp"); /* not its -journal */
			now += t && strspn(t + 7, "0123456789") == strlen(t + 7);
		}
		if (d)
			closedir(d);
		if (now > most)
			most = now;
		usleep(1000);
	}
	cr_assert_eq(r, pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "leaks failed: %d", status);
	free(dir);
	return most;
}

/* leaks loads its dumps side by side only while their loads fit in the
 * memory it may use (HEAPSNAP_LOAD_MEMORY, else a third of what the
 * machine has available) and there are cores for them (two a load):
 * under a budget of one byte the loads take turns. */
Test(scale, leaks_loads_take_turns_when_memory_is_short, .timeout = 120)
{
	char *dumps[3] = {lists_dump(1), lists_dump(2), lists_dump(3)};
	int most = leaks_loads(dumps, "1");
	cr_assert_eq(most, 1, "%d loads at once", most);
	if (sysconf(_SC_NPROCESSORS_ONLN) >= 6)
		cr_assert_geq(leaks_loads(dumps, "64G"), 2);
	char *out = NULL;
	cr_assert_eq(td_sh(&out, "HEAPSNAP_LOAD_MEMORY=lots %s leaks %s %s %s 2>&1 >/dev/null",
	                   HEAPSNAP_BIN, dumps[0], dumps[1], dumps[2]), 0, "%s", out);
	cr_assert(strstr(out, "HEAPSNAP_LOAD_MEMORY='lots' is not a size"), "%s", out);
	free(out);
	for (int i = 0; i < 3; i++)
		free(dumps[i]);
}
