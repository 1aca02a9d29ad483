/*
 * tracemalloc.c - allocation tracebacks from tracemalloc's own tables.
 *
 * Per object: the trace of the memory block the object lives in (the
 * object minus its pre-header, as _tracemalloc._get_object_traceback
 * computes it), looked up in tracemalloc's pointer -> trace table. Frames
 * and tracebacks are written once each (tracemalloc interns tracebacks, so
 * the traceback pointer is the identity). After the walk every trace of
 * every domain is summed per (traceback, domain): the statistics
 * Snapshot.statistics('traceback') gives, memory not owned by objects
 * included. _PyTraceMalloc_GetTraceback would build a tuple per object,
 * so the tables are read directly: from 3.12 they are in _PyRuntime; 3.11
 * keeps them static in Modules/_tracemalloc.c, found through the symbol
 * table of libpython (checked against an exported symbol).
 *
 * tracemalloc's table lock is held from hsd_tm_begin() to hsd_tm_end():
 * nothing in the walk allocates through Python's allocators (which would
 * take the same lock), and threads freeing raw memory without the GIL wait.
 */
#include "internal.h"
#include "memstat.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if PY_VERSION_HEX >= 0x030C0000
typedef struct tracemalloc_frame tm_frame;
typedef struct tracemalloc_traceback tm_traceback;
#else
/* Modules/_tracemalloc.c (3.11): frame_t, traceback_t */
typedef struct __attribute__((packed)) {
	PyObject *filename;
	unsigned int lineno;
} tm_frame;
typedef struct {
	Py_uhash_t hash;
	uint16_t nframe;
	uint16_t total_nframe;
	tm_frame frames[1];
} tm_traceback;
#endif

/* trace_t, private to the tracemalloc implementation in every version */
typedef struct {
	size_t size;
	tm_traceback *traceback;
} tm_trace;

#define LOCK_TIMEOUT_US 2000000 /* a forked child may inherit it held */

struct hsd_tm {
	_Py_hashtable_t *traces;   /* domain 0 */
	_Py_hashtable_t *domains;  /* domain -> traces of other domains */
	PyThread_type_lock lock;
	int locked;
	struct hsd_map tracebacks; /* traceback -> id */
	struct hsd_map frames;     /* (filename, lineno) -> id */
	struct hsd_map sites;      /* (traceback, domain) -> count, bytes */
	uint64_t *ids;
	size_t capids;
};

struct tables {
	_Py_hashtable_t *traces, *domains;
	PyThread_type_lock lock;
	const size_t *traced, *peak; /* bytes, read under the lock */
};

#if PY_VERSION_HEX >= 0x030C0000
static int find_tables(struct tables *t, char *why, size_t whylen)
{
	(void)why;
	(void)whylen;
	t->traces = _PyRuntime.tracemalloc.traces;
	t->domains = _PyRuntime.tracemalloc.domains;
	t->lock = _PyRuntime.tracemalloc.tables_lock;
	t->traced = &_PyRuntime.tracemalloc.traced_memory;
	t->peak = &_PyRuntime.tracemalloc.peak_traced_memory;
	return 0;
}
#else
static const char *const static_names[] = {
	"tracemalloc_traces", "tracemalloc_domains", "tables_lock",
	"tracemalloc_traced_memory", "tracemalloc_peak_traced_memory",
};
#define NSTATIC (sizeof(static_names) / sizeof(static_names[0]))
#define ANCHOR "_PyTraceMalloc_GetTraceback"

/* Finds the static symbols in the ELF symbol table of path; the exported
 * anchor function gives the load bias (and proves the file is the one
 * loaded). */
static int elf_symbols(const char *path, uintptr_t anchor_addr,
                       uintptr_t out[NSTATIC], char *why, size_t whylen)
{
	int rc = -1;
	void *map = MAP_FAILED;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(why, whylen, "cannot read '%s': %s", path, strerror(errno));
		goto done;
	}
	size_t size = (size_t)st.st_size;
	map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		snprintf(why, whylen, "cannot map '%s': %s", path, strerror(errno));
		goto done;
	}
	const unsigned char *p = map;
	const Elf64_Ehdr *eh = map;
	if (size < sizeof(*eh) || memcmp(p, ELFMAG, SELFMAG) != 0 ||
	    p[EI_CLASS] != ELFCLASS64 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    eh->e_shoff > size ||
	    (size - eh->e_shoff) / sizeof(Elf64_Shdr) < eh->e_shnum) {
		snprintf(why, whylen, "'%s' is not a 64-bit ELF file", path);
		goto done;
	}
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(p + eh->e_shoff);
	uint64_t anchor = 0, value[NSTATIC] = { 0 };
	int nanchor = 0, count[NSTATIC] = { 0 };
	for (size_t i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum)
			continue;
		const Elf64_Shdr *ss = &sh[sh[i].sh_link];
		if (sh[i].sh_offset > size || size - sh[i].sh_offset < sh[i].sh_size ||
		    ss->sh_offset > size || size - ss->sh_offset < ss->sh_size)
			continue;
		const char *str = (const char *)p + ss->sh_offset;
		const Elf64_Sym *sym = (const Elf64_Sym *)(p + sh[i].sh_offset);
		size_t nsym = sh[i].sh_size / sizeof(Elf64_Sym);
		for (size_t k = 0; k < nsym; k++) {
			if (sym[k].st_name >= ss->sh_size)
				continue;
			const char *name = str + sym[k].st_name;
			size_t left = ss->sh_size - sym[k].st_name;
			int type = ELF64_ST_TYPE(sym[k].st_info);
			if (type == STT_FUNC && strncmp(name, ANCHOR, left) == 0) {
				anchor = sym[k].st_value;
				nanchor++;
			}
			for (size_t j = 0; type == STT_OBJECT && j < NSTATIC; j++) {
				if (strncmp(name, static_names[j], left) == 0) {
					value[j] = sym[k].st_value;
					count[j]++;
				}
			}
		}
	}
	if (nanchor != 1) {
		snprintf(why, whylen, "no symbol table in '%s'", path);
		goto done;
	}
	for (size_t j = 0; j < NSTATIC; j++) {
		if (count[j] != 1) {
			snprintf(why, whylen, "no unique symbol %s in '%s'",
			         static_names[j], path);
			goto done;
		}
		out[j] = anchor_addr - anchor + value[j];
	}
	rc = 0;
done:
	if (map != MAP_FAILED)
		munmap(map, size);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int find_tables(struct tables *t, char *why, size_t whylen)
{
	/* The addresses do not change for the life of the process (nor in a
	 * forked child): look them up once. */
	static uintptr_t addr[NSTATIC];
	static int found;
	if (!found) {
		void *anchor = dlsym(RTLD_DEFAULT, ANCHOR);
		Dl_info info;
		if (!anchor || !dladdr(anchor, &info)) {
			snprintf(why, whylen, "cannot locate %s", ANCHOR);
			return -1;
		}
		const char *path = info.dli_fname && info.dli_fname[0] == '/'
		                   ? info.dli_fname : "/proc/self/exe";
		if (elf_symbols(path, (uintptr_t)anchor, addr, why, whylen) < 0)
			return -1;
		found = 1;
	}
	t->traces = *(_Py_hashtable_t **)addr[0];
	t->domains = *(_Py_hashtable_t **)addr[1];
	t->lock = *(PyThread_type_lock *)addr[2];
	t->traced = (const size_t *)addr[3];
	t->peak = (const size_t *)addr[4];
	return 0;
}
#endif

static int skip(struct hsd_ctx *c, const char *why)
{
	if (hs_writer_meta_str(c->w, "tracemalloc.error", why) < 0)
		return hsd_check_writer(c);
	return 0;
}

int hsd_tm_begin(struct hsd_ctx *c)
{
	if (!hsd_tm_config()->tracing)
		return 0;
	struct tables t;
	char why[300];
	if (find_tables(&t, why, sizeof(why)) < 0)
		return skip(c, why);
	/* a wrong guess about the tables would show here */
	if (!t.traces || t.traces->hash_func != _Py_hashtable_hash_ptr)
		return skip(c, "tracemalloc tables not recognized");
	if (t.lock && PyThread_acquire_lock_timed(t.lock, LOCK_TIMEOUT_US, 0) !=
	              PY_LOCK_ACQUIRED)
		return skip(c, "tracemalloc tables stayed locked");
	struct hsd_tm *tm = calloc(1, sizeof(*tm));
	if (!tm) {
		if (t.lock)
			PyThread_release_lock(t.lock);
		return hsd_fail(c, ENOMEM, "out of memory for tracemalloc state");
	}
	if (hs_writer_meta_uint(c->w, "tracemalloc.traced", *t.traced) < 0 ||
	    hs_writer_meta_uint(c->w, "tracemalloc.peak", *t.peak) < 0 ||
	    hs_writer_meta_uint(c->w, "mem.tracemalloc",
	                        hsd_memstat_tm_bytes(t.traces, t.domains)) < 0) {
		if (t.lock)
			PyThread_release_lock(t.lock);
		free(tm);
		return hsd_check_writer(c);
	}
	tm->traces = t.traces;
	tm->domains = t.domains;
	tm->lock = t.lock;
	tm->locked = t.lock != NULL;
	c->tm = tm;
	return 0;
}

static uint64_t traceback_id(struct hsd_ctx *c, const tm_traceback *tb)
{
	struct hsd_tm *tm = c->tm;
	struct hsd_map_entry *e = hsd_map_get(&tm->tracebacks, (uintptr_t)tb, 0);
	if (!e) {
		hsd_fail(c, ENOMEM, "out of memory for tracebacks");
		return 0;
	}
	if (e->v1)
		return e->v1;
	size_t n = tb->nframe;
	if (n > tm->capids &&
	    hsd_grow(c, (void **)&tm->ids, &tm->capids, n, sizeof(*tm->ids)) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		PyObject *filename = tb->frames[i].filename;
		unsigned int lineno = tb->frames[i].lineno;
		struct hsd_map_entry *f = hsd_map_get(&tm->frames,
		                                      (uintptr_t)filename, lineno);
		if (!f) {
			hsd_fail(c, ENOMEM, "out of memory for frames");
			return 0;
		}
		if (!f->v1 &&
		    !(f->v1 = hs_writer_frame(c->w, hsd_label_plain(c, filename),
		                              lineno))) {
			hsd_check_writer(c);
			return 0;
		}
		tm->ids[i] = f->v1;
	}
	uint64_t id = hs_writer_traceback(c->w, tb->total_nframe, tm->ids, n);
	if (!id) {
		hsd_check_writer(c);
		return 0;
	}
	/* the frames map is separate: e is still valid */
	e->v1 = id;
	return id;
}

uint64_t hsd_tm_object(struct hsd_ctx *c, PyObject *o)
{
	const void *block = (const char *)o - _PyType_PreHeaderSize(Py_TYPE(o));
	const tm_trace *tr = _Py_hashtable_get(c->tm->traces, block);
	return tr ? traceback_id(c, tr->traceback) : 0;
}

struct sum {
	struct hsd_tm *tm;
	uint64_t domain;
	int oom;
};

static int sum_trace(_Py_hashtable_t *ht, const void *key, const void *value,
                     void *arg)
{
	struct sum *s = arg;
	const tm_trace *tr = value;
	struct hsd_map_entry *e = hsd_map_get(&s->tm->sites,
	                                      (uintptr_t)tr->traceback, s->domain);
	if (!e) {
		s->oom = 1;
		return -1;
	}
	e->v1++;
	e->v2 += tr->size;
	return 0;
}

static int sum_domain(_Py_hashtable_t *ht, const void *key, const void *value,
                      void *arg)
{
	struct sum *s = arg;
	s->domain = (uintptr_t)key;
	return _Py_hashtable_foreach((_Py_hashtable_t *)value, sum_trace, s);
}

int hsd_tm_end(struct hsd_ctx *c)
{
	struct hsd_tm *tm = c->tm;
	if (!tm)
		return 0;
	struct sum s = { tm, 0, 0 };
	_Py_hashtable_foreach(tm->traces, sum_trace, &s);
	if (tm->domains && !s.oom)
		_Py_hashtable_foreach(tm->domains, sum_domain, &s);
	if (tm->locked) {
		PyThread_release_lock(tm->lock);
		tm->locked = 0;
	}
	if (s.oom)
		return hsd_fail(c, ENOMEM, "out of memory for allocation sites");
	/* Tracebacks are owned by tracemalloc under the GIL, which is held:
	 * they stay valid after the table lock is released. */
	for (size_t i = 0; i < tm->sites.cap; i++) {
		const struct hsd_map_entry *e = &tm->sites.e[i];
		if (!e->k1)
			continue;
		hs_site site = { 0 };
		site.traceback = traceback_id(c, (const tm_traceback *)e->k1);
		if (!site.traceback)
			return -1;
		site.domain = e->k2;
		site.count = e->v1;
		site.bytes = e->v2;
		if (hs_writer_site(c->w, &site) < 0)
			return hsd_check_writer(c);
	}
	return 0;
}

size_t hsd_tm_bytes(const struct hsd_ctx *c)
{
	const struct hsd_tm *tm = c->tm;
	if (!tm)
		return 0;
	return (tm->tracebacks.cap + tm->frames.cap + tm->sites.cap) *
	       sizeof(struct hsd_map_entry) + tm->capids * sizeof(*tm->ids);
}

void hsd_tm_free(struct hsd_ctx *c)
{
	struct hsd_tm *tm = c->tm;
	if (!tm)
		return;
	if (tm->locked)
		PyThread_release_lock(tm->lock);
	hsd_map_free(&tm->tracebacks);
	hsd_map_free(&tm->frames);
	hsd_map_free(&tm->sites);
	free(tm->ids);
	free(tm);
	c->tm = NULL;
}
