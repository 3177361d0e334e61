#ifndef PGWARD_B64_H
#define PGWARD_B64_H

/* Standard base64 (RFC 4648 section 4, with padding) over OpenSSL's block
 * coder. Decoding accepts only the canonical encoding: no whitespace, no
 * missing padding, no non-zero bits after the last byte. */

#include <stddef.h>
#include <stdint.h>

/* Returns a malloc'd NUL-terminated string, or NULL when out of memory. */
char *b64_encode(const uint8_t *in, size_t n);
/* Decodes len characters into out (capacity cap); returns the number of
 * bytes, or -1 when the text is not canonical base64 or does not fit. */
long b64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
