/*
 * native.c - the dumper's side of native allocation tracking
 * (native/hs_native.h): starts the preloaded tracker with the Python
 * hooks, and writes its live sites into a dump (FORMAT.md, native-modules
 * and native-sites).
 *
 * What is counted: blocks allocated through malloc & co after start, not
 * through Python's own allocators. Python's raw domain (PyMem_RawMalloc,
 * which also serves PyObject_Malloc and PyMem_Malloc above 512 bytes) and
 * pymalloc's arena allocator are wrapped so that the tracker leaves their
 * blocks out: that memory is the objects', which the dump explains
 * already (and tracemalloc traces). The tracker is found by name at run
 * time, so the dumper works unchanged without it.
 */
#include "internal.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../native/hs_native.h"

static const struct hs_native_api *api;
static PyMemAllocatorEx raw_prev;
static PyObjectArenaAllocator arena_prev;

static const struct hs_native_api *find_api(void)
{
	if (!api) {
		const struct hs_native_api *(*get)(void);
		*(void **)&get = dlsym(RTLD_DEFAULT, "hs_native_api");
		const struct hs_native_api *a = get ? get() : NULL;
		api = a && a->abi == HS_NATIVE_ABI ? a : NULL;
	}
	return api;
}

int hsd_native_loaded(void)
{
	return find_api() != NULL;
}

/* ---- Python's allocators, left out -------------------------------------- */

static void *raw_malloc(void *ctx, size_t n)
{
	api->suppress(1);
	void *p = raw_prev.malloc(raw_prev.ctx, n);
	api->suppress(-1);
	return p;
}

static void *raw_calloc(void *ctx, size_t n, size_t m)
{
	api->suppress(1);
	void *p = raw_prev.calloc(raw_prev.ctx, n, m);
	api->suppress(-1);
	return p;
}

static void *raw_realloc(void *ctx, void *old, size_t n)
{
	api->suppress(1);
	void *p = raw_prev.realloc(raw_prev.ctx, old, n);
	api->suppress(-1);
	return p;
}

static void raw_free(void *ctx, void *p)
{
	raw_prev.free(raw_prev.ctx, p);
}

static void *arena_alloc(void *ctx, size_t n)
{
	api->suppress(1);
	void *p = arena_prev.alloc(arena_prev.ctx, n);
	api->suppress(-1);
	return p;
}

static void arena_free(void *ctx, void *p, size_t n)
{
	arena_prev.free(arena_prev.ctx, p, n);
}

/* ---- the hooks the tracker calls inside an allocation ------------------- */

/* The allocating thread's own frames, also while it runs C without the
 * GIL (a ctypes call releases it): only this thread changes its frame
 * chain, and the frames on it hold their code objects. */
static size_t pykeys(uintptr_t *keys, size_t max)
{
	PyThreadState *ts = PyGILState_GetThisThreadState();
	size_t n = 0;
	for (_PyInterpreterFrame *f = ts ? hsd_thread_frame(ts) : NULL; f && n < max;
	     f = f->previous) {
		PyCodeObject *code = hsd_frame_code(f);
		if (!code || hsd_frame_is_shim(f) || _PyFrame_IsIncomplete(f))
			continue;
		keys[2 * n] = (uintptr_t)code;
		keys[2 * n + 1] = (uintptr_t)hsd_frame_lasti(f);
		n++;
	}
	return n;
}

/* Called in the allocation that saw the frame, by its thread: the code
 * object is alive. Reads only what never changes (file, name, line table). */
static void pyname(uintptr_t code, uintptr_t instr, struct hs_native_pyframe *out,
                   char *buf, size_t len)
{
	PyCodeObject *co = (PyCodeObject *)code;
	struct hsd_buf file = { buf, 0, len / 2 - 1, 0 };
	struct hsd_buf func = { buf + len / 2, 0, len / 2 - 1, 0 };
	hsd_buf_str(&file, co->co_filename);
	hsd_buf_str(&func, co->co_qualname);
	file.p[file.len] = '\0';
	func.p[func.len] = '\0';
	out->file = file.p;
	out->func = func.p;
	int line = PyCode_Addr2Line(co, (int)(instr * sizeof(_Py_CODEUNIT)));
	out->line = line > 0 ? (uint32_t)line : 0;
}

int hsd_native_start(char *err, size_t errlen)
{
	static int started;
	if (started)
		return 0;
	if (!find_api()) {
		snprintf(err, errlen, "the native tracker is not loaded (libheapsnap-native.so"
		                      " in LD_PRELOAD; python -m heapsnap run --native sets it)");
		return -1;
	}
	PyMemAllocatorEx raw = { NULL, raw_malloc, raw_calloc, raw_realloc, raw_free };
	PyObjectArenaAllocator arena = { NULL, arena_alloc, arena_free };
	PyMem_GetAllocator(PYMEM_DOMAIN_RAW, &raw_prev);
	PyMem_SetAllocator(PYMEM_DOMAIN_RAW, &raw);
	PyObject_GetArenaAllocator(&arena_prev);
	PyObject_SetArenaAllocator(&arena);
	api->enable(pykeys, pyname);
	started = 1;
	return 0;
}

void hsd_native_quiet(int on)
{
	if (find_api())
		api->suppress(on ? 1 : -1);
}

/* ---- the dump ------------------------------------------------------------ */

struct module {
	uintptr_t lo, hi;    /* its PT_LOAD segments in memory */
	uintptr_t bias;
	char path[PATH_MAX];
	uint8_t build_id[64];
	size_t build_id_len;
	uint64_t id;         /* written once a frame points into it */
};

struct modules {
	struct module *m;
	size_t n, cap;
	struct hsd_ctx *c;
};

static void read_build_id(struct module *m, const struct dl_phdr_info *info)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const char *name = p + sizeof(*nh);
			const uint8_t *desc = (const uint8_t *)name + ((nh->n_namesz + 3) & ~3u);
			p = (const char *)desc + ((nh->n_descsz + 3) & ~3u);
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(name, "GNU", 4) && nh->n_descsz <= sizeof(m->build_id) &&
			    p <= end) {
				memcpy(m->build_id, desc, nh->n_descsz);
				m->build_id_len = nh->n_descsz;
				return;
			}
		}
	}
}

static int add_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct modules *ms = arg;
	if (ms->n == ms->cap &&
	    hsd_grow(ms->c, (void **)&ms->m, &ms->cap, ms->n + 1, sizeof(*ms->m)) < 0)
		return 1;
	struct module *m = &ms->m[ms->n];
	memset(m, 0, sizeof(*m));
	m->lo = UINTPTR_MAX;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		m->lo = lo < m->lo ? lo : m->lo;
		m->hi = hi > m->hi ? hi : m->hi;
	}
	if (m->lo >= m->hi)
		return 0;
	m->bias = info->dlpi_addr;
	const char *name = info->dlpi_name;
	if (!name || !*name) {
		/* the executable */
		ssize_t k = readlink("/proc/self/exe", m->path, sizeof(m->path) - 1);
		m->path[k > 0 ? k : 0] = '\0';
	} else {
		snprintf(m->path, sizeof(m->path), "%s", name);
	}
	read_build_id(m, info);
	ms->n++;
	return 0;
}

static struct module *module_of(struct modules *ms, uintptr_t a)
{
	for (size_t i = 0; i < ms->n; i++)
		if (a >= ms->m[i].lo && a < ms->m[i].hi)
			return &ms->m[i];
	return NULL;
}

static int write_site(struct hsd_ctx *c, struct modules *ms, const struct hs_native_entry *s)
{
	hs_native_frame nf[HS_NATIVE_FRAMES];
	hs_py_frame py[HS_NATIVE_PYFRAMES];
	hs_writer *w = c->w;
	for (uint32_t i = 0; i < s->nframes && i < HS_NATIVE_FRAMES; i++) {
		/* the call instruction, not the one after it */
		uintptr_t a = s->frames[i] - 1;
		struct module *m = module_of(ms, a);
		Dl_info di;
		nf[i] = (hs_native_frame){ 0, a, 0 };
		if (m) {
			if (!m->id &&
			    !(m->id = hs_writer_native_module(w, hs_writer_string(w, m->path, strlen(m->path)),
			                                      m->build_id, m->build_id_len)))
				return hsd_check_writer(c);
			nf[i].module = m->id;
			nf[i].addr = a - m->bias;
		}
		if (dladdr((void *)a, &di) && di.dli_sname && di.dli_saddr)
			nf[i].symbol = hs_writer_string(w, di.dli_sname, strlen(di.dli_sname));
	}
	for (uint32_t i = 0; i < s->npy && i < HS_NATIVE_PYFRAMES; i++)
		py[i] = (hs_py_frame){ hs_writer_string(w, s->py[i].file, strlen(s->py[i].file)),
		                       s->py[i].line,
		                       hs_writer_string(w, s->py[i].func, strlen(s->py[i].func)) };
	hs_native_site rec = {
		.alloc = s->alloc, .count = (uint64_t)s->count, .bytes = (uint64_t)s->bytes,
		.n = s->nframes < HS_NATIVE_FRAMES ? s->nframes : HS_NATIVE_FRAMES, .frames = nf,
		.npy = s->npy < HS_NATIVE_PYFRAMES ? s->npy : HS_NATIVE_PYFRAMES, .py = py,
	};
	return hs_writer_native_site(w, &rec) ? hsd_check_writer(c) : 0;
}

int hsd_native_write(struct hsd_ctx *c)
{
	if (!find_api())
		return 0;
	struct modules ms = { .c = c };
	uint64_t nsites = 0, blocks = 0, bytes = 0;
	int rc = 0;
	dl_iterate_phdr(add_module, &ms);
	if (c->failed)
		goto cleanup;
	size_t n = api->nsites();
	for (size_t i = 0; i < n && !rc; i++) {
		struct hs_native_entry s;
		if (api->site(i, &s) < 0 || s.count <= 0 || s.bytes <= 0)
			continue;
		nsites++;
		blocks += (uint64_t)s.count;
		bytes += (uint64_t)s.bytes;
		rc = write_site(c, &ms, &s);
	}
	if (!rc && (hs_writer_meta_uint(c->w, "native.sites", nsites) ||
	            hs_writer_meta_uint(c->w, "native.blocks", blocks) ||
	            hs_writer_meta_uint(c->w, "native.bytes", bytes) ||
	            hs_writer_meta_uint(c->w, "native.overhead", api->overhead())))
		rc = hsd_check_writer(c);
cleanup:
	free(ms.m);
	return c->failed ? -1 : rc;
}
