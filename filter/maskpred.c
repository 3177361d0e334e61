/* Masked columns over the libpg_query parse tree (JSON); see maskpred.h.
 *
 * One walk over the tree with where it is (the clause and the expression
 * around a node). A ColumnRef naming a masked column is a use, except as
 * the whole value of an output column of the statement itself: in database
 * mode any select-list or RETURNING entry; in gateway mode only those of
 * the top-level SELECT (no set operation, INTO or DISTINCT) or of the
 * top-level INSERT/UPDATE/DELETE RETURNING, where the relay knows the
 * column and masks it. */

#include "filter/maskpred.h"

#include <ctype.h>
#include <fnmatch.h>
#include <pg_query.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filter/facts.h"

struct pos {
	const char *clause;	/* "a WHERE clause" ... NULL at the top */
	const char *expr;	/* "a function argument" ... */
	int in_func;		/* inside a function call's arguments */
	int in_body;		/* inside a function body */
};

struct walk {
	json_t *cols;		/* [{"table":..,"column":..}] */
	json_t *pats;		/* [{"column": GLOB}] */
	json_t *facts, *relations;
	json_t *functions;	/* that may read a masked column (gateway mode) */
	int strict;		/* gateway mode */
	json_t *rows;		/* name of a whole row -> a masked column of it */
	int hit;
	char *message;
};

static const char *jstr(json_t *o, const char *key);
static int table_match(const char *written, const char *masked);
static int table_in_facts(json_t *facts, const char *table);
static const char *column_masked(struct walk *w, const char *col, char *buf,
    size_t len);
static const char *table_masked(struct walk *w, const char *name, char *buf,
    size_t len);
static const char *any_masked(struct walk *w, char *buf, size_t len);
static const char *some_masked(struct walk *w, char *buf, size_t len);
static const char *words_masked(struct walk *w, const char *text, char *buf,
    size_t len);
static void refuse(struct walk *w, const char *col, struct pos p,
    const char *how);
static const char *subtree_masked(struct walk *w, json_t *n, char *buf, size_t len,
    int depth);
static void collect_rows(struct walk *w, json_t *n, int depth);
static void walk(struct walk *w, json_t *n, struct pos p, int depth);
static void walk_top(struct walk *w, const char *name, json_t *body);
static void walk_plain_target(struct walk *w, json_t *rt, struct pos p);
static void opaque_bodies(struct walk *w);
static const char *clause_of_key(const char *k);
static int reads_masked(struct walk *w, json_t *funcname);
static const char *stmt_desc(const char *node);
static const char *func_kind(json_t *fc, const char *name);
static int runs_sql_text(const char *name);
static void column_ref(struct walk *w, json_t *cr, struct pos p);
static void body_text(struct walk *w, const char *text, struct pos p);
static int ordinal(json_t *n);

#define MAX_DEPTH 4000

static const char *
jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A mask table without a schema matches in any schema; a table written
 * without a schema matches a mask table by its name; a catalog in front
 * of the written name is ignored. */
static int
table_match(const char *s, const char *table)
{
	const char *d1 = strchr(s, '.');
	if (d1 != NULL && strchr(d1 + 1, '.') != NULL)
		s = d1 + 1;
	const char *sdot = strrchr(s, '.'), *tdot = strrchr(table, '.');
	return strcmp(s, table) == 0 ||
	    (tdot == NULL && sdot != NULL && strcmp(sdot + 1, table) == 0) ||
	    (sdot == NULL && tdot != NULL && strcmp(tdot + 1, s) == 0);
}

static int
table_in_facts(json_t *facts, const char *table)
{
	static const char *const keys[] = { "tables_read", "tables_written" };
	size_t i, j;
	json_t *f, *n;
	json_array_foreach(facts, i, f)
		for (int k = 0; k < 2; k++)
			json_array_foreach(json_object_get(f, keys[k]), j, n)
				if (json_is_string(n) &&
				    table_match(json_string_value(n), table))
					return 1;
	return 0;
}

/* The masked column's full name into buf, or NULL. */
static const char *
column_masked(struct walk *w, const char *col, char *buf, size_t len)
{
	size_t i;
	json_t *m;
	json_array_foreach(w->cols, i, m) {
		const char *t = jstr(m, "table"), *c = jstr(m, "column");
		if (t != NULL && c != NULL && strcmp(c, col) == 0 &&
		    table_in_facts(w->facts, t)) {
			snprintf(buf, len, "%s.%s", t, c);
			return buf;
		}
	}
	json_array_foreach(w->pats, i, m) {
		const char *g = jstr(m, "column");
		if (g != NULL && fnmatch(g, col, FNM_CASEFOLD) == 0) {
			snprintf(buf, len, "%s", col);
			return buf;
		}
	}
	return NULL;
}

/* A masked column of the relation written as name (a pattern may match a
 * column of any relation), or NULL. */
static const char *
table_masked(struct walk *w, const char *name, char *buf, size_t len)
{
	size_t i;
	json_t *m;
	json_array_foreach(w->cols, i, m) {
		const char *t = jstr(m, "table"), *c = jstr(m, "column");
		if (t != NULL && c != NULL && table_match(name, t)) {
			snprintf(buf, len, "%s.%s", t, c);
			return buf;
		}
	}
	json_array_foreach(w->pats, i, m)
		if (jstr(m, "column") != NULL) {
			snprintf(buf, len, "%s (a column matching %s)", name,
			    jstr(m, "column"));
			return buf;
		}
	return NULL;
}

/* A masked column of a table the statement reads or writes, or NULL. */
static const char *
any_masked(struct walk *w, char *buf, size_t len)
{
	size_t i;
	json_t *m;
	json_array_foreach(w->cols, i, m) {
		const char *t = jstr(m, "table"), *c = jstr(m, "column");
		if (t != NULL && c != NULL && table_in_facts(w->facts, t)) {
			snprintf(buf, len, "%s.%s", t, c);
			return buf;
		}
	}
	json_array_foreach(w->pats, i, m)
		if (jstr(m, "column") != NULL) {
			snprintf(buf, len, "matching %s", jstr(m, "column"));
			return buf;
		}
	return NULL;
}

/* A masked column of a table the statement uses, else the first masked
 * column (a statement may reach a table without naming it). */
static const char *
some_masked(struct walk *w, char *buf, size_t len)
{
	json_t *m = json_array_get(w->cols, 0);
	if (any_masked(w, buf, len) != NULL)
		return buf;
	if (m != NULL)
		snprintf(buf, len, "%s.%s", jstr(m, "table") ? jstr(m, "table") : "?",
		    jstr(m, "column") ? jstr(m, "column") : "?");
	else
		snprintf(buf, len, "matching %s", jstr(json_array_get(w->pats, 0),
		    "column") ? jstr(json_array_get(w->pats, 0), "column") : "?");
	return buf;
}

/* Whether text names a masked column or a table with one, as a word
 * (letters, digits, _ and $, any case): a masked column's full name into
 * buf, or NULL. */
static const char *
words_masked(struct walk *w, const char *text, char *buf, size_t len)
{
	char word[256];
	const unsigned char *p = (const unsigned char *)text;
	while (*p != '\0') {
		if (!(isalnum(*p) || *p == '_' || *p == '$' || *p >= 0x80)) {
			p++;
			continue;
		}
		size_t n = 0;
		while (isalnum(*p) || *p == '_' || *p == '$' || *p >= 0x80) {
			if (n + 1 < sizeof word)
				word[n++] = (char)tolower(*p);
			p++;
		}
		word[n] = '\0';
		size_t i;
		json_t *m;
		json_array_foreach(w->cols, i, m) {
			const char *t = jstr(m, "table"), *c = jstr(m, "column");
			if (t == NULL || c == NULL)
				continue;
			const char *tl = strrchr(t, '.') ? strrchr(t, '.') + 1 : t;
			if (strcasecmp(word, c) == 0 || strcasecmp(word, tl) == 0) {
				snprintf(buf, len, "%s.%s", t, c);
				return buf;
			}
		}
		json_array_foreach(w->pats, i, m) {
			const char *g = jstr(m, "column");
			if (g != NULL && fnmatch(g, word, FNM_CASEFOLD) == 0) {
				snprintf(buf, len, "%s", word);
				return buf;
			}
		}
	}
	return NULL;
}

/* The first use found is the one reported. how: the reason, or NULL for
 * "only a plain output column may use it". */
static void
refuse(struct walk *w, const char *col, struct pos p, const char *how)
{
	char found[512];
	if (w->hit)
		return;
	w->hit = 1;
	if (p.expr != NULL && p.clause != NULL)
		snprintf(found, sizeof found, "%s in %s", p.expr, p.clause);
	else
		snprintf(found, sizeof found, "%s", p.expr != NULL ? p.expr :
		    p.clause != NULL ? p.clause : "an expression");
	size_t n = strlen(col) + strlen(found) + (how ? strlen(how) : 0) + 128;
	if ((w->message = malloc(n)) != NULL)
		snprintf(w->message, n, "column %s is masked for you: %s (found in %s)",
		    col, how != NULL ? how : "only a plain output column may use it",
		    found);
}

/* A masked column of a table (or of a view's base table) that a part of
 * the FROM clause reads, into buf, or NULL. */
static const char *
subtree_masked(struct walk *w, json_t *n, char *buf, size_t len, int depth)
{
	size_t i;
	json_t *v;
	const char *k;
	if (depth > MAX_DEPTH)
		return some_masked(w, buf, len);
	if (json_is_array(n)) {
		json_array_foreach(n, i, v)
			if (subtree_masked(w, v, buf, len, depth + 1) != NULL)
				return buf;
		return NULL;
	}
	if (!json_is_object(n))
		return NULL;
	if (json_is_string(json_object_get(n, "relname"))) {
		char name[1024];
		json_t *b;
		facts_rangevar_name(n, name, sizeof name);
		if (table_masked(w, name, buf, len) != NULL)
			return buf;
		json_array_foreach(facts_relation_bases(w->relations, name), i, b)
			if (json_is_string(b) &&
			    table_masked(w, json_string_value(b), buf, len) != NULL)
				return buf;
		return NULL;
	}
	json_object_foreach(n, k, v)
		if (subtree_masked(w, v, buf, len, depth + 1) != NULL)
			return buf;
	return NULL;
}

/* Gateway mode: the names under which a statement can refer to the whole
 * row of a relation with a masked column (its alias, else its name), and
 * the relations that are refused wherever they appear. */
static void
collect_rows(struct walk *w, json_t *n, int depth)
{
	static const char *const stats[] = { "pg_stats", "pg_statistic",
		"pg_stats_ext", "pg_stats_ext_exprs", "pg_statistic_ext_data", NULL };
	char name[1024], col[1200];
	size_t i;
	json_t *v;
	const char *k;
	if (w->hit || depth > MAX_DEPTH)
		return;
	if (json_is_array(n)) {
		json_array_foreach(n, i, v)
			collect_rows(w, v, depth + 1);
		return;
	}
	if (!json_is_object(n))
		return;
	if (json_is_string(json_object_get(n, "relname"))) {
		struct pos p = { NULL, NULL, 0, 0 };
		facts_rangevar_name(n, name, sizeof name);
		const char *alias = jstr(json_object_get(n, "alias"), "aliasname");
		const char *rel = jstr(n, "relname");
		if (table_masked(w, name, col, sizeof col) != NULL) {
			json_object_set_new(w->rows, alias != NULL ? alias : rel,
			    json_string(col));
			/* customers AS c(i, n, e, d): d is card_number by
			 * position, which names cannot tell */
			if (json_array_size(json_object_get(json_object_get(n, "alias"),
			    "colnames")) > 0) {
				char how[1100];
				snprintf(how, sizeof how, "column aliases after %s rename its "
				    "columns", name);
				p.clause = "FROM";
				refuse(w, col, p, how);
				return;
			}
		}
		for (int s = 0; stats[s] != NULL; s++)
			if (strcmp(rel, stats[s]) == 0) {
				some_masked(w, col, sizeof col);
				char how[1100];
				snprintf(how, sizeof how, "the statistics in %s hold its "
				    "values", name);
				p.clause = "a read of a statistics view";
				refuse(w, col, p, how);
				return;
			}
		json_t *bases = facts_relation_bases(w->relations, name), *b;
		json_array_foreach(bases, i, b) {
			if (json_is_string(b) &&
			    table_masked(w, json_string_value(b), col, sizeof col) != NULL) {
				char how[2400];
				snprintf(how, sizeof how, "%s stands for %s, and a view or "
				    "rule hides which column a value comes from", name,
				    json_string_value(b));
				p.clause = "a read through a view or rule";
				refuse(w, col, p, how);
				return;
			}
		}
	}
	json_t *je = json_object_get(n, "JoinExpr");
	if (json_array_size(json_object_get(json_object_get(je, "alias"), "colnames")) > 0 &&
	    any_masked(w, col, sizeof col) != NULL) {
		struct pos p = { "FROM", NULL, 0, 0 };
		refuse(w, col, p, "column aliases of a join rename its columns");
		return;
	}
	/* (customers c JOIN orders o ON ...) j: j is a whole row too */
	const char *jalias = jstr(json_object_get(je, "alias"), "aliasname");
	if (jalias != NULL && subtree_masked(w, je, col, sizeof col, depth) != NULL)
		json_object_set_new(w->rows, jalias, json_string(col));
	json_object_foreach(n, k, v)
		collect_rows(w, v, depth + 1);
}

static const char *
clause_of_key(const char *k)
{
	static const struct { const char *key, *what; } m[] = {
		{ "whereClause", "a WHERE clause" },
		{ "havingClause", "HAVING" },
		{ "sortClause", "ORDER BY" },
		{ "groupClause", "GROUP BY" },
		{ "distinctClause", "DISTINCT" },
		{ "windowClause", "a window definition" },
		{ "quals", "a JOIN condition" },
		{ "joinCondition", "the MERGE ON condition" },
		{ "mergeWhenClauses", "a MERGE action" },
		{ "onConflictClause", "ON CONFLICT" },
		{ "valuesLists", "VALUES" },
		{ "limitCount", "LIMIT" },
		{ "limitOffset", "OFFSET" },
		{ "returningList", "the RETURNING list of a nested statement" },
		{ "targetList", "a select list that is not the statement's own output" },
		{ "withClause", "a WITH query" },
		{ "fromClause", NULL },
	};
	for (size_t i = 0; i < sizeof m / sizeof *m; i++)
		if (strcmp(m[i].key, k) == 0)
			return m[i].what;
	return NULL;
}

static const char *
stmt_desc(const char *node)
{
	static const struct { const char *node, *what; } m[] = {
		{ "SelectStmt", "a nested query" },
		{ "InsertStmt", "an INSERT" },
		{ "UpdateStmt", "an UPDATE" },
		{ "DeleteStmt", "a DELETE" },
		{ "MergeStmt", "a MERGE" },
		{ "ViewStmt", "a view definition" },
		{ "CreateTableAsStmt", "CREATE TABLE AS" },
		{ "ExplainStmt", "EXPLAIN" },
		{ "CopyStmt", "COPY" },
		{ "RuleStmt", "a rule definition" },
		{ "CreateFunctionStmt", "a function body" },
		{ "DoStmt", "a DO block" },
		{ "IndexStmt", "an index definition" },
		{ "CreateStatsStmt", "a statistics definition" },
		{ "CreatePolicyStmt", "a row security policy" },
		{ "AlterPolicyStmt", "a row security policy" },
		{ "CreateTrigStmt", "a trigger definition" },
	};
	for (size_t i = 0; i < sizeof m / sizeof *m; i++)
		if (strcmp(m[i].node, node) == 0)
			return m[i].what;
	return "a nested statement";
}

static const char *
func_kind(json_t *fc, const char *name)
{
	static const char *const aggs[] = { "count", "sum", "avg", "min", "max",
		"array_agg", "string_agg", "json_agg", "jsonb_agg", "json_object_agg",
		"jsonb_object_agg", "xmlagg", "bool_and", "bool_or", "every",
		"bit_and", "bit_or", "bit_xor", "mode", "percentile_cont",
		"percentile_disc", "range_agg", "range_intersect_agg", NULL };
	if (json_object_get(fc, "over") != NULL)
		return "a window function";
	if (json_object_get(fc, "agg_order") != NULL ||
	    json_object_get(fc, "agg_filter") != NULL ||
	    json_is_true(json_object_get(fc, "agg_distinct")) ||
	    json_is_true(json_object_get(fc, "agg_within_group")))
		return "an aggregate";
	for (int i = 0; name != NULL && aggs[i] != NULL; i++)
		if (strcmp(aggs[i], name) == 0)
			return "an aggregate";
	return "a function argument";
}

/* Built-in and common extension functions that run SQL, or read a table,
 * given as text. */
static int
runs_sql_text(const char *name)
{
	static const char *const fns[] = { "ts_stat", "crosstab", "crosstab2",
		"crosstab3", "crosstab4", "connectby", "dblink", "dblink_exec",
		"dblink_open", "dblink_fetch", "dblink_send_query", NULL };
	size_t n = strlen(name);
	if (strncmp(name, "dblink", 6) == 0)
		return 1;
	if ((n > 7 && strcmp(name + n - 7, "_to_xml") == 0) ||
	    (n > 13 && strcmp(name + n - 13, "_to_xmlschema") == 0) ||
	    (n > 21 && strcmp(name + n - 21, "_to_xml_and_xmlschema") == 0))
		return 1;
	for (int i = 0; fns[i] != NULL; i++)
		if (strcmp(fns[i], name) == 0)
			return 1;
	return 0;
}

static void
column_ref(struct walk *w, json_t *cr, struct pos p)
{
	json_t *fields = json_object_get(cr, "fields");
	size_t nf = json_array_size(fields);
	json_t *last = json_array_get(fields, nf - 1);
	const char *col = jstr(json_object_get(last, "String"), "sval");
	char buf[1200];
	if (col != NULL && column_masked(w, col, buf, sizeof buf) != NULL) {
		refuse(w, buf, p, NULL);
		return;
	}
	if (!w->strict)
		return;
	if (col != NULL && nf == 1 && json_object_get(w->rows, col) != NULL) {
		p.expr = "a whole-row reference";
		refuse(w, json_string_value(json_object_get(w->rows, col)), p, NULL);
		return;
	}
	if (json_object_get(last, "A_Star") == NULL)
		return;
	if (nf == 1) {
		if (any_masked(w, buf, sizeof buf) != NULL) {
			p.expr = "a * that is not the statement's own output";
			refuse(w, buf, p, NULL);
		}
		return;
	}
	const char *t = jstr(json_object_get(json_array_get(fields, nf - 2),
	    "String"), "sval");
	if (t != NULL && json_object_get(w->rows, t) != NULL) {
		p.expr = "a t.* that is not the statement's own output";
		refuse(w, json_string_value(json_object_get(w->rows, t)), p, NULL);
	}
}

/* DO blocks and function bodies (gateway mode): a body that names a masked
 * column or a table with one, as a word anywhere (also in its strings,
 * which it may EXECUTE), is refused. */
static void
body_text(struct walk *w, const char *text, struct pos p)
{
	char buf[1200];
	if (text != NULL && words_masked(w, text, buf, sizeof buf) != NULL)
		refuse(w, buf, p, "a DO block or function body may not name it or "
		    "its table");
}

static int
ordinal(json_t *n)
{
	json_t *c = json_object_get(n, "A_Const");
	return c != NULL && json_object_get(c, "ival") != NULL;
}

static void
walk(struct walk *w, json_t *n, struct pos p, int depth)
{
	size_t i;
	json_t *v, *x;
	const char *k;
	char buf[1200];
	if (w->hit)
		return;
	if (depth > MAX_DEPTH) {
		refuse(w, "(any)", p, "the statement is nested too deeply to check");
		return;
	}
	if (json_is_array(n)) {
		json_array_foreach(n, i, v)
			walk(w, v, p, depth + 1);
		return;
	}
	if (!json_is_object(n))
		return;
	if ((x = json_object_get(n, "ColumnRef")) != NULL) {
		column_ref(w, x, p);
		return;
	}
	if ((x = json_object_get(n, "ResTarget")) != NULL) {
		json_t *val = json_object_get(x, "val");
		/* database mode: any output column's whole value is masked
		 * by PostgreSQL or the relay on the way out */
		if (!w->strict && json_object_get(val, "ColumnRef") != NULL)
			val = NULL;
		walk(w, val, p, depth + 1);
		walk(w, json_object_get(x, "indirection"), p, depth + 1);
		return;
	}
	if ((x = json_object_get(n, "SortBy")) != NULL ||
	    (strcmp(p.clause ? p.clause : "", "GROUP BY") == 0 && ordinal(n))) {
		/* ORDER BY 1 / GROUP BY 1: by an output column, maybe masked */
		if (x == NULL || ordinal(json_object_get(x, "node"))) {
			if (any_masked(w, buf, sizeof buf) != NULL) {
				p.expr = "a column number";
				refuse(w, buf, p, NULL);
			}
			return;
		}
	}
	if (w->strict && (x = json_object_get(n, "A_Const")) != NULL) {
		const char *s = jstr(json_object_get(x, "sval"), "sval");
		if (p.in_func && s != NULL && words_masked(w, s, buf, sizeof buf) != NULL) {
			p.expr = "a string given to a function";
			refuse(w, buf, p, "text that names it may be run as SQL");
		}
		return;
	}
	if (w->strict && p.in_body && json_is_string(json_object_get(n, "relname"))) {
		char name[1024];
		facts_rangevar_name(n, name, sizeof name);
		if (table_masked(w, name, buf, sizeof buf) != NULL) {
			refuse(w, buf, p, "a function body may not read its table");
			return;
		}
	}
	if ((x = json_object_get(n, "JoinExpr")) != NULL) {
		json_array_foreach(json_object_get(x, "usingClause"), i, v) {
			const char *c = jstr(json_object_get(v, "String"), "sval");
			if (c != NULL && column_masked(w, c, buf, sizeof buf) != NULL) {
				p.clause = "JOIN USING";
				refuse(w, buf, p, NULL);
				return;
			}
		}
		if (json_is_true(json_object_get(x, "isNatural")) &&
		    any_masked(w, buf, sizeof buf) != NULL) {
			p.clause = "a NATURAL JOIN";
			refuse(w, buf, p, NULL);
			return;
		}
	}
	if (w->strict && (x = json_object_get(n, "IndexElem")) != NULL) {
		const char *c = jstr(x, "name");
		if (c != NULL && column_masked(w, c, buf, sizeof buf) != NULL) {
			p.expr = "an index or ON CONFLICT column";
			refuse(w, buf, p, NULL);
			return;
		}
	}
	if ((x = json_object_get(n, "FuncCall")) != NULL) {
		json_t *names = json_object_get(x, "funcname");
		const char *fn = jstr(json_object_get(json_array_get(names,
		    json_array_size(names) - 1), "String"), "sval");
		if (w->strict && fn != NULL && reads_masked(w, names)) {
			some_masked(w, buf, sizeof buf);
			char how[400];
			snprintf(how, sizeof how, "function %.200s is not built in and may read "
			    "it (its source names a masked table or column, runs dynamic SQL, "
			    "or cannot be read)", fn);
			p.expr = "a function call";
			refuse(w, buf, p, how);
			return;
		}
		if (w->strict && fn != NULL && runs_sql_text(fn)) {
			some_masked(w, buf, sizeof buf);
			char how[300];
			snprintf(how, sizeof how, "%s runs SQL given as text, which "
			    "cannot be checked", fn);
			p.expr = "a function call";
			refuse(w, buf, p, how);
			return;
		}
		struct pos q = p;
		q.expr = func_kind(x, fn);
		q.in_func = 1;
		json_object_foreach(x, k, v)
			if (strcmp(k, "funcname") != 0)
				walk(w, v, strcmp(k, "over") == 0 ? (struct pos){
				    "a window definition", NULL, 0, p.in_body } : q,
				    depth + 1);
		return;
	}
	if ((x = json_object_get(n, "SubLink")) != NULL) {
		const char *t = jstr(x, "subLinkType");
		struct pos q = { t == NULL ? "a subquery" :
		    strcmp(t, "ARRAY_SUBLINK") == 0 ? "an ARRAY(...) subquery" :
		    strcmp(t, "EXISTS_SUBLINK") == 0 ? "an EXISTS subquery" :
		    strcmp(t, "EXPR_SUBLINK") == 0 ? "a scalar subquery" :
		    "an IN, ANY or ALL subquery", NULL, 0, p.in_body };
		walk(w, json_object_get(x, "testexpr"), p, depth + 1);
		walk(w, json_object_get(x, "subselect"), q, depth + 1);
		return;
	}
	if ((x = json_object_get(n, "RangeSubselect")) != NULL) {
		struct pos q = { "a subquery in FROM", NULL, 0, p.in_body };
		walk(w, x, q, depth + 1);
		return;
	}
	if ((x = json_object_get(n, "RangeFunction")) != NULL) {
		struct pos q = { "a function in FROM", NULL, 0, p.in_body };
		walk(w, x, q, depth + 1);
		return;
	}
	if ((x = json_object_get(n, "CommonTableExpr")) != NULL) {
		struct pos q = { "a WITH query", NULL, 0, p.in_body };
		walk(w, x, q, depth + 1);
		return;
	}
	static const struct { const char *node, *what; } exprs[] = {
		{ "A_Expr", "an operator expression" },
		{ "TypeCast", "a cast" },
		{ "CaseExpr", "a CASE expression" },
		{ "CoalesceExpr", "COALESCE" },
		{ "MinMaxExpr", "GREATEST or LEAST" },
		{ "NullTest", "an IS NULL test" },
		{ "BooleanTest", "an IS TRUE test" },
		{ "BoolExpr", "a boolean expression" },
		{ "A_Indirection", "a field or subscript" },
		{ "A_ArrayExpr", "an ARRAY[...] constructor" },
		{ "RowExpr", "a ROW(...) constructor" },
		{ "CollateClause", "COLLATE" },
		{ "XmlExpr", "an XML expression" },
		{ "JsonValueExpr", "a JSON expression" },
		{ "GroupingFunc", "GROUPING" },
	};
	for (size_t e = 0; e < sizeof exprs / sizeof *exprs; e++)
		if ((x = json_object_get(n, exprs[e].node)) != NULL) {
			struct pos q = p;
			q.expr = exprs[e].what;
			walk(w, x, q, depth + 1);
			return;
		}
	json_object_foreach(n, k, v) {
		struct pos q = p;
		size_t kl = strlen(k);
		if (kl > 4 && strcmp(k + kl - 4, "Stmt") == 0 && isupper((unsigned char)k[0])) {
			q.clause = stmt_desc(k);
			q.expr = NULL;
			q.in_func = 0;
			if (strcmp(k, "SelectStmt") == 0) {
				const char *op = jstr(v, "op");
				if (op != NULL && strcmp(op, "SETOP_NONE") != 0)
					q.clause = "a set operation (UNION, INTERSECT, EXCEPT)";
				else if (p.clause != NULL)
					q.clause = p.clause;
			}
			if (w->strict && strcmp(k, "DoStmt") == 0) {
				json_array_foreach(json_object_get(v, "args"), i, x) {
					json_t *d = json_object_get(x, "DefElem");
					if (strcmp(jstr(d, "defname") ? jstr(d, "defname") : "",
					    "as") == 0)
						body_text(w, jstr(json_object_get(json_object_get(d,
						    "arg"), "String"), "sval"), q);
				}
			}
			if (w->strict && strcmp(k, "CreateFunctionStmt") == 0) {
				q.in_body = 1;
				json_array_foreach(json_object_get(v, "options"), i, x) {
					json_t *d = json_object_get(x, "DefElem"), *it;
					size_t j;
					if (strcmp(jstr(d, "defname") ? jstr(d, "defname") : "",
					    "as") != 0)
						continue;
					json_array_foreach(json_object_get(json_object_get(
					    json_object_get(d, "arg"), "List"), "items"), j, it)
						body_text(w, jstr(json_object_get(it, "String"),
						    "sval"), q);
				}
			}
			if (w->strict && strcmp(k, "CopyStmt") == 0 &&
			    !json_is_true(json_object_get(v, "is_from"))) {
				json_t *rv = json_object_get(v, "relation");
				char name[1024];
				if (rv != NULL) {
					facts_rangevar_name(rv, name, sizeof name);
					if (table_masked(w, name, buf, sizeof buf) != NULL) {
						q.clause = "COPY TO";
						refuse(w, buf, q, "COPY rows carry no column "
						    "identity to mask it by");
						return;
					}
				}
			}
			walk(w, v, q, depth + 1);
			continue;
		}
		if (strcmp(k, "fromClause") == 0) {
			q.clause = p.clause;
			q.expr = NULL;
		} else if (clause_of_key(k) != NULL) {
			q.clause = clause_of_key(k);
			q.expr = NULL;
			q.in_func = 0;
			if (strcmp(k, "targetList") == 0 && p.clause != NULL &&
			    strcmp(p.clause, "an UPDATE") == 0)
				q.clause = "an UPDATE SET list";
			else if (strcmp(k, "targetList") == 0 && p.clause != NULL)
				q.clause = p.clause;
		}
		walk(w, v, q, depth + 1);
	}
}

/* A ResTarget that is an output column of the statement itself. */
static void
walk_plain_target(struct walk *w, json_t *rt, struct pos p)
{
	json_t *val = json_object_get(json_object_get(rt, "ResTarget"), "val");
	json_t *cr = json_object_get(val, "ColumnRef");
	if (cr == NULL) {
		walk(w, val, p, 1);
		return;
	}
	json_t *fields = json_object_get(cr, "fields");
	const char *only = json_array_size(fields) == 1 ? jstr(json_object_get(
	    json_array_get(fields, 0), "String"), "sval") : NULL;
	/* SELECT c FROM customers c: a whole row is never a plain column */
	if (w->strict && only != NULL && json_object_get(w->rows, only) != NULL) {
		p.expr = "a whole-row reference";
		refuse(w, json_string_value(json_object_get(w->rows, only)), p, NULL);
	}
}

/* A statement of the query string itself. */
static void
walk_top(struct walk *w, const char *name, json_t *body)
{
	struct pos top = { NULL, NULL, 0, 0 };
	struct pos out = { "the select list", NULL, 0, 0 };
	const char *k, *list = NULL, *op = jstr(body, "op");
	json_t *v;
	size_t i;
	if (strcmp(name, "DeclareCursorStmt") == 0 || strcmp(name, "PrepareStmt") == 0) {
		/* FETCH and EXECUTE return its rows as its own */
		json_object_foreach(json_object_get(body, "query"), k, v)
			walk_top(w, k, v);
		return;
	}
	if (strcmp(name, "SelectStmt") == 0) {
		if ((op == NULL || strcmp(op, "SETOP_NONE") == 0) && (!w->strict ||
		    (json_object_get(body, "intoClause") == NULL &&
		    json_object_get(body, "distinctClause") == NULL)))
			list = "targetList";
	} else if (strcmp(name, "InsertStmt") == 0 || strcmp(name, "UpdateStmt") == 0 ||
	    strcmp(name, "DeleteStmt") == 0) {
		list = "returningList";
		out.clause = "RETURNING";
	}
	if (list == NULL) {
		json_t *o = json_pack("{s:O}", name, body);
		if (strcmp(name, "SelectStmt") == 0)
			top.clause = json_object_get(body, "intoClause") != NULL ?
			    "SELECT INTO" : json_object_get(body, "distinctClause") != NULL ?
			    "SELECT DISTINCT" : NULL;
		walk(w, o, top, 0);
		json_decref(o);
		return;
	}
	json_array_foreach(json_object_get(body, list), i, v) {
		if (w->strict)
			walk_plain_target(w, v, out);
		else
			walk(w, v, out, 1);
	}
	json_object_foreach(body, k, v) {
		if (strcmp(k, list) == 0)
			continue;
		struct pos q = top;
		q.clause = clause_of_key(k);
		if (strcmp(k, "targetList") == 0)
			q.clause = "an UPDATE SET list";
		if (strcmp(k, "selectStmt") == 0)
			q.clause = "INSERT ... SELECT";
		walk(w, v, q, 1);
	}
}

/* Gateway mode: a DO block or function body that could not be analysed
 * (dynamic EXECUTE, another language, a parse error) may do anything. */
static void
opaque_bodies(struct walk *w)
{
	size_t i;
	json_t *f;
	char buf[1200];
	json_array_foreach(w->facts, i, f) {
		if (!json_is_true(json_object_get(f, "opaque")))
			continue;
		json_t *p = f;
		for (int hops = 0; p != NULL && hops < 64; hops++) {
			const char *node = jstr(p, "node");
			if (node != NULL && (strcmp(node, "DoStmt") == 0 ||
			    strcmp(node, "CreateFunctionStmt") == 0)) {
				char how[700];
				struct pos q = { strcmp(node, "DoStmt") == 0 ? "a DO block" :
				    "a function body", NULL, 0, 0 };
				snprintf(how, sizeof how, "a body that cannot be analysed "
				    "(%s) may use it", jstr(f, "opaque_reason") ?
				    jstr(f, "opaque_reason") : "opaque");
				refuse(w, some_masked(w, buf, sizeof buf), q, how);
				return;
			}
			json_t *up = json_object_get(p, "parent");
			p = json_is_integer(up) ? json_array_get(w->facts,
			    (size_t)json_integer_value(up)) : NULL;
		}
	}
}

struct maskpred_result
maskpred_find(json_t *mask, const char *sql, json_t *facts, json_t *relations,
    json_t *functions)
{
	struct maskpred_result r = { 0, NULL, NULL };
	struct walk w = { json_object_get(mask, "columns"),
		json_object_get(mask, "patterns"), facts, relations, functions, 0, NULL, 0,
		NULL };
	const char *mode = jstr(mask, "mode");
	if (json_array_size(w.cols) == 0 && json_array_size(w.pats) == 0)
		return r;
	w.strict = mode != NULL && strcmp(mode, "gateway") == 0;
	PgQueryParseResult pr = pg_query_parse(sql);
	if (pr.error != NULL) {
		r.error = strdup(pr.error->message ? pr.error->message : "syntax error");
		pg_query_free_parse_result(pr);
		return r;
	}
	json_t *tree = json_loads(pr.parse_tree, 0, NULL);
	pg_query_free_parse_result(pr);
	if (tree == NULL || (w.rows = json_object()) == NULL) {
		json_decref(tree);
		r.error = strdup("the parse tree could not be read (nested too deeply?)");
		return r;
	}
	if (w.strict) {
		collect_rows(&w, tree, 0);
		opaque_bodies(&w);
	}
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(tree, "stmts"), i, s) {
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(s, "stmt"), k, v)
			if (!w.hit)
				walk_top(&w, k, v);
	}
	json_decref(tree);
	json_decref(w.rows);
	r.masked = w.hit;
	r.message = w.message;
	if (w.hit && w.message == NULL)
		r.error = strdup("out of memory");
	return r;
}

void
maskpred_result_free(struct maskpred_result *r)
{
	if (r == NULL)
		return;
	free(r->message);
	free(r->error);
	r->message = NULL;
	r->error = NULL;
}

int
maskpred_check(const struct rules *p, const struct rule_identity *id,
    const char *sql, json_t *facts)
{
	json_t *mask;
	if (rules_mask_json(p, id, &mask) != 0)
		return -1;
	if (mask == NULL)
		return 0;
	struct maskpred_result r = maskpred_find(mask, sql, facts, NULL, NULL);
	json_decref(mask);
	int rc = r.error != NULL ? -1 : r.masked;
	maskpred_result_free(&r);
	return rc;
}

/* A call of a function the relay listed as one that may read a masked
 * column, by its name as written ("schema.name" or "name"). */
static int
reads_masked(struct walk *w, json_t *funcname)
{
	char name[300] = "";
	size_t i;
	json_t *part;
	json_array_foreach(funcname, i, part) {
		const char *v = jstr(json_object_get(part, "String"), "sval");
		if (v == NULL)
			return 0;
		size_t n = strlen(name);
		snprintf(name + n, sizeof name - n, "%s%s", n ? "." : "", v);
	}
	json_array_foreach(w->functions, i, part)
		if (json_is_string(part) && strcmp(json_string_value(part), name) == 0)
			return 1;
	return 0;
}
