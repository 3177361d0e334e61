#include "b64.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

char *
b64_encode(const uint8_t *in, size_t n)
{
	if (n > (size_t)1 << 28)
		return NULL;
	char *out = malloc((n + 2) / 3 * 4 + 1);
	if (out == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	return out;
}

static int
b64_char_ok(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

long
b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	/* EVP_DecodeBlock skips surrounding whitespace, accepts '=' anywhere
	 * in the last quantum and counts padding as zero bytes, so the
	 * alphabet and padding are checked here and the length corrected. */
	if (len % 4 != 0 || len > (size_t)1 << 28)
		return -1;
	if (len == 0)
		return 0;
	size_t pad = 0;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len - pad; i++)
		if (!b64_char_ok((unsigned char)in[i]))
			return -1;
	size_t n = len / 4 * 3 - pad;
	if (n > cap)
		return -1;
	unsigned char *tmp = malloc(len / 4 * 3);
	if (tmp == NULL)
		return -1;
	int got = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)len);
	if (got != (int)(len / 4 * 3)) {
		free(tmp);
		return -1;
	}
	/* Canonical only: unused low bits of the last character must be 0,
	 * so that one byte string has exactly one encoding. */
	char *again = b64_encode(tmp, n);
	int same = again != NULL && memcmp(again, in, len) == 0;
	free(again);
	if (same)
		memcpy(out, tmp, n);
	free(tmp);
	return same ? (long)n : -1;
}
