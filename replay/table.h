#ifndef PGWARD_REPLAY_TABLE_H
#define PGWARD_REPLAY_TABLE_H

/* Recorded result rows (the "recorded" member of a result record,
 * docs/audit-records.md) drawn as psql draws a table. */

#include <jansson.h>
#include <stdio.h>

/* sets: [{"columns": [...], "rows": [[...]...], "more": bool, "cut": bool}]. */
void table_print(FILE *out, json_t *sets, const char *indent);

#endif
