/* text.c - strings for people: growable strings, escaping, UTF-8, human
 * sizes and counts, file names. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

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

void hsa_strs_free(char **s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		free(s[i]);
	free(s);
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
