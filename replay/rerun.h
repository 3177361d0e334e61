#ifndef PGWARD_REPLAY_RERUN_H
#define PGWARD_REPLAY_RERUN_H

/* pgward-replay run SESSION --target CONNINFO: re-executes a recorded
 * session's statements in order, on one libpq connection to another
 * database (a restored copy, staging), optionally at the recorded pace,
 * and reports each statement whose outcome (ok or error, SQLSTATE, row
 * count) differs from the recording. Exit 1 on any divergence. */

int rerun_main(int argc, char **argv);

#endif
