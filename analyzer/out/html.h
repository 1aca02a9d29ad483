/*
 * html.h - writing one self-contained HTML page (the 'report'): escaped
 * text, table cells, tables from queries, Graphviz SVG inline. Every
 * string from a dump goes through hsa_html_esc or hsa_html_td, so it
 * renders as text, never as markup.
 */
#ifndef HSA_HTML_H
#define HSA_HTML_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "db.h"

/* The document up to <body> (inline CSS, no network access) and its end. */
void hsa_html_begin(FILE *f, const char *title);
void hsa_html_end(FILE *f);
/* s as HTML text or attribute value: & < > " ' as entities, invalid
 * UTF-8 as U+FFFD, control characters as \xNN. NULL writes nothing. */
int hsa_html_esc(FILE *f, const char *s, size_t len);
/* A formatted, escaped table cell; num right-aligns it. */
int hsa_html_td(FILE *f, int num, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Steps st to the end as a <table> (id may be NULL) with the columns'
 * names as headers and their formats ('s', 'n', 'b', 'x'). Returns the
 * row count, or -1 with err filled. */
int64_t hsa_html_query(FILE *f, sqlite3_stmt *st, const hsa_col *cols, int ncols,
                       const char *id, char *err, size_t errlen);
/* The <svg> element of Graphviz's SVG output (its XML prolog, doctype and
 * comments before it left out). */
int hsa_html_svg(FILE *f, const char *svg, size_t len);

#endif
