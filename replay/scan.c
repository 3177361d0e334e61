#include "replay/scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "replay/rec.h"

#define SCAN_BUF (4u << 20)

static int
scan_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int
scan_refresh(struct scan *s, char *err, size_t errlen)
{
	int fd = dup(s->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", s->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	uint64_t cur = s->nsegs > 0 && s->seg < s->nsegs ? s->segs[s->seg] : 0;
	size_t n = 0, cap = 0;
	uint64_t *segs = NULL;
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		uint64_t v = logread_segment_parse(e->d_name);
		if (v == 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			uint64_t *x = realloc(segs, cap * sizeof *x);
			if (x == NULL) {
				free(segs);
				closedir(d);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			segs = x;
		}
		segs[n++] = v;
	}
	int e2 = errno;
	closedir(d);
	if (e2 != 0) {
		free(segs);
		snprintf(err, errlen, "%s: %s", s->dir, strerror(e2));
		return -1;
	}
	if (n > 0)
		qsort(segs, n, sizeof *segs, scan_cmp);
	free(s->segs);
	s->segs = segs;
	s->nsegs = n;
	/* Keep reading the same segment. */
	if (s->fd >= 0) {
		for (size_t i = 0; i < n; i++)
			if (segs[i] == cur)
				s->seg = i;
	}
	return 0;
}

int
scan_open(struct scan *s, const char *dir, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->fd = -1;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	s->dir = strdup(dir);
	s->cap = SCAN_BUF;
	s->buf = malloc(s->cap);
	if (s->dir == NULL || s->buf == NULL) {
		snprintf(err, errlen, "out of memory");
		scan_close(s);
		return -1;
	}
	if (scan_refresh(s, err, errlen) != 0) {
		scan_close(s);
		return -1;
	}
	return 0;
}

void
scan_from_seq(struct scan *s, uint64_t seq)
{
	s->seg = 0;
	for (size_t i = 0; i < s->nsegs; i++)
		if (s->segs[i] <= seq)
			s->seg = i;
	s->skip_below = seq;
}

/* The ts of the first line of segment i into out (WHEN-sized); 0 or -1. */
static int
scan_first_ts(struct scan *s, size_t i, char out[REC_TS_LEN + 1])
{
	char name[LOGREAD_SEGMENT_NAME_LEN];
	logread_segment_name(s->segs[i], name);
	int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[256];
	ssize_t n = pread(fd, buf, sizeof buf, 0);
	close(fd);
	const char *ts = n > 0 ? rec_ts(buf, (size_t)n) : NULL;
	if (ts == NULL)
		return -1;
	memcpy(out, ts, REC_TS_LEN);
	out[REC_TS_LEN] = '\0';
	return 0;
}

int
scan_from_time(struct scan *s, const char *ts, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	s->seg = 0;
	/* Binary search: the last segment whose first record is before ts. */
	size_t lo = 0, hi = s->nsegs;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		char first[REC_TS_LEN + 1];
		if (scan_first_ts(s, mid, first) != 0) {
			lo = 0;		/* unreadable: read everything */
			break;
		}
		if (strcmp(first, ts) < 0)
			lo = mid;
		else
			hi = mid;
	}
	s->seg = lo;
	return 0;
}

int
scan_next(struct scan *s, const char **p, size_t *n, char *err, size_t errlen)
{
	for (;;) {
		if (s->fd < 0) {
			if (s->seg >= s->nsegs)
				return 0;
			logread_segment_name(s->segs[s->seg], s->name);
			s->fd = openat(s->dirfd, s->name, O_RDONLY | O_CLOEXEC);
			if (s->fd < 0) {
				snprintf(err, errlen, "%s/%s: %s", s->dir, s->name,
				    strerror(errno));
				return -1;
			}
			posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
			s->start = s->end = 0;
		}
		if (s->start > 0) {
			memmove(s->buf, s->buf + s->start, s->end - s->start);
			s->end -= s->start;
			s->start = 0;
		}
		if (s->end == s->cap) {
			char *x = realloc(s->buf, s->cap * 2);
			if (x == NULL) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			s->buf = x;
			s->cap *= 2;
		}
		ssize_t r = read(s->fd, s->buf + s->end, s->cap - s->end);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s/%s: %s", s->dir, s->name, strerror(errno));
			return -1;
		}
		if (r == 0) {
			if (s->seg + 1 >= s->nsegs)
				return 0;	/* the newest segment: more may come */
			if (s->end > 0 && !s->warned_torn) {
				log_warn("%s/%s: %zu bytes without a newline at the end "
				    "(not a record)", s->dir, s->name, s->end);
				s->warned_torn = 1;
			}
			close(s->fd);
			s->fd = -1;
			s->seg++;
			s->start = s->end = 0;
			continue;
		}
		s->end += (size_t)r;
		const char *b = s->buf;
		const char *last = memrchr(b, '\n', s->end);
		if (last == NULL)
			continue;
		size_t len = (size_t)(last - b) + 1;
		s->start = len;
		const char *q = b;
		/* Skip lines before the first wanted seq. */
		if (s->skip_below > 1) {
			while (q < b + len) {
				const char *nl = memchr(q, '\n', (size_t)(b + len - q));
				uint64_t seq = rec_seq(q, (size_t)(nl - q));
				if (seq >= s->skip_below) {
					s->skip_below = 0;
					break;
				}
				q = nl + 1;
			}
			if (q == b + len)
				continue;
		}
		*p = q;
		*n = (size_t)(b + len - q);
		s->bytes += *n;
		return 1;
	}
}

void
scan_close(struct scan *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->segs);
	free(s->buf);
	free(s->dir);
	memset(s, 0, sizeof *s);
	s->fd = s->dirfd = -1;
}

int
scan_lines(const char *p, size_t n, int (*fn)(void *ctx, const char *line,
    size_t len), void *ctx)
{
	const char *e = p + n;
	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		if (nl == NULL)
			nl = e;
		int rc = fn(ctx, p, (size_t)(nl - p));
		if (rc != 0)
			return rc;
		p = nl + 1;
	}
	return 0;
}

void
scan_line_at(const char *p, size_t n, const char *at, const char **start,
    size_t *len)
{
	const char *s = at > p ? memrchr(p, '\n', (size_t)(at - p)) : NULL;
	s = s != NULL ? s + 1 : p;
	const char *nl = memchr(at, '\n', (size_t)(p + n - at));
	if (nl == NULL)
		nl = p + n;
	*start = s;
	*len = (size_t)(nl - s);
}
