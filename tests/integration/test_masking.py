"""Masking on the wire in the relay (gateway mode, predicates allowed: the
second layer on its own), against a real server, as a masked person (alice:
analysts, column rules and content detection on every text value), a
person with column rules only (bob: engineers) and an exempt one (paula:
pci-auditor). Each path either masks or refuses; raw card numbers and
emails never reach a masked client."""

import os
import re
import socket
import ssl
import struct
import subprocess
import tempfile
import unittest

import psycopg2

import pgward_env
from pgward_testing import TimedTestCase
from pgward_wire import Wire, bind, close, describe, errors, execute, parse, query, rows, sync

POLICY = """
default deny
connect shop app_read  groups analysts,pci-auditor,engineers
connect shop app_write groups engineers

# The wire layer alone (the second layer), as for a database where nothing
# can be provisioned; database-enforced masking: test_masking_database.py.
mask mode gateway
mask predicates allow
mask column public.customers.card_number style partial keep 4 exempt pci-auditor
mask column public.customers.email style email-domain exempt pci-auditor
mask column public.customers.name style token exempt pci-auditor
mask column public.made_later.secret style redact
mask column public.tagged.cards style partial keep 4 exempt pci-auditor
mask detect all-text detectors card,email,iban,ssn style redact groups analysts

rule reads
  kind select,show,set,reset,transaction,explain,copy-to,prepare,execute,deallocate,fetch,close,listen,notify
  action allow

rule writes
  groups engineers
  kind insert,update,delete,ddl
  action allow
"""

suite = None
filt = None
relay = None
CARD = re.compile(r"\\b(?:\\d[ -]?){13,19}\\b")


def setUpModule():
    global suite, filt, relay
    suite = pgward_env.Suite(pgbench=False, start_relay=False).start()
    suite.users.update({"alice": ["analysts"], "bob": ["engineers"], "paula": ["pci-auditor"]})
    filt = pgward_env.Filter(suite.auth, POLICY, logd=suite.logd).start()
    keyfile = os.path.join(filt.dir, "mask.key")
    with open(keyfile, "wb") as f:
        f.write(os.urandom(32).hex().encode())
    os.chmod(keyfile, 0o600)
    relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd, filter=filt,
                             allow=[], extra_conf="mask-key %s" % keyfile).start()
    suite.cluster.psql(
        "create view customer_view as select * from customers;"
        "grant select on customer_view to app_read;"
        "create function customer_cards() returns setof text language sql "
        "as 'select card_number from customers';"
        "create table tagged(id int, cards text[], nums bigint[]);"
        "insert into tagged select 1, array_agg(card_number), "
        "array_agg(replace(card_number, ' ', '')::bigint) from customers;"
        "grant select on tagged to app_read;"
        "grant update on customers to app_write;"
        "grant create on schema public to app_write;", db="shop")


def tearDownModule():
    for d in (relay, filt):
        if d is not None:
            d.stop()
    if suite is not None:
        suite.stop()


def raw_cards():
    out = suite.cluster.psql("select card_number from customers", db="shop", args=("-At",))
    return set(out.split())


class MaskingTestCase(TimedTestCase):
    test_timeout = 120

    def watchdog_targets(self):
        return [relay, filt, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return relay

    def connect(self, user="alice", role="app_read"):
        c = psycopg2.connect(relay.dsn(suite.token(user), role=role))
        c.autocommit = True
        self.addCleanup(c.close)
        return c

    def rows(self, sql, user="alice", role="app_read"):
        cur = self.connect(user, role).cursor()
        cur.execute(sql)
        return cur.fetchall()

    def assertNoRawCard(self, data):
        text = repr(data)
        for card in raw_cards():
            self.assertNotIn(card, text)


class ColumnRulesTest(MaskingTestCase):
    def test_plain_alias_star(self):
        for sql in ("select card_number, email from customers",
                    "select card_number as c, email as e from customers",
                    "select * from customers"):
            rows = self.rows(sql)
            self.assertEqual(len(rows), 50, sql)
            self.assertNoRawCard(rows)
        rows = self.rows("select card_number, email from customers order by id limit 1")
        card, email = rows[0]
        raw = suite.cluster.psql("select card_number, email from customers order by id limit 1",
                                 db="shop", args=("-At", "-F", " ")).split()
        self.assertEqual(card, "*" * (len(raw[0]) - 4) + raw[0][-4:])
        self.assertEqual(email.split("@")[1], raw[1].split("@")[1])
        self.assertNotEqual(email, raw[1])

    def test_view_and_cursor(self):
        self.assertNoRawCard(self.rows("select * from customer_view"))
        c = self.connect()
        c.autocommit = False
        cur = c.cursor()
        cur.execute("declare k cursor for select card_number from customers")
        cur.execute("fetch 10 from k")
        rows = cur.fetchall()
        self.assertEqual(len(rows), 10)
        self.assertNoRawCard(rows)
        c.rollback()

    def test_exempt_group_sees_raw(self):
        rows = self.rows("select card_number from customers", user="paula")
        self.assertEqual({r[0] for r in rows}, raw_cards())

    def test_tokens_are_stable_across_sessions(self):
        a = self.rows("select name from customers order by id")
        b = self.rows("select name from customers order by id")
        self.assertEqual(a, b)
        raw = suite.cluster.psql("select name from customers order by id", db="shop",
                                 args=("-At",)).splitlines()
        self.assertNotEqual([r[0] for r in a], raw)
        self.assertEqual(len(set(r[0] for r in a)), len(set(raw)), "distinct stays distinct")

    def test_returning(self):
        rows = self.rows("update customers set name = name where id <= 3 returning card_number",
                         user="bob", role="app_write")
        self.assertEqual(len(rows), 3)
        self.assertNoRawCard(rows)

    def test_rules_follow_ddl_in_the_session(self):
        # The table does not exist at login; it is looked up again after DDL.
        c = self.connect("bob", "app_write")
        cur = c.cursor()
        cur.execute("create table made_later(id int, secret text)")
        cur.execute("insert into made_later values (1, 's3cret-value')")
        cur.execute("select id, secret as x from made_later")  # by identity, not by name
        rows = cur.fetchall()
        self.assertEqual(rows[0][0], 1)
        self.assertNotIn("s3cret", repr(rows))

    def test_audit_records_masked_columns(self):
        self.rows("select card_number from customers where id = 7 -- audit")
        intent = [r for r in suite.logd.records("intent")
                  if r.get("sql") == "select card_number from customers where id = 7 -- audit"][-1]
        # Result records ride with the next intent, or go out within a
        # second when the session is idle.
        import time
        res = None
        deadline = time.time() + 10
        while res is None and time.time() < deadline:
            found = [r for r in suite.logd.records("result") if r.get("intent") == intent["seq"]]
            res = found[-1] if found else None
            time.sleep(0.1)
        self.assertIsNotNone(res, "no result record")
        self.assertEqual(res["masked"]["columns"], ["card_number"])
        self.assertEqual(res["masked"]["values"], 1)


class DetectorsTest(MaskingTestCase):
    def test_expression_json_function(self):
        for sql in ("select upper(card_number), card_number || '' from customers",
                    "select row_to_json(c) from customers c",
                    "select customer_cards()",
                    "select card_number::bigint from customers"):
            rows = self.rows(sql)
            self.assertEqual(len(rows), 50, sql)
            self.assertNoRawCard(rows)

    def test_error_echo(self):
        cur = self.connect().cursor()
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("select card_number::int from customers")
        self.assertIn(cm.exception.pgcode, ("22P02", "22003"))
        self.assertNoRawCard(str(cm.exception))

    def test_copy_text_and_csv(self):
        import io
        cur = self.connect().cursor()
        for fmt in ("", " with (format csv)"):
            buf = io.StringIO()
            cur.copy_expert("copy customers to stdout" + fmt, buf)
            data = buf.getvalue()
            self.assertEqual(data.count("\n"), 50)
            self.assertNoRawCard(data)
            self.assertNotIn("@example.com", data.split("\n")[0].split(",")[0])

    def test_binary_copy_refused(self):
        import io
        c = self.connect()
        with self.assertRaises(psycopg2.Error) as cm:
            c.cursor().copy_expert("copy customers to stdout with (format binary)", io.BytesIO())
        self.assertNoRawCard(str(cm.exception))
        # The client is told why, not only the relay's log.
        self.assertIn("binary COPY TO STDOUT cannot be masked", str(cm.exception))
        # ...and the session is over: nothing more runs in it.
        with self.assertRaises(psycopg2.OperationalError):
            c.cursor().execute("select 1")

    def test_million_rows(self):
        c = self.connect()
        c.autocommit = False
        cur = c.cursor("big")
        cur.itersize = 20000
        cur.execute("select '4111111111111111', g from generate_series(1, 1000000) g")
        n = 0
        for card, g in cur:
            n += 1
            if card == "4111111111111111":
                self.fail("row %d not masked" % g)
        self.assertEqual(n, 1000000)


class ReloadTest(MaskingTestCase):
    """Masking rules and connect authorization live in the policy: a reload
    applies to the next statement of sessions already open."""

    def set_policy(self, text):
        filt.set_policy(text, wait=True)

    def test_reload_changes_masking_and_access_of_open_sessions(self):
        self.addCleanup(self.set_policy, POLICY)
        c = self.connect("alice")
        cur = c.cursor()
        cur.execute("select card_number from customers")
        self.assertNoRawCard(cur.fetchall())
        # analysts become exempt: the same session now sees raw values.
        self.set_policy(POLICY.replace("exempt pci-auditor", "exempt pci-auditor,analysts")
                        .replace("groups analysts\n", "groups nobody\n"))
        cur.execute("select card_number from customers")
        self.assertEqual({r[0] for r in cur.fetchall()}, raw_cards())
        # and masked again after the next reload
        self.set_policy(POLICY)
        cur.execute("select card_number from customers")
        self.assertNoRawCard(cur.fetchall())
        # analysts lose the role: the open session ends at its next statement.
        self.set_policy(POLICY.replace("groups analysts,pci-auditor,engineers",
                                       "groups pci-auditor,engineers"))
        with self.assertRaises(psycopg2.Error):
            cur.execute("select 1")
        import time
        deadline = time.time() + 10
        while "ended after a policy change" not in relay.stderr_text() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn("ended after a policy change", relay.stderr_text())


class PredicatesTest(MaskingTestCase):
    """With `mask predicates deny`, a masked person cannot learn masked
    values through WHERE / ORDER BY on them."""

    def test_filtering_on_a_masked_column_is_denied(self):
        f2 = pgward_env.Filter(suite.auth, POLICY.replace("mask predicates allow", "mask predicates deny"),
                               logd=suite.logd).start()
        self.addCleanup(f2.stop)
        r2 = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd, filter=f2, allow=[],
                              extra_conf="mask-key %s" % os.path.join(filt.dir, "mask.key")).start()
        self.addCleanup(r2.stop)
        c = psycopg2.connect(r2.dsn(suite.token("alice")))
        self.addCleanup(c.close)
        c.autocommit = True
        cur = c.cursor()
        for sql in ("select id from customers where card_number like '4%'",
                    "select id from customers order by card_number",
                    "select id from customers c join orders o on o.customer_id = c.id "
                    "where c.email = 'alice.smith1@example.com'"):
            with self.assertRaises(psycopg2.Error) as cm:
                cur.execute(sql)
            self.assertEqual(cm.exception.pgcode, "42501", sql)
            self.assertIn("builtin:masked-predicate", str(cm.exception))
        cur.execute("select card_number from customers where id = 1")
        self.assertNoRawCard(cur.fetchall())
        # The exempt group may filter on it.
        c2 = psycopg2.connect(r2.dsn(suite.token("paula")))
        self.addCleanup(c2.close)
        cur2 = c2.cursor()
        cur2.execute("select count(*) from customers where card_number like '4%'")
        self.assertGreater(cur2.fetchone()[0], 0)


class WireTestCase(MaskingTestCase):
    def wire(self, user="alice"):
        w = Wire.connect(relay.port, suite.token(user))
        self.addCleanup(w.close)
        return w

    def assertMaskedCards(self, msgs, column=0, count=50):
        self.assertEqual(errors(msgs), [])
        got = rows(msgs)
        self.assertEqual(len(got), count)
        for r in got:
            self.assertTrue(r[column] is None or r[column].startswith(b"*"), r)
        self.assertNoRawCard(got)


class BinaryFormatTest(WireTestCase):
    """A binary-format result through the extended protocol (raw client)."""

    def test_binary_result_masked_or_null(self):
        w = self.wire()
        w.send(parse("", "select card_number, id from customers order by id"),
               bind(result_formats=(1,)), describe("P"), execute(), sync())
        got = rows(w.until_ready())
        self.assertEqual(len(got), 50)
        for card, ident in got:
            self.assertEqual(len(ident), 4, "int4 in binary, not masked")
            self.assertTrue(card is None or card.startswith(b"*"), card)
        self.assertNoRawCard(got)


class ProtocolStateTest(WireTestCase):
    """The row shape of every Execute is known, whatever the client
    describes: re-Parse without Describe, Close and re-Parse, re-Bind of a
    portal, pipelines in one Sync and across Syncs."""

    CARDS = "select card_number from customers order by id"

    def test_unnamed_reparse_without_describe(self):
        w = self.wire()
        w.send(parse("", "select name from customers order by id"), describe("S"),
               bind(), execute(), sync())
        self.assertEqual(errors(w.until_ready()), [])
        w.send(parse("", self.CARDS), bind(), execute(), sync())
        self.assertMaskedCards(w.until_ready())

    def test_named_close_and_reparse(self):
        w = self.wire()
        w.send(parse("s1", "select id from customers order by id"), describe("S", "s1"),
               bind("", "s1"), execute(), sync())
        self.assertEqual(errors(w.until_ready()), [])
        w.send(close("S", "s1"), parse("s1", self.CARDS), bind("", "s1"), execute(), sync())
        self.assertMaskedCards(w.until_ready())

    def test_portal_rebound_after_describe(self):
        w = self.wire()
        w.send(parse("a", "select id from customers order by id"), parse("b", self.CARDS),
               bind("", "a"), describe("P"), bind("", "b"), execute(), sync())
        self.assertMaskedCards(w.until_ready())

    def test_pipeline_in_one_sync(self):
        w = self.wire()
        w.send(parse("", "select id from customers order by id"), describe("S"), bind(),
               execute(), parse("", self.CARDS), bind(), execute(),
               parse("", "select email, card_number from customers order by id"), bind(),
               execute(), sync())
        msgs = w.until_ready()
        self.assertEqual(errors(msgs), [])
        got = rows(msgs)
        self.assertEqual(len(got), 150)
        self.assertNoRawCard(got)
        for r in got[50:100]:
            self.assertTrue(r[0].startswith(b"*"), r)
        for r in got[100:]:
            self.assertTrue(r[0].startswith(b"****@"), r)

    def test_pipeline_across_syncs_and_named_portals(self):
        w = self.wire()
        w.send(query("begin"))
        w.until_ready()
        w.send(parse("n", "select name from customers order by id"), bind("p1", "n"),
               describe("P", "p1"), sync(), parse("c", self.CARDS), bind("p2", "c"), sync(),
               execute("p1", 10), execute("p2", 10), sync(), execute("p2"), sync())
        msgs = []
        for _ in range(4):
            msgs += w.until_ready()
        self.assertEqual(errors(msgs), [])
        got = rows(msgs)
        self.assertEqual(len(got), 10 + 10 + 40)
        for r in got[10:]:
            self.assertTrue(r[0].startswith(b"*"), r)
        self.assertNoRawCard(got)

    def test_binary_format_after_text_describe(self):
        w = self.wire()
        w.send(parse("", self.CARDS), bind(), describe("P"), bind(result_formats=(1,)),
               execute(), sync())
        self.assertMaskedCards(w.until_ready())

    def test_error_then_reparse(self):
        w = self.wire()
        w.send(parse("", "select id from customers"), describe("S"), bind(),
               parse("", "select nonsense from nowhere"), bind(), execute(), sync())
        self.assertEqual(len(errors(w.until_ready())), 1)
        w.send(parse("", self.CARDS), bind(), execute(), sync())
        self.assertMaskedCards(w.until_ready())


class StructuredValuesTest(WireTestCase):
    """Arrays, records, composites and JSON, in text and binary: every
    element is masked (a column rule on an array column, element by
    element; detection on every element of every value), or the value is
    NULL, never raw."""

    DERIVED = (
        "select array_agg(card_number) from customers",
        "select array(select card_number from customers)",
        "select c from customers c",
        "select array_agg(c) from customers c",
        "select row(card_number, 1) from customers",
        "select array[row(array[card_number])] from customers",
        "select to_jsonb(c) from customers c",
        "select row_to_json(c)::text from customers c",
        "select card_number::bigint from customers where card_number ~ '^[0-9]+$'",
        "select nums from tagged",
    )

    def test_detection_reaches_every_element_text_and_binary(self):
        for sql in self.DERIVED:
            for fmt in (0, 1):
                w = self.wire()
                w.send(parse("", sql), bind(result_formats=(fmt,)), execute(), sync())
                msgs = w.until_ready()
                self.assertEqual(errors(msgs), [], (sql, fmt))
                got = rows(msgs)
                self.assertTrue(got, (sql, fmt))
                blob = repr(got)
                for card in raw_cards():
                    self.assertNotIn(card, blob, (sql, fmt))
                    self.assertNotIn(card.replace(" ", ""), blob, (sql, fmt))

    def test_column_rule_on_an_array_column_masks_each_element(self):
        # bob has column rules only, no detection: the rule itself masks
        # every element, and the array stays a valid text[].
        cur = self.connect("bob").cursor()
        cur.execute("select cards from tagged")
        cards = cur.fetchone()[0]
        self.assertIsInstance(cards, list)
        self.assertEqual(len(cards), 50)
        for c in cards:
            self.assertRegex(c, r"^\*+.{4}$")
        self.assertNoRawCard(cards)
        w = self.wire("bob")
        w.send(parse("", "select cards from tagged"), bind(result_formats=(1,)), execute(),
               sync())
        got = rows(w.until_ready())
        self.assertNoRawCard(got)
        self.assertIn(b"*", got[0][0])
        # The exempt group sees the elements.
        cur = self.connect("paula").cursor()
        cur.execute("select cards from tagged")
        self.assertEqual(set(cur.fetchone()[0]), raw_cards())


class EncodingTest(MaskingTestCase):
    """The detectors and the array parser read bytes: an encoding whose
    characters can hold ASCII bytes is refused for masked people, at login
    and when set later."""

    def test_unsafe_client_encoding_refused(self):
        with self.assertRaises(psycopg2.Error) as cm:
            psycopg2.connect(relay.dsn(suite.token("alice"), client_encoding="SJIS"))
        self.assertIn("client_encoding", str(cm.exception))
        c = self.connect()
        with self.assertRaises(psycopg2.Error) as cm:
            c.cursor().execute("set client_encoding to 'SJIS'")
        self.assertIn("client_encoding SJIS cannot be masked", str(cm.exception))
        with self.assertRaises(psycopg2.OperationalError):
            c.cursor().execute("select card_number from customers")


class NotificationTest(MaskingTestCase):
    def test_notification_payload_masked(self):
        c = self.connect()
        cur = c.cursor()
        cur.execute("listen cards")
        card = sorted(raw_cards())[0]
        other = self.connect("paula")
        other.cursor().execute("select pg_notify('cards', %s)", (card,))
        import select
        for _ in range(50):
            c.poll()
            if c.notifies:
                break
            select.select([c], [], [], 0.2)
        self.assertTrue(c.notifies)
        payload = c.notifies[0].payload
        self.assertNotIn(card, payload)
        self.assertIn("*", payload)


if __name__ == "__main__":
    unittest.main()
