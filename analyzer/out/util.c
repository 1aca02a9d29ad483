#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- messages ---------------------------------------------------------- */

/* Messages quote names from dumps (types, paths, problems): they reach the
 * terminal as text, their control characters escaped. */
static void message(const char *prefix, const char *fmt, va_list ap)
{
	char *m = NULL;
	hsa_str t = {0};
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	if (m)
		hsa_str_text(&t, m, strlen(m), SIZE_MAX, NULL);
	fprintf(stderr, "%s%s\n", prefix, t.s ? t.s : "out of memory");
	hsa_str_free(&t);
	free(m);
}

void hsa_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	message("heapsnap: ", fmt, ap);
	va_end(ap);
}

void hsa_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	message("heapsnap: warning: ", fmt, ap);
	va_end(ap);
}

/* ---- options ----------------------------------------------------------- */

void hsa_usage_error(const hsa_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "heapsnap %s: ", cmd->name);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "; see 'heapsnap %s --help'\n", cmd->name);
	va_end(ap);
}

void hsa_print_help(const hsa_cmd *cmd, FILE *f)
{
	fprintf(f, "usage: heapsnap %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
	if (cmd->details)
		fprintf(f, "\n%s\n", cmd->details);
	fputs("\noptions:\n", f);
	for (const hsa_opt *o = cmd->opts; o && o->name; o++) {
		char left[64];
		if (o->short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name,
			         o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->arg ? " " : "",
			         o->arg ? o->arg : "");
		fprintf(f, "  %-26s %s\n", left, o->help);
	}
	fprintf(f, "  %-26s %s\n", "-h, --help", "show this help");
}

static int find_opt(const hsa_cmd *cmd, const char *name, size_t len, char short_name)
{
	int i = 0;
	for (const hsa_opt *o = cmd->opts; o && o->name; o++, i++) {
		if (short_name ? o->short_name == short_name
		               : strlen(o->name) == len && !memcmp(o->name, name, len))
			return i;
	}
	return -1;
}

int hsa_parse_args(const hsa_cmd *cmd, int argc, char **argv, hsa_args *a)
{
	memset(a, 0, sizeof(*a));
	a->pos = calloc((size_t)argc + 1, sizeof(char *));
	if (!a->pos) {
		hsa_error("out of memory");
		return HSA_EXIT_FAIL;
	}
	int only_pos = 0;
	for (int i = 1; i < argc; i++) {
		char *s = argv[i];
		if (only_pos || s[0] != '-' || !s[1]) {
			a->pos[a->npos++] = s;
			continue;
		}
		if (!strcmp(s, "--")) {
			only_pos = 1;
			continue;
		}
		if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			hsa_print_help(cmd, stdout);
			return -1;
		}
		int idx;
		const char *val = NULL;
		if (s[1] == '-') {
			const char *eq = strchr(s + 2, '=');
			size_t len = eq ? (size_t)(eq - s - 2) : strlen(s + 2);
			idx = find_opt(cmd, s + 2, len, 0);
			if (idx >= 0 && eq)
				val = eq + 1;
		} else {
			idx = s[2] ? -1 : find_opt(cmd, NULL, 0, s[1]);
		}
		if (idx < 0) {
			hsa_usage_error(cmd, "unknown option '%s'", s);
			return HSA_EXIT_USAGE;
		}
		const hsa_opt *o = &cmd->opts[idx];
		if (o->arg && !val) {
			if (i + 1 >= argc) {
				hsa_usage_error(cmd, "option '%s' needs a value", s);
				return HSA_EXIT_USAGE;
			}
			val = argv[++i];
		} else if (!o->arg && val) {
			hsa_usage_error(cmd, "option '--%s' takes no value", o->name);
			return HSA_EXIT_USAGE;
		}
		a->val[idx] = o->arg ? val : "";
	}
	if (a->npos < cmd->min_pos) {
		hsa_usage_error(cmd, "missing argument (usage: heapsnap %s %s)", cmd->name,
		                cmd->usage);
		return HSA_EXIT_USAGE;
	}
	if (a->npos > cmd->max_pos) {
		hsa_usage_error(cmd, "unexpected argument '%s'", a->pos[cmd->max_pos]);
		return HSA_EXIT_USAGE;
	}
	return 0;
}

const char *hsa_arg(const hsa_cmd *cmd, const hsa_args *a, const char *name)
{
	int idx = find_opt(cmd, name, strlen(name), 0);
	/* A name the command does not declare is a misspelling in the code:
	 * it would read as an option never given. Fail loudly, in every
	 * build, so that any test passing through it fails. */
	if (idx < 0) {
		fprintf(stderr, "heapsnap %s: internal error: option '--%s' is not declared\n",
		        cmd->name, name);
		abort();
	}
	return a->val[idx];
}

/* The leading unsigned decimal of option name's value: 0 when absent, 1
 * with *n and *rest (what follows the digits), -1 when it has none. */
static int arg_number(const hsa_cmd *cmd, const hsa_args *a, const char *name, uint64_t *n,
                      const char **rest)
{
	const char *v = hsa_arg(cmd, a, name);
	if (!v)
		return 0;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || end == v || v[0] == '-')
		return -1;
	*n = x;
	*rest = end;
	return 1;
}

int hsa_arg_count(const hsa_cmd *cmd, const hsa_args *a, const char *name,
                  uint64_t dflt, uint64_t *out)
{
	const char *rest = NULL;
	uint64_t n = 0;
	int rc = arg_number(cmd, a, name, &n, &rest);
	*out = dflt;
	if (rc > 0 && !*rest && n) {
		*out = n;
		return 0;
	}
	if (rc)
		hsa_usage_error(cmd, "option '--%s' needs a positive number, not '%s'", name,
		                hsa_arg(cmd, a, name));
	return rc ? -1 : 0;
}

int hsa_parse_size(const char *s, uint64_t *out)
{
	static const struct { const char *suffix; uint64_t mult; } units[] = {
		{"", 1}, {"B", 1}, {"K", 1ull << 10}, {"KiB", 1ull << 10}, {"M", 1ull << 20},
		{"MiB", 1ull << 20}, {"G", 1ull << 30}, {"GiB", 1ull << 30},
	};
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(end, units[i].suffix) && n <= UINT64_MAX / units[i].mult) {
			*out = n * units[i].mult;
			return 0;
		}
	return -1;
}

int hsa_arg_size(const hsa_cmd *cmd, const hsa_args *a, const char *name, uint64_t dflt,
                 uint64_t *out)
{
	const char *v = hsa_arg(cmd, a, name);
	*out = dflt;
	if (!v || !hsa_parse_size(v, out))
		return 0;
	*out = dflt;
	hsa_usage_error(cmd, "option '--%s' needs a size in bytes (or with K, M, G), not '%s'",
	                name, v);
	return -1;
}

int hsa_arg_pid(const hsa_cmd *cmd, const char *arg, long *pid)
{
	char *end;
	errno = 0;
	*pid = strtol(arg, &end, 10);
	if (errno || *end || end == arg || *pid <= 0) {
		hsa_usage_error(cmd, "PID must be a process id, not '%s'", arg);
		return -1;
	}
	return 0;
}

int hsa_arg_choice(const hsa_cmd *cmd, const hsa_args *a, const char *name,
                   const char *const *choices)
{
	const char *v = hsa_arg(cmd, a, name);
	if (!v)
		return 0;
	for (int i = 0; choices[i]; i++)
		if (!strcmp(v, choices[i]))
			return i;
	hsa_str list = {0};
	for (int i = 0; choices[i]; i++)
		hsa_str_printf(&list, "%s%s", i ? "|" : "", choices[i]);
	hsa_usage_error(cmd, "option '--%s' must be one of %s, not '%s'", name,
	                list.s ? list.s : "", v);
	hsa_str_free(&list);
	return -1;
}

/* ---- formatting -------------------------------------------------------- */

const char *hsa_human_size(uint64_t n, char *buf)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	if (n < 1024) {
		snprintf(buf, 16, "%" PRIu64 " B", n);
		return buf;
	}
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	snprintf(buf, 16, "%.1f %s", v, units[u]);
	return buf;
}

const char *hsa_human_count(uint64_t n, char *buf)
{
	char tmp[32];
	int len = snprintf(tmp, sizeof(tmp), "%" PRIu64, n);
	int o = 0;
	for (int i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = 0;
	return buf;
}

const char *hsa_file_base(const char *file)
{
	const char *slash = strrchr(file, '/');
	return slash ? slash + 1 : file;
}

int hsa_file_stdlib(const char *file)
{
	return !strncmp(file, "<frozen ", 8) ||
	       (strstr(file, "/lib/python") && !strstr(file, "-packages/"));
}

double hsa_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int hsa_str_reserve(hsa_str *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (!s)
		return -1;
	b->s = s;
	b->cap = cap;
	return 0;
}

int hsa_str_add(hsa_str *b, const char *s, size_t len)
{
	if (hsa_str_reserve(b, len))
		return -1;
	memcpy(b->s + b->len, s, len);
	b->len += len;
	b->s[b->len] = 0;
	return 0;
}

int hsa_str_printf(hsa_str *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || hsa_str_reserve(b, (size_t)n))
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void hsa_str_free(hsa_str *b)
{
	if (!b)
		return;
	free(b->s);
	memset(b, 0, sizeof(*b));
}

int hsa_str_repr(hsa_str *b, const char *s, size_t len, size_t max)
{
	int rc = 0;
	size_t n = len < max ? len : max;
	for (size_t i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\' || c == '\'')
			rc = hsa_str_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			rc = hsa_str_printf(b, "\\x%02x", c);
		else
			rc = hsa_str_add(b, (const char *)&c, 1);
	}
	if (!rc && n < len)
		rc = hsa_str_add(b, "...", 3);
	return rc;
}

int hsa_str_text(hsa_str *b, const char *s, size_t len, size_t max,
                 const char *const esc[128])
{
	const char *bs = esc && esc['\\'] ? esc['\\'] : "\\";
	int rc = 0;
	size_t i = 0, chars = 0;
	for (; i < len && chars < max && !rc; chars++) {
		unsigned char c = (unsigned char)s[i];
		size_t n = hsa_utf8_seq(s + i, len - i);
		if (!n) {
			rc = hsa_str_add(b, "\xef\xbf\xbd", 3);
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			rc = hsa_str_printf(b, "%sx%02x", bs, c);
		else if (c == 0xc2 && n == 2 && (unsigned char)s[i + 1] < 0xa0)
			/* U+0080-U+009F: C1 controls (CSI, OSC) in UTF-8. */
			rc = hsa_str_printf(b, "%sx%02x", bs, (unsigned char)s[i + 1]);
		else if (c < 0x80 && esc && esc[c])
			rc = hsa_str_printf(b, "%s", esc[c]);
		else
			rc = hsa_str_add(b, s + i, n);
		i += n;
	}
	if (!rc && i < len)
		rc = hsa_str_add(b, "\xe2\x80\xa6", 3);
	return rc;
}

const char *hsa_tty(hsa_str *buf, const char *s)
{
	buf->len = 0;
	if (buf->s)
		buf->s[0] = 0;
	if (!s || hsa_str_text(buf, s, strlen(s), SIZE_MAX, NULL) || !buf->s)
		return "";
	return buf->s;
}

/* ---- tables ------------------------------------------------------------ */

struct hsa_table {
	int ncols;
	char *align;
	size_t *w;    /* display width per column */
	size_t ncells, cap;
	char **cells; /* row-major, headers first */
};

hsa_table *hsa_table_new(int ncols, const char *const *headers, const char *align)
{
	hsa_table *t = ncols > 0 ? calloc(1, sizeof(*t)) : NULL;
	if (!t || !(t->align = calloc((size_t)ncols + 1, 1)) ||
	    !(t->w = calloc((size_t)ncols, sizeof(size_t))))
		goto fail;
	t->ncols = ncols;
	size_t na = strlen(align);
	memcpy(t->align, align, na < (size_t)ncols ? na : (size_t)ncols);
	for (int i = 0; i < ncols; i++) {
		if (i == 0 && hsa_table_row(t))
			goto fail;
		if (hsa_table_cell(t, "%s", headers[i]))
			goto fail;
	}
	return t;
fail:
	hsa_table_free(t);
	return NULL;
}

int hsa_table_row(hsa_table *t)
{
	/* Pad an unfinished row so the cell grid stays rectangular. */
	while (t->ncells % (size_t)t->ncols)
		if (hsa_table_cell(t, "%s", ""))
			return -1;
	return 0;
}

/* Display width: count UTF-8 lead bytes, not continuation bytes. */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

int hsa_table_cell(hsa_table *t, const char *fmt, ...)
{
	if (t->ncells == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **c = realloc(t->cells, cap * sizeof(char *));
		if (!c)
			return -1;
		t->cells = c;
		t->cap = cap;
	}
	va_list ap;
	va_start(ap, fmt);
	char *cell;
	int n = vasprintf(&cell, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	/* Cells show names from dumps: as text, never as terminal controls. */
	for (const unsigned char *p = (const unsigned char *)cell; *p; p++) {
		if (*p >= 0x20 && *p < 0x7f)
			continue;
		hsa_str text = {0};
		if (hsa_str_text(&text, cell, (size_t)n, SIZE_MAX, NULL)) {
			hsa_str_free(&text);
			free(cell);
			return -1;
		}
		free(cell);
		cell = text.s ? text.s : strdup("");
		if (!cell)
			return -1;
		break;
	}
	size_t cw = width(cell), col = t->ncells % (size_t)t->ncols;
	if (cw > t->w[col])
		t->w[col] = cw;
	t->cells[t->ncells++] = cell;
	return 0;
}

void hsa_table_print(const hsa_table *t, FILE *f, const char *indent)
{
	size_t nrows = (t->ncells + (size_t)t->ncols - 1) / (size_t)t->ncols;
	for (size_t r = 0; r < nrows; r++) {
		fputs(indent ? indent : "", f);
		for (int c = 0; c < t->ncols; c++) {
			size_t i = r * (size_t)t->ncols + (size_t)c;
			const char *s = i < t->ncells ? t->cells[i] : "";
			size_t pad = t->w[c] - width(s);
			int last = c == t->ncols - 1;
			if (t->align[c] == 'r')
				fprintf(f, "%*s%s", (int)pad, "", s);
			else if (last)
				fputs(s, f);
			else
				fprintf(f, "%s%*s", s, (int)pad, "");
			fputs(last ? "\n" : "  ", f);
		}
	}
}

void hsa_table_free(hsa_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->align);
	free(t->w);
	free(t);
}

/* ---- JSON -------------------------------------------------------------- */

void hsa_json_init(hsa_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

size_t hsa_utf8_seq(const void *p, size_t n)
{
	const unsigned char *s = p;
	unsigned c = s[0];
	size_t len;
	unsigned min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	unsigned cp = c & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int hsa_utf8_valid(const void *s, size_t n)
{
	const unsigned char *p = s;
	for (size_t i = 0, k; i < n; i += k)
		if (!(k = hsa_utf8_seq(p + i, n - i)))
			return 0;
	return 1;
}

static void json_string(FILE *f, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	fputc('"', f);
	for (size_t i = 0; i < len;) {
		unsigned c = s[i];
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc((int)c, f);
			i++;
		} else if (c == '\n') {
			fputs("\\n", f);
			i++;
		} else if (c == '\t') {
			fputs("\\t", f);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
		} else {
			size_t n = hsa_utf8_seq(s + i, len - i);
			if (n == 2 && c == 0xc2 && s[i + 1] < 0xa0) {
				/* a C1 control: escaped like C0 for terminals */
				fprintf(f, "\\u%04x", s[i + 1]);
				i += 2;
			} else if (n) {
				fwrite(s + i, 1, n, f);
				i += n;
			} else {
				fputs("\\ufffd", f);
				i++;
			}
		}
	}
	fputc('"', f);
}

static void json_prefix(hsa_json *j, const char *key)
{
	if (j->count[j->depth])
		fputc(',', j->f);
	j->count[j->depth] = 1;
	if (key) {
		json_string(j->f, key, strlen(key));
		fputc(':', j->f);
	}
}

static void json_push(hsa_json *j, const char *key, int c)
{
	json_prefix(j, key);
	fputc(c, j->f);
	if (j->depth < 63)
		j->depth++;
	j->count[j->depth] = 0;
}

void hsa_json_open(hsa_json *j, const char *key) { json_push(j, key, '{'); }
void hsa_json_array(hsa_json *j, const char *key) { json_push(j, key, '['); }

void hsa_json_close(hsa_json *j)
{
	j->depth--;
	fputc('}', j->f);
}

void hsa_json_end(hsa_json *j)
{
	j->depth--;
	fputc(']', j->f);
}

void hsa_json_strn(hsa_json *j, const char *key, const char *s, size_t len)
{
	json_prefix(j, key);
	json_string(j->f, s, len);
}

void hsa_json_str(hsa_json *j, const char *key, const char *s)
{
	if (!s) {
		hsa_json_null(j, key);
		return;
	}
	hsa_json_strn(j, key, s, strlen(s));
}

void hsa_json_uint(hsa_json *j, const char *key, uint64_t v)
{
	json_prefix(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

void hsa_json_int(hsa_json *j, const char *key, int64_t v)
{
	json_prefix(j, key);
	fprintf(j->f, "%" PRId64, v);
}

void hsa_json_f64(hsa_json *j, const char *key, double v)
{
	json_prefix(j, key);
	/* JSON has no NaN or infinity. */
	if (v != v || v > 1e308 || v < -1e308)
		fputs("null", j->f);
	else
		fprintf(j->f, "%.17g", v);
}

void hsa_json_bool(hsa_json *j, const char *key, int v)
{
	json_prefix(j, key);
	fputs(v ? "true" : "false", j->f);
}

void hsa_json_null(hsa_json *j, const char *key)
{
	json_prefix(j, key);
	fputs("null", j->f);
}

void hsa_json_finish(hsa_json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}

void hsa_json_end_document(hsa_json *j)
{
	hsa_json_end(j);
	hsa_json_close(j);
	hsa_json_finish(j);
}

/* ---- progress ---------------------------------------------------------- */

void hsa_progress_start(hsa_progress *p, const char *what, uint64_t total)
{
	p->what = what;
	p->total = total;
	p->start = p->last = hsa_now();
	p->tty = isatty(STDERR_FILENO);
	p->shown = 0;
}

void hsa_progress_update(hsa_progress *p, uint64_t done)
{
	if (!p->tty)
		return;
	double t = hsa_now();
	if (t - p->start < 1.0 || t - p->last < 0.1)
		return;
	p->last = t;
	p->shown = 1;
	if (!p->total) {
		/* Work of unknown size: the time spent only. */
		fprintf(stderr, "\r%-24s %5.1fs", p->what, t - p->start);
		fflush(stderr);
		return;
	}
	int pct = p->total ? (int)(done * 100 / p->total) : 0;
	if (pct > 100)
		pct = 100;
	char bar[31];
	int fill = pct * 30 / 100;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(30 - fill));
	bar[30] = 0;
	fprintf(stderr, "\r%-24s [%s] %3d%% %5.1fs", p->what, bar, pct, t - p->start);
	fflush(stderr);
}

void hsa_progress_end(hsa_progress *p)
{
	if (p->shown)
		fprintf(stderr, "\r%-24s done in %.1fs%30s\n", p->what, hsa_now() - p->start, "");
	p->shown = 0;
}
