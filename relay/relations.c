#include "relations.h"

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
    "  AND n.nspname NOT LIKE 'pgward\\_mask\\_%'),"
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
    "   WHERE nspname LIKE 'pg\\_temp\\_%'),"
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
