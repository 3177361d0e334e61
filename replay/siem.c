#include "replay/siem.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditrec.h"
#include "daemon.h"
#include "replay/when.h"

#define SIEM_SD_ID "pgward@32473"
#define SIEM_FFFD "\xef\xbf\xbd"

void
siem_put(struct siem_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

void
siem_puts(struct siem_buf *b, const char *s)
{
	siem_put(b, s, strlen(s));
}

void
siem_printf(struct siem_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		siem_put(b, tmp, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (big == NULL) {
		b->oom = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	siem_put(b, big, (size_t)n);
	free(big);
}

void
siem_buf_free(struct siem_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* The length of the well-formed UTF-8 character at p, or 0. */
static size_t
siem_utf8_len(const unsigned char *p, const unsigned char *e)
{
	unsigned c = p[0];
	size_t n;
	unsigned min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if ((size_t)(e - p) < n)
		return 0;
	unsigned cp = c & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

enum siem_esc { ESC_CEF_HEADER, ESC_CEF_VALUE, ESC_SD, ESC_SD_LINE };

static void
siem_escape(struct siem_buf *b, const char *s, size_t n, enum siem_esc how)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	while (p < e) {
		/* A run of bytes that need nothing. */
		const unsigned char *q = p;
		while (q < e && *q >= 0x20 && *q < 0x7f && *q != '\\' &&
		    !(how <= ESC_CEF_VALUE && (*q == '|' || *q == '=')) &&
		    !(how >= ESC_SD && (*q == '"' || *q == ']')))
			q++;
		if (how == ESC_CEF_VALUE) {
			/* '|' needs no escape in an extension value. */
			while (q < e && (*q == '|' || (*q >= 0x20 && *q < 0x7f &&
			    *q != '\\' && *q != '=')))
				q++;
		} else if (how == ESC_CEF_HEADER) {
			while (q < e && (*q == '=' || (*q >= 0x20 && *q < 0x7f &&
			    *q != '\\' && *q != '|')))
				q++;
		}
		siem_put(b, (const char *)p, (size_t)(q - p));
		p = q;
		if (p >= e)
			break;
		unsigned char c = *p;
		if (c >= 0x80) {
			size_t l = siem_utf8_len(p, e);
			if (l == 0) {
				siem_puts(b, SIEM_FFFD);
				p++;
			} else {
				siem_put(b, (const char *)p, l);
				p += l;
			}
			continue;
		}
		p++;
		switch (how) {
		case ESC_CEF_HEADER:
			if (c == '\\' || c == '|') {
				char esc[2] = { '\\', (char)c };
				siem_put(b, esc, 2);
			} else if (c == '\r' || c == '\n') {
				siem_puts(b, " ");
			} else {
				siem_put(b, (const char *)&c, 1);
			}
			break;
		case ESC_CEF_VALUE:
			if (c == '\\' || c == '=') {
				char esc[2] = { '\\', (char)c };
				siem_put(b, esc, 2);
			} else if (c == '\n') {
				siem_puts(b, "\\n");
			} else if (c == '\r') {
				siem_puts(b, "\\r");
			} else {
				siem_put(b, (const char *)&c, 1);
			}
			break;
		case ESC_SD:
		case ESC_SD_LINE:
			if (c == '\\' || c == '"' || c == ']') {
				char esc[2] = { '\\', (char)c };
				siem_put(b, esc, 2);
			} else if (how == ESC_SD_LINE && (c < 0x20 || c == 0x7f)) {
				siem_printf(b, "#%03o", c);
			} else {
				siem_put(b, (const char *)&c, 1);
			}
			break;
		}
	}
}

void
siem_cef_header(struct siem_buf *b, const char *s, size_t n)
{
	siem_escape(b, s, n, ESC_CEF_HEADER);
}

void
siem_cef_value(struct siem_buf *b, const char *s, size_t n)
{
	siem_escape(b, s, n, ESC_CEF_VALUE);
}

void
siem_sd_value(struct siem_buf *b, const char *s, size_t n, int line_safe)
{
	siem_escape(b, s, n, line_safe ? ESC_SD_LINE : ESC_SD);
}

/* ---- the events ---- */

struct siem_facts {
	struct rec r;
	struct rec_span type;
	char *user, *session, *decision, *rule, *role, *connection, *status;
	char *sqlstate, *message, *reason, *groups;	/* groups: "a,b" */
	char *sql;
	size_t sql_len;
	int sql_binary;
	long long rows, intent;
	int has_rows, has_intent;
	double duration_ms;
	int has_duration;
};

static void
siem_facts_free(struct siem_facts *f)
{
	free(f->user); free(f->session); free(f->decision); free(f->rule);
	free(f->role); free(f->connection); free(f->status); free(f->sqlstate);
	free(f->message); free(f->reason); free(f->groups); free(f->sql);
}

static int
siem_facts(struct siem_facts *f, const char *line, size_t len)
{
	memset(f, 0, sizeof *f);
	if (rec_split(&f->r, line, len) != 0)
		return -1;
	const struct rec_span *t = rec_get(&f->r, "type");
	if (t != NULL && t->n >= 2)
		f->type = (struct rec_span){ t->p + 1, t->n - 2 };
	f->user = rec_str(&f->r, "user", NULL);
	f->session = rec_str(&f->r, "session", NULL);
	f->decision = rec_str(&f->r, "decision", NULL);
	f->rule = rec_str(&f->r, "rule", NULL);
	f->role = rec_str(&f->r, "role", NULL);
	f->connection = rec_str(&f->r, "connection", NULL);
	f->status = rec_str(&f->r, "status", NULL);
	f->sqlstate = rec_str(&f->r, "sqlstate", NULL);
	f->message = rec_str(&f->r, "message", NULL);
	f->reason = rec_str(&f->r, "reason", NULL);
	f->sql = rec_sql(&f->r, &f->sql_len, &f->sql_binary);
	f->has_rows = rec_int(&f->r, "rows", &f->rows) == 0;
	f->has_intent = rec_int(&f->r, "intent", &f->intent) == 0;
	f->has_duration = rec_num(&f->r, "duration_ms", &f->duration_ms) == 0;
	const struct rec_span *g = rec_get(&f->r, "groups");
	if (g != NULL) {
		json_t *a = json_loadb(g->p, g->n, JSON_DECODE_ANY, NULL);
		struct siem_buf gb = { 0 };
		size_t i;
		json_t *v;
		json_array_foreach(a, i, v) {
			if (i > 0)
				siem_puts(&gb, ",");
			if (json_is_string(v))
				siem_puts(&gb, json_string_value(v));
		}
		json_decref(a);
		f->groups = gb.p != NULL ? gb.p : strdup("");
	}
	return 0;
}

static int
siem_is(const struct siem_facts *f, const char *type)
{
	size_t n = strlen(type);
	return f->type.n == n && memcmp(f->type.p, type, n) == 0;
}

/* The SQL shown to a SIEM: the text, or the base64 of bytes that are not
 * UTF-8 (with sql_encoding=base64). */
static char *
siem_sql_text(const struct siem_facts *f, size_t *len)
{
	if (f->sql == NULL)
		return NULL;
	if (!f->sql_binary) {
		char *s = malloc(f->sql_len + 1);
		if (s != NULL) {
			memcpy(s, f->sql, f->sql_len + 1);
			*len = f->sql_len;
		}
		return s;
	}
	const struct rec_span *v = rec_get(&f->r, "sql");
	const char *b = v->p + 11;
	const char *q = memchr(b, '"', v->n - 11);
	*len = q ? (size_t)(q - b) : 0;
	return strndup(b, *len);
}

static void
siem_sha256_hex(const char *s, size_t n, char out[65])
{
	unsigned char h[32];
	unsigned int hl = 0;
	EVP_Digest(s, n, h, &hl, EVP_sha256(), NULL);
	auditrec_hex(h, 32, out);
}

/* "ip:port" or "[v6]:port" */
static void
siem_split_client(const char *client, char *ip, size_t iplen, long *port)
{
	*port = -1;
	ip[0] = '\0';
	if (client == NULL)
		return;
	const char *colon = strrchr(client, ':');
	const char *h = client;
	size_t hl = colon ? (size_t)(colon - client) : strlen(client);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	snprintf(ip, iplen, "%.*s", (int)hl, h);
	if (colon != NULL)
		*port = strtol(colon + 1, NULL, 10);
}

static int
siem_severity(const struct siem_facts *f)
{
	if (f->decision && strcmp(f->decision, "deny") == 0)
		return 7;
	if ((f->decision && strcmp(f->decision, "review") == 0) ||
	    (f->status && strcmp(f->status, "error") == 0))
		return 5;
	return 3;
}

/* OCSF 1.1 class 6005 Datastore Activity. */
static int
siem_ocsf(struct siem_buf *b, struct siem_facts *f, const struct siem_session *sess)
{
	int activity = 99;
	const char *aname = "Other";
	if (siem_is(f, "intent") || siem_is(f, "result")) {
		activity = 4;
		aname = "Query";
	} else if (siem_is(f, "session_start")) {
		activity = 3;
		aname = "Connect";
	} else if (siem_is(f, "session_end")) {
		aname = "Disconnect";
	}
	char tname[64];
	snprintf(tname, sizeof tname, "Datastore Activity: %s", aname);
	json_t *o = json_pack("{s:i, s:s, s:i, s:s, s:i, s:s, s:I, s:s}",
	    "class_uid", 6005, "class_name", "Datastore Activity",
	    "category_uid", 6, "category_name", "Application Activity",
	    "activity_id", activity, "activity_name", aname,
	    "type_uid", (json_int_t)(600500 + activity), "type_name", tname);
	if (o == NULL)
		return -1;
	int sev = siem_severity(f);
	json_object_set_new(o, "severity_id", json_integer(sev == 7 ? 4 : sev == 5 ? 3 : 1));
	json_object_set_new(o, "severity", json_string(sev == 7 ? "High" : sev == 5 ?
	    "Medium" : "Informational"));
	json_object_set_new(o, "time", json_integer(when_ms(f->r.ts)));
	char seqs[32];
	snprintf(seqs, sizeof seqs, "%llu", (unsigned long long)f->r.seq);
	json_object_set_new(o, "metadata", json_pack("{s:s, s:{s:s, s:s, s:s}, s:s, "
	    "s:s, s:s%, s:I}", "version", "1.1.0", "product", "name", "pgward",
	    "vendor_name", "pgward", "version", PGWARD_VERSION, "uid", seqs,
	    "log_name", "pgward-audit", "original_time", f->r.ts, (size_t)REC_TS_LEN,
	    "sequence", (json_int_t)f->r.seq));
	if (f->session != NULL)
		json_object_set_new(json_object_get(o, "metadata"), "correlation_uid",
		    json_string(f->session));
	json_t *groups = json_array();
	if (f->groups != NULL && f->groups[0] != '\0') {
		char *g = strdup(f->groups), *save = NULL;
		for (char *t = g ? strtok_r(g, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
			json_array_append_new(groups, json_pack("{s:s}", "name", t));
		free(g);
	}
	char *sub = rec_str(&f->r, "sub", NULL);
	const char *uid = sub ? sub : sess && sess->sub ? sess->sub : f->user;
	json_object_set_new(o, "actor", json_pack("{s:{s:s?, s:s?, s:o}, s:{s:s?}}",
	    "user", "name", f->user, "uid", uid, "groups", groups,
	    "session", "uid", f->session));
	free(sub);
	char *client = rec_str(&f->r, "client", NULL);
	const char *cl = client ? client : sess ? sess->client : NULL;
	char ip[128];
	long port;
	siem_split_client(cl, ip, sizeof ip, &port);
	json_t *src = json_object();
	if (ip[0] != '\0') {
		json_object_set_new(src, "ip", json_string(ip));
		if (port >= 0)
			json_object_set_new(src, "port", json_integer(port));
	} else {
		/* Required: the session began before what was read. */
		json_object_set_new(src, "name", json_string("unknown"));
	}
	free(client);
	json_object_set_new(o, "src_endpoint", src);
	if (f->connection != NULL)
		json_object_set_new(o, "database", json_pack("{s:s, s:i, s:s}", "name",
		    f->connection, "type_id", 99, "type", "PostgreSQL"));
	if (f->decision != NULL) {
		int allow = strcmp(f->decision, "allow") == 0;
		int deny = strcmp(f->decision, "deny") == 0;
		json_object_set_new(o, "action_id", json_integer(allow ? 1 : deny ? 2 : 99));
		json_object_set_new(o, "action", json_string(allow ? "Allowed" : deny ?
		    "Denied" : "Review"));
		json_object_set_new(o, "disposition_id", json_integer(allow ? 1 : deny ? 2 : 99));
		json_object_set_new(o, "disposition", json_string(allow ? "Allowed" : deny ?
		    "Blocked" : "Review"));
	}
	if (f->status != NULL) {
		int ok = strcmp(f->status, "ok") == 0;
		json_object_set_new(o, "status_id", json_integer(ok ? 1 : 2));
		json_object_set_new(o, "status", json_string(ok ? "Success" : "Failure"));
		if (f->sqlstate)
			json_object_set_new(o, "status_code", json_string(f->sqlstate));
		if (f->message)
			json_object_set_new(o, "status_detail", json_string(f->message));
	}
	size_t ql = 0;
	char *q = siem_sql_text(f, &ql);
	if (q != NULL) {
		json_object_set_new(o, "query_info", json_pack("{s:s%}", "datastore_query", q, ql));
		if (f->sql_binary)
			json_object_set_new(json_object_get(o, "query_info"), "query_encoding",
			    json_string("base64"));
	}
	free(q);
	json_t *un = json_object();
	json_object_set_new(un, "type", json_stringn(f->type.p, f->type.n));
	if (f->role)
		json_object_set_new(un, "role", json_string(f->role));
	if (f->rule)
		json_object_set_new(un, "rule", json_string(f->rule));
	if (f->has_intent)
		json_object_set_new(un, "intent_seq", json_integer(f->intent));
	if (f->has_rows)
		json_object_set_new(un, "rows", json_integer(f->rows));
	if (f->has_duration)
		json_object_set_new(un, "duration_ms", json_real(f->duration_ms));
	if (f->reason)
		json_object_set_new(un, "reason", json_string(f->reason));
	const struct rec_span *pa = rec_get(&f->r, "params");
	if (pa != NULL)
		json_object_set_new(un, "params", json_loadb(pa->p, pa->n, JSON_DECODE_ANY, NULL));
	json_object_set_new(o, "unmapped", un);
	json_object_set_new(o, "raw_data", json_stringn(f->r.line, f->r.len));
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(o);
	if (s == NULL)
		return -1;
	siem_puts(b, s);
	siem_puts(b, "\n");
	free(s);
	return 0;
}

static void
siem_cef_kv(struct siem_buf *b, const char *k, const char *v, size_t n)
{
	if (v == NULL)
		return;
	siem_printf(b, " %s=", k);
	siem_cef_value(b, v, n);
}

static void
siem_cef_s(struct siem_buf *b, const char *k, const char *v)
{
	if (v != NULL)
		siem_cef_kv(b, k, v, strlen(v));
}

static void
siem_cef_label(struct siem_buf *b, int i, const char *label, const char *v, size_t n)
{
	if (v == NULL)
		return;
	siem_printf(b, " cs%dLabel=%s", i, label);
	char k[8];
	snprintf(k, sizeof k, "cs%d", i);
	siem_cef_kv(b, k, v, n);
}

static int
siem_cef(struct siem_buf *b, struct siem_facts *f, const struct siem_session *sess)
{
	siem_puts(b, "CEF:0|pgward|pgward|" PGWARD_VERSION "|");
	siem_cef_header(b, f->type.p, f->type.n);
	siem_puts(b, "|");
	char name[128];
	snprintf(name, sizeof name, "%.*s%s%s", (int)f->type.n, f->type.p,
	    f->decision ? " " : f->status ? " " : "",
	    f->decision ? f->decision : f->status ? f->status : "");
	siem_cef_header(b, name, strlen(name));
	siem_printf(b, "|%d|rt=%lld", siem_severity(f), (long long)when_ms(f->r.ts));
	siem_printf(b, " externalId=%llu", (unsigned long long)f->r.seq);
	siem_cef_s(b, "suser", f->user);
	char *client = rec_str(&f->r, "client", NULL);
	const char *cl = client ? client : sess ? sess->client : NULL;
	char ip[128];
	long port;
	siem_split_client(cl, ip, sizeof ip, &port);
	if (ip[0] != '\0')
		siem_cef_s(b, "src", ip);
	if (port >= 0)
		siem_printf(b, " spt=%ld", port);
	free(client);
	siem_cef_s(b, "act", f->decision);
	siem_cef_s(b, "outcome", f->status);
	siem_cef_s(b, "reason", f->message ? f->message : f->reason);
	if (f->session)
		siem_cef_label(b, 1, "session", f->session, strlen(f->session));
	size_t ql = 0;
	char *q = siem_sql_text(f, &ql);
	if (q != NULL)
		siem_cef_label(b, 2, f->sql_binary ? "sql_base64" : "sql", q, ql);
	free(q);
	if (f->role)
		siem_cef_label(b, 3, "role", f->role, strlen(f->role));
	if (f->connection)
		siem_cef_label(b, 4, "connection", f->connection, strlen(f->connection));
	if (f->groups)
		siem_cef_label(b, 5, "groups", f->groups, strlen(f->groups));
	if (f->rule)
		siem_cef_label(b, 6, "rule", f->rule, strlen(f->rule));
	if (f->has_rows)
		siem_printf(b, " cn1Label=rows cn1=%lld", f->rows);
	if (f->has_intent)
		siem_printf(b, " cn2Label=intent cn2=%lld", f->intent);
	if (f->sqlstate)
		siem_cef_s(b, "flexString1Label=sqlstate flexString1", f->sqlstate);
	siem_puts(b, "\n");
	return 0;
}

static void
siem_sd_param(struct siem_buf *b, const char *name, const char *v, size_t n, int line)
{
	if (v == NULL)
		return;
	siem_printf(b, " %s=\"", name);
	siem_sd_value(b, v, n, line);
	siem_puts(b, "\"");
}

static void
siem_sd_s(struct siem_buf *b, const char *name, const char *v, int line)
{
	if (v != NULL)
		siem_sd_param(b, name, v, strlen(v), line);
}

/* The longest prefix of s whose escaped form fits in budget bytes, cut
 * at a character boundary. */
static size_t
siem_fit(const char *s, size_t n, size_t budget, int line)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	size_t used = 0;
	while (p < e) {
		size_t l = siem_utf8_len(p, e), w;
		if (l == 0) {
			l = 1;
			w = 3;
		} else if (l == 1) {
			unsigned char c = *p;
			w = (c == '\\' || c == '"' || c == ']') ? 2 :
			    (line && (c < 0x20 || c == 0x7f)) ? 4 : 1;
		} else {
			w = l;
		}
		if (used + w > budget)
			break;
		used += w;
		p += l;
	}
	return (size_t)(p - (const unsigned char *)s);
}

static void
siem_syslog_frame(const struct siem_opts *o, struct siem_buf *b, struct siem_buf *m)
{
	if (o->octet_counting)
		siem_printf(b, "%zu ", m->n);
	siem_put(b, m->p, m->n);
	if (!o->octet_counting)
		siem_puts(b, "\n");
}

/* RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG.
 * Facility local0 (16); severity 4 (warning) for a denial or an error,
 * 5 (notice) for a review, 6 (info) otherwise. */
static int
siem_syslog(const struct siem_opts *o, struct siem_buf *b, struct siem_facts *f,
    const struct siem_session *sess)
{
	int sev = siem_severity(f);
	int pri = 16 * 8 + (sev == 7 ? 4 : sev == 5 ? 5 : 6);
	if (f->status && strcmp(f->status, "error") == 0)
		pri = 16 * 8 + 4;
	int line = !o->octet_counting;
	struct siem_buf m = { 0 };
	char msgid[33];
	size_t ml = 0;
	for (size_t i = 0; i < f->type.n && ml < 32; i++)
		if (f->type.p[i] > 0x20 && f->type.p[i] < 0x7f)
			msgid[ml++] = f->type.p[i];
	msgid[ml] = '\0';
	siem_printf(&m, "<%d>1 %.*s %s pgward - %s [" SIEM_SD_ID " seq=\"%llu\"", pri,
	    REC_TS_LEN, f->r.ts, o->hostname, ml ? msgid : "-",
	    (unsigned long long)f->r.seq);
	siem_sd_s(&m, "session", f->session, line);
	siem_sd_s(&m, "user", f->user, line);
	siem_sd_s(&m, "groups", f->groups, line);
	char *client = rec_str(&f->r, "client", NULL);
	siem_sd_s(&m, "client", client ? client : sess ? sess->client : NULL, line);
	free(client);
	siem_sd_s(&m, "connection", f->connection, line);
	siem_sd_s(&m, "role", f->role, line);
	siem_sd_s(&m, "decision", f->decision, line);
	siem_sd_s(&m, "rule", f->rule, line);
	siem_sd_s(&m, "status", f->status, line);
	siem_sd_s(&m, "sqlstate", f->sqlstate, line);
	if (f->has_rows)
		siem_printf(&m, " rows=\"%lld\"", f->rows);
	if (f->has_intent)
		siem_printf(&m, " intent=\"%lld\"", f->intent);
	siem_sd_s(&m, "reason", f->reason, line);
	siem_sd_s(&m, "message", f->message, line);
	size_t ql = 0;
	char *q = siem_sql_text(f, &ql);
	/* MSG: a short summary. */
	char summary[256];
	snprintf(summary, sizeof summary, "%.*s%s%s%s%s", (int)f->type.n, f->type.p,
	    f->user ? " by " : "", f->user ? f->user : "",
	    f->decision ? ": " : f->status ? ": " : "",
	    f->decision ? f->decision : f->status ? f->status : "");
	for (char *c = summary; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = ' ';
	if (q != NULL) {
		char hex[65];
		siem_sha256_hex(f->sql ? f->sql : q, f->sql ? f->sql_len : ql, hex);
		siem_printf(&m, " sql_sha256=\"%s\" sql_bytes=\"%zu\"", hex,
		    f->sql ? f->sql_len : ql);
		if (f->sql_binary)
			siem_puts(&m, " sql_encoding=\"base64\"");
		/* The rest of the budget for the SQL, after the fixed end:
		 * ' sql_truncated="true" sql="' '"]' ' ' summary. */
		size_t tail = 22 + 7 + 2 + 1 + strlen(summary);
		size_t budget = o->max_bytes > m.n + tail ? o->max_bytes - m.n - tail : 0;
		size_t fit = siem_fit(q, ql, budget, line);
		if (fit < ql)
			siem_puts(&m, " sql_truncated=\"true\"");
		siem_sd_param(&m, "sql", q, fit, line);
	}
	free(q);
	siem_puts(&m, "] ");
	siem_puts(&m, summary);
	if (m.oom) {
		siem_buf_free(&m);
		return -1;
	}
	siem_syslog_frame(o, b, &m);
	siem_buf_free(&m);
	return 0;
}

int
siem_record(const struct siem_opts *o, struct siem_buf *b, const char *line,
    size_t len, const struct siem_session *sess)
{
	if (o->format == SIEM_JSONL) {
		siem_put(b, line, len);
		siem_puts(b, "\n");
		return 0;
	}
	struct siem_facts f;
	if (siem_facts(&f, line, len) != 0) {
		siem_facts_free(&f);
		return -1;
	}
	if (f.groups == NULL && sess != NULL && sess->groups != NULL)
		f.groups = strdup(sess->groups);
	int rc = o->format == SIEM_OCSF ? siem_ocsf(b, &f, sess) :
	    o->format == SIEM_CEF ? siem_cef(b, &f, sess) : siem_syslog(o, b, &f, sess);
	siem_facts_free(&f);
	return rc;
}

int
siem_checkpoint(const struct siem_opts *o, struct siem_buf *b, const char *line,
    size_t len)
{
	if (len < 2 || line[0] != '{')
		return -1;
	if (o->format == SIEM_JSONL) {
		siem_puts(b, "{\"type\":\"checkpoint\",");
		siem_put(b, line + 1, len - 1);
		siem_puts(b, "\n");
		return 0;
	}
	json_t *j = json_loadb(line, len, 0, NULL);
	const char *note = json_string_value(json_object_get(j, "note"));
	const char *ts = json_string_value(json_object_get(j, "ts"));
	const char *root = json_string_value(json_object_get(j, "root"));
	json_int_t size = json_integer_value(json_object_get(j, "size"));
	if (note == NULL || ts == NULL || root == NULL || strlen(ts) != REC_TS_LEN) {
		json_decref(j);
		return -1;
	}
	int rc = 0;
	if (o->format == SIEM_OCSF) {
		json_t *ev = json_pack("{s:i, s:s, s:i, s:s, s:i, s:s, s:i, s:s, s:i, s:s, "
		    "s:I, s:{s:s, s:{s:s, s:s, s:s}, s:s, s:s}, s:{s:{s:s}}, s:{s:s}, s:s, "
		    "s:{s:I, s:s, s:s}}",
		    "class_uid", 6005, "class_name", "Datastore Activity",
		    "category_uid", 6, "category_name", "Application Activity",
		    "activity_id", 99, "activity_name", "Checkpoint",
		    "type_uid", 600599, "type_name", "Datastore Activity: Other",
		    "severity_id", 1, "severity", "Informational",
		    "time", (json_int_t)when_ms(ts),
		    "metadata", "version", "1.1.0", "product", "name", "pgward",
		    "vendor_name", "pgward", "version", PGWARD_VERSION,
		    "log_name", "pgward-audit", "original_time", ts,
		    "actor", "user", "name", "pgward-logd",
		    "src_endpoint", "name", "pgward-logd",
		    "message", note,
		    "unmapped", "checkpoint_size", size, "checkpoint_root", root,
		    "checkpoint_note", note);
		char *s = ev ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER |
		    JSON_ENSURE_ASCII) : NULL;
		json_decref(ev);
		if (s == NULL) {
			rc = -1;
		} else {
			siem_puts(b, s);
			siem_puts(b, "\n");
			free(s);
		}
	} else if (o->format == SIEM_CEF) {
		siem_printf(b, "CEF:0|pgward|pgward|" PGWARD_VERSION "|checkpoint|checkpoint|1|"
		    "rt=%lld cn1Label=size cn1=%lld cs1Label=root cs1=", (long long)when_ms(ts),
		    (long long)size);
		siem_cef_value(b, root, strlen(root));
		siem_puts(b, " msg=");
		siem_cef_value(b, note, strlen(note));
		siem_puts(b, "\n");
	} else {
		struct siem_buf m = { 0 };
		siem_printf(&m, "<134>1 %s %s pgward - checkpoint [" SIEM_SD_ID
		    " size=\"%lld\"", ts, o->hostname, (long long)size);
		siem_sd_s(&m, "root", root, !o->octet_counting);
		siem_sd_s(&m, "note", note, !o->octet_counting);
		siem_printf(&m, "] checkpoint %lld", (long long)size);
		siem_syslog_frame(o, b, &m);
		siem_buf_free(&m);
	}
	json_decref(j);
	return rc;
}
