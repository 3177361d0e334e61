#include "replay/prove.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditrec.h"
#include "b64.h"
#include "daemon.h"
#include "log.h"
#include "merkle.h"
#include "replay/cli.h"
#include "replay/scan.h"
#include "signnote.h"

#define PROVE_USAGE \
	"usage: pgward-replay prove [-d DIR] -k VERIFIER_KEY_FILE [-c CHECKPOINT_FILE]\n" \
	"                           [-o ORIGIN] SEQ [DIR]\n"
#define VPROOF_USAGE \
	"usage: pgward-replay verify-proof -k VERIFIER_KEY_FILE [-o ORIGIN] FILE\n"
#define PROVE_FORMAT "pgward-inclusion-proof/1"
#define PROVE_MAX_FILE (64u << 20)

static char *
prove_slurp(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);
	while (buf != NULL) {
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (n < cap)
			break;
		if (cap >= PROVE_MAX_FILE) {
			free(buf);
			buf = NULL;
			break;
		}
		char *nb = realloc(buf, cap * 2 + 1);
		if (nb == NULL) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	int bad = ferror(f);
	if (f != stdin)
		fclose(f);
	if (buf == NULL || bad) {
		snprintf(err, errlen, "%s: %s", path, buf == NULL ? "too large or out of "
		    "memory" : "read error");
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The first line of a verifier key file. */
static char *
prove_vkey(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *s = prove_slurp(path, &len, err, errlen);
	if (s == NULL)
		return NULL;
	char *p = s + strspn(s, " \t\r\n");
	size_t n = strcspn(p, " \t\r\n");
	memmove(s, p, n);
	s[n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, "%s: no verifier key in the file", path);
		free(s);
		return NULL;
	}
	return s;
}

/* Opens a note with the key; checks the origin. */
static int
prove_open_note(const char *vkey, const char *origin, const char *note, size_t len,
    struct checkpoint *cp, char *err, size_t errlen)
{
	struct note_verifier v;
	struct note_result r = note_verifier_parse(&v, vkey);
	if (r.error != NULL) {
		snprintf(err, errlen, "verifier key: %s", r.error);
		note_result_free(&r);
		return PGWARD_EXIT_USAGE;
	}
	memset(cp, 0, sizeof *cp);
	r = note_verify_checkpoint(&v, note, len, cp);
	const char *want = origin ? origin : v.name;
	int rc = 0;
	if (r.error != NULL) {
		snprintf(err, errlen, "checkpoint: %s", r.error);
		rc = 1;
	} else if (strcmp(cp->origin, want) != 0) {
		snprintf(err, errlen, "checkpoint: origin %s, not %s", cp->origin, want);
		rc = 1;
	}
	note_result_free(&r);
	note_verifier_free(&v);
	return rc;
}

int
prove_check(const char *vkey, const char *origin, const char *proof, size_t len,
    char *err, size_t errlen)
{
	json_error_t je;
	json_t *j = json_loadb(proof, len, 0, &je);
	const char *fmt = NULL, *record = NULL, *note = NULL;
	json_int_t seq = 0, index = -1, size = 0;
	json_t *path = NULL;
	size_t rlen = 0;
	if (j == NULL || json_unpack(j, "{s:s, s:I, s:I, s:s%, s:I, s:o, s:s}", "format",
	    &fmt, "seq", &seq, "leaf_index", &index, "record", &record, &rlen,
	    "tree_size", &size, "inclusion_path", &path, "checkpoint", &note) != 0 ||
	    strcmp(fmt, PROVE_FORMAT) != 0 || !json_is_array(path) ||
	    json_array_size(path) > 64) {
		snprintf(err, errlen, "not a %s proof%s%s", PROVE_FORMAT, j ? "" : ": ",
		    j ? "" : je.text);
		json_decref(j);
		return PGWARD_EXIT_USAGE;
	}
	struct checkpoint cp;
	int rc = prove_open_note(vkey, origin, note, strlen(note), &cp, err, errlen);
	if (rc != 0)
		goto out;
	rc = 1;
	if ((json_int_t)cp.size != size) {
		snprintf(err, errlen, "tree_size %lld is not the signed size %llu",
		    (long long)size, (unsigned long long)cp.size);
		goto out;
	}
	struct auditrec ar;
	char perr[256];
	if (auditrec_parse(record, rlen, &ar, perr, sizeof perr) != 0) {
		snprintf(err, errlen, "record: %s", perr);
		goto out;
	}
	json_decref(ar.json);
	if ((json_int_t)ar.seq != seq || index != seq - 1) {
		snprintf(err, errlen, "record has seq %llu, the proof says %lld (leaf %lld)",
		    (unsigned long long)ar.seq, (long long)seq, (long long)index);
		goto out;
	}
	uint8_t hashes[64][MERKLE_HASH_LEN], leaf[MERKLE_HASH_LEN];
	size_t i;
	json_t *h;
	json_array_foreach(path, i, h) {
		const char *s = json_string_value(h);
		if (s == NULL || b64_decode(s, strlen(s), hashes[i], MERKLE_HASH_LEN) !=
		    MERKLE_HASH_LEN) {
			snprintf(err, errlen, "inclusion_path[%zu] is not a base64 hash", i);
			goto out;
		}
	}
	merkle_leaf_hash(record, rlen, leaf);
	if (!merkle_verify_inclusion(leaf, (uint64_t)index, cp.size,
	    (const uint8_t (*)[MERKLE_HASH_LEN])hashes, (int)json_array_size(path), cp.root)) {
		snprintf(err, errlen, "the inclusion path does not lead from record %lld to "
		    "the signed root: the record or the proof was altered", (long long)seq);
		goto out;
	}
	snprintf(err, errlen, "record %lld is in the log %s signed at size %llu",
	    (long long)seq, cp.origin, (unsigned long long)cp.size);
	rc = 0;
out:
	checkpoint_free(&cp);
	json_decref(j);
	return rc;
}

/* The latest checkpoint in DIR/checkpoints.jsonl of at least size want. */
static char *
prove_find_note(const char *dir, uint64_t want, char *err, size_t errlen)
{
	char path[400];
	snprintf(path, sizeof path, "%.380s/checkpoints.jsonl", dir);
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *line = NULL, *best = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *j = json_loadb(line, (size_t)n, 0, NULL);
		json_int_t size = json_integer_value(json_object_get(j, "size"));
		const char *note = json_string_value(json_object_get(j, "note"));
		if (note != NULL && size >= 0 && (uint64_t)size >= want) {
			free(best);
			best = strdup(note);
		}
		json_decref(j);
	}
	free(line);
	fclose(f);
	if (best == NULL)
		snprintf(err, errlen, "no checkpoint in %s covers seq %llu yet", path,
		    (unsigned long long)want);
	return best;
}

int
prove_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli c;
	cli_init(&c);
	const char *keyfile = NULL, *ckfile = NULL, *origin = NULL;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "d:k:c:o:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd': c.dir = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'c': ckfile = optarg; break;
		case 'o': origin = optarg; break;
		case 'h': fputs(PROVE_USAGE, stdout); return 0;
		default: fputs(PROVE_USAGE, stderr); return PGWARD_EXIT_USAGE;
		}
	}
	char *end;
	if (keyfile == NULL || argc - optind < 1 ||
	    cli_operands(&c, argc, argv, optind + 1) != 0) {
		log_error("prove: -k VERIFIER_KEY_FILE and SEQ are required");
		fputs(PROVE_USAGE, stderr);
		return PGWARD_EXIT_USAGE;
	}
	errno = 0;
	uint64_t seq = strtoull(argv[optind], &end, 10);
	if (errno != 0 || *end != '\0' || seq == 0)
		log_fatal(PGWARD_EXIT_USAGE, "prove: %s: not a seq", argv[optind]);
	char err[512];
	char *vkey = prove_vkey(keyfile, err, sizeof err);
	if (vkey == NULL)
		log_fatal(PGWARD_EXIT_USAGE, "prove: %s", err);
	size_t nlen;
	char *note = ckfile ? prove_slurp(ckfile, &nlen, err, sizeof err) :
	    prove_find_note(c.dir, seq, err, sizeof err);
	if (note == NULL)
		log_fatal(ckfile ? PGWARD_EXIT_USAGE : 1, "prove: %s", err);
	struct checkpoint cp;
	int rc = prove_open_note(vkey, origin, note, strlen(note), &cp, err, sizeof err);
	if (rc != 0)
		log_fatal(rc, "prove: %s", err);
	if (cp.size < seq)
		log_fatal(1, "prove: the checkpoint's tree has %llu records; seq %llu is not "
		    "in it", (unsigned long long)cp.size, (unsigned long long)seq);
	/* Leaf hashes of records 1..size. */
	uint8_t (*leaves)[MERKLE_HASH_LEN] = malloc(cp.size * sizeof *leaves);
	if (leaves == NULL)
		log_fatal(PGWARD_EXIT_TEMP, "prove: out of memory (%llu leaves)",
		    (unsigned long long)cp.size);
	struct scan s;
	if (scan_open(&s, c.dir, err, sizeof err) != 0)
		log_fatal(PGWARD_EXIT_USAGE, "prove: %s", err);
	uint64_t got = 0;
	char *record = NULL;
	const char *p;
	size_t n;
	while (got < cp.size && (rc = scan_next(&s, &p, &n, err, sizeof err)) == 1) {
		const char *e = p + n;
		while (p < e && got < cp.size) {
			const char *nl = memchr(p, '\n', (size_t)(e - p));
			size_t len = (size_t)(nl - p);
			if (rec_seq(p, len) != got + 1)
				log_fatal(1, "prove: record %llu is missing or out of order "
				    "(run verify)", (unsigned long long)got + 1);
			merkle_leaf_hash(p, len, leaves[got]);
			if (got + 1 == seq)
				record = strndup(p, len);
			got++;
			p = nl + 1;
		}
	}
	scan_close(&s);
	if (rc < 0)
		log_fatal(PGWARD_EXIT_TEMP, "prove: %s", err);
	if (got < cp.size || record == NULL)
		log_fatal(1, "prove: the log has %llu records, the checkpoint %llu: "
		    "truncated (run verify)", (unsigned long long)got,
		    (unsigned long long)cp.size);
	uint8_t root[MERKLE_HASH_LEN];
	merkle_root_of((const uint8_t (*)[MERKLE_HASH_LEN])leaves, cp.size, root);
	if (memcmp(root, cp.root, MERKLE_HASH_LEN) != 0)
		log_fatal(1, "prove: the log's first %llu records do not hash to the signed "
		    "root (run verify)", (unsigned long long)cp.size);
	uint8_t path[64][MERKLE_HASH_LEN];
	int np = merkle_inclusion_proof((const uint8_t (*)[MERKLE_HASH_LEN])leaves,
	    cp.size, seq - 1, path);
	free(leaves);
	json_t *arr = json_array();
	for (int i = 0; i < np; i++) {
		char *b = b64_encode(path[i], MERKLE_HASH_LEN);
		json_array_append_new(arr, json_string(b));
		free(b);
	}
	json_t *o = json_pack("{s:s, s:I, s:I, s:s, s:I, s:o, s:s}", "format", PROVE_FORMAT,
	    "seq", (json_int_t)seq, "leaf_index", (json_int_t)(seq - 1), "record", record,
	    "tree_size", (json_int_t)cp.size, "inclusion_path", arr, "checkpoint", note);
	char *out = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (out == NULL || printf("%s\n", out) < 0 || fflush(stdout) != 0)
		log_fatal(PGWARD_EXIT_TEMP, "prove: stdout: write error");
	/* Check what was written, as a verifier will. */
	rc = prove_check(vkey, origin, out, strlen(out), err, sizeof err);
	if (rc != 0)
		log_fatal(PGWARD_EXIT_TEMP, "prove: the proof does not check: %s", err);
	free(out);
	free(record);
	free(note);
	free(vkey);
	checkpoint_free(&cp);
	return 0;
}

int
prove_verify_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keyfile = NULL, *origin = NULL;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "k:o:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'k': keyfile = optarg; break;
		case 'o': origin = optarg; break;
		case 'h': fputs(VPROOF_USAGE, stdout); return 0;
		default: fputs(VPROOF_USAGE, stderr); return PGWARD_EXIT_USAGE;
		}
	}
	if (keyfile == NULL || argc - optind != 1) {
		log_error("verify-proof: -k VERIFIER_KEY_FILE and one proof FILE are required");
		fputs(VPROOF_USAGE, stderr);
		return PGWARD_EXIT_USAGE;
	}
	char err[512];
	char *vkey = prove_vkey(keyfile, err, sizeof err);
	if (vkey == NULL)
		log_fatal(PGWARD_EXIT_USAGE, "verify-proof: %s", err);
	size_t len;
	char *proof = prove_slurp(argv[optind], &len, err, sizeof err);
	if (proof == NULL)
		log_fatal(PGWARD_EXIT_USAGE, "verify-proof: %s", err);
	int rc = prove_check(vkey, origin, proof, len, err, sizeof err);
	free(proof);
	free(vkey);
	if (rc == 0) {
		printf("OK: %s\n", err);
		return 0;
	}
	log_error("verify-proof: %s", err);
	if (rc == 1)
		printf("FAILED: %s\n", err);
	return rc;
}
