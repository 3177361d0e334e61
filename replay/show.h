#ifndef PGWARD_REPLAY_SHOW_H
#define PGWARD_REPLAY_SHOW_H

/* pgward-replay show SESSION: a session's records as a transcript, each
 * statement with its time, duration, parameters, decision and rule, rows
 * and errors (--json: one object). Also the collector `run` uses. */

#include "replay/cli.h"

/* The records of one session (an id or a unique prefix of one), in log
 * order. 0; 1 when there is no such session; 100 for an ambiguous
 * prefix; 111 for I/O (reason in err). *id is the full id (malloc'd). */
int show_collect(const char *dir, const char *session, struct cli_lines *out,
    char **id, char *err, size_t errlen);

int show_main(int argc, char **argv);

#endif
