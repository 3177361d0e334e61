#ifndef PGWARD_FILTER_REVIEW_H
#define PGWARD_FILTER_REVIEW_H

/* Reviews (a statement waiting for approvers) and access requests
 * (just-in-time grants of a role on a connection): the state machine, its
 * audit records and its persistence in <state-dir>/state.json.
 *
 * Every step is first appended to the audit log through the audit
 * callback; when that fails the step is refused and nothing changes. Then
 * the state file is rewritten atomically; when that fails the step is
 * undone in memory and refused too.
 *
 * Entries are JSON objects (the same members as in the state file and in
 * the replies of docs/filter-protocol.md); the review_* and access_*
 * functions return borrowed references. */

#include <jansson.h>
#include <stddef.h>

#include "filter/rules.h"

typedef int (*review_audit_fn)(void *ctx, json_t *record, char *err,
    size_t errlen);

struct review_store {
	char *path;		/* the state file, or NULL: memory only */
	json_t *reviews;	/* id -> review */
	json_t *access;		/* id -> access request */
	review_audit_fn audit;
	void *audit_ctx;
	long retain_s;		/* how long finished entries stay visible */
};

/* Reads <dir>/state.json if it exists (dir NULL: memory only). Pending
 * reviews and requests already past their deadline, grants already ended
 * and finished entries older than retain_s are dropped; their audit
 * records ("expired") are appended to *dropped for the caller to send.
 * Returns 0 or -1 with the reason. */
int review_store_open(struct review_store *s, const char *dir, long retain_s,
    long long now, json_t **dropped, char *err, size_t errlen);
void review_store_close(struct review_store *s);

/* Who asks or decides: the person, their groups, and who acts for them.
 * claims holds the members principal, actor and client_id as
 * principal_read read them into who (a filter request, pgward-auth's
 * verify answer); NULL with who NULL: a person with no actor. Entries and
 * their audit records carry them (docs/filter-protocol.md). */
struct review_party {
	const char *user;
	json_t *groups;		/* array of strings */
	const struct principal *who;
	json_t *claims;
};

/* The requester of a review (session: NULL for an access request). */
struct review_requester {
	struct review_party p;
	const char *session;
	const char *connection;
	const char *role;
};

/* A rule with "approvers self" needs a requester that is a person with
 * an agent acting for them: else the review is refused (err says why). */
json_t *review_create(struct review_store *s, const struct review_requester *who,
    const char *sql, const struct rule *rule, long long now,
    char *err, size_t errlen);
json_t *review_get(struct review_store *s, const char *id);
/* Whether by may decide the pending entry e (a review or an access
 * request); else 0 with the reason in err (errlen 0: no reason wanted).
 * Ordinary entries: by is in one of its approver groups and is not the
 * requester. "approvers self": by is the requester's person, in person
 * (principal person, no actor): an agent cannot approve for its person. */
int review_may_decide(json_t *e, const struct review_party *by, char *err,
    size_t errlen);
/* approve 1 approves, 0 denies; review_may_decide, and once each. */
int review_decide(struct review_store *s, const char *id,
    const struct review_party *by, int approve, long long now, char *err,
    size_t errlen);
/* The requester gave up. Cancelling a finished review is a no-op. */
int review_cancel(struct review_store *s, const char *id, long long now,
    char *err, size_t errlen);

/* As review_create, for a->approvers_self too. */
json_t *access_create(struct review_store *s, const struct review_requester *who,
    long duration_s, const char *reason, const struct rule_access *a,
    long request_timeout_s, long long now, char *err, size_t errlen);
json_t *access_get(struct review_store *s, const char *id);
int access_decide(struct review_store *s, const char *id,
    const struct review_party *by, int approve, long long now, char *err,
    size_t errlen);
/* The id of a grant in force for user on connection and role, or NULL.
 * A grant admits the pair that asked for it: the same principal kind and
 * the same outermost actor (or none) as who (NULL: a person, no actor). */
const char *access_active(struct review_store *s, const char *user,
    const struct principal *who, const char *connection, const char *role,
    long long now);

/* Expires what is due (each expiry is audited; an expiry is applied even
 * when the audit log is unavailable, since it only takes rights away, and
 * audited again at the next tick) and forgets finished entries older than
 * retain_s. Returns how many entries changed. */
int review_store_tick(struct review_store *s, long long now);

#endif
