/* pgward-relay: the TLS PostgreSQL listener; one process per session. */

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "pgproto.h"
#include "ready.h"
#include "sandbox.h"
#include "session.h"
#include "sock.h"
#include "tls.h"

#define USAGE \
	"usage: pgward-relay -c FILE [-n] [-d FD] [-v]\n" \
	"  -c FILE  configuration (see pgward-relay(8))\n" \
	"  -n       check the configuration and exit\n" \
	"  -d FD    write a newline to FD when ready (s6)\n" \
	"  -v       debug diagnostics\n" \
	"  -V       print the version\n"

#define RELAY_SPARE_PROCESSES 16

struct listener {
	int fd;
	int is_unix;
};

struct child {
	pid_t pid;
	struct relay_cancel_key key;
};

struct relay {
	const char *config_path;
	int activated;		/* sockets came from systemd: not ours to unlink */
	struct mask_key_result mask_key;	/* read once, before any session */
	struct relay_config *cfg;
	SSL_CTX *tls;
	struct listener listeners[2 * RELAY_MAX_LISTEN];
	int nlisteners;
	struct child *children;
	int nchildren;
};

static struct relay relay;

static void
on_session_signal(int sig)
{
	if (sig == SIGUSR1)
		session_cancel_requested = 1;
	else
		session_terminate_requested = 1;
}

static SSL_CTX *
load_tls(const struct relay_config *cfg, char *err, size_t errlen)
{
	if (cfg->tls_cert == NULL)
		return NULL;
	return tls_server_context(cfg->tls_cert, cfg->tls_key, cfg->tls_ciphers, err, errlen);
}

static void
open_listeners(struct relay *r)
{
	int nact = sock_activation_count();
	char err[512];
	if (nact > 0) {
		r->activated = 1;
		for (int i = 0; i < nact && r->nlisteners < 2 * RELAY_MAX_LISTEN; i++) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof ss;
			getsockname(3 + i, (struct sockaddr *)&ss, &sl);
			r->listeners[r->nlisteners++] = (struct listener){ 3 + i, ss.ss_family == AF_UNIX };
		}
		return;
	}
	for (size_t i = 0; i < r->cfg->listen_tcp.n; i++) {
		int fd = sock_listen_tcp(r->cfg->listen_tcp.v[i], err, sizeof err);
		if (fd < 0)
			log_fatal(PGWARD_EXIT_TEMP, "%s", err);
		r->listeners[r->nlisteners++] = (struct listener){ fd, 0 };
	}
	for (size_t i = 0; i < r->cfg->listen_unix.n; i++) {
		int fd = sock_listen_unix(r->cfg->listen_unix.v[i], 0777, err, sizeof err);
		if (fd < 0)
			log_fatal(PGWARD_EXIT_TEMP, "%s", err);
		r->listeners[r->nlisteners++] = (struct listener){ fd, 1 };
	}
}

static void
describe_peer(int fd, int is_unix, char *out, size_t outlen)
{
	if (is_unix) {
		struct ucred cr;
		socklen_t l = sizeof cr;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) == 0)
			snprintf(out, outlen, "unix:pid=%d,uid=%d", (int)cr.pid, (int)cr.uid);
		else
			snprintf(out, outlen, "unix");
		return;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
			port = ntohs(in->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
			port = ntohs(in6->sin6_port);
		}
	}
	snprintf(out, outlen, "%s:%d", host, port);
}

static void
refuse_busy(int fd)
{
	struct pgbuf b;
	pgbuf_init(&b);
	pgmsg_error(&b, "FATAL", "53300", "sorry, too many clients already", NULL, NULL);
	if (!b.failed)
		sock_write_all(fd, b.data, b.len, 100);
	pgbuf_free(&b);
}

/* The cancel key table as of this process's fork is the one to search:
 * sessions are always older than the cancel requests aimed at them. */
static void
handle_cancel(const struct relay_cancel_key *req)
{
	for (int i = 0; i < relay.nchildren; i++) {
		const struct child *c = &relay.children[i];
		if (c->key.pid == req->pid &&
		    CRYPTO_memcmp(&c->key.secret, &req->secret, sizeof req->secret) == 0) {
			kill(c->pid, SIGUSR1);
			return;
		}
	}
	log_info("cancel request with an unknown key ignored");
}

/* Closing with unread input makes the kernel send a reset, which can
 * destroy the error message we just sent; so stop writing, then read
 * what the client still sends, briefly, before closing. */
static void
linger_close(int fd)
{
	shutdown(fd, SHUT_WR);
	sock_set_nonblock(fd, 1);
	long long deadline = sock_now_ms() + 200;
	char buf[4096];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break;
		if (n > 0)
			continue;
		long long left = deadline - sock_now_ms();
		if (left <= 0)
			break;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		poll(&p, 1, (int)left);
	}
	close(fd);
}

static _Noreturn void
run_child(int fd, const struct listener *l, struct relay_cancel_key key, int over_limit)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_session_signal;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	for (int i = 0; i < relay.nlisteners; i++)
		close(relay.listeners[i].fd);
	struct relay_session s;
	memset(&s, 0, sizeof s);
	s.cfg = relay.cfg;
	s.tls = relay.tls;
	s.client_fd = fd;
	s.is_unix = l->is_unix;
	s.key = key;
	s.over_limit = over_limit;
	s.mask_key = relay.mask_key.key;
	s.mask_key_len = relay.mask_key.len;
	describe_peer(fd, l->is_unix, s.client_addr, sizeof s.client_addr);
	int rc = session_run(&s);
	if (rc == 2) {
		handle_cancel(&s.cancel_request);
		rc = 0;
	}
	linger_close(fd);
	_exit(rc);
}

static struct relay_cancel_key
new_cancel_key(void)
{
	struct relay_cancel_key k;
	if (RAND_bytes((unsigned char *)&k, sizeof k) != 1)
		log_fatal(PGWARD_EXIT_TEMP, "unable to get random bytes");
	k.pid &= 0x7fffffff;
	return k;
}

static void
accept_one(const struct listener *l)
{
	int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn_sys("accept");
		return;
	}
	if (!l->is_unix) {
		int one = 1;
		/* Small protocol messages must not wait for delayed ACKs. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	/* Past the limit a few more processes may still answer cancel
	 * requests and say why others are refused; beyond that, refuse here. */
	int over_limit = relay.nchildren >= relay.cfg->max_sessions;
	if (relay.nchildren >= relay.cfg->max_sessions + RELAY_SPARE_PROCESSES) {
		refuse_busy(fd);
		close(fd);
		log_warn("refused a connection: max-sessions (%d) reached", relay.cfg->max_sessions);
		return;
	}
	struct child *nc = realloc(relay.children, (size_t)(relay.nchildren + 1) * sizeof *nc);
	if (nc == NULL) {
		close(fd);
		return;
	}
	relay.children = nc;
	struct relay_cancel_key key = new_cancel_key();
	pid_t pid = fork();
	if (pid < 0) {
		log_warn_sys("fork");
		refuse_busy(fd);
		close(fd);
		return;
	}
	if (pid == 0)
		run_child(fd, l, key, over_limit);
	close(fd);
	relay.children[relay.nchildren++] = (struct child){ pid, key };
}

static void
reap_children(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < relay.nchildren; i++) {
			if (relay.children[i].pid == pid) {
				relay.children[i] = relay.children[--relay.nchildren];
				break;
			}
		}
		if (WIFSIGNALED(status))
			log_warn("session process %d killed by signal %d", (int)pid, WTERMSIG(status));
	}
}

static void
reload(void)
{
	ready_sd_notify("RELOADING=1");
	struct relay_config_result r = relay_config_load(relay.config_path);
	if (r.error != NULL) {
		log_error("reload refused, keeping the running configuration: %s", r.error);
		relay_config_result_free(&r);
		ready_sd_notify("READY=1");
		return;
	}
	char err[512];
	SSL_CTX *tls = load_tls(r.config, err, sizeof err);
	if (r.config->tls_cert != NULL && tls == NULL) {
		log_error("reload refused, keeping the running configuration: %s", err);
		relay_config_result_free(&r);
		ready_sd_notify("READY=1");
		return;
	}
	/* Sessions already running keep their copy (they are forked). */
	relay_config_free(relay.cfg);
	SSL_CTX_free(relay.tls);
	relay.cfg = r.config;
	relay.tls = tls;
	log_info("configuration reloaded (listen addresses apply at restart)");
	ready_sd_notify("READY=1");
}

static void
shutdown_sessions(void)
{
	for (int i = 0; i < relay.nlisteners; i++)
		close(relay.listeners[i].fd);
	ready_sd_notify("STOPPING=1");
	long long deadline = sock_now_ms() + relay.cfg->shutdown_timeout_s * 1000LL;
	log_info("stopping: waiting up to %d s for %d sessions", relay.cfg->shutdown_timeout_s,
	    relay.nchildren);
	int signalled = 0;
	while (relay.nchildren > 0) {
		reap_children();
		if (relay.nchildren == 0)
			break;
		long long now = sock_now_ms();
		if (now >= deadline && !signalled) {
			for (int i = 0; i < relay.nchildren; i++)
				kill(relay.children[i].pid, SIGTERM);
			signalled = 1;
			deadline = now + 2000;
		} else if (now >= deadline) {
			for (int i = 0; i < relay.nchildren; i++)
				kill(relay.children[i].pid, SIGKILL);
		}
		poll(NULL, 0, 50);
	}
}

int
main(int argc, char **argv)
{
	log_init("pgward-relay");
	struct daemon_opts o;
	daemon_parse_opts(argc, argv, USAGE, NULL, NULL, NULL, &o);
	if (o.config == NULL || o.optind != argc) {
		fprintf(stderr, "%s", USAGE);
		return PGWARD_EXIT_USAGE;
	}
	relay.config_path = o.config;
	struct relay_config_result r = relay_config_load(o.config);
	if (r.error != NULL)
		log_fatal(PGWARD_EXIT_USAGE, "%s", r.error);
	relay.cfg = r.config;
	char err[512];
	relay.tls = load_tls(relay.cfg, err, sizeof err);
	if (relay.cfg->tls_cert != NULL && relay.tls == NULL)
		log_fatal(PGWARD_EXIT_USAGE, "%s", err);
	if (relay.cfg->passfile != NULL &&
	    conf_check_secret_file(relay.cfg->passfile, err, sizeof err) != 0)
		log_fatal(PGWARD_EXIT_USAGE, "passfile %s", err);
	if (relay.cfg->mask_key != NULL &&
	    (relay.mask_key = mask_key_read(relay.cfg->mask_key)).error != NULL)
		log_fatal(PGWARD_EXIT_USAGE, "mask-key %s", relay.mask_key.error);
	if (o.check_only) {
		printf("%s: configuration ok\n", o.config);
		return 0;
	}
	daemon_signals();
	open_listeners(&relay);
	for (int i = 0; i < relay.nlisteners; i++)
		sock_set_nonblock(relay.listeners[i].fd, 1);
	/* Sessions inherit this: never the signing key, never the policy. */
	struct sandbox sb;
	sandbox_init(&sb);
	sandbox_allow_dir_of(&sb, relay.config_path, SANDBOX_READ);
	sandbox_allow_dir_of(&sb, relay.cfg->tls_cert, SANDBOX_READ);
	sandbox_allow_dir_of(&sb, relay.cfg->tls_key, SANDBOX_READ);
	sandbox_allow_dir_of(&sb, relay.cfg->passfile, SANDBOX_READ);
	sandbox_allow_dir_of(&sb, relay.cfg->mask_key, SANDBOX_READ);
	sandbox_allow_dir_of(&sb, relay.cfg->filter_generation_file, SANDBOX_READ);
	for (size_t i = 0; i < relay.cfg->listen_unix.n; i++)
		sandbox_allow_dir_of(&sb, relay.cfg->listen_unix.v[i], SANDBOX_SOCKDIR);
	for (int i = 0; i < relay.cfg->connections.n; i++)
		sandbox_allow_conninfo(&sb, relay.cfg->connections.v[i].conninfo);
	sandbox_enter(&sb);
	log_info("ready: %d listening sockets, TLS %s", relay.nlisteners,
	    relay.tls ? "on" : "off");
	ready_notify(o.notify_fd);

	struct pollfd pfd[2 * RELAY_MAX_LISTEN];
	while (!daemon_stop) {
		if (daemon_child_exited) {
			daemon_child_exited = 0;
			reap_children();
		}
		if (daemon_reload) {
			daemon_reload = 0;
			reload();
		}
		for (int i = 0; i < relay.nlisteners; i++)
			pfd[i] = (struct pollfd){ .fd = relay.listeners[i].fd, .events = POLLIN };
		int n = poll(pfd, (nfds_t)relay.nlisteners, 1000);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_fatal_sys(PGWARD_EXIT_TEMP, "poll");
		}
		for (int i = 0; i < relay.nlisteners; i++)
			if (pfd[i].revents & POLLIN)
				accept_one(&relay.listeners[i]);
	}
	shutdown_sessions();
	for (size_t i = 0; !relay.activated && i < relay.cfg->listen_unix.n; i++)
		unlink(relay.cfg->listen_unix.v[i]);
	log_info("stopped");
	relay_config_free(relay.cfg);
	SSL_CTX_free(relay.tls);
	free(relay.children);
	return 0;
}
