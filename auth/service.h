#ifndef PGWARD_AUTH_SERVICE_H
#define PGWARD_AUTH_SERVICE_H

#include <jansson.h>
#include <sys/stat.h>

#include "auth/config.h"
#include "auth/jwks.h"
#include "auth/token.h"

/* The daemon's state: the config and the keys in force, and what the JWKS
 * file looked like when they were read. */
struct auth_service {
	const char *config_path;
	struct auth_config_result config;
	struct jwks_result keys;
	struct stat jwks_st;
	/* the last file that failed to load, so it is reported once */
	struct stat failed_st;
	int failed;
};

/* Returns 0, or PGWARD_EXIT_USAGE (bad config) or PGWARD_EXIT_TEMP (JWKS
 * unreadable) with the reason in err. */
int auth_service_open(struct auth_service *s, const char *config_path,
    char *err, size_t errlen);
void auth_service_close(struct auth_service *s);

/* Verifies at the current time and logs a refusal in one line. */
struct token_result auth_service_verify(struct auth_service *s,
    const char *token, size_t len);
/* One IPC request into its reply. */
json_t *auth_service_handle(struct auth_service *s, json_t *req);
/* The reply for an accepted token. */
json_t *auth_identity_json(const struct token_result *t);

/* Reloads the JWKS when its file changed (a new inode, size or mtime). */
void auth_service_tick(struct auth_service *s);
/* Rereads the config (all but listen-unix) and the JWKS; on any error the
 * old ones stay in force. */
void auth_service_reload(struct auth_service *s);

#endif
