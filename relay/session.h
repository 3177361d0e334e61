#ifndef PGWARD_RELAY_SESSION_H
#define PGWARD_RELAY_SESSION_H

/* One client session, run in its own process: startup, login, proxy. */

#include <jansson.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

#include "audit.h"
#include "config.h"
#include "masking.h"
#include "mask/profile.h"
#include "policy.h"
#include "endpoint.h"
#include "identity.h"
#include "upstream.h"

/* What the listener knows about a session: its cancel key. */
struct relay_cancel_key {
	uint32_t pid;
	uint32_t secret;
};

struct relay_session {
	const struct relay_config *cfg;
	SSL_CTX *tls;
	int client_fd;
	int is_unix;
	char client_addr[128];
	struct endpoint client;
	int client_tls;
	/* The session limit is reached: refuse after the startup packet,
	 * where the client can read why (not inside the TLS negotiation). */
	int over_limit;
	struct upstream up;
	struct relay_identity id;
	char session_id[33];
	struct relay_cancel_key key;
	/* Filled when the connection turned out to be a CancelRequest. */
	struct relay_cancel_key cancel_request;
	char *connection;
	char *role;
	/* The role logged in upstream: role, or for a person whose masking
	 * the database enforces, the profile's masked role (mask/profile.h). */
	char upstream_role[64];
	struct mask_profile *mask_profile;	/* NULL: the database masks nothing */
	struct audit audit;
	int audit_off;
	struct policy policy;
	int policy_on;
	/* Session end: the token's exp, or a just-in-time grant's end if earlier. */
	long long expires;
	uint64_t statements;
	json_t *mask_rules;	/* from the connect decision; NULL: nothing masked */
	uint64_t rules_generation;	/* policy generation of the connect decision */
	struct masking masking;
	int masking_on;
	/* The relay's tokenization key, loaded before the fork. */
	const uint8_t *mask_key;
	size_t mask_key_len;
};

/* Set from signal handlers in the session process. */
extern volatile sig_atomic_t session_cancel_requested;
extern volatile sig_atomic_t session_terminate_requested;

/* Runs the whole session; returns the process exit status. */
int session_run(struct relay_session *s);

/* Sends an ErrorResponse to the client (best effort, bounded time). */
void session_send_error(struct relay_session *s, const char *severity,
    const char *sqlstate, const char *message, const char *hint);


/* The masking profile the database enforces for these rules (mask mode
 * database with column rules), or *out NULL. Returns 0, or -1 with err. */
int session_database_profile(json_t *rules, struct mask_profile **out, char *err,
    size_t errlen);

/* The proxy loop after login (proxy.c). Returns a one-line reason. */
const char *proxy_run(struct relay_session *s);

#endif
