#ifndef PGWARD_RELAY_EXTENDED_H
#define PGWARD_RELAY_EXTENDED_H

/* The one owner of the session's protocol state. What the relay
 * remembers of the extended query protocol, so that an Execute can be
 * audited with its SQL and bound parameters: prepared statements and
 * portals in separate maps, by name (the unnamed ones under ""). Names
 * the relay does not know are refused (fail closed).
 *
 * It also keeps, in order, what the server still owes an answer to (every
 * Parse, Bind, Describe, Execute, Close, Sync, Query and FunctionCall
 * sent), so the shape of every DataRow is known: a portal's row shape
 * lives on the portal object that the Bind created (a later Bind or Close
 * of the same name makes a new object; answers still owed keep the old
 * one), and a Query's rows have the shape of its last RowDescription.
 *
 * The same queue says which answer belongs to which statement: each owed
 * Query, Execute and FunctionCall carries its result (relay/results.h),
 * finished when the entry is answered. An Execute ends at its
 * CommandComplete, EmptyQueryResponse, PortalSuspended or ErrorResponse;
 * a Query or FunctionCall at its ReadyForQuery. An extended-protocol
 * error (of a Parse, Bind, Describe, Close or Execute) goes on the first
 * Execute owed from it to the Sync, if no Query or FunctionCall comes
 * first; every other statement up to the Sync is "skipped". */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "results.h"
#include "strmap.h"

struct prepared {
	char *sql;
	uint32_t *param_types;
	int nparams;
	uint64_t policy_generation;	/* the policy it was allowed under */
	uint64_t catalog_generation;	/* and the catalog map (policy.h) */
	char rule[128];
	int has_max_rows;	/* and its row limit (max-rows) */
	long max_rows;
};

/* What one RowDescription said (owned, reference counted: portals and
 * answers still owed share it). */
struct row_field {
	char *label;
	uint32_t table_oid;
	int16_t attnum;
	uint32_t type_oid;
	int16_t format;
};

struct row_shape {
	int refs;
	int nfields;		/* -1: NoData (the statement returns no rows) */
	struct row_field *fields;
	/* What masking derived from the shape, and for which engine state. */
	void *derived;
	void (*derived_free)(void *);
	uint64_t derived_generation;
};

struct portal {
	int refs;
	struct row_shape *shape;	/* NULL until a Describe of it is answered */
	int described;		/* a Describe of it was sent */
	/* Statements sent (extended.runs) when it was last described and
	 * when it was bound: any statement can change what a portal name
	 * means on the server (SQL CLOSE and DECLARE, a function opening a
	 * cursor), so a shape is only trusted by an Execute with no statement
	 * sent since its Describe. */
	uint64_t described_runs;
	uint64_t bound_runs;
	/* Its statement is SQL FETCH or EXECUTE: the server takes its columns
	 * from another cursor or statement at Bind, its rows at the first
	 * Execute. */
	int forwards;
	char *statement;
	char *sql;
	json_t *params;		/* array, as recorded */
	int started;		/* an Execute ran; later ones continue it */
	uint64_t intent_seq;
	uint64_t number;
	uint64_t generation;	/* syncs sent before its Bind */
	uint64_t policy_generation;
	uint64_t catalog_generation;
	char rule[128];
	int has_max_rows;
	long max_rows;
};

enum owed_kind {
	OWED_PARSE, OWED_BIND, OWED_DESCRIBE_STATEMENT, OWED_DESCRIBE_PORTAL,
	OWED_EXECUTE, OWED_CLOSE, OWED_SYNC, OWED_QUERY, OWED_FUNCTION,
	OWED_COPY_END,		/* CopyDone or CopyFail: answers nothing, marks where a
				 * COPY FROM STDIN ends in what the client sent */
};

struct owed {
	enum owed_kind kind;
	int injected;		/* sent by the relay: its answer is not forwarded */
	struct portal *portal;	/* Describe portal, Bind and Execute (a reference) */
	struct pending *result;	/* Execute, Query, FunctionCall: its result (owned) */
};

struct extended {
	struct strmap statements;
	struct strmap portals;
	struct owed *owed;
	size_t owed_head, owed_count, owed_cap;
	struct row_shape *query_shape;	/* the current RowDescription of a Query */
	int redact_params;
	int skip_params;	/* no audit trail: nothing to record */
	size_t max_param_bytes;
	/* Query and Sync messages sent, ReadyForQuery messages received:
	 * the n-th ReadyForQuery answers the n-th of those. */
	uint64_t syncs_sent;
	uint64_t readies_received;
	char last_status;	/* of the last ReadyForQuery: 'I', 'T' or 'E' */
	/* Query, Execute and FunctionCall messages sent. */
	uint64_t runs;
	/* An extended-protocol error: the server discards every message up
	 * to the next Sync (Query and FunctionCall too, unanswered). */
	int skipping;
	/* COPY FROM STDIN is on and the client has not ended it: the server
	 * ignores the Syncs it reads meanwhile (they are owed nothing). */
	int copy_in;
	int lost;		/* what the server answers can no longer be told: the
				 * next server message is reported as not fitting */
	results_finished_fn finished;
	void *finished_ctx;
};

int extended_init(struct extended *x, int redact_params, size_t max_param_bytes);
/* Each statement's result, once finished, goes to fn (none by default). */
void extended_set_finished(struct extended *x, results_finished_fn fn, void *ctx);
/* Finishes every result still owed with status (the session ended), then
 * forgets what is owed. */
void extended_abandon(struct extended *x, const char *status);
/* Frees what is owed without finishing it. */
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
/* What the client (or the relay, injected = 1) sent that the server will
 * answer, in the order sent: type is the message type ('P', 'B', 'D',
 * 'E', 'C', 'S', 'Q', 'F'; others owe nothing); body is the message body
 * (for Bind, Describe and Execute the portal is looked up by name now).
 * Returns 0 or -1 (out of memory). A Query, Execute or FunctionCall gets
 * a result with no intent (nothing is recorded for it). */
int extended_owe(struct extended *x, char type, const uint8_t *body, size_t len, int injected);
/* The same for a client's message (injected = 0); a Query, Execute or
 * FunctionCall's result starts as start says (intent_seq, number,
 * start_us; copied). */
int extended_owe_statement(struct extended *x, char type, const uint8_t *body, size_t len,
    const struct pending *start);
/* The result of the statement the server is answering now: the first
 * Query, Execute or FunctionCall owed, unless a Sync is owed before it.
 * NULL: none. */
struct pending *extended_current_result(const struct extended *x);
/* Whether statement number (nonzero) still waits for its result. */
int extended_waiting(const struct extended *x, uint64_t number);
/* A server message: advances what is owed. *swallow is set when the
 * message answers something the relay itself sent (never forwarded).
 * Returns 0, or -1 when the message does not fit what is owed (the
 * caller fails closed where that matters). */
int extended_on_server(struct extended *x, char type, const uint8_t *msg, size_t len,
    int *swallow);
/* The row shape of a DataRow arriving now: the shape the answered
 * Execute's portal was described with, or the Query's last
 * RowDescription. NULL: unknown. */
struct row_shape *extended_row_shape(const struct extended *x);
/* An Execute (its body) of a portal whose shape is unknown and that no
 * Describe was sent for: the relay describes it itself first. */
int extended_needs_describe(const struct extended *x, const uint8_t *body, size_t len);
/* Whether a Sync the client sends now will be answered (not during a
 * COPY FROM STDIN, whose server ignores Syncs). */
int extended_sync_answered(const struct extended *x);
/* An Execute (its body) of a FETCH or EXECUTE portal whose columns may
 * no longer be the ones it was described with: a statement was sent
 * between its Bind and its first Execute. */
int extended_forwarded_stale(const struct extended *x, const uint8_t *body, size_t len);
/* A ReadyForQuery is owed (a Sync, Query or FunctionCall was sent). */
int extended_ready_owed(const struct extended *x);
/* Nothing is owed: every message sent was answered. */
int extended_idle(const struct extended *x);
void row_shape_unref(struct row_shape *s);

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
