#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "filter/cli.h"
#include "filter/facts.h"
#include "filter/service.h"
#include "ipc.h"
#include "log.h"
#include "ready.h"
#include "sandbox.h"
#include "sock.h"

#define DEFAULT_CONFIG "/etc/pgward/filter.conf"
#define DEFAULT_SOCKET "/run/pgward/filter.sock"

#define USAGE \
	"usage: pgward-filter -c FILE [-d FD] [-v]        serve on a Unix socket\n" \
	"       pgward-filter -c FILE -n                  check config and policy\n" \
	"       pgward-filter [-c FILE | -p POLICY] check [--expect]\n" \
	"                                                 decide statements from stdin\n" \
	"       pgward-filter [-c FILE] [-s SOCKET] [-t TOKENFILE] review list|show ID|approve ID|deny ID\n" \
	"       pgward-filter [-c FILE] [-s SOCKET] [-t TOKENFILE] access request CONNECTION ROLE SECONDS REASON\n" \
	"       pgward-filter [-c FILE] [-s SOCKET] [-t TOKENFILE] access grant ID|deny ID|list\n"

struct extra {
	const char *socket;
	const char *token_file;
	const char *policy;
};

static int on_option(int c, const char *arg, void *ctx);
static int run_check(const struct daemon_opts *o, const struct extra *x, int argc,
    char **argv);
static int run_client(const struct daemon_opts *o, const struct extra *x, int argc,
    char **argv);
static int serve(struct filter_service *s, int notify_fd);
static json_t *on_request(void *ctx, const struct ipc_peer *peer, json_t *req);
static void on_tick(void *ctx);
static void on_reload(void *ctx);
static size_t on_max_line(void *ctx);
static void facts_free(struct facts_result *r);

int
main(int argc, char **argv)
{
	struct daemon_opts o;
	struct extra x = { NULL, NULL, NULL };
	log_init("pgward-filter");
	daemon_parse_opts(argc, argv, USAGE, "s:t:p:", on_option, &x, &o);
	if (o.optind < argc && strcmp(argv[o.optind], "check") == 0)
		return run_check(&o, &x, argc - o.optind - 1, argv + o.optind + 1);
	if (o.optind < argc && (strcmp(argv[o.optind], "review") == 0 ||
	    strcmp(argv[o.optind], "access") == 0))
		return run_client(&o, &x, argc - o.optind, argv + o.optind);
	if (o.config == NULL || o.optind != argc) {
		if (o.config == NULL)
			log_error("-c FILE is required");
		else
			log_error("unexpected operand %s", argv[o.optind]);
		fputs(USAGE, stderr);
		return PGWARD_EXIT_USAGE;
	}
	char err[1024];
	if (o.check_only) {
		struct filter_config_result c;
		struct rules_result p;
		int rc = filter_service_check(o.config, &c, &p, err, sizeof err);
		if (rc == 0)
			log_debug("%s: %zu rules, %zu connect lines, %zu access lines",
			    p.policy->path, p.policy->nrules, p.policy->nconnects,
			    p.policy->naccess);
		filter_config_result_free(c);
		rules_result_free(p);
		if (rc != 0)
			log_fatal(rc, "%s", err);
		return 0;
	}
	struct filter_service s;
	int rc = filter_service_open(&s, o.config, facts_of_sql, facts_free, err,
	    sizeof err);
	if (rc != 0)
		log_fatal(rc, "%s", err);
	rc = serve(&s, o.notify_fd);
	filter_service_close(&s);
	return rc;
}

static int
on_option(int c, const char *arg, void *ctx)
{
	struct extra *x = ctx;
	if (c == 's')
		x->socket = arg;
	else if (c == 't')
		x->token_file = arg;
	else if (c == 'p')
		x->policy = arg;
	else
		return -1;
	return 0;
}

static void
facts_free(struct facts_result *r)
{
	facts_result_free(r);
}

static int
run_check(const struct daemon_opts *o, const struct extra *x, int argc,
    char **argv)
{
	int expect = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--expect") != 0) {
			log_error("unexpected operand %s", argv[i]);
			fputs(USAGE, stderr);
			return PGWARD_EXIT_USAGE;
		}
		expect = 1;
	}
	struct rules_result p;
	char err[1024];
	if (x->policy != NULL) {
		p = rules_load(x->policy, 300);
	} else {
		struct filter_config_result c;
		int rc = filter_service_check(o->config != NULL ? o->config :
		    DEFAULT_CONFIG, &c, &p, err, sizeof err);
		filter_config_result_free(c);
		if (rc != 0) {
			rules_result_free(p);
			log_fatal(rc, "%s", err);
		}
	}
	if (p.error != NULL)
		log_fatal(PGWARD_EXIT_USAGE, "%s", p.error);
	int rc = cli_check(p.policy, facts_of_sql, facts_free, stdin, stdout, expect);
	rules_result_free(p);
	return rc;
}

static int
run_client(const struct daemon_opts *o, const struct extra *x, int argc,
    char **argv)
{
	char *token = NULL;
	if (x->token_file != NULL) {
		FILE *f = fopen(x->token_file, "r");
		size_t cap = 0;
		if (f == NULL || getline(&token, &cap, f) < 0)
			log_fatal(PGWARD_EXIT_USAGE, "unable to read a token from %s: %s",
			    x->token_file, f == NULL ? strerror(errno) : "empty file");
		fclose(f);
	} else if (getenv("PGWARD_TOKEN") != NULL) {
		token = strdup(getenv("PGWARD_TOKEN"));
	}
	if (token == NULL || *token == '\0')
		log_fatal(PGWARD_EXIT_USAGE, "no token: set PGWARD_TOKEN or use -t FILE");
	token[strcspn(token, " \t\r\n")] = '\0';
	const char *socket = x->socket;
	struct filter_config_result c = { NULL, NULL };
	if (socket == NULL && o->config != NULL) {
		c = filter_config_load(o->config);
		if (c.error != NULL)
			log_fatal(PGWARD_EXIT_USAGE, "%s", c.error);
		socket = c.config->listen_unix;
	}
	if (socket == NULL)
		socket = DEFAULT_SOCKET;
	int rc = cli_client(socket, token, argc, argv, stdout);
	explicit_bzero(token, strlen(token));
	free(token);
	filter_config_result_free(c);
	return rc;
}

static int
serve(struct filter_service *s, int notify_fd)
{
	int fds[DAEMON_MAX_LISTEN];
	int activated;
	int nfds = daemon_listen_unix(s->config.config->listen_unix, s->config_path, fds,
	    &activated);
	struct sandbox sb;
	sandbox_init(&sb);
	sb.no_tcp = 1;
	sandbox_allow_dir_of(&sb, s->config_path, SANDBOX_READ);
	sandbox_allow_dir_of(&sb, s->config.config->policy, SANDBOX_READ);
	sandbox_allow(&sb, s->config.config->state_dir, SANDBOX_WRITE);
	if (activated == 0)
		sandbox_allow_dir_of(&sb, s->config.config->listen_unix, SANDBOX_SOCKDIR);
	sandbox_enter(&sb);
	daemon_signals();
	ready_notify(notify_fd);
	log_debug("serving %d sockets, policy generation %llu", nfds, s->generation);
	struct ipc_server_ops ops = {
		.handle = on_request,
		.tick = on_tick,
		.reload = on_reload,
		.tick_ms = 1000,
		.max_line = on_max_line,
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
	return filter_service_handle(ctx, req);
}

static void
on_tick(void *ctx)
{
	filter_service_tick(ctx);
}

/* A decide request for any statement up to max-statement-bytes fits. */
static size_t
on_max_line(void *ctx)
{
	const struct filter_service *s = ctx;
	return ipc_line_limit((size_t)s->config.config->max_statement_bytes);
}

static void
on_reload(void *ctx)
{
	ready_sd_notify("RELOADING=1");
	filter_service_reload(ctx);
	ready_sd_notify("READY=1");
}
