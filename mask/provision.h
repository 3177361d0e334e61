#ifndef PGWARD_MASK_PROVISION_H
#define PGWARD_MASK_PROVISION_H

/* Database-enforced masking (docs/masking.md): the profiles a policy
 * gives people, the SQL that provisions them (pgward-mask sql) and the
 * query that verifies a masked role (pgward-mask check, and pgward-relay
 * at connect). */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mask/policy.h"
#include "mask/profile.h"

/* At most this many distinct group patterns on mask column lines: the
 * profiles are found by trying every truth assignment of them. */
#define MASK_PROFILE_PATTERNS_MAX 16

struct mask_prov_profile {
	struct mask_profile *profile;
	char *lines;		/* the policy lines it is made of: "5, 7" */
	char *who;		/* who gets it, one "-- " comment line each */
	int uses_token;
};

struct mask_profiles_result {
	struct mask_prov_profile *v;	/* by first appearance */
	size_t n;
	char *error;
};

/* Every distinct non-empty set of "mask column" lines (with a style) that
 * applies to someone, by the groups and exempt patterns of the lines. */
struct mask_profiles_result mask_profiles_enumerate(const struct mask_policy *mp);
void mask_profiles_result_free(struct mask_profiles_result r);

struct mask_sql_result {
	char *sql;		/* malloc'd, NUL-terminated */
	char *error;
};
void mask_sql_result_free(struct mask_sql_result r);

/* The provisioning script: one transaction, idempotent (run twice, same
 * state), for a superuser's psql -v ON_ERROR_STOP=1. roles: the database
 * roles to make masked twins of. key: required when a profile uses the
 * token style (the script then holds the key: treat it as a secret).
 * source names the policy in the script's header. */
struct mask_sql_result mask_provision_sql(const struct mask_profiles_result *ps,
    const char *const *roles, size_t nroles, const uint8_t *key, size_t keylen,
    const char *source);

/* The verification of one masked role for one profile, as one query that
 * any role may run (the masked role itself included): it reads only
 * pg_catalog, qualifies every function, and returns one text column,
 * "problem", one row per violation, no row when all holds:
 *   - "role M does not exist" / "is a superuser" / "has BYPASSRLS" /
 *     "is a member of role G";
 *   - "table S.T does not exist", "column S.T.C does not exist",
 *     "table S.T has row-level security ...";
 *   - "S.T.C readable by role X" for each masked column (and the same
 *     column in inheritance parents and children) that X, M or any role
 *     M can SET ROLE to, can SELECT;
 *   - "view V reads masked table S.T and is readable by role X" for
 *     views and rules over a masked table (other than the profile's own);
 *   - "view P.T is missing", "view P.T lacks column C", "view P.T column
 *     C passes the raw value" (an updatable, so plain, column where a
 *     masked one belongs);
 *   - "role M: search_path does not start with P";
 *   - with a token style: "function pgward_mask.token(text) is missing",
 *     "role M cannot execute pgward_mask.token(text)", "table
 *     pgward_mask.key readable by role X".
 * masked_role: mask_profile_role's name. */
struct mask_sql_result mask_check_sql(const struct mask_profile *p,
    const char *masked_role);

/* The SQL expression of a style over the column expression col (as SQL
 * text): the same value the engine gives for the column's text. NULL
 * stays NULL. For MASK_NULL, type_sql is the column's type. Written to
 * f; token calls pgward_mask.token(text). */
void mask_style_sql(FILE *f, enum mask_style style, int keep, const char *col,
    const char *type_sql);

#endif
