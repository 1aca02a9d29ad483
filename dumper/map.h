/*
 * map.h - a small open-addressing hash map from two 64-bit words to two
 * 64-bit words, on libc malloc (tracemalloc's frames, tracebacks and
 * per-site totals). Key word k1 must not be 0.
 */
#ifndef HSD_MAP_H
#define HSD_MAP_H

#include <stddef.h>
#include <stdint.h>

struct hsd_map_entry {
	uint64_t k1, k2;
	uint64_t v1, v2;
};

struct hsd_map {
	struct hsd_map_entry *e;
	size_t n, cap;
};

/* The entry for (k1, k2), inserted zeroed if absent; NULL when out of
 * memory. Pointers stay valid until the next insertion. */
struct hsd_map_entry *hsd_map_get(struct hsd_map *m, uint64_t k1, uint64_t k2);
void hsd_map_free(struct hsd_map *m);

#endif
