#include "replay/jsonw.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char jsonw_hexd[] = "0123456789ABCDEF";

static char *
jsonw_u(char *o, unsigned cp)
{
	o[0] = '\\';
	o[1] = 'u';
	o[2] = jsonw_hexd[(cp >> 12) & 0xf];
	o[3] = jsonw_hexd[(cp >> 8) & 0xf];
	o[4] = jsonw_hexd[(cp >> 4) & 0xf];
	o[5] = jsonw_hexd[cp & 0xf];
	return o + 6;
}

#define JSONW_ONES 0x0101010101010101ULL
#define JSONW_HIGH 0x8080808080808080ULL

/* Non-zero when a byte of w is below 0x20 or above 0x7f, '"' or '\\'
 * (its high bit, maybe also those of bytes after it). Eight bytes at a
 * time: most of a record needs nothing. */
static uint64_t
jsonw_marks(uint64_t w)
{
	uint64_t q = w ^ ('"' * JSONW_ONES), s = w ^ ('\\' * JSONW_ONES);
	return ((w - 0x20 * JSONW_ONES) | w | ((q - JSONW_ONES) & ~q) |
	    ((s - JSONW_ONES) & ~s)) & JSONW_HIGH;
}

int
jsonw_str(struct siem_buf *b, const char *s, size_t n)
{
	/* At most 6 bytes out per byte in (a control character), and 8
	 * written at a time. */
	if (!siem_room(b, 6 * n + 10))
		return -1;
	char *o = b->p + b->n;
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	*o++ = '"';
	while (p < e) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		/* Eight bytes at a time up to the next one to escape: copied
		 * whole, kept up to it (the lowest mark is that byte). */
		while (e - p >= 8) {
			uint64_t w, m;
			memcpy(&w, p, 8);
			memcpy(o, &w, 8);
			m = jsonw_marks(w);
			if (m == 0) {
				o += 8;
				p += 8;
				continue;
			}
			unsigned k = (unsigned)__builtin_ctzll(m) >> 3;
			o += k;
			p += k;
			break;
		}
		if (p >= e)
			break;
#endif
		unsigned c = *p;
		if (c >= 0x20 && c < 0x80) {
			if (c == '"' || c == '\\')
				*o++ = '\\';
			*o++ = (char)c;
			p++;
			continue;
		}
		if (c >= 0x80) {
			size_t l = siem_utf8_len(p, e);
			if (l == 0) {
				o = jsonw_u(o, 0xfffd);
				p++;
				continue;
			}
			unsigned cp = c & (0x7fu >> l);
			for (size_t i = 1; i < l; i++)
				cp = (cp << 6) | (p[i] & 0x3fu);
			p += l;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				o = jsonw_u(o, 0xd800 | (cp >> 10));
				cp = 0xdc00 | (cp & 0x3ff);
			}
			o = jsonw_u(o, cp);
			continue;
		}
		p++;
		char esc = 0;
		switch (c) {
		case '\b': esc = 'b'; break;
		case '\f': esc = 'f'; break;
		case '\n': esc = 'n'; break;
		case '\r': esc = 'r'; break;
		case '\t': esc = 't'; break;
		}
		if (esc != 0) {
			*o++ = '\\';
			*o++ = esc;
		} else {
			o = jsonw_u(o, c);
		}
	}
	*o++ = '"';
	b->n = (size_t)(o - b->p);
	b->p[b->n] = '\0';
	return 0;
}

/* Four upper-case hex digits (the only case jansson writes). */
static int
jsonw_hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned c = p[i];
		if (c >= '0' && c <= '9')
			v = (v << 4) | (c - '0');
		else if (c >= 'A' && c <= 'F')
			v = (v << 4) | (c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

int
jsonw_raw(struct siem_buf *b, const struct rec_span *v)
{
	const unsigned char *p = (const unsigned char *)v->p;
	if (v->n < 2 || p[0] != '"' || p[v->n - 1] != '"')
		return -1;
	const unsigned char *q = p + 1, *e = p + v->n - 1;
	while (q < e) {
		uint64_t w;
		if (e - q >= 8 && (memcpy(&w, q, 8), jsonw_marks(w) == 0)) {
			q += 8;
			continue;
		}
		unsigned c = *q;
		if (c != '\\') {
			if (c < 0x20 || c >= 0x80 || c == '"')
				return -1;
			q++;
			continue;
		}
		if (e - q < 2)
			return -1;
		c = q[1];
		if (c == '"' || c == '\\' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
		    c == 't') {
			q += 2;
			continue;
		}
		unsigned cp, lo;
		if (c != 'u' || e - q < 6 || jsonw_hex4(q + 2, &cp) != 0)
			return -1;
		q += 6;
		if (cp < 0x20) {
			/* Those with a short escape are written short. */
			if (cp == '\b' || cp == '\f' || cp == '\n' || cp == '\r' || cp == '\t')
				return -1;
		} else if (cp < 0x80 || (cp >= 0xdc00 && cp < 0xe000)) {
			return -1;
		} else if (cp >= 0xd800 && cp < 0xdc00) {
			if (e - q < 6 || q[0] != '\\' || q[1] != 'u' || jsonw_hex4(q + 2, &lo) != 0 ||
			    lo < 0xdc00 || lo >= 0xe000)
				return -1;
			q += 6;
		}
	}
	siem_put(b, v->p, v->n);
	return 0;
}

/* round(m * 2^e * 10^s), ties to even (as printf), for m < 2^53, e in
 * [-127, 10], s in [0, 20]: within 128 bits. */
static uint64_t
jsonw_scaled(uint64_t m, int e, int s)
{
	unsigned __int128 v = m;
	for (int i = 0; i < s; i++)
		v *= 10;
	if (e >= 0)
		return (uint64_t)(v << e);
	unsigned k = (unsigned)-e;
	unsigned __int128 q = v >> k, rem = v - (q << k), half = (unsigned __int128)1 << (k - 1);
	if (rem > half || (rem == half && (q & 1)))
		q++;
	return (uint64_t)q;
}

/* "%.17g" of d by integer arithmetic, the same digits printf writes, for
 * 1e-4 <= |d| < 1e16 (durations; printf costs a third of an event): the
 * length, or 0 outside that range. */
static int
jsonw_g17(double d, char *out)
{
	static const uint64_t lo = 10000000000000000ULL, hi = 100000000000000000ULL;
	double a = fabs(d);
	if (!(a >= 1e-4 && a < 1e16))
		return 0;
	/* a = m * 2^e exactly (a normal double). */
	uint64_t bits;
	memcpy(&bits, &a, sizeof bits);
	uint64_t m = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
	int e = (int)(bits >> 52) - 1075;
	/* 17 digits: N = a * 10^(16 - X) in [10^16, 10^17), X the decimal
	 * exponent after rounding; first guessed from the binary one. */
	int x = (e + 52) * 30103 / 100000;
	uint64_t n = 0;
	for (int tries = 0; tries < 4; tries++) {
		if (x < -5 || x > 16)
			return 0;
		n = jsonw_scaled(m, e, 16 - x);
		if (n >= hi)
			x++;
		else if (n < lo)
			x--;
		else
			break;
	}
	if (n < lo || n >= hi || x < -4 || x > 16)
		return 0;
	char dig[17];
	for (int i = 16; i >= 0; i--, n /= 10)
		dig[i] = (char)('0' + n % 10);
	int len = 0;
	if (d < 0)
		out[len++] = '-';
	int point;	/* digits before the decimal point */
	if (x >= 0) {
		memcpy(out + len, dig, (size_t)x + 1);
		len += x + 1;
		point = x + 1;
	} else {
		out[len++] = '0';
		point = 0;
	}
	int frac = len;
	out[len++] = '.';
	for (int i = x; i < -1; i++)
		out[len++] = '0';
	memcpy(out + len, dig + point, (size_t)(17 - point));
	len += 17 - point;
	while (len > frac + 1 && out[len - 1] == '0')
		len--;
	if (len == frac + 1)
		len = frac;	/* no fraction left: no point */
	out[len] = '\0';
	return len;
}

int
jsonw_real(struct siem_buf *b, double d)
{
	if (!isfinite(d))
		return -1;
	char s[40];
	int n = jsonw_g17(d, s);
	if (n == 0)
		n = snprintf(s, sizeof s - 2, "%.17g", d);
	if (n < 0 || (size_t)n >= sizeof s - 2)
		return -1;
	char *ex = strchr(s, 'e');
	if (ex == NULL && strchr(s, '.') == NULL) {
		s[n++] = '.';
		s[n++] = '0';
		s[n] = '\0';
	}
	if (ex != NULL) {
		/* As jansson: no '+', no leading zeros in the exponent. */
		char *start = ex + 1, *end = ex + 2;
		if (*start == '-')
			start++;
		while (*end == '0')
			end++;
		if (end != start)
			memmove(start, end, strlen(end) + 1);
		n = (int)strlen(s);
	}
	siem_put(b, s, (size_t)n);
	return 0;
}
