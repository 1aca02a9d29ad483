/*
 * inject.h - 'heapsnap attach': a dump of a running CPython 3.11-3.13
 * process that never imported heapsnap.
 *
 * The target's threads are stopped with ptrace at a moment no thread holds
 * the GIL (or the holder has just let go of it at a bytecode boundary);
 * one of them is made to fork() and everything is resumed: the service
 * pauses for about that fork. The copy, alone with one thread, loads the
 * payload for the target's Python version from a memfd and writes the dump
 * into a pipe this process reads. A copy that fails or hangs is killed and
 * the attach retried; the service never runs the payload.
 */
#ifndef HS_INJECT_H
#define HS_INJECT_H

#include <stdint.h>
#include <sys/types.h>

struct hs_attach_opts {
	double timeout;          /* seconds for the whole attach; 0: 30 */
	int values;              /* enum hs_values (dumper/dump.h): 1 preview,
	                            0 none */
	const char *payload_dir; /* holds heapsnap-attach-3.X.so */
};

struct hs_attach_result {
	uint64_t objects, refs, roots, bytes;
	double pause;            /* longest stop of the target's threads, s */
	double fork;             /* the fork() alone, s */
	double seconds;          /* the whole attach, s */
	int tries;               /* copies made */
	char python[32];         /* the target's version, "3.12.1" */
	char safe_point[32];     /* "gil free" or "gil released" */
};

/* Checks, without stopping it, that pid can be dumped: a CPython with a
 * payload here that this process may trace. Returns 0, or -1 with a
 * one-line message in err (hs_attach's refusals). */
int hs_attach_check(pid_t pid, const char *payload_dir, char *err, size_t errlen);

/* Writes a dump of process pid to out (an empty file the caller owns and
 * makes durable). Returns 0, or -1 with a one-line message in err (the
 * target is then running as before). r may be NULL. */
int hs_attach(pid_t pid, int out, const struct hs_attach_opts *o,
              struct hs_attach_result *r, char *err, size_t errlen);

/* The versions with a payload in dir, e.g. "3.11, 3.12, 3.13", or "none". */
void hs_attach_versions(const char *dir, char *buf, size_t len);

#endif
