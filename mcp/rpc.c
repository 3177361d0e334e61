
#include "mcp/rpc.h"

#include <string.h>

void
rpc_parse(const char *line, size_t len, struct rpc_msg *m)
{
	json_error_t je;
	memset(m, 0, sizeof *m);
	m->kind = RPC_INVALID;
	m->id = json_null();
	m->root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (m->root == NULL) {
		m->code = RPC_PARSE_ERROR;
		m->error = "parse error: not JSON";
		return;
	}
	m->code = RPC_INVALID_REQUEST;
	if (json_is_array(m->root)) {
		m->error = "invalid request: batches are not supported";
		return;
	}
	if (!json_is_object(m->root)) {
		m->error = "invalid request: not an object";
		return;
	}
	json_t *id = json_object_get(m->root, "id");
	/* Only a string or an integer can be answered with; MCP forbids null. */
	int id_ok = id != NULL && (json_is_string(id) || json_is_integer(id));
	if (id_ok)
		m->id = id;
	json_t *v = json_object_get(m->root, "jsonrpc");
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0) {
		m->error = "invalid request: jsonrpc must be \"2.0\"";
		return;
	}
	json_t *method = json_object_get(m->root, "method");
	if (method == NULL) {
		if (id_ok && (json_object_get(m->root, "result") || json_object_get(m->root, "error"))) {
			m->kind = RPC_RESPONSE;
			return;
		}
		m->error = "invalid request: no method";
		return;
	}
	if (!json_is_string(method)) {
		m->error = "invalid request: method must be a string";
		return;
	}
	if (id != NULL && !id_ok) {
		m->error = "invalid request: id must be a string or an integer";
		return;
	}
	json_t *params = json_object_get(m->root, "params");
	if (params != NULL && !json_is_object(params)) {
		m->code = RPC_INVALID_PARAMS;
		m->error = "invalid params: params must be an object";
		if (id == NULL)
			m->kind = RPC_NOTIFICATION;	/* never answered */
		return;
	}
	m->method = json_string_value(method);
	m->params = params;
	m->kind = id == NULL ? RPC_NOTIFICATION : RPC_REQUEST;
}

void
rpc_msg_free(struct rpc_msg *m)
{
	json_decref(m->root);
	memset(m, 0, sizeof *m);
}

json_t *
rpc_result(json_t *id, json_t *result)
{
	return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

json_t *
rpc_error(json_t *id, int code, const char *message)
{
	return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id,
	    "error", "code", code, "message", message);
}

int
rpc_write(FILE *out, json_t *msg)
{
	if (msg == NULL)
		return -1;
	int rc = json_dumpf(msg, out, JSON_COMPACT);
	json_decref(msg);
	if (rc != 0 || fputc('\n', out) == EOF || fflush(out) != 0)
		return -1;
	return 0;
}
