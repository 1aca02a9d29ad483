/*
 * Format library tests: round trips, truncation at every offset, bit
 * flips, and the compatibility rules of FORMAT.md.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "hsnap.h"

/* ---- a deterministic random graph with every record kind ---------------- */

typedef struct model {
	size_t nobj;
	uint64_t *addr, *type, *size, *len;
	uint32_t *flags;
	char **value;
	size_t nedges;        /* per object: i % 5 edges */
	uint64_t *label_ids;
	char labels[64][16];
	uint64_t ntypes;
} model;

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t obj_addr(size_t i)
{
	return 0x7f0000000000ull + i * 48 + (i % 3) * 16; /* stays inside its 48-byte slot */
}

/* Writes a dump of n objects into buf; returns counts of what it wrote. */
static void write_graph(hs_membuf *buf, size_t n, size_t section_size, uint64_t *nrefs)
{
	hs_sink sink;
	hs_sink_mem(&sink, buf);
	hs_writer_opts o = { .level = 1, .section_size = section_size };
	char err[256];
	hs_writer *w = hs_writer_new(&sink, &o, err, sizeof(err));
	cr_assert_not_null(w, "%s", err);
	cr_assert_eq(hs_writer_meta_str(w, "python.version", "3.11.7"), 0);
	cr_assert_eq(hs_writer_meta_uint(w, "pid", 4242), 0);
	cr_assert_eq(hs_writer_meta_int(w, "negative", -5), 0);
	cr_assert_eq(hs_writer_meta_f64(w, "time", 1.5), 0);
	uint64_t tname[4];
	const char *tn[4] = { "dict", "list", "str", "app.Thing" };
	for (int t = 0; t < 4; t++) {
		tname[t] = hs_writer_string(w, tn[t], strlen(tn[t]));
		cr_assert_eq(hs_writer_type(w, 0x1000 + t, tname[t]), (uint64_t)t + 1);
	}
	uint64_t file = hs_writer_string(w, "app.py", 6);
	uint64_t f1 = hs_writer_frame(w, file, 10), f2 = hs_writer_frame(w, file, 20);
	uint64_t frames[2] = { f1, f2 };
	uint64_t tb = hs_writer_traceback(w, 2, frames, 2);
	cr_assert_eq(tb, 1);
	*nrefs = 0;
	hs_edge e[8];
	for (size_t i = 0; i < n; i++) {
		char val[64];
		int vl = snprintf(val, sizeof(val), "value-%zu-%llu", i, (unsigned long long)(rnd() % 1000));
		hs_object ob = { .addr = obj_addr(i), .type = 1 + i % 4, .size = 16 + i % 100,
		                 .refcnt = 1 + i % 3, .flags = HS_OF_GC_TRACKED | HS_OF_HAS_LEN,
		                 .len = i % 9 };
		if (i % 3 == 0) {
			ob.flags |= HS_OF_HAS_VALUE;
			ob.value = (const uint8_t *)val;
			ob.value_len = (size_t)vl;
		}
		if (i % 11 == 0) {
			ob.flags |= HS_OF_HAS_TRACE;
			ob.trace = tb;
		}
		cr_assert_eq(hs_writer_object(w, &ob), 0);
		size_t ne = i % 5;
		for (size_t k = 0; k < ne; k++) {
			char lab[16];
			int ll = snprintf(lab, sizeof(lab), "k%llu", (unsigned long long)((i + k) % 64));
			e[k].dst = obj_addr((i * 7 + k * 13) % n);
			e[k].kind = k == 0 ? HS_E_INDEX : HS_E_DICT_VALUE;
			e[k].label = k == 0 ? i : hs_writer_string(w, lab, (size_t)ll);
		}
		cr_assert_eq(hs_writer_refs(w, obj_addr(i), e, ne), 0);
		*nrefs += ne;
	}
	hs_root r = { .addr = obj_addr(0), .kind = HS_R_MODULES, .name = tname[0] };
	cr_assert_eq(hs_writer_root(w, &r), 0);
	hs_site s = { .traceback = tb, .domain = 0, .count = 3, .bytes = 300 };
	cr_assert_eq(hs_writer_site(w, &s), 0);
	hs_thread th = { .ident = 140000, .native_id = 77, .name = tname[3],
	                 .frame = obj_addr(1), .flags = 3 };
	cr_assert_eq(hs_writer_thread(w, &th), 0);
	hs_await ch[2] = { { obj_addr(2), tname[3], file, 52 }, { obj_addr(3), tname[2], 0, 0 } };
	hs_task tk = { .addr = obj_addr(4), .state = HS_T_PENDING, .name = tname[1],
	               .coro = obj_addr(2), .awaited = obj_addr(3), .n = 2, .chain = ch };
	cr_assert_eq(hs_writer_task(w, &tk), 0);
	cr_assert_eq(hs_writer_finish(w), 0, "%s", hs_writer_error(w));
	cr_assert_eq(hs_writer_count(w, HS_K_OBJECTS), n);
	cr_assert_eq(hs_writer_bytes(w), buf->len);
	hs_writer_free(w);
}

typedef struct tally {
	uint64_t per_kind[HS_K_MAX_KNOWN + 1];
	uint64_t edges, objects_ok, sections, problems;
	int complete;
} tally;

/* Reads everything, checking object fields against the generator. */
static tally read_all(const void *data, size_t len, size_t n, int strict)
{
	char err[256];
	tally t = { 0 };
	hs_reader *r = hs_reader_open_mem(data, len, "mem", err, sizeof(err));
	if (!r) {
		t.problems = 1;
		return t;
	}
	hs_section sec;
	int rc;
	while ((rc = hs_reader_next_section(r, &sec)) != 0) {
		if (rc < 0)
			continue;
		t.sections++;
		hs_record rec;
		while (hs_reader_next_record(r, &rec) == 1) {
			t.per_kind[rec.kind]++;
			if (rec.kind == HS_K_OBJECTS) {
				const hs_object *o = &rec.u.object;
				size_t i = (size_t)((o->addr - 0x7f0000000000ull) / 48);
				cr_assert_lt(i, n);
				cr_assert_eq(o->addr, obj_addr(i));
				cr_assert_eq(o->type, 1 + i % 4);
				cr_assert_eq(o->size, 16 + i % 100);
				cr_assert_eq(o->len, i % 9);
				cr_assert_eq(!!(o->flags & HS_OF_HAS_VALUE), i % 3 == 0);
				if (o->flags & HS_OF_HAS_VALUE) {
					char pre[32];
					int pl = snprintf(pre, sizeof(pre), "value-%zu-", i);
					cr_assert(o->value_len > (size_t)pl && !memcmp(o->value, pre, (size_t)pl));
				}
				cr_assert_eq(o->trace, i % 11 == 0 ? 1u : 0u);
				t.objects_ok++;
			} else if (rec.kind == HS_K_REFS) {
				const hs_refs *rf = &rec.u.refs;
				size_t i = (size_t)((rf->src - 0x7f0000000000ull) / 48);
				cr_assert_eq(rf->n, i % 5);
				for (uint64_t k = 0; k < rf->n; k++) {
					cr_assert_eq(rf->edges[k].dst, obj_addr((i * 7 + k * 13) % n));
					if (k == 0) {
						cr_assert_eq(rf->edges[k].label, i);
					} else {
						const char *s = hs_reader_string(r, rf->edges[k].label, NULL);
						if (!s && !strict)
							continue; /* its strings section was lost */
						char lab[16];
						snprintf(lab, sizeof(lab), "k%llu", (unsigned long long)((i + k) % 64));
						cr_assert_not_null(s);
						cr_assert_str_eq(s, lab);
					}
				}
				t.edges += rf->n;
			} else if (rec.kind == HS_K_TASKS && strict) {
				cr_assert_eq(rec.u.task.n, 2);
				cr_assert_eq(rec.u.task.chain[0].line, 52);
				cr_assert_str_eq(hs_reader_string(r, rec.u.task.chain[0].name, NULL), "app.Thing");
			} else if (rec.kind == HS_K_META && strict && rec.u.meta.type == HS_M_F64) {
				cr_assert_eq(rec.u.meta.f, 1.5);
			} else if (rec.kind == HS_K_META && strict && rec.u.meta.type == HS_M_INT) {
				cr_assert_eq(rec.u.meta.i, -5);
			}
		}
	}
	t.problems = hs_reader_problems(r);
	t.complete = hs_reader_complete(r);
	hs_reader_free(r);
	return t;
}

Test(format, round_trip_many_sections)
{
	hs_membuf buf = { 0 };
	uint64_t nrefs;
	write_graph(&buf, 5000, 4096, &nrefs);
	tally t = read_all(buf.data, buf.len, 5000, 1);
	cr_assert_eq(t.problems, 0);
	cr_assert(t.complete);
	cr_assert_eq(t.per_kind[HS_K_OBJECTS], 5000);
	cr_assert_eq(t.objects_ok, 5000);
	cr_assert_eq(t.edges, nrefs);
	cr_assert_eq(t.per_kind[HS_K_META], 4);
	cr_assert_eq(t.per_kind[HS_K_TYPES], 4);
	cr_assert_eq(t.per_kind[HS_K_FRAMES], 2);
	cr_assert_eq(t.per_kind[HS_K_TRACEBACKS], 1);
	cr_assert_eq(t.per_kind[HS_K_ROOTS], 1);
	cr_assert_eq(t.per_kind[HS_K_SITES], 1);
	cr_assert_eq(t.per_kind[HS_K_THREADS], 1);
	cr_assert_eq(t.per_kind[HS_K_TASKS], 1);
	cr_assert_gt(t.per_kind[HS_K_INDEX], 10, "expected many sections in the index");
	hs_membuf_free(&buf);
}

Test(format, string_dedup)
{
	hs_membuf buf = { 0 };
	hs_sink sink;
	hs_sink_mem(&sink, &buf);
	char err[128];
	hs_writer *w = hs_writer_new(&sink, NULL, err, sizeof(err));
	cr_assert_not_null(w);
	uint64_t a = hs_writer_string(w, "alpha", 5), b = hs_writer_string(w, "beta", 4);
	cr_assert_neq(a, b);
	cr_assert_eq(hs_writer_string(w, "alpha", 5), a);
	cr_assert_eq(hs_writer_string(w, "", 0), hs_writer_string(w, "", 0));
	cr_assert_eq(hs_writer_finish(w), 0);
	cr_assert_eq(hs_writer_count(w, HS_K_STRINGS), 3);
	cr_assert_neq(hs_writer_finish(w), 0, "finishing twice must fail");
	hs_writer_free(w);
	hs_writer_free(NULL);
	hs_reader_free(NULL);
	hs_membuf_free(&buf);
	hs_membuf_free(NULL);
}

/* Found by fuzz_records: the dedup table's key store is still empty (NULL)
 * when the first string is "", which UBSan stops at. */
Test(format, empty_string_first)
{
	hs_membuf buf = { 0 };
	hs_sink sink;
	hs_sink_mem(&sink, &buf);
	char err[128];
	hs_writer *w = hs_writer_new(&sink, NULL, err, sizeof(err));
	cr_assert_not_null(w, "%s", err);
	cr_assert_eq(hs_writer_string(w, "", 0), 1);
	cr_assert_eq(hs_writer_string(w, "", 0), 1);
	cr_assert_eq(hs_writer_string(w, "x", 1), 2);
	cr_assert_eq(hs_writer_finish(w), 0, "%s", hs_writer_error(w));
	hs_writer_free(w);
	hs_reader *r = hs_reader_open_mem(buf.data, buf.len, "mem", err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	hs_section sec;
	hs_record rec;
	int rc;
	while ((rc = hs_reader_next_section(r, &sec)) != 0)
		while (rc > 0 && hs_reader_next_record(r, &rec) == 1)
			;
	cr_assert(hs_reader_complete(r), "%s", hs_reader_error(r));
	size_t len = 1;
	cr_assert_str_eq(hs_reader_string(r, 1, &len), "");
	cr_assert_eq(len, 0);
	hs_reader_free(r);
	hs_membuf_free(&buf);
}

/* Found by fuzz_records: nothing written to an empty memory sink offset
 * its NULL buffer. */
Test(format, empty_write_to_empty_membuf)
{
	hs_membuf buf = { 0 };
	hs_sink sink;
	hs_sink_mem(&sink, &buf);
	cr_assert_eq(sink.write(sink.ctx, "", 0), 0);
	cr_assert_eq(buf.len, 0);
	cr_assert_eq(sink.write(sink.ctx, "ab", 2), 0);
	cr_assert_eq(sink.write(sink.ctx, "", 0), 0);
	cr_assert_eq(buf.len, 2);
	cr_assert(!memcmp(buf.data, "ab", 2));
	hs_membuf_free(&buf);
}

Test(format, truncation_at_every_offset)
{
	hs_membuf buf = { 0 };
	uint64_t nrefs;
	write_graph(&buf, 300, 512, &nrefs);
	tally full = read_all(buf.data, buf.len, 300, 1);
	cr_assert(full.complete);
	uint64_t prev_objects = 0;
	for (size_t cut = 0; cut < buf.len; cut++) {
		/* a private copy so ASan sees reads past the cut */
		uint8_t *copy = malloc(cut ? cut : 1);
		memcpy(copy, buf.data, cut);
		tally t = read_all(copy, cut, 300, 0);
		free(copy);
		cr_assert(!t.complete, "cut at %zu reported complete", cut);
		cr_assert_gt(t.problems, 0, "cut at %zu reported no problem", cut);
		/* longer prefixes never yield fewer intact objects */
		cr_assert_geq(t.objects_ok, prev_objects, "cut at %zu lost objects", cut);
		prev_objects = t.objects_ok;
	}
	/* everything but the index and trailer is intact just before the index */
	cr_assert_eq(prev_objects, 300);
	hs_membuf_free(&buf);
}

Test(format, every_bit_flip_is_detected)
{
	hs_membuf buf = { 0 };
	uint64_t nrefs;
	write_graph(&buf, 60, 256, &nrefs);
	for (size_t bit = 0; bit < buf.len * 8; bit++) {
		buf.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		tally t = read_all(buf.data, buf.len, 60, 0);
		buf.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cr_assert(!t.complete, "flip of bit %zu went unnoticed", bit);
		cr_assert_gt(t.problems, 0, "flip of bit %zu went unnoticed", bit);
	}
	hs_membuf_free(&buf);
}

Test(format, damaged_section_keeps_the_rest)
{
	hs_membuf buf = { 0 };
	uint64_t nrefs;
	write_graph(&buf, 3000, 2048, &nrefs);
	tally full = read_all(buf.data, buf.len, 3000, 1);
	/* damage the middle of the file: one section's payload is lost */
	buf.data[buf.len / 2] ^= 0x40;
	tally t = read_all(buf.data, buf.len, 3000, 0);
	cr_assert(!t.complete);
	cr_assert_eq(t.sections, full.sections - 1);
	cr_assert_lt(t.objects_ok + t.edges, full.objects_ok + full.edges);
	cr_assert_gt(t.objects_ok + t.edges, (full.objects_ok + full.edges) * 9 / 10);
	/* now damage a section header: the reader resyncs on the next one */
	buf.data[buf.len / 2] ^= 0x40;
	char err[128];
	hs_reader *r = hs_reader_open_mem(buf.data, buf.len, "mem", err, sizeof(err));
	hs_section sec;
	uint64_t second = 0;
	for (int i = 0; i < 2; i++)
		cr_assert_eq(hs_reader_next_section(r, &sec), 1);
	second = sec.offset;
	hs_reader_free(r);
	buf.data[second + 9] ^= 1;
	t = read_all(buf.data, buf.len, 3000, 0);
	cr_assert_eq(t.sections, full.sections - 1);
	hs_membuf_free(&buf);
}

/* ---- hand-assembled files for the compatibility rules ------------------- */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

typedef struct asm_file {
	uint8_t data[8192];
	size_t len;
	uint64_t off[16], kind[16], flags[16], count[16], clen[16], rlen[16];
	int n;
} asm_file;

static void asm_header(asm_file *f, uint16_t major, uint16_t minor)
{
	memcpy(f->data, HS_MAGIC, 8);
	put16(f->data + 8, major);
	put16(f->data + 10, minor);
	put32(f->data + 12, 0);
	put32(f->data + 16, HS_HEADER_SIZE);
	put32(f->data + 20, hs_crc32c(0, f->data, 20));
	f->len = HS_HEADER_SIZE;
}

static void asm_section(asm_file *f, uint16_t kind, uint16_t flags, const void *raw,
                        size_t rlen, uint64_t count)
{
	uint8_t *h = f->data + f->len;
	uint8_t *body = h + HS_SECTION_HEADER_SIZE;
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	size_t cl = ZSTD_compress2(c, body, sizeof(f->data) - f->len - 64, raw, rlen);
	ZSTD_freeCCtx(c);
	cr_assert(!ZSTD_isError(cl));
	put32(h, HS_SECTION_SYNC);
	put16(h + 4, kind);
	put16(h + 6, flags);
	put64(h + 8, count);
	put64(h + 16, cl);
	put64(h + 24, rlen);
	put32(h + 32, hs_crc32c(0, body, cl));
	put32(h + 36, hs_crc32c(0, h, 36));
	if (kind != HS_K_INDEX) {
		int i = f->n++;
		f->off[i] = f->len, f->kind[i] = kind, f->flags[i] = flags, f->count[i] = count;
		f->clen[i] = cl, f->rlen[i] = rlen;
	}
	f->len += HS_SECTION_HEADER_SIZE + cl;
}

static void asm_finish(asm_file *f)
{
	uint8_t idx[1024];
	size_t n = 0;
	for (int i = 0; i < f->n; i++) {
		uint64_t v[6] = { f->off[i], f->kind[i], f->flags[i], f->count[i], f->clen[i], f->rlen[i] };
		uint8_t rec[64];
		size_t rl = 0;
		for (int k = 0; k < 6; k++) {
			uint64_t x = v[k];
			while (x >= 0x80) {
				rec[rl++] = (uint8_t)(x | 0x80);
				x >>= 7;
			}
			rec[rl++] = (uint8_t)x;
		}
		idx[n++] = (uint8_t)rl;
		memcpy(idx + n, rec, rl);
		n += rl;
	}
	uint64_t index_off = f->len;
	asm_section(f, HS_K_INDEX, 0, idx, n, (uint64_t)f->n);
	uint8_t *t = f->data + f->len;
	put64(t, index_off);
	put64(t + 8, (uint64_t)f->n);
	put32(t + 16, hs_crc32c(0, f->data, f->len));
	put32(t + 20, hs_crc32c(0, t, 20));
	memcpy(t + 24, HS_END_MAGIC, 8);
	f->len += HS_TRAILER_SIZE;
}

/* One string record: id 1, "hello", plus trailing bytes a newer minor adds. */
static const uint8_t strings_rec[] = { 9, 1, 5, 'h', 'e', 'l', 'l', 'o', 0xAA, 0xBB };

static int count_strings(const asm_file *f, int *complete, uint64_t *skipped, char *err,
                         size_t errlen)
{
	hs_reader *r = hs_reader_open_mem(f->data, f->len, "asm", err, errlen);
	if (!r)
		return -1;
	hs_section sec;
	hs_record rec;
	int n = 0, rc;
	while ((rc = hs_reader_next_section(r, &sec)) != 0)
		while (rc > 0 && hs_reader_next_record(r, &rec) == 1)
			if (rec.kind == HS_K_STRINGS && !strcmp(rec.u.str.s, "hello"))
				n++;
	*complete = hs_reader_complete(r);
	*skipped = hs_reader_skipped(r);
	if (hs_reader_error(r))
		snprintf(err, errlen, "%s", hs_reader_error(r));
	hs_reader_free(r);
	return n;
}

Test(format, newer_minor_and_unknown_optional_are_read)
{
	asm_file f = { 0 };
	asm_header(&f, HS_FORMAT_MAJOR, HS_FORMAT_MINOR + 3);
	asm_section(&f, 200, 0, "whatever", 8, 1);
	asm_section(&f, HS_K_STRINGS, HS_SF_CRITICAL, strings_rec, sizeof(strings_rec), 1);
	asm_finish(&f);
	int complete;
	uint64_t skipped;
	char err[256] = "";
	cr_assert_eq(count_strings(&f, &complete, &skipped, err, sizeof(err)), 1, "%s", err);
	cr_assert(complete, "%s", err);
	cr_assert_eq(skipped, 1);
}

Test(format, unknown_critical_is_refused)
{
	asm_file f = { 0 };
	asm_header(&f, HS_FORMAT_MAJOR, 0);
	asm_section(&f, HS_K_STRINGS, HS_SF_CRITICAL, strings_rec, sizeof(strings_rec), 1);
	asm_section(&f, 201, HS_SF_CRITICAL, "whatever", 8, 1);
	asm_section(&f, HS_K_STRINGS, HS_SF_CRITICAL, strings_rec, sizeof(strings_rec), 1);
	asm_finish(&f);
	int complete;
	uint64_t skipped;
	char err[256] = "";
	/* what came before it stays usable; nothing after it is interpreted */
	cr_assert_eq(count_strings(&f, &complete, &skipped, err, sizeof(err)), 1);
	cr_assert(!complete);
	cr_assert(strstr(err, "unknown critical section kind 201"), "%s", err);
}

Test(format, newer_major_is_refused)
{
	asm_file f = { 0 };
	asm_header(&f, HS_FORMAT_MAJOR + 1, 0);
	asm_finish(&f);
	char err[256] = "";
	hs_reader *r = hs_reader_open_mem(f.data, f.len, "new.hsnap", err, sizeof(err));
	cr_assert_null(r);
	cr_assert(strstr(err, "unsupported format version 2.0"), "%s", err);
}

Test(format, not_a_dump)
{
	char err[256] = "";
	const char junk[] = "PK\x03\x04 this is a zip file, not a heap dump at all";
	cr_assert_null(hs_reader_open_mem(junk, sizeof(junk), "x.zip", err, sizeof(err)));
	cr_assert_str_eq(err, "'x.zip': not a heapsnap dump (bad magic)");
	cr_assert_null(hs_reader_open("/nonexistent/dir/x.hsnap", err, sizeof(err)));
	cr_assert_str_eq(err, "cannot open '/nonexistent/dir/x.hsnap': No such file or directory");
}

Test(format, reserved_header_flags_refused)
{
	asm_file f = { 0 };
	asm_header(&f, HS_FORMAT_MAJOR, 0);
	put32(f.data + 12, 1);
	put32(f.data + 20, hs_crc32c(0, f.data, 20));
	asm_finish(&f);
	char err[256] = "";
	cr_assert_null(hs_reader_open_mem(f.data, f.len, "f", err, sizeof(err)));
	cr_assert(strstr(err, "unknown file flags"), "%s", err);
}

Test(format, crc32c_known_answer)
{
	/* RFC 3720 test vector */
	cr_assert_eq(hs_crc32c(0, "123456789", 9), 0xE3069283u);
	uint8_t zeros[32] = { 0 };
	cr_assert_eq(hs_crc32c(0, zeros, 32), 0x8A9136AAu);
}

Test(format, flush_makes_a_readable_prefix)
{
	hs_membuf buf = { 0 };
	hs_sink sink;
	hs_sink_mem(&sink, &buf);
	char err[128];
	hs_writer *w = hs_writer_new(&sink, NULL, err, sizeof(err));
	cr_assert_not_null(w);
	hs_root r = { .addr = 0x1000, .kind = HS_R_MODULES, .name = hs_writer_string(w, "m", 1) };
	cr_assert_eq(hs_writer_root(w, &r), 0);
	cr_assert_eq(hs_writer_bytes(w), HS_HEADER_SIZE, "nothing is written before a flush");
	cr_assert_eq(hs_writer_flush(w), 0);
	size_t cut = buf.len;
	hs_object o = { .addr = 0x1000, .type = 0, .size = 16 };
	cr_assert_eq(hs_writer_object(w, &o), 0);
	cr_assert_eq(hs_writer_finish(w), 0);
	hs_writer_free(w);
	/* the file as it stood right after the flush: strings and roots intact */
	hs_reader *rd = hs_reader_open_mem(buf.data, cut, "cut", err, sizeof(err));
	cr_assert_not_null(rd, "%s", err);
	hs_section s;
	hs_record rec;
	int roots = 0, rc;
	while ((rc = hs_reader_next_section(rd, &s)) != 0)
		while (rc > 0 && hs_reader_next_record(rd, &rec) == 1)
			if (rec.kind == HS_K_ROOTS) {
				cr_assert_str_eq(hs_reader_string(rd, rec.u.root.name, NULL), "m");
				roots++;
			}
	cr_assert_eq(roots, 1);
	cr_assert(!hs_reader_complete(rd));
	hs_reader_free(rd);
	hs_membuf_free(&buf);
}

/* 1.1: native modules and sites come back as written, the build id and
 * both frame lists included; modules are numbered like types. */
Test(format, native_sections_round_trip)
{
	hs_membuf buf = { 0 };
	hs_sink sink;
	hs_sink_mem(&sink, &buf);
	char err[128];
	hs_writer *w = hs_writer_new(&sink, NULL, err, sizeof(err));
	cr_assert_not_null(w, "%s", err);
	static const uint8_t bid[] = { 0xde, 0xad, 0xbe, 0xef, 0x01 };
	uint64_t lib = hs_writer_string(w, "/usr/lib/libcodec.so", 20);
	uint64_t sym = hs_writer_string(w, "codec_open", 10);
	uint64_t file = hs_writer_string(w, "worker.py", 9), fn = hs_writer_string(w, "handle", 6);
	cr_assert_eq(hs_writer_native_module(w, lib, bid, sizeof(bid)), 1);
	cr_assert_eq(hs_writer_native_module(w, lib, NULL, 0), 2);
	hs_native_frame nf[2] = { { 1, 0x1234, sym }, { 0, 0x7fff00001000ull, 0 } };
	hs_py_frame py[1] = { { file, 31, fn } };
	hs_native_site s = { .alloc = 4, .count = 3, .bytes = 48 << 20, .n = 2, .frames = nf,
	                     .npy = 1, .py = py };
	cr_assert_eq(hs_writer_native_site(w, &s), 0);
	cr_assert_eq(hs_writer_finish(w), 0, "%s", hs_writer_error(w));
	hs_writer_free(w);

	hs_reader *r = hs_reader_open_mem(buf.data, buf.len, "mem", err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	unsigned major, minor;
	hs_reader_version(r, &major, &minor);
	cr_assert_eq(minor, 1);
	hs_section sec;
	hs_record rec;
	int rc, modules = 0, sites = 0;
	while ((rc = hs_reader_next_section(r, &sec)) != 0)
		while (rc > 0 && hs_reader_next_record(r, &rec) == 1) {
			if (rec.kind == HS_K_NATIVE_MODULES) {
				const hs_native_module *m = &rec.u.native_module;
				cr_assert_eq(m->id, (uint64_t)++modules);
				cr_assert_str_eq(hs_reader_string(r, m->path, NULL), "/usr/lib/libcodec.so");
				cr_assert_eq(m->build_id_len, modules == 1 ? sizeof(bid) : 0);
				if (modules == 1)
					cr_assert_arr_eq(m->build_id, bid, sizeof(bid));
			} else if (rec.kind == HS_K_NATIVE_SITES) {
				const hs_native_site *g = &rec.u.native_site;
				sites++;
				cr_assert_eq(g->alloc, 4);
				cr_assert_eq(g->count, 3);
				cr_assert_eq(g->bytes, 48u << 20);
				cr_assert_eq(g->n, 2);
				cr_assert_eq(g->frames[0].module, 1);
				cr_assert_eq(g->frames[0].addr, 0x1234);
				cr_assert_str_eq(hs_reader_string(r, g->frames[0].symbol, NULL), "codec_open");
				cr_assert_eq(g->frames[1].module, 0);
				cr_assert_eq(g->frames[1].addr, 0x7fff00001000ull);
				cr_assert_eq(g->frames[1].symbol, 0);
				cr_assert_eq(g->npy, 1);
				cr_assert_str_eq(hs_reader_string(r, g->py[0].file, NULL), "worker.py");
				cr_assert_eq(g->py[0].line, 31);
				cr_assert_str_eq(hs_reader_string(r, g->py[0].function, NULL), "handle");
			}
		}
	cr_assert(hs_reader_complete(r), "%s", hs_reader_error(r));
	cr_assert_eq(modules, 2);
	cr_assert_eq(sites, 1);
	cr_assert_str_eq(hs_kind_name(HS_K_NATIVE_SITES), "native-sites");
	hs_reader_free(r);
	hs_membuf_free(&buf);
}
