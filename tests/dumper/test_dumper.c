/*
 * test_dumper.c - the dumper against Python's own view of the same heap.
 * Each test runs a script from this directory in a real python3 with the
 * built heapsnap package, reads the dump back with the format library and
 * compares it with what the script wrote about the heap.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "load.h"

/* ---- the view files scripts write ------------------------------------ */

struct pyobj {
	uint64_t id;
	int tracked;
	int64_t size;
	char *type;
	uint64_t *refs, *keys;
	size_t nrefs, nkeys;
	int subset;   /* code object or type: the dump may add edges */
};

struct view {
	struct pyobj *objs;
	size_t n, cap;
	char **lines;  /* the other lines, in order */
	size_t nlines, caplines;
};

static uint64_t *parse_ids(char *s, size_t *n)
{
	size_t cap = 8;
	uint64_t *ids = malloc(cap * sizeof(*ids));
	*n = 0;
	for (char *tok = strtok(s, " \n"); tok; tok = strtok(NULL, " \n")) {
		if (*n == cap)
			ids = realloc(ids, (cap *= 2) * sizeof(*ids));
		ids[(*n)++] = strtoull(tok, NULL, 16);
	}
	return ids;
}

static int by_id(const void *a, const void *b)
{
	const struct pyobj *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static struct pyobj *view_find(struct view *v, uint64_t id)
{
	struct pyobj key = { .id = id };
	return bsearch(&key, v->objs, v->n, sizeof(key), by_id);
}

/* Logs the targets in one sorted list and not the other. */
static void log_diff(const struct t_dump *d, struct view *v, const uint64_t *a,
                     size_t na, const uint64_t *b, size_t nb)
{
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		if (j == nb || (i < na && a[i] < b[j])) {
			struct t_obj *o = t_find(d, a[i]);
			cr_log_error("  only in dump: 0x%llx %s %s", (unsigned long long)a[i],
			             o ? t_type_name(d, o) : "?", o && o->value ? o->value : "");
			i++;
		} else if (i == na || b[j] < a[i]) {
			struct pyobj *p = view_find(v, b[j]);
			cr_log_error("  only in python: 0x%llx %s", (unsigned long long)b[j],
			             p ? p->type : "?");
			j++;
		} else {
			i++;
			j++;
		}
	}
}

/* Reads a view; "o" lines make objects, "r"/"k"/"x" complete the object
 * of the preceding "o" line, anything else is kept as a line. */
static void view_load(struct view *v, const char *path)
{
	memset(v, 0, sizeof(*v));
	char *text = t_slurp(path, NULL);
	cr_assert(text, "no view file %s", path);
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct pyobj *o = v->n ? &v->objs[v->n - 1] : NULL;
		if (line[0] == 'o') {
			if (v->n == v->cap)
				v->objs = realloc(v->objs, (v->cap = v->cap ? v->cap * 2 : 1024) *
				                           sizeof(*v->objs));
			o = &v->objs[v->n++];
			memset(o, 0, sizeof(*o));
			char type[512];
			long long size;
			sscanf(line + 2, "%lx %d %lld %511s", (unsigned long *)&o->id,
			       &o->tracked, &size, type);
			o->size = size;
			o->type = strdup(type);
		} else if (line[0] == 'r' && o) {
			o->refs = parse_ids(line + 2 + strcspn(line + 2, " "), &o->nrefs);
		} else if (line[0] == 'k' && o) {
			o->keys = parse_ids(line + 2 + strcspn(line + 2, " "), &o->nkeys);
		} else if (line[0] == 'x' && o) {
			o->subset = 1;
		} else {
			if (v->nlines == v->caplines)
				v->lines = realloc(v->lines, (v->caplines = v->caplines ? v->caplines * 2 : 64) *
				                             sizeof(*v->lines));
			v->lines[v->nlines++] = strdup(line);
		}
	}
	free(text);
	qsort(v->objs, v->n, sizeof(*v->objs), by_id);
}

static void view_free(struct view *v)
{
	for (size_t i = 0; i < v->n; i++) {
		free(v->objs[i].type);
		free(v->objs[i].refs);
		free(v->objs[i].keys);
	}
	for (size_t i = 0; i < v->nlines; i++)
		free(v->lines[i]);
	free(v->objs);
	free(v->lines);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The targets of o's edges whose kind passes keep(), sorted. */
static uint64_t *edges_of(const struct t_dump *d, const struct t_obj *o,
                          int (*keep)(uint32_t), size_t *n)
{
	uint64_t *v = malloc((o->nedges + 1) * sizeof(*v));
	*n = 0;
	for (size_t i = 0; i < o->nedges; i++) {
		const struct t_edge *e = &d->edges[o->edge0 + i];
		if (keep(e->kind))
			v[(*n)++] = e->dst;
	}
	qsort(v, *n, sizeof(*v), cmp_u64);
	return v;
}

static int strong_not_key(uint32_t k)
{
	return k != HS_E_DICT_KEY && k != HS_E_WEAK;
}

static int key_only(uint32_t k)
{
	return k == HS_E_DICT_KEY;
}

/* 1 when sorted a equals b (exact), or is a superset of it (subset). */
static int same(uint64_t *a, size_t na, uint64_t *b, size_t nb, int subset)
{
	qsort(b, nb, sizeof(*b), cmp_u64);
	if (!subset)
		return na == nb && memcmp(a, b, na * sizeof(*a)) == 0;
	size_t i = 0;
	for (size_t j = 0; j < nb; j++) {
		while (i < na && a[i] < b[j])
			i++;
		if (i == na || a[i] != b[j])
			return 0;
		i++;
	}
	return 1;
}

static const struct t_edge *find_edge(const struct t_dump *d,
                                      const struct t_obj *o, uint64_t dst,
                                      uint32_t kind)
{
	for (size_t i = 0; o && i < o->nedges; i++) {
		const struct t_edge *e = &d->edges[o->edge0 + i];
		if (e->dst == dst && e->kind == kind)
			return e;
	}
	return NULL;
}

static int label_is(const struct t_dump *d, const struct t_edge *e,
                    const char *want)
{
	char buf[32];
	const char *got = buf;
	if (e->kind == HS_E_INDEX)
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)e->label);
	else if (e->label == 0)
		got = "-";
	else
		got = t_str(d, e->label);
	return strcmp(got, want) == 0;
}

static void load_dump(struct t_dump *d, const char *dir, const char *name)
{
	char path[512], err[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_eq(t_load(d, path, err, sizeof(err)), 0, "%s", err);
	cr_assert(d->complete, "dump %s is not complete", path);
	cr_assert_eq(d->dups, 0, "%zu objects written twice", d->dups);
}

/* ---- objects, references, sizes, labels ----------------------------- */

Test(dumper, heap_matches_python)
{
	char *dir = t_mkdir();
	char dump[512], viewp[512];
	snprintf(dump, sizeof(dump), "%s/heap.hsnap", dir);
	snprintf(viewp, sizeof(viewp), "%s/heap.view", dir);
	cr_assert_eq(t_python(dir, "heap.py", dump, viewp, NULL), 0);
	struct t_dump d;
	struct view v;
	load_dump(&d, dir, "heap.hsnap");
	view_load(&v, viewp);
	cr_assert_gt(v.n, 1000);

	size_t missing = 0, badtype = 0, badtrack = 0, badsize = 0, badrefs = 0,
	       badkeys = 0, sized = 0;
	for (size_t i = 0; i < v.n; i++) {
		struct pyobj *p = &v.objs[i];
		struct t_obj *o = t_find(&d, p->id);
		if (!o) {
			if (missing++ < 10)
				cr_log_error("missing %s at 0x%llx", p->type,
				             (unsigned long long)p->id);
			continue;
		}
		if (strcmp(t_type_name(&d, o), p->type) != 0 && badtype++ < 10)
			cr_log_error("type of 0x%llx: dump %s, python %s",
			             (unsigned long long)p->id, t_type_name(&d, o), p->type);
		if (!!(o->flags & HS_OF_GC_TRACKED) != p->tracked && badtrack++ < 10)
			cr_log_error("tracked flag of %s 0x%llx", p->type,
			             (unsigned long long)p->id);
		if (p->size >= 0) {
			sized++;
			if (o->size != (uint64_t)p->size && badsize++ < 10)
				cr_log_error("size of %s: dump %llu, getsizeof %lld", p->type,
				             (unsigned long long)o->size, (long long)p->size);
		}
		size_t n;
		uint64_t *got = edges_of(&d, o, strong_not_key, &n);
		if (!same(got, n, p->refs, p->nrefs, p->subset) && badrefs++ < 10) {
			cr_log_error("edges of %s 0x%llx: dump %zu, get_referents %zu",
			             p->type, (unsigned long long)p->id, n, p->nrefs);
			log_diff(&d, &v, got, n, p->refs, p->nrefs);
		}
		free(got);
		if (p->keys) {
			got = edges_of(&d, o, key_only, &n);
			if (!same(got, n, p->keys, p->nkeys, 0) && badkeys++ < 10)
				cr_log_error("keys of dict 0x%llx: dump %zu, python %zu",
				             (unsigned long long)p->id, n, p->nkeys);
			free(got);
		}
	}
	cr_expect_eq(missing, 0, "%zu of %zu objects missing", missing, v.n);
	cr_expect_eq(badtype, 0, "%zu type names differ", badtype);
	cr_expect_eq(badtrack, 0, "%zu tracked flags differ", badtrack);
	cr_expect_gt(sized, 1000);
	cr_expect_eq(badsize, 0, "%zu of %zu sizes differ", badsize, sized);
	cr_expect_eq(badrefs, 0, "%zu objects' edges differ", badrefs);
	cr_expect_eq(badkeys, 0, "%zu dicts' keys differ", badkeys);

	/* labels: L src dst kind label; F dst kind label (a thread frame) */
	for (size_t i = 0; i < v.nlines; i++) {
		char *l = v.lines[i];
		unsigned long src, dst;
		unsigned kind;
		char want[256];
		if (sscanf(l, "L %lx %lx %u %255s", &src, &dst, &kind, want) == 4) {
			const struct t_edge *e = find_edge(&d, t_find(&d, src), dst, kind);
			cr_expect(e, "no %s edge for: %s", hs_edge_kind_name(kind), l);
			if (e)
				cr_expect(label_is(&d, e, want), "label %s for: %s",
				          e->kind == HS_E_INDEX ? "(index)" : t_str(&d, e->label), l);
		} else if (sscanf(l, "F %lx %u %255s", &dst, &kind, want) == 3) {
			int found = 0;
			for (size_t k = 0; k < d.nobjs && !found; k++) {
				struct t_obj *o = &d.objs[k];
				if (strcmp(t_type_name(&d, o), "frame") != 0)
					continue;
				const struct t_edge *e = find_edge(&d, o, dst, kind);
				found = e && label_is(&d, e, want);
			}
			cr_expect(found, "no frame edge for: %s", l);
		}
	}
	view_free(&v);
	t_free(&d);
	t_rmdir(dir);
}
