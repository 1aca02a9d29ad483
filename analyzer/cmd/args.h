/*
 * args.h - the commands and their options: a command declares its options
 * (hsa_opt), hsa_parse_args fills hsa_args, and the typed lookups read
 * them by name (a name the command does not declare is an internal error).
 */
#ifndef HSA_ARGS_H
#define HSA_ARGS_H

#include <stdint.h>
#include <stdio.h>

#include "util.h"

#define HSA_EXIT_FAIL 1
#define HSA_EXIT_USAGE 2
#define HSA_MAX_OPTS 16

typedef struct hsa_opt {
	const char *name;  /* long name without the dashes: "json" */
	char short_name;   /* 'n', or 0 */
	const char *arg;   /* metavariable if the option takes a value, else NULL */
	const char *help;
} hsa_opt;

typedef struct hsa_cmd {
	const char *name;
	const char *summary;  /* one line for 'heapsnap --help' */
	const char *usage;    /* arguments after the command name */
	const char *details;  /* paragraph for 'heapsnap CMD --help', or NULL */
	int min_pos, max_pos; /* positional arguments allowed */
	const hsa_opt *opts;  /* terminated by an entry with name NULL */
	int (*run)(const struct hsa_cmd *cmd, int argc, char **argv);
} hsa_cmd;

typedef struct hsa_args {
	const char *val[HSA_MAX_OPTS]; /* per option: its value, "" for a set flag, NULL */
	char **pos;
	int npos;
} hsa_args;

/* Parses argv (argv[0] is the command name). Returns 0, HSA_EXIT_USAGE
 * after printing a one-line error, or -1 after printing the help (the
 * caller exits 0). Options and positionals may be interleaved; "--" ends
 * the options. */
int hsa_parse_args(const hsa_cmd *cmd, int argc, char **argv, hsa_args *a);
/* The value of option NAME, or NULL when absent. */
const char *hsa_arg(const hsa_cmd *cmd, const hsa_args *a, const char *name);
/* Parses a positive count option; prints the usage error and returns -1. */
int hsa_arg_count(const hsa_cmd *cmd, const hsa_args *a, const char *name,
                  uint64_t dflt, uint64_t *out);
/* Parses a size option: bytes, or with a K/KiB, M/MiB, G/GiB suffix
 * (powers of 1024); prints the usage error and returns -1. */
int hsa_arg_size(const hsa_cmd *cmd, const hsa_args *a, const char *name, uint64_t dflt,
                 uint64_t *out);
/* Parses a positional process id; prints the usage error and returns -1. */
int hsa_arg_pid(const hsa_cmd *cmd, const char *arg, long *pid);
/* Checks an option's value against a list ("type", "module", NULL);
 * returns its position, or -1 after printing the usage error. */
int hsa_arg_choice(const hsa_cmd *cmd, const hsa_args *a, const char *name,
                   const char *const *choices);
void hsa_usage_error(const hsa_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void hsa_print_help(const hsa_cmd *cmd, FILE *f);

#endif
