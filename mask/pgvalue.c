#include "mask/pgvalue.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/pgproto.h"
#include "mask/internal.h"

#define OID_RECORD 2249
#define OID_JSONB 3802
#define DOMAIN_HOPS 16

struct builtin {
	uint32_t oid;
	uint32_t elem;
	char delim;
	enum pgvalue_kind kind;
};

/* Sorted by oid; checked by the unit test against a real server's pg_type.
 * Other oids below 10000 (FirstGenbkiObjectId, fixed in every cluster) are
 * scalars that are not text-like. */
#define OID_FIXED_LIMIT 10000
static const struct builtin builtins[] = {
	{ 19, 0, ',', PGVALUE_TEXT },	/* name */
	{ 22, 0, ',', PGVALUE_OTHER },	/* int2vector: "1 2", not braces */
	{ 25, 0, ',', PGVALUE_TEXT },	/* text */
	{ 30, 0, ',', PGVALUE_OTHER },	/* oidvector: "1 2", not braces */
	{ 71, 0, ',', PGVALUE_RECORD },	/* pg_type */
	{ 75, 0, ',', PGVALUE_RECORD },	/* pg_attribute */
	{ 81, 0, ',', PGVALUE_RECORD },	/* pg_proc */
	{ 83, 0, ',', PGVALUE_RECORD },	/* pg_class */
	{ 114, 0, ',', PGVALUE_TEXT },	/* json */
	{ 142, 0, ',', PGVALUE_TEXT },	/* xml */
	{ 143, 142, ',', PGVALUE_ARRAY },	/* _xml */
	{ 199, 114, ',', PGVALUE_ARRAY },	/* _json */
	{ 210, 71, ',', PGVALUE_ARRAY },	/* _pg_type */
	{ 270, 75, ',', PGVALUE_ARRAY },	/* _pg_attribute */
	{ 271, 5069, ',', PGVALUE_ARRAY },	/* _xid8 */
	{ 272, 81, ',', PGVALUE_ARRAY },	/* _pg_proc */
	{ 273, 83, ',', PGVALUE_ARRAY },	/* _pg_class */
	{ 629, 628, ',', PGVALUE_ARRAY },	/* _line */
	{ 651, 650, ',', PGVALUE_ARRAY },	/* _cidr */
	{ 705, 0, ',', PGVALUE_TEXT },	/* unknown */
	{ 719, 718, ',', PGVALUE_ARRAY },	/* _circle */
	{ 775, 774, ',', PGVALUE_ARRAY },	/* _macaddr8 */
	{ 791, 790, ',', PGVALUE_ARRAY },	/* _money */
	{ 1000, 16, ',', PGVALUE_ARRAY },	/* _bool */
	{ 1001, 17, ',', PGVALUE_ARRAY },	/* _bytea */
	{ 1002, 18, ',', PGVALUE_ARRAY },	/* _char */
	{ 1003, 19, ',', PGVALUE_ARRAY },	/* _name */
	{ 1005, 21, ',', PGVALUE_ARRAY },	/* _int2 */
	{ 1006, 22, ',', PGVALUE_ARRAY },	/* _int2vector */
	{ 1007, 23, ',', PGVALUE_ARRAY },	/* _int4 */
	{ 1008, 24, ',', PGVALUE_ARRAY },	/* _regproc */
	{ 1009, 25, ',', PGVALUE_ARRAY },	/* _text */
	{ 1010, 27, ',', PGVALUE_ARRAY },	/* _tid */
	{ 1011, 28, ',', PGVALUE_ARRAY },	/* _xid */
	{ 1012, 29, ',', PGVALUE_ARRAY },	/* _cid */
	{ 1013, 30, ',', PGVALUE_ARRAY },	/* _oidvector */
	{ 1014, 1042, ',', PGVALUE_ARRAY },	/* _bpchar */
	{ 1015, 1043, ',', PGVALUE_ARRAY },	/* _varchar */
	{ 1016, 20, ',', PGVALUE_ARRAY },	/* _int8 */
	{ 1017, 600, ',', PGVALUE_ARRAY },	/* _point */
	{ 1018, 601, ',', PGVALUE_ARRAY },	/* _lseg */
	{ 1019, 602, ',', PGVALUE_ARRAY },	/* _path */
	{ 1020, 603, ';', PGVALUE_ARRAY },	/* _box */
	{ 1021, 700, ',', PGVALUE_ARRAY },	/* _float4 */
	{ 1022, 701, ',', PGVALUE_ARRAY },	/* _float8 */
	{ 1027, 604, ',', PGVALUE_ARRAY },	/* _polygon */
	{ 1028, 26, ',', PGVALUE_ARRAY },	/* _oid */
	{ 1034, 1033, ',', PGVALUE_ARRAY },	/* _aclitem */
	{ 1040, 829, ',', PGVALUE_ARRAY },	/* _macaddr */
	{ 1041, 869, ',', PGVALUE_ARRAY },	/* _inet */
	{ 1042, 0, ',', PGVALUE_TEXT },	/* bpchar */
	{ 1043, 0, ',', PGVALUE_TEXT },	/* varchar */
	{ 1115, 1114, ',', PGVALUE_ARRAY },	/* _timestamp */
	{ 1182, 1082, ',', PGVALUE_ARRAY },	/* _date */
	{ 1183, 1083, ',', PGVALUE_ARRAY },	/* _time */
	{ 1185, 1184, ',', PGVALUE_ARRAY },	/* _timestamptz */
	{ 1187, 1186, ',', PGVALUE_ARRAY },	/* _interval */
	{ 1231, 1700, ',', PGVALUE_ARRAY },	/* _numeric */
	{ 1248, 0, ',', PGVALUE_RECORD },	/* pg_database */
	{ 1263, 2275, ',', PGVALUE_ARRAY },	/* _cstring */
	{ 1270, 1266, ',', PGVALUE_ARRAY },	/* _timetz */
	{ 1561, 1560, ',', PGVALUE_ARRAY },	/* _bit */
	{ 1563, 1562, ',', PGVALUE_ARRAY },	/* _varbit */
	{ 2201, 1790, ',', PGVALUE_ARRAY },	/* _refcursor */
	{ 2207, 2202, ',', PGVALUE_ARRAY },	/* _regprocedure */
	{ 2208, 2203, ',', PGVALUE_ARRAY },	/* _regoper */
	{ 2209, 2204, ',', PGVALUE_ARRAY },	/* _regoperator */
	{ 2210, 2205, ',', PGVALUE_ARRAY },	/* _regclass */
	{ 2211, 2206, ',', PGVALUE_ARRAY },	/* _regtype */
	{ 2249, 0, ',', PGVALUE_RECORD },	/* record */
	{ 2277, 0, ',', PGVALUE_ARRAY },	/* anyarray */
	{ 2287, 2249, ',', PGVALUE_ARRAY },	/* _record */
	{ 2842, 0, ',', PGVALUE_RECORD },	/* pg_authid */
	{ 2843, 0, ',', PGVALUE_RECORD },	/* pg_auth_members */
	{ 2949, 2970, ',', PGVALUE_ARRAY },	/* _txid_snapshot */
	{ 2951, 2950, ',', PGVALUE_ARRAY },	/* _uuid */
	{ 3221, 3220, ',', PGVALUE_ARRAY },	/* _pg_lsn */
	{ 3643, 3614, ',', PGVALUE_ARRAY },	/* _tsvector */
	{ 3644, 3642, ',', PGVALUE_ARRAY },	/* _gtsvector */
	{ 3645, 3615, ',', PGVALUE_ARRAY },	/* _tsquery */
	{ 3735, 3734, ',', PGVALUE_ARRAY },	/* _regconfig */
	{ 3770, 3769, ',', PGVALUE_ARRAY },	/* _regdictionary */
	{ 3802, 0, ',', PGVALUE_TEXT },	/* jsonb */
	{ 3807, 3802, ',', PGVALUE_ARRAY },	/* _jsonb */
	{ 3905, 3904, ',', PGVALUE_ARRAY },	/* _int4range */
	{ 3907, 3906, ',', PGVALUE_ARRAY },	/* _numrange */
	{ 3909, 3908, ',', PGVALUE_ARRAY },	/* _tsrange */
	{ 3911, 3910, ',', PGVALUE_ARRAY },	/* _tstzrange */
	{ 3913, 3912, ',', PGVALUE_ARRAY },	/* _daterange */
	{ 3927, 3926, ',', PGVALUE_ARRAY },	/* _int8range */
	{ 4066, 0, ',', PGVALUE_RECORD },	/* pg_shseclabel */
	{ 4073, 4072, ',', PGVALUE_ARRAY },	/* _jsonpath */
	{ 4090, 4089, ',', PGVALUE_ARRAY },	/* _regnamespace */
	{ 4097, 4096, ',', PGVALUE_ARRAY },	/* _regrole */
	{ 4192, 4191, ',', PGVALUE_ARRAY },	/* _regcollation */
	{ 5039, 5038, ',', PGVALUE_ARRAY },	/* _pg_snapshot */
	{ 5078, 0, ',', PGVALUE_ARRAY },	/* anycompatiblearray */
	{ 6101, 0, ',', PGVALUE_RECORD },	/* pg_subscription */
	{ 6150, 4451, ',', PGVALUE_ARRAY },	/* _int4multirange */
	{ 6151, 4532, ',', PGVALUE_ARRAY },	/* _nummultirange */
	{ 6152, 4533, ',', PGVALUE_ARRAY },	/* _tsmultirange */
	{ 6153, 4534, ',', PGVALUE_ARRAY },	/* _tstzmultirange */
	{ 6155, 4535, ',', PGVALUE_ARRAY },	/* _datemultirange */
	{ 6157, 4536, ',', PGVALUE_ARRAY },	/* _int8multirange */
};

/* Per array/record level: what the masking walk knows of the value. */
struct walk {
	const struct pgvalue_masker *m;
	int binary;
	uint32_t elem;		/* array: element type, 0 unknown */
	uint32_t composite;	/* inherited by array elements; a record's own */
	int field;
	const struct pgvalue_type *rec;	/* record: its columns, if known */
	int count;
};

static int enter(struct pgvalue *pv);
static bool is_space(char c);
static const char *skip_space(const char *p, const char *e);
static int put(struct mask_buf *b, const char *s, size_t n);
static void put1(struct mask_buf *b, char c);
static int put_u32(struct mask_buf *b, uint32_t v);
static int parse_bound(const char **pp, const char *e, int64_t *v);
static int array_put(struct pgvalue *pv, struct mask_buf *out, const char *s, size_t n,
    int isnull, char delim);
static int record_put(struct pgvalue *pv, struct mask_buf *out, const char *s, size_t n);
static const char *array_elem(struct pgvalue *pv, const char *p, const char *e, char delim,
    struct mask_buf *b, int *isnull);
static int call(struct pgvalue *pv, pgvalue_elem_fn fn, void *arg, struct pgvalue_elem *el,
    struct mask_buf *rb, const char **d, size_t *n, int *isnull, int *changed);
static int text_array(struct pgvalue *pv, const char *in, size_t len, char delim,
    pgvalue_elem_fn fn, void *arg, struct mask_buf *out);
static int text_record(struct pgvalue *pv, const char *in, size_t len,
    pgvalue_elem_fn fn, void *arg, struct mask_buf *out);
static int bin_array(struct pgvalue *pv, const uint8_t *in, size_t len,
    pgvalue_elem_fn fn, void *arg, struct mask_buf *out);
static int bin_record(struct pgvalue *pv, const uint8_t *in, size_t len,
    pgvalue_elem_fn fn, void *arg, struct mask_buf *out);
static int resolve(struct pgvalue *pv, const struct pgvalue_masker *m, uint32_t oid,
    struct pgvalue_type *t, uint32_t *base);
static int mask_one(struct pgvalue *pv, const struct pgvalue_masker *m, uint32_t oid,
    uint32_t composite, int field, int binary, const char *in, size_t len,
    struct mask_buf *out, int *out_null);
static int walk_elem(struct pgvalue *pv, void *arg, const struct pgvalue_elem *el,
    struct mask_buf *out, int *out_null);
static int walk_field(struct pgvalue *pv, void *arg, const struct pgvalue_elem *el,
    struct mask_buf *out, int *out_null);

void
pgvalue_free(struct pgvalue *pv)
{
	for (int i = 0; i < PGVALUE_MAX_DEPTH; i++) {
		mask_buf_free(&pv->elem[i]);
		mask_buf_free(&pv->repl[i]);
	}
	pv->depth = 0;
}

int
pgvalue_fail(struct pgvalue *pv, const char *fmt, ...)
{
	if (pv->error[0] != '\0')
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pv->error, sizeof pv->error, fmt, ap);
	va_end(ap);
	return -1;
}

static int
enter(struct pgvalue *pv)
{
	if (pv->depth == 0)
		pv->error[0] = '\0';
	if (pv->depth >= PGVALUE_MAX_DEPTH)
		return pgvalue_fail(pv, "value nested deeper than %d levels", PGVALUE_MAX_DEPTH);
	pv->depth++;
	return 0;
}

/* array_in and array_out use this set whatever the locale (array_isspace). */
static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static const char *
skip_space(const char *p, const char *e)
{
	while (p < e && is_space(*p))
		p++;
	return p;
}

static int
put(struct mask_buf *b, const char *s, size_t n)
{
	return b == NULL ? 0 : buf_append(b, s, n);
}

/* Into element scratch reserved for the whole literal (an element is never
 * longer than the literal holding it). */
static void
put1(struct mask_buf *b, char c)
{
	if (b != NULL)
		b->data[b->len++] = c;
}

static int
put_u32(struct mask_buf *b, uint32_t v)
{
	char x[4] = { (char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v };
	return put(b, x, 4);
}

static int
parse_bound(const char **pp, const char *e, int64_t *v)
{
	const char *p = *pp;
	int neg = 0;
	if (p < e && (*p == '-' || *p == '+'))
		neg = *p++ == '-';
	if (p >= e || *p < '0' || *p > '9')
		return -1;
	int64_t x = 0;
	while (p < e && *p >= '0' && *p <= '9') {
		x = x * 10 + (*p++ - '0');
		if (x > (int64_t)INT32_MAX + 1)
			return -1;
	}
	x = neg ? -x : x;
	if (x > INT32_MAX || x < INT32_MIN)
		return -1;
	*v = x;
	*pp = p;
	return 0;
}

/* array_out's rule: quotes for the empty string, anything spelled NULL,
 * and text with a delimiter, brace, quote, backslash or space. */
static int
array_put(struct pgvalue *pv, struct mask_buf *out, const char *s, size_t n, int isnull,
    char delim)
{
	if (out == NULL)
		return 0;
	if (isnull)
		return buf_append(out, "NULL", 4);
	bool quote = n == 0 || (n == 4 && strncasecmp(s, "NULL", 4) == 0);
	size_t esc = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\0')
			return pgvalue_fail(pv, "an array element holds a NUL byte");
		if (c == '"' || c == '\\') {
			quote = true;
			esc++;
		} else if (c == '{' || c == '}' || c == delim || is_space(c)) {
			quote = true;
		}
	}
	if (!quote)
		return buf_append(out, s, n);
	if (buf_reserve(out, n + esc + 2) != 0)
		return -1;
	char *d = out->data + out->len;
	*d++ = '"';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			*d++ = '\\';
		*d++ = s[i];
	}
	*d++ = '"';
	out->len = (size_t)(d - out->data);
	return 0;
}

/* record_out's rule: quotes for the empty string and text with a comma,
 * parenthesis, quote, backslash or space; quotes and backslashes doubled. */
static int
record_put(struct pgvalue *pv, struct mask_buf *out, const char *s, size_t n)
{
	if (out == NULL)
		return 0;
	bool quote = n == 0;
	size_t esc = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\0')
			return pgvalue_fail(pv, "a record field holds a NUL byte");
		if (c == '"' || c == '\\') {
			quote = true;
			esc++;
		} else if (c == '(' || c == ')' || c == ',' || is_space(c)) {
			quote = true;
		}
	}
	if (!quote)
		return buf_append(out, s, n);
	if (buf_reserve(out, n + esc + 2) != 0)
		return -1;
	char *d = out->data + out->len;
	*d++ = '"';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			*d++ = s[i];
		*d++ = s[i];
	}
	*d++ = '"';
	out->len = (size_t)(d - out->data);
	return 0;
}

/* One element at p (not a brace, not the delimiter): de-quoted into b.
 * Returns the position after it, NULL on error. */
static const char *
array_elem(struct pgvalue *pv, const char *p, const char *e, char delim, struct mask_buf *b,
    int *isnull)
{
	if (b != NULL)
		b->len = 0;
	*isnull = 0;
	if (*p == '"') {
		for (p++; p < e && *p != '"'; p++) {
			if (*p == '\\' && ++p == e)
				break;
			if (*p == '\0')
				break;
			put1(b, *p);
		}
		if (p >= e || *p != '"') {
			pgvalue_fail(pv, "malformed array literal: unterminated quoted element");
			return NULL;
		}
		return p + 1;
	}
	bool escaped = false;
	size_t keep = 0, n = 0;	/* n: length so far; keep: without trailing space */
	for (; p < e && *p != delim && *p != '}'; p++) {
		char c = *p;
		if (c == '{' || c == '"' || c == '\0') {
			pgvalue_fail(pv, "malformed array literal: unexpected %s in an element",
			    c == '{' ? "'{'" : c == '"' ? "quote" : "NUL byte");
			return NULL;
		}
		if (c == '\\') {
			if (++p == e || *p == '\0') {
				pgvalue_fail(pv, "malformed array literal: backslash at the end");
				return NULL;
			}
			escaped = true;
			put1(b, *p);
			keep = ++n;
			continue;
		}
		put1(b, c);
		n++;
		if (!is_space(c))
			keep = n;
	}
	if (b != NULL)
		b->len = keep;
	if (!escaped && b != NULL && keep == 4 && strncasecmp(b->data, "NULL", 4) == 0)
		*isnull = 1;
	return p;
}

/* Runs the callback and points d/n/isnull at what is to be written. */
static int
call(struct pgvalue *pv, pgvalue_elem_fn fn, void *arg, struct pgvalue_elem *el,
    struct mask_buf *rb, const char **d, size_t *n, int *isnull, int *changed)
{
	*d = el->data;
	*n = el->len;
	*isnull = el->isnull;
	if (fn == NULL)
		return 0;
	int onull = 0;
	rb->len = 0;
	int rc = fn(pv, arg, el, rb, &onull);
	if (rc < 0)
		return pgvalue_fail(pv, "element %d: the masking callback failed", el->index);
	if (rc == 0)
		return 0;
	*changed = 1;
	*isnull = onull;
	*d = onull ? NULL : rb->data;
	*n = onull ? 0 : rb->len;
	return 0;
}

int
pgvalue_text_array(struct pgvalue *pv, const char *in, size_t len, char delim,
    pgvalue_elem_fn fn, void *arg, struct mask_buf *out)
{
	if (enter(pv) != 0)
		return -1;
	int rc = text_array(pv, in, len, delim, fn, arg, fn ? out : NULL);
	pv->depth--;
	return rc;
}

enum { T_OPEN, T_DELIM, T_ELEM, T_CLOSE };
enum { L_ANY, L_SUBS, L_LEAVES };

static int
text_array(struct pgvalue *pv, const char *in, size_t len, char delim, pgvalue_elem_fn fn,
    void *arg, struct mask_buf *out)
{
	struct mask_buf *eb = fn ? &pv->elem[pv->depth - 1] : NULL;
	struct mask_buf *rb = &pv->repl[pv->depth - 1];
	const char *p = in, *e = in + len;
	int64_t lb[PGVALUE_MAX_DIMS], ub[PGVALUE_MAX_DIMS];
	int ndecl = 0;

	if (delim == '\0' || delim == '"' || delim == '\\' || delim == '{' || delim == '}' ||
	    is_space(delim))
		return pgvalue_fail(pv, "bad array delimiter");
	if (in == NULL && len > 0)
		return pgvalue_fail(pv, "no array literal");
	if (out != NULL)
		out->len = 0;
	if (eb != NULL && (eb->len = 0, buf_reserve(eb, len + 1) != 0))
		return -1;
	p = skip_space(p, e);
	while (p < e && *p == '[') {
		if (ndecl == PGVALUE_MAX_DIMS)
			return pgvalue_fail(pv, "array with more than %d dimensions",
			    PGVALUE_MAX_DIMS);
		p++;
		int64_t a, lo = 1, hi;
		if (parse_bound(&p, e, &a) != 0)
			return pgvalue_fail(pv, "malformed array dimensions");
		hi = a;
		if (p < e && *p == ':') {
			p++;
			lo = a;
			if (parse_bound(&p, e, &hi) != 0)
				return pgvalue_fail(pv, "malformed array dimensions");
		}
		if (p >= e || *p != ']')
			return pgvalue_fail(pv, "malformed array dimensions: missing ']'");
		p++;
		if (hi < lo)
			return pgvalue_fail(pv, "array upper bound below its lower bound");
		lb[ndecl] = lo;
		ub[ndecl] = hi;
		ndecl++;
		p = skip_space(p, e);
	}
	if (ndecl > 0) {
		if (p >= e || *p != '=')
			return pgvalue_fail(pv, "malformed array literal: '=' missing after the dimensions");
		p = skip_space(p + 1, e);
		bool decorate = false;
		for (int i = 0; i < ndecl; i++)
			decorate |= lb[i] != 1;
		for (int i = 0; decorate && out != NULL && i < ndecl; i++) {
			char d[32];
			int n = snprintf(d, sizeof d, "[%lld:%lld]", (long long)lb[i],
			    (long long)ub[i]);
			if (put(out, d, (size_t)n) != 0)
				return -1;
		}
		if (decorate && put(out, "=", 1) != 0)
			return -1;
	}
	if (p >= e || *p != '{')
		return pgvalue_fail(pv, "malformed array literal: it must start with '{'");
	p++;
	if (put(out, "{", 1) != 0)
		return -1;
	const char *q = skip_space(p, e);
	if (q < e && *q == '}') {
		if (ndecl > 0)
			return pgvalue_fail(pv, "array dimensions given for an empty array");
		if (skip_space(q + 1, e) != e)
			return pgvalue_fail(pv, "junk after the array literal");
		return put(out, "}", 1);
	}

	int64_t count[PGVALUE_MAX_DIMS], dims[PGVALUE_MAX_DIMS];
	int lkind[PGVALUE_MAX_DIMS];
	int level = 1, ndim = 0, prev = T_OPEN, index = 0, changed = 0;
	for (int i = 0; i < PGVALUE_MAX_DIMS; i++)
		dims[i] = -1;
	count[0] = 0;
	lkind[0] = L_ANY;
	while (level > 0) {
		p = skip_space(p, e);
		if (p >= e)
			return pgvalue_fail(pv, "malformed array literal: unexpected end");
		char c = *p;
		if (c == '{') {
			if ((prev != T_OPEN && prev != T_DELIM) || lkind[level - 1] == L_LEAVES)
				return pgvalue_fail(pv, "malformed array literal: unexpected '{'");
			if (level == PGVALUE_MAX_DIMS)
				return pgvalue_fail(pv, "array with more than %d dimensions",
				    PGVALUE_MAX_DIMS);
			if (ndim != 0 && level >= ndim)
				return pgvalue_fail(pv, "malformed array literal: sub-arrays of different depths");
			lkind[level - 1] = L_SUBS;
			count[level] = 0;
			lkind[level] = L_ANY;
			level++;
			prev = T_OPEN;
			p++;
			if (put(out, "{", 1) != 0)
				return -1;
		} else if (c == '}') {
			if (prev != T_ELEM && prev != T_CLOSE)
				return pgvalue_fail(pv, "malformed array literal: unexpected '}'");
			if (dims[level - 1] < 0)
				dims[level - 1] = count[level - 1];
			else if (dims[level - 1] != count[level - 1])
				return pgvalue_fail(pv, "malformed array literal: sub-arrays of different lengths");
			level--;
			if (level > 0)
				count[level - 1]++;
			prev = T_CLOSE;
			p++;
			if (put(out, "}", 1) != 0)
				return -1;
		} else if (c == delim) {
			if (prev != T_ELEM && prev != T_CLOSE)
				return pgvalue_fail(pv, "malformed array literal: unexpected delimiter");
			prev = T_DELIM;
			p++;
			if (put(out, &delim, 1) != 0)
				return -1;
		} else {
			if ((prev != T_OPEN && prev != T_DELIM) || lkind[level - 1] == L_SUBS)
				return pgvalue_fail(pv, "malformed array literal: unexpected element");
			if (ndim == 0)
				ndim = level;
			else if (level != ndim)
				return pgvalue_fail(pv, "malformed array literal: sub-arrays of different depths");
			lkind[level - 1] = L_LEAVES;
			int isnull;
			p = array_elem(pv, p, e, delim, eb, &isnull);
			if (p == NULL)
				return -1;
			struct pgvalue_elem el = { eb ? eb->data : NULL, eb ? eb->len : 0, isnull, 0,
			    index };
			const char *d;
			size_t n;
			if (call(pv, fn, arg, &el, rb, &d, &n, &isnull, &changed) != 0 ||
			    array_put(pv, out, d, n, isnull, delim) != 0)
				return -1;
			count[level - 1]++;
			index++;
			prev = T_ELEM;
		}
	}
	if (skip_space(p, e) != e)
		return pgvalue_fail(pv, "junk after the array literal");
	if (ndecl > 0) {
		if (ndecl != ndim)
			return pgvalue_fail(pv, "array dimensions do not match the literal");
		for (int i = 0; i < ndim; i++)
			if (ub[i] - lb[i] + 1 != dims[i])
				return pgvalue_fail(pv, "array dimensions do not match the literal");
	}
	return changed;
}

int
pgvalue_text_record(struct pgvalue *pv, const char *in, size_t len, pgvalue_elem_fn fn,
    void *arg, struct mask_buf *out)
{
	if (enter(pv) != 0)
		return -1;
	int rc = text_record(pv, in, len, fn, arg, fn ? out : NULL);
	pv->depth--;
	return rc;
}

static int
text_record(struct pgvalue *pv, const char *in, size_t len, pgvalue_elem_fn fn, void *arg,
    struct mask_buf *out)
{
	struct mask_buf *eb = fn ? &pv->elem[pv->depth - 1] : NULL;
	struct mask_buf *rb = &pv->repl[pv->depth - 1];
	const char *p = in, *e = in + len;
	int index = 0, changed = 0;

	if (in == NULL && len > 0)
		return pgvalue_fail(pv, "no record literal");
	if (out != NULL)
		out->len = 0;
	if (eb != NULL && (eb->len = 0, buf_reserve(eb, len + 1) != 0))
		return -1;
	p = skip_space(p, e);
	if (p >= e || *p != '(')
		return pgvalue_fail(pv, "malformed record literal: it must start with '('");
	p++;
	if (put(out, "(", 1) != 0)
		return -1;
	for (;;) {
		if (p >= e)
			return pgvalue_fail(pv, "malformed record literal: unexpected end");
		int isnull = *p == ',' || *p == ')';
		if (eb != NULL)
			eb->len = 0;
		bool inq = false;
		while (!isnull && p < e && (inq || (*p != ',' && *p != ')'))) {
			char c = *p++;
			if (c == '\0')
				return pgvalue_fail(pv, "malformed record literal: NUL byte");
			if (c == '\\') {
				if (p >= e)
					break;
				if ((c = *p++) == '\0')
					return pgvalue_fail(pv, "malformed record literal: NUL byte");
			} else if (c == '"') {
				if (!inq) {
					inq = true;
					continue;
				}
				if (p < e && *p == '"') {
					p++;
				} else {
					inq = false;
					continue;
				}
			}
			put1(eb, c);
		}
		if (p >= e)
			return pgvalue_fail(pv, "malformed record literal: unexpected end");
		struct pgvalue_elem el = { isnull || !eb ? NULL : eb->data, isnull || !eb ? 0 : eb->len,
		    isnull, 0, index };
		const char *d;
		size_t n;
		if (call(pv, fn, arg, &el, rb, &d, &n, &isnull, &changed) != 0)
			return -1;
		if (!isnull && record_put(pv, out, d, n) != 0)
			return -1;
		index++;
		if (*p++ == ')')
			break;
		if (put(out, ",", 1) != 0)
			return -1;
	}
	if (skip_space(p, e) != e)
		return pgvalue_fail(pv, "junk after the record literal");
	if (put(out, ")", 1) != 0)
		return -1;
	return changed;
}

int
pgvalue_bin_array(struct pgvalue *pv, const uint8_t *in, size_t len, pgvalue_elem_fn fn,
    void *arg, struct mask_buf *out)
{
	if (enter(pv) != 0)
		return -1;
	int rc = bin_array(pv, in, len, fn, arg, fn ? out : NULL);
	pv->depth--;
	return rc;
}

static int
bin_array(struct pgvalue *pv, const uint8_t *in, size_t len, pgvalue_elem_fn fn, void *arg,
    struct mask_buf *out)
{
	struct mask_buf *rb = &pv->repl[pv->depth - 1];
	struct pgread r;
	if (in == NULL && len > 0)
		return pgvalue_fail(pv, "no binary array");
	pgread_init(&r, in, len);
	int32_t ndim = (int32_t)pgread_u32(&r);
	uint32_t flags = pgread_u32(&r);
	uint32_t elem = pgread_u32(&r);
	if (r.failed)
		return pgvalue_fail(pv, "binary array: truncated header");
	if (ndim < 0 || ndim > PGVALUE_MAX_DIMS)
		return pgvalue_fail(pv, "binary array: %d dimensions", (int)ndim);
	if (flags > 1)
		return pgvalue_fail(pv, "binary array: bad flags %u", (unsigned)flags);
	uint64_t nitems = ndim > 0;
	for (int i = 0; i < ndim; i++) {
		int32_t dim = (int32_t)pgread_u32(&r);
		int32_t lbound = (int32_t)pgread_u32(&r);
		if (r.failed)
			return pgvalue_fail(pv, "binary array: truncated dimensions");
		if (dim < 0 || (int64_t)lbound + dim - 1 > INT32_MAX)
			return pgvalue_fail(pv, "binary array: bad dimension");
		if (dim > 0 && nitems > (len / 4) / (uint64_t)dim)
			return pgvalue_fail(pv, "binary array: truncated (more elements than bytes)");
		nitems *= (uint64_t)dim;
	}
	if (nitems > (len - r.pos) / 4)
		return pgvalue_fail(pv, "binary array: truncated (more elements than bytes)");
	if (out != NULL) {
		out->len = 0;
		if (put(out, (const char *)in, r.pos) != 0)
			return -1;
	}
	int changed = 0, added_null = 0;
	for (uint64_t k = 0; k < nitems; k++) {
		int32_t n = (int32_t)pgread_u32(&r);
		const uint8_t *b = n > 0 ? pgread_bytes(&r, (size_t)n) : NULL;
		if (r.failed)
			return pgvalue_fail(pv, "binary array: truncated element %llu",
			    (unsigned long long)k);
		if (n < -1)
			return pgvalue_fail(pv, "binary array: bad element length %d", (int)n);
		struct pgvalue_elem el = { (const char *)b, n > 0 ? (size_t)n : 0, n == -1, elem,
		    (int)k };
		const char *d;
		size_t dn;
		int isnull;
		if (call(pv, fn, arg, &el, rb, &d, &dn, &isnull, &changed) != 0)
			return -1;
		if (dn > INT32_MAX)
			return pgvalue_fail(pv, "binary array: element too large");
		if (isnull && !el.isnull)
			added_null = 1;
		if (put_u32(out, isnull ? UINT32_MAX : (uint32_t)dn) != 0 ||
		    (!isnull && put(out, d, dn) != 0))
			return -1;
	}
	if (!pgread_end(&r))
		return pgvalue_fail(pv, "binary array: %zu bytes left over", len - r.pos);
	if (out != NULL && added_null)
		out->data[7] = 1;	/* the has-null flag, big-endian at 4..7 */
	return changed;
}

int
pgvalue_bin_record(struct pgvalue *pv, const uint8_t *in, size_t len, pgvalue_elem_fn fn,
    void *arg, struct mask_buf *out)
{
	if (enter(pv) != 0)
		return -1;
	int rc = bin_record(pv, in, len, fn, arg, fn ? out : NULL);
	pv->depth--;
	return rc;
}

static int
bin_record(struct pgvalue *pv, const uint8_t *in, size_t len, pgvalue_elem_fn fn, void *arg,
    struct mask_buf *out)
{
	struct mask_buf *rb = &pv->repl[pv->depth - 1];
	struct pgread r;
	if (in == NULL && len > 0)
		return pgvalue_fail(pv, "no binary record");
	pgread_init(&r, in, len);
	int32_t ncol = (int32_t)pgread_u32(&r);
	if (r.failed)
		return pgvalue_fail(pv, "binary record: truncated header");
	if (ncol < 0 || (uint64_t)ncol > (len - r.pos) / 8)
		return pgvalue_fail(pv, "binary record: bad column count %d", (int)ncol);
	if (out != NULL) {
		out->len = 0;
		if (put(out, (const char *)in, 4) != 0)
			return -1;
	}
	int changed = 0;
	for (int i = 0; i < ncol; i++) {
		uint32_t oid = pgread_u32(&r);
		int32_t n = (int32_t)pgread_u32(&r);
		const uint8_t *b = n > 0 ? pgread_bytes(&r, (size_t)n) : NULL;
		if (r.failed)
			return pgvalue_fail(pv, "binary record: truncated column %d", i + 1);
		if (n < -1)
			return pgvalue_fail(pv, "binary record: bad length %d", (int)n);
		struct pgvalue_elem el = { (const char *)b, n > 0 ? (size_t)n : 0, n == -1, oid, i };
		const char *d;
		size_t dn;
		int isnull;
		if (call(pv, fn, arg, &el, rb, &d, &dn, &isnull, &changed) != 0)
			return -1;
		if (dn > INT32_MAX)
			return pgvalue_fail(pv, "binary record: column too large");
		if (put_u32(out, oid) != 0 ||
		    put_u32(out, isnull ? UINT32_MAX : (uint32_t)dn) != 0 ||
		    (!isnull && put(out, d, dn) != 0))
			return -1;
	}
	if (!pgread_end(&r))
		return pgvalue_fail(pv, "binary record: %zu bytes left over", len - r.pos);
	return changed;
}

static int
builtin_cmp(const void *k, const void *b)
{
	uint32_t a = *(const uint32_t *)k, o = ((const struct builtin *)b)->oid;
	return a < o ? -1 : a > o;
}

int
pgvalue_builtin(uint32_t oid, struct pgvalue_type *t)
{
	const struct builtin *b = bsearch(&oid, builtins, sizeof builtins / sizeof builtins[0],
	    sizeof builtins[0], builtin_cmp);
	memset(t, 0, sizeof *t);
	t->delim = ',';
	t->nfields = -1;
	if (b == NULL && oid != 0 && oid < OID_FIXED_LIMIT) {
		t->kind = PGVALUE_OTHER;
		return 0;
	}
	if (b == NULL)
		return -1;
	t->kind = b->kind;
	t->elem = b->elem;
	t->delim = b->delim;
	return 0;
}

enum pgvalue_kind
pgvalue_kind(uint32_t oid)
{
	struct pgvalue_type t;
	return pgvalue_builtin(oid, &t) == 0 ? t.kind : PGVALUE_UNKNOWN;
}

/* Built-in table, then the caller's lookup; domains followed to their base. */
static int
resolve(struct pgvalue *pv, const struct pgvalue_masker *m, uint32_t oid,
    struct pgvalue_type *t, uint32_t *base)
{
	for (int hops = 0; hops <= DOMAIN_HOPS; hops++) {
		*base = oid;
		if (oid == 0) {
			pgvalue_builtin(0, t);
			return 0;
		}
		if (pgvalue_builtin(oid, t) != 0 &&
		    (m->lookup == NULL || m->lookup(m->lookup_arg, oid, t) != 0)) {
			pgvalue_builtin(0, t);
			t->kind = PGVALUE_UNKNOWN;
		}
		if (t->kind == PGVALUE_RECORD && t->nfields > 0 && t->fields == NULL)
			t->nfields = -1;
		if (t->kind == PGVALUE_ARRAY && t->delim == '\0')
			t->delim = ',';
		if (t->kind != PGVALUE_DOMAIN)
			return 0;
		oid = t->elem;
	}
	return pgvalue_fail(pv, "type %u: domains nested deeper than %d", (unsigned)oid,
	    DOMAIN_HOPS);
}

int
pgvalue_mask(struct pgvalue *pv, const struct pgvalue_masker *m, uint32_t oid, int binary,
    const char *in, size_t len, struct mask_buf *out, int *out_null)
{
	if (pv->depth == 0)
		pv->error[0] = '\0';
	*out_null = 0;
	if (in == NULL && len > 0)
		return pgvalue_fail(pv, "no value");
	return mask_one(pv, m, oid, 0, -1, binary, in, len, out, out_null);
}

static int
mask_one(struct pgvalue *pv, const struct pgvalue_masker *m, uint32_t oid, uint32_t composite,
    int field, int binary, const char *in, size_t len, struct mask_buf *out, int *out_null)
{
	struct pgvalue_type t;
	uint32_t base;
	if (resolve(pv, m, oid, &t, &base) != 0)
		return -1;
	struct walk w = { m, binary, t.elem, composite, field, NULL, 0 };
	int rc;
	switch (t.kind) {
	case PGVALUE_ARRAY:
		if (binary)
			return pgvalue_bin_array(pv, (const uint8_t *)in, len, walk_elem, &w, out);
		return pgvalue_text_array(pv, in, len, t.delim, walk_elem, &w, out);
	case PGVALUE_RECORD:
		w.composite = base == OID_RECORD ? 0 : base;
		w.rec = &t;
		if (binary)
			rc = pgvalue_bin_record(pv, (const uint8_t *)in, len, walk_field, &w, out);
		else
			rc = pgvalue_text_record(pv, in, len, walk_field, &w, out);
		/* "()": one NULL field, or none */
		if (rc >= 0 && t.nfields >= 0 && w.count != t.nfields &&
		    !(t.nfields == 0 && w.count == 1 && !binary))
			return pgvalue_fail(pv, "type %u: %d columns, expected %d", (unsigned)base,
			    w.count, t.nfields);
		return rc;
	case PGVALUE_UNKNOWN:
		if (binary || len == 0)
			break;
		/* Guessing: text that parses as a literal is walked as one. */
		if (in[0] == '{' || in[0] == '[') {
			if (pgvalue_text_array(pv, in, len, ',', NULL, NULL, NULL) == 0) {
				w.elem = 0;
				return pgvalue_text_array(pv, in, len, ',', walk_elem, &w, out);
			}
			pv->error[0] = '\0';
		} else if (in[0] == '(') {
			if (pgvalue_text_record(pv, in, len, NULL, NULL, NULL) == 0) {
				t.nfields = -1;
				w.composite = 0;
				w.rec = &t;
				return pgvalue_text_record(pv, in, len, walk_field, &w, out);
			}
			pv->error[0] = '\0';
		}
		break;
	default:
		break;
	}

	struct pgvalue_leaf leaf = { base, t.kind, composite, field, binary, in, len };
	if (t.kind != PGVALUE_TEXT && t.kind != PGVALUE_OTHER)
		leaf.kind = PGVALUE_UNKNOWN;
	int jsonb = binary && base == OID_JSONB;
	if (jsonb) {
		if (len < 1 || in[0] != 1)
			return pgvalue_fail(pv, "binary jsonb: unknown version %d",
			    len ? (int)(unsigned char)in[0] : -1);
		leaf.data++;
		leaf.len--;
	}
	out->len = 0;
	*out_null = 0;
	rc = m->leaf(m->leaf_arg, &leaf, out, out_null);
	if (rc < 0)
		return pgvalue_fail(pv, "masking a value of type %u failed", (unsigned)base);
	if (rc == 0 || *out_null)
		return rc;
	if (binary && leaf.kind != PGVALUE_TEXT)
		return pgvalue_fail(pv, "a binary value of type %u can only be kept or made NULL",
		    (unsigned)base);
	if (jsonb) {
		if (buf_reserve(out, 1) != 0)
			return -1;
		memmove(out->data + 1, out->data, out->len);
		out->data[0] = 1;
		out->len++;
	}
	return 1;
}

static int
walk_elem(struct pgvalue *pv, void *arg, const struct pgvalue_elem *el, struct mask_buf *out,
    int *out_null)
{
	struct walk *w = arg;
	if (el->isnull)
		return 0;
	uint32_t type = w->elem;
	if (w->binary) {
		if (w->elem != 0 && el->type != w->elem)
			return pgvalue_fail(pv, "binary array of element type %u, expected %u",
			    (unsigned)el->type, (unsigned)w->elem);
		type = el->type;
	}
	return mask_one(pv, w->m, type, w->composite, w->field, w->binary, el->data, el->len,
	    out, out_null);
}

static int
walk_field(struct pgvalue *pv, void *arg, const struct pgvalue_elem *el, struct mask_buf *out,
    int *out_null)
{
	struct walk *w = arg;
	const struct pgvalue_type *t = w->rec;
	w->count++;
	uint32_t type = 0;
	if (t->nfields >= 0) {
		if (el->index >= t->nfields)
			return el->isnull && !w->binary && t->nfields == 0 ? 0 :
			    pgvalue_fail(pv, "record with more than %d columns", t->nfields);
		type = t->fields[el->index];
	}
	if (w->binary) {
		if (t->nfields >= 0 && el->type != type)
			return pgvalue_fail(pv, "record column %d of type %u, expected %u",
			    el->index + 1, (unsigned)el->type, (unsigned)type);
		type = el->type;
	}
	if (el->isnull)
		return 0;
	return mask_one(pv, w->m, type, w->composite, el->index, w->binary, el->data, el->len,
	    out, out_null);
}
