#ifndef PGWARD_REPLAY_RECFAST_H
#define PGWARD_REPLAY_RECFAST_H

/* A fast check of one record line that accepts a subset of what
 * auditrec_parse accepts: the lines whose canonical layout can be seen
 * byte by byte (strings with only the short escapes, integers, literals,
 * arrays, objects of at most RECFAST_MAX_KEYS members, nesting at most
 * RECFAST_MAX_DEPTH). It never rejects: anything else, and every bad
 * line, is left to auditrec_parse, which gives the reason. auditrec_parse
 * builds and re-dumps a jansson tree (about 12 us a record); this runs at
 * the speed of SHA-256. */

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define RECFAST_MAX_KEYS 32
#define RECFAST_MAX_DEPTH 32

/* 1 if the line is a valid record line (layout, members, hash) with
 * *seq, prev and hash set; 0 if auditrec_parse must decide. ctx is a
 * reusable digest context. */
int recfast_check(const char *line, size_t len, EVP_MD_CTX *ctx, uint64_t *seq,
    uint8_t prev[32], uint8_t hash[32]);

/* The end of the JSON value at p (before e) when it is in the subset
 * above, which jansson reads and writes back byte for byte (export copies
 * such a value instead of re-encoding it); else NULL. */
const char *recfast_value_end(const char *p, const char *e);

#endif
