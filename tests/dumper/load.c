/*
 * load.c - see load.h.
 */
#include "load.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define GROW(arr, n, cap)                                                     \
	do {                                                                  \
		if ((n) == (cap)) {                                           \
			(cap) = (cap) ? (cap) * 2 : 256;                      \
			(arr) = realloc((arr), (cap) * sizeof(*(arr)));       \
			if (!(arr))                                           \
				abort();                                      \
		}                                                             \
	} while (0)

struct caps {
	size_t objs, edges, types, roots, threads, tasks, chains, frames,
	       tbframes, tbs, sites, meta, strs;
};

/* by source, then in file order (seq) */
static int by_src(const void *a, const void *b)
{
	const struct t_edge *x = a, *y = b;
	if (x->src != y->src)
		return x->src < y->src ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static size_t slot(const struct t_dump *d, uint64_t addr)
{
	return (size_t)((addr >> 4) * 0x9E3779B97F4A7C15ull >> 20) & (d->cap - 1);
}

static void build_index(struct t_dump *d)
{
	d->cap = 1024;
	while (d->cap < d->nobjs * 2)
		d->cap *= 2;
	d->index = calloc(d->cap, sizeof(*d->index));
	for (size_t i = 0; i < d->nobjs; i++) {
		size_t s = slot(d, d->objs[i].addr);
		while (d->index[s]) {
			if (d->objs[d->index[s] - 1].addr == d->objs[i].addr) {
				d->dups++;
				break;
			}
			s = (s + 1) & (d->cap - 1);
		}
		if (!d->index[s])
			d->index[s] = i + 1;
	}
}

struct t_obj *t_find(const struct t_dump *d, uint64_t addr)
{
	for (size_t s = slot(d, addr); d->index[s]; s = (s + 1) & (d->cap - 1)) {
		if (d->objs[d->index[s] - 1].addr == addr)
			return &d->objs[d->index[s] - 1];
	}
	return NULL;
}

int t_load(struct t_dump *d, const char *path, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	struct caps cap = { 0 };
	if (!(d->r = hs_reader_open(path, err, errlen)))
		return -1;
	hs_section sec;
	int rs;
	while ((rs = hs_reader_next_section(d->r, &sec)) != 0) {
		if (rs < 0)
			continue;
		hs_record rec;
		while (hs_reader_next_record(d->r, &rec) > 0) {
			switch (rec.kind) {
			case HS_K_STRINGS:
				while (d->nstrs <= rec.u.str.id) {
					GROW(d->strs, d->nstrs, cap.strs);
					d->strs[d->nstrs++] = NULL;
				}
				d->strs[rec.u.str.id] = strndup(rec.u.str.s,
				                                rec.u.str.len);
				break;
			case HS_K_TYPES:
				GROW(d->types, d->ntypes, cap.types);
				d->types[d->ntypes++] = rec.u.type;
				break;
			case HS_K_OBJECTS: {
				GROW(d->objs, d->nobjs, cap.objs);
				struct t_obj *o = &d->objs[d->nobjs++];
				const hs_object *h = &rec.u.object;
				memset(o, 0, sizeof(*o));
				o->addr = h->addr;
				o->type = h->type;
				o->size = h->size;
				o->refcnt = h->refcnt;
				o->flags = h->flags;
				o->len = h->len;
				o->name = h->name;
				o->trace = h->trace;
				if (h->flags & HS_OF_HAS_VALUE) {
					char *v = malloc(h->value_len + 1);
					memcpy(v, h->value, h->value_len);
					v[h->value_len] = '\0';
					o->value = v;
					o->value_len = h->value_len;
				}
				break;
			}
			case HS_K_REFS:
				for (uint64_t i = 0; i < rec.u.refs.n; i++) {
					GROW(d->edges, d->nedges, cap.edges);
					struct t_edge *e = &d->edges[d->nedges++];
					e->src = rec.u.refs.src;
					e->dst = rec.u.refs.edges[i].dst;
					e->kind = rec.u.refs.edges[i].kind;
					e->label = rec.u.refs.edges[i].label;
					e->seq = d->nedges;
				}
				break;
			case HS_K_ROOTS:
				GROW(d->roots, d->nroots, cap.roots);
				d->roots[d->nroots++] = rec.u.root;
				break;
			case HS_K_THREADS:
				GROW(d->threads, d->nthreads, cap.threads);
				d->threads[d->nthreads++] = rec.u.thread;
				break;
			case HS_K_TASKS: {
				GROW(d->tasks, d->ntasks, cap.tasks);
				hs_task *t = &d->tasks[d->ntasks++];
				*t = rec.u.task;
				/* remember where its chain starts */
				t->chain = (const hs_await *)(uintptr_t)d->nchains;
				for (uint64_t i = 0; i < rec.u.task.n; i++) {
					GROW(d->chains, d->nchains, cap.chains);
					d->chains[d->nchains++] = rec.u.task.chain[i];
				}
				break;
			}
			case HS_K_FRAMES:
				GROW(d->frames, d->nframes, cap.frames);
				d->frames[d->nframes++] = rec.u.frame;
				break;
			case HS_K_TRACEBACKS:
				GROW(d->tbs, d->ntbs, cap.tbs);
				d->tbs[d->ntbs].total = rec.u.traceback.total_nframe;
				d->tbs[d->ntbs].n = rec.u.traceback.n;
				d->tbs[d->ntbs].first = d->ntbframes;
				d->ntbs++;
				for (uint64_t i = 0; i < rec.u.traceback.n; i++) {
					GROW(d->tbframes, d->ntbframes, cap.tbframes);
					d->tbframes[d->ntbframes++] = rec.u.traceback.frames[i];
				}
				break;
			case HS_K_SITES:
				GROW(d->sites, d->nsites, cap.sites);
				d->sites[d->nsites++] = rec.u.site;
				break;
			case HS_K_META:
				GROW(d->meta, d->nmeta, cap.meta);
				d->meta[d->nmeta].key = strndup(rec.u.meta.key,
				                                rec.u.meta.key_len);
				d->meta[d->nmeta].str = rec.u.meta.type == HS_M_STR
				        ? strndup(rec.u.meta.s, rec.u.meta.s_len) : NULL;
				d->meta[d->nmeta].u = rec.u.meta.u;
				d->nmeta++;
				break;
			default:
				break;
			}
		}
	}
	for (size_t i = 0; i < d->ntasks; i++)
		d->tasks[i].chain = d->chains + (uintptr_t)d->tasks[i].chain;
	d->complete = hs_reader_complete(d->r);
	qsort(d->edges, d->nedges, sizeof(*d->edges), by_src);
	build_index(d);
	for (size_t i = 0; i < d->nedges;) {
		size_t j = i;
		while (j < d->nedges && d->edges[j].src == d->edges[i].src)
			j++;
		struct t_obj *o = t_find(d, d->edges[i].src);
		if (o) {
			o->edge0 = i;
			o->nedges = j - i;
		}
		i = j;
	}
	return 0;
}

void t_free(struct t_dump *d)
{
	for (size_t i = 0; i < d->nobjs; i++)
		free((char *)d->objs[i].value);
	for (size_t i = 0; i < d->nmeta; i++) {
		free(d->meta[i].key);
		free(d->meta[i].str);
	}
	for (size_t i = 0; i < d->nstrs; i++)
		free(d->strs[i]);
	free(d->strs);
	free(d->objs);
	free(d->edges);
	free(d->types);
	free(d->roots);
	free(d->threads);
	free(d->tasks);
	free(d->chains);
	free(d->frames);
	free(d->tbframes);
	free(d->tbs);
	free(d->sites);
	free(d->meta);
	free(d->index);
	hs_reader_free(d->r);
	memset(d, 0, sizeof(*d));
}

const char *t_str(const struct t_dump *d, uint64_t id)
{
	return id < d->nstrs && d->strs[id] ? d->strs[id] : "";
}

const char *t_type_name(const struct t_dump *d, const struct t_obj *o)
{
	if (o->type == 0 || o->type > d->ntypes)
		return "";
	return t_str(d, d->types[o->type - 1].name);
}

const char *t_meta_str(const struct t_dump *d, const char *key)
{
	const char *v = NULL;
	for (size_t i = 0; i < d->nmeta; i++)
		if (strcmp(d->meta[i].key, key) == 0)
			v = d->meta[i].str;
	return v;
}

uint64_t t_meta_uint(const struct t_dump *d, const char *key)
{
	uint64_t v = 0;
	for (size_t i = 0; i < d->nmeta; i++)
		if (strcmp(d->meta[i].key, key) == 0)
			v = d->meta[i].u;
	return v;
}

char *t_mkdir(void)
{
	char *dir = strdup("/tmp/hsdumper-XXXXXX");
	if (!dir || !mkdtemp(dir))
		abort();
	return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void t_rmdir(char *dir)
{
	if (!getenv("HS_TEST_KEEP"))
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

pid_t t_spawn(const char *log, char *const argv[], void (*setup)(void *),
              void *arg)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setenv("PYTHONPATH", HS_TEST_PYPATH, 1);
		if (setup)
			setup(arg);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

int t_python(const char *dir, const char *script, ...)
{
	char *argv[16];
	size_t n = 0;
	char scriptpath[512], logpath[512];
	snprintf(scriptpath, sizeof(scriptpath), "%s/%s", HS_TEST_SCRIPTS, script);
	snprintf(logpath, sizeof(logpath), "%s/%s.log", dir, script);
	argv[n++] = (char *)HS_TEST_PYTHON;
	argv[n++] = scriptpath;
	va_list ap;
	va_start(ap, script);
	const char *a;
	while (n < 15 && (a = va_arg(ap, const char *)))
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	pid_t pid = t_spawn(logpath, argv, NULL, NULL);
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		char *log = t_slurp(logpath, NULL);
		fprintf(stderr, "%s failed:\n%s\n", script, log ? log : "");
		free(log);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

char *t_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	size_t k;
	while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += k;
		if (cap - n < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}
