/* Mask styles: redact, partial, email-domain, token (HMAC-SHA-256). */

#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "mask/internal.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

/* The low-level SHA-256 API lets the keyed inner and outer states be
 * computed once and copied per token as plain structs: no allocation and
 * no provider lookup per value (EVP_MAC and HMAC() cost both). */
struct mask_hmac {
	SHA256_CTX inner, outer;
};

static void utf8_next(const unsigned char *s, size_t n, size_t *i);

int
buf_reserve(struct mask_buf *b, size_t extra)
{
	if (extra > SIZE_MAX / 2 - b->len)
		return -1;
	if (b->len + extra <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra)
		cap *= 2;
	char *d = realloc(b->data, cap);
	if (d == NULL)
		return -1;
	b->data = d;
	b->cap = cap;
	return 0;
}

int
buf_append(struct mask_buf *b, const char *s, size_t n)
{
	if (buf_reserve(b, n) != 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	return 0;
}

void
mask_buf_free(struct mask_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

struct mask_hmac *
hmac_new(const uint8_t *key, size_t keylen)
{
	struct mask_hmac *h = calloc(1, sizeof *h);
	if (h == NULL)
		return NULL;
	unsigned char k[SHA256_CBLOCK], pad[SHA256_CBLOCK];
	memset(k, 0, sizeof k);
	if (keylen > SHA256_CBLOCK)
		SHA256(key, keylen, k);
	else if (keylen > 0)
		memcpy(k, key, keylen);
	for (size_t i = 0; i < sizeof pad; i++)
		pad[i] = k[i] ^ 0x36;
	SHA256_Init(&h->inner);
	SHA256_Update(&h->inner, pad, sizeof pad);
	for (size_t i = 0; i < sizeof pad; i++)
		pad[i] = k[i] ^ 0x5c;
	SHA256_Init(&h->outer);
	SHA256_Update(&h->outer, pad, sizeof pad);
	OPENSSL_cleanse(k, sizeof k);
	OPENSSL_cleanse(pad, sizeof pad);
	return h;
}

void
hmac_free(struct mask_hmac *h)
{
	if (h == NULL)
		return;
	OPENSSL_cleanse(h, sizeof *h);
	free(h);
}

static void
hmac_sha256(const struct mask_hmac *h, const char *in, size_t n,
    unsigned char mac[SHA256_DIGEST_LENGTH])
{
	SHA256_CTX c = h->inner;
	unsigned char ih[SHA256_DIGEST_LENGTH];
	SHA256_Update(&c, in, n);
	SHA256_Final(ih, &c);
	c = h->outer;
	SHA256_Update(&c, ih, sizeof ih);
	SHA256_Final(mac, &c);
	OPENSSL_cleanse(&c, sizeof c);
}

/* Advances *i over one UTF-8 character (an invalid byte counts as one). */
static void
utf8_next(const unsigned char *s, size_t n, size_t *i)
{
	unsigned char c = s[*i];
	size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
	    (c & 0xf8) == 0xf0 ? 4 : 1;
	if (len > 1) {
		if (*i + len > n) {
			len = 1;
		} else {
			for (size_t k = 1; k < len; k++)
				if ((s[*i + k] & 0xc0) != 0x80) {
					len = 1;
					break;
				}
		}
	}
	*i += len;
}

int
style_apply(const struct mask_engine *e, enum mask_style style, int keep,
    const char *in, size_t n, struct mask_buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	switch (style) {
	case MASK_REDACT:
		return buf_append(out, MASK_REDACTED, MASK_REDACTED_LEN);
	case MASK_PARTIAL: {
		/* Fast path: ASCII (card numbers, codes). */
		size_t i, nchars = 0;
		for (i = 0; i < n && s[i] < 0x80; i++)
			;
		if (i == n) {
			if (buf_reserve(out, n) != 0)
				return -1;
			char *o = out->data + out->len;
			size_t k = (size_t)keep < n ? n - (size_t)keep : n;
			memset(o, '*', k);
			memcpy(o + k, in + k, n - k);
			out->len += n;
			return 0;
		}
		for (i = 0; i < n; nchars++)
			utf8_next(s, n, &i);
		size_t hide = (size_t)keep < nchars ? nchars - (size_t)keep : nchars;
		if (buf_reserve(out, n) != 0)
			return -1;
		size_t c = 0;
		for (i = 0; i < n && c < hide; c++) {
			utf8_next(s, n, &i);
			out->data[out->len++] = '*';
		}
		return buf_append(out, in + i, n - i);
	}
	case MASK_EMAIL_DOMAIN: {
		const char *at = NULL;
		for (size_t i = n; i > 0; i--)
			if (in[i - 1] == '@') {
				at = in + i - 1;
				break;
			}
		if (at == NULL || at + 1 == in + n)
			return buf_append(out, MASK_REDACTED, MASK_REDACTED_LEN);
		if (buf_append(out, "****", 4) != 0)
			return -1;
		return buf_append(out, at, (size_t)(in + n - at));
	}
	case MASK_TOKEN: {
		static const char hex[] = "0123456789abcdef";
		if (e->hmac == NULL)
			return -1;
		unsigned char mac[SHA256_DIGEST_LENGTH];
		hmac_sha256(e->hmac, in, n, mac);
		if (buf_reserve(out, 20) != 0)
			return -1;
		char *o = out->data + out->len;
		memcpy(o, "tok_", 4);
		for (int i = 0; i < 8; i++) {
			o[4 + 2 * i] = hex[mac[i] >> 4];
			o[5 + 2 * i] = hex[mac[i] & 15];
		}
		out->len += 20;
		return 0;
	}
	case MASK_NONE:
	case MASK_NULL:
		break;
	}
	return -1;
}

const char *
mask_style_name(enum mask_style s)
{
	switch (s) {
	case MASK_NONE:
		return "none";
	case MASK_REDACT:
		return "redact";
	case MASK_PARTIAL:
		return "partial";
	case MASK_EMAIL_DOMAIN:
		return "email-domain";
	case MASK_TOKEN:
		return "token";
	case MASK_NULL:
		return "null";
	}
	return NULL;
}

int
mask_style_parse(const char *name, enum mask_style *out)
{
	static const enum mask_style all[] = { MASK_REDACT, MASK_PARTIAL,
		MASK_EMAIL_DOMAIN, MASK_TOKEN, MASK_NULL };
	for (size_t i = 0; name != NULL && i < sizeof all / sizeof all[0]; i++)
		if (strcmp(name, mask_style_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	return -1;
}
