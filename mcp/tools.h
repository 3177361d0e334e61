#ifndef PGWARD_MCP_TOOLS_H
#define PGWARD_MCP_TOOLS_H

/* The MCP tools: query, list_tables, explain, review_status. Each turns
 * its arguments into statements for the relay and the relay's answer into
 * a CallToolResult; a refusal or an error is a result with isError, never
 * a JSON-RPC error, so that the agent reads the reason. */

#include <jansson.h>

#include "mcp/db.h"

#define TOOLS_DEFAULT_ROWS 100
#define TOOLS_MAX_WAIT_S 50

/* The tools/list answer (new reference). */
json_t *tools_list(void);

/* Calls the tool; returns a CallToolResult (new reference), or NULL when
 * there is no such tool. */
json_t *tools_call(struct db *d, const char *name, json_t *args);

#endif
