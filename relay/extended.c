#include "extended.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pgproto.h"
#include "utf8.h"

static void
prepared_free(void *p)
{
	struct prepared *s = p;
	free(s->sql);
	free(s->param_types);
	free(s);
}

void
row_shape_unref(struct row_shape *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	for (int i = 0; i < s->nfields; i++)
		free(s->fields[i].label);
	free(s->fields);
	if (s->derived_free != NULL)
		s->derived_free(s->derived);
	free(s);
}

/* NULL for a malformed RowDescription (or out of memory). */
static struct row_shape *
row_shape_parse(const uint8_t *body, size_t len)
{
	struct pgread r;
	pgread_init(&r, body, len);
	int n = (int16_t)pgread_u16(&r);
	if (r.failed || n < 0)
		return NULL;
	struct row_shape *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->refs = 1;
	s->fields = calloc((size_t)n + 1, sizeof *s->fields);
	if (s->fields == NULL) {
		free(s);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		const char *label = pgread_str(&r);
		struct row_field *f = &s->fields[i];
		f->table_oid = pgread_u32(&r);
		f->attnum = (int16_t)pgread_u16(&r);
		f->type_oid = pgread_u32(&r);
		pgread_u16(&r);
		pgread_u32(&r);
		f->format = (int16_t)pgread_u16(&r);
		if (r.failed || (f->label = strdup(label)) == NULL)
			break;
		s->nfields++;
	}
	if (s->nfields != n || !pgread_end(&r)) {
		row_shape_unref(s);
		return NULL;
	}
	return s;
}

static struct row_shape *
row_shape_none(void)
{
	struct row_shape *s = calloc(1, sizeof *s);
	if (s != NULL) {
		s->refs = 1;
		s->nfields = -1;
	}
	return s;
}

static void
portal_unref(struct portal *o)
{
	if (o == NULL || --o->refs > 0)
		return;
	row_shape_unref(o->shape);
	free(o->statement);
	free(o->sql);
	json_decref(o->params);
	free(o);
}

static void
portal_free(void *p)
{
	portal_unref(p);
}

int
extended_init(struct extended *x, int redact_params, size_t max_param_bytes)
{
	x->redact_params = redact_params;
	x->max_param_bytes = max_param_bytes;
	if (strmap_init(&x->statements, prepared_free) != 0)
		return -1;
	if (strmap_init(&x->portals, portal_free) != 0) {
		strmap_free(&x->statements);
		return -1;
	}
	return 0;
}

static struct owed *
owed_front(const struct extended *x)
{
	return x->owed_count ? &x->owed[x->owed_head] : NULL;
}

static struct owed *
owed_at(const struct extended *x, size_t i)
{
	return &x->owed[(x->owed_head + i) % x->owed_cap];
}

static void
result_finish(struct extended *x, struct pending *p)
{
	if (p == NULL)
		return;
	if (p->intent_seq != 0 && x->finished != NULL)
		x->finished(x->finished_ctx, p, results_now_us() - p->start_us);
	results_clear(p);
	free(p);
}

/* Copy-end marks answer nothing: one that reaches the front goes. */
static void
owed_pop(struct extended *x)
{
	struct owed *o = owed_front(x);
	if (o == NULL)
		return;
	do {
		portal_unref(o->portal);
		result_finish(x, o->result);
		x->owed_head = (x->owed_head + 1) % x->owed_cap;
		x->owed_count--;
	} while ((o = owed_front(x)) != NULL && o->kind == OWED_COPY_END);
}

/* Removes the i-th (i > 0) owed message, a Sync. */
static void
owed_remove(struct extended *x, size_t i)
{
	for (; i + 1 < x->owed_count; i++)
		*owed_at(x, i) = *owed_at(x, i + 1);
	x->owed_count--;
}

static void
query_shape_set(struct extended *x, struct row_shape *s)
{
	row_shape_unref(x->query_shape);
	x->query_shape = s;
}

void
extended_set_finished(struct extended *x, results_finished_fn fn, void *ctx)
{
	x->finished = fn;
	x->finished_ctx = ctx;
}

void
extended_abandon(struct extended *x, const char *status)
{
	for (struct owed *o; (o = owed_front(x)) != NULL; owed_pop(x))
		if (o->result != NULL)
			o->result->status = status;
}

void
extended_free(struct extended *x)
{
	x->finished = NULL;
	while (x->owed_count > 0)
		owed_pop(x);
	free(x->owed);
	query_shape_set(x, NULL);
	strmap_free(&x->statements);
	strmap_free(&x->portals);
}

static json_t *
base64_json(const char *key, const uint8_t *p, size_t len)
{
	size_t outlen = 4 * ((len + 2) / 3) + 1;
	char *out = malloc(outlen);
	if (out == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, p, (int)len);
	json_t *j = json_pack("{s:s}", key, out);
	free(out);
	return j;
}

json_t *
extended_text_json(const uint8_t *p, size_t len)
{
	if (utf8_valid((const char *)p, len))
		return json_stringn((const char *)p, len);
	return base64_json("base64", p, len);
}

static void
sha256_hex(const uint8_t *p, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void
extended_set_sql(json_t *rec, const uint8_t *sql, size_t len, size_t max)
{
	if (rec == NULL)
		return;
	if (len <= max) {
		json_object_set_new(rec, "sql", extended_text_json(sql, len));
		return;
	}
	size_t cut = max;
	while (cut > 0 && (sql[cut] & 0xc0) == 0x80)
		cut--;
	char hex[65];
	sha256_hex(sql, len, hex);
	json_object_set_new(rec, "sql", extended_text_json(sql, cut));
	json_object_set_new(rec, "sql_bytes", json_integer((json_int_t)len));
	json_object_set_new(rec, "sql_sha256", json_string(hex));
}

int
extended_parse(struct extended *x, const uint8_t *body, size_t len,
    struct prepared **stmt, const char **stmt_name, char *err, size_t errlen)
{
	struct pgread r;
	pgread_init(&r, body, len);
	const char *name = pgread_str(&r);
	const char *sql = pgread_str(&r);
	uint16_t n = pgread_u16(&r);
	struct prepared *s = calloc(1, sizeof *s);
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return EXT_MALFORMED;
	}
	s->nparams = n;
	s->param_types = calloc(n ? n : 1, sizeof *s->param_types);
	for (int i = 0; i < n && s->param_types != NULL; i++)
		s->param_types[i] = pgread_u32(&r);
	if (!pgread_end(&r) || s->param_types == NULL || (s->sql = strdup(sql)) == NULL) {
		prepared_free(s);
		snprintf(err, errlen, "malformed Parse message");
		return EXT_MALFORMED;
	}
	if (strmap_put(&x->statements, name, s) != 0) {
		snprintf(err, errlen, "out of memory");
		return EXT_MALFORMED;
	}
	*stmt = s;
	*stmt_name = name;
	return EXT_OK;
}

void
extended_forget_statement(struct extended *x, const char *name)
{
	strmap_remove(&x->statements, name);
}

static json_t *
param_json(const struct extended *x, const struct prepared *s, int i, int16_t format,
    const uint8_t *p, int32_t plen)
{
	if (plen < 0)
		return json_null();
	if (x->redact_params)
		return json_pack("{s:b, s:I}", "redacted", 1, "bytes", (json_int_t)plen);
	if ((size_t)plen > x->max_param_bytes) {
		char hex[65];
		sha256_hex(p, (size_t)plen, hex);
		return json_pack("{s:I, s:s}", "bytes", (json_int_t)plen, "sha256", hex);
	}
	if (format == 0)
		return extended_text_json(p, (size_t)plen);
	json_t *j = base64_json("binary", p, (size_t)plen);
	if (j != NULL && i < s->nparams && s->param_types[i] != 0)
		json_object_set_new(j, "type_oid", json_integer(s->param_types[i]));
	return j;
}

/* Whether the statement is SQL FETCH or EXECUTE (its first word, after
 * blanks and comments; a Parse holds one statement). */
static int
sql_forwards(const char *q)
{
	for (;;) {
		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r' || *q == '\f' ||
		    *q == '\v')
			q++;
		if (q[0] == '-' && q[1] == '-') {
			while (*q != '\0' && *q != '\n')
				q++;
			continue;
		}
		if (q[0] == '/' && q[1] == '*') {
			int depth = 0;
			do {
				if (q[0] == '/' && q[1] == '*') {
					depth++;
					q += 2;
				} else if (q[0] == '*' && q[1] == '/') {
					depth--;
					q += 2;
				} else {
					q++;
				}
			} while (depth > 0 && *q != '\0');
			continue;
		}
		break;
	}
	static const char *const words[] = { "fetch", "execute", NULL };
	for (int i = 0; words[i] != NULL; i++) {
		size_t n = strlen(words[i]);
		if (strncasecmp(q, words[i], n) == 0 && !(q[n] == '_' || q[n] == '$' ||
		    (q[n] >= '0' && q[n] <= '9') || ((q[n] | 0x20) >= 'a' && (q[n] | 0x20) <= 'z') ||
		    (unsigned char)q[n] >= 0x80))
			return 1;
	}
	return 0;
}

int
extended_bind(struct extended *x, const uint8_t *body, size_t len, char *err, size_t errlen)
{
	struct pgread r;
	pgread_init(&r, body, len);
	const char *portal = pgread_str(&r);
	const char *stmt = pgread_str(&r);
	uint16_t nformats = pgread_u16(&r);
	const uint8_t *formats = pgread_bytes(&r, (size_t)nformats * 2);
	uint16_t nparams = pgread_u16(&r);
	if (r.failed || (nformats > 1 && nformats != nparams)) {
		snprintf(err, errlen, "malformed Bind message");
		return EXT_MALFORMED;
	}
	const struct prepared *s = strmap_get(&x->statements, stmt);
	if (s == NULL) {
		snprintf(err, errlen, "prepared statement \"%s\" was not prepared through pgward", stmt);
		/* Still check the message is well formed before refusing. */
	}
	json_t *params = json_array();
	for (int i = 0; i < nparams; i++) {
		int32_t plen = (int32_t)pgread_u32(&r);
		const uint8_t *p = plen > 0 ? pgread_bytes(&r, (size_t)plen) : NULL;
		if (r.failed || plen < -1)
			break;
		int16_t f = nformats == 0 ? 0 : (int16_t)(formats[nformats == 1 ? 0 : 2 * i] << 8 |
		    formats[(nformats == 1 ? 0 : 2 * i) + 1]);
		if (s != NULL && params != NULL && !x->skip_params)
			json_array_append_new(params, param_json(x, s, i, f,
			    p ? p : (const uint8_t *)"", plen));
	}
	uint16_t nresult = pgread_u16(&r);
	pgread_bytes(&r, (size_t)nresult * 2);
	if (!pgread_end(&r) || params == NULL) {
		json_decref(params);
		snprintf(err, errlen, "malformed Bind message");
		return EXT_MALFORMED;
	}
	if (s == NULL) {
		json_decref(params);
		return EXT_UNKNOWN;
	}
	struct portal *o = calloc(1, sizeof *o);
	if (o != NULL)
		o->refs = 1;
	if (o == NULL || (o->statement = strdup(stmt)) == NULL || (o->sql = strdup(s->sql)) == NULL) {
		if (o != NULL)
			portal_free(o);
		json_decref(params);
		snprintf(err, errlen, "out of memory");
		return EXT_MALFORMED;
	}
	o->params = params;
	o->bound_runs = x->runs;
	o->forwards = sql_forwards(s->sql);
	o->generation = x->syncs_sent;
	o->policy_generation = s->policy_generation;
	o->catalog_generation = s->catalog_generation;
	snprintf(o->rule, sizeof o->rule, "%s", s->rule);
	o->has_max_rows = s->has_max_rows;
	o->max_rows = s->max_rows;
	if (strmap_put(&x->portals, portal, o) != 0) {
		snprintf(err, errlen, "out of memory");
		return EXT_MALFORMED;
	}
	return EXT_OK;
}

int
extended_execute(struct extended *x, const uint8_t *body, size_t len,
    struct portal **portal, const char **portal_name, uint32_t *max_rows, char *err, size_t errlen)
{
	struct pgread r;
	pgread_init(&r, body, len);
	const char *name = pgread_str(&r);
	*max_rows = pgread_u32(&r);
	if (!pgread_end(&r)) {
		snprintf(err, errlen, "malformed Execute message");
		return EXT_MALFORMED;
	}
	*portal_name = name;
	*portal = strmap_get(&x->portals, name);
	if (*portal == NULL) {
		snprintf(err, errlen, "portal \"%s\" was not bound through pgward", name);
		return EXT_UNKNOWN;
	}
	return EXT_OK;
}

int
extended_close(struct extended *x, const uint8_t *body, size_t len, char *err, size_t errlen)
{
	struct pgread r;
	pgread_init(&r, body, len);
	uint8_t what = pgread_u8(&r);
	const char *name = pgread_str(&r);
	if (!pgread_end(&r) || (what != 'S' && what != 'P')) {
		snprintf(err, errlen, "malformed Close message");
		return EXT_MALFORMED;
	}
	strmap_remove(what == 'S' ? &x->statements : &x->portals, name);
	return EXT_OK;
}

void
extended_sync_sent(struct extended *x)
{
	x->syncs_sent++;
}

static int
bound_before(void *value, void *ctx)
{
	const struct portal *o = value;
	return o->generation < *(const uint64_t *)ctx;
}

void
extended_ready(struct extended *x, char status)
{
	x->readies_received++;
	x->last_status = status;
	if (status == 'I')
		strmap_remove_if(&x->portals, bound_before, &x->readies_received);
}

/* ---- what the server owes ---- */

static const char *
portal_name_of(char type, const uint8_t *body, size_t len)
{
	/* Bind: the portal name first; Describe: 'S' or 'P' then the name;
	 * Execute: the portal name first. Malformed: NULL (the caller's own
	 * parse of the message refuses it). */
	const uint8_t *p = body;
	size_t n = len;
	if (type == 'D') {
		if (len < 2 || body[0] != 'P')
			return NULL;
		p++;
		n--;
	}
	if (memchr(p, 0, n) == NULL)
		return NULL;
	return (const char *)p;
}

static int
owe(struct extended *x, char type, const uint8_t *body, size_t len, int injected,
    const struct pending *start)
{
	struct owed o = { .injected = injected };
	if (type == 'c' || type == 'f') {
		/* The end of a COPY FROM STDIN the server may be in. */
		if (x->copy_in) {
			x->copy_in = 0;
			return 0;
		}
		if (x->owed_count == 0)
			return 0;
		o.kind = OWED_COPY_END;
		goto append;
	}
	if (x->copy_in && type == 'S')
		return 0;	/* ignored by the server's COPY */
	switch (type) {
	case 'P': o.kind = OWED_PARSE; break;
	case 'B': o.kind = OWED_BIND; break;
	case 'D':
		o.kind = len >= 1 && body[0] == 'S' ? OWED_DESCRIBE_STATEMENT : OWED_DESCRIBE_PORTAL;
		break;
	case 'E': o.kind = OWED_EXECUTE; break;
	case 'C': o.kind = OWED_CLOSE; break;
	case 'S': o.kind = OWED_SYNC; break;
	case 'Q': o.kind = OWED_QUERY; break;
	case 'F': o.kind = OWED_FUNCTION; break;
	default: return 0;
	}
	/* Another message during a COPY FROM STDIN (a client's protocol
	 * violation): the server fails the COPY with it, or reads it after the
	 * COPY failed on its data; which one the relay cannot tell. */
	if (x->copy_in) {
		x->copy_in = 0;
		x->lost = 1;
	}
	if (type == 'B' || type == 'E' || o.kind == OWED_DESCRIBE_PORTAL) {
		const char *name = portal_name_of(type, body, len);
		o.portal = name ? strmap_get(&x->portals, name) : NULL;
		if (o.portal != NULL) {
			o.portal->refs++;
			if (o.kind == OWED_DESCRIBE_PORTAL) {
				o.portal->described = 1;
				o.portal->described_runs = x->runs;
			}
		}
	}
	if (type == 'E' || type == 'Q' || type == 'F') {
		x->runs++;
		if ((o.result = calloc(1, sizeof *o.result)) == NULL) {
			portal_unref(o.portal);
			return -1;
		}
		if (start != NULL) {
			o.result->intent_seq = start->intent_seq;
			o.result->number = start->number;
			o.result->start_us = start->start_us;
		} else {
			o.result->start_us = results_now_us();
		}
		o.result->status = "ok";
	}
append:
	if (x->owed_count == x->owed_cap) {
		size_t ncap = x->owed_cap ? x->owed_cap * 2 : 16;
		struct owed *n = malloc(ncap * sizeof *n);
		if (n == NULL) {
			portal_unref(o.portal);
			free(o.result);
			return -1;
		}
		for (size_t i = 0; i < x->owed_count; i++)
			n[i] = x->owed[(x->owed_head + i) % x->owed_cap];
		free(x->owed);
		x->owed = n;
		x->owed_cap = ncap;
		x->owed_head = 0;
	}
	x->owed[(x->owed_head + x->owed_count) % x->owed_cap] = o;
	x->owed_count++;
	return 0;
}

int
extended_owe(struct extended *x, char type, const uint8_t *body, size_t len, int injected)
{
	return owe(x, type, body, len, injected, NULL);
}

int
extended_owe_statement(struct extended *x, char type, const uint8_t *body, size_t len,
    const struct pending *start)
{
	return owe(x, type, body, len, 0, start);
}

static int
ends_at_ready(enum owed_kind k)
{
	return k == OWED_SYNC || k == OWED_QUERY || k == OWED_FUNCTION;
}

/* What the server discards while skipping to a Sync: a statement is
 * skipped; a Query's or FunctionCall's ReadyForQuery never comes. */
static void
pop_discarded(struct extended *x)
{
	struct owed *o = owed_front(x);
	if (o->kind == OWED_QUERY || o->kind == OWED_FUNCTION)
		x->readies_received++;
	if (o->result != NULL)
		o->result->status = "skipped";
	owed_pop(x);
}

/* COPY FROM STDIN began (CopyInResponse) for the front Execute or Query:
 * the Syncs the client sent after it, before anything else, are read by
 * the COPY and ignored; so are those it sends until it ends the COPY. */
static int
on_copy_in(struct extended *x)
{
	struct owed *o = owed_front(x);
	if (o == NULL || (o->kind != OWED_EXECUTE && o->kind != OWED_QUERY))
		return -1;
	size_t i = 1;
	while (i < x->owed_count && owed_at(x, i)->kind == OWED_SYNC) {
		owed_remove(x, i);
		x->readies_received++;
	}
	if (i == x->owed_count)
		x->copy_in = 1;
	/* Another message sent into the COPY (as after copy_in above). */
	return i == x->owed_count || owed_at(x, i)->kind == OWED_COPY_END ? 0 : -1;
}

/* Describe answers: ParameterDescription (statements), then
 * RowDescription or NoData. */
static int
on_describe_answer(struct extended *x, struct owed *o, char type, const uint8_t *body,
    size_t len, int *swallow)
{
	*swallow = o->injected;
	if (type == 't')
		return o->kind == OWED_DESCRIBE_STATEMENT ? 0 : -1;
	struct row_shape *s = type == 'T' ? row_shape_parse(body, len) : row_shape_none();
	if (s == NULL)
		return -1;
	if (o->kind == OWED_DESCRIBE_PORTAL && o->portal != NULL) {
		row_shape_unref(o->portal->shape);
		o->portal->shape = s;
	} else {
		row_shape_unref(s);
	}
	owed_pop(x);
	return 0;
}

int
extended_on_server(struct extended *x, char type, const uint8_t *msg, size_t len, int *swallow)
{
	const uint8_t *body = msg + 5;
	size_t blen = len - 5;
	struct owed *o = owed_front(x);
	*swallow = 0;
	if (x->lost) {
		x->lost = 0;
		return -1;
	}
	switch (type) {
	case '1':
	case '2':
	case '3': {
		enum owed_kind want = type == '1' ? OWED_PARSE : type == '2' ? OWED_BIND : OWED_CLOSE;
		if (o == NULL || o->kind != want)
			return -1;
		*swallow = o->injected;
		owed_pop(x);
		return 0;
	}
	case 't':
	case 'n':
	case 'T':
		if (o != NULL && (o->kind == OWED_DESCRIBE_STATEMENT || o->kind == OWED_DESCRIBE_PORTAL))
			return on_describe_answer(x, o, type, body, blen, swallow);
		if (type == 'T' && o != NULL && o->kind == OWED_QUERY) {
			struct row_shape *s = row_shape_parse(body, blen);
			query_shape_set(x, s);
			return s != NULL ? 0 : -1;
		}
		return -1;
	case 'C':
	case 'I':
	case 's':
		if (o == NULL)
			return -1;
		if (o->kind != OWED_EXECUTE && (o->kind != OWED_QUERY || type == 's'))
			return -1;
		if (type == 'C' && blen > 0 && body[blen - 1] == '\0')
			results_add_tag(o->result, (const char *)body);
		if (o->kind == OWED_QUERY) {
			query_shape_set(x, NULL);
			return 0;
		}
		if (type == 's')
			o->result->status = "suspended";
		*swallow = o->injected;
		owed_pop(x);
		return 0;
	case 'G':
		return on_copy_in(x);
	case 'E':
		query_shape_set(x, NULL);
		if (o == NULL || ends_at_ready(o->kind)) {
			if (o != NULL && o->result != NULL)
				results_set_error(o->result, body, blen);
			return 0;
		}
		/* The server discards everything up to the Sync, Query and
		 * FunctionCall messages too; the error is the first Execute's. */
		x->skipping = 1;
		while ((o = owed_front(x)) != NULL && o->result == NULL && o->kind != OWED_SYNC)
			owed_pop(x);
		if (o != NULL && o->kind == OWED_EXECUTE) {
			results_set_error(o->result, body, blen);
			owed_pop(x);
		}
		while ((o = owed_front(x)) != NULL && o->kind != OWED_SYNC)
			pop_discarded(x);
		return 0;
	case 'Z':
		query_shape_set(x, NULL);
		while ((o = owed_front(x)) != NULL) {
			int last = x->skipping ? o->kind == OWED_SYNC : ends_at_ready(o->kind);
			*swallow = o->injected;
			if (last) {
				owed_pop(x);
				x->skipping = 0;
				return 0;
			}
			pop_discarded(x);
		}
		x->skipping = 0;
		return -1;
	}
	return 0;
}

struct row_shape *
extended_row_shape(const struct extended *x)
{
	const struct owed *o = owed_front(x);
	if (o == NULL)
		return NULL;
	if (o->kind == OWED_QUERY)
		return x->query_shape;
	if (o->kind == OWED_EXECUTE && o->portal != NULL)
		return o->portal->shape;
	return NULL;
}

int
extended_needs_describe(const struct extended *x, const uint8_t *body, size_t len)
{
	const char *name = portal_name_of('E', body, len);
	const struct portal *o = name ? strmap_get(&x->portals, name) : NULL;
	return o != NULL && ((o->shape == NULL && !o->described) || o->described_runs != x->runs);
}

int
extended_forwarded_stale(const struct extended *x, const uint8_t *body, size_t len)
{
	const char *name = portal_name_of('E', body, len);
	const struct portal *o = name ? strmap_get(&x->portals, name) : NULL;
	return o != NULL && o->forwards && !o->started && o->bound_runs != x->runs;
}

int
extended_sync_answered(const struct extended *x)
{
	return !x->copy_in;
}

struct pending *
extended_current_result(const struct extended *x)
{
	for (size_t i = 0; i < x->owed_count; i++) {
		const struct owed *o = owed_at(x, i);
		if (o->result != NULL)
			return o->result;
		if (o->kind == OWED_SYNC)
			return NULL;
	}
	return NULL;
}

int
extended_waiting(const struct extended *x, uint64_t number)
{
	for (size_t i = 0; i < x->owed_count; i++)
		if (owed_at(x, i)->result != NULL && owed_at(x, i)->result->number == number)
			return 1;
	return 0;
}

int
extended_ready_owed(const struct extended *x)
{
	for (size_t i = 0; i < x->owed_count; i++)
		if (ends_at_ready(x->owed[(x->owed_head + i) % x->owed_cap].kind))
			return 1;
	return 0;
}

int
extended_idle(const struct extended *x)
{
	return x->owed_count == 0;
}
