#ifndef PGWARD_MASK_POLICY_H
#define PGWARD_MASK_POLICY_H

/* The policy's mask lines (docs/policy.md, "Masking"): their grammar, the
 * per-person narrowing and the rules JSON of mask/mask.h, written once.
 * pgward-filter's policy parser hands every line whose first word is
 * "mask" to mask_policy_line, already split into words; pgward-mask reads
 * policies through the same parser. */

#include <jansson.h>
#include <stddef.h>

#include "conf.h"
#include "principal.h"

#include "mask/mask.h"


enum mask_line_kind {
	MASK_LINE_COLUMN,	/* mask column SCHEMA.TABLE.COLUMN ... */
	MASK_LINE_PATTERN,	/* mask pattern GLOB ... */
	MASK_LINE_DETECT,	/* mask detect all-text|columns ... */
	MASK_LINE_REGEX,	/* mask regex NAME "PCRE2" */
};

struct mask_line {
	enum mask_line_kind kind;
	char *table, *column;	/* column: "schema.table" (or "table"), column */
	char *pattern;		/* pattern: the glob; regex: the PCRE2 text */
	char *name;		/* regex */
	char *style;		/* NULL: "detect" (column, pattern) or redact */
	long keep;		/* -1 when not given */
	char *scope;		/* detect: "all-text" or "columns" */
	struct conf_list detectors;
	struct conf_list groups, exempt;
	struct principal_cond who;	/* principal, actors */
	int line;
};

/* "mask mode": database (the default) logs a masked person in upstream as
 * a role that cannot read the raw columns (docs/masking.md); gateway masks
 * on the wire only. */
enum mask_mode {
	MASK_MODE_DATABASE,
	MASK_MODE_GATEWAY,
};

struct mask_policy {
	struct mask_line *lines;
	size_t nlines;
	enum mask_mode mode;
	int mode_line;		/* 0: not given */
	/* "mask predicates": predicates_line 0 when absent; then
	 * mask_policy_predicates gives the mode's default. */
	enum mask_predicates predicates;
	int predicates_line;
	struct conf_list approvers;	/* review */
	long approvals;
	long timeout_s;
};

/* One mask line split into words (tok[0] is "mask"; quoted[i]: the word
 * was a quoted string). default_timeout_s: for "predicates review" without
 * timeout-s. Returns 0, or -1 with the reason in err (no file:line). */
int mask_policy_line(struct mask_policy *mp, char *const *tok, const int *quoted,
    int n, int lineno, long default_timeout_s, char *err, size_t errlen);
/* After the last line: the checks across lines (regex names; database
 * mode's column lines). -1: err and *lineno (0 when no line is at fault). */
int mask_policy_finish(struct mask_policy *mp, int *lineno, char *err,
    size_t errlen);
void mask_policy_free(struct mask_policy *mp);

/* The effective "mask predicates": as given, else deny in gateway mode
 * and allow in database mode (where the database masks every use). */
enum mask_predicates mask_policy_predicates(const struct mask_policy *mp);
const char *mask_mode_name(enum mask_mode m);
const char *mask_predicates_name(enum mask_predicates p);

/* Whether a line applies to someone in these groups, as who (NULL: a
 * person with no actor): its groups (when given) include one of them,
 * none is exempt, and who meets its principal and actors conditions.
 * groups NULL: every line applies (ngroups and who ignored). */
int mask_line_applies(const struct mask_line *m, const char *const *groups,
    size_t ngroups, const struct principal *who);
/* The rules JSON of mask/mask.h for someone in groups, as who (groups
 * NULL: every line), with "mode" always present. *out is NULL when
 * nothing is masked for them. Returns 0, or -1 out of memory. */
int mask_policy_json(const struct mask_policy *mp, const char *const *groups,
    size_t ngroups, const struct principal *who, json_t **out);

#endif
