/*
 * meta.c - the dump's metadata: interpreter, process, GC and tracemalloc
 * state, dumper version and options; and the dump's own figures at the end.
 *
 * Keys (FORMAT.md lists the common ones): python.version,
 * python.hexversion, python.implementation, python.build, python.compiler,
 * python.platform, executable, pid, ppid, host, argv (a JSON array of
 * strings; with values="none" only argv.count), time (Unix seconds),
 * time.utc (ISO 8601), rss (bytes), gc.enabled, gc.count0..2,
 * gc.threshold0..2, gc.collections0..2, tracemalloc.tracing,
 * tracemalloc.frames (the frame limit), tracemalloc.traced and
 * tracemalloc.peak (tracemalloc.c), dumper.version, dumper.values,
 * dumper.preview_bytes, the caller's extra keys (trigger ...); at the end
 * dumper.seconds, dump.objects, dump.refs, dump.roots, dump.extra_bytes.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void json_str(struct hsd_buf *b, PyObject *s)
{
	char tmp[4096];
	struct hsd_buf t = { tmp, 0, sizeof(tmp), 0 };
	hsd_buf_str(&t, s);
	hsd_buf_put(b, "\"", 1);
	for (size_t i = 0; i < t.len; i++) {
		unsigned char ch = (unsigned char)tmp[i];
		if (ch == '"' || ch == '\\') {
			char e[2] = { '\\', (char)ch };
			hsd_buf_put(b, e, 2);
		} else if (ch < 0x20) {
			hsd_buf_printf(b, "\\u%04x", ch);
		} else {
			hsd_buf_put(b, (const char *)&ch, 1);
		}
	}
	hsd_buf_put(b, "\"", 1);
}

static int argv_meta(struct hsd_ctx *c)
{
	PyObject *argv = hsd_dict_get(c->interp->sysdict, "argv");
	if (!argv || !PyList_Check(argv))
		return 0;
	if (c->opts->values == HS_VALUES_NONE)
		return hs_writer_meta_uint(c->w, "argv.count",
		                           (uint64_t)PyList_GET_SIZE(argv));
	size_t cap = 1 << 16;
	char *tmp = malloc(cap);
	if (!tmp)
		return hsd_fail(c, ENOMEM, "out of memory for argv");
	struct hsd_buf b = { tmp, 0, cap, 0 };
	hsd_buf_put(&b, "[", 1);
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(argv); i++) {
		PyObject *a = PyList_GET_ITEM(argv, i);
		if (i)
			hsd_buf_put(&b, ", ", 2);
		if (PyUnicode_Check(a))
			json_str(&b, a);
		else
			hsd_buf_puts(&b, "null");
	}
	hsd_buf_put(&b, "]", 1);
	hs_meta m = { 0 };
	m.key = "argv";
	m.key_len = 4;
	m.type = HS_M_STR;
	m.s = tmp;
	m.s_len = b.len;
	int rc = hs_writer_meta(c->w, &m);
	free(tmp);
	return rc;
}

uint64_t hsd_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	unsigned long long size = 0, resident = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The small file at path into buf, NUL-terminated; its length, or -1.
 * Plain read(): stdio would allocate in the heap being measured. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (n < len - 1 && ((got = read(fd, buf + n, len - 1 - n)) > 0 ||
	                       (got < 0 && errno == EINTR)))
		if (got > 0)
			n += (size_t)got;
	close(fd);
	buf[n] = '\0';
	return (ssize_t)n;
}

/* When the dumped process started: the identity of a process across its
 * dumps, which its pid alone is not (pids are reused). The kernel's start
 * time in clock ticks after boot (field 22 of /proc/PID/stat) and the boot
 * id make the key; the start in Unix seconds is for people (it moves
 * with the wall clock). A fork child or an attach copy describes its
 * parent. Missing keys when /proc cannot tell. */
static int start_meta(struct hsd_ctx *c)
{
	char path[64], buf[1024];
	long pid = c->opts->pid && c->opts->pid != (long)getpid() ? (long)getppid()
	                                                           : (long)getpid();
	unsigned long long ticks;
	int rc = 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	const char *end = read_small(path, buf, sizeof(buf)) > 0 ? strrchr(buf, ')') : NULL;
	/* fields 3 to 21 after the command's closing parenthesis, then 22 */
	if (end && sscanf(end + 1, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s"
	                           " %*s %*s %*s %*s %llu", &ticks) == 1) {
		long hz = sysconf(_SC_CLK_TCK);
		struct timespec now, boot;
		clock_gettime(CLOCK_REALTIME, &now);
		clock_gettime(CLOCK_BOOTTIME, &boot);
		rc |= hs_writer_meta_uint(c->w, "process.start_ticks", ticks);
		if (hz > 0)
			rc |= hs_writer_meta_f64(
				c->w, "process.start",
				(double)now.tv_sec + (double)now.tv_nsec / 1e9 -
					((double)boot.tv_sec + (double)boot.tv_nsec / 1e9) +
					(double)ticks / (double)hz);
	}
	ssize_t n = read_small("/proc/sys/kernel/random/boot_id", buf, sizeof(buf));
	if (n > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		rc |= hs_writer_meta_str(c->w, "process.boot_id", buf);
	}
	return rc;
}

int hsd_meta_begin(struct hsd_ctx *c, int gc_enabled)
{
	hs_writer *w = c->w;
	char buf[256];
	int rc = 0;
	rc |= hs_writer_meta_str(w, "python.version", Py_GetVersion());
	rc |= hs_writer_meta_uint(w, "python.hexversion", (uint64_t)Py_Version);
	rc |= hs_writer_meta_str(w, "python.implementation", "cpython");
	rc |= hs_writer_meta_str(w, "python.build", Py_GetBuildInfo());
	rc |= hs_writer_meta_str(w, "python.compiler", Py_GetCompiler());
	rc |= hs_writer_meta_str(w, "python.platform", Py_GetPlatform());
	PyObject *exe = hsd_dict_get(c->interp->sysdict, "executable");
	if (exe && PyUnicode_Check(exe)) {
		struct hsd_buf b = { buf, 0, sizeof(buf) - 1, 0 };
		hsd_buf_str(&b, exe);
		buf[b.len] = '\0';
		rc |= hs_writer_meta_str(w, "executable", buf);
	}
	rc |= hs_writer_meta_uint(w, "pid", (uint64_t)(c->opts->pid ? c->opts->pid
	                                                         : getpid()));
	rc |= hs_writer_meta_uint(w, "ppid", (uint64_t)(c->opts->pid ? c->opts->ppid
	                                                          : getppid()));
	if (gethostname(buf, sizeof(buf)) == 0) {
		buf[sizeof(buf) - 1] = '\0';
		rc |= hs_writer_meta_str(w, "host", buf);
	}
	rc |= start_meta(c);
	rc |= argv_meta(c);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	rc |= hs_writer_meta_f64(w, "time", (double)now.tv_sec +
	                                    (double)now.tv_nsec / 1e9);
	struct tm utc;
	gmtime_r(&now.tv_sec, &utc);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &utc);
	rc |= hs_writer_meta_str(w, "time.utc", buf);
	rc |= hs_writer_meta_uint(w, "rss", hsd_rss_bytes());
	rc |= hs_writer_meta_uint(w, "gc.enabled", (uint64_t)gc_enabled);
	for (int g = 0; g < NUM_GENERATIONS; g++) {
		const struct gc_generation *gen = &c->interp->gc.generations[g];
		snprintf(buf, sizeof(buf), "gc.count%d", g);
		rc |= hs_writer_meta_uint(w, buf, (uint64_t)gen->count);
		snprintf(buf, sizeof(buf), "gc.threshold%d", g);
		rc |= hs_writer_meta_uint(w, buf, (uint64_t)gen->threshold);
		snprintf(buf, sizeof(buf), "gc.collections%d", g);
		rc |= hs_writer_meta_uint(
			w, buf,
			(uint64_t)c->interp->gc.generation_stats[g].collections);
	}
	rc |= hs_writer_meta_uint(w, "tracemalloc.tracing",
	                          (uint64_t)hsd_tm_config()->tracing);
	rc |= hs_writer_meta_uint(w, "tracemalloc.frames",
	                          (uint64_t)hsd_tm_config()->max_nframe);
	rc |= hs_writer_meta_str(w, "dumper.version", HEAPSNAP_VERSION);
	rc |= hs_writer_meta_str(w, "dumper.values",
	                         c->opts->values == HS_VALUES_NONE ? "none"
	                                                           : "preview");
	rc |= hs_writer_meta_uint(w, "dumper.preview_bytes", c->preview_len);
	for (const char *const *m = c->opts->meta; m && m[0] && m[1]; m += 2)
		rc |= hs_writer_meta_str(w, m[0], m[1]);
	return rc ? (c->failed ? -1 : hsd_check_writer(c)) : 0;
}

int hsd_meta_end(struct hsd_ctx *c, double seconds)
{
	hs_writer *w = c->w;
	int rc = 0;
	rc |= hs_writer_meta_uint(w, "dump.objects", c->nobjects);
	rc |= hs_writer_meta_uint(w, "dump.refs", c->nrefs);
	rc |= hs_writer_meta_uint(w, "dump.roots", c->nroots);
	rc |= hs_writer_meta_f64(w, "dumper.seconds", seconds);
	rc |= hs_writer_meta_uint(w, "dump.extra_bytes", c->peak_bytes);
	return rc ? hsd_check_writer(c) : 0;
}
