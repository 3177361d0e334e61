"""The relay writes the audit trail through pgward-logd: session start,
one intent record per statement before it runs (simple and extended
protocol, with bound parameters), one result record after it, session
end; and fails closed when logd cannot take the intent."""

import hashlib
import os
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import psycopg2

import pgward_env
from pgward_testing import TimedTestCase, psql

suite = None


def setUpModule():
    global suite
    suite = pgward_env.Suite(pgbench=False).start()
    suite.cluster.psql("create table audit_t(id serial primary key, v text);"
                       "grant all on audit_t to app_write;"
                       "grant usage on sequence audit_t_id_seq to app_write;", db="shop")


def tearDownModule():
    if suite is not None:
        suite.stop()


def wait_for(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class AuditTestCase(TimedTestCase):
    test_timeout = 120

    def watchdog_targets(self):
        return [suite.relay, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return suite.relay

    def setUp(self):
        if not suite.logd.running():
            suite.logd.start()
        super().setUp()

    def connect(self, user="bob", role="app_write", **kw):
        c = psycopg2.connect(suite.relay_dsn(suite.token(user), role=role, **kw))
        self.addCleanup(c.close)
        return c

    def session_records(self, session):
        return [r for r in suite.logd.records() if r.get("session") == session]

    def count_direct(self, where):
        out = suite.cluster.psql("select count(*) from audit_t where %s" % where,
                                 db="shop", args=("-At",))
        return int(out.strip())


class RecordsTest(AuditTestCase):
    def test_simple_protocol_records(self):
        c = self.connect()
        c.autocommit = True
        cur = c.cursor()
        cur.execute("select current_setting('pgward.session'), pg_backend_pid()")
        session, pid = cur.fetchone()
        cur.execute("insert into audit_t(v) values ('simple-1'), ('simple-2')")
        with self.assertRaises(psycopg2.Error):
            cur.execute("select 1/0")
        c.close()
        recs = wait_for(lambda: [r for r in self.session_records(session)
                                 if r["type"] == "session_end"] and self.session_records(session),
                        what="session_end record")
        types = [r["type"] for r in recs]
        self.assertEqual(types[0], "session_start")
        self.assertEqual(types[-1], "session_end")
        start = recs[0]
        self.assertEqual(start["user"], "bob")
        self.assertEqual(start["groups"], ["engineers"])
        self.assertEqual(start["role"], "app_write")
        self.assertEqual(start["connection"], "shop")
        self.assertEqual(start["backend_pid"], pid)
        self.assertIn(start["tls"], ("TLSv1.2", "TLSv1.3"))
        self.assertTrue(start["sub"])
        self.assertTrue(start["iss"])
        self.assertRegex(start["client"], r"^127\.0\.0\.1:\d+$")
        intents = [r for r in recs if r["type"] == "intent"]
        sqls = [r["sql"] for r in intents]
        self.assertIn("insert into audit_t(v) values ('simple-1'), ('simple-2')", sqls)
        ins = next(r for r in intents if r["sql"].startswith("insert"))
        self.assertEqual(ins["protocol"], "simple")
        self.assertEqual(ins["decision"], "allow")
        self.assertEqual(ins["user"], "bob")
        results = {r["intent"]: r for r in recs if r["type"] == "result"}
        res = results[ins["seq"]]
        self.assertEqual(res["status"], "ok")
        self.assertEqual(res["tags"], ["INSERT 0 2"])
        self.assertEqual(res["rows"], 2)
        self.assertGreaterEqual(res["duration_ms"], 0)
        div = next(r for r in intents if r["sql"] == "select 1/0")
        self.assertEqual(results[div["seq"]]["status"], "error")
        self.assertEqual(results[div["seq"]]["sqlstate"], "22012")
        self.assertIn("division by zero", results[div["seq"]]["message"])
        # Every intent precedes its result; results name their intent.
        for r in recs:
            if r["type"] == "result":
                self.assertLess(r["intent"], r["seq"])
        self.assertEqual(recs[-1]["reason"], "client disconnected")

    def test_long_sql_is_pinned_by_its_hash(self):
        c = self.connect()
        c.autocommit = True
        cur = c.cursor()
        big = "x" * 400000
        sql = cur.mogrify("select length(%s) as n", (big,)).decode()
        cur.execute(sql)
        self.assertEqual(cur.fetchone()[0], 400000)
        rec = [r for r in suite.logd.records("intent") if r.get("sql_bytes") == len(sql)][-1]
        self.assertEqual(rec["sql_sha256"], hashlib.sha256(sql.encode()).hexdigest())
        self.assertEqual(len(rec["sql"]), 256 * 1024)
        self.assertTrue(sql.startswith(rec["sql"]))

    def test_extended_protocol_params(self):
        script = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
        self.addCleanup(os.unlink, script.name)
        script.write("\\set x random(1000000, 9999999)\n"
                     "insert into audit_t(v) values (:x);\n"
                     "select v from audit_t where v = :x;\n")
        script.close()
        env = pgward_env.clean_pg_env()
        env["PGPASSWORD"] = suite.token("bob")
        dsn = "host=127.0.0.1 port=%d sslmode=require dbname=shop user=app_write" % suite.relay.port
        p = subprocess.run(["pgbench", "-n", "-M", "prepared", "-t", "3", "-f", script.name,
                            dsn], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        recs = suite.logd.records("intent")
        ext = [r for r in recs if r.get("protocol") == "extended" and
               r["sql"] == "insert into audit_t(v) values ($1);"]
        self.assertGreaterEqual(len(ext), 3)
        for r in ext[-3:]:
            self.assertEqual(len(r["params"]), 1)
            v = r["params"][0]
            self.assertRegex(v, r"^\d{7}$")
            self.assertEqual(self.count_direct("v = '%s'" % v), 1)
            self.assertTrue(r["statement"].startswith("P_"))

    def test_parameters_redacted_when_configured(self):
        relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd,
                                 extra_conf="audit-parameters redacted").start()
        self.addCleanup(relay.stop)
        script = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
        self.addCleanup(os.unlink, script.name)
        script.write("select v from audit_t where v = 'secret-param-' || :client_id;\n")
        script.close()
        env = pgward_env.clean_pg_env()
        env["PGPASSWORD"] = suite.token("bob")
        dsn = "host=127.0.0.1 port=%d sslmode=require dbname=shop user=app_write" % relay.port
        p = subprocess.run(["pgbench", "-n", "-M", "extended", "-t", "1", "-f", script.name, dsn],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        ext = [r for r in suite.logd.records("intent")
               if "secret-param-" in str(r.get("sql"))]
        self.assertTrue(ext)
        self.assertEqual(ext[-1]["params"], [{"redacted": True, "bytes": 1}])


class FailClosedTest(AuditTestCase):
    def test_statement_refused_and_not_run_when_logd_down(self):
        c = self.connect()
        c.autocommit = True
        cur = c.cursor()
        cur.execute("select 1")
        suite.logd.terminate()
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("insert into audit_t(v) values ('while-logd-down')")
        self.assertEqual(cm.exception.pgcode, "58030")
        self.assertIn("audit log is unavailable", str(cm.exception))
        self.assertEqual(self.count_direct("v = 'while-logd-down'"), 0)
        # The session recovers when logd is back.
        suite.logd.start()
        cur.execute("insert into audit_t(v) values ('after-logd-back')")
        self.assertEqual(self.count_direct("v = 'after-logd-back'"), 1)
        self.assertTrue(any(r.get("sql") == "insert into audit_t(v) values ('after-logd-back')"
                            for r in suite.logd.records("intent")))
        self.assertFalse(any("while-logd-down" in str(r.get("sql"))
                             for r in suite.logd.records("intent")))

    def test_refusal_fails_the_transaction(self):
        c = self.connect()
        cur = c.cursor()	# psycopg2 opens a transaction block
        cur.execute("insert into audit_t(v) values ('txn-first')")
        suite.logd.terminate()
        with self.assertRaises(psycopg2.Error):
            cur.execute("insert into audit_t(v) values ('txn-second')")
        suite.logd.start()
        # Like after a server error: the block is failed, COMMIT rolls back.
        with self.assertRaises(psycopg2.errors.InFailedSqlTransaction):
            cur.execute("select 1")
        c.commit()
        self.assertEqual(self.count_direct("v in ('txn-first', 'txn-second')"), 0)

    def test_extended_protocol_refused_when_logd_down(self):
        script = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
        self.addCleanup(os.unlink, script.name)
        # Log in while logd is up; it is stopped during the sleep.
        script.write("\\sleep 700 ms\ninsert into audit_t(v) values ('extended-down');\n")
        script.close()
        env = pgward_env.clean_pg_env()
        env["PGPASSWORD"] = suite.token("bob")
        dsn = "host=127.0.0.1 port=%d sslmode=require dbname=shop user=app_write" % suite.relay.port
        for mode in ("extended", "prepared"):
            p = subprocess.Popen(["pgbench", "-n", "-M", mode, "-t", "1", "-f", script.name, dsn],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
            time.sleep(0.35)
            suite.logd.terminate()
            out, err = p.communicate(timeout=60)
            suite.logd.start()
            self.assertIn("audit log is unavailable", err, "mode %s: %s" % (mode, err))
            self.assertEqual(self.count_direct("v = 'extended-down'"), 0,
                             "mode %s: statement ran without an intent record" % mode)

    def test_login_refused_when_logd_down(self):
        suite.logd.terminate()
        try:
            with self.assertRaises(psycopg2.OperationalError) as cm:
                psycopg2.connect(suite.relay_dsn(suite.token("alice")))
            self.assertIn("audit log is unavailable", str(cm.exception))
        finally:
            suite.logd.start()


class DiskFullTest(AuditTestCase):
    test_timeout = 180

    def test_full_disk_refuses_then_recovers(self):
        mnt = tempfile.mkdtemp(prefix="pgward-full-")
        self.addCleanup(os.rmdir, mnt)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", mnt],
                           stderr=subprocess.PIPE, text=True)
        self.assertEqual(p.returncode, 0, "cannot mount a small tmpfs: " + p.stderr)
        self.addCleanup(subprocess.run, ["umount", "-l", mnt])
        logd = pgward_env.Logd(log_dir=os.path.join(mnt, "log")).start()
        self.addCleanup(logd.stop)
        relay = pgward_env.Relay(suite.cluster, suite.auth, logd=logd).start()
        self.addCleanup(relay.stop)
        c = psycopg2.connect(relay.dsn(suite.token("bob"), role="app_write"))
        self.addCleanup(c.close)
        c.autocommit = True
        cur = c.cursor()
        cur.execute("select 1")
        # Leave about 40 kB free.
        ballast = os.path.join(mnt, "ballast")
        st = os.statvfs(mnt)
        with open(ballast, "wb") as f:
            f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - 40 * 1024))
        refused = None
        for i in range(2000):
            try:
                cur.execute("insert into audit_t(v) values (%s)", ("full-%d-%s" % (i, "y" * 500),))
            except psycopg2.Error as e:
                refused = (i, e)
                break
        self.assertIsNotNone(refused, "logd never reported the disk full")
        i, e = refused
        self.assertEqual(e.pgcode, "53100", str(e))
        self.assertIn("audit log is full", str(e))
        self.assertEqual(self.count_direct("v like 'full-%d-%%'" % i), 0)
        # Still refused while full; nothing corrupt. The intent is longer
        # than the refused one: a shorter one may fit in the space tmpfs
        # already gave the file.
        with self.assertRaises(psycopg2.Error):
            cur.execute("insert into audit_t(v) values (%s)", ("still-full-" + "y" * 600,))
        self.assertEqual(self.count_direct("v like 'still-full-%'"), 0)
        os.unlink(ballast)
        cur.execute("insert into audit_t(v) values ('after-space-freed')")
        self.assertEqual(self.count_direct("v = 'after-space-freed'"), 1)
        c.close()
        logd.terminate()
        replay = os.path.join(pgward_env.build_dir(), "bin", "pgward-replay")
        p = subprocess.run([replay, "verify", "-k", logd.vkey_path, logd.log_dir],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        acked = [r.get("sql") for r in logd.records("intent")]
        self.assertIn("insert into audit_t(v) values ('after-space-freed')", acked)


class CrashLoopTest(AuditTestCase):
    test_timeout = 300

    def test_kill_logd_repeatedly_under_load(self):
        stop = threading.Event()
        acked = []
        lock = threading.Lock()
        errors = []

        def writer(wid):
            n = 0
            conn = None
            while not stop.is_set():
                try:
                    if conn is None:
                        conn = psycopg2.connect(suite.relay_dsn(suite.token("bob"),
                                                                role="app_write"))
                        conn.autocommit = True
                    v = "crash-%d-%d" % (wid, n)
                    n += 1
                    conn.cursor().execute("insert into audit_t(v) values (%s)", (v,))
                    with lock:
                        acked.append(v)
                except psycopg2.OperationalError:
                    conn = None
                    time.sleep(0.02)
                except psycopg2.Error as e:
                    if e.pgcode not in ("58030", "53100"):
                        errors.append(str(e))
                    time.sleep(0.01)
        threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        try:
            for i in range(20):
                time.sleep(0.25)
                suite.logd.kill()
                suite.logd.proc = None
                if i % 5 == 4:
                    # A write cut short by a power failure leaves half a line.
                    with open(os.path.join(suite.logd.log_dir, "current.jsonl"), "ab") as f:
                        f.write(b'{"seq":999999,"ts":"2026-')
                suite.logd.start()
        finally:
            time.sleep(0.5)
            stop.set()
            for t in threads:
                t.join(30)
        self.assertEqual(errors, [])
        self.assertGreater(len(acked), 50, "the load made progress")
        repairs = suite.logd.records("repair")
        self.assertGreaterEqual(len(repairs), 4, "each torn tail was repaired and recorded")
        # Each injected half line was cut and kept. A kill -9 in the middle
        # of a write can leave half a real record before it, cut with it.
        injected = 0
        for r in repairs:
            with open(os.path.join(suite.logd.log_dir, r["kept"]), "rb") as f:
                kept = f.read()
            if kept.endswith(b'{"seq":999999,"ts":"2026-'):
                injected += 1
        self.assertEqual(injected, 4, repairs)
        intents = set()
        for r in suite.logd.records("intent"):
            sql = r.get("sql") or ""
            if sql.startswith("insert into audit_t(v) values ('crash-"):
                intents.add(sql.split("'")[1])
        missing = [v for v in acked if v not in intents]
        self.assertEqual(missing, [], "acknowledged statements without an intent record")
        # Rows in the table (even unacknowledged ones) must all have intents.
        out = suite.cluster.psql("select v from audit_t where v like 'crash-%'", db="shop",
                                 args=("-At",))
        in_table = set(out.split())
        self.assertEqual(sorted(in_table - intents), [])
        replay = os.path.join(pgward_env.build_dir(), "bin", "pgward-replay")
        suite.logd.terminate()
        p = subprocess.run([replay, "verify", "-k", suite.logd.vkey_path, suite.logd.log_dir],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=120)
        suite.logd.start()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
