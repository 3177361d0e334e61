"""People and agents through the real relay: tokens from the test issuer
(a person, a person with an RFC 8693 actor chain, a client-credentials
agent) give pgward.principal and pgward.actor on the server session,
which clients cannot change (SET, set_config, startup options) and RESET
ALL keeps; every audit record carries principal, actor and client_id; a
hostile act claim is refused with the reason in pgward-auth's log."""

import json
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


def setUpModule():
    global suite, filt, relay
    suite = pgward_env.Suite(pgbench=False, start_relay=False).start()
    suite.users.update(USERS)
    filt = pgward_env.Filter(suite.auth, POLICY, logd=suite.logd).start()
    relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd, filter=filt).start()


def tearDownModule():
    for d in (relay, filt):
        if d is not None:
            d.stop()
    if suite is not None:
        suite.stop()


def person_token():
    return suite.token("alice")


def delegated_token():
    # sub=bob, act={sub: ci-bot, act: {sub: deploy-svc}}, client pgward-ci
    return suite.token("bob", extra_args=("-A", "ci-bot,deploy-svc", "-c", "pgward-ci"))


def agent_token():
    return suite.token("svc-etl", extra_args=(
        "-c", "etl-client", "-x", json.dumps({"gty": "client-credentials"})))


def wait_for(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class ActorTestCase(TimedTestCase):
    test_timeout = 90

    def watchdog_targets(self):
        return [relay, filt, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return relay

    def connect(self, token, **kw):
        c = psycopg2.connect(relay.dsn(token, role="app_read", **kw))
        c.autocommit = True
        self.addCleanup(c.close)
        return c

    def scalar(self, c, sql):
        cur = c.cursor()
        cur.execute(sql)
        return cur.fetchone()[0]

    def stamp(self, c):
        cur = c.cursor()
        cur.execute("select current_setting('pgward.user'), current_setting('pgward.principal'),"
                    " current_setting('pgward.actor'), current_setting('pgward.session')")
        return cur.fetchone()


class StampTest(ActorTestCase):
    def test_person_without_actor(self):
        user, principal, actor, _ = self.stamp(self.connect(person_token()))
        self.assertEqual((user, principal, actor), ("alice", "person", ""))

    def test_delegated_chain(self):
        user, principal, actor, _ = self.stamp(self.connect(delegated_token()))
        self.assertEqual((user, principal, actor), ("bob", "person", "ci-bot<-deploy-svc"))

    def test_client_credentials_agent(self):
        user, principal, actor, _ = self.stamp(self.connect(agent_token()))
        self.assertEqual((user, principal, actor), ("svc-etl", "agent", ""))

    def test_stamp_cannot_be_changed(self):
        c = self.connect(delegated_token())
        for sql in ("set pgward.actor = 'x'", "SET SESSION \"pgward.actor\" TO x",
                    "set local pgward.principal = 'person'", "reset pgward.actor",
                    "select set_config('pgward.actor', 'x', false)",
                    "select set_config('PGWARD.principal', 'agent', true)"):
            with self.assertRaises(psycopg2.Error) as cm:
                c.cursor().execute(sql)
            self.assertEqual(cm.exception.pgcode, "42501", sql)
            self.assertIn("builtin:identity-stamp", str(cm.exception), sql)
        self.assertEqual(self.stamp(c)[1:3], ("person", "ci-bot<-deploy-svc"))

    def test_reset_all_keeps_the_stamp(self):
        c = self.connect(delegated_token())
        before = self.stamp(c)
        c.cursor().execute("set work_mem = '8MB'")
        c.cursor().execute("reset all")
        self.assertNotEqual(self.scalar(c, "show work_mem"), "8MB")
        self.assertEqual(self.stamp(c), before)

    def test_startup_options_cannot_set_the_stamp(self):
        for opt in ("-c pgward.actor=x", "-c pgward.principal=person", "--pgward.actor=x"):
            with self.assertRaises(psycopg2.OperationalError) as cm:
                self.connect(agent_token(), options=opt)
            self.assertIn("pgward.* settings are set by pgward", str(cm.exception), opt)


class HostileTokenTest(ActorTestCase):
    def test_act_not_an_object_is_refused(self):
        offset = suite.auth.stderr_size()
        tok = suite.token("bob", extra_args=("-x", json.dumps({"act": "ci-bot"})))
        with self.assertRaises(psycopg2.OperationalError) as cm:
            self.connect(tok)
        self.assertIn("token not accepted", str(cm.exception))
        log = wait_for(lambda: "act at depth 1: not an object" in suite.auth.stderr_text(offset)
                       and suite.auth.stderr_text(offset), what="the refusal in auth's log")
        self.assertIn("refused token for sub=bob", log)

    def test_deep_act_is_refused(self):
        act = None
        for i in reversed(range(12)):
            act = {"sub": "a%d" % i, **({"act": act} if act else {})}
        offset = suite.auth.stderr_size()
        tok = suite.token("bob", extra_args=("-x", json.dumps({"act": act})))
        with self.assertRaises(psycopg2.OperationalError):
            self.connect(tok)
        wait_for(lambda: "nested deeper than max-actor-depth 8" in suite.auth.stderr_text(offset),
                 what="the refusal in auth's log")
        # The relay and auth are still serving.
        self.assertEqual(self.stamp(self.connect(person_token()))[0], "alice")


class RecordsTest(ActorTestCase):
    def records_of(self, c):
        session = self.scalar(c, "select current_setting('pgward.session')")
        self.scalar(c, "select 42")
        c.close()
        return wait_for(lambda: (lambda rs: rs if any(r["type"] == "session_end" for r in rs)
                                 else None)([r for r in suite.logd.records()
                                             if r.get("session") == session]),
                        what="session_end record")

    def assertWho(self, recs, principal, actor, client_id):
        types = {r["type"] for r in recs}
        self.assertTrue({"session_start", "intent", "result", "session_end"} <= types, types)
        for r in recs:
            self.assertIn("user", r)
            self.assertEqual(r["principal"], principal, r)
            self.assertEqual(r["actor"], actor, r)
            if client_id is None:
                self.assertNotIn("client_id", r)
            else:
                self.assertEqual(r["client_id"], client_id, r)

    def test_delegated_records(self):
        recs = self.records_of(self.connect(delegated_token()))
        self.assertWho(recs, "person", [{"sub": "ci-bot"}, {"sub": "deploy-svc"}], "pgward-ci")
        self.assertTrue(all(r["user"] == "bob" for r in recs))

    def test_person_records(self):
        recs = self.records_of(self.connect(person_token()))
        self.assertWho(recs, "person", [], None)

    def test_agent_records(self):
        recs = self.records_of(self.connect(agent_token()))
        self.assertWho(recs, "agent", [], "etl-client")
        start = next(r for r in recs if r["type"] == "session_start")
        self.assertEqual(start["sub"], "svc-etl")


if __name__ == "__main__":
    import unittest
    unittest.main()
