/* html.c - a self-contained HTML page: escaping, tables, inline SVG. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"

static const char *const html_esc[128] = {
	['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;", ['\''] = "&#39;",
};

/* Everything the page needs is here: it must open without a network. */
static const char css[] =
	":root{--fg:#1d232a;--muted:#5b6672;--line:#d8dee4;--head:#f3f5f7;--accent:#c75000}\n"
	"body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;"
	"color:var(--fg);background:#fff;max-width:1200px;margin:0 auto;padding:1.5em 2em 4em}\n"
	"h1{font-size:1.6em;margin:.2em 0}\n"
	"h2{font-size:1.25em;margin:2em 0 .6em;padding-bottom:.2em;"
	"border-bottom:2px solid var(--line)}\n"
	"h3{font-size:1.05em;margin:1.6em 0 .4em}\n"
	"nav a{margin-right:1.2em;color:var(--accent);text-decoration:none}\n"
	"table{border-collapse:collapse;width:100%;margin:.5em 0;font-size:.92em}\n"
	"th,td{border-bottom:1px solid var(--line);padding:.35em .6em;text-align:left;"
	"vertical-align:top}\n"
	"th{background:var(--head);font-weight:600}\n"
	"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
	"tbody tr:hover td{background:#fafbfc}\n"
	"code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;"
	"word-break:break-word}\n"
	".muted{color:var(--muted)}\n"
	".finding{border-left:4px solid var(--accent);background:#fff7ef;padding:.6em 1em;"
	"margin:.6em 0}\n"
	".graph{overflow:auto;border:1px solid var(--line);border-radius:4px;"
	"margin:.6em 0 1.4em}\n"
	".graph svg{display:block;margin:0 auto;max-width:100%;height:auto}\n";

void hsa_html_begin(FILE *f, const char *title)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
	      f);
	hsa_html_esc(f, title, strlen(title));
	fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", css);
}

void hsa_html_end(FILE *f) { fputs("</body>\n</html>\n", f); }

int hsa_html_esc(FILE *f, const char *s, size_t len)
{
	hsa_str b = {0};
	if (!s)
		return 0;
	int rc = hsa_str_text(&b, s, len, SIZE_MAX, html_esc);
	if (!rc && b.s)
		fputs(b.s, f);
	hsa_str_free(&b);
	return rc;
}

int hsa_html_td(FILE *f, int num, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	fputs(num ? "<td class=\"n\">" : "<td>", f);
	int rc = hsa_html_esc(f, s, (size_t)n);
	fputs("</td>", f);
	free(s);
	return rc;
}

static int cell(FILE *f, sqlite3_stmt *st, int i, char fmt)
{
	char buf[32];
	int num = fmt == 'n' || fmt == 'b';
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return hsa_html_td(f, num, "%s", fmt == 's' ? "" : "-");
	uint64_t v = (uint64_t)sqlite3_column_int64(st, i);
	switch (fmt) {
	case 'n':
		return hsa_html_td(f, 1, "%s", hsa_human_count(v, buf));
	case 'b':
		return hsa_html_td(f, 1, "%s", hsa_human_size(v, buf));
	case 'x':
		return hsa_html_td(f, 0, "0x%" PRIx64, v);
	default:
		fputs("<td>", f);
		int rc = hsa_html_esc(f, sqlite3_column_blob(st, i), (size_t)sqlite3_column_bytes(st, i));
		fputs("</td>", f);
		return rc;
	}
}

int64_t hsa_html_query(FILE *f, sqlite3_stmt *st, const hsa_col *cols, int ncols,
                       const char *id, char *err, size_t errlen)
{
	int64_t rows = 0;
	int rc;
	fputs("<table", f);
	if (id)
		fprintf(f, " id=\"%s\"", id);
	fputs(">\n<thead><tr>", f);
	for (int i = 0; i < ncols; i++)
		fprintf(f, "<th%s>%s</th>", cols[i].fmt == 'n' || cols[i].fmt == 'b' ? " class=\"n\"" : "",
		        cols[i].name);
	fputs("</tr></thead>\n<tbody>\n", f);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fputs("<tr>", f);
		for (int i = 0; i < ncols; i++)
			if (cell(f, st, i, cols[i].fmt)) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
		fputs("</tr>\n", f);
		rows++;
	}
	fputs("</tbody>\n</table>\n", f);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "query failed: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
		return -1;
	}
	return rows;
}

int hsa_html_svg(FILE *f, const char *svg, size_t len)
{
	const char *start = svg ? memmem(svg, len, "<svg", 4) : NULL;
	if (!start)
		return -1;
	fwrite(start, 1, len - (size_t)(start - svg), f);
	return 0;
}
