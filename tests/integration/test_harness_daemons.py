"""Checks of the harness's daemon handling (readiness, failures, cleanup)
with stand-in daemons, and of the demo issuer scripts. These do not need
pgward-auth or pgward-relay to be built."""

import os
import stat
import tempfile
import time
import unittest

import pgward_env
from pgward_testing import TimedTestCase

FAKE_DAEMON = """#!/bin/sh
# stand-in for a pgward daemon: $FAKE_MODE selects the behaviour
conf=$2 fd=$4
case "$FAKE_MODE" in
ready) echo "fake: starting with $conf" >&2; echo >&$fd; exec sleep 300 ;;
fail)  echo "fake: config error: unknown key" >&2; exit 100 ;;
silent) exec sleep 300 ;;
close) exec 3>&-; exec sleep 300 ;;
esac
"""


class FakeDaemon(pgward_env.Daemon):
    binary = "pgward-fake"
    name = "fake"

    def config_text(self):
        return "# fake\n"


class DaemonHarnessTest(TimedTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.TemporaryDirectory(prefix="pgward-it-")
        self.addCleanup(self.tmp.cleanup)
        os.makedirs(os.path.join(self.tmp.name, "bin"))
        exe = os.path.join(self.tmp.name, "bin", "pgward-fake")
        with open(exe, "w") as f:
            f.write(FAKE_DAEMON)
        os.chmod(exe, 0o755)

    def daemon(self, mode, **kw):
        os.environ["FAKE_MODE"] = mode
        self.addCleanup(os.environ.pop, "FAKE_MODE", None)
        d = FakeDaemon(build=self.tmp.name, **kw)
        self.addCleanup(d.stop)
        return d

    def test_ready(self):
        d = self.daemon("ready").start()
        self.assertTrue(d.running())
        self.assertIn("fake: starting with %s" % d.conf_path, d.stderr_text())
        self.assertEqual(stat.S_IMODE(os.stat(d.conf_path).st_mode), 0o600)
        directory = d.dir
        d.stop()
        self.assertFalse(os.path.exists(directory))

    def test_exit_before_ready_reports_stderr(self):
        with self.assertRaisesRegex(pgward_env.HarnessError, "config error: unknown key"):
            self.daemon("fail").start()

    def test_never_ready_times_out(self):
        t0 = time.monotonic()
        d = self.daemon("silent", ready_timeout=1.0)
        with self.assertRaisesRegex(pgward_env.HarnessError, "not ready within"):
            d.start()
        self.assertLess(time.monotonic() - t0, 5)
        self.assertFalse(d.running())

    def test_closed_fd_without_newline(self):
        with self.assertRaisesRegex(pgward_env.HarnessError, "without a newline|exited"):
            self.daemon("close", ready_timeout=5.0).start()

    def test_missing_binary(self):
        d = pgward_env.Auth(issuer=None, build=os.path.join(self.tmp.name, "nothing"))
        self.addCleanup(d.stop)
        with self.assertRaisesRegex(pgward_env.HarnessError, "not built"):
            d.start()


class IssuerScriptsTest(TimedTestCase):

    def test_mint(self):
        with pgward_env.Issuer() as iss:
            self.assertTrue(os.path.exists(iss.jwks))
            tok = iss.mint("alice", groups=["analysts", "ops"], ttl=120)
            c = pgward_env.jwt_claims(tok)
            self.assertEqual(c["preferred_username"], "alice")
            self.assertEqual(c["groups"], ["analysts", "ops"])
            self.assertEqual(c["iss"], iss.issuer)
            self.assertEqual(c["aud"], iss.audience)
            self.assertAlmostEqual(c["exp"] - time.time(), 120, delta=10)
            expired = pgward_env.jwt_claims(iss.mint("bob", ttl=-30))
            self.assertLess(expired["exp"], time.time())
            directory = iss.dir
        self.assertFalse(os.path.exists(directory))


if __name__ == "__main__":
    unittest.main()
