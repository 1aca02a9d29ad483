/*
 * hs_native.h - the interface between the native allocation tracker
 * (libheapsnap-native.so, preload.c, loaded with LD_PRELOAD) and the
 * dumper, which finds it at run time with
 * dlsym(RTLD_DEFAULT, "hs_native_api") and so needs no link to it.
 *
 * The tracker interposes malloc, calloc, realloc, free, posix_memalign,
 * aligned_alloc, memalign, valloc, pvalloc, and mmap/munmap of private
 * anonymous memory. Once enabled it keeps every live block it saw
 * allocated, with the requested size and its site: the allocator called,
 * up to HS_NATIVE_FRAMES return addresses of the native stack and up to
 * HS_NATIVE_PYFRAMES Python frames of the allocating thread (also while
 * it released the GIL to run C, as ctypes calls do). Sites are deduplicated; each keeps the live blocks and bytes
 * allocated there, so a reader walks the sites, never the blocks.
 * A thread unwinds the native stack only for a (return address into the
 * allocator's caller, allocator, Python frames) it has not seen lately:
 * one caller reached through two deeper native call chains on the same
 * Python frames has both counted at the chain the thread saw first.
 */
#ifndef HS_NATIVE_H
#define HS_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#define HS_NATIVE_ABI 1
#define HS_NATIVE_FRAMES 8
#define HS_NATIVE_PYFRAMES 4

/* The allocator a site's blocks came from (FORMAT.md, native sites). */
enum hs_native_alloc {
	HS_NA_MALLOC = 0,
	HS_NA_CALLOC = 1,
	HS_NA_REALLOC = 2,
	HS_NA_MEMALIGN = 3, /* posix_memalign, aligned_alloc, memalign, valloc */
	HS_NA_MMAP = 4,
	HS_NA_MAX_KNOWN = 4
};

/* A Python frame as the dumper's hook resolved it when the site was first
 * seen (the code object may be gone by the dump). Strings are NUL
 * terminated and live as long as the process. */
struct hs_native_pyframe {
	const char *file;
	const char *func;
	uint32_t line;
};

/* One site as read from the table; pointers stay valid for the process's
 * life. */
struct hs_native_entry {
	int64_t bytes, count;    /* live (negative only while torn, see read) */
	uint32_t alloc;          /* enum hs_native_alloc */
	uint32_t nframes, npy;
	const uintptr_t *frames; /* return addresses, innermost first */
	const struct hs_native_pyframe *py; /* innermost first */
};

/* The dumper's hooks, called by the tracker inside an allocation:
 *   pykeys(keys, max): writes up to max pairs (code object, instruction
 *     index) of this thread's Python stack, innermost first, into
 *     keys[2 * i], keys[2 * i + 1]; returns the pairs written (0 for a
 *     thread without Python frames). Must not allocate.
 *   pyname(code, instr, out, buf, len): once per new site, in the same
 *     allocation, the frame's file, function and line; strings go into
 *     buf (len bytes) and out points into it. */
typedef size_t (*hs_native_pykeys_fn)(uintptr_t *keys, size_t max);
typedef void (*hs_native_pyname_fn)(uintptr_t code, uintptr_t instr,
                                    struct hs_native_pyframe *out, char *buf,
                                    size_t len);

struct hs_native_api {
	int abi;                 /* HS_NATIVE_ABI */
	/* Starts tracking (nothing is recorded before), with the hooks
	 * (either may be NULL: no Python frames). Idempotent. */
	void (*enable)(hs_native_pykeys_fn pykeys, hs_native_pyname_fn pyname);
	/* While a thread's count is above 0 its allocations are not
	 * recorded (frees always are): the dumper wraps Python's own
	 * allocators with it, whose memory the objects explain. */
	void (*suppress)(int delta);
	/* Sites recorded so far (some may have no live block). */
	size_t (*nsites)(void);
	/* Site i < nsites() into *out. Takes no lock: counts are read as
	 * they are, which in a fork child is a consistent moment (the
	 * tracker's fork handlers hold its locks across fork()). Returns 0,
	 * or -1 for an index out of range. */
	int (*site)(size_t i, struct hs_native_entry *out);
	/* Blocks tracked now, and bytes of the tracker's own tables. */
	uint64_t (*blocks)(void);
	uint64_t (*overhead)(void);
};

/* Exported by libheapsnap-native.so; NULL-free. */
const struct hs_native_api *hs_native_api(void);

#endif
