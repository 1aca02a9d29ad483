/* names.c - small hash maps, interned names and the hashes they use. */
#include <stdlib.h>
#include <string.h>

#include "names.h"

uint64_t hsa_hash_mix(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdull;
	a ^= a >> 33;
	return a;
}

static uint64_t key_hash(const uint32_t k[4])
{
	return hsa_hash_mix(((uint64_t)k[0] << 32 | k[1]) ^ hsa_hash_mix((uint64_t)k[2] << 32 | k[3]));
}

static int kmap_grow(hsa_kmap *m)
{
	uint64_t cap = m->cap ? m->cap * 2 : 1024;
	uint32_t *keys = malloc(cap * 4 * sizeof(uint32_t));
	uint32_t *vals = malloc(cap * sizeof(uint32_t));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -1;
	}
	memset(vals, 0xff, cap * sizeof(uint32_t));
	for (uint64_t i = 0; i < m->cap; i++) {
		if (m->vals[i] == HSA_KMAP_NONE)
			continue;
		uint64_t j = key_hash(&m->keys[4 * i]) & (cap - 1);
		while (vals[j] != HSA_KMAP_NONE)
			j = (j + 1) & (cap - 1);
		memcpy(&keys[4 * j], &m->keys[4 * i], 4 * sizeof(uint32_t));
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

/* The slot of k, or the empty slot where it would go. */
static uint64_t kmap_slot(const hsa_kmap *m, const uint32_t k[4])
{
	uint64_t i = key_hash(k) & (m->cap - 1);
	while (m->vals[i] != HSA_KMAP_NONE && memcmp(&m->keys[4 * i], k, 4 * sizeof(uint32_t)))
		i = (i + 1) & (m->cap - 1);
	return i;
}

uint32_t hsa_kmap_get(const hsa_kmap *m, const uint32_t k[4])
{
	return m->cap ? m->vals[kmap_slot(m, k)] : HSA_KMAP_NONE;
}

uint32_t hsa_kmap_put(hsa_kmap *m, const uint32_t k[4], uint32_t v)
{
	if ((m->n + 1) * 4 > m->cap * 3 && kmap_grow(m))
		return HSA_KMAP_NONE;
	uint64_t i = kmap_slot(m, k);
	if (m->vals[i] == HSA_KMAP_NONE) {
		memcpy(&m->keys[4 * i], k, 4 * sizeof(uint32_t));
		m->vals[i] = v;
		m->n++;
	}
	return m->vals[i];
}

void hsa_kmap_free(hsa_kmap *m)
{
	if (!m)
		return;
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

uint64_t hsa_hash_bytes(const void *p, size_t len)
{
	const unsigned char *c = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ c[i]) * 0x100000001b3ull;
	return hsa_hash_mix(h);
}

static int names_grow(hsa_names *t)
{
	uint64_t ns = t->nslots ? t->nslots * 2 : 1024;
	uint32_t *slot = calloc(ns, sizeof(uint32_t));
	if (!slot)
		return -1;
	for (uint64_t id = 0; id < t->n; id++) {
		uint64_t j = hsa_hash_bytes(t->s[id], strlen(t->s[id])) & (ns - 1);
		while (slot[j])
			j = (j + 1) & (ns - 1);
		slot[j] = (uint32_t)id + 1;
	}
	free(t->slot);
	t->slot = slot;
	t->nslots = ns;
	return 0;
}

static uint32_t names_add(hsa_names *t, const char *s, size_t len)
{
	if ((t->n + 1) * 2 > t->nslots && names_grow(t))
		return HSA_KMAP_NONE;
	uint64_t j = hsa_hash_bytes(s, len) & (t->nslots - 1);
	for (; t->slot[j]; j = (j + 1) & (t->nslots - 1)) {
		const char *c = t->s[t->slot[j] - 1];
		if (!strncmp(c, s, len) && !c[len])
			return t->slot[j] - 1;
	}
	if (t->n == t->cap) {
		uint64_t cap = t->cap ? t->cap * 2 : 256;
		char **p = realloc(t->s, cap * sizeof(char *));
		if (!p)
			return HSA_KMAP_NONE;
		t->s = p;
		t->cap = cap;
	}
	if (!(t->s[t->n] = strndup(s, len)))
		return HSA_KMAP_NONE;
	t->slot[j] = (uint32_t)++t->n;
	return (uint32_t)(t->n - 1);
}

uint32_t hsa_names_id(hsa_names *t, const char *s, size_t len)
{
	if (!t->n && names_add(t, "", 0) == HSA_KMAP_NONE) /* id 0 is "" */
		return HSA_KMAP_NONE;
	return names_add(t, s, len);
}

const char *hsa_names_str(const hsa_names *t, uint32_t id)
{
	return id < t->n ? t->s[id] : "";
}

void hsa_names_free(hsa_names *t)
{
	if (!t)
		return;
	hsa_strs_free(t->s, t->n);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}
