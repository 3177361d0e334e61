#ifndef PGWARD_REPLAY_SCAN_H
#define PGWARD_REPLAY_SCAN_H

/* Reads a log directory as runs of whole record lines, in big chunks, for
 * the commands that look for a few records in many (search, show,
 * sessions) or pass them all on (export). Callers search a whole chunk
 * with memmem before they look at lines. Follows a live log: the end of
 * the newest segment is "nothing more yet", scan_refresh() picks up new
 * segments after a rotation, and a line is handed out only once its
 * newline is written. */

#include <stddef.h>
#include <stdint.h>

#include "replay/logread.h"

struct scan {
	char *dir;
	int dirfd;
	uint64_t *segs;		/* first seq of each segment, ascending */
	size_t nsegs;
	size_t seg;		/* the segment being read */
	int fd;
	char name[LOGREAD_SEGMENT_NAME_LEN];
	char *buf;
	size_t cap, start, end;	/* buf[start, end): read, not handed out */
	uint64_t bytes;		/* bytes handed out */
	uint64_t skip_below;	/* lines with a smaller seq are not handed out */
	int warned_torn;
};

int scan_open(struct scan *s, const char *dir, char *err, size_t errlen);
/* Re-reads the list of segments (new ones after a rotation). */
int scan_refresh(struct scan *s, char *err, size_t errlen);
/* Starts at the segment that holds seq; lines before seq are skipped. */
void scan_from_seq(struct scan *s, uint64_t seq);
/* Starts at the last segment whose first record is older than ts (a log
 * timestamp): earlier segments hold nothing at or after ts. */
int scan_from_time(struct scan *s, const char *ts, char *err, size_t errlen);
/* The next run of whole lines, each ending in '\n': 1 and *p, *n; 0 when
 * nothing more is written yet; -1 with a reason (I/O). */
int scan_next(struct scan *s, const char **p, size_t *n, char *err, size_t errlen);
void scan_close(struct scan *s);

/* Calls fn for each line of a chunk (without its newline); stops when fn
 * returns non-zero and returns that. */
int scan_lines(const char *p, size_t n, int (*fn)(void *ctx, const char *line,
    size_t len), void *ctx);
/* The line around position at in a chunk [p, p+n): *start and *len. */
void scan_line_at(const char *p, size_t n, const char *at, const char **start,
    size_t *len);

#endif
