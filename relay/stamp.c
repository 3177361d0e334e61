#include "stamp.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int
stamp_reserved_name(const char *name)
{
	return strncasecmp(name, "pgward.", 7) == 0;
}

static int
valid_name(const char *name)
{
	if (*name == '\0')
		return 0;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.')
			return 0;
	return 1;
}

/* Appends "-c name=value " with spaces and backslashes escaped as the
 * server's options parser expects. */
static void
append_setting(struct pgbuf *b, const char *name, size_t namelen, const char *value)
{
	pgbuf_put(b, "-c ", 3);
	pgbuf_put(b, name, namelen);
	pgbuf_put_u8(b, '=');
	for (const char *p = value; *p; p++) {
		if (*p == ' ' || *p == '\\' || *p == '\t' || *p == '\n' || *p == '\r')
			pgbuf_put_u8(b, '\\');
		pgbuf_put_u8(b, (uint8_t)*p);
	}
	pgbuf_put_u8(b, ' ');
}

/* Takes the next whitespace-separated token of an options string,
 * honouring backslash escapes. Returns NULL at the end. */
static char *
next_token(const char **sp)
{
	const char *s = *sp;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (*s == '\0') {
		*sp = s;
		return NULL;
	}
	char *tok = malloc(strlen(s) + 1);
	if (tok == NULL)
		return NULL;
	size_t n = 0;
	while (*s && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') {
		if (*s == '\\' && s[1] != '\0')
			s++;
		tok[n++] = *s++;
	}
	tok[n] = '\0';
	*sp = s;
	return tok;
}

/* A "name=value" setting from the client: appended if allowed. */
static const char *
add_client_setting(struct pgbuf *b, const char *setting)
{
	const char *eq = strchr(setting, '=');
	if (eq == NULL || eq == setting)
		return "invalid setting in options: expected name=value";
	char *name = strndup(setting, (size_t)(eq - setting));
	if (name == NULL)
		return "out of memory";
	/* "--a-b=c" means a_b, as in the server. */
	for (char *p = name; *p; p++)
		if (*p == '-')
			*p = '_';
	const char *error = NULL;
	if (!valid_name(name))
		error = "invalid setting name in options";
	else if (stamp_reserved_name(name))
		error = "pgward.* settings are set by pgward and cannot be changed by clients";
	else
		append_setting(b, name, strlen(name), eq + 1);
	free(name);
	return error;
}

static const char *
parse_client_options(struct pgbuf *b, const char *options)
{
	const char *s = options;
	char *tok;
	const char *error = NULL;
	while (error == NULL && (tok = next_token(&s)) != NULL) {
		if (strcmp(tok, "-c") == 0) {
			char *val = next_token(&s);
			error = val ? add_client_setting(b, val) : "-c without a setting in options";
			free(val);
		} else if (strncmp(tok, "-c", 2) == 0) {
			error = add_client_setting(b, tok + 2);
		} else if (strncmp(tok, "--", 2) == 0) {
			error = add_client_setting(b, tok + 2);
		} else {
			error = "only -c name=value and --name=value are allowed in options";
		}
		free(tok);
	}
	return error;
}

static struct stamp_result
stamp_fail(struct stamp_result r, struct pgbuf *b, const char *sqlstate, const char *error)
{
	pgbuf_free(b);
	r.options = NULL;
	r.error = error;
	r.sqlstate = sqlstate;
	return r;
}

struct stamp_result
stamp_build(const struct pg_startup *st, const struct stamp_identity *id)
{
	struct stamp_result r;
	memset(&r, 0, sizeof r);
	struct pgbuf b;
	pgbuf_init(&b);
	for (int i = 0; i < st->nparams; i++) {
		const char *n = st->names[i];
		const char *v = st->values[i];
		if (strcmp(n, "user") == 0 || strcmp(n, "database") == 0)
			continue;
		if (strcmp(n, "application_name") == 0) {
			r.application_name = v;
			continue;
		}
		if (strcmp(n, "client_encoding") == 0) {
			r.client_encoding = v;
			continue;
		}
		if (strcmp(n, "replication") == 0) {
			if (strcasecmp(v, "false") == 0 || strcasecmp(v, "off") == 0 ||
			    strcmp(v, "0") == 0 || strcasecmp(v, "no") == 0)
				continue;
			return stamp_fail(r, &b, "0A000",
			    "replication connections are not supported through pgward");
		}
		if (strcmp(n, "options") == 0) {
			const char *e = parse_client_options(&b, v);
			if (e != NULL)
				return stamp_fail(r, &b, stamp_reserved_name(v) || strstr(e, "pgward") ?
				    "42501" : "08P01", e);
			continue;
		}
		if (strncmp(n, "_pq_.", 5) == 0)
			continue;	/* protocol options, answered by negotiation */
		if (!valid_name(n))
			return stamp_fail(r, &b, "08P01", "invalid startup parameter name");
		if (stamp_reserved_name(n))
			return stamp_fail(r, &b, "42501",
			    "pgward.* settings are set by pgward and cannot be changed by clients");
		append_setting(&b, n, strlen(n), v);
	}
	/* Last, so nothing the client sent can come after and win. */
	append_setting(&b, "pgward.user", 11, id->user);
	append_setting(&b, "pgward.principal", 16, id->principal);
	append_setting(&b, "pgward.actor", 12, id->actor);
	append_setting(&b, "pgward.session", 14, id->session);
	pgbuf_put_u8(&b, 0);
	if (b.failed)
		return stamp_fail(r, &b, "53200", "out of memory");
	r.options = (char *)b.data;
	return r;
}

void
stamp_result_free(struct stamp_result *r)
{
	free(r->options);
	r->options = NULL;
}
