"""Production operation (docs/operations.md): the systemd units pass
`systemd-analyze verify`; the suite runs under a real s6-svscan from
copies of scripts/s6/ and survives kill -9 of each daemon under pgbench
load with a complete, verifiable audit trail; `make install` lays out
binaries, man pages, examples and service files."""

import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import pgward_env
import pgward_s6
from pgward_testing import TimedTestCase

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SYSTEMD_DIR = os.path.join(ROOT, "scripts", "systemd")
DAEMONS = ("auth", "logd", "filter", "relay")


def bin_path(name):
    return os.path.join(pgward_env.build_dir(), "bin", name)


class SystemdUnitTest(unittest.TestCase):
    """Every unit verifies cleanly. systemd-analyze must be present (the
    systemd package is in scripts/install-deps): a missing tool fails."""

    def units(self):
        return sorted(glob.glob(os.path.join(SYSTEMD_DIR, "*.service")) +
                      glob.glob(os.path.join(SYSTEMD_DIR, "*.socket")))

    def test_every_daemon_has_a_service_and_a_socket(self):
        names = {os.path.basename(u) for u in self.units()}
        for d in DAEMONS:
            self.assertIn("pgward-%s.service" % d, names)
            self.assertIn("pgward-%s.socket" % d, names)

    def test_systemd_analyze_verify(self):
        tool = shutil.which("systemd-analyze")
        self.assertIsNotNone(tool, "systemd-analyze not found: install the systemd "
                             "package (scripts/install-deps lists it)")
        # The units name /usr/local/bin (make install rewrites it for
        # PREFIX); verify checks that ExecStart= exists, so point it at
        # this build.
        with tempfile.TemporaryDirectory(prefix="pgward-units-") as d:
            for u in self.units():
                with open(u) as f:
                    text = f.read().replace("/usr/local/bin/", pgward_env.build_dir() + "/bin/")
                with open(os.path.join(d, os.path.basename(u)), "w") as f:
                    f.write(text)
            paths = sorted(glob.glob(os.path.join(d, "*")))
            p = subprocess.run([tool, "verify", "--man=no", *paths],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=120, env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning"))
            # Unknown keys and similar mistakes are only warnings: any
            # line naming one of our units fails the test too.
            ours = [l for l in p.stdout.splitlines() if "pgward" in l]
            self.assertEqual((p.returncode, ours), (0, []), p.stdout)

    def test_hardening_present(self):
        want = ["NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service",
                "Type=notify", "NotifyAccess=main", "ExecReload=/bin/kill -HUP $MAINPID",
                "ProtectHome=yes", "PrivateDevices=yes", "MemoryDenyWriteExecute=yes"]
        for d in DAEMONS:
            with open(os.path.join(SYSTEMD_DIR, "pgward-%s.service" % d)) as f:
                text = f.read()
            for w in want:
                self.assertIn(w, text, "pgward-%s.service" % d)
            self.assertIn("User=pgward-%s\n" % d, text)
            fam = re.search(r"^RestrictAddressFamilies=(.*)$", text, re.M).group(1).split()
            self.assertEqual(sorted(fam), sorted(["AF_UNIX", "AF_INET", "AF_INET6"]
                                                  if d == "relay" else ["AF_UNIX"]), d)


POLICY = """default deny
connect bench app_write groups engineers
rule everything
  action allow
"""

# Errors a client may see while a daemon is down: pgward's own refusals
# (fail closed) and, while the relay restarts, refused connections.
CLEAR_ERRORS = ("pgward: ", "Connection refused", "could not connect to server",
                "connection to server at")


def s6_tool(name):
    return pgward_s6.tool(name)


class S6SuperviseTest(TimedTestCase):
    """The suite under a real s6-svscan, from copies of scripts/s6/ whose
    variables point at configurations the harness wrote; kill -9 of each
    daemon under load."""

    test_timeout = 240

    @classmethod
    def setUpClass(cls):
        for t in ("s6-svscan", "s6-svstat", "s6-svwait", "s6-svc", "s6-svscanctl", "s6-log", "s6-svok"):
            s6_tool(t)
        cls.base = pgward_env.make_tempdir("pgward-s6-")
        cls.s6 = None
        cls.cluster = cls.issuer = None
        try:
            cls._start()
        except BaseException:
            cls._stop()
            raise

    @classmethod
    def _start(cls):
        cls.cluster = pgward_env.PgCluster().start()
        cls.cluster.pgbench_init("bench")
        cls.cluster.psql("create table ops_t(id serial primary key, v text);"
                         "grant all on ops_t to app_write;"
                         "grant usage on sequence ops_t_id_seq to app_write;", db="bench")
        cls.issuer = pgward_env.Issuer().start()
        d = lambda name: os.path.join(cls.base, name)
        for name in DAEMONS:
            os.makedirs(d(name))
        cls.auth = pgward_env.Auth(cls.issuer, directory=d("auth"))
        cls.logd = pgward_env.Logd(directory=d("logd"))
        cls.filter = pgward_env.Filter(cls.auth, POLICY, logd=cls.logd, directory=d("filter"))
        cls.relay = pgward_env.Relay(cls.cluster, cls.auth, logd=cls.logd, filter=cls.filter,
                                     directory=d("relay"))
        cls.daemons = {"auth": cls.auth, "logd": cls.logd, "filter": cls.filter,
                       "relay": cls.relay}
        cls.s6 = pgward_s6.S6Scan(cls.base, cls.daemons).start()
        cls.scan = cls.s6.scan

    @classmethod
    def svdir(cls, name):
        return cls.s6.svdir(name)

    @classmethod
    def wait_ready(cls, name, timeout=30):
        cls.s6.wait_ready(name, timeout)

    @classmethod
    def diag_log(cls, name):
        return cls.s6.log_tail(name)

    @classmethod
    def pid(cls, name):
        return cls.s6.pid(name)

    @classmethod
    def _stop(cls):
        if cls.s6 is not None:
            cls.s6.stop()
        if cls.issuer is not None:
            cls.issuer.stop()
        if cls.cluster is not None:
            cls.cluster.stop()
        if not os.environ.get("PGWARD_KEEP"):
            shutil.rmtree(cls.base, ignore_errors=True)

    @classmethod
    def kill_leftovers(cls):
        if cls.s6 is not None:
            cls.s6.kill_leftovers()

    @classmethod
    def tearDownClass(cls):
        cls._stop()

    def relay_for_sanitizer_check(self):
        return None

    def token(self):
        return self.issuer.mint("bob", groups=["engineers"])

    def test_daemons_sandboxed(self):
        """lib/sandbox.c ran in each daemon: no_new_privs is set (Landlock
        itself does not show in /proc; tests/unit/test_sandbox.c proves
        what it forbids), and no daemon said it ran without it."""
        for name in DAEMONS:
            pid, ready = self.pid(name)
            self.assertTrue(ready, name)
            with open("/proc/%d/status" % pid) as f:
                self.assertIn("NoNewPrivs:\t1\n", f.read(), name)
            self.assertNotIn("sandbox", self.diag_log(name), name)

    def test_kill_each_daemon_under_load(self):
        import psycopg2
        stop = threading.Event()
        lock = threading.Lock()
        acked, errors, pgbench_runs, seen = [], [], [], []

        def unclear(msg):
            return not any(m in msg for m in CLEAR_ERRORS)

        def writer(wid):
            n, conn = 0, None
            while not stop.is_set():
                try:
                    if conn is None:
                        conn = psycopg2.connect(self.relay.dsn(self.token(), role="app_write",
                                                               db="bench", connect_timeout=5))
                        conn.autocommit = True
                    v = "ops-%d-%d" % (wid, n)
                    n += 1
                    conn.cursor().execute("insert into ops_t(v) values (%s)", (v,))
                    with lock:
                        acked.append(v)
                except psycopg2.Error as e:
                    msg = str(e)
                    with lock:
                        seen.append(msg)
                    if unclear(msg):
                        errors.append("writer: %s" % msg)
                    if conn is not None and (conn.closed or isinstance(e, psycopg2.OperationalError)):
                        try:
                            conn.close()
                        except psycopg2.Error:
                            pass
                        conn = None
                    time.sleep(0.05)

        def bench():
            env = pgward_env.clean_pg_env()
            env["PGPASSWORD"] = self.token()
            dsn = pgward_env.conninfo(host="127.0.0.1", port=self.relay.port, dbname="bench",
                                      user="app_write", sslmode="require", connect_timeout=5)
            while not stop.is_set():
                t0 = time.monotonic()
                p = subprocess.run(["pgbench", "-n", "-c", "2", "-j", "1", "-T", "2", dsn],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env=env, timeout=60)
                done = re.search(r"number of transactions actually processed: (\d+)", p.stdout)
                pgbench_runs.append(int(done.group(1)) if done else 0)
                if os.environ.get("PGWARD_VERBOSE"):
                    print("%.1f pgbench rc %d in %.1fs: %s" % (time.monotonic(), p.returncode, time.monotonic() - t0,
                          p.stdout[-600:]), flush=True)
                for line in p.stdout.splitlines():
                    if re.search(r"Run was aborted|could not create connection for", line):
                        continue  # pgbench's summary; the cause is on its own line
                    if "ERROR" in line or "FATAL" in line or "error" in line:
                        with lock:
                            seen.append(line)
                        if unclear(line):
                            errors.append("pgbench: %s" % line)
                if p.returncode != 0:
                    time.sleep(0.2)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
        threads.append(threading.Thread(target=bench))
        for t in threads:
            t.start()
        restarts = {}
        try:
            time.sleep(2)
            for name in ("auth", "filter", "logd", "relay"):
                old, ready = self.pid(name)
                self.assertTrue(ready, name)
                os.kill(old, signal.SIGKILL)
                if os.environ.get("PGWARD_VERBOSE"):
                    print("%.1f killed %s" % (time.monotonic(), name), flush=True)
                deadline = time.monotonic() + 30
                while True:
                    new, ready = self.pid(name)
                    if new not in (old, -1, 0) and ready:
                        break
                    self.assertLess(time.monotonic(), deadline,
                                    "s6 did not restart pgward-%s:\n%s" % (name, self.diag_log(name)))
                    time.sleep(0.05)
                restarts[name] = new
                with lock:
                    before = len(acked)
                # The load goes on through the restarted daemon.
                deadline = time.monotonic() + 20
                while True:
                    with lock:
                        if len(acked) > before + 5:
                            break
                    self.assertLess(time.monotonic(), deadline,
                                    "no progress after pgward-%s restarted:\n%s"
                                    % (name, self.diag_log("relay")[-2000:]))
                    time.sleep(0.05)
                time.sleep(1)
        finally:
            time.sleep(1)
            stop.set()
            for t in threads:
                t.join(60)
        if os.environ.get("PGWARD_VERBOSE"):
            print("\n".join(sorted(set(m.strip() for m in seen))))
        self.assertEqual(errors[:20], [])
        self.assertGreater(len(acked), 50)
        self.assertGreater(sum(pgbench_runs), 20, "pgbench made progress: %r" % pgbench_runs)
        self.assertEqual(sorted(restarts), sorted(DAEMONS))

        intents = set()
        for r in self.logd.records("intent"):
            sql = r.get("sql") or ""
            if sql.startswith("insert into ops_t(v) values ('ops-"):
                intents.add(sql.split("'")[1])
        missing = [v for v in acked if v not in intents]
        self.assertEqual(missing, [], "acknowledged statements without an intent record")
        out = self.cluster.psql("select v from ops_t", db="bench", args=("-At",))
        self.assertEqual(sorted(set(out.split()) - intents), [], "rows without an intent")

        # Stop logd cleanly (it signs a final checkpoint), then verify.
        subprocess.run([s6_tool("s6-svc"), "-wD", "-T", "20000", "-d", self.svdir("logd")],
                       check=True, timeout=30)
        p = subprocess.run([bin_path("pgward-replay"), "verify", "-k", self.logd.vkey_path,
                            self.logd.log_dir], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
        subprocess.run([s6_tool("s6-svc"), "-u", self.svdir("logd")], check=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.wait_ready("logd")


class InstallTest(unittest.TestCase):
    """`make install` with PREFIX and DESTDIR, from the build under test."""

    def test_install_layout(self):
        build = pgward_env.build_dir()
        with tempfile.TemporaryDirectory(prefix="pgward-install-") as dest:
            # -o all: install what was built; do not rebuild with other flags.
            p = subprocess.run(["make", "-s", "-C", ROOT, "-o", "all", "BUILD=" + build,
                                "DESTDIR=" + dest, "PREFIX=/opt/pgward", "install"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=300)
            self.assertEqual(p.returncode, 0, p.stdout)
            root = os.path.join(dest, "opt", "pgward")
            bins = sorted(os.listdir(os.path.join(root, "bin")))
            built = sorted(os.listdir(os.path.join(build, "bin")))
            self.assertEqual(bins, built)
            with open(os.path.join(ROOT, "lib", "daemon.h")) as f:
                version = re.search(r'PGWARD_VERSION "([^"]+)"', f.read()).group(1)
            for b in bins:
                v = subprocess.run([os.path.join(root, "bin", b), "-V"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, timeout=30)
                self.assertEqual((v.returncode, v.stdout), (0, "%s %s\n" % (b, version)), b)
                sect = "1" if b in ("pgward-replay", "pgward-mask", "pgward-login") else "8"
                self.assertTrue(os.path.exists(os.path.join(
                    root, "share", "man", "man" + sect, "%s.%s" % (b, sect))),
                    "no man page for %s" % b)
            man5 = os.listdir(os.path.join(root, "share", "man", "man5"))
            for page in ("pgward-policy.5", "pgward-ipc.5", "pgward-auth-protocol.5",
                         "pgward-filter-protocol.5", "pgward-logd-protocol.5",
                         "pgward-audit-log-format.5"):
                self.assertIn(page, man5)
            for page in glob.glob(os.path.join(root, "share", "man", "man*", "*")):
                name = os.path.basename(page).rsplit(".", 1)[0]
                r = subprocess.run(["man", "-l", "-Tutf8", page], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=60,
                                   env=dict(os.environ, MANWIDTH="80"))
                out = re.sub(".\x08", "", r.stdout.decode("utf-8", "replace"))
                self.assertEqual(r.returncode, 0, page)
                self.assertRegex(out[:2000], r"NAME\s+%s\s+-\s+\S" % re.escape(name), page)
                self.assertFalse(re.search(r"\\f[BIR]", out), page)
                errs = [l for l in r.stderr.decode().splitlines()
                        if "cannot adjust" not in l and "table wider" not in l
                        and "around line" not in l]
                self.assertEqual(errs, [], page)
            ex = os.listdir(os.path.join(root, "share", "doc", "pgward", "examples"))
            for d in DAEMONS:
                self.assertIn(d + ".conf", ex)
            unit = os.path.join(root, "share", "pgward", "systemd", "pgward-relay.service")
            with open(unit) as f:
                self.assertIn("ExecStart=/opt/pgward/bin/pgward-relay ", f.read())
            for d in DAEMONS:
                run = os.path.join(root, "share", "pgward", "s6", "pgward-" + d, "run")
                self.assertTrue(os.access(run, os.X_OK), run)
                with open(run) as f:
                    self.assertIn("\nBIN=/opt/pgward/bin\n", f.read())


if __name__ == "__main__":
    unittest.main()
