#include "session.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "pgproto.h"
#include "records.h"
#include "catalog.h"
#include "mask/provision.h"
#include "sock.h"
#include "stamp.h"
#include "tls.h"

#define MAX_TOKEN_MESSAGE (64 * 1024)

volatile sig_atomic_t session_cancel_requested;
volatile sig_atomic_t session_terminate_requested;

static int
send_buf(struct relay_session *s, struct pgbuf *b)
{
	if (b->failed)
		return -1;
	return endpoint_write_all(&s->client, b->data, b->len, 5000);
}

void
session_send_error(struct relay_session *s, const char *severity,
    const char *sqlstate, const char *message, const char *hint)
{
	struct pgbuf b;
	pgbuf_init(&b);
	pgmsg_error(&b, severity, sqlstate, message, NULL, hint);
	send_buf(s, &b);
	pgbuf_free(&b);
}

/* Reads one startup-phase packet into a fresh buffer (caller frees). */
static uint8_t *
read_startup_packet(struct relay_session *s, long long deadline, size_t *lenp)
{
	uint8_t hdr[4];
	if (endpoint_read_full(&s->client, hdr, 4, deadline) != 0) {
		log_debug("startup from %s: %s", s->client_addr, s->client.error);
		return NULL;
	}
	uint32_t len = pg_be32(hdr);
	if (len < 8 || len > PG_MAX_STARTUP_LEN) {
		session_send_error(s, "FATAL", "08P01", "invalid length of startup packet", NULL);
		log_info("refused %s: invalid length of startup packet (%u)", s->client_addr, len);
		return NULL;
	}
	uint8_t *pkt = malloc(len);
	if (pkt == NULL)
		return NULL;
	memcpy(pkt, hdr, 4);
	if (endpoint_read_full(&s->client, pkt + 4, len - 4, deadline) != 0) {
		log_info("refused %s: incomplete startup packet: %s", s->client_addr,
		    s->client.error);
		free(pkt);
		return NULL;
	}
	*lenp = len;
	return pkt;
}

/* Reads one typed message during login; NULL if the client went away. */
static uint8_t *
read_message(struct relay_session *s, long long deadline, char *type, size_t *lenp,
    size_t max)
{
	uint8_t hdr[5];
	if (endpoint_read_full(&s->client, hdr, 5, deadline) != 0)
		return NULL;
	uint32_t len = pg_be32(hdr + 1);
	if (len < 4 || len - 4 > max) {
		session_send_error(s, "FATAL", "08P01", "invalid message length", NULL);
		return NULL;
	}
	uint8_t *body = malloc(len - 4 + 1);
	if (body == NULL)
		return NULL;
	if (endpoint_read_full(&s->client, body, len - 4, deadline) != 0) {
		free(body);
		return NULL;
	}
	*type = (char)hdr[0];
	*lenp = len - 4;
	return body;
}

/* 0 accepted, 1 refused (client told), -1 service failure (client told). */
static int
authenticate(struct relay_session *s, const char *token)
{
	struct ipc_client c;
	char err[256];
	if (ipc_client_open(&c, s->cfg->auth_socket, s->cfg->auth_timeout_ms, err,
	    sizeof err) != 0) {
		log_warn("login from %s refused: pgward-auth unavailable: %s", s->client_addr, err);
		session_send_error(s, "FATAL", "08006",
		    "pgward: the authentication service is unavailable; try again later", NULL);
		return -1;
	}
	json_t *req = json_pack("{s:i, s:s, s:s}", "v", PGWARD_IPC_VERSION, "op", "verify",
	    "token", token);
	json_t *reply = NULL;
	int rc = req ? ipc_client_call(&c, req, &reply, s->cfg->auth_timeout_ms, err,
	    sizeof err) : -1;
	json_decref(req);
	ipc_client_close(&c);
	if (rc != 0) {
		log_warn("login from %s refused: pgward-auth did not answer: %s", s->client_addr, err);
		session_send_error(s, "FATAL", "08006",
		    "pgward: the authentication service is unavailable; try again later", NULL);
		return -1;
	}
	int ok = json_is_true(json_object_get(reply, "ok"));
	if (ok && relay_identity_from_reply(&s->id, reply) != 0) {
		log_warn("login from %s refused: malformed identity from pgward-auth", s->client_addr);
		ok = 0;
	}
	json_decref(reply);
	if (!ok) {
		log_info("login from %s as role %s refused: token not accepted", s->client_addr, s->role);
		session_send_error(s, "FATAL", "28P01", "pgward: token not accepted",
		    "Pass a valid, unexpired token from your identity provider as the password.");
		return 1;
	}
	return 0;
}

static void
send_login_ok(struct relay_session *s, struct pgbuf *b)
{
	pgmsg_auth_request(b, 0);
	for (int i = 0; upstream_reported_parameters[i] != NULL; i++) {
		const char *v = PQparameterStatus(s->up.conn, upstream_reported_parameters[i]);
		if (v != NULL)
			pgmsg_parameter_status(b, upstream_reported_parameters[i], v);
	}
	pgmsg_backend_key(b, s->key.pid, s->key.secret);
	pgmsg_ready(b, 'I');
}

static void
negotiate_if_needed(struct relay_session *s, const struct pg_startup *st, struct pgbuf *b)
{
	const char *unknown[PG_STARTUP_MAX_PARAMS];
	int n = 0;
	for (int i = 0; i < st->nparams; i++)
		if (strncmp(st->names[i], "_pq_.", 5) == 0)
			unknown[n++] = st->names[i];
	if ((st->version & 0xffff) != 0 || n > 0) {
		pgmsg_negotiate_version(b, 0, unknown, n);
		send_buf(s, b);
		pgbuf_reset(b);
	}
}

/* Connect-time authorization by pgward-filter's policy (connect lines and
 * just-in-time grants); fails closed when the filter does not answer. */
static int
authorize_with_policy(struct relay_session *s)
{
	struct policy *p = &s->policy;
	if (policy_init(p, s->cfg->filter_socket, s->cfg->filter_generation_file,
	    s->cfg->filter_timeout_ms) != 0)
		return -1;
	s->policy_on = 1;
	p->user = s->id.user;
	p->groups = relay_identity_groups(&s->id);
	p->principal = relay_identity_principal(&s->id);
	p->actor = relay_identity_actor_json(&s->id);
	p->client_id = s->id.client_id;
	p->connection = s->connection;
	p->role = s->role;
	p->session = s->session_id;
	char err[300];
	long long grant_end;
	int rc = policy_connect(p, &grant_end, &s->mask_rules, err, sizeof err);
	if (rc < 0) {
		log_warn("login of %s refused: pgward-filter unavailable: %s", s->id.user, err);
		session_send_error(s, "FATAL", "08006",
		    "pgward: the policy service is unavailable; try again later", NULL);
		return -1;
	}
	if (rc > 0) {
		log_info("login of %s refused by policy (%s): may not assume role %s on %s",
		    s->id.user, err, s->role, s->connection);
		char m[512];
		snprintf(m, sizeof m, "pgward: user \"%s\" may not assume role \"%s\" on connection \"%s\"",
		    s->id.user, s->role, s->connection);
		session_send_error(s, "FATAL", "28000", m, NULL);
		return -1;
	}
	if (grant_end > 0 && grant_end < s->expires)
		s->expires = grant_end;
	s->rules_generation = policy_generation(p);
	return 0;
}

static int
login(struct relay_session *s, const struct pg_startup *st, long long deadline)
{
	const char *role = pg_startup_get(st, "user");
	const char *db = pg_startup_get(st, "database");
	if (db == NULL || *db == '\0')
		db = role;
	s->audit_off = s->cfg->audit_off;
	s->role = strdup(role);
	s->connection = strdup(db);
	if (s->role == NULL || s->connection == NULL)
		return -1;
	if (!s->client_tls && !s->is_unix) {
		log_info("login from %s refused: no TLS", s->client_addr);
		session_send_error(s, "FATAL", "28000",
		    "pgward: tokens are only accepted over TLS; connect with sslmode=require",
		    "Add sslmode=require (or verify-full) to the connection string.");
		return -1;
	}
	struct pgbuf b;
	pgbuf_init(&b);
	negotiate_if_needed(s, st, &b);
	pgmsg_auth_request(&b, 3);
	int rc = send_buf(s, &b);
	pgbuf_free(&b);
	if (rc != 0)
		return -1;
	char type;
	size_t len;
	uint8_t *body = read_message(s, deadline, &type, &len, MAX_TOKEN_MESSAGE);
	if (body == NULL)
		return -1;	/* psql hangs up here to prompt for a password */
	body[len] = '\0';
	if (type != 'p' || len == 0 || strlen((char *)body) != len - 1) {
		free(body);
		session_send_error(s, "FATAL", "08P01",
		    "expected a password message carrying the token", NULL);
		return -1;
	}
	rc = authenticate(s, (char *)body);
	OPENSSL_cleanse(body, len);
	free(body);
	if (rc != 0)
		return -1;
	if (relay_config_connection(s->cfg, s->connection) == NULL) {
		log_info("login of %s refused: no connection named \"%s\"", s->id.user, s->connection);
		char m[512];
		snprintf(m, sizeof m, "pgward: no connection named \"%s\"", s->connection);
		session_send_error(s, "FATAL", "3D000", m, NULL);
		return -1;
	}
	s->expires = s->id.exp;
	if (s->cfg->filter_socket != NULL)
		return authorize_with_policy(s);
	if (!relay_config_may_assume(s->cfg, s->connection, s->role,
	    (const char *const *)s->id.groups, s->id.ngroups)) {
		log_info("login of %s refused: may not assume role %s on %s",
		    s->id.user, s->role, s->connection);
		char m[512];
		snprintf(m, sizeof m, "pgward: user \"%s\" may not assume role \"%s\" on connection \"%s\"",
		    s->id.user, s->role, s->connection);
		session_send_error(s, "FATAL", "28000", m, NULL);
		return -1;
	}
	return 0;
}

/* Builds the masking engine (the tables its rules name are looked up with
 * the rest of the catalog: catalog.h). */
static int
setup_masking(struct relay_session *s)
{
	char err[300];
	if (masking_init(&s->masking, s->mask_rules, s->mask_key, s->mask_key_len, err,
	    sizeof err) != 0) {
		log_error("session %s: %s", s->session_id, err);
		return -1;
	}
	s->masking_on = 1;
	s->masking.database_enforced = s->mask_profile != NULL;
	const char *enc = PQparameterStatus(s->up.conn, "client_encoding");
	if (!masking_encoding_safe(enc)) {
		log_error("session %s: client_encoding %s cannot be masked safely", s->session_id,
		    enc ? enc : "(unknown)");
		return -2;
	}
	return 0;
}

/* Database-enforced masking (docs/masking.md): a person with column
 * rules in mask mode database logs in upstream as the masked role of
 * their profile. Returns 0 (s->upstream_role set), or -1 after telling
 * the client why. */
int
session_database_profile(json_t *rules, struct mask_profile **out, char *err, size_t errlen)
{
	*out = NULL;
	const char *mode = json_string_value(json_object_get(rules, "mode"));
	if (rules == NULL || mode == NULL || strcmp(mode, "database") != 0)
		return 0;
	struct mask_profile_result r = mask_profile_new(rules);
	if (r.error != NULL) {
		snprintf(err, errlen, "masking profile: %s", r.error);
		mask_profile_result_free(r);
		return -1;
	}
	*out = r.profile;
	return 0;
}

static int
choose_upstream_role(struct relay_session *s)
{
	snprintf(s->upstream_role, sizeof s->upstream_role, "%s", s->role);
	char err[300];
	if (session_database_profile(s->mask_rules, &s->mask_profile, err, sizeof err) != 0) {
		log_error("session %s: %s", s->session_id, err);
		session_send_error(s, "FATAL", "XX000",
		    "pgward: the masking profile of this person could not be built; nothing was sent",
		    NULL);
		return -1;
	}
	if (s->mask_profile == NULL)
		return 0;
	if (mask_profile_role(s->mask_profile, s->role, s->upstream_role) != 0) {
		char m[300];
		snprintf(m, sizeof m, "pgward: role \"%s\" is too long to have a masked role "
		    "(\"%s_m_%s\" is over 63 bytes)", s->role, s->role, s->mask_profile->hex);
		session_send_error(s, "FATAL", "42622", m, NULL);
		return -1;
	}
	return 0;
}

/* The database must refuse the raw masked columns to the role logged in
 * and to every role it can become (SET ROLE): pgward-mask check's own
 * query (mask_check_sql: has_column_privilege for each column, the
 * profile's views, the role's memberships and search_path), run before
 * anything of the client's reaches the server, with only pg_catalog on
 * the search_path. Returns 0, or -1 after telling the client what is
 * open. It never falls back to masking on the wire alone. */
static int
verify_database_masking(struct relay_session *s)
{
	struct mask_sql_result q = mask_check_sql(s->mask_profile, s->upstream_role);
	if (q.error != NULL) {
		log_error("session %s: masking check: %s", s->session_id, q.error);
		mask_sql_result_free(q);
		return -1;
	}
	PGresult *r = PQexec(s->up.conn, "BEGIN READ ONLY; SET LOCAL search_path = pg_catalog");
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	r = ok ? PQexec(s->up.conn, q.sql) : NULL;
	mask_sql_result_free(q);
	ok = r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK && PQnfields(r) == 1;
	if (!ok)
		log_error("session %s: the masking check failed: %s", s->session_id,
		    r ? PQresultErrorMessage(r) : PQerrorMessage(s->up.conn));
	PGresult *end = PQexec(s->up.conn, ok ? "COMMIT" : "ROLLBACK");
	if (PQresultStatus(end) != PGRES_COMMAND_OK)
		ok = 0;
	PQclear(end);
	if (!ok) {
		PQclear(r);
		session_send_error(s, "FATAL", "XX000",
		    "pgward: the database's masking could not be verified; nothing was sent", NULL);
		return -1;
	}
	if (PQntuples(r) == 0) {
		PQclear(r);
		return 0;
	}
	char m[700];
	snprintf(m, sizeof m, "pgward: masking is not enforced by the database for this person "
	    "(masked role \"%s\"): %s%s; the session is refused", s->upstream_role,
	    PQgetvalue(r, 0, 0), PQntuples(r) > 1 ? " (and more)" : "");
	for (int i = 0; i < PQntuples(r); i++)
		log_error("session %s of %s refused: masked role %s: %s", s->session_id, s->id.user,
		    s->upstream_role, PQgetvalue(r, i, 0));
	PQclear(r);
	session_send_error(s, "FATAL", "42501", m,
	    "Provision the masked role with pgward-mask sql and verify it with pgward-mask check.");
	return -1;
}

static int
connect_upstream(struct relay_session *s, const struct pg_startup *st)
{
	if (choose_upstream_role(s) != 0)
		return -1;
	char *actor = relay_identity_actor_text(&s->id);
	if (actor == NULL)
		return -1;
	struct stamp_identity who = { s->id.user, relay_identity_principal(&s->id), actor,
		s->session_id };
	struct stamp_result stamp = stamp_build(st, &who);
	free(actor);
	if (stamp.error != NULL) {
		log_info("session %s of %s refused: %s", s->session_id, s->id.user, stamp.error);
		char m[256];
		snprintf(m, sizeof m, "pgward: %s", stamp.error);
		session_send_error(s, "FATAL", stamp.sqlstate, m, NULL);
		return -1;
	}
	struct upstream_request req = {
		.conninfo = relay_config_connection(s->cfg, s->connection)->conninfo,
		.role = s->upstream_role,
		.passfile = s->cfg->passfile,
		.options = stamp.options,
		.application_name = stamp.application_name,
		.client_encoding = stamp.client_encoding,
		.timeout_s = s->cfg->upstream_timeout_s,
	};
	char err[1024];
	int rc = upstream_connect(&s->up, &req, err, sizeof err);
	stamp_result_free(&stamp);
	if (rc == 0 && s->mask_profile != NULL && verify_database_masking(s) != 0)
		return -1;
	int mrc = rc == 0 && s->mask_rules != NULL ? setup_masking(s) : 0;
	if (mrc == -2) {
		session_send_error(s, "FATAL", "22023", "pgward: this client_encoding cannot be "
		    "masked safely (its characters can hold ASCII bytes); use UTF8", NULL);
		return -1;
	}
	if (mrc != 0) {
		session_send_error(s, "FATAL", "XX000",
		    "pgward: masking could not be set up for this session; nothing was sent", NULL);
		return -1;
	}
	if (rc == 0 && catalog_refresh(s) != 0) {
		session_send_error(s, "FATAL", "XX000", "pgward: the catalog of views, rules and "
		    "masked columns could not be read; nothing was sent", NULL);
		return -1;
	}
	if (rc == 0 && !s->audit_off) {
		audit_init(&s->audit, s->cfg->audit_socket, s->cfg->audit_timeout_ms);
		json_t *rec = record_session_start(s);
		uint64_t seq;
		if (rec == NULL || audit_append_durable(&s->audit, rec, &seq, err, sizeof err) != 0) {
			if (rec == NULL)
				snprintf(err, sizeof err, "out of memory");
			log_warn("session %s of %s refused: audit record not written: %s",
			    s->session_id, s->id.user, err);
			session_send_error(s, "FATAL", "58030",
			    "pgward: the audit log is unavailable; try again later", NULL);
			json_decref(rec);
			audit_finish(&s->audit, 0);
			return -1;
		}
		json_decref(rec);
	}
	if (rc != 0) {
		log_warn("session %s: unable to connect to upstream %s as %s: %s",
		    s->session_id, s->connection, s->upstream_role, err);
		char m[512];
		if (s->mask_profile != NULL)
			snprintf(m, sizeof m, "pgward: unable to connect to the database of connection "
			    "\"%s\" as the masked role \"%s\" that masks this person's columns "
			    "(provision it with pgward-mask sql)", s->connection, s->upstream_role);
		else
			snprintf(m, sizeof m, "pgward: unable to connect to the database of connection "
			    "\"%s\" as role \"%s\"", s->connection, s->role);
		session_send_error(s, "FATAL", "08006", m,
		    "The operator's log of pgward-relay says why.");
		return -1;
	}
	return 0;
}

static void
make_session_id(char out[33])
{
	unsigned char r[16];
	if (RAND_bytes(r, sizeof r) != 1)
		log_fatal(PGWARD_EXIT_TEMP, "unable to get random bytes");
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static char *
join_groups(const struct relay_identity *id)
{
	size_t n = 1;
	for (int i = 0; i < id->ngroups; i++)
		n += strlen(id->groups[i]) + 1;
	char *s = calloc(1, n);
	if (s == NULL)
		return NULL;
	for (int i = 0; i < id->ngroups; i++) {
		if (i > 0)
			strcat(s, ",");
		strcat(s, id->groups[i]);
	}
	return s;
}

int
session_run(struct relay_session *s)
{
	long long deadline = sock_now_ms() + s->cfg->startup_timeout_ms;
	endpoint_init(&s->client, s->client_fd, NULL);
	sock_set_nonblock(s->client_fd, 1);
	struct pg_startup st;
	uint8_t *pkt = NULL;
	for (;;) {
		size_t len;
		free(pkt);
		pkt = read_startup_packet(s, deadline, &len);
		if (pkt == NULL)
			return 0;
		st = pg_startup_parse(pkt, len);
		if (st.kind == PG_STARTUP_INVALID) {
			log_info("refused %s: %s", s->client_addr, st.error);
			session_send_error(s, "FATAL", st.sqlstate, st.error, NULL);
			free(pkt);
			return 0;
		}
		if (st.kind == PG_STARTUP_MESSAGE)
			break;
		if (st.kind == PG_STARTUP_CANCEL) {
			s->cancel_request.pid = st.cancel_pid;
			s->cancel_request.secret = st.cancel_key;
			free(pkt);
			return 2;	/* the listener's child handles it: see main.c */
		}
		if (s->client_tls) {
			session_send_error(s, "FATAL", "08P01",
			    "encryption requested twice", NULL);
			free(pkt);
			return 0;
		}
		int accept_tls = st.kind == PG_STARTUP_SSL && s->tls != NULL;
		char answer = accept_tls ? 'S' : 'N';
		if (endpoint_write_all(&s->client, &answer, 1, 5000) != 0) {
			free(pkt);
			return 0;
		}
		if (accept_tls) {
			char err[256];
			SSL *ssl = tls_accept(s->tls, s->client_fd, deadline, err, sizeof err);
			if (ssl == NULL) {
				log_info("refused %s: %s", s->client_addr, err);
				free(pkt);
				return 0;
			}
			endpoint_init(&s->client, s->client_fd, ssl);
			s->client_tls = 1;
		}
	}
	int status = 0;
	make_session_id(s->session_id);
	if (s->over_limit) {
		log_warn("refused %s: max-sessions (%d) reached", s->client_addr, s->cfg->max_sessions);
		session_send_error(s, "FATAL", "53300", "sorry, too many clients already", NULL);
	} else if (login(s, &st, deadline) == 0) {
		if (connect_upstream(s, &st) == 0) {
			struct pgbuf b;
			pgbuf_init(&b);
			send_login_ok(s, &b);
			int rc = send_buf(s, &b);
			pgbuf_free(&b);
			char *groups = join_groups(&s->id);
			char *actor = relay_identity_actor_text(&s->id);
			log_info("session %s started: user=%s groups=%s sub=%s principal=%s actor=%s "
			    "client_id=%s role=%s connection=%s client=%s tls=%s backend_pid=%d",
			    s->session_id, s->id.user, groups ? groups : "", s->id.sub,
			    relay_identity_principal(&s->id), actor ? actor : "",
			    s->id.client_id ? s->id.client_id : "", s->role, s->connection,
			    s->client_addr, s->client.ssl ? SSL_get_version(s->client.ssl) : "none",
			    s->up.backend_pid);
			free(groups);
			free(actor);
			const char *why = rc == 0 ? proxy_run(s) : "client went away during login";
			log_info("session %s ended: %s", s->session_id, why);
			if (!s->audit_off) {
				json_t *rec = record_session_end(s, why, s->statements);
				if (rec != NULL)
					audit_append_later(&s->audit, rec);
				audit_finish(&s->audit, s->cfg->audit_timeout_ms);
			}
		}
	}
	free(pkt);
	upstream_close(&s->up);
	if (s->client.ssl != NULL) {
		SSL_shutdown(s->client.ssl);
		SSL_free(s->client.ssl);
		s->client.ssl = NULL;
	}
	if (s->policy_on)
		policy_free(&s->policy);
	if (s->masking_on)
		masking_free(&s->masking);
	json_decref(s->mask_rules);
	mask_profile_free(s->mask_profile);
	relay_identity_free(&s->id);
	free(s->role);
	free(s->connection);
	return status;
}
