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
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include "load.h"

/* ---- the view files scripts write ------------------------------------ */

struct pyobj {
	uint64_t id;
	int tracked;
	int64_t size, len;
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
			long long size, len;
			sscanf(line + 2, "%lx %d %lld %lld %511s", (unsigned long *)&o->id,
			       &o->tracked, &size, &len, type);
			o->size = size;
			o->len = len;
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

static const hs_root *find_root(const struct t_dump *d, uint64_t addr,
                                uint32_t kind)
{
	for (size_t i = 0; i < d->nroots; i++)
		if (d->roots[i].addr == addr && d->roots[i].kind == kind)
			return &d->roots[i];
	return NULL;
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

/* "v ID HEX": the object's preview is the hex-encoded text, or a prefix of
 * it flagged truncated. */
static void check_value(const struct t_dump *d, const char *line)
{
	unsigned long id;
	int off = 0;
	cr_assert(sscanf(line, "v %lx %n", &id, &off) == 1);
	const char *hex = line + off;
	size_t n = strlen(hex) / 2;
	char *want = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		sscanf(hex + 2 * i, "%2hhx", (unsigned char *)&want[i]);
	want[n] = '\0';
	struct t_obj *o = t_find(d, id);
	cr_assert(o, "no object for: %s", line);
	cr_expect(o->flags & HS_OF_HAS_VALUE, "no value for %s %s",
	          t_type_name(d, o), want);
	if (o->flags & HS_OF_VALUE_TRUNC)
		cr_expect(o->value_len <= n && o->value_len >= 100 &&
		          memcmp(o->value, want, o->value_len) == 0,
		          "%s: preview %.*s is no prefix of %s", t_type_name(d, o),
		          (int)o->value_len, o->value, want);
	else
		cr_expect(o->value_len == n && memcmp(o->value, want, n) == 0,
		          "%s: preview '%.*s', repr '%s'", t_type_name(d, o),
		          (int)o->value_len, o->value, want);
	free(want);
}

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
	       badkeys = 0, sized = 0, badlen = 0, lens = 0;
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
		if (p->len >= 0) {
			lens++;
			if ((!(o->flags & HS_OF_HAS_LEN) || o->len != (uint64_t)p->len) &&
			    badlen++ < 10)
				cr_log_error("len of %s: dump %llu, python %lld", p->type,
				             (unsigned long long)o->len, (long long)p->len);
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
	cr_expect_gt(lens, 1000);
	cr_expect_eq(badlen, 0, "%zu of %zu lengths differ", badlen, lens);
	cr_expect_eq(badrefs, 0, "%zu objects' edges differ", badrefs);
	cr_expect_eq(badkeys, 0, "%zu dicts' keys differ", badkeys);

	/* labels: L src dst kind label; F dst kind label (a thread frame) */
	for (size_t i = 0; i < v.nlines; i++) {
		char *l = v.lines[i];
		unsigned long src, dst;
		unsigned kind;
		int off = 0;
		char want[256];
		if (sscanf(l, "L %lx %lx %u %255s", &src, &dst, &kind, want) == 4) {
			const struct t_edge *e = find_edge(&d, t_find(&d, src), dst, kind);
			cr_expect(e, "no %s edge for: %s", hs_edge_kind_name(kind), l);
			if (e)
				cr_expect(label_is(&d, e, want), "label %s for: %s",
				          e->kind == HS_E_INDEX ? "(index)" : t_str(&d, e->label), l);
		} else if (l[0] == 'v') {
			check_value(&d, l);
		} else if (sscanf(l, "G %u", &kind) == 1) {
			cr_expect_eq(t_meta_uint(&d, "gc.threshold0"), kind);
		} else if (sscanf(l, "N %lx %n", &src, &off) == 1) {
			struct t_obj *o = t_find(&d, src);
			cr_expect(o && (o->flags & HS_OF_HAS_NAME) &&
			          strcmp(t_str(&d, o->name), l + off) == 0,
			          "name '%s' for: %s", o ? t_str(&d, o->name) : "?", l);
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
	/* metadata */
	const char *argv = t_meta_str(&d, "argv");
	cr_expect(argv && strstr(argv, "heap.py") && argv[0] == '[', "argv %s", argv);
	cr_expect(t_meta_str(&d, "python.version") &&
	          strncmp(t_meta_str(&d, "python.version"), "3.", 2) == 0);
	cr_expect(t_meta_str(&d, "host") && t_meta_str(&d, "python.build"));
	cr_expect_str_eq(t_meta_str(&d, "dumper.version"), "0.1.0");
	cr_expect_str_eq(t_meta_str(&d, "dumper.values"), "preview");
	cr_expect_str_eq(t_meta_str(&d, "trigger"), "api");
	cr_expect_gt(t_meta_uint(&d, "pid"), 1);
	cr_expect_gt(t_meta_uint(&d, "rss"), 1 << 20);
	cr_expect_eq(t_meta_uint(&d, "tracemalloc.tracing"), 0);
	cr_expect_eq(t_meta_uint(&d, "dump.objects"), d.nobjs);

	/* every type is written as an object; static ones are roots */
	size_t badtypes = 0;
	for (size_t i = 0; i < d.ntypes; i++) {
		struct t_obj *o = t_find(&d, d.types[i].addr);
		int ok = o && (o->flags & HS_OF_IS_TYPE) &&
		         (!(o->flags & HS_OF_STATIC) ||
		          find_root(&d, o->addr, HS_R_STATIC));
		if (!ok && badtypes++ < 10)
			cr_log_error("type %s not written as a type object",
			             t_str(&d, d.types[i].name));
	}
	cr_expect_eq(badtypes, 0);
	view_free(&v);
	t_free(&d);
	t_rmdir(dir);
}

/* ---- tracemalloc ----------------------------------------------------- */

/* "file:line file:line ..." of a dump traceback, most recent first. */
static void tb_text(const struct t_dump *d, uint64_t id, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	if (id == 0 || id > d->ntbs)
		return;
	for (uint64_t i = 0; i < d->tbs[id - 1].n; i++) {
		uint64_t fid = d->tbframes[d->tbs[id - 1].first + i];
		const hs_frame *f = &d->frames[fid - 1];
		n += (size_t)snprintf(out + n, cap - n, "%s%s:%llu", i ? " " : "",
		                      t_str(d, f->filename), (unsigned long long)f->lineno);
		if (n >= cap)
			return;
	}
}

Test(dumper, tracemalloc_tracebacks_and_sites)
{
	char *dir = t_mkdir();
	char dump[512], viewp[512];
	snprintf(dump, sizeof(dump), "%s/tm.hsnap", dir);
	snprintf(viewp, sizeof(viewp), "%s/tm.view", dir);
	cr_assert_eq(t_python(dir, "tm.py", dump, viewp, NULL), 0);
	struct t_dump d;
	load_dump(&d, dir, "tm.hsnap");
	cr_expect_eq(t_meta_uint(&d, "tracemalloc.tracing"), 1);
	cr_expect_eq(t_meta_uint(&d, "tracemalloc.frames"), 10);
	cr_expect_null(t_meta_str(&d, "tracemalloc.error"), "%s",
	               t_meta_str(&d, "tracemalloc.error"));
	char *text = t_slurp(viewp, NULL);
	cr_assert(text);
	size_t checked = 0, bad = 0, sites = 0;
	char *save = NULL;
	static char got[1 << 16];
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		unsigned long id, n;
		int off = 0;
		unsigned long long cnt, bytes, before, after, peak;
		if (sscanf(l, "t %lx %lu %n", &id, &n, &off) == 2) {
			struct t_obj *o = t_find(&d, id);
			checked++;
			tb_text(&d, o ? o->trace : 0, got, sizeof(got));
			if (strcmp(got, l + off) != 0 && bad++ < 5)
				cr_log_error("traceback of 0x%lx: dump '%s', tracemalloc '%s'",
				             id, got, l + off);
		} else if (sscanf(l, "s %llu %llu %n", &cnt, &bytes, &off) == 2) {
			/* the same traceback in the dump, summed over domains */
			unsigned long long dc = 0, db = 0;
			for (size_t i = 0; i < d.nsites; i++) {
				tb_text(&d, d.sites[i].traceback, got, sizeof(got));
				if (strcmp(got, l + off) == 0) {
					dc += d.sites[i].count;
					db += d.sites[i].bytes;
				}
			}
			sites++;
			cr_expect_eq(dc, cnt, "site %s: dump %llu blocks, tracemalloc %llu",
			             l + off, dc, cnt);
			cr_expect_eq(db, bytes, "site %s: dump %llu bytes, tracemalloc %llu",
			             l + off, db, bytes);
		} else if (strncmp(l, "call ", 5) == 0) {
			/* the dump holds nothing allocated by the dump call */
			size_t from_call = 0;
			for (size_t i = 0; i < d.nsites; i++) {
				tb_text(&d, d.sites[i].traceback, got, sizeof(got));
				from_call += strstr(got, l + 5) != NULL;
			}
			cr_expect_eq(from_call, 0, "%zu sites allocated at %s", from_call,
			             l + 5);
		} else if (sscanf(l, "mem %llu %llu %llu", &before, &after, &peak) == 3) {
			/* no Python object per heap object: the dump's traced
			 * allocations stay tiny next to the ~50,000 objects */
			cr_expect_lt(peak - before, 64 * 1024, "peak grew %llu bytes",
			             peak - before);
			cr_expect_lt(after > before ? after - before : 0, 16 * 1024);
		}
	}
	cr_expect_gt(checked, 5000, "only %zu tracebacks compared", checked);
	cr_expect_eq(bad, 0, "%zu of %zu tracebacks differ", bad, checked);
	cr_expect_eq(sites, 1, "the allocation site was not reported");
	uint64_t total = 0;
	for (size_t i = 0; i < d.nsites; i++)
		total += d.sites[i].bytes;
	cr_expect_gt(total, 1000000, "sites cover %llu bytes", (unsigned long long)total);
	free(text);
	t_free(&d);
	t_rmdir(dir);
}

/* ---- roots ----------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

Test(dumper, roots_threads_and_held_from_c)
{
	char *dir = t_mkdir();
	char dump[512], viewp[512];
	snprintf(dump, sizeof(dump), "%s/roots.hsnap", dir);
	snprintf(viewp, sizeof(viewp), "%s/roots.view", dir);
	cr_assert_eq(t_python(dir, "roots.py", dump, viewp, NULL), 0);
	struct t_dump d;
	load_dump(&d, dir, "roots.hsnap");
	char *text = t_slurp(viewp, NULL);
	cr_assert(text);
	unsigned long held = 0, local = 0, threading_mod = 0, nmods = 0, handler = 0;
	unsigned long long ident = 0, mainid = 0;
	unsigned line = 0, ax_k = 0, ax_n = 0, minor = 0;
	char tname[64] = "";
	for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
		sscanf(l, "held %lx", &held);
		sscanf(l, "thread %llu %63s %u", &ident, tname, &line);
		sscanf(l, "local %lx", &local);
		sscanf(l, "main %llu", &mainid);
		sscanf(l, "modules %lu %lx", &nmods, &threading_mod);
		sscanf(l, "atexit %u %u", &ax_k, &ax_n);
		sscanf(l, "signal %lx %u", &handler, &minor);
	}
	free(text);
	cr_assert(held && local && ident && mainid && line && ax_k && handler && minor);
	char want[64];

	/* the interpreter's tables, and each module by its sys.modules key */
	unsigned long tables = 0, named = 0;
	int builtins = 0, sysdict = 0, threading_ok = 0;
	for (size_t i = 0; i < d.nroots; i++) {
		const hs_root *rt = &d.roots[i];
		if (rt->kind == HS_R_MODULES && !rt->name)
			tables++;
		if (rt->kind == HS_R_MODULES && rt->name) {
			named++;
			if (!strcmp(t_str(&d, rt->name), "threading"))
				threading_ok = rt->addr == threading_mod && t_find(&d, rt->addr);
		}
		builtins += rt->kind == HS_R_BUILTINS;
		sysdict += rt->kind == HS_R_SYSDICT;
	}
	cr_expect(tables == 1 && builtins == 1 && sysdict == 1);
	cr_expect_eq(named, nmods, "%lu named module roots for %lu modules", named, nmods);
	cr_expect(threading_ok, "no module root 'threading' at the module's address");

	/* atexit's list is C memory: the method is held from C, surplus 1,
	 * and the root names the holder */
	const hs_root *r = find_root(&d, held, HS_R_HELD_FROM_C);
	cr_expect(r, "the atexit-held method is not a held-from-C root");
	if (r) {
		cr_expect_eq(r->extra, 1);
		snprintf(want, sizeof(want), "registered with atexit (callback %u of %u)", ax_k, ax_n);
		cr_expect_str_eq(r->name ? t_str(&d, r->name) : "", want);
	}
	/* 3.12 keeps signal handlers in _PyRuntime, where the dumper reads
	 * them; 3.11 in signalmodule.c's static array (anonymous there) */
	r = find_root(&d, handler, HS_R_HELD_FROM_C);
	cr_expect(r, "the SIGUSR2 handler is not a held-from-C root");
	if (r && minor >= 12)
		cr_expect_str_eq(r->name ? t_str(&d, r->name) : "", "registered as the handler of SIGUSR2");
	/* 3.11 and 3.12: the worker's thread state holds a weak reference
	 * to its shutdown lock, and says so */
	if (minor < 13) {
		char lock[96];
		int named_lock = 0;
		snprintf(lock, sizeof(lock), "(threading's shutdown lock, thread %llu)", ident);
		for (size_t i = 0; i < d.nroots; i++)
			named_lock |= d.roots[i].kind == HS_R_HELD_FROM_C && d.roots[i].name &&
			              strstr(t_str(&d, d.roots[i].name), lock) != NULL;
		cr_expect(named_lock, "no held-from-C root named '%s'", lock);
	}
	/* a module's __dict__ is reached from its module root: never a
	 * held-from-C root of its own */
	unsigned long dicts = 0;
	for (size_t i = 0; i < d.nroots; i++) {
		struct t_obj *mod = d.roots[i].kind == HS_R_MODULES && d.roots[i].name
		                    ? t_find(&d, d.roots[i].addr) : NULL;
		for (size_t j = 0; mod && j < mod->nedges; j++) {
			const struct t_edge *e = &d.edges[mod->edge0 + j];
			if (e->kind != HS_E_DICT_ATTR)
				continue;
			dicts++;
			cr_expect_null(find_root(&d, e->dst, HS_R_HELD_FROM_C),
			               "module %s's __dict__ is a held-from-C root",
			               t_str(&d, d.roots[i].name));
		}
	}
	cr_expect_gt(dicts, 10);
	struct t_obj *m = t_find(&d, held);
	cr_assert(m);
	cr_expect_str_eq(t_type_name(&d, m), "method");
	int self_ok = 0;
	for (size_t i = 0; i < m->nedges; i++) {
		const struct t_edge *e = &d.edges[m->edge0 + i];
		struct t_obj *o = t_find(&d, e->dst);
		self_ok |= e->kind == HS_E_SELF && o &&
		           strcmp(t_type_name(&d, o), "roots_run.Held") == 0;
	}
	cr_expect(self_ok, "the method's __self__ is not the Held instance");

	/* threads: names, flags, and the worker's frames as roots */
	const hs_thread *worker = NULL, *mainth = NULL;
	for (size_t i = 0; i < d.nthreads; i++) {
		if (d.threads[i].ident == ident)
			worker = &d.threads[i];
		if (d.threads[i].ident == mainid)
			mainth = &d.threads[i];
	}
	cr_assert(worker && mainth, "threads missing");
	cr_expect_str_eq(t_str(&d, worker->name), tname);
	cr_expect_str_eq(t_str(&d, mainth->name), "MainThread");
	cr_expect_eq(mainth->flags, 3);
	cr_expect_eq(worker->flags, 0);
	cr_expect(t_find(&d, worker->frame), "innermost frame not in the dump");
	snprintf(want, sizeof(want), "roots.py:%u", line);
	const hs_root *fr = NULL;
	for (size_t i = 0; i < d.nroots; i++) {
		const hs_root *x = &d.roots[i];
		const char *name = t_str(&d, x->name);
		if (x->kind == HS_R_THREAD_FRAME && x->extra == ident &&
		    strncmp(name, "blocked_worker ", 15) == 0 && ends_with(name, want))
			fr = x;
	}
	cr_assert(fr, "no frame root for blocked_worker at %s", want);
	const struct t_edge *e = find_edge(&d, t_find(&d, fr->addr), local, HS_E_LOCAL);
	cr_expect(e && label_is(&d, e, "worker_local"),
	          "the frame has no local 'worker_local'");
	t_free(&d);
	t_rmdir(dir);
}

/* ---- asyncio --------------------------------------------------------- */

Test(dumper, asyncio_tasks_blocked_on_one_event)
{
	char *dir = t_mkdir();
	char dump[512], viewp[512];
	snprintf(dump, sizeof(dump), "%s/aio.hsnap", dir);
	snprintf(viewp, sizeof(viewp), "%s/aio.view", dir);
	cr_assert_eq(t_python(dir, "aio.py", dump, viewp, NULL), 0);
	struct t_dump d;
	load_dump(&d, dir, "aio.hsnap");
	cr_expect_null(t_meta_str(&d, "asyncio.error"));
	char *text = t_slurp(viewp, NULL);
	cr_assert(text);
	char coro[128] = "", inner[128] = "", file[512] = "";
	unsigned coro_line = 0, inner_line = 0;
	size_t ntasks = 0, checked = 0;
	uint64_t *ids = calloc(2000, sizeof(*ids));
	char (*names)[16] = calloc(2000, sizeof(*names));
	for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
		unsigned long id;
		if (sscanf(l, "task %lx %15s", &id, names[ntasks]) == 2 && ntasks < 2000)
			ids[ntasks++] = id;
		sscanf(l, "coro %127s %u", coro, &coro_line);
		sscanf(l, "await %127s %511s %u", inner, file, &inner_line);
	}
	free(text);
	cr_assert_eq(ntasks, 1000);
	cr_assert(coro_line && inner_line);
	for (size_t i = 0; i < ntasks; i++) {
		const hs_task *t = NULL;
		for (size_t k = 0; k < d.ntasks && !t; k++)
			if (d.tasks[k].addr == ids[i])
				t = &d.tasks[k];
		cr_assert(t, "task %s not in the dump", names[i]);
		cr_expect_eq(t->state, HS_T_PENDING);
		cr_expect_str_eq(t_str(&d, t->name), names[i]);
		cr_expect(find_root(&d, ids[i], HS_R_ASYNC_TASK), "task %s is not a root",
		          names[i]);
		/* worker -> Event.wait -> the future it waits on */
		cr_assert_eq(t->n, 3, "task %s: await chain of %llu", names[i],
		             (unsigned long long)t->n);
		cr_expect_eq(t->chain[0].addr, t->coro);
		cr_expect_str_eq(t_str(&d, t->chain[0].name), coro);
		cr_expect_eq(t->chain[0].line, coro_line);
		cr_expect_str_eq(t_str(&d, t->chain[1].name), inner);
		cr_expect_str_eq(t_str(&d, t->chain[1].file), file);
		cr_expect_eq(t->chain[1].line, inner_line);
		cr_expect_eq(t->chain[2].addr, t->awaited);
		/* a future is not suspended anywhere */
		cr_expect_eq(t->chain[2].file, 0);
		cr_expect_eq(t->chain[2].line, 0);
		struct t_obj *fut = t_find(&d, t->awaited);
		cr_expect(fut && strcmp(t_type_name(&d, fut), "_asyncio.Future") == 0,
		          "task %s awaits %s", names[i], fut ? t_type_name(&d, fut) : "?");
		checked++;
	}
	cr_expect_eq(checked, 1000);
	free(ids);
	free(names);
	t_free(&d);
	t_rmdir(dir);
}

/* ---- values="none" ---------------------------------------------------- */

#define SECRET "hunter2-S3CRET-XYZZY"

/* Occurrences of SECRET in the decompressed payloads of every section. */
static size_t secret_in_sections(const char *path)
{
	size_t len, found = 0;
	char *f = t_slurp(path, &len);
	cr_assert(f && len > HS_HEADER_SIZE + HS_TRAILER_SIZE);
	uint32_t hlen;
	memcpy(&hlen, f + 16, 4);
	size_t off = hlen, sections = 0;
	while (off + HS_SECTION_HEADER_SIZE <= len - HS_TRAILER_SIZE) {
		uint64_t comp, raw;
		memcpy(&comp, f + off + 16, 8);
		memcpy(&raw, f + off + 24, 8);
		cr_assert_leq(off + HS_SECTION_HEADER_SIZE + comp, len);
		char *out = malloc(raw + 1);
		size_t n = ZSTD_decompress(out, raw + 1, f + off + HS_SECTION_HEADER_SIZE, comp);
		cr_assert(!ZSTD_isError(n) && n == raw, "section at %zu", off);
		for (char *p = out; (p = memmem(p, out + n - p, SECRET, strlen(SECRET))); p++)
			found++;
		free(out);
		sections++;
		off += HS_SECTION_HEADER_SIZE + comp;
	}
	cr_assert_eq(off, len - HS_TRAILER_SIZE);
	cr_assert_gt(sections, 3);
	free(f);
	return found;
}

/* Occurrences of SECRET anywhere in a file's bytes. */
static size_t secret_in_file(const char *path)
{
	size_t len, found = 0;
	char *f = t_slurp(path, &len);
	cr_assert(f, "no file '%s'", path);
	for (char *p = f; (p = memmem(p, f + len - p, SECRET, strlen(SECRET))); p++)
		found++;
	free(f);
	return found;
}

#ifdef HS_TEST_HEAPSNAP
/* Loads dir/NAME.hsnap into dir/NAME.db with 'heapsnap load'; returns the
 * occurrences of SECRET in the database file. */
static size_t secret_in_db(const char *dir, const char *name)
{
	char dump[512], db[512], log[512];
	snprintf(dump, sizeof(dump), "%s/%s.hsnap", dir, name);
	snprintf(db, sizeof(db), "%s/%s.db", dir, name);
	snprintf(log, sizeof(log), "%s/%s.load.log", dir, name);
	char *argv[] = { HS_TEST_HEAPSNAP, "load", dump, "-o", db, NULL };
	int status;
	pid_t pid = t_spawn(log, argv, NULL, NULL);
	cr_assert(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	          WEXITSTATUS(status) == 0, "heapsnap load '%s' failed", dump);
	return secret_in_file(db);
}
#endif

Test(dumper, values_none_keeps_no_contents)
{
	char *dir = t_mkdir();
	char none[512], preview[512];
	snprintf(none, sizeof(none), "%s/none.hsnap", dir);
	snprintf(preview, sizeof(preview), "%s/preview.hsnap", dir);
	cr_assert_eq(t_python(dir, "none.py", none, preview, NULL), 0);
	/* the same heap with previews shows the secret: the check can fail */
	cr_expect_geq(secret_in_sections(preview), 3);
	cr_expect_eq(secret_in_sections(none), 0);
#ifdef HS_TEST_HEAPSNAP
	cr_expect_gt(secret_in_db(dir, "preview"), 0);
	cr_expect_eq(secret_in_db(dir, "none"), 0);
#endif
	struct t_dump d;
	load_dump(&d, dir, "none.hsnap");
	cr_expect_str_eq(t_meta_str(&d, "dumper.values"), "none");
	size_t values = 0;
	for (size_t i = 0; i < d.nobjs; i++)
		values += (d.objs[i].flags & HS_OF_HAS_VALUE) != 0;
	cr_expect_eq(values, 0, "%zu objects have a value", values);

	/* names of code stay: classes, functions, code, modules, identifier
	 * attributes, and the names Python gives threads and tasks */
	size_t holders = 0, attr = 0, unnamed_attr = 0, code = 0;
	for (size_t i = 0; i < d.nobjs; i++) {
		const struct t_obj *o = &d.objs[i];
		if (strcmp(t_type_name(&d, o), "__main__.Holder"))
			continue;
		holders++;
		for (size_t k = 0; k < o->nedges; k++) {
			const struct t_edge *e = &d.edges[o->edge0 + k];
			attr += e->kind == HS_E_ATTR && label_is(&d, e, "attr");
			unnamed_attr += e->kind == HS_E_ATTR && e->label == 0;
		}
	}
	for (size_t i = 0; i < d.nobjs; i++) {
		const char *name = d.objs[i].flags & HS_OF_HAS_NAME ? t_str(&d, d.objs[i].name) : "";
		code += !strncmp(name, "pending_request ", 16) && ends_with(name, "none.py:22");
	}
	cr_expect_eq(holders, 1);
	cr_expect_eq(attr, 1, "the attribute 'attr' lost its name");
	cr_expect_eq(unnamed_attr, 1, "the attribute named by data kept its name");
	cr_expect_eq(code, 1, "no code object 'pending_request none.py:22'");
	size_t main_root = 0;
	for (size_t i = 0; i < d.nroots; i++)
		main_root += d.roots[i].kind == HS_R_MODULES &&
		             !strcmp(t_str(&d, d.roots[i].name), "__main__");
	cr_expect_eq(main_root, 1, "no root for module __main__");
	cr_assert_eq(d.nthreads, 2);
	for (size_t i = 0; i < d.nthreads; i++)
		cr_expect_str_eq(t_str(&d, d.threads[i].name),
		                 d.threads[i].flags & 1 ? "MainThread" : "");
	size_t main_task = 0, request = 0;
	for (size_t i = 0; i < d.ntasks; i++) {
		const hs_task *t = &d.tasks[i];
		main_task += !strcmp(t_str(&d, t->name), "Task-1");
		request += t->name == 0 && t->n > 0 &&
		           !strcmp(t_str(&d, t->chain[0].name), "pending_request");
	}
	cr_expect_eq(main_task, 1, "asyncio.run's task is not 'Task-1'");
	cr_expect_eq(request, 1, "the request task is not there, or named");
	t_free(&d);
	t_rmdir(dir);
}

/* ---- files ------------------------------------------------------------ */

Test(dumper, failed_dump_raises_and_leaves_nothing)
{
	char *dir = t_mkdir();
	cr_expect_eq(t_python(dir, "fail.py", dir, NULL), 0);
	t_rmdir(dir);
}

/* Creates dir/name (empty, 0600); returns its descriptor. */
static int touch(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert(fd >= 0, "cannot create '%s': %s", path, strerror(errno));
	return fd;
}

static int exists(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

Test(dumper, dump_removes_temp_files_of_dead_processes)
{
	char *dir = t_mkdir();
	/* a pid that was just reaped: no process has it */
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	cr_assert(dead > 0 && waitpid(dead, NULL, 0) == dead);
	cr_assert(kill(dead, 0) < 0 && errno == ESRCH);
	char gone[64], live[64], locked[64], other[3][64];
	snprintf(gone, sizeof(gone), ".svc-1.hsnap.tmp.%ld", (long)dead);
	snprintf(live, sizeof(live), ".svc-2.hsnap.tmp.%ld", (long)getpid());
	/* a writer whose pid we cannot see (another pid namespace) */
	snprintf(locked, sizeof(locked), ".svc-3.hsnap.tmp.%ld", (long)dead + 1000000);
	snprintf(other[0], sizeof(other[0]), ".notes.txt.tmp.%ld", (long)dead);
	snprintf(other[1], sizeof(other[1]), "svc-4.hsnap.tmp.%ld", (long)dead);
	snprintf(other[2], sizeof(other[2]), ".svc-5.hsnap.tmp.%ldx", (long)dead);
	close(touch(dir, gone));
	close(touch(dir, live));
	int lfd = touch(dir, locked);
	cr_assert_eq(flock(lfd, LOCK_EX | LOCK_NB), 0);
	for (int i = 0; i < 3; i++)
		close(touch(dir, other[i]));
	char dump[512];
	snprintf(dump, sizeof(dump), "%s/new.hsnap", dir);
	cr_assert_eq(t_python(dir, "leftovers.py", dump, NULL), 0);
	close(lfd);
	cr_expect(!exists(dir, gone), "'%s' of a dead process stayed", gone);
	cr_expect(exists(dir, live), "'%s' of a live process was removed", live);
	cr_expect(exists(dir, locked), "'%s', locked by its writer, was removed", locked);
	for (int i = 0; i < 3; i++)
		cr_expect(exists(dir, other[i]), "'%s' is no dump's and was removed", other[i]);
	cr_expect(exists(dir, "new.hsnap"));
	t_rmdir(dir);
}

/* ---- long chains ------------------------------------------------------ */

Test(dumper, million_long_chains, .timeout = 60)
{
	char *dir = t_mkdir();
	char dump[512], viewp[512];
	snprintf(dump, sizeof(dump), "%s/deep.hsnap", dir);
	snprintf(viewp, sizeof(viewp), "%s/deep.view", dir);
	cr_assert_eq(t_python(dir, "deep.py", dump, viewp, NULL), 0);
	struct t_dump d;
	load_dump(&d, dir, "deep.hsnap");
	char *text = t_slurp(viewp, NULL);
	unsigned long node = 0, tuple = 0;
	cr_assert(text && sscanf(text, "heads %lx %lx", &node, &tuple) == 2);
	free(text);
	/* follow both chains to their ends through the dump */
	size_t nodes = 0, tuples = 0;
	for (struct t_obj *o = t_find(&d, node); o; nodes++) {
		const struct t_edge *next = NULL;
		for (size_t i = 0; i < o->nedges && !next; i++) {
			const struct t_edge *e = &d.edges[o->edge0 + i];
			if (e->kind == HS_E_ATTR && strcmp(t_str(&d, e->label), "next") == 0)
				next = e;
		}
		struct t_obj *n = next ? t_find(&d, next->dst) : NULL;
		o = n && strcmp(t_type_name(&d, n), "__main__.Node") == 0 ? n : NULL;
	}
	for (struct t_obj *o = t_find(&d, tuple); o; tuples++) {
		cr_assert(!(o->flags & HS_OF_GC_TRACKED));
		const struct t_edge *next = NULL;
		for (size_t i = 0; i < o->nedges && !next; i++) {
			const struct t_edge *e = &d.edges[o->edge0 + i];
			if (e->kind == HS_E_INDEX && e->label == 1)
				next = e;
		}
		struct t_obj *n = next ? t_find(&d, next->dst) : NULL;
		o = n && strcmp(t_type_name(&d, n), "tuple") == 0 ? n : NULL;
	}
	cr_expect_eq(nodes, 1000000);
	cr_expect_eq(tuples, 1000000);
	t_free(&d);
	t_rmdir(dir);
}

/* ---- unusual heaps ---------------------------------------------------- */

Test(dumper, unusual_heaps_and_busy_threads)
{
	char *dir = t_mkdir();
	cr_assert_eq(t_python(dir, "zoo.py", dir, NULL), 0);
	char viewp[512];
	snprintf(viewp, sizeof(viewp), "%s/zoo.view", dir);
	char *text = t_slurp(viewp, NULL);
	cr_assert(text);
	int dumps = 0;
	uint64_t ids[128];
	char names[128][64];
	size_t n = 0;
	for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
		unsigned long id;
		if (n < 128 && sscanf(l, "o %lx %63s", &id, names[n]) == 2)
			ids[n++] = id;
		sscanf(l, "dumps %d", &dumps);
	}
	free(text);
	cr_assert_eq(dumps, 5);
	cr_assert_gt(n, 40);
	for (int k = 0; k < dumps; k++) {
		char name[64];
		snprintf(name, sizeof(name), "zoo-%d.hsnap", k);
		struct t_dump d;
		load_dump(&d, dir, name);
		for (size_t i = 0; i < n; i++)
			cr_expect(t_find(&d, ids[i]), "%s: no %s", name, names[i]);
		t_free(&d);
	}
	t_rmdir(dir);
}

/* ---- odd C types ------------------------------------------------------ */

static size_t edges_to(const struct t_dump *d, const struct t_obj *o,
                       uint64_t dst)
{
	size_t n = 0;
	for (size_t i = 0; o && i < o->nedges; i++)
		n += d->edges[o->edge0 + i].dst == dst;
	return n;
}

Test(dumper, odd_traverse_and_c_held_references)
{
	char *dir = t_mkdir();
	char dump[512], viewp[512];
	snprintf(dump, sizeof(dump), "%s/odd.hsnap", dir);
	snprintf(viewp, sizeof(viewp), "%s/odd.view", dir);
	cr_assert_eq(t_python(dir, "odd.py", dump, viewp, NULL), 0);
	struct t_dump d;
	load_dump(&d, dir, "odd.hsnap");
	char *text = t_slurp(viewp, NULL);
	unsigned long s = 0, a = 0, b = 0, h = 0, ha = 0, n = 0, na = 0;
	cr_assert(text);
	for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
		sscanf(l, "stopper %lx %lx %lx", &s, &a, &b);
		sscanf(l, "hidden %lx %lx", &h, &ha);
		sscanf(l, "notrav %lx %lx", &n, &na);
	}
	free(text);
	cr_assert(s && a && b && h && ha && n && na);
	/* exactly what the traverse visited: a twice, b never */
	struct t_obj *o = t_find(&d, s);
	cr_assert(o);
	cr_expect_str_eq(t_type_name(&d, o), "oddext.Stopper");
	cr_expect_eq(o->nedges, 2);
	cr_expect_eq(edges_to(&d, o, a), 2);
	cr_expect(!find_root(&d, a, HS_R_HELD_FROM_C), "a is over-counted, not held");
	/* b, the non-GC object's field and the traverse-less object's field
	 * are held by references the heap does not show */
	const uint64_t held[] = { b, ha, na };
	for (size_t i = 0; i < 3; i++) {
		cr_expect(t_find(&d, held[i]), "object %zu missing", i);
		const hs_root *r = find_root(&d, held[i], HS_R_HELD_FROM_C);
		cr_expect(r && r->extra == 1, "object %zu is not held from C", i);
	}
	cr_expect(t_find(&d, h) && !(t_find(&d, h)->flags & HS_OF_GC_TRACKED));
	cr_expect(t_find(&d, n) && t_find(&d, n)->nedges == 0);
	t_free(&d);
	t_rmdir(dir);
}
