#ifndef PGWARD_MCP_RPC_H
#define PGWARD_MCP_RPC_H

/* JSON-RPC 2.0 as MCP's stdio transport carries it: one message per line,
 * no batches. rpc_parse sorts a line into a request, a notification, a
 * response (which pgward-mcp never asked for and ignores) or an error to
 * send back. */

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#define RPC_PARSE_ERROR -32700
#define RPC_INVALID_REQUEST -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS -32602
#define RPC_INTERNAL_ERROR -32603

enum rpc_kind { RPC_REQUEST, RPC_NOTIFICATION, RPC_RESPONSE, RPC_INVALID };

struct rpc_msg {
	enum rpc_kind kind;
	json_t *root;		/* owned; NULL when the line is not JSON */
	json_t *id;		/* borrowed from root; json null when unknown */
	const char *method;	/* borrowed */
	json_t *params;		/* borrowed; NULL when absent */
	int code;		/* RPC_INVALID: the error to answer with */
	const char *error;	/* RPC_INVALID: its message */
};

void rpc_parse(const char *line, size_t len, struct rpc_msg *m);
void rpc_msg_free(struct rpc_msg *m);

/* New references: a response with result (stolen) or an error. */
json_t *rpc_result(json_t *id, json_t *result);
json_t *rpc_error(json_t *id, int code, const char *message);

/* Writes msg (stolen) as one line and flushes. Returns 0 or -1. */
int rpc_write(FILE *out, json_t *msg);

#endif
