/* End to end: programs that leak outside Python objects (a C extension's
 * malloc, libc malloc through ctypes) and one that leaks bytearrays dump
 * their heap three times, 8 MiB apart; 'heapsnap leaks' must report the
 * native ones as memory no object explains and the bytearrays as a group
 * of objects only. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tdump.h"

#define MIB (1024 * 1024LL)

/* "unexplained RANK" or "explained", the growth of the objects and of the
 * memory they do not explain, then a line per group: "type|holder". */
static const char extract[] =
	"import json, sys\n"
	"r = json.load(sys.stdin)['processes'][0]  # the dumps are of one process\n"
	"m = r['memory']\n"
	"d, u = m['dumps'], m['unexplained']\n"
	"print('unexplained %d' % u['rank'] if u else 'explained')\n"
	"print(d[-1]['objects'] - d[0]['objects'], d[-1]['unexplained'] - d[0]['unexplained'])\n"
	"for g in r['groups']:\n"
	"    print(g['type'] + '|' + ((g['holder'] or {}).get('text') or ''))\n";

typedef struct found {
	char *out;
	char verdict[64];
	long long objects, unexplained; /* growth, first dump to last */
} found;

static found run(const char *name)
{
	char *dir = td_path(name), *cmd, *py;
	cr_assert_eq(mkdir(dir, 0700), 0);
	cr_assert(asprintf(&cmd, "PYTHONPATH=%s:%s %s %s/leaks/%s.py %s", HS_TEST_PYPATH,
	                   HS_TEST_EXTDIR, HS_TEST_PYTHON, HS_TEST_SCRIPTS, name, dir) > 0);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
	cr_assert(asprintf(&py, "%s/extract.py", dir) > 0);
	FILE *f = fopen(py, "w");
	cr_assert(f);
	fputs(extract, f);
	fclose(f);
	found r = {0};
	cr_assert_eq(td_run(&r.out, "leaks %s/d1.hsnap %s/d2.hsnap %s/d3.hsnap --json | %s %s", dir,
	                    dir, dir, HS_TEST_PYTHON, py),
	             0, "leaks on %s: %s", name, r.out);
	cr_assert_eq(sscanf(r.out, "%63[^\n]\n%lld %lld", r.verdict, &r.objects, &r.unexplained), 3,
	             "%s: %s", name, r.out);
	free(cmd);
	free(py);
	free(dir);
	return r;
}

static void native(const char *name)
{
	found r = run(name);
	/* ranked first: no object group grew as much */
	cr_assert_str_eq(r.verdict, "unexplained 1", "%s:\n%s", name, r.out);
	cr_assert_gt(r.unexplained, 12 * MIB, "%s:\n%s", name, r.out);
	cr_assert_lt(r.objects, 2 * MIB, "%s:\n%s", name, r.out);
	free(r.out);
}

TestSuite(memory_e2e, .timeout = 60);

Test(memory_e2e, c_extension_malloc)
{
	native("native_ext");
}

Test(memory_e2e, ctypes_libc_malloc)
{
	native("native_ctypes");
}

Test(memory_e2e, bytearrays_are_explained_by_objects)
{
	found r = run("bytearrays");
	cr_assert_str_eq(r.verdict, "explained", "%s", r.out);
	cr_assert_gt(r.objects, 15 * MIB, "%s", r.out);
	cr_assert_lt(r.unexplained, 4 * MIB, "%s", r.out);
	cr_assert(strstr(r.out, "\nbytearray|list `_buffers` in module `bytearrays`"), "%s", r.out);
	free(r.out);
}
