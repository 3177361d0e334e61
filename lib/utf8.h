#ifndef PGWARD_UTF8_H
#define PGWARD_UTF8_H

#include <stddef.h>

/* True if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF) with no NUL byte: safe for a JSON string. */
int utf8_valid(const char *s, size_t len);

#endif
