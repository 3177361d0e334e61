#include "conf.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

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
conf_parse_file(const char *path, conf_line_fn fn, void *ctx, char *err,
    size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0;
	int rc = 0;
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (memchr(line, '\0', (size_t)n) != NULL) {
			snprintf(err, errlen, "%s:%d: NUL byte in line", path, lineno);
			rc = -1;
			break;
		}
		char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		char *key = s;
		char *val = s + strcspn(s, " \t");
		if (*val != '\0')
			*val++ = '\0';
		val = trim(val);
		char reason[512] = "";
		if (fn(ctx, key, val, reason, sizeof reason) != 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, reason);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
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
