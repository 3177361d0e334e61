#include "endpoint.h"

#include <errno.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sock.h"

void
endpoint_init(struct endpoint *ep, int fd, SSL *ssl)
{
	memset(ep, 0, sizeof *ep);
	ep->fd = fd;
	ep->ssl = ssl;
}

static ssize_t
ssl_result(struct endpoint *ep, int n, const char *what)
{
	int e = SSL_get_error(ep->ssl, n);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		ep->want_read = 1;
		return EP_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		ep->want_write = 1;
		return EP_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return EP_EOF;
	case SSL_ERROR_SYSCALL:
		if (errno == 0 || errno == ECONNRESET || errno == EPIPE) {
			ERR_clear_error();
			return EP_EOF;
		}
		snprintf(ep->error, sizeof ep->error, "TLS %s: %s", what, strerror(errno));
		ERR_clear_error();
		return EP_ERROR;
	default: {
		unsigned long code = ERR_get_error();
		char msg[200];
		ERR_error_string_n(code, msg, sizeof msg);
		snprintf(ep->error, sizeof ep->error, "TLS %s: %s", what, msg);
		ERR_clear_error();
		/* An unexpected EOF from a client that vanished is an EOF. */
		if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			return EP_EOF;
		return EP_ERROR;
	}
	}
}

ssize_t
endpoint_read(struct endpoint *ep, void *buf, size_t len)
{
	ep->want_read = ep->want_write = 0;
	if (ep->ssl != NULL) {
		ERR_clear_error();
		int n = SSL_read(ep->ssl, buf, len > 0x7fffffff ? 0x7fffffff : (int)len);
		if (n > 0)
			return n;
		return ssl_result(ep, n, "read");
	}
	for (;;) {
		ssize_t n = recv(ep->fd, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			ep->want_read = 1;
			return EP_AGAIN;
		}
		if (errno == ECONNRESET)
			return EP_EOF;
		snprintf(ep->error, sizeof ep->error, "read: %s", strerror(errno));
		return EP_ERROR;
	}
}

ssize_t
endpoint_write(struct endpoint *ep, const void *buf, size_t len)
{
	ep->want_read = ep->want_write = 0;
	if (ep->ssl != NULL) {
		ERR_clear_error();
		int n = SSL_write(ep->ssl, buf, len > 0x7fffffff ? 0x7fffffff : (int)len);
		if (n > 0)
			return n;
		ssize_t r = ssl_result(ep, n, "write");
		return r == EP_EOF ? EP_ERROR : r;
	}
	for (;;) {
		ssize_t n = send(ep->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			ep->want_write = 1;
			return EP_AGAIN;
		}
		snprintf(ep->error, sizeof ep->error, "write: %s", strerror(errno));
		return EP_ERROR;
	}
}

int
endpoint_pending(const struct endpoint *ep)
{
	/* With read-ahead, whole records may wait unprocessed inside TLS
	 * where poll(2) cannot see them: SSL_has_pending counts those too. */
	return ep->ssl != NULL && SSL_has_pending(ep->ssl);
}

static int
wait_for(struct endpoint *ep, long long deadline_ms)
{
	long long left = deadline_ms - sock_now_ms();
	if (left <= 0) {
		snprintf(ep->error, sizeof ep->error, "timed out");
		return -1;
	}
	struct pollfd p = { .fd = ep->fd, .events = 0 };
	if (ep->want_read)
		p.events |= POLLIN;
	if (ep->want_write)
		p.events |= POLLOUT;
	if (p.events == 0)
		p.events = POLLIN;
	int n = poll(&p, 1, (int)left);
	if (n < 0 && errno != EINTR) {
		snprintf(ep->error, sizeof ep->error, "poll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int
endpoint_write_all(struct endpoint *ep, const void *buf, size_t len, int timeout_ms)
{
	const char *p = buf;
	long long deadline = sock_now_ms() + timeout_ms;
	while (len > 0) {
		ssize_t n = endpoint_write(ep, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n == EP_AGAIN) {
			if (wait_for(ep, deadline) != 0)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

int
endpoint_read_full(struct endpoint *ep, void *buf, size_t len, long long deadline_ms)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = endpoint_read(ep, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n == EP_AGAIN) {
			if (wait_for(ep, deadline_ms) != 0)
				return -1;
		} else {
			if (n == EP_EOF)
				snprintf(ep->error, sizeof ep->error, "connection closed");
			return -1;
		}
	}
	return 0;
}
