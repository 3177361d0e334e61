/* RFC 6962 tree hashes against the transparency-dev/merkle vectors, the
 * compact range against the recursive definition, inclusion proofs. */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "auditrec.h"
#include "merkle.h"

/* RFC 6962 test inputs (transparency-dev/merkle testonly.LeafInputs). */
static const struct {
	const char *data;
	size_t len;
} leaf_inputs[] = {
	{ "", 0 },
	{ "\x00", 1 },
	{ "\x10", 1 },
	{ "\x20\x21", 2 },
	{ "\x30\x31", 2 },
	{ "\x40\x41\x42\x43", 4 },
	{ "\x50\x51\x52\x53\x54\x55\x56\x57", 8 },
	{ "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16 },
};

/* testonly.RootHashes(), indexed by tree size. */
static const char *const root_hashes[] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

/* testonly.NodeHashes()[0]: the leaf hashes. */
static const char *const leaf_hashes[] = {
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	"0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
	"07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
	"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	"4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
	"b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
	"46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
};

static void
hex_of(const uint8_t h[MERKLE_HASH_LEN], char out[2 * MERKLE_HASH_LEN + 1])
{
	auditrec_hex(h, MERKLE_HASH_LEN, out);
}

START_TEST(leaf_hashes_match_vectors)
{
	for (size_t i = 0; i < 8; i++) {
		uint8_t h[MERKLE_HASH_LEN];
		char hex[65];
		merkle_leaf_hash(leaf_inputs[i].data, leaf_inputs[i].len, h);
		hex_of(h, hex);
		ck_assert_str_eq(hex, leaf_hashes[i]);
	}
}
END_TEST

START_TEST(roots_match_vectors)
{
	uint8_t leaves[8][MERKLE_HASH_LEN];
	for (size_t i = 0; i < 8; i++)
		merkle_leaf_hash(leaf_inputs[i].data, leaf_inputs[i].len, leaves[i]);
	struct merkle_tree t;
	merkle_init(&t);
	for (uint64_t n = 0; n <= 8; n++) {
		uint8_t r[MERKLE_HASH_LEN];
		char hex[65];
		merkle_root_of((const uint8_t (*)[MERKLE_HASH_LEN])leaves, n, r);
		hex_of(r, hex);
		ck_assert_msg(strcmp(hex, root_hashes[n]) == 0,
		    "merkle_root_of size %u: %s", (unsigned)n, hex);
		merkle_root(&t, r);
		hex_of(r, hex);
		ck_assert_msg(strcmp(hex, root_hashes[n]) == 0,
		    "compact root size %u: %s", (unsigned)n, hex);
		ck_assert_uint_eq(t.size, n);
		ck_assert_int_eq(t.depth, __builtin_popcountll(n));
		if (n < 8)
			merkle_append(&t, leaf_inputs[n].data, leaf_inputs[n].len);
	}
}
END_TEST

START_TEST(compact_root_equals_recursive_root)
{
	enum { N = 200 };
	static uint8_t leaves[N][MERKLE_HASH_LEN];
	srandom(6962);
	struct merkle_tree t;
	merkle_init(&t);
	for (int n = 0; n <= N; n++) {
		uint8_t a[MERKLE_HASH_LEN], b[MERKLE_HASH_LEN];
		merkle_root(&t, a);
		merkle_root_of((const uint8_t (*)[MERKLE_HASH_LEN])leaves,
		    (uint64_t)n, b);
		ck_assert_msg(memcmp(a, b, MERKLE_HASH_LEN) == 0, "size %d", n);
		if (n == N)
			break;
		uint8_t entry[64];
		size_t len = (size_t)(random() % 64);
		for (size_t i = 0; i < len; i++)
			entry[i] = (uint8_t)random();
		merkle_leaf_hash(entry, len, leaves[n]);
		/* Alternate both ways of appending. */
		if (n % 2)
			merkle_append(&t, entry, len);
		else
			merkle_append_leaf_hash(&t, leaves[n]);
	}
}
END_TEST

static void
random_leaves(uint8_t (*leaves)[MERKLE_HASH_LEN], int n)
{
	for (int i = 0; i < n; i++) {
		uint32_t v = (uint32_t)random();
		merkle_leaf_hash(&v, sizeof v, leaves[i]);
	}
}

START_TEST(inclusion_proofs_verify)
{
	uint8_t leaves[20][MERKLE_HASH_LEN];
	srandom(9162);
	random_leaves(leaves, 20);
	const uint8_t (*cl)[MERKLE_HASH_LEN] = (const uint8_t (*)[MERKLE_HASH_LEN])leaves;
	for (uint64_t n = 1; n <= 20; n++) {
		uint8_t root[MERKLE_HASH_LEN];
		merkle_root_of(cl, n, root);
		for (uint64_t i = 0; i < n; i++) {
			uint8_t path[64][MERKLE_HASH_LEN];
			int np = merkle_inclusion_proof(cl, n, i, path);
			ck_assert_int_ge(np, 0);
			ck_assert_int_le(np, 5);
			const uint8_t (*cp)[MERKLE_HASH_LEN] = (const uint8_t (*)[MERKLE_HASH_LEN])path;
			ck_assert_msg(merkle_verify_inclusion(leaves[i], i, n, cp, np, root),
			    "n=%u i=%u", (unsigned)n, (unsigned)i);
		}
		uint8_t path[64][MERKLE_HASH_LEN];
		ck_assert_int_eq(merkle_inclusion_proof(cl, n, n, path), -1);
	}
}
END_TEST

/* The side of each sibling on the way up for leaf i of size n, from the
 * recursive definition (RFC 9162 2.1.3.1): 'L' or 'R', leaf first. */
static void
sibling_sides(uint64_t i, uint64_t n, char *out)
{
	char rev[65];
	int d = 0;
	while (n > 1) {
		uint64_t k = 1;
		while (k << 1 < n)
			k <<= 1;
		if (i < k) {
			rev[d++] = 'R';
			n = k;
		} else {
			rev[d++] = 'L';
			i -= k;
			n -= k;
		}
	}
	for (int j = 0; j < d; j++)
		out[j] = rev[d - 1 - j];
	out[d] = '\0';
}

START_TEST(inclusion_proofs_reject_alterations)
{
	uint8_t leaves[20][MERKLE_HASH_LEN];
	srandom(6962);
	random_leaves(leaves, 20);
	const uint8_t (*cl)[MERKLE_HASH_LEN] = (const uint8_t (*)[MERKLE_HASH_LEN])leaves;
	int rejected_sizes = 0;
	for (uint64_t n = 1; n <= 20; n++) {
		uint8_t root[MERKLE_HASH_LEN];
		merkle_root_of(cl, n, root);
		for (uint64_t i = 0; i < n; i++) {
			uint8_t path[64][MERKLE_HASH_LEN];
			int np = merkle_inclusion_proof(cl, n, i, path);
			const uint8_t (*cp)[MERKLE_HASH_LEN] = (const uint8_t (*)[MERKLE_HASH_LEN])path;
			uint8_t bad[MERKLE_HASH_LEN];

			memcpy(bad, leaves[i], MERKLE_HASH_LEN);
			bad[7] ^= 1;
			ck_assert(!merkle_verify_inclusion(bad, i, n, cp, np, root));
			/* Another leaf of the same tree at this index. */
			if (n > 1)
				ck_assert(!merkle_verify_inclusion(leaves[(i + 1) % n],
				    i, n, cp, np, root));

			for (uint64_t j = 0; j < n + 2; j++)
				if (j != i)
					ck_assert_msg(!merkle_verify_inclusion(leaves[i], j, n,
					    cp, np, root), "n=%u i=%u as j=%u",
					    (unsigned)n, (unsigned)i, (unsigned)j);
			/* A proof binds the size only through its shape: a size
			 * with the same sibling sides (size 3 and 4 for index 0)
			 * verifies, which is why checkpoints sign the size. */
			char want[65], got[65];
			sibling_sides(i, n, want);
			for (uint64_t m = 1; m <= 40; m++) {
				if (m == n)
					continue;
				sibling_sides(i < m ? i : 0, m, got);
				int same_shape = i < m && strcmp(want, got) == 0;
				rejected_sizes += !same_shape;
				ck_assert_msg(merkle_verify_inclusion(leaves[i], i, m,
				    cp, np, root) == same_shape, "n=%u i=%u as m=%u",
				    (unsigned)n, (unsigned)i, (unsigned)m);
			}

			for (int k = 0; k < np; k++) {
				path[k][k % MERKLE_HASH_LEN] ^= 0x80;
				ck_assert(!merkle_verify_inclusion(leaves[i], i, n, cp, np, root));
				path[k][k % MERKLE_HASH_LEN] ^= 0x80;
			}
			/* A path that is one hash short or one too long. */
			if (np > 0)
				ck_assert(!merkle_verify_inclusion(leaves[i], i, n, cp,
				    np - 1, root));
			memcpy(path[np], root, MERKLE_HASH_LEN);
			ck_assert(!merkle_verify_inclusion(leaves[i], i, n, cp, np + 1, root));

			memcpy(bad, root, MERKLE_HASH_LEN);
			bad[31] ^= 1;
			ck_assert(!merkle_verify_inclusion(leaves[i], i, n, cp, np, bad));
			ck_assert(merkle_verify_inclusion(leaves[i], i, n, cp, np, root));
		}
	}
	ck_assert_int_gt(rejected_sizes, 20 * 39 * 3 / 4);
	/* The pair from the text above, and one that must fail. */
	uint8_t path[64][MERKLE_HASH_LEN], root[MERKLE_HASH_LEN];
	int np = merkle_inclusion_proof(cl, 3, 0, path);
	merkle_root_of(cl, 3, root);
	const uint8_t (*cp)[MERKLE_HASH_LEN] = (const uint8_t (*)[MERKLE_HASH_LEN])path;
	ck_assert(merkle_verify_inclusion(leaves[0], 0, 4, cp, np, root));
	ck_assert(!merkle_verify_inclusion(leaves[0], 0, 5, cp, np, root));
}
END_TEST

START_TEST(inclusion_rejects_bad_arguments)
{
	uint8_t h[MERKLE_HASH_LEN] = { 0 };
	uint8_t path[1][MERKLE_HASH_LEN] = { { 0 } };
	const uint8_t (*cp)[MERKLE_HASH_LEN] = (const uint8_t (*)[MERKLE_HASH_LEN])path;
	ck_assert(!merkle_verify_inclusion(h, 0, 0, cp, 0, h));
	ck_assert(!merkle_verify_inclusion(h, 0, 1, cp, -1, h));
	ck_assert(!merkle_verify_inclusion(h, 0, 1, cp, 65, h));
	/* Size 1: the root is the leaf and the path is empty. */
	ck_assert(merkle_verify_inclusion(h, 0, 1, cp, 0, h));
}
END_TEST

static Suite *
merkle_suite(void)
{
	Suite *s = suite_create("merkle");
	TCase *tc = tcase_create("hashes");
	tcase_add_test(tc, leaf_hashes_match_vectors);
	tcase_add_test(tc, roots_match_vectors);
	tcase_add_test(tc, compact_root_equals_recursive_root);
	suite_add_tcase(s, tc);
	tc = tcase_create("inclusion");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, inclusion_proofs_verify);
	tcase_add_test(tc, inclusion_proofs_reject_alterations);
	tcase_add_test(tc, inclusion_rejects_bad_arguments);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(merkle_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
