#include "replay/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "replay/who.h"

void
cli_init(struct cli *c)
{
	memset(c, 0, sizeof *c);
	c->dir = getenv("PGWARD_LOG_DIR");
	if (c->dir == NULL || c->dir[0] == '\0')
		c->dir = CLI_DEFAULT_DIR;
}

static int
cli_time(const char *opt, const char *arg, char out[WHEN_LEN])
{
	int minute_only;
	if (when_parse(arg, time(NULL), out, &minute_only) != 0) {
		log_error("--%s %s: not a time (RFC 3339, a date, or HH:MM[:SS] "
		    "today in UTC)", opt, arg);
		return -1;
	}
	return 1;
}

int
cli_option(struct cli *c, int opt, const char *arg)
{
	switch (opt) {
	case 'd': c->dir = arg; return 1;
	case CLI_USER: c->user = arg; return 1;
	case CLI_GROUP: c->group = arg; return 1;
	case CLI_ACTOR: c->actor = arg; return 1;
	case CLI_PRINCIPAL:
		if (strcmp(arg, "person") != 0 && strcmp(arg, "agent") != 0) {
			log_error("--principal %s: not person or agent", arg);
			return -1;
		}
		c->principal = arg;
		return 1;
	case CLI_CONNECTION: c->connection = arg; return 1;
	case CLI_ROLE: c->role = arg; return 1;
	case CLI_SESSION: c->session = arg; return 1;
	case CLI_TABLE: c->table = arg; return 1;
	case CLI_COMMAND: c->command = arg; return 1;
	case CLI_DECISION: c->decision = arg; return 1;
	case CLI_SQLSTATE: c->sqlstate = arg; return 1;
	case CLI_TEXT: c->text = arg; return 1;
	case CLI_STATUS: c->status = arg; return 1;
	case CLI_JSON: c->json = 1; return 1;
	case CLI_SINCE: return cli_time("since", arg, c->since);
	case CLI_UNTIL: {
		int minute_only;
		if (cli_time("until", arg, c->until) < 0)
			return -1;
		/* --until 03:12 includes the whole minute 03:12. */
		when_parse(arg, time(NULL), c->until, &minute_only);
		if (minute_only)
			memcpy(c->until + 17, "59.999999Z", 10);
		else if (strchr(arg, '.') == NULL)
			memcpy(c->until + 20, "999999Z", 7);
		return 1;
	}
	case CLI_AT:
		if (when_at(arg, time(NULL), c->since, c->until) != 0) {
			log_error("--at %s: not a time (HH:MM or RFC 3339)", arg);
			return -1;
		}
		return 1;
	case CLI_LIMIT: {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(arg, &end, 10);
		if (errno != 0 || *end != '\0' || end == arg) {
			log_error("--limit %s: not a number", arg);
			return -1;
		}
		c->limit = v;
		return 1;
	}
	default:
		return 0;
	}
}

int
cli_operands(struct cli *c, int argc, char **argv, int optind)
{
	if (argc - optind > 1) {
		log_error("at most one log directory operand");
		return -1;
	}
	if (argc - optind == 1)
		c->dir = argv[optind];
	return 0;
}

int
cli_match_identity(const struct cli *c, const struct rec *r)
{
	if (c->user != NULL && !rec_eq(r, "user", c->user))
		return 0;
	if (c->group != NULL && !rec_has(r, "groups", c->group))
		return 0;
	if (c->connection != NULL && !rec_eq(r, "connection", c->connection))
		return 0;
	if (c->role != NULL && !rec_eq(r, "role", c->role))
		return 0;
	if (c->principal != NULL && !who_match_principal(r, c->principal))
		return 0;
	if (c->actor != NULL && !who_match_actor(r, c->actor))
		return 0;
	return 1;
}

int
cli_match_time(const struct cli *c, const char *ts)
{
	if (c->since[0] != '\0' && memcmp(ts, c->since, REC_TS_LEN) < 0)
		return 0;
	if (c->until[0] != '\0' && memcmp(ts, c->until, REC_TS_LEN) > 0)
		return 0;
	return 1;
}

int
cli_write(const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

int
cli_keep(struct cli_lines *l, const char *line, size_t len)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **a = realloc(l->line, cap * sizeof *a);
		if (a == NULL)
			return -1;
		l->line = a;
		size_t *b = realloc(l->len, cap * sizeof *b);
		if (b == NULL)
			return -1;
		l->len = b;
		l->cap = cap;
	}
	char *c = malloc(len + 1);
	if (c == NULL)
		return -1;
	memcpy(c, line, len);
	c[len] = '\0';
	l->line[l->n] = c;
	l->len[l->n++] = len;
	return 0;
}

void
cli_lines_free(struct cli_lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->line[i]);
	free(l->line);
	free(l->len);
	memset(l, 0, sizeof *l);
}

json_t *
cli_json(const char *line, size_t len)
{
	return json_loadb(line, len, JSON_DECODE_ANY, NULL);
}
