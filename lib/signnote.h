#ifndef PGWARD_SIGNNOTE_H
#define PGWARD_SIGNNOTE_H

/* C2SP tlog-checkpoint bodies signed as C2SP signed notes with Ed25519
 * (OpenSSL one-shot EVP_DigestSign).
 *
 *   body:      "<origin>\n<size>\n<base64 root>\n"
 *   note:      body "\n" "— <key name> <base64(4-byte key id || 64-byte sig)>\n"
 *   key id:    first 4 bytes of SHA-256(name || 0x0A || 0x01 || 32-byte public key)
 *   verifier:  "<name>+<key id as 8 hex digits>+<base64(0x01 || public key)>"
 *
 * The em dash is U+2014 (UTF-8 e2 80 94). */

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "merkle.h"

struct note_signer {
	char *name;
	EVP_PKEY *key;		/* Ed25519 private key */
	uint8_t key_id[4];
	uint8_t pub[32];
};

struct note_verifier {
	char *name;
	uint8_t key_id[4];
	uint8_t pub[32];
	EVP_PKEY *key;		/* Ed25519 public key */
};

struct note_result {
	char *error;		/* NULL on success (malloc'd otherwise) */
};

/* Loads a PEM Ed25519 private key; the file must be private to its owner. */
struct note_result note_signer_load(struct note_signer *s, const char *name,
    const char *pem_path);
void note_signer_free(struct note_signer *s);
/* Writes a new private key (mode 0600, refuses to overwrite) and returns the
 * verifier key string in *vkey (malloc'd). */
struct note_result note_keygen(const char *name, const char *pem_path, char **vkey);
/* The verifier key string for a signer (malloc'd). */
char *note_signer_vkey(const struct note_signer *s);

struct note_result note_verifier_parse(struct note_verifier *v, const char *vkey);
void note_verifier_free(struct note_verifier *v);

/* A signed note of text (non-empty, ending in a newline); malloc'd, or NULL
 * if the text cannot be a note body or signing fails. */
char *note_sign(const struct note_signer *s, const char *text, size_t len);

/* Checks that note is well formed and has a valid signature line by the
 * verifier's key (as note_verify_checkpoint below) and sets *text_len to
 * the length of its text (the body, with its final newline). */
struct note_result note_open(const struct note_verifier *v, const char *note,
    size_t len, size_t *text_len);

/* A signed checkpoint note for (origin, size, root); malloc'd text. */
char *note_sign_checkpoint(const struct note_signer *s, const char *origin,
    uint64_t size, const uint8_t root[MERKLE_HASH_LEN]);

struct checkpoint {
	char *origin;
	uint64_t size;
	uint8_t root[MERKLE_HASH_LEN];
};

/* Parses the note, checks that a signature line by the verifier's key
 * (name and key id) exists and is valid over the body, and parses the
 * body. Signature lines by other keys are ignored; no valid signature by
 * this key is an error ("no signature by key ...", "bad signature"). */
struct note_result note_verify_checkpoint(const struct note_verifier *v,
    const char *note, size_t len, struct checkpoint *out);
void checkpoint_free(struct checkpoint *c);
void note_result_free(struct note_result *r);

#endif
