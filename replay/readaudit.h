#ifndef PGWARD_REPLAY_READAUDIT_H
#define PGWARD_REPLAY_READAUDIT_H

/* Reading the audit trail is itself audited: when a person runs
 * pgward-replay with their token ($PGWARD_TOKEN or the file named by
 * $PGWARD_TOKEN_FILE), the token is checked by pgward-auth and a "read"
 * record (who, groups, which command with which arguments) is made durable
 * in pgward-logd before anything is read. Sockets: $PGWARD_AUTH_SOCKET and
 * $PGWARD_AUDIT_SOCKET (defaults /run/pgward/auth.sock, logd.sock). With
 * $PGWARD_REPLAY_REQUIRE_TOKEN set, running without a token is refused.
 * Returns 0 to go on, or an exit status. */
int readaudit_record(int argc, char **argv);

#endif
