#ifndef PGWARD_RELAY_RESULTS_H
#define PGWARD_RELAY_RESULTS_H

/* Statements sent to the server whose results have not come back, in
 * order, so each result (command tags, rows, error, duration) can be tied
 * to its intent record. The server answers in order: CommandComplete,
 * EmptyQueryResponse, PortalSuspended or ErrorResponse end an Execute; a
 * Query or FunctionCall ends at its ReadyForQuery; an Execute skipped
 * after an earlier error ends at the Sync's ReadyForQuery. */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum pending_kind {
	PENDING_QUERY,
	PENDING_EXECUTE,
	PENDING_FUNCTION,
	PENDING_SYNC,
};

struct pending {
	enum pending_kind kind;
	uint64_t intent_seq;	/* 0: nothing to record (refused, or a Sync) */
	uint64_t number;	/* statement number in the session */
	long long start_us;
	json_t *tags;
	long long rows;
	int has_rows;
	char sqlstate[6];
	char *message;
	const char *status;	/* "ok", "error", "suspended", "skipped" */
	json_t *recorded;	/* result sets recorded (recording.h), or NULL */
	long recorded_rows;
	size_t recorded_bytes;
	json_t *row_guard;	/* what the row guard did (relay/rowguard.h), or NULL */
};

struct results {
	struct pending *items;
	size_t head;
	size_t count;
	size_t cap;
	/* Called for each finished statement with an intent; takes nothing. */
	void (*finished)(void *ctx, const struct pending *p, long long duration_us);
	void *ctx;
	/* An extended-protocol error: the server discards everything up to
	 * the next Sync, Queries and FunctionCalls too (set by the caller,
	 * from relay/extended.h, which knows what the error answered). */
	int skipping;
};

void results_init(struct results *r, void (*finished)(void *, const struct pending *, long long),
    void *ctx);
void results_free(struct results *r);
int results_push(struct results *r, enum pending_kind kind, uint64_t intent_seq, uint64_t number);

/* The statement the server is answering now, or NULL. */
struct pending *results_current(struct results *r);
/* Whether statement number (nonzero) still waits for its result. */
int results_waiting(const struct results *r, uint64_t number);

/* Server messages (whole message, type byte first). */
void results_on_message(struct results *r, char type, const uint8_t *msg, size_t len);

/* The server ignored n Syncs (a COPY FROM STDIN read them): the first n
 * waiting Syncs after the current statement answer nothing. */
void results_void_syncs(struct results *r, uint64_t n);

/* Finishes every statement still waiting (the session ended), with status. */
void results_abandon(struct results *r, const char *status);

/* Rows from a command tag ("SELECT 3", "INSERT 0 5", "UPDATE 2" ...); -1 if none. */
long long results_tag_rows(const char *tag);

long long results_now_us(void);

#endif
