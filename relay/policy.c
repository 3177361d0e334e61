#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pg_query.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sha256.h"
#include "shapekey.h"
#include "utf8.h"

#define GENERATION_FIELD 21

struct cached {
	enum policy_action action;
	uint64_t generation;
	char rule[128];
	char message[256];
	int has_max_rows;
	long max_rows;
};

int
policy_init(struct policy *p, const char *socket, const char *generation_file, int timeout_ms)
{
	memset(p, 0, sizeof *p);
	p->socket = socket;
	p->timeout_ms = timeout_ms;
	p->c.fd = -1;
	if (strmap_init(&p->cache, free) != 0)
		return -1;
	if (generation_file != NULL) {
		int fd = open(generation_file, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			void *m = mmap(NULL, GENERATION_FIELD, PROT_READ, MAP_SHARED, fd, 0);
			struct stat st;
			if (m != MAP_FAILED && fstat(fd, &st) == 0 && st.st_size >= GENERATION_FIELD) {
				p->generation_map = m;
				p->generation_len = GENERATION_FIELD;
			} else if (m != MAP_FAILED) {
				munmap(m, GENERATION_FIELD);
			}
			close(fd);
		}
		if (p->generation_map == NULL)
			log_warn("cannot map the policy generation file %s: decisions are not cached",
			    generation_file);
	}
	return 0;
}

void
policy_free(struct policy *p)
{
	if (p->generation_map != NULL)
		munmap((void *)p->generation_map, p->generation_len);
	ipc_client_close(&p->c);
	strmap_free(&p->cache);
	json_decref(p->relations);
	p->relations = NULL;
	json_decref(p->functions);
	p->functions = NULL;
	json_decref(p->groups);
	p->groups = NULL;
	json_decref(p->actor);
	p->actor = NULL;
}

uint64_t
policy_generation(const struct policy *p)
{
	if (p->generation_map == NULL)
		return 0;
	char buf[GENERATION_FIELD + 1];
	for (size_t i = 0; i < GENERATION_FIELD; i++)
		buf[i] = p->generation_map[i];
	buf[GENERATION_FIELD] = '\0';
	return strtoull(buf, NULL, 10);
}

/* Questions to the filter have no side effect that a repeat could
 * double. max_line: the longest reply taken (0: the default). */
static int
call(struct policy *p, json_t *req, json_t **reply, int timeout_ms, size_t max_line,
    char *err, size_t errlen)
{
	int rc = ipc_client_call_path(&p->c, p->socket, p->timeout_ms, req, reply, timeout_ms,
	    max_line, err, errlen);
	json_decref(req);
	if (rc != 0)
		return -1;
	if (!json_is_true(json_object_get(*reply, "ok"))) {
		const char *e = json_string_value(json_object_get(*reply, "error"));
		snprintf(err, errlen, "pgward-filter: %s", e ? e : "request refused");
		json_decref(*reply);
		*reply = NULL;
		return -1;
	}
	return 0;
}

static json_t *
request(struct policy *p, const char *op)
{
	json_t *r = json_pack("{s:i, s:s, s:s, s:O, s:s, s:s, s:s, s:s, s:s*}", "v",
	    PGWARD_IPC_VERSION, "op", op, "user", p->user, "groups", p->groups,
	    "connection", p->connection, "role", p->role, "session",
	    p->session ? p->session : "", "principal", p->principal ? p->principal :
	    "person", "client_id", p->client_id);
	/* No chain (out of memory) is no request: never ask as someone else. */
	if (r != NULL && (p->actor == NULL || json_object_set(r, "actor", p->actor) != 0)) {
		json_decref(r);
		return NULL;
	}
	return r;
}

static void
text_key(const char *sql, char out[80])
{
	unsigned char md[32];
	if (sha256_parts(sql, strlen(sql), NULL, 0, NULL, 0, md) != 0) {
		out[0] = '\0';	/* no key: neither looked up nor stored */
		return;
	}
	static const char digits[] = "0123456789abcdef";
	out[0] = 't';
	out[1] = ':';
	for (int i = 0; i < 32; i++) {
		out[2 + 2 * i] = digits[md[i] >> 4];
		out[3 + 2 * i] = digits[md[i] & 15];
	}
	out[66] = '\0';
}

static int
from_cache(struct policy *p, const char *key, uint64_t gen, struct policy_decision *d)
{
	const struct cached *c = strmap_get(&p->cache, key);
	if (c == NULL || c->generation != gen)
		return 0;
	d->action = c->action;
	d->generation = gen;
	snprintf(d->rule, sizeof d->rule, "%s", c->rule);
	snprintf(d->message, sizeof d->message, "%s", c->message);
	d->has_max_rows = c->has_max_rows;
	d->max_rows = c->max_rows;
	d->cached = 1;
	return 1;
}

static void
cache_put(struct policy *p, const char *key, const struct policy_decision *d, uint64_t gen)
{
	if (key[0] == '\0')
		return;
	struct cached *c = calloc(1, sizeof *c);
	if (c == NULL)
		return;
	c->action = d->action;
	c->generation = gen;
	snprintf(c->rule, sizeof c->rule, "%s", d->rule);
	snprintf(c->message, sizeof c->message, "%s", d->message);
	c->has_max_rows = d->has_max_rows;
	c->max_rows = d->max_rows;
	strmap_put(&p->cache, key, c);
}

/* Replaces *slot by v (owned); a change drops the cached decisions. */
static void
set_catalog_fact(struct policy *p, json_t **slot, json_t *v)
{
	if (*slot != NULL && v != NULL && json_equal(*slot, v)) {
		json_decref(v);
		return;
	}
	json_decref(*slot);
	*slot = v;
	p->catalog_generation++;
	strmap_clear(&p->cache);
}

void
policy_set_relations(struct policy *p, json_t *relations)
{
	set_catalog_fact(p, &p->relations, relations);
}

void
policy_set_functions(struct policy *p, json_t *functions)
{
	set_catalog_fact(p, &p->functions, functions);
}

static int
builtin_deny(struct policy_decision *d, const char *rule, const char *sqlstate,
    const char *message)
{
	d->action = POLICY_DENY;
	snprintf(d->rule, sizeof d->rule, "%s", rule);
	snprintf(d->sqlstate, sizeof d->sqlstate, "%s", sqlstate);
	snprintf(d->message, sizeof d->message, "%s", message);
	return 0;
}

/* The review's approvers as words for the client's notice. */
static void
review_approvers(json_t *review, const char *user, char *out, size_t len)
{
	json_t *a = json_object_get(review, "approvers");
	out[0] = '\0';
	if (json_is_true(json_object_get(review, "self")) ||
	    (json_array_size(a) == 1 && json_is_string(json_array_get(a, 0)) &&
	    strcmp(json_string_value(json_array_get(a, 0)), "self") == 0)) {
		snprintf(out, len, "the person %s, with their own token", user);
		return;
	}
	size_t o = 0, i;
	json_t *g;
	json_array_foreach(a, i, g) {
		if (!json_is_string(g) || o >= len)
			continue;
		o += (size_t)snprintf(out + o, len - o, "%s%s", o == 0 ? "a member of " : ", ",
		    json_string_value(g));
	}
}

int
policy_decide(struct policy *p, const char *sql, struct policy_decision *d, char *err,
    size_t errlen)
{
	memset(d, 0, sizeof *d);
	p->lookups++;
	size_t len = strlen(sql);
	/* Before the cache, so the answer does not depend on what this session
	 * ran before. json_string() refuses invalid UTF-8: never ask about
	 * another text than the one that runs. */
	if (!utf8_valid(sql, len))
		return builtin_deny(d, "builtin:invalid-utf8", "22021",
		    "the statement is not valid UTF-8, and the policy service decides "
		    "UTF-8 text only (use client_encoding UTF8)");
	if (p->max_sql > 0 && len > (size_t)p->max_sql) {
		char m[160];
		snprintf(m, sizeof m, "statement too large for the policy service "
		    "(%zu bytes; limit %ld)", len, p->max_sql);
		return builtin_deny(d, "builtin:statement-too-large", "54000", m);
	}
	uint64_t gen = policy_generation(p);
	char fkey[40] = "", tkey[80] = "", nkey[80] = "";
	if (gen != 0) {
		/* Shape keys (the cheap one, then the fingerprint) are valid only
		 * for shapes the filter said depend on no constant: only those are
		 * stored under them. Others are stored under the exact text.
		 * So a shape decided for a short text holds for a longer one: the
		 * filter says "fingerprint" only when no fact depends on a
		 * constant, and a constant's length is no fact. The one thing
		 * length changes, the filter's size limit, is checked above,
		 * before any lookup. */
		text_key(sql, tkey);
		char shape[65];
		if (shapekey_of(sql, shape) == 0)
			snprintf(nkey, sizeof nkey, "n:%s", shape);
		if ((tkey[0] && from_cache(p, tkey, gen, d)) || (nkey[0] && from_cache(p, nkey, gen, d))) {
			p->hits++;
			return 0;
		}
		PgQueryFingerprintResult fr = pg_query_fingerprint(sql);
		if (fr.error == NULL && fr.fingerprint_str != NULL)
			snprintf(fkey, sizeof fkey, "f:%s", fr.fingerprint_str);
		pg_query_free_fingerprint_result(fr);
		if (fkey[0] && from_cache(p, fkey, gen, d)) {
			if (nkey[0])
				cache_put(p, nkey, d, gen);
			p->hits++;
			return 0;
		}
	}
	json_t *req = request(p, "decide");
	if (req == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_t *jsql = json_stringn(sql, len);
	if (jsql == NULL || json_object_set_new(req, "sql", jsql) != 0) {
		json_decref(req);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* The filter parses the text twice (libpg_query, then its JSON tree):
	 * allow 1 ms a 10 kB (100 MB/s) on top of the timeout. */
	long long t = p->timeout_ms + (long long)(len / 10000);
	if (p->relations != NULL && json_object_size(p->relations) > 0)
		json_object_set(req, "relations", p->relations);
	if (p->functions != NULL && json_array_size(p->functions) > 0)
		json_object_set(req, "functions", p->functions);
	json_t *reply;
	if (call(p, req, &reply, t > 0x7fffffff ? 0x7fffffff : (int)t, ipc_line_limit(len),
	    err, errlen) != 0)
		return -1;
	const char *decision = json_string_value(json_object_get(reply, "decision"));
	const char *rule = json_string_value(json_object_get(reply, "rule"));
	const char *message = json_string_value(json_object_get(reply, "message"));
	const char *cache = json_string_value(json_object_get(reply, "cache"));
	d->generation = (uint64_t)json_integer_value(json_object_get(reply, "generation"));
	if (decision == NULL || (strcmp(decision, "allow") != 0 && strcmp(decision, "deny") != 0 &&
	    strcmp(decision, "review") != 0)) {
		snprintf(err, errlen, "pgward-filter gave no decision");
		json_decref(reply);
		return -1;
	}
	d->action = decision[0] == 'a' ? POLICY_ALLOW : decision[0] == 'd' ? POLICY_DENY :
	    POLICY_REVIEW;
	snprintf(d->rule, sizeof d->rule, "%s", rule ? rule : "");
	snprintf(d->message, sizeof d->message, "%s", message ? message : "");
	if (strcmp(d->rule, "builtin:statement-too-large") == 0)
		snprintf(d->sqlstate, sizeof d->sqlstate, "54000");
	json_t *max_rows = json_object_get(reply, "max_rows");
	if (max_rows != NULL) {
		/* Fail closed: a limit the relay cannot read is no limit at all. */
		if (!json_is_integer(max_rows) || json_integer_value(max_rows) < 0 ||
		    json_integer_value(max_rows) > 1000000000) {
			snprintf(err, errlen, "pgward-filter gave an invalid max_rows");
			json_decref(reply);
			return -1;
		}
		d->has_max_rows = 1;
		d->max_rows = (long)json_integer_value(max_rows);
	}
	if (d->action == POLICY_REVIEW) {
		const char *id = json_string_value(json_object_get(json_object_get(reply, "review"), "id"));
		if (id == NULL) {
			snprintf(err, errlen, "pgward-filter asked for a review without an id");
			json_decref(reply);
			return -1;
		}
		snprintf(d->review_id, sizeof d->review_id, "%s", id);
		review_approvers(json_object_get(reply, "review"), p->user, d->approvers,
		    sizeof d->approvers);
	}
	/* Only under the generation the reply was made for, and never a review. */
	if (gen != 0 && d->generation == gen && d->action != POLICY_REVIEW && cache != NULL &&
	    (strcmp(cache, "fingerprint") == 0 || strcmp(cache, "text") == 0)) {
		if (strcmp(cache, "fingerprint") == 0) {
			cache_put(p, fkey, d, gen);
			cache_put(p, nkey, d, gen);
		}
		cache_put(p, tkey, d, gen);	/* the same text always has the same facts */
	}
	json_decref(reply);
	return 0;
}

int
policy_connect(struct policy *p, long long *expires, json_t **mask, char *err, size_t errlen)
{
	*expires = 0;
	*mask = NULL;
	json_t *req = request(p, "connect");
	if (req == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_t *reply;
	if (call(p, req, &reply, p->timeout_ms, 0, err, errlen) != 0)
		return -1;
	const char *decision = json_string_value(json_object_get(reply, "decision"));
	const char *rule = json_string_value(json_object_get(reply, "rule"));
	json_t *exp = json_object_get(reply, "expires");
	int rc = decision != NULL && strcmp(decision, "allow") == 0 ? 0 : 1;
	if (rc == 0 && json_is_integer(exp))
		*expires = json_integer_value(exp);
	json_t *max = json_object_get(reply, "max_statement_bytes");
	p->max_sql = json_is_integer(max) && json_integer_value(max) > 0 ?
	    (long)json_integer_value(max) : 0;
	json_t *rows = json_object_get(reply, "record_rows");
	p->record_rows = rc == 0 && json_is_integer(rows) && json_integer_value(rows) > 0 ?
	    (long)json_integer_value(rows) : 0;
	json_t *m = json_object_get(reply, "mask");
	if (rc == 0 && json_is_object(m) && json_object_size(m) > 0)
		*mask = json_incref(m);
	if (rc == 1)
		snprintf(err, errlen, "%s", rule ? rule : "no rule");
	json_decref(reply);
	return rc;
}

int
policy_review_wait(struct policy *p, const char *id, int wait_ms, char *by, size_t bylen,
    char *err, size_t errlen)
{
	json_t *req = json_pack("{s:i, s:s, s:s, s:i}", "v", PGWARD_IPC_VERSION, "op", "review_wait",
	    "id", id, "timeout_ms", wait_ms);
	json_t *reply;
	if (req == NULL || call(p, req, &reply, wait_ms + p->timeout_ms, 0, err, errlen) != 0)
		return -1;
	const char *status = json_string_value(json_object_get(reply, "status"));
	json_t *who = json_object_get(reply, "by");
	by[0] = '\0';
	size_t i;
	json_t *v;
	json_array_foreach(who, i, v) {
		const char *s = json_string_value(v);
		if (s == NULL && json_is_object(v))
			s = json_string_value(json_object_get(v, "user"));
		if (s != NULL) {
			size_t used = strlen(by);
			snprintf(by + used, bylen - used, "%s%s", used ? ", " : "", s);
		}
	}
	int rc = -1;
	if (status == NULL)
		snprintf(err, errlen, "pgward-filter gave no review status");
	else if (strcmp(status, "pending") == 0)
		rc = 0;
	else if (strcmp(status, "approved") == 0)
		rc = 1;
	else if (strcmp(status, "denied") == 0)
		rc = 2;
	else if (strcmp(status, "expired") == 0 || strcmp(status, "cancelled") == 0) {
		snprintf(err, errlen, "%s", status);
		rc = 3;
	}
	else
		snprintf(err, errlen, "unknown review status %s", status);
	json_decref(reply);
	return rc;
}

void
policy_review_cancel(struct policy *p, const char *id)
{
	char err[200];
	json_t *req = json_pack("{s:i, s:s, s:s}", "v", PGWARD_IPC_VERSION, "op", "review_cancel",
	    "id", id);
	json_t *reply = NULL;
	if (req != NULL && call(p, req, &reply, p->timeout_ms, 0, err, sizeof err) != 0)
		log_warn("review %s: cancel not delivered: %s", id, err);
	json_decref(reply);
}
