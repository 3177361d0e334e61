#ifndef PGWARD_AUTH_TOKEN_H
#define PGWARD_AUTH_TOKEN_H

#include <stddef.h>

#include "auth/config.h"
#include "auth/jwks.h"

#define TOKEN_MAX_USER_BYTES 256
#define TOKEN_MAX_GROUPS 1024

/* One link of an actor chain (auth/actor.h). */
struct token_actor {
	char *sub;
	char *client_id;	/* NULL when the actor names none */
};

struct token_result {
	/* NULL when the token is accepted, else a one-line reason for the
	 * operator (never for the client, never containing the token) */
	char *error;
	char *user;
	char **groups;
	size_t ngroups;
	long long exp;
	char *iss;
	/* the actor chain, outermost (the current actor) first */
	struct token_actor *actors;
	size_t nactors;
	char *client_id;	/* the OAuth client that asked; NULL: none */
	int agent;		/* 1: a machine identity, no person */
	/* sub and kid are also set, unverified, on refusal when readable */
	char *sub;
	char *kid;
};

/* Verifies token (len bytes, need not be NUL-terminated) at time now. */
struct token_result token_verify(const struct auth_config *config,
    const struct jwks_result *keys, const char *token, size_t len,
    long long now);
void token_result_free(struct token_result result);

/* A name pgward passes on (user, group, actor): 1 to 256 bytes, no
 * control characters. */
int token_name_ok(const char *s);

/* Copies s for a log line: at most 64 characters, anything not printable
 * ASCII replaced by '?', "-" for NULL. Returns buf. */
const char *token_printable(const char *s, char *buf, size_t len);

#endif
