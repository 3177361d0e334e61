#ifndef PGWARD_REPLAY_SIEM_H
#define PGWARD_REPLAY_SIEM_H

/* The SIEM encodings of export: escaping for CEF (header and extension
 * values) and RFC 5424 SD-PARAM values, exactly as the specifications
 * say, and one event per record in each format. Bytes that are not
 * UTF-8 become U+FFFD in CEF and syslog (both carry UTF-8 text). */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "replay/rec.h"

/* Output, kept NUL-terminated. After a failed allocation (oom) nothing
 * more is appended. */
struct siem_buf {
	char *p;
	size_t n, cap;
	int oom;
};

/* Makes room for n more bytes and a NUL: 0, or -1 (oom). */
int siem_grow(struct siem_buf *b, size_t n);

/* 1 when n more bytes (and a NUL) fit at b->p + b->n. Appending is inline:
 * an event is built of many small pieces. */
static inline int
siem_room(struct siem_buf *b, size_t n)
{
	return !b->oom && (b->n + n < b->cap || siem_grow(b, n) == 0);
}

static inline void
siem_put(struct siem_buf *b, const char *s, size_t n)
{
	if (!siem_room(b, n))
		return;
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static inline void
siem_puts(struct siem_buf *b, const char *s)
{
	siem_put(b, s, strlen(s));
}

/* A string literal. */
#define SIEM_LIT(b, s) siem_put((b), "" s, sizeof(s) - 1)

void siem_putll(struct siem_buf *b, long long v);
void siem_putull(struct siem_buf *b, unsigned long long v);
void siem_printf(struct siem_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void siem_buf_free(struct siem_buf *b);

/* The length of the well-formed UTF-8 character at p (before e), or 0
 * (also for overlong forms and surrogates). */
size_t siem_utf8_len(const unsigned char *p, const unsigned char *e);

/* CEF header field: '\' and '|' escaped with '\'; CR and LF (not
 * allowed in a header) become a space; other control characters (NUL
 * too) and DEL, for which CEF has no escape, as the text \u00XX (a '\'
 * of the value is always "\\", so it cannot be mistaken for one). */
void siem_cef_header(struct siem_buf *b, const char *s, size_t n);
/* CEF extension value: '\' and '=' escaped with '\', LF as \n, CR as \r,
 * other control characters and DEL as \u00XX (as in the header). */
void siem_cef_value(struct siem_buf *b, const char *s, size_t n);
/* RFC 5424 PARAM-VALUE: '\', '"' and ']' escaped with '\'. With
 * line_safe, control characters (which the RFC allows) are written as
 * '#' and three octal digits, as rsyslog does, so one message is one
 * line; without it (octet-counted framing) TAB, LF and CR pass unchanged
 * and the others (NUL, ESC, …) and DEL are still written as #ooo: a
 * receiver reading C strings would cut at a NUL, a terminal obeys ESC. */
void siem_sd_value(struct siem_buf *b, const char *s, size_t n, int line_safe);

enum siem_format { SIEM_JSONL, SIEM_OCSF, SIEM_CEF, SIEM_SYSLOG };

/* What the session_start record said, for the records that do not repeat
 * it (src_endpoint, user uid). */
struct siem_session {
	char *client, *sub;	/* decoded (may hold NUL: use the lengths) */
	size_t client_n, sub_n;
	char *groups;		/* the groups array as in the record (JSON) */
	size_t groups_n;
};

struct siem_opts {
	enum siem_format format;
	const char *hostname;
	size_t max_bytes;	/* syslog: the largest message (2048) */
	int octet_counting;	/* syslog: RFC 6587 octet-counted framing */
};

/* Appends the event for one record (line without newline) to b. sess may
 * be NULL (unknown session). 0, or -1 when the line is not a record. */
int siem_record(const struct siem_opts *o, struct siem_buf *b, const char *line,
    size_t len, const struct siem_session *sess);
/* Appends the event for one line of checkpoints.jsonl. */
int siem_checkpoint(const struct siem_opts *o, struct siem_buf *b, const char *line,
    size_t len);

#endif
