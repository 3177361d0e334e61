#include "auth/token.h"

#include <jansson.h>
#include <jwt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/actor.h"
#include "auth/b64url.h"
#include "auth/jws.h"

/* 9999-12-31: keeps exp + leeway far from overflow. */
#define TIME_MAX 253402300799LL

static int refuse(struct token_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static json_t *segment_json(const char *s, size_t len);
static int alg_from_header(struct token_result *r, const struct auth_config *c,
    json_t *header, jwt_alg_t *alg);
static int key_select(struct token_result *r, const struct auth_config *c,
    const struct jwks_result *keys, jwt_alg_t alg, const unsigned char **key,
    size_t *keylen);
static int signature_check(struct token_result *r, const char *token,
    size_t len, jwt_alg_t alg, const unsigned char *key, size_t keylen);
static int claims_check(struct token_result *r, const struct auth_config *c,
    json_t *claims, long long now);
static int time_claim(struct token_result *r, json_t *claims, const char *name,
    int required, long long *out);
static int audience_check(struct token_result *r, const struct auth_config *c,
    json_t *aud);
static int identity_take(struct token_result *r, const struct auth_config *c,
    json_t *claims);

struct token_result
token_verify(const struct auth_config *config, const struct jwks_result *keys,
    const char *token, size_t len, long long now)
{
	struct token_result r = { 0 };
	json_t *header = NULL, *claims = NULL;
	if (len > (size_t)config->max_token_bytes) {
		refuse(&r, "token of %zu bytes is longer than max-token-bytes %ld",
		    len, config->max_token_bytes);
		return r;
	}
	const char *dot1 = memchr(token, '.', len);
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (len == 0 || dot2 == NULL ||
	    memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL) {
		refuse(&r, "malformed token: not three dot-separated parts");
		return r;
	}
	size_t hlen = (size_t)(dot1 - token), plen = (size_t)(dot2 - dot1 - 1);
	size_t slen = len - (size_t)(dot2 + 1 - token), siglen;
	unsigned char *sig = b64url_decode(dot2 + 1, slen, &siglen);
	int sig_ok = sig != NULL && siglen > 0;
	free(sig);
	header = segment_json(token, hlen);
	claims = segment_json(dot1 + 1, plen);
	if (header == NULL || claims == NULL || !sig_ok) {
		refuse(&r, "malformed token: %s is not base64url of a JSON object%s",
		    header == NULL ? "header" : claims == NULL ? "payload" : "signature",
		    header == NULL || claims == NULL ? " (or repeats a member)" : "");
		goto out;
	}
	json_t *kid = json_object_get(header, "kid");
	json_t *sub = json_object_get(claims, "sub");
	if ((kid != NULL && (r.kid = strdup(json_string_value(kid) ? json_string_value(kid) : "")) == NULL) ||
	    (json_is_string(sub) && (r.sub = strdup(json_string_value(sub))) == NULL)) {
		refuse(&r, "out of memory");
		goto out;
	}
	if (kid != NULL && !json_is_string(kid)) {
		refuse(&r, "kid is not a string");
		goto out;
	}
	jwt_alg_t alg = JWT_ALG_INVAL;
	const unsigned char *key = NULL;
	size_t keylen = 0;
	if (alg_from_header(&r, config, header, &alg) == 0 &&
	    key_select(&r, config, keys, alg, &key, &keylen) == 0 &&
	    signature_check(&r, token, len, alg, key, keylen) == 0)
		claims_check(&r, config, claims, now);
out:
	json_decref(header);
	json_decref(claims);
	return r;
}

void
token_result_free(struct token_result result)
{
	free(result.error);
	free(result.user);
	for (size_t i = 0; i < result.ngroups; i++)
		free(result.groups[i]);
	free(result.groups);
	free(result.iss);
	for (size_t i = 0; i < result.nactors; i++) {
		free(result.actors[i].sub);
		free(result.actors[i].client_id);
	}
	free(result.actors);
	free(result.client_id);
	free(result.sub);
	free(result.kid);
}

const char *
token_printable(const char *s, char *buf, size_t len)
{
	if (s == NULL)
		s = "-";
	size_t i;
	for (i = 0; s[i] != '\0' && i < 64 && i + 1 < len; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

static int
refuse(struct token_result *r, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	free(r->error);
	r->error = strdup(line);
	if (r->error == NULL)
		r->error = strdup("out of memory");
	return -1;
}

static json_t *
segment_json(const char *s, size_t len)
{
	size_t n;
	unsigned char *raw = b64url_decode(s, len, &n);
	if (raw == NULL)
		return NULL;
	json_error_t je;
	json_t *j = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, &je);
	free(raw);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static int
alg_from_header(struct token_result *r, const struct auth_config *c,
    json_t *header, jwt_alg_t *alg)
{
	char pr[80];
	const char *name = json_string_value(json_object_get(header, "alg"));
	if (name == NULL)
		return refuse(r, "header has no alg string");
	if (strcasecmp(name, "none") == 0)
		return refuse(r, "alg none refused");
	if (json_object_get(header, "crit") != NULL)
		return refuse(r, "header lists crit extensions, none are understood");
	*alg = jwt_str_alg(name);
	if (*alg == JWT_ALG_INVAL || *alg == JWT_ALG_NONE)
		return refuse(r, "alg %s not supported",
		    token_printable(name, pr, sizeof pr));
	if (!(c->algorithms & (1u << *alg)))
		return refuse(r, "alg %s not in algorithms", name);
	return 0;
}

/* The alg is settled before any key is looked at, so a key can only ever
 * be used with its own family: an RSA public key is never an HMAC secret. */
static int
key_select(struct token_result *r, const struct auth_config *c,
    const struct jwks_result *keys, jwt_alg_t alg, const unsigned char **key,
    size_t *keylen)
{
	char pr[80];
	if (alg == JWT_ALG_HS256 || alg == JWT_ALG_HS384 || alg == JWT_ALG_HS512) {
		if (c->hmac_secret == NULL)
			return refuse(r, "alg %s but no hmac-secret-file", jwt_alg_str(alg));
		*key = c->hmac_secret;
		*keylen = c->hmac_secret_len;
		return 0;
	}
	const struct jwks_key *found = NULL;
	size_t fits = 0, named = 0;
	for (size_t i = 0; i < keys->nkeys; i++) {
		const struct jwks_key *k = &keys->keys[i];
		if (r->kid != NULL && (k->kid == NULL || strcmp(k->kid, r->kid) != 0))
			continue;
		named++;
		if (jwks_key_fits(k, alg)) {
			fits++;
			found = k;
		}
	}
	if (r->kid == NULL && fits != 1)
		return refuse(r, "token has no kid and the JWKS holds %zu keys for %s",
		    fits, jwt_alg_str(alg));
	if (named == 0)
		return refuse(r, "unknown kid %s", token_printable(r->kid, pr, sizeof pr));
	if (fits == 0)
		return refuse(r, "key %s does not fit alg %s",
		    token_printable(r->kid, pr, sizeof pr), jwt_alg_str(alg));
	if (fits > 1)
		return refuse(r, "kid %s names %zu keys for %s",
		    token_printable(r->kid, pr, sizeof pr), fits, jwt_alg_str(alg));
	*key = (const unsigned char *)found->pem;
	*keylen = found->pemlen;
	return 0;
}

static int
signature_check(struct token_result *r, const char *token, size_t len,
    jwt_alg_t alg, const unsigned char *key, size_t keylen)
{
	if (jws_verify(token, len, alg, key, keylen) != 0)
		return refuse(r, "bad signature (%s)", jwt_alg_str(alg));
	return 0;
}

static int
claims_check(struct token_result *r, const struct auth_config *c,
    json_t *claims, long long now)
{
	char pr[80];
	long long exp, nbf, iat;
	if (time_claim(r, claims, "exp", 1, &exp) != 0 ||
	    time_claim(r, claims, "nbf", 0, &nbf) != 0 ||
	    time_claim(r, claims, "iat", 0, &iat) != 0)
		return -1;
	if (now - c->leeway_s >= exp)
		return refuse(r, "expired %llds ago", now - exp);
	if (nbf >= 0 && nbf > now + c->leeway_s)
		return refuse(r, "not valid before %llds from now", nbf - now);
	if (iat >= 0 && iat > now + c->leeway_s)
		return refuse(r, "issued %llds in the future", iat - now);
	const char *iss = json_string_value(json_object_get(claims, "iss"));
	if (iss == NULL)
		return refuse(r, "no iss claim");
	if (strcmp(iss, c->issuer) != 0)
		return refuse(r, "wrong issuer %s", token_printable(iss, pr, sizeof pr));
	if (r->sub == NULL)
		return refuse(r, "no sub string claim");
	if (audience_check(r, c, json_object_get(claims, "aud")) != 0 ||
	    identity_take(r, c, claims) != 0)
		return -1;
	r->exp = exp;
	if ((r->iss = strdup(iss)) == NULL)
		return refuse(r, "out of memory");
	return 0;
}

/* Sets *out to -1 when the claim is absent. */
static int
time_claim(struct token_result *r, json_t *claims, const char *name,
    int required, long long *out)
{
	json_t *v = json_object_get(claims, name);
	*out = -1;
	if (v == NULL)
		return required ? refuse(r, "no %s claim", name) : 0;
	double d = json_number_value(v);
	if (!json_is_number(v) || !isfinite(d) || d < 0 || d > (double)TIME_MAX)
		return refuse(r, "%s is not a NumericDate", name);
	*out = json_is_integer(v) ? (long long)json_integer_value(v) : (long long)d;
	return 0;
}

static int
audience_check(struct token_result *r, const struct auth_config *c, json_t *aud)
{
	char pr[80];
	if (json_is_string(aud)) {
		if (strcmp(json_string_value(aud), c->audience) == 0)
			return 0;
		return refuse(r, "wrong audience %s",
		    token_printable(json_string_value(aud), pr, sizeof pr));
	}
	if (!json_is_array(aud))
		return refuse(r, "no aud claim (string or array of strings)");
	size_t i;
	json_t *a;
	int found = 0;
	json_array_foreach(aud, i, a) {
		if (!json_is_string(a))
			return refuse(r, "aud array holds a non-string");
		if (strcmp(json_string_value(a), c->audience) == 0)
			found = 1;
	}
	if (!found)
		return refuse(r, "audience %s not in aud array of %zu", c->audience,
		    json_array_size(aud));
	return 0;
}

static int
identity_take(struct token_result *r, const struct auth_config *c, json_t *claims)
{
	const char *user = NULL;
	for (size_t i = 0; i < c->user_claims.n && user == NULL; i++) {
		user = json_string_value(json_object_get(claims, c->user_claims.v[i]));
		if (user != NULL && *user == '\0')
			user = NULL;
	}
	if (user == NULL)
		return refuse(r, "no user claim (%s%s)", c->user_claims.v[0],
		    c->user_claims.n > 1 ? ", ..." : "");
	if (!token_name_ok(user))
		return refuse(r, "user claim has control characters or is too long");
	json_t *g = json_object_get(claims, c->groups_claim);
	json_t *one = NULL;
	if (json_is_string(g))
		g = one = json_pack("[O]", g);
	else if (g != NULL && !json_is_array(g))
		return refuse(r, "%s claim is neither a string nor an array", c->groups_claim);
	size_t n = json_array_size(g);
	if (n > TOKEN_MAX_GROUPS) {
		json_decref(one);
		return refuse(r, "%s claim holds %zu groups, more than %d",
		    c->groups_claim, n, TOKEN_MAX_GROUPS);
	}
	r->groups = calloc(n + 1, sizeof *r->groups);
	int rc = r->groups == NULL ? refuse(r, "out of memory") : 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const char *s = json_string_value(json_array_get(g, i));
		if (s == NULL || !token_name_ok(s))
			rc = refuse(r, "%s claim holds a non-string or a bad name", c->groups_claim);
		else if ((r->groups[r->ngroups++] = strdup(s)) == NULL)
			rc = refuse(r, "out of memory");
	}
	json_decref(one);
	char why[300];
	if (rc == 0 && actor_take(c, claims, r, why, sizeof why) != 0)
		rc = refuse(r, "%s", why);
	if (rc == 0 && (r->user = strdup(user)) == NULL)
		rc = refuse(r, "out of memory");
	return rc;
}

int
token_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TOKEN_MAX_USER_BYTES)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}
