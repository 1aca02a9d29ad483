/* cmd_native.c - 'heapsnap native': live native allocations by site. */
#include <inttypes.h>
#include <stdlib.h>

#include "db.h"
#include "native.h"
#include "args.h"

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	sqlite3 *db = NULL;
	hsa_native_dump d = {0};
	hsa_table *t = NULL;
	char err[1024];
	uint64_t n;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_USAGE;
	if (hsa_arg_count(cmd, &a, "n", 10, &n))
		goto done;
	rc = HSA_EXIT_FAIL;
	hsa_warnings warnings = {0};
	int failed = hsa_db_open(a.pos[0], &db, &warnings, err, sizeof(err));
	hsa_warnings_print(&warnings);
	if (failed || hsa_native_read(db, &d, err, sizeof(err))) {
		hsa_error("%s", err);
		goto done;
	}
	size_t shown = d.n < n ? d.n : (size_t)n;
	if (hsa_arg(cmd, &a, "json")) {
		hsa_json j;
		hsa_json_init(&j, stdout);
		hsa_json_open(&j, NULL);
		hsa_json_bool(&j, "tracked", d.tracked);
		hsa_json_int(&j, "bytes", d.bytes);
		hsa_json_int(&j, "blocks", d.count);
		hsa_json_int(&j, "sites", d.sites);
		if (d.overhead >= 0)
			hsa_json_int(&j, "overhead", d.overhead);
		else
			hsa_json_null(&j, "overhead");
		hsa_json_array(&j, "rows");
		for (size_t i = 0; i < shown; i++) {
			hsa_json_open(&j, NULL);
			hsa_json_int(&j, "size", d.g[i].bytes);
			hsa_json_int(&j, "blocks", d.g[i].count);
			hsa_json_int(&j, "stacks", d.g[i].sites);
			hsa_json_str(&j, "site", d.g[i].where);
			hsa_json_str(&j, "caller", d.g[i].caller);
			hsa_json_close(&j);
		}
		hsa_json_end_document(&j);
		rc = 0;
		goto done;
	}
	if (!d.tracked) {
		printf("no native allocations in this dump (the process did not run with"
		       " 'python -m heapsnap run --native')\n");
		rc = 0;
		goto done;
	}
	char b[16], c[32], o[16];
	printf("%s live in %s native blocks from %" PRId64 " stacks (the tracker's own tables:"
	       " %s)\n",
	       hsa_human_size((uint64_t)d.bytes, b), hsa_human_count((uint64_t)d.count, c), d.sites,
	       hsa_human_size((uint64_t)(d.overhead > 0 ? d.overhead : 0), o));
	static const char *const head[] = {"size", "blocks", "site", "called from"};
	if (!(t = hsa_table_new(4, head, "rrll"))) {
		hsa_error("out of memory");
		goto done;
	}
	for (size_t i = 0; i < shown; i++)
		if (hsa_table_row(t) ||
		    hsa_table_cell(t, "%s", hsa_human_size((uint64_t)d.g[i].bytes, b)) ||
		    hsa_table_cell(t, "%s", hsa_human_count((uint64_t)d.g[i].count, c)) ||
		    hsa_table_cell(t, "%s", d.g[i].where) || hsa_table_cell(t, "%s", d.g[i].caller)) {
			hsa_error("out of memory");
			goto done;
		}
	hsa_table_print(t, stdout, "  ");
	rc = 0;
done:
	hsa_table_free(t);
	hsa_native_dump_free(&d);
	sqlite3_close(db);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"n", 'n', "N", "show the N largest sites (default 10)"},
	{"json", 0, NULL, "print JSON for scripts"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_native = {
	.name = "native",
	.summary = "live native allocations (malloc, mmap) by site, for dumps of run --native",
	.usage = "DUMP [-n N] [--json]",
	.details = "The blocks of malloc & co and anonymous mmap alive at the dump that C\n"
	           "code allocated outside Python's allocators, grouped by site: the first\n"
	           "native frame outside the C library (its function, module and file:line\n"
	           "when the module is on this machine with the same build-id and addr2line\n"
	           "is installed) and the innermost Python frame that was running. Empty\n"
	           "unless the process ran with 'python -m heapsnap run --native'.",
	.min_pos = 1,
	.max_pos = 1,
	.opts = opts,
	.run = run,
};
