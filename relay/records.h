#ifndef PGWARD_RELAY_RECORDS_H
#define PGWARD_RELAY_RECORDS_H

/* The audit records the relay writes (docs/audit-records.md). Each
 * returns a new JSON object, or NULL when out of memory. */

#include <jansson.h>
#include <stdint.h>

#include "results.h"
#include "session.h"

json_t *record_session_start(const struct relay_session *s);
json_t *record_session_end(const struct relay_session *s, const char *reason,
    uint64_t statements);
/* The common part of an intent; the caller adds the statement. */
json_t *record_intent(const struct relay_session *s, uint64_t number, const char *protocol);
json_t *record_result(const struct relay_session *s, const struct pending *p,
    long long duration_us);

#endif
