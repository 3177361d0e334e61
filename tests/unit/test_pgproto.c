/* Startup-phase and message parsing: every truncation point, negative
 * and oversize lengths, and the builder's failure memory. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgproto.h"

static size_t
build_startup(uint8_t *out, const char *const *kv, int n, uint32_t version)
{
	struct pgbuf b;
	pgbuf_init(&b);
	pgbuf_begin(&b, 0);
	pgbuf_put_u32(&b, version);
	for (int i = 0; i < n; i++)
		pgbuf_put_str(&b, kv[i]);
	pgbuf_put_u8(&b, 0);
	pgbuf_end(&b);
	ck_assert(!b.failed);
	memcpy(out, b.data, b.len);
	size_t len = b.len;
	pgbuf_free(&b);
	return len;
}

START_TEST(startup_valid)
{
	const char *kv[] = { "user", "app_read", "database", "shop", "application_name", "psql" };
	uint8_t pkt[256];
	size_t len = build_startup(pkt, kv, 6, PG_PROTO_V3);
	struct pg_startup s = pg_startup_parse(pkt, len);
	ck_assert_ptr_null(s.error);
	ck_assert_int_eq(s.kind, PG_STARTUP_MESSAGE);
	ck_assert_int_eq(s.nparams, 3);
	ck_assert_str_eq(pg_startup_get(&s, "user"), "app_read");
	ck_assert_str_eq(pg_startup_get(&s, "database"), "shop");
	ck_assert_ptr_null(pg_startup_get(&s, "options"));
}
END_TEST

START_TEST(startup_every_truncation_fails)
{
	const char *kv[] = { "user", "app_read", "database", "shop" };
	uint8_t pkt[256];
	size_t len = build_startup(pkt, kv, 4, PG_PROTO_V3);
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t copy[256];
		memcpy(copy, pkt, cut);
		/* Both a length word that lies and one that matches the cut. */
		struct pg_startup s = pg_startup_parse(copy, cut);
		ck_assert_int_eq(s.kind, PG_STARTUP_INVALID);
		ck_assert_ptr_nonnull(s.error);
		if (cut >= 4) {
			copy[0] = (uint8_t)(cut >> 24);
			copy[1] = (uint8_t)(cut >> 16);
			copy[2] = (uint8_t)(cut >> 8);
			copy[3] = (uint8_t)cut;
			s = pg_startup_parse(copy, cut);
			ck_assert_msg(s.kind == PG_STARTUP_INVALID, "cut at %zu accepted", cut);
		}
	}
}
END_TEST

START_TEST(startup_bad_lengths)
{
	uint8_t pkt[16] = { 0xff, 0xff, 0xff, 0xf8, 0, 3, 0, 0 };	/* negative */
	ck_assert_int_eq(pg_startup_parse(pkt, 8).kind, PG_STARTUP_INVALID);
	uint8_t big[8] = { 0, 0, 0x27, 0x11, 0, 3, 0, 0 };	/* 10001 > limit */
	ck_assert_int_eq(pg_startup_parse(big, 8).kind, PG_STARTUP_INVALID);
	uint8_t tiny[4] = { 0, 0, 0, 4 };
	ck_assert_int_eq(pg_startup_parse(tiny, 4).kind, PG_STARTUP_INVALID);
}
END_TEST

START_TEST(startup_special_requests)
{
	uint8_t ssl[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
	ck_assert_int_eq(pg_startup_parse(ssl, 8).kind, PG_STARTUP_SSL);
	uint8_t gss[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30 };
	ck_assert_int_eq(pg_startup_parse(gss, 8).kind, PG_STARTUP_GSSENC);
	uint8_t ssl_long[12] = { 0, 0, 0, 12, 0x04, 0xd2, 0x16, 0x2f, 1, 2, 3, 4 };
	ck_assert_int_eq(pg_startup_parse(ssl_long, 12).kind, PG_STARTUP_INVALID);
	uint8_t cancel[16] = { 0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0x30, 0x39,
		0xde, 0xad, 0xbe, 0xef };
	struct pg_startup s = pg_startup_parse(cancel, 16);
	ck_assert_int_eq(s.kind, PG_STARTUP_CANCEL);
	ck_assert_uint_eq(s.cancel_pid, 12345);
	ck_assert_uint_eq(s.cancel_key, 0xdeadbeef);
	for (size_t cut = 8; cut < 16; cut++) {
		uint8_t c[16];
		memcpy(c, cancel, 16);
		c[3] = (uint8_t)cut;
		ck_assert_int_eq(pg_startup_parse(c, cut).kind, PG_STARTUP_INVALID);
	}
}
END_TEST

START_TEST(startup_versions)
{
	const char *kv[] = { "user", "u" };
	uint8_t pkt[64];
	size_t len = build_startup(pkt, kv, 2, 2u << 16);
	struct pg_startup s = pg_startup_parse(pkt, len);
	ck_assert_int_eq(s.kind, PG_STARTUP_INVALID);
	ck_assert_str_eq(s.sqlstate, "0A000");
	len = build_startup(pkt, kv, 2, 4u << 16);
	ck_assert_int_eq(pg_startup_parse(pkt, len).kind, PG_STARTUP_INVALID);
	len = build_startup(pkt, kv, 2, (3u << 16) | 2);
	s = pg_startup_parse(pkt, len);
	ck_assert_int_eq(s.kind, PG_STARTUP_MESSAGE);
	ck_assert_uint_eq(s.version & 0xffff, 2);
}
END_TEST

START_TEST(startup_layout_errors)
{
	/* No user. */
	const char *kv[] = { "database", "shop" };
	uint8_t pkt[64];
	size_t len = build_startup(pkt, kv, 2, PG_PROTO_V3);
	struct pg_startup s = pg_startup_parse(pkt, len);
	ck_assert_int_eq(s.kind, PG_STARTUP_INVALID);
	ck_assert_str_eq(s.sqlstate, "28000");
	/* Duplicate parameter. */
	const char *dup[] = { "user", "a", "user", "b" };
	len = build_startup(pkt, dup, 4, PG_PROTO_V3);
	ck_assert_int_eq(pg_startup_parse(pkt, len).kind, PG_STARTUP_INVALID);
	/* Name without value. */
	const char *odd[] = { "user", "a", "database" };
	len = build_startup(pkt, odd, 3, PG_PROTO_V3);
	ck_assert_int_eq(pg_startup_parse(pkt, len).kind, PG_STARTUP_INVALID);
	/* Trailing garbage after the terminator. */
	const char *ok[] = { "user", "a" };
	len = build_startup(pkt, ok, 2, PG_PROTO_V3);
	pkt[len] = 'x';
	pkt[3]++;
	ck_assert_int_eq(pg_startup_parse(pkt, len + 1).kind, PG_STARTUP_INVALID);
}
END_TEST

START_TEST(startup_too_many_params)
{
	struct pgbuf b;
	pgbuf_init(&b);
	pgbuf_begin(&b, 0);
	pgbuf_put_u32(&b, PG_PROTO_V3);
	pgbuf_put_str(&b, "user");
	pgbuf_put_str(&b, "u");
	char name[16];
	for (int i = 0; i < PG_STARTUP_MAX_PARAMS; i++) {
		snprintf(name, sizeof name, "p%d", i);
		pgbuf_put_str(&b, name);
		pgbuf_put_str(&b, "v");
	}
	pgbuf_put_u8(&b, 0);
	pgbuf_end(&b);
	struct pg_startup s = pg_startup_parse(b.data, b.len);
	ck_assert_int_eq(s.kind, PG_STARTUP_INVALID);
	pgbuf_free(&b);
}
END_TEST

START_TEST(reader_bounds)
{
	uint8_t body[] = { 0, 0, 0, 7, 'a', 'b', 0, 'c' };
	struct pgread r;
	pgread_init(&r, body, sizeof body);
	ck_assert_uint_eq(pgread_u32(&r), 7);
	ck_assert_str_eq(pgread_str(&r), "ab");
	ck_assert(!pgread_end(&r));
	ck_assert_ptr_null(pgread_str(&r));	/* unterminated */
	ck_assert(r.failed);
	ck_assert_uint_eq(pgread_u32(&r), 0);
	pgread_init(&r, body, 3);
	ck_assert_uint_eq(pgread_u32(&r), 0);
	ck_assert(r.failed);
	pgread_init(&r, body, 4);
	pgread_u16(&r);
	pgread_u16(&r);
	ck_assert(pgread_end(&r));
	ck_assert_ptr_null(pgread_bytes(&r, 1));
}
END_TEST

START_TEST(builder_error_message)
{
	struct pgbuf b;
	pgbuf_init(&b);
	pgmsg_error(&b, "FATAL", "28P01", "pgward: token not accepted", NULL, "hint");
	ck_assert(!b.failed);
	ck_assert_int_eq(b.data[0], 'E');
	ck_assert_uint_eq(pg_be32(b.data + 1), b.len - 1);
	struct pgread r;
	pgread_init(&r, b.data + 5, b.len - 5);
	int seen_code = 0;
	for (;;) {
		uint8_t f = pgread_u8(&r);
		if (f == 0)
			break;
		const char *v = pgread_str(&r);
		ck_assert_ptr_nonnull(v);
		if (f == 'C') {
			ck_assert_str_eq(v, "28P01");
			seen_code = 1;
		}
	}
	ck_assert(pgread_end(&r));
	ck_assert(seen_code);
	pgbuf_reset(&b);
	pgmsg_ready(&b, 'I');
	ck_assert_uint_eq(b.len, 6);
	ck_assert_int_eq(b.data[5], 'I');
	pgbuf_free(&b);
}
END_TEST

static Suite *
pgproto_suite(void)
{
	Suite *s = suite_create("pgproto");
	TCase *tc = tcase_create("startup");
	tcase_add_test(tc, startup_valid);
	tcase_add_test(tc, startup_every_truncation_fails);
	tcase_add_test(tc, startup_bad_lengths);
	tcase_add_test(tc, startup_special_requests);
	tcase_add_test(tc, startup_versions);
	tcase_add_test(tc, startup_layout_errors);
	tcase_add_test(tc, startup_too_many_params);
	suite_add_tcase(s, tc);
	tc = tcase_create("messages");
	tcase_add_test(tc, reader_bounds);
	tcase_add_test(tc, builder_error_message);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pgproto_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
