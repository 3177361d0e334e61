#include "replay/verify.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auditrec.h"
#include "b64.h"
#include "daemon.h"
#include "log.h"
#include "replay/recfast.h"
#include "signnote.h"

#define VERIFY_USAGE \
	"usage: pgward-replay verify -k VERIFIER_KEY_FILE [-c CHECKPOINT_FILE]\n" \
	"                            [-o ORIGIN] [--json] DIR\n"

/* The largest file read whole: a checkpoint note or a verifier key. */
#define VERIFY_SMALL_FILE (64u << 10)

enum ck_kind { CK_LINE, CK_LATEST, CK_SAVED };

/* A checkpoint whose signature and origin are good, waiting for the tree
 * to reach its size. */
struct pending {
	int set;
	enum ck_kind kind;
	uint64_t size;
	uint8_t root[MERKLE_HASH_LEN];
	char label[VERIFY_MSG / 2];
};

struct verify_state {
	const struct verify_opts *o;
	struct verify_report *rep;
	struct note_verifier v;
	const char *origin;
	struct merkle_tree tree;
	EVP_MD_CTX *md;			/* reused: one per hash costs 20% */
	uint8_t last_hash[32];
	int tree_broken;		/* a line could not be read into the tree */
	int saved_differs;		/* the saved checkpoint's root is not the log's */
	uint64_t good_max;		/* largest size whose signed root matched */
	FILE *ckf;			/* checkpoints.jsonl */
	uint64_t ck_lineno;
	uint64_t ck_prev_size;
	char *ck_buf;
	size_t ck_cap;
	struct pending stream;		/* next from checkpoints.jsonl */
	struct pending extra[2];	/* DIR/checkpoint and -c */
};

static void verify_problem(struct verify_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void verify_warning(struct verify_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
verify_vadd(char (*list)[VERIFY_MSG], uint64_t *n, const char *fmt, va_list ap)
{
	if (*n < VERIFY_MAX_PROBLEMS)
		vsnprintf(list[*n], VERIFY_MSG, fmt, ap);
	(*n)++;
}

static void
verify_problem(struct verify_report *rep, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verify_vadd(rep->problems, &rep->nproblems, fmt, ap);
	va_end(ap);
}

/* The conclusions go before the details they sum up, which may be many. */
static void
verify_problem_first(struct verify_report *rep, const char *msg)
{
	uint64_t n = rep->nproblems < VERIFY_MAX_PROBLEMS ? rep->nproblems :
	    VERIFY_MAX_PROBLEMS - 1;
	memmove(rep->problems[1], rep->problems[0], n * sizeof rep->problems[0]);
	snprintf(rep->problems[0], VERIFY_MSG, "%s", msg);
	rep->nproblems++;
}

static void
verify_warning(struct verify_report *rep, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verify_vadd(rep->warnings, &rep->nwarnings, fmt, ap);
	va_end(ap);
}

static void
verify_root_b64(const uint8_t root[MERKLE_HASH_LEN], char out[48])
{
	char *s = b64_encode(root, MERKLE_HASH_LEN);
	snprintf(out, 48, "%s", s != NULL ? s : "?");
	free(s);
}

/* Reads a small file whole, NUL-terminated. NULL with a reason in err. */
static char *
verify_slurp(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(VERIFY_SMALL_FILE + 1);
	size_t n = buf != NULL ? fread(buf, 1, VERIFY_SMALL_FILE + 1, f) : 0;
	int bad = buf == NULL || ferror(f);
	fclose(f);
	if (bad || n > VERIFY_SMALL_FILE) {
		snprintf(err, errlen, "%s: %s", path, buf == NULL ? "out of memory" :
		    n > VERIFY_SMALL_FILE ? "too large" : "read error");
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void
verify_bad_set(struct verify_bad *b, uint64_t seq, uint64_t seq_max,
    const struct logread_line *l, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
verify_bad_set(struct verify_bad *b, uint64_t seq, uint64_t seq_max,
    const struct logread_line *l, const char *fmt, ...)
{
	if (b->set)
		return;
	b->set = 1;
	b->seq = seq;
	b->seq_max = seq_max;
	if (l != NULL) {
		snprintf(b->file, sizeof b->file, "%s", l->file);
		b->line = l->lineno;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->reason, sizeof b->reason, fmt, ap);
	va_end(ap);
}

/* A checkpoint that matches or contradicts the log: everything up to its
 * size is proven, or something up to its size was changed. */
static void
verify_compare(struct verify_state *st, struct pending *p)
{
	struct verify_report *rep = st->rep;
	uint8_t root[MERKLE_HASH_LEN];
	merkle_root(&st->tree, root);
	if (!st->tree_broken && memcmp(root, p->root, MERKLE_HASH_LEN) == 0) {
		if (p->kind == CK_SAVED)
			rep->saved_ok = 1;
		if (!rep->covered_set || p->size >= rep->covered) {
			rep->covered_set = 1;
			rep->covered = p->size;
			memcpy(rep->covered_root, p->root, MERKLE_HASH_LEN);
		}
		if (p->size > st->good_max)
			st->good_max = p->size;
		return;
	}
	char want[48], have[48];
	verify_root_b64(p->root, want);
	verify_root_b64(root, have);
	if (p->kind == CK_SAVED) {
		snprintf(rep->saved_error, sizeof rep->saved_error, "log does not "
		    "extend the saved checkpoint at size %llu: rewritten or rolled "
		    "back (signed root %s, the log's %s)",
		    (unsigned long long)p->size, want, have);
		verify_problem(rep, "%s", rep->saved_error);
		st->saved_differs = 1;
	} else {
		verify_problem(rep, "%s: signed root at size %llu is %s but the log's "
		    "first %llu records hash to %s: records were changed, removed, "
		    "inserted or re-chained", p->label, (unsigned long long)p->size,
		    want, (unsigned long long)p->size, have);
		if (p->kind == CK_LINE)
			rep->ck_invalid++;
	}
	if (p->kind == CK_LINE && rep->ck_valid > 0)
		rep->ck_valid--;
	verify_bad_set(&rep->ck_bad, st->good_max + 1, p->size, NULL,
	    "the log's first %llu records do not match the %s",
	    (unsigned long long)p->size, p->label);
}

/* Parses and checks the signature and origin of one note. 0 and *p set,
 * or -1 with the reason in err. */
static int
verify_note(struct verify_state *st, const char *note, size_t len,
    struct pending *p, char *err, size_t errlen)
{
	struct checkpoint c;
	struct note_result r = note_verify_checkpoint(&st->v, note, len, &c);
	if (r.error != NULL) {
		snprintf(err, errlen, "%s", r.error);
		note_result_free(&r);
		return -1;
	}
	int ok = strcmp(c.origin, st->origin) == 0;
	if (!ok)
		snprintf(err, errlen, "origin \"%s\", not \"%s\"", c.origin, st->origin);
	p->size = c.size;
	memcpy(p->root, c.root, MERKLE_HASH_LEN);
	checkpoint_free(&c);
	return ok ? 0 : -1;
}

/* The next well-signed checkpoint from checkpoints.jsonl into st->stream;
 * lines that fail are reported and skipped. */
static void
verify_next_line(struct verify_state *st)
{
	struct verify_report *rep = st->rep;
	st->stream.set = 0;
	while (st->ckf != NULL) {
		ssize_t n = getline(&st->ck_buf, &st->ck_cap, st->ckf);
		if (n < 0) {
			if (ferror(st->ckf))
				verify_problem(rep, "checkpoints.jsonl: read error");
			fclose(st->ckf);
			st->ckf = NULL;
			return;
		}
		st->ck_lineno++;
		if (st->ck_buf[n - 1] != '\n') {
			/* logd writes a line with one write and cuts a torn one at
			 * start; a reader may see the write half done. */
			verify_warning(rep, "checkpoints.jsonl line %llu: no newline at "
			    "the end (unfinished write): ignored",
			    (unsigned long long)st->ck_lineno);
			continue;
		}
		rep->ck_total++;
		struct pending *p = &st->stream;
		snprintf(p->label, sizeof p->label, "checkpoints.jsonl line %llu",
		    (unsigned long long)st->ck_lineno);
		p->kind = CK_LINE;
		char why[VERIFY_MSG / 2] = "";
		json_error_t je;
		json_t *j = json_loadb(st->ck_buf, (size_t)n - 1, JSON_REJECT_DUPLICATES,
		    &je);
		json_t *size = json_object_get(j, "size");
		const char *root = json_string_value(json_object_get(j, "root"));
		json_t *note = json_object_get(j, "note");
		if (!json_is_object(j) || !json_is_integer(size) ||
		    json_integer_value(size) < 0 || root == NULL || !json_is_string(note)) {
			snprintf(why, sizeof why, "not a checkpoint line "
			    "{\"size\":N,\"root\":\"...\",\"note\":\"...\"}");
		} else if (verify_note(st, json_string_value(note),
		    json_string_length(note), p, why, sizeof why) == 0) {
			char b64[48];
			verify_root_b64(p->root, b64);
			if ((uint64_t)json_integer_value(size) != p->size ||
			    strcmp(root, b64) != 0)
				snprintf(why, sizeof why, "size or root outside the note "
				    "differs from the signed note");
			else if (p->size < st->ck_prev_size)
				snprintf(why, sizeof why, "size %llu after size %llu: "
				    "checkpoints out of order", (unsigned long long)p->size,
				    (unsigned long long)st->ck_prev_size);
		}
		json_decref(j);
		if (why[0] != '\0') {
			rep->ck_invalid++;
			verify_problem(rep, "%s: %s", p->label, why);
			continue;
		}
		st->ck_prev_size = p->size;
		rep->ck_valid++;
		p->set = 1;
		return;
	}
}

/* Compares the checkpoints due at the tree's current size. */
static void
verify_due(struct verify_state *st)
{
	uint64_t n = st->tree.size;
	while (st->stream.set && st->stream.size <= n) {
		if (st->stream.size == n)
			verify_compare(st, &st->stream);
		verify_next_line(st);
	}
	for (int i = 0; i < 2; i++) {
		if (st->extra[i].set && st->extra[i].size == n) {
			verify_compare(st, &st->extra[i]);
			st->extra[i].set = 0;
		}
	}
}

/* Checkpoints larger than the log: the records they cover are gone. */
static void
verify_beyond(struct verify_state *st, struct pending *p)
{
	struct verify_report *rep = st->rep;
	uint64_t n = st->tree.size;
	if (p->kind == CK_SAVED) {
		snprintf(rep->saved_error, sizeof rep->saved_error, "log is shorter "
		    "than the saved checkpoint: truncated or rolled back (checkpoint "
		    "size %llu, log %llu records)", (unsigned long long)p->size,
		    (unsigned long long)n);
		verify_problem(rep, "%s", rep->saved_error);
	} else {
		verify_problem(rep, "%s: signed checkpoint of size %llu but the log "
		    "has %llu records: truncated or rolled back", p->label,
		    (unsigned long long)p->size, (unsigned long long)n);
		if (p->kind == CK_LINE) {
			rep->ck_invalid++;
			rep->ck_valid--;
		}
	}
	verify_bad_set(&rep->ck_bad, st->good_max + 1, n + 1, NULL,
	    "records %llu to %llu are missing (the %s has size %llu)",
	    (unsigned long long)(n + 1), (unsigned long long)p->size, p->label,
	    (unsigned long long)p->size);
}

static void
verify_record(struct verify_state *st, const struct logread_line *l)
{
	struct verify_report *rep = st->rep;
	uint64_t seq = st->tree.size + 1;
	if (l->lineno == 1 && l->seg_first != seq)
		verify_bad_set(&rep->rec_bad, seq, seq, l, "segment %s should start "
		    "with record %llu", l->file, (unsigned long long)seq);
	if (l->too_long) {
		verify_bad_set(&rep->rec_bad, seq, seq, l, "line longer than %u bytes",
		    LOGREAD_MAX_LINE);
		st->tree_broken = 1;
		st->tree.size++;
		return;
	}
	if (!rep->rec_bad.set) {
		char why[VERIFY_MSG / 2];
		struct auditrec r = { 0 };
		if (l->no_newline) {
			verify_bad_set(&rep->rec_bad, seq, seq, l, "no newline at the "
			    "end of a segment that is not the last");
		} else if (!recfast_check(l->data, l->len, st->md, &r.seq, r.prev,
		    r.hash) && auditrec_parse(l->data, l->len, &r, why,
		    sizeof why) != 0) {
			verify_bad_set(&rep->rec_bad, seq, seq, l, "%s", why);
		} else {
			json_decref(r.json);
			if (r.seq != seq)
				verify_bad_set(&rep->rec_bad, seq, seq, l, "seq %llu where "
				    "%llu was expected", (unsigned long long)r.seq,
				    (unsigned long long)seq);
			else if (memcmp(r.prev, st->last_hash, 32) != 0)
				verify_bad_set(&rep->rec_bad, seq, seq, l, seq == 1 ?
				    "prev of the first record is not 64 zeros" :
				    "prev does not match the hash of record %llu",
				    (unsigned long long)(seq - 1));
			memcpy(st->last_hash, r.hash, 32);
		}
	}
	uint8_t leaf[MERKLE_HASH_LEN];
	unsigned int n = 0;
	static const uint8_t zero = 0;
	if (EVP_DigestInit_ex(st->md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(st->md, &zero, 1) != 1 ||
	    EVP_DigestUpdate(st->md, l->data, l->len) != 1 ||
	    EVP_DigestFinal_ex(st->md, leaf, &n) != 1 || n != MERKLE_HASH_LEN)
		log_fatal(PGWARD_EXIT_TEMP, "SHA-256 failed");
	merkle_append_leaf_hash(&st->tree, leaf);
}

static int
verify_records(struct verify_state *st, char *err, size_t errlen)
{
	struct verify_report *rep = st->rep;
	struct logread r;
	if (logread_open(&r, st->o->dir, err, errlen) != 0)
		return PGWARD_EXIT_TEMP;
	rep->segments = r.nsegs;
	struct logread_line l;
	int rc;
	verify_due(st);
	while ((rc = logread_next(&r, &l, err, errlen)) > 0) {
		if (rc == LOGREAD_EMPTY_SEGMENT) {
			uint64_t seq = st->tree.size + 1;
			if (l.seg_first != seq)
				verify_bad_set(&rep->rec_bad, seq, seq, &l, "segment %s "
				    "is empty and should start with record %llu", l.file,
				    (unsigned long long)seq);
			continue;
		}
		if (l.no_newline && r.seg + 1 == r.nsegs) {
			rep->torn_bytes = l.len;
			verify_warning(rep, "%s line %llu: %zu bytes without a newline "
			    "at the end of the log (an unfinished write, not a record; "
			    "pgward-logd cuts it when it starts): ignored", l.file,
			    (unsigned long long)l.lineno, l.len);
			continue;
		}
		verify_record(st, &l);
		verify_due(st);
	}
	rep->records = st->tree.size;
	rep->bytes = r.bytes - rep->torn_bytes;
	logread_close(&r);
	return rc < 0 ? PGWARD_EXIT_TEMP : 0;
}

static int
verify_setup(struct verify_state *st, char *err, size_t errlen)
{
	struct note_result r = note_verifier_parse(&st->v, st->o->vkey);
	if (r.error != NULL) {
		snprintf(err, errlen, "%s", r.error);
		note_result_free(&r);
		return PGWARD_EXIT_USAGE;
	}
	st->origin = st->o->origin != NULL ? st->o->origin : st->v.name;
	struct stat sb = { 0 };
	errno = 0;
	if (stat(st->o->dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: %s", st->o->dir,
		    S_ISDIR(sb.st_mode) || errno == 0 ? "not a directory" :
		    strerror(errno));
		return PGWARD_EXIT_USAGE;
	}
	size_t dl = strlen(st->o->dir);
	char *path = malloc(dl + sizeof "/checkpoints.jsonl");
	if (path == NULL) {
		snprintf(err, errlen, "out of memory");
		return PGWARD_EXIT_TEMP;
	}
	sprintf(path, "%s/checkpoints.jsonl", st->o->dir);
	st->ckf = fopen(path, "rb");
	if (st->ckf == NULL && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(path);
		return PGWARD_EXIT_TEMP;
	}
	if (st->ckf == NULL)
		verify_warning(st->rep, "%s: missing", path);

	sprintf(path, "%s/checkpoint", st->o->dir);
	const char *files[2] = { path, st->o->saved };
	for (int i = 0; i < 2; i++) {
		if (files[i] == NULL)
			continue;
		struct pending *p = &st->extra[i];
		p->kind = i == 0 ? CK_LATEST : CK_SAVED;
		snprintf(p->label, sizeof p->label, i == 0 ? "latest checkpoint file "
		    "(checkpoint)" : "saved checkpoint %s", files[i]);
		size_t len;
		char why[VERIFY_MSG / 2];
		char *note = verify_slurp(files[i], &len, why, sizeof why);
		if (note == NULL && i == 0) {
			verify_warning(st->rep, "%s", why);
			continue;
		}
		if (note == NULL) {
			snprintf(err, errlen, "%s", why);
			free(path);
			return PGWARD_EXIT_USAGE;
		}
		int rc = verify_note(st, note, len, p, why, sizeof why);
		free(note);
		if (rc != 0) {
			verify_problem(st->rep, "%s: %s", p->label, why);
			if (i == 1)
				snprintf(st->rep->saved_error, sizeof st->rep->saved_error,
				    "%s", why);
			continue;
		}
		if (i == 1)
			st->rep->saved_size = p->size;
		p->set = 1;
	}
	free(path);
	verify_next_line(st);
	return 0;
}

static void
verify_conclude(struct verify_state *st)
{
	struct verify_report *rep = st->rep;
	if (st->stream.set)
		verify_beyond(st, &st->stream);
	while (st->ckf != NULL) {
		verify_next_line(st);
		if (st->stream.set)
			verify_beyond(st, &st->stream);
	}
	for (int i = 0; i < 2; i++)
		if (st->extra[i].set)
			verify_beyond(st, &st->extra[i]);
	merkle_root(&st->tree, rep->root);
	if (st->saved_differs && st->good_max >= rep->saved_size) {
		/* Our key signed this log at the saved size or beyond, and a
		 * different log there too: logd was run on a cut or rewritten
		 * directory. Its checkpoints then prove nothing about where the
		 * two histories part. */
		struct verify_bad *b = &rep->ck_bad;
		if (b->seq_max == rep->saved_size && b->file[0] == '\0') {
			b->seq = 1;
			snprintf(b->reason, sizeof b->reason, "the signing key signed "
			    "both this log and a different one of size %llu (a fork: "
			    "pgward-logd went on writing a cut, rolled back or rewritten "
			    "log); the two part somewhere in records 1..%llu",
			    (unsigned long long)rep->saved_size,
			    (unsigned long long)rep->saved_size);
			verify_problem_first(rep, b->reason);
		}
	}

	if (rep->records == 0)
		verify_problem_first(rep, "the log has no records: nothing is proven");
	else if (!rep->covered_set || rep->covered == 0)
		verify_problem_first(rep, "no valid signed checkpoint: nothing is proven");
	if (rep->rec_bad.set) {
		char msg[VERIFY_MSG];
		snprintf(msg, sizeof msg, "first bad record: seq %llu (%s line %llu): "
		    "%.300s", (unsigned long long)rep->rec_bad.seq, rep->rec_bad.file,
		    (unsigned long long)rep->rec_bad.line, rep->rec_bad.reason);
		verify_problem_first(rep, msg);
	}
	if (rep->rec_bad.set &&
	    (!rep->ck_bad.set || rep->rec_bad.seq <= rep->ck_bad.seq_max))
		rep->first_bad = rep->rec_bad;
	else if (rep->ck_bad.set)
		rep->first_bad = rep->ck_bad;
	rep->ok = rep->nproblems == 0;
}

int
verify_run(const struct verify_opts *o, struct verify_report *rep, char *err,
    size_t errlen)
{
	memset(rep, 0, sizeof *rep);
	struct verify_state st;
	memset(&st, 0, sizeof st);
	st.o = o;
	st.rep = rep;
	merkle_init(&st.tree);
	st.md = EVP_MD_CTX_new();
	if (st.md == NULL) {
		snprintf(err, errlen, "out of memory");
		return PGWARD_EXIT_TEMP;
	}
	rep->saved = o->saved != NULL;
	int rc = verify_setup(&st, err, errlen);
	if (rc == 0)
		rc = verify_records(&st, err, errlen);
	if (rc == 0)
		verify_conclude(&st);
	if (st.ckf != NULL)
		fclose(st.ckf);
	free(st.ck_buf);
	note_verifier_free(&st.v);
	EVP_MD_CTX_free(st.md);
	if (rc != 0)
		return rc;
	return rep->ok ? 0 : 1;
}

static void
verify_print_bad(const struct verify_opts *o, const struct verify_bad *b, FILE *f)
{
	if (b->seq == b->seq_max && b->file[0] != '\0')
		fprintf(f, "first bad record: seq %llu (%s/%s line %llu): %s\n",
		    (unsigned long long)b->seq, o->dir, b->file,
		    (unsigned long long)b->line, b->reason);
	else if (b->seq == b->seq_max)
		fprintf(f, "first bad record: seq %llu: %s\n",
		    (unsigned long long)b->seq, b->reason);
	else
		fprintf(f, "first bad record: seq %llu (somewhere in seq %llu..%llu; "
		    "signed checkpoints prove the records before %llu): %s\n",
		    (unsigned long long)b->seq, (unsigned long long)b->seq,
		    (unsigned long long)b->seq_max, (unsigned long long)b->seq,
		    b->reason);
}

void
verify_print_text(const struct verify_opts *o, const struct verify_report *rep,
    FILE *f)
{
	fprintf(f, "log: %s\n", o->dir);
	fprintf(f, "records checked: %llu (%llu bytes in %llu segments)\n",
	    (unsigned long long)rep->records, (unsigned long long)rep->bytes,
	    (unsigned long long)rep->segments);
	fprintf(f, "checkpoints: %llu in checkpoints.jsonl, %llu valid, %llu "
	    "invalid\n", (unsigned long long)rep->ck_total,
	    (unsigned long long)rep->ck_valid, (unsigned long long)rep->ck_invalid);
	if (rep->covered_set && rep->covered > 0) {
		char b64[48];
		verify_root_b64(rep->covered_root, b64);
		fprintf(f, "covered: %llu of %llu records by the latest valid signed "
		    "checkpoint (size %llu, root %s)\n",
		    (unsigned long long)rep->covered, (unsigned long long)rep->records,
		    (unsigned long long)rep->covered, b64);
		if (rep->covered < rep->records)
			fprintf(f, "not yet covered: records %llu..%llu (%llu) are not "
			    "covered by any signed checkpoint yet: their chain is intact "
			    "but nothing signed proves them\n",
			    (unsigned long long)rep->covered + 1,
			    (unsigned long long)rep->records,
			    (unsigned long long)(rep->records - rep->covered));
	} else {
		fprintf(f, "covered: 0 of %llu records\n",
		    (unsigned long long)rep->records);
	}
	if (rep->saved)
		fprintf(f, "saved checkpoint: %s%s%s\n", o->saved, rep->saved_ok ?
		    ": the log extends it" : ": ", rep->saved_ok ? "" : rep->saved_error);
	if (rep->first_bad.set)
		verify_print_bad(o, &rep->first_bad, f);
	uint64_t n = rep->nproblems < VERIFY_MAX_PROBLEMS ? rep->nproblems :
	    VERIFY_MAX_PROBLEMS;
	for (uint64_t i = 0; i < n; i++)
		fprintf(f, "problem: %s\n", rep->problems[i]);
	if (rep->nproblems > n)
		fprintf(f, "problem: ... and %llu more\n",
		    (unsigned long long)(rep->nproblems - n));
	n = rep->nwarnings < VERIFY_MAX_PROBLEMS ? rep->nwarnings : VERIFY_MAX_PROBLEMS;
	for (uint64_t i = 0; i < n; i++)
		fprintf(f, "warning: %s\n", rep->warnings[i]);
	if (rep->ok)
		fprintf(f, "result: OK: %llu records verified, %llu proven by a signed "
		    "checkpoint\n", (unsigned long long)rep->records,
		    (unsigned long long)rep->covered);
	else
		fprintf(f, "result: FAILED (%llu problems)\n",
		    (unsigned long long)rep->nproblems);
}

static json_t *
verify_json_list(const char (*list)[VERIFY_MSG], uint64_t n)
{
	json_t *a = json_array();
	for (uint64_t i = 0; i < n && i < VERIFY_MAX_PROBLEMS; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

int
verify_print_json(const struct verify_opts *o, const struct verify_report *rep,
    FILE *f)
{
	char root[48], croot[48];
	verify_root_b64(rep->root, root);
	verify_root_b64(rep->covered_root, croot);
	int covered = rep->covered_set && rep->covered > 0;
	json_t *j = json_object();
	json_object_set_new(j, "ok", json_boolean(rep->ok));
	json_object_set_new(j, "dir", json_string(o->dir));
	json_object_set_new(j, "records", json_integer((json_int_t)rep->records));
	json_object_set_new(j, "bytes", json_integer((json_int_t)rep->bytes));
	json_object_set_new(j, "segments", json_integer((json_int_t)rep->segments));
	json_object_set_new(j, "root", json_string(root));
	json_object_set_new(j, "checkpoints", json_pack("{s:I,s:I,s:I}",
	    "total", (json_int_t)rep->ck_total, "valid", (json_int_t)rep->ck_valid,
	    "invalid", (json_int_t)rep->ck_invalid));
	json_object_set_new(j, "covered", json_integer(covered ?
	    (json_int_t)rep->covered : 0));
	json_object_set_new(j, "covered_root", covered ? json_string(croot) :
	    json_null());
	json_object_set_new(j, "not_yet_covered", json_integer((json_int_t)
	    (rep->records - (covered ? rep->covered : 0))));
	if (rep->saved) {
		json_object_set_new(j, "saved_checkpoint", json_pack("{s:s,s:I,s:b,s:o}",
		    "file", o->saved, "size", (json_int_t)rep->saved_size,
		    "ok", rep->saved_ok, "error", rep->saved_ok ? json_null() :
		    json_string(rep->saved_error)));
	} else {
		json_object_set_new(j, "saved_checkpoint", json_null());
	}
	if (rep->first_bad.set) {
		const struct verify_bad *b = &rep->first_bad;
		json_t *fb = json_pack("{s:I,s:I,s:s}", "seq", (json_int_t)b->seq,
		    "seq_max", (json_int_t)b->seq_max, "reason", b->reason);
		if (b->file[0] != '\0') {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", o->dir, b->file);
			json_object_set_new(fb, "file", json_string(path));
			json_object_set_new(fb, "line", json_integer((json_int_t)b->line));
		}
		json_object_set_new(j, "first_bad", fb);
	} else {
		json_object_set_new(j, "first_bad", json_null());
	}
	json_object_set_new(j, "torn_tail_bytes", json_integer((json_int_t)rep->torn_bytes));
	json_object_set_new(j, "problems", verify_json_list(rep->problems, rep->nproblems));
	json_object_set_new(j, "problems_total", json_integer((json_int_t)rep->nproblems));
	json_object_set_new(j, "warnings", verify_json_list(rep->warnings, rep->nwarnings));
	int rc = json_dumpf(j, f, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (rc != 0 || fputc('\n', f) == EOF)
		return -1;
	return 0;
}

/* The first line of the key file, without surrounding white space. */
static char *
verify_read_vkey(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *s = verify_slurp(path, &len, err, errlen);
	if (s == NULL)
		return NULL;
	char *p = s + strspn(s, " \t\r\n");
	size_t n = strcspn(p, "\r\n");
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	memmove(s, p, n);
	s[n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, "%s: no verifier key in the file", path);
		free(s);
		return NULL;
	}
	return s;
}

int
verify_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct verify_opts o = { 0 };
	const char *keyfile = NULL;
	int json = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+k:c:o:jhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': keyfile = optarg; break;
		case 'c': o.saved = optarg; break;
		case 'o': o.origin = optarg; break;
		case 'j': json = 1; break;
		case 'h': fputs(VERIFY_USAGE, stdout); return 0;
		case 'V': printf("pgward-replay %s\n", PGWARD_VERSION); return 0;
		default: fputs(VERIFY_USAGE, stderr); return PGWARD_EXIT_USAGE;
		}
	}
	if (keyfile == NULL || argc - optind != 1) {
		log_error(keyfile == NULL ? "verify: -k VERIFIER_KEY_FILE is required" :
		    "verify: exactly one log directory is required");
		fputs(VERIFY_USAGE, stderr);
		return PGWARD_EXIT_USAGE;
	}
	o.dir = argv[optind];
	char err[VERIFY_MSG];
	char *vkey = verify_read_vkey(keyfile, err, sizeof err);
	if (vkey == NULL)
		log_fatal(PGWARD_EXIT_USAGE, "%s", err);
	o.vkey = vkey;
	struct verify_report *rep = malloc(sizeof *rep);
	if (rep == NULL)
		log_fatal(PGWARD_EXIT_TEMP, "out of memory");
	int rc = verify_run(&o, rep, err, sizeof err);
	if (rc == PGWARD_EXIT_USAGE || rc == PGWARD_EXIT_TEMP) {
		free(vkey);
		free(rep);
		log_fatal(rc, "%s", err);
	}
	int wrc = json ? verify_print_json(&o, rep, stdout) :
	    (verify_print_text(&o, rep, stdout), 0);
	if (fflush(stdout) != 0 || wrc != 0) {
		free(vkey);
		free(rep);
		log_fatal(PGWARD_EXIT_TEMP, "stdout: write error");
	}
	if (rc != 0)
		log_error("verification failed: %s", rep->nproblems > 0 ?
		    rep->problems[0] : "see above");
	free(vkey);
	free(rep);
	return rc;
}
