/* Arrays and records in text and binary: round trips of what a real
 * PostgreSQL sends (pgvalue_fixture.h, from pgvalue_fixture.py), masking
 * checked against the server's own output for the masked value, every
 * truncation point, malformed literals, the depth limit. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mask/pgvalue.h"

#include "pgvalue_fixture.h"

#define NCASES (sizeof pgv_cases / sizeof pgv_cases[0])

static size_t
unhex(const char *h, char **out)
{
	size_t n = strlen(h) / 2;
	char *b = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(h + 2 * i, "%2x", &v), 1);
		b[i] = (char)v;
	}
	*out = b;
	return n;
}

static char *
tohex(const char *b, size_t n)
{
	char *h = malloc(2 * n + 1);
	for (size_t i = 0; i < n; i++)
		sprintf(h + 2 * i, "%02x", (unsigned char)b[i]);
	h[2 * n] = '\0';
	return h;
}

/* An exact-size heap copy, so ASan sees any read past the end. */
static char *
dup(const char *s, size_t n)
{
	char *d = malloc(n ? n : 1);
	memcpy(d, s, n);
	return d;
}

static int
lookup(void *arg, uint32_t oid, struct pgvalue_type *t)
{
	(void)arg;
	for (size_t i = 0; i < sizeof pgv_utypes / sizeof pgv_utypes[0]; i++) {
		const struct pgv_utype *u = &pgv_utypes[i];
		if (u->oid != oid)
			continue;
		t->kind = u->kind;
		t->elem = u->elem;
		t->delim = u->delim;
		t->nfields = u->nfields;
		t->fields = u->fields;
		return 0;
	}
	return -1;
}

/* The transform pgv_m of pgvalue_fixture.py. */
static int
pgv_m(const char *s, size_t n, struct mask_buf *out, int *out_null)
{
	out->len = 0;
	if (n == 6 && memcmp(s, "nullme", 6) == 0) {
		*out_null = 1;
		return 1;
	}
	const char *r = NULL;
	if (n == 7 && memcmp(s, "mkempty", 7) == 0)
		r = "";
	else if (n == 6 && memcmp(s, "mknull", 6) == 0)
		r = "NULL";
	size_t need = r ? strlen(r) : n % 2 == 0 ? n + 2 : n + 3;
	if (out->cap < need) {
		out->data = realloc(out->data, need);
		out->cap = need;
	}
	if (r != NULL) {
		memcpy(out->data, r, need);
	} else if (n % 2 == 0) {
		out->data[0] = '[';
		if (n > 0)
			memcpy(out->data + 1, s, n);
		out->data[n + 1] = ']';
	} else {
		memcpy(out->data, s, n);
		memcpy(out->data + n, " \"\\", 3);
	}
	out->len = need;
	return 1;
}

struct seen {
	int leaves, text, other;
	uint32_t composite[64];
	int field[64];
	char data[64][40];
};

/* Masks text and varchar (and, in text, leaves of unknown type), keeps the rest. */
static int
leaf_mask(void *arg, const struct pgvalue_leaf *l, struct mask_buf *out, int *out_null)
{
	struct seen *s = arg;
	if (s != NULL && s->leaves < 64) {
		s->composite[s->leaves] = l->composite;
		s->field[s->leaves] = l->field;
		snprintf(s->data[s->leaves], sizeof s->data[0], "%.*s", (int)l->len, l->data);
	}
	if (s != NULL)
		s->leaves++;
	if (l->type == 25 || l->type == 1043 || (l->type == 0 && !l->binary))
		return pgv_m(l->data, l->len, out, out_null);
	return 0;
}

/* Replaces every leaf by itself: the whole value is written again. */
static int
leaf_same(void *arg, const struct pgvalue_leaf *l, struct mask_buf *out, int *out_null)
{
	(void)arg;
	(void)out_null;
	if (l->binary && l->kind != PGVALUE_TEXT)
		return 0;
	out->len = 0;
	if (l->len > out->cap) {
		out->data = realloc(out->data, l->len);
		out->cap = l->len;
	}
	if (l->len)
		memcpy(out->data, l->data, l->len);
	out->len = l->len;
	return 1;
}

static int
leaf_keep(void *arg, const struct pgvalue_leaf *l, struct mask_buf *out, int *out_null)
{
	(void)arg, (void)l, (void)out, (void)out_null;
	return 0;
}

static const struct pgvalue_masker M_MASK = { lookup, NULL, leaf_mask, NULL };
static const struct pgvalue_masker M_SAME = { lookup, NULL, leaf_same, NULL };
static const struct pgvalue_masker M_KEEP = { lookup, NULL, leaf_keep, NULL };

/* Runs pgvalue_mask; returns the value written (the input on 0), "NULL" or NULL on error. */
static char *
run(struct pgvalue *pv, const struct pgvalue_masker *m, uint32_t oid, int binary,
    const char *in, size_t len, size_t *outlen, int *rc)
{
	struct mask_buf out = { 0 };
	int isnull = 0;
	char *copy = dup(in, len);
	*rc = pgvalue_mask(pv, m, oid, binary, copy, len, &out, &isnull);
	free(copy);
	char *res = NULL;
	if (*rc == 1 && isnull) {
		res = strdup("NULL");
		*outlen = 4;
	} else if (*rc == 1) {
		res = dup(out.data, out.len);
		*outlen = out.len;
	} else if (*rc == 0) {
		res = dup(in, len);
		*outlen = len;
	}
	mask_buf_free(&out);
	ck_assert_int_eq(pv->depth, 0);
	return res;
}

static void
expect_text(const struct pgvalue_masker *m, uint32_t oid, const char *in, const char *want)
{
	struct pgvalue pv = { 0 };
	size_t n;
	int rc;
	char *got = run(&pv, m, oid, 0, in, strlen(in), &n, &rc);
	ck_assert_msg(got != NULL, "%s: %s", in, pv.error);
	ck_assert_msg(n == strlen(want) && memcmp(got, want, n) == 0, "%s: got %.*s, want %s", in,
	    (int)n, got, want);
	free(got);
	pgvalue_free(&pv);
}

static void
expect_fail(uint32_t oid, int binary, const char *in, size_t len, const char *why)
{
	struct pgvalue pv = { 0 };
	size_t n;
	int rc;
	char *got = run(&pv, &M_SAME, oid, binary, in, len, &n, &rc);
	if (rc != -1) {
		char *h = tohex(in, len);
		ck_abort_msg("accepted %s (hex) as %.*s", h, (int)n, got ? got : "");
	}
	ck_assert_msg(pv.error[0] != '\0', "no reason for %.*s", (int)len, in);
	if (why != NULL)
		ck_assert_msg(strstr(pv.error, why) != NULL, "%.*s: \"%s\" lacks \"%s\"", (int)len,
		    in, pv.error, why);
	free(got);
	pgvalue_free(&pv);
}

START_TEST(builtin_kinds_match_the_server)
{
	for (size_t i = 0; i < sizeof pgv_server_types / sizeof pgv_server_types[0]; i++) {
		struct pgvalue_type t;
		uint32_t oid = pgv_server_types[i].oid;
		ck_assert_int_eq(pgvalue_builtin(oid, &t), 0);
		ck_assert_msg((int)t.kind == pgv_server_types[i].kind, "oid %u: kind %d, want %d",
		    oid, t.kind, pgv_server_types[i].kind);
		ck_assert_int_eq(pgvalue_kind(oid), pgv_server_types[i].kind);
		if (t.kind == PGVALUE_ARRAY) {
			ck_assert_msg(t.elem == pgv_server_types[i].elem, "oid %u elem %u", oid, t.elem);
			ck_assert_msg(t.delim == pgv_server_types[i].delim, "oid %u delim", oid);
		}
	}
	ck_assert_int_eq(pgvalue_kind(0), PGVALUE_UNKNOWN);
	ck_assert_int_eq(pgvalue_kind(16384), PGVALUE_UNKNOWN);
	ck_assert_int_eq(pgvalue_kind(1020), PGVALUE_ARRAY);
	ck_assert_int_eq(pgvalue_kind(3802), PGVALUE_TEXT);
	ck_assert_int_eq(pgvalue_kind(23), PGVALUE_OTHER);
}
END_TEST

/* Every leaf replaced by itself: the server's bytes come out again. */
START_TEST(server_values_round_trip)
{
	struct pgvalue pv = { 0 };
	for (size_t i = 0; i < NCASES; i++) {
		const struct pgv_case *c = &pgv_cases[i];
		size_t n;
		int rc;
		char *got = run(&pv, &M_SAME, c->oid, 0, c->text, strlen(c->text), &n, &rc);
		ck_assert_msg(got != NULL, "%s text: %s", c->name, pv.error);
		ck_assert_msg(n == strlen(c->text) && memcmp(got, c->text, n) == 0,
		    "%s text:\n got %.*s\nwant %s", c->name, (int)n, got, c->text);
		free(got);

		char *bin;
		size_t blen = unhex(c->bin, &bin);
		got = run(&pv, &M_SAME, c->oid, 1, bin, blen, &n, &rc);
		ck_assert_msg(got != NULL, "%s binary: %s", c->name, pv.error);
		char *h = tohex(got, n);
		ck_assert_msg(strcmp(h, c->bin) == 0, "%s binary:\n got %s\nwant %s", c->name, h,
		    c->bin);
		free(h);
		free(got);
		free(bin);
	}
	pgvalue_free(&pv);
}
END_TEST

/* The low-level walkers on their own, with a callback that keeps all. */
static int
keep_elem(struct pgvalue *pv, void *arg, const struct pgvalue_elem *el, struct mask_buf *out,
    int *out_null)
{
	(void)pv, (void)el, (void)out, (void)out_null;
	(*(int *)arg)++;
	return 0;
}

START_TEST(walkers_keep_gives_canonical_output)
{
	struct pgvalue pv = { 0 };
	struct mask_buf out = { 0 };
	for (size_t i = 0; i < NCASES; i++) {
		const struct pgv_case *c = &pgv_cases[i];
		struct pgvalue_type t;
		if (pgvalue_builtin(c->oid, &t) != 0)
			ck_assert_int_eq(lookup(NULL, c->oid, &t), 0);
		int calls = 0, rc;
		if (t.kind == PGVALUE_ARRAY)
			rc = pgvalue_text_array(&pv, c->text, strlen(c->text), t.delim, keep_elem,
			    &calls, &out);
		else
			rc = pgvalue_text_record(&pv, c->text, strlen(c->text), keep_elem, &calls, &out);
		ck_assert_msg(rc == 0, "%s: %s", c->name, pv.error);
		ck_assert_msg(out.len == strlen(c->text) && memcmp(out.data, c->text, out.len) == 0,
		    "%s: %.*s", c->name, (int)out.len, out.data);
		ck_assert_int_eq(t.kind == PGVALUE_ARRAY ? pgvalue_text_array(&pv, c->text,
		    strlen(c->text), t.delim, NULL, NULL, NULL) : pgvalue_text_record(&pv, c->text,
		    strlen(c->text), NULL, NULL, NULL), 0);

		char *bin;
		size_t blen = unhex(c->bin, &bin);
		int bcalls = 0;
		if (t.kind == PGVALUE_ARRAY)
			rc = pgvalue_bin_array(&pv, (const uint8_t *)bin, blen, keep_elem, &bcalls, &out);
		else
			rc = pgvalue_bin_record(&pv, (const uint8_t *)bin, blen, keep_elem, &bcalls, &out);
		ck_assert_msg(rc == 0, "%s binary: %s", c->name, pv.error);
		ck_assert(out.len == blen && memcmp(out.data, bin, blen) == 0);
		ck_assert_msg(calls == bcalls, "%s: %d text elements, %d binary", c->name, calls,
		    bcalls);
		free(bin);
	}
	mask_buf_free(&out);
	pgvalue_free(&pv);
}
END_TEST

/* Masked by the C callback = masked by the server (pgv_m in SQL). */
START_TEST(masking_matches_the_server)
{
	struct pgvalue pv = { 0 };
	int text_compared = 0;
	for (size_t i = 0; i < NCASES; i++) {
		const struct pgv_case *c = &pgv_cases[i];
		size_t n;
		int rc;
		char *got;
		if (c->mtext != NULL) {
			got = run(&pv, &M_MASK, c->oid, 0, c->text, strlen(c->text), &n, &rc);
			ck_assert_msg(got != NULL, "%s text: %s", c->name, pv.error);
			ck_assert_msg(n == strlen(c->mtext) && memcmp(got, c->mtext, n) == 0,
			    "%s text:\n got %.*s\nwant %s", c->name, (int)n, got, c->mtext);
			ck_assert_int_eq(rc, strcmp(c->text, c->mtext) != 0);
			free(got);
			text_compared++;
		}
		char *bin;
		size_t blen = unhex(c->bin, &bin);
		got = run(&pv, &M_MASK, c->oid, 1, bin, blen, &n, &rc);
		ck_assert_msg(got != NULL, "%s binary: %s", c->name, pv.error);
		char *h = tohex(got, n);
		ck_assert_msg(strcmp(h, c->mbin) == 0, "%s binary:\n got %s\nwant %s", c->name, h,
		    c->mbin);
		ck_assert_int_eq(rc, strcmp(c->bin, c->mbin) != 0);
		free(h);
		free(got);
		free(bin);
	}
	ck_assert_int_ge(text_compared, 30);
	pgvalue_free(&pv);
}
END_TEST

START_TEST(every_truncation_fails)
{
	struct pgvalue pv = { 0 };
	for (size_t i = 0; i < NCASES; i++) {
		const struct pgv_case *c = &pgv_cases[i];
		char *bin;
		size_t blen = unhex(c->bin, &bin);
		for (size_t cut = 0; cut < blen; cut++) {
			for (int k = 0; k < 2; k++) {
				size_t n;
				int rc;
				char *got = run(&pv, k ? &M_MASK : &M_KEEP, c->oid, 1, bin, cut, &n, &rc);
				ck_assert_msg(rc == -1, "%s: binary cut at %zu accepted", c->name, cut);
				ck_assert(pv.error[0] != '\0');
				free(got);
			}
		}
		free(bin);
		size_t tlen = strlen(c->text);
		for (size_t cut = 0; cut < tlen; cut++) {
			size_t n;
			int rc;
			char *got = run(&pv, &M_MASK, c->oid, 0, c->text, cut, &n, &rc);
			ck_assert_msg(rc == -1, "%s: text cut at %zu accepted: %.*s", c->name, cut,
			    (int)n, got);
			free(got);
		}
	}
	pgvalue_free(&pv);
}
END_TEST

/* Bytes changed one at a time: an answer or an error, never a crash. */
START_TEST(mutations_never_crash)
{
	struct pgvalue pv = { 0 };
	static const unsigned char vals[] = { 0x00, 0x01, 0x7f, 0xff, '"', '\\', '{', '}', ',', '(', ')' };
	for (size_t i = 0; i < NCASES; i++) {
		const struct pgv_case *c = &pgv_cases[i];
		char *bin;
		size_t blen = unhex(c->bin, &bin);
		for (size_t pos = 0; pos < blen; pos++) {
			for (size_t v = 0; v < 4; v++) {
				char *m = dup(bin, blen);
				m[pos] = (char)vals[v];
				size_t n;
				int rc;
				free(run(&pv, &M_MASK, c->oid, 1, m, blen, &n, &rc));
				free(m);
			}
		}
		free(bin);
		size_t tlen = strlen(c->text);
		for (size_t pos = 0; pos < tlen; pos++) {
			for (size_t v = 0; v < sizeof vals; v++) {
				char *m = dup(c->text, tlen);
				m[pos] = (char)vals[v];
				size_t n;
				int rc;
				char *got = run(&pv, &M_SAME, c->oid, 0, m, tlen, &n, &rc);
				/* what comes out must parse again as the same value */
				if (rc == 1) {
					size_t n2;
					int rc2;
					char *again = run(&pv, &M_SAME, c->oid, 0, got, n, &n2, &rc2);
					ck_assert_msg(again != NULL && n2 == n && memcmp(again, got, n) == 0,
					    "%s: %.*s not stable", c->name, (int)n, got);
					free(again);
				}
				free(got);
				free(m);
			}
		}
	}
	pgvalue_free(&pv);
}
END_TEST

START_TEST(malformed_arrays)
{
	static const char *bad[] = {
		"", " ", "{", "}", "{a", "{a,}", "{,a}", "{a,,b}", "{,}", "{{a},b}", "{a,{b}}",
		"{{a},{b,c}}", "{{a},{{b}}}", "{{{a}},{b}}", "{\"a}", "{a\"b\"}", "{\"a\"b}",
		"{\"a\" \"b\"}", "{\"a\"\\b}", "{a\\", "{a\\}", "{{}}", "{{},{}}", "{} x", "{a} x", "x{a}",
		"[1:2]{a,b}", "[1:2]={a}", "[2:1]={a}", "[1:2={a,b}", "[a]={x}", "[1:2][1:1]={a,b}",
		"[1:1]={}", "[99999999999:1]={a}", "[1:1] [1:1]={a}x", "[1 :1]={a}", "[]={a}",
		"{{{{{{{a}}}}}}}", "[1:1][1:1][1:1][1:1][1:1][1:1][1:1]={{{{{{{a}}}}}}}", "{a}}",
		"{{a}", "{{a}}}", "{a{b}}", "{a}{b}", "=", "[1:1]=", "{\"\\\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_fail(1009, 0, bad[i], strlen(bad[i]), NULL);
	expect_fail(1009, 0, "{a\0b}", 5, "NUL");
	expect_fail(1009, 0, "{\"a\0b\"}", 7, NULL);
	expect_fail(1009, 0, "{\"a\\\0b\"}", 8, NULL);
	expect_fail(1009, 0, "{a\\\0b}", 6, NULL);
	expect_fail(1009, 0, "{{a},{b,c}}", 11, "different lengths");
	expect_fail(1009, 0, "{{{{{{{a}}}}}}}", 15, "more than 6 dimensions");
	expect_fail(1009, 0, "[1:3]={a,b}", 11, "dimensions do not match");
}
END_TEST

START_TEST(malformed_records)
{
	static const char *bad[] = {
		"", " ", "(", ")", "(a", "(a,", "(\"a)", "(a)x", "x(a)", "(a\\", "(a\\)", "(\"a\"\"",
		"(a))", "a", "{a}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_fail(2249, 0, bad[i], strlen(bad[i]), NULL);
	expect_fail(2249, 0, "(a\0)", 4, "NUL");
	expect_fail(2249, 0, "(a\\\0)", 5, "NUL");
}
END_TEST

/* Spellings the server accepts but never writes: read, written its way. */
START_TEST(other_spellings_come_out_canonical)
{
	expect_text(&M_SAME, 1009, "  {a , b }  ", "{a,b}");
	expect_text(&M_SAME, 1009, "{ \"a\" , NULL,null }", "{a,NULL,NULL}");
	expect_text(&M_SAME, 1009, "[1:2]={a,b}", "{a,b}");
	expect_text(&M_SAME, 1009, " [0:0] = {a}", "[0:0]={a}");
	expect_text(&M_SAME, 1009, "[+1:+1][-1:0]={{a,b}}", "[1:1][-1:0]={{a,b}}");
	expect_text(&M_SAME, 1009, "[2]={a,b}", "{a,b}");
	expect_text(&M_SAME, 1009, "{a\\,b}", "{\"a,b\"}");
	expect_text(&M_SAME, 1009, "{\\NULL,\"NULL\",N\\ULL}", "{\"NULL\",\"NULL\",\"NULL\"}");
	expect_text(&M_SAME, 1009, "{a b}", "{\"a b\"}");
	expect_text(&M_SAME, 1009, "{  a\\  }", "{\"a \"}");
	expect_text(&M_SAME, 1009, "{\"\\a\\\\\"}", "{\"a\\\\\"}");
	expect_text(&M_SAME, 1009, "{ {a} , {b} }", "{{a},{b}}");
	expect_text(&M_SAME, 1020, "{(1,1),(0,0);(2,2),(1,1)}", "{(1,1),(0,0);(2,2),(1,1)}");
	expect_text(&M_SAME, 1020, "{\"a;b\";c}", "{\"a;b\";c}");
	expect_fail(1020, 0, "{\"a;b\",c}", 9, "unexpected element");
	expect_text(&M_SAME, 2249, "( a ,b)", "(\" a \",b)");
	expect_text(&M_SAME, 2249, "(\"a\"\"b\")", "(\"a\"\"b\")");
	expect_text(&M_SAME, 2249, "(a\\,b)", "(\"a,b\")");
	expect_text(&M_SAME, 2249, "(\"a\"b)", "(ab)");
	expect_text(&M_SAME, 2249, "(a\\\"b)", "(\"a\"\"b\")");
	expect_text(&M_SAME, 2249, "  (a)  ", "(a)");
	expect_text(&M_SAME, 2249, "()", "()");
	expect_text(&M_SAME, 2249, "(,)", "(,)");
	expect_text(&M_SAME, 2249, "(\"\")", "(\"\")");
	expect_text(&M_SAME, 2249, "((a)", "(\"(a\")");	/* record_in takes '(' as data */
}
END_TEST

/* Replacements are quoted by the rules of where they land. */
static int
leaf_const(void *arg, const struct pgvalue_leaf *l, struct mask_buf *out, int *out_null)
{
	(void)l;
	const char *r = arg;
	if (r == NULL) {
		*out_null = 1;
		return 1;
	}
	out->len = 0;
	size_t n = strlen(r);
	if (out->cap < n + 1) {
		out->data = realloc(out->data, n + 1);
		out->cap = n + 1;
	}
	memcpy(out->data, r, n);
	out->len = n;
	return 1;
}

static int
leaf_nul(void *arg, const struct pgvalue_leaf *l, struct mask_buf *out, int *out_null)
{
	(void)arg, (void)l, (void)out_null;
	out->len = 0;
	if (out->cap < 3) {
		out->data = realloc(out->data, 3);
		out->cap = 3;
	}
	memcpy(out->data, "a\0b", 3);
	out->len = 3;
	return 1;
}

START_TEST(replacements_are_quoted)
{
	struct pgvalue_masker m = { NULL, NULL, leaf_const, NULL };
	m.leaf_arg = "NULL";
	expect_text(&m, 1009, "{a,NULL}", "{\"NULL\",NULL}");
	expect_text(&m, 2249, "(a,)", "(NULL,)");
	m.leaf_arg = "";
	expect_text(&m, 1009, "{a}", "{\"\"}");
	expect_text(&m, 2249, "(a)", "(\"\")");
	m.leaf_arg = "x\"y\\z";
	expect_text(&m, 1009, "{a}", "{\"x\\\"y\\\\z\"}");
	expect_text(&m, 2249, "(a)", "(\"x\"\"y\\\\z\")");
	m.leaf_arg = "a;b";
	expect_text(&m, 1020, "{x}", "{\"a;b\"}");
	expect_text(&m, 1009, "{x}", "{a;b}");
	m.leaf_arg = NULL;
	expect_text(&m, 1009, "{a,b}", "{NULL,NULL}");
	expect_text(&m, 2249, "(a,b)", "(,)");
	/* a replacement with a NUL byte cannot be written as text */
	struct pgvalue pv = { 0 };
	struct mask_buf out = { 0 };
	int isnull;
	struct pgvalue_masker mn = { NULL, NULL, leaf_nul, NULL };
	ck_assert_int_eq(pgvalue_mask(&pv, &mn, 1009, 0, "{a}", 3, &out, &isnull), -1);
	ck_assert_msg(strstr(pv.error, "NUL") != NULL, "%s", pv.error);
	ck_assert_int_eq(pgvalue_mask(&pv, &mn, 2249, 0, "(a)", 3, &out, &isnull), -1);
	mask_buf_free(&out);
	pgvalue_free(&pv);
}
END_TEST

START_TEST(binary_null_and_other_leaves)
{
	struct pgvalue pv = { 0 };
	struct mask_buf out = { 0 };
	int isnull;
	char *bin;
	/* ARRAY[1,2]::int4[] */
	size_t n = unhex("00000001000000000000001700000002000000010000000400000001"
	    "0000000400000002", &bin);
	struct pgvalue_masker m = { NULL, NULL, leaf_const, NULL };
	ck_assert_int_eq(pgvalue_mask(&pv, &m, 1007, 1, bin, n, &out, &isnull), 1);
	char *h = tohex(out.data, out.len);
	ck_assert_str_eq(h, "0000000100000001000000170000000200000001ffffffffffffffff");
	free(h);
	m.leaf_arg = "1";
	ck_assert_int_eq(pgvalue_mask(&pv, &m, 1007, 1, bin, n, &out, &isnull), -1);
	ck_assert_msg(strstr(pv.error, "only be kept or made NULL") != NULL, "%s", pv.error);
	/* the header says int4, the column says text[] */
	ck_assert_int_eq(pgvalue_mask(&pv, &M_MASK, 1009, 1, bin, n, &out, &isnull), -1);
	ck_assert_msg(strstr(pv.error, "expected 25") != NULL, "%s", pv.error);
	/* a value that is text itself goes to the leaf whole */
	m.leaf_arg = "x";
	ck_assert_int_eq(pgvalue_mask(&pv, &m, 25, 0, "abc", 3, &out, &isnull), 1);
	ck_assert_int_eq((int)out.len, 1);
	free(bin);
	mask_buf_free(&out);
	pgvalue_free(&pv);
}
END_TEST

static int
leaf_jsonb(void *arg, const struct pgvalue_leaf *l, struct mask_buf *out, int *out_null)
{
	int *seen = arg;
	if (l->type != 3802)
		return 0;
	ck_assert(l->len > 0 && l->data[0] == '{');
	(*seen)++;
	return leaf_const("{}", l, out, out_null);
}

START_TEST(jsonb_version_byte)
{
	struct pgvalue pv = { 0 };
	struct mask_buf out = { 0 };
	int isnull, seen = 0;
	char *bin;
	/* ROW('{"x": "y z"}'::jsonb, 'k') */
	const struct pgv_case *c = NULL;
	for (size_t i = 0; i < NCASES; i++)
		if (strcmp(pgv_cases[i].name, "record jsonb") == 0)
			c = &pgv_cases[i];
	ck_assert_ptr_nonnull(c);
	size_t n = unhex(c->bin, &bin);
	struct pgvalue_masker m = { NULL, NULL, leaf_jsonb, &seen };
	ck_assert_int_eq(pgvalue_mask(&pv, &m, c->oid, 1, bin, n, &out, &isnull), 1);
	ck_assert_int_eq(seen, 1);
	char *h = tohex(out.data, out.len);
	/* 2 columns; jsonb (3802 = 0xeda), length 3: version 1, "{}"; text "k" */
	ck_assert_str_eq(h, "0000000200000eda00000003017b7d00000019000000016b");
	free(h);
	/* an unknown jsonb version fails */
	bin[12] = 2;
	ck_assert_int_eq(pgvalue_mask(&pv, &m, c->oid, 1, bin, n, &out, &isnull), -1);
	ck_assert_msg(strstr(pv.error, "jsonb") != NULL, "%s", pv.error);
	free(bin);
	mask_buf_free(&out);
	pgvalue_free(&pv);
}
END_TEST

/* Composite columns are reported with their type and column number, so the
 * relay can apply table.column rules to a whole-row reference. */
START_TEST(leaves_name_their_column)
{
	for (int binary = 0; binary < 2; binary++) {
		const struct pgv_case *c = NULL;
		for (size_t i = 0; i < NCASES; i++)
			if (strcmp(pgv_cases[i].name, "whole row array") == 0)
				c = &pgv_cases[i];
		ck_assert_ptr_nonnull(c);
		struct pgvalue_type t;
		ck_assert_int_eq(lookup(NULL, c->oid, &t), 0);
		uint32_t cust = t.elem;
		struct seen s = { 0 };
		struct pgvalue_masker m = { lookup, NULL, leaf_mask, &s };
		struct pgvalue pv = { 0 };
		struct mask_buf out = { 0 };
		int isnull;
		char *in;
		size_t n = binary ? unhex(c->bin, &in) : strlen(c->text);
		if (!binary)
			in = dup(c->text, n);
		ck_assert_int_eq(pgvalue_mask(&pv, &m, c->oid, binary, in, n, &out, &isnull), 1);
		ck_assert_int_eq(s.leaves, 5);	/* 1, name, card, 2, card */
		int cards = 0;
		for (int i = 0; i < s.leaves; i++) {
			ck_assert_uint_eq(s.composite[i], cust);
			if (strcmp(s.data[i], "4111111111111111") == 0 ||
			    strcmp(s.data[i], "5500 0000 0000 0004") == 0) {
				ck_assert_int_eq(s.field[i], 2);
				cards++;
			}
		}
		ck_assert_int_eq(cards, 2);
		free(in);
		mask_buf_free(&out);
		pgvalue_free(&pv);
	}
}
END_TEST

/* Text of unknown type: walked when it parses as a literal. */
START_TEST(unknown_type_guesses_structure)
{
	expect_text(&M_MASK, 0, "{a,bc}", "{\"a \\\"\\\\\",[bc]}");
	expect_text(&M_MASK, 0, "(ab,\"{x,y}\")", "([ab],\"{\"\"x \\\\\"\"\\\\\\\\\"\",\"\"y \\\\\"\"\\\\\\\\\"\"}\")");
	expect_text(&M_MASK, 0, "{x", "[{x]");
	expect_text(&M_MASK, 0, "(x", "[(x]");
	expect_text(&M_MASK, 0, "plain", "plain \"\\");
	expect_text(&M_MASK, 16384, "{a}", "{\"a \\\"\\\\\"}");	/* unknown oid, no lookup hit */
	/* an unknown oid's leaf is not of type 0: this callback keeps it */
	expect_text(&M_MASK, 16384, "ab", "ab");
}
END_TEST

/* A record of one record of one record ... in binary: 12 bytes a level. */
static size_t
nested_records(int levels, char **out)
{
	size_t len = 4 + 8 + 1;	/* innermost: one text column "x" */
	char *b = malloc(12 * (size_t)levels + 13);
	size_t pos = 12 * (size_t)levels;
	memcpy(b + pos, "\0\0\0\1\0\0\0\x19\0\0\0\1x", 13);
	for (int i = 0; i < levels; i++) {
		pos -= 12;
		uint32_t l = (uint32_t)len;
		memcpy(b + pos, "\0\0\0\1\0\0\x08\xc9", 8);	/* 1 column, oid 2249 */
		b[pos + 8] = (char)(l >> 24);
		b[pos + 9] = (char)(l >> 16);
		b[pos + 10] = (char)(l >> 8);
		b[pos + 11] = (char)l;
		len += 12;
	}
	*out = b;
	return len;
}

static int
recurse_forever(struct pgvalue *pv, void *arg, const struct pgvalue_elem *el,
    struct mask_buf *out, int *out_null)
{
	(void)el, (void)out_null;
	(*(int *)arg)++;
	return pgvalue_text_array(pv, "{x}", 3, ',', recurse_forever, arg, out) < 0 ? -1 : 1;
}

START_TEST(depth_is_bounded)
{
	struct pgvalue pv = { 0 };
	struct mask_buf out = { 0 };
	int isnull;
	char *b;
	size_t n = nested_records(PGVALUE_MAX_DEPTH - 1, &b);
	ck_assert_msg(pgvalue_mask(&pv, &M_MASK, 2249, 1, b, n, &out, &isnull) == 1, "%s",
	    pv.error);
	ck_assert_int_eq(pv.depth, 0);
	free(b);
	n = nested_records(PGVALUE_MAX_DEPTH, &b);
	ck_assert_int_eq(pgvalue_mask(&pv, &M_MASK, 2249, 1, b, n, &out, &isnull), -1);
	ck_assert_msg(strstr(pv.error, "deeper than 64") != NULL, "%s", pv.error);
	ck_assert_int_eq(pv.depth, 0);
	free(b);
	n = nested_records(100000, &b);
	ck_assert_int_eq(pgvalue_mask(&pv, &M_MASK, 2249, 1, b, n, &out, &isnull), -1);
	free(b);
	int calls = 0;
	ck_assert_int_eq(pgvalue_text_array(&pv, "{x}", 3, ',', recurse_forever, &calls, &out), -1);
	ck_assert_int_eq(calls, PGVALUE_MAX_DEPTH);
	ck_assert_msg(strstr(pv.error, "deeper than 64") != NULL, "%s", pv.error);
	ck_assert_int_eq(pv.depth, 0);
	mask_buf_free(&out);
	pgvalue_free(&pv);
}
END_TEST

static int
leaf_fail(void *arg, const struct pgvalue_leaf *l, struct mask_buf *out, int *out_null)
{
	(void)arg, (void)out, (void)out_null;
	return l->len == 1 && l->data[0] == 'b' ? -1 : 0;
}

START_TEST(callback_failure_fails_the_value)
{
	struct pgvalue pv = { 0 };
	struct mask_buf out = { 0 };
	int isnull;
	struct pgvalue_masker m = { NULL, NULL, leaf_fail, NULL };
	ck_assert_int_eq(pgvalue_mask(&pv, &m, 1009, 0, "{a,b,c}", 7, &out, &isnull), -1);
	ck_assert_msg(strstr(pv.error, "type 25") != NULL, "%s", pv.error);
	ck_assert_int_eq(pgvalue_mask(&pv, &m, 2249, 0, "(a,\"{b}\")", 9, &out, &isnull), -1);
	ck_assert_int_eq(pgvalue_mask(&pv, &m, 1009, 0, "{a,c}", 5, &out, &isnull), 0);
	ck_assert_str_eq(pv.error, "");
	mask_buf_free(&out);
	pgvalue_free(&pv);
}
END_TEST

START_TEST(lookup_mismatch_fails)
{
	const struct pgv_case *c = NULL;
	for (size_t i = 0; i < NCASES; i++)
		if (strcmp(pgv_cases[i].name, "composite") == 0)
			c = &pgv_cases[i];
	ck_assert_ptr_nonnull(c);
	char *bin;
	size_t n = unhex(c->bin, &bin);
	/* the column says a composite of 4 columns; a 3-column row is refused */
	expect_fail(c->oid, 0, "(a,1,{})", 8, "3 columns, expected 4");
	expect_fail(c->oid, 0, "(a,1,{},,)", 10, "more than 4 columns");
	/* a column of another type than pg_attribute says */
	bin[4 + 3] = 26;	/* first column's oid: text 25 -> oid 26 */
	expect_fail(c->oid, 1, bin, n, "expected 25");
	free(bin);
}
END_TEST

/* Scratch reused: the second pass over the same values allocates nothing. */
START_TEST(steady_state_reuses_scratch)
{
	struct pgvalue pv = { 0 };
	struct mask_buf out = { 0 };
	void *before[2 * PGVALUE_MAX_DEPTH + 1];
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < NCASES; i++) {
			const struct pgv_case *c = &pgv_cases[i];
			int isnull;
			ck_assert_int_ge(pgvalue_mask(&pv, &M_SAME, c->oid, 0, c->text,
			    strlen(c->text), &out, &isnull), 0);
		}
		for (int d = 0; d < PGVALUE_MAX_DEPTH; d++) {
			if (pass == 0) {
				before[2 * d] = pv.elem[d].data;
				before[2 * d + 1] = pv.repl[d].data;
			} else {
				ck_assert_ptr_eq(before[2 * d], pv.elem[d].data);
				ck_assert_ptr_eq(before[2 * d + 1], pv.repl[d].data);
			}
		}
		if (pass == 0)
			before[2 * PGVALUE_MAX_DEPTH] = out.data;
		else
			ck_assert_ptr_eq(before[2 * PGVALUE_MAX_DEPTH], out.data);
	}
	mask_buf_free(&out);
	pgvalue_free(&pv);
}
END_TEST

START_TEST(binary_headers)
{
	/* ndim 7; flags 2; negative dimension; truncated; element length -2;
	 * longer than the value; short element; upper bound past INT32_MAX;
	 * leftover byte; 2^31-1 elements; 2^31-1 x 1 */
	static const char *bad[] = {
		"000000070000000000000019",
		"000000000000000200000019",
		"000000010000000000000019ffffffff00000001",
		"00000001000000000000001900000001ffffffff",
		"0000000100000000000000190000000100000001fffffffe",
		"00000001000000000000001900000001000000017ffffffe",
		"0000000100000000000000190000000100000001000000036100",
		"000000010000000000000019000000027fffffff0000000000000000",
		"000000000000000000000019" "00",
		"00000001000000000000001900000001000000017fffffff",
		"0000000100000000000000197fffffff00000001",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *b;
		size_t n = unhex(bad[i], &b);
		expect_fail(1009, 1, b, n, NULL);
		free(b);
	}
	static const char *badrec[] = {
		"ffffffff", "7fffffff", "00000001", "0000000100000019fffffffe",
		"0000000100000019ffffffff00", "000000010000001900000005616263",
	};
	for (size_t i = 0; i < sizeof badrec / sizeof badrec[0]; i++) {
		char *b;
		size_t n = unhex(badrec[i], &b);
		expect_fail(2249, 1, b, n, NULL);
		free(b);
	}
	/* zero-length dimension: no elements, kept as sent */
	struct pgvalue pv = { 0 };
	size_t n;
	int rc;
	char *b;
	size_t bl = unhex("000000010000000000000019000000000000000a", &b);
	char *got = run(&pv, &M_SAME, 1009, 1, b, bl, &n, &rc);
	ck_assert_int_eq(rc, 0);
	free(got);
	free(b);
	pgvalue_free(&pv);
}
END_TEST

static Suite *
pgvalue_suite(void)
{
	Suite *s = suite_create("pgvalue");
	TCase *tc = tcase_create("server");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, builtin_kinds_match_the_server);
	tcase_add_test(tc, server_values_round_trip);
	tcase_add_test(tc, walkers_keep_gives_canonical_output);
	tcase_add_test(tc, masking_matches_the_server);
	tcase_add_test(tc, every_truncation_fails);
	tcase_add_test(tc, mutations_never_crash);
	suite_add_tcase(s, tc);
	tc = tcase_create("rules");
	tcase_add_test(tc, malformed_arrays);
	tcase_add_test(tc, malformed_records);
	tcase_add_test(tc, other_spellings_come_out_canonical);
	tcase_add_test(tc, replacements_are_quoted);
	tcase_add_test(tc, binary_null_and_other_leaves);
	tcase_add_test(tc, jsonb_version_byte);
	tcase_add_test(tc, leaves_name_their_column);
	tcase_add_test(tc, unknown_type_guesses_structure);
	tcase_add_test(tc, depth_is_bounded);
	tcase_add_test(tc, callback_failure_fails_the_value);
	tcase_add_test(tc, lookup_mismatch_fails);
	tcase_add_test(tc, steady_state_reuses_scratch);
	tcase_add_test(tc, binary_headers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pgvalue_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
