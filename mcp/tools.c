#include "mcp/tools.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOOLS_TABLE_ROWS 20000

static json_t *tools_query(struct db *d, json_t *args);
static json_t *tools_list_tables(struct db *d, json_t *args);
static json_t *tools_explain(struct db *d, json_t *args);
static json_t *tools_review_status(struct db *d, json_t *args);
static json_t *tools_ok(json_t *structured);
static json_t *tools_err(const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static json_t *tools_run_failed(const struct db_run *r);
static json_t *tools_rows(const struct db_run *r);
static json_t *tools_waiting(const struct db_run *r);
static json_t *tools_tables(const struct db_run *r);
static int tools_int_arg(json_t *args, const char *key, int dflt, int lo, int hi, int *out);
static const char *tools_str_arg(json_t *args, const char *key);

static const char tools_schema_json[] =
"["
"{\"name\":\"query\",\"title\":\"Run SQL through pgward\","
" \"description\":\"Runs SQL on the database through pgward-relay, which applies the policy, masking, review and audit. Rows come back as JSON objects with values as the relay returns them (masked columns masked). If the relay holds the statement for review, the answer is at once 'waiting for approval r-...'; then call review_status.\","
" \"inputSchema\":{\"type\":\"object\",\"properties\":{"
"  \"sql\":{\"type\":\"string\",\"description\":\"the SQL to run\"},"
"  \"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000,\"default\":100,\"description\":\"most rows to return; more are cut and truncated is true\"}},"
"  \"required\":[\"sql\"],\"additionalProperties\":false}},"
"{\"name\":\"list_tables\",\"title\":\"List schemas, tables and columns\","
" \"description\":\"Lists the schemas, tables and columns the role can see (information_schema), through the relay.\","
" \"inputSchema\":{\"type\":\"object\",\"properties\":{"
"  \"schema\":{\"type\":\"string\",\"description\":\"only this schema\"}},"
"  \"additionalProperties\":false},"
" \"annotations\":{\"readOnlyHint\":true}},"
"{\"name\":\"explain\",\"title\":\"Show a statement's plan\","
" \"description\":\"Shows the plan of one statement with EXPLAIN, never EXPLAIN ANALYZE: the statement is planned, not run.\","
" \"inputSchema\":{\"type\":\"object\",\"properties\":{"
"  \"sql\":{\"type\":\"string\",\"description\":\"one statement (SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES, EXECUTE, CREATE TABLE AS, DECLARE)\"}},"
"  \"required\":[\"sql\"],\"additionalProperties\":false},"
" \"annotations\":{\"readOnlyHint\":true}},"
"{\"name\":\"review_status\",\"title\":\"Status of a held statement\","
" \"description\":\"The status of a statement the relay holds for review: waiting, done (with its rows), or denied (with the relay's reason). With wait_seconds, waits that long for the outcome.\","
" \"inputSchema\":{\"type\":\"object\",\"properties\":{"
"  \"review\":{\"type\":\"string\",\"description\":\"the review id, r-...\"},"
"  \"wait_seconds\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":50,\"default\":0}},"
"  \"required\":[\"review\"],\"additionalProperties\":false},"
" \"annotations\":{\"readOnlyHint\":true}}"
"]";

static const char tools_tables_sql[] =
    "select c.table_schema, c.table_name, t.table_type, c.column_name, c.data_type, "
    "c.is_nullable "
    "from information_schema.columns c join information_schema.tables t "
    "using (table_catalog, table_schema, table_name) "
    "where c.table_schema not in ('pg_catalog', 'information_schema') "
    "and ($1::text is null or c.table_schema = $1) "
    "order by c.table_schema, c.table_name, c.ordinal_position";

json_t *
tools_list(void)
{
	json_error_t je;
	json_t *tools = json_loads(tools_schema_json, 0, &je);
	return tools ? json_pack("{s:o}", "tools", tools) : NULL;
}

json_t *
tools_call(struct db *d, const char *name, json_t *args)
{
	if (args != NULL && !json_is_object(args))
		return tools_err("", "arguments must be an object");
	if (strcmp(name, "query") == 0)
		return tools_query(d, args);
	if (strcmp(name, "list_tables") == 0)
		return tools_list_tables(d, args);
	if (strcmp(name, "explain") == 0)
		return tools_explain(d, args);
	if (strcmp(name, "review_status") == 0)
		return tools_review_status(d, args);
	return NULL;
}

static json_t *
tools_query(struct db *d, json_t *args)
{
	const char *sql = tools_str_arg(args, "sql");
	int limit;
	if (sql == NULL || *sql == '\0')
		return tools_err("", "sql: a non-empty string is required");
	if (tools_int_arg(args, "limit", TOOLS_DEFAULT_ROWS, 1, DB_MAX_ROWS, &limit) != 0)
		return tools_err("", "limit: an integer from 1 to %d", DB_MAX_ROWS);
	struct db_run *r;
	enum db_outcome o = db_exec(d, sql, 0, NULL, limit, &r);
	if (o == DB_HELD)
		return tools_waiting(r);
	json_t *res = r == NULL ? tools_err("", "out of memory") :
	    r->error ? tools_run_failed(r) : tools_ok(tools_rows(r));
	db_run_free(r);
	return res;
}

static json_t *
tools_list_tables(struct db *d, json_t *args)
{
	const char *schema = tools_str_arg(args, "schema");
	if (json_object_get(args, "schema") != NULL && schema == NULL)
		return tools_err("", "schema: a string is required");
	const char *params[1] = { schema };
	struct db_run *r;
	enum db_outcome o = db_exec(d, tools_tables_sql, 1, params, TOOLS_TABLE_ROWS, &r);
	if (o == DB_HELD)
		return tools_waiting(r);
	json_t *res = r == NULL ? tools_err("", "out of memory") :
	    r->error ? tools_run_failed(r) : tools_ok(tools_tables(r));
	db_run_free(r);
	return res;
}

/* The statement goes after a closed option list, so it cannot add
 * ANALYZE, and as one extended-protocol statement, so it cannot bring a
 * second statement with it. */
static json_t *
tools_explain(struct db *d, json_t *args)
{
	const char *sql = tools_str_arg(args, "sql");
	if (sql == NULL || *sql == '\0')
		return tools_err("", "sql: a non-empty string is required");
	static const char pre[] = "EXPLAIN (ANALYZE false, FORMAT TEXT) ";
	size_t n = strlen(pre) + strlen(sql) + 1;
	char *q = malloc(n);
	if (q == NULL)
		return tools_err("", "out of memory");
	snprintf(q, n, "%s%s", pre, sql);
	struct db_run *r;
	/* Parameters, though none: the extended protocol. */
	enum db_outcome o = db_exec(d, q, 0, (const char *const *)&q, DB_MAX_ROWS * 10, &r);
	free(q);
	if (o == DB_HELD)
		return tools_waiting(r);
	json_t *res;
	if (r == NULL) {
		res = tools_err("", "out of memory");
	} else if (r->error) {
		res = tools_run_failed(r);
	} else {
		json_t *lines = json_array();
		size_t i;
		json_t *row;
		json_array_foreach(r->rows, i, row) {
			const char *k;
			json_t *v;
			json_object_foreach(row, k, v)
				json_array_append(lines, v);
		}
		res = tools_ok(json_pack("{s:o}", "plan", lines));
	}
	db_run_free(r);
	return res;
}

static json_t *
tools_review_status(struct db *d, json_t *args)
{
	const char *id = tools_str_arg(args, "review");
	int wait;
	if (id == NULL || *id == '\0')
		return tools_err("", "review: a review id (r-...) is required");
	if (tools_int_arg(args, "wait_seconds", 0, 0, TOOLS_MAX_WAIT_S, &wait) != 0)
		return tools_err("", "wait_seconds: an integer from 0 to %d", TOOLS_MAX_WAIT_S);
	struct db_run *r;
	char err[300];
	enum db_outcome o = db_held_wait(d, id, wait * 1000, &r, err, sizeof err);
	if (o == DB_FAILED)
		return tools_err("", "%s", err);
	if (o == DB_PENDING) {
		return tools_ok(json_pack("{s:s, s:s, s:s}", "status", "waiting", "review", id,
		    "message", "still waiting for approval"));
	}
	json_t *res;
	if (r->error) {
		res = tools_run_failed(r);
		json_t *sc = json_object_get(res, "structuredContent");
		json_object_set_new(sc, "status", json_string(
		    strcmp(r->sqlstate, "42501") == 0 ? "denied" : "failed"));
		json_object_set_new(sc, "review", json_string(id));
	} else {
		json_t *rows = tools_rows(r);
		json_object_set_new(rows, "status", json_string("done"));
		json_object_set_new(rows, "review", json_string(id));
		res = tools_ok(rows);
	}
	db_run_free(r);
	return res;
}

static json_t *
tools_rows(const struct db_run *r)
{
	json_t *o = json_pack("{s:s, s:O, s:O, s:I, s:b}", "command", r->command,
	    "columns", r->columns, "rows", r->rows, "row_count", (json_int_t)r->row_count,
	    "truncated", r->truncated);
	if (o != NULL && r->truncated) {
		json_object_set_new(o, "limit", json_integer(r->limit));
		json_object_set_new(o, "note", json_sprintf("only the first %d rows are shown; "
		    "the statement returned more", r->limit));
	}
	return o;
}

static json_t *
tools_waiting(const struct db_run *r)
{
	/* The relay's notice says who approves: "...; to be approved by WHO; ..." */
	const char *who = strstr(r->notice, "; to be approved by ");
	const char *rule = strstr(r->notice, "(rule ");
	char by[300] = "an approver";
	if (who != NULL) {
		who += strlen("; to be approved by ");
		snprintf(by, sizeof by, "%.*s", (int)strcspn(who, ";"), who);
	} else if (rule != NULL) {
		int n = (int)strcspn(rule + 6, ")");
		snprintf(by, sizeof by, "an approver under rule %.*s", n, rule + 6);
	}
	return tools_ok(json_pack("{s:s, s:s, s:o, s:s}", "status", "waiting", "review", r->review,
	    "message", json_sprintf("waiting for approval %s, by %s; the statement has not run. "
	    "Call review_status with review \"%s\" and wait_seconds to learn the outcome.",
	    r->review, by, r->review), "relay_notice", r->notice));
}

/* One object per table, in the order the catalog gave. */
static json_t *
tools_tables(const struct db_run *r)
{
	json_t *tables = json_array();
	json_t *cur = NULL;
	size_t i;
	json_t *row;
	json_array_foreach(r->rows, i, row) {
		const char *s = json_string_value(json_object_get(row, "table_schema"));
		const char *t = json_string_value(json_object_get(row, "table_name"));
		if (s == NULL || t == NULL)
			continue;
		if (cur == NULL ||
		    strcmp(json_string_value(json_object_get(cur, "schema")), s) != 0 ||
		    strcmp(json_string_value(json_object_get(cur, "table")), t) != 0) {
			cur = json_pack("{s:s, s:s, s:O, s:[]}", "schema", s, "table", t,
			    "type", json_object_get(row, "table_type"), "columns");
			json_array_append_new(tables, cur);
		}
		json_array_append_new(json_object_get(cur, "columns"), json_pack("{s:O, s:O, s:b}",
		    "name", json_object_get(row, "column_name"),
		    "type", json_object_get(row, "data_type"),
		    "nullable", strcmp(json_string_value(json_object_get(row, "is_nullable")) ?
		        json_string_value(json_object_get(row, "is_nullable")) : "", "YES") == 0));
	}
	return json_pack("{s:o, s:b}", "tables", tables, "truncated", r->truncated);
}

static json_t *
tools_ok(json_t *structured)
{
	if (structured == NULL)
		return tools_err("", "out of memory");
	char *text = json_dumps(structured, JSON_COMPACT);
	json_t *res = json_pack("{s:[{s:s, s:s}], s:o, s:b}", "content", "type", "text",
	    "text", text ? text : "", "structuredContent", structured, "isError", 0);
	free(text);
	return res;
}

static json_t *
tools_err(const char *sqlstate, const char *fmt, ...)
{
	char m[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	return json_pack("{s:[{s:s, s:s}], s:{s:s, s:s}, s:b}", "content", "type", "text",
	    "text", m, "structuredContent", "error", m, "sqlstate", sqlstate, "isError", 1);
}

static json_t *
tools_run_failed(const struct db_run *r)
{
	if (r->sqlstate[0] != '\0')
		return tools_err(r->sqlstate, "%s (SQLSTATE %s)", r->error, r->sqlstate);
	return tools_err("", "%s", r->error);
}

static const char *
tools_str_arg(json_t *args, const char *key)
{
	return json_string_value(json_object_get(args, key));
}

static int
tools_int_arg(json_t *args, const char *key, int dflt, int lo, int hi, int *out)
{
	json_t *v = json_object_get(args, key);
	if (v == NULL || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return -1;
	*out = (int)json_integer_value(v);
	return 0;
}
