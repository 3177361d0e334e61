#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filter/rules.h"

static struct rules_result
parse(const char *text)
{
	return rules_parse(text, "t.conf", 300);
}

/* Parses text, which must fail with a message starting with want. */
static void
parse_fails(const char *text, const char *want)
{
	struct rules_result r = parse(text);
	ck_assert_msg(r.error != NULL, "accepted: %s", text);
	ck_assert_msg(strncmp(r.error, want, strlen(want)) == 0,
	    "error \"%s\" does not start with \"%s\"", r.error, want);
	rules_result_free(r);
}

static json_t *
fact(const char *j)
{
	json_error_t je;
	json_t *f = json_loads(j, 0, &je);
	ck_assert_msg(f != NULL, "bad fact JSON %s: %s", j, je.text);
	return f;
}

static const char *eng[] = { "engineers" };
static const char *ana[] = { "analysts", "x" };
static const struct rule_identity bob = { "bob", eng, 1, "shop", "app_write", NULL };
static const struct rule_identity carol = { "carol", ana, 2, "shop", "app_read", NULL };

/* The decision for one fact, as "action rule". */
static const char *
decide1(const struct rules *p, const struct rule_identity *id, const char *fj)
{
	static char buf[256];
	json_t *f = fact(fj);
	struct rule_decision d = rules_decide_fact(p, id, f);
	snprintf(buf, sizeof buf, "%s %s", rules_action_name(d.action), d.rule);
	json_decref(f);
	return buf;
}

START_TEST(parse_example)
{
	char path[512];
	snprintf(path, sizeof path, "%s/docs/examples/policy.conf",
	    getenv("PGWARD_SRC") ? getenv("PGWARD_SRC") : ".");
	struct rules_result r = rules_load(path, 300);
	ck_assert_msg(r.error == NULL, "%s", r.error);
	ck_assert_int_eq(r.policy->nrules, 5);
	ck_assert_int_eq(r.policy->nconnects, 3);
	ck_assert_int_eq(r.policy->naccess, 1);
	ck_assert_int_eq(r.policy->default_action, RULES_DENY);
	const struct rule *w = &r.policy->rules[4];
	ck_assert_str_eq(w->name, "writes-by-engineers");
	ck_assert_int_eq(w->tables.n, 4);
	ck_assert_str_eq(w->tables.v[3], "customers");
	const struct rule *rv = &r.policy->rules[1];
	ck_assert_int_eq(rv->action, RULES_REVIEW);
	ck_assert_int_eq(rv->timeout_s, 300);
	ck_assert_str_eq(rv->approvers.v[0], "dba-leads");
	ck_assert_str_eq(r.policy->rules[0].message, "UPDATE/DELETE need a WHERE clause");
	ck_assert_int_eq(r.policy->access[0].max_duration_s, 3600);
	rules_result_free(r);
}
END_TEST

START_TEST(parse_errors_name_line)
{
	parse_fails("rule a\n  action allow\n", "t.conf: missing \"default");
	parse_fails("default maybe\n", "t.conf:1: expected \"default allow\"");
	parse_fails("default deny\ndefault allow\n", "t.conf:2: duplicate \"default\"");
	parse_fails("default deny\n\nkind select\n", "t.conf:3: \"kind\" outside a rule");
	parse_fails("default deny\nfrobnicate x\n", "t.conf:2: unknown keyword");
	parse_fails("default deny\nrule a\n kind selekt\n action allow\n",
	    "t.conf:3: kind: unknown value \"selekt\"");
	parse_fails("default deny\nrule a\n via nowhere\n action allow\n",
	    "t.conf:3: via: unknown value");
	parse_fails("default deny\nrule a\n kind select\n", "t.conf:2: rule a has no action");
	parse_fails("default deny\nrule a\n action review\n",
	    "t.conf:2: rule a: action review needs approvers");
	parse_fails("default deny\nrule a\n action allow\n approvers x\n",
	    "t.conf:2: rule a: approvers, approvals and timeout-s belong");
	parse_fails("default deny\nrule a\n action allow\nrule a\n action deny\n",
	    "t.conf:4: duplicate rule name \"a\" (first on line 2)");
	parse_fails("default deny\nrule a\n action allow\n action deny\n",
	    "t.conf:4: duplicate \"action\"");
	parse_fails("default deny\nrule a\n where sometimes\n action deny\n",
	    "t.conf:3: where: \"sometimes\"");
	parse_fails("default deny\nrule a\n opaque maybe\n action deny\n",
	    "t.conf:3: opaque: expected yes or no");
	parse_fails("default deny\nrule a\n action review\n approvers x\n approvals 0\n",
	    "t.conf:5: approvals: \"0\" is not a number");
	parse_fails("default deny\nrule a\n action deny\n message \"open\n",
	    "t.conf:4: unterminated quoted string");
	parse_fails("default deny\nrule a\n action permit\n", "t.conf:3: action: \"permit\"");
	parse_fails("default deny\nrule default\n action deny\n", "t.conf:2: rule name \"default\"");
	parse_fails("default deny\nrule builtin:x\n action deny\n", "t.conf:2: rule name");
	parse_fails("default deny\nconnect shop\n", "t.conf:2: expected \"connect");
	parse_fails("default deny\nconnect shop r roles x\n", "t.conf:2: connect: expected groups");
	parse_fails("default deny\naccess shop r requestable-by a approvers b\n",
	    "t.conf:2: access: max-duration-s is required");
	parse_fails("default deny\naccess shop r requestable-by a approvers b* max-duration-s 5\n",
	    "t.conf:2: access: approvers: name groups exactly");
	parse_fails("default deny\nrule a\n groups\n action deny\n", "t.conf:3: groups: missing value");
	parse_fails("default deny\nrule a\n groups ,\n action deny\n", "t.conf:3: groups: empty list");
	struct rules_result r = rules_load("/nonexistent/policy.conf", 300);
	ck_assert_ptr_nonnull(r.error);
	ck_assert(strstr(r.error, "/nonexistent/policy.conf") != NULL);
	rules_result_free(r);
}
END_TEST

START_TEST(parse_syntax_details)
{
	struct rules_result r = parse(
	    "# comment\n"
	    "default allow   # trailing\n"
	    "rule a\n"
	    "  groups x, y ,z\n"
	    "  tables \"Odd Name\", b # c\n"
	    "  kind sel*\n"
	    "  action deny\n"
	    "  message \"say \\\"no\\\" # not a comment\"\n"
	    "connect db r groups g1 users u1,u2\n");
	ck_assert_msg(r.error == NULL, "%s", r.error);
	const struct rule *a = &r.policy->rules[0];
	ck_assert_int_eq(a->groups.n, 3);
	ck_assert_str_eq(a->groups.v[2], "z");
	ck_assert_int_eq(a->tables.n, 2);
	ck_assert_str_eq(a->tables.v[0], "Odd Name");
	ck_assert_str_eq(a->message, "say \"no\" # not a comment");
	ck_assert_int_eq(r.policy->default_action, RULES_ALLOW);
	ck_assert_int_eq(r.policy->connects[0].users.n, 2);
	ck_assert_int_eq(r.policy->connects[0].line, 9);
	rules_result_free(r);
}
END_TEST

START_TEST(match_each_condition)
{
	struct rules_result r = parse(
	    "default deny\n"
	    "rule g\n groups eng*\n kind insert\n action allow\n"
	    "rule u\n users carol\n kind insert\n action review\n approvers leads\n"
	    "rule c\n connections other\n action allow\n"
	    "rule ro\n roles app_read\n kind update\n action allow\n"
	    "rule v\n via cte\n action deny\n"
	    "rule rd\n reads secret*\n action deny\n"
	    "rule wr\n writes audit.*\n action deny\n"
	    "rule fn\n functions pg_sleep,dblink*\n action deny\n"
	    "rule wh\n kind delete\n where trivial\n action deny\n"
	    "rule ea\n explain-analyze yes\n action review\n approvers leads\n"
	    "rule st\n settings search_path\n action deny\n"
	    "rule tb\n tables orders\n kind select\n action allow\n");
	ck_assert_msg(r.error == NULL, "%s", r.error);
	const struct rules *p = r.policy;
	ck_assert_str_eq(decide1(p, &bob, "{\"kind\":\"insert\"}"), "allow g");
	ck_assert_str_eq(decide1(p, &carol, "{\"kind\":\"insert\"}"), "review u");
	ck_assert_str_eq(decide1(p, &bob, "{\"kind\":\"update\"}"), "deny default");
	ck_assert_str_eq(decide1(p, &carol, "{\"kind\":\"update\"}"), "allow ro");
	struct rule_identity other = bob;
	other.connection = "other";
	ck_assert_str_eq(decide1(p, &other, "{\"kind\":\"update\"}"), "allow c");
	ck_assert_str_eq(decide1(p, &bob, "{\"kind\":\"select\",\"via\":\"cte\"}"), "deny v");
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"select\",\"tables_read\":[\"secrets\"]}"), "deny rd");
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"select\",\"tables_written\":[\"secrets\"]}"), "deny default");
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"select\",\"tables_written\":[\"audit.log\"]}"), "deny wr");
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"select\",\"functions\":[\"dblink_exec\"]}"), "deny fn");
	/* a bare pattern matches the name in any schema */
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"select\",\"functions\":[\"pg_catalog.pg_sleep\"]}"), "deny fn");
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"delete\",\"where\":\"trivial\"}"), "deny wh");
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"delete\",\"where\":\"present\"}"), "deny default");
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"select\",\"explain_analyze\":true}"), "review ea");
	/* setting names are case-insensitive */
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"set\",\"settings\":[\"Search_Path\"]}"), "deny st");
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"select\",\"tables_read\":[\"public.orders\"]}"), "allow tb");
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"select\",\"tables_read\":[\"orders_old\"]}"), "deny default");
	rules_result_free(r);
}
END_TEST

START_TEST(match_globs_and_first_match)
{
	struct rules_result r = parse(
	    "default allow\n"
	    "rule first\n tables shop.*\n action review\n approvers leads\n"
	    "rule second\n tables shop.orders\n action deny\n"
	    "rule q\n tables public.c?rds, [xy]*\n action deny\n");
	ck_assert_msg(r.error == NULL, "%s", r.error);
	const struct rules *p = r.policy;
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"select\",\"tables_read\":[\"shop.orders\"]}"), "review first");
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"select\",\"tables_read\":[\"public.cards\"]}"), "deny q");
	/* a pattern with a schema does not match the bare name */
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"select\",\"tables_read\":[\"cards\"]}"), "allow default");
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"select\",\"tables_read\":[\"yak\"]}"), "deny q");
	rules_result_free(r);
}
END_TEST

START_TEST(opaque_facts)
{
	struct rules_result r = parse(
	    "default allow\n"
	    "rule all-do\n kind do\n action allow\n"
	    "rule ops\n groups ops\n action allow\n"
	    "rule opq\n opaque yes\n action deny\n");
	ck_assert_msg(r.error == NULL, "%s", r.error);
	const struct rules *p = r.policy;
	/* a rule about contents cannot allow what cannot be seen */
	ck_assert_str_eq(decide1(p, &bob, "{\"kind\":\"do\",\"opaque\":true}"), "deny opq");
	ck_assert_str_eq(decide1(p, &bob, "{\"kind\":\"do\",\"opaque\":false}"), "allow all-do");
	const char *g[] = { "ops" };
	struct rule_identity op = { "o", g, 1, "shop", "r", NULL };
	ck_assert_str_eq(decide1(p, &op, "{\"kind\":\"do\",\"opaque\":true}"), "allow ops");
	rules_result_free(r);
}
END_TEST

START_TEST(builtin_identity_stamp)
{
	struct rules_result r = parse(
	    "default allow\n"
	    "rule anything\n action allow\n"
	    "rule sets\n settings pgward.*\n action allow\n");
	ck_assert_msg(r.error == NULL, "%s", r.error);
	const struct rules *p = r.policy;
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"set\",\"settings\":[\"pgward.user\"]}"), "deny builtin:identity-stamp");
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"reset\",\"settings\":[\"PGWARD.Session\"]}"), "deny builtin:identity-stamp");
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"select\",\"via\":\"top\",\"settings\":[\"pgward.user\"],"
	    "\"functions\":[\"set_config\"]}"), "deny builtin:identity-stamp");
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"reset\",\"settings\":[]}"), "allow anything");
	ck_assert_str_eq(decide1(p, &bob,
	    "{\"kind\":\"set\",\"settings\":[\"pgwardx\"]}"), "allow anything");
	rules_result_free(r);
}
END_TEST

START_TEST(most_restrictive_across_statements)
{
	struct rules_result r = parse(
	    "default allow\n"
	    "rule rv\n kind ddl\n action review\n approvers leads\n"
	    "rule dn\n kind delete\n action deny\n");
	ck_assert_msg(r.error == NULL, "%s", r.error);
	json_t *facts = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}]", "kind", "select",
	    "kind", "ddl", "kind", "delete", "kind", "ddl");
	struct rule_decision d = rules_decide(r.policy, &bob, facts);
	ck_assert_int_eq(d.action, RULES_DENY);
	ck_assert_str_eq(d.rule, "dn");
	ck_assert_int_eq(d.index, 2);
	json_array_remove(facts, 2);
	d = rules_decide(r.policy, &bob, facts);
	ck_assert_int_eq(d.action, RULES_REVIEW);
	ck_assert_int_eq(d.index, 1);
	ck_assert_ptr_eq(d.matched, &r.policy->rules[0]);
	json_array_clear(facts);
	d = rules_decide(r.policy, &bob, facts);
	ck_assert_int_eq(d.action, RULES_ALLOW);
	ck_assert_str_eq(d.rule, RULES_RULE_EMPTY);
	json_decref(facts);
	rules_result_free(r);
}
END_TEST

START_TEST(connect_and_access_lines)
{
	struct rules_result r = parse(
	    "default deny\n"
	    "connect shop app_read groups analysts,engineers\n"
	    "connect * app_admin users alice\n"
	    "access shop app_write requestable-by analysts approvers leads approvals 2 max-duration-s 60\n");
	ck_assert_msg(r.error == NULL, "%s", r.error);
	const struct rules *p = r.policy;
	ck_assert_ptr_nonnull(rules_connect_find(p, &carol));
	ck_assert_ptr_null(rules_connect_find(p, &bob));	/* app_write */
	const struct rule_identity alice = { "alice", NULL, 0, "any", "app_admin", NULL };
	ck_assert_int_eq(rules_connect_find(p, &alice)->line, 3);
	const struct rule_access *a = rules_access_find(p, &carol, "shop", "app_write");
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->approvals, 2);
	ck_assert_ptr_null(rules_access_find(p, &bob, "shop", "app_write"));
	ck_assert_ptr_null(rules_access_find(p, &carol, "shop", "app_admin"));
	rules_result_free(r);
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *t = tcase_create("policy");
	tcase_add_test(t, parse_example);
	tcase_add_test(t, parse_errors_name_line);
	tcase_add_test(t, parse_syntax_details);
	tcase_add_test(t, match_each_condition);
	tcase_add_test(t, match_globs_and_first_match);
	tcase_add_test(t, opaque_facts);
	tcase_add_test(t, builtin_identity_stamp);
	tcase_add_test(t, most_restrictive_across_statements);
	tcase_add_test(t, connect_and_access_lines);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
