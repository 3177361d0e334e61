#include "masking.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "extended.h"
#include "mask/pgvalue.h"
#include "pgproto.h"

static uint64_t masking_generations;

/* Whether a value of the type, in binary, can carry text a detector
 * could find: text-likes, arrays and records (their elements), types the
 * relay does not know (fail closed), and int8 (a card number fits). */
static int
carries_text(uint32_t type_oid)
{
	enum pgvalue_kind k = pgvalue_kind(type_oid);
	return k != PGVALUE_OTHER || type_oid == 20;
}

int
masking_init(struct masking *m, json_t *rules, const uint8_t *key, size_t keylen, char *err,
    size_t errlen)
{
	memset(m, 0, sizeof *m);
	struct mask_result r = mask_engine_new(rules, key, keylen);
	if (r.error != NULL) {
		snprintf(err, errlen, "masking rules: %s", r.error);
		free(r.error);
		return -1;
	}
	m->engine = r.engine;
	const char *on = json_string_value(json_object_get(json_object_get(rules, "detect"), "on"));
	m->detect_all = on != NULL && strcmp(on, "all-text") == 0;
	/* Patterns match names, not columns: the database does not mask them. */
	m->has_patterns = json_array_size(json_object_get(rules, "patterns")) > 0;
	m->tables = json_array();
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(rules, "columns"), i, c) {
		json_t *t = json_object_get(c, "table");
		if (json_is_string(t))
			json_array_append(m->tables, t);
	}
	m->generation = ++masking_generations;
	if (strmap_init(&m->catalog, free) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->columns_masked = json_array();
	return 0;
}

void
masking_free(struct masking *m)
{
	mask_engine_free(m->engine);
	strmap_free(&m->catalog);
	json_decref(m->columns_masked);
	json_decref(m->tables);
	pgvalue_free(&m->pv);
	mask_buf_free(&m->out);
	memset(m, 0, sizeof *m);
}

char *
masking_catalog_query(const struct masking *m)
{
	json_t *tables = m->tables;
	if (tables == NULL || json_array_size(tables) == 0)
		return NULL;
	/* Names are passed as one array literal built with quote_literal on
	 * the server side: no SQL is made from rule text here. */
	char *list = json_dumps(tables, JSON_COMPACT);
	if (list == NULL)
		return NULL;
	size_t n = strlen(list) * 2 + 512;
	char *sql = malloc(n);
	if (sql == NULL) {
		free(list);
		return NULL;
	}
	/* Dollar quoting with a tag that cannot occur in JSON text. */
	snprintf(sql, n,
	    "SELECT c.oid, a.attnum, n.nspname, c.relname, a.attname "
	    "FROM pg_catalog.pg_attribute a "
	    "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
	    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	    "WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relname IN "
	    "(SELECT pg_catalog.split_part(x, '.', -1) FROM "
	    "pg_catalog.json_array_elements_text($pgward$%s$pgward$::json) x)", list);
	free(list);
	return sql;
}

void
masking_add_catalog_row(struct masking *m, const char *oid, const char *attnum,
    const char *schema, const char *table, const char *column)
{
	char key[64];
	snprintf(key, sizeof key, "%s:%s", oid, attnum);
	size_t n = strlen(schema) + strlen(table) + strlen(column) + 3;
	char *v = malloc(n);
	if (v == NULL)
		return;
	snprintf(v, n, "%s.%s", schema, table);
	memcpy(v + strlen(v) + 1, column, strlen(column) + 1);
	strmap_put(&m->catalog, key, v);
	m->generation = ++masking_generations;
}

void
masking_clear_catalog(struct masking *m)
{
	strmap_clear(&m->catalog);
	m->generation = ++masking_generations;
}

int
masking_add_catalog_message(struct masking *m, const uint8_t *msg, size_t len)
{
	struct pgread r;
	pgread_init(&r, msg + 5, len - 5);
	if (pgread_u16(&r) != 5)
		return -1;
	char *v[5];
	int ok = 1;
	for (int i = 0; i < 5; i++) {
		int32_t l = (int32_t)pgread_u32(&r);
		const uint8_t *p = l > 0 ? pgread_bytes(&r, (size_t)l) : NULL;
		v[i] = (r.failed || l < 0) ? NULL : strndup(p ? (const char *)p : "", (size_t)l);
		if (v[i] == NULL)
			ok = 0;
	}
	if (ok && pgread_end(&r))
		masking_add_catalog_row(m, v[0], v[1], v[2], v[3], v[4]);
	else
		ok = 0;
	for (int i = 0; i < 5; i++)
		free(v[i]);
	return ok ? 0 : -1;
}

/* ---- shapes ---- */

/* What masking derived from one row shape (cached on the shape). */
struct mask_shape {
	int nfields;
	struct mask_field *fields;
	int active;		/* any field masked or detected */
};

static void
mask_shape_free(void *p)
{
	struct mask_shape *s = p;
	if (s == NULL)
		return;
	free(s->fields);
	free(s);
}

static struct mask_shape *
derive(struct masking *m, const struct row_shape *rs)
{
	struct mask_shape *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->nfields = rs->nfields;
	s->fields = calloc((size_t)rs->nfields + 1, sizeof *s->fields);
	if (s->fields == NULL) {
		free(s);
		return NULL;
	}
	for (int i = 0; i < rs->nfields; i++) {
		const struct row_field *rf = &rs->fields[i];
		const char *table = NULL, *column = NULL;
		if (rf->table_oid != 0) {
			char key[64];
			snprintf(key, sizeof key, "%u:%d", rf->table_oid, rf->attnum);
			const char *v = strmap_get(&m->catalog, key);
			if (v != NULL) {
				table = v;
				column = v + strlen(v) + 1;
			}
		}
		struct mask_field *f = &s->fields[i];
		f->type_oid = rf->type_oid;
		f->format = rf->format;
		/* In text format every value is text that can carry a masked
		 * value (a card number in a bigint, an array, a record), so
		 * content detection sees every one of them. */
		f->action = mask_column_action(m->engine, table, column, rf->label,
		    rf->format == 0 || carries_text(rf->type_oid));
		if (f->action.style != MASK_NONE || f->action.detect)
			s->active = 1;
	}
	return s;
}

/* The masking of a row shape, derived once per shape and engine state. */
static const struct mask_shape *
shape_for(struct masking *m, struct row_shape *rs)
{
	if (rs->derived != NULL && rs->derived_generation == m->generation)
		return rs->derived;
	if (rs->derived_free != NULL)
		rs->derived_free(rs->derived);
	rs->derived = derive(m, rs);
	rs->derived_free = mask_shape_free;
	rs->derived_generation = m->generation;
	return rs->derived;
}

json_t *
masking_take_report(struct masking *m)
{
	uint64_t n = m->values_masked - m->values_reported;
	if (n == 0 && json_array_size(m->columns_masked) == 0)
		return NULL;
	json_t *r = json_pack("{s:o, s:I}", "columns", m->columns_masked, "values", (json_int_t)n);
	m->columns_masked = json_array();
	m->values_reported = m->values_masked;
	return r;
}

/* ---- server side ---- */

static int
fail(struct masking *m, const char *why)
{
	snprintf(m->error, sizeof m->error, "%s", why);
	return -1;
}

static void
note_masked(struct masking *m, const char *label)
{
	size_t i;
	json_t *v;
	json_array_foreach(m->columns_masked, i, v)
		if (strcmp(json_string_value(v), label) == 0)
			return;
	json_array_append_new(m->columns_masked, json_string(label));
}

struct leaf_ctx {
	struct masking *m;
	const struct mask_action *action;
};

/* An int8 in binary as the decimal text the detectors read. */
static size_t
int8_text(const char *p, char out[24])
{
	int64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (int64_t)((uint64_t)v << 8 | (uint8_t)p[i]);
	return (size_t)snprintf(out, 24, "%lld", (long long)v);
}

/* One scalar of a value (the value itself, or an element of an array or
 * record at any depth). */
static int
mask_leaf(void *arg, const struct pgvalue_leaf *leaf, struct mask_buf *out, int *out_null)
{
	const struct leaf_ctx *c = arg;
	const struct mask_action *a = c->action;
	if (leaf->binary && leaf->kind != PGVALUE_TEXT) {
		/* A binary value of another type cannot be masked in place: NULL
		 * is the only valid value that says nothing. Detection reads the
		 * one such type a card number fits in, int8. */
		if (a->style == MASK_NONE && leaf->kind == PGVALUE_OTHER) {
			if (leaf->type != 20 || leaf->len != 8)
				return 0;
			char dec[24];
			size_t n = int8_text(leaf->data, dec);
			int rc = mask_value_buf(c->m->engine, a, dec, n, out, out_null);
			if (rc <= 0)
				return rc;
		}
		*out_null = 1;
		return 1;
	}
	int rc = mask_value_buf(c->m->engine, a, leaf->data, leaf->len, out, out_null);
	/* A masked value of another type would not parse as that type: NULL
	 * is its only masked value that stays valid. */
	if (rc > 0 && leaf->kind != PGVALUE_TEXT)
		*out_null = 1;
	return rc;
}

/* One field of a DataRow: 1 (masked: m->out or *is_null), 0 (send as
 * it is), -1 (fail closed). Arrays and records are masked element by
 * element; a value that does not parse fails. */
static int
mask_field_value(struct masking *m, const struct mask_field *f, const char *p, size_t len,
    int *is_null)
{
	struct leaf_ctx c = { m, &f->action };
	struct pgvalue_masker mk = { .leaf = mask_leaf, .leaf_arg = &c };
	m->out.len = 0;
	int rc = pgvalue_mask(&m->pv, &mk, f->type_oid, f->format != 0, p, len, &m->out, is_null);
	if (rc < 0) {
		snprintf(m->error, sizeof m->error, "a value could not be masked: %.160s", m->pv.error);
		m->pv.error[0] = '\0';
	}
	return rc;
}

static int
mask_data_row(struct masking *m, const struct row_shape *rs, const struct mask_shape *s,
    const uint8_t *msg, size_t len, uint8_t **out, size_t *outlen)
{
	struct pgread r;
	pgread_init(&r, msg + 5, len - 5);
	int n = (int16_t)pgread_u16(&r);
	if (n != s->nfields)
		return fail(m, "a row does not match its row description");
	struct pgbuf b;
	pgbuf_init(&b);
	pgbuf_begin(&b, 'D');
	pgbuf_put_u16(&b, (uint16_t)n);
	int changed = 0;
	for (int i = 0; i < n; i++) {
		int32_t flen = (int32_t)pgread_u32(&r);
		const uint8_t *p = flen > 0 ? pgread_bytes(&r, (size_t)flen) : NULL;
		if (r.failed || flen < -1) {
			pgbuf_free(&b);
			return fail(m, "malformed DataRow");
		}
		const struct mask_field *f = &s->fields[i];
		int active = f->action.style != MASK_NONE || f->action.detect;
		if (!active || flen < 0) {
			pgbuf_put_u32(&b, (uint32_t)flen);
			if (flen > 0)
				pgbuf_put(&b, p, (size_t)flen);
			continue;
		}
		int is_null = 0;
		int rc = mask_field_value(m, f, (const char *)(p ? p : (const uint8_t *)""),
		    (size_t)flen, &is_null);
		if (rc < 0) {
			pgbuf_free(&b);
			return -1;
		}
		if (rc == 0) {
			pgbuf_put_u32(&b, (uint32_t)flen);
			pgbuf_put(&b, p, (size_t)flen);
			continue;
		}
		changed = 1;
		m->values_masked++;
		note_masked(m, rs->fields[i].label);
		if (is_null) {
			pgbuf_put_u32(&b, 0xffffffffu);
		} else {
			pgbuf_put_u32(&b, (uint32_t)m->out.len);
			pgbuf_put(&b, m->out.data, m->out.len);
		}
	}
	if (!pgread_end(&r)) {
		pgbuf_free(&b);
		return fail(m, "malformed DataRow");
	}
	pgbuf_end(&b);
	if (b.failed) {
		pgbuf_free(&b);
		return fail(m, "out of memory");
	}
	if (!changed) {
		pgbuf_free(&b);
		return 0;
	}
	*out = b.data;
	*outlen = b.len;
	return 1;
}

/* Error and notice fields that can echo values go through the detectors. */
static int
mask_error_fields(struct masking *m, char type, const uint8_t *msg, size_t len, uint8_t **out,
    size_t *outlen)
{
	struct pgread r;
	pgread_init(&r, msg + 5, len - 5);
	struct pgbuf b;
	pgbuf_init(&b);
	pgbuf_begin(&b, type);
	int changed = 0;
	for (;;) {
		uint8_t code = pgread_u8(&r);
		if (code == 0)
			break;
		const char *v = pgread_str(&r);
		if (v == NULL)
			break;
		pgbuf_put_u8(&b, code);
		if (strchr("MDHWqp", code) != NULL) {
			char *mv = NULL;
			size_t mlen = 0;
			int rc = mask_text(m->engine, v, strlen(v), &mv, &mlen);
			if (rc < 0) {
				free(mv);
				pgbuf_free(&b);
				return fail(m, "an error message could not be masked");
			}
			if (rc > 0) {
				changed = 1;
				pgbuf_put(&b, mv, mlen);
				pgbuf_put_u8(&b, 0);
				free(mv);
				continue;
			}
			free(mv);
		}
		pgbuf_put_str(&b, v);
	}
	pgbuf_put_u8(&b, 0);
	pgbuf_end(&b);
	if (r.failed || b.failed) {
		pgbuf_free(&b);
		return fail(m, "malformed error message");
	}
	if (!changed) {
		pgbuf_free(&b);
		return 0;
	}
	*out = b.data;
	*outlen = b.len;
	return 1;
}

static int
mask_copy_data(struct masking *m, const uint8_t *msg, size_t len, uint8_t **out, size_t *outlen)
{
	if (m->copy_binary)
		return fail(m, "binary COPY TO STDOUT cannot be masked; use text or CSV");
	char *mv = NULL;
	size_t mlen = 0;
	int rc = mask_text(m->engine, (const char *)msg + 5, len - 5, &mv, &mlen);
	if (rc <= 0) {
		free(mv);
		return rc < 0 ? fail(m, "a COPY row could not be masked") : 0;
	}
	struct pgbuf b;
	pgbuf_init(&b);
	pgbuf_begin(&b, 'd');
	pgbuf_put(&b, mv, mlen);
	pgbuf_end(&b);
	free(mv);
	if (b.failed) {
		pgbuf_free(&b);
		return fail(m, "out of memory");
	}
	m->values_masked++;
	*out = b.data;
	*outlen = b.len;
	return 1;
}

int
masking_encoding_safe(const char *encoding)
{
	/* Encodings whose multibyte characters can hold ASCII bytes: the
	 * detectors and the array and record parsers read bytes. */
	static const char *const unsafe[] = { "SJIS", "SHIFT_JIS_2004", "BIG5", "GBK", "UHC",
		"GB18030", "JOHAB", NULL };
	if (encoding == NULL)
		return 0;
	for (int i = 0; unsafe[i] != NULL; i++)
		if (strcasecmp(encoding, unsafe[i]) == 0)
			return 0;
	return 1;
}

/* ParameterStatus: a client_encoding the masking cannot read safely. */
static int
check_parameter(struct masking *m, const uint8_t *msg, size_t len)
{
	struct pgread r;
	pgread_init(&r, msg + 5, len - 5);
	const char *name = pgread_str(&r);
	const char *value = pgread_str(&r);
	if (!pgread_end(&r))
		return fail(m, "malformed ParameterStatus");
	if (strcmp(name, "client_encoding") == 0 && !masking_encoding_safe(value)) {
		snprintf(m->error, sizeof m->error, "client_encoding %.40s cannot be masked "
		    "safely (its characters can hold ASCII bytes); use UTF8", value);
		return -1;
	}
	return 0;
}

/* NotificationResponse: pid, channel, payload; both texts through the
 * detectors (a payload is free text: pg_notify(channel, card)). */
static int
mask_notification(struct masking *m, const uint8_t *msg, size_t len, uint8_t **out,
    size_t *outlen)
{
	struct pgread r;
	pgread_init(&r, msg + 5, len - 5);
	uint32_t pid = pgread_u32(&r);
	const char *texts[2];
	texts[0] = pgread_str(&r);
	texts[1] = pgread_str(&r);
	if (!pgread_end(&r))
		return fail(m, "malformed NotificationResponse");
	struct pgbuf b;
	pgbuf_init(&b);
	pgbuf_begin(&b, 'A');
	pgbuf_put_u32(&b, pid);
	int changed = 0;
	for (int i = 0; i < 2; i++) {
		char *mv = NULL;
		size_t mlen = 0;
		int rc = mask_text(m->engine, texts[i], strlen(texts[i]), &mv, &mlen);
		if (rc < 0 || (rc > 0 && memchr(mv, 0, mlen) != NULL)) {
			free(mv);
			pgbuf_free(&b);
			return fail(m, "a notification could not be masked");
		}
		if (rc > 0) {
			changed = 1;
			m->values_masked++;
			pgbuf_put(&b, mv, mlen);
			pgbuf_put_u8(&b, 0);
		} else {
			pgbuf_put_str(&b, texts[i]);
		}
		free(mv);
	}
	pgbuf_end(&b);
	if (b.failed) {
		pgbuf_free(&b);
		return fail(m, "out of memory");
	}
	if (!changed) {
		pgbuf_free(&b);
		return 0;
	}
	*out = b.data;
	*outlen = b.len;
	return 1;
}

int
masking_on_server(struct masking *m, struct row_shape *shape, char type, const uint8_t *msg,
    size_t len, uint8_t **out, size_t *outlen)
{
	const uint8_t *body = msg + 5;
	size_t blen = len - 5;
	switch (type) {
	case 'D': {
		if (shape == NULL || shape->nfields < 0)
			return fail(m, "rows arrived whose columns are unknown to the masking engine");
		const struct mask_shape *s = shape_for(m, shape);
		if (s == NULL)
			return fail(m, "out of memory");
		if (!s->active)
			return 0;
		return mask_data_row(m, shape, s, msg, len, out, outlen);
	}
	case 'C':
	case 's':
	case 'I':
	case 'Z':
		m->copy_out = 0;
		return 0;
	case 'H':
		/* COPY rows carry no column identities: only content detection
		 * on every value can mask them on the wire. Where the database
		 * masks (its views), COPY carries what it already masked, and the
		 * detectors, if the person has them, still read text and CSV. */
		m->copy_binary = blen >= 1 && body[0] != 0;
		m->copy_out = m->detect_all;
		if (m->database_enforced && !m->has_patterns && (!m->detect_all || !m->copy_binary))
			return 0;
		if (!m->detect_all)
			return fail(m, "COPY TO STDOUT cannot be masked for this person (masking by "
			    "column needs column identities; use SELECT)");
		if (m->copy_binary)
			return fail(m, "binary COPY TO STDOUT cannot be masked; use text or CSV");
		return 0;
	case 'd':
		return m->copy_out ? mask_copy_data(m, msg, len, out, outlen) : 0;
	case 'E':
	case 'N':
		return mask_error_fields(m, type, msg, len, out, outlen);
	case 'A':
		return mask_notification(m, msg, len, out, outlen);
	case 'V': {
		/* FunctionCallResponse: a fast-path call's result has no column
		 * identity and a format the detectors may not read (binary). Only
		 * where the database masks every column is it sent as it is. */
		struct pgread r;
		pgread_init(&r, body, blen);
		int32_t vlen = (int32_t)pgread_u32(&r);
		if (r.failed)
			return fail(m, "malformed FunctionCallResponse");
		if (vlen < 0 || (m->database_enforced && !m->has_patterns && !m->detect_all))
			return 0;
		return fail(m, "the result of a fast-path function call cannot be masked for this "
		    "person (it has no column identity); use SELECT");
	}
	case 'S':
		return check_parameter(m, msg, len);
	}
	return 0;
}
