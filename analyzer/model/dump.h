/*
 * dump.h - iterating every record of a dump, with the per-kind statistics
 * that 'info' shows and 'load' records.
 */
#ifndef HSA_DUMP_H
#define HSA_DUMP_H

#include <stdint.h>

#include "hsnap.h"
#include "util.h"

typedef struct hsa_kind_stats {
	uint64_t sections, records, comp, raw;
} hsa_kind_stats;

typedef struct hsa_file_stats {
	hsa_kind_stats kind[HS_K_MAX_KNOWN + 1]; /* [0]: sections of unknown kinds */
	uint64_t edges;    /* sum of hs_refs.n */
	uint64_t size;     /* file size */
	unsigned major, minor;
	int complete;      /* trailer found and every checksum matched */
	uint64_t problems; /* problems the reader saw */
	uint64_t skipped;  /* unknown optional sections skipped */
	char problem[512]; /* the reader's first problem, or "" */
} hsa_file_stats;

/* Called for every decoded record; a nonzero return stops the scan and is
 * returned by hsa_dump_scan. */
typedef int (*hsa_record_fn)(void *ctx, const hs_section *sec, const hs_record *rec);

/* Reads every intact section and record of r (recovering past damage as
 * the reader allows), fills st and calls fn (may be NULL) per record.
 * Shows progress by file offset when p is not NULL. Returns 0 or fn's
 * nonzero value. */
int hsa_dump_scan(hs_reader *r, hsa_file_stats *st, hsa_record_fn fn, void *ctx,
                  hsa_progress *p);

/* The same scan pulled one record at a time: hsa_scan_next returns 1
 * with rec filled (valid until the next call; s->sec is its section), or
 * 0 after the last record; hsa_scan_end then fills st's final fields
 * (complete, problems, the first problem). */
typedef struct hsa_scan {
	hs_reader *r;
	hsa_file_stats *st;
	hsa_progress *p;
	hs_section sec;
	int open, done;
} hsa_scan;
void hsa_scan_begin(hsa_scan *s, hs_reader *r, hsa_file_stats *st, hsa_progress *p);
int hsa_scan_next(hsa_scan *s, hs_record *rec);
void hsa_scan_end(hsa_scan *s);

/* Objects and their shallow size per type id, straight from a dump with
 * no load and no graph (what 'top --fast' shows while no database exists).
 * Slot t of count and size is type id t; objects of a type id no types
 * record defines count under 0 (unknown type), as in a load. A record
 * repeating an address, which a load drops, is counted here. */
typedef struct hsa_type_hist {
	uint64_t ntypes;          /* slots: type ids 0 .. ntypes-1 */
	uint64_t *count, *size;   /* [ntypes] */
	uint64_t *name;           /* [ntypes] string id of the name, 0: none */
	uint64_t objects, bytes;  /* totals */
} hsa_type_hist;
/* Fills th (zeroed by the call) and st from one pass over r. Returns 0 or
 * -1 (no memory). */
int hsa_type_hist_read(hs_reader *r, hsa_type_hist *th, hsa_file_stats *st, hsa_progress *p);
void hsa_type_hist_free(hsa_type_hist *th);

/* A metadata value as text ("3.11.7", "42", "-1", "0.25"). */
void hsa_meta_text(const hs_meta *m, hsa_str *out);

#endif
