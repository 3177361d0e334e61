#ifndef PGWARD_RELAY_TLS_H
#define PGWARD_RELAY_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

/* A server context: TLS 1.2 or later, certificate chain and key from
 * files; the key file must be private to its owner. NULL with a reason
 * in err on failure. */
SSL_CTX *tls_server_context(const char *cert, const char *key, const char *ciphers,
    char *err, size_t errlen);

/* Runs the server handshake on fd until deadline (monotonic ms). Returns
 * the SSL object or NULL with a reason in err. */
SSL *tls_accept(SSL_CTX *ctx, int fd, long long deadline_ms, char *err, size_t errlen);

#endif
