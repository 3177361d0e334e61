#include "ready.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
ready_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (path == NULL || path[0] == '\0')
		return 0;
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	size_t plen = strlen(path);
	if (plen >= sizeof sun.sun_path)
		return -1;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract namespace */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, alen);
	close(fd);
	return n < 0 ? -1 : 0;
}

void
ready_notify(int fd)
{
	if (fd >= 0) {
		ssize_t n = write(fd, "\n", 1);
		(void)n;
		close(fd);
	}
	ready_sd_notify("READY=1");
}
