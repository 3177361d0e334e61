"""Adversarial suite, gateway-only masking (`mask mode gateway`, a column
rule alone: no detectors, `mask predicates` at its default, deny): every
derivation class is refused by pgward-filter with builtin:masked-predicate
naming the column (SQLSTATE 42501), while the plain forms (SELECT col,
SELECT *, SELECT c.*, aliases, RETURNING, FETCH from a cursor, the
extended protocol re-Parse without Describe, binary format) work and are
masked on the wire. No raw value, nor anything it can be rebuilt from,
reaches the client (tests/lib/pgward_leaks.py)."""

import io
import unittest

import psycopg2

import pgward_env
from pgward_leaks import Leaks, card_hidden, email_hidden
from pgward_testing import TimedTestCase
from pgward_wire import Wire, bind, describe, errors, execute, parse, rows, sync

POLICY = """\
default allow
connect shop app_read  groups analysts,pci-auditor,engineers
connect shop app_write groups engineers
mask mode gateway
mask column public.customers.card_number style partial keep 4 exempt pci-auditor
mask column public.customers.email style email-domain exempt pci-auditor
"""

CARD = "public.customers.card_number"
EMAIL = "public.customers.email"

suite = filt = relay = None


def setUpModule():
    global suite, filt, relay
    suite = pgward_env.Suite(pgbench=False, start_relay=False).start()
    suite.users.update({"alice": ["analysts"], "bob": ["engineers"], "paula": ["pci-auditor"]})
    # Views and functions over the masked table made before any session.
    suite.cluster.psql(
        "CREATE VIEW customer_view AS SELECT * FROM customers;"
        "CREATE VIEW card_view AS SELECT id, card_number AS c FROM customers;"
        "CREATE MATERIALIZED VIEW customer_mv AS SELECT id, card_number FROM customers;"
        "CREATE FUNCTION customer_cards() RETURNS SETOF text LANGUAGE sql "
        "AS 'SELECT card_number FROM customers';"
        "GRANT SELECT ON customer_view, card_view, customer_mv TO app_read;"
        "GRANT UPDATE ON customers TO app_write;"
        "ANALYZE customers;", db="shop")
    filt = pgward_env.Filter(suite.auth, POLICY, logd=suite.logd).start()
    keyfile = pgward_env.write_file(filt.dir + "/mask.key", "cd" * 32 + "\n", 0o600)
    relay = pgward_env.Relay(suite.cluster, suite.auth, logd=suite.logd, filter=filt, allow=[],
                             extra_conf="mask-key %s" % keyfile).start()


def tearDownModule():
    for d in (relay, filt):
        if d is not None:
            d.stop()
    if suite is not None:
        suite.stop()


class GatewayTestCase(TimedTestCase):
    test_timeout = 60

    @classmethod
    def setUpClass(cls):
        out = suite.cluster.psql("SELECT id, card_number, email FROM customers ORDER BY id",
                                 db="shop")
        cls.raw = [line.split("|") for line in out.strip().splitlines()]
        cls.leaks = Leaks([h for _, card, email in cls.raw
                           for h in card_hidden(card) + email_hidden(email)],
                          raw=[v for r in cls.raw for v in r[1:]])
        cls.conn = cls.connect_as("alice")

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()

    @staticmethod
    def connect_as(user, role="app_read"):
        c = psycopg2.connect(relay.dsn(suite.token(user), role=role))
        c.autocommit = True
        return c

    def watchdog_targets(self):
        return [relay, filt, suite.auth, suite.logd]

    def relay_for_sanitizer_check(self):
        return relay

    def no_leak(self, what, data):
        self.leaks.assert_no_leak(self, what, data)

    def assert_refused(self, cases, conn=None):
        """cases: (sql, the masked column the refusal must name)."""
        cur = (conn or self.conn).cursor()
        for sql, col in cases:
            try:
                cur.execute(sql)
                got = cur.fetchall() if cur.description else []
            except psycopg2.Error as e:
                msg = str(e)
                self.no_leak(sql, msg)
                self.assertEqual(e.pgcode, "42501", "%s: %s" % (sql, msg))
                self.assertIn("builtin:masked-predicate", msg, sql)
                self.assertIn("column %s is masked" % col, msg, sql)
                continue
            self.no_leak(sql, got)
            self.fail("%s was not refused: %r" % (sql, got[:3]))

    def assert_masked(self, sql, rows_, ncards=None):
        self.no_leak(sql, rows_)
        self.assertTrue(rows_, sql)
        if ncards is not None:
            self.assertEqual(sum(1 for r in rows_ for v in r
                                 if isinstance(v, str) and v.startswith("****")), ncards, sql)


class PlainFormsTest(GatewayTestCase):
    """What a masked person may do: the output column itself."""

    def test_select_forms(self):
        cur = self.conn.cursor()
        n = len(self.raw)
        for sql, per_row in (
                ("SELECT card_number FROM customers", 1),
                ("SELECT card_number AS id, email AS x FROM customers", 2),
                ("SELECT * FROM customers", 2),
                ("SELECT c.* FROM customers c", 2),
                ("SELECT c.card_number, customers_alias.email FROM customers c "
                 "JOIN customers customers_alias USING (id)", 2),
                ("TABLE customers", 2),
                ("SELECT card_number FROM customers WHERE id < 10 ORDER BY id LIMIT 5", None)):
            cur.execute(sql)
            got = cur.fetchall()
            self.assert_masked(sql, got, None if per_row is None else per_row * n)
        cur.execute("SELECT card_number FROM customers ORDER BY id")
        self.assertEqual([r[0] for r in cur.fetchall()],
                         ["*" * (len(c) - 4) + c[-4:] for _, c, _ in self.raw])

    def test_returning(self):
        c = self.connect_as("bob", "app_write")
        self.addCleanup(c.close)
        cur = c.cursor()
        cur.execute("UPDATE customers SET name = name WHERE id <= 3 RETURNING card_number, *")
        got = cur.fetchall()
        self.assertEqual(len(got), 3)
        self.assert_masked("RETURNING", got, 9)
        self.assert_refused([
            ("UPDATE customers SET name = name WHERE id = 1 RETURNING upper(card_number)", CARD),
            ("UPDATE customers SET name = card_number WHERE id = 1", CARD),
            ("UPDATE customers SET name = name WHERE card_number LIKE '4%'", CARD),
            ("UPDATE customers c SET name = name WHERE id = 1 RETURNING c", CARD),
            ("INSERT INTO orders (customer_id, amount, status) SELECT id, length(card_number), "
             "'paid' FROM customers", CARD),
        ], conn=c)

    def test_cursor_fetch(self):
        c = self.connect_as("alice")
        self.addCleanup(c.close)
        c.autocommit = False
        cur = c.cursor()
        cur.execute("DECLARE k CURSOR FOR SELECT id, card_number, email FROM customers")
        cur.execute("FETCH 10 FROM k")
        self.assert_masked("FETCH", cur.fetchall(), 20)
        cur.execute("FETCH ALL FROM k")
        self.assert_masked("FETCH ALL", cur.fetchall(), 2 * (len(self.raw) - 10))
        c.rollback()
        c.autocommit = False
        self.assert_refused([("DECLARE k2 CURSOR FOR SELECT upper(card_number) FROM customers",
                              CARD)], conn=c)
        c.rollback()

    def test_extended_protocol_reparse_and_binary(self):
        w = Wire.connect(relay.port, suite.token("alice"))
        self.addCleanup(w.close)
        w.send(parse("", "SELECT id FROM customers"), describe("S"), bind(), execute(), sync())
        self.assertEqual(errors(w.until_ready()), [])
        for fmt in (0, 1):
            w.send(parse("", "SELECT card_number, email FROM customers"),
                   bind(result_formats=(fmt,)), execute(), sync())
            msgs = w.until_ready()
            self.assertEqual(errors(msgs), [])
            got = rows(msgs)
            self.assertEqual(len(got), len(self.raw))
            self.no_leak("re-Parse without Describe, format %d" % fmt, got)
        w.send(parse("", "SELECT reverse(card_number) FROM customers"), bind(), execute(), sync())
        msgs = w.until_ready()
        self.assertEqual(rows(msgs), [])
        self.assertEqual(errors(msgs)[0]["C"], "42501")
        self.assertIn(CARD, errors(msgs)[0]["M"])

    def test_exempt_person_sees_raw(self):
        c = self.connect_as("paula")
        self.addCleanup(c.close)
        cur = c.cursor()
        cur.execute("SELECT upper(card_number) FROM customers ORDER BY id")
        self.assertEqual([r[0] for r in cur.fetchall()], [r[1] for r in self.raw])


class DerivationsRefusedTest(GatewayTestCase):
    def test_string_functions(self):
        self.assert_refused([
            ("SELECT upper(card_number) FROM customers", CARD),
            ("SELECT pg_catalog.reverse(email) FROM customers", EMAIL),
            ("SELECT substr(card_number, 1, 8), substr(card_number, 9) FROM customers", CARD),
            ("SELECT translate(card_number, '0123456789', 'abcdefghij') FROM customers", CARD),
            ("SELECT card_number || '' FROM customers", CARD),
            ("SELECT id, x FROM customers, LATERAL upper(card_number) x", CARD),
            ("SELECT card_number COLLATE \"C\" FROM customers", CARD),
            ("SELECT U&\"card\\005fnumber\" || '' FROM customers", CARD),
            # Column aliases in FROM rename the column by position.
            ("SELECT upper(d) FROM customers AS c(i, n, e, d)", CARD),
            ("SELECT upper(j.d) FROM (customers c JOIN orders o ON o.customer_id = c.id) "
             "AS j(a, b, x, d)", CARD),
            ("SELECT format('%s', email) FROM customers", EMAIL),
        ])

    def test_casts_and_errors(self):
        self.assert_refused([
            ("SELECT card_number::int FROM customers", CARD),
            ("SELECT CAST(email AS bytea) FROM customers", EMAIL),
            ("SELECT card_number::text FROM customers", CARD),
        ])

    def test_encodings(self):
        self.assert_refused([
            ("SELECT encode(convert_to(card_number, 'UTF8'), 'base64') FROM customers", CARD),
            ("SELECT encode(convert_to(email, 'UTF8'), 'hex') FROM customers", EMAIL),
            ("SELECT md5(card_number) FROM customers", CARD),
        ])

    def test_aggregates(self):
        self.assert_refused([
            ("SELECT string_agg(card_number, ',') FROM customers", CARD),
            ("SELECT array_agg(email) FROM customers", EMAIL),
            ("SELECT min(card_number), max(card_number) FROM customers", CARD),
            ("SELECT count(DISTINCT card_number) FROM customers", CARD),
            ("SELECT card_number, lag(card_number) OVER (ORDER BY id) FROM customers", CARD),
        ])

    def test_arrays_and_composites(self):
        self.assert_refused([
            ("SELECT ARRAY(SELECT card_number FROM customers)", CARD),
            ("SELECT ARRAY[card_number] FROM customers", CARD),
            ("SELECT ROW(card_number, 1) FROM customers", CARD),
        ])

    def test_whole_row(self):
        self.assert_refused([
            ("SELECT c FROM customers c", CARD),
            ("SELECT customers FROM customers", CARD),
            ("SELECT row_to_json(c) FROM customers c", CARD),
            ("SELECT to_jsonb(c) FROM customers c", CARD),
            ("SELECT c::text FROM customers c", CARD),
            ("SELECT (c).card_number FROM customers c", CARD),
            ("SELECT array_agg(c) FROM customers c", CARD),
            ("SELECT id FROM customers c WHERE c::text LIKE '%4111%'", CARD),
            ("SELECT json_agg(x) FROM (SELECT * FROM customers) x", CARD),
            # A join's alias is a whole row too.
            ("SELECT j FROM (customers c JOIN orders o ON o.customer_id = c.id) j", CARD),
            ("SELECT row_to_json(j) FROM (customers c JOIN orders o ON true) AS j", CARD),
        ])

    def test_subqueries(self):
        self.assert_refused([
            ("SELECT (SELECT card_number FROM customers LIMIT 1)", CARD),
            ("SELECT x FROM (SELECT card_number AS x FROM customers) s", CARD),
            ("WITH w AS (SELECT card_number FROM customers) SELECT * FROM w", CARD),
            ("SELECT * FROM (SELECT * FROM customers) s", CARD),
            ("SELECT card_number FROM customers UNION ALL SELECT 'x'", CARD),
            ("SELECT DISTINCT card_number FROM customers", CARD),
            ("SELECT id FROM orders WHERE customer_id IN (SELECT id FROM customers "
             "WHERE card_number LIKE '4%')", CARD),
            ("SELECT card_number INTO TEMP t FROM customers", CARD),
            ("CREATE TEMP TABLE t2 AS SELECT card_number FROM customers", CARD),
        ])

    def test_views(self):
        self.assert_refused([
            # Made before the session: the relay's view map says what it reads.
            ("SELECT * FROM customer_view", CARD),
            ("SELECT id FROM customer_view", CARD),
            ("SELECT c FROM card_view", CARD),
            ("SELECT * FROM public.card_view", CARD),
            ("SELECT card_number FROM customer_mv", CARD),
            # Made in the same string, and in a statement of its own.
            ("CREATE TEMP VIEW ov AS SELECT id, card_number FROM customers; "
             "SELECT * FROM ov", CARD),
            ("CREATE TEMP VIEW ov2 AS SELECT * FROM customers", CARD),
        ])

    # A function over the masked table made before the session returns its
    # values with no column identity, and its body is not in the statement:
    # the relay lists the functions whose source names a masked table or
    # column, runs dynamic SQL, or cannot be read (and those calling them),
    # and the filter refuses calls of them in gateway mode.
    def test_function_made_before_the_session(self):
        suite.cluster.psql(
            "CREATE OR REPLACE FUNCTION public.wrapped_cards() RETURNS SETOF text "
            "LANGUAGE sql AS 'SELECT customer_cards()';"
            "CREATE OR REPLACE FUNCTION public.dyn_cards() RETURNS SETOF text LANGUAGE plpgsql "
            "AS $$ BEGIN RETURN QUERY EXECUTE 'SELECT card_' || 'number FROM cust' || 'omers'; "
            "END $$;"
            "CREATE OR REPLACE FUNCTION public.harmless() RETURNS int LANGUAGE sql "
            "AS 'SELECT 42';"
            "GRANT EXECUTE ON FUNCTION public.wrapped_cards(), public.dyn_cards(), "
            "public.harmless() TO PUBLIC;", db="shop")
        # A new session: the relay reads the functions at login.
        c = psycopg2.connect(relay.dsn(suite.token("alice")))
        self.addCleanup(c.close)
        c.autocommit = True
        for sql in ("SELECT customer_cards()", "SELECT * FROM public.customer_cards()",
                    "SELECT wrapped_cards()", "SELECT dyn_cards()",
                    "SELECT upper(x) FROM customer_cards() x"):
            with self.assertRaises(psycopg2.Error, msg=sql) as cm:
                c.cursor().execute(sql)
            self.assertEqual(cm.exception.pgcode, "42501", sql)
            self.assertIn("builtin:masked-predicate", str(cm.exception), sql)
            self.assertIn("is not built in and may read it", str(cm.exception), sql)
        cur = c.cursor()
        cur.execute("SELECT harmless()")
        self.assertEqual(cur.fetchone()[0], 42)
        # Made in the session after login: looked up again after the DDL.
        cur.execute("SET standard_conforming_strings = off")
        cur.execute("CREATE FUNCTION pg_temp.later() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        suite.cluster.psql("CREATE OR REPLACE FUNCTION public.later_cards() RETURNS SETOF text "
                           "LANGUAGE sql AS 'SELECT card_number FROM customers';"
                           "GRANT EXECUTE ON FUNCTION public.later_cards() TO PUBLIC;", db="shop")
        cur.execute("CREATE FUNCTION pg_temp.later2() RETURNS int LANGUAGE sql AS 'SELECT 2'")
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("SELECT later_cards()")
        self.assertIn("is not built in and may read it", str(cm.exception))

    def test_functions_and_dynamic_sql(self):
        self.assert_refused([
            ("CREATE FUNCTION pg_temp.f() RETURNS SETOF text LANGUAGE sql AS "
             "'SELECT card_number FROM customers'", CARD),
            ("CREATE FUNCTION pg_temp.g() RETURNS SETOF text LANGUAGE plpgsql AS "
             "$$ BEGIN RETURN QUERY EXECUTE 'SELECT card_' || 'number FROM public.cust' "
             "|| 'omers'; END $$", CARD),
            ("DO $$ DECLARE r record; BEGIN FOR r IN EXECUTE format('SELECT %I FROM %I.%I', "
             "'card_number', 'public', 'customers') LOOP RAISE NOTICE '%', r; END LOOP; END $$",
             CARD),
            ("DO $$ DECLARE r record; BEGIN FOR r IN SELECT * FROM customers LOOP "
             "PERFORM pg_notify('ch', r::text); END LOOP; END $$", CARD),
            ("SELECT pg_notify('ch', card_number) FROM customers", CARD),
            ("SELECT query_to_xml('select card_number from customers', true, false, '')",
             CARD),
        ])
        # A function that does not name the table, given the column.
        cur = self.conn.cursor()
        cur.execute("CREATE FUNCTION pg_temp.ident(t text) RETURNS text LANGUAGE sql "
                    "AS 'SELECT $1'")
        self.assert_refused([("SELECT pg_temp.ident(card_number) FROM customers", CARD),
                             ("SELECT pg_temp.ident(c::text) FROM customers c", CARD)])

    def test_predicates(self):
        self.assert_refused([
            ("SELECT count(*) FROM customers WHERE card_number LIKE '4111%'", CARD),
            ("SELECT count(*) FROM customers WHERE card_number > '4'", CARD),
            ("SELECT id FROM customers ORDER BY card_number", CARD),
            ("SELECT card_number FROM customers ORDER BY 1", CARD),
            ("SELECT id FROM customers GROUP BY email, id", EMAIL),
            ("SELECT id FROM customers c JOIN orders o ON o.id::text = c.card_number", CARD),
            ("SELECT id FROM customers WHERE email IS NOT NULL AND id = 1", EMAIL),
            ("SELECT id, CASE WHEN card_number > '4' THEN 1 END FROM customers", CARD),
            ("SELECT id FROM customers NATURAL JOIN orders", CARD),
            ("SELECT count(*) FROM customers c(i, n, e, d) WHERE d LIKE '4111%'", CARD),
            ("SELECT count(*) FILTER (WHERE card_number LIKE '4%') FROM customers", CARD),
            ("SELECT id FROM customers c WHERE c = c", CARD),
        ])

    def test_copy_and_catalogs(self):
        self.assert_refused([
            ("COPY customers TO STDOUT", CARD),
            ("COPY (SELECT card_number FROM customers) TO STDOUT", CARD),
            ("SELECT most_common_vals FROM pg_stats WHERE tablename = 'customers'", CARD),
            ("SELECT * FROM pg_catalog.pg_stats_ext", CARD),
            ("SELECT * FROM pg_statistic", CARD),
        ])
        cur = self.conn.cursor()
        with self.assertRaises(psycopg2.Error) as cm:
            cur.copy_expert("COPY (SELECT * FROM customers) TO STDOUT", io.StringIO())
        self.no_leak("COPY of a query", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
