#include "login/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

/* Answers of the discovery and token endpoints are small. */
#define HTTP_MAX_BODY (1024 * 1024)
#define HTTP_TIMEOUT_S 30L

struct http_buf {
	char *data;
	size_t len;
	int too_large;
};

static size_t http_write(char *ptr, size_t size, size_t nmemb, void *ctx);
static struct http_result http_perform(CURL *c, const char *url);
static char *http_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
http_errorf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return strdup(buf);
}

int
http_url_allowed(const char *url)
{
	static const char *const local[] = {
		"http://127.0.0.1", "http://localhost",
	};
	if (strncmp(url, "https://", 8) == 0)
		return url[8] != '\0';
	for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
		size_t n = strlen(local[i]);
		/* the host must end there: http://localhost.evil.com is not local */
		if (strncmp(url, local[i], n) == 0 &&
		    (url[n] == ':' || url[n] == '/' || url[n] == '\0'))
			return 1;
	}
	return 0;
}

static size_t
http_write(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	struct http_buf *b = ctx;
	size_t n = size * nmemb;
	if (n > HTTP_MAX_BODY - b->len) {
		b->too_large = 1;
		return 0;
	}
	char *p = realloc(b->data, b->len + n + 1);
	if (p == NULL)
		return 0;
	memcpy(p + b->len, ptr, n);
	b->data = p;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static struct http_result
http_perform(CURL *c, const char *url)
{
	struct http_result r = { 0 };
	struct http_buf b = { 0 };
	if (!http_url_allowed(url)) {
		r.error = http_errorf("%s: not an https URL", url);
		return r;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, HTTP_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "pgward-login");
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		r.error = b.too_large ? http_errorf("%s: answer too large", url) :
		    http_errorf("%s: %s", url, curl_easy_strerror(rc));
		free(b.data);
		return r;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	json_error_t je;
	r.body = b.data == NULL ? NULL : json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &je);
	free(b.data);
	if (r.body != NULL && !json_is_object(r.body)) {
		json_decref(r.body);
		r.body = NULL;
	}
	if (r.body == NULL)
		r.error = http_errorf("%s: HTTP %ld without a JSON object", url, r.status);
	return r;
}

struct http_result
http_get_json(const char *url)
{
	struct http_result r = { 0 };
	CURL *c = curl_easy_init();
	if (c == NULL) {
		r.error = http_errorf("unable to start libcurl");
		return r;
	}
	struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	r = http_perform(c, url);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r;
}

struct http_result
http_post_form(const char *url, const char *form, const char *user, const char *password)
{
	struct http_result r = { 0 };
	CURL *c = curl_easy_init();
	if (c == NULL) {
		r.error = http_errorf("unable to start libcurl");
		return r;
	}
	struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
	if (user != NULL) {
		/* RFC 6749 2.3.1: the client id and secret are form-encoded first */
		char *u = curl_easy_escape(c, user, 0);
		char *p = curl_easy_escape(c, password, 0);
		if (u != NULL && p != NULL) {
			curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(c, CURLOPT_USERNAME, u);
			curl_easy_setopt(c, CURLOPT_PASSWORD, p);
			r = http_perform(c, url);
		} else {
			r.error = http_errorf("out of memory");
		}
		curl_free(u);
		curl_free(p);
	} else {
		r = http_perform(c, url);
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r;
}

void
http_result_free(struct http_result *r)
{
	json_decref(r->body);
	free(r->error);
	r->body = NULL;
	r->error = NULL;
}

int
http_form_add(char **form, const char *name, const char *value)
{
	char *v = curl_easy_escape(NULL, value, 0);
	if (v == NULL)
		return -1;
	size_t old = *form == NULL ? 0 : strlen(*form);
	size_t n = old + strlen(name) + strlen(v) + 3;
	char *p = realloc(*form, n);
	if (p == NULL) {
		curl_free(v);
		return -1;
	}
	snprintf(p + old, n - old, "%s%s=%s", old ? "&" : "", name, v);
	curl_free(v);
	*form = p;
	return 0;
}
