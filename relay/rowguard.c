#include "rowguard.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const uint8_t flush_msg[5] = { 'H', 0, 0, 0, 4 };

static void finish(struct rowguard *g);
static int put(struct rowguard *g, const void *msg, size_t len);
static int put_query(struct rowguard *g, const char *sql);
static int put_refusal(struct rowguard *g, char type, const char *sqlstate,
    const char *message);
static long long tag_rows(const uint8_t *msg, size_t len);
static int judge(struct rowguard *g, long long rows, const char *tag, char *why, size_t whylen);

void
rowguard_init(struct rowguard *g, struct flow *c2s, const struct extended *x,
    rowguard_refusal_fn refusal, void *ctx)
{
	memset(g, 0, sizeof *g);
	g->c2s = c2s;
	g->x = x;
	g->refusal = refusal;
	g->ctx = ctx;
	pgbuf_init(&g->held);
	pgbuf_init(&g->sub);
}

void
rowguard_free(struct rowguard *g)
{
	pgbuf_free(&g->held);
	pgbuf_free(&g->sub);
}

void
rowguard_on_client(struct rowguard *g, char type)
{
	if (type == 'S')
		g->extended_open = 0;
	else if (strchr("PBEDCH", type) != NULL)
		g->extended_open = 1;
}

enum flow_verdict
rowguard_start(struct rowguard *g, char type, const uint8_t *body, size_t len,
    uint64_t number, long limit, const char *rule)
{
	if (g->phase != RG_IDLE)
		return FLOW_STOP;	/* cannot happen: the client flow is paused */
	/* The server's state, known when nothing before is unanswered. */
	char status = g->x->last_status != 0 ? g->x->last_status : 'I';
	struct pgbuf b;
	pgbuf_init(&b);
	if (type == 'E') {
		/* After an error in this segment the server skips it anyway. */
		if (g->x->syncs_sent == g->x->readies_received && g->error_since_ready)
			return FLOW_FORWARD;
		g->phase = RG_EXTENDED;
	} else if (g->x->syncs_sent != g->x->readies_received + 1 || g->extended_open) {
		char m[300];
		snprintf(m, sizeof m, "pgward: a statement under a row limit (rule \"%s\") must "
		    "wait for the results of the statements sent before it; it was not run", rule);
		if (g->refusal(g->ctx, 'Q', "0A000", m, &b) != 0 || b.failed ||
		    flow_replace(g->c2s, b.data, b.len) != 0) {
			pgbuf_free(&b);
			return FLOW_STOP;
		}
		pgbuf_free(&b);
		return FLOW_REPLACE;
	} else if (status == 'E') {
		return FLOW_FORWARD;
	} else {
		g->phase = status == 'T' ? RG_BLOCK : RG_BEGIN;
	}
	g->number = number;
	g->limit = limit;
	g->over = g->failed = 0;
	snprintf(g->rule, sizeof g->rule, "%s", rule);
	g->c2s->paused = 1;
	if (g->phase == RG_BLOCK)
		return FLOW_FORWARD;
	pgbuf_begin(&b, type);
	pgbuf_put(&b, body, len);
	pgbuf_end(&b);
	if (g->phase == RG_EXTENDED) {
		/* The server sends the Execute's answer without waiting for a Sync. */
		pgbuf_put(&b, flush_msg, sizeof flush_msg);
	} else {
		pgbuf_reset(&g->held);
		pgbuf_put(&g->held, b.data, b.len);
		pgbuf_reset(&b);
		pgbuf_begin(&b, 'Q');
		pgbuf_put_str(&b, "BEGIN");
		pgbuf_end(&b);
	}
	int rc = b.failed || g->held.failed ? -1 : flow_replace(g->c2s, b.data, b.len);
	pgbuf_free(&b);
	return rc == 0 ? FLOW_REPLACE : FLOW_STOP;
}

enum rowguard_verdict
rowguard_on_server(struct rowguard *g, char type, const uint8_t *msg, size_t len,
    const uint8_t **sub, size_t *sublen)
{
	enum rowguard_verdict v = RG_PASS;
	char why[400];
	struct pending *cur = extended_current_result(g->x);
	int ours = cur != NULL && cur->number == g->number;
	switch (g->phase) {
	case RG_IDLE:
		break;
	case RG_EXTENDED:
		if ((type != 'C' && type != 's') || !ours)
			break;
		if (judge(g, type == 'C' ? tag_rows(msg, len) : -1, type == 'C' ?
		    (const char *)msg + 5 : NULL, why, sizeof why) == 0) {
			finish(g);
			break;
		}
		if (put_refusal(g, 'B', type == 'C' ? "54000" : "0A000", why) != 0 ||
		    put(g, flush_msg, sizeof flush_msg) != 0)
			v = RG_FATAL;
		else
			v = RG_DROP;
		finish(g);
		break;
	case RG_BLOCK:
		if (type == 'C' && ours && judge(g, tag_rows(msg, len), (const char *)msg + 5,
		    why, sizeof why) != 0) {
			g->over = 1;
			v = put_refusal(g, 'Q', "54000", why) == 0 ? RG_DROP : RG_FATAL;
		} else if (type == 'Z') {
			if (g->over) {
				g->phase = RG_BLOCK_REFUSE;
				v = RG_DROP;
			} else {
				finish(g);
			}
		}
		break;
	case RG_BLOCK_REFUSE:
		if (type == 'Z')
			finish(g);
		break;
	case RG_BEGIN:
		if (type == 'C') {
			v = RG_DROP;
		} else if (type == 'E') {
			g->failed = 1;	/* the client's error: the statement was not run */
		} else if (type == 'Z') {
			if (g->failed) {
				finish(g);	/* its ReadyForQuery answers the Query */
				break;
			}
			if (msg[5] != 'T') {
				snprintf(g->error, sizeof g->error, "the row guard's BEGIN did not "
				    "start a transaction block");
				v = RG_FATAL;
				break;
			}
			v = put(g, g->held.data, g->held.len) == 0 ? RG_DROP : RG_FATAL;
			g->phase = RG_OWN;
		}
		break;
	case RG_OWN:
		if (type == 'C' && ours) {
			if (judge(g, tag_rows(msg, len), (const char *)msg + 5, why,
			    sizeof why) != 0) {
				g->over = 1;
				pgbuf_reset(&g->held);
				pgmsg_error(&g->held, "ERROR", "54000", why, NULL, NULL);
			} else {
				pgbuf_reset(&g->held);
				pgbuf_put(&g->held, msg, len);
			}
			v = g->held.failed ? RG_FATAL : RG_DROP;
		} else if (type == 'E') {
			g->failed = 1;
		} else if (type == 'Z') {
			int commit = !g->over && !g->failed;
			g->phase = commit ? RG_COMMIT : RG_ROLLBACK;
			v = put_query(g, commit ? "COMMIT" : "ROLLBACK") == 0 ? RG_DROP : RG_FATAL;
		}
		break;
	case RG_COMMIT:
		/* An ErrorResponse (the commit failed) goes to the client as it is. */
		if (type == 'C') {
			*sub = g->held.data;
			*sublen = g->held.len;
			v = RG_SUBSTITUTE;
		} else if (type == 'Z') {
			finish(g);
		}
		break;
	case RG_ROLLBACK:
		if (type == 'C' && g->over) {
			*sub = g->held.data;
			*sublen = g->held.len;
			v = RG_SUBSTITUTE;
		} else if (type == 'C') {
			v = RG_DROP;
		} else if (type == 'E' || (type == 'Z' && msg[5] != 'I')) {
			snprintf(g->error, sizeof g->error, "the row guard's ROLLBACK failed");
			v = RG_FATAL;
		} else if (type == 'Z') {
			finish(g);
		}
		break;
	}
	if (v == RG_SUBSTITUTE) {
		type = (char)(*sub)[0];
		msg = *sub;
		len = *sublen;
	}
	if ((v == RG_PASS || v == RG_SUBSTITUTE) && type == 'Z' && len >= 6) {
		g->error_since_ready = 0;
	} else if ((v == RG_PASS || v == RG_SUBSTITUTE) && type == 'E') {
		g->error_since_ready = 1;
	}
	if (v == RG_FATAL && g->error[0] == '\0')
		snprintf(g->error, sizeof g->error, "out of memory in the row guard");
	return v;
}

int
rowguard_poll(struct rowguard *g)
{
	/* An error before it ended the segment: the Execute was skipped. */
	if (g->phase == RG_EXTENDED && !extended_waiting(g->x, g->number))
		finish(g);
	int r = g->resumed;
	g->resumed = 0;
	return r;
}

static void
finish(struct rowguard *g)
{
	g->phase = RG_IDLE;
	g->c2s->paused = 0;
	g->resumed = 1;
}

/* Before the client's held messages. A client flow that stopped (the
 * session ends) takes nothing more: the server rolls back. */
static int
put(struct rowguard *g, const void *msg, size_t len)
{
	if (g->c2s->stopped)
		return 0;
	return flow_insert(g->c2s, msg, len);
}

static int
put_query(struct rowguard *g, const char *sql)
{
	struct pgbuf b;
	pgbuf_init(&b);
	pgbuf_begin(&b, 'Q');
	pgbuf_put_str(&b, sql);
	pgbuf_end(&b);
	int rc = b.failed ? -1 : put(g, b.data, b.len);
	pgbuf_free(&b);
	return rc;
}

static int
put_refusal(struct rowguard *g, char type, const char *sqlstate, const char *message)
{
	struct pgbuf b;
	pgbuf_init(&b);
	int rc = g->refusal(g->ctx, type, sqlstate, message, &b) != 0 || b.failed ? -1 :
	    put(g, b.data, b.len);
	pgbuf_free(&b);
	return rc;
}

static long long
tag_rows(const uint8_t *msg, size_t len)
{
	if (len < 6 || msg[len - 1] != '\0')
		return -1;
	return results_tag_rows((const char *)msg + 5);
}

/* 0 when rows are within the limit; else the client's error in why. The
 * verdict goes on the statement's result record either way. */
static int
judge(struct rowguard *g, long long rows, const char *tag, char *why, size_t whylen)
{
	int over = rows < 0 || rows > g->limit;
	struct pending *cur = extended_current_result(g->x);
	if (cur != NULL) {
		json_decref(cur->row_guard);
		cur->row_guard = json_pack("{s:I, s:b}", "limit", (json_int_t)g->limit,
		    "rolled_back", over);
		if (cur->row_guard != NULL && rows >= 0)
			json_object_set_new(cur->row_guard, "rows", json_integer(rows));
		if (cur->row_guard != NULL && tag == NULL)
			json_object_set_new(cur->row_guard, "reason", json_string("suspended"));
	}
	if (!over)
		return 0;
	if (tag == NULL) {
		snprintf(why, whylen, "pgward: a statement under a row limit (rule \"%s\") must run "
		    "in one Execute without a row count; nothing was changed", g->rule);
		return 1;
	}
	const char *verb = strncmp(tag, "DELETE ", 7) == 0 ? "would delete" :
	    strncmp(tag, "UPDATE ", 7) == 0 ? "would update" :
	    strncmp(tag, "MERGE ", 6) == 0 ? "MERGE would change" :
	    strncmp(tag, "INSERT ", 7) == 0 ? "INSERT would change" : "would change";
	if (rows < 0)
		snprintf(why, whylen, "pgward: the command tag \"%.40s\" does not say how many "
		    "rows changed; the limit is %ld (rule \"%s\"); nothing was changed", tag,
		    g->limit, g->rule);
	else
		snprintf(why, whylen, "pgward: %s %lld row%s; the limit is %ld (rule \"%s\"); "
		    "nothing was changed", verb, rows, rows == 1 ? "" : "s", g->limit, g->rule);
	return 1;
}
