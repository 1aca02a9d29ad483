/* leaks.c - what grows across dumps: candidates, groups by type, site and
 * path signature, accumulation points; the run behind hsa_leaks_find. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio.h"
#include "db.h"
#include "hsnap.h"
#include "leaks_impl.h"
#include "path.h"

/* Share of a group's members whose paths pass through its holder. */
#define HOLDER_SHARE_PCT 80
#define HOLDER_TRIES 3

int hsa_leak_oom(ctx *c)
{
	snprintf(c->err, c->errlen, "out of memory");
	return -1;
}

int hsa_leak_dberr(ctx *c, int k)
{
	snprintf(c->err, c->errlen, "'%s': database query failed: %s", c->snaps[k].path,
	         sqlite3_errmsg(c->snaps[k].db));
	return -1;
}

int hsa_leak_push(ctx *c, hsa_node v)
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

const char *hsa_leak_short_name(const char *type)
{
	const char *dot = strrchr(type, '.');
	return dot ? dot + 1 : type;
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
		uint32_t sig = hsa_leak_sig_of(c, L, (hsa_node)v);
		uint32_t site = hsa_snap_site(s, (hsa_node)v);
		uint32_t pair[4] = {s->type[v], site, 0, 0};
		if (sig == HSA_KMAP_NONE)
			goto done;
		uint32_t gi = group_put(c, s->type[v], site, sig);
		if (gi == HSA_KMAP_NONE || hsa_kmap_put(&pairs, pair, 1) == HSA_KMAP_NONE) {
			hsa_leak_oom(c);
			goto done;
		}
		if (!c->g[gi].survivors++)
			c->g[gi].sample = (hsa_node)v;
	}
	for (int k = 0; k < c->n; k++) {
		const hsa_snap *sk = &c->snaps[k];
		if (!(c->gof[k] = malloc((sk->n ? sk->n : 1) * sizeof(uint32_t)))) {
			hsa_leak_oom(c);
			goto done;
		}
		memset(c->gof[k], 0xff, sk->n * sizeof(uint32_t));
		for (uint64_t v = 0; v < sk->n; v++) {
			uint32_t pair[4] = {sk->type[v], hsa_snap_site(sk, (hsa_node)v), 0, 0};
			if (!reachable(sk, (hsa_node)v) || hsa_kmap_get(&pairs, pair) == HSA_KMAP_NONE)
				continue;
			uint32_t sig = hsa_leak_sig_of(c, k, (hsa_node)v);
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
	return rc ? hsa_leak_oom(c) : 0;
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
int hsa_leak_find_holder(ctx *c, uint32_t gi, const hsa_node *mem, uint64_t nm, hsa_node *out)
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
				if (c->nstack > s->n || hsa_leak_push(c, x))
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
			return hsa_leak_oom(c);
	}
	return 0;
}

/* The holder's fan-out in dump k: its length, or else its references. */
int hsa_leak_fan_out(ctx *c, int k, hsa_node v, uint64_t *out)
{
	static const char sql[] =
		"SELECT coalesce(len, (SELECT count(*) FROM refs WHERE src = ?1 AND kind != 11))"
		" FROM objects WHERE id = ?1";
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->snaps[k].db, sql, -1, &st, NULL) != SQLITE_OK)
		return hsa_leak_dberr(c, k);
	sqlite3_bind_int64(st, 1, (int64_t)v + 1);
	int r = sqlite3_step(st);
	*out = r == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return r == SQLITE_ROW || r == SQLITE_DONE ? 0 : hsa_leak_dberr(c, k);
}

/* Whether v holds a weak reference (a weakref, a KeyedRef of a
 * WeakValueDictionary): weak containers never leak what they point to. */
int hsa_leak_is_weakref(ctx *c, int k, hsa_node v, int *out)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->snaps[k].db, "SELECT 1 FROM refs WHERE src = ? AND kind = 11 LIMIT 1",
	                       -1, &st, NULL) != SQLITE_OK)
		return hsa_leak_dberr(c, k);
	sqlite3_bind_int64(st, 1, (int64_t)v + 1);
	int r = sqlite3_step(st);
	*out = r == SQLITE_ROW;
	sqlite3_finalize(st);
	return r == SQLITE_ROW || r == SQLITE_DONE ? 0 : hsa_leak_dberr(c, k);
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
			hsa_warnings_add(c->w, "'%s' and '%s' are dumps of different processes (pid %" PRId64
			                 " and %" PRId64 "): no object can be the same in both",
			                 c->snaps[k - 1].path, c->snaps[k].path, pa, pb);
		else if (ta && tb && strtod(tb, NULL) < strtod(ta, NULL))
			hsa_warnings_add(c->w, "'%s' was dumped before '%s': give the dumps oldest first",
			                 c->snaps[k].path, c->snaps[k - 1].path);
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
		return hsa_leak_oom(c);
	return 0;
}

int hsa_leaks_find(const char *const *dumps, int n, const hsa_leak_opts *opts,
                   hsa_leak_report **out, hsa_warnings *w, char *err, size_t errlen)
{
	ctx c;
	memset(&c, 0, sizeof(c));
	c.w = w;
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
		hsa_leak_oom(&c);
		goto done;
	}
	if (hsa_snaps_open(c.snaps, dumps, n, &c.names, w, err, errlen))
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
			hsa_leak_oom(&c);
			goto done;
		}
		if (!k)
			continue;
		int64_t matched;
		if (!(c.m[k] = malloc((c.snaps[k].n ? c.snaps[k].n : 1) * sizeof(hsa_node))) ||
		    (matched = hsa_match(&c.snaps[k - 1], &c.snaps[k], c.m[k])) < 0) {
			hsa_leak_oom(&c);
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
	if (hsa_leak_build_report(&c, r))
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

