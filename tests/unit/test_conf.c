/* lib/conf: the table-driven config parser every daemon uses. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

struct t_config {
	char *name;
	char *sock;		/* off-able */
	char *once;
	char *word;		/* checked: no 'x' */
	int n;
	long big;
	int flag;
	int mode;
	struct conf_list lines;
	struct conf_list items;
	char *need;
};

static int
no_x(const struct conf_key *k, const char *value, char *err, size_t errlen)
{
	(void)k;
	if (strchr(value, 'x') != NULL) {
		snprintf(err, errlen, "no x please");
		return -1;
	}
	return 0;
}

static const struct conf_choice modes[] = { { "a", 10 }, { "b", 20 }, { "c", 30 },
	{ NULL, 0 } };

#define S struct t_config
static const struct conf_key keys[] = {
	CONF_STRING("name", S, name, .def = "anon"),
	CONF_STRING_OFF("sock", S, sock),
	CONF_STRING("once", S, once, .flags = CONF_ONCE),
	CONF_STRING("word", S, word, .check = no_x),
	CONF_INT("n", S, n, .def = "7", .min = -5, .max = 100),
	CONF_LONG("big", S, big, .def = "4294967296", .min = 0, .max = 1L << 40),
	CONF_BOOL("flag", S, flag, .def = "yes"),
	CONF_CHOICE("mode", S, mode, .def = "b", .arg = modes),
	CONF_LIST("line", S, lines, .max = 3),
	CONF_LIST("items", S, items, .flags = CONF_ONCE, .def = "d1,d2", .max = 4,
	    .arg = ","),
	CONF_STRING("need", S, need, .flags = CONF_REQUIRED),
	{ .name = NULL }
};
#undef S

static char path[] = "/tmp/pgward-test-conf-XXXXXX";
static struct t_config cfg;
static char err[1024];
static conf_seen seen;

static void
setup(void)
{
	strcpy(path, "/tmp/pgward-test-conf-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

static void
teardown(void)
{
	unlink(path);
}

/* Loads text (with "need 1" appended); the struct is freed by the caller. */
static int
load(const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fputs("\nneed 1\n", f);
	fclose(f);
	memset(&cfg, 0, sizeof cfg);
	err[0] = '\0';
	return conf_load(path, keys, &cfg, &seen, err, sizeof err);
}

static void
fails(const char *text, const char *expect)
{
	ck_assert_msg(load(text) == -1, "accepted: %s", text);
	ck_assert_msg(strstr(err, expect) != NULL, "\"%s\" lacks \"%s\"", err, expect);
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "%s", err);
	conf_free(keys, &cfg);
	ck_assert_ptr_null(cfg.name);
	ck_assert_ptr_null(cfg.lines.v);
}

START_TEST(defaults_only_when_absent)
{
	ck_assert_int_eq(load("# nothing\n\n   \t\n"), 0);
	ck_assert_str_eq(cfg.name, "anon");
	ck_assert_ptr_null(cfg.sock);
	ck_assert_int_eq(cfg.n, 7);
	ck_assert_int_eq(cfg.big, 4294967296L);
	ck_assert_int_eq(cfg.flag, 1);
	ck_assert_int_eq(cfg.mode, 20);
	ck_assert_uint_eq(cfg.items.n, 2);
	ck_assert_str_eq(cfg.items.v[1], "d2");
	ck_assert(!conf_is_set(keys, seen, "name"));
	ck_assert(conf_is_set(keys, seen, "need"));
	ck_assert(!conf_is_set(keys, seen, "no-such-key"));
	conf_free(keys, &cfg);
	/* An explicit list replaces the default, it does not add to it. */
	ck_assert_int_eq(load("items a,b,c\nname  bob  the builder \t\nflag off\nmode c\n"), 0);
	ck_assert_uint_eq(cfg.items.n, 3);
	ck_assert_str_eq(cfg.items.v[0], "a");
	ck_assert_str_eq(cfg.name, "bob  the builder");
	ck_assert_int_eq(cfg.flag, 0);
	ck_assert_int_eq(cfg.mode, 30);
	ck_assert(conf_is_set(keys, seen, "name"));
	conf_free(keys, &cfg);
	ck_assert_ptr_null(cfg.items.v);
	ck_assert_uint_eq(cfg.items.n, 0);
}
END_TEST

START_TEST(repeated_keys)
{
	/* Without CONF_ONCE the last line wins and the old value is freed once
	 * (ASan checks the once); off frees it and leaves NULL; a list adds. */
	ck_assert_int_eq(load("name a\nname b\nsock /s\nsock off\nsock off\nsock /t\n"
	    "n 1\nn 2\nline one\nline two words\nname c\n"), 0);
	ck_assert_str_eq(cfg.name, "c");
	ck_assert_str_eq(cfg.sock, "/t");
	ck_assert_int_eq(cfg.n, 2);
	ck_assert_uint_eq(cfg.lines.n, 2);
	ck_assert_str_eq(cfg.lines.v[1], "two words");
	conf_free(keys, &cfg);
	ck_assert_int_eq(load("sock /s\nsock off\n"), 0);
	ck_assert_ptr_null(cfg.sock);
	ck_assert(conf_is_set(keys, seen, "sock"));
	conf_free(keys, &cfg);
	fails("once a\nonce b\n", ":2: duplicate key \"once\"");
	fails("items a\nitems b\n", ":2: duplicate key \"items\"");
	fails("line 1\nline 2\nline 3\nline 4\n", ":4: line: at most 3 values");
}
END_TEST

START_TEST(errors_name_file_line_and_key)
{
	fails("name a\nbogus 1\n", ":2: unknown key \"bogus\"");
	fails("name\n", ":1: name: missing value");
	fails("n   \t\n", ":1: n: missing value");
	fails("n 101\n", ":1: n: expected an integer from -5 to 100, got \"101\"");
	fails("n -6\n", "n: expected an integer");
	fails("n 1x\n", "n: expected an integer");
	fails("n 0x10\n", "n: expected an integer");
	fails("n 99999999999999999999\n", "n: expected an integer");
	fails("big -1\n", "big: expected an integer from 0 to 1099511627776");
	fails("flag maybe\n", ":1: flag: expected yes or no, got \"maybe\"");
	fails("mode d\n", ":1: mode: expected a, b or c, got \"d\"");
	fails("items a,,b\n", "items: expected names separated by");
	fails("items a,\n", "items: expected names separated by");
	fails("items a, b\n", "items: expected names separated by");
	fails("items 1,2,3,4,5\n", "items: at most 4 values");
	fails("word axe\n", ":1: word: no x please");
	/* The value is not set when its check fails. */
	ck_assert_int_eq(load("word ok\n"), 0);
	ck_assert_str_eq(cfg.word, "ok");
	conf_free(keys, &cfg);
}
END_TEST

START_TEST(required_and_file_errors)
{
	FILE *f = fopen(path, "w");
	fputs("name a\n", f);
	fclose(f);
	memset(&cfg, 0, sizeof cfg);
	ck_assert_int_eq(conf_load(path, keys, &cfg, NULL, err, sizeof err), -1);
	ck_assert_msg(strstr(err, ": need is required") != NULL, "%s", err);
	conf_free(keys, &cfg);
	f = fopen(path, "w");
	fwrite("name a\nn 1\0\n", 1, 12, f);
	fclose(f);
	memset(&cfg, 0, sizeof cfg);
	ck_assert_int_eq(conf_load(path, keys, &cfg, NULL, err, sizeof err), -1);
	ck_assert_msg(strstr(err, ":2: NUL byte in line") != NULL, "%s", err);
	conf_free(keys, &cfg);
	memset(&cfg, 0, sizeof cfg);
	ck_assert_int_eq(conf_load("/nonexistent/x.conf", keys, &cfg, NULL, err,
	    sizeof err), -1);
	ck_assert_str_eq(err, "/nonexistent/x.conf: No such file or directory");
	conf_free(keys, &cfg);
}
END_TEST

static Suite *
conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("table");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults_only_when_absent);
	tcase_add_test(tc, repeated_keys);
	tcase_add_test(tc, errors_name_file_line_and_key);
	tcase_add_test(tc, required_and_file_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(conf_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
