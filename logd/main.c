#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "logd/server.h"
#include "logd/service.h"
#include "ready.h"
#include "sandbox.h"
#include "signnote.h"
#include "sock.h"

#define USAGE \
	"usage: pgward-logd -c FILE [-d FD] [-v]          serve on a Unix socket\n" \
	"       pgward-logd -c FILE -n                    check the configuration\n" \
	"       pgward-logd keygen NAME PRIVKEY_PATH      make an Ed25519 signing key\n"

static int keygen(int argc, char **argv, int optind);
static int serve(struct logd_service *s, int notify_fd);

int
main(int argc, char **argv)
{
	struct daemon_opts o;
	log_init("pgward-logd");
	daemon_parse_opts(argc, argv, USAGE, NULL, NULL, NULL, &o);
	if (o.optind < argc && strcmp(argv[o.optind], "keygen") == 0)
		return keygen(argc, argv, o.optind + 1);
	if (o.config == NULL || o.optind != argc) {
		if (o.config == NULL)
			log_error("-c FILE is required");
		else
			log_error("unexpected operand %s", argv[o.optind]);
		fputs(USAGE, stderr);
		return PGWARD_EXIT_USAGE;
	}
	/* A file size limit must show as EFBIG (disk full), not kill us. */
	signal(SIGXFSZ, SIG_IGN);
	struct logd_service s;
	char err[1024];
	int rc = logd_service_open(&s, o.config, o.check_only, err, sizeof err);
	if (rc != 0)
		log_fatal(o.check_only ? PGWARD_EXIT_USAGE : rc, "%s", err);
	rc = o.check_only ? 0 : serve(&s, o.notify_fd);
	logd_service_close(&s);
	return rc;
}

static int
keygen(int argc, char **argv, int optind)
{
	if (argc - optind != 2) {
		log_error("keygen needs NAME and PRIVKEY_PATH");
		fputs(USAGE, stderr);
		return PGWARD_EXIT_USAGE;
	}
	char *vkey = NULL;
	struct note_result r = note_keygen(argv[optind], argv[optind + 1], &vkey);
	if (r.error != NULL) {
		log_error("%s", r.error);
		note_result_free(&r);
		return PGWARD_EXIT_USAGE;
	}
	printf("%s\n", vkey);
	free(vkey);
	return fflush(stdout) == 0 ? 0 : PGWARD_EXIT_TEMP;
}

static int
serve(struct logd_service *s, int notify_fd)
{
	int fds[DAEMON_MAX_LISTEN];
	int activated;
	int nfds = daemon_listen_unix(s->config.config->listen_unix, s->config_path, fds,
	    &activated);
	const char *path = s->config.config->listen_unix;
	struct sandbox sb;
	sandbox_init(&sb);
	sb.no_tcp = 1;
	sandbox_allow_dir_of(&sb, s->config_path, SANDBOX_READ);
	sandbox_allow_dir_of(&sb, s->config.config->signing_key, SANDBOX_READ);
	sandbox_allow(&sb, s->config.config->directory, SANDBOX_WRITE);
	if (activated == 0)
		sandbox_allow_dir_of(&sb, path, SANDBOX_SOCKDIR);
	sandbox_enter(&sb);
	daemon_signals();
	ready_notify(notify_fd);
	log_debug("serving %d sockets", nfds);
	int rc = logd_server_run(s, fds, nfds, &daemon_stop, &daemon_reload);
	if (rc == 0) {
		ready_sd_notify("STOPPING=1");
		rc = logd_service_finish(s);
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (activated == 0)
		unlink(path);
	return rc == 0 ? 0 : PGWARD_EXIT_TEMP;
}
