#include "audit.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

void
audit_init(struct audit *a, const char *socket, int timeout_ms)
{
	memset(a, 0, sizeof *a);
	a->socket = socket;
	a->timeout_ms = timeout_ms;
	a->c.fd = -1;
}

static json_t *
append_request(json_t *rec)
{
	return json_pack("{s:i, s:s, s:O}", "v", PGWARD_IPC_VERSION, "op", "append",
	    "record", rec);
}

static void
disconnect(struct audit *a)
{
	ipc_client_close(&a->c);
	a->nsent = 0;
}

static int
send_record(struct audit *a, json_t *rec, char *err, size_t errlen)
{
	json_t *req = append_request(rec);
	if (req == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int rc = ipc_client_send(&a->c, req, a->timeout_ms, err, errlen);
	json_decref(req);
	return rc;
}

/* Connects if needed and (re)sends queued records not on this connection. */
static int
ensure_connected(struct audit *a, char *err, size_t errlen)
{
	if (a->c.fd < 0) {
		a->nsent = 0;
		if (ipc_client_open(&a->c, a->socket, a->timeout_ms, err, errlen) != 0)
			return -1;
	}
	while (a->nsent < a->nunacked) {
		if (send_record(a, a->unacked[a->nsent], err, errlen) != 0) {
			disconnect(a);
			return -1;
		}
		a->nsent++;
	}
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

/* Collects the replies for queued records. */
static int
drain_acks(struct audit *a, char *err, size_t errlen)
{
	while (a->nsent > 0) {
		int rc = read_reply(a, NULL, err, errlen);
		if (rc < 0)
			return -1;
		/* A refused record (disk full) stays queued for the next try. */
		if (rc > 0) {
			disconnect(a);
			return -1;
		}
		json_decref(a->unacked[0]);
		memmove(a->unacked, a->unacked + 1, (size_t)(a->nunacked - 1) * sizeof a->unacked[0]);
		a->nunacked--;
		a->nsent--;
	}
	return 0;
}

int
audit_append_durable(struct audit *a, json_t *rec, uint64_t *seq, char *err,
    size_t errlen)
{
	int reused = a->c.fd >= 0;
	if (ensure_connected(a, err, errlen) != 0 || drain_acks(a, err, errlen) != 0) {
		/* A logd restart since the last record: try once on a new
		 * connection (queued records are resent there). */
		if (!reused || ensure_connected(a, err, errlen) != 0 ||
		    drain_acks(a, err, errlen) != 0)
			return -1;
		reused = 0;
	}
	if (send_record(a, rec, err, errlen) != 0) {
		disconnect(a);
		/* Nothing of it was read if the send failed: safe to repeat. */
		if (!reused || ensure_connected(a, err, errlen) != 0 ||
		    send_record(a, rec, err, errlen) != 0) {
			disconnect(a);
			return -1;
		}
	}
	int rc = read_reply(a, seq, err, errlen);
	return rc == 0 ? 0 : -1;
}

void
audit_append_later(struct audit *a, json_t *rec)
{
	char err[256];
	if (a->nunacked == AUDIT_MAX_UNACKED) {
		/* Bounded memory: wait for logd rather than drop anything. */
		if (ensure_connected(a, err, sizeof err) != 0 ||
		    drain_acks(a, err, sizeof err) != 0) {
			log_error("audit record lost: %s, and %d records are waiting",
			    err, a->nunacked);
			json_decref(rec);
			return;
		}
	}
	a->unacked[a->nunacked++] = rec;
	if (ensure_connected(a, err, sizeof err) != 0)
		log_debug("audit record queued: %s", err);
}

int
audit_finish(struct audit *a, int timeout_ms)
{
	char err[256];
	long saved = a->timeout_ms;
	a->timeout_ms = timeout_ms;
	if (a->nunacked > 0 &&
	    (ensure_connected(a, err, sizeof err) != 0 || drain_acks(a, err, sizeof err) != 0))
		log_error("%d audit records not confirmed by pgward-logd: %s", a->nunacked, err);
	a->timeout_ms = (int)saved;
	int lost = a->nunacked;
	for (int i = 0; i < a->nunacked; i++)
		json_decref(a->unacked[i]);
	a->nunacked = 0;
	disconnect(a);
	return lost;
}
