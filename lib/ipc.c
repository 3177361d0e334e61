#include "ipc.h"

#include <errno.h>
#include <stdint.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sock.h"

struct conn;

static json_t *take_line(char *buf, size_t *len, size_t *scanned, int *complete);
static int grow(char **buf, size_t *cap, size_t need);
static void conn_free(struct conn *c);
static void peer_identify(struct ipc_peer *p);
static int conn_process(struct conn *c, const struct ipc_server_ops *ops, void *ctx);

size_t
ipc_line_limit(size_t n)
{
	size_t extra = 1024 * 1024;
	if (n > (SIZE_MAX - extra) / 6)
		return SIZE_MAX;
	size_t l = 6 * n + extra;
	return l < PGWARD_IPC_MAX_LINE ? PGWARD_IPC_MAX_LINE : l;
}

int
ipc_send(int fd, json_t *msg, int timeout_ms)
{
	char *s = json_dumps(msg, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (s == NULL)
		return -1;
	size_t n = strlen(s);
	char *line = realloc(s, n + 2);
	if (line == NULL) {
		free(s);
		return -1;
	}
	line[n] = '\n';
	int rc = sock_write_all(fd, line, n + 1, timeout_ms);
	free(line);
	return rc;
}

json_t *
ipc_error_reply(const char *message)
{
	return json_pack("{s:i, s:b, s:s}", "v", PGWARD_IPC_VERSION, "ok", 0,
	    "error", message);
}

int
ipc_client_open(struct ipc_client *c, const char *path, int timeout_ms,
    char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	c->fd = sock_connect_unix(path, timeout_ms, err, errlen);
	if (c->fd < 0)
		return -1;
	sock_set_nonblock(c->fd, 1);
	return 0;
}

void
ipc_client_close(struct ipc_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

/* Takes the first line out of the buffer, if complete (*complete), parsed
 * in place: NULL when it is not one JSON object. *scanned bytes are known to
 * hold no newline, so a long line arriving in many reads is searched once,
 * not once a read. */
static json_t *
take_line(char *buf, size_t *len, size_t *scanned, int *complete)
{
	*complete = 0;
	if (*scanned >= *len)
		return NULL;
	char *nl = memchr(buf + *scanned, '\n', *len - *scanned);
	if (nl == NULL) {
		*scanned = *len;
		return NULL;
	}
	*complete = 1;
	*scanned = 0;
	size_t linelen = (size_t)(nl - buf);
	json_error_t je;
	json_t *j = json_loadb(buf, linelen, JSON_REJECT_DUPLICATES, &je);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	memmove(buf, nl + 1, *len - linelen - 1);
	*len -= linelen + 1;
	return j;
}

static int
grow(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 4096;
	while (ncap < need)
		ncap *= 2;
	char *n = realloc(*buf, ncap);
	if (n == NULL)
		return -1;
	*buf = n;
	*cap = ncap;
	return 0;
}

int
ipc_client_send(struct ipc_client *c, json_t *req, int timeout_ms, char *err,
    size_t errlen)
{
	if (c->fd < 0) {
		snprintf(err, errlen, "not connected");
		return -1;
	}
	if (ipc_send(c->fd, req, timeout_ms) != 0) {
		snprintf(err, errlen, "%s", errno == ETIMEDOUT ? "timed out" : strerror(errno));
		ipc_client_close(c);
		return -1;
	}
	return 0;
}

int
ipc_client_recv(struct ipc_client *c, json_t **reply, int timeout_ms, char *err,
    size_t errlen)
{
	*reply = NULL;
	if (c->fd < 0) {
		snprintf(err, errlen, "not connected");
		return -1;
	}
	long long deadline = sock_now_ms() + timeout_ms;
	for (;;) {
		int complete;
		*reply = take_line(c->buf, &c->len, &c->scanned, &complete);
		if (complete) {
			if (*reply == NULL) {
				snprintf(err, errlen, "malformed reply");
				goto fail;
			}
			return 0;
		}
		size_t max = c->max_line ? c->max_line : PGWARD_IPC_MAX_LINE;
		if (c->len >= max) {
			snprintf(err, errlen, "reply longer than %zu bytes", max);
			goto fail;
		}
		long long left = deadline - sock_now_ms();
		if (left <= 0) {
			snprintf(err, errlen, "timed out after %d ms", timeout_ms);
			goto fail;
		}
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int pr = poll(&p, 1, (int)left);
		if (pr < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			goto fail;
		}
		if (pr <= 0)
			continue;
		if (grow(&c->buf, &c->cap, c->len + 65536) != 0) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n == 0) {
			snprintf(err, errlen, "connection closed by peer");
			goto fail;
		}
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(err, errlen, "read: %s", strerror(errno));
			goto fail;
		}
		c->len += (size_t)n;
	}
fail:
	ipc_client_close(c);
	return -1;
}

int
ipc_client_call(struct ipc_client *c, json_t *req, json_t **reply,
    int timeout_ms, char *err, size_t errlen)
{
	*reply = NULL;
	if (ipc_client_send(c, req, timeout_ms, err, errlen) != 0)
		return -1;
	return ipc_client_recv(c, reply, timeout_ms, err, errlen);
}

int
ipc_client_call_path(struct ipc_client *c, const char *path, int open_timeout_ms,
    json_t *req, json_t **reply, int timeout_ms, size_t max_line, char *err,
    size_t errlen)
{
	*reply = NULL;
	for (int fresh = 0;;) {
		if (c->fd < 0) {
			if (ipc_client_open(c, path, open_timeout_ms, err, errlen) != 0) {
				c->fd = -1;
				return -1;
			}
			fresh = 1;
		}
		c->max_line = max_line;
		if (ipc_client_call(c, req, reply, timeout_ms, err, errlen) == 0)
			return 0;
		if (fresh)
			return -1;
	}
}

/* ---- server ---- */

struct conn {
	struct ipc_peer peer;
	char *buf;
	size_t len;
	size_t cap;
	size_t scanned;
};

static void
conn_free(struct conn *c)
{
	close(c->peer.fd);
	free(c->buf);
	free(c);
}

static void
peer_identify(struct ipc_peer *p)
{
	struct ucred cr;
	socklen_t l = sizeof cr;
	p->pid = -1;
	p->uid = (uid_t)-1;
	p->gid = (gid_t)-1;
	if (getsockopt(p->fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) == 0) {
		p->pid = cr.pid;
		p->uid = cr.uid;
		p->gid = cr.gid;
	}
}

/* Handles every complete line. Returns -1 when the connection must close. */
static int
conn_process(struct conn *c, const struct ipc_server_ops *ops, void *ctx)
{
	for (;;) {
		int complete;
		json_t *req = take_line(c->buf, &c->len, &c->scanned, &complete);
		if (!complete)
			break;
		json_t *reply;
		int close_after = 0;
		if (req == NULL) {
			reply = ipc_error_reply("malformed request: expected one JSON object per line");
			close_after = 1;
		} else {
			json_t *v = json_object_get(req, "v");
			if (v != NULL && (!json_is_integer(v) ||
			    json_integer_value(v) != PGWARD_IPC_VERSION)) {
				reply = ipc_error_reply("unsupported protocol version");
				close_after = 1;
			} else {
				reply = ops->handle(ctx, &c->peer, req);
			}
		}
		json_decref(req);
		if (reply == NULL)
			return -1;
		int rc = ipc_send(c->peer.fd, reply, 5000);
		json_decref(reply);
		if (rc != 0 || close_after)
			return -1;
	}
	size_t max = ops->max_line != NULL ? ops->max_line(ctx) : PGWARD_IPC_MAX_LINE;
	if (c->len >= max) {
		char m[80];
		snprintf(m, sizeof m, "request line longer than %zu bytes", max);
		json_t *reply = ipc_error_reply(m);
		ipc_send(c->peer.fd, reply, 1000);
		json_decref(reply);
		return -1;
	}
	return 0;
}

int
ipc_serve(const int *listen_fds, int nlisten, const struct ipc_server_ops *ops,
    void *ctx, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
	struct conn **conns = NULL;
	size_t nconns = 0;
	struct pollfd *pfds = NULL;
	int rc = 0;
	long long next_tick = sock_now_ms() + ops->tick_ms;

	for (int i = 0; i < nlisten; i++)
		sock_set_nonblock(listen_fds[i], 1);
	while (!*stop) {
		if (reload != NULL && *reload) {
			*reload = 0;
			if (ops->reload != NULL)
				ops->reload(ctx);
		}
		long long now = sock_now_ms();
		if (ops->tick != NULL && now >= next_tick) {
			ops->tick(ctx);
			next_tick = now + ops->tick_ms;
		}
		size_t n = (size_t)nlisten + nconns;
		struct pollfd *np = realloc(pfds, n * sizeof *pfds);
		if (np == NULL) {
			log_error("out of memory");
			rc = -1;
			break;
		}
		pfds = np;
		for (int i = 0; i < nlisten; i++)
			pfds[i] = (struct pollfd){ .fd = listen_fds[i], .events = POLLIN };
		for (size_t i = 0; i < nconns; i++)
			pfds[nlisten + i] = (struct pollfd){ .fd = conns[i]->peer.fd, .events = POLLIN };
		int timeout = ops->tick != NULL ? (int)(next_tick - now) : 1000;
		if (timeout < 0)
			timeout = 0;
		int pr = poll(pfds, n, timeout);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			log_warn_sys("poll");
			rc = -1;
			break;
		}
		/* Connections first: indexes shift when one closes. */
		for (size_t i = nconns; i-- > 0;) {
			short re = pfds[nlisten + i].revents;
			if (re == 0)
				continue;
			struct conn *c = conns[i];
			int dead = 0;
			if (grow(&c->buf, &c->cap, c->len + 65536) != 0) {
				dead = 1;
			} else {
				ssize_t r = read(c->peer.fd, c->buf + c->len, c->cap - c->len);
				if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
					dead = 1;
				else if (r > 0) {
					c->len += (size_t)r;
					if (conn_process(c, ops, ctx) != 0)
						dead = 1;
				}
			}
			if (dead) {
				conn_free(c);
				conns[i] = conns[--nconns];
			}
		}
		for (int i = 0; i < nlisten; i++) {
			if (!(pfds[i].revents & POLLIN))
				continue;
			int fd = accept4(listen_fds[i], NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
					log_warn_sys("accept");
				continue;
			}
			struct conn *c = calloc(1, sizeof *c);
			struct conn **nc = realloc(conns, (nconns + 1) * sizeof *conns);
			if (c == NULL || nc == NULL) {
				free(c);
				if (nc != NULL)
					conns = nc;
				close(fd);
				continue;
			}
			conns = nc;
			c->peer.fd = fd;
			peer_identify(&c->peer);
			conns[nconns++] = c;
		}
	}
	for (size_t i = 0; i < nconns; i++)
		conn_free(conns[i]);
	free(conns);
	free(pfds);
	return rc;
}
