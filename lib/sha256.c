#include "sha256.h"

#include <openssl/evp.h>

/* Every pgward process hashes from one thread. */
static EVP_MD *sha256_md;
static EVP_MD_CTX *sha256_ctx;

int
sha256_parts(const void *a, size_t alen, const void *b, size_t blen, const void *c,
    size_t clen, uint8_t out[32])
{
	if (sha256_md == NULL && (sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		return -1;
	if (sha256_ctx == NULL && (sha256_ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	unsigned int n = 0;
	if (EVP_DigestInit_ex2(sha256_ctx, sha256_md, NULL) != 1 ||
	    (alen > 0 && EVP_DigestUpdate(sha256_ctx, a, alen) != 1) ||
	    (blen > 0 && EVP_DigestUpdate(sha256_ctx, b, blen) != 1) ||
	    (clen > 0 && EVP_DigestUpdate(sha256_ctx, c, clen) != 1) ||
	    EVP_DigestFinal_ex(sha256_ctx, out, &n) != 1 || n != 32)
		return -1;
	return 0;
}
