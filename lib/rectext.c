#include "rectext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct scan {
	const char *p, *end;
};

struct key {
	const char *s;
	size_t n;
};

static int value(struct scan *sc, int depth);

static int
upper_hex4(const char *p, long *out)
{
	long v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int h = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (h < 0)
			return 0;
		v = v << 4 | h;
	}
	*out = v;
	return 1;
}

/* "\uXXXX" (the "\u" consumed) as jansson writes it with
 * JSON_ENSURE_ASCII: upper-case hex, only for what has no shorter form. */
static int
u_escape(struct scan *sc)
{
	long u, lo;
	if (sc->end - sc->p < 4 || !upper_hex4(sc->p, &u))
		return 0;
	sc->p += 4;
	if (u < 0x20)
		return u != 0 && strchr("\b\f\n\r\t", (int)u) == NULL;
	if (u < 0x80 || (u >= 0xDC00 && u <= 0xDFFF))
		return 0;
	if (u < 0xD800 || u > 0xDBFF)
		return 1;
	if (sc->end - sc->p < 6 || sc->p[0] != '\\' || sc->p[1] != 'u' ||
	    !upper_hex4(sc->p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
		return 0;
	sc->p += 6;
	return 1;
}

/* A string whose opening quote was consumed; *escaped tells whether it
 * held any escape (keys with escapes are compared decoded by jansson, so
 * they are left to it). */
static int
string(struct scan *sc, int *escaped)
{
	*escaped = 0;
	while (sc->p < sc->end) {
		unsigned char c = (unsigned char)*sc->p++;
		if (c == '"')
			return 1;
		if (c < 0x20 || c > 0x7f)
			return 0;
		if (c != '\\')
			continue;
		*escaped = 1;
		if (sc->p == sc->end)
			return 0;
		c = (unsigned char)*sc->p++;
		if (c == 'u') {
			if (!u_escape(sc))
				return 0;
		} else if (c == '\0' || strchr("\"\\bfnrt", c) == NULL) {
			return 0;
		}
	}
	return 0;
}

static int
digits(struct scan *sc)
{
	const char *start = sc->p;
	while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')
		sc->p++;
	return (int)(sc->p - start);
}

/* A real is canonical when it is what jansson writes for its value:
 * printf's %.17g, with ".0" added when that looks like an integer. */
static int
real_canonical(const char *start, size_t n)
{
	char in[48], out[48];
	memcpy(in, start, n);
	in[n] = '\0';
	int m = snprintf(out, sizeof out - 2, "%.17g", strtod(in, NULL));
	if (m <= 0 || (size_t)m >= sizeof out - 2)
		return 0;
	if (strchr(out, '.') == NULL && strchr(out, 'e') == NULL)
		memcpy(out + m, ".0", 3);
	return strcmp(in, out) == 0;
}

/* Integers and reals as jansson writes them, without an exponent and of a
 * bounded length (never out of range for its strtoll and strtod). */
static int
number(struct scan *sc)
{
	const char *start = sc->p;
	if (*sc->p == '-')
		sc->p++;
	if (sc->p == sc->end)
		return 0;
	if (*sc->p == '0') {
		sc->p++;
		if (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')
			return 0;
	} else {
		int n = digits(sc);
		if (n == 0 || n > 18)
			return 0;
	}
	if (sc->p < sc->end && (*sc->p == 'e' || *sc->p == 'E'))
		return 0;
	if (sc->p == sc->end || *sc->p != '.')
		return sc->p - start != 2 || memcmp(start, "-0", 2) != 0;
	sc->p++;
	if (digits(sc) == 0 || sc->p - start > 40 ||
	    (sc->p < sc->end && (*sc->p == 'e' || *sc->p == 'E')))
		return 0;
	return real_canonical(start, (size_t)(sc->p - start));
}

static int
literal(struct scan *sc, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, word, n) != 0)
		return 0;
	sc->p += n;
	return 1;
}

static int
key_seen(const struct key *keys, int n, const char *s, size_t len)
{
	for (int i = 0; i < n; i++)
		if (keys[i].n == len && memcmp(keys[i].s, s, len) == 0)
			return 1;
	return 0;
}

/* An object whose '{' was consumed. At the top level (depth 1) the record
 * rules apply too. */
static int
object(struct scan *sc, int depth)
{
	static const char *const reserved[] = { "seq", "ts", "prev", "hash" };
	struct key keys[RECTEXT_MAX_KEYS];
	int nkeys = 0, has_type = 0;
	if (sc->p < sc->end && *sc->p == '}') {
		sc->p++;
		return depth > 1;
	}
	for (;;) {
		if (sc->p == sc->end || *sc->p++ != '"' || nkeys == RECTEXT_MAX_KEYS)
			return 0;
		const char *k = sc->p;
		int escaped;
		if (!string(sc, &escaped) || escaped)
			return 0;
		size_t klen = (size_t)(sc->p - 1 - k);
		if (key_seen(keys, nkeys, k, klen))
			return 0;
		keys[nkeys++] = (struct key){ k, klen };
		if (sc->p == sc->end || *sc->p++ != ':')
			return 0;
		if (depth == 1) {
			for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
				if (klen == strlen(reserved[i]) && memcmp(k, reserved[i], klen) == 0)
					return 0;
			if (klen == 4 && memcmp(k, "type", 4) == 0) {
				/* A non-empty string: "" is two quotes. */
				if (sc->end - sc->p < 3 || sc->p[0] != '"' || sc->p[1] == '"')
					return 0;
				has_type = 1;
			}
		}
		if (!value(sc, depth))
			return 0;
		if (sc->p == sc->end)
			return 0;
		char c = *sc->p++;
		if (c == '}')
			return depth > 1 || has_type;
		if (c != ',')
			return 0;
	}
}

static int
array(struct scan *sc, int depth)
{
	if (sc->p < sc->end && *sc->p == ']') {
		sc->p++;
		return 1;
	}
	for (;;) {
		if (!value(sc, depth))
			return 0;
		if (sc->p == sc->end)
			return 0;
		char c = *sc->p++;
		if (c == ']')
			return 1;
		if (c != ',')
			return 0;
	}
}

static int
value(struct scan *sc, int depth)
{
	if (sc->p == sc->end)
		return 0;
	int escaped;
	switch (*sc->p) {
	case '{':
		sc->p++;
		return depth < RECTEXT_MAX_DEPTH && object(sc, depth + 1);
	case '[':
		sc->p++;
		return depth < RECTEXT_MAX_DEPTH && array(sc, depth + 1);
	case '"':
		sc->p++;
		return string(sc, &escaped);
	case 't':
		return literal(sc, "true");
	case 'f':
		return literal(sc, "false");
	case 'n':
		return literal(sc, "null");
	default:
		return (*sc->p == '-' || (*sc->p >= '0' && *sc->p <= '9')) && number(sc);
	}
}

int
rectext_payload_ok(const char *text, size_t len)
{
	struct scan sc = { text, text + len };
	if (len < 2 || text[0] != '{')
		return 0;
	sc.p++;
	return object(&sc, 1) && sc.p == sc.end;
}
