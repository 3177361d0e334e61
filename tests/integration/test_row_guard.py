"""The row guard (policy max-rows), against a real server with real clients:
psql and psycopg2 in and out of transaction blocks, and a raw wire client
for extended-protocol pipelines (several Executes before one Sync, a row
count limit on Execute, an error earlier in the pipeline, a COMMIT right
behind a refused statement). Each case checks what is in the table after,
so a statement over the limit that changed anything fails the test; and
the result record says what the guard did."""

import os
import subprocess
import tempfile
import threading
import time
import unittest

import psycopg2
import psycopg2.errors

import pgward_env
from pgward_testing import TimedTestCase
from pgward_wire import Wire, bind, error_fields, execute, msg, parse, query, sync

LIMIT = 3
POLICY = """
default deny
connect shop app_write groups engineers

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

rule rest
  action allow
""" % {"limit": LIMIT}

suite = None
filt = None
relay = None


def setUpModule():
    global suite, filt, relay
    suite = pgward_env.Suite(pgbench=False, start_relay=False).start()
    suite.users.update({"bob": ["engineers"]})
    filt = pgward_env.Filter(suite.auth, POLICY, logd=suite.logd).start()
    relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd, filter=filt).start()
    suite.cluster.psql(
        "create table victims(id int primary key, n int not null default 0);"
        "create table source(id int primary key);"
        "grant select, insert, update, delete on victims, source to app_write;",
        db="shop")


def tearDownModule():
    for d in (relay, filt):
        if d is not None:
            d.stop()
    if suite is not None:
        suite.stop()


def table():
    """{id: n} of victims, read directly (not through the relay)."""
    out = suite.cluster.psql("select id, n from victims order by id", db="shop",
                             args=("-At", "-F", " "))
    return {int(a): int(b) for a, b in (line.split() for line in out.split("\n") if line)}


UNTOUCHED = {i: 0 for i in range(1, 11)}


SYNC = sync()
FLUSH = msg(b"H")


def answers(w, count=1):
    """What the relay sends up to the count-th ReadyForQuery, with
    ErrorResponse fields and CommandComplete tags decoded."""
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


class RowGuardTestCase(TimedTestCase):
    test_timeout = 90

    def watchdog_targets(self):
        return [relay, filt, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return relay

    def setUp(self):
        super().setUp()
        suite.cluster.psql("truncate victims, source; insert into victims(id) "
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

    def assertRefused(self, cm, rows, verb="would delete", rule="guarded-delete"):
        e = cm.exception
        self.assertEqual(e.pgcode, "54000", str(e))
        self.assertIn('pgward: %s %d rows; the limit is %d (rule "%s"); nothing was changed'
                      % (verb, rows, LIMIT, rule), str(e))

    def result_of(self, sql):
        """The result record of the last intent with this SQL text."""
        intents = [r for r in suite.logd.records("intent") if r.get("sql") == sql]
        self.assertTrue(intents, "no intent for " + sql)
        deadline = time.time() + 10
        while time.time() < deadline:
            res = [r for r in suite.logd.records("result")
                   if r.get("session") == intents[-1]["session"]
                   and r.get("n") == intents[-1]["n"]]
            if res:
                return res[-1]
            time.sleep(0.1)
        self.fail("no result record for " + sql)


class SimpleQueryTest(RowGuardTestCase):
    def test_autocommit_under_and_over(self):
        c = self.connect()
        cur = c.cursor()
        cur.execute("delete from victims where id <= 2")
        self.assertEqual(cur.rowcount, 2)
        self.assertEqual(sorted(table()), list(range(3, 11)))
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("delete from victims where id <= 8")
        self.assertRefused(cm, 6)
        self.assertEqual(sorted(table()), list(range(3, 11)))
        # The session goes on, outside any transaction block.
        self.assertEqual(c.info.transaction_status, psycopg2.extensions.TRANSACTION_STATUS_IDLE)
        cur.execute("delete from victims where id = 3")
        self.assertEqual(sorted(table()), list(range(4, 11)))

    def test_exactly_at_the_limit(self):
        cur = self.connect().cursor()
        cur.execute("update victims set n = n + 1 where id <= %d" % LIMIT)
        self.assertEqual(cur.rowcount, LIMIT)
        t = table()
        self.assertEqual([t[i] for i in range(1, 11)], [1] * LIMIT + [0] * (10 - LIMIT),
                         "applied exactly once")

    def test_update_and_merge(self):
        cur = self.connect().cursor()
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("update victims set n = 7")
        self.assertRefused(cm, 10, "would update", "guarded-update")
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("merge into victims v using source s on v.id = s.id "
                        "when matched then update set n = 9")
        self.assertRefused(cm, 10, "MERGE would change", "guarded-update")
        self.assertEqual(table(), UNTOUCHED)
        cur.execute("merge into victims v using source s on v.id = s.id and s.id <= 2 "
                    "when matched then update set n = 9")
        self.assertEqual(cur.rowcount, 2)
        self.assertEqual(table()[1], 9)
        self.assertEqual(table()[3], 0)

    def test_returning_rows_then_error(self):
        cur = self.connect().cursor()
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("delete from victims returning id")
        self.assertRefused(cm, 10)
        self.assertEqual(table(), UNTOUCHED)
        cur.execute("delete from victims where id = 1 returning id")
        self.assertEqual(cur.fetchall(), [(1,)])

    def test_in_transaction_block(self):
        c = self.connect(autocommit=False)
        cur = c.cursor()
        cur.execute("insert into victims values (100, 0)")
        cur.execute("delete from victims where id <= 2")
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("delete from victims where id > 2")
        self.assertRefused(cm, 9)
        # Failed exactly as after a server error.
        with self.assertRaises(psycopg2.errors.InFailedSqlTransaction):
            cur.execute("select 1")
        c.rollback()
        self.assertEqual(table(), UNTOUCHED)
        cur.execute("delete from victims where id <= 2")
        c.commit()
        self.assertEqual(sorted(table()), list(range(3, 11)))

    def test_savepoints_of_the_client(self):
        c = self.connect(autocommit=False)
        cur = c.cursor()
        cur.execute("delete from victims where id = 1")
        # A client savepoint named as a guard's might be: the guard uses none.
        cur.execute("savepoint pgward_row_guard")
        cur.execute("delete from victims where id = 2")
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("update victims set n = 5")
        self.assertRefused(cm, 8, "would update", "guarded-update")
        cur.execute("rollback to savepoint pgward_row_guard")
        cur.execute("update victims set n = 1 where id = 3")
        c.commit()
        t = table()
        self.assertNotIn(1, t)
        self.assertIn(2, t, "rolled back to the client's savepoint")
        self.assertEqual(t[3], 1)
        self.assertEqual(sum(t.values()), 1)

    def test_release_after_refusal_cannot_keep_changes(self):
        # After a refusal the block is failed: nothing the client sends keeps
        # the statement's changes (there is no guard savepoint to release).
        for recover in ("release savepoint pgward_row_guard", "commit",
                        "rollback to savepoint pgward_row_guard", "prepare transaction 'x'"):
            c = self.connect(autocommit=False)
            cur = c.cursor()
            with self.assertRaises(psycopg2.Error):
                cur.execute("delete from victims")
            try:
                cur.execute(recover)
                c.commit()
            except psycopg2.Error:
                c.rollback()
            self.assertEqual(table(), UNTOUCHED, recover)

    def test_server_error_in_the_statement(self):
        c = self.connect()
        cur = c.cursor()
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("update victims set n = 1 / (id - 5) where id <= 2 or id = 5")
        self.assertEqual(cm.exception.pgcode, "22012")
        self.assertEqual(table(), UNTOUCHED)
        cur.execute("select count(*) from victims")
        self.assertEqual(cur.fetchone()[0], 10)

    def test_commit_failure_reaches_the_client(self):
        suite.cluster.psql("create table if not exists parent(id int primary key);"
                           "create table if not exists child(id int references parent "
                           "deferrable initially deferred); grant all on parent, child "
                           "to app_write; truncate parent, child; insert into parent "
                           "values (1); insert into child values (1)", db="shop")
        policy = POLICY.replace("tables victims\n  max-rows", "tables victims,parent\n  max-rows")
        filt.set_policy(policy, wait=True)
        self.addCleanup(filt.set_policy, POLICY, wait=True)
        cur = self.connect().cursor()
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("delete from parent where id = 1")
        self.assertEqual(cm.exception.pgcode, "23503")	# at COMMIT, as without the relay
        self.assertEqual(suite.cluster.psql("select count(*) from parent", db="shop",
                                            args=("-At",)).strip(), "1")

    def test_psql(self):
        env = pgward_env.clean_pg_env()
        env["PGPASSWORD"] = suite.token("bob")
        dsn = "host=127.0.0.1 port=%d sslmode=require dbname=shop user=app_write" % relay.port
        p = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", dsn, "-c",
                            "delete from victims where id > 1"], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("would delete 9 rows; the limit is 3", p.stderr)
        self.assertEqual(table(), UNTOUCHED)
        # A guarded statement must come alone: psql -c sends one string.
        p = subprocess.run(["psql", "-X", dsn, "-c",
                            "select 1; delete from victims where id = 1"], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertIn("must be sent as a query string of its own", p.stderr)
        self.assertEqual(table(), UNTOUCHED)
        # A script: each statement is its own Query; the block fails, ends.
        script = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
        self.addCleanup(os.unlink, script.name)
        script.write("begin;\ndelete from victims where id = 1;\n"
                     "delete from victims where id > 5;\nselect 'after';\nrollback;\n"
                     "delete from victims where id = 10;\n")
        script.close()
        p = subprocess.run(["psql", "-X", "-f", script.name, dsn], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertIn("would delete 5 rows", p.stderr)
        self.assertIn("current transaction is aborted", p.stderr)
        self.assertEqual(sorted(table()), list(range(1, 10)))

    def test_not_countable_refused_by_the_filter(self):
        cur = self.connect().cursor()
        for sql in ("with d as (delete from victims returning *) select count(*) from d",
                    "do $$ begin delete from victims; end $$",
                    "explain analyze delete from victims",
                    "prepare p as delete from victims",
                    "copy (delete from victims returning id) to stdout"):
            with self.assertRaises(psycopg2.Error) as cm:
                cur.execute(sql)
            self.assertEqual(cm.exception.pgcode, "42501", sql)
            self.assertIn("max-rows", str(cm.exception))
        self.assertEqual(table(), UNTOUCHED)

    def test_audit_record(self):
        cur = self.connect().cursor()
        with self.assertRaises(psycopg2.Error):
            cur.execute("delete from victims where id > 4 -- audited over")
        cur.execute("delete from victims where id = 1 -- audited under")
        over = self.result_of("delete from victims where id > 4 -- audited over")
        self.assertEqual(over["status"], "error")
        self.assertEqual(over["sqlstate"], "54000")
        self.assertEqual(over["row_guard"], {"limit": LIMIT, "rows": 6, "rolled_back": True})
        self.assertEqual(over["tags"], [])
        under = self.result_of("delete from victims where id = 1 -- audited under")
        self.assertEqual(under["status"], "ok")
        self.assertEqual(under["tags"], ["DELETE 1"])
        self.assertEqual(under["row_guard"], {"limit": LIMIT, "rows": 1, "rolled_back": False})

    def test_cancel_mid_statement(self):
        c = self.connect()
        cur = c.cursor()
        threading.Timer(0.5, c.cancel).start()
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("delete from victims where id <= 2 and pg_sleep(0.5) is not null")
        self.assertEqual(cm.exception.pgcode, "57014")
        self.assertEqual(table(), UNTOUCHED)
        cur.execute("delete from victims where id = 1")
        self.assertEqual(len(table()), 9)


class WireTest(RowGuardTestCase):
    def test_pipeline_under_then_over(self):
        w = self.wire()
        w.send(parse("", "delete from victims where id = 1"), bind(), execute(),
               parse("", "delete from victims where id > 4"), bind(), execute(), SYNC)
        r = answers(w)
        self.assertEqual(kinds(r), b"12C12EZ")
        self.assertEqual(r[2][1], "DELETE 1")
        self.assertEqual(r[5][1]["C"], "54000")
        self.assertIn("would delete 6 rows", r[5][1]["M"])
        self.assertEqual(r[6][1], b"I")
        # One implicit transaction: the first DELETE went with the second.
        self.assertEqual(table(), UNTOUCHED)
        w.send(query("select count(*) from victims"))
        self.assertEqual(kinds(answers(w)), b"TDCZ")

    def test_pipeline_over_then_under_and_commit(self):
        w = self.wire()
        w.send(parse("", "delete from victims where id > 4"), bind(), execute(),
               parse("", "delete from victims where id = 1"), bind(), execute(),
               parse("", "commit"), bind(), execute(), SYNC)
        r = answers(w)
        self.assertEqual(kinds(r), b"12EZ", r)
        self.assertEqual(table(), UNTOUCHED)

    def test_pipeline_both_under(self):
        w = self.wire()
        w.send(parse("", "delete from victims where id = 1"), bind(), execute(),
               parse("", "update victims set n = n + 1 where id <= 3"), bind(), execute(), SYNC)
        r = answers(w)
        self.assertEqual(kinds(r), b"12C12CZ")
        self.assertEqual(r[5][1], "UPDATE 2")
        t = table()
        self.assertNotIn(1, t)
        self.assertEqual((t[2], t[3], t[4]), (1, 1, 0))

    def test_across_syncs_and_prepared(self):
        w = self.wire()
        w.send(parse("del", "delete from victims where id <= $1::int"), SYNC)
        self.assertEqual(kinds(answers(w)), b"1Z")

        w.send(bind("", "del", ("5",)), execute(), SYNC,
               bind("", "del", ("2",)), execute(), SYNC)
        r = answers(w, 2)
        self.assertEqual(kinds(r), b"2EZ2CZ", r)
        self.assertEqual(r[1][1]["C"], "54000")
        self.assertEqual(sorted(table()), list(range(3, 11)))

    def test_in_explicit_block(self):
        w = self.wire()
        w.send(query("begin"))
        answers(w)
        w.send(parse("", "delete from victims where id > 2"), bind(), execute(), SYNC)
        r = answers(w)
        self.assertEqual(kinds(r), b"12EZ")
        self.assertEqual(r[-1][1], b"E")
        w.send(query("rollback"))
        self.assertEqual(answers(w)[-1][1], b"I")
        self.assertEqual(table(), UNTOUCHED)

    def test_row_count_limit_on_execute(self):
        w = self.wire()
        w.send(parse("", "delete from victims where id <= 2 returning id"), bind(),
               execute(max_rows=1), SYNC)
        r = answers(w)
        self.assertEqual(kinds(r), b"12DEZ", r)
        self.assertEqual(r[3][1]["C"], "0A000")
        self.assertIn("without a row count", r[3][1]["M"])
        self.assertEqual(table(), UNTOUCHED)

    def test_error_earlier_in_the_pipeline(self):
        w = self.wire()
        w.send(parse("", "select 1/(id - id) from source"), bind(), execute(),
               parse("", "delete from victims where id = 1"), bind(), execute(), SYNC)
        r = answers(w)
        self.assertEqual(kinds(r), b"12EZ", r)
        self.assertEqual(table(), UNTOUCHED)
        # The same with the error already back before the guarded Execute.
        w.send(parse("", "select 1/(id - id) from source"), bind(), execute(), FLUSH)
        self.assertEqual(w.read()[0], b"1")
        self.assertEqual(w.read()[0], b"2")
        self.assertEqual(w.read()[0], b"E")
        w.send(parse("", "delete from victims where id = 1"), bind(), execute(), SYNC)
        self.assertEqual(kinds(answers(w)), b"Z")
        self.assertEqual(table(), UNTOUCHED)

    def test_client_waits_with_flush(self):
        # A client that sends Execute and Flush and waits for the answer
        # before it sends Sync.
        w = self.wire()
        w.send(parse("", "delete from victims where id > 3"), bind(), execute(), FLUSH)
        got = [w.read()[0] for _ in range(3)]
        self.assertEqual(got, [b"1", b"2", b"E"])
        w.send(SYNC)
        self.assertEqual(kinds(answers(w)), b"Z")
        self.assertEqual(table(), UNTOUCHED)

    def test_disconnect_mid_guard(self):
        w = self.wire()
        w.send(parse("", "delete from victims where id > 3 and pg_sleep(0.1) is not null"),
               bind(), execute(), SYNC)
        time.sleep(0.2)
        w.t.close()
        time.sleep(1.5)
        self.assertEqual(table(), UNTOUCHED)

    def test_pipelined_simple_queries(self):
        # The guard needs the server's transaction state: a guarded Query
        # sent before the previous one was answered is refused.
        w = self.wire()
        w.send(query("select pg_sleep(0.2)"), query("delete from victims where id = 1"))
        r = answers(w, 2)
        self.assertEqual(kinds(r), b"TDCZEZ", r)
        self.assertEqual(r[4][1]["C"], "0A000")
        self.assertEqual(table(), UNTOUCHED)
        w.send(query("delete from victims where id = 1"))
        self.assertEqual(kinds(answers(w)), b"CZ")
        self.assertEqual(len(table()), 9)

    def test_simple_then_extended_state(self):
        # BEGIN through the extended protocol, then a guarded simple Query
        # without Sync in between: state unknown, refused.
        w = self.wire()
        w.send(parse("", "begin"), bind(), execute(), query("delete from victims where id = 1"))
        r = answers(w)
        self.assertEqual(kinds(r), b"12CEZ", r)
        self.assertEqual(table(), UNTOUCHED)

    def test_policy_reload_guards_a_prepared_statement(self):
        # Prepared before the rule had a limit, executed after: decided again.
        filt.set_policy(POLICY.replace("max-rows %d" % LIMIT, "max-rows 1000"), wait=True)
        self.addCleanup(filt.set_policy, POLICY, wait=True)
        w = self.wire()
        w.send(parse("late", "delete from victims where id > 5"), SYNC)
        self.assertEqual(kinds(answers(w)), b"1Z")
        filt.set_policy(POLICY, wait=True)
        w.send(bind("", "late"), execute(), SYNC)
        r = answers(w)
        self.assertEqual(kinds(r), b"2EZ", r)
        self.assertEqual(r[1][1]["C"], "54000")
        self.assertEqual(table(), UNTOUCHED)

    def test_audit_record_extended(self):
        w = self.wire()
        w.send(parse("", "delete from victims where id > 5 -- wire audited"), bind(), execute(),
               SYNC)
        answers(w)
        rec = self.result_of("delete from victims where id > 5 -- wire audited")
        self.assertEqual(rec["row_guard"], {"limit": LIMIT, "rows": 5, "rolled_back": True})
        self.assertEqual(rec["sqlstate"], "54000")


if __name__ == "__main__":
    unittest.main()
