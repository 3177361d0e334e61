#ifndef PGWARD_REPLAY_VERIFY_H
#define PGWARD_REPLAY_VERIFY_H

/* pgward-replay verify: checks every record of a log directory (layout,
 * hash, seq, prev chain), rebuilds the RFC 6962 tree over the record lines
 * and proves prefixes of the log against signed checkpoints: those in the
 * directory and, optionally, one saved elsewhere. See docs/pgward-replay.md. */

#include <stdint.h>
#include <stdio.h>

#include "merkle.h"
#include "replay/logread.h"

#define VERIFY_MAX_PROBLEMS 20
#define VERIFY_MSG 512

struct verify_opts {
	const char *dir;
	const char *vkey;	/* verifier key string */
	const char *origin;	/* expected origin; NULL: the key's name */
	const char *saved;	/* -c FILE, or NULL */
};

/* The first bad record, exact (seq == seq_max) or only known to lie in a
 * range (a prefix that stops matching a signed root somewhere in it). */
struct verify_bad {
	int set;
	uint64_t seq, seq_max;
	char file[LOGREAD_SEGMENT_NAME_LEN];	/* "" when not one record */
	uint64_t line;
	char reason[VERIFY_MSG];
};

struct verify_report {
	uint64_t records, bytes, segments;
	uint64_t torn_bytes;		/* an unfinished last line, not a record */
	uint64_t ck_total, ck_valid, ck_invalid;
	int covered_set;		/* a signed checkpoint matches the log */
	uint64_t covered;		/* its largest size */
	uint8_t covered_root[MERKLE_HASH_LEN];
	uint8_t root[MERKLE_HASH_LEN];	/* of the whole log as read */
	int saved;			/* -c given */
	int saved_ok;
	uint64_t saved_size;
	char saved_error[VERIFY_MSG];
	struct verify_bad rec_bad;	/* from the records themselves */
	struct verify_bad ck_bad;	/* from a checkpoint that disagrees */
	struct verify_bad first_bad;	/* the earlier of the two */
	char problems[VERIFY_MAX_PROBLEMS][VERIFY_MSG];
	uint64_t nproblems;
	char warnings[VERIFY_MAX_PROBLEMS][VERIFY_MSG];
	uint64_t nwarnings;
	int ok;
};

/* Exit status: 0 verified, 1 verification failed (rep says why), 100 bad
 * usage (key, directory, saved file), 111 temporary failure (I/O); for 100
 * and 111 the reason is in err. */
int verify_run(const struct verify_opts *o, struct verify_report *rep, char *err,
    size_t errlen);
void verify_print_text(const struct verify_opts *o, const struct verify_report *rep,
    FILE *f);
/* One JSON object and a newline; -1 if it cannot be written. */
int verify_print_json(const struct verify_opts *o, const struct verify_report *rep,
    FILE *f);

int verify_main(int argc, char **argv);

#endif
