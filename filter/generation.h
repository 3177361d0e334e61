#ifndef PGWARD_FILTER_GENERATION_H
#define PGWARD_FILTER_GENERATION_H

/* <state-dir>/generation: the policy generation as 20 zero-padded decimal
 * digits and a newline (21 bytes), rewritten in place (pwrite at offset 0,
 * fdatasync, never a rename) so that a relay may keep it mmapped and see
 * a reload without asking. */

#define GENERATION_FILE "generation"
#define GENERATION_BYTES 21

#include <stddef.h>

/* Opens (creating) the file and reads the generation it holds (0 when new
 * or unreadable). Returns the fd, or -1 with the reason. */
int generation_open(const char *dir, unsigned long long *last, char *err,
    size_t errlen);
/* Returns 0 or -1 (errno set). */
int generation_write(int fd, unsigned long long gen);
/* Parses the 21 bytes of buf; returns 0 or -1. */
int generation_parse(const char *buf, size_t len, unsigned long long *gen);

#endif
