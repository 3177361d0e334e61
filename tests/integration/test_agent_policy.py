"""Policy on the pair through the real relay, filter and logd: a person
reads and writes; an agent acting for bob (RFC 8693 act) reads, and its
write is held until bob approves it with his own token; another person
cannot approve it, nor can a token that itself carries an actor; a
client-credentials agent is refused a connect line that says `principal
person`; the filter's records carry principal, actor and client_id."""

import json

import psycopg2

import pgward_env
from pgward_testing import HeldStatementMixin, TimedTestCase

POLICY = """
default deny

connect shop app_write groups engineers,dba-leads principal person
connect shop app_read  groups agents

rule agents-read
  actors any
  kind select,show,set,reset,transaction
  action allow

rule agent-writes-need-their-person
  actors any
  principal person
  kind insert,update,delete
  action review
  approvers self
  timeout-s 30

rule people
  principal person
  actors none
  action allow

rule machines-read
  principal agent
  kind select,show,set,reset,transaction
  action allow
"""

suite = None
filt = None
relay = None
USERS = {"alice": ["engineers"], "bob": ["engineers"], "dave": ["dba-leads"],
         "svc-etl": ["agents"]}


def setUpModule():
    global suite, filt, relay
    suite = pgward_env.Suite(pgbench=False, start_relay=False).start()
    suite.users.update(USERS)
    filt = pgward_env.Filter(suite.auth, POLICY, logd=suite.logd).start()
    relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd, filter=filt).start()
    suite.cluster.psql(
        "create table notes(id int primary key, v text);"
        "insert into notes values (1, 'one');"
        "grant select, insert, update, delete on notes to app_write;"
        "grant select on notes to app_read;", db="shop")


def tearDownModule():
    for d in (relay, filt):
        if d is not None:
            d.stop()
    if suite is not None:
        suite.stop()


def person_token(user="bob"):
    return suite.token(user)


def agent_for(user="bob"):
    # sub=user, act={sub: ci-bot, act: {sub: deploy-svc}}, client pgward-ci
    return suite.token(user, extra_args=("-A", "ci-bot,deploy-svc", "-c", "pgward-ci"))


def machine_token():
    return suite.token("svc-etl", extra_args=(
        "-c", "etl-client", "-x", json.dumps({"gty": "client-credentials"})))


def note(i):
    out = suite.cluster.psql("select v from notes where id = %d" % i, db="shop", args=("-At",))
    return out.strip()


class AgentPolicyTest(HeldStatementMixin, TimedTestCase):
    test_timeout = 120

    def watchdog_targets(self):
        return [relay, filt, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return relay

    def connect(self, token, role="app_write"):
        c = psycopg2.connect(relay.dsn(token, role=role))
        c.autocommit = True
        self.addCleanup(c.close)
        return c

    def held_statement(self, sql, token):
        return self.held_psql(relay.dsn(token, role="app_write"), sql)

    def steps(self, rid):
        return [r for r in suite.logd.records() if r.get("type") == "review" and r.get("id") == rid]

    def test_person_reads_and_writes(self):
        c = self.connect(person_token("alice"))
        cur = c.cursor()
        cur.execute("insert into notes values (10, 'by alice')")
        cur.execute("select v from notes where id = 10")
        self.assertEqual(cur.fetchone()[0], "by alice")

    def test_agent_reads(self):
        cur = self.connect(agent_for()).cursor()
        cur.execute("select v from notes where id = 1")
        self.assertEqual(cur.fetchone()[0], "one")

    def test_agent_write_approved_by_its_person(self):
        p = self.held_statement("insert into notes values (20, 'by the agent')", agent_for())
        rid = self.wait_review_id(p)
        self.assertIsNone(p.poll(), "the statement waits for bob")
        # The notice names who approves: bob himself.
        self.assertIn("to be approved by the person bob, with their own token", self.notice)
        # The agent's own token, carrying an actor, cannot approve for bob.
        r = filt.cli(["review", "approve", rid], token=agent_for())
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("an agent cannot approve for its person", r.stderr)
        # Another person cannot either, dba-leads or not.
        r = filt.cli(["review", "approve", rid], token=person_token("dave"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("is for bob to approve", r.stderr)
        self.assertIsNone(p.poll(), "refused approvals do not release the statement")
        r = filt.cli(["review", "list"], token=person_token("bob"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(rid, r.stdout)
        r = filt.cli(["review", "approve", rid], token=person_token("bob"))
        self.assertEqual(r.returncode, 0, r.stderr)
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("INSERT 0 1", out)
        self.assertEqual(note(20), "by the agent")
        steps = self.steps(rid)
        created = next(r for r in steps if r["event"] == "created")
        self.assertEqual(created["user"], "bob")
        self.assertEqual(created["principal"], "person")
        self.assertEqual(created["actor"], [{"sub": "ci-bot"}, {"sub": "deploy-svc"}])
        self.assertEqual(created["client_id"], "pgward-ci")
        self.assertEqual(created["approvers"], ["self"])
        approved = next(r for r in steps if r["event"] == "approved")
        self.assertEqual((approved["by"], approved["by_principal"], approved["by_actor"]),
                         ("bob", "person", []))
        self.assertEqual(approved["actor"][0]["sub"], "ci-bot")
        intents = [r for r in suite.logd.records("intent") if r.get("review") == rid]
        self.assertEqual(intents[-1]["actor"][0]["sub"], "ci-bot")

    def test_agent_write_denied_by_another_person_stays_held_then_denied(self):
        p = self.held_statement("update notes set v = 'agent was here' where id = 1",
                                agent_for())
        rid = self.wait_review_id(p)
        r = filt.cli(["review", "deny", rid], token=person_token("alice"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("is for bob to approve", r.stderr)
        r = filt.cli(["review", "deny", rid], token=agent_for())
        self.assertNotEqual(r.returncode, 0)
        self.assertIsNone(p.poll())
        r = filt.cli(["review", "deny", rid], token=person_token("bob"))
        self.assertEqual(r.returncode, 0, r.stderr)
        out, err = p.communicate(timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("denied in review", err)
        self.assertEqual(note(1), "one")
        denied = next(r for r in self.steps(rid) if r["event"] == "denied")
        self.assertEqual(denied["by"], "bob")

    def test_machine_refused_a_person_connect_line(self):
        with self.assertRaises(psycopg2.OperationalError) as cm:
            self.connect(machine_token(), role="app_write")
        self.assertIn("may not assume role", str(cm.exception))
        # The connect line without the condition admits it, and it reads.
        cur = self.connect(machine_token(), role="app_read").cursor()
        cur.execute("select count(*) from notes")
        self.assertGreaterEqual(cur.fetchone()[0], 1)
        with self.assertRaises(psycopg2.Error):
            cur.execute("delete from notes where id = 1")
        self.assertEqual(note(1), "one")
