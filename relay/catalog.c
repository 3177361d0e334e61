#include "catalog.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "masking.h"
#include "pgproto.h"
#include "policy.h"
#include "relations.h"
#include "sock.h"

static int catalog_query(struct endpoint *sv, const char *sql,
    int (*on_row)(void *, const uint8_t *, size_t), void *ctx);

/* Runs one query of the relay's own on the server connection while it is
 * idle (nothing of the client's in flight); the answer is read here and
 * never reaches the client. Each DataRow goes to on_row. Returns 0, or -1
 * (an error, a malformed or oversized answer, a timeout). */
static int
catalog_query(struct endpoint *sv, const char *sql,
    int (*on_row)(void *, const uint8_t *, size_t), void *ctx)
{
	struct pgbuf b;
	pgbuf_init(&b);
	pgbuf_begin(&b, 'Q');
	pgbuf_put_str(&b, sql);
	pgbuf_end(&b);
	int rc = b.failed ? -1 : endpoint_write_all(sv, b.data, b.len, 5000);
	pgbuf_free(&b);
	if (rc != 0)
		return -1;
	long long deadline = sock_now_ms() + 10000;
	int failed = 0;
	for (;;) {
		uint8_t hdr[5];
		if (endpoint_read_full(sv, hdr, 5, deadline) != 0)
			return -1;
		uint32_t len = pg_be32(hdr + 1);
		if (len < 4 || len > 64 * 1024 * 1024)
			return -1;
		uint8_t *msg = malloc((size_t)len + 1);
		if (msg == NULL)
			return -1;
		memcpy(msg, hdr, 5);
		if (endpoint_read_full(sv, msg + 5, len - 4, deadline) != 0) {
			free(msg);
			return -1;
		}
		if (hdr[0] == 'D' && on_row(ctx, msg, (size_t)len + 1) != 0)
			failed = 1;
		if (hdr[0] == 'E')
			failed = 1;
		free(msg);
		if (hdr[0] == 'Z')
			return failed ? -1 : 0;
	}
}

static int
mask_catalog_row(void *ctx, const uint8_t *msg, size_t len)
{
	return masking_add_catalog_message(ctx, msg, len);
}

/* The one text column of a DataRow. Returns 0, or -1. */
static int
one_text_column(const uint8_t *msg, size_t len, const char **v, size_t *vlen)
{
	struct pgread r;
	pgread_init(&r, msg + 5, len - 5);
	if (pgread_u16(&r) != 1)
		return -1;
	int32_t l = (int32_t)pgread_u32(&r);
	const uint8_t *p = l > 0 ? pgread_bytes(&r, (size_t)l) : NULL;
	if (p == NULL || !pgread_end(&r))
		return -1;
	*v = (const char *)p;
	*vlen = (size_t)l;
	return 0;
}

static int
relations_row(void *ctx, const uint8_t *msg, size_t len)
{
	const char *v;
	size_t l;
	json_t *rel = one_text_column(msg, len, &v, &l) == 0 ? relations_parse(v, l) : NULL;
	if (rel == NULL)
		return -1;
	policy_set_relations(ctx, rel);
	return 0;
}

static int
functions_row(void *ctx, const uint8_t *msg, size_t len)
{
	const char *v;
	size_t l;
	json_t *fns = one_text_column(msg, len, &v, &l) == 0 ?
	    relations_functions_parse(v, l) : NULL;
	if (fns == NULL)
		return -1;
	policy_set_functions(ctx, fns);
	return 0;
}

/* Gateway-mode masking with column rules for this person. */
static int
gateway_masked(const struct relay_session *s)
{
	const char *mode = json_string_value(json_object_get(s->mask_rules, "mode"));
	return s->policy_on && mode != NULL && strcmp(mode, "gateway") == 0 &&
	    json_array_size(json_object_get(s->mask_rules, "columns")) > 0;
}

int
catalog_refresh(struct relay_session *s)
{
	struct endpoint *sv = &s->up.ep;
	if (s->policy_on && catalog_query(sv, relations_query(), relations_row, &s->policy) != 0) {
		log_error("session %s: catalog lookup of views and rules failed", s->session_id);
		return -1;
	}
	char *fsql = gateway_masked(s) ? relations_functions_query(s->mask_rules) : NULL;
	if (fsql == NULL && s->policy_on)
		policy_set_functions(&s->policy, NULL);
	int rc = fsql != NULL ? catalog_query(sv, fsql, functions_row, &s->policy) : 0;
	free(fsql);
	if (rc != 0) {
		log_error("session %s: catalog lookup of functions failed", s->session_id);
		return -1;
	}
	if (!s->masking_on)
		return 0;
	char *sql = masking_catalog_query(&s->masking);
	if (sql == NULL)
		return 0;
	masking_clear_catalog(&s->masking);
	rc = catalog_query(sv, sql, mask_catalog_row, &s->masking);
	free(sql);
	if (rc != 0)
		log_error("session %s: catalog lookup for masking failed", s->session_id);
	return rc;
}

int
catalog_changed_by(const uint8_t *tag, size_t len)
{
	static const char *const tags[] = { "CREATE", "ALTER", "DROP", "DO", "CALL", NULL };
	for (int i = 0; tags[i] != NULL; i++) {
		size_t n = strlen(tags[i]);
		if (len > n && memcmp(tag, tags[i], n) == 0 && (tag[n] == ' ' || tag[n] == '\0'))
			return 1;
	}
	return 0;
}

