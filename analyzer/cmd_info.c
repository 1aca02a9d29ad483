/* cmd_info.c - 'heapsnap info': metadata, sections and record counts. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "dump.h"

typedef struct meta_list {
	size_t n, cap;
	struct meta_item {
		char *key;
		int type;
		char *text; /* the value as text */
		uint64_t u;
		int64_t i;
		double f;
	} *items;
} meta_list;

static int collect_meta(void *ctx, const hs_section *sec, const hs_record *rec)
{
	meta_list *ml = ctx;
	if (rec->kind != HS_K_META)
		return 0;
	if (ml->n == ml->cap) {
		size_t cap = ml->cap ? ml->cap * 2 : 32;
		struct meta_item *it = realloc(ml->items, cap * sizeof(*it));
		if (!it)
			return -1;
		ml->items = it;
		ml->cap = cap;
	}
	const hs_meta *m = &rec->u.meta;
	struct meta_item *it = &ml->items[ml->n];
	hsa_str text = {0};
	hsa_meta_text(m, &text);
	it->key = strndup(m->key, m->key_len);
	it->text = text.s ? text.s : strdup("");
	if (!it->key || !it->text) {
		free(it->key);
		free(it->text);
		return -1;
	}
	it->type = m->type;
	it->u = m->u;
	it->i = m->i;
	it->f = m->f;
	ml->n++;
	return 0;
}

static void meta_free(meta_list *ml)
{
	for (size_t i = 0; i < ml->n; i++) {
		free(ml->items[i].key);
		free(ml->items[i].text);
	}
	free(ml->items);
}

static const char *state_text(const hsa_file_stats *st)
{
	if (st->complete && !st->problems)
		return "complete";
	return st->complete ? "damaged" : "truncated or damaged";
}

static double ratio(const hsa_kind_stats *k)
{
	return k->comp ? (double)k->raw / (double)k->comp : 0.0;
}

static const char *kind_label(unsigned k)
{
	return k ? hs_kind_name(k) : "unknown";
}

static void print_json(const char *path, const hsa_file_stats *st, const meta_list *ml)
{
	hsa_json j;
	hsa_json_init(&j, stdout);
	hsa_json_open(&j, NULL);
	hsa_json_str(&j, "file", path);
	hsa_json_uint(&j, "size", st->size);
	char ver[32];
	snprintf(ver, sizeof(ver), "%u.%u", st->major, st->minor);
	hsa_json_str(&j, "format", ver);
	hsa_json_str(&j, "state", state_text(st));
	hsa_json_bool(&j, "complete", st->complete && !st->problems);
	if (st->problem[0])
		hsa_json_str(&j, "problem", st->problem);
	else
		hsa_json_null(&j, "problem");
	hsa_json_uint(&j, "problems", st->problems);
	hsa_json_uint(&j, "skipped_sections", st->skipped);
	hsa_json_open(&j, "meta");
	for (size_t i = 0; i < ml->n; i++) {
		const struct meta_item *it = &ml->items[i];
		if (it->type == HS_M_UINT)
			hsa_json_uint(&j, it->key, it->u);
		else if (it->type == HS_M_INT)
			hsa_json_int(&j, it->key, it->i);
		else if (it->type == HS_M_F64)
			hsa_json_f64(&j, it->key, it->f);
		else
			hsa_json_str(&j, it->key, it->text);
	}
	hsa_json_close(&j);
	hsa_json_array(&j, "sections");
	for (unsigned k = 0; k <= HS_K_MAX_KNOWN; k++) {
		const hsa_kind_stats *ks = &st->kind[k];
		if (!ks->sections)
			continue;
		hsa_json_open(&j, NULL);
		hsa_json_str(&j, "kind", kind_label(k));
		hsa_json_uint(&j, "sections", ks->sections);
		hsa_json_uint(&j, "records", ks->records);
		hsa_json_uint(&j, "compressed", ks->comp);
		hsa_json_uint(&j, "raw", ks->raw);
		hsa_json_f64(&j, "ratio", ratio(ks));
		hsa_json_close(&j);
	}
	hsa_json_end(&j);
	hsa_json_open(&j, "records");
	for (unsigned k = 1; k <= HS_K_MAX_KNOWN; k++)
		if (k != HS_K_INDEX)
			hsa_json_uint(&j, hs_kind_name(k), st->kind[k].records);
	hsa_json_uint(&j, "edges", st->edges);
	hsa_json_close(&j);
	hsa_json_close(&j);
	hsa_json_finish(&j);
}

static int print_text(const char *path, const hsa_file_stats *st, const meta_list *ml)
{
	char a[32], b[32];
	int rc = -1;
	hsa_table *mt = NULL, *st_tab = NULL;
	printf("file      %s (%s, format %u.%u)\n", path, hsa_human_size(st->size, a), st->major,
	       st->minor);
	printf("state     %s%s%s\n", state_text(st), st->problem[0] ? ": " : "", st->problem);
	if (st->skipped)
		printf("skipped   %" PRIu64 " unknown optional sections\n", st->skipped);
	static const char *const mh[] = {"key", "value"};
	mt = hsa_table_new(2, mh, "ll");
	if (!mt)
		goto done;
	for (size_t i = 0; i < ml->n; i++)
		if (hsa_table_row(mt) || hsa_table_cell(mt, "%s", ml->items[i].key) ||
		    hsa_table_cell(mt, "%s", ml->items[i].text))
			goto done;
	printf("\nmetadata\n");
	hsa_table_print(mt, stdout, "  ");
	static const char *const sh[] = {"kind", "sections", "records", "compressed", "raw",
	                                 "ratio"};
	st_tab = hsa_table_new(6, sh, "lrrrrr");
	if (!st_tab)
		goto done;
	hsa_kind_stats tot = {0};
	for (unsigned k = 0; k <= HS_K_MAX_KNOWN; k++) {
		const hsa_kind_stats *ks = &st->kind[k];
		if (!ks->sections)
			continue;
		tot.sections += ks->sections;
		tot.records += ks->records;
		tot.comp += ks->comp;
		tot.raw += ks->raw;
		if (hsa_table_row(st_tab) || hsa_table_cell(st_tab, "%s", kind_label(k)) ||
		    hsa_table_cell(st_tab, "%" PRIu64, ks->sections) ||
		    hsa_table_cell(st_tab, "%s", hsa_human_count(ks->records, a)) ||
		    hsa_table_cell(st_tab, "%s", hsa_human_size(ks->comp, b)) ||
		    hsa_table_cell(st_tab, "%s", hsa_human_size(ks->raw, a)) ||
		    hsa_table_cell(st_tab, "%.1fx", ratio(ks)))
			goto done;
	}
	if (hsa_table_row(st_tab) || hsa_table_cell(st_tab, "total") ||
	    hsa_table_cell(st_tab, "%" PRIu64, tot.sections) ||
	    hsa_table_cell(st_tab, "%s", hsa_human_count(tot.records, a)) ||
	    hsa_table_cell(st_tab, "%s", hsa_human_size(tot.comp, b)) ||
	    hsa_table_cell(st_tab, "%s", hsa_human_size(tot.raw, a)) ||
	    hsa_table_cell(st_tab, "%.1fx", ratio(&tot)))
		goto done;
	printf("\nsections\n");
	hsa_table_print(st_tab, stdout, "  ");
	printf("\nrecords   ");
	for (unsigned k = HS_K_STRINGS; k < HS_K_INDEX; k++) {
		printf("%s%s %s", k == HS_K_STRINGS ? "" : ", ",
		       hsa_human_count(st->kind[k].records, a), hs_kind_name(k));
		if (k == HS_K_REFS)
			printf(" (%s edges)", hsa_human_count(st->edges, b));
	}
	printf("\n");
	rc = 0;
done:
	hsa_table_free(mt);
	hsa_table_free(st_tab);
	if (rc)
		hsa_error("out of memory");
	return rc;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	hs_reader *r = NULL;
	meta_list ml = {0};
	hsa_file_stats st;
	hsa_progress prog;
	char err[512];
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	const char *path = a.pos[0];
	rc = HSA_EXIT_FAIL;
	r = hs_reader_open(path, err, sizeof(err));
	if (!r) {
		hsa_error("%s", err);
		goto done;
	}
	hsa_progress_start(&prog, "reading", hs_reader_size(r));
	int s = hsa_dump_scan(r, &st, collect_meta, &ml, &prog);
	hsa_progress_end(&prog);
	if (s) {
		hsa_error("out of memory reading '%s'", path);
		goto done;
	}
	if (hsa_arg(cmd, &a, "json"))
		print_json(path, &st, &ml);
	else if (print_text(path, &st, &ml))
		goto done;
	rc = 0;
done:
	hs_reader_free(r);
	meta_free(&ml);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{"json", 0, NULL, "print JSON for scripts"},
	{NULL, 0, NULL, NULL},
};

const hsa_cmd hsa_cmd_info = {
	.name = "info",
	.summary = "show a dump's metadata, sections and record counts",
	.usage = "FILE [--json]",
	.details = "Prints the metadata records, the sections of each kind with their record\n"
	           "counts and compressed and raw sizes, and whether the dump is complete.",
	.min_pos = 1,
	.max_pos = 1,
	.opts = opts,
	.run = run,
};
