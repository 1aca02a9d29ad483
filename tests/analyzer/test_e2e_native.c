/* End to end, with native allocation tracking (python -m heapsnap run
 * --native): the programs that leak through a C extension's malloc and
 * through ctypes' libc malloc have their native site named and found
 * growing in every dump; the one that leaks bytearrays has no native
 * finding (their buffers come through Python's allocator). A fork-mode
 * dump taken on a signal carries the sites too. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "native.h"
#include "tdump.h"

#define MIB (1024 * 1024LL)

/* Runs leaks/NAME.py under run --native into a new directory; returns it. */
static char *run(const char *name, const char *args)
{
	char *dir = td_path(name), *out = NULL;
	cr_assert_eq(mkdir(dir, 0700), 0);
	int rc = td_sh(&out, "cd %s && PYTHONPATH=%s:%s %s -m heapsnap run --native %s %s/leaks/%s.py %s 2>&1",
	               dir, HS_TEST_PYPATH, HS_TEST_EXTDIR, HS_TEST_PYTHON, args, HS_TEST_SCRIPTS,
	               name, dir);
	cr_assert_eq(rc, 0, "%s: %s", name, out);
	free(out);
	return dir;
}

/* The native findings across DIR/d1..d3.hsnap. */
static size_t findings(const char *dir, hsa_native_dump d[3], hsa_native_finding **f)
{
	char err[1024];
	size_t n = 0;
	for (int k = 0; k < 3; k++) {
		char *p;
		sqlite3 *db = NULL;
		cr_assert(asprintf(&p, "%s/d%d.hsnap", dir, k + 1) > 0);
		cr_assert_eq(hsa_db_open(p, &db, NULL, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(hsa_native_read(db, &d[k], err, sizeof(err)), 0, "%s", err);
		cr_assert(d[k].tracked, "%s has no native sites", p);
		sqlite3_close(db);
		free(p);
	}
	cr_assert_eq(hsa_native_compare(d, 3, MIB, f, &n), 0);
	return n;
}

static void found(const char *name, const char *where, const char *caller)
{
	hsa_native_dump d[3];
	hsa_native_finding *f;
	char *dir = run(name, "");
	size_t n = findings(dir, d, &f);
	hsa_str s = {0};
	cr_assert_geq(n, 1, "%s: no native finding", name);
	cr_assert_eq(hsa_native_sentence(&f[0], &s), 0);
	cr_assert(strstr(f[0].where, where), "%s: %s", name, s.s);
	cr_assert_str_eq(f[0].caller, caller, "%s: %s", name, s.s);
	cr_assert_gt(f[0].growth, 15 * MIB, "%s: %s", name, s.s);
	cr_assert_lt(f[0].growth, 17 * MIB, "%s: %s", name, s.s);
	cr_assert_eq(f[0].count_last - f[0].count_first, 2048, "%s: %s", name, s.s);
	hsa_str_free(&s);
	/* and 'heapsnap leaks' says it */
	char *out;
	cr_assert_eq(td_run(&out, "leaks %1$s/d1.hsnap %1$s/d2.hsnap %1$s/d3.hsnap", dir), 0);
	cr_assert(strstr(out, "\nnative: ") && strstr(strstr(out, "\nnative: "), where), "%s: %s",
	          name, out);
	free(out);
	cr_assert_eq(td_run(&out, "leaks --json %1$s/d1.hsnap %1$s/d2.hsnap %1$s/d3.hsnap", dir), 0);
	cr_assert(strstr(out, "\"native\":[{\"where\":"), "%s: %s", name, out);
	free(out);
	cr_assert_eq(td_run(&out, "diff %1$s/d1.hsnap %1$s/d3.hsnap", dir), 0);
	cr_assert(strstr(out, "\n  native: ") && strstr(strstr(out, "\n  native: "), where), "%s: %s",
	          name, out);
	free(out);
	free(f);
	for (int k = 0; k < 3; k++)
		hsa_native_dump_free(&d[k]);
	free(dir);
}

TestSuite(native_e2e, .timeout = 60);

Test(native_e2e, c_extension_malloc_named_by_site)
{
	found("native_ext", "`leak` in leakext", "native_ext.py:13");
}

Test(native_e2e, ctypes_libc_malloc_named_by_python_caller)
{
	found("native_ctypes", "`malloc` called through ctypes", "native_ctypes.py:17");
}

Test(native_e2e, bytearrays_have_no_native_finding)
{
	hsa_native_dump d[3];
	hsa_native_finding *f;
	char *dir = run("bytearrays", "");
	size_t n = findings(dir, d, &f);
	cr_assert_eq(n, 0, "bytearrays: %s grew by %lld", n ? f[0].where : "",
	             n ? (long long)f[0].growth : 0LL);
	cr_assert_lt(d[2].bytes, 2 * MIB, "bytearrays: %lld native bytes", (long long)d[2].bytes);
	char *out;
	cr_assert_eq(td_run(&out, "leaks %1$s/d1.hsnap %1$s/d2.hsnap %1$s/d3.hsnap", dir), 0);
	cr_assert(strstr(out, "native: no native allocation site grew in every dump"), "%s", out);
	cr_assert(strstr(out, "bytearray"), "the bytearrays are an object group: %s", out);
	free(out);
	free(f);
	for (int k = 0; k < 3; k++)
		hsa_native_dump_free(&d[k]);
	free(dir);
}

Test(native_e2e, fork_mode_dump_on_signal)
{
	char *dir = td_path("native_fork"), *out = NULL;
	cr_assert_eq(mkdir(dir, 0700), 0);
	int rc = td_sh(&out, "PYTHONPATH=%s %s -m heapsnap run --native --dir %s %s/leaks/native_fork.py %s 2>&1",
	               HS_TEST_PYPATH, HS_TEST_PYTHON, dir, HS_TEST_SCRIPTS, dir);
	cr_assert_eq(rc, 0, "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "native %s/*.hsnap --json", dir), 0, "%s", out);
	cr_assert(strstr(out, "\"site\": \"`malloc` called through ctypes\"") ||
	          strstr(out, "\"site\":\"`malloc` called through ctypes\""), "%s", out);
	cr_assert(strstr(out, "native_fork.py:22"), "%s", out);
	free(out);
	free(dir);
}
