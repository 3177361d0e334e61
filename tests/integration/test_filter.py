"""pgward-filter enforced by the relay, against a real server: a bypass
suite (each case asserts the decision and that a denied statement did not
run), the identity stamp, transaction semantics of a denial, policy reload
with cached decisions, and the review flow with a second person."""

import os
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import psycopg2
import psycopg2.errors

import pgward_env
from pgward_testing import HeldStatementMixin, TimedTestCase

POLICY = """
default deny

connect shop app_read  groups analysts,engineers,dba-leads
connect shop app_write groups engineers,dba-leads

rule no-unbounded-writes
  kind update,delete
  where none,trivial
  action deny
  message "UPDATE/DELETE need a WHERE clause"

rule opaque-denied
  opaque yes
  action deny

rule ddl-needs-review
  kind ddl
  groups engineers
  action review
  approvers dba-leads
  approvals 1
  timeout-s %(timeout)d

rule reads
  kind select,show,set,reset,transaction,explain,prepare,execute,deallocate
  action allow

rule writes-by-engineers
  groups engineers
  kind insert,update,delete,merge,do,copy-from,copy-to
  tables victims, public.victims
  action allow

rule writes-with-a-grant
  groups analysts
  roles app_write
  kind insert,update,delete
  tables victims
  action allow

access shop app_write requestable-by analysts approvers dba-leads max-duration-s 600
"""

suite = None
filt = None
relay = None
USERS = {"alice": ["analysts"], "bob": ["engineers"], "dave": ["dba-leads"],
         "erin": ["dba-leads"], "carol": ["nobody"]}


def policy(timeout=30):
    return POLICY % {"timeout": timeout}


def setUpModule():
    global suite, filt, relay
    suite = pgward_env.Suite(pgbench=False, start_relay=False).start()
    suite.users.update(USERS)
    filt = pgward_env.Filter(suite.auth, policy(), logd=suite.logd).start()
    relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd, filter=filt).start()
    suite.cluster.psql(
        "create table victims(id int primary key, v text);"
        "grant select, insert, update, delete on victims to app_write;"
        "grant select on victims to app_read;"
        "grant create on schema public to app_write;", db="shop")


def tearDownModule():
    for d in (relay, filt):
        if d is not None:
            d.stop()
    if suite is not None:
        suite.stop()


def count_victims():
    return int(suite.cluster.psql("select count(*) from victims", db="shop",
                                  args=("-At",)).strip())


class FilterTestCase(TimedTestCase):
    test_timeout = 90

    def watchdog_targets(self):
        return [relay, filt, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return relay

    def setUp(self):
        super().setUp()
        suite.cluster.psql("truncate victims; insert into victims "
                           "select g, 'row ' || g from generate_series(1, 10) g", db="shop")

    def connect(self, user="bob", role="app_write", autocommit=True):
        c = psycopg2.connect(relay.dsn(suite.token(user), role=role))
        c.autocommit = autocommit
        self.addCleanup(c.close)
        return c

    def assertDenied(self, sql, user="bob", role="app_write", rule=None):
        c = self.connect(user, role)
        with self.assertRaises(psycopg2.Error) as cm:
            c.cursor().execute(sql)
        self.assertEqual(cm.exception.pgcode, "42501", str(cm.exception))
        self.assertIn("denied by rule", str(cm.exception))
        if rule is not None:
            self.assertIn('"%s"' % rule, str(cm.exception))
        self.assertEqual(count_victims(), 10, "a denied statement ran: " + sql)
        return str(cm.exception)


class BypassTest(FilterTestCase):
    def test_delete_without_where(self):
        self.assertDenied("delete from victims", rule="no-unbounded-writes")

    def test_comments_case_whitespace(self):
        self.assertDenied("/* harmless */ dElEtE\n\t  FROM -- no where\n victims  ;")

    def test_inside_multi_statement_string(self):
        self.assertDenied("select 1; delete from victims; select 2")

    def test_data_modifying_cte(self):
        self.assertDenied("with d as (delete from victims returning *) select count(*) from d")

    def test_do_block(self):
        self.assertDenied("do $$ begin delete from victims; end $$")

    def test_do_block_dynamic_execute_is_opaque(self):
        self.assertDenied("do $$ begin execute 'delete from ' || 'victims'; end $$",
                          rule="opaque-denied")

    def test_prepare_execute(self):
        self.assertDenied("prepare p as delete from victims")

    def test_explain_analyze(self):
        self.assertDenied("explain analyze delete from victims")

    def test_trivial_where(self):
        for where in ("true", "1=1", "'a' = 'a'", "not false", "id > 0 or true"):
            self.assertDenied("delete from victims where " + where)
            self.assertDenied("update victims set v = 'x' where " + where)

    def test_merge_when_matched_delete(self):
        # Each WHEN action is a delete/update fact on the target: ON true
        # with no WHEN condition is a trivial WHERE.
        for sql in ("merge into victims v using (select 1) s on true when matched then delete",
                    "merge into victims v using (select 1 as id) s on v.id = v.id "
                    "when matched then update set v = 'x'",
                    "merge into victims v using (select 1) s on 1 = 1 "
                    "when matched and true then delete"):
            self.assertDenied(sql, rule="no-unbounded-writes")
        c = self.connect()
        c.cursor().execute("merge into victims v using (select 3 as id) s on v.id = s.id "
                           "when matched then delete")
        self.assertEqual(count_victims(), 9)

    def test_temp_view_in_the_same_string(self):
        self.assertDenied("create temp view ov as select * from victims; delete from ov",
                          rule="no-unbounded-writes")
        self.assertDenied("delete from victims where id = id", rule="no-unbounded-writes")
        self.assertDenied("delete from victims where id is null or id is not null",
                          rule="no-unbounded-writes")

    def test_real_where_allowed(self):
        c = self.connect()
        c.cursor().execute("delete from victims where id = 3")
        self.assertEqual(count_victims(), 9)

    def test_extended_protocol(self):
        script = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
        self.addCleanup(os.unlink, script.name)
        script.write("delete from victims;\n")
        script.close()
        env = pgward_env.clean_pg_env()
        env["PGPASSWORD"] = suite.token("bob")
        dsn = "host=127.0.0.1 port=%d sslmode=require dbname=shop user=app_write" % relay.port
        for mode in ("extended", "prepared"):
            p = subprocess.run(["pgbench", "-n", "-M", mode, "-t", "1", "-f", script.name, dsn],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, timeout=60)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("denied by rule", p.stderr)
            self.assertEqual(count_victims(), 10, "mode " + mode)

    def test_ddl_by_group_that_may_not(self):
        self.assertDenied("create table t_alice(i int)", user="alice", role="app_read")

    def test_write_by_read_only_group(self):
        self.assertDenied("insert into victims values (99, 'x')", user="alice", role="app_read")

    def test_identity_stamp_cannot_be_changed(self):
        for sql in ("set pgward.\"user\" = 'mallory'", "SET SESSION \"pgward.user\" TO mallory",
                    "select set_config('pgward.user', 'mallory', false)",
                    "reset pgward.session", "set local \"PGWARD.user\" = 'x'"):
            msg = self.assertDenied(sql, user="alice", role="app_read")
            self.assertIn("builtin:identity-stamp", msg)
        c = self.connect("alice", "app_read")
        cur = c.cursor()
        cur.execute("select current_setting('pgward.user')")
        self.assertEqual(cur.fetchone()[0], "alice")

    def test_denied_statement_fails_the_transaction(self):
        c = self.connect(autocommit=False)
        cur = c.cursor()
        cur.execute("insert into victims values (100, 'in txn')")
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("delete from victims")
        self.assertEqual(cm.exception.pgcode, "42501")
        with self.assertRaises(psycopg2.errors.InFailedSqlTransaction):
            cur.execute("select 1")
        c.commit()	# COMMIT of a failed block rolls back
        self.assertEqual(count_victims(), 10)
        self.assertEqual(int(suite.cluster.psql("select count(*) from victims where id = 100",
                                                db="shop", args=("-At",)).strip()), 0)

    def test_cache_never_reuses_a_decision_for_different_facts(self):
        c = self.connect()
        cur = c.cursor()
        for i in range(3):	# allowed; decided once, then cached by shape
            cur.execute("update victims set v = 'x' where id = %d" % (i + 1))
        for sql in ("update victims set v = 'x' where 1 = 1",
                    "update victims set v = 'x' where id = 1 or true",
                    "update victims set v = 'x'"):
            with self.assertRaises(psycopg2.Error) as cm:
                cur.execute(sql)
            self.assertEqual(cm.exception.pgcode, "42501", sql)
        cur.execute("select count(*) from victims where v = 'x'")
        self.assertEqual(cur.fetchone()[0], 3)

    def test_denial_is_audited(self):
        c = self.connect()
        with self.assertRaises(psycopg2.Error):
            c.cursor().execute("delete from victims -- audited")
        recs = [r for r in suite.logd.records("intent")
                if r.get("sql") == "delete from victims -- audited"]
        self.assertEqual(len(recs), 1)
        self.assertEqual(recs[0]["decision"], "deny")
        self.assertEqual(recs[0]["rule"], "no-unbounded-writes")

    def test_wrong_role_refused_by_policy(self):
        with self.assertRaises(psycopg2.OperationalError) as cm:
            psycopg2.connect(relay.dsn(suite.token("alice"), role="app_write"))
        self.assertIn("may not assume role", str(cm.exception))

    def test_filter_down_fails_closed(self):
        c = self.connect()
        filt.terminate()
        try:
            with self.assertRaises(psycopg2.Error) as cm:
                c.cursor().execute("insert into victims values (200, 'filter down')")
            self.assertEqual(cm.exception.pgcode, "58000")
        finally:
            filt.proc = None
            filt.start()
        self.assertEqual(count_victims(), 10)


VIEWS_POLICY = """
default deny
connect shop app_write groups engineers

rule victims-need-where
  kind delete,update
  tables victims
  where none,trivial
  action deny

rule ddl
  groups engineers
  kind ddl
  action allow

rule writes
  groups engineers
  kind select,insert,update,delete
  action allow
"""


class ViewsAndRulesTest(FilterTestCase):
    """Writes through a view or a rule are decided as writes of the tables
    behind them: the relay reads the views and rules from the catalog (at
    login and after DDL in the session) and sends them with each decide
    request. Without that, `delete from victims_view` would pass the rule
    about victims through the broad allow rule."""

    @classmethod
    def setUpClass(cls):
        suite.cluster.psql(
            "create view victims_view as select * from victims;"
            "create view victims_view2 as select * from victims_view;"
            "create table decoy(id int);"
            "create rule decoy_delete as on delete to decoy do instead delete from victims;"
            "grant select, delete, update on victims_view, victims_view2, decoy to app_write;",
            db="shop")
        cls.filt = pgward_env.Filter(suite.auth, VIEWS_POLICY, logd=suite.logd).start()
        cls.relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd,
                                     filter=cls.filt).start()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()
        cls.filt.stop()
        suite.cluster.psql("drop view victims_view2; drop view victims_view; drop table decoy",
                           db="shop")

    def watchdog_targets(self):
        return [self.relay, self.filt, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return self.relay

    def cursor(self):
        c = psycopg2.connect(self.relay.dsn(suite.token("bob"), role="app_write"))
        c.autocommit = True
        self.addCleanup(c.close)
        return c.cursor()

    def denied(self, cur, sql):
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute(sql)
        self.assertEqual(cm.exception.pgcode, "42501", str(cm.exception))
        self.assertIn('"victims-need-where"', str(cm.exception))
        self.assertEqual(count_victims(), 10, "a denied statement ran: " + sql)

    def test_view_and_view_of_a_view(self):
        cur = self.cursor()
        self.denied(cur, "delete from victims_view")
        self.denied(cur, "delete from public.victims_view2")
        self.denied(cur, "update victims_view2 set v = 'x' where true")
        cur.execute("delete from victims_view where id = 3")
        self.assertEqual(count_victims(), 9)

    def test_rule_redirecting_a_delete(self):
        self.denied(self.cursor(), "delete from decoy")

    def test_view_created_earlier_in_the_session(self):
        cur = self.cursor()
        cur.execute("create temp view mine as select * from victims")
        self.denied(cur, "delete from mine")
        self.denied(cur, "delete from pg_temp.mine")
        # The same text is decided again once mine is a table of its own.
        cur.execute("drop view mine")
        cur.execute("create temp table mine(id int)")
        cur.execute("delete from mine")
        self.assertEqual(count_victims(), 10)


class AccessRequestTest(FilterTestCase):
    def test_just_in_time_grant(self):
        # alice (analysts) may not assume app_write...
        with self.assertRaises(psycopg2.OperationalError):
            psycopg2.connect(relay.dsn(suite.token("alice"), role="app_write"))
        # ...until she asks and someone else grants it, for a few seconds.
        r = filt.cli(["access", "request", "shop", "app_write", "4", "fix", "ticket", "42"],
                     token=suite.token("alice"))
        self.assertEqual(r.returncode, 0, r.stderr)
        aid = next(w for w in r.stdout.split() if w.startswith("a-"))
        r = filt.cli(["access", "grant", aid], token=suite.token("alice"))
        self.assertNotEqual(r.returncode, 0, "self-grant must be refused")
        r = filt.cli(["access", "grant", aid], token=suite.token("dave"))
        self.assertEqual(r.returncode, 0, r.stderr)
        c = psycopg2.connect(relay.dsn(suite.token("alice"), role="app_write"))
        self.addCleanup(c.close)
        c.autocommit = True
        c.cursor().execute("update victims set v = 'granted' where id = 1")
        time.sleep(4.5)
        with self.assertRaises(psycopg2.Error) as cm:
            c.cursor().execute("update victims set v = 'too late' where id = 2")
        out = suite.cluster.psql("select count(*) from victims where v = 'too late'", db="shop",
                                 args=("-At",))
        self.assertEqual(out.strip(), "0")
        with self.assertRaises(psycopg2.OperationalError):
            psycopg2.connect(relay.dsn(suite.token("alice"), role="app_write"))
        steps = [r for r in suite.logd.records() if aid in str(r)]
        self.assertTrue(any("dave" in str(r) for r in steps), steps)
        self.assertIn("access grant expired", relay.stderr_text())


class PolicyCheckTest(FilterTestCase):
    def test_check_command_decides_like_the_relay(self):
        lines = "\n".join([
            '{"user":"bob","groups":["engineers"],"connection":"shop","role":"app_write",'
            '"sql":"delete from victims"}',
            '{"user":"bob","groups":["engineers"],"connection":"shop","role":"app_write",'
            '"sql":"delete from victims where id = 1"}',
            '{"user":"alice","groups":["analysts"],"connection":"shop","role":"app_read",'
            '"sql":"set pgward.session = 1"}']) + "\n"
        p = subprocess.run([filt.exe, "-p", filt.policy_path, "check"], input=lines,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = [__import__("json").loads(l) for l in p.stdout.splitlines()]
        self.assertEqual([o["decision"] for o in out], ["deny", "allow", "deny"])
        self.assertEqual(out[0]["rule"], "no-unbounded-writes")
        self.assertEqual(out[2]["rule"], "builtin:identity-stamp")


class ReloadTest(FilterTestCase):
    def test_reload_applies_to_cached_and_prepared_statements(self):
        c = self.connect()
        cur = c.cursor()
        for i in range(3):	# decided once, then from the cache
            cur.execute("update victims set v = 'a' where id = %s", (i + 1,))
        stricter = policy().replace("  kind insert,update,delete,merge,do,copy-from,copy-to",
                                    "  kind insert,delete,do,copy-from,copy-to")
        self.assertNotEqual(stricter, policy())
        filt.set_policy(stricter, wait=True)
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("update victims set v = 'b' where id = %s", (1,))
        self.assertEqual(cm.exception.pgcode, "42501")
        # A broken policy is refused and the running one kept.
        gen = open(filt.generation_file).read()
        off = filt.stderr_size()
        filt.set_policy("this is not a policy\n")
        time.sleep(0.5)
        self.assertEqual(open(filt.generation_file).read(), gen)
        self.assertIn("policy", filt.stderr_text(off))
        c2 = self.connect()
        with self.assertRaises(psycopg2.Error):
            c2.cursor().execute("update victims set v = 'c' where id = 1")
        filt.set_policy(policy())
        time.sleep(0.5)
        c2.cursor().execute("update victims set v = 'd' where id = 1")


class ReviewTest(HeldStatementMixin, FilterTestCase):
    """Held statements run in psql, which prints a NOTICE as soon as it
    arrives (psycopg2 only shows notices after the statement ends)."""

    def held_statement(self, sql, user="bob", role="app_write"):
        return self.held_psql(relay.dsn(suite.token(user), role=role), sql)

    def test_approved_by_second_person(self):
        p = self.held_statement("create table reviewed_ok(i int)")
        rid = self.wait_review_id(p)
        self.assertIn("to be approved by a member of dba-leads", self.notice)
        self.assertIsNone(p.poll(), "the statement waits for the review")
        # Self-approval and approval by someone outside the approver group fail.
        r = filt.cli(["review", "approve", rid], token=suite.token("bob"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("own", r.stderr)
        r = filt.cli(["review", "approve", rid], token=suite.token("alice"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIsNone(p.poll(), "a refused approval does not release the statement")
        r = filt.cli(["review", "list"], token=suite.token("dave"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(rid, r.stdout)
        r = filt.cli(["review", "approve", rid], token=suite.token("dave"))
        self.assertEqual(r.returncode, 0, r.stderr)
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("CREATE TABLE", out)
        exists = suite.cluster.psql("select to_regclass('reviewed_ok') is not null", db="shop",
                                    args=("-At",))
        self.assertEqual(exists.strip(), "t")
        intents = [r for r in suite.logd.records("intent")
                   if r.get("sql") == "create table reviewed_ok(i int)"]
        self.assertEqual(intents[-1]["decision"], "review")
        self.assertEqual(intents[-1]["review"], rid)
        steps = [r for r in suite.logd.records() if rid in str(r) and r["type"] != "intent"]
        self.assertTrue(any("dave" in str(r) for r in steps), steps)
        self.assertTrue(any("bob" in str(r) for r in steps), steps)

    def test_denied_by_approver(self):
        p = self.held_statement("create table reviewed_no(i int)")
        rid = self.wait_review_id(p)
        r = filt.cli(["review", "deny", rid], token=suite.token("erin"))
        self.assertEqual(r.returncode, 0, r.stderr)
        out, err = p.communicate(timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("denied in review", err)
        gone = suite.cluster.psql("select to_regclass('reviewed_no') is null", db="shop",
                                  args=("-At",))
        self.assertEqual(gone.strip(), "t")

    def set_policy_and_wait(self, text):
        filt.set_policy(text, wait=True)

    def test_review_times_out(self):
        self.set_policy_and_wait(policy(timeout=2))
        self.addCleanup(self.set_policy_and_wait, policy())
        p = self.held_statement("create table reviewed_late(i int)")
        self.wait_review_id(p)
        out, err = p.communicate(timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not approved in time", err)

    def test_merge_held_for_review(self):
        # The same MERGE under a review rule: held, then denied, nothing ran.
        review = policy().replace(
            "rule no-unbounded-writes\n  kind update,delete\n  where none,trivial\n  action deny\n",
            "rule no-unbounded-writes\n  kind update,delete\n  where none,trivial\n"
            "  action review\n  approvers dba-leads\n")
        self.assertNotEqual(review, policy())
        self.set_policy_and_wait(review)
        self.addCleanup(self.set_policy_and_wait, policy())
        p = self.held_statement(
            "merge into victims v using (select 1) s on true when matched then delete")
        rid = self.wait_review_id(p)
        self.assertEqual(count_victims(), 10)
        r = filt.cli(["review", "deny", rid], token=suite.token("erin"))
        self.assertEqual(r.returncode, 0, r.stderr)
        out, err = p.communicate(timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("denied in review", err)
        self.assertEqual(count_victims(), 10)

    def test_cancel_ends_the_wait(self):
        p = self.held_statement("create table reviewed_cancel(i int)")
        self.wait_review_id(p)
        t0 = time.time()
        p.send_signal(signal.SIGINT)	# psql sends a CancelRequest
        out, err = p.communicate(timeout=10)
        self.assertLess(time.time() - t0, 3)
        self.assertIn("canceling statement due to user request", err)


if __name__ == "__main__":
    unittest.main()
