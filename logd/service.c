#include "logd/service.h"

#include <stdio.h>
#include <string.h>

#include "ipc.h"
#include "log.h"
#include "sock.h"

static int checkpoint(struct logd_service *s);

static int
load_signer(struct note_signer *k, const struct logd_config *c, char *err,
    size_t errlen)
{
	struct note_result r = note_signer_load(k, c->key_name, c->signing_key);
	if (r.error != NULL) {
		snprintf(err, errlen, "signing-key: %s", r.error);
		note_result_free(&r);
		return -1;
	}
	return 0;
}

int
logd_service_open(struct logd_service *s, const char *config_path,
    int check_only, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->config_path = config_path;
	s->config = logd_config_load(config_path);
	if (s->config.error != NULL) {
		snprintf(err, errlen, "%s", s->config.error);
		return PGWARD_EXIT_USAGE;
	}
	const struct logd_config *c = s->config.config;
	if (load_signer(&s->signer, c, err, errlen) != 0)
		return PGWARD_EXIT_USAGE;
	s->signer_loaded = 1;
	if (check_only)
		return 0;
	struct logd_store_opts o = {
		.dir = c->directory,
		.segment_size = c->segment_size,
		.max_record_bytes = c->max_record_bytes,
		.strict = c->strict,
	};
	if (logd_store_open(&s->store, &o, err, errlen) != 0)
		return PGWARD_EXIT_TEMP;
	s->store_open = 1;
	if (s->store.repair != NULL) {
		struct logd_append a = { .payload = s->store.repair };
		char e2[512];
		if (logd_store_append(&s->store, &a, 1, e2, sizeof e2) != 1 ||
		    logd_store_sync(&s->store, e2, sizeof e2) != 0) {
			snprintf(err, errlen, "unable to log the repair: %s",
			    a.error[0] ? a.error : e2);
			return PGWARD_EXIT_TEMP;
		}
		log_warn("logged the repair as record %llu",
		    (unsigned long long)a.seq);
		json_decref(s->store.repair);
		s->store.repair = NULL;
	}
	if (s->store.checkpoint_size != s->store.size || s->store.size == 0 ||
	    s->store.ck_len == 0) {
		int rc = logd_store_checkpoint(&s->store, &s->signer, c->origin, err,
		    errlen);
		if (rc != 0) {
			if (rc > 0)
				snprintf(err, errlen, "%s: disk full writing a checkpoint",
				    c->directory);
			return PGWARD_EXIT_TEMP;
		}
	}
	s->last_checkpoint_ms = s->last_sync_ms = sock_now_ms();
	log_debug("%s: %llu records, checkpoint at %llu", c->directory,
	    (unsigned long long)s->store.size,
	    (unsigned long long)s->store.checkpoint_size);
	return 0;
}

void
logd_service_close(struct logd_service *s)
{
	if (s->store_open)
		logd_store_close(&s->store);
	if (s->signer_loaded)
		note_signer_free(&s->signer);
	logd_config_result_free(s->config);
	memset(s, 0, sizeof *s);
}

void
logd_service_reload(struct logd_service *s)
{
	struct logd_config_result r = logd_config_load(s->config_path);
	if (r.error != NULL) {
		log_warn("reload: %s; keeping the running configuration", r.error);
		logd_config_result_free(r);
		return;
	}
	struct logd_config *old = s->config.config, *c = r.config;
	static const struct { const char *key; size_t off; } fixed[] = {
		{ "directory", offsetof(struct logd_config, directory) },
		{ "origin", offsetof(struct logd_config, origin) },
		{ "listen-unix", offsetof(struct logd_config, listen_unix) },
	};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
		char **a = (char **)((char *)old + fixed[i].off);
		char **b = (char **)((char *)c + fixed[i].off);
		if ((*a == NULL) != (*b == NULL) || (*a && strcmp(*a, *b) != 0)) {
			log_warn("reload: %s cannot change while running; keeping %s",
			    fixed[i].key, *a ? *a : "(none)");
			char *t = *a;
			*a = *b;
			*b = t;
		}
	}
	struct note_signer k;
	char err[512];
	if (load_signer(&k, c, err, sizeof err) != 0) {
		log_warn("reload: %s; keeping the running configuration", err);
		logd_config_result_free(r);
		return;
	}
	note_signer_free(&s->signer);
	s->signer = k;
	s->store.segment_size = c->segment_size;
	s->store.max_record_bytes = c->max_record_bytes;
	s->store.strict = c->strict;
	/* Leaving fast mode: what was acknowledged becomes durable now. */
	if (c->strict && logd_store_sync(&s->store, err, sizeof err) != 0)
		log_fatal(PGWARD_EXIT_TEMP, "%s", err);
	logd_config_result_free(s->config);
	s->config = r;
	log_info("reloaded %s", s->config_path);
}

static int
checkpoint(struct logd_service *s)
{
	char err[1024];
	const struct logd_config *c = s->config.config;
	int rc = logd_store_checkpoint(&s->store, &s->signer, c->origin, err,
	    sizeof err);
	if (rc < 0) {
		log_error("%s", err);
		return -1;
	}
	if (rc > 0)
		log_warn("%s: disk full: checkpoint at %llu not written; will retry",
		    c->directory, (unsigned long long)s->store.size);
	s->last_checkpoint_ms = sock_now_ms();
	if (rc == 0)
		s->last_sync_ms = s->last_checkpoint_ms;
	return 0;
}

long
logd_service_commit(struct logd_service *s, struct logd_append *a, size_t n)
{
	char err[1024];
	uint64_t before = s->store.size;
	long done = logd_store_append(&s->store, a, n, err, sizeof err);
	if (done < 0) {
		log_error("%s", err);
		return -1;
	}
	if (done < (long)n && n > 0 && strcmp(a[n - 1].error, "disk full") == 0)
		log_warn("%s: disk full: refused %zu records", s->config.config->directory,
		    n - (size_t)done);
	if (s->store.strict && s->store.size != before)
		s->last_sync_ms = sock_now_ms();
	if (done > 0 && s->config.config->checkpoint_every_commit &&
	    checkpoint(s) != 0)
		return -1;
	return done;
}

long long
logd_service_timers(struct logd_service *s, long long now)
{
	const struct logd_config *c = s->config.config;
	long long due = -1;
	if (s->store.synced_size != s->store.size) {
		long long at = s->last_sync_ms + c->fast_sync_interval_ms;
		if (now >= at) {
			char err[1024];
			if (logd_store_sync(&s->store, err, sizeof err) != 0) {
				log_error("%s", err);
				return -2;
			}
			s->last_sync_ms = now;
		} else {
			due = at - now;
		}
	}
	if (s->store.checkpoint_size != s->store.size) {
		long long at = s->last_checkpoint_ms + c->checkpoint_interval_ms;
		if (now >= at) {
			if (checkpoint(s) != 0)
				return -2;
			if (s->store.checkpoint_size != s->store.size)
				at = s->last_checkpoint_ms + c->checkpoint_interval_ms;
		}
		if (s->store.checkpoint_size != s->store.size &&
		    (due < 0 || at - now < due))
			due = at > now ? at - now : 0;
	}
	return due;
}

int
logd_service_finish(struct logd_service *s)
{
	char err[1024];
	if (logd_store_sync(&s->store, err, sizeof err) != 0) {
		log_error("%s", err);
		return -1;
	}
	if (s->store.checkpoint_size != s->store.size && checkpoint(s) != 0)
		return -1;
	return 0;
}

json_t *
logd_service_status(struct logd_service *s)
{
	uint8_t root[MERKLE_HASH_LEN];
	char b64[48];
	logd_store_root(&s->store, root);
	logd_root_base64(root, b64);
	return json_pack("{s:i, s:b, s:I, s:s, s:I, s:s}", "v", PGWARD_IPC_VERSION,
	    "ok", 1, "size", (json_int_t)s->store.size, "root", b64,
	    "checkpoint_size", (json_int_t)s->store.checkpoint_size,
	    "durability", s->store.strict ? "strict" : "fast");
}
