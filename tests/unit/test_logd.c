#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auditrec.h"
#include "log.h"
#include "logd/config.h"
#include "logd/store.h"
#include "signnote.h"

static char base[] = "/tmp/test_logd.XXXXXX";
static char dir[300], keypath[300];
static struct note_signer signer;

static void
setup(void)
{
	log_init("test_logd");
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(dir, sizeof dir, "%s/log", base);
	snprintf(keypath, sizeof keypath, "%s/key.pem", base);
	char *vkey = NULL;
	struct note_result r = note_keygen("test.example/audit", keypath, &vkey);
	ck_assert_msg(r.error == NULL, "%s", r.error);
	free(vkey);
	r = note_signer_load(&signer, "test.example/audit", keypath);
	ck_assert_msg(r.error == NULL, "%s", r.error);
}

static void
teardown(void)
{
	char cmd[400];
	note_signer_free(&signer);
	snprintf(cmd, sizeof cmd, "rm -rf %s", base);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(base, "/tmp/test_logd.XXXXXX");
}

static int
store_open(struct logd_store *s, long segsize, char *err, size_t errlen)
{
	struct logd_store_opts o = { dir, segsize, 1024 * 1024, 1 };
	return logd_store_open(s, &o, err, errlen);
}

static void
must_open(struct logd_store *s, long segsize)
{
	char err[1024];
	ck_assert_msg(store_open(s, segsize, err, sizeof err) == 0, "%s", err);
}

static void
append_n(struct logd_store *s, int n, const char *sql)
{
	struct logd_append *a = calloc((size_t)n, sizeof *a);
	for (int i = 0; i < n; i++)
		a[i].payload = json_pack("{s:s, s:s, s:i}", "type", "intent", "sql",
		    sql, "i", i);
	char err[512];
	ck_assert_int_eq(logd_store_append(s, a, (size_t)n, err, sizeof err), n);
	for (int i = 0; i < n; i++) {
		ck_assert_str_eq(a[i].error, "");
		ck_assert_uint_eq(a[i].seq, s->size - (uint64_t)(n - 1 - i));
		json_decref(a[i].payload);
	}
	free(a);
}

static char *
path_of(const char *name)
{
	static char p[400];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return p;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	char *buf = malloc(1 << 20);
	*len = fread(buf, 1, 1 << 20, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void
spit(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* A log of n records in one segment, closed. */
static void
make_log(int n, uint8_t root[MERKLE_HASH_LEN])
{
	struct logd_store s;
	must_open(&s, 1 << 20);
	append_n(&s, n, "select 1");
	if (root != NULL)
		logd_store_root(&s, root);
	logd_store_close(&s);
}

static int
open_fails(const char *want)
{
	struct logd_store s;
	char err[1024];
	int rc = store_open(&s, 1 << 20, err, sizeof err);
	if (rc == 0) {
		logd_store_close(&s);
		return 0;
	}
	ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err,
	    want);
	return 1;
}

START_TEST(segment_names)
{
	char name[LOGD_SEGMENT_NAME_LEN];
	logd_segment_name(1, name);
	ck_assert_str_eq(name, "00000000000000000001.jsonl");
	logd_segment_name(18446744073709551615ULL, name);
	ck_assert_str_eq(name, "18446744073709551615.jsonl");
	ck_assert_uint_eq(logd_segment_parse("00000000000000000042.jsonl"), 42);
	ck_assert_uint_eq(logd_segment_parse("18446744073709551615.jsonl"),
	    18446744073709551615ULL);
	ck_assert_uint_eq(logd_segment_parse("99999999999999999999.jsonl"), 0);
	ck_assert_uint_eq(logd_segment_parse("0000000000000000042.jsonl"), 0);
	ck_assert_uint_eq(logd_segment_parse("00000000000000000042.jsonl~"), 0);
	ck_assert_uint_eq(logd_segment_parse("current.jsonl"), 0);
}
END_TEST

START_TEST(record_checks)
{
	char err[128];
	json_t *j = json_pack("{s:s}", "type", "intent");
	ck_assert_int_eq(logd_record_check(j, err, sizeof err), 0);
	json_object_set_new(j, "prev", json_string("x"));
	ck_assert_int_eq(logd_record_check(j, err, sizeof err), -1);
	ck_assert_str_eq(err, "reserved member prev");
	json_decref(j);
	j = json_pack("{s:i}", "type", 1);
	ck_assert_int_eq(logd_record_check(j, err, sizeof err), -1);
	ck_assert_str_eq(err, "record must be an object with a string type");
	json_decref(j);
	ck_assert_int_eq(logd_record_check(NULL, err, sizeof err), -1);
	j = json_array();
	ck_assert_int_eq(logd_record_check(j, err, sizeof err), -1);
	json_decref(j);
}
END_TEST

START_TEST(append_refusals_keep_order)
{
	struct logd_store s;
	must_open(&s, 1 << 20);
	s.max_record_bytes = 400;
	char big[1000];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	struct logd_append a[4] = {
		{ .payload = json_pack("{s:s}", "type", "a") },
		{ .payload = json_pack("{s:s, s:s}", "type", "b", "sql", big) },
		{ .payload = json_pack("{s:s, s:i}", "type", "c", "seq", 9) },
		{ .payload = json_pack("{s:s}", "type", "d") },
	};
	char err[256];
	ck_assert_int_eq(logd_store_append(&s, a, 4, err, sizeof err), 2);
	ck_assert_uint_eq(a[0].seq, 1);
	ck_assert_uint_eq(a[1].seq, 0);
	ck_assert_str_eq(a[1].error, "record too large");
	ck_assert_str_eq(a[2].error, "reserved member seq");
	ck_assert_uint_eq(a[3].seq, 2);
	for (int i = 0; i < 4; i++)
		json_decref(a[i].payload);
	logd_store_close(&s);
}
END_TEST

START_TEST(reopen_same_root)
{
	uint8_t r1[32], r2[32];
	make_log(10, r1);
	struct logd_store s;
	must_open(&s, 1 << 20);
	ck_assert_uint_eq(s.size, 10);
	ck_assert_ptr_null(s.repair);
	logd_store_root(&s, r2);
	ck_assert_mem_eq(r1, r2, 32);
	append_n(&s, 1, "select 2");
	ck_assert_uint_eq(s.size, 11);
	logd_store_close(&s);
}
END_TEST

START_TEST(lock_one_per_directory)
{
	struct logd_store s;
	must_open(&s, 1 << 20);
	ck_assert(open_fails("another pgward-logd"));
	logd_store_close(&s);
	struct logd_store t;
	must_open(&t, 1 << 20);
	logd_store_close(&t);
}
END_TEST

static void
check_repaired(size_t good_len, size_t cut, const char *reason)
{
	struct logd_store s;
	must_open(&s, 1 << 20);
	ck_assert_ptr_nonnull(s.repair);
	ck_assert_str_eq(json_string_value(json_object_get(s.repair, "type")),
	    "repair");
	ck_assert_int_eq(json_integer_value(json_object_get(s.repair, "offset")),
	    (json_int_t)good_len);
	ck_assert_int_eq(json_integer_value(json_object_get(s.repair, "bytes")),
	    (json_int_t)cut);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(s.repair,
	    "reason")), reason));
	const char *kept = json_string_value(json_object_get(s.repair, "kept"));
	ck_assert_ptr_nonnull(kept);
	ck_assert(strncmp(kept, "torn/", 5) == 0);
	size_t klen;
	char *k = slurp(path_of(kept), &klen);
	ck_assert_uint_eq(klen, cut);
	free(k);
	struct stat st;
	ck_assert_int_eq(stat(path_of("00000000000000000001.jsonl"), &st), 0);
	ck_assert_uint_eq((size_t)st.st_size, good_len);
	ck_assert_uint_eq(s.size, 3);
	struct logd_append a = { .payload = s.repair };
	char err[256];
	ck_assert_int_eq(logd_store_append(&s, &a, 1, err, sizeof err), 1);
	ck_assert_uint_eq(a.seq, 4);
	logd_store_close(&s);
	/* The repaired log opens cleanly. */
	must_open(&s, 1 << 20);
	ck_assert_ptr_null(s.repair);
	ck_assert_uint_eq(s.size, 4);
	logd_store_close(&s);
}

START_TEST(torn_tail_without_newline)
{
	make_log(3, NULL);
	size_t len;
	char *data = slurp(path_of("00000000000000000001.jsonl"), &len);
	const char *tail = "{\"seq\":4,\"ts\":\"2026-";
	char *all = malloc(len + strlen(tail) + 1);
	memcpy(all, data, len);
	memcpy(all + len, tail, strlen(tail));
	spit(path_of("00000000000000000001.jsonl"), all, len + strlen(tail));
	check_repaired(len, strlen(tail), "no newline");
	free(all);
	free(data);
}
END_TEST

START_TEST(torn_tail_bad_last_line)
{
	make_log(4, NULL);
	size_t len;
	char *data = slurp(path_of("00000000000000000001.jsonl"), &len);
	/* Damage the last line (a whole line, newline included). */
	char *last = data + len - 1;
	while (last[-1] != '\n')
		last--;
	size_t good = (size_t)(last - data);
	last[20] ^= 1;
	spit(path_of("00000000000000000001.jsonl"), data, len);
	check_repaired(good, len - good, "");
	free(data);
}
END_TEST

START_TEST(corrupt_before_tail_refused)
{
	make_log(5, NULL);
	size_t len;
	char *data = slurp(path_of("00000000000000000001.jsonl"), &len);
	char *p = strstr(data, "select 1");
	p[7] = '2';
	spit(path_of("00000000000000000001.jsonl"), data, len);
	ck_assert(open_fails("00000000000000000001.jsonl:1: record 1: "));
	ck_assert(open_fails("corrupt before its tail"));
	/* Nothing was cut. */
	struct stat st;
	ck_assert_int_eq(stat(path_of("00000000000000000001.jsonl"), &st), 0);
	ck_assert_uint_eq((size_t)st.st_size, len);
	ck_assert_int_ne(access(path_of("torn"), F_OK), 0);
	free(data);
}
END_TEST

START_TEST(bad_line_then_good_refused)
{
	make_log(3, NULL);
	size_t len;
	char *data = slurp(path_of("00000000000000000001.jsonl"), &len);
	char *all = malloc(len + 10);
	/* A torn line followed by a good one is not a tail. */
	char *second = strchr(data, '\n') + 1;
	size_t first = (size_t)(second - data);
	memcpy(all, data, first);
	memcpy(all + first, "{\"seq\":\n", 8);
	memcpy(all + first + 8, second, len - first);
	spit(path_of("00000000000000000001.jsonl"), all, len + 8);
	ck_assert(open_fails(":2: record 2: "));
	free(all);
	free(data);
}
END_TEST

START_TEST(gap_refused)
{
	make_log(4, NULL);
	size_t len;
	char *data = slurp(path_of("00000000000000000001.jsonl"), &len);
	char *l2 = strchr(data, '\n') + 1;
	char *l3 = strchr(l2, '\n') + 1;
	memmove(l2, l3, len - (size_t)(l3 - data));
	len -= (size_t)(l3 - l2);
	spit(path_of("00000000000000000001.jsonl"), data, len);
	ck_assert(open_fails("record 2: seq 3 where 2 was expected"));
	free(data);
}
END_TEST

START_TEST(rechained_tail_caught_by_checkpoint)
{
	struct logd_store s;
	must_open(&s, 1 << 20);
	append_n(&s, 3, "select 1");
	char err[256];
	ck_assert_int_eq(logd_store_checkpoint(&s, &signer, "test.example/audit",
	    err, sizeof err), 0);
	ck_assert_uint_eq(s.checkpoint_size, 3);
	logd_store_close(&s);
	/* Truncating a whole record leaves a valid chain; the checkpoint
	 * still covers it. */
	size_t len;
	char *data = slurp(path_of("00000000000000000001.jsonl"), &len);
	char *last = data + len - 1;
	while (last[-1] != '\n')
		last--;
	spit(path_of("00000000000000000001.jsonl"), data, (size_t)(last - data));
	ck_assert(open_fails("checkpoint of size 3 but the log has 2 records"));
	free(data);
}
END_TEST

START_TEST(checkpoint_root_mismatch_refused)
{
	make_log(2, NULL);
	struct logd_store s;
	must_open(&s, 1 << 20);
	char err[256];
	ck_assert_int_eq(logd_store_checkpoint(&s, &signer, "o", err, sizeof err), 0);
	logd_store_close(&s);
	size_t len;
	char *data = slurp(path_of("checkpoints.jsonl"), &len);
	char *r = strstr(data, "\"root\":\"") + 8;
	r[0] = r[0] == 'A' ? 'B' : 'A';
	spit(path_of("checkpoints.jsonl"), data, len);
	ck_assert(open_fails("checkpoint of size 2 has root"));
	free(data);
}
END_TEST

START_TEST(checkpoint_files)
{
	struct logd_store s;
	must_open(&s, 1 << 20);
	append_n(&s, 5, "select 1");
	char err[256];
	ck_assert_int_eq(logd_store_checkpoint(&s, &signer, "test.example/audit",
	    err, sizeof err), 0);
	logd_store_close(&s);
	size_t len;
	char *note = slurp(path_of("checkpoint"), &len);
	ck_assert(strncmp(note, "test.example/audit\n5\n", 21) == 0);
	char *vk = note_signer_vkey(&signer);
	struct note_verifier v;
	struct note_result nr = note_verifier_parse(&v, vk);
	ck_assert_msg(nr.error == NULL, "%s", nr.error);
	struct checkpoint c;
	nr = note_verify_checkpoint(&v, note, len, &c);
	ck_assert_msg(nr.error == NULL, "%s", nr.error);
	ck_assert_uint_eq(c.size, 5);
	checkpoint_free(&c);
	note_verifier_free(&v);
	free(vk);
	free(note);
	/* A torn last checkpoint line is cut (kept aside) and the log opens. */
	int fd = open(path_of("checkpoints.jsonl"), O_WRONLY | O_APPEND);
	ck_assert_int_eq(write(fd, "{\"size\":6,", 10), 10);
	close(fd);
	must_open(&s, 1 << 20);
	ck_assert_uint_eq(s.checkpoint_size, 5);
	ck_assert_ptr_null(s.repair);
	logd_store_close(&s);
}
END_TEST

START_TEST(rotation)
{
	struct logd_store s;
	must_open(&s, 4096);
	for (int i = 0; i < 20; i++)
		append_n(&s, 7, "select * from customers where id = 1");
	uint64_t size = s.size;
	uint8_t r1[32], r2[32];
	logd_store_root(&s, r1);
	logd_store_close(&s);
	/* Every segment is named by its first seq and holds whole records. */
	uint64_t next = 1;
	int segments = 0;
	for (;;) {
		char name[LOGD_SEGMENT_NAME_LEN];
		logd_segment_name(next, name);
		size_t len;
		if (access(path_of(name), F_OK) != 0)
			break;
		char *data = slurp(path_of(name), &len);
		ck_assert_uint_le(len, 4096);
		ck_assert_uint_gt(len, 0);
		struct auditrec r;
		char err[128];
		char *nl = strchr(data, '\n');
		ck_assert_int_eq(auditrec_parse(data, (size_t)(nl - data), &r, err,
		    sizeof err), 0);
		ck_assert_uint_eq(r.seq, next);
		json_decref(r.json);
		for (char *p = data; *p; p++)
			next += *p == '\n';
		free(data);
		segments++;
	}
	ck_assert_uint_eq(next, size + 1);
	ck_assert_int_gt(segments, 3);
	char link[64], name[LOGD_SEGMENT_NAME_LEN];
	ssize_t n = readlink(path_of("current.jsonl"), link, sizeof link - 1);
	ck_assert_int_gt(n, 0);
	link[n] = '\0';
	must_open(&s, 4096);
	logd_segment_name(s.seg_first, name);
	ck_assert_str_eq(link, name);
	ck_assert_uint_eq(s.size, size);
	logd_store_root(&s, r2);
	ck_assert_mem_eq(r1, r2, 32);
	logd_store_close(&s);
}
END_TEST

START_TEST(segment_boundary_gap_refused)
{
	struct logd_store s;
	must_open(&s, 4096);
	for (int i = 0; i < 10; i++)
		append_n(&s, 7, "select * from customers where id = 1");
	logd_store_close(&s);
	char name[LOGD_SEGMENT_NAME_LEN];
	logd_segment_name(1, name);
	ck_assert_int_eq(unlink(path_of(name)), 0);
	ck_assert(open_fails("segment starts at record"));
}
END_TEST

START_TEST(disk_full_keeps_log)
{
	struct logd_store s;
	must_open(&s, 1 << 20);
	append_n(&s, 3, "select 1");
	struct stat st;
	ck_assert_int_eq(stat(path_of("00000000000000000001.jsonl"), &st), 0);
	off_t good = st.st_size;
	struct logd_append a[5] = { 0 };
	for (int i = 0; i < 5; i++)
		a[i].payload = json_pack("{s:s, s:s}", "type", "intent", "sql",
		    "select 'a fairly long statement that will not fit'");
	char err[256];
	/* A file size limit fails writes with EFBIG, as a full disk would.
	 * No ck_assert while it holds: Check writes its own files too. */
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit rl = { (rlim_t)good + 100, RLIM_INFINITY };
	int lim = setrlimit(RLIMIT_FSIZE, &rl);
	long done = logd_store_append(&s, a, 5, err, sizeof err);
	rl.rlim_cur = RLIM_INFINITY;
	int unlim = setrlimit(RLIMIT_FSIZE, &rl);
	ck_assert_int_eq(lim, 0);
	ck_assert_int_eq(unlim, 0);
	ck_assert_int_eq(done, 0);
	for (int i = 0; i < 5; i++) {
		ck_assert_uint_eq(a[i].seq, 0);
		ck_assert_str_eq(a[i].error, "disk full");
	}
	ck_assert_int_eq(stat(path_of("00000000000000000001.jsonl"), &st), 0);
	ck_assert_int_eq(st.st_size, good);
	ck_assert_uint_eq(s.size, 3);
	ck_assert_int_eq(logd_store_append(&s, a, 5, err, sizeof err), 5);
	ck_assert_uint_eq(a[0].seq, 4);
	for (int i = 0; i < 5; i++)
		json_decref(a[i].payload);
	logd_store_close(&s);
	must_open(&s, 1 << 20);
	ck_assert_uint_eq(s.size, 8);
	logd_store_close(&s);
}
END_TEST

START_TEST(config_values)
{
	char conf[400];
	snprintf(conf, sizeof conf, "%s/logd.conf", base);
	FILE *f = fopen(conf, "w");
	fprintf(f, "directory %s\norigin pgward.example.com/audit\n"
	    "signing-key %s\ndurability fast\nsegment-size 8192\n"
	    "max-record-bytes 4096\n", dir, keypath);
	fclose(f);
	struct logd_config_result r = logd_config_load(conf);
	ck_assert_msg(r.error == NULL, "%s", r.error);
	ck_assert_str_eq(r.config->key_name, "pgward.example.com/audit");
	ck_assert_int_eq(r.config->strict, 0);
	ck_assert_int_eq(r.config->segment_size, 8192);
	ck_assert_int_eq(r.config->checkpoint_interval_ms, 1000);
	ck_assert_int_eq(r.config->max_record_bytes, 4096);
	ck_assert_int_eq(r.config->checkpoint_every_commit, 0);
	logd_config_result_free(r);
	f = fopen(conf, "a");
	fprintf(f, "segment-size 100\n");
	fclose(f);
	r = logd_config_load(conf);
	ck_assert_ptr_nonnull(strstr(r.error, "duplicate key"));
	logd_config_result_free(r);
	f = fopen(conf, "w");
	fprintf(f, "directory %s\norigin o\nsigning-key %s\nsegment-size 100\n",
	    dir, keypath);
	fclose(f);
	r = logd_config_load(conf);
	ck_assert_ptr_nonnull(strstr(r.error, "segment-size: expected an integer"));
	logd_config_result_free(r);
	chmod(keypath, 0640);
	f = fopen(conf, "w");
	fprintf(f, "directory %s\norigin o\nsigning-key %s\n", dir, keypath);
	fclose(f);
	r = logd_config_load(conf);
	ck_assert_ptr_nonnull(strstr(r.error, "too open"));
	logd_config_result_free(r);
}
END_TEST

static Suite *
logd_suite(void)
{
	Suite *s = suite_create("logd");
	TCase *tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, segment_names);
	tcase_add_test(tc, record_checks);
	tcase_add_test(tc, append_refusals_keep_order);
	tcase_add_test(tc, reopen_same_root);
	tcase_add_test(tc, lock_one_per_directory);
	tcase_add_test(tc, torn_tail_without_newline);
	tcase_add_test(tc, torn_tail_bad_last_line);
	tcase_add_test(tc, corrupt_before_tail_refused);
	tcase_add_test(tc, bad_line_then_good_refused);
	tcase_add_test(tc, gap_refused);
	tcase_add_test(tc, rechained_tail_caught_by_checkpoint);
	tcase_add_test(tc, checkpoint_root_mismatch_refused);
	tcase_add_test(tc, checkpoint_files);
	tcase_add_test(tc, rotation);
	tcase_add_test(tc, segment_boundary_gap_refused);
	tcase_add_test(tc, disk_full_keeps_log);
	tcase_add_test(tc, config_values);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(logd_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
