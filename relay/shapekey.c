#include "shapekey.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

#define SHAPEKEY_MAX_SQL 4096

static void
hex32(const uint8_t in[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[64] = '\0';
}

int
shapekey_of(const char *sql, char out[65])
{
	size_t len = strlen(sql);
	if (len == 0 || len > SHAPEKEY_MAX_SQL)
		return -1;
	char buf[SHAPEKEY_MAX_SQL + 1];
	size_t n = 0;
	const char *s = sql;
	while (*s) {
		unsigned char c = (unsigned char)*s;
		if (isalpha(c) || c == '_') {
			/* An identifier or keyword, kept as written (digits in it too). */
			while (isalnum((unsigned char)*s) || *s == '_')
				buf[n++] = *s++;
			if (*s == '\'')
				return -1;	/* E'...', B'...', U&'...': not the simple kind */
			continue;
		}
		if (isdigit(c)) {
			while (isdigit((unsigned char)*s))
				s++;
			if (*s == '.') {
				s++;
				while (isdigit((unsigned char)*s))
					s++;
			}
			if (isalpha((unsigned char)*s) || *s == '_' || *s == '.')
				return -1;	/* 1e5, 0x1f, 1..2: leave to the parser */
			buf[n++] = '?';
			continue;
		}
		if (c == '\'') {
			s++;
			for (;;) {
				if (*s == '\0' || *s == '\\')
					return -1;
				if (*s == '\'') {
					if (s[1] == '\'') {
						s += 2;
						continue;
					}
					s++;
					break;
				}
				s++;
			}
			if (*s == '\'')
				return -1;
			buf[n++] = '?';
			continue;
		}
		if (c == '-' && s[1] == '-')
			return -1;	/* a comment */
		if (strchr(" \t\n\r,().=<>*+-;", c) == NULL)
			return -1;
		buf[n++] = *s++;
	}
	uint8_t md[32];
	if (sha256_parts("shape:", 6, buf, n, NULL, 0, md) != 0)
		return -1;
	hex32(md, out);
	return 0;
}
