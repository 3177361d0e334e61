#include "filter/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

struct parse_ctx {
	struct filter_config *c;
	unsigned seen;
};

static int parse_line(void *ctx, const char *key, const char *value, char *err,
    size_t errlen);
static void config_free(struct filter_config *c);

struct filter_config_result
filter_config_load(const char *path)
{
	struct filter_config_result r = { NULL, NULL };
	char err[1024];
	struct filter_config *c = calloc(1, sizeof *c);
	if (c == NULL) {
		r.error = strdup("out of memory");
		return r;
	}
	c->review_default_timeout_s = 300;
	c->access_request_timeout_s = 86400;
	c->ipc_timeout_ms = 5000;
	struct parse_ctx pc = { c, 0 };
	if (conf_parse_file(path, parse_line, &pc, err, sizeof err) != 0)
		goto fail;
	if (c->policy == NULL) {
		snprintf(err, sizeof err, "%s: policy is required", path);
		goto fail;
	}
	r.config = c;
	return r;
fail:
	config_free(c);
	r.error = strdup(err);
	return r;
}

void
filter_config_result_free(struct filter_config_result r)
{
	config_free(r.config);
	free(r.error);
}

static void
config_free(struct filter_config *c)
{
	if (c == NULL)
		return;
	free(c->listen_unix);
	free(c->policy);
	free(c->state_dir);
	free(c->auth_socket);
	free(c->audit_socket);
	free(c);
}

static int
parse_line(void *ctx, const char *key, const char *value, char *err,
    size_t errlen)
{
	static const char *keys[] = { "listen-unix", "policy", "state-dir",
		"auth-socket", "audit-socket", "review-default-timeout-s",
		"access-request-timeout-s", "ipc-timeout-ms" };
	struct parse_ctx *pc = ctx;
	struct filter_config *c = pc->c;
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
	case 0:
		return conf_set_string(&c->listen_unix, value, err, errlen);
	case 1:
		return conf_set_string(&c->policy, value, err, errlen);
	case 2:
		return conf_set_string(&c->state_dir, value, err, errlen);
	case 3:
		return conf_set_string(&c->auth_socket, value, err, errlen);
	case 4:
		return conf_set_string(&c->audit_socket, value, err, errlen);
	case 5:
		return conf_parse_long(value, 1, 7 * 86400,
		    &c->review_default_timeout_s, err, errlen);
	case 6:
		return conf_parse_long(value, 60, 30L * 86400,
		    &c->access_request_timeout_s, err, errlen);
	default:
		return conf_parse_long(value, 100, 60000, &c->ipc_timeout_ms, err,
		    errlen);
	}
}
