#ifndef PGWARD_FILTER_SERVICE_H
#define PGWARD_FILTER_SERVICE_H

/* The daemon's state and its IPC operations (docs/filter-protocol.md). */

#include <jansson.h>

#include "filter/config.h"
#include "filter/facts.h"
#include "filter/rules.h"
#include "filter/review.h"
#include "ipc.h"

typedef struct facts_result (*filter_facts_fn)(const char *sql);
typedef void (*filter_facts_free_fn)(struct facts_result *r);
/* Verifies an approver's token: returns {"user":..,"groups":[..]} or NULL
 * with the reason in err. */
typedef json_t *(*filter_verify_fn)(void *ctx, const char *token, char *err,
    size_t errlen);

struct filter_service {
	const char *config_path;
	struct filter_config_result config;
	struct rules_result policy;
	unsigned long long generation;
	int gen_fd;
	struct review_store store;
	struct ipc_client auth, audit;
	/* How statements become facts; facts_of_sql in the daemon. */
	filter_facts_fn facts;
	filter_facts_free_fn facts_free;
	/* Token verification and audit appends; through pgward-auth and
	 * pgward-logd unless a test replaces them. */
	filter_verify_fn verify;
	review_audit_fn audit_append;
	void *hook_ctx;
	/* 0: the clock; otherwise a fixed time for tests */
	long long fixed_now;
	unsigned long long ndecide[3];
};

/* Loads config and policy only (for -n and check). Returns 0 or
 * PGWARD_EXIT_USAGE with the reason. */
int filter_service_check(const char *config_path, struct filter_config_result *c,
    struct rules_result *p, char *err, size_t errlen);

/* Everything the daemon needs: config, policy, state directory (state file,
 * generation file). Returns 0, PGWARD_EXIT_USAGE or PGWARD_EXIT_TEMP. */
int filter_service_open(struct filter_service *s, const char *config_path,
    filter_facts_fn facts, filter_facts_free_fn facts_free, char *err,
    size_t errlen);
void filter_service_close(struct filter_service *s);

json_t *filter_service_handle(struct filter_service *s, json_t *req);
void filter_service_tick(struct filter_service *s);
/* Rereads config and policy; a broken one is refused and the old kept;
 * a good one bumps the generation. Returns 0 or -1. */
int filter_service_reload(struct filter_service *s);

/* The decision for one query string, as in the decide reply (without
 * review creation): used by the daemon and by "pgward-filter check".
 * relations: the request's map of views and rules to base tables
 * (facts_resolve), or NULL; functions: the request's list of functions that
 * may read a masked column (gateway mode), or NULL. out->message does not outlive the call when it
 * came from the masked-column check (the reply has it). */
json_t *filter_decide(const struct rules *p, filter_facts_fn facts,
    filter_facts_free_fn facts_free, const struct rule_identity *id,
    const char *sql, json_t *relations, json_t *functions, struct rule_decision *out);

#endif
