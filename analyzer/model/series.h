/*
 * series.h - the dumps given to 'leaks', 'diff' and 'report' as series of
 * one process each: directories expanded to their dumps, every dump
 * placed by its dump time (metadata `time`) and credited to its process.
 *
 * A process is its pid and its start (process.start_ticks after the boot
 * process.boot_id names, format/FORMAT.md): a pid the kernel reused is
 * another process. Dumps written before those keys fall back on pid and
 * host; dumps without a pid (crafted ones) are one unknown process.
 */
#ifndef HSA_SERIES_H
#define HSA_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "args.h"

typedef struct hsa_dump_id {
	char *path;      /* as given, or DIR/NAME for a directory's dump */
	int arg;         /* its place among the arguments: the order of dumps
	                    of the same time */
	double time;     /* dump time, Unix seconds; 0 when unknown */
	int64_t pid;     /* 0 when unknown */
	double start;    /* the process's start, Unix seconds; 0 when unknown */
	char *key;       /* the process identity */
	char *host, *argv, *exe; /* NULL when missing */
} hsa_dump_id;

typedef struct hsa_proc {
	const hsa_dump_id *first; /* its oldest dump: pid, start, host, argv */
	int n;
	int *dump;       /* indexes into hsa_series.dumps, oldest first */
} hsa_proc;

typedef struct hsa_series {
	hsa_dump_id *dumps; /* every dump kept, oldest first */
	int n;
	hsa_proc *procs;    /* by their oldest dump */
	int nprocs;
} hsa_series;

/* Which dumps to keep: of one pid, taken at or after a time. */
typedef struct hsa_series_filter {
	int64_t pid;      /* 0: every process */
	double since;     /* Unix seconds; 0: every dump */
	const char *since_arg; /* as given, for messages */
} hsa_series_filter;

/* Reads the metadata of each argument (a dump, a database as hsa_db_open
 * takes it, or a directory: its *.hsnap files) without loading the dumps,
 * keeps those f (may be NULL) selects and groups them by process. A dump
 * without a dump time is left out by a time filter, with a warning (in
 * w, with the load warnings of dumps opened; NULL drops them). Returns 0 with *out (free with hsa_series_free; at least one dump), or
 * -1 with err ("'DIR': no dumps in it", "no dump of pid 42 among 7", a
 * dump's own error). */
int hsa_series_read(char *const *args, int nargs, const hsa_series_filter *f,
                    hsa_series **out, hsa_warnings *w, char *err, size_t errlen);
void hsa_series_free(hsa_series *s);

/* The dumps' paths in series order: p->dump mapped to paths (an array of
 * p->n, malloc'ed; NULL when out of memory). */
char **hsa_proc_paths(const hsa_series *s, const hsa_proc *p);

/* At most max dumps of p spread over its whole time (the first and the
 * last always), as indexes into p->dump in idx; returns how many. */
int hsa_proc_pick(const hsa_proc *p, int max, int *idx);

/* The process for people: "pid 4033 started 2024-12-06T03:40:00Z,
 * ["app.py", "--port", "8080"]" (pid "?" when unknown; the executable
 * when argv is missing). Appended to out; -1 when out of memory. */
int hsa_proc_title(const hsa_proc *p, hsa_str *out);

/* "2024-12-06T03:46:26Z" for Unix seconds t in buf (at least 24 bytes);
 * "?" for 0. */
const char *hsa_utc(double t, char *buf);

/* A --pid value (a positive number) and a --since value: ISO 8601
 * ("2024-12-06T03:46", "2024-12-06T03:46:26Z", "...+02:00", "2024-12-06";
 * no zone is local time) or a time before now ("90s", "10m", "2h", "1d").
 * Return 0 or -1 (not such a value). */
int hsa_parse_pid(const char *s, int64_t *out);
int hsa_parse_since(const char *s, double now, double *out);

/* Fills f from the --pid and --since options of cmd (both may be
 * absent). Returns 0, or -1 after printing the usage error. */
int hsa_series_options(const hsa_cmd *cmd, const hsa_args *a, hsa_series_filter *f);

#endif
