/* series.c - dumps grouped by process and placed in time (series.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "series.h"
#include "db.h"
#include "dump.h"
#include "hsnap.h"

/* What the identity and the order need, as text, from either source. */
typedef struct meta {
	hsa_str pid, time, start, ticks, boot, host, argv, exe;
} meta;

static void meta_free(meta *m)
{
	hsa_str *all[] = {&m->pid, &m->time, &m->start, &m->ticks,
	                  &m->boot, &m->host, &m->argv, &m->exe};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		hsa_str_free(all[i]);
}

static hsa_str *meta_slot(meta *m, const char *key, size_t len)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{"pid", offsetof(meta, pid)},
		{"time", offsetof(meta, time)},
		{"process.start", offsetof(meta, start)},
		{"process.start_ticks", offsetof(meta, ticks)},
		{"process.boot_id", offsetof(meta, boot)},
		{"host", offsetof(meta, host)},
		{"argv", offsetof(meta, argv)},
		{"executable", offsetof(meta, exe)},
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strlen(keys[i].key) == len && !memcmp(keys[i].key, key, len))
			return (hsa_str *)((char *)m + keys[i].off);
	return NULL;
}

/* The metadata records of a dump, without loading it: the reader skips
 * every other section. 1 when path is no dump (maybe a database). */
static int meta_of_dump(const char *path, meta *m, char *err, size_t errlen)
{
	hs_reader *r = hs_reader_open(path, err, errlen);
	hs_section sec;
	hs_record rec;
	int s, rc = 0;
	if (!r)
		return 1;
	while ((s = hs_reader_next_section(r, &sec)) != 0) {
		if (s < 0 || sec.kind != HS_K_META)
			continue;
		while (!rc && hs_reader_next_record(r, &rec) > 0) {
			hsa_str *slot = meta_slot(m, rec.u.meta.key, rec.u.meta.key_len);
			if (!slot)
				continue;
			slot->len = 0; /* a key may repeat: the last value wins */
			if (hsa_str_add(slot, "", 0))
				rc = -1;
			else
				hsa_meta_text(&rec.u.meta, slot);
		}
	}
	hs_reader_free(r);
	if (rc)
		snprintf(err, errlen, "out of memory");
	return rc;
}

/* The same from a database (or a dump hsa_db_open can still make one of:
 * it says why not). */
static int meta_of_db(const char *path, meta *m, hsa_warnings *w, char *err, size_t errlen)
{
	sqlite3 *db;
	int rc = 0;
	if (hsa_db_open(path, &db, w, err, errlen))
		return -1;
	static const char *const keys[] = {"pid", "time", "process.start", "process.start_ticks",
	                                   "process.boot_id", "host", "argv", "executable"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && !rc; i++) {
		char *v = hsa_db_meta_text(db, keys[i]);
		if (v)
			rc = hsa_str_printf(meta_slot(m, keys[i], strlen(keys[i])), "%s", v);
		free(v);
	}
	sqlite3_close(db);
	if (rc)
		snprintf(err, errlen, "out of memory");
	return rc;
}

static char *dup_or_null(const hsa_str *s) { return s->len ? strdup(s->s) : NULL; }

static int read_one(const char *path, int arg, hsa_dump_id *d, hsa_warnings *w, char *err,
                    size_t errlen)
{
	meta m;
	memset(&m, 0, sizeof(m));
	memset(d, 0, sizeof(*d));
	int rc = meta_of_dump(path, &m, err, errlen);
	if (rc > 0)
		rc = meta_of_db(path, &m, w, err, errlen);
	if (rc)
		goto done;
	rc = -1;
	d->arg = arg;
	d->time = m.time.len ? strtod(m.time.s, NULL) : 0;
	d->pid = m.pid.len ? strtoll(m.pid.s, NULL, 10) : 0;
	d->start = m.start.len ? strtod(m.start.s, NULL) : 0;
	d->path = strdup(path);
	d->host = dup_or_null(&m.host);
	d->argv = dup_or_null(&m.argv);
	d->exe = dup_or_null(&m.exe);
	hsa_str key = {0};
	/* the start in ticks does not move with the wall clock as the start in
	 * seconds does; the boot id tells hosts apart, else the host name */
	if (!d->pid)
		rc = hsa_str_printf(&key, "unknown");
	else if (m.ticks.len)
		rc = hsa_str_printf(&key, "%" PRId64 "/%s/%s/%s", d->pid, m.ticks.s,
		                    m.boot.len ? m.boot.s : "", m.boot.len ? "" : d->host ? d->host : "");
	else
		rc = hsa_str_printf(&key, "%" PRId64 "//%s", d->pid, d->host ? d->host : "");
	d->key = key.s;
	if (rc || !d->path || !d->key || (m.host.len && !d->host) || (m.argv.len && !d->argv) ||
	    (m.exe.len && !d->exe)) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
done:
	meta_free(&m);
	return rc;
}

static void id_free(hsa_dump_id *d)
{
	free(d->path);
	free(d->key);
	free(d->host);
	free(d->argv);
	free(d->exe);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.hsnap files of dir, by name (malloc'ed paths); 0 when path is no
 * directory, -1 with err. */
static int expand(const char *path, char ***out, int *n, char *err, size_t errlen)
{
	struct stat sb;
	*out = NULL;
	*n = 0;
	if (stat(path, &sb) || !S_ISDIR(sb.st_mode))
		return 0;
	DIR *d = opendir(path);
	if (!d) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
		return -1;
	}
	struct dirent *e;
	char **v = NULL;
	int cap = 0, rc = 0;
	while (!rc && (e = readdir(d))) {
		size_t len = strlen(e->d_name);
		/* a dump being written is ".NAME.tmp.PID" */
		if (e->d_name[0] == '.' || len <= 6 || strcmp(e->d_name + len - 6, ".hsnap"))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			char **p = realloc(v, (size_t)cap * sizeof(char *));
			if (!p) {
				rc = -1;
				break;
			}
			v = p;
		}
		if (asprintf(&v[*n], "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/",
		             e->d_name) < 0)
			rc = -1;
		else
			(*n)++;
	}
	closedir(d);
	if (!rc && !*n) {
		snprintf(err, errlen, "'%s': no dumps in it (no *.hsnap file)", path);
		rc = -1;
	} else if (rc) {
		snprintf(err, errlen, "out of memory");
	}
	if (!rc)
		qsort(v, (size_t)*n, sizeof(char *), by_name);
	for (int k = 0; rc && k < *n; k++)
		free(v[k]);
	if (rc)
		free(v);
	else
		*out = v;
	return rc ? -1 : 1;
}

static int by_time(const void *a, const void *b)
{
	const hsa_dump_id *x = a, *y = b;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return (x->arg > y->arg) - (x->arg < y->arg);
}

static int keep(const hsa_dump_id *d, const hsa_series_filter *f, hsa_warnings *w)
{
	if (!f)
		return 1;
	if (f->pid && d->pid != f->pid)
		return 0;
	if (f->since && !d->time) {
		hsa_warnings_add(w, "'%s' has no dump time: left out by --since", d->path);
		return 0;
	}
	return !f->since || d->time >= f->since;
}

static int add(hsa_series *s, int *cap, hsa_dump_id *d)
{
	if (s->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		hsa_dump_id *p = realloc(s->dumps, (size_t)*cap * sizeof(*p));
		if (!p)
			return -1;
		s->dumps = p;
	}
	s->dumps[s->n++] = *d;
	return 0;
}

static int group(hsa_series *s)
{
	if (!(s->procs = calloc((size_t)s->n, sizeof(hsa_proc))))
		return -1;
	for (int k = 0; k < s->n; k++) {
		hsa_proc *p = NULL;
		for (int i = 0; i < s->nprocs && !p; i++)
			if (!strcmp(s->procs[i].first->key, s->dumps[k].key))
				p = &s->procs[i];
		if (!p) {
			p = &s->procs[s->nprocs++];
			p->first = &s->dumps[k];
			if (!(p->dump = malloc((size_t)s->n * sizeof(int))))
				return -1;
		}
		p->dump[p->n++] = k;
	}
	return 0;
}

int hsa_series_read(char *const *args, int nargs, const hsa_series_filter *f,
                    hsa_series **out, hsa_warnings *w, char *err, size_t errlen)
{
	hsa_series *s = calloc(1, sizeof(*s));
	char **files = NULL;
	int nfiles = 0, cap = 0, total = 0, rc = -1;
	*out = NULL;
	err[0] = 0;
	if (!s)
		goto done;
	for (int i = 0; i < nargs; i++) {
		int dir = expand(args[i], &files, &nfiles, err, errlen);
		if (dir < 0)
			goto done;
		for (int k = 0; k < (dir ? nfiles : 1); k++) {
			hsa_dump_id d;
			if (read_one(dir ? files[k] : args[i], total++, &d, w, err, errlen))
				goto done;
			if (!keep(&d, f, w)) {
				id_free(&d);
			} else if (add(s, &cap, &d)) {
				id_free(&d);
				goto done;
			}
		}
		for (int k = 0; k < nfiles; k++)
			free(files[k]);
		free(files);
		files = NULL;
		nfiles = 0;
	}
	if (!s->n && f && f->pid)
		snprintf(err, errlen, "no dump of pid %" PRId64 " among the %d given%s%s", f->pid,
		         total, f->since ? " at or after " : "", f->since ? f->since_arg : "");
	else if (!s->n)
		snprintf(err, errlen, "no dump at or after %s among the %d given",
		         f && f->since_arg ? f->since_arg : "?", total);
	if (!s->n)
		goto done;
	qsort(s->dumps, (size_t)s->n, sizeof(hsa_dump_id), by_time);
	if (group(s))
		goto done;
	*out = s;
	s = NULL;
	rc = 0;
done:
	if (rc && !err[0])
		snprintf(err, errlen, "out of memory");
	for (int k = 0; k < nfiles; k++)
		free(files[k]);
	free(files);
	hsa_series_free(s);
	return rc;
}

void hsa_series_free(hsa_series *s)
{
	if (!s)
		return;
	for (int k = 0; k < s->n; k++)
		id_free(&s->dumps[k]);
	for (int i = 0; s->procs && i < s->nprocs; i++)
		free(s->procs[i].dump);
	free(s->procs);
	free(s->dumps);
	free(s);
}

char **hsa_proc_paths(const hsa_series *s, const hsa_proc *p)
{
	char **v = malloc((size_t)(p->n ? p->n : 1) * sizeof(char *));
	for (int k = 0; v && k < p->n; k++)
		v[k] = s->dumps[p->dump[k]].path;
	return v;
}

int hsa_proc_pick(const hsa_proc *p, int max, int *idx)
{
	int m = p->n < max ? p->n : max;
	for (int k = 0; k < m; k++)
		idx[k] = m == 1 ? 0 : (int)(((int64_t)k * (p->n - 1) + (m - 1) / 2) / (m - 1));
	return m;
}

const char *hsa_utc(double t, char *buf)
{
	struct tm tm;
	time_t s = (time_t)t;
	if (!t || !gmtime_r(&s, &tm))
		return strcpy(buf, "?");
	strftime(buf, 24, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

int hsa_proc_title(const hsa_proc *p, hsa_str *out)
{
	const hsa_dump_id *d = p->first;
	char t[24];
	int rc = d->pid ? hsa_str_printf(out, "pid %" PRId64, d->pid)
	                : hsa_str_printf(out, "pid ?");
	if (!rc && d->start)
		rc = hsa_str_printf(out, " started %s", hsa_utc(d->start, t));
	if (!rc && (d->argv || d->exe))
		rc = hsa_str_printf(out, ", %s", d->argv ? d->argv : d->exe);
	return rc;
}

int hsa_parse_pid(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v <= 0)
		return -1;
	*out = v;
	return 0;
}

/* "+02:00", "-0530", "Z" after an ISO 8601 time: its offset east of UTC
 * in seconds. Returns 0, or -1 when it is none of these. */
static int zone(const char *s, long *east)
{
	int h, m = 0, n = 0;
	if (!strcmp(s, "Z")) {
		*east = 0;
		return 0;
	}
	if ((*s != '+' && *s != '-') ||
	    (sscanf(s + 1, "%2d:%2d%n", &h, &m, &n) != 2 && sscanf(s + 1, "%2d%2d%n", &h, &m, &n) != 2 &&
	     sscanf(s + 1, "%2d%n", &h, &n) != 1) ||
	    s[1 + n] || h > 23 || m > 59)
		return -1;
	*east = (*s == '-' ? -1 : 1) * (h * 3600L + m * 60L);
	return 0;
}

int hsa_parse_since(const char *s, double now, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end != s && isdigit((unsigned char)*s) && end[0] && !end[1] && strchr("smhd", *end)) {
		static const char units[] = "smhd";
		static const double secs[] = {1, 60, 3600, 86400};
		*out = now - v * secs[strchr(units, *end) - units];
		return v >= 0 ? 0 : -1;
	}
	static const char *const formats[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
	                                      "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"};
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		const char *rest = strptime(s, formats[i], &tm);
		long east;
		if (!rest)
			continue;
		if (!*rest) {
			tm.tm_isdst = -1;
			time_t t = mktime(&tm);
			if (t == (time_t)-1)
				return -1;
			*out = (double)t;
			return 0;
		}
		if (!zone(rest, &east)) {
			*out = (double)timegm(&tm) - (double)east;
			return 0;
		}
	}
	return -1;
}

int hsa_series_options(const hsa_cmd *cmd, const hsa_args *a, hsa_series_filter *f)
{
	const char *pid = hsa_arg(cmd, a, "pid"), *since = hsa_arg(cmd, a, "since");
	struct timespec now;
	memset(f, 0, sizeof(*f));
	if (pid && hsa_parse_pid(pid, &f->pid)) {
		hsa_usage_error(cmd, "--pid takes a process id, not '%s'", pid);
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	if (since && hsa_parse_since(since, (double)now.tv_sec + (double)now.tv_nsec / 1e9,
	                             &f->since)) {
		hsa_usage_error(cmd, "--since takes a time (2024-12-06T03:46:26Z) or a duration"
		                     " back from now (10m, 2h), not '%s'",
		                since);
		return -1;
	}
	f->since_arg = since;
	return 0;
}
