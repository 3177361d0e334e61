#ifndef PGWARD_LOGD_SERVER_H
#define PGWARD_LOGD_SERVER_H

#include <signal.h>

#include "logd/service.h"

/* Serves NDJSON requests (docs/logd-protocol.md) on the listening fds with
 * group commit: each round reads what every client sent, appends all the
 * records with one write and one fdatasync, then sends the replies in
 * request order. Returns 0 on a clean stop, -1 when fatal (logged). */
int logd_server_run(struct logd_service *s, const int *listen_fds, int nlisten,
    volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);

#endif
