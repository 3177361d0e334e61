#include "filter/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

#define S struct filter_config
static const struct conf_key keys[] = {
	CONF_STRING("listen-unix", S, listen_unix, .flags = CONF_ONCE),
	CONF_STRING("policy", S, policy, .flags = CONF_ONCE | CONF_REQUIRED),
	CONF_STRING("state-dir", S, state_dir, .flags = CONF_ONCE),
	CONF_STRING("auth-socket", S, auth_socket, .flags = CONF_ONCE),
	CONF_STRING("audit-socket", S, audit_socket, .flags = CONF_ONCE),
	CONF_LONG("review-default-timeout-s", S, review_default_timeout_s,
	    .flags = CONF_ONCE, .def = "300", .min = 1, .max = 7 * 86400),
	CONF_LONG("access-request-timeout-s", S, access_request_timeout_s,
	    .flags = CONF_ONCE, .def = "86400", .min = 60, .max = 30L * 86400),
	CONF_LONG("ipc-timeout-ms", S, ipc_timeout_ms,
	    .flags = CONF_ONCE, .def = "5000", .min = 100, .max = 60000),
	/* As the relay's max-message-size (256 MiB default, at most 1 GiB). */
	CONF_LONG("max-statement-bytes", S, max_statement_bytes, .flags = CONF_ONCE,
	    .def = "268435456", .min = 1024, .max = 0x3fffffff),
	{ .name = NULL }
};
#undef S

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
	if (conf_load(path, keys, c, NULL, err, sizeof err) != 0) {
		config_free(c);
		r.error = strdup(err);
		return r;
	}
	r.config = c;
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
	conf_free(keys, c);
	free(c);
}
