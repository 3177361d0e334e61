#include "daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "sock.h"

volatile sig_atomic_t daemon_stop;
volatile sig_atomic_t daemon_reload;
volatile sig_atomic_t daemon_child_exited;

static void
usage_exit(const char *usage, int code)
{
	fprintf(code == 0 ? stdout : stderr, "%s", usage);
	exit(code);
}

void
daemon_parse_opts(int argc, char **argv, const char *usage,
    const char *extra_opts, int (*extra)(int c, const char *arg, void *ctx),
    void *ctx, struct daemon_opts *out)
{
	char optstring[64] = "+:c:nd:vVh";
	if (extra_opts != NULL)
		strncat(optstring, extra_opts, sizeof optstring - strlen(optstring) - 1);
	memset(out, 0, sizeof *out);
	out->notify_fd = -1;
	opterr = 0;
	int c;
	while ((c = getopt(argc, argv, optstring)) != -1) {
		switch (c) {
		case 'c':
			out->config = optarg;
			break;
		case 'n':
			out->check_only = 1;
			break;
		case 'd': {
			long fd;
			char err[128];
			if (conf_parse_long(optarg, 0, 1023, &fd, err, sizeof err) != 0)
				log_fatal(PGWARD_EXIT_USAGE, "-d: %s", err);
			out->notify_fd = (int)fd;
			break;
		}
		case 'v':
			out->verbose = 1;
			log_set_debug(1);
			break;
		case 'V':
			printf("%s %s\n", log_progname(), PGWARD_VERSION);
			exit(0);
		case 'h':
			usage_exit(usage, 0);
			break;
		case '?':
			log_error("unknown option -%c", optopt);
			usage_exit(usage, PGWARD_EXIT_USAGE);
			break;
		case ':':
			log_error("option -%c needs a value", optopt);
			usage_exit(usage, PGWARD_EXIT_USAGE);
			break;
		default:
			if (extra == NULL || extra(c, optarg, ctx) != 0)
				usage_exit(usage, PGWARD_EXIT_USAGE);
		}
	}
	out->optind = optind;
}

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		daemon_stop = 1;
		break;
	case SIGHUP:
		daemon_reload = 1;
		break;
	case SIGCHLD:
		daemon_child_exited = 1;
		break;
	}
}

void
daemon_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int
daemon_listen_unix(const char *listen_unix, const char *config_path,
    int fds[DAEMON_MAX_LISTEN], int *activated)
{
	int nfds = sock_activation_count();
	if (nfds > DAEMON_MAX_LISTEN)
		log_fatal(PGWARD_EXIT_USAGE, "%d activated sockets, at most %d", nfds,
		    DAEMON_MAX_LISTEN);
	*activated = nfds > 0;
	for (int i = 0; i < nfds; i++)
		fds[i] = 3 + i;
	if (nfds > 0)
		return nfds;
	char err[512];
	if (listen_unix == NULL)
		log_fatal(PGWARD_EXIT_USAGE, "%s: listen-unix is required without socket activation",
		    config_path);
	if ((fds[0] = sock_listen_unix(listen_unix, 0660, err, sizeof err)) < 0)
		log_fatal(PGWARD_EXIT_TEMP, "%s", err);
	return 1;
}
