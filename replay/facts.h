#ifndef PGWARD_REPLAY_FACTS_H
#define PGWARD_REPLAY_FACTS_H

/* The members of one record that export's SIEM formats use, found in one
 * pass over the split line and decoded once into a buffer of the caller
 * (no allocation per member). Strings decode as rec_unescape does; the
 * members the formats always used as C strings stop at a NUL, as they
 * did; the SQL keeps every byte. Each string keeps its raw value too, for
 * a format that can copy it as it is (OCSF, jsonw_raw). */

#include <stddef.h>

#include "replay/rec.h"

struct facts_str {
	const char *p;		/* decoded, NUL-terminated; NULL: absent, not a
				 * string, or a bad \u escape */
	size_t n;
	const struct rec_span *raw;	/* the member's raw value, or NULL */
};

struct siem_facts {
	struct rec_span type;	/* the raw bytes inside the quotes (p NULL: none) */
	struct facts_str user, session, decision, rule, role, connection, status,
	    sqlstate, message, reason, sub, client;
	/* The SQL: the text, or (sql_binary) the bytes of {"base64":…}, whose
	 * text is sql_b64. */
	struct facts_str sql;
	struct rec_span sql_b64;
	int sql_binary;
	const char *groups;	/* "a,b"; NULL: no groups member */
	size_t groups_n;
	const struct rec_span *params, *duration, *type_raw, *groups_raw;
	long long rows, intent;
	int has_rows, has_intent;
	char *arena;		/* where the decoded strings are */
	size_t used;
	struct rec r;
};

/* The room siem_facts needs in arena for a line of len bytes. */
#define FACTS_ARENA(len) ((len) + 16)

/* Splits and decodes a record line. 0, or -1 when it is not a record. */
int siem_facts(struct siem_facts *f, const char *line, size_t len, char *arena);

/* The length of p as a C string, at most n (strnlen, but the one this
 * program gets from libpg_query goes a byte at a time). */
size_t facts_cstrlen(const char *p, size_t n);
/* 1 if s is present and equal to lit (as strcmp on the C string). */
int facts_eq(const struct facts_str *s, const char *lit);
/* 1 if the record's type is t. */
int facts_is(const struct siem_facts *f, const char *t);
/* 7 denied, 5 review or error, 3 otherwise (CEF's scale). */
int facts_severity(const struct siem_facts *f);
/* Splits a client address, "ip:port" or "[v6]:port" (a C string; NULL
 * gives an empty ip): *ip and *iplen (at most 127 bytes of it), *port or
 * -1. */
void facts_split_client(const char *client, const char **ip, size_t *iplen,
    long *port);

/* The strings of a JSON array (a groups member) joined with ',', as
 * jansson reads them: an element that is not a string adds an empty one,
 * a value that is not a valid array gives "". Into out, which has room
 * for g->n + 1 bytes; returns the length (out is NUL-terminated). */
size_t facts_groups(const struct rec_span *g, char *out);

#endif
