#ifndef PGWARD_SHA256_H
#define PGWARD_SHA256_H

/* SHA-256 over up to three pieces, with the digest implementation fetched
 * once per process: OpenSSL 3 otherwise looks it up on every call, which
 * costs more than hashing a short record. Returns 0 or -1. */

#include <stddef.h>
#include <stdint.h>

int sha256_parts(const void *a, size_t alen, const void *b, size_t blen, const void *c,
    size_t clen, uint8_t out[32]);

#endif
