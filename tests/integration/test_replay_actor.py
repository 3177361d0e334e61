"""pgward-replay and who acts: real relay sessions with a delegated token
(RFC 8693 act, one actor and a chain), a client-credentials agent and a
person; `sessions`/`search` --actor and --principal find them, `show`
names the person and the agent, and every export format carries them."""

import json
import os
import subprocess
import time

import psycopg2

import pgward_env
from pgward_testing import TimedTestCase

POLICY = """
default deny

connect shop app_read groups engineers,agents,analysts

rule reads
  kind select,show,set,reset,transaction
  action allow
"""

suite = None
filt = None
relay = None
USERS = {"alice": ["analysts"], "bob": ["engineers"], "svc-etl": ["agents"]}
S = {}


def replay(*args, check=True):
    exe = os.path.join(pgward_env.build_dir(), "bin", "pgward-replay")
    p = subprocess.run([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("pgward-replay %s: exit %d\n%s\n%s"
                             % (" ".join(args), p.returncode, p.stdout, p.stderr))
    if "runtime error" in p.stderr or "AddressSanitizer" in p.stderr:
        raise AssertionError("sanitizer: %s" % p.stderr)
    return p


def wait_for(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def run_session(token, sql):
    c = psycopg2.connect(relay.dsn(token, role="app_read"))
    c.autocommit = True
    cur = c.cursor()
    cur.execute("select current_setting('pgward.session')")
    sid = cur.fetchone()[0]
    cur.execute(sql)
    c.close()
    return sid


def setUpModule():
    global suite, filt, relay
    suite = pgward_env.Suite(pgbench=False, start_relay=False).start()
    suite.users.update(USERS)
    filt = pgward_env.Filter(suite.auth, POLICY, logd=suite.logd).start()
    relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd, filter=filt).start()
    S["ci"] = run_session(suite.token("bob", extra_args=("-A", "ci-bot", "-c", "pgward-ci")),
                          "select 'via ci' as x")
    S["chain"] = run_session(suite.token("bob", extra_args=(
        "-A", "ci-bot,deploy-svc", "-c", "pgward-ci")), "select 'via chain' as x")
    S["agent"] = run_session(suite.token("svc-etl", extra_args=(
        "-c", "etl-client", "-x", json.dumps({"gty": "client-credentials"}))),
        "select 'agent alone' as x")
    S["person"] = run_session(suite.token("alice"), "select 'person alone' as x")
    wait_for(lambda: all(any(r.get("type") == "session_end" and r.get("session") == sid
                             for r in suite.logd.records()) for sid in S.values()),
             what="the sessions' ends")


def tearDownModule():
    for d in (relay, filt):
        if d is not None:
            d.stop()
    if suite is not None:
        suite.stop()


class ReplayActorTest(TimedTestCase):
    test_timeout = 120

    def watchdog_targets(self):
        return [relay, filt, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return relay

    @property
    def log(self):
        return suite.logd.log_dir

    def ids(self, *args):
        p = replay("sessions", "--json", *args, self.log, check=False)
        self.assertIn(p.returncode, (0, 1), p.stderr)
        return {json.loads(l)["session"] for l in p.stdout.splitlines()}

    def search(self, *args):
        p = replay("search", "--json", *args, self.log, check=False)
        self.assertIn(p.returncode, (0, 1), p.stderr)
        return [json.loads(l) for l in p.stdout.splitlines()]

    def test_sessions_by_actor_and_principal(self):
        delegated = {S["ci"], S["chain"]}
        self.assertEqual(self.ids("--actor", "ci-bot"), delegated)
        self.assertEqual(self.ids("--actor", "deploy-*"), {S["chain"]})
        self.assertEqual(self.ids("--actor", "pgward-ci"), delegated)    # the client
        self.assertEqual(self.ids("--actor", "etl-client"), {S["agent"]})
        self.assertEqual(self.ids("--actor", "*"), delegated | {S["agent"]})
        self.assertEqual(self.ids("--actor", "ci"), set())
        self.assertEqual(self.ids("--principal", "agent"), {S["agent"]})
        self.assertTrue({S["ci"], S["chain"], S["person"]} <= self.ids("--principal", "person"))
        self.assertNotIn(S["agent"], self.ids("--principal", "person"))
        self.assertEqual(self.ids("--user", "bob", "--actor", "deploy-svc"), {S["chain"]})
        p = replay("sessions", "--principal", "robot", self.log, check=False)
        self.assertEqual(p.returncode, 100)
        j = json.loads(replay("sessions", "--json", "--session", S["chain"], self.log).stdout)
        self.assertEqual((j["user"], j["principal"], j["client_id"]), ("bob", "person", "pgward-ci"))
        self.assertEqual(j["actor"], [{"sub": "ci-bot"}, {"sub": "deploy-svc"}])
        text = replay("sessions", "--actor", "*", self.log).stdout.splitlines()
        self.assertRegex(text[0], r"^SESSION\s+USER\s+ACTOR\s+CLIENT\s+START")
        row = {l.split()[0]: l.split() for l in text[1:]}
        self.assertEqual(row[S["chain"]][1:3], ["bob", "ci-bot,deploy-svc"])
        self.assertEqual(row[S["ci"]][1:3], ["bob", "ci-bot"])
        self.assertEqual(row[S["agent"]][1:3], ["svc-etl", "(agent)"])

    def test_search_by_actor(self):
        hits = self.search("--actor", "deploy-svc")
        self.assertEqual([h["sql"] for h in hits if h["sql"].startswith("select '")],
                         ["select 'via chain' as x"])
        self.assertTrue(all(h["session"] == S["chain"] for h in hits))
        self.assertEqual({h["session"] for h in self.search("--actor", "ci-b?t")},
                         {S["ci"], S["chain"]})
        self.assertEqual({h["session"] for h in self.search("--principal", "agent")},
                         {S["agent"]})
        self.assertEqual(self.search("--actor", "nobody-*"), [])
        text = replay("search", "--actor", "deploy-svc", "--text", "via chain", self.log).stdout
        self.assertIn("user bob via ci-bot via deploy-svc (client pgward-ci)", text)

    def test_show_names_who(self):
        out = replay("show", S["ci"], self.log).stdout
        self.assertIn("\n  who bob via ci-bot (client pgward-ci)\n", out)
        out = replay("show", S["chain"], self.log).stdout
        self.assertIn("\n  who bob via ci-bot via deploy-svc (client pgward-ci)\n", out)
        out = replay("show", S["agent"], self.log).stdout
        self.assertIn("\n  who svc-etl (agent, client etl-client)\n", out)
        out = replay("show", S["person"], self.log).stdout
        self.assertNotIn("\n  who ", out)
        j = json.loads(replay("show", "--json", S["chain"], self.log).stdout)
        self.assertEqual(j["start"]["actor"], [{"sub": "ci-bot"}, {"sub": "deploy-svc"}])

    def events(self, fmt, sid):
        out = replay("export", "--format", fmt, "--no-checkpoints", self.log).stdout
        return [l for l in out.splitlines() if sid in l]

    def test_export_carries_who(self):
        ev = [json.loads(l) for l in self.events("ocsf", S["chain"])]
        self.assertGreaterEqual(len(ev), 4)
        for e in ev:
            self.assertEqual(e["actor"]["user"]["name"], "bob")
            self.assertEqual(e["actor"]["invoked_by"], "ci-bot")
            self.assertEqual(e["unmapped"]["principal"], "person")
            self.assertEqual(e["unmapped"]["actor"], [{"sub": "ci-bot"}, {"sub": "deploy-svc"}])
            self.assertEqual(e["unmapped"]["client_id"], "pgward-ci")
        ev = [json.loads(l) for l in self.events("ocsf", S["agent"])]
        self.assertTrue(all("invoked_by" not in e["actor"] and
                            e["unmapped"]["principal"] == "agent" for e in ev))
        cef = self.events("cef", S["chain"])
        self.assertTrue(cef and all(" suser=bob " in l and " pgwardPrincipal=person" in l and
                                    " pgwardActor=ci-bot,deploy-svc" in l and
                                    " pgwardClientId=pgward-ci" in l for l in cef), cef)
        sl = self.events("syslog", S["chain"])
        self.assertTrue(sl and all(' user="bob" principal="person" actor="ci-bot,deploy-svc" '
                                   'client_id="pgward-ci" ' in l for l in sl), sl)
        sl = self.events("syslog", S["person"])
        self.assertTrue(sl and all(' principal="person" groups=' in l and ' actor=' not in l
                                   for l in sl), sl)


if __name__ == "__main__":
    import unittest
    unittest.main()
