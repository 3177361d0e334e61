/* The policy's mask lines: grammar, narrowing to one person, rules JSON. */

#include "mask/policy.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <fnmatch.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct words {
	char *const *tok;
	const int *quoted;
	int n;
};

struct lp {
	struct mask_policy *mp;
	struct words w;
	char *err;
	size_t errlen;
};

static int lerr(struct lp *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int is_mask_word(const char *w);
static int is_glob(const char *s);
static int list_parse(struct lp *p, struct conf_list *out, int from, int to);
static int count_parse(struct lp *p, const char *key, const char *v, long min,
    long max, long *out);
static int options_parse(struct lp *p, int i, struct mask_line *m);
static int predicates_parse(struct lp *p, int lineno, long default_timeout_s);
static void line_free(struct mask_line *m);
static json_t *action_json(const struct mask_line *m);

static int
lerr(struct lp *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int
is_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static int
is_mask_word(const char *w)
{
	static const char *const words[] = { "style", "keep", "detect", "exempt",
		"groups", "detectors", "approvers", "approvals", "timeout-s",
		"principal", "actors", NULL };
	for (int i = 0; words[i] != NULL; i++)
		if (strcmp(w, words[i]) == 0)
			return 1;
	return 0;
}

/* Words [from, to), split at commas (a quoted word is one element). */
static int
list_parse(struct lp *p, struct conf_list *out, int from, int to)
{
	for (int t = from; t < to; t++)
		if (conf_list_add_word(out, p->w.tok[t], p->w.quoted[t]) != 0)
			return lerr(p, "out of memory");
	if (out->n == 0)
		return lerr(p, "%s: empty list", p->w.tok[from - 1]);
	return 0;
}

static int
count_parse(struct lp *p, const char *key, const char *v, long min, long max,
    long *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || n < min || n > max)
		return lerr(p, "%s: \"%s\" is not a number from %ld to %ld", key, v,
		    min, max);
	*out = n;
	return 0;
}

static void
line_free(struct mask_line *m)
{
	free(m->table);
	free(m->column);
	free(m->pattern);
	free(m->name);
	free(m->style);
	free(m->scope);
	conf_list_free(&m->detectors);
	conf_list_free(&m->groups);
	conf_list_free(&m->exempt);
	principal_cond_free(&m->who);
}

void
mask_policy_free(struct mask_policy *mp)
{
	if (mp == NULL)
		return;
	for (size_t i = 0; i < mp->nlines; i++)
		line_free(&mp->lines[i]);
	free(mp->lines);
	conf_list_free(&mp->approvers);
	memset(mp, 0, sizeof *mp);
}

/* The options after the subject of a mask line: style S [keep N] | detect,
 * exempt LIST, groups LIST, detectors LIST (detect lines). */
static int
options_parse(struct lp *p, int i, struct mask_line *m)
{
	char *const *tok = p->w.tok;
	int detect_word = 0;
	while (i < p->w.n) {
		const char *w = tok[i];
		int j = i + 1;
		while (j < p->w.n && (p->w.quoted[j] || !is_mask_word(tok[j])))
			j++;
		if (strcmp(w, "detect") == 0 && !p->w.quoted[i]) {
			if (m->kind != MASK_LINE_COLUMN && m->kind != MASK_LINE_PATTERN)
				return lerr(p, "mask: \"detect\" belongs to column and pattern lines");
			if (j != i + 1)
				return lerr(p, "mask: \"detect\" takes no value");
			detect_word = 1;
		} else if (strcmp(w, "style") == 0 && !p->w.quoted[i]) {
			enum mask_style st;
			if (m->style != NULL)
				return lerr(p, "mask: duplicate \"style\"");
			if (j != i + 2)
				return lerr(p, "mask: style: expected one style");
			if (mask_style_parse(tok[i + 1], &st) != 0)
				return lerr(p, "mask: style: \"%s\" is not redact, partial, "
				    "email-domain, token or null", tok[i + 1]);
			if ((m->style = strdup(tok[i + 1])) == NULL)
				return lerr(p, "out of memory");
		} else if (strcmp(w, "keep") == 0 && !p->w.quoted[i]) {
			if (m->keep >= 0)
				return lerr(p, "mask: duplicate \"keep\"");
			if (j != i + 2)
				return lerr(p, "mask: keep: expected one number");
			if (count_parse(p, "keep", tok[i + 1], 0, 64, &m->keep) != 0)
				return -1;
		} else if ((strcmp(w, "exempt") == 0 || strcmp(w, "groups") == 0 ||
		    strcmp(w, "detectors") == 0) && !p->w.quoted[i]) {
			struct conf_list *dst = w[0] == 'e' ? &m->exempt :
			    w[0] == 'g' ? &m->groups : &m->detectors;
			if (dst == &m->detectors && m->kind != MASK_LINE_DETECT)
				return lerr(p, "mask: \"detectors\" belongs to detect lines");
			if (dst->n > 0)
				return lerr(p, "mask: duplicate \"%s\"", w);
			if (j == i + 1)
				return lerr(p, "mask: %s: missing value", w);
			if (list_parse(p, dst, i + 1, j) != 0)
				return -1;
		} else if (principal_cond_word(w) && !p->w.quoted[i]) {
			char err[300];
			if (principal_cond_parse(&m->who, tok, p->w.quoted, i, j, err,
			    sizeof err) != 0)
				return lerr(p, "mask: %s", err);
		} else {
			return lerr(p, "mask: unexpected \"%s\"", w);
		}
		i = j;
	}
	if ((m->kind == MASK_LINE_COLUMN || m->kind == MASK_LINE_PATTERN) &&
	    (m->style == NULL) == !detect_word)
		return lerr(p, "mask: give either \"style STYLE\" or \"detect\"");
	if (m->keep >= 0 && (m->style == NULL || strcmp(m->style, "partial") != 0))
		return lerr(p, "mask: keep belongs to style partial");
	for (size_t k = 0; k < m->detectors.n; k++) {
		const char *d = m->detectors.v[k];
		if (strcmp(d, "card") != 0 && strcmp(d, "email") != 0 &&
		    strcmp(d, "iban") != 0 && strcmp(d, "ssn") != 0 &&
		    strncmp(d, "regex:", 6) != 0 &&
		    (strcmp(d, "all") != 0 || m->detectors.n != 1))
			return lerr(p, "mask: detectors: \"%s\" is not card, email, iban, "
			    "ssn, regex:NAME or all", d);
	}
	return 0;
}

/* mask predicates allow|deny|review [approvers LIST] [approvals N]
 * [timeout-s N] */
static int
predicates_parse(struct lp *p, int lineno, long default_timeout_s)
{
	struct mask_policy *mp = p->mp;
	char *const *tok = p->w.tok;
	if (mp->predicates_line != 0)
		return lerr(p, "mask predicates: duplicate (first on line %d)",
		    mp->predicates_line);
	if (p->w.n < 3)
		return lerr(p, "mask predicates: expected allow, deny or review");
	mp->predicates_line = lineno;
	mp->approvals = 1;
	mp->timeout_s = default_timeout_s;
	const char *a = tok[2];
	if (strcmp(a, "allow") == 0)
		mp->predicates = MASK_PRED_ALLOW;
	else if (strcmp(a, "deny") == 0)
		mp->predicates = MASK_PRED_DENY;
	else if (strcmp(a, "review") == 0)
		mp->predicates = MASK_PRED_REVIEW;
	else
		return lerr(p, "mask predicates: \"%s\" is not allow, deny or review", a);
	int i = 3;
	while (i < p->w.n) {
		const char *w = tok[i];
		int j = i + 1;
		while (j < p->w.n && !is_mask_word(tok[j]))
			j++;
		if (mp->predicates != MASK_PRED_REVIEW)
			return lerr(p, "mask predicates: \"%s\" belongs to review", w);
		if (strcmp(w, "approvers") == 0) {
			if (mp->approvers.n > 0)
				return lerr(p, "mask predicates: duplicate approvers");
			if (j == i + 1)
				return lerr(p, "mask predicates: approvers: missing value");
			if (list_parse(p, &mp->approvers, i + 1, j) != 0)
				return -1;
			if (conf_list_match(&mp->approvers, "self"))
				return lerr(p, "mask predicates: approvers self belongs to "
				    "rule and access lines");
		} else if (strcmp(w, "approvals") == 0 && j == i + 2) {
			if (count_parse(p, "approvals", tok[i + 1], 1, 100,
			    &mp->approvals) != 0)
				return -1;
		} else if (strcmp(w, "timeout-s") == 0 && j == i + 2) {
			if (count_parse(p, "timeout-s", tok[i + 1], 1, 7 * 86400,
			    &mp->timeout_s) != 0)
				return -1;
		} else {
			return lerr(p, "mask predicates: unexpected \"%s\"", w);
		}
		i = j;
	}
	if (mp->predicates == MASK_PRED_REVIEW && mp->approvers.n == 0)
		return lerr(p, "mask predicates review needs approvers GROUPS");
	return 0;
}

/* mask column S.T.C ... | pattern GLOB ... | detect SCOPE ... |
 * regex NAME "RE" | predicates allow|deny|review [approvers ...] |
 * mode database|gateway */
int
mask_policy_line(struct mask_policy *mp, char *const *tok, const int *quoted,
    int n, int lineno, long default_timeout_s, char *err, size_t errlen)
{
	struct lp p = { mp, { tok, quoted, n }, err, errlen };
	if (n < 2)
		return lerr(&p, "mask: expected column, pattern, detect, regex, "
		    "predicates or mode");
	const char *what = tok[1];
	if (strcmp(what, "key") == 0)
		return lerr(&p, "mask key: the tokenization key is configuration of the "
		    "masking process (pgward-relay's mask-key, pgward-mask --key), "
		    "never in the policy");
	if (strcmp(what, "predicates") == 0)
		return predicates_parse(&p, lineno, default_timeout_s);
	if (strcmp(what, "mode") == 0) {
		if (mp->mode_line != 0)
			return lerr(&p, "mask mode: duplicate (first on line %d)",
			    mp->mode_line);
		if (n != 3 || (strcmp(tok[2], "database") != 0 &&
		    strcmp(tok[2], "gateway") != 0))
			return lerr(&p, "mask mode: expected database or gateway");
		mp->mode = strcmp(tok[2], "gateway") == 0 ? MASK_MODE_GATEWAY :
		    MASK_MODE_DATABASE;
		mp->mode_line = lineno;
		return 0;
	}
	struct mask_line m;
	memset(&m, 0, sizeof m);
	m.keep = -1;
	m.line = lineno;
	int rc = 0;
	if (strcmp(what, "column") == 0) {
		m.kind = MASK_LINE_COLUMN;
		const char *spec = n > 2 ? tok[2] : "";
		const char *dot = strrchr(spec, '.');
		if (dot == NULL || dot == spec || dot[1] == '\0' || is_glob(spec) ||
		    spec[0] == '.' || strstr(spec, "..") != NULL)
			rc = lerr(&p, "mask column: expected SCHEMA.TABLE.COLUMN (or "
			    "TABLE.COLUMN in gateway mode), no patterns, not \"%s\"", spec);
		else if ((m.table = strndup(spec, (size_t)(dot - spec))) == NULL ||
		    (m.column = strdup(dot + 1)) == NULL)
			rc = lerr(&p, "out of memory");
		if (rc == 0)
			rc = options_parse(&p, 3, &m);
	} else if (strcmp(what, "pattern") == 0) {
		m.kind = MASK_LINE_PATTERN;
		if (n < 3 || tok[2][0] == '\0')
			rc = lerr(&p, "mask pattern: expected a column name pattern");
		else if ((m.pattern = strdup(tok[2])) == NULL)
			rc = lerr(&p, "out of memory");
		if (rc == 0)
			rc = options_parse(&p, 3, &m);
	} else if (strcmp(what, "detect") == 0) {
		m.kind = MASK_LINE_DETECT;
		if (n < 3 || (strcmp(tok[2], "all-text") != 0 &&
		    strcmp(tok[2], "columns") != 0))
			rc = lerr(&p, "mask detect: expected all-text or columns");
		else if ((m.scope = strdup(tok[2])) == NULL)
			rc = lerr(&p, "out of memory");
		if (rc == 0)
			rc = options_parse(&p, 3, &m);
	} else if (strcmp(what, "regex") == 0) {
		m.kind = MASK_LINE_REGEX;
		if (n != 4 || tok[3][0] == '\0')
			rc = lerr(&p, "mask regex: expected NAME \"PATTERN\"");
		for (size_t i = 0; rc == 0 && i < mp->nlines; i++)
			if (mp->lines[i].kind == MASK_LINE_REGEX &&
			    strcmp(mp->lines[i].name, tok[2]) == 0)
				rc = lerr(&p, "mask regex: duplicate name \"%s\"", tok[2]);
		if (rc == 0) {
			int ec;
			PCRE2_SIZE eo;
			pcre2_code *code = pcre2_compile((PCRE2_SPTR)tok[3],
			    PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
			if (code == NULL) {
				PCRE2_UCHAR msg[256];
				pcre2_get_error_message(ec, msg, sizeof msg);
				rc = lerr(&p, "mask regex %s: at offset %zu: %s", tok[2],
				    (size_t)eo, (const char *)msg);
			}
			pcre2_code_free(code);
		}
		if (rc == 0 && ((m.name = strdup(tok[2])) == NULL ||
		    (m.pattern = strdup(tok[3])) == NULL))
			rc = lerr(&p, "out of memory");
	} else {
		rc = lerr(&p, "mask: expected column, pattern, detect, regex, "
		    "predicates or mode, not \"%s\"", what);
	}
	if (rc == 0) {
		struct mask_line *nm = realloc(mp->lines, (mp->nlines + 1) * sizeof *nm);
		if (nm == NULL) {
			rc = lerr(&p, "out of memory");
		} else {
			mp->lines = nm;
			nm[mp->nlines++] = m;
			return 0;
		}
	}
	line_free(&m);
	return -1;
}

int
mask_policy_finish(struct mask_policy *mp, int *lineno, char *err,
    size_t errlen)
{
	*lineno = 0;
	for (size_t i = 0; i < mp->nlines; i++) {
		const struct mask_line *m = &mp->lines[i];
		*lineno = m->line;
		/* The database masks a column it can name, with a style it can
		 * write as SQL; detection is the wire's. */
		if (m->kind == MASK_LINE_COLUMN && mp->mode == MASK_MODE_DATABASE) {
			if (strchr(m->table, '.') == NULL) {
				snprintf(err, errlen, "mask column %s.%s: mask mode database "
				    "needs SCHEMA.TABLE.COLUMN (or say \"mask mode gateway\")",
				    m->table, m->column);
				return -1;
			}
			if (m->style == NULL) {
				snprintf(err, errlen, "mask column %s.%s: mask mode database "
				    "needs a style, not detect (or say \"mask mode gateway\")",
				    m->table, m->column);
				return -1;
			}
		}
		for (size_t k = 0; k < m->detectors.n; k++) {
			const char *d = m->detectors.v[k];
			if (strncmp(d, "regex:", 6) != 0)
				continue;
			size_t j;
			for (j = 0; j < mp->nlines; j++)
				if (mp->lines[j].kind == MASK_LINE_REGEX &&
				    strcmp(mp->lines[j].name, d + 6) == 0)
					break;
			if (j == mp->nlines) {
				snprintf(err, errlen, "mask detect: no \"mask regex %s\" line",
				    d + 6);
				return -1;
			}
		}
	}
	*lineno = 0;
	return 0;
}

enum mask_predicates
mask_policy_predicates(const struct mask_policy *mp)
{
	if (mp->predicates_line != 0)
		return mp->predicates;
	return mp->mode == MASK_MODE_GATEWAY ? MASK_PRED_DENY : MASK_PRED_ALLOW;
}

const char *
mask_mode_name(enum mask_mode m)
{
	return m == MASK_MODE_GATEWAY ? "gateway" : "database";
}

const char *
mask_predicates_name(enum mask_predicates p)
{
	switch (p) {
	case MASK_PRED_ALLOW:
		return "allow";
	case MASK_PRED_REVIEW:
		return "review";
	case MASK_PRED_DENY:
		return "deny";
	}
	return "deny";
}

int
mask_line_applies(const struct mask_line *m, const char *const *groups,
    size_t ngroups, const struct principal *who)
{
	if (groups == NULL || m->kind == MASK_LINE_REGEX)
		return 1;
	if (!principal_cond_match(&m->who, who))
		return 0;
	int in_groups = m->groups.n == 0;
	for (size_t g = 0; g < ngroups; g++) {
		if (conf_list_match(&m->exempt, groups[g]))
			return 0;
		if (conf_list_match(&m->groups, groups[g]))
			in_groups = 1;
	}
	return in_groups;
}

static json_t *
action_json(const struct mask_line *m)
{
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	int bad = 0;
	if (m->kind == MASK_LINE_COLUMN) {
		bad |= json_object_set_new(o, "table", json_string(m->table));
		bad |= json_object_set_new(o, "column", json_string(m->column));
	} else {
		bad |= json_object_set_new(o, "column", json_string(m->pattern));
	}
	if (m->style == NULL)
		bad |= json_object_set_new(o, "detect", json_true());
	else
		bad |= json_object_set_new(o, "style", json_string(m->style));
	if (m->keep >= 0)
		bad |= json_object_set_new(o, "keep", json_integer(m->keep));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int
mask_policy_json(const struct mask_policy *mp, const char *const *groups,
    size_t ngroups, const struct principal *who, json_t **out)
{
	*out = NULL;
	json_t *r = json_object(), *cols = json_array(), *pats = json_array(),
	    *res = json_array();
	int bad = r == NULL || cols == NULL || pats == NULL || res == NULL;
	json_t *detect = NULL;
	for (size_t i = 0; !bad && i < mp->nlines; i++) {
		const struct mask_line *m = &mp->lines[i];
		if (!mask_line_applies(m, groups, ngroups, who))
			continue;
		switch (m->kind) {
		case MASK_LINE_COLUMN:
		case MASK_LINE_PATTERN: {
			json_t *a = action_json(m);
			bad = a == NULL || json_array_append_new(
			    m->kind == MASK_LINE_COLUMN ? cols : pats, a) != 0;
			break;
		}
		case MASK_LINE_REGEX:
			bad = json_array_append_new(res, json_pack("{s:s, s:s}", "name",
			    m->name, "pattern", m->pattern)) != 0;
			break;
		case MASK_LINE_DETECT:
			if (detect != NULL)
				break;	/* the first detect line for them wins */
			detect = json_pack("{s:s, s:s}", "on", m->scope, "style",
			    m->style != NULL ? m->style : "redact");
			bad = detect == NULL;
			if (!bad && m->keep >= 0)
				bad = json_object_set_new(detect, "keep", json_integer(m->keep));
			if (!bad && m->detectors.n > 0 && !(m->detectors.n == 1 &&
			    strcmp(m->detectors.v[0], "all") == 0)) {
				json_t *d = json_array();
				for (size_t k = 0; d != NULL && k < m->detectors.n; k++)
					if (json_array_append_new(d, json_string(m->detectors.v[k])) != 0) {
						json_decref(d);
						d = NULL;
					}
				bad = d == NULL || json_object_set_new(detect, "detectors", d) != 0;
			}
			break;
		}
	}
	int any = json_array_size(cols) > 0 || json_array_size(pats) > 0 ||
	    detect != NULL;
	if (!bad && any) {
		bad |= json_object_set_new(r, "mode", json_string(mask_mode_name(mp->mode)));
		if (json_array_size(cols) > 0)
			bad |= json_object_set(r, "columns", cols);
		if (json_array_size(pats) > 0)
			bad |= json_object_set(r, "patterns", pats);
		if (json_array_size(res) > 0)
			bad |= json_object_set(r, "regexes", res);
		if (detect != NULL)
			bad |= json_object_set(r, "detect", detect);
		if (mp->predicates_line != 0 || mp->mode == MASK_MODE_GATEWAY)
			bad |= json_object_set_new(r, "predicates", json_string(
			    mask_predicates_name(mask_policy_predicates(mp))));
	}
	json_decref(cols);
	json_decref(pats);
	json_decref(res);
	json_decref(detect);
	if (bad) {
		json_decref(r);
		return -1;
	}
	if (any)
		*out = r;
	else
		json_decref(r);
	return 0;
}
