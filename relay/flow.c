#include "flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgproto.h"

static void flow_compact(struct flow *f);

int
flow_init(struct flow *f, size_t max_message, const char *inspect_types,
    enum flow_verdict (*inspect)(void *, char, const uint8_t *, size_t), void *ctx)
{
	memset(f, 0, sizeof *f);
	f->buf = malloc(FLOW_DEFAULT_CAP);
	if (f->buf == NULL)
		return -1;
	f->cap = FLOW_DEFAULT_CAP;
	f->max_message = max_message;
	f->inspect_types = inspect_types ? inspect_types : "";
	f->inspect = inspect;
	f->ctx = ctx;
	return 0;
}

void
flow_free(struct flow *f)
{
	free(f->buf);
	free(f->replacement);
	f->buf = NULL;
	f->replacement = NULL;
}

int
flow_replace(struct flow *f, const void *msg, size_t len)
{
	uint8_t *r = realloc(f->replacement, len ? len : 1);
	if (r == NULL)
		return -1;
	if (len > 0)
		memcpy(r, msg, len);
	f->replacement = r;
	f->replacement_len = len;
	return 0;
}

/* Puts the replacement where the message of total bytes at ready was. */
static int
splice_replacement(struct flow *f, size_t total)
{
	size_t newlen = f->replacement_len;
	size_t tail = f->len - (f->ready + total);
	if (newlen > total && f->cap - f->len < newlen - total) {
		size_t need = f->len - f->start + newlen - total;
		flow_compact(f);
		if (need > f->cap) {
			uint8_t *n = realloc(f->buf, need);
			if (n == NULL)
				return -1;
			f->buf = n;
			f->cap = need;
		}
	}
	memmove(f->buf + f->ready + newlen, f->buf + f->ready + total, tail);
	memcpy(f->buf + f->ready, f->replacement, newlen);
	f->len = f->ready + newlen + tail;
	f->ready += newlen;
	return 0;
}

static void
flow_compact(struct flow *f)
{
	if (f->start == 0)
		return;
	memmove(f->buf, f->buf + f->start, f->len - f->start);
	f->ready -= f->start;
	f->len -= f->start;
	f->start = 0;
}

static int
flow_reserve(struct flow *f, size_t total_from_ready)
{
	flow_compact(f);
	size_t need = f->ready + total_from_ready;
	if (need <= f->cap)
		return 0;
	uint8_t *n = realloc(f->buf, need);
	if (n == NULL) {
		snprintf(f->error, sizeof f->error, "out of memory for a %zu-byte message", need);
		return -1;
	}
	f->buf = n;
	f->cap = need;
	return 0;
}

int
flow_has_space(const struct flow *f)
{
	return !f->stopped && !f->eof && (f->len < f->cap || f->start > 0);
}

int
flow_has_output(const struct flow *f)
{
	return f->ready > f->start;
}

int
flow_at_boundary(const struct flow *f)
{
	return f->pass == 0 && f->ready == f->len;
}

int
flow_fill(struct flow *f, struct endpoint *ep)
{
	for (;;) {
		if (f->len == f->cap)
			flow_compact(f);
		size_t space = f->cap - f->len;
		if (space == 0)
			return 0;
		ssize_t n = endpoint_read(ep, f->buf + f->len, space);
		if (n > 0) {
			f->len += (size_t)n;
			/* A short read drained the socket; TLS may still hold more. */
			if ((size_t)n < space && !endpoint_pending(ep))
				return 0;
			continue;
		}
		if (n == EP_AGAIN)
			return 0;
		if (n == EP_EOF) {
			f->eof = 1;
			return 0;
		}
		return -1;
	}
}

int
flow_scan(struct flow *f)
{
	while (f->ready < f->len && !f->stopped && !f->paused) {
		size_t avail = f->len - f->ready;
		if (f->pass > 0) {
			size_t n = avail < f->pass ? avail : f->pass;
			f->ready += n;
			f->pass -= n;
			continue;
		}
		if (avail < 5) {
			if (f->cap - f->ready < 5)
				flow_compact(f);
			break;
		}
		const uint8_t *m = f->buf + f->ready;
		char type = (char)m[0];
		uint32_t mlen = pg_be32(m + 1);
		if (mlen < 4 || mlen > f->max_message) {
			snprintf(f->error, sizeof f->error,
			    "invalid length %u of message type 0x%02x", mlen, (unsigned char)type);
			return -1;
		}
		size_t total = (size_t)mlen + 1;
		if (strchr(f->inspect_types, type) == NULL || type == '\0') {
			f->ready += 5;
			f->pass = mlen - 4;
			continue;
		}
		if (avail < total) {
			if (f->cap - f->ready < total && flow_reserve(f, total) != 0)
				return -1;
			break;
		}
		enum flow_verdict v = f->inspect(f->ctx, type, m, total);
		if (v == FLOW_REPLACE && splice_replacement(f, total) != 0)
			v = FLOW_STOP;
		if (v == FLOW_STOP) {
			f->stopped = 1;
			f->len = f->ready;
			break;
		}
		if (v == FLOW_FORWARD)
			f->ready += total;
	}
	return 0;
}

int
flow_drain(struct flow *f, struct endpoint *ep)
{
	while (f->ready > f->start) {
		ssize_t n = endpoint_write(ep, f->buf + f->start, f->ready - f->start);
		if (n > 0) {
			f->start += (size_t)n;
			continue;
		}
		if (n == EP_AGAIN)
			return 0;
		return -1;
	}
	if (f->start == f->len) {
		f->start = f->ready = f->len = 0;
		if (f->cap > FLOW_DEFAULT_CAP) {
			uint8_t *n = realloc(f->buf, FLOW_DEFAULT_CAP);
			if (n != NULL) {
				f->buf = n;
				f->cap = FLOW_DEFAULT_CAP;
			}
		}
	}
	return 0;
}

int
flow_append(struct flow *f, const void *msg, size_t len)
{
	if (f->pass != 0 || f->ready != f->len)
		return -1;
	if (f->cap - f->len < len && flow_reserve(f, len) != 0)
		return -1;
	memcpy(f->buf + f->len, msg, len);
	f->len += len;
	f->ready = f->len;
	return 0;
}

int
flow_insert(struct flow *f, const void *msg, size_t len)
{
	if (f->pass != 0)
		return -1;
	size_t tail = f->len - f->ready;
	if (f->cap - f->len < len) {
		flow_compact(f);
		if (f->cap - f->len < len) {
			uint8_t *n = realloc(f->buf, f->len + len);
			if (n == NULL)
				return -1;
			f->buf = n;
			f->cap = f->len + len;
		}
	}
	memmove(f->buf + f->ready + len, f->buf + f->ready, tail);
	memcpy(f->buf + f->ready, msg, len);
	f->ready += len;
	f->len += len;
	return 0;
}
