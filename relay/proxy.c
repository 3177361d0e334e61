#include <errno.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "extended.h"
#include "flow.h"
#include "log.h"
#include "pgproto.h"
#include "policy.h"
#include "recording.h"
#include "records.h"
#include "results.h"
#include "rowguard.h"
#include "session.h"
#include "sock.h"

/* Client messages held whole: the ones that run statements or change
 * what later ones run, the end of a COPY FROM STDIN, and Terminate. */
#define CLIENT_INSPECT "QPBEFCSXDcf"
/* Server messages that answer what the client sent (extended.h keeps
 * what is owed), and with masking those that carry data. */
#define SERVER_INSPECT "123tnTCEIsZG"
#define SERVER_INSPECT_MASKING "123tnTCEIsZGDHdNVAS"

#define REFUSAL_PREFIX "pgward_refused_"
#define MAX_REFUSALS 64

/* A statement the relay refused: the server is made to fail it (so a
 * transaction block fails exactly as for a server error), and its error,
 * recognised by the marker, is replaced by this one. */
struct refusal {
	int used;
	uint64_t generation;	/* syncs sent before it */
	char sqlstate[6];
	char message[300];
};

struct proxy;
static int refresh_catalog(struct proxy *p);
static enum flow_verdict dispatch_client(struct proxy *p, char type, const uint8_t *msg,
    size_t len);

struct proxy {
	struct relay_session *s;
	struct flow c2s;
	struct flow s2c;
	struct extended x;
	/* The result of the Query, Execute or FunctionCall being handled, as
	 * it starts (owed with it: extended_owe_statement). */
	struct pending start;
	struct recording recording;
	struct rowguard rg;
	uint64_t statements;
	char marker[40];	/* REFUSAL_PREFIX + session random + "_" */
	struct refusal refusals[MAX_REFUSALS];
	/* Why the session is ending, once it is; the client is told at the end. */
	const char *ending;
	const char *ending_sqlstate;
	char ending_message[256];
	char violation[200];
	int client_said_goodbye;
	/* Masking failed: the session ends before anything else is sent. */
	int masking_failed;
	struct pgbuf refusal_error;	/* a refusal's error, in place of the server's */
	/* DDL ran: the catalog is looked up again before the next statement. */
	int catalog_stale;
	int catalog_in_xact;	/* DDL in the transaction still open */
};

static const uint8_t terminate_msg[5] = { 'X', 0, 0, 0, 4 };

static void
proxy_end(struct proxy *p, const char *why, const char *sqlstate, const char *message)
{
	if (p->ending != NULL)
		return;
	p->ending = why;
	p->ending_sqlstate = sqlstate;
	snprintf(p->ending_message, sizeof p->ending_message, "%s", message);
}

static enum flow_verdict
protocol_violation(struct proxy *p, const char *what)
{
	snprintf(p->violation, sizeof p->violation, "%s", what);
	proxy_end(p, p->violation, "08P01", p->violation);
	return FLOW_STOP;
}

/* ---- refusals ---- */

static int
refusal_add(struct proxy *p, const char *sqlstate, const char *message)
{
	for (int i = 0; i < MAX_REFUSALS; i++) {
		struct refusal *r = &p->refusals[i];
		if (!r->used) {
			r->used = 1;
			r->generation = p->x.syncs_sent;
			snprintf(r->sqlstate, sizeof r->sqlstate, "%s", sqlstate);
			snprintf(r->message, sizeof r->message, "%s", message);
			return i;
		}
	}
	return -1;
}

/* Builds into out a message of type the server is sure to fail with an
 * error that names the marker, and no other effect. Returns 0, -1 when
 * too many refusals are in flight. */
static int
refusal_message(struct proxy *p, char type, const char *sqlstate, const char *message,
    struct pgbuf *out)
{
	int idx = refusal_add(p, sqlstate, message);
	if (idx < 0)
		return -1;
	char name[64];
	snprintf(name, sizeof name, "%s%d", p->marker, idx);
	switch (type) {
	case 'B':
		/* Bind to a statement that cannot exist: "prepared statement ... does not exist". */
		pgbuf_begin(out, 'B');
		pgbuf_put_str(out, "");
		pgbuf_put_str(out, name);
		pgbuf_put_u16(out, 0);
		pgbuf_put_u16(out, 0);
		pgbuf_put_u16(out, 0);
		pgbuf_end(out);
		break;
	case 'E':
		/* "portal ... does not exist" */
		pgbuf_begin(out, 'E');
		pgbuf_put_str(out, name);
		pgbuf_put_u32(out, 0);
		pgbuf_end(out);
		break;
	case 'P': {
		/* A syntax error at Parse, naming the marker. */
		pgbuf_begin(out, 'P');
		pgbuf_put_str(out, "");
		pgbuf_put_str(out, name);
		pgbuf_put_u16(out, 0);
		pgbuf_end(out);
		break;
	}
	default:
		/* Query and FunctionCall: a syntax error; answered by ReadyForQuery. */
		pgbuf_begin(out, 'Q');
		pgbuf_put_str(out, name);
		pgbuf_end(out);
		break;
	}
	return 0;
}

/* Replaces the client's message by a refusal. */
static enum flow_verdict
refuse(struct proxy *p, char type, const char *sqlstate, const char *message)
{
	struct pgbuf b;
	pgbuf_init(&b);
	if (refusal_message(p, type, sqlstate, message, &b) != 0) {
		pgbuf_free(&b);
		return protocol_violation(p, "pgward: too many refused statements in flight");
	}
	int rc = b.failed ? -1 : flow_replace(&p->c2s, b.data, b.len);
	pgbuf_free(&b);
	if (rc != 0)
		return protocol_violation(p, "out of memory");
	return FLOW_REPLACE;
}

static int
rowguard_refusal(void *ctx, char type, const char *sqlstate, const char *message,
    struct pgbuf *out)
{
	return refusal_message(ctx, type, sqlstate, message, out);
}

/* An ErrorResponse caused by a refusal becomes the refusal's error (in
 * out; 0 when it is not one). The rest of on_server_message treats it as
 * the server's: the server skips what it skips after any error. */
static int
rewrite_refusal_error(struct proxy *p, const uint8_t *msg, size_t len, struct pgbuf *out)
{
	struct pgread r;
	pgread_init(&r, msg + 5, len - 5);
	const char *text = NULL;
	for (;;) {
		uint8_t code = pgread_u8(&r);
		if (code == 0)
			break;
		const char *v = pgread_str(&r);
		if (v == NULL)
			break;
		if (code == 'M')
			text = v;
	}
	const char *at = text ? strstr(text, p->marker) : NULL;
	if (at == NULL)
		return 0;
	int idx = atoi(at + strlen(p->marker));
	if (idx < 0 || idx >= MAX_REFUSALS || !p->refusals[idx].used)
		return 0;
	struct refusal *ref = &p->refusals[idx];
	pgbuf_reset(out);
	pgmsg_error(out, "ERROR", ref->sqlstate, ref->message, NULL, NULL);
	ref->used = 0;
	return out->failed ? 0 : 1;
}

/* Refusals whose statement the server skipped (after an earlier error)
 * never come back; forget them once their Sync is answered. */
static void
refusals_expire(struct proxy *p)
{
	for (int i = 0; i < MAX_REFUSALS; i++)
		if (p->refusals[i].used && p->refusals[i].generation < p->x.readies_received)
			p->refusals[i].used = 0;
}

/* ---- audit ---- */

static void
on_statement_finished(void *ctx, const struct pending *pd, long long duration_us)
{
	struct proxy *p = ctx;
	if (p->s->audit_off)
		return;
	json_t *rec = record_result(p->s, pd, duration_us);
	if (rec != NULL && p->s->masking_on) {
		json_t *masked = masking_take_report(&p->s->masking);
		if (masked != NULL)
			json_object_set_new(rec, "masked", masked);
	}
	if (rec != NULL)
		audit_append_later(&p->s->audit, rec);
	else
		log_error("session %s: out of memory for a result record", p->s->session_id);
}

/* The statement being handled starts its result (intent seq, or 0). */
static void
statement_starts(struct proxy *p, uint64_t seq, uint64_t number)
{
	p->start.intent_seq = seq;
	p->start.number = number;
	p->start.start_us = results_now_us();
}

/* Writes the intent durably. Returns its seq, or 0 after refusing. */
static uint64_t
write_intent(struct proxy *p, json_t *rec, char type, enum flow_verdict *verdict)
{
	if (p->s->audit_off) {
		json_decref(rec);
		*verdict = FLOW_FORWARD;
		return 0;
	}
	char err[300];
	uint64_t seq = 0;
	int rc = rec ? audit_append_durable(&p->s->audit, rec, &seq, err, sizeof err) : -1;
	if (rec == NULL)
		snprintf(err, sizeof err, "out of memory");
	json_decref(rec);
	if (rc == 0) {
		*verdict = FLOW_FORWARD;
		return seq;
	}
	log_warn("session %s: statement refused: audit record not written: %s",
	    p->s->session_id, err);
	int full = strstr(err, "disk full") != NULL;
	*verdict = refuse(p, type, full ? "53100" : "58030", full ?
	    "pgward: the audit log is full; the statement was not run" :
	    "pgward: the audit log is unavailable; the statement was not run");
	return 0;
}


/* ---- policy ---- */

/* After a policy reload, the connect decision is asked again before the
 * next statement: the person may have lost the role (the session ends),
 * and their masking rules may have changed (the engine is rebuilt). Done
 * only while the server connection is idle, so no result is half masked
 * by one engine and half by another. Returns 0; 1 when the filter did not
 * answer (the statement is refused, the next one asks again); -1 when the
 * person may no longer use the role (the session ends). */
static int
refresh_connect_decision(struct proxy *p)
{
	struct relay_session *s = p->s;
	uint64_t gen = policy_generation(&s->policy);
	if (gen == 0 || gen == s->rules_generation)
		return 0;
	if (!extended_idle(&p->x) || flow_has_output(&p->s2c) ||
	    p->s2c.len != p->s2c.start)
		return 0;
	char err[300];
	long long grant_end;
	json_t *rules = NULL;
	int rc = policy_connect(&s->policy, &grant_end, &rules, err, sizeof err);
	if (rc < 0) {
		json_decref(rules);
		log_warn("session %s: connect decision after a policy change: %s", s->session_id, err);
		return 1;
	}
	if (rc > 0) {
		json_decref(rules);
		log_info("session %s of %s ended after a policy change: %s", s->session_id,
		    s->id.user, err);
		proxy_end(p, "refused after a policy change", "28000",
		    "pgward: after a policy change this person may no longer use this role here");
		return -1;
	}
	/* The session logged in as the masked role of its profile: a policy
	 * that gives the person another profile needs another login. */
	struct mask_profile *profile = NULL;
	if (session_database_profile(rules, &profile, err, sizeof err) != 0 ||
	    (profile == NULL) != (s->mask_profile == NULL) ||
	    (profile != NULL && strcmp(profile->hex, s->mask_profile->hex) != 0)) {
		mask_profile_free(profile);
		json_decref(rules);
		log_info("session %s of %s ended after a policy change: the masking the database "
		    "enforces for this person changed", s->session_id, s->id.user);
		proxy_end(p, "masking changed by a policy change", "28000",
		    "pgward: after a policy change this person's masking changed; reconnect");
		return -1;
	}
	mask_profile_free(profile);
	s->rules_generation = gen;
	p->recording.rows = s->audit_off ? 0 : s->policy.record_rows;
	if (p->recording.rows > 0)
		p->s2c.inspect_types = SERVER_INSPECT_MASKING;
	s->expires = s->id.exp;
	if (grant_end > 0 && grant_end < s->expires)
		s->expires = grant_end;
	if (s->masking_on) {
		masking_free(&s->masking);
		s->masking_on = 0;
	}
	json_decref(s->mask_rules);
	s->mask_rules = rules;
	if (rules != NULL) {
		if (masking_init(&s->masking, rules, s->mask_key, s->mask_key_len, err,
		    sizeof err) != 0) {
			log_error("session %s: %s", s->session_id, err);
			proxy_end(p, "masking failed", "XX000",
			    "pgward: masking could not be applied after a policy change; the session ends");
			return -1;
		}
		s->masking_on = 1;
		s->masking.database_enforced = s->mask_profile != NULL;
		p->s2c.inspect_types = SERVER_INSPECT_MASKING;
		/* Looked up now, while idle, before this statement's results. */
		if (refresh_catalog(p) != 0) {
			proxy_end(p, "masking failed", "XX000",
			    "pgward: masking could not be applied after a policy change; the session ends");
			return -1;
		}
	}
	return 0;
}


/* Asks pgward-filter (or the cache). A filter that cannot answer is a
 * denial: nothing runs without a decision. */
static void
decide(struct proxy *p, const char *sql, struct policy_decision *d)
{
	memset(d, 0, sizeof *d);
	d->action = POLICY_ALLOW;
	if (!p->s->policy_on)
		return;
	int refreshed = refresh_connect_decision(p);
	if (refreshed != 0) {
		d->action = POLICY_DENY;
		snprintf(d->rule, sizeof d->rule, refreshed > 0 ? "builtin:filter-unavailable" :
		    "builtin:connect-refused");
		/* Ended by the new decision: the statement says why the session ends. */
		const char *why = p->ending_message;
		if (strncmp(why, "pgward: ", 8) == 0)
			why += 8;
		snprintf(d->message, sizeof d->message, "%s", refreshed > 0 ?
		    "the policy service is unavailable" : why);
		return;
	}
	char err[300];
	if (policy_decide(&p->s->policy, sql, d, err, sizeof err) != 0) {
		log_warn("session %s: statement refused: no decision from pgward-filter: %s",
		    p->s->session_id, err);
		memset(d, 0, sizeof *d);
		d->action = POLICY_DENY;
		snprintf(d->rule, sizeof d->rule, "builtin:filter-unavailable");
		snprintf(d->message, sizeof d->message,
		    "the policy service is unavailable");
	}
}

static void
set_decision(json_t *rec, const struct policy_decision *d)
{
	if (rec == NULL)
		return;
	json_object_set_new(rec, "decision", json_string(d->action == POLICY_ALLOW ? "allow" :
	    d->action == POLICY_DENY ? "deny" : "review"));
	if (d->rule[0] != '\0')
		json_object_set_new(rec, "rule", json_string(d->rule));
	if (d->review_id[0] != '\0')
		json_object_set_new(rec, "review", json_string(d->review_id));
}

static enum flow_verdict
refuse_denied(struct proxy *p, char type, const struct policy_decision *d)
{
	char m[512];
	if (strcmp(d->rule, "builtin:filter-unavailable") == 0)
		return refuse(p, type, "58000",
		    "pgward: the policy service is unavailable; the statement was not run");
	snprintf(m, sizeof m, "pgward: statement denied by rule \"%s\"%s%s", d->rule,
	    d->message[0] ? ": " : "", d->message);
	return refuse(p, type, d->sqlstate[0] ? d->sqlstate : "42501", m);
}

/* Sends a notice to the client now, if no server message is half sent. */
static void
notify_client(struct proxy *p, const char *message)
{
	if (!flow_at_boundary(&p->s2c)) {
		log_warn("session %s: notice not sent (a server message is in flight): %s",
		    p->s->session_id, message);
		return;
	}
	struct pgbuf b;
	pgbuf_init(&b);
	pgmsg_notice(&b, "00000", message);
	if (!b.failed && flow_append(&p->s2c, b.data, b.len) == 0 && flow_has_output(&p->s2c))
		endpoint_write_all(&p->s->client, p->s2c.buf + p->s2c.start,
		    p->s2c.ready - p->s2c.start, 5000);
	p->s2c.start = p->s2c.ready = p->s2c.len = 0;
	pgbuf_free(&b);
}

static int
client_hung_up(struct proxy *p)
{
	struct pollfd pfd = { .fd = p->s->client.fd, .events = POLLRDHUP };
	return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Holds a statement until its review ends. Returns FLOW_FORWARD when
 * approved, else the refusal. */
static enum flow_verdict
hold_for_review(struct proxy *p, char type, const struct policy_decision *d)
{
	char m[640];
	snprintf(m, sizeof m, "pgward: statement held for review %s (rule \"%s\"); to be "
	    "approved by %s; an approver runs: pgward-filter review approve %s", d->review_id,
	    d->rule, d->approvers[0] ? d->approvers : "an approver", d->review_id);
	notify_client(p, m);
	log_info("session %s: statement held for review %s", p->s->session_id, d->review_id);
	for (;;) {
		char by[256], err[300];
		int rc = policy_review_wait(&p->s->policy, d->review_id, p->s->cfg->review_poll_ms,
		    by, sizeof by, err, sizeof err);
		if (rc == 1) {
			log_info("session %s: review %s approved by %s", p->s->session_id,
			    d->review_id, by);
			return FLOW_FORWARD;
		}
		if (rc == 2) {
			snprintf(m, sizeof m, "pgward: statement denied in review %s%s%s", d->review_id,
			    by[0] ? " by " : "", by);
			return refuse(p, type, "42501", m);
		}
		if (rc == 3) {
			log_info("session %s: review %s ended without approval (%s)", p->s->session_id,
			    d->review_id, err);
			snprintf(m, sizeof m, "pgward: review %s was not approved in time; the "
			    "statement was not run", d->review_id);
			return refuse(p, type, "42501", m);
		}
		if (rc < 0) {
			log_warn("session %s: review %s: %s", p->s->session_id, d->review_id, err);
			return refuse(p, type, "58000",
			    "pgward: the policy service is unavailable; the statement was not run");
		}
		if (session_cancel_requested) {
			session_cancel_requested = 0;
			policy_review_cancel(&p->s->policy, d->review_id);
			return refuse(p, type, "57014", "canceling statement due to user request");
		}
		if (session_terminate_requested || client_hung_up(p)) {
			policy_review_cancel(&p->s->policy, d->review_id);
			proxy_end(p, session_terminate_requested ? "relay shutting down" :
			    "client disconnected during a review", "57P01",
			    "terminating connection due to administrator command");
			return FLOW_STOP;
		}
	}
}

/* After the intent is written: what happens to the statement. */
static enum flow_verdict
enforce(struct proxy *p, char type, const struct policy_decision *d, enum flow_verdict audit)
{
	if (audit != FLOW_FORWARD)
		return audit;
	if (d->action == POLICY_DENY)
		return refuse_denied(p, type, d);
	if (d->action == POLICY_REVIEW)
		return hold_for_review(p, type, d);
	return FLOW_FORWARD;
}

static enum flow_verdict
on_query(struct proxy *p, const uint8_t *body, size_t len)
{
	if (len == 0 || body[len - 1] != '\0' || memchr(body, 0, len) != body + len - 1)
		return protocol_violation(p, "malformed Query message");
	uint64_t n = ++p->statements;
	struct policy_decision d;
	decide(p, (const char *)body, &d);
	json_t *rec = NULL;
	if (!p->s->audit_off) {
		rec = record_intent(p->s, n, "simple");
		extended_set_sql(rec, body, len - 1, (size_t)p->s->cfg->audit_max_sql_bytes);
		set_decision(rec, &d);
	}
	enum flow_verdict v;
	uint64_t seq = write_intent(p, rec, 'Q', &v);
	extended_sync_sent(&p->x);
	statement_starts(p, seq, n);
	v = enforce(p, 'Q', &d, v);
	if (v == FLOW_FORWARD && d.has_max_rows)
		v = rowguard_start(&p->rg, 'Q', body, len, n, d.max_rows, d.rule);
	return v;
}

static enum flow_verdict
on_parse(struct proxy *p, const uint8_t *body, size_t len)
{
	char err[200];
	struct prepared *stmt;
	const char *name;
	if (extended_parse(&p->x, body, len, &stmt, &name, err, sizeof err) != EXT_OK)
		return protocol_violation(p, err);
	if (!p->s->policy_on)
		return FLOW_FORWARD;
	struct policy_decision d;
	decide(p, stmt->sql, &d);
	stmt->policy_generation = d.generation;
	stmt->catalog_generation = p->s->policy.catalog_generation;
	snprintf(stmt->rule, sizeof stmt->rule, "%s", d.rule);
	stmt->has_max_rows = d.has_max_rows;
	stmt->max_rows = d.max_rows;
	if (d.action == POLICY_ALLOW)
		return FLOW_FORWARD;
	/* Refused or held statements are audited here, at the Parse. */
	uint64_t n = ++p->statements;
	json_t *rec = NULL;
	if (!p->s->audit_off) {
		rec = record_intent(p->s, n, "extended");
		extended_set_sql(rec, (const uint8_t *)stmt->sql, strlen(stmt->sql),
		    (size_t)p->s->cfg->audit_max_sql_bytes);
		json_object_set_new(rec, "statement", json_string(name));
		json_object_set_new(rec, "stage", json_string("parse"));
		set_decision(rec, &d);
	}
	enum flow_verdict v;
	write_intent(p, rec, 'P', &v);
	v = enforce(p, 'P', &d, v);
	if (v != FLOW_FORWARD)
		extended_forget_statement(&p->x, name);
	return v;
}

static enum flow_verdict
on_execute(struct proxy *p, const uint8_t *body, size_t len)
{
	char err[200];
	struct portal *o;
	const char *name;
	uint32_t max_rows;
	int rc = extended_execute(&p->x, body, len, &o, &name, &max_rows, err, sizeof err);
	if (rc == EXT_MALFORMED)
		return protocol_violation(p, err);
	if (rc == EXT_UNKNOWN) {
		statement_starts(p, 0, 0);
		char m[300];
		snprintf(m, sizeof m, "pgward: %s; the statement was not run", err);
		return refuse(p, 'E', "34000", m);
	}
	if (p->s->masking_on && extended_forwarded_stale(&p->x, body, len)) {
		statement_starts(p, 0, 0);
		return refuse(p, 'E', "0A000", "pgward: a FETCH or EXECUTE portal must run before "
		    "any other statement once bound, for its rows to be masked (the columns it "
		    "was bound with may have changed); the statement was not run");
	}
	if (o->started) {
		/* Fetching more rows of an execution already audited. */
		statement_starts(p, o->intent_seq, o->number);
		return FLOW_FORWARD;
	}
	uint64_t n = ++p->statements;
	struct policy_decision d;
	memset(&d, 0, sizeof d);
	snprintf(d.rule, sizeof d.rule, "%s", o->rule);
	d.has_max_rows = o->has_max_rows;
	d.max_rows = o->max_rows;
	/* Prepared under an older policy, or before a view or rule changed what
	 * its names stand for (the server plans it again against them). */
	if (p->s->policy_on && (o->policy_generation != policy_generation(&p->s->policy) ||
	    o->catalog_generation != p->s->policy.catalog_generation))
		decide(p, o->sql, &d);
	json_t *rec = p->s->audit_off ? NULL : record_intent(p->s, n, "extended");
	set_decision(rec, &d);
	if (rec != NULL) {
		extended_set_sql(rec, (const uint8_t *)o->sql, strlen(o->sql),
		    (size_t)p->s->cfg->audit_max_sql_bytes);
		json_object_set_new(rec, "statement", json_string(o->statement));
		json_object_set_new(rec, "portal", json_string(name));
		json_object_set(rec, "params", o->params);
		if (max_rows != 0)
			json_object_set_new(rec, "max_rows", json_integer(max_rows));
	}
	enum flow_verdict v;
	uint64_t seq = write_intent(p, rec, 'E', &v);
	statement_starts(p, seq, n);
	v = enforce(p, 'E', &d, v);
	if (v == FLOW_FORWARD) {
		o->started = 1;
		o->intent_seq = seq;
		o->number = n;
		if (d.has_max_rows)
			v = rowguard_start(&p->rg, 'E', body, len, n, d.max_rows, d.rule);
	}
	return v;
}

static enum flow_verdict
on_function_call(struct proxy *p, const uint8_t *body, size_t len)
{
	struct pgread r;
	pgread_init(&r, body, len);
	uint32_t oid = pgread_u32(&r);
	uint16_t nformats = pgread_u16(&r);
	pgread_bytes(&r, (size_t)nformats * 2);
	uint16_t nargs = pgread_u16(&r);
	for (int i = 0; i < nargs && !r.failed; i++) {
		int32_t alen = (int32_t)pgread_u32(&r);
		if (alen > 0)
			pgread_bytes(&r, (size_t)alen);
		else if (alen < -1)
			r.failed = true;
	}
	pgread_u16(&r);
	if (!pgread_end(&r))
		return protocol_violation(p, "malformed FunctionCall message");
	uint64_t n = ++p->statements;
	/* The policy sees a fast-path call as a call of pgward_fastpath(oid). */
	char sql[64];
	snprintf(sql, sizeof sql, "SELECT pgward_fastpath(%u)", oid);
	struct policy_decision d;
	decide(p, sql, &d);
	json_t *rec = p->s->audit_off ? NULL : record_intent(p->s, n, "function");
	if (rec != NULL) {
		json_object_set_new(rec, "function_oid", json_integer(oid));
		json_object_set_new(rec, "nargs", json_integer(nargs));
		set_decision(rec, &d);
	}
	enum flow_verdict v;
	uint64_t seq = write_intent(p, rec, 'F', &v);
	extended_sync_sent(&p->x);
	statement_starts(p, seq, n);
	return enforce(p, 'F', &d, v);
}

static int
token_expired(struct proxy *p)
{
	if ((long long)time(NULL) < p->s->expires)
		return 0;
	char m[200];
	char when[32];
	time_t e = (time_t)p->s->expires;
	struct tm tm;
	gmtime_r(&e, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (p->s->expires < p->s->id.exp) {
		snprintf(m, sizeof m, "pgward: access grant expired at %s", when);
		proxy_end(p, "access grant expired", "28000", m);
	} else {
		snprintf(m, sizeof m, "pgward: token expired at %s; reconnect with a fresh token", when);
		proxy_end(p, "token expired", "28000", m);
	}
	return 1;
}

static int
server_idle(const struct proxy *p)
{
	return extended_idle(&p->x) && !flow_has_output(&p->s2c) &&
	    p->s2c.len == p->s2c.start;
}

/* After DDL in the session, what the relay knows of the catalog is
 * looked up again before the next statement, on the server connection
 * while it is idle: the views and rules the filter resolves writes
 * through, and the tables that column rules name. */
static int
refresh_catalog(struct proxy *p)
{
	/* Not idle yet, or in a failed transaction block (where the lookup
	 * would fail, and only ROLLBACK can run): next time. */
	if (!server_idle(p) || p->x.last_status == 'E')
		return 0;
	p->catalog_stale = 0;
	return catalog_refresh(p->s);
}

static enum flow_verdict
on_client_message(void *ctx, char type, const uint8_t *msg, size_t len)
{
	struct proxy *p = ctx;
	const uint8_t *body = msg + 5;
	size_t blen = len - 5;
	rowguard_on_client(&p->rg, type);
	if (type == 'X') {
		p->client_said_goodbye = 1;
		return FLOW_FORWARD;
	}
	if (strchr("QPEF", type) != NULL && token_expired(p))
		return FLOW_STOP;
	if (p->catalog_stale && strchr("QPBF", type) != NULL && refresh_catalog(p) != 0) {
		log_error("session %s: the catalog lookup after DDL failed", p->s->session_id);
		proxy_end(p, "catalog lookup failed", "XX000",
		    "pgward: the catalog lookup after DDL failed (views and rules, masked "
		    "columns); the session ends");
		return FLOW_STOP;
	}
	memset(&p->start, 0, sizeof p->start);
	enum flow_verdict v = dispatch_client(p, type, msg, len);
	/* A statement that started its result is owed even when the session
	 * ends now, so that its result is finished ("interrupted"). */
	if (v == FLOW_STOP) {
		if (p->start.start_us != 0 &&
		    extended_owe_statement(&p->x, type, body, blen, &p->start) != 0)
			return protocol_violation(p, "out of memory");
		return v;
	}
	/* With masking, no portal's rows arrive before the relay knows their
	 * shape: a portal not described since the last statement sent (which
	 * may have replaced it: SQL CLOSE and DECLARE) is described now,
	 * before its Execute (the answer is not forwarded). */
	if (type == 'E' && p->s->masking_on && extended_needs_describe(&p->x, body, blen)) {
		struct pgbuf b;
		pgbuf_init(&b);
		pgbuf_begin(&b, 'D');
		pgbuf_put_u8(&b, 'P');
		pgbuf_put_str(&b, (const char *)body);
		pgbuf_end(&b);
		size_t dlen = b.len;
		/* Before the Execute, or what replaced it (the row guard's). */
		if (v == FLOW_FORWARD)
			pgbuf_put(&b, msg, len);
		else
			pgbuf_put(&b, p->c2s.replacement, p->c2s.replacement_len);
		int rc = b.failed ? -1 : flow_replace(&p->c2s, b.data, b.len);
		if (rc == 0)
			rc = extended_owe(&p->x, 'D', b.data + 5, dlen - 5, 1);
		pgbuf_free(&b);
		if (rc != 0)
			return protocol_violation(p, "out of memory");
		v = FLOW_REPLACE;
	}
	/* A refused FunctionCall goes out as a Query: both end at a ReadyForQuery. */
	if (extended_owe_statement(&p->x, type, body, blen, &p->start) != 0)
		return protocol_violation(p, "out of memory");
	return v;
}

static enum flow_verdict
dispatch_client(struct proxy *p, char type, const uint8_t *msg, size_t len)
{
	const uint8_t *body = msg + 5;
	size_t blen = len - 5;
	char err[200];
	switch (type) {
	case 'Q':
		return on_query(p, body, blen);
	case 'P':
		return on_parse(p, body, blen);
	case 'B': {
		int rc = extended_bind(&p->x, body, blen, err, sizeof err);
		if (rc == EXT_MALFORMED)
			return protocol_violation(p, err);
		if (rc == EXT_UNKNOWN) {
			char m[300];
			snprintf(m, sizeof m, "pgward: %s; the statement was not run", err);
			return refuse(p, 'B', "26000", m);
		}
		return FLOW_FORWARD;
	}
	case 'E':
		return on_execute(p, body, blen);
	case 'F':
		return on_function_call(p, body, blen);
	case 'C':
		if (extended_close(&p->x, body, blen, err, sizeof err) != EXT_OK)
			return protocol_violation(p, err);
		return FLOW_FORWARD;
	case 'S':
		if (!extended_sync_answered(&p->x))
			return FLOW_FORWARD;	/* read and ignored by a COPY FROM STDIN */
		extended_sync_sent(&p->x);
		return FLOW_FORWARD;
	}
	return FLOW_FORWARD;
}

static enum flow_verdict
on_server_message(void *ctx, char type, const uint8_t *msg, size_t len)
{
	struct proxy *p = ctx;
	const uint8_t *sub = NULL;
	size_t sublen = 0;
	switch (rowguard_on_server(&p->rg, type, msg, len, &sub, &sublen)) {
	case RG_DROP:
		return flow_replace(&p->s2c, "", 0) == 0 ? FLOW_REPLACE : FLOW_STOP;
	case RG_FATAL:
		return FLOW_STOP;	/* the loop ends the session */
	case RG_SUBSTITUTE:
		type = (char)sub[0];
		msg = sub;
		len = sublen;
		break;
	case RG_PASS:
		break;
	}
	if (type == 'E' && rewrite_refusal_error(p, msg, len, &p->refusal_error)) {
		msg = sub = p->refusal_error.data;
		len = sublen = p->refusal_error.len;
	}
	/* The shape DataRows have is the one owed before this message moves it. */
	struct row_shape *shape = extended_row_shape(&p->x);
	int swallow = 0;
	int rc_x = strchr(SERVER_INSPECT, type) != NULL ?
	    extended_on_server(&p->x, type, msg, len, &swallow) : 0;
	if (rc_x != 0) {
		if (p->s->masking_on) {
			snprintf(p->s->masking.error, sizeof p->s->masking.error,
			    "a server message (%c) does not answer what was sent", type);
			p->masking_failed = 1;
			return FLOW_STOP;
		}
		log_warn("session %s: a server message (%c) does not answer what was sent",
		    p->s->session_id, type);
	}
	if (swallow) {
		if (flow_replace(&p->s2c, NULL, 0) != 0)
			return FLOW_STOP;
		return FLOW_REPLACE;
	}
	if (type == 'C' && catalog_changed_by(msg + 5, len - 5))
		p->catalog_stale = p->catalog_in_xact = 1;
	/* What DDL did is undone by ROLLBACK (TO SAVEPOINT), an error or a
	 * failed COMMIT: until the transaction ends, the catalog is read
	 * again after each answer. */
	if (type == 'Z' && p->catalog_in_xact) {
		p->catalog_stale = 1;
		p->catalog_in_xact = len >= 6 && msg[5] != 'I';
	}
	if (p->s->masking_on) {
		uint8_t *out = NULL;
		size_t outlen = 0;
		int rc = masking_on_server(&p->s->masking, shape, type, msg, len, &out, &outlen);
		if (rc < 0) {
			log_error("session %s: masking failed, ending the session: %s",
			    p->s->session_id, p->s->masking.error);
			p->masking_failed = 1;
			return FLOW_STOP;
		}
		if (rc > 0) {
			recording_on_message(&p->recording, extended_current_result(&p->x), type,
			    out, outlen);
			int ok = flow_replace(&p->s2c, out, outlen) == 0;
			free(out);
			if (!ok) {
				p->masking_failed = 1;
				return FLOW_STOP;
			}
			if (type == 'Z' && len == 6) {
				extended_ready(&p->x, (char)msg[5]);
				refusals_expire(p);
			}
			return FLOW_REPLACE;
		}
	}
	recording_on_message(&p->recording, extended_current_result(&p->x), type, msg, len);
	if (type == 'Z' && len == 6) {
		extended_ready(&p->x, (char)msg[5]);
		refusals_expire(p);
	}
	if (sub != NULL)
		return flow_replace(&p->s2c, msg, len) == 0 ? FLOW_REPLACE : FLOW_STOP;
	return FLOW_FORWARD;
}

/* ---- the loop ---- */

/* Stops taking client input and asks the server to finish up. */
static void
proxy_stop_client(struct proxy *p)
{
	if (!p->c2s.stopped) {
		p->c2s.stopped = 1;
		/* Anything not yet examined is dropped; a half-sent message can
		 * only be finished, never cut. */
		if (p->c2s.pass == 0)
			p->c2s.len = p->c2s.ready;
	}
	if (flow_at_boundary(&p->c2s) && !p->client_said_goodbye) {
		flow_append(&p->c2s, terminate_msg, sizeof terminate_msg);
		p->client_said_goodbye = 1;
	}
}

static short
events_for(const struct endpoint *ep, int reading, int writing)
{
	short ev = 0;
	if (reading)
		ev |= POLLIN;
	if (writing)
		ev |= POLLOUT;
	/* TLS may need the other direction to make progress. */
	if (ep->ssl != NULL && (ep->want_read || ep->want_write)) {
		if (ep->want_read)
			ev |= POLLIN;
		if (ep->want_write)
			ev |= POLLOUT;
	}
	return ev;
}

static void
send_final_error(struct proxy *p)
{
	if (p->ending_sqlstate == NULL || !flow_at_boundary(&p->s2c))
		return;
	struct pgbuf b;
	pgbuf_init(&b);
	pgmsg_error(&b, "FATAL", p->ending_sqlstate, p->ending_message, NULL, NULL);
	if (!b.failed)
		flow_append(&p->s2c, b.data, b.len);
	pgbuf_free(&b);
}

/* Masking failed on a server message: nothing of it or after it reaches
 * the client, and the server session ends (Terminate) so nothing more
 * runs. The client is told why as a plain ERROR answering its statement
 * (clients such as psycopg2 lose a FATAL that arrives with the
 * connection's end), with the ReadyForQuery it is owed; its next
 * message gets the FATAL and the session ends. */
static const char *
withhold_after_masking_failure(struct proxy *p)
{
	static char why[320];
	struct endpoint *cl = &p->s->client;
	snprintf(why, sizeof why, "masking failed: %s", p->s->masking.error);
	/* What was cleared before the failing message was masked. */
	if (flow_has_output(&p->s2c))
		endpoint_write_all(cl, p->s2c.buf + p->s2c.start, p->s2c.ready - p->s2c.start, 2000);
	p->s2c.start = p->s2c.ready = p->s2c.len = 0;
	endpoint_write_all(&p->s->up.ep, terminate_msg, sizeof terminate_msg, 1000);
	char m[400];
	snprintf(m, sizeof m, "pgward: masking could not be applied: %s; the rest of the result "
	    "was withheld and the session ends", p->s->masking.error);
	struct pgbuf b;
	pgbuf_init(&b);
	pgmsg_error(&b, "ERROR", "XX000", m, NULL, NULL);
	int owed = extended_ready_owed(&p->x);
	if (owed) {
		/* The server's transaction ends with its session: a block is failed. */
		char st = p->x.last_status == 'I' || p->x.last_status == 0 ? 'I' : 'E';
		pgbuf_begin(&b, 'Z');
		pgbuf_put_u8(&b, (uint8_t)st);
		pgbuf_end(&b);
	}
	int rc = b.failed ? -1 : endpoint_write_all(cl, b.data, b.len, 2000);
	pgbuf_free(&b);
	if (rc != 0)
		return why;
	/* Wait (bounded) for the client's next message, then end with FATAL. */
	long long deadline = sock_now_ms() + 30000;
	uint8_t hdr[5];
	while (endpoint_read_full(cl, hdr, 5, deadline) == 0) {
		uint32_t len = pg_be32(hdr + 1);
		if (len < 4)
			break;
		uint8_t skip[4096];
		for (uint32_t left = len - 4; left > 0;) {
			uint32_t n = left < sizeof skip ? left : (uint32_t)sizeof skip;
			if (endpoint_read_full(cl, skip, n, deadline) != 0)
				return why;
			left -= n;
		}
		if (hdr[0] == 'X')
			return why;
		if (!owed && hdr[0] == 'S') {
			static const uint8_t idle[6] = { 'Z', 0, 0, 0, 5, 'E' };
			owed = 1;
			endpoint_write_all(cl, idle, sizeof idle, 2000);
			continue;
		}
		if (hdr[0] == 'H')
			continue;
		break;
	}
	snprintf(m, sizeof m, "pgward: this session ended after a masking refusal: %s",
	    p->s->masking.error);
	session_send_error(p->s, "FATAL", "XX000", m, NULL);
	return why;
}

static const char *
proxy_loop(struct proxy *p)
{
	struct endpoint *cl = &p->s->client;
	struct endpoint *sv = &p->s->up.ep;
	static char why[320];
	int final_sent = 0;

	for (;;) {
		if (session_cancel_requested) {
			session_cancel_requested = 0;
			if (upstream_cancel(&p->s->up) != 0)
				log_warn("session %s: cancel request to the server failed", p->s->session_id);
		}
		if (session_terminate_requested)
			proxy_end(p, "relay shutting down", "57P01",
			    "terminating connection due to administrator command");
		if (p->ending != NULL || p->c2s.eof)
			proxy_stop_client(p);
		if (p->s2c.eof && !flow_has_output(&p->s2c)) {
			if (p->ending != NULL && !final_sent) {
				send_final_error(p);
				final_sent = 1;
				continue;
			}
			return p->ending ? p->ending :
			    p->client_said_goodbye ? "client disconnected" : "server closed the connection";
		}
		if (p->c2s.eof && p->client_said_goodbye && !flow_has_output(&p->c2s))
			return "client disconnected";
		if (p->c2s.eof && p->c2s.pass > 0 && !flow_has_output(&p->c2s))
			return "client disconnected in the middle of a message";

		struct pollfd pfd[2];
		pfd[0].fd = cl->fd;
		pfd[0].events = events_for(cl, flow_has_space(&p->c2s), flow_has_output(&p->s2c));
		pfd[1].fd = sv->fd;
		pfd[1].events = events_for(sv, flow_has_space(&p->s2c), flow_has_output(&p->c2s));
		int timeout = 1000;
		if ((endpoint_pending(cl) && flow_has_space(&p->c2s)) ||
		    (endpoint_pending(sv) && flow_has_space(&p->s2c)))
			timeout = 0;
		int n = poll(pfd, 2, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return "poll failed";
		}
		if (n == 0 && !p->s->audit_off)
			audit_flush(&p->s->audit);	/* idle: results go out now */
		if ((pfd[0].revents || endpoint_pending(cl)) && flow_has_space(&p->c2s)) {
			if (flow_fill(&p->c2s, cl) != 0) {
				snprintf(why, sizeof why, "client connection error: %s", cl->error);
				return why;
			}
			if (flow_scan(&p->c2s) != 0) {
				snprintf(why, sizeof why, "protocol violation by client: %s", p->c2s.error);
				session_send_error(p->s, "FATAL", "08P01", p->c2s.error, NULL);
				return why;
			}
		}
		if ((pfd[1].revents || endpoint_pending(sv)) && flow_has_space(&p->s2c)) {
			if (flow_fill(&p->s2c, sv) != 0) {
				snprintf(why, sizeof why, "server connection error: %s", sv->error);
				return why;
			}
			if (flow_scan(&p->s2c) != 0) {
				snprintf(why, sizeof why, "protocol violation by server: %s", p->s2c.error);
				return why;
			}
			if (p->masking_failed)
				return withhold_after_masking_failure(p);
			if (p->rg.error[0] != '\0') {
				/* Closing the server connection rolls the statement back. */
				if (flow_has_output(&p->s2c))
					endpoint_write_all(cl, p->s2c.buf + p->s2c.start,
					    p->s2c.ready - p->s2c.start, 2000);
				p->s2c.start = p->s2c.ready = p->s2c.len = 0;
				session_send_error(p->s, "FATAL", "XX000", "pgward: the row guard could "
				    "not finish a statement; the session ends and it was rolled back", NULL);
				snprintf(why, sizeof why, "row guard failed: %s", p->rg.error);
				return why;
			}
		}
		/* The row guard let the client's held messages go on. */
		if (rowguard_poll(&p->rg) && flow_scan(&p->c2s) != 0) {
			snprintf(why, sizeof why, "protocol violation by client: %s", p->c2s.error);
			session_send_error(p->s, "FATAL", "08P01", p->c2s.error, NULL);
			return why;
		}
		if (flow_has_output(&p->c2s) && flow_drain(&p->c2s, sv) != 0) {
			snprintf(why, sizeof why, "server connection error: %s", sv->error);
			return why;
		}
		if (flow_has_output(&p->s2c) && flow_drain(&p->s2c, cl) != 0) {
			snprintf(why, sizeof why, "client connection error: %s", cl->error);
			return why;
		}
	}
}

const char *
proxy_run(struct relay_session *s)
{
	struct proxy *p = calloc(1, sizeof *p);
	if (p == NULL)
		return "out of memory";
	p->s = s;
	unsigned char rnd[4];
	RAND_bytes(rnd, sizeof rnd);
	snprintf(p->marker, sizeof p->marker, "%s%02x%02x%02x%02x_", REFUSAL_PREFIX,
	    rnd[0], rnd[1], rnd[2], rnd[3]);
	if (!s->audit_off && s->policy_on)
		p->recording.rows = s->policy.record_rows;
	if (extended_init(&p->x, s->cfg->audit_redact_params,
	    (size_t)s->cfg->audit_max_param_bytes) != 0 ||
	    flow_init(&p->c2s, (size_t)s->cfg->max_message_size, CLIENT_INSPECT,
	    on_client_message, p) != 0 ||
	    flow_init(&p->s2c, (size_t)0x7fffffff,
	    s->masking_on || p->recording.rows > 0 ? SERVER_INSPECT_MASKING : SERVER_INSPECT,
	    on_server_message, p) != 0) {
		flow_free(&p->c2s);
		free(p);
		return "out of memory";
	}
	p->x.skip_params = s->audit_off;
	extended_set_finished(&p->x, on_statement_finished, p);
	pgbuf_init(&p->refusal_error);
	rowguard_init(&p->rg, &p->c2s, &p->x, rowguard_refusal, p);
	const char *why = proxy_loop(p);
	/* Whatever the server already said reaches the client if it can. */
	if (flow_has_output(&p->s2c))
		endpoint_write_all(&s->client, p->s2c.buf + p->s2c.start,
		    p->s2c.ready - p->s2c.start, 2000);
	s->statements = p->statements;
	extended_abandon(&p->x, "interrupted");
	recording_free(&p->recording);
	rowguard_free(&p->rg);
	pgbuf_free(&p->refusal_error);
	extended_free(&p->x);
	flow_free(&p->c2s);
	flow_free(&p->s2c);
	free(p);
	return why;
}
