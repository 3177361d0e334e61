"""pgward-relay as a daemon and at the edges of the protocol: malformed
startup packets on a raw socket, GSSENC declined, startup timeout, the
session limit, a crashing session, reload, graceful stop, exit codes,
systemd readiness, secret file permissions, FunctionCall."""

import os
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import unittest

import psycopg2

import pgward_env
from pgward_testing import TimedTestCase

suite = None


def setUpModule():
    global suite
    suite = pgward_env.Suite(pgbench=False, relay_kw={"max_sessions": 4}).start()


def tearDownModule():
    if suite is not None:
        suite.stop()


def startup_packet(params, version=196608):
    body = struct.pack("!I", version)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def read_message(sock):
    """One typed message: (type, body)."""
    hdr = b""
    while len(hdr) < 5:
        chunk = sock.recv(5 - len(hdr))
        if not chunk:
            return None, None
        hdr += chunk
    mtype, length = hdr[:1], struct.unpack("!I", hdr[1:])[0]
    body = b""
    while len(body) < length - 4:
        chunk = sock.recv(length - 4 - len(body))
        if not chunk:
            break
        body += chunk
    return mtype, body


def error_fields(body):
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode()
    return fields


class RawProtocolTest(TimedTestCase):
    test_timeout = 60

    def relay_for_sanitizer_check(self):
        return suite.relay

    def watchdog_targets(self):
        return [suite.relay]

    def raw(self):
        s = socket.create_connection(("127.0.0.1", suite.relay.port), timeout=10)
        self.addCleanup(s.close)
        return s

    def assertFatal(self, s, sqlstate):
        mtype, body = read_message(s)
        self.assertEqual(mtype, b"E", "expected an ErrorResponse")
        f = error_fields(body)
        self.assertEqual(f.get("S"), "FATAL")
        self.assertEqual(f.get("C"), sqlstate, f)
        self.assertEqual(s.recv(1), b"", "connection must close after a startup error")
        return f

    def test_protocol_2_refused(self):
        s = self.raw()
        s.sendall(startup_packet({"user": "app_read"}, version=2 << 16))
        self.assertFatal(s, "0A000")

    def test_protocol_4_refused(self):
        s = self.raw()
        s.sendall(startup_packet({"user": "app_read"}, version=4 << 16))
        self.assertFatal(s, "0A000")

    def test_negative_length(self):
        s = self.raw()
        s.sendall(struct.pack("!iI", -8, 196608))
        self.assertFatal(s, "08P01")

    def test_oversize_length(self):
        s = self.raw()
        s.sendall(struct.pack("!II", 10001, 196608))
        self.assertFatal(s, "08P01")

    def test_missing_terminator(self):
        s = self.raw()
        body = struct.pack("!I", 196608) + b"user\0app_read\0"
        s.sendall(struct.pack("!I", len(body) + 4) + body)
        self.assertFatal(s, "08P01")

    def test_no_user(self):
        s = self.raw()
        s.sendall(startup_packet({"database": "shop"}))
        self.assertFatal(s, "28000")

    def test_gssenc_declined_then_ssl(self):
        s = self.raw()
        s.sendall(struct.pack("!II", 8, 80877104))
        self.assertEqual(s.recv(1), b"N")
        s.sendall(struct.pack("!II", 8, 80877103))
        self.assertEqual(s.recv(1), b"S")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        t = ctx.wrap_socket(s)
        self.assertIn(t.version(), ("TLSv1.2", "TLSv1.3"))
        t.sendall(startup_packet({"user": "app_read", "database": "shop"}))
        mtype, body = read_message(t)
        self.assertEqual(mtype, b"R")
        self.assertEqual(struct.unpack("!I", body)[0], 3, "asks for a cleartext password")
        t.close()

    def test_tls_below_1_2_refused(self):
        s = self.raw()
        s.sendall(struct.pack("!II", 8, 80877103))
        self.assertEqual(s.recv(1), b"S")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        except (ValueError, AttributeError):
            self.skipTest("this Python cannot offer TLS 1.1")
        with self.assertRaises((ssl.SSLError, OSError)):
            ctx.wrap_socket(s).do_handshake()

    def test_ssl_request_twice(self):
        s = self.raw()
        s.sendall(struct.pack("!II", 8, 80877103))
        self.assertEqual(s.recv(1), b"S")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        t = ctx.wrap_socket(s)
        t.sendall(struct.pack("!II", 8, 80877103))
        mtype, body = read_message(t)
        self.assertEqual(mtype, b"E")
        self.assertEqual(error_fields(body).get("C"), "08P01")

    def test_password_message_wrong_type(self):
        s = self.raw()
        s.sendall(struct.pack("!II", 8, 80877103))
        self.assertEqual(s.recv(1), b"S")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        t = ctx.wrap_socket(s)
        t.sendall(startup_packet({"user": "app_read", "database": "shop"}))
        self.assertEqual(read_message(t)[0], b"R")
        t.sendall(b"Q" + struct.pack("!I", 13) + b"select 1\0")
        mtype, body = read_message(t)
        self.assertEqual(mtype, b"E")
        self.assertEqual(error_fields(body).get("C"), "08P01")

    def test_oversize_password_message(self):
        s = self.raw()
        s.sendall(struct.pack("!II", 8, 80877103))
        self.assertEqual(s.recv(1), b"S")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        t = ctx.wrap_socket(s)
        t.sendall(startup_packet({"user": "app_read", "database": "shop"}))
        self.assertEqual(read_message(t)[0], b"R")
        t.sendall(b"p" + struct.pack("!I", 50 * 1024 * 1024))
        mtype, body = read_message(t)
        self.assertEqual(mtype, b"E")
        self.assertEqual(error_fields(body).get("C"), "08P01")

    def test_cancel_request_is_quiet(self):
        s = self.raw()
        s.sendall(struct.pack("!IIII", 16, 80877102, 1234, 5678))
        self.assertEqual(s.recv(1), b"", "a cancel request gets no answer")

    def test_silent_client_dropped(self):
        relay = pgward_env.Relay(suite.cluster, suite.auth,
                                 extra_conf="startup-timeout-ms 500").start()
        self.addCleanup(relay.stop)
        s = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
        self.addCleanup(s.close)
        t0 = time.monotonic()
        s.sendall(struct.pack("!I", 8))	# half a packet, then silence
        self.assertEqual(s.recv(100), b"")
        self.assertLess(time.monotonic() - t0, 5)


class LimitsTest(TimedTestCase):
    test_timeout = 60

    def relay_for_sanitizer_check(self):
        return suite.relay

    def watchdog_targets(self):
        return [suite.relay]

    def test_max_sessions(self):
        token = suite.token("alice")
        conns = []
        try:
            for _ in range(4):
                conns.append(psycopg2.connect(suite.relay_dsn(token)))
            time.sleep(0.1)
            with self.assertRaises(psycopg2.OperationalError) as cm:
                psycopg2.connect(suite.relay_dsn(token))
            self.assertIn("too many", str(cm.exception))
        finally:
            for c in conns:
                c.close()
        time.sleep(0.3)
        c = psycopg2.connect(suite.relay_dsn(token))
        c.close()

    def test_session_crash_leaves_listener(self):
        token = suite.token("alice")
        c = psycopg2.connect(suite.relay_dsn(token))
        pids = subprocess.run(["pgrep", "-P", str(suite.relay.proc.pid)],
                              stdout=subprocess.PIPE, text=True).stdout.split()
        self.assertTrue(pids, "a session process exists")
        for p in pids:
            os.kill(int(p), signal.SIGKILL)
        with self.assertRaises(psycopg2.Error):
            c.cursor().execute("select 1")
        c.close()
        c = psycopg2.connect(suite.relay_dsn(token))
        cur = c.cursor()
        cur.execute("select 41 + 1")
        self.assertEqual(cur.fetchone()[0], 42)
        c.close()
        self.assertTrue(suite.relay.running())

    def test_function_call_large_object(self):
        # libpq's large-object calls use the FunctionCall message.
        c = psycopg2.connect(suite.relay_dsn(suite.token("bob"), role="app_write"))
        self.addCleanup(c.close)
        lo = c.lobject(0, "wb")
        lo.write(b"pgward" * 1000)
        oid = lo.oid
        lo.close()
        lo = c.lobject(oid, "rb")
        self.assertEqual(lo.read(), b"pgward" * 1000)
        lo.close()
        c.rollback()

    def test_parameter_status_after_set(self):
        c = psycopg2.connect(suite.relay_dsn(suite.token("alice")))
        self.addCleanup(c.close)
        c.autocommit = True
        c.cursor().execute("set application_name = 'after-login'")
        self.assertEqual(c.get_parameter_status("application_name"), "after-login")
        self.assertIsNotNone(c.get_parameter_status("server_version"))
        self.assertEqual(c.get_parameter_status("session_authorization"), "app_read")


class DaemonTest(TimedTestCase):
    test_timeout = 90

    def new_relay(self, **kw):
        relay = pgward_env.Relay(suite.cluster, suite.auth, **kw)
        self.addCleanup(relay.stop)
        return relay

    def test_bad_config_exit_100(self):
        relay = self.new_relay()
        relay.dir = tempfile.mkdtemp(prefix="pgward-relay-bad-")
        relay.prepare()
        with open(relay.conf_path, "w") as f:
            f.write(relay.config_text() + "no-such-key 1\n")
        p = subprocess.run([relay.exe, "-c", relay.conf_path], stderr=subprocess.PIPE,
                           text=True, timeout=10)
        self.assertEqual(p.returncode, 100)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertRegex(lines[0], r"^pgward-relay: fatal: .*relay.conf:\d+: unknown key \"no-such-key\"")
        p = subprocess.run([relay.exe, "-x"], stderr=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(p.returncode, 100)
        p = subprocess.run([relay.exe], stderr=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(p.returncode, 100)

    def test_check_mode(self):
        relay = self.new_relay()
        relay.dir = tempfile.mkdtemp(prefix="pgward-relay-chk-")
        relay.prepare()
        with open(relay.conf_path, "w") as f:
            f.write(relay.config_text())
        p = subprocess.run([relay.exe, "-n", "-c", relay.conf_path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_world_readable_key_refused(self):
        relay = self.new_relay()
        relay.dir = tempfile.mkdtemp(prefix="pgward-relay-perm-")
        relay.prepare()
        os.chmod(relay.tls_key, 0o644)
        with open(relay.conf_path, "w") as f:
            f.write(relay.config_text())
        p = subprocess.run([relay.exe, "-c", relay.conf_path], stderr=subprocess.PIPE,
                           text=True, timeout=10)
        self.assertEqual(p.returncode, 100)
        self.assertIn("too open", p.stderr)

    def test_systemd_readiness(self):
        relay = self.new_relay()
        relay.dir = tempfile.mkdtemp(prefix="pgward-relay-sd-")
        relay.prepare()
        with open(relay.conf_path, "w") as f:
            f.write(relay.config_text())
        nsock = os.path.join(relay.dir, "notify.sock")
        rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        rx.bind(nsock)
        rx.settimeout(10)
        env = dict(os.environ, NOTIFY_SOCKET=nsock)
        p = subprocess.Popen([relay.exe, "-c", relay.conf_path], env=env,
                             stderr=subprocess.DEVNULL)
        try:
            self.assertEqual(rx.recv(100), b"READY=1")
            p.send_signal(signal.SIGHUP)
            self.assertEqual(rx.recv(100), b"RELOADING=1")
            self.assertEqual(rx.recv(100), b"READY=1")
            p.send_signal(signal.SIGTERM)
            self.assertEqual(rx.recv(100), b"STOPPING=1")
            self.assertEqual(p.wait(timeout=10), 0)
        finally:
            if p.poll() is None:
                p.kill()
            rx.close()

    def test_reload_bad_config_keeps_old_and_good_applies(self):
        relay = self.new_relay(allow=[("shop", "app_read", ["analysts"])]).start()
        alice = suite.token("alice")
        bob = suite.token("bob")
        psycopg2.connect(relay.dsn(alice)).close()
        with self.assertRaises(psycopg2.OperationalError):
            psycopg2.connect(relay.dsn(bob))
        off = relay.stderr_size()
        with open(relay.conf_path, "a") as f:
            f.write("allow shop app_read engineers\nthis is broken\n")
        relay.signal(signal.SIGHUP)
        time.sleep(0.5)
        self.assertIn("reload refused", relay.stderr_text(off))
        with self.assertRaises(psycopg2.OperationalError):
            psycopg2.connect(relay.dsn(bob))
        psycopg2.connect(relay.dsn(alice)).close()
        with open(relay.conf_path, "w") as f:
            f.write(relay.config_text() + "allow shop app_read engineers\n")
        relay.signal(signal.SIGHUP)
        time.sleep(0.5)
        psycopg2.connect(relay.dsn(bob)).close()

    def test_sigterm_lets_sessions_finish(self):
        relay = self.new_relay(extra_conf="shutdown-timeout-s 3").start()
        env = pgward_env.clean_pg_env()
        p = subprocess.Popen(["psql", "-X", "-A", "-t", relay.dsn(suite.token("alice"))],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        self.addCleanup(p.kill)
        p.stdin.write("select 6;\n")
        p.stdin.flush()
        self.assertEqual(p.stdout.readline().strip(), "6")
        relay.signal(signal.SIGTERM)
        time.sleep(0.3)
        # Not accepting any more...
        with self.assertRaises(psycopg2.OperationalError):
            psycopg2.connect(relay.dsn(suite.token("alice"), connect_timeout=3))
        # ...but the running session goes on until the timeout...
        p.stdin.write("select 7;\n")
        p.stdin.flush()
        self.assertEqual(p.stdout.readline().strip(), "7")
        t0 = time.monotonic()
        self.assertEqual(relay.proc.wait(timeout=15), 0)
        self.assertLess(time.monotonic() - t0, 8)
        # ...and then ends with a clear reason.
        out, err = p.communicate(input="select 8;\n", timeout=10)
        self.assertNotIn("8", out)
        self.assertIn("terminating connection due to administrator command", err)

    def test_example_configs_check(self):
        """docs/examples/*.conf are valid once their paths exist."""
        repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
        relay = self.new_relay()
        relay.dir = tempfile.mkdtemp(prefix="pgward-relay-ex-")
        relay.prepare()
        with open(os.path.join(repo, "docs", "examples", "relay.conf")) as f:
            text = f.read()
        text = (text.replace("/etc/pgward/relay/relay.crt", relay.tls_cert)
                .replace("/etc/pgward/relay/relay.key", relay.tls_key)
                .replace("/etc/pgward/relay/pgpass", relay.passfile))
        conf = os.path.join(relay.dir, "example.conf")
        with open(conf, "w") as f:
            f.write(text)
        p = subprocess.run([relay.exe, "-n", "-c", conf], stderr=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(repo, "docs", "examples", "auth.conf")) as f:
            text = f.read().replace("/etc/pgward/auth/jwks.json", suite.issuer.jwks)
        conf = os.path.join(relay.dir, "auth-example.conf")
        with open(conf, "w") as f:
            f.write(text)
        auth_exe = os.path.join(os.path.dirname(relay.exe), "pgward-auth")
        p = subprocess.run([auth_exe, "-n", "-c", conf], stderr=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        logd_exe = os.path.join(os.path.dirname(relay.exe), "pgward-logd")
        key = os.path.join(relay.dir, "logd.key")
        p = subprocess.run([logd_exe, "keygen", "pgward.example.com/audit", key],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(repo, "docs", "examples", "logd.conf")) as f:
            text = (f.read().replace("/etc/pgward/logd/logd.key", key)
                    .replace("/var/lib/pgward/log", os.path.join(relay.dir, "log"))
                    .replace("/run/pgward/logd.sock", os.path.join(relay.dir, "logd.sock")))
        conf = os.path.join(relay.dir, "logd-example.conf")
        with open(conf, "w") as f:
            f.write(text)
        p = subprocess.run([logd_exe, "-n", "-c", conf], stderr=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        filter_exe = os.path.join(os.path.dirname(relay.exe), "pgward-filter")
        with open(os.path.join(repo, "docs", "examples", "filter.conf")) as f:
            text = (f.read().replace("/etc/pgward/filter/policy.conf",
                                     os.path.join(repo, "docs", "examples", "policy.conf"))
                    .replace("/var/lib/pgward/filter", os.path.join(relay.dir, "filter-state")))
        conf = os.path.join(relay.dir, "filter-example.conf")
        with open(conf, "w") as f:
            f.write(text)
        p = subprocess.run([filter_exe, "-n", "-c", conf], stderr=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    unittest.main()
