#ifndef PGWARD_MERKLE_H
#define PGWARD_MERKLE_H

/* RFC 6962 / 9162 Merkle tree hashes over the exact bytes of log records:
 * leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right),
 * empty tree = SHA-256(""). A compact range (one subtree root per set bit
 * of the size) keeps the running root in O(log n) memory. */

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_LEN 32
#define MERKLE_MAX_LEVELS 64

struct merkle_tree {
	uint64_t size;
	/* stack[i] is the root of a perfect subtree; sizes decrease upward. */
	uint8_t stack[MERKLE_MAX_LEVELS][MERKLE_HASH_LEN];
	int depth;
};

void merkle_leaf_hash(const void *entry, size_t len, uint8_t out[MERKLE_HASH_LEN]);
void merkle_node_hash(const uint8_t left[MERKLE_HASH_LEN],
    const uint8_t right[MERKLE_HASH_LEN], uint8_t out[MERKLE_HASH_LEN]);

void merkle_init(struct merkle_tree *t);
void merkle_append(struct merkle_tree *t, const void *entry, size_t len);
void merkle_append_leaf_hash(struct merkle_tree *t, const uint8_t leaf[MERKLE_HASH_LEN]);
/* The root of the tree as it is now. */
void merkle_root(const struct merkle_tree *t, uint8_t out[MERKLE_HASH_LEN]);

/* Root of leaves[0..n) given their leaf hashes (for tests and proofs). */
void merkle_root_of(const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t n,
    uint8_t out[MERKLE_HASH_LEN]);

/* Inclusion proof of leaf index in a tree of size n (RFC 9162 2.1.3);
 * returns the number of hashes written to path (at most 64). */
int merkle_inclusion_proof(const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t n,
    uint64_t index, uint8_t path[][MERKLE_HASH_LEN]);
/* Returns 1 if the proof puts leaf at index in a tree of size n with root. */
int merkle_verify_inclusion(const uint8_t leaf[MERKLE_HASH_LEN], uint64_t index,
    uint64_t n, const uint8_t (*path)[MERKLE_HASH_LEN], int npath,
    const uint8_t root[MERKLE_HASH_LEN]);

#endif
