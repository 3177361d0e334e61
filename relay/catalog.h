#ifndef PGWARD_RELAY_CATALOG_H
#define PGWARD_RELAY_CATALOG_H

/* The relay's own lookups in the server's catalog, on the session's
 * server connection: what writing each view or ruled relation touches
 * (relations.h, for pgward-filter), the functions that may read a masked
 * column (gateway mode, relations.h), and the columns of the tables that
 * masking's column rules name (masking.h). Run at login, right after the
 * upstream login and before any client byte reaches the server, and
 * after DDL while the server connection is idle; the answers never reach
 * the client. */

#include <stddef.h>
#include <stdint.h>

#include "session.h"

/* Looks everything up again. Returns 0, or -1 (logged): the caller ends
 * the session, since decisions and masking would rest on a stale map. */
int catalog_refresh(struct relay_session *s);
/* Whether a command tag (CommandComplete body) may have changed views,
 * rules, functions or tables. */
int catalog_changed_by(const uint8_t *tag, size_t len);

#endif
