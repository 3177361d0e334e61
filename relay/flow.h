#ifndef PGWARD_RELAY_FLOW_H
#define PGWARD_RELAY_FLOW_H

/* One direction of a session's byte stream, cut into protocol messages.
 * Bytes in [start, ready) are whole or passing-through messages cleared
 * for sending; [ready, len) is not yet examined. A message whose type the
 * owner wants to inspect is held until it is complete (up to the message
 * size limit); any other message streams through as it arrives, so memory
 * stays bounded whatever the result size. */

#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"

#define FLOW_DEFAULT_CAP (64 * 1024)

enum flow_verdict {
	FLOW_FORWARD,	/* send the message on */
	FLOW_STOP,	/* drop it and everything after it */
	FLOW_REPLACE,	/* send flow_replace()'s bytes instead */
};

struct flow {
	uint8_t *buf;
	size_t cap;
	size_t start;
	size_t ready;
	size_t len;
	size_t pass;		/* body bytes of a streaming message still to come */
	size_t max_message;
	int eof;
	int stopped;
	int paused;		/* the owner holds later messages back: none is examined */
	/* Which message types are held whole and shown to inspect(). */
	const char *inspect_types;
	enum flow_verdict (*inspect)(void *ctx, char type, const uint8_t *msg, size_t len);
	void *ctx;
	char error[128];
	uint8_t *replacement;
	size_t replacement_len;
};

int flow_init(struct flow *f, size_t max_message, const char *inspect_types,
    enum flow_verdict (*inspect)(void *, char, const uint8_t *, size_t), void *ctx);
void flow_free(struct flow *f);
/* Reads what the endpoint has. Returns 0, or -1 on error (ep->error). */
int flow_fill(struct flow *f, struct endpoint *ep);
/* Cuts the new bytes into messages. Returns 0, or -1 on a protocol
 * violation (f->error). */
int flow_scan(struct flow *f);
/* Sends cleared bytes. Returns 0, or -1 on error (ep->error). */
int flow_drain(struct flow *f, struct endpoint *ep);
/* Appends a whole message of our own after the cleared bytes; only
 * valid at a message boundary (pass == 0). Returns 0 or -1. */
int flow_append(struct flow *f, const void *msg, size_t len);
/* Puts a whole message of our own at the examined point, before the
 * bytes not yet examined (held while paused); only valid at a message
 * boundary (pass == 0). Returns 0 or -1. */
int flow_insert(struct flow *f, const void *msg, size_t len);
/* From inside inspect(): the message to send in place of the one shown.
 * Returns 0 or -1 (out of memory: treat as FLOW_STOP). */
int flow_replace(struct flow *f, const void *msg, size_t len);
int flow_has_space(const struct flow *f);
int flow_has_output(const struct flow *f);
int flow_at_boundary(const struct flow *f);

#endif
