/* native.c - native allocation sites: symbolised, named, compared
 * (native.h). */
#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"
#include "native.h"

extern char **environ;

/* Addresses per addr2line run: its command line stays short. */
#define BATCH 256

/* The GNU build-id of the ELF file at path as lowercase hex into hex
 * (129 bytes), "" when it has none or is no 64-bit ELF file. */
static void file_build_id(const char *path, char *hex)
{
	hex[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;
	if (fd < 0)
		return;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr))
		goto done;
	for (unsigned i = 0; i < eh.e_phnum && !hex[0]; i++) {
		Elf64_Phdr ph;
		uint8_t notes[1024];
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != (ssize_t)sizeof(ph))
			break;
		if (ph.p_type != PT_NOTE)
			continue;
		size_t len = ph.p_filesz < sizeof(notes) ? ph.p_filesz : sizeof(notes);
		if (pread(fd, notes, len, (off_t)ph.p_offset) != (ssize_t)len)
			break;
		for (size_t at = 0; at + sizeof(Elf64_Nhdr) <= len;) {
			const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(notes + at);
			size_t name = at + sizeof(*nh), desc = name + ((nh->n_namesz + 3) & ~3u);
			at = desc + ((nh->n_descsz + 3) & ~3u);
			if (at > len)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(notes + name, "GNU", 4) && nh->n_descsz <= 64) {
				for (size_t k = 0; k < nh->n_descsz; k++)
					snprintf(hex + 2 * k, 3, "%02x", notes[desc + k]);
				break;
			}
		}
	}
done:
	close(fd);
}

/* addr2line -f -C -e path addr...: two lines per address (function, then
 * file:line) into out. Returns 0, or -1 when it cannot run or fails. */
static int addr2line(const char *path, const int64_t *addr, size_t n, hsa_str *out)
{
	char *argv[BATCH + 6], num[BATCH][24];
	int p[2], status = 0, rc = -1;
	pid_t pid;
	posix_spawn_file_actions_t fa;
	argv[0] = "addr2line";
	argv[1] = "-f";
	argv[2] = "-C";
	argv[3] = "-e";
	argv[4] = (char *)path;
	for (size_t i = 0; i < n; i++) {
		snprintf(num[i], sizeof(num[i]), "0x%" PRIx64, (uint64_t)addr[i]);
		argv[5 + i] = num[i];
	}
	argv[5 + n] = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	int spawned = posix_spawnp(&pid, "addr2line", &fa, NULL, argv, environ) == 0;
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	char buf[4096];
	ssize_t got;
	while (spawned && (got = read(p[0], buf, sizeof(buf))) != 0)
		if (got > 0 && hsa_str_add(out, buf, (size_t)got) < 0)
			break;
	close(p[0]);
	if (spawned && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    !WEXITSTATUS(status))
		rc = 0;
	return rc;
}

/* The next line of *p (NUL-terminated in place), or NULL at the end. */
static char *next_line(char **p)
{
	char *s = *p, *nl;
	if (!s || !*s)
		return NULL;
	nl = strchr(s, '\n');
	if (nl) {
		*nl = '\0';
		*p = nl + 1;
	} else {
		*p = s + strlen(s);
	}
	return s;
}

/* Symbolises one module's addresses, BATCH at a time. */
static int symbolize_module(sqlite3 *db, int64_t module, const char *path, sqlite3_stmt *up)
{
	int64_t addr[BATCH];
	size_t n = 0;
	int more = 1, rc = 0;
	sqlite3_stmt *sel = NULL;
	if (sqlite3_prepare_v2(db, "SELECT DISTINCT addr FROM native_frames WHERE module = ?", -1,
	                       &sel, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(sel, 1, module);
	while (more && !rc) {
		int r = sqlite3_step(sel);
		if (r != SQLITE_ROW && r != SQLITE_DONE) {
			rc = -1;
			break;
		}
		more = r == SQLITE_ROW;
		if (more)
			addr[n++] = sqlite3_column_int64(sel, 0);
		if (n == 0 || (more && n < BATCH))
			continue;
		hsa_str out = {0};
		char *p = NULL, *fn, *fl;
		if (addr2line(path, addr, n, &out) == 0)
			p = out.s;
		for (size_t i = 0; p && i < n && (fn = next_line(&p)) && (fl = next_line(&p)); i++) {
			char *colon = strrchr(fl, ':');
			long line = colon ? strtol(colon + 1, NULL, 10) : 0;
			if (colon)
				*colon = '\0';
			if (!strcmp(fn, "??") && (!strcmp(fl, "??") || line <= 0))
				continue;
			if (strcmp(fn, "??"))
				sqlite3_bind_text(up, 1, fn, -1, SQLITE_TRANSIENT);
			else
				sqlite3_bind_null(up, 1);
			if (line > 0 && strcmp(fl, "??")) {
				sqlite3_bind_text(up, 2, fl, -1, SQLITE_TRANSIENT);
				sqlite3_bind_int64(up, 3, line);
			} else {
				sqlite3_bind_null(up, 2);
				sqlite3_bind_null(up, 3);
			}
			sqlite3_bind_int64(up, 4, module);
			sqlite3_bind_int64(up, 5, addr[i]);
			rc = sqlite3_step(up) == SQLITE_DONE ? 0 : -1;
			sqlite3_reset(up);
		}
		hsa_str_free(&out);
		n = 0;
	}
	sqlite3_finalize(sel);
	return rc;
}

int hsa_native_symbolize(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *mods = NULL, *up = NULL;
	int rc = -1;
	if (!(mods = hsa_db_prepare(db,
	                            "SELECT id, path, build_id FROM native_modules WHERE id IN"
	                            " (SELECT DISTINCT module FROM native_frames)",
	                            err, errlen)) ||
	    !(up = hsa_db_prepare(db,
	                          "UPDATE native_frames SET function = ?, file = ?, line = ?"
	                          " WHERE module = ? AND addr = ?",
	                          err, errlen)))
		goto done;
	int r;
	while ((r = hsa_db_step(mods, err, errlen)) > 0) {
		const char *path = (const char *)sqlite3_column_text(mods, 1);
		const char *want = (const char *)sqlite3_column_text(mods, 2);
		char have[129];
		if (!path || access(path, R_OK))
			continue;
		/* another build of the same path would name the wrong code */
		file_build_id(path, have);
		if (want && *want && strcmp(want, have))
			continue;
		if (symbolize_module(db, sqlite3_column_int64(mods, 0), path, up)) {
			snprintf(err, errlen, "database error: %s", sqlite3_errmsg(db));
			goto done;
		}
	}
	rc = r < 0 ? -1 : 0;
done:
	sqlite3_finalize(mods);
	sqlite3_finalize(up);
	return rc;
}

/* ---- naming and grouping ------------------------------------------------ */

static int starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* The C library's allocating helpers, the loader's (dlopen) and C++'s
 * operator new stand for their caller. */
static int passes_through(const char *base)
{
	return starts(base, "libc.so") || starts(base, "ld-linux") || starts(base, "libstdc++.so");
}

/* "`leak` in leakext.so (leakext.c:27)" of site `site` into out. Returns 0,
 * or -1 with err filled. */
static int name_site(sqlite3_stmt *fr, int64_t site, const char *alloc, hsa_str *out,
                     char *err, size_t errlen)
{
	int rc = 0, named = 0, row = 0;
	hsa_str first = {0};
	sqlite3_bind_int64(fr, 1, site);
	while (!named && !rc && (row = hsa_db_step(fr, err, errlen)) > 0) {
		const char *path = (const char *)sqlite3_column_text(fr, 0);
		const char *base = path ? hsa_file_base(path) : "?";
		const char *sym = (const char *)sqlite3_column_text(fr, 2);
		const char *fn = (const char *)sqlite3_column_text(fr, 3);
		const char *file = (const char *)sqlite3_column_text(fr, 4);
		int64_t line = sqlite3_column_int64(fr, 5);
		/* the stack may end inside them: then they name the site */
		if (passes_through(base)) {
			if (!first.len && hsa_str_printf(&first, "`%s` in %s", fn ? fn : sym ? sym : alloc,
			                                 base))
				rc = -1;
			continue;
		}
		named = 1;
		if (starts(base, "libffi"))
			rc = hsa_str_printf(out, "`%s` called through ctypes", alloc);
		else if (fn || sym)
			rc = hsa_str_printf(out, "`%s` in %s", fn ? fn : sym, base);
		else
			rc = hsa_str_printf(out, "%s+0x%" PRIx64, base,
			                    (uint64_t)sqlite3_column_int64(fr, 1));
		if (!rc && file && line > 0)
			rc = hsa_str_printf(out, " (%s:%" PRId64 ")", hsa_file_base(file), (int64_t)line);
	}
	if (!named && !rc && row == 0)
		rc = first.len ? hsa_str_add(out, first.s, first.len)
		               : hsa_str_printf(out, "`%s` (no native stack)", alloc);
	if (rc)
		snprintf(err, errlen, "out of memory reading native sites");
	hsa_str_free(&first);
	sqlite3_reset(fr);
	return rc || row < 0 ? -1 : 0;
}

static int cmp_group_key(const void *a, const void *b)
{
	const hsa_native_group *x = a, *y = b;
	int c = strcmp(x->where, y->where);
	return c ? c : strcmp(x->caller, y->caller);
}

static int cmp_group_bytes(const void *a, const void *b)
{
	const hsa_native_group *x = a, *y = b;
	return x->bytes != y->bytes ? (x->bytes < y->bytes ? 1 : -1) : cmp_group_key(a, b);
}

void hsa_native_dump_free(hsa_native_dump *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->g[i].where);
		free(d->g[i].caller);
	}
	free(d->g);
	memset(d, 0, sizeof(*d));
}

int hsa_native_read(sqlite3 *db, hsa_native_dump *d, char *err, size_t errlen)
{
	sqlite3_stmt *sites = NULL, *fr = NULL, *py = NULL;
	size_t cap = 0;
	int rc = -1;
	memset(d, 0, sizeof(*d));
	d->overhead = hsa_db_meta_int(db, "native.overhead", -1);
	d->tracked = d->overhead >= 0;
	if (!(sites = hsa_db_prepare(db, "SELECT id, alloc, count, bytes FROM native_sites",
	                             err, errlen)) ||
	    !(fr = hsa_db_prepare(db,
	                          "SELECT m.path, f.addr, f.symbol, f.function, f.file, f.line"
	                          " FROM native_frames f LEFT JOIN native_modules m"
	                          " ON m.id = f.module WHERE f.site = ? ORDER BY f.depth",
	                          err, errlen)) ||
	    !(py = hsa_db_prepare(db,
	                          "SELECT file, line FROM native_pyframes WHERE site = ?"
	                          " ORDER BY depth LIMIT 1",
	                          err, errlen)))
		goto done;
	int r;
	while ((r = hsa_db_step(sites, err, errlen)) > 0) {
		int64_t id = sqlite3_column_int64(sites, 0);
		const char *alloc = (const char *)sqlite3_column_text(sites, 1);
		hsa_str where = {0}, caller = {0};
		d->tracked = 1;
		if (d->n == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			hsa_native_group *g = realloc(d->g, ncap * sizeof(*g));
			if (!g) {
				snprintf(err, errlen, "out of memory reading native sites");
				goto fail;
			}
			d->g = g;
			cap = ncap;
		}
		sqlite3_bind_int64(py, 1, id);
		/* the caller's line: 1 when py has a row, 0 when none, -1 failed */
		int line = name_site(fr, id, alloc ? alloc : "malloc", &where, err, errlen);
		if (!line)
			line = hsa_db_step(py, err, errlen);
		if (line >= 0 && (hsa_str_add(&caller, "", 0) ||
		                  (line && sqlite3_column_text(py, 0) &&
		                   hsa_str_printf(&caller, "%s:%" PRId64,
		                                  hsa_file_base((const char *)sqlite3_column_text(py, 0)),
		                                  (int64_t)sqlite3_column_int64(py, 1))))) {
			snprintf(err, errlen, "out of memory reading native sites");
			line = -1;
		}
		sqlite3_reset(py);
		if (line < 0) {
			hsa_str_free(&where);
			hsa_str_free(&caller);
			goto fail;
		}
		d->g[d->n++] = (hsa_native_group){where.s, caller.s, sqlite3_column_int64(sites, 3),
		                                  sqlite3_column_int64(sites, 2), 1};
		d->bytes += sqlite3_column_int64(sites, 3);
		d->count += sqlite3_column_int64(sites, 2);
		d->sites++;
	}
	if (r < 0)
		goto fail;
	/* one group per name */
	if (d->n)
		qsort(d->g, d->n, sizeof(*d->g), cmp_group_key);
	size_t k = 0;
	for (size_t i = 0; i < d->n; i++) {
		if (k && !cmp_group_key(&d->g[k - 1], &d->g[i])) {
			d->g[k - 1].bytes += d->g[i].bytes;
			d->g[k - 1].count += d->g[i].count;
			d->g[k - 1].sites++;
			free(d->g[i].where);
			free(d->g[i].caller);
		} else {
			d->g[k++] = d->g[i];
		}
	}
	d->n = k;
	if (d->n)
		qsort(d->g, d->n, sizeof(*d->g), cmp_group_bytes);
	rc = 0;
	goto done;
fail:
	hsa_native_dump_free(d);
done:
	sqlite3_finalize(sites);
	sqlite3_finalize(fr);
	sqlite3_finalize(py);
	return rc;
}

/* ---- across dumps --------------------------------------------------------- */

static const hsa_native_group *find_group(const hsa_native_dump *d, const hsa_native_group *k)
{
	for (size_t i = 0; i < d->n; i++)
		if (!cmp_group_key(&d->g[i], k))
			return &d->g[i];
	return NULL;
}

static int cmp_growth(const void *a, const void *b)
{
	const hsa_native_finding *x = a, *y = b;
	return x->growth != y->growth ? (x->growth < y->growth ? 1 : -1) : 0;
}

int hsa_native_compare(const hsa_native_dump *d, int n, uint64_t noise,
                       hsa_native_finding **out, size_t *nout)
{
	const hsa_native_dump *last = &d[n - 1];
	*out = NULL;
	*nout = 0;
	if (n < 2 || !last->n)
		return 0;
	hsa_native_finding *f = malloc(last->n * sizeof(*f));
	if (!f)
		return -1;
	size_t k = 0;
	for (size_t i = 0; i < last->n; i++) {
		const hsa_native_group *g = &last->g[i];
		int64_t prev = -1, first = 0, count_first = 0;
		int grew = 1;
		for (int t = 0; t < n && grew; t++) {
			const hsa_native_group *h = t == n - 1 ? g : find_group(&d[t], g);
			int64_t b = h ? h->bytes : 0;
			grew = b > prev;
			prev = b;
			if (t == 0) {
				first = b;
				count_first = h ? h->count : 0;
			}
		}
		if (grew && g->bytes - first > (int64_t)noise)
			f[k++] = (hsa_native_finding){g->where, g->caller, g->bytes - first, first,
			                              g->bytes, count_first, g->count};
	}
	if (k)
		qsort(f, k, sizeof(*f), cmp_growth);
	*out = f;
	*nout = k;
	return 0;
}

int hsa_native_sentence(const hsa_native_finding *f, hsa_str *out)
{
	char b[16];
	if (hsa_str_printf(out, "native: %s more from %s", hsa_human_size((uint64_t)f->growth, b),
	                   f->where))
		return -1;
	return *f->caller ? hsa_str_printf(out, " (called from %s)", f->caller) : 0;
}

void hsa_native_json(hsa_json *j, const char *key, const hsa_native_finding *f, size_t n)
{
	hsa_str s = {0};
	hsa_json_array(j, key);
	for (size_t i = 0; i < n; i++) {
		s.len = 0;
		hsa_json_open(j, NULL);
		hsa_json_str(j, "where", f[i].where);
		hsa_json_str(j, "caller", f[i].caller);
		hsa_json_int(j, "growth", f[i].growth);
		hsa_json_int(j, "first", f[i].first);
		hsa_json_int(j, "last", f[i].last);
		hsa_json_int(j, "count_first", f[i].count_first);
		hsa_json_int(j, "count_last", f[i].count_last);
		hsa_json_str(j, "sentence", hsa_native_sentence(&f[i], &s) ? "" : s.s);
		hsa_json_close(j);
	}
	hsa_json_end(j);
	hsa_str_free(&s);
}
