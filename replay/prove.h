#ifndef PGWARD_REPLAY_PROVE_H
#define PGWARD_REPLAY_PROVE_H

/* pgward-replay prove SEQ: a self-contained inclusion proof of one record
 * (RFC 9162 2.1.3) against a signed checkpoint, as one JSON object:
 *   {"format":"pgward-inclusion-proof/1","seq":S,"leaf_index":S-1,
 *    "record":"<the record line>","tree_size":N,
 *    "inclusion_path":["<base64 hash>",...],"checkpoint":"<signed note>"}
 * pgward-replay verify-proof checks one offline, with the verifier key
 * only: the note's signature, the record's own hash, and the path from the
 * record's leaf to the signed root. */

#include <stddef.h>

/* 0 valid, 1 not (reason in err), 100 unusable input. */
int prove_check(const char *vkey, const char *origin, const char *proof, size_t len,
    char *err, size_t errlen);

int prove_main(int argc, char **argv);
int prove_verify_main(int argc, char **argv);

#endif
