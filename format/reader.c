/*
 * reader.c - .hsnap reader that survives any input.
 *
 * Every length is checked against what remains before it is used; a
 * damaged section is reported with its offset and skipped (resyncing on
 * the next valid section header if its own header is damaged), so a
 * caller that keeps iterating gets every intact section.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "hsnap.h"
#include "internal.h"

/* Larger raw sections are refused rather than allocated. */
#define MAX_RAW_SECTION (1ull << 30)

typedef struct strent {
	uint64_t id;
	uint64_t off;        /* into the string arena */
	uint64_t len;
} strent;

struct hs_reader {
	char *name;
	const uint8_t *data;
	size_t size;
	int mapped;
	unsigned major, minor;
	size_t body_end;     /* end of the sections (trailer start, or size) */
	int has_trailer;
	int crc_ok;
	uint64_t trailer_nsec;
	uint64_t index_off;
	size_t pos;          /* next section header */
	size_t released;     /* mapped pages below this (page-aligned) were given back */
	int stopped;         /* a fatal problem: no more sections */
	int at_end;
	ZSTD_DCtx *dctx;
	/* current section */
	hs_section sec;
	uint8_t *raw;
	size_t raw_cap;
	const uint8_t *rp, *rend;
	const uint8_t *ap, *aend; /* address stream of objects and refs */
	uint64_t nrec;
	int64_t prev_addr;
	int sec_ok;
	hs_refs held;        /* edges of the last object, handed out next */
	int has_held;
	/* sections seen in order, to check the index against */
	hs_index_entry *seen;
	size_t nseen, seen_cap;
	int index_ok;        /* the index section matched every section read */
	/* strings */
	strent *strs;
	size_t nstrs, strs_cap;
	char *arena;
	size_t arena_len, arena_cap;
	/* decode scratch */
	hs_edge *edges;
	size_t edges_cap;
	uint64_t *frames;
	size_t frames_cap;
	hs_await *chain;
	size_t chain_cap;
	hs_native_frame *nframes;
	size_t nframes_cap;
	hs_py_frame *pyframes;
	size_t pyframes_cap;
	uint64_t problems, skipped;
	char err[512];       /* the first problem */
	char last[512];      /* the latest problem */
};

static void problem(hs_reader *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->last, sizeof(r->last), fmt, ap);
	va_end(ap);
	if (!r->problems)
		memcpy(r->err, r->last, sizeof(r->err));
	r->problems++;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	void *np = realloc(*p, ncap * elem);
	if (!np)
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

static int check_header(hs_reader *r, char *err, size_t errlen)
{
	const uint8_t *d = r->data;
	if (r->size < HS_HEADER_SIZE || memcmp(d, HS_MAGIC, 8) != 0) {
		snprintf(err, errlen, "'%s': not a heapsnap dump (bad magic)", r->name);
		return -1;
	}
	if (hs_get_le32(d + 20) != hs_crc32c(0, d, 20)) {
		snprintf(err, errlen, "'%s': damaged file header (checksum mismatch at offset 20)",
		         r->name);
		return -1;
	}
	r->major = hs_get_le16(d + 8);
	r->minor = hs_get_le16(d + 10);
	if (r->major != HS_FORMAT_MAJOR) {
		snprintf(err, errlen, "'%s': unsupported format version %u.%u (this reader reads %u.x)",
		         r->name, r->major, r->minor, HS_FORMAT_MAJOR);
		return -1;
	}
	uint32_t flags = hs_get_le32(d + 12);
	if (flags) {
		snprintf(err, errlen, "'%s': unknown file flags 0x%x at offset 12", r->name, flags);
		return -1;
	}
	uint32_t hlen = hs_get_le32(d + 16);
	if (hlen < HS_HEADER_SIZE || hlen > r->size) {
		snprintf(err, errlen, "'%s': bad header length %u at offset 16", r->name, hlen);
		return -1;
	}
	r->pos = hlen;
	return 0;
}

/* Gives the mapped pages wholly in [from, to) back to the page cache (a
 * later touch reads them in again): a mapped dump then adds to the
 * reader's resident memory only what it is reading. */
static void release(const hs_reader *r, size_t from, size_t to)
{
	if (!r->mapped)
		return;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	from = (from + page - 1) & ~(page - 1);
	to &= ~(page - 1);
	if (to > from)
		madvise((void *)(r->data + from), to - from, MADV_DONTNEED);
}

/* A read goes forward and never back to the compressed bytes behind it
 * (strings are copied out). */
static void release_behind(hs_reader *r)
{
	size_t end = r->pos & ~((size_t)sysconf(_SC_PAGESIZE) - 1);
	if (end > r->released) {
		release(r, r->released, end);
		r->released = end;
	}
}

/* Finds and checks the trailer; a missing one means a cut-off file. */
static void check_trailer(hs_reader *r)
{
	r->body_end = r->size;
	if (r->size < r->pos + HS_TRAILER_SIZE)
		return;
	const uint8_t *t = r->data + r->size - HS_TRAILER_SIZE;
	if (memcmp(t + 24, HS_END_MAGIC, 8) != 0 || hs_get_le32(t + 20) != hs_crc32c(0, t, 20))
		return;
	uint64_t index_off = hs_get_le64(t);
	if (index_off < r->pos || index_off > r->size - HS_TRAILER_SIZE)
		return;
	r->has_trailer = 1;
	r->body_end = r->size - HS_TRAILER_SIZE;
	r->index_off = index_off;
	r->trailer_nsec = hs_get_le64(t + 8);
	r->crc_ok = hs_crc32c(0, r->data, r->body_end) == hs_get_le32(t + 16);
	release(r, 0, r->size); /* the checksum read it all */
	if (!r->crc_ok)
		problem(r, "file checksum mismatch (trailer at offset %zu)", r->body_end);
}

static hs_reader *open_common(hs_reader *r, char *err, size_t errlen)
{
	r->dctx = ZSTD_createDCtx();
	if (!r->dctx) {
		snprintf(err, errlen, "'%s': out of memory", r->name);
		goto fail;
	}
	if (check_header(r, err, errlen) < 0)
		goto fail;
	check_trailer(r);
	return r;
fail:
	hs_reader_free(r);
	return NULL;
}

hs_reader *hs_reader_open_mem(const void *data, size_t len, const char *name,
                              char *err, size_t errlen)
{
	hs_reader *r = calloc(1, sizeof(*r));
	if (!r || !(r->name = strdup(name ? name : "<memory>"))) {
		snprintf(err, errlen, "out of memory opening a dump");
		free(r);
		return NULL;
	}
	r->data = data;
	r->size = len;
	return open_common(r, err, errlen);
}

hs_reader *hs_reader_open(const char *path, char *err, size_t errlen)
{
	hs_reader *r = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot stat '%s': %s", path, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "'%s': not a regular file", path);
		goto done;
	}
	if (st.st_size < HS_HEADER_SIZE) {
		snprintf(err, errlen, "'%s': not a heapsnap dump (%lld bytes, too short)", path,
		         (long long)st.st_size);
		goto done;
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		snprintf(err, errlen, "cannot map '%s': %s", path, strerror(errno));
		goto done;
	}
	r = calloc(1, sizeof(*r));
	if (!r || !(r->name = strdup(path))) {
		snprintf(err, errlen, "out of memory opening '%s'", path);
		munmap(m, (size_t)st.st_size);
		free(r);
		r = NULL;
		goto done;
	}
	r->data = m;
	r->size = (size_t)st.st_size;
	r->mapped = 1;
	r = open_common(r, err, errlen);
done:
	close(fd);
	return r;
}

static int valid_header_at(const hs_reader *r, size_t pos)
{
	if (pos > r->body_end || r->body_end - pos < HS_SECTION_HEADER_SIZE)
		return 0;
	const uint8_t *h = r->data + pos;
	return hs_get_le32(h) == HS_SECTION_SYNC && hs_get_le32(h + 36) == hs_crc32c(0, h, 36);
}

/* After damage: the next offset holding a valid section header, or body_end. */
static size_t resync(const hs_reader *r, size_t from)
{
	for (size_t p = from; p + HS_SECTION_HEADER_SIZE <= r->body_end; p++) {
		const uint8_t *q = memchr(r->data + p, 'S', r->body_end - p);
		if (!q)
			break;
		p = (size_t)(q - r->data);
		if (valid_header_at(r, p))
			return p;
	}
	return r->body_end;
}

static void note_seen(hs_reader *r, const hs_section *s)
{
	if (grow((void **)&r->seen, &r->seen_cap, r->nseen + 1, sizeof(*r->seen)) < 0)
		return; /* index cross-check is best effort under memory pressure */
	r->seen[r->nseen++] = (hs_index_entry){ s->offset, s->kind, s->flags, s->count,
	                                        s->comp_len, s->raw_len };
}

static int known_kind(unsigned kind, unsigned flags)
{
	return kind >= 1 && kind <= HS_K_MAX_KNOWN && !(flags & ~HS_SF_CRITICAL);
}

static void verify_index(hs_reader *r);

int hs_reader_next_section(hs_reader *r, hs_section *out)
{
	release_behind(r);
	r->rp = r->rend = NULL;
	r->sec_ok = 0;
	r->has_held = 0;
	for (;;) {
		if (r->stopped || r->pos >= r->body_end) {
			if (!r->at_end && !r->stopped) {
				r->at_end = 1;
				if (!r->has_trailer) {
					problem(r, "truncated: no trailer, the dump was cut off at %zu bytes",
					        r->size);
					return -1;
				}
			}
			return 0;
		}
		size_t pos = r->pos;
		if (!valid_header_at(r, pos)) {
			if (r->body_end - pos < HS_SECTION_HEADER_SIZE && !r->has_trailer) {
				problem(r, "truncated section header at offset %zu", pos);
				r->pos = r->body_end;
			} else {
				problem(r, "damaged section header at offset %zu", pos);
				r->pos = resync(r, pos + 1);
			}
			return -1;
		}
		const uint8_t *h = r->data + pos;
		hs_section s = {
			.offset = pos, .kind = hs_get_le16(h + 4), .flags = hs_get_le16(h + 6),
			.count = hs_get_le64(h + 8), .comp_len = hs_get_le64(h + 16),
			.raw_len = hs_get_le64(h + 24),
		};
		size_t body = pos + HS_SECTION_HEADER_SIZE;
		if (s.comp_len > r->body_end - body) {
			problem(r, "truncated section (%s) at offset %zu: %llu bytes announced, %zu present",
			        hs_kind_name(s.kind), pos, (unsigned long long)s.comp_len,
			        r->body_end - body);
			r->pos = r->has_trailer ? resync(r, pos + 1) : r->body_end;
			return -1;
		}
		r->pos = body + s.comp_len;
		if (hs_crc32c(0, r->data + body, s.comp_len) != hs_get_le32(h + 32)) {
			problem(r, "section checksum mismatch (%s) at offset %zu",
			        hs_kind_name(s.kind), pos);
			return -1;
		}
		if (s.kind != HS_K_INDEX)
			note_seen(r, &s);
		s.known = known_kind(s.kind, s.flags);
		if (!s.known) {
			if (s.flags & HS_SF_CRITICAL) {
				problem(r, "unknown critical section kind %u at offset %zu", s.kind, pos);
				r->stopped = 1;
				return -1;
			}
			r->skipped++;
			continue;
		}
		if (s.raw_len > MAX_RAW_SECTION) {
			problem(r, "section (%s) at offset %zu too large: %llu raw bytes",
			        hs_kind_name(s.kind), pos, (unsigned long long)s.raw_len);
			return -1;
		}
		if (grow((void **)&r->raw, &r->raw_cap, s.raw_len ? s.raw_len : 1, 1) < 0) {
			problem(r, "out of memory for section at offset %zu", pos);
			return -1;
		}
		unsigned long long fsize = ZSTD_getFrameContentSize(r->data + body, s.comp_len);
		size_t got = ZSTD_decompressDCtx(r->dctx, r->raw, s.raw_len, r->data + body,
		                                 s.comp_len);
		if (ZSTD_isError(got) || got != s.raw_len || fsize != s.raw_len ||
		    ZSTD_findFrameCompressedSize(r->data + body, s.comp_len) != s.comp_len) {
			problem(r, "section (%s) at offset %zu does not decompress: %s",
			        hs_kind_name(s.kind), pos,
			        ZSTD_isError(got) ? ZSTD_getErrorName(got) : "length mismatch");
			return -1;
		}
		r->sec = s;
		r->rp = r->raw;
		r->rend = r->ap = r->aend = r->raw + s.raw_len;
		if (hs_has_addr_stream(s.kind)) {
			uint64_t rlen;
			if (hs_get_varint(&r->rp, r->rend, &rlen) < 0 ||
			    rlen > (uint64_t)(r->rend - r->rp)) {
				problem(r, "section (%s) at offset %zu: bad record area length",
				        hs_kind_name(s.kind), pos);
				return -1;
			}
			r->rend = r->ap = r->rp + rlen;
		}
		r->nrec = 0;
		r->prev_addr = 0;
		r->sec_ok = 1;
		if (s.kind == HS_K_INDEX)
			verify_index(r);
		*out = s;
		return 1;
	}
}

/* ---- record decoding ---------------------------------------------------- */

typedef struct cur {
	const uint8_t *p, *end;
	int bad;
} cur;

static uint64_t u(cur *c)
{
	uint64_t v = 0;
	if (!c->bad && hs_get_varint(&c->p, c->end, &v) < 0)
		c->bad = 1;
	return c->bad ? 0 : v;
}

static const uint8_t *bytes(cur *c, size_t *len)
{
	uint64_t n = u(c);
	if (c->bad || n > (uint64_t)(c->end - c->p)) {
		c->bad = 1;
		*len = 0;
		return (const uint8_t *)"";
	}
	const uint8_t *s = c->p;
	c->p += n;
	*len = (size_t)n;
	return s;
}

/* The next value of the section's address stream. */
static uint64_t av(hs_reader *r, cur *c)
{
	uint64_t v = 0;
	if (!c->bad && hs_get_varint(&r->ap, r->aend, &v) < 0)
		c->bad = 1;
	return c->bad ? 0 : v;
}

static uint64_t addr(hs_reader *r, cur *c)
{
	uint64_t a = (uint64_t)r->prev_addr + (uint64_t)hs_unzigzag(av(r, c));
	r->prev_addr = (int64_t)a;
	return a;
}

/* Items announced by a count must each take at least min bytes. */
static int plausible(const cur *c, uint64_t n, size_t min)
{
	return !c->bad && n <= (uint64_t)(c->end - c->p) / min;
}

static int add_string(hs_reader *r, uint64_t id, const uint8_t *s, size_t len)
{
	if (id == 0 || (r->nstrs && id <= r->strs[r->nstrs - 1].id))
		return -1;
	if (grow((void **)&r->strs, &r->strs_cap, r->nstrs + 1, sizeof(*r->strs)) < 0 ||
	    grow((void **)&r->arena, &r->arena_cap, r->arena_len + len + 1, 1) < 0)
		return -1;
	memcpy(r->arena + r->arena_len, s, len);
	r->arena[r->arena_len + len] = 0;
	r->strs[r->nstrs++] = (strent){ id, r->arena_len, len };
	r->arena_len += len + 1;
	return 0;
}

/* Decodes an edge list (count first, targets relative to rf->src). */
static int edges(hs_reader *r, cur *c, hs_refs *rf)
{
	rf->n = u(c);
	if (!plausible(c, rf->n, 2) ||
	    grow((void **)&r->edges, &r->edges_cap, rf->n, sizeof(hs_edge)) < 0)
		return -1;
	for (uint64_t i = 0; i < rf->n; i++) {
		uint64_t t = av(r, c);
		if (t == 1)
			r->edges[i].dst = av(r, c);
		else if (t & 1)
			c->bad = 1;
		else
			r->edges[i].dst = rf->src + (uint64_t)hs_unzigzag(t >> 1);
		uint64_t k = u(c);
		r->edges[i].kind = k > UINT32_MAX ? HS_E_OTHER : (uint32_t)k;
		r->edges[i].label = u(c);
	}
	rf->edges = r->edges;
	return c->bad ? -1 : 0;
}

static int decode(hs_reader *r, cur *c, hs_record *rec)
{
	memset(&rec->u, 0, sizeof(rec->u));
	switch (r->sec.kind) {
	case HS_K_META: {
		hs_meta *m = &rec->u.meta;
		m->key = (const char *)bytes(c, &m->key_len);
		m->type = (int)u(c);
		switch (m->type) {
		case HS_M_UINT:
			m->u = u(c);
			break;
		case HS_M_INT:
			m->i = hs_unzigzag(u(c));
			break;
		case HS_M_STR:
			m->s = (const char *)bytes(c, &m->s_len);
			break;
		case HS_M_F64:
			if (c->end - c->p < 8) {
				c->bad = 1;
				break;
			}
			uint64_t bits = hs_get_le64(c->p);
			memcpy(&m->f, &bits, 8);
			c->p += 8;
			break;
		default:
			c->bad = 1;
		}
		break;
	}
	case HS_K_STRINGS: {
		rec->u.str.id = u(c);
		const uint8_t *s = bytes(c, &rec->u.str.len);
		if (c->bad || add_string(r, rec->u.str.id, s, rec->u.str.len) < 0)
			return -1;
		rec->u.str.s = r->arena + r->strs[r->nstrs - 1].off;
		break;
	}
	case HS_K_TYPES:
		rec->u.type.id = u(c);
		rec->u.type.addr = u(c);
		rec->u.type.name = u(c);
		break;
	case HS_K_OBJECTS: {
		hs_object *o = &rec->u.object;
		o->addr = addr(r, c);
		o->type = u(c);
		o->size = u(c);
		o->refcnt = u(c);
		uint64_t flags = u(c);
		if (flags > UINT32_MAX)
			c->bad = 1;
		o->flags = (uint32_t)flags;
		if (o->flags & HS_OF_HAS_LEN)
			o->len = u(c);
		if (o->flags & HS_OF_HAS_VALUE)
			o->value = bytes(c, &o->value_len);
		if (o->flags & HS_OF_HAS_NAME)
			o->name = u(c);
		if (o->flags & HS_OF_HAS_TRACE)
			o->trace = u(c);
		if (o->flags & HS_OF_HAS_REFS) {
			r->held.src = o->addr;
			if (edges(r, c, &r->held) < 0)
				return -1;
			r->has_held = 1;
		}
		break;
	}
	case HS_K_REFS:
		rec->u.refs.src = addr(r, c);
		return edges(r, c, &rec->u.refs);
	case HS_K_ROOTS:
		rec->u.root.addr = u(c);
		rec->u.root.kind = (uint32_t)u(c);
		rec->u.root.name = u(c);
		rec->u.root.extra = u(c);
		break;
	case HS_K_FRAMES:
		rec->u.frame.id = u(c);
		rec->u.frame.filename = u(c);
		rec->u.frame.lineno = u(c);
		break;
	case HS_K_TRACEBACKS: {
		hs_traceback *t = &rec->u.traceback;
		t->id = u(c);
		t->total_nframe = u(c);
		t->n = u(c);
		if (!plausible(c, t->n, 1) ||
		    grow((void **)&r->frames, &r->frames_cap, t->n, sizeof(uint64_t)) < 0)
			return -1;
		for (uint64_t i = 0; i < t->n; i++)
			r->frames[i] = u(c);
		t->frames = r->frames;
		break;
	}
	case HS_K_SITES:
		rec->u.site.traceback = u(c);
		rec->u.site.domain = u(c);
		rec->u.site.count = u(c);
		rec->u.site.bytes = u(c);
		break;
	case HS_K_THREADS:
		rec->u.thread.ident = u(c);
		rec->u.thread.native_id = u(c);
		rec->u.thread.name = u(c);
		rec->u.thread.frame = u(c);
		rec->u.thread.flags = (uint32_t)u(c);
		break;
	case HS_K_TASKS: {
		hs_task *t = &rec->u.task;
		t->addr = u(c);
		t->state = (uint32_t)u(c);
		t->name = u(c);
		t->coro = u(c);
		t->awaited = u(c);
		t->n = u(c);
		if (!plausible(c, t->n, 4) ||
		    grow((void **)&r->chain, &r->chain_cap, t->n, sizeof(hs_await)) < 0)
			return -1;
		for (uint64_t i = 0; i < t->n; i++) {
			r->chain[i].addr = u(c);
			r->chain[i].name = u(c);
			r->chain[i].file = u(c);
			r->chain[i].line = u(c);
		}
		t->chain = r->chain;
		break;
	}
	case HS_K_NATIVE_MODULES: {
		hs_native_module *m = &rec->u.native_module;
		m->id = u(c);
		m->path = u(c);
		m->build_id = bytes(c, &m->build_id_len);
		break;
	}
	case HS_K_NATIVE_SITES: {
		hs_native_site *s = &rec->u.native_site;
		s->alloc = (uint32_t)u(c);
		s->count = u(c);
		s->bytes = u(c);
		s->n = u(c);
		if (!plausible(c, s->n, 3) ||
		    grow((void **)&r->nframes, &r->nframes_cap, s->n, sizeof(hs_native_frame)) < 0)
			return -1;
		for (uint64_t i = 0; i < s->n; i++) {
			r->nframes[i].module = u(c);
			r->nframes[i].addr = u(c);
			r->nframes[i].symbol = u(c);
		}
		s->frames = r->nframes;
		s->npy = u(c);
		if (!plausible(c, s->npy, 3) ||
		    grow((void **)&r->pyframes, &r->pyframes_cap, s->npy, sizeof(hs_py_frame)) < 0)
			return -1;
		for (uint64_t i = 0; i < s->npy; i++) {
			r->pyframes[i].file = u(c);
			r->pyframes[i].line = u(c);
			r->pyframes[i].function = u(c);
		}
		s->py = r->pyframes;
		break;
	}
	case HS_K_INDEX: {
		hs_index_entry *e = &rec->u.index;
		e->offset = u(c);
		e->kind = (uint32_t)u(c);
		e->flags = (uint32_t)u(c);
		e->count = u(c);
		e->comp_len = u(c);
		e->raw_len = u(c);
		break;
	}
	default:
		return -1;
	}
	return c->bad ? -1 : 0;
}

/* The index must list exactly the sections read before it, in order. */
static void verify_index(hs_reader *r)
{
	cur c = { r->raw, r->raw + r->sec.raw_len, 0 };
	uint64_t i = 0;
	if (r->has_trailer && r->sec.offset != r->index_off) {
		problem(r, "index section at offset %llu, trailer says %llu",
		        (unsigned long long)r->sec.offset, (unsigned long long)r->index_off);
		return;
	}
	while (c.p < c.end) {
		uint64_t len = u(&c);
		if (c.bad || len > (uint64_t)(c.end - c.p))
			break;
		cur b = { c.p, c.p + len, 0 };
		c.p += len;
		hs_index_entry e = { .offset = u(&b), .kind = (uint32_t)u(&b),
		                     .flags = (uint32_t)u(&b), .count = u(&b),
		                     .comp_len = u(&b), .raw_len = u(&b) };
		if (b.bad) {
			c.bad = 1;
			break;
		}
		if (i >= r->nseen || memcmp(&e, &r->seen[i], sizeof(e)) != 0) {
			problem(r, "index entry %llu (section at offset %llu) does not match the file",
			        (unsigned long long)i, (unsigned long long)e.offset);
			return;
		}
		i++;
	}
	if (c.bad || c.p != c.end)
		problem(r, "malformed index section at offset %llu", (unsigned long long)r->sec.offset);
	else if (i != r->nseen || i != r->sec.count || (r->has_trailer && r->trailer_nsec != i))
		problem(r, "index lists %llu sections, %zu were read", (unsigned long long)i, r->nseen);
	else
		r->index_ok = 1;
}

int hs_reader_next_record(hs_reader *r, hs_record *rec)
{
	if (!r->sec_ok)
		return 0;
	if (r->has_held) {
		r->has_held = 0;
		rec->kind = HS_K_REFS;
		rec->u.refs = r->held;
		return 1;
	}
	if (r->rp >= r->rend) {
		r->sec_ok = 0;
		if (r->ap != r->aend) {
			problem(r, "section (%s) at offset %llu: %zu address bytes left over",
			        hs_kind_name(r->sec.kind), (unsigned long long)r->sec.offset,
			        (size_t)(r->aend - r->ap));
			return -1;
		}
		if (r->nrec != r->sec.count) {
			problem(r, "section (%s) at offset %llu holds %llu records, header says %llu",
			        hs_kind_name(r->sec.kind), (unsigned long long)r->sec.offset,
			        (unsigned long long)r->nrec, (unsigned long long)r->sec.count);
			return -1;
		}
		return 0;
	}
	cur c = { r->rp, r->rend, 0 };
	uint64_t len = u(&c);
	size_t at = (size_t)(r->rp - r->raw);
	if (c.bad || len > (uint64_t)(r->rend - c.p)) {
		problem(r, "malformed record %llu in section (%s) at offset %llu (raw byte %zu)",
		        (unsigned long long)r->nrec, hs_kind_name(r->sec.kind),
		        (unsigned long long)r->sec.offset, at);
		r->sec_ok = 0;
		return -1;
	}
	/* fields past those this reader knows (a newer minor) are skipped */
	cur body = { c.p, c.p + len, 0 };
	r->rp = c.p + len;
	rec->kind = (int)r->sec.kind;
	if (decode(r, &body, rec) < 0) {
		problem(r, "malformed record %llu in section (%s) at offset %llu (raw byte %zu)",
		        (unsigned long long)r->nrec, hs_kind_name(r->sec.kind),
		        (unsigned long long)r->sec.offset, at);
		r->sec_ok = 0;
		return -1;
	}
	r->nrec++;
	return 1;
}

const char *hs_reader_string(const hs_reader *r, uint64_t id, size_t *len)
{
	size_t lo = 0, hi = r->nstrs;
	/* ids are dense unless sections were lost: try the direct slot first */
	if (id >= 1 && id <= r->nstrs && r->strs[id - 1].id == id)
		lo = id - 1, hi = id;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->strs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= r->nstrs || r->strs[lo].id != id)
		return NULL;
	if (len)
		*len = (size_t)r->strs[lo].len;
	return r->arena + r->strs[lo].off;
}

int hs_reader_complete(const hs_reader *r)
{
	return r->at_end && r->has_trailer && r->crc_ok && !r->problems && r->index_ok;
}

const char *hs_reader_error(const hs_reader *r)
{
	return r->problems ? r->err : NULL;
}

const char *hs_reader_last_error(const hs_reader *r)
{
	return r->problems ? r->last : NULL;
}

uint64_t hs_reader_offset(const hs_reader *r)
{
	return r->pos;
}

uint64_t hs_reader_problems(const hs_reader *r)
{
	return r->problems;
}

uint64_t hs_reader_skipped(const hs_reader *r)
{
	return r->skipped;
}

uint64_t hs_reader_size(const hs_reader *r)
{
	return r->size;
}

void hs_reader_version(const hs_reader *r, unsigned *major, unsigned *minor)
{
	*major = r->major;
	*minor = r->minor;
}

const char *hs_reader_name(const hs_reader *r)
{
	return r->name;
}

void hs_reader_free(hs_reader *r)
{
	if (!r)
		return;
	if (r->mapped)
		munmap((void *)r->data, r->size);
	ZSTD_freeDCtx(r->dctx);
	free(r->raw);
	free(r->seen);
	free(r->strs);
	free(r->arena);
	free(r->edges);
	free(r->frames);
	free(r->chain);
	free(r->nframes);
	free(r->pyframes);
	free(r->name);
	free(r);
}
