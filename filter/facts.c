/* Statement facts from the PostgreSQL grammar (libpg_query): see facts.h
 * and docs/statement-facts.md.
 *
 * pg_query_parse() gives the raw parse tree as JSON; we walk it with
 * jansson.  Each statement, and each statement nested in another (a
 * data-modifying CTE, the statements of a DO block or a function body,
 * EXPLAIN's and PREPARE's statement, a rule's actions ...), becomes one fact
 * object appended to one flat array, parent before children. */

#include "filter/facts.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pg_query.h>

/* Nested parses (a DO block in a DO block ...) and JSON nesting. */
#define MAX_NEST 16
#define MAX_DEPTH 3000

struct ctx {
	json_t *out;		/* the array of facts */
	int text;		/* some fact depends on a constant */
	int nest;		/* current nested-parse depth */
	const char *src;	/* the text the current tree was parsed from */
};

/* The CTE names visible at a point of the tree: a chain of WITH clauses,
 * each with how many of its CTEs are visible (a non-recursive WITH sees
 * only the CTEs before it). */
struct scope {
	json_t *ctes;
	size_t nvis;
	const struct scope *up;
};

static void walk(struct ctx *c, size_t fi, json_t *v, const struct scope *sc,
		 const char *via, int depth);
static void analyze_stmt(struct ctx *c, const char *name, json_t *body,
			 const char *via, long parent, const struct scope *sc);
static void analyze_text(struct ctx *c, size_t fi, const char *sql,
			 const char *via, int expr_only);
static void merge_actions(struct ctx *c, size_t fi, json_t *b, const char *via);
static size_t action_fact(struct ctx *c, size_t fi, const char *kind, const char *via,
			  const char *node);

/* ---- small helpers ---------------------------------------------------- */

static const char *
jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static json_t *
fact(struct ctx *c, size_t fi)
{
	return json_array_get(c->out, fi);
}

static void
add_unique(json_t *f, const char *key, const char *s)
{
	json_t *a = json_object_get(f, key);
	size_t i;
	json_t *v;

	if (a == NULL) {
		a = json_array();
		json_object_set_new(f, key, a);
	}
	json_array_foreach(a, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return;
	json_array_append_new(a, json_string(s));
}

static void
set_opaque(struct ctx *c, size_t fi, const char *reason)
{
	json_t *f = fact(c, fi);

	c->text = 1;
	if (json_is_true(json_object_get(f, "opaque")))
		return;
	json_object_set_new(f, "opaque", json_true());
	json_object_set_new(f, "opaque_reason", json_string(reason));
}

static size_t
new_fact(struct ctx *c, const char *kind, const char *via, long parent,
	 const char *node)
{
	json_t *f = json_object();

	json_object_set_new(f, "kind", json_string(kind));
	json_object_set_new(f, "via", json_string(via));
	if (parent >= 0)
		json_object_set_new(f, "parent", json_integer(parent));
	json_object_set_new(f, "node", json_string(node));
	json_object_set_new(f, "tables_read", json_array());
	json_object_set_new(f, "tables_written", json_array());
	json_object_set_new(f, "functions", json_array());
	json_object_set_new(f, "settings", json_array());
	json_object_set_new(f, "opaque", json_false());
	json_array_append_new(c->out, f);
	return json_array_size(c->out) - 1;
}

static void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* "a.b.c" from a list of String nodes; "" when there are none. */
static void
join_names(json_t *list, char *buf, size_t len)
{
	size_t i, n = 0;
	json_t *v;

	buf[0] = 0;
	json_array_foreach(list, i, v) {
		const char *s = jstr(json_object_get(v, "String"), "sval");

		if (s == NULL)
			continue;
		n += (size_t)snprintf(buf + (n < len ? n : len - 1),
				      n < len ? len - n : 1, "%s%s",
				      n ? "." : "", s);
	}
}

static void
rangevar_name(json_t *rv, char *buf, size_t len)
{
	const char *cat = jstr(rv, "catalogname"), *sch = jstr(rv, "schemaname");
	const char *rel = jstr(rv, "relname");

	snprintf(buf, len, "%s%s%s%s%s", cat ? cat : "", cat ? "." : "",
		 sch ? sch : "", sch ? "." : "", rel ? rel : "");
}

static int
cte_visible(const struct scope *sc, const char *name)
{
	for (; sc != NULL; sc = sc->up)
		for (size_t i = 0; i < sc->nvis; i++) {
			json_t *cte = json_object_get(
				json_array_get(sc->ctes, i), "CommonTableExpr");
			const char *n = jstr(cte, "ctename");

			if (n != NULL && strcmp(n, name) == 0)
				return 1;
		}
	return 0;
}

static void
add_table(struct ctx *c, size_t fi, json_t *rv, int written,
	  const struct scope *sc)
{
	char name[1024];

	if (!json_is_object(rv) || jstr(rv, "relname") == NULL)
		return;
	if (!written && jstr(rv, "schemaname") == NULL &&
	    jstr(rv, "catalogname") == NULL &&
	    cte_visible(sc, jstr(rv, "relname")))
		return;
	rangevar_name(rv, name, sizeof name);
	add_unique(fact(c, fi), written ? "tables_written" : "tables_read", name);
}

/* A RangeVar-typed field: wrapped {"RangeVar": {...}} or not. */
static json_t *
as_rangevar(json_t *v)
{
	json_t *w = json_object_get(v, "RangeVar");

	return w ? w : v;
}

/* ---- constant evaluation of a WHERE clause ---------------------------- */

enum vt { V_UNK, V_NULL, V_BOOL, V_NUM, V_STR };

struct val {
	enum vt t;
	int b;
	int isint;
	double n;
	const char *s;
};

static const struct val UNK = { V_UNK, 0, 0, 0, NULL };

/* Numbers stay within +-9e15, where doubles hold integers exactly (no
 * libm: truncation by conversion). */
#define NUM_MAX 9e15

static int
num_ok(double d)
{
	return d <= NUM_MAX && d >= -NUM_MAX;	/* false for NaN */
}

static double
num_trunc(double d)
{
	return (double)(long long)d;
}

static double
num_round(double d)
{
	return (double)(long long)(d < 0 ? d - 0.5 : d + 0.5);
}

static int
parse_bool_text(const char *s, int *b)
{
	static const char *const yes[] = { "t", "true", "y", "yes", "on", "1" };
	static const char *const no[] = { "f", "false", "n", "no", "off", "0" };
	char w[16];
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n == 0 || n >= sizeof w)
		return 0;
	memcpy(w, s, n);
	w[n] = 0;
	lower(w);
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
		if (strcmp(w, yes[i]) == 0)
			return *b = 1, 1;
		if (strcmp(w, no[i]) == 0)
			return *b = 0, 1;
	}
	return 0;
}

static int
parse_num_text(const char *s, double *d, int *isint)
{
	char *end;

	if (*s == 0)
		return 0;
	*d = strtod(s, &end);
	while (isspace((unsigned char)*end))
		end++;
	if (*end != 0 || !num_ok(*d))
		return 0;
	*isint = strpbrk(s, ".eE") == NULL;
	return 1;
}

/* In a boolean context an unknown-typed literal ('t') becomes a bool. */
static struct val
to_bool(struct val v)
{
	struct val r = UNK;

	if (v.t == V_BOOL || v.t == V_NULL)
		return v;
	if (v.t == V_STR && parse_bool_text(v.s, &r.b))
		r.t = V_BOOL;
	return r;
}

static struct val eval(struct ctx *c, json_t *node, int *known);

/* libpg_query 15-4.0.0 writes a negative integer constant as "ival": {},
 * the same as 0 (JSON output drops what it takes for the default): read the
 * literal at the constant's location in the source text instead. */
static int
const_zero_or_negative(struct ctx *c, json_t *aconst, double *d)
{
	json_t *loc = json_object_get(aconst, "location");
	json_int_t l = json_integer_value(loc);
	const char *p;
	char *end;
	long long n;
	int neg = 0;

	if (c->src == NULL || !json_is_integer(loc) || l < 0 ||
	    (size_t)l >= strlen(c->src))
		return 0;
	p = c->src + l;
	if (*p == '-') {
		neg = 1;
		p++;
		while (isspace((unsigned char)*p))
			p++;
	}
	if (!isdigit((unsigned char)*p))
		return 0;
	n = strtoll(p, &end, 10);
	if (isalnum((unsigned char)*end) || *end == '.' || n > 2147483648LL)
		return 0;
	*d = neg ? -(double)n : (double)n;
	return neg || n == 0;
}

static struct val
eval_bool(struct ctx *c, json_t *node, int *known)
{
	struct val v = to_bool(eval(c, node, known));

	if (v.t == V_BOOL || v.t == V_NULL)
		*known = 1;
	return v;
}

static struct val
mkbool(int b)
{
	struct val v = { V_BOOL, b != 0, 0, 0, NULL };
	return v;
}

static struct val
mknull(void)
{
	struct val v = { V_NULL, 0, 0, 0, NULL };
	return v;
}

/* Compare two known values: -1/0/1, or 2 when not comparable here (string
 * ordering depends on the collation, so only equality of strings). */
static int
cmp_vals(struct val a, struct val b, int eq_only_ok)
{
	if (a.t == V_STR && b.t == V_NUM) {
		if (!parse_num_text(a.s, &a.n, &a.isint))
			return 2;
		a.t = V_NUM;
	}
	if (b.t == V_STR && a.t == V_NUM) {
		if (!parse_num_text(b.s, &b.n, &b.isint))
			return 2;
		b.t = V_NUM;
	}
	if (a.t == V_STR && b.t == V_BOOL) {
		if (!parse_bool_text(a.s, &a.b))
			return 2;
		a.t = V_BOOL;
	}
	if (b.t == V_STR && a.t == V_BOOL) {
		if (!parse_bool_text(b.s, &b.b))
			return 2;
		b.t = V_BOOL;
	}
	if (a.t != b.t)
		return 2;
	switch (a.t) {
	case V_NUM:
		return a.n < b.n ? -1 : a.n > b.n;
	case V_BOOL:
		return a.b - b.b;
	case V_STR:
		if (!eq_only_ok)
			return 2;
		return strcmp(a.s, b.s) != 0;
	default:
		return 2;
	}
}

static struct val
eval_op(const char *op, struct val a, struct val b, int unary)
{
	struct val r = UNK;
	int k;

	if (unary) {
		if (b.t == V_NULL)
			return b;
		if (b.t != V_NUM)
			return UNK;
		if (strcmp(op, "-") == 0)
			b.n = -b.n;
		else if (strcmp(op, "+") != 0)
			return UNK;
		return b;
	}
	if (a.t == V_UNK || b.t == V_UNK)
		return UNK;
	if (a.t == V_NULL || b.t == V_NULL)
		return mknull();	/* the built-in operators are strict */
	if (strcmp(op, "=") == 0 || strcmp(op, "<>") == 0 ||
	    strcmp(op, "!=") == 0) {
		k = cmp_vals(a, b, 1);
		if (k == 2)
			return UNK;
		return mkbool((k == 0) == (op[0] == '='));
	}
	if (strcmp(op, "<") == 0 || strcmp(op, ">") == 0 ||
	    strcmp(op, "<=") == 0 || strcmp(op, ">=") == 0) {
		k = cmp_vals(a, b, 0);
		if (k == 2)
			return UNK;
		if (op[0] == '<')
			return mkbool(op[1] ? k <= 0 : k < 0);
		return mkbool(op[1] ? k >= 0 : k > 0);
	}
	if (a.t == V_STR && !parse_num_text(a.s, &a.n, &a.isint))
		return UNK;
	if (b.t == V_STR && !parse_num_text(b.s, &b.n, &b.isint))
		return UNK;
	if ((a.t != V_NUM && a.t != V_STR) || (b.t != V_NUM && b.t != V_STR))
		return UNK;
	r.t = V_NUM;
	r.isint = a.isint && b.isint;
	if (strcmp(op, "+") == 0)
		r.n = a.n + b.n;
	else if (strcmp(op, "-") == 0)
		r.n = a.n - b.n;
	else if (strcmp(op, "*") == 0)
		r.n = a.n * b.n;
	else if (strcmp(op, "/") == 0 && b.n != 0)
		r.n = a.n / b.n;
	else if (strcmp(op, "%") == 0 && r.isint && b.n != 0)
		r.n = (double)((long long)a.n % (long long)b.n);
	else
		return UNK;
	if (!num_ok(r.n))
		return UNK;
	if (r.isint && op[0] == '/')
		r.n = num_trunc(r.n);
	return r;
}

static struct val
eval_typecast(struct ctx *c, json_t *tc, int *known)
{
	struct val v = eval(c, json_object_get(tc, "arg"), known);
	json_t *tn = json_object_get(tc, "typeName");
	json_t *names = json_object_get(tn, "names");
	const char *t = jstr(json_object_get(
		json_array_get(names, json_array_size(names) - 1), "String"), "sval");

	if (t == NULL || json_object_get(tn, "arrayBounds") != NULL)
		return UNK;
	if (v.t == V_UNK || v.t == V_NULL)
		return v;
	if (strcmp(t, "bool") == 0) {
		if (v.t == V_NUM && v.isint)
			return mkbool(v.n != 0);
		return to_bool(v);
	}
	if (strcmp(t, "int2") == 0 || strcmp(t, "int4") == 0 ||
	    strcmp(t, "int8") == 0 || strcmp(t, "numeric") == 0 ||
	    strcmp(t, "float4") == 0 || strcmp(t, "float8") == 0) {
		int isint = t[0] == 'i';

		if (v.t == V_STR) {
			int si;

			if (!parse_num_text(v.s, &v.n, &si) || (isint && !si))
				return UNK;
			v.t = V_NUM;
		}
		if (v.t != V_NUM)
			return UNK;
		if (isint)
			v.n = num_round(v.n);
		v.isint = isint;
		return v;
	}
	if (strcmp(t, "text") == 0 || strcmp(t, "varchar") == 0)
		return v.t == V_STR ? v : UNK;
	return UNK;
}

static struct val
eval_aexpr(struct ctx *c, json_t *e, int *known)
{
	const char *kind = jstr(e, "kind");
	json_t *names = json_object_get(e, "name");
	const char *op = jstr(json_object_get(
		json_array_get(names, json_array_size(names) - 1), "String"), "sval");
	json_t *lx = json_object_get(e, "lexpr"), *rx = json_object_get(e, "rexpr");
	struct val a, b, r;

	if (kind == NULL || op == NULL || json_array_size(names) != 1)
		return UNK;	/* OPERATOR(schema.op) may be anything */
	if (strcmp(kind, "AEXPR_OP") == 0) {
		b = eval(c, rx, known);
		if (lx == NULL)
			return eval_op(op, UNK, b, 1);
		a = eval(c, lx, known);
		r = eval_op(op, a, b, 0);
		if (r.t == V_BOOL || r.t == V_NULL)
			*known = 1;
		return r;
	}
	if (strcmp(kind, "AEXPR_DISTINCT") == 0 ||
	    strcmp(kind, "AEXPR_NOT_DISTINCT") == 0) {
		int same;

		a = eval(c, lx, known);
		b = eval(c, rx, known);
		if (a.t == V_UNK || b.t == V_UNK)
			return UNK;
		if (a.t == V_NULL || b.t == V_NULL)
			same = a.t == b.t;
		else {
			int k = cmp_vals(a, b, 1);

			if (k == 2)
				return UNK;
			same = k == 0;
		}
		*known = 1;
		return mkbool(same == (kind[6] == 'N'));
	}
	if (strcmp(kind, "AEXPR_IN") == 0) {
		json_t *list = json_object_get(json_object_get(rx, "List"), "items");
		int eq = strcmp(op, "=") == 0, any_unk = 0, any_null = 0;
		size_t i;
		json_t *it;

		if (list == NULL)
			return UNK;
		a = eval(c, lx, known);
		json_array_foreach(list, i, it) {
			r = eval_op("=", a, eval(c, it, known), 0);
			if (r.t == V_BOOL && r.b) {
				*known = 1;
				return mkbool(eq);
			}
			any_unk |= r.t == V_UNK;
			any_null |= r.t == V_NULL;
		}
		if (any_unk)
			return UNK;
		*known = 1;
		return any_null ? mknull() : mkbool(!eq);
	}
	if (strcmp(kind, "AEXPR_BETWEEN") == 0 ||
	    strcmp(kind, "AEXPR_NOT_BETWEEN") == 0) {
		json_t *list = json_object_get(json_object_get(rx, "List"), "items");
		struct val lo, hi;

		if (json_array_size(list) != 2)
			return UNK;
		a = eval(c, lx, known);
		lo = eval_op(">=", a, eval(c, json_array_get(list, 0), known), 0);
		hi = eval_op("<=", a, eval(c, json_array_get(list, 1), known), 0);
		if (lo.t == V_UNK || hi.t == V_UNK)
			return UNK;
		*known = 1;
		if ((lo.t == V_BOOL && !lo.b) || (hi.t == V_BOOL && !hi.b))
			r = mkbool(0);
		else if (lo.t == V_NULL || hi.t == V_NULL)
			r = mknull();
		else
			r = mkbool(1);
		if (kind[6] == 'N' && r.t == V_BOOL)
			r.b = !r.b;
		return r;
	}
	return UNK;
}

static struct val
eval(struct ctx *c, json_t *node, int *known)
{
	json_t *x;
	struct val v = UNK;

	if ((x = json_object_get(node, "A_Const")) != NULL) {
		json_t *k;

		if (json_is_true(json_object_get(x, "isnull")))
			return mknull();
		if ((k = json_object_get(x, "boolval")) != NULL) {
			*known = 1;
			return mkbool(json_is_true(json_object_get(k, "boolval")));
		}
		if ((k = json_object_get(x, "ival")) != NULL) {
			v.t = V_NUM;
			v.isint = 1;
			if (json_object_get(k, "ival") != NULL)
				v.n = (double)json_integer_value(json_object_get(k, "ival"));
			else if (!const_zero_or_negative(c, x, &v.n))
				return UNK;
			return num_ok(v.n) ? v : UNK;
		}
		if ((k = json_object_get(x, "fval")) != NULL) {
			const char *s = jstr(k, "fval");
			int isint;

			if (s != NULL && parse_num_text(s, &v.n, &isint))
				v.t = V_NUM;
			return v;
		}
		if ((k = json_object_get(x, "sval")) != NULL) {
			v.t = V_STR;
			v.s = jstr(k, "sval");
			if (v.s == NULL)
				v.s = "";
			return v;
		}
		return UNK;
	}
	if ((x = json_object_get(node, "TypeCast")) != NULL)
		return eval_typecast(c, x, known);
	if ((x = json_object_get(node, "A_Expr")) != NULL)
		return eval_aexpr(c, x, known);
	if ((x = json_object_get(node, "BoolExpr")) != NULL) {
		const char *op = jstr(x, "boolop");
		json_t *args = json_object_get(x, "args"), *a;
		size_t i;
		int any_unk = 0, any_null = 0, is_and;

		if (op == NULL)
			return UNK;
		if (strcmp(op, "NOT_EXPR") == 0) {
			v = eval_bool(c, json_array_get(args, 0), known);
			if (v.t == V_BOOL)
				v.b = !v.b;
			return v;
		}
		is_and = strcmp(op, "AND_EXPR") == 0;
		json_array_foreach(args, i, a) {
			struct val r = eval_bool(c, a, known);

			if (r.t == V_BOOL && r.b != is_and)
				return mkbool(!is_and);	/* x OR true, x AND false */
			any_unk |= r.t == V_UNK;
			any_null |= r.t == V_NULL;
		}
		if (any_unk)
			return UNK;
		return any_null ? mknull() : mkbool(is_and);
	}
	if ((x = json_object_get(node, "NullTest")) != NULL) {
		const char *t = jstr(x, "nulltesttype");

		v = eval(c, json_object_get(x, "arg"), known);
		if (v.t == V_UNK || t == NULL)
			return UNK;
		*known = 1;
		return mkbool((v.t == V_NULL) == (strcmp(t, "IS_NULL") == 0));
	}
	if ((x = json_object_get(node, "BooleanTest")) != NULL) {
		const char *t = jstr(x, "booltesttype");

		v = eval_bool(c, json_object_get(x, "arg"), known);
		if (v.t == V_UNK || t == NULL)
			return UNK;
		if (strcmp(t, "IS_TRUE") == 0)
			return mkbool(v.t == V_BOOL && v.b);
		if (strcmp(t, "IS_NOT_TRUE") == 0)
			return mkbool(!(v.t == V_BOOL && v.b));
		if (strcmp(t, "IS_FALSE") == 0)
			return mkbool(v.t == V_BOOL && !v.b);
		if (strcmp(t, "IS_NOT_FALSE") == 0)
			return mkbool(!(v.t == V_BOOL && !v.b));
		if (strcmp(t, "IS_UNKNOWN") == 0)
			return mkbool(v.t == V_NULL);
		if (strcmp(t, "IS_NOT_UNKNOWN") == 0)
			return mkbool(v.t != V_NULL);
		return UNK;
	}
	return UNK;
}

/* ---- tautologies beyond constants ------------------------------------- */

/* What a boolean expression is for every row: true (where the columns it
 * reads are not null, as for x = x), false or null, or not known here. */
#define T_UNK 0
#define T_TRUE 1
#define T_FALSE 2
#define T_NULL 3
#define TRUTH_DEPTH 64
#define MAX_PAIR_ARMS 512

static json_t *
strip_casts(json_t *n)
{
	json_t *tc;

	while ((tc = json_object_get(n, "TypeCast")) != NULL)
		n = json_object_get(tc, "arg");
	return n;
}

/* The same expression, locations aside. Comparing two constants sets
 * *known: the answer then depends on a constant. */
static int
node_equal(json_t *a, json_t *b, int *known, int depth)
{
	size_t i;
	const char *k;
	json_t *v;

	if (depth > MAX_DEPTH)
		return 0;
	if (json_is_object(a) && json_is_object(b)) {
		if (json_object_get(a, "A_Const") != NULL &&
		    json_object_get(b, "A_Const") != NULL)
			*known = 1;
		json_object_foreach(a, k, v)
			if (strcmp(k, "location") != 0 &&
			    !node_equal(v, json_object_get(b, k), known, depth + 1))
				return 0;
		json_object_foreach(b, k, v)
			if (strcmp(k, "location") != 0 && json_object_get(a, k) == NULL)
				return 0;
		return 1;
	}
	if (json_is_array(a) && json_is_array(b)) {
		if (json_array_size(a) != json_array_size(b))
			return 0;
		json_array_foreach(a, i, v)
			if (!node_equal(v, json_array_get(b, i), known, depth + 1))
				return 0;
		return 1;
	}
	return a != NULL && b != NULL && json_equal(a, b);
}

static int
same_expr(json_t *a, json_t *b, int *known)
{
	return a != NULL && b != NULL &&
	       node_equal(strip_casts(a), strip_casts(b), known, 0);
}

/* The operator of an A_Expr: "=" or OPERATOR(pg_catalog.=), else NULL. */
static const char *
aexpr_op(json_t *e)
{
	json_t *names = json_object_get(e, "name");
	size_t n = json_array_size(names);
	const char *first = jstr(json_object_get(json_array_get(names, 0), "String"), "sval");

	if (n == 2 && (first == NULL || strcmp(first, "pg_catalog") != 0))
		return NULL;
	if (n != 1 && n != 2)
		return NULL;
	return jstr(json_object_get(json_array_get(names, n - 1), "String"), "sval");
}

static int
op_in(const char *op, const char *const *set)
{
	for (; op != NULL && *set != NULL; set++)
		if (strcmp(op, *set) == 0)
			return 1;
	return 0;
}

/* a OR b is true for every row: b is NOT a, x IS NULL / x IS NOT NULL,
 * x = y / x <> y, x < y / x >= y ... */
static int
complementary(json_t *a, json_t *b, int *known)
{
	static const char *const pairs[][2] = {
		{ "=", "<>" }, { "=", "!=" }, { "<", ">=" }, { ">", "<=" },
		{ "IS_NULL", "IS_NOT_NULL" }, { "IS_TRUE", "IS_NOT_TRUE" },
		{ "IS_FALSE", "IS_NOT_FALSE" }, { "IS_UNKNOWN", "IS_NOT_UNKNOWN" },
		{ "AEXPR_DISTINCT", "AEXPR_NOT_DISTINCT" },
	};
	json_t *x, *y;
	const char *p, *q;

	for (int swap = 0; swap < 2; swap++) {
		json_t *l = swap ? b : a, *r = swap ? a : b;

		x = json_object_get(l, "BoolExpr");
		if (x != NULL && strcmp(jstr(x, "boolop") ? jstr(x, "boolop") : "",
					"NOT_EXPR") == 0 &&
		    same_expr(json_array_get(json_object_get(x, "args"), 0), r, known))
			return 1;
	}
	if ((x = json_object_get(a, "NullTest")) != NULL &&
	    (y = json_object_get(b, "NullTest")) != NULL) {
		p = jstr(x, "nulltesttype");
		q = jstr(y, "nulltesttype");
		if (!same_expr(json_object_get(x, "arg"), json_object_get(y, "arg"), known))
			return 0;
	} else if ((x = json_object_get(a, "BooleanTest")) != NULL &&
		   (y = json_object_get(b, "BooleanTest")) != NULL) {
		p = jstr(x, "booltesttype");
		q = jstr(y, "booltesttype");
		if (!same_expr(json_object_get(x, "arg"), json_object_get(y, "arg"), known))
			return 0;
	} else if ((x = json_object_get(a, "A_Expr")) != NULL &&
		   (y = json_object_get(b, "A_Expr")) != NULL) {
		const char *kx = jstr(x, "kind"), *ky = jstr(y, "kind");

		if (kx == NULL || ky == NULL ||
		    !same_expr(json_object_get(x, "lexpr"), json_object_get(y, "lexpr"), known) ||
		    !same_expr(json_object_get(x, "rexpr"), json_object_get(y, "rexpr"), known))
			return 0;
		if (strcmp(kx, "AEXPR_OP") == 0 && strcmp(ky, "AEXPR_OP") == 0) {
			p = aexpr_op(x);
			q = aexpr_op(y);
		} else {
			p = kx;
			q = ky;
		}
	} else {
		return 0;
	}
	if (p == NULL || q == NULL)
		return 0;
	for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++)
		if ((strcmp(p, pairs[i][0]) == 0 && strcmp(q, pairs[i][1]) == 0) ||
		    (strcmp(q, pairs[i][0]) == 0 && strcmp(p, pairs[i][1]) == 0))
			return 1;
	return 0;
}

static int
truth(struct ctx *c, json_t *n, int *known, int depth)
{
	static const char *const refl[] = { "=", ">=", "<=", NULL };
	static const char *const irrefl[] = { "<>", "!=", "<", ">", NULL };
	int k = 0;
	struct val v;
	json_t *x, *args, *a;
	size_t i, j;

	if (n == NULL || depth > TRUTH_DEPTH)
		return T_UNK;
	v = eval_bool(c, n, &k);
	*known |= k;
	if (v.t == V_BOOL)
		return v.b ? T_TRUE : T_FALSE;
	if (v.t == V_NULL)
		return T_NULL;
	if ((x = json_object_get(n, "TypeCast")) != NULL) {
		json_t *names = json_object_get(json_object_get(x, "typeName"), "names");
		const char *t = jstr(json_object_get(json_array_get(names,
			json_array_size(names) - 1), "String"), "sval");

		return t != NULL && strcmp(t, "bool") == 0 ?
		       truth(c, json_object_get(x, "arg"), known, depth + 1) : T_UNK;
	}
	if ((x = json_object_get(n, "BoolExpr")) != NULL) {
		const char *op = jstr(x, "boolop");
		int all_true = 1, all_false = 1;

		args = json_object_get(x, "args");
		if (op == NULL || json_array_size(args) == 0)
			return T_UNK;
		if (strcmp(op, "NOT_EXPR") == 0) {
			int t = truth(c, json_array_get(args, 0), known, depth + 1);

			return t == T_TRUE ? T_FALSE : t == T_FALSE ? T_TRUE : t;
		}
		json_array_foreach(args, i, a) {
			int t = truth(c, a, known, depth + 1);

			all_true &= t == T_TRUE;
			all_false &= t == T_FALSE || t == T_NULL;
			if (strcmp(op, "AND_EXPR") == 0 && t == T_FALSE)
				return T_FALSE;
			if (strcmp(op, "OR_EXPR") == 0 && t == T_TRUE)
				return T_TRUE;
		}
		if (strcmp(op, "AND_EXPR") == 0)
			return all_true ? T_TRUE : T_UNK;
		/* pairs of arms: quadratic, so only in the first MAX_PAIR_ARMS */
		for (i = 0; i < json_array_size(args) && i < MAX_PAIR_ARMS; i++)
			for (j = i + 1; j < json_array_size(args) && j < MAX_PAIR_ARMS; j++)
				if (complementary(json_array_get(args, i),
						  json_array_get(args, j), known))
					return T_TRUE;
		return all_false ? T_FALSE : T_UNK;
	}
	if ((x = json_object_get(n, "A_Expr")) != NULL) {
		const char *kind = jstr(x, "kind"), *op = aexpr_op(x);
		json_t *l = json_object_get(x, "lexpr"), *r = json_object_get(x, "rexpr");

		if (kind == NULL)
			return T_UNK;
		if (strcmp(kind, "AEXPR_OP") == 0 && same_expr(l, r, known))
			return op_in(op, refl) ? T_TRUE : op_in(op, irrefl) ? T_FALSE : T_UNK;
		if (strcmp(kind, "AEXPR_NOT_DISTINCT") == 0 && same_expr(l, r, known))
			return T_TRUE;
		if (strcmp(kind, "AEXPR_DISTINCT") == 0 && same_expr(l, r, known))
			return T_FALSE;
		if (strcmp(kind, "AEXPR_IN") == 0 && op != NULL) {
			json_array_foreach(json_object_get(json_object_get(r, "List"),
							   "items"), i, a)
				if (same_expr(l, a, known))
					return strcmp(op, "=") == 0 ? T_TRUE : T_FALSE;
			return T_UNK;
		}
		if ((strcmp(kind, "AEXPR_LIKE") == 0 || strcmp(kind, "AEXPR_ILIKE") == 0) &&
		    op != NULL) {
			/* x LIKE '%': true for every x that is not null */
			const char *s = jstr(json_object_get(json_object_get(strip_casts(r),
				"A_Const"), "sval"), "sval");

			*known = 1;
			if (s != NULL && *s != '\0' && strspn(s, "%") == strlen(s))
				return op[0] == '!' ? T_FALSE : T_TRUE;
		}
		return T_UNK;
	}
	if ((x = json_object_get(n, "CoalesceExpr")) != NULL) {
		json_array_foreach(json_object_get(x, "args"), i, a) {
			int t = truth(c, a, known, depth + 1);

			if (t == T_TRUE)
				return T_TRUE;
			if (t != T_NULL)
				return T_UNK;
		}
		return T_NULL;
	}
	return T_UNK;
}

/* "none", "trivial" (true for every row, docs/statement-facts.md) or
 * "present". */
static const char *
where_class(struct ctx *c, json_t *where)
{
	int known = 0, t;

	if (where == NULL || json_is_null(where))
		return "none";
	t = truth(c, where, &known, 0);
	if (known)
		c->text = 1;	/* a constant decided something */
	return t == T_TRUE ? "trivial" : "present";
}

/* ---- the generic walk ------------------------------------------------- */

static void
func_call(struct ctx *c, size_t fi, json_t *fc, const struct scope *sc,
	  const char *via, int depth)
{
	char name[1024];
	json_t *names = json_object_get(fc, "funcname");
	const char *last = jstr(json_object_get(
		json_array_get(names, json_array_size(names) - 1), "String"), "sval");

	join_names(names, name, sizeof name);
	if (name[0])
		add_unique(fact(c, fi), "functions", name);
	if (last != NULL && strcmp(last, "set_config") == 0 &&
	    (json_array_size(names) == 1 ||
	     (json_array_size(names) == 2 && strcmp(name, "pg_catalog.set_config") == 0))) {
		json_t *a = json_array_get(json_object_get(fc, "args"), 0), *tc;
		const char *s;

		while ((tc = json_object_get(a, "TypeCast")) != NULL)
			a = json_object_get(tc, "arg");
		s = jstr(json_object_get(json_object_get(a, "A_Const"), "sval"), "sval");
		c->text = 1;
		if (s != NULL) {
			char *l = strdup(s);

			if (l != NULL) {
				lower(l);
				add_unique(fact(c, fi), "settings", l);
				free(l);
			}
		} else {
			set_opaque(c, fi, "set_config() with a non-constant name");
		}
	}
	walk(c, fi, json_object_get(fc, "args"), sc, via, depth + 1);
	walk(c, fi, json_object_get(fc, "agg_order"), sc, via, depth + 1);
	walk(c, fi, json_object_get(fc, "agg_filter"), sc, via, depth + 1);
	walk(c, fi, json_object_get(fc, "over"), sc, via, depth + 1);
}

static int
is_stmt_key(const char *k)
{
	size_t n = strlen(k);

	return n > 4 && strcmp(k + n - 4, "Stmt") == 0 &&
	       strcmp(k, "SelectStmt") != 0 && isupper((unsigned char)k[0]);
}

/* Walk an object's keys (but skip, NULL-terminated) under scope sc. */
static void
walk_keys(struct ctx *c, size_t fi, json_t *o, const struct scope *sc,
	  const char *via, int depth, const char *const *skip)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		int skipped = 0;

		for (const char *const *s = skip; s && *s; s++)
			if (strcmp(*s, k) == 0)
				skipped = 1;
		if (skipped)
			continue;
		if (strcmp(k, "RangeVar") == 0)
			add_table(c, fi, v, 0, sc);
		else if (strcmp(k, "FuncCall") == 0)
			func_call(c, fi, v, sc, via, depth);
		else if (is_stmt_key(k))
			analyze_stmt(c, k, v, via, (long)fi, sc);
		else
			walk(c, fi, v, sc, via, depth + 1);
	}
}

/* A node body that may carry a WITH clause: its CTEs see the names before
 * them (all of them if RECURSIVE), the rest of the body sees all. */
static void
walk_body(struct ctx *c, size_t fi, json_t *o, const struct scope *sc,
	  const char *via, int depth, const char *const *skip)
{
	json_t *with = json_object_get(o, "withClause");
	json_t *ctes = json_object_get(with, "ctes");
	struct scope frame;
	size_t i, n = json_array_size(ctes);
	int recursive = json_is_true(json_object_get(with, "recursive"));
	const char *sk[16];
	size_t ns = 0;

	if (with == NULL) {
		walk_keys(c, fi, o, sc, via, depth, skip);
		return;
	}
	frame.ctes = ctes;
	frame.up = sc;
	for (i = 0; i < n; i++) {
		json_t *cte = json_object_get(json_array_get(ctes, i), "CommonTableExpr");

		frame.nvis = recursive ? n : i;
		walk(c, fi, json_object_get(cte, "ctequery"), &frame, "cte", depth + 1);
	}
	frame.nvis = n;
	for (const char *const *s = skip; s && *s && ns < 14; s++)
		sk[ns++] = *s;
	sk[ns++] = "withClause";
	sk[ns] = NULL;
	walk_keys(c, fi, o, &frame, via, depth, sk);
}

static void
walk(struct ctx *c, size_t fi, json_t *v, const struct scope *sc,
     const char *via, int depth)
{
	size_t i;
	json_t *x;

	if (depth > MAX_DEPTH) {
		set_opaque(c, fi, "statement nested too deeply");
		return;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			walk(c, fi, x, sc, via, depth + 1);
		return;
	}
	if (!json_is_object(v))
		return;
	if (json_is_string(json_object_get(v, "relname"))) {
		add_table(c, fi, v, 0, sc);	/* an unwrapped RangeVar */
		return;
	}
	walk_body(c, fi, v, sc, via, depth, NULL);
}

/* ---- statement kinds -------------------------------------------------- */

static const char *
objtype_name(const char *ot, char *buf, size_t len)
{
	if (ot == NULL)
		return NULL;
	if (strncmp(ot, "OBJECT_", 7) == 0)
		ot += 7;
	snprintf(buf, len, "%s", ot);
	lower(buf);
	return buf;
}

/* The DDL verb and object of a node name: CreateFooBarStmt -> create,
 * foo_bar; with an explicit object-type field taking precedence. */
static const struct {
	const char *node, *verb, *object;
} ddl_map[] = {
	{ "CreateStmt", "create", "table" },
	{ "CreateTableAsStmt", "create", NULL },
	{ "IndexStmt", "create", "index" },
	{ "CreateTrigStmt", "create", "trigger" },
	{ "RuleStmt", "create", "rule" },
	{ "ViewStmt", "create", "view" },
	{ "CreatedbStmt", "create", "database" },
	{ "DropdbStmt", "drop", "database" },
	{ "AlterDatabaseSetStmt", "alter", "database" },
	{ "AlterDatabaseRefreshCollStmt", "alter", "database" },
	{ "AlterRoleSetStmt", "alter", "role" },
	{ "AlterSystemStmt", "alter", "system" },
	{ "AlterExtensionContentsStmt", "alter", "extension" },
	{ "CompositeTypeStmt", "create", "type" },
	{ "CreateEnumStmt", "create", "type" },
	{ "CreateRangeStmt", "create", "type" },
	{ "AlterEnumStmt", "alter", "type" },
	{ "CreateEventTrigStmt", "create", "event_trigger" },
	{ "AlterEventTrigStmt", "alter", "event_trigger" },
	{ "CreateTableSpaceStmt", "create", "tablespace" },
	{ "DropTableSpaceStmt", "drop", "tablespace" },
	{ "AlterTableSpaceOptionsStmt", "alter", "tablespace" },
	{ "AlterTableMoveAllStmt", "alter", "tablespace" },
	{ "CreateFdwStmt", "create", "fdw" },
	{ "AlterFdwStmt", "alter", "fdw" },
	{ "CreatePLangStmt", "create", "language" },
	{ "CreateStatsStmt", "create", "statistics" },
	{ "AlterStatsStmt", "alter", "statistics" },
	{ "CreateAmStmt", "create", "access_method" },
	{ "CreateOpClassStmt", "create", "opclass" },
	{ "CreateOpFamilyStmt", "create", "opfamily" },
	{ "AlterOpFamilyStmt", "alter", "opfamily" },
	{ "AlterTSDictionaryStmt", "alter", "tsdictionary" },
	{ "AlterTSConfigurationStmt", "alter", "tsconfiguration" },
	{ "RefreshMatViewStmt", "refresh", "matview" },
	{ "CommentStmt", "comment", NULL },
	{ "SecLabelStmt", "security_label", NULL },
	{ "RenameStmt", "alter", NULL },
	{ "AlterOwnerStmt", "alter", NULL },
	{ "AlterObjectSchemaStmt", "alter", NULL },
	{ "AlterObjectDependsStmt", "alter", NULL },
	{ "ReassignOwnedStmt", "reassign_owned", "role" },
	{ "DropOwnedStmt", "drop_owned", "role" },
	{ "ImportForeignSchemaStmt", "import", "foreign_table" },
	{ "DefineStmt", "create", NULL },
	{ "AlterDefaultPrivilegesStmt", "alter", "default_privileges" },
	{ "CreateSeqStmt", "create", "sequence" },
	{ "AlterSeqStmt", "alter", "sequence" },
};

static int
ddl_of(const char *node, json_t *body, char *verb, size_t vlen, char *object,
       size_t olen)
{
	static const char *const otkeys[] = { "removeType", "renameType",
		"objectType", "objtype", "kind", NULL };
	const char *v = NULL, *o = NULL;
	size_t n = strlen(node);
	char tmp[128];

	for (size_t i = 0; i < sizeof ddl_map / sizeof *ddl_map; i++)
		if (strcmp(ddl_map[i].node, node) == 0) {
			v = ddl_map[i].verb;
			o = ddl_map[i].object;
		}
	if (v == NULL) {
		const char *p = NULL;

		if (strncmp(node, "Create", 6) == 0)
			v = "create", p = node + 6;
		else if (strncmp(node, "Alter", 5) == 0)
			v = "alter", p = node + 5;
		else if (strncmp(node, "Drop", 4) == 0)
			v = "drop", p = node + 4;
		if (v == NULL || n < 5 || strcmp(node + n - 4, "Stmt") != 0)
			return 0;
		/* CamelCase -> snake_case */
		size_t j = 0;
		for (; *p && p < node + n - 4 && j + 2 < sizeof tmp; p++) {
			if (isupper((unsigned char)*p) && j > 0)
				tmp[j++] = '_';
			tmp[j++] = (char)tolower((unsigned char)*p);
		}
		tmp[j] = 0;
		o = tmp;
	}
	for (const char *const *k = otkeys; *k; k++) {
		const char *ot = jstr(body, *k);

		if (ot != NULL && strncmp(ot, "OBJECT_", 7) == 0) {
			objtype_name(ot, object, olen);
			snprintf(verb, vlen, "%s", v);
			return 1;
		}
	}
	if (strcmp(node, "CreateFunctionStmt") == 0)
		o = json_is_true(json_object_get(body, "is_procedure")) ?
		    "procedure" : "function";
	else if (strcmp(node, "CreateRoleStmt") == 0 ||
		 strcmp(node, "AlterRoleStmt") == 0 ||
		 strcmp(node, "DropRoleStmt") == 0)
		o = "role";
	snprintf(verb, vlen, "%s", v);
	snprintf(object, olen, "%s", o ? o : "unknown");
	return 1;
}

static void
add_setting(struct ctx *c, size_t fi, json_t *vss)
{
	const char *name = jstr(vss, "name");
	const char *kind = jstr(vss, "kind");
	char *l;

	if (kind != NULL && strcmp(kind, "VAR_RESET_ALL") == 0)
		name = "all";
	if (name == NULL)
		return;
	if ((l = strdup(name)) == NULL)
		return;
	lower(l);
	add_unique(fact(c, fi), "settings", l);
	free(l);
}

/* "names": the objects a DDL/GRANT statement acts on, as written. */
static void
add_name_node(struct ctx *c, size_t fi, json_t *n)
{
	char name[1024];
	json_t *x;

	name[0] = 0;
	if ((x = json_object_get(n, "List")) != NULL)
		join_names(json_object_get(x, "items"), name, sizeof name);
	else if ((x = json_object_get(n, "String")) != NULL)
		snprintf(name, sizeof name, "%s", jstr(x, "sval") ? jstr(x, "sval") : "");
	else if ((x = json_object_get(n, "ObjectWithArgs")) != NULL)
		join_names(json_object_get(x, "objname"), name, sizeof name);
	else if ((x = json_object_get(n, "TypeName")) != NULL)
		join_names(json_object_get(x, "names"), name, sizeof name);
	else if ((x = json_object_get(n, "RangeVar")) != NULL)
		rangevar_name(x, name, sizeof name);
	else if ((x = json_object_get(n, "RoleSpec")) != NULL)
		snprintf(name, sizeof name, "%s", jstr(x, "rolename") ? jstr(x, "rolename") : "");
	else if ((x = json_object_get(n, "AccessPriv")) != NULL)
		snprintf(name, sizeof name, "%s", jstr(x, "priv_name") ? jstr(x, "priv_name") : "");
	if (name[0])
		add_unique(fact(c, fi), "names", name);
}

static void
add_name(struct ctx *c, size_t fi, const char *s)
{
	if (s != NULL && s[0])
		add_unique(fact(c, fi), "names", s);
}

static void
do_grant(struct ctx *c, size_t fi, const char *node, json_t *b)
{
	json_t *f = fact(c, fi), *x;
	size_t i;
	char buf[128];

	if (strcmp(node, "AlterDefaultPrivilegesStmt") == 0) {
		json_t *act = json_object_get(json_object_get(b, "action"), "GrantStmt");

		json_object_set_new(f, "kind", json_string(
			json_is_true(json_object_get(act, "is_grant")) ? "grant" : "revoke"));
		json_object_set_new(f, "object", json_string("default_privileges"));
		b = act;
	} else {
		json_object_set_new(f, "kind", json_string(
			json_is_true(json_object_get(b, "is_grant")) ? "grant" : "revoke"));
	}
	if (strcmp(node, "GrantRoleStmt") == 0) {
		json_object_set_new(f, "object", json_string("role"));
		json_array_foreach(json_object_get(b, "granted_roles"), i, x)
			add_name_node(c, fi, x);
		json_array_foreach(json_object_get(b, "grantee_roles"), i, x)
			add_unique(f, "roles", jstr(json_object_get(x, "RoleSpec"), "rolename") ?
				   jstr(json_object_get(x, "RoleSpec"), "rolename") : "?");
		return;
	}
	if (json_object_get(f, "object") == NULL)
		json_object_set_new(f, "object", json_string(
			objtype_name(jstr(b, "objtype"), buf, sizeof buf) ?
			buf : "unknown"));
	json_array_foreach(json_object_get(b, "objects"), i, x)
		add_name_node(c, fi, x);
	json_object_set_new(f, "privileges", json_array());
	if (json_array_size(json_object_get(b, "privileges")) == 0)
		add_unique(f, "privileges", "all");
	json_array_foreach(json_object_get(b, "privileges"), i, x) {
		const char *p = jstr(json_object_get(x, "AccessPriv"), "priv_name");

		add_unique(f, "privileges", p ? p : "all");
	}
	json_object_set_new(f, "roles", json_array());
	json_array_foreach(json_object_get(b, "grantees"), i, x) {
		json_t *rs = json_object_get(x, "RoleSpec");
		const char *r = jstr(rs, "rolename");
		const char *t = jstr(rs, "roletype");

		if (r == NULL && t != NULL && strcmp(t, "ROLESPEC_PUBLIC") == 0)
			r = "public";
		add_unique(f, "roles", r ? r : "?");
	}
}

/* ---- PL/pgSQL --------------------------------------------------------- */

static void
plpgsql_expr(struct ctx *c, size_t fi, const char *q, const char *via,
	     int assign)
{
	if (q == NULL)
		return;
	if (assign) {
		/* "target := expr" or "target = expr" */
		const char *p = strstr(q, ":=");

		if (p != NULL)
			q = p + 2;
		else if ((p = strchr(q, '=')) != NULL)
			q = p + 1;
		analyze_text(c, fi, q, via, 1);
		return;
	}
	analyze_text(c, fi, q, via, 0);
}

static void
walk_plpgsql(struct ctx *c, size_t fi, json_t *v, const char *via,
	     const char *dynreason, int depth)
{
	size_t i;
	json_t *x;
	const char *k;

	if (depth > MAX_DEPTH) {
		set_opaque(c, fi, "PL/pgSQL nested too deeply");
		return;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			walk_plpgsql(c, fi, x, via, dynreason, depth + 1);
		return;
	}
	if (!json_is_object(v))
		return;
	json_object_foreach(v, k, x) {
		if (strcmp(k, "PLpgSQL_stmt_dynexecute") == 0 ||
		    strcmp(k, "PLpgSQL_stmt_dynfors") == 0 ||
		    ((strcmp(k, "PLpgSQL_stmt_open") == 0 ||
		      strcmp(k, "PLpgSQL_stmt_return_query") == 0) &&
		     json_object_get(x, "dynquery") != NULL))
			set_opaque(c, fi, dynreason);
		if (strcmp(k, "PLpgSQL_stmt_commit") == 0 ||
		    strcmp(k, "PLpgSQL_stmt_rollback") == 0) {
			size_t t = new_fact(c, "transaction", via, (long)fi,
					    "TransactionStmt");

			json_object_set_new(fact(c, t), "verb", json_string(
				k[13] == 'c' ? "commit" : "rollback"));
			continue;
		}
		if (strcmp(k, "PLpgSQL_stmt_assign") == 0) {
			plpgsql_expr(c, fi, jstr(json_object_get(json_object_get(x, "expr"),
				"PLpgSQL_expr"), "query"), via, 1);
			continue;
		}
		if (strcmp(k, "PLpgSQL_expr") == 0) {
			plpgsql_expr(c, fi, jstr(x, "query"), via, 0);
			continue;
		}
		walk_plpgsql(c, fi, x, via, dynreason, depth + 1);
	}
}

/* Parse a PL/pgSQL body (of a DO block or a function) and add the facts of
 * the SQL inside it as children of fact fi. */
static void
plpgsql_body(struct ctx *c, size_t fi, const char *body, const char *via)
{
	char tag[32], reason[512];
	char *src;
	size_t len;
	unsigned n = 0;
	PgQueryPlpgsqlParseResult r;
	json_t *tree;
	const char *dynreason = strcmp(via, "do") == 0 ?
		"dynamic EXECUTE in a DO block" :
		"dynamic EXECUTE in a function body";

	/* A dollar-quote tag the body cannot close: neither "$tag" nor "tag$"
	 * occurs in it (so no suffix of the body plus a prefix of "$tag$" can
	 * form "$tag$" either). */
	for (;;) {
		snprintf(tag, sizeof tag, n ? "pgward%u" : "pgward", n);
		char open[40], close[40];

		snprintf(open, sizeof open, "$%s", tag);
		snprintf(close, sizeof close, "%s$", tag);
		if (strstr(body, open) == NULL && strstr(body, close) == NULL)
			break;
		n++;
	}
	len = strlen(body) + 2 * strlen(tag) + 128;
	if ((src = malloc(len)) == NULL) {
		set_opaque(c, fi, "out of memory");
		return;
	}
	snprintf(src, len, "CREATE FUNCTION pgward_do() RETURNS void "
		 "LANGUAGE plpgsql AS $%s$%s$%s$", tag, body, tag);
	r = pg_query_parse_plpgsql(src);
	free(src);
	if (r.error != NULL) {
		snprintf(reason, sizeof reason, "PL/pgSQL body not parsed: %s",
			 r.error->message ? r.error->message : "error");
		set_opaque(c, fi, reason);
		pg_query_free_plpgsql_parse_result(r);
		return;
	}
	tree = r.plpgsql_funcs ? json_loads(r.plpgsql_funcs, 0, NULL) : NULL;
	pg_query_free_plpgsql_parse_result(r);
	if (json_array_size(tree) != 1) {
		set_opaque(c, fi, "PL/pgSQL body not parsed");
		json_decref(tree);
		return;
	}
	/* Only the statements: "datums" hold variable defaults and cursor
	 * queries, which are expressions too. */
	walk_plpgsql(c, fi, tree, via, dynreason, 0);
	json_decref(tree);
}

static const char *
defelem_str(json_t *options, const char *name)
{
	size_t i;
	json_t *o;

	json_array_foreach(options, i, o) {
		json_t *d = json_object_get(o, "DefElem");
		const char *n = jstr(d, "defname");

		if (n != NULL && strcmp(n, name) == 0)
			return jstr(json_object_get(json_object_get(d, "arg"),
						    "String"), "sval");
	}
	return NULL;
}

static json_t *
defelem_arg(json_t *options, const char *name)
{
	size_t i;
	json_t *o;

	json_array_foreach(options, i, o) {
		json_t *d = json_object_get(o, "DefElem");
		const char *n = jstr(d, "defname");

		if (n != NULL && strcmp(n, name) == 0)
			return d;
	}
	return NULL;
}

static void
do_block(struct ctx *c, size_t fi, json_t *b)
{
	json_t *args = json_object_get(b, "args");
	const char *body = defelem_str(args, "as");
	const char *lang = defelem_str(args, "language");
	char reason[256];

	c->text = 1;
	if (lang != NULL && strcasecmp(lang, "plpgsql") != 0) {
		snprintf(reason, sizeof reason, "DO block in language %s", lang);
		set_opaque(c, fi, reason);
		return;
	}
	if (body == NULL) {
		set_opaque(c, fi, "DO block without a body");
		return;
	}
	plpgsql_body(c, fi, body, "do");
}

static void
create_function(struct ctx *c, size_t fi, json_t *b)
{
	json_t *opts = json_object_get(b, "options");
	const char *lang = defelem_str(opts, "language");
	json_t *as = defelem_arg(opts, "as");
	json_t *items = json_object_get(json_object_get(json_object_get(as, "arg"),
							"List"), "items");
	json_t *sqlbody = json_object_get(b, "sql_body");
	char name[1024], reason[256];

	c->text = 1;
	join_names(json_object_get(b, "funcname"), name, sizeof name);
	add_name(c, fi, name);
	walk(c, fi, json_object_get(b, "parameters"), NULL, "function", 0);
	if (sqlbody != NULL) {
		/* BEGIN ATOMIC ... END: already parsed */
		json_t *l = json_object_get(json_object_get(sqlbody, "List"), "items");
		json_t *stmts = json_object_get(json_object_get(json_array_get(l, 0),
								"List"), "items");
		size_t i;
		json_t *s;
		const char *k;
		json_t *v;

		json_array_foreach(stmts, i, s)
			json_object_foreach(s, k, v)
				analyze_stmt(c, k, v, "function", (long)fi, NULL);
		return;
	}
	if (lang == NULL) {
		set_opaque(c, fi, "function without a language");
		return;
	}
	if (strcasecmp(lang, "sql") == 0 || strcasecmp(lang, "plpgsql") == 0) {
		const char *src = jstr(json_object_get(json_array_get(items, 0),
						       "String"), "sval");

		if (src == NULL || json_array_size(items) != 1) {
			set_opaque(c, fi, "function body not found");
			return;
		}
		if (strcasecmp(lang, "sql") == 0)
			analyze_text(c, fi, src, "function", 0);
		else
			plpgsql_body(c, fi, src, "function");
		return;
	}
	snprintf(reason, sizeof reason, "function body in language %s is not analysed",
		 lang);
	set_opaque(c, fi, reason);
}

/* A statement node {"XxxStmt": {...}} as its own fact, child of fi. */
static void
child_stmt(struct ctx *c, size_t fi, json_t *node, const char *via,
	   const struct scope *sc)
{
	const char *k;
	json_t *v;

	json_object_foreach(node, k, v)
		analyze_stmt(c, k, v, via, (long)fi, sc);
}

/* Each WHEN action of a MERGE is a fact of its own on the target (kind
 * delete, update or insert; DO NOTHING is none), with what the whole
 * statement reads and calls. The rows a WHEN MATCHED action touches are
 * the target rows matching ON, filtered by the WHEN condition: "trivial"
 * when both are (no WHEN condition counts as trivial), else "present";
 * never "none", as ON is always there. */
/* A child of statement fi that fi's own command tag counts (a MERGE WHEN
 * action, an INSERT's ON CONFLICT DO UPDATE), with what fi writes, reads
 * and calls. */
static size_t
action_fact(struct ctx *c, size_t fi, const char *kind, const char *via, const char *node)
{
	static const char *const copied[] = { "tables_written", "tables_read",
		"functions", "settings", NULL };
	size_t wi = new_fact(c, kind, via, (long)fi, node);
	json_t *pf = fact(c, fi), *wf = fact(c, wi);

	for (const char *const *k = copied; *k; k++)
		json_object_set_new(wf, *k, json_deep_copy(json_object_get(pf, *k)));
	if (json_is_true(json_object_get(pf, "opaque")))
		set_opaque(c, wi, jstr(pf, "opaque_reason") ?
			   jstr(pf, "opaque_reason") : "statement not analysed");
	return wi;
}

static void
merge_actions(struct ctx *c, size_t fi, json_t *b, const char *via)
{
	const char *on = where_class(c, json_object_get(b, "joinCondition"));
	size_t i;
	json_t *w;

	json_array_foreach(json_object_get(b, "mergeWhenClauses"), i, w) {
		json_t *mw = json_object_get(w, "MergeWhenClause"), *wf;
		const char *cmd = jstr(mw, "commandType"), *kind, *cond;
		int matched = json_is_true(json_object_get(mw, "matched"));
		size_t wi;

		if (cmd == NULL)
			continue;
		kind = strcmp(cmd, "CMD_DELETE") == 0 ? "delete" :
		       strcmp(cmd, "CMD_UPDATE") == 0 ? "update" :
		       strcmp(cmd, "CMD_INSERT") == 0 ? "insert" : NULL;
		if (kind == NULL)
			continue;	/* DO NOTHING */
		wi = action_fact(c, fi, kind, via, "MergeWhenClause");
		wf = fact(c, wi);
		json_object_set_new(wf, "merge_when", json_string(
			matched ? "matched" : "not matched"));
		if (!matched)
			continue;	/* an insert has no WHERE */
		cond = where_class(c, json_object_get(mw, "condition"));
		json_object_set_new(wf, "where", json_string(
			strcmp(on, "trivial") == 0 && strcmp(cond, "present") != 0 ?
			"trivial" : "present"));
	}
}

/* EXPLAIN (ANALYZE [bool]) */
static int
explain_analyze(struct ctx *c, json_t *options)
{
	json_t *d = defelem_arg(options, "analyze"), *arg, *x;
	const char *s;
	int b;

	if (d == NULL)
		return 0;
	arg = json_object_get(d, "arg");
	if (arg == NULL)
		return 1;
	c->text = 1;
	if ((s = jstr(json_object_get(arg, "String"), "sval")) != NULL)
		return parse_bool_text(s, &b) ? b : 1;
	if ((x = json_object_get(arg, "Integer")) != NULL)
		return json_integer_value(json_object_get(x, "ival")) != 0;
	if ((x = json_object_get(arg, "Boolean")) != NULL)
		return json_is_true(json_object_get(x, "boolval"));
	return 1;	/* unknown: assume it runs */
}

static void
analyze_stmt(struct ctx *c, const char *name, json_t *b, const char *via,
	     long parent, const struct scope *sc)
{
	size_t fi;
	json_t *f;
	char verb[64], object[128], buf[1024];
	static const char *const skip_rel[] = { "relation", NULL };

	if (c->nest > MAX_NEST) {
		fi = new_fact(c, "other", via, parent, name);
		set_opaque(c, fi, "statements nested too deeply");
		return;
	}
	c->nest++;
#define KIND(k) (fi = new_fact(c, (k), via, parent, name), f = fact(c, fi))
	if (strcmp(name, "SelectStmt") == 0 || strcmp(name, "DeclareCursorStmt") == 0) {
		KIND("select");
		if (strcmp(name, "DeclareCursorStmt") == 0)
			walk(c, fi, json_object_get(b, "query"), sc, "cte", 0);
		else {
			json_t *into = json_object_get(b, "intoClause");

			if (into != NULL)
				add_table(c, fi, json_object_get(into, "rel"), 1, sc);
			static const char *const sk[] = { "intoClause", NULL };
			walk_body(c, fi, b, sc, "cte", 0, sk);
		}
	} else if (strcmp(name, "InsertStmt") == 0 || strcmp(name, "UpdateStmt") == 0 ||
		   strcmp(name, "DeleteStmt") == 0 || strcmp(name, "MergeStmt") == 0) {
		KIND(name[0] == 'I' ? "insert" : name[0] == 'U' ? "update" :
		     name[0] == 'D' ? "delete" : "merge");
		add_table(c, fi, json_object_get(b, "relation"), 1, sc);
		if (name[0] == 'U' || name[0] == 'D')
			json_object_set_new(f, "where", json_string(
				where_class(c, json_object_get(b, "whereClause"))));
		walk_body(c, fi, b, sc, "cte", 0, skip_rel);
		if (name[0] == 'M')
			merge_actions(c, fi, b, via);
		/* ON CONFLICT DO UPDATE updates the target rows that conflict:
		 * an update of them, where present (as MERGE ... ON o.id = s.id). */
		const char *oc = jstr(json_object_get(b, "onConflictClause"), "action");

		if (name[0] == 'I' && oc != NULL && strcmp(oc, "ONCONFLICT_UPDATE") == 0) {
			size_t ui = action_fact(c, fi, "update", via, "OnConflictClause");

			json_object_set_new(fact(c, ui), "on_conflict", json_string("update"));
			json_object_set_new(fact(c, ui), "where", json_string("present"));
		}
	} else if (strcmp(name, "TruncateStmt") == 0) {
		size_t i;
		json_t *r;

		KIND("truncate");
		json_array_foreach(json_object_get(b, "relations"), i, r)
			add_table(c, fi, as_rangevar(r), 1, sc);
	} else if (strcmp(name, "CopyStmt") == 0) {
		int from = json_is_true(json_object_get(b, "is_from"));

		KIND(from ? "copy-from" : "copy-to");
		add_table(c, fi, json_object_get(b, "relation"), from, sc);
		json_object_set_new(f, "copy_io", json_string(
			json_is_true(json_object_get(b, "is_program")) ? "program" :
			jstr(b, "filename") ? "file" : "stdio"));
		walk(c, fi, json_object_get(b, "query"), sc, "copy", 0);
		walk(c, fi, json_object_get(b, "whereClause"), sc, "copy", 0);
	} else if (strcmp(name, "VariableSetStmt") == 0) {
		const char *k = jstr(b, "kind");

		KIND(k && strncmp(k, "VAR_RESET", 9) == 0 ? "reset" : "set");
		add_setting(c, fi, b);
	} else if (strcmp(name, "VariableShowStmt") == 0) {
		KIND("show");
	} else if (strcmp(name, "TransactionStmt") == 0) {
		KIND("transaction");
		objtype_name(jstr(b, "kind"), buf, sizeof buf);
		json_object_set_new(f, "verb", json_string(
			strncmp(buf, "trans_stmt_", 11) == 0 ? buf + 11 : buf));
	} else if (strcmp(name, "DoStmt") == 0) {
		KIND("do");
		do_block(c, fi, b);
	} else if (strcmp(name, "PrepareStmt") == 0) {
		KIND("prepare");
		add_name(c, fi, jstr(b, "name"));
		child_stmt(c, fi, json_object_get(b, "query"), "prepare", sc);
	} else if (strcmp(name, "ExecuteStmt") == 0) {
		KIND("execute");
		add_name(c, fi, jstr(b, "name"));
		walk(c, fi, json_object_get(b, "params"), sc, "cte", 0);
	} else if (strcmp(name, "DeallocateStmt") == 0) {
		KIND("deallocate");
		add_name(c, fi, jstr(b, "name"));
	} else if (strcmp(name, "ExplainStmt") == 0) {
		KIND("explain");
		json_object_set_new(f, "explain_analyze", json_boolean(
			explain_analyze(c, json_object_get(b, "options"))));
		child_stmt(c, fi, json_object_get(b, "query"), "explain", sc);
	} else if (strcmp(name, "CallStmt") == 0) {
		KIND("call");
		func_call(c, fi, json_object_get(b, "funccall"), sc, "cte", 0);
	} else if (strcmp(name, "ListenStmt") == 0 || strcmp(name, "UnlistenStmt") == 0) {
		KIND("listen");
		json_object_set_new(f, "verb", json_string(name[0] == 'L' ? "listen" : "unlisten"));
	} else if (strcmp(name, "NotifyStmt") == 0) {
		KIND("notify");
	} else if (strcmp(name, "VacuumStmt") == 0) {
		size_t i;
		json_t *r;

		KIND(json_is_true(json_object_get(b, "is_vacuumcmd")) ? "vacuum" : "analyze");
		json_array_foreach(json_object_get(b, "rels"), i, r)
			add_table(c, fi, json_object_get(json_object_get(r, "VacuumRelation"),
							 "relation"), 0, sc);
	} else if (strcmp(name, "LockStmt") == 0) {
		KIND("lock");
		walk(c, fi, json_object_get(b, "relations"), sc, "cte", 0);
	} else if (strcmp(name, "DiscardStmt") == 0) {
		KIND("discard");
	} else if (strcmp(name, "FetchStmt") == 0) {
		/* FETCH and MOVE read from a cursor whose query was decided at DECLARE. */
		KIND("fetch");
		add_name(c, fi, jstr(b, "portalname"));
	} else if (strcmp(name, "ClosePortalStmt") == 0) {
		KIND("close");
		add_name(c, fi, jstr(b, "portalname"));
	} else if (strcmp(name, "GrantStmt") == 0 || strcmp(name, "GrantRoleStmt") == 0 ||
		   strcmp(name, "AlterDefaultPrivilegesStmt") == 0) {
		KIND("grant");
		do_grant(c, fi, name, b);
	} else if (ddl_of(name, b, verb, sizeof verb, object, sizeof object)) {
		json_t *into = json_object_get(b, "into"), *x;
		size_t i;
		static const char *const relkeys[] = { "relation", "view", "sequence",
			"table", NULL };

		KIND("ddl");
		json_object_set_new(f, "verb", json_string(verb));
		json_object_set_new(f, "object", json_string(object));
		for (const char *const *k = relkeys; *k; k++) {
			json_t *rv = as_rangevar(json_object_get(b, *k));

			if (jstr(rv, "relname") != NULL) {
				add_table(c, fi, rv, 1, sc);
				rangevar_name(rv, buf, sizeof buf);
				add_name(c, fi, buf);
			}
		}
		if (into != NULL) {
			add_table(c, fi, json_object_get(into, "rel"), 1, sc);
			rangevar_name(json_object_get(into, "rel"), buf, sizeof buf);
			add_name(c, fi, buf);
		}
		if (strcmp(name, "DropStmt") == 0) {
			const char *rt = jstr(b, "removeType");
			int rel = rt && (strcmp(rt, "OBJECT_TABLE") == 0 ||
					 strcmp(rt, "OBJECT_VIEW") == 0 ||
					 strcmp(rt, "OBJECT_MATVIEW") == 0 ||
					 strcmp(rt, "OBJECT_FOREIGN_TABLE") == 0 ||
					 strcmp(rt, "OBJECT_SEQUENCE") == 0);

			json_array_foreach(json_object_get(b, "objects"), i, x) {
				add_name_node(c, fi, x);
				if (rel) {
					join_names(json_object_get(json_object_get(x, "List"),
								   "items"), buf, sizeof buf);
					if (buf[0])
						add_unique(f, "tables_written", buf);
				}
			}
		}
		if (strcmp(name, "CommentStmt") == 0 || strcmp(name, "SecLabelStmt") == 0)
			add_name_node(c, fi, json_object_get(b, "object"));
		if (strcmp(name, "RenameStmt") == 0 || strcmp(name, "AlterOwnerStmt") == 0 ||
		    strcmp(name, "AlterObjectSchemaStmt") == 0)
			add_name_node(c, fi, json_object_get(b, "object"));
		add_name(c, fi, jstr(b, "idxname"));
		add_name(c, fi, jstr(b, "trigname"));
		add_name(c, fi, jstr(b, "rulename"));
		add_name(c, fi, jstr(b, "policy_name"));
		add_name(c, fi, jstr(b, "extname"));
		add_name(c, fi, jstr(b, "dbname"));
		add_name(c, fi, jstr(b, "tablespacename"));
		add_name(c, fi, jstr(b, "servername"));
		add_name(c, fi, jstr(b, "subname"));
		add_name(c, fi, jstr(b, "pubname"));
		if (strcmp(name, "CreateSchemaStmt") == 0)
			add_name(c, fi, jstr(b, "schemaname"));
		if (strcmp(name, "CreateRoleStmt") == 0)
			add_name(c, fi, jstr(b, "role"));
		if (strcmp(name, "AlterRoleStmt") == 0 || strcmp(name, "AlterRoleSetStmt") == 0)
			add_name(c, fi, jstr(json_object_get(b, "role"), "rolename"));
		if (strcmp(name, "DropRoleStmt") == 0)
			json_array_foreach(json_object_get(b, "roles"), i, x)
				add_name_node(c, fi, x);
		if ((x = json_object_get(b, "setstmt")) != NULL)
			add_setting(c, fi, x);
		if (strcmp(name, "CreateTrigStmt") == 0 ||
		    strcmp(name, "CreateEventTrigStmt") == 0) {
			join_names(json_object_get(b, "funcname"), buf, sizeof buf);
			if (buf[0])
				add_unique(f, "functions", buf);
		}
		if (strcmp(name, "CreateFunctionStmt") == 0) {
			create_function(c, fi, b);
		} else if (strcmp(name, "RuleStmt") == 0) {
			const char *k;
			json_t *v;

			c->text = 1;
			walk(c, fi, json_object_get(b, "whereClause"), sc, "rule", 0);
			json_array_foreach(json_object_get(b, "actions"), i, x)
				json_object_foreach(x, k, v)
					analyze_stmt(c, k, v, "rule", (long)fi, NULL);
		} else if (strcmp(name, "CreateSchemaStmt") == 0) {
			const char *k;
			json_t *v;

			json_array_foreach(json_object_get(b, "schemaElts"), i, x)
				json_object_foreach(x, k, v)
					analyze_stmt(c, k, v, "schema", (long)fi, NULL);
		} else {
			/* CREATE TABLE AS / CREATE VIEW / CREATE MATERIALIZED
			 * VIEW: the query is read; FOREIGN KEY references,
			 * LIKE, INHERITS ... are read. */
			walk(c, fi, json_object_get(b, "query"), sc, "nested", 0);
			static const char *const skx[] = { "relation", "view", "into",
				"sequence", "table", "query", "setstmt", NULL };
			walk_keys(c, fi, b, sc, "nested", 0, skx);
		}
	} else {
		KIND("other");
		walk_keys(c, fi, b, sc, "nested", 0, NULL);
	}
	(void)f;
#undef KIND
	c->nest--;
}

/* Parse sql and add its statements as children of fact fi (via).  With
 * expr_only the text is a PL/pgSQL expression: parsed as "SELECT <expr>",
 * and kept only when it reads a table or calls a function. */
static void
analyze_text(struct ctx *c, size_t fi, const char *sql, const char *via,
	     int expr_only)
{
	PgQueryParseResult r;
	json_t *tree, *stmts, *s;
	char *buf = NULL, reason[512];
	const char *saved_src;
	size_t i, before = json_array_size(c->out);
	int as_expr = expr_only;

	if (c->nest > MAX_NEST) {
		set_opaque(c, fi, "statements nested too deeply");
		return;
	}
	if (!expr_only)
		r = pg_query_parse(sql);
	if (expr_only || r.error != NULL) {
		size_t n = strlen(sql) + 8;

		if (!expr_only)
			pg_query_free_parse_result(r);
		if ((buf = malloc(n)) == NULL) {
			set_opaque(c, fi, "out of memory");
			return;
		}
		snprintf(buf, n, "SELECT %s", sql);
		r = pg_query_parse(buf);
		as_expr = 1;
	}
	if (r.error != NULL) {
		snprintf(reason, sizeof reason, "SQL not parsed: %s",
			 r.error->message ? r.error->message : "error");
		set_opaque(c, fi, reason);
		pg_query_free_parse_result(r);
		free(buf);
		return;
	}
	tree = json_loads(r.parse_tree, 0, NULL);
	pg_query_free_parse_result(r);
	stmts = json_object_get(tree, "stmts");
	if (tree == NULL) {
		set_opaque(c, fi, "parse tree not read");
		free(buf);
		return;
	}
	saved_src = c->src;
	c->src = buf ? buf : sql;
	c->nest++;
	json_array_foreach(stmts, i, s) {
		const char *k;
		json_t *v;

		json_object_foreach(json_object_get(s, "stmt"), k, v)
			analyze_stmt(c, k, v, via, (long)fi, NULL);
	}
	c->nest--;
	c->src = saved_src;
	free(buf);
	json_decref(tree);
	if (as_expr && json_array_size(c->out) == before + 1) {
		json_t *f = fact(c, before);

		if (json_array_size(json_object_get(f, "tables_read")) == 0 &&
		    json_array_size(json_object_get(f, "functions")) == 0 &&
		    !json_is_true(json_object_get(f, "opaque")))
			json_array_remove(c->out, before);
	}
}

struct facts_result
facts_of_sql(const char *sql)
{
	struct facts_result res = { .statements = NULL, .cache = "text" };
	struct ctx c = { .out = NULL };
	PgQueryParseResult r;
	PgQueryFingerprintResult fp;
	json_t *tree, *s;
	size_t i;

	if (sql == NULL)
		sql = "";
	r = pg_query_parse(sql);
	if (r.error != NULL) {
		char msg[600];

		if (r.error->cursorpos > 0)
			snprintf(msg, sizeof msg, "%s at character %d",
				 r.error->message ? r.error->message : "syntax error",
				 r.error->cursorpos);
		else
			snprintf(msg, sizeof msg, "%s",
				 r.error->message ? r.error->message : "syntax error");
		res.error = strdup(msg);
		res.error_position = r.error->cursorpos;
		pg_query_free_parse_result(r);
		return res;
	}
	tree = json_loads(r.parse_tree, JSON_DECODE_ANY, NULL);
	pg_query_free_parse_result(r);
	if (tree == NULL) {
		res.error = strdup("parse tree too deeply nested");
		return res;
	}
	c.out = json_array();
	c.src = sql;
	json_array_foreach(json_object_get(tree, "stmts"), i, s) {
		const char *k;
		json_t *v;

		json_object_foreach(json_object_get(s, "stmt"), k, v)
			analyze_stmt(&c, k, v, "top", -1, NULL);
	}
	json_decref(tree);

	fp = pg_query_fingerprint(sql);
	if (fp.error == NULL && fp.fingerprint_str != NULL)
		res.fingerprint = strdup(fp.fingerprint_str);
	else
		c.text = 1;
	pg_query_free_fingerprint_result(fp);
	if (facts_resolve(c.out, NULL, NULL) != 0) {
		json_decref(c.out);
		res.error = strdup("out of memory");
		return res;
	}
	res.statements = c.out;
	res.cache = c.text ? "text" : "fingerprint";
	return res;
}

void
facts_result_free(struct facts_result *r)
{
	if (r == NULL)
		return;
	json_decref(r->statements);
	free(r->fingerprint);
	free(r->error);
	r->statements = NULL;
	r->fingerprint = NULL;
	r->error = NULL;
}

/* ---- write targets and reads resolved to base tables ------------------ */

#define RESOLVE_DEPTH 16

void
facts_rangevar_name(json_t *rv, char *buf, size_t len)
{
	rangevar_name(rv, buf, len);
}

json_t *
facts_relation_bases(json_t *relations, const char *name)
{
	json_t *v = json_object_get(relations, name);
	const char *d1 = strchr(name, '.');

	/* db.schema.rel: as schema.rel */
	if (v == NULL && d1 != NULL && strchr(d1 + 1, '.') != NULL)
		v = json_object_get(relations, d1 + 1);
	return json_is_array(v) ? v : NULL;
}

struct resolve {
	json_t *req;		/* the request's relations (may be NULL) */
	json_t *local;		/* views and rules created earlier in the string */
	int used;		/* the request's map changed a fact */
};

/* name, then what it stands for, recursively, into out. */
static void
resolve_name(struct resolve *rs, const char *name, json_t *f, json_t *out,
	     int *unresolved, int depth)
{
	json_t *bases, *b;
	size_t i;
	int req = 0;

	for (i = 0; i < json_array_size(out); i++)
		if (strcmp(json_string_value(json_array_get(out, i)), name) == 0)
			return;
	json_array_append_new(out, json_string(name));
	if ((bases = facts_relation_bases(rs->local, name)) == NULL &&
	    (bases = facts_relation_bases(rs->req, name)) != NULL)
		req = 1;
	if (bases == NULL)
		return;
	if (depth >= RESOLVE_DEPTH) {
		*unresolved = 1;
		return;
	}
	add_unique(f, "resolved_from", name);
	if (req) {
		rs->used = 1;
		if (json_array_size(bases) == 0)
			*unresolved = 1;
	}
	json_array_foreach(bases, i, b)
		if (json_is_string(b))
			resolve_name(rs, json_string_value(b), f, out, unresolved,
				     depth + 1);
}

static void
resolve_key(struct resolve *rs, json_t *f, const char *key, const char *what)
{
	json_t *in = json_object_get(f, key), *out = json_array(), *v;
	size_t i;
	int unresolved = 0;
	char reason[1200];

	json_array_foreach(in, i, v)
		if (json_is_string(v))
			resolve_name(rs, json_string_value(v), f, out, &unresolved, 0);
	json_object_set_new(f, key, out);
	if (unresolved && !json_is_true(json_object_get(f, "opaque"))) {
		snprintf(reason, sizeof reason, "%s cannot be resolved to base tables",
			 what);
		json_object_set_new(f, "opaque", json_true());
		json_object_set_new(f, "opaque_reason", json_string(reason));
	}
}

/* name (as written, e.g. "public.ov" or "ov") stands for list from now on;
 * also under its bare name and in pg_temp and public when written bare. */
static void
resolve_define(struct resolve *rs, const char *name, json_t *list)
{
	char alias[1100];
	const char *dot = strrchr(name, '.');
	const char *names[4] = { name, NULL, NULL, NULL };

	if (dot != NULL) {
		names[1] = dot + 1;
	} else {
		snprintf(alias, sizeof alias, "pg_temp.%s", name);
		names[1] = alias;
	}
	for (int k = 0; k < 2 && names[k] != NULL; k++) {
		json_t *cur = json_object_get(rs->local, names[k]), *v;
		size_t i;

		if (cur == NULL) {
			cur = json_array();
			json_object_set_new(rs->local, names[k], cur);
		}
		json_array_foreach(list, i, v) {
			size_t j;
			json_t *w;
			int dup = 0;

			json_array_foreach(cur, j, w)
				dup |= json_equal(v, w);
			if (!dup)
				json_array_append(cur, v);
		}
	}
}

int
facts_resolve(json_t *facts, json_t *relations, int *used)
{
	struct resolve rs = { relations, json_object(), 0 };
	static const char *const writers[] = { "insert", "update", "delete",
		"merge", "copy-from", NULL };
	size_t i, j;
	json_t *f, *g;

	if (used != NULL)
		*used = 0;
	if (rs.local == NULL)
		return -1;
	json_array_foreach(facts, i, f) {
		const char *kind = jstr(f, "kind"), *node = jstr(f, "node");
		int writes = 0;

		for (const char *const *k = writers; kind && *k; k++)
			writes |= strcmp(kind, *k) == 0;
		if (writes) {
			const char *w = json_string_value(json_array_get(
				json_object_get(f, "tables_written"), 0));
			char what[1100];

			snprintf(what, sizeof what, "write target %s", w ? w : "?");
			resolve_key(&rs, f, "tables_written", what);
		}
		resolve_key(&rs, f, "tables_read", "a relation it reads");
		if (json_array_size(json_object_get(f, "resolved_from")) == 0)
			json_object_del(f, "resolved_from");
		if (node == NULL || kind == NULL || strcmp(kind, "ddl") != 0)
			continue;
		const char *target = json_string_value(json_array_get(
			json_object_get(f, "tables_written"), 0));
		if (target == NULL)
			continue;
		if (strcmp(node, "ViewStmt") == 0) {
			/* a write to the view writes what its query reads */
			json_t *l = json_deep_copy(json_object_get(f, "tables_read"));

			json_array_insert_new(l, 0, json_string(target));
			resolve_define(&rs, target, l);
			json_decref(l);
		} else if (strcmp(node, "RuleStmt") == 0) {
			/* a write to the relation also writes what its
			 * actions write (facts nested in this one) */
			json_t *l = json_pack("[s]", target);

			json_array_foreach(facts, j, g) {
				json_t *p;
				json_int_t up = -1;

				if (j <= i)
					continue;
				for (p = g; p != NULL; p = json_array_get(facts, (size_t)up)) {
					json_t *pi = json_object_get(p, "parent");

					if (!json_is_integer(pi))
						break;
					up = json_integer_value(pi);
					if (up == (json_int_t)i || up < 0 || (size_t)up >= j)
						break;
				}
				if (up != (json_int_t)i)
					continue;
				json_array_extend(l, json_object_get(g, "tables_written"));
			}
			resolve_define(&rs, target, l);
			json_decref(l);
		}
	}
	json_decref(rs.local);
	if (used != NULL)
		*used = rs.used;
	return 0;
}
