#include "replay/show.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "replay/scan.h"
#include "replay/table.h"
#include "replay/who.h"

#define SHOW_USAGE \
	"usage: pgward-replay show [-d DIR] [--json] SESSION [DIR]\n"

int
show_collect(const char *dir, const char *session, struct cli_lines *out,
    char **id, char *err, size_t errlen)
{
	char needle[300];
	int nl = snprintf(needle, sizeof needle, ",\"session\":\"%s", session);
	if (nl < 0 || (size_t)nl >= sizeof needle || session[0] == '\0' ||
	    strpbrk(session, "\"\\") != NULL) {
		snprintf(err, errlen, "not a session id: %s", session);
		return PGWARD_EXIT_USAGE;
	}
	struct scan s;
	if (scan_open(&s, dir, err, errlen) != 0)
		return PGWARD_EXIT_USAGE;
	*id = NULL;
	size_t idlen = 0;
	int ended = 0, rc = 0;
	const char *p;
	size_t n;
	while (!ended && (rc = scan_next(&s, &p, &n, err, errlen)) == 1) {
		const char *at = p, *e = p + n;
		while (at < e) {
			const char *f = memmem(at, (size_t)(e - at), needle, (size_t)nl);
			if (f == NULL)
				break;
			const char *line;
			size_t len;
			scan_line_at(p, n, f, &line, &len);
			const char *v = f + 12;
			const char *q = memchr(v, '"', (size_t)(line + len - v));
			if (q != NULL) {
				size_t vl = (size_t)(q - v);
				if (*id == NULL) {
					*id = strndup(v, vl);
					idlen = vl;
				} else if (vl != idlen || memcmp(*id, v, vl) != 0) {
					snprintf(err, errlen, "%s is a prefix of more than "
					    "one session (%s, %.*s)", session, *id, (int)vl, v);
					scan_close(&s);
					return PGWARD_EXIT_USAGE;
				}
				if (cli_keep(out, line, len) != 0) {
					snprintf(err, errlen, "out of memory");
					scan_close(&s);
					return PGWARD_EXIT_TEMP;
				}
				struct rec_span t = rec_type(line, len);
				/* A whole id: nothing after session_end. A prefix
				 * reads on, to see that it is unique. */
				if (t.n == 11 && memcmp(t.p, "session_end", 11) == 0 &&
				    strlen(session) == vl)
					ended = 1;
			}
			at = line + len + 1;
		}
	}
	scan_close(&s);
	if (!ended && rc < 0)
		return PGWARD_EXIT_TEMP;
	if (*id == NULL) {
		snprintf(err, errlen, "no session %s", session);
		return 1;
	}
	return 0;
}

static void
show_fmt_ms(double ms, char *out, size_t n)
{
	if (ms < 10)
		snprintf(out, n, "%.3f ms", ms);
	else if (ms < 10000)
		snprintf(out, n, "%.1f ms", ms);
	else
		snprintf(out, n, "%.1f s", ms / 1000);
}

/* Prints the SQL indented, line by line. */
static void
show_sql(const char *sql, size_t len, int binary)
{
	if (binary) {
		printf("    (not UTF-8, %zu bytes)\n", len);
		return;
	}
	const char *p = sql, *e = sql + len;
	while (p <= e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(e - p);
		printf("    %.*s\n", (int)l, p);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

static void
show_text(const struct cli_lines *l)
{
	/* Results by the seq of their intent. */
	for (size_t i = 0; i < l->n; i++) {
		struct rec r;
		if (rec_split(&r, l->line[i], l->len[i]) != 0)
			continue;
		if (rec_eq(&r, "type", "session_start")) {
			char *user = rec_str(&r, "user", NULL), *client = rec_str(&r, "client", NULL);
			char *conn = rec_str(&r, "connection", NULL), *role = rec_str(&r, "role", NULL);
			char *tls = rec_str(&r, "tls", NULL), *id = rec_str(&r, "session", NULL);
			const struct rec_span *g = rec_get(&r, "groups");
			printf("session %s\n  user %s %.*s from %s (%s)\n", id ? id : "?",
			    user ? user : "?", g ? (int)g->n : 0, g ? g->p : "",
			    client ? client : "?", tls ? tls : "?");
			char *who = who_named(&r) ? who_text(&r) : NULL;
			if (who != NULL)
				printf("  who %s\n", who);
			free(who);
			printf("  connection %s as role %s\n  started %.27s (seq %llu)\n",
			    conn ? conn : "?", role ? role : "?", r.ts, (unsigned long long)r.seq);
			free(user); free(client); free(conn); free(role); free(tls); free(id);
		} else if (rec_eq(&r, "type", "intent")) {
			long long num = 0;
			rec_int(&r, "n", &num);
			char *dec = rec_str(&r, "decision", NULL), *rule = rec_str(&r, "rule", NULL);
			char *proto = rec_str(&r, "protocol", NULL);
			printf("\n#%lld  %.15s  seq %llu  %s%s%s%s  %s\n", num, r.ts + 11,
			    (unsigned long long)r.seq, dec ? dec : "?", rule ? " (rule " : "",
			    rule ? rule : "", rule ? ")" : "", proto ? proto : "");
			free(dec); free(rule); free(proto);
			size_t sl;
			int bin;
			char *sql = rec_sql(&r, &sl, &bin);
			if (sql != NULL)
				show_sql(sql, sl, bin);
			else if (rec_get(&r, "function_oid") != NULL)
				printf("    (function call, oid %.*s)\n",
				    (int)rec_get(&r, "function_oid")->n, rec_get(&r, "function_oid")->p);
			free(sql);
			const struct rec_span *pa = rec_get(&r, "params");
			if (pa != NULL)
				printf("    params: %.*s\n", (int)pa->n, pa->p);
			/* Its result, later in the session. */
			char want[32];
			snprintf(want, sizeof want, "%llu", (unsigned long long)r.seq);
			int found = 0;
			for (size_t j = i + 1; j < l->n && !found; j++) {
				struct rec x;
				const struct rec_span *iv;
				if (rec_split(&x, l->line[j], l->len[j]) != 0 ||
				    !rec_eq(&x, "type", "result") ||
				    (iv = rec_get(&x, "intent")) == NULL ||
				    iv->n != strlen(want) || memcmp(iv->p, want, iv->n) != 0)
					continue;
				found = 1;
				char *st = rec_str(&x, "status", NULL);
				double ms = 0;
				char dur[32] = "?";
				if (rec_num(&x, "duration_ms", &ms) == 0)
					show_fmt_ms(ms, dur, sizeof dur);
				const struct rec_span *tags = rec_get(&x, "tags");
				long long rows;
				printf("    -> %s  %.*s", st ? st : "?", tags ? (int)tags->n : 0,
				    tags ? tags->p : "");
				if (rec_int(&x, "rows", &rows) == 0)
					printf("  rows %lld", rows);
				printf("  %s  (seq %llu)\n", dur, (unsigned long long)x.seq);
				char *ss = rec_str(&x, "sqlstate", NULL), *msg = rec_str(&x, "message", NULL);
				if (ss != NULL || msg != NULL)
					printf("    error %s: %s\n", ss ? ss : "?", msg ? msg : "");
				const struct rec_span *rd = rec_get(&x, "recorded");
				json_t *sets = rd ? json_loadb(rd->p, rd->n, 0, NULL) : NULL;
				if (sets != NULL) {
					fflush(stdout);
					table_print(stdout, sets, "      ");
				}
				json_decref(sets);
				free(st); free(ss); free(msg);
			}
			if (!found)
				printf("    -> no result recorded\n");
		} else if (rec_eq(&r, "type", "session_end")) {
			char *reason = rec_str(&r, "reason", NULL);
			long long n = 0;
			rec_int(&r, "statements", &n);
			printf("\nended %.27s (seq %llu): %s, %lld statements\n", r.ts,
			    (unsigned long long)r.seq, reason ? reason : "?", n);
			free(reason);
		} else if (!rec_eq(&r, "type", "result")) {
			printf("\n%.27s  seq %llu  %.*s\n", r.ts, (unsigned long long)r.seq,
			    (int)l->len[i], l->line[i]);
		}
	}
}

/* {"session":..., "start":{...}, "end":{...}|null, "statements":[intent +
 * "result"], "other":[...]} */
static int
show_json(const struct cli_lines *l, const char *id)
{
	json_t *o = json_pack("{s:s, s:n, s:n, s:[], s:[]}", "session", id, "start",
	    "end", "statements", "other");
	json_t *stmts = json_object_get(o, "statements"), *other = json_object_get(o, "other");
	for (size_t i = 0; i < l->n; i++) {
		json_t *j = cli_json(l->line[i], l->len[i]);
		if (j == NULL)
			continue;
		const char *t = json_string_value(json_object_get(j, "type"));
		t = t ? t : "";
		if (strcmp(t, "session_start") == 0) {
			json_object_set_new(o, "start", j);
		} else if (strcmp(t, "session_end") == 0) {
			json_object_set_new(o, "end", j);
		} else if (strcmp(t, "intent") == 0) {
			json_object_set_new(j, "result", json_null());
			json_array_append_new(stmts, j);
		} else if (strcmp(t, "result") == 0) {
			json_int_t want = json_integer_value(json_object_get(j, "intent"));
			size_t k;
			json_t *st;
			int put = 0;
			json_array_foreach(stmts, k, st) {
				if (json_integer_value(json_object_get(st, "seq")) == want) {
					json_object_set_new(st, "result", j);
					put = 1;
					break;
				}
			}
			if (!put)
				json_array_append_new(other, j);
		} else {
			json_array_append_new(other, j);
		}
	}
	int rc = json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return rc == 0 && putchar('\n') != EOF ? 0 : -1;
}

int
show_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, CLI_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli c;
	cli_init(&c);
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(SHOW_USAGE, stdout);
			return 0;
		}
		if (cli_option(&c, opt, optarg) <= 0) {
			fputs(SHOW_USAGE, stderr);
			return PGWARD_EXIT_USAGE;
		}
	}
	if (argc - optind < 1 || cli_operands(&c, argc, argv, optind + 1) != 0) {
		log_error("show: a session id is required");
		fputs(SHOW_USAGE, stderr);
		return PGWARD_EXIT_USAGE;
	}
	struct cli_lines l = { 0 };
	char err[512], *id = NULL;
	int rc = show_collect(c.dir, argv[optind], &l, &id, err, sizeof err);
	if (rc == 1) {
		log_error("show: %s", err);
		return 1;
	}
	if (rc != 0)
		log_fatal(rc, "show: %s", err);
	if (c.json) {
		if (show_json(&l, id) != 0)
			log_fatal(PGWARD_EXIT_TEMP, "stdout: write error");
	} else {
		show_text(&l);
	}
	free(id);
	cli_lines_free(&l);
	if (fflush(stdout) != 0)
		log_fatal(PGWARD_EXIT_TEMP, "stdout: write error");
	return 0;
}
