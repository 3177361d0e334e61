#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *progname = "pgward";
static int debug_enabled;

void
log_init(const char *name)
{
	progname = name;
	if (getenv("PGWARD_DEBUG") != NULL)
		debug_enabled = 1;
}

const char *
log_progname(void)
{
	return progname;
}

void
log_set_debug(int on)
{
	debug_enabled = on;
}

/* Built in one buffer and written with one write() so that lines from
 * concurrent session processes never interleave. */
static void
log_emit(const char *level, const char *suffix, const char *fmt, va_list ap)
{
	char line[2048];
	int n = snprintf(line, sizeof line, "%s: %s: ", progname, level);
	if (n < 0)
		return;
	size_t len = (size_t)n;
	int m = vsnprintf(line + len, sizeof line - len, fmt, ap);
	if (m > 0)
		len += (size_t)m < sizeof line - len ? (size_t)m : sizeof line - len - 1;
	if (suffix != NULL && len < sizeof line - 1) {
		m = snprintf(line + len, sizeof line - len, ": %s", suffix);
		if (m > 0)
			len += (size_t)m < sizeof line - len ? (size_t)m : sizeof line - len - 1;
	}
	for (size_t i = 0; i < len; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	if (len >= sizeof line - 1)
		len = sizeof line - 2;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

#define LOG_FN(name, level)                          \
	void name(const char *fmt, ...)              \
	{                                            \
		va_list ap;                          \
		va_start(ap, fmt);                   \
		log_emit(level, NULL, fmt, ap);      \
		va_end(ap);                          \
	}

LOG_FN(log_info, "info")
LOG_FN(log_warn, "warning")
LOG_FN(log_error, "error")

void
log_debug(const char *fmt, ...)
{
	if (!debug_enabled)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_emit("debug", NULL, fmt, ap);
	va_end(ap);
}

void
log_warn_sys(const char *fmt, ...)
{
	const char *e = strerror(errno);
	va_list ap;
	va_start(ap, fmt);
	log_emit("warning", e, fmt, ap);
	va_end(ap);
}

void
log_fatal(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit("fatal", NULL, fmt, ap);
	va_end(ap);
	exit(code);
}

void
log_fatal_sys(int code, const char *fmt, ...)
{
	const char *e = strerror(errno);
	va_list ap;
	va_start(ap, fmt);
	log_emit("fatal", e, fmt, ap);
	va_end(ap);
	exit(code);
}
