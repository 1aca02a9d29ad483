/* args.c - option parsing for the commands: typed lookups of declared
 * options, help, usage errors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

void hsa_usage_error(const hsa_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "heapsnap %s: ", cmd->name);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "; see 'heapsnap %s --help'\n", cmd->name);
	va_end(ap);
}

void hsa_print_help(const hsa_cmd *cmd, FILE *f)
{
	fprintf(f, "usage: heapsnap %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
	if (cmd->details)
		fprintf(f, "\n%s\n", cmd->details);
	fputs("\noptions:\n", f);
	for (const hsa_opt *o = cmd->opts; o && o->name; o++) {
		char left[64];
		if (o->short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name,
			         o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->arg ? " " : "",
			         o->arg ? o->arg : "");
		fprintf(f, "  %-26s %s\n", left, o->help);
	}
	fprintf(f, "  %-26s %s\n", "-h, --help", "show this help");
}

static int find_opt(const hsa_cmd *cmd, const char *name, size_t len, char short_name)
{
	int i = 0;
	for (const hsa_opt *o = cmd->opts; o && o->name; o++, i++) {
		if (short_name ? o->short_name == short_name
		               : strlen(o->name) == len && !memcmp(o->name, name, len))
			return i;
	}
	return -1;
}

int hsa_parse_args(const hsa_cmd *cmd, int argc, char **argv, hsa_args *a)
{
	memset(a, 0, sizeof(*a));
	a->pos = calloc((size_t)argc + 1, sizeof(char *));
	if (!a->pos) {
		hsa_error("out of memory");
		return HSA_EXIT_FAIL;
	}
	int only_pos = 0;
	for (int i = 1; i < argc; i++) {
		char *s = argv[i];
		if (only_pos || s[0] != '-' || !s[1]) {
			a->pos[a->npos++] = s;
			continue;
		}
		if (!strcmp(s, "--")) {
			only_pos = 1;
			continue;
		}
		if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			hsa_print_help(cmd, stdout);
			return -1;
		}
		int idx;
		const char *val = NULL;
		if (s[1] == '-') {
			const char *eq = strchr(s + 2, '=');
			size_t len = eq ? (size_t)(eq - s - 2) : strlen(s + 2);
			idx = find_opt(cmd, s + 2, len, 0);
			if (idx >= 0 && eq)
				val = eq + 1;
		} else {
			idx = s[2] ? -1 : find_opt(cmd, NULL, 0, s[1]);
		}
		if (idx < 0) {
			hsa_usage_error(cmd, "unknown option '%s'", s);
			return HSA_EXIT_USAGE;
		}
		const hsa_opt *o = &cmd->opts[idx];
		if (o->arg && !val) {
			if (i + 1 >= argc) {
				hsa_usage_error(cmd, "option '%s' needs a value", s);
				return HSA_EXIT_USAGE;
			}
			val = argv[++i];
		} else if (!o->arg && val) {
			hsa_usage_error(cmd, "option '--%s' takes no value", o->name);
			return HSA_EXIT_USAGE;
		}
		a->val[idx] = o->arg ? val : "";
	}
	if (a->npos < cmd->min_pos) {
		hsa_usage_error(cmd, "missing argument (usage: heapsnap %s %s)", cmd->name,
		                cmd->usage);
		return HSA_EXIT_USAGE;
	}
	if (a->npos > cmd->max_pos) {
		hsa_usage_error(cmd, "unexpected argument '%s'", a->pos[cmd->max_pos]);
		return HSA_EXIT_USAGE;
	}
	return 0;
}

const char *hsa_arg(const hsa_cmd *cmd, const hsa_args *a, const char *name)
{
	int idx = find_opt(cmd, name, strlen(name), 0);
	/* A name the command does not declare is a misspelling in the code:
	 * it would read as an option never given. Fail loudly, in every
	 * build, so that any test passing through it fails. */
	if (idx < 0) {
		fprintf(stderr, "heapsnap %s: internal error: option '--%s' is not declared\n",
		        cmd->name, name);
		abort();
	}
	return a->val[idx];
}

/* The leading unsigned decimal of option name's value: 0 when absent, 1
 * with *n and *rest (what follows the digits), -1 when it has none. */
static int arg_number(const hsa_cmd *cmd, const hsa_args *a, const char *name, uint64_t *n,
                      const char **rest)
{
	const char *v = hsa_arg(cmd, a, name);
	if (!v)
		return 0;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || end == v || v[0] == '-')
		return -1;
	*n = x;
	*rest = end;
	return 1;
}

int hsa_arg_count(const hsa_cmd *cmd, const hsa_args *a, const char *name,
                  uint64_t dflt, uint64_t *out)
{
	const char *rest = NULL;
	uint64_t n = 0;
	int rc = arg_number(cmd, a, name, &n, &rest);
	*out = dflt;
	if (rc > 0 && !*rest && n) {
		*out = n;
		return 0;
	}
	if (rc)
		hsa_usage_error(cmd, "option '--%s' needs a positive number, not '%s'", name,
		                hsa_arg(cmd, a, name));
	return rc ? -1 : 0;
}

int hsa_arg_size(const hsa_cmd *cmd, const hsa_args *a, const char *name, uint64_t dflt,
                 uint64_t *out)
{
	const char *v = hsa_arg(cmd, a, name);
	*out = dflt;
	if (!v || !hsa_parse_size(v, out))
		return 0;
	*out = dflt;
	hsa_usage_error(cmd, "option '--%s' needs a size in bytes (or with K, M, G), not '%s'",
	                name, v);
	return -1;
}

int hsa_arg_pid(const hsa_cmd *cmd, const char *arg, long *pid)
{
	char *end;
	errno = 0;
	*pid = strtol(arg, &end, 10);
	if (errno || *end || end == arg || *pid <= 0) {
		hsa_usage_error(cmd, "PID must be a process id, not '%s'", arg);
		return -1;
	}
	return 0;
}

int hsa_arg_choice(const hsa_cmd *cmd, const hsa_args *a, const char *name,
                   const char *const *choices)
{
	const char *v = hsa_arg(cmd, a, name);
	if (!v)
		return 0;
	for (int i = 0; choices[i]; i++)
		if (!strcmp(v, choices[i]))
			return i;
	hsa_str list = {0};
	for (int i = 0; choices[i]; i++)
		hsa_str_printf(&list, "%s%s", i ? "|" : "", choices[i]);
	hsa_usage_error(cmd, "option '--%s' must be one of %s, not '%s'", name,
	                list.s ? list.s : "", v);
	hsa_str_free(&list);
	return -1;
}
