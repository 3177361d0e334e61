#ifndef PGWARD_REPLAY_SESSIONS_H
#define PGWARD_REPLAY_SESSIONS_H

/* pgward-replay sessions: one line per session (id, user, client, start,
 * end, statements, denials), filtered by time window, user, group,
 * connection and role. */

int sessions_main(int argc, char **argv);

#endif
