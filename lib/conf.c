#include "conf.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static char *trim(char *s);
static int set_string(const struct conf_key *k, void *field, const char *value,
    char *err, size_t errlen);
static int set_string_off(const struct conf_key *k, void *field,
    const char *value, char *err, size_t errlen);
static void free_string(void *field);
static int set_int(const struct conf_key *k, void *field, const char *value,
    char *err, size_t errlen);
static int set_long(const struct conf_key *k, void *field, const char *value,
    char *err, size_t errlen);
static int set_bool(const struct conf_key *k, void *field, const char *value,
    char *err, size_t errlen);
static int set_choice(const struct conf_key *k, void *field, const char *value,
    char *err, size_t errlen);
static int set_list(const struct conf_key *k, void *field, const char *value,
    char *err, size_t errlen);
static void free_list(void *field);
static int list_append(struct conf_list *l, const char *item, size_t n);
static int list_add(const struct conf_key *k, struct conf_list *l,
    const char *item, size_t n, char *err, size_t errlen);
static int set_key(const struct conf_key *k, void *base, const char *value,
    char *err, size_t errlen);
static int parse_lines(FILE *f, const char *path, const struct conf_key *keys,
    void *base, conf_seen *seen, char *err, size_t errlen);

const struct conf_type conf_string = { set_string, free_string };
const struct conf_type conf_string_off = { set_string_off, free_string };
const struct conf_type conf_int = { set_int, NULL };
const struct conf_type conf_long = { set_long, NULL };
const struct conf_type conf_bool = { set_bool, NULL };
const struct conf_type conf_choice = { set_choice, NULL };
const struct conf_type conf_list = { set_list, free_list };

static char *
trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

int
conf_load(const char *path, const struct conf_key *keys, void *base,
    conf_seen *seen_out, char *err, size_t errlen)
{
	conf_seen seen = 0;
	size_t nkeys = 0;
	while (keys[nkeys].name != NULL)
		nkeys++;
	if (nkeys > 64) {
		snprintf(err, errlen, "%s: more than 64 keys in the table", path);
		return -1;
	}
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	int rc = parse_lines(f, path, keys, base, &seen, err, errlen);
	fclose(f);
	for (size_t i = 0; rc == 0 && i < nkeys; i++) {
		const struct conf_key *k = &keys[i];
		if (seen & ((conf_seen)1 << i))
			continue;
		if (k->flags & CONF_REQUIRED) {
			snprintf(err, errlen, "%s: %s is required", path, k->name);
			rc = -1;
		} else if (k->def != NULL) {
			char reason[512] = "";
			if (set_key(k, base, k->def, reason, sizeof reason) != 0) {
				snprintf(err, errlen, "%s: %s: default: %s", path, k->name,
				    reason);
				rc = -1;
			}
		}
	}
	if (seen_out != NULL)
		*seen_out = seen;
	return rc;
}

void
conf_free(const struct conf_key *keys, void *base)
{
	for (const struct conf_key *k = keys; k->name != NULL; k++)
		if (k->type->free != NULL)
			k->type->free((char *)base + k->offset);
}

int
conf_is_set(const struct conf_key *keys, conf_seen seen, const char *name)
{
	for (size_t i = 0; keys[i].name != NULL && i < 64; i++)
		if (strcmp(keys[i].name, name) == 0)
			return (seen >> i) & 1;
	return 0;
}

static int
parse_lines(FILE *f, const char *path, const struct conf_key *keys,
    void *base, conf_seen *seen, char *err, size_t errlen)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0;
	int rc = 0;
	while (rc == 0 && (n = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (memchr(line, '\0', (size_t)n) != NULL) {
			snprintf(err, errlen, "%s:%d: NUL byte in line", path, lineno);
			rc = -1;
			break;
		}
		char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		char *name = s;
		char *val = s + strcspn(s, " \t");
		if (*val != '\0')
			*val++ = '\0';
		val = trim(val);
		size_t i;
		for (i = 0; keys[i].name != NULL; i++)
			if (strcmp(keys[i].name, name) == 0)
				break;
		const struct conf_key *k = &keys[i];
		char reason[512] = "";
		rc = -1;
		if (k->name == NULL)
			snprintf(err, errlen, "%s:%d: unknown key \"%s\"", path, lineno, name);
		else if ((k->flags & CONF_ONCE) && (*seen & ((conf_seen)1 << i)))
			snprintf(err, errlen, "%s:%d: duplicate key \"%s\"", path, lineno,
			    name);
		else if (*val == '\0')
			snprintf(err, errlen, "%s:%d: %s: missing value", path, lineno, name);
		else if (set_key(k, base, val, reason, sizeof reason) != 0)
			snprintf(err, errlen, "%s:%d: %s: %s", path, lineno, name, reason);
		else
			rc = 0;
		if (k->name != NULL)
			*seen |= (conf_seen)1 << i;
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		rc = -1;
	}
	free(line);
	return rc;
}

static int
set_key(const struct conf_key *k, void *base, const char *value, char *err,
    size_t errlen)
{
	if (k->check != NULL && k->check(k, value, err, errlen) != 0)
		return -1;
	return k->type->set(k, (char *)base + k->offset, value, err, errlen);
}

static int
set_string(const struct conf_key *k, void *field, const char *value,
    char *err, size_t errlen)
{
	(void)k;
	return conf_set_string(field, value, err, errlen);
}

static int
set_string_off(const struct conf_key *k, void *field, const char *value,
    char *err, size_t errlen)
{
	if (strcmp(value, "off") == 0) {
		free_string(field);
		return 0;
	}
	return set_string(k, field, value, err, errlen);
}

static void
free_string(void *field)
{
	char **p = field;
	free(*p);
	*p = NULL;
}

static int
set_int(const struct conf_key *k, void *field, const char *value, char *err,
    size_t errlen)
{
	long v;
	if (conf_parse_long(value, k->min, k->max, &v, err, errlen) != 0)
		return -1;
	*(int *)field = (int)v;
	return 0;
}

static int
set_long(const struct conf_key *k, void *field, const char *value, char *err,
    size_t errlen)
{
	return conf_parse_long(value, k->min, k->max, field, err, errlen);
}

static int
set_bool(const struct conf_key *k, void *field, const char *value, char *err,
    size_t errlen)
{
	(void)k;
	return conf_parse_bool(value, field, err, errlen);
}

static int
set_choice(const struct conf_key *k, void *field, const char *value,
    char *err, size_t errlen)
{
	const struct conf_choice *c = k->arg;
	size_t n;
	for (n = 0; c[n].name != NULL; n++)
		if (strcmp(c[n].name, value) == 0) {
			*(int *)field = c[n].value;
			return 0;
		}
	size_t o = (size_t)snprintf(err, errlen, "expected ");
	for (size_t i = 0; i < n && o < errlen; i++)
		o += (size_t)snprintf(err + o, errlen - o, "%s%s",
		    i == 0 ? "" : i + 1 == n ? " or " : ", ", c[i].name);
	if (o < errlen)
		snprintf(err + o, errlen - o, ", got \"%s\"", value);
	return -1;
}

static int
set_list(const struct conf_key *k, void *field, const char *value, char *err,
    size_t errlen)
{
	struct conf_list *l = field;
	const char *sep = k->arg;
	if (sep == NULL)
		return list_add(k, l, value, strlen(value), err, errlen);
	for (const char *p = value;; p++) {
		size_t n = strcspn(p, sep);
		if (n == 0 || strcspn(p, " \t") < n) {
			snprintf(err, errlen, "expected names separated by \"%s\", "
			    "got \"%s\"", sep, value);
			return -1;
		}
		if (list_add(k, l, p, n, err, errlen) != 0)
			return -1;
		p += n;
		if (*p == '\0')
			return 0;
	}
}

static int
list_add(const struct conf_key *k, struct conf_list *l, const char *item,
    size_t n, char *err, size_t errlen)
{
	if (k->max > 0 && l->n >= (size_t)k->max) {
		snprintf(err, errlen, "at most %ld values", k->max);
		return -1;
	}
	if (list_append(l, item, n) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void
free_list(void *field)
{
	conf_list_free(field);
}

void
conf_list_free(struct conf_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
list_append(struct conf_list *l, const char *item, size_t n)
{
	char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
	if (nv == NULL)
		return -1;
	l->v = nv;
	if ((nv[l->n] = strndup(item, n)) == NULL)
		return -1;
	l->n++;
	return 0;
}

int
conf_list_add_word(struct conf_list *l, const char *word, int quoted)
{
	for (const char *s = word;;) {
		size_t n = quoted ? strlen(s) : strcspn(s, ",");
		if (n > 0 && list_append(l, s, n) != 0)
			return -1;
		if (s[n] == '\0')
			return 0;
		s += n + 1;
	}
}

int
conf_list_match(const struct conf_list *l, const char *s)
{
	if (s == NULL)
		return 0;
	for (size_t i = 0; i < l->n; i++)
		if (fnmatch(l->v[i], s, 0) == 0)
			return 1;
	return 0;
}

int
conf_parse_long(const char *value, long min, long max, long *out, char *err,
    size_t errlen)
{
	char *end;
	errno = 0;
	long v = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < min || v > max) {
		snprintf(err, errlen, "expected an integer from %ld to %ld, got \"%s\"",
		    min, max, value);
		return -1;
	}
	*out = v;
	return 0;
}

int
conf_parse_bool(const char *value, int *out, char *err, size_t errlen)
{
	if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "on") == 0 ||
	    strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0) {
		*out = 1;
		return 0;
	}
	if (strcasecmp(value, "no") == 0 || strcasecmp(value, "off") == 0 ||
	    strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0) {
		*out = 0;
		return 0;
	}
	snprintf(err, errlen, "expected yes or no, got \"%s\"", value);
	return -1;
}

int
conf_set_string(char **slot, const char *value, char *err, size_t errlen)
{
	if (*value == '\0') {
		snprintf(err, errlen, "missing value");
		return -1;
	}
	char *copy = strdup(value);
	if (copy == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(*slot);
	*slot = copy;
	return 0;
}

int
conf_check_secret_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		snprintf(err, errlen,
		    "%s: permissions %04o are too open: a secret must not be "
		    "accessible by group or others (chmod 600)",
		    path, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}
