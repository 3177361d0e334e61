#include "mcp/db.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define DB_HELD_PREFIX "pgward: statement held for review "

static int db_connect(struct db *d, char *err, size_t errlen);
static PGconn *db_open(struct db *d, char *err, size_t errlen);
static struct db_run *db_run_new(PGconn *c, int limit);
static void db_notice(void *arg, const PGresult *res);
static enum db_outcome db_step(struct db_run *r, long long deadline, int stop_when_held);
static void db_take(struct db_run *r, PGresult *res);
static json_t *db_row(const PGresult *res, int row);
static void db_fail(struct db_run *r, const char *sqlstate, const char *msg);
static long long db_now_ms(void);
static int db_token_expired(const struct db_run *r);
static int db_held_slot(const struct db *d);

void
db_init(struct db *d, const struct db_opts *o, struct tokensrc *t)
{
	memset(d, 0, sizeof *d);
	d->opts = *o;
	d->token = t;
}

void
db_close(struct db *d)
{
	for (int i = 0; i < DB_MAX_HELD; i++) {
		db_run_free(d->held[i]);
		d->held[i] = NULL;
	}
	if (d->conn != NULL)
		PQfinish(d->conn);
	d->conn = NULL;
}

enum db_outcome
db_exec(struct db *d, const char *sql, int nparams, const char *const *params, int limit,
    struct db_run **out)
{
	char err[512];
	*out = NULL;
	if (db_held_slot(d) < 0) {
		*out = db_run_new(NULL, limit);
		if (*out != NULL)
			db_fail(*out, "", "too many statements are held for review; wait for "
			    "them with review_status first");
		return DB_FAILED;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		int fresh = d->conn == NULL;
		if (fresh && db_connect(d, err, sizeof err) != 0) {
			*out = db_run_new(NULL, limit);
			if (*out != NULL)
				db_fail(*out, "", err);
			return DB_FAILED;
		}
		struct db_run *r = db_run_new(d->conn, limit);
		if (r == NULL)
			return DB_FAILED;
		PQsetNoticeReceiver(d->conn, db_notice, r);
		int sent = params != NULL ?
		    PQsendQueryParams(d->conn, sql, nparams, NULL, params, NULL, NULL, 0) :
		    PQsendQuery(d->conn, sql);
		if (!sent) {
			db_fail(r, "08006", PQerrorMessage(d->conn));
			PQfinish(d->conn);
			d->conn = NULL;
			if (!fresh) {
				/* The relay may have closed an idle session: try once anew. */
				db_run_free(r);
				continue;
			}
			*out = r;
			return DB_FAILED;
		}
		PQsetSingleRowMode(d->conn);
		enum db_outcome o = db_step(r, db_now_ms() + 1000LL * d->opts.timeout_s, 1);
		if (o == DB_HELD) {
			int slot = db_held_slot(d);
			r->owns_conn = 1;
			d->held[slot] = r;
			d->conn = NULL;
			*out = r;
			return DB_HELD;
		}
		if (o == DB_PENDING) {
			PGcancel *c = PQgetCancel(d->conn);
			if (c != NULL) {
				char cerr[256];
				PQcancel(c, cerr, sizeof cerr);
				PQfreeCancel(c);
			}
			snprintf(err, sizeof err, "the statement did not finish within %d s and "
			    "was cancelled", d->opts.timeout_s);
			db_fail(r, "57014", err);
			PQfinish(d->conn);
			d->conn = NULL;
			*out = r;
			return DB_DONE;
		}
		PQsetNoticeReceiver(d->conn, db_notice, NULL);
		if (PQstatus(d->conn) != CONNECTION_OK) {
			PQfinish(d->conn);
			d->conn = NULL;
		}
		r->conn = NULL;
		/* The relay checks the token before it forwards a statement, so one
		 * refused as expired never ran: refresh and send it again. */
		if (attempt == 0 && db_token_expired(r) && d->token->command != NULL) {
			log_info("the relay says the token expired; running the token command");
			if (tokensrc_get(d->token, 1, err, sizeof err) != 0) {
				db_fail(r, "28000", err);
				*out = r;
				return DB_DONE;
			}
			db_run_free(r);
			continue;
		}
		*out = r;
		return DB_DONE;
	}
	return DB_FAILED;
}

enum db_outcome
db_held_wait(struct db *d, const char *review, int wait_ms, struct db_run **out, char *err,
    size_t errlen)
{
	*out = NULL;
	for (int i = 0; i < DB_MAX_HELD; i++) {
		struct db_run *r = d->held[i];
		if (r == NULL || strcmp(r->review, review) != 0)
			continue;
		enum db_outcome o = db_step(r, db_now_ms() + wait_ms, 0);
		if (o == DB_PENDING)
			return DB_PENDING;
		d->held[i] = NULL;
		*out = r;
		return DB_DONE;
	}
	snprintf(err, errlen, "no statement held for review %s on this connection (finished "
	    "statements are reported once)", review);
	return DB_FAILED;
}

void
db_run_free(struct db_run *r)
{
	if (r == NULL)
		return;
	if (r->owns_conn && r->conn != NULL)
		PQfinish(r->conn);
	json_decref(r->columns);
	json_decref(r->rows);
	free(r->error);
	free(r);
}

static int
db_held_slot(const struct db *d)
{
	for (int i = 0; i < DB_MAX_HELD; i++)
		if (d->held[i] == NULL)
			return i;
	return -1;
}

static int
db_token_expired(const struct db_run *r)
{
	return strcmp(r->sqlstate, "28000") == 0 && r->error != NULL &&
	    strstr(r->error, "token expired") != NULL;
}

/* A refused login gets one refresh when a command can mint a new token. */
static int
db_connect(struct db *d, char *err, size_t errlen)
{
	if (tokensrc_get(d->token, 0, err, errlen) != 0)
		return -1;
	d->conn = db_open(d, err, errlen);
	if (d->conn == NULL && d->token->command != NULL && strstr(err, "token not accepted")) {
		log_info("the relay refused the token; running the token command");
		if (tokensrc_get(d->token, 1, err, errlen) != 0)
			return -1;
		d->conn = db_open(d, err, errlen);
	}
	return d->conn == NULL ? -1 : 0;
}

static PGconn *
db_open(struct db *d, char *err, size_t errlen)
{
	const struct db_opts *o = &d->opts;
	const char *keys[16], *vals[16];
	int n = 0;
#define DB_KW(k, v) do { if ((v) != NULL) { keys[n] = (k); vals[n] = (v); n++; } } while (0)
	DB_KW("host", o->host);
	DB_KW("port", o->port);
	DB_KW("dbname", o->dbname);
	DB_KW("user", o->user);
	DB_KW("password", d->token->token);
	DB_KW("sslmode", o->sslmode);
	DB_KW("sslrootcert", o->sslrootcert);
	DB_KW("application_name", o->application_name);
	DB_KW("client_encoding", "UTF8");
	DB_KW("connect_timeout", "10");
#undef DB_KW
	keys[n] = vals[n] = NULL;
	PGconn *c = PQconnectdbParams(keys, vals, 0);
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect to the relay: %s", PQerrorMessage(c));
		size_t l = strlen(err);
		while (l > 0 && err[l - 1] == '\n')
			err[--l] = '\0';
		PQfinish(c);
		return NULL;
	}
	return c;
}

static struct db_run *
db_run_new(PGconn *c, int limit)
{
	struct db_run *r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	r->conn = c;
	r->limit = limit;
	r->columns = json_array();
	r->rows = json_array();
	if (r->columns == NULL || r->rows == NULL) {
		db_run_free(r);
		return NULL;
	}
	return r;
}

static void
db_notice(void *arg, const PGresult *res)
{
	struct db_run *r = arg;
	if (r == NULL)
		return;
	const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (m == NULL || strncmp(m, DB_HELD_PREFIX, strlen(DB_HELD_PREFIX)) != 0)
		return;
	const char *id = m + strlen(DB_HELD_PREFIX);
	size_t n = strcspn(id, " ");
	if (n == 0 || n >= sizeof r->review)
		return;
	memcpy(r->review, id, n);
	r->review[n] = '\0';
	snprintf(r->notice, sizeof r->notice, "%s", m);
}

/* Reads what has arrived until the statement finishes, it is held (when
 * stop_when_held) or the deadline passes. */
static enum db_outcome
db_step(struct db_run *r, long long deadline, int stop_when_held)
{
	for (;;) {
		if (!PQconsumeInput(r->conn)) {
			if (r->error == NULL)
				db_fail(r, "08006", PQerrorMessage(r->conn));
			return DB_DONE;
		}
		while (!PQisBusy(r->conn)) {
			PGresult *res = PQgetResult(r->conn);
			if (res == NULL)
				return DB_DONE;
			db_take(r, res);
			PQclear(res);
		}
		if (stop_when_held && r->review[0] != '\0')
			return DB_HELD;
		long long left = deadline - db_now_ms();
		if (left <= 0)
			return DB_PENDING;
		struct pollfd p = { .fd = PQsocket(r->conn), .events = POLLIN };
		if (p.fd < 0) {
			db_fail(r, "08006", "the connection to the relay is gone");
			return DB_DONE;
		}
		poll(&p, 1, left > 1000 ? 1000 : (int)left);
	}
}

static void
db_take(struct db_run *r, PGresult *res)
{
	switch (PQresultStatus(res)) {
	case PGRES_SINGLE_TUPLE:
	case PGRES_TUPLES_OK:
		if (!r->in_set) {
			/* A new result set: the answer is the last one. */
			json_array_clear(r->columns);
			json_array_clear(r->rows);
			r->row_count = 0;
			r->truncated = 0;
			for (int f = 0; f < PQnfields(res); f++)
				json_array_append_new(r->columns, json_string(PQfname(res, f)));
			r->in_set = 1;
		}
		for (int i = 0; i < PQntuples(res); i++) {
			if (r->row_count < r->limit) {
				json_array_append_new(r->rows, db_row(res, i));
				r->row_count++;
			} else {
				r->truncated = 1;
			}
		}
		if (PQresultStatus(res) == PGRES_TUPLES_OK) {
			r->in_set = 0;
			snprintf(r->command, sizeof r->command, "%s", PQcmdStatus(res));
		}
		break;
	case PGRES_COMMAND_OK:
	case PGRES_EMPTY_QUERY:
		snprintf(r->command, sizeof r->command, "%s", PQcmdStatus(res));
		break;
	default: {
		const char *ss = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		db_fail(r, ss ? ss : "", m ? m : PQresultErrorMessage(res));
		break;
	}
	}
}

static json_t *
db_row(const PGresult *res, int row)
{
	json_t *o = json_object();
	for (int f = 0; o != NULL && f < PQnfields(res); f++) {
		json_t *v;
		if (PQgetisnull(res, row, f))
			v = json_null();
		else
			v = json_stringn(PQgetvalue(res, row, f), (size_t)PQgetlength(res, row, f));
		if (v == NULL)
			v = json_string("(not valid UTF-8)");
		json_object_set_new(o, PQfname(res, f), v);
	}
	return o;
}

/* The first error is the one that explains the rest. */
static void
db_fail(struct db_run *r, const char *sqlstate, const char *msg)
{
	if (r->error != NULL)
		return;
	snprintf(r->sqlstate, sizeof r->sqlstate, "%s", sqlstate);
	r->error = strdup(msg);
	size_t l = r->error ? strlen(r->error) : 0;
	while (l > 0 && r->error[l - 1] == '\n')
		r->error[--l] = '\0';
}

static long long
db_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
