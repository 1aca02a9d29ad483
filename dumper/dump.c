/*
 * dump.c - one dump from start to finish: GC off, metadata, the walk,
 * tracemalloc statistics, the file's index and trailer; and the atomic
 * file around it (temp file, fsync, rename, fsync of the directory).
 */
#include "internal.h"
#include "memstat.h"

#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PREVIEW_DEFAULT 128
#define PREVIEW_MAX 1024

int hsd_fail(struct hsd_ctx *c, int code, const char *fmt, ...)
{
	if (!c->failed) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
		c->failed = 1;
		c->err_code = code;
	}
	return -1;
}

/* The fd sink, wrapped to keep the errno of a failed write or sync, which
 * the writer's message does not carry. */
struct fd_sink {
	hs_sink inner;
	int fd;
	int *err;
};

static int sink_write(void *ctx, const void *buf, size_t len)
{
	struct fd_sink *s = ctx;
	if (s->inner.write(s->inner.ctx, buf, len) == 0)
		return 0;
	*s->err = errno;
	return -1;
}

static int sink_sync(void *ctx)
{
	struct fd_sink *s = ctx;
	/* EINVAL: a pipe or socket, with nothing to make durable */
	if (!s->inner.sync || s->inner.sync(s->inner.ctx) == 0 || errno == EINVAL)
		return 0;
	*s->err = errno;
	return -1;
}

int hsd_check_writer(struct hsd_ctx *c)
{
	const char *e = hs_writer_error(c->w);
	if (!e)
		return c->failed ? -1 : 0;
	return hsd_fail(c, c->sink_errno ? c->sink_errno : EIO, "%s", e);
}

int hsd_grow(struct hsd_ctx *c, void **arr, size_t *cap, size_t n, size_t sz)
{
	size_t want = *cap ? *cap : 64;
	while (want < n)
		want *= 2;
	void *p = realloc(*arr, want * sz);
	if (!p)
		return hsd_fail(c, ENOMEM, "out of memory (%zu bytes)", want * sz);
	*arr = p;
	*cap = want;
	hsd_account(c);
	return 0;
}

void hsd_account(struct hsd_ctx *c)
{
	size_t b = c->map.bytes + c->capstack * sizeof(*c->stack) +
	           c->capedges * sizeof(*c->edges) +
	           c->types.cap * sizeof(struct hsd_map_entry) +
	           (c->labels ? HSD_LABEL_SLOTS * sizeof(*c->labels) : 0) +
	           hsd_tm_bytes(c);
	if (b > c->peak_bytes)
		c->peak_bytes = b;
}

static double elapsed(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int hs_dump_fd(int fd, const struct hs_dump_opts *opts,
               struct hs_dump_result *res, char *err, size_t errlen)
{
	static const struct hs_dump_opts defaults = { .values = HS_VALUES_PREVIEW };
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* the dump's own tables are no native site of the program */
	hsd_native_quiet(1);
	/* before the dump's own allocations enter the figures */
	struct hsd_memstat ms;
	hsd_memstat_take(&ms, opts ? opts->pid : 0);
	int code = 0;
	struct hsd_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		hsd_native_quiet(0);
		return ENOMEM;
	}
	c->opts = opts ? opts : &defaults;
	c->preview_len = c->opts->preview_len ? c->opts->preview_len
	                                      : PREVIEW_DEFAULT;
	if (c->preview_len > PREVIEW_MAX)
		c->preview_len = PREVIEW_MAX;
	c->err = err;
	c->errlen = errlen;
	c->tstate = PyThreadState_Get();
	c->interp = c->tstate->interp;

	/* Numbers are formatted with the C library: use the C locale's
	 * decimal point whatever the program set. */
	locale_t cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	locale_t oldloc = cloc ? uselocale(cloc) : (locale_t)0;
	int gc_enabled = PyGC_Disable();

	struct fd_sink fs = { .fd = fd, .err = &c->sink_errno };
	hs_sink_fd(&fs.inner, &fs.fd);
	hs_sink sink = { sink_write, sink_sync, &fs };
	hs_writer_opts wo = { 0 };
	wo.level = c->opts->level;
	if (c->interp->gc.collecting) {
		hsd_fail(c, EBUSY, "the garbage collector is running");
		goto cleanup;
	}
	/* NULL allocator fields: libc, which tracemalloc never sees */
	if (!(c->w = hs_writer_new(&sink, &wo, err, errlen))) {
		c->failed = 1;
		c->err_code = c->sink_errno ? c->sink_errno : EIO;
		goto cleanup;
	}
	if (hsd_names_init(c) < 0 || hsd_meta_begin(c, gc_enabled) < 0 ||
	    hsd_memstat_write(c, &ms) < 0 ||
	    hsd_tasks_init(c) < 0 || hsd_tm_begin(c) < 0 || hsd_walk(c) < 0 ||
	    hsd_tm_end(c) < 0 || hsd_native_write(c) < 0 ||
	    hsd_meta_end(c, elapsed(&t0)) < 0)
		goto cleanup;
	if (hs_writer_finish(c->w) < 0) {
		hsd_check_writer(c);
		goto cleanup;
	}
	if (res) {
		res->objects = c->nobjects;
		res->refs = c->nrefs;
		res->roots = c->nroots;
		res->bytes = hs_writer_bytes(c->w);
		res->extra_bytes = c->peak_bytes;
		res->seconds = elapsed(&t0);
	}
cleanup:
	code = c->failed ? (c->err_code ? c->err_code : EIO) : 0;
	hsd_tm_free(c);
	hsd_tasks_free(c);
	hsd_types_free(c);
	hsd_addrmap_free(&c->map);
	free(c->stack);
	free(c->edges);
	free(c->labels);
	hs_writer_free(c->w);
	free(c);
	if (gc_enabled)
		PyGC_Enable();
	if (cloc) {
		uselocale(oldloc);
		freelocale(cloc);
	}
	hsd_native_quiet(0);
	return code;
}

/* Whether name is ".<name>.hsnap.tmp.<pid>", the temporary file of a dump
 * of process pid (hs_dump_path); sets *pid. */
static int temp_name(const char *name, long *pid)
{
	static const char mid[] = ".hsnap.tmp.";
	size_t m = sizeof(mid) - 1, n = strlen(name), d = n;
	while (d > 0 && name[d - 1] >= '0' && name[d - 1] <= '9')
		d--;
	/* a pid below 10^9 without leading zeros, a name of one byte or more */
	if (d == n || n - d > 9 || name[d] == '0' || d < m + 2 || name[0] != '.' ||
	    memcmp(name + d - m, mid, m) != 0)
		return 0;
	*pid = strtol(name + d, NULL, 10);
	return 1;
}

/* Removes the temporary files in dir of dumps whose process is gone (a
 * service killed together with its dump child leaves one). A file of a
 * live process stays, and so does one still locked: its writer may be a
 * process of another pid namespace sharing the directory. */
static void remove_leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		long pid;
		struct stat st;
		if (!temp_name(e->d_name, &pid) || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		int fd = openat(dirfd(d), e->d_name,
		                O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    flock(fd, LOCK_EX | LOCK_NB) == 0)
			unlinkat(dirfd(d), e->d_name, 0);
		if (fd >= 0)
			close(fd);
	}
	if (d)
		closedir(d);
}

int hs_dump_path(const char *path, const struct hs_dump_opts *opts,
                 struct hs_dump_result *res, char *err, size_t errlen)
{
	int code = 0;
	int fd = -1;
	char *dir = NULL, *tmp = NULL;
	hsd_native_quiet(1);
	char *dcopy = strdup(path), *bcopy = strdup(path);
	if (!dcopy || !bcopy) {
		code = ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto cleanup;
	}
	dir = dirname(dcopy);
	const char *base = basename(bcopy);
	size_t n = strlen(dir) + strlen(base) + 64;
	if (!(tmp = malloc(n))) {
		code = ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto cleanup;
	}
	snprintf(tmp, n, "%s/.%s.tmp.%ld", dir, base, (long)getpid());
	remove_leftovers(dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		/* left by a dump of an earlier process with our pid */
		unlink(tmp);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (fd < 0) {
		code = errno;
		snprintf(err, errlen, "cannot create '%s': %s", tmp, strerror(code));
		goto cleanup;
	}
	/* held until the file is closed: remove_leftovers() of a process
	 * that cannot see our pid leaves the file alone */
	flock(fd, LOCK_EX | LOCK_NB);
	char msg[512];
	if ((code = hs_dump_fd(fd, opts, res, msg, sizeof(msg))) != 0) {
		snprintf(err, errlen, "writing '%s': %s", tmp, msg);
		goto cleanup;
	}
	if (close(fd) < 0) {
		fd = -1;
		code = errno;
		snprintf(err, errlen, "closing '%s': %s", tmp, strerror(code));
		goto cleanup;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		code = errno;
		snprintf(err, errlen, "cannot rename '%s' to '%s': %s", tmp, path,
		         strerror(code));
		goto cleanup;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		code = errno;
		snprintf(err, errlen, "cannot sync directory '%s': %s", dir,
		         strerror(code));
		/* not durable: do not leave it looking complete */
		unlink(path);
	}
	if (dfd >= 0)
		close(dfd);
cleanup:
	if (fd >= 0)
		close(fd);
	if (code && tmp)
		unlink(tmp);
	free(tmp);
	free(dcopy);
	free(bcopy);
	hsd_native_quiet(0);
	return code;
}
