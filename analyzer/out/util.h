/*
 * util.h - shared helpers of the heapsnap command-line tool: option
 * parsing, messages, aligned tables, JSON output, human sizes, progress.
 */
#ifndef HSA_UTIL_H
#define HSA_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HSA_EXIT_FAIL 1
#define HSA_EXIT_USAGE 2
#define HSA_MAX_OPTS 16

/* ---- commands and options --------------------------------------------- */

typedef struct hsa_opt {
	const char *name;  /* long name without the dashes: "json" */
	char short_name;   /* 'n', or 0 */
	const char *arg;   /* metavariable if the option takes a value, else NULL */
	const char *help;
} hsa_opt;

typedef struct hsa_cmd {
	const char *name;
	const char *summary;  /* one line for 'heapsnap --help' */
	const char *usage;    /* arguments after the command name */
	const char *details;  /* paragraph for 'heapsnap CMD --help', or NULL */
	int min_pos, max_pos; /* positional arguments allowed */
	const hsa_opt *opts;  /* terminated by an entry with name NULL */
	int (*run)(const struct hsa_cmd *cmd, int argc, char **argv);
} hsa_cmd;

typedef struct hsa_args {
	const char *val[HSA_MAX_OPTS]; /* per option: its value, "" for a set flag, NULL */
	char **pos;
	int npos;
} hsa_args;

/* Parses argv (argv[0] is the command name). Returns 0, HSA_EXIT_USAGE
 * after printing a one-line error, or -1 after printing the help (the
 * caller exits 0). Options and positionals may be interleaved; "--" ends
 * the options. */
int hsa_parse_args(const hsa_cmd *cmd, int argc, char **argv, hsa_args *a);
/* The value of option NAME, or NULL when absent. */
const char *hsa_arg(const hsa_cmd *cmd, const hsa_args *a, const char *name);
/* Parses a positive count option; prints the usage error and returns -1. */
int hsa_arg_count(const hsa_cmd *cmd, const hsa_args *a, const char *name,
                  uint64_t dflt, uint64_t *out);
/* Parses a size: bytes, or with a K/KiB, M/MiB, G/GiB suffix (powers of
 * 1024), into *out. Returns 0, or -1 (*out untouched) when s is not one. */
int hsa_parse_size(const char *s, uint64_t *out);
/* Parses a size option: bytes, or with a K/KiB, M/MiB, G/GiB suffix
 * (powers of 1024); prints the usage error and returns -1. */
int hsa_arg_size(const hsa_cmd *cmd, const hsa_args *a, const char *name, uint64_t dflt,
                 uint64_t *out);
/* Parses a positional process id; prints the usage error and returns -1. */
int hsa_arg_pid(const hsa_cmd *cmd, const char *arg, long *pid);
/* Checks an option's value against a list ("type", "module", NULL);
 * returns its position, or -1 after printing the usage error. */
int hsa_arg_choice(const hsa_cmd *cmd, const hsa_args *a, const char *name,
                   const char *const *choices);
void hsa_usage_error(const hsa_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void hsa_print_help(const hsa_cmd *cmd, FILE *f);

/* "heapsnap: <message>" on stderr, its control characters escaped (a
 * message may quote a name from a dump). */
void hsa_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hsa_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- formatting -------------------------------------------------------- */

/* "0 B", "512 B", "1.5 KiB", "12.0 MiB"; buf of at least 16 bytes. */
const char *hsa_human_size(uint64_t n, char *buf);
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

#endif
