#include "auth/service.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ipc.h"
#include "log.h"

static int jwks_take(struct auth_service *s, const char *path, int initial);
static int stat_same(const struct stat *a, const struct stat *b);

int
auth_service_open(struct auth_service *s, const char *config_path, char *err,
    size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->config_path = config_path;
	s->config = auth_config_load(config_path);
	if (s->config.error != NULL) {
		snprintf(err, errlen, "%s", s->config.error);
		return PGWARD_EXIT_USAGE;
	}
	if (jwks_take(s, s->config.config->jwks, 1) != 0) {
		snprintf(err, errlen, "%s", s->keys.error);
		return PGWARD_EXIT_TEMP;
	}
	return 0;
}

void
auth_service_close(struct auth_service *s)
{
	auth_config_result_free(s->config);
	jwks_result_free(s->keys);
	memset(s, 0, sizeof *s);
}

struct token_result
auth_service_verify(struct auth_service *s, const char *token, size_t len)
{
	struct token_result t = token_verify(s->config.config, &s->keys, token,
	    len, (long long)time(NULL));
	char sub[80], kid[80], user[80], act[80];
	if (t.error != NULL)
		log_info("refused token for sub=%s kid=%s: %s",
		    token_printable(t.sub, sub, sizeof sub),
		    token_printable(t.kid, kid, sizeof kid), t.error);
	else
		log_debug("accepted token for user=%s sub=%s kid=%s principal=%s actor=%s",
		    token_printable(t.user, user, sizeof user),
		    token_printable(t.sub, sub, sizeof sub),
		    token_printable(t.kid, kid, sizeof kid), t.agent ? "agent" : "person",
		    token_printable(t.nactors ? t.actors[0].sub : NULL, act, sizeof act));
	return t;
}

json_t *
auth_identity_json(const struct token_result *t)
{
	json_t *groups = json_array();
	for (size_t i = 0; groups != NULL && i < t->ngroups; i++)
		json_array_append_new(groups, json_string(t->groups[i]));
	json_t *actor = json_array();
	for (size_t i = 0; actor != NULL && i < t->nactors; i++)
		json_array_append_new(actor, json_pack("{s:s, s:s*}", "sub",
		    t->actors[i].sub, "client_id", t->actors[i].client_id));
	json_t *r = json_pack("{s:i, s:b, s:s, s:o, s:I, s:s, s:s, s:s, s:o, s:s*}",
	    "v", PGWARD_IPC_VERSION, "ok", 1, "user", t->user, "groups", groups,
	    "exp", (json_int_t)t->exp, "iss", t->iss, "sub", t->sub,
	    "principal", t->agent ? "agent" : "person", "actor", actor,
	    "client_id", t->client_id);
	if (r != NULL && t->kid != NULL)
		json_object_set_new(r, "kid", json_string(t->kid));
	return r;
}

json_t *
auth_service_handle(struct auth_service *s, json_t *req)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	if (op != NULL && strcmp(op, "ping") == 0)
		return json_pack("{s:i, s:b}", "v", PGWARD_IPC_VERSION, "ok", 1);
	if (op == NULL || strcmp(op, "verify") != 0)
		return ipc_error_reply("unknown op");
	json_t *tok = json_object_get(req, "token");
	const char *token = json_string_value(tok);
	if (token == NULL || strlen(token) != json_string_length(tok)) {
		log_info("refused token for sub=- kid=-: request has no token string");
		return ipc_error_reply("token not accepted");
	}
	struct token_result t = auth_service_verify(s, token, json_string_length(tok));
	json_t *reply = t.error == NULL ? auth_identity_json(&t) : NULL;
	token_result_free(t);
	return reply != NULL ? reply : ipc_error_reply("token not accepted");
}

void
auth_service_tick(struct auth_service *s)
{
	struct stat st;
	const char *path = s->config.config->jwks;
	if (stat(path, &st) != 0 || stat_same(&st, &s->jwks_st))
		return;
	if (s->failed && stat_same(&st, &s->failed_st))
		return;
	jwks_take(s, path, 0);
}

void
auth_service_reload(struct auth_service *s)
{
	struct auth_config_result c = auth_config_load(s->config_path);
	if (c.error != NULL) {
		log_error("reload: %s; keeping the old configuration", c.error);
		auth_config_result_free(c);
		return;
	}
	const char *old_listen = s->config.config->listen_unix;
	const char *new_listen = c.config->listen_unix;
	if ((old_listen == NULL) != (new_listen == NULL) ||
	    (old_listen != NULL && strcmp(old_listen, new_listen) != 0))
		log_warn("reload: listen-unix changes only on restart");
	struct auth_config_result old = s->config;
	s->config = c;
	if (jwks_take(s, c.config->jwks, 0) != 0) {
		s->config = old;
		auth_config_result_free(c);
		log_error("reload: keeping the old configuration and keys");
		return;
	}
	auth_config_result_free(old);
	log_info("reloaded %s", s->config_path);
}

/* Loads path and puts its keys in force; on error keeps the old ones. */
static int
jwks_take(struct auth_service *s, const char *path, int initial)
{
	struct stat st;
	int have_st = stat(path, &st) == 0;
	struct jwks_result k = jwks_load(path);
	for (size_t i = 0; i < k.nwarnings; i++)
		log_warn("%s: %s", path, k.warnings[i]);
	if (k.error != NULL) {
		if (s->keys.nkeys > 0)
			log_error("%s; keeping the %zu keys in force", k.error, s->keys.nkeys);
		if (have_st) {
			s->failed_st = st;
			s->failed = 1;
		}
		if (s->keys.nkeys == 0) {
			jwks_result_free(s->keys);
			s->keys = k;
		} else {
			jwks_result_free(k);
		}
		return -1;
	}
	jwks_result_free(s->keys);
	s->keys = k;
	s->failed = 0;
	if (have_st)
		s->jwks_st = st;
	if (initial)
		log_debug("%s: %zu keys in force", path, k.nkeys);
	else
		log_info("%s: reloaded, %zu keys in force", path, k.nkeys);
	return 0;
}

static int
stat_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}
