/*
 * util.h - what the analyzer's layers share for output: messages
 * (message.c), strings and human sizes (text.c), aligned tables
 * (table.c), JSON (json.c), progress (progress.c). Option parsing is in
 * cmd/args.h.
 */
#ifndef HSA_UTIL_H
#define HSA_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- messages ---------------------------------------------------------- */

/* "heapsnap: <message>" on stderr, its control characters escaped (a
 * message may quote a name from a dump). */
void hsa_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hsa_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Warnings that library code (db/, model/) returns to its caller instead
 * of printing: the caller owns the list, passes it down (NULL drops the
 * warnings) and prints it with hsa_warnings_print once the call returns,
 * before any error of that call. Order is the order of adding. */
typedef struct hsa_warnings {
	char **msg; /* [n] malloc'ed, without the "warning: " prefix */
	size_t n, cap;
} hsa_warnings;
/* Appends a warning to w; a NULL w drops it, and so does running out of
 * memory (a lost warning is not worth failing the work for). */
void hsa_warnings_add(hsa_warnings *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Moves src's warnings to the end of dst (a NULL dst drops them); src is
 * left empty. */
void hsa_warnings_move(hsa_warnings *dst, hsa_warnings *src);
/* Prints each warning with hsa_warn, then empties w (NULL: nothing). */
void hsa_warnings_print(hsa_warnings *w);
/* Frees the warnings without printing them; w may be NULL. */
void hsa_warnings_free(hsa_warnings *w);

/* ---- formatting -------------------------------------------------------- */

/* "0 B", "512 B", "1.5 KiB", "12.0 MiB"; buf of at least 16 bytes. */
const char *hsa_human_size(uint64_t n, char *buf);
/* Parses a size: bytes, or with a K/KiB, M/MiB, G/GiB suffix (powers of
 * 1024), into *out. Returns 0, or -1 (*out untouched) when s is not one. */
int hsa_parse_size(const char *s, uint64_t *out);
/* 1234567 -> "1,234,567"; buf of at least 32 bytes. */
const char *hsa_human_count(uint64_t n, char *buf);
/* The last component of a path ("app.py" of "/srv/app.py"): a pointer
 * into file. */
const char *hsa_file_base(const char *file);
/* Whether a source file is Python's own: "<frozen ...>", or under a
 * lib/pythonX.Y directory but not in its site-packages. */
int hsa_file_stdlib(const char *file);
/* Seconds since an arbitrary start, monotonic. */
double hsa_now(void);
/* Whether n bytes at s are valid UTF-8. */
int hsa_utf8_valid(const void *s, size_t n);
/* The length of the valid UTF-8 sequence at s (n > 0 bytes there), or 0. */
size_t hsa_utf8_seq(const void *s, size_t n);
/* Appends to a growable NUL-terminated string; returns -1 on no memory. */
typedef struct hsa_str {
	char *s;
	size_t len, cap;
} hsa_str;
int hsa_str_printf(hsa_str *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hsa_str_add(hsa_str *b, const char *s, size_t len);
/* Room for extra more bytes and the NUL; returns -1 on no memory. */
int hsa_str_reserve(hsa_str *b, size_t extra);
void hsa_str_free(hsa_str *b);
/* Frees n malloc'ed strings and their array s (NULL entries and s allowed). */
void hsa_strs_free(char **s, size_t n);
/* Appends s as a printable, quoted Python-style repr fragment: non-
 * printable bytes become \xNN, quotes and backslashes are escaped. */
int hsa_str_repr(hsa_str *b, const char *s, size_t len, size_t max);
/* Appends s as text for people: invalid UTF-8 bytes as U+FFFD, control
 * characters (C0, DEL and C1) as \xNN, at most max characters (then "…").
 * With esc, an ASCII character c with esc[c] set is written as esc[c]
 * (markup escaping; the backslash of \xNN included). */
int hsa_str_text(hsa_str *b, const char *s, size_t len, size_t max,
                 const char *const esc[128]);
/* s (NUL-terminated, may be NULL) as text for a terminal, through
 * hsa_str_text, so that a name from a dump cannot retitle the window,
 * move the cursor or clear the screen. buf is emptied first and keeps the
 * text; returns buf's string, or "" for NULL or when out of memory. */
const char *hsa_tty(hsa_str *buf, const char *s);

/* ---- aligned tables ---------------------------------------------------- */

typedef struct hsa_table hsa_table;
/* align: one char per column, 'l' or 'r' (left when missing). Returns
 * NULL for ncols < 1 or when out of memory. */
hsa_table *hsa_table_new(int ncols, const char *const *headers, const char *align);
/* Starts a new row; cells are then added left to right. A cell is shown as
 * text (hsa_str_text): control characters in it as \xNN. */
int hsa_table_row(hsa_table *t);
int hsa_table_cell(hsa_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hsa_table_print(const hsa_table *t, FILE *f, const char *indent);
void hsa_table_free(hsa_table *t);

/* ---- JSON -------------------------------------------------------------- */

/* A streaming JSON writer: keys are given with each value inside objects
 * and NULL inside arrays. Strings are emitted as valid UTF-8, invalid
 * bytes replaced by U+FFFD, control characters (C1 included) as \uNNNN. */
typedef struct hsa_json {
	FILE *f;
	int depth;
	unsigned char count[64]; /* 0: nothing written yet at this depth */
} hsa_json;
void hsa_json_init(hsa_json *j, FILE *f);
void hsa_json_open(hsa_json *j, const char *key);  /* { */
void hsa_json_close(hsa_json *j);                  /* } */
void hsa_json_array(hsa_json *j, const char *key); /* [ */
void hsa_json_end(hsa_json *j);                    /* ] */
void hsa_json_str(hsa_json *j, const char *key, const char *s);
void hsa_json_strn(hsa_json *j, const char *key, const char *s, size_t len);
void hsa_json_uint(hsa_json *j, const char *key, uint64_t v);
void hsa_json_int(hsa_json *j, const char *key, int64_t v);
void hsa_json_f64(hsa_json *j, const char *key, double v);
void hsa_json_bool(hsa_json *j, const char *key, int v);
void hsa_json_null(hsa_json *j, const char *key);
/* Ends the document with a newline. */
void hsa_json_finish(hsa_json *j);
/* Ends a document of the usual shape {..., "rows": [...]}: the array, the
 * object, the output. */
void hsa_json_end_document(hsa_json *j);

/* ---- progress ---------------------------------------------------------- */

/* A progress bar on stderr, shown only when stderr is a terminal and the
 * work has run for more than a second; total 0 shows the time only. */
typedef struct hsa_progress {
	const char *what;
	uint64_t total;
	double start, last;
	int tty, shown;
} hsa_progress;
void hsa_progress_start(hsa_progress *p, const char *what, uint64_t total);
void hsa_progress_update(hsa_progress *p, uint64_t done);
void hsa_progress_end(hsa_progress *p);
/* One line on stderr, only when it is a terminal: what a long step that
 * shows no bar is about to do ("loading 'DUMP' into 'DB'"). */
void hsa_progress_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
