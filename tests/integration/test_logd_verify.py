"""pgward-replay verify against logs written by a real pgward-logd, and
every tamper case of REFERENCES.md "Tamper evidence": each must fail with
the right first bad sequence number. Records go in over logd's socket;
logd is stopped before the files are touched."""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile

import pgward_env
from pgward_testing import TimedTestCase

N = 30          # records in the standard log
K = 17          # the record the tamper cases touch
LINE_RE = re.compile(rb'^\{"seq":(\d+),"ts":"([^"]+)","prev":"([0-9a-f]{64})",(.*),"hash":"[0-9a-f]{64}"\}$')
GENESIS = "0" * 64


def replay_exe():
    return os.path.join(pgward_env.build_dir(), "bin", "pgward-replay")


def make_line(seq, ts, prev, members):
    """A record line (no newline) as docs/audit-log-format.md defines it."""
    body = b'{"seq":%d,"ts":"%s","prev":"%s",%s' % (seq, ts, prev.encode(), members)
    h = hashlib.sha256(body + b"}").hexdigest()
    return body + b',"hash":"%s"}' % h.encode()


def split_line(line):
    m = LINE_RE.match(line)
    assert m, line
    return int(m.group(1)), m.group(2), m.group(3).decode(), m.group(4)


def segments(d):
    return sorted(n for n in os.listdir(d) if re.fullmatch(r"\d{20}\.jsonl", n))


def read_lines(d):
    """[(segment, line bytes without newline)] across the segments."""
    out = []
    for n in segments(d):
        with open(os.path.join(d, n), "rb") as f:
            for line in f.read().split(b"\n")[:-1]:
                out.append((n, line))
    return out


def write_segments(d, lines, keep_layout=True):
    """Writes record lines back. keep_layout: each line goes back to the
    segment it came from (names unchanged); else everything goes into one
    segment named after the first seq (1)."""
    for n in segments(d):
        os.unlink(os.path.join(d, n))
    if not keep_layout:
        lines = [("%020d.jsonl" % 1, l) for _, l in lines]
    for n, l in lines:
        with open(os.path.join(d, n), "ab") as f:
            f.write(l + b"\n")


def rechain(lines, start_seq=1, prev=GENESIS):
    """Renumbers and re-hashes record lines from start_seq on."""
    out = []
    for i, (n, l) in enumerate(lines):
        _, ts, _, members = split_line(l)
        nl = make_line(start_seq + i, ts, prev, members)
        prev = split_line_hash(nl)
        out.append((n, nl))
    return out


def split_line_hash(line):
    return json.loads(line)["hash"]


def checkpoint_lines(d):
    with open(os.path.join(d, "checkpoints.jsonl"), "rb") as f:
        return [json.loads(l) for l in f.read().split(b"\n")[:-1]]


def write_checkpoints(d, cks):
    with open(os.path.join(d, "checkpoints.jsonl"), "w") as f:
        for c in cks:
            f.write(json.dumps(c, separators=(",", ":")) + "\n")
    if cks:
        with open(os.path.join(d, "checkpoint"), "w") as f:
            f.write(cks[-1]["note"])
    elif os.path.exists(os.path.join(d, "checkpoint")):
        os.unlink(os.path.join(d, "checkpoint"))


class Client:
    """pgward-logd's IPC over its Unix socket (newline-delimited JSON)."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(20)
        self.s.connect(path)
        self.buf = b""

    def call(self, msg):
        self.s.sendall(json.dumps(msg).encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise AssertionError("logd closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def append(self, record):
        r = self.call({"v": 1, "op": "append", "record": record})
        assert r.get("ok") is True, r
        return r["seq"]

    def close(self):
        self.s.close()


class VerifyTest(TimedTestCase):
    test_timeout = 120

    def watchdog_targets(self):
        return list(self.daemons)

    def setUp(self):
        super().setUp()
        self.daemons = []
        self.tmp = tempfile.mkdtemp(prefix="pgward-verify-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def start_logd(self, **kw):
        kw.setdefault("segment_size", 4096)
        kw.setdefault("extra_conf", "max-record-bytes 1024\ncheckpoint-every-commit yes")
        logd = pgward_env.Logd(**kw)
        self.daemons.append(logd)
        self.addCleanup(logd.stop)
        return logd.start()

    def append(self, logd, n, first=1):
        """n records, one at a time: with checkpoint-every-commit each
        gets its own checkpoint."""
        c = Client(logd.socket_path)
        try:
            seqs = [c.append({"type": "test", "i": first + i,
                              "sql": "select %d from orders" % (first + i)})
                    for i in range(n)]
        finally:
            c.close()
        return seqs

    def standard_log(self, n=N):
        logd = self.start_logd()
        self.assertEqual(self.append(logd, n), list(range(1, n + 1)))
        logd.terminate()
        return logd

    def verify(self, logd_or_dir, vkey_path=None, saved=None, json_out=True, extra=()):
        d = logd_or_dir if isinstance(logd_or_dir, str) else logd_or_dir.log_dir
        vkey_path = vkey_path or logd_or_dir.vkey_path
        args = [replay_exe(), "verify", "-k", vkey_path]
        if saved:
            args += ["-c", saved]
        if json_out:
            args.append("--json")
        args += list(extra) + [d]
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=60)
        self.assertNotIn("Sanitizer", p.stderr)
        self.assertNotIn("runtime error", p.stderr)
        if json_out and p.returncode in (0, 1):
            return p.returncode, json.loads(p.stdout), p
        return p.returncode, None, p

    def save(self, path, name):
        dst = os.path.join(self.tmp, name)
        shutil.copyfile(path, dst)
        return dst

    def assert_first_bad(self, res, seq, seq_max=None, reason=None):
        fb = res["first_bad"]
        self.assertIsNotNone(fb, res)
        self.assertEqual(fb["seq"], seq, res)
        self.assertEqual(fb["seq_max"], seq if seq_max is None else seq_max, res)
        if reason:
            self.assertIn(reason, fb["reason"], res)

    # --- the untampered log -----------------------------------------------

    def test_untampered_log_verifies_with_full_coverage(self):
        logd = self.standard_log()
        self.assertGreater(len(segments(logd.log_dir)), 1)   # crosses segments
        rc, res, p = self.verify(logd)
        self.assertEqual(rc, 0, p.stdout + p.stderr)
        self.assertTrue(res["ok"])
        self.assertEqual(res["records"], N)
        self.assertEqual(res["covered"], N)
        self.assertEqual(res["not_yet_covered"], 0)
        self.assertIsNone(res["first_bad"])
        self.assertEqual(res["problems"], [])
        self.assertGreaterEqual(res["checkpoints"]["valid"], N)
        self.assertEqual(res["checkpoints"]["invalid"], 0)
        rc, _, p = self.verify(logd, json_out=False)
        self.assertEqual(rc, 0)
        self.assertIn("records checked: %d" % N, p.stdout)
        self.assertIn("covered: %d of %d records" % (N, N), p.stdout)
        self.assertIn("result: OK", p.stdout)

    def test_saved_older_checkpoint_is_extended(self):
        logd = self.start_logd()
        self.append(logd, 10)
        logd.terminate()
        saved = self.save(os.path.join(logd.log_dir, "checkpoint"), "ck10")
        logd.start()
        self.append(logd, 5, first=11)
        logd.terminate()
        rc, res, p = self.verify(logd, saved=saved)
        self.assertEqual(rc, 0, p.stdout)
        self.assertTrue(res["saved_checkpoint"]["ok"])
        self.assertEqual(res["saved_checkpoint"]["size"], 10)
        self.assertEqual(res["covered"], 15)

    def test_records_after_the_last_checkpoint_are_not_yet_covered(self):
        logd = self.standard_log()
        lines = read_lines(logd.log_dir)
        prev = split_line_hash(lines[-1][1])
        seg, last = lines[-1]
        _, ts, _, members = split_line(last)
        extra = []
        for i in range(3):
            l = make_line(N + 1 + i, ts, prev, members)
            prev = split_line_hash(l)
            extra.append((seg, l))
        write_segments(logd.log_dir, lines + extra)
        rc, res, p = self.verify(logd)
        self.assertEqual(rc, 0, p.stdout)    # a checkpoint covers a prefix
        self.assertEqual(res["records"], N + 3)
        self.assertEqual(res["covered"], N)
        self.assertEqual(res["not_yet_covered"], 3)
        rc, _, p = self.verify(logd, json_out=False)
        self.assertIn("covered: %d of %d records" % (N, N + 3), p.stdout)
        self.assertIn("not yet covered: records %d..%d" % (N + 1, N + 3), p.stdout)

    def test_empty_log_fails(self):
        logd = self.start_logd()
        logd.terminate()
        rc, res, p = self.verify(logd)
        self.assertEqual(rc, 1, p.stdout)
        self.assertFalse(res["ok"])
        self.assertEqual(res["records"], 0)
        self.assertTrue(any("nothing is proven" in x for x in res["problems"]), res)

    def test_log_without_checkpoint_fails(self):
        logd = self.standard_log()
        write_checkpoints(logd.log_dir, [])
        rc, res, p = self.verify(logd)
        self.assertEqual(rc, 1)
        self.assertEqual(res["covered"], 0)
        self.assertIn("no valid signed checkpoint: nothing is proven", res["problems"])
        self.assertIn("no valid signed checkpoint", p.stderr)

    # --- tampering with records ---------------------------------------------

    def test_flipped_byte(self):
        logd = self.standard_log()
        lines = read_lines(logd.log_dir)
        seg, l = lines[K - 1]
        i = l.index(b"select ") + 7
        lines[K - 1] = (seg, l[:i] + bytes([l[i] ^ 0x01]) + l[i + 1:])
        write_segments(logd.log_dir, lines)
        rc, res, p = self.verify(logd)
        self.assertEqual(rc, 1)
        self.assert_first_bad(res, K, reason="hash does not match")
        self.assertEqual(res["first_bad"]["file"], os.path.join(logd.log_dir, seg))
        self.assertEqual(res["covered"], K - 1)
        rc, _, p = self.verify(logd, json_out=False)
        self.assertRegex(p.stdout, r"first bad record: seq %d \(%s line \d+\): hash"
                         % (K, re.escape(os.path.join(logd.log_dir, seg))))

    def test_deleted_record(self):
        logd = self.standard_log()
        lines = read_lines(logd.log_dir)
        del lines[K - 1]
        write_segments(logd.log_dir, lines)
        rc, res, _ = self.verify(logd)
        self.assertEqual(rc, 1)
        self.assert_first_bad(res, K, reason="seq %d where %d was expected" % (K + 1, K))

    def test_deleted_and_rechained(self):
        logd = self.standard_log()
        lines = read_lines(logd.log_dir)
        del lines[K - 1]
        prev = split_line_hash(lines[K - 2][1])
        lines = lines[:K - 1] + rechain(lines[K - 1:], K, prev)
        write_segments(logd.log_dir, lines, keep_layout=False)
        rc, res, p = self.verify(logd)
        self.assertEqual(rc, 1, p.stdout)
        # The chain is whole again: only the signed roots see it.
        self.assertIsNone(res["first_bad"].get("file"))
        self.assert_first_bad(res, K, reason="do not match")
        self.assertEqual(res["covered"], K - 1)

    def test_reordered_records(self):
        logd = self.standard_log()
        lines = read_lines(logd.log_dir)
        lines[K - 1], lines[K] = (lines[K - 1][0], lines[K][1]), (lines[K][0], lines[K - 1][1])
        write_segments(logd.log_dir, lines)
        rc, res, _ = self.verify(logd)
        self.assertEqual(rc, 1)
        self.assert_first_bad(res, K, reason="seq %d where %d was expected" % (K + 1, K))

    def test_deleted_segment(self):
        logd = self.standard_log()
        segs = segments(logd.log_dir)
        self.assertGreaterEqual(len(segs), 2)
        os.unlink(os.path.join(logd.log_dir, segs[0]))
        rc, res, _ = self.verify(logd)
        self.assertEqual(rc, 1)
        self.assert_first_bad(res, 1, reason="should start with record 1")

    # --- truncation and rollback ------------------------------------------

    def truncate(self, logd, keep):
        """Cuts the log to `keep` records and, as a careful attacker would,
        drops the checkpoints beyond them."""
        lines = read_lines(logd.log_dir)[:keep]
        write_segments(logd.log_dir, lines)
        cks = [c for c in checkpoint_lines(logd.log_dir) if c["size"] <= keep]
        write_checkpoints(logd.log_dir, cks)

    def test_truncated_tail_against_saved_checkpoint(self):
        logd = self.standard_log()
        saved = self.save(os.path.join(logd.log_dir, "checkpoint"), "newest")
        self.truncate(logd, K - 1)
        # The directory alone cannot tell (journald's lesson): the saved copy can.
        rc, res, _ = self.verify(logd)
        self.assertEqual(rc, 0)
        self.assertEqual(res["covered"], K - 1)
        rc, res, p = self.verify(logd, saved=saved)
        self.assertEqual(rc, 1)
        self.assertFalse(res["saved_checkpoint"]["ok"])
        self.assertIn("log is shorter than the saved checkpoint: truncated or rolled back",
                      res["saved_checkpoint"]["error"])
        self.assert_first_bad(res, K)
        self.assertIn("truncated or rolled back", p.stderr)

    def test_truncated_tail_with_checkpoints_left(self):
        logd = self.standard_log()
        lines = read_lines(logd.log_dir)[:K - 1]
        write_segments(logd.log_dir, lines)
        rc, res, _ = self.verify(logd)
        self.assertEqual(rc, 1)
        self.assert_first_bad(res, K, reason="missing")
        self.assertTrue(any("truncated or rolled back" in x for x in res["problems"]))

    def forge_tail(self, logd, keep, n):
        """Truncates to keep records and appends n forged, well-chained ones."""
        lines = read_lines(logd.log_dir)
        seg, tmpl = lines[keep - 1]
        _, ts, _, members = split_line(tmpl)
        prev = split_line_hash(tmpl)
        forged = []
        for i in range(n):
            l = make_line(keep + 1 + i, ts, prev, members.replace(b"select", b"delete"))
            prev = split_line_hash(l)
            forged.append((seg, l))
        write_segments(logd.log_dir, lines[:keep] + forged, keep_layout=False)

    def test_truncated_and_appended(self):
        logd = self.standard_log()
        saved = self.save(os.path.join(logd.log_dir, "checkpoint"), "newest")
        self.forge_tail(logd, K - 1, 20)
        # With the directory's checkpoints left in place:
        rc, res, _ = self.verify(logd)
        self.assertEqual(rc, 1)
        self.assert_first_bad(res, K)
        # With them removed, only the saved checkpoint sees it:
        cks = [c for c in checkpoint_lines(logd.log_dir) if c["size"] <= K - 1]
        write_checkpoints(logd.log_dir, cks)
        rc, res, _ = self.verify(logd)
        self.assertEqual(rc, 0)
        self.assertEqual(res["not_yet_covered"], 20)
        rc, res, p = self.verify(logd, saved=saved)
        self.assertEqual(rc, 1)
        self.assertIn("log does not extend the saved checkpoint at size %d: rewritten or "
                      "rolled back" % N, res["saved_checkpoint"]["error"])
        self.assert_first_bad(res, K, N)

    def test_truncated_then_logd_restarted(self):
        # An insider cuts the log and has the real logd carry on: every
        # checkpoint in the directory is genuine; the saved one is not
        # part of this history, so the key signed two logs (a fork).
        logd = self.standard_log()
        saved = self.save(os.path.join(logd.log_dir, "checkpoint"), "newest")
        self.truncate(logd, K - 1)
        logd.start()
        self.append(logd, 20, first=100)
        logd.terminate()
        rc, res, _ = self.verify(logd)
        self.assertEqual(rc, 0)
        rc, res, p = self.verify(logd, saved=saved)
        self.assertEqual(rc, 1, p.stdout)
        self.assertIn("does not extend the saved checkpoint at size %d" % N,
                      res["saved_checkpoint"]["error"])
        fb = res["first_bad"]
        self.assertLessEqual(fb["seq"], K)
        self.assertGreaterEqual(fb["seq_max"], K)
        self.assertIn("fork", fb["reason"])

    def test_rollback_to_older_genuine_copy(self):
        logd = self.start_logd()
        self.append(logd, 20)
        logd.terminate()
        old = os.path.join(self.tmp, "old")
        shutil.copytree(logd.log_dir, old, symlinks=True)
        logd.start()
        self.append(logd, 10, first=21)
        logd.terminate()
        newest = self.save(os.path.join(logd.log_dir, "checkpoint"), "newest")
        shutil.rmtree(logd.log_dir)
        shutil.copytree(old, logd.log_dir, symlinks=True)
        rc, res, _ = self.verify(logd)
        self.assertEqual(rc, 0)          # a genuine, older log
        rc, res, p = self.verify(logd, saved=newest)
        self.assertEqual(rc, 1)
        self.assertIn("log is shorter than the saved checkpoint", res["saved_checkpoint"]["error"])
        self.assert_first_bad(res, 21)

    def test_whole_log_replaced_by_rechained_forgery(self):
        logd = self.standard_log()
        lines = read_lines(logd.log_dir)
        seg, l = lines[0]
        lines[0] = (seg, l.replace(b"select 1 ", b"select 9 "))
        forged = rechain(lines)
        write_segments(logd.log_dir, forged, keep_layout=False)
        # (a) the genuine checkpoints left in place: no root matches
        rc, res, p = self.verify(logd)
        self.assertEqual(rc, 1)
        self.assert_first_bad(res, 1)
        self.assertEqual(res["covered"], 0)
        self.assertIn("no valid signed checkpoint: nothing is proven", res["problems"])
        # (b) checkpoints signed by the forger's own key: none is ours
        shutil.rmtree(os.path.join(logd.log_dir, "torn"), ignore_errors=True)
        write_checkpoints(logd.log_dir, [])
        os.unlink(os.path.join(logd.log_dir, "checkpoints.jsonl"))
        forger = self.start_logd(log_dir=logd.log_dir)
        forger.terminate()
        self.assertNotEqual(forger.vkey, logd.vkey)
        self.assertTrue(checkpoint_lines(logd.log_dir))
        rc, res, p = self.verify(logd)
        self.assertEqual(rc, 1)
        self.assertEqual(res["checkpoints"]["valid"], 0)
        self.assertTrue(all("no signature by key" in x for x in res["problems"][1:]), res)
        self.assertIn("no valid signed checkpoint: nothing is proven", res["problems"])
        # ... which the forger's key of course verifies
        rc, res, _ = self.verify(logd, vkey_path=forger.vkey_path)
        self.assertEqual(rc, 0)

    # --- tampering with checkpoints -----------------------------------------

    def bad_signature(self, note):
        body, sig = note.rsplit("\n\n", 1)
        # "— name base64": flip a character of the signature itself
        head, b64 = sig.rstrip("\n").rsplit(" ", 1)
        i = 20
        b64 = b64[:i] + ("A" if b64[i] != "A" else "B") + b64[i + 1:]
        return body + "\n\n" + head + " " + b64 + "\n"

    def test_checkpoint_with_bad_signature(self):
        logd = self.standard_log()
        cks = checkpoint_lines(logd.log_dir)
        idx = next(i for i, c in enumerate(cks) if c["size"] == 5)
        cks[idx]["note"] = self.bad_signature(cks[idx]["note"])
        write_checkpoints(logd.log_dir, cks)
        rc, res, p = self.verify(logd)
        self.assertEqual(rc, 1)
        self.assertEqual(res["checkpoints"]["invalid"], 1)
        self.assertTrue(any("line %d" % (idx + 1) in x and "bad signature" in x
                            for x in res["problems"]), res)
        self.assertIsNone(res["first_bad"])      # the records are fine
        self.assertEqual(res["covered"], N)
        # the same note as a saved checkpoint
        bad = os.path.join(self.tmp, "bad")
        with open(bad, "w") as f:
            f.write(self.bad_signature(cks[-1]["note"]))
        rc, res, _ = self.verify(logd, saved=bad)
        self.assertEqual(rc, 1)
        self.assertIn("bad signature", res["saved_checkpoint"]["error"])
        # and as the latest-checkpoint file
        with open(os.path.join(logd.log_dir, "checkpoint"), "w") as f:
            f.write(self.bad_signature(cks[-1]["note"]))
        rc, res, _ = self.verify(logd)
        self.assertTrue(any(x.startswith("latest checkpoint file") and "bad signature" in x
                            for x in res["problems"]), res)

    def test_checkpoint_signed_by_unknown_key(self):
        logd = self.standard_log()
        # Another key (same name: the log's origin) signs one more
        # checkpoint on a copy of the log.
        copy = os.path.join(self.tmp, "copy")
        shutil.copytree(logd.log_dir, copy, symlinks=True)
        other = self.start_logd(log_dir=copy)
        self.append(other, 1, first=N + 1)
        other.terminate()
        self.assertNotEqual(other.vkey, logd.vkey)
        rc, res, p = self.verify(copy, vkey_path=logd.vkey_path)
        self.assertEqual(rc, 1)
        self.assertTrue(any("no signature by key" in x and "different key" in x
                            for x in res["problems"]), res)
        self.assertEqual(res["covered"], N)
        self.assertEqual(res["records"], N + 1)
        # its note as a saved checkpoint
        rc, res, _ = self.verify(logd, saved=os.path.join(copy, "checkpoint"))
        self.assertEqual(rc, 1)
        self.assertIn("no signature by key", res["saved_checkpoint"]["error"])
        # a key with another name too (pgward-logd keygen)
        p = subprocess.run([other.exe, "keygen", "someone.else/log",
                            os.path.join(self.tmp, "x.key")],
                           stdout=subprocess.PIPE, text=True, check=True)
        vk = os.path.join(self.tmp, "x.vkey")
        with open(vk, "w") as f:
            f.write(p.stdout)
        rc, res, _ = self.verify(logd, vkey_path=vk)
        self.assertEqual(rc, 1)
        self.assertEqual(res["checkpoints"]["valid"], 0)

    # --- usage --------------------------------------------------------------

    def test_usage(self):
        logd = self.standard_log(3)
        p = subprocess.run([replay_exe(), "verify", logd.log_dir], stderr=subprocess.PIPE,
                           text=True)
        self.assertEqual(p.returncode, 100)
        self.assertIn("pgward-replay: error: verify: -k", p.stderr)
        junk = os.path.join(self.tmp, "junk")
        with open(junk, "w") as f:
            f.write("not a key\n")
        p = subprocess.run([replay_exe(), "verify", "-k", junk, logd.log_dir],
                           stderr=subprocess.PIPE, text=True)
        self.assertEqual(p.returncode, 100)
        self.assertRegex(p.stderr, r"^pgward-replay: fatal: verifier key")
        p = subprocess.run([replay_exe(), "verify", "-k", logd.vkey_path,
                            os.path.join(self.tmp, "nope")], stderr=subprocess.PIPE, text=True)
        self.assertEqual(p.returncode, 100)
        p = subprocess.run([replay_exe(), "verify", "-k", logd.vkey_path, "-c",
                            os.path.join(self.tmp, "nope"), logd.log_dir],
                           stderr=subprocess.PIPE, text=True)
        self.assertEqual(p.returncode, 100)
        for args in (["-h"], ["verify", "-h"], ["-V"]):
            p = subprocess.run([replay_exe(), *args], stdout=subprocess.PIPE, text=True)
            self.assertEqual(p.returncode, 0)
        p = subprocess.run([replay_exe(), "frobnicate"], stderr=subprocess.PIPE, text=True)
        self.assertEqual(p.returncode, 100)
