/*
 * files.c - where triggered dumps go: names that sort by time, keep=N
 * rotation of the dumps this process wrote, and the state file that tells
 * 'heapsnap trigger' a handler is installed (format in triggers.h).
 */
#include "triggers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Appends at most max bytes of s, bytes outside [A-Za-z0-9._-] as '_'. */
static void put_clean(char *buf, size_t len, size_t *n, const char *s,
                      size_t max)
{
	for (size_t i = 0; s[i] && i < max && *n + 1 < len; i++) {
		char ch = s[i];
		int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		         (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		         ch == '-';
		buf[(*n)++] = ok ? ch : '_';
	}
	buf[*n] = '\0';
}

void hsd_name_prefix(char *buf, size_t len, const char *program, pid_t pid)
{
	char host[256];
	if (gethostname(host, sizeof(host)) < 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	size_t n = 0;
	buf[0] = '\0';
	put_clean(buf, len, &n, program[0] ? program : "python", 64);
	put_clean(buf, len, &n, "-", 1);
	put_clean(buf, len, &n, host, 64);
	snprintf(buf + n, len - n, "-%ld-", (long)pid);
}

int hsd_name_dump(char *buf, size_t len, const char *dir, const char *prefix,
                  time_t when, unsigned seq)
{
	struct tm utc;
	char stamp[32];
	gmtime_r(&when, &utc);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &utc);
	int n = snprintf(buf, len, "%s/%s%s-%04u.hsnap", dir, prefix, stamp, seq);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int hsd_keep(struct hsd_kept *k, const char *path, int keep, char *err,
             size_t errlen)
{
	int rc = 0;
	if (keep <= 0)
		return 0;
	char *copy = strdup(path);
	char **p = copy ? realloc(k->paths, (size_t)(k->n + 1) * sizeof(*p)) : NULL;
	if (!p) {
		free(copy);
		snprintf(err, errlen, "out of memory: '%s' will not be rotated", path);
		return -1;
	}
	k->paths = p;
	k->paths[k->n++] = copy;
	while (k->n > keep) {
		if (unlink(k->paths[0]) < 0 && errno != ENOENT && !rc) {
			snprintf(err, errlen, "cannot remove old dump '%s': %s", k->paths[0],
			         strerror(errno));
			rc = -1;
		}
		free(k->paths[0]);
		memmove(k->paths, k->paths + 1, (size_t)--k->n * sizeof(*k->paths));
	}
	return rc;
}

void hsd_kept_free(struct hsd_kept *k)
{
	for (int i = 0; i < k->n; i++)
		free(k->paths[i]);
	free(k->paths);
	k->paths = NULL;
	k->n = 0;
}

/* Writes the state file: a temporary file, write-locked (the lock ends
 * with the process, so 'heapsnap trigger' can tell a stale file from a
 * live handler; F_GETLK names our pid), renamed over the last one. A
 * POSIX lock, as F_GETLK must name the pid: it also ends when this process
 * closes any other descriptor of the file, so the process never opens
 * its own state file. */
static int write_state(struct hsd_state *st, const char *last, char *err,
                       size_t errlen)
{
	char tmp[PATH_MAX + 8];
	size_t cap = strlen(st->dir) + (last ? strlen(last) : 0) + 256;
	char *text = malloc(cap);
	int fd = -1, rc = -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", st->path);
	if (!text) {
		snprintf(err, errlen, "out of memory for '%s'", st->path);
		goto cleanup;
	}
	int len = snprintf(text, cap, "heapsnap-handler 1\npid %ld\nsignal %d\n%s%s"
	                   "dir %s\n", (long)getpid(), st->signum, last ? last : "",
	                   last ? "\n" : "", st->dir);
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, (size_t)len) != len ||
	    fcntl(fd, F_SETLK, &lk) < 0 || rename(tmp, st->path) < 0) {
		snprintf(err, errlen, "cannot write '%s': %s", tmp, strerror(errno));
		unlink(tmp);
		goto cleanup;
	}
	/* the old file's lock goes with its descriptor */
	if (st->fd >= 0)
		close(st->fd);
	st->fd = fd;
	fd = -1;
	rc = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	free(text);
	return rc;
}

/* Removes the state files no process holds: left by a killed service, or
 * by a child of os.fork() that went on to exec (subprocess preexec_fn). */
static void remove_stale(const char *sdir)
{
	DIR *d = opendir(sdir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strspn(e->d_name, "0123456789") != strlen(e->d_name) || !e->d_name[0])
			continue;
		struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && fcntl(fd, F_GETLK, &lk) == 0 && lk.l_type == F_UNLCK)
			unlinkat(dirfd(d), e->d_name, 0);
		if (fd >= 0)
			close(fd);
	}
	if (d)
		closedir(d);
}

int hsd_state_init(struct hsd_state *st, int signum, const char *dir,
                   char *err, size_t errlen)
{
	char sdir[64];
	struct stat sb;
	snprintf(sdir, sizeof(sdir), HSD_STATE_DIR, (unsigned)geteuid());
	st->path[0] = '\0';
	st->fd = -1;
	st->signum = signum;
	st->dir = dir;
	if (mkdir(sdir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create '%s': %s", sdir, strerror(errno));
		return -1;
	}
	/* someone else's directory could feed 'heapsnap trigger' lies */
	if (lstat(sdir, &sb) < 0 || !S_ISDIR(sb.st_mode) ||
	    sb.st_uid != geteuid() || (sb.st_mode & 077)) {
		snprintf(err, errlen, "'%s' is not a directory only we can write", sdir);
		return -1;
	}
	remove_stale(sdir);
	snprintf(st->path, sizeof(st->path), "%s/%ld", sdir, (long)getpid());
	if (write_state(st, NULL, err, errlen) < 0) {
		st->path[0] = '\0';
		return -1;
	}
	return 0;
}

int hsd_state_last(struct hsd_state *st, int ok, long long began_ns,
                   const char *what, char *err, size_t errlen)
{
	if (!st->path[0])
		return 0;
	size_t cap = strlen(what) + 64;
	char *line = malloc(cap);
	if (!line) {
		snprintf(err, errlen, "out of memory for '%s'", st->path);
		return -1;
	}
	snprintf(line, cap, "last %s %lld %s", ok ? "ok" : "error", began_ns, what);
	/* one line: a message never spans two */
	for (char *p = line; *p; p++)
		if (*p == '\n')
			*p = ' ';
	int rc = write_state(st, line, err, errlen);
	free(line);
	return rc;
}

void hsd_state_remove(struct hsd_state *st)
{
	if (st->path[0])
		unlink(st->path);
	if (st->fd >= 0)
		close(st->fd);
	st->path[0] = '\0';
	st->fd = -1;
}
