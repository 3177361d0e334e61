#include "replay/recfast.h"

#include <string.h>

#include "auditrec.h"

struct span {
	const char *p;
	size_t n;
};

static const char *recfast_value(const char *p, const char *e, int depth);

/* p at '"'; returns the byte after the closing quote. Each character has
 * one accepted spelling, so raw bytes compare like the decoded strings. */
static const char *
recfast_string(const char *p, const char *e)
{
	for (p++; p < e; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			return p + 1;
		if (c == '\\') {
			if (++p >= e || strchr("\"\\bfnrt", *p) == NULL || *p == '\0')
				return NULL;
		} else if (c < 0x20 || c > 0x7e) {
			return NULL;
		}
	}
	return NULL;
}

/* Integers as jansson prints them: no "-0", no leading zero, fits in
 * int64 (at most 18 digits to stay clear of the edge); reals are left to
 * jansson, whose printed form is not simple to predict. */
static const char *
recfast_integer(const char *p, const char *e)
{
	if (p < e && *p == '-')
		p++;
	const char *d = p;
	while (p < e && *p >= '0' && *p <= '9')
		p++;
	size_t n = (size_t)(p - d);
	if (n == 0 || n > 18 || (d[0] == '0' && (n > 1 || d[-1] == '-')))
		return NULL;
	if (p < e && (*p == '.' || *p == 'e' || *p == 'E'))
		return NULL;
	return p;
}

static const char *
recfast_literal(const char *p, const char *e, const char *lit)
{
	size_t n = strlen(lit);
	return (size_t)(e - p) >= n && memcmp(p, lit, n) == 0 ? p + n : NULL;
}

/* p at '{'; keys (quotes included) into keys[], their count in *nkeys. */
static const char *
recfast_object(const char *p, const char *e, int depth, struct span *keys,
    size_t *nkeys, struct span *vals)
{
	struct span local[RECFAST_MAX_KEYS];
	if (keys == NULL)
		keys = local;
	size_t n = 0;
	p++;
	if (p < e && *p == '}') {
		*nkeys = 0;
		return p + 1;
	}
	for (;;) {
		if (p >= e || *p != '"' || n == RECFAST_MAX_KEYS)
			return NULL;
		const char *k = p;
		p = recfast_string(p, e);
		if (p == NULL || p >= e || *p != ':')
			return NULL;
		struct span key = { k, (size_t)(p - k) };
		for (size_t i = 0; i < n; i++)
			if (keys[i].n == key.n && memcmp(keys[i].p, key.p, key.n) == 0)
				return NULL;
		keys[n] = key;
		const char *v = ++p;
		p = recfast_value(p, e, depth + 1);
		if (p == NULL)
			return NULL;
		if (vals != NULL)
			vals[n] = (struct span){ v, (size_t)(p - v) };
		n++;
		if (p < e && *p == '}') {
			*nkeys = n;
			return p + 1;
		}
		if (p >= e || *p != ',')
			return NULL;
		p++;
	}
}

static const char *
recfast_value(const char *p, const char *e, int depth)
{
	if (p >= e || depth > RECFAST_MAX_DEPTH)
		return NULL;
	size_t n;
	switch (*p) {
	case '"':
		return recfast_string(p, e);
	case '{':
		return recfast_object(p, e, depth, NULL, &n, NULL);
	case '[':
		p++;
		if (p < e && *p == ']')
			return p + 1;
		for (;;) {
			p = recfast_value(p, e, depth + 1);
			if (p == NULL || p >= e)
				return NULL;
			if (*p == ']')
				return p + 1;
			if (*p != ',')
				return NULL;
			p++;
		}
	case 't':
		return recfast_literal(p, e, "true");
	case 'f':
		return recfast_literal(p, e, "false");
	case 'n':
		return recfast_literal(p, e, "null");
	default:
		return recfast_integer(p, e);
	}
}

const char *
recfast_value_end(const char *p, const char *e)
{
	return recfast_value(p, e, 1);
}

static int
recfast_key(const struct span *k, const char *name)
{
	size_t n = strlen(name);
	return k->n == n + 2 && memcmp(k->p + 1, name, n) == 0;
}

static int
recfast_digits(const char *s, int n, int min, int max)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v >= min && v <= max;
}

/* The same rule as auditrec's: "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" in quotes. */
static int
recfast_ts(const struct span *v)
{
	const char *t = v->p + 1;
	return v->n == 29 &&
	    recfast_digits(t, 4, 0, 9999) && t[4] == '-' &&
	    recfast_digits(t + 5, 2, 1, 12) && t[7] == '-' &&
	    recfast_digits(t + 8, 2, 1, 31) && t[10] == 'T' &&
	    recfast_digits(t + 11, 2, 0, 23) && t[13] == ':' &&
	    recfast_digits(t + 14, 2, 0, 59) && t[16] == ':' &&
	    recfast_digits(t + 17, 2, 0, 60) && t[19] == '.' &&
	    recfast_digits(t + 20, 6, 0, 999999) && t[26] == 'Z';
}

static int
recfast_hex(const struct span *v, uint8_t out[32])
{
	char buf[65];
	if (v->n != 66 || v->p[0] != '"')
		return -1;
	memcpy(buf, v->p + 1, 64);
	buf[64] = '\0';
	return auditrec_unhex(buf, out, 32);
}

int
recfast_check(const char *line, size_t len, EVP_MD_CTX *ctx, uint64_t *seq,
    uint8_t prev[32], uint8_t hash[32])
{
	const char *e = line + len;
	struct span keys[RECFAST_MAX_KEYS], vals[RECFAST_MAX_KEYS];
	size_t n = 0;
	if (len == 0 || line[0] != '{' ||
	    recfast_object(line, e, 1, keys, &n, vals) != e || n < 5)
		return 0;
	if (!recfast_key(&keys[0], "seq") || !recfast_key(&keys[1], "ts") ||
	    !recfast_key(&keys[2], "prev") || !recfast_key(&keys[n - 1], "hash"))
		return 0;
	int type = 0;
	for (size_t i = 3; i + 1 < n; i++) {
		if (recfast_key(&keys[i], "seq") || recfast_key(&keys[i], "ts") ||
		    recfast_key(&keys[i], "prev") || recfast_key(&keys[i], "hash"))
			return 0;
		if (recfast_key(&keys[i], "type"))
			type = vals[i].n > 2 && vals[i].p[0] == '"';
	}
	const struct span *s = &vals[0];
	if (!type || s->n == 0 || s->p[0] < '1' || s->p[0] > '9' ||
	    !recfast_ts(&vals[1]) || recfast_hex(&vals[2], prev) != 0 ||
	    recfast_hex(&vals[n - 1], hash) != 0)
		return 0;
	uint64_t v = 0;
	for (size_t i = 0; i < s->n; i++)
		v = v * 10 + (uint64_t)(s->p[i] - '0');
	/* Hashed: the line up to the comma before "hash", then '}'. */
	size_t hashed = (size_t)(keys[n - 1].p - 1 - line);
	uint8_t h[32];
	unsigned int hl = 0;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, line, hashed) != 1 ||
	    EVP_DigestUpdate(ctx, "}", 1) != 1 ||
	    EVP_DigestFinal_ex(ctx, h, &hl) != 1 || hl != 32 ||
	    memcmp(h, hash, 32) != 0)
		return 0;
	*seq = v;
	return 1;
}
