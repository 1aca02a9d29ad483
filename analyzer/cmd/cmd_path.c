/* cmd_path.c - 'heapsnap path': retention paths from a root to an object. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "db.h"
#include "hsnap.h"
#include "path.h"

static int print_path(sqlite3 *db, const hsa_path *p, uint64_t k, hsa_json *j)
{
	hsa_str sig = {0}, tty = {0};
	hsa_table *t = NULL;
	int rc = -1;
	static const char *const heads[] = {"via", "address", "object"};
	if (hsa_path_format(db, p, &sig))
		goto done;
	if (j) {
		hsa_json_open(j, NULL);
		hsa_json_str(j, "signature", sig.s);
		hsa_json_array(j, "hops");
	} else {
		printf("%spath %" PRIu64 ": %s\n", k ? "\n" : "", k + 1, hsa_tty(&tty, sig.s));
		if (!(t = hsa_table_new(3, heads, "lll")))
			goto done;
	}
	for (uint64_t i = 0; i < p->n; i++) {
		const hsa_hop *h = &p->hops[i];
		hsa_str via = {0}, desc = {0};
		char as[32];
		uint64_t addr;
		int bad = hsa_db_addr(db, h->id, &addr);
		snprintf(as, sizeof(as), "0x%" PRIx64, addr);
		bad = bad || (i ? hsa_db_edge_label(db, h->kind, h->label, &via)
		             : hsa_str_printf(&via, "(root)")) ||
		          (i ? hsa_db_describe(db, h->id, &desc) : hsa_root_text(db, h->id, &desc));
		if (!bad && j) {
			hsa_json_open(j, NULL);
			hsa_json_str(j, "address", as);
			hsa_json_str(j, "object", desc.s);
			if (i) {
				hsa_json_str(j, "kind", hs_edge_kind_name((unsigned)h->kind));
				hsa_json_str(j, "label", via.s ? via.s : "");
			}
			hsa_json_close(j);
		} else if (!bad) {
			bad = hsa_table_row(t) || hsa_table_cell(t, "%s", via.s ? via.s : "") ||
			      hsa_table_cell(t, "%s", as) || hsa_table_cell(t, "%s", desc.s);
		}
		hsa_str_free(&via);
		hsa_str_free(&desc);
		if (bad)
			goto done;
	}
	if (j) {
		hsa_json_end(j);
		hsa_json_close(j);
	} else {
		hsa_table_print(t, stdout, "  ");
	}
	rc = 0;
done:
	hsa_table_free(t);
	hsa_str_free(&sig);
	hsa_str_free(&tty);
	return rc;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	sqlite3 *db = NULL;
	hsa_path *paths = NULL;
	int64_t n = 0;
	char err[1024];
	uint64_t max;
	hsa_json j, *jp = NULL;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_USAGE;
	if (hsa_arg_count(cmd, &a, "all", 1, &max))
		goto done;
	rc = HSA_EXIT_FAIL;
	int64_t id;
	hsa_warnings warnings = {0};
	int failed = hsa_db_open(a.pos[0], &db, &warnings, err, sizeof(err));
	hsa_warnings_print(&warnings);
	if (!failed && !hsa_db_resolve(db, a.pos[1], &id, err, sizeof(err))) {
		failed = (n = hsa_paths(db, id, max, &paths, &warnings, err, sizeof(err))) < 0;
		hsa_warnings_print(&warnings);
	} else {
		failed = 1;
	}
	if (failed) {
		hsa_error("%s", err);
		goto done;
	}
	hsa_str desc = {0}, tty = {0};
	hsa_db_describe(db, id, &desc);
	if (hsa_arg(cmd, &a, "json")) {
		jp = &j;
		hsa_json_init(&j, stdout);
		hsa_json_open(&j, NULL);
		hsa_json_str(&j, "object", desc.s);
		hsa_json_bool(&j, "reachable", n > 0);
		hsa_json_array(&j, "paths");
	} else if (!n) {
		printf("%s (%s) is not reachable from any root: garbage awaiting collection\n",
		       a.pos[1], hsa_tty(&tty, desc.s));
	}
	hsa_str_free(&desc);
	hsa_str_free(&tty);
	for (int64_t k = 0; k < n; k++)
		if (print_path(db, &paths[k], (uint64_t)k, jp)) {
			hsa_error("query failed: %s", sqlite3_errmsg(db));
			goto done;
		}
	if (jp)
		hsa_json_end_document(&j);
	rc = 0;
done:
	hsa_paths_free(paths, (uint64_t)(n > 0 ? n : 0));
	sqlite3_close(db);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"all", 0, "N", "up to N paths, one through each referrer, shortest first"},
	{"json", 0, NULL, "print JSON for scripts"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_path = {
	.name = "path",
	.summary = "why an object is alive: the shortest path(s) from a root",
	.usage = "DUMP OBJ [--all N] [--json]",
	.details = "Prints the shortest chain of references from a root (a module, a thread's\n"
	           "frame, an asyncio task, a reference held from C) to OBJ, one line per hop\n"
	           "with its label. Weak references are never on a path. OBJ is 0xADDR or\n"
	           "TYPE[#k] as for 'show'.",
	.min_pos = 2,
	.max_pos = 2,
	.opts = opts,
	.run = run,
};
