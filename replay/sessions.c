#include "replay/sessions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "replay/cli.h"
#include "replay/facts.h"
#include "replay/scan.h"
#include "strmap.h"

#define SESSIONS_USAGE \
	"usage: pgward-replay sessions [-d DIR] [--since TIME] [--until TIME] [--at TIME]\n" \
	"                              [--user U] [--group G] [--connection C] [--role R]\n" \
	"                              [--session ID] [--actor GLOB] [--principal person|agent]\n" \
	"                              [--limit N] [--json] [DIR]\n"

struct session {
	char *id, *user, *client, *connection, *role;
	char *principal, *client_id;	/* NULL: not in the record */
	char *via;		/* the actor chain as facts_actors joins it */
	json_t *actor;
	char start[REC_TS_LEN + 1], end[REC_TS_LEN + 1];
	char *reason;
	json_t *groups;
	uint64_t seq;
	uint64_t statements, denials;
};

struct sessions_ctx {
	const struct cli *c;
	struct strmap map;	/* id -> struct session */
	struct session **list;
	size_t n, cap;
};

static void
sessions_free_one(void *v)
{
	struct session *s = v;
	free(s->id);
	free(s->user);
	free(s->client);
	free(s->connection);
	free(s->role);
	free(s->reason);
	free(s->principal);
	free(s->client_id);
	free(s->via);
	json_decref(s->actor);
	json_decref(s->groups);
	free(s);
}

/* The session id of a line as a NUL-terminated copy in buf. */
static int
sessions_id(const char *line, size_t len, char *buf, size_t buflen)
{
	const char *k = memmem(line, len, ",\"session\":\"", 12);
	if (k == NULL)
		return -1;
	const char *p = k + 12;
	const char *q = memchr(p, '"', (size_t)(line + len - p));
	if (q == NULL || (size_t)(q - p) >= buflen)
		return -1;
	memcpy(buf, p, (size_t)(q - p));
	buf[q - p] = '\0';
	return 0;
}

static int
sessions_line(void *vctx, const char *line, size_t len)
{
	struct sessions_ctx *x = vctx;
	struct rec_span t = rec_type(line, len);
	char id[256];
	if (t.n == 13 && memcmp(t.p, "session_start", 13) == 0) {
		struct rec r;
		if (rec_split(&r, line, len) != 0 || !cli_match_identity(x->c, &r))
			return 0;
		if (x->c->until[0] != '\0' && memcmp(r.ts, x->c->until, REC_TS_LEN) > 0)
			return 0;
		struct session *s = calloc(1, sizeof *s);
		if (s == NULL)
			return -1;
		s->id = rec_str(&r, "session", NULL);
		s->user = rec_str(&r, "user", NULL);
		s->client = rec_str(&r, "client", NULL);
		s->connection = rec_str(&r, "connection", NULL);
		s->role = rec_str(&r, "role", NULL);
		const struct rec_span *g = rec_get(&r, "groups");
		s->groups = g != NULL ? json_loadb(g->p, g->n, JSON_DECODE_ANY, NULL) : NULL;
		s->principal = rec_str(&r, "principal", NULL);
		s->client_id = rec_str(&r, "client_id", NULL);
		const struct rec_span *a = rec_get(&r, "actor");
		if (a != NULL) {
			s->actor = json_loadb(a->p, a->n, JSON_DECODE_ANY, NULL);
			if ((s->via = malloc(FACTS_GROUPS_ROOM(a->n))) != NULL)
				facts_actors(a, s->via);
		}
		memcpy(s->start, r.ts, REC_TS_LEN);
		s->seq = r.seq;
		if (s->id == NULL || (x->c->session != NULL &&
		    strncmp(s->id, x->c->session, strlen(x->c->session)) != 0)) {
			sessions_free_one(s);
			return 0;
		}
		if (x->n == x->cap) {
			size_t cap = x->cap ? 2 * x->cap : 64;
			struct session **l = realloc(x->list, cap * sizeof *l);
			if (l == NULL) {
				sessions_free_one(s);
				return -1;
			}
			x->list = l;
			x->cap = cap;
		}
		x->list[x->n++] = s;
		return strmap_put(&x->map, s->id, s);
	}
	if (t.n == 6 && memcmp(t.p, "intent", 6) == 0) {
		if (x->map.count == 0 || sessions_id(line, len, id, sizeof id) != 0)
			return 0;
		struct session *s = strmap_get(&x->map, id);
		if (s == NULL)
			return 0;
		s->statements++;
		if (memmem(line, len, ",\"decision\":\"deny\"", 18) != NULL)
			s->denials++;
		return 0;
	}
	if (t.n == 11 && memcmp(t.p, "session_end", 11) == 0) {
		if (x->map.count == 0 || sessions_id(line, len, id, sizeof id) != 0)
			return 0;
		struct session *s = strmap_get(&x->map, id);
		if (s == NULL)
			return 0;
		struct rec r;
		if (rec_split(&r, line, len) != 0)
			return 0;
		memcpy(s->end, r.ts, REC_TS_LEN);
		free(s->reason);
		s->reason = rec_str(&r, "reason", NULL);
		long long n;
		if (rec_int(&r, "statements", &n) == 0 && n >= 0 &&
		    (uint64_t)n > s->statements)
			s->statements = (uint64_t)n;
	}
	return 0;
}

static int
sessions_print(const struct cli *c, const struct session *s)
{
	if (c->json) {
		json_t *j = json_pack("{s:s, s:I, s:s?, s:s*, s:O*, s:s*, s:O?, s:s?, s:s?, "
		    "s:s?, s:s, s:s?, s:s?, s:I, s:I}",
		    "session", s->id, "seq", (json_int_t)s->seq, "user", s->user,
		    "principal", s->principal, "actor", s->actor, "client_id", s->client_id,
		    "groups", s->groups, "client", s->client, "connection", s->connection,
		    "role", s->role, "start", s->start, "end", s->end[0] ? s->end : NULL,
		    "reason", s->reason, "statements", (json_int_t)s->statements,
		    "denials", (json_int_t)s->denials);
		if (j == NULL)
			return -1;
		int rc = json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(j);
		return rc == 0 && putchar('\n') != EOF ? 0 : -1;
	}
	const char *via = s->via != NULL && s->via[0] != '\0' ? s->via :
	    s->principal != NULL && strcmp(s->principal, "agent") == 0 ? "(agent)" : "-";
	return printf("%s  %-12s %-20s %-21s %s  %-27s %5llu %5llu\n", s->id,
	    s->user ? s->user : "?", via, s->client ? s->client : "?", s->start,
	    s->end[0] ? s->end : "-", (unsigned long long)s->statements,
	    (unsigned long long)s->denials) < 0 ? -1 : 0;
}

int
sessions_main(int argc, char **argv)
{
	static const struct option longopts[] = { CLI_FILTER_OPTIONS, { NULL, 0, NULL, 0 } };
	struct cli c;
	cli_init(&c);
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(SESSIONS_USAGE, stdout);
			return 0;
		}
		int rc = cli_option(&c, opt, optarg);
		if (rc <= 0) {
			fputs(SESSIONS_USAGE, stderr);
			return PGWARD_EXIT_USAGE;
		}
	}
	if (cli_operands(&c, argc, argv, optind) != 0) {
		fputs(SESSIONS_USAGE, stderr);
		return PGWARD_EXIT_USAGE;
	}
	struct sessions_ctx x = { .c = &c };
	struct scan s;
	char err[512];
	if (strmap_init(&x.map, NULL) != 0)
		log_fatal(PGWARD_EXIT_TEMP, "out of memory");
	if (scan_open(&s, c.dir, err, sizeof err) != 0)
		log_fatal(PGWARD_EXIT_USAGE, "sessions: %s", err);
	const char *p;
	size_t n;
	int rc;
	while ((rc = scan_next(&s, &p, &n, err, sizeof err)) == 1)
		if (scan_lines(p, n, sessions_line, &x) != 0)
			log_fatal(PGWARD_EXIT_TEMP, "sessions: out of memory");
	if (rc < 0)
		log_fatal(PGWARD_EXIT_TEMP, "sessions: %s", err);
	scan_close(&s);
	if (!c.json && x.n > 0)
		printf("%-32s  %-12s %-20s %-21s %-27s  %-27s %5s %5s\n", "SESSION", "USER",
		    "ACTOR", "CLIENT", "START", "END", "STMTS", "DENY");
	uint64_t shown = 0;
	for (size_t i = 0; i < x.n; i++) {
		struct session *se = x.list[i];
		/* In the window: started before --until (checked above) and
		 * not ended before --since. */
		if (c.since[0] != '\0' && se->end[0] != '\0' &&
		    strcmp(se->end, c.since) < 0)
			continue;
		if (c.limit != 0 && shown >= c.limit)
			break;
		if (sessions_print(&c, se) != 0)
			log_fatal(PGWARD_EXIT_TEMP, "stdout: write error");
		shown++;
	}
	for (size_t i = 0; i < x.n; i++)
		sessions_free_one(x.list[i]);
	free(x.list);
	strmap_free(&x.map);
	if (fflush(stdout) != 0)
		log_fatal(PGWARD_EXIT_TEMP, "stdout: write error");
	return shown > 0 ? 0 : 1;
}
