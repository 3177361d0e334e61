#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "auth/file.h"
#include "daemon.h"
#include "log.h"
#include "login/cache.h"
#include "login/grant.h"

#define USAGE \
	"usage: pgward-login -i ISSUER -c CLIENT_ID [-a RESOURCE] [-s SCOPE]\n" \
	"       pgward-login -i ISSUER -c CLIENT_ID --client-credentials\n" \
	"                    [--secret-file FILE] [-a RESOURCE] [-s SCOPE]\n" \
	"       pgward-login -i ISSUER -c CLIENT_ID --exchange TOKEN_FILE\n" \
	"                    [--secret-file FILE] [-a RESOURCE] [-s SCOPE]\n" \
	"prints an access token on stdout; a person logs in with the device flow,\n" \
	"the tokens cached in $XDG_CACHE_HOME/pgward (default ~/.cache/pgward)\n" \
	"  -i ISSUER          OpenID issuer (https; http only to 127.0.0.1 or\n" \
	"                     localhost) [$PGWARD_ISSUER]\n" \
	"  -c CLIENT_ID       OAuth client [$PGWARD_CLIENT_ID]\n" \
	"  -a RESOURCE        resource indicator (RFC 8707), the audience asked for\n" \
	"  -s SCOPE           scope (default: openid offline_access pgward for a\n" \
	"                     person, pgward for an agent)\n" \
	"  --client-credentials  an agent: the client credentials grant, no cache\n" \
	"  --exchange FILE    RFC 8693 token exchange of the access token in FILE\n" \
	"  --secret-file FILE the client secret [$PGWARD_CLIENT_SECRET]\n" \
	"  -h, -V             usage, version\n"

/* A cached access token is reused only with this much life left. */
#define LOGIN_MIN_LIFE 30
#define LOGIN_MAX_SECRET 4096
#define LOGIN_MAX_SUBJECT (64 * 1024)

enum { OPT_CC = 256, OPT_EXCHANGE, OPT_SECRET_FILE };

static _Noreturn void login_usage(const char *why);
static char *login_read_secret(const char *path, size_t max, const char *what);
static int login_exit_code(const struct grant_token *t);
static void login_print(const char *token);
static void login_person(const struct grant_client *c);
static void login_agent(const struct grant_client *c, const char *subject);

static _Noreturn void
login_usage(const char *why)
{
	log_error("%s", why);
	fputs(USAGE, stderr);
	exit(PGWARD_EXIT_USAGE);
}

/* A whole small file, one trailing newline dropped. */
static char *
login_read_secret(const char *path, size_t max, const char *what)
{
	char err[512];
	size_t len;
	char *s = auth_file_read(path, max, &len, err, sizeof err);
	if (s == NULL)
		log_fatal(PGWARD_EXIT_USAGE, "unable to read the %s: %s", what, err);
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		s[--len] = '\0';
	if (len == 0 || strlen(s) != len)
		log_fatal(PGWARD_EXIT_USAGE, "%s: no %s in it", path, what);
	return s;
}

/* The issuer's refusal is final (1); anything else may pass (111). */
static int
login_exit_code(const struct grant_token *t)
{
	return t->refused != NULL ? 1 : PGWARD_EXIT_TEMP;
}

static void
login_print(const char *token)
{
	if (printf("%s\n", token) < 0 || fflush(stdout) != 0)
		log_fatal(PGWARD_EXIT_TEMP, "stdout: write error");
}

static void
login_person(const struct grant_client *c)
{
	char err[512];
	char *path = cache_path(c->issuer, c->client_id, err, sizeof err);
	if (path == NULL)
		log_fatal(PGWARD_EXIT_USAGE, "%s", err);
	struct cache_entry ce;
	switch (cache_read(path, c->issuer, c->client_id, &ce, err, sizeof err)) {
	case CACHE_OK:
		break;
	case CACHE_ABSENT:
		break;
	case CACHE_REFUSED:
		log_fatal(PGWARD_EXIT_USAGE, "%s", err);
	case CACHE_ERROR:
		/* a damaged cache holds nothing we need: log in again */
		log_warn("%s; logging in again", err);
		break;
	}
	if (ce.access_token != NULL && ce.expires_at - time(NULL) >= LOGIN_MIN_LIFE) {
		login_print(ce.access_token);
		cache_entry_free(&ce);
		free(path);
		return;
	}
	struct grant_endpoints ep = grant_discover(c->issuer);
	if (ep.error != NULL)
		log_fatal(PGWARD_EXIT_TEMP, "unable to discover the issuer: %s", ep.error);
	struct grant_token t = { 0 };
	if (ce.refresh_token != NULL) {
		t = grant_refresh(c, &ep, ce.refresh_token);
		if (t.error != NULL && t.refused == NULL)
			log_fatal(PGWARD_EXIT_TEMP, "unable to refresh the token: %s", t.error);
		if (t.error != NULL) {
			log_warn("the refresh token was refused (%s); logging in again", t.refused);
			grant_token_free(&t);
		} else if (t.refresh_token == NULL) {
			/* the issuer may keep the refresh token the same (RFC 6749 6) */
			t.refresh_token = ce.refresh_token;
			ce.refresh_token = NULL;
		}
	}
	if (t.access_token == NULL) {
		t = grant_device(c, &ep);
		if (t.error != NULL)
			log_fatal(login_exit_code(&t), "unable to log in: %s", t.error);
	}
	struct cache_entry ne = {
		.access_token = t.access_token,
		.refresh_token = t.refresh_token,
		.expires_at = t.expires_at,
	};
	if (cache_write(path, c->issuer, c->client_id, &ne, err, sizeof err) != 0)
		log_warn("the token is not cached: %s", err);
	login_print(t.access_token);
	grant_token_free(&t);
	grant_endpoints_free(&ep);
	cache_entry_free(&ce);
	free(path);
}

static void
login_agent(const struct grant_client *c, const char *subject)
{
	struct grant_endpoints ep = grant_discover(c->issuer);
	if (ep.error != NULL)
		log_fatal(PGWARD_EXIT_TEMP, "unable to discover the issuer: %s", ep.error);
	struct grant_token t = subject != NULL ? grant_exchange(c, &ep, subject) :
	    grant_client_credentials(c, &ep);
	if (t.error != NULL)
		log_fatal(login_exit_code(&t), "unable to get a token: %s", t.error);
	login_print(t.access_token);
	grant_token_free(&t);
	grant_endpoints_free(&ep);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "client-credentials", no_argument, NULL, OPT_CC },
		{ "exchange", required_argument, NULL, OPT_EXCHANGE },
		{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct grant_client c = {
		.issuer = getenv("PGWARD_ISSUER"),
		.client_id = getenv("PGWARD_CLIENT_ID"),
	};
	const char *secret_file = NULL, *exchange = NULL;
	int cc = 0, opt;

	log_init("pgward-login");
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "i:c:a:s:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i': c.issuer = optarg; break;
		case 'c': c.client_id = optarg; break;
		case 'a': c.resource = optarg; break;
		case 's': c.scope = optarg; break;
		case OPT_CC: cc = 1; break;
		case OPT_EXCHANGE: exchange = optarg; break;
		case OPT_SECRET_FILE: secret_file = optarg; break;
		case 'h':
			fputs(USAGE, stdout);
			return 0;
		case 'V':
			printf("pgward-login %s\n", PGWARD_VERSION);
			return 0;
		default:
			login_usage("unknown option or missing argument");
		}
	}
	if (optind != argc)
		login_usage("no operands are taken");
	if (c.issuer == NULL || *c.issuer == '\0')
		login_usage("an issuer is required (-i or $PGWARD_ISSUER)");
	if (c.client_id == NULL || *c.client_id == '\0')
		login_usage("a client id is required (-c or $PGWARD_CLIENT_ID)");
	if (cc && exchange != NULL)
		login_usage("--client-credentials and --exchange exclude each other");
	if (!cc && exchange == NULL && secret_file != NULL)
		login_usage("--secret-file goes with --client-credentials or --exchange");
	/* refuse before anything is sent in clear text */
	if (!grant_issuer_allowed(c.issuer))
		log_fatal(PGWARD_EXIT_USAGE, "%s: the issuer must be an https URL "
		    "(http only to 127.0.0.1 or localhost)", c.issuer);

	char *secret = NULL, *subject = NULL;
	if (cc || exchange != NULL) {
		const char *env = getenv("PGWARD_CLIENT_SECRET");
		if (secret_file != NULL)
			secret = login_read_secret(secret_file, LOGIN_MAX_SECRET, "client secret");
		else if (env != NULL && *env != '\0')
			secret = strdup(env);
		else
			login_usage("a client secret is required (--secret-file or $PGWARD_CLIENT_SECRET)");
		if (secret == NULL)
			log_fatal(PGWARD_EXIT_TEMP, "out of memory");
		c.secret = secret;
	}
	if (exchange != NULL)
		subject = login_read_secret(exchange, LOGIN_MAX_SUBJECT, "subject token");

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		log_fatal(PGWARD_EXIT_TEMP, "unable to start libcurl");
	if (cc || exchange != NULL)
		login_agent(&c, subject);
	else
		login_person(&c);
	curl_global_cleanup();
	free(secret);
	free(subject);
	return 0;
}
