#ifndef PGWARD_REPLAY_LOGREAD_H
#define PGWARD_REPLAY_LOGREAD_H

/* Reads an audit log directory (docs/audit-log-format.md) as one stream of
 * record lines across its segments, DIR/<20-digit first seq>.jsonl, in
 * order of their names, with the file and line of each record. Streams:
 * one read buffer, whatever the size of the log. */

#include <stddef.h>
#include <stdint.h>

#define LOGREAD_SEGMENT_DIGITS 20
#define LOGREAD_SEGMENT_NAME_LEN (LOGREAD_SEGMENT_DIGITS + sizeof ".jsonl")
/* A longer line is reported as a bad record, not buffered. */
#define LOGREAD_MAX_LINE (64u << 20)

struct logread_line {
	const char *data;	/* the line without its newline (not NUL-terminated) */
	size_t len;
	uint64_t pos;		/* 1-based position in the whole log */
	const char *file;	/* the segment's name, "<20 digits>.jsonl" */
	uint64_t seg_first;	/* the first seq the segment's name claims */
	uint64_t lineno;	/* 1-based line in the segment */
	int no_newline;		/* the segment ends without a newline here */
	int too_long;		/* longer than LOGREAD_MAX_LINE: data is NULL */
};

struct logread {
	char *dir;
	int dirfd;
	uint64_t *segs;		/* first seq of each segment, ascending */
	size_t nsegs;
	size_t seg;		/* index of the open segment */
	int fd;
	char name[LOGREAD_SEGMENT_NAME_LEN];
	char *buf;
	size_t cap, start, end;
	int eof;
	uint64_t lineno;
	uint64_t pos;
	uint64_t bytes;		/* bytes of all lines returned, newlines included */
	int skip_rest;		/* discarding the rest of an over-long line */
};

/* The segment number in a file name, or 0 if name is not a segment's. */
uint64_t logread_segment_parse(const char *name);
void logread_segment_name(uint64_t first, char out[LOGREAD_SEGMENT_NAME_LEN]);

/* Lists the segments of dir. Returns 0, or -1 with a reason in err. */
int logread_open(struct logread *r, const char *dir, char *err, size_t errlen);
enum {
	LOGREAD_ERROR = -1,
	LOGREAD_END = 0,
	LOGREAD_LINE = 1,		/* *l is the next line (valid until the next call) */
	LOGREAD_EMPTY_SEGMENT = 2,	/* l->file, l->seg_first name an empty segment */
};
/* The next line of the log; LOGREAD_ERROR with a reason in err is an I/O
 * error. A line has lineno 1 when it is the first of its segment. */
int logread_next(struct logread *r, struct logread_line *l, char *err,
    size_t errlen);
void logread_close(struct logread *r);

#endif
