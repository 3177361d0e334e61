#ifndef PGWARD_REPLAY_CURSOR_H
#define PGWARD_REPLAY_CURSOR_H

/* export --cursor FILE: where a stream stopped, replaced atomically
 * (temporary file, fsync, rename, fsync of the directory) only after the
 * output it describes was written. One JSON line:
 *   {"seq":N,"checkpoint":M,"out_bytes":B,"out_dev":D,"out_ino":I}
 * seq: the last record written; checkpoint: the size of the last
 * checkpoint written; out_*: when stdout is a regular file, its size
 * after that output and its identity (so a restart can cut off output
 * written after the cursor: exactly once into a file). */

#include <stddef.h>
#include <stdint.h>

struct cursor {
	uint64_t seq;
	uint64_t checkpoint;
	int64_t out_bytes;	/* -1: stdout is not a regular file */
	uint64_t out_dev, out_ino;
};

/* 0 loaded, 1 no such file (c zeroed), -1 unreadable or malformed. */
int cursor_load(const char *path, struct cursor *c, char *err, size_t errlen);
int cursor_save(const char *path, const struct cursor *c, char *err, size_t errlen);

#endif
