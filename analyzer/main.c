/* main.c - the heapsnap command line: dispatch to a subcommand, git style. */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "args.h"

/* cmdtable.h lists HSA_COMMAND(name) for every cmd_NAME.c (CMakeLists.txt). */
#define HSA_COMMAND(name) extern const hsa_cmd hsa_cmd_##name;
#include "cmdtable.h"
#undef HSA_COMMAND

static const hsa_cmd *const commands[] = {
#define HSA_COMMAND(name) &hsa_cmd_##name,
#include "cmdtable.h"
#undef HSA_COMMAND
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fputs("usage: heapsnap [--version] [--help] COMMAND [ARGS]\n\n"
	      "Analyze Python heap snapshots (.hsnap dumps).\n\ncommands:\n",
	      f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
	fputs("\nSee 'heapsnap COMMAND --help' for the options of a command.\n", f);
}

int main(int argc, char **argv)
{
	/* SQLite's memory statistics take a global lock per allocation. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (argc < 2) {
		usage(stderr);
		return HSA_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(name, "--version")) {
		printf("heapsnap %s\n", HEAPSNAP_VERSION);
		return 0;
	}
	if (name[0] == '-') {
		hsa_error("unknown option '%s'; see 'heapsnap --help'", name);
		return HSA_EXIT_USAGE;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(name, commands[i]->name))
			return commands[i]->run(commands[i], argc - 1, argv + 1);
	hsa_error("unknown command '%s'; see 'heapsnap --help'", name);
	return HSA_EXIT_USAGE;
}
