"""Checks of the test harness itself: the throwaway PostgreSQL cluster,
the shop sample and the credentials the relay will use."""

import os
import re
import stat
import time
import unittest

import psycopg2
import psycopg2.errors

import pgward_env
from pgward_testing import TimedTestCase, psql

cluster = None


def setUpModule():
    global cluster
    cluster = pgward_env.PgCluster().start()
    cluster.pgbench_init("bench")


def tearDownModule():
    if cluster is not None:
        cluster.stop()


def luhn_ok(number):
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def pid_alive(pid, wait=5.0):
    """True if pid is still running (not gone or a zombie) after `wait` s."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return False
        except OSError:
            return False
        time.sleep(0.05)
    return True


class HarnessClusterTest(TimedTestCase):

    def connect(self, role, **kw):
        kw.setdefault("connect_timeout", 10)
        return psycopg2.connect(cluster.tcp_dsn(role, **kw))

    def test_runs_as_postgres_user(self):
        with open(os.path.join(cluster.datadir, "postmaster.pid")) as f:
            pid = int(f.readline())
        uid = os.stat("/proc/%d" % pid).st_uid
        if os.geteuid() == 0:
            import pwd
            self.assertEqual(uid, pwd.getpwnam("postgres").pw_uid)
        else:
            self.assertEqual(uid, os.geteuid())
        self.assertEqual(cluster.psql("SELECT current_setting('ssl')").strip(), "on")
        self.assertEqual(cluster.psql("SELECT current_setting('server_version_num')::int / 10000").strip(), "15")

    def test_sample_data(self):
        out = cluster.psql("SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM orders), "
                           "(SELECT count(DISTINCT email) FROM customers), "
                           "(SELECT count(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id "
                           " WHERE c.id IS NULL)", db="shop").strip()
        self.assertEqual(out, "50|200|50|0")
        cards = cluster.psql("SELECT card_number FROM customers", db="shop").split()
        self.assertEqual(len(cards), 50)
        for c in cards:
            self.assertTrue(luhn_ok(c), c)
        self.assertIn("4111111111111111", cards)
        emails = cluster.psql("SELECT email FROM customers", db="shop").split()
        for e in emails:
            self.assertRegex(e, r"^[a-z0-9.]+@example\.com$")
        self.assertEqual(cluster.psql("SELECT count(*) FROM attachments", db="shop").strip(), "2")

    def test_passfile(self):
        st = os.stat(cluster.passfile)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        with open(cluster.passfile) as f:
            text = f.read()
        self.assertIn("127.0.0.1:%d:*:app_read:" % cluster.port, text)
        self.assertNotIn(":app_trust:", text)

    def test_scram_login_with_passfile_over_tls(self):
        conn = psycopg2.connect(host="127.0.0.1", port=cluster.port, dbname="shop",
                                user="app_read", sslmode="verify-full",
                                sslrootcert=cluster.ca_cert, passfile=cluster.passfile,
                                connect_timeout=10)
        try:
            cur = conn.cursor()
            cur.execute("SELECT current_user, s.ssl FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()")
            self.assertEqual(cur.fetchone(), ("app_read", True))
            cur.execute("SELECT count(*) FROM customers")
            self.assertEqual(cur.fetchone()[0], 50)
        finally:
            conn.close()
        self.assertRegex(cluster.server_log(),
                         r'connection authenticated: identity="app_read" method=scram-sha-256')

    def test_auth_methods(self):
        for role, method in (("app_md5", "md5"), ("app_pw", "password"), ("app_write", "scram-sha-256")):
            conn = self.connect(role)
            conn.close()
            self.assertRegex(cluster.server_log(),
                             r'connection authenticated: identity="%s" method=%s' % (role, re.escape(method)))
        conn = self.connect("app_trust", password=False)
        cur = conn.cursor()
        cur.execute("SELECT current_user")
        self.assertEqual(cur.fetchone()[0], "app_trust")
        conn.close()
        # md5 verifier really stored as md5 (the relay must speak md5 for it)
        self.assertEqual(cluster.psql("SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = 'app_md5'").strip(),
                         "md5")
        # a wrong password is refused
        with self.assertRaises(psycopg2.OperationalError):
            psycopg2.connect(cluster.tcp_dsn("app_read", password=False) + " password=wrong")

    def test_grants(self):
        conn = self.connect("app_read")
        conn.autocommit = True
        with self.assertRaises(psycopg2.errors.InsufficientPrivilege):
            conn.cursor().execute("INSERT INTO orders (customer_id, amount, status) VALUES (1, 1, 'paid')")
        conn.close()
        conn = self.connect("app_write")
        cur = conn.cursor()
        cur.execute("INSERT INTO orders (customer_id, amount, status) VALUES (1, 1, 'paid') RETURNING id")
        self.assertGreater(cur.fetchone()[0], 200)
        conn.rollback()
        conn.close()

    def test_pgbench_db(self):
        p = psql(cluster.tcp_dsn("app_write", db="bench"),
                 "SELECT count(*) FROM pgbench_accounts")
        self.assertEqual(p.stdout.strip(), "100000")

    def test_stop_cleans_up(self):
        c = pgward_env.PgCluster(sample=False).start()
        d = c.dir
        with open(os.path.join(c.datadir, "postmaster.pid")) as f:
            pid = int(f.readline())
        c.stop()
        self.assertFalse(os.path.exists(d))
        self.assertFalse(pid_alive(pid), "postmaster %d still running" % pid)


if __name__ == "__main__":
    unittest.main()
