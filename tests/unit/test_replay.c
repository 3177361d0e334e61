/* pgward-replay without processes: the fast record check against
 * auditrec_parse (it may only accept what auditrec_parse accepts), the
 * segment reader, and verify_run over logs built here and signed with a
 * key made here. */

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditrec.h"
#include "b64.h"
#include "merkle.h"
#include "replay/logread.h"
#include "replay/rec.h"
#include "replay/recfast.h"
#include "replay/verify.h"
#include "signnote.h"

static const char *const payloads[] = {
	"{\"type\":\"intent\",\"sql\":\"select 1\"}",
	"{\"type\":\"intent\",\"sql\":\"a \\\"q\\\" \\\\ \\n\\t/\",\"n\":-12,\"z\":0,\"b\":true,\"x\":null,\"f\":false}",
	"{\"type\":\"r\",\"groups\":[\"a\",[],{},[1,[2]]],\"o\":{\"k\":{\"k\":1}}}",
	"{\"type\":\"u\",\"s\":\"caf\\u00e9 \\u0001\"}",	/* \u escapes: slow path */
	"{\"type\":\"real\",\"d\":1.5,\"e\":1e5}",	/* slow path */
	/* Who acts, as the relay writes it (docs/audit-records.md). */
	"{\"type\":\"intent\",\"session\":\"s\",\"user\":\"bob\",\"principal\":\"person\","
	"\"actor\":[{\"sub\":\"ci-bot\",\"client_id\":\"pgward-ci\"},{\"sub\":\"deploy-svc\"}],"
	"\"client_id\":\"pgward-ci\",\"sql\":\"select 1\"}",
};

static char *
build(uint64_t seq, const uint8_t prev[32], const char *payload, size_t *len,
    uint8_t hash[32])
{
	json_error_t je;
	json_t *p = json_loads(payload, 0, &je);
	ck_assert_msg(p != NULL, "%s: %s", payload, je.text);
	char err[256];
	char *line = auditrec_build(seq, "2026-11-27T14:55:04.123456Z", prev, p, len,
	    hash, err, sizeof err);
	json_decref(p);
	ck_assert_msg(line != NULL, "%s", err);
	(*len)--;	/* without the newline */
	return line;
}

static int
parse_ok(const char *line, size_t len, struct auditrec *r)
{
	char err[256];
	int rc = auditrec_parse(line, len, r, err, sizeof err);
	if (rc == 0)
		json_decref(r->json);
	return rc == 0;
}

START_TEST(recfast_agrees_with_auditrec_parse)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t prev[32] = { 0 }, hash[32];
	int fast = 0;
	for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
		size_t len;
		char *line = build(i + 1, prev, payloads[i], &len, hash);
		struct auditrec r;
		ck_assert(parse_ok(line, len, &r));
		uint64_t seq;
		uint8_t p2[32], h2[32];
		if (recfast_check(line, len, md, &seq, p2, h2)) {
			fast++;
			ck_assert_uint_eq(seq, r.seq);
			ck_assert(memcmp(p2, r.prev, 32) == 0 && memcmp(h2, r.hash, 32) == 0);
		}
		/* Every one-byte change: fast acceptance implies acceptance. */
		static const char subst[] = "\"\\{}[],:0-1a \x7f\x01uE.";
		for (size_t j = 0; j < len; j++) {
			char orig = line[j];
			for (const char *c = subst; *c != '\0'; c++) {
				line[j] = *c;
				if (recfast_check(line, len, md, &seq, p2, h2))
					ck_assert_msg(parse_ok(line, len, &r),
					    "fast path accepted %.*s", (int)len, line);
			}
			line[j] = orig;
		}
		/* Truncations too. */
		for (size_t n = 0; n < len; n++) {
			uint64_t s2;
			if (recfast_check(line, n, md, &s2, p2, h2))
				ck_assert(parse_ok(line, n, &r));
		}
		memcpy(prev, hash, 32);
		free(line);
	}
	ck_assert_int_eq(fast, 4);	/* the first three and who acts: the fast path */
	EVP_MD_CTX_free(md);
}
END_TEST

START_TEST(recfast_leaves_non_canonical_lines_to_jansson)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	static const char *const bad[] = {
		"{\"seq\":01,\"ts\":\"2026-11-27T14:55:04.123456Z\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"type\":\"x\",\"hash\":\"0000000000000000000000000000000000000000000000000000000000000000\"}",
		"{\"seq\":1,\"ts\":\"2026-11-27T14:55:04.123456Z\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"type\":\"x\",\"type\":\"y\",\"hash\":\"0000000000000000000000000000000000000000000000000000000000000000\"}",
		"{\"seq\":1, \"ts\":\"2026-11-27T14:55:04.123456Z\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"type\":\"x\",\"hash\":\"0000000000000000000000000000000000000000000000000000000000000000\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t seq;
		uint8_t p[32], h[32];
		ck_assert(!recfast_check(bad[i], strlen(bad[i]), md, &seq, p, h));
	}
	EVP_MD_CTX_free(md);
}
END_TEST

static char tmpdir[64];

static void
make_tmp(void)
{
	strcpy(tmpdir, "/tmp/pgward-test-replay-XXXXXX");
	ck_assert(mkdtemp(tmpdir) != NULL);
}

static void
rm_tmp(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
put(const char *name, const char *text, const char *mode)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, mode);
	ck_assert(f != NULL);
	fputs(text, f);
	fclose(f);
}

START_TEST(logread_walks_segments_in_order)
{
	make_tmp();
	put("00000000000000000003.jsonl", "c\nd\ntorn", "w");
	put("00000000000000000001.jsonl", "a\nb\n", "w");
	put("00000000000000000005.jsonl", "", "w");
	put("checkpoints.jsonl", "x\n", "w");
	put("0000000000000000001.jsonl", "short name\n", "w");
	struct logread r;
	char err[256];
	ck_assert_int_eq(logread_open(&r, tmpdir, err, sizeof err), 0);
	ck_assert_uint_eq(r.nsegs, 3);
	struct logread_line l;
	const char *want[] = { "a", "b", "c", "d", "torn" };
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(logread_next(&r, &l, err, sizeof err), LOGREAD_LINE);
		ck_assert_uint_eq(l.len, strlen(want[i]));
		ck_assert(memcmp(l.data, want[i], l.len) == 0);
		ck_assert_uint_eq(l.pos, (uint64_t)i + 1);
		ck_assert_uint_eq(l.lineno, i < 2 ? (uint64_t)i + 1 : (uint64_t)i - 1);
		ck_assert_uint_eq(l.seg_first, i < 2 ? 1 : 3);
		ck_assert_int_eq(l.no_newline, i == 4);
	}
	ck_assert_int_eq(logread_next(&r, &l, err, sizeof err), LOGREAD_EMPTY_SEGMENT);
	ck_assert_str_eq(l.file, "00000000000000000005.jsonl");
	ck_assert_int_eq(logread_next(&r, &l, err, sizeof err), LOGREAD_END);
	logread_close(&r);
	rm_tmp();
}
END_TEST

START_TEST(logread_reads_lines_longer_than_its_buffer)
{
	make_tmp();
	size_t big = 3u << 20;
	char *s = malloc(big + 3);
	memset(s, 'x', big);
	strcpy(s + big, "\ny");
	put("00000000000000000001.jsonl", s, "w");
	struct logread r;
	char err[256];
	ck_assert_int_eq(logread_open(&r, tmpdir, err, sizeof err), 0);
	struct logread_line l;
	ck_assert_int_eq(logread_next(&r, &l, err, sizeof err), LOGREAD_LINE);
	ck_assert_uint_eq(l.len, big);
	ck_assert_int_eq(logread_next(&r, &l, err, sizeof err), LOGREAD_LINE);
	ck_assert_uint_eq(l.len, 1);
	logread_close(&r);
	free(s);
	rm_tmp();
}
END_TEST

/* A log of n records in one segment, with signed checkpoints at the sizes
 * in cks[]; returns the verifier key (malloc'd). */
static char *
make_log(int n, const int *cks, int ncks, int flip)
{
	char keypath[128], *vkey = NULL;
	snprintf(keypath, sizeof keypath, "%s.key", tmpdir);
	unlink(keypath);
	struct note_result nr = note_keygen("test.example/log", keypath, &vkey);
	ck_assert_msg(nr.error == NULL, "%s", nr.error);
	struct note_signer s;
	nr = note_signer_load(&s, "test.example/log", keypath);
	ck_assert_msg(nr.error == NULL, "%s", nr.error);
	unlink(keypath);
	struct merkle_tree t;
	merkle_init(&t);
	uint8_t prev[32] = { 0 };
	put("00000000000000000001.jsonl", "", "w");
	put("checkpoints.jsonl", "", "w");
	for (int i = 1, c = 0; i <= n || c < ncks; i++) {
		while (c < ncks && cks[c] == i - 1) {
			uint8_t root[32];
			merkle_root(&t, root);
			char *note = note_sign_checkpoint(&s, "test.example/log", t.size, root);
			char *enc = b64_encode(root, 32);
			json_t *j = json_pack("{s:I,s:s,s:s,s:s}", "size",
			    (json_int_t)t.size, "ts", "2026-11-27T14:55:04.123456Z",
			    "root", enc, "note", note);
			char *line = json_dumps(j, JSON_COMPACT);
			put("checkpoints.jsonl", line, "a");
			put("checkpoints.jsonl", "\n", "a");
			put("checkpoint", note, "w");
			free(line);
			free(enc);
			free(note);
			json_decref(j);
			c++;
		}
		if (i > n)
			continue;
		size_t len;
		uint8_t hash[32];
		char *line = build((uint64_t)i, prev, payloads[i % 3], &len, hash);
		merkle_append(&t, line, len);
		if (i == flip)
			line[len - 80] ^= 1;
		line[len] = '\n';
		line[len + 1] = '\0';
		put("00000000000000000001.jsonl", line, "a");
		memcpy(prev, hash, 32);
		free(line);
	}
	note_signer_free(&s);
	return vkey;
}

START_TEST(verify_good_log_and_uncovered_tail)
{
	make_tmp();
	int cks[] = { 0, 3, 10 };
	char *vkey = make_log(12, cks, 3, 0);
	struct verify_opts o = { .dir = tmpdir, .vkey = vkey };
	struct verify_report *rep = malloc(sizeof *rep);
	char err[256];
	ck_assert_int_eq(verify_run(&o, rep, err, sizeof err), 0);
	ck_assert_uint_eq(rep->records, 12);
	ck_assert_uint_eq(rep->covered, 10);
	ck_assert_uint_eq(rep->ck_valid, 3);
	ck_assert(!rep->first_bad.set);
	free(rep);
	free(vkey);
	rm_tmp();
}
END_TEST

START_TEST(verify_flipped_byte_and_truncation)
{
	make_tmp();
	int cks[] = { 3, 10, 20 };
	char *vkey = make_log(12, cks, 3, 7);
	struct verify_opts o = { .dir = tmpdir, .vkey = vkey };
	struct verify_report *rep = malloc(sizeof *rep);
	char err[256];
	ck_assert_int_eq(verify_run(&o, rep, err, sizeof err), 1);
	ck_assert(rep->first_bad.set);
	ck_assert_uint_eq(rep->first_bad.seq, 7);
	ck_assert_uint_eq(rep->first_bad.seq_max, 7);
	ck_assert_uint_eq(rep->first_bad.line, 7);
	ck_assert_uint_eq(rep->covered, 3);
	ck_assert_uint_eq(rep->ck_invalid, 2);	/* 10: root; 20: beyond the log */
	ck_assert(rep->ck_bad.set);
	ck_assert_uint_eq(rep->ck_bad.seq, 4);
	ck_assert_uint_eq(rep->ck_bad.seq_max, 10);
	free(rep);
	free(vkey);
	rm_tmp();
}
END_TEST

START_TEST(verify_no_checkpoint_fails)
{
	make_tmp();
	char *vkey = make_log(2, NULL, 0, 0);
	struct verify_opts o = { .dir = tmpdir, .vkey = vkey };
	struct verify_report *rep = malloc(sizeof *rep);
	char err[256];
	ck_assert_int_eq(verify_run(&o, rep, err, sizeof err), 1);
	ck_assert_str_eq(rep->problems[0], "no valid signed checkpoint: nothing is proven");
	free(rep);
	free(vkey);
	rm_tmp();
}
END_TEST

START_TEST(verify_wrong_origin_fails)
{
	make_tmp();
	int cks[] = { 2 };
	char *vkey = make_log(2, cks, 1, 0);
	struct verify_opts o = { .dir = tmpdir, .vkey = vkey, .origin = "other" };
	struct verify_report *rep = malloc(sizeof *rep);
	char err[256];
	ck_assert_int_eq(verify_run(&o, rep, err, sizeof err), 1);
	ck_assert_uint_eq(rep->ck_invalid, 1);
	ck_assert_ptr_nonnull(strstr(rep->problems[1], "origin"));
	free(rep);
	free(vkey);
	rm_tmp();
}
END_TEST

START_TEST(rec_split_strings_ending_in_backslashes)
{
	/* A quote after an even run of backslashes ends the string; after an
	 * odd run it is part of it. */
	static const char line[] = "{\"seq\":1,\"ts\":\"2026-11-27T14:55:04.123456Z\","
	    "\"a\":\"x\\\\\",\"b\":\"y\\\"z\\\\\\\"\\\\\",\"c\":[\"\\\\\",\"]\"],\"d\":1}";
	struct rec r;
	ck_assert_int_eq(rec_split(&r, line, sizeof line - 1), 0);
	ck_assert_uint_eq(r.n, 6);
	const struct rec_span *a = rec_get(&r, "a"), *b = rec_get(&r, "b"),
	    *c = rec_get(&r, "c"), *d = rec_get(&r, "d");
	ck_assert(a != NULL && a->n == 5 && memcmp(a->p, "\"x\\\\\"", 5) == 0);
	ck_assert(b != NULL && b->n == 12 && memcmp(b->p, "\"y\\\"z\\\\\\\"\\\\\"", 12) == 0);
	ck_assert(c != NULL && c->n == 10);
	ck_assert(d != NULL && d->n == 1 && d->p[0] == '1');
	size_t n;
	char *s = rec_unescape(b, &n);
	ck_assert(s != NULL && n == 6 && memcmp(s, "y\"z\\\"\\", 6) == 0);
	free(s);
}
END_TEST

static Suite *
replay_suite(void)
{
	Suite *s = suite_create("replay");
	TCase *tc = tcase_create("replay");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, recfast_agrees_with_auditrec_parse);
	tcase_add_test(tc, recfast_leaves_non_canonical_lines_to_jansson);
	tcase_add_test(tc, logread_walks_segments_in_order);
	tcase_add_test(tc, logread_reads_lines_longer_than_its_buffer);
	tcase_add_test(tc, verify_good_log_and_uncovered_tail);
	tcase_add_test(tc, verify_flipped_byte_and_truncation);
	tcase_add_test(tc, verify_no_checkpoint_fails);
	tcase_add_test(tc, verify_wrong_origin_fails);
	tcase_add_test(tc, rec_split_strings_ending_in_backslashes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(replay_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
