#!/usr/bin/python3
"""gen_replay_log: writes a relay-shaped audit log directory for measuring
pgward-replay (docs/pgward-replay.md, PERFORMANCE).

    tests/bench/gen_replay_log.py [--mib N] [--seed S] [--sessions K]
                                  [--segment-size BYTES] [--logd PATH] DIR

DIR must not exist or be empty. The records are what pgward-relay and
pgward-filter write (docs/audit-records.md): session_start, intent, result
and session_end of about K sessions open at once, interleaved, until the
segments hold N MiB (default 1024: about 2.3 million records of about 465
bytes). Every line has the exact layout, hash and prev chain of
docs/audit-log-format.md (strings escaped as jansson writes them), so
`pgward-replay verify` and pgward-logd accept it. The content includes what
the exporters must escape: quotes, backslashes, '|', '=', ']', newlines,
tabs, other control characters, non-ASCII text and emoji, SQL that is not
UTF-8 ({"base64":...}), SQL longer than a syslog message, errors, denials,
extended-protocol parameters and IPv6 clients.

With --logd (e.g. build/bin/pgward-logd), a fresh key is made and
pgward-logd is started on DIR and stopped again: it checks the whole log
and signs a checkpoint (DIR/checkpoints.jsonl), so `verify` passes with
the verifier key it prints (also written to DIR.vkey). Without it there
is no checkpoint, which export does not need.

The same arguments give the same bytes. Put DIR under /tmp, not in the
repository. Standard library only; run with /usr/bin/python3.
"""

import argparse
import base64
import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

SEGMENT_SIZE = 64 << 20
START_US = 1795737600 * 1000000          # 2026-11-27T00:00:00Z

_ESC = re.compile('[\x00-\x1f"\\\\\u007f-\U0010ffff]')
_SHORT = {'"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n',
          '\r': '\\r', '\t': '\\t'}


def _esc1(m):
    c = m.group(0)
    s = _SHORT.get(c)
    if s is not None:
        return s
    o = ord(c)
    if o == 0x7f:
        return c                        # jansson leaves DEL as it is
    if o < 0x10000:
        return "\\u%04X" % o
    o -= 0x10000
    return "\\u%04X\\u%04X" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF))


def jstr(s):
    """A JSON string as jansson writes it (JSON_ENSURE_ASCII)."""
    return '"' + _ESC.sub(_esc1, s) + '"'


def jreal(x):
    """A real as jansson writes it (%.17g, at least one '.' or 'e')."""
    s = "%.17g" % x
    if "." not in s and "e" not in s:
        s += ".0"
    if "e" in s:
        m, e = s.split("e")
        sign = "-" if e.startswith("-") else ""
        s = m + "e" + sign + (e.lstrip("+-").lstrip("0") or "0")
    return s


def jarr(items):
    return "[" + ",".join(items) + "]"


def b64(b):
    return '{"base64":' + jstr(base64.b64encode(b).decode()) + "}"


def ts_of(us):
    t = time.gmtime(us // 1000000)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (
        t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, us % 1000000)


PEOPLE = [
    ("alice", ["analysts"]), ("bob", ["engineers"]), ("carol", ["analysts", "auditors"]),
    ("dave", ["engineers", "oncall"]), ("erin", ["contractors"]), ("frank", ["dba-leads"]),
    ("grace", ["analysts", "engineers"]), ("heidi", ["support"]),
    ("j\u00fcrgen", ["engineers"]), ("\u5c71\u7530", ["analysts"]),
    ("svc-etl", ["etl"]), ("mallory|x=y", ["contractors", "a]b\"c"]),
]
CONNECTIONS = [("shop", ["app_read", "app_write"]), ("billing", ["billing_ro", "billing_rw"]),
               ("warehouse", ["wh_read"])]
TABLES = ["orders", "customers", "invoices", "payments", "line_items", "products",
          "shipments", "accounts", "audit_events", "public.\"Orders\""]
COLUMNS = ["id", "status", "customer_id", "amount", "created_at", "note", "email"]
WORDS = ["paid", "open", "refund", "caf\u00e9", "na\u00efve", "\u65e5\u672c",
         "\U0001F600", "a|b=c", "x]y", "it''s", "back\\slash", "q\"uote", "tab\there",
         "Z\u00fcrich", "\u00c5ngstr\u00f6m", "50%", "<b>", "/etc/passwd"]
REASONS = ["client disconnected", "client disconnected", "client disconnected",
           "token expired", "server closed the connection", "relay shutting down"]
ERRORS = [("22012", "division by zero"),
          ("42P01", "relation \"nosuch\" does not exist"),
          ("23505", "duplicate key value violates unique constraint \"orders_pkey\""),
          ("42703", "column \"em\u00e4il\" does not exist"),
          ("57014", "canceling statement due to statement timeout")]


class Gen:
    def __init__(self, rnd):
        self.r = rnd
        self.sql_pool = [self.sql() for _ in range(4000)]

    def word(self):
        return self.r.choice(WORDS)

    def sql(self):
        """(kind, encoded sql member value, rows, tag)"""
        r = self.r
        t = r.choice(TABLES)
        c = r.choice(COLUMNS)
        k = r.random()
        if k < 0.45:
            n = r.randint(0, 200)
            s = "SELECT %s, %s, %s FROM %s WHERE %s = %d ORDER BY %s LIMIT %d" % (
                r.choice(COLUMNS), r.choice(COLUMNS), c, t, c, r.randint(1, 99999), c, n)
            kind, tag = "select", "SELECT %d" % n
        elif k < 0.60:
            n = r.randint(0, 20)
            s = "UPDATE %s SET %s = '%s', note = '%s' WHERE id BETWEEN %d AND %d" % (
                t, c, self.word(), self.word(), r.randint(1, 1000), r.randint(1000, 2000))
            kind, tag = "update", "UPDATE %d" % n
        elif k < 0.72:
            n = 1
            s = "INSERT INTO %s (customer_id, note, amount) VALUES (%d, '%s', %d.%02d)" % (
                t, r.randint(1, 99999), self.word() + " " + self.word(), r.randint(1, 999),
                r.randint(0, 99))
            kind, tag = "insert", "INSERT 0 1"
        elif k < 0.80:
            n = r.randint(0, 30)
            s = "DELETE FROM %s WHERE id BETWEEN %d AND %d" % (
                t, r.randint(1, 500), r.randint(500, 900))
            kind, tag = "delete", "DELETE %d" % n
        elif k < 0.90:
            n = r.randint(1, 50)
            s = ("WITH recent AS (\n\tSELECT customer_id, sum(amount) AS total\n\tFROM %s\n"
                 "\tWHERE created_at > now() - interval '7 days'\n\tGROUP BY 1\n)\n"
                 "SELECT c.email, r.total FROM recent r JOIN customers c ON c.id = "
                 "r.customer_id -- report \"%s\"\nORDER BY 2 DESC" % (t, self.word()))
            kind, tag = "select", "SELECT %d" % n
        elif k < 0.97:
            n = r.randint(0, 5)
            s = "SELECT * FROM %s WHERE note LIKE '%%%s%%' OR email = '%s@example.com'" % (
                t, self.word(), self.word())
            kind, tag = "select", "SELECT %d" % n
        elif k < 0.98:
            n = r.randint(0, 3000)
            ids = ",".join(str(r.randint(1, 10 ** 6)) for _ in range(r.randint(200, 500)))
            s = "SELECT id, status FROM %s WHERE id IN (%s)" % (t, ids)
            kind, tag = "select", "SELECT %d" % n
        elif k < 0.995:
            n = 0
            s = "SELECT '\x01ctl\x1b[0m' AS \"odd]\", E'\\\\x00' -- %s\r\n" % self.word()
            kind, tag = "select", "SELECT 1"
        else:
            # An SQL_ASCII database: bytes that are not UTF-8.
            raw = ("UPDATE %s SET note = '" % t).encode() + bytes([0xe9, 0xff, 0x80]) + b"' WHERE id = 1"
            return ("update", b64(raw), 1, "UPDATE 1")
        return (kind, jstr(s), n, tag)

    def params(self):
        r = self.r
        out = []
        for _ in range(r.randint(1, 4)):
            k = r.random()
            if k < 0.6:
                out.append(jstr(str(r.randint(1, 99999)) if r.random() < 0.5 else self.word()))
            elif k < 0.7:
                out.append("null")
            elif k < 0.8:
                out.append(b64(bytes([0xff, 0x41, 0xfe])))
            elif k < 0.9:
                out.append('{"binary":"AAAAKg==","type_oid":23}')
            else:
                out.append('{"redacted":true,"bytes":%d}' % r.randint(4, 64))
        return jarr(out)


class Session:
    def __init__(self, g, rnd):
        self.id = "%032x" % rnd.getrandbits(128)
        user, groups = rnd.choice(PEOPLE)
        conn, roles = rnd.choice(CONNECTIONS)
        self.user = jstr(user)
        self.groups = jarr(jstr(x) for x in groups)
        self.conn = jstr(conn)
        self.role = jstr(rnd.choice(roles))
        self.sub = jstr("%08x-%04x-4%03x-8%03x-%012x" % (
            rnd.getrandbits(32), rnd.getrandbits(16), rnd.getrandbits(12),
            rnd.getrandbits(12), rnd.getrandbits(48)))
        if rnd.random() < 0.1:
            self.client = '"[2001:db8::%x]:%d"' % (rnd.randint(1, 0xffff), rnd.randint(1024, 65535))
        else:
            self.client = '"10.%d.%d.%d:%d"' % (rnd.randint(0, 255), rnd.randint(0, 255),
                                                rnd.randint(1, 254), rnd.randint(1024, 65535))
        self.left = int(rnd.expovariate(1 / 60)) + 1
        self.n = 0
        self.pending = 0        # intents without their result yet
        self.ext = rnd.random() < 0.3
        self.deny = rnd.random() < 0.2       # behind pgward-filter
        self.common = ('"session":"%s","user":%s' % (self.id, self.user))


def payloads(g, rnd, nsess):
    """Yields record payloads (the members between the braces)."""
    open_ = []
    while True:
        while len(open_) < nsess:
            s = Session(g, rnd)
            open_.append(s)
            yield (s, '"type":"session_start",%s,"groups":%s,"iss":"https://idp.example.com",'
                   '"sub":%s,"client":%s,"tls":"TLSv1.3","connection":%s,"role":%s,'
                   '"backend_pid":%d,"relay_pid":4242' % (
                       s.common, s.groups, s.sub, s.client, s.conn, s.role,
                       rnd.randint(1000, 99999)), None)
        s = open_[rnd.randrange(len(open_))]
        if s.left == 0 and s.pending > 0:
            yield None          # its results come before its end
            continue
        if s.left == 0:
            open_.remove(s)
            yield (s, '"type":"session_end",%s,"reason":%s,"statements":%d' % (
                s.common, jstr(rnd.choice(REASONS)), s.n), None)
            continue
        s.left -= 1
        s.n += 1
        kind, sql, rows, tag = rnd.choice(g.sql_pool)
        decision, rule = "allow", None
        if s.deny:
            rule = "everything-else"
            k = rnd.random()
            if k < 0.03:
                decision, rule = "deny", "no-unbounded-writes"
            elif k < 0.04:
                decision, rule = "review", "needs-a-second-pair-of-eyes"
        head = '"type":"intent",%s,"groups":%s,"connection":%s,"role":%s,"n":%d,' % (
            s.common, s.groups, s.conn, s.role, s.n)
        tail = ',"rule":%s' % jstr(rule) if rule else ""
        if s.ext and rnd.random() < 0.03:
            body = head + '"protocol":"function","decision":"%s"%s,"function_oid":%d,"nargs":2' % (
                decision, tail, rnd.randint(1000, 20000))
        elif s.ext:
            body = head + ('"protocol":"extended","decision":"%s"%s,"sql":%s,"statement":"S_%d",'
                           '"portal":"","params":%s' % (decision, tail, sql, rnd.randint(1, 9),
                                                        g.params()))
        else:
            body = head + '"protocol":"simple","decision":"%s"%s,"sql":%s' % (decision, tail, sql)
        res = (s, kind, rows, tag, decision)
        s.pending += 1
        yield (s, body, res)


def result_payload(rnd, intent_seq, res):
    s, kind, rows, tag, decision = res
    s.pending -= 1
    dur = rnd.randint(20, 250000) / 1000.0
    head = '"type":"result",%s,"n":%d,"intent":%d' % (s.common, s.n, intent_seq)
    if decision == "deny":
        return head + (',"status":"error","duration_ms":%s,"tags":[],"sqlstate":"42501",'
                       '"message":%s' % (jreal(dur / 100), jstr(
                           "pgward: statement denied by rule \"no-unbounded-writes\": "
                           "UPDATE/DELETE need a WHERE clause")))
    if rnd.random() < 0.02:
        code, msg = rnd.choice(ERRORS)
        return head + ',"status":"error","duration_ms":%s,"tags":[],"sqlstate":"%s","message":%s' % (
            jreal(dur), code, jstr(msg))
    return head + ',"status":"ok","duration_ms":%s,"tags":[%s],"rows":%d' % (
        jreal(dur), jstr(tag), rows)


def write_log(d, mib, seed, nsess, segsize):
    rnd = random.Random(seed)
    g = Gen(rnd)
    limit = mib << 20
    prev = "0" * 64
    seq = 0
    us = START_US
    total = 0
    seg = None
    seg_bytes = 0
    buf = []
    queued = []             # (due seq, result) results waiting to be written
    src = payloads(g, rnd, nsess)

    def emit(body):
        nonlocal prev, seq, us, total, seg, seg_bytes, buf
        seq += 1
        us += rnd.randint(1, 900)
        head = '{"seq":%d,"ts":"%s","prev":"%s",%s' % (seq, ts_of(us), prev, body)
        h = hashlib.sha256((head + "}").encode()).hexdigest()
        line = '%s,"hash":"%s"}\n' % (head, h)
        prev = h
        n = len(line)
        if seg is None or seg_bytes + n > segsize:
            if seg is not None:
                seg.write("".join(buf))
                seg.close()
            seg = open(os.path.join(d, "%020d.jsonl" % seq), "w", encoding="ascii")
            seg_bytes = 0
            buf = []
        buf.append(line)
        seg_bytes += n
        total += n
        if len(buf) >= 4096:
            seg.write("".join(buf))
            buf = []
        return seq

    while total < limit:
        # A result follows its intent after a few records of other sessions.
        if queued and (queued[0][0] <= seq or rnd.random() < 0.5):
            _, iseq, res = queued.pop(0)
            emit(result_payload(rnd, iseq, res))
            continue
        item = next(src)
        if item is None:
            _, iseq, res = queued.pop(0)
            emit(result_payload(rnd, iseq, res))
            continue
        s, body, res = item
        iseq = emit(body)
        if res is not None:
            queued.append((seq + rnd.randint(0, 3), iseq, res))
    for _, iseq, res in queued:
        emit(result_payload(rnd, iseq, res))
    seg.write("".join(buf))
    seg.close()
    return seq, total


def sign(d, logd):
    """pgward-logd checks the log and signs a checkpoint as it starts."""
    tmp = tempfile.mkdtemp(prefix="gen-replay-logd-")
    key = os.path.join(tmp, "signing.key")
    origin = "pgward.bench/audit"
    p = subprocess.run([logd, "keygen", origin, key], stdout=subprocess.PIPE, text=True,
                       check=True)
    vkey = p.stdout.strip()
    conf = os.path.join(tmp, "logd.conf")
    with open(conf, "w") as f:
        f.write("listen-unix %s\ndirectory %s\norigin %s\nsigning-key %s\n" % (
            os.path.join(tmp, "logd.sock"), d, origin, key))
    rfd, wfd = os.pipe()
    proc = subprocess.Popen([logd, "-c", conf, "-d", str(wfd)], pass_fds=(wfd,))
    os.close(wfd)
    with os.fdopen(rfd) as ready:
        ok = ready.readline()
    if not ok:
        proc.wait()
        sys.exit("pgward-logd did not become ready (exit %s)" % proc.returncode)
    proc.send_signal(signal.SIGTERM)
    if proc.wait(timeout=600) != 0:
        sys.exit("pgward-logd exit %d" % proc.returncode)
    with open(d.rstrip("/") + ".vkey", "w") as f:
        f.write(vkey + "\n")
    return vkey


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--mib", type=int, default=1024, help="size of the log (MiB)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sessions", type=int, default=1000, help="sessions open at once")
    ap.add_argument("--segment-size", type=int, default=SEGMENT_SIZE)
    ap.add_argument("--logd", help="pgward-logd binary: sign a checkpoint")
    a = ap.parse_args()
    os.makedirs(a.dir, mode=0o700, exist_ok=True)
    if os.listdir(a.dir):
        sys.exit("%s is not empty" % a.dir)
    t0 = time.monotonic()
    n, total = write_log(a.dir, a.mib, a.seed, a.sessions, a.segment_size)
    print("%s: %d records, %d bytes (%.0f bytes each) in %.1f s" % (
        a.dir, n, total, total / n, time.monotonic() - t0))
    if a.logd:
        print("verifier key:", sign(a.dir, a.logd))


if __name__ == "__main__":
    main()
