#include "audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgproto.h"
#include "sock.h"

void
audit_init(struct audit *a, const char *socket, int timeout_ms)
{
	memset(a, 0, sizeof *a);
	a->socket = socket;
	a->timeout_ms = timeout_ms;
	a->c.fd = -1;
}

static void
disconnect(struct audit *a)
{
	ipc_client_close(&a->c);
	a->nsent = 0;
}

/* Appends one append request line for rec to b. */
static int
put_request(struct pgbuf *b, json_t *rec)
{
	json_t *req = json_pack("{s:i, s:s, s:O}", "v", PGWARD_IPC_VERSION, "op", "append",
	    "record", rec);
	char *line = req ? json_dumps(req, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(req);
	if (line == NULL)
		return -1;
	pgbuf_put(b, line, strlen(line));
	pgbuf_put_u8(b, '\n');
	free(line);
	return b->failed ? -1 : 0;
}

/* Sends every queued record not yet on this connection, and rec if given,
 * in one write: the queue rides along with the next intent. */
static int
send_pending(struct audit *a, json_t *rec, char *err, size_t errlen)
{
	if (a->c.fd < 0) {
		a->nsent = 0;
		if (ipc_client_open(&a->c, a->socket, a->timeout_ms, err, errlen) != 0)
			return -1;
	}
	if (a->nsent == a->nunacked && rec == NULL)
		return 0;
	struct pgbuf b;
	pgbuf_init(&b);
	int rc = 0;
	for (int i = a->nsent; i < a->nunacked && rc == 0; i++)
		rc = put_request(&b, a->unacked[i]);
	if (rc == 0 && rec != NULL)
		rc = put_request(&b, rec);
	if (rc != 0) {
		pgbuf_free(&b);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (sock_write_all(a->c.fd, b.data, b.len, a->timeout_ms) != 0) {
		snprintf(err, errlen, "%s", errno == ETIMEDOUT ? "timed out" : strerror(errno));
		pgbuf_free(&b);
		disconnect(a);
		return -1;
	}
	pgbuf_free(&b);
	a->nsent = a->nunacked;
	return 0;
}

/* Reads one reply; 0 ok (with *seq), 1 refused by logd (err), -1 broken. */
static int
read_reply(struct audit *a, uint64_t *seq, char *err, size_t errlen)
{
	json_t *reply;
	if (ipc_client_recv(&a->c, &reply, a->timeout_ms, err, errlen) != 0) {
		disconnect(a);
		return -1;
	}
	int rc = 0;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		snprintf(err, errlen, "pgward-logd refused the record: %s", e ? e : "no reason");
		rc = 1;
	} else if (seq != NULL) {
		*seq = (uint64_t)json_integer_value(json_object_get(reply, "seq"));
	}
	json_decref(reply);
	return rc;
}

/* What stands in the log for a queued record logd will never take (too
 * large): its identifying members and why the rest is missing. */
static json_t *
stand_in(json_t *rec, const char *why)
{
	static const char *const keep[] = { "type", "session", "user", "principal", "actor",
		"client_id", "n", "intent", "status", "duration_ms", "tags", "rows", "sqlstate",
		"reason", "statements" };
	json_t *s = json_object();
	for (size_t i = 0; s != NULL && i < sizeof keep / sizeof keep[0]; i++) {
		json_t *v = json_object_get(rec, keep[i]);
		if (v != NULL)
			json_object_set(s, keep[i], v);
	}
	if (s != NULL)
		json_object_set_new(s, "dropped", json_string(why));
	return s;
}

static int
refused_for_size(const char *err)
{
	return strstr(err, "record too large") != NULL;
}

/* Collects the replies for queued records that were sent. A refused one
 * (disk full) stays queued and the connection is dropped, so it and the
 * rest are sent again later, in order. One logd will never take (too
 * large) is replaced by a stand-in, queued to go next. */
static int
drain_acks(struct audit *a, char *err, size_t errlen)
{
	while (a->nsent > 0) {
		int rc = read_reply(a, NULL, err, errlen);
		json_t *replacement = NULL;
		if (rc == 1 && refused_for_size(err)) {
			replacement = stand_in(a->unacked[0], err);
			const char *type = json_string_value(json_object_get(a->unacked[0], "type"));
			log_error("audit record (%s) refused as too large; a shorter one "
			    "stands in for it", type ? type : "?");
		}
		if (rc != 0 && replacement == NULL) {
			disconnect(a);
			return -1;
		}
		json_decref(a->unacked[0]);
		memmove(a->unacked, a->unacked + 1, (size_t)(a->nunacked - 1) * sizeof a->unacked[0]);
		a->nunacked--;
		a->nsent--;
		if (replacement != NULL)
			a->unacked[a->nunacked++] = replacement;
	}
	return 0;
}

int
audit_append_durable(struct audit *a, json_t *rec, uint64_t *seq, char *err,
    size_t errlen)
{
	/* A kept connection may have been closed by a logd restart since its
	 * last use: then everything is tried once more on a new one (a failed
	 * send delivered nothing; queued records are sent again). */
	int reused = a->c.fd >= 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (send_pending(a, rec, err, errlen) != 0) {
			if (reused && attempt == 0)
				continue;
			return -1;
		}
		if (drain_acks(a, err, errlen) != 0) {
			if (reused && attempt == 0 && a->c.fd < 0) {
				/* The intent was sent on a dead connection: not read. */
				continue;
			}
			return -1;
		}
		return read_reply(a, seq, err, errlen) == 0 ? 0 : -1;
	}
	return -1;
}

void
audit_append_later(struct audit *a, json_t *rec)
{
	char err[256];
	if (a->nunacked == AUDIT_MAX_UNACKED) {
		/* Bounded memory: wait for logd rather than drop anything. */
		if (send_pending(a, NULL, err, sizeof err) != 0 ||
		    drain_acks(a, err, sizeof err) != 0) {
			log_error("audit record lost: %s, and %d records are waiting",
			    err, a->nunacked);
			json_decref(rec);
			return;
		}
	}
	a->unacked[a->nunacked++] = rec;
	/* Sent with the next intent, or by audit_flush when the session idles. */
	if (a->nunacked - a->nsent >= AUDIT_BATCH && send_pending(a, NULL, err, sizeof err) != 0)
		log_debug("audit records queued: %s", err);
}

void
audit_flush(struct audit *a)
{
	char err[256];
	if (a->nunacked > a->nsent && send_pending(a, NULL, err, sizeof err) != 0)
		log_debug("audit records queued: %s", err);
}

int
audit_finish(struct audit *a, int timeout_ms)
{
	char err[256];
	long saved = a->timeout_ms;
	a->timeout_ms = timeout_ms;
	if (a->nunacked > 0 &&
	    (send_pending(a, NULL, err, sizeof err) != 0 || drain_acks(a, err, sizeof err) != 0))
		log_error("%d audit records not confirmed by pgward-logd: %s", a->nunacked, err);
	a->timeout_ms = (int)saved;
	int lost = a->nunacked;
	for (int i = 0; i < a->nunacked; i++)
		json_decref(a->unacked[i]);
	a->nunacked = 0;
	disconnect(a);
	return lost;
}
