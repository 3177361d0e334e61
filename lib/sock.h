#ifndef PGWARD_SOCK_H
#define PGWARD_SOCK_H

#include <stddef.h>

/* All return an fd, or -1 with a one-line reason in err. */

/* Binds a Unix stream socket at path (a stale socket file is replaced)
 * with the given permission bits, and listens. */
int sock_listen_unix(const char *path, unsigned mode, char *err, size_t errlen);

/* "host:port", "[v6]:port" or ":port" (all addresses). */
int sock_listen_tcp(const char *hostport, char *err, size_t errlen);

/* Connects to a Unix stream socket, giving up after timeout_ms. The fd
 * returned is blocking. */
int sock_connect_unix(const char *path, int timeout_ms, char *err, size_t errlen);

/* Sockets passed by systemd socket activation (LISTEN_PID/LISTEN_FDS),
 * starting at fd 3. Returns their count (0 when none); the variables are
 * removed from the environment so children do not inherit them. */
int sock_activation_count(void);

int sock_set_nonblock(int fd, int on);
int sock_set_cloexec(int fd);

/* Writes all of buf, waiting up to timeout_ms in total (for non-blocking
 * fds too). Returns 0 or -1 (errno set; ETIMEDOUT on timeout). */
int sock_write_all(int fd, const void *buf, size_t len, int timeout_ms);

/* Milliseconds on the monotonic clock. */
long long sock_now_ms(void);

#endif
