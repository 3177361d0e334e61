#include "replay/siem.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditrec.h"
#include "daemon.h"
#include "replay/facts.h"
#include "replay/ocsf.h"
#include "replay/when.h"

#define SIEM_SD_ID "pgward@32473"
#define SIEM_FFFD "\xef\xbf\xbd"

int
siem_grow(struct siem_buf *b, size_t n)
{
	if (b->oom)
		return -1;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->n + n + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (p == NULL) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void
siem_putull(struct siem_buf *b, unsigned long long v)
{
	char tmp[24];
	char *e = tmp + sizeof tmp, *p = e;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	siem_put(b, p, (size_t)(e - p));
}

void
siem_putll(struct siem_buf *b, long long v)
{
	if (v < 0) {
		SIEM_LIT(b, "-");
		siem_putull(b, 0ULL - (unsigned long long)v);
	} else {
		siem_putull(b, (unsigned long long)v);
	}
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

size_t
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

enum siem_esc { ESC_CEF_HEADER, ESC_CEF_VALUE, ESC_SD, ESC_SD_LINE, ESC_MSG };
/* What a byte needs in each escaping: copied, preceded by '\', the
 * format's own form of CR and LF, part of a UTF-8 character, \u00XX,
 * #ooo. */
enum { CL_COPY, CL_BACKSLASH, CL_CONTROL, CL_UTF8, CL_HEX, CL_OCT };

static const unsigned char *
siem_classes(enum siem_esc how)
{
	static unsigned char cl[5][256];
	static int ready;
	if (!ready) {
		for (int h = ESC_CEF_HEADER; h <= ESC_MSG; h++) {
			for (int c = 0; c < 256; c++) {
				int ctl = c < 0x20 || c == 0x7f;
				unsigned char k = c >= 0x80 ? CL_UTF8 : c == '\\' ? CL_BACKSLASH :
				    CL_COPY;
				if (h == ESC_CEF_HEADER && c == '|')
					k = CL_BACKSLASH;
				if (h == ESC_CEF_VALUE && c == '=')
					k = CL_BACKSLASH;
				if (h <= ESC_CEF_VALUE && ctl)
					k = c == '\r' || c == '\n' ? CL_CONTROL : CL_HEX;
				if ((h == ESC_SD || h == ESC_SD_LINE) && (c == '"' || c == ']'))
					k = CL_BACKSLASH;
				if (h == ESC_SD && ctl && c != '\t' && c != '\n' && c != '\r')
					k = CL_OCT;
				if ((h == ESC_SD_LINE || h == ESC_MSG) && ctl)
					k = CL_OCT;
				if (h == ESC_MSG && c == '\\')
					k = CL_COPY;
				cl[h][c] = k;
			}
		}
		ready = 1;
	}
	return cl[how];
}

/* The bytes the character at p takes escaped (*len: its length in). */
static size_t
siem_width(const unsigned char *cl, const unsigned char *p, const unsigned char *e,
    size_t *len)
{
	*len = 1;
	switch (cl[*p]) {
	case CL_COPY: return 1;
	case CL_BACKSLASH: case CL_CONTROL: return 2;
	case CL_HEX: return 6;
	case CL_OCT: return 4;
	}
	size_t l = siem_utf8_len(p, e);
	if (l == 0)
		return 3;
	*len = l;
	return l;
}

/* s[0..n) escaped into o, which has room for 6 * n bytes ("\u00XX" for
 * each); returns the end. */
static char *
siem_escape_to(char *o, const char *s, size_t n, enum siem_esc how)
{
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *cl = siem_classes(how);
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	while (p < e) {
		unsigned char c = *p;
		switch (cl[c]) {
		case CL_COPY:
			*o++ = (char)c;
			p++;
			break;
		case CL_BACKSLASH:
			*o++ = '\\';
			*o++ = (char)c;
			p++;
			break;
		case CL_CONTROL:
			p++;
			if (how == ESC_CEF_HEADER) {
				*o++ = ' ';
			} else {
				*o++ = '\\';
				*o++ = c == '\n' ? 'n' : 'r';
			}
			break;
		case CL_HEX:
			p++;
			memcpy(o, "\\u00", 4);
			o[4] = hexd[c >> 4];
			o[5] = hexd[c & 0xf];
			o += 6;
			break;
		case CL_OCT:
			/* rsyslog's #ooo */
			p++;
			*o++ = '#';
			*o++ = (char)('0' + (c >> 6));
			*o++ = (char)('0' + ((c >> 3) & 7));
			*o++ = (char)('0' + (c & 7));
			break;
		default: {
			size_t l = siem_utf8_len(p, e);
			if (l == 0) {
				memcpy(o, SIEM_FFFD, 3);
				o += 3;
				p++;
			} else {
				memcpy(o, p, l);
				o += l;
				p += l;
			}
		}
		}
	}
	return o;
}

static void
siem_escape(struct siem_buf *b, const char *s, size_t n, enum siem_esc how)
{
	if (n == 0 || !siem_room(b, 6 * n))
		return;
	b->n = (size_t)(siem_escape_to(b->p + b->n, s, n, how) - b->p);
	b->p[b->n] = '\0';
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

/* Appends s to a C string of at most cap - 1 bytes, cut where it fills. */
static void
siem_cat(char *dst, size_t *n, size_t cap, const char *s, size_t sn)
{
	size_t room = cap - 1 - *n;
	if (sn > room)
		sn = room;
	if (sn > 0)
		memcpy(dst + *n, s, sn);
	*n += sn;
	dst[*n] = '\0';
}

static void
siem_sha256_hex(const char *s, size_t n, char out[65])
{
	/* One context and one fetched digest for the whole export. */
	static EVP_MD_CTX *ctx;
	static EVP_MD *md;
	unsigned char h[32];
	unsigned int hl = 0;
	if (ctx == NULL)
		ctx = EVP_MD_CTX_new();
	if (md == NULL)
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (ctx == NULL || md == NULL || EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, s, n) != 1 || EVP_DigestFinal_ex(ctx, h, &hl) != 1)
		EVP_Digest(s, n, h, &hl, EVP_sha256(), NULL);
	auditrec_hex(h, 32, out);
}

/* The SQL shown to a SIEM: the text, or the base64 of bytes that are not
 * UTF-8 (with sql_encoding=base64). */
static struct rec_span
siem_sql_text(const struct siem_facts *f)
{
	if (f->sql_binary)
		return f->sql_b64;
	return (struct rec_span){ f->sql.p, f->sql.n };
}

/* The client address: the record's, else the session's (p NULL: none). */
static struct rec_span
siem_client(const struct siem_facts *f, const struct siem_session *sess)
{
	if (f->client.p != NULL)
		return (struct rec_span){ f->client.p, f->client.n };
	if (sess != NULL && sess->client != NULL)
		return (struct rec_span){ sess->client, sess->client_n };
	return (struct rec_span){ NULL, 0 };
}

/* A list as join (facts_groups, facts_actors) writes it, escaped as how
 * says, after key; nothing without the member, nor (unless keep_empty)
 * for an empty list. */
static void
siem_joined(struct siem_buf *b, const struct rec_span *v,
    size_t (*join)(const struct rec_span *, char *), int keep_empty, const char *key,
    size_t kn, enum siem_esc how)
{
	if (v == NULL)
		return;
	char small[1024];
	size_t room = FACTS_GROUPS_ROOM(v->n);
	char *t = room <= sizeof small ? small : malloc(room);
	if (t == NULL) {
		b->oom = 1;
		return;
	}
	size_t n = join(v, t);
	if (n > 0 || keep_empty) {
		siem_put(b, key, kn);
		siem_escape(b, t, n, how);
		if (how >= ESC_SD)
			SIEM_LIT(b, "\"");
	}
	if (t != small)
		free(t);
}

#define SIEM_GROUPS(b, f, key, how) siem_joined((b), (f)->groups_raw, facts_groups, 1, \
	"" key, sizeof(key) - 1, (how))
#define SIEM_ACTORS(b, f, key, how) siem_joined((b), (f)->actor, facts_actors, 0, \
	"" key, sizeof(key) - 1, (how))

static void
siem_cef_field(struct siem_buf *b, const char *key, size_t kn, const char *v, size_t n)
{
	if (v == NULL)
		return;
	siem_put(b, key, kn);
	siem_cef_value(b, v, n);
}

/* " key=" and the escaped value, when there is one. */
#define SIEM_CEF(b, key, v, n) siem_cef_field((b), "" key, sizeof(key) - 1, (v), (n))

static int
siem_cef(struct siem_buf *b, const struct siem_facts *f, const struct siem_session *sess)
{
	SIEM_LIT(b, "CEF:0|pgward|pgward|" PGWARD_VERSION "|");
	if (f->type_text.p != NULL)
		siem_cef_header(b, f->type_text.p, f->type_text.n);
	SIEM_LIT(b, "|");
	/* The name: "<type> <decision or status>", kept in 128 bytes. */
	char name[128];
	size_t nl = 0;
	name[0] = '\0';
	const struct facts_str *what = f->decision.p ? &f->decision :
	    f->status.p ? &f->status : NULL;
	if (f->type_text.p != NULL)
		siem_cat(name, &nl, sizeof name, f->type_text.p, f->type_text.n);
	if (what != NULL) {
		siem_cat(name, &nl, sizeof name, " ", 1);
		siem_cat(name, &nl, sizeof name, what->p, what->n);
	}
	siem_cef_header(b, name, nl);
	SIEM_LIT(b, "|");
	siem_putll(b, facts_severity(f));
	SIEM_LIT(b, "|rt=");
	siem_putll(b, when_ms(f->r.ts));
	SIEM_LIT(b, " externalId=");
	siem_putull(b, f->r.seq);
	SIEM_CEF(b, " suser=", f->user.p, f->user.n);
	const char *ip;
	size_t iplen;
	long port;
	struct rec_span client = siem_client(f, sess);
	if (facts_split_client(client.p, client.n, &ip, &iplen, &port)) {
		SIEM_CEF(b, " src=", ip, iplen);
		if (port >= 0) {
			SIEM_LIT(b, " spt=");
			siem_putll(b, port);
		}
	} else {
		/* Not an IP (src must be one): the whole value, labelled. */
		SIEM_CEF(b, " flexString2Label=client flexString2=", client.p, client.n);
	}
	SIEM_CEF(b, " act=", f->decision.p, f->decision.n);
	SIEM_CEF(b, " outcome=", f->status.p, f->status.n);
	const struct facts_str *why = f->message.p ? &f->message : &f->reason;
	SIEM_CEF(b, " reason=", why->p, why->n);
	SIEM_CEF(b, " cs1Label=session cs1=", f->session.p, f->session.n);
	struct rec_span q = siem_sql_text(f);
	if (f->sql_binary)
		SIEM_CEF(b, " cs2Label=sql_base64 cs2=", q.p, q.n);
	else
		SIEM_CEF(b, " cs2Label=sql cs2=", q.p, q.n);
	SIEM_CEF(b, " cs3Label=role cs3=", f->role.p, f->role.n);
	SIEM_CEF(b, " cs4Label=connection cs4=", f->connection.p, f->connection.n);
	SIEM_GROUPS(b, f, " cs5Label=groups cs5=", ESC_CEF_VALUE);
	SIEM_CEF(b, " cs6Label=rule cs6=", f->rule.p, f->rule.n);
	if (f->has_rows) {
		SIEM_LIT(b, " cn1Label=rows cn1=");
		siem_putll(b, f->rows);
	}
	if (f->has_intent) {
		SIEM_LIT(b, " cn2Label=intent cn2=");
		siem_putll(b, f->intent);
	}
	SIEM_CEF(b, " flexString1Label=sqlstate flexString1=", f->sqlstate.p, f->sqlstate.n);
	/* Who acts beyond suser: the six cs fields are taken, so keys of
	 * pgward's own (CEF allows vendor keys beyond its dictionary). */
	SIEM_CEF(b, " pgwardPrincipal=", f->principal.p, f->principal.n);
	SIEM_ACTORS(b, f, " pgwardActor=", ESC_CEF_VALUE);
	SIEM_CEF(b, " pgwardClientId=", f->client_id.p, f->client_id.n);
	SIEM_LIT(b, "\n");
	return 0;
}

static void
siem_sd_param(struct siem_buf *b, const char *key, size_t kn, const char *v, size_t n,
    int line)
{
	if (v == NULL)
		return;
	siem_put(b, key, kn);
	siem_sd_value(b, v, n, line);
	SIEM_LIT(b, "\"");
}

/* ' key="', the escaped value and '"', when there is one. */
#define SIEM_SD(b, key, v, n, line) siem_sd_param((b), "" key, sizeof(key) - 1, (v), (n), (line))

/* The longest prefix of s whose escaped form fits in budget bytes, cut
 * at a character boundary. */
static size_t
siem_fit(const char *s, size_t n, size_t budget, int line)
{
	if (n <= budget / 4)
		return n;	/* fits even if every byte took 4 */
	const unsigned char *cl = siem_classes(line ? ESC_SD_LINE : ESC_SD);
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	size_t used = 0;
	while (p < e) {
		size_t l, w = siem_width(cl, p, e, &l);
		if (used + w > budget)
			break;
		used += w;
		p += l;
	}
	return (size_t)(p - (const unsigned char *)s);
}

/* RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG.
 * Facility local0 (16); severity 4 (warning) for a denial or an error,
 * 5 (notice) for a review, 6 (info) otherwise. Written in place: the
 * message starts at start. */
static int
siem_syslog(const struct siem_opts *o, struct siem_buf *b, const struct siem_facts *f,
    const struct siem_session *sess)
{
	int sev = facts_severity(f);
	int pri = 16 * 8 + (sev == 7 ? 4 : sev == 5 ? 5 : 6);
	if (facts_eq(&f->status, "error"))
		pri = 16 * 8 + 4;
	int line = !o->octet_counting;
	size_t start = b->n;
	char msgid[33];
	size_t ml = 0;
	/* MSGID is 1 to 32 printable US-ASCII characters: the type's. */
	for (size_t i = 0; f->type_text.p != NULL && i < f->type_text.n && ml < 32; i++)
		if (f->type_text.p[i] > 0x20 && f->type_text.p[i] < 0x7f)
			msgid[ml++] = f->type_text.p[i];
	SIEM_LIT(b, "<");
	siem_putll(b, pri);
	SIEM_LIT(b, ">1 ");
	siem_put(b, f->r.ts, facts_cstrlen(f->r.ts, REC_TS_LEN));
	SIEM_LIT(b, " ");
	siem_puts(b, o->hostname);
	SIEM_LIT(b, " pgward - ");
	if (ml > 0)
		siem_put(b, msgid, ml);
	else
		SIEM_LIT(b, "-");
	SIEM_LIT(b, " [" SIEM_SD_ID " seq=\"");
	siem_putull(b, f->r.seq);
	SIEM_LIT(b, "\"");
	SIEM_SD(b, " session=\"", f->session.p, f->session.n, line);
	SIEM_SD(b, " user=\"", f->user.p, f->user.n, line);
	SIEM_SD(b, " principal=\"", f->principal.p, f->principal.n, line);
	SIEM_ACTORS(b, f, " actor=\"", line ? ESC_SD_LINE : ESC_SD);
	SIEM_SD(b, " client_id=\"", f->client_id.p, f->client_id.n, line);
	SIEM_GROUPS(b, f, " groups=\"", line ? ESC_SD_LINE : ESC_SD);
	struct rec_span client = siem_client(f, sess);
	SIEM_SD(b, " client=\"", client.p, client.n, line);
	SIEM_SD(b, " connection=\"", f->connection.p, f->connection.n, line);
	SIEM_SD(b, " role=\"", f->role.p, f->role.n, line);
	SIEM_SD(b, " decision=\"", f->decision.p, f->decision.n, line);
	SIEM_SD(b, " rule=\"", f->rule.p, f->rule.n, line);
	SIEM_SD(b, " status=\"", f->status.p, f->status.n, line);
	SIEM_SD(b, " sqlstate=\"", f->sqlstate.p, f->sqlstate.n, line);
	if (f->has_rows) {
		SIEM_LIT(b, " rows=\"");
		siem_putll(b, f->rows);
		SIEM_LIT(b, "\"");
	}
	if (f->has_intent) {
		SIEM_LIT(b, " intent=\"");
		siem_putll(b, f->intent);
		SIEM_LIT(b, "\"");
	}
	SIEM_SD(b, " reason=\"", f->reason.p, f->reason.n, line);
	SIEM_SD(b, " message=\"", f->message.p, f->message.n, line);
	/* MSG: a short summary, kept in 256 bytes. */
	char summary[256];
	size_t sl = 0;
	summary[0] = '\0';
	if (f->type_text.p != NULL)
		siem_cat(summary, &sl, sizeof summary, f->type_text.p, f->type_text.n);
	if (f->user.p != NULL) {
		siem_cat(summary, &sl, sizeof summary, " by ", 4);
		siem_cat(summary, &sl, sizeof summary, f->user.p, f->user.n);
	}
	const struct facts_str *what = f->decision.p ? &f->decision :
	    f->status.p ? &f->status : NULL;
	if (what != NULL) {
		siem_cat(summary, &sl, sizeof summary, ": ", 2);
		siem_cat(summary, &sl, sizeof summary, what->p, what->n);
	}
	/* Control characters as in the values on one line (#ooo). */
	char msg[6 * sizeof summary];
	size_t mn = (size_t)(siem_escape_to(msg, summary, sl, ESC_MSG) - msg);
	if (f->sql.p != NULL) {
		struct rec_span q = siem_sql_text(f);
		char hex[65];
		siem_sha256_hex(f->sql.p, f->sql.n, hex);
		SIEM_LIT(b, " sql_sha256=\"");
		siem_put(b, hex, 64);
		SIEM_LIT(b, "\" sql_bytes=\"");
		siem_putull(b, f->sql.n);
		SIEM_LIT(b, "\"");
		if (f->sql_binary)
			SIEM_LIT(b, " sql_encoding=\"base64\"");
		/* The rest of the budget for the SQL, after the fixed end:
		 * ' sql_truncated="true" sql="' '"]' ' ' summary. */
		size_t used = b->n - start;
		size_t tail = 22 + 7 + 2 + 1 + mn;
		size_t budget = o->max_bytes > used + tail ? o->max_bytes - used - tail : 0;
		size_t fit = siem_fit(q.p, q.n, budget, line);
		if (fit < q.n)
			SIEM_LIT(b, " sql_truncated=\"true\"");
		SIEM_SD(b, " sql=\"", q.p, fit, line);
	}
	SIEM_LIT(b, "] ");
	siem_put(b, msg, mn);
	if (b->oom) {
		b->n = start;
		return -1;
	}
	if (o->octet_counting) {
		/* RFC 6587 octet counting: "LEN " before the message. */
		char len[24];
		int ll = snprintf(len, sizeof len, "%zu ", b->n - start);
		if (!siem_room(b, (size_t)ll))
			return -1;
		memmove(b->p + start + ll, b->p + start, b->n - start);
		memcpy(b->p + start, len, (size_t)ll);
		b->n += (size_t)ll;
		b->p[b->n] = '\0';
	} else {
		SIEM_LIT(b, "\n");
	}
	return 0;
}

int
siem_record(const struct siem_opts *o, struct siem_buf *b, const char *line,
    size_t len, const struct siem_session *sess)
{
	if (o->format == SIEM_JSONL) {
		siem_put(b, line, len);
		SIEM_LIT(b, "\n");
		return 0;
	}
	char small[16384];
	char *arena = FACTS_ARENA(len) <= sizeof small ? small : malloc(FACTS_ARENA(len));
	if (arena == NULL) {
		b->oom = 1;
		return -1;
	}
	struct siem_facts f;
	int rc = -1;
	if (siem_facts(&f, line, len, arena) == 0) {
		if (f.groups_raw == NULL && sess != NULL && sess->groups != NULL) {
			f.sess_groups = (struct rec_span){ sess->groups, sess->groups_n };
			f.groups_raw = &f.sess_groups;
		}
		rc = o->format == SIEM_OCSF ? ocsf_record(b, &f, sess) :
		    o->format == SIEM_CEF ? siem_cef(b, &f, sess) : siem_syslog(o, b, &f, sess);
	}
	if (arena != small)
		free(arena);
	return rc;
}

static void
siem_syslog_frame(const struct siem_opts *o, struct siem_buf *b, struct siem_buf *m)
{
	if (o->octet_counting)
		siem_printf(b, "%zu ", m->n);
	siem_put(b, m->p, m->n);
	if (!o->octet_counting)
		SIEM_LIT(b, "\n");
}

int
siem_checkpoint(const struct siem_opts *o, struct siem_buf *b, const char *line,
    size_t len)
{
	if (len < 2 || line[0] != '{')
		return -1;
	if (o->format == SIEM_JSONL) {
		SIEM_LIT(b, "{\"type\":\"checkpoint\",");
		siem_put(b, line + 1, len - 1);
		SIEM_LIT(b, "\n");
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
		rc = ocsf_checkpoint(b, note, ts, root, (long long)size);
	} else if (o->format == SIEM_CEF) {
		siem_printf(b, "CEF:0|pgward|pgward|" PGWARD_VERSION "|checkpoint|checkpoint|1|"
		    "rt=%lld cn1Label=size cn1=%lld cs1Label=root cs1=", (long long)when_ms(ts),
		    (long long)size);
		siem_cef_value(b, root, strlen(root));
		SIEM_LIT(b, " msg=");
		siem_cef_value(b, note, strlen(note));
		SIEM_LIT(b, "\n");
	} else {
		struct siem_buf m = { 0 };
		siem_printf(&m, "<134>1 %s %s pgward - checkpoint [" SIEM_SD_ID
		    " size=\"%lld\"", ts, o->hostname, (long long)size);
		SIEM_SD(&m, " root=\"", root, strlen(root), !o->octet_counting);
		SIEM_SD(&m, " note=\"", note, strlen(note), !o->octet_counting);
		siem_printf(&m, "] checkpoint %lld", (long long)size);
		siem_syslog_frame(o, b, &m);
		siem_buf_free(&m);
	}
	json_decref(j);
	return rc;
}
