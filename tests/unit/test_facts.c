/* filter/facts: statement facts from the libpg_query parse tree. */

#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "filter/facts.h"

/* libpg_query 15-4.0.0 leaks the raw parser's stderr buffer (one strdup)
 * when pg_query_parse_plpgsql() fails to compile a body: the pointer is
 * never returned, so the caller cannot free it. */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:pg_query_raw_parse\n";
}

/* ---- helpers ---------------------------------------------------------- */

static struct facts_result
ok(const char *sql)
{
	struct facts_result r = facts_of_sql(sql);

	ck_assert_msg(r.error == NULL, "%s: %s", sql, r.error ? r.error : "");
	ck_assert_ptr_nonnull(r.statements);
	return r;
}

static json_t *
nth(struct facts_result *r, size_t i)
{
	ck_assert_msg(i < json_array_size(r->statements),
		      "no fact %zu (have %zu)", i, json_array_size(r->statements));
	return json_array_get(r->statements, i);
}

static const char *
str(json_t *f, const char *key)
{
	const char *s = json_string_value(json_object_get(f, key));

	return s ? s : "(absent)";
}

/* The only fact of this kind and via; fails when there is none or several. */
static json_t *
find(struct facts_result *r, const char *kind, const char *via)
{
	json_t *hit = NULL, *f;
	size_t i, n = 0;

	json_array_foreach(r->statements, i, f)
		if (strcmp(str(f, "kind"), kind) == 0 && strcmp(str(f, "via"), via) == 0) {
			hit = f;
			n++;
		}
	ck_assert_msg(n == 1, "%zu facts of kind %s via %s", n, kind, via);
	return hit;
}

/* The array f[key] is exactly the given strings (NULL-terminated), in order. */
static void
list_is(json_t *f, const char *key, ...)
{
	json_t *a = json_object_get(f, key);
	va_list ap;
	const char *s;
	size_t i = 0;

	ck_assert_msg(json_is_array(a), "%s is not an array", key);
	va_start(ap, key);
	while ((s = va_arg(ap, const char *)) != NULL) {
		ck_assert_msg(i < json_array_size(a), "%s: missing %s", key, s);
		ck_assert_str_eq(json_string_value(json_array_get(a, i)), s);
		i++;
	}
	va_end(ap);
	ck_assert_msg(json_array_size(a) == i, "%s: %zu entries, expected %zu",
		      key, json_array_size(a), i);
}

static int
opaque(json_t *f)
{
	return json_is_true(json_object_get(f, "opaque"));
}

/* The WHERE class of the only update/delete fact of sql. */
static void
where_is(const char *sql, const char *kind, const char *via, const char *want)
{
	struct facts_result r = ok(sql);
	json_t *f = find(&r, kind, via);

	ck_assert_msg(strcmp(str(f, "where"), want) == 0, "%s: where %s, want %s",
		      sql, str(f, "where"), want);
	facts_result_free(&r);
}

/* ---- DELETE / UPDATE without WHERE ------------------------------------ */

START_TEST(delete_plain)
{
	struct facts_result r = ok("DELETE FROM orders");
	json_t *f;

	ck_assert_uint_eq(json_array_size(r.statements), 1);
	f = nth(&r, 0);
	ck_assert_str_eq(str(f, "kind"), "delete");
	ck_assert_str_eq(str(f, "via"), "top");
	ck_assert_str_eq(str(f, "where"), "none");
	list_is(f, "tables_written", "orders", NULL);
	list_is(f, "tables_read", NULL);
	ck_assert(!opaque(f));
	facts_result_free(&r);
}
END_TEST

START_TEST(delete_comments_case_whitespace)
{
	where_is("/* WHERE id = 1 */ DELETE -- WHERE id = 1\nFROM orders -- WHERE id = 1\n",
		 "delete", "top", "none");
	where_is("\n\t  dElEtE\n\n   FrOm\tOrDeRs   ;  ", "delete", "top", "none");
	where_is("delete/**/from/**/orders", "delete", "top", "none");

	struct facts_result r = ok("\n\t  dElEtE\n\n   FrOm\tpUbLiC.OrDeRs   ;  ");
	list_is(nth(&r, 0), "tables_written", "public.orders", NULL);
	facts_result_free(&r);
}
END_TEST

START_TEST(delete_in_multi_statement)
{
	struct facts_result r = ok("select 1; delete from orders; select 'x; delete from y'");

	ck_assert_uint_eq(json_array_size(r.statements), 3);
	ck_assert_str_eq(str(nth(&r, 0), "kind"), "select");
	ck_assert_str_eq(str(nth(&r, 1), "kind"), "delete");
	ck_assert_str_eq(str(nth(&r, 1), "where"), "none");
	list_is(nth(&r, 1), "tables_written", "orders", NULL);
	ck_assert_str_eq(str(nth(&r, 2), "kind"), "select");
	facts_result_free(&r);
}
END_TEST

START_TEST(delete_in_cte)
{
	struct facts_result r = ok("WITH d AS (DELETE FROM orders RETURNING *) "
				   "SELECT count(*) FROM d");
	json_t *top, *del;

	ck_assert_uint_eq(json_array_size(r.statements), 2);
	top = nth(&r, 0);
	ck_assert_str_eq(str(top, "kind"), "select");
	list_is(top, "tables_read", NULL);	/* d is the CTE, not a table */
	del = find(&r, "delete", "cte");
	ck_assert_str_eq(str(del, "where"), "none");
	ck_assert_int_eq(json_integer_value(json_object_get(del, "parent")), 0);
	list_is(del, "tables_written", "orders", NULL);
	facts_result_free(&r);
}
END_TEST

START_TEST(delete_in_do_block)
{
	struct facts_result r = ok("DO $$ BEGIN DELETE FROM orders; END $$");
	json_t *d = find(&r, "do", "top");
	json_t *del = find(&r, "delete", "do");

	ck_assert(!opaque(d));
	ck_assert_str_eq(str(del, "where"), "none");
	list_is(del, "tables_written", "orders", NULL);
	facts_result_free(&r);

	where_is("DO LANGUAGE plpgsql 'begin if true then delete from orders where id = 1; end if; end'",
		 "delete", "do", "present");
	/* constants read from the nested text (the DO body) */
	where_is("DO $$ BEGIN DELETE FROM orders WHERE -1 < 0; END $$", "delete", "do", "trivial");
	where_is("DO $$ BEGIN DELETE FROM orders WHERE -1 = 0; END $$", "delete", "do", "present");
	where_is("DO $x$ DECLARE n int; BEGIN FOR n IN SELECT 1 LOOP "
		 "UPDATE orders SET a = n; END LOOP; END $x$", "update", "do", "none");
}
END_TEST

START_TEST(delete_via_prepare)
{
	struct facts_result r = ok("PREPARE p(int) AS DELETE FROM orders");

	ck_assert_str_eq(str(nth(&r, 0), "kind"), "prepare");
	ck_assert_str_eq(str(find(&r, "delete", "prepare"), "where"), "none");
	facts_result_free(&r);
	where_is("prepare p(int) as delete from orders where id = $1", "delete",
		 "prepare", "present");
}
END_TEST

START_TEST(delete_via_explain)
{
	struct facts_result r = ok("EXPLAIN ANALYZE DELETE FROM orders");
	json_t *e = find(&r, "explain", "top");

	ck_assert(json_is_true(json_object_get(e, "explain_analyze")));
	ck_assert_str_eq(str(find(&r, "delete", "explain"), "where"), "none");
	facts_result_free(&r);

	r = ok("EXPLAIN (ANALYZE, BUFFERS) DELETE FROM orders");
	ck_assert(json_is_true(json_object_get(nth(&r, 0), "explain_analyze")));
	facts_result_free(&r);

	r = ok("EXPLAIN DELETE FROM orders");
	ck_assert(json_is_false(json_object_get(nth(&r, 0), "explain_analyze")));
	ck_assert_str_eq(str(find(&r, "delete", "explain"), "where"), "none");
	facts_result_free(&r);

	r = ok("EXPLAIN (ANALYZE off) DELETE FROM orders");
	ck_assert(json_is_false(json_object_get(nth(&r, 0), "explain_analyze")));
	facts_result_free(&r);
}
END_TEST

static const char *const trivial_wheres[] = {
	"true", "TRUE", "1=1", "1 = 1", "'a'='a'", "NOT false", "(true)", "((1=1))",
	"1<2", "2 >= 1", "TRUE AND TRUE", "id = 5 OR true", "id = 5 OR 1=1",
	"'t'", "'yes'::boolean", "1::bool", "NOT (1 = 2)", "1 + 1 = 2",
	"null IS NULL", "1 IN (3, 2, 1)", "2 BETWEEN 1 AND 3", "true IS TRUE",
	"1 <> 2", "null IS NOT DISTINCT FROM null", "'1'::int = 1", "-1 < 0",
	"0 = 0", "-5 = -5", "- 5 < 0", "-0.5 < 0",
	/* an expression equal to itself, also through casts */
	"id = id", "o.id = o.id", "orders.x = orders.x", "id::text = id",
	"lower(v) = lower(v)", "id >= id", "id IS NOT DISTINCT FROM id",
	"(id + 1) = (id + 1)", "id IN (1, id)",
	/* complementary pairs */
	"x IS NOT NULL OR x IS NULL", "x IS NULL OR id = 3 OR x IS NOT NULL",
	"x OR NOT x", "NOT x OR x", "id = 1 OR id <> 1", "id < 5 OR id >= 5",
	"x IS TRUE OR x IS NOT TRUE",
	/* folding, OR with a trivial arm, AND of trivial arms */
	"2 > 1", "1 = 1 AND true", "id = 7 OR id = id", "id = id AND 1 = 1",
	"NOT (id <> id)", "COALESCE(true, x)", "COALESCE(null, true)",
	"(id = id)::bool", "v LIKE '%'", "NOT NOT true",
};

START_TEST(delete_trivial_where)
{
	char sql[256];

	snprintf(sql, sizeof sql, "DELETE FROM orders WHERE %s", trivial_wheres[_i]);
	where_is(sql, "delete", "top", "trivial");
}
END_TEST

START_TEST(update_trivial_where)
{
	char sql[256];

	snprintf(sql, sizeof sql, "UPDATE orders SET total = 0 WHERE %s", trivial_wheres[_i]);
	where_is(sql, "update", "top", "trivial");
}
END_TEST

static const char *const present_wheres[] = {
	"id = 1", "false", "1=2", "NOT true", "id = 5 OR 1=2", "true AND id = 1",
	"null", "id IS NULL", "'a' < 'b'", "1 IN (2, 3)", "EXISTS (SELECT 1)",
	"f(1)", "CURRENT OF c", "1/0 = 1", "1 = null",
	"-1 = 0", "-7 > 0", "0 < -3",
	/* outside the net (docs/statement-facts.md) */
	"id > -1", "id >= 0", "id <> -1", "length(v) >= 0", "a.id = b.id",
	"o.id = id", "id = id + 0", "id = 1 OR id <> 2", "COALESCE(x, true)",
	"id IN (SELECT id FROM orders)", "id = id AND id = 3", "x OR NOT y",
	"id < 5 OR id > 5", "v LIKE '%a'", "id = id OPERATOR(public.=) id",
	"CASE WHEN true THEN true END",
};

START_TEST(delete_present_where)
{
	char sql[256];

	snprintf(sql, sizeof sql, "DELETE FROM orders WHERE %s", present_wheres[_i]);
	where_is(sql, "delete", "top", "present");
}
END_TEST

START_TEST(update_without_where)
{
	where_is("UPDATE orders SET total = 0", "update", "top", "none");
	where_is("/* x */ uPdAtE\n\torders -- WHERE id = 1\n SET total = 0", "update", "top", "none");
	where_is("WITH u AS (UPDATE orders SET total = 0 RETURNING id) SELECT * FROM u",
		 "update", "cte", "none");
	where_is("DO $$ BEGIN UPDATE orders SET total = 0; END $$", "update", "do", "none");
	where_is("PREPARE p AS UPDATE orders SET total = 0", "update", "prepare", "none");
	where_is("EXPLAIN ANALYZE UPDATE orders SET total = 0", "update", "explain", "none");
	where_is("UPDATE orders SET total = 0 WHERE id = 1", "update", "top", "present");
	where_is("UPDATE orders o SET total = c.x FROM customers c WHERE o.cid = c.id",
		 "update", "top", "present");

	struct facts_result r = ok("select 1; UPDATE orders SET total = 0; commit");
	ck_assert_uint_eq(json_array_size(r.statements), 3);
	ck_assert_str_eq(str(nth(&r, 1), "where"), "none");
	ck_assert_ptr_null(json_object_get(nth(&r, 0), "where"));
	facts_result_free(&r);
}
END_TEST

/* ---- tables --------------------------------------------------------- */

START_TEST(tables_read_joins_subqueries)
{
	struct facts_result r = ok(
		"SELECT o.id FROM public.orders o JOIN customers AS c ON o.cid = c.id "
		"LEFT JOIN s.notes n USING (id) "
		"WHERE o.id IN (SELECT order_id FROM shop.items) "
		"AND EXISTS (SELECT 1 FROM audit a WHERE a.id = o.id) "
		"AND o.x > (SELECT max(x) FROM (SELECT x FROM deep) q)");
	json_t *f = nth(&r, 0);

	ck_assert_uint_eq(json_array_size(r.statements), 1);
	list_is(f, "tables_read", "public.orders", "customers", "s.notes",
		"shop.items", "audit", "deep", NULL);
	list_is(f, "tables_written", NULL);
	facts_result_free(&r);
}
END_TEST

START_TEST(tables_written)
{
	struct facts_result r = ok("INSERT INTO s.orders (id) SELECT id FROM staging.o");

	list_is(nth(&r, 0), "tables_written", "s.orders", NULL);
	list_is(nth(&r, 0), "tables_read", "staging.o", NULL);
	facts_result_free(&r);

	r = ok("UPDATE orders o SET total = c.t FROM customers c WHERE c.id = o.cid");
	list_is(nth(&r, 0), "tables_written", "orders", NULL);
	list_is(nth(&r, 0), "tables_read", "customers", NULL);
	facts_result_free(&r);

	r = ok("DELETE FROM orders USING customers c WHERE c.id = orders.cid "
	       "AND c.id IN (SELECT id FROM banned)");
	list_is(nth(&r, 0), "tables_written", "orders", NULL);
	list_is(nth(&r, 0), "tables_read", "customers", "banned", NULL);
	facts_result_free(&r);

	r = ok("MERGE INTO orders t USING incoming s ON t.id = s.id "
	       "WHEN MATCHED THEN DELETE");
	ck_assert_str_eq(str(nth(&r, 0), "kind"), "merge");
	list_is(nth(&r, 0), "tables_written", "orders", NULL);
	list_is(nth(&r, 0), "tables_read", "incoming", NULL);
	facts_result_free(&r);

	r = ok("TRUNCATE a, s.b");
	ck_assert_str_eq(str(nth(&r, 0), "kind"), "truncate");
	list_is(nth(&r, 0), "tables_written", "a", "s.b", NULL);
	facts_result_free(&r);

	r = ok("SELECT * INTO copy_of FROM orders");
	list_is(nth(&r, 0), "tables_written", "copy_of", NULL);
	list_is(nth(&r, 0), "tables_read", "orders", NULL);
	facts_result_free(&r);
}
END_TEST

START_TEST(cte_names_are_not_tables)
{
	struct facts_result r = ok("WITH recent AS (SELECT * FROM orders), "
				   "big AS (SELECT * FROM recent WHERE total > 9) "
				   "SELECT * FROM big JOIN recent USING (id)");

	list_is(nth(&r, 0), "tables_read", "orders", NULL);
	facts_result_free(&r);

	/* non-recursive: the CTE's own query sees the real table t */
	r = ok("WITH t AS (SELECT * FROM t) SELECT * FROM t");
	list_is(nth(&r, 0), "tables_read", "t", NULL);
	facts_result_free(&r);

	r = ok("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a, b");
	list_is(nth(&r, 0), "tables_read", "b", NULL);
	facts_result_free(&r);

	r = ok("WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) "
	       "SELECT * FROM r");
	list_is(nth(&r, 0), "tables_read", NULL);
	facts_result_free(&r);

	/* a schema-qualified name is never a CTE */
	r = ok("WITH orders AS (SELECT 1) SELECT * FROM public.orders, orders");
	list_is(nth(&r, 0), "tables_read", "public.orders", NULL);
	facts_result_free(&r);

	/* out of scope: the CTE of a subquery is not visible outside it */
	r = ok("SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) q, x");
	list_is(nth(&r, 0), "tables_read", "x", NULL);
	facts_result_free(&r);

	/* a data-modifying CTE sees the earlier CTE names */
	r = ok("WITH old AS (SELECT id FROM orders WHERE total = 0), "
	       "d AS (DELETE FROM orders WHERE id IN (SELECT id FROM old) RETURNING *) "
	       "INSERT INTO archive SELECT * FROM d");
	ck_assert_str_eq(str(nth(&r, 0), "kind"), "insert");
	list_is(nth(&r, 0), "tables_read", "orders", NULL);
	list_is(nth(&r, 0), "tables_written", "archive", NULL);
	list_is(find(&r, "delete", "cte"), "tables_read", NULL);
	ck_assert_str_eq(str(find(&r, "delete", "cte"), "where"), "present");
	facts_result_free(&r);
}
END_TEST

/* ---- functions and settings ------------------------------------------ */

START_TEST(functions_called)
{
	struct facts_result r = ok("SELECT pg_sleep(10)");

	list_is(nth(&r, 0), "functions", "pg_sleep", NULL);
	facts_result_free(&r);

	r = ok("select upper(lower(md5(name))) from t where length(x) > abs(-1)");
	list_is(nth(&r, 0), "functions", "upper", "lower", "md5", "length", "abs", NULL);
	facts_result_free(&r);

	r = ok("SELECT * FROM generate_series(1, pg_catalog.pg_sleep(1)::int)");
	list_is(nth(&r, 0), "functions", "generate_series", "pg_catalog.pg_sleep", NULL);
	facts_result_free(&r);

	r = ok("DELETE FROM t WHERE id = (SELECT f(1))");
	list_is(nth(&r, 0), "functions", "f", NULL);
	facts_result_free(&r);

	r = ok("CALL s.proc(pg_sleep(1))");
	ck_assert_str_eq(str(nth(&r, 0), "kind"), "call");
	list_is(nth(&r, 0), "functions", "s.proc", "pg_sleep", NULL);
	facts_result_free(&r);

	r = ok("EXECUTE p(pg_sleep(1))");
	ck_assert_str_eq(str(nth(&r, 0), "kind"), "execute");
	list_is(nth(&r, 0), "functions", "pg_sleep", NULL);
	facts_result_free(&r);
}
END_TEST

START_TEST(settings_set_reset_set_config)
{
	struct facts_result r = ok("SET pgward.\"user\" = 'mallory'");

	ck_assert_str_eq(str(nth(&r, 0), "kind"), "set");
	list_is(nth(&r, 0), "settings", "pgward.user", NULL);
	facts_result_free(&r);

	r = ok("SET SESSION PGWARD.\"user\" TO 'x'; set local Search_Path = x");
	list_is(nth(&r, 0), "settings", "pgward.user", NULL);
	list_is(nth(&r, 1), "settings", "search_path", NULL);
	facts_result_free(&r);

	r = ok("RESET pgward.\"user\"");
	ck_assert_str_eq(str(nth(&r, 0), "kind"), "reset");
	list_is(nth(&r, 0), "settings", "pgward.user", NULL);
	facts_result_free(&r);

	r = ok("RESET ALL");
	list_is(nth(&r, 0), "settings", "all", NULL);
	facts_result_free(&r);

	r = ok("SELECT set_config('pgward.user', 'mallory', false)");
	list_is(nth(&r, 0), "settings", "pgward.user", NULL);
	list_is(nth(&r, 0), "functions", "set_config", NULL);
	ck_assert_str_eq(r.cache, "text");
	facts_result_free(&r);

	r = ok("select pg_catalog.set_config('PGWARD.USER'::text, 'x', true)");
	list_is(nth(&r, 0), "settings", "pgward.user", NULL);
	list_is(nth(&r, 0), "functions", "pg_catalog.set_config", NULL);
	facts_result_free(&r);

	r = ok("select set_config(n, 'x', false) from names");
	ck_assert(opaque(nth(&r, 0)));
	ck_assert_str_eq(str(nth(&r, 0), "opaque_reason"),
			 "set_config() with a non-constant name");
	ck_assert_str_eq(r.cache, "text");
	facts_result_free(&r);

	r = ok("DO $$ BEGIN PERFORM set_config('pgward.user', 'x', false); END $$");
	list_is(find(&r, "select", "do"), "settings", "pgward.user", NULL);
	facts_result_free(&r);

	r = ok("ALTER SYSTEM SET work_mem = '1GB'");
	list_is(nth(&r, 0), "settings", "work_mem", NULL);
	facts_result_free(&r);

	/* "user" is reserved: the server rejects this too */
	r = facts_of_sql("SET pgward.user = 'mallory'");
	ck_assert_ptr_nonnull(r.error);
	ck_assert_ptr_null(r.statements);
	facts_result_free(&r);
}
END_TEST

/* ---- DDL, GRANT, COPY, transactions ------------------------------------- */

static const struct {
	const char *sql, *kind, *verb, *object, *name, *written;
} ddl_cases[] = {
	{ "CREATE TABLE s.t (id int)", "ddl", "create", "table", "s.t", "s.t" },
	{ "DROP TABLE IF EXISTS s.t CASCADE", "ddl", "drop", "table", "s.t", "s.t" },
	{ "ALTER TABLE t ADD COLUMN c int", "ddl", "alter", "table", "t", "t" },
	{ "ALTER TABLE t RENAME TO u", "ddl", "alter", "table", "t", "t" },
	{ "CREATE INDEX i ON t (a)", "ddl", "create", "index", "i", "t" },
	{ "DROP INDEX i", "ddl", "drop", "index", "i", NULL },
	{ "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'", "ddl",
	  "create", "function", "f", NULL },
	{ "CREATE PROCEDURE p() LANGUAGE sql AS 'select 1'", "ddl", "create",
	  "procedure", "p", NULL },
	{ "DROP FUNCTION f(int)", "ddl", "drop", "function", "f", NULL },
	{ "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
	  "ddl", "create", "trigger", "tr", "t" },
	{ "CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING", "ddl", "create",
	  "rule", "r", "t" },
	{ "CREATE VIEW v AS SELECT * FROM t", "ddl", "create", "view", "v", "v" },
	{ "CREATE MATERIALIZED VIEW mv AS SELECT 1", "ddl", "create", "matview", "mv", "mv" },
	{ "CREATE SCHEMA s", "ddl", "create", "schema", "s", NULL },
	{ "CREATE ROLE r", "ddl", "create", "role", "r", NULL },
	{ "CREATE EXTENSION plpython3u", "ddl", "create", "extension", "plpython3u", NULL },
	{ "COMMENT ON TABLE t IS 'x'", "ddl", "comment", "table", "t", NULL },
	{ "CREATE SEQUENCE sq", "ddl", "create", "sequence", "sq", "sq" },
	{ "GRANT SELECT ON s.t TO bob", "grant", NULL, "table", "s.t", NULL },
	{ "REVOKE ALL ON SCHEMA x FROM bob", "revoke", NULL, "schema", "x", NULL },
	{ "GRANT admin TO bob", "grant", NULL, "role", "admin", NULL },
};

START_TEST(ddl_kinds)
{
	struct facts_result r = ok(ddl_cases[_i].sql);
	json_t *f = nth(&r, 0);

	ck_assert_str_eq(str(f, "kind"), ddl_cases[_i].kind);
	if (ddl_cases[_i].verb)
		ck_assert_str_eq(str(f, "verb"), ddl_cases[_i].verb);
	ck_assert_str_eq(str(f, "object"), ddl_cases[_i].object);
	if (ddl_cases[_i].name) {
		json_t *names = json_object_get(f, "names"), *v;
		size_t i;
		int found = 0;

		json_array_foreach(names, i, v)
			found |= strcmp(json_string_value(v), ddl_cases[_i].name) == 0;
		ck_assert_msg(found, "%s: name %s not listed", ddl_cases[_i].sql,
			      ddl_cases[_i].name);
	}
	if (ddl_cases[_i].written)
		list_is(f, "tables_written", ddl_cases[_i].written, NULL);
	else
		list_is(f, "tables_written", NULL);
	facts_result_free(&r);
}
END_TEST

START_TEST(ddl_details)
{
	struct facts_result r = ok("GRANT SELECT, UPDATE ON orders, s.x TO bob, PUBLIC");
	json_t *f = nth(&r, 0);

	list_is(f, "privileges", "select", "update", NULL);
	list_is(f, "roles", "bob", "public", NULL);
	list_is(f, "names", "orders", "s.x", NULL);
	list_is(f, "tables_read", NULL);
	facts_result_free(&r);

	/* the rule's actions are facts of their own */
	r = ok("CREATE RULE r AS ON INSERT TO t DO ALSO (DELETE FROM u; UPDATE v SET a = 1 WHERE true)");
	ck_assert_str_eq(str(find(&r, "delete", "rule"), "where"), "none");
	ck_assert_str_eq(str(find(&r, "update", "rule"), "where"), "trivial");
	ck_assert_str_eq(r.cache, "text");
	facts_result_free(&r);

	r = ok("CREATE TABLE x (id int REFERENCES y (id), LIKE z)");
	list_is(nth(&r, 0), "tables_written", "x", NULL);
	list_is(nth(&r, 0), "tables_read", "y", "z", NULL);
	facts_result_free(&r);

	r = ok("CREATE VIEW v AS SELECT * FROM t JOIN u USING (id)");
	list_is(nth(&r, 0), "tables_read", "t", "u", NULL);
	facts_result_free(&r);

	r = ok("CREATE TRIGGER tr BEFORE DELETE ON t FOR EACH ROW EXECUTE FUNCTION audit.f()");
	list_is(nth(&r, 0), "functions", "audit.f", NULL);
	facts_result_free(&r);
}
END_TEST

START_TEST(function_bodies)
{
	struct facts_result r = ok(
		"CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN "
		"IF (SELECT count(*) FROM u) > 0 THEN DELETE FROM v; END IF; "
		"RETURN 1; END $$");
	json_t *fn = nth(&r, 0);

	ck_assert(!opaque(fn));
	list_is(find(&r, "select", "function"), "tables_read", "u", NULL);
	ck_assert_str_eq(str(find(&r, "delete", "function"), "where"), "none");
	ck_assert_str_eq(r.cache, "text");
	facts_result_free(&r);

	r = ok("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DELETE FROM t'");
	ck_assert_str_eq(str(find(&r, "delete", "function"), "where"), "none");
	facts_result_free(&r);

	r = ok("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 FROM t; END");
	list_is(find(&r, "select", "function"), "tables_read", "t", NULL);
	facts_result_free(&r);

	r = ok("CREATE FUNCTION f() RETURNS int LANGUAGE c AS 'lib', 'sym'");
	ck_assert(opaque(nth(&r, 0)));
	ck_assert_str_eq(str(nth(&r, 0), "opaque_reason"),
			 "function body in language c is not analysed");
	ck_assert_uint_eq(json_array_size(r.statements), 1);
	facts_result_free(&r);

	r = ok("CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ "
	       "BEGIN EXECUTE 'DROP TABLE x'; END $$");
	ck_assert(opaque(nth(&r, 0)));
	ck_assert_str_eq(str(nth(&r, 0), "opaque_reason"),
			 "dynamic EXECUTE in a function body");
	facts_result_free(&r);
}
END_TEST

START_TEST(copy_to_from)
{
	struct facts_result r = ok("COPY s.orders FROM STDIN");
	json_t *f = nth(&r, 0);

	ck_assert_str_eq(str(f, "kind"), "copy-from");
	ck_assert_str_eq(str(f, "copy_io"), "stdio");
	list_is(f, "tables_written", "s.orders", NULL);
	list_is(f, "tables_read", NULL);
	facts_result_free(&r);

	r = ok("COPY orders TO STDOUT");
	ck_assert_str_eq(str(nth(&r, 0), "kind"), "copy-to");
	list_is(nth(&r, 0), "tables_read", "orders", NULL);
	list_is(nth(&r, 0), "tables_written", NULL);
	facts_result_free(&r);

	r = ok("COPY (SELECT * FROM orders JOIN customers USING (id)) TO PROGRAM 'curl x'");
	ck_assert_str_eq(str(nth(&r, 0), "kind"), "copy-to");
	ck_assert_str_eq(str(nth(&r, 0), "copy_io"), "program");
	list_is(nth(&r, 0), "tables_read", "orders", "customers", NULL);
	facts_result_free(&r);

	r = ok("COPY orders FROM '/etc/passwd'");
	ck_assert_str_eq(str(nth(&r, 0), "copy_io"), "file");
	facts_result_free(&r);

	r = ok("COPY (DELETE FROM orders RETURNING *) TO STDOUT");
	ck_assert_str_eq(str(find(&r, "delete", "copy"), "where"), "none");
	facts_result_free(&r);
}
END_TEST

START_TEST(transaction_control)
{
	struct facts_result r = ok("BEGIN; SAVEPOINT a; ROLLBACK TO a; RELEASE a; "
				   "COMMIT; START TRANSACTION; ROLLBACK; END");
	static const char *const verbs[] = { "begin", "savepoint", "rollback_to",
		"release", "commit", "start", "rollback", "commit" };

	ck_assert_uint_eq(json_array_size(r.statements), 8);
	for (size_t i = 0; i < 8; i++) {
		ck_assert_str_eq(str(nth(&r, i), "kind"), "transaction");
		ck_assert_str_eq(str(nth(&r, i), "verb"), verbs[i]);
	}
	facts_result_free(&r);
}
END_TEST

START_TEST(other_kinds)
{
	static const struct { const char *sql, *kind; } k[] = {
		{ "SHOW work_mem", "show" }, { "LISTEN c", "listen" },
		{ "NOTIFY c", "notify" }, { "VACUUM t", "vacuum" },
		{ "ANALYZE t", "analyze" }, { "LOCK TABLE t", "lock" },
		{ "DISCARD ALL", "discard" }, { "DEALLOCATE p", "deallocate" },
		{ "CHECKPOINT", "other" }, { "TABLE orders", "select" },
		{ "VALUES (1)", "select" },
	};

	for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
		struct facts_result r = ok(k[i].sql);

		ck_assert_msg(strcmp(str(nth(&r, 0), "kind"), k[i].kind) == 0,
			      "%s: kind %s", k[i].sql, str(nth(&r, 0), "kind"));
		facts_result_free(&r);
	}
}
END_TEST

/* ---- DO blocks ------------------------------------------------------ */

START_TEST(do_dynamic_execute_is_opaque)
{
	struct facts_result r = ok("DO $$ BEGIN EXECUTE 'DROP TABLE ' || 'orders'; END $$");
	json_t *d = nth(&r, 0);

	ck_assert_str_eq(str(d, "kind"), "do");
	ck_assert(opaque(d));
	ck_assert_str_eq(str(d, "opaque_reason"), "dynamic EXECUTE in a DO block");
	ck_assert_str_eq(r.cache, "text");
	facts_result_free(&r);

	r = ok("DO $$ DECLARE x record; BEGIN FOR x IN EXECUTE 'select 1' LOOP END LOOP; END $$");
	ck_assert(opaque(nth(&r, 0)));
	facts_result_free(&r);

	r = ok("DO $$ BEGIN PERFORM 1; END $$");
	ck_assert(!opaque(nth(&r, 0)));
	facts_result_free(&r);

	r = ok("DO LANGUAGE plpython3u $$ plpy.execute('drop table t') $$");
	ck_assert(opaque(nth(&r, 0)));
	ck_assert_str_eq(str(nth(&r, 0), "opaque_reason"), "DO block in language plpython3u");
	facts_result_free(&r);

	r = ok("DO $$ BEGIN this is not plpgsql; END $$");
	ck_assert(opaque(nth(&r, 0)));
	facts_result_free(&r);
}
END_TEST

START_TEST(do_statements_and_expressions)
{
	struct facts_result r = ok(
		"DO $$ DECLARE n int := (SELECT count(*) FROM a); BEGIN "
		"n := (SELECT max(id) FROM b); "
		"PERFORM pg_sleep(1); "
		"WHILE g(n) LOOP n := n - 1; END LOOP; "
		"INSERT INTO c VALUES (n); "
		"COMMIT; "
		"DO 'BEGIN DELETE FROM d; END'; "
		"END $$");
	json_t *f;
	size_t i;
	int sel_a = 0, sel_b = 0, sleep = 0, g = 0;

	json_array_foreach(r.statements, i, f) {
		json_t *tr = json_object_get(f, "tables_read");
		json_t *fn = json_object_get(f, "functions");

		if (strcmp(str(f, "kind"), "select") != 0)
			continue;
		ck_assert_str_eq(str(f, "via"), "do");
		sel_a |= json_array_size(tr) == 1 && !strcmp(json_string_value(json_array_get(tr, 0)), "a");
		sel_b |= json_array_size(tr) == 1 && !strcmp(json_string_value(json_array_get(tr, 0)), "b");
		sleep |= json_array_size(fn) == 1 && !strcmp(json_string_value(json_array_get(fn, 0)), "pg_sleep");
		g |= json_array_size(fn) == 1 && !strcmp(json_string_value(json_array_get(fn, 0)), "g");
	}
	ck_assert(sel_a && sel_b && sleep && g);
	list_is(find(&r, "insert", "do"), "tables_written", "c", NULL);
	ck_assert_str_eq(str(find(&r, "transaction", "do"), "verb"), "commit");
	ck_assert_str_eq(str(find(&r, "do", "do"), "kind"), "do");
	ck_assert_str_eq(str(find(&r, "delete", "do"), "where"), "none");
	ck_assert(!opaque(nth(&r, 0)));
	facts_result_free(&r);
}
END_TEST

START_TEST(do_body_cannot_escape_quote)
{
	/* the body holds the wrapper's default tag: a careless wrapper would
	 * end the body early and see a DROP TABLE, or fail to parse */
	struct facts_result r = ok(
		"DO $x$ BEGIN RAISE NOTICE '$pgward$ DROP TABLE orders; $pgward$'; "
		"RAISE NOTICE '$pgward1$ pgward$'; DELETE FROM t; END $x$");
	json_t *f;
	size_t i;

	ck_assert(!opaque(nth(&r, 0)));
	json_array_foreach(r.statements, i, f)
		ck_assert_str_ne(str(f, "kind"), "ddl");
	ck_assert_str_eq(str(find(&r, "delete", "do"), "where"), "none");
	facts_result_free(&r);

	r = ok("DO $x$ BEGIN DELETE FROM t WHERE s = '$pgward'; END $x$");
	ck_assert(!opaque(nth(&r, 0)));
	ck_assert_str_eq(str(find(&r, "delete", "do"), "where"), "present");
	facts_result_free(&r);
}
END_TEST

/* ---- errors and cache ------------------------------------------------- */

START_TEST(syntax_error_with_position)
{
	struct facts_result r = facts_of_sql("SELECT * FORM orders");

	ck_assert_ptr_nonnull(r.error);
	ck_assert_ptr_null(r.statements);
	ck_assert_int_eq(r.error_position, 10);
	ck_assert_msg(strstr(r.error, "syntax error") != NULL, "%s", r.error);
	ck_assert_msg(strstr(r.error, "at character 10") != NULL, "%s", r.error);
	facts_result_free(&r);

	/* one bad statement fails the whole string */
	r = facts_of_sql("select 1; delete from; select 2");
	ck_assert_ptr_nonnull(r.error);
	ck_assert_ptr_null(r.statements);
	ck_assert_int_eq(r.error_position, 22);
	facts_result_free(&r);
}
END_TEST

START_TEST(cache_keys)
{
	struct facts_result a = ok("select * from t where id = 1");
	struct facts_result b = ok("SELECT *\n FROM t WHERE id = 2");
	struct facts_result c = ok("select * from u where id = 1");

	ck_assert_str_eq(a.cache, "fingerprint");
	ck_assert_str_eq(b.cache, "fingerprint");
	ck_assert_ptr_nonnull(a.fingerprint);
	ck_assert_uint_eq(strlen(a.fingerprint), 16);
	ck_assert_uint_eq(strspn(a.fingerprint, "0123456789abcdef"), 16);
	ck_assert_str_eq(a.fingerprint, b.fingerprint);
	ck_assert_str_ne(a.fingerprint, c.fingerprint);
	facts_result_free(&a);
	facts_result_free(&b);
	facts_result_free(&c);

	static const char *const text[] = {
		"delete from t where true", "delete from t where 1=1",
		"delete from t where 1=2", "update t set a = 1 where id = 1 or 1=2",
		"DO $$ BEGIN NULL; END $$", "select set_config('a', 'b', false)",
		"create rule r as on insert to t do nothing",
		"create function f() returns int language sql as 'select 1'",
		"explain (analyze false) delete from t",
		/* constants compared with each other decide the class */
		"delete from t where a = 1 or a <> 2", "delete from t where v like '%'",
		"merge into t using s on true when matched then delete",
	};
	for (size_t i = 0; i < sizeof text / sizeof *text; i++) {
		struct facts_result r = ok(text[i]);

		ck_assert_msg(strcmp(r.cache, "text") == 0, "%s: cache %s", text[i], r.cache);
		facts_result_free(&r);
	}
	static const char *const fp[] = {
		"delete from t where id = 1", "update t set a = 1 where id = 2",
		"select * from t where true", "set search_path = x", "begin",
		"delete from t", "insert into t values (1)",
	};
	for (size_t i = 0; i < sizeof fp / sizeof *fp; i++) {
		struct facts_result r = ok(fp[i]);

		ck_assert_msg(strcmp(r.cache, "fingerprint") == 0, "%s: cache %s", fp[i], r.cache);
		facts_result_free(&r);
	}
}
END_TEST


/* ---- MERGE ------------------------------------------------------------ */

/* The facts of sql of the given kind, in order. */
static size_t
kinds(struct facts_result *r, const char *kind, json_t **out, size_t max)
{
	size_t i, n = 0;
	json_t *f;

	json_array_foreach(r->statements, i, f)
		if (strcmp(str(f, "kind"), kind) == 0 && n < max)
			out[n++] = f;
	return n;
}

START_TEST(merge_when_actions)
{
	struct facts_result r = ok("MERGE INTO orders o USING (SELECT 1) s ON true "
				   "WHEN MATCHED THEN DELETE");
	json_t *f[4];

	ck_assert_uint_eq(json_array_size(r.statements), 2);
	ck_assert_str_eq(str(nth(&r, 0), "kind"), "merge");
	f[0] = find(&r, "delete", "top");
	ck_assert_str_eq(str(f[0], "where"), "trivial");
	ck_assert_str_eq(str(f[0], "node"), "MergeWhenClause");
	ck_assert_str_eq(str(f[0], "merge_when"), "matched");
	ck_assert_int_eq(json_integer_value(json_object_get(f[0], "parent")), 0);
	list_is(f[0], "tables_written", "orders", NULL);
	facts_result_free(&r);

	/* every form, in order: the source is read by each action */
	r = ok("MERGE INTO public.orders o USING staging s ON o.id = s.id "
	       "WHEN MATCHED AND s.gone THEN DELETE "
	       "WHEN MATCHED THEN UPDATE SET total = s.total "
	       "WHEN NOT MATCHED AND s.total > 0 THEN INSERT (id, total) VALUES (s.id, s.total) "
	       "WHEN NOT MATCHED THEN DO NOTHING");
	ck_assert_uint_eq(json_array_size(r.statements), 4);
	list_is(nth(&r, 0), "tables_read", "staging", NULL);
	ck_assert_uint_eq(kinds(&r, "delete", f, 4), 1);
	ck_assert_str_eq(str(f[0], "where"), "present");
	list_is(f[0], "tables_read", "staging", NULL);
	list_is(f[0], "tables_written", "public.orders", NULL);
	ck_assert_uint_eq(kinds(&r, "update", f, 4), 1);
	ck_assert_str_eq(str(f[0], "where"), "present");
	ck_assert_uint_eq(kinds(&r, "insert", f, 4), 1);
	ck_assert_str_eq(str(f[0], "merge_when"), "not matched");
	ck_assert_ptr_null(json_object_get(f[0], "where"));
	facts_result_free(&r);

	/* DO NOTHING alone: no action facts */
	r = ok("MERGE INTO orders o USING s ON true WHEN MATCHED THEN DO NOTHING");
	ck_assert_uint_eq(json_array_size(r.statements), 1);
	facts_result_free(&r);
}
END_TEST

START_TEST(on_conflict_do_update)
{
	struct facts_result r = ok("INSERT INTO orders AS o SELECT * FROM staging "
				   "ON CONFLICT (id) DO UPDATE SET total = f(1)");
	json_t *f[2];

	ck_assert_uint_eq(json_array_size(r.statements), 2);
	ck_assert_str_eq(str(nth(&r, 0), "kind"), "insert");
	ck_assert_uint_eq(kinds(&r, "update", f, 2), 1);
	ck_assert_str_eq(str(f[0], "on_conflict"), "update");
	ck_assert_str_eq(str(f[0], "where"), "present");
	ck_assert_str_eq(str(f[0], "via"), "top");
	ck_assert_str_eq(str(f[0], "node"), "OnConflictClause");
	ck_assert_int_eq(json_integer_value(json_object_get(f[0], "parent")), 0);
	list_is(f[0], "tables_written", "orders", NULL);
	list_is(f[0], "tables_read", "staging", NULL);
	list_is(f[0], "functions", "f", NULL);
	facts_result_free(&r);

	r = ok("INSERT INTO orders VALUES (1) ON CONFLICT DO NOTHING");
	ck_assert_uint_eq(json_array_size(r.statements), 1);
	facts_result_free(&r);
}
END_TEST

static const struct {
	const char *on, *cond, *want;
} merge_wheres[] = {
	{ "true", NULL, "trivial" },
	{ "1 = 1", NULL, "trivial" },
	{ "o.id = o.id", NULL, "trivial" },
	{ "true", "true", "trivial" },
	{ "true", "o.x IS NULL OR o.x IS NOT NULL", "trivial" },
	{ "true", "o.x = 1", "present" },
	{ "o.id = s.id", NULL, "present" },
	{ "o.id = s.id", "true", "present" },
	{ "false", NULL, "present" },
	{ "true", "false", "present" },
};

START_TEST(merge_where)
{
	char sql[512];
	static const char *const acts[] = { "DELETE", "UPDATE SET total = 0" };

	for (int a = 0; a < 2; a++) {
		snprintf(sql, sizeof sql, "MERGE INTO orders o USING (SELECT 1 AS id) s "
			 "ON %s WHEN MATCHED%s%s THEN %s", merge_wheres[_i].on,
			 merge_wheres[_i].cond ? " AND " : "",
			 merge_wheres[_i].cond ? merge_wheres[_i].cond : "", acts[a]);
		where_is(sql, a ? "update" : "delete", "top", merge_wheres[_i].want);
	}
}
END_TEST

START_TEST(merge_nested)
{
	/* in a DO block: the actions keep the via of their MERGE */
	where_is("DO $$ BEGIN MERGE INTO orders o USING (SELECT 1) s ON true "
		 "WHEN MATCHED THEN DELETE; END $$", "delete", "do", "trivial");
	where_is("PREPARE p AS MERGE INTO orders o USING (SELECT 1) s ON true "
		 "WHEN MATCHED THEN UPDATE SET total = 0", "update", "prepare", "trivial");
	where_is("EXPLAIN ANALYZE MERGE INTO orders o USING (SELECT 1) s ON 1=1 "
		 "WHEN MATCHED THEN DELETE", "delete", "explain", "trivial");
}
END_TEST

/* ---- relations resolved to base tables ------------------------------- */

static struct facts_result
resolved(const char *sql, const char *relations, int want_used)
{
	struct facts_result r = ok(sql);
	json_t *rel = relations ? json_loads(relations, 0, NULL) : NULL;
	int used = -1;

	ck_assert(relations == NULL || rel != NULL);
	ck_assert_int_eq(facts_resolve(r.statements, rel, &used), 0);
	ck_assert_int_eq(used, want_used);
	json_decref(rel);
	return r;
}

START_TEST(relations_map)
{
	const char *map = "{\"public.ov\": [\"public.orders\"], \"ov\": [\"public.orders\"],"
			  " \"public.ruled\": [\"public.ruled\", \"public.audit\"],"
			  " \"public.opaque_v\": [],"
			  " \"public.v2\": [\"public.orders\", \"public.items\"]}";
	struct facts_result r = resolved("DELETE FROM ov", map, 1);
	json_t *f = nth(&r, 0);

	list_is(f, "tables_written", "ov", "public.orders", NULL);
	list_is(f, "resolved_from", "ov", NULL);
	ck_assert_str_eq(str(f, "where"), "none");
	ck_assert_str_eq(str(f, "via"), "top");
	ck_assert(!opaque(f));
	facts_result_free(&r);

	r = resolved("UPDATE public.ov SET total = 0 WHERE id = 1", map, 1);
	list_is(nth(&r, 0), "tables_written", "public.ov", "public.orders", NULL);
	ck_assert_str_eq(str(nth(&r, 0), "where"), "present");
	facts_result_free(&r);

	/* a database name in front is ignored */
	r = resolved("INSERT INTO shop.public.ruled VALUES (1)", map, 1);
	list_is(nth(&r, 0), "tables_written", "shop.public.ruled", "public.ruled",
		"public.audit", NULL);
	facts_result_free(&r);

	/* unqualified names only as the map gives them */
	r = resolved("DELETE FROM ruled", map, 0);
	list_is(nth(&r, 0), "tables_written", "ruled", NULL);
	ck_assert_ptr_null(json_object_get(nth(&r, 0), "resolved_from"));
	facts_result_free(&r);
	r = resolved("DELETE FROM other.ov", map, 0);
	list_is(nth(&r, 0), "tables_written", "other.ov", NULL);
	facts_result_free(&r);

	/* no bases: opaque */
	r = resolved("DELETE FROM public.opaque_v WHERE id = 1", map, 1);
	ck_assert(opaque(nth(&r, 0)));
	ck_assert_msg(strstr(str(nth(&r, 0), "opaque_reason"), "public.opaque_v") != NULL,
		      "%s", str(nth(&r, 0), "opaque_reason"));
	facts_result_free(&r);

	/* reads too, in every fact; a MERGE's actions */
	r = resolved("SELECT * FROM public.v2 JOIN ov USING (id)", map, 1);
	list_is(nth(&r, 0), "tables_read", "public.v2", "public.orders", "public.items",
		"ov", NULL);
	facts_result_free(&r);
	r = resolved("MERGE INTO ov USING public.v2 s ON true WHEN MATCHED THEN DELETE", map, 1);
	f = find(&r, "delete", "top");
	list_is(f, "tables_written", "ov", "public.orders", NULL);
	list_is(f, "tables_read", "public.v2", "public.orders", "public.items", NULL);
	facts_result_free(&r);
	r = resolved("WITH d AS (DELETE FROM ov RETURNING *) SELECT 1", map, 1);
	list_is(find(&r, "delete", "cte"), "tables_written", "ov", "public.orders", NULL);
	facts_result_free(&r);

	/* a DDL statement's target is not a write through the view */
	r = resolved("DROP VIEW ov", map, 0);
	list_is(nth(&r, 0), "tables_written", "ov", NULL);
	facts_result_free(&r);
}
END_TEST

START_TEST(relations_same_string)
{
	struct facts_result r = ok("CREATE TEMP VIEW ov AS SELECT * FROM orders; DELETE FROM ov");
	json_t *f = find(&r, "delete", "top");

	list_is(f, "tables_written", "ov", "orders", NULL);
	list_is(f, "resolved_from", "ov", NULL);
	ck_assert_str_eq(str(f, "where"), "none");
	facts_result_free(&r);

	/* qualified, through a view of a view, in a DO block */
	r = ok("CREATE VIEW s.a AS SELECT * FROM public.orders o JOIN items i USING (id); "
	       "CREATE VIEW b AS SELECT * FROM s.a; UPDATE b SET total = 0; DELETE FROM a");
	list_is(find(&r, "update", "top"), "tables_written", "b", "s.a", "public.orders",
		"items", NULL);
	list_is(find(&r, "delete", "top"), "tables_written", "a", "s.a", "public.orders",
		"items", NULL);
	facts_result_free(&r);
	r = ok("DO $$ BEGIN CREATE TEMP VIEW ov AS SELECT * FROM orders; "
	       "DELETE FROM ov; END $$");
	list_is(find(&r, "delete", "do"), "tables_written", "ov", "orders", NULL);
	facts_result_free(&r);
	r = ok("CREATE TEMP VIEW ov AS SELECT * FROM orders; DELETE FROM pg_temp.ov");
	list_is(find(&r, "delete", "top"), "tables_written", "pg_temp.ov", "ov", "orders",
		NULL);
	facts_result_free(&r);

	/* a rule: writes to its relation also write what its actions write */
	r = ok("CREATE RULE r AS ON DELETE TO t DO INSTEAD DELETE FROM orders "
	       "WHERE id = old.id; DELETE FROM t");
	list_is(find(&r, "delete", "top"), "tables_written", "t", "orders", NULL);
	ck_assert_str_eq(str(find(&r, "delete", "top"), "where"), "none");
	facts_result_free(&r);

	/* written before the view exists: not resolved */
	r = ok("DELETE FROM ov; CREATE TEMP VIEW ov AS SELECT * FROM orders");
	list_is(find(&r, "delete", "top"), "tables_written", "ov", NULL);
	facts_result_free(&r);

	/* with the request's map: a view over a view the map knows */
	r = resolved("CREATE TEMP VIEW w AS SELECT * FROM ov; DELETE FROM w",
		     "{\"ov\": [\"public.orders\"]}", 1);
	list_is(find(&r, "delete", "top"), "tables_written", "w", "ov", "public.orders",
		NULL);
	facts_result_free(&r);
	/* a cycle ends */
	r = resolved("DELETE FROM x", "{\"x\": [\"y\"], \"y\": [\"x\"]}", 1);
	list_is(nth(&r, 0), "tables_written", "x", "y", NULL);
	facts_result_free(&r);
}
END_TEST

START_TEST(empty_and_deep)
{
	struct facts_result r = ok("");
	char *sql;
	size_t n = 5000;

	ck_assert_uint_eq(json_array_size(r.statements), 0);
	facts_result_free(&r);
	r = ok("-- nothing\n;;");
	ck_assert_uint_eq(json_array_size(r.statements), 0);
	facts_result_free(&r);

	/* very deep nesting: an error or an answer, never a crash */
	sql = malloc(2 * n + 32);
	ck_assert_ptr_nonnull(sql);
	strcpy(sql, "select ");
	for (size_t i = 0; i < n; i++)
		strcat(sql, "(");
	strcat(sql, "1");
	for (size_t i = 0; i < n; i++)
		strcat(sql, ")");
	r = facts_of_sql(sql);
	ck_assert(r.error != NULL || r.statements != NULL);
	facts_result_free(&r);
	free(sql);
}
END_TEST

static Suite *
facts_suite(void)
{
	Suite *s = suite_create("facts");
	TCase *tc = tcase_create("where");

	tcase_add_test(tc, delete_plain);
	tcase_add_test(tc, delete_comments_case_whitespace);
	tcase_add_test(tc, delete_in_multi_statement);
	tcase_add_test(tc, delete_in_cte);
	tcase_add_test(tc, delete_in_do_block);
	tcase_add_test(tc, delete_via_prepare);
	tcase_add_test(tc, delete_via_explain);
	tcase_add_loop_test(tc, delete_trivial_where, 0,
			    sizeof trivial_wheres / sizeof *trivial_wheres);
	tcase_add_loop_test(tc, update_trivial_where, 0,
			    sizeof trivial_wheres / sizeof *trivial_wheres);
	tcase_add_loop_test(tc, delete_present_where, 0,
			    sizeof present_wheres / sizeof *present_wheres);
	tcase_add_test(tc, update_without_where);
	tcase_add_test(tc, merge_when_actions);
	tcase_add_test(tc, on_conflict_do_update);
	tcase_add_loop_test(tc, merge_where, 0, sizeof merge_wheres / sizeof *merge_wheres);
	tcase_add_test(tc, merge_nested);
	tcase_add_test(tc, relations_map);
	tcase_add_test(tc, relations_same_string);
	suite_add_tcase(s, tc);

	tc = tcase_create("objects");
	tcase_add_test(tc, tables_read_joins_subqueries);
	tcase_add_test(tc, tables_written);
	tcase_add_test(tc, cte_names_are_not_tables);
	tcase_add_test(tc, functions_called);
	tcase_add_test(tc, settings_set_reset_set_config);
	tcase_add_loop_test(tc, ddl_kinds, 0, sizeof ddl_cases / sizeof *ddl_cases);
	tcase_add_test(tc, ddl_details);
	tcase_add_test(tc, function_bodies);
	tcase_add_test(tc, copy_to_from);
	tcase_add_test(tc, transaction_control);
	tcase_add_test(tc, other_kinds);
	suite_add_tcase(s, tc);

	tc = tcase_create("do");
	tcase_add_test(tc, do_dynamic_execute_is_opaque);
	tcase_add_test(tc, do_statements_and_expressions);
	tcase_add_test(tc, do_body_cannot_escape_quote);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors_cache");
	tcase_add_test(tc, syntax_error_with_position);
	tcase_add_test(tc, cache_keys);
	tcase_add_test(tc, empty_and_deep);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(facts_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
