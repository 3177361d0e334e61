#ifndef PGWARD_LOGD_SERVICE_H
#define PGWARD_LOGD_SERVICE_H

#include <jansson.h>
#include <stddef.h>

#include "logd/config.h"
#include "logd/store.h"
#include "signnote.h"

struct logd_service {
	const char *config_path;
	struct logd_config_result config;
	struct logd_store store;
	struct note_signer signer;
	int signer_loaded;
	int store_open;
	long long last_checkpoint_ms;
	long long last_sync_ms;
};

/* Loads the config and the signing key; unless check_only, opens the log
 * directory, appends the repair record of a torn tail and writes a
 * checkpoint. Returns 0, or an exit code with one line in err. */
int logd_service_open(struct logd_service *s, const char *config_path,
    int check_only, char *err, size_t errlen);
void logd_service_close(struct logd_service *s);

/* Rereads the config: what can change while running changes (intervals,
 * durability, sizes, the signing key); the rest is kept with a warning. */
void logd_service_reload(struct logd_service *s);

/* Appends a batch and applies the commit-time checkpoint rule. Returns
 * the records appended or -1 when fatal (logged). */
long logd_service_commit(struct logd_service *s, struct logd_append *a, size_t n);

/* Time-driven work (fast-mode sync, interval checkpoint); returns the ms
 * until it is due again (-1: nothing pending), or -2 when fatal (logged). */
long long logd_service_timers(struct logd_service *s, long long now);

/* Final sync and checkpoint for a clean stop; 0 or -1 (logged). */
int logd_service_finish(struct logd_service *s);

json_t *logd_service_status(struct logd_service *s);

#endif
