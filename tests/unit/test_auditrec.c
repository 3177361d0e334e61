/* Audit record lines: layout, hash rule (checked by an independent
 * computation), chain, and that parse notices any change to a line. */

#include <check.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditrec.h"

static const char ts1[] = "2026-11-27T14:55:04.123456Z";
static const uint8_t zero[32];

static void
sha256_hex(const char *data, size_t len, char out[65])
{
	uint8_t h[32];
	unsigned int n = 0;
	ck_assert_int_eq(EVP_Digest(data, len, h, &n, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* Recomputes the hash member of a line (without newline), so a test can
 * make a line whose only fault is the one it wants to test. */
static char *
rehash(const char *line)
{
	const char *at = NULL;
	for (const char *s = line; (s = strstr(s, ",\"hash\":\"")) != NULL; s++)
		at = s;
	ck_assert_ptr_nonnull(at);
	size_t head = (size_t)(at - line);
	char *hashed = malloc(head + 2);
	memcpy(hashed, line, head);
	hashed[head] = '}';
	char hex[65];
	sha256_hex(hashed, head + 1, hex);
	free(hashed);
	char *out = malloc(head + 80);
	snprintf(out, head + 80, "%.*s,\"hash\":\"%s\"}", (int)head, line, hex);
	return out;
}

static json_t *
payload(void)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:f, s:[i,b], s:{s:n}}",
	    "type", "intent", "user", "alice", "sql", "select 1 \"q\"\\\n",
	    "n", 3, "x", 1.5, "arr", 1, 1, "obj", "a");
}

/* A valid line (without its newline) as a malloc'd string. */
static char *
build_line(uint64_t seq, const uint8_t prev[32], uint8_t hash[32])
{
	json_t *p = payload();
	size_t len = 0;
	char err[256] = "";
	char *line = auditrec_build(seq, ts1, prev, p, &len, hash, err, sizeof err);
	json_decref(p);
	ck_assert_msg(line != NULL, "%s", err);
	ck_assert_uint_eq(strlen(line), len);
	ck_assert_int_eq(line[len - 1], '\n');
	line[len - 1] = '\0';
	return line;
}

static void
parse_fails(const char *line, size_t len, const char *why)
{
	struct auditrec r;
	char err[256] = "";
	ck_assert_msg(auditrec_parse(line, len, &r, err, sizeof err) == -1,
	    "accepted (%s): %.*s", why, (int)len, line);
	ck_assert_msg(err[0] != '\0', "no reason (%s)", why);
	ck_assert_ptr_null(r.json);
}

START_TEST(build_parse_round_trip)
{
	uint8_t h1[32], h2[32];
	char *l1 = build_line(1, zero, h1);
	char *l2 = build_line(2, h1, h2);
	struct auditrec r;
	char err[256] = "";
	ck_assert_msg(auditrec_parse(l1, strlen(l1), &r, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(r.seq, 1);
	ck_assert_mem_eq(r.prev, zero, 32);
	ck_assert_mem_eq(r.hash, h1, 32);
	ck_assert_str_eq(json_string_value(json_object_get(r.json, "type")), "intent");
	ck_assert_str_eq(json_string_value(json_object_get(r.json, "sql")),
	    "select 1 \"q\"\\\n");
	ck_assert_str_eq(json_string_value(json_object_get(r.json, "ts")), ts1);
	json_decref(r.json);
	ck_assert_msg(auditrec_parse(l2, strlen(l2), &r, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(r.seq, 2);
	ck_assert_mem_eq(r.prev, h1, 32);
	ck_assert_mem_eq(r.hash, h2, 32);
	json_decref(r.json);
	ck_assert_int_eq(strncmp(l1, "{\"seq\":1,\"ts\":\"2026-11-27T14:55:04.123456Z\","
	    "\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\","
	    "\"type\":\"intent\",", 134), 0);
	free(l1);
	free(l2);
}
END_TEST

START_TEST(hash_matches_independent_computation)
{
	uint8_t prev[32];
	for (int i = 0; i < 32; i++)
		prev[i] = (uint8_t)(0xa0 + i);
	json_t *p = json_pack("{s:s, s:s}", "type", "result", "tag", "SELECT 1");
	size_t len;
	uint8_t h[32];
	char err[256];
	char *line = auditrec_build(18446744073709551ULL, ts1, prev, p, &len, h,
	    err, sizeof err);
	json_decref(p);
	ck_assert_msg(line != NULL, "%s", err);
	static const char want_head[] =
	    "{\"seq\":18446744073709551,\"ts\":\"2026-11-27T14:55:04.123456Z\","
	    "\"prev\":\"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\","
	    "\"type\":\"result\",\"tag\":\"SELECT 1\"}";
	char hex[65];
	sha256_hex(want_head, strlen(want_head), hex);
	char want[512];
	snprintf(want, sizeof want, "%.*s,\"hash\":\"%s\"}\n",
	    (int)strlen(want_head) - 1, want_head, hex);
	ck_assert_str_eq(line, want);
	ck_assert_uint_eq(len, strlen(want));
	char hhex[65];
	auditrec_hex(h, 32, hhex);
	ck_assert_str_eq(hhex, hex);
	free(line);
}
END_TEST

START_TEST(every_byte_flip_detected)
{
	uint8_t h[32];
	char *line = build_line(7, zero, h);
	size_t len = strlen(line);
	static const unsigned char repl[] = { ' ', '0', '"', '}', 'a', 'A', '\\' };
	int tried = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char orig = (unsigned char)line[i];
		unsigned char alts[3 + sizeof repl];
		size_t na = 0;
		alts[na++] = orig ^ 0x01;
		alts[na++] = orig ^ 0x20;
		alts[na++] = orig ^ 0x80;
		for (size_t k = 0; k < sizeof repl; k++)
			alts[na++] = repl[k];
		for (size_t k = 0; k < na; k++) {
			if (alts[k] == orig)
				continue;
			line[i] = (char)alts[k];
			parse_fails(line, len, "flipped byte");
			tried++;
		}
		line[i] = (char)orig;
	}
	ck_assert_int_gt(tried, (int)len * 8);
	/* Removing any one byte too. */
	for (size_t i = 0; i < len; i++) {
		char *cut = malloc(len);
		memcpy(cut, line, i);
		memcpy(cut + i, line + i + 1, len - i - 1);
		parse_fails(cut, len - 1, "deleted byte");
		free(cut);
	}
	struct auditrec r;
	char err[256];
	ck_assert_int_eq(auditrec_parse(line, len, &r, err, sizeof err), 0);
	json_decref(r.json);
	free(line);
}
END_TEST

START_TEST(reserved_members_refused)
{
	static const char *const reserved[] = { "seq", "ts", "prev", "hash" };
	for (size_t i = 0; i < 4; i++) {
		json_t *p = json_pack("{s:s, s:i}", "type", "intent", reserved[i], 1);
		size_t len = 0;
		char err[256] = "";
		char *line = auditrec_build(1, ts1, zero, p, &len, NULL, err, sizeof err);
		json_decref(p);
		ck_assert_ptr_null(line);
		ck_assert_msg(strstr(err, "reserved") != NULL && strstr(err, reserved[i]),
		    "%s", err);
	}
	/* And in a line: a payload "ts" member, with a correct hash. */
	uint8_t h[32];
	char *line = build_line(1, zero, h);
	char *at = strstr(line, "\"user\"");
	memcpy(at, "\"ts\"  ", 6);
	char *bad = rehash(line);
	parse_fails(bad, strlen(bad), "duplicate ts");
	free(bad);
	memcpy(at, "\"hash\"", 6);
	bad = rehash(line);
	parse_fails(bad, strlen(bad), "payload hash");
	free(bad);
	free(line);
}
END_TEST

START_TEST(payload_needs_type)
{
	json_t *cases[] = {
		json_pack("{s:s}", "user", "alice"),
		json_pack("{s:i}", "type", 1),
		json_pack("{s:s}", "type", ""),
		json_pack("[s]", "type"),
		json_string("type"),
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = 0;
		char err[256] = "";
		char *line = auditrec_build(1, ts1, zero, cases[i], &len, NULL, err,
		    sizeof err);
		ck_assert_msg(line == NULL, "case %zu accepted", i);
		ck_assert(err[0] != '\0');
		json_decref(cases[i]);
	}
	/* A line without "type", otherwise valid. */
	uint8_t h[32];
	char *line = build_line(1, zero, h);
	char *at = strstr(line, "\"type\"");
	memcpy(at, "\"typf\"", 6);
	char *bad = rehash(line);
	parse_fails(bad, strlen(bad), "no type");
	free(bad);
	free(line);
}
END_TEST

START_TEST(non_ascii_is_escaped)
{
	const char *sql = "SELECT 'caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80', E'\\x01\x01\x7f'";
	json_t *p = json_pack("{s:s, s:s}", "type", "intent", "sql", sql);
	ck_assert_ptr_nonnull(p);
	size_t len;
	char err[256];
	uint8_t h[32];
	char *line = auditrec_build(3, ts1, zero, p, &len, h, err, sizeof err);
	json_decref(p);
	ck_assert_msg(line != NULL, "%s", err);
	for (size_t i = 0; i + 1 < len; i++)
		ck_assert_msg((unsigned char)line[i] >= 0x20 &&
		    (unsigned char)line[i] <= 0x7f, "byte %zu is 0x%02x", i,
		    (unsigned char)line[i]);
	ck_assert_ptr_null(memchr(line, '\n', len - 1));
	ck_assert_ptr_nonnull(strstr(line, "caf\\u00E9 \\u2603 \\uD83D\\uDE00"));
	ck_assert_ptr_nonnull(strstr(line, "\\u0001"));
	struct auditrec r;
	ck_assert_int_eq(auditrec_parse(line, len - 1, &r, err, sizeof err), 0);
	ck_assert_str_eq(json_string_value(json_object_get(r.json, "sql")), sql);
	json_decref(r.json);
	/* The raw UTF-8 form of the same record is not the line. */
	char raw[512];
	snprintf(raw, sizeof raw, "{\"seq\":3,\"ts\":\"%s\",\"prev\":\"%064d\","
	    "\"type\":\"intent\",\"sql\":\"caf\xc3\xa9\",\"hash\":\"x\"}", ts1, 0);
	char *bad = rehash(raw);
	parse_fails(bad, strlen(bad), "raw UTF-8");
	free(bad);
	free(line);
}
END_TEST

START_TEST(garbage_and_missing_members_fail)
{
	uint8_t h[32];
	char *line = build_line(5, zero, h);
	size_t len = strlen(line);
	char buf[1024];
	static const char *const tails[] = { " ", "x", "}", "{}", "\n", "\r", "\n{" };
	for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		snprintf(buf, sizeof buf, "%s%s", line, tails[i]);
		parse_fails(buf, strlen(buf), tails[i]);
	}
	snprintf(buf, sizeof buf, " %s", line);
	parse_fails(buf, strlen(buf), "leading space");
	/* Without the hash member. */
	char *at = strstr(line, ",\"hash\":");
	snprintf(buf, sizeof buf, "%.*s}", (int)(at - line), line);
	parse_fails(buf, strlen(buf), "no hash");
	parse_fails(line, (size_t)(at - line), "cut before hash");
	parse_fails("", 0, "empty");
	parse_fails("{}", 2, "empty object");
	parse_fails("[]", 2, "array");

	/* Rehashed lines with one fault each: layout, order, values. */
	struct {
		const char *from, *to, *why;
	} edits[] = {
		{ "\"seq\":5,", "\"seq\": 5,", "space" },
		{ "\"seq\":5,", "\"seq\":5.0,", "real seq" },
		{ "\"seq\":5,", "\"seq\":0,", "seq 0" },
		{ "\"seq\":5,", "\"seq\":-5,", "negative seq" },
		{ "\"seq\":5,", "\"seq\":\"5\",", "string seq" },
		{ "\"seq\":5,", "\"seq\":05,", "leading zero" },
		{ "\"seq\":5,\"ts\":\"2026-11-27T14:55:04.123456Z\",",
		  "\"ts\":\"2026-11-27T14:55:04.123456Z\",\"seq\":5,", "order" },
		{ "14:55:04.123456Z", "14:55:04.123456+", "ts zone" },
		{ "14:55:04.123456Z", "14:55:04.12345Z", "ts short" },
		{ "2026-11-27T", "2026-13-27T", "ts month" },
		{ "\"prev\":\"00", "\"prev\":\"0A", "prev upper case" },
		{ "\"prev\":\"00", "\"prev\":\"", "prev short" },
		{ "\"user\":\"alice\"", "\"user\":\"\\u0061lice\"", "needless escape" },
		{ "\"user\":\"alice\"", "\"user\":\"alice\",\"user\":\"bob\"", "duplicate" },
		{ "\"x\":1.5", "\"x\":15e-1", "number form" },
	};
	for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
		char *s = strstr(line, edits[i].from);
		ck_assert_msg(s != NULL, "%s", edits[i].why);
		snprintf(buf, sizeof buf, "%.*s%s%s", (int)(s - line), line,
		    edits[i].to, s + strlen(edits[i].from));
		char *bad = rehash(buf);
		parse_fails(bad, strlen(bad), edits[i].why);
		free(bad);
	}
	/* The rehash helper itself yields a valid line from a valid one. */
	char *same = rehash(line);
	ck_assert_str_eq(same, line);
	free(same);
	/* Hash digits in upper case are not the same line. */
	char *hx = strstr(line, ",\"hash\":\"") + 9;
	for (char *c = hx; *c != '"'; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 32);
	parse_fails(line, len, "upper-case hash");
	free(line);
}
END_TEST

START_TEST(build_rejects_bad_arguments)
{
	json_t *p = payload();
	size_t len;
	char err[256];
	ck_assert_ptr_null(auditrec_build(0, ts1, zero, p, &len, NULL, err, sizeof err));
	ck_assert_ptr_null(auditrec_build((uint64_t)INT64_MAX + 1, ts1, zero, p, &len,
	    NULL, err, sizeof err));
	ck_assert_ptr_null(auditrec_build(1, "2026-11-27 14:55:04", zero, p, &len,
	    NULL, err, sizeof err));
	ck_assert_ptr_null(auditrec_build(1, "2026-11-27T14:55:04.123456Z\"", zero, p,
	    &len, NULL, err, sizeof err));
	char *line = auditrec_build((uint64_t)INT64_MAX, ts1, zero, p, &len, NULL,
	    err, sizeof err);
	ck_assert_msg(line != NULL, "%s", err);
	struct auditrec r;
	ck_assert_int_eq(auditrec_parse(line, len - 1, &r, err, sizeof err), 0);
	ck_assert_uint_eq(r.seq, (uint64_t)INT64_MAX);
	json_decref(r.json);
	free(line);
	json_decref(p);
}
END_TEST

START_TEST(timestamp_and_hex)
{
	char ts[32];
	auditrec_timestamp(ts);
	ck_assert_uint_eq(strlen(ts), 27);
	ck_assert_int_eq(ts[10], 'T');
	ck_assert_int_eq(ts[19], '.');
	ck_assert_int_eq(ts[26], 'Z');
	json_t *p = payload();
	size_t len;
	char err[256];
	char *line = auditrec_build(1, ts, zero, p, &len, NULL, err, sizeof err);
	ck_assert_msg(line != NULL, "%s: %s", ts, err);
	free(line);
	json_decref(p);

	uint8_t in[4] = { 0x00, 0x9f, 0xa0, 0xff }, out[4];
	char hex[9];
	auditrec_hex(in, 4, hex);
	ck_assert_str_eq(hex, "009fa0ff");
	ck_assert_int_eq(auditrec_unhex(hex, out, 4), 0);
	ck_assert_mem_eq(in, out, 4);
	ck_assert_int_eq(auditrec_unhex("009FA0FF", out, 4), -1);
	ck_assert_int_eq(auditrec_unhex("009fa0f", out, 4), -1);
	ck_assert_int_eq(auditrec_unhex("009fa0ff0", out, 4), -1);
	ck_assert_int_eq(auditrec_unhex("009fa0fg", out, 4), -1);
}
END_TEST

static Suite *
auditrec_suite(void)
{
	Suite *s = suite_create("auditrec");
	TCase *tc = tcase_create("lines");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, build_parse_round_trip);
	tcase_add_test(tc, hash_matches_independent_computation);
	tcase_add_test(tc, every_byte_flip_detected);
	tcase_add_test(tc, reserved_members_refused);
	tcase_add_test(tc, payload_needs_type);
	tcase_add_test(tc, non_ascii_is_escaped);
	tcase_add_test(tc, garbage_and_missing_members_fail);
	tcase_add_test(tc, build_rejects_bad_arguments);
	tcase_add_test(tc, timestamp_and_hex);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(auditrec_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
