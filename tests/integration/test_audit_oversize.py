"""A result record pgward-logd refuses as too large (max-record-bytes) must
not wedge the session: a shorter record stands in for it, saying why, and
the next statements run and are audited as usual."""

import time
import unittest

import psycopg2

import pgward_env
from pgward_testing import TimedTestCase

suite = None


def setUpModule():
    global suite
    suite = pgward_env.Suite(pgbench=False,
                             logd_kw={"extra_conf": "max-record-bytes 4096"}).start()


def tearDownModule():
    if suite is not None:
        suite.stop()


class OversizeResultTest(TimedTestCase):
    test_timeout = 90

    def watchdog_targets(self):
        return [suite.relay, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return suite.relay

    def test_stand_in_then_session_goes_on(self):
        c = psycopg2.connect(suite.relay.dsn(suite.token("alice")))
        c.autocommit = True
        self.addCleanup(c.close)
        cur = c.cursor()
        with self.assertRaises(psycopg2.Error) as e:
            cur.execute("do $$ begin raise exception '%', repeat('x', 6000); end $$")
        self.assertEqual(e.exception.pgcode, "P0001")
        # Without the stand-in, the refused record stays queued and every
        # later statement is refused as "audit log unavailable".
        for i in range(3):
            cur.execute("select %s::int + 1", (i,))
            self.assertEqual(cur.fetchone()[0], i + 1)
        deadline = time.monotonic() + 20
        while True:
            results = [r for r in suite.logd.records("result") if r.get("n") in (1, 2, 3, 4)]
            if len(results) >= 4:
                break
            self.assertLess(time.monotonic(), deadline, results)
            time.sleep(0.05)
        first = [r for r in results if r["n"] == 1]
        self.assertEqual(len(first), 1, results)
        self.assertIn("record too large", first[0]["dropped"])
        self.assertEqual(first[0]["status"], "error")
        self.assertEqual(first[0]["sqlstate"], "P0001")
        self.assertNotIn("message", first[0])
        intents = {r["seq"] for r in suite.logd.records("intent")}
        self.assertIn(first[0]["intent"], intents)
        for r in results:
            if r["n"] > 1:
                self.assertEqual(r["status"], "ok")
                self.assertNotIn("dropped", r)


if __name__ == "__main__":
    unittest.main()
