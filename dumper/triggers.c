/*
 * triggers.c - what starts a dump of a live service: a signal, an RSS
 * threshold, a timer (heapsnap.install).
 *
 * The signal handler only writes the signal's time to a pipe (both are
 * async-signal-safe). A watcher thread, blocked in poll() on that pipe,
 * takes the GIL - which a main thread blocked in epoll, a lock or sleep
 * has released, and one running bytecode gives up within the switch
 * interval - and dumps: in a fork()ed child (fork.c) or in this process.
 * The eval loop's own signal machinery would wait for the main thread to
 * run bytecode again, which a blocked service may not do for minutes.
 * One thread takes every dump, so dumps never overlap; the signals that
 * arrive during one are coalesced into one more dump after it.
 */
#include "internal.h"
#include "triggers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NS 1000000000LL
#define RSS_POLL_NS NS          /* how often the RSS is read */
#define RSS_STEP(x) ((x) + (x) / 2 + 1)  /* the next threshold: x 1.5 */
#define GC_WAIT_NS (10 * NS)    /* then the dump fails with EBUSY */

static struct {
	/* what install() asked for: fixed while the watcher runs */
	char *dir, *program, *signame;
	int signum, fork, keep, values;
	uint64_t rss_limit;
	double interval;
	/* this process's handler */
	int installed;
	pthread_t thread;
	int wake[2];                /* the watcher's pipe: read, write end */
	atomic_int stopping;
	struct sigaction old;       /* the signal's action before ours */
	char prefix[200];           /* "<program>-<host>-<pid>-" */
	unsigned seq;
	struct hsd_state state;
	struct hsd_kept kept;       /* this process's dumps, for keep=N */
	struct hsd_child child;     /* the dump child while one runs */
} T = { .wake = { -1, -1 }, .state = { .fd = -1 }, .child = { 0, -1 } };

/* The handler's copy of the pipe's write end (-1 when not installed), and
 * the process it belongs to: a child of os.fork() shares the pipe until
 * its at-fork hook gives it one, and its signals are not its parent's. */
static volatile sig_atomic_t wake_fd = -1;
static volatile pid_t wake_pid;

static int64_t now_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

void hsd_log(const char *fmt, ...)
{
	char buf[2048];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "heapsnap: ");
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (m > 0)
		n += (size_t)m < sizeof(buf) - n - 1 ? (size_t)m : sizeof(buf) - n - 2;
	buf[n++] = '\n';
	ssize_t w = write(2, buf, n);
	(void)w;
}

/* Async-signal-safe: getpid, clock_gettime and write only. A full pipe
 * drops the signal, which is then coalesced with the thousands before it. */
static void on_signal(int sig)
{
	(void)sig;
	int saved = errno;
	int fd = wake_fd;
	if (fd >= 0 && wake_pid == getpid()) {
		int64_t t = now_ns(CLOCK_MONOTONIC);
		ssize_t w = write(fd, &t, sizeof(t));
		(void)w;
	}
	errno = saved;
}

/* Why a dump is taken, for its metadata and the log line. */
struct why {
	const char *trigger;  /* "signal", "interval", "rss" */
	int64_t signal_ns;    /* CLOCK_MONOTONIC of the first signal, or 0 */
	unsigned signals;     /* how many this dump answers */
	uint64_t rss, limit;  /* bytes, for "rss" */
};

/* Empties the pipe into w: the signals in it and the earliest one's time.
 * A zero entry only wakes the watcher (uninstall). */
static void drain(struct why *w)
{
	int64_t buf[64];
	ssize_t n;
	while ((n = read(T.wake[0], buf, sizeof(buf))) > 0) {
		for (size_t i = 0; i < (size_t)n / sizeof(buf[0]); i++) {
			if (!buf[i])
				continue;
			if (!w->signal_ns || buf[i] < w->signal_ns)
				w->signal_ns = buf[i];
			w->signals++;
		}
	}
}

static void describe(const struct why *w, int64_t start, char *buf, size_t len)
{
	const char *name = T.signame ? T.signame : "signal";
	if (w->signals > 1)
		snprintf(buf, len, "on %u %s coalesced, the first %.0f ms before", w->signals,
		         name, (double)(start - w->signal_ns) / 1e6);
	else if (w->signals)
		snprintf(buf, len, "on %s after %.0f ms", name,
		         (double)(start - w->signal_ns) / 1e6);
	else if (w->rss)
		snprintf(buf, len, "RSS %.0f MiB over %.0f MiB", (double)w->rss / 1048576,
		         (double)w->limit / 1048576);
	else
		snprintf(buf, len, "periodic");
}

/* One dump. The GIL is held from the moment the watcher gets it until
 * fork() returns (fork mode) or the dump ends (in process): that is the
 * service's pause. The signals that came while the watcher waited for
 * the GIL are answered by this dump: it begins after them. */
static void take(struct why *w)
{
	char path[PATH_MAX], err[HSD_MSG + PATH_MAX], cause[96], limit[32];
	struct hs_dump_result res;
	int rc;

	PyGILState_STATE g = PyGILState_Ensure();
	int64_t busy_until = now_ns(CLOCK_MONOTONIC) + GC_WAIT_NS, paused = 0;
	/* a collection lets other threads take the GIL while its finalizers
	 * run, its lists half sorted: the heap can be walked once it ends */
	while (PyInterpreterState_Get()->gc.collecting &&
	       now_ns(CLOCK_MONOTONIC) < busy_until) {
		PyGILState_Release(g);
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
		g = PyGILState_Ensure();
	}
	if (atomic_load(&T.stopping)) {
		PyGILState_Release(g);
		return;
	}
	int64_t start = now_ns(CLOCK_MONOTONIC);
	drain(w);
	if (w->signals)
		w->trigger = "signal";
	int64_t began = now_ns(CLOCK_REALTIME);
	snprintf(limit, sizeof(limit), "%llu", (unsigned long long)w->limit);
	const char *meta[] = { "trigger", w->trigger, "mode",
	                       T.fork ? "fork" : "in-process",
	                       w->rss ? "rss.limit" : NULL, limit, NULL };
	struct hs_dump_opts opts = { .values = T.values, .meta = meta,
	                             .pid = (long)getpid(), .ppid = (long)getppid() };
	if (hsd_name_dump(path, sizeof(path), T.dir, T.prefix, (time_t)(began / NS),
	                  ++T.seq) < 0) {
		PyGILState_Release(g);
		snprintf(err, sizeof(err), "the path of a dump in '%s' is too long", T.dir);
		rc = ENAMETOOLONG;
	} else if (T.fork) {
		rc = hsd_fork_dump(&T.child, path, &opts, T.signum, err, sizeof(err));
		paused = now_ns(CLOCK_MONOTONIC) - start;
		PyGILState_Release(g);
		if (!rc)
			rc = hsd_fork_wait(&T.child, path, &res, err, sizeof(err));
		T.child.pid = 0;
	} else {
		rc = hs_dump_path(path, &opts, &res, err, sizeof(err));
		paused = now_ns(CLOCK_MONOTONIC) - start;
		PyGILState_Release(g);
	}

	char msg[HSD_MSG];
	describe(w, start, cause, sizeof(cause));
	if (rc) {
		hsd_log("dump failed: %s", err);
	} else {
		hsd_log("dump written to '%s' (%llu objects, %.1f MiB, %.2f s, %.0f MiB of "
		        "tables; %s; service paused %.1f ms)", path,
		        (unsigned long long)res.objects, (double)res.bytes / 1048576,
		        res.seconds, (double)res.extra_bytes / 1048576, cause,
		        (double)paused / 1e6);
		if (hsd_keep(&T.kept, path, T.keep, msg, sizeof(msg)) < 0)
			hsd_log("%s", msg);
	}
	if (hsd_state_last(&T.state, !rc, (long long)began, rc ? err : path, msg,
	                   sizeof(msg)) < 0)
		hsd_log("%s", msg);
}

static int poll_timeout(int64_t due)
{
	if (due == INT64_MAX)
		return -1;
	int64_t left = due - now_ns(CLOCK_MONOTONIC);
	if (left <= 0)
		return 0;
	return left / 1000000 >= INT32_MAX ? INT32_MAX : (int)(left / 1000000) + 1;
}

static void *watch(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "heapsnap");
	int64_t every = (int64_t)(T.interval * 1e9);
	int64_t next_tick = every ? now_ns(CLOCK_MONOTONIC) + every : 0;
	int64_t next_rss = T.rss_limit ? now_ns(CLOCK_MONOTONIC) : 0;
	uint64_t limit = T.rss_limit;
	while (!atomic_load(&T.stopping)) {
		int64_t due = INT64_MAX;
		if (next_tick && next_tick < due)
			due = next_tick;
		if (next_rss && next_rss < due)
			due = next_rss;
		struct pollfd p = { T.wake[0], POLLIN, 0 };
		if (poll(&p, 1, poll_timeout(due)) < 0 && errno != EINTR) {
			hsd_log("dumps stopped: poll failed: %s", strerror(errno));
			break;
		}
		struct why w = { 0 };
		drain(&w);
		if (atomic_load(&T.stopping))
			break;
		int64_t now = now_ns(CLOCK_MONOTONIC);
		if (w.signals) {
			w.trigger = "signal";
		} else if (next_tick && now >= next_tick) {
			w.trigger = "interval";
		} else if (next_rss && now >= next_rss) {
			next_rss = now + RSS_POLL_NS;
			w.rss = hsd_rss_bytes();
			w.limit = limit;
			if (w.rss >= limit)
				w.trigger = "rss";
		}
		if (!w.trigger)
			continue;
		take(&w);
		/* the next step above what the service uses now, failed or not */
		while (w.rss && limit <= w.rss && limit < UINT64_MAX / 2)
			limit = RSS_STEP(limit);
		if (next_tick)
			next_tick = now_ns(CLOCK_MONOTONIC) + every;
	}
	return NULL;
}

/* Gives the signal its action before install() back, if it is still ours:
 * signal.signal() may have replaced it since. */
static void restore_signal(void)
{
	struct sigaction cur;
	if (T.signum && sigaction(T.signum, NULL, &cur) == 0 && cur.sa_handler == on_signal)
		sigaction(T.signum, &T.old, NULL);
}

static void stop(int restore);

/* Opens the pipe, starts the watcher, handles the signal and writes the
 * state file, for the configuration in T. A handler of ours already there
 * (a new install(), a child of os.fork()) stays: the signal is never left
 * to its default action, which would end the service. */
static int start(char *err, size_t errlen)
{
	int code = 0;
	atomic_store(&T.stopping, 0);
	if (pipe2(T.wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		code = errno;
		snprintf(err, errlen, "cannot make the signal pipe: %s", strerror(code));
		goto fail;
	}
	/* every signal goes to the service's threads: one blocked in a system
	 * call must see its EINTR (^C during time.sleep) */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	code = pthread_create(&T.thread, NULL, watch, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (code) {
		snprintf(err, errlen, "cannot start the watcher thread: %s", strerror(code));
		goto fail;
	}
	T.installed = 1;
	wake_pid = getpid();
	wake_fd = T.wake[1];
	if (T.signum) {
		struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART }, cur;
		sigemptyset(&sa.sa_mask);
		if (sigaction(T.signum, NULL, &cur) < 0 ||
		    (cur.sa_handler != on_signal && sigaction(T.signum, &sa, &T.old) < 0)) {
			code = errno;
			snprintf(err, errlen, "cannot handle signal %d: %s", T.signum,
			         strerror(code));
			stop(1);
			return code;
		}
	}
	char msg[HSD_MSG];
	if (hsd_state_init(&T.state, T.signum, T.dir, msg, sizeof(msg)) < 0)
		hsd_log("%s; 'heapsnap trigger' will not find process %ld", msg,
		        (long)getpid());
	return 0;
fail:
	restore_signal();
	for (int i = 0; i < 2; i++) {
		if (T.wake[i] >= 0)
			close(T.wake[i]);
		T.wake[i] = -1;
	}
	return code;
}

/* Stops the watcher (a dump in progress ends first; it may need the GIL,
 * which the caller holds) and removes the state file; with restore, gives
 * the signal back. */
static void stop(int restore)
{
	if (restore)
		restore_signal();
	atomic_store(&T.stopping, 1);
	int64_t wake = 0;
	ssize_t w = write(T.wake[1], &wake, sizeof(wake));
	(void)w;
	Py_BEGIN_ALLOW_THREADS
	pthread_join(T.thread, NULL);
	Py_END_ALLOW_THREADS
	wake_fd = -1;
	close(T.wake[0]);
	close(T.wake[1]);
	T.wake[0] = T.wake[1] = -1;
	hsd_state_remove(&T.state);
	T.installed = 0;
}

static void forget_config(void)
{
	hsd_kept_free(&T.kept);
	free(T.dir);
	free(T.program);
	free(T.signame);
	T.dir = T.program = T.signame = NULL;
}

int hsd_trig_install(const struct hsd_trig_config *cfg, char *err,
                     size_t errlen)
{
	if (T.installed)
		stop(T.signum != cfg->signum);
	forget_config();
	T.dir = strdup(cfg->dir);
	T.program = strdup(cfg->program);
	T.signame = cfg->signame ? strdup(cfg->signame) : NULL;
	T.signum = cfg->signum;
	if (!T.dir || !T.program || (cfg->signame && !T.signame)) {
		snprintf(err, errlen, "out of memory");
		restore_signal();
		forget_config();
		return ENOMEM;
	}
	T.fork = cfg->fork;
	T.keep = cfg->keep;
	T.values = cfg->values;
	T.rss_limit = cfg->rss_limit;
	T.interval = cfg->interval;
	hsd_name_prefix(T.prefix, sizeof(T.prefix), T.program, getpid());
	int code = start(err, errlen);
	if (code)
		forget_config();
	return code;
}

void hsd_trig_uninstall(void)
{
	if (T.installed)
		stop(1);
	forget_config();
}

int hsd_trig_after_fork(char *err, size_t errlen)
{
	if (!T.installed)
		return 0;
	/* the parent's: its watcher did not survive fork(), its pipe, dump
	 * child and state file are not ours to use or remove */
	wake_fd = -1;
	close(T.wake[0]);
	close(T.wake[1]);
	T.wake[0] = T.wake[1] = -1;
	if (T.child.report >= 0)
		close(T.child.report);
	T.child.pid = 0;
	T.child.report = -1;
	if (T.state.fd >= 0)
		close(T.state.fd);
	T.state.fd = -1;
	T.state.path[0] = '\0';
	hsd_kept_free(&T.kept);
	T.installed = 0;
	T.seq = 0;
	hsd_name_prefix(T.prefix, sizeof(T.prefix), T.program, getpid());
	int code = start(err, errlen);
	if (code)
		forget_config();
	return code;
}
