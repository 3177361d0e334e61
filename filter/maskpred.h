#ifndef PGWARD_FILTER_MASKPRED_H
#define PGWARD_FILTER_MASKPRED_H

/* Masked columns used other than as plain output (docs/policy.md, "mask
 * predicates"): a statement that filters, joins, sorts, groups or computes
 * on a column masked for a person lets them infer or rebuild its value.
 *
 * What counts depends on the person's mask mode:
 *   database  PostgreSQL masks every use (masking views and roles); this
 *             check only refuses predicates and expressions over a masked
 *             column (ColumnRef), when the policy asks for it.
 *   gateway   the relay's wire masking is all there is, and it knows a
 *             column only as a whole output column of the statement: every
 *             other use is refused, including whole-row references, * and
 *             t.* outside the top-level select list, select lists of
 *             sublinks, subqueries, CTEs and set operations, SELECT INTO,
 *             INSERT ... SELECT, UPDATE SET, COPY of a masked table, reads
 *             of views over one (the "relations" map), statistics views,
 *             functions that run SQL text, and DO blocks and function
 *             bodies that name a masked table or column or cannot be
 *             analysed. */

#include <jansson.h>

#include "filter/rules.h"

struct maskpred_result {
	int masked;	/* 1: refused, message says why; 0: no such use */
	char *message;	/* "column public.customers.card_number is masked for
			 * you: only a plain output column may use it (found
			 * in a function argument)" */
	char *error;	/* NULL, or why the text could not be checked */
};

/* mask: the person's mask rules, as in the connect reply (mask/mask.h:
 * "columns", "patterns", "mode"); NULL when nothing is masked. facts: the
 * statement facts of sql (tables read and written, resolved); relations:
 * the decide request's map (may be NULL); functions: its list of functions
 * that may read a masked column (may be NULL), whose calls gateway mode
 * refuses. */
struct maskpred_result maskpred_find(json_t *mask, const char *sql,
    json_t *facts, json_t *relations, json_t *functions);
void maskpred_result_free(struct maskpred_result *r);

/* The same for id under policy p (its mask lines): 1 when refused, 0 when
 * not, -1 when the text cannot be parsed or out of memory. */
int maskpred_check(const struct rules *p, const struct rule_identity *id,
    const char *sql, json_t *facts);

#endif
