#include "replay/logread.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOGREAD_BUF (1u << 20)

uint64_t
logread_segment_parse(const char *name)
{
	uint64_t v = 0;
	for (int i = 0; i < LOGREAD_SEGMENT_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		unsigned d = (unsigned)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	if (strcmp(name + LOGREAD_SEGMENT_DIGITS, ".jsonl") != 0)
		return 0;
	return v;
}

void
logread_segment_name(uint64_t first, char out[LOGREAD_SEGMENT_NAME_LEN])
{
	snprintf(out, LOGREAD_SEGMENT_NAME_LEN, "%020llu.jsonl",
	    (unsigned long long)first);
}

static int
logread_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int
logread_open(struct logread *r, const char *dir, char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	r->fd = -1;
	r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->dirfd < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	r->dir = strdup(dir);
	int fd = dup(r->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (r->dir == NULL || d == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		logread_close(r);
		return -1;
	}
	size_t cap = 0;
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		/* Segment 0 does not exist, but a file of that name is still
		 * part of what must be explained, so keep it. */
		if (logread_segment_parse(e->d_name) == 0 &&
		    strcmp(e->d_name, "00000000000000000000.jsonl") != 0)
			continue;
		if (r->nsegs == cap) {
			cap = cap ? 2 * cap : 16;
			uint64_t *n = realloc(r->segs, cap * sizeof *n);
			if (n == NULL) {
				closedir(d);
				snprintf(err, errlen, "out of memory");
				logread_close(r);
				return -1;
			}
			r->segs = n;
		}
		r->segs[r->nsegs++] = logread_segment_parse(e->d_name);
	}
	int e2 = errno;
	closedir(d);
	if (e2 != 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(e2));
		logread_close(r);
		return -1;
	}
	if (r->nsegs > 0)
		qsort(r->segs, r->nsegs, sizeof r->segs[0], logread_u64_cmp);
	r->cap = LOGREAD_BUF;
	r->buf = malloc(r->cap);
	if (r->buf == NULL) {
		snprintf(err, errlen, "out of memory");
		logread_close(r);
		return -1;
	}
	return 0;
}

static void
logread_fill(struct logread *r, struct logread_line *l, const char *data,
    size_t len)
{
	r->lineno++;
	r->pos++;
	memset(l, 0, sizeof *l);
	l->data = data;
	l->len = len;
	l->pos = r->pos;
	l->file = r->name;
	l->seg_first = r->segs[r->seg];
	l->lineno = r->lineno;
}

static void
logread_close_segment(struct logread *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->seg++;
}

int
logread_next(struct logread *r, struct logread_line *l, char *err, size_t errlen)
{
	for (;;) {
		if (r->fd < 0) {
			if (r->seg >= r->nsegs)
				return LOGREAD_END;
			logread_segment_name(r->segs[r->seg], r->name);
			r->fd = openat(r->dirfd, r->name, O_RDONLY | O_CLOEXEC);
			if (r->fd < 0) {
				snprintf(err, errlen, "%s/%s: %s", r->dir, r->name,
				    strerror(errno));
				return LOGREAD_ERROR;
			}
			posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
			r->start = r->end = 0;
			r->eof = 0;
			r->lineno = 0;
			r->skip_rest = 0;
		}
		size_t avail = r->end - r->start;
		char *nl = avail > 0 ? memchr(r->buf + r->start, '\n', avail) : NULL;
		if (nl != NULL) {
			size_t len = (size_t)(nl - (r->buf + r->start));
			const char *data = r->buf + r->start;
			r->start += len + 1;
			if (r->skip_rest) {
				r->skip_rest = 0;
				continue;
			}
			logread_fill(r, l, data, len);
			r->bytes += len + 1;
			return LOGREAD_LINE;
		}
		if (r->eof) {
			if (avail > 0 && !r->skip_rest) {
				logread_fill(r, l, r->buf + r->start, avail);
				l->no_newline = 1;
				r->bytes += avail;
				r->start = r->end;
				return LOGREAD_LINE;
			}
			int empty = r->lineno == 0;
			if (empty) {
				memset(l, 0, sizeof *l);
				l->file = r->name;
				l->seg_first = r->segs[r->seg];
				l->pos = r->pos;
			}
			logread_close_segment(r);
			if (empty)
				return LOGREAD_EMPTY_SEGMENT;
			continue;
		}
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, avail);
			r->start = 0;
			r->end = avail;
		}
		if (r->end == r->cap) {
			if (r->skip_rest || r->cap >= LOGREAD_MAX_LINE) {
				/* Report an over-long line once, then drop its
				 * bytes up to the next newline. */
				if (!r->skip_rest) {
					logread_fill(r, l, NULL, r->end);
					l->too_long = 1;
				}
				r->bytes += r->end;
				r->start = r->end = 0;
				int was = r->skip_rest;
				r->skip_rest = 1;
				if (!was)
					return LOGREAD_LINE;
			} else {
				size_t ncap = r->cap * 2;
				char *n = realloc(r->buf, ncap);
				if (n == NULL) {
					snprintf(err, errlen, "out of memory");
					return LOGREAD_ERROR;
				}
				r->buf = n;
				r->cap = ncap;
			}
		}
		ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s/%s: %s", r->dir, r->name,
			    strerror(errno));
			return LOGREAD_ERROR;
		}
		if (n == 0)
			r->eof = 1;
		r->end += (size_t)n;
	}
}

void
logread_close(struct logread *r)
{
	if (r->fd >= 0)
		close(r->fd);
	if (r->dirfd >= 0)
		close(r->dirfd);
	free(r->segs);
	free(r->buf);
	free(r->dir);
	memset(r, 0, sizeof *r);
	r->fd = r->dirfd = -1;
}
