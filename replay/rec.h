#ifndef PGWARD_REPLAY_REC_H
#define PGWARD_REPLAY_REC_H

/* The members of one record line (docs/audit-log-format.md) as spans of
 * the line itself, without building a JSON tree: a record is split in one
 * pass and only the values a command needs are decoded. Lenient: it reads
 * what a verified log holds and does not check it (that is verify's job). */

#include <stddef.h>
#include <stdint.h>

#define REC_MAX_MEMBERS 64
#define REC_TS_LEN 27		/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" */

struct rec_span {
	const char *p;
	size_t n;
};

struct rec_member {
	struct rec_span key;	/* without its quotes, as escaped in the line */
	struct rec_span val;	/* the raw JSON value */
};

struct rec {
	const char *line;
	size_t len;
	uint64_t seq;
	const char *ts;		/* REC_TS_LEN characters */
	size_t n;
	struct rec_member m[REC_MAX_MEMBERS];
};

/* The seq at the start of a line, or 0 when the line does not start with
 * {"seq":N. */
uint64_t rec_seq(const char *line, size_t len);
/* The ts of a line (REC_TS_LEN characters), or NULL. */
const char *rec_ts(const char *line, size_t len);
/* The value of "type" as a span inside its quotes (fast path for the
 * layout the writers use, else a member search); n == 0 when absent. */
struct rec_span rec_type(const char *line, size_t len);

/* Splits a line into its top-level members. 0, or -1 if it is not an
 * object of at most REC_MAX_MEMBERS members with seq and ts. */
int rec_split(struct rec *r, const char *line, size_t len);
/* The raw value of a member, or NULL. */
const struct rec_span *rec_get(const struct rec *r, const char *key);
/* 1 if the member is a JSON string equal to s (s: ASCII needing no
 * escape). */
int rec_eq(const struct rec *r, const char *key, const char *s);
/* 1 if a string array member (e.g. groups) holds s. */
int rec_has(const struct rec *r, const char *key, const char *s);
/* The next element of a JSON array value a (lenient, as rec_split):
 * 1 with *el its raw value, or 0 when there is none (or a is not an
 * array). *pos starts at 0 and is kept between calls. */
int rec_array_next(const struct rec_span *a, size_t *pos, struct rec_span *el);
/* The raw value of member key of a JSON object value o (lenient, as
 * rec_split; the first member of that name): 1 with *v, else 0 (also
 * when o is not an object). */
int rec_object_get(const struct rec_span *o, const char *key, struct rec_span *v);
/* A JSON string value decoded to its bytes (UTF-8; an escaped lone
 * surrogate as U+FFFD), malloc'd and NUL-terminated (the string may hold
 * NUL: use *len). NULL when v is not a string or memory runs out. */
char *rec_unescape(const struct rec_span *v, size_t *len);
/* The same into out (at least v->n bytes): 0, or -1 when v is not a
 * string or holds a bad \u escape. */
int rec_unescape_into(const struct rec_span *v, char *out, size_t *len);
/* The decoded string member key, or NULL. */
char *rec_str(const struct rec *r, const char *key, size_t *len);
/* An integer member; 0, or -1 when absent or not an integer. */
int rec_int(const struct rec *r, const char *key, long long *out);
/* A number member as a double (e.g. duration_ms); 0 or -1. */
int rec_num(const struct rec *r, const char *key, double *out);
/* The same for a raw value (NULL: absent). */
int rec_span_int(const struct rec_span *v, long long *out);
int rec_span_num(const struct rec_span *v, double *out);
/* The SQL of an intent: the string, or the bytes of {"base64":...}
 * (*binary set: not UTF-8). malloc'd, NULL when absent. */
char *rec_sql(const struct rec *r, size_t *len, int *binary);

/* A span of n bytes of the line matching the JSON text of a string
 * member compared as raw bytes (the log's encoding is canonical). */
int rec_span_eq(const struct rec_span *v, const char *s, size_t n);

#endif
