#ifndef PGWARD_REPLAY_SEARCH_H
#define PGWARD_REPLAY_SEARCH_H

/* pgward-replay search: statements (intent records) by user, group,
 * connection, role, session, table, command, decision, text, time, and by
 * their outcome (SQLSTATE, status), each with its result, session and seq.
 * Raw bytes are searched first (memmem or a case-insensitive Horspool
 * scan of whole chunks) and only lines that can match are split. */

int search_main(int argc, char **argv);

#endif
