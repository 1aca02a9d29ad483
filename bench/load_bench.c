/*
 * load_bench - analyzer figures: load throughput, database bytes per
 * object, peak memory of the load, and warm 'path' / 'show' latency.
 *
 *   load_bench [--objects N] [--dir DIR] [--keep]
 *
 * Writes a synthetic dump of N objects with ~3.5 references each (modules
 * as roots, a tree of containers, random cross references, 1 % weak ones,
 * ~5 % unreachable objects), runs 'heapsnap load' on it as a child process
 * and measures its wall time and peak RSS, then times 'heapsnap path' and
 * 'heapsnap show' on the database (best of 5 warm runs).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hsnap.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

/* Addresses: a bijection of the index spread over 64-byte slots, so the
 * file order is not the address order. */
static uint64_t addr_of(uint64_t i, uint64_t n)
{
	return 0x7f0000000000ull + ((i * 2654435761ull) % (n * 4 + 1)) * 64 + 64;
}

static int write_dump(const char *path, uint64_t n, uint64_t *nrefs)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0) {
		fprintf(stderr, "load_bench: cannot create '%s': %s\n", path, strerror(errno));
		return -1;
	}
	hs_sink sink;
	hs_sink_fd(&sink, &fd);
	char err[256];
	hs_writer *w = hs_writer_new(&sink, NULL, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "load_bench: %s\n", err);
		close(fd);
		return -1;
	}
	hs_writer_meta_str(w, "python_version", "3.11.7");
	hs_writer_meta_str(w, "trigger", "load_bench");
	enum { NTYPES = 64, NLABELS = 1024, NMODS = 100 };
	uint64_t types[NTYPES], labels[NLABELS];
	char buf[64];
	for (int t = 0; t < NTYPES; t++) {
		int len = snprintf(buf, sizeof(buf), "%s.Type%d", t < 8 ? "builtins" : "app.models", t);
		types[t] = hs_writer_type(w, 0x600000 + (uint64_t)t * 0x400,
		                          hs_writer_string(w, buf, (size_t)len));
	}
	for (int l = 0; l < NLABELS; l++) {
		int len = snprintf(buf, sizeof(buf), "attr_%d", l);
		labels[l] = hs_writer_string(w, buf, (size_t)len);
	}
	hs_edge e[16];
	*nrefs = 0;
	for (uint64_t i = 0; i < n; i++) {
		hs_object o = {.addr = addr_of(i, n), .type = types[rnd(NTYPES)],
		               .size = 16 + rnd(200), .refcnt = 1 + rnd(4)};
		hs_writer_object(w, &o);
		/* Children in a tree of fan-out 8 (every 20th left out: garbage
		 * unless a cross reference reaches it), plus random references. */
		size_t k = 0;
		for (uint64_t c = i * 8 + 1; c <= i * 8 + 8 && c < n && k < 8; c++)
			if (c % 20)
				e[k++] = (hs_edge){addr_of(c, n), HS_E_INDEX, c - i * 8 - 1};
		uint64_t extra = rnd(6);
		for (uint64_t x = 0; x < extra && k < 16; x++) {
			uint64_t r = rnd(100);
			unsigned kind = r < 1 ? HS_E_WEAK : r < 50 ? HS_E_ATTR : r < 80 ? HS_E_DICT_VALUE
			                                                          : HS_E_OTHER;
			uint64_t label = kind == HS_E_ATTR || kind == HS_E_DICT_VALUE
			                         ? labels[rnd(NLABELS)] : 0;
			e[k++] = (hs_edge){addr_of(rnd(n), n), kind, label};
		}
		if (k)
			hs_writer_refs(w, o.addr, e, k);
		*nrefs += k;
	}
	for (uint64_t m = 0; m < NMODS && m < n; m++) {
		int len = snprintf(buf, sizeof(buf), "app.mod%" PRIu64, m);
		hs_root r = {.addr = addr_of(m, n), .kind = HS_R_MODULES,
		             .name = hs_writer_string(w, buf, (size_t)len)};
		hs_writer_root(w, &r);
	}
	int rc = hs_writer_finish(w);
	if (rc)
		fprintf(stderr, "load_bench: %s\n", hs_writer_error(w));
	hs_writer_free(w);
	close(fd);
	return rc;
}

/* Runs argv, returns its wall time; *rss_kb gets the child's peak RSS. */
static double run(char *const argv[], long *rss_kb, int quiet)
{
	double t0 = now();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		if (quiet) {
			int null = open("/dev/null", O_WRONLY);
			dup2(null, STDOUT_FILENO);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	int st;
	struct rusage ru;
	if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "load_bench: '%s %s' failed\n", argv[0], argv[1]);
		return -1;
	}
	if (rss_kb)
		*rss_kb = ru.ru_maxrss;
	return now() - t0;
}

static double best_of(char *const argv[], int times)
{
	double best = 1e9;
	for (int i = 0; i < times; i++) {
		double t = run(argv, NULL, 1);
		if (t < 0)
			return -1;
		if (t < best)
			best = t;
	}
	return best;
}

int main(int argc, char **argv)
{
	uint64_t n = 1000000;
	const char *dir = "/tmp";
	int keep = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--objects") && i + 1 < argc)
			n = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--keep"))
			keep = 1;
		else {
			fprintf(stderr, "usage: load_bench [--objects N] [--dir DIR] [--keep]\n");
			return 2;
		}
	}
	char dump[4000], db[4096], target[64];
	snprintf(dump, sizeof(dump), "%s/load_bench-%" PRIu64 ".hsnap", dir, n);
	snprintf(db, sizeof(db), "%s.db", dump);
	uint64_t nrefs;
	double t0 = now();
	if (write_dump(dump, n, &nrefs))
		return 1;
	struct stat sb;
	stat(dump, &sb);
	printf("dump: %" PRIu64 " objects, %" PRIu64 " references, %.1f MB, written in %.1f s\n",
	       n, nrefs, (double)sb.st_size / 1e6, now() - t0);
	fflush(stdout);

	long rss;
	char *load[] = {HEAPSNAP_BIN, "load", dump, "-o", db, NULL};
	double secs = run(load, &rss, 1);
	if (secs < 0)
		return 1;
	stat(db, &sb);
	double per = (double)rss * 1024 / (double)(n + nrefs);
	printf("load: %.1f s (%.2fM objects/s, %.2fM references/s); database %.1f MB, %.0f B/object;"
	       " peak RSS %.0f MB = %.1f B per object+reference\n",
	       secs, (double)n / secs / 1e6, (double)nrefs / secs / 1e6, (double)sb.st_size / 1e6,
	       (double)sb.st_size / (double)n, (double)rss / 1024, per);

	/* A deep object: a leaf of the container tree. */
	snprintf(target, sizeof(target), "0x%" PRIx64, addr_of(n - 2, n));
	char *path[] = {HEAPSNAP_BIN, "path", db, target, NULL};
	char *show[] = {HEAPSNAP_BIN, "show", db, target, NULL};
	double tp = best_of(path, 5), ts = best_of(show, 5);
	printf("path: %.1f ms, show: %.1f ms (warm, best of 5, whole process)\n", tp * 1e3,
	       ts * 1e3);
	if (n >= 10000000)
		printf("targets: load %.0f%% of 40 s, memory %.0f%% of 40 B, path %.0f%% and show"
		       " %.0f%% of 50 ms\n",
		       secs / 40 * 100, per / 40 * 100, tp * 1e3 / 50 * 100, ts * 1e3 / 50 * 100);
	if (!keep) {
		unlink(dump);
		unlink(db);
	}
	return 0;
}
