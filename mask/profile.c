/* Masking profiles: canonical text, id, schema and role names. */

#include "mask/profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mask/internal.h"
#include "sha256.h"

static int key_byte(const struct mask_profile_column *c, size_t tlen, size_t i);
static int column_cmp(const void *a, const void *b);
static struct mask_profile_result profile_error(struct mask_profile *p,
    const char *msg);

/* Byte i of "table\tcolumn", -1 past its end. */
static int
key_byte(const struct mask_profile_column *c, size_t tlen, size_t i)
{
	if (i < tlen)
		return (unsigned char)c->table[i];
	if (i == tlen)
		return '\t';
	return (unsigned char)c->column[i - tlen - 1] == 0 ? -1 :
	    (unsigned char)c->column[i - tlen - 1];
}

/* Bytewise by "table\tcolumn", as the canonical text is defined. */
static int
column_cmp(const void *a, const void *b)
{
	const struct mask_profile_column *x = a, *y = b;
	size_t xt = strlen(x->table), yt = strlen(y->table);
	for (size_t i = 0;; i++) {
		int cx = key_byte(x, xt, i), cy = key_byte(y, yt, i);
		if (cx != cy)
			return cx < cy ? -1 : 1;
		if (cx < 0)
			return 0;
	}
}

static struct mask_profile_result
profile_error(struct mask_profile *p, const char *msg)
{
	struct mask_profile_result r = { NULL, strdup(msg) };
	mask_profile_free(p);
	return r;
}

struct mask_profile_result
mask_profile_new(json_t *rules)
{
	struct mask_profile_result r = { NULL, NULL };
	json_t *cols = json_object_get(rules, "columns");
	if (cols != NULL && !json_is_array(cols))
		return profile_error(NULL, "\"columns\" must be an array");
	struct mask_profile *p = calloc(1, sizeof *p);
	size_t n = json_array_size(cols);
	if (p == NULL || (p->cols = calloc(n ? n : 1, sizeof *p->cols)) == NULL)
		return profile_error(p, "out of memory");
	size_t i;
	json_t *o;
	json_array_foreach(cols, i, o) {
		const char *t = json_string_value(json_object_get(o, "table"));
		const char *c = json_string_value(json_object_get(o, "column"));
		const char *st = json_string_value(json_object_get(o, "style"));
		json_t *keep = json_object_get(o, "keep");
		if (st == NULL)
			continue;	/* detection is the wire's */
		struct mask_profile_column pc = { NULL, NULL, MASK_NONE, 0 };
		if (t == NULL || c == NULL || *t == '\0' || *c == '\0' ||
		    mask_style_parse(st, &pc.style) != 0)
			return profile_error(p, "a \"columns\" entry needs a table, a "
			    "column and a known style");
		/* Names are written into SQL text and the canonical lines. */
		if (strpbrk(t, "\t\n") != NULL || strpbrk(c, "\t\n") != NULL)
			return profile_error(p, "a table or column name holds a tab or "
			    "a newline");
		if (pc.style == MASK_PARTIAL) {
			pc.keep = MASK_KEEP_DEFAULT;
			if (keep != NULL) {
				if (!json_is_integer(keep) || json_integer_value(keep) < 0 ||
				    json_integer_value(keep) > MASK_KEEP_MAX)
					return profile_error(p, "\"keep\" must be 0 to 64");
				pc.keep = (int)json_integer_value(keep);
			}
		}
		size_t k;
		for (k = 0; k < p->ncols; k++)
			if (strcmp(p->cols[k].table, t) == 0 &&
			    strcmp(p->cols[k].column, c) == 0)
				break;
		if (k < p->ncols)
			continue;	/* the first entry wins, as in the engine */
		if ((pc.table = strdup(t)) == NULL || (pc.column = strdup(c)) == NULL) {
			free(pc.table);
			return profile_error(p, "out of memory");
		}
		p->cols[p->ncols++] = pc;
	}
	if (p->ncols == 0) {
		mask_profile_free(p);
		return r;
	}
	qsort(p->cols, p->ncols, sizeof *p->cols, column_cmp);
	size_t len = 1;
	for (i = 0; i < p->ncols; i++)
		len += strlen(p->cols[i].table) + strlen(p->cols[i].column) + 40;
	if ((p->canonical = malloc(len)) == NULL)
		return profile_error(p, "out of memory");
	size_t off = 0;
	for (i = 0; i < p->ncols; i++)
		off += (size_t)snprintf(p->canonical + off, len - off, "%s\t%s\t%s\t%d\n",
		    p->cols[i].table, p->cols[i].column,
		    mask_style_name(p->cols[i].style), p->cols[i].keep);
	uint8_t d[32];
	if (sha256_parts(p->canonical, off, NULL, 0, NULL, 0, d) != 0)
		return profile_error(p, "sha-256 failed");
	snprintf(p->hex, sizeof p->hex, "%02x%02x%02x%02x", d[0], d[1], d[2], d[3]);
	snprintf(p->id, sizeof p->id, "p%s", p->hex);
	snprintf(p->schema, sizeof p->schema, "pgward_mask_%s", p->hex);
	r.profile = p;
	return r;
}

int
mask_profile_role(const struct mask_profile *p, const char *role,
    char out[MASK_PROFILE_NAMEDATALEN])
{
	int n = snprintf(out, MASK_PROFILE_NAMEDATALEN, "%s_m_%s", role, p->hex);
	if (n < 0 || n >= MASK_PROFILE_NAMEDATALEN) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

void
mask_profile_free(struct mask_profile *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->ncols; i++) {
		free(p->cols[i].table);
		free(p->cols[i].column);
	}
	free(p->cols);
	free(p->canonical);
	free(p);
}

void
mask_profile_result_free(struct mask_profile_result r)
{
	mask_profile_free(r.profile);
	free(r.error);
}
