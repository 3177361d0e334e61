#ifndef PGWARD_MCP_SERVER_H
#define PGWARD_MCP_SERVER_H

/* The MCP methods over JSON-RPC: initialize (version negotiation),
 * notifications/initialized, ping, tools/list, tools/call. */

#include <jansson.h>

#include "mcp/db.h"
#include "mcp/rpc.h"

#define SERVER_PROTOCOL_LATEST "2025-11-25"

struct server {
	struct db *db;
	int initialized;	/* initialize answered */
	char version[16];	/* the protocol version agreed on */
};

/* The answer to one message (new reference), or NULL when none is due. */
json_t *server_handle(struct server *s, const struct rpc_msg *m);

#endif
