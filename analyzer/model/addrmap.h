/* addrmap.h - object address -> dense node index, an open-addressing hash. */
#ifndef HSA_ADDRMAP_H
#define HSA_ADDRMAP_H

#include <stddef.h>
#include <stdint.h>

/* Node indices are 32-bit to keep the load within its memory budget (a
 * dump of more than HSA_MAX_NODES objects is refused); every count and
 * offset is 64-bit. */
typedef uint32_t hsa_node;
#define HSA_NONE ((hsa_node)UINT32_MAX)
#define HSA_MAX_NODES ((uint64_t)UINT32_MAX - 1)

typedef struct hsa_addrmap {
	uint64_t *keys; /* 0 marks an empty slot: no object lives at address 0 */
	hsa_node *vals;
	uint64_t mask;
} hsa_addrmap;

/* Sized for n entries. Returns 0 or -1 (no memory). */
int hsa_addrmap_init(hsa_addrmap *m, uint64_t n);
/* Inserts addr (!= 0) -> v; returns v, or the node already mapped. */
hsa_node hsa_addrmap_put(hsa_addrmap *m, uint64_t addr, hsa_node v);
hsa_node hsa_addrmap_get(const hsa_addrmap *m, uint64_t addr);
/* Looks up n addresses at once, prefetching ahead to hide memory latency. */
void hsa_addrmap_get_many(const hsa_addrmap *m, const uint64_t *addrs, size_t n,
                          hsa_node *out);
void hsa_addrmap_free(hsa_addrmap *m);

#endif
