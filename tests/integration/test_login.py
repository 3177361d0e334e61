"""pgward-login against a real OpenID provider (oidc-provider in tests/oidc):
the device flow end to end (the person's step through the provider's own
pages), the token logs in through pgward-relay; the cache is reused with the
provider gone, refreshed silently after expiry, refused when its mode is not
0600; client credentials and token exchange for agents; bad usage."""

import json
import os
import re
import select
import shutil
import subprocess
import time

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


def login_exe():
    return os.path.join(pgward_env.build_dir(), "bin", "pgward-login")


class LoginTestCase(TimedTestCase):
    test_timeout = 90

    def watchdog_targets(self):
        return [suite.relay, suite.auth]

    def relay_for_sanitizer_check(self):
        return suite.relay

    def setUp(self):
        super().setUp()
        self.cache_home = pgward_env.make_tempdir("pgward-login-cache-")
        self.tmp = pgward_env.make_tempdir("pgward-login-")
        self.env = dict(os.environ, XDG_CACHE_HOME=self.cache_home)
        self.env.pop("PGWARD_CLIENT_SECRET", None)

    def tearDown(self):
        if not os.environ.get("PGWARD_KEEP"):
            shutil.rmtree(self.cache_home, ignore_errors=True)
            shutil.rmtree(self.tmp, ignore_errors=True)
        super().tearDown()

    def login(self, *args, env=None):
        p = subprocess.run([login_exe()] + list(args), env=env or self.env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def device_login(self, provider, *extra):
        """pgward-login in the background; the person's step from its stderr."""
        p = subprocess.Popen([login_exe(), "-i", provider.issuer, "-c", provider.LOGIN] + list(extra),
                             env=self.env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            err, uri = "", None
            deadline = time.monotonic() + 30
            while uri is None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([p.stderr], [], [], left)[0]:
                    raise AssertionError("no verification URI on stderr: %r" % err)
                # the fd, not the file: a buffered readline would hide lines from select
                chunk = os.read(p.stderr.fileno(), 4096).decode()
                if not chunk:
                    raise AssertionError("pgward-login exited (%s): %r" % (p.wait(), err))
                err += chunk
                m = re.search(r"or visit (\S+)\n", err)
                uri = m and m.group(1)
            self.assertRegex(err, r"pgward-login: info: visit \S+ and enter \S+")
            provider.approve_device(uri)
            out, rest = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        err += rest
        self.assertEqual(p.returncode, 0, err)
        token = out.strip()
        self.assertEqual(out, token + "\n")
        self.assertNotIn(token, err)
        return token, err

    def cache_files(self):
        d = os.path.join(self.cache_home, "pgward")
        return [os.path.join(d, f) for f in os.listdir(d)] if os.path.isdir(d) else []

    def stamp(self, token):
        import psycopg2
        c = psycopg2.connect(suite.relay_dsn(token))
        try:
            cur = c.cursor()
            cur.execute("select current_setting('pgward.user'), current_setting('pgward.principal'),"
                        " current_setting('pgward.actor')")
            return cur.fetchone()
        finally:
            c.close()

    def secret_file(self, secret):
        path = os.path.join(self.tmp, "secret")
        with open(path, "w") as f:
            f.write(secret + "\n")
        os.chmod(path, 0o600)
        return path


class DeviceFlowTest(LoginTestCase):
    def test_device_flow_logs_in_through_the_relay(self):
        token, _ = self.device_login(op)
        claims = pgward_env.jwt_claims(token)
        self.assertEqual((claims["sub"], claims["iss"], claims["client_id"], claims["aud"]),
                         (op.user, op.issuer, op.LOGIN, op.audience))
        self.assertEqual(self.stamp(token), (op.user, "person", ""))
        files = self.cache_files()
        self.assertEqual(len(files), 1)
        self.assertEqual(os.stat(files[0]).st_mode & 0o7777, 0o600)
        self.assertEqual(os.stat(os.path.dirname(files[0])).st_mode & 0o7777, 0o700)
        with open(files[0]) as f:
            cached = json.load(f)
        self.assertEqual((cached["issuer"], cached["client_id"], cached["access_token"]),
                         (op.issuer, op.LOGIN, token))
        self.assertTrue(cached["refresh_token"])
        self.assertGreater(cached["expires_at"], time.time() + 500)

        # a cache file others may read is refused, not used nor rewritten
        os.chmod(files[0], 0o644)
        rc, out, err = self.login("-i", op.issuer, "-c", op.LOGIN)
        self.assertEqual((rc, out), (100, ""))
        self.assertRegex(err, r"^pgward-login: fatal: .*mode 0644, not 0600: refused\n$")
        self.assertEqual(os.stat(files[0]).st_mode & 0o7777, 0o644)
        # so is a cache directory that is not 0700
        os.chmod(files[0], 0o600)
        os.chmod(os.path.dirname(files[0]), 0o755)
        rc, out, err = self.login("-i", op.issuer, "-c", op.LOGIN)
        self.assertEqual((rc, out), (100, ""))
        self.assertIn("mode 0755, not 0700: refused", err)
        # and a symbolic link in place of the file
        os.chmod(os.path.dirname(files[0]), 0o700)
        os.rename(files[0], files[0] + ".real")
        os.symlink(files[0] + ".real", files[0])
        rc, out, err = self.login("-i", op.issuer, "-c", op.LOGIN)
        self.assertEqual((rc, out), (100, ""))
        self.assertIn("refused", err)
        self.assertNotIn(token, err)

    def test_cache_is_used_without_the_provider(self):
        own = pgward_env.OidcProvider(ttl=600).start()
        try:
            token, _ = self.device_login(own)
        finally:
            own.stop()
        rc, out, err = self.login("-i", own.issuer, "-c", own.LOGIN)
        self.assertEqual((rc, out, err), (0, token + "\n", ""))
        # another client id has no cache and needs the (gone) provider: 111
        rc, out, err = self.login("-i", own.issuer, "-c", "other")
        self.assertEqual((rc, out), (111, ""))
        self.assertIn("pgward-login: fatal: unable to discover the issuer", err)

    def test_refresh_after_expiry(self):
        # a token of 33 s is reused for 3 s, then refreshed without a prompt
        short = pgward_env.OidcProvider(ttl=33).start()
        try:
            first, _ = self.device_login(short)
            rc, out, err = self.login("-i", short.issuer, "-c", short.LOGIN)
            self.assertEqual((rc, out, err), (0, first + "\n", ""))
            time.sleep(4)
            rc, out, err = self.login("-i", short.issuer, "-c", short.LOGIN)
            self.assertEqual((rc, err), (0, ""))
            second = out.strip()
            self.assertNotEqual(second, first)
            claims = pgward_env.jwt_claims(second)
            self.assertEqual((claims["sub"], claims["client_id"]), (short.user, short.LOGIN))
            with open(self.cache_files()[0]) as f:
                self.assertEqual(json.load(f)["access_token"], second)
        finally:
            short.stop()

    def test_refused_refresh_logs_in_again(self):
        token, _ = self.device_login(op)
        path = self.cache_files()[0]
        with open(path) as f:
            cached = json.load(f)
        cached.update(expires_at=int(time.time()), refresh_token="not-a-refresh-token")
        with open(path, "w") as f:
            json.dump(cached, f)
        again, err = self.device_login(op)
        self.assertNotEqual(again, token)
        self.assertIn("refresh token was refused (invalid_grant); logging in again", err)


class AgentTest(LoginTestCase):
    def test_client_credentials(self):
        rc, out, err = self.login("-i", op.issuer, "-c", op.AGENT, "--client-credentials",
                                  "--secret-file", self.secret_file(op.secret))
        self.assertEqual((rc, err), (0, ""))
        token = out.strip()
        self.assertEqual(pgward_env.jwt_claims(token)["sub"], op.AGENT)
        self.assertEqual(self.stamp(token), (op.AGENT, "agent", ""))
        self.assertEqual(self.cache_files(), [])
        # the secret from the environment; a wrong one is the issuer's refusal (1)
        env = dict(self.env, PGWARD_CLIENT_SECRET=op.secret)
        rc, out, err = self.login("-i", op.issuer, "-c", op.AGENT, "--client-credentials", env=env)
        self.assertEqual((rc, pgward_env.jwt_claims(out.strip())["sub"]), (0, op.AGENT))
        # a resource indicator (RFC 8707): the issuer knows only its audience
        rc, out, err = self.login("-i", op.issuer, "-c", op.AGENT, "--client-credentials",
                                  "-a", op.audience, env=env)
        self.assertEqual((rc, pgward_env.jwt_claims(out.strip())["aud"]), (0, op.audience), err)
        env["PGWARD_CLIENT_SECRET"] = "wrong"
        rc, out, err = self.login("-i", op.issuer, "-c", op.AGENT, "--client-credentials", env=env)
        self.assertEqual((rc, out), (1, ""))
        self.assertRegex(err, r"^pgward-login: fatal: unable to get a token: .*invalid_client")

    def test_token_exchange(self):
        person = op.device_token()
        subject = os.path.join(self.tmp, "subject")
        with open(subject, "w") as f:
            f.write(person + "\n")
        rc, out, err = self.login("-i", op.issuer, "-c", op.EXCHANGER, "--exchange", subject,
                                  "--secret-file", self.secret_file(op.secret))
        self.assertEqual((rc, err), (0, ""))
        token = out.strip()
        claims = pgward_env.jwt_claims(token)
        self.assertEqual((claims["sub"], claims["act"]), (op.user, {"sub": op.EXCHANGER}))
        self.assertEqual(self.stamp(token), (op.user, "person", op.EXCHANGER))
        with open(subject, "w") as f:
            f.write(person[:-4] + ("AAAA" if not person.endswith("AAAA") else "BBBB"))
        rc, out, err = self.login("-i", op.issuer, "-c", op.EXCHANGER, "--exchange", subject,
                                  "--secret-file", self.secret_file(op.secret))
        # the provider answers a bad subject token with HTTP 500 (tests/oidc
        # throws from its grant handler): no token, either way
        self.assertIn(rc, (1, 111), err)
        self.assertEqual(out, "")
        self.assertNotIn(op.secret, err)
        self.assertNotIn(person, err)
        # the issuer's refusal of the client is final: 1
        rc, out, err = self.login("-i", op.issuer, "-c", op.EXCHANGER, "--exchange", subject,
                                  "--secret-file", self.secret_file("wrong"))
        self.assertEqual((rc, out), (1, ""), err)
        self.assertIn("invalid_client", err)


class UsageTest(LoginTestCase):
    def test_bad_usage(self):
        sf = self.secret_file("s")
        cases = [
            [],
            ["-i", op.issuer],
            ["-c", op.LOGIN],
            ["-i", op.issuer, "-c", op.LOGIN, "-x"],
            ["-i", op.issuer, "-c", op.LOGIN, "extra"],
            ["-i", op.issuer, "-c", op.AGENT, "--client-credentials"],
            ["-i", op.issuer, "-c", op.AGENT, "--client-credentials", "--exchange", sf,
             "--secret-file", sf],
            ["-i", op.issuer, "-c", op.LOGIN, "--secret-file", sf],
            ["-i", op.issuer, "-c", op.AGENT, "--client-credentials", "--secret-file",
             os.path.join(self.tmp, "missing")],
            ["-i", "http://id.example.com", "-c", op.LOGIN],
            ["-i", "http://localhost.example.com", "-c", op.LOGIN],
        ]
        for args in cases:
            rc, out, err = self.login(*args)
            self.assertEqual((rc, out), (100, ""), args)
            self.assertTrue(err.startswith("pgward-login: "), (args, err))
        rc, out, _ = self.login("-h")
        self.assertEqual(rc, 0)
        self.assertIn("usage: pgward-login", out)
