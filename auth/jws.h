#ifndef PGWARD_AUTH_JWS_H
#define PGWARD_AUTH_JWS_H

#include <jwt.h>
#include <stddef.h>

/* Verify the JWS compact signature of token[0..len) with alg: RS* and ES*
 * with a PEM public key, HS* with the raw secret. The header is not looked
 * at (token_verify has already parsed it): libjwt's jwt_decode refused any
 * typ but "JWT", so RFC 9068 access tokens ("at+jwt") never verified.
 * Returns 0 when the signature is good, -1 otherwise. */
int jws_verify(const char *token, size_t len, jwt_alg_t alg,
    const unsigned char *key, size_t keylen);

#endif
