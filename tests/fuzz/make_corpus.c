/*
 * make_corpus - writes the seed corpus of the fuzz targets:
 *
 *   fuzz_corpus DIR
 *
 * DIR/reader: small dumps with every record kind (complete, cut off after
 * a flush, empty), for fuzz_reader. DIR/records: the same dump as the
 * sections input of fuzz_records (with and without its index and
 * trailer), and a few fixed pseudo-random writer programs. The committed
 * tests/fuzz/corpus is its output; rerun it when the format changes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzzutil.h"
#include "internal.h"

static const char *dir;

static void die(const char *what, const char *path)
{
	fprintf(stderr, "fuzz_corpus: %s '%s': %s\n", what, path, strerror(errno));
	exit(1);
}

static void save(const char *sub, const char *name, const void *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if (mkdir(path, 0777) < 0 && errno != EEXIST)
		die("cannot create", path);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		die("cannot write", path);
}

/* A small heap: every record kind, several sections of each. The
 * returned length is where the file stood after the first flush. */
static size_t write_dump(hs_membuf *out)
{
	hs_sink sink;
	hs_sink_mem(&sink, out);
	hs_writer_opts o = { .section_size = 512 };
	char err[256];
	hs_writer *w = hs_writer_new(&sink, &o, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "fuzz_corpus: %s\n", err);
		exit(1);
	}
	hs_writer_meta_str(w, "python.version", "3.11.7");
	hs_writer_meta_uint(w, "pid", 4242);
	hs_writer_meta_int(w, "gc.count0", -1);
	hs_writer_meta_f64(w, "time", 1700000000.25);
	const char *tn[4] = { "dict", "list", "str", "app.Thing" };
	uint64_t tname[4];
	for (int t = 0; t < 4; t++) {
		tname[t] = hs_writer_string(w, tn[t], strlen(tn[t]));
		hs_writer_type(w, 0x55d4a0001000ull + (uint64_t)t * 0x400, tname[t]);
	}
	uint64_t file = hs_writer_string(w, "app.py", 6);
	uint64_t frames[2] = { hs_writer_frame(w, file, 10), hs_writer_frame(w, file, 20) };
	uint64_t tb = hs_writer_traceback(w, 3, frames, 2);
	hs_root root = { .addr = 0x7f0000000000ull, .kind = HS_R_MODULES, .name = tname[0] };
	hs_writer_root(w, &root);
	hs_writer_flush(w);
	size_t cut = out->len;
	for (uint64_t i = 0; i < 40; i++) {
		char val[32];
		hs_object ob = { .addr = 0x7f0000000000ull + i * 48, .type = 1 + i % 4,
		                 .size = 16 + i, .refcnt = 1 + i % 3,
		                 .flags = HS_OF_GC_TRACKED | (uint32_t)(i % 3) << HS_OF_GEN_SHIFT |
		                          HS_OF_HAS_LEN, .len = i % 7 };
		if (i % 4 == 2) {
			ob.flags |= HS_OF_HAS_VALUE | (i % 8 == 2 ? HS_OF_VALUE_TRUNC : 0);
			ob.value = (const uint8_t *)val;
			ob.value_len = (size_t)snprintf(val, sizeof(val), "item-%llu", (unsigned long long)i);
		}
		if (i % 5 == 0) {
			ob.flags |= HS_OF_HAS_NAME | HS_OF_HAS_TRACE;
			ob.name = tname[3];
			ob.trace = tb;
		}
		hs_writer_object(w, &ob);
		hs_edge e[3] = {
			{ ob.addr + 48, HS_E_INDEX, i },
			{ 0x55d4a0001000ull, HS_E_CLASS, 0 },            /* far */
			{ ob.addr - 96, HS_E_DICT_VALUE, tname[i % 4] },
		};
		hs_writer_refs(w, ob.addr, e, 1 + i % 3);
		if (i % 10 == 9) /* more edges later: a refs record of its own */
			hs_writer_refs(w, ob.addr, e + 1, 2);
	}
	hs_site site = { .traceback = tb, .domain = 0, .count = 3, .bytes = 300 };
	hs_writer_site(w, &site);
	hs_thread th = { .ident = 140000, .native_id = 77, .name = tname[3],
	                 .frame = 0x7f0000000030ull, .flags = 3 };
	hs_writer_thread(w, &th);
	hs_await ch[2] = { { 0x7f0000000060ull, tname[3], file, 52 },
	                   { 0x7f0000000090ull, tname[2], 0, 0 } };
	hs_task tk = { .addr = 0x7f00000000c0ull, .state = HS_T_PENDING, .name = tname[1],
	               .coro = 0x7f0000000060ull, .awaited = 0x7f0000000090ull, .n = 2,
	               .chain = ch };
	hs_writer_task(w, &tk);
	if (hs_writer_finish(w) < 0) {
		fprintf(stderr, "fuzz_corpus: %s\n", hs_writer_error(w));
		exit(1);
	}
	hs_writer_free(w);
	return cut;
}

/* The sections input of fuzz_records (see there). */
static void save_sections(const char *name, const fz_file *f, uint8_t mode)
{
	hs_membuf b = { 0 };
	hs_sink s;
	hs_sink_mem(&s, &b);
	int rc = s.write(s.ctx, &mode, 1);
	for (size_t i = 0; i < f->n && !rc; i++) {
		uint8_t h[2 + 2 * HS_VARINT_MAX] = { (uint8_t)f->s[i].kind, (uint8_t)f->s[i].flags };
		size_t n = 2 + hs_put_varint(h + 2, f->s[i].count);
		n += hs_put_varint(h + n, f->s[i].raw_len);
		rc = s.write(s.ctx, h, n) || s.write(s.ctx, f->s[i].raw, f->s[i].raw_len);
	}
	if (rc) {
		fprintf(stderr, "fuzz_corpus: out of memory\n");
		exit(1);
	}
	save("records", name, b.data, b.len);
	hs_membuf_free(&b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_corpus DIR\n");
		return 2;
	}
	dir = argv[1];
	if (mkdir(dir, 0777) < 0 && errno != EEXIST)
		die("cannot create", dir);
	hs_membuf dump = { 0 };
	size_t cut = write_dump(&dump);
	save("reader", "all_kinds", dump.data, dump.len);
	save("reader", "cut_after_flush", dump.data, cut);
	fz_file none = { 0 }, f = { 0 };
	hs_membuf empty = { 0 };
	if (fz_seal(&none, 1, &empty) < 0 || fz_split(dump.data, dump.len, &f) < 0) {
		fprintf(stderr, "fuzz_corpus: cannot take the dump apart\n");
		return 1;
	}
	save("reader", "empty", empty.data, empty.len);
	save_sections("sections_all_kinds", &f, 1);
	save_sections("sections_no_trailer", &f, 3);
	/* writer programs: any bytes are one; these start from fixed ones */
	uint64_t x = 88172645463325252ull;
	for (int k = 0; k < 3; k++) {
		uint8_t prog[512];
		for (size_t i = 0; i < sizeof(prog); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			prog[i] = (uint8_t)x;
		}
		prog[0] = (uint8_t)(2 * k); /* even: a program */
		char name[32];
		snprintf(name, sizeof(name), "program_%d", k);
		save("records", name, prog, sizeof(prog));
	}
	fz_file_free(&f);
	hs_membuf_free(&empty);
	hs_membuf_free(&dump);
	return 0;
}
