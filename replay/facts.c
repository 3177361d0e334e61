#include "replay/facts.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"

/* The compact array of plain strings the relay writes (short escapes
 * only): joined without building a tree. 0, or -1 to leave it to jansson. */
static int
facts_groups_plain(const struct rec_span *g, char *out, size_t *len)
{
	if (g->n < 2 || g->p[0] != '[' || g->p[g->n - 1] != ']')
		return -1;
	const char *p = g->p, *e = g->p + g->n - 1;	/* e at the ']' */
	size_t o = 0;
	p++;
	while (p < e) {
		if (*p != '"')
			return -1;
		for (p++; p < e && *p != '"'; p++) {
			unsigned char c = (unsigned char)*p;
			if (c < 0x20 || c >= 0x7f)
				return -1;
			if (c != '\\') {
				out[o++] = (char)c;
				continue;
			}
			if (++p >= e)
				return -1;
			switch (*p) {
			case '"': case '\\': case '/': out[o++] = *p; break;
			case 'b': out[o++] = '\b'; break;
			case 'f': out[o++] = '\f'; break;
			case 'n': out[o++] = '\n'; break;
			case 'r': out[o++] = '\r'; break;
			case 't': out[o++] = '\t'; break;
			default: return -1;
			}
		}
		if (p >= e)
			return -1;
		p++;		/* the closing quote */
		if (p == e)
			break;
		if (*p != ',' || ++p == e)
			return -1;
		out[o++] = ',';
	}
	*len = o;
	return 0;
}

size_t
facts_groups(const struct rec_span *g, char *out)
{
	size_t o = 0;
	if (facts_groups_plain(g, out, &o) != 0) {
		o = 0;
		json_t *a = json_loadb(g->p, g->n, JSON_DECODE_ANY, NULL);
		size_t i;
		json_t *v;
		json_array_foreach(a, i, v) {
			if (i > 0)
				out[o++] = ',';
			const char *s = json_string_value(v);
			if (s != NULL) {
				size_t n = strlen(s);
				memcpy(out + o, s, n);
				o += n;
			}
		}
		json_decref(a);
	}
	out[o] = '\0';
	return o;
}

/* Decodes a string member into the arena. cstr: the value ends at a NUL. */
static void
facts_str_decode(struct siem_facts *f, struct facts_str *s, int cstr)
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
	s->n = cstr ? facts_cstrlen(out, n) : n;
}

/* The SQL as rec_sql reads it. */
static void
facts_sql(struct siem_facts *f)
{
	const struct rec_span *v = f->sql.raw;
	if (v == NULL || v->n == 0)
		return;
	if (v->p[0] == '"') {
		facts_str_decode(f, &f->sql, 0);
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
	struct facts_str *cstr[] = { &f->user, &f->session, &f->decision, &f->rule,
	    &f->role, &f->connection, &f->status, &f->sqlstate, &f->message,
	    &f->reason, &f->sub, &f->client };
	for (size_t i = 0; i < sizeof cstr / sizeof cstr[0]; i++)
		if (cstr[i]->raw != NULL)
			facts_str_decode(f, cstr[i], 1);
	facts_sql(f);
	if (f->groups_raw != NULL) {
		char *out = f->arena + f->used;
		f->groups_n = facts_groups(f->groups_raw, out);
		f->groups = out;
		f->used += f->groups_n + 1;
	}
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

void
facts_split_client(const char *client, const char **ip, size_t *iplen, long *port)
{
	*port = -1;
	*ip = "";
	*iplen = 0;
	if (client == NULL)
		return;
	const char *colon = strrchr(client, ':');
	const char *h = client;
	size_t hl = colon ? (size_t)(colon - client) : strlen(client);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	/* The formats kept it in a buffer of 128. */
	*ip = h;
	*iplen = hl < 127 ? hl : 127;
	if (colon != NULL)
		*port = strtol(colon + 1, NULL, 10);
}
