#include "signnote.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b64.h"
#include "conf.h"

#define NOTE_ALG_ED25519 0x01
#define NOTE_SIG_LEN 64
#define NOTE_MAX_SIGS 100
static const char note_dash[] = "\xe2\x80\x94 ";	/* U+2014 and a space */

static struct note_result
note_ok(void)
{
	return (struct note_result){ NULL };
}

static struct note_result
note_err(const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	/* The caller must still see a failure when even that fails. */
	return (struct note_result){ msg != NULL ? msg : strdup("out of memory") };
}

void
note_result_free(struct note_result *r)
{
	free(r->error);
	r->error = NULL;
}

/* Printable ASCII without space or '+': the name is the first field of
 * the verifier key and of each signature line. */
static int
note_name_ok(const char *name, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c >= 0x7f || c == '+')
			return 0;
	}
	return 1;
}

static int
note_key_id(const char *name, size_t n, const uint8_t pub[32], uint8_t id[4])
{
	uint8_t sum[32];
	unsigned int len = 0;
	uint8_t tail[2] = { '\n', NOTE_ALG_ED25519 };
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, name, n) == 1 &&
	    EVP_DigestUpdate(ctx, tail, 2) == 1 &&
	    EVP_DigestUpdate(ctx, pub, 32) == 1 &&
	    EVP_DigestFinal_ex(ctx, sum, &len) == 1 && len == 32;
	EVP_MD_CTX_free(ctx);
	if (ok)
		memcpy(id, sum, 4);
	return ok ? 0 : -1;
}

static int
note_raw_public(EVP_PKEY *key, uint8_t pub[32])
{
	size_t n = 32;
	return EVP_PKEY_get_raw_public_key(key, pub, &n) == 1 && n == 32 ? 0 : -1;
}

struct note_result
note_signer_load(struct note_signer *s, const char *name, const char *pem_path)
{
	memset(s, 0, sizeof *s);
	if (name == NULL || !note_name_ok(name, strlen(name)))
		return note_err("key name \"%s\" must be printable ASCII without "
		    "spaces or '+'", name != NULL ? name : "");
	char err[512];
	if (conf_check_secret_file(pem_path, err, sizeof err) != 0)
		return note_err("%s", err);
	FILE *f = fopen(pem_path, "r");
	if (f == NULL)
		return note_err("%s: %s", pem_path, strerror(errno));
	EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (key == NULL)
		return note_err("%s: not a PEM private key", pem_path);
	if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(key);
		return note_err("%s: not an Ed25519 key", pem_path);
	}
	if (note_raw_public(key, s->pub) != 0 ||
	    note_key_id(name, strlen(name), s->pub, s->key_id) != 0 ||
	    (s->name = strdup(name)) == NULL) {
		EVP_PKEY_free(key);
		memset(s, 0, sizeof *s);
		return note_err("%s: cannot derive the public key", pem_path);
	}
	s->key = key;
	return note_ok();
}

void
note_signer_free(struct note_signer *s)
{
	free(s->name);
	EVP_PKEY_free(s->key);
	memset(s, 0, sizeof *s);
}

static char *
note_vkey_string(const char *name, const uint8_t id[4], const uint8_t pub[32])
{
	uint8_t raw[33];
	raw[0] = NOTE_ALG_ED25519;
	memcpy(raw + 1, pub, 32);
	char *b64 = b64_encode(raw, sizeof raw);
	if (b64 == NULL)
		return NULL;
	char *out = NULL;
	if (asprintf(&out, "%s+%02x%02x%02x%02x+%s", name, id[0], id[1], id[2],
	    id[3], b64) < 0)
		out = NULL;
	free(b64);
	return out;
}

char *
note_signer_vkey(const struct note_signer *s)
{
	return note_vkey_string(s->name, s->key_id, s->pub);
}

struct note_result
note_keygen(const char *name, const char *pem_path, char **vkey)
{
	*vkey = NULL;
	if (name == NULL || !note_name_ok(name, strlen(name)))
		return note_err("key name \"%s\" must be printable ASCII without "
		    "spaces or '+'", name != NULL ? name : "");
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (key == NULL)
		return note_err("cannot generate an Ed25519 key");
	uint8_t pub[32], id[4];
	if (note_raw_public(key, pub) != 0 ||
	    note_key_id(name, strlen(name), pub, id) != 0) {
		EVP_PKEY_free(key);
		return note_err("cannot derive the public key");
	}
	int fd = open(pem_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		EVP_PKEY_free(key);
		return note_err("%s: %s", pem_path, strerror(errno));
	}
	FILE *f = fdopen(fd, "w");
	int ok = f != NULL && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL,
	    NULL) == 1 && fflush(f) == 0 && fsync(fd) == 0;
	int saved = errno;
	if (f != NULL)
		ok = (fclose(f) == 0) && ok;
	else
		close(fd);
	EVP_PKEY_free(key);
	if (!ok) {
		unlink(pem_path);
		return note_err("%s: cannot write the key: %s", pem_path,
		    strerror(saved));
	}
	*vkey = note_vkey_string(name, id, pub);
	if (*vkey == NULL)
		return note_err("out of memory");
	return note_ok();
}

static int
note_hex8(const char *s, uint8_t out[4])
{
	for (int i = 0; i < 8; i++) {
		char c = s[i];
		int v;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return 0;
}

struct note_result
note_verifier_parse(struct note_verifier *v, const char *vkey)
{
	memset(v, 0, sizeof *v);
	const char *p1 = strchr(vkey, '+');
	const char *p2 = p1 != NULL ? strchr(p1 + 1, '+') : NULL;
	if (p2 == NULL)
		return note_err("verifier key is not <name>+<key id>+<key>");
	size_t nlen = (size_t)(p1 - vkey);
	if (!note_name_ok(vkey, nlen))
		return note_err("verifier key: bad name \"%.*s\"", (int)nlen, vkey);
	uint8_t id[4];
	if (p2 - p1 - 1 != 8 || note_hex8(p1 + 1, id) != 0)
		return note_err("verifier key: key id is not 8 hex digits");
	uint8_t raw[33];
	long n = b64_decode(p2 + 1, strlen(p2 + 1), raw, sizeof raw);
	if (n < 1)
		return note_err("verifier key: key is not base64");
	if (raw[0] != NOTE_ALG_ED25519)
		return note_err("verifier key: unknown algorithm %u (only 1, Ed25519)",
		    raw[0]);
	if (n != 33)
		return note_err("verifier key: Ed25519 key is %ld bytes, not 32", n - 1);
	uint8_t want[4];
	if (note_key_id(vkey, nlen, raw + 1, want) != 0)
		return note_err("cannot hash the verifier key");
	if (memcmp(want, id, 4) != 0)
		return note_err("verifier key: key id %.8s does not match the name "
		    "and key (want %02x%02x%02x%02x)", p1 + 1, want[0], want[1],
		    want[2], want[3]);
	v->key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw + 1, 32);
	v->name = strndup(vkey, nlen);
	if (v->key == NULL || v->name == NULL) {
		note_verifier_free(v);
		return note_err("verifier key: not a usable Ed25519 public key");
	}
	memcpy(v->key_id, id, 4);
	memcpy(v->pub, raw + 1, 32);
	return note_ok();
}

void
note_verifier_free(struct note_verifier *v)
{
	free(v->name);
	EVP_PKEY_free(v->key);
	memset(v, 0, sizeof *v);
}

/* Valid UTF-8, and no control characters but newline (C2SP signed-note). */
static int
note_text_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		if (c < 0x80) {
			if ((c < 0x20 && c != '\n') || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		size_t k;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i <= k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF. */
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += k + 1;
	}
	return 1;
}

char *
note_sign(const struct note_signer *s, const char *text, size_t len)
{
	if (len == 0 || text[len - 1] != '\n' || !note_text_ok(text, len))
		return NULL;
	uint8_t sig[4 + NOTE_SIG_LEN];
	size_t siglen = NOTE_SIG_LEN;
	memcpy(sig, s->key_id, 4);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL &&
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->key) == 1 &&
	    EVP_DigestSign(ctx, sig + 4, &siglen, (const unsigned char *)text,
	    len) == 1 && siglen == NOTE_SIG_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return NULL;
	char *b64 = b64_encode(sig, sizeof sig);
	if (b64 == NULL)
		return NULL;
	char *out = NULL;
	if (asprintf(&out, "%.*s\n%s%s %s\n", (int)len, text, note_dash, s->name,
	    b64) < 0)
		out = NULL;
	free(b64);
	return out;
}

char *
note_sign_checkpoint(const struct note_signer *s, const char *origin,
    uint64_t size, const uint8_t root[MERKLE_HASH_LEN])
{
	if (origin == NULL || origin[0] == '\0' || strchr(origin, '\n') != NULL)
		return NULL;
	char *r64 = b64_encode(root, MERKLE_HASH_LEN);
	if (r64 == NULL)
		return NULL;
	char *body = NULL;
	int n = asprintf(&body, "%s\n%" PRIu64 "\n%s\n", origin, size, r64);
	free(r64);
	if (n < 0)
		return NULL;
	char *note = note_sign(s, body, (size_t)n);
	free(body);
	return note;
}

static int
note_verify_sig(const struct note_verifier *v, const char *text, size_t len,
    const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL &&
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, v->key) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)text,
	    len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

struct note_result
note_open(const struct note_verifier *v, const char *note, size_t len,
    size_t *text_len)
{
	*text_len = 0;
	if (!note_text_ok(note, len))
		return note_err("malformed note: not UTF-8 text without control "
		    "characters");
	/* The signature block starts after the last blank line. */
	size_t split = 0;
	int found = 0;
	for (size_t i = len; i >= 2; i--) {
		if (note[i - 2] == '\n' && note[i - 1] == '\n') {
			split = i - 2;
			found = 1;
			break;
		}
	}
	if (!found || len == 0 || note[len - 1] != '\n')
		return note_err("malformed note: no signature block");
	size_t tlen = split + 1;
	const char *p = note + split + 2, *end = note + len;
	int nsigs = 0, ours = 0;
	char other[16] = "";
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t dl = sizeof note_dash - 1;
		if ((size_t)(eol - p) < dl || memcmp(p, note_dash, dl) != 0)
			return note_err("malformed note: signature line does not "
			    "start with an em dash and a space");
		const char *name = p + dl;
		const char *sp = memchr(name, ' ', (size_t)(eol - name));
		if (sp == NULL || !note_name_ok(name, (size_t)(sp - name)))
			return note_err("malformed note: bad signature line");
		if (++nsigs > NOTE_MAX_SIGS)
			return note_err("malformed note: more than %d signatures",
			    NOTE_MAX_SIGS);
		uint8_t sig[256];
		long n = b64_decode(sp + 1, (size_t)(eol - sp - 1), sig, sizeof sig);
		if (n < 5)
			return note_err("malformed note: signature is not base64 of "
			    "a key id and a signature");
		size_t nl = (size_t)(sp - name);
		if (nl == strlen(v->name) && memcmp(name, v->name, nl) == 0) {
			if (memcmp(sig, v->key_id, 4) != 0) {
				snprintf(other, sizeof other, "%02x%02x%02x%02x",
				    sig[0], sig[1], sig[2], sig[3]);
			} else {
				if (n != 4 + NOTE_SIG_LEN ||
				    !note_verify_sig(v, note, tlen, sig + 4, NOTE_SIG_LEN))
					return note_err("bad signature by key %s+%02x%02x%02x%02x",
					    v->name, v->key_id[0], v->key_id[1],
					    v->key_id[2], v->key_id[3]);
				ours = 1;
			}
		}
		p = eol + 1;
	}
	if (!ours) {
		if (other[0] != '\0')
			return note_err("no signature by key %s+%02x%02x%02x%02x "
			    "(the note is signed by a different key with that name, "
			    "key id %s)", v->name, v->key_id[0], v->key_id[1],
			    v->key_id[2], v->key_id[3], other);
		return note_err("no signature by key %s+%02x%02x%02x%02x",
		    v->name, v->key_id[0], v->key_id[1], v->key_id[2],
		    v->key_id[3]);
	}
	*text_len = tlen;
	return note_ok();
}

static int
note_parse_u64(const char *s, size_t n, uint64_t *out)
{
	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

struct note_result
note_verify_checkpoint(const struct note_verifier *v, const char *note,
    size_t len, struct checkpoint *out)
{
	memset(out, 0, sizeof *out);
	size_t tlen;
	struct note_result r = note_open(v, note, len, &tlen);
	if (r.error != NULL)
		return r;
	/* origin, size, root; C2SP allows extension lines after them, which
	 * are signed like the rest and otherwise ignored. */
	const char *l1 = note, *e1 = memchr(l1, '\n', tlen);
	const char *l2 = e1 + 1;
	const char *e2 = l2 < note + tlen ? memchr(l2, '\n', (size_t)(note + tlen - l2)) : NULL;
	const char *l3 = e2 != NULL ? e2 + 1 : NULL;
	const char *e3 = l3 != NULL && l3 < note + tlen ?
	    memchr(l3, '\n', (size_t)(note + tlen - l3)) : NULL;
	if (e3 == NULL)
		return note_err("checkpoint: body is not origin, size and root lines");
	if (e1 == l1)
		return note_err("checkpoint: empty origin");
	for (const char *x = e3 + 1; x < note + tlen; x++)
		if (*x == '\n' && x[-1] == '\n')
			return note_err("checkpoint: empty extension line");
	uint64_t size;
	if (note_parse_u64(l2, (size_t)(e2 - l2), &size) != 0)
		return note_err("checkpoint: size is not a decimal number");
	uint8_t root[MERKLE_HASH_LEN];
	if (b64_decode(l3, (size_t)(e3 - l3), root, sizeof root) != MERKLE_HASH_LEN)
		return note_err("checkpoint: root is not base64 of 32 bytes");
	out->origin = strndup(l1, (size_t)(e1 - l1));
	if (out->origin == NULL)
		return note_err("out of memory");
	out->size = size;
	memcpy(out->root, root, MERKLE_HASH_LEN);
	return note_ok();
}

void
checkpoint_free(struct checkpoint *c)
{
	free(c->origin);
	memset(c, 0, sizeof *c);
}
