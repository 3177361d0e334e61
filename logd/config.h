#ifndef PGWARD_LOGD_CONFIG_H
#define PGWARD_LOGD_CONFIG_H

#include <stddef.h>

#define LOGD_MIN_SEGMENT_SIZE 4096L

struct logd_config {
	char *listen_unix;
	char *directory;
	char *origin;
	char *signing_key;
	char *key_name;		/* defaults to origin */
	long segment_size;
	int strict;		/* durability strict (1) or fast (0) */
	long fast_sync_interval_ms;
	long checkpoint_interval_ms;
	int checkpoint_every_commit;
	long max_record_bytes;
};

struct logd_config_result {
	struct logd_config *config;
	char *error;		/* NULL on success */
};

/* Parses the file and checks that the signing key is private. */
struct logd_config_result logd_config_load(const char *path);
void logd_config_result_free(struct logd_config_result r);

#endif
