#ifndef PGWARD_PRINCIPAL_H
#define PGWARD_PRINCIPAL_H

/* Who acts, as policy sees it (docs/policy.md, "People and agents"): the
 * principal kind and the outermost actor. RFC 8693 section 4.1: authorize
 * on the top-level claims and the outermost act only; the rest of the
 * chain is for the record. Conditions on it ("principal person|agent",
 * "actors none|any|LIST") are written once here for every kind of policy
 * line. */

#include <jansson.h>
#include <stddef.h>

#include "conf.h"

struct principal {
	int agent;			/* principal kind: 1 agent, 0 person */
	size_t nactors;			/* 0: no agent acts for the principal */
	const char *actor_sub;		/* the outermost actor's; NULL when none */
	const char *actor_client_id;	/* NULL when it names none */
	const char *client_id;		/* the token's; NULL when none */
};

/* The person with no actor: what an answer without the members means. */
extern const struct principal principal_person;

/* Reads the members "principal", "actor" and "client_id" of o, in the
 * shape of pgward-auth's verify answer (docs/auth-protocol.md 1.1), which
 * pgward-filter's requests repeat. Absent members: a person, no actor, no
 * client. Strings stay o's. Returns 0, or -1 with the reason. */
int principal_read(json_t *o, struct principal *p, char *err, size_t errlen);

/* Copies those members of o (already read by principal_read) into rec,
 * each name after prefix ("" or "by_"), with the defaults written out:
 * principal "person", actor []. Returns 0, or -1 out of memory. */
int principal_record(json_t *rec, json_t *o, const char *prefix);

enum principal_actors {
	PRINCIPAL_ACTORS_ANY_OR_NONE,	/* no condition */
	PRINCIPAL_ACTORS_NONE,
	PRINCIPAL_ACTORS_ANY,
	PRINCIPAL_ACTORS_LIST,
};

enum principal_kind {
	PRINCIPAL_KIND_ANY,		/* no condition */
	PRINCIPAL_KIND_PERSON,
	PRINCIPAL_KIND_AGENT,
};

/* All zero: no condition. */
struct principal_cond {
	enum principal_kind kind;
	enum principal_actors actors;
	struct conf_list list;		/* PRINCIPAL_ACTORS_LIST: the globs */
};

void principal_cond_init(struct principal_cond *c);
void principal_cond_free(struct principal_cond *c);
/* Whether w is a condition's keyword ("principal", "actors"). */
int principal_cond_word(const char *w);
/* The condition tok[at] (its keyword) with its values tok[at+1 .. to).
 * Returns 0, or -1 with the reason (a duplicate, an unknown value). */
int principal_cond_parse(struct principal_cond *c, char *const *tok,
    const int *quoted, int at, int to, char *err, size_t errlen);
/* Whether p meets c; p NULL: principal_person. */
int principal_cond_match(const struct principal_cond *c, const struct principal *p);
/* Whether c says anything. */
int principal_cond_any(const struct principal_cond *c);

#endif
