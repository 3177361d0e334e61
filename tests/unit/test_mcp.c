/* pgward-mcp's JSON-RPC reader and MCP dispatch without a relay: every
 * malformed shape gets the right error code and id, notifications and
 * responses get no answer, version negotiation, a line cut at every byte
 * never crashes and never is a request unless it is whole. */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/rpc.h"
#include "mcp/server.h"

static json_t *answer(const char *line);
static int error_code(json_t *a);

static struct db no_db;

static json_t *
answer(const char *line)
{
	struct server s = { .db = &no_db, .initialized = 1 };
	struct rpc_msg m;
	rpc_parse(line, strlen(line), &m);
	json_t *a = server_handle(&s, &m);
	rpc_msg_free(&m);
	return a;
}

static int
error_code(json_t *a)
{
	return (int)json_integer_value(json_object_get(json_object_get(a, "error"), "code"));
}

START_TEST(malformed_messages)
{
	static const struct { const char *line; int code; int id; } cases[] = {
		{ "{", RPC_PARSE_ERROR, -1 },
		{ "\"x\"", RPC_INVALID_REQUEST, -1 },
		{ "[]", RPC_INVALID_REQUEST, -1 },
		{ "{\"id\":1,\"method\":\"ping\"}", RPC_INVALID_REQUEST, 1 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":2}", RPC_INVALID_REQUEST, 2 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":7}", RPC_INVALID_REQUEST, 3 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", RPC_INVALID_REQUEST, -1 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}", RPC_INVALID_REQUEST, -1 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"x\"}", RPC_METHOD_NOT_FOUND, 4 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"params\":1}",
		    RPC_INVALID_PARAMS, 5 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{}}",
		    RPC_INVALID_PARAMS, 6 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\","
		    "\"params\":{\"name\":\"drop_everything\"}}", RPC_INVALID_PARAMS, 7 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"initialize\",\"params\":{}}",
		    RPC_INVALID_PARAMS, 8 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":9,\"id\":10,\"method\":\"ping\"}", RPC_PARSE_ERROR, -1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *a = answer(cases[i].line);
		ck_assert_msg(a != NULL, "%s", cases[i].line);
		ck_assert_int_eq(error_code(a), cases[i].code);
		json_t *id = json_object_get(a, "id");
		if (cases[i].id < 0)
			ck_assert(json_is_null(id));
		else
			ck_assert_int_eq(json_integer_value(id), cases[i].id);
		json_decref(a);
	}
}
END_TEST

START_TEST(no_answer_to_notifications_and_responses)
{
	ck_assert_ptr_null(answer("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"));
	ck_assert_ptr_null(answer("{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":3}"));
	ck_assert_ptr_null(answer("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"));
}
END_TEST

START_TEST(version_negotiation)
{
	static const char *const asks[][2] = {
		{ "2025-06-18", "2025-06-18" }, { "2024-11-05", "2024-11-05" },
		{ "2025-11-25", "2025-11-25" }, { "1999-01-01", SERVER_PROTOCOL_LATEST },
	};
	for (size_t i = 0; i < 4; i++) {
		char line[256];
		snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"initialize\","
		    "\"params\":{\"protocolVersion\":\"%s\",\"capabilities\":{}}}", asks[i][0]);
		json_t *a = answer(line);
		json_t *r = json_object_get(a, "result");
		ck_assert_str_eq(json_string_value(json_object_get(r, "protocolVersion")), asks[i][1]);
		ck_assert(json_is_object(json_object_get(json_object_get(r, "capabilities"), "tools")));
		ck_assert_str_eq(json_string_value(json_object_get(a, "id")), "a");
		json_decref(a);
	}
}
END_TEST

START_TEST(initialize_first)
{
	struct server s = { .db = &no_db };
	struct rpc_msg m;
	const char *l = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}";
	rpc_parse(l, strlen(l), &m);
	json_t *a = server_handle(&s, &m);
	ck_assert_int_eq(error_code(a), RPC_INVALID_REQUEST);
	json_decref(a);
	rpc_msg_free(&m);
	l = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
	rpc_parse(l, strlen(l), &m);
	a = server_handle(&s, &m);
	ck_assert(json_is_object(json_object_get(a, "result")));
	json_decref(a);
	rpc_msg_free(&m);
}
END_TEST

START_TEST(tools_listed)
{
	json_t *a = answer("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
	json_t *tools = json_object_get(json_object_get(a, "result"), "tools");
	ck_assert_int_eq(json_array_size(tools), 4);
	size_t i;
	json_t *t;
	json_array_foreach(tools, i, t)
		ck_assert_str_eq(json_string_value(json_object_get(json_object_get(t, "inputSchema"),
		    "type")), "object");
	json_decref(a);
}
END_TEST

START_TEST(cut_at_every_byte)
{
	const char *l = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{}}";
	for (size_t n = 0; n < strlen(l); n++) {
		struct rpc_msg m;
		rpc_parse(l, n, &m);
		ck_assert_int_eq(m.kind, RPC_INVALID);
		rpc_msg_free(&m);
	}
}
END_TEST

static Suite *
mcp_suite(void)
{
	Suite *s = suite_create("mcp");
	TCase *tc = tcase_create("rpc");
	tcase_add_test(tc, malformed_messages);
	tcase_add_test(tc, no_answer_to_notifications_and_responses);
	tcase_add_test(tc, version_negotiation);
	tcase_add_test(tc, initialize_first);
	tcase_add_test(tc, tools_listed);
	tcase_add_test(tc, cut_at_every_byte);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(mcp_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
