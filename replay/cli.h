#ifndef PGWARD_REPLAY_CLI_H
#define PGWARD_REPLAY_CLI_H

/* What the investigation commands share on the command line: the log
 * directory (-d DIR, an operand, $PGWARD_LOG_DIR, or /var/lib/pgward/log),
 * --json, and the record filters. */

#include <getopt.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "replay/rec.h"
#include "replay/when.h"

#define CLI_DEFAULT_DIR "/var/lib/pgward/log"

enum {
	CLI_USER = 256, CLI_GROUP, CLI_CONNECTION, CLI_ROLE, CLI_SESSION,
	CLI_TABLE, CLI_COMMAND, CLI_DECISION, CLI_SQLSTATE, CLI_TEXT, CLI_STATUS,
	CLI_SINCE, CLI_UNTIL, CLI_AT, CLI_JSON, CLI_LIMIT, CLI_ACTOR, CLI_PRINCIPAL,
	CLI_NEXT	/* first code free for a command's own options */
};

#define CLI_FILTER_OPTIONS \
	{ "user", required_argument, NULL, CLI_USER }, \
	{ "group", required_argument, NULL, CLI_GROUP }, \
	{ "actor", required_argument, NULL, CLI_ACTOR }, \
	{ "principal", required_argument, NULL, CLI_PRINCIPAL }, \
	{ "connection", required_argument, NULL, CLI_CONNECTION }, \
	{ "role", required_argument, NULL, CLI_ROLE }, \
	{ "session", required_argument, NULL, CLI_SESSION }, \
	{ "table", required_argument, NULL, CLI_TABLE }, \
	{ "command", required_argument, NULL, CLI_COMMAND }, \
	{ "decision", required_argument, NULL, CLI_DECISION }, \
	{ "sqlstate", required_argument, NULL, CLI_SQLSTATE }, \
	{ "text", required_argument, NULL, CLI_TEXT }, \
	{ "status", required_argument, NULL, CLI_STATUS }, \
	{ "since", required_argument, NULL, CLI_SINCE }, \
	{ "until", required_argument, NULL, CLI_UNTIL }, \
	{ "at", required_argument, NULL, CLI_AT }, \
	{ "json", no_argument, NULL, CLI_JSON }, \
	{ "limit", required_argument, NULL, CLI_LIMIT }, \
	{ "help", no_argument, NULL, 'h' }

struct cli {
	const char *dir;
	int json;
	const char *user, *group, *connection, *role, *session;
	const char *actor, *principal;	/* a glob; "person" or "agent" */
	const char *table, *command, *decision, *sqlstate, *text, *status;
	char since[WHEN_LEN], until[WHEN_LEN];	/* "" when not given */
	uint64_t limit;				/* 0: no limit */
};

void cli_init(struct cli *c);
/* Handles one option of CLI_FILTER_OPTIONS or -d: 1 handled, 0 not a
 * shared option, -1 bad value (reported). */
int cli_option(struct cli *c, int opt, const char *arg);
/* Takes an optional DIR operand (after the options); -1 if more. */
int cli_operands(struct cli *c, int argc, char **argv, int optind);

/* Filters on the identity and connection members of a session_start or
 * intent record (who acts: replay/who.h). */
int cli_match_identity(const struct cli *c, const struct rec *r);
/* ts within --since/--until. */
int cli_match_time(const struct cli *c, const char *ts);

/* Writes buf to stdout in full (one write per call); -1 on error. */
int cli_write(const char *buf, size_t n);

/* Copies of record lines kept for output. */
struct cli_lines {
	char **line;
	size_t *len;
	size_t n, cap;
};
int cli_keep(struct cli_lines *l, const char *line, size_t len);
void cli_lines_free(struct cli_lines *l);
/* A line held as a parsed JSON object (jansson), for output. NULL if it
 * does not parse. */
json_t *cli_json(const char *line, size_t len);

#endif
