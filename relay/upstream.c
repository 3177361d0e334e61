#include "upstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const upstream_reported_parameters[] = {
	"application_name", "client_encoding", "DateStyle",
	"default_transaction_read_only", "in_hot_standby", "integer_datetimes",
	"IntervalStyle", "is_superuser", "server_encoding", "server_version",
	"session_authorization", "standard_conforming_strings", "TimeZone",
	NULL,
};

#define MAX_KEYWORDS 64

int
upstream_connect(struct upstream *u, const struct upstream_request *req,
    char *err, size_t errlen)
{
	memset(u, 0, sizeof *u);
	u->ep.fd = -1;
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(req->conninfo, &perr);
	if (opts == NULL) {
		snprintf(err, errlen, "bad conninfo: %s", perr ? perr : "out of memory");
		PQfreemem(perr);
		return -1;
	}
	const char *keys[MAX_KEYWORDS + 1];
	const char *vals[MAX_KEYWORDS + 1];
	int n = 0;
	char timeout[16];
	snprintf(timeout, sizeof timeout, "%d", req->timeout_s);
	for (PQconninfoOption *o = opts; o->keyword != NULL && n < MAX_KEYWORDS - 8; o++) {
		if (o->val == NULL || strcmp(o->keyword, "user") == 0 ||
		    strcmp(o->keyword, "password") == 0 ||
		    strcmp(o->keyword, "options") == 0 ||
		    strcmp(o->keyword, "passfile") == 0)
			continue;
		keys[n] = o->keyword;
		vals[n] = o->val;
		n++;
	}
	keys[n] = "user", vals[n++] = req->role;
	keys[n] = "options", vals[n++] = req->options;
	keys[n] = "fallback_application_name", vals[n++] = "pgward";
	if (req->passfile != NULL)
		keys[n] = "passfile", vals[n++] = req->passfile;
	if (req->application_name != NULL)
		keys[n] = "application_name", vals[n++] = req->application_name;
	if (req->client_encoding != NULL)
		keys[n] = "client_encoding", vals[n++] = req->client_encoding;
	/* The conninfo's own connect_timeout wins if given (it is earlier). */
	keys[n] = "connect_timeout", vals[n++] = timeout;
	keys[n] = NULL;
	vals[n] = NULL;

	u->conn = PQconnectdbParams(keys, vals, 0);
	PQconninfoFree(opts);
	if (u->conn == NULL || PQstatus(u->conn) != CONNECTION_OK) {
		const char *m = u->conn ? PQerrorMessage(u->conn) : "out of memory";
		snprintf(err, errlen, "%s", m);
		size_t l = strlen(err);
		while (l > 0 && (err[l - 1] == '\n' || err[l - 1] == ' '))
			err[--l] = '\0';
		for (char *p = err; *p; p++)
			if (*p == '\n')
				*p = ' ';
		upstream_close(u);
		return -1;
	}
	SSL *ssl = PQsslInUse(u->conn) ? PQsslStruct(u->conn, "OpenSSL") : NULL;
	if (ssl != NULL)
		SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
		    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	endpoint_init(&u->ep, PQsocket(u->conn), ssl);
	u->cancel = PQgetCancel(u->conn);
	u->backend_pid = PQbackendPID(u->conn);
	return 0;
}

void
upstream_close(struct upstream *u)
{
	if (u->cancel != NULL)
		PQfreeCancel(u->cancel);
	if (u->conn != NULL)
		PQfinish(u->conn);
	u->cancel = NULL;
	u->conn = NULL;
	u->ep.fd = -1;
	u->ep.ssl = NULL;
}

int
upstream_cancel(struct upstream *u)
{
	char errbuf[256];
	if (u->cancel == NULL)
		return -1;
	return PQcancel(u->cancel, errbuf, sizeof errbuf) ? 0 : -1;
}
