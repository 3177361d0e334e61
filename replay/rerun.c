#include "replay/rerun.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "replay/show.h"
#include "replay/when.h"

#define RERUN_USAGE \
	"usage: pgward-replay run [-d DIR] --target CONNINFO [--pace] [--json] SESSION [DIR]\n"

enum { RR_TARGET = CLI_NEXT, RR_PACE };

struct outcome {
	int ok;
	long long rows;		/* -1: none */
	char sqlstate[6];
	char message[256];
};

/* Runs one statement; the outcome as the relay would record it: the sum
 * of the rows of its results, the first error. */
static void
rerun_exec(PGconn *pg, const char *sql, int nparams, const char *const *params,
    struct outcome *o)
{
	memset(o, 0, sizeof *o);
	o->ok = 1;
	o->rows = -1;
	int sent = nparams > 0 || params != NULL ?
	    PQsendQueryParams(pg, sql, nparams, NULL, params, NULL, NULL, 0) :
	    PQsendQuery(pg, sql);
	if (!sent) {
		o->ok = 0;
		snprintf(o->sqlstate, sizeof o->sqlstate, "08006");
		snprintf(o->message, sizeof o->message, "%s", PQerrorMessage(pg));
		return;
	}
	PGresult *r;
	while ((r = PQgetResult(pg)) != NULL) {
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_FATAL_ERROR) {
			if (o->ok) {
				const char *ss = PQresultErrorField(r, PG_DIAG_SQLSTATE);
				const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
				snprintf(o->sqlstate, sizeof o->sqlstate, "%s", ss ? ss : "");
				snprintf(o->message, sizeof o->message, "%s", m ? m : "");
			}
			o->ok = 0;
		} else {
			const char *t = PQcmdTuples(r);
			long long n = st == PGRES_TUPLES_OK ? PQntuples(r) :
			    (t && *t ? atoll(t) : -1);
			if (n >= 0)
				o->rows = (o->rows < 0 ? 0 : o->rows) + n;
		}
		PQclear(r);
	}
}

static void
rerun_sleep_until(const char *prev_ts, const char *ts)
{
	int64_t a = when_ms(prev_ts), b = when_ms(ts);
	if (a < 0 || b <= a)
		return;
	int64_t ms = b - a;
	struct timespec t = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	nanosleep(&t, NULL);
}

int
rerun_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "target", required_argument, NULL, RR_TARGET },
		{ "pace", no_argument, NULL, RR_PACE },
		{ "json", no_argument, NULL, CLI_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli c;
	cli_init(&c);
	const char *target = NULL;
	int pace = 0, opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "d:t:h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(RERUN_USAGE, stdout);
			return 0;
		}
		if (opt == RR_TARGET || opt == 't')
			target = optarg;
		else if (opt == RR_PACE)
			pace = 1;
		else if (cli_option(&c, opt, optarg) <= 0) {
			fputs(RERUN_USAGE, stderr);
			return PGWARD_EXIT_USAGE;
		}
	}
	if (target == NULL || argc - optind < 1 ||
	    cli_operands(&c, argc, argv, optind + 1) != 0) {
		log_error("run: --target CONNINFO and SESSION are required");
		fputs(RERUN_USAGE, stderr);
		return PGWARD_EXIT_USAGE;
	}
	struct cli_lines l = { 0 };
	char err[512], *id = NULL;
	int rc = show_collect(c.dir, argv[optind], &l, &id, err, sizeof err);
	if (rc != 0)
		log_fatal(rc, "run: %s", err);
	/* The replayed session is stamped like the relay stamps the real
	 * one (the target's conninfo may override it with its own options). */
	char *user = NULL;
	for (size_t i = 0; i < l.n && user == NULL; i++) {
		struct rec r;
		if (rec_split(&r, l.line[i], l.len[i]) == 0)
			user = rec_str(&r, "user", NULL);
	}
	char options[512];
	snprintf(options, sizeof options, "-c pgward.session=%s -c pgward.user=%s "
	    "-c application_name=pgward-replay", id,
	    user != NULL && strspn(user, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._-") == strlen(user) ? user : "unknown");
	free(user);
	const char *const keys[] = { "options", "dbname", NULL };
	const char *const vals[] = { options, target, NULL };
	PGconn *pg = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(pg) != CONNECTION_OK) {
		char m[512];
		snprintf(m, sizeof m, "%s", PQerrorMessage(pg));
		m[strcspn(m, "\n")] = '\0';
		PQfinish(pg);
		log_fatal(PGWARD_EXIT_TEMP, "run: cannot connect to the target: %s", m);
	}
	unsigned long long same = 0, differ = 0, skipped = 0;
	const char *prev_ts = NULL;
	for (size_t i = 0; i < l.n; i++) {
		struct rec r;
		if (rec_split(&r, l.line[i], l.len[i]) != 0 || !rec_eq(&r, "type", "intent"))
			continue;
		long long num = 0;
		rec_int(&r, "n", &num);
		/* The recorded outcome. */
		struct outcome want = { .ok = 1, .rows = -1 };
		int have_result = 0;
		char seqs[32];
		snprintf(seqs, sizeof seqs, "%llu", (unsigned long long)r.seq);
		for (size_t j = i + 1; j < l.n && !have_result; j++) {
			struct rec x;
			const struct rec_span *iv;
			if (rec_split(&x, l.line[j], l.len[j]) != 0 || !rec_eq(&x, "type", "result") ||
			    (iv = rec_get(&x, "intent")) == NULL || iv->n != strlen(seqs) ||
			    memcmp(iv->p, seqs, iv->n) != 0)
				continue;
			have_result = 1;
			want.ok = rec_eq(&x, "status", "ok");
			rec_int(&x, "rows", &want.rows);
			char *ss = rec_str(&x, "sqlstate", NULL);
			if (ss)
				snprintf(want.sqlstate, sizeof want.sqlstate, "%s", ss);
			free(ss);
		}
		size_t sl;
		int bin;
		char *sql = rec_sql(&r, &sl, &bin);
		const char *why = NULL;
		if (!rec_eq(&r, "decision", "allow"))
			why = "not allowed when recorded (the server never saw it)";
		else if (sql == NULL)
			why = "no SQL recorded (function call)";
		else if (rec_get(&r, "sql_sha256") != NULL)
			why = "the SQL was recorded cut short";
		else if (!have_result)
			why = "no result recorded";
		/* Parameters: text only. */
		json_t *params = NULL;
		const char **pv = NULL;
		size_t np = 0;
		const struct rec_span *ps = rec_get(&r, "params");
		if (why == NULL && ps != NULL) {
			params = json_loadb(ps->p, ps->n, JSON_DECODE_ANY, NULL);
			np = json_array_size(params);
			pv = calloc(np + 1, sizeof *pv);
			for (size_t k = 0; pv != NULL && k < np; k++) {
				json_t *v = json_array_get(params, k);
				if (json_is_string(v))
					pv[k] = json_string_value(v);
				else if (!json_is_null(v))
					why = "a parameter was not recorded as text";
			}
		}
		if (why == NULL && bin)
			why = NULL;	/* bytes: run as they were */
		if (pace && prev_ts != NULL)
			rerun_sleep_until(prev_ts, r.ts);
		prev_ts = l.line[i] + (r.ts - l.line[i]);
		char oneline[120];
		snprintf(oneline, sizeof oneline, "%.*s", sql ? (int)(sl < 100 ? sl : 100) : 0,
		    sql ? sql : "");
		for (char *q = oneline; *q; q++)
			if (*q == '\n' || *q == '\r' || *q == '\t')
				*q = ' ';
		if (why != NULL) {
			printf("#%lld seq %llu: skipped: %s: %s\n", num, (unsigned long long)r.seq,
			    why, oneline);
			skipped++;
		} else {
			struct outcome got;
			rerun_exec(pg, sql, (int)np, ps != NULL ? pv : NULL, &got);
			int diff = got.ok != want.ok ||
			    (!got.ok && strcmp(got.sqlstate, want.sqlstate) != 0) ||
			    (got.ok && want.rows >= 0 && got.rows != want.rows);
			if (diff) {
				differ++;
				printf("#%lld seq %llu: DIFFERS: recorded %s rows=%lld%s%s, now %s "
				    "rows=%lld%s%s%s%s: %s\n", num, (unsigned long long)r.seq,
				    want.ok ? "ok" : "error", want.rows, want.sqlstate[0] ?
				    " sqlstate=" : "", want.sqlstate, got.ok ? "ok" : "error",
				    got.rows, got.sqlstate[0] ? " sqlstate=" : "", got.sqlstate,
				    got.message[0] ? " " : "", got.message, oneline);
			} else {
				same++;
				printf("#%lld seq %llu: same: %s rows=%lld%s%s: %s\n", num,
				    (unsigned long long)r.seq, got.ok ? "ok" : "error", got.rows,
				    got.sqlstate[0] ? " sqlstate=" : "", got.sqlstate, oneline);
			}
		}
		free(pv);
		json_decref(params);
		free(sql);
	}
	PQfinish(pg);
	printf("run: session %s: %llu same, %llu differ, %llu skipped\n", id, same, differ,
	    skipped);
	free(id);
	cli_lines_free(&l);
	if (fflush(stdout) != 0)
		log_fatal(PGWARD_EXIT_TEMP, "stdout: write error");
	return differ > 0 ? 1 : 0;
}
