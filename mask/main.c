/* pgward-mask: masks JSON lines or CSV/TSV from stdin to stdout with the
 * engine the relay uses (docs/pgward-mask.md). */

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "daemon.h"
#include "filter/rules.h"
#include "log.h"
#include "mask/mask.h"
#include "mask/provision.h"

#define USAGE \
	"usage: pgward-mask --rules FILE [--key KEYFILE] [--format jsonl|csv|tsv]\n" \
	"                   [--fields a,b.c,...] [-v]\n" \
	"       pgward-mask sql -p POLICY [--role ROLE]... [--key KEYFILE]\n" \
	"       pgward-mask check -p POLICY [--role ROLE]... -d CONNINFO\n" \
	"       pgward-mask -h | -V\n" \
	"Masks stdin to stdout. FILE: mask rules JSON, or a pgward policy (its\n" \
	"mask lines, no exemptions). Short forms: -r FILE -k KEYFILE -f FORMAT\n" \
	"-F FIELDS. Malformed input lines are dropped with a message and the\n" \
	"exit status is 1.\n" \
	"sql prints the SQL that provisions database-enforced masking (views,\n" \
	"masked roles); check verifies a database against the policy (exit 1\n" \
	"and one line per problem). Short forms: -R ROLE -k KEYFILE.\n"

enum format { FMT_JSONL, FMT_CSV, FMT_TSV };

struct ctx {
	struct mask_engine *e;
	int text_detect;
	char **fields;
	size_t nfields;
	struct mask_buf buf;
	unsigned long long lineno;
	int bad;
};

static json_t *rules_from_file(const char *path);
static int split_fields(struct ctx *c, const char *list);
static int run_jsonl(struct ctx *c);
static int run_delimited(struct ctx *c, char delim);
static int json_mask_tree(struct ctx *c, json_t *v, const struct mask_action *a);
static int json_mask_path(struct ctx *c, json_t *v, const char *path,
    const struct mask_action *a);
static int json_detect(struct ctx *c, json_t *v);
static void bad_line(struct ctx *c, unsigned long long line, const char *why);
static int provision_main(int argc, char **argv);

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rules", required_argument, NULL, 'r' },
		{ "key", required_argument, NULL, 'k' },
		{ "format", required_argument, NULL, 'f' },
		{ "fields", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	log_init("pgward-mask");
	if (argc > 1 && (strcmp(argv[1], "sql") == 0 || strcmp(argv[1], "check") == 0))
		return provision_main(argc - 1, argv + 1);
	const char *rules_path = NULL, *key_path = NULL, *fields = NULL;
	enum format fmt = FMT_JSONL;
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, ":r:k:f:F:vVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			rules_path = optarg;
			break;
		case 'k':
			key_path = optarg;
			break;
		case 'F':
			fields = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "jsonl") == 0 || strcmp(optarg, "json") == 0)
				fmt = FMT_JSONL;
			else if (strcmp(optarg, "csv") == 0)
				fmt = FMT_CSV;
			else if (strcmp(optarg, "tsv") == 0)
				fmt = FMT_TSV;
			else {
				log_error("--format: \"%s\" is not jsonl, csv or tsv", optarg);
				fputs(USAGE, stderr);
				return PGWARD_EXIT_USAGE;
			}
			break;
		case 'v':
			log_set_debug(1);
			break;
		case 'V':
			printf("pgward-mask %s\n", PGWARD_VERSION);
			return 0;
		case 'h':
			fputs(USAGE, stdout);
			return 0;
		case ':':
			log_error("option %s needs a value", argv[optind - 1]);
			fputs(USAGE, stderr);
			return PGWARD_EXIT_USAGE;
		default:
			log_error("unknown option %s", argv[optind - 1]);
			fputs(USAGE, stderr);
			return PGWARD_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		log_error("unexpected operand %s", argv[optind]);
		fputs(USAGE, stderr);
		return PGWARD_EXIT_USAGE;
	}
	if (rules_path == NULL) {
		log_error("--rules is required");
		fputs(USAGE, stderr);
		return PGWARD_EXIT_USAGE;
	}
	if (fields != NULL && fmt != FMT_JSONL) {
		log_error("--fields is for --format jsonl (CSV/TSV columns are masked by name)");
		return PGWARD_EXIT_USAGE;
	}
	json_t *rules = rules_from_file(rules_path);
	if (rules == NULL)
		return PGWARD_EXIT_USAGE;
	struct mask_key_result key = { NULL, 0, NULL };
	if (key_path != NULL) {
		key = mask_key_read(key_path);
		if (key.error != NULL) {
			json_decref(rules);
			log_fatal(PGWARD_EXIT_USAGE, "--key: %s", key.error);
		}
	}
	struct mask_result mr = mask_engine_new(rules, key.key, key.len);
	json_decref(rules);
	mask_key_result_free(key);
	if (mr.error != NULL) {
		log_error("%s: %s", rules_path, mr.error);
		free(mr.error);
		return PGWARD_EXIT_USAGE;
	}
	struct ctx c;
	memset(&c, 0, sizeof c);
	c.e = mr.engine;
	c.text_detect = mask_engine_text_detectors(c.e);
	if (fields != NULL && split_fields(&c, fields) != 0) {
		mask_engine_free(c.e);
		return PGWARD_EXIT_USAGE;
	}
	int rc = fmt == FMT_JSONL ? run_jsonl(&c) :
	    run_delimited(&c, fmt == FMT_CSV ? ',' : '\t');
	if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
		log_error("write error: %s", strerror(errno));
		rc = PGWARD_EXIT_TEMP;
	}
	log_debug("%llu lines, %llu values masked", c.lineno,
	    (unsigned long long)mask_values_masked(c.e));
	for (size_t i = 0; i < c.nfields; i++)
		free(c.fields[i]);
	free(c.fields);
	mask_buf_free(&c.buf);
	mask_engine_free(c.e);
	if (rc != 0)
		return rc;
	return c.bad ? 1 : 0;
}

/* Mask rules JSON (a file starting with '{'), else a policy. */
static json_t *
rules_from_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		log_error("%s: %s", path, strerror(errno));
		return NULL;
	}
	int ch;
	while ((ch = getc(f)) == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
		;
	fclose(f);
	if (ch == '{') {
		json_error_t je;
		json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
		if (j == NULL)
			log_error("%s:%d: %s", path, je.line, je.text);
		return j;
	}
	struct rules_result r = rules_load(path, 300);
	if (r.error != NULL) {
		log_error("%s", r.error);
		rules_result_free(r);
		return NULL;
	}
	json_t *j = NULL;
	if (rules_mask_json(r.policy, NULL, &j) != 0)
		log_error("%s: out of memory", path);
	else if (j == NULL)
		log_error("%s: the policy has no mask lines", path);
	rules_result_free(r);
	return j;
}

static int
split_fields(struct ctx *c, const char *list)
{
	const char *s = list;
	for (;;) {
		size_t n = strcspn(s, ",");
		if (n == 0) {
			log_error("--fields: empty field name in \"%s\"", list);
			return -1;
		}
		char **nv = realloc(c->fields, (c->nfields + 1) * sizeof *nv);
		if (nv == NULL || (nv[c->nfields] = strndup(s, n)) == NULL) {
			if (nv != NULL)
				c->fields = nv;
			log_error("out of memory");
			return -1;
		}
		c->fields = nv;
		c->nfields++;
		if (s[n] == '\0')
			return 0;
		s += n + 1;
	}
}

static void
bad_line(struct ctx *c, unsigned long long line, const char *why)
{
	log_error("line %llu: %s; line dropped", line, why);
	c->bad = 1;
}

/* ---- JSON lines ---- */

static int
run_jsonl(struct ctx *c)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;
	/* The action of each named field (its last component as the column
	 * name, the whole path as the label); no rule: redact. */
	struct mask_action *acts = calloc(c->nfields ? c->nfields : 1, sizeof *acts);
	if (acts == NULL) {
		log_error("out of memory");
		return PGWARD_EXIT_TEMP;
	}
	for (size_t i = 0; i < c->nfields; i++) {
		const char *dot = strrchr(c->fields[i], '.');
		acts[i] = mask_column_action(c->e, NULL, dot ? dot + 1 : c->fields[i],
		    c->fields[i], 1);
		if (acts[i].style == MASK_NONE && !acts[i].detect)
			acts[i].style = MASK_REDACT;
	}
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		c->lineno++;
		size_t len = (size_t)n;
		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		size_t k = 0;
		while (k < len && (line[k] == ' ' || line[k] == '\t'))
			k++;
		if (k == len)
			continue;
		json_error_t je;
		json_t *v = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
		if (v == NULL) {
			char why[256];
			snprintf(why, sizeof why, "not JSON (column %d: %s)", je.column, je.text);
			bad_line(c, c->lineno, why);
			continue;
		}
		int bad = 0;
		for (size_t i = 0; i < c->nfields && !bad; i++)
			bad = json_mask_path(c, v, c->fields[i], &acts[i]) != 0;
		if (!bad && c->text_detect)
			bad = json_detect(c, v) != 0;
		char *s = bad ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(v);
		if (s == NULL) {
			bad_line(c, c->lineno, "masking failed");
			continue;
		}
		if (fputs(s, stdout) == EOF || putchar('\n') == EOF) {
			free(s);
			log_error("write error: %s", strerror(errno));
			rc = PGWARD_EXIT_TEMP;
			break;
		}
		free(s);
	}
	if (rc == 0 && ferror(stdin)) {
		log_error("read error: %s", strerror(errno));
		rc = PGWARD_EXIT_TEMP;
	}
	free(line);
	free(acts);
	return rc;
}

/* Masks every scalar under v (in place where v is a container member:
 * the caller replaces v with the returned value). */
static json_t *
masked_scalar(struct ctx *c, json_t *v, const struct mask_action *a, int *err)
{
	char num[64];
	const char *in;
	size_t len;
	if (json_is_string(v)) {
		in = json_string_value(v);
		len = json_string_length(v);
	} else if (json_is_integer(v)) {
		len = (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		in = num;
	} else if (json_is_real(v)) {
		len = (size_t)snprintf(num, sizeof num, "%.17g", json_real_value(v));
		in = num;
	} else if (json_is_boolean(v)) {
		in = json_is_true(v) ? "true" : "false";
		len = strlen(in);
	} else {
		return NULL;	/* null stays null */
	}
	int isnull;
	int rc = mask_value_buf(c->e, a, in, len, &c->buf, &isnull);
	if (rc < 0) {
		*err = 1;
		return NULL;
	}
	if (rc == 0)
		return NULL;
	json_t *nv = isnull ? json_null() : json_stringn(c->buf.data, c->buf.len);
	if (nv == NULL)
		*err = 1;
	return nv;
}

static int
json_mask_tree(struct ctx *c, json_t *v, const struct mask_action *a)
{
	int err = 0;
	if (json_is_object(v)) {
		const char *k;
		json_t *m;
		json_object_foreach(v, k, m) {
			if (json_is_object(m) || json_is_array(m)) {
				if (json_mask_tree(c, m, a) != 0)
					return -1;
				continue;
			}
			json_t *nv = masked_scalar(c, m, a, &err);
			if (err || (nv != NULL && json_object_set_new(v, k, nv) != 0))
				return -1;
		}
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			json_t *m = json_array_get(v, i);
			if (json_is_object(m) || json_is_array(m)) {
				if (json_mask_tree(c, m, a) != 0)
					return -1;
				continue;
			}
			json_t *nv = masked_scalar(c, m, a, &err);
			if (err || (nv != NULL && json_array_set_new(v, i, nv) != 0))
				return -1;
		}
	}
	return 0;
}

/* Follows a dotted path through objects (and through every element of an
 * array on the way) and masks what it names. */
static int
json_mask_path(struct ctx *c, json_t *v, const char *path,
    const struct mask_action *a)
{
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++)
			if (json_mask_path(c, json_array_get(v, i), path, a) != 0)
				return -1;
		return 0;
	}
	if (!json_is_object(v))
		return 0;
	size_t n = strcspn(path, ".");
	char key[256];
	if (n >= sizeof key)
		return 0;
	memcpy(key, path, n);
	key[n] = '\0';
	json_t *m = json_object_get(v, key);
	if (m == NULL)
		return 0;
	if (path[n] == '.')
		return json_mask_path(c, m, path + n + 1, a);
	if (json_is_object(m) || json_is_array(m))
		return json_mask_tree(c, m, a);
	int err = 0;
	json_t *nv = masked_scalar(c, m, a, &err);
	if (err || (nv != NULL && json_object_set_new(v, key, nv) != 0))
		return -1;
	return 0;
}

static int
detect_string(struct ctx *c, json_t *s, json_t **out)
{
	*out = NULL;
	int rc = mask_text_buf(c->e, json_string_value(s), json_string_length(s),
	    &c->buf);
	if (rc < 0)
		return -1;
	if (rc == 1 && (*out = json_stringn(c->buf.data, c->buf.len)) == NULL)
		return -1;
	return 0;
}

static int
json_detect(struct ctx *c, json_t *v)
{
	json_t *nv;
	if (json_is_object(v)) {
		const char *k;
		json_t *m;
		json_object_foreach(v, k, m) {
			if (json_is_string(m)) {
				if (detect_string(c, m, &nv) != 0)
					return -1;
				if (nv != NULL && json_object_set_new(v, k, nv) != 0)
					return -1;
			} else if (json_detect(c, m) != 0) {
				return -1;
			}
		}
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			json_t *m = json_array_get(v, i);
			if (json_is_string(m)) {
				if (detect_string(c, m, &nv) != 0)
					return -1;
				if (nv != NULL && json_array_set_new(v, i, nv) != 0)
					return -1;
			} else if (json_detect(c, m) != 0) {
				return -1;
			}
		}
	}
	return 0;
}

/* ---- CSV / TSV ---- */

struct record {
	struct mask_buf *f;
	int *quoted;
	size_t n, cap;
};

static int
record_field(struct record *r)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct mask_buf *nf = realloc(r->f, cap * sizeof *nf);
		if (nf == NULL)
			return -1;
		r->f = nf;
		int *nq = realloc(r->quoted, cap * sizeof *nq);
		if (nq == NULL)
			return -1;
		r->quoted = nq;
		memset(r->f + r->cap, 0, (cap - r->cap) * sizeof *nf);
		r->cap = cap;
	}
	r->f[r->n].len = 0;
	r->quoted[r->n] = 0;
	r->n++;
	return 0;
}

static int
field_putc(struct mask_buf *b, int ch)
{
	if (b->len == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		char *d = realloc(b->data, cap);
		if (d == NULL)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	b->data[b->len++] = (char)ch;
	return 0;
}

/* Reads one record. Returns 1 (a record), 0 (end of input), -1 (malformed:
 * *why set, the rest of the line skipped), -2 (out of memory). *lines
 * counts the input lines the record took. */
static int
read_record(FILE *in, char delim, struct record *r, const char **why,
    unsigned long long *lines)
{
	r->n = 0;
	*lines = 0;
	int ch = getc(in);
	if (ch == EOF)
		return 0;
	if (record_field(r) != 0)
		return -2;
	*lines = 1;
	enum { START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED } st = START;
	for (;; ch = getc(in)) {
		struct mask_buf *b = &r->f[r->n - 1];
		if (ch == EOF) {
			if (st == QUOTED) {
				*why = "end of input inside a quoted field";
				return -1;
			}
			return 1;
		}
		if (st == QUOTED) {
			if (ch == '"')
				st = QUOTE_IN_QUOTED;
			else {
				if (ch == '\n')
					++*lines;
				if (field_putc(b, ch) != 0)
					return -2;
			}
			continue;
		}
		if (st == QUOTE_IN_QUOTED && ch == '"') {
			st = QUOTED;
			if (field_putc(b, '"') != 0)
				return -2;
			continue;
		}
		if (ch == '\n' || ch == delim) {
			if (ch == '\n') {
				if (st != QUOTE_IN_QUOTED && b->len > 0 && b->data[b->len - 1] == '\r')
					b->len--;
				return 1;
			}
			if (record_field(r) != 0)
				return -2;
			st = START;
			continue;
		}
		if (st == QUOTE_IN_QUOTED) {
			if (ch == '\r')
				continue;	/* "...."\r\n */
			*why = "text after a closing quote";
			goto skip;
		}
		if (ch == '"' && delim == ',') {
			if (st == START) {
				st = QUOTED;
				r->quoted[r->n - 1] = 1;
				continue;
			}
			*why = "a quote inside an unquoted field";
			goto skip;
		}
		st = UNQUOTED;
		if (field_putc(b, ch) != 0)
			return -2;
	}
skip:
	while ((ch = getc(in)) != EOF && ch != '\n')
		;
	return -1;
}

static int
put_field(const char *s, size_t n, int quote, char delim)
{
	if (delim == ',' && !quote)
		for (size_t i = 0; i < n && !quote; i++)
			quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
	if (!quote)
		return fwrite(s, 1, n, stdout) == n ? 0 : -1;
	if (putchar('"') == EOF)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' && putchar('"') == EOF)
			return -1;
		if (putchar((unsigned char)s[i]) == EOF)
			return -1;
	}
	return putchar('"') == EOF ? -1 : 0;
}

static void
record_free(struct record *r)
{
	for (size_t i = 0; i < r->cap; i++)
		mask_buf_free(&r->f[i]);
	free(r->f);
	free(r->quoted);
}

static int
run_delimited(struct ctx *c, char delim)
{
	struct record r = { NULL, NULL, 0, 0 };
	struct mask_action *acts = NULL;
	size_t ncols = 0;
	int rc = 0;
	const char *why = NULL;
	unsigned long long lines;
	for (;;) {
		unsigned long long first = c->lineno + 1;
		int got = read_record(stdin, delim, &r, &why, &lines);
		c->lineno += lines;
		if (got == 0)
			break;
		if (got == -2) {
			log_error("out of memory");
			rc = PGWARD_EXIT_TEMP;
			break;
		}
		if (got == -1) {
			if (acts == NULL) {
				log_error("line %llu: the header is malformed (%s)", first, why);
				rc = 1;
				break;
			}
			bad_line(c, first, why);
			continue;
		}
		if (acts == NULL) {
			/* The header: names pass through. */
			ncols = r.n;
			acts = calloc(ncols, sizeof *acts);
			if (acts == NULL) {
				log_error("out of memory");
				rc = PGWARD_EXIT_TEMP;
				break;
			}
			for (size_t i = 0; i < ncols; i++) {
				if (field_putc(&r.f[i], '\0') != 0) {
					log_error("out of memory");
					rc = PGWARD_EXIT_TEMP;
					break;
				}
				acts[i] = mask_column_action(c->e, NULL, r.f[i].data,
				    r.f[i].data, 1);
				if (acts[i].style == MASK_NONE && c->text_detect)
					acts[i].detect = 1;
				r.f[i].len--;
			}
			if (rc != 0)
				break;
		} else if (r.n != ncols) {
			char m[128];
			snprintf(m, sizeof m, "%zu fields, the header has %zu", r.n, ncols);
			bad_line(c, first, m);
			continue;
		} else {
			int bad = 0;
			for (size_t i = 0; i < ncols && !bad; i++) {
				int isnull;
				int mr = mask_value_buf(c->e, &acts[i], r.f[i].data, r.f[i].len,
				    &c->buf, &isnull);
				if (mr < 0) {
					bad = 1;
				} else if (mr == 1) {
					/* Swap: the field now holds the masked value. */
					struct mask_buf t = r.f[i];
					r.f[i] = c->buf;
					c->buf = t;
					if (isnull)
						r.f[i].len = 0;
				}
			}
			if (bad) {
				bad_line(c, first, "masking failed");
				continue;
			}
		}
		int werr = 0;
		for (size_t i = 0; i < r.n && !werr; i++) {
			if (i > 0 && putchar(delim) == EOF)
				werr = 1;
			if (!werr && put_field(r.f[i].data, r.f[i].len, r.quoted[i], delim) != 0)
				werr = 1;
		}
		if (werr || putchar('\n') == EOF) {
			log_error("write error: %s", strerror(errno));
			rc = PGWARD_EXIT_TEMP;
			break;
		}
	}
	if (rc == 0 && ferror(stdin)) {
		log_error("read error: %s", strerror(errno));
		rc = PGWARD_EXIT_TEMP;
	}
	record_free(&r);
	free(acts);
	return rc;
}

/* ---- sql and check: database-enforced masking ---- */

/* pgward-mask sql|check: argv[0] is the command. */
static int
provision_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "role", required_argument, NULL, 'R' },
		{ "key", required_argument, NULL, 'k' },
		{ "dbname", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int check = strcmp(argv[0], "check") == 0;
	const char *policy = NULL, *key_path = NULL, *conninfo = NULL;
	const char **roles = calloc((size_t)argc + 1, sizeof *roles);
	size_t nroles = 0;
	if (roles == NULL)
		log_fatal(PGWARD_EXIT_TEMP, "out of memory");
	opterr = 0;
	optind = 1;
	int ch;
	while ((ch = getopt_long(argc, argv, ":p:R:k:d:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			policy = optarg;
			break;
		case 'R':
			roles[nroles++] = optarg;
			break;
		case 'k':
			key_path = optarg;
			break;
		case 'd':
			conninfo = optarg;
			break;
		case 'h':
			fputs(USAGE, stdout);
			free(roles);
			return 0;
		case ':':
			log_error("option %s needs a value", argv[optind - 1]);
			fputs(USAGE, stderr);
			free(roles);
			return PGWARD_EXIT_USAGE;
		default:
			log_error("unknown option %s", argv[optind - 1]);
			fputs(USAGE, stderr);
			free(roles);
			return PGWARD_EXIT_USAGE;
		}
	}
	const char *usage_error = optind != argc ? "unexpected operand" :
	    policy == NULL ? "-p POLICY is required" :
	    check && conninfo == NULL ? "check needs -d CONNINFO" :
	    check && key_path != NULL ? "check takes no --key" :
	    !check && conninfo != NULL ? "sql connects to no database: no -d" : NULL;
	if (usage_error != NULL) {
		log_error("%s %s", argv[0], usage_error);
		fputs(USAGE, stderr);
		free(roles);
		return PGWARD_EXIT_USAGE;
	}
	struct rules_result rr = rules_load(policy, 300);
	if (rr.error != NULL) {
		log_error("%s", rr.error);
		rules_result_free(rr);
		free(roles);
		return PGWARD_EXIT_USAGE;
	}
	const struct mask_policy *mp = &rr.policy->mask;
	int rc = 0;
	struct mask_profiles_result ps = { NULL, 0, NULL };
	if (mp->mode == MASK_MODE_GATEWAY) {
		log_error("%s: mask mode gateway: the database masks nothing, there is "
		    "nothing to %s", policy, check ? "check" : "provision");
		rc = PGWARD_EXIT_USAGE;
		goto done;
	}
	/* The roles people assume: the connect lines' (literal) roles. */
	if (nroles == 0) {
		for (size_t i = 0; i < rr.policy->nconnects; i++) {
			const char *r = rr.policy->connects[i].role;
			if (strpbrk(r, "*?[") != NULL) {
				log_error("%s:%d: connect role \"%s\" is a pattern: name the "
				    "roles with --role", policy, rr.policy->connects[i].line, r);
				rc = PGWARD_EXIT_USAGE;
				goto done;
			}
			size_t k;
			for (k = 0; k < nroles; k++)
				if (strcmp(roles[k], r) == 0)
					break;
			if (k == nroles)
				roles[nroles++] = r;
		}
	}
	ps = mask_profiles_enumerate(mp);
	if (ps.error != NULL) {
		log_error("%s: %s", policy, ps.error);
		rc = PGWARD_EXIT_USAGE;
		goto done;
	}
	if (!check) {
		struct mask_key_result key = { NULL, 0, NULL };
		if (key_path != NULL && (key = mask_key_read(key_path)).error != NULL) {
			log_error("--key: %s", key.error);
			mask_key_result_free(key);
			rc = PGWARD_EXIT_USAGE;
			goto done;
		}
		struct mask_sql_result sr = mask_provision_sql(&ps, roles, nroles,
		    key.key, key.len, policy);
		mask_key_result_free(key);
		if (sr.error != NULL) {
			log_error("%s: %s", policy, sr.error);
			rc = PGWARD_EXIT_USAGE;
		} else if (fputs(sr.sql, stdout) == EOF || fflush(stdout) != 0) {
			log_error("write error: %s", strerror(errno));
			rc = PGWARD_EXIT_TEMP;
		}
		if (sr.sql != NULL)
			OPENSSL_cleanse(sr.sql, strlen(sr.sql));
		mask_sql_result_free(sr);
		goto done;
	}
	PGconn *db = PQconnectdb(conninfo);
	if (PQstatus(db) != CONNECTION_OK) {
		log_error("unable to connect: %s", PQerrorMessage(db));
		PQfinish(db);
		rc = PGWARD_EXIT_TEMP;
		goto done;
	}
	unsigned long problems = 0;
	for (size_t i = 0; i < ps.n && rc == 0; i++) {
		const struct mask_profile *p = ps.v[i].profile;
		for (size_t k = 0; k < nroles && rc == 0; k++) {
			char m[MASK_PROFILE_NAMEDATALEN];
			if (mask_profile_role(p, roles[k], m) != 0) {
				printf("role %s: the name of its masked twin for profile %s is "
				    "longer than 63 bytes\n", roles[k], p->id);
				problems++;
				continue;
			}
			struct mask_sql_result q = mask_check_sql(p, m);
			if (q.error != NULL) {
				log_error("%s", q.error);
				mask_sql_result_free(q);
				rc = PGWARD_EXIT_USAGE;
				break;
			}
			PGresult *res = PQexec(db, q.sql);
			mask_sql_result_free(q);
			if (PQresultStatus(res) != PGRES_TUPLES_OK) {
				log_error("check of %s failed: %s", m, PQerrorMessage(db));
				rc = PGWARD_EXIT_TEMP;
			} else {
				for (int row = 0; row < PQntuples(res); row++) {
					printf("profile %s, role %s: %s\n", p->id, m,
					    PQgetvalue(res, row, 0));
					problems++;
				}
			}
			PQclear(res);
		}
	}
	PQfinish(db);
	if (rc == 0 && fflush(stdout) != 0)
		rc = PGWARD_EXIT_TEMP;
	if (rc == 0 && problems > 0)
		rc = 1;
	if (rc == 0)
		log_info("%s: %zu profiles, %zu roles: ok", policy, ps.n, nroles);
done:
	mask_profiles_result_free(ps);
	rules_result_free(rr);
	free(roles);
	return rc;
}
