#include "dump.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void hsa_scan_begin(hsa_scan *s, hs_reader *r, hsa_file_stats *st, hsa_progress *p)
{
	memset(s, 0, sizeof(*s));
	s->r = r;
	s->st = st;
	s->p = p;
	memset(st, 0, sizeof(*st));
	st->size = hs_reader_size(r);
	hs_reader_version(r, &st->major, &st->minor);
}

void hsa_scan_end(hsa_scan *s)
{
	hsa_file_stats *st = s->st;
	st->complete = hs_reader_complete(s->r);
	st->problems = hs_reader_problems(s->r);
	st->skipped = hs_reader_skipped(s->r);
	const char *e = hs_reader_error(s->r);
	snprintf(st->problem, sizeof(st->problem), "%s", e ? e : "");
}

int hsa_scan_next(hsa_scan *s, hs_record *rec)
{
	hsa_file_stats *st = s->st;
	for (;;) {
		if (s->open) {
			if (hs_reader_next_record(s->r, rec) > 0) {
				/* Object sections carry their objects' references as
				 * records of their own: count records by their kind. */
				st->kind[rec->kind >= 1 && rec->kind <= HS_K_MAX_KNOWN ? rec->kind : 0]
				        .records++;
				if (rec->kind == HS_K_REFS)
					st->edges += rec->u.refs.n;
				return 1;
			}
			s->open = 0;
		}
		if (s->done)
			return 0;
		int k = hs_reader_next_section(s->r, &s->sec);
		if (k == 0) {
			s->done = 1;
			return 0;
		}
		if (k < 0)
			continue; /* the reader has skipped the damage; keep what follows */
		if (s->p)
			hsa_progress_update(s->p, s->sec.offset);
		hsa_kind_stats *ks = &st->kind[s->sec.kind <= HS_K_MAX_KNOWN ? s->sec.kind : 0];
		ks->sections++;
		ks->comp += s->sec.comp_len;
		ks->raw += s->sec.raw_len;
		s->open = 1;
	}
}

int hsa_dump_scan(hs_reader *r, hsa_file_stats *st, hsa_record_fn fn, void *ctx,
                  hsa_progress *p)
{
	hsa_scan s;
	hs_record rec;
	int rc = 0;
	hsa_scan_begin(&s, r, st, p);
	while (hsa_scan_next(&s, &rec) > 0)
		if (fn && (rc = fn(ctx, &s.sec, &rec)) != 0)
			break;
	hsa_scan_end(&s);
	return rc;
}

void hsa_meta_text(const hs_meta *m, hsa_str *out)
{
	switch (m->type) {
	case HS_M_UINT:
		hsa_str_printf(out, "%" PRIu64, m->u);
		break;
	case HS_M_INT:
		hsa_str_printf(out, "%" PRId64, m->i);
		break;
	case HS_M_F64:
		hsa_str_printf(out, "%.17g", m->f);
		break;
	default:
		hsa_str_add(out, m->s ? m->s : "", m->s ? m->s_len : 0);
		break;
	}
}

/* Grows th's slots to hold type id t. */
static int hist_grow(hsa_type_hist *th, uint64_t t)
{
	if (t < th->ntypes)
		return 0;
	uint64_t n = th->ntypes ? th->ntypes : 256;
	while (n <= t)
		n *= 2;
	uint64_t *c = realloc(th->count, n * sizeof(uint64_t));
	if (c)
		th->count = c;
	uint64_t *s = c ? realloc(th->size, n * sizeof(uint64_t)) : NULL;
	if (s)
		th->size = s;
	uint64_t *nm = s ? realloc(th->name, n * sizeof(uint64_t)) : NULL;
	if (!nm)
		return -1;
	th->name = nm;
	size_t grown = (size_t)(n - th->ntypes) * sizeof(uint64_t);
	memset(th->count + th->ntypes, 0, grown);
	memset(th->size + th->ntypes, 0, grown);
	memset(th->name + th->ntypes, 0, grown);
	th->ntypes = n;
	return 0;
}

int hsa_type_hist_read(hs_reader *r, hsa_type_hist *th, hsa_file_stats *st, hsa_progress *p)
{
	hsa_scan s;
	hs_record rec;
	uint64_t records = 0;
	int rc = -1;
	memset(th, 0, sizeof(*th));
	hsa_scan_begin(&s, r, st, p);
	if (hist_grow(th, 0))
		goto done;
	while (hsa_scan_next(&s, &rec) > 0) {
		/* Type ids are dense from 1: one far beyond the records read so
		 * far is damage, counted as unknown, so that the slots stay
		 * within the input's size. */
		uint64_t bound = 2 * ++records + 4096;
		if (rec.kind == HS_K_TYPES && rec.u.type.id && rec.u.type.id < bound) {
			if (hist_grow(th, rec.u.type.id))
				goto done;
			th->name[rec.u.type.id] = rec.u.type.name;
		} else if (rec.kind == HS_K_OBJECTS) {
			uint64_t t = rec.u.object.type < bound ? rec.u.object.type : 0;
			if (hist_grow(th, t))
				goto done;
			th->count[t]++;
			th->size[t] += rec.u.object.size;
			th->objects++;
			th->bytes += rec.u.object.size;
		}
	}
	for (uint64_t t = 1; t < th->ntypes; t++) {
		if (th->name[t] || !th->count[t])
			continue;
		th->count[0] += th->count[t];
		th->size[0] += th->size[t];
		th->count[t] = th->size[t] = 0;
	}
	rc = 0;
done:
	hsa_scan_end(&s);
	if (rc)
		hsa_type_hist_free(th);
	return rc;
}

void hsa_type_hist_free(hsa_type_hist *th)
{
	if (!th)
		return;
	free(th->count);
	free(th->size);
	free(th->name);
	memset(th, 0, sizeof(*th));
}
