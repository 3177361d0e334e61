#ifndef PGWARD_REPLAY_JSONW_H
#define PGWARD_REPLAY_JSONW_H

/* JSON values written the way jansson's json_dumps writes them with
 * JSON_COMPACT | JSON_ENSURE_ASCII, for the events export builds directly
 * (OCSF): the same bytes as building a tree and dumping it, and the same
 * refusals (a string that is not UTF-8, a real that is not finite), so the
 * caller can leave the member out as json_object_set_new did. */

#include <stddef.h>

#include "replay/rec.h"
#include "replay/siem.h"

/* s[0..n) as a JSON string: '"', '\' and \b \f \n \r \t escaped, other
 * control characters and every character above U+007F as \uXXXX
 * (upper-case hex; a surrogate pair above U+FFFF), '/' and DEL as they
 * are. -1, with nothing appended, when s is not UTF-8. */
int jsonw_str(struct siem_buf *b, const char *s, size_t n);

/* A record's raw JSON string value (quotes included) appended as it is,
 * when it is already exactly what jsonw_str writes for the value it
 * decodes to (rec_unescape): the form the log's writers use. -1, with
 * nothing appended, for any other spelling (then decode and use
 * jsonw_str). nul: whether \u0000 may be in it (a value the caller used to
 * cut at its first NUL may not). */
int jsonw_raw(struct siem_buf *b, const struct rec_span *v, int nul);

/* A real as jansson writes it: %.17g, with ".0" when that looks like an
 * integer, the exponent without '+' or leading zeros. -1, with nothing
 * appended, for NaN and the infinities. */
int jsonw_real(struct siem_buf *b, double d);

#endif
