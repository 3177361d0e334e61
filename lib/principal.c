#include "principal.h"

#include <stdio.h>
#include <string.h>

/* pgward-auth's max-actor-depth is at most 32. */
#define MAX_ACTORS 32

static int name_ok(json_t *v, int optional);
static int globs_match(const struct conf_list *l, const char *s);

const struct principal principal_person = { 0, 0, NULL, NULL, NULL };

int
principal_read(json_t *o, struct principal *p, char *err, size_t errlen)
{
	*p = principal_person;
	json_t *kind = json_object_get(o, "principal");
	json_t *actor = json_object_get(o, "actor");
	json_t *client = json_object_get(o, "client_id");
	const char *k = json_string_value(kind);
	if (kind != NULL && (k == NULL ||
	    (strcmp(k, "person") != 0 && strcmp(k, "agent") != 0))) {
		snprintf(err, errlen, "principal must be \"person\" or \"agent\"");
		return -1;
	}
	p->agent = k != NULL && strcmp(k, "agent") == 0;
	if (!name_ok(client, 1)) {
		snprintf(err, errlen, "client_id must be a non-empty string");
		return -1;
	}
	p->client_id = json_string_value(client);
	if (actor == NULL)
		return 0;
	if (!json_is_array(actor) || json_array_size(actor) > MAX_ACTORS) {
		snprintf(err, errlen, "actor must be an array of at most %d actors",
		    MAX_ACTORS);
		return -1;
	}
	size_t i;
	json_t *a;
	json_array_foreach(actor, i, a)
		if (!json_is_object(a) || !name_ok(json_object_get(a, "sub"), 0) ||
		    !name_ok(json_object_get(a, "client_id"), 1)) {
			snprintf(err, errlen, "actor %zu must be {\"sub\": NAME, "
			    "\"client_id\": NAME (optional)}", i);
			return -1;
		}
	p->nactors = json_array_size(actor);
	if (p->nactors > 0) {
		a = json_array_get(actor, 0);
		p->actor_sub = json_string_value(json_object_get(a, "sub"));
		p->actor_client_id = json_string_value(json_object_get(a, "client_id"));
	}
	return 0;
}

int
principal_record(json_t *rec, json_t *o, const char *prefix)
{
	char k[3][32];
	snprintf(k[0], sizeof k[0], "%sprincipal", prefix);
	snprintf(k[1], sizeof k[1], "%sactor", prefix);
	snprintf(k[2], sizeof k[2], "%sclient_id", prefix);
	json_t *kind = json_object_get(o, "principal");
	json_t *actor = json_object_get(o, "actor");
	json_t *client = json_object_get(o, "client_id");
	int bad = json_object_set_new(rec, k[0], kind != NULL ? json_incref(kind) :
	    json_string("person"));
	bad |= json_object_set_new(rec, k[1], actor != NULL ? json_deep_copy(actor) :
	    json_array());
	if (client != NULL)
		bad |= json_object_set(rec, k[2], client);
	return bad ? -1 : 0;
}

void
principal_cond_init(struct principal_cond *c)
{
	memset(c, 0, sizeof *c);
}

void
principal_cond_free(struct principal_cond *c)
{
	conf_list_free(&c->list);
	principal_cond_init(c);
}

int
principal_cond_word(const char *w)
{
	return strcmp(w, "principal") == 0 || strcmp(w, "actors") == 0;
}

int
principal_cond_parse(struct principal_cond *c, char *const *tok,
    const int *quoted, int at, int to, char *err, size_t errlen)
{
	const char *k = tok[at];
	if (to == at + 1) {
		snprintf(err, errlen, "%s: missing value", k);
		return -1;
	}
	if (strcmp(k, "principal") == 0) {
		if (c->kind != PRINCIPAL_KIND_ANY) {
			snprintf(err, errlen, "duplicate \"principal\"");
			return -1;
		}
		if (to != at + 2 || quoted[at + 1] || (strcmp(tok[at + 1], "person") != 0 &&
		    strcmp(tok[at + 1], "agent") != 0)) {
			snprintf(err, errlen, "principal: expected person or agent");
			return -1;
		}
		c->kind = strcmp(tok[at + 1], "agent") == 0 ? PRINCIPAL_KIND_AGENT :
		    PRINCIPAL_KIND_PERSON;
		return 0;
	}
	if (c->actors != PRINCIPAL_ACTORS_ANY_OR_NONE) {
		snprintf(err, errlen, "duplicate \"actors\"");
		return -1;
	}
	if (to == at + 2 && !quoted[at + 1] && (strcmp(tok[at + 1], "none") == 0 ||
	    strcmp(tok[at + 1], "any") == 0)) {
		c->actors = tok[at + 1][0] == 'n' ? PRINCIPAL_ACTORS_NONE :
		    PRINCIPAL_ACTORS_ANY;
		return 0;
	}
	for (int t = at + 1; t < to; t++)
		if (conf_list_add_word(&c->list, tok[t], quoted[t]) != 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	if (c->list.n == 0) {
		snprintf(err, errlen, "actors: empty list");
		return -1;
	}
	for (size_t i = 0; i < c->list.n; i++)
		if (strcmp(c->list.v[i], "none") == 0 || strcmp(c->list.v[i], "any") == 0) {
			snprintf(err, errlen, "actors: %s stands alone", c->list.v[i]);
			return -1;
		}
	c->actors = PRINCIPAL_ACTORS_LIST;
	return 0;
}

int
principal_cond_match(const struct principal_cond *c, const struct principal *p)
{
	if (p == NULL)
		p = &principal_person;
	if (c->kind != PRINCIPAL_KIND_ANY &&
	    (c->kind == PRINCIPAL_KIND_AGENT) != (p->agent != 0))
		return 0;
	switch (c->actors) {
	case PRINCIPAL_ACTORS_ANY_OR_NONE:
		return 1;
	case PRINCIPAL_ACTORS_NONE:
		return p->nactors == 0;
	case PRINCIPAL_ACTORS_ANY:
		return p->nactors > 0;
	case PRINCIPAL_ACTORS_LIST:
		return p->nactors > 0 && (globs_match(&c->list, p->actor_sub) ||
		    globs_match(&c->list, p->actor_client_id) ||
		    globs_match(&c->list, p->client_id));
	}
	return 0;
}

int
principal_cond_any(const struct principal_cond *c)
{
	return c->kind != PRINCIPAL_KIND_ANY || c->actors != PRINCIPAL_ACTORS_ANY_OR_NONE;
}

static int
globs_match(const struct conf_list *l, const char *s)
{
	return s != NULL && conf_list_match(l, s);
}

/* A name as pgward-auth passes it on: a non-empty string without NUL.
 * With optional, absent is fine. */
static int
name_ok(json_t *v, int optional)
{
	if (v == NULL)
		return optional;
	return json_is_string(v) && json_string_length(v) > 0 &&
	    strlen(json_string_value(v)) == json_string_length(v);
}
