/* cmd_leaks.c - 'heapsnap leaks': what grows across dumps, who holds it. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "args.h"
#include "leaks.h"
#include "series.h"

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

/* One process's analysis, into the current JSON object: the shape of
 * the whole output before dumps were grouped by process. */
static void json_report(hsa_json *j, const hsa_leak_report *r, char **dumps, uint64_t max)
{
	char a[32];
	hsa_json_array(j, "dumps");
	for (int k = 0; k < r->ndumps; k++)
		hsa_json_str(j, NULL, dumps[k]);
	hsa_json_end(j);
	json_counts(j, "objects", r->objects, r->ndumps);
	json_counts(j, "matched", r->matched, r->ndumps);
	hsa_json_bool(j, "weak", r->weak);
	if (r->weak)
		hsa_json_str(j, "caveat", caveat);
	hsa_json_uint(j, "candidates", r->candidates);
	json_counts(j, "dead", r->dead, r->ndumps);
	json_counts(j, "dead_bytes", r->dead_bytes, r->ndumps);
	hsa_json_uint(j, "min_growth", r->min_growth);
	hsa_json_uint(j, "below_floor", r->below_floor);
	hsa_mem_leaks_json(j, r);
	if (r->native_tracked)
		hsa_native_json(j, "native", r->native_findings, r->nnative);
	hsa_json_array(j, "groups");
	for (uint64_t i = 0; i < r->ngroups && i < max; i++) {
		const hsa_leak_group *g = &r->groups[i];
		hsa_json_open(j, NULL);
		hsa_json_uint(j, "rank", i + 1);
		hsa_json_str(j, "sentence", g->sentence);
		hsa_json_str(j, "type", g->type);
		if (g->via)
			hsa_json_str(j, "via", g->via);
		if (g->site)
			hsa_json_str(j, "site", g->site);
		else
			hsa_json_null(j, "site");
		hsa_json_str(j, "signature", g->signature);
		json_counts(j, "count", g->count, r->ndumps);
		json_counts(j, "retained", g->retained, r->ndumps);
		hsa_json_int(j, "retained_growth", g->retained_growth);
		hsa_json_uint(j, "survivors", g->survivors);
		hsa_json_uint(j, "fresh", g->fresh);
		hsa_json_array(j, "samples");
		for (int k = 0; k < g->nsample; k++) {
			snprintf(a, sizeof(a), "0x%" PRIx64, g->sample[k]);
			hsa_json_str(j, NULL, a);
		}
		hsa_json_end(j);
		if (g->holder_addr) {
			hsa_json_open(j, "holder");
			snprintf(a, sizeof(a), "0x%" PRIx64, g->holder_addr);
			hsa_json_str(j, "address", a);
			hsa_json_str(j, "type", g->holder_type);
			hsa_json_str(j, "text", g->holder);
			hsa_json_str(j, "path", g->holder_path);
			json_counts(j, "len", g->holder_len, r->ndumps);
			json_counts(j, "retained", g->holder_retained, r->ndumps);
			hsa_json_close(j);
		} else {
			hsa_json_null(j, "holder");
		}
		if (g->where)
			hsa_json_str(j, "where", g->where);
		if (g->also)
			hsa_json_str(j, "also", g->also);
		hsa_json_close(j);
	}
	hsa_json_end(j);
}

/* "300 → 600 → 900" */
static void arrows(const uint64_t *v, int n, int bytes)
{
	char b[32];
	for (int k = 0; k < n; k++)
		printf("%s%s", k ? " → " : "", bytes ? hsa_human_size(v[k], b) : hsa_human_count(v[k], b));
}

/* Native allocation sites that grew in every dump (run --native). */
static void print_native(const hsa_leak_report *r)
{
	hsa_str t = {0}, line = {0};
	if (!r->nnative)
		printf("native: no native allocation site grew in every dump\n");
	for (size_t i = 0; i < r->nnative; i++) {
		line.len = 0;
		if (line.s)
			line.s[0] = 0;
		if (hsa_native_sentence(&r->native_findings[i], &line))
			break;
		printf("%s\n", hsa_tty(&t, line.s));
	}
	hsa_str_free(&t);
	hsa_str_free(&line);
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
	if (r->native_tracked)
		print_native(r);
	if (!r->ngroups && !r->unexplained) {
		printf("\nno %s found: no group of them (type, allocation site, path) grew in every"
		       " dump%s.\n", r->nnative ? "leak of Python objects" : "leak",
		       r->below_floor ? " by more than the floor" : "");
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

/* One process's dumps and what its series shows. */
typedef struct proc_result {
	const hsa_proc *p;
	char **paths;        /* the dumps compared, oldest first */
	int n;               /* at most HSA_LEAK_MAX_DUMPS of its p->n */
	hsa_leak_report *r;  /* NULL with one dump: growth cannot be told */
} proc_result;

static int leaking(const hsa_leak_report *r) { return r && (r->ngroups || r->unexplained); }

/* "pid 4033", with its start (or host) when another process of s had the
 * same pid. */
static const char *proc_label(const hsa_series *s, const hsa_proc *p, char *buf, size_t len)
{
	const hsa_dump_id *d = p->first;
	char t[24];
	int reused = 0;
	for (int i = 0; i < s->nprocs; i++)
		reused |= &s->procs[i] != p && s->procs[i].first->pid == d->pid;
	if (!d->pid)
		snprintf(buf, len, "pid ?");
	else if (reused && d->start)
		snprintf(buf, len, "pid %" PRId64 " started %s", d->pid, hsa_utc(d->start, t));
	else if (reused) /* a dump before the process.* keys */
		snprintf(buf, len, "pid %" PRId64 " on %s", d->pid, d->host ? d->host : "?");
	else
		snprintf(buf, len, "pid %" PRId64, d->pid);
	return buf;
}

static void print_all(const hsa_series *s, const proc_result *pr, uint64_t max)
{
	char who[80];
	hsa_str title = {0}, t = {0};
	int many = s->nprocs > 1;
	if (many)
		printf("%d dumps of %d processes, by dump time; each process is compared with its own"
		       " dumps\n", s->n, s->nprocs);
	for (int i = 0; i < s->nprocs; i++) {
		const proc_result *x = &pr[i];
		proc_label(s, x->p, who, sizeof(who));
		title.len = 0;
		if (many && !hsa_proc_title(x->p, &title))
			printf("\n== %s: %d dump%s ==\n", hsa_tty(&t, title.s), x->p->n,
			       x->p->n == 1 ? "" : "s");
		if (!x->r) {
			printf("only one dump of %s: cannot tell growth (%s)\n", who, x->paths[0]);
			continue;
		}
		if (x->n < x->p->n)
			printf("%s has %d dumps: comparing %d of them, spread over its whole time"
			       " (--since keeps the later ones)\n", who, x->p->n, x->n);
		print_text(x->r, x->paths, max);
	}
	if (many) {
		printf("\nsummary:");
		for (int i = 0; i < s->nprocs; i++) {
			const hsa_leak_report *r = pr[i].r;
			proc_label(s, pr[i].p, who, sizeof(who));
			if (leaking(r) && r->ngroups)
				printf(" %s leaks (%" PRIu64 " growing group%s%s)", who, r->ngroups,
				       r->ngroups == 1 ? "" : "s",
				       r->unexplained ? ", and memory no Python object explains" : "");
			else if (leaking(r))
				printf(" %s leaks (memory no Python object explains)", who);
			else if (r)
				printf(" %s: no leak found", who);
			else
				printf(" %s: one dump, cannot tell growth", who);
			printf("%s", i + 1 < s->nprocs ? ";" : "\n");
		}
	}
	hsa_str_free(&title);
	hsa_str_free(&t);
}

static void json_proc(hsa_json *j, const proc_result *x, uint64_t max)
{
	const hsa_dump_id *d = x->p->first;
	char t[24];
	hsa_json_open(j, NULL);
	if (d->pid)
		hsa_json_int(j, "pid", d->pid);
	else
		hsa_json_null(j, "pid");
	if (d->start) {
		hsa_json_f64(j, "start", d->start);
		hsa_json_str(j, "start_utc", hsa_utc(d->start, t));
	} else {
		hsa_json_null(j, "start");
		hsa_json_null(j, "start_utc");
	}
	const char *text[][2] = {{"host", d->host}, {"argv", d->argv}, {"executable", d->exe}};
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
		if (text[i][1])
			hsa_json_str(j, text[i][0], text[i][1]);
		else
			hsa_json_null(j, text[i][0]);
	}
	hsa_json_uint(j, "dumps_found", (uint64_t)x->p->n);
	hsa_json_str(j, "verdict", !x->r ? "one dump" : leaking(x->r) ? "leaks" : "no leak");
	if (x->r) {
		json_report(j, x->r, x->paths, max);
	} else {
		hsa_json_array(j, "dumps");
		hsa_json_str(j, NULL, x->paths[0]);
		hsa_json_end(j);
	}
	hsa_json_close(j);
}

static void print_json(const hsa_series *s, const proc_result *pr, uint64_t max)
{
	hsa_json j;
	hsa_json_init(&j, stdout);
	hsa_json_open(&j, NULL);
	hsa_json_array(&j, "dumps");
	for (int k = 0; k < s->n; k++)
		hsa_json_str(&j, NULL, s->dumps[k].path);
	hsa_json_end(&j);
	hsa_json_array(&j, "processes");
	for (int i = 0; i < s->nprocs; i++)
		json_proc(&j, &pr[i], max);
	hsa_json_end(&j);
	hsa_json_array(&j, "leaking");
	for (int i = 0; i < s->nprocs; i++) {
		if (!leaking(pr[i].r))
			continue;
		if (pr[i].p->first->pid)
			hsa_json_int(&j, NULL, pr[i].p->first->pid);
		else
			hsa_json_null(&j, NULL);
	}
	hsa_json_end_document(&j);
}

/* Runs the analysis on each process's series of two dumps or more.
 * Returns how many were analysed, or -1 with err. */
static int analyse(const hsa_series *s, const hsa_leak_opts *lo, proc_result *pr, char *err,
                   size_t errlen)
{
	int done = 0;
	for (int i = 0; i < s->nprocs; i++) {
		const hsa_proc *p = &s->procs[i];
		int pick[HSA_LEAK_MAX_DUMPS];
		pr[i].p = p;
		pr[i].n = hsa_proc_pick(p, HSA_LEAK_MAX_DUMPS, pick);
		if (!(pr[i].paths = malloc((size_t)pr[i].n * sizeof(char *)))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		for (int k = 0; k < pr[i].n; k++)
			pr[i].paths[k] = s->dumps[p->dump[pick[k]]].path;
		if (pr[i].n < 2)
			continue;
		hsa_warnings warnings = {0};
		int failed = hsa_leaks_find((const char *const *)pr[i].paths, pr[i].n, lo, &pr[i].r, &warnings,
		                         err, errlen);
		hsa_warnings_print(&warnings);
		if (failed)
			return -1;
		done++;
	}
	return done;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	hsa_series *s = NULL;
	hsa_series_filter f;
	proc_result *pr = NULL;
	hsa_leak_opts lo;
	char err[1024];
	uint64_t max;
	struct stat sb;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_USAGE;
	if (hsa_arg_count(cmd, &a, "n", 10, &max) ||
	    hsa_arg_size(cmd, &a, "min-growth", HSA_LEAK_AUTO, &lo.min_growth) ||
	    hsa_series_options(cmd, &a, &f))
		goto done;
	if (a.npos == 1 && (stat(a.pos[0], &sb) || !S_ISDIR(sb.st_mode))) {
		hsa_usage_error(cmd, "give two dumps or more, or a directory of them");
		goto done;
	}
	rc = HSA_EXIT_FAIL;
	hsa_warnings warnings = {0};
	int failed = hsa_series_read(a.pos, a.npos, &f, &s, &warnings, err, sizeof(err));
	hsa_warnings_print(&warnings);
	if (failed || !(pr = calloc((size_t)s->nprocs, sizeof(proc_result)))) {
		hsa_error("%s", s ? "out of memory" : err);
		goto done;
	}
	int analysed = analyse(s, &lo, pr, err, sizeof(err));
	if (analysed < 0) {
		hsa_error("%s", err);
		goto done;
	}
	if (hsa_arg(cmd, &a, "json"))
		print_json(s, pr, max);
	else
		print_all(s, pr, max);
	if (!analysed)
		hsa_error("no process has two dumps among the %d: cannot tell growth", s->n);
	else
		rc = 0;
done:
	for (int i = 0; pr && i < s->nprocs; i++) {
		hsa_leak_report_free(pr[i].r);
		free(pr[i].paths);
	}
	free(pr);
	hsa_series_free(s);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"n", 'n', "N", "show the N groups with the largest retained growth (default 10)"},
	{"min-growth", 0, "SIZE", "report groups whose retained size grew by at least SIZE"
	                          " (default: 1/16384 of the last dump's RSS, at least 16K)"},
	{"pid", 0, "PID", "only the dumps of process PID"},
	{"since", 0, "TIME", "only the dumps taken at or after TIME (2024-12-06T03:46Z, or 10m, 2h"
	                     " back from now)"},
	{"json", 0, NULL, "print JSON for scripts"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_leaks = {
	.name = "leaks",
	.summary = "what keeps growing across dumps, who holds it and where it was made",
	.usage = "D1 D2 [D3 ...] | DIR... [--pid PID] [--since TIME] [-n N] [--json]",
	.details =
		"Give dumps taken minutes or hours apart, or directories of them (their\n"
		"*.hsnap files). They are put in the order they were taken and grouped by\n"
		"process (pid and start time: a prefork service's workers each have their\n"
		"own), and each process's dumps are compared with each other (at most 8,\n"
		"spread over its whole time); a process with one dump is named, its\n"
		"growth unknown, and a summary says which processes leak.\n"
		"A candidate is an object created after D1 and still alive in every later dump\n"
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
	.min_pos = 1,
	.max_pos = INT_MAX,
	.opts = opts,
	.run = run,
};
