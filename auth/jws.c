#include "auth/jws.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "auth/b64url.h"

static const EVP_MD *jws_digest(jwt_alg_t alg, size_t *eclen);
static int jws_check(const unsigned char *in, size_t inlen,
    const unsigned char *sig, size_t siglen, jwt_alg_t alg,
    const unsigned char *key, size_t keylen);
static unsigned char *jws_ec_der(const unsigned char *sig, size_t siglen,
    size_t eclen, size_t *derlen);

int
jws_verify(const char *token, size_t len, jwt_alg_t alg,
    const unsigned char *key, size_t keylen)
{
	const char *dot = memrchr(token, '.', len);
	if (dot == NULL || dot == token)
		return -1;
	size_t siglen;
	unsigned char *sig = b64url_decode(dot + 1, len - (size_t)(dot + 1 - token), &siglen);
	if (sig == NULL)
		return -1;
	int rc = jws_check((const unsigned char *)token, (size_t)(dot - token),
	    sig, siglen, alg, key, keylen);
	free(sig);
	return rc;
}

static const EVP_MD *
jws_digest(jwt_alg_t alg, size_t *eclen)
{
	*eclen = 0;
	switch (alg) {
	case JWT_ALG_RS256: case JWT_ALG_HS256: return EVP_sha256();
	case JWT_ALG_RS384: case JWT_ALG_HS384: return EVP_sha384();
	case JWT_ALG_RS512: case JWT_ALG_HS512: return EVP_sha512();
	case JWT_ALG_ES256: *eclen = 32; return EVP_sha256();
	case JWT_ALG_ES384: *eclen = 48; return EVP_sha384();
	case JWT_ALG_ES512: *eclen = 66; return EVP_sha512();
	default: return NULL;
	}
}

static int
jws_check(const unsigned char *in, size_t inlen, const unsigned char *sig,
    size_t siglen, jwt_alg_t alg, const unsigned char *key, size_t keylen)
{
	size_t eclen;
	const EVP_MD *md = jws_digest(alg, &eclen);
	if (md == NULL)
		return -1;
	if (alg == JWT_ALG_HS256 || alg == JWT_ALG_HS384 || alg == JWT_ALG_HS512) {
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int maclen = 0;
		if (HMAC(md, key, (int)keylen, in, inlen, mac, &maclen) == NULL)
			return -1;
		return maclen == siglen && CRYPTO_memcmp(mac, sig, siglen) == 0 ? 0 : -1;
	}
	BIO *bio = BIO_new_mem_buf(key, (int)keylen);
	EVP_PKEY *pkey = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (pkey == NULL)
		return -1;
	int want = eclen != 0 ? EVP_PKEY_EC : EVP_PKEY_RSA;
	unsigned char *der = NULL;
	size_t derlen = siglen;
	if (eclen != 0)
		der = jws_ec_der(sig, siglen, eclen, &derlen);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = EVP_PKEY_get_base_id(pkey) == want && ctx != NULL &&
	    (eclen == 0 || der != NULL) &&
	    EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey) == 1 &&
	    EVP_DigestVerify(ctx, der != NULL ? der : sig, derlen, in, inlen) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
	return ok ? 0 : -1;
}

/* JWS ECDSA signatures are r || s, each eclen bytes (RFC 7518 section 3.4);
 * OpenSSL wants DER. */
static unsigned char *
jws_ec_der(const unsigned char *sig, size_t siglen, size_t eclen, size_t *derlen)
{
	if (siglen != 2 * eclen)
		return NULL;
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)eclen, NULL);
	BIGNUM *s = BN_bin2bn(sig + eclen, (int)eclen, NULL);
	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return NULL;
	}
	unsigned char *der = NULL;
	int n = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return NULL;
	*derlen = (size_t)n;
	return der;
}
