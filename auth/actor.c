#include "auth/actor.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shows the chain's separator in pgward.actor (docs/pgward-relay.md). */
#define CHAIN_SEPARATOR "<-"

static int client_of(const struct auth_config *c, json_t *obj, const char *where,
    const char **out, char *err, size_t errlen);
static int link_take(const struct auth_config *c, json_t *act, size_t depth,
    struct token_actor *link, char *err, size_t errlen);
static int link_repeats(const struct token_actor *v, size_t n);
static int rule_holds(const char *rule, json_t *claims, const char *sub,
    const char *client_id);

int
actor_take(const struct auth_config *c, json_t *claims, struct token_result *r,
    char *err, size_t errlen)
{
	const char *client;
	if (client_of(c, claims, "token", &client, err, errlen) != 0)
		return -1;
	if (client != NULL && (r->client_id = strdup(client)) == NULL)
		goto oom;
	size_t max = (size_t)c->max_actor_depth;
	json_t *act = json_object_get(claims, c->actor_claim);
	if (act != NULL) {
		/* Walked, not recursed: the depth is bounded before any is read. */
		if ((r->actors = calloc(max, sizeof *r->actors)) == NULL)
			goto oom;
		for (size_t depth = 0; act != NULL; depth++) {
			if (depth == max) {
				snprintf(err, errlen, "%s claim nested deeper than "
				    "max-actor-depth %zu", c->actor_claim, max);
				return -1;
			}
			if (link_take(c, act, depth, &r->actors[depth], err, errlen) != 0)
				return -1;
			r->nactors++;
			if (link_repeats(r->actors, r->nactors)) {
				snprintf(err, errlen, "%s at depth %zu: sub is an earlier "
				    "actor's (a cycle)", c->actor_claim, depth + 1);
				return -1;
			}
			act = json_object_get(act, c->actor_claim);
		}
	}
	r->agent = 0;
	for (size_t i = 0; i < c->agent_rules.n && !r->agent; i++)
		r->agent = rule_holds(c->agent_rules.v[i], claims, r->sub, r->client_id);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

int
actor_rule_check(const char *item, int alone, char *err, size_t errlen)
{
	const char *eq = strchr(item, '=');
	if (strcmp(item, "sub-is-client") == 0 || (alone && strcmp(item, "none") == 0))
		return 0;
	if (strcmp(item, "none") == 0) {
		snprintf(err, errlen, "none stands alone");
		return -1;
	}
	if (eq == NULL || eq == item || eq[1] == '\0') {
		snprintf(err, errlen, "expected sub-is-client, CLAIM=GLOB or none, "
		    "got \"%s\"", item);
		return -1;
	}
	return 0;
}

/* The first of the client-claim names obj holds; *out NULL when none. A
 * value that is not a name is refused: it would be recorded. */
static int
client_of(const struct auth_config *c, json_t *obj, const char *where,
    const char **out, char *err, size_t errlen)
{
	*out = NULL;
	for (size_t i = 0; i < c->client_claims.n; i++) {
		const char *name = c->client_claims.v[i];
		json_t *v = json_object_get(obj, name);
		if (v == NULL)
			continue;
		const char *s = json_string_value(v);
		if (s == NULL || !token_name_ok(s)) {
			snprintf(err, errlen, "%s claim %s is not a string of 1 to %d "
			    "bytes without control characters", where, name,
			    TOKEN_MAX_USER_BYTES);
			return -1;
		}
		*out = s;
		return 0;
	}
	return 0;
}

static int
link_take(const struct auth_config *c, json_t *act, size_t depth,
    struct token_actor *link, char *err, size_t errlen)
{
	char where[96];
	snprintf(where, sizeof where, "%s at depth %zu:", c->actor_claim, depth + 1);
	if (!json_is_object(act)) {
		snprintf(err, errlen, "%s not an object", where);
		return -1;
	}
	const char *sub = json_string_value(json_object_get(act, "sub"));
	if (sub == NULL || !token_name_ok(sub)) {
		snprintf(err, errlen, "%s sub is not a string of 1 to %d bytes "
		    "without control characters", where, TOKEN_MAX_USER_BYTES);
		return -1;
	}
	const char *client;
	if (client_of(c, act, where, &client, err, errlen) != 0)
		return -1;
	if (strstr(sub, CHAIN_SEPARATOR) != NULL ||
	    (client != NULL && strstr(client, CHAIN_SEPARATOR) != NULL)) {
		snprintf(err, errlen, "%s a name holds \"%s\", the chain's separator",
		    where, CHAIN_SEPARATOR);
		return -1;
	}
	if ((link->sub = strdup(sub)) == NULL ||
	    (client != NULL && (link->client_id = strdup(client)) == NULL)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Whether the last link's sub is an earlier one's. */
static int
link_repeats(const struct token_actor *v, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (strcmp(v[i].sub, v[n - 1].sub) == 0)
			return 1;
	return 0;
}

static int
rule_holds(const char *rule, json_t *claims, const char *sub, const char *client_id)
{
	if (strcmp(rule, "sub-is-client") == 0)
		return client_id != NULL && strcmp(sub, client_id) == 0;
	const char *eq = strchr(rule, '=');
	if (eq == NULL)
		return 0;	/* none */
	char name[256];
	snprintf(name, sizeof name, "%.*s", (int)(eq - rule), rule);
	const char *v = json_string_value(json_object_get(claims, name));
	return v != NULL && fnmatch(eq + 1, v, 0) == 0;
}
