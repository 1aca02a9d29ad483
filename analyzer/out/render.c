/* render.c - query rows as aligned tables or JSON. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

static void json_value(hsa_json *j, const char *key, sqlite3_stmt *st, int i, char fmt)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		hsa_json_null(j, key);
		break;
	case SQLITE_INTEGER:
		if (fmt == 'x') {
			char buf[32];
			snprintf(buf, sizeof(buf), "0x%" PRIx64, (uint64_t)sqlite3_column_int64(st, i));
			hsa_json_str(j, key, buf);
		} else {
			hsa_json_int(j, key, sqlite3_column_int64(st, i));
		}
		break;
	case SQLITE_FLOAT:
		hsa_json_f64(j, key, sqlite3_column_double(st, i));
		break;
	default:
		hsa_json_strn(j, key, sqlite3_column_blob(st, i),
		              (size_t)sqlite3_column_bytes(st, i));
		break;
	}
}

static int table_value(hsa_table *t, sqlite3_stmt *st, int i, char fmt)
{
	char buf[32];
	int type = sqlite3_column_type(st, i);
	if (type == SQLITE_NULL)
		return hsa_table_cell(t, "%s", fmt == 's' || fmt == 'v' ? "" : "-");
	int64_t v = sqlite3_column_int64(st, i);
	switch (fmt) {
	case 'n':
		return hsa_table_cell(t, "%s", hsa_human_count((uint64_t)v, buf));
	case 'b':
		return hsa_table_cell(t, "%s", hsa_human_size((uint64_t)v, buf));
	case 'x':
		return hsa_table_cell(t, "0x%" PRIx64, (uint64_t)v);
	default: {
		hsa_str s = {0};
		if (type == SQLITE_BLOB)
			hsa_str_repr(&s, sqlite3_column_blob(st, i), (size_t)sqlite3_column_bytes(st, i),
			             200);
		else
			hsa_str_repr(&s, (const char *)sqlite3_column_text(st, i),
			             (size_t)sqlite3_column_bytes(st, i), 200);
		int rc = hsa_table_cell(t, "%s", s.s ? s.s : "");
		hsa_str_free(&s);
		return rc;
	}
	}
}

int64_t hsa_render(sqlite3_stmt *st, const hsa_col *cols, int ncols, hsa_json *j,
                   const char *indent, char *err, size_t errlen)
{
	int n = ncols ? ncols : sqlite3_column_count(st);
	const char **names = malloc((size_t)(n + 1) * sizeof(char *));
	char *align = malloc((size_t)n + 1);
	hsa_table *t = NULL;
	int64_t rows = -1;
	int rc = SQLITE_NOMEM;
	if (!names || !align)
		goto done;
	for (int i = 0; i < n; i++) {
		char fmt = ncols ? cols[i].fmt : 'v';
		names[i] = ncols ? cols[i].name : sqlite3_column_name(st, i);
		align[i] = fmt == 'n' || fmt == 'b' ? 'r' : 'l';
	}
	align[n] = 0;
	/* A statement without columns (PRAGMA x = y) only runs. */
	if (!j && n && !(t = hsa_table_new(n, names, align)))
		goto done;
	rows = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows++;
		if (j) {
			hsa_json_open(j, NULL);
			for (int i = 0; i < n; i++)
				json_value(j, names[i], st, i, ncols ? cols[i].fmt : 'v');
			hsa_json_close(j);
			continue;
		}
		int bad = t && hsa_table_row(t);
		for (int i = 0; t && i < n && !bad; i++)
			bad = table_value(t, st, i, ncols ? cols[i].fmt : 'v');
		if (bad) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	if (rc == SQLITE_DONE && t)
		hsa_table_print(t, stdout, indent);
done:
	if (rc == SQLITE_NOMEM)
		snprintf(err, errlen, "out of memory");
	else if (rc != SQLITE_DONE)
		snprintf(err, errlen, "query failed: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
	hsa_table_free(t);
	free(names);
	free(align);
	return rc == SQLITE_DONE ? rows : -1;
}
