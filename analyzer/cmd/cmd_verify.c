/* cmd_verify.c - 'heapsnap verify': checksums, completeness and every
 * cross-reference inside a dump. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "addrmap.h"
#include "args.h"
#include "dump.h"

/* Damage the reader met: in a section (its place in the file's index when
 * the index tells, else its place in the walk) or in the file as a whole
 * (index -1: the whole-file checksum, a missing trailer). */
typedef struct damage {
	int64_t index;
	int kind; /* enum hs_kind, or -1 when unknown */
	uint64_t offset;
	char *problem;
} damage;

typedef struct verify {
	hs_reader *defs;   /* the first pass's reader: its string table */
	uint64_t ntypes, nframes, ntracebacks, nedges;
	uint64_t *addrs;   /* object addresses in file order (first pass) */
	uint64_t naddrs, cap;
	struct intact {
		hs_section sec;
		int64_t index; /* as for damage */
	} *secs;           /* intact sections, in file order */
	uint64_t nsecs, secs_cap;
	hs_index_entry *index; /* the file's index section */
	uint64_t nindex, index_cap;
	damage *dmg;
	uint64_t ndmg, dmg_cap;
	hsa_addrmap map;
	uint64_t ordinal;  /* second pass: objects seen */
	char problem[512]; /* the first inconsistency */
} verify;

/* Appends one element of size sz to a growable array; -1 on no memory. */
static int push(void **arr, uint64_t *n, uint64_t *cap, size_t sz, const void *elem)
{
	if (*n == *cap) {
		uint64_t c = *cap ? *cap * 2 : 64;
		void *p = realloc(*arr, c * sz);
		if (!p)
			return -1;
		*arr = p;
		*cap = c;
	}
	memcpy((char *)*arr + *n * sz, elem, sz);
	(*n)++;
	return 0;
}

static int collect(verify *v, const hs_record *rec)
{
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
		return push((void **)&v->addrs, &v->naddrs, &v->cap, sizeof(uint64_t),
		            &rec->u.object.addr);
	case HS_K_REFS:
		v->nedges += rec->u.refs.n;
		break;
	case HS_K_INDEX:
		return push((void **)&v->index, &v->nindex, &v->index_cap, sizeof(hs_index_entry),
		            &rec->u.index);
	}
	return 0;
}

static int add_damage(verify *v, int64_t index, int kind, uint64_t offset, const char *problem)
{
	damage d = {index, kind, offset, strdup(problem ? problem : "damaged")};
	if (!d.problem || push((void **)&v->dmg, &v->ndmg, &v->dmg_cap, sizeof(d), &d)) {
		free(d.problem);
		return -1;
	}
	return 0;
}

/* The place in the file's index of the section at offset, looked up from
 * entry *e on; dflt when the index does not list it. */
static int64_t listed(const verify *v, uint64_t offset, uint64_t *e, int64_t dflt)
{
	while (*e < v->nindex && v->index[*e].offset < offset)
		(*e)++;
	return *e < v->nindex && v->index[*e].offset == offset ? (int64_t)*e : dflt;
}

/* The first pass: every section in turn, recording the intact ones with
 * their records and the reader's problem at each damaged one, so that
 * damage is named by its section rather than by the whole-file checksum
 * the reader checks first. Returns 0, or -1 when out of memory. */
static int walk(verify *v, hs_reader *r, hsa_progress *prog)
{
	char file_problem[512] = "";
	hs_section sec;
	hs_record rec;
	int64_t ordinal = 0;
	/* At open, the reader has only checked the trailer's file checksum. */
	if (hs_reader_problems(r))
		snprintf(file_problem, sizeof(file_problem), "%s", hs_reader_error(r));
	for (;;) {
		uint64_t at = hs_reader_offset(r), seen = hs_reader_problems(r);
		int k = hs_reader_next_section(r, &sec);
		if (k == 0)
			break;
		if (k < 0) {
			int in_file = at >= hs_reader_size(r);
			if (add_damage(v, in_file ? -1 : ordinal++, -1, at, hs_reader_last_error(r)))
				return -1;
			continue;
		}
		hsa_progress_update(prog, sec.offset);
		/* The index section checks itself against the sections read: a
		 * mismatch after a damaged section only repeats that damage. */
		if (hs_reader_problems(r) > seen && !v->ndmg &&
		    add_damage(v, ordinal, (int)sec.kind, sec.offset, hs_reader_last_error(r)))
			return -1;
		struct intact in = {sec, ordinal++};
		if (push((void **)&v->secs, &v->nsecs, &v->secs_cap, sizeof(in), &in))
			return -1;
		while ((k = hs_reader_next_record(r, &rec)) > 0)
			if (collect(v, &rec))
				return -1;
		if (k < 0 && add_damage(v, ordinal - 1, (int)sec.kind, sec.offset,
		                        hs_reader_last_error(r)))
			return -1;
	}
	/* A section the index lists is named by its place there (both lists
	 * are in file order). */
	uint64_t e = 0;
	for (uint64_t i = 0; i < v->nsecs; i++)
		v->secs[i].index = listed(v, v->secs[i].sec.offset, &e, v->secs[i].index);
	e = 0;
	for (uint64_t i = 0; i < v->ndmg; i++) {
		damage *d = &v->dmg[i];
		int64_t k = d->index < 0 ? -1 : listed(v, d->offset, &e, -1);
		if (k >= 0) {
			d->index = k;
			d->kind = (int)v->index[k].kind;
		}
	}
	return file_problem[0] ? add_damage(v, -1, -1, 0, file_problem) : 0;
}

/* One line: the first damaged section (its index, kind and the reader's
 * problem there, which names its offset), how many more, then what is
 * wrong with the file as a whole. */
static int damage_text(const verify *v, hsa_str *out)
{
	uint64_t more = 0;
	int rc = 0;
	for (uint64_t i = 0; i < v->ndmg; i++) {
		const damage *d = &v->dmg[i];
		if (d->index < 0)
			continue;
		if (out->len) {
			more++;
			continue;
		}
		rc = hsa_str_printf(out, "section %" PRId64, d->index) ||
		     (d->kind >= 0 && hsa_str_printf(out, " (%s)", hs_kind_name((unsigned)d->kind))) ||
		     hsa_str_printf(out, ": %s", d->problem);
	}
	if (!rc && more)
		rc = hsa_str_printf(out, "; %" PRIu64 " more damaged section%s", more,
		                    more == 1 ? "" : "s");
	for (uint64_t i = 0; i < v->ndmg && !rc; i++)
		if (v->dmg[i].index < 0)
			rc = hsa_str_printf(out, "%s%s", out->len ? "; " : "", v->dmg[i].problem);
	if (!rc && !out->len)
		rc = hsa_str_printf(out, "incomplete dump");
	return rc;
}

static void print_json(const verify *v, const char *path, hs_reader *r, const char *problem)
{
	hsa_json j;
	unsigned major, minor;
	char ver[32];
	hs_reader_version(r, &major, &minor);
	snprintf(ver, sizeof(ver), "%u.%u", major, minor);
	hsa_json_init(&j, stdout);
	hsa_json_open(&j, NULL);
	hsa_json_str(&j, "file", path);
	hsa_json_bool(&j, "ok", !problem);
	hsa_json_uint(&j, "size", hs_reader_size(r));
	hsa_json_str(&j, "version", ver);
	hsa_json_uint(&j, "objects", v->naddrs);
	hsa_json_uint(&j, "references", v->nedges);
	hsa_json_array(&j, "sections");
	for (uint64_t i = 0; i < v->nsecs; i++) {
		const hs_section *s = &v->secs[i].sec;
		hsa_json_open(&j, NULL);
		hsa_json_int(&j, "index", v->secs[i].index);
		hsa_json_str(&j, "kind", hs_kind_name(s->kind));
		hsa_json_uint(&j, "offset", s->offset);
		hsa_json_uint(&j, "records", s->count);
		hsa_json_uint(&j, "compressed", s->comp_len);
		hsa_json_uint(&j, "raw", s->raw_len);
		hsa_json_close(&j);
	}
	hsa_json_end(&j);
	hsa_json_array(&j, "damage");
	for (uint64_t i = 0; i < v->ndmg; i++) {
		const damage *d = &v->dmg[i];
		hsa_json_open(&j, NULL);
		if (d->index < 0) {
			hsa_json_null(&j, "index");
			hsa_json_null(&j, "kind");
			hsa_json_null(&j, "offset");
		} else {
			hsa_json_int(&j, "index", d->index);
			if (d->kind < 0)
				hsa_json_null(&j, "kind");
			else
				hsa_json_str(&j, "kind", hs_kind_name((unsigned)d->kind));
			hsa_json_uint(&j, "offset", d->offset);
		}
		hsa_json_str(&j, "problem", d->problem);
		hsa_json_close(&j);
	}
	hsa_json_end(&j);
	hsa_json_str(&j, "problem", problem);
	hsa_json_close(&j);
	hsa_json_finish(&j);
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

/* Both passes. Returns 0 with *problem set to the first problem found, or
 * NULL for a complete, consistent dump; -1 after printing why it could
 * not check. */
static int examine(verify *v, const char *path, hsa_str *why, const char **problem)
{
	hsa_file_stats st;
	hsa_progress prog;
	char err[512];
	*problem = NULL;
	v->defs = hs_reader_open(path, err, sizeof(err));
	if (!v->defs) {
		hsa_error("%s", err);
		return -1;
	}
	hsa_progress_start(&prog, "verifying (1/2)", hs_reader_size(v->defs));
	int s = walk(v, v->defs, &prog);
	hsa_progress_end(&prog);
	if (s || (v->ndmg && damage_text(v, why)))
		goto nomem;
	if (v->ndmg || !hs_reader_complete(v->defs)) {
		*problem = why->s ? why->s : "incomplete dump";
		return 0;
	}
	if (v->naddrs > HSA_MAX_NODES) {
		snprintf(v->problem, sizeof(v->problem),
		         "too many objects (%" PRIu64 ", at most %" PRIu64 ")", v->naddrs,
		         (uint64_t)HSA_MAX_NODES);
		*problem = v->problem;
		return 0;
	}
	if (hsa_addrmap_init(&v->map, v->naddrs))
		goto nomem;
	for (uint64_t i = 0; i < v->naddrs; i++)
		if (v->addrs[i])
			hsa_addrmap_put(&v->map, v->addrs[i], (hsa_node)i);
	hs_reader *r = hs_reader_open(path, err, sizeof(err));
	if (!r) {
		hsa_error("%s", err);
		return -1;
	}
	hsa_progress_start(&prog, "verifying (2/2)", hs_reader_size(r));
	if (hsa_dump_scan(r, &st, check, v, &prog))
		*problem = v->problem;
	hsa_progress_end(&prog);
	hs_reader_free(r);
	return 0;
nomem:
	hsa_error("out of memory verifying '%s'", path);
	return -1;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	verify v;
	memset(&v, 0, sizeof(v));
	hsa_str why = {0};
	const char *problem;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	const char *path = a.pos[0];
	rc = HSA_EXIT_FAIL;
	if (examine(&v, path, &why, &problem))
		goto done;
	if (hsa_arg(cmd, &a, "json"))
		print_json(&v, path, v.defs, problem);
	else if (problem)
		hsa_error("'%s': %s", path, problem);
	else
		printf("%s: ok, %" PRIu64 " objects, %" PRIu64 " references\n", path, v.naddrs,
		       v.nedges);
	rc = problem ? HSA_EXIT_FAIL : 0;
done:
	hs_reader_free(v.defs);
	hsa_addrmap_free(&v.map);
	for (uint64_t i = 0; i < v.ndmg; i++)
		free(v.dmg[i].problem);
	free(v.dmg);
	free(v.secs);
	free(v.index);
	free(v.addrs);
	hsa_str_free(&why);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"json", 0, NULL, "print the sections found and the damage as JSON"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_verify = {
	.name = "verify",
	.summary = "check that a dump is complete and consistent",
	.usage = "FILE [--json]",
	.details = "Decodes every record, checks every checksum and the trailer, and that every\n"
	           "string, type, frame and traceback id and every reference target and root\n"
	           "names something in the dump. Exits 0 only for a complete, consistent dump;\n"
	           "otherwise prints the first problem with its byte offset and exits 1: the\n"
	           "first damaged section (its index and kind), then the file's checksum.",
	.min_pos = 1,
	.max_pos = 1,
	.opts = opts,
	.run = run,
};
