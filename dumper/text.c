/*
 * text.c - UTF-8 text for the dump: value previews, reprs of dict keys,
 * names of modules, classes, functions and code, and edge labels. Nothing
 * here runs Python code or allocates: str data is encoded straight from
 * the object's storage (PyUnicode_AsUTF8 would cache a UTF-8 copy inside
 * the object), ints are converted from their digits, floats with the C
 * library in the "C" locale.
 */
#include "internal.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_MAX 120 /* bytes of a dict-key repr or a name label */
#define LONG_MAX_DIGITS 70 /* ints up to 2100 bits get a decimal preview */

void hsd_buf_put(struct hsd_buf *b, const char *s, size_t n)
{
	size_t room = b->cap - b->len;
	if (n > room) {
		n = room;
		/* do not cut a UTF-8 sequence */
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		b->trunc = 1;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

void hsd_buf_puts(struct hsd_buf *b, const char *s)
{
	hsd_buf_put(b, s, strlen(s));
}

/* Decimal digits of v, with a leading '-' if neg; at least width digits
 * (zero-padded). Ints and floats are common: printf is too slow here. */
static void put_u64(struct hsd_buf *b, int neg, uint64_t v, int width)
{
	char tmp[24];
	char *p = tmp + sizeof(tmp);
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v || tmp + sizeof(tmp) - p < width);
	if (neg)
		*--p = '-';
	hsd_buf_put(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

void hsd_buf_printf(struct hsd_buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	hsd_buf_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static size_t utf8_encode(Py_UCS4 ch, char out[4])
{
	if (ch >= 0xD800 && ch <= 0xDFFF)
		ch = 0xFFFD; /* lone surrogates are not valid UTF-8 */
	if (ch < 0x80) {
		out[0] = (char)ch;
		return 1;
	}
	if (ch < 0x800) {
		out[0] = (char)(0xC0 | (ch >> 6));
		out[1] = (char)(0x80 | (ch & 0x3F));
		return 2;
	}
	if (ch < 0x10000) {
		out[0] = (char)(0xE0 | (ch >> 12));
		out[1] = (char)(0x80 | ((ch >> 6) & 0x3F));
		out[2] = (char)(0x80 | (ch & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (ch >> 18));
	out[1] = (char)(0x80 | ((ch >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((ch >> 6) & 0x3F));
	out[3] = (char)(0x80 | (ch & 0x3F));
	return 4;
}

void hsd_buf_str(struct hsd_buf *b, PyObject *s)
{
	if (!hsd_str_ready(s)) {
		b->trunc = 1;
		return;
	}
	Py_ssize_t n = PyUnicode_GET_LENGTH(s);
	const void *data = PyUnicode_DATA(s);
	if (PyUnicode_IS_ASCII(s)) {
		hsd_buf_put(b, data, (size_t)n);
		return;
	}
	int kind = PyUnicode_KIND(s);
	for (Py_ssize_t i = 0; i < n; i++) {
		char u[4];
		size_t k = utf8_encode(PyUnicode_READ(kind, data, i), u);
		if (b->len + k > b->cap) {
			b->trunc = 1;
			return;
		}
		memcpy(b->p + b->len, u, k);
		b->len += k;
	}
}

/* Appends one escaped character of a repr unless the text must be cut
 * there (leaving room for "..." and the closing quote). */
static int put_quoted(struct hsd_buf *b, const char *u, size_t k)
{
	if (b->len + k + 4 > b->cap)
		return -1;
	memcpy(b->p + b->len, u, k);
	b->len += k;
	return 0;
}

static int open_quote(struct hsd_buf *b, const char *prefix, char q)
{
	size_t n = strlen(prefix);
	if (b->len + n + 5 > b->cap) {
		b->trunc = 1;
		return -1;
	}
	memcpy(b->p + b->len, prefix, n);
	b->len += n;
	b->p[b->len++] = q;
	return 0;
}

static void close_quote(struct hsd_buf *b, char q, int cut)
{
	if (cut) {
		memcpy(b->p + b->len, "...", 3);
		b->len += 3;
		b->trunc = 1;
	}
	b->p[b->len++] = q;
}

/* Python's repr of a str: quotes, escapes, printable characters kept. */
static void repr_str(struct hsd_buf *b, PyObject *s)
{
	if (!hsd_str_ready(s)) {
		hsd_buf_puts(b, "<str>");
		return;
	}
	Py_ssize_t n = PyUnicode_GET_LENGTH(s);
	int kind = PyUnicode_KIND(s);
	const void *data = PyUnicode_DATA(s);
	int squote = 0, dquote = 0;
	for (Py_ssize_t i = 0; i < n; i++) {
		Py_UCS4 ch = PyUnicode_READ(kind, data, i);
		squote |= ch == '\'';
		dquote |= ch == '"';
	}
	char q = squote && !dquote ? '"' : '\'';
	if (open_quote(b, "", q) < 0)
		return;
	int cut = 0;
	for (Py_ssize_t i = 0; i < n && !cut; i++) {
		Py_UCS4 ch = PyUnicode_READ(kind, data, i);
		char u[16];
		size_t k;
		if (ch == (Py_UCS4)q || ch == '\\') {
			u[0] = '\\';
			u[1] = (char)ch;
			k = 2;
		} else if (ch == '\t' || ch == '\n' || ch == '\r') {
			u[0] = '\\';
			u[1] = ch == '\t' ? 't' : ch == '\n' ? 'n' : 'r';
			k = 2;
		} else if (ch < 0x20 || ch == 0x7F) {
			k = (size_t)snprintf(u, sizeof(u), "\\x%02x", (unsigned)ch);
		} else if (ch < 0x7F || Py_UNICODE_ISPRINTABLE(ch)) {
			k = utf8_encode(ch, u);
		} else if (ch <= 0xFF) {
			k = (size_t)snprintf(u, sizeof(u), "\\x%02x", (unsigned)ch);
		} else if (ch <= 0xFFFF) {
			k = (size_t)snprintf(u, sizeof(u), "\\u%04x", (unsigned)ch);
		} else {
			k = (size_t)snprintf(u, sizeof(u), "\\U%08x", (unsigned)ch);
		}
		cut = put_quoted(b, u, k) < 0;
	}
	close_quote(b, q, cut);
}

static void repr_bytes(struct hsd_buf *b, PyObject *o)
{
	const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(o);
	size_t n = (size_t)PyBytes_GET_SIZE(o);
	int squote = memchr(s, '\'', n) != NULL;
	int dquote = memchr(s, '"', n) != NULL;
	char q = squote && !dquote ? '"' : '\'';
	if (open_quote(b, "b", q) < 0)
		return;
	int cut = 0;
	for (size_t i = 0; i < n && !cut; i++) {
		unsigned ch = s[i];
		char u[8];
		size_t k;
		if (ch == (unsigned char)q || ch == '\\') {
			u[0] = '\\';
			u[1] = (char)ch;
			k = 2;
		} else if (ch == '\t' || ch == '\n' || ch == '\r') {
			u[0] = '\\';
			u[1] = ch == '\t' ? 't' : ch == '\n' ? 'n' : 'r';
			k = 2;
		} else if (ch < 0x20 || ch >= 0x7F) {
			k = (size_t)snprintf(u, sizeof(u), "\\x%02x", ch);
		} else {
			u[0] = (char)ch;
			k = 1;
		}
		cut = put_quoted(b, u, k) < 0;
	}
	close_quote(b, q, cut);
}

/* Decimal text of an int; returns 0, or -1 if it is too long to convert. */
static int buf_long(struct hsd_buf *b, PyObject *o)
{
	size_t n;
	int neg;
	const digit *d = hsd_long_digits(o, &n, &neg);
	if (n > LONG_MAX_DIGITS)
		return -1;
	if (n <= 2) {
		uint64_t v = n ? d[0] : 0;
		if (n == 2)
			v |= (uint64_t)d[1] << PyLong_SHIFT;
		put_u64(b, neg, v, 1);
		return 0;
	}
	/* Divide by 10^9 repeatedly: base-1e9 chunks, least significant
	 * first. */
	uint32_t tmp[LONG_MAX_DIGITS];
	uint32_t chunk[LONG_MAX_DIGITS * 2];
	size_t nchunk = 0;
	for (size_t i = 0; i < n; i++)
		tmp[i] = d[i];
	while (n > 0) {
		uint64_t rem = 0;
		for (size_t i = n; i-- > 0;) {
			uint64_t cur = (rem << PyLong_SHIFT) | tmp[i];
			tmp[i] = (uint32_t)(cur / 1000000000u);
			rem = cur % 1000000000u;
		}
		chunk[nchunk++] = (uint32_t)rem;
		while (n > 0 && tmp[n - 1] == 0)
			n--;
	}
	put_u64(b, neg, chunk[nchunk - 1], 1);
	for (size_t i = nchunk - 1; i-- > 0 && !b->trunc;)
		put_u64(b, 0, chunk[i], 9);
	return 0;
}

/* The fast path of repr(float) for values Python prints without an
 * exponent: the fewest decimals k for which m / 10^k == v exactly, with m
 * an integer below 2^53 (so m and 10^k are exact and the division rounds
 * correctly, as reading the text back would). Returns 0 when there is no
 * such k; the general path below then finds the digits. */
static int fixed_float(struct hsd_buf *b, double v)
{
	static const double pow10[] = {
		1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
		1e12, 1e13, 1e14, 1e15, 1e16,
	};
	double a = fabs(v);
	if (!(a >= 1e-4 && a < 1e16))
		return 0;
	for (int k = 0; k <= 16; k++) {
		double m = nearbyint(a * pow10[k]);
		if (m >= 9007199254740992.0)
			return 0;
		if (m / pow10[k] != a)
			continue;
		uint64_t n = (uint64_t)m, p = (uint64_t)pow10[k];
		put_u64(b, v < 0, n / p, 1);
		hsd_buf_put(b, ".", 1);
		put_u64(b, 0, n % p, k ? k : 1);
		return 1;
	}
	return 0;
}

/* repr(float): the shortest digits that read back as v, laid out as
 * Python does (exponent below 1e-4 and from 1e16 on). */
static void buf_float(struct hsd_buf *b, double v)
{
	if (isnan(v)) {
		hsd_buf_puts(b, "nan");
		return;
	}
	if (isinf(v)) {
		hsd_buf_puts(b, v > 0 ? "inf" : "-inf");
		return;
	}
	if (fixed_float(b, v))
		return;
	char tmp[40];
	/* 15 significant digits always read back when a representation that
	 * short exists (DBL_DIG), so stripping zeros then gives the shortest;
	 * otherwise 16, else 17 digits. Subnormals have less precision: try
	 * every length. */
	for (int prec = fabs(v) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
		if (prec == 17 || strtod(tmp, NULL) == v)
			break;
	}
	const char *p = tmp;
	int neg = *p == '-';
	p += neg;
	char digs[24];
	size_t nd = 0;
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			digs[nd++] = *p;
	int exp = *p == 'e' ? atoi(p + 1) : 0;
	while (nd > 1 && digs[nd - 1] == '0')
		nd--;
	int decpt = exp + 1;
	if (neg)
		hsd_buf_put(b, "-", 1);
	if (decpt <= -4 || decpt > 16) {
		hsd_buf_put(b, digs, 1);
		if (nd > 1) {
			hsd_buf_put(b, ".", 1);
			hsd_buf_put(b, digs + 1, nd - 1);
		}
		hsd_buf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
	} else if (decpt <= 0) {
		hsd_buf_put(b, "0.", 2);
		for (int i = 0; i < -decpt; i++)
			hsd_buf_put(b, "0", 1);
		hsd_buf_put(b, digs, nd);
	} else if ((size_t)decpt >= nd) {
		hsd_buf_put(b, digs, nd);
		for (size_t i = nd; i < (size_t)decpt; i++)
			hsd_buf_put(b, "0", 1);
		hsd_buf_put(b, ".0", 2);
	} else {
		hsd_buf_put(b, digs, (size_t)decpt);
		hsd_buf_put(b, ".", 1);
		hsd_buf_put(b, digs + decpt, nd - (size_t)decpt);
	}
}

/* A bounded repr of a dict key: str, bytes, int, float, bool, None, and
 * tuples of those (one level); other objects as "<type object>". */
static void repr_scalar(struct hsd_buf *b, PyObject *o, int depth)
{
	PyTypeObject *tp = Py_TYPE(o);
	if (PyUnicode_Check(o)) {
		repr_str(b, o);
	} else if (PyBytes_Check(o)) {
		repr_bytes(b, o);
	} else if (PyBool_Check(o)) {
		hsd_buf_puts(b, o == Py_True ? "True" : "False");
	} else if (PyLong_Check(o)) {
		if (buf_long(b, o) < 0)
			hsd_buf_puts(b, "<int>");
	} else if (PyFloat_Check(o)) {
		buf_float(b, PyFloat_AS_DOUBLE(o));
	} else if (o == Py_None) {
		hsd_buf_puts(b, "None");
	} else if (PyTuple_Check(o) && depth == 0) {
		Py_ssize_t n = PyTuple_GET_SIZE(o);
		hsd_buf_put(b, "(", 1);
		for (Py_ssize_t i = 0; i < n && !b->trunc; i++) {
			if (i)
				hsd_buf_put(b, ", ", 2);
			repr_scalar(b, PyTuple_GET_ITEM(o, i), depth + 1);
		}
		hsd_buf_puts(b, n == 1 ? ",)" : ")");
	} else if (PyTuple_Check(o)) {
		hsd_buf_puts(b, "(...)");
	} else {
		char name[200];
		size_t n = hsd_type_name(tp, name, sizeof(name));
		hsd_buf_put(b, "<", 1);
		hsd_buf_put(b, name, n);
		hsd_buf_puts(b, " object>");
	}
}


static uint64_t intern(struct hsd_ctx *c, const struct hsd_buf *b)
{
	return hs_writer_string(c->w, b->p, b->len);
}

uint64_t hsd_intern_cstr(struct hsd_ctx *c, const char *s)
{
	return hs_writer_string(c->w, s, strlen(s));
}

static struct hsd_label_slot *label_slot(struct hsd_ctx *c, PyObject *key)
{
	uint64_t h = ((uintptr_t)key >> 4) * 0x9E3779B97F4A7C15ull;
	struct hsd_label_slot *s = &c->labels[(h >> 40) & (HSD_LABEL_SLOTS - 1)];
	if (s->key != key) {
		s->key = key;
		s->plain = s->repr = 0;
	}
	return s;
}

uint64_t hsd_label_plain(struct hsd_ctx *c, PyObject *key)
{
	if (!key)
		return 0;
	struct hsd_label_slot *s = label_slot(c, key);
	if (!s->plain) {
		char tmp[LABEL_MAX];
		struct hsd_buf b = { tmp, 0, sizeof(tmp), 0 };
		if (PyUnicode_Check(key))
			hsd_buf_str(&b, key);
		else
			repr_scalar(&b, key, 0);
		s->plain = intern(c, &b);
	}
	return s->plain;
}

uint64_t hsd_label_attr(struct hsd_ctx *c, PyObject *name)
{
	/* setattr() takes any str: a name that is no identifier is data */
	if (c->opts->values == HS_VALUES_NONE &&
	    (!name || !PyUnicode_Check(name) || !hsd_str_ready(name) ||
	     PyUnicode_IsIdentifier(name) != 1))
		return 0;
	return hsd_label_plain(c, name);
}

static int ascii_ident(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!(ch == '_' || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z') || (i && ch >= '0' && ch <= '9')))
			return 0;
	}
	return n > 0;
}

/* A name Python gives a thread or task when the program gives none:
 * MainThread, Thread-N, Thread-N (target) (3.10+, the target's __name__),
 * Dummy-N, Task-N. */
static int default_name(const char *s, size_t n)
{
	static const char *const prefixes[] = { "Thread-", "Dummy-", "Task-" };
	if (n == 10 && memcmp(s, "MainThread", 10) == 0)
		return 1;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t k = strlen(prefixes[i]), d = k;
		if (n <= k || memcmp(s, prefixes[i], k) != 0)
			continue;
		while (d < n && s[d] >= '0' && s[d] <= '9')
			d++;
		if (d == k)
			return 0;
		if (d == n)
			return 1;
		return i == 0 && n - d > 3 && s[d] == ' ' && s[d + 1] == '(' &&
		       s[n - 1] == ')' && ascii_ident(s + d + 2, n - d - 3);
	}
	return 0;
}

uint64_t hsd_label_name(struct hsd_ctx *c, PyObject *name)
{
	if (c->opts->values != HS_VALUES_NONE)
		return hsd_label_plain(c, name);
	if (!name || !PyUnicode_Check(name))
		return 0;
	char tmp[LABEL_MAX];
	struct hsd_buf b = { tmp, 0, sizeof(tmp), 0 };
	hsd_buf_str(&b, name);
	return !b.trunc && default_name(tmp, b.len) ? hsd_label_plain(c, name) : 0;
}

uint64_t hsd_label_repr(struct hsd_ctx *c, PyObject *key)
{
	/* Dict keys can be data; values="none" keeps none of them. */
	if (!key || c->opts->values == HS_VALUES_NONE)
		return 0;
	struct hsd_label_slot *s = label_slot(c, key);
	if (!s->repr) {
		char tmp[LABEL_MAX];
		struct hsd_buf b = { tmp, 0, sizeof(tmp), 0 };
		repr_scalar(&b, key, 0);
		s->repr = intern(c, &b);
	}
	return s->repr;
}

uint64_t hsd_code_name(struct hsd_ctx *c, PyCodeObject *code, int line)
{
	char tmp[512];
	struct hsd_buf b = { tmp, 0, sizeof(tmp), 0 };
	if (code->co_qualname && PyUnicode_Check(code->co_qualname))
		hsd_buf_str(&b, code->co_qualname);
	hsd_buf_put(&b, " ", 1);
	if (code->co_filename && PyUnicode_Check(code->co_filename))
		hsd_buf_str(&b, code->co_filename);
	hsd_buf_printf(&b, ":%d", line >= 0 ? line : code->co_firstlineno);
	return intern(c, &b);
}

/* The name of a callable: function qualname, "type.name" of a C method. */
static void callable_name(struct hsd_buf *b, PyObject *f)
{
	if (PyFunction_Check(f)) {
		PyObject *q = ((PyFunctionObject *)f)->func_qualname;
		if (q && PyUnicode_Check(q))
			hsd_buf_str(b, q);
	} else if (PyCFunction_Check(f)) {
		PyCFunctionObject *m = (PyCFunctionObject *)f;
		if (m->m_self && !PyModule_Check(m->m_self)) {
			PyTypeObject *st = PyType_Check(m->m_self)
			                   ? (PyTypeObject *)m->m_self
			                   : Py_TYPE(m->m_self);
			char name[200];
			size_t n = hsd_type_name(st, name, sizeof(name));
			hsd_buf_put(b, name, n);
			hsd_buf_put(b, ".", 1);
		}
		if (m->m_ml && m->m_ml->ml_name)
			hsd_buf_puts(b, m->m_ml->ml_name);
	} else {
		char name[200];
		size_t n = hsd_type_name(Py_TYPE(f), name, sizeof(name));
		hsd_buf_put(b, name, n);
	}
}

static void set_value(hs_object *rec, const struct hsd_buf *b)
{
	rec->flags |= HS_OF_HAS_VALUE | (b->trunc ? HS_OF_VALUE_TRUNC : 0);
	rec->value = (const uint8_t *)b->p;
	rec->value_len = b->len;
}

static void set_len(hs_object *rec, Py_ssize_t n)
{
	rec->flags |= HS_OF_HAS_LEN;
	rec->len = (uint64_t)(n < 0 ? -n : n);
}

void hsd_describe(struct hsd_ctx *c, PyObject *o, const struct hsd_type *t,
                  hs_object *rec, struct hsd_buf *vb)
{
	int values = c->opts->values != HS_VALUES_NONE;
	char tmp[512];
	struct hsd_buf nb = { tmp, 0, sizeof(tmp), 0 };
	vb->len = 0;
	vb->trunc = 0;
	switch (t->shape) {
	case HSD_SH_STR:
		if (hsd_str_ready(o))
			set_len(rec, PyUnicode_GET_LENGTH(o));
		if (values) {
			hsd_buf_str(vb, o);
			set_value(rec, vb);
		}
		break;
	case HSD_SH_BYTES:
		set_len(rec, Py_SIZE(o));
		if (values) {
			hsd_buf_put(vb, PyBytes_AS_STRING(o), (size_t)Py_SIZE(o));
			set_value(rec, vb);
		}
		break;
	case HSD_SH_BYTEARRAY:
	case HSD_SH_TUPLE:
	case HSD_SH_LIST:
		set_len(rec, Py_SIZE(o));
		break;
	case HSD_SH_OTHER:
		if (t->sizer == HSD_SZ_DEQUE)
			set_len(rec, Py_SIZE(o));
		break;
	case HSD_SH_DICT:
		set_len(rec, ((PyDictObject *)o)->ma_used);
		break;
	case HSD_SH_SET:
		set_len(rec, ((PySetObject *)o)->used);
		break;
	case HSD_SH_INT:
		if (values && buf_long(vb, o) == 0)
			set_value(rec, vb);
		break;
	case HSD_SH_BOOL:
		if (values) {
			hsd_buf_puts(vb, o == Py_True ? "True" : "False");
			set_value(rec, vb);
		}
		break;
	case HSD_SH_FLOAT:
		if (values) {
			buf_float(vb, PyFloat_AS_DOUBLE(o));
			set_value(rec, vb);
		}
		break;
	case HSD_SH_NONE:
		if (values) {
			hsd_buf_puts(vb, "None");
			set_value(rec, vb);
		}
		break;
	case HSD_SH_TYPE:
		nb.len = hsd_type_name((PyTypeObject *)o, tmp, sizeof(tmp));
		break;
	case HSD_SH_MODULE: {
		PyObject *name = ((PyModuleObject *)o)->md_name;
		if (name && PyUnicode_Check(name))
			hsd_buf_str(&nb, name);
		break;
	}
	case HSD_SH_FUNCTION:
	case HSD_SH_CFUNCTION:
		callable_name(&nb, o);
		break;
	case HSD_SH_METHOD:
		if (((PyMethodObject *)o)->im_func)
			callable_name(&nb, ((PyMethodObject *)o)->im_func);
		break;
	case HSD_SH_GEN: {
		PyObject *q = ((PyGenObject *)o)->gi_qualname;
		if (q && PyUnicode_Check(q))
			hsd_buf_str(&nb, q);
		break;
	}
	case HSD_SH_CODE:
		rec->name = hsd_code_name(c, (PyCodeObject *)o, -1);
		rec->flags |= HS_OF_HAS_NAME;
		return;
	default:
		break;
	}
	if (nb.len) {
		rec->name = intern(c, &nb);
		rec->flags |= HS_OF_HAS_NAME;
	}
}

int hsd_names_init(struct hsd_ctx *c)
{
	static const char *const names[HSD_N_COUNT] = {
		[HSD_N_DICT] = "__dict__", [HSD_N_CLASS] = "__class__",
		[HSD_N_CODE] = "__code__", [HSD_N_GLOBALS] = "__globals__",
		[HSD_N_BUILTINS] = "__builtins__", [HSD_N_MODULE] = "__module__",
		[HSD_N_DEFAULTS] = "__defaults__",
		[HSD_N_KWDEFAULTS] = "__kwdefaults__", [HSD_N_DOC] = "__doc__",
		[HSD_N_NAME] = "__name__", [HSD_N_CLOSURE] = "__closure__",
		[HSD_N_ANNOTATIONS] = "__annotations__",
		[HSD_N_QUALNAME] = "__qualname__", [HSD_N_SELF] = "__self__",
		[HSD_N_FUNC] = "__func__", [HSD_N_CELL_CONTENTS] = "cell_contents",
		[HSD_N_MRO] = "__mro__", [HSD_N_BASES] = "__bases__",
		[HSD_N_BASE] = "__base__", [HSD_N_SUBCLASSES] = "__subclasses__",
		[HSD_N_CACHE] = "tp_cache", [HSD_N_MODULE_OBJ] = "ht_module",
		[HSD_N_CALLBACK] = "__callback__", [HSD_N_F_BACK] = "f_back",
		[HSD_N_F_TRACE] = "f_trace", [HSD_N_F_LOCALS] = "f_locals",
		[HSD_N_F_FUNC] = "f_func", [HSD_N_F_CODE] = "f_code",
		[HSD_N_FRAME_OBJ] = "frame_obj", [HSD_N_EXC] = "exc_value",
		[HSD_N_CONSTS] = "co_consts", [HSD_N_NAMES] = "co_names",
		[HSD_N_LOCALSPLUSNAMES] = "co_localsplusnames",
		[HSD_N_LOCALSPLUSKINDS] = "co_localspluskinds",
		[HSD_N_FILENAME] = "co_filename", [HSD_N_LINETABLE] = "co_linetable",
		[HSD_N_EXCEPTIONTABLE] = "co_exceptiontable",
		[HSD_N_CO_CODE] = "co_code", [HSD_N_LOOP] = "_loop",
		[HSD_N_CALLBACK0] = "_callback0", [HSD_N_CONTEXT0] = "_context0",
		[HSD_N_CALLBACKS] = "_callbacks", [HSD_N_RESULT] = "_result",
		[HSD_N_EXCEPTION] = "_exception",
		[HSD_N_EXCEPTION_TB] = "_exception_tb",
		[HSD_N_SOURCE_TB] = "_source_traceback",
		[HSD_N_CANCEL_MSG] = "_cancel_message",
		[HSD_N_CANCELLED_EXC] = "_cancelled_exc",
		[HSD_N_FUT_WAITER] = "_fut_waiter", [HSD_N_CORO] = "_coro",
		[HSD_N_TASK_NAME] = "_name", [HSD_N_CONTEXT] = "_context",
		[HSD_N_CO_NAME] = "co_name", [HSD_N_CO_QUALNAME] = "co_qualname",
		[HSD_N_GI_CODE] = "gi_code", [HSD_N_FUTURE] = "future",
		[HSD_N_ARGS] = "args", [HSD_N_NOTES] = "__notes__",
		[HSD_N_TRACEBACK] = "__traceback__", [HSD_N_CAUSE] = "__cause__",
		[HSD_N_CONTEXT_EXC] = "__context__", [HSD_N_TB_NEXT] = "tb_next",
		[HSD_N_TB_FRAME] = "tb_frame",
	};
	for (int i = 0; i < HSD_N_COUNT; i++) {
		if (!(c->names[i] = hsd_intern_cstr(c, names[i])))
			return hsd_check_writer(c);
	}
	c->labels = calloc(HSD_LABEL_SLOTS, sizeof(*c->labels));
	if (!c->labels)
		return hsd_fail(c, ENOMEM, "out of memory for the label cache");
	return 0;
}
