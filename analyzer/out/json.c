/* json.c - the streaming JSON writer. */
#include <inttypes.h>
#include <string.h>

#include "util.h"

void hsa_json_init(hsa_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
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
