#ifndef PGWARD_LOGIN_CACHE_H
#define PGWARD_LOGIN_CACHE_H

/* A person's tokens, one JSON file per issuer and client in
 * $XDG_CACHE_HOME/pgward/ (default ~/.cache/pgward/), named by the SHA-256
 * of "issuer\nclient_id". The directory is 0700, the file 0600, replaced
 * atomically. A file or directory another user could have written or read
 * is refused, never used. */

#include <stddef.h>
#include <time.h>

struct cache_entry {
	char *access_token;
	char *refresh_token;	/* may be NULL */
	time_t expires_at;
};

enum cache_status {
	CACHE_OK,
	CACHE_ABSENT,
	CACHE_REFUSED,		/* unsafe owner, mode or type: err says which */
	CACHE_ERROR,		/* unreadable or malformed */
};

/* The file's path, malloc'd, or NULL with err set. */
char *cache_path(const char *issuer, const char *client_id, char *err, size_t errlen);
enum cache_status cache_read(const char *path, const char *issuer, const char *client_id,
    struct cache_entry *out, char *err, size_t errlen);
/* Creates the directory when missing. Returns 0 or -1 with err set. */
int cache_write(const char *path, const char *issuer, const char *client_id,
    const struct cache_entry *e, char *err, size_t errlen);
void cache_entry_free(struct cache_entry *e);

#endif
