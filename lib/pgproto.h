#ifndef PGWARD_PGPROTO_H
#define PGWARD_PGPROTO_H

/* PostgreSQL v3 wire protocol: building and reading messages. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PG_PROTO_V3 196608u		/* 3.0 */
#define PG_SSL_REQUEST 80877103u
#define PG_GSSENC_REQUEST 80877104u
#define PG_CANCEL_REQUEST 80877102u
/* PostgreSQL's own limit for a startup packet. */
#define PG_MAX_STARTUP_LEN 10000u

/* A growing buffer that remembers failure: build freely, check once. */
struct pgbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t msg_start;	/* start of the message being built */
	bool failed;
};

void pgbuf_init(struct pgbuf *b);
void pgbuf_free(struct pgbuf *b);
void pgbuf_reset(struct pgbuf *b);
void pgbuf_put(struct pgbuf *b, const void *p, size_t n);
void pgbuf_put_u8(struct pgbuf *b, uint8_t v);
void pgbuf_put_u16(struct pgbuf *b, uint16_t v);
void pgbuf_put_u32(struct pgbuf *b, uint32_t v);
void pgbuf_put_str(struct pgbuf *b, const char *s);	/* with NUL */
/* Starts a typed message; type 0 starts an untyped (startup) packet. */
void pgbuf_begin(struct pgbuf *b, char type);
/* Fills in the length of the message begun last. */
void pgbuf_end(struct pgbuf *b);

/* One helper per message the relay produces itself. */
void pgmsg_error(struct pgbuf *b, const char *severity, const char *sqlstate,
    const char *message, const char *detail, const char *hint);
void pgmsg_notice(struct pgbuf *b, const char *sqlstate, const char *message);
void pgmsg_auth_request(struct pgbuf *b, uint32_t code);	/* 0 ok, 3 cleartext */
void pgmsg_parameter_status(struct pgbuf *b, const char *name, const char *value);
void pgmsg_backend_key(struct pgbuf *b, uint32_t pid, uint32_t key);
void pgmsg_ready(struct pgbuf *b, char status);
void pgmsg_negotiate_version(struct pgbuf *b, uint32_t newest_minor,
    const char *const *unknown, int nunknown);

/* Reading a message body: every read is bounds-checked; a failed read
 * marks the reader failed and returns zero values. pgread_end() is true
 * only if nothing failed and every byte was consumed. */
struct pgread {
	const uint8_t *p;
	size_t len;
	size_t pos;
	bool failed;
};

void pgread_init(struct pgread *r, const void *p, size_t len);
uint8_t pgread_u8(struct pgread *r);
uint16_t pgread_u16(struct pgread *r);
uint32_t pgread_u32(struct pgread *r);
/* A NUL-terminated string within the body; NULL on failure. */
const char *pgread_str(struct pgread *r);
const uint8_t *pgread_bytes(struct pgread *r, size_t n);
bool pgread_end(const struct pgread *r);

static inline uint32_t
pg_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Startup-phase packets (no type byte), told apart in one place. */
enum pg_startup_kind {
	PG_STARTUP_INVALID = 0,
	PG_STARTUP_SSL,
	PG_STARTUP_GSSENC,
	PG_STARTUP_CANCEL,
	PG_STARTUP_MESSAGE,
};

#define PG_STARTUP_MAX_PARAMS 64

struct pg_startup {
	enum pg_startup_kind kind;
	uint32_t version;
	uint32_t cancel_pid;
	uint32_t cancel_key;
	int nparams;
	/* Point into the packet given to pg_startup_parse. */
	const char *names[PG_STARTUP_MAX_PARAMS];
	const char *values[PG_STARTUP_MAX_PARAMS];
	/* NULL on success. Static text. */
	const char *error;
	/* SQLSTATE to send with the error. */
	const char *sqlstate;
};

/* pkt is the whole packet including its 4-byte length word. */
struct pg_startup pg_startup_parse(const uint8_t *pkt, size_t len);
const char *pg_startup_get(const struct pg_startup *s, const char *name);

#endif
