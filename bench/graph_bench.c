/*
 * graph_bench - 'heapsnap graph' figures: wall time and SVG size for
 * pictures of 50, 200 and 1,000 boxes, beside Graphviz's own 'dot -Tsvg'
 * on the same graph.
 *
 *   graph_bench [--dir DIR] [--keep]
 *
 * Writes a dump whose start object has a tree of referrers (4 per object,
 * 6 levels, each object also referring to another object one level down,
 * values and lengths in the labels) under a module, loads it, then runs
 * 'heapsnap graph' with --max-nodes 50, 200 and 1000 as a child process
 * (best of 3, whole process: database open, choice, labels, layout and
 * rendering), and 'dot -Tsvg' on the DOT it writes for the same graph.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hsnap.h"
#include "util.h"

#define FANIN 4
#define LEVELS 6
#define BASE 0x7f0000000000ull

static uint64_t addr_of(uint64_t i) { return BASE + (i + 2) * 0x40; }

/* Objects of level d are [first[d], first[d + 1]); level 0 is the start,
 * each object of level d + 1 refers to one of level d (its tree parent)
 * and to another one, scattered. A module's dict refers to the last level. */
static int write_dump(const char *path)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0) {
		fprintf(stderr, "graph_bench: cannot create '%s': %s\n", path, strerror(errno));
		return -1;
	}
	hs_sink sink;
	hs_sink_fd(&sink, &fd);
	char err[256];
	hs_writer *w = hs_writer_new(&sink, NULL, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "graph_bench: %s\n", err);
		close(fd);
		return -1;
	}
	static const char *const tnames[] = {"app.handlers.Request", "builtins.dict",
	                                     "builtins.list", "app.cache.Entry"};
	uint64_t types[4], str_type, mod_type, attr[2];
	for (int t = 0; t < 4; t++)
		types[t] = hs_writer_type(w, 0x1000 + (uint64_t)t * 0x100,
		                          hs_writer_string(w, tnames[t], strlen(tnames[t])));
	str_type = hs_writer_type(w, 0x2000, hs_writer_string(w, "builtins.str", 12));
	mod_type = hs_writer_type(w, 0x2100, hs_writer_string(w, "module", 6));
	attr[0] = hs_writer_string(w, "parent", 6);
	attr[1] = hs_writer_string(w, "peer", 4);
	uint64_t first[LEVELS + 2] = {0, 1};
	for (int d = 1; d <= LEVELS; d++)
		first[d + 1] = first[d] + (first[d] - first[d - 1]) * FANIN;
	uint64_t n = first[LEVELS + 1];
	int rc = 0;
	hs_object s = {.addr = addr_of(0), .type = str_type, .size = 4049,
	               .flags = HS_OF_HAS_LEN | HS_OF_HAS_VALUE | HS_OF_VALUE_TRUNC, .len = 4000,
	               .value = (const uint8_t *)"GET /search?q=lorem ipsum dolor sit amet",
	               .value_len = 40};
	rc |= hs_writer_object(w, &s);
	for (int d = 1; d <= LEVELS && !rc; d++)
		for (uint64_t i = first[d]; i < first[d + 1] && !rc; i++) {
			int t = (int)(i % 4);
			char val[32];
			hs_object o = {.addr = addr_of(i), .type = types[t], .size = 56 + 8 * (i % 7)};
			if (t == 1 || t == 2) {
				o.flags = HS_OF_HAS_LEN;
				o.len = 2;
			} else if (t == 3) {
				int len = snprintf(val, sizeof(val), "entry %" PRIu64, i);
				o.flags = HS_OF_HAS_VALUE;
				o.value = (const uint8_t *)val;
				o.value_len = (uint64_t)len;
			}
			uint64_t parent = first[d - 1] + (i - first[d]) / FANIN;
			uint64_t peer = first[d - 1] + i * 2654435761u % (first[d] - first[d - 1]);
			hs_edge e[2] = {{addr_of(parent), t == 2 ? HS_E_INDEX : HS_E_ATTR,
			                 t == 2 ? 0 : attr[0]},
			                {addr_of(peer), t == 2 ? HS_E_INDEX : HS_E_ATTR,
			                 t == 2 ? 1 : attr[1]}};
			rc |= hs_writer_object(w, &o) ||
			      hs_writer_refs(w, o.addr, e, peer == parent ? 1 : 2);
		}
	uint64_t dict = addr_of(n), mod = addr_of(n + 1);
	hs_object m = {.addr = mod, .type = mod_type, .size = 72, .flags = HS_OF_HAS_NAME,
	               .name = hs_writer_string(w, "app.handlers", 12)};
	hs_object dobj = {.addr = dict, .type = types[1], .size = 36960, .flags = HS_OF_HAS_LEN,
	                  .len = first[LEVELS + 1] - first[LEVELS]};
	hs_edge me = {dict, HS_E_DICT_ATTR, 0};
	rc |= hs_writer_object(w, &m) || hs_writer_refs(w, mod, &me, 1) ||
	      hs_writer_object(w, &dobj);
	for (uint64_t i = first[LEVELS]; i < n && !rc; i++) {
		char key[32];
		int len = snprintf(key, sizeof(key), "'r%" PRIu64 "'", i);
		hs_edge e = {addr_of(i), HS_E_DICT_VALUE, hs_writer_string(w, key, (size_t)len)};
		rc |= hs_writer_refs(w, dict, &e, 1);
	}
	hs_root r = {.addr = mod, .kind = HS_R_MODULES, .name = m.name};
	rc |= hs_writer_root(w, &r) || hs_writer_finish(w);
	if (rc)
		fprintf(stderr, "graph_bench: %s\n", hs_writer_error(w));
	hs_writer_free(w);
	if (close(fd) && !rc) {
		fprintf(stderr, "graph_bench: cannot write '%s': %s\n", path, strerror(errno));
		rc = -1;
	}
	return rc ? -1 : 0;
}

/* Runs a shell command, best of runs wall times; -1 when it fails. */
static double timed(const char *cmd, int runs)
{
	double best = -1;
	for (int k = 0; k < runs; k++) {
		double t0 = hsa_now();
		int st = system(cmd);
		double t = hsa_now() - t0;
		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "graph_bench: '%s' failed\n", cmd);
			return -1;
		}
		if (best < 0 || t < best)
			best = t;
	}
	return best;
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) ? -1 : (long)st.st_size;
}

int main(int argc, char **argv)
{
	const char *dir = "/tmp";
	int keep = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
			dir = argv[++i];
		} else if (!strcmp(argv[i], "--keep")) {
			keep = 1;
		} else {
			fprintf(stderr, "usage: graph_bench [--dir DIR] [--keep]\n");
			return 2;
		}
	}
	char dump[4096], db[4200], svg[4200], dot[4200], cmd[16384];
	snprintf(dump, sizeof(dump), "%s/graph_bench.hsnap", dir);
	snprintf(db, sizeof(db), "%s.db", dump);
	snprintf(svg, sizeof(svg), "%s/graph_bench.svg", dir);
	snprintf(dot, sizeof(dot), "%s/graph_bench.dot", dir);
	if (write_dump(dump))
		return 1;
	snprintf(cmd, sizeof(cmd), "'%s' load '%s' -o '%s' >/dev/null", HEAPSNAP_BIN, dump, db);
	if (timed(cmd, 1) < 0)
		return 1;
	printf("%-6s %8s %10s %10s %12s\n", "boxes", "drawn", "graph (s)", "SVG (KB)",
	       "dot -Tsvg (s)");
	static const int sizes[] = {50, 200, 1000};
	double t200 = 0;
	int rc = 0;
	for (int k = 0; k < 3 && !rc; k++) {
		snprintf(cmd, sizeof(cmd),
		         "'%s' graph '%s' 0x%" PRIx64 " --depth 20 --max-nodes %d -o '%s' >/dev/null",
		         HEAPSNAP_BIN, db, addr_of(0), sizes[k], svg);
		double tg = timed(cmd, 3);
		long bytes = file_size(svg);
		/* The same graph for dot: the DOT 'graph' writes, laid out by dot. */
		snprintf(cmd, sizeof(cmd),
		         "'%s' graph '%s' 0x%" PRIx64 " --depth 20 --max-nodes %d -o '%s' >/dev/null",
		         HEAPSNAP_BIN, db, addr_of(0), sizes[k], dot);
		double td = timed(cmd, 1);
		snprintf(cmd, sizeof(cmd), "dot -Tsvg '%s' -o /dev/null", dot);
		if (td >= 0)
			td = timed(cmd, 3);
		FILE *f = fopen(svg, "r");
		int drawn = 0;
		char line[512];
		while (f && fgets(line, sizeof(line), f))
			drawn += !strncmp(line, "<g id=\"node", 11);
		if (f)
			fclose(f);
		if (tg < 0 || td < 0 || bytes < 0) {
			rc = 1;
			break;
		}
		printf("%-6d %8d %10.2f %10.1f %12.2f\n", sizes[k], drawn, tg, (double)bytes / 1e3, td);
		if (sizes[k] == 200)
			t200 = tg;
	}
	if (!rc)
		printf("target: 200 boxes in %.0f%% of 1 s\n", 100 * t200);
	if (!keep) {
		unlink(dump);
		unlink(db);
		unlink(svg);
		unlink(dot);
	}
	return rc;
}
