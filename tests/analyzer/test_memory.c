/* The memory accounting (analyzer/model/memory.c) on dumps with crafted mem.*
 * metadata: the split of the resident set, its movement between dumps,
 * and the finding of memory no object explains; then the commands that
 * show them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "memory.h"
#include "tdump.h"

#define MIB (1024 * 1024ULL)

/* What a dump records, in MiB; objects is the size of its one object. */
typedef struct figures {
	uint64_t rss, objects, arena, blocks, in_use, mmapped, free_, file, tm;
	int old;     /* only the rss key, as dumps before the mem.* keys */
	int no_py;   /* no pymalloc figures (PYTHONMALLOC=malloc) */
} figures;

static char *mem_dump(const char *name, int k, const figures *f)
{
	char file[64];
	snprintf(file, sizeof(file), "%s-%d.hsnap", name, k);
	char *path = td_path(file);
	tdump *t = td_open(path);
	hs_writer *w = td_writer(t);
	hs_writer_meta_uint(w, "pid", 4242);
	hs_writer_meta_f64(w, "time", 1000.0 + k);
	hs_writer_meta_uint(w, "rss", f->rss * MIB);
	if (!f->old) {
		hs_writer_meta_uint(w, "mem.rss", f->rss * MIB);
		hs_writer_meta_uint(w, "mem.hwm", f->rss * MIB);
		hs_writer_meta_uint(w, "mem.rss_anon", (f->rss - f->file) * MIB);
		hs_writer_meta_uint(w, "mem.rss_file", f->file * MIB);
		hs_writer_meta_uint(w, "mem.rss_shmem", 0);
		if (!f->no_py) {
			hs_writer_meta_uint(w, "mem.pymalloc.arenas", f->arena);
			hs_writer_meta_uint(w, "mem.pymalloc.arena_bytes", f->arena * MIB);
			hs_writer_meta_uint(w, "mem.pymalloc.allocated", f->blocks * MIB);
		}
		hs_writer_meta_uint(w, "mem.malloc.in_use", f->in_use * MIB);
		hs_writer_meta_uint(w, "mem.malloc.mmapped", f->mmapped * MIB);
		hs_writer_meta_uint(w, "mem.malloc.free", f->free_ * MIB);
		if (f->tm)
			hs_writer_meta_uint(w, "mem.tracemalloc", f->tm * MIB);
	}
	td_obj(t, 0x1000, "bytes", f->objects * MIB);
	td_root(t, 0x1000, HS_R_MODULES, "app", 0);
	td_close(t);
	return path;
}

static hsa_mem read_mem(const char *path)
{
	sqlite3 *db = NULL;
	char err[512];
	hsa_mem m;
	cr_assert(!hsa_db_open(path, &db, NULL, err, sizeof(err)), "%s", err);
	hsa_mem_read(db, &m);
	sqlite3_close(db);
	return m;
}

static hsa_mem mem_of(const char *name, int k, const figures *f)
{
	char *path = mem_dump(name, k, f);
	hsa_mem m = read_mem(path);
	free(path);
	return m;
}

static char *line_of(const hsa_mem *m, const hsa_mem *base)
{
	hsa_str s = {0};
	cr_assert(!hsa_mem_line(m, base, "dump 1", &s));
	return s.s;
}

/* A service at rest: 100 MiB resident. */
static const figures rest = {.rss = 100, .objects = 10, .arena = 8, .blocks = 6, .in_use = 50,
                             .mmapped = 10, .free_ = 3, .file = 12};

Test(memory, splits_the_resident_set)
{
	hsa_mem m = mem_of("split", 1, &rest);
	cr_assert(m.known && m.detailed);
	cr_assert_eq(m.rss, 100 * MIB);
	cr_assert_eq(m.part[HSA_MEM_OBJECTS], 10 * MIB);
	cr_assert_eq(m.part[HSA_MEM_PYMALLOC_FREE], 2 * MIB);
	/* pymalloc's blocks and malloc's heap beyond the objects */
	cr_assert_eq(m.part[HSA_MEM_OUTSIDE], (6 + 50 + 10 - 10) * MIB);
	cr_assert_eq(m.part[HSA_MEM_MALLOC_FREE], 3 * MIB);
	cr_assert_eq(m.part[HSA_MEM_FILES], 12 * MIB);
	cr_assert_eq(m.part[HSA_MEM_OTHER], (100 - 10 - 2 - 56 - 3 - 12) * MIB);
	cr_assert_eq(m.unexplained, (56 + 17) * MIB);
	cr_assert(!m.have[HSA_MEM_TRACEMALLOC]);
	char *s = line_of(&m, NULL);
	cr_assert_str_eq(s, "RSS 100.0 MiB = Python objects 10.0 MiB + pymalloc free 2.0 MiB"
	                    " + malloc outside objects 56.0 MiB + malloc free 3.0 MiB"
	                    " + files 12.0 MiB + other 17.0 MiB");
	free(s);
}

Test(memory, tracemalloc_is_its_own_part)
{
	figures f = rest;
	f.tm = 4;
	hsa_mem m = mem_of("tm", 1, &f);
	cr_assert_eq(m.part[HSA_MEM_TRACEMALLOC], 4 * MIB);
	cr_assert_eq(m.part[HSA_MEM_OUTSIDE], 52 * MIB);
	cr_assert_eq(m.unexplained, (52 + 17) * MIB);
}

Test(memory, objects_in_malloc_without_pymalloc)
{
	figures f = rest;
	f.no_py = 1;
	hsa_mem m = mem_of("nopy", 1, &f);
	cr_assert(!m.have[HSA_MEM_PYMALLOC_FREE]);
	cr_assert_eq(m.part[HSA_MEM_OUTSIDE], (50 + 10 - 10) * MIB);
	char *s = line_of(&m, NULL);
	cr_assert_null(strstr(s, "pymalloc"), "%s", s);
	free(s);
}

Test(memory, an_old_dump_has_objects_and_the_rest)
{
	figures f = rest;
	f.old = 1;
	hsa_mem m = mem_of("old", 1, &f);
	cr_assert(m.known && !m.detailed);
	char *s = line_of(&m, NULL);
	cr_assert_str_eq(s, "RSS 100.0 MiB = Python objects 10.0 MiB + other 90.0 MiB");
	free(s);
}

Test(memory, untouched_allocations_are_not_resident)
{
	figures f = rest;
	f.in_use = 80;
	hsa_mem m = mem_of("untouched", 1, &f);
	cr_assert_lt(m.part[HSA_MEM_OTHER], 0);
	char *s = line_of(&m, NULL);
	cr_assert(strstr(s, " + files 12.0 MiB - not resident 13.0 MiB"), "%s", s);
	free(s);
}

Test(memory, a_line_says_what_moved_since_the_first_dump)
{
	hsa_mem a = mem_of("moved", 1, &rest);
	figures f = rest;
	f.rss = 150;
	f.in_use = 100;
	f.free_ = 3;
	hsa_mem b = mem_of("moved", 2, &f);
	char *s = line_of(&b, &a);
	cr_assert_str_eq(s, "RSS 150.0 MiB (+50.0 MiB since dump 1) = Python objects 10.0 MiB"
	                    " + pymalloc free 2.0 MiB + malloc outside objects 106.0 MiB"
	                    " (+50.0 MiB since dump 1) + malloc free 3.0 MiB + files 12.0 MiB"
	                    " + other 17.0 MiB");
	free(s);
}

/* Three dumps: each step adds rss/objects/in_use MiB to the one before. */
static int finding(const char *name, uint64_t rss, uint64_t objects, uint64_t in_use,
                   int64_t explained)
{
	hsa_mem m[3];
	figures f = rest;
	for (int k = 0; k < 3; k++) {
		m[k] = mem_of(name, k + 1, &f);
		f.rss += rss;
		f.objects += objects;
		f.in_use += in_use;
	}
	return hsa_mem_unexplained(m, 3, explained);
}

Test(memory, native_growth_is_a_finding)
{
	cr_assert(finding("native", 8, 0, 8, 0));
	hsa_mem m[3];
	figures f = rest;
	for (int k = 0; k < 3; k++, f.rss += 8, f.in_use += 8)
		m[k] = mem_of("sentence", k + 1, &f);
	hsa_str s = {0};
	cr_assert(!hsa_mem_sentence(m, 3, &s));
	cr_assert_str_eq(s.s, "memory no Python object explains grew from 73.0 MiB to 89.0 MiB"
	                      " (+16.0 MiB) in every dump; RSS 100.0 MiB → 116.0 MiB. Most of it"
	                      " is malloc outside objects: native allocations (a C extension,"
	                      " ctypes, a library) that no Python object accounts for");
	hsa_str_free(&s);
}

Test(memory, growth_the_objects_explain_is_none)
{
	/* bytearrays: their buffers are in malloc's heap and in their size */
	cr_assert(!finding("objects", 8, 8, 8, 0));
}

Test(memory, growth_below_the_noise_is_none)
{
	cr_assert(!finding("noise", 1, 0, 1, 0));
}

Test(memory, growth_within_the_groups_growth_is_none)
{
	cr_assert(!finding("groups", 8, 0, 8, 20 * (int64_t)MIB));
}

Test(memory, growth_in_one_step_only_is_none)
{
	hsa_mem m[3];
	figures f = rest;
	m[0] = mem_of("once", 1, &f);
	m[1] = mem_of("once", 2, &f);
	f.rss += 16;
	f.in_use += 16;
	m[2] = mem_of("once", 3, &f);
	cr_assert(!hsa_mem_unexplained(m, 3, 0));
}

Test(memory, old_dumps_make_no_finding)
{
	hsa_mem m[3];
	figures f = rest;
	f.old = 1;
	for (int k = 0; k < 3; k++, f.rss += 8)
		m[k] = mem_of("oldgrow", k + 1, &f);
	cr_assert(!hsa_mem_unexplained(m, 3, 0));
}

/* ---- the commands ------------------------------------------------------ */

Test(memory, diff_shows_the_line)
{
	figures f = rest;
	char *a = mem_dump("diffcmd", 1, &f);
	f.rss = 150;
	f.in_use = 100;
	char *b = mem_dump("diffcmd", 2, &f);
	char *out = NULL;
	cr_assert_eq(td_run(&out, "diff %s %s", a, b), 0, "%s", out);
	cr_assert(strstr(out, "\n  memory  RSS 150.0 MiB (+50.0 MiB since OLD) = Python objects"
	                      " 10.0 MiB + pymalloc free 2.0 MiB + malloc outside objects 106.0 MiB"
	                      " (+50.0 MiB since OLD) + malloc free"),
	          "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "diff %s %s --json", a, b), 0, "%s", out);
	cr_assert(td_json_ok(out), "%s", out);
	cr_assert(strstr(out, "\"malloc_outside_objects\":111149056"), "%s", out);
	free(out);
	free(a);
	free(b);
}

Test(memory, info_leaks_and_report_show_it)
{
	char *d[3], *out = NULL, *html = td_path("mem-report.html");
	figures f = rest;
	for (int k = 0; k < 3; k++, f.rss += 8, f.in_use += 8)
		d[k] = mem_dump("cmds", k + 1, &f);
	cr_assert_eq(td_run(&out, "info %s", d[2]), 0, "%s", out);
	cr_assert(strstr(out, "\n  memory      RSS 116.0 MiB = Python objects 10.0 MiB +"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "info %s --json", d[2]), 0, "%s", out);
	cr_assert(td_json_ok(out) && strstr(out, "\"memory\":{\"rss\":121634816,"), "%s", out);
	free(out);

	cr_assert_eq(td_run(&out, "leaks %s %s %s", d[0], d[1], d[2]), 0, "%s", out);
	cr_assert(strstr(out, "\nmemory    RSS 116.0 MiB (+16.0 MiB since dump 1) = Python objects"),
	          "%s", out);
	cr_assert(strstr(out, "\nno group of objects grew in every dump, but memory no Python object"
	                      " explains did:\n\n#native memory no Python object explains grew from"
	                      " 73.0 MiB to 89.0 MiB (+16.0 MiB)"),
	          "%s", out);
	cr_assert(strstr(out, "\n   outside   73.0 MiB → 81.0 MiB → 89.0 MiB"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "leaks %s %s %s --json", d[0], d[1], d[2]), 0, "%s", out);
	cr_assert(td_json_ok(out) && strstr(out, "\"unexplained\":{\"rank\":1,\"growth\":16777216,"),
	          "%s", out);
	free(out);

	cr_assert_eq(td_run(&out, "report %s %s %s -o %s", d[0], d[1], d[2], html), 0, "%s", out);
	free(out);
	char *page = td_read(html);
	cr_assert(strstr(page, "<p>Memory of the last dump: RSS 116.0 MiB (+16.0 MiB since dump 1) ="),
	          "%s", page);
	cr_assert(strstr(page, "<strong>Outside Python objects:</strong> memory no Python object"
	                       " explains grew"),
	          "%s", page);
	free(page);
	for (int k = 0; k < 3; k++)
		free(d[k]);
	free(html);
}
