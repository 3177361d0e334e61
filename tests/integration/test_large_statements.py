"""Statements far over the old 4 MiB IPC line, up to the relay's
max-message-size, are decided by pgward-filter like any other (psycopg2
inlines a 20 MB bytea; the same through the extended protocol), whatever
the session ran before; their intent record pins the whole text by length
and SHA-256. A statement over the filter's max-statement-bytes is refused
as too large (54000), never as "unavailable", also after a short statement
of the same shape was decided. A statement that is not UTF-8 is refused,
never decided as some other text."""

import hashlib
import json
import os
import socket
import ssl
import struct
import time
import unittest

import psycopg2

import pgward_env
from pgward_testing import TimedTestCase

POLICY = """
default deny

connect shop app_write groups engineers

rule no-blobs-in-secrets
  kind insert
  tables secrets, public.secrets
  action deny
  message "secrets take no blobs"

rule blobs
  kind insert
  tables blobs, public.blobs
  action allow

rule reads
  kind select,set
  action allow
"""

BLOB = bytes(range(256)) * (20 * 1024 * 1024 // 256)     # 20 MiB
LIMIT = 1024 * 1024

suite = None
filt = None
relay = None
small_filt = None
small_relay = None


def setUpModule():
    global suite, filt, relay, small_filt, small_relay
    suite = pgward_env.Suite(pgbench=False, start_relay=False).start()
    suite.users.update({"bob": ["engineers"]})
    filt = pgward_env.Filter(suite.auth, POLICY, logd=suite.logd).start()
    relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd, filter=filt).start()
    small_filt = pgward_env.Filter(suite.auth, POLICY, logd=suite.logd,
                                   extra_conf="max-statement-bytes %d" % LIMIT).start()
    small_relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd,
                                   filter=small_filt).start()
    suite.cluster.psql(
        "create table blobs(id serial, b bytea); create table secrets(b bytea);"
        "grant select, insert on blobs, secrets to app_write;"
        "grant delete on blobs to app_write;"
        "grant usage on sequence blobs_id_seq to app_write;", db="shop")


def tearDownModule():
    for d in (small_relay, small_filt, relay, filt):
        if d is not None:
            d.stop()
    if suite is not None:
        suite.stop()


def count(table):
    return int(suite.cluster.psql("select count(*) from %s" % table, db="shop",
                                  args=("-At",)).strip())


class LargeStatementTest(TimedTestCase):
    test_timeout = 180

    def watchdog_targets(self):
        return [relay, filt, small_relay, small_filt, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return relay

    def connect(self, r=None):
        c = psycopg2.connect((r or relay).dsn(suite.token("bob"), role="app_write"))
        c.autocommit = True
        self.addCleanup(c.close)
        return c

    def intent_for(self, sql_bytes, start):
        """The intent record of the statement whose whole text is sql_bytes."""
        digest = hashlib.sha256(sql_bytes).hexdigest()
        deadline = time.monotonic() + 20
        while True:
            recs = [r for r in suite.logd.records("intent")[start:]
                    if r.get("sql_sha256") == digest]
            if recs:
                return recs
            self.assertLess(time.monotonic(), deadline, "no intent record")
            time.sleep(0.1)

    def assert_pinned(self, rec, sql_bytes):
        self.assertEqual(rec["sql_bytes"], len(sql_bytes))
        self.assertEqual(rec["sql_sha256"], hashlib.sha256(sql_bytes).hexdigest())
        head = rec["sql"].encode()
        self.assertGreaterEqual(len(head), 64)
        self.assertLessEqual(len(head), 256 * 1024)
        self.assertTrue(sql_bytes.startswith(head), head[:80])

    def test_simple_query_allowed_by_rule(self):
        c = self.connect()
        cur = c.cursor()
        sql = cur.mogrify("insert into blobs(b) values (%s)", (psycopg2.Binary(BLOB),))
        self.assertGreater(len(sql), 40 * 1024 * 1024)
        start = len(suite.logd.records("intent"))
        before = count("blobs")
        # The first statement of the session: nothing cached to lean on.
        cur.execute(sql)
        self.assertEqual(count("blobs"), before + 1)
        cur.execute("select length(b) from blobs order by id desc limit 1")
        self.assertEqual(cur.fetchone()[0], len(BLOB))
        rec = self.intent_for(sql, start)[0]
        self.assertEqual(rec["decision"], "allow")
        self.assertEqual(rec["rule"], "blobs")
        self.assert_pinned(rec, sql)

    def test_simple_query_denied_with_the_rules_reason(self):
        c = self.connect()
        cur = c.cursor()
        sql = cur.mogrify("insert into secrets values (%s)", (psycopg2.Binary(BLOB),))
        start = len(suite.logd.records("intent"))
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute(sql)
        self.assertEqual(cm.exception.pgcode, "42501")
        self.assertIn('rule "no-blobs-in-secrets": secrets take no blobs',
                      cm.exception.pgerror)
        self.assertEqual(count("secrets"), 0)
        rec = self.intent_for(sql, start)[0]
        self.assertEqual(rec["decision"], "deny")
        self.assertEqual(rec["rule"], "no-blobs-in-secrets")
        self.assert_pinned(rec, sql)
        # A short one of the same shape, then the long one again: the same.
        cur.execute("select 1")
        with self.assertRaises(psycopg2.Error):
            cur.execute("insert into secrets values ('\\x00'::bytea)")
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute(sql)
        self.assertEqual(cm.exception.pgcode, "42501")
        self.assertEqual(count("secrets"), 0)

    def test_extended_protocol(self):
        hexed = BLOB.hex().encode()
        allowed = b"insert into blobs(b) values ('\\x" + hexed + b"'::bytea)"
        denied = b"insert into secrets values ('\\x" + hexed + b"'::bytea)"
        start = len(suite.logd.records("intent"))
        before = count("blobs")
        w = Wire(relay.port, suite.token("bob"), "app_write")
        self.addCleanup(w.close)
        self.assertEqual(w.extended(allowed), ("C", b"INSERT 0 1"))
        kind, fields = w.extended(denied)
        self.assertEqual(kind, "E")
        self.assertEqual(fields.get("C"), "42501")
        self.assertIn("secrets take no blobs", fields.get("M"))
        self.assertEqual(count("blobs"), before + 1)
        self.assertEqual(count("secrets"), 0)
        rec = self.intent_for(allowed, start)[0]
        self.assertEqual((rec["decision"], rec["rule"]), ("allow", "blobs"))
        self.assert_pinned(rec, allowed)
        rec = self.intent_for(denied, start)[0]
        self.assertEqual((rec["decision"], rec["rule"]), ("deny", "no-blobs-in-secrets"))
        self.assert_pinned(rec, denied)

    def test_over_the_filters_limit_says_so(self):
        c = self.connect(small_relay)
        cur = c.cursor()
        big = cur.mogrify("insert into blobs(b) values (%s)", (psycopg2.Binary(BLOB[:LIMIT]),))
        before = count("blobs")
        for prelude in (None, "insert into blobs(b) values ('\\x00'::bytea)"):
            if prelude is not None:
                # A short statement of the same shape is decided (and cached).
                cur.execute(prelude)
                before += 1
            with self.assertRaises(psycopg2.Error) as cm:
                cur.execute(big)
            self.assertEqual(cm.exception.pgcode, "54000", cm.exception.pgerror)
            self.assertIn("statement too large for the policy service (%d bytes; limit %d)"
                          % (len(big), LIMIT), cm.exception.pgerror)
            self.assertNotIn("unavailable", cm.exception.pgerror)
            self.assertEqual(count("blobs"), before)
        # The session goes on.
        cur.execute("select 1")
        self.assertEqual(cur.fetchone()[0], 1)

    def test_filter_refuses_over_its_limit_itself(self):
        """A client that did not read the connect reply still gets a
        decision naming the cause, and the connection stays usable."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(20)
        s.connect(small_filt.socket_path)
        self.addCleanup(s.close)
        req = {"v": 1, "op": "decide", "user": "bob", "groups": ["engineers"],
               "connection": "shop", "role": "app_write", "session": "t",
               "sql": "select '" + "x" * (LIMIT + 1) + "'"}
        f = s.makefile("rwb")
        for sql in (req["sql"], "select 1"):
            req["sql"] = sql
            f.write(json.dumps(req).encode() + b"\n")
            f.flush()
            reply = json.loads(f.readline())
            self.assertTrue(reply["ok"], reply)
            if sql == "select 1":
                self.assertEqual(reply["decision"], "allow")
            else:
                self.assertEqual(reply["decision"], "deny")
                self.assertEqual(reply["rule"], "builtin:statement-too-large")
                self.assertIn("(%d bytes; limit %d)" % (len(sql), LIMIT), reply["message"])
                self.assertEqual(reply["cache"], "none")
        f.write(json.dumps({"v": 1, "op": "connect", "user": "bob",
                            "groups": ["engineers"], "connection": "shop",
                            "role": "app_write"}).encode() + b"\n")
        f.flush()
        self.assertEqual(json.loads(f.readline())["max_statement_bytes"], LIMIT)

    def test_not_utf8_is_refused_not_decided_as_another_text(self):
        # Under client_encoding LATIN1, 'é' is the byte 0xE9: not UTF-8.
        # The relay once sent such a text to the filter as "" (allowed as
        # builtin:empty, even under default deny, and cached by fingerprint).
        suite.cluster.psql("insert into blobs(b) values ('\\x01')", db="shop")
        before = count("blobs")
        c = self.connect()
        c.set_client_encoding("LATIN1")
        cur = c.cursor()
        for sql in ("delete from blobs -- caf\u00e9", "delete from blobs"):
            with self.assertRaises(psycopg2.Error) as cm:
                cur.execute(sql)
            if sql.endswith("\u00e9"):
                self.assertEqual(cm.exception.pgcode, "22021", cm.exception.pgerror)
                self.assertIn("not valid UTF-8", cm.exception.pgerror)
            else:
                self.assertEqual(cm.exception.pgcode, "42501", cm.exception.pgerror)
                self.assertIn('rule "default"', cm.exception.pgerror)
        # The database would have let it run: only the filter stands between.
        self.assertEqual(count("blobs"), before)

    def test_session_survives_a_filter_restart(self):
        """The relay's kept connection to the filter dies with it; the next
        decision takes one fresh connection (lib/ipc ipc_client_call_path)."""
        c = self.connect()
        cur = c.cursor()
        cur.execute("select 1")
        filt.terminate()
        filt.proc = None
        filt.start()
        for i in range(3):
            cur.execute("select %s::int + 1", (i,))
            self.assertEqual(cur.fetchone()[0], i + 1)


class Wire:
    """Just enough of the protocol for one Parse/Bind/Execute/Sync."""

    def __init__(self, port, token, role):
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.sendall(struct.pack("!II", 8, 80877103))
        if s.recv(1) != b"S":
            raise AssertionError("no TLS")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.t = ctx.wrap_socket(s)
        body = struct.pack("!I", 196608) + b"user\0" + role.encode() + b"\0database\0shop\0\0"
        self.t.sendall(struct.pack("!I", len(body) + 4) + body)
        if self.read()[0] != b"R":
            raise AssertionError("no password request")
        self.t.sendall(self.msg(b"p", token.encode() + b"\0"))
        while True:
            kind, b = self.read()
            if kind == b"E":
                raise AssertionError(b)
            if kind == b"Z":
                break

    @staticmethod
    def msg(kind, body):
        return kind + struct.pack("!I", len(body) + 4) + body

    def read(self):
        hdr = b""
        while len(hdr) < 5:
            hdr += self.t.recv(5 - len(hdr))
        n = struct.unpack("!I", hdr[1:])[0] - 4
        body = b""
        while len(body) < n:
            body += self.t.recv(n - len(body))
        return hdr[:1], body

    def extended(self, sql):
        """("C", tag) or ("E", {field: value}) of one unnamed statement."""
        self.t.sendall(self.msg(b"P", b"\0" + sql + b"\0\0\0")
                       + self.msg(b"B", b"\0\0" + struct.pack("!HHH", 0, 0, 0))
                       + self.msg(b"E", b"\0" + struct.pack("!I", 0))
                       + self.msg(b"S", b""))
        out = None
        while True:
            kind, b = self.read()
            if kind == b"C" and out is None:
                out = ("C", b.rstrip(b"\0"))
            elif kind == b"E" and out is None:
                fields = {}
                for part in b.split(b"\0"):
                    if part:
                        fields[chr(part[0])] = part[1:].decode()
                out = ("E", fields)
            elif kind == b"Z":
                return out

    def close(self):
        try:
            self.t.sendall(self.msg(b"X", b""))
        except OSError:
            pass
        self.t.close()


if __name__ == "__main__":
    unittest.main()
