/* Relay modules that need no network: the identity stamp and startup
 * options, message framing of a flow, and the configuration. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay/config.h"
#include "relay/endpoint.h"
#include "relay/flow.h"
#include "relay/identity.h"
#include "relay/records.h"
#include "rectext.h"
#include "pgproto.h"
#include "sock.h"
#include "relay/shapekey.h"
#include "relay/stamp.h"

static struct pg_startup
startup_of(struct pgbuf *b, const char *const *kv, int n)
{
	pgbuf_init(b);
	pgbuf_begin(b, 0);
	pgbuf_put_u32(b, PG_PROTO_V3);
	for (int i = 0; i < n; i++)
		pgbuf_put_str(b, kv[i]);
	pgbuf_put_u8(b, 0);
	pgbuf_end(b);
	struct pg_startup s = pg_startup_parse(b->data, b->len);
	ck_assert_ptr_null(s.error);
	return s;
}

static const struct stamp_identity alice_id = { "alice", "person", "", "s1" };

START_TEST(stamp_appends_identity_last)
{
	const char *kv[] = { "user", "app_read", "database", "shop", "DateStyle", "ISO, DMY",
		"application_name", "psql", "options", "-c work_mem=8MB --search-path=a\\ b" };
	struct pgbuf b;
	struct pg_startup st = startup_of(&b, kv, 10);
	struct stamp_result r = stamp_build(&st, &alice_id);
	ck_assert_ptr_null(r.error);
	ck_assert_str_eq(r.application_name, "psql");
	ck_assert_ptr_nonnull(strstr(r.options, "-c DateStyle=ISO,\\ DMY "));
	ck_assert_ptr_nonnull(strstr(r.options, "-c work_mem=8MB "));
	ck_assert_ptr_nonnull(strstr(r.options, "-c search_path=a\\ b "));
	const char *u = strstr(r.options, "-c pgward.user=alice ");
	ck_assert_ptr_nonnull(u);
	ck_assert_ptr_nonnull(strstr(u, "-c pgward.principal=person -c pgward.actor= "
	    "-c pgward.session=s1 "));
	stamp_result_free(&r);
	pgbuf_free(&b);
}
END_TEST

START_TEST(stamp_actor_and_principal)
{
	const char *kv[] = { "user", "app_read" };
	struct pgbuf b;
	struct pg_startup st = startup_of(&b, kv, 2);
	const struct stamp_identity bob = { "bob", "agent", "ci-bot<-deploy-svc", "s2" };
	struct stamp_result r = stamp_build(&st, &bob);
	ck_assert_ptr_null(r.error);
	ck_assert_str_eq(r.options, "-c pgward.user=bob -c pgward.principal=agent "
	    "-c pgward.actor=ci-bot<-deploy-svc -c pgward.session=s2 ");
	stamp_result_free(&r);
	pgbuf_free(&b);
	const char *kv2[] = { "user", "app_read", "options", "-c pgward.actor=me" };
	st = startup_of(&b, kv2, 4);
	r = stamp_build(&st, &bob);
	ck_assert_ptr_nonnull(r.error);
	ck_assert_str_eq(r.sqlstate, "42501");
	pgbuf_free(&b);
	const char *kv3[] = { "user", "app_read", "pgward.principal", "person" };
	st = startup_of(&b, kv3, 4);
	r = stamp_build(&st, &bob);
	ck_assert_ptr_nonnull(r.error);
	pgbuf_free(&b);
}
END_TEST

/* ---- identity ---- */

static int
identity_of(const char *reply_text, struct relay_identity *id)
{
	json_t *reply = json_loads(reply_text, JSON_ALLOW_NUL, NULL);
	ck_assert_ptr_nonnull(reply);
	memset(id, 0, sizeof *id);
	int rc = relay_identity_from_reply(id, reply);
	json_decref(reply);
	return rc;
}

START_TEST(identity_actor_chain)
{
	struct relay_identity id;
	ck_assert_int_eq(identity_of("{\"v\":1,\"ok\":true,\"user\":\"bob\",\"groups\":[],"
	    "\"exp\":1,\"iss\":\"i\",\"sub\":\"bob\",\"principal\":\"person\","
	    "\"actor\":[{\"sub\":\"ci-bot\",\"client_id\":\"pgward-ci\"},{\"sub\":\"deploy-svc\"}],"
	    "\"client_id\":\"pgward-ci\"}", &id), 0);
	ck_assert_int_eq(id.agent, 0);
	ck_assert_int_eq(id.nactors, 2);
	ck_assert_str_eq(id.client_id, "pgward-ci");
	char *text = relay_identity_actor_text(&id);
	ck_assert_str_eq(text, "ci-bot<-deploy-svc");
	free(text);
	json_t *a = relay_identity_actor_json(&id);
	char *dumped = json_dumps(a, JSON_COMPACT);
	ck_assert_str_eq(dumped, "[{\"sub\":\"ci-bot\",\"client_id\":\"pgward-ci\"},"
	    "{\"sub\":\"deploy-svc\"}]");
	free(dumped);
	json_decref(a);
	relay_identity_free(&id);

	/* Protocol 1.0: a person with no actor and no client. */
	ck_assert_int_eq(identity_of("{\"user\":\"alice\",\"exp\":1}", &id), 0);
	ck_assert_int_eq(id.agent, 0);
	ck_assert_int_eq(id.nactors, 0);
	ck_assert_ptr_null(id.client_id);
	text = relay_identity_actor_text(&id);
	ck_assert_str_eq(text, "");
	free(text);
	ck_assert_str_eq(relay_identity_principal(&id), "person");
	relay_identity_free(&id);

	ck_assert_int_eq(identity_of("{\"user\":\"svc\",\"exp\":1,\"principal\":\"agent\","
	    "\"actor\":[]}", &id), 0);
	ck_assert_str_eq(relay_identity_principal(&id), "agent");
	relay_identity_free(&id);
}
END_TEST

/* Every record names the person, the principal kind, the actor chain and
 * the client, and stays in the layout logd stores as sent. */
START_TEST(records_carry_the_actor)
{
	struct relay_session s;
	memset(&s, 0, sizeof s);
	snprintf(s.session_id, sizeof s.session_id, "5c0e9a01");
	s.connection = "shop";
	s.role = "app_write";
	snprintf(s.client_addr, sizeof s.client_addr, "127.0.0.1:5");
	ck_assert_int_eq(identity_of("{\"user\":\"bob\",\"exp\":1,\"iss\":\"i\",\"sub\":\"bob\","
	    "\"groups\":[\"eng\"],\"principal\":\"person\",\"client_id\":\"pgward-ci\","
	    "\"actor\":[{\"sub\":\"ci-bot\",\"client_id\":\"pgward-ci\"},{\"sub\":\"deploy-svc\"}]}",
	    &s.id), 0);
	struct pending p;
	memset(&p, 0, sizeof p);
	p.number = 1;
	p.intent_seq = 7;
	p.status = "ok";
	json_t *recs[] = { record_session_start(&s), record_intent(&s, 1, "simple"),
		record_result(&s, &p, 1500), record_session_end(&s, "client closed", 1) };
	for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
		ck_assert_ptr_nonnull(recs[i]);
		char *text = json_dumps(recs[i], JSON_COMPACT | JSON_ENSURE_ASCII);
		ck_assert_msg(strstr(text, "\"user\":\"bob\",\"principal\":\"person\",\"actor\":"
		    "[{\"sub\":\"ci-bot\",\"client_id\":\"pgward-ci\"},{\"sub\":\"deploy-svc\"}],"
		    "\"client_id\":\"pgward-ci\",") != NULL, "%s", text);
		ck_assert_msg(rectext_payload_ok(text, strlen(text)), "not canonical: %s", text);
		free(text);
		json_decref(recs[i]);
	}
	relay_identity_free(&s.id);
	/* An agent with no actor: an empty chain, no client_id member. */
	ck_assert_int_eq(identity_of("{\"user\":\"svc\",\"exp\":1,\"principal\":\"agent\"}",
	    &s.id), 0);
	json_t *r = record_session_end(&s, "x", 0);
	char *text = json_dumps(r, JSON_COMPACT | JSON_ENSURE_ASCII);
	ck_assert_str_eq(text, "{\"type\":\"session_end\",\"session\":\"5c0e9a01\",\"user\":\"svc\","
	    "\"principal\":\"agent\",\"actor\":[],\"reason\":\"x\",\"statements\":0}");
	free(text);
	json_decref(r);
	relay_identity_free(&s.id);
}
END_TEST

START_TEST(identity_malformed)
{
	static const char *const bad[] = {
		"{\"user\":\"a\",\"exp\":1,\"principal\":\"robot\"}",
		"{\"user\":\"a\",\"exp\":1,\"principal\":1}",
		"{\"user\":\"a\",\"exp\":1,\"actor\":{\"sub\":\"x\"}}",
		"{\"user\":\"a\",\"exp\":1,\"actor\":[\"x\"]}",
		"{\"user\":\"a\",\"exp\":1,\"actor\":[{\"sub\":1}]}",
		"{\"user\":\"a\",\"exp\":1,\"actor\":[{}]}",
		"{\"user\":\"a\",\"exp\":1,\"actor\":[{\"sub\":\"\"}]}",
		"{\"user\":\"a\",\"exp\":1,\"actor\":[{\"sub\":\"a<-b\"}]}",
		"{\"user\":\"a\",\"exp\":1,\"actor\":[{\"sub\":\"a\\nb\"}]}",
		"{\"user\":\"a\",\"exp\":1,\"actor\":[{\"sub\":\"a\",\"client_id\":5}]}",
		"{\"user\":\"a\",\"exp\":1,\"client_id\":[]}",
		"{\"user\":\"a\",\"exp\":1,\"client_id\":\"\"}",
		"{\"user\":\"a\\u0000b\",\"exp\":1}",
		"{\"user\":\"\",\"exp\":1}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct relay_identity id;
		ck_assert_msg(identity_of(bad[i], &id) != 0, "accepted %s", bad[i]);
		relay_identity_free(&id);
	}
	/* More actors than any auth sends. */
	json_t *reply = json_pack("{s:s, s:i}", "user", "a", "exp", 1);
	json_t *chain = json_array();
	for (int i = 0; i <= RELAY_MAX_ACTORS; i++) {
		char sub[16];
		snprintf(sub, sizeof sub, "a%d", i);
		json_array_append_new(chain, json_pack("{s:s}", "sub", sub));
	}
	json_object_set_new(reply, "actor", chain);
	struct relay_identity id;
	memset(&id, 0, sizeof id);
	ck_assert_int_ne(relay_identity_from_reply(&id, reply), 0);
	relay_identity_free(&id);
	json_decref(reply);
}
END_TEST

START_TEST(stamp_escapes_identity)
{
	const char *kv[] = { "user", "app_read" };
	struct pgbuf b;
	struct pg_startup st = startup_of(&b, kv, 2);
	const struct stamp_identity eve = { "eve -c pgward.user=root", "person",
		"bot -c pgward.actor=x", "s1" };
	struct stamp_result r = stamp_build(&st, &eve);
	ck_assert_ptr_null(r.error);
	ck_assert_ptr_nonnull(strstr(r.options, "pgward.user=eve\\ -c\\ pgward.user=root "));
	ck_assert_ptr_nonnull(strstr(r.options, "pgward.actor=bot\\ -c\\ pgward.actor=x "));
	stamp_result_free(&r);
	pgbuf_free(&b);
}
END_TEST

START_TEST(stamp_refuses_reserved)
{
	const char *cases[][2] = {
		{ "options", "-c pgward.user=bob" },
		{ "options", "-cPGWARD.user=bob" },
		{ "options", "--pgward.session=x" },
		{ "options", "-c\\ pgward.user=bob" },
		{ "pgward.user", "bob" },
		{ "PgWard.Session", "x" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *kv[] = { "user", "app_read", cases[i][0], cases[i][1] };
		struct pgbuf b;
		struct pg_startup st = startup_of(&b, kv, 4);
		struct stamp_result r = stamp_build(&st, &alice_id);
		ck_assert_msg(r.error != NULL, "case %zu accepted: %s=%s", i, cases[i][0], cases[i][1]);
		ck_assert_ptr_null(r.options);
		pgbuf_free(&b);
	}
}
END_TEST

START_TEST(stamp_refuses_other_switches)
{
	const char *bad[] = { "-D /tmp", "-c", "-c =x", "-c bad;name=1", "junk" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *kv[] = { "user", "app_read", "options", bad[i] };
		struct pgbuf b;
		struct pg_startup st = startup_of(&b, kv, 4);
		struct stamp_result r = stamp_build(&st, &alice_id);
		ck_assert_msg(r.error != NULL, "options \"%s\" accepted", bad[i]);
		pgbuf_free(&b);
	}
	const char *kv[] = { "user", "app_read", "replication", "database" };
	struct pgbuf b;
	struct pg_startup st = startup_of(&b, kv, 4);
	struct stamp_result r = stamp_build(&st, &alice_id);
	ck_assert_str_eq(r.sqlstate, "0A000");
	pgbuf_free(&b);
}
END_TEST

/* ---- flow ---- */

struct seen {
	char types[64];
	int n;
	char stop_on;
};

static enum flow_verdict
record(void *ctx, char type, const uint8_t *msg, size_t len)
{
	struct seen *s = ctx;
	ck_assert_int_eq(msg[0], type);
	ck_assert_uint_eq(pg_be32(msg + 1) + 1, len);
	s->types[s->n++] = type;
	return type == s->stop_on ? FLOW_STOP : FLOW_FORWARD;
}

static void
put_msg(struct pgbuf *b, char type, size_t body)
{
	pgbuf_begin(b, type);
	for (size_t i = 0; i < body; i++)
		pgbuf_put_u8(b, (uint8_t)('a' + i % 26));
	pgbuf_end(b);
}

/* Feeds bytes through a socketpair in chunks of the given size and
 * checks what comes out the other side. */
static void
run_flow(const struct pgbuf *in, size_t chunk, struct seen *seen, struct pgbuf *out,
    size_t max_message, int *violation)
{
	int sv[2], dv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, dv), 0);
	/* The relay's sockets are non-blocking; so are these. */
	sock_set_nonblock(sv[1], 1);
	sock_set_nonblock(dv[0], 1);
	struct endpoint src, dst;
	endpoint_init(&src, sv[1], NULL);
	endpoint_init(&dst, dv[0], NULL);
	struct flow f;
	ck_assert_int_eq(flow_init(&f, max_message, "QP", record, seen), 0);
	*violation = 0;
	sock_set_nonblock(sv[0], 1);
	size_t off = 0;
	int idle = 0;
	while (!f.stopped && idle < 3) {
		size_t before_out = out->len, before_off = off;
		if (off < in->len) {
			size_t n = in->len - off < chunk ? in->len - off : chunk;
			ssize_t w = write(sv[0], in->data + off, n);
			if (w > 0)
				off += (size_t)w;
		}
		ck_assert_int_eq(flow_fill(&f, &src), 0);
		if (flow_scan(&f) != 0) {
			*violation = 1;
			break;
		}
		ck_assert_int_eq(flow_drain(&f, &dst), 0);
		uint8_t buf[65536];
		ssize_t r;
		while ((r = recv(dv[1], buf, sizeof buf, MSG_DONTWAIT)) > 0)
			pgbuf_put(out, buf, (size_t)r);
		idle = (out->len == before_out && off == before_off) ? idle + 1 : 0;
	}
	flow_free(&f);
	close(sv[0]);
	close(sv[1]);
	close(dv[0]);
	close(dv[1]);
}

static void
check_passes(size_t big, const size_t *chunks, size_t nchunks)
{
	struct pgbuf in;
	pgbuf_init(&in);
	put_msg(&in, 'Q', 20);
	put_msg(&in, 'd', big * 2);	/* streams through */
	put_msg(&in, 'P', 0);
	put_msg(&in, 'S', 0);
	put_msg(&in, 'Q', big);	/* held whole */
	for (size_t c = 0; c < nchunks; c++) {
		struct seen seen = { .stop_on = 0 };
		struct pgbuf out;
		pgbuf_init(&out);
		int violation;
		run_flow(&in, chunks[c], &seen, &out, 1 << 20, &violation);
		ck_assert(!violation);
		ck_assert_uint_eq(out.len, in.len);
		ck_assert(memcmp(out.data, in.data, in.len) == 0);
		ck_assert_int_eq(seen.n, 3);
		ck_assert(memcmp(seen.types, "QPQ", 3) == 0);
		pgbuf_free(&out);
	}
	pgbuf_free(&in);
}

START_TEST(flow_passes_everything_in_order)
{
	/* Every split point of small messages... */
	static const size_t small[] = { 1, 2, 3, 5, 7, 64 };
	check_passes(300, small, sizeof small / sizeof small[0]);
	/* ...and a held message larger than the default buffer. */
	static const size_t large[] = { 4096, 65536, 100000 };
	check_passes(70000, large, sizeof large / sizeof large[0]);
}
END_TEST

START_TEST(flow_stop_drops_the_rest)
{
	struct pgbuf in;
	pgbuf_init(&in);
	put_msg(&in, 'Q', 10);
	size_t first = in.len;
	put_msg(&in, 'P', 10);
	put_msg(&in, 'Q', 10);
	struct seen seen = { .stop_on = 'P' };
	struct pgbuf out;
	pgbuf_init(&out);
	int violation;
	run_flow(&in, in.len, &seen, &out, 1 << 20, &violation);
	ck_assert_uint_eq(out.len, first);
	ck_assert_int_eq(seen.n, 2);
	pgbuf_free(&out);
	pgbuf_free(&in);
}
END_TEST

START_TEST(flow_rejects_bad_lengths)
{
	const uint8_t bad[][5] = {
		{ 'Q', 0, 0, 0, 3 },		/* shorter than the length word */
		{ 'Q', 0xff, 0xff, 0xff, 0xff },	/* negative */
		{ 'd', 0x10, 0, 0, 0 },		/* over the limit, even streaming */
		{ 'Q', 0, 0x10, 0, 1 },		/* over the limit */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct pgbuf in;
		pgbuf_init(&in);
		pgbuf_put(&in, bad[i], 5);
		struct seen seen = { .stop_on = 0 };
		struct pgbuf out;
		pgbuf_init(&out);
		int violation;
		run_flow(&in, 5, &seen, &out, 1 << 20, &violation);
		ck_assert_msg(violation, "case %zu accepted", i);
		ck_assert_uint_eq(out.len, 0);
		pgbuf_free(&out);
		pgbuf_free(&in);
	}
}
END_TEST

/* ---- shape keys ---- */

static enum flow_verdict
pause_on_p(void *ctx, char type, const uint8_t *msg, size_t len)
{
	(void)msg;
	(void)len;
	struct flow *f = ctx;
	if (type == 'P')
		f->paused = 1;
	return FLOW_FORWARD;
}

/* A paused flow examines nothing after the message that paused it; what
 * the owner inserts goes before the held bytes. */
START_TEST(flow_pause_and_insert)
{
	int sv[2], dv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, dv), 0);
	sock_set_nonblock(sv[1], 1);
	sock_set_nonblock(dv[0], 1);
	struct endpoint src, dst;
	endpoint_init(&src, sv[1], NULL);
	endpoint_init(&dst, dv[0], NULL);
	struct flow f;
	ck_assert_int_eq(flow_init(&f, 1 << 20, "QPS", pause_on_p, &f), 0);
	struct pgbuf in, ins, want;
	pgbuf_init(&in);
	pgbuf_init(&ins);
	pgbuf_init(&want);
	put_msg(&in, 'Q', 3);
	put_msg(&in, 'P', 4);
	size_t head = in.len;
	put_msg(&in, 'd', 5000);	/* would stream, but is held */
	put_msg(&in, 'S', 0);
	put_msg(&ins, 'B', 7);
	ck_assert_int_eq(write(sv[0], in.data, in.len), (ssize_t)in.len);
	ck_assert_int_eq(flow_fill(&f, &src), 0);
	ck_assert_int_eq(flow_scan(&f), 0);
	ck_assert(f.paused);
	ck_assert_uint_eq(f.ready, head);
	ck_assert_int_eq(flow_insert(&f, ins.data, ins.len), 0);
	ck_assert_int_eq(flow_scan(&f), 0);	/* still paused: nothing examined */
	ck_assert_int_eq(flow_drain(&f, &dst), 0);
	f.paused = 0;
	ck_assert_int_eq(flow_scan(&f), 0);
	ck_assert_int_eq(flow_drain(&f, &dst), 0);
	pgbuf_put(&want, in.data, head);
	pgbuf_put(&want, ins.data, ins.len);
	pgbuf_put(&want, in.data + head, in.len - head);
	uint8_t buf[16384];
	ssize_t r = recv(dv[1], buf, sizeof buf, MSG_DONTWAIT);
	ck_assert_int_eq(r, (ssize_t)want.len);
	ck_assert(memcmp(buf, want.data, want.len) == 0);
	flow_free(&f);
	pgbuf_free(&in);
	pgbuf_free(&ins);
	pgbuf_free(&want);
	close(sv[0]);
	close(sv[1]);
	close(dv[0]);
	close(dv[1]);
}
END_TEST

START_TEST(shapekey_equal_only_for_literal_changes)
{
	char a[65], b[65];
	ck_assert_int_eq(shapekey_of("SELECT abalance FROM pgbench_accounts WHERE aid = 17;", a), 0);
	ck_assert_int_eq(shapekey_of("SELECT abalance FROM pgbench_accounts WHERE aid = 923401;", b), 0);
	ck_assert_str_eq(a, b);
	ck_assert_int_eq(shapekey_of("select * from t where v = 'x' and n = 1.5", a), 0);
	ck_assert_int_eq(shapekey_of("select * from t where v = 'it''s' and n = 2", b), 0);
	ck_assert_str_eq(a, b);
	static const char *const different[] = {
		"SELECT abalance FROM pgbench_accounts WHERE bid = 17;",
		"SELECT abalance FROM pgbench_accounts WHERE aid > 17;",
		"SELECT abalance FROM pgbench_accounts WHERE aid = -17;",
		"SELECT abalance FROM pgbench_accounts1 WHERE aid = 17;",
		"select abalance from pgbench_accounts where aid = 17;",
		"SELECT abalance FROM pgbench_accounts WHERE aid = 17 OR true;",
	};
	ck_assert_int_eq(shapekey_of("SELECT abalance FROM pgbench_accounts WHERE aid = 17;", a), 0);
	for (size_t i = 0; i < sizeof different / sizeof different[0]; i++) {
		ck_assert_int_eq(shapekey_of(different[i], b), 0);
		ck_assert_msg(strcmp(a, b) != 0, "same key for %s", different[i]);
	}
}
END_TEST

START_TEST(shapekey_refuses_what_it_cannot_lex_safely)
{
	static const char *const refused[] = {
		"select 1 -- comment", "select /* c */ 1", "do $$ begin end $$",
		"select E'a\\'b'", "select 'a\\'", "select \"Col\" from t",
		"select $1", "select 1e5", "select 0x1f", "select 'unterminated",
		"select x::int", "select a[1]", "select 'a''", "",
	};
	char k[65];
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		ck_assert_msg(shapekey_of(refused[i], k) == -1, "keyed: %s", refused[i]);
}
END_TEST

/* ---- config ---- */

static char *
write_temp(const char *text)
{
	char *path = strdup("/tmp/pgward-test-relay-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

START_TEST(config_valid_and_grants)
{
	char *p = write_temp(
	    "# relay\n"
	    "listen 127.0.0.1:6432\n"
	    "auth-socket /run/pgward/auth.sock\n"
	    "audit-socket /run/pgward/logd.sock\n"
	    "connection shop host=/run/postgresql dbname=shop\n"
	    "connection crm  host=db2 dbname=crm sslmode=verify-full\n"
	    "allow shop app_read analysts, engineers\n"
	    "allow * app_admin dba\n"
	    "max-sessions 7\n");
	struct relay_config_result r = relay_config_load(p);
	ck_assert_msg(r.error == NULL, "%s", r.error);
	struct relay_config *c = r.config;
	ck_assert_int_eq(c->max_sessions, 7);
	ck_assert_int_eq(c->connections.n, 2);
	ck_assert_str_eq(relay_config_connection(c, "crm")->conninfo,
	    "host=db2 dbname=crm sslmode=verify-full");
	const char *analysts[] = { "analysts" };
	const char *dba[] = { "x", "dba" };
	const char *none[] = { "marketing" };
	ck_assert(relay_config_may_assume(c, "shop", "app_read", analysts, 1));
	ck_assert(!relay_config_may_assume(c, "crm", "app_read", analysts, 1));
	ck_assert(!relay_config_may_assume(c, "shop", "app_write", analysts, 1));
	ck_assert(relay_config_may_assume(c, "crm", "app_admin", dba, 2));
	ck_assert(!relay_config_may_assume(c, "shop", "app_read", none, 1));
	ck_assert(!relay_config_may_assume(c, "shop", "app_read", NULL, 0));
	relay_config_result_free(&r);
	unlink(p);
	free(p);
}
END_TEST

START_TEST(config_errors_name_the_line)
{
	const char *bad[] = {
		"listen :1\nauth-socket /a\naudit-socket off\nconnection a host=x\nbogus 1\n",
		"listen :1\nauth-socket /a\naudit-socket off\nconnection a host=x\nmax-sessions -3\n",
		"listen :1\nauth-socket /a\naudit-socket off\nconnection a host=x password=secret\n",
		"listen :1\nauth-socket /a\naudit-socket off\nconnection a host=x\nallow b r g\n",
		"listen :1\nconnection a host=x\n",
		"auth-socket /a\naudit-socket off\nconnection a host=x\n",
		"listen :1\nauth-socket /a\naudit-socket off\nconnection a host=x\nconnection a host=y\n",
		"listen :1\nauth-socket /a\naudit-socket off\nconnection a host=x\ntls-cert /c\n",
		"listen :1\nauth-socket /a\naudit-socket off\nconnection a host=x\n"
		    "audit-parameters maybe\n",
		"listen :1\nauth-socket /a\nconnection a host=x\n",	/* no audit-socket */
	};
	/* The base the cases break is itself valid. */
	char *base = write_temp("listen :1\nauth-socket /a\naudit-socket off\nconnection a host=x\n");
	struct relay_config_result ok = relay_config_load(base);
	ck_assert_msg(ok.error == NULL, "%s", ok.error);
	ck_assert(ok.config->audit_off);
	relay_config_result_free(&ok);
	unlink(base);
	free(base);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *p = write_temp(bad[i]);
		struct relay_config_result r = relay_config_load(p);
		ck_assert_msg(r.error != NULL, "case %zu accepted", i);
		ck_assert_ptr_null(r.config);
		ck_assert_ptr_nonnull(strstr(r.error, p));
		relay_config_result_free(&r);
		unlink(p);
		free(p);
	}
}
END_TEST

/* The string keys of the table: each one's field, and whether "off" clears it. */
struct str_key {
	const char *name;
	size_t offset;
	int offable;
};

static int
string_keys(struct str_key *out, int max)
{
	int n = 0;
	for (const struct conf_key *k = relay_config_keys; k->name != NULL; k++)
		if ((k->type == &conf_string || k->type == &conf_string_off) && n < max)
			out[n++] = (struct str_key){ k->name, k->offset,
			    k->type == &conf_string_off };
	return n;
}

static const char *
field_of(const struct relay_config *c, size_t offset)
{
	return *(char *const *)((const char *)c + offset);
}

/* One line of a sequence: key a or b, set to a new value or turned off. */
struct op {
	int which;		/* 0: a, 1: b */
	int off;
};

/*
 * For every pair of string keys (a, b) and every sequence of up to three
 * lines setting a or b to a new value or turning it off (when it can be),
 * after a base that sets every string key (full) or only the required ones:
 * the file parses (or fails only where tls-cert/tls-key are unpaired), a
 * and b hold the last value written, every other key keeps its base value,
 * and freeing is clean (ASan: nothing freed twice, nothing leaked).
 */
START_TEST(config_string_keys_free_only_themselves)
{
	struct str_key sk[32];
	int nk = string_keys(sk, 32);
	ck_assert_int_ge(nk, 8);
	char *text = malloc(8192);
	const char *expect[32];
	char vals[32][64];
	int loads = 0;
	for (int full = 0; full < 2; full++)
	for (int a = 0; a < nk; a++)
	for (int b = 0; b < nk; b++) {
		if (a == b)
			continue;
		struct op ops[6];
		int nops = 0;
		for (int w = 0; w < 2; w++)
			for (int off = 0; off < 2; off++)
				if (!off || sk[w ? b : a].offable)
					ops[nops++] = (struct op){ w, off };
		/* Every sequence of 1 to 3 ops, as a number in base nops. */
		int total = nops + nops * nops + nops * nops * nops;
		for (int seq = 0; seq < total; seq++) {
			int len = seq < nops ? 1 : seq < nops + nops * nops ? 2 : 3;
			int code = len == 1 ? seq : len == 2 ? seq - nops :
			    seq - nops - nops * nops;
			size_t o = (size_t)snprintf(text, 8192,
			    "listen :1\nconnection a host=x\nallow a r g\n"
			    "max-sessions 9\n");
			for (int i = 0; i < nk; i++) {
				expect[i] = NULL;
				int required = strcmp(sk[i].name, "auth-socket") == 0 ||
				    strcmp(sk[i].name, "audit-socket") == 0;
				if (!full && !required)
					continue;
				snprintf(vals[i], sizeof vals[i], "/base/%s", sk[i].name);
				expect[i] = vals[i];
				o += (size_t)snprintf(text + o, 8192 - o, "%s %s\n",
				    sk[i].name, vals[i]);
			}
			static char seqvals[3][64];
			for (int l = 0; l < len; l++) {
				struct op op = ops[code % nops];
				code /= nops;
				int k = op.which ? b : a;
				if (op.off) {
					expect[k] = NULL;
					o += (size_t)snprintf(text + o, 8192 - o, "%s off\n",
					    sk[k].name);
				} else {
					snprintf(seqvals[l], sizeof seqvals[l], "/v%d/%s", l,
					    sk[k].name);
					expect[k] = seqvals[l];
					o += (size_t)snprintf(text + o, 8192 - o, "  %s\t%s  \n",
					    sk[k].name, seqvals[l]);
				}
			}
			char *path = write_temp(text);
			struct relay_config_result r = relay_config_load(path);
			unlink(path);
			free(path);
			loads++;
			int cert = -1, key = -1;
			for (int i = 0; i < nk; i++) {
				if (strcmp(sk[i].name, "tls-cert") == 0)
					cert = i;
				if (strcmp(sk[i].name, "tls-key") == 0)
					key = i;
			}
			ck_assert_int_ge(cert, 0);
			ck_assert_int_ge(key, 0);
			if ((expect[cert] == NULL) != (expect[key] == NULL)) {
				ck_assert_msg(r.error != NULL && strstr(r.error, "go together"),
				    "unpaired tls accepted:\n%s", text);
				relay_config_result_free(&r);
				continue;
			}
			ck_assert_msg(r.error == NULL, "%s\n%s", r.error, text);
			const struct relay_config *c = r.config;
			for (int i = 0; i < nk; i++) {
				const char *got = field_of(c, sk[i].offset);
				if (expect[i] == NULL)
					ck_assert_msg(got == NULL, "%s = %s, expected none\n%s",
					    sk[i].name, got, text);
				else
					ck_assert_msg(got != NULL && strcmp(got, expect[i]) == 0,
					    "%s = %s, expected %s\n%s", sk[i].name, got,
					    expect[i], text);
			}
			ck_assert_int_eq(c->audit_off, c->audit_socket == NULL);
			ck_assert_int_eq(c->max_sessions, 9);
			ck_assert_int_eq(c->connections.n, 1);
			ck_assert_int_eq(c->grants.n, 1);
			ck_assert_uint_eq(c->listen_tcp.n, 1);
			ck_assert_int_eq(c->audit_timeout_ms, 2000);
			relay_config_result_free(&r);
		}
	}
	ck_assert_int_gt(loads, 1000);
	free(text);
}
END_TEST

/* The bug this table replaced: audit-socket off freed three other keys. */
START_TEST(config_audit_off_keeps_the_filter_and_mask_keys)
{
	const char *orders[] = {
		"filter-socket /f\nmask-key /k\nfilter-generation-file /g\naudit-socket off\n",
		"audit-socket off\nfilter-socket /f\nmask-key /k\nfilter-generation-file /g\n",
		"audit-socket /l\nfilter-socket /f\naudit-socket off\nmask-key /k\n"
		    "audit-socket off\nfilter-generation-file /g\n",
	};
	for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++) {
		char text[512];
		snprintf(text, sizeof text, "listen :1\nauth-socket /a\nconnection a host=x\n%s",
		    orders[i]);
		char *p = write_temp(text);
		struct relay_config_result r = relay_config_load(p);
		ck_assert_msg(r.error == NULL, "%s", r.error);
		ck_assert(r.config->audit_off);
		ck_assert_ptr_null(r.config->audit_socket);
		ck_assert_str_eq(r.config->filter_socket, "/f");
		ck_assert_str_eq(r.config->mask_key, "/k");
		ck_assert_str_eq(r.config->filter_generation_file, "/g");
		relay_config_result_free(&r);
		unlink(p);
		free(p);
	}
}
END_TEST

static void
relay_config_fails(const char *extra, const char *expect)
{
	char text[4096];
	snprintf(text, sizeof text, "listen :1\nauth-socket /a\naudit-socket off\n"
	    "connection a host=x\n%s", extra);
	char *p = write_temp(text);
	struct relay_config_result r = relay_config_load(p);
	ck_assert_msg(r.error != NULL, "accepted: %s", extra);
	ck_assert_ptr_null(r.config);
	ck_assert_msg(strncmp(r.error, p, strlen(p)) == 0 && strstr(r.error, expect) != NULL,
	    "\"%s\" lacks \"%s\"", r.error, expect);
	relay_config_result_free(&r);
	unlink(p);
	free(p);
}

START_TEST(config_errors_and_repeats)
{
	relay_config_fails("bogus 1\n", ":5: unknown key \"bogus\"");
	relay_config_fails("filter-socket\n", ":5: filter-socket: missing value");
	relay_config_fails("max-sessions\n", ":5: max-sessions: missing value");
	relay_config_fails("max-sessions 0\n", ":5: max-sessions: expected an integer from 1");
	relay_config_fails("max-sessions 10O\n", ":5: max-sessions: expected an integer");
	relay_config_fails("max-message-size 1073741824\n", "max-message-size: expected");
	relay_config_fails("audit-parameters maybe\n",
	    ":5: audit-parameters: expected raw or redacted, got \"maybe\"");
	relay_config_fails("connection a host=y\n", ":5: connection: \"a\" defined twice");
	relay_config_fails("connection b\n", ":5: connection: expected NAME CONNINFO");
	relay_config_fails("allow a r\n", ":5: allow: expected CONNECTION ROLE");
	relay_config_fails("allow a r ,\n", ":5: allow: empty list");
	char many[2048] = "";
	for (int i = 0; i <= RELAY_MAX_LISTEN; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many), "listen :%d\n", i + 2);
	relay_config_fails(many, "listen: at most 16 values");
	/* Repeated scalar keys: the last wins; repeated lists add. */
	char *p = write_temp("listen :1\nlisten-unix /s1\nauth-socket /a\nauth-socket /b\n"
	    "audit-socket off\naudit-socket /l\nconnection a host=x\nconnection b host=y\n"
	    "max-sessions 5\nmax-sessions 7\naudit-parameters redacted\n"
	    "audit-parameters raw\naudit-parameters redacted\nlisten :2\n");
	struct relay_config_result r = relay_config_load(p);
	ck_assert_msg(r.error == NULL, "%s", r.error);
	ck_assert_str_eq(r.config->auth_socket, "/b");
	ck_assert_str_eq(r.config->audit_socket, "/l");
	ck_assert(!r.config->audit_off);
	ck_assert_int_eq(r.config->max_sessions, 7);
	ck_assert_int_eq(r.config->audit_redact_params, 1);
	ck_assert_uint_eq(r.config->listen_tcp.n, 2);
	ck_assert_str_eq(r.config->listen_tcp.v[1], ":2");
	ck_assert_uint_eq(r.config->listen_unix.n, 1);
	ck_assert_int_eq(r.config->connections.n, 2);
	/* Defaults of what the file did not set. */
	ck_assert_int_eq(r.config->auth_timeout_ms, 2000);
	ck_assert_int_eq(r.config->review_poll_ms, 250);
	ck_assert_int_eq(r.config->audit_max_sql_bytes, 256 * 1024);
	ck_assert_int_eq(r.config->audit_max_param_bytes, 4096);
	ck_assert_int_eq(r.config->startup_timeout_ms, 10000);
	ck_assert_int_eq(r.config->upstream_timeout_s, 10);
	ck_assert_int_eq(r.config->shutdown_timeout_s, 30);
	ck_assert_int_eq(r.config->max_message_size, 256L * 1024 * 1024);
	ck_assert_ptr_null(r.config->filter_socket);
	relay_config_result_free(&r);
	unlink(p);
	free(p);
}
END_TEST

static Suite *
relay_suite(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("stamp");
	tcase_add_test(tc, stamp_appends_identity_last);
	tcase_add_test(tc, stamp_escapes_identity);
	tcase_add_test(tc, stamp_refuses_reserved);
	tcase_add_test(tc, stamp_refuses_other_switches);
	tcase_add_test(tc, stamp_actor_and_principal);
	tcase_add_test(tc, identity_actor_chain);
	tcase_add_test(tc, identity_malformed);
	tcase_add_test(tc, records_carry_the_actor);
	suite_add_tcase(s, tc);
	tc = tcase_create("flow");
	tcase_add_test(tc, flow_passes_everything_in_order);
	tcase_add_test(tc, flow_stop_drops_the_rest);
	tcase_add_test(tc, flow_rejects_bad_lengths);
	tcase_add_test(tc, flow_pause_and_insert);
	suite_add_tcase(s, tc);
	tc = tcase_create("shapekey");
	tcase_add_test(tc, shapekey_equal_only_for_literal_changes);
	tcase_add_test(tc, shapekey_refuses_what_it_cannot_lex_safely);
	suite_add_tcase(s, tc);
	tc = tcase_create("config");
	tcase_add_test(tc, config_valid_and_grants);
	tcase_add_test(tc, config_errors_name_the_line);
	tcase_add_test(tc, config_string_keys_free_only_themselves);
	tcase_add_test(tc, config_audit_off_keeps_the_filter_and_mask_keys);
	tcase_add_test(tc, config_errors_and_repeats);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(relay_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
