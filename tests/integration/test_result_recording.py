"""Recording of results for sessions the policy marks ("record" lines):
the relay writes up to N rows per statement, masked as the person saw
them, into the result record, and `pgward-replay show` draws them. People
the policy does not mark have nothing recorded."""

import json
import os
import re
import subprocess
import time
import unittest

import psycopg2

import pgward_env
from pgward_testing import TimedTestCase

POLICY = """
default deny
connect shop app_read groups contractors,analysts
record shop app_read rows 3 groups contractors

mask mode gateway
mask column public.customers.card_number style partial keep 4

rule reads
  kind select
  action allow
"""

suite = None
filt = None
relay = None


def setUpModule():
    global suite, filt, relay
    suite = pgward_env.Suite(pgbench=False, start_relay=False).start()
    suite.users.update({"carol": ["contractors"], "alice": ["analysts"]})
    filt = pgward_env.Filter(suite.auth, POLICY, logd=suite.logd).start()
    keyfile = os.path.join(filt.dir, "mask.key")
    with open(keyfile, "wb") as f:
        f.write(os.urandom(32).hex().encode())
    os.chmod(keyfile, 0o600)
    relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd, filter=filt,
                             allow=[], extra_conf="mask-key %s" % keyfile).start()


def tearDownModule():
    for d in (relay, filt):
        if d is not None:
            d.stop()
    if suite is not None:
        suite.stop()


class RecordingTest(TimedTestCase):
    test_timeout = 120

    def watchdog_targets(self):
        return [relay, filt, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return relay

    def run_as(self, user, *sqls):
        """Runs sqls in one session; returns (what the client got, the
        session id from the log)."""
        before = {r["session"] for r in suite.logd.records("session_start")}
        c = psycopg2.connect(relay.dsn(suite.token(user), role="app_read"))
        c.autocommit = True
        got = []
        try:
            cur = c.cursor()
            for sql in sqls:
                cur.execute(sql)
                got.append(cur.fetchall())
        finally:
            c.close()
        sessions = [r["session"] for r in suite.logd.records("session_start")
                    if r["session"] not in before and r["user"] == user]
        self.assertEqual(len(sessions), 1)
        return got, sessions[0]

    def results_of(self, session):
        deadline = time.monotonic() + 30
        while not any(r["session"] == session for r in suite.logd.records("session_end")):
            self.assertLess(time.monotonic(), deadline, "no session_end for " + session)
            time.sleep(0.05)
        return [r for r in suite.logd.records("result") if r["session"] == session]

    def test_marked_session_records_masked_rows_up_to_n(self):
        got, sid = self.run_as(
            "carol",
            "select id, card_number, email, null::text as nothing from customers "
            "where id <= 5 order by id",
            "select 'a\nb' as two_lines, 7 as n")
        results = self.results_of(sid)
        self.assertEqual(len(results), 2)
        rec = results[0]["recorded"]
        self.assertEqual(len(rec), 1)
        self.assertEqual(rec[0]["columns"], ["id", "card_number", "email", "nothing"])
        self.assertEqual(len(rec[0]["rows"]), 3)
        self.assertTrue(rec[0]["more"], "5 rows sent, 3 recorded")
        # Exactly what the client saw (masked), as text, NULL as null.
        for seen, kept in zip(got[0], rec[0]["rows"]):
            self.assertEqual([str(seen[0]), seen[1], seen[2], None], kept)
            self.assertTrue(kept[1].startswith("*"), kept[1])
        raw = suite.cluster.psql("select card_number from customers where id <= 3",
                                 db="shop", args=("-At",)).split()
        text = json.dumps(results)
        for card in raw:
            self.assertNotIn(card, text)
        self.assertEqual(results[1]["recorded"][0]["rows"], [["a\nb", "7"]])
        self.assertFalse(results[1]["recorded"][0]["more"])

        out = subprocess.run([os.path.join(pgward_env.build_dir(), "bin", "pgward-replay"), "show", "-d",
                              suite.logd.log_dir, sid], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"\n +id \| card_number +\| email +\| nothing *\n")
        self.assertIn("(3 rows recorded; more were sent, not recorded)", out.stdout)
        self.assertIn(" a\\nb ", out.stdout)
        self.assertIn(got[0][0][1], out.stdout)
        for card in raw:
            self.assertNotIn(card, out.stdout)

    def test_extended_protocol_rows_recorded_masked(self):
        """pgbench -M extended and -M prepared: Parse/Bind/Describe/Execute,
        rows read by the RowDescription that answers the Describe."""
        script = os.path.join(filt.dir, "rows.sql")
        with open(script, "w") as f:
            f.write("select id, card_number from customers where id <= 4 order by id;\n")
        raw = suite.cluster.psql("select card_number from customers where id <= 4",
                                 db="shop", args=("-At",)).split()
        for mode in ("extended", "prepared"):
            before = len(suite.logd.records("session_end"))
            env = pgward_env.clean_pg_env()
            env.update({"PGHOST": "127.0.0.1", "PGPORT": str(relay.port),
                        "PGUSER": "app_read", "PGDATABASE": "shop",
                        "PGPASSWORD": suite.token("carol"), "PGSSLMODE": "require"})
            p = subprocess.run(["pgbench", "-n", "-c", "1", "-t", "3", "-M", mode,
                                "-f", script], env=env, capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            # pgbench also opens a connection of its own that runs nothing.
            deadline = time.monotonic() + 30
            while True:
                ended = [r for r in suite.logd.records("session_end")[before:]
                         if r["statements"] >= 3]
                if ended:
                    break
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            sid = ended[0]["session"]
            intents = {r["seq"]: r for r in suite.logd.records("intent")
                       if r["session"] == sid and "customers" in r.get("sql", "")}
            results = [r for r in suite.logd.records("result")
                       if r["session"] == sid and r["intent"] in intents]
            self.assertEqual(len(results), 3, (mode, [r for r in suite.logd.records()
                                                      if r.get("session") == sid]))
            for r in results:
                self.assertEqual(intents[r["intent"]]["protocol"], "extended")
                rec = r["recorded"]
                self.assertEqual(rec[0]["columns"], ["id", "card_number"], mode)
                self.assertEqual(len(rec[0]["rows"]), 3)
                self.assertTrue(rec[0]["more"])
                self.assertEqual([row[0] for row in rec[0]["rows"]], ["1", "2", "3"])
                for row in rec[0]["rows"]:
                    self.assertTrue(row[1].startswith("****"), row)
                text = json.dumps(r)
                for card in raw:
                    self.assertNotIn(card, text)

    def set_policy(self, text):
        filt.set_policy(text, wait=True)

    def test_reload_starts_and_stops_recording_in_an_open_session(self):
        self.addCleanup(self.set_policy, POLICY)
        before = {r["session"] for r in suite.logd.records("session_start")}
        c = psycopg2.connect(relay.dsn(suite.token("alice"), role="app_read"))
        c.autocommit = True
        self.addCleanup(c.close)
        cur = c.cursor()
        sql = "select id, card_number from customers where id <= 3 order by id"
        cur.execute(sql)
        self.assertEqual(len(cur.fetchall()), 3)
        self.set_policy(POLICY + "record shop app_read rows 2 groups analysts\n")
        cur.execute(sql)
        seen = cur.fetchall()
        self.set_policy(POLICY)
        cur.execute(sql)
        cur.fetchall()
        c.close()
        sid = [r["session"] for r in suite.logd.records("session_start")
               if r["session"] not in before and r["user"] == "alice"][0]
        results = sorted(self.results_of(sid), key=lambda r: r["n"])
        self.assertEqual([r["n"] for r in results], [1, 2, 3])
        self.assertNotIn("recorded", results[0])
        rec = results[1]["recorded"]
        self.assertEqual(rec[0]["rows"], [[str(a), b] for a, b in seen[:2]])
        self.assertTrue(rec[0]["more"])
        self.assertTrue(seen[0][1].startswith("*"), seen)
        self.assertNotIn("recorded", results[2])

    def test_unmarked_session_records_nothing(self):
        got, sid = self.run_as("alice", "select id, email from customers where id <= 2")
        self.assertEqual(len(got[0]), 2)
        results = self.results_of(sid)
        self.assertEqual(len(results), 1)
        self.assertNotIn("recorded", results[0])
        self.assertEqual(results[0]["rows"], 2)


class PolicyLineTest(unittest.TestCase):
    def test_bad_record_lines_refused(self):
        for line, why in (("record shop app_read rows 0 groups x", "rows"),
                          ("record shop app_read groups x", "rows N"),
                          ("record shop app_read rows 3", "expected"),
                          ("record shop app_read rows 3 groups", "expected"),
                          ("record shop app_read rows 3 groups x users", "missing value"),
                          ("record shop app_read rows many groups x", "rows")):
            path = os.path.join(filt.dir, "bad.policy")
            with open(path, "w") as f:
                f.write("default deny\n" + line + "\n")
            out = subprocess.run([filt.exe, "-p", path, "check"], input="",
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 100, (line, out.stdout, out.stderr))
            self.assertIn(why, out.stderr, line)
            self.assertTrue(re.search(r"bad\.policy:2", out.stderr), out.stderr)


if __name__ == "__main__":
    unittest.main()
