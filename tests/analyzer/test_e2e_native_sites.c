/* End to end, the native tracker's site cache (python -m heapsnap run
 * --native): keyed by the allocator's caller and the Python frames, it
 * still tells apart one native caller (ctypes' libffi) reached from two
 * Python lines, block for block. Its cost is measured in
 * bench/native_bench.py, not here. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "native.h"
#include "tdump.h"

/* Line 7 mallocs 100 blocks, line 8 300, through the same native caller. */
static const char lines_py[] =
	"import ctypes, sys, heapsnap\n"
	"libc = ctypes.CDLL(None)\n"
	"libc.malloc.restype = ctypes.c_void_p\n"
	"libc.malloc.argtypes = [ctypes.c_size_t]\n"
	"kept = []\n"
	"for i in range(400):\n"
	"    if i % 4 == 0: kept.append(libc.malloc(4096))\n"
	"    else: kept.append(libc.malloc(4096))\n"
	"heapsnap.dump(sys.argv[1])\n";

/* Writes text to DIR/name; returns the path. */
static char *script(const char *dir, const char *name, const char *text)
{
	char *p;
	cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	FILE *f = fopen(p, "w");
	cr_assert(f, "cannot write '%s'", p);
	cr_assert_eq(fputs(text, f) >= 0 && fclose(f) == 0, 1);
	return p;
}

static char *new_dir(const char *name)
{
	char *dir = td_path(name);
	cr_assert_eq(mkdir(dir, 0700), 0);
	return dir;
}

TestSuite(native_sites, .timeout = 120);

Test(native_sites, one_native_caller_on_two_python_lines_is_two_sites)
{
	char err[1024], *out = NULL, *path;
	char *dir = new_dir("native_lines");
	char *prog = script(dir, "lines.py", lines_py);
	cr_assert(asprintf(&path, "%s/d.hsnap", dir) > 0);
	int rc = td_sh(&out, "cd %s && PYTHONPATH=%s %s -m heapsnap run --native --dir %s %s %s 2>&1",
	               dir, HS_TEST_PYPATH, HS_TEST_PYTHON, dir, prog, path);
	cr_assert_eq(rc, 0, "%s", out);
	free(out);
	sqlite3 *db = NULL;
	hsa_native_dump d;
	cr_assert_eq(hsa_db_open(path, &db, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(hsa_native_read(db, &d, err, sizeof(err)), 0, "%s", err);
	int64_t at7 = -1, at8 = -1;
	for (size_t i = 0; i < d.n; i++) {
		if (strcmp(d.g[i].where, "`malloc` called through ctypes"))
			continue;
		if (!strcmp(d.g[i].caller, "lines.py:7"))
			at7 = d.g[i].count;
		else if (!strcmp(d.g[i].caller, "lines.py:8"))
			at8 = d.g[i].count;
	}
	cr_assert_eq(at7, 100, "lines.py:7: %lld blocks", (long long)at7);
	cr_assert_eq(at8, 300, "lines.py:8: %lld blocks", (long long)at8);
	hsa_native_dump_free(&d);
	sqlite3_close(db);
	free(path);
	free(prog);
	free(dir);
}
