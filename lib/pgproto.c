#include "pgproto.h"

#include <stdlib.h>
#include <string.h>

void
pgbuf_init(struct pgbuf *b)
{
	memset(b, 0, sizeof *b);
}

void
pgbuf_free(struct pgbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

void
pgbuf_reset(struct pgbuf *b)
{
	b->len = 0;
	b->msg_start = 0;
	b->failed = false;
}

static bool
pgbuf_reserve(struct pgbuf *b, size_t n)
{
	if (b->failed)
		return false;
	if (n > SIZE_MAX / 2 - b->len) {
		b->failed = true;
		return false;
	}
	if (b->len + n <= b->cap)
		return true;
	size_t ncap = b->cap ? b->cap : 256;
	while (ncap < b->len + n)
		ncap *= 2;
	uint8_t *d = realloc(b->data, ncap);
	if (d == NULL) {
		b->failed = true;
		return false;
	}
	b->data = d;
	b->cap = ncap;
	return true;
}

void
pgbuf_put(struct pgbuf *b, const void *p, size_t n)
{
	if (n == 0 || !pgbuf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void
pgbuf_put_u8(struct pgbuf *b, uint8_t v)
{
	pgbuf_put(b, &v, 1);
}

void
pgbuf_put_u16(struct pgbuf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	pgbuf_put(b, x, 2);
}

void
pgbuf_put_u32(struct pgbuf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	pgbuf_put(b, x, 4);
}

void
pgbuf_put_str(struct pgbuf *b, const char *s)
{
	pgbuf_put(b, s, strlen(s) + 1);
}

void
pgbuf_begin(struct pgbuf *b, char type)
{
	if (type != 0)
		pgbuf_put_u8(b, (uint8_t)type);
	b->msg_start = b->len;
	pgbuf_put_u32(b, 0);
}

void
pgbuf_end(struct pgbuf *b)
{
	if (b->failed)
		return;
	size_t n = b->len - b->msg_start;
	if (n > 0x7fffffff) {
		b->failed = true;
		return;
	}
	uint8_t *p = b->data + b->msg_start;
	p[0] = (uint8_t)(n >> 24);
	p[1] = (uint8_t)(n >> 16);
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
}

static void
put_field(struct pgbuf *b, char code, const char *value)
{
	if (value == NULL)
		return;
	pgbuf_put_u8(b, (uint8_t)code);
	pgbuf_put_str(b, value);
}

void
pgmsg_error(struct pgbuf *b, const char *severity, const char *sqlstate,
    const char *message, const char *detail, const char *hint)
{
	pgbuf_begin(b, 'E');
	put_field(b, 'S', severity);
	put_field(b, 'V', severity);
	put_field(b, 'C', sqlstate);
	put_field(b, 'M', message);
	put_field(b, 'D', detail);
	put_field(b, 'H', hint);
	pgbuf_put_u8(b, 0);
	pgbuf_end(b);
}

void
pgmsg_notice(struct pgbuf *b, const char *sqlstate, const char *message)
{
	pgbuf_begin(b, 'N');
	put_field(b, 'S', "NOTICE");
	put_field(b, 'V', "NOTICE");
	put_field(b, 'C', sqlstate);
	put_field(b, 'M', message);
	pgbuf_put_u8(b, 0);
	pgbuf_end(b);
}

void
pgmsg_auth_request(struct pgbuf *b, uint32_t code)
{
	pgbuf_begin(b, 'R');
	pgbuf_put_u32(b, code);
	pgbuf_end(b);
}

void
pgmsg_parameter_status(struct pgbuf *b, const char *name, const char *value)
{
	pgbuf_begin(b, 'S');
	pgbuf_put_str(b, name);
	pgbuf_put_str(b, value);
	pgbuf_end(b);
}

void
pgmsg_backend_key(struct pgbuf *b, uint32_t pid, uint32_t key)
{
	pgbuf_begin(b, 'K');
	pgbuf_put_u32(b, pid);
	pgbuf_put_u32(b, key);
	pgbuf_end(b);
}

void
pgmsg_ready(struct pgbuf *b, char status)
{
	pgbuf_begin(b, 'Z');
	pgbuf_put_u8(b, (uint8_t)status);
	pgbuf_end(b);
}

void
pgmsg_negotiate_version(struct pgbuf *b, uint32_t newest_minor,
    const char *const *unknown, int nunknown)
{
	pgbuf_begin(b, 'v');
	pgbuf_put_u32(b, newest_minor);
	pgbuf_put_u32(b, (uint32_t)nunknown);
	for (int i = 0; i < nunknown; i++)
		pgbuf_put_str(b, unknown[i]);
	pgbuf_end(b);
}

void
pgread_init(struct pgread *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->pos = 0;
	r->failed = false;
}

const uint8_t *
pgread_bytes(struct pgread *r, size_t n)
{
	if (r->failed || n > r->len - r->pos) {
		r->failed = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->pos;
	r->pos += n;
	return p;
}

uint8_t
pgread_u8(struct pgread *r)
{
	const uint8_t *p = pgread_bytes(r, 1);
	return p ? p[0] : 0;
}

uint16_t
pgread_u16(struct pgread *r)
{
	const uint8_t *p = pgread_bytes(r, 2);
	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t
pgread_u32(struct pgread *r)
{
	const uint8_t *p = pgread_bytes(r, 4);
	return p ? pg_be32(p) : 0;
}

const char *
pgread_str(struct pgread *r)
{
	if (r->failed)
		return NULL;
	const uint8_t *start = r->p + r->pos;
	const uint8_t *nul = memchr(start, 0, r->len - r->pos);
	if (nul == NULL) {
		r->failed = true;
		return NULL;
	}
	r->pos += (size_t)(nul - start) + 1;
	return (const char *)start;
}

bool
pgread_end(const struct pgread *r)
{
	return !r->failed && r->pos == r->len;
}

static struct pg_startup
startup_fail(struct pg_startup s, const char *sqlstate, const char *error)
{
	s.kind = PG_STARTUP_INVALID;
	s.sqlstate = sqlstate;
	s.error = error;
	return s;
}

struct pg_startup
pg_startup_parse(const uint8_t *pkt, size_t len)
{
	struct pg_startup s;
	memset(&s, 0, sizeof s);
	if (len < 8)
		return startup_fail(s, "08P01", "invalid length of startup packet");
	uint32_t declared = pg_be32(pkt);
	if (declared != len || declared > PG_MAX_STARTUP_LEN)
		return startup_fail(s, "08P01", "invalid length of startup packet");
	struct pgread r;
	pgread_init(&r, pkt + 4, len - 4);
	s.version = pgread_u32(&r);
	switch (s.version) {
	case PG_SSL_REQUEST:
	case PG_GSSENC_REQUEST:
		if (!pgread_end(&r))
			return startup_fail(s, "08P01", "invalid length of startup packet");
		s.kind = s.version == PG_SSL_REQUEST ? PG_STARTUP_SSL : PG_STARTUP_GSSENC;
		return s;
	case PG_CANCEL_REQUEST:
		s.cancel_pid = pgread_u32(&r);
		s.cancel_key = pgread_u32(&r);
		if (!pgread_end(&r))
			return startup_fail(s, "08P01", "invalid length of cancel request");
		s.kind = PG_STARTUP_CANCEL;
		return s;
	}
	if (s.version >> 16 != 3)
		return startup_fail(s, "0A000",
		    "unsupported frontend protocol: pgward speaks protocol 3.0");
	for (;;) {
		const char *name = pgread_str(&r);
		if (name == NULL)
			return startup_fail(s, "08P01", "invalid startup packet layout: expected terminator as last byte");
		if (name[0] == '\0')
			break;
		const char *value = pgread_str(&r);
		if (value == NULL)
			return startup_fail(s, "08P01", "invalid startup packet layout: missing value");
		if (s.nparams == PG_STARTUP_MAX_PARAMS)
			return startup_fail(s, "08P01", "too many startup parameters");
		for (int i = 0; i < s.nparams; i++)
			if (strcmp(s.names[i], name) == 0)
				return startup_fail(s, "08P01", "duplicate startup parameter");
		s.names[s.nparams] = name;
		s.values[s.nparams] = value;
		s.nparams++;
	}
	if (!pgread_end(&r))
		return startup_fail(s, "08P01", "invalid startup packet layout: expected terminator as last byte");
	if (pg_startup_get(&s, "user") == NULL || pg_startup_get(&s, "user")[0] == '\0')
		return startup_fail(s, "28000", "no PostgreSQL user name specified in startup packet");
	s.kind = PG_STARTUP_MESSAGE;
	return s;
}

const char *
pg_startup_get(const struct pg_startup *s, const char *name)
{
	for (int i = 0; i < s->nparams; i++)
		if (strcmp(s->names[i], name) == 0)
			return s->values[i];
	return NULL;
}
