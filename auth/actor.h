#ifndef PGWARD_AUTH_ACTOR_H
#define PGWARD_AUTH_ACTOR_H

/* Who acts, from a verified token's claims (RFC 8693):
 *
 * - the actor chain: the actor-claim ("act") object names the current
 *   actor, the same claim nested inside it the one before, and so on;
 *   each link is its sub and, when present, its client id. Authorization
 *   looks only at the top-level claims and the outermost actor; the
 *   nested ones are for the record (RFC 8693 section 4.1).
 * - the token's OAuth client: the first client-claim ("azp", "client_id")
 *   present.
 * - the principal kind: an agent (a machine identity, no person behind
 *   the sub) when any agent-rule holds, else a person.
 *
 * Anything odd is refused with a reason, never guessed at: an actor that
 * is not an object, a sub that is not a name, nesting deeper than
 * max-actor-depth, the same actor twice in one chain. */

#include <jansson.h>
#include <stddef.h>

#include "auth/config.h"
#include "auth/token.h"

/* The most max-actor-depth may be. */
#define ACTOR_MAX_DEPTH 32

/* Fills r's actors, nactors, client_id and agent from claims (r->sub
 * set). Returns 0, or -1 with the reason in err. */
int actor_take(const struct auth_config *c, json_t *claims,
    struct token_result *r, char *err, size_t errlen);

/* One agent-rule item: "sub-is-client", "CLAIM=GLOB", or "none" when it
 * is the whole rule (alone). Returns 0, or -1 with the reason in err. */
int actor_rule_check(const char *item, int alone, char *err, size_t errlen);

#endif
