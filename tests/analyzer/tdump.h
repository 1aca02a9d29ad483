/* tdump.h - writing small dumps of known structure for the analyzer tests,
 * and running the heapsnap binary on them. */
#ifndef TDUMP_H
#define TDUMP_H

#include <stddef.h>
#include <stdint.h>

#include "hsnap.h"

typedef struct tdump tdump;

/* A fresh path under the test's temporary directory: DIR/name. */
char *td_path(const char *name);
tdump *td_open(const char *path);
uint64_t td_str(tdump *t, const char *s);
/* The id of the type named name (created on first use). */
uint64_t td_type(tdump *t, const char *name);
void td_obj(tdump *t, uint64_t addr, const char *type, uint64_t size);
void td_object(tdump *t, const hs_object *o);
void td_refs(tdump *t, uint64_t src, const hs_edge *e, size_t n);
/* One reference with a string label (0 label for label NULL). */
void td_ref(tdump *t, uint64_t src, uint64_t dst, unsigned kind, const char *label);
void td_root(tdump *t, uint64_t addr, unsigned kind, const char *name, uint64_t extra);
hs_writer *td_writer(tdump *t);
void td_close(tdump *t);

/* Runs "heapsnap ARGS" through the shell; returns its exit status and, if
 * out is not NULL, its standard output (malloc'ed). */
int td_run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same for any shell command. */
int td_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The contents of a file (malloc'ed, NUL-terminated); fails the test when
 * it cannot be read. */
char *td_read(const char *path);
/* 1 if text is valid JSON (checked by Python's json module). */
int td_json_ok(const char *text);

#endif
