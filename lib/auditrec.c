#include "auditrec.h"

#include "sha256.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AUDITREC_TS_LEN 27
/* ,"hash":"<64 hex>"} */
#define AUDITREC_HASH_SUFFIX (9 + AUDITREC_HASH_HEX + 2)

static void
auditrec_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void
auditrec_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
auditrec_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
auditrec_unhex(const char *hex, uint8_t *out, size_t n)
{
	/* Lower case only: with upper case too, flipping the case of a
	 * digit in the (unhashed) hash member would go unnoticed. */
	for (size_t i = 0; i < n; i++) {
		int hi = auditrec_nibble(hex[2 * i]);
		int lo = hi < 0 ? -1 : auditrec_nibble(hex[2 * i + 1]);
		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[2 * n] == '\0' ? 0 : -1;
}

void
auditrec_timestamp(char out[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%06uZ", (unsigned)(ts.tv_nsec / 1000) % 1000000u);
}

static int
auditrec_digits(const char *s, int n, int min, int max)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v >= min && v <= max;
}

/* YYYY-MM-DDTHH:MM:SS.uuuuuuZ; the calendar is the writer's business, the
 * layout is what keeps lines comparable and sortable as text. */
static int
auditrec_ts_ok(const char *ts)
{
	return strlen(ts) == AUDITREC_TS_LEN &&
	    auditrec_digits(ts, 4, 0, 9999) && ts[4] == '-' &&
	    auditrec_digits(ts + 5, 2, 1, 12) && ts[7] == '-' &&
	    auditrec_digits(ts + 8, 2, 1, 31) && ts[10] == 'T' &&
	    auditrec_digits(ts + 11, 2, 0, 23) && ts[13] == ':' &&
	    auditrec_digits(ts + 14, 2, 0, 59) && ts[16] == ':' &&
	    auditrec_digits(ts + 17, 2, 0, 60) && ts[19] == '.' &&
	    auditrec_digits(ts + 20, 6, 0, 999999) && ts[26] == 'Z';
}

static int
auditrec_sha256(const void *a, size_t alen, uint8_t out[32])
{
	return sha256_parts(a, alen, "}", 1, NULL, 0, out);
}

static int
auditrec_reserved(const char *key)
{
	return strcmp(key, "seq") == 0 || strcmp(key, "ts") == 0 ||
	    strcmp(key, "prev") == 0 || strcmp(key, "hash") == 0;
}

/* ASCII without control characters; DEL is allowed because jansson
 * writes it unescaped and refusing it would make such SQL unloggable. */
static int
auditrec_printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7f)
			return 0;
	return 1;
}

static int
auditrec_head_ok(uint64_t seq, const char *ts, char *err, size_t errlen)
{
	if (seq == 0 || seq > INT64_MAX) {
		auditrec_err(err, errlen, "seq %llu out of range",
		    (unsigned long long)seq);
		return 0;
	}
	if (ts == NULL || !auditrec_ts_ok(ts)) {
		auditrec_err(err, errlen, "timestamp is not YYYY-MM-DDTHH:MM:SS.uuuuuuZ");
		return 0;
	}
	return 1;
}

char *
auditrec_build(uint64_t seq, const char *ts, const uint8_t prev[32],
    json_t *payload, size_t *len, uint8_t hash_out[32], char *err, size_t errlen)
{
	if (!auditrec_head_ok(seq, ts, err, errlen))
		return NULL;
	if (!json_is_object(payload)) {
		auditrec_err(err, errlen, "payload is not a JSON object");
		return NULL;
	}
	const char *key;
	json_t *value;
	json_object_foreach(payload, key, value) {
		if (auditrec_reserved(key)) {
			auditrec_err(err, errlen, "payload member \"%s\" is reserved", key);
			return NULL;
		}
	}
	json_t *type = json_object_get(payload, "type");
	if (!json_is_string(type) || json_string_length(type) == 0) {
		auditrec_err(err, errlen, "payload has no \"type\" string");
		return NULL;
	}
	char *body = json_dumps(payload, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (body == NULL) {
		auditrec_err(err, errlen, "payload cannot be encoded as JSON");
		return NULL;
	}
	char *line = auditrec_build_text(seq, ts, prev, body, strlen(body), len,
	    hash_out, err, errlen);
	free(body);
	return line;
}

char *
auditrec_build_text(uint64_t seq, const char *ts, const uint8_t prev[32],
    const char *body, size_t blen, size_t *len, uint8_t hash_out[32], char *err,
    size_t errlen)
{
	if (!auditrec_head_ok(seq, ts, err, errlen))
		return NULL;
	/* Defence against json_stringn_nocheck() input and careless callers:
	 * a line must be one line of ASCII, whatever the payload held. */
	if (blen < 3 || body[0] != '{' || body[blen - 1] != '}' ||
	    !auditrec_printable(body, blen)) {
		auditrec_err(err, errlen, "payload does not encode as one ASCII line");
		return NULL;
	}
	char prevhex[2 * 32 + 1];
	auditrec_hex(prev, 32, prevhex);
	char head[160];
	int hlen = snprintf(head, sizeof head,
	    "{\"seq\":%llu,\"ts\":\"%s\",\"prev\":\"%s\",",
	    (unsigned long long)seq, ts, prevhex);
	/* head + payload members (without braces) + suffix + newline + NUL */
	size_t inner = blen - 2;
	size_t cap = (size_t)hlen + inner + AUDITREC_HASH_SUFFIX + 2;
	char *line = malloc(cap);
	if (line == NULL) {
		auditrec_err(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(line, head, (size_t)hlen);
	memcpy(line + hlen, body + 1, inner);
	size_t hashed = (size_t)hlen + inner;
	uint8_t h[32];
	if (auditrec_sha256(line, hashed, h) != 0) {
		free(line);
		auditrec_err(err, errlen, "SHA-256 failed");
		return NULL;
	}
	char hhex[2 * 32 + 1];
	auditrec_hex(h, 32, hhex);
	int slen = snprintf(line + hashed, cap - hashed, ",\"hash\":\"%s\"}\n", hhex);
	*len = hashed + (size_t)slen;
	if (hash_out != NULL)
		memcpy(hash_out, h, 32);
	return line;
}

static int
auditrec_check_members(json_t *rec, struct auditrec *out, char *err, size_t errlen)
{
	/* Order matters: the layout is fixed so that a line can be checked
	 * and hashed as bytes. */
	static const char *const first[] = { "seq", "ts", "prev" };
	void *it = json_object_iter(rec);
	for (int i = 0; i < 3; i++, it = json_object_iter_next(rec, it)) {
		if (it == NULL || strcmp(json_object_iter_key(it), first[i]) != 0) {
			auditrec_err(err, errlen, "member %d is not \"%s\"", i + 1, first[i]);
			return -1;
		}
	}
	size_t n = json_object_size(rec);
	size_t i = 3;
	const char *last = NULL;
	for (; it != NULL; it = json_object_iter_next(rec, it), i++) {
		last = json_object_iter_key(it);
		if (i + 1 < n && auditrec_reserved(last)) {
			auditrec_err(err, errlen, "reserved member \"%s\" in the payload", last);
			return -1;
		}
	}
	if (last == NULL || strcmp(last, "hash") != 0) {
		auditrec_err(err, errlen, "last member is not \"hash\"");
		return -1;
	}
	json_t *seq = json_object_get(rec, "seq");
	json_t *ts = json_object_get(rec, "ts");
	json_t *prev = json_object_get(rec, "prev");
	json_t *hash = json_object_get(rec, "hash");
	json_t *type = json_object_get(rec, "type");
	if (!json_is_integer(seq) || json_integer_value(seq) < 1) {
		auditrec_err(err, errlen, "seq is not a positive integer");
		return -1;
	}
	if (!json_is_string(ts) || !auditrec_ts_ok(json_string_value(ts))) {
		auditrec_err(err, errlen, "ts is not YYYY-MM-DDTHH:MM:SS.uuuuuuZ");
		return -1;
	}
	if (!json_is_string(prev) ||
	    auditrec_unhex(json_string_value(prev), out->prev, 32) != 0) {
		auditrec_err(err, errlen, "prev is not 64 lower-case hex digits");
		return -1;
	}
	if (!json_is_string(hash) ||
	    auditrec_unhex(json_string_value(hash), out->hash, 32) != 0) {
		auditrec_err(err, errlen, "hash is not 64 lower-case hex digits");
		return -1;
	}
	if (!json_is_string(type) || json_string_length(type) == 0) {
		auditrec_err(err, errlen, "no \"type\" string");
		return -1;
	}
	out->seq = (uint64_t)json_integer_value(seq);
	return 0;
}

int
auditrec_parse(const char *line, size_t len, struct auditrec *out, char *err,
    size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (len < AUDITREC_HASH_SUFFIX + 2 || line[0] != '{' ||
	    !auditrec_printable(line, len)) {
		auditrec_err(err, errlen, "not one line of printable ASCII JSON");
		return -1;
	}
	json_error_t jerr;
	json_t *rec = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (rec == NULL) {
		auditrec_err(err, errlen, "bad JSON at column %d: %s", jerr.column,
		    jerr.text);
		return -1;
	}
	if (!json_is_object(rec)) {
		json_decref(rec);
		auditrec_err(err, errlen, "not a JSON object");
		return -1;
	}
	if (auditrec_check_members(rec, out, err, errlen) != 0) {
		json_decref(rec);
		return -1;
	}
	/* Exact layout: the line must be byte for byte what the writer
	 * produces for this record (no spaces, same escapes, same number
	 * forms), so that one record has exactly one valid line. */
	char *canon = json_dumps(rec, JSON_COMPACT | JSON_ENSURE_ASCII);
	int same = canon != NULL && strlen(canon) == len && memcmp(canon, line, len) == 0;
	free(canon);
	if (!same) {
		json_decref(rec);
		auditrec_err(err, errlen, "not in the canonical compact layout");
		return -1;
	}
	uint8_t h[32];
	if (auditrec_sha256(line, len - AUDITREC_HASH_SUFFIX, h) != 0) {
		json_decref(rec);
		auditrec_err(err, errlen, "SHA-256 failed");
		return -1;
	}
	if (memcmp(h, out->hash, 32) != 0) {
		json_decref(rec);
		auditrec_err(err, errlen, "hash does not match the record (seq %llu)",
		    (unsigned long long)out->seq);
		return -1;
	}
	out->json = rec;
	return 0;
}
