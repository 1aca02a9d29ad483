/* open.c - opening analysis databases read-only, the per-dump cache and
 * its freshness, reloads. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"

sqlite3_stmt *hsa_db_prepare(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		snprintf(err, errlen, "database query failed: %s", sqlite3_errmsg(db));
	return st;
}

int hsa_db_step(sqlite3_stmt *st, char *err, size_t errlen)
{
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW || r == SQLITE_DONE)
		return r == SQLITE_ROW;
	snprintf(err, errlen, "database query failed: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
	return -1;
}

void hsa_db_warn_incomplete(hsa_warnings *w, const char *path, int complete,
                            const char *problem, int64_t objects, int64_t refs, int64_t roots)
{
	if (complete)
		return;
	hsa_warnings_add(w, "'%s' is truncated or damaged (%s); analyzing its intact part: %" PRId64
	                 " objects, %" PRId64 " references, %" PRId64 " roots",
	                 path, problem && *problem ? problem : "incomplete", objects, refs, roots);
}

int64_t hsa_db_meta_int(sqlite3 *db, const char *key, int64_t dflt)
{
	sqlite3_stmt *st = NULL;
	int64_t v = dflt;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL))
		return dflt;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

char *hsa_db_meta_text(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st = NULL;
	char *v = NULL;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL))
		return NULL;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

static int is_sqlite(const char *path)
{
	char buf[16];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	return n == 16 && !memcmp(buf, "SQLite format 3", 16);
}

/* What open_ro found. */
enum { DB_OK, DB_FOREIGN, DB_OTHER_VERSION, DB_DAMAGED };

static int64_t pragma_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Opens path read-only and checks that this heapsnap wrote it: DB_OK with
 * *db open, or *db NULL and why saying what is wrong. A database is input
 * like a dump: one whose header and metadata disagree is damaged. */
static int open_ro(const char *path, sqlite3 **db, char *why, size_t whylen)
{
	int rc = DB_FOREIGN;
	/* No mutex: a connection is used by one thread at a time ('leaks'
	 * reads dumps in threads), and the locks cost a third of a scan. */
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		snprintf(why, whylen, "%s", *db ? sqlite3_errmsg(*db) : "out of memory");
		goto fail;
	}
	int64_t app = pragma_int(*db, "PRAGMA application_id");
	int64_t ver = pragma_int(*db, "PRAGMA user_version");
	int64_t sv = hsa_db_meta_int(*db, "load.schema", -1);
	if (app < 0 || ver < 0) {
		snprintf(why, whylen, "%s", sqlite3_errmsg(*db));
		goto fail;
	}
	if (app != HSA_APPLICATION_ID && sv < 0) {
		snprintf(why, whylen, "no heapsnap metadata");
		goto fail;
	}
	/* Schemas before this one carry no ids in the header. */
	rc = DB_OTHER_VERSION;
	if (sv >= 0 && sv != HSA_SCHEMA_VERSION &&
	    ((!app && !ver) || (app == HSA_APPLICATION_ID && ver == sv))) {
		snprintf(why, whylen, "schema %" PRId64 ", this heapsnap reads %d", sv,
		         HSA_SCHEMA_VERSION);
		goto fail;
	}
	rc = DB_DAMAGED;
	if (app != HSA_APPLICATION_ID) {
		snprintf(why, whylen, "application_id is 0x%" PRIx64 ", not heapsnap's 0x%x",
		         (uint64_t)app, HSA_APPLICATION_ID);
		goto fail;
	}
	if (ver != HSA_SCHEMA_VERSION || sv != HSA_SCHEMA_VERSION) {
		snprintf(why, whylen, "%s is %" PRId64 ", not %d",
		         ver != HSA_SCHEMA_VERSION ? "user_version" : "meta load.schema",
		         ver != HSA_SCHEMA_VERSION ? ver : sv, HSA_SCHEMA_VERSION);
		goto fail;
	}
	sqlite3_exec(*db, "PRAGMA cache_size=-65536", NULL, NULL, NULL);
	return DB_OK;
fail:
	sqlite3_close(*db);
	*db = NULL;
	return rc;
}

/* The one-line error for a database open_ro refused. */
static void open_error(const char *path, int state, const char *why, char *err, size_t errlen)
{
	if (state == DB_DAMAGED)
		snprintf(err, errlen, "'%s': damaged database (%s); load its dump again", path, why);
	else if (state == DB_OTHER_VERSION)
		snprintf(err, errlen, "'%s': database from another heapsnap version (%s); load the"
		         " dump again", path, why);
	else
		snprintf(err, errlen, "'%s': not a heapsnap database (%s)", path, why);
}

/* FNV-1a, to name cache files of dumps in unwritable directories. */
static uint64_t fnv(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

char *hsa_db_cache_path(const char *path)
{
	char *out = NULL, *abs = realpath(path, NULL), *dir = NULL;
	if (!abs)
		return NULL;
	dir = strdup(abs);
	if (!dir)
		goto done;
	*strrchr(dir, '/') = 0;
	if (access(dir[0] ? dir : "/", W_OK) == 0) {
		if (asprintf(&out, "%s.db", path) < 0)
			out = NULL;
		goto done;
	}
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *cache = NULL;
	if (xdg && *xdg ? asprintf(&cache, "%s/heapsnap", xdg) < 0
	                : !home || asprintf(&cache, "%s/.cache/heapsnap", home) < 0)
		goto done;
	/* Make the directory and its parent (~/.cache may be missing). */
	char *slash = strrchr(cache, '/');
	*slash = 0;
	mkdir(cache, 0700);
	*slash = '/';
	mkdir(cache, 0700);
	if (asprintf(&out, "%s/%s-%016" PRIx64 ".db", cache, strrchr(abs, '/') + 1, fnv(abs)) < 0)
		out = NULL;
	free(cache);
done:
	free(dir);
	free(abs);
	return out;
}

/* Whether the cached database was made from the dump as it is now: 1
 * yes, 0 no (missing, stale, from another version), -1 damaged (why). */
static int fresh(const char *dbpath, const struct stat *sb, char *why, size_t whylen)
{
	sqlite3 *db = NULL;
	if (access(dbpath, R_OK))
		return 0;
	int state = open_ro(dbpath, &db, why, whylen);
	if (state != DB_OK)
		return state == DB_OTHER_VERSION ? 0 : -1;
	int ok = hsa_db_meta_int(db, "load.source_size", -1) == (int64_t)sb->st_size &&
	         hsa_db_meta_int(db, "load.source_mtime_ns", -1) ==
	                 (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec &&
	         hsa_db_meta_int(db, "load.source_inode", -1) == (int64_t)sb->st_ino;
	sqlite3_close(db);
	return ok;
}

/* heapsnap_dump(): the dump a connection was opened for, which
 * hsa_db_damaged loads again. */
static void dump_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	(void)argv;
	sqlite3_result_text(ctx, sqlite3_user_data(ctx), -1, SQLITE_STATIC);
}

static int remember_dump(sqlite3 *db, const char *dump)
{
	char *abs = realpath(dump, NULL);
	if (!abs)
		return -1;
	/* SQLite frees abs with the connection, or now on failure. */
	return sqlite3_create_function_v2(db, "heapsnap_dump", 0, SQLITE_UTF8, abs, dump_fn, NULL,
	                                  NULL, free) == SQLITE_OK ? 0 : -1;
}

int hsa_db_open(const char *arg, sqlite3 **db, hsa_warnings *w, char *err, size_t errlen)
{
	struct stat sb;
	char *cache = NULL, why[256];
	int rc = -1, state;
	*db = NULL;
	if (stat(arg, &sb)) {
		snprintf(err, errlen, "cannot open '%s': %s", arg, strerror(errno));
		return -1;
	}
	if (is_sqlite(arg)) {
		if ((state = open_ro(arg, db, why, sizeof(why))) != DB_OK) {
			open_error(arg, state, why, err, errlen);
			return -1;
		}
		rc = 0;
		goto warn;
	}
	cache = hsa_db_cache_path(arg);
	if (!cache) {
		snprintf(err, errlen, "no place to cache the database of '%s'; use 'heapsnap load -o'",
		         arg);
		return -1;
	}
	int f = fresh(cache, &sb, why, sizeof(why));
	if (f < 0)
		hsa_warnings_add(w, "'%s': damaged database (%s); loading '%s' again", cache, why, arg);
	else if (!f)
		hsa_progress_note("loading '%s' into '%s'", arg, cache);
	if (f <= 0 && hsa_db_load(arg, cache, 0, w, err, errlen))
		goto done;
	if ((state = open_ro(cache, db, why, sizeof(why))) != DB_OK) {
		open_error(cache, state, why, err, errlen);
		goto done;
	}
	if (remember_dump(*db, arg)) {
		snprintf(err, errlen, "cannot open '%s': out of memory", cache);
		sqlite3_close(*db);
		*db = NULL;
		goto done;
	}
	rc = 0;
	if (f <= 0)
		goto done; /* the load has warned already */
warn:
	if (!hsa_db_meta_int(*db, "load.complete", 1)) {
		char *problem = hsa_db_meta_text(*db, "load.problem");
		hsa_db_warn_incomplete(w, arg, 0, problem, hsa_db_meta_int(*db, "load.objects", 0),
		                       hsa_db_meta_int(*db, "load.references", 0),
		                       hsa_db_meta_int(*db, "load.roots", 0));
		free(problem);
	}
done:
	free(cache);
	return rc;
}

int hsa_db_cached(const char *arg)
{
	struct stat sb;
	char why[256];
	if (stat(arg, &sb))
		return 0;
	if (is_sqlite(arg))
		return 1;
	char *cache = hsa_db_cache_path(arg);
	int f = cache && fresh(cache, &sb, why, sizeof(why)) > 0;
	free(cache);
	return f;
}

/* Loads dump again into the database file at path itself, through
 * SQLite's backup and its locks: connections open on the file (holding
 * no transaction) read the new rows from their next statement on. */
static int reload_in_place(const char *dump, const char *path, hsa_warnings *w, char *err,
                           size_t errlen)
{
	struct stat sb;
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b = NULL;
	char *tmp = NULL;
	int rc = -1;
	if (stat(path, &sb) || asprintf(&tmp, "%s.reload%d", path, (int)getpid()) < 0) {
		tmp = NULL;
		snprintf(err, errlen, "cannot load '%s' again into '%s': %s", dump, path,
		         strerror(errno));
		goto done;
	}
	if (hsa_db_load(dump, tmp, sb.st_mode & 0666, w, err, errlen))
		goto done;
	if (sqlite3_open_v2(tmp, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    !(b = sqlite3_backup_init(dst, "main", src, "main")) ||
	    sqlite3_backup_step(b, -1) != SQLITE_DONE) {
		snprintf(err, errlen, "cannot load '%s' again into '%s': %s", dump, path,
		         sqlite3_errmsg(dst ? dst : src));
		goto done;
	}
	rc = 0;
done:
	if (b && sqlite3_backup_finish(b) != SQLITE_OK && !rc) {
		snprintf(err, errlen, "cannot load '%s' again into '%s': %s", dump, path,
		         sqlite3_errmsg(dst));
		rc = -1;
	}
	sqlite3_close(src);
	sqlite3_close(dst);
	if (tmp)
		unlink(tmp);
	free(tmp);
	return rc;
}

int hsa_db_damaged(sqlite3 *db, const char *why, hsa_warnings *w, char *err, size_t errlen)
{
	const char *path = sqlite3_db_filename(db, "main");
	sqlite3_stmt *st = NULL;
	char *dump = NULL;
	/* Only a connection hsa_db_open made for a dump knows one. */
	if (sqlite3_prepare_v2(db, "SELECT heapsnap_dump()", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		dump = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (!dump) {
		open_error(path, DB_DAMAGED, why, err, errlen);
		return -1;
	}
	hsa_warnings_add(w, "'%s': damaged database (%s); loading '%s' again", path, why, dump);
	int rc = reload_in_place(dump, path, w, err, errlen);
	free(dump);
	return rc;
}
