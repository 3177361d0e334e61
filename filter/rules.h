#ifndef PGWARD_FILTER_RULES_H
#define PGWARD_FILTER_RULES_H

/* The policy (docs/policy.md): connect lines, rules evaluated per
 * statement fact (filter/facts.h), and access lines for just-in-time
 * grants. */

#include <jansson.h>
#include <stddef.h>

#include "conf.h"
#include "principal.h"

#include "mask/policy.h"

/* Ordered by restrictiveness: a larger value wins when statements of one
 * query string are combined. */
enum rule_action {
	RULES_ALLOW,
	RULES_REVIEW,
	RULES_DENY,
};


#define RULES_WHERE_NONE 1u
#define RULES_WHERE_TRIVIAL 2u
#define RULES_WHERE_PRESENT 4u

struct rule {
	char *name;
	int line;
	/* who */
	struct conf_list groups, users, connections, roles;
	struct principal_cond who;	/* principal, actors */
	/* what */
	struct conf_list kinds, via, tables, reads, writes, functions, settings;
	unsigned where;		/* RULES_WHERE_* bits, 0 when no condition */
	int opaque;		/* -1 no condition, 0 no, 1 yes */
	int explain_analyze;	/* -1 no condition, 0 no, 1 yes */
	enum rule_action action;
	char *message;
	struct conf_list approvers;
	int approvers_self;	/* "approvers self": the person behind the agent */
	long approvals;
	long timeout_s;
	long max_rows;		/* max-rows N: the row guard's limit; -1 none */
};

struct rule_connect {
	char *connection, *role;
	struct conf_list groups, users;
	struct principal_cond who;
	int line;
	long rows;		/* a record line: rows recorded per statement */
};

struct rule_access {
	char *connection, *role;
	struct conf_list requestable_by, approvers;
	struct principal_cond who;	/* of the requester */
	int approvers_self;
	long approvals;
	long max_duration_s;
	int line;
};

struct rules {
	char *path;
	enum rule_action default_action;
	struct rule *rules;
	size_t nrules;
	struct rule_connect *connects;
	size_t nconnects;
	/* "record CONNECTION ROLE rows N groups|users LIST": whose results
	 * the relay records (up to N rows a statement, as the person saw them). */
	struct rule_connect *records;
	size_t nrecords;
	struct rule_access *access;
	size_t naccess;
	/* The mask lines (mask/policy.h, the owner of their grammar). */
	struct mask_policy mask;
	/* The effective "mask predicates" (mask_policy_predicates); review
	 * takes its approvers from mask_pred_rule (named
	 * RULES_RULE_MASKED_PREDICATE). */
	enum rule_action mask_predicates;
	struct rule mask_pred_rule;
};

struct rules_result {
	struct rules *policy;
	char *error;		/* NULL on success, else "file:line: reason" */
};

/* default_timeout_s is the review timeout for rules without timeout-s. */
struct rules_result rules_load(const char *path, long default_timeout_s);
/* The same from text; name stands for the file in messages. */
struct rules_result rules_parse(const char *text, const char *name,
    long default_timeout_s);
void rules_result_free(struct rules_result r);

struct rule_identity {
	const char *user;
	const char *const *groups;
	size_t ngroups;
	const char *connection;
	const char *role;
	const struct principal *who;	/* NULL: a person with no actor */
};

#define RULES_RULE_STAMP "builtin:identity-stamp"
#define RULES_RULE_DEFAULT "default"
#define RULES_RULE_EMPTY "builtin:empty"
#define RULES_RULE_SYNTAX "builtin:syntax-error"
#define RULES_RULE_MASKED_PREDICATE "builtin:masked-predicate"
#define RULES_RULE_TOO_LARGE "builtin:statement-too-large"
/* "approvers self": the one approver is the person an agent acts for. */
#define RULES_APPROVERS_SELF "self"

struct rule_decision {
	enum rule_action action;
	const char *rule;	/* a rule name or one of RULES_RULE_* */
	const char *message;	/* may be NULL */
	const struct rule *matched;	/* NULL for builtin and default */
	size_t index;		/* the deciding statement */
};

/* One statement fact. */
struct rule_decision rules_decide_fact(const struct rules *p,
    const struct rule_identity *id, json_t *fact);
/* An array of facts: the most restrictive of their decisions, the first
 * statement winning ties. An empty array is allowed (nothing runs). */
struct rule_decision rules_decide(const struct rules *p,
    const struct rule_identity *id, json_t *facts);
/* The row guard (max-rows): the smallest limit of the max-rows rules that
 * decided a DELETE, UPDATE or MERGE of the facts, or -1 when none did.
 * The relay counts rows by the command tag, so a guarded fact that is not
 * a whole query string's only, top-level DELETE, UPDATE or MERGE (a MERGE
 * action counts as its MERGE) turns *d into a deny by that rule. */
long rules_row_limit(const struct rules *p, const struct rule_identity *id,
    json_t *facts, struct rule_decision *d);
/* Whether one fact matches one rule (the builtin rule aside). */
int rules_rule_matches(const struct rule *r,
    const struct rule_identity *id, json_t *fact);

/* The first connect line admitting id, or NULL. */
const struct rule_connect *rules_connect_find(const struct rules *p,
    const struct rule_identity *id);
/* Rows of results to record for id's session: the most any record line
 * matching it names, 0 when none does. */
long rules_record_rows(const struct rules *p, const struct rule_identity *id);
/* The first access line for connection and role that id may request. */
const struct rule_access *rules_access_find(const struct rules *p,
    const struct rule_identity *id, const char *connection, const char *role);

const char *rules_action_name(enum rule_action a);

/* Whether a mask line applies to id (mask_line_applies with id's groups).
 * id NULL: every line. */
int rules_mask_applies(const struct mask_line *m, const struct rule_identity *id);
/* The mask rules JSON of mask/mask.h for id (exemptions applied; id NULL:
 * every mask line). *out is NULL when nothing is masked for id. Returns 0,
 * or -1 out of memory. */
int rules_mask_json(const struct rules *p, const struct rule_identity *id,
    json_t **out);
/* Whether any group of the (JSON array) groups is in the list. */
int rules_list_match_groups(const struct conf_list *l, json_t *groups);

#endif
