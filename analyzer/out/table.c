/* table.c - aligned tables for people. */
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct hsa_table {
	int ncols;
	char *align;
	size_t *w;    /* display width per column */
	size_t ncells, cap;
	char **cells; /* row-major, headers first */
};

hsa_table *hsa_table_new(int ncols, const char *const *headers, const char *align)
{
	hsa_table *t = ncols > 0 ? calloc(1, sizeof(*t)) : NULL;
	if (!t || !(t->align = calloc((size_t)ncols + 1, 1)) ||
	    !(t->w = calloc((size_t)ncols, sizeof(size_t))))
		goto fail;
	t->ncols = ncols;
	size_t na = strlen(align);
	memcpy(t->align, align, na < (size_t)ncols ? na : (size_t)ncols);
	for (int i = 0; i < ncols; i++) {
		if (i == 0 && hsa_table_row(t))
			goto fail;
		if (hsa_table_cell(t, "%s", headers[i]))
			goto fail;
	}
	return t;
fail:
	hsa_table_free(t);
	return NULL;
}

int hsa_table_row(hsa_table *t)
{
	/* Pad an unfinished row so the cell grid stays rectangular. */
	while (t->ncells % (size_t)t->ncols)
		if (hsa_table_cell(t, "%s", ""))
			return -1;
	return 0;
}

/* Display width: count UTF-8 lead bytes, not continuation bytes. */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

int hsa_table_cell(hsa_table *t, const char *fmt, ...)
{
	if (t->ncells == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **c = realloc(t->cells, cap * sizeof(char *));
		if (!c)
			return -1;
		t->cells = c;
		t->cap = cap;
	}
	va_list ap;
	va_start(ap, fmt);
	char *cell;
	int n = vasprintf(&cell, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	/* Cells show names from dumps: as text, never as terminal controls. */
	for (const unsigned char *p = (const unsigned char *)cell; *p; p++) {
		if (*p >= 0x20 && *p < 0x7f)
			continue;
		hsa_str text = {0};
		if (hsa_str_text(&text, cell, (size_t)n, SIZE_MAX, NULL)) {
			hsa_str_free(&text);
			free(cell);
			return -1;
		}
		free(cell);
		cell = text.s ? text.s : strdup("");
		if (!cell)
			return -1;
		break;
	}
	size_t cw = width(cell), col = t->ncells % (size_t)t->ncols;
	if (cw > t->w[col])
		t->w[col] = cw;
	t->cells[t->ncells++] = cell;
	return 0;
}

void hsa_table_print(const hsa_table *t, FILE *f, const char *indent)
{
	size_t nrows = (t->ncells + (size_t)t->ncols - 1) / (size_t)t->ncols;
	for (size_t r = 0; r < nrows; r++) {
		fputs(indent ? indent : "", f);
		for (int c = 0; c < t->ncols; c++) {
			size_t i = r * (size_t)t->ncols + (size_t)c;
			const char *s = i < t->ncells ? t->cells[i] : "";
			size_t pad = t->w[c] - width(s);
			int last = c == t->ncols - 1;
			if (t->align[c] == 'r')
				fprintf(f, "%*s%s", (int)pad, "", s);
			else if (last)
				fputs(s, f);
			else
				fprintf(f, "%s%*s", s, (int)pad, "");
			fputs(last ? "\n" : "  ", f);
		}
	}
}

void hsa_table_free(hsa_table *t)
{
	if (!t)
		return;
	hsa_strs_free(t->cells, t->ncells);
	free(t->align);
	free(t->w);
	free(t);
}
