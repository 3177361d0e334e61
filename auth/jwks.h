#ifndef PGWARD_AUTH_JWKS_H
#define PGWARD_AUTH_JWKS_H

#include <jansson.h>
#include <jwt.h>
#include <stddef.h>

#define JWKS_MAX_FILE_BYTES (1024 * 1024)
#define JWKS_RSA_MIN_BITS 2048

enum jwks_kty {
	JWKS_KTY_RSA = 1,
	JWKS_KTY_EC,
};

struct jwks_key {
	char *kid;		/* NULL when the JWK has none */
	enum jwks_kty kty;
	int bits;		/* RSA modulus bits; EC curve: 256, 384, 521 */
	jwt_alg_t alg;		/* the JWK's "alg", JWT_ALG_INVAL when absent */
	char *pem;		/* SubjectPublicKeyInfo PEM, as libjwt takes it */
	size_t pemlen;
};

struct jwks_result {
	struct jwks_key *keys;
	size_t nkeys;
	/* keys skipped, one line each */
	char **warnings;
	size_t nwarnings;
	/* NULL on success, else one line */
	char *error;
};

struct jwks_result jwks_load(const char *path);
struct jwks_result jwks_parse(const char *text, size_t len);
void jwks_result_free(struct jwks_result result);

/* One JWK into out. Returns 0, or -1 with the reason the key is unusable. */
int jwk_to_key(json_t *jwk, struct jwks_key *out, char *err, size_t errlen);
void jwk_key_clear(struct jwks_key *key);

/* Whether key may verify a token signed with alg. */
int jwks_key_fits(const struct jwks_key *key, jwt_alg_t alg);

#endif
