/*
 * libFuzzer target that reaches the record decoder: the input becomes a
 * dump whose checksums all hold, so a mutation is not stopped at a CRC.
 * The first byte says how:
 *
 *   even: the rest is a program of writer calls (every record kind, string
 *     dedup, objects with their refs, flushes, small sections). The dump
 *     must read back complete with exactly the records written, per
 *     section kind and in order. Bytes after an end op are patches
 *     (section, offset, xor) to the decompressed payloads of that dump;
 *     the resealed file must then only be read without a crash.
 *   odd: the rest is sections, each [kind u8][flags u8][count varint]
 *     [length varint][payload], sealed as they are; bit 1 set leaves out
 *     the index and trailer, as in a cut-off dump.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "internal.h"

#define NSTREAMS (HS_K_MAX_KNOWN + 1)
#define MAX_EDGES 8
#define MAX_CHAIN 3
#define MAX_FRAMES 5

typedef struct input {
	const uint8_t *p, *end;
} input;

static uint8_t byte(input *in)
{
	return in->p < in->end ? *in->p++ : 0;
}

/* Small values in one byte; otherwise 1 to 8 little-endian bytes follow. */
static uint64_t num(input *in)
{
	uint8_t b = byte(in);
	if (b < 0x80)
		return b;
	uint64_t v = 0;
	for (unsigned i = 0; i <= (b & 7u); i++)
		v |= (uint64_t)byte(in) << (8 * i);
	return v;
}

static const uint8_t *take(input *in, size_t n, size_t *got)
{
	const uint8_t *p = in->p;
	*got = n < (size_t)(in->end - in->p) ? n : (size_t)(in->end - in->p);
	in->p += *got;
	return p;
}

/* Mostly one of the n ids defined so far; sometimes any value. */
static uint64_t ref_id(input *in, uint64_t n)
{
	uint8_t b = byte(in);
	if (b == 0)
		return 0;
	return b < 0xf0 && n ? 1 + b % n : num(in);
}

/* Mostly near the given address (a near edge target); sometimes any. */
static uint64_t address(input *in, uint64_t near)
{
	uint8_t b = byte(in);
	if (b & 0x80)
		return num(in);
	return near + (uint64_t)(((int64_t)b - 64) * 16);
}

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_records: %s\n", what);
		abort();
	}
}

static void put(hs_membuf *m, const void *p, size_t n)
{
	hs_sink s;
	hs_sink_mem(&s, m);
	check(s.write(s.ctx, p, n) == 0, "out of memory");
}

static void put_u(hs_membuf *m, uint64_t v)
{
	uint8_t b[8];
	hs_put_le64(b, v);
	put(m, b, 8);
}

static void put_b(hs_membuf *m, const void *p, size_t n)
{
	put_u(m, n);
	if (n)
		put(m, p, n);
}

/* Every field of a record, so that the written and the read compare. */
static void canon(hs_membuf *m, const hs_record *rec)
{
	put_u(m, (uint64_t)rec->kind);
	switch (rec->kind) {
	case HS_K_META: {
		const hs_meta *mt = &rec->u.meta;
		put_b(m, mt->key, mt->key_len);
		put_u(m, (uint64_t)mt->type);
		uint64_t bits;
		memcpy(&bits, &mt->f, 8);
		put_u(m, mt->type == HS_M_UINT ? mt->u : mt->type == HS_M_INT ? (uint64_t)mt->i
		                                       : mt->type == HS_M_F64 ? bits : 0);
		if (mt->type == HS_M_STR)
			put_b(m, mt->s, mt->s_len);
		break;
	}
	case HS_K_STRINGS:
		put_u(m, rec->u.str.id);
		put_b(m, rec->u.str.s, rec->u.str.len);
		break;
	case HS_K_TYPES:
		put_u(m, rec->u.type.id);
		put_u(m, rec->u.type.addr);
		put_u(m, rec->u.type.name);
		break;
	case HS_K_OBJECTS: {
		const hs_object *o = &rec->u.object;
		uint64_t v[7] = { o->addr, o->type, o->size, o->refcnt,
		                  o->flags & HS_OF_KNOWN_MASK, o->len, o->name };
		for (int i = 0; i < 7; i++)
			put_u(m, v[i]);
		put_u(m, o->trace);
		put_b(m, o->value, o->value_len);
		break;
	}
	case HS_K_REFS:
		put_u(m, rec->u.refs.src);
		put_u(m, rec->u.refs.n);
		for (uint64_t i = 0; i < rec->u.refs.n; i++) {
			put_u(m, rec->u.refs.edges[i].dst);
			put_u(m, rec->u.refs.edges[i].kind);
			put_u(m, rec->u.refs.edges[i].label);
		}
		break;
	case HS_K_ROOTS:
		put_u(m, rec->u.root.addr);
		put_u(m, rec->u.root.kind);
		put_u(m, rec->u.root.name);
		put_u(m, rec->u.root.extra);
		break;
	case HS_K_FRAMES:
		put_u(m, rec->u.frame.id);
		put_u(m, rec->u.frame.filename);
		put_u(m, rec->u.frame.lineno);
		break;
	case HS_K_TRACEBACKS:
		put_u(m, rec->u.traceback.id);
		put_u(m, rec->u.traceback.total_nframe);
		put_u(m, rec->u.traceback.n);
		for (uint64_t i = 0; i < rec->u.traceback.n; i++)
			put_u(m, rec->u.traceback.frames[i]);
		break;
	case HS_K_SITES:
		put_u(m, rec->u.site.traceback);
		put_u(m, rec->u.site.domain);
		put_u(m, rec->u.site.count);
		put_u(m, rec->u.site.bytes);
		break;
	case HS_K_THREADS:
		put_u(m, rec->u.thread.ident);
		put_u(m, rec->u.thread.native_id);
		put_u(m, rec->u.thread.name);
		put_u(m, rec->u.thread.frame);
		put_u(m, rec->u.thread.flags);
		break;
	case HS_K_TASKS: {
		const hs_task *t = &rec->u.task;
		uint64_t v[6] = { t->addr, t->state, t->name, t->coro, t->awaited, t->n };
		for (int i = 0; i < 6; i++)
			put_u(m, v[i]);
		for (uint64_t i = 0; i < t->n; i++) {
			put_u(m, t->chain[i].addr);
			put_u(m, t->chain[i].name);
			put_u(m, t->chain[i].file);
			put_u(m, t->chain[i].line);
		}
		break;
	}
	default:
		check(0, "unexpected record kind");
	}
}

/* What the program wrote, per section kind the reader will find it in. */
typedef struct run {
	hs_writer *w;
	hs_membuf want[NSTREAMS];
	uint64_t count[NSTREAMS]; /* records per record kind */
	hs_membuf text;           /* every string's bytes, back to back */
	size_t *str_off;          /* [nstrings + 1]: string k is text[off[k-1], off[k]) */
	uint64_t nstrings, ntypes, nframes, ntracebacks;
	uint64_t last_addr;
	int pending;              /* an object waits for its edges (hsnap.h) */
} run;

static void expect(run *rn, int stream, const hs_record *rec)
{
	canon(&rn->want[stream], rec);
	rn->count[rec->kind]++;
}

static void op_string(run *rn, input *in)
{
	uint8_t b = byte(in);
	const uint8_t *s;
	size_t len;
	uint64_t again = 0;
	if (b >= 0xe0 && rn->nstrings) { /* the same bytes again: deduplicated */
		again = 1 + byte(in) % rn->nstrings;
		len = rn->str_off[again] - rn->str_off[again - 1];
		s = len ? rn->text.data + rn->str_off[again - 1] : (const uint8_t *)"";
	} else {
		s = take(in, b % 24, &len);
	}
	uint64_t id = hs_writer_string(rn->w, (const char *)s, len);
	check(id != 0, "hs_writer_string failed");
	check(!again || id == again, "a repeated string got another id");
	if (id <= rn->nstrings) {
		size_t off = rn->str_off[id - 1];
		check(rn->str_off[id] - off == len && (!len || !memcmp(rn->text.data + off, s, len)),
		      "a deduplicated string has other bytes");
		return;
	}
	check(id == rn->nstrings + 1, "string ids are not 1, 2, 3 ...");
	size_t *no = realloc(rn->str_off, (id + 1) * sizeof(*no));
	check(no != NULL, "out of memory");
	rn->str_off = no;
	rn->str_off[0] = 0;
	put(&rn->text, s, len);
	rn->str_off[id] = rn->text.len;
	rn->nstrings = id;
	hs_record rec = { .kind = HS_K_STRINGS };
	rec.u.str.id = id;
	rec.u.str.s = (const char *)s;
	rec.u.str.len = len;
	expect(rn, HS_K_STRINGS, &rec);
}

static void op_meta(run *rn, input *in)
{
	hs_record rec = { .kind = HS_K_META };
	hs_meta *m = &rec.u.meta;
	m->type = byte(in) % 4;
	m->key = (const char *)take(in, byte(in) % 12, &m->key_len);
	uint64_t v = num(in);
	if (m->type == HS_M_UINT)
		m->u = v;
	else if (m->type == HS_M_INT)
		m->i = (int64_t)v;
	else if (m->type == HS_M_F64)
		memcpy(&m->f, &v, 8);
	else
		m->s = (const char *)take(in, v % 32, &m->s_len);
	check(hs_writer_meta(rn->w, m) == 0, "hs_writer_meta failed");
	expect(rn, HS_K_META, &rec);
}

static void op_object(run *rn, input *in)
{
	hs_record rec = { .kind = HS_K_OBJECTS };
	hs_object *o = &rec.u.object;
	o->addr = rn->last_addr = address(in, rn->last_addr);
	o->type = ref_id(in, rn->ntypes);
	o->size = num(in);
	o->refcnt = num(in);
	o->flags = byte(in);
	o->flags = (o->flags | (uint32_t)byte(in) << 8) & HS_OF_KNOWN_MASK;
	if (o->flags & HS_OF_HAS_LEN)
		o->len = num(in);
	if (o->flags & HS_OF_HAS_VALUE)
		o->value = take(in, byte(in) % 48, &o->value_len);
	if (o->flags & HS_OF_HAS_NAME)
		o->name = ref_id(in, rn->nstrings);
	if (o->flags & HS_OF_HAS_TRACE)
		o->trace = ref_id(in, rn->ntracebacks);
	check(hs_writer_object(rn->w, o) == 0, "hs_writer_object failed");
	expect(rn, HS_K_OBJECTS, &rec);
	rn->pending = 1;
}

static void op_refs(run *rn, input *in)
{
	hs_edge e[MAX_EDGES];
	hs_record rec = { .kind = HS_K_REFS };
	hs_refs *rf = &rec.u.refs;
	rf->src = byte(in) & 1 ? rn->last_addr : address(in, rn->last_addr);
	rf->n = byte(in) % (MAX_EDGES + 1);
	for (uint64_t i = 0; i < rf->n; i++) {
		e[i].dst = address(in, rf->src);
		uint8_t k = byte(in);
		e[i].kind = k < 0xf0 ? k % (HS_E_MAX_KNOWN + 2) : (uint32_t)num(in);
		e[i].label = e[i].kind == HS_E_INDEX ? num(in) : ref_id(in, rn->nstrings);
	}
	rf->edges = e;
	check(hs_writer_refs(rn->w, rf->src, e, rf->n) == 0, "hs_writer_refs failed");
	/* edges right after their object travel in its record */
	int inside = rn->pending && rf->src == rn->last_addr && rf->n;
	rn->pending = 0;
	expect(rn, inside ? HS_K_OBJECTS : HS_K_REFS, &rec);
}

static void op_other(run *rn, input *in, unsigned kind)
{
	hs_record rec = { .kind = (int)kind };
	uint64_t frames[MAX_FRAMES];
	hs_await chain[MAX_CHAIN];
	int rc = 0;
	switch (kind) {
	case HS_K_TYPES:
		rec.u.type.addr = address(in, rn->last_addr);
		rec.u.type.name = ref_id(in, rn->nstrings);
		rec.u.type.id = hs_writer_type(rn->w, rec.u.type.addr, rec.u.type.name);
		rc = rec.u.type.id == ++rn->ntypes ? 0 : -1;
		break;
	case HS_K_ROOTS:
		rec.u.root.addr = address(in, rn->last_addr);
		rec.u.root.kind = (uint32_t)num(in);
		rec.u.root.name = ref_id(in, rn->nstrings);
		rec.u.root.extra = num(in);
		rc = hs_writer_root(rn->w, &rec.u.root);
		break;
	case HS_K_FRAMES:
		rec.u.frame.filename = ref_id(in, rn->nstrings);
		rec.u.frame.lineno = num(in);
		rec.u.frame.id = hs_writer_frame(rn->w, rec.u.frame.filename, rec.u.frame.lineno);
		rc = rec.u.frame.id == ++rn->nframes ? 0 : -1;
		break;
	case HS_K_TRACEBACKS: {
		hs_traceback *t = &rec.u.traceback;
		t->total_nframe = num(in);
		t->n = byte(in) % (MAX_FRAMES + 1);
		for (uint64_t i = 0; i < t->n; i++)
			frames[i] = ref_id(in, rn->nframes);
		t->frames = frames;
		t->id = hs_writer_traceback(rn->w, t->total_nframe, frames, t->n);
		rc = t->id == ++rn->ntracebacks ? 0 : -1;
		break;
	}
	case HS_K_SITES:
		rec.u.site.traceback = ref_id(in, rn->ntracebacks);
		rec.u.site.domain = num(in);
		rec.u.site.count = num(in);
		rec.u.site.bytes = num(in);
		rc = hs_writer_site(rn->w, &rec.u.site);
		break;
	case HS_K_THREADS:
		rec.u.thread.ident = num(in);
		rec.u.thread.native_id = num(in);
		rec.u.thread.name = ref_id(in, rn->nstrings);
		rec.u.thread.frame = address(in, rn->last_addr);
		rec.u.thread.flags = (uint32_t)num(in);
		rc = hs_writer_thread(rn->w, &rec.u.thread);
		break;
	case HS_K_TASKS: {
		hs_task *t = &rec.u.task;
		t->addr = address(in, rn->last_addr);
		t->state = byte(in) % 4;
		t->name = ref_id(in, rn->nstrings);
		t->coro = address(in, t->addr);
		t->awaited = address(in, t->addr);
		t->n = byte(in) % (MAX_CHAIN + 1);
		for (uint64_t i = 0; i < t->n; i++)
			chain[i] = (hs_await){ address(in, t->addr), ref_id(in, rn->nstrings),
			                       ref_id(in, rn->nstrings), num(in) };
		t->chain = chain;
		rc = hs_writer_task(rn->w, t);
		break;
	}
	}
	check(rc == 0, "a record writer failed");
	expect(rn, (int)kind, &rec);
}

/* Reads the dump back: complete, no problem, the very records written. */
static void read_back(run *rn, const uint8_t *data, size_t len)
{
	hs_membuf got[NSTREAMS] = { { 0 } };
	char err[256];
	hs_reader *r = hs_reader_open_mem(data, len, "fuzz", err, sizeof(err));
	check(r != NULL, err);
	hs_section s;
	hs_record rec;
	int rc;
	while ((rc = hs_reader_next_section(r, &s)) != 0) {
		check(rc == 1 && s.known, hs_reader_error(r) ? hs_reader_error(r) : "bad section");
		while ((rc = hs_reader_next_record(r, &rec)) == 1)
			if (s.kind != HS_K_INDEX)
				canon(&got[s.kind], &rec);
		check(rc == 0, hs_reader_error(r) ? hs_reader_error(r) : "bad record");
	}
	check(hs_reader_complete(r) && !hs_reader_problems(r), "a written dump is not complete");
	for (int k = 0; k < NSTREAMS; k++) {
		check(got[k].len == rn->want[k].len &&
		      (!got[k].len || !memcmp(got[k].data, rn->want[k].data, got[k].len)),
		      hs_kind_name((unsigned)k));
		hs_membuf_free(&got[k]);
	}
	for (uint64_t id = 1; id <= rn->nstrings; id++) {
		size_t slen, off = rn->str_off[id - 1];
		const char *str = hs_reader_string(r, id, &slen);
		check(str && slen == rn->str_off[id] - off && !str[slen] &&
		      (!slen || !memcmp(str, rn->text.data + off, slen)),
		      "a string reads back other bytes");
	}
	check(!hs_reader_string(r, rn->nstrings + 1, NULL), "an unwritten string id is found");
	hs_reader_free(r);
}

/* Patches [section, offset lo, offset hi, xor] to the written dump's
 * payloads (xor 0 cuts the payload there), then reads the resealed file. */
static void patch_and_read(const hs_membuf *dump, input *in)
{
	fz_file f = { 0 };
	hs_membuf out = { 0 };
	check(fz_split(dump->data, dump->len, &f) == 0, "cannot split a written dump");
	while (f.n && in->p < in->end) {
		fz_section *s = &f.s[byte(in) % f.n];
		size_t off = byte(in);
		off |= (size_t)byte(in) << 8;
		uint8_t x = byte(in);
		if (!x)
			s->raw_len = off % (s->raw_len + 1);
		else if (s->raw_len)
			s->raw[off % s->raw_len] ^= x;
	}
	check(fz_seal(&f, 1, &out) == 0, "cannot seal");
	fz_read_all(out.data, out.len);
	hs_membuf_free(&out);
	fz_file_free(&f);
}

static void program(input *in)
{
	run rn = { 0 };
	hs_membuf dump = { 0 };
	hs_sink sink;
	hs_sink_mem(&sink, &dump);
	/* small sections, so that a program spreads over several */
	hs_writer_opts o = { .level = 1, .section_size = (size_t)32 << (byte(in) % 8) };
	char err[256];
	rn.w = hs_writer_new(&sink, &o, err, sizeof(err));
	check(rn.w != NULL, err);
	int end = 0;
	while (!end && in->p < in->end) {
		uint8_t op = byte(in) % 16;
		switch (op) {
		case 0:
			op_string(&rn, in);
			break;
		case 1:
			op_meta(&rn, in);
			break;
		case 2:
		case 3:
		case 4:
			op_object(&rn, in);
			break;
		case 5:
		case 6:
			op_refs(&rn, in);
			break;
		case 7:
			op_other(&rn, in, HS_K_TYPES);
			break;
		case 14:
			check(hs_writer_flush(rn.w) == 0, "hs_writer_flush failed");
			rn.pending = 0;
			break;
		case 15:
			end = 1;
			break;
		default: /* 8 .. 13: roots, frames, tracebacks, sites, threads, tasks */
			op_other(&rn, in, op - 8u + HS_K_ROOTS);
			break;
		}
	}
	check(hs_writer_finish(rn.w) == 0, "hs_writer_finish failed");
	check(hs_writer_bytes(rn.w) == dump.len, "hs_writer_bytes is not the file size");
	for (int k = 1; k < HS_K_INDEX; k++)
		check(hs_writer_count(rn.w, k) == rn.count[k], "hs_writer_count is off");
	hs_writer_free(rn.w);
	/* an exact-size copy, so that ASan sees any read past the end */
	uint8_t *copy = malloc(dump.len);
	check(copy != NULL, "out of memory");
	memcpy(copy, dump.data, dump.len);
	read_back(&rn, copy, dump.len);
	free(copy);
	if (in->p < in->end)
		patch_and_read(&dump, in);
	hs_membuf_free(&dump);
	for (int k = 0; k < NSTREAMS; k++)
		hs_membuf_free(&rn.want[k]);
	hs_membuf_free(&rn.text);
	free(rn.str_off);
}

static void sections(input *in, int complete)
{
	fz_file f = { 0 };
	hs_membuf out = { 0 };
	while (in->p < in->end) {
		unsigned kind = byte(in), flags = byte(in);
		uint64_t count = 0, len = 0;
		if (hs_get_varint(&in->p, in->end, &count) < 0 ||
		    hs_get_varint(&in->p, in->end, &len) < 0)
			break;
		size_t got;
		const uint8_t *raw = take(in, (size_t)len, &got);
		check(fz_add(&f, kind, flags, count, raw, got) == 0, "out of memory");
	}
	check(fz_seal(&f, complete, &out) == 0, "cannot seal");
	fz_read_all(out.data, out.len);
	hs_membuf_free(&out);
	fz_file_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	input in = { data, data + size };
	uint8_t mode = byte(&in);
	if (mode & 1)
		sections(&in, !(mode & 2));
	else
		program(&in);
	return 0;
}
