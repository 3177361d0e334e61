#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/service.h"
#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "ready.h"
#include "sandbox.h"
#include "sock.h"

#define USAGE \
	"usage: pgward-auth -c FILE [-d FD] [-v]     serve on a Unix socket\n" \
	"       pgward-auth -c FILE -n               check the configuration\n" \
	"       pgward-auth -c FILE [-v] verify      check one token from stdin\n"

static int verify_stdin(struct auth_service *s);
static int serve(struct auth_service *s, int notify_fd);
static json_t *on_request(void *ctx, const struct ipc_peer *peer, json_t *req);
static void on_tick(void *ctx);
static void on_reload(void *ctx);

int
main(int argc, char **argv)
{
	struct daemon_opts o;
	log_init("pgward-auth");
	daemon_parse_opts(argc, argv, USAGE, NULL, NULL, NULL, &o);
	int verify = 0;
	if (o.optind < argc && strcmp(argv[o.optind], "verify") == 0) {
		verify = 1;
		o.optind++;
	}
	if (o.config == NULL || o.optind != argc) {
		if (o.config == NULL)
			log_error("-c FILE is required");
		else
			log_error("unexpected operand %s", argv[o.optind]);
		fputs(USAGE, stderr);
		return PGWARD_EXIT_USAGE;
	}
	struct auth_service s;
	char err[1024];
	int rc = auth_service_open(&s, o.config, err, sizeof err);
	if (rc != 0)
		log_fatal(o.check_only ? PGWARD_EXIT_USAGE : rc, "%s", err);
	if (o.check_only)
		rc = 0;
	else if (verify)
		rc = verify_stdin(&s);
	else
		rc = serve(&s, o.notify_fd);
	auth_service_close(&s);
	return rc;
}

static int
verify_stdin(struct auth_service *s)
{
	/* Room for the longest token allowed plus trailing blanks. */
	size_t cap = (size_t)s->config.config->max_token_bytes + 4096;
	char *buf = malloc(cap + 1);
	if (buf == NULL)
		log_fatal(PGWARD_EXIT_TEMP, "out of memory");
	size_t len = 0;
	ssize_t n;
	while (len <= cap && (n = read(0, buf + len, cap + 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			log_fatal_sys(PGWARD_EXIT_TEMP, "unable to read stdin");
		len += (size_t)n;
	}
	while (len > 0 && strchr(" \t\r\n", buf[len - 1]) != NULL)
		len--;
	struct token_result t = auth_service_verify(s, buf, len);
	free(buf);
	int rc = 1;
	if (t.error == NULL) {
		json_t *j = auth_identity_json(&t);
		if (j == NULL || json_dumpf(j, stdout, JSON_COMPACT) != 0 ||
		    fputc('\n', stdout) == EOF || fflush(stdout) != 0)
			log_fatal(PGWARD_EXIT_TEMP, "unable to write the identity");
		json_decref(j);
		rc = 0;
	}
	token_result_free(t);
	return rc;
}

static int
serve(struct auth_service *s, int notify_fd)
{
	int fds[DAEMON_MAX_LISTEN];
	int activated;
	int nfds = daemon_listen_unix(s->config.config->listen_unix, s->config_path, fds,
	    &activated);
	struct sandbox sb;
	sandbox_init(&sb);
	sb.no_tcp = 1;
	sandbox_allow_dir_of(&sb, s->config_path, SANDBOX_READ);
	sandbox_allow_dir_of(&sb, s->config.config->jwks, SANDBOX_READ);
	sandbox_allow_dir_of(&sb, s->config.config->hmac_secret_file, SANDBOX_READ);
	if (activated == 0)
		sandbox_allow_dir_of(&sb, s->config.config->listen_unix, SANDBOX_SOCKDIR);
	sandbox_enter(&sb);
	daemon_signals();
	ready_notify(notify_fd);
	log_debug("serving %d sockets", nfds);
	struct ipc_server_ops ops = {
		.handle = on_request,
		.tick = on_tick,
		.reload = on_reload,
		.tick_ms = 1000,
	};
	int rc = ipc_serve(fds, nfds, &ops, s, &daemon_stop, &daemon_reload);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	/* A socket we bound is ours to remove; an activated one is systemd's. */
	if (activated == 0)
		unlink(s->config.config->listen_unix);
	return rc == 0 ? 0 : PGWARD_EXIT_TEMP;
}

static json_t *
on_request(void *ctx, const struct ipc_peer *peer, json_t *req)
{
	(void)peer;
	return auth_service_handle(ctx, req);
}

static void
on_tick(void *ctx)
{
	auth_service_tick(ctx);
}

static void
on_reload(void *ctx)
{
	ready_sd_notify("RELOADING=1");
	auth_service_reload(ctx);
	ready_sd_notify("READY=1");
}
