#include "filter/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipc.h"
#include "log.h"

static int expect_check(json_t *expect, json_t *result);
static void print_entry(FILE *out, const char *kind, json_t *e, int full);
static void print_list(FILE *out, json_t *a);

int
cli_check(const struct rules *p, filter_facts_fn facts,
    filter_facts_free_fn facts_free, FILE *in, FILE *out, int need_expect)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, failed = 0;
	while ((n = getline(&line, &cap, in)) != -1) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		const char *s = line + strspn(line, " \t");
		if (*s == '\0' || *s == '#')
			continue;
		const char *gl[256];
		struct principal who = principal_person;
		struct rule_identity id = { "", gl, 0, "", "", &who };
		const char *sql = line;
		json_t *in_obj = NULL, *expect = NULL, *result = NULL;
		if (*s == '{') {
			json_error_t je;
			in_obj = json_loads(s, JSON_REJECT_DUPLICATES, &je);
			sql = json_string_value(json_object_get(in_obj, "sql"));
			json_t *g = json_object_get(in_obj, "groups");
			if (sql == NULL || (g != NULL && !json_is_array(g)) ||
			    json_array_size(g) > 256) {
				result = json_pack("{s:s}", "error", in_obj == NULL ? je.text :
				    "expected an object with a string sql and an array groups");
				goto print;
			}
			size_t i;
			json_t *v;
			json_array_foreach(g, i, v)
				gl[id.ngroups++] = json_is_string(v) ? json_string_value(v) : "";
			const char *u = json_string_value(json_object_get(in_obj, "user"));
			const char *c = json_string_value(json_object_get(in_obj, "connection"));
			const char *r = json_string_value(json_object_get(in_obj, "role"));
			id.user = u != NULL ? u : "";
			id.connection = c != NULL ? c : "";
			id.role = r != NULL ? r : "";
			expect = json_object_get(in_obj, "expect");
			char why[200];
			if (principal_read(in_obj, &who, why, sizeof why) != 0) {
				result = json_pack("{s:s}", "error", why);
				goto print;
			}
		}
		json_t *rel = json_object_get(in_obj, "relations");
		if (rel != NULL && !json_is_object(rel)) {
			result = json_pack("{s:s}", "error", "relations must be an object");
			goto print;
		}
		json_t *fns = json_object_get(in_obj, "functions");
		if (fns != NULL && !json_is_array(fns)) {
			result = json_pack("{s:s}", "error", "functions must be an array");
			goto print;
		}
		result = filter_decide(p, facts, facts_free, &id, sql, rel, fns, NULL);
		if (result == NULL)
			result = json_pack("{s:s}", "error", "out of memory");
		else if (expect != NULL)
			json_object_set_new(result, "pass",
			    json_boolean(expect_check(expect, result)));
		else if (need_expect)
			json_object_set_new(result, "error", json_string("no expect member"));
print:
		json_object_set_new(result, "line", json_integer(lineno));
		if (json_object_get(result, "error") != NULL ||
		    json_is_false(json_object_get(result, "pass")))
			failed = 1;
		char *text = json_dumps(result, JSON_COMPACT);
		if (text != NULL)
			fprintf(out, "%s\n", text);
		free(text);
		json_decref(result);
		json_decref(in_obj);
	}
	free(line);
	fflush(out);
	return failed;
}

/* expect is "deny", or {"decision":"deny","rule":"name"}. */
static int
expect_check(json_t *expect, json_t *result)
{
	const char *d = json_string_value(json_object_get(result, "decision"));
	const char *r = json_string_value(json_object_get(result, "rule"));
	if (json_is_string(expect))
		return strcmp(json_string_value(expect), d) == 0;
	const char *ed = json_string_value(json_object_get(expect, "decision"));
	const char *er = json_string_value(json_object_get(expect, "rule"));
	return (ed == NULL || strcmp(ed, d) == 0) && (er == NULL || strcmp(er, r) == 0);
}

int
cli_client(const char *socket, const char *token, int argc, char **argv,
    FILE *out)
{
	if (argc < 2)
		goto usage;
	const char *what = argv[0], *verb = argv[1];
	json_t *req = json_pack("{s:i, s:s}", "v", PGWARD_IPC_VERSION, "token", token);
	char op[32];
	int review = strcmp(what, "review") == 0;
	if (!review && strcmp(what, "access") != 0)
		goto usage_free;
	if (strcmp(verb, "list") == 0 && argc == 2) {
		snprintf(op, sizeof op, "%s_list", what);
	} else if (review && argc == 3 && (strcmp(verb, "show") == 0 ||
	    strcmp(verb, "approve") == 0 || strcmp(verb, "deny") == 0)) {
		snprintf(op, sizeof op, "review_%s", verb);
		json_object_set_new(req, "id", json_string(argv[2]));
	} else if (!review && argc == 3 && (strcmp(verb, "grant") == 0 ||
	    strcmp(verb, "deny") == 0)) {
		snprintf(op, sizeof op, "access_%s", verb);
		json_object_set_new(req, "id", json_string(argv[2]));
	} else if (!review && argc >= 6 && strcmp(verb, "request") == 0) {
		char *end;
		long d = strtol(argv[4], &end, 10);
		if (*argv[4] == '\0' || *end != '\0' || d < 1) {
			log_error("duration must be a number of seconds");
			json_decref(req);
			return PGWARD_EXIT_USAGE;
		}
		size_t len = 0;
		for (int i = 5; i < argc; i++)
			len += strlen(argv[i]) + 1;
		char *reason = malloc(len + 1);
		if (reason == NULL)
			log_fatal(PGWARD_EXIT_TEMP, "out of memory");
		reason[0] = '\0';
		for (int i = 5; i < argc; i++) {
			strcat(reason, argv[i]);
			if (i + 1 < argc)
				strcat(reason, " ");
		}
		snprintf(op, sizeof op, "access_request");
		json_object_set_new(req, "connection", json_string(argv[2]));
		json_object_set_new(req, "role", json_string(argv[3]));
		json_object_set_new(req, "duration_s", json_integer(d));
		json_object_set_new(req, "reason", json_string(reason));
		free(reason);
	} else {
		goto usage_free;
	}
	json_object_set_new(req, "op", json_string(op));
	struct ipc_client c;
	char err[512];
	json_t *reply = NULL;
	if (ipc_client_open(&c, socket, 5000, err, sizeof err) != 0) {
		json_decref(req);
		log_error("unable to reach pgward-filter at %s: %s", socket, err);
		return PGWARD_EXIT_TEMP;
	}
	int rc = ipc_client_call(&c, req, &reply, 15000, err, sizeof err);
	json_decref(req);
	if (rc != 0) {
		log_error("no answer from pgward-filter: %s", err);
		return PGWARD_EXIT_TEMP;
	}
	ipc_client_close(&c);
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		log_error("refused: %s", e != NULL ? e : "no reason given");
		json_decref(reply);
		return 1;
	}
	const char *status = json_string_value(json_object_get(reply, "status"));
	if (strcmp(op, "review_list") == 0)
		print_list(out, json_object_get(reply, "reviews"));
	else if (strcmp(op, "access_list") == 0)
		print_list(out, json_object_get(reply, "requests"));
	else if (strcmp(op, "review_show") == 0)
		print_entry(out, "review", json_object_get(reply, "review"), 1);
	else if (strcmp(op, "access_request") == 0) {
		char *ap = json_dumps(json_object_get(reply, "approvers"), JSON_COMPACT);
		fprintf(out, "access request %s is pending; approvers: %s\n",
		    json_string_value(json_object_get(reply, "id")), ap ? ap : "?");
		free(ap);
	} else {
		fprintf(out, "%s %s: %s\n", what, argv[2], status ? status : "?");
		json_t *ge = json_object_get(reply, "grant_expires");
		if (ge != NULL) {
			time_t t = (time_t)json_integer_value(ge);
			char buf[64];
			strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
			fprintf(out, "grant in force until %s\n", buf);
		}
	}
	json_decref(reply);
	return 0;
usage_free:
	json_decref(req);
usage:
	log_error("expected review list|show ID|approve ID|deny ID or access "
	    "request CONNECTION ROLE SECONDS REASON|grant ID|deny ID|list");
	return PGWARD_EXIT_USAGE;
}

static void
print_list(FILE *out, json_t *a)
{
	size_t i;
	json_t *e;
	if (json_array_size(a) == 0)
		fprintf(out, "nothing to show\n");
	json_array_foreach(a, i, e)
		print_entry(out, json_string_value(json_object_get(e, "id"))[0] == 'r' ?
		    "review" : "access", e, 0);
}

static void
print_entry(FILE *out, const char *kind, json_t *e, int full)
{
	const char *s;
	long long now = (long long)time(NULL);
	long long exp = json_integer_value(json_object_get(e, "expires"));
	char *by = json_dumps(json_object_get(e, "by"), JSON_COMPACT);
	fprintf(out, "%s  %-9s  %s  by %s", json_string_value(json_object_get(e, "id")),
	    json_string_value(json_object_get(e, "status")), kind,
	    json_string_value(json_object_get(e, "user")));
	if (strcmp(kind, "review") == 0)
		fprintf(out, "  rule %s", json_string_value(json_object_get(e, "rule")));
	else
		fprintf(out, "  role %s on %s for %llds",
		    json_string_value(json_object_get(e, "role")),
		    json_string_value(json_object_get(e, "connection")),
		    (long long)json_integer_value(json_object_get(e, "duration_s")));
	if (strcmp(json_string_value(json_object_get(e, "status")), "pending") == 0)
		fprintf(out, "  %lld/%lld approvals  expires in %llds%s",
		    (long long)json_array_size(json_object_get(e, "by")),
		    (long long)json_integer_value(json_object_get(e, "approvals")),
		    exp > now ? exp - now : 0,
		    json_is_true(json_object_get(e, "can_decide")) ? "  (you may decide)" : "");
	fputc('\n', out);
	if ((s = json_string_value(json_object_get(e, "sql"))) != NULL)
		fprintf(out, "    sql: %s\n", s);
	if ((s = json_string_value(json_object_get(e, "reason"))) != NULL)
		fprintf(out, "    reason: %s\n", s);
	if (full) {
		char *ap = json_dumps(json_object_get(e, "approvers"), JSON_COMPACT);
		char *g = json_dumps(json_object_get(e, "groups"), JSON_COMPACT);
		fprintf(out, "    requester groups: %s\n    approver groups: %s\n"
		    "    approved by: %s\n", g ? g : "?", ap ? ap : "?", by ? by : "?");
		if ((s = json_string_value(json_object_get(e, "session"))) != NULL)
			fprintf(out, "    session: %s\n", s);
		if ((s = json_string_value(json_object_get(e, "connection"))) != NULL)
			fprintf(out, "    connection: %s  role: %s\n", s,
			    json_string_value(json_object_get(e, "role")));
		if ((s = json_string_value(json_object_get(e, "denied_by"))) != NULL)
			fprintf(out, "    denied by: %s\n", s);
		free(ap);
		free(g);
	}
	free(by);
}
