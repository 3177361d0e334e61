"""unittest helpers shared by tests/integration (and usable elsewhere)."""

import os
import subprocess
import threading
import time
import unittest

import pgward_env


class TimedTestCase(unittest.TestCase):
    """Each test gets a watchdog: after `test_timeout` seconds the daemons
    listed by `watchdog_targets()` are SIGKILLed, so a client blocked on a
    hung relay gets EOF and the test fails instead of hanging the suite.
    After each test, sanitizer reports in the relay's stderr fail the test."""

    test_timeout = 90

    def watchdog_targets(self):
        return []

    def relay_for_sanitizer_check(self):
        return None

    def setUp(self):
        self._timed_out = False
        self._t0 = time.monotonic()
        relay = self.relay_for_sanitizer_check()
        self._relay_off = relay.stderr_size() if relay is not None else 0
        self._watchdog = threading.Timer(self.test_timeout, self._on_timeout)
        self._watchdog.daemon = True
        self._watchdog.start()
        self.addCleanup(self._after)

    def _on_timeout(self):
        self._timed_out = True
        print("\n!! %s: timed out after %ds, killing daemons" % (self.id(), self.test_timeout),
              flush=True)
        for d in self.watchdog_targets():
            d.kill()

    def _after(self):
        self._watchdog.cancel()
        relay = self.relay_for_sanitizer_check()
        if relay is not None:
            # Session processes may still be finishing; give them a moment.
            rep = relay.sanitizer_report(self._relay_off)
            if not rep:
                time.sleep(0.05)
                rep = relay.sanitizer_report(self._relay_off)
            if rep:
                self.fail("sanitizer report in relay stderr:\n" + rep[-6000:])
        if self._timed_out:
            self.fail("test timed out after %ds" % self.test_timeout)


def psql(dsn, sql=None, args=(), input=None, env=None, timeout=60, check=True):
    """Run psql against a conninfo; returns CompletedProcess (text)."""
    e = pgward_env.clean_pg_env()
    if env:
        e.update(env)
    cmd = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", dsn, *args]
    if sql is not None:
        cmd += ["-c", sql]
    p = subprocess.run(cmd, input=input, env=e, text=True, timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        raise AssertionError("psql failed (exit %d): %s\n%s" % (p.returncode, p.stdout, p.stderr))
    return p


class HeldStatementMixin:
    """A statement held for review in a psql of its own: held_psql starts
    it, wait_review_id reads the relay's NOTICE (kept as self.notice) and
    returns the review id."""

    def held_psql(self, dsn, sql):
        p = subprocess.Popen(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-c", sql, dsn],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=pgward_env.clean_pg_env())
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    def wait_review_id(self, p, timeout=15):
        deadline = time.time() + timeout
        seen = []
        while time.time() < deadline:
            line = p.stderr.readline()
            if not line:
                break
            seen.append(line)
            if "held for review" in line:
                self.notice = line
                return line.split("review ")[1].split()[0]
        self.fail("no review notice; psql said: %r" % seen)
