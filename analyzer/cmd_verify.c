/* cmd_verify.c - 'heapsnap verify': checksums, completeness and every
 * cross-reference inside a dump. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "addrmap.h"
#include "util.h"
#include "dump.h"

typedef struct verify {
	hs_reader *defs;   /* the first pass's reader: its string table */
	uint64_t ntypes, nframes, ntracebacks;
	uint64_t *addrs;   /* object addresses in file order (first pass) */
	uint64_t naddrs, cap;
	hsa_addrmap map;
	uint64_t ordinal;  /* second pass: objects seen */
	char problem[512]; /* the first inconsistency */
} verify;

static int collect(void *ctx, const hs_section *sec, const hs_record *rec)
{
	verify *v = ctx;
	switch (rec->kind) {
	case HS_K_TYPES:
		v->ntypes++;
		break;
	case HS_K_FRAMES:
		v->nframes++;
		break;
	case HS_K_TRACEBACKS:
		v->ntracebacks++;
		break;
	case HS_K_OBJECTS:
		if (v->naddrs == v->cap) {
			uint64_t cap = v->cap ? v->cap * 2 : 4096;
			uint64_t *p = realloc(v->addrs, cap * sizeof(uint64_t));
			if (!p)
				return -1;
			v->addrs = p;
			v->cap = cap;
		}
		v->addrs[v->naddrs++] = rec->u.object.addr;
		break;
	}
	return 0;
}

/* Records the first inconsistency; returns 1 to stop the scan. */
__attribute__((format(printf, 3, 4))) static int bad(verify *v, const hs_section *sec,
                                                     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(v->problem, sizeof(v->problem), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(v->problem))
		snprintf(v->problem + n, sizeof(v->problem) - (size_t)n, " at offset %" PRIu64,
		         sec->offset);
	return 1;
}

static int has_string(const verify *v, uint64_t id)
{
	return hs_reader_string(v->defs, id, NULL) != NULL;
}

static int is_object(const verify *v, uint64_t addr)
{
	return hsa_addrmap_get(&v->map, addr) != HSA_NONE;
}

static int string_label(unsigned kind)
{
	return kind == HS_E_DICT_KEY || kind == HS_E_DICT_VALUE || kind == HS_E_ATTR ||
	       kind == HS_E_LOCAL || kind == HS_E_CELL || kind == HS_E_NAMED;
}

static int check(void *ctx, const hs_section *sec, const hs_record *rec)
{
	verify *v = ctx;
	switch (rec->kind) {
	case HS_K_TYPES:
		if (rec->u.type.name && !has_string(v, rec->u.type.name))
			return bad(v, sec, "type %" PRIu64 " names unknown string %" PRIu64,
			           rec->u.type.id, rec->u.type.name);
		break;
	case HS_K_OBJECTS: {
		const hs_object *o = &rec->u.object;
		if (!o->addr)
			return bad(v, sec, "object at address 0");
		if (hsa_addrmap_get(&v->map, o->addr) != v->ordinal++)
			return bad(v, sec, "duplicate object 0x%" PRIx64, o->addr);
		if (o->type < 1 || o->type > v->ntypes)
			return bad(v, sec, "object 0x%" PRIx64 " has unknown type id %" PRIu64, o->addr,
			           o->type);
		if ((o->flags & HS_OF_HAS_NAME) && !has_string(v, o->name))
			return bad(v, sec, "object 0x%" PRIx64 " names unknown string %" PRIu64, o->addr,
			           o->name);
		if ((o->flags & HS_OF_HAS_TRACE) && (o->trace < 1 || o->trace > v->ntracebacks))
			return bad(v, sec, "object 0x%" PRIx64 " has unknown traceback id %" PRIu64,
			           o->addr, o->trace);
		break;
	}
	case HS_K_REFS: {
		const hs_refs *rf = &rec->u.refs;
		if (!is_object(v, rf->src))
			return bad(v, sec, "references from 0x%" PRIx64 ", which is not an object in the dump",
			           rf->src);
		for (uint64_t i = 0; i < rf->n; i++) {
			const hs_edge *e = &rf->edges[i];
			if (!is_object(v, e->dst))
				return bad(v, sec,
				           "reference target 0x%" PRIx64 " of 0x%" PRIx64
				           " is not an object in the dump",
				           e->dst, rf->src);
			if (string_label(e->kind) && e->label && !has_string(v, e->label))
				return bad(v, sec, "reference 0x%" PRIx64 " -> 0x%" PRIx64
				           " has unknown label string %" PRIu64,
				           rf->src, e->dst, e->label);
		}
		break;
	}
	case HS_K_ROOTS:
		if (!is_object(v, rec->u.root.addr))
			return bad(v, sec, "root 0x%" PRIx64 " is not an object in the dump",
			           rec->u.root.addr);
		if (rec->u.root.name && !has_string(v, rec->u.root.name))
			return bad(v, sec, "root 0x%" PRIx64 " names unknown string %" PRIu64,
			           rec->u.root.addr, rec->u.root.name);
		break;
	case HS_K_FRAMES:
		if (!has_string(v, rec->u.frame.filename))
			return bad(v, sec, "frame %" PRIu64 " names unknown file string %" PRIu64,
			           rec->u.frame.id, rec->u.frame.filename);
		break;
	case HS_K_TRACEBACKS:
		for (uint64_t i = 0; i < rec->u.traceback.n; i++) {
			uint64_t f = rec->u.traceback.frames[i];
			if (f < 1 || f > v->nframes)
				return bad(v, sec, "traceback %" PRIu64 " has unknown frame id %" PRIu64,
				           rec->u.traceback.id, f);
		}
		break;
	case HS_K_SITES:
		if (rec->u.site.traceback < 1 || rec->u.site.traceback > v->ntracebacks)
			return bad(v, sec, "allocation site has unknown traceback id %" PRIu64,
			           rec->u.site.traceback);
		break;
	case HS_K_THREADS:
		if (rec->u.thread.name && !has_string(v, rec->u.thread.name))
			return bad(v, sec, "thread %" PRIu64 " names unknown string %" PRIu64,
			           rec->u.thread.ident, rec->u.thread.name);
		if (rec->u.thread.frame && !is_object(v, rec->u.thread.frame))
			return bad(v, sec, "frame 0x%" PRIx64 " of thread %" PRIu64
			           " is not an object in the dump",
			           rec->u.thread.frame, rec->u.thread.ident);
		break;
	case HS_K_TASKS: {
		const hs_task *t = &rec->u.task;
		if (!is_object(v, t->addr))
			return bad(v, sec, "task 0x%" PRIx64 " is not an object in the dump", t->addr);
		if (t->name && !has_string(v, t->name))
			return bad(v, sec, "task 0x%" PRIx64 " names unknown string %" PRIu64, t->addr,
			           t->name);
		if (t->coro && !is_object(v, t->coro))
			return bad(v, sec, "coroutine 0x%" PRIx64 " of task 0x%" PRIx64
			           " is not an object in the dump",
			           t->coro, t->addr);
		if (t->awaited && !is_object(v, t->awaited))
			return bad(v, sec, "awaited object 0x%" PRIx64 " of task 0x%" PRIx64
			           " is not an object in the dump",
			           t->awaited, t->addr);
		for (uint64_t i = 0; i < t->n; i++) {
			const hs_await *w = &t->chain[i];
			if ((w->name && !has_string(v, w->name)) || (w->file && !has_string(v, w->file)))
				return bad(v, sec, "await chain of task 0x%" PRIx64 " names an unknown string",
				           t->addr);
		}
		break;
	}
	}
	return 0;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	verify v;
	memset(&v, 0, sizeof(v));
	hs_reader *r = NULL;
	hsa_file_stats st;
	hsa_progress prog;
	char err[512];
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	const char *path = a.pos[0];
	rc = HSA_EXIT_FAIL;
	v.defs = hs_reader_open(path, err, sizeof(err));
	if (!v.defs) {
		hsa_error("%s", err);
		goto done;
	}
	hsa_progress_start(&prog, "verifying (1/2)", hs_reader_size(v.defs));
	int s = hsa_dump_scan(v.defs, &st, collect, &v, &prog);
	hsa_progress_end(&prog);
	if (s) {
		hsa_error("out of memory verifying '%s'", path);
		goto done;
	}
	if (st.problems || !st.complete) {
		hsa_error("'%s': %s", path, st.problem[0] ? st.problem : "incomplete dump");
		goto done;
	}
	if (v.naddrs > HSA_MAX_NODES) {
		hsa_error("'%s': too many objects (%" PRIu64 ", at most %" PRIu64 ")", path, v.naddrs,
		          HSA_MAX_NODES);
		goto done;
	}
	if (hsa_addrmap_init(&v.map, v.naddrs)) {
		hsa_error("out of memory verifying '%s'", path);
		goto done;
	}
	for (uint64_t i = 0; i < v.naddrs; i++)
		if (v.addrs[i])
			hsa_addrmap_put(&v.map, v.addrs[i], (hsa_node)i);
	r = hs_reader_open(path, err, sizeof(err));
	if (!r) {
		hsa_error("%s", err);
		goto done;
	}
	hsa_progress_start(&prog, "verifying (2/2)", hs_reader_size(r));
	s = hsa_dump_scan(r, &st, check, &v, &prog);
	hsa_progress_end(&prog);
	if (s) {
		hsa_error("'%s': %s", path, v.problem);
		goto done;
	}
	printf("%s: ok, %" PRIu64 " objects, %" PRIu64 " references\n", path,
	       st.kind[HS_K_OBJECTS].records, st.edges);
	rc = 0;
done:
	hs_reader_free(r);
	hs_reader_free(v.defs);
	hsa_addrmap_free(&v.map);
	free(v.addrs);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

const hsa_cmd hsa_cmd_verify = {
	.name = "verify",
	.summary = "check that a dump is complete and consistent",
	.usage = "FILE",
	.details = "Decodes every record, checks every checksum and the trailer, and that every\n"
	           "string, type, frame and traceback id and every reference target and root\n"
	           "names something in the dump. Exits 0 only for a complete, consistent dump;\n"
	           "otherwise prints the first problem with its byte offset and exits 1.",
	.min_pos = 1,
	.max_pos = 1,
	.opts = NULL,
	.run = run,
};
