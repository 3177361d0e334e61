#include "mcp/tokensrc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A JWT with a long actor chain is a few kilobytes; this is generous. */
#define TOKENSRC_MAX 65536

static int tokensrc_run(const char *command, char **out, char *err, size_t errlen);
static int tokensrc_clean(char *tok, char *err, size_t errlen);

int
tokensrc_get(struct tokensrc *t, int refresh, char *err, size_t errlen)
{
	char *tok = NULL;
	if (t->token != NULL && !refresh)
		return 0;
	if (t->command == NULL) {
		if (refresh) {
			snprintf(err, errlen, "the token from $%s was refused and cannot be "
			    "refreshed (use --token-command)", t->env);
			return -1;
		}
		const char *v = getenv(t->env);
		if (v == NULL || *v == '\0') {
			snprintf(err, errlen, "no token: $%s is not set", t->env);
			return -1;
		}
		if ((tok = strdup(v)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	} else if (tokensrc_run(t->command, &tok, err, errlen) != 0) {
		return -1;
	}
	if (tokensrc_clean(tok, err, errlen) != 0) {
		free(tok);
		return -1;
	}
	free(t->token);
	t->token = tok;
	return 0;
}

void
tokensrc_free(struct tokensrc *t)
{
	if (t->token != NULL)
		explicit_bzero(t->token, strlen(t->token));
	free(t->token);
	t->token = NULL;
}

/* The command's stdin is /dev/null and its stderr ours, so it can never
 * read or write the MCP channel. */
static int
tokensrc_run(const char *command, char **out, char *err, size_t errlen)
{
	int fds[2];
	if (pipe(fds) != 0) {
		snprintf(err, errlen, "token command: pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "token command: fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", 0);
		if (null >= 0)
			dup2(null, 0);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char *buf = malloc(TOKENSRC_MAX + 1);
	size_t len = 0;
	int toolong = 0;
	for (;;) {
		char chunk[4096];
		ssize_t n = read(fds[0], chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf == NULL || len + (size_t)n > TOKENSRC_MAX) {
			toolong = 1;
			continue;
		}
		memcpy(buf + len, chunk, (size_t)n);
		len += (size_t)n;
	}
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (buf == NULL || toolong) {
		free(buf);
		snprintf(err, errlen, "token command: %s", buf ? "output too long" : "out of memory");
		return -1;
	}
	buf[len] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		explicit_bzero(buf, len);
		free(buf);
		snprintf(err, errlen, "token command failed (%s %d)",
		    WIFEXITED(status) ? "exit" : "signal",
		    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return -1;
	}
	*out = buf;
	return 0;
}

/* Trailing newlines are the command's; anything else unprintable is not a
 * token. */
static int
tokensrc_clean(char *tok, char *err, size_t errlen)
{
	size_t n = strlen(tok);
	while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
		tok[--n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, "the token is empty");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)tok[i];
		if (c <= ' ' || c >= 0x7f) {
			snprintf(err, errlen, "the token has an unprintable or space character");
			return -1;
		}
	}
	return 0;
}
