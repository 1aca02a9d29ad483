/*
 * load.h - a whole .hsnap read into memory for the dumper tests, and the
 * helpers that run the Python side of a test.
 */
#ifndef TEST_LOAD_H
#define TEST_LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hsnap.h"

struct t_edge {
	uint64_t src, dst;
	uint32_t kind;
	uint64_t label;
	size_t seq;            /* position in the file */
};

struct t_obj {
	uint64_t addr, type, size, refcnt, len, name, trace;
	uint32_t flags;
	const char *value;     /* value_len bytes, not NUL-terminated */
	size_t value_len;
	size_t edge0, nedges;  /* into t_dump.edges (sorted by src) */
};

struct t_dump {
	hs_reader *r;
	char **strs;           /* index = string id */
	size_t nstrs;
	struct t_obj *objs;
	size_t nobjs;
	size_t dups;           /* object records whose address came before */
	struct t_edge *edges;
	size_t nedges;
	hs_type *types;        /* index = id - 1 */
	size_t ntypes;
	hs_root *roots;
	size_t nroots;
	hs_thread *threads;
	size_t nthreads;
	hs_task *tasks;        /* chain points into chains */
	size_t ntasks;
	hs_await *chains;
	size_t nchains;
	hs_frame *frames;      /* index = id - 1 */
	size_t nframes;
	uint64_t *tbframes;    /* traceback frame ids, back to back */
	size_t ntbframes;
	struct { uint64_t total, n, first; } *tbs; /* index = id - 1 */
	size_t ntbs;
	hs_site *sites;
	size_t nsites;
	struct { char *key; char *str; uint64_t u; } *meta;
	size_t nmeta;
	int complete;
	size_t *index;         /* open addressing: addr -> objs index + 1 */
	size_t cap;
};

/* Reads the dump; returns 0, or -1 with a message in err. */
int t_load(struct t_dump *d, const char *path, char *err, size_t errlen);
void t_free(struct t_dump *d);
struct t_obj *t_find(const struct t_dump *d, uint64_t addr);
/* A string by id as a NUL-terminated copy owned by d ("" for 0). */
const char *t_str(const struct t_dump *d, uint64_t id);
const char *t_type_name(const struct t_dump *d, const struct t_obj *o);
/* The last value of a string/uint metadata key, or NULL / 0. */
const char *t_meta_str(const struct t_dump *d, const char *key);
uint64_t t_meta_uint(const struct t_dump *d, const char *key);

/* A fresh directory for one test; removed by t_rmdir. */
char *t_mkdir(void);
void t_rmdir(char *dir);
/* Starts argv (NULL-ended; argv[0] a path) with stdout and stderr to log
 * and the built package on PYTHONPATH; setup(arg), if not NULL, runs in
 * the child just before exec. Returns the pid, or -1. */
pid_t t_spawn(const char *log, char *const argv[], void (*setup)(void *),
              void *arg);
/* Runs python3 tests/dumper/<script> with the arguments (NULL-ended);
 * stdout and stderr go to <dir>/<script>.log. Returns the exit status. */
int t_python(const char *dir, const char *script, ...);
/* The whole of a text file, NUL-terminated (malloc'ed), or NULL. */
char *t_slurp(const char *path, size_t *len);

#endif
