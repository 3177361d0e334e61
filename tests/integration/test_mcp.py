"""pgward-mcp driven by the official MCP TypeScript SDK (tests/mcp/client.mjs:
Client + StdioClientTransport) against a real relay, filter, logd and
PostgreSQL. An agent acting for bob (RFC 8693 act) reads through the
relay: rows come back masked as the relay masks them, a row limit is
marked truncated, a denied statement's reason reaches the agent as an
isError result, list_tables and explain work (explain runs nothing), a
held write answers "waiting for approval r-..." at once and review_status
returns its rows after bob approves (or the relay's reason when denied),
an expired token is refreshed through --token-command, and malformed
JSON-RPC gets -32700."""

import json
import os
import select
import subprocess
import time

import pgward_env
from pgward_testing import TimedTestCase

POLICY = """
default deny
connect shop app_write groups engineers

mask mode gateway
mask column public.customers.email style email-domain

rule agents-read
  actors any
  kind select,show,set,reset,transaction,explain
  action allow

rule agents-never-truncate
  kind truncate
  action deny
  message "TRUNCATE is not for agents"

rule agent-writes-need-their-person
  actors any
  principal person
  kind insert,update,delete
  action review
  approvers self
  timeout-s 60
"""

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "..", "mcp", "client.mjs")

suite = filt = relay = None


def setUpModule():
    global suite, filt, relay
    suite = pgward_env.Suite(pgbench=False, start_relay=False).start()
    suite.users.update({"bob": ["engineers"], "alice": ["engineers"]})
    filt = pgward_env.Filter(suite.auth, POLICY, logd=suite.logd).start()
    keyfile = pgward_env.write_file(filt.dir + "/mask.key", "ab" * 32 + "\n", 0o600)
    relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd, filter=filt, allow=[],
                             extra_conf="mask-key %s" % keyfile).start()
    suite.cluster.psql(
        "create table notes(id int primary key, v text);"
        "insert into notes values (1, 'one');"
        "grant select, insert, update, delete, truncate on notes to app_write;", db="shop")


def tearDownModule():
    for d in (relay, filt):
        if d is not None:
            d.stop()
    if suite is not None:
        suite.stop()


def agent_token(ttl=None):
    return suite.token("bob", ttl=ttl, extra_args=("-A", "claude-agent", "-c", "claude-desktop"))


def mcp_argv(*extra):
    return [os.path.join(pgward_env.build_dir(), "bin", "pgward-mcp"),
            "-H", "127.0.0.1", "-p", str(relay.port), "-d", "shop", "-U", "app_write",
            "--timeout", "30", *extra]


def note(i):
    return suite.cluster.psql("select v from notes where id = %d" % i, db="shop",
                              args=("-At",)).strip()


class SdkClient:
    """tests/mcp/client.mjs as a subprocess: one command a line."""

    def __init__(self, testcase, argv, env):
        self.errpath = os.path.join(pgward_env.make_tempdir("mcp-client"), "stderr")
        self.err = open(self.errpath, "w+")
        self.p = subprocess.Popen(["node", CLIENT, *argv], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.err, text=True, env=env)
        testcase.addCleanup(self.close)
        self.ready = self._read(30)

    def _read(self, timeout):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            raise AssertionError("no answer from the MCP client in %ss; stderr: %s"
                                 % (timeout, self.stderr()))
        line = self.p.stdout.readline()
        if not line:
            raise AssertionError("the MCP client ended; stderr: %s" % self.stderr())
        return json.loads(line)

    def send(self, cmd, timeout=60):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()
        return self._read(timeout)

    def tools(self):
        a = self.send({"op": "list"})
        assert a["ok"], a
        return a["result"]["tools"]

    def call(self, name, timeout=60, **arguments):
        a = self.send({"op": "call", "name": name, "arguments": arguments}, timeout)
        assert a["ok"], a
        return a["result"]

    def stderr(self):
        self.err.flush()
        with open(self.errpath) as f:
            return f.read()

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write(json.dumps({"op": "close"}) + "\n")
                self.p.stdin.close()
                self.p.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait()
        self.err.close()


class McpTest(TimedTestCase):
    test_timeout = 120

    def watchdog_targets(self):
        return [relay, filt, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return relay

    def client(self, token=None, extra=(), env=None):
        e = pgward_env.clean_pg_env()
        e.pop("PGWARD_TOKEN", None)
        if token is not None:
            e["PGWARD_TOKEN"] = token
        e.update(env or {})
        c = SdkClient(self, mcp_argv(*extra), e)
        self.addCleanup(self.assert_no_sanitizer_report, c)
        return c

    def assert_no_sanitizer_report(self, c):
        text = c.stderr()
        for m in pgward_env.SANITIZER_MARKERS:
            self.assertNotIn(m, text)

    def structured(self, result):
        self.assertFalse(result.get("isError"), result)
        sc = result["structuredContent"]
        # The text block says the same for clients that read only text.
        self.assertEqual(json.loads(result["content"][0]["text"]), sc)
        return sc

    def error_text(self, result):
        self.assertTrue(result.get("isError"), result)
        return result["content"][0]["text"]

    def test_handshake_and_tools(self):
        c = self.client(agent_token())
        self.assertEqual(c.ready["server"]["name"], "pgward-mcp")
        self.assertIn("tools", c.ready["capabilities"])
        tools = {t["name"]: t for t in c.tools()}
        self.assertEqual(set(tools), {"query", "list_tables", "explain", "review_status"})
        self.assertEqual(tools["query"]["inputSchema"]["required"], ["sql"])
        self.assertEqual(tools["query"]["inputSchema"]["properties"]["limit"]["maximum"], 1000)
        self.assertEqual(tools["review_status"]["inputSchema"]["required"], ["review"])

    def test_query_rows_masked_as_the_relay_masks(self):
        raw = suite.cluster.psql("select email from customers order by id limit 3", db="shop",
                                 args=("-At",)).split()
        c = self.client(agent_token())
        sc = self.structured(c.call("query", sql="select id, name, email from customers "
                                    "order by id", limit=3))
        self.assertEqual(sc["columns"], ["id", "name", "email"])
        self.assertEqual(sc["row_count"], 3)
        self.assertTrue(sc["truncated"])
        self.assertEqual(sc["limit"], 3)
        for row, email in zip(sc["rows"], raw):
            self.assertNotEqual(row["email"], email)
            self.assertNotIn(email.split("@")[0], row["email"])
            self.assertTrue(row["email"].endswith(email.split("@")[1]), row)
        sc = self.structured(c.call("query", sql="select id from customers where id = 1"))
        self.assertEqual((sc["rows"], sc["truncated"], sc["command"]),
                         ([{"id": "1"}], False, "SELECT 1"))
        sc = self.structured(c.call("query", sql="select null::text as n"))
        self.assertEqual(sc["rows"], [{"n": None}])

    def test_denied_statement_reason_reaches_the_agent(self):
        c = self.client(agent_token())
        text = self.error_text(c.call("query", sql="truncate notes"))
        self.assertIn("TRUNCATE is not for agents", text)
        self.assertIn("42501", text)
        self.assertEqual(note(1), "one")
        # The same session goes on.
        sc = self.structured(c.call("query", sql="select v from notes where id = 1"))
        self.assertEqual(sc["rows"], [{"v": "one"}])
        text = self.error_text(c.call("query", sql="select * from no_such_table"))
        self.assertIn("no_such_table", text)
        self.assertTrue(self.error_text(c.call("query", sql="")))
        self.assertIn("limit", self.error_text(c.call("query", sql="select 1", limit=5000)))

    def test_list_tables(self):
        c = self.client(agent_token())
        sc = self.structured(c.call("list_tables", schema="public"))
        tables = {(t["schema"], t["table"]): t for t in sc["tables"]}
        self.assertIn(("public", "customers"), tables)
        cols = [col["name"] for col in tables[("public", "customers")]["columns"]]
        self.assertEqual(cols[:3], ["id", "name", "email"])
        self.assertEqual(tables[("public", "customers")]["type"], "BASE TABLE")
        self.assertFalse(sc["truncated"])

    def test_explain_plans_and_runs_nothing(self):
        c = self.client(agent_token())
        sc = self.structured(c.call("explain", sql="select id from customers where id = 1"))
        self.assertTrue(any("customers" in line for line in sc["plan"]), sc)
        # Neither ANALYZE nor a second statement can ride along.
        self.error_text(c.call("explain", sql="analyze delete from notes"))
        self.error_text(c.call("explain", sql="select 1; truncate notes"))
        # The relay judges EXPLAIN by the statement inside: an agent's
        # DELETE is held for bob even to be planned.
        sc = self.structured(c.call("explain", sql="delete from notes"))
        self.assertEqual(sc["status"], "waiting", sc)
        r = filt.cli(["review", "deny", sc["review"]], token=suite.token("bob"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(note(1), "one")

    def test_held_statement_waits_then_approved(self):
        c = self.client(agent_token())
        t0 = time.time()
        sc = self.structured(c.call("query", sql="insert into notes values (20, 'by the agent') "
                                    "returning id, v"))
        self.assertLess(time.time() - t0, 10, "a held statement answers at once")
        self.assertEqual(sc["status"], "waiting")
        rid = sc["review"]
        self.assertTrue(rid.startswith("r-"), sc)
        self.assertIn("waiting for approval %s" % rid, sc["message"])
        # The agent is told who must approve: the person behind it.
        self.assertIn("by the person bob, with their own token", sc["message"])
        self.assertIn("agent-writes-need-their-person", sc["relay_notice"])
        self.assertEqual(note(20), "")
        sc = self.structured(c.call("review_status", review=rid))
        self.assertEqual(sc["status"], "waiting")
        # Other work goes on meanwhile on a fresh session.
        sc2 = self.structured(c.call("query", sql="select v from notes where id = 1"))
        self.assertEqual(sc2["rows"], [{"v": "one"}])
        r = filt.cli(["review", "approve", rid], token=suite.token("bob"))
        self.assertEqual(r.returncode, 0, r.stderr)
        sc = self.structured(c.call("review_status", review=rid, wait_seconds=20))
        self.assertEqual(sc["status"], "done")
        self.assertEqual(sc["rows"], [{"id": "20", "v": "by the agent"}])
        self.assertEqual(sc["command"], "INSERT 0 1")
        self.assertEqual(note(20), "by the agent")
        # Reported once; then it is no longer held here.
        self.error_text(c.call("review_status", review=rid))

    def test_held_statement_denied(self):
        c = self.client(agent_token())
        sc = self.structured(c.call("query", sql="update notes set v = 'agent' where id = 1"))
        rid = sc["review"]
        r = filt.cli(["review", "deny", rid], token=suite.token("bob"))
        self.assertEqual(r.returncode, 0, r.stderr)
        res = c.call("review_status", review=rid, wait_seconds=20)
        self.assertIn("denied in review %s" % rid, self.error_text(res))
        self.assertEqual(res["structuredContent"]["status"], "denied")
        self.assertEqual(note(1), "one")

    def test_expired_token_refreshed_by_the_command(self):
        d = pgward_env.make_tempdir("mcp-token")
        pgward_env.write_file(os.path.join(d, "tok.1"), agent_token(ttl=3) + "\n")
        pgward_env.write_file(os.path.join(d, "tok.2"), agent_token() + "\n")
        cmd = ("n=$(cat %(d)s/count 2>/dev/null || echo 0); n=$((n + 1)); "
               "echo $n > %(d)s/count; cat %(d)s/tok.$n" % {"d": d})
        c = self.client(extra=("--token-command", cmd))
        sc = self.structured(c.call("query", sql="select 1 as one"))
        self.assertEqual(sc["rows"], [{"one": "1"}])
        time.sleep(4)
        sc = self.structured(c.call("query", sql="select 2 as two"))
        self.assertEqual(sc["rows"], [{"two": "2"}])
        with open(os.path.join(d, "count")) as f:
            self.assertEqual(f.read().strip(), "2")

    def test_expired_env_token_is_a_tool_error(self):
        c = self.client(agent_token(ttl=3))
        self.structured(c.call("query", sql="select 1"))
        time.sleep(4)
        self.assertIn("token expired", self.error_text(c.call("query", sql="select 1")))

    def test_malformed_json_rpc(self):
        env = pgward_env.clean_pg_env()
        env["PGWARD_TOKEN"] = agent_token()
        lines = ["{not json",
                 json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
                 json.dumps({"jsonrpc": "2.0", "id": 2, "method": "initialize",
                             "params": {"protocolVersion": "1999-01-01", "capabilities": {},
                                        "clientInfo": {"name": "t", "version": "0"}}}),
                 json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                 json.dumps({"jsonrpc": "1.0", "id": 3, "method": "ping"}),
                 json.dumps([{"jsonrpc": "2.0", "id": 4, "method": "ping"}]),
                 json.dumps({"jsonrpc": "2.0", "id": 5, "method": "resources/list"}),
                 json.dumps({"jsonrpc": "2.0", "id": 6, "method": "tools/call",
                             "params": {"name": "nope"}}),
                 json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                             "params": []}),
                 json.dumps({"jsonrpc": "2.0", "id": 8, "method": "ping"})]
        p = subprocess.run(mcp_argv(), input="\n".join(lines) + "\n", stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        for m in pgward_env.SANITIZER_MARKERS:
            self.assertNotIn(m, p.stderr)
        out = [json.loads(line) for line in p.stdout.splitlines()]
        got = [(o.get("id"), o["error"]["code"] if "error" in o else "ok") for o in out]
        self.assertEqual(got, [(None, -32700), (1, -32600), (2, "ok"), (3, -32600),
                               (None, -32600), (5, -32601), (6, -32602), (7, -32602),
                               (8, "ok")])
        self.assertEqual(out[2]["result"]["protocolVersion"], "2025-11-25")


if __name__ == "__main__":
    import unittest
    unittest.main()
