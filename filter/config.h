#ifndef PGWARD_FILTER_CONFIG_H
#define PGWARD_FILTER_CONFIG_H

/* filter.conf (docs/pgward-filter.md). */

struct filter_config {
	char *listen_unix;
	char *policy;
	char *state_dir;
	char *auth_socket;
	char *audit_socket;
	long review_default_timeout_s;
	long access_request_timeout_s;
	long ipc_timeout_ms;
	long max_statement_bytes;	/* longest SQL text decided */
};

struct filter_config_result {
	struct filter_config *config;
	char *error;		/* NULL on success, else "path:line: reason" */
};

struct filter_config_result filter_config_load(const char *path);
void filter_config_result_free(struct filter_config_result r);

#endif
