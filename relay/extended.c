#include "extended.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void
portal_free(void *p)
{
	struct portal *o = p;
	free(o->statement);
	free(o->sql);
	json_decref(o->params);
	free(o);
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

void
extended_free(struct extended *x)
{
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
	if (o == NULL || (o->statement = strdup(stmt)) == NULL || (o->sql = strdup(s->sql)) == NULL) {
		if (o != NULL)
			portal_free(o);
		json_decref(params);
		snprintf(err, errlen, "out of memory");
		return EXT_MALFORMED;
	}
	o->params = params;
	o->generation = x->syncs_sent;
	o->policy_generation = s->policy_generation;
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
	if (status == 'I')
		strmap_remove_if(&x->portals, bound_before, &x->readies_received);
}
