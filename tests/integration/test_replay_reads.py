"""Reading the audit trail is audited: pgward-replay run with a person's
token records who read what in pgward-logd before showing anything, and
refuses when the token is bad or the read cannot be recorded."""

import os
import subprocess
import unittest

import pgward_env
from pgward_testing import TimedTestCase

suite = None


def setUpModule():
    global suite
    suite = pgward_env.Suite(pgbench=False, start_relay=False).start()


def tearDownModule():
    if suite is not None:
        suite.stop()


class ReadAuditTest(TimedTestCase):
    test_timeout = 60

    def replay(self, args, token=None, extra_env=None):
        env = dict(os.environ, PGWARD_AUTH_SOCKET=suite.auth.socket_path,
                   PGWARD_AUDIT_SOCKET=suite.logd.socket_path)
        env.pop("PGWARD_TOKEN", None)
        if token is not None:
            env["PGWARD_TOKEN"] = token
        env.update(extra_env or {})
        exe = os.path.join(pgward_env.build_dir(), "bin", "pgward-replay")
        return subprocess.run([exe, *args], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=30)

    def test_read_with_token_is_recorded_first(self):
        p = self.replay(["search", "--user", "nobody-at-all", "-d", suite.logd.log_dir],
                        token=suite.token("alice"))
        self.assertIn(p.returncode, (0, 1), p.stderr)
        reads = suite.logd.records("read")
        self.assertTrue(reads, "no read record")
        self.assertEqual(reads[-1]["user"], "alice")
        self.assertEqual(reads[-1]["groups"], ["analysts"])
        self.assertEqual(reads[-1]["command"], "search")
        self.assertIn("nobody-at-all", reads[-1]["args"])

    def test_bad_token_refused_and_nothing_shown(self):
        p = self.replay(["sessions", "-d", suite.logd.log_dir], token="not-a-token")
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(p.stdout, "")
        self.assertIn("token not accepted", p.stderr)

    def test_unrecorded_read_refused(self):
        p = self.replay(["sessions", "-d", suite.logd.log_dir], token=suite.token("alice"),
                        extra_env={"PGWARD_AUDIT_SOCKET": "/nonexistent/logd.sock"})
        self.assertEqual(p.returncode, 111)
        self.assertEqual(p.stdout, "")
        self.assertIn("did not record this read", p.stderr)

    def test_token_can_be_required(self):
        p = self.replay(["sessions", "-d", suite.logd.log_dir],
                        extra_env={"PGWARD_REPLAY_REQUIRE_TOKEN": "1"})
        self.assertEqual(p.returncode, 100)
        self.assertIn("needs your token", p.stderr)


if __name__ == "__main__":
    unittest.main()
