/* The command line: usage errors, info and verify on good and bad dumps. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tdump.h"
#include "args.h"

/* A small consistent dump: a list holding two ints, a root module. */
static char *small_dump(const char *name)
{
	char *path = td_path(name);
	tdump *t = td_open(path);
	td_obj(t, 0x1000, "builtins.module", 72);
	td_obj(t, 0x2000, "builtins.list", 56);
	td_obj(t, 0x3000, "builtins.int", 28);
	td_obj(t, 0x4000, "builtins.int", 28);
	td_ref(t, 0x1000, 0x2000, HS_E_ATTR, "items");
	hs_edge e[2] = {{0x3000, HS_E_INDEX, 0}, {0x4000, HS_E_INDEX, 1}};
	td_refs(t, 0x2000, e, 2);
	td_root(t, 0x1000, HS_R_MODULES, "app", 0);
	td_close(t);
	return path;
}

Test(cli, version_and_usage)
{
	char *out;
	cr_assert_eq(td_run(&out, "--version"), 0);
	cr_assert_str_eq(out, "heapsnap " HEAPSNAP_VERSION "\n");
	free(out);
	cr_assert_eq(td_run(&out, "--help"), 0);
	cr_assert(strstr(out, "verify"));
	free(out);
	cr_assert_eq(td_run(NULL, "frobnicate 2>/dev/null"), 2);
	cr_assert_eq(td_run(&out, "frobnicate 2>&1"), 2);
	cr_assert_str_eq(out, "heapsnap: unknown command 'frobnicate'; see 'heapsnap --help'\n");
	free(out);
	cr_assert_eq(td_run(&out, "info --frob x 2>&1"), 2);
	cr_assert_str_eq(out, "heapsnap info: unknown option '--frob'; see 'heapsnap info --help'\n");
	free(out);
	cr_assert_eq(td_run(NULL, "info 2>/dev/null"), 2);
	cr_assert_eq(td_run(&out, "verify --help"), 0);
	cr_assert(strstr(out, "usage: heapsnap verify FILE"));
	free(out);
}

Test(cli, info_json)
{
	char *path = small_dump("info.hsnap"), *out;
	cr_assert_eq(td_run(&out, "info --json %s", path), 0);
	cr_assert(td_json_ok(out), "%s", out);
	cr_assert(strstr(out, "\"complete\":true"));
	cr_assert(strstr(out, "\"edges\":3"));
	cr_assert(strstr(out, "\"python_version\":\"3.11.7\""));
	free(out);
	cr_assert_eq(td_run(&out, "info %s", path), 0);
	cr_assert(strstr(out, "complete"));
	free(out);
	free(path);
}

Test(cli, verify_good_and_truncated)
{
	char *path = small_dump("v.hsnap"), *out;
	cr_assert_eq(td_run(&out, "verify %s", path), 0);
	char want[512];
	snprintf(want, sizeof(want), "%s: ok, 4 objects, 3 references\n", path);
	cr_assert_str_eq(out, want);
	free(out);
	/* Cut the dump short: verify fails with one line naming the offset. */
	cr_assert_eq(truncate(path, 200), 0);
	cr_assert_eq(td_run(&out, "verify %s 2>&1", path), 1);
	cr_assert(strstr(out, "heapsnap: '"), "%s", out);
	cr_assert(strstr(out, "offset"), "%s", out);
	cr_assert_eq(strchr(out, '\n') - out + 1, (long)strlen(out), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "info %s", path), 0);
	cr_assert(strstr(out, "truncated"), "%s", out);
	free(out);
	free(path);
}

Test(cli, verify_dangling_reference)
{
	char *path = td_path("dangling.hsnap"), *out;
	tdump *t = td_open(path);
	td_obj(t, 0x1000, "builtins.list", 56);
	td_ref(t, 0x1000, 0x9990, HS_E_INDEX, NULL);
	td_root(t, 0x1000, HS_R_OTHER, NULL, 0);
	td_close(t);
	cr_assert_eq(td_run(&out, "verify %s 2>&1", path), 1);
	cr_assert(strstr(out, "reference target 0x9990 of 0x1000 is not an object in the dump at offset"),
	          "%s", out);
	free(out);
	free(path);
}

Test(cli, verify_bad_files)
{
	char *path = td_path("notadump.hsnap"), *out;
	FILE *f = fopen(path, "w");
	fputs("this is not a heap snapshot, just some text long enough\n", f);
	fclose(f);
	cr_assert_eq(td_run(&out, "verify %s 2>&1", path), 1);
	cr_assert(strstr(out, "not a heapsnap dump"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "verify /nonexistent/x.hsnap 2>&1"), 1);
	cr_assert(strstr(out, "No such file or directory"), "%s", out);
	free(out);
	free(path);
}

/* The offset of the first section of a kind, as the reader finds it. */
static long section_offset(const char *path, unsigned kind)
{
	char err[256];
	hs_reader *r = hs_reader_open(path, err, sizeof(err));
	hs_section sec;
	long at = -1;
	cr_assert(r, "%s", err);
	while (at < 0 && hs_reader_next_section(r, &sec) > 0)
		if (sec.kind == kind)
			at = (long)sec.offset;
	hs_reader_free(r);
	cr_assert(at >= 0, "no section of kind %u in %s", kind, path);
	return at;
}

Test(cli, verify_json)
{
	char *path = small_dump("vj.hsnap"), *out;
	cr_assert_eq(td_run(&out, "verify --json %s", path), 0, "%s", out);
	cr_assert(td_json_ok(out), "%s", out);
	cr_assert(strstr(out, "\"ok\":true,"), "%s", out);
	cr_assert(strstr(out, "\"objects\":4,\"references\":3,\"sections\":[{\"index\":0,"), "%s", out);
	cr_assert(strstr(out, "\"kind\":\"objects\","), "%s", out);
	cr_assert(strstr(out, "\"damage\":[],\"problem\":null}\n"), "%s", out);
	free(out);
	free(path);
}

/* Damage inside a section is named by that section first, then by the
 * whole-file checksum it also breaks. */
Test(cli, verify_names_the_damaged_section)
{
	char *path = small_dump("vd.hsnap"), *out;
	long at = section_offset(path, HS_K_OBJECTS);
	FILE *f = fopen(path, "r+b");
	cr_assert(f);
	cr_assert_eq(fseek(f, at + 40 + 2, SEEK_SET), 0);
	int c = fgetc(f);
	cr_assert_eq(fseek(f, at + 40 + 2, SEEK_SET), 0);
	fputc(c ^ 0xff, f);
	fclose(f);
	cr_assert_eq(td_run(&out, "verify %s 2>&1", path), 1);
	char want[512];
	snprintf(want, sizeof(want),
	         "heapsnap: '%s': section 3 (objects): section checksum mismatch (objects) at offset"
	         " %ld; file checksum mismatch (trailer at offset ", path, at);
	cr_assert(!strncmp(out, want, strlen(want)), "%s", out);
	cr_assert_eq(strchr(out, '\n') - out + 1, (long)strlen(out), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "verify --json %s", path), 1);
	cr_assert(td_json_ok(out), "%s", out);
	cr_assert(strstr(out, "\"ok\":false,"), "%s", out);
	snprintf(want, sizeof(want), "\"damage\":[{\"index\":3,\"kind\":\"objects\",\"offset\":%ld,"
	         "\"problem\":\"section checksum mismatch (objects) at offset %ld\"},"
	         "{\"index\":null,\"kind\":null,\"offset\":null,\"problem\":\"file checksum mismatch",
	         at, at);
	cr_assert(strstr(out, want), "%s", out);
	free(out);
	free(path);
}

Test(cli, graph_and_report_json)
{
	char *path = small_dump("gj.hsnap"), *svg = td_path("gj.svg"), *html = td_path("gj.html");
	char *out, want[512];
	cr_assert_eq(td_run(&out, "graph %s 0x3000 -o %s --json", path, svg), 0, "%s", out);
	cr_assert(td_json_ok(out), "%s", out);
	snprintf(want, sizeof(want), "{\"file\":\"%s\",\"format\":\"svg\",\"bytes\":", svg);
	cr_assert(!strncmp(out, want, strlen(want)), "%s", out);
	cr_assert(strstr(out, ",\"caption\":\"who holds int at 0x3000\",\"starts\":[\"0x3000\"],"
	                      "\"nodes\":3}\n"),
	          "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "report %s -o %s --json", path, html), 0, "%s", out);
	cr_assert(td_json_ok(out), "%s", out);
	snprintf(want, sizeof(want), "{\"file\":\"%s\",\"bytes\":", html);
	cr_assert(!strncmp(out, want, strlen(want)), "%s", out);
	snprintf(want, sizeof(want), "\"dumps\":[\"%s\"],\"leak_groups\":null,\"pictures\":1,"
	         "\"rows\":{\"dumps\":1,\"leaks\":0,\"largest\":4,\"types\":3,\"tasks\":0,"
	         "\"sites\":0}}\n", path);
	cr_assert(strstr(out, want), "%s", out);
	free(out);
	free(html);
	free(svg);
	free(path);
}

/* Options are looked up by name: a name the command does not declare (a
 * misspelling in the code) stops the program instead of reading as an
 * option never given. */
static const hsa_opt probe_opts[] = {
	{"json", 0, NULL, "print JSON"},
	{NULL, 0, NULL, NULL},
};
static const hsa_cmd probe = {.name = "probe", .opts = probe_opts};

Test(cli, declared_option_is_read)
{
	char *argv[] = {"probe", "--json", NULL};
	hsa_args a;
	cr_assert_eq(hsa_parse_args(&probe, 2, argv, &a), 0);
	cr_assert_not_null(hsa_arg(&probe, &a, "json"));
	free(a.pos);
}

Test(cli, misspelt_option_name_aborts, .signal = SIGABRT)
{
	char *argv[] = {"probe", "--json", NULL};
	hsa_args a;
	cr_assert_eq(hsa_parse_args(&probe, 2, argv, &a), 0);
	hsa_arg(&probe, &a, "jsno");
}
