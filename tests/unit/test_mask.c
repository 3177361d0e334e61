#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "filter/maskpred.h"
#include "filter/rules.h"
#include "mask/internal.h"
#include "mask/mask.h"
#include "mask/profile.h"
#include "mask/provision.h"

static const uint8_t KEY[] = "0123456789abcdef0123456789abcdef";

static struct mask_engine *
engine(const char *rules, const uint8_t *key)
{
	json_error_t je;
	json_t *j = json_loads(rules, 0, &je);
	ck_assert_msg(j != NULL, "bad JSON %s: %s", rules, je.text);
	struct mask_result r = mask_engine_new(j, key, key ? 32 : 0);
	json_decref(j);
	ck_assert_msg(r.error == NULL, "engine: %s", r.error ? r.error : "");
	return r.engine;
}

static void
engine_fails(const char *rules, const char *want)
{
	json_t *j = json_loads(rules, 0, NULL);
	ck_assert_msg(j != NULL, "bad JSON %s", rules);
	struct mask_result r = mask_engine_new(j, NULL, 0);
	json_decref(j);
	ck_assert_msg(r.error != NULL, "accepted: %s", rules);
	ck_assert_msg(strstr(r.error, want) != NULL, "error \"%s\" lacks \"%s\"",
	    r.error, want);
	free(r.error);
}

/* mask_text on s; returns a static copy of the result. */
static const char *
text(struct mask_engine *e, const char *s)
{
	static char buf[1024];
	char *out;
	size_t n;
	int rc = mask_text(e, s, strlen(s), &out, &n);
	ck_assert_int_ge(rc, 0);
	snprintf(buf, sizeof buf, "%.*s", (int)n, out);
	free(out);
	return buf;
}

static const char *
value(struct mask_engine *e, struct mask_action a, const char *s, int *isnull)
{
	static char buf[1024];
	char *out;
	size_t n;
	int rc = mask_value(e, &a, s, strlen(s), &out, &n, isnull);
	ck_assert_int_ge(rc, 0);
	snprintf(buf, sizeof buf, "%.*s", (int)n, out);
	free(out);
	return buf;
}

START_TEST(test_luhn)
{
	ck_assert(detect_luhn_ok("4111111111111111", 16));
	ck_assert(detect_luhn_ok("5500000000000004", 16));
	ck_assert(detect_luhn_ok("378282246310005", 15));
	ck_assert(!detect_luhn_ok("4111111111111112", 16));
	ck_assert(!detect_luhn_ok("1234567812345678", 16));
	struct mask_engine *e = engine("{\"detect\":{\"on\":\"all-text\"}}", NULL);
	ck_assert_str_eq(text(e, "card 4111 1111 1111 1111."), "card ********.");
	ck_assert_str_eq(text(e, "card 4111-1111-1111-1111"), "card ********");
	ck_assert_str_eq(text(e, "4111111111111111"), "********");
	ck_assert_str_eq(text(e, "x 4111111111111112 y"), "x 4111111111111112 y");
	/* Inside a longer number: not a card. */
	ck_assert_str_eq(text(e, "41111111111111110"), "41111111111111110");
	/* 12 digits: too short. */
	ck_assert_str_eq(text(e, "order 411111111116"), "order 411111111116");
	/* Next to a year. */
	ck_assert_str_eq(text(e, "2024 4111111111111111"), "2024 ********");
	mask_engine_free(e);
}
END_TEST

START_TEST(test_iban)
{
	ck_assert(detect_iban_ok("DE89370400440532013000", 22));
	ck_assert(detect_iban_ok("GB82WEST12345698765432", 22));
	ck_assert(!detect_iban_ok("DE89370400440532013001", 22));
	ck_assert(!detect_iban_ok("GB83WEST12345698765432", 22));
	struct mask_engine *e = engine("{\"detect\":{\"on\":\"all-text\"}}", NULL);
	ck_assert_str_eq(text(e, "iban DE89 3704 0044 0532 0130 00 ok"), "iban ******** ok");
	ck_assert_str_eq(text(e, "GB82WEST12345698765432"), "********");
	ck_assert_str_eq(text(e, "NL91ABNA0417164300,"), "********,");
	/* Bad checksum: left alone. */
	ck_assert_str_eq(text(e, "GB83WEST12345698765432"), "GB83WEST12345698765432");
	ck_assert_str_eq(text(e, "DE88370400440532013000"), "DE88370400440532013000");
	ck_assert_str_eq(text(e, "ABCD 1234"), "ABCD 1234");
	mask_engine_free(e);
}
END_TEST

START_TEST(test_ssn)
{
	ck_assert(detect_ssn_ok("078-05-1120", 11));
	ck_assert(!detect_ssn_ok("000-12-3456", 11));
	ck_assert(!detect_ssn_ok("666-12-3456", 11));
	ck_assert(!detect_ssn_ok("900-12-3456", 11));
	ck_assert(!detect_ssn_ok("123-00-4567", 11));
	ck_assert(!detect_ssn_ok("123-45-0000", 11));
	ck_assert(!detect_ssn_ok("123456789", 9));
	struct mask_engine *e = engine("{\"detect\":{\"on\":\"all-text\","
	    "\"detectors\":[\"ssn\"]}}", NULL);
	ck_assert_str_eq(text(e, "ssn 123-45-6789!"), "ssn ********!");
	ck_assert_str_eq(text(e, "ssn 666-45-6789"), "ssn 666-45-6789");
	ck_assert_str_eq(text(e, "1123-45-6789"), "1123-45-6789");
	ck_assert_str_eq(text(e, "123-45-67890"), "123-45-67890");
	ck_assert_str_eq(text(e, "mail a@b.com"), "mail a@b.com");	/* not selected */
	mask_engine_free(e);
}
END_TEST

START_TEST(test_email)
{
	struct mask_engine *e = engine("{\"detect\":{\"on\":\"all-text\","
	    "\"detectors\":[\"email\"],\"style\":\"email-domain\"}}", NULL);
	ck_assert_str_eq(text(e, "to bob.smith+x@mail.example.com."),
	    "to ****@mail.example.com.");
	ck_assert_str_eq(text(e, "mail='bob@example.com'"), "mail='****@example.com'");
	ck_assert_str_eq(text(e, "a @ b"), "a @ b");
	ck_assert_str_eq(text(e, "user@localhost"), "user@localhost");
	ck_assert_str_eq(text(e, "x@y.c1"), "x@y.c1");
	ck_assert_str_eq(text(e, "@example.com"), "@example.com");
	mask_engine_free(e);
}
END_TEST

START_TEST(test_regex)
{
	struct mask_engine *e = engine("{\"regexes\":[{\"name\":\"emp\","
	    "\"pattern\":\"E-[0-9]{6}\"}],\"detect\":{\"on\":\"all-text\","
	    "\"detectors\":[\"regex:emp\",\"card\"]}}", NULL);
	ck_assert_str_eq(text(e, "E-123456 and E-12 and 4111111111111111"),
	    "******** and E-12 and ********");
	mask_engine_free(e);
}
END_TEST

START_TEST(test_styles)
{
	struct mask_engine *e = engine("{}", KEY);
	int isnull;
	struct mask_action a = { MASK_PARTIAL, 4, 0 };
	ck_assert_str_eq(value(e, a, "4111111111111111", &isnull), "************1111");
	ck_assert_int_eq(isnull, 0);
	ck_assert_str_eq(value(e, a, "abc", &isnull), "***");
	ck_assert_str_eq(value(e, a, "äöü-1234", &isnull), "****1234");
	a.keep = 0;
	ck_assert_str_eq(value(e, a, "secret", &isnull), "******");
	a = (struct mask_action){ MASK_REDACT, 0, 0 };
	ck_assert_str_eq(value(e, a, "x", &isnull), "********");
	a = (struct mask_action){ MASK_EMAIL_DOMAIN, 0, 0 };
	ck_assert_str_eq(value(e, a, "bob@example.com", &isnull), "****@example.com");
	ck_assert_str_eq(value(e, a, "no-at-sign", &isnull), "********");
	a = (struct mask_action){ MASK_NULL, 0, 0 };
	value(e, a, "x", &isnull);
	ck_assert_int_eq(isnull, 1);
	a = (struct mask_action){ MASK_NONE, 0, 0 };
	char *out;
	size_t n;
	ck_assert_int_eq(mask_value(e, &a, "keep", 4, &out, &n, &isnull), 0);
	ck_assert_str_eq(out, "keep");
	free(out);
	ck_assert_uint_ge(mask_values_masked(e), 6);
	mask_engine_free(e);
}
END_TEST

START_TEST(test_token)
{
	struct mask_engine *e = engine("{}", KEY);
	int isnull;
	struct mask_action a = { MASK_TOKEN, 0, 0 };
	char t1[64];
	snprintf(t1, sizeof t1, "%s", value(e, a, "4111111111111111", &isnull));
	ck_assert_int_eq((int)strlen(t1), 20);
	ck_assert(strncmp(t1, "tok_", 4) == 0);
	ck_assert_str_eq(value(e, a, "4111111111111111", &isnull), t1);
	ck_assert_str_ne(value(e, a, "4111111111111112", &isnull), t1);
	/* The same as OpenSSL's HMAC-SHA-256. */
	unsigned char mac[32];
	unsigned int maclen;
	HMAC(EVP_sha256(), KEY, 32, (const unsigned char *)"4111111111111111", 16,
	    mac, &maclen);
	char want[32] = "tok_";
	for (int i = 0; i < 8; i++)
		snprintf(want + 4 + 2 * i, 3, "%02x", mac[i]);
	ck_assert_str_eq(t1, want);
	mask_engine_free(e);
	/* Another key, another token. */
	static const uint8_t key2[] = "fedcba9876543210fedcba9876543210";
	e = engine("{}", key2);
	ck_assert_str_ne(value(e, a, "4111111111111111", &isnull), t1);
	mask_engine_free(e);
}
END_TEST

START_TEST(test_rules_errors)
{
	engine_fails("[]", "must be a JSON object");
	engine_fails("{\"colums\":[]}", "unknown member \"colums\"");
	engine_fails("{\"columns\":[{\"table\":\"t\",\"style\":\"redact\"}]}",
	    "\"table\" and \"column\"");
	engine_fails("{\"columns\":[{\"table\":\"t\",\"column\":\"c\",\"style\":\"blur\"}]}",
	    "\"style\" must be");
	engine_fails("{\"columns\":[{\"table\":\"t\",\"column\":\"c\"}]}", "\"style\" is required");
	engine_fails("{\"patterns\":[{\"column\":\"*\",\"style\":\"redact\",\"keep\":2}]}",
	    "belongs to style partial");
	engine_fails("{\"patterns\":[{\"column\":\"*\",\"style\":\"partial\",\"keep\":99}]}",
	    "\"keep\" must be");
	engine_fails("{\"patterns\":[{\"column\":\"*\",\"style\":\"token\"}]}",
	    "needs the tokenization key");
	engine_fails("{\"regexes\":[{\"name\":\"x\",\"pattern\":\"(\"}]}", "regexes[0] (x)");
	engine_fails("{\"detect\":{\"on\":\"all-text\",\"detectors\":[\"regex:nope\"]}}",
	    "no regex named");
	engine_fails("{\"detect\":{\"on\":\"some\"}}", "columns, all-text or off");
	engine_fails("{\"detect\":{\"detectors\":[\"phone\"]}}", "unknown detector");
	engine_fails("{\"predicates\":\"maybe\"}", "allow, deny or review");
}
END_TEST

START_TEST(test_column_action)
{
	struct mask_engine *e = engine("{\"columns\":[{\"table\":\"public.customers\","
	    "\"column\":\"card_number\",\"style\":\"partial\",\"keep\":4},"
	    "{\"table\":\"notes\",\"column\":\"body\",\"detect\":true}],"
	    "\"patterns\":[{\"column\":\"*email*\",\"style\":\"email-domain\"}],"
	    "\"detect\":{\"on\":\"all-text\"},\"predicates\":\"deny\"}", NULL);
	struct mask_action a = mask_column_action(e, "public.customers", "card_number", "x", 1);
	ck_assert_int_eq(a.style, MASK_PARTIAL);
	ck_assert_int_eq(a.keep, 4);
	a = mask_column_action(e, "public.orders", "card_number", "card_number", 1);
	ck_assert_int_eq(a.style, MASK_NONE);
	ck_assert_int_eq(a.detect, 1);	/* all-text */
	a = mask_column_action(e, "public.orders", "card_number", "card_number", 0);
	ck_assert_int_eq(a.detect, 0);
	a = mask_column_action(e, "crm.notes", "body", "body", 1);
	ck_assert_int_eq(a.style, MASK_NONE);
	ck_assert_int_eq(a.detect, 1);
	a = mask_column_action(e, "public.staff", "Work_Email", "w", 1);
	ck_assert_int_eq(a.style, MASK_EMAIL_DOMAIN);
	a = mask_column_action(e, NULL, NULL, "card_number", 1);
	ck_assert_int_eq(a.style, MASK_PARTIAL);
	ck_assert_int_eq(mask_engine_predicates(e), MASK_PRED_DENY);
	ck_assert(mask_engine_active(e));
	mask_engine_free(e);
	e = engine("{}", NULL);
	ck_assert(!mask_engine_active(e));
	a = mask_column_action(e, "t", "c", "c", 1);
	ck_assert_int_eq(a.style, MASK_NONE);
	ck_assert_int_eq(a.detect, 0);
	mask_engine_free(e);
}
END_TEST

START_TEST(test_buf_api)
{
	struct mask_engine *e = engine("{\"detect\":{\"on\":\"all-text\",\"style\":\"null\"}}", NULL);
	struct mask_buf b = { NULL, 0, 0 };
	struct mask_action a = { MASK_NONE, 0, 1 };
	int isnull;
	ck_assert_int_eq(mask_value_buf(e, &a, "nothing here", 12, &b, &isnull), 0);
	ck_assert_int_eq(mask_value_buf(e, &a, "4111111111111111", 16, &b, &isnull), 1);
	ck_assert_int_eq(isnull, 1);
	/* In free text null redacts. */
	ck_assert_int_eq(mask_text_buf(e, "c 4111111111111111", 18, &b), 1);
	ck_assert_int_eq((int)b.len, 10);
	ck_assert(memcmp(b.data, "c ********", 10) == 0);
	mask_buf_free(&b);
	mask_engine_free(e);
}
END_TEST

static double
now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

/* Not an assertion of speed (a sanitizer build is slow): prints ns/value
 * so that a run of the optimized build can be read. */
START_TEST(test_speed)
{
	struct mask_engine *e = engine("{\"regexes\":[{\"name\":\"emp\",\"pattern\":"
	    "\"E-[0-9]{6}\"}],\"detect\":{\"on\":\"all-text\"}}", KEY);
	struct mask_buf b = { NULL, 0, 0 };
	struct mask_action a = { MASK_PARTIAL, 4, 0 };
	int isnull;
	const int n = 200000;
	int sum = 0;
	double t0 = now_ns();
	for (int i = 0; i < n; i++)
		sum += mask_value_buf(e, &a, "4111111111111111", 16, &b, &isnull);
	double t1 = now_ns();
	ck_assert_int_eq(sum, n);
	const char *s = "Customer called about order 12345 on 2024-05-01; said the "
	    "parcel was late, wants a refund ASAP pls!!";
	size_t len = strlen(s);
	ck_assert_int_eq((int)len, 100);
	sum = 0;
	for (int i = 0; i < n; i++)
		sum += mask_text_buf(e, s, len, &b);
	double t2 = now_ns();
	ck_assert_int_eq(sum, 0);
	a.style = MASK_TOKEN;
	for (int i = 0; i < n; i++)
		mask_value_buf(e, &a, "4111111111111111", 16, &b, &isnull);
	double t3 = now_ns();
	fprintf(stderr, "mask speed: partial card %.0f ns/value, mask_text 100 bytes "
	    "%.0f ns/value, token %.0f ns/value\n", (t1 - t0) / n, (t2 - t1) / n,
	    (t3 - t2) / n);
	mask_buf_free(&b);
	mask_engine_free(e);
}
END_TEST

/* ---- policy mask lines ---- */

static const char *POLICY =
    "default allow\n"
    "mask column public.customers.card_number style partial keep 4 exempt pci-auditor\n"
    "mask column public.customers.email style email-domain\n"
    "mask pattern *ssn* style redact\n"
    "mask detect all-text detectors card,email,iban,ssn,regex:employee-id style redact groups analysts\n"
    "mask regex employee-id \"E-[0-9]{6}\"\n"
    "mask predicates deny\n";

static struct rules *
policy(const char *text_, struct rules_result *r)
{
	*r = rules_parse(text_, "p.conf", 300);
	ck_assert_msg(r->error == NULL, "policy: %s", r->error ? r->error : "");
	return r->policy;
}

static void
policy_fails(const char *text_, const char *want)
{
	struct rules_result r = rules_parse(text_, "p.conf", 300);
	ck_assert_msg(r.error != NULL, "accepted: %s", text_);
	ck_assert_msg(strstr(r.error, want) != NULL, "error \"%s\" lacks \"%s\"",
	    r.error, want);
	rules_result_free(r);
}

START_TEST(test_policy_lines)
{
	struct rules_result r;
	struct rules *p = policy(POLICY, &r);
	ck_assert_uint_eq(p->mask.nlines, 5);
	ck_assert_int_eq(p->mask_predicates, RULES_DENY);
	ck_assert_int_eq(p->mask.mode, MASK_MODE_DATABASE);
	ck_assert_str_eq(p->mask.lines[0].table, "public.customers");
	ck_assert_str_eq(p->mask.lines[0].column, "card_number");
	ck_assert_int_eq((int)p->mask.lines[0].keep, 4);
	rules_result_free(r);
	policy_fails("default allow\nmask key /etc/pgward/mask.key\n", "never in the policy");
	policy_fails("default allow\nmask column card style redact\n", "SCHEMA.TABLE.COLUMN");
	policy_fails("default allow\nmask column s.t.c style blur\n", "is not redact");
	policy_fails("default allow\nmask column s.t.c\n", "either \"style STYLE\" or \"detect\"");
	policy_fails("default allow\nmask column s.t.c style redact keep 3\n", "keep belongs");
	policy_fails("default allow\nmask column .t.c style redact\n", "SCHEMA.TABLE.COLUMN");
	policy_fails("default allow\nmask column s..c style redact\n", "SCHEMA.TABLE.COLUMN");
	policy_fails("default allow\nmask regex x \"(\"\n", "mask regex x");
	policy_fails("default allow\nmask detect all-text detectors regex:nope\n",
	    "no \"mask regex nope\" line");
	policy_fails("default allow\nmask detect some\n", "all-text or columns");
	policy_fails("default allow\nmask predicates review\n", "needs approvers");
	policy_fails("default allow\nmask predicates deny\nmask predicates allow\n", "duplicate");
	policy_fails("default allow\nmask pattern *x* style redact detectors card\n",
	    "belongs to detect lines");
}
END_TEST

static const char *g_pci[] = { "pci-auditor", "analysts" };
static const char *g_ana[] = { "analysts" };
static const char *g_eng[] = { "engineers" };

START_TEST(test_policy_narrowing)
{
	struct rules_result r;
	struct rules *p = policy(POLICY, &r);
	struct rule_identity ana = { "ann", g_ana, 1, "shop", "app", NULL };
	struct rule_identity pci = { "pia", g_pci, 2, "shop", "app", NULL };
	struct rule_identity eng = { "eve", g_eng, 1, "shop", "app", NULL };
	json_t *j;
	ck_assert_int_eq(rules_mask_json(p, &ana, &j), 0);
	ck_assert_ptr_nonnull(j);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "columns")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "detect"),
	    "on")), "all-text");
	ck_assert_str_eq(json_string_value(json_object_get(j, "predicates")), "deny");
	/* The JSON is what the engine takes. */
	struct mask_result mr = mask_engine_new(j, NULL, 0);
	ck_assert_msg(mr.error == NULL, "%s", mr.error ? mr.error : "");
	ck_assert_str_eq(text(mr.engine, "E-123456"), "********");
	mask_engine_free(mr.engine);
	json_decref(j);
	/* pci-auditor: the card column is exempt. */
	ck_assert_int_eq(rules_mask_json(p, &pci, &j), 0);
	json_t *cols = json_object_get(j, "columns");
	ck_assert_uint_eq(json_array_size(cols), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cols, 0),
	    "column")), "email");
	json_decref(j);
	/* engineers: no detect line (groups analysts). */
	ck_assert_int_eq(rules_mask_json(p, &eng, &j), 0);
	ck_assert_ptr_null(json_object_get(j, "detect"));
	json_decref(j);
	rules_result_free(r);
	/* An exempt group gets nothing at all. */
	p = policy("default allow\nmask column s.t.c style redact exempt pci-auditor\n", &r);
	ck_assert_int_eq(rules_mask_json(p, &pci, &j), 0);
	ck_assert_ptr_null(j);
	ck_assert_int_eq(rules_mask_json(p, NULL, &j), 0);
	ck_assert_ptr_nonnull(j);
	json_decref(j);
	rules_result_free(r);
}
END_TEST

START_TEST(test_policy_mode)
{
	struct rules_result r;
	struct rules *p;
	json_t *j;
	struct rule_identity ana = { "ann", g_ana, 1, "shop", "app", NULL };
	/* Database mode (the default): 3-part names and a style, named by line. */
	policy_fails("default allow\nmask column customers.card style redact\n",
	    "p.conf:2: mask column customers.card: mask mode database needs "
	    "SCHEMA.TABLE.COLUMN");
	policy_fails("default allow\nmask column s.t.c detect\nmask detect columns\n",
	    "p.conf:2: mask column s.t.c: mask mode database needs a style");
	policy_fails("default allow\nmask mode database\nmask column t.c style redact\n",
	    "p.conf:3:");
	policy_fails("default allow\nmask mode gateway\nmask mode gateway\n",
	    "duplicate (first on line 2)");
	policy_fails("default allow\nmask mode wire\n", "database or gateway");
	policy_fails("default allow\nmask mode\n", "database or gateway");
	/* Database mode: predicates default allow, "mode" in the JSON. */
	p = policy("default allow\nmask column s.t.c style redact\n", &r);
	ck_assert_int_eq(p->mask_predicates, RULES_ALLOW);
	ck_assert_int_eq(rules_mask_json(p, &ana, &j), 0);
	ck_assert_str_eq(json_string_value(json_object_get(j, "mode")), "database");
	ck_assert_ptr_null(json_object_get(j, "predicates"));
	struct mask_result mr = mask_engine_new(j, NULL, 0);
	ck_assert_msg(mr.error == NULL, "%s", mr.error ? mr.error : "");
	mask_engine_free(mr.engine);
	json_decref(j);
	rules_result_free(r);
	/* Gateway mode, given after the lines it allows: 2 parts and detect
	 * are fine, predicates default deny. */
	p = policy("default allow\nmask column t.c detect\nmask column u.d style redact\n"
	    "mask detect columns\nmask mode gateway\n", &r);
	ck_assert_int_eq(p->mask_predicates, RULES_DENY);
	ck_assert_int_eq(p->mask_pred_rule.line, 5);
	ck_assert_int_eq(rules_mask_json(p, &ana, &j), 0);
	ck_assert_str_eq(json_string_value(json_object_get(j, "mode")), "gateway");
	ck_assert_str_eq(json_string_value(json_object_get(j, "predicates")), "deny");
	json_decref(j);
	rules_result_free(r);
	/* An explicit predicates line still wins in gateway mode. */
	p = policy("default allow\nmask mode gateway\nmask predicates allow\n"
	    "mask column t.c style redact\n", &r);
	ck_assert_int_eq(p->mask_predicates, RULES_ALLOW);
	ck_assert_int_eq(rules_mask_json(p, &ana, &j), 0);
	ck_assert_str_eq(json_string_value(json_object_get(j, "predicates")), "allow");
	json_decref(j);
	rules_result_free(r);
	p = policy("default allow\nmask mode gateway\nmask predicates review approvers leads\n"
	    "mask column t.c style redact\n", &r);
	ck_assert_int_eq(p->mask_predicates, RULES_REVIEW);
	ck_assert_uint_eq(p->mask_pred_rule.approvers.n, 1);
	ck_assert_str_eq(p->mask_pred_rule.approvers.v[0], "leads");
	rules_result_free(r);
	/* The engine refuses a mode it does not know. */
	j = json_loads("{\"mode\":\"wire\",\"columns\":[]}", 0, NULL);
	mr = mask_engine_new(j, NULL, 0);
	ck_assert_ptr_nonnull(mr.error);
	free(mr.error);
	json_decref(j);
}
END_TEST

/* ---- profiles (mask/profile.h) ---- */

static struct mask_profile *
profile_of(const char *rules)
{
	json_t *j = json_loads(rules, 0, NULL);
	ck_assert_ptr_nonnull(j);
	struct mask_profile_result r = mask_profile_new(j);
	json_decref(j);
	ck_assert_msg(r.error == NULL, "%s", r.error ? r.error : "");
	return r.profile;
}

START_TEST(test_profile)
{
	/* printf 'public.customers\tcard_number\tpartial\t4\npublic.customers\temail\temail-domain\t0\n' | sha256sum
	 *   db7975784d6b43b5eacb61a39242da8c8426aabafef521607e2fd2bccb314be9
	 * The order of the rules does not matter; detect entries do not count;
	 * keep defaults to 4. */
	struct mask_profile *p = profile_of("{\"columns\":["
	    "{\"table\":\"public.customers\",\"column\":\"email\",\"style\":\"email-domain\"},"
	    "{\"table\":\"public.customers\",\"column\":\"notes\",\"detect\":true},"
	    "{\"table\":\"public.customers\",\"column\":\"card_number\",\"style\":\"partial\"}],"
	    "\"mode\":\"database\"}");
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->canonical, "public.customers\tcard_number\tpartial\t4\n"
	    "public.customers\temail\temail-domain\t0\n");
	ck_assert_str_eq(p->id, "pdb797578");
	ck_assert_str_eq(p->schema, "pgward_mask_db797578");
	ck_assert_uint_eq(p->ncols, 2);
	ck_assert_str_eq(p->cols[0].column, "card_number");
	char role[MASK_PROFILE_NAMEDATALEN];
	ck_assert_int_eq(mask_profile_role(p, "app", role), 0);
	ck_assert_str_eq(role, "app_m_db797578");
	/* 52 + 11 = 63 bytes fits, 53 + 11 does not. */
	char longname[60];
	memset(longname, 'r', 52);
	longname[52] = '\0';
	ck_assert_int_eq(mask_profile_role(p, longname, role), 0);
	ck_assert_uint_eq(strlen(role), 63);
	longname[52] = 'r';
	longname[53] = '\0';
	ck_assert_int_eq(mask_profile_role(p, longname, role), -1);
	mask_profile_free(p);
	/* printf 'public.customers\tcard_number\tpartial\t2\n' | sha256sum
	 *   f7d22a3be2b15758606debde3f1e70e5e572489f88ad93534a7333a19217b64a
	 * keep is part of the profile; a second entry for a column is ignored. */
	p = profile_of("{\"columns\":["
	    "{\"table\":\"public.customers\",\"column\":\"card_number\",\"style\":\"partial\",\"keep\":2},"
	    "{\"table\":\"public.customers\",\"column\":\"card_number\",\"style\":\"redact\"}]}");
	ck_assert_str_eq(p->id, "pf7d22a3b");
	mask_profile_free(p);
	/* printf 'public.a\tz\tredact\t0\npublic.a_b\tc\ttoken\t0\n' | sha256sum
	 *   a41638b1ecaf613648da1c48770121af53fd238b87ed659a9f08447e8c6dec08
	 * Sorted bytewise on "table\tcolumn": the tab sorts before '_'. */
	p = profile_of("{\"columns\":["
	    "{\"table\":\"public.a_b\",\"column\":\"c\",\"style\":\"token\"},"
	    "{\"table\":\"public.a\",\"column\":\"z\",\"style\":\"redact\"}]}");
	ck_assert_str_eq(p->id, "pa41638b1");
	mask_profile_free(p);
	/* Nothing with a style: no profile. */
	ck_assert_ptr_null(profile_of("{\"columns\":[{\"table\":\"s.t\",\"column\":\"c\","
	    "\"detect\":true}],\"patterns\":[{\"column\":\"*x*\",\"style\":\"redact\"}]}"));
	ck_assert_ptr_null(profile_of("{}"));
	json_t *j = json_loads("{\"columns\":[{\"table\":\"s.t\",\"column\":\"c\","
	    "\"style\":\"blur\"}]}", 0, NULL);
	struct mask_profile_result r = mask_profile_new(j);
	ck_assert_ptr_nonnull(r.error);
	mask_profile_result_free(r);
	json_decref(j);
}
END_TEST

/* ---- the key file (mask_key_read) ---- */

static char key_dir[64];

static char *
key_file(const char *name, const void *data, size_t n, mode_t mode)
{
	static char path[128];
	snprintf(path, sizeof path, "%s/%s", key_dir, name);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static void
key_fails(const char *path, const char *want)
{
	struct mask_key_result k = mask_key_read(path);
	ck_assert_msg(k.error != NULL && strstr(k.error, want) != NULL,
	    "error \"%s\" lacks \"%s\"", k.error ? k.error : "(none)", want);
	ck_assert_ptr_null(k.key);
	mask_key_result_free(k);
}

START_TEST(test_key_read)
{
	snprintf(key_dir, sizeof key_dir, "/tmp/test_mask_key.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(key_dir));
	char k32[33], big[MASK_KEY_MAX + 2];
	memset(k32, 'k', 32);
	k32[32] = '\n';
	memset(big, 'b', sizeof big);
	/* The same bytes with or without one line end. */
	const char *variants[] = { "", "\n", "\r\n" };
	for (int v = 0; v < 3; v++) {
		char buf[40];
		memcpy(buf, k32, 32);
		memcpy(buf + 32, variants[v], strlen(variants[v]));
		struct mask_key_result k = mask_key_read(key_file("k", buf,
		    32 + strlen(variants[v]), 0600));
		ck_assert_msg(k.error == NULL, "%s", k.error ? k.error : "");
		ck_assert_uint_eq(k.len, 32);
		ck_assert_int_eq(memcmp(k.key, k32, 32), 0);
		mask_key_result_free(k);
	}
	/* Only one line end goes: a second newline is key. */
	char two[34];
	memcpy(two, k32, 32);
	two[32] = '\n';
	two[33] = '\n';
	struct mask_key_result k = mask_key_read(key_file("k", two, 34, 0400));
	ck_assert_msg(k.error == NULL, "%s", k.error ? k.error : "");
	ck_assert_uint_eq(k.len, 33);
	mask_key_result_free(k);
	/* Bytes are bytes: NUL and high bytes are key. */
	char bin[32];
	for (int i = 0; i < 32; i++)
		bin[i] = (char)(i * 8);
	k = mask_key_read(key_file("k", bin, 32, 0600));
	ck_assert_ptr_null(k.error);
	ck_assert_int_eq(memcmp(k.key, bin, 32), 0);
	mask_key_result_free(k);
	/* The longest key, with its newline. */
	big[MASK_KEY_MAX] = '\n';
	k = mask_key_read(key_file("k", big, MASK_KEY_MAX + 1, 0600));
	ck_assert_ptr_null(k.error);
	ck_assert_uint_eq(k.len, MASK_KEY_MAX);
	mask_key_result_free(k);
	big[MASK_KEY_MAX] = 'b';
	key_fails(key_file("k", big, MASK_KEY_MAX + 1, 0600), "too long");
	key_fails(key_file("k", big, MASK_KEY_MAX + 2, 0600), "too long");
	key_fails(key_file("k", k32, 31, 0600), "too short");
	key_fails(key_file("k", k32 + 1, 32, 0600) /* 31 bytes, newline */, "too short");
	key_fails(key_file("k", "", 0, 0600), "too short");
	key_fails(key_file("k", k32, 32, 0640), "too open");
	key_fails(key_file("k", k32, 32, 0604), "too open");
	key_fails("/nonexistent/mask.key", "No such file");
	key_fails(key_dir, "not a regular file");
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", key_dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- provisioning SQL (mask/provision.h) ---- */

START_TEST(test_provision_sql)
{
	struct rules_result r;
	struct rules *p = policy("default allow\n"
	    "mask column public.customers.card_number style partial keep 4 exempt pci\n"
	    "mask column public.customers.email style email-domain exempt pci\n"
	    "mask column public.customers.name style token groups ana*\n"
	    "mask column public.orders.note style null groups support\n", &r);
	struct mask_profiles_result ps = mask_profiles_enumerate(&p->mask);
	ck_assert_msg(ps.error == NULL, "%s", ps.error ? ps.error : "");
	/* Patterns pci, ana*, support: 8 assignments; pci alone (and with
	 * nothing else) masks nothing, so the distinct non-empty sets are
	 * {card,email} {card,email,name} {card,email,note} {all four} {name}
	 * {note} {name,note}. */
	ck_assert_uint_eq(ps.n, 7);
	ck_assert_str_eq(ps.v[0].lines, "2, 3");
	ck_assert_str_eq(ps.v[0].profile->id, "pdb797578");
	ck_assert_ptr_nonnull(strstr(ps.v[0].who, "none matching pci, ana*, support"));
	const char *roles[] = { "app_read", "o'neil" };
	struct mask_sql_result sr = mask_provision_sql(&ps, roles, 2, NULL, 0, "p.conf");
	ck_assert_ptr_nonnull(sr.error);	/* token needs the key */
	ck_assert_ptr_nonnull(strstr(sr.error, "--key"));
	mask_sql_result_free(sr);
	sr = mask_provision_sql(&ps, roles, 2, KEY, 32, "p.conf");
	ck_assert_msg(sr.error == NULL, "%s", sr.error ? sr.error : "");
	const char *want[] = { "BEGIN;\n", "SET LOCAL search_path = pg_catalog, pg_temp;",
		"CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA pgward_mask;",
		"SET LOCAL log_statement = 'none';",
		/* the key as hex */
		"pg_catalog.decode('3031323334353637383961626364656630313233343536373839616263646566', 'hex')",
		"SECURITY DEFINER", "REVOKE ALL ON FUNCTION pgward_mask.token(text) FROM PUBLIC;",
		"CREATE SCHEMA IF NOT EXISTS \"pgward_mask_db797578\";",
		"-- view pgward_mask_db797578.customers of public.customers",
		"WITH (security_barrier)", "'app_read_m_db797578'",
		/* a quote in a role name is doubled in its literal */
		"'o''neil_m_db797578'", "NOINHERIT", "DROP OWNED BY",
		"'NULL::' || pg_catalog.format_type(a.atttypid, a.atttypmod)",
		"GRANT EXECUTE ON FUNCTION pgward_mask.token(text) TO %I", "COMMIT;\n", NULL };
	for (int i = 0; want[i] != NULL; i++)
		ck_assert_msg(strstr(sr.sql, want[i]) != NULL, "missing: %s", want[i]);
	/* No TRIGGER, no CREATE on schemas, ever. */
	ck_assert_ptr_null(strstr(sr.sql, "'TRIGGER'"));
	ck_assert_ptr_null(strstr(sr.sql, "GRANT CREATE"));
	/* The DO bodies close: as many openings as closings. */
	size_t open = 0, close = 0;
	for (const char *q = sr.sql; (q = strstr(q, "DO $pgward$\n")) != NULL; q++)
		open++;
	for (const char *q = sr.sql; (q = strstr(q, "\n$pgward$;\n")) != NULL; q++)
		close++;
	ck_assert_uint_eq(open, close);
	ck_assert_uint_gt(open, 7 * 2);
	mask_sql_result_free(sr);
	/* A role whose twin's name would pass 63 bytes. */
	const char *longrole[] = { "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr" };
	sr = mask_provision_sql(&ps, longrole, 1, KEY, 32, "p.conf");
	ck_assert_ptr_nonnull(sr.error);
	ck_assert_ptr_nonnull(strstr(sr.error, "63 bytes"));
	mask_sql_result_free(sr);
	/* The check query: one statement naming the role and the schema. */
	sr = mask_check_sql(ps.v[0].profile, "app_read_m_db797578");
	ck_assert_ptr_null(sr.error);
	ck_assert_ptr_nonnull(strstr(sr.sql, "WITH RECURSIVE"));
	ck_assert_ptr_nonnull(strstr(sr.sql, "'app_read_m_db797578'"));
	ck_assert_ptr_nonnull(strstr(sr.sql, "readable by role"));
	ck_assert_ptr_nonnull(strstr(sr.sql, "'pgward_mask_db797578'"));
	ck_assert_ptr_null(strchr(sr.sql, ';'));
	mask_sql_result_free(sr);
	mask_profiles_result_free(ps);
	rules_result_free(r);
	/* Seventeen patterns: asked to simplify. */
	char text[4096] = "default allow\n";
	for (int i = 0; i < 17; i++)
		snprintf(text + strlen(text), sizeof text - strlen(text),
		    "mask column s.t.c%d style redact groups g%d\n", i, i);
	p = policy(text, &r);
	ps = mask_profiles_enumerate(&p->mask);
	ck_assert_ptr_nonnull(ps.error);
	ck_assert_ptr_nonnull(strstr(ps.error, "simplify"));
	mask_profiles_result_free(ps);
	rules_result_free(r);
}
END_TEST

START_TEST(test_masked_predicate)
{
	struct rules_result r;
	struct rules *p = policy(POLICY, &r);
	struct rule_identity ana = { "ann", g_ana, 1, "shop", "app", NULL };
	struct rule_identity pci = { "pia", g_pci, 2, "shop", "app", NULL };
	json_t *facts = json_loads("[{\"kind\":\"select\",\"tables_read\":"
	    "[\"customers\"]}]", 0, NULL);
	json_t *other = json_loads("[{\"kind\":\"select\",\"tables_read\":"
	    "[\"orders\"]}]", 0, NULL);
	ck_assert_int_eq(maskpred_check(p, &ana, "select card_number from customers", facts), 0);
	ck_assert_int_eq(maskpred_check(p, &ana, "select c.card_number as x from customers c", facts), 0);
	ck_assert_int_eq(maskpred_check(p, &ana,
	    "select id from customers where card_number like '4%'", facts), 1);
	ck_assert_int_eq(maskpred_check(p, &ana,
	    "select id from customers c order by c.card_number", facts), 1);
	ck_assert_int_eq(maskpred_check(p, &ana,
	    "select card_number from customers order by 1", facts), 1);
	ck_assert_int_eq(maskpred_check(p, &ana,
	    "select left(card_number, 1) from customers", facts), 1);
	ck_assert_int_eq(maskpred_check(p, &ana,
	    "select count(*) from customers group by email", facts), 1);
	ck_assert_int_eq(maskpred_check(p, &ana,
	    "select 1 from orders o join customers c on c.email = o.email", facts), 1);
	ck_assert_int_eq(maskpred_check(p, &ana,
	    "select 1 from t where my_ssn = '1'", other), 1);	/* pattern */
	/* pci-auditor: card_number not masked, email still is. */
	ck_assert_int_eq(maskpred_check(p, &pci,
	    "select id from customers where card_number like '4%'", facts), 0);
	ck_assert_int_eq(maskpred_check(p, &pci,
	    "select id from customers where email like 'a%'", facts), 1);
	/* Another table with a column of the same name. */
	ck_assert_int_eq(maskpred_check(p, &ana,
	    "select id from orders where card_number = '1'", other), 0);
	ck_assert_int_eq(maskpred_check(p, &ana, "select from where", facts), -1);
	json_decref(facts);
	json_decref(other);
	rules_result_free(r);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("mask");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_luhn);
	tcase_add_test(tc, test_iban);
	tcase_add_test(tc, test_ssn);
	tcase_add_test(tc, test_email);
	tcase_add_test(tc, test_regex);
	tcase_add_test(tc, test_styles);
	tcase_add_test(tc, test_token);
	tcase_add_test(tc, test_rules_errors);
	tcase_add_test(tc, test_column_action);
	tcase_add_test(tc, test_buf_api);
	tcase_add_test(tc, test_speed);
	tcase_add_test(tc, test_policy_lines);
	tcase_add_test(tc, test_policy_narrowing);
	tcase_add_test(tc, test_masked_predicate);
	tcase_add_test(tc, test_policy_mode);
	tcase_add_test(tc, test_profile);
	tcase_add_test(tc, test_key_read);
	tcase_add_test(tc, test_provision_sql);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
