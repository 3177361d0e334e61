#ifndef PGWARD_CONF_H
#define PGWARD_CONF_H

#include <stddef.h>
#include <stdint.h>

/*
 * Config files are lines of "key value...": '#' starts a comment, blank
 * lines are ignored, the value is the rest of the line with surrounding
 * blanks trimmed.
 *
 * A daemon describes its keys in one table (as pgbouncer does), one row per
 * key: its name, its type (how to set and free the field), the field's
 * offset in the config struct, the default, limits and flags. conf_load
 * reads a file into the struct; conf_free releases it. A type's set
 * function receives only its own field and frees what that field held
 * before, so a key can change nothing but its own field, and a key written
 * twice frees its old value exactly once.
 */

struct conf_key;

struct conf_type {
	/* Sets *field from value (never empty); 0, or -1 with the reason. */
	int (*set)(const struct conf_key *k, void *field, const char *value,
	    char *err, size_t errlen);
	/* Frees what *field owns and zeroes it; NULL when it owns nothing. */
	void (*free)(void *field);
};

struct conf_key {
	const char *name;		/* NULL ends the table */
	const struct conf_type *type;
	size_t offset;			/* CONF_FIELD() */
	unsigned flags;
	const char *def;		/* text set when the key is absent; NULL: zero */
	long min, max;			/* numbers: the range; lists: max entries (0: any) */
	const void *arg;		/* conf_choice: the struct conf_choice list;
					 * conf_list: the separators, NULL for one a line;
					 * else free for check */
	/* Refuses a value before it is set (0, or -1 with the reason). */
	int (*check)(const struct conf_key *k, const char *value, char *err,
	    size_t errlen);
};

#define CONF_ONCE	0x1u	/* a second line is an error (else the last wins) */
#define CONF_REQUIRED	0x2u	/* "path: KEY is required" when absent */

/* The offset of st.field, checked at compile time to be a ctype. */
#define CONF_FIELD(st, field, ctype) \
	(offsetof(st, field) + 0 * sizeof((ctype *){ &((st *)0)->field }))

/* One row: CONF_LONG("max-x", struct foo_config, max_x, .def = "10",
 * .min = 1, .max = 100). The C type of the field is checked. */
#define CONF_ROW(nm, ty, st, field, ctype, ...) \
	{ .name = nm, .type = &(ty), .offset = CONF_FIELD(st, field, ctype), __VA_ARGS__ }
#define CONF_STRING(nm, st, field, ...) \
	CONF_ROW(nm, conf_string, st, field, char *, __VA_ARGS__)
#define CONF_STRING_OFF(nm, st, field, ...) \
	CONF_ROW(nm, conf_string_off, st, field, char *, __VA_ARGS__)
#define CONF_INT(nm, st, field, ...) CONF_ROW(nm, conf_int, st, field, int, __VA_ARGS__)
#define CONF_LONG(nm, st, field, ...) CONF_ROW(nm, conf_long, st, field, long, __VA_ARGS__)
#define CONF_BOOL(nm, st, field, ...) CONF_ROW(nm, conf_bool, st, field, int, __VA_ARGS__)
#define CONF_CHOICE(nm, st, field, ...) \
	CONF_ROW(nm, conf_choice, st, field, int, __VA_ARGS__)
#define CONF_LIST(nm, st, field, ...) \
	CONF_ROW(nm, conf_list, st, field, struct conf_list, __VA_ARGS__)

/* char *: a copy of the value. */
extern const struct conf_type conf_string;
/* char *: as conf_string; "off" leaves it NULL. */
extern const struct conf_type conf_string_off;
/* int, long: a decimal number from min to max. */
extern const struct conf_type conf_int;
extern const struct conf_type conf_long;
/* int: yes/no, on/off, true/false, 1/0. */
extern const struct conf_type conf_bool;
/* int: the value of one of the names in arg (a struct conf_choice list). */
extern const struct conf_type conf_choice;
/* struct conf_list: each line adds its value, or its items split at any of
 * the characters of arg (then an item may hold no blank). */
extern const struct conf_type conf_list;

struct conf_choice {
	const char *name;		/* NULL ends the list */
	int value;
};

struct conf_list {
	char **v;
	size_t n;
};

/* Lists of names in policy files too (pgward-filter's rules, the mask
 * lines). conf_list_add_word appends the items of one word: split at
 * commas unless the word was quoted (then it is one item); empty items
 * are skipped. Returns 0 or -1 (out of memory). */
int conf_list_add_word(struct conf_list *l, const char *word, int quoted);
/* Whether s (non-NULL) matches an item, as a shell glob (fnmatch). */
int conf_list_match(const struct conf_list *l, const char *s);
void conf_list_free(struct conf_list *l);

/* Which keys a file set: bit i for keys[i] (a table has at most 64 rows). */
typedef uint64_t conf_seen;

/*
 * Reads path into the struct at base (zeroed by the caller), then sets the
 * default of every key the file did not set and checks CONF_REQUIRED.
 * Returns 0, or -1 with "path:line: reason" (or "path: reason") in err; on
 * error too, conf_free releases what was set. seen may be NULL.
 */
int conf_load(const char *path, const struct conf_key *keys, void *base,
    conf_seen *seen, char *err, size_t errlen);
void conf_free(const struct conf_key *keys, void *base);
/* True if the file set the key called name. */
int conf_is_set(const struct conf_key *keys, conf_seen seen, const char *name);

int conf_parse_long(const char *value, long min, long max, long *out,
    char *err, size_t errlen);
int conf_parse_bool(const char *value, int *out, char *err, size_t errlen);
/* Replaces *slot with a copy of value (frees the old one). */
int conf_set_string(char **slot, const char *value, char *err, size_t errlen);

/* A secret must not be readable or writable by group or others (as ssh
 * refuses a world-readable private key). Returns 0 or -1 with reason. */
int conf_check_secret_file(const char *path, char *err, size_t errlen);

#endif
