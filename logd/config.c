#include "logd/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

enum { K_LISTEN, K_DIR, K_ORIGIN, K_KEY, K_KEYNAME, K_SEGSIZE, K_DURABILITY,
	K_FASTSYNC, K_CKINTERVAL, K_CKCOMMIT, K_MAXREC, K_COUNT };

static const char *keys[K_COUNT] = { "listen-unix", "directory", "origin",
	"signing-key", "key-name", "segment-size", "durability",
	"fast-sync-interval-ms", "checkpoint-interval-ms",
	"checkpoint-every-commit", "max-record-bytes" };

struct parse_ctx {
	struct logd_config *c;
	unsigned seen;
};

static int parse_line(void *ctx, const char *key, const char *value, char *err,
    size_t errlen);
static int parse_value(struct logd_config *c, int k, const char *value,
    char *err, size_t errlen);
static void config_free(struct logd_config *c);

struct logd_config_result
logd_config_load(const char *path)
{
	struct logd_config_result r = { NULL, NULL };
	char err[1024], reason[512];
	struct logd_config *c = calloc(1, sizeof *c);
	if (c == NULL) {
		r.error = strdup("out of memory");
		return r;
	}
	c->segment_size = LOGD_DEFAULT_SEGMENT_SIZE;
	c->strict = 1;
	c->fast_sync_interval_ms = 100;
	c->checkpoint_interval_ms = 1000;
	c->max_record_bytes = LOGD_DEFAULT_MAX_RECORD;
	struct parse_ctx pc = { c, 0 };
	if (conf_parse_file(path, parse_line, &pc, err, sizeof err) != 0)
		goto fail;
	const char *missing = c->directory == NULL ? "directory" :
	    c->origin == NULL ? "origin" :
	    c->signing_key == NULL ? "signing-key" : NULL;
	if (missing != NULL) {
		snprintf(err, sizeof err, "%s: %s is required", path, missing);
		goto fail;
	}
	if (c->key_name == NULL &&
	    conf_set_string(&c->key_name, c->origin, err, sizeof err) != 0)
		goto fail;
	if (!(pc.seen & (1u << K_MAXREC)) && c->max_record_bytes > c->segment_size)
		c->max_record_bytes = c->segment_size;
	if (c->max_record_bytes > c->segment_size) {
		snprintf(err, sizeof err, "%s: max-record-bytes (%ld) exceeds "
		    "segment-size (%ld)", path, c->max_record_bytes, c->segment_size);
		goto fail;
	}
	if (conf_check_secret_file(c->signing_key, reason, sizeof reason) != 0) {
		snprintf(err, sizeof err, "%s: signing-key: %s", path, reason);
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
logd_config_result_free(struct logd_config_result r)
{
	config_free(r.config);
	free(r.error);
}

static void
config_free(struct logd_config *c)
{
	if (c == NULL)
		return;
	free(c->listen_unix);
	free(c->directory);
	free(c->origin);
	free(c->signing_key);
	free(c->key_name);
	free(c);
}

/* Origin and key name end up on lines of a signed note. */
static int
check_note_text(const char *key, const char *value, char *err, size_t errlen)
{
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if (*p < 0x21 || *p == 0x7f || (key[0] == 'k' && *p == '+')) {
			snprintf(err, errlen, "must be printable without blanks%s",
			    key[0] == 'k' ? " or '+'" : "");
			return -1;
		}
	return 0;
}

static int
parse_line(void *ctx, const char *key, const char *value, char *err,
    size_t errlen)
{
	struct parse_ctx *pc = ctx;
	struct logd_config *c = pc->c;
	int k;
	for (k = 0; k < K_COUNT; k++)
		if (strcmp(key, keys[k]) == 0)
			break;
	if (k == K_COUNT) {
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
	char reason[512];
	if (parse_value(c, k, value, reason, sizeof reason) != 0) {
		snprintf(err, errlen, "%s: %s", key, reason);
		return -1;
	}
	return 0;
}

static int
parse_value(struct logd_config *c, int k, const char *value, char *err,
    size_t errlen)
{
	const char *key = keys[k];
	switch (k) {
	case K_LISTEN:
		return conf_set_string(&c->listen_unix, value, err, errlen);
	case K_DIR:
		return conf_set_string(&c->directory, value, err, errlen);
	case K_ORIGIN:
		if (check_note_text(key, value, err, errlen) != 0)
			return -1;
		return conf_set_string(&c->origin, value, err, errlen);
	case K_KEY:
		return conf_set_string(&c->signing_key, value, err, errlen);
	case K_KEYNAME:
		if (check_note_text(key, value, err, errlen) != 0)
			return -1;
		return conf_set_string(&c->key_name, value, err, errlen);
	case K_SEGSIZE:
		return conf_parse_long(value, LOGD_MIN_SEGMENT_SIZE,
		    1L << 40, &c->segment_size, err, errlen);
	case K_DURABILITY:
		if (strcmp(value, "strict") == 0)
			c->strict = 1;
		else if (strcmp(value, "fast") == 0)
			c->strict = 0;
		else {
			snprintf(err, errlen, "expected strict or fast, got \"%s\"",
			    value);
			return -1;
		}
		return 0;
	case K_FASTSYNC:
		return conf_parse_long(value, 1, 60000, &c->fast_sync_interval_ms,
		    err, errlen);
	case K_CKINTERVAL:
		return conf_parse_long(value, 1, 3600000, &c->checkpoint_interval_ms,
		    err, errlen);
	case K_CKCOMMIT:
		return conf_parse_bool(value, &c->checkpoint_every_commit, err, errlen);
	case K_MAXREC:
		return conf_parse_long(value, 256, 64L * 1024 * 1024,
		    &c->max_record_bytes, err, errlen);
	}
	return 0;
}
