#ifndef PGWARD_RELAY_STAMP_H
#define PGWARD_RELAY_STAMP_H

/* The server session's settings: the client's startup parameters turned
 * into a libpq "options" string, plus pgward's identity stamp
 * (pgward.user, pgward.session), which a client can never set itself. */

#include <stddef.h>

#include "pgproto.h"

struct stamp_result {
	char *options;		/* for libpq's "options" keyword */
	const char *application_name;
	const char *client_encoding;
	const char *error;	/* NULL on success; static text */
	const char *sqlstate;
};

struct stamp_result stamp_build(const struct pg_startup *startup, const char *user,
    const char *session_id);
void stamp_result_free(struct stamp_result *r);

/* True for names a client may not set ("pgward." prefix, any case). */
int stamp_reserved_name(const char *name);

#endif
