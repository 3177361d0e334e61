"""pgward-mask, the stream tool: JSON lines (named fields and detectors over
every string), CSV and TSV (columns by name, detectors on every field), a
policy file as the rules, the key file's permissions, malformed lines
(dropped with one line on stderr, exit status 1), bad usage (100)."""

import json
import os
import subprocess
import tempfile

import pgward_env
from pgward_testing import TimedTestCase

CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"
RULES = {
    "columns": [{"table": "public.customers", "column": "card_number",
                 "style": "partial", "keep": 4}],
    "patterns": [{"column": "*email*", "style": "email-domain"},
                 {"column": "cust_token", "style": "token"}],
    "regexes": [{"name": "employee-id", "pattern": "E-[0-9]{6}"}],
    "detect": {"on": "all-text", "style": "redact"},
}


def mask_exe():
    return os.path.join(pgward_env.build_dir(), "bin", "pgward-mask")


class MaskCliTest(TimedTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.TemporaryDirectory()
        self.rules = os.path.join(self.tmp.name, "rules.json")
        with open(self.rules, "w") as f:
            json.dump(RULES, f)
        self.key = os.path.join(self.tmp.name, "mask.key")
        fd = os.open(self.key, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"k" * 32)
        os.close(fd)

    def tearDown(self):
        self.tmp.cleanup()
        super().tearDown()

    def run_mask(self, args, data):
        p = subprocess.run([mask_exe()] + args, input=data.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_jsonl_fields_and_detectors(self):
        recs = [
            {"user": "ann", "sql": "select * from t where card = '%s'" % CARD,
             "params": ["bob@example.com", IBAN, "078-05-1120", "E-123456", 7],
             "card_number": "4111111111111111"},
            {"user": "bob", "sql": "select 1", "nested": {"note": "mail a.b@c.io"}},
        ]
        data = "".join(json.dumps(r) + "\n" for r in recs)
        rc, out, err = self.run_mask(["--rules", self.rules, "--key", self.key,
                                      "--fields", "card_number"], data)
        self.assertEqual(rc, 0, err)
        lines = [json.loads(l) for l in out.splitlines()]
        self.assertEqual(len(lines), 2)
        a, b = lines
        self.assertEqual(a["card_number"], "************1111")
        self.assertEqual(a["sql"], "select * from t where card = '********'")
        self.assertEqual(a["params"], ["********"] * 4 + [7])
        self.assertEqual(a["user"], "ann")
        self.assertEqual(b["nested"]["note"], "mail ********")
        for raw in ("4111", "bob@", "DE89", "078-05", "E-123456"):
            self.assertNotIn(raw, out.replace("1111\"", ""))

    def test_jsonl_malformed_line(self):
        data = '{"a":"4111111111111111"}\n{"a": 4111111111111111 oops\n{"b":"x@y.com"}\n'
        rc, out, err = self.run_mask(["--rules", self.rules, "--key", self.key], data)
        self.assertEqual(rc, 1)
        self.assertEqual(out.splitlines(), ['{"a":"********"}', '{"b":"********"}'])
        self.assertIn("line 2:", err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertNotIn("4111111111111111", out)

    def test_csv(self):
        data = ('id,card_number,work_email,cust_token,note\r\n'
                '1,4111111111111111,a@b.com,c1,"call me, card %s"\r\n'
                '2,"5500 0000 0000 0004",x@y.org,c1,plain\n'
                '3,"unterminated,z\n' % CARD)
        rc, out, err = self.run_mask(["-r", self.rules, "-k", self.key, "-f", "csv"], data)
        self.assertEqual(rc, 1, err)
        rows = out.splitlines()
        self.assertEqual(rows[0], "id,card_number,work_email,cust_token,note")
        self.assertEqual(len(rows), 3, out)
        f1 = rows[1].split(",", 4)
        f2 = rows[2].split(",", 4)
        self.assertEqual(f1[1], "************1111")
        self.assertEqual(f1[2], "****@b.com")
        self.assertTrue(f1[3].startswith("tok_") and f1[3] == f2[3])
        self.assertEqual(f1[4], '"call me, card ********"')
        self.assertEqual(f2[1], '"***************0004"')
        self.assertIn("line 4:", err)
        self.assertNotIn("4111", out.replace("*1111", ""))

    def test_tsv(self):
        data = "name\tnote\nann\tssn 123-45-6789 iban %s\n" % IBAN
        rc, out, err = self.run_mask(["-r", self.rules, "-k", self.key, "-f", "tsv"], data)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "name\tnote\nann\tssn ******** iban ********\n")

    def test_policy_as_rules(self):
        pol = os.path.join(self.tmp.name, "policy.conf")
        with open(pol, "w") as f:
            f.write("default deny\n"
                    "mask column public.customers.card_number style partial keep 4 exempt pci-auditor\n"
                    "mask detect all-text detectors card,regex:emp style redact groups analysts\n"
                    "mask regex emp \"E-[0-9]{6}\"\n")
        rc, out, err = self.run_mask(["--rules", pol, "--format", "csv"],
                                     "card_number,x\n4111111111111111,E-123456 a@b.com\n")
        self.assertEqual(rc, 0, err)
        # No exemptions; only the listed detectors.
        self.assertEqual(out, "card_number,x\n************1111,******** a@b.com\n")

    def test_key_must_be_private(self):
        os.chmod(self.key, 0o644)
        rc, out, err = self.run_mask(["--rules", self.rules, "--key", self.key], "")
        self.assertEqual(rc, 100)
        self.assertIn("--key", err)

    def test_usage_errors(self):
        self.assertEqual(self.run_mask([], "")[0], 100)
        self.assertEqual(self.run_mask(["--rules", self.rules, "--format", "xml"], "")[0], 100)
        # token style without a key: the rules are refused.
        rc, _, err = self.run_mask(["--rules", self.rules], "")
        self.assertEqual(rc, 100)
        self.assertIn("tokenization key", err)
        bad = os.path.join(self.tmp.name, "bad.json")
        with open(bad, "w") as f:
            f.write('{"columns": [{"table": "t"}]}')
        rc, _, err = self.run_mask(["--rules", bad], "")
        self.assertEqual(rc, 100)
        self.assertIn("columns[0]", err)
        rc, out, _ = self.run_mask(["-h"], "")
        self.assertEqual(rc, 0)
        self.assertIn("usage: pgward-mask", out)
