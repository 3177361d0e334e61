#ifndef PGWARD_AUTH_CONFIG_H
#define PGWARD_AUTH_CONFIG_H

#include <stddef.h>

#include "conf.h"

#define AUTH_MAX_USER_CLAIMS 8
#define AUTH_MAX_CLIENT_CLAIMS 8
#define AUTH_MAX_AGENT_RULES 8

struct auth_config {
	char *listen_unix;
	char *jwks;
	char *issuer;
	char *audience;
	/* bit (1u << jwt_alg_t) per allowed algorithm */
	unsigned algorithms;
	long leeway_s;
	struct conf_list user_claims;	/* at most AUTH_MAX_USER_CLAIMS */
	char *groups_claim;
	/* RFC 8693: the claim holding the actor object, nested under the
	 * same name for the earlier actors (auth/actor.h) */
	char *actor_claim;
	long max_actor_depth;
	struct conf_list client_claims;	/* at most AUTH_MAX_CLIENT_CLAIMS */
	/* when a token names a machine, not a person (auth/actor.h) */
	struct conf_list agent_rules;	/* at most AUTH_MAX_AGENT_RULES */
	char *hmac_secret_file;
	unsigned char *hmac_secret;
	size_t hmac_secret_len;
	long max_token_bytes;
};

struct auth_config_result {
	struct auth_config *config;
	/* NULL on success, else one line "path:line: reason" */
	char *error;
};

struct auth_config_result auth_config_load(const char *path);
void auth_config_result_free(struct auth_config_result result);

/* "RS256,ES256" into a bit set; returns 0 or -1 with the reason. */
int auth_config_parse_algorithms(const char *value, unsigned *out, char *err,
    size_t errlen);
/* "RS256,ES256" from a bit set, into buf. */
void auth_config_format_algorithms(unsigned algs, char *buf, size_t len);

#endif
