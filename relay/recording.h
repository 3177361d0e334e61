#ifndef PGWARD_RELAY_RECORDING_H
#define PGWARD_RELAY_RECORDING_H

/* Recording of results for sessions the policy marks ("record" lines,
 * docs/policy.md): up to a number of rows per statement, taken from the
 * messages as they go to the client (masked already), kept with the
 * statement's pending result and written in its result record as
 * "recorded": [{"columns": [...], "rows": [[...], ...], "more": bool,
 * "cut": bool}, ...] (one element per result set). */

#include <stddef.h>
#include <stdint.h>

#include "results.h"

/* Per statement, whatever the row count: bytes of values kept, and bytes
 * of one value (longer ones are cut, and the set says "cut"). */
#define RECORDING_MAX_BYTES (64 * 1024)
#define RECORDING_MAX_VALUE 256

struct recording {
	long rows;		/* rows per statement; 0: off */
	/* The last RowDescription: DataRows are read by it. */
	json_t *columns;
	int16_t *formats;
	int nformats;
};

void recording_free(struct recording *rc);
/* A server message as the client receives it (after masking). */
/* p: the result of the statement it answers (extended_current_result), or NULL. */
void recording_on_message(struct recording *rc, struct pending *p, char type,
    const uint8_t *msg, size_t len);

#endif
