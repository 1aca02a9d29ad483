/*
 * inject.c - 'heapsnap attach' (inject.h): ptrace, the injected fork() and
 * the payload's run in the copy.
 *
 * Safety: the service itself only ever executes one injected fork() (and,
 * once the copy is gone, one wait4() that reaps it), each in a thread that
 * was stopped by ptrace and gets its registers back, an interrupted system
 * call restarted by the kernel. Loading code and walking the heap happen in the copy,
 * which the kernel kills with this process (PTRACE_O_EXITKILL) and which
 * is killed at the deadline. Consistency: the fork happens while every
 * thread is stopped and the GIL is free, or just after its holder released
 * it at a bytecode boundary (caught by a hardware watchpoint on the GIL's
 * `locked` field; the holder then still holds the GIL's mutex, so nobody
 * can take it before the fork).
 */
#include "inject.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "attach.h"
#include "elfsym.h"

#define DEFAULT_TIMEOUT 30.0
#define AREA_SIZE (8u << 20)   /* the copy's stack and our arguments */
#define COPY_MIN_TIME 5.0      /* a copy always gets this long to dump */
#define MAX_TRIES 5
#define RTLD_NOW_ 2

struct thr {
	pid_t tid;
	int stopped;
	int sig;        /* signal to deliver when it resumes */
	int armed;      /* watchpoint set */
	int trapped;    /* stopped by the watchpoint */
	int in_clone;   /* stopped at its clone event, inside the system call */
};

/* What is known of the target before touching it. */
struct target {
	pid_t pid;
	char comm[32];
	uint64_t hexversion;
	char version[32];
	uint64_t runtime;        /* &_PyRuntime */
	int64_t tss_offset;      /* _Py_tss_tstate in the TLS block, or -1 */
	uint64_t dlopen, dlerror, libc_dlopen_mode, syscall_insn;
	struct hs_attach_layout lay;
	uint64_t entry_off;      /* hs_attach_main in the payload */
	char payload[4096];
	long ppid;
};

struct tracer {
	struct target *tg;
	struct thr *t;
	size_t n, cap;
	int mem;                 /* /proc/PID/mem */
	int sigfd;               /* SIGCHLD: a tracee stopped */
	int gone;                /* the process exited */
	double deadline;
	double stop_at;          /* when the threads last began to stop */
	double pause;            /* longest stop that ended, s */
	uint64_t watch;          /* the watched address, while threads are armed */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the target, read from /proc and its files -------------------------- */

static void permission_error(pid_t pid, int code, char *err, size_t errlen);

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

static int peek(int mem, uint64_t addr, void *buf, size_t len)
{
	return pread(mem, buf, len, (off_t)addr) == (ssize_t)len ? 0 : -1;
}

static int poke(int mem, uint64_t addr, const void *buf, size_t len)
{
	return pwrite(mem, buf, len, (off_t)addr) == (ssize_t)len ? 0 : -1;
}

static int open_mem(pid_t pid, int flags)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/mem", (long)pid);
	return open(path, flags | O_CLOEXEC);
}

struct mapping {
	uint64_t start, end, offset;
	char perms[8];
	char path[4096];
};

/* Calls fn for each line of /proc/PID/maps naming a file; stops at a
 * non-zero return, which it returns. */
static int each_mapping(pid_t pid, int (*fn)(const struct mapping *, void *), void *arg)
{
	char path[64], line[4300];
	snprintf(path, sizeof(path), "/proc/%ld/maps", (long)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int rc = 0;
	struct mapping m;
	while (!rc && fgets(line, sizeof(line), f)) {
		int off = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %n", &m.start, &m.end,
		           m.perms, &m.offset, &off) < 4 || !off || line[off] != '/')
			continue;
		snprintf(m.path, sizeof(m.path), "%s", line + off);
		m.path[strcspn(m.path, "\n")] = '\0';
		rc = fn(&m, arg);
	}
	fclose(f);
	return rc;
}

/* A file the target maps, opened from here: through /proc/PID/root (its
 * mount namespace), or map_files when it was deleted since. */
static int open_mapped(pid_t pid, const struct mapping *m, struct hs_elf *e,
                       char *err, size_t errlen)
{
	char path[4200];
	const char *del = strstr(m->path, " (deleted)");
	if (del)
		snprintf(path, sizeof(path), "/proc/%ld/map_files/%lx-%lx", (long)pid,
		         m->start, m->end);
	else
		snprintf(path, sizeof(path), "/proc/%ld/root%s", (long)pid, m->path);
	return hs_elf_open(e, path, err, errlen);
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

struct scan {
	struct target *tg;
	char python_file[4096];   /* file defining _PyRuntime */
	int have_version;         /* Py_Version found (3.11+) */
	int libc;                 /* a C library seen */
	char err[512];            /* why a mapped file could not be read */
	int err_code;
};

/* Load base of the file at m (its lowest mapping, offset 0). */
static uint64_t base_of(const struct hs_elf *e, const struct mapping *m)
{
	return e->shared ? m->start - e->first_vaddr : 0;
}

/* Finds a system call instruction in the file bytes behind an executable
 * mapping of the C library. */
static void find_syscall(struct scan *s, const struct hs_elf *e, const struct mapping *m)
{
	uint64_t len = m->end - m->start;
	if (m->offset > e->size)
		return;
	if (len > e->size - m->offset)
		len = e->size - m->offset;
	int64_t i = hs_arch_find_syscall(e->map + m->offset, len);
	if (i >= 0)
		s->tg->syscall_insn = m->start + (uint64_t)i;
}

static int scan_mapping(const struct mapping *m, void *arg)
{
	struct scan *s = arg;
	const char *b = base_name(m->path);
	int is_libc = !strncmp(b, "libc.so", 7) || !strncmp(b, "libc-", 5);
	int is_python = !strncmp(b, "python", 6) || !strncmp(b, "libpython", 9);
	if (!(is_libc && (m->offset == 0 || (m->perms[2] == 'x' && !s->tg->syscall_insn))) &&
	    !(is_python && m->offset == 0 && !s->python_file[0]))
		return 0;
	struct hs_elf e;
	if (open_mapped(s->tg->pid, m, &e, s->err, sizeof(s->err)) < 0) {
		s->err_code = errno;
		return 0;
	}
	uint64_t v;
	int type;
	if (is_libc && m->perms[2] == 'x') {
		find_syscall(s, &e, m);
	} else if (is_libc) {
		uint64_t base = base_of(&e, m);
		s->libc = 1;
		if (hs_elf_sym(&e, "dlopen", &v, NULL))
			s->tg->dlopen = base + v;
		if (hs_elf_sym(&e, "dlerror", &v, NULL))
			s->tg->dlerror = base + v;
		if (hs_elf_sym(&e, "__libc_dlopen_mode", &v, NULL))
			s->tg->libc_dlopen_mode = base + v;
	} else if (hs_elf_sym(&e, "_PyRuntime", &v, NULL)) {
		snprintf(s->python_file, sizeof(s->python_file), "%s", m->path);
		s->tg->runtime = base_of(&e, m) + v;
		/* a constant: the file has it */
		unsigned long hex;
		if (hs_elf_sym(&e, "Py_Version", &v, NULL) &&
		    hs_elf_read(&e, v, &hex, sizeof(hex)) == 0) {
			s->have_version = 1;
			s->tg->hexversion = hex;
		}
		if (hs_elf_sym(&e, "_Py_tss_tstate", &v, &type) && type == STT_TLS)
			s->tg->tss_offset = (int64_t)v;
	}
	hs_elf_close(&e);
	return 0;
}

void hs_attach_versions(const char *dir, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int minor = 11; minor <= 13; minor++) {
		char path[4200];
		snprintf(path, sizeof(path), "%s/heapsnap-attach-3.%d.so", dir, minor);
		if (access(path, R_OK) == 0 && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s3.%d", n ? ", " : "", minor);
	}
	if (!n)
		snprintf(buf, len, "none");
}

/* Everything about pid that needs no ptrace: its interpreter, version, C
 * library and the payload for it. */
static int find_target(pid_t pid, const char *dir, struct target *tg, char *err,
                       size_t errlen)
{
	char path[64], buf[512];
	memset(tg, 0, sizeof(*tg));
	tg->pid = pid;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (read_file(path, buf, sizeof(buf)) < 0) {
		snprintf(err, errlen, "no process %ld", (long)pid);
		return -1;
	}
	const char *rp = strrchr(buf, ')');
	if (!rp || sscanf(rp + 1, " %*c %ld", &tg->ppid) != 1)
		tg->ppid = 0;
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	if (read_file(path, tg->comm, sizeof(tg->comm)) == 0)
		tg->comm[strcspn(tg->comm, "\n")] = '\0';
	struct scan *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->tg = tg;
	tg->tss_offset = -1;
	int rc = -1;
	if (each_mapping(pid, scan_mapping, s) < 0) {
		if (errno == EACCES || errno == EPERM)
			permission_error(pid, errno, err, errlen);
		else
			snprintf(err, errlen, "cannot read the memory map of process %ld: %s",
			         (long)pid, strerror(errno));
		goto done;
	}
	if (!tg->runtime) {
		if (s->err_code == EACCES || s->err_code == EPERM)
			permission_error(pid, s->err_code, err, errlen);
		else
			snprintf(err, errlen, "process %ld (%s) is not a CPython process: "
			         "no _PyRuntime in its executable or libraries", (long)pid, tg->comm);
		goto done;
	}
	char have[64];
	hs_attach_versions(dir, have, sizeof(have));
	if (!s->have_version) {
		/* before 3.11: the version only shows in the file's name */
		const char *b = base_name(s->python_file), *p = strstr(b, "python");
		char v[16];
		snprintf(v, sizeof(v), "%s", p && p[6] ? p + 6 : "");
		size_t n = strspn(v, "0123456789.");
		while (n && v[n - 1] == '.')
			n--;
		v[n] = '\0';
		snprintf(err, errlen, "process %ld runs Python %s, which heapsnap attach "
		         "does not support (it has payloads for: %s)", (long)pid,
		         v[0] ? v : "older than 3.11", have);
		goto done;
	}
	unsigned long hex = tg->hexversion;
	snprintf(tg->version, sizeof(tg->version), "%lu.%lu.%lu", (hex >> 24) & 0xff,
	         (hex >> 16) & 0xff, (hex >> 8) & 0xff);
	snprintf(tg->payload, sizeof(tg->payload), "%s/heapsnap-attach-%lu.%lu.so", dir,
	         (hex >> 24) & 0xff, (hex >> 16) & 0xff);
	struct hs_elf pe;
	char why[512];
	if (hs_elf_open(&pe, tg->payload, why, sizeof(why)) < 0) {
		if (access(tg->payload, F_OK) < 0)
			snprintf(err, errlen, "process %ld runs Python %s; heapsnap attach has "
			         "payloads for %s only (in '%s')", (long)pid, tg->version, have, dir);
		else
			snprintf(err, errlen, "%s", why);
		goto done;
	}
	uint64_t lay = 0;
	int ok = hs_elf_sym(&pe, HS_ATTACH_LAYOUT_SYM, &lay, NULL) &&
	         hs_elf_read(&pe, lay, &tg->lay, sizeof(tg->lay)) == 0 &&
	         hs_elf_sym(&pe, HS_ATTACH_ENTRY_SYM, &tg->entry_off, NULL) &&
	         tg->lay.abi == HS_ATTACH_ABI;
	hs_elf_close(&pe);
	if (!ok || (tg->lay.hexversion >> 16) != (hex >> 16)) {
		snprintf(err, errlen, "'%s' is not a heapsnap attach payload for Python %s "
		         "of this build", tg->payload, tg->version);
		goto done;
	}
	if (!s->libc || !(tg->dlopen || tg->libc_dlopen_mode) || !tg->syscall_insn) {
		snprintf(err, errlen, "process %ld has no GNU C library with dlopen (musl "
		         "and static binaries are not supported)", (long)pid);
		goto done;
	}
	rc = 0;
done:
	free(s);
	return rc;
}

/* ---- ptrace ------------------------------------------------------------- */

static struct thr *thr_find(struct tracer *tr, pid_t tid)
{
	for (size_t i = 0; i < tr->n; i++)
		if (tr->t[i].tid == tid)
			return &tr->t[i];
	return NULL;
}

static struct thr *thr_add(struct tracer *tr, pid_t tid)
{
	if (tr->n == tr->cap) {
		size_t cap = tr->cap ? tr->cap * 2 : 16;
		struct thr *t = realloc(tr->t, cap * sizeof(*t));
		if (!t)
			return NULL;
		tr->t = t;
		tr->cap = cap;
	}
	struct thr *t = &tr->t[tr->n++];
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	return t;
}

static void thr_remove(struct tracer *tr, struct thr *t)
{
	*t = tr->t[--tr->n];
}

/* Why ptrace was refused, and what to do: one line. */
static void permission_error(pid_t pid, int code, char *err, size_t errlen)
{
	char scope[16] = "";
	read_file("/proc/sys/kernel/yama/ptrace_scope", scope, sizeof(scope));
	int s = scope[0] ? atoi(scope) : -1;
	struct stat st;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld", (long)pid);
	int other = stat(path, &st) == 0 && st.st_uid != geteuid();
	if (s == 3)
		snprintf(err, errlen, "cannot trace process %ld: %s; ptrace is disabled "
		         "(kernel.yama.ptrace_scope=3) until the next reboot", (long)pid,
		         strerror(code));
	else if (s == 2)
		snprintf(err, errlen, "cannot trace process %ld: %s; kernel.yama.ptrace_scope=2 "
		         "allows it only with CAP_SYS_PTRACE: run heapsnap attach as root",
		         (long)pid, strerror(code));
	else if (other)
		snprintf(err, errlen, "cannot trace process %ld: %s; it belongs to uid %ld: "
		         "run heapsnap attach as that user or as root (CAP_SYS_PTRACE)",
		         (long)pid, strerror(code), (long)st.st_uid);
	else if (s == 1)
		snprintf(err, errlen, "cannot trace process %ld: %s; kernel.yama.ptrace_scope=1 "
		         "lets only a parent trace: run heapsnap attach as root "
		         "(CAP_SYS_PTRACE) or set kernel.yama.ptrace_scope=0", (long)pid,
		         strerror(code));
	else
		snprintf(err, errlen, "cannot trace process %ld: %s; heapsnap attach needs "
		         "CAP_SYS_PTRACE (in a container: --cap-add=SYS_PTRACE)", (long)pid,
		         strerror(code));
}

/* Seizes every thread of the process, new ones included (they are then
 * seized by the kernel as they are created). */
static int seize_all(struct tracer *tr, char *err, size_t errlen)
{
	pid_t pid = tr->tg->pid;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	for (int added = 1; added;) {
		added = 0;
		DIR *d = opendir(path);
		if (!d) {
			tr->gone = 1;
			snprintf(err, errlen, "process %ld exited", (long)pid);
			return -1;
		}
		struct dirent *de;
		while ((de = readdir(d))) {
			pid_t tid = (pid_t)atol(de->d_name);
			if (tid <= 0 || thr_find(tr, tid))
				continue;
			if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)PTRACE_O_TRACECLONE) < 0) {
				/* gone; or, once a thread is ours, EPERM for one that
				 * is exiting or that the kernel attached to us already
				 * (born of a seized thread: its clone event and first
				 * stop are still to come) */
				if (errno == ESRCH || (errno == EPERM && tr->n))
					continue;
				int code = errno;
				closedir(d);
				permission_error(pid, code, err, errlen);
				return -1;
			}
			if (!thr_add(tr, tid)) {
				closedir(d);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			added = 1;
		}
		closedir(d);
	}
	if (!tr->n) {
		tr->gone = 1;
		snprintf(err, errlen, "process %ld exited", (long)pid);
		return -1;
	}
	return 0;
}

/* Records what waitpid said about tid. Returns the thread (NULL when it
 * is gone or unknown). */
static struct thr *note(struct tracer *tr, pid_t tid, int status)
{
	struct thr *t = thr_find(tr, tid);
	if (!t) {
		/* a clone's child can report before its parent's event */
		if (!WIFSTOPPED(status) || !(t = thr_add(tr, tid)))
			return NULL;
	}
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		thr_remove(tr, t);
		if (tid == tr->tg->pid || !tr->n)
			tr->gone = 1;
		return NULL;
	}
	t->stopped = 1;
	int event = status >> 16, sig = WSTOPSIG(status);
	t->in_clone = event == PTRACE_EVENT_CLONE;
	if (event == PTRACE_EVENT_CLONE) {
		unsigned long child = 0;
		if (ptrace(PTRACE_GETEVENTMSG, tid, NULL, &child) == 0 &&
		    !thr_find(tr, (pid_t)child))
			thr_add(tr, (pid_t)child);
		return thr_find(tr, tid);
	}
	if (event == 0 && sig == SIGTRAP && t->armed && hs_arch_watch_hit(tid)) {
		t->trapped = 1;
	} else if (event == 0) {
		t->sig = sig; /* delivered when it resumes */
	}
	return t;
}

/* Waits for tid's next stop (or end). Returns 0, -1 when it is gone. */
static int wait_thread(struct tracer *tr, pid_t tid)
{
	int status;
	pid_t w;
	while ((w = waitpid(tid, &status, __WALL)) < 0 && errno == EINTR)
		;
	if (w < 0) {
		struct thr *t = thr_find(tr, tid);
		if (t)
			thr_remove(tr, t);
		return -1;
	}
	return note(tr, tid, status) ? 0 : -1;
}

static void resume(struct tracer *tr, struct thr *t)
{
	(void)tr;
	if (ptrace(PTRACE_CONT, t->tid, NULL, (void *)(long)t->sig) == 0)
		t->sig = 0;
	t->stopped = 0;
}

/* Stops every thread; new threads are waited for too. */
static int stop_all(struct tracer *tr)
{
	for (size_t i = 0; i < tr->n; i++)
		if (!tr->t[i].stopped)
			ptrace(PTRACE_INTERRUPT, tr->t[i].tid, NULL, NULL);
	for (size_t i = 0; i < tr->n;) {
		struct thr *t = &tr->t[i];
		if (t->stopped && t->in_clone) {
			/* inside clone, whose result would overwrite registers set
			 * there for a fork: it stops again on its way out */
			resume(tr, t);
			ptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL);
		}
		if (t->stopped) {
			i++;
			continue;
		}
		pid_t tid = t->tid;
		if (wait_thread(tr, tid) < 0) {
			if (tr->gone)
				return -1;
			i = 0; /* the array moved */
		}
	}
	return 0;
}

static void resume_all(struct tracer *tr)
{
	for (size_t i = 0; i < tr->n; i++)
		if (tr->t[i].stopped)
			resume(tr, &tr->t[i]);
}

static void disarm(struct tracer *tr)
{
	for (size_t i = 0; i < tr->n; i++) {
		if (tr->t[i].armed) {
			hs_arch_unwatch(tr->t[i].tid, tr->watch);
			tr->t[i].armed = 0;
		}
	}
}

static void detach_all(struct tracer *tr)
{
	disarm(tr);
	for (size_t i = 0; i < tr->n; i++)
		ptrace(PTRACE_DETACH, tr->t[i].tid, NULL, (void *)(long)tr->t[i].sig);
	tr->n = 0;
}

/* Handles every pending wait status without blocking; returns the thread
 * that hit the watchpoint, if one did. Other stops are resumed. */
static struct thr *drain(struct tracer *tr)
{
	struct thr *hit = NULL;
	int status;
	pid_t w;
	while ((w = waitpid(-1, &status, __WALL | WNOHANG)) > 0) {
		struct thr *t = note(tr, w, status);
		if (!t)
			continue;
		if (t->trapped)
			hit = t;
		else
			resume(tr, t);
	}
	return hit;
}

/* Waits for SIGCHLD (a tracee stopped or ended) until the deadline.
 * Returns 0 when one came, -1 at the deadline. */
static int wait_event(struct tracer *tr, double deadline)
{
	double left = deadline - now();
	if (left <= 0)
		return -1;
	struct pollfd p = { .fd = tr->sigfd, .events = POLLIN };
	int ms = left > 0.05 ? 50 : (int)(left * 1000) + 1;
	if (poll(&p, 1, ms) > 0) {
		struct signalfd_siginfo si;
		ssize_t n = read(tr->sigfd, &si, sizeof(si));
		(void)n;
	}
	return 0;
}

/* Single-steps stopped thread tid over one instruction; a signal that
 * comes meanwhile is kept for when it resumes. Returns 0, or -1 when the
 * thread did not come back (fork_child gets the new process's pid from a
 * fork's event). */
static int step(struct tracer *tr, pid_t tid, pid_t *fork_child)
{
	if (ptrace(PTRACE_SINGLESTEP, tid, NULL, NULL) < 0)
		return -1;
	for (;;) {
		int status;
		pid_t w;
		while ((w = waitpid(tid, &status, __WALL)) < 0 && errno == EINTR)
			;
		if (w < 0 || !WIFSTOPPED(status))
			return -1;
		int event = status >> 16, sig = WSTOPSIG(status);
		if (event == PTRACE_EVENT_FORK && fork_child) {
			unsigned long child = 0;
			ptrace(PTRACE_GETEVENTMSG, tid, NULL, &child);
			*fork_child = (pid_t)child;
		} else if (event == 0 && sig == SIGTRAP) {
			return 0;
		} else if (event == 0) {
			/* a signal for the thread: kept for when it resumes */
			struct thr *t = tr ? thr_find(tr, tid) : NULL;
			if (t)
				t->sig = sig;
		}
		if (ptrace(PTRACE_SINGLESTEP, tid, NULL, NULL) < 0)
			return -1;
	}
}

/* ---- the interpreter's state, read while every thread is stopped -------- */

static uint64_t rd64(struct tracer *tr, uint64_t a)
{
	uint64_t v = 0;
	peek(tr->mem, a, &v, sizeof(v));
	return v;
}

static int rd32(struct tracer *tr, uint64_t a)
{
	int32_t v = 0;
	peek(tr->mem, a, &v, sizeof(v));
	return v;
}

static void wr32(struct tracer *tr, uint64_t a, int32_t v)
{
	poke(tr->mem, a, &v, sizeof(v));
}

static uint64_t interp_of(struct tracer *tr)
{
	return rd64(tr, tr->tg->runtime + tr->tg->lay.interp_main);
}

static uint64_t gil_of(struct tracer *tr)
{
	const struct hs_attach_layout *l = &tr->tg->lay;
	if (!l->gil_in_interp)
		return tr->tg->runtime + l->gil;
	uint64_t interp = interp_of(tr);
	return interp ? rd64(tr, interp + l->gil) : 0;
}

/* 1 when no thread holds the GIL and no collection runs. */
static int quiet(struct tracer *tr)
{
	uint64_t gil = gil_of(tr), interp = interp_of(tr);
	return gil && interp && rd32(tr, gil + tr->tg->lay.gil_locked) == 0 &&
	       rd32(tr, interp + tr->tg->lay.gc_collecting) == 0;
}

/* Asks the GIL's holder to drop it at its next bytecode boundary, as a
 * waiting thread does (on = 1); withdraws the request (on = 0) before the
 * holder reaches drop_gil's wait for a successor that never comes. */
static void drop_request(struct tracer *tr, int on)
{
	const struct hs_attach_layout *l = &tr->tg->lay;
	uint64_t interp = interp_of(tr), gil = gil_of(tr);
	if (!interp || !gil)
		return;
	if (l->drop == HS_DROP_TSTATE) {
		uint64_t holder = rd64(tr, gil + l->gil_last_holder);
		if (!holder)
			return;
		uint64_t b = rd64(tr, holder + l->eval_breaker);
		b = on ? b | 1 : b & ~(uint64_t)1;
		poke(tr->mem, holder + l->eval_breaker, &b, sizeof(b));
		return;
	}
	wr32(tr, interp + l->drop_request, on);
	int any = on || rd32(tr, interp + l->calls_to_do) ||
	          rd32(tr, interp + l->async_exc) ||
	          rd32(tr, tr->tg->runtime + l->signals_pending) ||
	          (l->gc_scheduled && rd32(tr, interp + l->gc_scheduled)) ||
	          (l->calls_to_do_main && rd32(tr, tr->tg->runtime + l->calls_to_do_main));
	wr32(tr, interp + l->eval_breaker, any);
}

/* Stops every thread at a consistent moment. Returns 0 (all stopped,
 * *how says which moment), or -1 with err (all resumed). */
static int safe_point(struct tracer *tr, const char **how, char *err, size_t errlen)
{
	tr->stop_at = now();
	if (stop_all(tr) < 0)
		goto gone;
	if (quiet(tr)) {
		*how = "gil free";
		return 0;
	}
	tr->watch = gil_of(tr) + tr->tg->lay.gil_locked;
	for (size_t i = 0; i < tr->n; i++) {
		struct thr *t = &tr->t[i];
		if (hs_arch_watch(t->tid, tr->watch) == 0)
			t->armed = 1;
	}
	drop_request(tr, 1);
	resume_all(tr);
	tr->pause = now() - tr->stop_at;
	struct thr *hit = NULL;
	while (!hit && !tr->gone) {
		if (wait_event(tr, tr->deadline) < 0)
			break;
		hit = drain(tr);
	}
	if (tr->gone)
		goto gone;
	pid_t holder = hit ? hit->tid : 0; /* tr->t moves as threads come and go */
	/* the holder stopped at the trap, a moment before we heard of it */
	tr->stop_at = now();
	if (stop_all(tr) < 0)
		goto gone;
	drop_request(tr, 0);
	disarm(tr);
	/* stopped before its write of `locked` (aarch64): one step does it,
	 * the holder still holding the GIL's mutex */
	if (holder && HS_WATCH_BEFORE_WRITE && step(tr, holder, NULL) < 0)
		holder = 0;
	if (holder && quiet(tr)) {
		*how = "gil released";
		return 0;
	}
	resume_all(tr);
	snprintf(err, errlen, "a thread of process %ld held the GIL for the whole timeout "
	         "without reaching a bytecode boundary (a long call into C that keeps the "
	         "GIL?); try again or raise --timeout", (long)tr->tg->pid);
	return -1;
gone:
	snprintf(err, errlen, "process %ld exited", (long)tr->tg->pid);
	return -1;
}

/* ---- injected calls ----------------------------------------------------- */

/* Steps a stopped thread through one system call instruction. Returns
 * the system call's result, or -1 with *bad set when the thread did not
 * come back (fork_child gets the new process's pid from the event). */
static long step_syscall(struct tracer *tr, pid_t tid, uint64_t insn, const hs_regs *base,
                         long nr, const unsigned long a[6], pid_t *fork_child, int *bad)
{
	hs_regs r = *base;
	hs_arch_syscall(&r, insn, nr, a);
	*bad = 1;
	if (hs_arch_set_regs(tid, &r) < 0 || step(tr, tid, fork_child) < 0 ||
	    hs_arch_get_regs(tid, &r) < 0)
		return -1;
	*bad = 0;
	return hs_arch_syscall_result(&r, insn);
}

/* Runs a system call in stopped thread t and puts its registers back. Its
 * last stop is the single-step trap, a signal stop: resumed from there
 * the kernel restarts a system call the thread was interrupted in, as
 * from any stop (x86_64: -ERESTARTSYS and kin in the saved registers;
 * aarch64: pc already back on the call, see arch_aarch64.c). */
static long inject_syscall(struct tracer *tr, pid_t tid, long nr, const unsigned long a[6],
                           pid_t *fork_child, int *bad)
{
	hs_regs saved;
	if (hs_arch_get_regs(tid, &saved) < 0) {
		*bad = 1;
		return -1;
	}
	long ret = step_syscall(tr, tid, tr->tg->syscall_insn, &saved, nr, a, fork_child, bad);
	if (hs_arch_set_regs(tid, &saved) < 0)
		*bad = 1;
	return ret;
}

/* ---- the copy ----------------------------------------------------------- */

struct copy {
	pid_t pid;
	int mem;
	hs_regs regs;       /* as it was born: a base for injected calls */
	uint64_t insn;      /* a syscall instruction */
	uint64_t area;      /* AREA_SIZE bytes of its memory, ours */
	int pipe;           /* our read end of its output pipe */
	int pumping;        /* the payload runs: move the pipe to out */
	int out;            /* the caller's file */
	uint64_t written;
	double deadline;
	int retry;          /* the failure may not recur in another copy */
	char why[HS_ATTACH_MSG];
};

static long copy_syscall(struct copy *c, long nr, unsigned long a0, unsigned long a1,
                         unsigned long a2, unsigned long a3, unsigned long a4,
                         unsigned long a5)
{
	unsigned long a[6] = { a0, a1, a2, a3, a4, a5 };
	int bad;
	long r = step_syscall(NULL, c->pid, c->insn, &c->regs, nr, a, NULL, &bad);
	return bad ? -ECHILD : r;
}

/* Moves what the pipe holds to the output file. Returns 0 or -1. */
static int pump(struct copy *c)
{
	char buf[1 << 16];
	for (;;) {
		ssize_t n = read(c->pipe, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(c->out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				snprintf(c->why, sizeof(c->why), "cannot write the dump: %s",
				         strerror(errno));
				return -1;
			}
			off += w;
		}
		c->written += (uint64_t)n;
	}
}

/* Calls fn(a0, a1) in the copy, on its area's stack, returning to address
 * 0: the fault there is the return. Meanwhile the output pipe is pumped.
 * Returns 0 with *ret, or -1 with c->why. */
static int copy_call(struct copy *c, uint64_t fn, uint64_t a0, uint64_t a1, uint64_t *ret,
                     int sigfd)
{
	hs_regs r = c->regs;
	uint64_t zero = 0;
	uint64_t slot = hs_arch_call(&r, fn, c->area + AREA_SIZE - 64, a0, a1);
	if (slot && poke(c->mem, slot, &zero, sizeof(zero)) < 0) {
		snprintf(c->why, sizeof(c->why), "cannot write to the copy: %s", strerror(errno));
		return -1;
	}
	int sig = 0;
	if (hs_arch_set_regs(c->pid, &r) < 0)
		goto lost;
	for (;;) {
		if (ptrace(PTRACE_CONT, c->pid, NULL, (void *)(long)sig) < 0)
			goto lost;
		sig = 0;
		int status;
		pid_t w;
		for (;;) {
			while ((w = waitpid(c->pid, &status, __WALL | WNOHANG)) < 0 && errno == EINTR)
				;
			if (w != 0)
				break;
			if (c->pumping && pump(c) < 0)
				return -1;
			double left = c->deadline - now();
			if (left <= 0) {
				snprintf(c->why, sizeof(c->why), "the copy did not finish in time "
				         "(a lock another thread held at the fork?)");
				c->retry = 1;
				return -1;
			}
			struct pollfd p[2] = { { .fd = sigfd, .events = POLLIN },
			                       { .fd = c->pipe, .events = POLLIN } };
			if (poll(p, c->pumping ? 2 : 1, left > 0.1 ? 100 : (int)(left * 1000) + 1) > 0 &&
			    (p[0].revents & POLLIN)) {
				struct signalfd_siginfo si;
				ssize_t n = read(sigfd, &si, sizeof(si));
				(void)n;
			}
		}
		if (w < 0 || !WIFSTOPPED(status)) {
			if (w > 0 && WIFSIGNALED(status))
				snprintf(c->why, sizeof(c->why), "the copy was killed by signal %d (%s)",
				         WTERMSIG(status), strsignal(WTERMSIG(status)));
			else
				snprintf(c->why, sizeof(c->why), "the copy exited");
			c->pid = 0;
			c->retry = 1;
			return -1;
		}
		int event = status >> 16;
		sig = WSTOPSIG(status);
		if (event != 0) {
			sig = 0;
			continue;
		}
		if (sig == SIGSEGV) {
			if (hs_arch_get_regs(c->pid, &r) < 0)
				goto lost;
			if (hs_arch_pc(&r) == 0) {
				*ret = hs_arch_result(&r);
				return c->pumping ? pump(c) : 0;
			}
			snprintf(c->why, sizeof(c->why), "the payload crashed in the copy "
			         "(SIGSEGV at 0x%llx)", (unsigned long long)hs_arch_pc(&r));
			c->retry = 1;
			return -1;
		}
		if (sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGABRT) {
			snprintf(c->why, sizeof(c->why), "the payload crashed in the copy (%s)",
			         strsignal(sig));
			c->retry = 1;
			return -1;
		}
	}
lost:
	snprintf(c->why, sizeof(c->why), "lost control of the copy: %s", strerror(errno));
	return -1;
}

/* Copies the payload into a memfd of the copy. Returns its fd there. */
static long load_payload(struct copy *c, const struct target *tg)
{
	long mfd = copy_syscall(c, SYS_memfd_create, c->area, 1 /* MFD_CLOEXEC */, 0, 0, 0, 0);
	if (mfd < 0) {
		snprintf(c->why, sizeof(c->why), "memfd_create in the copy: %s", strerror((int)-mfd));
		return -1;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/fd/%ld", (long)c->pid, mfd);
	int dst = open(path, O_WRONLY | O_CLOEXEC);
	int src = open(tg->payload, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int ok = dst >= 0 && src >= 0 && fstat(src, &st) == 0;
	for (off_t off = 0; ok && off < st.st_size;) {
		char buf[1 << 16];
		ssize_t n = pread(src, buf, sizeof(buf), off);
		ok = n > 0 && write(dst, buf, (size_t)n) == n;
		off += n;
	}
	if (!ok)
		snprintf(c->why, sizeof(c->why), "cannot copy '%.300s' into the copy: %s",
		         tg->payload, strerror(errno));
	if (dst >= 0)
		close(dst);
	if (src >= 0)
		close(src);
	return ok ? mfd : -1;
}

/* Writes a NUL-terminated string at *at in the copy's area. */
static uint64_t put_str(struct copy *c, uint64_t *at, const char *s)
{
	uint64_t a = *at;
	size_t n = strlen(s) + 1;
	if (poke(c->mem, a, s, n) < 0)
		return 0;
	*at = (a + n + 7) & ~(uint64_t)7;
	return a;
}

/* The dump, in the copy: payload in, arguments written, entry called. */
static int run_copy(struct copy *c, const struct target *tg, const struct hs_attach_opts *o,
                    const char *const *meta, int sigfd, struct hs_attach_report *rep)
{
	/* the copy's first stop: born traced */
	int status;
	pid_t w;
	while ((w = waitpid(c->pid, &status, __WALL)) < 0 && errno == EINTR)
		;
	if (w != c->pid || !WIFSTOPPED(status)) {
		snprintf(c->why, sizeof(c->why), "the copy did not start");
		c->pid = 0;
		return -1;
	}
	ptrace(PTRACE_SETOPTIONS, c->pid, NULL, (void *)(long)PTRACE_O_EXITKILL);
	if (hs_arch_get_regs(c->pid, &c->regs) < 0 ||
	    (c->mem = open_mem(c->pid, O_RDWR)) < 0) {
		snprintf(c->why, sizeof(c->why), "cannot control the copy: %s", strerror(errno));
		return -1;
	}
	long area = copy_syscall(c, SYS_mmap, 0, AREA_SIZE, PROT_READ | PROT_WRITE,
	                         MAP_PRIVATE | MAP_ANONYMOUS, (unsigned long)-1, 0);
	if (area < 0 && area > -4096) {
		snprintf(c->why, sizeof(c->why), "mmap in the copy: %s", strerror((int)-area));
		return -1;
	}
	c->area = (uint64_t)area;
	uint64_t at = c->area;
	put_str(c, &at, "heapsnap-attach");
	long mfd = load_payload(c, tg);
	if (mfd < 0)
		return -1;
	/* the pipe the dump comes back through */
	uint64_t fds_at = at;
	at += 8;
	long rc = copy_syscall(c, SYS_pipe2, fds_at, O_CLOEXEC, 0, 0, 0, 0);
	int32_t fds[2];
	if (rc < 0 || peek(c->mem, fds_at, fds, sizeof(fds)) < 0) {
		snprintf(c->why, sizeof(c->why), "pipe in the copy: %s", strerror(rc < 0 ? (int)-rc : errno));
		return -1;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)c->pid, fds[0]);
	if ((c->pipe = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		snprintf(c->why, sizeof(c->why), "cannot open the copy's pipe: %s", strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%ld", mfd);
	uint64_t path_at = put_str(c, &at, path);
	uint64_t handle = 0;
	if (tg->dlopen) {
		if (copy_call(c, tg->dlopen, path_at, RTLD_NOW_, &handle, sigfd) < 0)
			return -1;
	} else if (copy_call(c, tg->libc_dlopen_mode, path_at, RTLD_NOW_ | 0x80000000u,
	                     &handle, sigfd) < 0) {
		return -1;
	}
	if (!handle) {
		uint64_t msg = 0;
		char text[256] = "";
		if (tg->dlerror && copy_call(c, tg->dlerror, 0, 0, &msg, sigfd) == 0 && msg)
			peek(c->mem, msg, text, sizeof(text) - 1);
		snprintf(c->why, sizeof(c->why), "the copy cannot load '%.200s': %.250s", tg->payload,
		         text[0] ? text : "dlopen failed");
		return -1;
	}
	uint64_t base = 0; /* glibc: a handle is a link_map, l_addr first */
	if (peek(c->mem, handle, &base, sizeof(base)) < 0) {
		snprintf(c->why, sizeof(c->why), "cannot read the payload's handle");
		return -1;
	}
	/* arguments: meta strings, their array, then the struct */
	uint64_t meta_ptrs[32];
	size_t nmeta = 0;
	for (; meta[nmeta] && nmeta < 31; nmeta++)
		meta_ptrs[nmeta] = put_str(c, &at, meta[nmeta]);
	meta_ptrs[nmeta++] = 0;
	uint64_t meta_at = at;
	poke(c->mem, meta_at, meta_ptrs, nmeta * sizeof(uint64_t));
	at += nmeta * sizeof(uint64_t);
	struct hs_attach_args args = { 0 };
	args.abi = HS_ATTACH_ABI;
	args.fd = fds[1];
	args.values = o->values;
	args.pid = tg->pid;
	args.ppid = tg->ppid;
	args.tss_offset = tg->tss_offset;
	args.meta = (const char *const *)(uintptr_t)meta_at;
	uint64_t args_at = at;
	if (poke(c->mem, args_at, &args, sizeof(args)) < 0) {
		snprintf(c->why, sizeof(c->why), "cannot write to the copy: %s", strerror(errno));
		return -1;
	}
	uint64_t rep_at = 0;
	c->pumping = 1;
	if (copy_call(c, base + tg->entry_off, args_at, 0, &rep_at, sigfd) < 0)
		return -1;
	if (peek(c->mem, rep_at, rep, sizeof(*rep)) < 0 || !rep->done) {
		snprintf(c->why, sizeof(c->why), "cannot read the payload's report");
		return -1;
	}
	rep->msg[sizeof(rep->msg) - 1] = '\0';
	if (rep->code) {
		/* EBUSY: a collection was running (a finalizer let go of the GIL) */
		snprintf(c->why, sizeof(c->why), "%s", rep->msg);
		c->retry = rep->code == EBUSY;
		return -1;
	}
	if (rep->bytes != c->written) {
		snprintf(c->why, sizeof(c->why), "the dump is %llu bytes, %llu arrived",
		         (unsigned long long)rep->bytes, (unsigned long long)c->written);
		return -1;
	}
	return 0;
}

static void copy_end(struct copy *c)
{
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		int status;
		while (waitpid(c->pid, &status, __WALL) < 0 && errno == EINTR)
			;
	}
	if (c->mem >= 0)
		close(c->mem);
	if (c->pipe >= 0)
		close(c->pipe);
}

/* The copy is the target's child: once it is gone the target is made to
 * reap it (a stop of one thread for one wait4), or it would stay a zombie. */
static void reap(struct tracer *tr, pid_t child)
{
	pid_t tid = tr->tg->pid;
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0)
		return;
	struct thr *t = thr_add(tr, tid);
	if (!t || ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 || wait_thread(tr, tid) < 0) {
		detach_all(tr);
		return;
	}
	unsigned long a[6] = { (unsigned long)child, 0, WNOHANG | __WALL, 0, 0, 0 };
	int bad;
	inject_syscall(tr, tid, SYS_wait4, a, NULL, &bad);
	detach_all(tr);
}

/* One try: a consistent moment, the fork, the dump in the copy. Returns 0,
 * 1 when worth another try, -1 when not (err says why). */
static int attempt(struct target *tg, int out, const struct hs_attach_opts *o,
                   double deadline, int sigfd, struct hs_attach_result *res, char *err,
                   size_t errlen)
{
	struct tracer tr = { .tg = tg, .sigfd = sigfd, .deadline = deadline, .mem = -1 };
	struct copy c = { .mem = -1, .pipe = -1, .out = out, .insn = tg->syscall_insn };
	pid_t born = 0;
	int rc = -1;
	if (seize_all(&tr, err, errlen) < 0)
		goto done;
	if ((tr.mem = open_mem(tg->pid, O_RDWR)) < 0) {
		snprintf(err, errlen, "cannot open the memory of process %ld: %s", (long)tg->pid,
		         strerror(errno));
		goto done;
	}
	const char *how = NULL;
	if (safe_point(&tr, &how, err, errlen) < 0)
		goto done;
	/* every thread is stopped: fork from the one that let go of the GIL
	 * (in user code, no system call to restart), else the main thread */
	struct thr *f = NULL;
	for (size_t i = 0; i < tr.n; i++)
		if (tr.t[i].trapped || (!f && tr.t[i].tid == tg->pid))
			f = &tr.t[i];
	if (!f)
		f = &tr.t[0];
	ptrace(PTRACE_SETOPTIONS, f->tid, NULL,
	       (void *)(long)(PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK));
	unsigned long a[6] = { HS_FORK_FLAGS };
	int bad;
	double tf = now();
	long child = inject_syscall(&tr, f->tid, HS_SYS_FORK, a, &c.pid, &bad);
	double tf1 = now();
	ptrace(PTRACE_SETOPTIONS, f->tid, NULL, (void *)(long)PTRACE_O_TRACECLONE);
	detach_all(&tr);
	double pause = now() - tr.stop_at;
	if (tr.pause > pause)
		pause = tr.pause;
	born = c.pid;
	if (bad) {
		snprintf(err, errlen, "lost control of process %ld during the fork", (long)tg->pid);
		goto done;
	}
	if (child < 0 || c.pid <= 0) {
		c.pid = 0;
		snprintf(err, errlen, "fork in process %ld failed: %s", (long)tg->pid,
		         strerror(child < 0 ? (int)-child : ECHILD));
		rc = 1;
		goto done;
	}
	if (pause > res->pause)
		res->pause = pause;
	res->fork = tf1 - tf;
	res->tries++;
	snprintf(res->safe_point, sizeof(res->safe_point), "%s", how);
	char pause_ms[32], fork_ms[32], tries[16];
	snprintf(pause_ms, sizeof(pause_ms), "%.3f", pause * 1e3);
	snprintf(fork_ms, sizeof(fork_ms), "%.3f", res->fork * 1e3);
	snprintf(tries, sizeof(tries), "%d", res->tries);
	const char *meta[] = { "trigger", "attach", "attach.safe_point", how,
	                       "attach.pause_ms", pause_ms, "attach.fork_ms", fork_ms,
	                       "attach.try", tries, NULL };
	c.deadline = deadline > now() + COPY_MIN_TIME ? deadline : now() + COPY_MIN_TIME;
	struct hs_attach_report rep;
	memset(&rep, 0, sizeof(rep));
	if (run_copy(&c, tg, o, meta, sigfd, &rep) < 0) {
		snprintf(err, errlen, "%s", c.why);
		rc = c.retry ? 1 : -1;
		goto done;
	}
	res->objects = rep.objects;
	res->refs = rep.refs;
	res->roots = rep.roots;
	res->bytes = rep.bytes;
	rc = 0;
done:
	copy_end(&c);
	if (tr.n)
		detach_all(&tr);
	if (born > 0)
		reap(&tr, born);
	free(tr.t);
	if (tr.mem >= 0)
		close(tr.mem);
	if (rc != 0 && tr.gone) {
		snprintf(err, errlen, "process %ld exited", (long)tg->pid);
		rc = -1;
	}
	return rc;
}

int hs_attach_check(pid_t pid, const char *payload_dir, char *err, size_t errlen)
{
	struct target *tg = calloc(1, sizeof(*tg));
	if (!tg) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int rc = find_target(pid, payload_dir, tg, err, errlen);
	/* opening its memory takes the access check ptrace's attach takes
	 * (Yama's included), without touching the process */
	int mem = rc == 0 ? open_mem(pid, O_RDONLY) : -1;
	if (rc == 0 && mem < 0) {
		if (errno == ENOENT || errno == ESRCH)
			snprintf(err, errlen, "process %ld exited", (long)pid);
		else
			permission_error(pid, errno, err, errlen);
		rc = -1;
	}
	if (mem >= 0)
		close(mem);
	free(tg);
	return rc;
}

int hs_attach(pid_t pid, int out, const struct hs_attach_opts *o,
              struct hs_attach_result *r, char *err, size_t errlen)
{
	struct hs_attach_result local;
	if (!r)
		r = &local;
	memset(r, 0, sizeof(*r));
	double t0 = now();
	double timeout = o->timeout > 0 ? o->timeout : DEFAULT_TIMEOUT;
	struct target *tg = calloc(1, sizeof(*tg));
	if (!tg) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int rc = -1;
	if (find_target(pid, o->payload_dir, tg, err, errlen) < 0)
		goto done;
	snprintf(r->python, sizeof(r->python), "%s", tg->version);
	/* nothing may interrupt us while a thread of the target runs
	 * injected code or carries a watchpoint: signals wait till the end */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGPIPE);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		goto unblock;
	}
	double deadline = t0 + timeout;
	char last[512] = "";
	for (;;) {
		if (ftruncate(out, 0) < 0 || lseek(out, 0, SEEK_SET) < 0) {
			snprintf(err, errlen, "cannot reset the output file: %s", strerror(errno));
			break;
		}
		int a = attempt(tg, out, o, deadline, sigfd, r, last, sizeof(last));
		if (a <= 0) {
			rc = a;
			if (a < 0)
				snprintf(err, errlen, "%s", last);
			break;
		}
		if (now() >= deadline || r->tries >= MAX_TRIES) {
			snprintf(err, errlen, "no dump of process %ld after %d %s in %.1f s: %s",
			         (long)pid, r->tries, r->tries == 1 ? "try" : "tries", now() - t0, last);
			break;
		}
		/* what held a lock at the fork may hold it a moment later */
		struct timespec pause = { 0, 50000000L * r->tries };
		nanosleep(&pause, NULL);
	}
	close(sigfd);
unblock:
	sigprocmask(SIG_SETMASK, &old, NULL);
done:
	r->seconds = now() - t0;
	free(tg);
	return rc;
}
