/*
 * preload.c - libheapsnap-native.so, the native allocation tracker
 * (hs_native.h), loaded with LD_PRELOAD by `python -m heapsnap run
 * --native`.
 *
 * Why LD_PRELOAD: symbol interposition from the extension would only see
 * the allocations of objects linked after it and bound lazily; a preloaded
 * library comes first in every object's symbol lookup, so every malloc of
 * the process (C extensions, Cython, ctypes, libraries, glibc's own strdup)
 * reaches it, while glibc's internal mmap of large blocks does not (it is
 * counted as the malloc it serves). The real allocators are glibc's
 * exported __libc_* entry points (no dlsym bootstrap), mmap is the system
 * call.
 *
 * Nothing here allocates with malloc: tables come from mmap. A thread
 * inside the tracker (backtrace(), the dumper's Python hook) passes its
 * own allocations straight through (the thread-local `busy`).
 *
 * Live blocks sit in 64 striped open-addressing tables (address -> size
 * and site), each under a spin lock; sites in an append-only array with a
 * lock-free chained hash for lookup, insertion under one lock. A site
 * keeps its live bytes and blocks in atomics, so a reader walks the sites
 * only. pthread_atfork handlers hold every lock across fork(): a child
 * (the dumper's, or any other) starts with consistent, unlocked tables.
 * A per-thread cache of sites spares most allocations backtrace().
 */
#include "hs_native.h"

#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define TLS __attribute__((tls_model("initial-exec"))) __thread

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void __libc_free(void *);
void *__libc_memalign(size_t, size_t);

#define STRIPES 64
#define STRIPE_SLOTS0 4096
#define MAX_SITES (1u << 20)
#define BUCKETS (1u << 16)
#define ARENA_CHUNK (1u << 20)
/* return addresses in record() and the wrapper above the caller's */
#define SKIP 2

struct slot {
	uintptr_t p;         /* 0: empty */
	uint64_t meta;       /* size << 24 | site index */
};

struct stripe {
	atomic_int lock;
	struct slot *t;
	size_t cap, n;
} __attribute__((aligned(64)));

struct site {
	_Atomic int64_t bytes, count;
	uint64_t hash;
	_Atomic uint32_t next;  /* index + 1 of the next site in the bucket */
	uint8_t alloc, nframes, npy;
	uintptr_t frames[HS_NATIVE_FRAMES];
	uintptr_t pykeys[2 * HS_NATIVE_PYFRAMES];
	struct hs_native_pyframe py[HS_NATIVE_PYFRAMES];
};

static struct stripe stripes[STRIPES];
static struct site *sites;              /* MAX_SITES reserved */
static _Atomic uint32_t *buckets;       /* index + 1 of the first site */
static _Atomic uint32_t nsites;
static atomic_int site_lock;
static char *arena;                     /* strings of Python frames */
static size_t arena_left;
static _Atomic uint64_t own_bytes, nblocks;
static atomic_int enabled, mmaps;
static hs_native_pykeys_fn pykeys_fn;
static hs_native_pyname_fn pyname_fn;
static TLS int busy, suppressed;

static void *map(size_t n)
{
	void *p = (void *)syscall(SYS_mmap, NULL, n, PROT_READ | PROT_WRITE,
	                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	atomic_fetch_add_explicit(&own_bytes, n, memory_order_relaxed);
	return p;
}

static void unmap(void *p, size_t n)
{
	syscall(SYS_munmap, p, n);
	atomic_fetch_sub_explicit(&own_bytes, n, memory_order_relaxed);
}

static void spin_lock(atomic_int *l)
{
	for (int i = 0; atomic_exchange_explicit(l, 1, memory_order_acquire); i++)
		while (atomic_load_explicit(l, memory_order_relaxed))
			if (++i > 64)
				sched_yield();
			else
				__builtin_ia32_pause();
}

static void spin_unlock(atomic_int *l)
{
	atomic_store_explicit(l, 0, memory_order_release);
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

/* ---- sites ------------------------------------------------------------ */

static uint64_t site_hash(const struct site *s)
{
	uint64_t h = mix(s->alloc + 1);
	for (int i = 0; i < s->nframes; i++)
		h = mix(h ^ s->frames[i]);
	for (int i = 0; i < 2 * s->npy; i++)
		h = mix(h ^ s->pykeys[i]);
	return h;
}

static int same_site(const struct site *a, const struct site *b)
{
	return a->hash == b->hash && a->alloc == b->alloc && a->nframes == b->nframes &&
	       a->npy == b->npy &&
	       !memcmp(a->frames, b->frames, a->nframes * sizeof(a->frames[0])) &&
	       !memcmp(a->pykeys, b->pykeys, 2 * a->npy * sizeof(a->pykeys[0]));
}

static uint32_t find_site(const struct site *k)
{
	uint32_t i = atomic_load_explicit(&buckets[k->hash & (BUCKETS - 1)], memory_order_acquire);
	while (i && !same_site(&sites[i - 1], k))
		i = atomic_load_explicit(&sites[i - 1].next, memory_order_acquire);
	return i;
}

/* Copies s into the string arena; NULL when it cannot grow. */
static const char *keep(const char *s)
{
	size_t n = strlen(s) + 1;
	if (n > arena_left) {
		size_t want = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		char *a = map(want);
		if (!a)
			return NULL;
		arena = a;
		arena_left = want;
	}
	char *d = arena;
	memcpy(d, s, n);
	arena += n;
	arena_left -= n;
	return d;
}

/* The index + 1 of site k, added if new; 0 when the table is full. */
static uint32_t intern_site(struct site *k)
{
	k->hash = site_hash(k);
	uint32_t i = find_site(k);
	if (i)
		return i;
	/* names first, outside the lock: the hook reads Python state */
	char buf[HS_NATIVE_PYFRAMES][512];
	for (int f = 0; f < k->npy; f++) {
		k->py[f] = (struct hs_native_pyframe){ "", "", 0 };
		if (pyname_fn)
			pyname_fn(k->pykeys[2 * f], k->pykeys[2 * f + 1], &k->py[f], buf[f],
			          sizeof(buf[f]));
	}
	spin_lock(&site_lock);
	uint32_t n = atomic_load_explicit(&nsites, memory_order_relaxed);
	if (!(i = find_site(k)) && n < MAX_SITES) {
		struct site *s = &sites[n];
		*s = *k;
		for (int f = 0; f < k->npy; f++) {
			const char *file = keep(k->py[f].file), *func = keep(k->py[f].func);
			s->py[f].file = file ? file : "";
			s->py[f].func = func ? func : "";
		}
		_Atomic uint32_t *b = &buckets[k->hash & (BUCKETS - 1)];
		atomic_store_explicit(&s->next, atomic_load_explicit(b, memory_order_relaxed),
		                      memory_order_relaxed);
		atomic_store_explicit(&nsites, n + 1, memory_order_release);
		atomic_store_explicit(b, n + 1, memory_order_release);
		i = n + 1;
	}
	spin_unlock(&site_lock);
	return i;
}

static void account(uint32_t site, int64_t bytes, int64_t count)
{
	struct site *s = &sites[site - 1];
	atomic_fetch_add_explicit(&s->bytes, bytes, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->count, count, memory_order_relaxed);
	atomic_fetch_add_explicit(&nblocks, (uint64_t)count, memory_order_relaxed);
}

/* ---- blocks ----------------------------------------------------------- */

static int grow(struct stripe *st)
{
	size_t cap = st->cap ? 2 * st->cap : STRIPE_SLOTS0;
	struct slot *t = map(cap * sizeof(*t));
	if (!t)
		return -1;
	for (size_t i = 0; i < st->cap; i++) {
		if (!st->t[i].p)
			continue;
		size_t j = mix(st->t[i].p) & (cap - 1);
		while (t[j].p)
			j = (j + 1) & (cap - 1);
		t[j] = st->t[i];
	}
	if (st->t)
		unmap(st->t, st->cap * sizeof(*st->t));
	st->t = t;
	st->cap = cap;
	return 0;
}

static void insert(uintptr_t p, uint64_t size, uint32_t site)
{
	uint64_t h = mix(p);
	struct stripe *st = &stripes[h >> 58];
	uint64_t old = 0;
	spin_lock(&st->lock);
	if ((st->n + 1) * 10 > st->cap * 7 && grow(st) < 0) {
		spin_unlock(&st->lock);
		return;
	}
	size_t mask = st->cap - 1, j = h & mask;
	while (st->t[j].p && st->t[j].p != p)
		j = (j + 1) & mask;
	if (st->t[j].p)
		old = st->t[j].meta; /* a block whose free we missed */
	else
		st->n++;
	st->t[j] = (struct slot){ p, size << 24 | site };
	spin_unlock(&st->lock);
	if (old)
		account((uint32_t)(old & 0xffffff), -(int64_t)(old >> 24), -1);
	account(site, (int64_t)size, 1);
}

/* Backward-shift deletion keeps linear probing free of tombstones. */
static void forget(uintptr_t p)
{
	uint64_t h = mix(p);
	struct stripe *st = &stripes[h >> 58];
	spin_lock(&st->lock);
	if (!st->cap) {
		spin_unlock(&st->lock);
		return;
	}
	size_t mask = st->cap - 1, j = h & mask;
	while (st->t[j].p && st->t[j].p != p)
		j = (j + 1) & mask;
	uint64_t meta = st->t[j].meta;
	if (!st->t[j].p) {
		spin_unlock(&st->lock);
		return;
	}
	for (size_t k = (j + 1) & mask; st->t[k].p; k = (k + 1) & mask) {
		size_t home = mix(st->t[k].p) & mask;
		/* moves back unless its home lies cyclically in (j, k] */
		if ((k > j && (home <= j || home > k)) || (k < j && home <= j && home > k)) {
			st->t[j] = st->t[k];
			j = k;
		}
	}
	st->t[j] = (struct slot){ 0, 0 };
	st->n--;
	spin_unlock(&st->lock);
	account((uint32_t)(meta & 0xffffff), -(int64_t)(meta >> 24), -1);
}

/* Per thread, the sites last resolved, keyed by the allocator's return
 * address and the Python frames: a hit skips backtrace() (about 1 us, most
 * of a tracked allocation's cost). Lock-free, being the thread's own; a
 * fork child inherits the forking thread's, valid with the sites it
 * inherits. The native frames above the immediate caller are not in the
 * key: one caller reached through two native call chains on the same
 * Python frames counts both at the chain the thread saw first. */
#define CACHE_SLOTS 256

struct cached {
	uintptr_t ra;        /* 0: empty */
	uintptr_t pykeys[2 * HS_NATIVE_PYFRAMES];
	uint32_t site;
	uint8_t alloc, npy;
};

static TLS struct cached cache[CACHE_SLOTS];

/* Records block p of size bytes from allocator `alloc`, called from ra.
 * noinline: the frames backtrace() skips are its own and the wrapper's. */
static __attribute__((noinline)) void record(void *p, size_t size, int alloc, uintptr_t ra)
{
	struct site k;
	busy = 1;
	k.alloc = (uint8_t)alloc;
	k.npy = pykeys_fn ? (uint8_t)pykeys_fn(k.pykeys, HS_NATIVE_PYFRAMES) : 0;
	uint64_t h = ra + (uint64_t)alloc;
	for (int i = 0; i < 2 * k.npy; i++)
		h = h * 0x9e3779b97f4a7c15ull + k.pykeys[i];
	struct cached *c = &cache[mix(h) & (CACHE_SLOTS - 1)];
	uint32_t site;
	if (c->ra == ra && c->alloc == k.alloc && c->npy == k.npy &&
	    !memcmp(c->pykeys, k.pykeys, 2 * k.npy * sizeof(k.pykeys[0]))) {
		site = c->site;
	} else {
		void *bt[HS_NATIVE_FRAMES + SKIP];
		int n = backtrace(bt, HS_NATIVE_FRAMES + SKIP);
		k.nframes = (uint8_t)(n > SKIP ? n - SKIP : 0);
		for (int i = 0; i < k.nframes; i++)
			k.frames[i] = (uintptr_t)bt[i + SKIP];
		atomic_store_explicit(&k.bytes, 0, memory_order_relaxed);
		atomic_store_explicit(&k.count, 0, memory_order_relaxed);
		atomic_store_explicit(&k.next, 0, memory_order_relaxed);
		site = intern_site(&k);
		if (site) {
			c->ra = ra;
			c->alloc = k.alloc;
			c->npy = k.npy;
			memcpy(c->pykeys, k.pykeys, 2 * k.npy * sizeof(k.pykeys[0]));
			c->site = site;
		}
	}
	if (site)
		insert((uintptr_t)p, size, site);
	busy = 0;
}

static inline int tracking(void)
{
	return !busy && !suppressed && atomic_load_explicit(&enabled, memory_order_relaxed);
}

static inline void untrack(void *p)
{
	if (p && !busy && atomic_load_explicit(&nblocks, memory_order_relaxed)) {
		busy = 1;
		forget((uintptr_t)p);
		busy = 0;
	}
}

/* ---- the interposed allocators ---------------------------------------- */

/* the wrapper's caller, the cache key's native part */
#define RA ((uintptr_t)__builtin_return_address(0))

EXPORT void *malloc(size_t n)
{
	void *p = __libc_malloc(n);
	if (p && tracking())
		record(p, n, HS_NA_MALLOC, RA);
	return p;
}

EXPORT void free(void *p)
{
	untrack(p);
	__libc_free(p);
}

EXPORT void *calloc(size_t n, size_t m)
{
	void *p = __libc_calloc(n, m);
	if (p && tracking())
		record(p, n * m, HS_NA_CALLOC, RA);
	return p;
}

EXPORT void *realloc(void *old, size_t n)
{
	/* forgotten first: once realloc returns, another thread may get old */
	untrack(old);
	void *p = __libc_realloc(old, n);
	if (p && tracking())
		record(p, n, old ? HS_NA_REALLOC : HS_NA_MALLOC, RA);
	return p;
}

EXPORT void *reallocarray(void *old, size_t n, size_t m)
{
	size_t b;
	if (__builtin_mul_overflow(n, m, &b)) {
		errno = ENOMEM;
		return NULL;
	}
	untrack(old);
	void *p = __libc_realloc(old, b);
	if (p && tracking())
		record(p, b, old ? HS_NA_REALLOC : HS_NA_MALLOC, RA);
	return p;
}

EXPORT void *memalign(size_t align, size_t n)
{
	void *p = __libc_memalign(align, n);
	if (p && tracking())
		record(p, n, HS_NA_MEMALIGN, RA);
	return p;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	void *p = __libc_memalign(align, n);
	if (p && tracking())
		record(p, n, HS_NA_MEMALIGN, RA);
	return p;
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (!align || (align & (align - 1)) || align % sizeof(void *))
		return EINVAL;
	void *p = __libc_memalign(align, n);
	if (!p)
		return ENOMEM;
	if (tracking())
		record(p, n, HS_NA_MEMALIGN, RA);
	*out = p;
	return 0;
}

EXPORT void *valloc(size_t n)
{
	void *p = __libc_memalign((size_t)sysconf(_SC_PAGESIZE), n);
	if (p && tracking())
		record(p, n, HS_NA_MEMALIGN, RA);
	return p;
}

EXPORT void *pvalloc(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t b = (n + page - 1) & ~(page - 1);
	void *p = __libc_memalign(page, b ? b : page);
	if (p && tracking())
		record(p, b, HS_NA_MEMALIGN, RA);
	return p;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	void *p = r == -1 ? MAP_FAILED : (void *)r;
	if (p != MAP_FAILED && (flags & MAP_ANONYMOUS) && !(flags & MAP_SHARED) &&
	    atomic_load_explicit(&mmaps, memory_order_relaxed) && tracking())
		record(p, len, HS_NA_MMAP, RA);
	return p;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
	__attribute__((alias("mmap")));

/* Only a whole mapping from its start is forgotten; a partial munmap
 * leaves the block counted at its first size. */
EXPORT int munmap(void *addr, size_t len)
{
	untrack(addr);
	return (int)syscall(SYS_munmap, addr, len);
}

/* ---- the interface -------------------------------------------------- */

static void api_enable(hs_native_pykeys_fn pykeys, hs_native_pyname_fn pyname)
{
	spin_lock(&site_lock);
	pykeys_fn = pykeys;
	pyname_fn = pyname;
	spin_unlock(&site_lock);
	if (sites && buckets) {
		atomic_store(&mmaps, 1);
		atomic_store(&enabled, 1);
	}
}

static void api_suppress(int delta)
{
	suppressed += delta;
}

static size_t api_nsites(void)
{
	return atomic_load_explicit(&nsites, memory_order_acquire);
}

static int api_site(size_t i, struct hs_native_entry *out)
{
	if (i >= api_nsites())
		return -1;
	const struct site *s = &sites[i];
	out->bytes = atomic_load_explicit(&s->bytes, memory_order_relaxed);
	out->count = atomic_load_explicit(&s->count, memory_order_relaxed);
	out->alloc = s->alloc;
	out->nframes = s->nframes;
	out->npy = s->npy;
	out->frames = s->frames;
	out->py = s->py;
	return 0;
}

static uint64_t api_blocks(void)
{
	return atomic_load_explicit(&nblocks, memory_order_relaxed);
}

/* The site array is reserved whole but touched only as far as it is used. */
static uint64_t api_overhead(void)
{
	return atomic_load_explicit(&own_bytes, memory_order_relaxed) -
	       (uint64_t)MAX_SITES * sizeof(*sites) + api_nsites() * sizeof(*sites);
}

static const struct hs_native_api api = {
	.abi = HS_NATIVE_ABI,
	.enable = api_enable,
	.suppress = api_suppress,
	.nsites = api_nsites,
	.site = api_site,
	.blocks = api_blocks,
	.overhead = api_overhead,
};

EXPORT const struct hs_native_api *hs_native_api(void)
{
	return &api;
}

/* ---- fork ------------------------------------------------------------- */

/* The forking thread's own allocations between prepare and the unlock
 * (another library's fork handler) pass through untracked. */
static void before_fork(void)
{
	busy = 1;
	spin_lock(&site_lock);
	for (int i = 0; i < STRIPES; i++)
		spin_lock(&stripes[i].lock);
}

static void after_fork(void)
{
	for (int i = STRIPES - 1; i >= 0; i--)
		spin_unlock(&stripes[i].lock);
	spin_unlock(&site_lock);
	busy = 0;
}

__attribute__((constructor)) static void init(void)
{
	void *bt[4];
	busy = 1;
	/* backtrace() loads libgcc_s on its first call, with malloc */
	backtrace(bt, 4);
	sites = map((size_t)MAX_SITES * sizeof(*sites));
	buckets = map(BUCKETS * sizeof(*buckets));
	pthread_atfork(before_fork, after_fork, after_fork);
	busy = 0;
}
