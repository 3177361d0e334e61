#include "replay/rec.h"

#include <stdlib.h>
#include <string.h>

#include "b64.h"

uint64_t
rec_seq(const char *line, size_t len)
{
	if (len < 8 || memcmp(line, "{\"seq\":", 7) != 0)
		return 0;
	uint64_t v = 0;
	size_t i = 7;
	for (; i < len && i < 27 && line[i] >= '0' && line[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(line[i] - '0');
	return i < len && line[i] == ',' ? v : 0;
}

const char *
rec_ts(const char *line, size_t len)
{
	size_t i = 7;
	while (i < len && line[i] >= '0' && line[i] <= '9')
		i++;
	if (i + 7 + REC_TS_LEN + 1 > len || memcmp(line + i, ",\"ts\":\"", 7) != 0)
		return NULL;
	return line + i + 7;
}

/* p at a value; returns the byte after it (lenient). */
static const char *
rec_skip(const char *p, const char *e)
{
	if (p >= e)
		return NULL;
	if (*p == '"') {
		/* A quote ends the string unless an odd run of backslashes
		 * escapes it (SQL makes strings long: memchr, not a byte loop). */
		for (const char *s = p + 1; s < e;) {
			const char *q = memchr(s, '"', (size_t)(e - s));
			if (q == NULL)
				return NULL;
			const char *b = q;
			while (b > s && b[-1] == '\\')
				b--;
			if (((q - b) & 1) == 0)
				return q + 1;
			s = q + 1;
		}
		return NULL;
	}
	if (*p == '{' || *p == '[') {
		int depth = 0;
		for (; p < e; p++) {
			if (*p == '"') {
				p = rec_skip(p, e);
				if (p == NULL)
					return NULL;
				p--;
			} else if (*p == '{' || *p == '[') {
				depth++;
			} else if (*p == '}' || *p == ']') {
				if (--depth == 0)
					return p + 1;
			}
		}
		return NULL;
	}
	while (p < e && *p != ',' && *p != '}' && *p != ']')
		p++;
	return p;
}

int
rec_split(struct rec *r, const char *line, size_t len)
{
	const char *p = line, *e = line + len;
	r->line = line;
	r->len = len;
	r->n = 0;
	r->seq = rec_seq(line, len);
	r->ts = rec_ts(line, len);
	if (r->seq == 0 || r->ts == NULL)
		return -1;
	p++;
	while (p < e && *p == '"') {
		const char *k = p + 1;
		const char *ke = rec_skip(p, e);
		if (ke == NULL || ke >= e || *ke != ':' || r->n == REC_MAX_MEMBERS)
			return -1;
		const char *v = ke + 1;
		const char *ve = rec_skip(v, e);
		if (ve == NULL)
			return -1;
		r->m[r->n].key = (struct rec_span){ k, (size_t)(ke - 1 - k) };
		r->m[r->n].val = (struct rec_span){ v, (size_t)(ve - v) };
		r->n++;
		if (ve < e && *ve == ',') {
			p = ve + 1;
			continue;
		}
		return ve < e && *ve == '}' ? 0 : -1;
	}
	return -1;
}

const struct rec_span *
rec_get(const struct rec *r, const char *key)
{
	size_t n = strlen(key);
	for (size_t i = 0; i < r->n; i++)
		if (r->m[i].key.n == n && memcmp(r->m[i].key.p, key, n) == 0)
			return &r->m[i].val;
	return NULL;
}

int
rec_span_eq(const struct rec_span *v, const char *s, size_t n)
{
	return v->n == n + 2 && v->p[0] == '"' && memcmp(v->p + 1, s, n) == 0;
}

int
rec_eq(const struct rec *r, const char *key, const char *s)
{
	const struct rec_span *v = rec_get(r, key);
	return v != NULL && rec_span_eq(v, s, strlen(s));
}

int
rec_array_next(const struct rec_span *a, size_t *pos, struct rec_span *el)
{
	if (a->n < 2 || a->p[0] != '[' || a->p[a->n - 1] != ']')
		return 0;
	const char *p = a->p + (*pos > 0 ? *pos : 1), *e = a->p + a->n - 1;
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	if (p >= e)
		return 0;
	const char *q = rec_skip(p, e);
	if (q == NULL || q == p)
		return 0;
	*el = (struct rec_span){ p, (size_t)(q - p) };
	while (q < e && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
		q++;
	if (q < e && *q == ',')
		q++;
	else if (q < e)
		q = e;	/* not an array after all: this was the last */
	*pos = (size_t)(q - a->p);
	return 1;
}

int
rec_object_get(const struct rec_span *o, const char *key, struct rec_span *v)
{
	if (o->n < 2 || o->p[0] != '{' || o->p[o->n - 1] != '}')
		return 0;
	size_t kn = strlen(key);
	const char *p = o->p + 1, *e = o->p + o->n - 1;
	for (;;) {
		while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
			p++;
		if (p >= e || *p != '"')
			return 0;
		const char *ke = rec_skip(p, e);
		if (ke == NULL)
			return 0;
		const char *k = p + 1;
		size_t n = (size_t)(ke - 1 - k);
		p = ke;
		while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
			p++;
		if (p >= e || *p != ':')
			return 0;
		p++;
		while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
			p++;
		const char *ve = rec_skip(p, e);
		if (ve == NULL || ve == p)
			return 0;
		if (n == kn && memcmp(k, key, kn) == 0) {
			*v = (struct rec_span){ p, (size_t)(ve - p) };
			while (v->n > 0 && (p[v->n - 1] == ' ' || p[v->n - 1] == '\t' ||
			    p[v->n - 1] == '\n' || p[v->n - 1] == '\r'))
				v->n--;
			return 1;
		}
		p = ve;
		while (p < e && *p != ',')
			p++;
		if (p >= e)
			return 0;
		p++;
	}
}

int
rec_has(const struct rec *r, const char *key, const char *s)
{
	const struct rec_span *v = rec_get(r, key);
	if (v == NULL || v->n < 2 || v->p[0] != '[')
		return 0;
	size_t n = strlen(s);
	const char *p = v->p + 1, *e = v->p + v->n - 1;
	while (p < e) {
		const char *q = rec_skip(p, e);
		if (q == NULL)
			return 0;
		struct rec_span el = { p, (size_t)(q - p) };
		if (rec_span_eq(&el, s, n))
			return 1;
		p = q < e && *q == ',' ? q + 1 : e;
	}
	return 0;
}

static int
rec_hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t
rec_put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

int
rec_unescape_into(const struct rec_span *v, char *out, size_t *len)
{
	if (v == NULL || v->n < 2 || v->p[0] != '"' || v->p[v->n - 1] != '"')
		return -1;
	const char *p = v->p + 1, *e = v->p + v->n - 1;
	size_t o = 0;
	while (p < e) {
		const char *bs = memchr(p, '\\', (size_t)(e - p));
		size_t run = bs != NULL ? (size_t)(bs - p) : (size_t)(e - p);
		memcpy(out + o, p, run);
		o += run;
		p += run;
		if (p >= e || p + 1 >= e)
			break;
		char c = p[1];
		p += 2;
		switch (c) {
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u': {
			unsigned cp, lo;
			if (e - p < 4 || rec_hex4(p, &cp) != 0)
				return -1;
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && e - p >= 6 && p[0] == '\\' &&
			    p[1] == 'u' && rec_hex4(p + 2, &lo) == 0 &&
			    lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				/* A lone surrogate has no UTF-8 form: one U+FFFD
				 * instead of three bytes no reader accepts. */
				cp = 0xfffd;
			}
			o += rec_put_utf8(out + o, cp);
			break;
		}
		default: out[o++] = c; break;
		}
	}
	out[o] = '\0';
	*len = o;
	return 0;
}

char *
rec_unescape(const struct rec_span *v, size_t *len)
{
	if (v == NULL || v->n < 2)
		return NULL;
	/* Each escape decodes to no more bytes than it takes. */
	char *out = malloc(v->n);
	if (out != NULL && rec_unescape_into(v, out, len) != 0) {
		free(out);
		out = NULL;
	}
	return out;
}

char *
rec_str(const struct rec *r, const char *key, size_t *len)
{
	size_t n;
	char *s = rec_unescape(rec_get(r, key), len != NULL ? len : &n);
	return s;
}

int
rec_span_int(const struct rec_span *v, long long *out)
{
	if (v == NULL || v->n == 0 || v->n > 20)
		return -1;
	/* Plain digits (as the writers put them): no strtoll. */
	if (v->n <= 18) {
		long long x = 0;
		size_t i = v->p[0] == '-';
		for (; i < v->n && v->p[i] >= '0' && v->p[i] <= '9'; i++)
			x = x * 10 + (v->p[i] - '0');
		if (i == v->n && v->n > (size_t)(v->p[0] == '-')) {
			*out = v->p[0] == '-' ? -x : x;
			return 0;
		}
	}
	char buf[24], *end;
	memcpy(buf, v->p, v->n);
	buf[v->n] = '\0';
	long long x = strtoll(buf, &end, 10);
	if (*end != '\0')
		return -1;
	*out = x;
	return 0;
}

int
rec_span_num(const struct rec_span *v, double *out)
{
	if (v == NULL || v->n == 0 || v->n > 40)
		return -1;
	char buf[48], *end;
	memcpy(buf, v->p, v->n);
	buf[v->n] = '\0';
	double x = strtod(buf, &end);
	if (*end != '\0' || end == buf)
		return -1;
	*out = x;
	return 0;
}

int
rec_int(const struct rec *r, const char *key, long long *out)
{
	return rec_span_int(rec_get(r, key), out);
}

int
rec_num(const struct rec *r, const char *key, double *out)
{
	return rec_span_num(rec_get(r, key), out);
}

char *
rec_sql(const struct rec *r, size_t *len, int *binary)
{
	const struct rec_span *v = rec_get(r, "sql");
	*binary = 0;
	if (v == NULL)
		return NULL;
	if (v->n > 0 && v->p[0] == '"')
		return rec_unescape(v, len);
	static const char pre[] = "{\"base64\":\"";
	if (v->n < sizeof pre || memcmp(v->p, pre, sizeof pre - 1) != 0)
		return NULL;
	const char *b = v->p + sizeof pre - 1;
	const char *q = memchr(b, '"', v->n - (sizeof pre - 1));
	if (q == NULL)
		return NULL;
	size_t bn = (size_t)(q - b);
	char *out = malloc(bn + 1);
	if (out == NULL)
		return NULL;
	long n = b64_decode(b, bn, (uint8_t *)out, bn);
	if (n < 0) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	*len = (size_t)n;
	*binary = 1;
	return out;
}

struct rec_span
rec_type(const char *line, size_t len)
{
	struct rec_span t = { NULL, 0 };
	const char *ts = rec_ts(line, len);
	static const char pre[] = "\",\"prev\":\"";
	if (ts != NULL) {
		const char *p = ts + REC_TS_LEN;
		const char *e = line + len;
		if ((size_t)(e - p) > sizeof pre - 1 + 64 + 10 &&
		    memcmp(p, pre, sizeof pre - 1) == 0) {
			p += sizeof pre - 1 + 64;
			if (memcmp(p, "\",\"type\":\"", 10) == 0) {
				p += 10;
				const char *q = memchr(p, '"', (size_t)(e - p));
				if (q != NULL) {
					t.p = p;
					t.n = (size_t)(q - p);
					return t;
				}
			}
		}
	}
	const char *k = memmem(line, len, ",\"type\":\"", 9);
	if (k != NULL) {
		const char *p = k + 9;
		const char *q = memchr(p, '"', (size_t)(line + len - p));
		if (q != NULL) {
			t.p = p;
			t.n = (size_t)(q - p);
		}
	}
	return t;
}
