#ifndef PGWARD_MCP_DB_H
#define PGWARD_MCP_DB_H

/* pgward-mcp's libpq side: one connection to the relay for new
 * statements, plus one per statement the relay holds for review. A
 * statement runs asynchronously; the relay's NOTICE "pgward: statement
 * held for review r-..." ends the wait at once, and the connection is set
 * aside under the review id so that db_held_wait can pick up the outcome.
 * Every decision is the relay's: this file only carries statements and
 * reports what came back. */

#include <jansson.h>
#include <libpq-fe.h>

#include "mcp/tokensrc.h"

#define DB_MAX_HELD 16
#define DB_MAX_ROWS 1000

struct db_opts {
	const char *host, *port, *dbname, *user, *sslmode, *sslrootcert;
	const char *application_name;
	int timeout_s;		/* longest wait for a statement that is not held */
};

struct db_run {
	PGconn *conn;
	int owns_conn;		/* set once held: the connection is the run's */
	int limit;
	int in_set;
	json_t *columns;	/* array of names, of the last result with rows */
	json_t *rows;		/* array of objects */
	long long row_count;
	int truncated;
	char command[64];	/* the last command tag */
	char review[64];	/* set by the notice receiver when held */
	char notice[512];	/* the relay's held notice, as sent */
	char sqlstate[6];
	char *error;		/* the first error's text, or NULL */
};

struct db {
	struct db_opts opts;
	struct tokensrc *token;
	PGconn *conn;
	struct db_run *held[DB_MAX_HELD];
};

enum db_outcome {
	DB_DONE,	/* finished: rows or an error in the run */
	DB_HELD,	/* held for review: the run was set aside under run->review */
	DB_PENDING,	/* still waiting (held statements only) */
	DB_FAILED	/* never reached the relay, or lost it: run->error */
};

void db_init(struct db *d, const struct db_opts *o, struct tokensrc *t);
void db_close(struct db *d);

/* Runs sql (simple query when params is NULL, else one statement with
 * text parameters). On DB_DONE and DB_FAILED the caller owns *out and
 * frees it with db_run_free; on DB_HELD the db keeps it. */
enum db_outcome db_exec(struct db *d, const char *sql, int nparams, const char *const *params,
    int limit, struct db_run **out);

/* Waits up to wait_ms for the held statement named review. DB_DONE hands
 * the finished run to the caller; DB_PENDING leaves it held; DB_FAILED
 * means no such review is held here (message in err). */
enum db_outcome db_held_wait(struct db *d, const char *review, int wait_ms,
    struct db_run **out, char *err, size_t errlen);

void db_run_free(struct db_run *r);

#endif
