/*
 * format_bench - writer and reader throughput and bytes per object for a
 * synthetic heap-like graph (issue 2 figures).
 *
 *   format_bench [--objects N] [--out FILE]
 *
 * The graph imitates a CPython heap: 8-object units (an instance, its
 * attribute dict, a list of four tuples, a string) allocated one after the
 * other (regular: at pymalloc-like fixed strides; fragmented: with random
 * 0-3 free 16-byte slots between objects), referring to each other, to shared
 * singletons far away (small ints, interned dict keys, their type), to a
 * "customer" instance a few units back, and in 10 % of units to a random
 * unit anywhere: 3.5 references per object on average.
 */
#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hsnap.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define MAXREF 7 /* a dict unit: 3 keys, 3 values and its type */
#define NSHARED 264 /* 256 small ints, 3 interned keys, 5 type objects */

typedef struct graph {
	size_t n;
	uint64_t *addr;
	uint32_t *type, *size;
	uint8_t *nref;
	uint32_t *ref;       /* MAXREF slots per object: target indices */
	uint8_t *kind;       /* edge kinds */
	uint16_t *label;     /* attribute name index, or the list index */
} graph;

static void edge(graph *g, size_t i, size_t j, int kind, int label)
{
	int k = g->nref[i]++;
	assert(k < MAXREF);
	g->ref[i * MAXREF + k] = (uint32_t)j;
	g->kind[i * MAXREF + k] = (uint8_t)kind;
	g->label[i * MAXREF + k] = (uint16_t)label;
}

static void make_graph(graph *g, size_t n, int fragmented)
{
	static const uint32_t unit_type[8] = { 1, 2, 3, 4, 4, 4, 4, 5 };
	static const uint32_t unit_size[8] = { 56, 232, 88, 64, 64, 64, 64, 60 };
	g->n = n = NSHARED + (n - NSHARED) / 8 * 8;
	g->addr = malloc(n * sizeof(*g->addr));
	g->type = malloc(n * sizeof(*g->type));
	g->size = malloc(n * sizeof(*g->size));
	g->nref = calloc(n, 1);
	g->ref = malloc(n * MAXREF * sizeof(*g->ref));
	g->kind = malloc(n * MAXREF);
	g->label = malloc(n * MAXREF * sizeof(*g->label));
	if (!g->addr || !g->type || !g->size || !g->nref || !g->ref || !g->kind || !g->label) {
		fprintf(stderr, "format_bench: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < NSHARED; i++) {
		g->addr[i] = 0x55d4a0000000ull + i * 32;
		g->type[i] = i < 256 ? 6 : i < 259 ? 5 : 7;
		g->size[i] = 28;
	}
	uint64_t a = 0x7f3a10000000ull;
	for (size_t i = NSHARED; i < n; i++) {
		size_t u = (i - NSHARED) / 8, o = (i - NSHARED) % 8, base = NSHARED + u * 8;
		a += unit_size[o] + (fragmented ? 16 * (rnd() % 4) : 0);
		g->addr[i] = a;
		g->type[i] = unit_type[o];
		g->size[i] = unit_size[o];
		switch (o) {
		case 0: /* instance */
			edge(g, i, 259, HS_E_CLASS, 0);
			edge(g, i, base + 1, HS_E_DICT_ATTR, 0);
			edge(g, i, base + 2, HS_E_ATTR, 1);
			edge(g, i, NSHARED + (u - u % 100) * 8, HS_E_ATTR, 2);
			/* .next: usually the following unit, in 10 % a random one */
			edge(g, i, rnd() % 10 ? (i + 8 < n ? i + 8 : NSHARED)
			                      : NSHARED + (rnd() % ((n - NSHARED) / 8)) * 8,
			     HS_E_ATTR, 3);
			break;
		case 1: /* its dict: 3 interned keys, 3 values */
			for (int k = 0; k < 3; k++)
				edge(g, i, 256 + (size_t)k, HS_E_DICT_KEY, 4 + k);
			edge(g, i, 259, HS_E_OTHER, 0);
			edge(g, i, rnd() % 256, HS_E_DICT_VALUE, 4);
			edge(g, i, base + 7, HS_E_DICT_VALUE, 5);
			edge(g, i, base, HS_E_DICT_VALUE, 6);
			break;
		case 2: /* a list of the four tuples */
			for (int k = 0; k < 4; k++)
				edge(g, i, base + 3 + (size_t)k, HS_E_INDEX, k);
			break;
		case 7:
			break;
		default: /* (sku, qty, order) */
			edge(g, i, base + 7, HS_E_INDEX, 0);
			edge(g, i, rnd() % 256, HS_E_INDEX, 1);
			edge(g, i, base, HS_E_INDEX, 2);
		}
	}
}

static void free_graph(graph *g)
{
	free(g->addr);
	free(g->type);
	free(g->size);
	free(g->nref);
	free(g->ref);
	free(g->kind);
	free(g->label);
}

static size_t write_graph(const graph *g, int level, hs_membuf *out, double *secs,
                          uint64_t *records)
{
	hs_sink sink;
	hs_sink_mem(&sink, out);
	hs_writer_opts o = { .level = level };
	char err[256];
	double t0 = now();
	hs_writer *w = hs_writer_new(&sink, &o, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "format_bench: %s\n", err);
		exit(1);
	}
	uint64_t names[64], tnames[8];
	for (int i = 0; i < 64; i++) {
		char s[32];
		int l = snprintf(s, sizeof(s), "attr_%d", i);
		names[i] = hs_writer_string(w, s, (size_t)l);
	}
	for (int t = 1; t <= 7; t++) {
		char s[32];
		int l = snprintf(s, sizeof(s), "app.Type%d", t);
		tnames[t] = hs_writer_string(w, s, (size_t)l);
		hs_writer_type(w, 0x1000 + (uint64_t)t * 0x400, tnames[t]);
	}
	hs_edge e[MAXREF];
	char val[32];
	for (size_t i = 0; i < g->n; i++) {
		hs_object ob = { .addr = g->addr[i], .type = g->type[i], .size = g->size[i],
		                 .refcnt = 1 + (g->nref[i] & 1), .flags = HS_OF_GC_TRACKED };
		if (g->type[i] == 5) {
			ob.flags |= HS_OF_HAS_VALUE;
			ob.value = (const uint8_t *)val;
			ob.value_len = (size_t)snprintf(val, sizeof(val), "sku-%zu", i / 8);
		}
		hs_writer_object(w, &ob);
		for (int k = 0; k < g->nref[i]; k++) {
			size_t s = i * MAXREF + (size_t)k;
			e[k].dst = g->addr[g->ref[s]];
			e[k].kind = g->kind[s];
			e[k].label = e[k].kind == HS_E_INDEX ? g->label[s]
			           : e[k].kind == HS_E_CLASS || e[k].kind == HS_E_DICT_ATTR ? 0
			           : names[g->label[s]];
		}
		hs_writer_refs(w, g->addr[i], e, g->nref[i]);
	}
	hs_root r = { .addr = g->addr[0], .kind = HS_R_MODULES };
	hs_writer_root(w, &r);
	if (hs_writer_finish(w) < 0) {
		fprintf(stderr, "format_bench: %s\n", hs_writer_error(w));
		exit(1);
	}
	*secs = now() - t0;
	*records = 0;
	for (int k = 1; k <= HS_K_MAX_KNOWN; k++)
		*records += hs_writer_count(w, k);
	hs_writer_free(w);
	return out->len;
}

static void read_back(const hs_membuf *buf, double *secs, uint64_t *records, uint64_t *raw)
{
	char err[256];
	double t0 = now();
	hs_reader *r = hs_reader_open_mem(buf->data, buf->len, "bench", err, sizeof(err));
	if (!r) {
		fprintf(stderr, "format_bench: %s\n", err);
		exit(1);
	}
	hs_section s;
	hs_record rec;
	*records = *raw = 0;
	while (hs_reader_next_section(r, &s) == 1) {
		*raw += s.raw_len;
		while (hs_reader_next_record(r, &rec) == 1)
			(*records)++;
	}
	*secs = now() - t0;
	if (!hs_reader_complete(r)) {
		fprintf(stderr, "format_bench: read back failed: %s\n", hs_reader_error(r));
		exit(1);
	}
	hs_reader_free(r);
}

int main(int argc, char **argv)
{
	size_t n = 1000000;
	const char *out = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--objects") && i + 1 < argc)
			n = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			out = argv[++i];
		else {
			fprintf(stderr, "usage: format_bench [--objects N] [--out FILE]\n");
			return 2;
		}
	}
	if (n < NSHARED + 8) {
		fprintf(stderr, "format_bench: --objects must be at least %d\n", NSHARED + 8);
		return 2;
	}
	for (int fragmented = 0; fragmented < 2; fragmented++) {
		graph g;
		make_graph(&g, n, fragmented);
		uint64_t edges = 0;
		for (size_t i = 0; i < g.n; i++)
			edges += g.nref[i];
		printf("%s synthetic heap: %zu objects, %llu references (%.2f per object)\n",
		       fragmented ? "fragmented" : "regular", g.n, (unsigned long long)edges,
		       (double)edges / (double)g.n);
		printf("%-6s %12s %10s %12s %10s %10s %12s %10s\n", "level", "write rec/s",
		       "write MB/s", "read rec/s", "read MB/s", "bytes", "bytes/object", "vs target");
		for (int level = 1; level <= 3; level += 2) {
			hs_membuf buf = { 0 };
			double ws, rs;
			uint64_t wrec, rrec, raw;
			size_t bytes = write_graph(&g, level, &buf, &ws, &wrec);
			read_back(&buf, &rs, &rrec, &raw);
			double bpo = (double)bytes / (double)g.n;
			printf("%-6d %12.3g %10.0f %12.3g %10.0f %10zu %12.2f %9.2fx\n", level,
			       (double)wrec / ws, (double)raw / ws / 1e6, (double)rrec / rs,
			       (double)raw / rs / 1e6, bytes, bpo, bpo / 4.0);
			if (out && level == 1 && !fragmented) {
				int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
				if (fd < 0 || write(fd, buf.data, buf.len) != (ssize_t)buf.len ||
				    close(fd) < 0) {
					perror(out);
					return 1;
				}
			}
			hs_membuf_free(&buf);
		}
		free_graph(&g);
	}
	printf("targets: writer >= 20M records/s on one core; <= 4 bytes per object "
	       "(\"vs target\" is bytes/object / 4, lower is better)\n");
	return 0;
}
