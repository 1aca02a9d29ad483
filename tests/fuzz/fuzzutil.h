/*
 * fuzzutil.h - what the libFuzzer targets and the corpus generator share:
 * taking a dump apart into its sections' decompressed payloads, putting
 * sections back together into a file whose checksums all hold (so that
 * mutated payloads reach the record decoder), and reading a dump through.
 */
#ifndef FUZZUTIL_H
#define FUZZUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "hsnap.h"

typedef struct fz_section {
	unsigned kind, flags;
	uint64_t count;
	uint8_t *raw;        /* raw_len bytes, owned by the fz_file */
	size_t raw_len;
} fz_section;

typedef struct fz_file {
	fz_section *s;
	size_t n, cap;
} fz_file;

/* Appends a section; raw is copied. Returns 0 or -1 (no memory). */
int fz_add(fz_file *f, unsigned kind, unsigned flags, uint64_t count, const void *raw,
           size_t len);

/* Splits a well-formed dump (as hs_writer writes it) into its sections,
 * decompressed, leaving out the index. Returns 0, or -1 for a file it
 * cannot take apart or no memory. */
int fz_split(const uint8_t *data, size_t len, fz_file *f);

/* Writes f as a dump into out (appended): header, the sections compressed
 * with valid checksums, then, if complete, the index and the trailer.
 * Returns 0 or -1 (no memory, compression failed). */
int fz_seal(const fz_file *f, int complete, hs_membuf *out);

/* Frees the sections and zeroes f; NULL ok. */
void fz_file_free(fz_file *f);

/* Reads every section and record the way a tool does, looking up every
 * string id a record names. Reads a private copy of exactly len bytes, so
 * that ASan sees any read past the end. */
void fz_read_all(const uint8_t *data, size_t len);

#endif
