#ifndef PGWARD_MASK_H
#define PGWARD_MASK_H

/* The masking engine: linked by pgward-relay (results in the wire
 * protocol) and used by pgward-mask (JSON lines and CSV streams).
 *
 * Rules come as JSON (the policy's mask lines, already narrowed to one
 * person by pgward-filter: exempt groups removed) - see docs/masking.md:
 *
 *   {"columns":  [{"table":"public.customers","column":"card_number","style":"partial","keep":4}],
 *    "patterns": [{"column":"*email*","style":"email-domain"}],
 *    "detect":   {"on":"columns"|"all-text"|"off",
 *                 "detectors":["card","email","iban","ssn","regex:NAME"],
 *                 "style":"redact"},
 *    "regexes":  [{"name":"employee-id","pattern":"E-[0-9]{6}"}],
 *    "predicates": "allow"|"deny"|"review"}   (filters/ORDER BY on masked columns)
 *
 * Styles: "redact" (a fixed "********"), "partial" (keep the last N
 * characters, others replaced by '*'), "email-domain" (local part
 * replaced, "****@example.com"), "token" (deterministic: "tok_" + the
 * first 16 hex of HMAC-SHA-256(key, value)), "null".
 */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum mask_style {
	MASK_NONE = 0,
	MASK_REDACT,
	MASK_PARTIAL,
	MASK_EMAIL_DOMAIN,
	MASK_TOKEN,
	MASK_NULL,
};

struct mask_action {
	enum mask_style style;
	int keep;		/* MASK_PARTIAL */
	int detect;		/* run content detectors on this column */
};

struct mask_engine;		/* opaque */

struct mask_result {
	struct mask_engine *engine;
	char *error;		/* NULL on success */
};

/* key/keylen: the tokenization HMAC key (may be NULL if no rule tokenizes). */
struct mask_result mask_engine_new(json_t *rules, const uint8_t *key, size_t keylen);
void mask_engine_free(struct mask_engine *e);

/* What to do with a result column: by catalog identity when known
 * (schema-qualified table name and column name, resolved by the caller from
 * the table OID and attribute number), else by column name pattern, else
 * content detection if the rules say so for all text. */
struct mask_action mask_column_action(const struct mask_engine *e, const char *table,
    const char *column, const char *label, int is_text);

/* Masks one value. *out is malloc'd (caller frees); *out_null set when the
 * result is SQL NULL. Returns 1 if the value changed, 0 if not, -1 on error
 * (fail closed: the caller must not send the original). */
int mask_value(const struct mask_engine *e, const struct mask_action *a, const char *in,
    size_t inlen, char **out, size_t *outlen, int *out_null);

/* Content detectors over free text (error messages, JSON strings, COPY
 * fields): every match replaced per the detect style. Same return
 * convention. */
int mask_text(const struct mask_engine *e, const char *in, size_t inlen, char **out,
    size_t *outlen);

/* Counters for the audit record. */
uint64_t mask_values_masked(const struct mask_engine *e);

#endif
