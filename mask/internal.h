#ifndef PGWARD_MASK_INTERNAL_H
#define PGWARD_MASK_INTERNAL_H

/* Shared by the files of the masking engine; not for its callers. */

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "mask/mask.h"

#define MASK_REDACTED "********"
#define MASK_REDACTED_LEN 8
#define MASK_KEEP_DEFAULT 4
#define MASK_KEEP_MAX 64

/* Detector bits. */
#define DET_CARD 1u
#define DET_EMAIL 2u
#define DET_IBAN 4u
#define DET_SSN 8u

struct mask_col_rule {
	char *table;		/* "schema.table" or "table" (any schema) */
	char *column;
	struct mask_action action;
};

struct mask_pat_rule {
	char *pattern;		/* fnmatch, case-insensitive */
	struct mask_action action;
};

struct mask_regex {
	char *name;
	pcre2_code *code;
	int used;		/* listed in detect.detectors */
};

struct mask_span {
	size_t start, end;
	unsigned kind;		/* DET_* or 0 for a regex */
};

/* What changes while masking: behind a pointer so that the engine can be
 * const for its callers. */
struct mask_scratch {
	uint64_t masked;
	struct mask_span *spans;
	size_t nspans, capspans;
	pcre2_match_data *md;
};

/* HMAC-SHA-256 precomputed inner and outer states (no allocation per
 * token). Opaque bytes here; styles.c knows the layout. */
struct mask_hmac;

struct mask_engine {
	struct mask_col_rule *cols;
	size_t ncols;
	struct mask_pat_rule *pats;
	size_t npats;
	struct mask_regex *regexes;
	size_t nregexes;
	enum { DETECT_OFF, DETECT_COLUMNS, DETECT_ALL } detect_on;
	int detect_given;	/* "detect" present in the rules */
	unsigned detectors;	/* DET_* */
	struct mask_action detect_style;	/* style and keep for matches */
	enum mask_predicates predicates;
	struct mask_hmac *hmac;	/* NULL without a key */
	struct mask_scratch *scratch;
};

/* detect.c: finds the detector matches in in[0, len) into e->scratch
 * (ordered by start, not overlapping). Returns the number, -1 on error. */
int detect_spans(const struct mask_engine *e, const char *in, size_t len);
/* Individual checks, exposed for the unit tests. */
int detect_luhn_ok(const char *digits, size_t n);
int detect_iban_ok(const char *compact, size_t n);
int detect_ssn_ok(const char *s, size_t n);

/* engine.c: a malloc'd message (never NULL unless out of memory twice). */
char *mask_errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* styles.c */
int buf_reserve(struct mask_buf *b, size_t extra);
int buf_append(struct mask_buf *b, const char *s, size_t n);
/* Appends the masked form of in[0, n) per style/keep (not MASK_NULL,
 * MASK_NONE). Returns 0 or -1. */
int style_apply(const struct mask_engine *e, enum mask_style style, int keep,
    const char *in, size_t n, struct mask_buf *out);
struct mask_hmac *hmac_new(const uint8_t *key, size_t keylen);
void hmac_free(struct mask_hmac *h);

#endif
