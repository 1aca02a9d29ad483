/*
 * map.c - see map.h.
 */
#include "map.h"

#include <stdlib.h>

static size_t slot(const struct hsd_map *m, uint64_t k1, uint64_t k2)
{
	uint64_t h = (k1 ^ (k2 * 0xC2B2AE3D27D4EB4Full)) * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 32) & (m->cap - 1);
}

static int grow(struct hsd_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 256;
	struct hsd_map_entry *old = m->e;
	size_t oldcap = m->cap;
	if (!(m->e = calloc(cap, sizeof(*m->e)))) {
		m->e = old;
		return -1;
	}
	m->cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i].k1)
			continue;
		size_t j = slot(m, old[i].k1, old[i].k2);
		while (m->e[j].k1)
			j = (j + 1) & (cap - 1);
		m->e[j] = old[i];
	}
	free(old);
	return 0;
}

struct hsd_map_entry *hsd_map_get(struct hsd_map *m, uint64_t k1, uint64_t k2)
{
	if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
		return NULL;
	size_t i = slot(m, k1, k2);
	while (m->e[i].k1) {
		if (m->e[i].k1 == k1 && m->e[i].k2 == k2)
			return &m->e[i];
		i = (i + 1) & (m->cap - 1);
	}
	m->e[i].k1 = k1;
	m->e[i].k2 = k2;
	m->n++;
	return &m->e[i];
}

void hsd_map_free(struct hsd_map *m)
{
	free(m->e);
	m->e = NULL;
	m->n = m->cap = 0;
}
