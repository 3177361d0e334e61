#ifndef PGWARD_DAEMON_H
#define PGWARD_DAEMON_H

/* The skeleton every pgward daemon shares: options, signals, readiness.
 *
 *   -c FILE   configuration file
 *   -n        check the configuration and exit (0 valid, 100 invalid)
 *   -d FD     s6 readiness: write a newline to FD when ready
 *   -v        debug diagnostics
 *   -V        print the version and exit
 *   -h        usage
 */

#include <signal.h>

#define PGWARD_VERSION "0.1.0"

struct daemon_opts {
	const char *config;
	int check_only;
	int notify_fd;
	int verbose;
	/* index of the first operand in argv after the options */
	int optind;
};

/* Parses the common options; extra_opts (getopt letters, may be NULL) are
 * handed to extra(c, optarg, ctx), which returns 0 or -1 for bad usage.
 * Exits 100 with the usage on error, 0 after -h/-V. */
void daemon_parse_opts(int argc, char **argv, const char *usage,
    const char *extra_opts, int (*extra)(int c, const char *arg, void *ctx),
    void *ctx, struct daemon_opts *out);

extern volatile sig_atomic_t daemon_stop;
extern volatile sig_atomic_t daemon_reload;
extern volatile sig_atomic_t daemon_child_exited;

#define DAEMON_MAX_LISTEN 16

/* The listening sockets of a Unix-socket daemon: those passed by systemd
 * socket activation, else one bound at listen_unix (mode 0660). Exits 100
 * when there is neither, 111 when binding fails. Returns how many fds were
 * put in fds; *activated tells whether they came from systemd. */
int daemon_listen_unix(const char *listen_unix, const char *config_path,
    int fds[DAEMON_MAX_LISTEN], int *activated);

/* SIGTERM/SIGINT set daemon_stop, SIGHUP sets daemon_reload, SIGCHLD sets
 * daemon_child_exited, SIGPIPE is ignored. No SA_RESTART, so blocking calls
 * return EINTR and loops notice. */
void daemon_signals(void);

#endif
