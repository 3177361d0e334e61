#ifndef PGWARD_RELAY_AUDIT_H
#define PGWARD_RELAY_AUDIT_H

/* The session's connection to pgward-logd (docs/logd-protocol.md).
 * Intent records are appended durably: the call returns only once logd
 * acknowledged them. Other records (results, session end) are queued, sent
 * in the same write as the next intent (or when the session idles), kept
 * until acknowledged and sent again after a reconnect, so a logd restart
 * loses none. */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc.h"

#define AUDIT_MAX_UNACKED 1024
/* Queued records are sent with the next intent, or once this many wait. */
#define AUDIT_BATCH 32

struct audit {
	const char *socket;
	int timeout_ms;
	struct ipc_client c;
	/* Records sent without waiting, oldest first, until acknowledged. */
	json_t *unacked[AUDIT_MAX_UNACKED];
	int nunacked;
	int nsent;		/* how many of unacked are on the current connection */
};

void audit_init(struct audit *a, const char *socket, int timeout_ms);
/* Appends rec and waits until it is durable. Returns 0 with *seq, or -1
 * with the reason in err (logd down, slow, full, or refusing). */
int audit_append_durable(struct audit *a, json_t *rec, uint64_t *seq, char *err,
    size_t errlen);
/* Queues rec (the audit takes the reference); sends it now if it can. */
void audit_append_later(struct audit *a, json_t *rec);
/* Sends queued records now (the session is idle). */
void audit_flush(struct audit *a);
/* Waits (bounded) for everything queued, then closes. Returns how many
 * records could not be confirmed. */
int audit_finish(struct audit *a, int timeout_ms);

#endif
