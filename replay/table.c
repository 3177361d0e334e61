#include "replay/table.h"

#include <stdlib.h>
#include <string.h>

/* A cell as text: strings with control characters made visible, NULL as
 * psql shows it (empty), undecodable values as their base64. */
static char *
cell_text(json_t *v)
{
	if (json_is_null(v) || v == NULL)
		return strdup("");
	if (json_is_object(v)) {
		const char *key = json_object_get(v, "binary") ? "binary" : "base64";
		const char *b = json_string_value(json_object_get(v, key));
		size_t n = strlen(key) + (b ? strlen(b) : 0) + 4;
		char *s = malloc(n);
		if (s != NULL)
			snprintf(s, n, "(%s %s)", key, b ? b : "");
		return s;
	}
	if (!json_is_string(v))
		return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	const char *in = json_string_value(v);
	size_t n = json_string_length(v);
	char *s = malloc(2 * n + 1), *o = s;
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '\n' || c == '\r' || c == '\t') {
			*o++ = '\\';
			*o++ = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else {
			*o++ = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
	}
	*o = '\0';
	return s;
}

/* Characters, not bytes: continuation bytes take no column. */
static size_t
width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

static void
pad(FILE *out, const char *s, size_t w)
{
	fputs(s, out);
	for (size_t i = width(s); i < w; i++)
		fputc(' ', out);
}

static void
print_set(FILE *out, json_t *set, const char *indent)
{
	json_t *cols = json_object_get(set, "columns"), *rows = json_object_get(set, "rows");
	size_t nc = json_array_size(cols), nr = json_array_size(rows);
	if (nc == 0)
		return;
	char **cells = calloc((nr + 1) * nc, sizeof *cells);
	size_t *w = calloc(nc, sizeof *w);
	if (cells == NULL || w == NULL) {
		free(cells);
		free(w);
		return;
	}
	for (size_t c = 0; c < nc; c++)
		cells[c] = cell_text(json_array_get(cols, c));
	for (size_t r = 0; r < nr; r++)
		for (size_t c = 0; c < nc; c++)
			cells[(r + 1) * nc + c] = cell_text(json_array_get(json_array_get(rows, r), c));
	for (size_t i = 0; i < (nr + 1) * nc; i++)
		if (cells[i] != NULL && width(cells[i]) > w[i % nc])
			w[i % nc] = width(cells[i]);
	for (size_t r = 0; r <= nr; r++) {
		fputs(indent, out);
		for (size_t c = 0; c < nc; c++) {
			fputs(c ? " | " : " ", out);
			pad(out, cells[r * nc + c] ? cells[r * nc + c] : "?", w[c]);
		}
		fputc('\n', out);
		if (r == 0) {
			fputs(indent, out);
			for (size_t c = 0; c < nc; c++) {
				fputs(c ? "-+-" : "-", out);
				for (size_t i = 0; i < w[c]; i++)
					fputc('-', out);
			}
			fputs("-\n", out);
		}
	}
	fprintf(out, "%s(%zu row%s recorded%s%s)\n", indent, nr, nr == 1 ? "" : "s",
	    json_is_true(json_object_get(set, "more")) ? "; more were sent, not recorded" : "",
	    json_is_true(json_object_get(set, "cut")) ? "; long values cut" : "");
	for (size_t i = 0; i < (nr + 1) * nc; i++)
		free(cells[i]);
	free(cells);
	free(w);
}

void
table_print(FILE *out, json_t *sets, const char *indent)
{
	size_t i;
	json_t *set;
	json_array_foreach(sets, i, set)
		print_set(out, set, indent);
}
