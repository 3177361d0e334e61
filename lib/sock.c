#include "sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

long long
sock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
sock_set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl);
}

int
sock_set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

static int
unix_addr(const char *path, struct sockaddr_un *sun, char *err, size_t errlen)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun->sun_path) {
		snprintf(err, errlen, "%s: socket path too long", path);
		return -1;
	}
	strcpy(sun->sun_path, path);
	return 0;
}

int
sock_listen_unix(const char *path, unsigned mode, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	if (unix_addr(path, &sun, err, errlen) != 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	/* The socket file is created with the final mode, never wider. */
	mode_t old = umask(0777 & ~mode);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (rc != 0 || listen(fd, 128) != 0) {
		snprintf(err, errlen, "unable to listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
sock_listen_tcp(const char *hostport, char *err, size_t errlen)
{
	char host[256];
	const char *port;
	const char *colon = strrchr(hostport, ':');
	if (colon == NULL) {
		snprintf(err, errlen, "%s: expected host:port", hostport);
		return -1;
	}
	size_t hlen = (size_t)(colon - hostport);
	if (hlen >= sizeof host) {
		snprintf(err, errlen, "%s: host too long", hostport);
		return -1;
	}
	memcpy(host, hostport, hlen);
	host[hlen] = '\0';
	port = colon + 1;
	char *h = host;
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host[hlen - 1] = '\0';
		h = host + 1;
	}
	struct addrinfo hints, *res;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int gai = getaddrinfo(*h ? h : NULL, port, &hints, &res);
	if (gai != 0) {
		snprintf(err, errlen, "%s: %s", hostport, gai_strerror(gai));
		return -1;
	}
	int fd = -1;
	int saved = 0;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 511) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "unable to listen on %s: %s", hostport,
		    strerror(saved));
	return fd;
}

int
sock_connect_unix(const char *path, int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	if (unix_addr(path, &sun, err, errlen) != 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		if (errno != EINPROGRESS && errno != EAGAIN) {
			snprintf(err, errlen, "unable to connect to %s: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int n = poll(&p, 1, timeout_ms);
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (n <= 0) {
			snprintf(err, errlen, "unable to connect to %s: %s", path,
			    n == 0 ? "timed out" : strerror(errno));
			close(fd);
			return -1;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr != 0) {
			snprintf(err, errlen, "unable to connect to %s: %s", path,
			    strerror(soerr));
			close(fd);
			return -1;
		}
	}
	sock_set_nonblock(fd, 0);
	return fd;
}

int
sock_activation_count(void)
{
	const char *pid = getenv("LISTEN_PID");
	const char *fds = getenv("LISTEN_FDS");
	int n = 0;
	if (pid != NULL && fds != NULL && strtol(pid, NULL, 10) == (long)getpid())
		n = (int)strtol(fds, NULL, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (int i = 0; i < n; i++)
		sock_set_cloexec(3 + i);
	return n < 0 ? 0 : n;
}

int
sock_write_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	const char *p = buf;
	long long deadline = sock_now_ms() + timeout_ms;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		long long left = deadline - sock_now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}
