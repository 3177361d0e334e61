#include "replay/cursor.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
cursor_load(const char *path, struct cursor *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	c->out_bytes = -1;
	json_error_t je;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	json_t *j = json_loadf(f, 0, &je);
	fclose(f);
	json_int_t seq, ck, ob = -1, dev = 0, ino = 0;
	if (j == NULL || json_unpack(j, "{s:I, s:I, s?I, s?I, s?I}", "seq", &seq,
	    "checkpoint", &ck, "out_bytes", &ob, "out_dev", &dev, "out_ino", &ino) != 0 ||
	    seq < 0 || ck < 0) {
		snprintf(err, errlen, "%s: not a cursor file%s%s", path,
		    j == NULL ? ": " : "", j == NULL ? je.text : "");
		json_decref(j);
		return -1;
	}
	json_decref(j);
	c->seq = (uint64_t)seq;
	c->checkpoint = (uint64_t)ck;
	c->out_bytes = ob;
	c->out_dev = (uint64_t)dev;
	c->out_ino = (uint64_t)ino;
	return 0;
}

int
cursor_save(const char *path, const struct cursor *c, char *err, size_t errlen)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	char line[256];
	int n = snprintf(line, sizeof line, "{\"seq\":%llu,\"checkpoint\":%llu,"
	    "\"out_bytes\":%lld,\"out_dev\":%llu,\"out_ino\":%llu}\n",
	    (unsigned long long)c->seq, (unsigned long long)c->checkpoint,
	    (long long)c->out_bytes, (unsigned long long)c->out_dev,
	    (unsigned long long)c->out_ino);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "rename %s: %s", tmp, strerror(errno));
		return -1;
	}
	char dcopy[4096];
	snprintf(dcopy, sizeof dcopy, "%s", path);
	int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}
