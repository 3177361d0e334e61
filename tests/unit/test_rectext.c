/* rectext: what pgward-logd stores as sent must be exactly what the
 * general path (jansson tree, then auditrec_build) would have accepted,
 * and for jansson's own compact output the very same bytes. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditrec.h"
#include "rectext.h"

static const char ts1[] = "2026-11-27T14:55:04.123456Z";
static const uint8_t zero[32];

static int
ok(const char *s)
{
	return rectext_payload_ok(s, strlen(s));
}

/* The general path: jansson loads the payload as logd does and
 * auditrec_build makes the line. Returns it (malloc'd) or NULL. */
static char *
general_line(const char *s, size_t n)
{
	json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES, NULL);
	if (j == NULL)
		return NULL;
	size_t len;
	char *line = auditrec_build(1, ts1, zero, j, &len, NULL, NULL, 0);
	json_decref(j);
	return line;
}

/* What storing as sent makes of it: the same line as the general path,
 * and one that readers accept. */
static void
assert_same_as_general(const char *s, size_t n)
{
	size_t len;
	char err[128] = "";
	char *fast = auditrec_build_text(1, ts1, zero, s, n, &len, NULL, err, sizeof err);
	ck_assert_msg(fast != NULL, "%s: %.*s", err, (int)n, s);
	char *general = general_line(s, n);
	ck_assert_msg(general != NULL, "refused in general: %.*s", (int)n, s);
	ck_assert_str_eq(fast, general);
	struct auditrec r;
	ck_assert_msg(auditrec_parse(fast, len - 1, &r, err, sizeof err) == 0, "%s: %s",
	    err, fast);
	json_decref(r.json);
	free(fast);
	free(general);
}

static const char *const relay_shaped[] = {
	"{\"type\":\"intent\",\"session\":\"5c0e9a01\",\"user\":\"alice\","
	"\"groups\":[\"dba\",\"oncall\"],\"connection\":\"shop\",\"role\":\"app\","
	"\"n\":17,\"protocol\":\"simple\",\"decision\":\"allow\","
	"\"sql\":\"SELECT abalance FROM pgbench_accounts WHERE aid = 4711;\"}",
	"{\"type\":\"result\",\"session\":\"5c0e9a01\",\"user\":\"alice\",\"n\":17,"
	"\"intent\":123456789012,\"status\":\"ok\",\"duration_ms\":0.12300000000000001,"
	"\"tags\":[\"SELECT 1\"],\"rows\":1}",
	"{\"type\":\"intent\",\"sql\":\"select '\\u00E9\\uD83D\\uDE00\\u001B' \\\"q\\\"\\\\\\n\\t\","
	"\"params\":[null,{\"redacted\":true,\"bytes\":4},{\"base64\":\"AAE=\"},-5,0,true,false],"
	"\"nested\":{\"type\":\"\",\"seq\":1}}",
	"{\"type\":\"intent\",\"session\":\"5c0e9a01\",\"user\":\"bob\","
	"\"principal\":\"person\",\"actor\":[{\"sub\":\"ci-bot\",\"client_id\":\"pgward-ci\"},"
	"{\"sub\":\"deploy-svc\"}],\"client_id\":\"pgward-ci\",\"groups\":[],"
	"\"connection\":\"shop\",\"role\":\"app\",\"n\":1,\"protocol\":\"simple\","
	"\"decision\":\"allow\",\"sql\":\"select 1\"}",
	"{\"type\":\"session_end\",\"session\":\"5c0e9a01\",\"user\":\"svc\","
	"\"principal\":\"agent\",\"actor\":[],\"reason\":\"client closed\",\"statements\":3}",
	"{\"type\":\"x\",\"a\":{},\"b\":[],\"c\":-0.5,\"d\":\"/\\b\\f\\r\",\"e\":\"~\x7f\","
	"\"f\":1.0,\"g\":-0.0,\"h\":-12,\"i\":0}",
};

START_TEST(relay_shaped_records_accepted_and_identical)
{
	for (size_t i = 0; i < sizeof relay_shaped / sizeof relay_shaped[0]; i++) {
		const char *s = relay_shaped[i];
		ck_assert_msg(ok(s), "refused: %s", s);
		assert_same_as_general(s, strlen(s));
		/* The samples are jansson's own layout. */
		json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
		char *dumped = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
		ck_assert_str_eq(dumped, s);
		free(dumped);
		json_decref(j);
	}
}
END_TEST

START_TEST(outside_the_subset_goes_the_general_way)
{
	static const char *const refused[] = {
		"", "{}", "[]", "\"type\"", "{\"type\":\"x\"} ", " {\"type\":\"x\"}",
		"{\"type\": \"x\"}", "{\"type\":\"x\" ,\"a\":1}",
		"{\"a\":1}", "{\"type\":\"\"}", "{\"type\":1}", "{\"type\":null}",
		"{\"type\":\"x\",\"seq\":1}", "{\"type\":\"x\",\"ts\":\"t\"}",
		"{\"type\":\"x\",\"prev\":\"p\"}", "{\"hash\":\"h\",\"type\":\"x\"}",
		"{\"type\":\"x\",\"type\":\"y\"}", "{\"type\":\"x\",\"a\":{\"b\":1,\"b\":2}}",
		"{\"type\":\"x\",\"\\u0061\":1}", "{\"type\":\"x\",\"a\\n\":1}",
		"{\"type\":\"x\",\"a\":\"\\u0000\"}", "{\"type\":\"x\",\"a\":\"\\ud800\"}",
		"{\"type\":\"x\",\"a\":\"\\udc00\"}", "{\"type\":\"x\",\"a\":\"\\ud800\\u0041\"}",
		"{\"type\":\"x\",\"a\":\"\\u12\"}", "{\"type\":\"x\",\"a\":\"\\x41\"}",
		"{\"type\":\"x\",\"a\":\"\xc3\xa9\"}", "{\"type\":\"x\",\"a\":\"\t\"}",
		"{\"type\":\"x\",\"a\":1e5}", "{\"type\":\"x\",\"a\":1.5E-3}",
		"{\"type\":\"x\",\"a\":01}", "{\"type\":\"x\",\"a\":1.}", "{\"type\":\"x\",\"a\":.5}",
		"{\"type\":\"x\",\"a\":-}", "{\"type\":\"x\",\"a\":+1}",
		"{\"type\":\"x\",\"a\":1234567890123456789}",
		"{\"type\":\"x\",\"a\":tru}", "{\"type\":\"x\",\"a\":nul}",
		"{\"type\":\"x\",\"a\":[1,]}", "{\"type\":\"x\",\"a\":{,}}", "{\"type\":\"x\",}",
		"{\"type\":\"x\",\"a\":1", "{\"type\":\"x\"}}", "{\"type\":\"x\"}{}",
		"{\"type\":\"x\",\"a\":\"unterminated}",
		/* valid JSON, but not the one layout */
		"{\"type\":\"x\",\"a\":\"\\/\"}", "{\"type\":\"x\",\"a\":\"\\u00e9\"}",
		"{\"type\":\"x\",\"a\":\"\\u0041\"}", "{\"type\":\"x\",\"a\":\"\\u000A\"}",
		"{\"type\":\"x\",\"a\":\"\\u007F\"}", "{\"type\":\"x\",\"a\":-0}",
		"{\"type\":\"x\",\"a\":0.1}", "{\"type\":\"x\",\"a\":1.50}",
		"{\"type\":\"x\",\"a\":\"\\uD83D\\ude00\"}",
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		ck_assert_msg(!ok(refused[i]), "accepted: %s", refused[i]);
	/* The integer bound: 18 digits are in, signed or not. */
	ck_assert(ok("{\"type\":\"x\",\"a\":-999999999999999999}"));
	ck_assert(ok("{\"type\":\"x\",\"a\":999999999999999999}"));
}
END_TEST

START_TEST(depth_and_width_are_bounded)
{
	char buf[4096];
	int n = snprintf(buf, sizeof buf, "{\"type\":\"x\",\"a\":");
	for (int d = 0; d < RECTEXT_MAX_DEPTH; d++)
		n += snprintf(buf + n, sizeof buf - (size_t)n, "[");
	for (int d = 0; d < RECTEXT_MAX_DEPTH; d++)
		n += snprintf(buf + n, sizeof buf - (size_t)n, "]");
	snprintf(buf + n, sizeof buf - (size_t)n, "}");
	ck_assert_msg(!ok(buf), "too deep accepted");
	char *line = general_line(buf, strlen(buf));
	ck_assert_ptr_nonnull(line);
	free(line);

	n = snprintf(buf, sizeof buf, "{\"type\":\"x\"");
	for (int k = 1; k < RECTEXT_MAX_KEYS; k++)
		n += snprintf(buf + n, sizeof buf - (size_t)n, ",\"k%d\":%d", k, k);
	snprintf(buf + n, sizeof buf - (size_t)n, "}");
	ck_assert_msg(ok(buf), "%d members refused", RECTEXT_MAX_KEYS);
	buf[strlen(buf) - 1] = '\0';
	strcat(buf, ",\"one_more\":0}");
	ck_assert_msg(!ok(buf), "too wide accepted");
}
END_TEST

/* Random edits of the samples: whatever rectext accepts, the general
 * path stores as the very same line, so storing it as sent never lets in
 * what logd would otherwise refuse or write differently. */
START_TEST(mutations_never_accepted_beyond_the_general_path)
{
	static const char alphabet[] = "{}[]\":,\\/ubfnrt0123456789ABCDEF.-eE+ xyz\x01\x7f\xc3";
	unsigned seed = 12345;
	int accepted = 0;
	for (int round = 0; round < 40000; round++) {
		const char *src = relay_shaped[round % (int)(sizeof relay_shaped / sizeof relay_shaped[0])];
		size_t n = strlen(src);
		char buf[1024];
		memcpy(buf, src, n);
		int edits = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 3;
		for (int e = 0; e < edits; e++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % n;
			char c = alphabet[(seed >> 20) % (sizeof alphabet - 1)];
			switch ((seed >> 4) % 3) {
			case 0:
				buf[at] = c;
				break;
			case 1:
				if (n + 1 < sizeof buf) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = c;
					n++;
				}
				break;
			default:
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
				break;
			}
		}
		if (rectext_payload_ok(buf, n)) {
			accepted++;
			assert_same_as_general(buf, n);
		}
	}
	/* The edits must also have produced accepted variants to compare. */
	ck_assert_int_gt(accepted, 1000);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("rectext");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, relay_shaped_records_accepted_and_identical);
	tcase_add_test(tc, outside_the_subset_goes_the_general_way);
	tcase_add_test(tc, depth_and_width_are_bounded);
	tcase_add_test(tc, mutations_never_accepted_beyond_the_general_path);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
