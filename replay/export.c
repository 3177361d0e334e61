#include "replay/export.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "replay/cli.h"
#include "replay/cursor.h"
#include "replay/facts.h"
#include "replay/scan.h"
#include "replay/siem.h"
#include "strmap.h"

#define EXPORT_USAGE \
	"usage: pgward-replay export [-d DIR] [--format jsonl|ocsf|cef|syslog]\n" \
	"           [--from SEQ | --since TIME] [--follow] [--poll-ms N]\n" \
	"           [--cursor FILE] [--max-bytes N] [--octet-counting]\n" \
	"           [--no-checkpoints] [DIR]\n"

/* Written out (and the cursor saved) at least this often. */
#define EXPORT_FLUSH (1u << 20)

enum {
	EX_FORMAT = CLI_NEXT, EX_FROM, EX_FOLLOW, EX_POLL, EX_CURSOR, EX_MAX_BYTES,
	EX_OCTET, EX_NO_CK,
};

static volatile sig_atomic_t export_stop;

static void
export_on_signal(int sig)
{
	(void)sig;
	export_stop = 1;
}

struct export {
	struct cli c;
	struct siem_opts so;
	int follow, checkpoints;
	long poll_ms;
	const char *cursor_path;
	struct cursor cur;
	uint64_t from;
	int since_pending;	/* skip records before --since */
	struct siem_buf out;
	struct strmap sessions;	/* id -> struct siem_session */
	/* checkpoints.jsonl, read as it grows */
	int ckfd;
	uint64_t ck_off;
	char *ckbuf;
	size_t ck_len, ck_cap, ck_start;
	int out_regular;
	struct stat out_st;
};

static void
export_session_free(void *v)
{
	struct siem_session *s = v;
	free(s->client);
	free(s->sub);
	free(s->groups);
	free(s);
}

/* What the formats take from a session_start for the records after it:
 * the client and sub decoded, the groups array as it is. */
static void
export_session_facts(struct siem_session *s, const struct rec *r)
{
	s->client = rec_str(r, "client", &s->client_n);
	s->sub = rec_str(r, "sub", &s->sub_n);
	const struct rec_span *g = rec_get(r, "groups");
	if (g != NULL && (s->groups = malloc(g->n + 1)) != NULL) {
		memcpy(s->groups, g->p, g->n);
		s->groups[g->n] = '\0';
		s->groups_n = g->n;
	}
}

/* The session_start of a session that began before the export: the first
 * record with its id. */
static struct siem_session *
export_find_session(struct export *x, const char *id)
{
	struct siem_session *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	char needle[300];
	int nl = snprintf(needle, sizeof needle, ",\"session\":\"%s\"", id);
	struct scan sc;
	char err[256];
	if (nl > 0 && (size_t)nl < sizeof needle &&
	    scan_open(&sc, x->c.dir, err, sizeof err) == 0) {
		const char *p, *f;
		size_t n;
		int found = 0;
		while (!found && scan_next(&sc, &p, &n, err, sizeof err) == 1) {
			if ((f = memmem(p, n, needle, (size_t)nl)) == NULL)
				continue;
			const char *line;
			size_t len;
			scan_line_at(p, n, f, &line, &len);
			struct rec r;
			if (rec_split(&r, line, len) == 0 && rec_eq(&r, "type", "session_start")) {
				export_session_facts(s, &r);
			}
			found = 1;
		}
		scan_close(&sc);
	}
	strmap_put(&x->sessions, id, s);
	return s;
}

/* The first ,"session":"ID" of a line: in the relay's layout right after
 * the type (ts and prev without a quote: nothing before it can match),
 * else searched for. 0, or -1 when there is none (or it is too long). */
static int
export_session_id(const char *line, size_t len, struct rec_span t, char id[256])
{
	static const char key[] = ",\"session\":\"";
	const char *k = NULL, *e = line + len;
	const char *ts = rec_ts(line, len);
	const char *prev = ts != NULL ? ts + REC_TS_LEN + 10 : NULL;
	if (t.p != NULL && prev != NULL && t.p == prev + 64 + 10 &&
	    memcmp(prev - 10, "\",\"prev\":\"", 10) == 0 &&
	    memcmp(t.p - 10, "\",\"type\":\"", 10) == 0 &&
	    memchr(ts, '"', REC_TS_LEN) == NULL && memchr(prev, '"', 64) == NULL &&
	    (size_t)(e - (t.p + t.n + 1)) >= sizeof key - 1 &&
	    memcmp(t.p + t.n + 1, key, sizeof key - 1) == 0)
		k = t.p + t.n + 1;
	else
		k = memmem(line, len, key, sizeof key - 1);
	if (k == NULL)
		return -1;
	const char *p = k + sizeof key - 1;
	const char *q = memchr(p, '"', (size_t)(e - p));
	if (q == NULL || (size_t)(q - p) >= 256)
		return -1;
	memcpy(id, p, (size_t)(q - p));
	id[q - p] = '\0';
	return 0;
}

static const struct siem_session *
export_session(struct export *x, const char *line, size_t len)
{
	struct rec_span t = rec_type(line, len);
	char id[256];
	if (export_session_id(line, len, t, id) != 0)
		return NULL;
	if (t.n == 13 && memcmp(t.p, "session_start", 13) == 0) {
		struct rec r;
		struct siem_session *s = calloc(1, sizeof *s);
		if (s == NULL || rec_split(&r, line, len) != 0) {
			free(s);
			return NULL;
		}
		export_session_facts(s, &r);
		strmap_put(&x->sessions, id, s);
		return s;
	}
	struct siem_session *s = strmap_get(&x->sessions, id);
	if (s == NULL)
		s = export_find_session(x, id);
	return s;
}

static void
export_session_done(struct export *x, const char *line, size_t len)
{
	struct rec_span t = rec_type(line, len);
	char id[256];
	if (t.n != 11 || memcmp(t.p, "session_end", 11) != 0 ||
	    export_session_id(line, len, t, id) != 0)
		return;
	strmap_remove(&x->sessions, id);
}

/* Writes what is buffered, then saves the cursor. */
static void
export_flush(struct export *x)
{
	if (x->out.oom)
		log_fatal(PGWARD_EXIT_TEMP, "export: out of memory");
	if (x->out.n > 0 && cli_write(x->out.p, x->out.n) != 0)
		log_fatal(PGWARD_EXIT_TEMP, "export: stdout: %s", strerror(errno));
	x->out.n = 0;
	if (x->cursor_path == NULL)
		return;
	x->cur.out_bytes = -1;
	if (x->out_regular) {
		off_t end = lseek(STDOUT_FILENO, 0, SEEK_CUR);
		struct stat st;
		if (fstat(STDOUT_FILENO, &st) == 0 && st.st_size > end)
			end = st.st_size;	/* O_APPEND */
		x->cur.out_bytes = end;
	}
	char err[512];
	if (cursor_save(x->cursor_path, &x->cur, err, sizeof err) != 0)
		log_fatal(PGWARD_EXIT_TEMP, "export: cursor: %s", err);
}

/* Reads what was appended to checkpoints.jsonl; emits the checkpoints
 * that the records written so far reach. */
static void
export_checkpoints(struct export *x)
{
	if (!x->checkpoints)
		return;
	if (x->ckfd < 0) {
		int dfd = open(x->c.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return;
		x->ckfd = openat(dfd, "checkpoints.jsonl", O_RDONLY | O_CLOEXEC);
		close(dfd);
		if (x->ckfd < 0)
			return;
	}
	for (;;) {
		/* Whole lines first. */
		while (x->ck_start < x->ck_len) {
			char *b = x->ckbuf + x->ck_start;
			char *nl = memchr(b, '\n', x->ck_len - x->ck_start);
			if (nl == NULL)
				break;
			size_t len = (size_t)(nl - b);
			const char *sz = memmem(b, len, "\"size\":", 7);
			uint64_t size = sz ? strtoull(sz + 7, NULL, 10) : 0;
			if (size > x->cur.seq)
				return;	/* not yet: the records come first */
			if (size > x->cur.checkpoint) {
				if (siem_checkpoint(&x->so, &x->out, b, len) == 0)
					x->cur.checkpoint = size;
				else
					log_warn("export: checkpoints.jsonl: a line is not a "
					    "checkpoint (size %llu)", (unsigned long long)size);
			}
			x->ck_start += len + 1;
		}
		if (x->ck_start > 0) {
			memmove(x->ckbuf, x->ckbuf + x->ck_start, x->ck_len - x->ck_start);
			x->ck_len -= x->ck_start;
			x->ck_start = 0;
		}
		if (x->ck_cap - x->ck_len < 65536) {
			size_t cap = x->ck_cap ? x->ck_cap * 2 : 262144;
			char *nb = realloc(x->ckbuf, cap);
			if (nb == NULL)
				log_fatal(PGWARD_EXIT_TEMP, "export: out of memory");
			x->ckbuf = nb;
			x->ck_cap = cap;
		}
		ssize_t r = pread(x->ckfd, x->ckbuf + x->ck_len, x->ck_cap - x->ck_len,
		    (off_t)x->ck_off);
		if (r <= 0)
			return;
		x->ck_off += (uint64_t)r;
		x->ck_len += (size_t)r;
	}
}

static void
export_chunk(struct export *x, const char *p, size_t n)
{
	const char *e = p + n;
	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		size_t len = (size_t)(nl - p);
		const char *line = p;
		p = nl + 1;
		uint64_t seq = rec_seq(line, len);
		if (seq == 0) {
			log_warn("export: a line that is not a record (after seq %llu)",
			    (unsigned long long)x->cur.seq);
			continue;
		}
		if (seq <= x->cur.seq)
			continue;	/* already written */
		if (x->since_pending) {
			const char *ts = rec_ts(line, len);
			if (ts != NULL && memcmp(ts, x->c.since, REC_TS_LEN) < 0)
				continue;
			x->since_pending = 0;
			/* Checkpoints of what came before are not ours. */
			if (x->cur.checkpoint < seq - 1)
				x->cur.checkpoint = seq - 1;
		}
		const struct siem_session *s = NULL;
		if (x->so.format != SIEM_JSONL)
			s = export_session(x, line, len);
		if (siem_record(&x->so, &x->out, line, len, s) != 0)
			log_warn("export: seq %llu: not a record line",
			    (unsigned long long)seq);
		if (x->so.format != SIEM_JSONL)
			export_session_done(x, line, len);
		x->cur.seq = seq;
		if (x->out.n >= EXPORT_FLUSH) {
			export_checkpoints(x);
			export_flush(x);
		}
	}
	export_checkpoints(x);
}

static int
export_options(struct export *x, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, EX_FORMAT },
		{ "from", required_argument, NULL, EX_FROM },
		{ "since", required_argument, NULL, CLI_SINCE },
		{ "follow", no_argument, NULL, EX_FOLLOW },
		{ "poll-ms", required_argument, NULL, EX_POLL },
		{ "cursor", required_argument, NULL, EX_CURSOR },
		{ "max-bytes", required_argument, NULL, EX_MAX_BYTES },
		{ "octet-counting", no_argument, NULL, EX_OCTET },
		{ "no-checkpoints", no_argument, NULL, EX_NO_CK },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	char *end;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "d:f:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			fputs(EXPORT_USAGE, stdout);
			exit(0);
		case 'f':
		case EX_FORMAT:
			if (strcmp(optarg, "jsonl") == 0)
				x->so.format = SIEM_JSONL;
			else if (strcmp(optarg, "ocsf") == 0)
				x->so.format = SIEM_OCSF;
			else if (strcmp(optarg, "cef") == 0)
				x->so.format = SIEM_CEF;
			else if (strcmp(optarg, "syslog") == 0)
				x->so.format = SIEM_SYSLOG;
			else {
				log_error("export: --format %s: jsonl, ocsf, cef or syslog", optarg);
				return -1;
			}
			break;
		case EX_FROM:
			errno = 0;
			x->from = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || x->from == 0) {
				log_error("export: --from %s: a seq (1 or more)", optarg);
				return -1;
			}
			break;
		case EX_FOLLOW: x->follow = 1; break;
		case EX_POLL:
			x->poll_ms = strtol(optarg, &end, 10);
			if (*end != '\0' || x->poll_ms < 1 || x->poll_ms > 60000) {
				log_error("export: --poll-ms %s: 1 to 60000", optarg);
				return -1;
			}
			break;
		case EX_CURSOR: x->cursor_path = optarg; break;
		case EX_MAX_BYTES:
			x->so.max_bytes = (size_t)strtoul(optarg, &end, 10);
			if (*end != '\0' || x->so.max_bytes < 480 || x->so.max_bytes > 65536) {
				log_error("export: --max-bytes %s: 480 to 65536", optarg);
				return -1;
			}
			break;
		case EX_OCTET: x->so.octet_counting = 1; break;
		case EX_NO_CK: x->checkpoints = 0; break;
		default:
			if (cli_option(&x->c, opt, optarg) <= 0)
				return -1;
		}
	}
	if (cli_operands(&x->c, argc, argv, optind) != 0)
		return -1;
	if (x->from != 0 && x->c.since[0] != '\0') {
		log_error("export: --from and --since exclude each other");
		return -1;
	}
	return 0;
}

/* With a cursor: start after it; output written to a regular file after
 * the cursor was saved is cut off, so the file holds each record once. */
static void
export_resume(struct export *x)
{
	char err[512];
	int rc = cursor_load(x->cursor_path, &x->cur, err, sizeof err);
	if (rc < 0)
		log_fatal(PGWARD_EXIT_USAGE, "export: %s", err);
	if (rc == 1) {
		memset(&x->cur, 0, sizeof x->cur);
		x->cur.out_bytes = -1;
		return;
	}
	if (x->out_regular && x->cur.out_bytes >= 0 &&
	    x->cur.out_dev == (uint64_t)x->out_st.st_dev &&
	    x->cur.out_ino == (uint64_t)x->out_st.st_ino &&
	    x->out_st.st_size > x->cur.out_bytes) {
		if (ftruncate(STDOUT_FILENO, x->cur.out_bytes) != 0)
			log_fatal(PGWARD_EXIT_TEMP, "export: cannot cut stdout back to the "
			    "cursor: %s", strerror(errno));
		lseek(STDOUT_FILENO, 0, SEEK_END);
		log_info("export: cut %lld bytes written after the cursor",
		    (long long)(x->out_st.st_size - x->cur.out_bytes));
	}
	x->from = 0;
	x->since_pending = 0;
}

int
export_main(int argc, char **argv)
{
	struct export x;
	memset(&x, 0, sizeof x);
	cli_init(&x.c);
	x.so.format = SIEM_JSONL;
	x.so.max_bytes = 2048;
	x.checkpoints = 1;
	x.poll_ms = 200;
	x.ckfd = -1;
	if (export_options(&x, argc, argv) != 0) {
		fputs(EXPORT_USAGE, stderr);
		return PGWARD_EXIT_USAGE;
	}
	char host[256] = "-";
	if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
		strcpy(host, "-");
	host[sizeof host - 1] = '\0';
	for (char *c = host; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f)
			*c = '-';
	x.so.hostname = host;
	if (fstat(STDOUT_FILENO, &x.out_st) == 0 && S_ISREG(x.out_st.st_mode)) {
		x.out_regular = 1;
		x.cur.out_dev = (uint64_t)x.out_st.st_dev;
		x.cur.out_ino = (uint64_t)x.out_st.st_ino;
	}
	if (strmap_init(&x.sessions, export_session_free) != 0)
		log_fatal(PGWARD_EXIT_TEMP, "out of memory");
	uint64_t dev = x.cur.out_dev, ino = x.cur.out_ino;
	x.since_pending = x.c.since[0] != '\0';
	if (x.cursor_path != NULL)
		export_resume(&x);
	x.cur.out_dev = dev;
	x.cur.out_ino = ino;
	if (x.from > 1) {
		x.cur.seq = x.from - 1;
		x.cur.checkpoint = x.from - 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = export_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct scan s;
	char err[512];
	if (scan_open(&s, x.c.dir, err, sizeof err) != 0)
		log_fatal(PGWARD_EXIT_USAGE, "export: %s", err);
	if (x.cur.seq > 0)
		scan_from_seq(&s, x.cur.seq + 1);
	else if (x.since_pending)
		scan_from_time(&s, x.c.since, err, sizeof err);
	while (!export_stop) {
		const char *p;
		size_t n;
		int rc = scan_next(&s, &p, &n, err, sizeof err);
		if (rc < 0)
			log_fatal(PGWARD_EXIT_TEMP, "export: %s", err);
		if (rc == 1) {
			export_chunk(&x, p, n);
			if (x.out.n >= EXPORT_FLUSH / 4)
				export_flush(&x);
			continue;
		}
		export_checkpoints(&x);
		export_flush(&x);
		if (!x.follow)
			break;
		struct timespec ts = { x.poll_ms / 1000, (x.poll_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		if (scan_refresh(&s, err, sizeof err) != 0)
			log_fatal(PGWARD_EXIT_TEMP, "export: %s", err);
	}
	export_flush(&x);
	scan_close(&s);
	strmap_free(&x.sessions);
	siem_buf_free(&x.out);
	free(x.ckbuf);
	if (x.ckfd >= 0)
		close(x.ckfd);
	return 0;
}
