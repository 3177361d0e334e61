#include "results.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgproto.h"

long long
results_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
results_clear(struct pending *p)
{
	json_decref(p->tags);
	json_decref(p->recorded);
	json_decref(p->row_guard);
	free(p->message);
	memset(p, 0, sizeof *p);
}

long long
results_tag_rows(const char *tag)
{
	static const char *const counted[] = { "SELECT ", "INSERT ", "UPDATE ", "DELETE ",
		"MERGE ", "FETCH ", "MOVE ", "COPY ", NULL };
	for (int i = 0; counted[i] != NULL; i++) {
		size_t n = strlen(counted[i]);
		if (strncmp(tag, counted[i], n) == 0) {
			const char *last = strrchr(tag, ' ');
			char *end;
			long long v = strtoll(last + 1, &end, 10);
			return *end == '\0' ? v : -1;
		}
	}
	return -1;
}

void
results_add_tag(struct pending *p, const char *tag)
{
	if (p->tags == NULL)
		p->tags = json_array();
	json_array_append_new(p->tags, json_string(tag));
	long long rows = results_tag_rows(tag);
	if (rows >= 0) {
		p->rows += rows;
		p->has_rows = 1;
	}
}

void
results_set_error(struct pending *p, const uint8_t *body, size_t len)
{
	struct pgread rd;
	pgread_init(&rd, body, len);
	for (;;) {
		uint8_t code = pgread_u8(&rd);
		if (code == 0)
			break;
		const char *v = pgread_str(&rd);
		if (v == NULL)
			break;
		if (code == 'C') {
			strncpy(p->sqlstate, v, 5);
			p->sqlstate[5] = '\0';
		} else if (code == 'M' && p->message == NULL) {
			p->message = strdup(v);
		}
	}
	p->status = "error";
}
