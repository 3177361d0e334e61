#ifndef PGWARD_RELAY_RESULTS_H
#define PGWARD_RELAY_RESULTS_H

/* One statement's result, as its result record says it (relay/records.h):
 * command tags, rows, error, status, and what recording and the row guard
 * add. Which server message belongs to which statement is decided in one
 * place, relay/extended.h, which keeps a struct pending on every Query,
 * Execute and FunctionCall it owes an answer to and finishes it when that
 * answer is complete. */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct pending {
	uint64_t intent_seq;	/* 0: nothing to record (refused, or no audit trail) */
	uint64_t number;	/* statement number in the session */
	long long start_us;
	json_t *tags;
	long long rows;
	int has_rows;
	char sqlstate[6];
	char *message;
	/* "ok", "error", "suspended", "skipped" (after an earlier error), or
	 * "interrupted" (the session ended first) */
	const char *status;
	json_t *recorded;	/* result sets recorded (recording.h), or NULL */
	long recorded_rows;
	size_t recorded_bytes;
	json_t *row_guard;	/* what the row guard did (relay/rowguard.h), or NULL */
};

/* Called for each finished statement with an intent, in the order sent. */
typedef void (*results_finished_fn)(void *ctx, const struct pending *p, long long duration_us);

/* A CommandComplete's tag (NUL-terminated): appended, its rows counted. */
void results_add_tag(struct pending *p, const char *tag);
/* An ErrorResponse's body: its SQLSTATE and first message; status "error". */
void results_set_error(struct pending *p, const uint8_t *body, size_t len);
void results_clear(struct pending *p);

/* Rows from a command tag ("SELECT 3", "INSERT 0 5", "UPDATE 2" ...); -1 if none. */
long long results_tag_rows(const char *tag);

long long results_now_us(void);

#endif
