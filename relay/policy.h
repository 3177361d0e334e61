#ifndef PGWARD_RELAY_POLICY_H
#define PGWARD_RELAY_POLICY_H

/* The session's link to pgward-filter (docs/filter-protocol.md): asks
 * for decisions and caches them per statement shape and policy
 * generation, so repeated and prepared statements cost no IPC. The
 * generation is read from the filter's generation file (mapped read-only),
 * so a policy reload is noticed without asking. */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc.h"
#include "strmap.h"

enum policy_action { POLICY_ALLOW, POLICY_DENY, POLICY_REVIEW };

struct policy_decision {
	enum policy_action action;
	char rule[128];
	char message[256];
	char review_id[64];
	/* Who may approve the review: "the person NAME" (approvers self) or
	 * "a member of G1, G2"; "" when the filter did not say. */
	char approvers[200];
	uint64_t generation;
	int cached;
	char sqlstate[6];	/* for the refusal; "": 42501 */
	/* max-rows: the row guard's limit (relay/rowguard.h) */
	int has_max_rows;
	long max_rows;
};

struct policy {
	const char *socket;
	int timeout_ms;
	struct ipc_client c;
	struct strmap cache;
	const volatile char *generation_map;	/* NULL: unknown, never cache */
	size_t generation_len;
	/* identity, for the requests */
	const char *user;
	json_t *groups;
	const char *connection;
	const char *role;
	const char *session;
	/* who acts (docs/filter-protocol.md): "person" or "agent", the actor
	 * chain (owned, an array) and the OAuth client (NULL: none) */
	const char *principal;
	json_t *actor;
	const char *client_id;
	uint64_t lookups;
	uint64_t hits;
	/* From the last connect decision: rows of results to record per
	 * statement (policy "record" lines); 0: none. */
	long record_rows;
	/* What writing a view or a relation with rules touches (relations.h),
	 * sent with every decide request; NULL or empty: nothing to say. */
	json_t *relations;
	/* Gateway-mode masking: functions that may read a masked column
	 * (relations.h), sent with every decide request; NULL: none. */
	json_t *functions;
	/* Counts changes of relations or functions: a statement decided
	 * under another count is decided again before it runs. */
	uint64_t catalog_generation;
	/* From the last connect decision: the longest SQL text the filter
	 * decides (its max-statement-bytes); 0: not said. */
	long max_sql;
};

int policy_init(struct policy *p, const char *socket, const char *generation_file,
    int timeout_ms);
void policy_free(struct policy *p);
/* Current policy generation (0 when unknown). */
uint64_t policy_generation(const struct policy *p);

/* Takes the session's relations map (relations.h; owned). Decisions
 * cached under another map are dropped. */
void policy_set_relations(struct policy *p, json_t *relations);

/* Takes the functions list (relations.h; owned); as policy_set_relations. */
void policy_set_functions(struct policy *p, json_t *functions);

/* Decides sql. Returns 0 with *d filled, or -1 with a reason in err (the
 * filter is down or slow: the caller refuses the statement). A text the
 * filter cannot be asked about is denied by a builtin rule, with its own
 * SQLSTATE: "builtin:statement-too-large" (54000, longer than the filter's
 * max_sql) and "builtin:invalid-utf8" (22021: IPC carries UTF-8 only). */
int policy_decide(struct policy *p, const char *sql, struct policy_decision *d, char *err,
    size_t errlen);

/* Connect-time authorization. Returns 0 (allowed, *expires = 0 or the
 * end of a just-in-time grant; *mask = the person's masking rules or NULL),
 * 1 (refused; rule in err) or -1 (failure). */
int policy_connect(struct policy *p, long long *expires, json_t **mask, char *err,
    size_t errlen);

/* Review of a held statement: 0 pending, 1 approved, 2 denied, 3 expired,
 * -1 failure. Waits up to wait_ms. */
int policy_review_wait(struct policy *p, const char *id, int wait_ms, char *by, size_t bylen,
    char *err, size_t errlen);
void policy_review_cancel(struct policy *p, const char *id);

#endif
