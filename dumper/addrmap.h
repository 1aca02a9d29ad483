/*
 * addrmap.h - per-address marks for the heap walk.
 *
 * A radix tree over the 48-bit address space with 64 KiB leaves. Every
 * object starts on its own 16-byte slot (objects are at least 16 bytes
 * long), so a leaf holds one bit per slot: "tracked by the GC" (set in a
 * first pass over the GC lists) and "seen" (an untracked object already
 * queued). After the first pass each leaf gets a rank directory so a
 * tracked object's bit maps to a dense index into an array of reference
 * balances: the object's refcount, minus every reference the walk found.
 * A positive balance at the end is what is held from C. Memory: about 1/56
 * of the address span that holds objects, plus 4 bytes per tracked object.
 */
#ifndef HSD_ADDRMAP_H
#define HSD_ADDRMAP_H

#include <stddef.h>
#include <stdint.h>

#define HSD_SLOT_SHIFT 4
#define HSD_LEAF_SHIFT 16
#define HSD_L3_BITS 12
#define HSD_L2_BITS 10
#define HSD_L1_BITS 10
#define HSD_ADDR_BITS (HSD_LEAF_SHIFT + HSD_L3_BITS + HSD_L2_BITS + HSD_L1_BITS)
#define HSD_LEAF_WORDS ((1u << (HSD_LEAF_SHIFT - HSD_SLOT_SHIFT)) / 64u)

struct hsd_leaf {
	uint64_t tracked[HSD_LEAF_WORDS];
	uint64_t seen[HSD_LEAF_WORDS];
	uint16_t rank[HSD_LEAF_WORDS]; /* tracked bits in earlier words */
	uint64_t base;                 /* counter index of the leaf's first */
};

struct hsd_l3 {
	struct hsd_leaf *leaf[1u << HSD_L3_BITS];
};

struct hsd_l2 {
	struct hsd_l3 *l3[1u << HSD_L2_BITS];
};

struct hsd_addrmap {
	struct hsd_l2 *l2[1u << HSD_L1_BITS];
	uint32_t *counts;   /* per tracked object: refcount - references,
	                       modulo 2^32 */
	uint64_t ntracked;
	size_t bytes;       /* memory held */
};

/* Marks addr as a GC-tracked object (first pass). Returns 0 or -1 (out of
 * memory, or an address beyond 48 bits). Tracked objects follow a 16-byte
 * GC header in 16-byte aligned memory, so their slot gives their address
 * back (hsd_addrmap_surplus). */
int hsd_addrmap_track(struct hsd_addrmap *m, uintptr_t addr);
/* Ends the first pass: builds the rank directories and the counters. */
int hsd_addrmap_seal(struct hsd_addrmap *m);
void hsd_addrmap_free(struct hsd_addrmap *m);
/* Creates the leaf for an address; NULL when out of memory or range. */
struct hsd_leaf *hsd_addrmap_leaf_new(struct hsd_addrmap *m, uintptr_t addr);

static inline struct hsd_leaf *hsd_addrmap_leaf(const struct hsd_addrmap *m,
                                                uintptr_t a)
{
	if (a >> HSD_ADDR_BITS)
		return NULL;
	const struct hsd_l2 *l2 = m->l2[a >> (HSD_ADDR_BITS - HSD_L1_BITS)];
	if (!l2)
		return NULL;
	const struct hsd_l3 *l3 =
		l2->l3[(a >> (HSD_LEAF_SHIFT + HSD_L3_BITS)) &
		       ((1u << HSD_L2_BITS) - 1)];
	if (!l3)
		return NULL;
	return l3->leaf[(a >> HSD_LEAF_SHIFT) & ((1u << HSD_L3_BITS) - 1)];
}

static inline uint32_t *hsd_addrmap_counter(const struct hsd_addrmap *m,
                                            const struct hsd_leaf *l,
                                            unsigned w, uint64_t bit)
{
	return &m->counts[l->base + l->rank[w] +
	                  (uint64_t)__builtin_popcountll(l->tracked[w] &
	                                                 (bit - 1))];
}

/* Notes a reference to addr (after seal). A counted reference lowers a
 * tracked object's balance; an untracked address not seen before is marked
 * seen. Returns 1 when the caller must queue the object, 0 when not, -1
 * when out of memory or range. */
static inline int hsd_addrmap_visit(struct hsd_addrmap *m, uintptr_t a,
                                    int counted)
{
	unsigned slot = (unsigned)(a >> HSD_SLOT_SHIFT) &
	                ((1u << (HSD_LEAF_SHIFT - HSD_SLOT_SHIFT)) - 1);
	unsigned w = slot >> 6;
	uint64_t bit = (uint64_t)1 << (slot & 63);
	struct hsd_leaf *l = hsd_addrmap_leaf(m, a);
	if (l) {
		if (l->tracked[w] & bit) {
			if (counted)
				--*hsd_addrmap_counter(m, l, w, bit);
			return 0;
		}
		if (l->seen[w] & bit)
			return 0;
	} else if (!(l = hsd_addrmap_leaf_new(m, a))) {
		return -1;
	}
	l->seen[w] |= bit;
	return 1;
}

/* Adds a tracked object's reference count to its balance. */
static inline void hsd_addrmap_refcnt(struct hsd_addrmap *m, uintptr_t a,
                                      uint32_t refcnt)
{
	unsigned slot = (unsigned)(a >> HSD_SLOT_SHIFT) &
	                ((1u << (HSD_LEAF_SHIFT - HSD_SLOT_SHIFT)) - 1);
	unsigned w = slot >> 6;
	uint64_t bit = (uint64_t)1 << (slot & 63);
	const struct hsd_leaf *l = hsd_addrmap_leaf(m, a);
	if (l && (l->tracked[w] & bit))
		*hsd_addrmap_counter(m, l, w, bit) += refcnt;
}

/* Calls fn(arg, address, surplus) for every tracked object whose balance
 * is positive, in address order; stops at the first non-zero return. */
int hsd_addrmap_surplus(const struct hsd_addrmap *m,
                        int (*fn)(void *arg, uintptr_t addr, uint32_t surplus),
                        void *arg);

#endif
