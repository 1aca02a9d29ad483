#include "addrmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash(uint64_t a)
{
	/* Addresses are 16-byte aligned and clustered: mix all bits. */
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdull;
	a ^= a >> 33;
	return a;
}

int hsa_addrmap_init(hsa_addrmap *m, uint64_t n)
{
	uint64_t cap = 1024;
	while (cap < n + n / 2)
		cap *= 2;
	m->mask = cap - 1;
	m->keys = calloc(cap, sizeof(uint64_t));
	m->vals = malloc(cap * sizeof(hsa_node));
	if (!m->keys || !m->vals) {
		hsa_addrmap_free(m);
		return -1;
	}
	return 0;
}

hsa_node hsa_addrmap_put(hsa_addrmap *m, uint64_t addr, hsa_node v)
{
	for (uint64_t i = hash(addr) & m->mask;; i = (i + 1) & m->mask) {
		if (m->keys[i] == addr)
			return m->vals[i];
		if (!m->keys[i]) {
			m->keys[i] = addr;
			m->vals[i] = v;
			return v;
		}
	}
}

hsa_node hsa_addrmap_get(const hsa_addrmap *m, uint64_t addr)
{
	if (!addr)
		return HSA_NONE;
	for (uint64_t i = hash(addr) & m->mask;; i = (i + 1) & m->mask) {
		if (m->keys[i] == addr)
			return m->vals[i];
		if (!m->keys[i])
			return HSA_NONE;
	}
}

void hsa_addrmap_get_many(const hsa_addrmap *m, const uint64_t *addrs, size_t n,
                          hsa_node *out)
{
	enum { AHEAD = 16 };
	for (size_t i = 0; i < n; i++) {
		if (i + AHEAD < n) {
			uint64_t s = hash(addrs[i + AHEAD]) & m->mask;
			__builtin_prefetch(&m->keys[s]);
			__builtin_prefetch(&m->vals[s]);
		}
		out[i] = hsa_addrmap_get(m, addrs[i]);
	}
}

void hsa_addrmap_free(hsa_addrmap *m)
{
	if (!m)
		return;
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}
