#ifndef PGWARD_READY_H
#define PGWARD_READY_H

/* Readiness for both supervisors: s6 (a newline on the notification fd
 * given with -d, then the fd is closed) and systemd ("READY=1" on
 * $NOTIFY_SOCKET). fd < 0 means no s6 notification was asked for. */
void ready_notify(int fd);

/* Sends a state line such as "RELOADING=1" or "STOPPING=1" to systemd,
 * if $NOTIFY_SOCKET is set. Returns 0 or -1. */
int ready_sd_notify(const char *state);

#endif
