/*
 * memstat.c - the process's memory accounting for the dump's metadata
 * (memstat.h).
 *
 * pymalloc's figures come from _PyObject_DebugMallocStats, the function
 * behind sys._debugmallocstats(), exported by 3.11 to 3.13: it walks the
 * arenas with plain C (no lock, no Python object, no Python code) and
 * prints into a memory stream whose totals are parsed back (the same text
 * in the three versions). glibc's come from mallinfo2(), whose arena locks
 * a fork child finds reset by glibc's own fork handlers.
 */
#include "memstat.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define HAVE_MALLINFO2 1
#endif
#if PY_VERSION_HEX >= 0x030C0000
#include "internal/pycore_obmalloc.h"
#endif

/* The kB figure of a "Key:   123 kB" line of /proc/PID/status. */
static uint64_t status_kb(const char *text, const char *key)
{
	size_t n = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, n) && p[n] == ':')
			return strtoull(p + n + 1, NULL, 10) * 1024;
	return 0;
}

static void read_status(struct hsd_memstat *m, long pid)
{
	char buf[8192], path[64];
	size_t len = 0;
	ssize_t got;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid ? pid : (long)getpid());
	/* plain read(): stdio would allocate a buffer in the heap measured */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	while (len < sizeof(buf) - 1 &&
	       ((got = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0 ||
	        (got < 0 && errno == EINTR)))
		if (got > 0)
			len += (size_t)got;
	close(fd);
	buf[len] = '\0';
	m->rss = status_kb(buf, "VmRSS");
	m->hwm = status_kb(buf, "VmHWM");
	m->rss_anon = status_kb(buf, "RssAnon");
	m->rss_file = status_kb(buf, "RssFile");
	m->rss_shmem = status_kb(buf, "RssShmem");
	m->have_status = m->rss != 0;
}

/* The value after '=' of a printone() line: digits with thousands commas. */
static uint64_t stat_value(const char *line)
{
	const char *eq = strchr(line, '=');
	uint64_t v = 0;
	for (const char *p = eq ? eq + 1 : ""; *p && *p != '\n'; p++)
		if (*p >= '0' && *p <= '9')
			v = v * 10 + (uint64_t)(*p - '0');
	return v;
}

static int starts(const char *line, const char *prefix)
{
	return !strncmp(line, prefix, strlen(prefix));
}

/* Reads the arena totals of _PyObject_DebugMallocStats's report; its
 * per-class table before them and the arena map after them are skipped. */
static void parse_pymalloc(const char *text, struct hsd_memstat *m)
{
	int seen = 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);
		if (starts(l, "# arenas allocated current")) {
			m->py_arenas = stat_value(l);
			seen |= 1;
		} else if (memmem(l, n, " bytes/arena", 12)) {
			m->py_arena_bytes = stat_value(l);
			seen |= 2;
		} else if (starts(l, "# bytes in allocated blocks")) {
			m->py_allocated = stat_value(l);
			seen |= 4;
		} else if (starts(l, "# bytes in available blocks")) {
			m->py_free_blocks = stat_value(l);
		} else if (memmem(l, n, " unused pools * ", 16)) {
			m->py_free_pools = stat_value(l);
		} else if (starts(l, "# bytes lost to pool headers") ||
		           starts(l, "# bytes lost to quantization") ||
		           starts(l, "# bytes lost to arena alignment")) {
			m->py_overhead += stat_value(l);
		} else if (starts(l, "Total")) {
			break;
		}
	}
	m->have_pymalloc = seen == 7;
}

#if PY_VERSION_HEX >= 0x030C0000
/* The fields themselves: the API takes a mutex a fork child may inherit
 * held. */
static void get_allocator(PyMemAllocatorDomain d, PyMemAllocatorEx *a)
{
	*a = d == PYMEM_DOMAIN_OBJ ? _PyRuntime.allocators.standard.obj
	                           : _PyRuntime.allocators.standard.mem;
}

static void set_obj_allocator(const PyMemAllocatorEx *a)
{
	_PyRuntime.allocators.standard.obj = *a;
}
#else
static void get_allocator(PyMemAllocatorDomain d, PyMemAllocatorEx *a)
{
	PyMem_GetAllocator(d, a);
}

static void set_obj_allocator(const PyMemAllocatorEx *a)
{
	PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, (PyMemAllocatorEx *)a);
}
#endif

/* _PyObject_DebugMallocStats reports only when the object allocator is
 * pymalloc's own. tracemalloc's hooks sit in front of it, each with the
 * allocator it wraps as context (its saved {mem, raw, obj}, which tells
 * them from another hook): for the length of the call the wrapped one is
 * put back. Nothing allocates objects meanwhile: the GIL is held. */
static void read_pymalloc(struct hsd_memstat *m)
{
	char *text = NULL;
	size_t len = 0;
	PyMemAllocatorEx obj, mem;
	get_allocator(PYMEM_DOMAIN_OBJ, &obj);
	get_allocator(PYMEM_DOMAIN_MEM, &mem);
	int hooked = hsd_tm_config()->tracing && mem.ctx &&
	             obj.ctx == (PyMemAllocatorEx *)mem.ctx + 2;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	if (hooked)
		set_obj_allocator(obj.ctx);
	int printed = _PyObject_DebugMallocStats(f);
	if (hooked)
		set_obj_allocator(&obj);
	if (fclose(f) == 0 && printed && text)
		parse_pymalloc(text, m);
	free(text);
}

void hsd_memstat_take(struct hsd_memstat *m, long pid)
{
	memset(m, 0, sizeof(*m));
	/* malloc's first, before the reads below allocate anything */
#ifdef HAVE_MALLINFO2
	struct mallinfo2 mi = mallinfo2();
	m->have_malloc = 1;
	m->malloc_arena = mi.arena;
	m->malloc_in_use = mi.uordblks;
	m->malloc_free = mi.fordblks;
	m->malloc_mmapped = mi.hblkhd;
#endif
	read_status(m, pid);
	read_pymalloc(m);
}

int hsd_memstat_write(struct hsd_ctx *c, const struct hsd_memstat *m)
{
	hs_writer *w = c->w;
	int rc = 0;
	if (m->have_status) {
		rc |= hs_writer_meta_uint(w, "mem.rss", m->rss);
		rc |= hs_writer_meta_uint(w, "mem.hwm", m->hwm);
		rc |= hs_writer_meta_uint(w, "mem.rss_anon", m->rss_anon);
		rc |= hs_writer_meta_uint(w, "mem.rss_file", m->rss_file);
		rc |= hs_writer_meta_uint(w, "mem.rss_shmem", m->rss_shmem);
	}
	if (m->have_pymalloc) {
		rc |= hs_writer_meta_uint(w, "mem.pymalloc.arenas", m->py_arenas);
		rc |= hs_writer_meta_uint(w, "mem.pymalloc.arena_bytes", m->py_arena_bytes);
		rc |= hs_writer_meta_uint(w, "mem.pymalloc.allocated", m->py_allocated);
		rc |= hs_writer_meta_uint(w, "mem.pymalloc.free_blocks", m->py_free_blocks);
		rc |= hs_writer_meta_uint(w, "mem.pymalloc.free_pools", m->py_free_pools);
		rc |= hs_writer_meta_uint(w, "mem.pymalloc.overhead", m->py_overhead);
	}
	if (m->have_malloc) {
		rc |= hs_writer_meta_uint(w, "mem.malloc.arena", m->malloc_arena);
		rc |= hs_writer_meta_uint(w, "mem.malloc.in_use", m->malloc_in_use);
		rc |= hs_writer_meta_uint(w, "mem.malloc.free", m->malloc_free);
		rc |= hs_writer_meta_uint(w, "mem.malloc.mmapped", m->malloc_mmapped);
	}
	return rc ? hsd_check_writer(c) : 0;
}

/* What glibc takes for a request of n bytes on 64-bit: n plus its size
 * word, rounded up to 16, at least 32. */
static uint64_t chunk(uint64_t n)
{
	uint64_t c = (n + 8 + 15) & ~(uint64_t)15;
	return c < 32 ? 32 : c;
}

/* A table of traces: its header and buckets, and per trace its entry and
 * its trace_t (two pointers), each a separate allocation. */
static uint64_t traces_bytes(const _Py_hashtable_t *t)
{
	return chunk(sizeof(*t)) + chunk(t->nbuckets * sizeof(void *)) +
	       t->nentries * (chunk(sizeof(_Py_hashtable_entry_t)) + chunk(2 * sizeof(void *)));
}

static int add_domain(_Py_hashtable_t *ht, const void *key, const void *value, void *arg)
{
	*(uint64_t *)arg += traces_bytes(value);
	return 0;
}

uint64_t hsd_memstat_tm_bytes(_Py_hashtable_t *traces, _Py_hashtable_t *domains)
{
	uint64_t n = traces ? traces_bytes(traces) : 0;
	if (domains) {
		n += chunk(sizeof(*domains)) + chunk(domains->nbuckets * sizeof(void *)) +
		     domains->nentries * chunk(sizeof(_Py_hashtable_entry_t));
		_Py_hashtable_foreach(domains, add_domain, &n);
	}
	return n;
}
