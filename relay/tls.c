#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "sock.h"

static void
tls_error(char *err, size_t errlen, const char *what)
{
	unsigned long code = ERR_get_error();
	char msg[256] = "unknown error";
	if (code != 0)
		ERR_error_string_n(code, msg, sizeof msg);
	snprintf(err, errlen, "%s: %s", what, msg);
	ERR_clear_error();
}

SSL_CTX *
tls_server_context(const char *cert, const char *key, const char *ciphers,
    char *err, size_t errlen)
{
	if (conf_check_secret_file(key, err, errlen) != 0)
		return NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		tls_error(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	/* One read(2) per TLS record instead of two (header, then body). */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (ciphers != NULL && SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		tls_error(err, errlen, "tls-ciphers");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		char what[512];
		snprintf(what, sizeof what, "unable to load certificate %s", cert);
		tls_error(err, errlen, what);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		char what[512];
		snprintf(what, sizeof what, "unable to load key %s", key);
		tls_error(err, errlen, what);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, errlen, "tls-key does not match tls-cert");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL *
tls_accept(SSL_CTX *ctx, int fd, long long deadline_ms, char *err, size_t errlen)
{
	SSL *ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
		tls_error(err, errlen, "SSL_new");
		SSL_free(ssl);
		return NULL;
	}
	for (;;) {
		ERR_clear_error();
		int rc = SSL_accept(ssl);
		if (rc == 1)
			return ssl;
		int e = SSL_get_error(ssl, rc);
		short events;
		if (e == SSL_ERROR_WANT_READ)
			events = POLLIN;
		else if (e == SSL_ERROR_WANT_WRITE)
			events = POLLOUT;
		else {
			if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
				snprintf(err, errlen, "TLS handshake: %s",
				    errno ? strerror(errno) : "connection closed");
			else
				tls_error(err, errlen, "TLS handshake");
			SSL_free(ssl);
			return NULL;
		}
		long long left = deadline_ms - sock_now_ms();
		if (left <= 0) {
			snprintf(err, errlen, "TLS handshake: timed out");
			SSL_free(ssl);
			return NULL;
		}
		struct pollfd p = { .fd = fd, .events = events };
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			SSL_free(ssl);
			return NULL;
		}
	}
}
