/* pgward-replay's SIEM encodings and search helpers without processes:
 * CEF and RFC 5424 escaping with hostile values, syslog truncation with
 * the SHA-256 of the whole SQL, OCSF attributes, record member reading,
 * time windows, identifier and keyword matching. */

#include <check.h>
#include <stdio.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "auditrec.h"
#include "daemon.h"
#include "replay/match.h"
#include "replay/rec.h"
#include "replay/siem.h"
#include "replay/when.h"
#include "replay/who.h"

static char *
esc(void (*fn)(struct siem_buf *, const char *, size_t), const char *s, size_t n)
{
	struct siem_buf b = { 0 };
	fn(&b, s, n);
	siem_puts(&b, "");
	return b.p;
}

static void
sd_line(struct siem_buf *b, const char *s, size_t n)
{
	siem_sd_value(b, s, n, 1);
}

static void
sd_raw(struct siem_buf *b, const char *s, size_t n)
{
	siem_sd_value(b, s, n, 0);
}

#define ESC_EQ(fn, in, want) do { \
	char *got_ = esc(fn, in, sizeof(in) - 1); \
	ck_assert_str_eq(got_, want); \
	free(got_); \
} while (0)

START_TEST(cef_header_escaping)
{
	ESC_EQ(siem_cef_header, "a|b\\c=d", "a\\|b\\\\c=d");
	ESC_EQ(siem_cef_header, "x\ny\rz", "x y z");
	ESC_EQ(siem_cef_header, "]\"", "]\"");
}
END_TEST

START_TEST(cef_extension_escaping)
{
	ESC_EQ(siem_cef_value, "a=b", "a\\=b");
	ESC_EQ(siem_cef_value, "back\\slash", "back\\\\slash");
	ESC_EQ(siem_cef_value, "pipe|stays", "pipe|stays");
	ESC_EQ(siem_cef_value, "l1\nl2\r", "l1\\nl2\\r");
	ESC_EQ(siem_cef_value, "] \" ok", "] \" ok");
	ESC_EQ(siem_cef_value, "\\=", "\\\\\\=");
	/* Not UTF-8: U+FFFD each bad byte; good UTF-8 kept. */
	ESC_EQ(siem_cef_value, "caf\xc3\xa9 \xff\xfe end", "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd end");
	ESC_EQ(siem_cef_value, "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");	/* overlong */
	ESC_EQ(siem_cef_value, "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");	/* surrogate */
}
END_TEST

START_TEST(rfc5424_param_value_escaping)
{
	ESC_EQ(sd_raw, "a\"b]c\\d", "a\\\"b\\]c\\\\d");
	ESC_EQ(sd_raw, "= | [", "= | [");
	/* Octet-counted framing: control characters pass (the RFC allows
	 * them); line framing: rsyslog's #ooo. */
	ESC_EQ(sd_raw, "l1\nl2", "l1\nl2");
	ESC_EQ(sd_line, "l1\nl2\t\x7f", "l1#012l2#011#177");
	ESC_EQ(sd_line, "\xff]", "\xef\xbf\xbd\\]");
}
END_TEST

/* A record line as the relay writes it (hash not checked by siem). */
static char *
record(const char *payload, size_t *len)
{
	json_t *p = json_loads(payload, 0, NULL);
	ck_assert_ptr_nonnull(p);
	uint8_t prev[32] = { 0 }, h[32];
	char err[256];
	char *l = auditrec_build(7, "2026-11-27T03:12:05.123456Z", prev, p, len, h, err,
	    sizeof err);
	json_decref(p);
	ck_assert_ptr_nonnull(l);
	(*len)--;
	return l;
}

static const char hostile_intent[] =
    "{\"type\":\"intent\",\"session\":\"s1\",\"user\":\"bo|b=\",\"groups\":[\"a]\",\"b\\\"\"],"
    "\"connection\":\"shop\",\"role\":\"app_write\",\"n\":1,\"protocol\":\"simple\","
    "\"decision\":\"deny\",\"rule\":\"r\\\\1\","
    "\"sql\":\"delete from orders -- a|b=c\\\\d]e\\\"f\\nnext caf\\u00e9 \\ud83d\\ude00\"}";
static const char hostile_sql[] =
    "delete from orders -- a|b=c\\d]e\"f\nnext caf\xc3\xa9 \xf0\x9f\x98\x80";

START_TEST(cef_event_of_a_hostile_record)
{
	size_t len;
	char *l = record(hostile_intent, &len);
	struct siem_opts o = { .format = SIEM_CEF, .hostname = "h", .max_bytes = 2048 };
	struct siem_buf b = { 0 };
	ck_assert_int_eq(siem_record(&o, &b, l, len, NULL), 0);
	ck_assert(strncmp(b.p, "CEF:0|pgward|pgward|", 20) == 0);
	ck_assert_ptr_nonnull(strstr(b.p, "|intent|intent deny|7|rt=1795749125123 "));
	ck_assert_ptr_nonnull(strstr(b.p, " suser=bo|b\\= "));
	ck_assert_ptr_nonnull(strstr(b.p, " cs2Label=sql cs2=delete from orders -- a|b\\=c\\\\d]e\"f\\nnext caf\xc3\xa9 \xf0\x9f\x98\x80"));
	ck_assert_ptr_nonnull(strstr(b.p, " act=deny"));
	/* One line. */
	ck_assert_ptr_eq(strchr(b.p, '\n'), b.p + b.n - 1);
	siem_buf_free(&b);
	free(l);
}
END_TEST

START_TEST(syslog_event_of_a_hostile_record)
{
	size_t len;
	char *l = record(hostile_intent, &len);
	struct siem_opts o = { .format = SIEM_SYSLOG, .hostname = "host", .max_bytes = 2048 };
	struct siem_buf b = { 0 };
	ck_assert_int_eq(siem_record(&o, &b, l, len, NULL), 0);
	ck_assert(strncmp(b.p, "<132>1 2026-11-27T03:12:05.123456Z host pgward - intent "
	    "[pgward@32473 seq=\"7\"", 75) == 0);
	ck_assert_ptr_nonnull(strstr(b.p, " user=\"bo|b=\""));
	ck_assert_ptr_nonnull(strstr(b.p, " groups=\"a\\],b\\\"\""));
	ck_assert_ptr_nonnull(strstr(b.p, " sql=\"delete from orders -- a|b=c\\\\d\\]e\\\"f#012next caf\xc3\xa9 \xf0\x9f\x98\x80\"]"));
	unsigned char h[32];
	unsigned hl;
	char hex[65];
	EVP_Digest(hostile_sql, sizeof hostile_sql - 1, h, &hl, EVP_sha256(), NULL);
	auditrec_hex(h, 32, hex);
	char want[128];
	snprintf(want, sizeof want, " sql_sha256=\"%s\"", hex);
	ck_assert_ptr_nonnull(strstr(b.p, want));
	ck_assert_ptr_null(strstr(b.p, "sql_truncated"));
	ck_assert_ptr_eq(strchr(b.p, '\n'), b.p + b.n - 1);
	siem_buf_free(&b);
	/* Octet counting keeps the newline and prefixes the length. */
	o.octet_counting = 1;
	ck_assert_int_eq(siem_record(&o, &b, l, len, NULL), 0);
	char *sp = strchr(b.p, ' ');
	ck_assert_uint_eq(strtoul(b.p, NULL, 10), b.n - (size_t)(sp + 1 - b.p));
	ck_assert_ptr_nonnull(strstr(b.p, "e\\\"f\nnext"));
	siem_buf_free(&b);
	free(l);
}
END_TEST

START_TEST(syslog_truncates_long_sql_at_a_character)
{
	/* 3000 x "é]" : every cut must fall between characters and escapes. */
	struct siem_buf p = { 0 };
	siem_puts(&p, "{\"type\":\"intent\",\"session\":\"s\",\"user\":\"u\",\"decision\":\"allow\",\"sql\":\"");
	for (int i = 0; i < 3000; i++)
		siem_puts(&p, "\\u00E9]");
	siem_puts(&p, "\"}");
	size_t len;
	char *l = record(p.p, &len);
	for (size_t max = 480; max <= 4096; max += 97) {
		struct siem_opts o = { .format = SIEM_SYSLOG, .hostname = "h", .max_bytes = max };
		struct siem_buf b = { 0 };
		ck_assert_int_eq(siem_record(&o, &b, l, len, NULL), 0);
		ck_assert_uint_le(b.n - 1, max);
		ck_assert_ptr_nonnull(strstr(b.p, "sql_truncated=\"true\""));
		ck_assert_ptr_nonnull(strstr(b.p, "sql_bytes=\"9000\""));
		char *s = strstr(b.p, " sql=\"");
		ck_assert_ptr_nonnull(s);
		char *e = strstr(s, "\"] ");
		ck_assert_ptr_nonnull(e);
		/* The value: whole characters and escapes only ("é", "\]"). */
		size_t vl = (size_t)(e - (s + 6));
		ck_assert_uint_eq(vl % 2, 0);
		for (size_t k = 0; k < vl; k += 2)
			ck_assert(memcmp(s + 6 + k, k % 4 == 0 ? "\xc3\xa9" : "\\]", 2) == 0);
		siem_buf_free(&b);
	}
	siem_buf_free(&p);
	free(l);
}
END_TEST

START_TEST(ocsf_required_attributes)
{
	size_t len;
	char *l = record(hostile_intent, &len);
	struct siem_session sess = { .client = "10.1.2.3:5432", .client_n = 13, .sub = "sub-1",
	    .sub_n = 5 };
	struct siem_opts o = { .format = SIEM_OCSF, .hostname = "h", .max_bytes = 2048 };
	struct siem_buf b = { 0 };
	ck_assert_int_eq(siem_record(&o, &b, l, len, &sess), 0);
	json_t *j = json_loads(b.p, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "class_uid")), 6005);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "activity_id")), 4);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "type_uid")), 600504);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "action_id")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "disposition_id")), 2);
	json_t *a = json_object_get(j, "actor");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(a, "user"), "name")), "bo|b=");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(a, "user"), "uid")), "sub-1");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(a, "session"), "uid")), "s1");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "src_endpoint"), "ip")), "10.1.2.3");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "query_info"),
	    "datastore_query")), hostile_sql);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "time")), 1795749125123);
	json_decref(j);
	siem_buf_free(&b);
	free(l);
}
END_TEST

START_TEST(rec_members_and_strings)
{
	size_t len, n;
	char *l = record(hostile_intent, &len);
	struct rec r;
	ck_assert_int_eq(rec_split(&r, l, len), 0);
	ck_assert_uint_eq(r.seq, 7);
	ck_assert(rec_eq(&r, "type", "intent"));
	ck_assert(rec_has(&r, "groups", "a]"));
	ck_assert(!rec_has(&r, "groups", "b"));
	int bin;
	char *sql = rec_sql(&r, &n, &bin);
	ck_assert_uint_eq(n, sizeof hostile_sql - 1);
	ck_assert(memcmp(sql, hostile_sql, n) == 0 && !bin);
	free(sql);
	struct rec_span t = rec_type(l, len);
	ck_assert(t.n == 6 && memcmp(t.p, "intent", 6) == 0);
	free(l);
	l = record("{\"type\":\"intent\",\"sql\":{\"base64\":\"/w==\"}}", &len);
	ck_assert_int_eq(rec_split(&r, l, len), 0);
	sql = rec_sql(&r, &n, &bin);
	ck_assert(n == 1 && (unsigned char)sql[0] == 0xff && bin);
	free(sql);
	free(l);
}
END_TEST

START_TEST(times)
{
	char a[WHEN_LEN], b[WHEN_LEN];
	int m;
	time_t now = 1795749125;	/* 2026-11-27T03:12:05Z */
	ck_assert_int_eq(when_parse("03:12", now, a, &m), 0);
	ck_assert_str_eq(a, "2026-11-27T03:12:00.000000Z");
	ck_assert(m);
	ck_assert_int_eq(when_parse("2026-11-27T05:12:30.5+02:00", now, a, &m), 0);
	ck_assert_str_eq(a, "2026-11-27T03:12:30.500000Z");
	ck_assert_int_eq(when_parse("2026-11-27 03:12:30Z", now, a, &m), 0);
	ck_assert_str_eq(a, "2026-11-27T03:12:30.000000Z");
	ck_assert_int_eq(when_parse("3:12", now, a, &m), -1);
	ck_assert_int_eq(when_parse("25:00", now, a, &m), -1);
	ck_assert_int_eq(when_at("03:12", now, a, b), 0);
	ck_assert_str_eq(a, "2026-11-27T03:11:00.000000Z");
	ck_assert_str_eq(b, "2026-11-27T03:13:59.999999Z");
	ck_assert_int_eq(when_ms("2026-11-27T03:12:05.123456Z"), 1795749125123);
}
END_TEST

START_TEST(identifiers_and_keywords)
{
	const char *q = "DELETE FROM public.\"Orders\" o WHERE o.id=1";
	ck_assert(match_identifier(q, strlen(q), "orders"));
	ck_assert(!match_identifier(q, strlen(q), "order"));
	ck_assert(!match_identifier("select * from orders_old", 24, "orders"));
	ck_assert(match_identifier("select 1 from x,ORDERS", 22, "orders"));
	char kw[32];
	match_first_keyword(" /* c */ -- x\n (delete from t", 29, kw, sizeof kw);
	ck_assert_str_eq(kw, "DELETE");
	match_first_keyword("", 0, kw, sizeof kw);
	ck_assert_str_eq(kw, "");
	struct match_ci m;
	ck_assert_int_eq(match_ci_init(&m, "OrDeRs"), 0);
	const char *h = "xxxx from ORDERS where";
	ck_assert_ptr_eq(match_ci_find(&m, h, strlen(h)), h + 10);
	ck_assert_ptr_null(match_ci_find(&m, h, 15));
}
END_TEST

/* A record line with the members after type (payload: JSON text of
 * members, may be empty), the hash not checked by siem. */
static char *
line_of(const char *type, const char *payload)
{
	char *l;
	ck_assert_int_ge(asprintf(&l, "{\"seq\":5,\"ts\":\"2026-11-27T03:12:05.123456Z\","
	    "\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\","
	    "\"type\":\"%s\"%s%s,\"hash\":\"ff\"}", type, *payload ? "," : "", payload), 0);
	return l;
}

/* The event of a line in a format; the caller frees it. */
static char *
event(enum siem_format fmt, int octets, const char *line, size_t *n)
{
	struct siem_opts o = { .format = fmt, .hostname = "h", .max_bytes = 4096,
	    .octet_counting = octets };
	struct siem_buf b = { 0 };
	ck_assert_int_eq(siem_record(&o, &b, line, strlen(line), NULL), 0);
	*n = b.n;
	return b.p;
}

/* No byte of out[0..n) is a control character other than the ones
 * allowed (and the final newline). */
static void
no_controls(const char *out, size_t n, const char *allowed)
{
	for (size_t i = 0; i + 1 < n; i++) {
		unsigned char c = (unsigned char)out[i];
		ck_assert_msg((c >= 0x20 && c != 0x7f) || (c != 0 && strchr(allowed, c) != NULL),
		    "control 0x%02x at %zu", c, i);
	}
}

START_TEST(cef_and_syslog_keep_groups_distinct)
{
	/* "a,b" and "c" must not read as "a", "b", "c"; nor "x\" and "y". */
	char *l = line_of("intent", "\"user\":\"u\",\"groups\":[\"a,b\",\"c\",\"x\\\\\",\"y\"]");
	size_t n;
	char *o = event(SIEM_CEF, 0, l, &n);
	ck_assert_ptr_nonnull(strstr(o, " cs5Label=groups cs5=a\\\\,b,c,x\\\\\\\\,y\n"));
	free(o);
	o = event(SIEM_SYSLOG, 0, l, &n);
	ck_assert_ptr_nonnull(strstr(o, " groups=\"a\\\\,b,c,x\\\\\\\\,y\""));
	free(o);
	free(l);
}
END_TEST

START_TEST(cef_and_syslog_keep_values_past_nul)
{
	char *l = line_of("result", "\"user\":\"u\\u0000v\",\"session\":\"s\\u0000t\","
	    "\"status\":\"error\",\"message\":\"m\\u0000n\",\"role\":\"r\\u0000s\"");
	size_t n;
	char *o = event(SIEM_CEF, 0, l, &n);
	ck_assert_ptr_nonnull(strstr(o, " suser=u\\u0000v "));
	ck_assert_ptr_nonnull(strstr(o, " reason=m\\u0000n "));
	ck_assert_ptr_nonnull(strstr(o, " cs1Label=session cs1=s\\u0000t "));
	ck_assert_ptr_nonnull(strstr(o, " cs3Label=role cs3=r\\u0000s"));
	no_controls(o, n, "");
	free(o);
	for (int octets = 0; octets < 2; octets++) {
		o = event(SIEM_SYSLOG, octets, l, &n);
		ck_assert_ptr_nonnull(strstr(o, " user=\"u#000v\""));
		ck_assert_ptr_nonnull(strstr(o, " message=\"m#000n\""));
		ck_assert_ptr_nonnull(strstr(o, " session=\"s#000t\""));
		/* The summary (MSG) too. */
		ck_assert_ptr_nonnull(strstr(o, "] result by u#000v: error"));
		no_controls(o, n, "");
		free(o);
	}
	free(l);
}
END_TEST

START_TEST(cef_and_syslog_never_write_raw_controls)
{
	/* NUL, ESC, BEL, TAB, DEL in the SQL and the type. */
	char *l = line_of("in\\u0007tent", "\"user\":\"u\",\"decision\":\"allow\","
	    "\"sql\":\"select 1\\u0000; \\u001b[2J\\ttab\\u007f\\nnext\"");
	size_t n;
	char *o = event(SIEM_CEF, 0, l, &n);
	ck_assert_ptr_nonnull(strstr(o, " cs2Label=sql cs2=select 1\\u0000; \\u001b[2J\\u0009tab"
	    "\\u007f\\nnext"));
	ck_assert_ptr_nonnull(strstr(o, "|in\\u0007tent|in\\u0007tent allow|"));
	no_controls(o, n, "");
	free(o);
	o = event(SIEM_SYSLOG, 0, l, &n);
	ck_assert_ptr_nonnull(strstr(o, " sql=\"select 1#000; #033[2J#011tab#177#012next\""));
	ck_assert_ptr_nonnull(strstr(o, " pgward - intent ["));
	ck_assert_ptr_nonnull(strstr(o, "] in#007tent by u: allow"));
	no_controls(o, n, "");
	free(o);
	/* Octet counting keeps TAB and LF (the value exact) but no other. */
	o = event(SIEM_SYSLOG, 1, l, &n);
	ck_assert_ptr_nonnull(strstr(o, " sql=\"select 1#000; #033[2J\ttab#177\nnext\""));
	no_controls(o, n, "\t\n");
	free(o);
	free(l);
}
END_TEST

START_TEST(cef_client_not_cut)
{
	char longc[400];
	memset(longc, 'h', sizeof longc - 1);
	longc[sizeof longc - 1] = '\0';
	char payload[512];
	snprintf(payload, sizeof payload, "\"user\":\"u\",\"client\":\"%s:5432\"", longc);
	char *l = line_of("session_start", payload);
	size_t n;
	char *o = event(SIEM_CEF, 0, l, &n);
	/* Not an IP: no src (which must be one), the whole value. */
	ck_assert_ptr_null(strstr(o, " src="));
	char want[512];
	snprintf(want, sizeof want, " flexString2Label=client flexString2=%s:5432", longc);
	ck_assert_ptr_nonnull(strstr(o, want));
	free(o);
	o = event(SIEM_SYSLOG, 0, l, &n);
	snprintf(want, sizeof want, " client=\"%s:5432\"", longc);
	ck_assert_ptr_nonnull(strstr(o, want));
	free(o);
	free(l);
	l = line_of("session_start", "\"client\":\"unix:pid=7,uid=0\"");
	o = event(SIEM_CEF, 0, l, &n);
	ck_assert_ptr_null(strstr(o, " src="));
	ck_assert_ptr_nonnull(strstr(o, " flexString2Label=client flexString2=unix:pid\\=7,uid\\=0"));
	free(o);
	free(l);
	l = line_of("session_start", "\"client\":\"[2001:db8::1]:5432\"");
	o = event(SIEM_CEF, 0, l, &n);
	ck_assert_ptr_nonnull(strstr(o, " src=2001:db8::1 spt=5432\n"));
	free(o);
	free(l);
}
END_TEST


/* Who acts, hostile: quotes, backslashes, '=', '|', ']', a newline, a
 * control byte, DEL, a byte that is not UTF-8 and a ',' in the names;
 * elements of the chain that are not objects, or have no string sub,
 * are left out. */
static const char hostile_who[] =
    "\"session\":\"s1\",\"user\":\"bo\\\"b\",\"principal\":\"person\","
    "\"actor\":[{\"sub\":\"ci|bot=\\\\x]\\\"y\\n\"},\"not-an-object\",7,[],"
    "{\"client_id\":\"no-sub\"},{\"sub\":5},"
    "{\"sub\":\"a,b\\u0001\x7f\xff\",\"client_id\":\"c=1\"}],"
    "\"client_id\":\"pg]ci\\\\=|\",\"decision\":\"allow\"";

START_TEST(cef_and_syslog_carry_who_acts)
{
	char *l = line_of("intent", hostile_who);
	size_t n;
	char *o = event(SIEM_CEF, 0, l, &n);
	ck_assert_str_eq(o, "CEF:0|pgward|pgward|" PGWARD_VERSION "|intent|intent allow|3|"
	    "rt=1795749125123 externalId=5 suser=bo\"b "
	    "act=allow cs1Label=session cs1=s1 "
	    "pgwardPrincipal=person pgwardActor=ci|bot\\=\\\\\\\\x]\"y\\n,a\\\\,b\\u0001\\u007f"
	    "\xef\xbf\xbd pgwardClientId=pg]ci\\\\\\=|\n");
	free(o);
	o = event(SIEM_SYSLOG, 0, l, &n);
	ck_assert_str_eq(o, "<134>1 2026-11-27T03:12:05.123456Z h pgward - intent "
	    "[pgward@32473 seq=\"5\" session=\"s1\" user=\"bo\\\"b\" principal=\"person\" "
	    "actor=\"ci|bot=\\\\\\\\x\\]\\\"y#012,a\\\\,b#001#177\xef\xbf\xbd\" "
	    "client_id=\"pg\\]ci\\\\=|\" decision=\"allow\"] intent by bo\"b: allow\n");
	free(o);
	/* Octet counting: the newline exact, the other controls still #ooo. */
	o = event(SIEM_SYSLOG, 1, l, &n);
	ck_assert_ptr_nonnull(strstr(o, " actor=\"ci|bot=\\\\\\\\x\\]\\\"y\n,a\\\\,b#001#177"));
	free(o);
	free(l);
}
END_TEST

START_TEST(cef_and_syslog_who_acts_edges)
{
	size_t n;
	/* An agent with no person; an empty chain writes no actor. */
	char *l = line_of("session_end", "\"user\":\"svc\",\"principal\":\"agent\",\"actor\":[],"
	    "\"client_id\":\"etl\"");
	char *o = event(SIEM_CEF, 0, l, &n);
	ck_assert_ptr_nonnull(strstr(o, " pgwardPrincipal=agent pgwardClientId=etl\n"));
	ck_assert_ptr_null(strstr(o, "pgwardActor"));
	free(o);
	o = event(SIEM_SYSLOG, 0, l, &n);
	ck_assert_ptr_nonnull(strstr(o, " user=\"svc\" principal=\"agent\" client_id=\"etl\""));
	ck_assert_ptr_null(strstr(o, " actor="));
	free(o);
	free(l);
	/* An actor that is not an array, an array of non-objects: nothing. */
	const char *odd[] = { "\"actor\":\"ci-bot\"", "\"actor\":[1,\"x\",null,[{\"sub\":\"y\"}]]",
	    "\"actor\":{\"sub\":\"z\"}" };
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		char payload[128];
		snprintf(payload, sizeof payload, "\"user\":\"u\",%s", odd[i]);
		l = line_of("intent", payload);
		o = event(SIEM_CEF, 0, l, &n);
		ck_assert_msg(strstr(o, "pgward") != NULL && strstr(o, "pgwardActor") == NULL, "%s", o);
		free(o);
		o = event(SIEM_SYSLOG, 0, l, &n);
		ck_assert_msg(strstr(o, " actor=") == NULL, "%s", o);
		free(o);
		free(l);
	}
	/* A very long chain: every actor, in order, nothing cut. */
	struct siem_buf p = { 0 }, want = { 0 };
	SIEM_LIT(&p, "\"user\":\"u\",\"actor\":[");
	for (int i = 0; i < 2000; i++) {
		siem_printf(&p, "%s{\"sub\":\"agent-%d\"}", i ? "," : "", i);
		siem_printf(&want, "%sagent-%d", i ? "," : "", i);
	}
	SIEM_LIT(&p, "]");
	l = line_of("intent", p.p);
	o = event(SIEM_CEF, 0, l, &n);
	char *a = strstr(o, " pgwardActor=");
	ck_assert_ptr_nonnull(a);
	ck_assert(strncmp(a + 13, want.p, want.n) == 0 && a[13 + want.n] == '\n');
	free(o);
	free(l);
	siem_buf_free(&p);
	siem_buf_free(&want);
}
END_TEST

/* Records written before who acts was recorded: nothing new, byte for
 * byte. */
START_TEST(cef_and_syslog_old_records_unchanged)
{
	size_t len, n;
	char *l = record(hostile_intent, &len);
	char *o = event(SIEM_CEF, 0, l, &n);
	ck_assert_str_eq(o, "CEF:0|pgward|pgward|" PGWARD_VERSION "|intent|intent deny|7|"
	    "rt=1795749125123 externalId=7 suser=bo|b\\= "
	    "act=deny cs1Label=session cs1=s1 cs2Label=sql cs2=delete from orders -- a|b\\=c\\\\d]"
	    "e\"f\\nnext caf\xc3\xa9 \xf0\x9f\x98\x80 cs3Label=role cs3=app_write "
	    "cs4Label=connection cs4=shop cs5Label=groups cs5=a],b\" cs6Label=rule cs6=r\\\\1\n");
	free(o);
	free(l);
}
END_TEST

/* The text people read, the filters. */
static char *
who_of(const char *members, int *actor_hit, const char *glob, int *agent)
{
	char *l = line_of("intent", members);
	struct rec r;
	ck_assert_int_eq(rec_split(&r, l, strlen(l)), 0);
	char *t = who_text(&r);
	ck_assert_ptr_nonnull(t);
	if (glob != NULL)
		*actor_hit = who_match_actor(&r, glob);
	if (agent != NULL)
		*agent = who_match_principal(&r, "agent");
	ck_assert_int_eq(who_match_principal(&r, "agent"), !who_match_principal(&r, "person"));
	free(l);
	return t;
}

#define WHO_EQ(members, want) do { \
	char *t_ = who_of((members), NULL, NULL, NULL); \
	ck_assert_str_eq(t_, (want)); \
	free(t_); \
} while (0)

START_TEST(who_text_and_filters)
{
	WHO_EQ("\"user\":\"bob\"", "bob");
	WHO_EQ("\"user\":\"bob\",\"principal\":\"person\",\"actor\":[]", "bob");
	WHO_EQ("\"user\":\"bob\",\"principal\":\"person\",\"actor\":[{\"sub\":\"ci-bot\"}],"
	    "\"client_id\":\"pgward-ci\"", "bob via ci-bot (client pgward-ci)");
	WHO_EQ("\"user\":\"bob\",\"principal\":\"person\",\"actor\":[{\"sub\":\"ci-bot\"},"
	    "{\"sub\":\"deploy-svc\"}],\"client_id\":\"pgward-ci\"",
	    "bob via ci-bot via deploy-svc (client pgward-ci)");
	WHO_EQ("\"user\":\"ci-bot\",\"principal\":\"agent\",\"actor\":[],"
	    "\"client_id\":\"pgward-ci\"", "ci-bot (agent, client pgward-ci)");
	WHO_EQ("\"user\":\"ci-bot\",\"principal\":\"agent\",\"actor\":[]", "ci-bot (agent)");
	WHO_EQ("\"user\":\"svc\",\"principal\":\"agent\",\"actor\":[{\"sub\":\"x\"}],"
	    "\"client_id\":\"c\"", "svc (agent) via x (client c)");
	/* An actor's own client when it is not the record's. */
	WHO_EQ("\"user\":\"bob\",\"actor\":[{\"sub\":\"a\",\"client_id\":\"c1\"},"
	    "{\"sub\":\"b\",\"client_id\":\"c\"}],\"client_id\":\"c\"",
	    "bob via a (client c1) via b (client c)");
	/* Hostile: one line, every byte otherwise kept; odd elements out. */
	WHO_EQ(hostile_who, "bo\"b via ci|bot=\\x]\"y? via a,b??\xff (client c=1) "
	    "(client pg]ci\\=|)");
	WHO_EQ("\"user\":\"u\",\"actor\":\"ci-bot\"", "u");
	WHO_EQ("\"user\":\"u\\u0000v\",\"actor\":[1,[{\"sub\":\"y\"}]]", "u?v");

	int hit, agent;
	char *t = who_of("\"user\":\"bob\",\"principal\":\"person\",\"actor\":[{\"sub\":\"ci-bot\"},"
	    "{\"sub\":\"deploy-svc\",\"client_id\":\"dep\"}],\"client_id\":\"pgward-ci\"",
	    &hit, "deploy-*", &agent);
	ck_assert(hit && !agent);
	free(t);
	static const struct { const char *glob; int hit; } g[] = {
		{ "ci-bot", 1 }, { "ci-*", 1 }, { "*svc", 1 }, { "dep", 1 }, { "pgward-ci", 1 },
		{ "ci", 0 }, { "bob", 0 }, { "CI-BOT", 0 }, { "[cd]*-bot", 1 }, { "*", 1 },
	};
	for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
		t = who_of("\"user\":\"bob\",\"actor\":[{\"sub\":\"ci-bot\"},{\"sub\":\"deploy-svc\","
		    "\"client_id\":\"dep\"}],\"client_id\":\"pgward-ci\"", &hit, g[i].glob, NULL);
		ck_assert_msg(hit == g[i].hit, "%s", g[i].glob);
		free(t);
	}
	/* Old records: a person, no actor; an agent's client matches. */
	t = who_of("\"user\":\"bob\"", &hit, "*", &agent);
	ck_assert(!hit && !agent);
	free(t);
	t = who_of("\"user\":\"svc\",\"principal\":\"agent\",\"actor\":[],\"client_id\":\"etl\"",
	    &hit, "etl", &agent);
	ck_assert(hit && agent);
	free(t);
	/* A name with a NUL never matches; nor do elements that are not
	 * actors. */
	t = who_of("\"user\":\"u\",\"actor\":[{\"sub\":\"a\\u0000b\"},\"x\",{\"client_id\":\"x\"}]",
	    &hit, "a*", NULL);
	ck_assert(!hit);
	free(t);
	t = who_of("\"user\":\"u\",\"actor\":[\"x\",{\"client_id\":\"x\"}]", &hit, "x", NULL);
	ck_assert(!hit);
	free(t);
}
END_TEST

static Suite *
replay_siem_suite(void)
{
	Suite *s = suite_create("replay_siem");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, cef_header_escaping);
	tcase_add_test(tc, cef_extension_escaping);
	tcase_add_test(tc, rfc5424_param_value_escaping);
	tcase_add_test(tc, cef_event_of_a_hostile_record);
	tcase_add_test(tc, syslog_event_of_a_hostile_record);
	tcase_add_test(tc, syslog_truncates_long_sql_at_a_character);
	tcase_add_test(tc, ocsf_required_attributes);
	tcase_add_test(tc, rec_members_and_strings);
	tcase_add_test(tc, cef_and_syslog_keep_groups_distinct);
	tcase_add_test(tc, cef_and_syslog_keep_values_past_nul);
	tcase_add_test(tc, cef_and_syslog_never_write_raw_controls);
	tcase_add_test(tc, cef_client_not_cut);
	tcase_add_test(tc, cef_and_syslog_carry_who_acts);
	tcase_add_test(tc, cef_and_syslog_who_acts_edges);
	tcase_add_test(tc, cef_and_syslog_old_records_unchanged);
	tcase_add_test(tc, who_text_and_filters);
	tcase_add_test(tc, times);
	tcase_add_test(tc, identifiers_and_keywords);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(replay_siem_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
