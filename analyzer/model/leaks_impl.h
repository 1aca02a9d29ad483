/*
 * leaks_impl.h - what the three files of the leak analysis share (not for
 * other callers: leaks.h is the interface): the state of one run, its
 * groups, and the functions one file calls in another. leaks.c finds
 * candidates, groups and holders; leak_sig.c computes path signatures;
 * leak_report.c folds, ranks and words the findings.
 */
#ifndef HSA_LEAKS_IMPL_H
#define HSA_LEAKS_IMPL_H

#include <stdint.h>

#include "leaks.h"
#include "match.h"
#include "util.h"

typedef struct group {
	uint32_t type, site, sig;
	uint64_t survivors, fresh;
	uint64_t count[HSA_LEAK_MAX_DUMPS], retained[HSA_LEAK_MAX_DUMPS];
	/* retained by members that are roots (pending tasks, held from C):
	 * nothing in another group dominates them */
	uint64_t rootret[HSA_LEAK_MAX_DUMPS];
	hsa_node sample;  /* a survivor in the last dump */
	hsa_node holder;  /* in the last dump, or HSA_NONE */
	int keep;         /* grows, and is reported (alone or folded) */
	uint32_t into;    /* the reported group it is folded into, or HSA_KMAP_NONE */
	int64_t growth;   /* retained, last dump minus first */
} group;

typedef struct ctx {
	int n;
	hsa_snap snaps[HSA_LEAK_MAX_DUMPS];
	hsa_names names;
	hsa_node *m[HSA_LEAK_MAX_DUMPS];  /* m[k][v]: v of dump k in dump k-1 (k >= 1) */
	uint32_t *sig[HSA_LEAK_MAX_DUMPS]; /* per node, 0 until computed */
	uint32_t *gof[HSA_LEAK_MAX_DUMPS]; /* per node, its group or HSA_KMAP_NONE */
	/* the signature trie: sig -> (parent sig, step kind, label, type) */
	hsa_kmap trie;
	uint32_t *tparent, *tlabel, *ttype;
	uint8_t *tkind, *trepeat;
	uint64_t nsig, capsig;
	hsa_kmap labels;  /* (dump, string id) -> names id */
	sqlite3_stmt *lstmt[HSA_LEAK_MAX_DUMPS];
	hsa_kmap gmap;    /* (type, site, sig) -> group */
	group *g;
	uint64_t ng, capg;
	hsa_node *stack;
	uint64_t nstack, capstack;
	uint32_t star;    /* names id of "*", a masked label */
	uint64_t min_growth;
	hsa_warnings *w; /* the caller's */
	char *err;
	size_t errlen;
} ctx;

/* Fill c->err: "out of memory", or dump k's database error. Return -1. */
int hsa_leak_oom(ctx *c);
int hsa_leak_dberr(ctx *c, int k);
/* Pushes v on c's work stack; -1 when out of memory. */
int hsa_leak_push(ctx *c, hsa_node v);
/* "Task" of "app.stats.Task": a pointer into type. */
const char *hsa_leak_short_name(const char *type);

/* leak_sig.c: path signatures and the labels they read. */
uint32_t hsa_leak_label_text(ctx *c, int k, uint32_t sid);
int hsa_leak_slot_named(ctx *c, int k, hsa_node p, const char *name);
int hsa_leak_names_slot(ctx *c, int k, hsa_node p);
uint32_t hsa_leak_sig_of(ctx *c, int k, hsa_node v);
int hsa_leak_sig_text(ctx *c, uint32_t sig, hsa_str *out);

/* leaks.c: accumulation points. */
int hsa_leak_find_holder(ctx *c, uint32_t gi, const hsa_node *mem, uint64_t nm, hsa_node *out);
int hsa_leak_fan_out(ctx *c, int k, hsa_node v, uint64_t *out);
int hsa_leak_is_weakref(ctx *c, int k, hsa_node v, int *out);

/* leak_report.c: fills r from the groups found (folded, ranked, worded). */
int hsa_leak_build_report(ctx *c, hsa_leak_report *r);

#endif
