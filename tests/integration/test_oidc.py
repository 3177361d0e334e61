"""Identity end to end against a real OpenID provider (oidc-provider in
tests/oidc): scripts/fetch-jwks over its discovery URL feeds pgward-auth; a
client-credentials token is an agent, a token-exchange token carries act
(stamped as pgward.actor), a device-flow token is a person; key rotation:
the new kid is accepted once the JWKS is refetched and pgward-auth reloaded
(SIGHUP), old tokens stay valid until the old key is removed."""

import signal
import time

import psycopg2

import pgward_env
from pgward_testing import TimedTestCase

suite = None
op = None


def setUpModule():
    global suite, op
    groups = {u: ["analysts"] for u in ("alice", pgward_env.OidcProvider.AGENT,
                                        pgward_env.OidcProvider.EXCHANGER)}
    op = pgward_env.OidcProvider(ttl=600, groups=groups).start()
    suite = pgward_env.Suite(issuer=op, pgbench=False,
                             auth_kw={"user_claim": "sub", "algorithms": "RS256"}).start()


def tearDownModule():
    if suite is not None:
        suite.stop()
    if op is not None:
        op.stop()


def reload_auth():
    """SIGHUP pgward-auth and wait for its "reloaded" line."""
    start = suite.auth.stderr_size()
    suite.auth.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "reloaded" not in suite.auth.stderr_text(start):
        if time.monotonic() > deadline:
            raise AssertionError("pgward-auth did not reload: %s" % suite.auth.stderr_text(start))
        time.sleep(0.05)


class OidcTestCase(TimedTestCase):
    test_timeout = 60

    def watchdog_targets(self):
        return [suite.relay, suite.auth]

    def relay_for_sanitizer_check(self):
        return suite.relay

    def stamp(self, token):
        c = psycopg2.connect(suite.relay_dsn(token))
        try:
            cur = c.cursor()
            cur.execute("select current_setting('pgward.user'), current_setting('pgward.principal'),"
                        " current_setting('pgward.actor')")
            return cur.fetchone()
        finally:
            c.close()


class IdentityTest(OidcTestCase):
    def test_discovery_feeds_auth(self):
        kids = op.refetch_jwks()
        self.assertEqual(len(kids), 1)
        self.assertEqual(pgward_env.jwt_claims(op.client_credentials())["iss"], op.issuer)

    def test_client_credentials_is_an_agent(self):
        tok = op.client_credentials()
        self.assertEqual(pgward_env.jwt_claims(tok)["sub"], op.AGENT)
        self.assertEqual(self.stamp(tok), (op.AGENT, "agent", ""))

    def test_token_exchange_carries_act(self):
        person = op.device_token()
        tok = op.exchange(person)
        claims = pgward_env.jwt_claims(tok)
        self.assertEqual((claims["sub"], claims["act"]), (op.user, {"sub": op.EXCHANGER}))
        self.assertEqual(self.stamp(tok), (op.user, "person", op.EXCHANGER))

    def test_device_flow_is_a_person(self):
        tok = op.device_token()
        self.assertEqual(pgward_env.jwt_claims(tok)["client_id"], op.LOGIN)
        self.assertEqual(self.stamp(tok), (op.user, "person", ""))

    def test_bad_subject_token_refused(self):
        tok = op.device_token()
        forged = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
        for bad in ("not.a.jwt", forged):
            with self.assertRaises(pgward_env.HarnessError):
                op.exchange(bad)


class RotationTest(OidcTestCase):
    def test_rotation(self):
        old = op.client_credentials()
        new_kid = op.rotate()
        new = op.client_credentials()
        self.assertEqual(pgward_env.jwt_header(new)["kid"], new_kid)
        # pgward-auth has not seen the new key yet
        with self.assertRaises(psycopg2.OperationalError):
            self.stamp(new)
        self.assertEqual(set(op.refetch_jwks()), {new_kid, pgward_env.jwt_header(old)["kid"]})
        reload_auth()
        self.assertEqual(self.stamp(new)[1], "agent")
        self.assertEqual(self.stamp(old)[1], "agent")
        self.assertEqual(op.remove_old_keys(), [new_kid])
        op.refetch_jwks()
        reload_auth()
        self.assertEqual(self.stamp(new)[1], "agent")
        with self.assertRaises(psycopg2.OperationalError):
            self.stamp(old)
