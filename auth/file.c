#include "auth/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *
auth_file_read(const char *path, size_t max, size_t *len, char *err,
    size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file", path);
		return NULL;
	}
	char *buf = malloc(max + 1);
	size_t have = 0;
	ssize_t n = 0;
	while (buf != NULL && have <= max &&
	    (n = read(fd, buf + have, max + 1 - have)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	if (buf == NULL || n < 0 || have > max) {
		snprintf(err, errlen, "%s: %s", path, buf == NULL ? "out of memory" :
		    n < 0 ? "read error" : "too large");
		free(buf);
		return NULL;
	}
	buf[have] = '\0';
	*len = have;
	return buf;
}
