/* End to end: a real Python process dumps a heap of known shape
 * (e2e_heap.py) and the analyzer finds the retention path and garbage. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdump.h"

Test(e2e, python_heap, .timeout = 60)
{
	char *dump = td_path("e2e.hsnap"), *cmd, line[256] = "", *out;
	cr_assert(asprintf(&cmd, "PYTHONPATH=%s %s %s/e2e_heap.py %s", HS_TEST_PYPATH,
	                   HS_TEST_PYTHON, HS_TEST_SCRIPTS, dump) > 0);
	FILE *p = popen(cmd, "r");
	cr_assert(p);
	cr_assert(fgets(line, sizeof(line), p), "no output from %s", cmd);
	cr_assert_eq(pclose(p), 0, "%s failed", cmd);
	char held[64], weak[64];
	cr_assert_eq(sscanf(line, "%63s %63s", held, weak), 2, "%s", line);

	cr_assert_eq(td_run(&out, "verify %s", dump), 0, "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "path %s %s", dump, held), 0);
	cr_assert(strstr(out, "['_pending'] → list"), "%s", out);
	cr_assert(strstr(out, "→ Holder\n"), "%s", out);
	free(out);
	/* The weakly referenced one is held by the list, never by the weakref. */
	cr_assert_eq(td_run(&out, "path %s %s --all 5", dump, weak), 0);
	cr_assert(strstr(out, "['_pending'] → list"), "%s", out);
	cr_assert_null(strstr(out, "weak"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "sql %s \"SELECT count(*) FROM objects_v WHERE type ="
	                          " '__main__.Node' AND NOT reachable\"", dump),
	             0);
	cr_assert(strstr(out, "\n2\n"), "the unreachable cycle: %s", out);
	free(out);
	free(cmd);
	free(dump);
}
