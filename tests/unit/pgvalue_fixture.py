#!/usr/bin/python3
"""Writes tests/unit/pgvalue_fixture.h: arrays and records as a real
PostgreSQL prints them (text) and sends them (binary), each also masked by
the server with the transform test_pgvalue.c applies (pgv_m below).

  /usr/bin/python3 tests/unit/pgvalue_fixture.py [OUT]

Starts a throwaway cluster (initdb/pg_ctl from /usr/lib/postgresql/*/bin,
as user postgres when run as root) unless PGHOST/PGPORT name a server.
"""
import glob
import re
import os
import shutil
import subprocess
import sys
import tempfile

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "pgvalue_fixture.h")

SETUP = r"""
CREATE FUNCTION pgv_m(v text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT CASE WHEN v = 'nullme' THEN NULL
              WHEN v = 'mkempty' THEN ''
              WHEN v = 'mknull' THEN 'NULL'
              WHEN octet_length(v) % 2 = 0 THEN '[' || v || ']'
              ELSE v || ' "\' END $$;
CREATE FUNCTION pgv_ma(a text[]) RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE r text[] := a; n int := array_ndims(a);
BEGIN
  IF n IS NULL THEN RETURN a; END IF;
  IF n = 1 THEN
    FOR i IN array_lower(a,1)..array_upper(a,1) LOOP r[i] := pgv_m(a[i]); END LOOP;
  ELSIF n = 2 THEN
    FOR i IN array_lower(a,1)..array_upper(a,1) LOOP
      FOR j IN array_lower(a,2)..array_upper(a,2) LOOP r[i][j] := pgv_m(a[i][j]); END LOOP;
    END LOOP;
  ELSIF n = 3 THEN
    FOR i IN array_lower(a,1)..array_upper(a,1) LOOP
      FOR j IN array_lower(a,2)..array_upper(a,2) LOOP
        FOR k IN array_lower(a,3)..array_upper(a,3) LOOP r[i][j][k] := pgv_m(a[i][j][k]); END LOOP;
      END LOOP;
    END LOOP;
  ELSE RAISE 'pgv_ma: % dimensions', n;
  END IF;
  RETURN r;
END $$;
CREATE DOMAIN pgv_d AS text;
CREATE TYPE pgv_c AS (a text, n int, arr text[], j jsonb);
CREATE TYPE pgv_n AS (c pgv_c, cs pgv_c[]);
CREATE TYPE pgv_cd AS (d pgv_d, v varchar, ds pgv_d[]);
CREATE TABLE pgv_t (a text, b text, c int);
ALTER TABLE pgv_t DROP COLUMN b;
CREATE TABLE pgv_cust (id int, name text, card text);
INSERT INTO pgv_cust VALUES (1, 'Ann "A" O''Neil', '4111111111111111'), (2, NULL, '5500 0000 0000 0004');
"""

TRICKY = (r"""'a', 'b c', '', NULL, 'NULL', 'null', 'NuLl', ' lead', 'trail ', 'q"uote', """
          r"""'back\slash', 'com,ma', 'br{ace}', 'pa(re)n', E'tab\there', E'new\nline', E'cr\rx', """
          r"""E'ff\fx', E'vt\x0bx', 'ünïcødé', '日本語', E'\u00a0nbsp', 'semi;colon', '"', '\', '{', '}', ',', ' ', 'x'""")

# name, expression, masked expression (None: pgv_ma(expression) for
# "text...", else the same), compare masked text (False: the text form
# has no types, so int fields would be masked too)?
CASES = [
    ("text tricky", f"ARRAY[{TRICKY}]::text[]", None, True),
    ("text empty array", "'{}'::text[]", None, True),
    ("text one empty string", "ARRAY['']", None, True),
    ("text 1x1", "'{{a}}'::text[]", None, True),
    ("text lower bound", "'[0:1]={a,b}'::text[]", None, True),
    ("text 2d bounds", "'[-3:-2][5:6]={{a,\"b b\"},{NULL,\"\"}}'::text[]", None, True),
    ("text 3d", "ARRAY[[['a','b'],['c','d']],[['e','f'],['g',NULL]]]", None, True),
    ("text 2d tricky", "ARRAY[['{x}','\"'],[NULL,'y z']]", None, True),
    ("text mask specials", "ARRAY['nullme','mkempty','mknull','ab','abc']", None, True),
    ("text long", "ARRAY(SELECT 'v' || g FROM generate_series(1, 200) g)", None, True),
    ("varchar", "ARRAY['a','b b','nullme']::varchar[]", "pgv_ma(ARRAY['a','b b','nullme'])::varchar[]", True),
    ("bpchar", "ARRAY['x ','y', 'zz']::bpchar[]", "ARRAY['x ','y', 'zz']::bpchar[]", True),
    ("name", "ARRAY['nm'::name, 'n m']", "ARRAY['nm'::name, 'n m']", True),
    ("jsonb", "ARRAY['{\"a\": \"b,c\"}'::jsonb, '[1, \"x\\\"y\"]'::jsonb, NULL]", "ARRAY['{\"a\": \"b,c\"}'::jsonb, '[1, \"x\\\"y\"]'::jsonb, NULL]", True),
    ("json", "ARRAY['{\"k\" : \"v w\"}'::json]", "ARRAY['{\"k\" : \"v w\"}'::json]", True),
    ("xml", "ARRAY['<a>x y</a>'::xml]", "ARRAY['<a>x y</a>'::xml]", True),
    ("box", "ARRAY['(1,1),(0,0)'::box, '(3,3),(2,2)'::box]", "ARRAY['(1,1),(0,0)'::box, '(3,3),(2,2)'::box]", True),
    ("numeric", "ARRAY[1.5, NULL, -2]::numeric[]", "ARRAY[1.5, NULL, -2]::numeric[]", True),
    ("int4 2d", "ARRAY[[1,2],[3,4]]::int4[]", "ARRAY[[1,2],[3,4]]::int4[]", True),
    ("date", "ARRAY['2020-01-01'::date, 'infinity']", "ARRAY['2020-01-01'::date, 'infinity']", True),
    ("bytea", "ARRAY['\\x00ff'::bytea]", "ARRAY['\\x00ff'::bytea]", True),
    ("domain array", "ARRAY['d1','d 2',NULL]::pgv_d[]", "pgv_ma(ARRAY['d1','d 2',NULL])::pgv_d[]", True),
    ("record array", "ARRAY[ROW('a b', 'c'), ROW(NULL, '\"q\"'), NULL]",
     "ARRAY[ROW(pgv_m('a b'), pgv_m('c')), ROW(NULL, pgv_m('\"q\"')), NULL]", True),
    ("record array mixed", "ARRAY[ROW(1, 'a b'), ROW(2, NULL)]",
     "ARRAY[ROW(1, pgv_m('a b')), ROW(2, NULL)]", False),
    ("composite array", "ARRAY[ROW('x', 1, ARRAY['p','q r',NULL], '{\"a\": 1}')::pgv_c, NULL, ROW(NULL,NULL,NULL,NULL)::pgv_c]",
     "ARRAY[ROW(pgv_m('x'), 1, pgv_ma(ARRAY['p','q r',NULL]), '{\"a\": 1}')::pgv_c, NULL, ROW(NULL,NULL,NULL,NULL)::pgv_c]", True),
    ("record text", f"ROW('a', 'b,c', NULL::text, '', 'x y', 'q\"uote', 'back\\slash', '(paren)', E'tab\\t', '{{x}}', 'ünï', 'x''y')",
     f"ROW(pgv_m('a'), pgv_m('b,c'), NULL::text, pgv_m(''), pgv_m('x y'), pgv_m('q\"uote'), pgv_m('back\\slash'), pgv_m('(paren)'), pgv_m(E'tab\\t'), pgv_m('{{x}}'), pgv_m('ünï'), pgv_m('x''y'))", False),
    ("record plain text", "ROW('a', 'b,c', NULL::text, '', 'x y', 'q\"uote', 'back\\slash', E'tab\\t', 'ünï')",
     "ROW(pgv_m('a'), pgv_m('b,c'), NULL::text, pgv_m(''), pgv_m('x y'), pgv_m('q\"uote'), pgv_m('back\\slash'), pgv_m(E'tab\\t'), pgv_m('ünï'))", True),
    ("record mixed", "ROW(1, 'a', NULL::int, 2.5, true)", "ROW(1, pgv_m('a'), NULL::int, 2.5, true)", False),
    ("record specials", "ROW('nullme', 'mkempty', 'mknull')", "ROW(pgv_m('nullme'), pgv_m('mkempty'), pgv_m('mknull'))", True),
    ("record one null", "ROW(NULL::text)", None, True),
    ("record one empty", "ROW('')", "ROW(pgv_m(''))", True),
    ("record nested", "ROW(ROW(ROW('deep', 'x y')), 'top')", "ROW(ROW(ROW(pgv_m('deep'), pgv_m('x y'))), pgv_m('top'))", True),
    ("record of arrays", "ROW(ARRAY['a','b c'], ARRAY[['p'],['q']])", "ROW(pgv_ma(ARRAY['a','b c']), pgv_ma(ARRAY[['p'],['q']]))", True),
    ("record of int arrays", "ROW(ARRAY[1,2], 'a')", "ROW(ARRAY[1,2], pgv_m('a'))", False),
    ("composite", "ROW('x', 1, ARRAY['p','q r',NULL], '{\"a\": [1, 2]}')::pgv_c",
     "ROW(pgv_m('x'), 1, pgv_ma(ARRAY['p','q r',NULL]), '{\"a\": [1, 2]}')::pgv_c", True),
    ("composite nested", "ROW(ROW('in', 2, ARRAY['z'], NULL)::pgv_c, ARRAY[ROW('e1',1,NULL,NULL)::pgv_c, ROW('e2',2,ARRAY['a\"b'],'{}')::pgv_c])::pgv_n",
     "ROW(ROW(pgv_m('in'), 2, pgv_ma(ARRAY['z']), NULL)::pgv_c, ARRAY[ROW(pgv_m('e1'),1,NULL,NULL)::pgv_c, ROW(pgv_m('e2'),2,pgv_ma(ARRAY['a\"b']),'{}')::pgv_c])::pgv_n", True),
    ("composite dropped column", "ROW('x y', 3)::pgv_t", "ROW(pgv_m('x y'), 3)::pgv_t", True),
    ("composite domains", "ROW('d', 'v w', ARRAY['e','f g'])::pgv_cd", "ROW(pgv_m('d'), pgv_m('v w'), pgv_ma(ARRAY['e','f g']))::pgv_cd", True),
    ("whole row", "(SELECT c FROM pgv_cust c WHERE id = 1)", "ROW(1, pgv_m('Ann \"A\" O''Neil'), pgv_m('4111111111111111'))::pgv_cust", True),
    ("whole row array", "(SELECT array_agg(c ORDER BY id) FROM pgv_cust c)",
     "ARRAY[ROW(1, pgv_m('Ann \"A\" O''Neil'), pgv_m('4111111111111111'))::pgv_cust, ROW(2, NULL, pgv_m('5500 0000 0000 0004'))::pgv_cust]", True),
    ("record jsonb", "ROW('{\"x\": \"y z\"}'::jsonb, 'k')", "ROW('{\"x\": \"y z\"}'::jsonb, pgv_m('k'))", False),
    # ROW('a') sends its column as type unknown (705): kept by the test's callback
    ("record unknown literals", "ROW('a', 'b c', NULL)", "ROW('a', 'b c', NULL)", False),
]

# Anonymous records: literals as text (not unknown), as pgv_m() returns.
TEXTY = {"record array", "record array mixed", "record text", "record plain text", "record mixed",
         "record specials", "record one empty", "record nested", "record of arrays",
         "record of int arrays", "record jsonb"}


def texty(expr):
    return re.sub(r"(E?'(?:[^']|'')*')(::)?",
                  lambda m: m[0] if m[2] else m[1] + "::text", expr)


def cstr(b):
    out = []
    for ch in b:
        if ch in (0x22, 0x5c):
            out.append("\\" + chr(ch))
        elif 0x20 <= ch < 0x7f and ch != 0x3f:	# no '?': trigraphs
            out.append(chr(ch))
        else:
            out.append("\\%03o" % ch)
    return '"' + "".join(out) + '"'


def start_cluster():
    bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    tmp = tempfile.mkdtemp(prefix="pgvalue-fixture-")
    os.chmod(tmp, 0o777)
    def run(cmd):
        if os.geteuid() == 0:
            cmd = ["su", "postgres", "-c", " ".join(cmd)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    run([f"{bindir}/initdb", "-D", f"{tmp}/data", "-E", "UTF8", "--locale=C.UTF-8", "-A", "trust", "-U", "postgres"])
    run([f"{bindir}/pg_ctl", "-D", f"{tmp}/data", "-w", "-l", f"{tmp}/log", "-o",
         f"'-k {tmp} -c listen_addresses= -p 55438'", "start"])
    def stop():
        run([f"{bindir}/pg_ctl", "-D", f"{tmp}/data", "-w", "-m", "fast", "stop"])
        shutil.rmtree(tmp, ignore_errors=True)
    return dict(host=tmp, port=55438, user="postgres", dbname="postgres"), stop


def main():
    stop = None
    if os.environ.get("PGPORT") or os.environ.get("PGHOST"):
        conn = psycopg2.connect("")
    else:
        params, stop = start_cluster()
        conn = psycopg2.connect(**params)
    try:
        write(conn)
    finally:
        conn.close()
        if stop:
            stop()


def write(conn):
    conn.set_client_encoding("UTF8")
    cur = conn.cursor()
    cur.execute("BEGIN")
    cur.execute(SETUP)
    cur.execute("SHOW server_version")
    version = cur.fetchone()[0]
    lines = [
        f"/* Generated by tests/unit/pgvalue_fixture.py from PostgreSQL {version}; do not edit. */",
        "", "struct pgv_case {", "\tconst char *name;", "\tuint32_t oid;",
        "\tconst char *text, *bin;\t/* as sent; bin in hex */",
        "\tconst char *mtext, *mbin;\t/* masked by the server (mtext NULL: not comparable) */",
        "};", "", "static const struct pgv_case pgv_cases[] = {"]
    for name, expr, masked, text_ok in CASES:
        if masked is None:
            masked = f"pgv_ma({expr})" if name.startswith("text") else expr
        if name in TEXTY:
            expr, masked = texty(expr), texty(masked)
        cur.execute(f"SELECT NULL, pg_typeof(x)::oid, (SELECT typcategory FROM pg_type WHERE oid = pg_typeof(x)) FROM (SELECT {expr} AS x) s")
        _, oid, cat = cur.fetchone()
        send = "array_send" if cat == "A" or oid == 2287 else "record_send"
        cur.execute(f"SELECT x::text, encode({send}(x), 'hex'), m::text, encode({send}(m), 'hex') "
                    f"FROM (SELECT {expr} AS x, {masked} AS m) s")
        text, binx, mtext, mbin = cur.fetchone()
        lines.append(f"\t{{ {cstr(name.encode())}, {oid},")
        lines.append(f"\t    {cstr(text.encode())},")
        lines.append(f"\t    \"{binx}\",")
        lines.append(f"\t    {cstr(mtext.encode()) if text_ok else 'NULL'},")
        lines.append(f"\t    \"{mbin}\" }},")
    lines += ["};", ""]

    # The user types, as the relay would learn them (docs in mask/pgvalue.h).
    cur.execute("""SELECT t.oid, t.typtype, t.typcategory, t.typelem, t.typbasetype, t.typrelid,
                          (SELECT e.typdelim FROM pg_type e WHERE e.oid = t.typelem)
                     FROM pg_type t WHERE t.typname LIKE '%pgv\\_%' ORDER BY t.oid""")
    lines += ["struct pgv_utype {", "\tuint32_t oid;", "\tint kind;", "\tuint32_t elem;",
              "\tchar delim;", "\tint nfields;", "\tuint32_t fields[8];", "};", "",
              "static const struct pgv_utype pgv_utypes[] = {"]
    for oid, typtype, cat, elem, base, relid, delim in cur.fetchall():
        if typtype == "d":
            lines.append(f"\t{{ {oid}, PGVALUE_DOMAIN, {base}, ',', -1, {{ 0 }} }},")
        elif cat == "A":
            lines.append(f"\t{{ {oid}, PGVALUE_ARRAY, {elem}, '{delim}', -1, {{ 0 }} }},")
        elif typtype == "c":
            cur.execute("SELECT atttypid FROM pg_attribute WHERE attrelid = %s AND attnum > 0 "
                        "AND NOT attisdropped ORDER BY attnum", (relid,))
            f = [r[0] for r in cur.fetchall()]
            lines.append(f"\t{{ {oid}, PGVALUE_RECORD, 0, ',', {len(f)}, {{ {', '.join(map(str, f))} }} }},")
    lines += ["};", ""]

    cur.execute("""SELECT t.oid, t.typtype, t.typcategory, t.typelem, e.typdelim
                     FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem
                    WHERE t.oid < 10000 ORDER BY t.oid""")
    lines += ["/* Every built-in type (pg_type, oid < 10000) and its kind. */",
              "static const struct { uint32_t oid; int kind; uint32_t elem; char delim; } pgv_server_types[] = {"]
    text = {19, 25, 114, 142, 705, 1042, 1043, 3802}
    for oid, typtype, cat, elem, delim in cur.fetchall():
        if oid in text:
            kind = "PGVALUE_TEXT"
        elif typtype == "c" or oid == 2249:
            kind = "PGVALUE_RECORD"
        elif (cat == "A" and oid not in (22, 30)) or oid in (2287, 2277, 5078):
            kind = "PGVALUE_ARRAY"
        else:
            kind = "PGVALUE_OTHER"
        if kind != "PGVALUE_ARRAY":
            elem, delim = 0, ","
        lines.append(f"\t{{ {oid}, {kind}, {elem}, '{delim or ','}' }},")
    lines += ["};", ""]
    cur.execute("ROLLBACK")
    with open(OUT, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {OUT}: {len(CASES)} cases")


if __name__ == "__main__":
    main()
