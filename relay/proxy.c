#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "flow.h"
#include "log.h"
#include "pgproto.h"
#include "session.h"

/* Client messages held whole: the ones that run statements (and, later,
 * are audited and filtered), and Terminate. */
#define CLIENT_INSPECT "QPBEFX"

struct proxy {
	struct relay_session *s;
	struct flow c2s;
	struct flow s2c;
	/* Why the session is ending, once it is; the client is told at the end. */
	const char *ending;
	const char *ending_sqlstate;
	char ending_message[256];
	int client_said_goodbye;
};

static const uint8_t terminate_msg[5] = { 'X', 0, 0, 0, 4 };

static void
proxy_end(struct proxy *p, const char *why, const char *sqlstate, const char *message)
{
	if (p->ending != NULL)
		return;
	p->ending = why;
	p->ending_sqlstate = sqlstate;
	snprintf(p->ending_message, sizeof p->ending_message, "%s", message);
}

static enum flow_verdict
on_client_message(void *ctx, char type, const uint8_t *msg, size_t len)
{
	struct proxy *p = ctx;
	(void)msg;
	(void)len;
	if (type == 'X') {
		p->client_said_goodbye = 1;
		return FLOW_FORWARD;
	}
	if (type != 'B' && (long long)time(NULL) >= p->s->id.exp) {
		char m[200];
		char when[32];
		time_t e = (time_t)p->s->id.exp;
		struct tm tm;
		gmtime_r(&e, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(m, sizeof m, "pgward: token expired at %s; reconnect with a fresh token", when);
		proxy_end(p, "token expired", "28000", m);
		return FLOW_STOP;
	}
	return FLOW_FORWARD;
}

/* Stops taking client input and asks the server to finish up. */
static void
proxy_stop_client(struct proxy *p)
{
	if (!p->c2s.stopped) {
		p->c2s.stopped = 1;
		/* Anything not yet examined is dropped; a half-sent message can
		 * only be finished, never cut. */
		if (p->c2s.pass == 0)
			p->c2s.len = p->c2s.ready;
	}
	if (flow_at_boundary(&p->c2s) && !p->client_said_goodbye) {
		flow_append(&p->c2s, terminate_msg, sizeof terminate_msg);
		p->client_said_goodbye = 1;
	}
}

static short
events_for(const struct endpoint *ep, int reading, int writing)
{
	short ev = 0;
	if (reading)
		ev |= POLLIN;
	if (writing)
		ev |= POLLOUT;
	/* TLS may need the other direction to make progress. */
	if (ep->ssl != NULL && (ep->want_read || ep->want_write)) {
		if (ep->want_read)
			ev |= POLLIN;
		if (ep->want_write)
			ev |= POLLOUT;
	}
	return ev;
}

static void
send_final_error(struct proxy *p)
{
	if (p->ending_sqlstate == NULL || !flow_at_boundary(&p->s2c))
		return;
	struct pgbuf b;
	pgbuf_init(&b);
	pgmsg_error(&b, "FATAL", p->ending_sqlstate, p->ending_message, NULL, NULL);
	if (!b.failed)
		flow_append(&p->s2c, b.data, b.len);
	pgbuf_free(&b);
}

static const char *
proxy_loop(struct proxy *p)
{
	struct endpoint *cl = &p->s->client;
	struct endpoint *sv = &p->s->up.ep;
	static char why[320];
	int final_sent = 0;

	for (;;) {
		if (session_cancel_requested) {
			session_cancel_requested = 0;
			if (upstream_cancel(&p->s->up) != 0)
				log_warn("session %s: cancel request to the server failed", p->s->session_id);
		}
		if (session_terminate_requested)
			proxy_end(p, "relay shutting down", "57P01",
			    "terminating connection due to administrator command");
		if (p->ending != NULL || p->c2s.eof)
			proxy_stop_client(p);
		if (p->s2c.eof && !flow_has_output(&p->s2c)) {
			if (p->ending != NULL && !final_sent) {
				send_final_error(p);
				final_sent = 1;
				continue;
			}
			return p->ending ? p->ending :
			    p->client_said_goodbye ? "client disconnected" : "server closed the connection";
		}
		if (p->c2s.eof && p->client_said_goodbye && !flow_has_output(&p->c2s))
			return "client disconnected";
		if (p->c2s.eof && p->c2s.pass > 0 && !flow_has_output(&p->c2s))
			return "client disconnected in the middle of a message";

		struct pollfd pfd[2];
		pfd[0].fd = cl->fd;
		pfd[0].events = events_for(cl, flow_has_space(&p->c2s), flow_has_output(&p->s2c));
		pfd[1].fd = sv->fd;
		pfd[1].events = events_for(sv, flow_has_space(&p->s2c), flow_has_output(&p->c2s));
		int timeout = 1000;
		if ((endpoint_pending(cl) && flow_has_space(&p->c2s)) ||
		    (endpoint_pending(sv) && flow_has_space(&p->s2c)))
			timeout = 0;
		int n = poll(pfd, 2, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return "poll failed";
		}
		if ((pfd[0].revents || endpoint_pending(cl)) && flow_has_space(&p->c2s)) {
			if (flow_fill(&p->c2s, cl) != 0) {
				snprintf(why, sizeof why, "client connection error: %s", cl->error);
				return why;
			}
			if (flow_scan(&p->c2s) != 0) {
				snprintf(why, sizeof why, "protocol violation by client: %s", p->c2s.error);
				session_send_error(p->s, "FATAL", "08P01", p->c2s.error, NULL);
				return why;
			}
		}
		if ((pfd[1].revents || endpoint_pending(sv)) && flow_has_space(&p->s2c)) {
			if (flow_fill(&p->s2c, sv) != 0) {
				snprintf(why, sizeof why, "server connection error: %s", sv->error);
				return why;
			}
			if (flow_scan(&p->s2c) != 0) {
				snprintf(why, sizeof why, "protocol violation by server: %s", p->s2c.error);
				return why;
			}
		}
		if (flow_has_output(&p->c2s) && flow_drain(&p->c2s, sv) != 0) {
			snprintf(why, sizeof why, "server connection error: %s", sv->error);
			return why;
		}
		if (flow_has_output(&p->s2c) && flow_drain(&p->s2c, cl) != 0) {
			snprintf(why, sizeof why, "client connection error: %s", cl->error);
			return why;
		}
	}
}

const char *
proxy_run(struct relay_session *s)
{
	struct proxy p;
	memset(&p, 0, sizeof p);
	p.s = s;
	if (flow_init(&p.c2s, (size_t)s->cfg->max_message_size, CLIENT_INSPECT,
	    on_client_message, &p) != 0 ||
	    flow_init(&p.s2c, (size_t)0x7fffffff, "", NULL, &p) != 0) {
		flow_free(&p.c2s);
		return "out of memory";
	}
	const char *why = proxy_loop(&p);
	/* Whatever the server already said reaches the client if it can. */
	if (flow_has_output(&p.s2c))
		endpoint_write_all(&s->client, p.s2c.buf + p.s2c.start,
		    p.s2c.ready - p.s2c.start, 2000);
	flow_free(&p.c2s);
	flow_free(&p.s2c);
	return why;
}
