/* leak_report.c - the leak report: groups folded into their reported
 * group, ranked by growth, worded. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio.h"
#include "db.h"
#include "hsnap.h"
#include "leaks_impl.h"
#include "path.h"

#define ALSO_MAX 4

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
	if (cell >= s->n || !hsa_leak_slot_named(c, k, h, "cell_contents"))
		return HSA_NONE;
	hsa_node tuple = s->parent[cell];
	if (tuple >= s->n || s->pkind[cell] != HS_E_INDEX ||
	    !hsa_leak_slot_named(c, k, tuple, "__closure__"))
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
	int rc = hsa_str_printf(out, "%s", hsa_leak_short_name(hsa_names_str(&c->names, s->type[h])));
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
		label = hsa_leak_label_text(c, c->n - 1, s->plabel[h]);
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
	} else if (!rc && s->parent[p] < s->n && hsa_leak_names_slot(c, c->n - 1, p)) {
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
		     hsa_str_printf(out, " of class `%s`",
		                    hsa_leak_short_name(strchr(desc.s, ' ') ? strchr(desc.s, ' ') + 1
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
	if (!(o->type = strdup(type)) || (site && !(o->site = strdup(site))) ||
	    hsa_leak_sig_text(c, g->sig, &sig) ||
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
		    hsa_path_shortest(s->db, (int64_t)top->holder + 1, &path, c->w, c->err,
		                      c->errlen) < 0 ||
		    hsa_path_format(s->db, &path, &hp)) {
			hsa_path_free(&path);
			goto fail;
		}
		hsa_path_free(&path);
		o->holder = take(&holder);
		o->holder_path = take(&hp);
		hsa_node h = top->holder;
		for (int k = L; k >= 0 && h != HSA_NONE; k--) {
			if (hsa_leak_fan_out(c, k, h, &o->holder_len[k]))
				goto fail;
			o->holder_retained[k] = c->snaps[k].retained[h];
			found0 = !k;
			h = k ? c->m[k][h] : HSA_NONE;
		}
		grew = found0 && o->holder_len[L] > o->holder_len[0];
	}
	/* The sentence. */
	o->retained_growth = rgrowth;
	const char *ts = hsa_leak_short_name(type);
	char what[256];
	if (o->via)
		snprintf(what, sizeof(what), "`%s` objects holding `%s` objects",
		         hsa_leak_short_name(o->via), ts);
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
		hsa_leak_oom(c);
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

int hsa_leak_build_report(ctx *c, hsa_leak_report *r)
{
	int L = c->n - 1;
	uint32_t *order = malloc((c->ng ? c->ng : 1) * sizeof(uint32_t));
	hsa_node *mem = NULL;
	uint64_t *moff = NULL;
	uint64_t no = 0;
	hsa_str also = {0};
	int rc = -1;
	if (!order)
		return hsa_leak_oom(c);
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
		if (hsa_leak_is_weakref(c, L, g->sample, &weak))
			goto done;
		if (weak) {
			g->keep = 0;
			continue;
		}
		if (hsa_leak_find_holder(c, order[i], mem + moff[order[i]],
		                         moff[order[i] + 1] - moff[order[i]], &g->holder))
			goto done;
		/* A holder that stopped growing is a cache at its bound. */
		hsa_node prev = g->holder != HSA_NONE ? c->m[L][g->holder] : HSA_NONE;
		if (prev != HSA_NONE) {
			uint64_t a, b;
			if (hsa_leak_fan_out(c, L - 1, prev, &a) || hsa_leak_fan_out(c, L, g->holder, &b))
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
			                   hsa_leak_short_name(hsa_names_str(&c->names, kinds[x].type)),
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
		hsa_leak_oom(c);
	free(order);
	free(mem);
	free(moff);
	hsa_str_free(&also);
	return rc;
}

