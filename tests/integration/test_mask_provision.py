"""Database-enforced masking, provisioned by `pgward-mask sql` and verified
by `pgward-mask check`, against a real PostgreSQL with no relay in between:
the script runs twice into psql (idempotent, same state), check passes,
then the masked role itself (psql/psycopg2 straight to the server) tries
every class of derivation, and each either shows masked values or gets
PostgreSQL's own permission error; the views' styles equal the engine's
(pgward-mask on a stream with the same key); a privilege that breaks the
masking makes check fail naming the column."""

import hashlib
import json
import os
import re
import subprocess
import tempfile

import psycopg2
import psycopg2.errors

import pgward_env
from pgward_leaks import Leaks, card_hidden, email_hidden
from pgward_testing import TimedTestCase

POLICY = """\
default allow
connect shop app_read groups analysts,pci-auditor,support
mask column public.customers.card_number style partial keep 4 exempt pci-auditor
mask column public.customers.email style email-domain exempt pci-auditor
mask column public.customers.name style token groups analysts
mask detect all-text detectors card style redact groups analysts
"""

# The profile of someone in analysts (not pci-auditor): card, email, name.
# Canonical text (mask/profile.h), sorted by "table\tcolumn".
CANON_ANALYST = ("public.customers\tcard_number\tpartial\t4\n"
                 "public.customers\temail\temail-domain\t0\n"
                 "public.customers\tname\ttoken\t0\n")
CANON_OTHER = ("public.customers\tcard_number\tpartial\t4\n"
               "public.customers\temail\temail-domain\t0\n")

# Extra rows that exercise the styles' edges: UTF-8, no '@', '@' at the
# end, values of at most "keep" characters.
EXTRA_ROWS = [
    (901, "Zoë Ünïcode", "zoë@exämple.com", "ñ1234"),
    (902, "No At", "no-at-sign", "123"),
    (903, "Trailing At", "trailing@", "4111"),
    (904, "At Start", "@example.org", "€€€€€€"),
]


def mask_exe():
    return os.path.join(pgward_env.build_dir(), "bin", "pgward-mask")


def profile_hex(canon):
    return hashlib.sha256(canon.encode()).hexdigest()[:8]


cluster = None
tmp = None


def setUpModule():
    global cluster, tmp
    cluster = pgward_env.PgCluster().start()
    tmp = tempfile.TemporaryDirectory()
    rows = ",".join("(%d, '%s', '%s', '%s')" % r for r in EXTRA_ROWS)
    cluster.psql("INSERT INTO customers (id, name, email, card_number) VALUES %s;"
                 "CREATE VIEW customer_view AS SELECT * FROM customers;"
                 "GRANT SELECT ON customer_view TO app_read;"
                 "CREATE STATISTICS customers_stx (mcv) ON card_number, email FROM customers;"
                 "ANALYZE customers;" % rows, db="shop")


def tearDownModule():
    if cluster is not None:
        cluster.stop()
    if tmp is not None:
        tmp.cleanup()


class MaskProvisionTest(TimedTestCase):
    test_timeout = 300

    @classmethod
    def setUpClass(cls):
        cls.policy = os.path.join(tmp.name, "policy.conf")
        with open(cls.policy, "w") as f:
            f.write(POLICY)
        cls.key = os.path.join(tmp.name, "mask.key")
        fd = os.open(cls.key, os.O_WRONLY | os.O_CREAT, 0o600)
        # A fixed key: tokens are hex, and a random one now and then
        # spells a short secret ("4111") by chance, which the leak check
        # cannot tell from a leak.
        os.write(fd, b"cd" * 32 + b"\n")
        os.close(fd)
        cls.hex = profile_hex(CANON_ANALYST)
        cls.schema = "pgward_mask_" + cls.hex
        cls.role = "app_read_m_" + cls.hex
        raw = cluster.psql("SELECT card_number, email, name FROM customers ORDER BY id",
                           db="shop")
        cls.raw = [line.split("|") for line in raw.strip().splitlines()]
        cls.leaks = Leaks([h for card, email, name in cls.raw
                           for h in card_hidden(card) + email_hidden(email) + [name]])
        cls.provision()

    @classmethod
    def provision(cls):
        p = subprocess.run([mask_exe(), "sql", "-p", cls.policy, "--key", cls.key],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert p.returncode == 0, p.stderr.decode()
        sql = p.stdout.decode()
        return cluster.psql(sql, db="shop", args=("-v", "ON_ERROR_STOP=1")), sql

    def check(self, *extra):
        p = subprocess.run([mask_exe(), "check", "-p", self.policy, "-d",
                            cluster.unix_dsn(db="shop"), *extra],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def connect_masked(self):
        # The masked role logs in with app_read's password (its verifier
        # was copied): the relay's credential for app_read works as is.
        c = psycopg2.connect(cluster.unix_dsn(db="shop", user=self.role,
                                              password=cluster.passwords["app_read"]))
        c.autocommit = True
        return c

    def assert_no_leak(self, what, text):
        self.leaks.assert_no_leak(self, what, text)

    # ---- the script ----

    def test_idempotent_same_state(self):
        snap = ("SELECT c.oid::regclass::text, c.relacl::text, "
                "(SELECT string_agg(attname || '=' || coalesce(attacl::text, ''), ',' ORDER BY attnum) "
                " FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0), "
                "CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' OR n.nspname LIKE 'pgward_mask%' ORDER BY 1;"
                "SELECT r.rolname, r.rolcanlogin, r.rolinherit, s.setconfig::text "
                "FROM pg_roles r LEFT JOIN pg_db_role_setting s ON s.setrole = r.oid "
                "WHERE r.rolname LIKE '%_m_%' ORDER BY 1;")
        before = cluster.psql(snap, db="shop")
        self.provision()
        after = cluster.psql(snap, db="shop")
        self.assertEqual(before, after)
        self.assertIn(self.schema + ".customers", after)
        # Three profiles: analysts; neither group; pci-auditor and analysts
        # (only name); pci-auditor alone has none.
        roles = re.findall(r"app_read_m_[0-9a-f]{8}", after)
        self.assertEqual(len(set(roles)), 3, after)
        self.assertIn("app_read_m_" + profile_hex(CANON_OTHER), roles)

    def test_script_shape(self):
        _, sql = self.provision()
        self.assertTrue(sql.lstrip().startswith("-- pgward-mask sql"))
        self.assertIn("BEGIN;", sql)
        self.assertTrue(sql.rstrip().endswith("COMMIT;"))
        self.assertIn("-- profile p%s: mask column lines 3, 4, 5" % self.hex, sql)
        self.assertIn("security_barrier", sql)
        # Without --key the token style is refused.
        p = subprocess.run([mask_exe(), "sql", "-p", self.policy],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 100)
        self.assertIn("--key", p.stderr.decode())

    def test_check_passes(self):
        rc, out, err = self.check()
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(out, "")

    def test_role_shape(self):
        r = cluster.psql("SELECT rolsuper, rolinherit, rolbypassrls, rolcanlogin, "
                         "(SELECT count(*) FROM pg_auth_members WHERE member = oid), "
                         "(SELECT rolpassword FROM pg_authid WHERE rolname = 'app_read') = "
                         "(SELECT rolpassword FROM pg_authid WHERE rolname = '%s') "
                         "FROM pg_roles WHERE rolname = '%s'" % (self.role, self.role),
                         db="shop").strip()
        self.assertEqual(r, "f|f|f|t|0|t")
        c = self.connect_masked()
        cur = c.cursor()
        cur.execute("SHOW search_path")
        self.assertTrue(cur.fetchone()[0].startswith(self.schema + ","))
        with self.assertRaises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("SET ROLE app_read")
        c.close()

    # ---- the masked role, straight to the server ----

    # (statement, what PostgreSQL must do: "ok" shows masked values,
    # "denied" is its permission error)
    DERIVATIONS = [
        ("SELECT card_number, email, name FROM customers", "ok"),
        ("SELECT upper(card_number), card_number || '', lower(email) FROM customers", "ok"),
        ("SELECT reverse(card_number), reverse(email) FROM customers", "ok"),
        ("SELECT substr(card_number, 1, 8), substr(card_number, 9) FROM customers", "ok"),
        ("SELECT encode(convert_to(card_number, 'UTF8'), 'base64') FROM customers", "ok"),
        ("SELECT translate(card_number, '0123456789', 'abcdefghij') FROM customers", "ok"),
        ("SELECT array_agg(card_number), array_agg(email) FROM customers", "ok"),
        ("SELECT ARRAY(SELECT card_number FROM customers)", "ok"),
        ("SELECT c FROM customers c", "ok"),
        ("SELECT array_agg(c) FROM customers c", "ok"),
        ("SELECT row_to_json(c) FROM customers c", "ok"),
        ("SELECT to_jsonb(c) FROM customers c", "ok"),
        ("SELECT string_agg(card_number, ',') FROM customers", "ok"),
        ("SELECT card_number::bytea, md5(card_number) = md5('4111111111111111') FROM customers", "ok"),
        ("SELECT * FROM customers WHERE card_number = '4111111111111111'", "ok"),
        ("SELECT * FROM public.customers", "denied"),
        ("SELECT card_number FROM public.customers", "denied"),
        ("SELECT c FROM public.customers c", "denied"),
        ("SELECT id FROM public.customers WHERE card_number LIKE '4%'", "denied"),
        ("SELECT row_to_json(c) FROM public.customers c", "denied"),
        ("SELECT id, created_at FROM public.customers", "ok"),
        ("SELECT * FROM customer_view", "denied"),
        ("SELECT * FROM pg_stats WHERE tablename = 'customers'", "ok"),
        ("SELECT * FROM pg_stats_ext", "ok"),
        ("SELECT * FROM pg_statistic_ext_data", "denied"),
        ("SELECT * FROM pg_statistic", "denied"),
        ("SELECT * FROM pgward_mask.key", "denied"),
        ("SELECT pgward_mask.token('4111111111111111')", "denied"),
        ("CREATE VIEW public.sneaky AS SELECT * FROM customers", "denied"),
        ("CREATE FUNCTION public.sneaky() RETURNS text LANGUAGE sql AS 'SELECT 1::text'", "denied"),
        ("CREATE TRIGGER t BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION "
         "suppress_redundant_updates_trigger()", "denied"),
    ]

    def run_masked(self, cur, sql):
        """(ok, text of rows and notices) or (False, error) on a
        permission error; any other error fails the test."""
        try:
            cur.execute(sql)
            rows = cur.fetchall() if cur.description else []
            text = repr(rows) + "".join(cur.connection.notices)
            del cur.connection.notices[:]
            return True, text
        except (psycopg2.errors.InsufficientPrivilege, psycopg2.errors.WrongObjectType) as e:
            # The message only: its LINE echoes the statement's own literals.
            return False, str(e).splitlines()[0]

    def test_derivations(self):
        c = self.connect_masked()
        cur = c.cursor()
        for sql, want in self.DERIVATIONS:
            ok, text = self.run_masked(cur, sql)
            self.assert_no_leak(sql, text)
            self.assertEqual(ok, want == "ok", "%s: %s" % (sql, text[:300]))
        # pg_stats: the masked columns' rows are filtered out (column
        # privileges); pg_stats_ext: not the table's owner, so nothing.
        cur.execute("SELECT attname FROM pg_stats WHERE tablename = 'customers'")
        seen = {r[0] for r in cur.fetchall()}
        self.assertNotIn("card_number", seen)
        self.assertNotIn("email", seen)
        self.assertNotIn("name", seen)
        self.assertIn("id", seen)
        cur.execute("SELECT count(*) FROM pg_stats_ext")
        self.assertEqual(cur.fetchone()[0], 0)
        c.close()

    def test_inference_sees_masked_values(self):
        c = self.connect_masked()
        cur = c.cursor()
        cur.execute("SELECT count(*) FROM customers WHERE card_number LIKE '4111%'")
        self.assertEqual(cur.fetchone()[0], 0)
        cur.execute("SELECT count(*) FROM customers WHERE email LIKE 'alice%'")
        self.assertEqual(cur.fetchone()[0], 0)
        cur.execute("SELECT count(*) FROM customers WHERE card_number LIKE '%1111'")
        self.assertGreater(cur.fetchone()[0], 0)
        c.close()

    def test_own_objects_and_dynamic_sql(self):
        c = self.connect_masked()
        cur = c.cursor()
        steps = [
            "CREATE TEMP VIEW v AS SELECT * FROM customers",
            "SELECT * FROM v",
            "CREATE FUNCTION pg_temp.f() RETURNS SETOF text LANGUAGE sql "
            "AS 'SELECT card_number || email FROM customers'",
            "SELECT pg_temp.f()",
            "CREATE FUNCTION pg_temp.g() RETURNS SETOF text LANGUAGE plpgsql AS "
            "$$ BEGIN RETURN QUERY EXECUTE 'SELECT card_number FROM ' || 'customers'; END $$",
            "SELECT pg_temp.g()",
            "DO $$ DECLARE r record; BEGIN FOR r IN EXECUTE 'SELECT * FROM customers' "
            "LOOP RAISE NOTICE '%', r; END LOOP; END $$",
        ]
        for sql in steps:
            ok, text = self.run_masked(cur, sql)
            self.assertTrue(ok, "%s: %s" % (sql, text))
            self.assert_no_leak(sql, text)
        with self.assertRaises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("DO $$ DECLARE r record; BEGIN FOR r IN EXECUTE "
                        "'SELECT card_number FROM public.customers' LOOP "
                        "RAISE NOTICE '%', r; END LOOP; END $$")
        # Notifications carry what the role can read: masked values.
        cur.execute("LISTEN ch")
        cur.execute("SELECT pg_notify('ch', card_number || ' ' || email) FROM customers")
        cur.execute("DO $$ DECLARE r text; BEGIN FOR r IN SELECT card_number FROM customers "
                    "LOOP PERFORM pg_notify('ch', r); END LOOP; END $$")
        c.poll()
        payloads = [n.payload for n in c.notifies]
        self.assertGreater(len(payloads), len(self.raw))
        self.assert_no_leak("pg_notify", " ".join(payloads))
        # COPY: the view through a query; the table itself is refused.
        import io
        buf = io.StringIO()
        cur.copy_expert("COPY (SELECT * FROM customers) TO STDOUT WITH (FORMAT csv)", buf)
        self.assert_no_leak("COPY", buf.getvalue())
        self.assertIn("1111", buf.getvalue())
        with self.assertRaises(psycopg2.errors.InsufficientPrivilege):
            cur.copy_expert("COPY public.customers TO STDOUT", io.StringIO())
        c.close()

    def test_styles_equal_the_engine(self):
        """The views' values are the engine's for the same key: the masked
        role's rows against pgward-mask over the raw values as CSV."""
        c = self.connect_masked()
        cur = c.cursor()
        cur.execute("SELECT card_number, email, name FROM customers ORDER BY id")
        view_rows = [list(r) for r in cur.fetchall()]
        c.close()
        rules = os.path.join(tmp.name, "rules.json")
        with open(rules, "w") as f:
            json.dump({"columns": [
                {"table": "public.customers", "column": "card_number", "style": "partial", "keep": 4},
                {"table": "public.customers", "column": "email", "style": "email-domain"},
                {"table": "public.customers", "column": "name", "style": "token"}]}, f)
        data = "card_number\temail\tname\n" + "".join("\t".join(r) + "\n" for r in self.raw)
        p = subprocess.run([mask_exe(), "-r", rules, "-k", self.key, "-f", "tsv"],
                           input=data.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        engine_rows = [line.split("\t") for line in p.stdout.decode().splitlines()[1:]]
        self.assertEqual(view_rows, engine_rows)
        self.assertEqual(view_rows[-4][:2], ["*1234", "****@exämple.com"])
        self.assertEqual(view_rows[-3][:2], ["***", "********"])
        self.assertEqual(view_rows[-2][:2], ["****", "********"])
        self.assertTrue(all(r[2].startswith("tok_") and len(r[2]) == 20 for r in view_rows))

    # ---- check against a broken database ----

    def test_check_finds_broken_privileges(self):
        try:
            cluster.psql("GRANT SELECT (card_number) ON customers TO %s" % self.role, db="shop")
            rc, out, err = self.check()
            self.assertEqual(rc, 1, out + err)
            self.assertIn("public.customers.card_number readable by role %s" % self.role, out)
            cluster.psql("REVOKE SELECT (card_number) ON customers FROM %s;"
                         "GRANT SELECT ON customer_view TO %s" % (self.role, self.role), db="shop")
            rc, out, err = self.check()
            self.assertEqual(rc, 1)
            self.assertIn("view customer_view reads a masked table and is readable by role %s"
                          % self.role, out)
            cluster.psql("REVOKE SELECT ON customer_view FROM %s;"
                         "GRANT app_read TO %s" % (self.role, self.role), db="shop")
            rc, out, err = self.check()
            self.assertEqual(rc, 1)
            self.assertIn("is a member of role app_read", out)
            # Through app_read (SET ROLE), the raw column is readable too.
            self.assertIn("public.customers.card_number readable by role app_read", out)
        finally:
            self.provision()
        rc, out, err = self.check()
        self.assertEqual(rc, 0, out + err)

    def test_new_column_needs_a_rerun(self):
        try:
            cluster.psql("ALTER TABLE customers ADD COLUMN note text DEFAULT 'n'", db="shop")
            rc, out, err = self.check()
            self.assertEqual(rc, 1)
            self.assertIn("lacks column note", out)
            self.provision()
            rc, out, err = self.check()
            self.assertEqual(rc, 0, out + err)
            c = self.connect_masked()
            cur = c.cursor()
            cur.execute("SELECT note FROM customers LIMIT 1")
            self.assertEqual(cur.fetchone()[0], "n")
            c.close()
        finally:
            # The views depend on every column: dropping one drops them
            # (the masked roles are then refused, not unmasked) until
            # the script runs again.
            cluster.psql("ALTER TABLE customers DROP COLUMN IF EXISTS note CASCADE", db="shop")
            self.provision()

    def test_usage_errors(self):
        bad = os.path.join(tmp.name, "gw.conf")
        with open(bad, "w") as f:
            f.write("default allow\nmask mode gateway\nmask column customers.card_number "
                    "style redact\n")
        p = subprocess.run([mask_exe(), "sql", "-p", bad], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 100)
        self.assertIn("gateway", p.stderr.decode())
        glob = os.path.join(tmp.name, "glob.conf")
        with open(glob, "w") as f:
            f.write("default allow\nconnect shop app_* groups x\n"
                    "mask column public.customers.card_number style redact\n")
        p = subprocess.run([mask_exe(), "sql", "-p", glob], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 100)
        self.assertIn("--role", p.stderr.decode())
        p = subprocess.run([mask_exe(), "sql", "-p", glob, "--role", "app_write"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertIn("app_write_m_", p.stdout.decode())
