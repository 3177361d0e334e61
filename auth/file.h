#ifndef PGWARD_AUTH_FILE_H
#define PGWARD_AUTH_FILE_H

#include <stddef.h>

/* Reads a whole regular file of at most max bytes. Returns a malloc'd,
 * NUL-terminated buffer with *len bytes, or NULL with the reason in err. */
char *auth_file_read(const char *path, size_t max, size_t *len, char *err,
    size_t errlen);

#endif
