#ifndef PGWARD_IPC_H
#define PGWARD_IPC_H

/* Newline-delimited JSON over Unix stream sockets: one request object per
 * line, one reply object per line, in order. See docs/ipc.md. */

#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#define PGWARD_IPC_VERSION 1
/* The default longest line, each way. */
#define PGWARD_IPC_MAX_LINE (4 * 1024 * 1024)

/* The longest line a message needs that carries a text of n bytes as one
 * JSON string: JSON_ENSURE_ASCII makes a byte at most 6 (\u00XX), plus
 * 1 MiB for the other members. Never below PGWARD_IPC_MAX_LINE. */
size_t ipc_line_limit(size_t n);

/* Client side: one persistent connection to a daemon. */
struct ipc_client {
	int fd;
	char *buf;
	size_t len;
	size_t cap;
	size_t scanned;		/* of buf[0..len), bytes known to hold no newline */
	size_t max_line;	/* longest reply taken; 0: PGWARD_IPC_MAX_LINE */
};

/* Returns 0, or -1 with the reason in err. Sets max_line to 0. */
int ipc_client_open(struct ipc_client *c, const char *path, int timeout_ms,
    char *err, size_t errlen);
void ipc_client_close(struct ipc_client *c);
/* Sends req and waits up to timeout_ms for the reply line. On any error or
 * timeout the connection is closed (a late reply must never be taken for
 * the answer to the next request). */
int ipc_client_call(struct ipc_client *c, json_t *req, json_t **reply,
    int timeout_ms, char *err, size_t errlen);
/* ipc_client_call on a kept connection to path, opened (within
 * open_timeout_ms) when closed. A kept connection may have been closed by
 * a daemon restart since its last use: when a call on it fails, one fresh
 * connection is tried, once. So only for requests a repeat cannot double.
 * max_line as in struct ipc_client; req stays the caller's. */
int ipc_client_call_path(struct ipc_client *c, const char *path,
    int open_timeout_ms, json_t *req, json_t **reply, int timeout_ms,
    size_t max_line, char *err, size_t errlen);
/* The two halves of a call, for pipelining: replies come in request
 * order. Both close the connection on failure. */
int ipc_client_send(struct ipc_client *c, json_t *req, int timeout_ms, char *err,
    size_t errlen);
int ipc_client_recv(struct ipc_client *c, json_t **reply, int timeout_ms, char *err,
    size_t errlen);

/* Server side. */
struct ipc_peer {
	int fd;
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

struct ipc_server_ops {
	/* Returns the reply (the server takes ownership), or NULL to close the
	 * connection without replying. */
	json_t *(*handle)(void *ctx, const struct ipc_peer *peer, json_t *req);
	/* Called at least every tick_ms, and after a reload request. */
	void (*tick)(void *ctx);
	void (*reload)(void *ctx);
	int tick_ms;
	/* The longest request line, asked for as lines arrive (it may change
	 * on reload); NULL: PGWARD_IPC_MAX_LINE. A longer line gets an error
	 * reply and the connection closes. */
	size_t (*max_line)(void *ctx);
};

/* Serves the listening fds until *stop is set. *reload set means call
 * ops->reload. Returns 0 on a clean stop, -1 on a fatal error (logged). */
int ipc_serve(const int *listen_fds, int nlisten, const struct ipc_server_ops *ops,
    void *ctx, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);

/* Writes json plus a newline with one write. */
int ipc_send(int fd, json_t *msg, int timeout_ms);

/* Helpers for replies. */
json_t *ipc_error_reply(const char *message);

#endif
