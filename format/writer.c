/*
 * writer.c - streaming .hsnap writer.
 *
 * Records are encoded into one buffer per section kind; a buffer that
 * passes the section size is compressed into one zstd frame and written
 * out, so memory stays bounded whatever the dump size. Before a section is
 * written, every pending section of a lower dependency rank is written
 * first, so any prefix of the file only refers to ids it already defined.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem, for the caller's allocator */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "hsnap.h"
#include "internal.h"

#define NKINDS (HS_K_MAX_KNOWN + 1)
/* Edges per refs record: bounds one record's size for huge containers. */
#define MAX_EDGES_PER_RECORD 65536
/* Interned strings longer than this are not deduplicated. */
#define DEDUP_MAX_LEN 256
/* The dedup table stops growing here; later strings still get ids. */
#define DEDUP_MAX_SLOTS (1u << 22)

typedef struct kbuf {
	uint8_t *p;
	size_t len, cap;
	uint8_t *a;          /* address stream (objects, refs) */
	size_t alen, acap;
	uint64_t count;      /* records in the pending section */
	uint64_t total;      /* records of this kind in the whole file */
	int64_t prev_addr;   /* delta base (objects, refs), reset per section */
} kbuf;

typedef struct slot {
	uint64_t hash;
	uint64_t id;         /* 0: empty */
	uint32_t off, len;   /* bytes in the key arena */
} slot;

struct hs_writer {
	hs_sink sink;
	int level;
	size_t section_size;
	void *(*m)(size_t);
	void *(*re)(void *, size_t);
	void (*fr)(void *);
	ZSTD_CCtx *cctx;
	uint8_t *zbuf;
	size_t zcap;
	kbuf b[NKINDS];
	uint8_t *scratch;    /* one record being encoded */
	size_t scratch_cap;
	uint8_t *ascratch;   /* its addresses */
	size_t alen, ascratch_cap;
	uint64_t bytes;
	uint32_t file_crc;
	uint64_t next_string, next_type, next_frame, next_traceback, next_module;
	slot *slots;
	size_t nslots, used;
	uint8_t *keys;
	size_t keys_len, keys_cap;
	hs_index_entry *index;
	size_t nindex, index_cap;
	/* the last object, held back so that its edges can join its record */
	hs_object pending;
	int has_pending;
	uint8_t *pvalue;
	size_t pvalue_cap;
	int failed, finished;
	char err[256];
};

static int fail(hs_writer *w, const char *fmt, ...)
{
	if (!w->failed) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(w->err, sizeof(w->err), fmt, ap);
		va_end(ap);
		w->failed = 1;
	}
	return -1;
}

/* Grows *p to hold at least need bytes; returns 0 or -1 (sticky error). */
static int reserve(hs_writer *w, uint8_t **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 4096;
	while (ncap < need)
		ncap *= 2;
	uint8_t *np = w->re(*p, ncap);
	if (!np)
		return fail(w, "out of memory growing a buffer to %zu bytes", ncap);
	*p = np;
	*cap = ncap;
	return 0;
}

static int emit(hs_writer *w, const void *data, size_t len)
{
	if (w->failed)
		return -1;
	if (w->sink.write(w->sink.ctx, data, len) < 0)
		return fail(w, "write failed: %s", strerror(errno));
	w->file_crc = hs_crc32c(w->file_crc, data, len);
	w->bytes += len;
	return 0;
}

/* Compresses the concatenation of the parts into one zstd frame in zbuf;
 * returns the compressed length, or 0 on error. */
static size_t compress_parts(hs_writer *w, const uint8_t *const *part,
                             const size_t *plen, int nparts)
{
	size_t raw_len = 0;
	for (int i = 0; i < nparts; i++)
		raw_len += plen[i];
	if (reserve(w, &w->zbuf, &w->zcap, ZSTD_compressBound(raw_len)) < 0)
		return 0;
	size_t rc = ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_only);
	if (!ZSTD_isError(rc))
		rc = ZSTD_CCtx_setPledgedSrcSize(w->cctx, raw_len);
	ZSTD_outBuffer out = { w->zbuf, w->zcap, 0 };
	for (int i = 0; i < nparts && !ZSTD_isError(rc); i++) {
		ZSTD_inBuffer in = { part[i], plen[i], 0 };
		ZSTD_EndDirective end = i == nparts - 1 ? ZSTD_e_end : ZSTD_e_continue;
		do
			rc = ZSTD_compressStream2(w->cctx, &out, &in, end);
		while (!ZSTD_isError(rc) && (in.pos < in.size || (end == ZSTD_e_end && rc)));
	}
	if (ZSTD_isError(rc))
		return fail(w, "compression failed: %s", ZSTD_getErrorName(rc)), 0;
	return out.pos;
}

static int write_section(hs_writer *w, unsigned kind, uint16_t flags,
                         const uint8_t *const *part, const size_t *plen, int nparts,
                         uint64_t count)
{
	size_t raw_len = 0;
	for (int i = 0; i < nparts; i++)
		raw_len += plen[i];
	size_t clen = compress_parts(w, part, plen, nparts);
	if (!clen)
		return -1;
	if (w->nindex == w->index_cap) {
		size_t ncap = w->index_cap ? w->index_cap * 2 : 64;
		hs_index_entry *ni = w->re(w->index, ncap * sizeof(*ni));
		if (!ni)
			return fail(w, "out of memory growing the section index");
		w->index = ni;
		w->index_cap = ncap;
	}
	w->index[w->nindex++] = (hs_index_entry){
		.offset = w->bytes, .kind = kind, .flags = flags, .count = count,
		.comp_len = clen, .raw_len = raw_len,
	};
	uint8_t h[HS_SECTION_HEADER_SIZE];
	hs_put_le32(h, HS_SECTION_SYNC);
	hs_put_le16(h + 4, (uint16_t)kind);
	hs_put_le16(h + 6, flags);
	hs_put_le64(h + 8, count);
	hs_put_le64(h + 16, clen);
	hs_put_le64(h + 24, raw_len);
	hs_put_le32(h + 32, hs_crc32c(0, w->zbuf, clen));
	hs_put_le32(h + 36, hs_crc32c(0, h, 36));
	if (emit(w, h, sizeof(h)) < 0 || emit(w, w->zbuf, clen) < 0)
		return -1;
	return 0;
}

static uint16_t kind_flags(unsigned kind)
{
	switch (kind) {
	case HS_K_STRINGS:
	case HS_K_TYPES:
	case HS_K_OBJECTS:
	case HS_K_REFS:
		return HS_SF_CRITICAL;
	default:
		return 0;
	}
}

static int flush_kind(hs_writer *w, unsigned kind)
{
	kbuf *b = &w->b[kind];
	if (!b->len)
		return 0;
	/* dependencies first: lower ranks define the ids this section uses */
	for (unsigned k = 1; k < NKINDS; k++)
		if (k != kind && w->b[k].len && hs_kind_rank(k) < hs_kind_rank(kind) &&
		    flush_kind(w, k) < 0)
			return -1;
	/* objects and refs: records, then their address stream (FORMAT.md) */
	uint8_t pre[HS_VARINT_MAX];
	int split = hs_has_addr_stream(kind);
	const uint8_t *part[3] = { pre, b->p, b->a };
	size_t plen[3] = { split ? hs_put_varint(pre, b->len) : 0, b->len, split ? b->alen : 0 };
	if (write_section(w, kind, kind_flags(kind), part, plen, 3, b->count) < 0)
		return -1;
	b->len = 0;
	b->alen = 0;
	b->count = 0;
	b->prev_addr = 0;
	return 0;
}

/* Appends the record in w->scratch[0..len), and its addresses in
 * w->ascratch, to its kind's buffers. */
static int commit(hs_writer *w, unsigned kind, size_t len)
{
	kbuf *b = &w->b[kind];
	size_t alen = w->alen;
	w->alen = 0;
	if (w->failed)
		return -1;
	if (reserve(w, &b->p, &b->cap, b->len + HS_VARINT_MAX + len) < 0 ||
	    reserve(w, &b->a, &b->acap, b->alen + alen) < 0)
		return -1;
	b->len += hs_put_varint(b->p + b->len, len);
	memcpy(b->p + b->len, w->scratch, len);
	b->len += len;
	if (alen) { /* most kinds have no address stream: b->a stays NULL */
		memcpy(b->a + b->alen, w->ascratch, alen);
		b->alen += alen;
	}
	b->count++;
	b->total++;
	if (b->len + b->alen >= w->section_size)
		return flush_kind(w, kind);
	return 0;
}

/* Makes sure the address scratch buffer has room for need more bytes;
 * returns its write position. */
static uint8_t *ascratch(hs_writer *w, size_t need)
{
	if (reserve(w, &w->ascratch, &w->ascratch_cap, w->alen + need) < 0)
		return NULL;
	return w->ascratch + w->alen;
}

/* Makes sure the scratch buffer holds need bytes. */
static uint8_t *scratch(hs_writer *w, size_t need)
{
	if (reserve(w, &w->scratch, &w->scratch_cap, need) < 0)
		return NULL;
	return w->scratch;
}

static size_t put_bytes(uint8_t *p, const void *s, size_t len)
{
	size_t n = hs_put_varint(p, len);
	if (len)
		memcpy(p + n, s, len);
	return n + len;
}

static void *default_realloc(void *p, size_t n)
{
	return realloc(p, n);
}

static void *zalloc(void *opaque, size_t n)
{
	return ((hs_writer *)opaque)->m(n);
}

static void zfree(void *opaque, void *p)
{
	((hs_writer *)opaque)->fr(p);
}

hs_writer *hs_writer_new(const hs_sink *sink, const hs_writer_opts *opts,
                         char *err, size_t errlen)
{
	void *(*m)(size_t) = opts && opts->malloc_fn ? opts->malloc_fn : malloc;
	hs_writer *w = m(sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "out of memory creating a writer");
		return NULL;
	}
	memset(w, 0, sizeof(*w));
	w->sink = *sink;
	w->m = m;
	w->re = opts && opts->realloc_fn ? opts->realloc_fn : default_realloc;
	w->fr = opts && opts->free_fn ? opts->free_fn : free;
	w->level = opts && opts->level ? opts->level : 3;
	w->section_size = opts && opts->section_size ? opts->section_size : (1u << 20);
	w->next_string = w->next_type = w->next_frame = w->next_traceback = 1;
	w->next_module = 1;
	ZSTD_customMem cm = { zalloc, zfree, w };
	w->cctx = ZSTD_createCCtx_advanced(cm);
	if (!w->cctx) {
		snprintf(err, errlen, "out of memory creating a zstd context");
		goto fail;
	}
	if (ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, w->level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1))) {
		snprintf(err, errlen, "invalid zstd level %d", w->level);
		goto fail;
	}
	uint8_t h[HS_HEADER_SIZE];
	memcpy(h, HS_MAGIC, 8);
	hs_put_le16(h + 8, HS_FORMAT_MAJOR);
	hs_put_le16(h + 10, HS_FORMAT_MINOR);
	hs_put_le32(h + 12, 0);
	hs_put_le32(h + 16, HS_HEADER_SIZE);
	hs_put_le32(h + 20, hs_crc32c(0, h, 20));
	if (emit(w, h, sizeof(h)) < 0) {
		snprintf(err, errlen, "%s", w->err);
		goto fail;
	}
	return w;
fail:
	hs_writer_free(w);
	return NULL;
}

static uint64_t hash_bytes(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a: short keys, good enough */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
	return h | 1;
}

static int grow_slots(hs_writer *w)
{
	size_t n = w->nslots ? w->nslots * 2 : 4096;
	slot *ns = w->m(n * sizeof(*ns));
	if (!ns)
		return -1;
	memset(ns, 0, n * sizeof(*ns));
	for (size_t i = 0; i < w->nslots; i++) {
		if (!w->slots[i].id)
			continue;
		size_t j = w->slots[i].hash & (n - 1);
		while (ns[j].id)
			j = (j + 1) & (n - 1);
		ns[j] = w->slots[i];
	}
	w->fr(w->slots);
	w->slots = ns;
	w->nslots = n;
	return 0;
}

uint64_t hs_writer_string(hs_writer *w, const char *s, size_t len)
{
	if (w->failed)
		return 0;
	int dedup = len <= DEDUP_MAX_LEN;
	uint64_t h = 0;
	slot *free_slot = NULL;
	if (dedup) {
		if (w->used * 2 >= w->nslots && w->nslots < DEDUP_MAX_SLOTS &&
		    grow_slots(w) < 0)
			return fail(w, "out of memory growing the string table"), 0;
		h = hash_bytes(s, len);
		size_t mask = w->nslots - 1;
		/* a full table (at its cap) just stops deduplicating */
		for (size_t j = h & mask, probes = 0; probes < 64; j = (j + 1) & mask, probes++) {
			slot *sl = &w->slots[j];
			if (!sl->id) {
				free_slot = w->used * 4 < w->nslots * 3 ? sl : NULL;
				break;
			}
			if (sl->hash == h && sl->len == len &&
			    (!len || !memcmp(w->keys + sl->off, s, len)))
				return sl->id;
		}
	}
	uint64_t id = w->next_string++;
	uint8_t *p = scratch(w, 2 * HS_VARINT_MAX + len);
	if (!p)
		return 0;
	size_t n = hs_put_varint(p, id);
	n += put_bytes(p + n, s, len);
	if (free_slot) {
		ptrdiff_t at = free_slot - w->slots;
		if (reserve(w, &w->keys, &w->keys_cap, w->keys_len + len) < 0)
			return 0;
		free_slot = w->slots + at;
		if (len) /* keys stays NULL while every key is "" */
			memcpy(w->keys + w->keys_len, s, len);
		*free_slot = (slot){ .hash = h, .id = id, .off = (uint32_t)w->keys_len,
		                     .len = (uint32_t)len };
		w->keys_len += len;
		w->used++;
	}
	if (commit(w, HS_K_STRINGS, n) < 0)
		return 0;
	return id;
}

int hs_writer_meta(hs_writer *w, const hs_meta *mt)
{
	uint8_t *p = scratch(w, 4 * HS_VARINT_MAX + mt->key_len + mt->s_len + 8);
	if (!p)
		return -1;
	size_t n = put_bytes(p, mt->key, mt->key_len);
	n += hs_put_varint(p + n, (uint64_t)mt->type);
	switch (mt->type) {
	case HS_M_UINT:
		n += hs_put_varint(p + n, mt->u);
		break;
	case HS_M_INT:
		n += hs_put_varint(p + n, hs_zigzag(mt->i));
		break;
	case HS_M_STR:
		n += put_bytes(p + n, mt->s, mt->s_len);
		break;
	case HS_M_F64: {
		uint64_t bits;
		memcpy(&bits, &mt->f, 8);
		hs_put_le64(p + n, bits);
		n += 8;
		break;
	}
	default:
		return fail(w, "invalid metadata type %d", mt->type);
	}
	return commit(w, HS_K_META, n);
}

int hs_writer_meta_str(hs_writer *w, const char *key, const char *val)
{
	hs_meta m = { .key = key, .key_len = strlen(key), .type = HS_M_STR,
	              .s = val, .s_len = strlen(val) };
	return hs_writer_meta(w, &m);
}

int hs_writer_meta_uint(hs_writer *w, const char *key, uint64_t val)
{
	hs_meta m = { .key = key, .key_len = strlen(key), .type = HS_M_UINT, .u = val };
	return hs_writer_meta(w, &m);
}

int hs_writer_meta_int(hs_writer *w, const char *key, int64_t val)
{
	hs_meta m = { .key = key, .key_len = strlen(key), .type = HS_M_INT, .i = val };
	return hs_writer_meta(w, &m);
}

int hs_writer_meta_f64(hs_writer *w, const char *key, double val)
{
	hs_meta m = { .key = key, .key_len = strlen(key), .type = HS_M_F64, .f = val };
	return hs_writer_meta(w, &m);
}

/* A record of an id from *next and two values (types, frames). */
static uint64_t id_record(hs_writer *w, unsigned kind, uint64_t *next, uint64_t a,
                          uint64_t b)
{
	uint8_t *p = scratch(w, 3 * HS_VARINT_MAX);
	if (!p)
		return 0;
	uint64_t id = (*next)++;
	size_t n = hs_put_varint(p, id);
	n += hs_put_varint(p + n, a);
	n += hs_put_varint(p + n, b);
	return commit(w, kind, n) < 0 ? 0 : id;
}

uint64_t hs_writer_type(hs_writer *w, uint64_t addr, uint64_t name)
{
	return id_record(w, HS_K_TYPES, &w->next_type, addr, name);
}

/* Addresses are written as zigzag deltas from the previous one in the
 * same section: heap neighbours are close, so deltas are short. */
static void put_addr(hs_writer *w, kbuf *b, uint64_t addr)
{
	w->alen += hs_put_varint(w->ascratch + w->alen,
	                         hs_zigzag((int64_t)(addr - (uint64_t)b->prev_addr)));
	b->prev_addr = (int64_t)addr;
}

static size_t put_edges(hs_writer *w, uint8_t *p, uint64_t src, const hs_edge *e,
                        size_t n);

/* Encodes the held-back object, with up to n of its edges, and commits it. */
static int commit_object(hs_writer *w, const hs_edge *e, size_t n_edges)
{
	const hs_object *o = &w->pending;
	w->has_pending = 0;
	uint32_t flags = o->flags | (n_edges ? HS_OF_HAS_REFS : 0);
	size_t vlen = (flags & HS_OF_HAS_VALUE) ? o->value_len : 0;
	uint8_t *p = scratch(w, (10 + 3 * n_edges) * HS_VARINT_MAX + vlen);
	if (!p || !ascratch(w, (1 + 2 * n_edges) * HS_VARINT_MAX))
		return -1;
	put_addr(w, &w->b[HS_K_OBJECTS], o->addr);
	size_t n = hs_put_varint(p, o->type);
	n += hs_put_varint(p + n, o->size);
	n += hs_put_varint(p + n, o->refcnt);
	n += hs_put_varint(p + n, flags);
	if (flags & HS_OF_HAS_LEN)
		n += hs_put_varint(p + n, o->len);
	if (flags & HS_OF_HAS_VALUE)
		n += put_bytes(p + n, w->pvalue, vlen);
	if (flags & HS_OF_HAS_NAME)
		n += hs_put_varint(p + n, o->name);
	if (flags & HS_OF_HAS_TRACE)
		n += hs_put_varint(p + n, o->trace);
	if (n_edges) {
		n += put_edges(w, p + n, o->addr, e, n_edges);
		w->b[HS_K_REFS].total++;
	}
	return commit(w, HS_K_OBJECTS, n);
}

int hs_writer_object(hs_writer *w, const hs_object *o)
{
	if (o->flags & ~HS_OF_KNOWN_MASK)
		return fail(w, "object 0x%llx has unknown flags 0x%x",
		            (unsigned long long)o->addr, o->flags);
	if (w->has_pending && commit_object(w, NULL, 0) < 0)
		return -1;
	size_t vlen = (o->flags & HS_OF_HAS_VALUE) ? o->value_len : 0;
	if (reserve(w, &w->pvalue, &w->pvalue_cap, vlen) < 0)
		return -1;
	if (vlen)
		memcpy(w->pvalue, o->value, vlen);
	w->pending = *o;
	w->has_pending = 1;
	return 0;
}

/* Near referents (a dict's values allocated after it) are stored as a
 * delta from the source: varint(zigzag(delta) << 1). Far ones (interned
 * strings, types, shared singletons) as varint(1) then the absolute
 * address, since the same absolute value repeats and zstd matches it. */
#define NEAR (1 << 20)

static size_t put_target(uint8_t *p, uint64_t src, uint64_t dst)
{
	int64_t d = (int64_t)(dst - src);
	if (d > -NEAR && d < NEAR)
		return hs_put_varint(p, hs_zigzag(d) << 1);
	p[0] = 1;
	return 1 + hs_put_varint(p + 1, dst);
}

/* Writes n edges: the count and (kind, label) pairs into the record at p,
 * the targets, relative to src, into the address stream. */
static size_t put_edges(hs_writer *w, uint8_t *p, uint64_t src, const hs_edge *e,
                        size_t n_edges)
{
	size_t n = hs_put_varint(p, n_edges);
	for (size_t i = 0; i < n_edges; i++) {
		w->alen += put_target(w->ascratch + w->alen, src, e[i].dst);
		n += hs_put_varint(p + n, e[i].kind);
		n += hs_put_varint(p + n, e[i].label);
	}
	return n;
}

int hs_writer_refs(hs_writer *w, uint64_t src, const hs_edge *e, size_t n_edges)
{
	if (w->has_pending) {
		size_t first = 0;
		if (w->pending.addr == src && n_edges)
			first = n_edges < MAX_EDGES_PER_RECORD ? n_edges : MAX_EDGES_PER_RECORD;
		if (commit_object(w, e, first) < 0)
			return -1;
		e += first;
		n_edges -= first;
		if (first && !n_edges)
			return 0;
	}
	do {
		size_t chunk = n_edges < MAX_EDGES_PER_RECORD ? n_edges : MAX_EDGES_PER_RECORD;
		uint8_t *p = scratch(w, (1 + 2 * chunk) * HS_VARINT_MAX);
		if (!p || !ascratch(w, (1 + 2 * chunk) * HS_VARINT_MAX))
			return -1;
		put_addr(w, &w->b[HS_K_REFS], src);
		size_t n = put_edges(w, p, src, e, chunk);
		if (commit(w, HS_K_REFS, n) < 0)
			return -1;
		e += chunk;
		n_edges -= chunk;
	} while (n_edges);
	return 0;
}

int hs_writer_root(hs_writer *w, const hs_root *r)
{
	uint8_t *p = scratch(w, 4 * HS_VARINT_MAX);
	if (!p)
		return -1;
	size_t n = hs_put_varint(p, r->addr);
	n += hs_put_varint(p + n, r->kind);
	n += hs_put_varint(p + n, r->name);
	n += hs_put_varint(p + n, r->extra);
	return commit(w, HS_K_ROOTS, n);
}

uint64_t hs_writer_frame(hs_writer *w, uint64_t filename, uint64_t lineno)
{
	return id_record(w, HS_K_FRAMES, &w->next_frame, filename, lineno);
}

uint64_t hs_writer_traceback(hs_writer *w, uint64_t total_nframe,
                             const uint64_t *frames, size_t nframes)
{
	uint8_t *p = scratch(w, (3 + nframes) * HS_VARINT_MAX);
	if (!p)
		return 0;
	uint64_t id = w->next_traceback++;
	size_t n = hs_put_varint(p, id);
	n += hs_put_varint(p + n, total_nframe);
	n += hs_put_varint(p + n, nframes);
	for (size_t i = 0; i < nframes; i++)
		n += hs_put_varint(p + n, frames[i]);
	return commit(w, HS_K_TRACEBACKS, n) < 0 ? 0 : id;
}

int hs_writer_site(hs_writer *w, const hs_site *s)
{
	uint8_t *p = scratch(w, 4 * HS_VARINT_MAX);
	if (!p)
		return -1;
	size_t n = hs_put_varint(p, s->traceback);
	n += hs_put_varint(p + n, s->domain);
	n += hs_put_varint(p + n, s->count);
	n += hs_put_varint(p + n, s->bytes);
	return commit(w, HS_K_SITES, n);
}

int hs_writer_thread(hs_writer *w, const hs_thread *t)
{
	uint8_t *p = scratch(w, 5 * HS_VARINT_MAX);
	if (!p)
		return -1;
	size_t n = hs_put_varint(p, t->ident);
	n += hs_put_varint(p + n, t->native_id);
	n += hs_put_varint(p + n, t->name);
	n += hs_put_varint(p + n, t->frame);
	n += hs_put_varint(p + n, t->flags);
	return commit(w, HS_K_THREADS, n);
}

int hs_writer_task(hs_writer *w, const hs_task *t)
{
	uint8_t *p = scratch(w, (6 + 4 * t->n) * HS_VARINT_MAX);
	if (!p)
		return -1;
	size_t n = hs_put_varint(p, t->addr);
	n += hs_put_varint(p + n, t->state);
	n += hs_put_varint(p + n, t->name);
	n += hs_put_varint(p + n, t->coro);
	n += hs_put_varint(p + n, t->awaited);
	n += hs_put_varint(p + n, t->n);
	for (uint64_t i = 0; i < t->n; i++) {
		n += hs_put_varint(p + n, t->chain[i].addr);
		n += hs_put_varint(p + n, t->chain[i].name);
		n += hs_put_varint(p + n, t->chain[i].file);
		n += hs_put_varint(p + n, t->chain[i].line);
	}
	return commit(w, HS_K_TASKS, n);
}

uint64_t hs_writer_native_module(hs_writer *w, uint64_t path, const uint8_t *build_id,
                                 size_t build_id_len)
{
	uint8_t *p = scratch(w, 3 * HS_VARINT_MAX + build_id_len);
	if (!p)
		return 0;
	uint64_t id = w->next_module++;
	size_t n = hs_put_varint(p, id);
	n += hs_put_varint(p + n, path);
	n += put_bytes(p + n, build_id, build_id_len);
	return commit(w, HS_K_NATIVE_MODULES, n) < 0 ? 0 : id;
}

int hs_writer_native_site(hs_writer *w, const hs_native_site *s)
{
	uint8_t *p = scratch(w, (5 + 3 * s->n + 3 * s->npy) * HS_VARINT_MAX);
	if (!p)
		return -1;
	size_t n = hs_put_varint(p, s->alloc);
	n += hs_put_varint(p + n, s->count);
	n += hs_put_varint(p + n, s->bytes);
	n += hs_put_varint(p + n, s->n);
	for (uint64_t i = 0; i < s->n; i++) {
		n += hs_put_varint(p + n, s->frames[i].module);
		n += hs_put_varint(p + n, s->frames[i].addr);
		n += hs_put_varint(p + n, s->frames[i].symbol);
	}
	n += hs_put_varint(p + n, s->npy);
	for (uint64_t i = 0; i < s->npy; i++) {
		n += hs_put_varint(p + n, s->py[i].file);
		n += hs_put_varint(p + n, s->py[i].line);
		n += hs_put_varint(p + n, s->py[i].function);
	}
	return commit(w, HS_K_NATIVE_SITES, n);
}

int hs_writer_flush(hs_writer *w)
{
	if (w->finished)
		return fail(w, "writer already finished");
	if (w->has_pending && commit_object(w, NULL, 0) < 0)
		return -1;
	for (unsigned k = 1; k < NKINDS; k++)
		if (flush_kind(w, k) < 0)
			return -1;
	return 0;
}

int hs_writer_finish(hs_writer *w)
{
	if (hs_writer_flush(w) < 0)
		return -1;
	/* the index lists every section before it */
	size_t nsec = w->nindex;
	kbuf ib = { 0 };
	uint8_t rec[1 + 6 * HS_VARINT_MAX];
	for (size_t i = 0; i < nsec; i++) {
		const hs_index_entry *e = &w->index[i];
		size_t n = hs_put_varint(rec + 1, e->offset);
		n += hs_put_varint(rec + 1 + n, e->kind);
		n += hs_put_varint(rec + 1 + n, e->flags);
		n += hs_put_varint(rec + 1 + n, e->count);
		n += hs_put_varint(rec + 1 + n, e->comp_len);
		n += hs_put_varint(rec + 1 + n, e->raw_len);
		rec[0] = (uint8_t)n; /* < 128, so a one-byte varint */
		if (reserve(w, &ib.p, &ib.cap, ib.len + n + 1) < 0)
			goto done;
		memcpy(ib.p + ib.len, rec, n + 1);
		ib.len += n + 1;
	}
	uint64_t index_off = w->bytes;
	const uint8_t *part[1] = { ib.p };
	size_t plen[1] = { ib.len };
	if (write_section(w, HS_K_INDEX, 0, part, plen, 1, nsec) < 0)
		goto done;
	uint8_t t[HS_TRAILER_SIZE];
	hs_put_le64(t, index_off);
	hs_put_le64(t + 8, nsec);
	hs_put_le32(t + 16, w->file_crc);
	hs_put_le32(t + 20, hs_crc32c(0, t, 20));
	memcpy(t + 24, HS_END_MAGIC, 8);
	if (emit(w, t, sizeof(t)) < 0)
		goto done;
	if (w->sink.sync && w->sink.sync(w->sink.ctx) < 0)
		fail(w, "sync failed: %s", strerror(errno));
	w->finished = 1;
done:
	w->fr(ib.p);
	return w->failed ? -1 : 0;
}

const char *hs_writer_error(const hs_writer *w)
{
	return w->failed ? w->err : NULL;
}

uint64_t hs_writer_bytes(const hs_writer *w)
{
	return w->bytes;
}

uint64_t hs_writer_count(const hs_writer *w, int kind)
{
	if (kind <= 0 || kind >= NKINDS)
		return 0;
	return w->b[kind].total + (kind == HS_K_OBJECTS && w->has_pending);
}

void hs_writer_free(hs_writer *w)
{
	if (!w)
		return;
	for (unsigned k = 0; k < NKINDS; k++) {
		w->fr(w->b[k].p);
		w->fr(w->b[k].a);
	}
	w->fr(w->scratch);
	w->fr(w->ascratch);
	w->fr(w->zbuf);
	w->fr(w->slots);
	w->fr(w->keys);
	w->fr(w->index);
	w->fr(w->pvalue);
	ZSTD_freeCCtx(w->cctx);
	w->fr(w);
}
