#ifndef PGWARD_RELAY_ROWGUARD_H
#define PGWARD_RELAY_ROWGUARD_H

/* The row guard (policy max-rows N, docs/policy.md): a DELETE, UPDATE or
 * MERGE whose decision carries a row limit runs so that it can still be
 * undone when its CommandComplete arrives, and is undone when the tag
 * reports more than N rows. One statement is guarded at a time; meanwhile
 * the client's later messages wait in the client flow (paused).
 *
 * Extended protocol: nothing goes before the Execute. What it changes
 * stays undoable until a Sync, and the Sync is among the held messages
 * (the implicit transaction; or the client's block). The Execute goes
 * with a Flush. Over the limit, or when the portal is suspended (rows
 * unknown), its CommandComplete is dropped and a message the server fails
 * goes before the held ones (a refusal: proxy.c rewrites its error to the
 * guard's), so the server fails the transaction and skips to the Sync
 * exactly as after an error of its own.
 *
 * Simple Query in the client's block ('T'): the same, the failing Query
 * after the statement's ReadyForQuery (which is dropped). Outside a block
 * ('I'): BEGIN, then the statement once BEGIN succeeded, then COMMIT, whose
 * CommandComplete is replaced by the statement's; or ROLLBACK, whose
 * CommandComplete is replaced by the guard's error. In a failed block
 * ('E') the server refuses the statement itself. A guarded Query needs the
 * server's state known (nothing before it unanswered); otherwise it is
 * refused.
 *
 * Answers to the relay's own messages never reach the client, the results
 * or the protocol state: each client Query and Sync gets one
 * ReadyForQuery. A failed ROLLBACK ends the session (the server then
 * rolls back). What the guard did goes on the statement's result record
 * ("row_guard"). */

#include <stddef.h>
#include <stdint.h>

#include "extended.h"
#include "flow.h"
#include "pgproto.h"

enum rowguard_phase {
	RG_IDLE,
	RG_EXTENDED,		/* the Execute is on */
	RG_BLOCK,		/* the Query is on, in the client's block */
	RG_BLOCK_REFUSE,	/* and the refusal after it */
	RG_BEGIN,		/* BEGIN is on; the Query is held */
	RG_OWN,			/* the Query is on, in the relay's block */
	RG_COMMIT,
	RG_ROLLBACK,
};

enum rowguard_verdict {
	RG_PASS,		/* the message goes on as usual */
	RG_DROP,		/* nobody sees it */
	RG_SUBSTITUTE,		/* *sub goes on in its place */
	RG_FATAL,		/* the session must end (error says why) */
};

/* Builds into out a message of type ('Q' or 'B') that the server fails,
 * its error replaced by (sqlstate, message). Returns 0 or -1. */
typedef int (*rowguard_refusal_fn)(void *ctx, char type, const char *sqlstate,
    const char *message, struct pgbuf *out);

struct rowguard {
	struct flow *c2s;
	const struct extended *x;	/* whose results the guard's verdict goes on */
	rowguard_refusal_fn refusal;
	void *ctx;
	int error_since_ready;	/* an ErrorResponse went to the client since the last
				 * ReadyForQuery */
	int extended_open;	/* extended messages since the last Sync */
	enum rowguard_phase phase;
	uint64_t number;	/* the guarded statement's (its struct pending) */
	long limit;
	char rule[128];
	int over;		/* the statement went over the limit */
	int failed;		/* the statement or BEGIN failed */
	struct pgbuf held;	/* the Query (RG_BEGIN), its CommandComplete (RG_COMMIT) */
	struct pgbuf sub;
	int resumed;
	char error[200];
};

void rowguard_init(struct rowguard *g, struct flow *c2s, const struct extended *x,
    rowguard_refusal_fn refusal, void *ctx);
void rowguard_free(struct rowguard *g);
/* Every client message, before it is acted on. */
void rowguard_on_client(struct rowguard *g, char type);
/* From the client flow's inspect(): a Query or Execute (type, body)
 * cleared to run, whose result is pending as number, under the limit of
 * rule. Returns the verdict for the message. */
enum flow_verdict rowguard_start(struct rowguard *g, char type, const uint8_t *body,
    size_t len, uint64_t number, long limit, const char *rule);
/* Every server message (whole), before anything else looks at it. */
enum rowguard_verdict rowguard_on_server(struct rowguard *g, char type, const uint8_t *msg,
    size_t len, const uint8_t **sub, size_t *sublen);
/* After server messages were handled: 1 when the held client messages
 * may go on (the caller scans the client flow again). */
int rowguard_poll(struct rowguard *g);

#endif
