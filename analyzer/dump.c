#include "dump.h"

#include <inttypes.h>
#include <string.h>

int hsa_dump_scan(hs_reader *r, hsa_file_stats *st, hsa_record_fn fn, void *ctx,
                  hsa_progress *p)
{
	memset(st, 0, sizeof(*st));
	st->size = hs_reader_size(r);
	hs_reader_version(r, &st->major, &st->minor);
	hs_section sec;
	hs_record rec;
	int rc = 0, s;
	while ((s = hs_reader_next_section(r, &sec)) != 0) {
		if (s < 0)
			continue; /* the reader has skipped the damage; keep what follows */
		if (p)
			hsa_progress_update(p, sec.offset);
		hsa_kind_stats *ks = &st->kind[sec.kind <= HS_K_MAX_KNOWN ? sec.kind : 0];
		ks->sections++;
		ks->comp += sec.comp_len;
		ks->raw += sec.raw_len;
		while (hs_reader_next_record(r, &rec) > 0) {
			/* Object sections carry their objects' references as records
			 * of their own: count records by their kind. */
			st->kind[rec.kind >= 1 && rec.kind <= HS_K_MAX_KNOWN ? rec.kind : 0].records++;
			if (rec.kind == HS_K_REFS)
				st->edges += rec.u.refs.n;
			if (fn && (rc = fn(ctx, &sec, &rec)) != 0)
				goto done;
		}
	}
done:
	st->complete = hs_reader_complete(r);
	st->problems = hs_reader_problems(r);
	st->skipped = hs_reader_skipped(r);
	const char *e = hs_reader_error(r);
	snprintf(st->problem, sizeof(st->problem), "%s", e ? e : "");
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
