/*
 * addrmap.c - the radix tree of per-address marks (see addrmap.h).
 */
#include "addrmap.h"

#include <stdlib.h>
#include <string.h>

struct hsd_leaf *hsd_addrmap_leaf_new(struct hsd_addrmap *m, uintptr_t a)
{
	if (a >> HSD_ADDR_BITS)
		return NULL;
	struct hsd_l2 **l2 = &m->l2[a >> (HSD_ADDR_BITS - HSD_L1_BITS)];
	if (!*l2) {
		if (!(*l2 = calloc(1, sizeof(**l2))))
			return NULL;
		m->bytes += sizeof(**l2);
	}
	struct hsd_l3 **l3 = &(*l2)->l3[(a >> (HSD_LEAF_SHIFT + HSD_L3_BITS)) &
	                                ((1u << HSD_L2_BITS) - 1)];
	if (!*l3) {
		if (!(*l3 = calloc(1, sizeof(**l3))))
			return NULL;
		m->bytes += sizeof(**l3);
	}
	struct hsd_leaf **leaf =
		&(*l3)->leaf[(a >> HSD_LEAF_SHIFT) & ((1u << HSD_L3_BITS) - 1)];
	if (!*leaf) {
		if (!(*leaf = calloc(1, sizeof(**leaf))))
			return NULL;
		m->bytes += sizeof(**leaf);
	}
	return *leaf;
}

int hsd_addrmap_track(struct hsd_addrmap *m, uintptr_t a)
{
	if (a & ((1u << HSD_SLOT_SHIFT) - 1))
		return -1;
	struct hsd_leaf *l = hsd_addrmap_leaf(m, a);
	if (!l && !(l = hsd_addrmap_leaf_new(m, a)))
		return -1;
	unsigned slot = (unsigned)(a >> HSD_SLOT_SHIFT) &
	                ((1u << (HSD_LEAF_SHIFT - HSD_SLOT_SHIFT)) - 1);
	l->tracked[slot >> 6] |= (uint64_t)1 << (slot & 63);
	return 0;
}

int hsd_addrmap_seal(struct hsd_addrmap *m)
{
	uint64_t total = 0;
	for (size_t i = 0; i < (1u << HSD_L1_BITS); i++) {
		struct hsd_l2 *l2 = m->l2[i];
		for (size_t j = 0; l2 && j < (1u << HSD_L2_BITS); j++) {
			struct hsd_l3 *l3 = l2->l3[j];
			for (size_t k = 0; l3 && k < (1u << HSD_L3_BITS); k++) {
				struct hsd_leaf *l = l3->leaf[k];
				if (!l)
					continue;
				l->base = total;
				unsigned r = 0;
				for (unsigned w = 0; w < HSD_LEAF_WORDS; w++) {
					l->rank[w] = (uint16_t)r;
					r += (unsigned)__builtin_popcountll(l->tracked[w]);
				}
				total += r;
			}
		}
	}
	m->ntracked = total;
	/* One spare counter so an empty heap still gets a valid array. */
	if (!(m->counts = calloc(total + 1, sizeof(*m->counts))))
		return -1;
	m->bytes += (total + 1) * sizeof(*m->counts);
	return 0;
}

static int leaf_surplus(const struct hsd_addrmap *m, const struct hsd_leaf *l,
                        uintptr_t base,
                        int (*fn)(void *, uintptr_t, uint32_t), void *arg)
{
	uint64_t idx = l->base;
	for (unsigned w = 0; w < HSD_LEAF_WORDS; w++) {
		for (uint64_t bits = l->tracked[w]; bits; bits &= bits - 1, idx++) {
			int32_t balance = (int32_t)m->counts[idx];
			if (balance <= 0)
				continue;
			uintptr_t slot = w * 64u + (unsigned)__builtin_ctzll(bits);
			int rc = fn(arg, base | slot << HSD_SLOT_SHIFT,
			            (uint32_t)balance);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int hsd_addrmap_surplus(const struct hsd_addrmap *m,
                        int (*fn)(void *arg, uintptr_t addr, uint32_t surplus),
                        void *arg)
{
	for (uintptr_t i = 0; i < (1u << HSD_L1_BITS); i++) {
		const struct hsd_l2 *l2 = m->l2[i];
		for (uintptr_t j = 0; l2 && j < (1u << HSD_L2_BITS); j++) {
			const struct hsd_l3 *l3 = l2->l3[j];
			for (uintptr_t k = 0; l3 && k < (1u << HSD_L3_BITS); k++) {
				uintptr_t base = i << (HSD_ADDR_BITS - HSD_L1_BITS) |
				                 j << (HSD_LEAF_SHIFT + HSD_L3_BITS) |
				                 k << HSD_LEAF_SHIFT;
				int rc = l3->leaf[k]
				         ? leaf_surplus(m, l3->leaf[k], base, fn, arg)
				         : 0;
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

void hsd_addrmap_free(struct hsd_addrmap *m)
{
	for (size_t i = 0; i < (1u << HSD_L1_BITS); i++) {
		struct hsd_l2 *l2 = m->l2[i];
		for (size_t j = 0; l2 && j < (1u << HSD_L2_BITS); j++) {
			struct hsd_l3 *l3 = l2->l3[j];
			for (size_t k = 0; l3 && k < (1u << HSD_L3_BITS); k++)
				free(l3->leaf[k]);
			free(l3);
		}
		free(l2);
	}
	free(m->counts);
	memset(m, 0, sizeof(*m));
}
