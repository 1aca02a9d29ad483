/* fuzzutil.c - see fuzzutil.h. */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "fuzzutil.h"
#include "internal.h"

/* Sections raw_len above this are not taken apart (the writer never
 * writes one in a fuzz run). */
#define MAX_SPLIT_RAW (1u << 24)

int fz_add(fz_file *f, unsigned kind, unsigned flags, uint64_t count, const void *raw,
           size_t len)
{
	if (f->n == f->cap) {
		size_t ncap = f->cap ? 2 * f->cap : 16;
		fz_section *ns = realloc(f->s, ncap * sizeof(*ns));
		if (!ns)
			return -1;
		f->s = ns;
		f->cap = ncap;
	}
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -1;
	if (len)
		memcpy(copy, raw, len);
	f->s[f->n++] = (fz_section){ kind, flags, count, copy, len };
	return 0;
}

int fz_split(const uint8_t *data, size_t len, fz_file *f)
{
	int rc = -1;
	uint8_t *raw = NULL;
	if (len < HS_HEADER_SIZE)
		return -1;
	for (size_t pos = hs_get_le32(data + 16); pos + HS_SECTION_HEADER_SIZE <= len;) {
		const uint8_t *h = data + pos;
		if (hs_get_le32(h) != HS_SECTION_SYNC)
			goto done;
		unsigned kind = hs_get_le16(h + 4), flags = hs_get_le16(h + 6);
		uint64_t count = hs_get_le64(h + 8), clen = hs_get_le64(h + 16),
		         rlen = hs_get_le64(h + 24);
		pos += HS_SECTION_HEADER_SIZE;
		if (clen > len - pos || rlen > MAX_SPLIT_RAW)
			goto done;
		if (kind == HS_K_INDEX)
			break;
		if (!(raw = malloc(rlen ? rlen : 1)) ||
		    ZSTD_decompress(raw, rlen, data + pos, clen) != rlen ||
		    fz_add(f, kind, flags, count, raw, rlen) < 0)
			goto done;
		free(raw);
		raw = NULL;
		pos += clen;
	}
	rc = 0;
done:
	free(raw);
	return rc;
}

/* One section: header and payload, the checksums computed. */
static int put_section(const hs_sink *out, ZSTD_CCtx *cctx, uint8_t **zbuf, size_t *zcap,
                       unsigned kind, unsigned flags, uint64_t count, const uint8_t *raw,
                       size_t raw_len)
{
	size_t bound = ZSTD_compressBound(raw_len);
	if (bound > *zcap) {
		uint8_t *nz = realloc(*zbuf, bound);
		if (!nz)
			return -1;
		*zbuf = nz;
		*zcap = bound;
	}
	size_t clen = ZSTD_compress2(cctx, *zbuf, *zcap, raw, raw_len);
	if (ZSTD_isError(clen))
		return -1;
	uint8_t h[HS_SECTION_HEADER_SIZE];
	hs_put_le32(h, HS_SECTION_SYNC);
	hs_put_le16(h + 4, (uint16_t)kind);
	hs_put_le16(h + 6, (uint16_t)flags);
	hs_put_le64(h + 8, count);
	hs_put_le64(h + 16, clen);
	hs_put_le64(h + 24, raw_len);
	hs_put_le32(h + 32, hs_crc32c(0, *zbuf, clen));
	hs_put_le32(h + 36, hs_crc32c(0, h, 36));
	if (out->write(out->ctx, h, sizeof(h)) < 0 || out->write(out->ctx, *zbuf, clen) < 0)
		return -1;
	return 0;
}

int fz_seal(const fz_file *f, int complete, hs_membuf *out)
{
	int rc = -1;
	hs_sink sink;
	hs_sink_mem(&sink, out);
	size_t start = out->len, zcap = 0;
	uint8_t *zbuf = NULL;
	hs_membuf index = { 0 };
	hs_sink isink;
	hs_sink_mem(&isink, &index);
	/* one context for the process: its allocation costs more than a seal;
	 * level 1, since the seal runs on every fuzz input */
	static ZSTD_CCtx *cctx;
	if (!cctx && (!(cctx = ZSTD_createCCtx()) ||
	              ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1)) ||
	              ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)))) {
		ZSTD_freeCCtx(cctx);
		cctx = NULL;
		goto done;
	}
	uint8_t hdr[HS_HEADER_SIZE];
	memcpy(hdr, HS_MAGIC, 8);
	hs_put_le16(hdr + 8, HS_FORMAT_MAJOR);
	hs_put_le16(hdr + 10, HS_FORMAT_MINOR);
	hs_put_le32(hdr + 12, 0);
	hs_put_le32(hdr + 16, HS_HEADER_SIZE);
	hs_put_le32(hdr + 20, hs_crc32c(0, hdr, 20));
	if (sink.write(sink.ctx, hdr, sizeof(hdr)) < 0)
		goto done;
	for (size_t i = 0; i < f->n; i++) {
		const fz_section *s = &f->s[i];
		uint64_t off = out->len - start;
		if (put_section(&sink, cctx, &zbuf, &zcap, s->kind, s->flags, s->count, s->raw,
		                s->raw_len) < 0)
			goto done;
		uint64_t clen = out->len - start - off - HS_SECTION_HEADER_SIZE;
		uint64_t v[6] = { off, s->kind, s->flags, s->count, clen, s->raw_len };
		uint8_t rec[1 + 6 * HS_VARINT_MAX];
		size_t n = 0;
		for (int k = 0; k < 6; k++)
			n += hs_put_varint(rec + 1 + n, v[k]);
		rec[0] = (uint8_t)n; /* < 128: a one-byte varint */
		if (isink.write(isink.ctx, rec, n + 1) < 0)
			goto done;
	}
	if (complete) {
		uint64_t index_off = out->len - start;
		if (put_section(&sink, cctx, &zbuf, &zcap, HS_K_INDEX, 0, f->n, index.data,
		                index.len) < 0)
			goto done;
		uint8_t t[HS_TRAILER_SIZE];
		hs_put_le64(t, index_off);
		hs_put_le64(t + 8, f->n);
		hs_put_le32(t + 16, hs_crc32c(0, out->data + start, out->len - start));
		hs_put_le32(t + 20, hs_crc32c(0, t, 20));
		memcpy(t + 24, HS_END_MAGIC, 8);
		if (sink.write(sink.ctx, t, sizeof(t)) < 0)
			goto done;
	}
	rc = 0;
done:
	free(zbuf);
	hs_membuf_free(&index);
	return rc;
}

void fz_file_free(fz_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		free(f->s[i].raw);
	free(f->s);
	memset(f, 0, sizeof(*f));
}

/* Looks a string id up the way the analyzer does; the checksum reads
 * every byte, so that ASan sees a string that is not all there. */
static void string_of(const hs_reader *r, uint64_t id)
{
	size_t len = 0;
	const char *s = hs_reader_string(r, id, &len);
	if (s)
		(void)hs_crc32c(0, s, len + 1); /* the NUL too */
}

static void touch_record(const hs_reader *r, const hs_record *rec)
{
	switch (rec->kind) {
	case HS_K_TYPES:
		string_of(r, rec->u.type.name);
		break;
	case HS_K_OBJECTS:
		string_of(r, rec->u.object.name);
		break;
	case HS_K_REFS:
		for (uint64_t i = 0; i < rec->u.refs.n; i++) {
			(void)hs_edge_kind_name(rec->u.refs.edges[i].kind);
			string_of(r, rec->u.refs.edges[i].label);
		}
		break;
	case HS_K_ROOTS:
		(void)hs_root_kind_name(rec->u.root.kind);
		string_of(r, rec->u.root.name);
		break;
	case HS_K_FRAMES:
		string_of(r, rec->u.frame.filename);
		break;
	case HS_K_TRACEBACKS:
		(void)hs_crc32c(0, rec->u.traceback.frames,
		                rec->u.traceback.n * sizeof(*rec->u.traceback.frames));
		break;
	case HS_K_THREADS:
		string_of(r, rec->u.thread.name);
		break;
	case HS_K_TASKS:
		(void)hs_task_state_name(rec->u.task.state);
		string_of(r, rec->u.task.name);
		for (uint64_t i = 0; i < rec->u.task.n; i++) {
			string_of(r, rec->u.task.chain[i].name);
			string_of(r, rec->u.task.chain[i].file);
		}
		break;
	default:
		break;
	}
}

void fz_read_all(const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return;
	if (len)
		memcpy(copy, data, len);
	char err[256];
	hs_reader *r = hs_reader_open_mem(copy, len, "fuzz", err, sizeof(err));
	if (r) {
		hs_section s;
		hs_record rec;
		int rc;
		while ((rc = hs_reader_next_section(r, &s)) != 0) {
			(void)hs_kind_name(s.kind);
			while (rc > 0 && hs_reader_next_record(r, &rec) == 1)
				touch_record(r, &rec);
		}
		(void)hs_reader_complete(r);
		(void)hs_reader_error(r);
		hs_reader_free(r);
	}
	free(copy);
}
