#include "login/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "sha256.h"

#define CACHE_MAX (256 * 1024)

static int cache_dir_ok(const char *dir, int create, char *err, size_t errlen);
static int cache_safe(const struct stat *st, const char *path, mode_t want, char *err,
    size_t errlen);
static char *cache_dirname(const char *path);

static int
cache_safe(const struct stat *st, const char *path, mode_t want, char *err, size_t errlen)
{
	if (st->st_uid != geteuid()) {
		snprintf(err, errlen, "%s: not owned by this user: refused", path);
		return -1;
	}
	if ((st->st_mode & 07777) != want) {
		snprintf(err, errlen, "%s: mode %04o, not %04o: refused", path,
		    (unsigned)(st->st_mode & 07777), (unsigned)want);
		return -1;
	}
	return 0;
}

static int
cache_dir_ok(const char *dir, int create, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(dir, &st) != 0) {
		if (errno != ENOENT || !create) {
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
			return -1;
		}
		if (mkdir(dir, 0700) != 0 || lstat(dir, &st) != 0) {
			snprintf(err, errlen, "unable to create %s: %s", dir, strerror(errno));
			return -1;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory: refused", dir);
		return -1;
	}
	return cache_safe(&st, dir, 0700, err, errlen);
}

static char *
cache_dirname(const char *path)
{
	char *d = strdup(path);
	char *slash = d ? strrchr(d, '/') : NULL;
	if (slash != NULL)
		*slash = '\0';
	return d;
}

char *
cache_path(const char *issuer, const char *client_id, char *err, size_t errlen)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	uint8_t h[32];
	char hex[65];
	if (sha256_parts(issuer, strlen(issuer), "\n", 1, client_id, strlen(client_id), h) != 0) {
		snprintf(err, errlen, "unable to hash the cache name");
		return NULL;
	}
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	char buf[4096];
	int n;
	/* XDG Base Directory: a relative path is invalid and ignored */
	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(buf, sizeof buf, "%s/pgward/%s.json", xdg, hex);
	else if (home != NULL && home[0] == '/')
		n = snprintf(buf, sizeof buf, "%s/.cache/pgward/%s.json", home, hex);
	else {
		snprintf(err, errlen, "neither $XDG_CACHE_HOME nor $HOME is an absolute path");
		return NULL;
	}
	if (n < 0 || (size_t)n >= sizeof buf) {
		snprintf(err, errlen, "cache path too long");
		return NULL;
	}
	return strdup(buf);
}

enum cache_status
cache_read(const char *path, const char *issuer, const char *client_id,
    struct cache_entry *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	char *dir = cache_dirname(path);
	if (dir == NULL) {
		snprintf(err, errlen, "out of memory");
		return CACHE_ERROR;
	}
	struct stat st;
	if (lstat(dir, &st) != 0 && errno == ENOENT) {
		free(dir);
		return CACHE_ABSENT;
	}
	int dir_bad = cache_dir_ok(dir, 0, err, errlen);
	free(dir);
	if (dir_bad)
		return CACHE_REFUSED;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return CACHE_ABSENT;
		snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
		    errno == ELOOP ? ": a symbolic link: refused" : "");
		return errno == ELOOP ? CACHE_REFUSED : CACHE_ERROR;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file: refused", path);
		return CACHE_REFUSED;
	}
	if (cache_safe(&st, path, 0600, err, errlen) != 0) {
		close(fd);
		return CACHE_REFUSED;
	}
	json_error_t je;
	json_t *doc = st.st_size > CACHE_MAX ? NULL : json_loadfd(fd, JSON_REJECT_DUPLICATES, &je);
	close(fd);
	if (doc == NULL) {
		snprintf(err, errlen, "%s: not a pgward-login cache file", path);
		return CACHE_ERROR;
	}
	const char *iss = json_string_value(json_object_get(doc, "issuer"));
	const char *cid = json_string_value(json_object_get(doc, "client_id"));
	const char *at = json_string_value(json_object_get(doc, "access_token"));
	const char *rt = json_string_value(json_object_get(doc, "refresh_token"));
	json_t *exp = json_object_get(doc, "expires_at");
	enum cache_status rc = CACHE_ERROR;
	if (iss == NULL || cid == NULL || strcmp(iss, issuer) != 0 || strcmp(cid, client_id) != 0) {
		snprintf(err, errlen, "%s: for another issuer or client", path);
	} else if (at == NULL || !json_is_integer(exp)) {
		snprintf(err, errlen, "%s: not a pgward-login cache file", path);
	} else {
		out->access_token = strdup(at);
		out->refresh_token = rt ? strdup(rt) : NULL;
		out->expires_at = (time_t)json_integer_value(exp);
		rc = CACHE_OK;
		if (out->access_token == NULL || (rt != NULL && out->refresh_token == NULL)) {
			cache_entry_free(out);
			snprintf(err, errlen, "out of memory");
			rc = CACHE_ERROR;
		}
	}
	json_decref(doc);
	return rc;
}

int
cache_write(const char *path, const char *issuer, const char *client_id,
    const struct cache_entry *e, char *err, size_t errlen)
{
	char *dir = cache_dirname(path);
	char *parent = dir ? cache_dirname(dir) : NULL;
	if (parent == NULL) {
		free(dir);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* ~/.cache may be missing too; its mode is the user's business */
	if (mkdir(parent, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "unable to create %s: %s", parent, strerror(errno));
		free(parent);
		free(dir);
		return -1;
	}
	free(parent);
	if (cache_dir_ok(dir, 1, err, errlen) != 0) {
		free(dir);
		return -1;
	}
	json_t *doc = json_pack("{s:s, s:s, s:s, s:s?, s:I}", "issuer", issuer,
	    "client_id", client_id, "access_token", e->access_token,
	    "refresh_token", e->refresh_token, "expires_at", (json_int_t)e->expires_at);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	size_t tlen = strlen(dir) + sizeof "/.tmp-XXXXXX";
	char *tmp = malloc(tlen);
	if (text == NULL || tmp == NULL) {
		snprintf(err, errlen, "out of memory");
		free(text);
		free(tmp);
		free(dir);
		return -1;
	}
	snprintf(tmp, tlen, "%s/.tmp-XXXXXX", dir);
	free(dir);
	/* mkstemp creates the file 0600 whatever the umask */
	int fd = mkostemp(tmp, O_CLOEXEC);
	int rc = -1;
	if (fd < 0) {
		snprintf(err, errlen, "unable to create a file in the cache: %s", strerror(errno));
	} else {
		size_t len = strlen(text), off = 0;
		while (off < len) {
			ssize_t n = write(fd, text + off, len - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			off += (size_t)n;
		}
		int bad = off < len || fsync(fd) != 0;
		bad |= close(fd) != 0;
		if (bad)
			snprintf(err, errlen, "unable to write %s: %s", tmp, strerror(errno));
		else if (rename(tmp, path) != 0)
			snprintf(err, errlen, "unable to rename %s to %s: %s", tmp, path, strerror(errno));
		else
			rc = 0;
		if (rc != 0)
			unlink(tmp);
	}
	/* the token is in text: leave no copy behind in freed memory */
	explicit_bzero(text, strlen(text));
	free(text);
	free(tmp);
	return rc;
}

void
cache_entry_free(struct cache_entry *e)
{
	if (e->access_token)
		explicit_bzero(e->access_token, strlen(e->access_token));
	if (e->refresh_token)
		explicit_bzero(e->refresh_token, strlen(e->refresh_token));
	free(e->access_token);
	free(e->refresh_token);
	memset(e, 0, sizeof *e);
}
