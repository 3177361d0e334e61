#ifndef PGWARD_SANDBOX_H
#define PGWARD_SANDBOX_H

#include <stddef.h>

/* After setup a daemon restricts itself: no_new_privs, then Landlock keeps
 * only the paths it names (plus the system files every program reads:
 * libraries, /etc/ssl, name service files, /proc, /dev/null) and, for
 * daemons that need no TCP, takes away TCP bind and connect. Connecting to
 * Unix sockets is not a file access, so the daemons still reach each other.
 *
 *   struct sandbox sb;
 *   sandbox_init(&sb);
 *   sandbox_allow_dir_of(&sb, config_path, SANDBOX_READ);
 *   sandbox_allow(&sb, state_dir, SANDBOX_WRITE);
 *   sandbox_enter(&sb);
 *
 * A rule on a file follows that file's inode: a file replaced by rename
 * (editors, certbot, fetch-jwks) would fall out of it. So configuration,
 * keys and certificates are allowed by their directory, and each daemon's
 * files belong in a directory of their own (docs/operations.md). */

#define SANDBOX_MAX_RULES 64

enum sandbox_access {
	SANDBOX_READ,		/* read files, list directories */
	SANDBOX_WRITE,		/* everything but execute and device nodes */
	SANDBOX_SOCKDIR,	/* bind and remove Unix sockets in a directory */
};

struct sandbox {
	struct {
		char *path;
		enum sandbox_access access;
	} rules[SANDBOX_MAX_RULES];
	int nrules;
	int overflow;
	int no_tcp;		/* no TCP bind or connect (Landlock ABI 4+) */
};

void sandbox_init(struct sandbox *sb);
/* NULL paths are ignored, so optional settings can be passed as they are. */
void sandbox_allow(struct sandbox *sb, const char *path, enum sandbox_access access);
void sandbox_allow_dir_of(struct sandbox *sb, const char *file, enum sandbox_access access);
/* Read access to the directories of the files a libpq conninfo names
 * (sslrootcert, sslcert, sslkey, sslcrl, sslcrldir, passfile, service
 * files). Returns -1 if the conninfo does not parse. */
int sandbox_allow_conninfo(struct sandbox *sb, const char *conninfo);

/* 0: restricted. 1: the kernel has no Landlock; no_new_privs is set and one
 * line says so. -1: failure, reason in err (the daemon must not go on). */
int sandbox_apply(struct sandbox *sb, char *err, size_t errlen);
/* sandbox_apply, exiting 111 on failure; frees the rules. */
void sandbox_enter(struct sandbox *sb);
void sandbox_free(struct sandbox *sb);

#endif
