#include "logd/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

static int check_note_text(const struct conf_key *k, const char *value,
    char *err, size_t errlen);
static void config_free(struct logd_config *c);

static const struct conf_choice durability[] = {
	{ "strict", 1 }, { "fast", 0 }, { NULL, 0 }
};

#define S struct logd_config
static const struct conf_key keys[] = {
	CONF_STRING("listen-unix", S, listen_unix, .flags = CONF_ONCE),
	CONF_STRING("directory", S, directory, .flags = CONF_ONCE | CONF_REQUIRED),
	CONF_STRING("origin", S, origin, .flags = CONF_ONCE | CONF_REQUIRED,
	    .check = check_note_text, .arg = ""),
	CONF_STRING("signing-key", S, signing_key, .flags = CONF_ONCE | CONF_REQUIRED),
	CONF_STRING("key-name", S, key_name, .flags = CONF_ONCE,
	    .check = check_note_text, .arg = "+"),
	CONF_LONG("segment-size", S, segment_size, .flags = CONF_ONCE,
	    .def = "67108864" /* 64 MiB */, .min = LOGD_MIN_SEGMENT_SIZE, .max = 1L << 40),
	CONF_CHOICE("durability", S, strict, .flags = CONF_ONCE, .def = "strict",
	    .arg = durability),
	CONF_LONG("fast-sync-interval-ms", S, fast_sync_interval_ms,
	    .flags = CONF_ONCE, .def = "100", .min = 1, .max = 60000),
	CONF_LONG("checkpoint-interval-ms", S, checkpoint_interval_ms,
	    .flags = CONF_ONCE, .def = "1000", .min = 1, .max = 3600000),
	CONF_BOOL("checkpoint-every-commit", S, checkpoint_every_commit,
	    .flags = CONF_ONCE, .def = "no"),
	CONF_LONG("max-record-bytes", S, max_record_bytes, .flags = CONF_ONCE,
	    .def = "1048576" /* 1 MiB */, .min = 256, .max = 64L * 1024 * 1024),
	{ .name = NULL }
};
#undef S

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
	conf_seen seen;
	if (conf_load(path, keys, c, &seen, err, sizeof err) != 0)
		goto fail;
	if (c->key_name == NULL &&
	    conf_set_string(&c->key_name, c->origin, err, sizeof err) != 0)
		goto fail;
	if (!conf_is_set(keys, seen, "max-record-bytes") &&
	    c->max_record_bytes > c->segment_size)
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
	conf_free(keys, c);
	free(c);
}

/* Origin and key name end up on lines of a signed note; arg: also refused. */
static int
check_note_text(const struct conf_key *k, const char *value, char *err,
    size_t errlen)
{
	const char *extra = k->arg;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if (*p < 0x21 || *p == 0x7f || strchr(extra, *p) != NULL) {
			snprintf(err, errlen, "must be printable without blanks%s%s%s",
			    *extra ? " or '" : "", extra, *extra ? "'" : "");
			return -1;
		}
	return 0;
}
