/* progress.c - the monotonic clock and the progress bar on a terminal's
 * stderr. */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

double hsa_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void hsa_progress_start(hsa_progress *p, const char *what, uint64_t total)
{
	p->what = what;
	p->total = total;
	p->start = p->last = hsa_now();
	p->tty = isatty(STDERR_FILENO);
	p->shown = 0;
}

void hsa_progress_update(hsa_progress *p, uint64_t done)
{
	if (!p->tty)
		return;
	double t = hsa_now();
	if (t - p->start < 1.0 || t - p->last < 0.1)
		return;
	p->last = t;
	p->shown = 1;
	if (!p->total) {
		/* Work of unknown size: the time spent only. */
		fprintf(stderr, "\r%-24s %5.1fs", p->what, t - p->start);
		fflush(stderr);
		return;
	}
	int pct = p->total ? (int)(done * 100 / p->total) : 0;
	if (pct > 100)
		pct = 100;
	char bar[31];
	int fill = pct * 30 / 100;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(30 - fill));
	bar[30] = 0;
	fprintf(stderr, "\r%-24s [%s] %3d%% %5.1fs", p->what, bar, pct, t - p->start);
	fflush(stderr);
}

void hsa_progress_end(hsa_progress *p)
{
	if (p->shown)
		fprintf(stderr, "\r%-24s done in %.1fs%30s\n", p->what, hsa_now() - p->start, "");
	p->shown = 0;
}

void hsa_progress_note(const char *fmt, ...)
{
	if (!isatty(STDERR_FILENO))
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("heapsnap: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
