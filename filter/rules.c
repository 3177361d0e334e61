#include "filter/rules.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TOKENS 256

static const char *const fact_kinds[] = {
	"select", "insert", "update", "delete", "merge", "truncate",
	"copy-from", "copy-to", "ddl", "grant", "revoke", "set", "reset",
	"show", "transaction", "do", "prepare", "execute", "deallocate",
	"explain", "call", "listen", "notify", "vacuum", "analyze", "lock",
	"discard", "fetch", "close", "other", NULL,
};

static const char *const fact_vias[] = {
	"top", "cte", "do", "explain", "prepare", "rule", "function", NULL,
};

struct line {
	char *tok[MAX_TOKENS];
	int quoted[MAX_TOKENS];
	int n;
};

struct parser {
	struct rules *p;
	const char *name;
	int lineno;
	long default_timeout_s;
	int seen_default;
	struct rule *rule;	/* the rule being read, or NULL */
	unsigned rule_seen;		/* condition keys seen in it */
	char err[1024];
};

static int line_split(char *s, struct line *l, char *err, size_t errlen);
static int parse_line(struct parser *ps, struct line *l);
static int parse_rule_key(struct parser *ps, struct line *l);
static int parse_connect(struct parser *ps, struct line *l);
static int parse_access(struct parser *ps, struct line *l);
static int parse_mask(struct parser *ps, struct line *l);
static int masks_finish(struct parser *ps);
static int rule_finish(struct parser *ps);
static int list_parse(struct conf_list *out, struct line *l, int from, int to,
    struct parser *ps);
static int list_check(struct parser *ps, const struct conf_list *l,
    const char *const *known, const char *what);
static int perr(struct parser *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int parse_count(struct parser *ps, const char *key, const char *v,
    long min, long max, long *out);
static int parse_yesno(struct parser *ps, const char *key, struct line *l, int *out);
static int approvers_check(struct parser *ps, const struct conf_list *l, int *self,
    const char *what);
static int connect_word(const char *w);
static int is_glob(const char *s);
static int name_match(const char *pat, const char *name, int casefold);
static int list_match_names(const struct conf_list *l, json_t *names, int casefold);
static int fact_has_stamp(json_t *fact);
static void rules_free(struct rules *p);
static char *read_file(const char *path, char *err, size_t errlen);

struct rules_result
rules_load(const char *path, long default_timeout_s)
{
	struct rules_result r = { NULL, NULL };
	char err[1024];
	char *text = read_file(path, err, sizeof err);
	if (text == NULL) {
		r.error = strdup(err);
		return r;
	}
	r = rules_parse(text, path, default_timeout_s);
	free(text);
	return r;
}

struct rules_result
rules_parse(const char *text, const char *name, long default_timeout_s)
{
	struct rules_result r = { NULL, NULL };
	struct parser ps;
	memset(&ps, 0, sizeof ps);
	ps.name = name;
	ps.default_timeout_s = default_timeout_s;
	ps.p = calloc(1, sizeof *ps.p);
	char *copy = strdup(text);
	if (ps.p == NULL || copy == NULL || (ps.p->path = strdup(name)) == NULL) {
		free(copy);
		rules_free(ps.p);
		r.error = strdup("out of memory");
		return r;
	}
	ps.p->default_action = RULES_DENY;
	int rc = 0;
	char *s = copy;
	while (rc == 0 && s != NULL && *s != '\0') {
		char *nl = strchr(s, '\n');
		if (nl != NULL)
			*nl = '\0';
		ps.lineno++;
		struct line l;
		if (line_split(s, &l, ps.err, sizeof ps.err) != 0)
			rc = perr(&ps, "%s", ps.err);
		else if (l.n > 0)
			rc = parse_line(&ps, &l);
		s = nl != NULL ? nl + 1 : NULL;
	}
	if (rc == 0)
		rc = rule_finish(&ps);
	if (rc == 0)
		rc = masks_finish(&ps);
	if (rc == 0 && !ps.seen_default) {
		ps.lineno = 0;
		rc = perr(&ps, "missing \"default allow\" or \"default deny\"");
	}
	free(copy);
	if (rc != 0) {
		rules_free(ps.p);
		r.error = strdup(ps.err);
		return r;
	}
	r.policy = ps.p;
	return r;
}

void
rules_result_free(struct rules_result r)
{
	rules_free(r.policy);
	free(r.error);
}

const char *
rules_action_name(enum rule_action a)
{
	switch (a) {
	case RULES_ALLOW:
		return "allow";
	case RULES_REVIEW:
		return "review";
	case RULES_DENY:
		return "deny";
	}
	return "deny";
}

int
rules_rule_matches(const struct rule *r, const struct rule_identity *id,
    json_t *fact)
{
	if (r->users.n > 0 && !conf_list_match(&r->users, id->user))
		return 0;
	if (r->connections.n > 0 && !conf_list_match(&r->connections, id->connection))
		return 0;
	if (r->roles.n > 0 && !conf_list_match(&r->roles, id->role))
		return 0;
	if (!principal_cond_match(&r->who, id->who))
		return 0;
	if (r->groups.n > 0) {
		size_t i;
		for (i = 0; i < id->ngroups; i++)
			if (conf_list_match(&r->groups, id->groups[i]))
				break;
		if (i == id->ngroups)
			return 0;
	}
	int opaque = json_is_true(json_object_get(fact, "opaque"));
	if (r->opaque >= 0 && r->opaque != opaque)
		return 0;
	int what = r->kinds.n || r->via.n || r->tables.n || r->reads.n ||
	    r->writes.n || r->functions.n || r->settings.n || r->where ||
	    r->explain_analyze >= 0;
	/* Nothing about an opaque statement can be known, so a rule about
	 * its contents can neither allow nor deny it. */
	if (opaque && what)
		return 0;
	if (r->kinds.n > 0 && !conf_list_match(&r->kinds,
	    json_string_value(json_object_get(fact, "kind"))))
		return 0;
	if (r->via.n > 0) {
		const char *via = json_string_value(json_object_get(fact, "via"));
		if (!conf_list_match(&r->via, via != NULL ? via : "top"))
			return 0;
	}
	json_t *rd = json_object_get(fact, "tables_read");
	json_t *wr = json_object_get(fact, "tables_written");
	if (r->tables.n > 0 && !list_match_names(&r->tables, rd, 0) &&
	    !list_match_names(&r->tables, wr, 0))
		return 0;
	if (r->reads.n > 0 && !list_match_names(&r->reads, rd, 0))
		return 0;
	if (r->writes.n > 0 && !list_match_names(&r->writes, wr, 0))
		return 0;
	if (r->functions.n > 0 &&
	    !list_match_names(&r->functions, json_object_get(fact, "functions"), 0))
		return 0;
	if (r->settings.n > 0 &&
	    !list_match_names(&r->settings, json_object_get(fact, "settings"), 1))
		return 0;
	if (r->where) {
		const char *w = json_string_value(json_object_get(fact, "where"));
		unsigned bit = w == NULL ? 0 : strcmp(w, "none") == 0 ? RULES_WHERE_NONE :
		    strcmp(w, "trivial") == 0 ? RULES_WHERE_TRIVIAL :
		    strcmp(w, "present") == 0 ? RULES_WHERE_PRESENT : 0;
		if (!(r->where & bit))
			return 0;
	}
	if (r->explain_analyze >= 0 &&
	    json_is_true(json_object_get(fact, "explain_analyze")) != r->explain_analyze)
		return 0;
	return 1;
}

struct rule_decision
rules_decide_fact(const struct rules *p, const struct rule_identity *id,
    json_t *fact)
{
	struct rule_decision d = { RULES_DENY, RULES_RULE_STAMP,
		"pgward.* settings carry the session identity and cannot be changed",
		NULL, 0 };
	if (fact_has_stamp(fact))
		return d;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];
		if (rules_rule_matches(r, id, fact)) {
			d.action = r->action;
			d.rule = r->name;
			d.message = r->message;
			d.matched = r;
			return d;
		}
	}
	d.action = p->default_action;
	d.rule = RULES_RULE_DEFAULT;
	d.message = p->default_action == RULES_DENY ? "no policy rule allows this statement" : NULL;
	return d;
}

struct rule_decision
rules_decide(const struct rules *p, const struct rule_identity *id,
    json_t *facts)
{
	struct rule_decision best = { RULES_ALLOW, RULES_RULE_EMPTY, NULL, NULL, 0 };
	size_t i;
	json_t *fact;
	json_array_foreach(facts, i, fact) {
		struct rule_decision d = rules_decide_fact(p, id, fact);
		d.index = i;
		if (i == 0 || d.action > best.action)
			best = d;
	}
	return best;
}

static int
guarded_kind(json_t *fact)
{
	const char *k = json_string_value(json_object_get(fact, "kind"));
	return k != NULL && (strcmp(k, "delete") == 0 || strcmp(k, "update") == 0 ||
	    strcmp(k, "merge") == 0);
}

long
rules_row_limit(const struct rules *p, const struct rule_identity *id,
    json_t *facts, struct rule_decision *d)
{
	long limit = -1;
	size_t i, tops = 0;
	json_t *f;
	json_array_foreach(facts, i, f)
		tops += json_object_get(f, "parent") == NULL;
	json_array_foreach(facts, i, f) {
		struct rule_decision fd = rules_decide_fact(p, id, f);
		if (fd.matched == NULL || fd.matched->max_rows < 0 || !guarded_kind(f))
			continue;
		/* Up to the statement whose tag counts it: a MERGE's WHEN action
		 * and an INSERT's ON CONFLICT DO UPDATE are counted by their
		 * statement's tag; anything else nested (a data-modifying WITH,
		 * also one of a MERGE) by none. */
		json_t *top = f, *parent, *up = NULL;
		while ((json_object_get(top, "merge_when") != NULL ||
		    json_object_get(top, "on_conflict") != NULL) &&
		    (parent = json_object_get(top, "parent")) != NULL)
			top = json_array_get(facts, (size_t)json_integer_value(parent));
		if ((parent = json_object_get(top, "parent")) != NULL)
			up = json_array_get(facts, (size_t)json_integer_value(parent));
		json_t *analyze = up != NULL ? json_object_get(up, "explain_analyze") : NULL;
		if (analyze != NULL && !json_is_true(analyze))
			continue;	/* EXPLAIN without ANALYZE does not run it */
		if (parent != NULL || tops > 1) {
			*d = fd;
			d->action = RULES_DENY;
			d->index = i;
			d->message = tops > 1 ? "max-rows: a DELETE, UPDATE or MERGE under a row "
			    "limit must be sent as a query string of its own" :
			    "max-rows: rows changed inside WITH, DO, a function, EXPLAIN ANALYZE, "
			    "PREPARE, COPY or a rule cannot be counted; run it as a plain statement";
			return -1;
		}
		if (limit < 0 || fd.matched->max_rows < limit)
			limit = fd.matched->max_rows;
	}
	return limit;
}

static int
connect_matches(const struct rule_connect *c, const struct rule_identity *id)
{
	if (id->connection == NULL || id->role == NULL ||
	    fnmatch(c->connection, id->connection, 0) != 0 ||
	    fnmatch(c->role, id->role, 0) != 0 || !principal_cond_match(&c->who, id->who))
		return 0;
	if (c->users.n > 0 && conf_list_match(&c->users, id->user))
		return 1;
	for (size_t g = 0; g < id->ngroups; g++)
		if (conf_list_match(&c->groups, id->groups[g]))
			return 1;
	return 0;
}

const struct rule_connect *
rules_connect_find(const struct rules *p, const struct rule_identity *id)
{
	for (size_t i = 0; i < p->nconnects; i++)
		if (connect_matches(&p->connects[i], id))
			return &p->connects[i];
	return NULL;
}

long
rules_record_rows(const struct rules *p, const struct rule_identity *id)
{
	long rows = 0;
	for (size_t i = 0; i < p->nrecords; i++)
		if (p->records[i].rows > rows && connect_matches(&p->records[i], id))
			rows = p->records[i].rows;
	return rows;
}

const struct rule_access *
rules_access_find(const struct rules *p, const struct rule_identity *id,
    const char *connection, const char *role)
{
	for (size_t i = 0; i < p->naccess; i++) {
		const struct rule_access *a = &p->access[i];
		if (fnmatch(a->connection, connection, 0) != 0 ||
		    fnmatch(a->role, role, 0) != 0 || !principal_cond_match(&a->who, id->who))
			continue;
		for (size_t g = 0; g < id->ngroups; g++)
			if (conf_list_match(&a->requestable_by, id->groups[g]))
				return a;
	}
	return NULL;
}

int
rules_list_match_groups(const struct conf_list *l, json_t *groups)
{
	size_t i;
	json_t *g;
	json_array_foreach(groups, i, g)
		if (conf_list_match(l, json_string_value(g)))
			return 1;
	return 0;
}

/* ---- matching helpers ---- */

static int
is_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* A pattern without a dot names a relation in any schema, so that a rule
 * about "cards" cannot be escaped by writing "public.cards". */
static int
name_match(const char *pat, const char *name, int casefold)
{
	if (name == NULL)
		return 0;
	int flags = casefold ? FNM_CASEFOLD : 0;
	if (fnmatch(pat, name, flags) == 0)
		return 1;
	const char *dot = strrchr(name, '.');
	return strchr(pat, '.') == NULL && dot != NULL &&
	    fnmatch(pat, dot + 1, flags) == 0;
}

static int
list_match_names(const struct conf_list *l, json_t *names, int casefold)
{
	size_t i;
	json_t *n;
	json_array_foreach(names, i, n) {
		const char *s = json_string_value(n);
		for (size_t k = 0; s != NULL && k < l->n; k++)
			if (name_match(l->v[k], s, casefold))
				return 1;
	}
	return 0;
}

static int
fact_has_stamp(json_t *fact)
{
	size_t i;
	json_t *n;
	json_array_foreach(json_object_get(fact, "settings"), i, n) {
		const char *s = json_string_value(n);
		if (s != NULL && strncasecmp(s, "pgward.", 7) == 0)
			return 1;
	}
	return 0;
}

/* ---- parsing ---- */

static int
perr(struct parser *ps, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (ps->lineno > 0)
		snprintf(ps->err, sizeof ps->err, "%s:%d: %s", ps->name, ps->lineno, msg);
	else
		snprintf(ps->err, sizeof ps->err, "%s: %s", ps->name, msg);
	return -1;
}

/* Splits in place into blank-separated tokens; "..." quotes (with \" and
 * \\), # outside quotes starts a comment. */
static int
line_split(char *s, struct line *l, char *err, size_t errlen)
{
	l->n = 0;
	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\r')
			s++;
		if (*s == '\0' || *s == '#')
			return 0;
		if (l->n == MAX_TOKENS) {
			snprintf(err, errlen, "more than %d words on one line", MAX_TOKENS);
			return -1;
		}
		if ((unsigned char)*s < 0x20) {
			snprintf(err, errlen, "control character in line");
			return -1;
		}
		if (*s == '"') {
			char *o = ++s;
			l->tok[l->n] = o;
			l->quoted[l->n++] = 1;
			for (;;) {
				if (*s == '\0') {
					snprintf(err, errlen, "unterminated quoted string");
					return -1;
				}
				if (*s == '"')
					break;
				if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
					s++;
				*o++ = *s++;
			}
			s++;
			*o = '\0';
			if (*s == ',')
				s++;
			if (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\r') {
				snprintf(err, errlen, "text right after a closing quote");
				return -1;
			}
			if (*s != '\0')
				s++;
			continue;
		}
		l->tok[l->n] = s;
		l->quoted[l->n++] = 0;
		while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\r' && *s != '#') {
			if ((unsigned char)*s < 0x20) {
				snprintf(err, errlen, "control character in line");
				return -1;
			}
			s++;
		}
		int end = *s == '\0' || *s == '#';
		*s = '\0';
		if (end)
			return 0;
		s++;
	}
}

enum rule_key {
	K_GROUPS, K_USERS, K_CONNECTIONS, K_ROLES, K_KIND, K_VIA, K_TABLES,
	K_READS, K_WRITES, K_FUNCTIONS, K_WHERE, K_OPAQUE, K_EXPLAIN_ANALYZE,
	K_SETTINGS, K_ACTION, K_MESSAGE, K_APPROVERS, K_APPROVALS, K_TIMEOUT,
	K_MAX_ROWS, K_PRINCIPAL, K_ACTORS, K_COUNT
};

static const char *const rule_keys[K_COUNT] = {
	"groups", "users", "connections", "roles", "kind", "via", "tables",
	"reads", "writes", "functions", "where", "opaque", "explain-analyze",
	"settings", "action", "message", "approvers", "approvals", "timeout-s",
	"max-rows", "principal", "actors",
};

static int
parse_line(struct parser *ps, struct line *l)
{
	const char *k = l->tok[0];
	if (l->quoted[0])
		return perr(ps, "a line starts with a keyword, not a quoted string");
	if (strcmp(k, "default") == 0 || strcmp(k, "rule") == 0 ||
	    strcmp(k, "connect") == 0 || strcmp(k, "access") == 0 ||
	    strcmp(k, "mask") == 0 || strcmp(k, "record") == 0) {
		if (rule_finish(ps) != 0)
			return -1;
	}
	if (strcmp(k, "default") == 0) {
		if (ps->seen_default)
			return perr(ps, "duplicate \"default\"");
		if (l->n != 2 || (strcmp(l->tok[1], "allow") != 0 &&
		    strcmp(l->tok[1], "deny") != 0))
			return perr(ps, "expected \"default allow\" or \"default deny\"");
		ps->seen_default = 1;
		ps->p->default_action = strcmp(l->tok[1], "allow") == 0 ?
		    RULES_ALLOW : RULES_DENY;
		return 0;
	}
	if (strcmp(k, "rule") == 0) {
		if (l->n != 2)
			return perr(ps, "expected \"rule NAME\"");
		const char *name = l->tok[1];
		if (*name == '\0' || strspn(name, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(name))
			return perr(ps, "rule name \"%s\": use letters, digits, _ . -", name);
		if (strcmp(name, RULES_RULE_DEFAULT) == 0)
			return perr(ps, "rule name \"default\" is reserved");
		for (size_t i = 0; i < ps->p->nrules; i++)
			if (strcmp(ps->p->rules[i].name, name) == 0)
				return perr(ps, "duplicate rule name \"%s\" (first on line %d)",
				    name, ps->p->rules[i].line);
		struct rule *nr = realloc(ps->p->rules,
		    (ps->p->nrules + 1) * sizeof *nr);
		if (nr == NULL)
			return perr(ps, "out of memory");
		ps->p->rules = nr;
		struct rule *r = &nr[ps->p->nrules++];
		memset(r, 0, sizeof *r);
		r->line = ps->lineno;
		r->opaque = -1;
		r->explain_analyze = -1;
		r->action = (enum rule_action)-1;
		r->approvals = 1;
		r->timeout_s = ps->default_timeout_s;
		r->max_rows = -1;
		principal_cond_init(&r->who);
		if ((r->name = strdup(name)) == NULL)
			return perr(ps, "out of memory");
		ps->rule = r;
		ps->rule_seen = 0;
		return 0;
	}
	if (strcmp(k, "connect") == 0 || strcmp(k, "record") == 0)
		return parse_connect(ps, l);
	if (strcmp(k, "access") == 0)
		return parse_access(ps, l);
	if (strcmp(k, "mask") == 0)
		return parse_mask(ps, l);
	for (int i = 0; i < K_COUNT; i++)
		if (strcmp(k, rule_keys[i]) == 0) {
			if (ps->rule == NULL)
				return perr(ps, "\"%s\" outside a rule", k);
			return parse_rule_key(ps, l);
		}
	return perr(ps, "unknown keyword \"%s\"", k);
}

static int
parse_rule_key(struct parser *ps, struct line *l)
{
	struct rule *r = ps->rule;
	int k;
	for (k = 0; k < K_COUNT; k++)
		if (strcmp(l->tok[0], rule_keys[k]) == 0)
			break;
	if (ps->rule_seen & (1u << k))
		return perr(ps, "duplicate \"%s\" in rule %s", rule_keys[k], r->name);
	ps->rule_seen |= 1u << k;
	if (l->n < 2)
		return perr(ps, "%s: missing value", rule_keys[k]);
	struct conf_list *lists[K_COUNT] = {
		[K_GROUPS] = &r->groups, [K_USERS] = &r->users,
		[K_CONNECTIONS] = &r->connections, [K_ROLES] = &r->roles,
		[K_KIND] = &r->kinds, [K_VIA] = &r->via, [K_TABLES] = &r->tables,
		[K_READS] = &r->reads, [K_WRITES] = &r->writes,
		[K_FUNCTIONS] = &r->functions, [K_SETTINGS] = &r->settings,
		[K_APPROVERS] = &r->approvers,
	};
	if (lists[k] != NULL) {
		if (list_parse(lists[k], l, 1, l->n, ps) != 0)
			return -1;
		if (k == K_KIND)
			return list_check(ps, lists[k], fact_kinds, "kind");
		if (k == K_VIA)
			return list_check(ps, lists[k], fact_vias, "via");
		if (k == K_APPROVERS)
			return approvers_check(ps, &r->approvers, &r->approvers_self,
			    "approvers");
		return 0;
	}
	switch (k) {
	case K_PRINCIPAL:
	case K_ACTORS: {
		char err[300];
		if (principal_cond_parse(&r->who, l->tok, l->quoted, 0, l->n, err,
		    sizeof err) != 0)
			return perr(ps, "%s", err);
		return 0;
	}
	case K_WHERE: {
		struct conf_list w = { NULL, 0 };
		if (list_parse(&w, l, 1, l->n, ps) != 0)
			return -1;
		int rc = 0;
		for (size_t i = 0; i < w.n && rc == 0; i++) {
			if (strcmp(w.v[i], "none") == 0)
				r->where |= RULES_WHERE_NONE;
			else if (strcmp(w.v[i], "trivial") == 0)
				r->where |= RULES_WHERE_TRIVIAL;
			else if (strcmp(w.v[i], "present") == 0)
				r->where |= RULES_WHERE_PRESENT;
			else
				rc = perr(ps, "where: \"%s\" is not none, trivial or present",
				    w.v[i]);
		}
		conf_list_free(&w);
		return rc;
	}
	case K_OPAQUE:
		return parse_yesno(ps, "opaque", l, &r->opaque);
	case K_EXPLAIN_ANALYZE:
		return parse_yesno(ps, "explain-analyze", l, &r->explain_analyze);
	case K_ACTION:
		if (l->n != 2)
			return perr(ps, "action: expected allow, deny or review");
		if (strcmp(l->tok[1], "allow") == 0)
			r->action = RULES_ALLOW;
		else if (strcmp(l->tok[1], "deny") == 0)
			r->action = RULES_DENY;
		else if (strcmp(l->tok[1], "review") == 0)
			r->action = RULES_REVIEW;
		else
			return perr(ps, "action: \"%s\" is not allow, deny or review", l->tok[1]);
		return 0;
	case K_MESSAGE:
		if (l->n != 2)
			return perr(ps, "message: expected one quoted string");
		if ((r->message = strdup(l->tok[1])) == NULL)
			return perr(ps, "out of memory");
		return 0;
	case K_APPROVALS:
		if (l->n != 2)
			return perr(ps, "approvals: expected one number");
		return parse_count(ps, "approvals", l->tok[1], 1, 100, &r->approvals);
	case K_TIMEOUT:
		if (l->n != 2)
			return perr(ps, "timeout-s: expected one number");
		return parse_count(ps, "timeout-s", l->tok[1], 1, 7 * 86400, &r->timeout_s);
	case K_MAX_ROWS:
		if (l->n != 2)
			return perr(ps, "max-rows: expected one number");
		return parse_count(ps, "max-rows", l->tok[1], 0, 1000000000, &r->max_rows);
	}
	return perr(ps, "internal error: key %d", k);
}

static int
rule_finish(struct parser *ps)
{
	struct rule *r = ps->rule;
	if (r == NULL)
		return 0;
	ps->rule = NULL;
	int saved = ps->lineno;
	ps->lineno = r->line;
	int rc = 0;
	unsigned review_only = (1u << K_APPROVERS) | (1u << K_APPROVALS) | (1u << K_TIMEOUT);
	if ((int)r->action == -1)
		rc = perr(ps, "rule %s has no action", r->name);
	else if (r->action == RULES_REVIEW && r->approvers.n == 0)
		rc = perr(ps, "rule %s: action review needs approvers", r->name);
	else if (r->action != RULES_REVIEW && (ps->rule_seen & review_only))
		rc = perr(ps, "rule %s: approvers, approvals and timeout-s belong to "
		    "action review", r->name);
	else if (r->approvers_self && r->approvals != 1)
		rc = perr(ps, "rule %s: approvers self is one person: approvals must be 1",
		    r->name);
	else if (r->max_rows >= 0 && r->action == RULES_DENY)
		rc = perr(ps, "rule %s: max-rows belongs to action allow or review", r->name);
	else if (r->max_rows >= 0 && r->kinds.n > 0 && !conf_list_match(&r->kinds, "delete") &&
	    !conf_list_match(&r->kinds, "update") && !conf_list_match(&r->kinds, "merge"))
		rc = perr(ps, "rule %s: max-rows counts rows of delete, update and merge, "
		    "which its kind list does not name", r->name);
	ps->lineno = saved;
	return rc;
}

/* connect CONNECTION ROLE (groups LIST | users LIST)... */
/* connect CONNECTION ROLE groups LIST [users LIST], and the same after
 * "record CONNECTION ROLE rows N". */
static int
parse_connect(struct parser *ps, struct line *l)
{
	int record = strcmp(l->tok[0], "record") == 0;
	const char *k = l->tok[0];
	int first = record ? 5 : 3;
	if (l->n < first + 2)
		return perr(ps, record ? "expected \"record CONNECTION ROLE rows N groups "
		    "LIST\" or \"... users LIST\"" : "expected \"connect CONNECTION ROLE "
		    "groups LIST\" or \"... users LIST\"");
	struct rule_connect **arr = record ? &ps->p->records : &ps->p->connects;
	size_t *n = record ? &ps->p->nrecords : &ps->p->nconnects;
	struct rule_connect *nc = realloc(*arr, (*n + 1) * sizeof *nc);
	if (nc == NULL)
		return perr(ps, "out of memory");
	*arr = nc;
	struct rule_connect *c = &nc[(*n)++];
	memset(c, 0, sizeof *c);
	c->line = ps->lineno;
	if ((c->connection = strdup(l->tok[1])) == NULL ||
	    (c->role = strdup(l->tok[2])) == NULL)
		return perr(ps, "out of memory");
	if (record && (strcmp(l->tok[3], "rows") != 0 ||
	    parse_count(ps, "rows", l->tok[4], 1, 10000, &c->rows) != 0))
		return strcmp(l->tok[3], "rows") != 0 ?
		    perr(ps, "record: expected \"rows N\" after the role") : -1;
	principal_cond_init(&c->who);
	int i = first;
	while (i < l->n) {
		struct conf_list *dst = NULL;
		int j = i + 1;
		while (j < l->n && (l->quoted[j] || !connect_word(l->tok[j])))
			j++;
		if (strcmp(l->tok[i], "groups") == 0)
			dst = &c->groups;
		else if (strcmp(l->tok[i], "users") == 0)
			dst = &c->users;
		else if (principal_cond_word(l->tok[i])) {
			char err[300];
			if (principal_cond_parse(&c->who, l->tok, l->quoted, i, j, err,
			    sizeof err) != 0)
				return perr(ps, "%s: %s", k, err);
		} else
			return perr(ps, "%s: expected groups, users, principal or actors, "
			    "not \"%s\"", k, l->tok[i]);
		if (dst != NULL && dst->n > 0)
			return perr(ps, "%s: duplicate \"%s\"", k, l->tok[i]);
		if (dst != NULL && j == i + 1)
			return perr(ps, "%s: %s: missing value", k, l->tok[i]);
		if (dst != NULL && list_parse(dst, l, i + 1, j, ps) != 0)
			return -1;
		i = j;
	}
	if (c->groups.n == 0 && c->users.n == 0)
		return perr(ps, "%s: name groups or users", k);
	return 0;
}

/* access CONNECTION ROLE requestable-by LIST approvers LIST
 *     [approvals N] max-duration-s N */
static int
parse_access(struct parser *ps, struct line *l)
{
	static const char *const keys[] = { "requestable-by", "approvers",
		"approvals", "max-duration-s", "principal", "actors", NULL };
	if (l->n < 3)
		return perr(ps, "expected \"access CONNECTION ROLE requestable-by "
		    "GROUPS approvers GROUPS max-duration-s N\"");
	struct rule_access *na = realloc(ps->p->access,
	    (ps->p->naccess + 1) * sizeof *na);
	if (na == NULL)
		return perr(ps, "out of memory");
	ps->p->access = na;
	struct rule_access *a = &na[ps->p->naccess++];
	memset(a, 0, sizeof *a);
	a->line = ps->lineno;
	a->approvals = 1;
	principal_cond_init(&a->who);
	if ((a->connection = strdup(l->tok[1])) == NULL ||
	    (a->role = strdup(l->tok[2])) == NULL)
		return perr(ps, "out of memory");
	unsigned seen = 0;
	int i = 3;
	while (i < l->n) {
		int k;
		for (k = 0; keys[k] != NULL; k++)
			if (strcmp(l->tok[i], keys[k]) == 0)
				break;
		if (keys[k] == NULL)
			return perr(ps, "access: unknown word \"%s\"", l->tok[i]);
		if (seen & (1u << k))
			return perr(ps, "access: duplicate \"%s\"", keys[k]);
		seen |= 1u << k;
		int j = i + 1;
		while (j < l->n) {
			int kk;
			for (kk = 0; keys[kk] != NULL; kk++)
				if (strcmp(l->tok[j], keys[kk]) == 0)
					break;
			if (keys[kk] != NULL)
				break;
			j++;
		}
		if (j == i + 1)
			return perr(ps, "access: %s: missing value", keys[k]);
		if (k == 0 && list_parse(&a->requestable_by, l, i + 1, j, ps) != 0)
			return -1;
		if (k == 1 && (list_parse(&a->approvers, l, i + 1, j, ps) != 0 ||
		    approvers_check(ps, &a->approvers, &a->approvers_self,
		    "access: approvers") != 0))
			return -1;
		if (k >= 4) {
			char err[300];
			if (principal_cond_parse(&a->who, l->tok, l->quoted, i, j, err,
			    sizeof err) != 0)
				return perr(ps, "access: %s", err);
			i = j;
			continue;
		}
		if (k >= 2 && j != i + 2)
			return perr(ps, "access: %s: expected one number", keys[k]);
		if (k == 2 && parse_count(ps, "approvals", l->tok[i + 1], 1, 100,
		    &a->approvals) != 0)
			return -1;
		if (k == 3 && parse_count(ps, "max-duration-s", l->tok[i + 1], 1,
		    30L * 86400, &a->max_duration_s) != 0)
			return -1;
		i = j;
	}
	const char *missing = !(seen & 1u) ? "requestable-by" :
	    !(seen & 2u) ? "approvers" : !(seen & 8u) ? "max-duration-s" : NULL;
	if (missing != NULL)
		return perr(ps, "access: %s is required", missing);
	if (a->approvers_self && a->approvals != 1)
		return perr(ps, "access: approvers self is one person: approvals must be 1");
	return 0;
}

/* Tokens [from, to), split at commas (a quoted token is one element). */
static int
list_parse(struct conf_list *out, struct line *l, int from, int to,
    struct parser *ps)
{
	for (int t = from; t < to; t++)
		if (conf_list_add_word(out, l->tok[t], l->quoted[t]) != 0)
			return perr(ps, "out of memory");
	if (out->n == 0)
		return perr(ps, "%s: empty list", l->tok[from - 1]);
	return 0;
}

static int
list_check(struct parser *ps, const struct conf_list *l,
    const char *const *known, const char *what)
{
	for (size_t i = 0; i < l->n; i++) {
		size_t k;
		for (k = 0; known[k] != NULL; k++)
			if (fnmatch(l->v[i], known[k], 0) == 0)
				break;
		if (known[k] == NULL)
			return perr(ps, "%s: unknown value \"%s\"", what, l->v[i]);
	}
	return 0;
}

static int
parse_count(struct parser *ps, const char *key, const char *v, long min,
    long max, long *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || n < min || n > max)
		return perr(ps, "%s: \"%s\" is not a number from %ld to %ld", key, v,
		    min, max);
	*out = n;
	return 0;
}

/* Groups named exactly, or "self" alone (RULES_APPROVERS_SELF). */
static int
approvers_check(struct parser *ps, const struct conf_list *l, int *self,
    const char *what)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i], RULES_APPROVERS_SELF) == 0 && l->n != 1)
			return perr(ps, "%s: self stands alone (the person behind the "
			    "agent approves)", what);
		if (is_glob(l->v[i]))
			return perr(ps, "%s: name groups exactly, no patterns (\"%s\")",
			    what, l->v[i]);
	}
	*self = l->n == 1 && strcmp(l->v[0], RULES_APPROVERS_SELF) == 0;
	return 0;
}

static int
connect_word(const char *w)
{
	return strcmp(w, "groups") == 0 || strcmp(w, "users") == 0 ||
	    principal_cond_word(w);
}

static int
parse_yesno(struct parser *ps, const char *key, struct line *l, int *out)
{
	if (l->n == 2 && strcmp(l->tok[1], "yes") == 0)
		*out = 1;
	else if (l->n == 2 && strcmp(l->tok[1], "no") == 0)
		*out = 0;
	else
		return perr(ps, "%s: expected yes or no", key);
	return 0;
}

static void
rules_free(struct rules *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nrules; i++) {
		struct rule *r = &p->rules[i];
		free(r->name);
		free(r->message);
		struct conf_list *ls[] = { &r->groups, &r->users, &r->connections,
			&r->roles, &r->kinds, &r->via, &r->tables, &r->reads,
			&r->writes, &r->functions, &r->settings, &r->approvers };
		for (size_t k = 0; k < sizeof ls / sizeof ls[0]; k++)
			conf_list_free(ls[k]);
		principal_cond_free(&r->who);
	}
	free(p->rules);
	struct rule_connect *cs[] = { p->connects, p->records };
	size_t ns[] = { p->nconnects, p->nrecords };
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < ns[k]; i++) {
			free(cs[k][i].connection);
			free(cs[k][i].role);
			conf_list_free(&cs[k][i].groups);
			conf_list_free(&cs[k][i].users);
			principal_cond_free(&cs[k][i].who);
		}
		free(cs[k]);
	}
	for (size_t i = 0; i < p->naccess; i++) {
		free(p->access[i].connection);
		free(p->access[i].role);
		conf_list_free(&p->access[i].requestable_by);
		conf_list_free(&p->access[i].approvers);
		principal_cond_free(&p->access[i].who);
	}
	free(p->access);
	mask_policy_free(&p->mask);
	conf_list_free(&p->mask_pred_rule.approvers);
	free(p->path);
	free(p);
}

static char *
read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				snprintf(err, errlen, "%s: out of memory", path);
				return NULL;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		snprintf(err, errlen, "%s: read error", path);
		return NULL;
	}
	if (memchr(buf, '\0', len) != NULL) {
		free(buf);
		snprintf(err, errlen, "%s: NUL byte in file", path);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

/* ---- mask lines: the grammar is mask/policy.c's ---- */

static int
parse_mask(struct parser *ps, struct line *l)
{
	char err[900];
	if (mask_policy_line(&ps->p->mask, l->tok, l->quoted, l->n, ps->lineno,
	    ps->default_timeout_s, err, sizeof err) != 0)
		return perr(ps, "%s", err);
	return 0;
}

/* The checks across mask lines, then the masked-predicate rule the
 * decisions name. */
static int
masks_finish(struct parser *ps)
{
	struct mask_policy *mp = &ps->p->mask;
	char err[900];
	int line;
	if (mask_policy_finish(mp, &line, err, sizeof err) != 0) {
		ps->lineno = line;
		return perr(ps, "%s", err);
	}
	enum mask_predicates mpred = mask_policy_predicates(mp);
	ps->p->mask_predicates = mpred == MASK_PRED_DENY ? RULES_DENY :
	    mpred == MASK_PRED_REVIEW ? RULES_REVIEW : RULES_ALLOW;
	struct rule *r = &ps->p->mask_pred_rule;
	r->line = mp->predicates_line != 0 ? mp->predicates_line : mp->mode_line;
	r->name = (char *)RULES_RULE_MASKED_PREDICATE;
	r->approvals = mp->approvals;
	r->timeout_s = mp->timeout_s;
	r->approvers.v = mp->approvers.v;
	r->approvers.n = mp->approvers.n;
	mp->approvers.v = NULL;
	mp->approvers.n = 0;
	return 0;
}

/* mask/policy.h reads NULL groups as "every line": someone in no group
 * is not everyone. */
static const char *const no_groups[1] = { NULL };

int
rules_mask_applies(const struct mask_line *m, const struct rule_identity *id)
{
	if (id == NULL)
		return mask_line_applies(m, NULL, 0, NULL);
	return mask_line_applies(m, id->groups != NULL ? id->groups : no_groups,
	    id->ngroups, id->who);
}

int
rules_mask_json(const struct rules *p, const struct rule_identity *id,
    json_t **out)
{
	if (id == NULL)
		return mask_policy_json(&p->mask, NULL, 0, NULL, out);
	return mask_policy_json(&p->mask, id->groups != NULL ? id->groups :
	    no_groups, id->ngroups, id->who, out);
}
