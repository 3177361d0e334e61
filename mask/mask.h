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
 *    "predicates": "allow"|"deny"|"review",   (filters/ORDER BY on masked columns)
 *    "mode": "database"|"gateway"}            (for the relay; checked, else ignored)
 *
 * Styles: "redact" (a fixed "********"), "partial" (keep the last N
 * characters, others replaced by '*'), "email-domain" (local part
 * replaced, "****@example.com"), "token" (deterministic: "tok_" + the
 * first 16 hex of HMAC-SHA-256(key, value)), "null".
 *
 * Additions (docs/masking.md is the full reference):
 * - a column rule may say "detect": true instead of a style: the content
 *   detectors run on that column (with "on": "columns" or "all-text");
 * - "keep" (0..64, default 4) for "partial", also in "detect";
 * - "detectors" omitted: card, email, iban, ssn and every regex;
 * - "partial" on a value of at most "keep" characters masks it all;
 * - "email-domain" on a value without '@' is a redaction;
 * - in free text (mask_text) "null" redacts the match; on a column value
 *   (mask_value with detect) it makes the whole value NULL;
 * - "table" without a dot matches the table in any schema; a column
 *   whose table is unknown (table NULL: an expression, a CSV/JSON field)
 *   is matched against the column rules by name, and its label too.
 *
 * An engine is not thread-safe (scratch space for detectors and the regex
 * match data live in it): one per thread; pgward-relay forks per session.
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

/* ---- additions ---- */

/* A caller-owned output buffer reused across values: the _buf variants
 * allocate only when it must grow, so masking a result costs no
 * allocation per value in the steady state. Start with {0}. */
struct mask_buf {
	char *data;
	size_t len, cap;
};
void mask_buf_free(struct mask_buf *b);

/* As mask_value / mask_text, into out (out->len set, out->data not NUL
 * terminated). On 0 (unchanged) out is not written: send the input. On 1
 * the masked value is in out, or *out_null is set. -1: fail closed. */
int mask_value_buf(const struct mask_engine *e, const struct mask_action *a,
    const char *in, size_t inlen, struct mask_buf *out, int *out_null);
int mask_text_buf(const struct mask_engine *e, const char *in, size_t inlen,
    struct mask_buf *out);

/* The rules' "predicates": MASK_PRED_ALLOW when absent. */
enum mask_predicates {
	MASK_PRED_ALLOW = 0,
	MASK_PRED_REVIEW,
	MASK_PRED_DENY,
};
enum mask_predicates mask_engine_predicates(const struct mask_engine *e);
/* Whether the rules can mask anything at all (columns, patterns or
 * detection on all text): the relay skips the engine when not. */
int mask_engine_active(const struct mask_engine *e);
/* Whether detect is "all-text" (every text value goes to the detectors). */
int mask_engine_detect_all(const struct mask_engine *e);

/* Style names as in the rules JSON; NULL for an unknown name. */
const char *mask_style_name(enum mask_style s);
int mask_style_parse(const char *name, enum mask_style *out);

/* For pgward-mask: detectors over free text even where the rules say
 * "on": "off" or omit "detect" (the stream tool scans every string unless
 * the rules explicitly list "detect": {"on": "off"}). */
int mask_engine_text_detectors(const struct mask_engine *e);

/* The tokenization key, read by this one function for pgward-relay
 * (mask-key) and pgward-mask (--key), so one file gives one key: a
 * private regular file (conf_check_secret_file: no group or other
 * access) of MASK_KEY_MIN to MASK_KEY_MAX bytes after one trailing line
 * end ("\n" or "\r\n", as echo or an editor leaves) is dropped; every
 * other byte is key, used as it is. */
#define MASK_KEY_MIN 32
#define MASK_KEY_MAX 4096
struct mask_key_result {
	uint8_t *key;		/* malloc'd; NULL on error */
	size_t len;
	char *error;		/* NULL on success, else "PATH: reason" */
};
struct mask_key_result mask_key_read(const char *path);
/* Wipes and frees the key and the error. */
void mask_key_result_free(struct mask_key_result r);

#endif
