"""A raw PostgreSQL v3 client for tests that need exact protocol messages
(pipelines, re-Parse without Describe, binary formats): what libpq and
psycopg2 cannot be made to send.

    w = Wire.connect(port, token, user="app_read", database="shop")
    w.send(parse("", "select 1"), bind(), execute(), sync())
    msgs = w.until_ready()          # [(type, body), ...] up to ReadyForQuery
    rows(msgs)                      # DataRow fields as bytes / None
"""
import socket
import ssl
import struct


def msg(kind, body=b""):
    return kind + struct.pack("!I", len(body) + 4) + body


def cstr(s):
    return (s.encode() if isinstance(s, str) else s) + b"\0"


def parse(name, sql, types=()):
    return msg(b"P", cstr(name) + cstr(sql) + struct.pack("!H", len(types))
               + b"".join(struct.pack("!I", t) for t in types))


def bind(portal="", statement="", params=(), result_formats=()):
    body = cstr(portal) + cstr(statement) + struct.pack("!H", 0)
    body += struct.pack("!H", len(params))
    for p in params:
        if p is None:
            body += struct.pack("!i", -1)
        else:
            p = p.encode() if isinstance(p, str) else p
            body += struct.pack("!i", len(p)) + p
    body += struct.pack("!H", len(result_formats))
    body += b"".join(struct.pack("!h", f) for f in result_formats)
    return msg(b"B", body)


def describe(kind, name=""):
    return msg(b"D", kind.encode() + cstr(name))


def execute(portal="", max_rows=0):
    return msg(b"E", cstr(portal) + struct.pack("!I", max_rows))


def close(kind, name=""):
    return msg(b"C", kind.encode() + cstr(name))


def sync():
    return msg(b"S")


def query(sql):
    return msg(b"Q", cstr(sql))


def fields_of(body):
    n = struct.unpack("!H", body[:2])[0]
    off, out = 2, []
    for _ in range(n):
        ln = struct.unpack("!i", body[off:off + 4])[0]
        off += 4
        out.append(None if ln < 0 else body[off:off + ln])
        off += max(ln, 0)
    return out


def rows(msgs):
    return [fields_of(b) for k, b in msgs if k == b"D"]


def error_fields(body):
    out = {}
    for part in body.split(b"\0"):
        if part:
            out[chr(part[0])] = part[1:].decode(errors="replace")
    return out


def errors(msgs):
    return [error_fields(b) for k, b in msgs if k == b"E"]


class Wire:
    def __init__(self, sock):
        self.t = sock

    @classmethod
    def connect(cls, port, token, user="app_read", database="shop", host="127.0.0.1",
                timeout=30):
        s = socket.create_connection((host, port), timeout=timeout)
        s.sendall(struct.pack("!II", 8, 80877103))
        if s.recv(1) != b"S":
            raise RuntimeError("no TLS")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        w = cls(ctx.wrap_socket(s))
        body = struct.pack("!I", 196608) + cstr("user") + cstr(user) + cstr("database") \
            + cstr(database) + b"\0"
        w.t.sendall(struct.pack("!I", len(body) + 4) + body)
        kind, b = w.read()
        if kind != b"R":
            raise RuntimeError("expected an authentication request, got %r %r" % (kind, b))
        w.t.sendall(msg(b"p", cstr(token)))
        w.until_ready()
        return w

    def close(self):
        try:
            self.t.sendall(msg(b"X"))
        except OSError:
            pass
        self.t.close()

    def send(self, *msgs):
        self.t.sendall(b"".join(msgs))

    def read(self):
        hdr = b""
        while len(hdr) < 5:
            chunk = self.t.recv(5 - len(hdr))
            if not chunk:
                raise EOFError("connection closed")
            hdr += chunk
        n = struct.unpack("!I", hdr[1:])[0] - 4
        body = b""
        while len(body) < n:
            chunk = self.t.recv(n - len(body))
            if not chunk:
                raise EOFError("connection closed")
            body += chunk
        return hdr[:1], body

    def until_ready(self):
        out = []
        while True:
            kind, b = self.read()
            out.append((kind, b))
            if kind == b"Z":
                return out
            if kind == b"E" and error_fields(b).get("S") == "FATAL":
                return out
