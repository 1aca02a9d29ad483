/* memory.c - the resident set split into what the Python objects explain
 * and what they do not (memory.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "leaks.h"
#include "memory.h"

#define MIB (1024 * 1024)

static const char *const part_names[HSA_MEM_NPARTS] = {
	"Python objects", "pymalloc free", "malloc outside objects", "tracemalloc",
	"malloc free", "files", "other",
};
static const char *const part_keys[HSA_MEM_NPARTS] = {
	"objects", "pymalloc_free", "malloc_outside_objects", "tracemalloc",
	"malloc_free", "files", "other",
};

/* A metadata figure, or -1 when the dump has none. */
static int64_t figure(sqlite3 *db, const char *key)
{
	return hsa_db_meta_int(db, key, -1);
}

void hsa_mem_read(sqlite3 *db, hsa_mem *m)
{
	int64_t rss = figure(db, "mem.rss");
	memset(m, 0, sizeof(*m));
	m->detailed = rss > 0;
	if (!m->detailed)
		rss = figure(db, "rss");
	if (rss <= 0)
		return;
	m->known = 1;
	m->rss = (uint64_t)rss;
	int64_t hwm = figure(db, "mem.hwm");
	m->hwm = hwm > 0 ? (uint64_t)hwm : 0;
	int64_t *p = m->part;
	m->have[HSA_MEM_OBJECTS] = 1;
	p[HSA_MEM_OBJECTS] = hsa_db_meta_int(db, "load.bytes", 0);

	int64_t arena = figure(db, "mem.pymalloc.arena_bytes");
	int64_t blocks = figure(db, "mem.pymalloc.allocated");
	if (arena >= 0 && blocks >= 0) {
		m->have[HSA_MEM_PYMALLOC_FREE] = 1;
		p[HSA_MEM_PYMALLOC_FREE] = arena - blocks;
	} else {
		/* objects are then in malloc's figures (PYTHONMALLOC=malloc) */
		blocks = 0;
	}
	int64_t tm = figure(db, "mem.tracemalloc");
	if (tm >= 0) {
		m->have[HSA_MEM_TRACEMALLOC] = 1;
		p[HSA_MEM_TRACEMALLOC] = tm;
	}
	int64_t in_use = figure(db, "mem.malloc.in_use"), mmapped = figure(db, "mem.malloc.mmapped");
	int64_t free_ = figure(db, "mem.malloc.free");
	if (in_use >= 0 && mmapped >= 0 && free_ >= 0) {
		/* Objects' sizes include a little that is not on the heap
		 * (static types and singletons): never below 0. */
		int64_t outside = blocks + in_use + mmapped - p[HSA_MEM_OBJECTS] - p[HSA_MEM_TRACEMALLOC];
		m->have[HSA_MEM_OUTSIDE] = m->have[HSA_MEM_MALLOC_FREE] = 1;
		p[HSA_MEM_OUTSIDE] = outside > 0 ? outside : 0;
		p[HSA_MEM_MALLOC_FREE] = free_;
	}
	int64_t file = figure(db, "mem.rss_file"), shmem = figure(db, "mem.rss_shmem");
	if (m->detailed && file >= 0 && shmem >= 0) {
		m->have[HSA_MEM_FILES] = 1;
		p[HSA_MEM_FILES] = file + shmem;
	}
	m->have[HSA_MEM_OTHER] = 1;
	p[HSA_MEM_OTHER] = rss;
	for (int i = 0; i < HSA_MEM_OTHER; i++)
		p[HSA_MEM_OTHER] -= p[i];
	m->unexplained = p[HSA_MEM_OUTSIDE] + p[HSA_MEM_OTHER];
}

uint64_t hsa_mem_noise(uint64_t rss)
{
	return rss / 100 > MIB ? rss / 100 : MIB;
}

/* "12.0 MiB", "-1.5 MiB" */
static const char *size_text(int64_t v, char *buf)
{
	char t[32];
	snprintf(buf, 40, "%s%s", v < 0 ? "-" : "",
	         hsa_human_size(v < 0 ? (uint64_t)-v : (uint64_t)v, t));
	return buf;
}

/* " (+46.3 MiB since dump 1)" when d is more than noise */
static int change(hsa_str *out, int64_t d, uint64_t noise, const char *since)
{
	char b[40];
	if ((uint64_t)(d < 0 ? -d : d) <= noise)
		return 0;
	return hsa_str_printf(out, " (%s%s since %s)", d > 0 ? "+" : "", size_text(d, b), since);
}

int hsa_mem_line(const hsa_mem *m, const hsa_mem *base, const char *since, hsa_str *out)
{
	char b[40];
	uint64_t noise = hsa_mem_noise(m->rss);
	if (!base || !base->known)
		base = NULL;
	if (hsa_str_printf(out, "RSS %s", hsa_human_size(m->rss, b)) ||
	    (base && change(out, (int64_t)m->rss - (int64_t)base->rss, noise, since)) ||
	    hsa_str_printf(out, " ="))
		return -1;
	const char *sep = "";
	for (int i = 0; i < HSA_MEM_NPARTS; i++) {
		if (!m->have[i])
			continue;
		int64_t v = m->part[i];
		/* the allocators count memory never touched: the rest is short */
		int short_ = i == HSA_MEM_OTHER && v < 0;
		if (hsa_str_printf(out, "%s %s %s", short_ ? " -" : sep,
		                   short_ ? "not resident" : part_names[i],
		                   size_text(short_ ? -v : v, b)) ||
		    (base && base->have[i] && change(out, v - base->part[i], noise, since)))
			return -1;
		sep = " +";
	}
	return 0;
}

int hsa_mem_print(FILE *f, const char *lead, const hsa_mem *m, const hsa_mem *base,
                  const char *since)
{
	hsa_str s = {0};
	if (!m->known)
		return 0;
	if (hsa_mem_line(m, base, since, &s))
		return -1;
	fprintf(f, "%s%s\n", lead, s.s);
	hsa_str_free(&s);
	return 0;
}

void hsa_mem_json(hsa_json *j, const char *key, const hsa_mem *m)
{
	hsa_json_open(j, key);
	if (m->known)
		hsa_json_uint(j, "rss", m->rss);
	else
		hsa_json_null(j, "rss");
	if (m->hwm)
		hsa_json_uint(j, "hwm", m->hwm);
	else
		hsa_json_null(j, "hwm");
	for (int i = 0; i < HSA_MEM_NPARTS; i++) {
		if (m->known && m->have[i])
			hsa_json_int(j, part_keys[i], m->part[i]);
		else
			hsa_json_null(j, part_keys[i]);
	}
	if (m->known)
		hsa_json_int(j, "unexplained", m->unexplained);
	else
		hsa_json_null(j, "unexplained");
	hsa_json_close(j);
}

void hsa_mem_json_dumps(hsa_json *j, const char *key, const hsa_mem *m, int n)
{
	hsa_json_array(j, key);
	for (int k = 0; k < n; k++)
		hsa_mem_json(j, NULL, &m[k]);
	hsa_json_end(j);
}

int hsa_mem_unexplained(const hsa_mem *m, int n, int64_t explained)
{
	if (n < 2)
		return 0;
	for (int k = 0; k < n; k++)
		if (!m[k].known || !m[k].detailed)
			return 0;
	for (int k = 1; k < n; k++)
		if (m[k].unexplained - m[k - 1].unexplained <= (int64_t)hsa_mem_noise(m[k - 1].rss))
			return 0;
	return m[n - 1].unexplained - m[0].unexplained > (explained > 0 ? explained : 0);
}

int hsa_mem_sentence(const hsa_mem *m, int n, hsa_str *out)
{
	char a[40], b[40], c[40], d[40], e[40];
	const hsa_mem *first = &m[0], *last = &m[n - 1];
	int64_t growth = last->unexplained - first->unexplained;
	int64_t outside = last->part[HSA_MEM_OUTSIDE] - first->part[HSA_MEM_OUTSIDE];
	return hsa_str_printf(out,
	                      "memory no Python object explains grew from %s to %s (+%s) in"
	                      " every dump; RSS %s → %s. %s",
	                      size_text(first->unexplained, a), size_text(last->unexplained, b),
	                      size_text(growth, c), hsa_human_size(first->rss, d),
	                      hsa_human_size(last->rss, e),
	                      last->have[HSA_MEM_OUTSIDE] && 2 * outside > growth
	                              ? "Most of it is malloc outside objects: native allocations"
	                                " (a C extension, ctypes, a library) that no Python object"
	                                " accounts for"
	                              : "It is not in malloc's heap: native memory mapped outside"
	                                " the allocators, or pages the allocators hold but the"
	                                " objects do not explain");
}

void hsa_mem_leaks(hsa_leak_report *r)
{
	int n = r->ndumps;
	int64_t explained = 0;
	for (uint64_t i = 0; i < r->ngroups; i++)
		if (r->groups[i].retained_growth > 0)
			explained += r->groups[i].retained_growth;
	r->unexplained = hsa_mem_unexplained(r->mem, n, explained);
	if (!r->unexplained)
		return;
	int64_t growth = r->mem[n - 1].unexplained - r->mem[0].unexplained;
	r->unexplained_rank = 0;
	while (r->unexplained_rank < r->ngroups &&
	       r->groups[r->unexplained_rank].retained_growth > growth)
		r->unexplained_rank++;
}

void hsa_mem_leaks_print(FILE *f, const hsa_leak_report *r)
{
	int n = r->ndumps;
	hsa_str s = {0};
	char b[40];
	if (hsa_mem_sentence(r->mem, n, &s))
		return;
	fprintf(f, "\n#native %s\n   outside   ", s.s);
	for (int k = 0; k < n; k++)
		fprintf(f, "%s%s", k ? " → " : "", size_text(r->mem[k].unexplained, b));
	fprintf(f, " (malloc outside objects + other)\n");
	if (r->native_tracked)
		fprintf(f, "   sites     the native lines above; heapsnap native DUMP lists them all\n");
	else
		fprintf(f, "   next      python3 -m heapsnap run --native ... records where the process"
		           " allocates it (then heapsnap native DUMP)\n");
	hsa_str_free(&s);
}

void hsa_mem_leaks_json(hsa_json *j, const hsa_leak_report *r)
{
	hsa_str s = {0};
	int n = r->ndumps;
	hsa_json_open(j, "memory");
	hsa_mem_json_dumps(j, "dumps", r->mem, n);
	if (r->unexplained) {
		hsa_json_open(j, "unexplained");
		/* 1-based, among the groups ranked by retained growth */
		hsa_json_uint(j, "rank", r->unexplained_rank + 1);
		hsa_json_int(j, "growth", r->mem[n - 1].unexplained - r->mem[0].unexplained);
		hsa_json_str(j, "sentence", hsa_mem_sentence(r->mem, n, &s) ? "" : s.s);
		hsa_json_close(j);
	} else {
		hsa_json_null(j, "unexplained");
	}
	hsa_json_close(j);
	hsa_str_free(&s);
}
