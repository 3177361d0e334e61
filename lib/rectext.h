#ifndef PGWARD_RECTEXT_H
#define PGWARD_RECTEXT_H

/* Recognises an audit record payload that can be stored exactly as sent,
 * without parsing it into a tree and writing it out again: text that is
 * already byte for byte what jansson writes for it (JSON_COMPACT |
 * JSON_ENSURE_ASCII), the one layout readers accept (lib/auditrec.c).
 *
 * Accepted is a strict subset of that: one object, no white space, only
 * printable ASCII (DEL included, as jansson writes it), the escapes
 * \" \\ \b \f \n \r \t and upper-case \uXXXX only where jansson uses
 * them, keys without escapes and never twice in one object, numbers
 * without an exponent, integers of at most 18 digits, reals in printf's
 * %.17g form, nesting at most RECTEXT_MAX_DEPTH deep with at most
 * RECTEXT_MAX_KEYS members an object. At the top level the member "type"
 * is a non-empty string and none of seq, ts, prev, hash appears.
 *
 * Anything else goes the general way (jansson), which then stores it in
 * that layout or refuses it with a reason. */

#include <stddef.h>

#define RECTEXT_MAX_DEPTH 16
#define RECTEXT_MAX_KEYS 64

/* 1 when text[0..len) is such a payload, else 0. */
int rectext_payload_ok(const char *text, size_t len);

#endif
