#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filter/cli.h"
#include "filter/facts.h"
#include "filter/generation.h"
#include "filter/maskpred.h"
#include "filter/review.h"
#include "filter/rules.h"
#include "filter/service.h"

#define T0 1800000000LL

/* libpg_query 15-4.0.0 leaks one strdup when pg_query_parse_plpgsql()
 * fails to compile a body (see test_facts.c). */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:pg_query_raw_parse\n";
}

static char dir[] = "/tmp/test_filter.XXXXXX";
static char conf_path[300], policy_path[300], state_dir[300];

/* The audit log of the tests: records in an array; fail set makes it
 * refuse like an unreachable pgward-logd. */
struct fake_audit {
	json_t *records;
	int fail;
};

static int
fake_append(void *ctx, json_t *record, char *err, size_t errlen)
{
	struct fake_audit *a = ctx;
	if (a->fail) {
		snprintf(err, errlen, "connection refused");
		return -1;
	}
	json_array_append(a->records, record);
	return 0;
}

static const char *
last_event(struct fake_audit *a)
{
	json_t *r = json_array_get(a->records, json_array_size(a->records) - 1);
	return json_string_value(json_object_get(r, "event"));
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(conf_path, sizeof conf_path, "%s/filter.conf", dir);
	snprintf(policy_path, sizeof policy_path, "%s/policy.conf", dir);
	snprintf(state_dir, sizeof state_dir, "%s/state", dir);
	mkdir(state_dir, 0700);
	char conf[2048];
	snprintf(conf, sizeof conf, "listen-unix %s/filter.sock\npolicy %s\n"
	    "state-dir %s\naudit-socket %s/logd.sock\nauth-socket %s/auth.sock\n",
	    dir, policy_path, state_dir, dir, dir);
	write_file(conf_path, conf);
	write_file(policy_path,
	    "default deny\n"
	    "connect shop app_read groups analysts\n"
	    "rule ddl\n kind ddl\n action review\n approvers leads,dba\n approvals 2\n timeout-s 60\n"
	    "rule no-where\n kind update,delete\n where none,trivial\n action deny\n"
	    "rule reads\n kind select,set\n action allow\n"
	    "access shop app_write requestable-by analysts approvers leads max-duration-s 600\n");
}

static void
teardown(void)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/test_filter.XXXXXX");
}

static struct rule *
review_rule(struct rules_result *r, long approvals)
{
	*r = rules_parse("default deny\nrule ddl\n kind ddl\n action review\n"
	    " approvers leads,dba\n timeout-s 60\n", "t", 300);
	ck_assert_ptr_null(r->error);
	r->policy->rules[0].approvals = approvals;
	return &r->policy->rules[0];
}

static json_t *
groups_of(const char *g)
{
	return json_pack("[s]", g);
}

static struct review_requester
alice_req(json_t *g)
{
	return (struct review_requester){ { "alice", g, NULL, NULL }, "s-1", "shop",
		"app_write" };
}

/* An approver in person. */
#define BY(u, g) (&(struct review_party){ (u), (g), NULL, NULL })

START_TEST(review_state_machine)
{
	struct review_store s;
	json_t *dropped;
	struct fake_audit a = { json_array(), 0 };
	char err[1024];
	ck_assert_int_eq(review_store_open(&s, state_dir, 600, T0, &dropped, err,
	    sizeof err), 0);
	json_decref(dropped);
	s.audit = fake_append;
	s.audit_ctx = &a;
	struct rules_result pr;
	const struct rule *rule = review_rule(&pr, 2);
	json_t *ag = groups_of("analysts"), *leads = groups_of("leads"),
	    *dba = groups_of("dba"), *eng = groups_of("engineers");
	struct review_requester who = alice_req(ag);
	json_t *r = review_create(&s, &who, "drop table t", rule, T0, err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	char id[64];
	snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r, "id")));
	ck_assert(strncmp(id, "r-", 2) == 0);
	ck_assert_str_eq(last_event(&a), "created");
	json_t *rec = json_array_get(a.records, 0);
	ck_assert_str_eq(json_string_value(json_object_get(rec, "sql")), "drop table t");
	ck_assert_str_eq(json_string_value(json_object_get(rec, "user")), "alice");
	ck_assert_str_eq(json_string_value(json_object_get(rec, "rule")), "ddl");

	/* not an approver */
	ck_assert_int_eq(review_decide(&s, id, BY("eve", eng), 1, T0 + 1, err, sizeof err), -1);
	ck_assert(strstr(err, "not an approver") != NULL);
	/* self-approval, even when in the approver group */
	json_t *both = json_pack("[s, s]", "analysts", "leads");
	ck_assert_int_eq(review_decide(&s, id, BY("alice", both), 1, T0 + 1, err, sizeof err), -1);
	ck_assert(strstr(err, "own request") != NULL);
	/* an approval that cannot be audited changes nothing */
	a.fail = 1;
	ck_assert_int_eq(review_decide(&s, id, BY("bob", leads), 1, T0 + 1, err, sizeof err), -1);
	ck_assert(strstr(err, "audit log") != NULL);
	ck_assert_int_eq(json_array_size(json_object_get(review_get(&s, id), "by")), 0);
	a.fail = 0;
	/* N distinct approvers */
	ck_assert_int_eq(review_decide(&s, id, BY("bob", leads), 1, T0 + 2, err, sizeof err), 0);
	ck_assert_str_eq(json_string_value(json_object_get(review_get(&s, id), "status")), "pending");
	ck_assert_int_eq(review_decide(&s, id, BY("bob", leads), 1, T0 + 3, err, sizeof err), -1);
	ck_assert(strstr(err, "already approved") != NULL);
	ck_assert_int_eq(review_decide(&s, id, BY("dan", dba), 1, T0 + 4, err, sizeof err), 0);
	ck_assert_str_eq(json_string_value(json_object_get(review_get(&s, id), "status")), "approved");
	ck_assert_str_eq(last_event(&a), "approved");
	/* finished: no more decisions */
	ck_assert_int_eq(review_decide(&s, id, BY("fay", dba), 0, T0 + 5, err, sizeof err), -1);

	/* a denial ends a review at once */
	r = review_create(&s, &who, "drop table u", rule, T0, err, sizeof err);
	char id2[64];
	snprintf(id2, sizeof id2, "%s", json_string_value(json_object_get(r, "id")));
	ck_assert_int_eq(review_decide(&s, id2, BY("dan", dba), 0, T0 + 1, err, sizeof err), 0);
	ck_assert_str_eq(json_string_value(json_object_get(review_get(&s, id2), "status")), "denied");
	ck_assert_str_eq(json_string_value(json_object_get(review_get(&s, id2), "denied_by")), "dan");

	/* cancel */
	r = review_create(&s, &who, "drop table v", rule, T0, err, sizeof err);
	char id3[64];
	snprintf(id3, sizeof id3, "%s", json_string_value(json_object_get(r, "id")));
	ck_assert_int_eq(review_cancel(&s, id3, T0 + 1, err, sizeof err), 0);
	ck_assert_str_eq(last_event(&a), "cancelled");
	ck_assert_str_eq(json_string_value(json_object_get(review_get(&s, id3), "status")), "cancelled");
	ck_assert_int_eq(review_decide(&s, id3, BY("dan", dba), 1, T0 + 2, err, sizeof err), -1);

	/* creation that cannot be audited fails closed */
	a.fail = 1;
	ck_assert_ptr_null(review_create(&s, &who, "drop table w", rule, T0, err, sizeof err));
	a.fail = 0;

	json_decref(ag);
	json_decref(leads);
	json_decref(dba);
	json_decref(eng);
	json_decref(both);
	json_decref(a.records);
	rules_result_free(pr);
	review_store_close(&s);
}
END_TEST

START_TEST(review_expiry_and_persistence)
{
	struct review_store s;
	json_t *dropped;
	struct fake_audit a = { json_array(), 0 };
	char err[1024];
	ck_assert_int_eq(review_store_open(&s, state_dir, 600, T0, &dropped, err,
	    sizeof err), 0);
	json_decref(dropped);
	s.audit = fake_append;
	s.audit_ctx = &a;
	struct rules_result pr;
	const struct rule *rule = review_rule(&pr, 1);
	json_t *ag = groups_of("analysts"), *leads = groups_of("leads");
	struct review_requester who = alice_req(ag);
	json_t *r1 = review_create(&s, &who, "drop table a", rule, T0, err, sizeof err);
	json_t *r2 = review_create(&s, &who, "drop table b", rule, T0 + 50, err, sizeof err);
	char id1[64], id2[64];
	snprintf(id1, sizeof id1, "%s", json_string_value(json_object_get(r1, "id")));
	snprintf(id2, sizeof id2, "%s", json_string_value(json_object_get(r2, "id")));
	ck_assert_int_eq(review_decide(&s, id2, BY("bob", leads), 1, T0 + 51, err, sizeof err), 0);
	review_store_close(&s);

	/* reopened from the state file: both still there */
	ck_assert_int_eq(review_store_open(&s, state_dir, 600, T0 + 59, &dropped, err,
	    sizeof err), 0);
	ck_assert_int_eq(json_array_size(dropped), 0);
	json_decref(dropped);
	s.audit = fake_append;
	s.audit_ctx = &a;
	ck_assert_str_eq(json_string_value(json_object_get(review_get(&s, id1), "sql")),
	    "drop table a");
	ck_assert_str_eq(json_string_value(json_object_get(review_get(&s, id2), "status")),
	    "approved");
	/* expiry at the deadline: approvals are refused, the tick audits it */
	ck_assert_int_eq(review_decide(&s, id1, BY("bob", leads), 1, T0 + 60, err, sizeof err), -1);
	ck_assert(strstr(err, "expired") != NULL);
	ck_assert_int_gt(review_store_tick(&s, T0 + 60), 0);
	ck_assert_str_eq(json_string_value(json_object_get(review_get(&s, id1), "status")),
	    "expired");
	ck_assert_str_eq(last_event(&a), "expired");
	review_store_close(&s);

	/* a pending review past its deadline is dropped at load */
	ck_assert_int_eq(review_store_open(&s, state_dir, 600, T0, &dropped, err,
	    sizeof err), 0);
	json_decref(dropped);
	s.audit = fake_append;
	s.audit_ctx = &a;
	json_t *r3 = review_create(&s, &who, "drop table c", rule, T0, err, sizeof err);
	char id3[64];
	snprintf(id3, sizeof id3, "%s", json_string_value(json_object_get(r3, "id")));
	review_store_close(&s);
	ck_assert_int_eq(review_store_open(&s, state_dir, 600, T0 + 61, &dropped, err,
	    sizeof err), 0);
	ck_assert_ptr_null(review_get(&s, id3));
	ck_assert_int_eq(json_array_size(dropped), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(dropped, 0),
	    "event")), "expired");
	json_decref(dropped);
	/* finished ones are forgotten after the retention */
	ck_assert_ptr_nonnull(review_get(&s, id2));
	review_store_tick(&s, T0 + 51 + 600);
	ck_assert_ptr_null(review_get(&s, id2));
	review_store_close(&s);

	/* a corrupt state file refuses to start */
	char path[400];
	snprintf(path, sizeof path, "%s/state.json", state_dir);
	write_file(path, "{\"reviews\":[");
	ck_assert_int_eq(review_store_open(&s, state_dir, 600, T0, &dropped, err,
	    sizeof err), -1);
	ck_assert(strstr(err, "state.json") != NULL);
	json_decref(dropped);
	review_store_close(&s);

	json_decref(ag);
	json_decref(leads);
	json_decref(a.records);
	rules_result_free(pr);
}
END_TEST

START_TEST(grants_expire)
{
	struct review_store s;
	json_t *dropped;
	struct fake_audit a = { json_array(), 0 };
	char err[1024];
	ck_assert_int_eq(review_store_open(&s, state_dir, 600, T0, &dropped, err,
	    sizeof err), 0);
	json_decref(dropped);
	s.audit = fake_append;
	s.audit_ctx = &a;
	struct rules_result pr = rules_parse("default deny\naccess shop app_write "
	    "requestable-by analysts approvers leads max-duration-s 600\n", "t", 300);
	ck_assert_ptr_null(pr.error);
	json_t *ag = groups_of("analysts"), *leads = groups_of("leads");
	struct review_requester rq = { { "alice", ag, NULL, NULL }, NULL, "shop", "app_write" };
	json_t *e = access_create(&s, &rq, 100, "incident 42",
	    &pr.policy->access[0], 3600, T0, err, sizeof err);
	ck_assert_msg(e != NULL, "%s", err);
	char id[64];
	snprintf(id, sizeof id, "%s", json_string_value(json_object_get(e, "id")));
	ck_assert_str_eq(last_event(&a), "requested");
	ck_assert_ptr_null(access_active(&s, "alice", NULL, "shop", "app_write", T0 + 1));
	ck_assert_int_eq(access_decide(&s, id, BY("alice", leads), 1, T0 + 1, err, sizeof err), -1);
	ck_assert_int_eq(access_decide(&s, id, BY("bob", ag), 1, T0 + 1, err, sizeof err), -1);
	ck_assert_int_eq(access_decide(&s, id, BY("bob", leads), 1, T0 + 10, err, sizeof err), 0);
	ck_assert_str_eq(json_string_value(json_object_get(access_get(&s, id), "status")), "granted");
	ck_assert_str_eq(access_active(&s, "alice", NULL, "shop", "app_write", T0 + 11), id);
	ck_assert_ptr_null(access_active(&s, "alice", NULL, "shop", "app_read", T0 + 11));
	ck_assert_ptr_null(access_active(&s, "bob", NULL, "shop", "app_write", T0 + 11));
	review_store_close(&s);
	/* the grant survives a restart, then ends by itself */
	ck_assert_int_eq(review_store_open(&s, state_dir, 600, T0 + 20, &dropped, err,
	    sizeof err), 0);
	json_decref(dropped);
	s.audit = fake_append;
	s.audit_ctx = &a;
	ck_assert_str_eq(access_active(&s, "alice", NULL, "shop", "app_write", T0 + 109), id);
	ck_assert_ptr_null(access_active(&s, "alice", NULL, "shop", "app_write", T0 + 110));
	review_store_tick(&s, T0 + 110);
	ck_assert_str_eq(json_string_value(json_object_get(access_get(&s, id), "status")), "ended");
	ck_assert_str_eq(last_event(&a), "expired");
	/* an expiry that cannot be audited yet is retried at the next tick */
	e = access_create(&s, &rq, 5, "x",
	    &pr.policy->access[0], 3600, T0 + 110, err, sizeof err);
	snprintf(id, sizeof id, "%s", json_string_value(json_object_get(e, "id")));
	ck_assert_int_eq(access_decide(&s, id, BY("bob", leads), 1, T0 + 110, err, sizeof err), 0);
	a.fail = 1;
	review_store_tick(&s, T0 + 200);
	ck_assert_ptr_null(access_active(&s, "alice", NULL, "shop", "app_write", T0 + 200));
	size_t n = json_array_size(a.records);
	a.fail = 0;
	review_store_tick(&s, T0 + 201);
	ck_assert_int_eq(json_array_size(a.records), n + 1);
	ck_assert_str_eq(last_event(&a), "expired");
	review_store_close(&s);
	json_decref(ag);
	json_decref(leads);
	json_decref(a.records);
	rules_result_free(pr);
}
END_TEST

START_TEST(generation_file)
{
	unsigned long long last = 99;
	char err[256], path[400], buf[64];
	int fd = generation_open(state_dir, &last, err, sizeof err);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(last, 0);
	ck_assert_int_eq(generation_write(fd, 7), 0);
	snprintf(path, sizeof path, "%s/generation", state_dir);
	struct stat st1, st2;
	ck_assert_int_eq(stat(path, &st1), 0);
	ck_assert_int_eq(generation_write(fd, 12345678901234567890ULL), 0);
	ck_assert_int_eq(stat(path, &st2), 0);
	ck_assert_int_eq(st1.st_ino, st2.st_ino);	/* in place */
	ck_assert_int_eq(st2.st_size, 21);
	int rfd = open(path, O_RDONLY);
	ck_assert_int_eq(read(rfd, buf, sizeof buf), 21);
	close(rfd);
	ck_assert(memcmp(buf, "12345678901234567890\n", 21) == 0);
	ck_assert_int_eq(generation_write(fd, 8), 0);
	close(fd);
	fd = generation_open(state_dir, &last, err, sizeof err);
	ck_assert_int_eq(last, 8);
	close(fd);
	ck_assert_int_eq(generation_parse("0000000000000000000x\n", 21, &last), -1);
	ck_assert_int_eq(generation_parse("00000000000000000001\n", 21, &last), 0);
	ck_assert_int_eq(last, 1);
}
END_TEST

/* ---- the service, with the real facts and fake auth and logd ---- */

static json_t *
fake_verify(void *ctx, const char *token, char *err, size_t errlen)
{
	(void)ctx;
	if (strcmp(token, "tok-bob") == 0)
		return json_pack("{s:s, s:[s]}", "user", "bob", "groups", "leads");
	if (strcmp(token, "tok-dan") == 0)
		return json_pack("{s:s, s:[s]}", "user", "dan", "groups", "dba");
	if (strcmp(token, "tok-alice") == 0)
		return json_pack("{s:s, s:[s]}", "user", "alice", "groups", "analysts");
	snprintf(err, errlen, "token not accepted");
	return NULL;
}

static struct fake_audit svc_audit;

static void
svc_open(struct filter_service *s, long long now)
{
	char err[1024];
	ck_assert_msg(filter_service_open(s, conf_path, facts_of_sql, facts_result_free,
	    err, sizeof err) == 0, "%s", err);
	s->verify = fake_verify;
	s->audit_append = fake_append;
	s->hook_ctx = &svc_audit;
	s->fixed_now = now;
}

static json_t *
call(struct filter_service *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_error_t je;
	json_t *req = json_vpack_ex(&je, 0, fmt, ap);
	va_end(ap);
	ck_assert_msg(req != NULL, "%s", je.text);
	json_t *r = filter_service_handle(s, req);
	json_decref(req);
	ck_assert_ptr_nonnull(r);
	return r;
}

static const char *
str(json_t *r, const char *k)
{
	const char *v = json_string_value(json_object_get(r, k));
	return v != NULL ? v : "(none)";
}

START_TEST(service_protocol)
{
	struct filter_service s;
	svc_audit.records = json_array();
	svc_audit.fail = 0;
	svc_open(&s, T0);
	unsigned long long gen = s.generation;
	ck_assert_int_eq(gen, 1);
	json_t *r = call(&s, "{s:s}", "op", "ping");
	ck_assert(json_is_true(json_object_get(r, "ok")));
	json_decref(r);

	r = call(&s, "{s:s, s:s, s:[s], s:s, s:s, s:s, s:s}", "op", "decide",
	    "user", "alice", "groups", "analysts", "connection", "shop", "role",
	    "app_read", "session", "s1", "sql", "select * from orders where id = 1");
	ck_assert_str_eq(str(r, "decision"), "allow");
	ck_assert_str_eq(str(r, "rule"), "reads");
	ck_assert_str_eq(str(r, "cache"), "fingerprint");
	ck_assert_int_eq(strlen(str(r, "fingerprint")), 16);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "generation")), 1);
	ck_assert_int_eq(json_array_size(json_object_get(r, "facts")), 1);
	json_decref(r);

	r = call(&s, "{s:s, s:s, s:[], s:s, s:s, s:s}", "op", "decide", "user", "alice",
	    "groups", "connection", "shop", "role", "app_read", "sql",
	    "select 1; set pgward.session = 'mallory'");
	ck_assert_str_eq(str(r, "decision"), "deny");
	ck_assert_str_eq(str(r, "rule"), "builtin:identity-stamp");
	json_decref(r);

	r = call(&s, "{s:s, s:s, s:[], s:s, s:s, s:s}", "op", "decide", "user", "alice",
	    "groups", "connection", "shop", "role", "app_read", "sql",
	    "update orders set x = 1 where 1 = 1");
	ck_assert_str_eq(str(r, "decision"), "deny");
	ck_assert_str_eq(str(r, "rule"), "no-where");
	json_decref(r);

	r = call(&s, "{s:s, s:s, s:[], s:s, s:s, s:s}", "op", "decide", "user", "alice",
	    "groups", "connection", "shop", "role", "app_read", "sql", "selec 1");
	ck_assert_str_eq(str(r, "decision"), "deny");
	ck_assert_str_eq(str(r, "rule"), "builtin:syntax-error");
	json_decref(r);

	r = call(&s, "{s:s, s:s, s:[]}", "op", "decide", "user", "alice", "groups");
	ck_assert(json_is_false(json_object_get(r, "ok")));
	json_decref(r);

	/* the relations map: resolved, not cached; malformed is an error */
	r = call(&s, "{s:s, s:s, s:[], s:s, s:s, s:s, s:{s:[s]}}", "op", "decide",
	    "user", "alice", "groups", "connection", "shop", "role", "app_read", "sql",
	    "create temp view w as select 1; delete from ov where true",
	    "relations", "ov", "public.orders");
	ck_assert_str_eq(str(r, "decision"), "deny");
	ck_assert_str_eq(str(r, "rule"), "no-where");
	ck_assert_str_eq(str(r, "cache"), "none");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(json_array_get(
	    json_object_get(r, "facts"), 1), "tables_written"), 1)), "public.orders");
	json_decref(r);
	r = call(&s, "{s:s, s:s, s:[], s:s, s:s, s:s, s:{s:[i]}}", "op", "decide",
	    "user", "alice", "groups", "connection", "shop", "role", "app_read", "sql",
	    "select 1", "relations", "ov", 1);
	ck_assert(json_is_false(json_object_get(r, "ok")));
	ck_assert(strstr(str(r, "error"), "relations") != NULL);
	json_decref(r);
	r = call(&s, "{s:s, s:s, s:[], s:s, s:s, s:s, s:s}", "op", "decide",
	    "user", "alice", "groups", "connection", "shop", "role", "app_read", "sql",
	    "select 1", "relations", "ov");
	ck_assert(json_is_false(json_object_get(r, "ok")));
	json_decref(r);

	/* review: created, then approved by two distinct approvers */
	r = call(&s, "{s:s, s:s, s:[s], s:s, s:s, s:s, s:s}", "op", "decide",
	    "user", "alice", "groups", "analysts", "connection", "shop", "role",
	    "app_read", "session", "s1", "sql", "create table t (a int)");
	ck_assert_str_eq(str(r, "decision"), "review");
	ck_assert_str_eq(str(r, "cache"), "none");
	json_t *rv = json_object_get(r, "review");
	char id[64];
	snprintf(id, sizeof id, "%s", str(rv, "id"));
	ck_assert_int_eq(json_integer_value(json_object_get(rv, "approvals")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(rv, "timeout_s")), 60);
	json_decref(r);

	r = call(&s, "{s:s, s:s, s:i}", "op", "review_wait", "id", id, "timeout_ms", 1000);
	ck_assert_str_eq(str(r, "status"), "pending");
	json_decref(r);
	r = call(&s, "{s:s, s:s, s:s}", "op", "review_approve", "token", "tok-alice", "id", id);
	ck_assert(json_is_false(json_object_get(r, "ok")));
	json_decref(r);
	r = call(&s, "{s:s, s:s, s:s}", "op", "review_approve", "token", "forged", "id", id);
	ck_assert_str_eq(str(r, "error"), "token not accepted");
	json_decref(r);
	r = call(&s, "{s:s, s:s}", "op", "review_list", "token", "tok-bob");
	ck_assert_int_eq(json_array_size(json_object_get(r, "reviews")), 1);
	ck_assert(json_is_true(json_object_get(json_array_get(
	    json_object_get(r, "reviews"), 0), "can_decide")));
	json_decref(r);
	r = call(&s, "{s:s, s:s, s:s}", "op", "review_approve", "token", "tok-bob", "id", id);
	ck_assert_str_eq(str(r, "status"), "pending");
	json_decref(r);
	svc_audit.fail = 1;
	r = call(&s, "{s:s, s:s, s:s}", "op", "review_approve", "token", "tok-dan", "id", id);
	ck_assert(strstr(str(r, "error"), "audit log") != NULL);
	json_decref(r);
	svc_audit.fail = 0;
	r = call(&s, "{s:s, s:s, s:s}", "op", "review_approve", "token", "tok-dan", "id", id);
	ck_assert_str_eq(str(r, "status"), "approved");
	json_decref(r);
	r = call(&s, "{s:s, s:s}", "op", "review_wait", "id", id);
	ck_assert_str_eq(str(r, "status"), "approved");
	ck_assert_int_eq(json_array_size(json_object_get(r, "by")), 2);
	json_decref(r);

	/* a review that cannot be recorded is a deny */
	svc_audit.fail = 1;
	r = call(&s, "{s:s, s:s, s:[], s:s, s:s, s:s}", "op", "decide", "user", "alice",
	    "groups", "connection", "shop", "role", "app_read", "sql", "drop table t");
	ck_assert_str_eq(str(r, "decision"), "deny");
	json_decref(r);
	svc_audit.fail = 0;

	/* connect and just-in-time access */
	r = call(&s, "{s:s, s:s, s:[s], s:s, s:s}", "op", "connect", "user", "alice",
	    "groups", "analysts", "connection", "shop", "role", "app_read");
	ck_assert_str_eq(str(r, "decision"), "allow");
	ck_assert_str_eq(str(r, "rule"), "connect:2");
	json_decref(r);
	r = call(&s, "{s:s, s:s, s:[s], s:s, s:s}", "op", "connect", "user", "alice",
	    "groups", "analysts", "connection", "shop", "role", "app_write");
	ck_assert_str_eq(str(r, "decision"), "deny");
	json_decref(r);
	r = call(&s, "{s:s, s:s, s:s, s:s, s:i, s:s}", "op", "access_request", "token",
	    "tok-alice", "connection", "shop", "role", "app_write", "duration_s", 6000,
	    "reason", "incident");
	ck_assert(strstr(str(r, "error"), "600") != NULL);
	json_decref(r);
	r = call(&s, "{s:s, s:s, s:s, s:s, s:i, s:s}", "op", "access_request", "token",
	    "tok-alice", "connection", "shop", "role", "app_write", "duration_s", 300,
	    "reason", "incident");
	snprintf(id, sizeof id, "%s", str(r, "id"));
	ck_assert(strncmp(id, "a-", 2) == 0);
	json_decref(r);
	r = call(&s, "{s:s, s:s, s:s}", "op", "access_grant", "token", "tok-bob", "id", id);
	ck_assert_str_eq(str(r, "status"), "granted");
	json_decref(r);
	r = call(&s, "{s:s, s:s, s:[s], s:s, s:s}", "op", "connect", "user", "alice",
	    "groups", "analysts", "connection", "shop", "role", "app_write");
	ck_assert_str_eq(str(r, "decision"), "allow");
	ck_assert(strncmp(str(r, "rule"), "grant:a-", 8) == 0);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "expires")), T0 + 300);
	json_decref(r);
	s.fixed_now = T0 + 300;
	r = call(&s, "{s:s, s:s, s:[s], s:s, s:s}", "op", "connect", "user", "alice",
	    "groups", "analysts", "connection", "shop", "role", "app_write");
	ck_assert_str_eq(str(r, "decision"), "deny");
	json_decref(r);

	/* reload: a broken policy is refused, a good one bumps the generation */
	write_file(policy_path, "default deny\nrule x\n kind nonsense\n action allow\n");
	ck_assert_int_eq(filter_service_reload(&s), -1);
	ck_assert_int_eq(s.generation, gen);
	write_file(policy_path, "default allow\n");
	ck_assert_int_eq(filter_service_reload(&s), 0);
	ck_assert_int_eq(s.generation, gen + 1);
	r = call(&s, "{s:s}", "op", "status");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "generation")), gen + 1);
	json_decref(r);
	filter_service_close(&s);

	/* a restart continues the generation */
	svc_open(&s, T0 + 400);
	ck_assert_int_eq(s.generation, gen + 2);
	filter_service_close(&s);
	json_decref(svc_audit.records);
}
END_TEST

START_TEST(check_command)
{
	struct rules_result pr = rules_load(policy_path, 300);
	ck_assert_ptr_null(pr.error);
	const char *input =
	    "select 1\n"
	    "\n"
	    "{\"user\":\"a\",\"groups\":[],\"sql\":\"delete from t\",\"expect\":\"deny\"}\n"
	    "{\"sql\":\"drop table t\",\"expect\":{\"decision\":\"review\",\"rule\":\"ddl\"}}\n";
	FILE *in = fmemopen((void *)input, strlen(input), "r");
	char *outbuf = NULL;
	size_t outlen = 0;
	FILE *out = open_memstream(&outbuf, &outlen);
	ck_assert_int_eq(cli_check(pr.policy, facts_of_sql, facts_result_free, in, out, 0), 0);
	fclose(in);
	fclose(out);
	ck_assert(strstr(outbuf, "\"rule\":\"reads\"") != NULL);
	ck_assert(strstr(outbuf, "\"line\":4") != NULL);
	ck_assert(strstr(outbuf, "\"pass\":false") == NULL);
	free(outbuf);
	const char *bad = "{\"sql\":\"select 1\",\"expect\":\"deny\"}\n";
	in = fmemopen((void *)bad, strlen(bad), "r");
	out = open_memstream(&outbuf, &outlen);
	ck_assert_int_eq(cli_check(pr.policy, facts_of_sql, facts_result_free, in, out, 1), 1);
	fclose(in);
	fclose(out);
	ck_assert(strstr(outbuf, "\"pass\":false") != NULL);
	free(outbuf);
	rules_result_free(pr);
}
END_TEST


/* ---- masked columns: gateway mode ---- */

static const char *GATEWAY_MASK =
    "{\"mode\": \"gateway\", \"columns\": [{\"table\": \"public.customers\","
    " \"column\": \"card_number\", \"style\": \"partial\", \"keep\": 4}]}";
static const char *RELATIONS =
    "{\"public.cv\": [\"public.customers\"], \"cv\": [\"public.customers\"],"
    " \"ov\": [\"public.orders\"]}";

/* The check's answer for sql under mask (JSON): the message when refused,
 * NULL when not. The caller frees it. */
static char *
mask_message(const char *mask, const char *sql)
{
	json_t *m = json_loads(mask, 0, NULL), *rel = json_loads(RELATIONS, 0, NULL);
	ck_assert_ptr_nonnull(m);
	struct facts_result fr = facts_of_sql(sql);
	ck_assert_msg(fr.error == NULL, "%s: %s", sql, fr.error);
	ck_assert_int_eq(facts_resolve(fr.statements, rel, NULL), 0);
	struct maskpred_result r = maskpred_find(m, sql, fr.statements, rel, NULL);
	ck_assert_msg(r.error == NULL, "%s: %s", sql, r.error);
	char *msg = r.masked ? strdup(r.message) : NULL;
	ck_assert_int_eq(r.masked, msg != NULL);
	maskpred_result_free(&r);
	facts_result_free(&fr);
	json_decref(m);
	json_decref(rel);
	return msg;
}

static void
refused(const char *mask, const char *sql, const char *found)
{
	char *msg = mask_message(mask, sql);
	ck_assert_msg(msg != NULL, "not refused: %s", sql);
	ck_assert_msg(strstr(msg, "column public.customers.card_number is masked for "
	    "you") != NULL, "%s: %s", sql, msg);
	ck_assert_msg(found == NULL || strstr(msg, found) != NULL,
	    "%s: wanted \"%s\" in: %s", sql, found, msg);
	free(msg);
}

static void
allowed(const char *mask, const char *sql)
{
	char *msg = mask_message(mask, sql);
	ck_assert_msg(msg == NULL, "refused: %s: %s", sql, msg);
}

/* One case per way around a column mask (issue 11), each with where the
 * message says it was found. */
static const struct {
	const char *sql, *found;
} gateway_leaks[] = {
	{ "select upper(card_number) from customers", "a function argument in the select list" },
	{ "select card_number || '' from customers", "an operator expression" },
	{ "select row_to_json(t) from customers t", "a whole-row reference" },
	/* column aliases in FROM rename a masked column by position */
	{ "select upper(d) from customers as c(i, n, e, d)", "column aliases after customers" },
	{ "select count(*) from public.customers c(i, n, e, d) where d like '4%'",
	  "column aliases after public.customers" },
	{ "select upper(j.d) from (customers c join orders o on o.customer_id = c.id) "
	  "as j(a, b, x, d)", "column aliases of a join" },
	{ "select j from (customers c join orders o on o.customer_id = c.id) j",
	  "a whole-row reference" },
	{ "select row_to_json(j) from (orders o join (customers c join orders p on true) on true) j",
	  "a whole-row reference" },
	{ "select to_jsonb(t) from public.customers t", "a whole-row reference" },
	{ "select string_agg(card_number, ',') from customers", "an aggregate" },
	{ "select array_agg(card_number) from customers", "an aggregate" },
	{ "select array_agg(c) from customers c", "a whole-row reference" },
	{ "select array(select card_number from customers)", "an ARRAY(...) subquery" },
	{ "select c from customers c", "a whole-row reference" },
	{ "select customers from customers", "a whole-row reference" },
	{ "select c::text from customers c", "a whole-row reference in the select list" },
	{ "select row_to_json(c.*) from customers c", "a t.*" },
	{ "select reverse(card_number) from customers", "a function argument" },
	{ "select substr(card_number, 1, 8), substr(card_number, 9) from customers",
	  "a function argument" },
	{ "select encode(convert_to(card_number, 'UTF8'), 'base64') from customers",
	  "a function argument" },
	{ "select translate(card_number, '0123456789', 'abcdefghij') from customers",
	  "a function argument" },
	{ "select pg_notify('ch', card_number) from customers", "a function argument" },
	{ "select card_number::text from customers", "a cast" },
	{ "select (select card_number from customers limit 1)", "a scalar subquery" },
	{ "select 1 where exists (select 1 from customers where card_number like '4%')",
	  "a WHERE clause" },
	{ "do $$ declare r record; begin for r in select card_number from customers loop "
	  "perform pg_notify('ch', r.card_number); end loop; end $$", "a DO block" },
	{ "do $$ begin perform count(*) from public.customers; end $$", "a DO block" },
	{ "do $$ begin execute 'select 1'; end $$", "cannot be analysed" },
	{ "do language plpython3u $$ plpy.execute('select 1') $$", "cannot be analysed" },
	{ "create function f() returns text language sql as "
	  "'select card_number from customers limit 1'", "a function body" },
	{ "create function f() returns setof text language plpgsql as $$ begin "
	  "return query select CARD_NUMBER from x; end $$", "a function body" },
	{ "create function f() returns bigint language sql begin atomic "
	  "select count(*) from customers; end", "a function body" },
	{ "create procedure p() language sql as $$ select 1 from customers $$",
	  "a function body" },
	{ "select card_number from customers union select 'x'", "a set operation" },
	{ "select * from customers union all select * from customers", "a set operation" },
	{ "select x from (select card_number as x from customers) s", "a subquery in FROM" },
	{ "select * from (select * from customers) s", "a subquery in FROM" },
	{ "with s as (select card_number from customers) select * from s", "a WITH query" },
	{ "select id from customers where card_number like '4%'", "a WHERE clause" },
	{ "select id from customers order by card_number", "ORDER BY" },
	{ "select card_number from customers order by 1", "ORDER BY" },
	{ "select count(*) from customers group by card_number", "GROUP BY" },
	{ "select card_number, count(*) from customers group by 1", "GROUP BY" },
	{ "select 1 from orders o join customers c on c.card_number = o.ref",
	  "a JOIN condition" },
	{ "select 1 from customers join guesses using (card_number)", "JOIN USING" },
	{ "select count(*) from customers natural join guesses", "a NATURAL JOIN" },
	{ "select count(*) from customers having max(card_number) > '4'", "HAVING" },
	{ "select distinct card_number from customers", "SELECT DISTINCT" },
	{ "select card_number into t2 from customers", "SELECT INTO" },
	{ "insert into t2 select card_number from customers", "INSERT ... SELECT" },
	{ "insert into t2 select * from customers", "INSERT ... SELECT" },
	{ "create table t2 as select card_number from customers", "CREATE TABLE AS" },
	{ "create view v as select * from customers", "a view definition" },
	{ "update orders o set ref = c.card_number from customers c where c.id = o.cid",
	  "an UPDATE SET list" },
	{ "update customers set name = card_number", "an UPDATE SET list" },
	{ "merge into orders o using customers c on o.cid = c.id when matched then "
	  "update set ref = c.card_number", "a MERGE action" },
	{ "with d as (delete from customers returning card_number) select * from d",
	  "the RETURNING list of a nested statement" },
	{ "copy customers to stdout", "COPY TO" },
	{ "copy (select card_number from customers) to stdout", "COPY" },
	{ "explain select card_number from customers", "EXPLAIN" },
	{ "select * from cv", "a read through a view or rule" },
	{ "select name from public.cv", "public.cv stands for public.customers" },
	{ "select most_common_vals from pg_stats where tablename = 'customers'",
	  "statistics" },
	{ "select query_to_xml('select card_' || 'number from customers', true, false, '')",
	  "runs SQL given as text" },
	{ "select * from ts_stat('select to_tsvector(card_number) from customers')",
	  "ts_stat" },
	{ "insert into customers (card_number) values ('4111') "
	  "on conflict (card_number) do nothing", "ON CONFLICT" },
	{ "select (c).card_number from customers c", "a whole-row reference" },
	{ "select card_number(c) from customers c", "a whole-row reference" },
	{ "select coalesce(card_number, '') from customers", "COALESCE" },
	{ "select case card_number when '1' then 1 end from customers",
	  "a CASE expression" },
	{ "select lag(card_number) over (order by id) from customers", "a window function" },
	{ "select id from customers returning_none where (card_number) is null",
	  "an IS NULL test" },
	{ "select 1; select upper(card_number) from customers", NULL },
	{ "prepare p as select upper(card_number) from customers", "a function argument" },
	{ "update customers set name = 'x' returning upper(card_number)", "RETURNING" },
	{ "update customers c set name = 'x' returning c", "a whole-row reference" },
};

START_TEST(gateway_refuses)
{
	refused(GATEWAY_MASK, gateway_leaks[_i].sql, gateway_leaks[_i].found);
}
END_TEST

START_TEST(gateway_allows)
{
	static const char *const ok[] = {
		"select card_number from customers",
		"select c.card_number as x from customers c",
		"select public.customers.card_number from public.customers",
		"select * from customers",
		"select c.* from customers c",
		"select c.*, o.id from customers c join orders o on o.cid = c.id",
		"table customers",
		"select id, card_number from customers where id = 3 order by id limit 5",
		"update customers set name = 'x' where id = 1 returning card_number",
		"insert into customers (id, card_number) values (1, '4111') returning *",
		"delete from customers where id = 1 returning card_number",
		"update customers set card_number = '0000' where id = 1",
		"declare cur cursor for select card_number from customers",
		"prepare p as select card_number from customers where id = $1",
		"select upper(card_number) from orders",	/* another table */
		"select count(*) from customers",
		"select * from ov",
		"do $$ begin perform 1; end $$",
		"create function g() returns int language sql as 'select 1'",
		"select id from customers where name = 'card_number'",
		"copy customers from stdin",
		"select 1 from customers c where exists (select 1 from orders o where o.cid = c.id)",
	};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
		allowed(GATEWAY_MASK, ok[i]);
}
END_TEST

START_TEST(gateway_message_and_modes)
{
	char *m = mask_message(GATEWAY_MASK, "select upper(card_number) from customers");
	ck_assert_str_eq(m, "column public.customers.card_number is masked for you: only "
	    "a plain output column may use it (found in a function argument in the "
	    "select list)");
	free(m);

	/* database mode (also with no mode): PostgreSQL masks every derivation,
	 * so only predicates and expressions count, and the column is named */
	static const char *const db[] = {
		"{\"columns\": [{\"table\": \"public.customers\", \"column\": \"card_number\"}]}",
		"{\"mode\": \"database\", \"columns\": [{\"table\": \"public.customers\","
		" \"column\": \"card_number\"}]}",
	};
	for (int i = 0; i < 2; i++) {
		refused(db[i], "select id from customers where card_number like '4%'",
		    "(found in an operator expression in a WHERE clause)");
		refused(db[i], "select upper(card_number) from customers", "a function argument");
		allowed(db[i], "select array(select card_number from customers)");
		allowed(db[i], "select c from customers c");
		allowed(db[i], "select * from cv");
		allowed(db[i], "do $$ begin perform count(*) from customers; end $$");
	}

	/* a pattern: any relation may have such a column */
	const char *pat = "{\"mode\": \"gateway\", \"patterns\": [{\"column\": \"*ssn*\"}]}";
	m = mask_message(pat, "select lower(my_ssn) from t");
	ck_assert_ptr_nonnull(m);
	ck_assert(strstr(m, "column my_ssn is masked") != NULL);
	free(m);
	m = mask_message(pat, "select row_to_json(t) from t");
	ck_assert_ptr_nonnull(m);
	free(m);
	allowed(pat, "select my_ssn, name from t");
	allowed(pat, "select * from t");

	/* nothing masked: nothing refused */
	allowed("{\"mode\": \"gateway\"}", "select upper(card_number) from customers");

	/* unreadable text: an error, which the service treats as refused */
	json_t *mk = json_loads(GATEWAY_MASK, 0, NULL);
	struct maskpred_result r = maskpred_find(mk, "select from where", NULL, NULL, NULL);
	ck_assert_ptr_nonnull(r.error);
	maskpred_result_free(&r);
	json_decref(mk);
}
END_TEST

/* ---- decisions on MERGE, views and masked columns ---- */

static json_t *
decide(const char *policy_text, const char *user, const char *group,
    const char *sql, const char *relations)
{
	struct rules_result pr = rules_parse(policy_text, "p.conf", 300);
	ck_assert_msg(pr.error == NULL, "%s", pr.error);
	const char *gl[1] = { group };
	struct rule_identity id = { user, gl, 1, "shop", "app", NULL };
	json_t *rel = relations ? json_loads(relations, 0, NULL) : NULL;
	struct rule_decision d;
	json_t *r = filter_decide(pr.policy, facts_of_sql, facts_result_free, &id, sql,
	    rel, NULL, &d);
	ck_assert_ptr_nonnull(r);
	json_decref(rel);
	rules_result_free(pr);
	return r;
}

static const char *WRITES_POLICY =
    "default deny\n"
    "rule no-unbounded\n kind update,delete\n where none,trivial\n action deny\n"
    "rule orders-guard\n kind delete\n writes public.orders\n where present\n action review\n"
    " approvers leads\n"
    "rule rest\n action allow\n";

START_TEST(decide_merge_and_views)
{
	static const char *const denied[] = {
		"MERGE INTO orders o USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE",
		"MERGE INTO orders o USING (SELECT 1 AS id) s ON o.id = o.id "
		"WHEN MATCHED THEN UPDATE SET total = 0",
		"MERGE INTO orders o USING s ON true WHEN MATCHED AND 1 = 1 THEN DELETE "
		"WHEN NOT MATCHED THEN INSERT VALUES (1)",
		"CREATE TEMP VIEW ov AS SELECT * FROM orders; DELETE FROM ov",
		"DELETE FROM orders WHERE id = id",
		"DELETE FROM orders WHERE id IS NULL OR id IS NOT NULL",
	};
	for (size_t i = 0; i < sizeof denied / sizeof *denied; i++) {
		json_t *r = decide(WRITES_POLICY, "ann", "dev", denied[i], NULL);
		ck_assert_msg(strcmp(str(r, "decision"), "deny") == 0 &&
		    strcmp(str(r, "rule"), "no-unbounded") == 0, "%s: %s by %s", denied[i],
		    str(r, "decision"), str(r, "rule"));
		json_decref(r);
	}
	json_t *r = decide(WRITES_POLICY, "ann", "dev",
	    "MERGE INTO orders o USING s ON o.id = s.id WHEN MATCHED THEN DELETE", NULL);
	ck_assert_str_eq(str(r, "decision"), "allow");
	json_decref(r);

	/* through the request's map: the rule on public.orders sees the view */
	r = decide(WRITES_POLICY, "ann", "dev", "DELETE FROM ov WHERE id = 3",
	    "{\"ov\": [\"public.orders\"]}");
	ck_assert_str_eq(str(r, "decision"), "review");
	ck_assert_str_eq(str(r, "rule"), "orders-guard");
	ck_assert_str_eq(str(r, "cache"), "none");
	json_decref(r);
	r = decide(WRITES_POLICY, "ann", "dev", "DELETE FROM ov WHERE id = 3", NULL);
	ck_assert_str_eq(str(r, "decision"), "allow");
	ck_assert_str_eq(str(r, "cache"), "fingerprint");
	json_decref(r);
	/* a map that does not name the statement's relations changes nothing */
	r = decide(WRITES_POLICY, "ann", "dev", "DELETE FROM x WHERE id = 3",
	    "{\"ov\": [\"public.orders\"]}");
	ck_assert_str_eq(str(r, "cache"), "fingerprint");
	json_decref(r);
	/* an unresolvable name: opaque, which no rule about contents allows */
	r = decide("default deny\nrule any\n kind delete\n action allow\n", "ann", "dev",
	    "DELETE FROM ov WHERE id = 3", "{\"ov\": []}");
	ck_assert_str_eq(str(r, "decision"), "deny");
	ck_assert_str_eq(str(r, "rule"), "default");
	json_decref(r);
}
END_TEST

START_TEST(decide_masked_names_the_column)
{
	const char *pol = "default allow\n"
	    "mask column public.customers.card_number style partial\n"
	    "mask predicates deny\n";
	json_t *r = decide(pol, "ann", "dev",
	    "select id from customers where card_number like '4%'", NULL);
	ck_assert_str_eq(str(r, "decision"), "deny");
	ck_assert_str_eq(str(r, "rule"), "builtin:masked-predicate");
	ck_assert_str_eq(str(r, "message"), "column public.customers.card_number is "
	    "masked for you: only a plain output column may use it (found in an "
	    "operator expression in a WHERE clause)");
	json_decref(r);
	r = decide(pol, "ann", "dev", "select card_number from customers", NULL);
	ck_assert_str_eq(str(r, "decision"), "allow");
	json_decref(r);
	/* gateway mode: refused by default, derivations too */
	const char *gw = "default allow\nmask mode gateway\n"
	    "mask column public.customers.card_number style partial\n";
	r = decide(gw, "ann", "dev", "select array(select card_number from customers)", NULL);
	ck_assert_str_eq(str(r, "decision"), "deny");
	ck_assert_str_eq(str(r, "rule"), "builtin:masked-predicate");
	ck_assert(strstr(str(r, "message"), "an ARRAY(...) subquery") != NULL);
	json_decref(r);
	r = decide(gw, "ann", "dev", "select * from cv", "{\"cv\": [\"public.customers\"]}");
	ck_assert_str_eq(str(r, "decision"), "deny");
	json_decref(r);
	r = decide(gw, "ann", "dev", "select card_number from customers", NULL);
	ck_assert_str_eq(str(r, "decision"), "allow");
	json_decref(r);
	/* database mode without "mask predicates": PostgreSQL enforces */
	r = decide("default allow\nmask column public.customers.card_number style partial\n",
	    "ann", "dev", "select id from customers where card_number like '4%'", NULL);
	ck_assert_str_eq(str(r, "decision"), "allow");
	json_decref(r);
}
END_TEST

static void
expect_load_error(const char *text, const char *needle)
{
	struct rules_result r = rules_parse(text, "p", 300);
	ck_assert_msg(r.error != NULL && strstr(r.error, needle) != NULL,
	    "policy %s: error %s, expected %s", text, r.error ? r.error : "(none)", needle);
	rules_result_free(r);
}

START_TEST(max_rows)
{
	expect_load_error("default deny\nrule r\n kind delete\n max-rows 10\n action deny\n",
	    "p:2: rule r: max-rows belongs to action allow or review");
	expect_load_error("default deny\nrule r\n kind select,insert\n max-rows 10\n action allow\n",
	    "which its kind list does not name");
	expect_load_error("default deny\nrule r\n kind delete\n max-rows -1\n action allow\n",
	    "max-rows: \"-1\" is not a number from 0 to 1000000000");
	expect_load_error("default deny\nrule r\n kind delete\n max-rows 1000000001\n action allow\n",
	    "is not a number");
	expect_load_error("default deny\nrule r\n kind delete\n max-rows 1 2\n action allow\n",
	    "max-rows: expected one number");
	expect_load_error("default deny\nrule r\n kind delete\n max-rows 1\n max-rows 2\n action allow\n",
	    "duplicate \"max-rows\"");
	expect_load_error("default deny\nmax-rows 3\n", "\"max-rows\" outside a rule");
	struct rules_result ok = rules_parse("default deny\nrule r\n kind upd*\n max-rows 0\n"
	    " action allow\nrule s\n max-rows 5\n action allow\n", "p", 300);
	ck_assert_ptr_null(ok.error);
	ck_assert_int_eq(ok.policy->rules[0].max_rows, 0);
	ck_assert_int_eq(ok.policy->rules[1].max_rows, 5);
	rules_result_free(ok);

	const char *pol = "default deny\n"
	    "rule orders-delete\n kind delete\n tables orders\n max-rows 10\n action allow\n"
	    "rule small\n kind update\n tables orders\n max-rows 3\n action allow\n"
	    "rule any-write\n tables items\n max-rows 7\n action allow\n"
	    "rule rest\n action allow\n";
	struct { const char *sql, *decision, *rule; long max_rows; } cases[] = {
		{ "delete from orders where id > 3", "allow", "orders-delete", 10 },
		{ "update orders set x = 1 where id > 3", "allow", "small", 3 },
		{ "delete from other where id > 3", "allow", "rest", -1 },
		{ "select * from orders", "allow", "rest", -1 },
		/* No kind list: DELETE, UPDATE and MERGE it matches, nothing else. */
		{ "delete from items", "allow", "any-write", 7 },
		{ "merge into items i using (select 1 x) s on i.id = s.x when matched then delete",
		    "allow", "any-write", 7 },
		{ "select * from items", "allow", "any-write", -1 },
		{ "insert into items values (1)", "allow", "any-write", -1 },
		/* Several statements: refused, whatever their order. */
		{ "select 1; delete from orders where id > 3", "deny", "orders-delete", -1 },
		{ "delete from orders where id > 3; select 1", "deny", "orders-delete", -1 },
		/* Rows the command tag does not count: refused. */
		{ "with d as (delete from orders returning *) select count(*) from d",
		    "deny", "orders-delete", -1 },
		{ "explain analyze delete from orders", "deny", "orders-delete", -1 },
		{ "prepare p as delete from orders", "deny", "orders-delete", -1 },
		{ "do $$ begin delete from orders; end $$", "deny", "orders-delete", -1 },
		{ "copy (delete from orders returning *) to stdout", "deny", "orders-delete", -1 },
		/* A data-modifying WITH of a MERGE is no WHEN action. */
		{ "with d as (delete from orders where id > 0 returning id) merge into items i "
		    "using d on i.id = d.id when matched then do nothing", "deny", "orders-delete",
		    -1 },
		/* ON CONFLICT DO UPDATE: an update the INSERT's tag counts (the
		 * reply names the insert's rule; the limit is the update's). */
		{ "insert into orders values (1) on conflict (id) do update set x = 2", "allow",
		    "rest", 3 },
		{ "insert into orders values (1) on conflict do nothing", "allow", "rest", -1 },
		{ "with u as (insert into orders values (1) on conflict (id) do update set x = 1 "
		    "returning 1) select 1", "deny", "small", -1 },
		/* EXPLAIN alone runs nothing. */
		{ "explain delete from orders", "allow", "rest", -1 },
		/* A read CTE under a top-level DELETE is counted by its tag. */
		{ "with x as (select 1 id) delete from orders using x where orders.id = x.id",
		    "allow", "orders-delete", 10 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *r = decide(pol, "alice", "analysts", cases[i].sql, NULL);
		const char *dec = json_string_value(json_object_get(r, "decision"));
		const char *rule = json_string_value(json_object_get(r, "rule"));
		json_t *mr = json_object_get(r, "max_rows");
		ck_assert_msg(strcmp(dec, cases[i].decision) == 0 && strcmp(rule, cases[i].rule) == 0,
		    "%s: %s by %s", cases[i].sql, dec, rule);
		ck_assert_msg(cases[i].max_rows < 0 ? mr == NULL :
		    json_integer_value(mr) == cases[i].max_rows, "%s: max_rows", cases[i].sql);
		if (strcmp(dec, "deny") == 0)
			ck_assert(strstr(json_string_value(json_object_get(r, "message")),
			    "max-rows") != NULL);
		json_decref(r);
	}
}
END_TEST

/* ---- policy on the pair: principal and actors (docs/policy.md) ---- */

/* bob in person; bob with ci-bot (client pgward-ci) acting, then
 * deploy-svc; svc-etl, a client-credentials agent of client etl. */
static const struct principal in_person = { 0, 0, NULL, NULL, NULL };
static const struct principal via_ci = { 0, 2, "ci-bot", "ci-app", "pgward-ci" };
static const struct principal machine = { 1, 0, NULL, NULL, "etl" };

static const char *
pair_decide(const struct rules *p, const struct principal *who, const char *fact)
{
	static char out[160];
	const char *g[] = { "engineers" };
	struct rule_identity id = { "bob", g, 1, "shop", "app", who };
	json_t *f = json_loads(fact, 0, NULL);
	ck_assert_ptr_nonnull(f);
	struct rule_decision d = rules_decide_fact(p, &id, f);
	snprintf(out, sizeof out, "%s %s", rules_action_name(d.action), d.rule);
	json_decref(f);
	return out;
}

START_TEST(pair_rule_conditions)
{
	struct rules_result r = rules_parse("default deny\n"
	    "rule machines-read\n principal agent\n kind select\n action allow\n"
	    "rule no-agent\n actors none\n principal person\n action allow\n"
	    "rule ci-reads\n actors ci-*\n kind select\n action allow\n"
	    "rule by-client\n actors pgward-ci\n kind insert\n action allow\n"
	    "rule by-actor-client\n actors ci-app\n kind update\n action allow\n"
	    "rule inner-actor\n actors deploy-svc\n action allow\n"
	    "rule agent-writes\n actors any\n kind delete\n action deny\n"
	    "rule anyone\n kind delete,truncate\n action allow\n", "p", 300);
	ck_assert_msg(r.error == NULL, "%s", r.error);
	const char *sel = "{\"kind\":\"select\"}", *ins = "{\"kind\":\"insert\"}",
	    *upd = "{\"kind\":\"update\"}", *del = "{\"kind\":\"delete\"}",
	    *trunc = "{\"kind\":\"truncate\"}", *ddl = "{\"kind\":\"ddl\"}";
	/* principal agent: only the machine identity */
	ck_assert_str_eq(pair_decide(r.policy, &machine, sel), "allow machines-read");
	ck_assert_str_eq(pair_decide(r.policy, &via_ci, sel), "allow ci-reads");
	/* actors none + principal person: a person in person; NULL is the same */
	ck_assert_str_eq(pair_decide(r.policy, &in_person, ddl), "allow no-agent");
	ck_assert_str_eq(pair_decide(r.policy, NULL, ddl), "allow no-agent");
	ck_assert_str_eq(pair_decide(r.policy, &machine, ddl), "deny default");
	/* LIST: the outermost actor's sub, its client_id, the token's client_id */
	ck_assert_str_eq(pair_decide(r.policy, &via_ci, ins), "allow by-client");
	ck_assert_str_eq(pair_decide(r.policy, &via_ci, upd), "allow by-actor-client");
	/* nested actors are for the record: deploy-svc authorizes nothing */
	ck_assert_str_eq(pair_decide(r.policy, &via_ci, ddl), "deny default");
	/* LIST needs an actor: the machine's own client_id does not match it */
	const struct principal m2 = { 1, 0, NULL, NULL, "pgward-ci" };
	ck_assert_str_eq(pair_decide(r.policy, &m2, ins), "deny default");
	/* actors any; a rule without the conditions matches regardless */
	ck_assert_str_eq(pair_decide(r.policy, &via_ci, del), "deny agent-writes");
	ck_assert_str_eq(pair_decide(r.policy, &machine, del), "allow anyone");
	ck_assert_str_eq(pair_decide(r.policy, &via_ci, trunc), "allow anyone");
	ck_assert_str_eq(pair_decide(r.policy, &machine, trunc), "allow anyone");
	rules_result_free(r);

	static const char *const bad[][2] = {
		{ "rule a\n principal robot\n action allow\n", "principal: expected person or agent" },
		{ "rule a\n principal person agent\n action allow\n", "principal: expected person or agent" },
		{ "rule a\n principal person\n principal agent\n action allow\n", "duplicate" },
		{ "rule a\n actors none,ci-bot\n action allow\n", "actors: none stands alone" },
		{ "rule a\n actors any ci-bot\n action allow\n", "actors: any stands alone" },
		{ "rule a\n actors\n action allow\n", "missing value" },
		{ "rule a\n action review\n approvers self,leads\n", "self stands alone" },
		{ "rule a\n action review\n approvers self\n approvals 2\n", "approvals must be 1" },
		{ "connect shop app groups g principal nobody\n", "principal: expected" },
		{ "connect shop app principal person\n", "name groups or users" },
		{ "record shop app rows 5 groups g actors\n", "actors: missing value" },
		{ "access shop app requestable-by g approvers self approvals 2 max-duration-s 60\n",
		  "approvals must be 1" },
		{ "access shop app requestable-by g approvers self,x max-duration-s 60\n",
		  "self stands alone" },
		{ "mask column public.t.c style redact principal any\n", "principal: expected" },
		{ "mask column public.t.c style redact actors none actors any\n", "duplicate" },
		{ "mask predicates review approvers self\n", "approvers self belongs to rule" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char text[400];
		snprintf(text, sizeof text, "default deny\n%s", bad[i][0]);
		r = rules_parse(text, "p", 300);
		ck_assert_msg(r.error != NULL && strstr(r.error, bad[i][1]) != NULL,
		    "%s: %s", bad[i][0], r.error ? r.error : "accepted");
		rules_result_free(r);
	}
}
END_TEST

START_TEST(pair_connect_record_mask_lines)
{
	struct rules_result r = rules_parse("default deny\n"
	    "connect shop app_write groups engineers principal person actors none\n"
	    "connect shop app_read groups engineers,agents actors any\n"
	    "connect shop app_read groups agents principal agent\n"
	    "record shop app_read rows 5 groups engineers actors ci-*\n"
	    "record shop app_read rows 2 groups engineers,agents\n"
	    "mask column public.customers.email style redact actors any\n"
	    "mask column public.customers.phone style redact principal agent\n"
	    "mask column public.customers.name style redact\n", "p", 300);
	ck_assert_msg(r.error == NULL, "%s", r.error);
	const char *eng[] = { "engineers" }, *agents[] = { "agents" };
	struct rule_identity bob = { "bob", eng, 1, "shop", "app_write", &in_person };
	ck_assert_int_eq(rules_connect_find(r.policy, &bob)->line, 2);
	bob.who = NULL;		/* an older relay: a person with no actor */
	ck_assert_int_eq(rules_connect_find(r.policy, &bob)->line, 2);
	bob.who = &via_ci;
	ck_assert_ptr_null(rules_connect_find(r.policy, &bob));
	bob.role = "app_read";
	ck_assert_int_eq(rules_connect_find(r.policy, &bob)->line, 3);
	ck_assert_int_eq(rules_record_rows(r.policy, &bob), 5);
	bob.who = &in_person;
	ck_assert_ptr_null(rules_connect_find(r.policy, &bob));
	struct rule_identity etl = { "svc-etl", agents, 1, "shop", "app_write", &machine };
	ck_assert_ptr_null(rules_connect_find(r.policy, &etl));
	etl.role = "app_read";
	ck_assert_int_eq(rules_connect_find(r.policy, &etl)->line, 4);
	ck_assert_int_eq(rules_record_rows(r.policy, &etl), 2);

	/* mask lines: the columns masked for each */
	const struct principal *whos[] = { &in_person, &via_ci, &machine };
	const char *want[] = { "name", "email,name", "phone,name" };
	for (int i = 0; i < 3; i++) {
		struct rule_identity id = { "x", eng, 1, "shop", "app_read", whos[i] };
		json_t *j;
		ck_assert_int_eq(rules_mask_json(r.policy, &id, &j), 0);
		ck_assert_ptr_nonnull(j);
		char got[100] = "";
		size_t k;
		json_t *c;
		json_array_foreach(json_object_get(j, "columns"), k, c)
			snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s",
			    k ? "," : "", json_string_value(json_object_get(c, "column")));
		ck_assert_str_eq(got, want[i]);
		json_decref(j);
	}
	/* every line, for provisioning */
	json_t *all;
	ck_assert_int_eq(rules_mask_json(r.policy, NULL, &all), 0);
	ck_assert_int_eq(json_array_size(json_object_get(all, "columns")), 3);
	json_decref(all);
	rules_result_free(r);
}
END_TEST

static json_t *
claims_of(const char *principal, const char *actor, const char *client)
{
	json_t *o = json_pack("{s:s, s:s*}", "principal", principal, "client_id", client);
	json_object_set_new(o, "actor", actor ? json_loads(actor, 0, NULL) : json_array());
	return o;
}

START_TEST(pair_review_self)
{
	struct review_store s;
	json_t *dropped;
	struct fake_audit a = { json_array(), 0 };
	char err[1024];
	ck_assert_int_eq(review_store_open(&s, state_dir, 600, T0, &dropped, err,
	    sizeof err), 0);
	json_decref(dropped);
	s.audit = fake_append;
	s.audit_ctx = &a;
	struct rules_result pr = rules_parse("default deny\nrule agent-writes\n actors any\n"
	    " action review\n approvers self\n timeout-s 60\n", "t", 300);
	ck_assert_msg(pr.error == NULL, "%s", pr.error);
	const struct rule *rule = &pr.policy->rules[0];
	ck_assert_int_eq(rule->approvers_self, 1);
	json_t *eng = groups_of("engineers"), *leads = groups_of("leads");
	json_t *cl_ci = claims_of("person", "[{\"sub\":\"ci-bot\",\"client_id\":\"ci-app\"},"
	    "{\"sub\":\"deploy-svc\"}]", "pgward-ci");
	struct principal p_ci;
	ck_assert_int_eq(principal_read(cl_ci, &p_ci, err, sizeof err), 0);
	ck_assert_str_eq(p_ci.actor_sub, "ci-bot");
	ck_assert_int_eq(p_ci.nactors, 2);

	/* nobody to approve: a person with no actor, an agent with no person */
	struct review_requester rq = { { "bob", eng, &in_person, NULL }, "s-1", "shop", "app" };
	ck_assert_ptr_null(review_create(&s, &rq, "delete from t", rule, T0, err, sizeof err));
	ck_assert(strstr(err, "no agent acts for you") != NULL);
	rq.p.who = &machine;
	ck_assert_ptr_null(review_create(&s, &rq, "delete from t", rule, T0, err, sizeof err));
	ck_assert(strstr(err, "no person behind it") != NULL);

	rq.p.who = &p_ci;
	rq.p.claims = cl_ci;
	json_t *r = review_create(&s, &rq, "delete from t where id = 1", rule, T0, err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	char id[64];
	snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r, "id")));
	ck_assert(json_is_true(json_object_get(r, "self")));
	/* the record carries the whole chain and the client */
	json_t *rec = json_array_get(a.records, json_array_size(a.records) - 1);
	ck_assert_str_eq(str(rec, "event"), "created");
	ck_assert_str_eq(str(rec, "principal"), "person");
	ck_assert_str_eq(str(rec, "client_id"), "pgward-ci");
	ck_assert_int_eq(json_array_size(json_object_get(rec, "actor")), 2);

	/* another person, even an approver of groups: no */
	struct review_party dan = { "dan", leads, &in_person, NULL };
	ck_assert_int_eq(review_decide(&s, id, &dan, 1, T0 + 1, err, sizeof err), -1);
	ck_assert(strstr(err, "is for bob to approve") != NULL);
	/* bob's agent (or any agent with bob's name): no */
	struct review_party bob_agent = { "bob", eng, &p_ci, cl_ci };
	ck_assert_int_eq(review_decide(&s, id, &bob_agent, 1, T0 + 1, err, sizeof err), -1);
	ck_assert(strstr(err, "an agent cannot approve for its person") != NULL);
	struct review_party bob_machine = { "bob", eng, &machine, NULL };
	ck_assert_int_eq(review_decide(&s, id, &bob_machine, 1, T0 + 1, err, sizeof err), -1);
	ck_assert(strstr(err, "an agent cannot approve") != NULL);
	ck_assert_int_eq(review_may_decide(review_get(&s, id), &bob_agent, NULL, 0), 0);
	/* bob in person: yes */
	json_t *cl_bob = claims_of("person", NULL, NULL);
	struct review_party bob = { "bob", eng, &in_person, cl_bob };
	ck_assert_int_eq(review_may_decide(review_get(&s, id), &bob, NULL, 0), 1);
	ck_assert_int_eq(review_decide(&s, id, &bob, 1, T0 + 2, err, sizeof err), 0);
	ck_assert_str_eq(str(review_get(&s, id), "status"), "approved");
	rec = json_array_get(a.records, json_array_size(a.records) - 1);
	ck_assert_str_eq(str(rec, "event"), "approved");
	ck_assert_str_eq(str(rec, "by"), "bob");
	ck_assert_str_eq(str(rec, "by_principal"), "person");
	ck_assert_int_eq(json_array_size(json_object_get(rec, "by_actor")), 0);
	ck_assert_int_eq(json_array_size(json_object_get(rec, "actor")), 2);

	/* an ordinary review keeps the own-approval ban, for the person too */
	rules_result_free(pr);
	const struct rule *plain = review_rule(&pr, 1);
	r = review_create(&s, &rq, "create table t2 (a int)", plain, T0, err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r, "id")));
	struct review_party bob_lead = { "bob", leads, &in_person, cl_bob };
	ck_assert_int_eq(review_decide(&s, id, &bob_lead, 1, T0 + 1, err, sizeof err), -1);
	ck_assert(strstr(err, "your own request") != NULL);
	ck_assert_int_eq(review_decide(&s, id, &dan, 1, T0 + 1, err, sizeof err), 0);
	rules_result_free(pr);
	json_decref(cl_bob);
	json_decref(cl_ci);
	json_decref(eng);
	json_decref(leads);
	json_decref(a.records);
	review_store_close(&s);
}
END_TEST

START_TEST(pair_access_self)
{
	struct review_store s;
	json_t *dropped;
	struct fake_audit a = { json_array(), 0 };
	char err[1024];
	ck_assert_int_eq(review_store_open(&s, state_dir, 600, T0, &dropped, err,
	    sizeof err), 0);
	json_decref(dropped);
	s.audit = fake_append;
	s.audit_ctx = &a;
	struct rules_result pr = rules_parse("default deny\n"
	    "access shop app_write requestable-by engineers actors any approvers self "
	    "max-duration-s 600\n"
	    "access shop app_write requestable-by engineers principal person actors none "
	    "approvers leads max-duration-s 600\n", "t", 300);
	ck_assert_msg(pr.error == NULL, "%s", pr.error);
	const char *g[] = { "engineers" };
	struct rule_identity id = { "bob", g, 1, "shop", "app_write", &via_ci };
	const struct rule_access *ac = rules_access_find(pr.policy, &id, "shop", "app_write");
	ck_assert_int_eq(ac->line, 2);
	ck_assert_int_eq(ac->approvers_self, 1);
	id.who = &in_person;
	ck_assert_int_eq(rules_access_find(pr.policy, &id, "shop", "app_write")->line, 3);
	id.who = &machine;
	ck_assert_ptr_null(rules_access_find(pr.policy, &id, "shop", "app_write"));

	json_t *eng = groups_of("engineers");
	json_t *cl_ci = claims_of("person", "[{\"sub\":\"ci-bot\"}]", NULL);
	struct principal p_ci;
	ck_assert_int_eq(principal_read(cl_ci, &p_ci, err, sizeof err), 0);
	struct review_requester rq = { { "bob", eng, &p_ci, cl_ci }, NULL, "shop", "app_write" };
	json_t *e = access_create(&s, &rq, 100, "deploy", ac, 3600, T0, err, sizeof err);
	ck_assert_msg(e != NULL, "%s", err);
	char aid[64];
	snprintf(aid, sizeof aid, "%s", str(e, "id"));
	ck_assert_str_eq(str(json_array_get(a.records, json_array_size(a.records) - 1),
	    "principal"), "person");
	struct review_party agent = { "bob", eng, &p_ci, cl_ci };
	ck_assert_int_eq(access_decide(&s, aid, &agent, 1, T0 + 1, err, sizeof err), -1);
	struct review_party dan = { "dan", groups_of("leads"), &in_person, NULL };
	ck_assert_int_eq(access_decide(&s, aid, &dan, 1, T0 + 1, err, sizeof err), -1);
	json_decref(dan.groups);
	struct review_party bob = { "bob", eng, &in_person, NULL };
	ck_assert_int_eq(access_decide(&s, aid, &bob, 1, T0 + 2, err, sizeof err), 0);
	ck_assert_str_eq(str(access_get(&s, aid), "status"), "granted");
	/* the grant admits the pair that asked: bob with ci-bot, not bob alone */
	ck_assert_str_eq(access_active(&s, "bob", &p_ci, "shop", "app_write", T0 + 3), aid);
	ck_assert_ptr_null(access_active(&s, "bob", &in_person, "shop", "app_write", T0 + 3));
	ck_assert_ptr_null(access_active(&s, "bob", NULL, "shop", "app_write", T0 + 3));
	const struct principal other = { 0, 1, "other-bot", NULL, NULL };
	ck_assert_ptr_null(access_active(&s, "bob", &other, "shop", "app_write", T0 + 3));
	/* approvers self for someone no agent acts for: refused */
	rq.p.who = &in_person;
	rq.p.claims = NULL;
	ck_assert_ptr_null(access_create(&s, &rq, 100, "x", ac, 3600, T0, err, sizeof err));
	rules_result_free(pr);
	json_decref(cl_ci);
	json_decref(eng);
	json_decref(a.records);
	review_store_close(&s);
}
END_TEST

static json_t *
fake_verify_pair(void *ctx, const char *token, char *err, size_t errlen)
{
	if (strcmp(token, "tok-bob-agent") == 0)
		return json_pack("{s:s, s:[s], s:s, s:[{s:s}], s:s}", "user", "bob",
		    "groups", "engineers", "principal", "person", "actor", "sub", "ci-bot",
		    "client_id", "pgward-ci");
	if (strcmp(token, "tok-bob-bad") == 0)
		return json_pack("{s:s, s:[s], s:s}", "user", "bob", "groups", "engineers",
		    "principal", "robot");
	if (strcmp(token, "tok-bob-person") == 0)
		return json_pack("{s:s, s:[s], s:s, s:[]}", "user", "bob", "groups",
		    "engineers", "principal", "person", "actor");
	return fake_verify(ctx, token, err, errlen);
}

START_TEST(pair_service)
{
	write_file(policy_path, "default deny\n"
	    "connect shop app groups engineers principal person\n"
	    "rule agents-read\n actors any\n kind select\n action allow\n"
	    "rule agent-writes\n actors any\n kind insert,update,delete\n action review\n"
	    " approvers self\n"
	    "rule people\n principal person\n actors none\n action allow\n");
	struct filter_service s;
	svc_audit.records = json_array();
	svc_audit.fail = 0;
	svc_open(&s, T0);
	s.verify = fake_verify_pair;
	/* an older relay: a person with no actor */
	json_t *r = call(&s, "{s:s, s:s, s:[s], s:s, s:s, s:s}", "op", "decide", "user",
	    "bob", "groups", "engineers", "connection", "shop", "role", "app", "sql",
	    "delete from t where id = 1");
	ck_assert_str_eq(str(r, "rule"), "people");
	json_decref(r);
	r = call(&s, "{s:s, s:s, s:[s], s:s, s:s, s:[], s:s}", "op", "connect",
	    "user", "svc", "groups", "engineers", "connection", "shop", "role", "app",
	    "actor", "principal", "agent");
	ck_assert_str_eq(str(r, "decision"), "deny");
	json_decref(r);
	/* malformed: an error reply */
	r = call(&s, "{s:s, s:s, s:[s], s:s, s:s, s:s}", "op", "connect", "user",
	    "bob", "groups", "engineers", "connection", "shop", "role", "app",
	    "principal", "robot");
	ck_assert(json_is_false(json_object_get(r, "ok")));
	json_decref(r);
	r = call(&s, "{s:s, s:s, s:[s], s:s, s:s, s:[s]}", "op", "connect", "user",
	    "bob", "groups", "engineers", "connection", "shop", "role", "app",
	    "actor", "ci-bot");
	ck_assert(json_is_false(json_object_get(r, "ok")));
	json_decref(r);
	/* bob's agent: reads, and its write waits for bob */
	const char *fmt = "{s:s, s:s, s:[s], s:s, s:s, s:s, s:s, s:[{s:s}], s:s, s:s}";
	r = call(&s, fmt, "op", "decide", "user", "bob", "groups", "engineers",
	    "connection", "shop", "role", "app", "session", "s9", "principal", "person",
	    "actor", "sub", "ci-bot", "client_id", "pgward-ci", "sql", "select 1");
	ck_assert_str_eq(str(r, "rule"), "agents-read");
	json_decref(r);
	r = call(&s, fmt, "op", "decide", "user", "bob", "groups", "engineers",
	    "connection", "shop", "role", "app", "session", "s9", "principal", "person",
	    "actor", "sub", "ci-bot", "client_id", "pgward-ci", "sql",
	    "update t set a = 1 where id = 2");
	ck_assert_str_eq(str(r, "decision"), "review");
	char id[64];
	snprintf(id, sizeof id, "%s", str(json_object_get(r, "review"), "id"));
	json_decref(r);
	json_t *rec = json_array_get(svc_audit.records, json_array_size(svc_audit.records) - 1);
	ck_assert_str_eq(str(rec, "client_id"), "pgward-ci");
	ck_assert_str_eq(str(json_array_get(json_object_get(rec, "actor"), 0), "sub"), "ci-bot");
	/* the agent's own token cannot approve; a malformed answer is refused */
	r = call(&s, "{s:s, s:s, s:s}", "op", "review_approve", "token", "tok-bob-agent",
	    "id", id);
	ck_assert(strstr(str(r, "error"), "an agent cannot approve") != NULL);
	json_decref(r);
	r = call(&s, "{s:s, s:s, s:s}", "op", "review_approve", "token", "tok-bob-bad",
	    "id", id);
	ck_assert(strstr(str(r, "error"), "malformed principal") != NULL);
	json_decref(r);
	/* dan sees nothing to decide; bob in person may, and does */
	r = call(&s, "{s:s, s:s}", "op", "review_list", "token", "tok-dan");
	ck_assert_int_eq(json_array_size(json_object_get(r, "reviews")), 0);
	json_decref(r);
	r = call(&s, "{s:s, s:s}", "op", "review_list", "token", "tok-bob-person");
	ck_assert(json_is_true(json_object_get(json_array_get(json_object_get(r, "reviews"),
	    0), "can_decide")));
	json_decref(r);
	r = call(&s, "{s:s, s:s, s:s}", "op", "review_approve", "token", "tok-bob-person",
	    "id", id);
	ck_assert_str_eq(str(r, "status"), "approved");
	json_decref(r);
	rec = json_array_get(svc_audit.records, json_array_size(svc_audit.records) - 1);
	ck_assert_str_eq(str(rec, "by"), "bob");
	ck_assert_int_eq(json_array_size(json_object_get(rec, "by_actor")), 0);
	ck_assert_str_eq(str(json_array_get(json_object_get(rec, "actor"), 0), "sub"), "ci-bot");
	filter_service_close(&s);
	json_decref(svc_audit.records);
}
END_TEST

static Suite *
filter_suite(void)
{
	Suite *s = suite_create("filter");
	TCase *t = tcase_create("filter");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, review_state_machine);
	tcase_add_test(t, review_expiry_and_persistence);
	tcase_add_test(t, grants_expire);
	tcase_add_test(t, generation_file);
	tcase_add_test(t, service_protocol);
	tcase_add_test(t, check_command);
	tcase_add_loop_test(t, gateway_refuses, 0, sizeof gateway_leaks / sizeof *gateway_leaks);
	tcase_add_test(t, gateway_allows);
	tcase_add_test(t, gateway_message_and_modes);
	tcase_add_test(t, decide_merge_and_views);
	tcase_add_test(t, decide_masked_names_the_column);
	tcase_add_test(t, max_rows);
	tcase_add_test(t, pair_rule_conditions);
	tcase_add_test(t, pair_connect_record_mask_lines);
	tcase_add_test(t, pair_review_self);
	tcase_add_test(t, pair_access_self);
	tcase_add_test(t, pair_service);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(filter_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
