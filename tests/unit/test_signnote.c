/* Signed checkpoint notes: round trip, tampering, foreign keys, verifier
 * key parsing, and the golang.org/x/mod/sumdb/note example vectors. */

#include <check.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "signnote.h"

/* From the documentation of golang.org/x/mod/sumdb/note (note.go). */
static const char go_vkey[] =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char go_seed[] = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
static const char go_text[] =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
static const char go_note[] =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

static char tmpdir[64];

static void
setup(void)
{
	strcpy(tmpdir, "/tmp/test_signnote.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *
key_path(const char *file)
{
	static char path[128];
	snprintf(path, sizeof path, "%s/%s", tmpdir, file);
	return path;
}

/* A signer and its verifier from a fresh key in the temporary directory. */
static void
make_key(const char *name, const char *file, struct note_signer *s,
    struct note_verifier *v)
{
	char *vkey = NULL;
	struct note_result r = note_keygen(name, key_path(file), &vkey);
	ck_assert_msg(r.error == NULL, "%s", r.error);
	r = note_signer_load(s, name, key_path(file));
	ck_assert_msg(r.error == NULL, "%s", r.error);
	char *again = note_signer_vkey(s);
	ck_assert_str_eq(again, vkey);
	free(again);
	r = note_verifier_parse(v, vkey);
	ck_assert_msg(r.error == NULL, "%s", r.error);
	free(vkey);
}

static void
root_of(uint8_t root[MERKLE_HASH_LEN], uint8_t seed)
{
	for (int i = 0; i < MERKLE_HASH_LEN; i++)
		root[i] = (uint8_t)(seed * 31 + i);
}

/* Verification must fail; returns the error for the caller to inspect. */
static char *
verify_fails(const struct note_verifier *v, const char *note)
{
	struct checkpoint c;
	struct note_result r = note_verify_checkpoint(v, note, strlen(note), &c);
	ck_assert_msg(r.error != NULL, "accepted: %s", note);
	ck_assert_ptr_null(c.origin);
	return r.error;
}

static void
verify_ok(const struct note_verifier *v, const char *note, const char *origin,
    uint64_t size, const uint8_t root[MERKLE_HASH_LEN])
{
	struct checkpoint c;
	struct note_result r = note_verify_checkpoint(v, note, strlen(note), &c);
	ck_assert_msg(r.error == NULL, "%s", r.error);
	ck_assert_str_eq(c.origin, origin);
	ck_assert_uint_eq(c.size, size);
	ck_assert_mem_eq(c.root, root, MERKLE_HASH_LEN);
	checkpoint_free(&c);
}

START_TEST(round_trip)
{
	struct note_signer s;
	struct note_verifier v;
	make_key("pgward.example/log", "a.pem", &s, &v);
	ck_assert_mem_eq(s.key_id, v.key_id, 4);
	ck_assert_mem_eq(s.pub, v.pub, 32);
	uint8_t root[MERKLE_HASH_LEN];
	root_of(root, 1);
	char *note = note_sign_checkpoint(&s, "pgward.example/log", 1234567, root);
	ck_assert_ptr_nonnull(note);
	char *r64 = b64_encode(root, MERKLE_HASH_LEN);
	char want[256];
	snprintf(want, sizeof want, "pgward.example/log\n1234567\n%s\n\n"
	    "\xe2\x80\x94 pgward.example/log ", r64);
	free(r64);
	ck_assert_int_eq(strncmp(note, want, strlen(want)), 0);
	ck_assert_int_eq(note[strlen(note) - 1], '\n');
	/* 4 + 64 bytes of signature are 92 base64 characters. */
	ck_assert_uint_eq(strlen(note), strlen(want) + 92 + 1);
	verify_ok(&v, note, "pgward.example/log", 1234567, root);

	char *empty = note_sign_checkpoint(&s, "pgward.example/log", 0, root);
	verify_ok(&v, empty, "pgward.example/log", 0, root);
	free(empty);
	ck_assert_ptr_null(note_sign_checkpoint(&s, "two\nlines", 1, root));
	ck_assert_ptr_null(note_sign_checkpoint(&s, "", 1, root));
	ck_assert_ptr_null(note_sign(&s, "no newline", 10));
	free(note);
	note_signer_free(&s);
	note_verifier_free(&v);
}
END_TEST

static char *
replace_once(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	ck_assert_ptr_nonnull(at);
	size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
	char *out = malloc(n);
	snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
	return out;
}

START_TEST(tampered_body_fails)
{
	struct note_signer s;
	struct note_verifier v;
	make_key("log", "a.pem", &s, &v);
	uint8_t root[MERKLE_HASH_LEN];
	root_of(root, 2);
	char *note = note_sign_checkpoint(&s, "log", 42, root);
	verify_ok(&v, note, "log", 42, root);

	char *bad = replace_once(note, "\n42\n", "\n43\n");
	char *err = verify_fails(&v, bad);
	ck_assert_ptr_nonnull(strstr(err, "bad signature"));
	free(err);
	free(bad);

	/* Every character of the body, replaced by another base64-safe one. */
	size_t body = (size_t)(strstr(note, "\n\n") - note);
	for (size_t i = 0; i < body; i++) {
		if (note[i] == '\n')
			continue;
		char *copy = strdup(note);
		copy[i] = copy[i] == 'A' ? 'B' : 'A';
		err = verify_fails(&v, copy);
		free(err);
		free(copy);
	}
	bad = replace_once(note, "log\n42", "logx\n42");
	free(verify_fails(&v, bad));
	free(bad);
	free(note);
	note_signer_free(&s);
	note_verifier_free(&v);
}
END_TEST

START_TEST(tampered_signature_fails)
{
	struct note_signer s;
	struct note_verifier v;
	make_key("log", "a.pem", &s, &v);
	uint8_t root[MERKLE_HASH_LEN];
	root_of(root, 3);
	char *note = note_sign_checkpoint(&s, "log", 7, root);
	char *sig = strrchr(note, ' ') + 1;
	size_t n = strlen(sig) - 1;
	for (size_t i = 0; i < n; i++) {
		if (sig[i] == '=')
			continue;
		char keep = sig[i];
		sig[i] = keep == 'A' ? 'B' : 'A';
		char *err = verify_fails(&v, note);
		free(err);
		sig[i] = keep;
	}
	verify_ok(&v, note, "log", 7, root);
	/* Truncated and extended signatures. */
	char *bad = replace_once(note, sig, "AAAA\n");
	free(verify_fails(&v, bad));
	free(bad);
	free(note);
	note_signer_free(&s);
	note_verifier_free(&v);
}
END_TEST

START_TEST(other_key_same_name_fails_clearly)
{
	struct note_signer a, b;
	struct note_verifier va, vb;
	make_key("log", "a.pem", &a, &va);
	make_key("log", "b.pem", &b, &vb);
	ck_assert_mem_ne(a.key_id, b.key_id, 4);
	uint8_t root[MERKLE_HASH_LEN];
	root_of(root, 4);
	char *note = note_sign_checkpoint(&b, "log", 9, root);
	char *err = verify_fails(&va, note);
	ck_assert_msg(strstr(err, "no signature by key log+") != NULL &&
	    strstr(err, "different key") != NULL, "%s", err);
	free(err);
	verify_ok(&vb, note, "log", 9, root);

	/* The same key id under a forged name is not our signature either. */
	char *renamed = replace_once(note, "\xe2\x80\x94 log ", "\xe2\x80\x94 loh ");
	err = verify_fails(&vb, renamed);
	ck_assert_msg(strstr(err, "no signature by key log+") != NULL, "%s", err);
	free(err);
	free(renamed);
	free(note);
	note_signer_free(&a);
	note_signer_free(&b);
	note_verifier_free(&va);
	note_verifier_free(&vb);
}
END_TEST

START_TEST(extra_signatures_ignored)
{
	struct note_signer a, b, c;
	struct note_verifier va, vb, vc;
	make_key("log", "a.pem", &a, &va);
	make_key("witness.example", "b.pem", &b, &vb);
	make_key("log", "c.pem", &c, &vc);
	uint8_t root[MERKLE_HASH_LEN];
	root_of(root, 5);
	char *na = note_sign_checkpoint(&a, "log", 100, root);
	char *nb = note_sign_checkpoint(&b, "log", 100, root);
	char *nc = note_sign_checkpoint(&c, "log", 100, root);
	const char *la = strstr(na, "\n\n") + 2;
	const char *lb = strstr(nb, "\n\n") + 2;
	const char *lc = strstr(nc, "\n\n") + 2;
	char all[1024];
	snprintf(all, sizeof all, "%.*s%s%s%s", (int)(la - na), na, lb, lc, la);
	verify_ok(&va, all, "log", 100, root);
	verify_ok(&vb, all, "log", 100, root);
	verify_ok(&vc, all, "log", 100, root);
	/* Another key's bad signature does not matter to us... */
	char *bad_b = strdup(all);
	size_t off = (size_t)(strstr(bad_b, "witness.example ") - bad_b) + 30;
	bad_b[off] = bad_b[off] == 'A' ? 'B' : 'A';
	verify_ok(&va, bad_b, "log", 100, root);
	free(verify_fails(&vb, bad_b));
	free(bad_b);
	free(na);
	free(nb);
	free(nc);
	note_signer_free(&a);
	note_signer_free(&b);
	note_signer_free(&c);
	note_verifier_free(&va);
	note_verifier_free(&vb);
	note_verifier_free(&vc);
}
END_TEST

START_TEST(malformed_notes)
{
	struct note_signer s;
	struct note_verifier v;
	make_key("log", "a.pem", &s, &v);
	uint8_t root[MERKLE_HASH_LEN];
	root_of(root, 6);
	char *note = note_sign_checkpoint(&s, "log", 5, root);
	size_t n = strlen(note);
	struct checkpoint c;
	/* Without the final newline, and every shorter prefix. */
	for (size_t cut = 0; cut < n; cut++) {
		struct note_result r = note_verify_checkpoint(&v, note, cut, &c);
		ck_assert_msg(r.error != NULL, "prefix %zu accepted", cut);
		note_result_free(&r);
	}
	char *bad = replace_once(note, "\xe2\x80\x94", "-");
	free(verify_fails(&v, bad));
	free(bad);
	bad = replace_once(note, "\n\n", "\n\t\n");
	free(verify_fails(&v, bad));
	free(bad);
	char withnul[512];
	memcpy(withnul, note, n);
	withnul[1] = '\0';
	struct note_result r = note_verify_checkpoint(&v, withnul, n, &c);
	ck_assert_ptr_nonnull(r.error);
	note_result_free(&r);

	/* Validly signed bodies that are not checkpoints. */
	static const char *const bodies[] = {
		"log\n",
		"log\n5\n",
		"\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"log\n05\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"log\n-5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"log\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",
		"log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
		"log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n",
		"log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next\n\nx\n",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		char *signed_note = note_sign(&s, bodies[i], strlen(bodies[i]));
		ck_assert_ptr_nonnull(signed_note);
		char *err = verify_fails(&v, signed_note);
		ck_assert_msg(strstr(err, "checkpoint") != NULL ||
		    strstr(err, "no signature") != NULL, "%zu: %s", i, err);
		free(err);
		free(signed_note);
	}
	/* The largest size, and an extension line, are fine. */
	static const char big[] =
	    "log\n18446744073709551615\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next\n";
	char *ok = note_sign(&s, big, strlen(big));
	uint8_t zero[MERKLE_HASH_LEN] = { 0 };
	verify_ok(&v, ok, "log", UINT64_MAX, zero);
	free(ok);
	free(note);
	note_signer_free(&s);
	note_verifier_free(&v);
}
END_TEST

static void
vkey_fails(const char *vkey, const char *want)
{
	struct note_verifier v;
	struct note_result r = note_verifier_parse(&v, vkey);
	ck_assert_msg(r.error != NULL, "accepted %s", vkey);
	ck_assert_msg(strstr(r.error, want) != NULL, "%s: %s", vkey, r.error);
	ck_assert_ptr_null(v.key);
	ck_assert_ptr_null(v.name);
	note_result_free(&r);
}

START_TEST(verifier_parse_errors)
{
	vkey_fails("", "<name>+<key id>+<key>");
	vkey_fails("PeterNeumann", "<name>+<key id>+<key>");
	vkey_fails("PeterNeumann+c74f20a3", "<name>+<key id>+<key>");
	vkey_fails("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "bad name");
	vkey_fails("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	    "bad name");
	vkey_fails("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	    "8 hex digits");
	vkey_fails("PeterNeumann+c74f20ag+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	    "8 hex digits");
	vkey_fails("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
	    "not base64");
	vkey_fails("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW ",
	    "not base64");
	vkey_fails("PeterNeumann+c74f20a3+", "not base64");
	/* Algorithm 2 instead of 1. */
	vkey_fails("PeterNeumann+c74f20a3+Alpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	    "unknown algorithm");
	vkey_fails("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy",
	    "not 32");
	vkey_fails("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	    "does not match");
	vkey_fails("PeterNeumanm+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	    "does not match");
}
END_TEST

START_TEST(go_vectors)
{
	struct note_verifier v;
	struct note_result r = note_verifier_parse(&v, go_vkey);
	ck_assert_msg(r.error == NULL, "%s", r.error);
	static const uint8_t want_id[4] = { 0xc7, 0x4f, 0x20, 0xa3 };
	ck_assert_mem_eq(v.key_id, want_id, 4);
	ck_assert_str_eq(v.name, "PeterNeumann");

	size_t tlen;
	r = note_open(&v, go_note, strlen(go_note), &tlen);
	ck_assert_msg(r.error == NULL, "%s", r.error);
	ck_assert_uint_eq(tlen, strlen(go_text));
	ck_assert_int_eq(memcmp(go_note, go_text, tlen), 0);
	char *bad = replace_once(go_note, "cryptography", "cryptographY");
	r = note_open(&v, bad, strlen(bad), &tlen);
	ck_assert_ptr_nonnull(r.error);
	ck_assert_ptr_nonnull(strstr(r.error, "bad signature"));
	note_result_free(&r);
	free(bad);
	/* Not a checkpoint body, though validly signed. */
	struct checkpoint c;
	r = note_verify_checkpoint(&v, go_note, strlen(go_note), &c);
	ck_assert_ptr_nonnull(r.error);
	note_result_free(&r);

	/* Ed25519 is deterministic: the Go signer key gives the same note. */
	uint8_t seed[33];
	ck_assert_int_eq(b64_decode(go_seed, strlen(go_seed), seed, sizeof seed), 33);
	ck_assert_int_eq(seed[0], 1);
	struct note_signer s;
	memset(&s, 0, sizeof s);
	s.name = strdup("PeterNeumann");
	s.key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed + 1, 32);
	ck_assert_ptr_nonnull(s.key);
	memcpy(s.key_id, want_id, 4);
	size_t publen = 32;
	ck_assert_int_eq(EVP_PKEY_get_raw_public_key(s.key, s.pub, &publen), 1);
	ck_assert_mem_eq(s.pub, v.pub, 32);
	char *vk = note_signer_vkey(&s);
	ck_assert_str_eq(vk, go_vkey);
	free(vk);
	char *note = note_sign(&s, go_text, strlen(go_text));
	ck_assert_str_eq(note, go_note);
	free(note);
	note_signer_free(&s);
	note_verifier_free(&v);
}
END_TEST

START_TEST(key_file_permissions)
{
	struct note_signer s;
	struct note_verifier v;
	make_key("log", "a.pem", &s, &v);
	note_signer_free(&s);
	note_verifier_free(&v);
	struct stat st;
	ck_assert_int_eq(stat(key_path("a.pem"), &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);

	char *vkey = NULL;
	struct note_result r = note_keygen("log", key_path("a.pem"), &vkey);
	ck_assert_ptr_nonnull(r.error);
	ck_assert_ptr_null(vkey);
	note_result_free(&r);

	ck_assert_int_eq(chmod(key_path("a.pem"), 0644), 0);
	r = note_signer_load(&s, "log", key_path("a.pem"));
	ck_assert_ptr_nonnull(r.error);
	ck_assert_msg(strstr(r.error, "too open") != NULL, "%s", r.error);
	ck_assert_ptr_null(s.key);
	note_result_free(&r);
	ck_assert_int_eq(chmod(key_path("a.pem"), 0600), 0);
	r = note_signer_load(&s, "log", key_path("a.pem"));
	ck_assert_msg(r.error == NULL, "%s", r.error);
	note_signer_free(&s);

	r = note_signer_load(&s, "bad name", key_path("a.pem"));
	ck_assert_ptr_nonnull(r.error);
	note_result_free(&r);
	r = note_signer_load(&s, "log", key_path("missing.pem"));
	ck_assert_ptr_nonnull(r.error);
	note_result_free(&r);

	/* A private key of another type. */
	FILE *f = fopen(key_path("ec.pem"), "w");
	ck_assert_ptr_nonnull(f);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert_ptr_nonnull(ec);
	ck_assert_int_eq(PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	EVP_PKEY_free(ec);
	ck_assert_int_eq(chmod(key_path("ec.pem"), 0600), 0);
	r = note_signer_load(&s, "log", key_path("ec.pem"));
	ck_assert_ptr_nonnull(r.error);
	ck_assert_msg(strstr(r.error, "Ed25519") != NULL, "%s", r.error);
	note_result_free(&r);
}
END_TEST

START_TEST(base64_edges)
{
	uint8_t out[8];
	ck_assert_int_eq(b64_decode("", 0, out, sizeof out), 0);
	ck_assert_int_eq(b64_decode("AA==", 4, out, sizeof out), 1);
	ck_assert_int_eq(b64_decode("AAA=", 4, out, sizeof out), 2);
	ck_assert_int_eq(b64_decode("AAAA", 4, out, sizeof out), 3);
	ck_assert_int_eq(b64_decode("AB==", 4, out, sizeof out), -1);
	ck_assert_int_eq(b64_decode("AA=A", 4, out, sizeof out), -1);
	ck_assert_int_eq(b64_decode("A===", 4, out, sizeof out), -1);
	ck_assert_int_eq(b64_decode(" AAA", 4, out, sizeof out), -1);
	ck_assert_int_eq(b64_decode("AAA", 3, out, sizeof out), -1);
	ck_assert_int_eq(b64_decode("AAAAAAAAAAAA", 12, out, sizeof out), -1);
	ck_assert_int_eq(b64_decode("/+8=", 4, out, sizeof out), 2);
	ck_assert_int_eq(out[0], 0xff);
	ck_assert_int_eq(out[1], 0xef);
	char *e = b64_encode((const uint8_t *)"\xff\xef", 2);
	ck_assert_str_eq(e, "/+8=");
	free(e);
}
END_TEST

static Suite *
signnote_suite(void)
{
	Suite *s = suite_create("signnote");
	TCase *tc = tcase_create("notes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, tampered_body_fails);
	tcase_add_test(tc, tampered_signature_fails);
	tcase_add_test(tc, other_key_same_name_fails_clearly);
	tcase_add_test(tc, extra_signatures_ignored);
	tcase_add_test(tc, malformed_notes);
	tcase_add_test(tc, key_file_permissions);
	suite_add_tcase(s, tc);
	tc = tcase_create("formats");
	tcase_add_test(tc, verifier_parse_errors);
	tcase_add_test(tc, go_vectors);
	tcase_add_test(tc, base64_edges);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(signnote_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
