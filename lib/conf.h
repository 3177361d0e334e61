#ifndef PGWARD_CONF_H
#define PGWARD_CONF_H

#include <stddef.h>

/* Config files are lines of "key value...": '#' starts a comment, blank
 * lines are ignored, the value is the rest of the line with surrounding
 * blanks trimmed. The callback returns 0, or -1 with a message in err. */
typedef int (*conf_line_fn)(void *ctx, const char *key, const char *value,
    char *err, size_t errlen);

/* Returns 0, or -1 with "path:line: reason" in err. */
int conf_parse_file(const char *path, conf_line_fn fn, void *ctx, char *err,
    size_t errlen);

int conf_parse_long(const char *value, long min, long max, long *out,
    char *err, size_t errlen);
int conf_parse_bool(const char *value, int *out, char *err, size_t errlen);
/* Replaces *slot with a copy of value (frees the old one). */
int conf_set_string(char **slot, const char *value, char *err, size_t errlen);

/* A secret must not be readable or writable by group or others (as ssh
 * refuses a world-readable private key). Returns 0 or -1 with reason. */
int conf_check_secret_file(const char *path, char *err, size_t errlen);

#endif
