#ifndef PGWARD_FILTER_MASKPRED_H
#define PGWARD_FILTER_MASKPRED_H

/* Masked predicates: whether a statement uses a column masked for a
 * person other than by returning it as it is (WHERE, JOIN, ORDER BY,
 * GROUP BY, HAVING, CASE, an operator or function over it ...), which
 * lets the person infer the value (docs/policy.md, "mask predicates"). */

#include <jansson.h>

#include "filter/rules.h"

/* sql: the statement text; facts: its statement facts (tables read and
 * written). Returns 1 when a masked column (a "mask column" line applying
 * to id whose table the statement reads or writes, or a "mask pattern"
 * line applying to id) is used other than as a plain output column, 0
 * when not, -1 when the text cannot be parsed or out of memory. */
int maskpred_check(const struct rules *p, const struct rule_identity *id,
    const char *sql, json_t *facts);

#endif
