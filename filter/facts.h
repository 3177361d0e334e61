#ifndef PGWARD_FILTER_FACTS_H
#define PGWARD_FILTER_FACTS_H

/* Statement facts from the PostgreSQL grammar itself (libpg_query).
 *
 * facts_of_sql() parses a query string (possibly several statements) and
 * returns one fact object per statement, including statements nested in
 * others (a data-modifying CTE, the body of a DO block, the statement
 * inside EXPLAIN ANALYZE, PREPARE, CREATE RULE ...), flattened in order:
 *
 *   {"kind": "delete",                 see FACT KINDS below
 *    "via": "top" | "cte" | "do" | "explain" | "prepare" | "rule" | "function",
 *    "tables_read":    ["public.orders", "customers"],   schema-qualified as written
 *    "tables_written": ["orders"],
 *    "functions":      ["pg_sleep", "pg_catalog.set_config"],  as written
 *    "where": "none" | "trivial" | "present",   UPDATE/DELETE only
 *    "settings": ["pgward.user"],       names set/reset by SET, RESET, set_config()
 *    "opaque": false,                   true when it cannot be analysed
 *    "opaque_reason": "dynamic EXECUTE in a DO block",
 *    "explain_analyze": true,           EXPLAIN ANALYZE runs its statement
 *    "object": "table"                  DDL: the object type (table, index, function,
 *                                       trigger, rule, view, schema, role, ...)
 *   }
 *
 * Also (additions): "node" (the parse node name, e.g. "DeleteStmt"),
 * "parent" (index in the array of the fact this one is nested in; absent
 * for "top"), "names" (DDL/GRANT/PREPARE: the objects acted on, as
 * written), "privileges" and "roles" (grant/revoke), "verb" also for
 * transaction (begin, commit, rollback, savepoint, ...) and listen,
 * "copy_io" ("stdio" | "file" | "program") for copy-from/copy-to; via may
 * also be "copy" (COPY (DELETE ... RETURNING) TO), "schema" (CREATE SCHEMA
 * ... CREATE TABLE) or "nested" (CREATE TABLE AS EXECUTE ...).
 * docs/statement-facts.md is the full reference.
 *
 * FACT KINDS: select, insert, update, delete, merge, truncate, copy-from,
 * copy-to, ddl (with "object" and "verb": create|alter|drop|comment|...),
 * grant, revoke, set, reset, show, transaction (BEGIN/COMMIT/ROLLBACK/
 * SAVEPOINT ...), do, prepare, execute, deallocate, explain, call, listen,
 * notify, vacuum, analyze, lock, discard, fetch (FETCH/MOVE), close, other.
 *
 * A WHERE that is true for every row gives "trivial": constants (WHERE
 * true, 1=1, 'a'='a', NOT false), an expression compared with itself
 * (id = id), an OR with a trivial arm or a complementary pair (x OR NOT x,
 * x IS NULL OR x IS NOT NULL), an AND of trivial arms, COALESCE(true, ...).
 * Each WHEN action of a MERGE is a delete, update or insert fact of its
 * own (node "MergeWhenClause", parent the merge fact).
 *
 * The result also says how a decision about it may be cached (see
 * "cache" below): a fingerprint (pg_query_fingerprint) ignores constants,
 * so it is only a valid key when no fact depends on a constant (a trivial
 * WHERE, a DO body, a function body, a set_config() name ...).
 */

#include <jansson.h>

struct facts_result {
	json_t *statements;	/* array of fact objects, as above */
	/* "fingerprint" when a decision may be reused for any statement with
	 * the same fingerprint, "text" when only for the same text. */
	const char *cache;
	char *fingerprint;	/* 16 hex digits */
	char *error;		/* NULL on success: a syntax error, with position */
	int error_position;	/* 1-based character of the error, 0 if none */
};

struct facts_result facts_of_sql(const char *sql);
void facts_result_free(struct facts_result *r);

/* Resolves the relations of facts to base tables (docs/statement-facts.md,
 * "Resolved relations"): a name in relations (the decide request's map,
 * {"public.ov": ["public.orders"]}; NULL for none) or a view or rule
 * created earlier in the same string stands for itself and for its bases,
 * recursively, in tables_read of every fact and in tables_written of
 * insert, update, delete, merge and copy-from facts; "resolved_from" lists
 * the names so expanded. A name the map gives no bases ([]) makes the fact
 * opaque. facts_of_sql() has already applied it with relations NULL.
 * *used (may be NULL) is set when the map changed a fact. Returns 0, or -1
 * out of memory. */
int facts_resolve(json_t *facts, json_t *relations, int *used);
/* The bases relations gives name (tried also without a leading catalog),
 * or NULL. */
json_t *facts_relation_bases(json_t *relations, const char *name);
/* A RangeVar's name as written: "db.schema.rel", "schema.rel" or "rel". */
void facts_rangevar_name(json_t *rv, char *buf, size_t len);

#endif
