#ifndef PGWARD_LOGIN_HTTP_H
#define PGWARD_LOGIN_HTTP_H

/* The only HTTP pgward-login speaks: a GET or a form POST whose answer is a
 * JSON object. No redirects are followed; the URL must pass http_url_allowed.
 * The single libcurl user, so that no other binary links libcurl. */

#include <jansson.h>

struct http_result {
	long status;		/* HTTP status, 0 when no answer */
	json_t *body;		/* the answer's JSON object, or NULL */
	char *error;		/* NULL when an answer (of any status) came */
};

/* https://, or http:// to 127.0.0.1 or localhost only (for tests). */
int http_url_allowed(const char *url);

struct http_result http_get_json(const char *url);
/* form: already encoded (http_form_add); user/password: HTTP Basic, may be NULL. */
struct http_result http_post_form(const char *url, const char *form,
    const char *user, const char *password);
void http_result_free(struct http_result *r);

/* Appends "&name=value" (no "&" first), value percent-encoded, to a malloc'd
 * *form. Returns 0 or -1 (out of memory); the caller frees *form either way. */
int http_form_add(char **form, const char *name, const char *value);

#endif
