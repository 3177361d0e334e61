#ifndef PGWARD_LOG_H
#define PGWARD_LOG_H

/* One line per diagnostic on stderr, shaped "prog: level: message".
 * No timestamp: the supervisor's logger adds it. */

#define PGWARD_EXIT_USAGE 100
#define PGWARD_EXIT_TEMP 111

void log_init(const char *progname);
const char *log_progname(void);
void log_set_debug(int on);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Appends ": strerror(errno)". */
void log_warn_sys(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void log_fatal(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void log_fatal_sys(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
