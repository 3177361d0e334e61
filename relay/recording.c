#include "recording.h"

#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "pgproto.h"
#include "utf8.h"

void
recording_free(struct recording *rc)
{
	json_decref(rc->columns);
	free(rc->formats);
	rc->columns = NULL;
	rc->formats = NULL;
	rc->nformats = 0;
}

static void
on_row_description(struct recording *rc, const uint8_t *body, size_t len)
{
	recording_free(rc);
	struct pgread rd;
	pgread_init(&rd, body, len);
	int n = (int16_t)pgread_u16(&rd);
	json_t *cols = json_array();
	int16_t *formats = n > 0 ? calloc((size_t)n, sizeof *formats) : NULL;
	for (int i = 0; i < n && !rd.failed; i++) {
		const char *name = pgread_str(&rd);
		pgread_bytes(&rd, 4 + 2 + 4 + 2 + 4);
		int16_t f = (int16_t)pgread_u16(&rd);
		if (name == NULL || rd.failed)
			break;
		json_array_append_new(cols, utf8_valid(name, strlen(name)) ?
		    json_string(name) : json_string("?"));
		if (formats != NULL)
			formats[i] = f;
	}
	if (rd.failed || cols == NULL || (n > 0 && formats == NULL)) {
		json_decref(cols);
		free(formats);
		return;
	}
	rc->columns = cols;
	rc->formats = formats;
	rc->nformats = n;
}

/* Text as a string when it is UTF-8 (cut at a character boundary), else
 * and for binary values base64 of the first bytes. */
static json_t *
value_json(const uint8_t *v, size_t len, int binary, int *cut)
{
	size_t keep = len;
	if (keep > RECORDING_MAX_VALUE) {
		keep = RECORDING_MAX_VALUE;
		while (keep > 0 && (v[keep] & 0xC0) == 0x80)
			keep--;
		*cut = 1;
	}
	if (!binary && utf8_valid((const char *)v, keep))
		return json_stringn((const char *)v, keep);
	char *b = b64_encode(v, keep);
	json_t *j = b ? json_pack("{s:s}", binary ? "binary" : "base64", b) : NULL;
	free(b);
	return j;
}

/* The set this statement's rows go in: the last one, or a new one named
 * by the last RowDescription. */
static json_t *
current_set(struct recording *rc, struct pending *p, int fresh)
{
	if (p->recorded == NULL && (p->recorded = json_array()) == NULL)
		return NULL;
	size_t n = json_array_size(p->recorded);
	if (!fresh && n > 0)
		return json_array_get(p->recorded, n - 1);
	json_t *cols = rc->columns ? json_incref(rc->columns) : json_array();
	json_t *set = json_pack("{s:o, s:[], s:b, s:b}", "columns", cols, "rows",
	    "more", 0, "cut", 0);
	if (set == NULL || json_array_append_new(p->recorded, set) != 0)
		return NULL;
	return set;
}

static void
on_data_row(struct recording *rc, struct pending *p, const uint8_t *body, size_t len)
{
	json_t *set = current_set(rc, p, 0);
	if (set == NULL)
		return;
	if (p->recorded_rows >= rc->rows || p->recorded_bytes >= RECORDING_MAX_BYTES) {
		json_object_set_new(set, "more", json_true());
		return;
	}
	struct pgread rd;
	pgread_init(&rd, body, len);
	int n = (int16_t)pgread_u16(&rd);
	json_t *row = json_array();
	int cut = 0;
	for (int i = 0; i < n && !rd.failed && row != NULL; i++) {
		int32_t vlen = (int32_t)pgread_u32(&rd);
		if (vlen < 0) {
			json_array_append_new(row, json_null());
			continue;
		}
		const uint8_t *v = pgread_bytes(&rd, (size_t)vlen);
		if (v == NULL)
			break;
		int binary = i < rc->nformats && rc->formats[i] == 1;
		json_array_append_new(row, value_json(v, (size_t)vlen, binary, &cut));
		p->recorded_bytes += (size_t)vlen < RECORDING_MAX_VALUE ? (size_t)vlen :
		    RECORDING_MAX_VALUE;
	}
	if (row == NULL || rd.failed) {
		json_decref(row);
		return;
	}
	json_array_append_new(json_object_get(set, "rows"), row);
	if (cut)
		json_object_set_new(set, "cut", json_true());
	p->recorded_rows++;
}

void
recording_on_message(struct recording *rc, struct pending *p, char type,
    const uint8_t *msg, size_t len)
{
	if (rc->rows <= 0 || len < 5)
		return;
	if (type == 'T') {
		on_row_description(rc, msg + 5, len - 5);
		if (p != NULL && p->intent_seq != 0)
			current_set(rc, p, 1);
	} else if (type == 'D' && p != NULL && p->intent_seq != 0) {
		on_data_row(rc, p, msg + 5, len - 5);
	}
}
