/* The masking engine: rules JSON, column actions, values and free text. */

#include "mask/internal.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static int only_keys(json_t *o, const char *const *keys, const char *what,
    char **err);
static int action_parse(json_t *o, struct mask_action *a, const char *what,
    int allow_detect, char **err);
static int parse_columns(struct mask_engine *e, json_t *a, char **err);
static int parse_patterns(struct mask_engine *e, json_t *a, char **err);
static int parse_regexes(struct mask_engine *e, json_t *a, char **err);
static int parse_detect(struct mask_engine *e, json_t *d, char **err);
static int uses_token(const struct mask_engine *e);
static int table_match(const char *rule, const char *table);

char *
mask_errf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	char *s = strdup(buf);
	return s != NULL ? s : strdup("out of memory");
}

static int
only_keys(json_t *o, const char *const *keys, const char *what, char **err)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		size_t i;
		for (i = 0; keys[i] != NULL; i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (keys[i] == NULL) {
			*err = mask_errf("%s: unknown member \"%s\"", what, k);
			return -1;
		}
	}
	return 0;
}

static int
action_parse(json_t *o, struct mask_action *a, const char *what,
    int allow_detect, char **err)
{
	memset(a, 0, sizeof *a);
	a->keep = MASK_KEEP_DEFAULT;
	json_t *st = json_object_get(o, "style");
	json_t *keep = json_object_get(o, "keep");
	json_t *det = json_object_get(o, "detect");
	if (det != NULL) {
		if (!allow_detect || !json_is_boolean(det)) {
			*err = mask_errf("%s: \"detect\" must be true or false", what);
			return -1;
		}
		a->detect = json_is_true(det);
	}
	if (st == NULL) {
		if (!a->detect) {
			*err = mask_errf("%s: \"style\" is required (or \"detect\": true)", what);
			return -1;
		}
	} else if (!json_is_string(st) ||
	    mask_style_parse(json_string_value(st), &a->style) != 0) {
		*err = mask_errf("%s: \"style\" must be redact, partial, email-domain, token "
		    "or null", what);
		return -1;
	}
	if (keep != NULL) {
		if (!json_is_integer(keep) || json_integer_value(keep) < 0 ||
		    json_integer_value(keep) > MASK_KEEP_MAX) {
			*err = mask_errf("%s: \"keep\" must be an integer from 0 to %d", what,
			    MASK_KEEP_MAX);
			return -1;
		}
		if (a->style != MASK_PARTIAL) {
			*err = mask_errf("%s: \"keep\" belongs to style partial", what);
			return -1;
		}
		a->keep = (int)json_integer_value(keep);
	}
	if (a->style != MASK_NONE)
		a->detect = 0;	/* a fixed style wins over detection */
	return 0;
}

static int
parse_columns(struct mask_engine *e, json_t *arr, char **err)
{
	static const char *const keys[] = { "table", "column", "style", "keep",
		"detect", NULL };
	if (!json_is_array(arr)) {
		*err = mask_errf("\"columns\" must be an array");
		return -1;
	}
	size_t n = json_array_size(arr);
	e->cols = calloc(n ? n : 1, sizeof *e->cols);
	if (e->cols == NULL) {
		*err = mask_errf("out of memory");
		return -1;
	}
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o) {
		char what[64];
		snprintf(what, sizeof what, "columns[%zu]", i);
		if (!json_is_object(o)) {
			*err = mask_errf("%s: must be an object", what);
			return -1;
		}
		if (only_keys(o, keys, what, err) != 0)
			return -1;
		const char *t = json_string_value(json_object_get(o, "table"));
		const char *c = json_string_value(json_object_get(o, "column"));
		if (t == NULL || *t == '\0' || c == NULL || *c == '\0') {
			*err = mask_errf("%s: \"table\" and \"column\" must be non-empty strings",
			    what);
			return -1;
		}
		struct mask_col_rule *r = &e->cols[e->ncols++];
		if ((r->table = strdup(t)) == NULL || (r->column = strdup(c)) == NULL) {
			*err = mask_errf("out of memory");
			return -1;
		}
		if (action_parse(o, &r->action, what, 1, err) != 0)
			return -1;
	}
	return 0;
}

static int
parse_patterns(struct mask_engine *e, json_t *arr, char **err)
{
	static const char *const keys[] = { "column", "style", "keep", "detect", NULL };
	if (!json_is_array(arr)) {
		*err = mask_errf("\"patterns\" must be an array");
		return -1;
	}
	size_t n = json_array_size(arr);
	e->pats = calloc(n ? n : 1, sizeof *e->pats);
	if (e->pats == NULL) {
		*err = mask_errf("out of memory");
		return -1;
	}
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o) {
		char what[64];
		snprintf(what, sizeof what, "patterns[%zu]", i);
		if (!json_is_object(o)) {
			*err = mask_errf("%s: must be an object", what);
			return -1;
		}
		if (only_keys(o, keys, what, err) != 0)
			return -1;
		const char *c = json_string_value(json_object_get(o, "column"));
		if (c == NULL || *c == '\0') {
			*err = mask_errf("%s: \"column\" must be a non-empty pattern", what);
			return -1;
		}
		struct mask_pat_rule *r = &e->pats[e->npats++];
		if ((r->pattern = strdup(c)) == NULL) {
			*err = mask_errf("out of memory");
			return -1;
		}
		if (action_parse(o, &r->action, what, 1, err) != 0)
			return -1;
	}
	return 0;
}

static int
parse_regexes(struct mask_engine *e, json_t *arr, char **err)
{
	static const char *const keys[] = { "name", "pattern", NULL };
	if (!json_is_array(arr)) {
		*err = mask_errf("\"regexes\" must be an array");
		return -1;
	}
	size_t n = json_array_size(arr);
	e->regexes = calloc(n ? n : 1, sizeof *e->regexes);
	if (e->regexes == NULL) {
		*err = mask_errf("out of memory");
		return -1;
	}
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o) {
		char what[64];
		snprintf(what, sizeof what, "regexes[%zu]", i);
		if (!json_is_object(o)) {
			*err = mask_errf("%s: must be an object", what);
			return -1;
		}
		if (only_keys(o, keys, what, err) != 0)
			return -1;
		const char *name = json_string_value(json_object_get(o, "name"));
		json_t *jp = json_object_get(o, "pattern");
		const char *pat = json_string_value(jp);
		if (name == NULL || *name == '\0' || pat == NULL || *pat == '\0') {
			*err = mask_errf("%s: \"name\" and \"pattern\" must be non-empty strings",
			    what);
			return -1;
		}
		for (size_t k = 0; k < e->nregexes; k++)
			if (strcmp(e->regexes[k].name, name) == 0) {
				*err = mask_errf("%s: duplicate regex name \"%s\"", what, name);
				return -1;
			}
		struct mask_regex *r = &e->regexes[e->nregexes++];
		if ((r->name = strdup(name)) == NULL) {
			*err = mask_errf("out of memory");
			return -1;
		}
		int ec;
		PCRE2_SIZE eo;
		r->code = pcre2_compile((PCRE2_SPTR)pat, json_string_length(jp), 0, &ec,
		    &eo, NULL);
		if (r->code == NULL) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(ec, msg, sizeof msg);
			*err = mask_errf("%s (%s): at offset %zu: %s", what, name, (size_t)eo,
			    (const char *)msg);
			return -1;
		}
		/* JIT is an optimisation: without it (not supported here) the
		 * interpreter gives the same matches. */
		(void)pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE);
	}
	return 0;
}

static int
parse_detect(struct mask_engine *e, json_t *d, char **err)
{
	static const char *const keys[] = { "on", "detectors", "style", "keep", NULL };
	if (!json_is_object(d)) {
		*err = mask_errf("\"detect\" must be an object");
		return -1;
	}
	if (only_keys(d, keys, "detect", err) != 0)
		return -1;
	e->detect_given = 1;
	const char *on = json_string_value(json_object_get(d, "on"));
	if (on == NULL && json_object_get(d, "on") != NULL) {
		*err = mask_errf("detect: \"on\" must be a string");
		return -1;
	}
	if (on == NULL || strcmp(on, "columns") == 0)
		e->detect_on = DETECT_COLUMNS;
	else if (strcmp(on, "all-text") == 0)
		e->detect_on = DETECT_ALL;
	else if (strcmp(on, "off") == 0)
		e->detect_on = DETECT_OFF;
	else {
		*err = mask_errf("detect: \"on\" must be columns, all-text or off");
		return -1;
	}
	json_t *st = json_object_get(d, "style");
	if (st == NULL) {
		e->detect_style.style = MASK_REDACT;
		e->detect_style.keep = MASK_KEEP_DEFAULT;
		if (json_object_get(d, "keep") != NULL) {
			*err = mask_errf("detect: \"keep\" belongs to style partial");
			return -1;
		}
	} else if (action_parse(d, &e->detect_style, "detect", 0, err) != 0) {
		return -1;
	}
	json_t *list = json_object_get(d, "detectors");
	if (list == NULL) {
		e->detectors = DET_CARD | DET_EMAIL | DET_IBAN | DET_SSN;
		for (size_t k = 0; k < e->nregexes; k++)
			e->regexes[k].used = 1;
		return 0;
	}
	if (!json_is_array(list)) {
		*err = mask_errf("detect: \"detectors\" must be an array");
		return -1;
	}
	e->detectors = 0;
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		const char *s = json_string_value(v);
		if (s == NULL) {
			*err = mask_errf("detect: detectors[%zu] must be a string", i);
			return -1;
		}
		if (strcmp(s, "card") == 0)
			e->detectors |= DET_CARD;
		else if (strcmp(s, "email") == 0)
			e->detectors |= DET_EMAIL;
		else if (strcmp(s, "iban") == 0)
			e->detectors |= DET_IBAN;
		else if (strcmp(s, "ssn") == 0)
			e->detectors |= DET_SSN;
		else if (strncmp(s, "regex:", 6) == 0) {
			size_t k;
			for (k = 0; k < e->nregexes; k++)
				if (strcmp(e->regexes[k].name, s + 6) == 0)
					break;
			if (k == e->nregexes) {
				*err = mask_errf("detect: no regex named \"%s\"", s + 6);
				return -1;
			}
			e->regexes[k].used = 1;
		} else {
			*err = mask_errf("detect: unknown detector \"%s\" (card, email, iban, "
			    "ssn, regex:NAME)", s);
			return -1;
		}
	}
	return 0;
}

static int
uses_token(const struct mask_engine *e)
{
	for (size_t i = 0; i < e->ncols; i++)
		if (e->cols[i].action.style == MASK_TOKEN)
			return 1;
	for (size_t i = 0; i < e->npats; i++)
		if (e->pats[i].action.style == MASK_TOKEN)
			return 1;
	return e->detect_on != DETECT_OFF && e->detect_style.style == MASK_TOKEN;
}

struct mask_result
mask_engine_new(json_t *rules, const uint8_t *key, size_t keylen)
{
	static const char *const keys[] = { "columns", "patterns", "detect",
		"regexes", "predicates", "mode", NULL };
	struct mask_result r = { NULL, NULL };
	char *err = NULL;
	struct mask_engine *e = calloc(1, sizeof *e);
	if (e == NULL || (e->scratch = calloc(1, sizeof *e->scratch)) == NULL) {
		free(e);
		r.error = mask_errf("out of memory");
		return r;
	}
	e->detect_on = DETECT_OFF;
	e->detect_style.style = MASK_REDACT;
	e->detect_style.keep = MASK_KEEP_DEFAULT;
	e->detectors = DET_CARD | DET_EMAIL | DET_IBAN | DET_SSN;
	if (rules == NULL || !json_is_object(rules)) {
		err = mask_errf("mask rules must be a JSON object");
		goto fail;
	}
	if (only_keys(rules, keys, "mask rules", &err) != 0)
		goto fail;
	json_t *v;
	if ((v = json_object_get(rules, "columns")) != NULL &&
	    parse_columns(e, v, &err) != 0)
		goto fail;
	if ((v = json_object_get(rules, "patterns")) != NULL &&
	    parse_patterns(e, v, &err) != 0)
		goto fail;
	if ((v = json_object_get(rules, "regexes")) != NULL &&
	    parse_regexes(e, v, &err) != 0)
		goto fail;
	if ((v = json_object_get(rules, "detect")) != NULL) {
		if (parse_detect(e, v, &err) != 0)
			goto fail;
	} else {
		for (size_t k = 0; k < e->nregexes; k++)
			e->regexes[k].used = 1;
	}
	/* "mode" is for the relay (which role logs in upstream); the engine
	 * masks the same either way. */
	if ((v = json_object_get(rules, "mode")) != NULL && (!json_is_string(v) ||
	    (strcmp(json_string_value(v), "database") != 0 &&
	    strcmp(json_string_value(v), "gateway") != 0))) {
		err = mask_errf("\"mode\" must be database or gateway");
		goto fail;
	}
	if ((v = json_object_get(rules, "predicates")) != NULL) {
		const char *p = json_string_value(v);
		if (p != NULL && strcmp(p, "allow") == 0)
			e->predicates = MASK_PRED_ALLOW;
		else if (p != NULL && strcmp(p, "deny") == 0)
			e->predicates = MASK_PRED_DENY;
		else if (p != NULL && strcmp(p, "review") == 0)
			e->predicates = MASK_PRED_REVIEW;
		else {
			err = mask_errf("\"predicates\" must be allow, deny or review");
			goto fail;
		}
	}
	if (key != NULL && keylen > 0) {
		if ((e->hmac = hmac_new(key, keylen)) == NULL) {
			err = mask_errf("out of memory");
			goto fail;
		}
	} else if (uses_token(e)) {
		err = mask_errf("style token needs the tokenization key");
		goto fail;
	}
	if ((e->scratch->md = pcre2_match_data_create(1, NULL)) == NULL) {
		err = mask_errf("out of memory");
		goto fail;
	}
	r.engine = e;
	return r;
fail:
	mask_engine_free(e);
	r.error = err != NULL ? err : mask_errf("out of memory");
	return r;
}

void
mask_engine_free(struct mask_engine *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->ncols; i++) {
		free(e->cols[i].table);
		free(e->cols[i].column);
	}
	free(e->cols);
	for (size_t i = 0; i < e->npats; i++)
		free(e->pats[i].pattern);
	free(e->pats);
	for (size_t i = 0; i < e->nregexes; i++) {
		free(e->regexes[i].name);
		pcre2_code_free(e->regexes[i].code);
	}
	free(e->regexes);
	hmac_free(e->hmac);
	if (e->scratch != NULL) {
		free(e->scratch->spans);
		pcre2_match_data_free(e->scratch->md);
		free(e->scratch);
	}
	free(e);
}

/* A rule's table without a schema matches that table in any schema. */
static int
table_match(const char *rule, const char *table)
{
	if (strcmp(rule, table) == 0)
		return 1;
	const char *dot = strrchr(table, '.');
	return strchr(rule, '.') == NULL && dot != NULL && strcmp(rule, dot + 1) == 0;
}

struct mask_action
mask_column_action(const struct mask_engine *e, const char *table,
    const char *column, const char *label, int is_text)
{
	struct mask_action none = { MASK_NONE, 0, 0 };
	for (size_t i = 0; i < e->ncols; i++) {
		const struct mask_col_rule *r = &e->cols[i];
		if (table != NULL && column != NULL) {
			if (strcmp(r->column, column) == 0 && table_match(r->table, table))
				return r->action;
		} else if ((column != NULL && strcmp(r->column, column) == 0) ||
		    (label != NULL && strcmp(r->column, label) == 0)) {
			return r->action;
		}
	}
	for (size_t i = 0; i < e->npats; i++) {
		const struct mask_pat_rule *r = &e->pats[i];
		if ((column != NULL && fnmatch(r->pattern, column, FNM_CASEFOLD) == 0) ||
		    (label != NULL && fnmatch(r->pattern, label, FNM_CASEFOLD) == 0))
			return r->action;
	}
	if (e->detect_on == DETECT_ALL && is_text)
		none.detect = 1;
	return none;
}

int
mask_text_buf(const struct mask_engine *e, const char *in, size_t inlen,
    struct mask_buf *out)
{
	if (in == NULL && inlen > 0)
		return -1;
	int n = detect_spans(e, in, inlen);
	if (n <= 0)
		return n;
	const struct mask_span *sp = e->scratch->spans;
	enum mask_style st = e->detect_style.style;
	out->len = 0;
	size_t pos = 0;
	for (int k = 0; k < n; k++) {
		if (buf_append(out, in + pos, sp[k].start - pos) != 0)
			return -1;
		enum mask_style s = st;
		if (s == MASK_NULL || (s == MASK_EMAIL_DOMAIN && sp[k].kind != DET_EMAIL))
			s = MASK_REDACT;
		if (style_apply(e, s, e->detect_style.keep, in + sp[k].start,
		    sp[k].end - sp[k].start, out) != 0)
			return -1;
		pos = sp[k].end;
	}
	if (buf_append(out, in + pos, inlen - pos) != 0)
		return -1;
	e->scratch->masked += (uint64_t)n;
	return 1;
}

int
mask_value_buf(const struct mask_engine *e, const struct mask_action *a,
    const char *in, size_t inlen, struct mask_buf *out, int *out_null)
{
	*out_null = 0;
	if (in == NULL && inlen > 0)
		return -1;
	if (a->style == MASK_NONE) {
		if (!a->detect)
			return 0;
		if (e->detect_style.style == MASK_NULL) {
			int n = detect_spans(e, in, inlen);
			if (n <= 0)
				return n;
			*out_null = 1;
			e->scratch->masked++;
			return 1;
		}
		return mask_text_buf(e, in, inlen, out);
	}
	e->scratch->masked++;
	if (a->style == MASK_NULL) {
		*out_null = 1;
		return 1;
	}
	out->len = 0;
	if (style_apply(e, a->style, a->keep, in, inlen, out) != 0)
		return -1;
	return 1;
}

static int
to_malloc(int rc, const char *in, size_t inlen, struct mask_buf *b, char **out,
    size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	if (rc < 0) {
		mask_buf_free(b);
		return -1;
	}
	if (rc == 0) {
		b->len = 0;
		if (buf_append(b, in, inlen) != 0) {
			mask_buf_free(b);
			return -1;
		}
	}
	if (buf_reserve(b, 1) != 0) {
		mask_buf_free(b);
		return -1;
	}
	b->data[b->len] = '\0';
	*out = b->data;
	*outlen = b->len;
	return rc;
}

int
mask_value(const struct mask_engine *e, const struct mask_action *a, const char *in,
    size_t inlen, char **out, size_t *outlen, int *out_null)
{
	struct mask_buf b = { NULL, 0, 0 };
	int rc = mask_value_buf(e, a, in, inlen, &b, out_null);
	if (rc == 1 && *out_null)
		b.len = 0;
	return to_malloc(rc, in, inlen, &b, out, outlen);
}

int
mask_text(const struct mask_engine *e, const char *in, size_t inlen, char **out,
    size_t *outlen)
{
	struct mask_buf b = { NULL, 0, 0 };
	int rc = mask_text_buf(e, in, inlen, &b);
	return to_malloc(rc, in, inlen, &b, out, outlen);
}

uint64_t
mask_values_masked(const struct mask_engine *e)
{
	return e->scratch->masked;
}

enum mask_predicates
mask_engine_predicates(const struct mask_engine *e)
{
	return e->predicates;
}

int
mask_engine_active(const struct mask_engine *e)
{
	return e->ncols > 0 || e->npats > 0 || e->detect_on == DETECT_ALL;
}

int
mask_engine_detect_all(const struct mask_engine *e)
{
	return e->detect_on == DETECT_ALL;
}

int
mask_engine_text_detectors(const struct mask_engine *e)
{
	return !(e->detect_given && e->detect_on == DETECT_OFF);
}
