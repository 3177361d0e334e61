#ifndef PGWARD_AUTH_B64URL_H
#define PGWARD_AUTH_B64URL_H

#include <stddef.h>

/* Strict base64url without padding (RFC 7515 section 2): any character
 * outside the alphabet, a length that is 1 mod 4, or non-zero trailing bits
 * make the input invalid. Returns a malloc'd buffer (NUL-terminated, *outlen
 * bytes of data) or NULL. */
unsigned char *b64url_decode(const char *in, size_t inlen, size_t *outlen);

/* Returns a malloc'd NUL-terminated string, or NULL on allocation failure. */
char *b64url_encode(const unsigned char *in, size_t inlen);

#endif
