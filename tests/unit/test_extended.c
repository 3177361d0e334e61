/* relay/extended.c, the owner of protocol state: what the server still
 * owes, and the row shape each DataRow gets. Scripted sequences (client
 * messages in, the server's answers out, as PostgreSQL answers them), and
 * a model-based test: random client pipelines, answered by a small model
 * of PostgreSQL's extended-query protocol written here, fed to extended.c
 * as proxy.c feeds it (with its own injected Describes); every DataRow
 * must get the shape the model says, answers to injected messages and
 * only those are swallowed, and nothing is owed once every Sync is
 * answered. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgproto.h"
#include "relay/extended.h"

/* ---- messages ---- */

struct cmsg {
	char type;		/* P B D E C S Q, c (CopyDone) */
	char what;		/* Describe, Close: 'S' or 'P' */
	char name[12];		/* statement (P), portal (B D E C) */
	char stmt[12];		/* B: the statement */
	char label[48];		/* P, Q: what it returns ("r1".. rows, "none", "bad", "copy") */
	unsigned max;		/* E */
	int injected;
};

static void
body_of(const struct cmsg *m, struct pgbuf *b)
{
	pgbuf_init(b);
	pgbuf_begin(b, m->type);
	switch (m->type) {
	case 'P':
		pgbuf_put_str(b, m->name);
		pgbuf_put_str(b, m->label);
		pgbuf_put_u16(b, 0);
		break;
	case 'B':
		pgbuf_put_str(b, m->name);
		pgbuf_put_str(b, m->stmt);
		pgbuf_put_u16(b, 0);
		pgbuf_put_u16(b, 0);
		pgbuf_put_u16(b, 0);
		break;
	case 'D':
	case 'C':
		pgbuf_put_u8(b, (uint8_t)m->what);
		pgbuf_put_str(b, m->name);
		break;
	case 'E':
		pgbuf_put_str(b, m->name);
		pgbuf_put_u32(b, m->max);
		break;
	case 'Q':
		pgbuf_put_str(b, m->label);
		break;
	}
	pgbuf_end(b);
	ck_assert(!b->failed);
}

/* What the server sends; label: the column a RowDescription or DataRow
 * has; injected: it answers a message the relay sent itself. */
struct smsg {
	char type;
	char label[48];
	int injected;
};

static void
server_wire(const struct smsg *m, struct pgbuf *b)
{
	pgbuf_init(b);
	pgbuf_begin(b, m->type);
	switch (m->type) {
	case 'T':
		pgbuf_put_u16(b, 1);
		pgbuf_put_str(b, m->label);
		pgbuf_put_u32(b, 16384);
		pgbuf_put_u16(b, 1);
		pgbuf_put_u32(b, 25);
		pgbuf_put_u16(b, 0xffff);
		pgbuf_put_u32(b, 0xffffffff);
		pgbuf_put_u16(b, 0);
		break;
	case 'D':
		pgbuf_put_u16(b, 1);
		pgbuf_put_u32(b, 1);
		pgbuf_put_u8(b, 'x');
		break;
	case 'C':
		pgbuf_put_str(b, m->label[0] != '\0' ? m->label : "SELECT 1");
		break;
	case 'E':
		pgbuf_put_u8(b, 'S');
		pgbuf_put_str(b, "ERROR");
		pgbuf_put_u8(b, 'M');
		pgbuf_put_str(b, "failed");
		pgbuf_put_u8(b, 0);
		break;
	case 'Z':
		pgbuf_put_u8(b, 'I');
		break;
	case 't':
		pgbuf_put_u16(b, 0);
		break;
	case 'G':
		pgbuf_put_u8(b, 0);
		pgbuf_put_u16(b, 0);
		break;
	}
	pgbuf_end(b);
	ck_assert(!b->failed);
}

/* ---- the relay side, as proxy.c drives extended.c ---- */

struct relay {
	struct extended x;
	/* What went to the server, in order (with the relay's own messages). */
	struct cmsg out[512];
	int nout;
	/* Each client Query and Execute gets an intent (its statement
	 * number), as proxy.c owes them (extended_owe_statement). */
	int numbered;
	uint64_t statements;
};

static void
relay_init(struct relay *r)
{
	memset(r, 0, sizeof *r);
	ck_assert_int_eq(extended_init(&r->x, 0, 1024), 0);
	r->x.skip_params = 1;
}

static void
relay_send(struct relay *r, const struct cmsg *m)
{
	ck_assert_int_lt(r->nout, 512);
	r->out[r->nout++] = *m;
}

/* A client message, through the relay; refusals go out as proxy.c sends
 * them (a Bind or Execute naming what the server cannot have). */
static void
relay_client(struct relay *r, const struct cmsg *in)
{
	struct cmsg m = *in;
	struct pgbuf b;
	body_of(&m, &b);
	const uint8_t *body = b.data + 5;
	size_t len = b.len - 5;
	char err[200];
	switch (m.type) {
	case 'P': {
		struct prepared *st;
		const char *name;
		ck_assert_int_eq(extended_parse(&r->x, body, len, &st, &name, err, sizeof err), 0);
		break;
	}
	case 'B': {
		int rc = extended_bind(&r->x, body, len, err, sizeof err);
		ck_assert_int_ne(rc, EXT_MALFORMED);
		if (rc == EXT_UNKNOWN) {
			struct cmsg ref = m;
			snprintf(ref.stmt, sizeof ref.stmt, "!refused");
			relay_send(r, &ref);
			ck_assert_int_eq(extended_owe(&r->x, 'B', body, len, 0), 0);
			pgbuf_free(&b);
			return;
		}
		break;
	}
	case 'E': {
		struct portal *o;
		const char *name;
		uint32_t max;
		int rc = extended_execute(&r->x, body, len, &o, &name, &max, err, sizeof err);
		ck_assert_int_ne(rc, EXT_MALFORMED);
		if (rc == EXT_UNKNOWN) {
			struct cmsg ref = m;
			snprintf(ref.name, sizeof ref.name, "!refused");
			relay_send(r, &ref);
			ck_assert_int_eq(extended_owe(&r->x, 'E', body, len, 0), 0);
			pgbuf_free(&b);
			return;
		}
		o->started = 1;
		if (extended_needs_describe(&r->x, body, len)) {
			struct cmsg d = { .type = 'D', .what = 'P', .injected = 1 };
			snprintf(d.name, sizeof d.name, "%s", m.name);
			struct pgbuf db;
			body_of(&d, &db);
			relay_send(r, &d);
			ck_assert_int_eq(extended_owe(&r->x, 'D', db.data + 5, db.len - 5, 1), 0);
			pgbuf_free(&db);
		}
		break;
	}
	case 'C':
		ck_assert_int_eq(extended_close(&r->x, body, len, err, sizeof err), 0);
		break;
	case 'S':
		if (!extended_sync_answered(&r->x)) {
			relay_send(r, &m);
			ck_assert_int_eq(extended_owe(&r->x, 'S', body, len, 0), 0);
			pgbuf_free(&b);
			return;
		}
		extended_sync_sent(&r->x);
		break;
	case 'Q':
		extended_sync_sent(&r->x);
		break;
	}
	relay_send(r, &m);
	if (r->numbered && (m.type == 'E' || m.type == 'Q')) {
		struct pending start = { .intent_seq = 100 + r->statements + 1,
			.number = r->statements + 1, .start_us = 1 };
		r->statements++;
		ck_assert_int_eq(extended_owe_statement(&r->x, m.type, body, len, &start), 0);
		pgbuf_free(&b);
		return;
	}
	ck_assert_int_eq(extended_owe(&r->x, m.type, body, len, 0), 0);
	pgbuf_free(&b);
}

/* A server message, through the relay: a DataRow must get the shape
 * labelled as expected; other messages must fit what is owed, and be
 * swallowed exactly when they answer the relay's own message. */
static void
relay_server(struct relay *r, const struct smsg *m, const char *ctx)
{
	if (m->type == 'D') {
		struct row_shape *s = extended_row_shape(&r->x);
		ck_assert_msg(s != NULL, "%s: a DataRow with no known shape", ctx);
		ck_assert_msg(s->nfields == 1 && strcmp(s->fields[0].label, m->label) == 0,
		    "%s: a DataRow of %s masked with the shape of %s", ctx, m->label,
		    s->nfields == 1 ? s->fields[0].label : "(none)");
		return;
	}
	struct pgbuf b;
	server_wire(m, &b);
	int swallow = -1;
	int rc = extended_on_server(&r->x, m->type, b.data, b.len, &swallow);
	ck_assert_msg(rc == 0, "%s: server message %c does not fit what is owed", ctx, m->type);
	ck_assert_msg(swallow == m->injected, "%s: server message %c %s", ctx, m->type,
	    m->injected ? "answers the relay and was forwarded" : "was swallowed");
	if (m->type == 'Z')
		extended_ready(&r->x, 'I');
	pgbuf_free(&b);
}

static void
assert_idle(struct relay *r, const char *ctx)
{
	ck_assert_msg(extended_idle(&r->x), "%s: %zu messages still owed after the last "
	    "ReadyForQuery", ctx, r->x.owed_count);
	ck_assert_msg(r->x.syncs_sent == r->x.readies_received, "%s: %llu Syncs/Queries, "
	    "%llu ReadyForQuery", ctx, (unsigned long long)r->x.syncs_sent,
	    (unsigned long long)r->x.readies_received);
	ck_assert(!r->x.skipping);
}

/* ---- the model of the server ---- */

#define MAXN 8
#define ROWS 3

struct mobj {
	int used;
	char name[12];
	char label[48];
	int left;		/* portals: rows still to send */
	int started;
};

struct model {
	struct mobj stmts[MAXN];
	struct mobj portals[MAXN];
	int skipping;
	int copy_in;		/* COPY FROM STDIN is reading */
	int copy_extended;
	int fail_at;		/* the index of the message that fails at run time, or -1 */
	int violation;		/* the client sent another message into a COPY */
	struct smsg out[2048];
	int nout;
};

static struct mobj *
mfind(struct mobj *set, const char *name)
{
	for (int i = 0; i < MAXN; i++)
		if (set[i].used && strcmp(set[i].name, name) == 0)
			return &set[i];
	return NULL;
}

static struct mobj *
mput(struct mobj *set, const char *name)
{
	struct mobj *o = mfind(set, name);
	for (int i = 0; o == NULL && i < MAXN; i++)
		if (!set[i].used)
			o = &set[i];
	ck_assert_ptr_nonnull(o);
	memset(o, 0, sizeof *o);
	o->used = 1;
	snprintf(o->name, sizeof o->name, "%s", name);
	return o;
}

static void
emit(struct model *s, char type, const char *label, int injected)
{
	ck_assert_int_lt(s->nout, 2048);
	struct smsg *m = &s->out[s->nout++];
	m->type = type;
	snprintf(m->label, sizeof m->label, "%s", label ? label : "");
	m->injected = injected;
}

static void
merror(struct model *s, int extended)
{
	emit(s, 'E', NULL, 0);
	if (extended)
		s->skipping = 1;
}

static void
mshape(struct model *s, const char *label, int inj)
{
	if (strcmp(label, "none") == 0 || strcmp(label, "copy") == 0)
		emit(s, 'n', NULL, inj);
	else
		emit(s, 'T', label, inj);
}

/* Outside a transaction block every Sync and Query ends the implicit
 * transaction: portals go; a Query also drops the unnamed statement. */
static void
mend_transaction(struct model *s)
{
	memset(s->portals, 0, sizeof s->portals);
}

static void
mserver(struct model *s, const struct cmsg *m, int index)
{
	int fail = index == s->fail_at;
	if (s->copy_in) {
		/* COPY FROM STDIN reads: Sync and Flush ignored, CopyDone ends
		 * it, anything else fails it (and is consumed). */
		if (m->type == 'S')
			return;
		s->copy_in = 0;
		if (m->type != 'c')
			s->violation = 1;
		if (m->type == 'c') {
			emit(s, 'C', NULL, 0);
			if (!s->copy_extended) {
				emit(s, 'Z', NULL, 0);
				mend_transaction(s);
			}
			return;
		}
		merror(s, s->copy_extended);
		if (!s->copy_extended) {
			emit(s, 'Z', NULL, 0);
			mend_transaction(s);
		}
		return;
	}
	if (s->skipping) {
		if (m->type == 'S') {
			s->skipping = 0;
			emit(s, 'Z', NULL, 0);
			mend_transaction(s);
		}
		return;
	}
	switch (m->type) {
	case 'P':
		if (fail || strcmp(m->label, "bad") == 0 ||
		    (m->name[0] != '\0' && mfind(s->stmts, m->name) != NULL)) {
			merror(s, 1);
			return;
		}
		snprintf(mput(s->stmts, m->name)->label, 48, "%s", m->label);
		emit(s, '1', NULL, 0);
		return;
	case 'B': {
		struct mobj *st = mfind(s->stmts, m->stmt);
		if (fail || st == NULL || (m->name[0] != '\0' && mfind(s->portals, m->name))) {
			merror(s, 1);
			return;
		}
		struct mobj *o = mput(s->portals, m->name);
		snprintf(o->label, sizeof o->label, "%s", st->label);
		o->left = ROWS;
		emit(s, '2', NULL, 0);
		return;
	}
	case 'D': {
		struct mobj *o = mfind(m->what == 'S' ? s->stmts : s->portals, m->name);
		if (fail || o == NULL) {
			merror(s, 1);
			return;
		}
		if (m->what == 'S')
			emit(s, 't', NULL, m->injected);
		mshape(s, o->label, m->injected);
		return;
	}
	case 'E': {
		struct mobj *o = mfind(s->portals, m->name);
		if (o == NULL) {
			merror(s, 1);
			return;
		}
		if (strcmp(o->label, "none") == 0) {
			if (fail)
				merror(s, 1);
			else
				emit(s, 'C', "none", 0);
			return;
		}
		if (strcmp(o->label, "copy") == 0) {
			if (fail) {
				merror(s, 1);
				return;
			}
			emit(s, 'G', NULL, 0);
			s->copy_in = 1;
			s->copy_extended = 1;
			return;
		}
		unsigned n = m->max == 0 || m->max > (unsigned)o->left ? (unsigned)o->left : m->max;
		for (unsigned i = 0; i < n; i++)
			emit(s, 'D', o->label, 0);
		o->left -= (int)n;
		if (fail)
			merror(s, 1);
		else
			emit(s, o->left > 0 && m->max != 0 ? 's' : 'C', o->label, 0);
		return;
	}
	case 'C': {
		struct mobj *o = mfind(m->what == 'S' ? s->stmts : s->portals, m->name);
		if (o != NULL)
			o->used = 0;
		emit(s, '3', NULL, 0);
		return;
	}
	case 'S':
		emit(s, 'Z', NULL, 0);
		mend_transaction(s);
		return;
	case 'Q': {
		struct mobj *u = mfind(s->stmts, "");
		if (u != NULL)
			u->used = 0;
		if (fail || strcmp(m->label, "bad") == 0) {
			merror(s, 0);
		} else if (strcmp(m->label, "copy") == 0) {
			emit(s, 'G', NULL, 0);
			s->copy_in = 1;
			s->copy_extended = 0;
			return;
		} else if (strcmp(m->label, "none") == 0) {
			emit(s, 'C', "none", 0);
		} else {
			emit(s, 'T', m->label, 0);
			for (int i = 0; i < ROWS; i++)
				emit(s, 'D', m->label, 0);
			emit(s, 'C', m->label, 0);
		}
		emit(s, 'Z', NULL, 0);
		mend_transaction(s);
		return;
	}
	}
}

/* ---- scripted sequences ---- */

#define P(n, l) { .type = 'P', .name = n, .label = l }
#define B(p, s) { .type = 'B', .name = p, .stmt = s }
#define DS(n) { .type = 'D', .what = 'S', .name = n }
#define DP(n) { .type = 'D', .what = 'P', .name = n }
#define EX(p, m) { .type = 'E', .name = p, .max = m }
#define CS(n) { .type = 'C', .what = 'S', .name = n }
#define CP(n) { .type = 'C', .what = 'P', .name = n }
#define SY { .type = 'S' }
#define Q(l) { .type = 'Q', .label = l }
#define CD { .type = 'c' }
#define END { .type = 0 }

/* Sends a script through the relay, then lets the model answer all of
 * it (a pipeline), checking every answer; fail_at as in struct model. */
static void
script_through(struct relay *r, const struct cmsg *script, int fail_at, const char *name)
{
	struct model s;
	memset(&s, 0, sizeof s);
	s.fail_at = fail_at;
	for (int i = 0; script[i].type != 0; i++)
		relay_client(r, &script[i]);
	for (int i = 0; i < r->nout; i++)
		mserver(&s, &r->out[i], i);
	char ctx[160];
	for (int i = 0; i < s.nout; i++) {
		snprintf(ctx, sizeof ctx, "%s, server message %d", name, i);
		relay_server(r, &s.out[i], ctx);
	}
	assert_idle(r, name);
}

static void
run_script(const struct cmsg *script, int fail_at, const char *name)
{
	struct relay r;
	relay_init(&r);
	script_through(&r, script, fail_at, name);
	extended_free(&r.x);
}

/* The relay's messages as sent, for scripts that check them. */
static int
count_injected(const struct relay *r)
{
	int n = 0;
	for (int i = 0; i < r->nout; i++)
		n += r->out[i].injected;
	return n;
}

START_TEST(reparse_without_describe)
{
	const struct cmsg s[] = { P("", "r1"), DS(""), B("", ""), EX("", 0), SY,
		P("", "r2"), B("", ""), EX("", 0), SY, END };
	run_script(s, -1, "re-Parse of the unnamed statement without Describe");
}
END_TEST

START_TEST(close_and_reparse_named)
{
	const struct cmsg s[] = { P("a", "r1"), DS("a"), B("", "a"), EX("", 0), SY,
		CS("a"), P("a", "r2"), B("", "a"), EX("", 0), SY, END };
	run_script(s, -1, "Close and re-Parse of a named statement");
}
END_TEST

START_TEST(portal_rebound_after_describe)
{
	const struct cmsg s[] = { P("a", "r1"), P("b", "r2"), B("", "a"), DP(""), B("", "b"),
		EX("", 0), SY, END };
	run_script(s, -1, "portal re-bound after its Describe");
}
END_TEST

START_TEST(error_skips_to_sync_with_injected_describes)
{
	/* The second Bind fails (no such statement on the server): the
	 * injected Describe and the Executes after it are skipped. */
	const struct cmsg s[] = { P("a", "r1"), B("p", "a"), EX("p", 0), B("q", "a"), EX("q", 0),
		B("r", "a"), EX("r", 0), SY, P("", "r3"), B("", ""), EX("", 0), SY, END };
	for (int fail = 0; fail < 12; fail++)
		run_script(s, fail, "an error at each message of a pipeline with injected Describes");
}
END_TEST

START_TEST(query_after_error_is_discarded)
{
	const struct cmsg s[] = { P("", "bad"), B("", ""), EX("", 0), Q("r2"), SY,
		Q("r3"), END };
	run_script(s, -1, "a Query after an error, before the Sync");
	const struct cmsg t[] = { P("", "r1"), B("", ""), EX("", 0), Q("r2"), P("", "r3"), B("", ""),
		EX("", 0), SY, Q("r1"), END };
	for (int fail = -1; fail < 10; fail++)
		run_script(t, fail, "a Query inside an unsynced batch");
}
END_TEST

START_TEST(refused_bind_and_execute)
{
	const struct cmsg s[] = { B("", "never"), EX("", 0), Q("r1"), SY, EX("nope", 0), SY,
		Q("r2"), END };
	run_script(s, -1, "refused Bind and Execute (marker names)");
}
END_TEST

START_TEST(describe_statement_parameters_then_nodata)
{
	const struct cmsg s[] = { P("s", "none"), DS("s"), B("", "s"), EX("", 0), P("", "r1"),
		DS(""), B("", ""), EX("", 0), SY, END };
	run_script(s, -1, "Describe of a statement: ParameterDescription, then NoData");
}
END_TEST

START_TEST(suspended_then_reexecuted)
{
	const struct cmsg s[] = { P("", "r1"), B("p", ""), DP("p"), EX("p", 1), EX("p", 1),
		EX("p", 0), SY, END };
	run_script(s, -1, "PortalSuspended, then Execute again");
}
END_TEST

START_TEST(close_of_a_portal_whose_execute_is_owed)
{
	const struct cmsg s[] = { P("a", "r1"), P("b", "r2"), B("p", "a"), EX("p", 0), CP("p"),
		B("p", "b"), EX("p", 0), SY, END };
	run_script(s, -1, "Close of a portal whose Execute is owed, then a new Bind");
}
END_TEST

START_TEST(copy_from_stdin_in_extended)
{
	/* libpq's PQexecParams of COPY FROM STDIN: the first Sync is read by
	 * the COPY; the one after CopyDone is answered. */
	struct relay r;
	relay_init(&r);
	struct model s;
	memset(&s, 0, sizeof s);
	s.fail_at = -1;
	const struct cmsg first[] = { P("", "copy"), B("", ""), DP(""), EX("", 0), SY, END };
	for (int i = 0; first[i].type != 0; i++)
		relay_client(&r, &first[i]);
	int sent = 0;
	for (; sent < r.nout; sent++)
		mserver(&s, &r.out[sent], sent);
	int got = 0;
	for (; got < s.nout; got++)
		relay_server(&r, &s.out[got], "COPY FROM STDIN, before CopyDone");
	ck_assert(s.copy_in);
	const struct cmsg second[] = { CD, SY, Q("r1"), END };
	for (int i = 0; second[i].type != 0; i++)
		relay_client(&r, &second[i]);
	for (; sent < r.nout; sent++)
		mserver(&s, &r.out[sent], sent);
	for (; got < s.nout; got++)
		relay_server(&r, &s.out[got], "COPY FROM STDIN, after CopyDone");
	assert_idle(&r, "COPY FROM STDIN through the extended protocol");
	extended_free(&r.x);
	/* Pipelined: CopyDone sent before CopyInResponse arrives. */
	const struct cmsg p[] = { P("", "copy"), B("", ""), EX("", 0), CD, SY, Q("r2"), END };
	run_script(p, -1, "COPY FROM STDIN, CopyDone pipelined");
	const struct cmsg q[] = { Q("copy"), SY, CD, Q("r2"), END };
	run_script(q, -1, "COPY FROM STDIN by Query, a Sync read by it");
}
END_TEST

START_TEST(describe_again_after_any_statement)
{
	/* A portal described, then a statement sent (which may have closed
	 * and declared it again by SQL): its Execute is described again. */
	struct relay r;
	relay_init(&r);
	const struct cmsg s[] = { P("", "r1"), B("p", ""), DP("p"), EX("p", 0), Q("none"),
		EX("p", 0), END };
	for (int i = 0; s[i].type != 0; i++)
		relay_client(&r, &s[i]);
	ck_assert_int_eq(count_injected(&r), 1);
	ck_assert(r.out[r.nout - 2].injected && r.out[r.nout - 2].type == 'D');
	extended_free(&r.x);
	/* P B D E: described just before, nothing injected. */
	relay_init(&r);
	const struct cmsg t[] = { P("", "r1"), B("", ""), DP(""), EX("", 0), SY, END };
	for (int i = 0; t[i].type != 0; i++)
		relay_client(&r, &t[i]);
	ck_assert_int_eq(count_injected(&r), 0);
	extended_free(&r.x);
}
END_TEST

START_TEST(forwarding_portals_stale_after_a_statement)
{
	struct relay r;
	relay_init(&r);
	const struct cmsg s[] = { P("f", "  /* c */ -- x\n FeTcH all from c"), B("p", "f"),
		P("x", "execute s"), B("q", "x"), P("y", "executes"), B("y", "y"), END };
	for (int i = 0; s[i].type != 0; i++)
		relay_client(&r, &s[i]);
	struct pgbuf b;
	struct cmsg e = EX("p", 0);
	body_of(&e, &b);
	ck_assert(!extended_forwarded_stale(&r.x, b.data + 5, b.len - 5));
	const struct cmsg q = Q("none");
	relay_client(&r, &q);
	ck_assert(extended_forwarded_stale(&r.x, b.data + 5, b.len - 5));
	pgbuf_free(&b);
	struct cmsg e2 = EX("q", 0);
	body_of(&e2, &b);
	ck_assert(extended_forwarded_stale(&r.x, b.data + 5, b.len - 5));
	pgbuf_free(&b);
	struct cmsg e3 = EX("y", 0);
	body_of(&e3, &b);
	ck_assert(!extended_forwarded_stale(&r.x, b.data + 5, b.len - 5));
	pgbuf_free(&b);
	extended_free(&r.x);
}
END_TEST

/* ---- result attribution ---- */

/* What a finished result said: "n status tag,tag message". */
struct finished_log {
	char line[32][96];
	int n;
};

static void
on_finished(void *ctx, const struct pending *p, long long duration_us)
{
	struct finished_log *f = ctx;
	ck_assert_int_lt(f->n, 32);
	ck_assert_int_ge(duration_us, 0);
	ck_assert_uint_eq(p->intent_seq, 100 + p->number);
	char tags[64] = "";
	for (size_t i = 0; p->tags != NULL && i < json_array_size(p->tags); i++)
		snprintf(tags + strlen(tags), sizeof tags - strlen(tags), "%s%s", i ? "," : "",
		    json_string_value(json_array_get(p->tags, i)));
	snprintf(f->line[f->n++], 96, "%llu %s %s %s", (unsigned long long)p->number, p->status,
	    tags[0] ? tags : "-", p->message ? p->message : "-");
}

/* Runs a script as run_script does and checks each statement's result,
 * in the order they finish (want ends with NULL). */
static void
run_results(const struct cmsg *script, int fail_at, const char *const *want, const char *name)
{
	struct relay r;
	relay_init(&r);
	r.numbered = 1;
	struct finished_log f = { .n = 0 };
	extended_set_finished(&r.x, on_finished, &f);
	script_through(&r, script, fail_at, name);
	int i = 0;
	for (; want[i] != NULL; i++) {
		ck_assert_msg(i < f.n, "%s: result %d (%s) never finished", name, i, want[i]);
		ck_assert_msg(strcmp(f.line[i], want[i]) == 0, "%s: result %d is \"%s\", not \"%s\"",
		    name, i, f.line[i], want[i]);
	}
	ck_assert_msg(f.n == i, "%s: %d results, not %d", name, f.n, i);
	extended_free(&r.x);
}

START_TEST(results_go_to_their_statements)
{
	const struct cmsg ok[] = { P("a", "r1"), B("p", "a"), EX("p", 0), P("b", "r2"),
		B("q", "b"), EX("q", 0), SY, Q("r3"), Q("none"), END };
	const char *const ok_want[] = { "1 ok r1 -", "2 ok r2 -", "3 ok r3 -", "4 ok none -",
		NULL };
	run_results(ok, -1, ok_want, "two Executes, then two Queries");

	/* A Bind that fails (message 4, after an injected Describe): its
	 * error goes on the next Execute; the Executes after it to the Sync
	 * are skipped; the Query after the Sync runs. */
	const struct cmsg bind[] = { P("a", "r1"), B("p", "a"), EX("p", 0), B("q", "a"),
		EX("q", 0), B("r", "a"), EX("r", 0), SY, Q("r2"), END };
	const char *const bind_want[] = { "1 ok r1 -", "2 error - failed", "3 skipped - -",
		"4 ok r2 -", NULL };
	run_results(bind, 4, bind_want, "a failed Bind between two Executes");
	/* Refused by the relay: the refused Execute (no intent) takes the
	 * error, not the next one. */
	const struct cmsg refused[] = { P("a", "r1"), B("p", "a"), EX("p", 0), B("q", "zz"),
		EX("q", 0), B("r", "a"), EX("r", 0), SY, Q("r2"), END };
	const char *const refused_want[] = { "1 ok r1 -", "2 skipped - -", "3 ok r2 -", NULL };
	run_results(refused, -1, refused_want, "a refused Bind and Execute between two Executes");

	/* A failed Execute, then a Query and an Execute before the Sync. */
	const struct cmsg exec[] = { P("", "r1"), B("", ""), EX("", 0), Q("r2"), P("", "r3"),
		B("", ""), EX("", 0), SY, Q("r1"), END };
	const char *const exec_want[] = { "1 error - failed", "2 skipped - -", "3 skipped - -",
		"4 ok r1 -", NULL };
	run_results(exec, 3, exec_want, "an Execute that fails, a Query after it");

	/* A failed Parse, a Query first: nothing ran, no statement has the error. */
	const struct cmsg parse[] = { P("", "bad"), Q("r2"), B("", ""), EX("", 0), SY, Q("r3"),
		END };
	const char *const parse_want[] = { "1 skipped - -", "2 skipped - -", "3 ok r3 -", NULL };
	run_results(parse, -1, parse_want, "a failed Parse, a Query after it");

	/* A Query's error is its own; the next Query runs. */
	const struct cmsg query[] = { Q("bad"), Q("r1"), END };
	const char *const query_want[] = { "1 error - failed", "2 ok r1 -", NULL };
	run_results(query, -1, query_want, "a failed Query");

	/* PortalSuspended ends an Execute; the next one continues the portal. */
	const struct cmsg susp[] = { P("", "r1"), B("p", ""), DP("p"), EX("p", 1), EX("p", 1),
		EX("p", 0), SY, END };
	const char *const susp_want[] = { "1 suspended - -", "2 suspended - -", "3 ok r1 -",
		NULL };
	run_results(susp, -1, susp_want, "a suspended portal");
}
END_TEST

START_TEST(results_of_copy_from_stdin)
{
	/* The Syncs a COPY reads answer nothing; its tag is its own. */
	const struct cmsg q[] = { Q("copy"), SY, CD, Q("r2"), END };
	const char *const q_want[] = { "1 ok SELECT 1 -", "2 ok r2 -", NULL };
	run_results(q, -1, q_want, "COPY FROM STDIN by Query, a Sync read by it");
	const struct cmsg x[] = { P("", "copy"), B("", ""), EX("", 0), SY, CD, SY, Q("r2"), END };
	const char *const x_want[] = { "1 ok SELECT 1 -", "2 ok r2 -", NULL };
	run_results(x, -1, x_want, "COPY FROM STDIN by Execute, a Sync read by it");
	/* The COPY's Execute fails to start: the Query after the Sync is not
	 * taken for it. */
	const struct cmsg f[] = { P("", "copy"), B("", ""), EX("", 0), SY, Q("r1"), END };
	const char *const f_want[] = { "1 error - failed", "2 ok r1 -", NULL };
	run_results(f, 3, f_want, "COPY FROM STDIN by Execute that fails");
}
END_TEST

START_TEST(results_interrupted_in_order)
{
	struct relay r;
	relay_init(&r);
	r.numbered = 1;
	struct finished_log f = { .n = 0 };
	extended_set_finished(&r.x, on_finished, &f);
	const struct cmsg s[] = { P("", "r1"), B("", ""), EX("", 0), SY, Q("r2"), END };
	for (int i = 0; s[i].type != 0; i++)
		relay_client(&r, &s[i]);
	extended_abandon(&r.x, "interrupted");
	ck_assert(extended_idle(&r.x));
	ck_assert_int_eq(f.n, 2);
	ck_assert_str_eq(f.line[0], "1 interrupted - -");
	ck_assert_str_eq(f.line[1], "2 interrupted - -");
	/* Freed, not finished. */
	relay_client(&r, &s[4]);
	extended_free(&r.x);
	ck_assert_int_eq(f.n, 2);
}
END_TEST

/* ---- model-based, random ---- */

static uint64_t
rnd(uint64_t *st)
{
	*st ^= *st << 13;
	*st ^= *st >> 7;
	*st ^= *st << 17;
	return *st;
}

static const char *
pick(uint64_t *st, const char *const *v, int n)
{
	return v[rnd(st) % (uint64_t)n];
}

static void
random_script(uint64_t *st, struct cmsg *out, int *n)
{
	static const char *const stmts[] = { "", "a", "b" };
	static const char *const portals[] = { "", "p", "q" };
	static const char *const labels[] = { "r1", "r2", "r3", "none", "bad", "copy" };
	int len = 1 + (int)(rnd(st) % 24);
	int k = 0;
	int copying = 0;
	for (int i = 0; i < len; i++) {
		struct cmsg m;
		memset(&m, 0, sizeof m);
		unsigned op = (unsigned)(rnd(st) % 100);
		if (copying) {
			/* While a COPY may be reading: CopyDone, and now and then a
			 * Sync before it (ignored by the COPY). */
			m.type = op < 30 ? 'S' : 'c';
			if (m.type == 'c')
				copying = 0;
			out[k++] = m;
			continue;
		}
		if (op < 18) {
			m.type = 'P';
			snprintf(m.name, sizeof m.name, "%s", pick(st, stmts, 3));
			snprintf(m.label, sizeof m.label, "%s", pick(st, labels, 6));
		} else if (op < 36) {
			m.type = 'B';
			snprintf(m.name, sizeof m.name, "%s", pick(st, portals, 3));
			snprintf(m.stmt, sizeof m.stmt, "%s", rnd(st) % 12 == 0 ? "zz" : pick(st, stmts, 3));
		} else if (op < 46) {
			m.type = 'D';
			m.what = rnd(st) % 3 == 0 ? 'S' : 'P';
			snprintf(m.name, sizeof m.name, "%s", m.what == 'S' ? pick(st, stmts, 3) :
			    pick(st, portals, 3));
		} else if (op < 68) {
			m.type = 'E';
			snprintf(m.name, sizeof m.name, "%s", pick(st, portals, 3));
			m.max = rnd(st) % 3 == 0 ? (unsigned)(1 + rnd(st) % 2) : 0;
		} else if (op < 74) {
			m.type = 'C';
			m.what = rnd(st) % 2 ? 'S' : 'P';
			snprintf(m.name, sizeof m.name, "%s", m.what == 'S' ? pick(st, stmts, 3) :
			    pick(st, portals, 3));
		} else if (op < 88) {
			m.type = 'S';
		} else {
			m.type = 'Q';
			snprintf(m.label, sizeof m.label, "%s", pick(st, labels, 6));
		}
		out[k++] = m;
		/* A client goes on with its COPY data after what may start one. */
		if ((m.type == 'E' || (m.type == 'Q' && strcmp(m.label, "copy") == 0)) &&
		    rnd(st) % 2)
			copying = 1;
	}
	if (copying)
		out[k++] = (struct cmsg){ .type = 'c' };
	out[k++] = (struct cmsg){ .type = 'S' };
	*n = k;
}

/* Whether the model would start a COPY at message i of what was sent. */
static int
model_copies(const struct relay *r)
{
	for (int i = 0; i < r->nout; i++)
		if (strcmp(r->out[i].label, "copy") == 0)
			return 1;
	return 0;
}

START_TEST(model_random_pipelines)
{
	int runs = 0, invalid = 0;
	for (uint64_t seed = 1; seed <= 3000; seed++) {
		uint64_t st = seed * 0x9e3779b97f4a7c15ull;
		struct cmsg script[64];
		int n;
		random_script(&st, script, &n);
		int lockstep = (int)(rnd(&st) % 2);
		struct relay r;
		relay_init(&r);
		struct model s;
		memset(&s, 0, sizeof s);
		s.fail_at = rnd(&st) % 3 == 0 ? (int)(rnd(&st) % 40) : -1;
		char ctx[200];
		int sent = 0, got = 0;
		for (int i = 0; i < n; i++) {
			relay_client(&r, &script[i]);
			/* Lock step: the server answers each Sync before the next
			 * message is sent (what a client waiting for results does). */
			if (!lockstep || script[i].type != 'S')
				continue;
			for (; sent < r.nout; sent++)
				mserver(&s, &r.out[sent], sent);
			if (s.violation)
				break;
			for (; got < s.nout; got++) {
				snprintf(ctx, sizeof ctx, "seed %llu (lock step), server message %d",
				    (unsigned long long)seed, got);
				relay_server(&r, &s.out[got], ctx);
			}
		}
		for (; sent < r.nout; sent++)
			mserver(&s, &r.out[sent], sent);
		if (s.violation) {
			/* The relay must say it lost track (the session ends where
			 * that matters), and must not crash. */
			int lost = 0;
			for (; got < s.nout && !lost; got++) {
				struct pgbuf b;
				if (s.out[got].type == 'D')
					continue;
				server_wire(&s.out[got], &b);
				int swallow;
				lost = extended_on_server(&r.x, s.out[got].type, b.data, b.len,
				    &swallow) != 0;
				pgbuf_free(&b);
			}
			ck_assert_msg(lost, "seed %llu: a message sent into a COPY went unnoticed",
			    (unsigned long long)seed);
			invalid++;
			extended_free(&r.x);
			continue;
		}
		for (; got < s.nout; got++) {
			snprintf(ctx, sizeof ctx, "seed %llu (%s), server message %d",
			    (unsigned long long)seed, lockstep ? "lock step" : "pipelined", got);
			relay_server(&r, &s.out[got], ctx);
		}
		/* A COPY that a Sync-less error left reading still waits for its
		 * CopyDone: only then is every Sync answered. */
		if (getenv("EXT_DEBUG") != NULL && (uint64_t)atoll(getenv("EXT_DEBUG")) == seed) {
			fprintf(stderr, "fail_at %d lockstep %d\n", s.fail_at, lockstep);
			for (int i = 0; i < r.nout; i++)
				fprintf(stderr, "> %d %c%c %s %s %s %u%s\n", i, r.out[i].type,
				    r.out[i].what ? r.out[i].what : ' ', r.out[i].name, r.out[i].stmt,
				    r.out[i].label, r.out[i].max, r.out[i].injected ? " (injected)" : "");
			for (int i = 0; i < s.nout; i++)
				fprintf(stderr, "< %c %s%s\n", s.out[i].type, s.out[i].label,
				    s.out[i].injected ? " (injected)" : "");
		}
		if (!s.copy_in && !s.skipping) {
			snprintf(ctx, sizeof ctx, "seed %llu", (unsigned long long)seed);
			assert_idle(&r, ctx);
			runs++;
		} else {
			ck_assert(model_copies(&r) || s.skipping);
		}
		extended_free(&r.x);
	}
	ck_assert_int_gt(runs, 2200);
	ck_assert_int_lt(invalid, 400);
}
END_TEST

static Suite *
extended_suite(void)
{
	Suite *s = suite_create("extended");
	TCase *t = tcase_create("scripted");
	tcase_add_test(t, reparse_without_describe);
	tcase_add_test(t, close_and_reparse_named);
	tcase_add_test(t, portal_rebound_after_describe);
	tcase_add_test(t, error_skips_to_sync_with_injected_describes);
	tcase_add_test(t, query_after_error_is_discarded);
	tcase_add_test(t, refused_bind_and_execute);
	tcase_add_test(t, describe_statement_parameters_then_nodata);
	tcase_add_test(t, suspended_then_reexecuted);
	tcase_add_test(t, close_of_a_portal_whose_execute_is_owed);
	tcase_add_test(t, copy_from_stdin_in_extended);
	tcase_add_test(t, describe_again_after_any_statement);
	tcase_add_test(t, forwarding_portals_stale_after_a_statement);
	tcase_add_test(t, results_go_to_their_statements);
	tcase_add_test(t, results_of_copy_from_stdin);
	tcase_add_test(t, results_interrupted_in_order);
	suite_add_tcase(s, t);
	TCase *m = tcase_create("model");
	tcase_set_timeout(m, 30);
	tcase_add_test(m, model_random_pipelines);
	suite_add_tcase(s, m);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(extended_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
