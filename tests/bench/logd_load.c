/* logd_load: load generator for pgward-logd (docs/logd-protocol.md).
 *
 *     logd_load -s SOCKET [-w WRITERS] [-p IN_FLIGHT] [-t SECONDS]
 *               [-W WARMUP_SECONDS] [-b REQUEST_BYTES]
 *
 * WRITERS threads, each with its own Unix-socket connection, send `append`
 * requests shaped like the intent record pgward-relay writes before a
 * statement (pgbench -S, simple protocol). With IN_FLIGHT 1 (the default)
 * a writer waits for each acknowledgement before sending its next append,
 * as the relay does; with IN_FLIGHT N it keeps N appends outstanding
 * (pipelining), sending a new one per reply.
 *
 * Only acknowledgements that arrive in the measuring window (after the
 * warm-up, for SECONDS) are counted. The ack latency of an append is the
 * time from just before its write() to the arrival of its reply line.
 *
 * Prints one JSON object on stdout: records, records_per_s, ack latency
 * p50/p90/p99/max/mean in ms, request bytes, and error counts. Exit 0 if
 * every reply was ok, 1 if a reply was an error or a connection broke,
 * 2 for bad usage. Standard C + pthreads only (no pgward code), so the
 * client costs as little as possible next to the daemon.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 1024

struct writer {
	pthread_t th;
	int id;
	int fd;
	uint64_t *lat;          /* ack latencies (ns) in the window */
	size_t nlat, caplat;
	uint64_t sent;
	uint64_t errors;        /* replies with "ok":false */
	int broken;             /* connection failed */
	char why[200];
};

static const char *sock_path;
static int nwriters = 1, depth = 1, req_bytes = 300;
static double seconds = 3.0, warmup = 0.5;
static uint64_t t_begin, t_end;        /* window, CLOCK_MONOTONIC ns */
static atomic_int stop;
static pthread_barrier_t start_barrier;

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One append request line shaped like the relay's intent record for
 * `pgbench -S`, padded (in the sql comment) to about req_bytes. */
static int
make_request(char *out, size_t cap, int writer, uint64_t n)
{
	static const char hex[] = "0123456789abcdef";
	char session[33];
	uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(writer + 1);
	for (int i = 0; i < 32; i++) {
		x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
		session[i] = hex[(x * 0x2545f4914f6cdd1dull) >> 60];
	}
	session[32] = '\0';
	unsigned aid = (unsigned)((n * 2654435761u + (uint64_t)writer * 40503u) % 1000000u) + 1;
	int len = snprintf(out, cap,
	    "{\"v\":1,\"op\":\"append\",\"record\":{\"type\":\"intent\","
	    "\"session\":\"%s\",\"user\":\"bob\",\"groups\":[\"engineers\"],"
	    "\"connection\":\"bench\",\"role\":\"app_write\",\"n\":%llu,"
	    "\"protocol\":\"simple\",\"decision\":\"allow\","
	    "\"sql\":\"SELECT abalance FROM pgbench_accounts WHERE aid = %u;",
	    session, (unsigned long long)n, aid);
	/* pad to the requested size with a trailing SQL comment */
	int tail = (int)strlen("\"}}\n");
	if (len + tail < req_bytes) {
		int pad = req_bytes - len - tail;
		if (pad > 4) {
			memcpy(out + len, " -- ", 4);
			memset(out + len + 4, 'x', (size_t)pad - 4);
			len += pad;
		}
	}
	memcpy(out + len, "\"}}\n", (size_t)tail + 1);
	return len + tail;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
add_lat(struct writer *w, uint64_t ns)
{
	if (w->nlat == w->caplat) {
		size_t cap = w->caplat ? w->caplat * 2 : 65536;
		uint64_t *p = realloc(w->lat, cap * sizeof *p);
		if (p == NULL) {
			w->broken = 1;
			snprintf(w->why, sizeof w->why, "out of memory");
			return;
		}
		w->lat = p;
		w->caplat = cap;
	}
	w->lat[w->nlat++] = ns;
}

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t sent_at[MAX_DEPTH];     /* ring of send times, FIFO = reply order */
	unsigned head = 0, inflight = 0;
	char *batch = malloc((size_t)depth * (size_t)(req_bytes + 512));
	char rbuf[65536];
	size_t rlen = 0;
	uint64_t n = 0;

	pthread_barrier_wait(&start_barrier);
	if (batch == NULL || w->fd < 0)
		goto out;
	for (;;) {
		/* top up to `depth` outstanding requests, in one write */
		if (!atomic_load(&stop) && inflight < (unsigned)depth) {
			size_t blen = 0;
			unsigned k = (unsigned)depth - inflight;
			for (unsigned i = 0; i < k; i++)
				blen += (size_t)make_request(batch + blen, (size_t)req_bytes + 512,
				    w->id, ++n);
			uint64_t t = now_ns();
			for (unsigned i = 0; i < k; i++)
				sent_at[(head + inflight + i) % MAX_DEPTH] = t;
			if (write_all(w->fd, batch, blen) != 0) {
				w->broken = 1;
				snprintf(w->why, sizeof w->why, "write: %s", strerror(errno));
				break;
			}
			inflight += k;
			w->sent += k;
		}
		if (inflight == 0)
			break;
		ssize_t r = read(w->fd, rbuf + rlen, sizeof rbuf - rlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			w->broken = 1;
			snprintf(w->why, sizeof w->why, "read: %s",
			    r == 0 ? "connection closed by pgward-logd" : strerror(errno));
			break;
		}
		uint64_t t = now_ns();
		rlen += (size_t)r;
		char *p = rbuf, *nl;
		while ((nl = memchr(p, '\n', rlen - (size_t)(p - rbuf))) != NULL) {
			*nl = '\0';
			if (inflight == 0) {
				w->broken = 1;
				snprintf(w->why, sizeof w->why, "reply without a request");
				goto out;
			}
			uint64_t t0 = sent_at[head];
			head = (head + 1) % MAX_DEPTH;
			inflight--;
			if (strstr(p, "\"ok\":true") == NULL) {
				if (w->errors++ == 0)
					snprintf(w->why, sizeof w->why, "error reply: %.150s", p);
			} else if (t >= t_begin && t <= t_end) {
				add_lat(w, t - t0);
			}
			p = nl + 1;
		}
		rlen -= (size_t)(p - rbuf);
		memmove(rbuf, p, rlen);
		if (rlen == sizeof rbuf) {
			w->broken = 1;
			snprintf(w->why, sizeof w->why, "reply line too long");
			break;
		}
	}
out:
	free(batch);
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double
pct(const uint64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)v[i] / 1e6;
}

static void
usage(void)
{
	fprintf(stderr, "usage: logd_load -s SOCKET [-w WRITERS] [-p IN_FLIGHT] [-t SECONDS] "
	    "[-W WARMUP_SECONDS] [-b REQUEST_BYTES]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "s:w:p:t:W:b:h")) != -1) {
		switch (c) {
		case 's': sock_path = optarg; break;
		case 'w': nwriters = atoi(optarg); break;
		case 'p': depth = atoi(optarg); break;
		case 't': seconds = atof(optarg); break;
		case 'W': warmup = atof(optarg); break;
		case 'b': req_bytes = atoi(optarg); break;
		default: usage();
		}
	}
	if (sock_path == NULL || optind != argc || nwriters < 1 || nwriters > 4096 ||
	    depth < 1 || depth > MAX_DEPTH || seconds <= 0 || warmup < 0 ||
	    req_bytes < 64 || req_bytes > 65536)
		usage();
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof sa.sun_path) {
		fprintf(stderr, "logd_load: socket path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, sock_path);

	struct writer *ws = calloc((size_t)nwriters, sizeof *ws);
	if (ws == NULL)
		return 1;
	for (int i = 0; i < nwriters; i++) {
		ws[i].id = i;
		ws[i].fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (ws[i].fd < 0 || connect(ws[i].fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
			fprintf(stderr, "logd_load: connect %s: %s\n", sock_path, strerror(errno));
			return 1;
		}
	}
	pthread_barrier_init(&start_barrier, NULL, (unsigned)nwriters + 1);
	for (int i = 0; i < nwriters; i++)
		if (pthread_create(&ws[i].th, NULL, writer_main, &ws[i]) != 0) {
			fprintf(stderr, "logd_load: pthread_create failed\n");
			return 1;
		}
	uint64_t t0 = now_ns();
	t_begin = t0 + (uint64_t)(warmup * 1e9);
	t_end = t_begin + (uint64_t)(seconds * 1e9);
	pthread_barrier_wait(&start_barrier);
	struct timespec d;
	uint64_t left = t_end - now_ns();
	d.tv_sec = (time_t)(left / 1000000000u);
	d.tv_nsec = (long)(left % 1000000000u);
	while (nanosleep(&d, &d) != 0 && errno == EINTR)
		;
	atomic_store(&stop, 1);

	size_t total = 0;
	uint64_t sent = 0, errors = 0;
	int broken = 0;
	const char *why = NULL;
	for (int i = 0; i < nwriters; i++) {
		pthread_join(ws[i].th, NULL);
		total += ws[i].nlat;
		sent += ws[i].sent;
		errors += ws[i].errors;
		broken += ws[i].broken;
		if (why == NULL && ws[i].why[0])
			why = ws[i].why;
		close(ws[i].fd);
	}
	uint64_t *all = malloc((total ? total : 1) * sizeof *all);
	if (all == NULL)
		return 1;
	size_t k = 0;
	double sum = 0;
	for (int i = 0; i < nwriters; i++) {
		memcpy(all + k, ws[i].lat, ws[i].nlat * sizeof *all);
		k += ws[i].nlat;
		free(ws[i].lat);
	}
	for (size_t i = 0; i < total; i++)
		sum += (double)all[i];
	qsort(all, total, sizeof *all, cmp_u64);
	char sample[400];
	int slen = make_request(sample, sizeof sample, 0, 1);

	printf("{\"writers\":%d,\"in_flight\":%d,\"seconds\":%.3f,\"warmup_s\":%.3f,"
	    "\"request_bytes\":%d,\"records\":%zu,\"records_per_s\":%.1f,"
	    "\"ack_ms\":{\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f,\"max\":%.4f,\"mean\":%.4f},"
	    "\"sent\":%llu,\"error_replies\":%llu,\"broken_connections\":%d",
	    nwriters, depth, seconds, warmup, slen, total, (double)total / seconds,
	    pct(all, total, 0.50), pct(all, total, 0.90), pct(all, total, 0.99),
	    total ? (double)all[total - 1] / 1e6 : 0.0,
	    total ? sum / (double)total / 1e6 : 0.0,
	    (unsigned long long)sent, (unsigned long long)errors, broken);
	if (why != NULL) {
		printf(",\"first_error\":\"");
		for (const char *p = why; *p; p++)
			if (*p == '"' || *p == '\\')
				printf("\\%c", *p);
			else if ((unsigned char)*p >= 0x20)
				putchar(*p);
		printf("\"");
	}
	printf("}\n");
	free(all);
	free(ws);
	return (errors || broken || total == 0) ? 1 : 0;
}
