/*
 * db.h - the analysis database (schema in SCHEMA.md): loading a dump into
 * it (write.c), the per-dump cache (open.c), and the queries the commands
 * share (query.c, refs_vtab.c, out/render.c).
 */
#ifndef HSA_DB_H
#define HSA_DB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

/* The database header's application_id ("HSDB") and user_version (the
 * schema version, also meta load.schema). */
#define HSA_APPLICATION_ID 0x48534442
#define HSA_SCHEMA_VERSION 7

/* Loads the dump at path into a new database at out, written under a
 * temporary name and renamed into place. The file is created with
 * permission bits mode before anything is written into it; mode 0 takes
 * the dump's read and write bits (the database holds every value preview
 * the dump does). Adds to w (util.h; NULL drops them) the warnings about
 * a truncated or damaged dump, whose intact part is loaded. Returns 0 or
 * -1 with err filled. */
int hsa_db_load(const char *path, const char *out, mode_t mode, hsa_warnings *w, char *err,
                size_t errlen);

/* Adds to w the load warning for a dump that is not complete (none when
 * complete), with what of it was analyzed (load internals: at load and at
 * open). */
void hsa_db_warn_incomplete(hsa_warnings *w, const char *path, int complete,
                            const char *problem, int64_t objects, int64_t refs, int64_t roots);

/* Fills the top_retained, top_holds and type_top tables (load internals). */
struct hsa_heap;
struct hsa_graph;
int hsa_rank_write(sqlite3 *db, const struct hsa_heap *h, const struct hsa_graph *g);

/* Opens arg read-only: a database as it is, or a dump through its cached
 * database (DUMP.db beside it, or $XDG_CACHE_HOME/heapsnap/ when that
 * directory is not writable), loading it first when missing or stale.
 * A database whose header (application_id, user_version) and metadata
 * disagree is damaged: a cached one is loaded again with a one-line
 * warning, one given as arg is an error naming it. Repeats the load
 * warning of a damaged dump. The warnings go to w (NULL drops them) in
 * place of stderr. Returns 0 or -1 with err. */
int hsa_db_open(const char *arg, sqlite3 **db, hsa_warnings *w, char *err, size_t errlen);

/* Whether hsa_db_open(arg) would open a database without loading: 1 when
 * arg is an SQLite file or a dump whose cached database is up to date, 0
 * otherwise (no cache, stale, damaged, another version, or no such
 * file). */
int hsa_db_cached(const char *arg);

/* For a walk that found db inconsistent (why: what, for people, e.g.
 * "object 7's path to a root loops"). When db is the cache hsa_db_open
 * made for a dump, loads the dump again into the same file with a
 * one-line warning and returns 0: db then reads the new rows, and the
 * caller retries (once). db must hold no transaction then (no statement
 * stepped and not reset). Otherwise, or when the load fails, returns -1
 * with err ("'DB': damaged database (why); load its dump again"). The
 * warnings (the reload's and the load's) go to w (NULL drops them). */
int hsa_db_damaged(sqlite3 *db, const char *why, hsa_warnings *w, char *err, size_t errlen);

/* Where the cached database of the dump at path lives (malloc'ed), or
 * NULL when no cache directory can be made. */
char *hsa_db_cache_path(const char *path);

/* Prepares sql, reporting failure in err. */
sqlite3_stmt *hsa_db_prepare(sqlite3 *db, const char *sql, char *err, size_t errlen);
/* Steps st: 1 on a row, 0 at the end of the rows, -1 with err ("database
 * query failed: <SQLite's message>") when stepping fails: a failure is
 * never taken for the end. */
int hsa_db_step(sqlite3_stmt *st, char *err, size_t errlen);
/* A meta value as integer (dflt when absent) or text (malloc'ed, or NULL). */
int64_t hsa_db_meta_int(sqlite3 *db, const char *key, int64_t dflt);
char *hsa_db_meta_text(sqlite3 *db, const char *key);

/* The heap by type, module or allocation site (hsa_group_by: "type",
 * "module", "site", NULL): per group a query for rows (name, count, size,
 * retained), as 'top' and 'diff' show them. */
extern const char *const hsa_group_by[];
extern const char *const hsa_group_sql[];

/* Resolves an object given as 0xADDR or TYPE[#k] (the k-th largest of the
 * type by retained size, k from 1) to its id. On failure err says why and
 * names the closest addresses or type names. */
int hsa_db_resolve(sqlite3 *db, const char *spec, int64_t *id, char *err, size_t errlen);

/* Sets *addr to the address of object id, 0 if there is none. Returns 0,
 * or -1 on a database error (sqlite3_errmsg(db) says which). */
int hsa_db_addr(sqlite3 *db, int64_t id, uint64_t *addr);
/* A short description of object id for people: "list", "module app.stats",
 * "function f", "str 'abc'"... appended to out. Returns 0, or -1 on a
 * database error (sqlite3_errmsg(db) says which) or out of memory. */
int hsa_db_describe(sqlite3 *db, int64_t id, hsa_str *out);

/* Reads the next reference of an edges.refs array ("[[dst,kind,label],
 * ...]") from *p on, advancing *p. Returns 1 with the fields filled, 0 at
 * the end of the array (also for NULL), -1 on text that is not such an
 * array. */
int hsa_edges_next(const char **p, int64_t *dst, int *kind, int64_t *label);

/* Puts temporary views refs, referrers, refs_v and referrers_v in front of
 * the database's own (same columns, same rows), unfolding the edges rows
 * in C: ten times faster than json_each on a scan. For db's own queries
 * only ('heapsnap sql'): the views live in db's temp schema. Returns 0, or
 * -1 with err. */
int hsa_db_fast_refs(sqlite3 *db, char *err, size_t errlen);

/* Streams column col ("refs" or "referrers") of the edges row of object
 * id, a JSON array of unsigned integers or of arrays of them, group
 * numbers at a time ((dst, kind, label) for refs: 3; src for referrers:
 * 1), in order, through fn, without holding the value: a container's list
 * of millions is read in 64 KiB pieces. fn returns 0 to go on, 1 to stop,
 * -1 to fail (err filled by it, or here with SQLite's message). With
 * max_bytes non-zero, a value longer than that is not read: returns 1.
 * Returns 0 (also for no row or a NULL value), 1, or -1 with err on a
 * database error or a value that is not such an array. */
typedef int (*hsa_edges_fn)(void *ctx, const int64_t *v);
int hsa_edges_each(sqlite3 *db, const char *col, int64_t id, int group, uint64_t max_bytes,
                   hsa_edges_fn fn, void *ctx, char *err, size_t errlen);

/* Rendering query rows: as an aligned table for people (counts with
 * separators, human sizes) or as JSON objects for scripts. */
typedef struct hsa_col {
	const char *name; /* header and JSON key */
	char fmt;         /* 's' text, 'n' count, 'b' bytes, 'x' address, 'v' any value */
} hsa_col;

/* Steps st to the end. With j, emits each row as an object into the
 * current JSON array; else prints a table (a header line, indented).
 * ncols 0 takes the columns from the statement (format 'v'). Returns the
 * row count, or -1 (err filled). */
int64_t hsa_render(sqlite3_stmt *st, const hsa_col *cols, int ncols, hsa_json *j,
                   const char *indent, char *err, size_t errlen);

#endif
