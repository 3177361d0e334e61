#ifndef PGWARD_AUDITREC_H
#define PGWARD_AUDITREC_H

/* The audit log's record line (docs/audit-log-format.md):
 *
 *   {"seq":N,"ts":"<RFC 3339 UTC, microseconds>","prev":"<64 hex>",<payload members>,"hash":"<64 hex>"}\n
 *
 * hash = SHA-256 of the line without its hash member: the bytes from '{'
 * up to (not including) ',"hash":' followed by '}'. prev is the previous
 * record's hash (64 zeros for seq 1). The Merkle leaf is the whole line
 * without its newline. Payload members come from the writer, compact JSON,
 * ASCII only (\u escapes), and must include "type"; seq/ts/prev/hash are
 * reserved. */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define AUDITREC_HASH_HEX 64

/* Builds one record line (with trailing newline) from a payload object.
 * Returns a malloc'd line and its length, or NULL with a reason in err. */
char *auditrec_build(uint64_t seq, const char *ts, const uint8_t prev[32],
    json_t *payload, size_t *len, uint8_t hash_out[32], char *err, size_t errlen);

/* The same from the payload's compact JSON text (an object, one ASCII
 * line), which the caller has checked (lib/rectext.h). */
char *auditrec_build_text(uint64_t seq, const char *ts, const uint8_t prev[32],
    const char *body, size_t blen, size_t *len, uint8_t hash_out[32], char *err,
    size_t errlen);

struct auditrec {
	uint64_t seq;
	uint8_t prev[32];
	uint8_t hash[32];
	json_t *json;		/* the whole record parsed (caller decrefs) */
};

/* Checks one line (without newline): valid JSON object in the exact layout,
 * seq/ts/prev/hash present and well formed, hash matches the bytes.
 * Returns 0, or -1 with a reason in err. On success out->json is set. */
int auditrec_parse(const char *line, size_t len, struct auditrec *out, char *err,
    size_t errlen);

/* "2026-11-27T14:55:04.123456Z" for now (realtime clock). */
void auditrec_timestamp(char out[32]);

void auditrec_hex(const uint8_t *in, size_t n, char *out);	/* out: 2n+1 */
int auditrec_unhex(const char *hex, uint8_t *out, size_t n);	/* 0 or -1 */

#endif
