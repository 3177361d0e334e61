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
results_init(struct results *r, void (*finished)(void *, const struct pending *, long long),
    void *ctx)
{
	memset(r, 0, sizeof *r);
	r->finished = finished;
	r->ctx = ctx;
}

static void
pending_clear(struct pending *p)
{
	json_decref(p->tags);
	json_decref(p->recorded);
	json_decref(p->row_guard);
	free(p->message);
	memset(p, 0, sizeof *p);
}

void
results_free(struct results *r)
{
	for (size_t i = 0; i < r->count; i++)
		pending_clear(&r->items[(r->head + i) % r->cap]);
	free(r->items);
	memset(r, 0, sizeof *r);
}

int
results_push(struct results *r, enum pending_kind kind, uint64_t intent_seq, uint64_t number)
{
	if (r->count == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		struct pending *n = malloc(ncap * sizeof *n);
		if (n == NULL)
			return -1;
		for (size_t i = 0; i < r->count; i++)
			n[i] = r->items[(r->head + i) % r->cap];
		free(r->items);
		r->items = n;
		r->cap = ncap;
		r->head = 0;
	}
	struct pending *p = &r->items[(r->head + r->count) % r->cap];
	memset(p, 0, sizeof *p);
	p->kind = kind;
	p->intent_seq = intent_seq;
	p->number = number;
	p->start_us = results_now_us();
	p->status = "ok";
	r->count++;
	return 0;
}

static struct pending *
head(struct results *r)
{
	return r->count ? &r->items[r->head] : NULL;
}

struct pending *
results_current(struct results *r)
{
	return head(r);
}

int
results_waiting(const struct results *r, uint64_t number)
{
	for (size_t i = 0; i < r->count; i++)
		if (r->items[(r->head + i) % r->cap].number == number)
			return 1;
	return 0;
}

static void
pop(struct results *r)
{
	struct pending *p = head(r);
	if (p->kind != PENDING_SYNC && p->intent_seq != 0 && r->finished != NULL)
		r->finished(r->ctx, p, results_now_us() - p->start_us);
	pending_clear(p);
	r->head = (r->head + 1) % r->cap;
	r->count--;
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

static void
add_tag(struct pending *p, const char *tag)
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

static void
set_error(struct pending *p, const uint8_t *body, size_t len)
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

void
results_on_message(struct results *r, char type, const uint8_t *msg, size_t len)
{
	struct pending *p = head(r);
	const uint8_t *body = msg + 5;
	size_t blen = len - 5;
	switch (type) {
	case 'C':
	case 'I':
	case 's':
		if (p == NULL || p->kind == PENDING_SYNC)
			return;
		if (type == 'C' && blen > 0 && body[blen - 1] == '\0')
			add_tag(p, (const char *)body);
		if (p->kind == PENDING_EXECUTE) {
			if (type == 's')
				p->status = "suspended";
			pop(r);
		}
		return;
	case 'E':
		if (p == NULL || p->kind == PENDING_SYNC)
			return;
		/* An error of a Parse or Bind: a Query after it is discarded. */
		if (r->skipping && p->kind != PENDING_EXECUTE)
			return;
		set_error(p, body, blen);
		if (p->kind == PENDING_EXECUTE) {
			pop(r);
			/* The server skips everything up to the Sync. */
			while ((p = head(r)) != NULL && p->kind == PENDING_EXECUTE) {
				p->status = "skipped";
				pop(r);
			}
		}
		return;
	case 'Z':
		while ((p = head(r)) != NULL) {
			enum pending_kind k = p->kind;
			int last = r->skipping ? k == PENDING_SYNC : k != PENDING_EXECUTE;
			if (!last || (r->skipping && k != PENDING_SYNC))
				p->status = "skipped";
			pop(r);
			if (last)
				break;
		}
		r->skipping = 0;
		return;
	}
}

void
results_void_syncs(struct results *r, uint64_t n)
{
	size_t i = 1;
	while (n > 0 && i < r->count) {
		struct pending *p = &r->items[(r->head + i) % r->cap];
		if (p->kind != PENDING_SYNC) {
			i++;
			continue;
		}
		pending_clear(p);
		for (size_t j = i; j + 1 < r->count; j++)
			r->items[(r->head + j) % r->cap] = r->items[(r->head + j + 1) % r->cap];
		r->count--;
		n--;
	}
}

void
results_abandon(struct results *r, const char *status)
{
	while (r->count > 0) {
		head(r)->status = status;
		pop(r);
	}
}
