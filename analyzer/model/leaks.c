/* leaks.c - what grows across dumps: candidates, groups by type, site and
 * path signature, accumulation points, and the finding in words. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio.h"
#include "db.h"
#include "hsnap.h"
#include "leaks.h"
#include "match.h"
#include "path.h"

/* The step of a path signature that starts at a root. */
#define STEP_ROOT 0xfe
/* Share of a group's members whose paths pass through its holder. */
#define HOLDER_SHARE_PCT 80
#define HOLDER_TRIES 3
#define ALSO_MAX 4

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
	char *err;
	size_t errlen;
} ctx;

static int oom(ctx *c)
{
	snprintf(c->err, c->errlen, "out of memory");
	return -1;
}

static int dberr(ctx *c, int k)
{
	snprintf(c->err, c->errlen, "'%s': database query failed: %s", c->snaps[k].path,
	         sqlite3_errmsg(c->snaps[k].db));
	return -1;
}

static int push(ctx *c, hsa_node v)
{
	if (c->nstack == c->capstack) {
		uint64_t cap = c->capstack ? c->capstack * 2 : 1024;
		hsa_node *p = realloc(c->stack, cap * sizeof(hsa_node));
		if (!p)
			return -1;
		c->stack = p;
		c->capstack = cap;
	}
	c->stack[c->nstack++] = v;
	return 0;
}

static const char *short_name(const char *type)
{
	const char *dot = strrchr(type, '.');
	return dot ? dot + 1 : type;
}

/* ---- path signatures --------------------------------------------------- */

/* The names id of string id of dump k (a label), looked up once. */
static uint32_t label_text(ctx *c, int k, uint32_t sid)
{
	uint32_t key[4] = {(uint32_t)k, sid, 0, 0};
	uint32_t id = hsa_kmap_get(&c->labels, key);
	if (id != HSA_KMAP_NONE)
		return id;
	sqlite3_stmt *st = c->lstmt[k];
	if (!st && sqlite3_prepare_v2(c->snaps[k].db, "SELECT s FROM strings WHERE id = ?", -1,
	                              &c->lstmt[k], NULL) != SQLITE_OK) {
		dberr(c, k);
		return HSA_KMAP_NONE;
	}
	st = c->lstmt[k];
	sqlite3_bind_int64(st, 1, sid);
	const char *s = sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	id = hsa_names_id(&c->names, s ? s : "", s ? strlen(s) : 0);
	sqlite3_reset(st);
	if (id == HSA_KMAP_NONE || hsa_kmap_put(&c->labels, key, id) == HSA_KMAP_NONE) {
		oom(c);
		return HSA_KMAP_NONE;
	}
	return id;
}

/* Whether dump k reaches p through the named slot name. */
static int slot_named(ctx *c, int k, hsa_node p, const char *name)
{
	const hsa_snap *s = &c->snaps[k];
	if (s->pkind[p] != HS_E_NAMED)
		return 0;
	uint32_t nl = label_text(c, k, s->plabel[p]);
	return nl != HSA_KMAP_NONE && !strcmp(hsa_names_str(&c->names, nl), name);
}

/* Whether p is a frame's locals or a function's globals (a dict a cell
 * holds is data, not names). */
static int names_slot(ctx *c, int k, hsa_node p)
{
	return slot_named(c, k, p, "f_locals") || slot_named(c, k, p, "__globals__");
}

/* A dict whose keys are names (a module's, class's or instance's
 * __dict__, frame locals, function globals) keeps its keys in the
 * signature; any other container's keys and indices are masked, so its
 * items share one signature. */
static int namespace_dict(ctx *c, int k, hsa_node p)
{
	const hsa_snap *s = &c->snaps[k];
	return s->parent[p] == HSA_NONE || s->pkind[p] == HS_E_DICT_ATTR || names_slot(c, k, p);
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
		return label_text(c, k, s->plabel[w]);
	case HS_E_ATTR:
	case HS_E_NAMED:
	case HS_E_LOCAL:
	case HS_E_CELL:
		return label_text(c, k, s->plabel[w]);
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
static uint32_t sig_of(ctx *c, int k, hsa_node v)
{
	const hsa_snap *s = &c->snaps[k];
	uint32_t *memo = c->sig[k];
	c->nstack = 0;
	for (hsa_node u = v; !memo[u]; u = s->parent[u]) {
		/* a database whose parents loop would climb forever */
		if (c->nstack > s->n || push(c, u)) {
			oom(c);
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
			oom(c);
			return HSA_KMAP_NONE;
		}
		memo[w] = id;
	}
	return memo[v];
}

/* "sys.modules['app'] → module → __dict__['_cache'] → dict[*] → Response",
 * as hsa_path_format writes a path. */
static int sig_text(ctx *c, uint32_t sig, hsa_str *out)
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
		const char *type = short_name(hsa_names_str(&c->names, c->ttype[x]));
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

/* ---- candidates and groups --------------------------------------------- */

/* Reachable, and not dead in all but name (match.h): what can leak. */
static int reachable(const hsa_snap *s, hsa_node v)
{
	return (s->flags[v] & (HSA_SNAP_REACHABLE | HSA_SNAP_DEAD)) == HSA_SNAP_REACHABLE;
}

/* Whether v of the last dump is new since the first dump. */
static int fresh(const ctx *c, hsa_node v)
{
	for (int k = c->n - 1; k >= 1; k--)
		if ((v = c->m[k][v]) == HSA_NONE)
			return 1;
	return 0;
}

/* Whether v of the last dump was created after the first dump and lived
 * through every later one (two dumps: is new in the second). */
static int survivor(const ctx *c, hsa_node v)
{
	for (int k = c->n - 1; k >= 2; k--)
		if ((v = c->m[k][v]) == HSA_NONE)
			return 0;
	return c->m[1][v] == HSA_NONE;
}

static uint32_t group_put(ctx *c, uint32_t type, uint32_t site, uint32_t sig)
{
	uint32_t key[4] = {type, site, sig, 0};
	if (c->ng == c->capg) {
		uint64_t cap = c->capg ? c->capg * 2 : 256;
		group *p = realloc(c->g, cap * sizeof(group));
		if (!p)
			return HSA_KMAP_NONE;
		c->g = p;
		c->capg = cap;
	}
	uint32_t gi = hsa_kmap_put(&c->gmap, key, (uint32_t)c->ng);
	if (gi == c->ng) {
		memset(&c->g[gi], 0, sizeof(group));
		c->g[gi].type = type;
		c->g[gi].site = site;
		c->g[gi].sig = sig;
		c->g[gi].sample = HSA_NONE;
		c->g[gi].holder = HSA_NONE;
		c->g[gi].into = HSA_KMAP_NONE;
		c->ng++;
	}
	return gi;
}

/* Groups from the survivors of the last dump, then every dump's members
 * of those groups. Only objects of a (type, site) some group has need a
 * signature. */
static int find_groups(ctx *c)
{
	int L = c->n - 1;
	const hsa_snap *s = &c->snaps[L];
	hsa_kmap pairs = {0};
	int rc = -1;
	for (uint64_t v = 0; v < s->n; v++) {
		if (!reachable(s, (hsa_node)v) || !survivor(c, (hsa_node)v))
			continue;
		uint32_t sig = sig_of(c, L, (hsa_node)v);
		uint32_t site = hsa_snap_site(s, (hsa_node)v);
		uint32_t pair[4] = {s->type[v], site, 0, 0};
		if (sig == HSA_KMAP_NONE)
			goto done;
		uint32_t gi = group_put(c, s->type[v], site, sig);
		if (gi == HSA_KMAP_NONE || hsa_kmap_put(&pairs, pair, 1) == HSA_KMAP_NONE) {
			oom(c);
			goto done;
		}
		if (!c->g[gi].survivors++)
			c->g[gi].sample = (hsa_node)v;
	}
	for (int k = 0; k < c->n; k++) {
		const hsa_snap *sk = &c->snaps[k];
		if (!(c->gof[k] = malloc((sk->n ? sk->n : 1) * sizeof(uint32_t)))) {
			oom(c);
			goto done;
		}
		memset(c->gof[k], 0xff, sk->n * sizeof(uint32_t));
		for (uint64_t v = 0; v < sk->n; v++) {
			uint32_t pair[4] = {sk->type[v], hsa_snap_site(sk, (hsa_node)v), 0, 0};
			if (!reachable(sk, (hsa_node)v) || hsa_kmap_get(&pairs, pair) == HSA_KMAP_NONE)
				continue;
			uint32_t sig = sig_of(c, k, (hsa_node)v);
			if (sig == HSA_KMAP_NONE)
				goto done;
			uint32_t key[4] = {pair[0], pair[1], sig, 0};
			uint32_t gi = hsa_kmap_get(&c->gmap, key);
			if (gi != HSA_KMAP_NONE) {
				c->g[gi].count[k]++;
				c->gof[k][v] = gi;
				if (k == c->n - 1 && fresh(c, (hsa_node)v))
					c->g[gi].fresh++;
			}
		}
	}
	rc = 0;
done:
	hsa_kmap_free(&pairs);
	return rc;
}

/* Each group's retained size in dump k: the objects dominated by some
 * member, each counted once. A walk of the dominator tree counting, per
 * group, the members above the current object adds a member's retained
 * size only when none is above it. */
static int group_retained(ctx *c, int k)
{
	const hsa_snap *s = &c->snaps[k];
	uint64_t n = s->n;
	/* children lists of the dominator tree; slot n is the virtual root */
	uint64_t *off = calloc(n + 2, sizeof(uint64_t));
	hsa_node *kid = malloc((n ? n : 1) * sizeof(hsa_node));
	uint32_t *inside = calloc(c->ng ? c->ng : 1, sizeof(uint32_t));
	uint64_t *st = malloc((2 * n + 2) * sizeof(uint64_t));
	int rc = -1;
	if (!off || !kid || !inside || !st)
		goto done;
	for (uint64_t v = 0; v < n; v++)
		if (reachable(s, (hsa_node)v))
			off[(s->idom[v] < n ? s->idom[v] : n) + 1]++;
	for (uint64_t v = 0; v <= n; v++)
		off[v + 1] += off[v];
	uint64_t *fill = calloc(n + 1, sizeof(uint64_t));
	if (!fill)
		goto done;
	for (uint64_t v = 0; v < n; v++) {
		if (!reachable(s, (hsa_node)v))
			continue;
		uint64_t p = s->idom[v] < n ? s->idom[v] : n;
		kid[off[p] + fill[p]++] = (hsa_node)v;
	}
	free(fill);
	/* Entries with bit 32 set mark leaving a node. */
	const uint64_t LEAVE = (uint64_t)1 << 32;
	uint64_t sp = 0;
	for (uint64_t i = off[n]; i < off[n + 1]; i++)
		st[sp++] = kid[i];
	while (sp) {
		uint64_t e = st[--sp];
		hsa_node x = (hsa_node)e;
		if (e & LEAVE) {
			inside[c->gof[k][x]]--;
			continue;
		}
		uint32_t gi = c->gof[k][x];
		if (gi != HSA_KMAP_NONE) {
			if (!inside[gi]++)
				c->g[gi].retained[k] += s->retained[x];
			if (s->idom[x] >= n && hsa_snap_root_of(s, x))
				c->g[gi].rootret[k] += s->retained[x];
			st[sp++] = x | LEAVE;
		}
		for (uint64_t i = off[x]; i < off[x + 1]; i++)
			st[sp++] = kid[i];
	}
	rc = 0;
done:
	free(off);
	free(kid);
	free(inside);
	free(st);
	return rc ? oom(c) : 0;
}

/* ---- accumulation points ----------------------------------------------- */

/* Whether v of the last dump is a member of group gi or of its kind (type
 * and site): the head of a linked list is a member but for its path. */
static int kin(const ctx *c, uint32_t gi, hsa_node v)
{
	const hsa_snap *s = &c->snaps[c->n - 1];
	return c->gof[c->n - 1][v] == gi ||
	       (s->type[v] == c->g[gi].type && hsa_snap_site(s, v) == c->g[gi].site);
}

/* The deepest object on the shortest paths of at least HOLDER_SHARE_PCT %
 * of the members (MAT's accumulation point for a group): take one
 * member's path, and see where every other member's path joins it; each
 * object is walked once. A member whose path misses the majority's is
 * possible, so a few members are tried. HSA_NONE when the members have no
 * common holder (each its own root). */
static int find_holder(ctx *c, uint32_t gi, const hsa_node *mem, uint64_t nm, hsa_node *out)
{
	const hsa_snap *s = &c->snaps[c->n - 1];
	const uint32_t MISS = HSA_KMAP_NONE - 1;
	*out = HSA_NONE;
	for (uint64_t t = 0; t < HOLDER_TRIES && t < nm && *out == HSA_NONE; t++) {
		hsa_kmap at = {0};
		hsa_node *path = NULL;
		uint64_t *hits = NULL, np = 0;
		int rc = -1;
		for (hsa_node x = mem[t * nm / HOLDER_TRIES]; np <= s->n; x = s->parent[x]) {
			hsa_node *p = realloc(path, (np + 1) * sizeof(hsa_node));
			if (!p)
				goto next;
			path = p;
			uint32_t key[4] = {x, 0, 0, 0};
			if (hsa_kmap_put(&at, key, (uint32_t)np) == HSA_KMAP_NONE)
				goto next;
			path[np++] = x;
			if (s->parent[x] >= s->n)
				break;
		}
		if (!(hits = calloc(np, sizeof(uint64_t))))
			goto next;
		for (uint64_t i = 0; i < nm; i++) {
			uint32_t j = MISS;
			c->nstack = 0;
			for (hsa_node x = mem[i];; x = s->parent[x]) {
				uint32_t key[4] = {x, 0, 0, 0};
				if ((j = hsa_kmap_get(&at, key)) != HSA_KMAP_NONE)
					break;
				if (c->nstack > s->n || push(c, x))
					goto next;
				if (s->parent[x] >= s->n) {
					j = MISS;
					break;
				}
			}
			for (uint64_t q = 0; q < c->nstack; q++) {
				uint32_t key[4] = {c->stack[q], 0, 0, 0};
				if (hsa_kmap_put(&at, key, j) == HSA_KMAP_NONE)
					goto next;
			}
			if (j != MISS)
				hits[j]++;
		}
		/* Members and their kind are never the holder: in a linked
		 * list every link holds the ones after it, and the holder is
		 * what holds the head. */
		uint64_t through = 0;
		for (uint64_t i = 0; i < np; i++) {
			through += hits[i];
			if (through * 100 >= nm * HOLDER_SHARE_PCT && !kin(c, gi, path[i])) {
				*out = path[i];
				break;
			}
		}
		rc = 0;
	next:
		hsa_kmap_free(&at);
		free(path);
		free(hits);
		if (rc)
			return oom(c);
	}
	return 0;
}

/* The holder's fan-out in dump k: its length, or else its references. */
static int fan_out(ctx *c, int k, hsa_node v, uint64_t *out)
{
	static const char sql[] =
		"SELECT coalesce(len, (SELECT count(*) FROM refs WHERE src = ?1 AND kind != 11))"
		" FROM objects WHERE id = ?1";
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->snaps[k].db, sql, -1, &st, NULL) != SQLITE_OK)
		return dberr(c, k);
	sqlite3_bind_int64(st, 1, (int64_t)v + 1);
	*out = sqlite3_step(st) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return 0;
}

/* Whether v holds a weak reference (a weakref, a KeyedRef of a
 * WeakValueDictionary): weak containers never leak what they point to. */
static int is_weakref(ctx *c, int k, hsa_node v, int *out)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->snaps[k].db, "SELECT 1 FROM refs WHERE src = ? AND kind = 11 LIMIT 1",
	                       -1, &st, NULL) != SQLITE_OK)
		return dberr(c, k);
	sqlite3_bind_int64(st, 1, (int64_t)v + 1);
	*out = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return 0;
}

/* ---- the report -------------------------------------------------------- */

/* Growth of holder h of the last dump's retained size since the first
 * dump, or INT64_MIN when it is not in the first dump. */
static int64_t holder_growth(const ctx *c, hsa_node h)
{
	int L = c->n - 1;
	uint64_t last = c->snaps[L].retained[h];
	for (int k = L; k >= 1 && h != HSA_NONE; k--)
		h = c->m[k][h];
	return h == HSA_NONE ? INT64_MIN : (int64_t)last - (int64_t)c->snaps[0].retained[h];
}

/* A reported group's growth: its members' retained growth, or its
 * holder's when larger (the holder retains less than its items when they
 * are also roots). */
static int64_t growth_of(const ctx *c, const group *g)
{
	int64_t hg = g->holder != HSA_NONE ? holder_growth(c, g->holder) : INT64_MIN;
	return hg > g->growth ? hg : g->growth;
}

static int by_growth(const void *a, const void *b, void *arg)
{
	const group *g = arg;
	const group *x = &g[*(const uint32_t *)a], *y = &g[*(const uint32_t *)b];
	if (x->growth != y->growth)
		return x->growth > y->growth ? -1 : 1;
	return x->sig < y->sig ? -1 : x->sig > y->sig;
}

static char *take(hsa_str *s)
{
	char *p = s->s ? s->s : strdup("");
	memset(s, 0, sizeof(*s));
	return p;
}

/* The function whose closure holds h (function → __closure__ → tuple →
 * cell → h), or HSA_NONE. */
static hsa_node closure_owner(ctx *c, hsa_node h)
{
	int k = c->n - 1;
	const hsa_snap *s = &c->snaps[k];
	hsa_node cell = s->parent[h];
	if (cell >= s->n || !slot_named(c, k, h, "cell_contents"))
		return HSA_NONE;
	hsa_node tuple = s->parent[cell];
	if (tuple >= s->n || s->pkind[cell] != HS_E_INDEX || !slot_named(c, k, tuple, "__closure__"))
		return HSA_NONE;
	return s->parent[tuple] < s->n ? s->parent[tuple] : HSA_NONE;
}

/* "dict `_cache` in module `app`", "list `_listeners` of Emitter `bus` in
 * module `app`", "dict of _lru_cache_wrapper `lookup` of class `Service`",
 * "dict in the closure of `make.<locals>.handle`": the object, the name it
 * is held by, and its owner's, one level up. */
static int holder_words(ctx *c, hsa_node h, int level, hsa_str *out)
{
	const hsa_snap *s = &c->snaps[c->n - 1];
	sqlite3 *db = s->db;
	int rc = hsa_str_printf(out, "%s", short_name(hsa_names_str(&c->names, s->type[h])));
	hsa_node p = s->parent[h];
	if (rc || p >= s->n)
		return rc;
	hsa_node fn = closure_owner(c, h);
	if (fn != HSA_NONE) {
		/* a cell does not know its variable's name */
		hsa_str desc = {0};
		rc = hsa_db_describe(db, (int64_t)fn + 1, &desc);
		const char *name = !rc && strchr(desc.s, ' ') ? strchr(desc.s, ' ') + 1 : desc.s;
		if (!rc)
			rc = hsa_str_printf(out, " in the closure of `%s`", name ? name : "?");
		hsa_str_free(&desc);
		return rc;
	}
	int kind = s->pkind[h];
	uint32_t label = HSA_KMAP_NONE;
	if (kind == HS_E_DICT_VALUE || kind == HS_E_ATTR || kind == HS_E_NAMED || kind == HS_E_LOCAL ||
	    kind == HS_E_CELL)
		label = label_text(c, c->n - 1, s->plabel[h]);
	if (label != HSA_KMAP_NONE && label) {
		const char *t = hsa_names_str(&c->names, label);
		size_t len = strlen(t);
		/* a str key's repr reads as the name it is */
		if (kind == HS_E_DICT_VALUE && len >= 2 && t[0] == '\'' && t[len - 1] == '\'') {
			t++;
			len -= 2;
		}
		rc = hsa_str_printf(out, " `%.*s`", (int)len, t);
	}
	/* The owner: a __dict__ stands for its object, frame locals and
	 * function globals for their frame or function. */
	int local = kind == HS_E_LOCAL || kind == HS_E_CELL;
	if (!rc && s->parent[p] < s->n && s->pkind[p] == HS_E_DICT_ATTR) {
		p = s->parent[p];
	} else if (!rc && s->parent[p] < s->n && names_slot(c, c->n - 1, p)) {
		p = s->parent[p];
		local = 1;
	}
	const char *ptype = hsa_names_str(&c->names, s->type[p]);
	hsa_str desc = {0};
	const hsa_snap_root *r = s->parent[p] >= s->n ? hsa_snap_root_of(s, p) : NULL;
	if (!rc && local)
		rc = hsa_db_describe(db, (int64_t)p + 1, &desc);
	if (rc) {
	} else if (local && strchr(desc.s, ' ')) {
		/* "coroutine main", "frame <module> app.py:12" */
		const char *name = strchr(desc.s, ' ') + 1;
		int len = (int)strcspn(name, " ");
		rc = hsa_str_printf(out, " in `%.*s%s`", len, name, name[0] == '<' ? "" : "()");
	} else if (!strcmp(ptype, "module") || !strcmp(ptype, "builtins.module")) {
		rc = hsa_db_describe(db, (int64_t)p + 1, &desc) ||
		     hsa_str_printf(out, " in module `%s`", desc.s + strlen("module "));
	} else if (s->flags[p] & HS_OF_IS_TYPE) {
		rc = hsa_db_describe(db, (int64_t)p + 1, &desc) ||
		     hsa_str_printf(out, " of class `%s`", short_name(strchr(desc.s, ' ') ? strchr(desc.s, ' ') + 1
		                                                                        : desc.s));
	} else if (r && r->text) {
		rc = hsa_str_printf(out, " of %s", hsa_names_str(&c->names, r->text));
	} else if (!level) {
		rc = hsa_str_printf(out, " of ") || holder_words(c, p, level + 1, out);
	} else {
		rc = hsa_db_describe(db, (int64_t)p + 1, &desc) || hsa_str_printf(out, " of `%s`", desc.s);
	}
	hsa_str_free(&desc);
	return rc;
}

/* Whether node v of the last dump is a pending task: 1, 0, or -1 with
 * the error set. */
static int pending_task(ctx *c, hsa_node v)
{
	hsa_task_group one;
	int rc = hsa_task_describe(c->snaps[c->n - 1].db, (int64_t)v + 1, &one, c->err, c->errlen);
	if (rc > 0)
		rc = one.pending > 0;
	hsa_task_group_clear(&one);
	return rc;
}

/* The pending tasks behind reported group top: those of its shown group
 * when it is one of tasks, else a group of tasks folded into it (the
 * tasks behind the futures a deque holds). Returns the group, or NULL
 * with *rc 0 when none and -1 on an error. */
static const group *find_tasks(ctx *c, uint32_t top, const group *shown, const uint32_t *order,
                               uint64_t no, int *rc)
{
	if ((*rc = pending_task(c, shown->sample)) != 0)
		return *rc > 0 ? shown : NULL;
	for (uint64_t i = 0; i < no; i++) {
		const group *f = &c->g[order[i]];
		if (f->into != top || f == shown)
			continue;
		if ((*rc = pending_task(c, f->sample)) != 0)
			return *rc > 0 ? f : NULL;
	}
	return NULL;
}

/* Fills o for the reported group top, whose holder it takes; shown is the
 * group named as the leaking objects (top itself, or what top's members
 * carry, see promote). */
static int fill_group(ctx *c, const group *top, const group *g, const group *tasks,
                      const hsa_node *mem, uint64_t nm, hsa_leak_group *o)
{
	int L = c->n - 1;
	const hsa_snap *s = &c->snaps[L];
	hsa_str sig = {0}, where = {0}, holder = {0}, hp = {0}, sent = {0}, lead = {0};
	hsa_task_group tg = {0};
	char b[16], n0[32], n1[32];
	const char *type = hsa_names_str(&c->names, g->type);
	const char *site = g->site ? hsa_names_str(&c->names, g->site) : NULL;
	memcpy(o->count, g->count, sizeof(o->count));
	/* the finding's memory: the group with what folded into it */
	memcpy(o->retained, top->retained, sizeof(o->retained));
	o->survivors = g->survivors;
	o->fresh = g->fresh;
	if (!(o->type = strdup(type)) || (site && !(o->site = strdup(site))) || sig_text(c, g->sig, &sig) ||
	    (top != g && !(o->via = strdup(hsa_names_str(&c->names, top->type)))))
		goto fail;
	/* pending tasks: the coroutine, where they were made and the await
	 * chain lead the finding */
	if (tasks && (hsa_task_text(s->db, (int64_t)tasks->sample + 1, &where, c->err, c->errlen) < 0 ||
	              hsa_task_describe(s->db, (int64_t)tasks->sample + 1, &tg, c->err, c->errlen) < 0 ||
	              hsa_task_lead(&tg, &lead)))
		goto fail;
	o->signature = take(&sig);
	if (where.s)
		o->where = take(&where);
	/* samples: a survivor first, then other members */
	o->sample[o->nsample++] = s->addr[g->sample];
	for (uint64_t i = 0; i < nm && o->nsample < HSA_LEAK_SAMPLES; i++)
		if (mem[i] != g->sample)
			o->sample[o->nsample++] = s->addr[mem[i]];
	int64_t rgrowth = top->growth;
	int grew = 0, found0 = 0;
	if (top->holder != HSA_NONE) {
		hsa_path path = {0};
		o->holder_addr = s->addr[top->holder];
		if (!(o->holder_type = strdup(hsa_names_str(&c->names, s->type[top->holder]))) ||
		    holder_words(c, top->holder, 0, &holder) ||
		    hsa_path_shortest(s->db, (int64_t)top->holder + 1, &path, c->err, c->errlen) < 0 ||
		    hsa_path_format(s->db, &path, &hp)) {
			hsa_path_free(&path);
			goto fail;
		}
		hsa_path_free(&path);
		o->holder = take(&holder);
		o->holder_path = take(&hp);
		hsa_node h = top->holder;
		for (int k = L; k >= 0 && h != HSA_NONE; k--) {
			if (fan_out(c, k, h, &o->holder_len[k]))
				goto fail;
			o->holder_retained[k] = c->snaps[k].retained[h];
			found0 = !k;
			h = k ? c->m[k][h] : HSA_NONE;
		}
		grew = found0 && o->holder_len[L] > o->holder_len[0];
	}
	/* The sentence. */
	o->retained_growth = rgrowth;
	const char *ts = short_name(type);
	char what[256];
	if (o->via)
		snprintf(what, sizeof(what), "`%s` objects holding `%s` objects", short_name(o->via), ts);
	else
		snprintf(what, sizeof(what), "`%s` objects", ts);
	int rc = 0;
	char sign = rgrowth < 0 ? '-' : '+';
	hsa_human_size((uint64_t)(rgrowth < 0 ? -rgrowth : rgrowth), b);
	/* pending tasks lead: "pending tasks of `ship()` created at app.py:31
	 * grew from 300 to 900; deque `_waiters` ..." */
	if (lead.s && hsa_str_printf(&sent, "pending tasks of %s grew from %s to %s; ", lead.s,
	                             hsa_human_count(tasks->count[0], n0),
	                             hsa_human_count(tasks->count[L], n1)))
		goto fail;
	if (o->holder && grew)
		rc = hsa_str_printf(&sent, "%s grew from %s to %s items (%c%s retained); items are %s",
		                    o->holder, hsa_human_count(o->holder_len[0], n0),
		                    hsa_human_count(o->holder_len[L], n1), sign, b, what);
	else if (o->holder && found0)
		rc = hsa_str_printf(&sent, "%s keeps more and more %s: %s, now %s (%c%s retained)",
		                    o->holder, what, hsa_human_count(g->count[0], n0),
		                    hsa_human_count(g->count[L], n1), sign, b);
	else if (o->holder)
		rc = hsa_str_printf(&sent, "%s, new since the first dump, holds %s items (%c%s retained);"
		                    " items are %s", o->holder, hsa_human_count(o->holder_len[L], n1),
		                    sign, b, what);
	else
		rc = hsa_str_printf(&sent, "%s grew from %s to %s (%c%s retained)", what,
		                    hsa_human_count(g->count[0], n0), hsa_human_count(g->count[L], n1),
		                    sign, b);
	if (!rc && site && !lead.s)
		rc = hsa_str_printf(&sent, ", created at %s", hsa_file_base(site));
	if (!rc && tg.nchain)
		rc = hsa_str_printf(&sent, "; suspended in ") || hsa_task_chain_text(&tg, 0, &sent);
	if (!rc && !o->holder) {
		/* No common holder: name the root that keeps the first one. */
		hsa_node x = g->sample;
		for (uint64_t steps = 0; s->parent[x] < s->n && steps < s->n; steps++)
			x = s->parent[x];
		const hsa_snap_root *r = hsa_snap_root_of(s, x);
		if (r && r->text)
			rc = hsa_str_printf(&sent, "; each kept by its own root, such as %s",
			                    hsa_names_str(&c->names, r->text));
	}
	if (rc)
		goto fail;
	o->sentence = take(&sent);
	hsa_str_free(&lead);
	hsa_task_group_clear(&tg);
	return 0;
fail:
	hsa_str_free(&lead);
	hsa_task_group_clear(&tg);
	hsa_str_free(&sig);
	hsa_str_free(&where);
	hsa_str_free(&holder);
	hsa_str_free(&hp);
	hsa_str_free(&sent);
	if (!c->err[0])
		oom(c);
	return -1;
}

/* Folds each kept group into the reported group one of its sample's path
 * ancestors belongs to (the tracebacks under leaked exceptions), then
 * groups with the holder of a higher-ranked one into it. */
static void fold(ctx *c, uint32_t *order, uint64_t no)
{
	int L = c->n - 1;
	const hsa_snap *s = &c->snaps[L];
	for (uint64_t i = 0; i < no; i++) {
		group *g = &c->g[order[i]];
		uint64_t steps = 0;
		for (hsa_node x = s->parent[g->sample]; x < s->n && steps++ <= s->n; x = s->parent[x]) {
			uint32_t h = c->gof[L][x];
			if (h != HSA_KMAP_NONE && h != order[i] && c->g[h].keep) {
				g->into = h;
				break;
			}
		}
	}
	for (uint64_t i = 0; i < no; i++) {
		group *g = &c->g[order[i]];
		for (uint64_t j = 0; j < i && g->into == HSA_KMAP_NONE && g->holder != HSA_NONE; j++) {
			const group *h = &c->g[order[j]];
			if (h->into == HSA_KMAP_NONE && h->holder == g->holder)
				g->into = order[j];
		}
	}
	/* Follow chains to the top (a group folds into one folded itself). */
	for (uint64_t i = 0; i < no; i++) {
		group *g = &c->g[order[i]];
		for (uint64_t steps = 0; g->into != HSA_KMAP_NONE && c->g[g->into].into != HSA_KMAP_NONE &&
		                         steps < no;
		     steps++)
			g->into = c->g[g->into].into;
	}
}

static uint64_t sig_depth(const ctx *c, uint32_t sig)
{
	uint64_t d = 0;
	for (; sig; sig = c->tparent[sig])
		d++;
	return d;
}

/* The group to name as the leaking objects of reported group top: top
 * itself, unless its objects are of a builtin type (no module in the
 * name) carrying objects of a class folded into it, such as the key
 * tuples of an lru_cache holding self, bound methods holding their
 * object, per-job lists of records: then the nearest such group. */
static const group *promote(const ctx *c, uint32_t top, const uint32_t *order, uint64_t no)
{
	const group *best = &c->g[top];
	uint64_t depth = UINT64_MAX;
	if (strchr(hsa_names_str(&c->names, best->type), '.'))
		return best;
	for (uint64_t i = 0; i < no; i++) {
		const group *f = &c->g[order[i]];
		if (f->into != top || !strchr(hsa_names_str(&c->names, f->type), '.'))
			continue;
		uint64_t d = sig_depth(c, f->sig);
		if (d < depth) {
			depth = d;
			best = f;
		}
	}
	return best;
}

/* A type of the objects folded into a group, and how many there are. */
typedef struct also_kind {
	uint32_t type;
	uint64_t count;
} also_kind;

static int build_report(ctx *c, hsa_leak_report *r)
{
	int L = c->n - 1;
	uint32_t *order = malloc((c->ng ? c->ng : 1) * sizeof(uint32_t));
	hsa_node *mem = NULL;
	uint64_t *moff = NULL;
	uint64_t no = 0;
	hsa_str also = {0};
	int rc = -1;
	if (!order)
		return oom(c);
	for (uint64_t i = 0; i < c->ng; i++) {
		group *g = &c->g[i];
		/* Up in every dump, and by more than one object: a single local
		 * replaced between two dumps is no leak. */
		g->keep = g->count[L] >= g->count[0] + 2;
		for (int k = 1; k < c->n; k++)
			if (g->count[k] <= g->count[k - 1])
				g->keep = 0;
		g->growth = (int64_t)g->retained[L] - (int64_t)g->retained[0];
		if (g->keep)
			order[no++] = (uint32_t)i;
	}
	/* members of the kept groups in the last dump, by group */
	const hsa_snap *s = &c->snaps[L];
	moff = calloc(c->ng + 1, sizeof(uint64_t));
	mem = malloc((s->n ? s->n : 1) * sizeof(hsa_node));
	if (!moff || !mem)
		goto done;
	for (uint64_t v = 0; v < s->n; v++)
		if (c->gof[L][v] != HSA_KMAP_NONE)
			moff[c->gof[L][v] + 1]++;
	for (uint64_t i = 0; i < c->ng; i++)
		moff[i + 1] += moff[i];
	{
		uint64_t *fill = calloc(c->ng + 1, sizeof(uint64_t));
		if (!fill)
			goto done;
		for (uint64_t v = 0; v < s->n; v++) {
			uint32_t gi = c->gof[L][v];
			if (gi != HSA_KMAP_NONE)
				mem[moff[gi] + fill[gi]++] = (hsa_node)v;
		}
		free(fill);
	}
	uint64_t kept = 0;
	for (uint64_t i = 0; i < no; i++) {
		group *g = &c->g[order[i]];
		int weak;
		if (is_weakref(c, L, g->sample, &weak))
			goto done;
		if (weak) {
			g->keep = 0;
			continue;
		}
		if (find_holder(c, order[i], mem + moff[order[i]], moff[order[i] + 1] - moff[order[i]],
		                &g->holder))
			goto done;
		/* A holder that stopped growing is a cache at its bound. */
		hsa_node prev = g->holder != HSA_NONE ? c->m[L][g->holder] : HSA_NONE;
		if (prev != HSA_NONE) {
			uint64_t a, b;
			if (fan_out(c, L - 1, prev, &a) || fan_out(c, L, g->holder, &b))
				goto done;
			if (b <= a && s->retained[g->holder] <= c->snaps[L - 1].retained[prev]) {
				g->keep = 0;
				continue;
			}
		}
		order[kept++] = order[i];
	}
	no = kept;
	qsort_r(order, no, sizeof(uint32_t), by_growth, c->g);
	fold(c, order, no);
	/* A folded group's members that are roots (the pending tasks behind
	 * the futures a deque holds) are dominated by nothing of the group
	 * they fold into: their retained size counts with it. */
	for (uint64_t i = 0; i < no; i++) {
		const group *f = &c->g[order[i]];
		if (f->into == HSA_KMAP_NONE)
			continue;
		for (int k = 0; k < c->n; k++)
			c->g[f->into].retained[k] += f->rootret[k];
	}
	kept = 0;
	for (uint64_t i = 0; i < no; i++) {
		group *g = &c->g[order[i]];
		g->growth = (int64_t)g->retained[L] - (int64_t)g->retained[0];
		if (g->into == HSA_KMAP_NONE)
			g->growth = growth_of(c, g);
		if (g->into == HSA_KMAP_NONE && g->growth < (int64_t)c->min_growth) {
			r->below_floor++;
			g->keep = 0;
			continue;
		}
		order[kept++] = order[i];
	}
	/* what folded into a group under the floor goes with it */
	no = 0;
	for (uint64_t i = 0; i < kept; i++)
		if (c->g[order[i]].into == HSA_KMAP_NONE || c->g[c->g[order[i]].into].keep)
			order[no++] = order[i];
	qsort_r(order, no, sizeof(uint32_t), by_growth, c->g);
	for (uint64_t i = 0; i < no; i++)
		if (c->g[order[i]].into == HSA_KMAP_NONE)
			r->ngroups++;
	r->groups = calloc(r->ngroups ? r->ngroups : 1, sizeof(hsa_leak_group));
	if (!r->groups)
		goto done;
	uint64_t k = 0;
	for (uint64_t i = 0; i < no; i++) {
		const group *g = &c->g[order[i]];
		if (g->into != HSA_KMAP_NONE)
			continue;
		hsa_leak_group *o = &r->groups[k++];
		const group *shown = promote(c, order[i], order, no);
		uint32_t si = (uint32_t)(shown - c->g);
		int trc;
		const group *tasks = find_tasks(c, order[i], shown, order, no, &trc);
		if (trc < 0 || fill_group(c, g, shown, tasks, mem + moff[si], moff[si + 1] - moff[si], o))
			goto done;
		/* what else it holds by type, largest retained growth first */
		also_kind kinds[ALSO_MAX];
		int nk = 0;
		uint64_t more = 0;
		for (uint64_t j = 0; j < no; j++) {
			const group *f = &c->g[order[j]];
			if ((f->into != order[i] && f != g) || f == shown)
				continue;
			int x = 0;
			while (x < nk && kinds[x].type != f->type)
				x++;
			if (x < nk)
				kinds[x].count += f->count[L];
			else if (nk < ALSO_MAX)
				kinds[nk++] = (also_kind){f->type, f->count[L]};
			else
				more++;
		}
		for (int x = 0; x < nk; x++) {
			char n1[32];
			if (hsa_str_printf(&also, "%s%s ×%s", x ? ", " : "",
			                   short_name(hsa_names_str(&c->names, kinds[x].type)),
			                   hsa_human_count(kinds[x].count, n1)))
				goto done;
		}
		if (more && hsa_str_printf(&also, ", %" PRIu64 " more groups", more))
			goto done;
		if (also.s)
			o->also = take(&also);
	}
	rc = 0;
done:
	if (rc && !c->err[0])
		oom(c);
	free(order);
	free(mem);
	free(moff);
	hsa_str_free(&also);
	return rc;
}

/* Warns when the dumps are of different processes (nothing can match) or
 * not oldest first (what grew would read as what shrank). */
static void check_order(const ctx *c)
{
	for (int k = 1; k < c->n; k++) {
		sqlite3 *a = c->snaps[k - 1].db, *b = c->snaps[k].db;
		int64_t pa = hsa_db_meta_int(a, "pid", 0), pb = hsa_db_meta_int(b, "pid", 0);
		char *ta = hsa_db_meta_text(a, "time"), *tb = hsa_db_meta_text(b, "time");
		if (pa && pb && pa != pb)
			hsa_warn("'%s' and '%s' are dumps of different processes (pid %" PRId64 " and %" PRId64
			         "): no object can be the same in both",
			         c->snaps[k - 1].path, c->snaps[k].path, pa, pb);
		else if (ta && tb && strtod(tb, NULL) < strtod(ta, NULL))
			hsa_warn("'%s' was dumped before '%s': give the dumps oldest first", c->snaps[k].path,
			         c->snaps[k - 1].path);
		free(ta);
		free(tb);
	}
}

static void ctx_free(ctx *c)
{
	for (int k = 0; k < c->n; k++) {
		sqlite3_finalize(c->lstmt[k]);
		hsa_snap_free(&c->snaps[k]);
		free(c->m[k]);
		free(c->sig[k]);
		free(c->gof[k]);
	}
	hsa_names_free(&c->names);
	hsa_kmap_free(&c->trie);
	hsa_kmap_free(&c->labels);
	hsa_kmap_free(&c->gmap);
	free(c->tparent);
	free(c->tlabel);
	free(c->ttype);
	free(c->tkind);
	free(c->trepeat);
	free(c->g);
	free(c->stack);
}

/* Native allocation sites that grew in every dump, when every dump has
 * them (taken under `run --native`); growth under the memory noise of the
 * last dump is none. Returns 0, or -1 with the error set. */
static int native_findings(ctx *c, hsa_leak_report *r)
{
	r->native_tracked = 1;
	for (int k = 0; k < c->n; k++) {
		if (hsa_native_read(c->snaps[k].db, &r->native[k], c->err, c->errlen))
			return -1;
		r->native_tracked &= r->native[k].tracked;
	}
	if (!r->native_tracked)
		return 0;
	if (hsa_native_compare(r->native, c->n, hsa_mem_noise(r->mem[c->n - 1].rss),
	                       &r->native_findings, &r->nnative))
		return oom(c);
	return 0;
}

int hsa_leaks_find(const char *const *dumps, int n, const hsa_leak_opts *opts,
                   hsa_leak_report **out, char *err, size_t errlen)
{
	ctx c;
	memset(&c, 0, sizeof(c));
	c.err = err;
	c.errlen = errlen;
	err[0] = 0;
	*out = NULL;
	hsa_leak_report *r = calloc(1, sizeof(hsa_leak_report));
	int rc = -1;
	if (n < 2 || n > HSA_LEAK_MAX_DUMPS) {
		snprintf(err, errlen, "leaks needs 2 to %d dumps, not %d", HSA_LEAK_MAX_DUMPS, n);
		goto done;
	}
	if (!r || (c.star = hsa_names_id(&c.names, "*", 1)) == HSA_KMAP_NONE) {
		oom(&c);
		goto done;
	}
	if (hsa_snaps_open(c.snaps, dumps, n, &c.names, err, errlen))
		goto done;
	c.n = n;
	r->ndumps = n;
	r->weak = n == 2;
	check_order(&c);
	for (int k = 0; k < n; k++) {
		const hsa_snap *s = &c.snaps[k];
		r->objects[k] = s->n;
		hsa_mem_read(s->db, &r->mem[k]);
		for (uint64_t v = 0; v < s->n; v++)
			if (s->flags[v] & HSA_SNAP_DEAD) {
				r->dead[k]++;
				r->dead_bytes[k] += s->size[v];
			}
		if (!(c.sig[k] = calloc(c.snaps[k].n ? c.snaps[k].n : 1, sizeof(uint32_t)))) {
			oom(&c);
			goto done;
		}
		if (!k)
			continue;
		int64_t matched;
		if (!(c.m[k] = malloc((c.snaps[k].n ? c.snaps[k].n : 1) * sizeof(hsa_node))) ||
		    (matched = hsa_match(&c.snaps[k - 1], &c.snaps[k], c.m[k])) < 0) {
			oom(&c);
			goto done;
		}
		r->matched[k] = (uint64_t)matched;
	}
	c.min_growth = opts ? opts->min_growth : HSA_LEAK_AUTO;
	if (c.min_growth == HSA_LEAK_AUTO) {
		uint64_t rss = r->mem[n - 1].rss;
		c.min_growth = rss / 16384 > 16384 ? rss / 16384 : 16384;
	}
	r->min_growth = c.min_growth;
	if (find_groups(&c))
		goto done;
	for (uint64_t i = 0; i < c.ng; i++)
		r->candidates += c.g[i].survivors;
	for (int k = 0; k < n; k++)
		if (group_retained(&c, k))
			goto done;
	if (build_report(&c, r))
		goto done;
	hsa_mem_leaks(r);
	if (native_findings(&c, r))
		goto done;
	*out = r;
	r = NULL;
	rc = 0;
done:
	ctx_free(&c);
	hsa_leak_report_free(r);
	return rc;
}

void hsa_leak_report_free(hsa_leak_report *r)
{
	if (!r)
		return;
	for (uint64_t i = 0; r->groups && i < r->ngroups; i++) {
		hsa_leak_group *g = &r->groups[i];
		free(g->type);
		free(g->via);
		free(g->site);
		free(g->signature);
		free(g->holder_type);
		free(g->holder);
		free(g->holder_path);
		free(g->where);
		free(g->also);
		free(g->sentence);
	}
	free(r->groups);
	for (int k = 0; k < HSA_LEAK_MAX_DUMPS; k++)
		hsa_native_dump_free(&r->native[k]);
	free(r->native_findings);
	free(r);
}
