#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "replay/verify.h"

#define USAGE \
	"usage: pgward-replay verify -k VERIFIER_KEY_FILE [-c CHECKPOINT_FILE]\n" \
	"                            [-o ORIGIN] [--json] DIR\n" \
	"       pgward-replay COMMAND -h\n" \
	"       pgward-replay -V\n" \
	"commands: verify (sessions, show, search, export, prove: to come)\n"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "verify", verify_main },
};

int
main(int argc, char **argv)
{
	log_init("pgward-replay");
	if (argc < 2) {
		log_error("a command is required");
		fputs(USAGE, stderr);
		return PGWARD_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(USAGE, stdout);
		return 0;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("pgward-replay %s\n", PGWARD_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	log_error("unknown command %s", argv[1]);
	fputs(USAGE, stderr);
	return PGWARD_EXIT_USAGE;
}
