#ifndef PGWARD_REPLAY_JSONW_H
#define PGWARD_REPLAY_JSONW_H

/* JSON values written the way jansson's json_dumps writes them with
 * JSON_COMPACT | JSON_ENSURE_ASCII, for the events export builds directly
 * (OCSF), except that a string that is not UTF-8 is written with U+FFFD
 * for each bad byte where jansson refused it: a SIEM wants the event and
 * its other members, with the bad value marked, not a member missing. */

#include <stddef.h>

#include "replay/rec.h"
#include "replay/siem.h"

/* s[0..n) as a JSON string: '"', '\' and \b \f \n \r \t escaped, other
 * control characters (NUL too) and every character above U+007F as
 * \uXXXX (upper-case hex; a surrogate pair above U+FFFF), '/' and DEL as
 * they are; a byte that does not start a well-formed UTF-8 character as
 * \uFFFD. 0, or -1 only when out of memory (b->oom). */
int jsonw_str(struct siem_buf *b, const char *s, size_t n);

/* A record's raw JSON string value (quotes included) appended as it is,
 * when it is already exactly what jsonw_str writes for the value it
 * decodes to (rec_unescape): the form the log's writers use. -1, with
 * nothing appended, for any other spelling (then decode and use
 * jsonw_str). */
int jsonw_raw(struct siem_buf *b, const struct rec_span *v);

/* A real as jansson writes it: %.17g, with ".0" when that looks like an
 * integer, the exponent without '+' or leading zeros. -1, with nothing
 * appended, for NaN and the infinities. */
int jsonw_real(struct siem_buf *b, double d);

#endif
