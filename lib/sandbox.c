#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/landlock.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

/* The headers may be older than the kernel: name what we use. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER	(1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV	(1ULL << 15)
#endif
#define SB_NET_BIND_TCP		(1ULL << 0)
#define SB_NET_CONNECT_TCP	(1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; older kernels get a prefix. */
struct sb_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_WRITE (FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | \
	LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
	LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | \
	LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | \
	LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER | \
	LANDLOCK_ACCESS_FS_TRUNCATE)
#define FS_SOCKDIR (LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_MAKE_SOCK | \
	LANDLOCK_ACCESS_FS_REMOVE_FILE)
/* The rights that make sense on a file (others on a file are EINVAL). */
#define FS_FILE (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
	LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | \
	LANDLOCK_ACCESS_FS_IOCTL_DEV)

/* What any program here reads: shared libraries, OpenSSL's configuration
 * and CA store, name service files, time zones, /proc (sanitizers, glibc). */
static const char *const system_read[] = {
	"/usr", "/lib", "/lib64", "/lib32", "/etc/ssl", "/etc/hosts",
	"/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/gai.conf",
	"/etc/host.conf", "/etc/services", "/etc/protocols", "/etc/localtime",
	"/etc/passwd", "/etc/group", "/etc/ld.so.cache", "/etc/krb5.conf",
	"/etc/gss", "/etc/postgresql-common/pg_service.conf", "/proc",
	"/sys/devices/system/cpu", "/dev/urandom", "/dev/random",
};

static uint64_t fs_rights(enum sandbox_access a);
static int add_rule(int ruleset, const char *path, uint64_t rights, uint64_t handled,
    char *err, size_t errlen);

void
sandbox_init(struct sandbox *sb)
{
	memset(sb, 0, sizeof *sb);
}

void
sandbox_allow(struct sandbox *sb, const char *path, enum sandbox_access access)
{
	if (path == NULL || *path == '\0')
		return;
	char *copy = strdup(path);
	if (sb->nrules == SANDBOX_MAX_RULES || copy == NULL) {
		free(copy);
		sb->overflow = 1;
		return;
	}
	sb->rules[sb->nrules].path = copy;
	sb->rules[sb->nrules].access = access;
	sb->nrules++;
}

void
sandbox_allow_dir_of(struct sandbox *sb, const char *file, enum sandbox_access access)
{
	if (file == NULL || *file == '\0')
		return;
	char *copy = strdup(file);
	if (copy == NULL) {
		sb->overflow = 1;
		return;
	}
	/* A relative path names a file under the working directory. */
	sandbox_allow(sb, dirname(copy), access);
	free(copy);
}

int
sandbox_allow_conninfo(struct sandbox *sb, const char *conninfo)
{
	static const char *const keys[] = { "sslrootcert", "sslcert", "sslkey",
	    "sslcrl", "sslcrldir", "passfile", NULL };
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
	if (opts == NULL) {
		PQfreemem(msg);
		return -1;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		for (int i = 0; keys[i] != NULL; i++) {
			/* "system" is OpenSSL's own store, under /etc/ssl or /usr. */
			if (strcmp(o->keyword, keys[i]) == 0 && strcmp(o->val, "system") != 0)
				sandbox_allow_dir_of(sb, o->val, SANDBOX_READ);
		}
	}
	PQconninfoFree(opts);
	/* libpq's defaults when the conninfo names none. */
	sandbox_allow(sb, getenv("PGSERVICEFILE"), SANDBOX_READ);
	sandbox_allow(sb, getenv("PGSYSCONFDIR"), SANDBOX_READ);
	return 0;
}

static uint64_t
fs_rights(enum sandbox_access a)
{
	switch (a) {
	case SANDBOX_READ:
		return FS_READ;
	case SANDBOX_WRITE:
		return FS_WRITE;
	case SANDBOX_SOCKDIR:
		return FS_SOCKDIR;
	}
	return 0;
}

/* A path that does not exist is skipped: nothing can be opened there. */
static int
add_rule(int ruleset, const char *path, uint64_t rights, uint64_t handled, char *err,
    size_t errlen)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		snprintf(err, errlen, "sandbox: %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "sandbox: %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		rights &= FS_FILE;
	struct landlock_path_beneath_attr pb = {
		.allowed_access = rights & handled,
		.parent_fd = fd,
	};
	int rc = 0;
	if (pb.allowed_access != 0 &&
	    syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) != 0) {
		snprintf(err, errlen, "sandbox: landlock rule for %s: %s", path, strerror(errno));
		rc = -1;
	}
	close(fd);
	return rc;
}

int
sandbox_apply(struct sandbox *sb, char *err, size_t errlen)
{
	if (sb->overflow) {
		snprintf(err, errlen, "sandbox: more than %d paths or out of memory",
		    SANDBOX_MAX_RULES);
		return -1;
	}
	/* Also what makes Landlock allowed without privileges. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(err, errlen, "sandbox: prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
		return -1;
	}
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 0) {
		if (errno == ENOSYS || errno == EOPNOTSUPP) {
			log_warn("sandbox: this kernel has no Landlock (%s); running without "
			    "the file system sandbox", strerror(errno));
			return 1;
		}
		snprintf(err, errlen, "sandbox: landlock: %s", strerror(errno));
		return -1;
	}
	struct sb_ruleset_attr attr = { 0, 0, 0 };
	size_t attr_size = sizeof attr.handled_access_fs;
	attr.handled_access_fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;
	if (abi >= 2)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	if (abi >= 4 && sb->no_tcp) {
		attr.handled_access_net = SB_NET_BIND_TCP | SB_NET_CONNECT_TCP;
		attr_size = offsetof(struct sb_ruleset_attr, scoped);
	}
	int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (ruleset < 0) {
		snprintf(err, errlen, "sandbox: landlock_create_ruleset: %s", strerror(errno));
		return -1;
	}
	uint64_t handled = attr.handled_access_fs;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < sizeof system_read / sizeof system_read[0]; i++)
		rc = add_rule(ruleset, system_read[i], FS_READ, handled, err, errlen);
	if (rc == 0)
		rc = add_rule(ruleset, "/dev/null", LANDLOCK_ACCESS_FS_READ_FILE |
		    LANDLOCK_ACCESS_FS_WRITE_FILE, handled, err, errlen);
	for (int i = 0; rc == 0 && i < sb->nrules; i++)
		rc = add_rule(ruleset, sb->rules[i].path, fs_rights(sb->rules[i].access),
		    handled, err, errlen);
	if (rc == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
		snprintf(err, errlen, "sandbox: landlock_restrict_self: %s", strerror(errno));
		rc = -1;
	}
	close(ruleset);
	if (rc == 0)
		log_debug("sandbox: Landlock ABI %ld, %d paths%s", abi, sb->nrules,
		    attr.handled_access_net ? ", no TCP" : "");
	return rc;
}

void
sandbox_enter(struct sandbox *sb)
{
	char err[512];
	int rc = sandbox_apply(sb, err, sizeof err);
	sandbox_free(sb);
	if (rc < 0)
		log_fatal(PGWARD_EXIT_TEMP, "%s", err);
}

void
sandbox_free(struct sandbox *sb)
{
	for (int i = 0; i < sb->nrules; i++)
		free(sb->rules[i].path);
	sb->nrules = 0;
}
