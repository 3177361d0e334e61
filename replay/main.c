#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "replay/export.h"
#include "replay/prove.h"
#include "replay/readaudit.h"
#include "replay/rerun.h"
#include "replay/search.h"
#include "replay/sessions.h"
#include "replay/show.h"
#include "replay/verify.h"

#define USAGE \
	"usage: pgward-replay COMMAND [OPTIONS] [DIR]\n" \
	"       pgward-replay COMMAND -h\n" \
	"       pgward-replay -V\n" \
	"commands:\n" \
	"  verify -k VKEY [-c CHECKPOINT] [-o ORIGIN] [--json] DIR   check the whole log\n" \
	"  sessions [filters] [--json]          one line per session\n" \
	"  show SESSION [--json]                a session's transcript\n" \
	"  search [filters] [--json]            statements with their results\n" \
	"  export --format jsonl|ocsf|cef|syslog [--from SEQ|--since TIME]\n" \
	"         [--follow] [--cursor FILE]    records for a SIEM\n" \
	"  prove SEQ -k VKEY [-c CHECKPOINT]    an inclusion proof of one record\n" \
	"  verify-proof -k VKEY FILE            check a proof offline\n" \
	"  run SESSION --target CONNINFO [--pace]  re-execute a session\n" \
	"the log directory: -d DIR, the last operand, $PGWARD_LOG_DIR, or " \
	"/var/lib/pgward/log\n" \
	"with $PGWARD_TOKEN set, the read is recorded in the audit log first\n" \
	"($PGWARD_AUTH_SOCKET, $PGWARD_AUDIT_SOCKET)\n"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "verify", verify_main },
	{ "sessions", sessions_main },
	{ "show", show_main },
	{ "search", search_main },
	{ "export", export_main },
	{ "prove", prove_main },
	{ "verify-proof", prove_verify_main },
	{ "run", rerun_main },
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
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		int rc = readaudit_record(argc - 1, argv + 1);
		if (rc != 0)
			return rc;
		return commands[i].run(argc - 1, argv + 1);
	}
	log_error("unknown command %s", argv[1]);
	fputs(USAGE, stderr);
	return PGWARD_EXIT_USAGE;
}
