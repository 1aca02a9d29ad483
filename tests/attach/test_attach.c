/*
 * test_attach.c - 'heapsnap attach' on plain python3 processes that never
 * import heapsnap (tests/attach/target.py), for every Python version with
 * a payload: the dump is complete, verifies, says it was taken by attach,
 * holds within 1 % of the objects the target counts itself, and the target
 * is left as it was (alive, no zombie child, its main thread back in the
 * system call it waited in). Then a service under load attached to in a
 * row, and the one-line refusals.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "load.h"

/* "3.11=/path/python3,3.12=..." from CMake */
static const char *const pythons = HS_ATTACH_PYTHONS;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The n-th python of the list: its version and path; 0 past the end. */
static int python_at(int n, char ver[16], char path[512])
{
	const char *p = pythons;
	for (int i = 0; *p; i++) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (i == n) {
			const char *eq = memchr(p, '=', len);
			if (!eq)
				return 0;
			snprintf(ver, 16, "%.*s", (int)(eq - p), p);
			snprintf(path, 512, "%.*s", (int)(len - (size_t)(eq - p) - 1), eq + 1);
			return 1;
		}
		p = end ? end + 1 : p + len;
	}
	return 0;
}

/* Runs argv with stdout and stderr into out (NUL-terminated); returns the
 * exit status, or -1. setup, if not NULL, runs in the child before exec. */
static int run(char *const argv[], char *out, size_t outlen, void (*setup)(void))
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		if (setup)
			setup();
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t k;
	while (n + 1 < outlen && (k = read(p[0], out + n, outlen - n - 1)) > 0)
		n += (size_t)k;
	out[n] = '\0';
	close(p[0]);
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct target {
	pid_t pid;
	long count;        /* objects the target counted itself */
	char dir[64];
	char ver[16];
};

/* A target dies with the test, even one cut short by a failed assert. */
static void die_with_parent(void *arg)
{
	(void)arg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* Starts target.py MODE under python and waits for its count. The targets
 * attached to many times in a row run without site (-S): their heaps stay
 * small whatever this machine's site-packages import at start-up. */
static void start(struct target *t, const char *python, const char *mode, const char *dir)
{
	char script[512], ready[512], log[512], port[512];
	snprintf(script, sizeof(script), "%s/target.py", HS_TEST_SCRIPTS);
	snprintf(ready, sizeof(ready), "%s/%s-%s.ready", dir, mode, t->ver);
	snprintf(log, sizeof(log), "%s/%s-%s.log", dir, mode, t->ver);
	snprintf(port, sizeof(port), "%s/%s-%s.port", dir, mode, t->ver);
	char *full[] = { (char *)python, script, (char *)mode, ready, port, NULL };
	char *bare[] = { (char *)python, "-S", script, (char *)mode, ready, port, NULL };
	char **argv = strcmp(mode, "serve") && strcmp(mode, "cthreads") ? full : bare;
	t->pid = t_spawn(log, argv, die_with_parent, NULL);
	cr_assert(t->pid > 0);
	double end = now() + 60;
	FILE *f = NULL;
	while (!(f = fopen(ready, "r")) && now() < end) {
		int status;
		if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
			char *text = t_slurp(log, NULL);
			cr_assert_fail("%s %s exited: %s", python, mode, text ? text : "");
		}
		usleep(50000);
	}
	cr_assert(f, "%s %s: no count within 60 s", python, mode);
	long pid = 0;
	cr_assert(fscanf(f, "%ld %ld", &t->count, &pid) == 2);
	fclose(f);
	cr_assert_eq(pid, t->pid);
}

static void stop(struct target *t)
{
	kill(t->pid, SIGKILL);
	waitpid(t->pid, NULL, 0);
}

/* The system call the process's main thread waits in, or -1 (running). */
static long main_syscall(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%ld/syscall", (long)pid);
	FILE *f = fopen(path, "r");
	long nr = -1;
	if (f && fgets(buf, sizeof(buf), f) && strncmp(buf, "running", 7))
		nr = strtol(buf, NULL, 10);
	if (f)
		fclose(f);
	return nr;
}

/* The process's state letter (R, S, T, Z ...) and its children. */
static char state_of(pid_t pid, char *children, size_t len)
{
	char path[96], buf[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "r");
	char st = '?';
	if (f && fgets(buf, sizeof(buf), f)) {
		char *rp = strrchr(buf, ')');
		if (rp)
			st = rp[2];
	}
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", (long)pid, (long)pid);
	children[0] = '\0';
	if ((f = fopen(path, "r"))) {
		if (!fgets(children, (int)len, f))
			children[0] = '\0';
		fclose(f);
	}
	return st;
}

/* CPU ticks the process has used (utime + stime). */
static long ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "r");
	long u = 0, s = 0;
	if (f && fgets(buf, sizeof(buf), f)) {
		char *rp = strrchr(buf, ')');
		if (rp)
			sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &u, &s);
	}
	if (f)
		fclose(f);
	return u + s;
}

enum after { WAITS, BUSY, ANY };

/* Attaches to t, checks the dump and that t is left as it was: WAITS in
 * the same system call, or BUSY running its loop. */
static void attach_check(struct target *t, const char *mode, enum after after_attach)
{
	char pid[16], out[512], msg[4096];
	snprintf(pid, sizeof(pid), "%ld", (long)t->pid);
	snprintf(out, sizeof(out), "%s/%s-%s.hsnap", t->dir, mode, t->ver);
	usleep(200000); /* let the main thread settle where it waits */
	long before = main_syscall(t->pid);
	char *argv[] = { HS_TEST_HEAPSNAP, "attach", pid, "-o", out, "--timeout", "20", NULL };
	double t0 = now();
	int rc = run(argv, msg, sizeof(msg), NULL);
	cr_assert_eq(rc, 0, "%s %s: attach exit %d: %s", t->ver, mode, rc, msg);
	cr_expect(now() - t0 < 20, "%s %s: attach took %.1f s", t->ver, mode, now() - t0);
	char *verify[] = { HS_TEST_HEAPSNAP, "verify", out, NULL };
	rc = run(verify, msg, sizeof(msg), NULL);
	cr_assert_eq(rc, 0, "%s %s: verify: %s", t->ver, mode, msg);
	struct t_dump d;
	char err[512];
	cr_assert_eq(t_load(&d, out, err, sizeof(err)), 0, "%s", err);
	cr_expect(d.complete);
	const char *trig = t_meta_str(&d, "trigger");
	cr_expect(trig && !strcmp(trig, "attach"), "%s %s: trigger %s", t->ver, mode,
	          trig ? trig : "(none)");
	cr_expect_eq(t_meta_uint(&d, "pid"), (uint64_t)t->pid);
	double off = ((double)d.nobjs - (double)t->count) / (double)t->count;
	cr_expect(off < 0.01 && off > -0.01, "%s %s: %zu objects in the dump, %ld counted "
	          "by the target (%+.2f %%)", t->ver, mode, d.nobjs, t->count, off * 100);
	t_free(&d);
	/* left as it was: alive, not stopped, the copy reaped, waiting where
	 * it waited */
	char children[256];
	char st = state_of(t->pid, children, sizeof(children));
	cr_expect(st == 'S' || st == 'R', "%s %s: target in state %c", t->ver, mode, st);
	cr_expect(children[0] == '\0', "%s %s: target has children: %s", t->ver, mode, children);
	if (after_attach == BUSY) {
		long c0 = ticks(t->pid);
		usleep(500000);
		cr_expect(ticks(t->pid) - c0 > 5, "%s %s: the loop no longer runs", t->ver, mode);
	}
	if (after_attach == WAITS) {
		/* restart_syscall: how the kernel resumes a relative sleep */
		usleep(100000);
		long after = main_syscall(t->pid);
		cr_expect(after == before || after == SYS_restart_syscall, "%s %s: main thread "
		          "in syscall %ld, was in %ld", t->ver, mode, after, before);
	}
}

/* Every Python with a payload: start target.py MODE, attach, check. */
static void each_python(const char *mode, enum after after_attach)
{
	char ver[16], path[512];
	char *dir = t_mkdir();
	int n = 0;
	for (; python_at(n, ver, path); n++) {
		struct target t = { 0 };
		snprintf(t.dir, sizeof(t.dir), "%s", dir);
		snprintf(t.ver, sizeof(t.ver), "%s", ver);
		start(&t, path, mode, dir);
		attach_check(&t, mode, after_attach);
		stop(&t);
	}
	cr_expect(n > 0, "no Python with a payload");
	t_rmdir(dir);
}

Test(attach, sleep, .timeout = 120) { each_python("sleep", WAITS); }
Test(attach, cpu_bound, .timeout = 120) { each_python("cpu", BUSY); }
Test(attach, idle_asyncio, .timeout = 120) { each_python("asyncio", WAITS); }
Test(attach, lock_wait, .timeout = 120) { each_python("lock", WAITS); }
Test(attach, long_c_call, .timeout = 120) { each_python("ccall", WAITS); }
Test(attach, threads_allocating, .timeout = 120) { each_python("threads", BUSY); }

/* A main thread that keeps starting threads from C, without the GIL, is
 * often stopped inside clone: each attach succeeds and the process lives
 * on (a fork injected there used to end its main thread). */
Test(attach, threads_started_from_c, .timeout = 120)
{
	char ver[16], path[512], pid[16], out[512], msg[4096];
	char *dir = t_mkdir();
	int n = 0;
	for (; python_at(n, ver, path); n++) {
		struct target t = { 0 };
		snprintf(t.dir, sizeof(t.dir), "%s", dir);
		snprintf(t.ver, sizeof(t.ver), "%s", ver);
		start(&t, path, "cthreads", dir);
		snprintf(pid, sizeof(pid), "%ld", (long)t.pid);
		snprintf(out, sizeof(out), "%s/cthreads-%s.hsnap", dir, ver);
		for (int i = 0; i < 30; i++) {
			char *argv[] = { HS_TEST_HEAPSNAP, "attach", pid, "-o", out, "--timeout", "20",
			                 NULL };
			int rc = run(argv, msg, sizeof(msg), NULL);
			cr_assert_eq(rc, 0, "%s attach %d: exit %d: %s", ver, i + 1, rc, msg);
			cr_assert_eq(waitpid(t.pid, NULL, WNOHANG), 0, "%s attach %d: the target "
			             "ended", ver, i + 1);
			char children[256];
			char st = state_of(t.pid, children, sizeof(children));
			cr_assert(st == 'S' || st == 'R', "%s attach %d: target in state %c", ver,
			          i + 1, st);
		}
		stop(&t);
	}
	cr_expect(n > 0, "no Python with a payload");
	t_rmdir(dir);
}

/* ---- a service under loopback load -------------------------------------- */

struct load {
	int port;
	volatile int stop;
	long requests, failed;
	char why[256];
};

/* One request a millisecond, each on a connection of its own (the service
 * starts and ends a thread for each): a line out, its length back within
 * 5 s, else a failure. The service closes first, so that no TIME_WAIT
 * piles up on this side's ports. */
static int request(struct load *l)
{
	const char req[] = "hello heapsnap\n";
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)l->port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { 5, 0 };
	char buf[64];
	size_t got = 0;
	ssize_t n = -1;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* no SIGPIPE: a service that died is a failed request */
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    send(s, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(req) - 1)
		while (got + 1 < sizeof(buf) && (n = read(s, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
	close(s);
	buf[got] = '\0';
	if (n < 0) {
		snprintf(l->why, sizeof(l->why), "request: %s", strerror(errno));
		return -1;
	}
	if (atoi(buf) != (int)sizeof(req) - 1) {
		snprintf(l->why, sizeof(l->why), "answer '%s'", buf);
		return -1;
	}
	return 0;
}

static void *client(void *arg)
{
	struct load *l = arg;
	while (!l->stop) {
		if (request(l) < 0) {
			l->failed++;
			break;
		}
		l->requests++;
		struct timespec gap = { 0, 1000000 };
		nanosleep(&gap, NULL);
	}
	return NULL;
}

/* HEAPSNAP_ATTACH_LOOPS attaches in a row (default HS_ATTACH_LOOPS: 200,
 * 20 in a sanitized build; tests/attach/CMakeLists.txt) to python's service
 * while a client sends it a request every millisecond: every attach
 * succeeds and its dump verifies, no request fails, the service survives
 * them all. */
static void serve_loops(const char *ver, const char *python, int loops, const char *dir)
{
	struct target t = { 0 };
	snprintf(t.dir, sizeof(t.dir), "%s", dir);
	snprintf(t.ver, sizeof(t.ver), "%s", ver);
	start(&t, python, "serve", dir);
	char portfile[512];
	snprintf(portfile, sizeof(portfile), "%s/serve-%s.port", dir, ver);
	char *text = t_slurp(portfile, NULL);
	cr_assert(text);
	struct load l = { .port = atoi(text) };
	free(text);
	pthread_t th;
	pthread_create(&th, NULL, client, &l);
	char pid[16], out[512], msg[4096];
	snprintf(pid, sizeof(pid), "%ld", (long)t.pid);
	snprintf(out, sizeof(out), "%s/serve-%s.hsnap", dir, ver);
	double t0 = now();
	int released = 0; /* attaches that waited for the GIL's holder */
	for (int i = 0; i < loops; i++) {
		char *argv[] = { HS_TEST_HEAPSNAP, "attach", pid, "-o", out, "--timeout", "20",
		                 "--json", NULL };
		int rc = run(argv, msg, sizeof(msg), NULL);
		cr_assert_eq(rc, 0, "%s attach %d: exit %d: %s", ver, i + 1, rc, msg);
		released += strstr(msg, "\"gil released\"") != NULL;
		char *verify[] = { HS_TEST_HEAPSNAP, "verify", out, NULL };
		rc = run(verify, msg, sizeof(msg), NULL);
		cr_assert_eq(rc, 0, "%s attach %d: verify: %s", ver, i + 1, msg);
		cr_assert_eq(kill(t.pid, 0), 0, "%s attach %d: the service is gone", ver, i + 1);
	}
	double took = now() - t0;
	long before = l.requests;
	usleep(300000);
	cr_expect(l.requests > before, "%s: the service stopped answering", ver);
	l.stop = 1;
	pthread_join(th, NULL);
	cr_expect_eq(l.failed, 0, "%s: %ld failed requests of %ld: %s", ver, l.failed,
	             l.requests, l.why);
	char children[256];
	char st = state_of(t.pid, children, sizeof(children));
	cr_expect(st == 'S' || st == 'R', "%s: service in state %c", ver, st);
	cr_expect(children[0] == '\0', "%s: service has children: %s", ver, children);
	cr_log_info("%s: %d attaches and verifies in %.1f s (%d at a GIL release), %ld "
	            "requests", ver, loops, took, released, l.requests);
	stop(&t);
}

Test(attach, service_under_load, .timeout = 300)
{
	const char *env = getenv("HEAPSNAP_ATTACH_LOOPS");
	int loops = env && atoi(env) > 0 ? atoi(env) : HS_ATTACH_LOOPS;
	char ver[16], path[512];
	char *dir = t_mkdir();
	int n = 0;
	for (; python_at(n, ver, path); n++)
		serve_loops(ver, path, loops, dir);
	cr_expect(n > 0, "no Python with a payload");
	t_rmdir(dir);
}

/* A target in its own mount namespace, where the output directory is a
 * tmpfs of its own: the dump lands on the attacher's side. */
Test(attach, other_mount_namespace, .timeout = 120)
{
	if (geteuid() != 0 || access("/usr/bin/unshare", X_OK) < 0)
		cr_skip_test("needs root and unshare");
	char ver[16], path[512];
	cr_assert(python_at(0, ver, path));
	char *dir = t_mkdir();
	char hidden[600], cmd[2048], ready[600], log[600];
	snprintf(hidden, sizeof(hidden), "%s/out", dir);
	snprintf(ready, sizeof(ready), "%s/ns.ready", dir);
	snprintf(log, sizeof(log), "%s/ns.log", dir);
	cr_assert_eq(mkdir(hidden, 0755), 0);
	snprintf(cmd, sizeof(cmd), "mount -t tmpfs none %s && exec %s %s/target.py sleep %s",
	         hidden, path, HS_TEST_SCRIPTS, ready);
	char *argv[] = { "/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh",
	                 "-c", cmd, NULL };
	pid_t sh = t_spawn(log, argv, die_with_parent, NULL);
	cr_assert(sh > 0);
	long count = 0, pid = 0;
	for (double end = now() + 60; now() < end; usleep(50000)) {
		FILE *f = fopen(ready, "r");
		if (f) {
			cr_assert(fscanf(f, "%ld %ld", &count, &pid) == 2);
			fclose(f);
			break;
		}
	}
	cr_assert(pid > 0, "the target did not start");
	char pids[16], out[700], msg[4096], theirs[800];
	snprintf(pids, sizeof(pids), "%ld", pid);
	snprintf(out, sizeof(out), "%s/ns.hsnap", hidden);
	char *at[] = { HS_TEST_HEAPSNAP, "attach", pids, "-o", out, NULL };
	int rc = run(at, msg, sizeof(msg), NULL);
	cr_expect_eq(rc, 0, "attach: %s", msg);
	cr_expect_eq(access(out, R_OK), 0, "no dump on the attacher's side");
	snprintf(theirs, sizeof(theirs), "/proc/%ld/root%s", pid, out);
	cr_expect(access(theirs, F_OK) < 0, "the dump went into the target's namespace");
	kill((pid_t)pid, SIGKILL);
	waitpid(sh, NULL, 0);
	t_rmdir(dir);
}

/* ---- refusals: one line, exit 1, target untouched ---------------------- */

static void refused(char *const argv[], const char *needle, void (*setup)(void))
{
	char msg[4096];
	int rc = run(argv, msg, sizeof(msg), setup);
	cr_expect_eq(rc, 1, "exit %d: %s", rc, msg);
	cr_expect(strstr(msg, needle), "'%s' not in: %s", needle, msg);
	char *nl = strchr(msg, '\n');
	cr_expect(nl && nl[1] == '\0', "not one line: %s", msg);
}

Test(attach, refuses_no_process)
{
	char *argv[] = { HS_TEST_HEAPSNAP, "attach", "2147483646", NULL };
	refused(argv, "no process 2147483646", NULL);
}

Test(attach, refuses_not_python)
{
	pid_t p = fork();
	if (p == 0) {
		execl("/bin/sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	usleep(100000);
	char pid[16];
	snprintf(pid, sizeof(pid), "%ld", (long)p);
	char *argv[] = { HS_TEST_HEAPSNAP, "attach", pid, "-o", "/tmp/never.hsnap", NULL };
	refused(argv, "is not a CPython process", NULL);
	cr_expect(access("/tmp/never.hsnap", F_OK) < 0);
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
}

static void as_nobody(void)
{
	if (setgid(65534) < 0 || setuid(65534) < 0)
		_exit(126);
}

Test(attach, refuses_without_permission, .timeout = 120)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to drop to another user");
	char ver[16], path[512];
	cr_assert(python_at(0, ver, path));
	char *dir = t_mkdir();
	struct target t = { 0 };
	start(&t, path, "sleep", dir);
	char pid[16];
	snprintf(pid, sizeof(pid), "%ld", (long)t.pid);
	char *argv[] = { HS_TEST_HEAPSNAP, "attach", pid, "-o", "/tmp/never.hsnap", NULL };
	refused(argv, "CAP_SYS_PTRACE", as_nobody);
	char children[256];
	cr_expect_eq(state_of(t.pid, children, sizeof(children)), 'S');
	stop(&t);
	t_rmdir(dir);
}

Test(attach, refuses_unsupported_version, .timeout = 60)
{
	/* a Python this build has no payload for: 3.10 where pyenv has one */
	const char *old = HS_ATTACH_OLD_PYTHON;
	if (!old[0])
		cr_skip_test("no Python 3.10 here");
	pid_t p = fork();
	if (p == 0) {
		execl(old, old, "-c", "import time; time.sleep(60)", (char *)NULL);
		_exit(127);
	}
	usleep(300000);
	char pid[16];
	snprintf(pid, sizeof(pid), "%ld", (long)p);
	char *argv[] = { HS_TEST_HEAPSNAP, "attach", pid, NULL };
	refused(argv, "runs Python 3.10, which heapsnap attach does not support", NULL);
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
}
