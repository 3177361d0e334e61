#include "auth/jwks.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/b64url.h"

static unsigned char *member_bytes(json_t *jwk, const char *name, size_t *len,
    char *err, size_t errlen);
static EVP_PKEY *rsa_from_jwk(json_t *jwk, int *bits, char *err, size_t errlen);
static EVP_PKEY *ec_from_jwk(json_t *jwk, int *bits, char *err, size_t errlen);
static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld,
    char *err, size_t errlen);
static char *pem_from_pkey(EVP_PKEY *pkey, size_t *len);

int
jwks_key_fits(const struct jwks_key *key, jwt_alg_t alg)
{
	if (key->alg != JWT_ALG_INVAL && key->alg != alg)
		return 0;
	switch (alg) {
	case JWT_ALG_RS256:
	case JWT_ALG_RS384:
	case JWT_ALG_RS512:
		return key->kty == JWKS_KTY_RSA;
	case JWT_ALG_ES256:
		return key->kty == JWKS_KTY_EC && key->bits == 256;
	case JWT_ALG_ES384:
		return key->kty == JWKS_KTY_EC && key->bits == 384;
	case JWT_ALG_ES512:
		return key->kty == JWKS_KTY_EC && key->bits == 521;
	default:
		return 0;
	}
}

int
jwk_to_key(json_t *jwk, struct jwks_key *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->alg = JWT_ALG_INVAL;
	if (!json_is_object(jwk)) {
		snprintf(err, errlen, "not a JSON object");
		return -1;
	}
	json_t *kid = json_object_get(jwk, "kid");
	if (kid != NULL && !json_is_string(kid)) {
		snprintf(err, errlen, "kid is not a string");
		return -1;
	}
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *use = json_string_value(json_object_get(jwk, "use"));
	json_t *alg = json_object_get(jwk, "alg");
	if (kty == NULL) {
		snprintf(err, errlen, "kty missing");
		return -1;
	}
	if (json_object_get(jwk, "use") != NULL && (use == NULL || strcmp(use, "sig") != 0)) {
		snprintf(err, errlen, "use is not \"sig\"");
		return -1;
	}
	if (alg != NULL) {
		const char *a = json_string_value(alg);
		out->alg = a != NULL ? jwt_str_alg(a) : JWT_ALG_INVAL;
		if (out->alg == JWT_ALG_INVAL || out->alg == JWT_ALG_NONE ||
		    out->alg == JWT_ALG_HS256 || out->alg == JWT_ALG_HS384 ||
		    out->alg == JWT_ALG_HS512) {
			snprintf(err, errlen, "alg %s not supported", a ? a : "(not a string)");
			return -1;
		}
	}
	EVP_PKEY *pkey;
	if (strcmp(kty, "RSA") == 0) {
		out->kty = JWKS_KTY_RSA;
		pkey = rsa_from_jwk(jwk, &out->bits, err, errlen);
	} else if (strcmp(kty, "EC") == 0) {
		out->kty = JWKS_KTY_EC;
		pkey = ec_from_jwk(jwk, &out->bits, err, errlen);
	} else {
		snprintf(err, errlen, "key type %s not supported", kty);
		return -1;
	}
	if (pkey == NULL)
		return -1;
	if (out->alg != JWT_ALG_INVAL && !jwks_key_fits(out, out->alg)) {
		EVP_PKEY_free(pkey);
		snprintf(err, errlen, "alg %s does not fit a %s key", jwt_alg_str(out->alg), kty);
		return -1;
	}
	out->pem = pem_from_pkey(pkey, &out->pemlen);
	EVP_PKEY_free(pkey);
	if (kid != NULL)
		out->kid = strdup(json_string_value(kid));
	if (out->pem == NULL || (kid != NULL && out->kid == NULL)) {
		jwk_key_clear(out);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void
jwk_key_clear(struct jwks_key *key)
{
	free(key->kid);
	free(key->pem);
	memset(key, 0, sizeof *key);
}

static unsigned char *
member_bytes(json_t *jwk, const char *name, size_t *len, char *err, size_t errlen)
{
	json_t *m = json_object_get(jwk, name);
	const char *s = json_string_value(m);
	unsigned char *b = s != NULL ? b64url_decode(s, json_string_length(m), len) : NULL;
	if (b == NULL || *len == 0) {
		free(b);
		snprintf(err, errlen, "%s missing or not base64url", name);
		return NULL;
	}
	return b;
}

static EVP_PKEY *
rsa_from_jwk(json_t *jwk, int *bits, char *err, size_t errlen)
{
	size_t nlen, elen;
	unsigned char *n = member_bytes(jwk, "n", &nlen, err, errlen);
	unsigned char *e = member_bytes(jwk, "e", &elen, err, errlen);
	EVP_PKEY *pkey = NULL;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	if (n == NULL || e == NULL)
		goto out;
	if (elen > 8 || !(e[elen - 1] & 1)) {
		snprintf(err, errlen, "e is not a plausible public exponent");
		goto out;
	}
	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (bn == NULL || be == NULL || bld == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	*bits = BN_num_bits(bn);
	if (*bits < JWKS_RSA_MIN_BITS) {
		snprintf(err, errlen, "RSA key of %d bits is shorter than %d",
		    *bits, JWKS_RSA_MIN_BITS);
		goto out;
	}
	pkey = pkey_from_params("RSA", bld, err, errlen);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return pkey;
}

static EVP_PKEY *
ec_from_jwk(json_t *jwk, int *bits, char *err, size_t errlen)
{
	static const struct {
		const char *crv;
		const char *group;
		int bits;
		size_t len;
	} curves[] = {
		{ "P-256", "prime256v1", 256, 32 },
		{ "P-384", "secp384r1", 384, 48 },
		{ "P-521", "secp521r1", 521, 66 },
	};
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	size_t c;
	for (c = 0; c < sizeof curves / sizeof curves[0]; c++)
		if (crv != NULL && strcmp(crv, curves[c].crv) == 0)
			break;
	if (c == sizeof curves / sizeof curves[0]) {
		snprintf(err, errlen, "curve %s not supported", crv ? crv : "(missing)");
		return NULL;
	}
	size_t xlen, ylen;
	unsigned char *x = member_bytes(jwk, "x", &xlen, err, errlen);
	unsigned char *y = member_bytes(jwk, "y", &ylen, err, errlen);
	unsigned char *pt = malloc(1 + 2 * curves[c].len);
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;
	if (x == NULL || y == NULL || pt == NULL)
		goto out;
	if (xlen != curves[c].len || ylen != curves[c].len) {
		snprintf(err, errlen, "x or y is not %zu bytes long for %s",
		    curves[c].len, crv);
		goto out;
	}
	pt[0] = 0x04;
	memcpy(pt + 1, x, xlen);
	memcpy(pt + 1 + xlen, y, ylen);
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    curves[c].group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
	    1 + 2 * curves[c].len)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	*bits = curves[c].bits;
	pkey = pkey_from_params("EC", bld, err, errlen);
out:
	OSSL_PARAM_BLD_free(bld);
	free(pt);
	free(x);
	free(y);
	return pkey;
}

static EVP_PKEY *
pkey_from_params(const char *type, OSSL_PARAM_BLD *bld, char *err, size_t errlen)
{
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY_CTX *check = NULL;
	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		snprintf(err, errlen, "%s key rejected by OpenSSL", type);
		ERR_clear_error();
		goto out;
	}
	check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (check == NULL || EVP_PKEY_public_check(check) <= 0) {
		snprintf(err, errlen, "%s public key fails validation", type);
		ERR_clear_error();
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static char *
pem_from_pkey(EVP_PKEY *pkey, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *out = NULL;
	if (bio != NULL && PEM_write_bio_PUBKEY(bio, pkey) == 1) {
		char *data;
		long n = BIO_get_mem_data(bio, &data);
		out = n > 0 ? malloc((size_t)n + 1) : NULL;
		if (out != NULL) {
			memcpy(out, data, (size_t)n);
			out[n] = '\0';
			*len = (size_t)n;
		}
	}
	BIO_free(bio);
	return out;
}
