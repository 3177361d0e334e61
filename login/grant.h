#ifndef PGWARD_LOGIN_GRANT_H
#define PGWARD_LOGIN_GRANT_H

/* OAuth 2.0 grants against one issuer: discovery, the device authorization
 * grant (RFC 8628), refresh, client credentials, token exchange (RFC 8693).
 * Each call returns a result by value whose error is NULL on success, freed
 * with its one free function. Nothing here prints a token or a secret. */

#include <time.h>

struct grant_client {
	const char *issuer;
	const char *client_id;
	const char *secret;	/* NULL for a public client */
	const char *resource;	/* RFC 8707 resource, or NULL */
	const char *scope;	/* NULL: the grant's default */
};

struct grant_endpoints {
	char *token;
	char *device;		/* NULL when the issuer has no device flow */
	char *error;
};

struct grant_token {
	char *access_token;
	char *refresh_token;	/* NULL when none was issued */
	time_t expires_at;	/* 0 when the issuer did not say */
	char *error;
	/* the OAuth error code ("invalid_grant") when the issuer refused, else
	 * NULL: the error was a transport or protocol failure */
	char *refused;
};

/* https://, or http:// to 127.0.0.1 or localhost only (for tests). */
int grant_issuer_allowed(const char *issuer);
struct grant_endpoints grant_discover(const char *issuer);
void grant_endpoints_free(struct grant_endpoints *e);

/* Prints "visit URI and enter CODE" on stderr and polls until the person
 * approves, refuses, or the code expires. */
struct grant_token grant_device(const struct grant_client *c, const struct grant_endpoints *e);
struct grant_token grant_refresh(const struct grant_client *c, const struct grant_endpoints *e,
    const char *refresh_token);
struct grant_token grant_client_credentials(const struct grant_client *c,
    const struct grant_endpoints *e);
struct grant_token grant_exchange(const struct grant_client *c, const struct grant_endpoints *e,
    const char *subject_token);
void grant_token_free(struct grant_token *t);

#endif
