/*
 * names.h - small hash maps and the names interned across dumps (types,
 * sites, labels), shared by 'diff', 'leaks' and the dump reader.
 */
#ifndef HSA_NAMES_H
#define HSA_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* ---- small hash maps --------------------------------------------------- */

/* FNV-1a of len bytes at p, mixed: for hash tables and sketches. */
uint64_t hsa_hash_bytes(const void *p, size_t len);
/* A 64-bit finalizer (MurmurHash3's): spreads a's bits over all 64. */
uint64_t hsa_hash_mix(uint64_t a);

/* Four 32-bit words -> a 32-bit value, open addressing. */
typedef struct hsa_kmap {
	uint32_t *keys; /* [cap * 4] */
	uint32_t *vals; /* [cap], HSA_KMAP_NONE for an empty slot */
	uint64_t n, cap;
} hsa_kmap;
#define HSA_KMAP_NONE UINT32_MAX

/* The value stored for k, or HSA_KMAP_NONE. */
uint32_t hsa_kmap_get(const hsa_kmap *m, const uint32_t k[4]);
/* Stores k -> v unless k is present; returns the value now stored for k,
 * or HSA_KMAP_NONE when out of memory. v must not be HSA_KMAP_NONE. */
uint32_t hsa_kmap_put(hsa_kmap *m, const uint32_t k[4], uint32_t v);
void hsa_kmap_free(hsa_kmap *m);

/* Strings interned across dumps: type names, sites, labels. Id 0 is "". */
typedef struct hsa_names {
	char **s;        /* [n] */
	uint64_t n, cap;
	uint32_t *slot;  /* [nslots] id + 1, 0 for an empty slot */
	uint64_t nslots;
} hsa_names;

/* The id of s[0..len), added when new; HSA_KMAP_NONE when out of memory. */
uint32_t hsa_names_id(hsa_names *t, const char *s, size_t len);
const char *hsa_names_str(const hsa_names *t, uint32_t id);
void hsa_names_free(hsa_names *t);

#endif
