/*
 * internal.h - byte-level helpers shared by writer.c and reader.c.
 * Not installed; not part of the public API.
 */
#ifndef HSNAP_INTERNAL_H
#define HSNAP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hsnap.h"

/* Longest LEB128 encoding of a u64. */
#define HS_VARINT_MAX 10

/* Encodes v as LEB128 at p; returns bytes written (1..10). */
size_t hs_put_varint(uint8_t *p, uint64_t v);
/* Decodes a LEB128 value from [*p, end); advances *p. Returns 0, or -1 for
 * a value that runs past end or does not fit 64 bits. */
int hs_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);

static inline uint64_t hs_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t hs_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static inline void hs_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void hs_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void hs_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t hs_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t hs_get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t hs_get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Dependency rank of a section kind: a section may only refer to ids
 * defined by sections of a lower rank written before it (FORMAT.md). */
int hs_kind_rank(unsigned kind);

/* Kinds whose sections keep addresses in a stream after the records. */
static inline int hs_has_addr_stream(unsigned kind)
{
	return kind == HS_K_OBJECTS || kind == HS_K_REFS;
}

#endif
