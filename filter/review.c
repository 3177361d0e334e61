#include "filter/review.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"

#define STATE_FILE "state.json"

static int store_save(struct review_store *s, char *err, size_t errlen);
static int audit(struct review_store *s, json_t *record, char *err, size_t errlen);
static void new_id(char prefix, char *out, size_t len);
static json_t *string_list(const struct conf_list *l);
static int groups_intersect(json_t *approvers, json_t *groups);
static int array_has(json_t *a, const char *s);
static int entry_decide(struct review_store *s, json_t *map, const char *kind,
    const char *id, const struct review_party *by, int approve,
    long long now, char *err, size_t errlen);
static int acts_for_person(const struct principal *who);
static int entry_self(json_t *e, int self, const struct review_party *who,
    char *err, size_t errlen);
static int same_pair(json_t *e, const struct principal *who);
static json_t *expiry_record(const char *kind, json_t *e, const char *what);
static int entry_due(json_t *e, long long now, long retain_s, const char **what);

int
review_store_open(struct review_store *s, const char *dir, long retain_s,
    long long now, json_t **dropped, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->retain_s = retain_s;
	s->reviews = json_object();
	s->access = json_object();
	*dropped = json_array();
	if (s->reviews == NULL || s->access == NULL || *dropped == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (dir == NULL)
		return 0;
	if (asprintf(&s->path, "%s/%s", dir, STATE_FILE) < 0) {
		s->path = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_error_t je;
	json_t *root = json_load_file(s->path, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		if (access(s->path, F_OK) != 0 && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s:%d: %s", s->path, je.line, je.text);
		return -1;
	}
	json_t *rv = json_object_get(root, "reviews");
	json_t *ac = json_object_get(root, "access");
	if (!json_is_object(rv) || !json_is_object(ac)) {
		json_decref(root);
		snprintf(err, errlen, "%s: expected {\"reviews\":{...},\"access\":{...}}",
		    s->path);
		return -1;
	}
	const char *kinds[] = { "review", "access" };
	json_t *maps[] = { rv, ac };
	json_t *dst[] = { s->reviews, s->access };
	for (int m = 0; m < 2; m++) {
		const char *id;
		json_t *e;
		json_object_foreach(maps[m], id, e) {
			const char *what = NULL;
			if (!json_is_object(e) ||
			    !json_is_string(json_object_get(e, "status")) ||
			    !json_is_string(json_object_get(e, "user"))) {
				json_decref(root);
				snprintf(err, errlen, "%s: entry %s is malformed", s->path, id);
				return -1;
			}
			if (entry_due(e, now, s->retain_s, &what)) {
				if (what != NULL)
					json_array_append_new(*dropped,
					    expiry_record(kinds[m], e, what));
				continue;
			}
			json_object_set(dst[m], id, e);
		}
	}
	json_decref(root);
	return 0;
}

void
review_store_close(struct review_store *s)
{
	free(s->path);
	json_decref(s->reviews);
	json_decref(s->access);
	memset(s, 0, sizeof *s);
}

json_t *
review_create(struct review_store *s, const struct review_requester *who,
    const char *sql, const struct rule *rule, long long now, char *err,
    size_t errlen)
{
	char id[40];
	new_id('r', id, sizeof id);
	json_t *r = json_pack("{s:s, s:s, s:s, s:O, s:s?, s:s?, s:s?, s:s, s:s, "
	    "s:o, s:I, s:I, s:I, s:I, s:[]}",
	    "id", id, "status", "pending", "user", who->p.user, "groups", who->p.groups,
	    "session", who->session, "connection", who->connection, "role", who->role,
	    "sql", sql, "rule", rule->name, "approvers", string_list(&rule->approvers),
	    "approvals", (json_int_t)rule->approvals, "timeout_s",
	    (json_int_t)rule->timeout_s, "created", (json_int_t)now,
	    "expires", (json_int_t)(now + rule->timeout_s), "by");
	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (entry_self(r, rule->approvers_self, &who->p, err, errlen) != 0) {
		json_decref(r);
		return NULL;
	}
	json_t *rec = json_deep_copy(r);
	json_object_set_new(rec, "type", json_string("review"));
	json_object_set_new(rec, "event", json_string("created"));
	json_object_del(rec, "by");
	json_object_del(rec, "status");
	if (audit(s, rec, err, errlen) != 0) {
		json_decref(r);
		return NULL;
	}
	json_object_set_new(s->reviews, id, r);
	if (store_save(s, err, errlen) != 0) {
		json_object_del(s->reviews, id);
		return NULL;
	}
	return r;
}

json_t *
review_get(struct review_store *s, const char *id)
{
	return id == NULL ? NULL : json_object_get(s->reviews, id);
}

int
review_decide(struct review_store *s, const char *id,
    const struct review_party *by, int approve, long long now, char *err,
    size_t errlen)
{
	return entry_decide(s, s->reviews, "review", id, by, approve, now, err,
	    errlen);
}

int
review_may_decide(json_t *e, const struct review_party *by, char *err,
    size_t errlen)
{
	char none[1];
	if (errlen == 0) {
		err = none;
		errlen = sizeof none;
	}
	const char *kind = json_object_get(e, "sql") != NULL ? "review" : "access";
	const char *id = json_string_value(json_object_get(e, "id"));
	const char *requester = json_string_value(json_object_get(e, "user"));
	if (json_is_true(json_object_get(e, "self"))) {
		if (strcmp(by->user, requester) != 0) {
			snprintf(err, errlen, "%s %s is for %s to approve, in person (approvers "
			    "self: the person the agent acts for)", kind, id, requester);
			return 0;
		}
		if (by->who != NULL && (by->who->agent || by->who->nactors > 0)) {
			snprintf(err, errlen, "an agent cannot approve for its person: %s "
			    "approves %s %s with their own token, with no actor", requester,
			    kind, id);
			return 0;
		}
		return 1;
	}
	if (strcmp(by->user, requester) == 0) {
		snprintf(err, errlen, "you cannot approve or deny your own request");
		return 0;
	}
	json_t *approvers = json_object_get(e, "approvers");
	if (!groups_intersect(approvers, by->groups)) {
		char *need = json_dumps(approvers, JSON_COMPACT);
		snprintf(err, errlen, "you are not an approver of %s %s (approver "
		    "groups: %s)", kind, id, need != NULL ? need : "?");
		free(need);
		return 0;
	}
	return 1;
}

int
review_cancel(struct review_store *s, const char *id, long long now, char *err,
    size_t errlen)
{
	json_t *r = review_get(s, id);
	if (r == NULL) {
		snprintf(err, errlen, "no such review");
		return -1;
	}
	if (strcmp(json_string_value(json_object_get(r, "status")), "pending") != 0)
		return 0;
	json_t *rec = json_pack("{s:s, s:s, s:s, s:O}", "type", "review", "event",
	    "cancelled", "id", id, "user", json_object_get(r, "user"));
	if (rec != NULL && principal_record(rec, r, "") != 0) {
		json_decref(rec);
		rec = NULL;
	}
	if (audit(s, rec, err, errlen) != 0)
		return -1;
	json_t *old = json_deep_copy(r);
	json_object_set_new(r, "status", json_string("cancelled"));
	json_object_set_new(r, "closed", json_integer(now));
	if (store_save(s, err, errlen) != 0) {
		json_object_set_new(s->reviews, id, old);
		return -1;
	}
	json_decref(old);
	return 0;
}

json_t *
access_create(struct review_store *s, const struct review_requester *who,
    long duration_s, const char *reason, const struct rule_access *a,
    long request_timeout_s, long long now, char *err, size_t errlen)
{
	char id[40];
	new_id('a', id, sizeof id);
	json_t *r = json_pack("{s:s, s:s, s:s, s:O, s:s, s:s, s:I, s:s, s:o, s:I, "
	    "s:I, s:I, s:[]}",
	    "id", id, "status", "pending", "user", who->p.user, "groups", who->p.groups,
	    "connection", who->connection, "role", who->role, "duration_s",
	    (json_int_t)duration_s, "reason", reason, "approvers",
	    string_list(&a->approvers), "approvals", (json_int_t)a->approvals,
	    "created", (json_int_t)now, "expires",
	    (json_int_t)(now + request_timeout_s), "by");
	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (entry_self(r, a->approvers_self, &who->p, err, errlen) != 0) {
		json_decref(r);
		return NULL;
	}
	json_t *rec = json_deep_copy(r);
	json_object_set_new(rec, "type", json_string("access"));
	json_object_set_new(rec, "event", json_string("requested"));
	json_object_del(rec, "by");
	json_object_del(rec, "status");
	if (audit(s, rec, err, errlen) != 0) {
		json_decref(r);
		return NULL;
	}
	json_object_set_new(s->access, id, r);
	if (store_save(s, err, errlen) != 0) {
		json_object_del(s->access, id);
		return NULL;
	}
	return r;
}

json_t *
access_get(struct review_store *s, const char *id)
{
	return id == NULL ? NULL : json_object_get(s->access, id);
}

int
access_decide(struct review_store *s, const char *id,
    const struct review_party *by, int approve, long long now, char *err,
    size_t errlen)
{
	return entry_decide(s, s->access, "access", id, by, approve, now, err,
	    errlen);
}

const char *
access_active(struct review_store *s, const char *user,
    const struct principal *who, const char *connection, const char *role,
    long long now)
{
	const char *id;
	json_t *e;
	if (user == NULL || connection == NULL || role == NULL)
		return NULL;
	json_object_foreach(s->access, id, e) {
		const char *st = json_string_value(json_object_get(e, "status"));
		const char *u = json_string_value(json_object_get(e, "user"));
		const char *c = json_string_value(json_object_get(e, "connection"));
		const char *r = json_string_value(json_object_get(e, "role"));
		json_int_t until = json_integer_value(json_object_get(e, "grant_expires"));
		if (st != NULL && strcmp(st, "granted") == 0 && u != NULL &&
		    strcmp(u, user) == 0 && c != NULL && strcmp(c, connection) == 0 &&
		    r != NULL && strcmp(r, role) == 0 && now < until && same_pair(e, who))
			return id;
	}
	return NULL;
}

int
review_store_tick(struct review_store *s, long long now)
{
	int changed = 0;
	const char *kinds[] = { "review", "access" };
	json_t *maps[] = { s->reviews, s->access };
	for (int m = 0; m < 2; m++) {
		const char *id;
		json_t *e;
		void *tmp;
		json_object_foreach_safe(maps[m], tmp, id, e) {
			const char *st = json_string_value(json_object_get(e, "status"));
			const char *what = NULL;
			if (strcmp(st, "pending") == 0 &&
			    now >= json_integer_value(json_object_get(e, "expires")))
				what = "request";
			else if (strcmp(st, "granted") == 0 &&
			    now >= json_integer_value(json_object_get(e, "grant_expires")))
				what = "grant";
			if (what != NULL) {
				json_object_set_new(e, "status", json_string(
				    strcmp(what, "grant") == 0 ? "ended" : "expired"));
				json_object_set_new(e, "closed", json_integer(now));
				json_object_set_new(e, "unaudited", json_string(what));
				changed++;
			}
			const char *ua = json_string_value(json_object_get(e, "unaudited"));
			if (ua != NULL) {
				char err[256];
				if (audit(s, expiry_record(kinds[m], e, ua), err, sizeof err) == 0) {
					json_object_del(e, "unaudited");
					changed++;
				}
				continue;
			}
			json_t *closed = json_object_get(e, "closed");
			if (closed != NULL && now - json_integer_value(closed) >= s->retain_s) {
				json_object_del(maps[m], id);
				changed++;
			}
		}
	}
	if (changed) {
		char err[512];
		if (store_save(s, err, sizeof err) != 0)
			log_warn("%s", err);
	}
	return changed;
}

/* ---- helpers ---- */

static int
entry_decide(struct review_store *s, json_t *map, const char *kind,
    const char *id, const struct review_party *p, int approve,
    long long now, char *err, size_t errlen)
{
	const char *user = p->user;
	json_t *groups = p->groups;
	json_t *e = id == NULL ? NULL : json_object_get(map, id);
	if (e == NULL) {
		snprintf(err, errlen, "no such %s request", kind);
		return -1;
	}
	const char *st = json_string_value(json_object_get(e, "status"));
	if (strcmp(st, "pending") != 0) {
		snprintf(err, errlen, "%s %s is %s", kind, id, st);
		return -1;
	}
	if (now >= json_integer_value(json_object_get(e, "expires"))) {
		snprintf(err, errlen, "%s %s has expired", kind, id);
		return -1;
	}
	if (!review_may_decide(e, p, err, errlen))
		return -1;
	json_t *by = json_object_get(e, "by");
	if (array_has(by, user)) {
		snprintf(err, errlen, "you have already approved %s %s", kind, id);
		return -1;
	}
	json_t *old = json_deep_copy(e);
	const char *status = "denied";
	if (approve) {
		json_array_append_new(by, json_string(user));
		status = (json_int_t)json_array_size(by) >=
		    json_integer_value(json_object_get(e, "approvals")) ?
		    (strcmp(kind, "access") == 0 ? "granted" : "approved") : "pending";
	} else {
		json_object_set_new(e, "denied_by", json_string(user));
	}
	json_object_set_new(e, "status", json_string(status));
	if (strcmp(status, "pending") != 0 && strcmp(status, "granted") != 0)
		json_object_set_new(e, "closed", json_integer(now));
	if (strcmp(status, "granted") == 0)
		json_object_set_new(e, "grant_expires", json_integer(now +
		    json_integer_value(json_object_get(e, "duration_s"))));
	json_t *rec = json_pack("{s:s, s:s, s:s, s:O, s:s, s:O, s:O, s:s}",
	    "type", kind, "event", approve ? "approved" : "denied", "id", id,
	    "user", json_object_get(e, "user"), "by", user, "by_groups", groups,
	    "approved_by", by, "status", status);
	if (rec != NULL && json_object_get(e, "grant_expires") != NULL)
		json_object_set(rec, "grant_expires", json_object_get(e, "grant_expires"));
	if (rec != NULL && (principal_record(rec, e, "") != 0 ||
	    principal_record(rec, p->claims, "by_") != 0)) {
		json_decref(rec);
		rec = NULL;
	}
	if (audit(s, rec, err, errlen) != 0 || store_save(s, err, errlen) != 0) {
		json_object_set_new(map, id, old);
		return -1;
	}
	json_decref(old);
	return 0;
}

/* Whether e must go now; *what is set when its expiry still needs an
 * audit record ("request" or "grant"). */
static int
entry_due(json_t *e, long long now, long retain_s, const char **what)
{
	const char *st = json_string_value(json_object_get(e, "status"));
	*what = json_string_value(json_object_get(e, "unaudited"));
	if (strcmp(st, "pending") == 0 &&
	    now >= json_integer_value(json_object_get(e, "expires"))) {
		*what = "request";
		return 1;
	}
	if (strcmp(st, "granted") == 0 &&
	    now >= json_integer_value(json_object_get(e, "grant_expires"))) {
		*what = "grant";
		return 1;
	}
	json_t *closed = json_object_get(e, "closed");
	return closed != NULL && now - json_integer_value(closed) >= retain_s;
}

static json_t *
expiry_record(const char *kind, json_t *e, const char *what)
{
	json_t *rec = json_pack("{s:s, s:s, s:O, s:O, s:s}", "type", kind, "event",
	    "expired", "id", json_object_get(e, "id"), "user",
	    json_object_get(e, "user"), "what", what);
	if (rec != NULL && principal_record(rec, e, "") != 0) {
		json_decref(rec);
		return NULL;
	}
	return rec;
}

/* A person an agent acts for: the one "approvers self" can ask. */
static int
acts_for_person(const struct principal *who)
{
	return who != NULL && !who->agent && who->nactors > 0;
}

/* Gives the new entry e its requester's principal, actor and client_id,
 * and, for "approvers self", the mark that says who approves. */
static int
entry_self(json_t *e, int self, const struct review_party *who, char *err,
    size_t errlen)
{
	if (self && !acts_for_person(who->who)) {
		snprintf(err, errlen, "its approver is the person an agent acts for "
		    "(approvers self), and %s", who->who != NULL && who->who->agent ?
		    "an agent with no person behind it has none" :
		    "no agent acts for you: nobody may approve your own request");
		return -1;
	}
	if (principal_record(e, who->claims, "") != 0 ||
	    (self && json_object_set_new(e, "self", json_true()) != 0)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Whether grant e was asked for by who's pair: the same principal kind
 * and outermost actor. */
static int
same_pair(json_t *e, const struct principal *who)
{
	struct principal g;
	char err[128];
	if (who == NULL)
		who = &principal_person;
	if (principal_read(e, &g, err, sizeof err) != 0)
		return 0;
	if (g.agent != who->agent || (g.nactors > 0) != (who->nactors > 0))
		return 0;
	return g.nactors == 0 || strcmp(g.actor_sub, who->actor_sub) == 0;
}

/* Takes the reference to record. */
static int
audit(struct review_store *s, json_t *record, char *err, size_t errlen)
{
	if (record == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int rc = 0;
	if (s->audit != NULL) {
		char why[512] = "";
		rc = s->audit(s->audit_ctx, record, why, sizeof why);
		if (rc != 0)
			snprintf(err, errlen, "unable to record this step in the audit "
			    "log (%s); nothing was changed", why);
	}
	json_decref(record);
	return rc;
}

static int
store_save(struct review_store *s, char *err, size_t errlen)
{
	if (s->path == NULL)
		return 0;
	json_t *root = json_pack("{s:i, s:O, s:O}", "v", 1, "reviews", s->reviews,
	    "access", s->access);
	char *text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	char tmp[4096], dir[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", s->path);
	snprintf(dir, sizeof dir, "%s", s->path);
	char *slash = strrchr(dir, '/');
	if (slash != NULL)
		*slash = '\0';
	else
		snprintf(dir, sizeof dir, ".");
	if (text == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t len = strlen(text);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ok = fd >= 0;
	size_t off = 0;
	while (ok && off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		ok = n > 0;
		off += n > 0 ? (size_t)n : 0;
	}
	ok = ok && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	if (fd >= 0 && close(fd) != 0)
		ok = 0;
	ok = ok && rename(tmp, s->path) == 0;
	if (ok) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ok = dfd >= 0 && fsync(dfd) == 0;
		if (dfd >= 0)
			close(dfd);
	}
	free(text);
	if (!ok) {
		snprintf(err, errlen, "unable to save %s: %s; nothing was changed",
		    s->path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void
new_id(char prefix, char *out, size_t len)
{
	unsigned char b[8];
	size_t got = 0;
	while (got < sizeof b) {
		ssize_t n = getrandom(b + got, sizeof b - got, 0);
		if (n > 0)
			got += (size_t)n;
		else if (errno != EINTR)
			abort();
	}
	snprintf(out, len, "%c-%02x%02x%02x%02x%02x%02x%02x%02x", prefix, b[0],
	    b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
}

static json_t *
string_list(const struct conf_list *l)
{
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

static int
groups_intersect(json_t *approvers, json_t *groups)
{
	size_t i;
	json_t *g;
	json_array_foreach(groups, i, g)
		if (json_is_string(g) && array_has(approvers, json_string_value(g)))
			return 1;
	return 0;
}

static int
array_has(json_t *a, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}
