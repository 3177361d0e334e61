"""pgward-replay against a log written by the real suite: sessions run
through the relay with psql and psycopg2 (and pgward-filter denying a
statement), then found by every filter of `sessions` and `search`, shown,
exported in every format (RFC 5424 received by a real rsyslog over TCP),
followed with a cursor across SIGKILL, proven, and re-run on restored
copies of the database."""

import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import psycopg2

import pgward_env
from pgward_testing import TimedTestCase, psql

POLICY = """
default deny

connect shop app_read  groups analysts,engineers
connect shop app_write groups engineers

rule no-unbounded-writes
  kind update,delete
  where none,trivial
  action deny
  message "UPDATE/DELETE need a WHERE clause"

rule everything-else
  kind select,show,set,reset,transaction,explain,prepare,execute,deallocate,insert,update,delete
  action allow
"""

suite = None
filt = None
relay = None
USERS = {"alice": ["analysts"], "bob": ["engineers"]}
S = {}          # facts about the recorded sessions


def replay(*args, check=True, timeout=60, **kw):
    exe = os.path.join(pgward_env.build_dir(), "bin", "pgward-replay")
    p = subprocess.run([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError("pgward-replay %s: exit %d\n%s\n%s"
                             % (" ".join(args), p.returncode, p.stdout, p.stderr))
    if "runtime error" in p.stderr or "AddressSanitizer" in p.stderr:
        raise AssertionError("sanitizer: %s" % p.stderr)
    return p


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def wait_for(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def session_ended(sid):
    return any(r.get("type") == "session_end" and r.get("session") == sid
               for r in suite.logd.records())


def setUpModule():
    global suite, filt, relay
    suite = pgward_env.Suite(pgbench=False, start_relay=False).start()
    suite.users.update(USERS)
    filt = pgward_env.Filter(suite.auth, POLICY, logd=suite.logd).start()
    relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd, filter=filt).start()
    # Restored copies of the database as it is before the sessions run.
    for db in ("shop_copy", "shop_diverged"):
        suite.cluster.psql("create database %s template shop" % db)
    # The diverged copy lost some orders: the DELETE will count differently.
    suite.cluster.psql("delete from orders where id between 10 and 15", db="shop_diverged")

    # Session 1 (bob, psycopg2, app_write): reads, an error, the DELETE.
    c = psycopg2.connect(relay.dsn(suite.token("bob"), role="app_write"))
    c.autocommit = True
    cur = c.cursor()
    cur.execute("select current_setting('pgward.session')")
    S["bob"] = cur.fetchone()[0]
    cur.execute("select count(*) from orders where status = %s", ("paid",))
    with_error = False
    try:
        cur.execute("select 1/0")
    except psycopg2.Error:
        with_error = True
    assert with_error
    try:
        cur.execute("delete from orders")           # denied by the policy
    except psycopg2.Error:
        pass
    S["before"] = now_utc()
    cur.execute("DELETE FROM public.Orders WHERE id BETWEEN 10 AND 19")
    S["after"] = now_utc()
    S["deleted"] = cur.rowcount
    cur.execute("select count(*) from customers")
    c.close()
    # Session 2 (alice, psql, app_read): hostile text for the exporters.
    S["hostile"] = "select 'a|b=c\\d]e\"f' as \"x]y\", E'line1\\nline2', 'caf\u00e9' -- |="
    p = psql(relay.dsn(suite.token("alice"), role="app_read"),
             args=("-c", "select current_setting('pgward.session')", "-c", S["hostile"]))
    S["alice"] = p.stdout.splitlines()[0].strip()
    wait_for(lambda: session_ended(S["bob"]) and session_ended(S["alice"]),
             what="both sessions ended")
    S["setup_end"] = rfc3339(now_utc())


def tearDownModule():
    for d in (relay, filt):
        if d is not None:
            d.stop()
    if suite is not None:
        suite.stop()


class ReplayTestCase(TimedTestCase):
    test_timeout = 120

    def watchdog_targets(self):
        return [relay, filt, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return relay

    @property
    def log(self):
        return suite.logd.log_dir


class SessionsTest(ReplayTestCase):
    def ids(self, *args, check=True):
        if "--until" not in args:
            args += ("--until", S["setup_end"])     # not the other tests' sessions
        p = replay("sessions", "--json", *args, self.log, check=check)
        return [json.loads(l)["session"] for l in p.stdout.splitlines()]

    def test_every_filter(self):
        both = {S["bob"], S["alice"]}
        self.assertTrue(both <= set(self.ids()))
        self.assertEqual(self.ids("--user", "bob"), [S["bob"]])
        self.assertEqual(self.ids("--group", "analysts"), [S["alice"]])
        self.assertEqual(self.ids("--role", "app_write"), [S["bob"]])
        self.assertEqual(set(self.ids("--connection", "shop")), both)
        self.assertEqual(self.ids("--session", S["alice"][:10]), [S["alice"]])
        self.assertEqual(self.ids("--user", "nobody", check=False), [])
        self.assertEqual(replay("sessions", "--user", "nobody", self.log,
                                check=False).returncode, 1)
        since = rfc3339(S["before"])
        self.assertIn(S["bob"], self.ids("--since", since))
        self.assertEqual(self.ids("--until", "2000-01-01T00:00:00Z", check=False), [])
        self.assertEqual(self.ids("--since", "2999-01-01T00:00:00Z", check=False), [])

    def test_line_has_counts(self):
        p = replay("sessions", "--json", "--user", "bob", "--until", S["setup_end"], self.log)
        s = json.loads(p.stdout)
        self.assertEqual(s["user"], "bob")
        self.assertRegex(s["client"], r"^127\.0\.0\.1:\d+$")
        self.assertEqual(s["denials"], 1)
        self.assertGreaterEqual(s["statements"], 6)
        self.assertTrue(s["end"] and s["start"] < s["end"])
        text = replay("sessions", "--user", "bob", self.log).stdout
        self.assertIn(S["bob"], text)
        self.assertIn("127.0.0.1:", text)


class ShowTest(ReplayTestCase):
    def test_transcript(self):
        out = replay("show", S["bob"], self.log).stdout
        self.assertIn("DELETE FROM public.Orders WHERE id BETWEEN 10 AND 19", out)
        self.assertIn("deny (rule no-unbounded-writes)", out)
        self.assertIn("error 22012: division by zero", out)
        self.assertIn("rows %d" % S["deleted"], out)
        self.assertIn("ended ", out)

    def test_json_and_prefix(self):
        j = json.loads(replay("show", "--json", S["bob"][:12], self.log).stdout)
        self.assertEqual(j["session"], S["bob"])
        self.assertEqual(j["start"]["user"], "bob")
        self.assertEqual(j["end"]["type"], "session_end")
        dele = [s for s in j["statements"] if s["sql"].startswith("DELETE")]
        self.assertEqual(dele[0]["result"]["rows"], S["deleted"])
        self.assertEqual(dele[0]["result"]["tags"], ["DELETE %d" % S["deleted"]])
        errs = [s for s in j["statements"] if s["result"] and s["result"]["status"] == "error"]
        self.assertTrue(any(s["result"].get("sqlstate") == "22012" for s in errs))

    def test_unknown_session(self):
        p = replay("show", "ffffffffffffffff", self.log, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stderr, r"^pgward-replay: error: show: no session")


class SearchTest(ReplayTestCase):
    def search(self, *args, check=True):
        p = replay("search", "--json", *args, self.log, check=check)
        return [json.loads(l) for l in p.stdout.splitlines()]

    def test_who_deleted_from_orders_in_the_window(self):
        since = rfc3339(S["before"])
        until = rfc3339(S["after"])
        hits = self.search("--table", "orders", "--command", "DELETE",
                           "--since", since, "--until", until)
        self.assertEqual(len(hits), 1, hits)
        h = hits[0]
        self.assertEqual(h["user"], "bob")
        self.assertEqual(h["session"], S["bob"])
        self.assertEqual(h["result"]["rows"], S["deleted"])
        self.assertGreater(h["seq"], 0)
        # The same question with --at and the minute of the DELETE (UTC).
        minute = h["ts"][11:16]
        at = self.search("--table", "orders", "--command", "DELETE", "--at", minute)
        self.assertIn(h["seq"], [x["seq"] for x in at])
        self.assertNotIn(False, [x["sql"].upper().startswith("DELETE") for x in at])
        # Text form: one line naming who, where and which record.
        line = replay("search", "--table", "orders", "--command", "delete",
                      "--since", since, "--until", until, self.log).stdout
        self.assertIn("user bob", line)
        self.assertIn("session " + S["bob"], line)
        self.assertIn("seq %d" % h["seq"], line)
        # Outside the window: a negative answer.
        p = replay("search", "--table", "orders", "--command", "DELETE",
                   "--until", "2000-01-01T00:00:00Z", self.log, check=False)
        self.assertEqual(p.returncode, 1)

    def test_every_filter(self):
        self.assertTrue(all(h["user"] == "alice" for h in self.search("--user", "alice")))
        self.assertTrue(self.search("--group", "analysts"))
        self.assertTrue(all("engineers" in h["groups"] for h in self.search("--group", "engineers")))
        self.assertTrue(all(h["role"] == "app_read" for h in self.search("--role", "app_read")))
        self.assertTrue(self.search("--connection", "shop"))
        d = self.search("--decision", "deny")
        self.assertEqual([h["sql"] for h in d], ["delete from orders"])
        self.assertEqual(d[0]["rule"], "no-unbounded-writes")
        e = self.search("--sqlstate", "22012")
        self.assertEqual([h["sql"] for h in e], ["select 1/0"])
        self.assertEqual(e[0]["result"]["message"], "division by zero")
        self.assertTrue(self.search("--status", "error"))
        t = self.search("--text", "caf\u00e9")
        self.assertEqual([h["session"] for h in t], [S["alice"]])
        self.assertEqual(self.search("--table", "customers", "--user", "bob")[0]["sql"],
                         "select count(*) from customers")
        # An identifier, not a substring: "order" is not "orders".
        self.assertEqual(self.search("--table", "order", check=False), [])
        self.assertEqual(len(self.search("--session", S["alice"], "--limit", "1")), 1)


class ExportTest(ReplayTestCase):
    def test_jsonl_is_the_log_and_carries_checkpoints(self):
        out = replay("export", "--format", "jsonl", self.log).stdout.splitlines()
        recs = [json.loads(l) for l in out]
        plain = [r for r in recs if r["type"] != "checkpoint"]
        self.assertEqual([r["seq"] for r in plain], list(range(1, len(plain) + 1)))
        cks = [r for r in recs if r["type"] == "checkpoint"]
        self.assertTrue(cks)
        self.assertTrue(cks[-1]["note"].startswith("pgward.test/audit\n"))
        # Each checkpoint comes after the records it covers.
        seen = 0
        for r in recs:
            if r["type"] == "checkpoint":
                self.assertLessEqual(r["size"], seen)
            else:
                seen = r["seq"]
        # The exported checkpoint is what verify -c accepts.
        with tempfile.NamedTemporaryFile("w", suffix=".note", delete=False) as f:
            f.write(cks[-1]["note"])
        self.addCleanup(os.unlink, f.name)
        replay("verify", "-k", suite.logd.vkey_path, "-c", f.name, self.log)
        # --from
        part = [json.loads(l) for l in replay("export", "--from", "5", self.log).stdout.splitlines()]
        self.assertEqual(part[0]["seq"], 5)

    def test_ocsf_required_attributes(self):
        out = replay("export", "--format", "ocsf", self.log).stdout.splitlines()
        evs = [json.loads(l) for l in out]
        q = [e for e in evs if e.get("unmapped", {}).get("type") == "intent"]
        self.assertTrue(q)
        for e in evs:
            for k in ("class_uid", "category_uid", "activity_id", "type_uid", "time",
                      "severity_id", "metadata", "actor", "src_endpoint"):
                self.assertIn(k, e)
            self.assertEqual(e["class_uid"], 6005)
            self.assertEqual(e["type_uid"], 600500 + e["activity_id"])
        for e in q:
            self.assertEqual(e["activity_id"], 4)
            self.assertEqual(e["type_uid"], 600504)
            self.assertTrue(e["query_info"]["datastore_query"])
            self.assertTrue(e["actor"]["user"]["name"])
            self.assertTrue(e["actor"]["user"]["uid"])
            self.assertTrue(e["actor"]["user"]["groups"])
            self.assertTrue(e["actor"]["session"]["uid"])
            self.assertEqual(e["src_endpoint"]["ip"], "127.0.0.1")
            self.assertIn(e["action_id"], (1, 2))
            self.assertIn(e["disposition_id"], (1, 2))
        denied = [e for e in q if e["query_info"]["datastore_query"] == "delete from orders"]
        self.assertEqual((denied[0]["action_id"], denied[0]["disposition_id"]), (2, 2))
        hostile = [e for e in q if e["query_info"]["datastore_query"] == S["hostile"]]
        self.assertEqual(len(hostile), 1)
        self.assertTrue(any(e["activity_name"] == "Checkpoint" for e in evs))
        results = [e for e in evs if e.get("unmapped", {}).get("type") == "result"]
        self.assertTrue(all(e["actor"]["user"]["groups"] for e in results))
        # Started mid-log: the client still comes from the session's start.
        seq = hostile[0]["metadata"]["sequence"]
        mid = [json.loads(l) for l in
               replay("export", "--format", "ocsf", "--from", str(seq), self.log).stdout.splitlines()]
        self.assertEqual(mid[0]["src_endpoint"]["ip"], "127.0.0.1")

    def test_cef_escaping_of_recorded_sql(self):
        out = replay("export", "--format", "cef", self.log).stdout.splitlines()
        line = [l for l in out if "cs2Label=sql" in l and "line1" in l][0]
        self.assertTrue(line.startswith("CEF:0|pgward|pgward|"))
        want = (S["hostile"].replace("\\", "\\\\").replace("=", "\\=")
                .replace("\n", "\\n"))
        self.assertIn("cs2=" + want + " ", line)

    def test_syslog_received_by_rsyslog(self):
        rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
        if not os.path.exists(rsyslogd):
            self.fail("rsyslogd is not installed (Debian package rsyslog; scripts/install-deps)")
        d = tempfile.mkdtemp(prefix="pgward-rsyslog-")
        self.addCleanup(shutil.rmtree, d, True)
        port = pgward_env.free_port()
        out = os.path.join(d, "received.log")
        conf = os.path.join(d, "rsyslog.conf")
        with open(conf, "w") as f:
            f.write('global(workDirectory="%s" maxMessageSize="8k")\n'
                    'module(load="imtcp")\n'
                    'template(name="t" type="string" string="%%msgid%%\\t%%structured-data%%\\t%%msg%%\\n")\n'
                    'ruleset(name="r") { action(type="omfile" file="%s" template="t") }\n'
                    'input(type="imtcp" port="%d" address="127.0.0.1" ruleset="r")\n'
                    % (d, out, port))
        proc = subprocess.Popen([rsyslogd, "-n", "-f", conf, "-i", os.path.join(d, "pid")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(lambda: (proc.poll() is None and proc.terminate(), proc.wait()))
        pgward_env.wait_port("127.0.0.1", port, timeout=15)
        exported = replay("export", "--format", "syslog", self.log).stdout
        import socket
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(exported.encode())
        s.close()
        n = len(exported.splitlines())
        wait_for(lambda: os.path.exists(out) and len(open(out, "rb").read().splitlines()) >= n,
                 timeout=15, what="rsyslog to write every message")
        rows = open(out, encoding="utf-8").read().splitlines()
        self.assertEqual(len(rows), n)
        parsed = [self.parse_sd(r.split("\t")[1]) for r in rows]
        intents = [p for p in parsed if "sql" in p]
        hostile = [p for p in intents if p["sql"].startswith("select 'a|b")]
        self.assertEqual(len(hostile), 1)
        h = hostile[0]
        # rsyslog's own convention for the newline: "#012".
        self.assertEqual(h["sql"].replace("#012", "\n"), S["hostile"])
        self.assertEqual(h["sql_sha256"], hashlib.sha256(S["hostile"].encode()).hexdigest())
        self.assertEqual(h["user"], "alice")
        self.assertIn("checkpoint", [r.split("\t")[0] for r in rows])

    @staticmethod
    def parse_sd(sd):
        """[id k="v" ...] with RFC 5424 escapes (\\\\, \\", \\])."""
        m = re.match(r'^\[(\S+)', sd)
        assert m, sd
        out = {}
        for k, v in re.findall(r' ([A-Za-z0-9_]+)="((?:[^"\\]|\\.)*)"', sd[m.end():]):
            out[k] = re.sub(r'\\(["\\\]])', r'\1', v)
        return out

    def test_syslog_truncates_long_sql_with_its_hash(self):
        c = psycopg2.connect(relay.dsn(suite.token("bob"), role="app_read"))
        c.autocommit = True
        long_sql = "select '" + "x]" * 3000 + "'"
        c.cursor().execute(long_sql)
        c.close()
        wait_for(lambda: any(r.get("sql") == long_sql for r in suite.logd.records("intent")))
        out = replay("export", "--format", "syslog", self.log).stdout.splitlines()
        line = [l for l in out if "x\\]x\\]" in l and "sql_truncated" in l][0]
        self.assertLessEqual(len(line.encode()), 2048)
        self.assertIn('sql_sha256="%s"' % hashlib.sha256(long_sql.encode()).hexdigest(), line)
        self.assertIn('sql_bytes="%d"' % len(long_sql), line)

    def test_follow_cursor_survives_sigkill(self):
        d = tempfile.mkdtemp(prefix="pgward-export-")
        self.addCleanup(shutil.rmtree, d, True)
        cursor = os.path.join(d, "cursor")
        out = os.path.join(d, "out.jsonl")
        exe = os.path.join(pgward_env.build_dir(), "bin", "pgward-replay")

        def start():
            f = open(out, "ab")
            p = subprocess.Popen([exe, "export", "--follow", "--poll-ms", "20",
                                  "--cursor", cursor, self.log], stdout=f,
                                 stderr=subprocess.PIPE)
            f.close()
            return p

        c = psycopg2.connect(relay.dsn(suite.token("bob"), role="app_read"))
        c.autocommit = True
        cur = c.cursor()
        p = start()
        for round in range(6):
            for i in range(40):
                cur.execute("select %d /* follow %d */" % (i, round))
            time.sleep(0.05 * round)
            p.send_signal(signal.SIGKILL)
            p.wait()
            p = start()
        c.close()
        last = max(r["seq"] for r in suite.logd.records())
        def caught_up():
            try:
                return json.load(open(cursor))["seq"] >= last
            except (OSError, ValueError):
                return False
        wait_for(caught_up, timeout=20, what="export to catch up")
        p.terminate()
        p.wait()
        recs = [json.loads(l) for l in open(out, "rb").read().splitlines()]
        seqs = [r["seq"] for r in recs if r["type"] != "checkpoint"]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "gap or duplicate")
        self.assertGreaterEqual(seqs[-1], last)
        sizes = [r["size"] for r in recs if r["type"] == "checkpoint"]
        self.assertEqual(sizes, sorted(set(sizes)), "duplicate checkpoint")


class ProveTest(ReplayTestCase):
    def test_proof_verifies_and_detects_tampering(self):
        intents = suite.logd.records("intent")
        seq = [r for r in intents if r.get("session") == S["bob"]][-1]["seq"]
        wait_for(lambda: json.loads(open(os.path.join(self.log, "checkpoints.jsonl"))
                                    .read().splitlines()[-1])["size"] >= seq)
        proof = replay("prove", "-k", suite.logd.vkey_path, str(seq), self.log).stdout
        d = tempfile.mkdtemp(prefix="pgward-proof-")
        self.addCleanup(shutil.rmtree, d, True)
        def check(obj, name):
            path = os.path.join(d, name)
            with open(path, "w") as f:
                json.dump(obj, f)
            return replay("verify-proof", "-k", suite.logd.vkey_path, path, check=False)
        good = json.loads(proof)
        self.assertEqual(good["seq"], seq)
        self.assertEqual(good["leaf_index"], seq - 1)
        p = check(good, "good.json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("OK: record %d" % seq, p.stdout)
        # The record altered.
        bad = dict(good, record=good["record"].replace('"user":"bob"', '"user":"eve"'))
        self.assertEqual(check(bad, "bad-record.json").returncode, 1)
        # The record altered and its own hash recomputed: the path catches it.
        line = bad["record"]
        body = line[:line.rindex(',"hash":')] + "}"
        h = hashlib.sha256(body.encode()).hexdigest()
        forged = dict(bad, record=line[:line.rindex(',"hash":')] + ',"hash":"%s"}' % h)
        p = check(forged, "forged.json")
        self.assertEqual(p.returncode, 1)
        self.assertIn("inclusion path", p.stdout)
        # The checkpoint altered.
        note = good["checkpoint"].split("\n")
        note[1] = str(int(note[1]) + 1)
        p = check(dict(good, checkpoint="\n".join(note)), "bad-note.json")
        self.assertEqual(p.returncode, 1)
        # Another key.
        other = os.path.join(d, "other.key")
        vk = subprocess.run([os.path.join(pgward_env.build_dir(), "bin", "pgward-logd"),
                             "keygen", "pgward.test/audit", other], stdout=subprocess.PIPE,
                            text=True, check=True).stdout.strip()
        with open(os.path.join(d, "other.vkey"), "w") as f:
            f.write(vk + "\n")
        p = replay("verify-proof", "-k", os.path.join(d, "other.vkey"),
                   os.path.join(d, "good.json"), check=False)
        self.assertEqual(p.returncode, 1)


class RunTest(ReplayTestCase):
    def test_reproduces_on_restored_copy_and_reports_divergence(self):
        p = replay("run", S["bob"], "--target", suite.cluster.unix_dsn(db="shop_copy"),
                   self.log, check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("0 differ", p.stdout)
        self.assertRegex(p.stdout, r"seq \d+: same: ok rows=%d: DELETE" % S["deleted"])
        self.assertRegex(p.stdout, r"same: error rows=-1 sqlstate=22012")
        self.assertIn("skipped: not allowed when recorded", p.stdout)
        p = replay("run", S["bob"], "--target", suite.cluster.unix_dsn(db="shop_diverged"),
                   "--pace", self.log, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"DIFFERS: recorded ok rows=%d, now ok rows=%d: DELETE"
                         % (S["deleted"], S["deleted"] - 6))
