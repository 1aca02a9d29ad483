/* message.c - one-line errors and warnings on stderr, their control
 * characters escaped, and the warnings library code returns. */
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Messages quote names from dumps (types, paths, problems): they reach the
 * terminal as text, their control characters escaped. */
static void message(const char *prefix, const char *fmt, va_list ap)
{
	char *m = NULL;
	hsa_str t = {0};
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	if (m)
		hsa_str_text(&t, m, strlen(m), SIZE_MAX, NULL);
	fprintf(stderr, "%s%s\n", prefix, t.s ? t.s : "out of memory");
	hsa_str_free(&t);
	free(m);
}

void hsa_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	message("heapsnap: ", fmt, ap);
	va_end(ap);
}

void hsa_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	message("heapsnap: warning: ", fmt, ap);
	va_end(ap);
}

void hsa_warnings_add(hsa_warnings *w, const char *fmt, ...)
{
	if (!w)
		return;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 8;
		char **p = realloc(w->msg, cap * sizeof(char *));
		if (!p)
			return;
		w->msg = p;
		w->cap = cap;
	}
	va_list ap;
	va_start(ap, fmt);
	char *m = NULL;
	if (vasprintf(&m, fmt, ap) >= 0)
		w->msg[w->n++] = m;
	va_end(ap);
}

void hsa_warnings_move(hsa_warnings *dst, hsa_warnings *src)
{
	for (size_t i = 0; dst && i < src->n; i++)
		hsa_warnings_add(dst, "%s", src->msg[i]);
	hsa_warnings_free(src);
}

void hsa_warnings_print(hsa_warnings *w)
{
	for (size_t i = 0; w && i < w->n; i++)
		hsa_warn("%s", w->msg[i]);
	hsa_warnings_free(w);
}

void hsa_warnings_free(hsa_warnings *w)
{
	if (!w)
		return;
	hsa_strs_free(w->msg, w->n);
	memset(w, 0, sizeof(*w));
}
