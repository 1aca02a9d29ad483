/* cmd_trigger.c - 'heapsnap trigger': signal a process that runs
 * heapsnap.install() and wait for its new dump to be complete.
 *
 * The handler's state file, /tmp/heapsnap-<euid>/<pid> (dumper/triggers.h),
 * names the signal, the dump directory and the outcome of the last dump
 * with the time it began; the process holds a write lock on it, so a file
 * left by a killed process is told from a live handler. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "hsnap.h"
#include "util.h"

#define DEFAULT_WAIT 30.0
#define POLL_US 50000

typedef struct handler {
	char *text;        /* the state file; the fields below point into it */
	int signum;
	const char *dir;
	int have_last, last_ok;
	long long last_ns; /* CLOCK_REALTIME when the last dump began */
	const char *last;  /* its path, or why it failed */
} handler;

/* The effective uid of pid (the state directory's owner), or -1. */
static long euid_of(long pid)
{
	char path[64], line[256];
	long uid = -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid: %*d %ld", &uid) == 1)
			break;
	if (f)
		fclose(f);
	return uid;
}

/* Reads pid's state file into h. Returns 0, or -1 when there is none, it
 * is not held by pid (left by an earlier process) or cannot be read. */
static int read_handler(long pid, handler *h)
{
	char path[96];
	int rc = -1;
	memset(h, 0, sizeof(*h));
	long uid = euid_of(pid);
	if (uid < 0)
		return -1;
	snprintf(path, sizeof(path), "/tmp/heapsnap-%ld/%ld", uid, pid);
	int fd = -1, held = 0;
	/* the process replaces the file after each dump and lets go of the old
	 * one's lock: an unlocked file that is no longer at path was replaced */
	for (int tries = 0; tries < 3 && !held; tries++) {
		struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		struct stat opened, now;
		if (fd >= 0)
			close(fd);
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fcntl(fd, F_GETLK, &lk) < 0)
			goto done;
		held = lk.l_type != F_UNLCK && lk.l_pid == pid;
		if (!held && (fstat(fd, &opened) < 0 || stat(path, &now) < 0 ||
		              opened.st_ino == now.st_ino))
			goto done;
	}
	if (!held)
		goto done;
	size_t cap = 1 << 16, n = 0;
	ssize_t k;
	if (!(h->text = malloc(cap)))
		goto done;
	while (n + 1 < cap && (k = read(fd, h->text + n, cap - n - 1)) > 0)
		n += (size_t)k;
	h->text[n] = '\0';
	if (strncmp(h->text, "heapsnap-handler 1\n", 19))
		goto done;
	char *save = NULL;
	for (char *l = strtok_r(h->text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(l, ' ');
		if (!sp)
			continue;
		*sp++ = '\0';
		if (!strcmp(l, "signal")) {
			h->signum = atoi(sp);
		} else if (!strcmp(l, "dir")) {
			h->dir = sp;
		} else if (!strcmp(l, "last")) {
			int off = 0;
			char outcome[8];
			if (sscanf(sp, "%7s %lld %n", outcome, &h->last_ns, &off) == 2 && off) {
				h->have_last = 1;
				h->last_ok = !strcmp(outcome, "ok");
				h->last = sp + off;
			}
		}
	}
	rc = h->dir ? 0 : -1;
done:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Whether the file at path is a complete dump: every section's checksum
 * and the trailer (no record is decoded). Fills err when not. */
static int complete(const char *path, char *err, size_t errlen)
{
	hs_reader *r = hs_reader_open(path, err, errlen);
	if (!r)
		return 0;
	hs_section sec;
	while (hs_reader_next_section(r, &sec) != 0)
		;
	int ok = hs_reader_complete(r) && !hs_reader_problems(r);
	if (!ok)
		snprintf(err, errlen, "'%s': %s", path,
		         hs_reader_error(r) ? hs_reader_error(r) : "incomplete dump");
	hs_reader_free(r);
	return ok;
}

static long long realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Waits for a dump that began after sent_ns; prints its path. */
static int wait_dump(long pid, long long sent_ns, double seconds)
{
	double deadline = hsa_now() + seconds;
	char err[1024];
	handler h = { 0 };
	for (;;) {
		free(h.text);
		int alive = kill((pid_t)pid, 0) == 0 || errno == EPERM;
		if (read_handler(pid, &h) < 0) {
			free(h.text);
			if (!alive)
				hsa_error("process %ld exited before its dump was complete", pid);
			else
				hsa_error("process %ld removed its heapsnap handler", pid);
			return HSA_EXIT_FAIL;
		}
		if (h.have_last && h.last_ns >= sent_ns)
			break;
		if (hsa_now() >= deadline) {
			free(h.text);
			hsa_error("no new dump from process %ld within %g s", pid, seconds);
			return HSA_EXIT_FAIL;
		}
		usleep(POLL_US);
	}
	int rc = HSA_EXIT_FAIL;
	if (!h.last_ok)
		hsa_error("process %ld failed to dump: %s", pid, h.last);
	else if (!complete(h.last, err, sizeof(err)))
		hsa_error("%s", err);
	else
		rc = printf("%s\n", h.last) < 0 ? HSA_EXIT_FAIL : 0;
	free(h.text);
	return rc;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	handler h = { 0 };
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_USAGE;
	char *end;
	long pid = strtol(a.pos[0], &end, 10);
	if (*end || end == a.pos[0] || pid <= 0) {
		hsa_usage_error(cmd, "PID must be a process id, not '%s'", a.pos[0]);
		goto done;
	}
	int wait = hsa_arg(cmd, &a, "wait") != NULL;
	double seconds = DEFAULT_WAIT;
	if (a.npos > 1) {
		seconds = strtod(a.pos[1], &end);
		if (!wait || *end || end == a.pos[1] || !(seconds > 0)) {
			hsa_usage_error(cmd, "unexpected argument '%s' (usage: heapsnap %s %s)",
			                a.pos[1], cmd->name, cmd->usage);
			goto done;
		}
	}
	rc = HSA_EXIT_FAIL;
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
		hsa_error("no process %ld", pid);
		goto done;
	}
	if (read_handler(pid, &h) < 0) {
		hsa_error("process %ld has no heapsnap handler installed", pid);
		goto done;
	}
	if (!h.signum) {
		hsa_error("process %ld takes dumps on no signal (installed with signal=None)", pid);
		goto done;
	}
	long long sent = realtime_ns();
	if (kill((pid_t)pid, h.signum) < 0) {
		hsa_error("cannot signal process %ld: %s", pid, strerror(errno));
		goto done;
	}
	if (wait) {
		rc = wait_dump(pid, sent, seconds);
	} else {
		printf("sent signal %d (%s) to process %ld; its dumps go to '%s'\n", h.signum,
		       strsignal(h.signum), pid, h.dir);
		rc = 0;
	}
done:
	free(h.text);
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{ "wait", 'w', NULL, "wait for the dump to be complete (at most SECONDS, default 30)" },
	{ NULL, 0, NULL, NULL },
};

const hsa_cmd hsa_cmd_trigger = {
	.name = "trigger",
	.summary = "ask a running process for a dump (heapsnap.install)",
	.usage = "PID [--wait [SECONDS]]",
	.details = "Sends the dump signal to a process that runs heapsnap.install() (or\n"
	           "'python -m heapsnap run', or HEAPSNAP in its environment). With --wait,\n"
	           "waits until the new dump is complete and prints its path; fails if the\n"
	           "process is gone, its dump failed or none appears in time.",
	.min_pos = 1,
	.max_pos = 2,
	.opts = opts,
	.run = run,
};
