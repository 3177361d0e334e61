/* pgward-mcp: an MCP server on stdio for AI agents, a thin libpq client
 * of pgward-relay. See docs/pgward-mcp.md. */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "mcp/db.h"
#include "mcp/rpc.h"
#include "mcp/server.h"
#include "mcp/tokensrc.h"

#define USAGE \
	"usage: pgward-mcp [-H HOST] [-p PORT] [-d DBNAME] [-U ROLE] [--sslmode MODE]\n" \
	"                  [--sslrootcert FILE] [--token-env VAR | --token-command CMD]\n" \
	"                  [--timeout SECONDS] [-v]\n" \
	"       pgward-mcp -V\n" \
	"speaks MCP (JSON-RPC 2.0, one message a line) on stdin and stdout;\n" \
	"the token is the relay password: $PGWARD_TOKEN, or CMD's output\n"

/* A message longer than this is refused, not read into memory. */
#define MCP_MAX_LINE (4 * 1024 * 1024)

enum { OPT_SSLMODE = 256, OPT_SSLROOTCERT, OPT_TOKEN_ENV, OPT_TOKEN_COMMAND, OPT_TIMEOUT };

static void mcp_options(int argc, char **argv, struct db_opts *o, struct tokensrc *t);
static int mcp_serve(struct server *s);

int
main(int argc, char **argv)
{
	struct db_opts o = { .sslmode = "require", .application_name = "pgward-mcp",
	    .timeout_s = 60 };
	struct tokensrc t = { .env = "PGWARD_TOKEN" };
	struct db d;
	log_init("pgward-mcp");
	mcp_options(argc, argv, &o, &t);
	signal(SIGPIPE, SIG_IGN);
	db_init(&d, &o, &t);
	struct server s = { .db = &d };
	int rc = mcp_serve(&s);
	db_close(&d);
	tokensrc_free(&t);
	return rc;
}

static void
mcp_options(int argc, char **argv, struct db_opts *o, struct tokensrc *t)
{
	static const struct option longs[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "dbname", required_argument, NULL, 'd' },
		{ "user", required_argument, NULL, 'U' },
		{ "sslmode", required_argument, NULL, OPT_SSLMODE },
		{ "sslrootcert", required_argument, NULL, OPT_SSLROOTCERT },
		{ "token-env", required_argument, NULL, OPT_TOKEN_ENV },
		{ "token-command", required_argument, NULL, OPT_TOKEN_COMMAND },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "H:p:d:U:vVh", longs, NULL)) != -1) {
		switch (c) {
		case 'H': o->host = optarg; break;
		case 'p': o->port = optarg; break;
		case 'd': o->dbname = optarg; break;
		case 'U': o->user = optarg; break;
		case OPT_SSLMODE: o->sslmode = optarg; break;
		case OPT_SSLROOTCERT: o->sslrootcert = optarg; break;
		case OPT_TOKEN_ENV: t->env = optarg; break;
		case OPT_TOKEN_COMMAND: t->command = optarg; break;
		case OPT_TIMEOUT:
			o->timeout_s = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || o->timeout_s < 1 || o->timeout_s > 86400)
				log_fatal(PGWARD_EXIT_USAGE, "--timeout: expected seconds from 1 to "
				    "86400, got \"%s\"", optarg);
			break;
		case 'v': log_set_debug(1); break;
		case 'V': printf("pgward-mcp %s\n", PGWARD_VERSION); exit(0);
		case 'h': fputs(USAGE, stdout); exit(0);
		default: fputs(USAGE, stderr); exit(PGWARD_EXIT_USAGE);
		}
	}
	if (optind != argc) {
		log_error("unexpected operand %s", argv[optind]);
		fputs(USAGE, stderr);
		exit(PGWARD_EXIT_USAGE);
	}
}

static int
mcp_serve(struct server *s)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) != -1) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		json_t *answer;
		struct rpc_msg m;
		if (n > MCP_MAX_LINE) {
			answer = rpc_error(json_null(), RPC_INVALID_REQUEST, "invalid request: "
			    "message too large");
			memset(&m, 0, sizeof m);
		} else {
			rpc_parse(line, (size_t)n, &m);
			answer = server_handle(s, &m);
		}
		rpc_msg_free(&m);
		if (answer != NULL && rpc_write(stdout, answer) != 0) {
			free(line);
			log_fatal_sys(PGWARD_EXIT_TEMP, "unable to write to stdout");
		}
		if (cap > MCP_MAX_LINE) {
			free(line);
			line = NULL;
			cap = 0;
		}
	}
	free(line);
	return 0;
}
