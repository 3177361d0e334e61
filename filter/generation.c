#include "filter/generation.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
generation_open(const char *dir, unsigned long long *last, char *err,
    size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, GENERATION_FILE);
	*last = 0;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "unable to open %s: %s", path, strerror(errno));
		return -1;
	}
	char buf[GENERATION_BYTES];
	ssize_t n = pread(fd, buf, sizeof buf, 0);
	if (n == GENERATION_BYTES && generation_parse(buf, (size_t)n, last) != 0)
		*last = 0;
	return fd;
}

int
generation_parse(const char *buf, size_t len, unsigned long long *gen)
{
	if (len != GENERATION_BYTES || buf[GENERATION_BYTES - 1] != '\n')
		return -1;
	unsigned long long v = 0;
	for (int i = 0; i < GENERATION_BYTES - 1; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		unsigned d = (unsigned)(buf[i] - '0');
		if (v > (~0ULL - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*gen = v;
	return 0;
}

int
generation_write(int fd, unsigned long long gen)
{
	char buf[GENERATION_BYTES + 1];
	snprintf(buf, sizeof buf, "%020llu\n", gen);
	ssize_t n;
	do
		n = pwrite(fd, buf, GENERATION_BYTES, 0);
	while (n < 0 && errno == EINTR);
	if (n != GENERATION_BYTES) {
		if (n >= 0)
			errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}
