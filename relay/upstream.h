#ifndef PGWARD_RELAY_UPSTREAM_H
#define PGWARD_RELAY_UPSTREAM_H

/* The relay's own connection to PostgreSQL. libpq does the login (SCRAM,
 * md5, password, trust; TLS up to verify-full; the pgpass file); after
 * that the relay speaks the protocol on the same socket (and TLS object)
 * itself. */

#include <libpq-fe.h>
#include <stddef.h>

#include "endpoint.h"

struct upstream {
	PGconn *conn;
	PGcancel *cancel;
	struct endpoint ep;
	int backend_pid;
};

struct upstream_request {
	const char *conninfo;
	const char *role;
	const char *passfile;
	const char *options;
	const char *application_name;	/* may be NULL */
	const char *client_encoding;	/* may be NULL */
	int timeout_s;
};

/* Returns 0, or -1 with libpq's reason in err (for the operator's log). */
int upstream_connect(struct upstream *u, const struct upstream_request *req,
    char *err, size_t errlen);
void upstream_close(struct upstream *u);
/* Safe to call from a signal handler, as PQcancel is. */
int upstream_cancel(struct upstream *u);

/* The parameters the server reports at login (GUC_REPORT), for replaying
 * them to the client. NULL-terminated. */
extern const char *const upstream_reported_parameters[];

#endif
