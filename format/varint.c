#include "internal.h"
#include "hsnap.h"

size_t hs_put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

int hs_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	const uint8_t *q = *p;
	uint64_t r = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (q >= end)
			return -1;
		uint8_t b = *q++;
		/* the tenth byte may only carry the top bit of a u64 */
		if (shift == 63 && b > 1)
			return -1;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*p = q;
			*v = r;
			return 0;
		}
	}
	return -1;
}

int hs_kind_rank(unsigned kind)
{
	switch (kind) {
	case HS_K_STRINGS:
		return 0;
	case HS_K_FRAMES:
	case HS_K_TYPES:
	case HS_K_NATIVE_MODULES:
		return 1;
	case HS_K_TRACEBACKS:
		return 2;
	default:
		return 3;
	}
}
