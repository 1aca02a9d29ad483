/* graphviz.c - drawing a reference picture with Graphviz (libcgraph +
 * libgvc, in-process): labels, styles, layout and rendering. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio.h"
#include "db.h"
#include "hsnap.h"
#include "path.h"
#include "viz_impl.h"

/* Graphviz reads \n, \l, \N... in labels and decodes HTML entities, so a
 * backslash or an ampersand from the dump must not reach it bare. */
static const char *const gv_esc[128] = {['\\'] = "\\\\", ['&'] = "&amp;"};

int hsa_viz_text(hsa_str *b, const char *s, size_t len, size_t max)
{
	return hsa_str_text(b, s ? s : "", s ? len : 0, max, gv_esc);
}

int hsa_viz_fail(hsa_viz *v, const char *what)
{
	if (!v->err[0])
		snprintf(v->err, v->errlen, "%s: %s", what,
		         v->db && sqlite3_errcode(v->db) != SQLITE_OK ? sqlite3_errmsg(v->db)
		                                                       : "out of memory");
	return -1;
}

/* ---- labels ------------------------------------------------------------ */

typedef struct root_style {
	const char *kind; /* roots.kind */
	const char *fill;
} root_style;

/* objgraph draws modules green; the other roots get their own colours. */
static const root_style root_styles[] = {
	{"modules", "#b9e4b0"},     {"thread-frame", "#b3d4f5"}, {"asyncio-task", "#dcc3ea"},
	{"held-from-c", "#f7c1bb"}, {NULL, "#d7ecc8"},
};

#define START_FILL "#ffd180"
#define START_LINE "#e65100"
#define PATH_LINE "#c62828"

/* The root line of a label ("module app.stats", "thread MainThread",
 * "held from C (+1)", or the holder the dumper names: "registered with
 * atexit (callback 3 of 5)") and the root's style; 0 when id is no root.
 * A module also held from C is shown as the module. */
static int root_line(hsa_viz *v, int64_t id, hsa_str *out, const root_style **style)
{
	static const char sql[] =
		"SELECT r.kind, r.name, r.extra, (SELECT name FROM threads WHERE ident = r.extra)"
		" FROM roots r WHERE r.object = ? ORDER BY r.kind != 'modules', r.id LIMIT 1";
	sqlite3_stmt *st = hsa_db_prepare(v->db, sql, v->err, v->errlen);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = hsa_db_step(st, v->err, v->errlen);
	if (rc <= 0)
		goto done;
	const char *kind = (const char *)sqlite3_column_text(st, 0);
	const char *name = (const char *)sqlite3_column_text(st, 1);
	int64_t extra = sqlite3_column_int64(st, 2);
	const char *thread = (const char *)sqlite3_column_text(st, 3);
	kind = kind ? kind : "other";
	const root_style *s = root_styles;
	while (s->kind && strcmp(s->kind, kind))
		s++;
	*style = s;
	if (!strcmp(kind, "modules") && !name) {
		rc = hsa_str_printf(out, "sys.modules");
	} else if (!strcmp(kind, "modules")) {
		rc = hsa_str_printf(out, "module ") || hsa_viz_text(out, name, strlen(name), 60);
	} else if (!strcmp(kind, "thread-frame")) {
		rc = hsa_str_printf(out, "thread ");
		if (!rc && thread)
			rc = hsa_viz_text(out, thread, strlen(thread), 40);
		else if (!rc)
			rc = hsa_str_printf(out, "%" PRId64, extra);
	} else if (!strcmp(kind, "held-from-c") && name) {
		rc = hsa_viz_text(out, name, strlen(name), 60);
	} else if (!strcmp(kind, "held-from-c")) {
		rc = hsa_str_printf(out, "held from C (+%" PRId64 ")", extra);
	} else if (!strcmp(kind, "asyncio-task")) {
		rc = hsa_str_printf(out, "pending asyncio task");
	} else {
		rc = hsa_str_printf(out, "root: ") || hsa_viz_text(out, kind, strlen(kind), 20);
	}
	rc = rc ? -1 : 1;
done:
	sqlite3_finalize(st);
	return rc;
}

/* " stats_writer()\ncreated at app.py:31" after the type of a task's box:
 * what it runs and where it comes from. */
static int task_lines(hsa_viz *v, int64_t id, hsa_str *label)
{
	hsa_task_group g;
	int r = hsa_task_describe(v->db, id, &g, v->err, v->errlen);
	if (r <= 0)
		return r;
	int rc = hsa_str_printf(label, " ") || hsa_viz_text(label, g.coro, strlen(g.coro), 40) ||
	         hsa_str_printf(label, "()");
	if (!rc && g.site) {
		const char *base = hsa_file_base(g.site);
		rc = hsa_str_printf(label, "\\n%s at ", g.created ? "created" : "defined") ||
		     hsa_viz_text(label, base, strlen(base), 40);
	}
	hsa_task_group_clear(&g);
	return rc ? -1 : 0;
}

/* Sets the label, tooltip and colours of the node for object n->id:
 *   [root line] / type and name (a task's coroutine and creation line) /
 *   value or length / size, retained size. */
static int object_attrs(hsa_viz *v, const vnode *n, Agnode_t *an, uint32_t maxd)
{
	static const char sql[] =
		"SELECT o.addr, t.name, o.size, o.retained, o.len, o.value, o.name, o.reachable,"
		" o.flags, t.name = 'builtins.module' OR t.name = 'module'"
		" FROM objects o LEFT JOIN types t ON t.id = o.type WHERE o.id = ?";
	sqlite3_stmt *st = NULL;
	hsa_str label = {0}, tip = {0};
	const root_style *rs = NULL;
	const char *fill;
	char fillbuf[16], b1[16], b2[16], c[32];
	int rc = -1;
	if (!(st = hsa_db_prepare(v->db, sql, v->err, v->errlen)))
		goto done;
	sqlite3_bind_int64(st, 1, n->id);
	int found = hsa_db_step(st, v->err, v->errlen);
	if (!found)
		snprintf(v->err, v->errlen, "no object #%" PRId64 " in the database", n->id);
	if (found <= 0)
		goto done;
	uint64_t addr = (uint64_t)sqlite3_column_int64(st, 0);
	const char *type = (const char *)sqlite3_column_text(st, 1);
	const char *tshort = type && strrchr(type, '.') ? strrchr(type, '.') + 1 : type;
	uint64_t size = (uint64_t)sqlite3_column_int64(st, 2);
	uint64_t retained = (uint64_t)sqlite3_column_int64(st, 3);
	int module = sqlite3_column_int(st, 9);
	int root = root_line(v, n->id, &label, &rs);
	if (root < 0)
		goto done;
	/* A module root's line names it already. */
	if (!(module && rs == &root_styles[0])) {
		if (root && hsa_str_printf(&label, "\\n"))
			goto done;
		if (hsa_viz_text(&label, tshort ? tshort : "object", tshort ? strlen(tshort) : 6, 40))
			goto done;
		if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
			const char *name = (const char *)sqlite3_column_text(st, 6);
			if (hsa_str_printf(&label, " ") || hsa_viz_text(&label, name, strlen(name), 40))
				goto done;
		}
		if (task_lines(v, n->id, &label))
			goto done;
	}
	if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
		const char *val = sqlite3_column_blob(st, 5);
		size_t vlen = (size_t)sqlite3_column_bytes(st, 5);
		int trunc = (sqlite3_column_int64(st, 8) & HS_OF_VALUE_TRUNC) != 0;
		if (hsa_str_printf(&label, "\\n'") || hsa_viz_text(&label, val, vlen, 32) ||
		    hsa_str_printf(&label, "'%s", trunc && vlen <= 32 ? "\xe2\x80\xa6" : ""))
			goto done;
	} else if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
		if (hsa_str_printf(&label, "\\nlen %s",
		                   hsa_human_count((uint64_t)sqlite3_column_int64(st, 4), c)))
			goto done;
	}
	if (hsa_str_printf(&label, "\\n%s", hsa_human_size(size, b1)) ||
	    (!sqlite3_column_int(st, 7) && hsa_str_printf(&label, ", garbage")) ||
	    (retained > size && hsa_str_printf(&label, ", retains %s",
	                                       hsa_human_size(retained, b2))) ||
	    (n->undrawn && hsa_str_printf(&label, "\\n+%s %s not drawn",
	                                  hsa_human_count(n->undrawn, c),
	                                  v->o.refs ? "referents" : "referrers")))
		goto done;
	if (hsa_str_printf(&tip, "0x%" PRIx64 " ", addr) ||
	    hsa_viz_text(&tip, type ? type : "object", type ? strlen(type) : 6, 200))
		goto done;
	fill = rs ? rs->fill : fillbuf;
	if (!rs) {
		/* Shaded by distance from the start, darker further away. */
		unsigned level = 255 - (unsigned)(64 * (uint64_t)n->dist / (maxd ? maxd : 1));
		snprintf(fillbuf, sizeof(fillbuf), "#%02x%02x%02x", level, level, level);
	}
	agsafeset(an, "label", label.s, "");
	agsafeset(an, "tooltip", tip.s, "");
	agsafeset(an, "fillcolor", n->start ? START_FILL : (char *)fill, "");
	if (root)
		agsafeset(an, "peripheries", "2", "");
	if (n->start) {
		agsafeset(an, "color", START_LINE, "");
		agsafeset(an, "penwidth", "2", "");
	}
	rc = 0;
done:
	hsa_str_free(&label);
	hsa_str_free(&tip);
	sqlite3_finalize(st);
	return rc;
}

static int edge_attrs(hsa_viz *v, const vedge *e, Agedge_t *ae)
{
	hsa_str raw = {0}, label = {0};
	int rc = 0;
	if (e->kind >= 0 && hsa_db_edge_label(v->db, e->kind, e->label, &raw))
		rc = -1;
	const char *l = raw.s ? raw.s : "";
	while (*l == ' ')
		l++;
	if (!rc && *l && hsa_viz_text(&label, l, strlen(l), 40))
		rc = -1;
	if (!rc && label.s)
		agsafeset(ae, "label", label.s, "");
	if (e->kind < 0 || e->kind == HS_E_WEAK)
		agsafeset(ae, "style", "dashed", "");
	if (e->path) {
		agsafeset(ae, "color", PATH_LINE, "");
		agsafeset(ae, "fontcolor", PATH_LINE, "");
		agsafeset(ae, "penwidth", "2", "");
	}
	hsa_str_free(&raw);
	hsa_str_free(&label);
	return rc;
}

/* The caption in lines of about 100 characters: Graphviz does not wrap. */
static int caption(hsa_str *out, const char *s)
{
	int rc = 0;
	size_t lines = 0;
	while (*s && !rc && lines++ < 8) {
		size_t n = strcspn(s, "\n");
		if (n > 100) {
			size_t cut = 100;
			while (cut > 50 && s[cut] != ' ')
				cut--;
			if (s[cut] != ' ')
				for (cut = 100; ((unsigned char)s[cut] & 0xc0) == 0x80; cut--)
					; /* not inside a UTF-8 sequence */
			n = cut;
		}
		rc = (out->len && hsa_str_printf(out, "\\n")) || hsa_viz_text(out, s, n, 100);
		s += n;
		s += *s == '\n' || *s == ' ';
	}
	return rc;
}

static const struct {
	int kind;
	const char *name, *value;
} defaults[] = {
	{AGRAPH, "fontname", "Helvetica"}, {AGRAPH, "fontsize", "12"},
	{AGRAPH, "bgcolor", "white"},      {AGNODE, "shape", "box"},
	{AGNODE, "style", "filled"},       {AGNODE, "fillcolor", "white"},
	{AGNODE, "fontname", "Helvetica"}, {AGNODE, "fontsize", "10"},
	{AGEDGE, "fontname", "Helvetica"}, {AGEDGE, "fontsize", "9"},
	{AGEDGE, "color", "#555555"},      {AGEDGE, "arrowsize", "0.7"},
};

static int build(hsa_viz *v)
{
	Agraph_t *g = v->g = agopen("heapsnap", Agdirected, NULL);
	if (!g)
		return hsa_viz_fail(v, "cannot build the graph");
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		agattr(g, defaults[i].kind, (char *)defaults[i].name, (char *)defaults[i].value);
	if (v->o.id) {
		hsa_str id = {0};
		if (hsa_viz_text(&id, v->o.id, strlen(v->o.id), 64))
			return hsa_viz_fail(v, "cannot build the graph");
		agsafeset(g, "id", id.s ? id.s : "", "");
		hsa_str_free(&id);
	}
	if (v->o.caption) {
		hsa_str cap = {0};
		if (caption(&cap, v->o.caption) ||
		    hsa_str_printf(&cap, "\\norange: the start \xc2\xb7 double border: a root \xc2\xb7"
		                         " red: the shortest path from a root"))
			return hsa_viz_fail(v, "cannot build the graph");
		agsafeset(g, "label", cap.s ? cap.s : "", "");
		agsafeset(g, "labelloc", "t", "");
		hsa_str_free(&cap);
	}
	if (v->nn > 200) {
		/* dot's crossing minimization dominates beyond a few hundred boxes;
		 * fewer rounds bring 1,000 of them from seconds to about one. */
		char mc[16];
		snprintf(mc, sizeof(mc), "%.2f", 200.0 / v->nn);
		agsafeset(g, "mclimit", mc, "");
	}
	uint32_t maxd = 0;
	for (uint32_t i = 0; i < v->nn; i++)
		if (v->nodes[i].dist > maxd)
			maxd = v->nodes[i].dist;
	Agnode_t **an = calloc(v->nn ? v->nn : 1, sizeof(Agnode_t *));
	if (!an)
		return hsa_viz_fail(v, "cannot build the graph");
	int rc = 0;
	for (uint32_t i = 0; i < v->nn && !rc; i++) {
		char name[24];
		snprintf(name, sizeof(name), "n%" PRIu32, i + 1);
		an[i] = agnode(g, name, 1);
		const vnode *n = &v->nodes[i];
		if (n->id) {
			rc = object_attrs(v, n, an[i], maxd);
		} else {
			agsafeset(an[i], "label", n->text, "");
			agsafeset(an[i], "style", "dashed", "");
			agsafeset(an[i], "shape", "note", "");
		}
	}
	for (uint32_t i = 0; i < v->ne && !rc; i++) {
		const vedge *e = &v->edges[i];
		rc = edge_attrs(v, e, agedge(g, an[e->a], an[e->b], NULL, 1));
	}
	free(an);
	return rc ? hsa_viz_fail(v, "cannot label the graph") : 0;
}

int hsa_viz_build(sqlite3 *db, const int64_t *start, size_t nstart, const hsa_viz_opts *o,
                  hsa_viz **out, hsa_warnings *w, char *err, size_t errlen)
{
	hsa_viz *v = calloc(1, sizeof(*v));
	*out = NULL;
	err[0] = 0;
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	v->db = db;
	v->o = *o;
	v->w = w;
	v->err = err;
	v->errlen = errlen;
	if (v->o.max_nodes < 3)
		v->o.max_nodes = 3;
	if (v->o.max_nodes > UINT32_MAX / 8)
		v->o.max_nodes = UINT32_MAX / 8;
	if (nstart > v->o.max_nodes / 3)
		nstart = v->o.max_nodes / 3;
	if (!nstart) {
		snprintf(err, errlen, "no object to draw");
		free(v);
		return -1;
	}
	/* Lines beyond a few per node only blacken the picture. */
	v->emax = (uint32_t)(4 * v->o.max_nodes);
	v->nodes = calloc(v->o.max_nodes, sizeof(vnode));
	v->queue = calloc(v->o.max_nodes, sizeof(uint32_t));
	if (!v->nodes || !v->queue || hsa_addrmap_init(&v->ids, v->o.max_nodes) ||
	    hsa_viz_choose(v, start, nstart) || build(v)) {
		if (!err[0])
			snprintf(err, errlen, "out of memory");
		hsa_viz_free(v);
		return -1;
	}
	*out = v;
	return 0;
}

uint64_t hsa_viz_nodes(const hsa_viz *v) { return v->nn; }

void hsa_viz_free(hsa_viz *v)
{
	if (!v)
		return;
	if (v->g)
		agclose(v->g);
	for (uint32_t i = 0; v->nodes && i < v->nn; i++)
		free(v->nodes[i].text);
	free(v->nodes);
	free(v->edges);
	free(v->queue);
	hsa_addrmap_free(&v->ids);
	free(v);
}

/* ---- rendering --------------------------------------------------------- */

const char *hsa_viz_format(const char *path)
{
	static const char *const formats[] = {"svg", "png", "pdf", "dot", NULL};
	const char *dot = strrchr(path, '.');
	for (int i = 0; dot && formats[i]; i++)
		if (!strcasecmp(dot + 1, formats[i]))
			return formats[i];
	return NULL;
}

/* Graphviz reports problems through a callback; the last one explains a
 * failed layout or render. */
static char gv_message[256];

static int gv_error(char *msg)
{
	snprintf(gv_message, sizeof(gv_message), "%s", msg);
	size_t n = strlen(gv_message);
	while (n && (gv_message[n - 1] == '\n' || gv_message[n - 1] == ' '))
		gv_message[--n] = 0;
	return 0;
}

/* One Graphviz context for the process: Graphviz 2.42's pango plugin keeps
 * a pointer into the first context's font table, so a layout in a second
 * context after the first was freed reads freed memory. */
static GVC_t *gvc;

static void gvc_free(void)
{
	gvFreeContext(gvc);
	gvc = NULL;
}

int hsa_viz_render(hsa_viz *v, const char *format, const char *path, char **data, size_t *len,
                   char *err, size_t errlen)
{
	FILE *f = NULL;
	int laid = 0, rc = -1;
	gv_message[0] = 0;
	agseterrf(gv_error);
	agseterr(AGERR);
	if (path && !(f = fopen(path, "wb"))) {
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		goto done;
	}
	if (!path && !(f = open_memstream(data, len))) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if (!strcmp(format, "dot")) {
		/* The graph before layout: 'dot' lays it out again from this. */
		if (agwrite(v->g, f)) {
			snprintf(err, errlen, "cannot write the graph");
			goto done;
		}
	} else {
		if (!gvc && (gvc = gvContext()))
			atexit(gvc_free);
		if (!gvc || gvLayout(gvc, v->g, "dot")) {
			snprintf(err, errlen, "graph layout failed%s%s", gv_message[0] ? ": " : "",
			         gv_message);
			goto done;
		}
		laid = 1;
		if (gvRender(gvc, v->g, format, f)) {
			snprintf(err, errlen, "cannot render %s%s%s", format, gv_message[0] ? ": " : "",
			         gv_message);
			goto done;
		}
	}
	rc = 0;
done:
	if (laid)
		gvFreeLayout(gvc, v->g);
	if (f && (ferror(f) | fclose(f)) && !rc) {
		snprintf(err, errlen, "cannot write '%s': %s", path ? path : "memory", strerror(errno));
		rc = -1;
	}
	if (rc && path)
		remove(path);
	if (rc && !path && f) {
		free(*data);
		*data = NULL;
	}
	agseterrf(NULL);
	return rc;
}

