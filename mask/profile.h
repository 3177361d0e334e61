#ifndef PGWARD_MASK_PROFILE_H
#define PGWARD_MASK_PROFILE_H

/* A masking profile: the set of columns the database masks for a person
 * (docs/masking.md, "Database-enforced masking"), named so that
 * pgward-mask sql, pgward-mask check and pgward-relay agree on the
 * schema of its views and on the role that logs in upstream.
 *
 * From the rules JSON of mask/mask.h (one person's, as pgward-filter
 * narrows it), only "columns" entries with a "style" count; the first
 * entry for a table and column wins, as in the engine. Canonical text:
 * the columns sorted bytewise by "table\tcolumn", one line each,
 *   table \t column \t style \t keep \n
 * keep: the integer for partial (default 4), 0 for other styles.
 * Profile id: "p" + the first 8 lowercase hex digits of SHA-256 of that
 * text; view schema "pgward_mask_" + the 8 digits; the masked role for
 * database role R: R + "_m_" + the 8 digits (at most 63 bytes). */

#include <jansson.h>
#include <stddef.h>

#include "mask/mask.h"

#define MASK_PROFILE_NAMEDATALEN 64	/* PostgreSQL's identifier limit + 1 */

struct mask_profile_column {
	char *table;		/* as in the rules: "schema.table" */
	char *column;
	enum mask_style style;
	int keep;		/* partial: the kept characters; else 0 */
};

struct mask_profile {
	char hex[9];		/* the 8 hex digits */
	char id[10];		/* "p" + hex */
	char schema[21];	/* "pgward_mask_" + hex */
	char *canonical;
	struct mask_profile_column *cols;	/* in canonical order */
	size_t ncols;
};

struct mask_profile_result {
	struct mask_profile *profile;	/* NULL with no error: nothing to mask */
	char *error;
};

struct mask_profile_result mask_profile_new(json_t *rules);
void mask_profile_free(struct mask_profile *p);
void mask_profile_result_free(struct mask_profile_result r);

/* The masked role for role into out (MASK_PROFILE_NAMEDATALEN bytes).
 * Returns 0, or -1 when the name would be longer than 63 bytes. */
int mask_profile_role(const struct mask_profile *p, const char *role,
    char out[MASK_PROFILE_NAMEDATALEN]);

#endif
