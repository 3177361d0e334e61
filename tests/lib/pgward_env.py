"""pgward test/demo/benchmark harness: throwaway PostgreSQL, token issuer,
pgward-auth and pgward-relay, each in its own temporary directory.

Standard library + psycopg2 only (Debian's /usr/bin/python3).

    from pgward_env import Suite
    with Suite() as s:
        tok = s.issuer.mint("alice")
        conn = psycopg2.connect(s.relay_dsn(tok))

Environment:
    PGWARD_BUILD    build directory holding bin/pgward-* (default <repo>/build)
    PGWARD_TMPDIR   parent for temporary directories (default: $TMPDIR or /tmp)
    PGWARD_KEEP     if set, temporary directories are kept (for debugging)
    PGWARD_PGBIN    PostgreSQL server binaries (default /usr/lib/postgresql/15/bin)

Auth methods of the throwaway cluster (see PgCluster.HBA):
    app_read, app_write   scram-sha-256 (SCRAM verifier stored)
    app_md5               md5 (md5 hash stored; created with password_encryption=md5)
    app_pw                password (cleartext password message; SCRAM verifier stored)
    app_trust             trust (no password at all)
    postgres              trust over the Unix socket only
"""

import atexit
import base64
import json
import os
import pwd
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PGBIN = os.environ.get("PGWARD_PGBIN", "/usr/lib/postgresql/15/bin")
SAMPLE_SQL = os.path.join(REPO, "scripts", "sample-shop.sql")

# Passwords used for the database roles are random per cluster.
LOGIN_ROLES = ("app_read", "app_write", "app_md5", "app_pw", "app_trust")

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer",
                     "SUMMARY: AddressSanitizer")


class HarnessError(RuntimeError):
    pass


def build_dir():
    return os.path.abspath(os.environ.get("PGWARD_BUILD", os.path.join(REPO, "build")))


def is_root():
    return os.geteuid() == 0


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (callers retry on
    a lost race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_port(host, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def make_tempdir(prefix):
    parent = os.environ.get("PGWARD_TMPDIR") or None
    d = tempfile.mkdtemp(prefix=prefix, dir=parent)
    os.chmod(d, 0o711)   # the postgres user must be able to traverse it
    return d


def run(cmd, check=True, timeout=120, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    p = subprocess.run(cmd, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise HarnessError("command failed (exit %d): %s\n%s%s" % (
            p.returncode, " ".join(cmd), p.stdout or "", p.stderr or ""))
    return p


def quote_conninfo(v):
    v = str(v)
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


def conninfo(**kw):
    return " ".join("%s=%s" % (k, quote_conninfo(v)) for k, v in kw.items() if v is not None)


def write_file(path, text, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def jwt_claims(token, part=1):
    """Decode (without verifying) the payload of a JWT (part 0: the header)."""
    payload = token.split(".")[part]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


def jwt_header(token):
    return jwt_claims(token, part=0)


# --- cleanup of everything started, also on abnormal exit -----------------

_live = weakref.WeakSet()


def _cleanup_all():
    for obj in list(_live):
        try:
            obj.stop()
        except Exception as e:  # pragma: no cover
            print("pgward_env: cleanup of %r failed: %s" % (obj, e), file=sys.stderr)


atexit.register(_cleanup_all)


def install_signal_cleanup():
    """Turn SIGTERM/SIGHUP into SystemExit so atexit cleanup runs."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)


class _Resource:
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


# --- certificates ------------------------------------------------------------

class CertAuthority:
    """A throwaway CA (EC P-256) that signs server certificates for
    CN=localhost with SANs DNS:localhost and IP:127.0.0.1, so clients can use
    sslmode=verify-full sslrootcert=<ca.crt>."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.cert = os.path.join(directory, "ca.crt")
        self.key = os.path.join(directory, "ca.key")
        run(["openssl", "req", "-x509", "-new", "-nodes", "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", self.key,
             "-out", self.cert, "-days", "30", "-subj", "/CN=pgward test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        os.chmod(self.key, 0o600)

    def issue(self, name, cn="localhost"):
        """Returns (cert_path, key_path); key mode 0600."""
        crt = os.path.join(self.dir, name + ".crt")
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        ext = os.path.join(self.dir, name + ".ext")
        run(["openssl", "req", "-new", "-nodes", "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", key,
             "-out", csr, "-subj", "/CN=" + cn])
        write_file(ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                        "extendedKeyUsage=serverAuth\n"
                        "basicConstraints=CA:FALSE\n")
        run(["openssl", "x509", "-req", "-in", csr, "-CA", self.cert,
             "-CAkey", self.key, "-CAcreateserial", "-out", crt, "-days", "30",
             "-extfile", ext])
        os.chmod(key, 0o600)
        os.unlink(csr)
        return crt, key


# --- PostgreSQL ---------------------------------------------------------------

class PgCluster(_Resource):
    """A throwaway PostgreSQL 15 server.

    Listens on 127.0.0.1:<port> (TLS on) and on a Unix socket in
    <dir>/sock. When run as root the server runs as the `postgres` user.
    Superuser access: `postgres` over the Unix socket, trust.
    """

    def __init__(self, fsync=False, settings=None, ssl_only=False, sample=True,
                 max_connections=200, log_statements=False):
        self.fsync = fsync
        self.settings = dict(settings or {})
        self.ssl_only = ssl_only
        self.sample = sample
        self.max_connections = max_connections
        self.log_statements = log_statements
        self.dir = None
        self.port = None
        self.passwords = {}
        self.started = False
        self.ca = None
        _live.add(self)

    # paths
    @property
    def datadir(self):
        return os.path.join(self.dir, "data")

    @property
    def sockdir(self):
        return os.path.join(self.dir, "sock")

    @property
    def logfile(self):
        return os.path.join(self.dir, "postgresql.log")

    @property
    def ca_cert(self):
        return self.ca.cert

    @property
    def passfile(self):
        return os.path.join(self.dir, "pgpass")

    def _as_pg(self, cmd):
        if is_root():
            return ["runuser", "-u", "postgres", "--"] + cmd
        return cmd

    def _chown(self, path):
        if is_root():
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    HBA = """\
# TYPE  DATABASE USER       ADDRESS       METHOD
local   all      postgres                 trust
local   all      all                      scram-sha-256
host    all      app_trust  127.0.0.1/32  trust
host    all      app_md5    127.0.0.1/32  md5
host    all      app_pw     127.0.0.1/32  password
hostssl all      all        127.0.0.1/32  scram-sha-256
"""

    def start(self):
        if self.started:
            return self
        self.dir = make_tempdir("pgward-pg-")
        self.ca = CertAuthority(os.path.join(self.dir, "tls"))
        crt, key = self.ca.issue("server")
        os.makedirs(self.sockdir)
        for p in (self.sockdir, crt, key):
            self._chown(p)
        self._chown(self.dir)
        pwfile = write_file(os.path.join(self.dir, "initdb.pw"), secrets.token_hex(16) + "\n", 0o600)
        self._chown(pwfile)
        run(self._as_pg([os.path.join(PGBIN, "initdb"), "-D", self.datadir, "-U", "postgres",
                         "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]),
            timeout=120)
        os.unlink(pwfile)
        hba = self.HBA
        if not self.ssl_only:
            hba += "host    all      all        127.0.0.1/32  scram-sha-256\n"
        else:
            hba += "hostnossl all    all        127.0.0.1/32  reject\n"
        hba_path = os.path.join(self.datadir, "pg_hba.conf")
        write_file(hba_path, hba, 0o600)
        self._chown(hba_path)
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": "'%s'" % self.sockdir,
            "ssl": "on",
            "ssl_cert_file": "'%s'" % crt,
            "ssl_key_file": "'%s'" % key,
            "ssl_ca_file": "'%s'" % self.ca.cert,
            "password_encryption": "'scram-sha-256'",
            "max_connections": str(self.max_connections),
            "logging_collector": "off",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
            "log_connections": "on",
            "log_disconnections": "on",
        }
        if self.log_statements:
            conf["log_statement"] = "'all'"
        if not self.fsync:
            conf.update({"fsync": "off", "synchronous_commit": "off",
                         "full_page_writes": "off"})
        conf.update({k: str(v) for k, v in self.settings.items()})
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write("\n# pgward test harness\n")
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        # The CA's directory must be readable by postgres (ssl_ca_file).
        self._chown(self.ca.dir)
        for attempt in range(5):
            self.port = free_port()
            p = run(self._as_pg([os.path.join(PGBIN, "pg_ctl"), "-D", self.datadir,
                                 "-l", self.logfile, "-w", "-t", "60",
                                 "-o", "-p %d" % self.port, "start"]),
                    check=False, timeout=90)
            if p.returncode == 0:
                break
            log = self.server_log()
            if "could not bind" in log or "already in use" in log:
                continue
            raise HarnessError("pg_ctl start failed:\n%s%s\n--- server log ---\n%s"
                               % (p.stdout, p.stderr, log[-4000:]))
        else:
            raise HarnessError("could not find a free port for PostgreSQL")
        self.started = True
        self._setup_roles()
        return self

    def server_log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _setup_roles(self):
        if self.sample:
            self.psql("CREATE DATABASE shop")
            self.psql_file(SAMPLE_SQL, db="shop")
        else:
            self.psql("DO $$ DECLARE r text; BEGIN FOREACH r IN ARRAY ARRAY[%s] LOOP "
                      "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN "
                      "EXECUTE format('CREATE ROLE %%I NOLOGIN', r); END IF; END LOOP; END $$"
                      % ",".join("'%s'" % r for r in LOGIN_ROLES))
        sql = []
        for role in LOGIN_ROLES:
            if role == "app_trust":
                sql.append("ALTER ROLE app_trust LOGIN PASSWORD NULL;")
                continue
            pw = secrets.token_urlsafe(18)
            self.passwords[role] = pw
            enc = "md5" if role == "app_md5" else "scram-sha-256"
            sql.append("SET password_encryption = '%s'; ALTER ROLE %s LOGIN PASSWORD '%s';"
                       % (enc, role, pw))
        self.psql("\n".join(sql))
        self.write_passfile(self.passfile)

    def write_passfile(self, path, roles=None):
        """A pgpass file (mode 0600) with the roles' passwords, for
        host 127.0.0.1 and localhost on this cluster's port, and for its
        Unix socket directory; any database."""
        lines = []
        esc = lambda s: s.replace("\\", "\\\\").replace(":", "\\:")
        for role, pw in self.passwords.items():
            if roles is not None and role not in roles:
                continue
            for host in ("127.0.0.1", "localhost", self.sockdir):
                lines.append("%s:%d:*:%s:%s" % (esc(host), self.port, role, esc(pw)))
        return write_file(path, "\n".join(lines) + "\n", 0o600)

    def stop(self):
        if self.dir is None:
            return
        if self.started:
            p = run(self._as_pg([os.path.join(PGBIN, "pg_ctl"), "-D", self.datadir,
                                 "-m", "fast", "-w", "-t", "20", "stop"]),
                    check=False, timeout=40)
            if p.returncode != 0:
                self._kill_postmaster()
            self.started = False
        if not os.environ.get("PGWARD_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("pgward_env: kept %s" % self.dir, file=sys.stderr)
        self.dir = None

    def _kill_postmaster(self):
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                pid = int(f.readline())
            os.kill(pid, signal.SIGQUIT)
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass

    # superuser access over the Unix socket
    def psql(self, sql, db="postgres", user="postgres", args=(), check=True, timeout=300):
        """Run SQL with psql as a superuser over the Unix socket; returns
        stdout (unaligned, tuples only, '|' separated)."""
        p = run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                 "-h", self.sockdir, "-p", str(self.port), "-U", user, "-d", db,
                 *args, "-f", "-"], input=sql, check=check, timeout=timeout,
                env=self.env(user=user, db=db))
        return p.stdout if check else p

    def provision_masking(self, policy_path, db="shop", key=None, roles=()):
        """Database-enforced masking: `pgward-mask sql` for the policy piped
        into psql as the superuser; each masked role it makes ("-- role M:
        the masked twin of R ...") gets R's password (its verifier is R's)
        and a line in the passfile. Returns the masked role names."""
        cmd = [os.path.join(build_dir(), "bin", "pgward-mask"), "sql", "-p", policy_path]
        if key is not None:
            cmd += ["--key", key]
        for r in roles:
            cmd += ["--role", r]
        sql = run(cmd).stdout
        self.psql(sql, db=db)
        twins = re.findall(r"^-- role (\S+): the masked twin of (\S+) ", sql, re.M)
        for masked, base in twins:
            if base in self.passwords:
                self.passwords[masked] = self.passwords[base]
        self.write_passfile(self.passfile)
        return [m for m, _ in twins]

    def psql_file(self, path, db="postgres", user="postgres"):
        return run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.sockdir,
                    "-p", str(self.port), "-U", user, "-d", db, "-f", path],
                   env=self.env(user=user, db=db)).stdout

    def env(self, user="postgres", db="postgres"):
        """Environment for libpq tools as superuser over the Unix socket."""
        e = clean_pg_env()
        e.update(PGHOST=self.sockdir, PGPORT=str(self.port), PGUSER=user, PGDATABASE=db)
        return e

    # connection strings
    def unix_dsn(self, db="shop", user="postgres", **kw):
        return conninfo(host=self.sockdir, port=self.port, dbname=db, user=user, **kw)

    def tcp_dsn(self, role, db="shop", sslmode="verify-full", password=True, **kw):
        """Direct TCP+TLS connection string for a login role (password
        included unless password=False)."""
        pw = self.passwords.get(role) if password else None
        extra = {}
        if sslmode in ("verify-ca", "verify-full"):
            extra["sslrootcert"] = self.ca.cert
        return conninfo(host="127.0.0.1", port=self.port, dbname=db, user=role,
                        password=pw, sslmode=sslmode, **extra, **kw)

    def relay_conninfo(self, db="shop", sslmode="require"):
        """libpq conninfo for the relay's `connection` line (no user/password)."""
        return "host=127.0.0.1 port=%d dbname=%s sslmode=%s" % (self.port, db, sslmode)

    def pgbench_init(self, db="bench", scale=1, grant_to=("app_write",)):
        """Create database `db` with pgbench tables (as superuser) and grant
        DML on them to the given roles."""
        exists = self.psql("SELECT 1 FROM pg_database WHERE datname = '%s'" % db).strip()
        if not exists:
            self.psql('CREATE DATABASE "%s"' % db)
        run(["pgbench", "-i", "-q", "-s", str(scale), "-h", self.sockdir, "-p", str(self.port),
             "-U", "postgres", db], env=self.env(db=db), timeout=300)
        for r in grant_to:
            self.psql("GRANT USAGE ON SCHEMA public TO %s; "
                      "GRANT SELECT, INSERT, UPDATE, DELETE ON pgbench_accounts, pgbench_branches, "
                      "pgbench_tellers, pgbench_history TO %s;" % (r, r), db=db)


def clean_pg_env():
    """os.environ without PG* variables that could redirect libpq tools."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


# --- token issuer ------------------------------------------------------------

class Issuer(_Resource):
    """The demo token issuer: scripts/issuer-init DIR, scripts/mint-token."""

    def __init__(self, directory=None, keep=False):
        self.dir = directory
        self.keep = keep or directory is not None
        self.own_dir = directory is None
        _live.add(self)

    def start(self):
        if self.dir is None:
            self.dir = make_tempdir("pgward-iss-")
        init = os.path.join(REPO, "scripts", "issuer-init")
        if not os.path.exists(os.path.join(self.dir, "jwks.json")):
            run([init, self.dir], timeout=60)
        for f in ("signing-key.pem", "jwks.json", "issuer", "audience"):
            if not os.path.exists(os.path.join(self.dir, f)):
                raise HarnessError("issuer-init did not create %s/%s" % (self.dir, f))
        return self

    def _read(self, name):
        with open(os.path.join(self.dir, name)) as f:
            return f.read().strip()

    @property
    def jwks(self):
        return os.path.join(self.dir, "jwks.json")

    @property
    def issuer(self):
        return self._read("issuer")

    @property
    def audience(self):
        return self._read("audience")

    def mint(self, user, groups=None, ttl=None, extra_args=()):
        """A JWT for `user` with `groups` (list); ttl seconds (negative =
        already expired); extra_args e.g. ("-a", "other-audience")."""
        cmd = [os.path.join(REPO, "scripts", "mint-token"), "-d", self.dir, *extra_args]
        if groups:
            cmd += ["-g", ",".join(groups)]
        if ttl is not None:
            cmd += ["-t", str(int(ttl))]
        cmd.append(user)
        tok = run(cmd, timeout=30).stdout.strip()
        if tok.count(".") != 2:
            raise HarnessError("mint-token printed no JWT: %r" % tok[:200])
        return tok

    def stop(self):
        if self.own_dir and self.dir and not os.environ.get("PGWARD_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


class OidcProvider(_Resource):
    """A real OpenID provider: tests/oidc/provider.mjs (Node's oidc-provider)
    on a free port of 127.0.0.1, started and waited for like PostgreSQL.
    Quacks like Issuer for Auth: .jwks is a file written by scripts/fetch-jwks
    from the provider's discovery (refetch_jwks() again after a rotation).
    Clients: pgward-agent and pgward-exchanger (secret .secret), pgward-login
    (public, device flow; approve_device() confirms the user code and the
    provider approves it for `user`)."""

    AGENT, EXCHANGER, LOGIN = "pgward-agent", "pgward-exchanger", "pgward-login"
    TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
    ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"

    def __init__(self, ttl=300, user="alice", groups=None, audience="urn:pgward",
                 ready_timeout=20.0):
        self.ttl = ttl
        self.user = user
        self.groups = dict(groups or {})
        self.audience = audience
        self.secret = secrets.token_urlsafe(16)
        self.ready_timeout = ready_timeout
        self.dir = None
        self.port = None
        self.proc = None
        _live.add(self)

    @property
    def issuer(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def jwks(self):
        return os.path.join(self.dir, "jwks.json")

    @property
    def log_path(self):
        return os.path.join(self.dir, "provider.log")

    def start(self):
        if self.proc is not None and self.proc.poll() is None:
            return self
        here = os.path.join(REPO, "tests", "oidc")
        if not os.path.isdir(os.path.join(here, "node_modules", "oidc-provider")):
            run([os.path.join(REPO, "scripts", "install-npm")], timeout=300)
        self.dir = self.dir or make_tempdir("pgward-oidc-")
        self.port = free_port()
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                # --opt=VALUE: a random secret may start with "-".
                ["node", os.path.join(here, "provider.mjs"), "--port=%d" % self.port,
                 "--ttl=%d" % int(self.ttl), "--user=" + self.user, "--secret=" + self.secret,
                 "--audience=" + self.audience, "--groups=" + json.dumps(self.groups)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, cwd=here,
                preexec_fn=os.setpgrp)
        finally:
            log.close()
        deadline = time.monotonic() + self.ready_timeout
        line = b""
        while not line.startswith(b"ready "):
            left = deadline - time.monotonic()
            rd = select.select([self.proc.stdout], [], [], max(left, 0))[0] if left > 0 else []
            if not rd:
                self.stop()
                raise HarnessError("oidc provider not ready within %.0fs" % self.ready_timeout)
            line = self.proc.stdout.readline()
            if not line:
                rc = self.proc.wait()
                raise HarnessError("oidc provider exited with %s; log:\n%s" % (rc, self.log_text()))
        self.refetch_jwks()
        return self

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def refetch_jwks(self):
        """scripts/fetch-jwks over the provider's real discovery URL."""
        run([os.path.join(REPO, "scripts", "fetch-jwks"), self.issuer, self.jwks], timeout=30)
        with open(self.jwks) as f:
            return [k["kid"] for k in json.load(f)["keys"]]

    def _post(self, path, form=None, auth=None, opener=None):
        import urllib.error
        import urllib.parse
        import urllib.request
        req = urllib.request.Request(self.issuer + path, urllib.parse.urlencode(form or {}).encode())
        if auth:
            req.add_header("Authorization", "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode())
        try:
            with (opener or urllib.request.build_opener()).open(req, timeout=15) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def rotate(self):
        """A new signing key; the old ones stay in the JWKS. Returns the new kid."""
        return self._post("/test/rotate")[1]["signing"]

    def remove_old_keys(self):
        return self._post("/test/remove-old")[1]["kids"]

    def token(self, form, client):
        secret = None if client == self.LOGIN else self.secret
        code, body = self._post("/token", dict(form, **({} if secret else {"client_id": client})),
                                auth=(client, secret) if secret else None)
        if code != 200:
            raise HarnessError("token endpoint: %s %s" % (code, body))
        return body["access_token"]

    def client_credentials(self, client=AGENT):
        return self.token({"grant_type": "client_credentials", "scope": "pgward"}, client)

    def exchange(self, subject_token, client=EXCHANGER):
        return self.token({"grant_type": self.TOKEN_EXCHANGE, "subject_token": subject_token,
                           "subject_token_type": self.ACCESS_TOKEN_TYPE}, client)

    def approve_device(self, uri):
        """The person's step: open verification_uri_complete, confirm the
        user code with the provider's own form (cookie and xsrf); the
        provider's interaction then logs `user` in and consents."""
        import http.cookiejar
        import urllib.parse
        import urllib.request
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open(uri, timeout=15) as r:
            page = r.read().decode()
        form = re.search(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', page, re.S)
        if not form:
            raise HarnessError("no confirm form at %s" % uri)
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form.group(2)))
        fields.setdefault("confirm", "yes")
        data = urllib.parse.urlencode(fields).encode()
        with opener.open(urllib.parse.urljoin(uri, form.group(1)), data, timeout=15) as r:
            done = r.read().decode()
        if "Sign-in Success" not in done:
            raise HarnessError("device approval did not succeed: %s" % done[-300:])

    def device_token(self):
        """A whole device flow for `user`, driven from here."""
        code, d = self._post("/device/auth", {"client_id": self.LOGIN,
                                              "scope": "openid offline_access pgward"})
        if code != 200:
            raise HarnessError("device authorization: %s %s" % (code, d))
        self.approve_device(d["verification_uri_complete"])
        return self.token({"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                           "device_code": d["device_code"]}, self.LOGIN)

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
        if self.dir and not os.environ.get("PGWARD_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


# --- daemons -------------------------------------------------------------------

class Daemon(_Resource):
    """A pgward daemon started with `-c CONF -d 3`, fd 3 being the write end
    of a pipe on which it writes a newline when ready (s6 convention)."""

    binary = None
    name = None

    def __init__(self, directory=None, build=None, ready_timeout=10.0, extra_args=()):
        self.dir = directory
        self.own_dir = directory is None
        self.build = build or build_dir()
        self.ready_timeout = ready_timeout
        self.extra_args = list(extra_args)
        self.proc = None
        self._stderr_f = None
        _live.add(self)

    @property
    def exe(self):
        return os.path.join(self.build, "bin", self.binary)

    @property
    def conf_path(self):
        return os.path.join(self.dir, self.name + ".conf")

    @property
    def stderr_path(self):
        return os.path.join(self.dir, self.name + ".stderr")

    def config_text(self):
        raise NotImplementedError

    def prepare(self):
        """Create files the daemon needs before the config is written."""

    def start(self):
        if self.proc is not None and self.proc.poll() is None:
            return self
        if self.dir is None:
            self.dir = make_tempdir("pgward-%s-" % self.name)
        if not os.path.exists(self.exe):
            raise HarnessError("%s not built (looked for %s; set PGWARD_BUILD)" % (self.binary, self.exe))
        self.prepare()
        write_file(self.conf_path, self.config_text(), 0o600)
        self._spawn()
        return self

    def _spawn(self):
        r, w = os.pipe()
        self._stderr_f = open(self.stderr_path, "ab")
        env = dict(os.environ)
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")

        def child_setup():
            os.dup2(w, 3)
            os.setpgrp()  # own process group: stop() can reach forked sessions
        try:
            self.proc = subprocess.Popen(
                [self.exe, "-c", self.conf_path, "-d", "3", *self.extra_args],
                stdin=subprocess.DEVNULL, stdout=self._stderr_f, stderr=self._stderr_f,
                pass_fds=(3,) if w != 3 else (w,), preexec_fn=child_setup, env=env,
                cwd=self.dir)
        finally:
            os.close(w)
        try:
            self._wait_ready(r)
        finally:
            os.close(r)

    def _wait_ready(self, r):
        deadline = time.monotonic() + self.ready_timeout
        buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise HarnessError("%s not ready within %.0fs; stderr:\n%s"
                                   % (self.binary, self.ready_timeout, self.stderr_text()))
            rd, _, _ = select.select([r], [], [], min(left, 0.2))
            if rd:
                chunk = os.read(r, 64)
                if not chunk:
                    time.sleep(0.05)
                    rc = self.proc.poll()
                    self.kill()
                    raise HarnessError("%s closed its readiness fd without a newline (exit %s); stderr:\n%s"
                                       % (self.binary, rc, self.stderr_text()))
                buf += chunk
                if b"\n" in buf:
                    return
            elif self.proc.poll() is not None:
                raise HarnessError("%s exited with %s before ready; stderr:\n%s"
                                   % (self.binary, self.proc.returncode, self.stderr_text()))

    def stderr_text(self, offset=0):
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stderr_size(self):
        try:
            return os.path.getsize(self.stderr_path)
        except OSError:
            return 0

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            self.proc.send_signal(sig)

    def kill(self):
        """SIGKILL the daemon and its process group (forked sessions)."""
        if self.proc is None:
            return
        for target in (lambda: os.killpg(self.proc.pid, signal.SIGKILL),
                       lambda: self.proc.kill()):
            try:
                target()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def terminate(self, timeout=15.0):
        """SIGTERM and wait; SIGKILL after timeout. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        # leftover session processes in the group
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        return self.proc.returncode

    def restart(self):
        self.terminate()
        self.proc = None
        self._close_stderr()
        self.start()

    def _close_stderr(self):
        if self._stderr_f:
            self._stderr_f.close()
            self._stderr_f = None

    def stop(self):
        if self.proc is not None:
            self.terminate()
            self.proc = None
        self._close_stderr()
        if self.own_dir and self.dir and not os.environ.get("PGWARD_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


class Auth(Daemon):
    binary = "pgward-auth"
    name = "auth"

    def __init__(self, issuer, leeway=5, algorithms="RS256,ES256",
                 user_claim="preferred_username", groups_claim="groups",
                 extra_conf="", **kw):
        super().__init__(**kw)
        self.issuer = issuer
        self.leeway = leeway
        self.algorithms = algorithms
        self.user_claim = user_claim
        self.groups_claim = groups_claim
        self.extra_conf = extra_conf

    @property
    def socket_path(self):
        return os.path.join(self.dir, "auth.sock")

    def config_text(self):
        return "\n".join([
            "# written by tests/lib/pgward_env.py",
            "listen-unix %s" % self.socket_path,
            "jwks %s" % self.issuer.jwks,
            "issuer %s" % self.issuer.issuer,
            "audience %s" % self.issuer.audience,
            "algorithms %s" % self.algorithms,
            "leeway-s %d" % self.leeway,
            "user-claim %s" % self.user_claim,
            "groups-claim %s" % self.groups_claim,
            self.extra_conf,
        ]) + "\n"


class Logd(Daemon):
    """pgward-logd with a fresh signing key (made by `pgward-logd keygen`)
    and a log directory in its own temp dir."""
    binary = "pgward-logd"
    name = "logd"

    def __init__(self, durability="strict", segment_size=None, origin="pgward.test/audit",
                 checkpoint_interval_ms=200, log_dir=None, extra_conf="", **kw):
        # Startup rescans and fsyncs the log: slow on a loaded machine.
        kw.setdefault("ready_timeout", 30.0)
        super().__init__(**kw)
        self.durability = durability
        self.segment_size = segment_size
        self.origin = origin
        self.checkpoint_interval_ms = checkpoint_interval_ms
        self.want_log_dir = log_dir
        self.extra_conf = extra_conf
        self.vkey = None

    @property
    def socket_path(self):
        return os.path.join(self.dir, "logd.sock")

    @property
    def log_dir(self):
        return self.want_log_dir or os.path.join(self.dir, "log")

    @property
    def key_path(self):
        return os.path.join(self.dir, "signing.key")

    @property
    def vkey_path(self):
        return os.path.join(self.dir, "verifier.key")

    def prepare(self):
        if not os.path.exists(self.key_path):
            p = subprocess.run([self.exe, "keygen", self.origin, self.key_path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=30)
            if p.returncode != 0:
                raise HarnessError("pgward-logd keygen failed: %s" % p.stderr)
            self.vkey = p.stdout.strip()
            write_file(self.vkey_path, self.vkey + "\n")
        elif self.vkey is None:
            with open(self.vkey_path) as f:
                self.vkey = f.read().strip()

    def config_text(self):
        lines = ["# written by tests/lib/pgward_env.py",
                 "listen-unix %s" % self.socket_path,
                 "directory %s" % self.log_dir,
                 "origin %s" % self.origin,
                 "signing-key %s" % self.key_path,
                 "durability %s" % self.durability,
                 "checkpoint-interval-ms %d" % self.checkpoint_interval_ms]
        if self.segment_size:
            lines.append("segment-size %d" % self.segment_size)
        lines.append(self.extra_conf)
        return "\n".join(lines) + "\n"

    def records(self, type=None):
        """Every record in the log, in order (parsed JSON)."""
        out = []
        names = sorted(n for n in os.listdir(self.log_dir)
                       if n.endswith(".jsonl") and n[:20].isdigit())
        for n in names:
            with open(os.path.join(self.log_dir, n), "rb") as f:
                for line in f:
                    if line.endswith(b"\n"):
                        rec = json.loads(line)
                        if type is None or rec.get("type") == type:
                            out.append(rec)
        return out


class Filter(Daemon):
    """pgward-filter with a policy given as text."""
    binary = "pgward-filter"
    name = "filter"

    def __init__(self, auth, policy, logd=None, extra_conf="", **kw):
        super().__init__(**kw)
        self.auth = auth
        self.policy = policy
        self.logd = logd
        self.extra_conf = extra_conf

    @property
    def socket_path(self):
        return os.path.join(self.dir, "filter.sock")

    @property
    def policy_path(self):
        return os.path.join(self.dir, "policy.conf")

    @property
    def state_dir(self):
        return os.path.join(self.dir, "state")

    @property
    def generation_file(self):
        return os.path.join(self.state_dir, "generation")

    def prepare(self):
        os.makedirs(self.state_dir, exist_ok=True)
        write_file(self.policy_path, self.policy)

    def set_policy(self, text, reload=True, wait=False):
        """Replaces the policy file and (by default) sends SIGHUP; with
        wait, returns once the filter took it (its generation changed)."""
        before = open(self.generation_file).read() if wait else None
        self.policy = text
        write_file(self.policy_path, text)
        if reload:
            self.signal(signal.SIGHUP)
        if wait:
            deadline = time.time() + 10
            while open(self.generation_file).read() == before:
                if time.time() > deadline:
                    raise HarnessError("pgward-filter did not reload %s" % self.policy_path)
                time.sleep(0.05)

    def config_text(self):
        lines = ["# written by tests/lib/pgward_env.py",
                 "listen-unix %s" % self.socket_path,
                 "policy %s" % self.policy_path,
                 "state-dir %s" % self.state_dir,
                 "auth-socket %s" % self.auth.socket_path]
        if self.logd is not None:
            lines.append("audit-socket %s" % self.logd.socket_path)
        lines.append(self.extra_conf)
        return "\n".join(lines) + "\n"

    def cli(self, args, token=None, input=None, timeout=30):
        env = dict(os.environ)
        if token is not None:
            env["PGWARD_TOKEN"] = token
        return subprocess.run([self.exe, "-s", self.socket_path, *args], env=env, input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout)


class Relay(Daemon):
    binary = "pgward-relay"
    name = "relay"

    def __init__(self, cluster, auth, connections=None, allow=None, port=None,
                 unix=True, ca=None, auth_timeout_ms=2000, max_sessions=100,
                 shutdown_timeout_s=10, extra_conf="", logd=None, audit_timeout_ms=2000,
                 filter=None, **kw):
        """connections: {name: libpq conninfo without user/password}
        (default: shop and bench on `cluster`); allow: [(conn, role,
        [groups])]."""
        super().__init__(**kw)
        self.cluster = cluster
        self.auth = auth
        self.connections = connections or {
            "shop": cluster.relay_conninfo("shop"),
            "bench": cluster.relay_conninfo("bench"),
        }
        self.allow = allow if allow is not None else [
            ("shop", "app_read", ["analysts", "engineers"]),
            ("shop", "app_write", ["engineers"]),
            ("shop", "app_md5", ["engineers"]),
            ("shop", "app_pw", ["engineers"]),
            ("shop", "app_trust", ["engineers"]),
            ("bench", "app_write", ["engineers"]),
        ]
        self.logd = logd
        self.filter = filter
        self.audit_timeout_ms = audit_timeout_ms
        self.port = port
        self.want_port = port
        self.unix = unix
        self.ca = ca
        self.auth_timeout_ms = auth_timeout_ms
        self.max_sessions = max_sessions
        self.shutdown_timeout_s = shutdown_timeout_s
        self.extra_conf = extra_conf

    @property
    def sockdir(self):
        return self.dir

    @property
    def tls_cert(self):
        return os.path.join(self.dir, "relay.crt")

    @property
    def tls_key(self):
        return os.path.join(self.dir, "relay.key")

    @property
    def ca_cert(self):
        return self.ca.cert

    @property
    def passfile(self):
        return os.path.join(self.dir, "pgpass")

    def prepare(self):
        if self.ca is None:
            self.ca = CertAuthority(os.path.join(self.dir, "ca"))
        if not os.path.exists(self.tls_cert):
            crt, key = self.ca.issue("relay")
            os.replace(crt, self.tls_cert)
            os.replace(key, self.tls_key)
            os.chmod(self.tls_key, 0o600)
        self.cluster.write_passfile(self.passfile)
        if self.port is None:
            self.port = self.want_port or free_port()

    def config_text(self):
        lines = ["# written by tests/lib/pgward_env.py",
                 "listen 127.0.0.1:%d" % self.port]
        if self.unix:
            lines.append("listen-unix %s/.s.PGSQL.%d" % (self.sockdir, self.port))
        lines += [
            "tls-cert %s" % self.tls_cert,
            "tls-key %s" % self.tls_key,
            "auth-socket %s" % self.auth.socket_path,
            "auth-timeout-ms %d" % self.auth_timeout_ms,
            "audit-socket %s" % (self.logd.socket_path if self.logd else "off"),
            "audit-timeout-ms %d" % self.audit_timeout_ms,
            *(["filter-socket %s" % self.filter.socket_path,
               "filter-generation-file %s" % self.filter.generation_file,
               "review-poll-ms 100"] if self.filter else []),
            "passfile %s" % self.passfile,
        ]
        for name, ci in self.connections.items():
            lines.append("connection %s %s" % (name, ci))
        for conn, role, groups in self.allow:
            lines.append("allow %s %s %s" % (conn, role, ",".join(groups)))
        lines += ["max-sessions %d" % self.max_sessions,
                  "startup-timeout-ms 10000",
                  "shutdown-timeout-s %d" % self.shutdown_timeout_s,
                  self.extra_conf]
        return "\n".join(lines) + "\n"

    def _spawn(self):
        # If the port was taken meanwhile, retry with a fresh one (unless the
        # caller asked for a fixed port).
        for attempt in range(3):
            try:
                return super()._spawn()
            except HarnessError:
                if self.want_port or port_is_free(self.port) or attempt == 2:
                    raise
                self.port = free_port()
                write_file(self.conf_path, self.config_text(), 0o600)

    def dsn(self, token, role="app_read", db="shop", sslmode="require", **kw):
        extra = {}
        if sslmode in ("verify-ca", "verify-full"):
            extra["sslrootcert"] = self.ca.cert
        kw.setdefault("connect_timeout", 10)
        return conninfo(host="127.0.0.1", port=self.port, dbname=db, user=role,
                        password=token, sslmode=sslmode, **extra, **kw)

    def unix_dsn(self, token, role="app_read", db="shop", **kw):
        kw.setdefault("connect_timeout", 10)
        return conninfo(host=self.sockdir, port=self.port, dbname=db, user=role,
                        password=token, **kw)

    def sanitizer_report(self, offset=0):
        """Sanitizer findings in the relay's stderr since `offset`, or ''."""
        text = self.stderr_text(offset)
        return text if any(m in text for m in SANITIZER_MARKERS) else ""


# --- everything together -------------------------------------------------------

DEFAULT_USERS = {
    "alice": ["analysts"],
    "bob": ["engineers"],
    "carol": ["nobody"],
}


class Suite(_Resource):
    """Cluster (with the shop sample and a pgbench database) + issuer + auth +
    relay. Pieces can be shared: pass cluster= / issuer= to reuse them (they
    are then not stopped by this Suite)."""

    def __init__(self, cluster=None, issuer=None, auth_leeway=5, relay_port=None,
                 relay_kw=None, auth_kw=None, pgbench=True, build=None,
                 start_relay=True, cluster_kw=None, issuer_dir=None, logd=True,
                 logd_kw=None):
        self.cluster = cluster
        self.own_cluster = cluster is None
        self.issuer = issuer
        self.own_issuer = issuer is None
        self.issuer_dir = issuer_dir
        self.auth_leeway = auth_leeway
        self.relay_port = relay_port
        self.relay_kw = dict(relay_kw or {})
        self.auth_kw = dict(auth_kw or {})
        self.cluster_kw = dict(cluster_kw or {})
        self.pgbench = pgbench
        self.build = build
        self.start_relay = start_relay
        self.auth = None
        self.relay = None
        self.logd = None
        self.with_logd = logd
        self.logd_kw = dict(logd_kw or {})
        self.users = dict(DEFAULT_USERS)
        _live.add(self)

    def start(self):
        try:
            if self.cluster is None:
                self.cluster = PgCluster(**self.cluster_kw).start()
                if self.pgbench:
                    self.cluster.pgbench_init("bench")
            if self.issuer is None:
                self.issuer = Issuer(self.issuer_dir).start()
            self.auth = Auth(self.issuer, leeway=self.auth_leeway, build=self.build,
                             **self.auth_kw).start()
            if self.with_logd:
                self.logd = Logd(build=self.build, **self.logd_kw).start()
            self.relay_kw.setdefault("logd", self.logd)
            self.relay = Relay(self.cluster, self.auth, port=self.relay_port,
                               build=self.build, **self.relay_kw)
            if self.start_relay:
                self.relay.start()
        except BaseException:
            self.stop()
            raise
        return self

    def token(self, user, ttl=None, groups=None, extra_args=()):
        if groups is None:
            groups = self.users.get(user, [])
        return self.issuer.mint(user, groups=groups, ttl=ttl, extra_args=extra_args)

    def relay_dsn(self, user_token, role="app_read", **kw):
        return self.relay.dsn(user_token, role=role, **kw)

    def relay_unix_dsn(self, user_token, role="app_read", **kw):
        return self.relay.unix_dsn(user_token, role=role, **kw)

    def direct_dsn(self, role, db="shop", **kw):
        return self.cluster.tcp_dsn(role, db=db, **kw)

    def stop(self):
        for obj in (self.relay, getattr(self, "filter", None), self.auth, self.logd):
            if obj is not None:
                obj.stop()
        if self.own_issuer and self.issuer is not None:
            self.issuer.stop()
        if self.own_cluster and self.cluster is not None:
            self.cluster.stop()
