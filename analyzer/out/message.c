/* message.c - one-line errors and warnings on stderr, their control characters escaped. */
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
