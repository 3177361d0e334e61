#include "auth/config.h"

#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/file.h"
#include "conf.h"

#define HMAC_MIN_BYTES 32
#define HMAC_MAX_BYTES 4096

static const struct {
	const char *name;
	jwt_alg_t alg;
} alg_names[] = {
	{ "RS256", JWT_ALG_RS256 }, { "RS384", JWT_ALG_RS384 },
	{ "RS512", JWT_ALG_RS512 }, { "ES256", JWT_ALG_ES256 },
	{ "ES384", JWT_ALG_ES384 }, { "ES512", JWT_ALG_ES512 },
	{ "HS256", JWT_ALG_HS256 }, { "HS384", JWT_ALG_HS384 },
	{ "HS512", JWT_ALG_HS512 },
};

#define HS_ALGS ((1u << JWT_ALG_HS256) | (1u << JWT_ALG_HS384) | (1u << JWT_ALG_HS512))

enum { SEEN_LISTEN, SEEN_JWKS, SEEN_ISSUER, SEEN_AUDIENCE, SEEN_ALGS,
	SEEN_LEEWAY, SEEN_USER, SEEN_GROUPS, SEEN_HMAC, SEEN_MAXTOK };

struct parse_ctx {
	struct auth_config *c;
	unsigned seen;
};

static int parse_line(void *ctx, const char *key, const char *value, char *err,
    size_t errlen);
static int parse_user_claims(struct auth_config *c, const char *value,
    char *err, size_t errlen);
static int load_hmac_secret(struct auth_config *c, char *err, size_t errlen);
static void config_free(struct auth_config *c);

int
auth_config_parse_algorithms(const char *value, unsigned *out, char *err,
    size_t errlen)
{
	unsigned algs = 0;
	const char *p = value;
	for (;;) {
		size_t n = strcspn(p, ",");
		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		size_t i;
		for (i = 0; i < sizeof alg_names / sizeof alg_names[0]; i++)
			if (strlen(alg_names[i].name) == n &&
			    strncmp(alg_names[i].name, p, n) == 0)
				break;
		if (i == sizeof alg_names / sizeof alg_names[0]) {
			if (n >= 2 && strncmp(p, "PS", 2) == 0)
				snprintf(err, errlen, "algorithm \"%.*s\" is not supported "
				    "by this libjwt", (int)n, p);
			else
				snprintf(err, errlen, "unknown algorithm \"%.*s\" (allowed: "
				    "RS256 RS384 RS512 ES256 ES384 ES512 HS256 HS384 HS512)",
				    (int)n, p);
			return -1;
		}
		algs |= 1u << alg_names[i].alg;
		p += strcspn(p, ",");
		if (*p == '\0')
			break;
		p++;
	}
	*out = algs;
	return 0;
}

void
auth_config_format_algorithms(unsigned algs, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof alg_names / sizeof alg_names[0]; i++) {
		if (!(algs & (1u << alg_names[i].alg)))
			continue;
		int w = snprintf(buf + o, len - o, "%s%s", o ? "," : "",
		    alg_names[i].name);
		if (w < 0 || (size_t)w >= len - o)
			return;
		o += (size_t)w;
	}
}

struct auth_config_result
auth_config_load(const char *path)
{
	struct auth_config_result r = { NULL, NULL };
	char err[1024];
	struct auth_config *c = calloc(1, sizeof *c);
	if (c == NULL) {
		r.error = strdup("out of memory");
		return r;
	}
	c->algorithms = (1u << JWT_ALG_RS256) | (1u << JWT_ALG_ES256);
	c->leeway_s = 30;
	c->max_token_bytes = 16384;
	struct parse_ctx pc = { c, 0 };
	if (conf_parse_file(path, parse_line, &pc, err, sizeof err) != 0)
		goto fail;
	if (c->nuser_claims == 0 && parse_user_claims(c, "preferred_username",
	    err, sizeof err) != 0)
		goto fail;
	if (c->groups_claim == NULL &&
	    conf_set_string(&c->groups_claim, "groups", err, sizeof err) != 0)
		goto fail;
	const char *missing = c->issuer == NULL ? "issuer" :
	    c->audience == NULL ? "audience" : c->jwks == NULL ? "jwks" : NULL;
	if (missing != NULL) {
		snprintf(err, sizeof err, "%s: %s is required", path, missing);
		goto fail;
	}
	if ((c->algorithms & HS_ALGS) && c->hmac_secret_file == NULL) {
		snprintf(err, sizeof err, "%s: HS algorithms are listed but "
		    "hmac-secret-file is not set", path);
		goto fail;
	}
	if (c->hmac_secret_file != NULL && load_hmac_secret(c, err, sizeof err) != 0)
		goto fail;
	r.config = c;
	return r;
fail:
	config_free(c);
	r.error = strdup(err);
	return r;
}

void
auth_config_result_free(struct auth_config_result result)
{
	config_free(result.config);
	free(result.error);
}

static void
config_free(struct auth_config *c)
{
	if (c == NULL)
		return;
	free(c->listen_unix);
	free(c->jwks);
	free(c->issuer);
	free(c->audience);
	for (size_t i = 0; i < c->nuser_claims; i++)
		free(c->user_claims[i]);
	free(c->groups_claim);
	free(c->hmac_secret_file);
	if (c->hmac_secret != NULL) {
		explicit_bzero(c->hmac_secret, c->hmac_secret_len);
		free(c->hmac_secret);
	}
	free(c);
}

static int
parse_line(void *ctx, const char *key, const char *value, char *err,
    size_t errlen)
{
	static const char *keys[] = { "listen-unix", "jwks", "issuer", "audience",
		"algorithms", "leeway-s", "user-claim", "groups-claim",
		"hmac-secret-file", "max-token-bytes" };
	struct parse_ctx *pc = ctx;
	struct auth_config *c = pc->c;
	int k;
	for (k = 0; k < (int)(sizeof keys / sizeof keys[0]); k++)
		if (strcmp(key, keys[k]) == 0)
			break;
	if (k == (int)(sizeof keys / sizeof keys[0])) {
		snprintf(err, errlen, "unknown key \"%s\"", key);
		return -1;
	}
	if (pc->seen & (1u << k)) {
		snprintf(err, errlen, "duplicate key \"%s\"", key);
		return -1;
	}
	pc->seen |= 1u << k;
	if (*value == '\0') {
		snprintf(err, errlen, "%s: missing value", key);
		return -1;
	}
	switch (k) {
	case SEEN_LISTEN:
		return conf_set_string(&c->listen_unix, value, err, errlen);
	case SEEN_JWKS:
		return conf_set_string(&c->jwks, value, err, errlen);
	case SEEN_ISSUER:
		return conf_set_string(&c->issuer, value, err, errlen);
	case SEEN_AUDIENCE:
		return conf_set_string(&c->audience, value, err, errlen);
	case SEEN_ALGS:
		return auth_config_parse_algorithms(value, &c->algorithms, err, errlen);
	case SEEN_LEEWAY:
		return conf_parse_long(value, 0, 3600, &c->leeway_s, err, errlen);
	case SEEN_USER:
		return parse_user_claims(c, value, err, errlen);
	case SEEN_GROUPS:
		if (strpbrk(value, ", \t") != NULL) {
			snprintf(err, errlen, "groups-claim: expected one claim name");
			return -1;
		}
		return conf_set_string(&c->groups_claim, value, err, errlen);
	case SEEN_HMAC:
		return conf_set_string(&c->hmac_secret_file, value, err, errlen);
	case SEEN_MAXTOK:
		return conf_parse_long(value, 256, 1048576, &c->max_token_bytes, err,
		    errlen);
	}
	return 0;
}

static int
parse_user_claims(struct auth_config *c, const char *value, char *err,
    size_t errlen)
{
	const char *p = value;
	for (;;) {
		size_t n = strcspn(p, ",");
		if (n == 0 || strcspn(p, " \t") < n) {
			snprintf(err, errlen, "user-claim: expected claim names "
			    "separated by commas, got \"%s\"", value);
			return -1;
		}
		if (c->nuser_claims == AUTH_MAX_USER_CLAIMS) {
			snprintf(err, errlen, "user-claim: at most %d names",
			    AUTH_MAX_USER_CLAIMS);
			return -1;
		}
		char *name = strndup(p, n);
		if (name == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		c->user_claims[c->nuser_claims++] = name;
		p += n;
		if (*p == '\0')
			return 0;
		p++;
	}
}

static int
load_hmac_secret(struct auth_config *c, char *err, size_t errlen)
{
	char reason[512];
	if (conf_check_secret_file(c->hmac_secret_file, reason, sizeof reason) != 0) {
		snprintf(err, errlen, "hmac-secret-file: %s", reason);
		return -1;
	}
	size_t len;
	unsigned char *buf = (unsigned char *)auth_file_read(c->hmac_secret_file,
	    HMAC_MAX_BYTES, &len, reason, sizeof reason);
	if (buf == NULL) {
		snprintf(err, errlen, "hmac-secret-file: %s", reason);
		return -1;
	}
	/* A secret written with echo ends in a newline that is not part of it. */
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len < HMAC_MIN_BYTES) {
		explicit_bzero(buf, HMAC_MAX_BYTES + 1);
		free(buf);
		snprintf(err, errlen, "hmac-secret-file: %s: shorter than %d bytes",
		    c->hmac_secret_file, HMAC_MIN_BYTES);
		return -1;
	}
	c->hmac_secret = buf;
	c->hmac_secret_len = len;
	return 0;
}
