#ifndef PGWARD_REPLAY_FACTS_H
#define PGWARD_REPLAY_FACTS_H

/* The members of one record that export's SIEM formats use, found in one
 * pass over the split line and decoded once into a buffer of the caller
 * (no allocation per member). Strings decode as rec_unescape does and
 * keep every byte (NUL too: each format shows it, none cuts there). Each
 * string keeps its raw value too, for a format that can copy it as it is
 * (OCSF, jsonw_raw). */

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
	struct facts_str type_text;	/* the type decoded, for showing it */
	struct facts_str user, session, decision, rule, role, connection, status,
	    sqlstate, message, reason, sub, client;
	/* Who acts (replay/who.h): the kind, the OAuth client, the raw actor
	 * array (NULL: a record older than these members). */
	struct facts_str principal, client_id;
	const struct rec_span *actor;
	/* The SQL: the text, or (sql_binary) the bytes of {"base64":…}, whose
	 * text is sql_b64. */
	struct facts_str sql;
	struct rec_span sql_b64;
	int sql_binary;
	/* The groups array: the record's, or the session's (sess_groups). */
	const struct rec_span *params, *duration, *type_raw, *groups_raw;
	struct rec_span sess_groups;
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
/* 1 if s is present and equal to lit. */
int facts_eq(const struct facts_str *s, const char *lit);
/* 1 if the record's type is t. */
int facts_is(const struct siem_facts *f, const char *t);
/* 7 denied, 5 review or error, 3 otherwise (CEF's scale). */
int facts_severity(const struct siem_facts *f);
/* Splits a client address as the relay writes it, "ip:port", "[v6]:port"
 * or an address alone: 1 with *ip and *iplen (without brackets) and
 * *port (-1: none). 0 when c[0..n) is not that (the relay's "unix:…",
 * anything longer than an address, a bad port): it is no IP, so the
 * formats show the whole value elsewhere instead of cutting it. */
int facts_split_client(const char *c, size_t n, const char **ip, size_t *iplen,
    long *port);

/* The string elements of a groups array as one text for CEF and syslog:
 * joined with ',', each ',' and '\' inside a name preceded by '\', so a
 * group "a,b" cannot read as groups "a" and "b"; elements that are not
 * strings are left out. Into out, which has room for FACTS_GROUPS_ROOM
 * of the array's length; returns the length (out is NUL-terminated). */
#define FACTS_GROUPS_ROOM(n) (3 * (n) + 2)
size_t facts_groups(const struct rec_span *g, char *out);
/* The subs of an actor array (replay/who.h), outermost first, joined
 * and escaped as facts_groups joins groups (room: FACTS_GROUPS_ROOM of
 * the array's length); returns the length. */
size_t facts_actors(const struct rec_span *a, char *out);
/* The next group name of a groups array, decoded (as rec_unescape) into
 * out (room for the array's length + 1): 1 with *n, 0 at the end. *pos
 * as rec_array_next. */
int facts_group_next(const struct rec_span *g, size_t *pos, char *out, size_t *n);

#endif
