/* query.c - naming objects (resolving 0xADDR / TYPE[#k], describing), and
 * queries more than one command runs. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

int hsa_db_addr(sqlite3 *db, int64_t id, uint64_t *addr)
{
	sqlite3_stmt *st = NULL;
	int r = SQLITE_ERROR;
	*addr = 0;
	if (sqlite3_prepare_v2(db, "SELECT addr FROM objects WHERE id = ?", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		if ((r = sqlite3_step(st)) == SQLITE_ROW)
			*addr = (uint64_t)sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return r == SQLITE_ROW || r == SQLITE_DONE ? 0 : -1;
}

int hsa_db_describe(sqlite3 *db, int64_t id, hsa_str *out)
{
	static const char sql[] = "SELECT t.name, o.name, o.value, o.len FROM objects o"
	                          " LEFT JOIN types t ON t.id = o.type WHERE o.id = ?";
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int r = sqlite3_step(st);
	if (r != SQLITE_ROW) {
		rc = r == SQLITE_DONE ? hsa_str_printf(out, "object #%" PRId64, id) : -1;
		goto done;
	}
	const char *type = (const char *)sqlite3_column_text(st, 0);
	const char *dot = type ? strrchr(type, '.') : NULL;
	rc = hsa_str_printf(out, "%s", dot ? dot + 1 : type ? type : "object");
	if (!rc && sqlite3_column_type(st, 1) != SQLITE_NULL) {
		rc = hsa_str_printf(out, " %s", (const char *)sqlite3_column_text(st, 1));
	} else if (!rc && sqlite3_column_type(st, 2) != SQLITE_NULL) {
		const char *v = sqlite3_column_blob(st, 2);
		int n = sqlite3_column_bytes(st, 2);
		rc = hsa_str_add(out, " '", 2) || hsa_str_repr(out, v ? v : "", (size_t)n, 40) ||
		     hsa_str_add(out, "'", 1);
	} else if (!rc && sqlite3_column_type(st, 3) != SQLITE_NULL) {
		rc = hsa_str_printf(out, " (len %" PRId64 ")", (int64_t)sqlite3_column_int64(st, 3));
	}
done:
	sqlite3_finalize(st);
	return rc;
}

/* Levenshtein distance, capped: enough to rank type-name suggestions. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 200 || lb > 200)
		return la > lb ? la : lb;
	size_t row[201];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* "no type 'lsit'; closest: list, slice, dict" */
static void suggest_types(sqlite3 *db, const char *name, char *err, size_t errlen)
{
	struct { size_t d; char *name; } best[3] = {{SIZE_MAX, NULL}, {SIZE_MAX, NULL},
	                                            {SIZE_MAX, NULL}};
	sqlite3_stmt *st = NULL;
	int r = 0;
	if (sqlite3_prepare_v2(db, "SELECT name FROM types WHERE count > 0", -1, &st, NULL) ==
	    SQLITE_OK) {
		while ((r = hsa_db_step(st, err, errlen)) > 0) {
			const char *full = (const char *)sqlite3_column_text(st, 0);
			if (!full)
				continue;
			const char *dot = strrchr(full, '.');
			size_t d = distance(name, full), ds = dot ? distance(name, dot + 1) : d;
			if (ds < d)
				d = ds;
			for (int k = 0; k < 3; k++) {
				if (d >= best[k].d)
					continue;
				free(best[2].name);
				memmove(&best[k + 1], &best[k], (size_t)(2 - k) * sizeof(best[0]));
				best[k].d = d;
				best[k].name = strdup(full);
				break;
			}
		}
	}
	hsa_str s = {0};
	hsa_str_printf(&s, "no type '%s' in the dump", name);
	for (int k = 0; k < 3 && best[k].name; k++)
		hsa_str_printf(&s, "%s%s", k ? ", " : "; closest: ", best[k].name);
	/* on failure err says so: suggestions from part of the types would mislead */
	if (!r)
		snprintf(err, errlen, "%s", s.s ? s.s : "no such type");
	sqlite3_finalize(st);
	hsa_str_free(&s);
	for (int k = 0; k < 3; k++)
		free(best[k].name);
}

/* "no object at 0x1234; it is inside 0x1200 (list, 56 bytes)" or the
 * nearest addresses on either side. */
static void suggest_addrs(sqlite3 *db, uint64_t addr, char *err, size_t errlen)
{
	static const char *const sql[2] = {
		"SELECT id, addr, size FROM objects WHERE addr < ? ORDER BY addr DESC LIMIT 1",
		"SELECT id, addr, size FROM objects WHERE addr > ? ORDER BY addr LIMIT 1",
	};
	hsa_str s = {0};
	const char *sep = "; closest: ";
	int found = 0;
	hsa_str_printf(&s, "no object at 0x%" PRIx64, addr);
	for (int k = 0; k < 2; k++) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(db, sql[k], -1, &st, NULL) != SQLITE_OK)
			break;
		sqlite3_bind_int64(st, 1, (int64_t)addr);
		found = hsa_db_step(st, err, errlen);
		int64_t id = found > 0 ? sqlite3_column_int64(st, 0) : 0;
		uint64_t a = found > 0 ? (uint64_t)sqlite3_column_int64(st, 1) : 0;
		uint64_t size = found > 0 ? (uint64_t)sqlite3_column_int64(st, 2) : 0;
		sqlite3_finalize(st);
		if (found < 0)
			break; /* err says so */
		if (!found)
			continue;
		int inside = !k && addr < a + size;
		hsa_str_printf(&s, "%s0x%" PRIx64 " (", inside ? "; it is inside " : sep, a);
		hsa_db_describe(db, id, &s);
		hsa_str_printf(&s, ", %" PRIu64 " bytes)", size);
		if (inside)
			break;
		sep = ", ";
	}
	if (found >= 0)
		snprintf(err, errlen, "%s", s.s ? s.s : "no such object");
	hsa_str_free(&s);
}

/* The type ids matching a name: the full name, or else a unique short
 * name (the part after the last dot). */
static int find_type(sqlite3 *db, const char *name, int64_t *tid, char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT id, name FROM types WHERE count > 0 AND (name = ?1 OR name LIKE '%.' || ?1)"
		" ORDER BY name = ?1 DESC, count DESC";
	sqlite3_stmt *st = NULL;
	int n = 0, exact = 0;
	hsa_str alts = {0};
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *full = (const char *)sqlite3_column_text(st, 1);
		/* LIKE is case-insensitive; the suffix must match exactly. */
		size_t lf = strlen(full), ln = strlen(name);
		if (lf < ln || strcmp(full + lf - ln, name))
			continue;
		if (!n++) {
			*tid = sqlite3_column_int64(st, 0);
			exact = !strcmp(full, name);
		}
		hsa_str_printf(&alts, "%s%s", n > 1 ? ", " : "", full);
	}
	int rc = r == SQLITE_DONE ? 0 : -1;
	if (rc)
		snprintf(err, errlen, "database query failed: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	if (!rc && !n) {
		suggest_types(db, name, err, errlen);
		rc = -1;
	} else if (!rc && n > 1 && !exact) {
		snprintf(err, errlen, "type '%s' is ambiguous: %s", name, alts.s);
		rc = -1;
	}
	hsa_str_free(&alts);
	return rc;
}

int hsa_db_resolve(sqlite3 *db, const char *spec, int64_t *id, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (!strncmp(spec, "0x", 2) || !strncmp(spec, "0X", 2)) {
		char *end;
		errno = 0;
		uint64_t addr = strtoull(spec + 2, &end, 16);
		if (errno || *end || end == spec + 2) {
			snprintf(err, errlen, "bad object '%s': expected 0xADDR or TYPE[#k]", spec);
			return -1;
		}
		if (sqlite3_prepare_v2(db, "SELECT id FROM objects WHERE addr = ?", -1, &st, NULL))
			goto dberr;
		sqlite3_bind_int64(st, 1, (int64_t)addr);
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW) {
			*id = sqlite3_column_int64(st, 0);
			rc = 0;
		} else if (r == SQLITE_DONE) {
			suggest_addrs(db, addr, err, errlen);
		} else {
			goto dberr;
		}
		sqlite3_finalize(st);
		return rc;
	}
	char name[512];
	uint64_t k = 1;
	const char *hash = strchr(spec, '#');
	snprintf(name, sizeof(name), "%.*s", hash ? (int)(hash - spec) : (int)strlen(spec), spec);
	if (hash) {
		char *end;
		errno = 0;
		k = strtoull(hash + 1, &end, 10);
		if (errno || *end || !k || hash[1] == '-') {
			snprintf(err, errlen, "bad object '%s': expected TYPE#k with k >= 1", spec);
			return -1;
		}
	}
	int64_t tid;
	if (find_type(db, name, &tid, err, errlen))
		return -1;
	if (k > 100) {
		snprintf(err, errlen, "bad object '%s': only the 100 largest of a type have a rank;"
		         " name it by address", spec);
		return -1;
	}
	if (sqlite3_prepare_v2(db, "SELECT object FROM type_top WHERE type = ? AND rank = ?", -1,
	                       &st, NULL))
		goto dberr;
	sqlite3_bind_int64(st, 1, tid);
	sqlite3_bind_int64(st, 2, (int64_t)k);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		rc = 0;
	} else if (r != SQLITE_DONE) {
		goto dberr;
	} else {
		snprintf(err, errlen, "no object '%s': the dump has fewer %s objects", spec, name);
	}
	sqlite3_finalize(st);
	return rc;
dberr:
	snprintf(err, errlen, "database query failed: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return -1;
}

const char *const hsa_group_by[] = {"type", "module", "site", NULL};

const char *const hsa_group_sql[] = {
	"SELECT name, count, size, retained FROM types WHERE count > 0",
	"SELECT name, count, size, retained FROM modules",
	"SELECT CASE WHEN a.frame = 0 THEN '(no allocation traceback)'"
	" ELSE f.filename || ':' || f.lineno END, a.count, a.size, a.retained"
	" FROM alloc_sites a LEFT JOIN frames f ON f.id = a.frame",
};

/* An unsigned decimal at *p, advancing it; -1 when there is none. */
static int64_t json_uint(const char **p)
{
	const char *s = *p;
	if (*s < '0' || *s > '9')
		return -1;
	uint64_t x = 0;
	while (*s >= '0' && *s <= '9' && x < (uint64_t)INT64_MAX / 10)
		x = x * 10 + (uint64_t)(*s++ - '0');
	*p = s;
	return (int64_t)x;
}

int hsa_edges_next(const char **p, int64_t *dst, int *kind, int64_t *label)
{
	const char *s = *p;
	if (!s)
		return 0;
	if (*s == '[' && s[1] == '[')
		s++; /* the array's opening bracket */
	else if (*s == ',')
		s++;
	else if (*s == ']' || *s == '[')
		return *s == ']' || !strcmp(s, "[]") ? 0 : -1;
	else
		return -1;
	int64_t k;
	if (*s++ != '[' || (*dst = json_uint(&s)) < 0 || *s++ != ',' || (k = json_uint(&s)) < 0 ||
	    *s++ != ',' || (*label = json_uint(&s)) < 0 || *s++ != ']')
		return -1;
	*kind = (int)k;
	*p = s;
	return 1;
}

int hsa_edges_each(sqlite3 *db, const char *col, int64_t id, int group, uint64_t max_bytes,
                   hsa_edges_fn fn, void *ctx, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	sqlite3_blob *b = NULL;
	char sql[64], buf[65536];
	int rc = -1, k = 0, digits = 0, r;
	int64_t v[3], x = 0;
	err[0] = 0;
	assert(group >= 1 && group <= 3);
	/* typeof() reads the record header, never the value. */
	snprintf(sql, sizeof(sql), "SELECT typeof(%s) FROM edges WHERE id = ?", col);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_int64(st, 1, id);
	if ((r = sqlite3_step(st)) == SQLITE_DONE ||
	    (r == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(st, 0), "null"))) {
		rc = 0;
		goto done;
	}
	if (r != SQLITE_ROW)
		goto done;
	if (strcmp((const char *)sqlite3_column_text(st, 0), "text"))
		goto bad;
	if (sqlite3_blob_open(db, "main", "edges", col, id, 0, &b) != SQLITE_OK)
		goto done;
	int total = sqlite3_blob_bytes(b);
	if (max_bytes && (uint64_t)total > max_bytes) {
		rc = 1;
		goto done;
	}
	for (int off = 0; off < total;) {
		int n = total - off < (int)sizeof(buf) ? total - off : (int)sizeof(buf);
		if (sqlite3_blob_read(b, buf, n, off) != SQLITE_OK)
			goto done;
		off += n;
		for (int i = 0; i < n; i++) {
			char c = buf[i];
			if (c >= '0' && c <= '9') {
				if (x > (INT64_MAX - 9) / 10)
					goto bad;
				x = x * 10 + (c - '0');
				digits = 1;
				continue;
			}
			if (c != ',' && c != '[' && c != ']')
				goto bad;
			if (!digits)
				continue;
			v[k++] = x;
			x = digits = 0;
			if (k < group)
				continue;
			k = 0;
			if ((r = fn(ctx, v)) != 0) {
				rc = r < 0 ? -1 : 0;
				goto done;
			}
		}
	}
	if (digits || k)
		goto bad;
	rc = 0;
	goto done;
bad:
	snprintf(err, errlen, "'%s': damaged database (edges.%s of object %" PRId64
	         " is not a JSON array of numbers)", sqlite3_db_filename(db, "main"), col, id);
done:
	if (rc < 0 && !err[0])
		snprintf(err, errlen, "database query failed: %s", sqlite3_errmsg(db));
	sqlite3_blob_close(b);
	sqlite3_finalize(st);
	return rc;
}
