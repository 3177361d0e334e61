#ifndef PGWARD_REPLAY_EXPORT_H
#define PGWARD_REPLAY_EXPORT_H

/* pgward-replay export: the log's records, from a seq or a time, in a
 * SIEM format on stdout, with the signed checkpoints in the stream;
 * --follow keeps reading as pgward-logd appends (and rotates), --cursor
 * resumes after a restart. See docs/pgward-replay.md. */

int export_main(int argc, char **argv);

#endif
