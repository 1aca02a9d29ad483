/* libFuzzer target: the reader must never crash or read out of bounds,
 * whatever the bytes (most stop at a checksum; fuzz_records.c gets past). */
#include <stddef.h>
#include <stdint.h>

#include "fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_read_all(data, size);
	return 0;
}
