#include "filter/service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "filter/generation.h"
#include "filter/maskpred.h"
#include "log.h"

#define FINISHED_RETAIN_S 600
#define MAX_GROUPS 256

static long long now_s(struct filter_service *s);
static json_t *ok_reply(void);
static json_t *op_decide(struct filter_service *s, json_t *req);
static json_t *too_large(size_t n, size_t max, struct rule_decision *d);
static json_t *op_connect(struct filter_service *s, json_t *req);
static json_t *op_review_wait(struct filter_service *s, json_t *req);
static json_t *op_review_cancel(struct filter_service *s, json_t *req);
static json_t *op_status(struct filter_service *s);
static json_t *op_approver(struct filter_service *s, const char *op, json_t *req);
static int identity_of(json_t *req, struct rule_identity *id,
    struct principal *who, const char **groups, size_t max, char *err,
    size_t errlen);
static json_t *verify_token(struct filter_service *s, json_t *req, char *err,
    size_t errlen);
static json_t *auth_verify(void *ctx, const char *token, char *err, size_t errlen);
static int logd_append(void *ctx, json_t *record, char *err, size_t errlen);
static json_t *entry_view(json_t *e, const struct review_party *by);
static int may_see(json_t *e, const struct review_party *by);
static int generation_bump(struct filter_service *s);
static int relations_check(json_t *rel, char *err, size_t errlen);
static int functions_check(json_t *fns, char *err, size_t errlen);

int
filter_service_check(const char *config_path, struct filter_config_result *c,
    struct rules_result *p, char *err, size_t errlen)
{
	p->policy = NULL;
	p->error = NULL;
	*c = filter_config_load(config_path);
	if (c->error != NULL) {
		snprintf(err, errlen, "%s", c->error);
		return PGWARD_EXIT_USAGE;
	}
	*p = rules_load(c->config->policy, c->config->review_default_timeout_s);
	if (p->error != NULL) {
		snprintf(err, errlen, "%s", p->error);
		return PGWARD_EXIT_USAGE;
	}
	if (p->policy->mask_predicates == RULES_REVIEW &&
	    c->config->audit_socket == NULL) {
		snprintf(err, errlen, "%s: mask predicates review needs reviews, which "
		    "need audit-socket", config_path);
		return PGWARD_EXIT_USAGE;
	}
	for (size_t i = 0; i < p->policy->nrules; i++)
		if (p->policy->rules[i].action == RULES_REVIEW &&
		    c->config->audit_socket == NULL) {
			snprintf(err, errlen, "%s: rule %s needs reviews, which need "
			    "audit-socket", config_path, p->policy->rules[i].name);
			return PGWARD_EXIT_USAGE;
		}
	return 0;
}

int
filter_service_open(struct filter_service *s, const char *config_path,
    filter_facts_fn facts, filter_facts_free_fn facts_free, char *err,
    size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->config_path = config_path;
	s->gen_fd = -1;
	s->auth.fd = -1;
	s->audit.fd = -1;
	s->facts = facts;
	s->facts_free = facts_free;
	s->verify = auth_verify;
	s->audit_append = logd_append;
	s->hook_ctx = s;
	int rc = filter_service_check(config_path, &s->config, &s->policy, err, errlen);
	if (rc != 0)
		return rc;
	const char *dir = s->config.config->state_dir;
	if (dir == NULL) {
		snprintf(err, errlen, "%s: state-dir is required", config_path);
		return PGWARD_EXIT_USAGE;
	}
	struct stat st;
	errno = 0;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "state-dir %s: %s", dir,
		    errno != 0 ? strerror(errno) : "not a directory");
		return PGWARD_EXIT_TEMP;
	}
	unsigned long long last;
	if ((s->gen_fd = generation_open(dir, &last, err, errlen)) < 0)
		return PGWARD_EXIT_TEMP;
	/* Continuing from the last generation keeps a relay's cached
	 * decisions from outliving a restart with a changed policy. */
	s->generation = last + 1;
	if (generation_write(s->gen_fd, s->generation) != 0) {
		snprintf(err, errlen, "unable to write %s/%s: %s", dir,
		    GENERATION_FILE, strerror(errno));
		return PGWARD_EXIT_TEMP;
	}
	json_t *dropped;
	if (review_store_open(&s->store, dir, FINISHED_RETAIN_S, now_s(s), &dropped,
	    err, errlen) != 0) {
		json_decref(dropped);
		return PGWARD_EXIT_TEMP;
	}
	s->store.audit = s->audit_append;
	s->store.audit_ctx = s->hook_ctx;
	size_t i;
	json_t *rec;
	json_array_foreach(dropped, i, rec) {
		char why[256];
		if (s->audit_append(s->hook_ctx, rec, why, sizeof why) != 0)
			log_warn("unable to audit the expiry of %s: %s",
			    json_string_value(json_object_get(rec, "id")), why);
	}
	if (json_array_size(dropped) > 0)
		log_info("dropped %zu expired entries from the state file",
		    json_array_size(dropped));
	json_decref(dropped);
	return 0;
}

void
filter_service_close(struct filter_service *s)
{
	filter_config_result_free(s->config);
	rules_result_free(s->policy);
	review_store_close(&s->store);
	if (s->auth.fd >= 0)
		ipc_client_close(&s->auth);
	if (s->audit.fd >= 0)
		ipc_client_close(&s->audit);
	if (s->gen_fd >= 0)
		close(s->gen_fd);
	memset(s, 0, sizeof *s);
	s->gen_fd = -1;
}

json_t *
filter_service_handle(struct filter_service *s, json_t *req)
{
	/* Hooks may have been replaced after open. */
	s->store.audit = s->audit_append;
	s->store.audit_ctx = s->hook_ctx;
	const char *op = json_string_value(json_object_get(req, "op"));
	if (op == NULL)
		return ipc_error_reply("unknown op");
	if (strcmp(op, "ping") == 0)
		return ok_reply();
	if (strcmp(op, "status") == 0)
		return op_status(s);
	if (strcmp(op, "decide") == 0)
		return op_decide(s, req);
	if (strcmp(op, "connect") == 0)
		return op_connect(s, req);
	if (strcmp(op, "review_wait") == 0)
		return op_review_wait(s, req);
	if (strcmp(op, "review_cancel") == 0)
		return op_review_cancel(s, req);
	static const char *const approver_ops[] = { "review_list", "review_show",
		"review_approve", "review_deny", "access_request", "access_grant",
		"access_deny", "access_list", NULL };
	for (int i = 0; approver_ops[i] != NULL; i++)
		if (strcmp(op, approver_ops[i]) == 0)
			return op_approver(s, op, req);
	return ipc_error_reply("unknown op");
}

void
filter_service_tick(struct filter_service *s)
{
	s->store.audit = s->audit_append;
	s->store.audit_ctx = s->hook_ctx;
	review_store_tick(&s->store, now_s(s));
}

int
filter_service_reload(struct filter_service *s)
{
	struct filter_config_result c;
	struct rules_result p;
	char err[1024];
	if (filter_service_check(s->config_path, &c, &p, err, sizeof err) != 0) {
		log_error("reload refused: %s; keeping generation %llu", err,
		    s->generation);
		filter_config_result_free(c);
		rules_result_free(p);
		return -1;
	}
	const struct filter_config *o = s->config.config;
	if ((o->listen_unix == NULL) != (c.config->listen_unix == NULL) ||
	    (o->listen_unix != NULL && strcmp(o->listen_unix, c.config->listen_unix) != 0) ||
	    (c.config->state_dir == NULL || strcmp(o->state_dir, c.config->state_dir) != 0))
		log_warn("reload: listen-unix and state-dir change only on restart");
	/* The state directory stays the one in use. */
	free(c.config->state_dir);
	c.config->state_dir = strdup(o->state_dir);
	if (c.config->state_dir == NULL) {
		log_error("reload refused: out of memory");
		filter_config_result_free(c);
		rules_result_free(p);
		return -1;
	}
	filter_config_result_free(s->config);
	rules_result_free(s->policy);
	s->config = c;
	s->policy = p;
	if (s->auth.fd >= 0)
		ipc_client_close(&s->auth);
	if (s->audit.fd >= 0)
		ipc_client_close(&s->audit);
	generation_bump(s);
	log_info("reloaded %s: policy %s, generation %llu", s->config_path,
	    p.policy->path, s->generation);
	return 0;
}

/* The action of the masked-column check for id (docs/policy.md, "mask
 * predicates"): the policy's "mask predicates" when given, else deny in
 * gateway mode and allow in database mode. *mask: id's mask rules. */
static enum rule_action
mask_action(const struct rules *p, const struct rule_identity *id, json_t **mask)
{
	*mask = NULL;
	if (rules_mask_json(p, id, mask) != 0)
		return RULES_DENY;	/* out of memory: fail closed */
	if (*mask == NULL)
		return RULES_ALLOW;
	const char *pred = json_string_value(json_object_get(*mask, "predicates"));
	const char *mode = json_string_value(json_object_get(*mask, "mode"));
	if (pred != NULL)
		return strcmp(pred, "allow") == 0 ? RULES_ALLOW :
		    strcmp(pred, "review") == 0 ? RULES_REVIEW : RULES_DENY;
	if (mode != NULL && strcmp(mode, "gateway") == 0)
		return RULES_DENY;
	return p->mask_predicates;
}

json_t *
filter_decide(const struct rules *p, filter_facts_fn facts,
    filter_facts_free_fn facts_free, const struct rule_identity *id,
    const char *sql, json_t *relations, json_t *functions, struct rule_decision *out)
{
	struct facts_result fr = facts(sql);
	struct rule_decision d;
	json_t *reply, *mask = NULL;
	char *mask_msg = NULL;
	int used = 0;
	if (fr.error == NULL && relations != NULL &&
	    facts_resolve(fr.statements, relations, &used) != 0) {
		facts_free(&fr);
		return NULL;
	}
	if (fr.error != NULL) {
		/* What the grammar cannot read cannot be judged: the default
		 * applies (docs/policy.md). */
		d = (struct rule_decision){ p->default_action, RULES_RULE_SYNTAX,
			NULL, NULL, 0 };
		reply = json_pack("{s:s, s:s, s:s, s:s, s:[]}", "decision",
		    rules_action_name(d.action), "rule", d.rule, "message", fr.error,
		    "cache", "none", "facts");
	} else {
		d = rules_decide(p, id, fr.statements);
		/* Masked columns (docs/policy.md): checked only when the check
		 * would decide more restrictively. Fail closed: a tree that
		 * cannot be read counts. */
		enum rule_action ma = mask_action(p, id, &mask);
		if (ma != RULES_ALLOW && d.action < ma) {
			struct maskpred_result mr = maskpred_find(mask, sql,
			    fr.statements, relations, functions);
			if (mr.masked || mr.error != NULL) {
				mask_msg = mr.message != NULL ? mr.message : NULL;
				mr.message = NULL;
				if (mask_msg == NULL && (mask_msg = malloc(strlen(mr.error) +
				    80)) != NULL)
					sprintf(mask_msg, "the statement could not be checked "
					    "for masked columns: %s", mr.error);
				d = (struct rule_decision){ ma, RULES_RULE_MASKED_PREDICATE,
					mask_msg != NULL ? mask_msg : "a column masked for you "
					"is used other than as a plain output column",
					&p->mask_pred_rule, 0 };
			}
			maskpred_result_free(&mr);
		}
		json_decref(mask);
		long max_rows = d.action == RULES_DENY ? -1 :
		    rules_row_limit(p, id, fr.statements, &d);
		/* A decision that used the relations map holds only while the
		 * catalog says the same: not to be cached. */
		const char *cache = d.action == RULES_REVIEW || fr.cache == NULL ||
		    used ? "none" : fr.cache;
		reply = json_pack("{s:s, s:s, s:s, s:O}", "decision",
		    rules_action_name(d.action), "rule", d.rule, "cache", cache,
		    "facts", fr.statements);
		if (reply != NULL && d.message != NULL)
			json_object_set_new(reply, "message", json_string(d.message));
		if (reply != NULL && max_rows >= 0)
			json_object_set_new(reply, "max_rows", json_integer(max_rows));
		if (reply != NULL && fr.fingerprint != NULL)
			json_object_set_new(reply, "fingerprint", json_string(fr.fingerprint));
		if (reply != NULL && json_array_size(fr.statements) > 1)
			json_object_set_new(reply, "statement", json_integer((json_int_t)d.index));
	}
	facts_free(&fr);
	if (mask_msg != NULL && d.message == mask_msg)
		d.message = "a column masked for you is used other than as a plain "
		    "output column (see the reply's message)";
	free(mask_msg);
	if (out != NULL)
		*out = d;
	return reply;
}

/* ---- operations ---- */

/* Refused unread: the filter will not hold more than max-statement-bytes. */
static json_t *
too_large(size_t n, size_t max, struct rule_decision *d)
{
	char m[160];
	snprintf(m, sizeof m, "statement too large for the policy service (%zu bytes; "
	    "limit %zu)", n, max);
	*d = (struct rule_decision){ RULES_DENY, RULES_RULE_TOO_LARGE, NULL, NULL, 0 };
	return json_pack("{s:s, s:s, s:s, s:s, s:[]}", "decision", "deny", "rule",
	    RULES_RULE_TOO_LARGE, "message", m, "cache", "none", "facts");
}

static json_t *
op_decide(struct filter_service *s, json_t *req)
{
	const char *groups[MAX_GROUPS];
	struct rule_identity id;
	struct principal who;
	char err[512];
	if (identity_of(req, &id, &who, groups, MAX_GROUPS, err, sizeof err) != 0)
		return ipc_error_reply(err);
	json_t *jsql = json_object_get(req, "sql");
	const char *sql = json_string_value(jsql);
	if (sql == NULL || strlen(sql) != json_string_length(jsql))
		return ipc_error_reply("sql must be a string without NUL");
	json_t *sess = json_object_get(req, "session");
	if (sess != NULL && !json_is_string(sess))
		return ipc_error_reply("session must be a string");
	json_t *rel = json_object_get(req, "relations");
	if (rel != NULL && relations_check(rel, err, sizeof err) != 0)
		return ipc_error_reply(err);
	json_t *fns = json_object_get(req, "functions");
	if (fns != NULL && functions_check(fns, err, sizeof err) != 0)
		return ipc_error_reply(err);
	struct rule_decision d;
	size_t max = (size_t)s->config.config->max_statement_bytes;
	json_t *r = json_string_length(jsql) > max ? too_large(json_string_length(jsql),
	    max, &d) : filter_decide(s->policy.policy, s->facts, s->facts_free, &id,
	    sql, rel, fns, &d);
	if (r == NULL)
		return ipc_error_reply("out of memory");
	if (d.action == RULES_REVIEW) {
		struct review_requester rq = { { id.user, json_object_get(req, "groups"),
			&who, req }, json_string_value(sess), id.connection, id.role };
		json_t *empty = NULL;
		if (rq.p.groups == NULL)
			rq.p.groups = empty = json_array();
		char why[768];
		json_t *rv = review_create(&s->store, &rq, sql, d.matched, now_s(s),
		    why, sizeof why);
		json_decref(empty);
		if (rv == NULL) {
			d.action = RULES_DENY;
			json_object_set_new(r, "decision", json_string("deny"));
			json_object_set_new(r, "message", json_pack("s++",
			    "the statement needs a review, which could not be started: ",
			    why, ""));
			log_warn("review for user=%s refused: %s", id.user, why);
		} else {
			json_object_set_new(r, "review", json_pack("{s:O, s:O, s:O, s:O, s:O}",
			    "id", json_object_get(rv, "id"),
			    "approvers", json_object_get(rv, "approvers"),
			    "approvals", json_object_get(rv, "approvals"),
			    "timeout_s", json_object_get(rv, "timeout_s"),
			    "expires", json_object_get(rv, "expires")));
			log_info("review %s created for user=%s rule=%s",
			    json_string_value(json_object_get(rv, "id")), id.user, d.rule);
		}
	}
	s->ndecide[d.action]++;
	json_object_set_new(r, "v", json_integer(PGWARD_IPC_VERSION));
	json_object_set_new(r, "ok", json_true());
	json_object_set_new(r, "generation", json_integer((json_int_t)s->generation));
	return r;
}

static json_t *
op_connect(struct filter_service *s, json_t *req)
{
	const char *groups[MAX_GROUPS];
	struct rule_identity id;
	struct principal who;
	char err[512];
	if (identity_of(req, &id, &who, groups, MAX_GROUPS, err, sizeof err) != 0)
		return ipc_error_reply(err);
	const struct rule_connect *c = rules_connect_find(s->policy.policy, &id);
	char rule[64];
	const char *decision = "allow";
	json_int_t expires = 0;
	if (c != NULL) {
		snprintf(rule, sizeof rule, "connect:%d", c->line);
	} else {
		const char *g = access_active(&s->store, id.user, &who, id.connection,
		    id.role, now_s(s));
		if (g != NULL) {
			snprintf(rule, sizeof rule, "grant:%s", g);
			expires = json_integer_value(json_object_get(
			    access_get(&s->store, g), "grant_expires"));
		} else {
			snprintf(rule, sizeof rule, "builtin:no-connect-rule");
			decision = "deny";
		}
	}
	json_t *r = json_pack("{s:i, s:b, s:s, s:s, s:I, s:I}", "v", PGWARD_IPC_VERSION,
	    "ok", 1, "decision", decision, "rule", rule, "generation",
	    (json_int_t)s->generation, "max_statement_bytes",
	    (json_int_t)s->config.config->max_statement_bytes);
	if (r != NULL && expires != 0)
		json_object_set_new(r, "expires", json_integer(expires));
	if (r != NULL && strcmp(decision, "allow") == 0) {
		/* The mask rules for this person (mask/mask.h); absent when
		 * nothing is masked for them. Fail closed: no reply without. */
		json_t *mask;
		if (rules_mask_json(s->policy.policy, &id, &mask) != 0) {
			json_decref(r);
			return ipc_error_reply("out of memory");
		}
		if (mask != NULL)
			json_object_set_new(r, "mask", mask);
		long rows = rules_record_rows(s->policy.policy, &id);
		if (rows > 0)
			json_object_set_new(r, "record_rows", json_integer(rows));
	}
	if (r != NULL && strcmp(decision, "deny") == 0)
		json_object_set_new(r, "message", json_pack("s+++++",
		    "no connect line lets you assume role ", id.role, " on connection ",
		    id.connection, " (ask with: pgward-filter access request ",
		    "CONNECTION ROLE SECONDS REASON)"));
	return r;
}

static json_t *
op_review_wait(struct filter_service *s, json_t *req)
{
	json_t *r = review_get(&s->store,
	    json_string_value(json_object_get(req, "id")));
	if (r == NULL)
		return ipc_error_reply("no such review");
	long long now = now_s(s);
	const char *st = json_string_value(json_object_get(r, "status"));
	/* Expiry is reported as soon as it is due, not at the next tick. */
	if (strcmp(st, "pending") == 0 &&
	    now >= json_integer_value(json_object_get(r, "expires")))
		st = "expired";
	json_t *reply = json_pack("{s:i, s:b, s:s, s:O}", "v", PGWARD_IPC_VERSION,
	    "ok", 1, "status", st, "by", json_object_get(r, "by"));
	json_t *den = json_object_get(r, "denied_by");
	if (reply != NULL && den != NULL)
		json_object_set(reply, "denied_by", den);
	return reply;
}

static json_t *
op_review_cancel(struct filter_service *s, json_t *req)
{
	char err[768];
	const char *id = json_string_value(json_object_get(req, "id"));
	if (review_cancel(&s->store, id, now_s(s), err, sizeof err) != 0)
		return ipc_error_reply(err);
	json_t *r = review_get(&s->store, id);
	return json_pack("{s:i, s:b, s:O}", "v", PGWARD_IPC_VERSION, "ok", 1,
	    "status", json_object_get(r, "status"));
}

static json_t *
op_status(struct filter_service *s)
{
	long long now = now_s(s);
	json_int_t pending = 0, requests = 0, grants = 0;
	const char *k;
	json_t *e;
	json_object_foreach(s->store.reviews, k, e)
		pending += strcmp(json_string_value(json_object_get(e, "status")),
		    "pending") == 0;
	json_object_foreach(s->store.access, k, e) {
		const char *st = json_string_value(json_object_get(e, "status"));
		requests += strcmp(st, "pending") == 0;
		grants += strcmp(st, "granted") == 0 &&
		    now < json_integer_value(json_object_get(e, "grant_expires"));
	}
	const struct rules *p = s->policy.policy;
	return json_pack("{s:i, s:b, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I}}",
	    "v", PGWARD_IPC_VERSION, "ok", 1,
	    "generation", (json_int_t)s->generation, "policy", p->path,
	    "rules", (json_int_t)p->nrules, "connects", (json_int_t)p->nconnects,
	    "reviews_pending", pending, "access_pending", requests,
	    "grants_active", grants, "decisions",
	    "allow", (json_int_t)s->ndecide[RULES_ALLOW],
	    "review", (json_int_t)s->ndecide[RULES_REVIEW],
	    "deny", (json_int_t)s->ndecide[RULES_DENY]);
}

static json_t *
op_approver(struct filter_service *s, const char *op, json_t *req)
{
	char err[1024];
	json_t *who = verify_token(s, req, err, sizeof err);
	if (who == NULL)
		return ipc_error_reply(err);
	const char *user = json_string_value(json_object_get(who, "user"));
	json_t *groups = json_object_get(who, "groups");
	struct principal byp;
	if (principal_read(who, &byp, err, sizeof err) != 0) {
		log_warn("pgward-auth's answer for %s: %s", user, err);
		json_decref(who);
		return ipc_error_reply("pgward-auth gave a malformed principal or actor");
	}
	struct review_party by = { user, groups, &byp, who };
	long long now = now_s(s);
	const char *id = json_string_value(json_object_get(req, "id"));
	json_t *reply = NULL;
	int rc = 0;

	if (strcmp(op, "review_list") == 0 || strcmp(op, "access_list") == 0) {
		json_t *map = op[0] == 'r' ? s->store.reviews : s->store.access;
		json_t *list = json_array();
		const char *k;
		json_t *e;
		json_object_foreach(map, k, e)
			if (may_see(e, &by))
				json_array_append_new(list, entry_view(e, &by));
		reply = json_pack("{s:i, s:b, s:o}", "v", PGWARD_IPC_VERSION, "ok", 1,
		    op[0] == 'r' ? "reviews" : "requests", list);
	} else if (strcmp(op, "review_show") == 0) {
		json_t *e = review_get(&s->store, id);
		if (e == NULL || !may_see(e, &by))
			snprintf(err, sizeof err, "no such review (or not yours to see)");
		else
			reply = json_pack("{s:i, s:b, s:o}", "v", PGWARD_IPC_VERSION,
			    "ok", 1, "review", entry_view(e, &by));
	} else if (strcmp(op, "review_approve") == 0 || strcmp(op, "review_deny") == 0) {
		int approve = strcmp(op, "review_approve") == 0;
		rc = review_decide(&s->store, id, &by, approve, now, err, sizeof err);
		if (rc == 0) {
			json_t *e = review_get(&s->store, id);
			log_info("review %s %s by %s", id, approve ? "approved" : "denied", user);
			reply = json_pack("{s:i, s:b, s:O, s:O}", "v", PGWARD_IPC_VERSION,
			    "ok", 1, "status", json_object_get(e, "status"),
			    "by", json_object_get(e, "by"));
		}
	} else if (strcmp(op, "access_request") == 0) {
		const char *conn = json_string_value(json_object_get(req, "connection"));
		const char *role = json_string_value(json_object_get(req, "role"));
		const char *reason = json_string_value(json_object_get(req, "reason"));
		json_t *jd = json_object_get(req, "duration_s");
		const char *gl[MAX_GROUPS];
		size_t ng = 0, i;
		json_t *g;
		json_array_foreach(groups, i, g)
			if (ng < MAX_GROUPS && json_is_string(g))
				gl[ng++] = json_string_value(g);
		struct rule_identity pid = { user, gl, ng, conn, role, &byp };
		const struct rule_access *a;
		if (conn == NULL || role == NULL || reason == NULL || *reason == '\0' ||
		    !json_is_integer(jd) || json_integer_value(jd) < 1) {
			snprintf(err, sizeof err, "access_request needs connection, role, "
			    "duration_s (seconds, > 0) and a reason");
		} else if ((a = rules_access_find(s->policy.policy, &pid, conn, role)) == NULL) {
			snprintf(err, sizeof err, "no access line lets your groups request "
			    "role %s on connection %s", role, conn);
		} else if (json_integer_value(jd) > a->max_duration_s) {
			snprintf(err, sizeof err, "duration %lld s is more than the %ld s "
			    "allowed for role %s on %s", (long long)json_integer_value(jd),
			    a->max_duration_s, role, conn);
		} else {
			struct review_requester rq = { by, NULL, conn, role };
			json_t *e = access_create(&s->store, &rq,
			    (long)json_integer_value(jd), reason, a,
			    s->config.config->access_request_timeout_s, now, err, sizeof err);
			if (e != NULL) {
				log_info("access request %s by %s for %s on %s",
				    json_string_value(json_object_get(e, "id")), user, role, conn);
				reply = json_pack("{s:i, s:b, s:O, s:O, s:O}", "v",
				    PGWARD_IPC_VERSION, "ok", 1, "id", json_object_get(e, "id"),
				    "approvers", json_object_get(e, "approvers"),
				    "status", json_object_get(e, "status"));
			}
		}
	} else {
		int approve = strcmp(op, "access_grant") == 0;
		rc = access_decide(&s->store, id, &by, approve, now, err, sizeof err);
		if (rc == 0) {
			json_t *e = access_get(&s->store, id);
			log_info("access %s %s by %s", id, approve ? "approved" : "denied", user);
			reply = json_pack("{s:i, s:b, s:O, s:O}", "v", PGWARD_IPC_VERSION,
			    "ok", 1, "status", json_object_get(e, "status"),
			    "by", json_object_get(e, "by"));
			json_t *ge = json_object_get(e, "grant_expires");
			if (reply != NULL && ge != NULL)
				json_object_set(reply, "grant_expires", ge);
		}
	}
	if (reply == NULL) {
		log_info("%s by %s refused: %s", op, user, err);
		reply = ipc_error_reply(err);
	}
	json_decref(who);
	return reply;
}

/* ---- helpers ---- */

static long long
now_s(struct filter_service *s)
{
	return s->fixed_now != 0 ? s->fixed_now : (long long)time(NULL);
}

static json_t *
ok_reply(void)
{
	return json_pack("{s:i, s:b}", "v", PGWARD_IPC_VERSION, "ok", 1);
}

/* The person, the connection and role, and who acts (principal, actor,
 * client_id: absent from an older relay's request, a person with no
 * actor). */
static int
identity_of(json_t *req, struct rule_identity *id, struct principal *who,
    const char **groups, size_t max, char *err, size_t errlen)
{
	memset(id, 0, sizeof *id);
	if (principal_read(req, who, err, errlen) != 0)
		return -1;
	id->who = who;
	static const char *const keys[] = { "user", "connection", "role" };
	const char **dst[] = { &id->user, &id->connection, &id->role };
	for (int i = 0; i < 3; i++) {
		*dst[i] = json_string_value(json_object_get(req, keys[i]));
		if (*dst[i] == NULL || **dst[i] == '\0') {
			snprintf(err, errlen, "%s must be a non-empty string", keys[i]);
			return -1;
		}
	}
	json_t *g = json_object_get(req, "groups");
	if (g != NULL && !json_is_array(g)) {
		snprintf(err, errlen, "groups must be an array of strings");
		return -1;
	}
	if (json_array_size(g) > max) {
		snprintf(err, errlen, "more than %zu groups", max);
		return -1;
	}
	size_t i;
	json_t *v;
	json_array_foreach(g, i, v) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "groups must be an array of strings");
			return -1;
		}
		groups[i] = json_string_value(v);
	}
	id->groups = groups;
	id->ngroups = json_array_size(g);
	return 0;
}

static json_t *
verify_token(struct filter_service *s, json_t *req, char *err, size_t errlen)
{
	const char *token = json_string_value(json_object_get(req, "token"));
	if (token == NULL || *token == '\0') {
		snprintf(err, errlen, "this operation needs your token");
		return NULL;
	}
	json_t *who = s->verify(s->hook_ctx, token, err, errlen);
	if (who == NULL)
		return NULL;
	if (json_string_value(json_object_get(who, "user")) == NULL ||
	    !json_is_array(json_object_get(who, "groups"))) {
		json_decref(who);
		snprintf(err, errlen, "pgward-auth gave no user and groups");
		return NULL;
	}
	return who;
}

static json_t *
auth_verify(void *ctx, const char *token, char *err, size_t errlen)
{
	struct filter_service *s = ctx;
	const char *path = s->config.config->auth_socket;
	if (path == NULL) {
		snprintf(err, errlen, "tokens cannot be checked: auth-socket is not "
		    "configured");
		return NULL;
	}
	json_t *req = json_pack("{s:i, s:s, s:s}", "v", PGWARD_IPC_VERSION, "op",
	    "verify", "token", token);
	json_t *reply = NULL;
	char why[512];
	int t = (int)s->config.config->ipc_timeout_ms;
	int rc = ipc_client_call_path(&s->auth, path, t, req, &reply, t, 0, why,
	    sizeof why);
	json_decref(req);
	if (rc != 0) {
		snprintf(err, errlen, "pgward-auth is unavailable: %s", why);
		return NULL;
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		json_decref(reply);
		snprintf(err, errlen, "token not accepted");
		return NULL;
	}
	return reply;
}

static int
logd_append(void *ctx, json_t *record, char *err, size_t errlen)
{
	struct filter_service *s = ctx;
	const char *path = s->config.config->audit_socket;
	if (path == NULL) {
		snprintf(err, errlen, "audit-socket is not configured");
		return -1;
	}
	json_t *req = json_pack("{s:i, s:s, s:O}", "v", PGWARD_IPC_VERSION, "op",
	    "append", "record", record);
	json_t *reply = NULL;
	int t = (int)s->config.config->ipc_timeout_ms;
	int rc = ipc_client_call_path(&s->audit, path, t, req, &reply, t, 0, err,
	    errlen);
	json_decref(req);
	if (rc != 0)
		return -1;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		snprintf(err, errlen, "pgward-logd: %s", e != NULL ? e : "refused");
		json_decref(reply);
		return -1;
	}
	json_decref(reply);
	return 0;
}

static int
may_see(json_t *e, const struct review_party *by)
{
	return strcmp(json_string_value(json_object_get(e, "user")), by->user) == 0 ||
	    review_may_decide(e, by, NULL, 0);
}

static json_t *
entry_view(json_t *e, const struct review_party *by)
{
	json_t *v = json_deep_copy(e);
	json_object_del(v, "unaudited");
	json_object_set_new(v, "can_decide", json_boolean(
	    strcmp(json_string_value(json_object_get(e, "status")), "pending") == 0 &&
	    review_may_decide(e, by, NULL, 0)));
	return v;
}

/* "relations": {"NAME": ["BASE", ...], ...}, names non-empty strings. */
static int
relations_check(json_t *rel, char *err, size_t errlen)
{
	const char *k;
	json_t *v, *b;
	size_t i;
	if (!json_is_object(rel)) {
		snprintf(err, errlen, "relations must be an object mapping relation "
		    "names to arrays of base table names");
		return -1;
	}
	json_object_foreach(rel, k, v) {
		if (*k == '\0' || !json_is_array(v)) {
			snprintf(err, errlen, "relations: \"%.200s\" must map to an array "
			    "of base table names", k);
			return -1;
		}
		json_array_foreach(v, i, b)
			if (!json_is_string(b) || json_string_length(b) == 0) {
				snprintf(err, errlen, "relations: \"%.200s\": base table "
				    "names must be non-empty strings", k);
				return -1;
			}
	}
	return 0;
}

static int
generation_bump(struct filter_service *s)
{
	s->generation++;
	if (s->gen_fd >= 0 && generation_write(s->gen_fd, s->generation) != 0) {
		log_warn_sys("unable to write the generation file");
		return -1;
	}
	return 0;
}

/* "functions": ["NAME", ...], names non-empty strings. */
static int
functions_check(json_t *fns, char *err, size_t errlen)
{
	size_t i;
	json_t *f;
	if (!json_is_array(fns)) {
		snprintf(err, errlen, "functions must be an array of function names");
		return -1;
	}
	json_array_foreach(fns, i, f)
		if (!json_is_string(f) || json_string_length(f) == 0) {
			snprintf(err, errlen, "functions: element %zu must be a non-empty string", i);
			return -1;
		}
	return 0;
}
