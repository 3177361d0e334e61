#include "identity.h"

#include <stdlib.h>
#include <string.h>

#define ACTOR_SEPARATOR "<-"

static int name_take(json_t *v, int optional, char **out);
static int actors_take(struct relay_identity *id, json_t *actor);

int
relay_identity_from_reply(struct relay_identity *id, json_t *reply)
{
	json_t *groups = json_object_get(reply, "groups");
	json_t *exp = json_object_get(reply, "exp");
	if (name_take(json_object_get(reply, "user"), 0, &id->user) != 0 ||
	    !json_is_integer(exp) || (groups != NULL && !json_is_array(groups)))
		return -1;
	id->exp = json_integer_value(exp);
	const char *iss = json_string_value(json_object_get(reply, "iss"));
	const char *sub = json_string_value(json_object_get(reply, "sub"));
	id->iss = strdup(iss ? iss : "");
	id->sub = strdup(sub ? sub : "");
	size_t n = json_array_size(groups);
	id->groups = calloc(n + 1, sizeof *id->groups);
	if (id->iss == NULL || id->sub == NULL || id->groups == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *g = json_string_value(json_array_get(groups, i));
		if (g == NULL)
			return -1;
		if ((id->groups[id->ngroups] = strdup(g)) == NULL)
			return -1;
		id->ngroups++;
	}
	json_t *principal = json_object_get(reply, "principal");
	const char *kind = json_string_value(principal);
	if (principal != NULL && (kind == NULL ||
	    (strcmp(kind, "person") != 0 && strcmp(kind, "agent") != 0)))
		return -1;
	id->agent = kind != NULL && strcmp(kind, "agent") == 0;
	if (name_take(json_object_get(reply, "client_id"), 1, &id->client_id) != 0)
		return -1;
	return actors_take(id, json_object_get(reply, "actor"));
}

void
relay_identity_free(struct relay_identity *id)
{
	free(id->user);
	for (int i = 0; i < id->ngroups; i++)
		free(id->groups[i]);
	free(id->groups);
	free(id->iss);
	free(id->sub);
	for (int i = 0; i < id->nactors; i++) {
		free(id->actors[i].sub);
		free(id->actors[i].client_id);
	}
	free(id->actors);
	free(id->client_id);
	memset(id, 0, sizeof *id);
}

json_t *
relay_identity_groups(const struct relay_identity *id)
{
	json_t *a = json_array();
	for (int i = 0; a != NULL && i < id->ngroups; i++)
		json_array_append_new(a, json_string(id->groups[i]));
	return a;
}

const char *
relay_identity_principal(const struct relay_identity *id)
{
	return id->agent ? "agent" : "person";
}

json_t *
relay_identity_actor_json(const struct relay_identity *id)
{
	json_t *a = json_array();
	for (int i = 0; a != NULL && i < id->nactors; i++)
		if (json_array_append_new(a, json_pack("{s:s, s:s*}", "sub",
		    id->actors[i].sub, "client_id", id->actors[i].client_id)) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

char *
relay_identity_actor_text(const struct relay_identity *id)
{
	size_t n = 1;
	for (int i = 0; i < id->nactors; i++)
		n += strlen(id->actors[i].sub) + strlen(ACTOR_SEPARATOR);
	char *s = malloc(n);
	if (s == NULL)
		return NULL;
	size_t o = 0;
	for (int i = 0; i < id->nactors; i++) {
		size_t len = strlen(id->actors[i].sub);
		if (i > 0) {
			memcpy(s + o, ACTOR_SEPARATOR, strlen(ACTOR_SEPARATOR));
			o += strlen(ACTOR_SEPARATOR);
		}
		memcpy(s + o, id->actors[i].sub, len);
		o += len;
	}
	s[o] = '\0';
	return s;
}

/* A name as pgward-auth passes it on: 1 to RELAY_MAX_NAME bytes, no
 * control characters (nor the chain's separator: auth refuses it). With
 * optional, absent is NULL. */
static int
name_take(json_t *v, int optional, char **out)
{
	*out = NULL;
	if (v == NULL)
		return optional ? 0 : -1;
	const char *s = json_string_value(v);
	size_t n = s ? strlen(s) : 0;
	if (s == NULL || n == 0 || n > RELAY_MAX_NAME || n != json_string_length(v))
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return -1;
	return (*out = strdup(s)) != NULL ? 0 : -1;
}

static int
actors_take(struct relay_identity *id, json_t *actor)
{
	if (actor == NULL)
		return 0;
	size_t n = json_array_size(actor);
	if (!json_is_array(actor) || n > RELAY_MAX_ACTORS)
		return -1;
	if (n == 0)
		return 0;
	if ((id->actors = calloc(n, sizeof *id->actors)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *a = json_array_get(actor, i);
		struct relay_actor *link = &id->actors[id->nactors];
		if (!json_is_object(a))
			return -1;
		int rc = name_take(json_object_get(a, "sub"), 0, &link->sub);
		id->nactors += link->sub != NULL;
		if (rc != 0 || name_take(json_object_get(a, "client_id"), 1, &link->client_id) != 0 ||
		    strstr(link->sub, ACTOR_SEPARATOR) != NULL)
			return -1;
	}
	return 0;
}
