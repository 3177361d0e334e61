#include "relations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char relations_sql[] =
    "WITH RECURSIVE edge AS ("
    " SELECT DISTINCT r.ev_class AS rel, d.refobjid AS ref"
    " FROM pg_catalog.pg_rewrite r"
    " JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
    "  AND d.objid = r.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
    "  AND d.refobjid <> r.ev_class),"
    " reach(rel, ref) AS (SELECT rel, ref FROM edge"
    "  UNION SELECT reach.rel, edge.ref FROM reach JOIN edge ON edge.rel = reach.ref),"
    " rels AS (SELECT c.oid, n.nspname, c.relname, c.relkind IN ('r', 'p', 'f') AS is_table"
    "  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    "  WHERE (c.relkind = 'v' OR c.relhasrules)"
    "  AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    "  AND n.nspname NOT LIKE E'pgward\\\\_mask\\\\_%'),"
    " bases AS (SELECT rels.oid, bn.nspname OPERATOR(pg_catalog.||) '.'"
    "  OPERATOR(pg_catalog.||) b.relname AS base"
    "  FROM rels JOIN reach ON reach.rel = rels.oid"
    "  JOIN pg_catalog.pg_class b ON b.oid = reach.ref AND b.relkind IN ('r', 'p', 'f')"
    "  JOIN pg_catalog.pg_namespace bn ON bn.oid = b.relnamespace"
    "  UNION SELECT oid, nspname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) relname"
    "  FROM rels WHERE is_table),"
    " keyed AS ("
    "  SELECT nspname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) relname AS k, oid FROM rels"
    "  UNION ALL SELECT relname, oid FROM rels"
    "  UNION ALL SELECT 'pg_temp.' OPERATOR(pg_catalog.||) relname, oid FROM rels"
    "   WHERE nspname LIKE E'pg\\\\_temp\\\\_%'),"
    " shadow AS (SELECT c.relname AS k, n.nspname OPERATOR(pg_catalog.||) '.'"
    "  OPERATOR(pg_catalog.||) c.relname AS base"
    "  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    "  WHERE c.relkind IN ('r', 'p', 'f') AND c.relname IN (SELECT relname FROM rels)),"
    " pairs AS (SELECT keyed.k, bases.base FROM keyed LEFT JOIN bases ON bases.oid = keyed.oid"
    "  UNION SELECT k, base FROM shadow WHERE k IN (SELECT k FROM keyed))"
    " SELECT COALESCE(pg_catalog.json_object_agg(k, b)::text, '{}') FROM"
    " (SELECT k, pg_catalog.array_remove(pg_catalog.array_agg(DISTINCT base), NULL) AS b"
    "  FROM pairs GROUP BY k) m";

const char *
relations_query(void)
{
	return relations_sql;
}

json_t *
relations_parse(const char *text, size_t len)
{
	json_t *m = json_loadb(text, len, 0, NULL);
	if (!json_is_object(m)) {
		json_decref(m);
		return NULL;
	}
	const char *k;
	json_t *v;
	json_object_foreach(m, k, v) {
		size_t i;
		json_t *e;
		if (!json_is_array(v))
			goto bad;
		json_array_foreach(v, i, e)
			if (!json_is_string(e))
				goto bad;
	}
	return m;
bad:
	json_decref(m);
	return NULL;
}

/* An E'' literal: quotes and backslashes doubled, whatever
 * standard_conforming_strings says. */
static void
put_literal(FILE *f, const char *v)
{
	fputs("E'", f);
	for (const char *c = v; *c; c++) {
		if (*c == '\'' || *c == '\\')
			fputc(*c, f);
		fputc(*c, f);
	}
	fputc('\'', f);
}

static const char functions_head[] =
    "WITH RECURSIVE words(w) AS (SELECT pg_catalog.regexp_replace(x, E'([.^"
    "$*+?()\\\\[\\\\]{}|\\\\\\\\])', E'\\\\\\\\\\\\1', 'g') FROM (VALUES ";

static const char functions_tail[] =
    ") v(x)), f AS (SELECT p.oid, n.nspname, p.proname, p.prosrc, l.lanname"
    "  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = "
    "p.pronamespace  JOIN pg_catalog.pg_language l ON l.oid = p.prolang  WH"
    "ERE n.nspname NOT IN ('pg_catalog', 'information_schema')  AND n.nspna"
    "me NOT LIKE E'pgward\\\\_mask\\\\_%'  AND NOT EXISTS (SELECT 1 FROM pg_cat"
    "alog.pg_depend d   WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog."
    "regclass AND d.objid = p.oid   AND d.deptype = 'e')), tainted(oid, nsp"
    "name, proname) AS (  SELECT oid, nspname, proname FROM f WHERE lanname"
    " NOT IN ('sql', 'plpgsql')   OR COALESCE(prosrc, '') = ''   OR prosrc "
    "OPERATOR(pg_catalog.~*) E'\\\\mexecute\\\\M'   OR EXISTS (SELECT 1 FROM wo"
    "rds WHERE f.prosrc OPERATOR(pg_catalog.~*)    (E'\\\\m' OPERATOR(pg_cata"
    "log.||) words.w OPERATOR(pg_catalog.||) E'\\\\M'))  UNION SELECT f.oid, "
    "f.nspname, f.proname FROM f, tainted t   WHERE f.prosrc OPERATOR(pg_ca"
    "talog.~*) (E'\\\\m' OPERATOR(pg_catalog.||)   pg_catalog.regexp_replace("
    "t.proname, E'([.^$*+?()\\\\[\\\\]{}|\\\\\\\\])', E'\\\\\\\\\\\\1', 'g')   OPERATOR(p"
    "g_catalog.||) E'\\\\M')) SELECT COALESCE(pg_catalog.json_agg(DISTINCT x)"
    "::text, '[]') FROM (SELECT nspname OPERATOR(pg_catalog.||) '.' OPERATO"
    "R(pg_catalog.||) proname AS x  FROM tainted UNION SELECT proname FROM "
    "tainted) s";

char *
relations_functions_query(json_t *mask_rules)
{
	json_t *cols = json_object_get(mask_rules, "columns");
	if (json_array_size(cols) == 0)
		return NULL;
	char *sql = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&sql, &len);
	if (f == NULL)
		return NULL;
	fputs(functions_head, f);
	size_t i;
	json_t *c;
	int n = 0;
	json_array_foreach(cols, i, c) {
		const char *words[2] = { json_string_value(json_object_get(c, "table")),
			json_string_value(json_object_get(c, "column")) };
		for (int k = 0; k < 2; k++) {
			if (words[k] == NULL)
				continue;
			const char *dot = strrchr(words[k], '.');
			fputs(n++ > 0 ? ", (" : "(", f);
			put_literal(f, dot ? dot + 1 : words[k]);
			fputc(')', f);
		}
	}
	fputs(functions_tail, f);
	if (fclose(f) != 0 || n == 0) {
		free(sql);
		return NULL;
	}
	return sql;
}

json_t *
relations_functions_parse(const char *text, size_t len)
{
	json_t *a = json_loadb(text, len, 0, NULL);
	size_t i;
	json_t *e;
	if (!json_is_array(a))
		goto bad;
	json_array_foreach(a, i, e)
		if (!json_is_string(e))
			goto bad;
	return a;
bad:
	json_decref(a);
	return NULL;
}
