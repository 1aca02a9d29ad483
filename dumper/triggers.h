/*
 * triggers.h - dumps of a live service on a signal, an RSS threshold or a
 * timer (heapsnap.install): the watcher thread (triggers.c), the fork()ed
 * dump child (fork.c), file names, rotation and the handler's state file
 * that 'heapsnap trigger' reads (files.c).
 */
#ifndef HSD_TRIGGERS_H
#define HSD_TRIGGERS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "dump.h"

#define HSD_MSG 512

/* What install() asks for; the strings are copied. */
struct hsd_trig_config {
	const char *dir;       /* absolute, without a newline */
	const char *program;   /* the program's name for file names */
	int signum;            /* 0: no signal */
	const char *signame;   /* "SIGUSR1" (log lines), or NULL */
	int fork;              /* dump in a fork()ed child */
	int keep;              /* this process's newest dumps kept; 0: all */
	int values;            /* enum hs_values */
	uint64_t rss_limit;    /* bytes; 0: no threshold */
	double interval;       /* seconds between periodic dumps; 0: none */
};

/* ---- triggers.c: called with the GIL --------------------------------- */

/* Installs the signal handler and starts the watcher thread, replacing an
 * earlier installation. Returns 0, or an errno value with a message. */
int hsd_trig_install(const struct hsd_trig_config *cfg, char *err,
                     size_t errlen);
/* Stops the watcher (releasing the GIL while a dump in progress ends),
 * restores the signal's earlier handler, removes the state file. */
void hsd_trig_uninstall(void);
/* In the child of os.fork(): the watcher thread is gone and its pipe is
 * shared with the parent; gives this process its own (own pid in file
 * names, own state file). Returns 0, or an errno value with a message. */
int hsd_trig_after_fork(char *err, size_t errlen);
/* "heapsnap: <message>\n" on stderr in one write(2); no stdio, no GIL. */
void hsd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- fork.c ------------------------------------------------------------ */

struct hsd_child {
	pid_t pid;
	int report;            /* read end of the child's report pipe */
};

/* With the GIL held (so the child gets a consistent heap): forks a child
 * that writes the dump to path with hs_dump_path() and leaves with
 * _exit(); opts->pid must be this process. The parent should release the
 * GIL at once, then call hsd_fork_wait(). Returns 0 or an errno value
 * with a message. */
int hsd_fork_dump(struct hsd_child *ch, const char *path,
                  const struct hs_dump_opts *opts, int signum, char *err,
                  size_t errlen);
/* Without the GIL: reaps the child and reads its report. A child killed
 * by a signal or gone without a report gets its temporary file removed.
 * Returns 0 (res filled), or -1 with a message telling an exit code from
 * a signal. */
int hsd_fork_wait(struct hsd_child *ch, const char *path,
                  struct hs_dump_result *res, char *err, size_t errlen);

/* ---- files.c ----------------------------------------------------------- */

/* "<program>-<host>-<pid>-": the start of this process's dump names; the
 * program and host reduced to [A-Za-z0-9._] (others become '_'). */
void hsd_name_prefix(char *buf, size_t len, const char *program, pid_t pid);
/* "<dir>/<prefix><UTC YYYYmmddTHHMMSSZ>-<seq>.hsnap"; -1 if too long. */
int hsd_name_dump(char *buf, size_t len, const char *dir, const char *prefix,
                  time_t when, unsigned seq);
/* The dumps this process wrote since install(), oldest first: keep=N
 * removes only these, never the files of an earlier process with the same
 * name prefix (a restarted container's service is PID 1 again). */
struct hsd_kept {
	char **paths;
	int n;
};
/* Adds path (keep > 0) and removes the oldest beyond keep. Returns 0, or
 * -1 with a message. */
int hsd_keep(struct hsd_kept *k, const char *path, int keep, char *err,
             size_t errlen);
/* Forgets the paths, removing no file. */
void hsd_kept_free(struct hsd_kept *k);

/* The state file, /tmp/heapsnap-<euid>/<pid>, which tells 'heapsnap
 * trigger' (analyzer/cmd/cmd_trigger.c) that a handler is installed and how
 * the last dump went; a contract documented in format/FORMAT.md ("The
 * handler's state file"): a change there is a change here. Lines of "key value", replaced atomically, and
 * write-locked (fcntl F_SETLK) while the process lives, so a file left by
 * a killed process (whose pid may be reused) is not locked:
 *
 *   heapsnap-handler 1
 *   pid 1234
 *   signal 10                   0: none
 *   last ok <ns> <path>         or "last error <ns> <message>", absent
 *                               before the first dump; <ns>: CLOCK_REALTIME
 *                               when the dump began, in nanoseconds
 *   dir <path>                  the last line
 */
#define HSD_STATE_DIR "/tmp/heapsnap-%u"
struct hsd_state {
	char path[PATH_MAX];   /* "": none written */
	int fd;                /* the current file, holding the lock */
	int signum;
	const char *dir;
};
/* Creates the state directory (0700, ours) and writes the file without a
 * last line. Returns 0, or -1 with a message. */
int hsd_state_init(struct hsd_state *st, int signum, const char *dir,
                   char *err, size_t errlen);
/* Rewrites the file with the last dump's outcome (ok: what is the path,
 * else the message). Returns 0, or -1 with a message. */
int hsd_state_last(struct hsd_state *st, int ok, long long began_ns,
                   const char *what, char *err, size_t errlen);
void hsd_state_remove(struct hsd_state *st);

#endif
