#ifndef PGWARD_REPLAY_WHO_H
#define PGWARD_REPLAY_WHO_H

/* Who acts in a record (docs/audit-records.md, "Who"): user (the person,
 * or a machine identity), principal ("person" or "agent"), the actor
 * chain outermost first, and the OAuth client (client_id). Read from the
 * raw members, leniently: a record without them (written before they
 * existed) is a person with no actor; an element of the chain that is
 * not an object with a string "sub" is left out, as a group that is not
 * a string is. */

#include "replay/rec.h"

struct who_actor {
	struct rec_span sub;		/* raw JSON string */
	struct rec_span client_id;	/* raw JSON string; n == 0: none */
};

/* The next actor of an actor array a: 1 with *w, 0 at the end. *pos as
 * rec_array_next. */
int who_actor_next(const struct rec_span *a, size_t *pos, struct who_actor *w);

/* 1 if the principal member says "agent" (absent: a person). */
int who_is_agent(const struct rec *r);
/* --principal: kind "person" or "agent". */
int who_match_principal(const struct rec *r, const char *kind);
/* --actor: 1 if glob (fnmatch(3), no flags) matches the sub or client_id
 * of any actor in the chain, or the record's client_id. A name holding a
 * NUL, or a bad \u escape, never matches. */
int who_match_actor(const struct rec *r, const char *glob);

/* The one line for people: "bob via ci-bot via deploy-svc (client
 * pgward-ci)", "svc-etl (agent, client etl-client)", or the user alone;
 * an actor's own client_id follows it as "(client X)" when it differs
 * from the record's. Control characters are written as '?', so it stays
 * one line. malloc'd; NULL when out of memory. */
char *who_text(const struct rec *r);
/* 1 if the record names more than its user (an agent principal, an
 * actor, or a client_id): show prints who_text then. */
int who_named(const struct rec *r);

#endif
