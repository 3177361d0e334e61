#include "replay/who.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

static int who_chained(const struct rec_span *a);
static int who_glob(const char *glob, const struct rec_span *v);
static void who_put(char *out, size_t *o, const char *s, size_t n);
static void who_put_str(char *out, size_t *o, const struct rec_span *v, char *tmp);

int
who_actor_next(const struct rec_span *a, size_t *pos, struct who_actor *w)
{
	struct rec_span el;
	while (rec_array_next(a, pos, &el)) {
		if (!rec_object_get(&el, "sub", &w->sub) || w->sub.p[0] != '"')
			continue;
		if (!rec_object_get(&el, "client_id", &w->client_id) ||
		    w->client_id.p[0] != '"')
			w->client_id = (struct rec_span){ NULL, 0 };
		return 1;
	}
	return 0;
}

/* 1 if the actor array names an actor. */
static int
who_chained(const struct rec_span *a)
{
	size_t pos = 0;
	struct who_actor w;
	return a != NULL && who_actor_next(a, &pos, &w);
}

int
who_is_agent(const struct rec *r)
{
	return rec_eq(r, "principal", "agent");
}

int
who_match_principal(const struct rec *r, const char *kind)
{
	return strcmp(kind, "agent") == 0 ? who_is_agent(r) : !who_is_agent(r);
}

/* A decoded string value matched as a whole by glob. */
static int
who_glob(const char *glob, const struct rec_span *v)
{
	char small[256];
	if (v->n == 0 || v->p[0] != '"')
		return 0;
	char *s = v->n <= sizeof small ? small : malloc(v->n);
	size_t n;
	int ok = s != NULL && rec_unescape_into(v, s, &n) == 0 &&
	    memchr(s, '\0', n) == NULL && fnmatch(glob, s, 0) == 0;
	if (s != small)
		free(s);
	return ok;
}

int
who_match_actor(const struct rec *r, const char *glob)
{
	const struct rec_span *c = rec_get(r, "client_id");
	if (c != NULL && who_glob(glob, c))
		return 1;
	const struct rec_span *a = rec_get(r, "actor");
	if (a == NULL)
		return 0;
	size_t pos = 0;
	struct who_actor w;
	while (who_actor_next(a, &pos, &w))
		if (who_glob(glob, &w.sub) || who_glob(glob, &w.client_id))
			return 1;
	return 0;
}

int
who_named(const struct rec *r)
{
	return who_is_agent(r) || rec_get(r, "client_id") != NULL ||
	    who_chained(rec_get(r, "actor"));
}

static void
who_put(char *out, size_t *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		out[(*o)++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
}

/* A string value decoded (tmp: room for it) and put; "?" when it is not
 * one. */
static void
who_put_str(char *out, size_t *o, const struct rec_span *v, char *tmp)
{
	size_t n;
	if (v == NULL || rec_unescape_into(v, tmp, &n) != 0)
		who_put(out, o, "?", 1);
	else
		who_put(out, o, tmp, n);
}

#define WHO_LIT(out, o, s) who_put((out), (o), "" s, sizeof(s) - 1)

char *
who_text(const struct rec *r)
{
	const struct rec_span *user = rec_get(r, "user"), *client = rec_get(r, "client_id");
	const struct rec_span *a = rec_get(r, "actor");
	if (client != NULL && client->p[0] != '"')
		client = NULL;
	/* Each piece decodes to no more than its raw bytes; the words
	 * around them take at most 24 bytes an actor. */
	size_t room = 64 + (user ? user->n : 0) + (client ? client->n : 0) +
	    (a ? 4 * a->n : 0);
	char *out = malloc(room), *tmp = malloc(room);
	if (out == NULL || tmp == NULL) {
		free(out);
		free(tmp);
		return NULL;
	}
	size_t o = 0, pos = 0;
	int agent = who_is_agent(r);
	who_put_str(out, &o, user, tmp);
	if (agent && !who_chained(a) && client != NULL) {
		WHO_LIT(out, &o, " (agent, client ");
		who_put_str(out, &o, client, tmp);
		WHO_LIT(out, &o, ")");
		client = NULL;
	} else if (agent) {
		WHO_LIT(out, &o, " (agent)");
	}
	struct who_actor w;
	while (a != NULL && who_actor_next(a, &pos, &w)) {
		WHO_LIT(out, &o, " via ");
		who_put_str(out, &o, &w.sub, tmp);
		if (w.client_id.n > 0 && (client == NULL || client->n != w.client_id.n ||
		    memcmp(client->p, w.client_id.p, client->n) != 0)) {
			WHO_LIT(out, &o, " (client ");
			who_put_str(out, &o, &w.client_id, tmp);
			WHO_LIT(out, &o, ")");
		}
	}
	if (client != NULL) {
		WHO_LIT(out, &o, " (client ");
		who_put_str(out, &o, client, tmp);
		WHO_LIT(out, &o, ")");
	}
	out[o] = '\0';
	free(tmp);
	return out;
}
