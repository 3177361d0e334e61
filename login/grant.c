#include "login/grant.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "login/http.h"

#define GRANT_DEVICE "urn:ietf:params:oauth:grant-type:device_code"
#define GRANT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TOKEN_TYPE_ACCESS "urn:ietf:params:oauth:token-type:access_token"
#define SCOPE_PERSON "openid offline_access pgward"
#define SCOPE_AGENT "pgward"
/* RFC 8628 3.2 and 3.5 */
#define DEVICE_INTERVAL_DEFAULT 5
#define DEVICE_INTERVAL_MAX 60
#define DEVICE_SLOW_DOWN 5

static char *grant_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *grant_dup_url(json_t *doc, const char *name, const char *issuer, char **error);
static const char *grant_str(json_t *o, const char *name);
static void grant_printable(const char *in, char *out, size_t outlen);
static struct grant_token grant_request(const struct grant_client *c,
    const struct grant_endpoints *e, char *form);
static char *grant_form(const struct grant_client *c, const char *grant_type,
    const char *default_scope);

static char *
grant_errorf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return strdup(buf);
}

static const char *
grant_str(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);
	return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

/* What the issuer says goes on our stderr: control characters out. */
static void
grant_printable(const char *in, char *out, size_t outlen)
{
	size_t i = 0;
	for (; in != NULL && *in != '\0' && i + 1 < outlen; in++)
		out[i++] = (*in >= 0x20 && *in < 0x7f) ? *in : '?';
	out[i] = '\0';
}

static char *
grant_dup_url(json_t *doc, const char *name, const char *issuer, char **error)
{
	const char *v = grant_str(doc, name);
	if (v == NULL)
		return NULL;
	if (!http_url_allowed(v)) {
		*error = grant_errorf("%s: discovery: %s is not an https URL", issuer, name);
		return NULL;
	}
	return strdup(v);
}

int
grant_issuer_allowed(const char *issuer)
{
	return http_url_allowed(issuer);
}

struct grant_endpoints
grant_discover(const char *issuer)
{
	struct grant_endpoints e = { 0 };
	size_t n = strlen(issuer);
	while (n > 0 && issuer[n - 1] == '/')
		n--;
	char url[2048];
	if (snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration", (int)n, issuer) >=
	    (int)sizeof url) {
		e.error = grant_errorf("issuer URL too long");
		return e;
	}
	struct http_result r = http_get_json(url);
	if (r.error != NULL) {
		e.error = r.error;
		r.error = NULL;
		http_result_free(&r);
		return e;
	}
	const char *iss = grant_str(r.body, "issuer");
	if (r.status != 200) {
		e.error = grant_errorf("%s: HTTP %ld", url, r.status);
	} else if (iss == NULL || strlen(iss) != n || strncmp(iss, issuer, n) != 0) {
		/* OpenID Connect Discovery 4.3 */
		e.error = grant_errorf("%s: discovery names another issuer", issuer);
	} else {
		e.token = grant_dup_url(r.body, "token_endpoint", issuer, &e.error);
		e.device = grant_dup_url(r.body, "device_authorization_endpoint", issuer, &e.error);
		if (e.error == NULL && e.token == NULL)
			e.error = grant_errorf("%s: discovery names no token_endpoint", issuer);
	}
	http_result_free(&r);
	if (e.error != NULL) {
		free(e.token);
		free(e.device);
		e.token = e.device = NULL;
	}
	return e;
}

void
grant_endpoints_free(struct grant_endpoints *e)
{
	free(e->token);
	free(e->device);
	free(e->error);
	memset(e, 0, sizeof *e);
}

void
grant_token_free(struct grant_token *t)
{
	free(t->access_token);
	free(t->refresh_token);
	free(t->error);
	free(t->refused);
	memset(t, 0, sizeof *t);
}

static char *
grant_form(const struct grant_client *c, const char *grant_type, const char *default_scope)
{
	char *form = NULL;
	int bad = 0;
	if (grant_type != NULL)
		bad |= http_form_add(&form, "grant_type", grant_type);
	if (c->secret == NULL)
		bad |= http_form_add(&form, "client_id", c->client_id);
	if (default_scope != NULL)
		bad |= http_form_add(&form, "scope", c->scope ? c->scope : default_scope);
	if (c->resource != NULL)
		bad |= http_form_add(&form, "resource", c->resource);
	if (bad) {
		free(form);
		return NULL;
	}
	return form;
}

/* POSTs form (taken; NULL: out of memory) to url as the client. Returns 0
 * with *r to free, or -1 with t->error set. */
static int
grant_post(const struct grant_client *c, const char *url, char *form, struct http_result *r,
    struct grant_token *t)
{
	if (form == NULL) {
		t->error = grant_errorf("out of memory");
		return -1;
	}
	*r = http_post_form(url, form, c->secret ? c->client_id : NULL, c->secret);
	free(form);
	if (r->error != NULL) {
		t->error = r->error;
		r->error = NULL;
		http_result_free(r);
		return -1;
	}
	return 0;
}

/* One request to the token endpoint; takes form. */
static struct grant_token
grant_request(const struct grant_client *c, const struct grant_endpoints *e, char *form)
{
	struct grant_token t = { 0 };
	struct http_result r;
	if (grant_post(c, e->token, form, &r, &t) != 0)
		return t;
	const char *err = grant_str(r.body, "error");
	const char *at = grant_str(r.body, "access_token");
	if (r.status == 200 && at != NULL) {
		const char *rt = grant_str(r.body, "refresh_token");
		json_t *exp = json_object_get(r.body, "expires_in");
		t.access_token = strdup(at);
		t.refresh_token = rt ? strdup(rt) : NULL;
		if (json_is_integer(exp) && json_integer_value(exp) > 0)
			t.expires_at = time(NULL) + (time_t)json_integer_value(exp);
		if (t.access_token == NULL || (rt != NULL && t.refresh_token == NULL))
			t.error = grant_errorf("out of memory");
	} else if (r.status >= 400 && r.status < 500 && err != NULL) {
		char code[64], desc[256];
		grant_printable(err, code, sizeof code);
		grant_printable(grant_str(r.body, "error_description"), desc, sizeof desc);
		t.refused = strdup(code);
		t.error = grant_errorf("%s: %s%s%s", e->token, code, *desc ? ": " : "", desc);
	} else {
		t.error = grant_errorf("%s: HTTP %ld without an access token", e->token, r.status);
	}
	http_result_free(&r);
	return t;
}

struct grant_token
grant_device(const struct grant_client *c, const struct grant_endpoints *e)
{
	struct grant_token t = { 0 };
	if (e->device == NULL) {
		t.error = grant_errorf("%s: the issuer offers no device authorization", c->issuer);
		return t;
	}
	struct http_result r;
	if (grant_post(c, e->device, grant_form(c, NULL, SCOPE_PERSON), &r, &t) != 0)
		return t;
	const char *device_code = grant_str(r.body, "device_code");
	const char *user_code = grant_str(r.body, "user_code");
	const char *uri = grant_str(r.body, "verification_uri");
	const char *complete = grant_str(r.body, "verification_uri_complete");
	json_t *jint = json_object_get(r.body, "interval");
	json_t *jexp = json_object_get(r.body, "expires_in");
	if (r.status != 200 || device_code == NULL || user_code == NULL || uri == NULL) {
		char code[64];
		grant_printable(grant_str(r.body, "error"), code, sizeof code);
		t.error = grant_errorf("%s: device authorization refused: HTTP %ld %s", e->device,
		    r.status, code);
		if (*code)
			t.refused = strdup(code);
		http_result_free(&r);
		return t;
	}
	long interval = json_is_integer(jint) ? (long)json_integer_value(jint) : DEVICE_INTERVAL_DEFAULT;
	if (interval < 1 || interval > DEVICE_INTERVAL_MAX)
		interval = DEVICE_INTERVAL_DEFAULT;
	time_t deadline = time(NULL) + (json_is_integer(jexp) && json_integer_value(jexp) > 0 ?
	    (time_t)json_integer_value(jexp) : 600);
	char puri[1024], pcode[64];
	grant_printable(uri, puri, sizeof puri);
	grant_printable(user_code, pcode, sizeof pcode);
	log_info("visit %s and enter %s", puri, pcode);
	if (complete != NULL) {
		grant_printable(complete, puri, sizeof puri);
		log_info("or visit %s", puri);
	}
	char *dc = strdup(device_code);
	http_result_free(&r);
	if (dc == NULL) {
		t.error = grant_errorf("out of memory");
		return t;
	}
	for (;;) {
		sleep((unsigned)interval);
		if (time(NULL) > deadline) {
			t.error = grant_errorf("the code expired before it was approved");
			t.refused = strdup("expired_token");
			break;
		}
		char *form = grant_form(c, GRANT_DEVICE, NULL);
		if (form != NULL && http_form_add(&form, "device_code", dc) != 0) {
			free(form);
			form = NULL;
		}
		t = grant_request(c, e, form);
		if (t.refused == NULL || (strcmp(t.refused, "authorization_pending") != 0 &&
		    strcmp(t.refused, "slow_down") != 0))
			break;
		if (strcmp(t.refused, "slow_down") == 0 && interval < DEVICE_INTERVAL_MAX)
			interval += DEVICE_SLOW_DOWN;
		grant_token_free(&t);
	}
	free(dc);
	if (t.refused != NULL && strcmp(t.refused, "access_denied") == 0) {
		free(t.error);
		t.error = grant_errorf("the login was refused at the issuer");
	} else if (t.refused != NULL && strcmp(t.refused, "expired_token") == 0) {
		free(t.error);
		t.error = grant_errorf("the code expired before it was approved");
	}
	return t;
}

struct grant_token
grant_refresh(const struct grant_client *c, const struct grant_endpoints *e,
    const char *refresh_token)
{
	char *form = grant_form(c, "refresh_token", NULL);
	if (form != NULL && http_form_add(&form, "refresh_token", refresh_token) != 0) {
		free(form);
		form = NULL;
	}
	return grant_request(c, e, form);
}

struct grant_token
grant_client_credentials(const struct grant_client *c, const struct grant_endpoints *e)
{
	return grant_request(c, e, grant_form(c, "client_credentials", SCOPE_AGENT));
}

struct grant_token
grant_exchange(const struct grant_client *c, const struct grant_endpoints *e,
    const char *subject_token)
{
	char *form = grant_form(c, GRANT_EXCHANGE, c->scope ? SCOPE_AGENT : NULL);
	if (form != NULL && (http_form_add(&form, "subject_token", subject_token) != 0 ||
	    http_form_add(&form, "subject_token_type", TOKEN_TYPE_ACCESS) != 0)) {
		free(form);
		form = NULL;
	}
	return grant_request(c, e, form);
}
