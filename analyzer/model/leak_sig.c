/* leak_sig.c - path signatures: each candidate's shortest path as a trie
 * of masked steps, and its text. */
#include <stdlib.h>
#include <string.h>

#include "hsnap.h"
#include "leaks_impl.h"
#include "path.h"

/* The step of a path signature that starts at a root. */
#define STEP_ROOT 0xfe

/* The names id of string id of dump k (a label), looked up once. */
uint32_t hsa_leak_label_text(ctx *c, int k, uint32_t sid)
{
	uint32_t key[4] = {(uint32_t)k, sid, 0, 0};
	uint32_t id = hsa_kmap_get(&c->labels, key);
	if (id != HSA_KMAP_NONE)
		return id;
	sqlite3_stmt *st = c->lstmt[k];
	if (!st && sqlite3_prepare_v2(c->snaps[k].db, "SELECT s FROM strings WHERE id = ?", -1,
	                              &c->lstmt[k], NULL) != SQLITE_OK) {
		hsa_leak_dberr(c, k);
		return HSA_KMAP_NONE;
	}
	st = c->lstmt[k];
	sqlite3_bind_int64(st, 1, sid);
	int r = sqlite3_step(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE) {
		hsa_leak_dberr(c, k);
		sqlite3_reset(st);
		return HSA_KMAP_NONE;
	}
	const char *s = r == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	id = hsa_names_id(&c->names, s ? s : "", s ? strlen(s) : 0);
	sqlite3_reset(st);
	if (id == HSA_KMAP_NONE || hsa_kmap_put(&c->labels, key, id) == HSA_KMAP_NONE) {
		hsa_leak_oom(c);
		return HSA_KMAP_NONE;
	}
	return id;
}

/* Whether dump k reaches p through the named slot name. */
int hsa_leak_slot_named(ctx *c, int k, hsa_node p, const char *name)
{
	const hsa_snap *s = &c->snaps[k];
	if (s->pkind[p] != HS_E_NAMED)
		return 0;
	uint32_t nl = hsa_leak_label_text(c, k, s->plabel[p]);
	return nl != HSA_KMAP_NONE && !strcmp(hsa_names_str(&c->names, nl), name);
}

/* Whether p is a frame's locals or a function's globals (a dict a cell
 * holds is data, not names). */
int hsa_leak_names_slot(ctx *c, int k, hsa_node p)
{
	return hsa_leak_slot_named(c, k, p, "f_locals") || hsa_leak_slot_named(c, k, p, "__globals__");
}

/* A dict whose keys are names (a module's, class's or instance's
 * __dict__, frame locals, function globals) keeps its keys in the
 * signature; any other container's keys and indices are masked, so its
 * items share one signature. */
static int namespace_dict(ctx *c, int k, hsa_node p)
{
	const hsa_snap *s = &c->snaps[k];
	return s->parent[p] == HSA_NONE || s->pkind[p] == HS_E_DICT_ATTR || hsa_leak_names_slot(c, k, p);
}

static uint32_t step_label(ctx *c, int k, hsa_node w)
{
	const hsa_snap *s = &c->snaps[k];
	switch (s->pkind[w]) {
	case HS_E_INDEX:
		return c->star;
	case HS_E_DICT_VALUE:
	case HS_E_DICT_KEY:
		if (!namespace_dict(c, k, s->parent[w]))
			return c->star;
		return hsa_leak_label_text(c, k, s->plabel[w]);
	case HS_E_ATTR:
	case HS_E_NAMED:
	case HS_E_LOCAL:
	case HS_E_CELL:
		return hsa_leak_label_text(c, k, s->plabel[w]);
	default:
		return 0;
	}
}

static uint32_t trie_put(ctx *c, uint32_t parent, uint32_t kind, uint32_t label, uint32_t type)
{
	if (c->nsig + 1 >= c->capsig) {
		uint64_t cap = c->capsig ? c->capsig * 2 : 1024;
		uint32_t *p = realloc(c->tparent, cap * sizeof(uint32_t));
		if (p)
			c->tparent = p;
		uint32_t *l = realloc(c->tlabel, cap * sizeof(uint32_t));
		if (l)
			c->tlabel = l;
		uint32_t *t = realloc(c->ttype, cap * sizeof(uint32_t));
		if (t)
			c->ttype = t;
		uint8_t *kk = realloc(c->tkind, cap);
		if (kk)
			c->tkind = kk;
		uint8_t *rr = realloc(c->trepeat, cap);
		if (rr)
			c->trepeat = rr;
		if (!p || !l || !t || !kk || !rr)
			return HSA_KMAP_NONE;
		c->capsig = cap;
	}
	uint32_t key[4] = {parent, kind, label, type};
	uint32_t id = hsa_kmap_put(&c->trie, key, (uint32_t)c->nsig + 1);
	if (id == c->nsig + 1) {
		c->nsig++;
		c->tparent[id] = parent;
		c->tkind[id] = (uint8_t)kind;
		c->trepeat[id] = 0;
		c->tlabel[id] = label;
		c->ttype[id] = type;
	}
	return id;
}

/* How far up a signature a step looks for the structure it recurses in. */
#define RECURSE_STEPS 16

/* The step from parent signature P to a node: a repeat of P's own step (a
 * linked list, nested lists) stays at P, marked as repeating, so the
 * links of a chain of any length share a signature. So does a step that
 * recurses into a structure above it, going back to the step that
 * entered the structure: from a node into a node of its own type by a
 * step of that kind (a tree's left and right children under its root,
 * dicts of dicts), or an unlabelled or indexed step repeating one further
 * up (a HAMT's nodes of alternating types). Members at any depth of one
 * structure then share a signature. A class's __dict__ under a module's
 * is no recursion, nor a list in an item of a list. */
static uint32_t extend(ctx *c, uint32_t P, uint32_t kind, uint32_t label, uint32_t type)
{
	if (c->tkind[P] == kind && c->tlabel[P] == label && c->ttype[P] == type) {
		c->trepeat[P] |= 1;
		return P;
	}
	int structural = kind == HS_E_OTHER || kind == HS_E_INDEX;
	uint32_t back = 0;
	int steps = 0;
	for (uint32_t A = P; A && steps < RECURSE_STEPS; A = c->tparent[A], steps++)
		if (c->tkind[A] == kind && c->ttype[A] == type &&
		    (c->ttype[P] == type || (structural && c->tlabel[A] == label)))
			back = A;
	if (back) {
		/* 2: entered again under other labels, shown masked */
		c->trepeat[back] |= c->tlabel[back] == label ? 1 : 2;
		return back;
	}
	return trie_put(c, P, kind, label, type);
}

/* The signature of reachable node v of dump k; HSA_KMAP_NONE on failure. */
uint32_t hsa_leak_sig_of(ctx *c, int k, hsa_node v)
{
	const hsa_snap *s = &c->snaps[k];
	uint32_t *memo = c->sig[k];
	c->nstack = 0;
	for (hsa_node u = v; !memo[u]; u = s->parent[u]) {
		/* a database whose parents loop would climb forever */
		if (c->nstack > s->n || hsa_leak_push(c, u)) {
			hsa_leak_oom(c);
			return HSA_KMAP_NONE;
		}
		if (s->parent[u] == HSA_NONE || s->parent[u] >= s->n)
			break;
	}
	while (c->nstack) {
		hsa_node w = c->stack[--c->nstack];
		hsa_node p = s->parent[w];
		uint32_t id;
		if (p == HSA_NONE || p >= s->n) {
			const hsa_snap_root *r = hsa_snap_root_of(s, w);
			id = trie_put(c, 0, STEP_ROOT, r ? r->text : 0, s->type[w]);
		} else {
			uint32_t label = step_label(c, k, w);
			if (label == HSA_KMAP_NONE)
				return HSA_KMAP_NONE;
			id = extend(c, memo[p], s->pkind[w] == 0xff ? HS_E_OTHER : s->pkind[w], label,
			            s->type[w]);
		}
		if (id == HSA_KMAP_NONE) {
			hsa_leak_oom(c);
			return HSA_KMAP_NONE;
		}
		memo[w] = id;
	}
	return memo[v];
}

/* "sys.modules['app'] → module → __dict__['_cache'] → dict[*] → Response",
 * as hsa_path_format writes a path. */
int hsa_leak_sig_text(ctx *c, uint32_t sig, hsa_str *out)
{
	uint64_t n = 0;
	for (uint32_t x = sig; x; x = c->tparent[x])
		n++;
	uint32_t *steps = malloc((n ? n : 1) * sizeof(uint32_t));
	if (!steps)
		return -1;
	uint64_t i = n;
	for (uint32_t x = sig; x; x = c->tparent[x])
		steps[--i] = x;
	int rc = 0;
	for (i = 0; i < n && !rc; i++) {
		uint32_t x = steps[i];
		const char *type = hsa_leak_short_name(hsa_names_str(&c->names, c->ttype[x]));
		if (i)
			rc = hsa_str_printf(out, " → ");
		if (!rc && c->tkind[x] == STEP_ROOT)
			rc = hsa_str_printf(out, "%s", c->tlabel[x] ? hsa_names_str(&c->names, c->tlabel[x])
			                                           : type);
		else if (!rc)
			rc = hsa_str_printf(out, "%s", c->tkind[x] == HS_E_DICT_ATTR ? "__dict__" : type);
		if (!rc && c->trepeat[x]) {
			/* "dict['next'] → dict (repeated)": the label again (masked
			 * when the structure recursed under others), then … */
			int kind = c->tkind[x] == HS_E_INDEX ? HS_E_DICT_VALUE : c->tkind[x];
			const char *label = c->trepeat[x] & 2 ? "*"
			                    : c->tlabel[x] ? hsa_names_str(&c->names, c->tlabel[x]) : NULL;
			rc = hsa_edge_label(kind, 0, label, out) || hsa_str_printf(out, " → … (repeated)");
		}
		if (rc || i + 1 >= n)
			continue;
		uint32_t nx = steps[i + 1];
		int kind = c->tkind[nx];
		if (kind == HS_E_DICT_ATTR)
			continue;
		if (kind == HS_E_INDEX)
			kind = HS_E_DICT_VALUE; /* masked: "[*]" */
		rc = hsa_edge_label(kind, 0, c->tlabel[nx] ? hsa_names_str(&c->names, c->tlabel[nx]) : NULL,
		                    out);
	}
	free(steps);
	return rc;
}

