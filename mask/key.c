/* The tokenization key file (mask/mask.h, mask_key_read). */

#include "mask/mask.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "conf.h"

static struct mask_key_result key_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static struct mask_key_result
key_error(const char *fmt, ...)
{
	struct mask_key_result r = { NULL, 0, NULL };
	char buf[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	r.error = strdup(buf);
	if (r.error == NULL)
		r.error = strdup("out of memory");
	return r;
}

struct mask_key_result
mask_key_read(const char *path)
{
	struct mask_key_result r = { NULL, 0, NULL };
	char err[512];
	if (conf_check_secret_file(path, err, sizeof err) != 0)
		return key_error("%s", err);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return key_error("%s: %s", path, strerror(errno));
	/* Room for the longest key, its line end and one byte more, which
	 * tells a key that is too long. */
	size_t cap = MASK_KEY_MAX + 3;
	uint8_t *buf = malloc(cap);
	if (buf == NULL) {
		close(fd);
		return key_error("out of memory");
	}
	size_t n = 0;
	while (n < cap) {
		ssize_t got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			close(fd);
			OPENSSL_cleanse(buf, cap);
			free(buf);
			return key_error("%s: %s", path, strerror(e));
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	if (n < cap) {
		if (n > 0 && buf[n - 1] == '\n') {
			n--;
			if (n > 0 && buf[n - 1] == '\r')
				n--;
		}
	}
	if (n < MASK_KEY_MIN || n > MASK_KEY_MAX) {
		OPENSSL_cleanse(buf, cap);
		free(buf);
		return key_error("%s: a key has %d to %d bytes (one trailing line end "
		    "aside)%s", path, MASK_KEY_MIN, MASK_KEY_MAX,
		    n < MASK_KEY_MIN ? ": too short" : ": too long");
	}
	r.key = buf;
	r.len = n;
	return r;
}

void
mask_key_result_free(struct mask_key_result r)
{
	if (r.key != NULL) {
		OPENSSL_cleanse(r.key, r.len);
		free(r.key);
	}
	free(r.error);
}
