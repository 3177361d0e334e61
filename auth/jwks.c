#include "auth/jwks.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/file.h"

static int add_warning(struct jwks_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static struct jwks_result fail(struct jwks_result r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct jwks_result
jwks_load(const char *path)
{
	struct jwks_result r = { 0 };
	char err[512];
	size_t len;
	char *buf = auth_file_read(path, JWKS_MAX_FILE_BYTES, &len, err, sizeof err);
	if (buf == NULL)
		return fail(r, "%s", err);
	r = jwks_parse(buf, len);
	free(buf);
	if (r.error != NULL) {
		char *e = r.error;
		r.error = NULL;
		r = fail(r, "%s: %s", path, e);
		free(e);
	}
	return r;
}

struct jwks_result
jwks_parse(const char *text, size_t len)
{
	struct jwks_result r = { 0 };
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return fail(r, "invalid JSON at line %d: %s", je.line, je.text);
	json_t *keys = json_object_get(root, "keys");
	if (!json_is_object(root) || !json_is_array(keys)) {
		json_decref(root);
		return fail(r, "not a JWKS (expected an object with a \"keys\" array)");
	}
	r.keys = calloc(json_array_size(keys) + 1, sizeof *r.keys);
	if (r.keys == NULL) {
		json_decref(root);
		return fail(r, "out of memory");
	}
	size_t i;
	json_t *jwk;
	json_array_foreach(keys, i, jwk) {
		char err[256];
		struct jwks_key *k = &r.keys[r.nkeys];
		if (jwk_to_key(jwk, k, err, sizeof err) != 0) {
			const char *kid = json_string_value(json_object_get(jwk, "kid"));
			add_warning(&r, "key %zu (kid %s) skipped: %s", i,
			    kid ? kid : "none", err);
			continue;
		}
		for (size_t j = 0; j < r.nkeys; j++)
			if (k->kid != NULL && r.keys[j].kid != NULL &&
			    strcmp(k->kid, r.keys[j].kid) == 0)
				add_warning(&r, "key %zu: kid %s is used more than once; "
				    "tokens naming it are refused where ambiguous", i, k->kid);
		r.nkeys++;
	}
	json_decref(root);
	if (r.nkeys == 0)
		return fail(r, "no usable key (%zu skipped)", json_array_size(keys));
	return r;
}

void
jwks_result_free(struct jwks_result result)
{
	for (size_t i = 0; i < result.nkeys; i++)
		jwk_key_clear(&result.keys[i]);
	free(result.keys);
	for (size_t i = 0; i < result.nwarnings; i++)
		free(result.warnings[i]);
	free(result.warnings);
	free(result.error);
}

static int
add_warning(struct jwks_result *r, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	char **w = realloc(r->warnings, (r->nwarnings + 1) * sizeof *w);
	if (w == NULL)
		return -1;
	r->warnings = w;
	if ((w[r->nwarnings] = strdup(line)) == NULL)
		return -1;
	r->nwarnings++;
	return 0;
}

/* Frees what r holds except the warnings, and sets the error. */
static struct jwks_result
fail(struct jwks_result r, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < r.nkeys; i++)
		jwk_key_clear(&r.keys[i]);
	free(r.keys);
	r.keys = NULL;
	r.nkeys = 0;
	free(r.error);
	r.error = strdup(line);
	if (r.error == NULL)
		r.error = strdup("out of memory");
	return r;
}
