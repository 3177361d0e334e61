#include "replay/facts.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "replay/who.h"

int
facts_group_next(const struct rec_span *g, size_t *pos, char *out, size_t *n)
{
	struct rec_span el;
	while (rec_array_next(g, pos, &el))
		if (el.p[0] == '"' && rec_unescape_into(&el, out, n) == 0)
			return 1;
	return 0;
}

/* Appends name to a joined list at out + *o: ',' before all but the
 * first, each ',' and backslash inside it preceded by a backslash. */
static void
facts_join(char *out, size_t *o, const char *name, size_t n, int *first)
{
	if (!*first)
		out[(*o)++] = ',';
	*first = 0;
	for (size_t i = 0; i < n; i++) {
		if (name[i] == ',' || name[i] == '\\')
			out[(*o)++] = '\\';
		out[(*o)++] = name[i];
	}
}

size_t
facts_groups(const struct rec_span *g, char *out)
{
	/* Each name is decoded past the room of the joined text (at most
	 * twice the array's length), then copied down escaped. */
	char *tmp = out + 2 * g->n + 1;
	size_t o = 0, pos = 0, n;
	int first = 1;
	while (facts_group_next(g, &pos, tmp, &n))
		facts_join(out, &o, tmp, n, &first);
	out[o] = '\0';
	return o;
}

size_t
facts_actors(const struct rec_span *a, char *out)
{
	char *tmp = out + 2 * a->n + 1;
	size_t o = 0, pos = 0, n;
	int first = 1;
	struct who_actor w;
	while (who_actor_next(a, &pos, &w))
		if (rec_unescape_into(&w.sub, tmp, &n) == 0)
			facts_join(out, &o, tmp, n, &first);
	out[o] = '\0';
	return o;
}

/* Decodes a string member into the arena. */
static void
facts_str_decode(struct siem_facts *f, struct facts_str *s)
{
	const struct rec_span *v = s->raw;
	s->p = NULL;
	if (v == NULL || v->n < 2 || v->p[0] != '"' || v->p[v->n - 1] != '"')
		return;
	char *out = f->arena + f->used;
	size_t n = v->n - 2;
	if (memchr(v->p + 1, '\\', n) != NULL) {
		if (rec_unescape_into(v, out, &n) != 0)
			return;
	} else {
		memcpy(out, v->p + 1, n);
		out[n] = '\0';
	}
	f->used += n + 1;
	s->p = out;
	s->n = n;
}

/* The SQL as rec_sql reads it. */
static void
facts_sql(struct siem_facts *f)
{
	const struct rec_span *v = f->sql.raw;
	if (v == NULL || v->n == 0)
		return;
	if (v->p[0] == '"') {
		facts_str_decode(f, &f->sql);
		return;
	}
	static const char pre[] = "{\"base64\":\"";
	if (v->n < sizeof pre || memcmp(v->p, pre, sizeof pre - 1) != 0)
		return;
	const char *b = v->p + sizeof pre - 1;
	const char *q = memchr(b, '"', v->n - (sizeof pre - 1));
	if (q == NULL)
		return;
	size_t bn = (size_t)(q - b);
	char *out = f->arena + f->used;
	long n = b64_decode(b, bn, (uint8_t *)out, bn);
	if (n < 0)
		return;
	out[n] = '\0';
	f->used += (size_t)n + 1;
	f->sql.p = out;
	f->sql.n = (size_t)n;
	f->sql_b64 = (struct rec_span){ b, bn };
	f->sql_binary = 1;
}

#define FACTS_KEY(k, name) ((k)->n == sizeof(name) - 1 && memcmp((k)->p, name, sizeof(name) - 1) == 0)

/* The first member of each name counts (as rec_get). */
static void
facts_member(struct siem_facts *f, const struct rec_member *m)
{
	const struct rec_span *k = &m->key, *v = &m->val;
	const struct rec_span **slot = NULL;
	switch (k->n) {
	case 3:
		if (FACTS_KEY(k, "sql"))
			slot = &f->sql.raw;
		else if (FACTS_KEY(k, "sub"))
			slot = &f->sub.raw;
		break;
	case 4:
		if (FACTS_KEY(k, "type"))
			slot = &f->type_raw;
		else if (FACTS_KEY(k, "user"))
			slot = &f->user.raw;
		else if (FACTS_KEY(k, "rule"))
			slot = &f->rule.raw;
		else if (FACTS_KEY(k, "role"))
			slot = &f->role.raw;
		else if (FACTS_KEY(k, "rows") && !f->has_rows)
			f->has_rows = rec_span_int(v, &f->rows) == 0 ? 1 : -1;
		break;
	case 5:
		if (FACTS_KEY(k, "actor"))
			slot = &f->actor;
		break;
	case 6:
		if (FACTS_KEY(k, "status"))
			slot = &f->status.raw;
		else if (FACTS_KEY(k, "groups"))
			slot = &f->groups_raw;
		else if (FACTS_KEY(k, "client"))
			slot = &f->client.raw;
		else if (FACTS_KEY(k, "reason"))
			slot = &f->reason.raw;
		else if (FACTS_KEY(k, "intent") && !f->has_intent)
			f->has_intent = rec_span_int(v, &f->intent) == 0 ? 1 : -1;
		else if (FACTS_KEY(k, "params"))
			slot = &f->params;
		break;
	case 7:
		if (FACTS_KEY(k, "session"))
			slot = &f->session.raw;
		else if (FACTS_KEY(k, "message"))
			slot = &f->message.raw;
		break;
	case 8:
		if (FACTS_KEY(k, "decision"))
			slot = &f->decision.raw;
		else if (FACTS_KEY(k, "sqlstate"))
			slot = &f->sqlstate.raw;
		break;
	case 9:
		if (FACTS_KEY(k, "principal"))
			slot = &f->principal.raw;
		else if (FACTS_KEY(k, "client_id"))
			slot = &f->client_id.raw;
		break;
	case 10:
		if (FACTS_KEY(k, "connection"))
			slot = &f->connection.raw;
		break;
	case 11:
		if (FACTS_KEY(k, "duration_ms"))
			slot = &f->duration;
		break;
	}
	if (slot != NULL && *slot == NULL)
		*slot = v;
}

int
siem_facts(struct siem_facts *f, const char *line, size_t len, char *arena)
{
	memset(f, 0, offsetof(struct siem_facts, r));
	f->arena = arena;
	if (rec_split(&f->r, line, len) != 0)
		return -1;
	for (size_t i = 0; i < f->r.n; i++)
		facts_member(f, &f->r.m[i]);
	if (f->type_raw != NULL && f->type_raw->n >= 2)
		f->type = (struct rec_span){ f->type_raw->p + 1, f->type_raw->n - 2 };
	f->type_text.raw = f->type_raw;
	struct facts_str *str[] = { &f->type_text, &f->user, &f->session, &f->decision,
	    &f->rule, &f->role, &f->connection, &f->status, &f->sqlstate, &f->message,
	    &f->reason, &f->sub, &f->client, &f->principal, &f->client_id };
	for (size_t i = 0; i < sizeof str / sizeof str[0]; i++)
		if (str[i]->raw != NULL)
			facts_str_decode(f, str[i]);
	facts_sql(f);
	f->has_rows = f->has_rows > 0;
	f->has_intent = f->has_intent > 0;
	return 0;
}

size_t
facts_cstrlen(const char *p, size_t n)
{
	const char *z = n > 0 ? memchr(p, '\0', n) : NULL;
	return z != NULL ? (size_t)(z - p) : n;
}

int
facts_eq(const struct facts_str *s, const char *lit)
{
	size_t n = strlen(lit);
	return s->p != NULL && s->n == n && memcmp(s->p, lit, n) == 0;
}

int
facts_is(const struct siem_facts *f, const char *t)
{
	size_t n = strlen(t);
	return f->type.p != NULL && f->type.n == n && memcmp(f->type.p, t, n) == 0;
}

int
facts_severity(const struct siem_facts *f)
{
	if (facts_eq(&f->decision, "deny"))
		return 7;
	if (facts_eq(&f->decision, "review") || facts_eq(&f->status, "error"))
		return 5;
	return 3;
}

/* 1 if h[0..n) is an IPv4 or IPv6 address. */
static int
facts_is_ip(const char *h, size_t n)
{
	char buf[INET6_ADDRSTRLEN];
	unsigned char a[sizeof(struct in6_addr)];
	if (n == 0 || n >= sizeof buf)
		return 0;
	memcpy(buf, h, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, a) == 1 || inet_pton(AF_INET6, buf, a) == 1;
}

int
facts_split_client(const char *c, size_t n, const char **ip, size_t *iplen, long *port)
{
	*ip = "";
	*iplen = 0;
	*port = -1;
	if (c == NULL || n == 0)
		return 0;
	const char *h = c, *e = c + n, *pe = NULL;
	size_t hl;
	const char *colon = memrchr(c, ':', n);
	if (c[0] == '[') {
		const char *rb = memchr(c, ']', n);
		if (rb == NULL || (rb + 1 < e && rb[1] != ':') || rb + 2 == e)
			return 0;
		h = c + 1;
		hl = (size_t)(rb - h);
		pe = rb + 1 < e ? rb + 2 : NULL;
	} else if (colon != NULL && memchr(c, ':', (size_t)(colon - c)) == NULL) {
		hl = (size_t)(colon - c);	/* one colon: "ip:port" */
		pe = colon + 1;
	} else {
		hl = n;		/* none, or an IPv6 address without a port */
	}
	if (!facts_is_ip(h, hl))
		return 0;
	long pv = -1;
	if (pe != NULL) {
		if (pe == e || e - pe > 5)
			return 0;
		pv = 0;
		for (const char *q = pe; q < e; q++) {
			if (*q < '0' || *q > '9')
				return 0;
			pv = pv * 10 + (*q - '0');
		}
		if (pv > 65535)
			return 0;
	}
	*ip = h;
	*iplen = hl;
	*port = pv;
	return 1;
}
