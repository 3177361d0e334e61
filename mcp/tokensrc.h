#ifndef PGWARD_MCP_TOKENSRC_H
#define PGWARD_MCP_TOKENSRC_H

/* Where pgward-mcp gets the agent's token: an environment variable, or a
 * command whose standard output is the token (run again to refresh). */

#include <stddef.h>

struct tokensrc {
	const char *env;	/* variable name, used when command is NULL */
	const char *command;	/* run with /bin/sh -c */
	char *token;		/* the current token, or NULL */
};

/* Loads (refresh = 0) or reloads (refresh = 1) the token. Returns 0, or -1
 * with the reason in err. A refresh without a command fails: the variable
 * cannot change under a running process. */
int tokensrc_get(struct tokensrc *t, int refresh, char *err, size_t errlen);
void tokensrc_free(struct tokensrc *t);

#endif
