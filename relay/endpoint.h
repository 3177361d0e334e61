#ifndef PGWARD_RELAY_ENDPOINT_H
#define PGWARD_RELAY_ENDPOINT_H

/* One side of a session (client or server): a non-blocking socket,
 * optionally wrapped in TLS. */

#include <openssl/ssl.h>
#include <stddef.h>
#include <sys/types.h>

enum {
	EP_EOF = 0,
	EP_AGAIN = -1,		/* nothing now; see ep->want_* for what to poll */
	EP_ERROR = -2,
};

struct endpoint {
	int fd;
	SSL *ssl;
	/* Set by the last call that returned EP_AGAIN. */
	int want_read;
	int want_write;
	char error[256];
};

void endpoint_init(struct endpoint *ep, int fd, SSL *ssl);
ssize_t endpoint_read(struct endpoint *ep, void *buf, size_t len);
ssize_t endpoint_write(struct endpoint *ep, const void *buf, size_t len);
/* Decrypted bytes already buffered inside TLS (poll would not see them). */
int endpoint_pending(const struct endpoint *ep);
/* Writes all of buf, polling up to timeout_ms. Returns 0 or -1. */
int endpoint_write_all(struct endpoint *ep, const void *buf, size_t len, int timeout_ms);
/* Reads exactly len bytes, polling until the deadline (monotonic ms).
 * Returns 0, or -1 (EOF, error or timeout; ep->error says which). */
int endpoint_read_full(struct endpoint *ep, void *buf, size_t len, long long deadline_ms);

#endif
