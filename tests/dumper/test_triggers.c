/*
 * test_triggers.c - dumps of a live service (heapsnap.install): a real
 * asyncio server signalled while it serves, a storm of signals, a full
 * disk, a dump child killed mid-dump, unmodified programs dumped through
 * 'python -m heapsnap run' and the HEAPSNAP variable, and 'heapsnap
 * trigger' (when the analyzer is built). The Python side is in trig_*.py.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "load.h"

#define MAX_DUMPS 64

static int wait_exit(pid_t pid, double seconds);

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* How often needle occurs in the file at path. */
static int count_in(const char *path, const char *needle)
{
	char *text = t_slurp(path, NULL);
	int n = 0;
	for (char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(text);
	return n;
}

/* Waits up to seconds until needle occurs n times in the file. */
static int wait_count(const char *path, const char *needle, int n, double seconds)
{
	for (double end = now() + seconds; now() < end; sleep_ms(10))
		if (count_in(path, needle) >= n)
			return 1;
	return count_in(path, needle) >= n;
}

static int wait_file(const char *path, double seconds)
{
	for (double end = now() + seconds; now() < end; sleep_ms(10))
		if (access(path, F_OK) == 0)
			return 1;
	return 0;
}

/* The *.hsnap files in dir, sorted, and the number of temporary files
 * (".<name>.tmp.<pid>"); *tmp_pid gets the pid of the last one. */
static size_t dumps_in(const char *dir, char names[][512], size_t *temps, long *tmp_pid)
{
	size_t n = 0;
	*temps = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		const char *tmp = strstr(e->d_name, ".tmp.");
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' && tmp) {
			(*temps)++;
			if (tmp_pid)
				*tmp_pid = atol(tmp + 5);
		} else if (len > 6 && !strcmp(e->d_name + len - 6, ".hsnap") && n < MAX_DUMPS) {
			snprintf(names[n++], 512, "%s/%s", dir, e->d_name);
		}
	}
	if (d)
		closedir(d);
	qsort(names, n, 512, (int (*)(const void *, const void *))strcmp);
	return n;
}

/* Processes whose parent is pid: zombies and dump children; *last (may be
 * NULL) gets one of them. */
static int children_of(pid_t pid, pid_t *last)
{
	int n = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[300];
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		char *stat = e->d_name[0] >= '0' && e->d_name[0] <= '9' ? t_slurp(path, NULL) : NULL;
		char *close = stat ? strrchr(stat, ')') : NULL;
		long ppid = 0;
		if (close && sscanf(close + 1, " %*c %ld", &ppid) == 1 && ppid == pid) {
			n++;
			if (last)
				*last = (pid_t)atol(e->d_name);
		}
		free(stat);
	}
	if (d)
		closedir(d);
	return n;
}

/* Every "after N ms" of the log's dump lines is below limit. */
static void expect_prompt(const char *log, long limit)
{
	char *text = t_slurp(log, NULL);
	int seen = 0;
	for (char *p = text; p && (p = strstr(p, " after ")); p += 7) {
		long ms = atol(p + 7);
		seen++;
		cr_expect_lt(ms, limit, "a dump started %ld ms after the signal", ms);
	}
	cr_expect_gt(seen, 0, "no dump line with its delay in:\n%s", text);
	free(text);
}

/* A complete dump of process pid, taken on a signal in the given mode. */
static void expect_dump(const char *path, pid_t pid, const char *mode, size_t min_objects)
{
	struct t_dump d;
	char err[512];
	cr_assert_eq(t_load(&d, path, err, sizeof(err)), 0, "%s", err);
	cr_expect(d.complete, "'%s' is incomplete", path);
	cr_expect_eq(t_meta_uint(&d, "pid"), (uint64_t)pid, "pid of '%s'", path);
	cr_expect_str_eq(t_meta_str(&d, "trigger"), "signal");
	cr_expect_str_eq(t_meta_str(&d, "mode"), mode);
	cr_expect_geq(d.nobjs, min_objects, "'%s' has %zu objects", path, d.nobjs);
	struct stat st;
	cr_expect(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode of '%s'", path);
	t_free(&d);
}

#ifdef HS_TEST_HEAPSNAP
/* Runs 'heapsnap trigger PID [args]'; returns its exit status and its
 * stdout and stderr in out (malloc'ed). */
static int trigger(const char *dir, pid_t pid, const char *a1, const char *a2, char **out)
{
	char log[512], spid[32];
	snprintf(log, sizeof(log), "%s/trigger.log", dir);
	snprintf(spid, sizeof(spid), "%ld", (long)pid);
	char *argv[] = { HS_TEST_HEAPSNAP, "trigger", spid, (char *)a1, (char *)a2, NULL };
	int rc = wait_exit(t_spawn(log, argv, NULL, NULL), 60);
	*out = t_slurp(log, NULL);
	return rc;
}
#endif

/* ---- the asyncio service (trig_server.py) ------------------------------ */

struct svc {
	char *top;
	char dumps[512], stop[512], ready[512], log[512], result[512];
	pid_t pid;
};

struct env {
	rlim_t fsize;        /* RLIMIT_FSIZE, 0: unlimited */
	int ignore_xfsz;
	const char *heapsnap; /* HEAPSNAP, or NULL */
	const char *userbase; /* PYTHONUSERBASE, or NULL */
};

/* In the child before exec: the signals as a shell leaves them (the test
 * runner's may differ), and the test's limits and variables. */
static void setup(void *arg)
{
	const struct env *e = arg;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGINT, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGXFSZ, e && e->ignore_xfsz ? SIG_IGN : SIG_DFL);
	unsetenv("HEAPSNAP");
	unsetenv("PYTHONNOUSERSITE");
	if (e && e->heapsnap)
		setenv("HEAPSNAP", e->heapsnap, 1);
	if (e && e->userbase)
		setenv("PYTHONUSERBASE", e->userbase, 1);
	if (e && e->fsize) {
		struct rlimit rl = { e->fsize, e->fsize };
		setrlimit(RLIMIT_FSIZE, &rl);
	}
}

static void svc_start(struct svc *s, const char *objects, int fork_mode, struct env *e)
{
	s->top = t_mkdir();
	snprintf(s->dumps, sizeof(s->dumps), "%s/dumps", s->top);
	snprintf(s->stop, sizeof(s->stop), "%s/stop", s->top);
	snprintf(s->ready, sizeof(s->ready), "%s/ready", s->top);
	snprintf(s->log, sizeof(s->log), "%s/server.log", s->top);
	snprintf(s->result, sizeof(s->result), "%s/result", s->top);
	mkdir(s->dumps, 0700);
	char script[512];
	snprintf(script, sizeof(script), "%s/trig_server.py", HS_TEST_SCRIPTS);
	char *argv[] = { HS_TEST_PYTHON, script, s->dumps, s->stop, "--objects",
	                 (char *)objects, fork_mode ? "--fork" : "--no-fork", NULL };
	s->pid = t_spawn(s->log, argv, setup, e);
	cr_assert_gt(s->pid, 0);
	int up = wait_file(s->ready, 60);
	char *log = up ? NULL : t_slurp(s->log, NULL);
	cr_assert(up, "the service did not start:\n%s", log ? log : "");
}

/* Waits for pid's exit status (killing it after seconds): 128 + signal
 * if killed, -1 on a timeout. */
static int wait_exit(pid_t pid, double seconds)
{
	int status;
	for (double end = now() + seconds; now() < end; sleep_ms(20)) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* Stops the service; checks it answered every request and left no child. */
static void svc_stop(struct svc *s)
{
	FILE *f = fopen(s->stop, "w");
	if (f)
		fclose(f);
	int rc = wait_exit(s->pid, 60);
	char *log = t_slurp(s->log, NULL);
	cr_expect_eq(rc, 0, "the service exited with %d:\n%s", rc, log ? log : "");
	free(log);
	char *result = t_slurp(s->result, NULL);
	long sent = -1, answered = -2, children = -1;
	cr_assert(result && sscanf(result, "requests %ld %ld\nchildren %ld", &sent, &answered,
	                           &children) == 3, "no result: %s", result ? result : "");
	cr_expect(sent > 0 && sent == answered, "%ld requests, %ld answered", sent, answered);
	cr_expect_eq(children, 0, "%ld processes left behind", children);
	free(result);
}

Test(triggers, three_dumps_while_serving, .timeout = 60)
{
	struct svc s;
	svc_start(&s, "300000", 1, NULL);
	for (int i = 1; i <= 3; i++) {
		kill(s.pid, SIGUSR1);
		cr_assert(wait_count(s.log, "dump written", i, 30), "dump %d did not come", i);
		cr_expect_eq(children_of(s.pid, NULL), 0, "a child is left after dump %d", i);
	}
	svc_stop(&s);
	char names[MAX_DUMPS][512];
	size_t temps;
	size_t n = dumps_in(s.dumps, names, &temps, NULL);
	cr_expect_eq(n, 3);
	cr_expect_eq(temps, 0);
	for (size_t i = 0; i < n; i++)
		expect_dump(names[i], s.pid, "fork", 300000);
	expect_prompt(s.log, 100);
	t_rmdir(s.top);
}

Test(triggers, hundred_signals_coalesced, .timeout = 60)
{
	struct svc s;
	svc_start(&s, "300000", 1, NULL);
	for (int i = 0; i < 100; i++) {
		kill(s.pid, SIGUSR1);
		sleep_ms(10);
	}
	/* quiet: no new dump line for 1.5 s */
	int n = -1;
	for (double end = now() + 30; now() < end && n != count_in(s.log, "heapsnap: dump");
	     sleep_ms(1500))
		n = count_in(s.log, "heapsnap: dump");
	int written = count_in(s.log, "dump written");
	cr_expect(written >= 1 && written < 50, "%d dumps for 100 signals", written);
	cr_expect_eq(count_in(s.log, "dump failed"), 0);
	svc_stop(&s);
	char names[MAX_DUMPS][512];
	size_t temps;
	size_t files = dumps_in(s.dumps, names, &temps, NULL);
	cr_expect_eq((int)files, written < 10 ? written : 10, "keep=10 left %zu files", files);
	cr_expect_eq(temps, 0);
	for (size_t i = 0; i < files; i++)
		expect_dump(names[i], s.pid, "fork", 300000);
	t_rmdir(s.top);
}

/* Two signals to a service that cannot write its dumps: a line each. */
static void full_disk(int fork_mode)
{
	struct env e = { .fsize = 64 << 10, .ignore_xfsz = !fork_mode };
	struct svc s;
	svc_start(&s, "300000", fork_mode, &e);
	kill(s.pid, SIGUSR1);
	cr_assert(wait_count(s.log, "dump failed", 1, 30), "the failure was not logged");
#ifdef HS_TEST_HEAPSNAP
	char *out;
	cr_expect_eq(trigger(s.top, s.pid, "--wait", NULL, &out), 1);
	cr_expect(out && strstr(out, "failed to dump: ") && strstr(out, "File too large"),
	          "trigger said: %s", out);
	free(out);
#else
	kill(s.pid, SIGUSR1);
#endif
	cr_assert(wait_count(s.log, "dump failed", 2, 30), "the second failure was not logged");
	cr_expect_eq(count_in(s.log, "File too large"), 2);
	if (fork_mode)
		cr_expect_eq(count_in(s.log, "(child exit 27)"), 2); /* EFBIG */
	svc_stop(&s);
	char names[MAX_DUMPS][512];
	size_t temps;
	cr_expect_eq(dumps_in(s.dumps, names, &temps, NULL), 0);
	cr_expect_eq(temps, 0);
	t_rmdir(s.top);
}

Test(triggers, full_disk_fork, .timeout = 60)
{
	full_disk(1);
}

Test(triggers, full_disk_in_process, .timeout = 60)
{
	full_disk(0);
}

Test(triggers, child_killed_mid_dump, .timeout = 60)
{
	struct svc s;
	svc_start(&s, "3000000", 1, NULL);
	char names[MAX_DUMPS][512];
	size_t temps = 0;
	long child = 0;
	kill(s.pid, SIGUSR1);
	for (double end = now() + 30; now() < end && !temps; sleep_ms(2))
		dumps_in(s.dumps, names, &temps, &child);
	cr_assert_eq(temps, 1, "no temporary file appeared");
	cr_assert_eq(kill((pid_t)child, SIGKILL), 0, "no dump child %ld", child);
	cr_assert(wait_count(s.log, "killed by signal 9", 1, 30));
	cr_expect_eq(count_in(s.log, "; removed '"), 1);
	cr_expect_eq(dumps_in(s.dumps, names, &temps, NULL), 0);
	cr_expect_eq(temps, 0, "the killed child's temporary file stayed");
	kill(s.pid, SIGUSR1);
	cr_assert(wait_count(s.log, "dump written", 1, 30), "no dump after the killed one");
#ifdef HS_TEST_HEAPSNAP
	char *out, want[128];
	cr_expect_eq(trigger(s.top, s.pid, "--wait", "0.01", &out), 1);
	snprintf(want, sizeof(want), "no new dump from process %ld within 0.01 s", (long)s.pid);
	cr_expect(out && strstr(out, want), "trigger said: %s", out);
	free(out);
	cr_assert(wait_count(s.log, "dump written", 2, 30), "the triggered dump did not come");
	cr_expect_eq(dumps_in(s.dumps, names, &temps, NULL), 2);
	unlink(names[1]);
#endif
	svc_stop(&s);
	cr_assert_eq(dumps_in(s.dumps, names, &temps, NULL), 1);
	expect_dump(names[0], s.pid, "fork", 3000000);
	t_rmdir(s.top);
}

/* ---- unmodified programs (trig_plain.py) ------------------------------- */

/* Runs trig_plain.py blocked the given way, via 'python -m heapsnap run'
 * (env NULL) or the HEAPSNAP variable; signals it, then ^C. */
static void plain(const char *how, int by_env)
{
	char *top = t_mkdir();
	char dumps[512], ready[512], log[512], script[512], userbase[512], site[700],
	     spec[600], state[128];
	snprintf(dumps, sizeof(dumps), "%s/dumps", top);
	snprintf(ready, sizeof(ready), "%s/ready", top);
	snprintf(log, sizeof(log), "%s/plain.log", top);
	snprintf(script, sizeof(script), "%s/trig_plain.py", HS_TEST_SCRIPTS);
	struct env e = { 0 };
	pid_t pid;
	if (by_env) {
		/* a user site-packages holding the .pth, as pip installs it */
		snprintf(userbase, sizeof(userbase), "%s/ub", top);
		snprintf(site, sizeof(site), "%s/lib/python%s/site-packages", userbase,
		         HS_TEST_PYVER);
		char cmd[2048];
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && cp '%s' '%s/'", site, HS_TEST_PTH, site);
		cr_assert_eq(system(cmd), 0);
		snprintf(spec, sizeof(spec), "signal=USR1,dir=%s", dumps);
		e.heapsnap = spec;
		e.userbase = userbase;
		char *argv[] = { HS_TEST_PYTHON, script, ready, (char *)how, NULL };
		pid = t_spawn(log, argv, setup, &e);
	} else {
		char *argv[] = { HS_TEST_PYTHON, "-m", "heapsnap", "run", "--dir", dumps,
		                 script, ready, (char *)how, NULL };
		pid = t_spawn(log, argv, setup, &e);
	}
	cr_assert(wait_file(ready, 30), "%s did not start", how);
	snprintf(state, sizeof(state), "/tmp/heapsnap-%u/%ld", (unsigned)geteuid(), (long)pid);
	cr_expect(wait_file(state, 5), "no state file '%s'", state);
	sleep_ms(300); /* blocked by now */
	kill(pid, SIGUSR1);
	cr_assert(wait_count(log, "dump written", 1, 30), "%s: no dump", how);
	kill(pid, SIGINT);
	cr_expect_eq(wait_exit(pid, 30), 0, "%s: exit", how);
	expect_prompt(log, 100);
	char names[MAX_DUMPS][512];
	size_t temps;
	cr_assert_eq(dumps_in(dumps, names, &temps, NULL), 1);
	cr_expect(strstr(names[0], "/trig_plain-"), "dump name '%s'", names[0]);
	expect_dump(names[0], pid, "fork", 50000);
	cr_expect(access(state, F_OK) < 0, "the state file stayed after exit");
	t_rmdir(top);
}

#ifdef HS_TEST_HEAPSNAP
Test(triggers, trigger_command, .timeout = 60)
{
	char *top = t_mkdir();
	char dumps[512], ready[512], log[512], script[512], want[128];
	snprintf(dumps, sizeof(dumps), "%s/dumps", top);
	snprintf(ready, sizeof(ready), "%s/ready", top);
	snprintf(log, sizeof(log), "%s/plain.log", top);
	snprintf(script, sizeof(script), "%s/trig_plain.py", HS_TEST_SCRIPTS);
	char *argv[] = { HS_TEST_PYTHON, "-m", "heapsnap", "run", "--dir", dumps,
	                 script, ready, "sleep", NULL };
	struct env e = { 0 };
	pid_t pid = t_spawn(log, argv, setup, &e);
	cr_assert(wait_file(ready, 30));
	char *out;
	int rc = trigger(top, pid, "--wait", NULL, &out);
	cr_assert_eq(rc, 0, "trigger --wait: %s", out);
	char path[512];
	snprintf(path, sizeof(path), "%s", out);
	path[strcspn(path, "\n")] = '\0';
	free(out);
	expect_dump(path, pid, "fork", 50000);

	cr_expect_eq(trigger(top, pid, NULL, NULL, &out), 0);
	cr_expect(out && strstr(out, "sent signal 10 "), "trigger said: %s", out);
	free(out);
	cr_expect(wait_count(log, "dump written", 2, 30), "no dump after 'trigger' alone");

	kill(pid, SIGINT);
	cr_expect_eq(wait_exit(pid, 30), 0);
	snprintf(want, sizeof(want), "no process %ld", (long)pid);
	cr_expect_eq(trigger(top, pid, "--wait", NULL, &out), 1);
	cr_expect(out && strstr(out, want), "trigger said: %s", out);
	free(out);
	/* this test process has none */
	snprintf(want, sizeof(want), "process %ld has no heapsnap handler installed",
	         (long)getpid());
	cr_expect_eq(trigger(top, getpid(), "--wait", NULL, &out), 1);
	cr_expect(out && strstr(out, want), "trigger said: %s", out);
	free(out);
	cr_expect_eq(trigger(top, 1, "5", NULL, &out), 2, "SECONDS without --wait");
	free(out);
	t_rmdir(top);
}

/* The path in the "files" array of trigger --json's output, or "". */
static void json_file(const char *out, char *path, size_t len)
{
	const char *p = out ? strstr(out, "\"files\":[\"") : NULL;
	path[0] = '\0';
	if (p)
		snprintf(path, len, "%.*s", (int)strcspn(p + 10, "\""), p + 10);
}

Test(triggers, trigger_json, .timeout = 60)
{
	char *top = t_mkdir();
	char dumps[512], ready[512], log[512], script[512], want[1200], path[512];
	snprintf(dumps, sizeof(dumps), "%s/dumps", top);
	snprintf(ready, sizeof(ready), "%s/ready", top);
	snprintf(log, sizeof(log), "%s/plain.log", top);
	snprintf(script, sizeof(script), "%s/trig_plain.py", HS_TEST_SCRIPTS);
	char *argv[] = { HS_TEST_PYTHON, "-m", "heapsnap", "run", "--dir", dumps,
	                 script, ready, "sleep", NULL };
	struct env e = { 0 };
	pid_t pid = t_spawn(log, argv, setup, &e);
	cr_assert(wait_file(ready, 30));
	char *out;
	cr_assert_eq(trigger(top, pid, "--wait", "--json", &out), 0, "trigger said: %s", out);
	snprintf(want, sizeof(want), "}],\"pid\":%ld,\"signal\":10,\"dir\":\"%s\","
	         "\"files\":[\"%s/trig_plain-", (long)pid, dumps, dumps);
	cr_expect(out && strstr(out, want), "trigger --json said: %s", out);
	json_file(out, path, sizeof(path));
	free(out);
	expect_dump(path, pid, "fork", 50000);
	cr_expect_eq(trigger(top, pid, "--json", NULL, &out), 0);
	snprintf(want, sizeof(want), "\"dir\":\"%s\",\"files\":[]}", dumps);
	cr_expect(out && strstr(out, want), "trigger --json said: %s", out);
	free(out);
	cr_expect(wait_count(log, "dump written", 2, 30), "no dump after 'trigger --json'");
	kill(pid, SIGINT);
	cr_expect_eq(wait_exit(pid, 30), 0);

	/* a handler that writes a newer state file: named, not mistaken for none */
	char sdir[64], state[128];
	snprintf(sdir, sizeof(sdir), "/tmp/heapsnap-%u", (unsigned)geteuid());
	snprintf(state, sizeof(state), "%s/%ld", sdir, (long)getpid());
	mkdir(sdir, 0700);
	FILE *f = fopen(state, "w");
	cr_assert(f, "cannot write '%s'", state);
	fprintf(f, "heapsnap-handler 2\npid %ld\nsignal 10\ndir %s\n", (long)getpid(), dumps);
	fflush(f);
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	cr_assert_eq(fcntl(fileno(f), F_SETLK, &lk), 0);
	int rc = trigger(top, getpid(), "--wait", NULL, &out);
	unlink(state);
	fclose(f);
	snprintf(want, sizeof(want), "process %ld has a heapsnap handler of state version 2; "
	         "this heapsnap reads version 1", (long)getpid());
	cr_expect_eq(rc, 1);
	cr_expect(out && strstr(out, want), "trigger said: %s", out);
	free(out);
	t_rmdir(top);
}

/* A service in a container: its own /tmp (mount namespace), pid 1 (pid
 * namespace) and uid 1000 (user namespace). trigger finds its state file
 * and its dumps through /proc/PID/root. */
Test(triggers, trigger_in_other_namespaces, .timeout = 60)
{
	if (geteuid() != 0 ||
	    system("unshare -m -p -f sh -c 'mount -t tmpfs tmpfs /tmp && "
	           "exec unshare --map-user=1000 true' >/dev/null 2>&1") != 0)
		cr_skip_test("needs root and unshare(1) able to make namespaces");
	char *top = t_mkdir();
	char log[512], script[512], inner[4096], ready[128], want[600], path[512];
	/* The build and source trees may be under /tmp themselves (a clone
	 * there): the old /tmp is kept at `keep` and they are bound back
	 * into the new one. */
	char keep[] = "/var/tmp/hsns-XXXXXX";
	cr_assert(mkdtemp(keep));
	snprintf(log, sizeof(log), "%s/ns.log", top);
	snprintf(script, sizeof(script), "%s/trig_plain.py", HS_TEST_SCRIPTS);
	snprintf(inner, sizeof(inner), "mount --bind /tmp '%s' && mount -t tmpfs tmpfs /tmp && "
	         "for d in '%s' '%s'; do case $d in /tmp/*) mkdir -p \"$d\" && "
	         "mount --bind '%s'\"${d#/tmp}\" \"$d\";; esac; done && exec unshare "
	         "--map-user=1000 --map-group=1000 '%s' -m heapsnap run --dir /tmp/dumps "
	         "'%s' /tmp/ready sleep", keep, HS_TEST_PYPATH, HS_TEST_SCRIPTS, keep,
	         HS_TEST_PYTHON, script);
	char *argv[] = { "/bin/sh", "-c", "exec unshare -m -p -f /bin/sh -c \"$1\"", "sh",
	                 inner, NULL };
	struct env e = { 0 };
	pid_t outer = t_spawn(log, argv, setup, &e), pid = 0;
	cr_assert_gt(outer, 0);
	for (double end = now() + 10; now() < end && !pid; sleep_ms(10))
		children_of(outer, &pid);
	cr_assert_gt(pid, 0, "unshare started no process");
	snprintf(ready, sizeof(ready), "/proc/%ld/root/tmp/ready", (long)pid);
	int up = wait_file(ready, 30);
	char *text = up ? NULL : t_slurp(log, NULL);
	cr_assert(up, "the service did not start:\n%s", text ? text : "");

	char *out;
	cr_assert_eq(trigger(top, pid, "--wait", "--json", &out), 0, "trigger said: %s", out);
	snprintf(want, sizeof(want), "\"dir\":\"/proc/%ld/root/tmp/dumps\","
	         "\"files\":[\"/proc/%ld/root/tmp/dumps/trig_plain-", (long)pid, (long)pid);
	cr_expect(out && strstr(out, want), "trigger --json said: %s", out);
	json_file(out, path, sizeof(path));
	free(out);
	/* the dumper's own pid is 1 */
	expect_dump(path, 1, "fork", 50000);
	cr_expect_eq(trigger(top, pid, NULL, NULL, &out), 0);
	snprintf(want, sizeof(want), "its dumps go to '/proc/%ld/root/tmp/dumps'", (long)pid);
	cr_expect(out && strstr(out, want), "trigger said: %s", out);
	free(out);
	cr_expect(wait_count(log, "dump written", 2, 30), "no dump after 'trigger' alone");
	kill(pid, SIGINT);
	cr_expect_eq(wait_exit(outer, 30), 0);
	rmdir(keep);
	t_rmdir(top);
}

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks. */
static uint64_t start_ticks(pid_t pid)
{
	char path[64];
	unsigned long long ticks = 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	char *stat = t_slurp(path, NULL);
	char *close = stat ? strrchr(stat, ')') : NULL;
	if (!close || sscanf(close + 1, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s"
	                                " %*s %*s %*s %*s %*s %llu", &ticks) != 1)
		ticks = 0;
	free(stat);
	return ticks;
}

/* A prefork master (trig_prefork.py) whose two workers run the handler:
 * 'trigger MASTER --wait' dumps each (and the master when it has a
 * handler too), one complete file per line, each of its own process. */
static void prefork(int workers_only)
{
	char *top = t_mkdir();
	char dumps[512], ready[512], log[512], script[512];
	snprintf(dumps, sizeof(dumps), "%s/dumps", top);
	snprintf(ready, sizeof(ready), "%s/ready", top);
	snprintf(log, sizeof(log), "%s/prefork.log", top);
	snprintf(script, sizeof(script), "%s/trig_prefork.py", HS_TEST_SCRIPTS);
	char *argv[] = { HS_TEST_PYTHON, script, dumps, ready,
	                 workers_only ? "--workers-only" : NULL, NULL };
	struct env e = { 0 };
	pid_t master = t_spawn(log, argv, setup, &e);
	int up = wait_file(ready, 30);
	char *text = t_slurp(up ? ready : log, NULL);
	long w1 = 0, w2 = 0;
	cr_assert(up && text && sscanf(text, "workers %ld %ld", &w1, &w2) == 2,
	          "the service did not start:\n%s", text ? text : "");
	free(text);
	long want[3] = { w1, w2, master };
	int nwant = workers_only ? 2 : 3;

	char *out;
	int rc = trigger(top, master, "--wait", NULL, &out);
	cr_assert_eq(rc, 0, "trigger --wait: %s", out);
	int lines = 0, seen[3] = { 0 };
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
		struct t_dump d;
		char err[512];
		cr_assert_eq(t_load(&d, line, err, sizeof(err)), 0, "%s", err);
		cr_expect(d.complete, "'%s' is incomplete", line);
		long pid = (long)t_meta_uint(&d, "pid");
		int k = 0;
		while (k < nwant && want[k] != pid)
			k++;
		cr_assert_lt(k, nwant, "'%s' is a dump of pid %ld", line, pid);
		seen[k]++;
		/* the worker's own start, not its dump child's */
		cr_expect_eq(t_meta_uint(&d, "process.start_ticks"), start_ticks((pid_t)pid),
		             "start of pid %ld in '%s'", pid, line);
		cr_expect_str_eq(t_meta_str(&d, "trigger"), "signal");
		t_free(&d);
	}
	cr_expect_eq(lines, nwant, "trigger printed %d files", lines);
	for (int k = 0; k < nwant; k++)
		cr_expect_eq(seen[k], 1, "pid %ld: %d dumps", want[k], seen[k]);
	free(out);

	rc = trigger(top, master, "--wait", "--json", &out);
	cr_assert_eq(rc, 0, "trigger --wait --json: %s", out);
	int files = 0;
	for (char *p = out ? strstr(out, "\"files\":[") : NULL; p && (p = strstr(p, ".hsnap\""));
	     p += 7)
		files++;
	char first[64];
	/* the master first, else its workers by pid */
	snprintf(first, sizeof(first), "{\"processes\":[{\"pid\":%ld,",
	         !workers_only ? (long)master : w1 < w2 ? w1 : w2);
	cr_expect(out && !strncmp(out, first, strlen(first)), "trigger --json said: %s", out);
	cr_expect_eq(files, nwant, "trigger --json said: %s", out);
	free(out);

	kill(master, SIGINT);
	cr_expect_eq(wait_exit(master, 30), 0);
	t_rmdir(top);
}

Test(triggers, trigger_prefork_master_and_workers, .timeout = 60)
{
	prefork(0);
}

Test(triggers, trigger_prefork_workers_only, .timeout = 60)
{
	prefork(1);
}
#endif

Test(triggers, run_while_sleeping, .timeout = 60)
{
	plain("sleep", 0);
}

Test(triggers, run_while_waiting_for_a_lock, .timeout = 60)
{
	plain("lock", 0);
}

Test(triggers, environment_while_in_epoll, .timeout = 60)
{
	plain("select", 1);
}

/* ---- install() from Python (trig_install.py) --------------------------- */

Test(triggers, install_periodic_rss_prefork_and_back, .timeout = 60)
{
	char *dir = t_mkdir();
	cr_expect_eq(t_python(dir, "trig_install.py", dir, NULL), 0);
	t_rmdir(dir);
}
