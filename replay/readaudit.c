#include "replay/readaudit.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "log.h"

static char *
read_token(void)
{
	const char *t = getenv("PGWARD_TOKEN");
	if (t != NULL && *t != '\0')
		return strdup(t);
	const char *path = getenv("PGWARD_TOKEN_FILE");
	if (path == NULL || *path == '\0')
		return NULL;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		log_error("%s: cannot read the token file", path);
		return strdup("");
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);
	fclose(f);
	if (n < 0) {
		free(line);
		return strdup("");
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
		line[--n] = '\0';
	return line;
}

static const char *
socket_from_env(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v != NULL && *v != '\0' ? v : fallback;
}

static json_t *
call_once(const char *path, json_t *req, char *err, size_t errlen)
{
	struct ipc_client c;
	json_t *reply = NULL;
	if (ipc_client_open(&c, path, 5000, err, errlen) != 0)
		return NULL;
	if (ipc_client_call(&c, req, &reply, 5000, err, errlen) != 0)
		reply = NULL;
	ipc_client_close(&c);
	return reply;
}

int
readaudit_record(int argc, char **argv)
{
	char *token = read_token();
	if (token == NULL) {
		if (getenv("PGWARD_REPLAY_REQUIRE_TOKEN") != NULL) {
			log_error("reading the audit trail needs your token in $PGWARD_TOKEN "
			    "(it is recorded who reads what)");
			return PGWARD_EXIT_USAGE;
		}
		return 0;
	}
	char err[300];
	json_t *req = json_pack("{s:i, s:s, s:s}", "v", PGWARD_IPC_VERSION, "op", "verify",
	    "token", token);
	free(token);
	json_t *who = req ? call_once(socket_from_env("PGWARD_AUTH_SOCKET",
	    "/run/pgward/auth.sock"), req, err, sizeof err) : NULL;
	json_decref(req);
	if (who == NULL) {
		log_error("unable to check your token: pgward-auth: %s", err);
		return PGWARD_EXIT_TEMP;
	}
	if (!json_is_true(json_object_get(who, "ok"))) {
		json_decref(who);
		log_error("token not accepted");
		return 1;
	}
	json_t *args = json_array();
	for (int i = 1; i < argc; i++)
		json_array_append_new(args, json_string(argv[i]));
	json_t *rec = json_pack("{s:s, s:O, s:O, s:O, s:s, s:o}", "type", "read",
	    "user", json_object_get(who, "user"), "groups", json_object_get(who, "groups"),
	    "sub", json_object_get(who, "sub") ? json_object_get(who, "sub") : json_null(),
	    "command", argv[0], "args", args);
	json_decref(who);
	req = rec ? json_pack("{s:i, s:s, s:o}", "v", PGWARD_IPC_VERSION, "op", "append",
	    "record", rec) : NULL;
	json_t *ack = req ? call_once(socket_from_env("PGWARD_AUDIT_SOCKET",
	    "/run/pgward/logd.sock"), req, err, sizeof err) : NULL;
	json_decref(req);
	int ok = ack != NULL && json_is_true(json_object_get(ack, "ok"));
	if (!ok && ack != NULL) {
		const char *e = json_string_value(json_object_get(ack, "error"));
		snprintf(err, sizeof err, "%s", e ? e : "refused");
	}
	json_decref(ack);
	if (!ok) {
		log_error("the audit log did not record this read (%s); nothing is shown", err);
		return PGWARD_EXIT_TEMP;
	}
	return 0;
}
