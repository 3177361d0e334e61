#include "merkle.h"

#include "sha256.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hashing only fails when OpenSSL cannot allocate; a log that cannot hash
 * must not go on writing records, and these functions have no error
 * return, so that is fatal. */
static void
merkle_fail(void)
{
	fputs("merkle: SHA-256 failed (out of memory?)\n", stderr);
	abort();
}

static void
merkle_hash2(uint8_t prefix, const void *a, size_t alen, const void *b,
    size_t blen, uint8_t out[MERKLE_HASH_LEN])
{
	if (sha256_parts(&prefix, 1, a, alen, b, blen, out) != 0)
		merkle_fail();
}

void
merkle_leaf_hash(const void *entry, size_t len, uint8_t out[MERKLE_HASH_LEN])
{
	merkle_hash2(0x00, entry, len, NULL, 0, out);
}

void
merkle_node_hash(const uint8_t left[MERKLE_HASH_LEN],
    const uint8_t right[MERKLE_HASH_LEN], uint8_t out[MERKLE_HASH_LEN])
{
	merkle_hash2(0x01, left, MERKLE_HASH_LEN, right, MERKLE_HASH_LEN, out);
}

static void
merkle_empty_root(uint8_t out[MERKLE_HASH_LEN])
{
	unsigned int n = 0;
	if (EVP_Digest("", 0, out, &n, EVP_sha256(), NULL) != 1 ||
	    n != MERKLE_HASH_LEN)
		merkle_fail();
}

void
merkle_init(struct merkle_tree *t)
{
	memset(t, 0, sizeof *t);
}

void
merkle_append(struct merkle_tree *t, const void *entry, size_t len)
{
	uint8_t leaf[MERKLE_HASH_LEN];
	merkle_leaf_hash(entry, len, leaf);
	merkle_append_leaf_hash(t, leaf);
}

void
merkle_append_leaf_hash(struct merkle_tree *t, const uint8_t leaf[MERKLE_HASH_LEN])
{
	uint8_t h[MERKLE_HASH_LEN];
	memcpy(h, leaf, MERKLE_HASH_LEN);
	/* Each trailing 1 bit of the old size is a perfect subtree of the
	 * same size as what is being carried, so they merge like a binary
	 * increment. */
	for (uint64_t c = t->size; c & 1; c >>= 1)
		merkle_node_hash(t->stack[--t->depth], h, h);
	memcpy(t->stack[t->depth++], h, MERKLE_HASH_LEN);
	t->size++;
}

void
merkle_root(const struct merkle_tree *t, uint8_t out[MERKLE_HASH_LEN])
{
	if (t->depth == 0) {
		merkle_empty_root(out);
		return;
	}
	uint8_t r[MERKLE_HASH_LEN];
	memcpy(r, t->stack[t->depth - 1], MERKLE_HASH_LEN);
	for (int i = t->depth - 2; i >= 0; i--)
		merkle_node_hash(t->stack[i], r, r);
	memcpy(out, r, MERKLE_HASH_LEN);
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t
merkle_split(uint64_t n)
{
	uint64_t k = 1;
	while (k << 1 < n)
		k <<= 1;
	return k;
}

void
merkle_root_of(const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t n,
    uint8_t out[MERKLE_HASH_LEN])
{
	if (n == 0) {
		merkle_empty_root(out);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves[0], MERKLE_HASH_LEN);
		return;
	}
	uint64_t k = merkle_split(n);
	uint8_t l[MERKLE_HASH_LEN], r[MERKLE_HASH_LEN];
	merkle_root_of(leaves, k, l);
	merkle_root_of(leaves + k, n - k, r);
	merkle_node_hash(l, r, out);
}

static int
merkle_path(const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t n, uint64_t m,
    uint8_t path[][MERKLE_HASH_LEN])
{
	if (n <= 1)
		return 0;
	uint64_t k = merkle_split(n);
	int got;
	if (m < k) {
		got = merkle_path(leaves, k, m, path);
		merkle_root_of(leaves + k, n - k, path[got]);
	} else {
		got = merkle_path(leaves + k, n - k, m - k, path);
		merkle_root_of(leaves, k, path[got]);
	}
	return got + 1;
}

int
merkle_inclusion_proof(const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t n,
    uint64_t index, uint8_t path[][MERKLE_HASH_LEN])
{
	if (index >= n)
		return -1;
	return merkle_path(leaves, n, index, path);
}

int
merkle_verify_inclusion(const uint8_t leaf[MERKLE_HASH_LEN], uint64_t index,
    uint64_t n, const uint8_t (*path)[MERKLE_HASH_LEN], int npath,
    const uint8_t root[MERKLE_HASH_LEN])
{
	/* RFC 9162 2.1.3.2. */
	if (index >= n || npath < 0 || npath > 64)
		return 0;
	uint64_t fn = index, sn = n - 1;
	uint8_t r[MERKLE_HASH_LEN];
	memcpy(r, leaf, MERKLE_HASH_LEN);
	for (int i = 0; i < npath; i++) {
		if (sn == 0)
			return 0;
		if ((fn & 1) || fn == sn) {
			merkle_node_hash(path[i], r, r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			merkle_node_hash(r, path[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(r, root, MERKLE_HASH_LEN) == 0;
}
