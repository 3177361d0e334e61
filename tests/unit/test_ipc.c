/* lib/ipc: line limits and long lines. */

#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc.h"
#include "sock.h"

START_TEST(line_limit_covers_escaping)
{
	ck_assert_uint_eq(ipc_line_limit(0), PGWARD_IPC_MAX_LINE);
	ck_assert_uint_eq(ipc_line_limit(256 << 20), 6 * (size_t)(256 << 20) + (1 << 20));
	ck_assert_uint_eq(ipc_line_limit(SIZE_MAX / 2), SIZE_MAX);
	/* The worst byte for JSON_ENSURE_ASCII: a control character. */
	size_t n = 100000;
	char *s = malloc(n + 1);
	memset(s, 1, n);
	s[n] = '\0';
	json_t *j = json_pack("{s:s}", "sql", s);
	char *out = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	ck_assert_uint_le(strlen(out), ipc_line_limit(n) - (1 << 20) + 64);
	ck_assert_uint_ge(strlen(out), 6 * n);
	free(out);
	json_decref(j);
	free(s);
}
END_TEST

/* A reply of 9 MiB arriving in many reads: refused over max_line, taken
 * under it; what follows it on the connection stays for the next call. */
START_TEST(client_reply_limit_and_long_line)
{
	size_t n = 9 << 20;
	char *s = malloc(n + 1);
	memset(s, 'x', n);
	s[n] = '\0';
	json_t *big = json_pack("{s:s}", "text", s);
	for (int limit = 0; limit < 2; limit++) {
		int sv[2];
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(sv[0]);
			ipc_send(sv[1], big, 10000);
			json_t *small = json_pack("{s:i}", "next", 2);
			ipc_send(sv[1], small, 10000);
			_exit(0);
		}
		close(sv[1]);
		struct ipc_client c = { .fd = sv[0] };
		sock_set_nonblock(c.fd, 1);
		c.max_line = limit ? ipc_line_limit(n) : 0;
		json_t *reply;
		char err[200];
		int rc = ipc_client_recv(&c, &reply, 10000, err, sizeof err);
		if (!limit) {
			ck_assert_int_eq(rc, -1);
			ck_assert_msg(strstr(err, "reply longer than 4194304 bytes") != NULL, "%s", err);
			ck_assert_int_eq(c.fd, -1);
		} else {
			ck_assert_msg(rc == 0, "%s", err);
			ck_assert_uint_eq(strlen(json_string_value(json_object_get(reply, "text"))), n);
			json_decref(reply);
			ck_assert_int_eq(ipc_client_recv(&c, &reply, 10000, err, sizeof err), 0);
			ck_assert_int_eq(json_integer_value(json_object_get(reply, "next")), 2);
			json_decref(reply);
			ipc_client_close(&c);
		}
		waitpid(pid, NULL, 0);
	}
	json_decref(big);
	free(s);
}
END_TEST

static Suite *
ipc_suite(void)
{
	Suite *s = suite_create("ipc");
	TCase *tc = tcase_create("lines");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, line_limit_covers_escaping);
	tcase_add_test(tc, client_reply_limit_and_long_line);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ipc_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
