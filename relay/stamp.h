#ifndef PGWARD_RELAY_STAMP_H
#define PGWARD_RELAY_STAMP_H

/* The server session's settings: the client's startup parameters turned
 * into a libpq "options" string, plus pgward's identity stamp
 * (pgward.user, pgward.principal, pgward.actor, pgward.session), which a
 * client can never set itself. */

#include <stddef.h>

#include "pgproto.h"

struct stamp_result {
	char *options;		/* for libpq's "options" keyword */
	const char *application_name;
	const char *client_encoding;
	const char *error;	/* NULL on success; static text */
	const char *sqlstate;
};

/* What is stamped (docs/pgward-relay.md). */
struct stamp_identity {
	const char *user;
	const char *principal;	/* "person" or "agent" */
	const char *actor;	/* relay_identity_actor_text(): "" when none */
	const char *session;
};

struct stamp_result stamp_build(const struct pg_startup *startup,
    const struct stamp_identity *id);
void stamp_result_free(struct stamp_result *r);

/* True for names a client may not set ("pgward." prefix, any case). */
int stamp_reserved_name(const char *name);

#endif
