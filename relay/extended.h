#ifndef PGWARD_RELAY_EXTENDED_H
#define PGWARD_RELAY_EXTENDED_H

/* What the relay remembers of the extended query protocol, so that an
 * Execute can be audited with its SQL and bound parameters: prepared
 * statements and portals in separate maps, by name (the unnamed ones
 * under ""). Names the relay does not know are refused (fail closed). */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "strmap.h"

struct prepared {
	char *sql;
	uint32_t *param_types;
	int nparams;
	uint64_t policy_generation;	/* the policy it was allowed under */
	char rule[128];
	int has_max_rows;	/* and its row limit (max-rows) */
	long max_rows;
};

struct portal {
	char *statement;
	char *sql;
	json_t *params;		/* array, as recorded */
	int started;		/* an Execute ran; later ones continue it */
	uint64_t intent_seq;
	uint64_t number;
	uint64_t generation;	/* syncs sent before its Bind */
	uint64_t policy_generation;
	char rule[128];
	int has_max_rows;
	long max_rows;
};

struct extended {
	struct strmap statements;
	struct strmap portals;
	int redact_params;
	int skip_params;	/* no audit trail: nothing to record */
	size_t max_param_bytes;
	/* Query and Sync messages sent, ReadyForQuery messages received:
	 * the n-th ReadyForQuery answers the n-th of those. */
	uint64_t syncs_sent;
	uint64_t readies_received;
};

int extended_init(struct extended *x, int redact_params, size_t max_param_bytes);
void extended_free(struct extended *x);

/* Each returns 0, or -1 with a reason in err: a malformed message (the
 * session ends) or an unknown name (the statement is refused). */
enum extended_error { EXT_OK = 0, EXT_MALFORMED = -1, EXT_UNKNOWN = -2 };

/* On success *stmt and *name point at what was prepared. */
int extended_parse(struct extended *x, const uint8_t *body, size_t len,
    struct prepared **stmt, const char **name, char *err, size_t errlen);
void extended_forget_statement(struct extended *x, const char *name);
int extended_bind(struct extended *x, const uint8_t *body, size_t len, char *err, size_t errlen);
/* On success *portal points at the portal to run; *max_rows is Execute's. */
int extended_execute(struct extended *x, const uint8_t *body, size_t len,
    struct portal **portal, const char **portal_name, uint32_t *max_rows, char *err, size_t errlen);
int extended_close(struct extended *x, const uint8_t *body, size_t len, char *err, size_t errlen);
/* A Query or Sync went to the server. */
void extended_sync_sent(struct extended *x);
/* A ReadyForQuery came back: outside a transaction block, the portals
 * bound before the matching Sync are gone (the server dropped them). */
void extended_ready(struct extended *x, char status);

/* A text parameter or message as JSON: the string if it is UTF-8,
 * else {"base64": ...}. */
json_t *extended_text_json(const uint8_t *p, size_t len);
/* Sets "sql" on rec: the text, or when longer than max its first max
 * bytes (cut at a character boundary), with "sql_bytes" and "sql_sha256"
 * of the whole, so the record stays bounded and still pins the text. */
void extended_set_sql(json_t *rec, const uint8_t *sql, size_t len, size_t max);

#endif
