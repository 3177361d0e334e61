/* Masked predicates over the libpg_query parse tree (JSON): every
 * ColumnRef naming a masked column counts, except one that is the whole
 * value of a select-list or RETURNING entry (ResTarget.val), which the
 * relay masks on the way out. */

#include "filter/maskpred.h"

#include <fnmatch.h>
#include <pg_query.h>
#include <string.h>

struct walk {
	const struct rules *p;
	const struct rule_identity *id;
	json_t *facts;
	int hit;
};

static int table_in_facts(json_t *facts, const char *table);
static int column_masked(struct walk *w, const char *col);
static void walk(struct walk *w, json_t *n, int bare);

/* A mask table without a schema matches in any schema; a table written
 * without a schema in the statement matches a mask table by its name. */
static int
table_in_facts(json_t *facts, const char *table)
{
	const char *keys[] = { "tables_read", "tables_written" };
	const char *tdot = strrchr(table, '.');
	size_t i;
	json_t *f;
	json_array_foreach(facts, i, f) {
		for (int k = 0; k < 2; k++) {
			size_t j;
			json_t *n;
			json_array_foreach(json_object_get(f, keys[k]), j, n) {
				const char *s = json_string_value(n);
				if (s == NULL)
					continue;
				const char *sdot = strrchr(s, '.');
				if (strcmp(s, table) == 0 ||
				    (tdot == NULL && sdot != NULL && strcmp(sdot + 1, table) == 0) ||
				    (sdot == NULL && tdot != NULL && strcmp(tdot + 1, s) == 0))
					return 1;
			}
		}
	}
	return 0;
}

static int
column_masked(struct walk *w, const char *col)
{
	for (size_t i = 0; i < w->p->mask.nlines; i++) {
		const struct mask_line *m = &w->p->mask.lines[i];
		if (!rules_mask_applies(m, w->id))
			continue;
		if (m->kind == MASK_LINE_COLUMN && strcmp(m->column, col) == 0 &&
		    table_in_facts(w->facts, m->table))
			return 1;
		if (m->kind == MASK_LINE_PATTERN &&
		    fnmatch(m->pattern, col, FNM_CASEFOLD) == 0)
			return 1;
	}
	return 0;
}

/* bare: n is the whole value of a ResTarget. */
static void
walk(struct walk *w, json_t *n, int bare)
{
	if (w->hit)
		return;
	if (json_is_array(n)) {
		size_t i;
		json_t *m;
		json_array_foreach(n, i, m)
			walk(w, m, 0);
		return;
	}
	if (!json_is_object(n))
		return;
	json_t *cr = json_object_get(n, "ColumnRef");
	if (cr != NULL) {
		/* The last name of the reference: t.card -> card. */
		json_t *fields = json_object_get(cr, "fields");
		json_t *last = json_array_get(fields, json_array_size(fields) - 1);
		const char *col = json_string_value(json_object_get(
		    json_object_get(last, "String"), "sval"));
		if (!bare && col != NULL && column_masked(w, col))
			w->hit = 1;
		return;
	}
	json_t *rt = json_object_get(n, "ResTarget");
	if (rt != NULL) {
		const char *k;
		json_t *v;
		json_object_foreach(rt, k, v)
			walk(w, v, strcmp(k, "val") == 0);
		return;
	}
	json_t *sb = json_object_get(n, "SortBy");
	json_t *pos = sb != NULL ? json_object_get(json_object_get(sb, "node"),
	    "A_Const") : NULL;
	if (pos != NULL && json_object_get(pos, "ival") != NULL) {
		/* ORDER BY 1 sorts by an output column, maybe a masked one. */
		for (size_t i = 0; i < w->p->mask.nlines && !w->hit; i++)
			if (rules_mask_applies(&w->p->mask.lines[i], w->id) &&
			    (w->p->mask.lines[i].kind == MASK_LINE_PATTERN ||
			    (w->p->mask.lines[i].kind == MASK_LINE_COLUMN &&
			    table_in_facts(w->facts, w->p->mask.lines[i].table))))
				w->hit = 1;
		return;
	}
	const char *k;
	json_t *v;
	json_object_foreach(n, k, v)
		walk(w, v, 0);
}

int
maskpred_check(const struct rules *p, const struct rule_identity *id,
    const char *sql, json_t *facts)
{
	size_t i;
	int any = 0;
	for (i = 0; i < p->mask.nlines; i++)
		if ((p->mask.lines[i].kind == MASK_LINE_COLUMN ||
		    p->mask.lines[i].kind == MASK_LINE_PATTERN) &&
		    rules_mask_applies(&p->mask.lines[i], id))
			any = 1;
	if (!any)
		return 0;
	PgQueryParseResult r = pg_query_parse(sql);
	if (r.error != NULL) {
		pg_query_free_parse_result(r);
		return -1;
	}
	json_t *tree = json_loads(r.parse_tree, 0, NULL);
	pg_query_free_parse_result(r);
	if (tree == NULL)
		return -1;
	struct walk w = { p, id, facts, 0 };
	walk(&w, tree, 0);
	json_decref(tree);
	return w.hit;
}
