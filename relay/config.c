#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

static int
split_list(const char *value, char ***out, int *n, char *err, size_t errlen)
{
	char *copy = strdup(value);
	if (copy == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	char *save = NULL;
	for (char *tok = strtok_r(copy, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		char **nv = realloc(*out, (size_t)(*n + 1) * sizeof **out);
		if (nv == NULL || (nv[*n] = strdup(tok)) == NULL) {
			if (nv != NULL)
				*out = nv;
			free(copy);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		*out = nv;
		(*n)++;
	}
	free(copy);
	if (*n == 0) {
		snprintf(err, errlen, "empty list");
		return -1;
	}
	return 0;
}

/* Splits "word rest": returns the word (copied) and points rest past it. */
static char *
next_word(const char *value, const char **rest)
{
	size_t n = strcspn(value, " \t");
	char *w = strndup(value, n);
	value += n;
	while (*value == ' ' || *value == '\t')
		value++;
	*rest = value;
	return w;
}

static int
add_connection(struct relay_config *c, const char *value, char *err, size_t errlen)
{
	const char *rest;
	char *name = next_word(value, &rest);
	if (name == NULL || *name == '\0' || *rest == '\0') {
		free(name);
		snprintf(err, errlen, "usage: connection NAME CONNINFO");
		return -1;
	}
	if (relay_config_connection(c, name) != NULL) {
		snprintf(err, errlen, "connection \"%s\" defined twice", name);
		free(name);
		return -1;
	}
	if (strstr(rest, "password") != NULL || strstr(rest, "user=") != NULL) {
		snprintf(err, errlen, "connection \"%s\": the conninfo must not hold a user "
		    "or password (roles come from the client, passwords from the passfile)", name);
		free(name);
		return -1;
	}
	struct relay_connection *nv = realloc(c->connections,
	    (size_t)(c->nconnections + 1) * sizeof *nv);
	if (nv == NULL) {
		free(name);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->connections = nv;
	nv[c->nconnections].name = name;
	nv[c->nconnections].conninfo = strdup(rest);
	c->nconnections++;
	return 0;
}

static int
add_grant(struct relay_config *c, const char *value, char *err, size_t errlen)
{
	const char *rest, *rest2;
	char *conn = next_word(value, &rest);
	char *role = next_word(rest, &rest2);
	if (*conn == '\0' || *role == '\0' || *rest2 == '\0') {
		free(conn);
		free(role);
		snprintf(err, errlen, "usage: allow CONNECTION ROLE GROUP[,GROUP...]");
		return -1;
	}
	struct relay_grant *nv = realloc(c->grants, (size_t)(c->ngrants + 1) * sizeof *nv);
	if (nv == NULL) {
		free(conn);
		free(role);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->grants = nv;
	struct relay_grant *g = &nv[c->ngrants];
	memset(g, 0, sizeof *g);
	g->connection = conn;
	g->role = role;
	c->ngrants++;
	return split_list(rest2, &g->groups, &g->ngroups, err, errlen);
}

static int
set_int(int *slot, const char *value, long min, long max, char *err, size_t errlen)
{
	long v;
	if (conf_parse_long(value, min, max, &v, err, errlen) != 0)
		return -1;
	*slot = (int)v;
	return 0;
}

static int
config_line(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
	struct relay_config *c = ctx;
	if (strcmp(key, "listen") == 0 || strcmp(key, "listen-unix") == 0) {
		int is_tcp = key[6] == '\0';
		char **slots = is_tcp ? c->listen_tcp : c->listen_unix;
		int *n = is_tcp ? &c->nlisten_tcp : &c->nlisten_unix;
		if (*n == RELAY_MAX_LISTEN) {
			snprintf(err, errlen, "too many %s lines", key);
			return -1;
		}
		slots[*n] = NULL;
		if (conf_set_string(&slots[*n], value, err, errlen) != 0)
			return -1;
		(*n)++;
		return 0;
	}
	if (strcmp(key, "tls-cert") == 0)
		return conf_set_string(&c->tls_cert, value, err, errlen);
	if (strcmp(key, "tls-key") == 0)
		return conf_set_string(&c->tls_key, value, err, errlen);
	if (strcmp(key, "tls-ciphers") == 0)
		return conf_set_string(&c->tls_ciphers, value, err, errlen);
	if (strcmp(key, "auth-socket") == 0)
		return conf_set_string(&c->auth_socket, value, err, errlen);
	if (strcmp(key, "auth-timeout-ms") == 0)
		return set_int(&c->auth_timeout_ms, value, 10, 600000, err, errlen);
	if (strcmp(key, "mask-key") == 0)
		return conf_set_string(&c->mask_key, value, err, errlen);
	if (strcmp(key, "filter-socket") == 0)
		return conf_set_string(&c->filter_socket, value, err, errlen);
	if (strcmp(key, "filter-generation-file") == 0)
		return conf_set_string(&c->filter_generation_file, value, err, errlen);
	if (strcmp(key, "filter-timeout-ms") == 0)
		return set_int(&c->filter_timeout_ms, value, 10, 600000, err, errlen);
	if (strcmp(key, "review-poll-ms") == 0)
		return set_int(&c->review_poll_ms, value, 10, 10000, err, errlen);
	if (strcmp(key, "audit-socket") == 0) {
		c->audit_off = strcmp(value, "off") == 0;
		if (c->audit_off) {
			free(c->audit_socket);
	free(c->filter_socket);
	free(c->mask_key);
	free(c->filter_generation_file);
			c->audit_socket = NULL;
			return 0;
		}
		return conf_set_string(&c->audit_socket, value, err, errlen);
	}
	if (strcmp(key, "audit-timeout-ms") == 0)
		return set_int(&c->audit_timeout_ms, value, 10, 600000, err, errlen);
	if (strcmp(key, "audit-max-sql-bytes") == 0)
		return set_int(&c->audit_max_sql_bytes, value, 64, 512 * 1024, err, errlen);
	if (strcmp(key, "audit-max-param-bytes") == 0)
		return set_int(&c->audit_max_param_bytes, value, 0, 256 * 1024, err, errlen);
	if (strcmp(key, "audit-parameters") == 0) {
		if (strcmp(value, "raw") == 0 || strcmp(value, "redacted") == 0) {
			c->audit_redact_params = value[0] == 'r' && value[1] == 'e';
			return 0;
		}
		snprintf(err, errlen, "audit-parameters is raw or redacted, not \"%s\"", value);
		return -1;
	}
	if (strcmp(key, "passfile") == 0)
		return conf_set_string(&c->passfile, value, err, errlen);
	if (strcmp(key, "connection") == 0)
		return add_connection(c, value, err, errlen);
	if (strcmp(key, "allow") == 0)
		return add_grant(c, value, err, errlen);
	if (strcmp(key, "max-sessions") == 0)
		return set_int(&c->max_sessions, value, 1, 100000, err, errlen);
	if (strcmp(key, "startup-timeout-ms") == 0)
		return set_int(&c->startup_timeout_ms, value, 100, 600000, err, errlen);
	if (strcmp(key, "upstream-timeout-s") == 0)
		return set_int(&c->upstream_timeout_s, value, 1, 600, err, errlen);
	if (strcmp(key, "shutdown-timeout-s") == 0)
		return set_int(&c->shutdown_timeout_s, value, 0, 86400, err, errlen);
	if (strcmp(key, "max-message-size") == 0) {
		if (conf_parse_long(value, 1024, 0x3fffffff, &c->max_message_size, err, errlen) != 0)
			return -1;
		return 0;
	}
	snprintf(err, errlen, "unknown key \"%s\"", key);
	return -1;
}

static char *
config_validate(const struct relay_config *c)
{
	char buf[512];
	if (c->nlisten_tcp == 0 && c->nlisten_unix == 0)
		return strdup("no listen or listen-unix line");
	if ((c->tls_cert == NULL) != (c->tls_key == NULL))
		return strdup("tls-cert and tls-key go together");
	if (c->auth_socket == NULL)
		return strdup("no auth-socket line");
	if (c->nconnections == 0)
		return strdup("no connection line");
	if (c->audit_socket == NULL && !c->audit_off)
		return strdup("no audit-socket line (pgward-logd's socket; \"audit-socket off\" "
		    "runs without an audit trail)");
	for (int i = 0; i < c->ngrants; i++) {
		const char *cn = c->grants[i].connection;
		if (strcmp(cn, "*") != 0 && relay_config_connection(c, cn) == NULL) {
			snprintf(buf, sizeof buf, "allow names unknown connection \"%s\"", cn);
			return strdup(buf);
		}
	}
	return NULL;
}

struct relay_config_result
relay_config_load(const char *path)
{
	struct relay_config_result r = { NULL, NULL };
	struct relay_config *c = calloc(1, sizeof *c);
	if (c == NULL) {
		r.error = strdup("out of memory");
		return r;
	}
	c->auth_timeout_ms = 2000;
	c->audit_timeout_ms = 2000;
	c->filter_timeout_ms = 2000;
	c->review_poll_ms = 250;
	c->audit_max_sql_bytes = 256 * 1024;
	c->audit_max_param_bytes = 4096;
	c->max_sessions = 100;
	c->startup_timeout_ms = 10000;
	c->upstream_timeout_s = 10;
	c->max_message_size = 256L * 1024 * 1024;
	c->shutdown_timeout_s = 30;
	char err[1024];
	if (conf_parse_file(path, config_line, c, err, sizeof err) != 0) {
		relay_config_free(c);
		r.error = strdup(err);
		return r;
	}
	char *verr = config_validate(c);
	if (verr != NULL) {
		snprintf(err, sizeof err, "%s: %s", path, verr);
		free(verr);
		relay_config_free(c);
		r.error = strdup(err);
		return r;
	}
	r.config = c;
	return r;
}

void
relay_config_free(struct relay_config *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < c->nlisten_tcp; i++)
		free(c->listen_tcp[i]);
	for (int i = 0; i < c->nlisten_unix; i++)
		free(c->listen_unix[i]);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->tls_ciphers);
	free(c->auth_socket);
	free(c->audit_socket);
	free(c->filter_socket);
	free(c->mask_key);
	free(c->filter_generation_file);
	free(c->passfile);
	for (int i = 0; i < c->nconnections; i++) {
		free(c->connections[i].name);
		free(c->connections[i].conninfo);
	}
	free(c->connections);
	for (int i = 0; i < c->ngrants; i++) {
		free(c->grants[i].connection);
		free(c->grants[i].role);
		for (int j = 0; j < c->grants[i].ngroups; j++)
			free(c->grants[i].groups[j]);
		free(c->grants[i].groups);
	}
	free(c->grants);
	free(c);
}

void
relay_config_result_free(struct relay_config_result *r)
{
	relay_config_free(r->config);
	free(r->error);
	r->config = NULL;
	r->error = NULL;
}

const struct relay_connection *
relay_config_connection(const struct relay_config *c, const char *name)
{
	for (int i = 0; i < c->nconnections; i++)
		if (strcmp(c->connections[i].name, name) == 0)
			return &c->connections[i];
	return NULL;
}

int
relay_config_may_assume(const struct relay_config *c, const char *connection,
    const char *role, const char *const *groups, int ngroups)
{
	for (int i = 0; i < c->ngrants; i++) {
		const struct relay_grant *g = &c->grants[i];
		if (strcmp(g->connection, "*") != 0 && strcmp(g->connection, connection) != 0)
			continue;
		if (strcmp(g->role, role) != 0)
			continue;
		for (int j = 0; j < g->ngroups; j++) {
			if (strcmp(g->groups[j], "*") == 0)
				return 1;
			for (int k = 0; k < ngroups; k++)
				if (strcmp(g->groups[j], groups[k]) == 0)
					return 1;
		}
	}
	return 0;
}
