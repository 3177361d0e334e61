#include <check.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/b64url.h"
#include "auth/config.h"
#include "auth/jwks.h"
#include "auth/service.h"
#include "auth/token.h"

#define ISS "https://issuer.test"
#define AUD "pgward"
#define SECRET "0123456789abcdef0123456789abcdef-hmac"

static EVP_PKEY *rsa1, *rsa2, *ec1;
static char *rsa1_priv, *rsa2_priv, *ec1_priv;
static char dir[] = "/tmp/test_auth.XXXXXX";
static char jwks_path[256], conf_path[256], secret_path[256];
static long long now;

static char *
pem_private(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	char *data;
	long n = BIO_get_mem_data(b, &data);
	char *s = strndup(data, (size_t)n);
	BIO_free(b);
	return s;
}

static char *
bn_b64(EVP_PKEY *k, const char *param, int pad)
{
	BIGNUM *bn = NULL;
	ck_assert(EVP_PKEY_get_bn_param(k, param, &bn));
	int n = pad ? pad : BN_num_bytes(bn);
	unsigned char buf[1024];
	BN_bn2binpad(bn, buf, n);
	BN_free(bn);
	return b64url_encode(buf, (size_t)n);
}

static json_t *
jwk_of(EVP_PKEY *k, const char *kid)
{
	json_t *j;
	if (EVP_PKEY_is_a(k, "RSA")) {
		char *n = bn_b64(k, OSSL_PKEY_PARAM_RSA_N, 0);
		char *e = bn_b64(k, OSSL_PKEY_PARAM_RSA_E, 0);
		j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "RSA", "kid", kid, "n", n, "e", e);
		free(n);
		free(e);
	} else {
		char *x = bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		char *y = bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
		j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "kid", kid,
		    "crv", "P-256", "x", x, "y", y);
		free(x);
		free(y);
	}
	return j;
}

static void
file_write(const char *path, const char *text, mode_t mode)
{
	char tmp[300];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	chmod(tmp, mode);
	ck_assert_int_eq(rename(tmp, path), 0);
}

static void
jwks_write(json_t *keys)
{
	json_t *root = json_pack("{s:o}", "keys", keys);
	char *s = json_dumps(root, 0);
	file_write(jwks_path, s, 0644);
	free(s);
	json_decref(root);
}

static void
setup_once(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", dir);
	snprintf(conf_path, sizeof conf_path, "%s/auth.conf", dir);
	snprintf(secret_path, sizeof secret_path, "%s/hmac.secret", dir);
	rsa1 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert(rsa1 && rsa2 && ec1);
	rsa1_priv = pem_private(rsa1);
	rsa2_priv = pem_private(rsa2);
	ec1_priv = pem_private(ec1);
	file_write(secret_path, SECRET "\n", 0600);
}

static void
teardown_once(void)
{
	EVP_PKEY_free(rsa1);
	EVP_PKEY_free(rsa2);
	EVP_PKEY_free(ec1);
	free(rsa1_priv);
	free(rsa2_priv);
	free(ec1_priv);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Per test: the standard JWKS (rsa1, ec1) and now. */
static void
setup(void)
{
	now = (long long)time(NULL);
	jwks_write(json_pack("[o, o]", jwk_of(rsa1, "rsa1"), jwk_of(ec1, "ec1")));
}

static struct auth_config_result
config_with(const char *extra)
{
	char text[2048];
	snprintf(text, sizeof text, "jwks %s\nissuer " ISS "\naudience " AUD "\n%s\n",
	    jwks_path, extra);
	file_write(conf_path, text, 0644);
	return auth_config_load(conf_path);
}

static json_t *
claims_std(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:[s], s:I, s:I}", "iss", ISS,
	    "aud", AUD, "sub", "alice-sub", "preferred_username", "alice",
	    "groups", "analysts", "iat", (json_int_t)now, "exp", (json_int_t)(now + 600));
}

/* Signs claims (stolen) with libjwt. */
static char *
sign(jwt_alg_t alg, const char *key, size_t keylen, const char *kid, json_t *claims)
{
	jwt_t *jwt;
	ck_assert_int_eq(jwt_new(&jwt), 0);
	char *s = json_dumps(claims, JSON_COMPACT);
	ck_assert_int_eq(jwt_add_grants_json(jwt, s), 0);
	free(s);
	json_decref(claims);
	if (kid != NULL)
		ck_assert_int_eq(jwt_add_header(jwt, "kid", kid), 0);
	ck_assert_int_eq(jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)keylen), 0);
	char *tok = jwt_encode_str(jwt);
	ck_assert_ptr_nonnull(tok);
	jwt_free(jwt);
	return tok;
}

static char *
sign_rs(const char *kid, json_t *claims)
{
	return sign(JWT_ALG_RS256, rsa1_priv, strlen(rsa1_priv), kid, claims);
}

/* A token from literal header and payload JSON, RS256-signed with rsa1
 * over exactly those bytes (libjwt cannot write duplicates or crit). */
static char *
sign_raw(const char *header, const char *payload)
{
	char *h = b64url_encode((const unsigned char *)header, strlen(header));
	char *p = b64url_encode((const unsigned char *)payload, strlen(payload));
	char *input = malloc(strlen(h) + strlen(p) + 2);
	sprintf(input, "%s.%s", h, p);
	free(h);
	free(p);
	unsigned char sig[512];
	size_t siglen = sizeof sig;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ck_assert(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, rsa1) == 1);
	ck_assert(EVP_DigestSign(md, sig, &siglen, (unsigned char *)input, strlen(input)) == 1);
	EVP_MD_CTX_free(md);
	char *s = b64url_encode(sig, siglen);
	char *tok = malloc(strlen(input) + strlen(s) + 2);
	sprintf(tok, "%s.%s", input, s);
	free(s);
	free(input);
	return tok;
}

/* Verifies tok (freed) against the config plus extra and the JWKS file. */
static struct token_result
check_with(const char *extra, char *tok)
{
	struct auth_config_result c = config_with(extra);
	ck_assert_msg(c.error == NULL, "config: %s", c.error);
	struct jwks_result k = jwks_load(jwks_path);
	ck_assert_msg(k.error == NULL, "jwks: %s", k.error);
	struct token_result r = token_verify(c.config, &k, tok, strlen(tok), now);
	free(tok);
	jwks_result_free(k);
	auth_config_result_free(c);
	return r;
}

static const char *
hmac_conf(const char *algs)
{
	static char buf[512];
	snprintf(buf, sizeof buf, "algorithms %s\nhmac-secret-file %s", algs, secret_path);
	return buf;
}

static void
refused(char *tok, const char *extra, const char *reason)
{
	struct token_result r = check_with(extra, tok);
	ck_assert_msg(r.error != NULL, "accepted, expected: %s", reason);
	ck_assert_msg(strstr(r.error, reason) != NULL, "refused with \"%s\", "
	    "expected \"%s\"", r.error, reason);
	ck_assert_ptr_null(r.user);
	token_result_free(r);
}

static struct token_result
accepted(char *tok, const char *extra)
{
	struct token_result r = check_with(extra, tok);
	ck_assert_msg(r.error == NULL, "refused: %s", r.error);
	return r;
}

START_TEST(rs256_ok)
{
	struct token_result r = accepted(sign_rs("rsa1", claims_std()), "");
	ck_assert_str_eq(r.user, "alice");
	ck_assert_uint_eq(r.ngroups, 1);
	ck_assert_str_eq(r.groups[0], "analysts");
	ck_assert_int_eq(r.exp, now + 600);
	ck_assert_str_eq(r.iss, ISS);
	ck_assert_str_eq(r.sub, "alice-sub");
	ck_assert_str_eq(r.kid, "rsa1");
	token_result_free(r);
}
END_TEST

START_TEST(es256_ok)
{
	struct token_result r = accepted(sign(JWT_ALG_ES256, ec1_priv,
	    strlen(ec1_priv), "ec1", claims_std()), "");
	ck_assert_str_eq(r.user, "alice");
	ck_assert_str_eq(r.kid, "ec1");
	token_result_free(r);
}
END_TEST

START_TEST(expired)
{
	json_t *c = claims_std();
	json_object_set_new(c, "exp", json_integer(now - 35));
	refused(sign_rs("rsa1", c), "leeway-s 30", "expired 35s ago");
	c = claims_std();
	json_object_set_new(c, "exp", json_integer(now - 20));
	token_result_free(accepted(sign_rs("rsa1", c), "leeway-s 30"));
}
END_TEST

START_TEST(nbf_future)
{
	json_t *c = claims_std();
	json_object_set_new(c, "nbf", json_integer(now + 120));
	refused(sign_rs("rsa1", c), "", "not valid before");
}
END_TEST

START_TEST(iat_future)
{
	json_t *c = claims_std();
	json_object_set_new(c, "iat", json_integer(now + 120));
	refused(sign_rs("rsa1", c), "", "in the future");
}
END_TEST

START_TEST(wrong_iss)
{
	json_t *c = claims_std();
	json_object_set_new(c, "iss", json_string(ISS "/"));
	refused(sign_rs("rsa1", c), "", "wrong issuer");
}
END_TEST

START_TEST(wrong_aud)
{
	json_t *c = claims_std();
	json_object_set_new(c, "aud", json_string("other"));
	refused(sign_rs("rsa1", c), "", "wrong audience");
	c = claims_std();
	json_object_set_new(c, "aud", json_pack("[s, s]", "a", "b"));
	refused(sign_rs("rsa1", c), "", "not in aud array");
	c = claims_std();
	json_object_del(c, "aud");
	refused(sign_rs("rsa1", c), "", "no aud");
}
END_TEST

START_TEST(aud_array_ok)
{
	json_t *c = claims_std();
	json_object_set_new(c, "aud", json_pack("[s, s]", "other", AUD));
	token_result_free(accepted(sign_rs("rsa1", c), ""));
}
END_TEST

START_TEST(alg_none)
{
	char payload[512];
	snprintf(payload, sizeof payload, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD
	    "\",\"sub\":\"a\",\"preferred_username\":\"a\",\"exp\":%lld}", now + 600);
	char *h = b64url_encode((const unsigned char *)"{\"alg\":\"none\",\"kid\":\"rsa1\"}", 27);
	char *p = b64url_encode((const unsigned char *)payload, strlen(payload));
	char *tok = malloc(strlen(h) + strlen(p) + 16);
	sprintf(tok, "%s.%s.", h, p);
	refused(strdup(tok), "", "malformed");
	strcat(tok, "AAAA");
	refused(tok, "", "alg none refused");
	free(h);
	free(p);
}
END_TEST

START_TEST(hs256_with_rsa_public_key)
{
	struct jwks_result k = jwks_load(jwks_path);
	ck_assert_ptr_null(k.error);
	const char *pem = k.keys[0].pem;
	ck_assert_str_eq(k.keys[0].kid, "rsa1");
	char *tok = sign(JWT_ALG_HS256, pem, k.keys[0].pemlen, "rsa1", claims_std());
	/* The attack is real: libjwt alone accepts it with the PEM as key. */
	jwt_t *jwt = NULL;
	ck_assert_int_eq(jwt_decode(&jwt, tok, (const unsigned char *)pem,
	    (int)k.keys[0].pemlen), 0);
	jwt_free(jwt);
	jwks_result_free(k);
	refused(strdup(tok), "", "alg HS256 not in algorithms");
	refused(tok, hmac_conf("RS256,HS256"), "bad signature");
}
END_TEST

START_TEST(hs256_secret)
{
	const char *key = SECRET;
	char *tok = sign(JWT_ALG_HS256, key, strlen(key), NULL, claims_std());
	struct token_result r = accepted(strdup(tok), hmac_conf("RS256,HS256"));
	ck_assert_str_eq(r.user, "alice");
	token_result_free(r);
	refused(strdup(tok), "", "alg HS256 not in algorithms");
	refused(strdup(tok), hmac_conf("RS256"), "alg HS256 not in algorithms");
	free(tok);
	struct auth_config_result c = config_with("algorithms RS256,HS256");
	ck_assert_ptr_nonnull(c.error);
	ck_assert_ptr_nonnull(strstr(c.error, "hmac-secret-file is not set"));
	auth_config_result_free(c);
}
END_TEST

START_TEST(unknown_kid)
{
	refused(sign_rs("nope", claims_std()), "", "unknown kid nope");
}
END_TEST

START_TEST(key_alg_mismatch)
{
	/* An EC-signed token naming the RSA key, and the other way round. */
	refused(sign(JWT_ALG_ES256, ec1_priv, strlen(ec1_priv), "rsa1", claims_std()),
	    "", "does not fit alg ES256");
	refused(sign_rs("ec1", claims_std()), "", "does not fit alg RS256");
	refused(sign(JWT_ALG_ES384, ec1_priv, strlen(ec1_priv), "ec1", claims_std()),
	    "algorithms ES256,ES384", "does not fit alg ES384");
}
END_TEST

START_TEST(wrong_signing_key)
{
	refused(sign(JWT_ALG_RS256, rsa2_priv, strlen(rsa2_priv), "rsa1", claims_std()),
	    "", "bad signature");
}
END_TEST

START_TEST(tampered_payload)
{
	char *tok = sign_rs("rsa1", claims_std());
	json_t *c = claims_std();
	json_object_set_new(c, "preferred_username", json_string("root"));
	char *evil = sign(JWT_ALG_RS256, rsa2_priv, strlen(rsa2_priv), "rsa1", c);
	/* evil's payload with tok's header and signature */
	char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
	char *e1 = strchr(evil, '.'), *e2 = strrchr(evil, '.');
	char *mix = malloc(strlen(tok) + strlen(evil));
	sprintf(mix, "%.*s%.*s%s", (int)(d1 - tok), tok, (int)(e2 - e1), e1, d2);
	refused(mix, "", "bad signature");
	free(tok);
	free(evil);
}
END_TEST

START_TEST(bad_base64)
{
	char *tok = sign_rs("rsa1", claims_std());
	char *d1 = strchr(tok, '.');
	d1[3] = '*';
	refused(strdup(tok), "", "malformed token: payload");
	d1[3] = '+';
	refused(strdup(tok), "", "malformed token: payload");
	free(tok);
	tok = sign_rs("rsa1", claims_std());
	char *t2 = realloc(tok, strlen(tok) + 3);
	strcat(t2, "==");
	refused(t2, "", "malformed token: signature");
	refused(strdup("a.b"), "", "three dot-separated");
	refused(strdup("a.b.c.d.e"), "", "three dot-separated");
	refused(strdup(""), "", "three dot-separated");
}
END_TEST

START_TEST(huge_token)
{
	size_t n = 1024 * 1024;
	char *tok = malloc(n + 1);
	memset(tok, 'A', n);
	tok[100] = '.';
	tok[n - 100] = '.';
	tok[n] = '\0';
	refused(tok, "", "longer than max-token-bytes 16384");
}
END_TEST

START_TEST(missing_exp)
{
	json_t *c = claims_std();
	json_object_del(c, "exp");
	refused(sign_rs("rsa1", c), "", "no exp claim");
	c = claims_std();
	json_object_set_new(c, "exp", json_string("tomorrow"));
	refused(sign_rs("rsa1", c), "", "exp is not a NumericDate");
}
END_TEST

START_TEST(groups_claim)
{
	json_t *c = claims_std();
	json_object_del(c, "groups");
	struct token_result r = accepted(sign_rs("rsa1", c), "");
	ck_assert_uint_eq(r.ngroups, 0);
	token_result_free(r);
	c = claims_std();
	json_object_set_new(c, "groups", json_string("dba"));
	r = accepted(sign_rs("rsa1", c), "");
	ck_assert_uint_eq(r.ngroups, 1);
	ck_assert_str_eq(r.groups[0], "dba");
	token_result_free(r);
	c = claims_std();
	json_object_set_new(c, "roles", json_pack("[s, s, s]", "a", "b", "c"));
	r = accepted(sign_rs("rsa1", c), "groups-claim roles");
	ck_assert_uint_eq(r.ngroups, 3);
	ck_assert_str_eq(r.groups[2], "c");
	token_result_free(r);
	c = claims_std();
	json_object_set_new(c, "groups", json_pack("[s, i]", "a", 1));
	refused(sign_rs("rsa1", c), "", "non-string");
	c = claims_std();
	json_object_set_new(c, "groups", json_integer(7));
	refused(sign_rs("rsa1", c), "", "neither a string nor an array");
}
END_TEST

START_TEST(user_claim_fallback)
{
	const char *conf = "user-claim preferred_username,email,sub";
	json_t *c = claims_std();
	json_object_del(c, "preferred_username");
	json_object_set_new(c, "email", json_string("alice@example.com"));
	struct token_result r = accepted(sign_rs("rsa1", c), conf);
	ck_assert_str_eq(r.user, "alice@example.com");
	token_result_free(r);
	c = claims_std();
	json_object_set_new(c, "preferred_username", json_integer(5));
	r = accepted(sign_rs("rsa1", c), conf);
	ck_assert_str_eq(r.user, "alice-sub");
	token_result_free(r);
	c = claims_std();
	json_object_del(c, "preferred_username");
	refused(sign_rs("rsa1", c), "", "no user claim");
	c = claims_std();
	json_object_set_new(c, "preferred_username", json_string("al\nice"));
	refused(sign_rs("rsa1", c), "", "control characters");
}
END_TEST

START_TEST(no_kid)
{
	token_result_free(accepted(sign_rs(NULL, claims_std()), ""));
	jwks_write(json_pack("[o, o]", jwk_of(rsa1, "rsa1"), jwk_of(rsa2, "rsa2")));
	refused(sign_rs(NULL, claims_std()), "", "no kid and the JWKS holds 2 keys");
	token_result_free(accepted(sign_rs("rsa1", claims_std()), ""));
}
END_TEST

START_TEST(duplicate_kid)
{
	jwks_write(json_pack("[o, o]", jwk_of(rsa1, "k"), jwk_of(rsa2, "k")));
	refused(sign_rs("k", claims_std()), "", "names 2 keys");
}
END_TEST

START_TEST(raw_headers)
{
	char payload[512];
	snprintf(payload, sizeof payload, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD
	    "\",\"sub\":\"a\",\"preferred_username\":\"a\",\"exp\":%lld}", now + 600);
	token_result_free(accepted(sign_raw("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
	    payload), ""));
	/* RFC 9068 access tokens (oidc-provider, Okta): libjwt refused them. */
	token_result_free(accepted(sign_raw("{\"alg\":\"RS256\",\"typ\":\"at+jwt\","
	    "\"kid\":\"rsa1\"}", payload), ""));
	char *bad = sign_raw("{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"rsa1\"}", payload);
	char *last = bad + strlen(bad) - 2;
	*last = *last == 'A' ? 'B' : 'A';
	refused(bad, "", "bad signature (RS256)");
	refused(sign_raw("{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"kid\":\"ec1\"}", payload),
	    "", "malformed token: header");
	refused(sign_raw("{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"crit\":[\"x\"],\"x\":1}",
	    payload), "", "crit");
	refused(sign_raw("{\"alg\":\"PS256\",\"kid\":\"rsa1\"}", payload), "",
	    "alg PS256 not supported");
	refused(sign_raw("{\"alg\":\"RS256\",\"kid\":7}", payload), "", "kid is not a string");
	char dup[600];
	snprintf(dup, sizeof dup, "{\"preferred_username\":\"root\",%s", payload + 1);
	refused(sign_raw("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", dup), "",
	    "malformed token: payload");
	refused(sign_raw("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", "[1]"), "",
	    "malformed token: payload");
}
END_TEST

static void
config_error(const char *text, const char *expect)
{
	file_write(conf_path, text, 0644);
	struct auth_config_result c = auth_config_load(conf_path);
	ck_assert_msg(c.error != NULL, "accepted config, expected %s", expect);
	ck_assert_ptr_null(c.config);
	ck_assert_msg(strstr(c.error, expect) != NULL, "\"%s\" lacks \"%s\"", c.error, expect);
	auth_config_result_free(c);
}

START_TEST(config_errors)
{
	config_error("issuer x\nfoo bar\n", "auth.conf:2: unknown key \"foo\"");
	config_error("issuer x\nleeway-s abc\n", ":2: leeway-s: expected an integer");
	config_error("max-token-bytes 99999999\n", ":1: max-token-bytes: expected an integer");
	config_error("algorithms RS256,PS256\n", "not supported by this libjwt");
	config_error("algorithms RS256,XX1\n", "unknown algorithm \"XX1\"");
	config_error("issuer a\nissuer b\n", ":2: duplicate key \"issuer\"");
	config_error("audience a\njwks /x\n", "issuer is required");
	config_error("issuer a\njwks /x\n", "audience is required");
	config_error("user-claim a,,b\n", "user-claim");
	config_error("issuer\n", ":1: issuer: missing value");
	chmod(secret_path, 0644);
	struct auth_config_result c = config_with(hmac_conf("HS256"));
	chmod(secret_path, 0600);
	ck_assert_ptr_nonnull(c.error);
	ck_assert_ptr_nonnull(strstr(c.error, "too open"));
	auth_config_result_free(c);
}
END_TEST

START_TEST(config_defaults)
{
	struct auth_config_result c = config_with("");
	ck_assert_ptr_null(c.error);
	char algs[128];
	auth_config_format_algorithms(c.config->algorithms, algs, sizeof algs);
	ck_assert_str_eq(algs, "RS256,ES256");
	ck_assert_int_eq(c.config->leeway_s, 30);
	ck_assert_int_eq(c.config->max_token_bytes, 16384);
	ck_assert_uint_eq(c.config->user_claims.n, 1);
	ck_assert_str_eq(c.config->user_claims.v[0], "preferred_username");
	ck_assert_str_eq(c.config->groups_claim, "groups");
	ck_assert_ptr_null(c.config->hmac_secret);
	auth_config_result_free(c);
	c = config_with(hmac_conf("HS512"));
	ck_assert_msg(c.error == NULL, "%s", c.error);
	ck_assert_uint_eq(c.config->hmac_secret_len, strlen(SECRET));
	auth_config_result_free(c);
}
END_TEST

/* --- the actor chain (RFC 8693), the client, the principal kind --- */

/* A chain of act objects, outermost first: subs[i] with clients[i]
 * (NULL: none). */
static json_t *
act_chain(const char *const *subs, const char *const *clients, size_t n)
{
	json_t *inner = NULL;
	for (size_t i = n; i-- > 0;) {
		json_t *a = json_pack("{s:s}", "sub", subs[i]);
		if (clients != NULL && clients[i] != NULL)
			json_object_set_new(a, "client_id", json_string(clients[i]));
		if (inner != NULL)
			json_object_set_new(a, "act", inner);
		inner = a;
	}
	return inner;
}

START_TEST(person_has_no_actor)
{
	struct token_result r = accepted(sign_rs("rsa1", claims_std()), "");
	ck_assert_int_eq(r.agent, 0);
	ck_assert_uint_eq(r.nactors, 0);
	ck_assert_ptr_null(r.client_id);
	token_result_free(r);
}
END_TEST

START_TEST(delegated_chain)
{
	static const char *const subs[] = { "ci-bot", "deploy-svc" };
	static const char *const clients[] = { "pgward-ci", NULL };
	json_t *c = claims_std();
	json_object_set_new(c, "sub", json_string("bob"));
	json_object_set_new(c, "azp", json_string("pgward-ci"));
	json_object_set_new(c, "act", act_chain(subs, clients, 2));
	struct token_result r = accepted(sign_rs("rsa1", c), "");
	ck_assert_int_eq(r.agent, 0);
	ck_assert_uint_eq(r.nactors, 2);
	ck_assert_str_eq(r.actors[0].sub, "ci-bot");
	ck_assert_str_eq(r.actors[0].client_id, "pgward-ci");
	ck_assert_str_eq(r.actors[1].sub, "deploy-svc");
	ck_assert_ptr_null(r.actors[1].client_id);
	ck_assert_str_eq(r.client_id, "pgward-ci");
	ck_assert_str_eq(r.sub, "bob");
	token_result_free(r);

	/* Members of act other than sub, the client claims and act are
	 * ignored (RFC 8693 allows iss and more). */
	c = claims_std();
	json_object_set_new(c, "act", json_pack("{s:s, s:s, s:i}", "sub", "agent-1",
	    "iss", "https://elsewhere", "n", 4));
	r = accepted(sign_rs("rsa1", c), "");
	ck_assert_uint_eq(r.nactors, 1);
	ck_assert_str_eq(r.actors[0].sub, "agent-1");
	token_result_free(r);
}
END_TEST

START_TEST(azp_or_client_id)
{
	json_t *c = claims_std();
	json_object_set_new(c, "azp", json_string("from-azp"));
	json_object_set_new(c, "client_id", json_string("from-client-id"));
	struct token_result r = accepted(sign_rs("rsa1", json_incref(c)), "");
	ck_assert_str_eq(r.client_id, "from-azp");
	token_result_free(r);
	r = accepted(sign_rs("rsa1", json_incref(c)), "client-claim client_id,azp");
	ck_assert_str_eq(r.client_id, "from-client-id");
	token_result_free(r);
	/* Entra ID v1 tokens name the client appid. */
	json_object_set_new(c, "appid", json_string("from-appid"));
	r = accepted(sign_rs("rsa1", json_incref(c)), "client-claim appid");
	ck_assert_str_eq(r.client_id, "from-appid");
	token_result_free(r);
	json_object_del(c, "azp");
	r = accepted(sign_rs("rsa1", c), "");
	ck_assert_str_eq(r.client_id, "from-client-id");
	token_result_free(r);
}
END_TEST

START_TEST(actor_claim_configurable)
{
	static const char *const subs[] = { "outer", "inner" };
	json_t *c = claims_std();
	json_t *chain = act_chain(subs, NULL, 2);
	json_t *inner = json_object_get(chain, "act");
	json_object_set(chain, "xact", inner);
	json_object_del(chain, "act");
	json_object_set_new(c, "xact", chain);
	json_object_set_new(c, "act", json_string("not looked at"));
	struct token_result r = accepted(sign_rs("rsa1", c), "actor-claim xact");
	ck_assert_uint_eq(r.nactors, 2);
	ck_assert_str_eq(r.actors[0].sub, "outer");
	ck_assert_str_eq(r.actors[1].sub, "inner");
	token_result_free(r);
}
END_TEST

START_TEST(agent_rules)
{
	/* The default: a client-credentials grant (gty, as Auth0 writes it)
	 * or a sub equal to the client id (Okta, RFC 9068) is an agent. */
	json_t *c = claims_std();
	json_object_set_new(c, "gty", json_string("client-credentials"));
	struct token_result r = accepted(sign_rs("rsa1", c), "");
	ck_assert_int_eq(r.agent, 1);
	token_result_free(r);
	c = claims_std();
	json_object_set_new(c, "sub", json_string("svc-etl"));
	json_object_set_new(c, "client_id", json_string("svc-etl"));
	r = accepted(sign_rs("rsa1", json_incref(c)), "");
	ck_assert_int_eq(r.agent, 1);
	ck_assert_str_eq(r.client_id, "svc-etl");
	token_result_free(r);
	/* none: every token names a person. */
	r = accepted(sign_rs("rsa1", json_incref(c)), "agent-rule none");
	ck_assert_int_eq(r.agent, 0);
	token_result_free(r);
	/* A glob on a claim: Keycloak's service accounts, Entra's idtyp. */
	r = accepted(sign_rs("rsa1", c), "agent-rule sub=svc-*");
	ck_assert_int_eq(r.agent, 1);
	token_result_free(r);
	c = claims_std();
	json_object_set_new(c, "idtyp", json_string("app"));
	r = accepted(sign_rs("rsa1", json_incref(c)), "agent-rule idtyp=app");
	ck_assert_int_eq(r.agent, 1);
	token_result_free(r);
	r = accepted(sign_rs("rsa1", json_incref(c)), "agent-rule idtyp=user");
	ck_assert_int_eq(r.agent, 0);
	token_result_free(r);
	/* Not a string: the rule does not hold. */
	json_object_set_new(c, "idtyp", json_integer(1));
	r = accepted(sign_rs("rsa1", c), "agent-rule idtyp=*");
	ck_assert_int_eq(r.agent, 0);
	token_result_free(r);
	/* A person with a client that is not the sub. */
	c = claims_std();
	json_object_set_new(c, "azp", json_string("psql-wrapper"));
	r = accepted(sign_rs("rsa1", c), "");
	ck_assert_int_eq(r.agent, 0);
	token_result_free(r);
}
END_TEST

static void
act_refused(json_t *act, const char *extra, const char *reason)
{
	json_t *c = claims_std();
	json_object_set_new(c, "act", act);
	refused(sign_rs("rsa1", c), extra, reason);
}

START_TEST(hostile_act)
{
	act_refused(json_string("ci-bot"), "", "act at depth 1: not an object");
	act_refused(json_pack("[{s:s}]", "sub", "ci-bot"), "", "act at depth 1: not an object");
	act_refused(json_null(), "", "act at depth 1: not an object");
	act_refused(json_integer(7), "", "act at depth 1: not an object");
	act_refused(json_object(), "", "act at depth 1: sub is not a string");
	act_refused(json_pack("{s:i}", "sub", 42), "", "act at depth 1: sub is not a string");
	act_refused(json_pack("{s:[s]}", "sub", "x"), "", "act at depth 1: sub is not a string");
	act_refused(json_pack("{s:s}", "sub", ""), "", "act at depth 1: sub is not a string");
	act_refused(json_pack("{s:s}", "sub", "bad\nname"), "", "sub is not a string");
	act_refused(json_pack("{s:s, s:s}", "sub", "a", "act", "b"), "",
	    "act at depth 2: not an object");
	act_refused(json_pack("{s:s, s:{s:b}}", "sub", "a", "act", "sub", 1), "",
	    "act at depth 2: sub is not a string");
	act_refused(json_pack("{s:s, s:i}", "sub", "a", "client_id", 3), "",
	    "act at depth 1: claim client_id is not a string");
	act_refused(json_pack("{s:s}", "sub", "ci-bot<-root"), "", "the chain's separator");
	act_refused(json_pack("{s:s, s:s}", "sub", "x", "azp", "a<-b"), "",
	    "the chain's separator");
	char big[300];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	act_refused(json_pack("{s:s}", "sub", big), "", "sub is not a string of 1 to 256");
	act_refused(json_pack("{s:s, s:s}", "sub", "x", "client_id", big), "",
	    "claim client_id is not a string of 1 to 256");
	/* The top-level client too. */
	json_t *c = claims_std();
	json_object_set_new(c, "azp", json_integer(1));
	refused(sign_rs("rsa1", c), "", "token claim azp is not a string");
	c = claims_std();
	json_object_set_new(c, "client_id", json_string(big));
	refused(sign_rs("rsa1", c), "", "token claim client_id is not a string");
}
END_TEST

START_TEST(act_cycle)
{
	static const char *const subs[] = { "a", "b", "a" };
	act_refused(act_chain(subs, NULL, 3), "", "act at depth 3: sub is an earlier actor's");
	static const char *const twice[] = { "a", "a" };
	act_refused(act_chain(twice, NULL, 2), "", "act at depth 2: sub is an earlier actor's");
}
END_TEST

START_TEST(act_depth)
{
	const char *subs[40];
	char names[40][16];
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof names[i], "a%d", i);
		subs[i] = names[i];
	}
	struct token_result r;
	json_t *c = claims_std();
	json_object_set_new(c, "act", act_chain(subs, NULL, 8));
	r = accepted(sign_rs("rsa1", c), "");
	ck_assert_uint_eq(r.nactors, 8);
	ck_assert_str_eq(r.actors[7].sub, "a7");
	token_result_free(r);
	act_refused(act_chain(subs, NULL, 9), "",
	    "act claim nested deeper than max-actor-depth 8");
	act_refused(act_chain(subs, NULL, 3), "max-actor-depth 2",
	    "nested deeper than max-actor-depth 2");
	c = claims_std();
	json_object_set_new(c, "act", act_chain(subs, NULL, 32));
	r = accepted(sign_rs("rsa1", c), "max-actor-depth 32");
	ck_assert_uint_eq(r.nactors, 32);
	token_result_free(r);
}
END_TEST

/* A payload nested n levels deep in act, written as text (libjwt and
 * jansson refuse to build it), signed over those bytes. */
static char *
deep_token(size_t n)
{
	const char *open = "{\"sub\":\"x0123456789\",\"act\":";
	char head[256];
	snprintf(head, sizeof head, "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"alice-sub\","
	    "\"preferred_username\":\"alice\",\"exp\":%lld,\"act\":", ISS, AUD, now + 600);
	size_t len = strlen(head) + n * strlen(open) + 16 + n + 2;
	char *p = malloc(len);
	char *o = p + sprintf(p, "%s", head);
	for (size_t i = 0; i < n; i++)
		o += sprintf(o, "{\"sub\":\"x%zu\",\"act\":", i);
	o += sprintf(o, "{\"sub\":\"y\"}");
	memset(o, '}', n + 1);
	o[n + 1] = '\0';
	char *tok = sign_raw("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", p);
	free(p);
	return tok;
}

START_TEST(act_deep_nesting)
{
	/* Within jansson's parser's depth: refused at max-actor-depth. */
	refused(deep_token(2000), "max-token-bytes 1048576",
	    "act claim nested deeper than max-actor-depth 8");
	/* 10,000 levels: past the parser's depth, refused as malformed. */
	refused(deep_token(10000), "max-token-bytes 1048576", "malformed token: payload");
	/* And by default past max-token-bytes first. */
	refused(deep_token(10000), "", "longer than max-token-bytes");
}
END_TEST

START_TEST(identity_json_actor)
{
	static const char *const subs[] = { "ci-bot", "deploy-svc" };
	static const char *const clients[] = { "pgward-ci", NULL };
	json_t *c = claims_std();
	json_object_set_new(c, "sub", json_string("bob"));
	json_object_set_new(c, "client_id", json_string("pgward-ci"));
	json_object_set_new(c, "act", act_chain(subs, clients, 2));
	struct token_result t = accepted(sign_rs("rsa1", c), "");
	json_t *j = auth_identity_json(&t);
	char *text = json_dumps(j, JSON_COMPACT);
	ck_assert_ptr_nonnull(strstr(text, "\"principal\":\"person\",\"actor\":"
	    "[{\"sub\":\"ci-bot\",\"client_id\":\"pgward-ci\"},{\"sub\":\"deploy-svc\"}],"
	    "\"client_id\":\"pgward-ci\""));
	free(text);
	json_decref(j);
	token_result_free(t);
	c = claims_std();
	json_object_set_new(c, "gty", json_string("client-credentials"));
	t = accepted(sign_rs("rsa1", c), "");
	j = auth_identity_json(&t);
	ck_assert_str_eq(json_string_value(json_object_get(j, "principal")), "agent");
	json_decref(j);
	token_result_free(t);
}
END_TEST

START_TEST(actor_config)
{
	struct auth_config_result c = config_with("");
	ck_assert_ptr_null(c.error);
	ck_assert_str_eq(c.config->actor_claim, "act");
	ck_assert_int_eq(c.config->max_actor_depth, 8);
	ck_assert_uint_eq(c.config->client_claims.n, 2);
	ck_assert_str_eq(c.config->client_claims.v[0], "azp");
	ck_assert_str_eq(c.config->client_claims.v[1], "client_id");
	ck_assert_uint_eq(c.config->agent_rules.n, 2);
	ck_assert_str_eq(c.config->agent_rules.v[0], "gty=client-credentials");
	ck_assert_str_eq(c.config->agent_rules.v[1], "sub-is-client");
	auth_config_result_free(c);
}
END_TEST

START_TEST(actor_config_errors)
{
	config_error("agent-rule foo\n", "agent-rule: expected sub-is-client, CLAIM=GLOB or none");
	config_error("agent-rule =x\n", "agent-rule: expected sub-is-client");
	config_error("agent-rule gty=\n", "agent-rule: expected sub-is-client");
	config_error("agent-rule none,sub-is-client\n", "agent-rule: none stands alone");
	config_error("agent-rule a=1,,b=2\n", "agent-rule");
	config_error("actor-claim a b\n", "actor-claim: expected one claim name");
	config_error("actor-claim a,b\n", "actor-claim: expected one claim name");
	config_error("client-claim a b\n", "client-claim");
	config_error("max-actor-depth 0\n", "max-actor-depth: expected an integer from 1 to 32");
	config_error("max-actor-depth 33\n", "max-actor-depth: expected an integer from 1 to 32");
	config_error("client-claim a,b,c,d,e,f,g,h,i\n", "client-claim: at most 8 values");
}
END_TEST

START_TEST(jwks_unsupported_key)
{
	json_t *oct = json_pack("{s:s, s:s, s:s}", "kty", "oct", "kid", "sym", "k", "AAAA");
	json_t *okp = json_pack("{s:s, s:s, s:s, s:s}", "kty", "OKP", "kid", "ed",
	    "crv", "Ed25519", "x", "AAAA");
	json_t *enc = jwk_of(rsa2, "enc");
	json_object_set_new(enc, "use", json_string("enc"));
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	json_t *weak = jwk_of(small, "weak");
	EVP_PKEY_free(small);
	json_t *badpt = jwk_of(ec1, "badpt");
	json_object_set_new(badpt, "y", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	jwks_write(json_pack("[o, o, o, o, o, o]", oct, jwk_of(rsa1, "rsa1"), okp, enc,
	    weak, badpt));
	struct jwks_result k = jwks_load(jwks_path);
	ck_assert_msg(k.error == NULL, "%s", k.error);
	ck_assert_uint_eq(k.nkeys, 1);
	ck_assert_uint_eq(k.nwarnings, 5);
	ck_assert_ptr_nonnull(strstr(k.warnings[0], "key type oct not supported"));
	ck_assert_ptr_nonnull(strstr(k.warnings[2], "use is not"));
	ck_assert_ptr_nonnull(strstr(k.warnings[3], "shorter than 2048"));
	ck_assert_ptr_nonnull(strstr(k.warnings[4], "kid badpt"));
	ck_assert_str_eq(k.keys[0].kid, "rsa1");
	jwks_result_free(k);
	token_result_free(accepted(sign_rs("rsa1", claims_std()), ""));
}
END_TEST

START_TEST(jwks_invalid)
{
	file_write(jwks_path, "{\"keys\": [", 0644);
	struct jwks_result k = jwks_load(jwks_path);
	ck_assert_ptr_nonnull(k.error);
	ck_assert_ptr_nonnull(strstr(k.error, "invalid JSON"));
	ck_assert_uint_eq(k.nkeys, 0);
	jwks_result_free(k);
	file_write(jwks_path, "{\"kty\": \"RSA\"}", 0644);
	k = jwks_load(jwks_path);
	ck_assert_ptr_nonnull(strstr(k.error, "not a JWKS"));
	jwks_result_free(k);
	file_write(jwks_path, "{\"keys\": [{\"kty\": \"oct\"}]}", 0644);
	k = jwks_load(jwks_path);
	ck_assert_ptr_nonnull(strstr(k.error, "no usable key"));
	ck_assert_uint_eq(k.nwarnings, 1);
	jwks_result_free(k);
	k = jwks_load("/nonexistent/jwks.json");
	ck_assert_ptr_nonnull(strstr(k.error, "No such file"));
	jwks_result_free(k);
}
END_TEST

START_TEST(b64url_strict)
{
	size_t n;
	unsigned char *b = b64url_decode("aGVsbG8", 7, &n);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(n, 5);
	ck_assert_mem_eq(b, "hello", 5);
	free(b);
	ck_assert_ptr_null(b64url_decode("aGVsbG8=", 8, &n));
	ck_assert_ptr_null(b64url_decode("aGVsbG9", 7, &n));	/* stray bits */
	ck_assert_ptr_null(b64url_decode("aGVsb", 5, &n));
	ck_assert_ptr_null(b64url_decode("a+/a", 4, &n));
	char *e = b64url_encode((const unsigned char *)"\xfb\xff", 2);
	ck_assert_str_eq(e, "-_8");
	free(e);
}
END_TEST

static json_t *
ask(struct auth_service *s, const char *req)
{
	json_t *j = json_loads(req, 0, NULL);
	ck_assert_ptr_nonnull(j);
	json_t *r = auth_service_handle(s, j);
	json_decref(j);
	ck_assert_ptr_nonnull(r);
	return r;
}

START_TEST(service_protocol)
{
	struct auth_config_result c = config_with("");
	auth_config_result_free(c);
	struct auth_service s;
	char err[512];
	ck_assert_int_eq(auth_service_open(&s, conf_path, err, sizeof err), 0);
	json_t *r = ask(&s, "{\"v\":1,\"op\":\"ping\"}");
	ck_assert(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	r = ask(&s, "{\"v\":1,\"op\":\"launch\"}");
	ck_assert_str_eq(json_string_value(json_object_get(r, "error")), "unknown op");
	json_decref(r);
	r = ask(&s, "{\"v\":1,\"op\":\"verify\",\"token\":5}");
	ck_assert_str_eq(json_string_value(json_object_get(r, "error")), "token not accepted");
	json_decref(r);

	char *tok = sign_rs("rsa1", claims_std());
	json_t *req = json_pack("{s:i, s:s, s:s}", "v", 1, "op", "verify", "token", tok);
	r = auth_service_handle(&s, req);
	ck_assert(json_is_true(json_object_get(r, "ok")));
	ck_assert_str_eq(json_string_value(json_object_get(r, "user")), "alice");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r, "groups"), 0)), "analysts");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "exp")), now + 600);
	ck_assert_str_eq(json_string_value(json_object_get(r, "kid")), "rsa1");
	ck_assert_str_eq(json_string_value(json_object_get(r, "sub")), "alice-sub");
	ck_assert_str_eq(json_string_value(json_object_get(r, "principal")), "person");
	ck_assert_uint_eq(json_array_size(json_object_get(r, "actor")), 0);
	ck_assert(json_is_array(json_object_get(r, "actor")));
	ck_assert_ptr_null(json_object_get(r, "client_id"));
	json_decref(r);

	/* A refusal tells the client nothing more. */
	json_t *c2 = claims_std();
	json_object_set_new(c2, "exp", json_integer(now - 3600));
	char *old = sign_rs("rsa1", c2);
	json_t *req2 = json_pack("{s:i, s:s, s:s}", "v", 1, "op", "verify", "token", old);
	r = auth_service_handle(&s, req2);
	ck_assert_uint_eq(json_object_size(r), 3);
	ck_assert_str_eq(json_string_value(json_object_get(r, "error")), "token not accepted");
	json_decref(r);
	json_decref(req2);
	free(old);

	/* Key rotation by rename is noticed by the tick; a broken file is not
	 * taken and the keys in force stay. */
	jwks_write(json_pack("[o]", jwk_of(rsa2, "rsa2")));
	auth_service_tick(&s);
	r = auth_service_handle(&s, req);
	ck_assert(json_is_false(json_object_get(r, "ok")));
	json_decref(r);
	file_write(jwks_path, "{broken", 0644);
	auth_service_tick(&s);
	ck_assert_uint_eq(s.keys.nkeys, 1);
	ck_assert_str_eq(s.keys.keys[0].kid, "rsa2");
	jwks_write(json_pack("[o]", jwk_of(rsa1, "rsa1")));
	auth_service_reload(&s);
	r = auth_service_handle(&s, req);
	ck_assert(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	json_decref(req);
	free(tok);
	auth_service_close(&s);
}
END_TEST

static Suite *
auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *t = tcase_create("auth");
	tcase_add_unchecked_fixture(t, setup_once, teardown_once);
	tcase_add_checked_fixture(t, setup, NULL);
	tcase_set_timeout(t, 30);
	tcase_add_test(t, rs256_ok);
	tcase_add_test(t, es256_ok);
	tcase_add_test(t, expired);
	tcase_add_test(t, nbf_future);
	tcase_add_test(t, iat_future);
	tcase_add_test(t, wrong_iss);
	tcase_add_test(t, wrong_aud);
	tcase_add_test(t, aud_array_ok);
	tcase_add_test(t, alg_none);
	tcase_add_test(t, hs256_with_rsa_public_key);
	tcase_add_test(t, hs256_secret);
	tcase_add_test(t, unknown_kid);
	tcase_add_test(t, key_alg_mismatch);
	tcase_add_test(t, wrong_signing_key);
	tcase_add_test(t, tampered_payload);
	tcase_add_test(t, bad_base64);
	tcase_add_test(t, huge_token);
	tcase_add_test(t, missing_exp);
	tcase_add_test(t, groups_claim);
	tcase_add_test(t, user_claim_fallback);
	tcase_add_test(t, no_kid);
	tcase_add_test(t, duplicate_kid);
	tcase_add_test(t, raw_headers);
	tcase_add_test(t, config_errors);
	tcase_add_test(t, config_defaults);
	tcase_add_test(t, jwks_unsupported_key);
	tcase_add_test(t, jwks_invalid);
	tcase_add_test(t, b64url_strict);
	tcase_add_test(t, service_protocol);
	tcase_add_test(t, person_has_no_actor);
	tcase_add_test(t, delegated_chain);
	tcase_add_test(t, azp_or_client_id);
	tcase_add_test(t, actor_claim_configurable);
	tcase_add_test(t, agent_rules);
	tcase_add_test(t, hostile_act);
	tcase_add_test(t, act_cycle);
	tcase_add_test(t, act_depth);
	tcase_add_test(t, act_deep_nesting);
	tcase_add_test(t, identity_json_actor);
	tcase_add_test(t, actor_config);
	tcase_add_test(t, actor_config_errors);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(auth_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
