#include "records.h"

#include <string.h>
#include <unistd.h>

#include "extended.h"

/* The start of every record: its type, the session and who acts in it
 * (docs/audit-records.md), then the members of rest (taken). */
static json_t *
record_head(const struct relay_session *s, const char *type, json_t *rest)
{
	json_t *r = rest == NULL ? NULL : json_pack("{s:s, s:s, s:s, s:s, s:o, s:s*}",
	    "type", type,
	    "session", s->session_id,
	    "user", s->id.user,
	    "principal", relay_identity_principal(&s->id),
	    "actor", relay_identity_actor_json(&s->id),
	    "client_id", s->id.client_id);
	if (r != NULL && json_object_update(r, rest) != 0) {
		json_decref(r);
		r = NULL;
	}
	json_decref(rest);
	return r;
}

json_t *
record_session_start(const struct relay_session *s)
{
	json_t *r = record_head(s, "session_start",
	    json_pack("{s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i}",
	    "groups", relay_identity_groups(&s->id),
	    "iss", s->id.iss,
	    "sub", s->id.sub,
	    "client", s->client_addr,
	    "tls", s->client.ssl ? SSL_get_version(s->client.ssl) : "none",
	    "connection", s->connection,
	    "role", s->role,
	    "backend_pid", s->up.backend_pid,
	    "relay_pid", (int)getpid()));
	/* Masking the database enforces: the role that really logged in. */
	if (r != NULL && s->mask_profile != NULL) {
		json_object_set_new(r, "upstream_role", json_string(s->upstream_role));
		json_object_set_new(r, "mask_profile", json_string(s->mask_profile->id));
	}
	return r;
}

json_t *
record_session_end(const struct relay_session *s, const char *reason, uint64_t statements)
{
	return record_head(s, "session_end", json_pack("{s:s, s:I}",
	    "reason", reason,
	    "statements", (json_int_t)statements));
}

json_t *
record_intent(const struct relay_session *s, uint64_t number, const char *protocol)
{
	return record_head(s, "intent", json_pack("{s:o, s:s, s:s, s:I, s:s, s:s}",
	    "groups", relay_identity_groups(&s->id),
	    "connection", s->connection,
	    "role", s->role,
	    "n", (json_int_t)number,
	    "protocol", protocol,
	    "decision", "allow"));
}

json_t *
record_result(const struct relay_session *s, const struct pending *p, long long duration_us)
{
	json_t *r = record_head(s, "result", json_pack("{s:I, s:I, s:s, s:f}",
	    "n", (json_int_t)p->number,
	    "intent", (json_int_t)p->intent_seq,
	    "status", p->status,
	    "duration_ms", (double)duration_us / 1000.0));
	if (r == NULL)
		return NULL;
	json_object_set_new(r, "tags", p->tags ? json_incref(p->tags) : json_array());
	if (p->has_rows)
		json_object_set_new(r, "rows", json_integer(p->rows));
	if (p->sqlstate[0] != '\0')
		json_object_set_new(r, "sqlstate", json_string(p->sqlstate));
	if (p->recorded != NULL)
		json_object_set(r, "recorded", p->recorded);
	if (p->row_guard != NULL)
		json_object_set(r, "row_guard", p->row_guard);
	if (p->message != NULL)
		json_object_set_new(r, "message",
		    extended_text_json((const uint8_t *)p->message, strlen(p->message)));
	return r;
}
