#ifndef PGWARD_REPLAY_WHEN_H
#define PGWARD_REPLAY_WHEN_H

/* Times on the command line, turned into the log's own timestamp form
 * ("YYYY-MM-DDTHH:MM:SS.uuuuuuZ", UTC), which sorts as text. */

#include <stdint.h>
#include <time.h>

#define WHEN_LEN 28	/* 27 characters and a NUL */

/* Accepts RFC 3339 ("2026-11-27T03:12:00Z", a fraction, "+02:00"; a space
 * for the T), a date alone (midnight UTC), or "HH:MM[:SS]" (today, UTC).
 * now: the current time (for "today"). 0, or -1 when s is none of these.
 * *minute_only is set when s gave no seconds. */
int when_parse(const char *s, time_t now, char out[WHEN_LEN], int *minute_only);
/* --at: the minute of s (or the second given) widened by one minute on
 * each side: [since, until]. */
int when_at(const char *s, time_t now, char since[WHEN_LEN], char until[WHEN_LEN]);
/* Formats t (seconds) and usec. */
void when_format(time_t t, long usec, char out[WHEN_LEN]);
/* A log timestamp as milliseconds since the epoch; -1 if malformed. */
int64_t when_ms(const char *ts);

#endif
