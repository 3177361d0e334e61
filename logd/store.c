#include "logd/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auditrec.h"
#include "log.h"

#define FILE_MODE 0640
#define CHECKPOINTS "checkpoints.jsonl"

struct ck_entry {
	uint64_t size;
	char root[48];
	unsigned line;
};

struct scan {
	struct ck_entry *cks;
	size_t ncks;
	size_t ck_next;		/* next checkpoint to compare, by size */
};

static int lock_dir(struct logd_store *s, char *err, size_t errlen);
static int load_checkpoints(struct logd_store *s, struct scan *sc, char *err,
    size_t errlen);
static int list_segments(struct logd_store *s, uint64_t **out, size_t *n,
    char *err, size_t errlen);
static int scan_segment(struct logd_store *s, struct scan *sc, uint64_t first,
    int last, char *err, size_t errlen);
static int check_checkpoints(struct logd_store *s, struct scan *sc, char *err,
    size_t errlen);
static int cut_tail(struct logd_store *s, int fd, const char *name,
    const char *data, uint64_t off, uint64_t len, const char *reason,
    int is_segment, char *err, size_t errlen);
static int open_segment(struct logd_store *s, uint64_t first, int create,
    char *err, size_t errlen);
static int rotate(struct logd_store *s, uint64_t first, char *err, size_t errlen);
static int set_current(struct logd_store *s, char *err, size_t errlen);
static int write_at(int fd, struct iovec *iov, int iovcnt, uint64_t off);
static char *read_file_at(int dirfd, const char *name, int *fdp, size_t *len,
    char *err, size_t errlen);
static int disk_full(int e);

void
logd_segment_name(uint64_t first_seq, char out[LOGD_SEGMENT_NAME_LEN])
{
	snprintf(out, LOGD_SEGMENT_NAME_LEN, "%020llu.jsonl",
	    (unsigned long long)first_seq);
}

uint64_t
logd_segment_parse(const char *name)
{
	uint64_t v = 0;
	for (int i = 0; i < LOGD_SEGMENT_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		uint64_t d = (uint64_t)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	if (strcmp(name + LOGD_SEGMENT_DIGITS, ".jsonl") != 0)
		return 0;
	return v;
}

void
logd_root_base64(const uint8_t root[MERKLE_HASH_LEN], char out[48])
{
	EVP_EncodeBlock((unsigned char *)out, root, MERKLE_HASH_LEN);
}

void
logd_store_root(const struct logd_store *s, uint8_t out[MERKLE_HASH_LEN])
{
	merkle_root(&s->tree, out);
}

static int
disk_full(int e)
{
	return e == ENOSPC || e == EDQUOT || e == EFBIG;
}

int
logd_record_check(json_t *payload, char *err, size_t errlen)
{
	static const char *reserved[] = { "seq", "ts", "prev", "hash" };
	if (!json_is_object(payload) ||
	    !json_is_string(json_object_get(payload, "type"))) {
		snprintf(err, errlen, "record must be an object with a string type");
		return -1;
	}
	for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
		if (json_object_get(payload, reserved[i]) != NULL) {
			snprintf(err, errlen, "reserved member %s", reserved[i]);
			return -1;
		}
	return 0;
}

static int
fsync_dir(int dirfd, const char *what, char *err, size_t errlen)
{
	if (fsync(dirfd) != 0) {
		snprintf(err, errlen, "%s: fsync: %s", what, strerror(errno));
		return -1;
	}
	return 0;
}

int
logd_store_open(struct logd_store *s, const struct logd_store_opts *o,
    char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->dirfd = s->lockfd = s->segfd = s->ckfd = -1;
	s->segment_size = o->segment_size;
	s->max_record_bytes = o->max_record_bytes;
	s->strict = o->strict;
	merkle_init(&s->tree);
	struct scan sc = { 0 };
	uint64_t *segs = NULL;
	size_t nsegs = 0;
	if ((s->dir = strdup(o->dir)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (mkdir(s->dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: unable to create: %s", s->dir,
		    strerror(errno));
		goto fail;
	}
	s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		snprintf(err, errlen, "%s: %s", s->dir, strerror(errno));
		goto fail;
	}
	if (lock_dir(s, err, errlen) != 0)
		goto fail;
	unlinkat(s->dirfd, "checkpoint.tmp", 0);
	unlinkat(s->dirfd, "current.jsonl.tmp", 0);
	if (load_checkpoints(s, &sc, err, errlen) != 0)
		goto fail;
	if (list_segments(s, &segs, &nsegs, err, errlen) != 0)
		goto fail;
	if (check_checkpoints(s, &sc, err, errlen) != 0)
		goto fail;
	for (size_t i = 0; i < nsegs; i++)
		if (scan_segment(s, &sc, segs[i], i + 1 == nsegs, err, errlen) != 0)
			goto fail;
	if (sc.ck_next < sc.ncks) {
		struct ck_entry *c = &sc.cks[sc.ncks - 1];
		snprintf(err, errlen, "%s/%s:%u: checkpoint of size %llu but the log "
		    "has %llu records; refusing to start (see pgward-replay verify)",
		    s->dir, CHECKPOINTS, c->line, (unsigned long long)c->size,
		    (unsigned long long)s->size);
		goto fail;
	}
	if (open_segment(s, nsegs > 0 ? segs[nsegs - 1] : 1, nsegs == 0,
	    err, errlen) != 0)
		goto fail;
	if (set_current(s, err, errlen) != 0)
		goto fail;
	s->synced_size = s->size;
	free(segs);
	free(sc.cks);
	return 0;
fail:
	free(segs);
	free(sc.cks);
	logd_store_close(s);
	return -1;
}

void
logd_store_close(struct logd_store *s)
{
	if (s->segfd >= 0)
		close(s->segfd);
	if (s->ckfd >= 0)
		close(s->ckfd);
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	json_decref(s->repair);
	free(s->iov);
	free(s->dir);
	memset(s, 0, sizeof *s);
	s->dirfd = s->lockfd = s->segfd = s->ckfd = -1;
}

static int
lock_dir(struct logd_store *s, char *err, size_t errlen)
{
	s->lockfd = openat(s->dirfd, "logd.lock", O_RDWR | O_CREAT | O_CLOEXEC,
	    0600);
	if (s->lockfd < 0) {
		snprintf(err, errlen, "%s/logd.lock: %s", s->dir, strerror(errno));
		return -1;
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			snprintf(err, errlen, "%s/logd.lock: another pgward-logd is "
			    "serving this directory", s->dir);
		else
			snprintf(err, errlen, "%s/logd.lock: flock: %s", s->dir,
			    strerror(errno));
		return -1;
	}
	return 0;
}

/* Reads a whole file; *fdp gets the fd opened read-write when fdp != NULL.
 * Returns NULL with err set, or with err empty when the file is absent. */
static char *
read_file_at(int dirfd, const char *name, int *fdp, size_t *len, char *err,
    size_t errlen)
{
	err[0] = '\0';
	int fd = openat(dirfd, name, (fdp ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			snprintf(err, errlen, "%s: %s", name, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", name);
		close(fd);
		return NULL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		close(fd);
		return NULL;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "%s: read: %s", name,
			    r == 0 ? "file shrank" : strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	*len = got;
	if (fdp != NULL)
		*fdp = fd;
	else
		close(fd);
	return buf;
}

static int
ck_compare(const void *a, const void *b)
{
	const struct ck_entry *x = a, *y = b;
	return x->size < y->size ? -1 : x->size > y->size;
}

static int
load_checkpoints(struct logd_store *s, struct scan *sc, char *err,
    size_t errlen)
{
	size_t len = 0;
	int fd = -1;
	char *data = read_file_at(s->dirfd, CHECKPOINTS, &fd, &len, err, errlen);
	if (data == NULL && err[0] != '\0')
		return -1;
	if (data == NULL) {
		fd = openat(s->dirfd, CHECKPOINTS, O_RDWR | O_CREAT | O_CLOEXEC,
		    FILE_MODE);
		if (fd < 0 || fsync_dir(s->dirfd, s->dir, err, errlen) != 0) {
			if (fd < 0)
				snprintf(err, errlen, "%s/%s: %s", s->dir, CHECKPOINTS,
				    strerror(errno));
			else
				close(fd);
			return -1;
		}
		s->ckfd = fd;
		return 0;
	}
	s->ckfd = fd;
	size_t off = 0;
	unsigned lineno = 0;
	while (off < len) {
		lineno++;
		char *nl = memchr(data + off, '\n', len - off);
		if (nl == NULL) {
			/* A checkpoint line is written with one write and synced
			 * before it counts; a crash can tear only the last one. */
			if (cut_tail(s, fd, CHECKPOINTS, data, off, len - off,
			    "no newline at end", 0, err, errlen) != 0) {
				free(data);
				return -1;
			}
			len = off;
			break;
		}
		*nl = '\0';
		json_error_t je;
		json_t *j = json_loads(data + off, JSON_REJECT_DUPLICATES, &je);
		json_t *size = json_object_get(j, "size");
		const char *root = json_string_value(json_object_get(j, "root"));
		if (!json_is_integer(size) || json_integer_value(size) < 0 ||
		    root == NULL || strlen(root) >= sizeof sc->cks[0].root ||
		    !json_is_string(json_object_get(j, "note"))) {
			json_decref(j);
			free(data);
			snprintf(err, errlen, "%s/%s:%u: malformed checkpoint line; "
			    "refusing to start (see pgward-replay verify)", s->dir,
			    CHECKPOINTS, lineno);
			return -1;
		}
		struct ck_entry *n = realloc(sc->cks, (sc->ncks + 1) * sizeof *n);
		if (n == NULL) {
			json_decref(j);
			free(data);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		sc->cks = n;
		n[sc->ncks].size = (uint64_t)json_integer_value(size);
		strcpy(n[sc->ncks].root, root);
		n[sc->ncks].line = lineno;
		sc->ncks++;
		json_decref(j);
		off = (size_t)(nl - data) + 1;
	}
	free(data);
	s->ck_len = len;
	if (sc->ncks > 1)
		qsort(sc->cks, sc->ncks, sizeof sc->cks[0], ck_compare);
	return 0;
}

/* Compares every checkpoint of the current tree size with its root. */
static int
check_checkpoints(struct logd_store *s, struct scan *sc, char *err,
    size_t errlen)
{
	while (sc->ck_next < sc->ncks && sc->cks[sc->ck_next].size <= s->tree.size) {
		struct ck_entry *c = &sc->cks[sc->ck_next];
		if (c->size < s->tree.size) {
			/* Passed over: only possible if sizes were out of order. */
			sc->ck_next++;
			continue;
		}
		uint8_t root[MERKLE_HASH_LEN];
		char b64[48];
		merkle_root(&s->tree, root);
		logd_root_base64(root, b64);
		if (strcmp(b64, c->root) != 0) {
			snprintf(err, errlen, "%s/%s:%u: checkpoint of size %llu has "
			    "root %s but the log has %s; refusing to start (see "
			    "pgward-replay verify)", s->dir, CHECKPOINTS, c->line,
			    (unsigned long long)c->size, c->root, b64);
			return -1;
		}
		if (c->size > s->checkpoint_size)
			s->checkpoint_size = c->size;
		sc->ck_next++;
	}
	return 0;
}

static int
seg_compare(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int
list_segments(struct logd_store *s, uint64_t **out, size_t *n, char *err,
    size_t errlen)
{
	int fd = dup(s->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "%s: %s", s->dir, strerror(errno));
		return -1;
	}
	rewinddir(d);
	uint64_t *v = NULL;
	size_t cnt = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		uint64_t first = logd_segment_parse(e->d_name);
		if (first == 0)
			continue;
		uint64_t *nv = realloc(v, (cnt + 1) * sizeof *v);
		if (nv == NULL) {
			free(v);
			closedir(d);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		v = nv;
		v[cnt++] = first;
	}
	closedir(d);
	if (cnt > 1)
		qsort(v, cnt, sizeof *v, seg_compare);
	*out = v;
	*n = cnt;
	return 0;
}

static int
scan_segment(struct logd_store *s, struct scan *sc, uint64_t first, int last,
    char *err, size_t errlen)
{
	char name[LOGD_SEGMENT_NAME_LEN];
	logd_segment_name(first, name);
	if (first != s->size + 1) {
		snprintf(err, errlen, "%s/%s: segment starts at record %llu but the "
		    "previous one ends at record %llu; the log is corrupt before "
		    "its tail; refusing to start (see pgward-replay verify)", s->dir,
		    name, (unsigned long long)first, (unsigned long long)s->size);
		return -1;
	}
	size_t len = 0;
	int fd = -1;
	char *data = read_file_at(s->dirfd, name, last ? &fd : NULL, &len, err,
	    errlen);
	if (data == NULL) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: vanished", name);
		return -1;
	}
	if (len == 0 && !last) {
		snprintf(err, errlen, "%s/%s: empty segment before the last one; the "
		    "log is corrupt before its tail; refusing to start (see "
		    "pgward-replay verify)", s->dir, name);
		goto fail;
	}
	size_t off = 0;
	unsigned long lineno = 0;
	while (off < len) {
		lineno++;
		uint64_t seq = s->size + 1;
		char reason[256];
		char *nl = memchr(data + off, '\n', len - off);
		size_t linelen = nl ? (size_t)(nl - data) - off : len - off;
		struct auditrec r;
		if (nl == NULL) {
			snprintf(reason, sizeof reason, "no newline at end");
		} else if (auditrec_parse(data + off, linelen, &r, reason,
		    sizeof reason) == 0) {
			json_decref(r.json);
			if (r.seq != seq)
				snprintf(reason, sizeof reason, "seq %llu where %llu was "
				    "expected", (unsigned long long)r.seq,
				    (unsigned long long)seq);
			else if (memcmp(r.prev, s->last_hash, 32) != 0)
				snprintf(reason, sizeof reason, "prev does not match the "
				    "hash of record %llu", (unsigned long long)(seq - 1));
			else
				reason[0] = '\0';
		}
		if (reason[0] != '\0') {
			if (last && (nl == NULL || (size_t)(nl - data) + 1 == len)) {
				if (cut_tail(s, fd, name, data, off, len - off, reason, 1,
				    err, errlen) != 0)
					goto fail;
				len = off;
				break;
			}
			snprintf(err, errlen, "%s/%s:%lu: record %llu: %s; the log is "
			    "corrupt before its tail; refusing to start (see "
			    "pgward-replay verify)", s->dir, name, lineno,
			    (unsigned long long)seq, reason);
			goto fail;
		}
		merkle_append(&s->tree, data + off, linelen);
		memcpy(s->last_hash, r.hash, 32);
		s->size = seq;
		if (check_checkpoints(s, sc, err, errlen) != 0)
			goto fail;
		off += linelen + 1;
	}
	free(data);
	if (fd >= 0)
		close(fd);
	if (last)
		s->seg_len = len;
	return 0;
fail:
	free(data);
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Keeps the torn bytes in torn/, then truncates the file before them. */
static int
cut_tail(struct logd_store *s, int fd, const char *name, const char *data,
    uint64_t off, uint64_t len, const char *reason, int is_segment, char *err,
    size_t errlen)
{
	if (mkdirat(s->dirfd, "torn", 0700) == 0) {
		if (fsync_dir(s->dirfd, s->dir, err, errlen) != 0)
			return -1;
	} else if (errno != EEXIST) {
		snprintf(err, errlen, "%s/torn: %s", s->dir, strerror(errno));
		return -1;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char kept[128], stamp[40];
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
	int tfd = -1;
	for (int i = 0; i < 100 && tfd < 0; i++) {
		snprintf(kept, sizeof kept, "torn/%s.%06ldZ-%s%s%.0d.torn", stamp,
		    ts.tv_nsec / 1000, name, i ? "." : "", i);
		tfd = openat(s->dirfd, kept, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    FILE_MODE);
		if (tfd < 0 && errno != EEXIST)
			break;
	}
	if (tfd < 0) {
		snprintf(err, errlen, "%s/%s: %s", s->dir, kept, strerror(errno));
		return -1;
	}
	struct iovec iov = { (void *)(data + off), (size_t)len };
	int rc = write_at(tfd, &iov, 1, 0);
	if (rc != 0 || fsync(tfd) != 0) {
		snprintf(err, errlen, "%s/%s: %s: %s", s->dir, kept,
		    rc != 0 ? "write" : "fsync", strerror(errno));
		close(tfd);
		return -1;
	}
	close(tfd);
	int tdir = openat(s->dirfd, "torn", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tdir < 0 || fsync(tdir) != 0) {
		snprintf(err, errlen, "%s/torn: fsync: %s", s->dir, strerror(errno));
		if (tdir >= 0)
			close(tdir);
		return -1;
	}
	close(tdir);
	if (ftruncate(fd, (off_t)off) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "%s/%s: truncate to %llu: %s", s->dir, name,
		    (unsigned long long)off, strerror(errno));
		return -1;
	}
	log_warn("%s/%s: cut a torn tail of %llu bytes at "
	    "offset %llu (%s); kept in %s", s->dir, name,
	    (unsigned long long)len, (unsigned long long)off, reason, kept);
	if (!is_segment)
		return 0;
	json_decref(s->repair);
	s->repair = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s}", "type", "repair",
	    "segment", name, "offset", (json_int_t)off, "bytes", (json_int_t)len,
	    "reason", reason, "kept", kept);
	if (s->repair == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
open_segment(struct logd_store *s, uint64_t first, int create, char *err,
    size_t errlen)
{
	char name[LOGD_SEGMENT_NAME_LEN];
	logd_segment_name(first, name);
	int fd = openat(s->dirfd, name, O_WRONLY | O_CLOEXEC |
	    (create ? O_CREAT : 0), FILE_MODE);
	if (fd < 0) {
		snprintf(err, errlen, "%s/%s: %s", s->dir, name, strerror(errno));
		return -1;
	}
	if (create) {
		struct stat st;
		if (fstat(fd, &st) != 0 || st.st_size != 0) {
			snprintf(err, errlen, "%s/%s: a new segment is not empty", s->dir,
			    name);
			close(fd);
			return -1;
		}
		if (fsync_dir(s->dirfd, s->dir, err, errlen) != 0) {
			close(fd);
			return -1;
		}
		s->seg_len = 0;
	}
	if (s->segfd >= 0)
		close(s->segfd);
	s->segfd = fd;
	s->seg_first = first;
	return 0;
}

/* current.jsonl names the active segment; replaced with a rename. */
static int
set_current(struct logd_store *s, char *err, size_t errlen)
{
	char name[LOGD_SEGMENT_NAME_LEN];
	logd_segment_name(s->seg_first, name);
	char buf[LOGD_SEGMENT_NAME_LEN + 1];
	ssize_t n = readlinkat(s->dirfd, "current.jsonl", buf, sizeof buf - 1);
	if (n >= 0) {
		buf[n] = '\0';
		if (strcmp(buf, name) == 0)
			return 0;
	}
	unlinkat(s->dirfd, "current.jsonl.tmp", 0);
	if (symlinkat(name, s->dirfd, "current.jsonl.tmp") != 0 ||
	    renameat(s->dirfd, "current.jsonl.tmp", s->dirfd, "current.jsonl") != 0) {
		int e = errno;
		unlinkat(s->dirfd, "current.jsonl.tmp", 0);
		errno = e;
		snprintf(err, errlen, "%s/current.jsonl: %s", s->dir, strerror(errno));
		return -1;
	}
	return fsync_dir(s->dirfd, s->dir, err, errlen);
}

/* Writes all of iov at off; -1 with errno on failure (the caller truncates). */
static int
write_at(int fd, struct iovec *iov, int iovcnt, uint64_t off)
{
	while (iovcnt > 0) {
		int cnt = iovcnt < IOV_MAX ? iovcnt : IOV_MAX;
		ssize_t w = pwritev(fd, iov, cnt, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		off += (uint64_t)w;
		size_t left = (size_t)w;
		while (iovcnt > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

int
logd_store_sync(struct logd_store *s, char *err, size_t errlen)
{
	if (s->synced_size == s->size)
		return 0;
	if (fdatasync(s->segfd) != 0) {
		snprintf(err, errlen, "%s: fdatasync of segment %llu failed: %s; "
		    "not retrying", s->dir, (unsigned long long)s->seg_first,
		    strerror(errno));
		return -1;
	}
	s->synced_size = s->size;
	return 0;
}

static int
rotate(struct logd_store *s, uint64_t first, char *err, size_t errlen)
{
	if (logd_store_sync(s, err, errlen) != 0)
		return -1;
	char name[LOGD_SEGMENT_NAME_LEN];
	logd_segment_name(first, name);
	int fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, FILE_MODE);
	if (fd < 0) {
		if (disk_full(errno))
			return 1;
		snprintf(err, errlen, "%s/%s: %s", s->dir, name, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size != 0) {
		snprintf(err, errlen, "%s/%s: a new segment is not empty", s->dir, name);
		close(fd);
		return -1;
	}
	if (fsync_dir(s->dirfd, s->dir, err, errlen) != 0) {
		close(fd);
		return -1;
	}
	close(s->segfd);
	s->segfd = fd;
	s->seg_first = first;
	s->seg_len = 0;
	if (set_current(s, err, errlen) != 0)
		return disk_full(errno) ? 0 : -1;
	return 0;
}

static int
reserve_iov(struct logd_store *s, size_t n)
{
	if (n <= s->iov_cap)
		return 0;
	size_t cap = s->iov_cap ? s->iov_cap : 64;
	while (cap < n)
		cap *= 2;
	struct iovec *v = realloc(s->iov, cap * sizeof *v);
	if (v == NULL)
		return -1;
	s->iov = v;
	s->iov_cap = cap;
	return 0;
}

long
logd_store_append(struct logd_store *s, struct logd_append *a, size_t n,
    char *err, size_t errlen)
{
	char ts[32];
	auditrec_timestamp(ts);
	uint64_t seq = s->size;
	uint8_t prev[32];
	memcpy(prev, s->last_hash, 32);
	/* Build every line first: content does not depend on the segment. */
	for (size_t i = 0; i < n; i++) {
		a[i].seq = 0;
		a[i].line = NULL;
		a[i].error[0] = '\0';
		if (a[i].text != NULL)
			a[i].line = auditrec_build_text(seq + 1, ts, prev, a[i].text,
			    a[i].text_len, &a[i].len, a[i].hash, a[i].error,
			    sizeof a[i].error);
		else if (logd_record_check(a[i].payload, a[i].error, sizeof a[i].error) == 0)
			a[i].line = auditrec_build(seq + 1, ts, prev, a[i].payload,
			    &a[i].len, a[i].hash, a[i].error, sizeof a[i].error);
		if (a[i].line == NULL) {
			if (a[i].error[0] == '\0')
				snprintf(a[i].error, sizeof a[i].error, "unable to build "
				    "the record");
			continue;
		}
		a[i].error[0] = '\0';
		if (a[i].len > (size_t)s->max_record_bytes) {
			free(a[i].line);
			a[i].line = NULL;
			snprintf(a[i].error, sizeof a[i].error, "record too large");
			continue;
		}
		a[i].seq = ++seq;
		memcpy(prev, a[i].hash, 32);
	}
	long done = 0;
	int full = 0;
	size_t i = 0;
	while (i < n) {
		/* One chunk: the lines that fit in the current segment. */
		size_t j = i, cnt = 0;
		uint64_t bytes = 0;
		for (; j < n; j++) {
			if (a[j].line == NULL)
				continue;
			if (s->seg_len + bytes > 0 &&
			    s->seg_len + bytes + a[j].len > (uint64_t)s->segment_size)
				break;
			bytes += a[j].len;
			cnt++;
		}
		if (cnt == 0 && j < n) {
			/* The current segment is full: start the next one. */
			int rc = rotate(s, s->size + 1, err, errlen);
			if (rc < 0)
				goto fatal;
			if (rc > 0) {
				full = 1;
				break;
			}
			continue;
		}
		if (cnt == 0)
			break;
		if (reserve_iov(s, cnt) != 0) {
			snprintf(err, errlen, "out of memory");
			goto fatal;
		}
		size_t k = 0;
		for (size_t m = i; m < j; m++)
			if (a[m].line != NULL)
				s->iov[k++] = (struct iovec){ a[m].line, a[m].len };
		if (write_at(s->segfd, s->iov, (int)cnt, s->seg_len) != 0) {
			int e = errno;
			if (ftruncate(s->segfd, (off_t)s->seg_len) != 0) {
				snprintf(err, errlen, "%s: segment %llu: truncate after a "
				    "failed write: %s", s->dir,
				    (unsigned long long)s->seg_first, strerror(errno));
				goto fatal;
			}
			if (!disk_full(e)) {
				snprintf(err, errlen, "%s: segment %llu: write: %s", s->dir,
				    (unsigned long long)s->seg_first, strerror(e));
				goto fatal;
			}
			full = 1;
			break;
		}
		s->seg_len += bytes;
		for (size_t m = i; m < j; m++) {
			if (a[m].line == NULL)
				continue;
			merkle_append(&s->tree, a[m].line, a[m].len - 1);
			memcpy(s->last_hash, a[m].hash, 32);
			s->size = a[m].seq;
			free(a[m].line);
			a[m].line = NULL;
			done++;
		}
		if (s->strict && logd_store_sync(s, err, errlen) != 0)
			goto fatal;
		i = j;
	}
	if (full)
		for (; i < n; i++)
			if (a[i].line != NULL) {
				free(a[i].line);
				a[i].line = NULL;
				a[i].seq = 0;
				snprintf(a[i].error, sizeof a[i].error, "disk full");
			}
	return done;
fatal:
	for (size_t m = 0; m < n; m++) {
		free(a[m].line);
		a[m].line = NULL;
	}
	return -1;
}

int
logd_store_checkpoint(struct logd_store *s, const struct note_signer *k,
    const char *origin, char *err, size_t errlen)
{
	/* A checkpoint only ever covers records on disk. */
	if (logd_store_sync(s, err, errlen) != 0)
		return -1;
	uint8_t root[MERKLE_HASH_LEN];
	char b64[48], ts[32];
	merkle_root(&s->tree, root);
	logd_root_base64(root, b64);
	auditrec_timestamp(ts);
	char *note = note_sign_checkpoint(k, origin, s->size, root);
	if (note == NULL) {
		snprintf(err, errlen, "unable to sign a checkpoint");
		return -1;
	}
	json_t *j = json_pack("{s:I, s:s, s:s, s:s}", "size", (json_int_t)s->size,
	    "ts", ts, "root", b64, "note", note);
	char *line = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII |
	    JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (line == NULL) {
		free(note);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t llen = strlen(line);
	struct iovec iov[2] = { { line, llen }, { "\n", 1 } };
	int rc = write_at(s->ckfd, iov, 2, s->ck_len);
	int e = errno;
	free(line);
	if (rc != 0) {
		if (ftruncate(s->ckfd, (off_t)s->ck_len) != 0 || !disk_full(e)) {
			snprintf(err, errlen, "%s/%s: write: %s", s->dir, CHECKPOINTS,
			    strerror(e));
			free(note);
			return -1;
		}
		free(note);
		return 1;
	}
	if (fdatasync(s->ckfd) != 0) {
		snprintf(err, errlen, "%s/%s: fdatasync failed: %s; not retrying",
		    s->dir, CHECKPOINTS, strerror(errno));
		free(note);
		return -1;
	}
	s->ck_len += llen + 1;
	s->checkpoint_size = s->size;
	/* The latest note on its own, replaced atomically. */
	int fd = openat(s->dirfd, "checkpoint.tmp", O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, FILE_MODE);
	if (fd < 0) {
		e = errno;
		free(note);
		if (disk_full(e))
			return 1;
		snprintf(err, errlen, "%s/checkpoint.tmp: %s", s->dir, strerror(e));
		return -1;
	}
	struct iovec niov = { note, strlen(note) };
	rc = write_at(fd, &niov, 1, 0);
	e = errno;
	free(note);
	if (rc != 0) {
		close(fd);
		unlinkat(s->dirfd, "checkpoint.tmp", 0);
		if (disk_full(e))
			return 1;
		snprintf(err, errlen, "%s/checkpoint.tmp: write: %s", s->dir,
		    strerror(e));
		return -1;
	}
	if (fsync(fd) != 0) {
		snprintf(err, errlen, "%s/checkpoint.tmp: fsync failed: %s; not "
		    "retrying", s->dir, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	if (renameat(s->dirfd, "checkpoint.tmp", s->dirfd, "checkpoint") != 0) {
		snprintf(err, errlen, "%s/checkpoint: rename: %s", s->dir,
		    strerror(errno));
		return -1;
	}
	return fsync_dir(s->dirfd, s->dir, err, errlen);
}
