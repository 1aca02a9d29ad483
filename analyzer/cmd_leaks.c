/* cmd_leaks.c - 'heapsnap leaks': what grows across dumps, who holds it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"
#include "leaks.h"

static const char caveat[] =
	"only two dumps: a candidate is any object new in the second, including per-request"
	" objects that would be gone by the next dump; a third dump confirms what survives";

static void json_counts(hsa_json *j, const char *key, const uint64_t *v, int n)
{
	hsa_json_array(j, key);
	for (int k = 0; k < n; k++)
		hsa_json_uint(j, NULL, v[k]);
	hsa_json_end(j);
}

static void print_json(const hsa_leak_report *r, char **dumps, uint64_t max)
{
	hsa_json j;
	char a[32];
	hsa_json_init(&j, stdout);
	hsa_json_open(&j, NULL);
	hsa_json_array(&j, "dumps");
	for (int k = 0; k < r->ndumps; k++)
		hsa_json_str(&j, NULL, dumps[k]);
	hsa_json_end(&j);
	json_counts(&j, "objects", r->objects, r->ndumps);
	json_counts(&j, "matched", r->matched, r->ndumps);
	hsa_json_bool(&j, "weak", r->weak);
	if (r->weak)
		hsa_json_str(&j, "caveat", caveat);
	hsa_json_uint(&j, "candidates", r->candidates);
	json_counts(&j, "dead", r->dead, r->ndumps);
	json_counts(&j, "dead_bytes", r->dead_bytes, r->ndumps);
	hsa_json_uint(&j, "min_growth", r->min_growth);
	hsa_json_uint(&j, "below_floor", r->below_floor);
	hsa_mem_leaks_json(&j, r);
	hsa_json_array(&j, "groups");
	for (uint64_t i = 0; i < r->ngroups && i < max; i++) {
		const hsa_leak_group *g = &r->groups[i];
		hsa_json_open(&j, NULL);
		hsa_json_uint(&j, "rank", i + 1);
		hsa_json_str(&j, "sentence", g->sentence);
		hsa_json_str(&j, "type", g->type);
		if (g->via)
			hsa_json_str(&j, "via", g->via);
		if (g->site)
			hsa_json_str(&j, "site", g->site);
		else
			hsa_json_null(&j, "site");
		hsa_json_str(&j, "signature", g->signature);
		json_counts(&j, "count", g->count, r->ndumps);
		json_counts(&j, "retained", g->retained, r->ndumps);
		hsa_json_int(&j, "retained_growth", g->retained_growth);
		hsa_json_uint(&j, "survivors", g->survivors);
		hsa_json_uint(&j, "fresh", g->fresh);
		hsa_json_array(&j, "samples");
		for (int k = 0; k < g->nsample; k++) {
			snprintf(a, sizeof(a), "0x%" PRIx64, g->sample[k]);
			hsa_json_str(&j, NULL, a);
		}
		hsa_json_end(&j);
		if (g->holder_addr) {
			hsa_json_open(&j, "holder");
			snprintf(a, sizeof(a), "0x%" PRIx64, g->holder_addr);
			hsa_json_str(&j, "address", a);
			hsa_json_str(&j, "type", g->holder_type);
			hsa_json_str(&j, "text", g->holder);
			hsa_json_str(&j, "path", g->holder_path);
			json_counts(&j, "len", g->holder_len, r->ndumps);
			json_counts(&j, "retained", g->holder_retained, r->ndumps);
			hsa_json_close(&j);
		} else {
			hsa_json_null(&j, "holder");
		}
		if (g->where)
			hsa_json_str(&j, "where", g->where);
		if (g->also)
			hsa_json_str(&j, "also", g->also);
		hsa_json_close(&j);
	}
	hsa_json_end_document(&j);
}

/* "300 → 600 → 900" */
static void arrows(const uint64_t *v, int n, int bytes)
{
	char b[32];
	for (int k = 0; k < n; k++)
		printf("%s%s", k ? " → " : "", bytes ? hsa_human_size(v[k], b) : hsa_human_count(v[k], b));
}

static void print_text(const hsa_leak_report *r, char **dumps, uint64_t max)
{
	char a[32], b[32];
	/* Names from the dumps reach the terminal through hsa_tty. */
	hsa_str t1 = {0}, t2 = {0};
	int L = r->ndumps - 1;
	printf("%d dumps, oldest first:\n", r->ndumps);
	for (int k = 0; k < r->ndumps; k++) {
		printf("  %d  %s  %s objects", k + 1, dumps[k], hsa_human_count(r->objects[k], a));
		if (k)
			printf(", %s the same as in dump %d", hsa_human_count(r->matched[k], b), k);
		printf("\n");
	}
	hsa_mem_print(stdout, "memory    ", &r->mem[L], &r->mem[0], "dump 1");
	if (r->weak)
		printf("%s.\n", caveat);
	if (r->weak)
		printf("candidates: %s objects new in dump 2\n", hsa_human_count(r->candidates, a));
	else
		printf("candidates: %s objects created after dump 1 and alive in every later dump\n",
		       hsa_human_count(r->candidates, a));
	if (r->dead[L])
		printf("dead      %s objects (%s) dead in all but name in dump %d (cancelled asyncio"
		       " timers still scheduled, done tasks and futures): not counted\n",
		       hsa_human_count(r->dead[L], a), hsa_human_size(r->dead_bytes[L], b), L + 1);
	if (r->below_floor)
		printf("floor     %s growing group%s under %s of retained growth not shown"
		       " (--min-growth)\n", hsa_human_count(r->below_floor, a),
		       r->below_floor == 1 ? "" : "s", hsa_human_size(r->min_growth, b));
	if (!r->ngroups && !r->unexplained) {
		printf("\nno leak found: no group of them (type, allocation site, path) grew in every"
		       " dump%s.\n", r->below_floor ? " by more than the floor" : "");
		return;
	}
	if (!r->ngroups)
		printf("\nno group of objects grew in every dump, but memory no Python object"
		       " explains did:\n");
	else
		printf("\n%" PRIu64 " growing group%s, largest retained growth first:\n", r->ngroups,
	       r->ngroups == 1 ? "" : "s");
	for (uint64_t i = 0; i < r->ngroups && i < max; i++) {
		const hsa_leak_group *g = &r->groups[i];
		if (r->unexplained && r->unexplained_rank == i)
			hsa_mem_leaks_print(stdout, r);
		printf("\n#%" PRIu64 " %s\n", i + 1, hsa_tty(&t1, g->sentence));
		printf("   type      %s%s%s\n", hsa_tty(&t1, g->type), g->via ? ", held in " : "",
		       hsa_tty(&t2, g->via));
		printf("   site      %s\n", g->site ? hsa_tty(&t1, g->site) : "(no allocation traceback)");
		printf("   count     ");
		arrows(g->count, r->ndumps, 0);
		if (r->weak)
			printf(" (%s new in dump 2)\n", hsa_human_count(g->survivors, a));
		else
			printf(" (%s new since dump 1, %s of them alive in every later dump)\n",
			       hsa_human_count(g->fresh, a), hsa_human_count(g->survivors, b));
		printf("   retained  ");
		arrows(g->retained, r->ndumps, 1);
		printf("\n   path      %s\n", hsa_tty(&t1, g->signature));
		if (g->holder_addr) {
			printf("   holder    0x%" PRIx64 " %s, ", g->holder_addr,
			       hsa_tty(&t1, g->holder_type));
			arrows(g->holder_len, r->ndumps, 0);
			printf(" items\n             %s\n", hsa_tty(&t1, g->holder_path));
		}
		if (g->where)
			printf("   pending   %s\n", hsa_tty(&t1, g->where));
		if (g->also)
			printf("   also      %s\n", hsa_tty(&t1, g->also));
		printf("   see       heapsnap show %s 0x%" PRIx64 "\n", dumps[L],
		       g->holder_addr ? g->holder_addr : g->sample[0]);
		printf("             heapsnap path %s 0x%" PRIx64 "\n", dumps[L], g->sample[0]);
		printf("             heapsnap graph");
		for (int k = 0; k < r->ndumps; k++)
			printf(" %s", dumps[k]);
		printf(" --leak %" PRIu64 " -o leak%" PRIu64 ".svg\n", i + 1, i + 1);
	}
	/* ranked after every group shown: still shown */
	if (r->unexplained && r->unexplained_rank >= (r->ngroups < max ? r->ngroups : max))
		hsa_mem_leaks_print(stdout, r);
	if (r->ngroups > max)
		printf("\n(%" PRIu64 " more; see -n)\n", r->ngroups - max);
	hsa_str_free(&t1);
	hsa_str_free(&t2);
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	hsa_leak_report *r = NULL;
	hsa_leak_opts lo;
	char err[1024];
	uint64_t max;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_USAGE;
	if (hsa_arg_count(cmd, &a, "n", 10, &max) ||
	    hsa_arg_size(cmd, &a, "min-growth", HSA_LEAK_AUTO, &lo.min_growth))
		goto done;
	rc = HSA_EXIT_FAIL;
	if (hsa_leaks_find((const char *const *)a.pos, a.npos, &lo, &r, err, sizeof(err))) {
		hsa_error("%s", err);
		goto done;
	}
	if (hsa_arg(cmd, &a, "json"))
		print_json(r, a.pos, max);
	else
		print_text(r, a.pos, max);
	rc = 0;
done:
	hsa_leak_report_free(r);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"n", 'n', "N", "show the N groups with the largest retained growth (default 10)"},
	{"min-growth", 0, "SIZE", "report groups whose retained size grew by at least SIZE"
	                          " (default: 1/16384 of the last dump's RSS, at least 4K)"},
	{"json", 0, NULL, "print JSON for scripts"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_leaks = {
	.name = "leaks",
	.summary = "what keeps growing across dumps, who holds it and where it was made",
	.usage = "D1 D2 [D3 ...] [-n N] [--json]",
	.details =
		"Give dumps of one process taken minutes or hours apart, oldest first. A\n"
		"candidate is an object created after D1 and still alive in every later dump\n"
		"(the three-snapshot technique; with two dumps, any object new in D2, a\n"
		"weaker test). Candidates are grouped by type, allocation site (the\n"
		"innermost frame outside Python's standard library, when tracemalloc was\n"
		"tracing) and the shape of their path from a root (indices and keys\n"
		"masked); a group is reported when it grew in every dump. Its holder is\n"
		"the deepest object on the paths of most members (the accumulation point).\n"
		"Churn (replaced, not accumulated), caches at their bound and weak\n"
		"registries are not reported. Objects are matched across dumps by address\n"
		"and type, sharpened by GC generation and allocation traceback (see\n"
		"'heapsnap diff --help').",
	.min_pos = 2,
	.max_pos = HSA_LEAK_MAX_DUMPS,
	.opts = opts,
	.run = run,
};
