#include "replay/match.h"

#include <string.h>

static unsigned char
match_fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

int
match_ci_init(struct match_ci *m, const char *needle)
{
	size_t n = strlen(needle);
	if (n == 0 || n > 255)
		return -1;
	m->n = n;
	for (size_t i = 0; i < n; i++)
		m->needle[i] = match_fold((unsigned char)needle[i]);
	for (size_t i = 0; i < 256; i++)
		m->skip[i] = n;
	for (size_t i = 0; i + 1 < n; i++) {
		unsigned char c = m->needle[i];
		m->skip[c] = n - 1 - i;
		if (c >= 'a' && c <= 'z')
			m->skip[c - 32] = n - 1 - i;
	}
	return 0;
}

const char *
match_ci_find(const struct match_ci *m, const char *hay, size_t n)
{
	const unsigned char *h = (const unsigned char *)hay;
	size_t k = m->n;
	if (n < k)
		return NULL;
	unsigned char last = m->needle[k - 1];
	for (size_t i = 0; i + k <= n;) {
		unsigned char c = h[i + k - 1];
		if (match_fold(c) == last) {
			size_t j = 0;
			while (j + 1 < k && match_fold(h[i + j]) == m->needle[j])
				j++;
			if (j + 1 >= k)
				return hay + i;
		}
		i += m->skip[c];
	}
	return NULL;
}

static int
match_ident_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '$' || c >= 0x80;
}

int
match_identifier(const char *sql, size_t len, const char *ident)
{
	struct match_ci m;
	if (match_ci_init(&m, ident) != 0)
		return 0;
	const char *p = sql, *e = sql + len;
	while (p < e) {
		const char *f = match_ci_find(&m, p, (size_t)(e - p));
		if (f == NULL)
			return 0;
		const char *after = f + m.n;
		if ((f == sql || !match_ident_char((unsigned char)f[-1])) &&
		    (after == e || !match_ident_char((unsigned char)*after)))
			return 1;
		p = f + 1;
	}
	return 0;
}

void
match_first_keyword(const char *sql, size_t len, char *out, size_t outlen)
{
	const char *p = sql, *e = sql + len;
	for (;;) {
		while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
		    *p == '\f' || *p == '(' || *p == ';'))
			p++;
		if (e - p >= 2 && p[0] == '-' && p[1] == '-') {
			while (p < e && *p != '\n')
				p++;
			continue;
		}
		if (e - p >= 2 && p[0] == '/' && p[1] == '*') {
			const char *c = p + 2;
			while (e - c >= 2 && !(c[0] == '*' && c[1] == '/'))
				c++;
			p = e - c >= 2 ? c + 2 : e;
			continue;
		}
		break;
	}
	size_t o = 0;
	while (p < e && o + 1 < outlen &&
	    ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_')) {
		char c = *p++;
		out[o++] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
	}
	out[o] = '\0';
}
