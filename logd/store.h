#ifndef PGWARD_LOGD_STORE_H
#define PGWARD_LOGD_STORE_H

/* The log directory: segments of record lines, the Merkle tree over all of
 * them, and signed checkpoints. Opening it takes the lock, checks every
 * record, and repairs a torn tail; appending writes a batch with one
 * pwritev and (strict mode) one fdatasync. See docs/pgward-logd.md. */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "merkle.h"
#include "signnote.h"

#define LOGD_SEGMENT_DIGITS 20
#define LOGD_SEGMENT_NAME_LEN (LOGD_SEGMENT_DIGITS + sizeof ".jsonl")

struct logd_store_opts {
	const char *dir;
	long segment_size;
	long max_record_bytes;
	int strict;
};

struct logd_store {
	char *dir;
	int dirfd;
	int lockfd;
	int segfd;
	int ckfd;
	uint64_t seg_first;	/* first seq of the current segment */
	uint64_t seg_len;	/* bytes of whole records in it */
	uint64_t ck_len;	/* bytes of whole lines in checkpoints.jsonl */
	uint64_t size;		/* records in the log */
	uint64_t synced_size;	/* records known to be on disk */
	uint8_t last_hash[32];
	struct merkle_tree tree;
	uint64_t checkpoint_size;
	long segment_size;
	long max_record_bytes;
	int strict;
	/* The repair record found by open, for the caller to append first. */
	json_t *repair;
	/* Reused across batches. */
	struct iovec *iov;
	size_t iov_cap;
};

/* One record of a batch: payload in, seq or error out. */
struct logd_append {
	json_t *payload;
	/* or the payload as text, already checked by rectext_payload_ok() */
	const char *text;
	size_t text_len;
	uint64_t seq;		/* 0 when refused */
	char error[128];
	/* internal */
	char *line;
	size_t len;
	uint8_t hash[32];
};

/* Returns 0, or -1 with one line in err (the caller exits 111). */
int logd_store_open(struct logd_store *s, const struct logd_store_opts *o,
    char *err, size_t errlen);
void logd_store_close(struct logd_store *s);

/* Checks a payload as a client sent it; 0 or -1 with the reply text. */
int logd_record_check(json_t *payload, char *err, size_t errlen);

/* Appends the batch in order. Each entry gets a seq or an error (a refused
 * record, or "disk full" for it and every later one). In strict mode the
 * records with a seq are on disk when this returns. Returns the number of
 * records appended, or -1 on a fatal error (a failed write other than a
 * full disk, a failed fsync): the caller must exit, never retry. */
long logd_store_append(struct logd_store *s, struct logd_append *a, size_t n,
    char *err, size_t errlen);

/* fdatasync of the current segment if it holds unsynced records. */
int logd_store_sync(struct logd_store *s, char *err, size_t errlen);

/* Writes a signed checkpoint of everything appended (syncing first):
 * a line in checkpoints.jsonl and the file checkpoint. Returns 0, 1 when
 * the disk is full (nothing changed; try later), -1 when fatal. */
int logd_store_checkpoint(struct logd_store *s, const struct note_signer *k,
    const char *origin, char *err, size_t errlen);

void logd_store_root(const struct logd_store *s, uint8_t out[MERKLE_HASH_LEN]);

/* "00000000000000000042.jsonl" */
void logd_segment_name(uint64_t first_seq, char out[LOGD_SEGMENT_NAME_LEN]);
/* The first seq named by a segment file name, or 0 if it is not one. */
uint64_t logd_segment_parse(const char *name);

/* Standard base64 of a root, as in checkpoints (45 bytes with NUL). */
void logd_root_base64(const uint8_t root[MERKLE_HASH_LEN], char out[48]);

#endif
