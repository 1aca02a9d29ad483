/* cmd_trigger.c - 'heapsnap trigger': signal a process that runs
 * heapsnap.install() and wait for its new dump to be complete.
 *
 * The handler's state file, /tmp/heapsnap-<euid>/<pid> (format/FORMAT.md,
 * "The handler's state file"), names the signal, the dump directory and
 * the outcome of the last dump with the time it began; the process holds a
 * write lock on it, so a file left by a killed process is told from a live
 * handler. A process in a container names it in its own namespaces' terms
 * (its /tmp, its pid, its euid); it is found from here through
 * /proc/PID/root, and so are the dumps it names.
 *
 * A prefork master's workers forked after install() keep a handler of
 * their own (their own state file and files): 'trigger MASTER' signals
 * them too, each child of the master that has one. */
#include <dirent.h>
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
#include "args.h"

#define DEFAULT_WAIT 30.0
#define POLL_US 50000
#define STATE_VERSION 1
#define MAX_ASKED 256    /* a master and its workers */

/* The process as its own namespaces see it. */
typedef struct target {
	long pid;          /* here */
	long nspid;        /* in its pid namespace: the state file's name */
	long euid;         /* in its user namespace: the state directory's; -1 */
	char root[48];     /* "/proc/PID/root" in another mount namespace, else
	                      "": the prefix of every path it names */
} target;

typedef struct handler {
	char *text;        /* the state file; the fields below point into it */
	int signum;
	const char *dir;
	int have_last, last_ok;
	long long last_ns; /* CLOCK_REALTIME when the last dump began */
	const char *last;  /* its path, or why it failed */
	unsigned version;  /* of the file's format */
} handler;

/* uid as pid's user namespace sees it (/proc/PID/uid_map maps it to ours:
 * "inside outside count" lines); unchanged when unmapped or unreadable. */
static long uid_inside(long pid, long uid)
{
	char path[64];
	unsigned long in, out, n;
	long mapped = uid;
	snprintf(path, sizeof(path), "/proc/%ld/uid_map", pid);
	FILE *f = fopen(path, "re");
	while (f && fscanf(f, "%lu %lu %lu", &in, &out, &n) == 3) {
		if ((unsigned long)uid >= out && (unsigned long)uid - out < n) {
			mapped = (long)(in + ((unsigned long)uid - out));
			break;
		}
	}
	if (f)
		fclose(f);
	return mapped;
}

/* Fills t for process pid from /proc: its effective uid ("Uid:" real,
 * effective ...) and its pid in the innermost pid namespace (the last of
 * "NSpid:"), and whether its mount namespace is ours. */
static void target_of(long pid, target *t)
{
	char path[64], line[256], ours[64], theirs[64];
	long uid = -1;
	t->pid = t->nspid = pid;
	t->root[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Uid: %*d %ld", &uid) == 1 || strncmp(line, "NSpid:", 6))
			continue;
		char *save = NULL;
		for (char *tok = strtok_r(line + 6, " \t\n", &save); tok;
		     tok = strtok_r(NULL, " \t\n", &save))
			t->nspid = strtol(tok, NULL, 10);
	}
	if (f)
		fclose(f);
	t->euid = uid < 0 ? -1 : uid_inside(pid, uid);
	snprintf(path, sizeof(path), "/proc/%ld/ns/mnt", pid);
	ssize_t a = readlink("/proc/self/ns/mnt", ours, sizeof(ours));
	ssize_t b = readlink(path, theirs, sizeof(theirs));
	if (a > 0 && b > 0 && (a != b || memcmp(ours, theirs, (size_t)a)))
		snprintf(t->root, sizeof(t->root), "/proc/%ld/root", pid);
}

/* Reads t's state file into h. Returns 0; -1 when there is none, it is not
 * held by the process (left by an earlier one) or cannot be read; -2 when
 * it has a format version this reader does not know (h->version). */
static int read_handler(const target *t, handler *h)
{
	char path[128];
	int rc = -1;
	memset(h, 0, sizeof(*h));
	if (t->euid < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/tmp/heapsnap-%ld/%ld", t->root, t->euid, t->nspid);
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
		/* the kernel gives l_pid as our pid namespace sees it */
		held = lk.l_type != F_UNLCK && lk.l_pid == t->pid;
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
	int end = 0;
	if (sscanf(h->text, "heapsnap-handler %u%n", &h->version, &end) != 1 ||
	    h->text[end] != '\n')
		goto done;
	if (h->version != STATE_VERSION) {
		rc = -2;
		goto done;
	}
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

/* A process asked for a dump. */
typedef struct asked {
	target t;
	handler h;
	char *file;        /* the new dump as seen from here, or NULL */
} asked;

/* The processes whose parent is pid (the fourth field of /proc/N/stat,
 * after the command's closing parenthesis), at most max, in pid order.
 * Returns how many. */
static int children_of(long pid, long *kids, int max)
{
	int n = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && n < max && (e = readdir(d))) {
		char path[300], buf[1024];
		long ppid, kid = strtol(e->d_name, NULL, 10);
		if (kid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", kid);
		FILE *f = fopen(path, "re");
		size_t len = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		if (f)
			fclose(f);
		buf[len] = '\0';
		const char *close = strrchr(buf, ')');
		if (close && sscanf(close + 1, " %*c %ld", &ppid) == 1 && ppid == pid)
			kids[n++] = kid;
	}
	if (d)
		closedir(d);
	for (int i = 1; i < n; i++) /* a few: insertion sort */
		for (int j = i; j > 0 && kids[j - 1] > kids[j]; j--) {
			long x = kids[j];
			kids[j] = kids[j - 1];
			kids[j - 1] = x;
		}
	return n;
}

/* Prints what was asked: per process the dump directory and the file
 * written (none without --wait), paths as seen from here. */
static int print_result(const asked *p, int n, int wait, int json)
{
	if (json) {
		hsa_json j;
		hsa_str dir = { 0 };
		int rc = 0;
		hsa_json_init(&j, stdout);
		hsa_json_open(&j, NULL);
		hsa_json_array(&j, "processes");
		for (int i = 0; i < n; i++) {
			dir.len = 0;
			rc |= hsa_str_printf(&dir, "%s%s", p[i].t.root, p[i].h.dir);
			hsa_json_open(&j, NULL);
			hsa_json_int(&j, "pid", p[i].t.pid);
			hsa_json_int(&j, "signal", p[i].h.signum);
			hsa_json_str(&j, "dir", dir.s ? dir.s : "");
			if (p[i].file)
				hsa_json_str(&j, "file", p[i].file);
			else
				hsa_json_null(&j, "file");
			hsa_json_close(&j);
		}
		hsa_json_end(&j);
		/* the process asked for (its first worker when it has no handler) */
		dir.len = 0;
		rc |= hsa_str_printf(&dir, "%s%s", p[0].t.root, p[0].h.dir);
		hsa_json_int(&j, "pid", p[0].t.pid);
		hsa_json_int(&j, "signal", p[0].h.signum);
		hsa_json_str(&j, "dir", dir.s ? dir.s : "");
		hsa_json_array(&j, "files");
		for (int i = 0; i < n; i++)
			if (p[i].file)
				hsa_json_str(&j, NULL, p[i].file);
		hsa_json_end_document(&j);
		hsa_str_free(&dir);
		if (rc) {
			hsa_error("out of memory");
			return HSA_EXIT_FAIL;
		}
	} else {
		for (int i = 0; i < n; i++)
			if (p[i].file)
				printf("%s\n", p[i].file);
			else if (!wait)
				printf("sent signal %d (%s) to process %ld; its dumps go to '%s%s'\n",
				       p[i].h.signum, strsignal(p[i].h.signum), p[i].t.pid, p[i].t.root,
				       p[i].h.dir);
	}
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : HSA_EXIT_FAIL;
}

/* Waits until deadline for a dump of p that began after sent_ns and is
 * complete; fills p->file. */
static int wait_dump(asked *p, long long sent_ns, double deadline, double seconds)
{
	char err[1024];
	long pid = p->t.pid;
	handler h = { 0 };
	for (;;) {
		free(h.text);
		int alive = kill((pid_t)pid, 0) == 0 || errno == EPERM;
		if (read_handler(&p->t, &h) < 0) {
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
	char *path = NULL;
	if (!h.last_ok)
		hsa_error("process %ld failed to dump: %s", pid, h.last);
	else if (asprintf(&path, "%s%s", p->t.root, h.last) < 0)
		hsa_error("out of memory");
	else if (!complete(path, err, sizeof(err)))
		hsa_error("%s", err);
	else
		rc = 0;
	if (rc)
		free(path);
	else
		p->file = path;
	free(h.text);
	return rc;
}

/* The handler of process pid into p (p->h.text freed and emptied when
 * none): 0, or -1 after saying why not, unless quiet. */
static int find(long pid, asked *p, int quiet)
{
	int rc = -1;
	target_of(pid, &p->t);
	int found = read_handler(&p->t, &p->h);
	if (found == -2)
		hsa_error("process %ld has a heapsnap handler of state version %u; this "
		          "heapsnap reads version %d", pid, p->h.version, STATE_VERSION);
	else if (found < 0 && !quiet)
		hsa_error("process %ld has no heapsnap handler installed", pid);
	else if (!found && !p->h.signum && !quiet)
		hsa_error("process %ld takes dumps on no signal (installed with signal=None)", pid);
	else if (!found && p->h.signum)
		rc = 0;
	if (rc) {
		free(p->h.text);
		memset(p, 0, sizeof(*p));
	}
	return rc;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	asked p[MAX_ASKED];
	int n = 0;
	memset(p, 0, sizeof(p));
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_USAGE;
	long pid;
	if (hsa_arg_pid(cmd, a.pos[0], &pid))
		goto done;
	int wait = hsa_arg(cmd, &a, "wait") != NULL;
	int json = hsa_arg(cmd, &a, "json") != NULL;
	double seconds = DEFAULT_WAIT;
	if (a.npos > 1) {
		char *end;
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
	/* the workers after p[0], the master's place; the master's own dump
	 * child has no handler */
	long kids[MAX_ASKED - 1];
	int nkids = children_of(pid, kids, MAX_ASKED - 1), workers = 0;
	for (int i = 0; i < nkids; i++)
		workers += !find(kids[i], &p[1 + workers], 1);
	if (!find(pid, &p[0], workers > 0)) {
		n = 1 + workers;
	} else if (workers) {
		/* a master that runs no handler itself */
		memmove(&p[0], &p[1], (size_t)workers * sizeof(asked));
		memset(&p[workers], 0, sizeof(asked));
		n = workers;
	} else {
		goto done;
	}
	long long sent = realtime_ns();
	for (int i = 0; i < n; i++)
		if (kill((pid_t)p[i].t.pid, p[i].h.signum) < 0) {
			hsa_error("cannot signal process %ld: %s", p[i].t.pid, strerror(errno));
			goto done;
		}
	rc = 0;
	double deadline = hsa_now() + seconds;
	for (int i = 0; wait && i < n; i++)
		if (wait_dump(&p[i], sent, deadline, seconds))
			rc = HSA_EXIT_FAIL;
	/* the files that came, also when another did not */
	int printed = print_result(p, n, wait, json);
	rc = rc ? rc : printed;
done:
	for (int i = 0; i < MAX_ASKED; i++) {
		free(p[i].h.text);
		free(p[i].file);
	}
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{ "wait", 'w', NULL, "wait for the dump to be complete (at most SECONDS, default 30)" },
	{ "json", 0, NULL, "print JSON for scripts: the dump directory and the files written" },
	{ NULL, 0, NULL, NULL },
};

const hsa_cmd hsa_cmd_trigger = {
	.name = "trigger",
	.summary = "ask a running process for a dump (heapsnap.install)",
	.usage = "PID [--wait [SECONDS]] [--json]",
	.details = "Sends the dump signal to a process that runs heapsnap.install() (or\n"
	           "'python -m heapsnap run', or HEAPSNAP in its environment), and to each\n"
	           "of its children that has a handler of its own (a prefork master's\n"
	           "workers). With --wait, waits until each new dump is complete and prints\n"
	           "its path, one line per file; fails if a process is gone, its dump failed\n"
	           "or none appears in time. A process in a container (another mount\n"
	           "namespace) is found, and its paths printed, through /proc/PID/root.",
	.min_pos = 1,
	.max_pos = 2,
	.opts = opts,
	.run = run,
};
