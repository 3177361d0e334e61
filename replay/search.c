#include "replay/search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "replay/cli.h"
#include "replay/match.h"
#include "replay/scan.h"
#include "replay/who.h"

#define SEARCH_USAGE \
	"usage: pgward-replay search [-d DIR] [--user U] [--group G] [--connection C]\n" \
	"           [--role R] [--session ID] [--actor GLOB] [--principal person|agent]\n" \
	"           [--table T] [--command KEYWORD]\n" \
	"           [--decision allow|deny|review] [--sqlstate CODE] [--status S]\n" \
	"           [--text STRING] [--since TIME] [--until TIME] [--at HH:MM]\n" \
	"           [--limit N] [--json] [DIR]\n"

/* The cheapest test a line must pass to be worth splitting. */
struct needle {
	int ci;			/* case-insensitive (match_ci) */
	struct match_ci m;
	char *bytes;
	size_t n;
};

struct hit {
	uint64_t seq;		/* the intent's */
	size_t intent;		/* index into lines */
	ssize_t result;		/* index into lines, or -1 */
};

struct search {
	struct cli *c;
	struct needle nd;
	char *text_esc;		/* --text as it is escaped in the log */
	struct cli_lines lines;
	struct hit *hits;
	size_t nhits, cap;
	size_t pending;		/* hits still without their result */
	uint64_t first_pending;	/* the index of the first hit without a result */
	int done;		/* --until passed or --limit reached */
};

static const char *
needle_find(const struct needle *nd, const char *p, size_t n)
{
	return nd->ci ? match_ci_find(&nd->m, p, n) : memmem(p, n, nd->bytes, nd->n);
}

static int
needle_set(struct needle *nd, int ci, const char *fmt, const char *arg)
{
	int n = snprintf(NULL, 0, fmt, arg);
	nd->bytes = malloc((size_t)n + 1);
	if (nd->bytes == NULL)
		return -1;
	snprintf(nd->bytes, (size_t)n + 1, fmt, arg);
	nd->n = (size_t)n;
	nd->ci = ci;
	if (ci && match_ci_init(&nd->m, nd->bytes) != 0)
		nd->ci = 0;
	return 0;
}

/* A string as jansson escapes it in the log (without the quotes). */
static char *
search_escape(const char *s)
{
	json_t *j = json_string(s);
	char *d = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(j);
	if (d == NULL)
		return NULL;
	size_t n = strlen(d);
	memmove(d, d + 1, n - 2);
	d[n - 2] = '\0';
	return d;
}

/* The longest run of a glob's literal characters that the log spells as
 * they are (printable ASCII but '"' and a backslash), into out; its length. Sets
 * ([...]) and escapes end a run. */
static size_t
search_glob_literal(const char *g, char *out, size_t outlen)
{
	size_t best = 0, run = 0;
	const char *start = g;
	for (const char *p = g;; p++) {
		int lit = *p > 0x20 && *p < 0x7f && strchr("*?[\\\"", *p) == NULL;
		if (lit) {
			if (run++ == 0)
				start = p;
			continue;
		}
		if (run > best && run < outlen) {
			memcpy(out, start, run);
			out[run] = '\0';
			best = run;
		}
		run = 0;
		if (*p == '\0')
			break;
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '[') {
			const char *q = p + 1;
			if (*q == '!' || *q == '^')
				q++;
			if (*q == ']')
				q++;
			q = strchr(q, ']');
			if (q == NULL)
				break;
			p = q;
		}
	}
	return best;
}

static int
search_choose_needle(struct search *x)
{
	struct cli *c = x->c;
	if (c->session != NULL)
		return needle_set(&x->nd, 0, ",\"session\":\"%s", c->session);
	if (x->text_esc != NULL)
		return needle_set(&x->nd, 0, "%s", x->text_esc);
	if (c->table != NULL && strlen(c->table) >= 3)
		return needle_set(&x->nd, 1, "%s", c->table);
	if (c->command != NULL && strlen(c->command) >= 3)
		return needle_set(&x->nd, 1, "%s", c->command);
	if (c->user != NULL)
		return needle_set(&x->nd, 0, ",\"user\":\"%s\"", c->user);
	char lit[256];
	if (c->actor != NULL && search_glob_literal(c->actor, lit, sizeof lit) >= 3)
		return needle_set(&x->nd, 0, "%s", lit);
	if (c->principal != NULL && strcmp(c->principal, "agent") == 0)
		return needle_set(&x->nd, 0, "%s", ",\"principal\":\"agent\"");
	if (c->decision != NULL)
		return needle_set(&x->nd, 0, ",\"decision\":\"%s\"", c->decision);
	return needle_set(&x->nd, 0, "%s", "\"type\":\"intent\"");
}

/* The full test of an intent line. */
static int
search_match_intent(struct search *x, const char *line, size_t len)
{
	struct cli *c = x->c;
	struct rec r;
	if (rec_split(&r, line, len) != 0 || !rec_eq(&r, "type", "intent"))
		return 0;
	if (!cli_match_time(c, r.ts) || !cli_match_identity(c, &r))
		return 0;
	if (c->session != NULL) {
		const struct rec_span *s = rec_get(&r, "session");
		size_t n = strlen(c->session);
		if (s == NULL || s->n < n + 2 || memcmp(s->p + 1, c->session, n) != 0)
			return 0;
	}
	if (c->decision != NULL && !rec_eq(&r, "decision", c->decision))
		return 0;
	if (c->table == NULL && c->command == NULL && c->text == NULL)
		return 1;
	size_t sl;
	int bin;
	char *sql = rec_sql(&r, &sl, &bin);
	if (sql == NULL)
		return 0;
	int ok = 1;
	if (c->table != NULL && !match_identifier(sql, sl, c->table))
		ok = 0;
	if (ok && c->command != NULL) {
		char kw[64];
		match_first_keyword(sql, sl, kw, sizeof kw);
		if (strcasecmp(kw, c->command) != 0)
			ok = 0;
	}
	if (ok && c->text != NULL && memmem(sql, sl, c->text, strlen(c->text)) == NULL)
		ok = 0;
	free(sql);
	return ok;
}

static int
search_match_result(const struct cli *c, const char *line, size_t len)
{
	struct rec r;
	if (rec_split(&r, line, len) != 0)
		return 0;
	if (c->sqlstate != NULL && !rec_eq(&r, "sqlstate", c->sqlstate))
		return 0;
	if (c->status != NULL && !rec_eq(&r, "status", c->status))
		return 0;
	return 1;
}

static int
search_add_hit(struct search *x, uint64_t seq, const char *line, size_t len)
{
	if (x->nhits == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 64;
		struct hit *h = realloc(x->hits, cap * sizeof *h);
		if (h == NULL)
			return -1;
		x->hits = h;
		x->cap = cap;
	}
	if (cli_keep(&x->lines, line, len) != 0)
		return -1;
	x->hits[x->nhits++] = (struct hit){ seq, x->lines.n - 1, -1 };
	x->pending++;
	return 0;
}

/* A result line for one of the pending hits? */
static int
search_result(struct search *x, const char *line, size_t len)
{
	struct rec_span t = rec_type(line, len);
	if (t.n != 6 || memcmp(t.p, "result", 6) != 0)
		return 0;
	const char *k = memmem(line, len, ",\"intent\":", 10);
	if (k == NULL)
		return 0;
	uint64_t seq = 0;
	for (k += 10; k < line + len && *k >= '0' && *k <= '9'; k++)
		seq = seq * 10 + (uint64_t)(*k - '0');
	for (size_t i = x->first_pending; i < x->nhits; i++) {
		struct hit *h = &x->hits[i];
		if (h->seq != seq || h->result >= 0)
			continue;
		if (cli_keep(&x->lines, line, len) != 0)
			return -1;
		h->result = (ssize_t)x->lines.n - 1;
		x->pending--;
		while (x->first_pending < x->nhits && x->hits[x->first_pending].result >= 0)
			x->first_pending++;
		break;
	}
	return 0;
}

static int
search_chunk(struct search *x, const char *p, size_t n)
{
	const char *at = p, *e = p + n;
	while (at < e) {
		const char *line;
		size_t len;
		if (x->pending == 0) {
			if (x->done)
				return 0;
			const char *f = needle_find(&x->nd, at, (size_t)(e - at));
			if (f == NULL)
				return 0;
			scan_line_at(p, n, f, &line, &len);
		} else {
			const char *nl = memchr(at, '\n', (size_t)(e - at));
			line = at;
			len = (size_t)((nl ? nl : e) - at);
			if (search_result(x, line, len) != 0)
				return -1;
			if (x->done || needle_find(&x->nd, line, len) == NULL) {
				at = line + len + 1;
				continue;
			}
		}
		at = line + len + 1;
		const char *ts = rec_ts(line, len);
		if (ts != NULL && x->c->until[0] != '\0' &&
		    memcmp(ts, x->c->until, REC_TS_LEN) > 0) {
			x->done = 1;	/* the log is in time order */
			continue;
		}
		if (search_match_intent(x, line, len) &&
		    search_add_hit(x, rec_seq(line, len), line, len) != 0)
			return -1;
		if (x->c->limit != 0 && x->nhits >= x->c->limit &&
		    x->c->sqlstate == NULL && x->c->status == NULL)
			x->done = 1;
	}
	return 0;
}

static int
search_print(const struct search *x, const struct hit *h)
{
	const char *il = x->lines.line[h->intent];
	size_t ilen = x->lines.len[h->intent];
	if (x->c->json) {
		json_t *j = cli_json(il, ilen);
		if (j == NULL)
			return 0;
		json_object_set_new(j, "result", h->result >= 0 ?
		    cli_json(x->lines.line[h->result], x->lines.len[h->result]) : json_null());
		int rc = json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(j);
		return rc == 0 && putchar('\n') != EOF ? 0 : -1;
	}
	struct rec r, res;
	if (rec_split(&r, il, ilen) != 0)
		return 0;
	char *user = who_text(&r), *sess = rec_str(&r, "session", NULL);
	char *dec = rec_str(&r, "decision", NULL), *rule = rec_str(&r, "rule", NULL);
	size_t sl = 0;
	int bin = 0;
	char *sql = rec_sql(&r, &sl, &bin);
	char outcome[512] = "no result";
	if (h->result >= 0 && rec_split(&res, x->lines.line[h->result],
	    x->lines.len[h->result]) == 0) {
		char *st = rec_str(&res, "status", NULL);
		const struct rec_span *tags = rec_get(&res, "tags");
		long long rows;
		int o = snprintf(outcome, sizeof outcome, "%s %.*s", st ? st : "?",
		    tags ? (int)tags->n : 0, tags ? tags->p : "");
		if (rec_int(&res, "rows", &rows) == 0 && o > 0 && (size_t)o < sizeof outcome)
			o += snprintf(outcome + o, sizeof outcome - (size_t)o, " rows=%lld", rows);
		char *ss = rec_str(&res, "sqlstate", NULL);
		if (ss != NULL && o > 0 && (size_t)o < sizeof outcome)
			snprintf(outcome + o, sizeof outcome - (size_t)o, " sqlstate=%s", ss);
		free(st);
		free(ss);
	}
	/* The SQL on one line. */
	for (size_t i = 0; sql != NULL && i < sl; i++)
		if (sql[i] == '\n' || sql[i] == '\r' || sql[i] == '\t')
			sql[i] = ' ';
	int rc = printf("%.27s  seq %llu  session %s  user %s  %s%s%s  %s  |  %.*s\n", r.ts,
	    (unsigned long long)r.seq, sess ? sess : "?", user ? user : "?",
	    dec ? dec : "?", rule ? " rule=" : "", rule ? rule : "", outcome,
	    bin ? 11 : (int)sl, bin ? "(not UTF-8)" : sql ? sql : "");
	free(user); free(sess); free(dec); free(rule); free(sql);
	return rc < 0 ? -1 : 0;
}

/* Result-first: the results with the SQLSTATE or status, then their
 * intents (earlier in the log), then the intent filters. */
static int
search_by_result(struct search *x, char *err, size_t errlen)
{
	struct needle rn = { 0 };
	if (needle_set(&rn, 0, x->c->sqlstate ? ",\"sqlstate\":\"%s\"" :
	    ",\"status\":\"%s\"", x->c->sqlstate ? x->c->sqlstate : x->c->status) != 0)
		return PGWARD_EXIT_TEMP;
	struct scan s;
	if (scan_open(&s, x->c->dir, err, errlen) != 0) {
		free(rn.bytes);
		return PGWARD_EXIT_USAGE;
	}
	if (x->c->since[0] != '\0')
		scan_from_time(&s, x->c->since, err, errlen);
	struct cli_lines res = { 0 };
	uint64_t *want = NULL;
	size_t nwant = 0;
	const char *p;
	size_t n;
	int rc;
	while ((rc = scan_next(&s, &p, &n, err, errlen)) == 1) {
		const char *at = p, *e = p + n;
		const char *f;
		while (at < e && (f = memmem(at, (size_t)(e - at), rn.bytes, rn.n)) != NULL) {
			const char *line;
			size_t len;
			scan_line_at(p, n, f, &line, &len);
			at = line + len + 1;
			struct rec r;
			long long iseq;
			if (rec_split(&r, line, len) != 0 || !rec_eq(&r, "type", "result") ||
			    !search_match_result(x->c, line, len) ||
			    rec_int(&r, "intent", &iseq) != 0 || iseq <= 0)
				continue;
			uint64_t *w = realloc(want, (nwant + 1) * sizeof *w);
			if (w == NULL || cli_keep(&res, line, len) != 0) {
				free(w == NULL ? want : w);
				scan_close(&s);
				return PGWARD_EXIT_TEMP;
			}
			want = w;
			want[nwant++] = (uint64_t)iseq;
		}
	}
	scan_close(&s);
	free(rn.bytes);
	if (rc < 0) {
		free(want);
		cli_lines_free(&res);
		return PGWARD_EXIT_TEMP;
	}
	/* The intents: their seqs are ascending with the results'. */
	if (nwant > 0) {
		if (scan_open(&s, x->c->dir, err, errlen) != 0)
			return PGWARD_EXIT_USAGE;
		uint64_t min = want[0];
		for (size_t i = 1; i < nwant; i++)
			if (want[i] < min)
				min = want[i];
		scan_from_seq(&s, min);
		size_t found = 0;
		while (found < nwant && (rc = scan_next(&s, &p, &n, err, errlen)) == 1) {
			const char *at = p, *e = p + n;
			while (at < e && found < nwant) {
				const char *nl = memchr(at, '\n', (size_t)(e - at));
				size_t len = (size_t)(nl - at);
				uint64_t seq = rec_seq(at, len);
				for (size_t i = 0; i < nwant; i++) {
					if (want[i] != seq)
						continue;
					found++;
					if (search_match_intent(x, at, len)) {
						if (search_add_hit(x, seq, at, len) != 0 ||
						    cli_keep(&x->lines, res.line[i], res.len[i]) != 0)
							return PGWARD_EXIT_TEMP;
						x->hits[x->nhits - 1].result = (ssize_t)x->lines.n - 1;
					}
				}
				at = nl + 1;
			}
		}
		scan_close(&s);
	}
	free(want);
	cli_lines_free(&res);
	return rc < 0 ? PGWARD_EXIT_TEMP : 0;
}

static int
search_hit_cmp(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int
search_main(int argc, char **argv)
{
	static const struct option longopts[] = { CLI_FILTER_OPTIONS, { NULL, 0, NULL, 0 } };
	struct cli c;
	cli_init(&c);
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(SEARCH_USAGE, stdout);
			return 0;
		}
		if (cli_option(&c, opt, optarg) <= 0) {
			fputs(SEARCH_USAGE, stderr);
			return PGWARD_EXIT_USAGE;
		}
	}
	if (cli_operands(&c, argc, argv, optind) != 0) {
		fputs(SEARCH_USAGE, stderr);
		return PGWARD_EXIT_USAGE;
	}
	if (c.session != NULL && strpbrk(c.session, "\"\\") != NULL)
		log_fatal(PGWARD_EXIT_USAGE, "search: not a session id: %s", c.session);
	struct search x = { .c = &c };
	if (c.text != NULL && (x.text_esc = search_escape(c.text)) == NULL)
		log_fatal(PGWARD_EXIT_USAGE, "search: --text is not UTF-8");
	char err[512];
	int rc = 0;
	if (c.sqlstate != NULL || c.status != NULL) {
		rc = search_by_result(&x, err, sizeof err);
	} else {
		if (search_choose_needle(&x) != 0)
			log_fatal(PGWARD_EXIT_TEMP, "out of memory");
		struct scan s;
		if (scan_open(&s, c.dir, err, sizeof err) != 0)
			log_fatal(PGWARD_EXIT_USAGE, "search: %s", err);
		if (c.since[0] != '\0')
			scan_from_time(&s, c.since, err, sizeof err);
		const char *p;
		size_t n;
		while (!(x.done && x.pending == 0) &&
		    (rc = scan_next(&s, &p, &n, err, sizeof err)) == 1)
			if (search_chunk(&x, p, n) != 0)
				log_fatal(PGWARD_EXIT_TEMP, "search: out of memory");
		scan_close(&s);
		rc = rc < 0 ? PGWARD_EXIT_TEMP : 0;
	}
	if (rc != 0)
		log_fatal(rc, "search: %s", err);
	if (x.nhits > 0)
		qsort(x.hits, x.nhits, sizeof *x.hits, search_hit_cmp);
	size_t shown = 0;
	for (size_t i = 0; i < x.nhits && (c.limit == 0 || shown < c.limit); i++, shown++)
		if (search_print(&x, &x.hits[i]) != 0)
			log_fatal(PGWARD_EXIT_TEMP, "stdout: write error");
	if (fflush(stdout) != 0)
		log_fatal(PGWARD_EXIT_TEMP, "stdout: write error");
	free(x.hits);
	free(x.nd.bytes);
	free(x.text_esc);
	cli_lines_free(&x.lines);
	return shown > 0 ? 0 : 1;
}
