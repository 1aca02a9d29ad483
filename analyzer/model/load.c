/* load.c - a dump into compact arrays: nodes in file order, references
 * resolved to nodes and grouped by source (CSR). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

/* A growable array of fixed-size elements. */
typedef struct vec {
	void *p;
	uint64_t n, cap;
} vec;

static void *vec_push(vec *v, size_t elem)
{
	if (v->n == v->cap) {
		/* Grow by half: the edge arrays dominate the load's peak memory. */
		uint64_t cap = v->cap ? v->cap + v->cap / 2 : 1024;
		void *p = realloc(v->p, cap * elem);
		if (!p)
			return NULL;
		v->p = p;
		v->cap = cap;
	}
	return (char *)v->p + v->n++ * elem;
}

typedef struct raw_root {
	uint64_t addr, name, extra;
	uint32_t kind;
} raw_root;

typedef struct named {
	uint64_t type, name;
} named;

/* A type record's id and name, a traceback record's id and innermost frame. */
typedef struct id_val {
	uint64_t id, val;
} id_val;

/* What the first pass collects before addresses can be resolved. */
typedef struct reading {
	hsa_heap *h;
	vec addr, type, size, trace; /* per object */
	vec rsrc, roff;              /* per refs record: source address, first edge */
	vec dst, kind, label;        /* per edge */
	vec roots, named, types, tracebacks;
} reading;

static int on_record(void *ctx, const hs_section *sec, const hs_record *rec)
{
	reading *rd = ctx;
	switch (rec->kind) {
	case HS_K_TYPES: {
		id_val *t = vec_push(&rd->types, sizeof(id_val));
		if (!t)
			return -1;
		*t = (id_val){rec->u.type.id, rec->u.type.name};
		break;
	}
	case HS_K_OBJECTS: {
		const hs_object *o = &rec->u.object;
		uint64_t *a = vec_push(&rd->addr, 8), *s = vec_push(&rd->size, 8);
		uint32_t *t = vec_push(&rd->type, 4), *tr = vec_push(&rd->trace, 4);
		if (!a || !s || !t || !tr)
			return -1;
		*a = o->addr;
		*s = o->size;
		*t = o->type <= UINT32_MAX ? (uint32_t)o->type : 0;
		*tr = (o->flags & HS_OF_HAS_TRACE) && o->trace <= UINT32_MAX ? (uint32_t)o->trace : 0;
		if (o->flags & HS_OF_HAS_NAME) {
			named *nm = vec_push(&rd->named, sizeof(named));
			if (!nm)
				return -1;
			nm->type = o->type;
			nm->name = o->name;
		}
		break;
	}
	case HS_K_REFS: {
		const hs_refs *r = &rec->u.refs;
		uint64_t *s = vec_push(&rd->rsrc, 8), *off = vec_push(&rd->roff, 8);
		if (!s || !off)
			return -1;
		*s = r->src;
		*off = rd->dst.n;
		for (uint64_t i = 0; i < r->n; i++) {
			uint64_t *d = vec_push(&rd->dst, 8);
			uint32_t *l = vec_push(&rd->label, 4);
			uint8_t *k = vec_push(&rd->kind, 1);
			if (!d || !l || !k)
				return -1;
			*d = r->edges[i].dst;
			*l = r->edges[i].label < UINT32_MAX ? (uint32_t)r->edges[i].label : UINT32_MAX;
			*k = r->edges[i].kind <= 255 ? (uint8_t)r->edges[i].kind : HS_E_OTHER;
		}
		break;
	}
	case HS_K_ROOTS: {
		raw_root *rr = vec_push(&rd->roots, sizeof(raw_root));
		if (!rr)
			return -1;
		rr->addr = rec->u.root.addr;
		rr->kind = rec->u.root.kind;
		rr->name = rec->u.root.name;
		rr->extra = rec->u.root.extra;
		break;
	}
	case HS_K_TRACEBACKS: {
		id_val *t = vec_push(&rd->tracebacks, sizeof(id_val));
		if (!t)
			return -1;
		*t = (id_val){rec->u.traceback.id,
		              rec->u.traceback.n ? rec->u.traceback.frames[0] : 0};
		break;
	}
	}
	return 0;
}

/* Types, tracebacks: an array indexed by the id each record carries, not
 * by its position (a damaged section loses records, and the ids of those
 * after it no longer match their positions); ids no record defines, and
 * slot 0, hold 0. Ids are dense from 1 in a dump, so one above bound (the
 * records read) is damage and dropped: the array stays within the input's
 * size. *max receives the largest id kept. */
static uint64_t *by_id(vec *v, uint64_t bound, uint64_t *max)
{
	const id_val *r = v->p;
	uint64_t top = 0;
	for (uint64_t i = 0; i < v->n; i++)
		if (r[i].id <= bound && r[i].id > top)
			top = r[i].id;
	uint64_t *p = calloc(top + 1, sizeof(uint64_t));
	for (uint64_t i = 0; p && i < v->n; i++)
		if (r[i].id && r[i].id <= top)
			p[r[i].id] = r[i].val;
	free(v->p);
	memset(v, 0, sizeof(*v));
	*max = top;
	return p;
}

static int is_module_type(const char *name)
{
	return !strcmp(name, "module") || !strcmp(name, "builtins.module");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Module names: module objects' names and the module-table roots' names. */
static int collect_modules(hsa_heap *h, const vec *named_objs)
{
	for (uint64_t t = 1; t <= h->ntypes; t++)
		if (is_module_type(hsa_heap_string(h, h->type_name[t])))
			h->module_type = t;
	uint64_t cap = h->nroots + named_objs->n;
	h->modnames = malloc((cap ? cap : 1) * sizeof(uint64_t));
	if (!h->modnames)
		return -1;
	for (uint64_t i = 0; i < h->nroots; i++)
		if (h->roots[i].kind == HS_R_MODULES && h->roots[i].name)
			h->modnames[h->nmodnames++] = h->roots[i].name;
	const named *nm = named_objs->p;
	for (uint64_t i = 0; i < named_objs->n; i++)
		if (h->module_type && nm[i].type == h->module_type)
			h->modnames[h->nmodnames++] = nm[i].name;
	if (h->nmodnames)
		qsort(h->modnames, h->nmodnames, sizeof(uint64_t), cmp_u64);
	uint64_t k = 0;
	for (uint64_t i = 0; i < h->nmodnames; i++)
		if (!k || h->modnames[k - 1] != h->modnames[i])
			h->modnames[k++] = h->modnames[i];
	h->nmodnames = k;
	return 0;
}

/* Resolves sources and targets, drops references to objects outside the
 * dump, and lays the references out grouped by source node. */
static int build_csr(hsa_heap *h, reading *rd)
{
	int rc = -1;
	uint64_t nrec = rd->rsrc.n, ne = rd->dst.n;
	hsa_node *src = malloc((nrec ? nrec : 1) * sizeof(hsa_node));
	hsa_node *dst = malloc((ne ? ne : 1) * sizeof(hsa_node));
	h->out_off = calloc(h->n + 2, sizeof(uint64_t));
	if (!src || !dst || !h->out_off)
		goto done;
	hsa_addrmap_get_many(&h->map, rd->rsrc.p, nrec, src);
	hsa_addrmap_get_many(&h->map, rd->dst.p, ne, dst);
	free(rd->dst.p);
	rd->dst.p = NULL;
	const uint64_t *roff = rd->roff.p;
	/* Count kept references per source; note whether the records are
	 * already in node order, as a dumper writing objects and their
	 * references together produces, so the copy can be skipped. */
	int sorted = 1;
	hsa_node prev = 0;
	for (uint64_t r = 0; r < nrec; r++) {
		uint64_t end = r + 1 < nrec ? roff[r + 1] : ne;
		if (src[r] == HSA_NONE) {
			h->dangling_refs += end - roff[r];
			continue;
		}
		if (r && src[r] <= prev)
			sorted = 0;
		prev = src[r];
		for (uint64_t i = roff[r]; i < end; i++) {
			if (dst[i] == HSA_NONE)
				h->dangling_refs++;
			else
				h->out_off[src[r] + 1]++;
		}
	}
	for (uint64_t v = 0; v < h->n; v++)
		h->out_off[v + 1] += h->out_off[v];
	h->m = h->out_off[h->n];
	uint8_t *kind = rd->kind.p;
	uint32_t *label = rd->label.p;
	/* In node order the references compact in place (the write position
	 * never passes the read position); otherwise they scatter into new
	 * arrays by source. */
	uint64_t *fill = NULL, o = 0;
	if (sorted) {
		h->out_dst = dst;
		h->kind = kind;
		h->label = label;
		dst = NULL;
		rd->kind.p = rd->label.p = NULL;
	} else {
		fill = malloc((h->n + 1) * sizeof(uint64_t));
		h->out_dst = malloc((h->m ? h->m : 1) * sizeof(hsa_node));
		h->kind = malloc(h->m ? h->m : 1);
		h->label = malloc((h->m ? h->m : 1) * sizeof(uint32_t));
		if (!fill || !h->out_dst || !h->kind || !h->label) {
			free(fill);
			goto done;
		}
		memcpy(fill, h->out_off, (h->n + 1) * sizeof(uint64_t));
	}
	const hsa_node *in = sorted ? h->out_dst : dst;
	for (uint64_t r = 0; r < nrec; r++) {
		uint64_t end = r + 1 < nrec ? roff[r + 1] : ne;
		if (src[r] == HSA_NONE)
			continue;
		for (uint64_t i = roff[r]; i < end; i++) {
			if (in[i] == HSA_NONE)
				continue;
			uint64_t at = fill ? fill[src[r]]++ : o++;
			h->out_dst[at] = in[i];
			h->kind[at] = kind[i];
			h->label[at] = label[i];
		}
	}
	free(fill);
	rc = 0;
done:
	free(src);
	free(dst);
	return rc;
}

int hsa_heap_read(hsa_heap *h, const char *path, char *err, size_t errlen)
{
	reading rd;
	memset(&rd, 0, sizeof(rd));
	memset(h, 0, sizeof(*h));
	rd.h = h;
	int rc = -1;
	hsa_progress prog;
	h->reader = hs_reader_open(path, err, errlen);
	if (!h->reader)
		return -1;
	hsa_progress_start(&prog, "reading dump", hs_reader_size(h->reader));
	int s = hsa_dump_scan(h->reader, &h->stats, on_record, &rd, &prog);
	hsa_progress_end(&prog);
	if (s)
		goto oom;
	h->n = rd.addr.n;
	if (h->n > HSA_MAX_NODES) {
		snprintf(err, errlen, "'%s': too many objects (%" PRIu64 ", at most %" PRIu64 ")",
		         path, h->n, HSA_MAX_NODES);
		goto done;
	}
	h->addr = rd.addr.p;
	h->type = rd.type.p;
	h->size = rd.size.p;
	h->trace = rd.trace.p;
	rd.addr.p = rd.type.p = rd.size.p = rd.trace.p = NULL;
	/* Type and traceback ids are 32-bit in the node arrays. */
	uint64_t records = 0;
	for (int k = 0; k <= HS_K_MAX_KNOWN; k++)
		records += h->stats.kind[k].records;
	if (records >= UINT32_MAX)
		records = UINT32_MAX - 1;
	h->type_name = by_id(&rd.types, records, &h->ntypes);
	h->tb_frame = by_id(&rd.tracebacks, records, &h->ntracebacks);
	if (!h->type_name || !h->tb_frame || hsa_addrmap_init(&h->map, h->n))
		goto oom;
	for (uint64_t v = 0; v < h->n; v++) {
		/* A type no record defines is unknown, never another's name. */
		int untyped = h->type[v] > h->ntypes || !h->type_name[h->type[v]];
		if (untyped)
			h->type[v] = 0;
		if (h->trace[v] > h->ntracebacks)
			h->trace[v] = 0;
		if (!h->addr[v] || hsa_addrmap_put(&h->map, h->addr[v], (hsa_node)v) != v) {
			h->addr[v] = 0;
			h->dup_objects++;
		} else {
			h->untyped += untyped;
		}
	}
	if (build_csr(h, &rd))
		goto oom;
	const raw_root *rr = rd.roots.p;
	h->roots = malloc((rd.roots.n ? rd.roots.n : 1) * sizeof(hsa_root_ref));
	if (!h->roots)
		goto oom;
	for (uint64_t i = 0; i < rd.roots.n; i++) {
		hsa_node v = hsa_addrmap_get(&h->map, rr[i].addr);
		if (v == HSA_NONE) {
			h->dangling_roots++;
			continue;
		}
		h->roots[h->nroots++] = (hsa_root_ref){v, rr[i].kind, rr[i].name, rr[i].extra};
	}
	if (collect_modules(h, &rd.named))
		goto oom;
	rc = 0;
	goto done;
oom:
	snprintf(err, errlen, "out of memory loading '%s'", path);
done:
	free(rd.addr.p);
	free(rd.type.p);
	free(rd.size.p);
	free(rd.trace.p);
	free(rd.rsrc.p);
	free(rd.roff.p);
	free(rd.dst.p);
	free(rd.kind.p);
	free(rd.label.p);
	free(rd.roots.p);
	free(rd.named.p);
	free(rd.types.p);
	free(rd.tracebacks.p);
	if (rc)
		hsa_heap_free(h);
	return rc;
}

void hsa_heap_drop_edges(hsa_heap *h)
{
	free(h->out_dst);
	free(h->kind);
	free(h->label);
	h->out_dst = NULL;
	h->kind = NULL;
	h->label = NULL;
}

void hsa_heap_free(hsa_heap *h)
{
	if (!h)
		return;
	hs_reader_free(h->reader);
	free(h->addr);
	free(h->type);
	free(h->size);
	free(h->trace);
	hsa_addrmap_free(&h->map);
	free(h->out_off);
	free(h->out_dst);
	free(h->kind);
	free(h->label);
	free(h->roots);
	free(h->type_name);
	free(h->tb_frame);
	free(h->modnames);
	memset(h, 0, sizeof(*h));
}

const char *hsa_heap_string(const hsa_heap *h, uint64_t id)
{
	const char *s = id ? hs_reader_string(h->reader, id, NULL) : NULL;
	return s ? s : "";
}

/* Whether the first len bytes of s are one of the sorted names. */
static int is_module(char *const *mods, uint64_t nmods, const char *s, size_t len)
{
	uint64_t lo = 0, hi = nmods;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int c = strncmp(mods[mid], s, len);
		if (!c && mods[mid][len])
			c = 1;
		if (!c)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

size_t hsa_module_prefix(const char *tname, char *const *mods, uint64_t nmods)
{
	/* The longest dotted prefix naming a module of the dump, else all
	 * before the last dot. */
	size_t last = 0;
	for (size_t len = strlen(tname); len-- > 0;) {
		if (tname[len] != '.')
			continue;
		if (!last)
			last = len;
		if (is_module(mods, nmods, tname, len))
			return len;
	}
	return last;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int hsa_type_modules(const hsa_heap *h, uint32_t **type_module, char ***names,
                     uint64_t *nnames)
{
	int rc = -1;
	uint64_t nm = h->nmodnames;
	char **mods = malloc((nm ? nm : 1) * sizeof(char *));
	char **out = calloc(h->ntypes + 2, sizeof(char *));
	uint32_t *tm = calloc(h->ntypes + 1, sizeof(uint32_t));
	uint64_t nout = 0;
	if (!mods || !out || !tm)
		goto done;
	for (uint64_t i = 0; i < nm; i++)
		mods[i] = (char *)hsa_heap_string(h, h->modnames[i]);
	if (nm)
		qsort(mods, nm, sizeof(char *), cmp_str);
	/* Few distinct modules: a linear search over the names so far is fine
	 * for the type counts of real heaps. */
	for (uint64_t t = 0; t <= h->ntypes; t++) {
		const char *tname = t ? hsa_heap_string(h, h->type_name[t]) : "";
		size_t len = hsa_module_prefix(tname, mods, nm);
		/* Objects of an unknown type have no module either. */
		const char *mod = len ? tname : *tname ? "builtins" : HSA_UNKNOWN_TYPE;
		if (!len)
			len = strlen(mod);
		uint64_t k = 0;
		while (k < nout && (strlen(out[k]) != len || memcmp(out[k], mod, len)))
			k++;
		if (k == nout && !(out[nout++] = strndup(mod, len)))
			goto done;
		tm[t] = (uint32_t)k;
	}
	rc = 0;
done:
	free(mods);
	if (rc) {
		for (uint64_t k = 0; k < nout; k++)
			free(out[k]);
		free(out);
		free(tm);
		return -1;
	}
	*type_module = tm;
	*names = out;
	*nnames = nout;
	return 0;
}
