#include "mcp/server.h"

#include <string.h>

#include "daemon.h"
#include "mcp/tools.h"

static json_t *server_initialize(struct server *s, const struct rpc_msg *m);
static json_t *server_tools_call(struct server *s, const struct rpc_msg *m);

/* Newest first: the first is offered to a client that asks for another. */
static const char *const server_versions[] = {
	SERVER_PROTOCOL_LATEST, "2025-06-18", "2025-03-26", "2024-11-05",
};

json_t *
server_handle(struct server *s, const struct rpc_msg *m)
{
	if (m->kind == RPC_INVALID)
		return rpc_error(m->id, m->code, m->error);
	if (m->kind != RPC_REQUEST)
		return NULL;	/* notifications (initialized, cancelled) and responses */
	if (strcmp(m->method, "initialize") == 0)
		return server_initialize(s, m);
	if (strcmp(m->method, "ping") == 0)
		return rpc_result(m->id, json_object());
	if (!s->initialized)
		return rpc_error(m->id, RPC_INVALID_REQUEST, "invalid request: initialize first");
	if (strcmp(m->method, "tools/list") == 0)
		return rpc_result(m->id, tools_list());
	if (strcmp(m->method, "tools/call") == 0)
		return server_tools_call(s, m);
	return rpc_error(m->id, RPC_METHOD_NOT_FOUND, "method not found");
}

static json_t *
server_initialize(struct server *s, const struct rpc_msg *m)
{
	const char *want = json_string_value(json_object_get(m->params, "protocolVersion"));
	if (want == NULL)
		return rpc_error(m->id, RPC_INVALID_PARAMS, "invalid params: protocolVersion "
		    "must be a string");
	const char *v = server_versions[0];
	for (size_t i = 0; i < sizeof server_versions / sizeof server_versions[0]; i++)
		if (strcmp(want, server_versions[i]) == 0)
			v = server_versions[i];
	snprintf(s->version, sizeof s->version, "%s", v);
	s->initialized = 1;
	return rpc_result(m->id, json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s}, s:s}",
	    "protocolVersion", v,
	    "capabilities", "tools", "listChanged", 0,
	    "serverInfo", "name", "pgward-mcp", "title", "pgward", "version", PGWARD_VERSION,
	    "instructions", "SQL through pgward-relay: the relay enforces policy, masks "
	    "columns, holds statements for review and records everything. A held statement "
	    "answers 'waiting for approval r-...'; use review_status to wait for it."));
}

static json_t *
server_tools_call(struct server *s, const struct rpc_msg *m)
{
	const char *name = json_string_value(json_object_get(m->params, "name"));
	json_t *args = json_object_get(m->params, "arguments");
	if (name == NULL)
		return rpc_error(m->id, RPC_INVALID_PARAMS, "invalid params: name must be a string");
	json_t *res = tools_call(s->db, name, args);
	if (res == NULL)
		return rpc_error(m->id, RPC_INVALID_PARAMS, "unknown tool");
	return rpc_result(m->id, res);
}
