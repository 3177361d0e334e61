#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

static int set_connection(const struct conf_key *k, void *field,
    const char *value, char *err, size_t errlen);
static void free_connections(void *field);
static int set_grant(const struct conf_key *k, void *field, const char *value,
    char *err, size_t errlen);
static void free_grants(void *field);
static int split_list(const char *value, char ***out, int *n, char *err,
    size_t errlen);
static char *next_word(const char *value, const char **rest);
static const struct relay_connection *find_connection(
    const struct relay_connections *cs, const char *name);
static char *config_validate(const struct relay_config *c, conf_seen seen);

static const struct conf_type connection_list = { set_connection, free_connections };
static const struct conf_type grant_list = { set_grant, free_grants };

static const struct conf_choice audit_parameters[] = {
	{ "raw", 0 }, { "redacted", 1 }, { NULL, 0 }
};

/* A key written again replaces its value (lists add to it). */
#define S struct relay_config
const struct conf_key relay_config_keys[] = {
	CONF_LIST("listen", S, listen_tcp, .max = RELAY_MAX_LISTEN),
	CONF_LIST("listen-unix", S, listen_unix, .max = RELAY_MAX_LISTEN),
	CONF_STRING("tls-cert", S, tls_cert),
	CONF_STRING("tls-key", S, tls_key),
	CONF_STRING("tls-ciphers", S, tls_ciphers),
	CONF_STRING("auth-socket", S, auth_socket, .flags = CONF_REQUIRED),
	CONF_INT("auth-timeout-ms", S, auth_timeout_ms, .def = "2000",
	    .min = 10, .max = 600000),
	CONF_STRING("mask-key", S, mask_key),
	CONF_STRING("filter-socket", S, filter_socket),
	CONF_STRING("filter-generation-file", S, filter_generation_file),
	CONF_INT("filter-timeout-ms", S, filter_timeout_ms, .def = "2000",
	    .min = 10, .max = 600000),
	CONF_INT("review-poll-ms", S, review_poll_ms, .def = "250",
	    .min = 10, .max = 10000),
	CONF_STRING_OFF("audit-socket", S, audit_socket),
	CONF_INT("audit-timeout-ms", S, audit_timeout_ms, .def = "2000",
	    .min = 10, .max = 600000),
	CONF_INT("audit-max-sql-bytes", S, audit_max_sql_bytes, .def = "262144",
	    .min = 64, .max = 512 * 1024),
	CONF_INT("audit-max-param-bytes", S, audit_max_param_bytes, .def = "4096",
	    .min = 0, .max = 256 * 1024),
	CONF_CHOICE("audit-parameters", S, audit_redact_params, .def = "raw",
	    .arg = audit_parameters),
	CONF_STRING("passfile", S, passfile),
	CONF_ROW("connection", connection_list, S, connections, struct relay_connections,
	    .flags = CONF_REQUIRED),
	CONF_ROW("allow", grant_list, S, grants, struct relay_grants),
	CONF_INT("max-sessions", S, max_sessions, .def = "100",
	    .min = 1, .max = 100000),
	CONF_INT("startup-timeout-ms", S, startup_timeout_ms, .def = "10000",
	    .min = 100, .max = 600000),
	CONF_INT("upstream-timeout-s", S, upstream_timeout_s, .def = "10",
	    .min = 1, .max = 600),
	CONF_LONG("max-message-size", S, max_message_size,
	    .def = "268435456" /* 256 MiB */, .min = 1024, .max = 0x3fffffff),
	CONF_INT("shutdown-timeout-s", S, shutdown_timeout_s, .def = "30",
	    .min = 0, .max = 86400),
	{ .name = NULL }
};
#undef S

struct relay_config_result
relay_config_load(const char *path)
{
	struct relay_config_result r = { NULL, NULL };
	struct relay_config *c = calloc(1, sizeof *c);
	if (c == NULL) {
		r.error = strdup("out of memory");
		return r;
	}
	char err[1024];
	conf_seen seen;
	if (conf_load(path, relay_config_keys, c, &seen, err, sizeof err) != 0) {
		relay_config_free(c);
		r.error = strdup(err);
		return r;
	}
	char *verr = config_validate(c, seen);
	if (verr != NULL) {
		snprintf(err, sizeof err, "%s: %s", path, verr);
		free(verr);
		relay_config_free(c);
		r.error = strdup(err);
		return r;
	}
	c->audit_off = c->audit_socket == NULL;
	r.config = c;
	return r;
}

void
relay_config_free(struct relay_config *c)
{
	if (c == NULL)
		return;
	conf_free(relay_config_keys, c);
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

static char *
config_validate(const struct relay_config *c, conf_seen seen)
{
	char buf[512];
	if (c->listen_tcp.n == 0 && c->listen_unix.n == 0)
		return strdup("no listen or listen-unix line");
	if ((c->tls_cert == NULL) != (c->tls_key == NULL))
		return strdup("tls-cert and tls-key go together");
	if (!conf_is_set(relay_config_keys, seen, "audit-socket"))
		return strdup("no audit-socket line (pgward-logd's socket; \"audit-socket off\" "
		    "runs without an audit trail)");
	for (int i = 0; i < c->grants.n; i++) {
		const char *cn = c->grants.v[i].connection;
		if (strcmp(cn, "*") != 0 && relay_config_connection(c, cn) == NULL) {
			snprintf(buf, sizeof buf, "allow names unknown connection \"%s\"", cn);
			return strdup(buf);
		}
	}
	return NULL;
}

static int
set_connection(const struct conf_key *k, void *field, const char *value,
    char *err, size_t errlen)
{
	(void)k;
	struct relay_connections *cs = field;
	const char *rest;
	char *name = next_word(value, &rest);
	if (name == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (*rest == '\0') {
		free(name);
		snprintf(err, errlen, "expected NAME CONNINFO");
		return -1;
	}
	if (find_connection(cs, name) != NULL) {
		snprintf(err, errlen, "\"%s\" defined twice", name);
		free(name);
		return -1;
	}
	if (strstr(rest, "password") != NULL || strstr(rest, "user=") != NULL) {
		snprintf(err, errlen, "\"%s\": the conninfo must not hold a user "
		    "or password (roles come from the client, passwords from the passfile)", name);
		free(name);
		return -1;
	}
	char *conninfo = strdup(rest);
	struct relay_connection *nv = conninfo == NULL ? NULL :
	    realloc(cs->v, (size_t)(cs->n + 1) * sizeof *nv);
	if (nv == NULL) {
		free(name);
		free(conninfo);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cs->v = nv;
	nv[cs->n++] = (struct relay_connection){ name, conninfo };
	return 0;
}

static void
free_connections(void *field)
{
	struct relay_connections *cs = field;
	for (int i = 0; i < cs->n; i++) {
		free(cs->v[i].name);
		free(cs->v[i].conninfo);
	}
	free(cs->v);
	cs->v = NULL;
	cs->n = 0;
}

static int
set_grant(const struct conf_key *k, void *field, const char *value, char *err,
    size_t errlen)
{
	(void)k;
	struct relay_grants *gs = field;
	const char *rest, *rest2;
	char *conn = next_word(value, &rest);
	char *role = conn == NULL ? NULL : next_word(rest, &rest2);
	if (role == NULL) {
		free(conn);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (*role == '\0' || *rest2 == '\0') {
		free(conn);
		free(role);
		snprintf(err, errlen, "expected CONNECTION ROLE GROUP[,GROUP...]");
		return -1;
	}
	struct relay_grant *nv = realloc(gs->v, (size_t)(gs->n + 1) * sizeof *nv);
	if (nv == NULL) {
		free(conn);
		free(role);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	gs->v = nv;
	struct relay_grant *g = &nv[gs->n++];
	*g = (struct relay_grant){ .connection = conn, .role = role };
	return split_list(rest2, &g->groups, &g->ngroups, err, errlen);
}

static void
free_grants(void *field)
{
	struct relay_grants *gs = field;
	for (int i = 0; i < gs->n; i++) {
		free(gs->v[i].connection);
		free(gs->v[i].role);
		for (int j = 0; j < gs->v[i].ngroups; j++)
			free(gs->v[i].groups[j]);
		free(gs->v[i].groups);
	}
	free(gs->v);
	gs->v = NULL;
	gs->n = 0;
}

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

static const struct relay_connection *
find_connection(const struct relay_connections *cs, const char *name)
{
	for (int i = 0; i < cs->n; i++)
		if (strcmp(cs->v[i].name, name) == 0)
			return &cs->v[i];
	return NULL;
}

const struct relay_connection *
relay_config_connection(const struct relay_config *c, const char *name)
{
	return find_connection(&c->connections, name);
}

int
relay_config_may_assume(const struct relay_config *c, const char *connection,
    const char *role, const char *const *groups, int ngroups)
{
	for (int i = 0; i < c->grants.n; i++) {
		const struct relay_grant *g = &c->grants.v[i];
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
