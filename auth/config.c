#include "auth/config.h"

#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/actor.h"
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

static int set_algorithms(const struct conf_key *k, void *field,
    const char *value, char *err, size_t errlen);
static int check_claim_name(const struct conf_key *k, const char *value,
    char *err, size_t errlen);
static int check_claim_names(const struct conf_key *k, const char *value,
    char *err, size_t errlen);
static int check_agent_rules(const struct conf_key *k, const char *value,
    char *err, size_t errlen);
static int load_hmac_secret(struct auth_config *c, char *err, size_t errlen);
static void config_free(struct auth_config *c);

static const struct conf_type algorithms = { set_algorithms, NULL };

#define S struct auth_config
static const struct conf_key keys[] = {
	CONF_STRING("listen-unix", S, listen_unix, .flags = CONF_ONCE),
	CONF_STRING("jwks", S, jwks, .flags = CONF_ONCE | CONF_REQUIRED),
	CONF_STRING("issuer", S, issuer, .flags = CONF_ONCE | CONF_REQUIRED),
	CONF_STRING("audience", S, audience, .flags = CONF_ONCE | CONF_REQUIRED),
	CONF_ROW("algorithms", algorithms, S, algorithms, unsigned,
	    .flags = CONF_ONCE, .def = "RS256,ES256"),
	CONF_LONG("leeway-s", S, leeway_s, .flags = CONF_ONCE, .def = "30",
	    .min = 0, .max = 3600),
	CONF_LIST("user-claim", S, user_claims, .flags = CONF_ONCE,
	    .def = "preferred_username", .max = AUTH_MAX_USER_CLAIMS, .arg = ","),
	CONF_STRING("groups-claim", S, groups_claim, .flags = CONF_ONCE,
	    .def = "groups", .check = check_claim_name),
	CONF_STRING("actor-claim", S, actor_claim, .flags = CONF_ONCE,
	    .def = "act", .check = check_claim_name),
	CONF_LONG("max-actor-depth", S, max_actor_depth, .flags = CONF_ONCE,
	    .def = "8", .min = 1, .max = ACTOR_MAX_DEPTH),
	CONF_LIST("client-claim", S, client_claims, .flags = CONF_ONCE,
	    .def = "azp,client_id", .max = AUTH_MAX_CLIENT_CLAIMS, .arg = ",",
	    .check = check_claim_names),
	CONF_LIST("agent-rule", S, agent_rules, .flags = CONF_ONCE,
	    .def = "gty=client-credentials,sub-is-client",
	    .max = AUTH_MAX_AGENT_RULES, .arg = ",", .check = check_agent_rules),
	CONF_STRING("hmac-secret-file", S, hmac_secret_file, .flags = CONF_ONCE),
	CONF_LONG("max-token-bytes", S, max_token_bytes, .flags = CONF_ONCE,
	    .def = "16384", .min = 256, .max = 1048576),
	{ .name = NULL }
};
#undef S

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
	if (conf_load(path, keys, c, NULL, err, sizeof err) != 0)
		goto fail;
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
	conf_free(keys, c);
	if (c->hmac_secret != NULL) {
		explicit_bzero(c->hmac_secret, c->hmac_secret_len);
		free(c->hmac_secret);
	}
	free(c);
}

static int
set_algorithms(const struct conf_key *k, void *field, const char *value,
    char *err, size_t errlen)
{
	(void)k;
	return auth_config_parse_algorithms(value, field, err, errlen);
}

static int
check_claim_name(const struct conf_key *k, const char *value, char *err,
    size_t errlen)
{
	(void)k;
	if (strpbrk(value, ", \t") != NULL) {
		snprintf(err, errlen, "expected one claim name");
		return -1;
	}
	return 0;
}

static int
check_claim_names(const struct conf_key *k, const char *value, char *err,
    size_t errlen)
{
	(void)k;
	if (strpbrk(value, " \t") != NULL) {
		snprintf(err, errlen, "expected claim names separated by \",\"");
		return -1;
	}
	return 0;
}

static int
check_agent_rules(const struct conf_key *k, const char *value, char *err,
    size_t errlen)
{
	(void)k;
	char item[256];
	for (const char *p = value;; p++) {
		size_t n = strcspn(p, ",");
		if (n >= sizeof item) {
			snprintf(err, errlen, "a rule longer than %zu bytes", sizeof item - 1);
			return -1;
		}
		snprintf(item, sizeof item, "%.*s", (int)n, p);
		if (actor_rule_check(item, strcmp(value, "none") == 0, err, errlen) != 0)
			return -1;
		p += n;
		if (*p == '\0')
			return 0;
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
