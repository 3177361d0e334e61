#ifndef PGWARD_REPLAY_MATCH_H
#define PGWARD_REPLAY_MATCH_H

/* Text tests on SQL and on raw log bytes used by search. */

#include <stddef.h>

/* A case-insensitive (ASCII) substring finder, Boyer-Moore-Horspool over
 * folded bytes: about needle-length bytes per step. */
struct match_ci {
	unsigned char needle[256];
	size_t n;
	size_t skip[256];
};

/* 0, or -1 if the needle is empty or longer than 255 bytes. */
int match_ci_init(struct match_ci *m, const char *needle);
const char *match_ci_find(const struct match_ci *m, const char *hay, size_t n);

/* 1 if sql names the identifier (case-insensitive, not part of a longer
 * identifier): "orders", "public.orders", "\"orders\"", "ORDERS". */
int match_identifier(const char *sql, size_t len, const char *ident);
/* The first keyword of sql (after white space, comments and opening
 * parentheses), upper-cased into out; "" when there is none. */
void match_first_keyword(const char *sql, size_t len, char *out, size_t outlen);

#endif
