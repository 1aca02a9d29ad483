/*
 * fork.c - a dump taken by a fork()ed child, as Redis saves in the
 * background: the service pauses only for fork(); the child walks its
 * copy-on-write view of the heap (the walk writes no object, so few pages
 * get copied), writes the file atomically with hs_dump_path(), reports
 * through a pipe and leaves with _exit(): no Python code, atexit handler
 * or stdio flush runs there. The parent reaps it without the GIL.
 */
#include "triggers.h"

#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the child tells the parent: one write, atomic below PIPE_BUF. */
struct report {
	int code;
	struct hs_dump_result res;
	char msg[HSD_MSG];
};
_Static_assert(sizeof(struct report) <= PIPE_BUF, "the report is one write");

static _Noreturn void child(int report, const char *path,
                            const struct hs_dump_opts *opts, int signum)
{
	/* The kernel's default signal actions, so a terminal's ^C or a
	 * SIGTERM to the group ends the child; a repeated trigger signal and
	 * a file size limit (EFBIG, a clear message) must not. */
	report = hsd_leave_service(report, signum);

	struct report rep;
	memset(&rep, 0, sizeof(rep));
	rep.code = hs_dump_path(path, opts, &rep.res, rep.msg, sizeof(rep.msg));
	ssize_t n = write(report, &rep, sizeof(rep));
	(void)n;
	_exit(rep.code > 0 && rep.code < 256 ? rep.code : rep.code ? EIO : 0);
}

int hsd_fork_dump(struct hsd_child *ch, const char *path,
                  const struct hs_dump_opts *opts, int signum, char *err,
                  size_t errlen)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		int code = errno;
		snprintf(err, errlen, "cannot make a pipe: %s", strerror(code));
		return code;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		child(p[1], path, opts, signum);
	}
	int code = pid < 0 ? errno : 0;
	close(p[1]);
	if (code) {
		close(p[0]);
		snprintf(err, errlen, "cannot fork: %s", strerror(code));
		return code;
	}
	ch->pid = pid;
	ch->report = p[0];
	return 0;
}

/* Removes the temporary file hs_dump_path() of process pid writes before
 * renaming it to path (".<name>.tmp.<pid>" beside it, dump.h). Returns 1
 * if there was one. */
static int remove_temp(const char *path, pid_t pid, char *tmp, size_t len)
{
	char *d = strdup(path), *b = strdup(path);
	int removed = 0;
	if (d && b) {
		snprintf(tmp, len, "%s/.%s.tmp.%ld", dirname(d), basename(b), (long)pid);
		removed = unlink(tmp) == 0;
	}
	free(d);
	free(b);
	return removed;
}

int hsd_fork_wait(struct hsd_child *ch, const char *path,
                  struct hs_dump_result *res, char *err, size_t errlen)
{
	struct report rep;
	size_t got = 0;
	while (got < sizeof(rep)) {
		ssize_t n = read(ch->report, (char *)&rep + got, sizeof(rep) - got);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0 || errno != EINTR)
			break;
	}
	close(ch->report);
	ch->report = -1;
	int status = 0;
	pid_t w;
	while ((w = waitpid(ch->pid, &status, 0)) < 0 && errno == EINTR)
		;
	int killed = w == ch->pid && WIFSIGNALED(status);
	if (got == sizeof(rep) && !killed) {
		if (!rep.code) {
			*res = rep.res;
			return 0;
		}
		rep.msg[sizeof(rep.msg) - 1] = '\0';
		snprintf(err, errlen, "%s (child exit %d)", rep.msg,
		         w == ch->pid ? WEXITSTATUS(status) : rep.code);
		return -1;
	}
	/* killed, or reaped by someone else (a waitpid(-1) of the service or
	 * SIGCHLD ignored): its temporary file is ours to remove */
	char tmp[PATH_MAX + 64], what[96];
	int removed = remove_temp(path, ch->pid, tmp, sizeof(tmp));
	if (killed)
		snprintf(what, sizeof(what), "child %ld killed by signal %d (%s)",
		         (long)ch->pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (w == ch->pid)
		snprintf(what, sizeof(what), "child %ld exited with status %d without a report",
		         (long)ch->pid, WEXITSTATUS(status));
	else
		snprintf(what, sizeof(what), "child %ld ended without a report (reaped elsewhere)",
		         (long)ch->pid);
	if (removed)
		snprintf(err, errlen, "%s; removed '%s'", what, tmp);
	else
		snprintf(err, errlen, "%s", what);
	return -1;
}
