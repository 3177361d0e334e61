"""pgward-relay end to end, with real clients (psycopg2, psql, pgbench):
PostgreSQL <- relay <- client, identity from pgward-auth.

Users of the default Suite: alice (analysts), bob (engineers), carol
(nobody). Policy: analysts,engineers -> shop/app_read; engineers ->
shop/app_write, shop/app_md5, shop/app_pw, shop/app_trust, bench/app_write.

Data through the relay is compared on tables/columns that a future masking
policy would not touch (orders, attachments, generated series), never on
customers.card_number/email.
"""

import hashlib
import io
import os
import re
import select
import subprocess
import tempfile
import threading
import time
import unittest

import psycopg2
import psycopg2.errors
import psycopg2.extensions

import pgward_env
from pgward_testing import TimedTestCase, psql

suite = None
_tokens = {}

# Words that a generic "bad token" message must not contain (they would tell
# an attacker which check failed).
LEAKY_WORDS = ("signature", "kid", "jwks", "decode", "base64", "json", "audience",
               "issuer", "claim", "malformed")


def setUpModule():
    global suite
    # leeway 0: the token-expiry test does not have to wait for leeway.
    suite = pgward_env.Suite(auth_leeway=0).start()


def tearDownModule():
    if suite is not None:
        suite.stop()


def token(user):
    """A cached 1-hour token for user (default groups)."""
    if user not in _tokens:
        _tokens[user] = suite.token(user, ttl=3600)
    return _tokens[user]


class RelayTestCase(TimedTestCase):
    test_timeout = 90

    def watchdog_targets(self):
        return [suite.relay, suite.auth]

    def relay_for_sanitizer_check(self):
        return suite.relay

    def setUp(self):
        # A previous test may have killed the daemons (watchdog) or crashed them.
        if not suite.auth.running():
            suite.auth.restart()
        if not suite.relay.running():
            suite.relay.restart()
        super().setUp()

    # helpers
    def connect(self, user="alice", role="app_read", **kw):
        conn = psycopg2.connect(suite.relay_dsn(token(user), role=role, **kw))
        self.addCleanup(conn.close)
        return conn

    def scalar(self, conn, sql, args=None):
        cur = conn.cursor()
        cur.execute(sql, args)
        row = cur.fetchone()
        cur.close()
        return row[0]

    def assertRefused(self, dsn, pattern=None, within=10.0):
        """connect(dsn) must fail within `within` seconds; returns the
        message."""
        t0 = time.monotonic()
        with self.assertRaises(psycopg2.OperationalError) as cm:
            c = psycopg2.connect(dsn)
            c.close()
        elapsed = time.monotonic() - t0
        msg = str(cm.exception)
        self.assertLess(elapsed, within, "refusal took %.1fs: %s" % (elapsed, msg))
        if pattern is not None:
            self.assertRegex(msg, pattern)
        return msg

    def relay_env(self, user="alice", role="app_read", db="shop", **extra):
        env = {"PGHOST": "127.0.0.1", "PGPORT": str(suite.relay.port), "PGUSER": role,
               "PGDATABASE": db, "PGPASSWORD": token(user), "PGSSLMODE": "require",
               "PGCONNECT_TIMEOUT": "10"}
        env.update(extra)
        return env

    def relay_psql(self, sql=None, user="alice", role="app_read", db="shop", args=(), **kw):
        return psql(suite.relay_dsn(token(user), role=role, db=db), sql, args=args, **kw)


class LoginTest(RelayTestCase):

    def test_identity_is_stamped_and_survives_reset_all(self):
        conn = self.connect("alice")
        conn.autocommit = True
        self.assertEqual(self.scalar(conn, "SELECT current_user"), "app_read")
        self.assertEqual(self.scalar(conn, "SELECT current_setting('pgward.user')"), "alice")
        session = self.scalar(conn, "SELECT current_setting('pgward.session')")
        self.assertTrue(session)
        conn.cursor().execute("RESET ALL")
        self.assertEqual(self.scalar(conn, "SELECT current_setting('pgward.user')"), "alice")
        self.assertEqual(self.scalar(conn, "SELECT current_setting('pgward.session')"), session)
        # each session has its own id
        other = self.connect("alice")
        self.assertNotEqual(self.scalar(other, "SELECT current_setting('pgward.session')"), session)

    def test_psql_login(self):
        p = self.relay_psql("SELECT current_user, current_setting('pgward.user')")
        self.assertEqual(p.stdout.strip(), "app_read|alice")
        p = self.relay_psql("SELECT current_user, current_setting('pgward.user')",
                            user="bob", role="app_write")
        self.assertEqual(p.stdout.strip(), "app_write|bob")

    def test_client_cannot_override_identity_in_startup_options(self):
        try:
            conn = psycopg2.connect(suite.relay_dsn(token("alice"),
                                                    options="-c pgward.user=mallory -c pgward.session=x"))
        except psycopg2.OperationalError:
            return  # refusing is fine too
        self.addCleanup(conn.close)
        self.assertEqual(self.scalar(conn, "SELECT current_setting('pgward.user')"), "alice")
        self.assertNotEqual(self.scalar(conn, "SELECT current_setting('pgward.session')"), "x")

    def test_verify_full_against_relay_certificate(self):
        conn = psycopg2.connect(suite.relay_dsn(token("alice"), sslmode="verify-full"))
        self.addCleanup(conn.close)
        self.assertEqual(self.scalar(conn, "SELECT 1"), 1)

    def test_plain_tcp_password_refused(self):
        msg = self.assertRefused(suite.relay_dsn(token("alice"), sslmode="disable"))
        self.assertIn("sslmode=require", msg)
        # and the token was not needed to learn that: no session was made
        p = psql(suite.relay_dsn(token("alice"), sslmode="disable"), "SELECT 1", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("sslmode=require", p.stderr)

    def test_unix_socket_accepted(self):
        conn = psycopg2.connect(suite.relay_unix_dsn(token("alice")))
        self.addCleanup(conn.close)
        self.assertEqual(self.scalar(conn, "SELECT current_user"), "app_read")
        self.assertEqual(self.scalar(conn, "SELECT current_setting('pgward.user')"), "alice")

    def test_wrong_role_refused(self):
        self.assertRefused(suite.relay_dsn(token("alice"), role="app_write"))
        self.assertRefused(suite.relay_dsn(token("carol"), role="app_read"))
        self.assertRefused(suite.relay_dsn(token("bob"), role="postgres"))
        # alice is fine on her own role afterwards
        self.assertEqual(self.scalar(self.connect("alice"), "SELECT 1"), 1)

    def test_unknown_connection_refused(self):
        self.assertRefused(suite.relay_dsn(token("alice"), db="nosuchconnection"))
        # a real database that is not a configured connection name
        self.assertRefused(suite.relay_dsn(token("alice"), db="postgres"))

    def test_bad_token_refused_with_generic_message(self):
        good = token("alice")
        h, p, s = good.split(".")
        bad_sig = "%s.%s.%s" % (h, p, s[:-4] + ("AAAA" if s[-4:] != "AAAA" else "BBBB"))
        # payload of bob's token with alice's signature
        bh, bp, bs = token("bob").split(".")
        spliced = "%s.%s.%s" % (h, bp, s)
        other_aud = suite.token("alice", extra_args=("-a", "someone-else"))
        other_iss = suite.token("alice", extra_args=("-i", "https://evil.example"))
        msgs = []
        for tok in ("not-a-jwt", "a.b.c", bad_sig, spliced, other_aud, other_iss, ""):
            msgs.append(self.assertRefused(suite.relay_dsn(tok)).strip())
        # the empty password may be refused by libpq itself; the others must all
        # get the same message from the relay
        relay_msgs = set(msgs[:-1])
        self.assertEqual(len(relay_msgs), 1, "messages differ: %r" % relay_msgs)
        text = msgs[0].lower()
        for w in LEAKY_WORDS:
            self.assertNotIn(w, text)

    def test_expired_token_refused(self):
        expired = suite.token("alice", ttl=-(suite.auth.leeway + 120))
        self.assertRefused(suite.relay_dsn(expired))
        not_yet = suite.token("alice", extra_args=("-n", str(suite.auth.leeway + 600)))
        self.assertRefused(suite.relay_dsn(not_yet))

    def test_token_expiring_during_session(self):
        # psycopg2 2.9 reports only "SSL connection has been closed
        # unexpectedly" for a FATAL followed by close (also against a plain
        # PostgreSQL), so the message is checked with psql, the closing with
        # both.
        ttl = 5
        tok = suite.token("alice", ttl=ttl)
        exp = pgward_env.jwt_claims(tok)["exp"]
        dsn = suite.relay_dsn(tok)
        conn = psycopg2.connect(dsn)
        self.addCleanup(conn.close)
        conn.autocommit = True
        self.assertEqual(self.scalar(conn, "SELECT 1"), 1)
        p = subprocess.Popen(["psql", "-X", "-A", "-t", dsn], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=pgward_env.clean_pg_env())
        self.addCleanup(lambda: p.poll() is None and p.kill())
        p.stdin.write("SELECT 'before';\n")
        p.stdin.flush()
        # wait until the token is past exp (+ auth leeway), then one more second
        delay = exp + suite.auth.leeway + 1.2 - time.time()
        if delay > 0:
            time.sleep(delay)
        t0 = time.monotonic()
        with self.assertRaises(psycopg2.OperationalError):
            self.scalar(conn, "SELECT 2")
        self.assertLess(time.monotonic() - t0, 5)
        self.assertNotEqual(conn.closed, 0, "connection should be closed after the FATAL")
        p.stdin.write("SELECT 'after';\n")
        p.stdin.close()
        out = p.stdout.read()
        p.wait(timeout=10)
        lines = out.splitlines()
        self.assertIn("before", lines, out)
        self.assertNotIn("after", lines, out)
        self.assertRegex(out, r"FATAL: .*expired", out)
        self.assertNotEqual(p.returncode, 0, out)


class AuthDownTest(RelayTestCase):
    """pgward-auth unavailable: logins are refused quickly with a clear error
    (fail closed); when auth comes back, logins work again."""

    def setUp(self):
        # own auth + relay so the shared ones are not disturbed
        self.auth = pgward_env.Auth(suite.issuer, leeway=0).start()
        self.addCleanup(self.auth.stop)
        self.relay = pgward_env.Relay(suite.cluster, self.auth, auth_timeout_ms=2000).start()
        self.addCleanup(self.relay.stop)
        super().setUp()

    def watchdog_targets(self):
        return [self.relay, self.auth]

    def relay_for_sanitizer_check(self):
        return getattr(self, "relay", None)

    def test_auth_down(self):
        tok = token("alice")
        conn = psycopg2.connect(self.relay.dsn(tok))
        self.assertEqual(self.scalar(conn, "SELECT 1"), 1)
        conn.close()
        self.auth.terminate()
        msg = self.assertRefused(self.relay.dsn(tok), within=2.0 + 6.0)
        self.assertRegex(msg.lower(), r"auth|unavailable|temporar|try again")
        # auth hanging (stopped, socket still there) must not hang logins either
        self.auth.proc = None
        self.auth.start()
        conn = psycopg2.connect(self.relay.dsn(tok))
        self.assertEqual(self.scalar(conn, "SELECT 1"), 1)
        conn.close()
        self.auth.signal(19)  # SIGSTOP
        try:
            msg = self.assertRefused(self.relay.dsn(tok), within=2.0 + 6.0)
            self.assertRegex(msg.lower(), r"auth|unavailable|temporar|try again|timeout|timed out")
        finally:
            self.auth.signal(18)  # SIGCONT


class ShutdownTest(RelayTestCase):
    """SIGTERM: the relay stops listening, open sessions end (57P01 FATAL),
    and it exits 0 within shutdown-timeout-s (2 s here)."""

    def setUp(self):
        self.relay = pgward_env.Relay(suite.cluster, suite.auth, shutdown_timeout_s=2).start()
        self.addCleanup(self.relay.stop)
        super().setUp()

    def watchdog_targets(self):
        return [self.relay]

    def relay_for_sanitizer_check(self):
        return getattr(self, "relay", None)

    def test_sigterm_with_open_session(self):
        conn = psycopg2.connect(self.relay.dsn(token("alice")))
        self.addCleanup(conn.close)
        conn.autocommit = True
        self.assertEqual(self.scalar(conn, "SELECT 1"), 1)
        t0 = time.monotonic()
        self.relay.signal(15)
        rc = self.relay.proc.wait(timeout=20)
        self.assertLess(time.monotonic() - t0, 2 + 5)
        self.assertEqual(rc, 0, self.relay.stderr_text())
        with self.assertRaises(psycopg2.OperationalError):
            self.scalar(conn, "SELECT 1")
        self.assertNotEqual(conn.closed, 0)
        self.assertFalse(pgward_env.wait_port("127.0.0.1", self.relay.port, timeout=0.5))


class UpstreamAuthMethodsTest(RelayTestCase):
    """The relay authenticates to PostgreSQL with its passfile using
    scram-sha-256 (app_read/app_write), md5 (app_md5), password (app_pw)
    and trust (app_trust)."""

    def test_methods(self):
        for role in ("app_write", "app_md5", "app_pw", "app_trust"):
            with self.subTest(role=role):
                conn = self.connect("bob", role=role)
                self.assertEqual(self.scalar(conn, "SELECT current_user"), role)
                self.assertEqual(self.scalar(conn, "SELECT count(*) FROM orders"), 200)
                self.assertEqual(self.scalar(conn, "SELECT current_setting('pgward.user')"), "bob")
        log = suite.cluster.server_log()
        for role, method in (("app_md5", "md5"), ("app_pw", "password"), ("app_write", "scram-sha-256")):
            self.assertRegex(log, r'connection authenticated: identity="%s" method=%s' % (role, method))

    def test_upstream_uses_tls(self):
        conn = self.connect("alice")
        self.assertTrue(self.scalar(conn, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))


class ProtocolTest(RelayTestCase):

    def test_psql_copy_both_ways(self):
        with tempfile.TemporaryDirectory(prefix="pgward-it-") as d:
            out = os.path.join(d, "orders.csv")
            script = os.path.join(d, "script.sql")
            with open(script, "w") as f:
                f.write("\\copy (SELECT id, customer_id, amount, status FROM orders ORDER BY id) TO '%s' CSV HEADER\n" % out)
                f.write("CREATE TEMP TABLE o2 (id int, customer_id int, amount numeric, status text);\n")
                f.write("\\copy o2 FROM '%s' CSV HEADER\n" % out)
                f.write("SELECT count(*), sum(amount) FROM o2;\n")
            p = self.relay_psql(user="bob", role="app_write", args=("-f", script))
            with open(out) as f:
                lines = f.read().splitlines()
            self.assertEqual(len(lines), 201)
            self.assertEqual(lines[0], "id,customer_id,amount,status")
            direct_sum = suite.cluster.psql("SELECT sum(amount) FROM orders", db="shop").strip()
            self.assertEqual(p.stdout.strip(), "200|%s" % direct_sum)

    def test_copy_from_stdin_100k_rows(self):
        conn = self.connect("bob", role="app_write")
        cur = conn.cursor()
        cur.execute("CREATE TEMP TABLE big (id int, note text)")
        n = 100000
        data = io.StringIO("".join("%d\tnote number %d with some padding\n" % (i, i) for i in range(n)))
        cur.copy_expert("COPY big FROM STDIN", data)
        self.assertEqual(cur.rowcount, n)
        cur.execute("SELECT count(*), sum(id), count(DISTINCT note) FROM big")
        self.assertEqual(cur.fetchone(), (n, n * (n - 1) // 2, n))
        # and back out
        buf = io.StringIO()
        cur.copy_expert("COPY (SELECT id FROM big ORDER BY id) TO STDOUT", buf)
        self.assertEqual(buf.getvalue().count("\n"), n)
        conn.rollback()

    def test_bytea_50mb_round_trip(self):
        blob = os.urandom(50 * 1024 * 1024)
        want = hashlib.md5(blob).hexdigest()
        conn = self.connect("bob", role="app_write")
        cur = conn.cursor()
        cur.execute("INSERT INTO attachments (name, data) VALUES (%s, %s) RETURNING id",
                    ("big-%d.bin" % os.getpid(), psycopg2.Binary(blob)))
        aid = cur.fetchone()[0]
        del blob
        cur.execute("SELECT md5(data), length(data) FROM attachments WHERE id = %s", (aid,))
        self.assertEqual(cur.fetchone(), (want, 50 * 1024 * 1024))
        cur.execute("SELECT data FROM attachments WHERE id = %s", (aid,))
        got = bytes(cur.fetchone()[0])
        self.assertEqual(hashlib.md5(got).hexdigest(), want)
        conn.rollback()

    def test_listen_notify(self):
        listener = self.connect("alice")
        listener.autocommit = True
        notifier = self.connect("bob", role="app_write")
        notifier.autocommit = True
        listener.cursor().execute("LISTEN pgward_it")
        notifier.cursor().execute("NOTIFY pgward_it, 'hello from bob'")
        deadline = time.monotonic() + 5
        while not listener.notifies and time.monotonic() < deadline:
            select.select([listener], [], [], 0.5)
            listener.poll()
        self.assertTrue(listener.notifies, "no notification within 5 s")
        n = listener.notifies.pop(0)
        self.assertEqual((n.channel, n.payload), ("pgward_it", "hello from bob"))
        # the backend pid in the notification is the notifier's server pid
        self.assertEqual(n.pid, self.scalar(notifier, "SELECT pg_backend_pid()"))

    def test_notice(self):
        conn = self.connect("alice")
        conn.autocommit = True
        conn.cursor().execute("DO $$ BEGIN RAISE NOTICE 'hi'; END $$")
        self.assertTrue(any("NOTICE:  hi" in n for n in conn.notices), conn.notices)

    def test_error_fields(self):
        conn = self.connect("bob", role="app_write")
        cur = conn.cursor()
        with self.assertRaises(psycopg2.errors.UniqueViolation) as cm:
            cur.execute("INSERT INTO customers (id, name, email, card_number) "
                        "SELECT 1000, 'Dup', email, '4111111111111111' FROM customers WHERE id = 1")
        e = cm.exception
        self.assertEqual(e.pgcode, "23505")
        self.assertEqual(e.diag.sqlstate, "23505")
        self.assertEqual(e.diag.severity, "ERROR")
        self.assertEqual(e.diag.constraint_name, "customers_email_key")
        self.assertEqual(e.diag.table_name, "customers")
        self.assertEqual(e.diag.schema_name, "public")
        self.assertIn("duplicate key", e.diag.message_primary)
        conn.rollback()
        with self.assertRaises(psycopg2.errors.SyntaxError) as cm:
            cur.execute("SELECT 1 FROM orders WHERE")
        self.assertEqual(cm.exception.pgcode, "42601")
        self.assertEqual(cm.exception.diag.statement_position, "27")
        conn.rollback()
        with self.assertRaises(psycopg2.errors.InsufficientPrivilege):
            c2 = self.connect("alice")
            c2.cursor().execute("DELETE FROM orders")
        # the session is still usable
        self.assertEqual(self.scalar(conn, "SELECT 1"), 1)

    def test_cancel(self):
        conn = self.connect("alice")
        fired = []

        def cancel():
            fired.append(time.monotonic())
            conn.cancel()
        t = threading.Timer(0.5, cancel)
        t.start()
        try:
            with self.assertRaises(psycopg2.errors.QueryCanceled):
                self.scalar(conn, "SELECT pg_sleep(30)")
            done = time.monotonic()
        finally:
            t.cancel()
        self.assertTrue(fired)
        self.assertLess(done - fired[0], 2.0)
        conn.rollback()
        self.assertEqual(self.scalar(conn, "SELECT 42"), 42)

    def test_cancel_with_wrong_key_does_nothing(self):
        # a cancel request to the relay with a made-up key must not cancel
        # anybody's query (here: our own long-running one)
        import socket
        import struct
        conn = self.connect("alice")
        conn.autocommit = True
        cur = conn.cursor()
        result = {}

        def run():
            try:
                cur.execute("SELECT pg_sleep(1.5), 'done'")
                result["row"] = cur.fetchone()
            except Exception as e:  # pragma: no cover
                result["error"] = e
        th = threading.Thread(target=run)
        th.start()
        time.sleep(0.3)
        for pid, key in ((conn.info.backend_pid, 0), (1, 1), (conn.info.backend_pid, 12345)):
            with socket.create_connection(("127.0.0.1", suite.relay.port), timeout=5) as s:
                s.sendall(struct.pack("!IIII", 16, 80877102, pid & 0xffffffff, key))
                s.settimeout(5)
                try:
                    s.recv(1)
                except OSError:
                    pass
        th.join(10)
        self.assertFalse(th.is_alive())
        self.assertNotIn("error", result)
        self.assertEqual(result["row"][1], "done")

    def test_server_side_cursor(self):
        conn = self.connect("alice")
        cur = conn.cursor(name="pgward_it_cursor")
        cur.itersize = 1000
        cur.execute("SELECT i, md5(i::text) FROM generate_series(1, 10000) AS i")
        n = total = 0
        for i, h in cur:
            n += 1
            total += i
            if i == 7777:
                self.assertEqual(h, hashlib.md5(b"7777").hexdigest())
        self.assertEqual((n, total), (10000, 10000 * 10001 // 2))
        cur.close()
        conn.rollback()

    def test_executemany_and_copy_expert(self):
        conn = self.connect("bob", role="app_write")
        cur = conn.cursor()
        cur.execute("CREATE TEMP TABLE em (id int PRIMARY KEY, s text, b bytea)")
        rows = [(i, "row %d é ü" % i, psycopg2.Binary(bytes([i % 256]) * 10)) for i in range(500)]
        cur.executemany("INSERT INTO em VALUES (%s, %s, %s)", rows)
        cur.execute("SELECT count(*), sum(id), max(s) FILTER (WHERE id = 499) FROM em")
        self.assertEqual(cur.fetchone(), (500, 500 * 499 // 2, "row 499 é ü"))
        buf = io.StringIO()
        cur.copy_expert("COPY (SELECT id, amount, status FROM orders ORDER BY id) TO STDOUT WITH (FORMAT csv)", buf)
        lines = buf.getvalue().splitlines()
        self.assertEqual(len(lines), 200)
        self.assertTrue(lines[0].startswith("1,"))
        cur.copy_expert("COPY em (id, s) FROM STDIN WITH (FORMAT csv)", io.StringIO("1000,a\n1001,b\n"))
        cur.execute("SELECT count(*) FROM em")
        self.assertEqual(cur.fetchone()[0], 502)
        # an error inside COPY FROM STDIN is reported and the session survives
        with self.assertRaises(psycopg2.errors.UniqueViolation):
            cur.copy_expert("COPY em (id, s) FROM STDIN WITH (FORMAT csv)", io.StringIO("1,dup\n"))
        conn.rollback()
        self.assertEqual(self.scalar(conn, "SELECT 1"), 1)

    def test_application_name_and_client_encoding(self):
        conn = psycopg2.connect(suite.relay_dsn(token("alice"), application_name="pgward-it",
                                                client_encoding="LATIN1"))
        self.addCleanup(conn.close)
        self.assertEqual(self.scalar(conn, "SHOW application_name"), "pgward-it")
        self.assertEqual(self.scalar(conn, "SHOW client_encoding"), "LATIN1")
        self.assertEqual(conn.encoding, "LATIN1")
        self.assertEqual(self.scalar(conn, "SELECT %s || chr(233)", ("caf",)), "café")
        self.assertEqual(
            suite.cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgward-it'").strip(),
            "1")
        # psql sets application_name=psql itself
        p = self.relay_psql("SHOW application_name")
        self.assertEqual(p.stdout.strip(), "psql")

    def test_large_result(self):
        p = self.relay_psql("SELECT sum(length(x)), count(*) FROM (SELECT repeat('x', 1000) AS x "
                            "FROM generate_series(1, 20000)) s")
        self.assertEqual(p.stdout.strip(), "20000000|20000")
        conn = self.connect("alice")
        cur = conn.cursor()
        cur.execute("SELECT repeat('y', 1000) FROM generate_series(1, 20000)")
        rows = cur.fetchall()
        self.assertEqual(len(rows), 20000)
        self.assertEqual(sum(len(r[0]) for r in rows), 20000000)

    def test_transactions(self):
        before = suite.cluster.psql("SELECT status FROM orders WHERE id = 1", db="shop").strip()
        new = "refunded" if before != "refunded" else "paid"
        conn = self.connect("bob", role="app_write")
        cur = conn.cursor()
        cur.execute("UPDATE orders SET status = %s WHERE id = 1 RETURNING status", (new,))
        self.assertEqual(cur.fetchone()[0], new)
        conn.rollback()
        cur.execute("SELECT status FROM orders WHERE id = 1")
        self.assertEqual(cur.fetchone()[0], before)
        conn.rollback()
        self.assertEqual(conn.get_transaction_status(), psycopg2.extensions.TRANSACTION_STATUS_IDLE)


class PgbenchTest(RelayTestCase):
    """pgbench through the relay against the `bench` connection (scale 1,
    initialized directly on the server by the harness)."""

    duration = 3

    def pgbench(self, *args):
        env = pgward_env.clean_pg_env()
        env.update(self.relay_env("bob", "app_write", "bench"))
        cmd = ["pgbench", "-n", "-c", "2", "-j", "2", "-T", str(self.duration), *args]
        p = subprocess.run(cmd, env=env, text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=self.duration + 60)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out)
        m = re.search(r"number of failed transactions: (\d+)", out)
        self.assertIsNotNone(m, out)
        self.assertEqual(int(m.group(1)), 0, out)
        m = re.search(r"tps = ([0-9.]+)", out)
        self.assertIsNotNone(m, out)
        tps = float(m.group(1))
        self.assertGreater(tps, 0, out)
        m = re.search(r"number of transactions actually processed: (\d+)", out)
        self.assertGreater(int(m.group(1)), 0, out)
        print("  pgbench %s: tps %.0f" % (" ".join(args), tps), flush=True)
        return tps

    def test_simple(self):
        self.pgbench("-M", "simple")

    def test_extended(self):
        self.pgbench("-M", "extended")

    def test_prepared(self):
        self.pgbench("-M", "prepared")

    def test_connect_per_transaction(self):
        self.pgbench("-C", "-M", "simple")

    def test_select_only_prepared(self):
        self.pgbench("-S", "-M", "prepared")


if __name__ == "__main__":
    unittest.main()
