/* A statement that fails while it steps is an error naming the failure,
 * never the end of its rows (#14): each command runs on a loaded database
 * whose table it reads is swapped for a view whose rows cannot be
 * computed, and must fail rather than print a partial answer. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "tdump.h"

enum { MOD = 0x1000, LIST = 0x2000, ITEM = 0x3000 };

/* module app → .items → list → 3 Items; loaded into its cache (DUMP.db),
 * then table swapped for a failing view. Returns the dump's path. */
static char *sabotaged(const char *table)
{
	char *dump = td_path("small.hsnap"), *db = NULL, *out = NULL, *sql = NULL;
	tdump *t = td_open(dump);
	td_obj(t, MOD, "module", 72);
	td_ref(t, MOD, LIST, HS_E_ATTR, "items");
	td_obj(t, LIST, "builtins.list", 88);
	for (unsigned i = 0; i < 3; i++) {
		td_obj(t, ITEM + i * 0x40, "app.Item", 48);
		td_ref(t, LIST, ITEM + i * 0x40, HS_E_INDEX, NULL);
	}
	td_root(t, MOD, HS_R_MODULES, "app", 0);
	td_close(t);
	cr_assert(asprintf(&db, "%s.db", dump) > 0);
	cr_assert_eq(td_run(&out, "load %s -o %s", dump, db), 0, "%s", out);
	free(out);
	cr_assert(asprintf(&sql, "ALTER TABLE %s RENAME TO %s_rows;"
	                         "CREATE VIEW %s AS SELECT *, json('not json') AS bad"
	                         " FROM %s_rows WHERE bad IS NOT NULL",
	                   table, table, table, table) > 0);
	sqlite3 *h = NULL;
	cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
	sqlite3_close(h);
	free(sql);
	free(db);
	return dump;
}

/* Runs "heapsnap CMD DUMP ARGS" (in the dump's directory) with table
 * sabotaged: it must fail and say why on stderr. */
static void fails(const char *table, const char *cmd, const char *args, const char *why)
{
	char *dump = sabotaged(table), *err = td_path("err"), *out = NULL;
	int status = td_sh(&out, "cd \"$(dirname %s)\" && %s %s %s %s 2>%s", err, HEAPSNAP_BIN,
	                   cmd, dump, args, err);
	free(out);
	out = td_read(err);
	cr_assert_neq(status, 0, "%s with %s failing: exit 0; stderr: %s", cmd, table, out);
	cr_assert(strstr(out, why), "%s with %s failing: %s", cmd, table, out);
	free(out);
	free(err);
	free(dump);
}

Test(step_errors, info_json) { fails("sections", "info", "--json", "query failed: malformed JSON"); }

Test(step_errors, dominators)
{
	fails("top_retained", "dominators", "", "database query failed: malformed JSON");
}

Test(step_errors, dominators_holds)
{
	fails("top_holds", "dominators", "--json",
	      "database query failed: malformed JSON");
}

Test(step_errors, graph_type)
{
	fails("objects", "graph", "--type app.Item -o g.dot",
	      "database query failed: malformed JSON");
}

Test(step_errors, graph_roots)
{
	fails("roots", "graph", "0x2000 -o g.dot", "database query failed: malformed JSON");
}

Test(step_errors, report_largest)
{
	fails("top_retained", "report", "-o r.html",
	      "database query failed: malformed JSON");
}

/* the objects' types, read to name the largest */
Test(step_errors, report_names)
{
	fails("types", "report", "-o r.html", "database query failed: malformed JSON");
}
