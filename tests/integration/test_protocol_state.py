"""Protocol state under wire masking (gateway mode, `mask predicates allow`:
the wire layer alone), with a raw wire client: the sequences where the
relay's idea of a portal, a statement or what the server still owes could
drift from the server's. Each asserts that no raw card number reaches the
client, and that the session stays in step (a following simple query
answers correctly) or ends with a clear error.

The person is bob (column rules only, no content detection), so a row
masked with the wrong shape shows as a raw card number."""

import os
import re
import struct
import unittest

import pgward_env
from pgward_testing import TimedTestCase
from pgward_wire import (Wire, bind, close, cstr, describe, error_fields, errors, execute, msg,
                         parse, query, rows, sync)

POLICY = """
default deny
connect shop app_read  groups engineers,pci-auditor

mask mode gateway
mask predicates allow
mask column public.customers.card_number style partial keep 4 exempt pci-auditor

rule reads
  kind select,show,set,reset,transaction,explain,copy-to,prepare,execute,deallocate,fetch,close,listen,notify
  action allow

rule temp-writes
  groups engineers,pci-auditor
  kind insert,copy-from,ddl
  action allow
"""

suite = None
filt = None
relay = None
CARDS = "select card_number from customers order by id"
NAMES = "select name from customers order by id"


def setUpModule():
    global suite, filt, relay
    suite = pgward_env.Suite(pgbench=False, start_relay=False).start()
    suite.users.update({"bob": ["engineers"], "paula": ["pci-auditor"]})
    filt = pgward_env.Filter(suite.auth, POLICY, logd=suite.logd).start()
    keyfile = os.path.join(filt.dir, "mask.key")
    with open(keyfile, "wb") as f:
        f.write(os.urandom(32).hex().encode())
    os.chmod(keyfile, 0o600)
    relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd, filter=filt,
                             allow=[], extra_conf="mask-key %s" % keyfile).start()


def tearDownModule():
    for d in (relay, filt):
        if d is not None:
            d.stop()
    if suite is not None:
        suite.stop()


_raw = None


def raw_cards():
    global _raw
    if _raw is None:
        out = suite.cluster.psql("select card_number from customers", db="shop",
                                 args=("-At",))
        _raw = [c for c in out.splitlines() if c]
    return _raw


def copy_done():
    return msg(b"c")


def copy_data(data):
    return msg(b"d", data)


def flush():
    return msg(b"H")


class ProtocolStateTest(TimedTestCase):
    test_timeout = 120

    def watchdog_targets(self):
        return [relay, filt, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return relay

    def wire(self, user="bob"):
        w = Wire.connect(relay.port, suite.token(user))
        self.addCleanup(w.close)
        self.assertEqual(errors(w.startup), [])
        return w

    def assertNoRawCard(self, msgs):
        for kind, body in msgs:
            for card in raw_cards():
                self.assertNotIn(card.encode(), body, (kind, body[:200]))
            # Nothing that looks like a whole card either (a masked value keeps 4).
            self.assertIsNone(re.search(rb"\d{13,19}", body), (kind, body[:200]))

    def read_all(self, w, readies):
        """Up to `readies` ReadyForQuery messages, or the end of the session."""
        out = []
        for _ in range(readies):
            try:
                out += w.until_ready()
            except (EOFError, OSError):
                out.append((b"EOF", b""))
                break
            if out and out[-1][0] == b"E" and error_fields(out[-1][1]).get("S") == "FATAL":
                break
        self.assertNoRawCard(out)
        return out

    def assertInStep(self, w, msgs=None):
        """The session answers a simple query correctly, or it ended with a
        clear error (an ERROR or FATAL naming pgward) and nothing raw."""
        if msgs is not None and (any(k == b"EOF" for k, _ in msgs) or any(
                error_fields(b).get("S") == "FATAL" for k, b in msgs if k == b"E")):
            msgs = msgs + self.read_rest(w)
            self.assertNoRawCard(msgs)
            texts = [e.get("M", "") for e in errors(msgs)]
            self.assertTrue(any("pgward" in t for t in texts), msgs)
            return False
        w.send(query("select 41 + 1 as answer"))
        got = self.read_all(w, 1)
        said = [e.get("M", "") for e in errors(msgs or [])]
        if any(m.startswith("pgward: masking could not be applied") for m in said):
            # The relay's masking refusal: the next message gets the FATAL.
            fatal = [e for e in errors(got) if e.get("S") == "FATAL"]
            self.assertTrue(fatal and "pgward" in fatal[0].get("M", ""), got)
            return False
        if any(k == b"EOF" for k, _ in got):
            self.fail("the session ended without a clear error: %r" % (msgs,))
        self.assertEqual(errors(got), [], got)
        self.assertEqual(rows(got), [[b"42"]])
        self.assertEqual([k for k, _ in got], [b"T", b"D", b"C", b"Z"])
        return True

    def read_rest(self, w):
        out = []
        try:
            while True:
                out.append(w.read())
        except (EOFError, OSError):
            pass
        return out

    def assertMasked(self, msgs, count=50):
        got = rows(msgs)
        self.assertEqual(len(got), count, msgs[:6])
        for r in got:
            self.assertTrue(r[0] is None or r[0].startswith(b"*"), r)

    # ---- portals replaced behind the relay's back ----

    def test_sql_close_and_declare_replace_a_described_portal(self):
        """A portal described as `select name`, then closed and declared
        again by SQL (CLOSE, DECLARE) as `select card_number`: its next
        Execute must not be masked with the old shape."""
        w = self.wire()
        w.send(query("begin"))
        self.read_all(w, 1)
        w.send(parse("", NAMES), bind("p"), describe("P", "p"), sync())
        self.assertEqual(errors(self.read_all(w, 1)), [])
        w.send(query("close p"))
        self.assertEqual(errors(self.read_all(w, 1)), [])
        w.send(query("declare p cursor for " + CARDS))
        self.assertEqual(errors(self.read_all(w, 1)), [])
        w.send(execute("p"), sync())
        msgs = self.read_all(w, 1)
        if errors(msgs) == []:
            self.assertMasked(msgs)
        if self.assertInStep(w, msgs):
            w.send(query("rollback"))
            self.read_all(w, 1)

    def test_sql_close_and_declare_between_executes(self):
        """The same, for a portal already started (a continuation Execute)."""
        w = self.wire()
        w.send(query("begin"))
        self.read_all(w, 1)
        w.send(parse("", NAMES), bind("p"), describe("P", "p"), execute("p", 5), sync())
        self.assertEqual(len(rows(self.read_all(w, 1))), 5)
        w.send(query("close p; declare p cursor for " + CARDS))
        self.assertEqual(errors(self.read_all(w, 1)), [])
        w.send(execute("p"), sync())
        msgs = self.read_all(w, 1)
        if errors(msgs) == []:
            self.assertMasked(msgs)
        self.assertInStep(w, msgs)

    def test_sql_execute_of_a_statement_replaced_after_bind(self):
        """A portal of `EXECUTE s` takes its columns from s at Bind; s is
        deallocated and prepared again as `select card_number` before the
        Execute runs it."""
        w = self.wire()
        w.send(query("begin"))
        self.read_all(w, 1)
        w.send(query("prepare s as " + NAMES))
        self.assertEqual(errors(self.read_all(w, 1)), [])
        w.send(parse("x", "execute s"), bind("p", "x"), describe("P", "p"), sync())
        self.assertEqual(errors(self.read_all(w, 1)), [])
        w.send(query("deallocate s"))
        self.read_all(w, 1)
        w.send(query("prepare s as " + CARDS))
        self.read_all(w, 1)
        w.send(describe("P", "p"), execute("p"), sync())
        msgs = self.read_all(w, 1)
        if errors(msgs) == []:
            self.assertMasked(msgs)
        if errors(msgs):
            self.assertIn("FETCH or EXECUTE portal must run before", errors(msgs)[0]["M"])
        w.send(query("rollback"))
        self.read_all(w, 1)
        self.assertInStep(w, msgs)

    def test_sql_fetch_of_a_cursor_replaced_after_bind(self):
        """A portal of `FETCH ALL FROM c` takes its columns from c at Bind."""
        w = self.wire()
        w.send(query("begin"))
        self.read_all(w, 1)
        w.send(query("declare c cursor for " + NAMES))
        self.read_all(w, 1)
        w.send(parse("f", "fetch all from c"), bind("p", "f"), describe("P", "p"), sync())
        self.assertEqual(errors(self.read_all(w, 1)), [])
        w.send(query("close c; declare c cursor for " + CARDS))
        self.read_all(w, 1)
        w.send(execute("p"), sync())
        msgs = self.read_all(w, 1)
        if errors(msgs) == []:
            self.assertMasked(msgs)
        if errors(msgs):
            self.assertIn("FETCH or EXECUTE portal must run before", errors(msgs)[0]["M"])
        w.send(query("rollback"))
        self.read_all(w, 1)
        self.assertInStep(w, msgs)

    def test_fetch_through_the_extended_protocol_still_works(self):
        """psycopg 3's server-side cursors: DECLARE, then Parse/Bind/
        Describe/Execute of FETCH in one go."""
        w = self.wire()
        w.send(query("begin"))
        self.read_all(w, 1)
        w.send(parse("", "declare c cursor for " + CARDS), bind(), execute(), sync())
        self.assertEqual(errors(self.read_all(w, 1)), [])
        w.send(parse("", "fetch 20 from c"), bind(), describe("P"), execute(), sync())
        msgs = self.read_all(w, 1)
        self.assertEqual(errors(msgs), [])
        self.assertMasked(msgs, 20)
        self.assertInStep(w)

    # ---- what the server owes ----

    def test_query_after_an_error_in_an_unsynced_batch(self):
        """The server discards a Query sent after an extended-protocol error
        until the Sync: it gets no ReadyForQuery of its own."""
        w = self.wire()
        w.send(parse("", "select nonsense from nowhere"), bind(), execute(),
               query(CARDS), sync())
        msgs = self.read_all(w, 1)
        self.assertEqual(len(errors(msgs)), 1)
        self.assertEqual(rows(msgs), [])
        self.assertInStep(w, msgs)
        w.send(parse("", CARDS), bind(), execute(), sync())
        self.assertMasked(self.read_all(w, 1))

    def test_refused_bind_then_query_before_sync(self):
        """A refused message (its error recognised by the marker) is an
        error like any other: the server skips to the Sync."""
        w = self.wire()
        w.send(bind("", "never_prepared"), execute(), query(CARDS), sync())
        msgs = self.read_all(w, 1)
        self.assertEqual(len(errors(msgs)), 1)
        self.assertIn("not prepared through pgward", errors(msgs)[0]["M"])
        self.assertInStep(w, msgs)

    def test_query_inside_an_unsynced_batch(self):
        w = self.wire()
        w.send(parse("", NAMES), bind(), execute(), query(CARDS), parse("", CARDS), bind(),
               execute(), sync())
        msgs = self.read_all(w, 2)
        self.assertEqual(errors(msgs), [])
        self.assertEqual(len(rows(msgs)), 150)
        self.assertInStep(w)

    def test_copy_from_stdin_through_the_extended_protocol(self):
        """libpq's PQexecParams("COPY ... FROM STDIN") sends P/B/D/E/S, then
        the data, CopyDone and a second Sync: the server ignores the Sync
        it reads during COPY, so one ReadyForQuery answers two Syncs."""
        w = self.wire()
        w.send(query("create temp table t(x text)"))
        self.assertEqual(errors(self.read_all(w, 1)), [])
        w.send(parse("", "copy t from stdin"), bind(), describe("P"), execute(), sync())
        kind, _ = w.read()
        while kind not in (b"G", b"E"):
            kind, _ = w.read()
        self.assertEqual(kind, b"G")
        w.send(copy_data(b"a\n"), copy_done(), sync())
        msgs = self.read_all(w, 1)
        self.assertEqual(errors(msgs), [])
        self.assertInStep(w, msgs)
        w.send(parse("", CARDS), bind(), execute(), sync())
        self.assertMasked(self.read_all(w, 1))

    def test_describe_statement_parameter_description_and_nodata(self):
        w = self.wire()
        w.send(parse("s", "set application_name = 'x'"), describe("S", "s"), bind("", "s"),
               execute(), parse("", CARDS), describe("S"), bind(), execute(), sync())
        msgs = self.read_all(w, 1)
        self.assertEqual(errors(msgs), [])
        kinds = [k for k, _ in msgs]
        self.assertIn(b"n", kinds)
        self.assertMasked(msgs)
        self.assertInStep(w)

    def test_error_at_an_injected_describe(self):
        """The relay's own Describe of a portal the server does not have
        (its Bind failed): the error reaches the client, the rest of the
        batch is skipped, nothing is swallowed twice."""
        w = self.wire()
        w.send(parse("", "select $1::int"), bind("", "", ["not a number"]), execute(),
               sync())
        msgs = self.read_all(w, 1)
        self.assertEqual(len(errors(msgs)), 1)
        self.assertInStep(w, msgs)

    def test_close_of_a_portal_whose_execute_is_owed(self):
        w = self.wire()
        w.send(parse("", CARDS), bind("p"), execute("p"), close("P", "p"), bind("p"),
               describe("P", "p"), execute("p"), sync())
        msgs = self.read_all(w, 1)
        self.assertEqual(errors(msgs), [])
        self.assertMasked(msgs, 100)
        self.assertInStep(w)

    def test_suspended_then_reexecuted_across_syncs(self):
        w = self.wire()
        w.send(query("begin"))
        self.read_all(w, 1)
        w.send(parse("", CARDS), bind("p"), execute("p", 7), sync())
        first = self.read_all(w, 1)
        self.assertIn(b"s", [k for k, _ in first])
        w.send(execute("p", 7), execute("p"), sync())
        msgs = first + self.read_all(w, 1)
        self.assertEqual(errors(msgs), [])
        self.assertMasked(msgs)
        self.assertInStep(w)

    def test_empty_query_and_notices_everywhere(self):
        w = self.wire()
        w.send(parse("", ""), bind(), execute(), parse("", "do $$ begin raise notice 'n'; "
               "end $$"), bind(), execute(), parse("", CARDS), bind(), execute(), sync())
        msgs = self.read_all(w, 1)
        kinds = [k for k, _ in msgs]
        self.assertIn(b"I", kinds)
        if errors(msgs) == []:
            self.assertMasked(msgs)
        self.assertInStep(w, msgs)

    def test_function_call_result_is_not_sent_unmasked(self):
        """A fast-path call of a function that reads the masked column
        through dynamic SQL (query_to_xml): FunctionCallResponse carries
        the value with no row shape."""
        w = self.wire()
        w.send(query("select 'pg_catalog.query_to_xml(text,boolean,boolean,text)'"
                     "::regprocedure::oid"))
        oid = int(rows(self.read_all(w, 1))[0][0])
        args = [CARDS.encode(), b"t", b"f", b""]
        body = struct.pack("!IH", oid, 0) + struct.pack("!H", len(args))
        for a in args:
            body += struct.pack("!i", len(a)) + a
        body += struct.pack("!H", 0)
        w.send(msg(b"F", body))
        msgs = self.read_all(w, 1)
        self.assertInStep(w, msgs)

    def test_terminate_in_the_middle_of_a_pipeline(self):
        w = self.wire()
        w.send(parse("", CARDS), bind(), execute(), msg(b"X"))
        out = self.read_rest(w)
        self.assertNoRawCard(out)


if __name__ == "__main__":
    unittest.main()
