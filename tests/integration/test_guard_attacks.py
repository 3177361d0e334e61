"""Attacks on the row guard (policy max-rows) and on the filter's facts for
destructive writes, as a hostile but authenticated user: ordinary SQL
through psycopg2 and raw protocol messages (tests/lib/pgward_wire.py).
Each case asserts that the guarded table is unchanged, or that the
statement is refused with its SQLSTATE and reason. Confirmed limits are
expected failures with the reason in a comment (docs/policy.md, "Row
limits")."""

import time
import unittest

import psycopg2

import pgward_env
from pgward_testing import TimedTestCase
from pgward_wire import Wire, bind, error_fields, execute, parse, query, sync

LIMIT = 3
POLICY = """
default deny
connect shop app_write groups engineers

rule opaque-denied
  opaque yes
  action deny

rule guarded-delete
  kind delete
  tables victims
  max-rows %(limit)d
  action allow

rule guarded-update
  kind update,merge
  tables victims
  max-rows %(limit)d
  action allow

rule no-unbounded-writes
  kind update,delete
  where none,trivial
  action deny
  message "UPDATE/DELETE need a WHERE clause"

rule rest
  action allow
""" % {"limit": LIMIT}

suite = None
filt = None
relay = None
UNTOUCHED = {i: 0 for i in range(1, 11)}


def setUpModule():
    global suite, filt, relay
    suite = pgward_env.Suite(pgbench=False, start_relay=False).start()
    suite.users.update({"bob": ["engineers"]})
    filt = pgward_env.Filter(suite.auth, POLICY, logd=suite.logd).start()
    relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd, filter=filt).start()
    suite.cluster.psql(
        "create table victims(id int primary key, n int not null default 0);"
        "create table source(id int primary key);"
        "create table scratch(id int);"
        "create schema hidden;"
        "create view hidden.hv as select * from public.victims;"
        "grant usage on schema hidden to app_write;"
        "grant select, insert, update, delete on victims, source, scratch, hidden.hv "
        "to app_write;", db="shop")


def tearDownModule():
    for d in (relay, filt):
        if d is not None:
            d.stop()
    if suite is not None:
        suite.stop()


def table():
    out = suite.cluster.psql("select id, n from victims order by id", db="shop",
                             args=("-At", "-F", " "))
    return {int(a): int(b) for a, b in (line.split() for line in out.split("\n") if line)}


def answers(w, count=1):
    out = []
    for _ in range(count):
        for kind, b in w.until_ready():
            if kind == b"E":
                b = error_fields(b)
            elif kind == b"C":
                b = b.rstrip(b"\0").decode()
            out.append((kind, b))
    return out


def kinds(responses):
    return b"".join(k for k, _ in responses)


def sqlstates(responses):
    return [b["C"] for k, b in responses if k == b"E"]


class AttackCase(TimedTestCase):
    test_timeout = 60

    def watchdog_targets(self):
        return [relay, filt, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return relay

    def setUp(self):
        super().setUp()
        suite.cluster.psql("truncate victims, source, scratch; insert into victims(id) "
                           "select generate_series(1, 10); insert into source "
                           "select generate_series(1, 10)", db="shop")

    def connect(self, autocommit=True):
        c = psycopg2.connect(relay.dsn(suite.token("bob"), role="app_write"))
        c.autocommit = autocommit
        self.addCleanup(c.close)
        return c

    def wire(self):
        w = Wire.connect(relay.port, suite.token("bob"), user="app_write")
        self.addCleanup(w.t.close)
        return w

    def run_sql(self, cur, sql):
        """None when it ran, else the SQLSTATE and message."""
        try:
            cur.execute(sql)
            return None
        except psycopg2.Error as e:
            if not cur.connection.autocommit:
                cur.connection.rollback()
            return (e.pgcode, str(e))

    def setup_sql(self, cur, *stmts):
        for s in stmts:
            cur.execute(s)

    def assertRefused(self, cur, sql, sqlstate, text):
        got = self.run_sql(cur, sql)
        self.assertIsNotNone(got, "ran: " + sql)
        self.assertEqual(got[0], sqlstate, "%s: %s" % (sql, got[1]))
        self.assertIn(text, got[1], sql)

    def assertOverLimit(self, cur, sql):
        self.assertRefused(cur, sql, "54000", "the limit is %d" % LIMIT)

    def assertUntouched(self, why=""):
        self.assertEqual(table(), UNTOUCHED, why)


class SyntaxAttacks(AttackCase):
    def test_spellings_of_the_name(self):
        # Quoting, case, unicode escapes, database and schema prefixes,
        # ONLY, aliases, comments, a trailing semicolon: the same table.
        cur = self.connect().cursor()
        for sql in ("DELETE FROM VICTIMS",
                    'delete from "victims"',
                    'delete from public."victims"',
                    'delete from U&"\\0076ictims"',
                    'delete from U&"!0076ictims" UESCAPE \'!\'',
                    "delete from shop.public.victims",
                    "delete from only victims",
                    "delete from victims * where true",
                    "delete /* x */ from -- y\n victims v where v.id > 0",
                    "delete from victims where id in (select id from victims);",
                    "update victims set n = 1 where id = id",
                    "update only public.victims v set n = v.n + 1 where v.id is not null"):
            self.assertOverLimit(cur, sql)
        self.assertUntouched()

    def test_multi_statement_strings(self):
        cur = self.connect().cursor()
        for sql in ("select 1; delete from victims where id > 0",
                    "delete from victims where id = 1; delete from victims where id = 2",
                    "begin; delete from victims where id > 0; commit",
                    "delete from victims where id > 0; select 1/0"):
            self.assertRefused(cur, sql, "42501", "query string of its own")
        self.assertUntouched()

    def test_writable_ctes(self):
        cur = self.connect().cursor()
        for sql in ("with d as (delete from victims returning id) "
                    "insert into scratch select id from d",
                    "with d as (delete from victims where id > 0 returning id) "
                    "delete from victims where id = 1",
                    "with u as (update victims set n = 1 where id > 0 returning id) "
                    "update victims set n = 2 where id = 1",
                    "with u as (update victims set n = 1 where id > 0 returning id) select 1",
                    "with d as (delete from victims where id > 0 returning id) "
                    "merge into victims v using d on v.id = d.id when matched then do nothing"):
            self.assertRefused(cur, sql, "42501", "max-rows")
        self.assertUntouched()

    def test_merge_forms(self):
        # DO NOTHING rows are not counted, and nothing else is either.
        cur = self.connect().cursor()
        self.assertRefused(cur, "merge into victims v using source s on v.id = s.id "
                           "when matched and v.id > 5 then delete "
                           "when matched then do nothing", "54000",
                           "MERGE would change 5 rows")
        self.assertOverLimit(cur, "merge into victims v using (select 1) s on true "
                             "when matched then update set n = 1")
        self.assertOverLimit(cur, "merge into victims v using source s on v.id = s.id "
                             "when not matched then insert values (s.id) "
                             "when matched then update set n = 2")
        self.assertUntouched()

    def test_insert_on_conflict_do_update(self):
        # An UPDATE spelled as an INSERT: ON CONFLICT DO UPDATE changes
        # every conflicting row; its tag counts them (INSERT 0 10).
        cur = self.connect().cursor()
        for sql in ("insert into victims select id from source "
                    "on conflict (id) do update set n = 7",
                    "insert into victims as v select id from source "
                    "on conflict (id) do update set n = 7 where v.id > 0",
                    "insert into victims select id from source "
                    "on conflict on constraint victims_pkey do update set n = excluded.id"):
            got = self.run_sql(cur, sql)
            self.assertIsNotNone(got, "ran: " + sql)
            self.assertIn(got[0], ("54000", "42501"), got[1])
        self.assertUntouched()
        # Within the limit it runs.
        cur.execute("insert into victims select id from source where id <= 2 "
                    "on conflict (id) do update set n = 7")
        self.assertEqual(table()[2], 7)
        # DO NOTHING changes nothing that exists.
        cur.execute("insert into victims select id from source on conflict do nothing")


class ViewAndRuleAttacks(AttackCase):
    def test_temp_view_in_the_session(self):
        cur = self.connect().cursor()
        cur.execute("create temp view vv as select * from victims")
        self.assertOverLimit(cur, "delete from vv")
        self.assertOverLimit(cur, "update pg_temp.vv set n = 1 where id > 0")
        cur.execute("create temp view vvv as select * from vv where id > 0")
        self.assertOverLimit(cur, "delete from vvv where id > 2")
        self.assertRefused(cur, "create temp view v2 as select * from victims; delete from v2",
                           "42501", "query string of its own")
        self.assertUntouched()

    def test_temp_view_shadowing_a_table(self):
        cur = self.connect().cursor()
        cur.execute("create temp view source as select * from victims")
        self.assertOverLimit(cur, "delete from source where id > 0")
        self.assertOverLimit(cur, "delete from public.victims where id > 0")
        self.assertUntouched()

    def test_view_outside_search_path(self):
        # hidden.hv exists at login; the bare name must resolve whatever
        # search_path says later.
        cur = self.connect().cursor()
        self.assertOverLimit(cur, "delete from hidden.hv where id > 0")
        cur.execute("set search_path = hidden, public")
        self.assertOverLimit(cur, "delete from hv where id > 0")
        cur.execute("reset search_path")
        cur.execute("select set_config('search_path', 'hidden, public', false)")
        self.assertOverLimit(cur, "update hv set n = 3 where id > 0")
        c = self.connect(autocommit=False)
        cur = c.cursor()
        cur.execute("set local search_path = hidden")
        self.assertOverLimit(cur, "delete from hv where id > 0")
        self.assertUntouched()

    def test_rule_written_in_the_session(self):
        cur = self.connect().cursor()
        cur.execute("create temp table t0(id int, n int)")
        for sql in ("create rule r as on delete to t0 do instead delete from victims "
                    "where id > 0",
                    "create rule r as on insert to t0 do also update victims set n = 1 "
                    "where id > 0",
                    "create rule r as on update to t0 do also "
                    "delete from only public.victims where true"):
            self.assertRefused(cur, sql, "42501", "max-rows")
        # MERGE is no rule action in PostgreSQL 15 (nor in pgward's grammar).
        self.assertRefused(cur, "create rule r as on update to t0 do also "
                           "merge into victims v using source s on v.id = s.id "
                           "when matched then delete", "42501", "syntax error")
        self.assertUntouched()

    @unittest.expectedFailure
    def test_rule_whose_tag_counts_another_statement(self):
        # A DO INSTEAD rule with two DELETE actions: the tag is the last
        # one's (DELETE 0), whatever the first did. Written over harmless
        # temp objects, then the view it deletes from is replaced by one
        # over victims (CREATE OR REPLACE VIEW keeps the rule's
        # dependency). The relay's map resolves t1 to victims, so the
        # guard applies; but its count is not victims'.
        cur = self.connect().cursor()
        self.setup_sql(cur, "create temp table t0(id int, n int)",
                       "create temp view tv as select * from t0",
                       "create temp table t1(id int, n int)",
                       "create rule r as on delete to t1 do instead "
                       "(delete from tv where id > 0; delete from t0 where id < 0)",
                       "create or replace temp view tv as select * from victims")
        # OPEN: the tag of a write through rewrite rules is not the count
        # of base rows (DO INSTEAD: the last action of the same kind; DO
        # ALSO: the original statement's); the map does not tell the
        # filter a view from a relation with DML rules, so it cannot refuse
        # to guard such a write (docs/policy.md, "Row limits").
        got = self.run_sql(cur, "delete from t1 where id = 1")
        self.assertIsNotNone(got, "a write through rules ran under a row limit")
        self.assertUntouched()

    def test_rollback_brings_a_dropped_view_back(self):
        c = self.connect()
        cur = c.cursor()
        cur.execute("create temp view rv as select * from victims")
        c.autocommit = False
        cur.execute("drop view rv")
        c.rollback()
        c.autocommit = True
        self.assertOverLimit(cur, "delete from rv where id > 0")
        self.assertUntouched()

    def test_rollback_to_savepoint_brings_a_dropped_view_back(self):
        c = self.connect()
        cur = c.cursor()
        cur.execute("create temp view rv as select * from victims")
        c.autocommit = False
        cur.execute("savepoint a")
        cur.execute("drop view rv")
        cur.execute("rollback to savepoint a")
        self.assertOverLimit(cur, "delete from rv where id > 0")
        self.assertUntouched()

    def test_failed_string_brings_a_dropped_view_back(self):
        cur = self.connect().cursor()
        cur.execute("create temp view rv as select * from victims")
        self.assertRefused(cur, "drop view rv; select 1/0", "22012", "division by zero")
        self.assertOverLimit(cur, "delete from rv where id > 0")
        self.assertUntouched()

    def test_ddl_then_error_in_a_block(self):
        # The catalog is read again after DDL; not inside a failed block
        # (the lookup would fail there and end the session).
        c = self.connect(autocommit=False)
        cur = c.cursor()
        self.assertRefused(cur, "create temp view ev as select * from victims; select 1/0",
                           "22012", "division by zero")
        cur.execute("create temp view ev as select * from victims")
        self.assertOverLimit(cur, "delete from ev where id > 0")
        self.assertUntouched()

    def test_functions_that_write(self):
        # A body the filter can read is a fact: deleting under a row limit
        # inside it cannot be counted. One it cannot read is opaque.
        cur = self.connect().cursor()
        for sql, why in (
                ("create function pg_temp.f() returns void language sql as "
                 "'delete from victims where id > 0'", "max-rows"),
                ("create function pg_temp.f() returns void language sql begin atomic "
                 "delete from victims where id > 0; end", "max-rows"),
                ("create function pg_temp.f() returns void language plpgsql as "
                 "$$ begin delete from victims where id > 0; end $$", "max-rows"),
                ("create function pg_temp.f() returns trigger language plpgsql as "
                 "$$ begin update victims set n = 1 where id > 0; return null; end $$",
                 "max-rows"),
                ("create function pg_temp.f() returns void language plpgsql as "
                 "$$ begin execute 'delete from victims'; end $$", "opaque-denied"),
                ("create procedure pg_temp.p() language sql as "
                 "$$ delete from victims where id > 0 $$", "max-rows"),
                ("do $$ begin delete from victims where id > 0; end $$", "max-rows")):
            self.assertRefused(cur, sql, "42501", why)
        self.assertUntouched()


class LateBindingAttacks(AttackCase):
    """The filter decides on names; PostgreSQL binds some of them later
    (function bodies at call time, prepared statements when a relation
    they used changed). Views created where the relay's map does not see
    them yet are the same problem."""

    def make_rebound(self, cur):
        """zz is a harmless temp table when something is written against
        it, then a temp view over victims."""
        self.setup_sql(cur, "create temp table zz(id int, n int)")

    def rebind(self, cur):
        self.setup_sql(cur, "drop table zz", "create temp view zz as select * from victims")

    def test_extended_statement_prepared_before_the_view(self):
        w = self.wire()
        w.send(query("create temp table zz(id int, n int)"))
        answers(w)
        w.send(parse("s", "delete from zz where id > 0"), sync())
        self.assertEqual(kinds(answers(w)), b"1Z")
        w.send(query("drop table zz"))
        answers(w)
        w.send(query("create temp view zz as select * from victims"))
        answers(w)
        w.send(bind("", "s"), execute(), sync())
        r = answers(w)
        self.assertIn("54000", sqlstates(r), r)
        self.assertUntouched()

    @unittest.expectedFailure
    def test_sql_prepare_before_the_view(self):
        # LIMIT: EXECUTE p is decided as an EXECUTE (facts.c cannot see
        # p's statement, which was a fact at PREPARE time, when zz was a
        # table); the server re-plans p against the view. Open.
        cur = self.connect().cursor()
        self.make_rebound(cur)
        cur.execute("prepare p as delete from zz where id > 0")
        self.rebind(cur)
        self.run_sql(cur, "execute p")
        self.assertUntouched()

    @unittest.expectedFailure
    def test_function_written_before_the_view(self):
        # LIMIT: the body was a fact at CREATE FUNCTION (a delete of the
        # temp table zz, where present); at call time it deletes through
        # the view. SELECT f() and the fast-path call look the same. Open.
        cur = self.connect().cursor()
        self.make_rebound(cur)
        cur.execute("create function pg_temp.g() returns void language sql as "
                    "'delete from zz where id > 0'")
        self.rebind(cur)
        self.run_sql(cur, "select pg_temp.g()")
        self.assertUntouched()

    @unittest.expectedFailure
    def test_view_created_by_a_function(self):
        # LIMIT: the relay reads the map again after CREATE/ALTER/DROP/DO/
        # CALL tags; a SELECT whose function creates a view is none. Open.
        cur = self.connect().cursor()
        cur.execute("create function pg_temp.mk() returns void language sql as "
                    "'create temp view fv as select * from victims'")
        cur.execute("select pg_temp.mk()")
        self.run_sql(cur, "delete from fv where id > 0")
        self.assertUntouched()

    @unittest.expectedFailure
    def test_view_created_by_another_session(self):
        # LIMIT: the map is read at login and after this session's DDL;
        # a view another session creates later is a plain name here. Open.
        cur = self.connect().cursor()
        cur.execute("select 1")
        suite.cluster.psql("create view public.late_v as select * from victims;"
                           "grant select, delete on public.late_v to app_write", db="shop")
        self.addCleanup(suite.cluster.psql, "drop view if exists public.late_v", db="shop")
        self.assertIsNone(self.run_sql(cur, "select count(*) from late_v"))
        self.run_sql(cur, "delete from late_v where id > 0")
        self.assertUntouched()

    @unittest.expectedFailure
    def test_pipelined_view_then_write(self):
        # LIMIT: the second Query is decided when it arrives, before the
        # first's CREATE VIEW tag marks the map stale. Open.
        w = self.wire()
        w.send(query("create temp view pv as select * from victims"),
               query("delete from pv where id > 0"))
        answers(w, 2)
        self.assertUntouched()


class WireAttacks(AttackCase):
    def test_portal_executed_twice(self):
        w = self.wire()
        w.send(parse("d", "delete from victims where id <= $1::int"),
               bind("p", "d", ("2",)), execute("p"), execute("p"), sync())
        r = answers(w)
        # The server refuses to run a finished portal again (55000), which
        # fails the pipeline's transaction.
        self.assertEqual(kinds(r), b"12CEZ", r)
        self.assertEqual(sqlstates(r), ["55000"])
        self.assertUntouched()
        # A portal bound twice: each Execute of a new portal is guarded.
        w.send(bind("p", "d", ("2",)), execute("p"), sync(),
               bind("p", "d", ("8",)), execute("p"), sync())
        r = answers(w, 2)
        self.assertEqual(kinds(r), b"2CZ2EZ", r)
        self.assertEqual(sqlstates(r), ["54000"])
        self.assertEqual(sorted(table()), list(range(3, 11)))

    def test_client_savepoint_and_commit_in_the_pipeline(self):
        w = self.wire()
        w.send(parse("", "begin"), bind(), execute(),
               parse("", "savepoint a"), bind(), execute(),
               parse("", "delete from victims where id > 2"), bind(), execute(),
               parse("", "rollback to savepoint a"), bind(), execute(),
               parse("", "release savepoint a"), bind(), execute(),
               parse("", "commit"), bind(), execute(), sync())
        r = answers(w)
        self.assertEqual(sqlstates(r), ["54000"], r)
        self.assertEqual(r[-1][1], b"E")
        w.send(query("commit"))
        self.assertEqual(answers(w)[-2][1], "ROLLBACK")
        self.assertUntouched()

    def test_simple_block_with_savepoint_released(self):
        w = self.wire()
        for sql in ("begin", "savepoint a"):
            w.send(query(sql))
            answers(w)
        w.send(query("delete from victims where id > 2"), query("release savepoint a"),
               query("commit"))
        r = answers(w, 3)
        self.assertEqual(sqlstates(r), ["54000", "25P02"], r)
        self.assertEqual(r[-2][1], "ROLLBACK")
        self.assertUntouched()

    def test_prepare_transaction_after_refusal(self):
        w = self.wire()
        w.send(query("begin"))
        answers(w)
        w.send(parse("", "delete from victims where id > 2"), bind(), execute(),
               parse("", "prepare transaction 'pgward_attack'"), bind(), execute(), sync())
        r = answers(w)
        self.assertEqual(sqlstates(r), ["54000"], r)
        w.send(query("prepare transaction 'pgward_attack'"))
        answers(w)
        self.assertUntouched()

    def test_disconnect_after_sending(self):
        for msgs in ((query("delete from victims where id > 2 and pg_sleep(0.2) is not null"),),
                     (parse("", "delete from victims where id > 2"), bind(), execute())):
            w = self.wire()
            w.send(*msgs)
            w.t.close()
            time.sleep(1)
            self.assertUntouched()

    def test_cancel_during_rollback_wait(self):
        # A cancel that arrives while the over-limit statement's rows are
        # being undone must not let anything commit.
        c = self.connect()
        cur = c.cursor()
        import threading
        threading.Timer(0.3, c.cancel).start()
        got = self.run_sql(cur, "delete from victims where id > 2 "
                           "and pg_sleep(0.05) is not null")
        self.assertIsNotNone(got)
        self.assertIn(got[0], ("54000", "57014"), got[1])
        self.assertUntouched()


if __name__ == "__main__":
    unittest.main()
