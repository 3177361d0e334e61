#include "logd/server.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "ready.h"
#include "rectext.h"
#include "sock.h"

#define READ_CHUNK 65536
#define READ_BUDGET (1024 * 1024)	/* per connection per round */
#define OUT_HIGH (4 * 1024 * 1024)	/* stop reading a client that does not read */

struct conn {
	int fd;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_off, out_len, out_cap;
	int closing;		/* close once the replies are out */
	int dead;
};

enum { REQ_APPEND, REQ_PING, REQ_STATUS, REQ_ERROR };

struct req {
	struct conn *c;
	int kind;
	const char *error;
	json_t *json;
	char *text;		/* an append's payload kept as sent */
	size_t ai;		/* index in the append batch */
};

struct server {
	struct logd_service *svc;
	struct conn **conns;
	size_t nconns, conns_cap;
	struct pollfd *pfds;
	struct req *reqs;
	size_t nreqs, reqs_cap;
	struct logd_append *batch;
	size_t nbatch, batch_cap;
	size_t max_line;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem);
static void conn_read(struct server *sv, struct conn *c);
static void conn_lines(struct server *sv, struct conn *c);
static void conn_request(struct server *sv, struct conn *c, char *line,
    size_t len);
static void conn_reply(struct conn *c, const char *s, size_t n);
static void conn_reply_json(struct conn *c, json_t *j);
static void conn_flush(struct conn *c);
static int add_req(struct server *sv, struct req r);
static int round_commit(struct server *sv);
static void accept_all(struct server *sv, int lfd);
static void conns_reap(struct server *sv, int all);

static int
grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * elem);
	if (q == NULL)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

int
logd_server_run(struct logd_service *s, const int *listen_fds, int nlisten,
    volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
	struct server sv = { .svc = s };
	int rc = 0;
	for (int i = 0; i < nlisten; i++)
		sock_set_nonblock(listen_fds[i], 1);
	while (!*stop) {
		if (*reload) {
			*reload = 0;
			ready_sd_notify("RELOADING=1");
			logd_service_reload(s);
			ready_sd_notify("READY=1");
		}
		long mr = s->config.config->max_record_bytes;
		sv.max_line = PGWARD_IPC_MAX_LINE;
		if ((size_t)mr * 2 + 65536 > sv.max_line)
			sv.max_line = (size_t)mr * 2 + 65536;
		long long due = logd_service_timers(s, sock_now_ms());
		if (due == -2) {
			rc = -1;
			break;
		}
		size_t n = (size_t)nlisten + sv.nconns;
		struct pollfd *np = realloc(sv.pfds, n * sizeof *np);
		if (np == NULL) {
			log_error("out of memory");
			rc = -1;
			break;
		}
		sv.pfds = np;
		for (int i = 0; i < nlisten; i++)
			sv.pfds[i] = (struct pollfd){ .fd = listen_fds[i], .events = POLLIN };
		for (size_t i = 0; i < sv.nconns; i++) {
			struct conn *c = sv.conns[i];
			short ev = 0;
			if (!c->closing && c->out_len - c->out_off < OUT_HIGH)
				ev |= POLLIN;
			if (c->out_len > c->out_off)
				ev |= POLLOUT;
			sv.pfds[nlisten + i] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		int pr = poll(sv.pfds, n, due < 0 ? 1000 : (int)(due > 1000 ? 1000 : due));
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			log_warn_sys("poll");
			rc = -1;
			break;
		}
		size_t nc = sv.nconns;
		for (size_t i = 0; i < nc; i++) {
			short re = sv.pfds[nlisten + i].revents;
			struct conn *c = sv.conns[i];
			if (re & POLLOUT)
				conn_flush(c);
			if (re & (POLLIN | POLLHUP | POLLERR))
				conn_read(&sv, c);
		}
		if (round_commit(&sv) != 0) {
			rc = -1;
			break;
		}
		for (int i = 0; i < nlisten; i++)
			if (sv.pfds[i].revents & POLLIN)
				accept_all(&sv, listen_fds[i]);
		conns_reap(&sv, 0);
	}
	/* A clean stop: what was read is committed, replies go out. */
	for (size_t i = 0; i < sv.nconns; i++) {
		struct conn *c = sv.conns[i];
		if (!c->dead && c->out_len > c->out_off)
			sock_write_all(c->fd, c->out + c->out_off,
			    c->out_len - c->out_off, 1000);
	}
	conns_reap(&sv, 1);
	free(sv.conns);
	free(sv.pfds);
	free(sv.reqs);
	free(sv.batch);
	return rc;
}

static void
accept_all(struct server *sv, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn_sys("accept");
			return;
		}
		struct conn *c = calloc(1, sizeof *c);
		if (c == NULL || grow((void **)&sv->conns, &sv->conns_cap, sv->nconns + 1,
		    sizeof *sv->conns) != 0) {
			free(c);
			close(fd);
			log_warn("out of memory: refused a connection");
			return;
		}
		c->fd = fd;
		sv->conns[sv->nconns++] = c;
	}
}

static void
conns_reap(struct server *sv, int all)
{
	for (size_t i = sv->nconns; i-- > 0;) {
		struct conn *c = sv->conns[i];
		if (!all && !c->dead && !(c->closing && c->out_off == c->out_len))
			continue;
		close(c->fd);
		free(c->in);
		free(c->out);
		free(c);
		sv->conns[i] = sv->conns[--sv->nconns];
	}
}

static void
conn_read(struct server *sv, struct conn *c)
{
	size_t budget = READ_BUDGET;
	while (!c->dead && !c->closing && budget > 0) {
		if (grow((void **)&c->in, &c->in_cap, c->in_len + READ_CHUNK, 1) != 0) {
			c->dead = 1;
			return;
		}
		ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0) {
			/* Requests already read are still answered if they can be. */
			conn_lines(sv, c);
			c->closing = 1;
			return;
		}
		c->in_len += (size_t)r;
		budget -= (size_t)r < budget ? (size_t)r : budget;
	}
	conn_lines(sv, c);
}

static void
conn_lines(struct server *sv, struct conn *c)
{
	size_t off = 0;
	while (!c->closing && off < c->in_len) {
		char *nl = memchr(c->in + off, '\n', c->in_len - off);
		if (nl == NULL)
			break;
		size_t len = (size_t)(nl - (c->in + off));
		conn_request(sv, c, c->in + off, len);
		off += len + 1;
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	if (!c->closing && c->in_len >= sv->max_line) {
		add_req(sv, (struct req){ .c = c, .kind = REQ_ERROR,
		    .error = "request line too long" });
		c->closing = 1;
	}
}

/* The relay's appends, in the layout it writes them, are stored without a
 * round trip through a JSON tree when rectext says that changes nothing. */
static int
append_as_text(struct server *sv, struct conn *c, const char *line, size_t len)
{
	static const char prefix[] = "{\"v\":1,\"op\":\"append\",\"record\":";
	const size_t plen = sizeof prefix - 1;
	if (len < plen + 3 || memcmp(line, prefix, plen) != 0 || line[len - 1] != '}')
		return 0;
	const char *rec = line + plen;
	size_t rlen = len - plen - 1;
	if (!rectext_payload_ok(rec, rlen))
		return 0;
	struct req r = { .c = c, .kind = REQ_APPEND, .text = malloc(rlen) };
	if (r.text == NULL || grow((void **)&sv->batch, &sv->batch_cap, sv->nbatch + 1,
	    sizeof *sv->batch) != 0) {
		free(r.text);
		return 0;
	}
	memcpy(r.text, rec, rlen);
	r.ai = sv->nbatch++;
	sv->batch[r.ai] = (struct logd_append){ .text = r.text, .text_len = rlen };
	if (add_req(sv, r) != 0) {
		free(r.text);
		sv->nbatch--;
		c->dead = 1;
	}
	return 1;
}

static void
conn_request(struct server *sv, struct conn *c, char *line, size_t len)
{
	if (append_as_text(sv, c, line, len))
		return;
	struct req r = { .c = c, .kind = REQ_ERROR };
	json_error_t je;
	json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		r.error = "malformed request: expected one JSON object per line";
		c->closing = 1;
		add_req(sv, r);
		return;
	}
	json_t *v = json_object_get(j, "v");
	const char *op = json_string_value(json_object_get(j, "op"));
	if (v != NULL && (!json_is_integer(v) ||
	    json_integer_value(v) != PGWARD_IPC_VERSION)) {
		r.error = "unsupported protocol version";
		c->closing = 1;
	} else if (op == NULL) {
		r.error = "unknown op";
	} else if (strcmp(op, "append") == 0) {
		if (grow((void **)&sv->batch, &sv->batch_cap, sv->nbatch + 1,
		    sizeof *sv->batch) != 0) {
			r.error = "out of memory";
		} else {
			r.kind = REQ_APPEND;
			r.ai = sv->nbatch++;
			sv->batch[r.ai] = (struct logd_append){
				.payload = json_object_get(j, "record") };
			r.json = j;
			j = NULL;
		}
	} else if (strcmp(op, "ping") == 0) {
		r.kind = REQ_PING;
	} else if (strcmp(op, "status") == 0) {
		r.kind = REQ_STATUS;
	} else {
		r.error = "unknown op";
	}
	json_decref(j);
	if (add_req(sv, r) != 0) {
		json_decref(r.json);
		if (r.kind == REQ_APPEND)
			sv->nbatch--;
		c->dead = 1;
	}
}

static int
add_req(struct server *sv, struct req r)
{
	if (grow((void **)&sv->reqs, &sv->reqs_cap, sv->nreqs + 1,
	    sizeof *sv->reqs) != 0)
		return -1;
	sv->reqs[sv->nreqs++] = r;
	return 0;
}

/* Appends the round's records, then answers every request in order. */
static int
round_commit(struct server *sv)
{
	int rc = 0;
	if (sv->nbatch > 0 &&
	    logd_service_commit(sv->svc, sv->batch, sv->nbatch) < 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < sv->nreqs; i++) {
		struct req *r = &sv->reqs[i];
		struct conn *c = r->c;
		if (c->dead)
			continue;
		if (r->kind == REQ_APPEND) {
			struct logd_append *a = &sv->batch[r->ai];
			if (a->seq != 0) {
				char buf[64];
				int n = snprintf(buf, sizeof buf,
				    "{\"v\":1,\"ok\":true,\"seq\":%llu}\n",
				    (unsigned long long)a->seq);
				conn_reply(c, buf, (size_t)n);
			} else {
				json_t *e = ipc_error_reply(a->error);
				conn_reply_json(c, e);
				json_decref(e);
			}
		} else if (r->kind == REQ_PING) {
			conn_reply(c, "{\"v\":1,\"ok\":true}\n", 18);
		} else if (r->kind == REQ_STATUS) {
			json_t *st = logd_service_status(sv->svc);
			conn_reply_json(c, st);
			json_decref(st);
		} else {
			json_t *e = ipc_error_reply(r->error);
			conn_reply_json(c, e);
			json_decref(e);
		}
	}
	for (size_t i = 0; i < sv->nreqs; i++) {
		json_decref(sv->reqs[i].json);
		free(sv->reqs[i].text);
	}
	sv->nreqs = 0;
	sv->nbatch = 0;
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < sv->nconns; i++)
		if (sv->conns[i]->out_len > sv->conns[i]->out_off)
			conn_flush(sv->conns[i]);
	return 0;
}

static void
conn_reply(struct conn *c, const char *s, size_t n)
{
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (grow((void **)&c->out, &c->out_cap, c->out_len + n, 1) != 0) {
		c->dead = 1;
		return;
	}
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
}

static void
conn_reply_json(struct conn *c, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII |
	    JSON_PRESERVE_ORDER) : NULL;
	if (s == NULL) {
		c->dead = 1;
		return;
	}
	conn_reply(c, s, strlen(s));
	conn_reply(c, "\n", 1);
	free(s);
}

static void
conn_flush(struct conn *c)
{
	while (!c->dead && c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		    MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w <= 0) {
			c->dead = 1;
			return;
		}
		c->out_off += (size_t)w;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
}
