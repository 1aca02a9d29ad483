/* End to end: a leaking Python process (e2e_report.py) dumps three times,
 * 'heapsnap report' writes one HTML page, and headless Chromium opens it:
 * the page loads with the leak table and its pictures, logs no console
 * error, asks for nothing over the network and shows hostile strings as
 * text. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdump.h"

static int count(const char *s, const char *what)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* Three dumps of e2e_report.py in a fresh directory; returns the directory. */
static char *three_dumps(void)
{
	char *dir = td_path("report"), *out;
	int st = td_sh(&out, "mkdir -p %s && PYTHONPATH=%s %s %s/e2e_report.py %s 2>&1", dir,
	               HS_TEST_PYPATH, HS_TEST_PYTHON, HS_TEST_SCRIPTS, dir);
	cr_assert_eq(st, 0, "e2e_report.py: %s", out);
	free(out);
	return dir;
}

Test(e2e_report, html_in_chromium, .timeout = 180)
{
	char *dir = three_dumps(), *out;
	cr_assert_eq(td_run(&out, "report %s/r1.hsnap %s/r2.hsnap %s/r3.hsnap -o %s/report.html",
	                    dir, dir, dir, dir),
	             0, "%s", out);
	free(out);
	char *html_path;
	cr_assert(asprintf(&html_path, "%s/report.html", dir) > 0);
	char *html = td_read(html_path);

	/* Self-contained: nothing to fetch, no script. */
	const char *never[] = {"<script", "<link", "src=", "@import", "url(", "href=\"http"};
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		cr_assert_null(strstr(html, never[i]), "'%s' in the report", never[i]);
	cr_assert(strstr(html, "<table id=\"leak-table\">"), "no leak table");
	cr_assert(strstr(html, "<a href=\"#leak-1\">1</a>"), "no leak group found");
	cr_assert(strstr(html, "__main__.Session"), "the leaking type is not named");
	cr_assert(count(html, "<svg") >= 2, "pictures: %d", count(html, "<svg"));
	/* The registry key, markup and all, as text. */
	cr_assert(strstr(html, "&lt;script&gt;alert("), "the hostile key is not escaped");
	/* The banner's growth is the leak table's ("+947.6 KiB" against
	 * "+688.0 KiB" once: the holder's growth against the group's). */
	const char *banner = strstr(html, "The largest leak:");
	const char *plus = banner ? strstr(banner, "(+") : NULL;
	const char *end = plus ? strstr(plus, " retained)") : NULL;
	cr_assert(end, "no growth in the banner");
	char cell[64];
	snprintf(cell, sizeof(cell), ">%.*s<", (int)(end - plus - 1), plus + 1);
	cr_assert(strstr(strstr(html, "<table id=\"leak-table\">"), cell),
	          "the leak table has no '%s' as the banner says", cell);
	free(html);

	if (td_sh(NULL, "command -v chromium >/dev/null 2>&1")) {
		free(html_path);
		free(dir);
		cr_skip("chromium is not installed (scripts/deps.sh installs it)");
	}
	/* --dump-dom prints the DOM after load; console messages go to stderr. */
	char *log, *dom;
	cr_assert(asprintf(&log, "%s/chromium.log", dir) > 0);
	int st = td_sh(&dom, "timeout 120 chromium --headless --no-sandbox --disable-gpu"
	                     " --user-data-dir=%s/profile --enable-logging=stderr --v=0"
	                     " --dump-dom file://%s 2>%s", dir, html_path, log);
	cr_assert_eq(st, 0, "chromium failed; see %s", log);
	cr_assert(strstr(dom, "id=\"leak-table\""), "the leak table is not in the DOM");
	cr_assert(count(dom, "<svg") >= 2, "no pictures in the DOM");
	cr_assert(strstr(dom, "<text"), "the pictures have no text");
	cr_assert_null(strstr(dom, "<script"), "a script element in the DOM");
	cr_assert(strstr(dom, "&lt;script&gt;"), "the hostile key is not text in the DOM");
	free(dom);

	char *errors = td_read(log);
	/* The page runs no script, so any console message is a problem: SVG
	 * errors ("...:INFO:CONSOLE:1] "Error: <path> attribute d: ..."),
	 * uncaught exceptions; and resources that failed to load. */
	for (char *line = strtok(errors, "\n"); line; line = strtok(NULL, "\n")) {
		cr_assert_null(strstr(line, ":CONSOLE"), "console message: %s", line);
		cr_assert_null(strstr(line, "Uncaught"), "%s", line);
		cr_assert_null(strstr(line, "Failed to load resource"), "%s", line);
		cr_assert_null(strstr(line, "net::ERR_"), "%s", line);
	}
	free(errors);
	free(log);
	free(html_path);
	free(dir);
}

Test(e2e_report, one_dump)
{
	char *dir = three_dumps(), *out;
	cr_assert_eq(td_run(&out, "report %s/r3.hsnap -o %s/one.html", dir, dir), 0, "%s", out);
	free(out);
	char *path;
	cr_assert(asprintf(&path, "%s/one.html", dir) > 0);
	char *html = td_read(path);
	cr_assert(strstr(html, "give two or three dumps"), "no hint for leak groups");
	cr_assert(strstr(html, "<svg"), "no picture of the largest object");
	cr_assert(strstr(html, "</html>"));
	free(html);
	free(path);
	cr_assert_eq(td_run(&out, "report %s/r3.hsnap 2>&1", dir), 2, "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "report %s/nope.hsnap -o %s/x.html 2>&1", dir, dir), 1, "%s", out);
	cr_assert(strstr(out, "nope.hsnap"), "%s", out);
	free(out);
	free(dir);
}
