/* lib/sandbox.c: a process that sandboxed itself as the relay does cannot
 * open the audit signing key at all, nor the policy for writing, but still
 * reads its own files and binds its sockets. Each case forks: Landlock
 * cannot be undone, and the test runner must stay free. */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"

static char base[64];

static void
path_of(char *out, size_t len, const char *rel)
{
	snprintf(out, len, "%s/%s", base, rel);
}

static void
make_file(const char *rel)
{
	char p[256];
	path_of(p, sizeof p, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x\n", 2), 2);
	close(fd);
}

static void
setup(void)
{
	snprintf(base, sizeof base, "/tmp/pgward-sandbox-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
	const char *dirs[] = { "relay", "logd", "filter", "filter/state", "ca" };
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		char p[256];
		path_of(p, sizeof p, dirs[i]);
		ck_assert_int_eq(mkdir(p, 0700), 0);
	}
	make_file("relay/relay.conf");
	make_file("relay/relay.key");
	make_file("logd/signing.key");
	make_file("filter/policy.conf");
	make_file("filter/state/generation");
	make_file("ca/root.crt");
}

static void
teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "unable to remove %s\n", base);
}

/* 0 when open(rel, flags) succeeds, else errno. */
static int
try_open(const char *rel, int flags)
{
	char p[256];
	path_of(p, sizeof p, rel);
	int fd = open(p, flags | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int
try_bind(const char *rel)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char p[sizeof sa.sun_path];
	path_of(p, sizeof p, rel);
	memcpy(sa.sun_path, p, sizeof p);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : errno;
	close(fd);
	if (rc == 0)
		rc = unlink(p) == 0 ? 0 : errno;
	return rc;
}

static void
relay_sandbox(struct sandbox *sb)
{
	char p[256];
	sandbox_init(sb);
	path_of(p, sizeof p, "relay/relay.conf");
	sandbox_allow_dir_of(sb, p, SANDBOX_READ);
	path_of(p, sizeof p, "filter/state/generation");
	sandbox_allow_dir_of(sb, p, SANDBOX_READ);
	path_of(p, sizeof p, "relay");
	sandbox_allow(sb, p, SANDBOX_SOCKDIR);
	char ci[512];
	snprintf(ci, sizeof ci, "host=db port=5432 sslmode=verify-full sslrootcert=%s/ca/root.crt",
	    base);
	ck_assert_int_eq(sandbox_allow_conninfo(sb, ci), 0);
}

/* The child's exit status is the number of the first failed step (0: all
 * passed, 100: the sandbox could not be applied). */
#define CHILD_EXPECT(cond, step) do { if (!(cond)) _exit(step); } while (0)

static int
run_child(void (*body)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		body();
		_exit(0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
relay_child(void)
{
	struct sandbox sb;
	relay_sandbox(&sb);
	char err[256];
	int rc = sandbox_apply(&sb, err, sizeof err);
	sandbox_free(&sb);
	if (rc != 0) {
		fprintf(stderr, "sandbox_apply: %d %s\n", rc, rc < 0 ? err : "no Landlock");
		_exit(100);
	}
	CHILD_EXPECT(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, 1);
	/* What the relay must not do. */
	CHILD_EXPECT(try_open("logd/signing.key", O_RDONLY) == EACCES, 2);
	CHILD_EXPECT(try_open("filter/policy.conf", O_WRONLY) == EACCES, 3);
	CHILD_EXPECT(try_open("filter/policy.conf", O_RDWR) == EACCES, 4);
	CHILD_EXPECT(try_open("filter/state/generation", O_WRONLY) == EACCES, 5);
	CHILD_EXPECT(try_open("relay/relay.conf", O_WRONLY) == EACCES, 6);
	CHILD_EXPECT(try_open("relay/new", O_WRONLY | O_CREAT) == EACCES, 7);
	CHILD_EXPECT(try_open("logd", O_RDONLY | O_DIRECTORY) == EACCES, 8);
	CHILD_EXPECT(try_bind("logd/x.sock") == EACCES, 9);
	/* What it needs. */
	CHILD_EXPECT(try_open("relay/relay.conf", O_RDONLY) == 0, 20);
	CHILD_EXPECT(try_open("relay/relay.key", O_RDONLY) == 0, 21);
	CHILD_EXPECT(try_open("filter/state/generation", O_RDONLY) == 0, 22);
	CHILD_EXPECT(try_open("ca/root.crt", O_RDONLY) == 0, 23);
	CHILD_EXPECT(try_bind("relay/.s.PGSQL.5432") == 0, 24);
	CHILD_EXPECT(open("/dev/null", O_RDWR) >= 0, 25);
	CHILD_EXPECT(open("/etc/ssl", O_RDONLY | O_DIRECTORY) >= 0, 26);
}

START_TEST(relay_cannot_open_key_or_write_policy)
{
	int rc = run_child(relay_child);
	ck_assert_msg(rc != 100, "sandbox not applied (see stderr)");
	ck_assert_msg(rc == 0, "sandboxed relay: step %d failed", rc);
}
END_TEST

static void
writer_child(void)
{
	struct sandbox sb;
	char p[256];
	sandbox_init(&sb);
	sb.no_tcp = 1;
	path_of(p, sizeof p, "filter/state");
	sandbox_allow(&sb, p, SANDBOX_WRITE);
	path_of(p, sizeof p, "filter/policy.conf");
	sandbox_allow_dir_of(&sb, p, SANDBOX_READ);
	char err[256];
	if (sandbox_apply(&sb, err, sizeof err) != 0)
		_exit(100);
	sandbox_free(&sb);
	char a[256], b[256];
	CHILD_EXPECT(try_open("filter/state/reviews.tmp", O_WRONLY | O_CREAT) == 0, 1);
	path_of(a, sizeof a, "filter/state/reviews.tmp");
	path_of(b, sizeof b, "filter/state/reviews");
	CHILD_EXPECT(rename(a, b) == 0, 2);
	CHILD_EXPECT(unlink(b) == 0, 3);
	CHILD_EXPECT(try_open("filter/policy.conf", O_RDONLY) == 0, 4);
	CHILD_EXPECT(try_open("filter/policy.conf", O_WRONLY) == EACCES, 5);
	CHILD_EXPECT(try_open("relay/relay.key", O_RDONLY) == EACCES, 6);
	/* no_tcp: a TCP connect is refused by the sandbox, not by the network. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(9) };
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHILD_EXPECT(connect(fd, (struct sockaddr *)&in, sizeof in) != 0 && errno == EACCES, 7);
	close(fd);
}

START_TEST(state_dir_writable_rest_not)
{
	int rc = run_child(writer_child);
	ck_assert_msg(rc != 100, "sandbox not applied");
	ck_assert_msg(rc == 0, "sandboxed filter: step %d failed", rc);
}
END_TEST

static void
overflow_child(void)
{
	struct sandbox sb;
	sandbox_init(&sb);
	for (int i = 0; i <= SANDBOX_MAX_RULES; i++)
		sandbox_allow(&sb, "/tmp", SANDBOX_READ);
	char err[256];
	CHILD_EXPECT(sandbox_apply(&sb, err, sizeof err) == -1, 1);
	CHILD_EXPECT(strstr(err, "more than") != NULL, 2);
	sandbox_free(&sb);
	sandbox_init(&sb);
	CHILD_EXPECT(sandbox_allow_conninfo(&sb, "host=") == 0, 3);
	CHILD_EXPECT(sandbox_allow_conninfo(&sb, "host='unterminated") == -1, 4);
	sandbox_free(&sb);
}

START_TEST(too_many_paths_refused)
{
	ck_assert_int_eq(run_child(overflow_child), 0);
}
END_TEST

static Suite *
sandbox_suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("landlock");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, relay_cannot_open_key_or_write_policy);
	tcase_add_test(tc, state_dir_writable_rest_not);
	tcase_add_test(tc, too_many_paths_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sandbox_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
