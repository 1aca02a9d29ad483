#include "tdump.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct tdump {
	int fd;
	hs_sink sink;
	hs_writer *w;
	char *names[256];
	uint64_t ids[256];
	int ntypes;
};

static char dir[256];

static void remove_dir(void)
{
	char *cmd;
	if (asprintf(&cmd, "rm -rf '%s'", dir) > 0 && system(cmd) == 0)
		dir[0] = 0;
	free(cmd);
}

char *td_path(const char *name)
{
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/hsa-test-XXXXXX");
		cr_assert(mkdtemp(dir));
		atexit(remove_dir);
	}
	char *p;
	cr_assert(asprintf(&p, "%s/%d-%s", dir, (int)getpid(), name) > 0);
	return p;
}

tdump *td_open(const char *path)
{
	tdump *t = calloc(1, sizeof(*t));
	cr_assert(t);
	t->fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	cr_assert(t->fd >= 0, "cannot create %s", path);
	hs_sink_fd(&t->sink, &t->fd);
	hs_writer_opts o = {.section_size = 4096};
	char err[256];
	t->w = hs_writer_new(&t->sink, &o, err, sizeof(err));
	cr_assert(t->w, "%s", err);
	hs_writer_meta_str(t->w, "python_version", "3.11.7");
	return t;
}

hs_writer *td_writer(tdump *t) { return t->w; }

uint64_t td_str(tdump *t, const char *s)
{
	uint64_t id = hs_writer_string(t->w, s, strlen(s));
	cr_assert(id);
	return id;
}

uint64_t td_type(tdump *t, const char *name)
{
	for (int i = 0; i < t->ntypes; i++)
		if (!strcmp(t->names[i], name))
			return t->ids[i];
	cr_assert(t->ntypes < 256);
	uint64_t id = hs_writer_type(t->w, 0x100000 + (uint64_t)t->ntypes * 0x1000, td_str(t, name));
	cr_assert(id);
	t->names[t->ntypes] = strdup(name);
	t->ids[t->ntypes++] = id;
	return id;
}

void td_obj(tdump *t, uint64_t addr, const char *type, uint64_t size)
{
	hs_object o = {.addr = addr, .type = td_type(t, type), .size = size};
	td_object(t, &o);
}

void td_object(tdump *t, const hs_object *o) { cr_assert(!hs_writer_object(t->w, o)); }

void td_refs(tdump *t, uint64_t src, const hs_edge *e, size_t n)
{
	cr_assert(!hs_writer_refs(t->w, src, e, n));
}

void td_ref(tdump *t, uint64_t src, uint64_t dst, unsigned kind, const char *label)
{
	hs_edge e = {.dst = dst, .kind = kind, .label = label ? td_str(t, label) : 0};
	td_refs(t, src, &e, 1);
}

void td_root(tdump *t, uint64_t addr, unsigned kind, const char *name, uint64_t extra)
{
	hs_root r = {.addr = addr, .kind = kind, .name = name ? td_str(t, name) : 0,
	             .extra = extra};
	cr_assert(!hs_writer_root(t->w, &r));
}

void td_close(tdump *t)
{
	cr_assert(!hs_writer_finish(t->w), "%s", hs_writer_error(t->w));
	hs_writer_free(t->w);
	close(t->fd);
	for (int i = 0; i < t->ntypes; i++)
		free(t->names[i]);
	free(t);
}

static char *read_stream(FILE *f)
{
	size_t len = 0, cap = 4096, n;
	char *buf = malloc(cap);
	cr_assert(buf);
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert(buf);
		}
	}
	buf[len] = 0;
	return buf;
}

static int run_shell(char **out, const char *prefix, const char *fmt, va_list ap)
{
	char *args, *cmd;
	cr_assert(vasprintf(&args, fmt, ap) > 0);
	cr_assert(asprintf(&cmd, "%s%s", prefix, args) > 0);
	FILE *p = popen(cmd, "r");
	cr_assert(p, "cannot run %s", cmd);
	char *buf = read_stream(p);
	int st = pclose(p);
	free(args);
	free(cmd);
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int td_run(char **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = run_shell(out, HEAPSNAP_BIN " ", fmt, ap);
	va_end(ap);
	return rc;
}

int td_sh(char **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = run_shell(out, "", fmt, ap);
	va_end(ap);
	return rc;
}

char *td_read(const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot open %s", path);
	char *buf = read_stream(f);
	fclose(f);
	return buf;
}

int td_json_ok(const char *text)
{
	char tmpl[] = "/tmp/hsa-json-XXXXXX";
	int fd = mkstemp(tmpl);
	cr_assert(fd >= 0);
	cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	char *cmd;
	cr_assert(asprintf(&cmd, "python3 -c 'import json,sys; json.load(open(sys.argv[1]))' %s",
	                   tmpl) > 0);
	int st = system(cmd);
	unlink(tmpl);
	free(cmd);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}
