#ifndef PGWARD_FILTER_CLI_H
#define PGWARD_FILTER_CLI_H

/* The commands for people (docs/pgward-filter.md). */

#include <stdio.h>

#include "filter/rules.h"
#include "filter/service.h"

/* Decides each line of in (SQL, or a JSON object with user, groups,
 * connection, role, sql and optionally expect) and prints one JSON line
 * per input line. need_expect: every line must carry an expectation.
 * Returns 0, or 1 when an expectation failed or a line was malformed. */
int cli_check(const struct rules *p, filter_facts_fn facts,
    filter_facts_free_fn facts_free, FILE *in, FILE *out, int need_expect);

/* review list|show ID|approve ID|deny ID, access request CONNECTION ROLE
 * SECONDS REASON...|grant ID|deny ID|list. Returns the exit code. */
int cli_client(const char *socket, const char *token, int argc, char **argv,
    FILE *out);

#endif
