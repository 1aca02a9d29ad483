/* cmd_attach.c - 'heapsnap attach': dump a running CPython 3.11-3.13
 * process that never imported heapsnap (attach/inject.h). The file is
 * written here, in this process's mount namespace, atomically: a 0600
 * temporary file beside it, fsync, rename, fsync of the directory. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inject.h"
#include "args.h"

#define DEFAULT_TIMEOUT 30.0

/* Where the payloads are: $HEAPSNAP_ATTACH_DIR, else lib/heapsnap beside
 * the directory of this executable (bin/ when installed, analyzer/ in a
 * build tree). */
static void payload_dir(char *buf, size_t len)
{
	const char *env = getenv("HEAPSNAP_ATTACH_DIR");
	char exe[PATH_MAX];
	ssize_t n;
	if (env && *env) {
		snprintf(buf, len, "%s", env);
	} else if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		snprintf(buf, len, "%s/../lib/heapsnap", dirname(exe));
	} else {
		snprintf(buf, len, "lib/heapsnap");
	}
}

/* <dir>/<program>-<host>-<pid>-<UTC time>.hsnap, as the dump handler
 * names its files. */
static void default_name(const char *dir, long pid, char *buf, size_t len)
{
	char comm[64] = "python", path[64], host[64] = "host", t[32];
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	FILE *f = fopen(path, "re");
	if (f && fgets(comm, sizeof(comm), f))
		comm[strcspn(comm, "\n")] = '\0';
	if (f)
		fclose(f);
	for (char *c = comm; *c; c++)
		if (*c == '/' || *c == ' ')
			*c = '_';
	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	time_t now = time(NULL);
	struct tm utc;
	gmtime_r(&now, &utc);
	strftime(t, sizeof(t), "%Y%m%dT%H%M%SZ", &utc);
	snprintf(buf, len, "%s/%s-%s-%ld-%s.hsnap", dir, comm, host, pid, t);
}

/* Dumps pid into path atomically. Returns 0 or HSA_EXIT_FAIL (said). */
static int dump_to(long pid, const char *path, const struct hs_attach_opts *o,
                   struct hs_attach_result *r)
{
	int rc = HSA_EXIT_FAIL, fd = -1;
	char *dcopy = strdup(path), *bcopy = strdup(path), *tmp = NULL;
	if (!dcopy || !bcopy ||
	    asprintf(&tmp, "%s/.%s.tmp.%ld", dirname(dcopy), basename(bcopy), (long)getpid()) < 0) {
		tmp = NULL;
		hsa_error("out of memory");
		goto done;
	}
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		hsa_error("cannot create '%s': %s", tmp, strerror(errno));
		goto done;
	}
	char err[1024];
	if (hs_attach((pid_t)pid, fd, o, r, err, sizeof(err)) < 0) {
		hsa_error("%s", err);
		goto done;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		hsa_error("cannot write '%s': %s", tmp, strerror(errno));
		goto done;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		hsa_error("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
		goto done;
	}
	free(tmp);
	tmp = NULL;
	int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
	free(tmp);
	free(dcopy);
	free(bcopy);
	return rc;
}

static int run(const hsa_cmd *cmd, int argc, char **argv)
{
	hsa_args a;
	int rc = hsa_parse_args(cmd, argc, argv, &a);
	if (rc)
		goto done;
	rc = HSA_EXIT_USAGE;
	long pid;
	if (hsa_arg_pid(cmd, a.pos[0], &pid))
		goto done;
	const char *out = hsa_arg(cmd, &a, "output"), *dir = hsa_arg(cmd, &a, "dir");
	const char *timeout = hsa_arg(cmd, &a, "timeout");
	if (out && dir) {
		hsa_usage_error(cmd, "-o and --dir exclude each other");
		goto done;
	}
	struct hs_attach_opts o = { .timeout = DEFAULT_TIMEOUT, .values = 1 };
	if (timeout) {
		char *end;
		o.timeout = strtod(timeout, &end);
		if (*end || end == timeout || !(o.timeout > 0)) {
			hsa_usage_error(cmd, "--timeout must be a number of seconds, not '%s'", timeout);
			goto done;
		}
	}
	static const char *const values[] = { "none", "preview", NULL };
	if (hsa_arg(cmd, &a, "values") && (o.values = hsa_arg_choice(cmd, &a, "values", values)) < 0)
		goto done;
	rc = HSA_EXIT_FAIL;
	char pdir[PATH_MAX], path[PATH_MAX + 256];
	payload_dir(pdir, sizeof(pdir));
	o.payload_dir = pdir;
	if (out)
		snprintf(path, sizeof(path), "%s", out);
	else
		default_name(dir ? dir : ".", pid, path, sizeof(path));
	/* a refusal before any file is made */
	char err[1024];
	if (hs_attach_check((pid_t)pid, pdir, err, sizeof(err)) < 0) {
		hsa_error("%s", err);
		goto done;
	}
	struct hs_attach_result r;
	if ((rc = dump_to(pid, path, &o, &r)) != 0)
		goto done;
	if (hsa_arg(cmd, &a, "json")) {
		hsa_json j;
		hsa_json_init(&j, stdout);
		hsa_json_open(&j, NULL);
		hsa_json_int(&j, "pid", pid);
		hsa_json_str(&j, "file", path);
		hsa_json_str(&j, "python", r.python);
		hsa_json_uint(&j, "objects", r.objects);
		hsa_json_uint(&j, "refs", r.refs);
		hsa_json_uint(&j, "bytes", r.bytes);
		hsa_json_str(&j, "safe_point", r.safe_point);
		hsa_json_f64(&j, "pause_ms", r.pause * 1e3);
		hsa_json_f64(&j, "fork_ms", r.fork * 1e3);
		hsa_json_f64(&j, "seconds", r.seconds);
		hsa_json_int(&j, "tries", r.tries);
		hsa_json_close(&j);
		hsa_json_finish(&j);
	} else {
		printf("%s\n", path);
	}
	rc = fflush(stdout) == 0 && !ferror(stdout) ? 0 : HSA_EXIT_FAIL;
done:
	free(a.pos);
	return rc < 0 ? 0 : rc;
}

static const hsa_opt opts[] = {
	{ "output", 'o', "FILE", "write the dump to FILE" },
	{ "dir", 0, "DIR", "write it into DIR under a generated name (default: .)" },
	{ "timeout", 0, "S", "give up after S seconds (default 30)" },
	{ "values", 0, "preview|none", "keep bounded previews of values (default) or none" },
	{ "json", 0, NULL, "print JSON for scripts: the file, counts and the pause" },
	{ NULL, 0, NULL, NULL },
};

const hsa_cmd hsa_cmd_attach = {
	.name = "attach",
	.summary = "dump a running Python 3.11-3.13 process that never imported heapsnap",
	.usage = "PID [-o FILE | --dir DIR] [--timeout S] [--values preview|none] [--json]",
	.details = "Stops the process's threads with ptrace when no thread holds the GIL (or\n"
	           "asks the holder to let go of it at its next bytecode boundary), makes one\n"
	           "of them fork() and lets them all go: the service pauses for about that\n"
	           "fork. The copy loads the payload for the process's Python version and\n"
	           "writes the dump into a pipe read here; the file is written on this side,\n"
	           "atomically. A copy that fails or hangs is killed and the attach retried\n"
	           "until --timeout. Needs ptrace rights over the process (root, or\n"
	           "CAP_SYS_PTRACE, or the same user with kernel.yama.ptrace_scope=0).\n"
	           "Prints the path of the dump.",
	.min_pos = 1,
	.max_pos = 1,
	.opts = opts,
	.run = run,
};
