#ifndef PGWARD_RELAY_CONFIG_H
#define PGWARD_RELAY_CONFIG_H

#include <stddef.h>

#include "conf.h"

#define RELAY_MAX_LISTEN 16

/* An upstream connection, named by the client's startup "database". */
struct relay_connection {
	char *name;
	char *conninfo;		/* libpq conninfo without user or password */
};

/* Which groups may assume which role on which connection. */
struct relay_grant {
	char *connection;	/* "*" for any */
	char *role;
	char **groups;		/* "*" for any authenticated user */
	int ngroups;
};

struct relay_connections {
	struct relay_connection *v;
	int n;
};

struct relay_grants {
	struct relay_grant *v;
	int n;
};

/* Each field is set by one key of relay_config_keys (relay/config.c). */
struct relay_config {
	struct conf_list listen_tcp;	/* at most RELAY_MAX_LISTEN */
	struct conf_list listen_unix;
	char *tls_cert;
	char *tls_key;
	char *tls_ciphers;
	char *auth_socket;
	char *mask_key;		/* tokenization key file, 0600 */
	char *filter_socket;	/* NULL: no statement policy, allow lines decide logins */
	char *filter_generation_file;
	int filter_timeout_ms;
	int review_poll_ms;
	char *audit_socket;	/* NULL when audit-socket is off */
	int audit_off;		/* derived: audit-socket off */
	int audit_timeout_ms;
	int audit_redact_params;
	int audit_max_sql_bytes;
	int audit_max_param_bytes;
	int auth_timeout_ms;
	char *passfile;
	struct relay_connections connections;
	struct relay_grants grants;
	int max_sessions;
	int startup_timeout_ms;
	int upstream_timeout_s;
	long max_message_size;
	int shutdown_timeout_s;
};

struct relay_config_result {
	struct relay_config *config;
	char *error;		/* NULL on success */
};

/* The key table, for tests that walk every key. */
extern const struct conf_key relay_config_keys[];

struct relay_config_result relay_config_load(const char *path);
void relay_config_free(struct relay_config *c);
void relay_config_result_free(struct relay_config_result *r);

const struct relay_connection *relay_config_connection(const struct relay_config *c,
    const char *name);
/* True if any of the groups may assume role on connection. */
int relay_config_may_assume(const struct relay_config *c, const char *connection,
    const char *role, const char *const *groups, int ngroups);

#endif
