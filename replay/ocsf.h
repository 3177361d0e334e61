#ifndef PGWARD_REPLAY_OCSF_H
#define PGWARD_REPLAY_OCSF_H

/* export's OCSF 1.1 events (class 6005 Datastore Activity), one JSON
 * object a line, written directly (no tree): members in the order and
 * with the escaping jansson's json_dumps gave, every value kept whole (a
 * string that is not UTF-8 with U+FFFD, not left out). */

#include "replay/facts.h"
#include "replay/siem.h"

/* The event of a record. sess may be NULL. 0 (always). */
int ocsf_record(struct siem_buf *b, const struct siem_facts *f,
    const struct siem_session *sess);
/* The event of a signed checkpoint (strings as read from
 * checkpoints.jsonl: UTF-8, without NUL). 0. */
int ocsf_checkpoint(struct siem_buf *b, const char *note, const char *ts,
    const char *root, long long size);

#endif
