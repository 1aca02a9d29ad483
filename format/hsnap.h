/*
 * hsnap.h - write and read heapsnap .hsnap files (see FORMAT.md).
 *
 * Conventions for every function here:
 *   - Functions returning int return 0 on success and -1 on error unless
 *     documented otherwise; the error text (lowercase, problem first) is
 *     written into the caller's buffer or kept inside the object and
 *     returned by the matching *_error() call.
 *   - Every *_free() accepts NULL.
 *   - Strings passed in are copied; pointers returned point into memory
 *     owned by the object that returned them and stay valid as documented.
 */
#ifndef HSNAP_H
#define HSNAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HS_FORMAT_MAJOR 1
#define HS_FORMAT_MINOR 1

#define HS_MAGIC "\x89HSNAP\r\n"
#define HS_END_MAGIC "\x89HSEND\r\n"
#define HS_HEADER_SIZE 24
#define HS_SECTION_HEADER_SIZE 40
#define HS_TRAILER_SIZE 32
#define HS_SECTION_SYNC 0x54434553u /* "SECT" little-endian */

/* Section kinds; each section holds records of exactly one kind. */
enum hs_kind {
	HS_K_META = 1,
	HS_K_STRINGS = 2,
	HS_K_TYPES = 3,
	HS_K_OBJECTS = 4,
	HS_K_REFS = 5,
	HS_K_ROOTS = 6,
	HS_K_FRAMES = 7,
	HS_K_TRACEBACKS = 8,
	HS_K_SITES = 9,
	HS_K_THREADS = 10,
	HS_K_TASKS = 11,
	HS_K_INDEX = 12,
	HS_K_NATIVE_MODULES = 13, /* 1.1 */
	HS_K_NATIVE_SITES = 14,   /* 1.1 */
	HS_K_MAX_KNOWN = 14
};

/* Section header flags. */
#define HS_SF_CRITICAL 0x0001u

/* Object flags (hs_object.flags). */
#define HS_OF_GC_TRACKED 0x0001u /* object is tracked by the cyclic GC */
#define HS_OF_GEN_SHIFT 1        /* bits 1-2: GC generation 0..2 (tracked only) */
#define HS_OF_GEN_MASK 0x0006u
#define HS_OF_HAS_LEN 0x0008u    /* length field present */
#define HS_OF_HAS_VALUE 0x0010u  /* value preview present */
#define HS_OF_VALUE_TRUNC 0x0020u /* preview is a prefix of the value */
#define HS_OF_HAS_NAME 0x0040u   /* name string id present */
#define HS_OF_HAS_TRACE 0x0080u  /* allocation traceback id present */
#define HS_OF_IS_TYPE 0x0100u    /* object is a type object */
#define HS_OF_STATIC 0x0200u     /* statically allocated (static type, singleton) */
#define HS_OF_FINALIZER 0x0400u  /* type defines __del__ / tp_finalize */
#define HS_OF_KNOWN_MASK 0x07ffu  /* flags a caller may set */
/* Set by the writer, never by callers: the object's first edges follow its
 * fields (FORMAT.md); the reader hands them out as a separate HS_K_REFS
 * record right after the object. */
#define HS_OF_HAS_REFS 0x0800u

/* Edge kinds (hs_edge.kind). */
enum hs_edge_kind {
	HS_E_OTHER = 0,   /* reference with no known label */
	HS_E_DICT_KEY = 1,   /* key object of a dict; label = repr of key */
	HS_E_DICT_VALUE = 2, /* value of a dict; label = repr of key */
	HS_E_ATTR = 3,       /* instance attribute; label = name */
	HS_E_INDEX = 4,      /* list/tuple/deque item; label = index (not a string) */
	HS_E_LOCAL = 5,      /* frame local; label = variable name */
	HS_E_CELL = 6,       /* closure cell / free variable; label = name */
	HS_E_DICT_ATTR = 7,  /* __dict__ */
	HS_E_CLASS = 8,      /* __class__ / ob_type */
	HS_E_SELF = 9,       /* bound method __self__ */
	HS_E_FUNC = 10,      /* bound method __func__ */
	HS_E_WEAK = 11,      /* weak reference target; never retains */
	HS_E_NAMED = 12,     /* a named slot (e.g. f_back, __closure__); label = name */
	HS_E_MAX_KNOWN = 12
};

/* Root kinds (hs_root.kind). */
enum hs_root_kind {
	HS_R_OTHER = 0,
	HS_R_MODULES = 1,     /* sys.modules / the interpreter's module table */
	HS_R_BUILTINS = 2,    /* the builtins dict */
	HS_R_SYSDICT = 3,     /* the sys module dict */
	HS_R_THREAD_FRAME = 4, /* a frame on a thread's stack; extra = thread id */
	HS_R_HELD_FROM_C = 5, /* refcount surplus; extra = surplus */
	HS_R_ASYNC_TASK = 6,  /* a pending asyncio task */
	HS_R_STATIC = 7,      /* a static type or singleton */
	HS_R_MAX_KNOWN = 7
};

/* Task states (hs_task.state). */
enum hs_task_state { HS_T_PENDING = 0, HS_T_CANCELLED = 1, HS_T_FINISHED = 2 };

/* Metadata value types. */
enum hs_meta_type { HS_M_UINT = 0, HS_M_INT = 1, HS_M_STR = 2, HS_M_F64 = 3 };

/* ---- records (shared by writer and reader) ---------------------------- */

/* String ids start at 1; 0 means "no string". */

typedef struct hs_meta {
	const char *key;     /* UTF-8, key_len bytes, not NUL-terminated */
	size_t key_len;
	int type;            /* enum hs_meta_type */
	uint64_t u;          /* HS_M_UINT */
	int64_t i;           /* HS_M_INT */
	double f;            /* HS_M_F64 */
	const char *s;       /* HS_M_STR, s_len bytes */
	size_t s_len;
} hs_meta;

typedef struct hs_type {
	uint64_t id;         /* implicit: 1, 2, 3 ... in file order */
	uint64_t addr;       /* address of the type object */
	uint64_t name;       /* string id of "module.qualname" */
} hs_type;

typedef struct hs_object {
	uint64_t addr;
	uint64_t type;       /* type id (hs_type.id) */
	uint64_t size;       /* shallow size in bytes */
	uint64_t refcnt;     /* ob_refcnt at dump time */
	uint32_t flags;      /* HS_OF_* */
	uint64_t len;        /* if HS_OF_HAS_LEN */
	const uint8_t *value; /* if HS_OF_HAS_VALUE: value_len bytes */
	size_t value_len;
	uint64_t name;       /* if HS_OF_HAS_NAME: string id */
	uint64_t trace;      /* if HS_OF_HAS_TRACE: traceback id */
} hs_object;

typedef struct hs_edge {
	uint64_t dst;        /* address of the referent */
	uint32_t kind;       /* enum hs_edge_kind */
	uint64_t label;      /* string id, or the index for HS_E_INDEX, else 0 */
} hs_edge;

/* All outgoing references of one object. */
typedef struct hs_refs {
	uint64_t src;
	uint64_t n;
	const hs_edge *edges; /* n edges */
} hs_refs;

typedef struct hs_root {
	uint64_t addr;
	uint32_t kind;       /* enum hs_root_kind */
	uint64_t name;       /* string id or 0 */
	uint64_t extra;      /* thread id, refcount surplus, ... */
} hs_root;

typedef struct hs_frame {
	uint64_t id;         /* implicit: 1, 2, 3 ... */
	uint64_t filename;   /* string id */
	uint64_t lineno;
} hs_frame;

typedef struct hs_traceback {
	uint64_t id;         /* implicit: 1, 2, 3 ... */
	uint64_t total_nframe; /* frames before truncation (tracemalloc) */
	uint64_t n;
	const uint64_t *frames; /* n frame ids, most recent call first */
} hs_traceback;

typedef struct hs_site {
	uint64_t traceback;  /* traceback id */
	uint64_t domain;     /* tracemalloc domain */
	uint64_t count;      /* live blocks */
	uint64_t bytes;      /* live bytes */
} hs_site;

typedef struct hs_thread {
	uint64_t ident;      /* threading.get_ident() */
	uint64_t native_id;
	uint64_t name;       /* string id or 0 */
	uint64_t frame;      /* address of the innermost frame object, or 0 */
	uint32_t flags;      /* bit0: main thread, bit1: the dumping thread */
} hs_thread;

typedef struct hs_await {
	uint64_t addr;       /* coroutine, generator or future in the chain */
	uint64_t name;       /* string id: qualname or type name */
	uint64_t file;       /* string id or 0 */
	uint64_t line;       /* line where it is suspended, or 0 */
} hs_await;

typedef struct hs_task {
	uint64_t addr;       /* Task or Future */
	uint32_t state;      /* enum hs_task_state */
	uint64_t name;       /* string id: task name */
	uint64_t coro;       /* coroutine address or 0 */
	uint64_t awaited;    /* innermost awaited object (future) or 0 */
	uint64_t n;          /* await chain, outermost first */
	const hs_await *chain;
} hs_task;

/* A loaded ELF object native frames point into (1.1). */
typedef struct hs_native_module {
	uint64_t id;         /* implicit: 1, 2, 3 ... */
	uint64_t path;       /* string id of its path as the process loaded it */
	const uint8_t *build_id; /* build_id_len bytes (GNU build-id), may be 0 */
	size_t build_id_len;
} hs_native_module;

typedef struct hs_native_frame {
	uint64_t module;     /* native module id, 0: in no known object */
	uint64_t addr;       /* ELF virtual address of the call: return
	                        address - 1 - load bias (absolute when module 0) */
	uint64_t symbol;     /* string id of the dynamic symbol, or 0 */
} hs_native_frame;

typedef struct hs_py_frame {
	uint64_t file;       /* string id */
	uint64_t line;
	uint64_t function;   /* string id of the qualified name */
} hs_py_frame;

/* Live native allocations of one site (1.1). */
typedef struct hs_native_site {
	uint32_t alloc;      /* 0 malloc, 1 calloc, 2 realloc, 3 memalign, 4 mmap */
	uint64_t count;      /* live blocks */
	uint64_t bytes;      /* live bytes, as requested */
	uint64_t n;          /* native frames, innermost first */
	const hs_native_frame *frames;
	uint64_t npy;        /* Python frames when the GIL was held, innermost first */
	const hs_py_frame *py;
} hs_native_site;

typedef struct hs_index_entry {
	uint64_t offset;     /* file offset of the section header */
	uint32_t kind;
	uint32_t flags;
	uint64_t count;
	uint64_t comp_len;
	uint64_t raw_len;
} hs_index_entry;

/* ---- output sinks ------------------------------------------------------ */

/* A sink receives the bytes of a file in order. write returns 0 or -1 with
 * errno set. sync (may be NULL) makes the bytes durable. */
typedef struct hs_sink {
	int (*write)(void *ctx, const void *buf, size_t len);
	int (*sync)(void *ctx);
	void *ctx;
} hs_sink;

/* A sink writing to a file descriptor (the caller keeps and closes fd). */
void hs_sink_fd(hs_sink *sink, int *fd);

/* A growable memory buffer sink. Data is malloc'ed; free with hs_membuf_free. */
typedef struct hs_membuf {
	uint8_t *data;
	size_t len, cap;
} hs_membuf;
void hs_sink_mem(hs_sink *sink, hs_membuf *buf);
void hs_membuf_free(hs_membuf *buf); /* frees data, keeps the struct; NULL ok */

/* ---- writer ------------------------------------------------------------ */

typedef struct hs_writer hs_writer;

typedef struct hs_writer_opts {
	int level;           /* zstd level; 0 means the default (3) */
	size_t section_size; /* raw bytes per section before flush; 0: 1 MiB */
	/* Optional allocator for the writer's own memory (the dumper passes the
	 * raw allocator so tracemalloc never sees it); NULL fields: libc. */
	void *(*malloc_fn)(size_t);
	void *(*realloc_fn)(void *, size_t);
	void (*free_fn)(void *);
} hs_writer_opts;

/* Creates a writer and writes the file header. opts may be NULL. Returns
 * NULL and fills err on failure. The sink must outlive the writer. */
hs_writer *hs_writer_new(const hs_sink *sink, const hs_writer_opts *opts,
                         char *err, size_t errlen);

/* Interns a string; returns its id (>= 1), or 0 on error (sticky). The
 * same bytes return the same id while the dedup table has room. */
uint64_t hs_writer_string(hs_writer *w, const char *s, size_t len);

/* Record writers: return 0, or -1 once the writer is in error (sticky). */
int hs_writer_meta(hs_writer *w, const hs_meta *m);
int hs_writer_meta_str(hs_writer *w, const char *key, const char *val);
int hs_writer_meta_uint(hs_writer *w, const char *key, uint64_t val);
int hs_writer_meta_int(hs_writer *w, const char *key, int64_t val);
int hs_writer_meta_f64(hs_writer *w, const char *key, double val);
/* Returns the new type id (>= 1), or 0 on error. */
uint64_t hs_writer_type(hs_writer *w, uint64_t addr, uint64_t name);
/* The object's value bytes are copied. Calling hs_writer_refs for the same
 * address right after stores the edges inside the object record, which
 * saves repeating the address; any other order works too. */
int hs_writer_object(hs_writer *w, const hs_object *o);
int hs_writer_refs(hs_writer *w, uint64_t src, const hs_edge *e, size_t n);
int hs_writer_root(hs_writer *w, const hs_root *r);
/* Returns the new frame / traceback id (>= 1), or 0 on error. */
uint64_t hs_writer_frame(hs_writer *w, uint64_t filename, uint64_t lineno);
uint64_t hs_writer_traceback(hs_writer *w, uint64_t total_nframe,
                             const uint64_t *frames, size_t n);
int hs_writer_site(hs_writer *w, const hs_site *s);
int hs_writer_thread(hs_writer *w, const hs_thread *t);
int hs_writer_task(hs_writer *w, const hs_task *t);
/* Returns the new native module id (>= 1), or 0 on error; the build id is
 * copied. */
uint64_t hs_writer_native_module(hs_writer *w, uint64_t path, const uint8_t *build_id,
                                 size_t build_id_len);
int hs_writer_native_site(hs_writer *w, const hs_native_site *s);

/* Writes out every pending section now, so that a file cut off later still
 * holds what was written so far (the dumper calls it once the metadata and
 * the roots are in). Returns 0 or -1. */
int hs_writer_flush(hs_writer *w);

/* Flushes every pending section, writes the index section and the trailer,
 * and syncs the sink. After this the file is complete. Returns 0 or -1. */
int hs_writer_finish(hs_writer *w);

/* The sticky error message, or NULL if none. Owned by the writer. */
const char *hs_writer_error(const hs_writer *w);
/* Bytes written to the sink so far; records written per kind. */
uint64_t hs_writer_bytes(const hs_writer *w);
uint64_t hs_writer_count(const hs_writer *w, int kind);
void hs_writer_free(hs_writer *w);

/* ---- reader ------------------------------------------------------------ */

typedef struct hs_reader hs_reader;

typedef struct hs_section {
	uint64_t offset;     /* file offset of the section header */
	uint32_t kind;
	uint32_t flags;
	uint64_t count;      /* records announced by the header */
	uint64_t comp_len;
	uint64_t raw_len;
	int known;           /* 1 if this reader understands the kind */
} hs_section;

typedef struct hs_record {
	int kind;            /* enum hs_kind of the section it came from */
	union {
		hs_meta meta;
		struct { uint64_t id; const char *s; size_t len; } str;
		hs_type type;
		hs_object object;
		hs_refs refs;
		hs_root root;
		hs_frame frame;
		hs_traceback traceback;
		hs_site site;
		hs_thread thread;
		hs_task task;
		hs_index_entry index;
		hs_native_module native_module;
		hs_native_site native_site;
	} u;
} hs_record;

/* Opens a file (mapped with mmap; the pages of sections already read are
 * given back as the read moves on, so a dump costs no resident memory
 * beyond the section at hand) or a memory buffer (not copied; must outlive
 * the reader). Validates the header. Returns NULL and
 * fills err ("'path': not a heapsnap dump (bad magic)", "...newer major
 * version 2...", "...: No such file...") on failure. */
hs_reader *hs_reader_open(const char *path, char *err, size_t errlen);
hs_reader *hs_reader_open_mem(const void *data, size_t len, const char *name,
                              char *err, size_t errlen);

/* Advances to the next section. Returns 1 with *sec filled, 0 at the end
 * of the sections, -1 on a problem (message via hs_reader_error, with its
 * byte offset). After -1 the reader has skipped past the damage where it
 * can; calling again continues with the next intact section, so a caller
 * that keeps going recovers every intact section. Unknown optional
 * sections are skipped silently (counted in hs_reader_skipped); an unknown
 * critical section returns -1 and the reader stops (returns 0 after). */
int hs_reader_next_section(hs_reader *r, hs_section *sec);

/* Decodes the next record of the current section. Returns 1 with *rec
 * filled (pointers valid until the next call on this reader), 0 when the
 * section is exhausted, -1 on a malformed record (the rest of the section
 * is dropped). String records are also added to the reader's table. An
 * object record that carries edges is followed by an HS_K_REFS record
 * holding them, so rec->kind may differ from the section's kind. */
int hs_reader_next_record(hs_reader *r, hs_record *rec);

/* Looks up an interned string; returns NULL for an unknown id. *len may
 * be NULL. Valid for the reader's lifetime. */
const char *hs_reader_string(const hs_reader *r, uint64_t id, size_t *len);

/* State of the file after iterating to the end: 1 if the trailer was found
 * and every checksum matched (a complete dump), else 0. */
int hs_reader_complete(const hs_reader *r);
/* The first problem seen (with byte offset), or NULL. Owned by reader. */
const char *hs_reader_error(const hs_reader *r);
/* The latest problem seen, or NULL: after a -1 from hs_reader_next_section
 * or hs_reader_next_record, that section's problem (the first problem may
 * be the whole-file checksum, found at open). Owned by reader. */
const char *hs_reader_last_error(const hs_reader *r);
/* The file offset of the section header hs_reader_next_section reads
 * next: where the damage is when that call returns -1 (the file's size
 * when the sections ended without a trailer). */
uint64_t hs_reader_offset(const hs_reader *r);
/* Number of problems seen so far. */
uint64_t hs_reader_problems(const hs_reader *r);
uint64_t hs_reader_skipped(const hs_reader *r);
uint64_t hs_reader_size(const hs_reader *r);
void hs_reader_version(const hs_reader *r, unsigned *major, unsigned *minor);
const char *hs_reader_name(const hs_reader *r);
void hs_reader_free(hs_reader *r);

/* Names for kinds, for tools ("objects", "refs", "dict-key", ...). Return
 * "unknown" for values they do not know. Static strings. */
const char *hs_kind_name(unsigned kind);
const char *hs_edge_kind_name(unsigned kind);
const char *hs_root_kind_name(unsigned kind);
const char *hs_task_state_name(unsigned state);

/* CRC-32C (Castagnoli), as used for section and file checksums. */
uint32_t hs_crc32c(uint32_t crc, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
