#ifndef PGWARD_REPLAY_OCSF_H
#define PGWARD_REPLAY_OCSF_H

/* export's OCSF 1.1 events (class 6005 Datastore Activity), one JSON
 * object a line, written directly: the bytes jansson's json_dumps gave
 * for the same object built as a tree (members in the same order, the
 * same escaping, a member left out where jansson refused its value: a
 * string that is not UTF-8), without building one. */

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
