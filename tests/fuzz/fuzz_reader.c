/* libFuzzer target: the reader must never crash or read out of bounds. */
#include <stddef.h>
#include <stdint.h>

#include "hsnap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	hs_reader *r = hs_reader_open_mem(data, size, "fuzz", err, sizeof(err));
	if (!r)
		return 0;
	hs_section s;
	hs_record rec;
	int rc;
	while ((rc = hs_reader_next_section(r, &s)) != 0) {
		while (rc > 0 && hs_reader_next_record(r, &rec) == 1)
			if (rec.kind == HS_K_REFS && rec.u.refs.n)
				(void)hs_reader_string(r, rec.u.refs.edges[0].label, NULL);
	}
	(void)hs_reader_complete(r);
	hs_reader_free(r);
	return 0;
}
