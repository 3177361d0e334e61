#include "replay/ocsf.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "replay/jsonw.h"
#include "replay/recfast.h"
#include "replay/when.h"
#include "replay/who.h"

#define OCSF_HEAD "{\"class_uid\":6005,\"class_name\":\"Datastore Activity\"," \
	"\"category_uid\":6,\"category_name\":\"Application Activity\""
#define OCSF_PRODUCT "\"version\":\"1.1.0\",\"product\":{\"name\":\"pgward\"," \
	"\"vendor_name\":\"pgward\",\"version\":\"" PGWARD_VERSION "\"}"

/* A decoded string: its raw spelling when that is already what jsonw_str
 * writes (the usual case: no decoding, no re-encoding), else the decoded
 * bytes (NUL as \u0000, bytes that are not UTF-8 as \uFFFD). */
static void
ocsf_str(struct siem_buf *b, const struct facts_str *s)
{
	if (s->raw == NULL || jsonw_raw(b, s->raw) != 0)
		jsonw_str(b, s->p, s->n);
}

/* A raw JSON string value not decoded yet (as ocsf_str). */
static void
ocsf_raw_str(struct siem_buf *b, const struct rec_span *v)
{
	if (jsonw_raw(b, v) == 0)
		return;
	char small[256];
	char *t = v->n <= sizeof small ? small : malloc(v->n);
	size_t n;
	if (t == NULL)
		b->oom = 1;
	else if (rec_unescape_into(v, t, &n) == 0)
		jsonw_str(b, t, n);
	else
		SIEM_LIT(b, "null");
	if (t != small)
		free(t);
}

/* The string or null (jansson's "s?"). */
static void
ocsf_str_or_null(struct siem_buf *b, const struct facts_str *s)
{
	if (s->p == NULL)
		SIEM_LIT(b, "null");
	else
		ocsf_str(b, s);
}

/* key (with its leading comma) and the string, when there is one. */
static void
ocsf_member(struct siem_buf *b, const char *key, size_t kn, const struct facts_str *s)
{
	if (s->p == NULL)
		return;
	siem_put(b, key, kn);
	ocsf_str(b, s);
}

#define OCSF_MEMBER(b, key, s) ocsf_member((b), "" key, sizeof(key) - 1, (s))

static void
ocsf_metadata(struct siem_buf *b, const struct siem_facts *f)
{
	SIEM_LIT(b, ",\"metadata\":{" OCSF_PRODUCT ",\"uid\":\"");
	siem_putull(b, f->r.seq);
	SIEM_LIT(b, "\",\"log_name\":\"pgward-audit\",\"original_time\":");
	jsonw_str(b, f->r.ts, REC_TS_LEN);
	SIEM_LIT(b, ",\"sequence\":");
	siem_putll(b, (long long)f->r.seq);
	OCSF_MEMBER(b, ",\"correlation_uid\":", &f->session);
	SIEM_LIT(b, "}");
}

/* One {"name"} for each string of the groups array, as it is. */
static void
ocsf_groups(struct siem_buf *b, const struct rec_span *g)
{
	char small[512];
	char *t = g->n < sizeof small ? small : malloc(g->n + 1);
	if (t == NULL) {
		b->oom = 1;
		return;
	}
	size_t pos = 0, n;
	for (int first = 1; facts_group_next(g, &pos, t, &n); first = 0) {
		if (!first)
			SIEM_LIT(b, ",");
		SIEM_LIT(b, "{\"name\":");
		jsonw_str(b, t, n);
		SIEM_LIT(b, "}");
	}
	if (t != small)
		free(t);
}

/* actor: user (name, uid, groups) and session. */
static void
ocsf_actor(struct siem_buf *b, const struct siem_facts *f, const struct siem_session *sess)
{
	struct facts_str uid = f->user;
	if (f->sub.p != NULL)
		uid = f->sub;
	else if (sess != NULL && sess->sub != NULL)
		uid = (struct facts_str){ sess->sub, sess->sub_n, NULL };
	SIEM_LIT(b, ",\"actor\":{\"user\":{\"name\":");
	ocsf_str_or_null(b, &f->user);
	SIEM_LIT(b, ",\"uid\":");
	ocsf_str_or_null(b, &uid);
	SIEM_LIT(b, ",\"groups\":[");
	if (f->groups_raw != NULL)
		ocsf_groups(b, f->groups_raw);
	SIEM_LIT(b, "]}");
	/* The agent acting now (the outermost actor): OCSF 1.1's name of the
	 * service through which the user acted. */
	size_t pos = 0;
	struct who_actor w;
	if (f->actor != NULL && who_actor_next(f->actor, &pos, &w)) {
		SIEM_LIT(b, ",\"invoked_by\":");
		ocsf_raw_str(b, &w.sub);
	}
	SIEM_LIT(b, ",\"session\":{\"uid\":");
	ocsf_str_or_null(b, &f->session);
	SIEM_LIT(b, "}}");
}

static void
ocsf_src_endpoint(struct siem_buf *b, const struct siem_facts *f,
    const struct siem_session *sess)
{
	struct facts_str client = f->client;
	if (client.p == NULL && sess != NULL && sess->client != NULL)
		client = (struct facts_str){ sess->client, sess->client_n, NULL };
	const char *ip;
	size_t iplen;
	long port;
	if (client.p == NULL) {
		/* Required: the session began before what was read. */
		SIEM_LIT(b, ",\"src_endpoint\":{\"name\":\"unknown\"}");
		return;
	}
	if (!facts_split_client(client.p, client.n, &ip, &iplen, &port)) {
		/* Not an IP (the relay's "unix:pid=…,uid=…", or anything else):
		 * the whole value as the endpoint's name. */
		SIEM_LIT(b, ",\"src_endpoint\":{\"name\":");
		ocsf_str(b, &client);
		SIEM_LIT(b, "}");
		return;
	}
	SIEM_LIT(b, ",\"src_endpoint\":{\"ip\":");
	jsonw_str(b, ip, iplen);
	if (port >= 0) {
		SIEM_LIT(b, ",\"port\":");
		siem_putll(b, port);
	}
	SIEM_LIT(b, "}");
}

static void
ocsf_query(struct siem_buf *b, const struct siem_facts *f)
{
	if (f->sql.p == NULL)
		return;
	SIEM_LIT(b, ",\"query_info\":{\"datastore_query\":");
	if (f->sql_binary)
		jsonw_str(b, f->sql_b64.p, f->sql_b64.n);
	else
		ocsf_str(b, &f->sql);
	if (f->sql_binary)
		SIEM_LIT(b, ",\"query_encoding\":\"base64\"");
	SIEM_LIT(b, "}");
}

/* The comma before a member of unmapped, unless it is the first, and the
 * key. */
static void
ocsf_un_key(struct siem_buf *b, const char *key, int *first)
{
	if (!*first)
		SIEM_LIT(b, ",");
	*first = 0;
	SIEM_LIT(b, "\"");
	siem_puts(b, key);
	SIEM_LIT(b, "\":");
}

static void
ocsf_un_str(struct siem_buf *b, const char *key, const struct facts_str *s, int *first)
{
	if (s->p == NULL)
		return;
	ocsf_un_key(b, key, first);
	ocsf_str(b, s);
}

/* A raw value (params, actor) as jansson reads and writes it: as it is
 * when it is in the form jansson writes, else through jansson; left out
 * if jansson cannot read it. */
static void
ocsf_un_json(struct siem_buf *b, const char *key, const struct rec_span *v, int *first)
{
	if (recfast_value_end(v->p, v->p + v->n) == v->p + v->n) {
		ocsf_un_key(b, key, first);
		siem_put(b, v->p, v->n);
		return;
	}
	json_t *j = json_loadb(v->p, v->n, JSON_DECODE_ANY, NULL);
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENSURE_ASCII | JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	if (s != NULL) {
		ocsf_un_key(b, key, first);
		siem_puts(b, s);
	}
	free(s);
}

static void
ocsf_unmapped(struct siem_buf *b, const struct siem_facts *f)
{
	int first = 1;
	SIEM_LIT(b, ",\"unmapped\":{");
	ocsf_un_str(b, "type", &f->type_text, &first);
	ocsf_un_str(b, "role", &f->role, &first);
	ocsf_un_str(b, "rule", &f->rule, &first);
	if (f->has_intent) {
		ocsf_un_key(b, "intent_seq", &first);
		siem_putll(b, f->intent);
	}
	if (f->has_rows) {
		ocsf_un_key(b, "rows", &first);
		siem_putll(b, f->rows);
	}
	double d;
	if (f->duration != NULL && rec_span_num(f->duration, &d) == 0) {
		size_t mark = b->n;
		int was = first;
		ocsf_un_key(b, "duration_ms", &first);
		if (jsonw_real(b, d) != 0) {
			b->n = mark;
			first = was;
		}
	}
	ocsf_un_str(b, "reason", &f->reason, &first);
	if (f->params != NULL)
		ocsf_un_json(b, "params", f->params, &first);
	ocsf_un_str(b, "principal", &f->principal, &first);
	if (f->actor != NULL)
		ocsf_un_json(b, "actor", f->actor, &first);
	ocsf_un_str(b, "client_id", &f->client_id, &first);
	SIEM_LIT(b, "}");
}

int
ocsf_record(struct siem_buf *b, const struct siem_facts *f, const struct siem_session *sess)
{
	int activity = 99;
	const char *aname = "Other";
	if (facts_is(f, "intent") || facts_is(f, "result")) {
		activity = 4;
		aname = "Query";
	} else if (facts_is(f, "session_start")) {
		activity = 3;
		aname = "Connect";
	} else if (facts_is(f, "session_end")) {
		aname = "Disconnect";
	}
	SIEM_LIT(b, OCSF_HEAD ",\"activity_id\":");
	siem_putll(b, activity);
	SIEM_LIT(b, ",\"activity_name\":\"");
	siem_puts(b, aname);
	SIEM_LIT(b, "\",\"type_uid\":");
	siem_putll(b, 600500 + activity);
	SIEM_LIT(b, ",\"type_name\":\"Datastore Activity: ");
	siem_puts(b, aname);
	int sev = facts_severity(f);
	if (sev == 7)
		SIEM_LIT(b, "\",\"severity_id\":4,\"severity\":\"High\"");
	else if (sev == 5)
		SIEM_LIT(b, "\",\"severity_id\":3,\"severity\":\"Medium\"");
	else
		SIEM_LIT(b, "\",\"severity_id\":1,\"severity\":\"Informational\"");
	SIEM_LIT(b, ",\"time\":");
	siem_putll(b, when_ms(f->r.ts));
	ocsf_metadata(b, f);
	ocsf_actor(b, f, sess);
	ocsf_src_endpoint(b, f, sess);
	if (f->connection.p != NULL) {
		SIEM_LIT(b, ",\"database\":{\"name\":");
		ocsf_str(b, &f->connection);
		SIEM_LIT(b, ",\"type_id\":99,\"type\":\"PostgreSQL\"}");
	}
	if (f->decision.p != NULL) {
		if (facts_eq(&f->decision, "allow"))
			SIEM_LIT(b, ",\"action_id\":1,\"action\":\"Allowed\",\"disposition_id\":1,"
			    "\"disposition\":\"Allowed\"");
		else if (facts_eq(&f->decision, "deny"))
			SIEM_LIT(b, ",\"action_id\":2,\"action\":\"Denied\",\"disposition_id\":2,"
			    "\"disposition\":\"Blocked\"");
		else
			SIEM_LIT(b, ",\"action_id\":99,\"action\":\"Review\",\"disposition_id\":99,"
			    "\"disposition\":\"Review\"");
	}
	if (f->status.p != NULL) {
		if (facts_eq(&f->status, "ok"))
			SIEM_LIT(b, ",\"status_id\":1,\"status\":\"Success\"");
		else
			SIEM_LIT(b, ",\"status_id\":2,\"status\":\"Failure\"");
		OCSF_MEMBER(b, ",\"status_code\":", &f->sqlstate);
		OCSF_MEMBER(b, ",\"status_detail\":", &f->message);
	}
	ocsf_query(b, f);
	ocsf_unmapped(b, f);
	SIEM_LIT(b, ",\"raw_data\":");
	jsonw_str(b, f->r.line, f->r.len);
	SIEM_LIT(b, "}\n");
	return 0;
}

int
ocsf_checkpoint(struct siem_buf *b, const char *note, const char *ts, const char *root,
    long long size)
{
	SIEM_LIT(b, OCSF_HEAD ",\"activity_id\":99,\"activity_name\":\"Checkpoint\","
	    "\"type_uid\":600599,\"type_name\":\"Datastore Activity: Other\","
	    "\"severity_id\":1,\"severity\":\"Informational\",\"time\":");
	siem_putll(b, when_ms(ts));
	SIEM_LIT(b, ",\"metadata\":{" OCSF_PRODUCT ",\"log_name\":\"pgward-audit\","
	    "\"original_time\":");
	jsonw_str(b, ts, strlen(ts));
	SIEM_LIT(b, "},\"actor\":{\"user\":{\"name\":\"pgward-logd\"}},"
	    "\"src_endpoint\":{\"name\":\"pgward-logd\"},\"message\":");
	jsonw_str(b, note, strlen(note));
	SIEM_LIT(b, ",\"unmapped\":{\"checkpoint_size\":");
	siem_putll(b, size);
	SIEM_LIT(b, ",\"checkpoint_root\":");
	jsonw_str(b, root, strlen(root));
	SIEM_LIT(b, ",\"checkpoint_note\":");
	jsonw_str(b, note, strlen(note));
	SIEM_LIT(b, "}}\n");
	return 0;
}
