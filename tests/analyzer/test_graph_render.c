/* 'heapsnap graph' on dumps of known structure: the DOT it writes (against
 * a golden file), well-formed SVG, folding of a huge fan-in, a root path
 * longer than the budget, hostile strings, and usage errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdump.h"

enum {
	MOD = 0x1000, DICT = 0x2000, KEY = 0x2100, LIST = 0x3000, TASK = 0x4000, TASK2 = 0x4100,
	DATA = 0x5000, FRAME = 0x6000, CREF = 0x7000, WREF = 0x8000, OWNER = 0x9000,
	REC = 0x100000, CHAIN = 0x800000,
};

/* What a hostile program may put in a string: quotes, markup, a newline,
 * backslash escapes Graphviz would read, HTML entities and invalid UTF-8. */
static const char hostile[] = "\"<script>alert('x')</script>\" &amp; &#0; \\N\\l\n\xff\xfe end";

static void module(tdump *t, uint64_t addr, const char *name)
{
	hs_object m = {.addr = addr, .type = td_type(t, "module"), .size = 72,
	               .flags = HS_OF_HAS_NAME, .name = td_str(t, name)};
	td_object(t, &m);
	td_root(t, addr, HS_R_MODULES, name, 0);
}

/* Every kind of root and reference around one bytes object (DATA): a
 * module's list of two tasks (one a pending-task root) holding it by
 * attribute, a thread's frame by local variable, a list held from C by
 * index, and a weak reference. */
static char *known_dump(const char *name)
{
	char *path = td_path(name);
	tdump *t = td_open(path);
	module(t, MOD, "app.stats");
	td_ref(t, MOD, DICT, HS_E_DICT_ATTR, NULL);
	hs_object d = {.addr = DICT, .type = td_type(t, "builtins.dict"), .size = 232,
	               .flags = HS_OF_HAS_LEN, .len = 2};
	td_object(t, &d);
	hs_edge de[3] = {{KEY, HS_E_DICT_KEY, td_str(t, "'_pending'")},
	                 {LIST, HS_E_DICT_VALUE, td_str(t, "'_pending'")},
	                 {WREF, HS_E_DICT_VALUE, td_str(t, "'_ref'")}};
	td_refs(t, DICT, de, 3);
	hs_object key = {.addr = KEY, .type = td_type(t, "builtins.str"), .size = 57,
	                 .flags = HS_OF_HAS_VALUE, .value = (const uint8_t *)"_pending",
	                 .value_len = 8};
	td_object(t, &key);
	hs_object list = {.addr = LIST, .type = td_type(t, "builtins.list"), .size = 72,
	                  .flags = HS_OF_HAS_LEN, .len = 2};
	td_object(t, &list);
	hs_edge le[2] = {{TASK, HS_E_INDEX, 0}, {TASK2, HS_E_INDEX, 1}};
	td_refs(t, LIST, le, 2);
	td_obj(t, TASK, "_asyncio.Task", 1000);
	td_ref(t, TASK, DATA, HS_E_ATTR, "payload");
	td_obj(t, TASK2, "_asyncio.Task", 1000);
	td_ref(t, TASK2, DATA, HS_E_ATTR, "payload");
	hs_object data = {.addr = DATA, .type = td_type(t, "builtins.bytes"), .size = 10033,
	                  .flags = HS_OF_HAS_LEN | HS_OF_HAS_VALUE | HS_OF_VALUE_TRUNC,
	                  .len = 10000, .value = (const uint8_t *)"GET /search?q=shoes", .value_len = 19};
	td_object(t, &data);
	hs_object fr = {.addr = FRAME, .type = td_type(t, "frame"), .size = 400,
	                .flags = HS_OF_HAS_NAME, .name = td_str(t, "handle")};
	td_object(t, &fr);
	td_ref(t, FRAME, DATA, HS_E_LOCAL, "data");
	hs_object cref = {.addr = CREF, .type = td_type(t, "builtins.list"), .size = 64,
	                  .flags = HS_OF_HAS_LEN, .len = 1};
	td_object(t, &cref);
	td_ref(t, CREF, DATA, HS_E_INDEX, NULL);
	td_obj(t, WREF, "weakref.ReferenceType", 80);
	td_ref(t, WREF, DATA, HS_E_WEAK, NULL);
	td_root(t, TASK2, HS_R_ASYNC_TASK, NULL, 0);
	td_root(t, FRAME, HS_R_THREAD_FRAME, NULL, 7);
	td_root(t, CREF, HS_R_HELD_FROM_C, NULL, 1);
	hs_thread th = {.ident = 7, .native_id = 70, .name = td_str(t, "MainThread"),
	                .frame = FRAME, .flags = 3};
	cr_assert(!hs_writer_thread(td_writer(t), &th));
	td_close(t);
	return path;
}

/* Runs a Python check on a file; 0 when it passed, its output in *out. */
static int py_check(const char *code, const char *file, char **out)
{
	char *script = td_path("check.py");
	FILE *f = fopen(script, "w");
	cr_assert(f);
	fputs(code, f);
	fclose(f);
	int st = td_sh(out, "python3 %s %s 2>&1", script, file);
	free(script);
	return st;
}

/* Well-formed XML, an <svg> root with no script or foreign elements;
 * prints every text node, one a line. */
static const char svg_check[] =
	"import sys, xml.dom.minidom as m\n"
	"d = m.parse(sys.argv[1])\n"
	"assert d.documentElement.tagName == 'svg', d.documentElement.tagName\n"
	"ok = {'svg', 'g', 'title', 'polygon', 'path', 'ellipse', 'polyline', 'text', 'a'}\n"
	"for e in d.getElementsByTagName('*'):\n"
	"    assert e.tagName in ok, 'element ' + e.tagName\n"
	"    for k in e.attributes.keys():\n"
	"        assert not k.startswith('on'), 'attribute ' + k\n"
	"for t in d.getElementsByTagName('text'):\n"
	"    print(''.join(c.data for c in t.childNodes))\n"
	"for a in d.getElementsByTagName('a'):\n"
	"    print('tooltip:', a.getAttribute('xlink:title'))\n";

static char *svg_texts(const char *svg)
{
	char *out;
	cr_assert_eq(py_check(svg_check, svg, &out), 0, "%s is not clean SVG: %s", svg, out);
	return out;
}

/* Box statements in a DOT file written by 'graph': "\tnK\t[". */
static int dot_nodes(const char *dot)
{
	int n = 0;
	for (const char *p = dot; (p = strstr(p, "\n\tn")); p += 3) {
		const char *q = p + 3;
		while (*q >= '0' && *q <= '9')
			q++;
		n += q > p + 3 && *q == '\t' && q[1] == '[';
	}
	return n;
}

Test(graph_render, golden_dot)
{
	char *dump = known_dump("golden.hsnap"), *dot = td_path("golden.dot"), *out;
	cr_assert_eq(td_run(&out, "graph %s 0x5000 -o %s", dump, dot), 0, "%s", out);
	free(out);
	char *got = td_read(dot), *golden;
	cr_assert(asprintf(&golden, "%s/golden/backrefs.dot", HS_TEST_DIR) > 0);
	if (getenv("HS_UPDATE_GOLDEN")) {
		FILE *f = fopen(golden, "w");
		cr_assert(f);
		fputs(got, f);
		fclose(f);
	}
	char *want = td_read(golden);
	cr_assert_str_eq(got, want, "%s differs from %s (HS_UPDATE_GOLDEN=1 rewrites it)", dot,
	                 golden);
	free(want);
	free(golden);
	free(got);
	free(dot);
	free(dump);
}

Test(graph_render, svg_is_wellformed_and_labelled)
{
	char *dump = known_dump("svg.hsnap"), *svg = td_path("g.svg"), *out;
	cr_assert_eq(td_run(&out, "graph %s 0x5000 -o %s", dump, svg), 0, "%s", out);
	free(out);
	char *texts = svg_texts(svg);
	/* Roots named, edges labelled, sizes shown. */
	const char *want[] = {"module app.stats", "thread MainThread", "pending asyncio task",
	                      "held from C (+1)", "['_pending']", ".payload", "[0]",
	                      ".f_locals['data']", "(weak)", "9.8 KiB",
	                      "'GET /search?q=shoes'\xe2\x80\xa6", "tooltip: 0x5000 builtins.bytes"};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert(strstr(texts, want[i]), "no '%s' in\n%s", want[i], texts);
	free(texts);
	/* What it holds: the module's dict and list, down from the module. */
	cr_assert_eq(td_run(&out, "graph %s 0x1000 --refs --depth 2 -o %s", dump, svg), 0, "%s",
	             out);
	free(out);
	texts = svg_texts(svg);
	cr_assert(strstr(texts, "what module app.stats at 0x1000 holds"), "%s", texts);
	cr_assert(strstr(texts, "['_pending']"), "%s", texts);
	cr_assert_null(strstr(texts, "payload"), "beyond --depth 2: %s", texts);
	free(texts);
	free(svg);
	free(dump);
}

Test(graph_render, png_and_pdf)
{
	char *dump = known_dump("bin.hsnap"), *png = td_path("g.png"), *pdf = td_path("g.pdf");
	char *out;
	cr_assert_eq(td_run(&out, "graph %s 0x5000 -o %s", dump, png), 0, "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "graph %s bytes -o %s", dump, pdf), 0, "%s", out);
	free(out);
	char *p = td_read(png), *d = td_read(pdf);
	cr_assert(!memcmp(p, "\x89PNG", 4));
	cr_assert(!memcmp(d, "%PDF", 4));
	free(p);
	free(d);
	free(png);
	free(pdf);
	free(dump);
}

/* One object with 10,000 referrers (Records in a module-level list). */
static char *fan_dump(const char *name)
{
	char *path = td_path(name);
	tdump *t = td_open(path);
	module(t, MOD, "app.records");
	td_ref(t, MOD, DICT, HS_E_DICT_ATTR, NULL);
	td_obj(t, DICT, "builtins.dict", 232);
	td_ref(t, DICT, LIST, HS_E_DICT_VALUE, "'_records'");
	hs_object list = {.addr = LIST, .type = td_type(t, "builtins.list"), .size = 80056,
	                  .flags = HS_OF_HAS_LEN, .len = 10000};
	td_object(t, &list);
	hs_edge *e = calloc(10000, sizeof(hs_edge));
	for (uint64_t i = 0; i < 10000; i++)
		e[i] = (hs_edge){REC + i * 0x40, HS_E_INDEX, i};
	td_refs(t, LIST, e, 10000);
	free(e);
	uint64_t owner = td_str(t, "owner");
	for (uint64_t i = 0; i < 10000; i++) {
		td_obj(t, REC + i * 0x40, i % 10 ? "app.Record" : "app.Audit", 56);
		hs_edge oe = {OWNER, HS_E_ATTR, owner};
		td_refs(t, REC + i * 0x40, &oe, 1);
	}
	td_obj(t, OWNER, "app.Owner", 56);
	td_close(t);
	return path;
}

Test(graph_render, fan_in_folds, .timeout = 60)
{
	char *dump = fan_dump("fan.hsnap"), *dot = td_path("fan.dot"), *svg = td_path("fan.svg");
	char *out;
	cr_assert_eq(td_run(&out, "graph %s 0x9000 --max-nodes 25 -o %s", dump, dot), 0, "%s", out);
	free(out);
	char *g = td_read(dot);
	int n = dot_nodes(g);
	cr_assert(n >= 10 && n <= 25, "%d boxes:\n%s", n, g);
	/* The path's Audit and three more of each type are drawn; the rest fold
	 * by type. */
	cr_assert(strstr(g, "+9,993 more referrers\\n8,997 Record\\n996 Audit"), "%s", g);
	cr_assert(strstr(g, "module app.records"), "the path to a root: %s", g);
	free(g);
	/* A tight budget still keeps the path and the fold. */
	cr_assert_eq(td_run(&out, "graph %s 0x9000 --max-nodes 8 -o %s", dump, dot), 0, "%s", out);
	free(out);
	g = td_read(dot);
	cr_assert_eq(dot_nodes(g), 8, "%s", g);
	cr_assert(strstr(g, "module app.records") && strstr(g, "more referrers"), "%s", g);
	free(g);
	/* Readable: the SVG stays a page or two wide. */
	cr_assert_eq(td_run(&out, "graph %s 0x9000 --max-nodes 25 -o %s", dump, svg), 0, "%s", out);
	free(out);
	char *texts = svg_texts(svg);
	free(texts);
	g = td_read(svg);
	const char *w = strstr(g, "<svg width=\"");
	cr_assert(w && atoi(w + 12) < 2500, "%.200s", w ? w : g);
	free(g);
	free(svg);
	free(dot);
	free(dump);
}

Test(graph_render, long_root_path_folds)
{
	char *path = td_path("chain.hsnap"), *dot = td_path("chain.dot"), *out;
	tdump *t = td_open(path);
	module(t, MOD, "app.chain");
	td_ref(t, MOD, CHAIN, HS_E_ATTR, "head");
	uint64_t next = td_str(t, "next");
	for (uint64_t i = 0; i < 100; i++) {
		td_obj(t, CHAIN + i * 0x40, "app.Node", 48);
		if (i < 99) {
			hs_edge e = {CHAIN + (i + 1) * 0x40, HS_E_ATTR, next};
			td_refs(t, CHAIN + i * 0x40, &e, 1);
		}
	}
	td_close(t);
	cr_assert_eq(td_run(&out, "graph %s 0x%x --max-nodes 6 -o %s", path, CHAIN + 99 * 0x40, dot),
	             0, "%s", out);
	free(out);
	char *g = td_read(dot);
	cr_assert_eq(dot_nodes(g), 6, "%s", g);
	cr_assert(strstr(g, "module app.chain"), "%s", g);
	cr_assert(strstr(g, "96 more objects on the path"), "%s", g);
	free(g);
	free(dot);
	free(path);
}

Test(graph_render, hostile_strings_stay_text)
{
	char *path = td_path("hostile.hsnap"), *svg = td_path("h.svg"), *dot = td_path("h.dot");
	char *out;
	tdump *t = td_open(path);
	module(t, MOD, hostile);
	td_ref(t, MOD, DICT, HS_E_DICT_ATTR, NULL);
	td_obj(t, DICT, "builtins.dict", 232);
	hs_edge de[2] = {{KEY, HS_E_DICT_KEY, td_str(t, hostile)},
	                 {DATA, HS_E_DICT_VALUE, td_str(t, hostile)}};
	td_refs(t, DICT, de, 2);
	hs_object key = {.addr = KEY, .type = td_type(t, "builtins.str"), .size = 90,
	                 .flags = HS_OF_HAS_VALUE, .value = (const uint8_t *)hostile,
	                 .value_len = sizeof(hostile) - 1};
	td_object(t, &key);
	hs_object data = {.addr = DATA, .type = td_type(t, "app.<b>Evil</b>&amp;\\N"), .size = 10,
	                  .flags = HS_OF_HAS_NAME, .name = td_str(t, hostile)};
	td_object(t, &data);
	td_close(t);
	cr_assert_eq(td_run(&out, "graph %s 0x5000 -o %s", path, svg), 0, "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "graph %s 0x2000 --refs -o %s", path, dot), 0, "%s", out);
	free(out);
	char *texts = svg_texts(svg);
	/* Shown as written: markup, entities and Graphviz escapes as text, the
	 * newline as \x0a, invalid bytes as U+FFFD. */
	const char *want[] = {"<script>alert('x')</script>", "&amp; &#0; \\N\\l\\x0a\xef\xbf\xbd",
	                      "<b>Evil</b>&amp;\\N", "module \"<script>"};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert(strstr(texts, want[i]), "no '%s' in\n%s", want[i], texts);
	free(texts);
	/* The DOT file is valid Graphviz input. */
	cr_assert_eq(td_sh(NULL, "dot -Tsvg %s -o %s", dot, svg), 0, "dot rejects %s", dot);
	texts = svg_texts(svg);
	cr_assert(strstr(texts, "<script>alert('x')</script>"), "%s", texts);
	free(texts);
	free(dot);
	free(svg);
	free(path);
}

Test(graph_render, usage_errors)
{
	char *dump = known_dump("usage.hsnap"), *out;
	const char *bad[] = {"0x5000", "0x5000 -o x.gif", "0x5000 --refs --backrefs -o x.svg",
	                     "0x5000 --max-nodes 2 -o x.svg", "-o x.svg",
	                     "0x5000 --type bytes -o x.svg", "0x5000 --depth 0 -o x.svg"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(td_run(&out, "graph %s %s 2>&1", dump, bad[i]), 2, "%s: %s", bad[i], out);
		cr_assert(!strncmp(out, "heapsnap graph: ", 16) || !strncmp(out, "heapsnap: ", 10),
		          "%s", out);
		free(out);
	}
	cr_assert_eq(td_run(&out, "graph %s 0x5008 -o /tmp/x.svg 2>&1", dump), 1);
	cr_assert(strstr(out, "no object at 0x5008"), "%s", out);
	free(out);
	/* A file where a directory should be. */
	cr_assert_eq(td_run(&out, "graph %s 0x5000 -o %s/x.svg 2>&1", dump, dump), 1);
	cr_assert(strstr(out, "cannot write '") && strstr(out, "/x.svg': Not a directory"), "%s", out);
	free(out);
	free(dump);
}
