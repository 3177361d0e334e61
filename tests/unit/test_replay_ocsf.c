/* export's OCSF writer without processes: JSON strings and reals written
 * as jansson writes them (hostile bytes: quotes, backslashes, control
 * characters, DEL, non-ASCII, bytes that are not UTF-8), raw values copied
 * only when already in that form, and whole events of hostile records
 * against the bytes the jansson-built events had. */

#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replay/facts.h"
#include "replay/jsonw.h"
#include "replay/siem.h"
#include "replay/when.h"

/* jsonw_str of s[0..n): the string, or NULL when refused (then nothing
 * may have been appended). */
static char *
str_of(const char *s, size_t n)
{
	struct siem_buf b = { 0 };
	SIEM_LIT(&b, "<");
	size_t before = b.n;
	if (jsonw_str(&b, s, n) != 0) {
		ck_assert_uint_eq(b.n, before);
		siem_buf_free(&b);
		return NULL;
	}
	char *out = strdup(b.p + 1);
	siem_buf_free(&b);
	return out;
}

#define STR_EQ(in, want) do { \
	char *got_ = str_of(in, sizeof(in) - 1); \
	ck_assert_ptr_nonnull(got_); \
	ck_assert_str_eq(got_, want); \
	free(got_); \
} while (0)

START_TEST(json_string_escaping)
{
	STR_EQ("plain text", "\"plain text\"");
	STR_EQ("q\"uote back\\slash", "\"q\\\"uote back\\\\slash\"");
	STR_EQ("\"\\\"\\", "\"\\\"\\\\\\\"\\\\\"");
	STR_EQ("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
	STR_EQ("\x01\x1f end", "\"\\u0001\\u001F end\"");
	STR_EQ("nul\0in", "\"nul\\u0000in\"");
	/* '/' and DEL as they are. */
	STR_EQ("a/b\x7f", "\"a/b\x7f\"");
	/* Non-ASCII as \u, upper-case hex; a pair above U+FFFF. */
	STR_EQ("caf\xc3\xa9", "\"caf\\u00E9\"");
	STR_EQ("\xe2\x80\xa8\xef\xbf\xbf", "\"\\u2028\\uFFFF\"");
	STR_EQ("\xf0\x9f\x98\x80!", "\"\\uD83D\\uDE00!\"");
	STR_EQ("|=] 12345678 \"long enough for eight at a time\" \\",
	    "\"|=] 12345678 \\\"long enough for eight at a time\\\" \\\\\"");
	STR_EQ("", "\"\"");
	/* Not UTF-8: U+FFFD for each bad byte (jansson refused the string). */
	STR_EQ("bad \xff byte", "\"bad \\uFFFD byte\"");
	STR_EQ("\xc0\xaf", "\"\\uFFFD\\uFFFD\"");		/* overlong */
	STR_EQ("\xed\xa0\x80", "\"\\uFFFD\\uFFFD\\uFFFD\"");	/* a surrogate */
	STR_EQ("cut \xe2\x82", "\"cut \\uFFFD\\uFFFD\"");	/* truncated */
	STR_EQ("\xf4\x90\x80\x80", "\"\\uFFFD\\uFFFD\\uFFFD\\uFFFD\"");	/* above U+10FFFF */
	STR_EQ("0123456789abcdef\x80", "\"0123456789abcdef\\uFFFD\"");
}
END_TEST

/* s with each byte that does not start a UTF-8 character as U+FFFD. */
static size_t
fffd(const char *s, size_t n, char *out)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	size_t o = 0;
	while (p < e) {
		size_t l = siem_utf8_len(p, e);
		if (l == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
		} else {
			memcpy(out + o, p, l);
			o += l;
			p += l;
		}
	}
	return o;
}

/* The same as jansson, byte for byte, for strings made of pieces that
 * need every kind of treatment (those it refused as not UTF-8 with
 * U+FFFD for each bad byte). */
START_TEST(json_strings_as_jansson_writes_them)
{
	static const char *const piece[] = { "a", "Z", " ", "\"", "\\", "/", "\x7f", "\x01",
	    "\n", "\t", "\x1f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff",
	    "\xc3", "\xed\xb0\x80", "abcdefgh", "\"\"\"\"\"\"\"\"" };
	srand(7);
	for (int i = 0; i < 20000; i++) {
		char s[256];
		size_t n = 0;
		int parts = rand() % 24;
		for (int k = 0; k < parts; k++) {
			const char *p = piece[rand() % (int)(sizeof piece / sizeof piece[0])];
			size_t l = strlen(p);
			memcpy(s + n, p, l);
			n += l;
		}
		char fixed[3 * sizeof s];
		json_t *j = json_stringn(fixed, fffd(s, n, fixed));
		ck_assert_ptr_nonnull(j);
		char *want = json_dumps(j, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
		char *got = str_of(s, n);
		ck_assert_str_eq(got, want);
		free(want);
		free(got);
		json_decref(j);
	}
}
END_TEST

static int
raw_ok(const char *raw)
{
	struct siem_buf b = { 0 };
	struct rec_span v = { raw, strlen(raw) };
	int rc = jsonw_raw(&b, &v);
	if (rc == 0)
		ck_assert_str_eq(b.p, raw);
	else
		ck_assert_uint_eq(b.n, 0);
	siem_buf_free(&b);
	return rc == 0;
}

START_TEST(raw_strings_copied_only_in_jansson_form)
{
	ck_assert(raw_ok("\"plain and \\\"quoted\\\" \\\\ \\n\\t\\b\\f\\r\""));
	ck_assert(raw_ok("\"caf\\u00E9 \\u0001 \\uD83D\\uDE00 \\uFFFF \x7f\""));
	ck_assert(raw_ok("\"\""));
	ck_assert(raw_ok("\"nul\\u0000\""));
	/* Other spellings of the same strings are written anew. */
	ck_assert(!raw_ok("\"caf\\u00e9\""));		/* lower-case hex */
	ck_assert(!raw_ok("\"\\u0041\""));		/* ASCII as \u */
	ck_assert(!raw_ok("\"\\u000A\""));		/* has a short escape */
	ck_assert(!raw_ok("\"a\\/b\""));
	ck_assert(!raw_ok("\"lone \\uD800\""));
	ck_assert(!raw_ok("\"lone \\uDC00 \\uD800\\u0041\""));
	ck_assert(!raw_ok("\"raw \xc3\xa9\""));
	ck_assert(!raw_ok("\"raw \ttab\""));
	ck_assert(!raw_ok("\"bad \\x\""));
	ck_assert(!raw_ok("\"cut \\u00E\""));
	ck_assert(!raw_ok("12"));
}
END_TEST

START_TEST(reals_as_jansson_writes_them)
{
	static const double fixed[] = { 0.0, -0.0, 0.5, 1.23, 0.1, 1e-4, 9.9999999999999995e-5,
	    1e-5, 123.456, 1e15, 1e16, 9999999999999998.0, 1234567890123456.75,
	    1234567890123456.25, 4503599627370496.5, 0.0625, 1e22, 1e300, 5e-324, 3.0000000000000004 };
	srand(11);
	for (int i = 0; i < 200000 + (int)(sizeof fixed / sizeof fixed[0]); i++) {
		double d;
		if (i < (int)(sizeof fixed / sizeof fixed[0])) {
			d = fixed[i];
		} else if (i % 2) {
			d = (double)(rand() % 100000000) / 1000.0;
		} else {
			uint64_t bits = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
			memcpy(&d, &bits, sizeof d);
		}
		for (int sign = 0; sign < 2; sign++, d = -d) {
			json_t *j = json_real(d);
			char *want = j != NULL ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
			struct siem_buf b = { 0 };
			int rc = jsonw_real(&b, d);
			if (want == NULL)
				ck_assert_int_ne(rc, 0);
			else
				ck_assert_msg(rc == 0 && strcmp(b.p, want) == 0, "%.17g: %s, not %s", d,
				    rc == 0 ? b.p : "(refused)", want);
			free(want);
			json_decref(j);
			siem_buf_free(&b);
		}
	}
}
END_TEST

/* The joined text for CEF and syslog: a ',' or '\' inside a name is
 * escaped, so each list reads back as the names it came from; elements
 * that are not strings are left out. */
START_TEST(groups_joined_stay_distinct)
{
	static const char *const arrays[][2] = { { "[]", "" }, { "[\"a\"]", "a" },
	    { "[\"a\",\"b\"]", "a,b" }, { "[\"a,b\"]", "a\\,b" },
	    { "[\"a,b\",\"\"]", "a\\,b," }, { "[\"x\\\"y\",\"z]\\\\\"]", "x\"y,z]\\\\" },
	    { "[\"\\\\,\",\",\"]", "\\\\\\,,\\," }, { "[1,\"a\",null]", "a" },
	    { "[\"\\u00e9\"]", "\xc3\xa9" }, { "[\"t\\tab\\/\"]", "t\tab/" },
	    { "[ \"sp\" , \"x\" ]", "sp,x" }, { "\"notarray\"", "" }, { "{\"a\":\"b\"}", "" },
	    { "[\"\\uD800\"]", "\xef\xbf\xbd" }, { "bad", "" }, { "[[\"in\"],\"b\"]", "b" },
	    { "[\"\"]", "" }, { "[\"n\\u0000ul\"]", "n\0ul" } };
	for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
		struct rec_span g = { arrays[i][0], strlen(arrays[i][0]) };
		char out[256];
		ck_assert_uint_le(FACTS_GROUPS_ROOM(g.n), sizeof out);
		size_t n = facts_groups(&g, out);
		size_t wn = i == sizeof arrays / sizeof arrays[0] - 1 ? 4 : strlen(arrays[i][1]);
		ck_assert_msg(n == wn && memcmp(out, arrays[i][1], n) == 0, "%s: %s, not %s",
		    arrays[i][0], out, arrays[i][1]);
	}
	/* Names of every kind, all escapes and worst-case room. */
	static const char big[] = "[\",,,,,,,,,,\",\"\\\\\\\\\\\\\",\",\"]";
	struct rec_span g = { big, sizeof big - 1 };
	char out[FACTS_GROUPS_ROOM(sizeof big)];
	ck_assert_str_eq((facts_groups(&g, out), out), "\\,\\,\\,\\,\\,\\,\\,\\,\\,\\,,\\\\\\\\\\\\,\\,");
}
END_TEST

START_TEST(log_times_as_timegm_counts_them)
{
	static const char *const ts[] = { "2026-11-27T03:12:05.123456Z",
	    "1970-01-01T00:00:00.000000Z", "2000-02-29T23:59:60.999999Z",
	    "2100-03-01T00:00:00.000999Z", "9999-12-31T23:59:59.999999Z",
	    "2026-02-31T99:99:99.000000Z", "2026-13-01T00:00:00.000000Z",
	    "2026-00-10T00:00:00.000000Z", "1969-12-31T23:59:59.000000Z",
	    "0000-01-01T00:00:00.000000Z", "2024-12-00T00:00:00.000000Z" };
	for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
		const char *t = ts[i];
		struct tm tm = { 0 };
		tm.tm_year = atoi(t) - 1900;
		tm.tm_mon = atoi(t + 5) - 1;
		tm.tm_mday = atoi(t + 8);
		tm.tm_hour = atoi(t + 11);
		tm.tm_min = atoi(t + 14);
		tm.tm_sec = atoi(t + 17);
		int64_t want = (int64_t)timegm(&tm) * 1000 + atoi(t + 20) / 1000;
		ck_assert_msg(when_ms(t) == want, "%s", t);
	}
	ck_assert_int_eq(when_ms("2026-11-27T03:12:0x.000000Z"), -1);
}
END_TEST

/* Records and the events the jansson-built writer gave for them
 * (pgward-replay before the direct writer). */
static const char hostile_intent_line[] =
    "{\"seq\":7,\"ts\":\"2026-11-27T03:12:05.123456Z\",\"prev\":\"0000000"
    "000000000000000000000000000000000000000000000000000000000\",\"type\""
    ":\"intent\",\"user\":\"bo|b=\\\\x\",\"groups\":[\"a]\",\"b\\\"c\",\""
    "d,e\"],\"connection\":\"shop\",\"role\":\"app\\/write\",\"n\":1,\"pr"
    "otocol\":\"simple\",\"decision\":\"deny\",\"rule\":\"r\\\\1\",\"sql\""
    ":\"delete -- \\\"q\\\" \\\\ \\n\\t\\u0001\\u001F\x7f"" caf\\u00E9 \\"
    "uD83D\\uDE00 /\",\"params\":[\"x\",null,{\"base64\":\"/w==\"}],\"has"
    "h\":\"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ff\"}";
static const char hostile_intent_ocsf[] =
    "{\"class_uid\":6005,\"class_name\":\"Datastore Activity\",\"catego"
    "ry_uid\":6,\"category_name\":\"Application Activity\",\"activity_i"
    "d\":4,\"activity_name\":\"Query\",\"type_uid\":600504,\"type_name"
    "\":\"Datastore Activity: Query\",\"severity_id\":4,\"severity\":\""
    "High\",\"time\":1795749125123,\"metadata\":{\"version\":\"1.1.0\","
    "\"product\":{\"name\":\"pgward\",\"vendor_name\":\"pgward\",\"vers"
    "ion\":\"0.1.0\"},\"uid\":\"7\",\"log_name\":\"pgward-audit\",\"ori"
    "ginal_time\":\"2026-11-27T03:12:05.123456Z\",\"sequence\":7},\"act"
    "or\":{\"user\":{\"name\":\"bo|b=\\\\x\",\"uid\":\"bo|b=\\\\x\",\"g"
    "roups\":[{\"name\":\"a]\"},{\"name\":\"b\\\"c\"},{\"name\":\"d,e\""
    "}]},\"session\":{\"uid\":null}},\"src_endpoint\":{\"name\":\"unkno"
    "wn\"},\"database\":{\"name\":\"shop\",\"type_id\":99,\"type\":\"Po"
    "stgreSQL\"},\"action_id\":2,\"action\":\"Denied\",\"disposition_id"
    "\":2,\"disposition\":\"Blocked\",\"query_info\":{\"datastore_query"
    "\":\"delete -- \\\"q\\\" \\\\ \\n\\t\\u0001\\u001F\x7f"" caf\\u00E"
    "9 \\uD83D\\uDE00 /\"},\"unmapped\":{\"type\":\"intent\",\"role\":"
    "\"app/write\",\"rule\":\"r\\\\1\",\"params\":[\"x\",null,{\"base64"
    "\":\"/w==\"}]},\"raw_data\":\"{\\\"seq\\\":7,\\\"ts\\\":\\\"2026-1"
    "1-27T03:12:05.123456Z\\\",\\\"prev\\\":\\\"00000000000000000000000"
    "00000000000000000000000000000000000000000\\\",\\\"type\\\":\\\"int"
    "ent\\\",\\\"user\\\":\\\"bo|b=\\\\\\\\x\\\",\\\"groups\\\":[\\\"a]"
    "\\\",\\\"b\\\\\\\"c\\\",\\\"d,e\\\"],\\\"connection\\\":\\\"shop\\"
    "\",\\\"role\\\":\\\"app\\\\/write\\\",\\\"n\\\":1,\\\"protocol\\\""
    ":\\\"simple\\\",\\\"decision\\\":\\\"deny\\\",\\\"rule\\\":\\\"r\\"
    "\\\\\\1\\\",\\\"sql\\\":\\\"delete -- \\\\\\\"q\\\\\\\" \\\\\\\\ "
    "\\\\n\\\\t\\\\u0001\\\\u001F\x7f"" caf\\\\u00E9 \\\\uD83D\\\\uDE00"
    " /\\\",\\\"params\\\":[\\\"x\\\",null,{\\\"base64\\\":\\\"/w==\\\""
    "}],\\\"hash\\\":\\\"ffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffff\\\"}\"}";

static const char refused_strings_line[] =
    "{\"seq\":8,\"ts\":\"2026-11-27T03:12:05.123456Z\",\"prev\":\"0000000"
    "000000000000000000000000000000000000000000000000000000000\",\"type\""
    ":\"result\",\"user\":\"lone\\uD800\",\"connection\":\"\\uDC00\",\"st"
    "atus\":\"error\",\"sqlstate\":\"\\u00e9\",\"message\":\"cut\\u0000he"
    "re\",\"client\":\"[2001:db8::1]:5432\",\"intent\":7,\"rows\":3,\"dur"
    "ation_ms\":1.2299999999999999,\"params\":[1.5,{\"a\":1,\"a\":2}],\"s"
    "ql\":\"nul\\u0000kept\",\"hash\":\"fffffffffffffffffffffffffffffffff"
    "fffffffffffffffffffffffffffffff\"}";
static const char refused_strings_ocsf[] =
    "{\"class_uid\":6005,\"class_name\":\"Datastore Activity\",\"catego"
    "ry_uid\":6,\"category_name\":\"Application Activity\",\"activity_i"
    "d\":4,\"activity_name\":\"Query\",\"type_uid\":600504,\"type_name"
    "\":\"Datastore Activity: Query\",\"severity_id\":3,\"severity\":\""
    "Medium\",\"time\":1795749125123,\"metadata\":{\"version\":\"1.1.0"
    "\",\"product\":{\"name\":\"pgward\",\"vendor_name\":\"pgward\",\"v"
    "ersion\":\"0.1.0\"},\"uid\":\"8\",\"log_name\":\"pgward-audit\",\""
    "original_time\":\"2026-11-27T03:12:05.123456Z\",\"sequence\":8},\""
    "actor\":{\"user\":{\"name\":\"lone\\uFFFD\",\"uid\":\"lone\\uFFFD"
    "\",\"groups\":[]},\"session\":{\"uid\":null}},\"src_endpoint\":{\""
    "ip\":\"2001:db8::1\",\"port\":5432},\"database\":{\"name\":\"\\uFF"
    "FD\",\"type_id\":99,\"type\":\"PostgreSQL\"},\"status_id\":2,\"sta"
    "tus\":\"Failure\",\"status_code\":\"\\u00E9\",\"status_detail\":\""
    "cut\\u0000here\",\"query_info\":{\"datastore_query\":\"nul\\u0000k"
    "ept\"},\"unmapped\":{\"type\":\"result\",\"intent_seq\":7,\"rows\""
    ":3,\"duration_ms\":1.23,\"params\":[1.5,{\"a\":2}]},\"raw_data\":"
    "\"{\\\"seq\\\":8,\\\"ts\\\":\\\"2026-11-27T03:12:05.123456Z\\\",\\"
    "\"prev\\\":\\\"000000000000000000000000000000000000000000000000000"
    "0000000000000\\\",\\\"type\\\":\\\"result\\\",\\\"user\\\":\\\"lon"
    "e\\\\uD800\\\",\\\"connection\\\":\\\"\\\\uDC00\\\",\\\"status\\\""
    ":\\\"error\\\",\\\"sqlstate\\\":\\\"\\\\u00e9\\\",\\\"message\\\":"
    "\\\"cut\\\\u0000here\\\",\\\"client\\\":\\\"[2001:db8::1]:5432\\\""
    ",\\\"intent\\\":7,\\\"rows\\\":3,\\\"duration_ms\\\":1.22999999999"
    "99999,\\\"params\\\":[1.5,{\\\"a\\\":1,\\\"a\\\":2}],\\\"sql\\\":"
    "\\\"nul\\\\u0000kept\\\",\\\"hash\\\":\\\"ffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffff\\\"}\"}";

static const char raw_bytes_line[] =
    "{\"seq\":9,\"ts\":\"2026-11-27T03:12:05.123456Z\",\"prev\":\"0000000"
    "000000000000000000000000000000000000000000000000000000000\",\"type\""
    ":\"x\\u0000y\",\"user\":\"caf\xc3""\xa9""\",\"rule\":\"bad\xff""\",\""
    "sql\":{\"base64\":\"/w==\"},\"decision\":\"review\",\"duration_ms\":"
    "\"slow\",\"hash\":\"ffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffff\"}";
static const char raw_bytes_ocsf[] =
    "{\"class_uid\":6005,\"class_name\":\"Datastore Activity\",\"catego"
    "ry_uid\":6,\"category_name\":\"Application Activity\",\"activity_i"
    "d\":99,\"activity_name\":\"Other\",\"type_uid\":600599,\"type_name"
    "\":\"Datastore Activity: Other\",\"severity_id\":3,\"severity\":\""
    "Medium\",\"time\":1795749125123,\"metadata\":{\"version\":\"1.1.0"
    "\",\"product\":{\"name\":\"pgward\",\"vendor_name\":\"pgward\",\"v"
    "ersion\":\"0.1.0\"},\"uid\":\"9\",\"log_name\":\"pgward-audit\",\""
    "original_time\":\"2026-11-27T03:12:05.123456Z\",\"sequence\":9},\""
    "actor\":{\"user\":{\"name\":\"caf\\u00E9\",\"uid\":\"caf\\u00E9\","
    "\"groups\":[]},\"session\":{\"uid\":null}},\"src_endpoint\":{\"nam"
    "e\":\"unknown\"},\"action_id\":99,\"action\":\"Review\",\"disposit"
    "ion_id\":99,\"disposition\":\"Review\",\"query_info\":{\"datastore"
    "_query\":\"/w==\",\"query_encoding\":\"base64\"},\"unmapped\":{\"t"
    "ype\":\"x\\u0000y\",\"rule\":\"bad\\uFFFD\"},\"raw_data\":\"{\\\"s"
    "eq\\\":9,\\\"ts\\\":\\\"2026-11-27T03:12:05.123456Z\\\",\\\"prev\\"
    "\":\\\"00000000000000000000000000000000000000000000000000000000000"
    "00000\\\",\\\"type\\\":\\\"x\\\\u0000y\\\",\\\"user\\\":\\\"caf\\u"
    "00E9\\\",\\\"rule\\\":\\\"bad\\uFFFD\\\",\\\"sql\\\":{\\\"base64\\"
    "\":\\\"/w==\\\"},\\\"decision\\\":\\\"review\\\",\\\"duration_ms\\"
    "\":\\\"slow\\\",\\\"hash\\\":\\\"fffffffffffffffffffffffffffffffff"
    "fffffffffffffffffffffffffffffff\\\"}\"}";

static void
event_is(const char *line, const char *want)
{
	struct siem_opts o = { .format = SIEM_OCSF, .hostname = "h", .max_bytes = 2048 };
	struct siem_buf b = { 0 };
	ck_assert_int_eq(siem_record(&o, &b, line, strlen(line), NULL), 0);
	ck_assert_uint_eq(b.n, strlen(want) + 1);
	ck_assert(b.p[b.n - 1] == '\n');
	b.p[b.n - 1] = '\0';
	ck_assert_str_eq(b.p, want);
	siem_buf_free(&b);
}

START_TEST(ocsf_events_of_hostile_records)
{
	/* Quotes, backslashes, '|', '=', ']', a '/' spelled "\/", control
	 * characters, DEL, non-ASCII, a pair; a group "d,e" stays one. */
	event_is(hostile_intent_line, hostile_intent_ocsf);
	/* A lone surrogate is U+FFFD in user (actor kept) and connection;
	 * \u0000 kept in message and SQL; lower-case hex is written anew;
	 * duplicate keys in params go through jansson. */
	event_is(refused_strings_line, refused_strings_ocsf);
	/* Raw UTF-8 escaped; a byte that is not UTF-8 is U+FFFD in rule and
	 * raw_data; SQL not UTF-8 as base64; a duration that is not a
	 * number is left out; the type decoded. */
	event_is(raw_bytes_line, raw_bytes_ocsf);
}
END_TEST

START_TEST(ocsf_session_facts_fill_in)
{
	static const char line[] = "{\"seq\":3,\"ts\":\"2026-11-27T03:12:05.123456Z\","
	    "\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\","
	    "\"type\":\"session_end\",\"session\":\"s9\",\"user\":\"u\",\"reason\":\"client "
	    "disconnected\",\"statements\":2,\"hash\":\"ff\"}";
	static const char groups[] = "[\"g1\",\"\",\"g\\\\2\"]";
	struct siem_session sess = { .client = "[::1]:7", .client_n = 7, .sub = "sub\"1",
	    .sub_n = 5, .groups = (char *)groups, .groups_n = sizeof groups - 1 };
	struct siem_opts o = { .format = SIEM_OCSF, .hostname = "h", .max_bytes = 2048 };
	struct siem_buf b = { 0 };
	ck_assert_int_eq(siem_record(&o, &b, line, sizeof line - 1, &sess), 0);
	ck_assert_ptr_nonnull(strstr(b.p, ",\"activity_id\":99,\"activity_name\":\"Disconnect\","
	    "\"type_uid\":600599,\"type_name\":\"Datastore Activity: Disconnect\","));
	ck_assert_ptr_nonnull(strstr(b.p, ",\"actor\":{\"user\":{\"name\":\"u\",\"uid\":\"sub\\\"1\","
	    "\"groups\":[{\"name\":\"g1\"},{\"name\":\"\"},{\"name\":\"g\\\\2\"}]},"
	    "\"session\":{\"uid\":\"s9\"}},"
	    "\"src_endpoint\":{\"ip\":\"::1\",\"port\":7},"));
	ck_assert_ptr_nonnull(strstr(b.p, ",\"unmapped\":{\"type\":\"session_end\","
	    "\"reason\":\"client disconnected\"},"));
	siem_buf_free(&b);
}
END_TEST

START_TEST(ocsf_checkpoint_event)
{
	static const char line[] = "{\"size\":5,\"ts\":\"2026-11-27T03:12:05.123456Z\","
	    "\"root\":\"cm9vdA==\",\"note\":\"o\\n5\\ncm9vdA==\\n\\n\\u2014 o c2ln\\\"\\\\\\n\"}";
	static const char want[] = "{\"class_uid\":6005,\"class_name\":\"Datastore Activity\","
	    "\"category_uid\":6,\"category_name\":\"Application Activity\",\"activity_id\":99,"
	    "\"activity_name\":\"Checkpoint\",\"type_uid\":600599,\"type_name\":\"Datastore "
	    "Activity: Other\",\"severity_id\":1,\"severity\":\"Informational\","
	    "\"time\":1795749125123,\"metadata\":{\"version\":\"1.1.0\",\"product\":{\"name\":"
	    "\"pgward\",\"vendor_name\":\"pgward\",\"version\":\"0.1.0\"},\"log_name\":"
	    "\"pgward-audit\",\"original_time\":\"2026-11-27T03:12:05.123456Z\"},\"actor\":"
	    "{\"user\":{\"name\":\"pgward-logd\"}},\"src_endpoint\":{\"name\":\"pgward-logd\"},"
	    "\"message\":\"o\\n5\\ncm9vdA==\\n\\n\\u2014 o c2ln\\\"\\\\\\n\",\"unmapped\":"
	    "{\"checkpoint_size\":5,\"checkpoint_root\":\"cm9vdA==\",\"checkpoint_note\":"
	    "\"o\\n5\\ncm9vdA==\\n\\n\\u2014 o c2ln\\\"\\\\\\n\"}}\n";
	struct siem_opts o = { .format = SIEM_OCSF, .hostname = "h", .max_bytes = 2048 };
	struct siem_buf b = { 0 };
	ck_assert_int_eq(siem_checkpoint(&o, &b, line, sizeof line - 1), 0);
	ck_assert_str_eq(b.p, want);
	siem_buf_free(&b);
}
END_TEST

/* The OCSF event of a record with these members after type, parsed. */
static json_t *
ocsf_of(const char *type, const char *members)
{
	char *l;
	ck_assert_int_ge(asprintf(&l, "{\"seq\":5,\"ts\":\"2026-11-27T03:12:05.123456Z\","
	    "\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\","
	    "\"type\":\"%s\",%s,\"hash\":\"ff\"}", type, members), 0);
	struct siem_opts o = { .format = SIEM_OCSF, .hostname = "h", .max_bytes = 2048 };
	struct siem_buf b = { 0 };
	ck_assert_int_eq(siem_record(&o, &b, l, strlen(l), NULL), 0);
	json_error_t err;
	json_t *j = json_loadb(b.p, b.n, JSON_ALLOW_NUL, &err);
	ck_assert_msg(j != NULL, "%s: %s", err.text, b.p);
	siem_buf_free(&b);
	free(l);
	return j;
}

/* The string at a path of members, with its length. */
static const char *
at(json_t *j, const char *a, const char *b, const char *c, size_t *n)
{
	json_t *v = json_object_get(j, a);
	if (b != NULL)
		v = json_object_get(v, b);
	if (c != NULL)
		v = json_object_get(v, c);
	*n = json_string_length(v);
	return json_string_value(v);
}

#define AT_EQ(j, a, b, c, want) do { \
	size_t n_; \
	const char *v_ = at((j), (a), (b), (c), &n_); \
	ck_assert_msg(v_ != NULL && n_ == sizeof(want) - 1 && memcmp(v_, want, n_) == 0, \
	    "%s.%s.%s: %s", (a), (b) ? (b) : "", (c) ? (c) : "", v_ ? v_ : "(none)"); \
} while (0)

START_TEST(ocsf_keeps_actor_with_bad_strings)
{
	/* A lone surrogate, a byte that is not UTF-8: U+FFFD for the bad
	 * part, actor and the other members kept. */
	json_t *j = ocsf_of("intent", "\"session\":\"s\\uDC00\",\"user\":\"lone\\uD800\","
	    "\"sub\":\"x\xff\",\"groups\":[\"g\\uD800\"],\"decision\":\"allow\"");
	AT_EQ(j, "actor", "user", "name", "lone\xef\xbf\xbd");
	AT_EQ(j, "actor", "user", "uid", "x\xef\xbf\xbd");
	AT_EQ(j, "actor", "session", "uid", "s\xef\xbf\xbd");
	json_t *g = json_array_get(json_object_get(json_object_get(json_object_get(j, "actor"),
	    "user"), "groups"), 0);
	AT_EQ(g, "name", NULL, NULL, "g\xef\xbf\xbd");
	AT_EQ(j, "metadata", "correlation_uid", NULL, "s\xef\xbf\xbd");
	ck_assert_ptr_nonnull(json_object_get(j, "raw_data"));
	json_decref(j);
}
END_TEST

START_TEST(ocsf_unmapped_type_decoded)
{
	json_t *j = ocsf_of("x\\u0000y\\\"z\\u00e9", "\"user\":\"u\"");
	AT_EQ(j, "unmapped", "type", NULL, "x\0y\"z\xc3\xa9");
	json_decref(j);
}
END_TEST

START_TEST(ocsf_groups_are_the_names)
{
	json_t *j = ocsf_of("intent", "\"user\":\"u\",\"groups\":[\"a,b\",\"c\",\"\",\"n\\u0000ul\"]");
	json_t *g = json_object_get(json_object_get(json_object_get(j, "actor"), "user"),
	    "groups");
	ck_assert_uint_eq(json_array_size(g), 4);
	AT_EQ(json_array_get(g, 0), "name", NULL, NULL, "a,b");
	AT_EQ(json_array_get(g, 1), "name", NULL, NULL, "c");
	AT_EQ(json_array_get(g, 2), "name", NULL, NULL, "");
	AT_EQ(json_array_get(g, 3), "name", NULL, NULL, "n\0ul");
	json_decref(j);
}
END_TEST

START_TEST(ocsf_keeps_values_past_nul)
{
	json_t *j = ocsf_of("result", "\"user\":\"u\\u0000v\",\"session\":\"s\\u0000t\","
	    "\"connection\":\"c\\u0000d\",\"status\":\"error\",\"sqlstate\":\"4\\u00002\","
	    "\"message\":\"m\\u0000n\",\"role\":\"r\\u0000s\",\"rule\":\"q\\u0000p\"");
	AT_EQ(j, "actor", "user", "name", "u\0v");
	AT_EQ(j, "actor", "session", "uid", "s\0t");
	AT_EQ(j, "database", "name", NULL, "c\0d");
	AT_EQ(j, "status_code", NULL, NULL, "4\0" "2");
	AT_EQ(j, "status_detail", NULL, NULL, "m\0n");
	AT_EQ(j, "unmapped", "role", NULL, "r\0s");
	AT_EQ(j, "unmapped", "rule", NULL, "q\0p");
	json_decref(j);
}
END_TEST

START_TEST(ocsf_client_whole_or_an_ip)
{
	char members[600], longc[400];
	memset(longc, '1', sizeof longc - 1);
	longc[sizeof longc - 1] = '\0';
	snprintf(members, sizeof members, "\"client\":\"%s:5432\"", longc);
	json_t *j = ocsf_of("session_start", members);
	/* Not an IP: the whole value as the endpoint's name, no ip. */
	ck_assert_ptr_null(json_object_get(json_object_get(j, "src_endpoint"), "ip"));
	size_t n;
	const char *v = at(j, "src_endpoint", "name", NULL, &n);
	ck_assert_uint_eq(n, strlen(longc) + 5);
	ck_assert(v != NULL && strncmp(v, longc, strlen(longc)) == 0);
	json_decref(j);
	j = ocsf_of("session_start", "\"client\":\"unix:pid=7,uid=0\"");
	AT_EQ(j, "src_endpoint", "name", NULL, "unix:pid=7,uid=0");
	ck_assert_ptr_null(json_object_get(json_object_get(j, "src_endpoint"), "port"));
	json_decref(j);
	j = ocsf_of("session_start", "\"client\":\"10.0.0.7:51234\"");
	AT_EQ(j, "src_endpoint", "ip", NULL, "10.0.0.7");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "src_endpoint"),
	    "port")), 51234);
	json_decref(j);
	j = ocsf_of("session_start", "\"client\":\"::1\"");
	AT_EQ(j, "src_endpoint", "ip", NULL, "::1");
	ck_assert_ptr_null(json_object_get(json_object_get(j, "src_endpoint"), "port"));
	json_decref(j);
	j = ocsf_of("session_start", "\"client\":\"10.0.0.7:99999\"");
	AT_EQ(j, "src_endpoint", "name", NULL, "10.0.0.7:99999");
	json_decref(j);
}
END_TEST


/* Who acts, hostile: the outermost actor's sub as actor.invoked_by; the
 * principal, the chain as recorded (odd elements too) and the client in
 * unmapped. A '"', '\', '|', '=', ']', a newline, a control byte, DEL,
 * a byte that is not UTF-8. */
static const char who_line[] =
    "{\"seq\":5,\"ts\":\"2026-11-27T03:12:05.123456Z\",\"prev\":\"0000000"
    "000000000000000000000000000000000000000000000000000000000\",\"type\""
    ":\"intent\",\"session\":\"s1\",\"user\":\"bob\",\"principal\":\"per"
    "son\",\"actor\":[{\"sub\":\"ci|bot=\\\\x]\\\"y\\n\\u0001\x7f\"},\"no"
    "t-an-object\",{\"sub\":\"z\",\"client_id\":\"c=1\"}],\"client_id\":\""
    "pg]ci\",\"decision\":\"allow\",\"hash\":\"ff\"}";

START_TEST(ocsf_carries_who_acts)
{
	json_t *j = ocsf_of("intent", "\"session\":\"s1\",\"user\":\"bob\",\"principal\":\"person\","
	    "\"actor\":[{\"sub\":\"ci|bot=\\\\x]\\\"y\\n\\u0001\x7f\xff\"},\"not-an-object\","
	    "{\"sub\":\"z\",\"client_id\":\"c=1\"}],\"client_id\":\"pg]ci\",\"decision\":\"allow\"");
	AT_EQ(j, "actor", "invoked_by", NULL, "ci|bot=\\x]\"y\n\x01\x7f\xef\xbf\xbd");
	AT_EQ(j, "actor", "user", "name", "bob");
	AT_EQ(j, "unmapped", "principal", NULL, "person");
	AT_EQ(j, "unmapped", "client_id", NULL, "pg]ci");
	json_decref(j);
	/* The chain as recorded, whole, through the copy when it is in
	 * jansson's form: the exact event. */
	struct siem_opts o = { .format = SIEM_OCSF, .hostname = "h", .max_bytes = 2048 };
	struct siem_buf b = { 0 };
	ck_assert_int_eq(siem_record(&o, &b, who_line, strlen(who_line), NULL), 0);
	char *actor = strstr(b.p, ",\"actor\":{");
	char *end = strstr(b.p, ",\"raw_data\":");
	ck_assert(actor != NULL && end != NULL);
	*end = '\0';
	ck_assert_str_eq(actor, ",\"actor\":{\"user\":{\"name\":\"bob\",\"uid\":\"bob\",\"groups\":[]},"
	    "\"invoked_by\":\"ci|bot=\\\\x]\\\"y\\n\\u0001\x7f\",\"session\":{\"uid\":\"s1\"}},"
	    "\"src_endpoint\":{\"name\":\"unknown\"},\"action_id\":1,\"action\":\"Allowed\","
	    "\"disposition_id\":1,\"disposition\":\"Allowed\",\"unmapped\":{\"type\":\"intent\","
	    "\"principal\":\"person\",\"actor\":[{\"sub\":\"ci|bot=\\\\x]\\\"y\\n\\u0001\x7f\"},"
	    "\"not-an-object\",{\"sub\":\"z\",\"client_id\":\"c=1\"}],\"client_id\":\"pg]ci\"}");
	siem_buf_free(&b);
}
END_TEST

START_TEST(ocsf_who_acts_edges)
{
	/* An agent with no person: no invoked_by, the kind and client in
	 * unmapped. */
	json_t *j = ocsf_of("session_start", "\"user\":\"svc\",\"principal\":\"agent\",\"actor\":[],"
	    "\"client_id\":\"etl\"");
	json_t *a = json_object_get(j, "actor");
	ck_assert_ptr_null(json_object_get(a, "invoked_by"));
	AT_EQ(j, "unmapped", "principal", NULL, "agent");
	AT_EQ(j, "unmapped", "client_id", NULL, "etl");
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(j, "unmapped"),
	    "actor")), 0);
	json_decref(j);
	/* Not an array, an array of non-objects, a sub that is not a
	 * string: no invoked_by; the value kept in unmapped as recorded. */
	j = ocsf_of("intent", "\"user\":\"u\",\"actor\":\"ci-bot\"");
	ck_assert_ptr_null(json_object_get(json_object_get(j, "actor"), "invoked_by"));
	AT_EQ(j, "unmapped", "actor", NULL, "ci-bot");
	json_decref(j);
	j = ocsf_of("intent", "\"user\":\"u\",\"actor\":[1,null,[{\"sub\":\"y\"}],{\"sub\":2}]");
	ck_assert_ptr_null(json_object_get(json_object_get(j, "actor"), "invoked_by"));
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(j, "unmapped"),
	    "actor")), 4);
	json_decref(j);
	/* The first actor object with a string sub acts now. */
	j = ocsf_of("intent", "\"user\":\"u\",\"actor\":[\"x\",{\"sub\":\"ok\\u00e9\"}]");
	AT_EQ(j, "actor", "invoked_by", NULL, "ok\xc3\xa9");
	json_decref(j);
	/* A very long chain: kept whole. */
	struct siem_buf p = { 0 };
	SIEM_LIT(&p, "\"user\":\"u\",\"actor\":[");
	for (int i = 0; i < 3000; i++)
		siem_printf(&p, "%s{\"sub\":\"agent-%d\"}", i ? "," : "", i);
	SIEM_LIT(&p, "]");
	j = ocsf_of("intent", p.p);
	AT_EQ(j, "actor", "invoked_by", NULL, "agent-0");
	json_t *chain = json_object_get(json_object_get(j, "unmapped"), "actor");
	ck_assert_uint_eq(json_array_size(chain), 3000);
	AT_EQ(json_array_get(chain, 2999), "sub", NULL, NULL, "agent-2999");
	json_decref(j);
	siem_buf_free(&p);
}
END_TEST

static Suite *
replay_ocsf_suite(void)
{
	Suite *s = suite_create("replay_ocsf");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, json_string_escaping);
	tcase_add_test(tc, json_strings_as_jansson_writes_them);
	tcase_add_test(tc, raw_strings_copied_only_in_jansson_form);
	tcase_add_test(tc, reals_as_jansson_writes_them);
	tcase_add_test(tc, groups_joined_stay_distinct);
	tcase_add_test(tc, log_times_as_timegm_counts_them);
	tcase_add_test(tc, ocsf_events_of_hostile_records);
	tcase_add_test(tc, ocsf_session_facts_fill_in);
	tcase_add_test(tc, ocsf_checkpoint_event);
	tcase_add_test(tc, ocsf_keeps_actor_with_bad_strings);
	tcase_add_test(tc, ocsf_unmapped_type_decoded);
	tcase_add_test(tc, ocsf_groups_are_the_names);
	tcase_add_test(tc, ocsf_keeps_values_past_nul);
	tcase_add_test(tc, ocsf_client_whole_or_an_ip);
	tcase_add_test(tc, ocsf_carries_who_acts);
	tcase_add_test(tc, ocsf_who_acts_edges);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(replay_ocsf_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
