#ifndef PGWARD_RELAY_IDENTITY_H
#define PGWARD_RELAY_IDENTITY_H

/* Who a session is, from pgward-auth's answer (docs/auth-protocol.md):
 * the person (user, groups, sub), the principal kind, the actor chain
 * and the OAuth client. Everything that writes the identity out (the
 * stamp, the records, the log line) takes it from here. */

#include <jansson.h>

struct relay_actor {
	char *sub;
	char *client_id;	/* NULL when the actor names none */
};

struct relay_identity {
	char *user;
	char **groups;
	int ngroups;
	long long exp;
	char *iss;
	char *sub;
	int agent;		/* principal kind: 1 agent, 0 person */
	/* outermost (the current actor) first; RFC 8693 section 4.1 */
	struct relay_actor *actors;
	int nactors;
	char *client_id;	/* NULL when the token names none */
};

/* The most actors an answer may list (pgward-auth's max-actor-depth is
 * at most 32). */
#define RELAY_MAX_ACTORS 32
/* The longest name pgward-auth passes on. */
#define RELAY_MAX_NAME 256

/* Fills id from an accepted verify reply. An answer of protocol 1.0
 * (no principal, no actor) is a person with no actor. Returns 0, or -1
 * when the reply is malformed (id then holds what was read; free it). */
int relay_identity_from_reply(struct relay_identity *id, json_t *reply);
void relay_identity_free(struct relay_identity *id);

/* The person's groups as a new JSON array. */
json_t *relay_identity_groups(const struct relay_identity *id);
/* "person" or "agent". */
const char *relay_identity_principal(const struct relay_identity *id);
/* The chain as a new JSON array of {"sub", "client_id"?}, outermost first. */
json_t *relay_identity_actor_json(const struct relay_identity *id);
/* The chain as the text of pgward.actor: the subs, outermost first,
 * joined by "<-" ("ci-bot<-deploy-svc"); "" when none. Caller frees;
 * NULL when out of memory. */
char *relay_identity_actor_text(const struct relay_identity *id);

#endif
