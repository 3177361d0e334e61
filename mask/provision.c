/* Database-enforced masking: profiles of a policy, the provisioning
 * script, the verification query (mask/provision.h). */

#include "mask/provision.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mask/internal.h"

/* The dollar quote of the DO bodies; no name may contain it. */
#define TAG "$pgward$"

struct patterns {
	const char *v[MASK_PROFILE_PATTERNS_MAX];
	size_t n;
};

static int patterns_add(struct patterns *ps, const struct conf_list *l);
static int pattern_index(const struct patterns *ps, const char *p);
static int list_true(const struct patterns *ps, const struct conf_list *l,
    unsigned bits);
static int assignment_possible(const struct patterns *ps, unsigned bits);
static void ident(FILE *f, const char *name);
static void lit(FILE *f, const char *s);
static void qualified_lit(FILE *f, const char *schema_table);
static void split_table(const char *t, char *schema, size_t sl, char *table,
    size_t tl);
static int name_ok(const char *s);
static void masked_ctes(FILE *f, const struct mask_profile *p);
static void table_view_sql(FILE *f, const struct mask_profile *p, size_t from,
    size_t to);
static void role_sql(FILE *f, const struct mask_profile *p, const char *role,
    const char *masked, int token);
static int profile_uses_token(const struct mask_profile *p);

/* ---- profiles ---- */

static int
pattern_index(const struct patterns *ps, const char *p)
{
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->v[i], p) == 0)
			return (int)i;
	return -1;
}

static int
patterns_add(struct patterns *ps, const struct conf_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (pattern_index(ps, l->v[i]) >= 0)
			continue;
		if (ps->n == MASK_PROFILE_PATTERNS_MAX)
			return -1;
		ps->v[ps->n++] = l->v[i];
	}
	return 0;
}

/* Whether someone with the assignment bits has a group matching one of
 * the patterns of l. */
static int
list_true(const struct patterns *ps, const struct conf_list *l, unsigned bits)
{
	for (size_t i = 0; i < l->n; i++)
		if (bits & (1u << pattern_index(ps, l->v[i])))
			return 1;
	return 0;
}

/* A literal pattern that is true names a group; that group must not match
 * a pattern that is false. (Globs are not checked: an impossible profile
 * only costs an unused role.) */
static int
assignment_possible(const struct patterns *ps, unsigned bits)
{
	for (size_t i = 0; i < ps->n; i++) {
		if (!(bits & (1u << i)) || strpbrk(ps->v[i], "*?[") != NULL)
			continue;
		for (size_t k = 0; k < ps->n; k++)
			if (!(bits & (1u << k)) && fnmatch(ps->v[k], ps->v[i], 0) == 0)
				return 0;
	}
	return 1;
}

static int
profile_uses_token(const struct mask_profile *p)
{
	for (size_t i = 0; i < p->ncols; i++)
		if (p->cols[i].style == MASK_TOKEN)
			return 1;
	return 0;
}

struct mask_profiles_result
mask_profiles_enumerate(const struct mask_policy *mp)
{
	struct mask_profiles_result r = { NULL, 0, NULL };
	struct patterns ps = { { NULL }, 0 };
	for (size_t i = 0; i < mp->nlines; i++) {
		const struct mask_line *m = &mp->lines[i];
		if (m->kind != MASK_LINE_COLUMN || m->style == NULL)
			continue;
		if (patterns_add(&ps, &m->groups) != 0 ||
		    patterns_add(&ps, &m->exempt) != 0) {
			r.error = mask_errf("mask column lines name more than %d distinct group "
			    "patterns (groups and exempt): simplify the policy",
			    MASK_PROFILE_PATTERNS_MAX);
			return r;
		}
	}
	for (unsigned bits = 0; bits < (1u << ps.n); bits++) {
		if (!assignment_possible(&ps, bits))
			continue;
		json_t *cols = json_array(), *rules = json_object();
		char lines[1024] = "";
		size_t off = 0;
		int bad = cols == NULL || rules == NULL;
		for (size_t i = 0; !bad && i < mp->nlines; i++) {
			const struct mask_line *m = &mp->lines[i];
			if (m->kind != MASK_LINE_COLUMN || m->style == NULL)
				continue;
			if ((m->groups.n > 0 && !list_true(&ps, &m->groups, bits)) ||
			    list_true(&ps, &m->exempt, bits))
				continue;
			json_t *c = json_pack("{s:s, s:s, s:s}", "table", m->table,
			    "column", m->column, "style", m->style);
			if (c != NULL && m->keep >= 0)
				json_object_set_new(c, "keep", json_integer(m->keep));
			bad = c == NULL || json_array_append_new(cols, c) != 0;
			if (off < sizeof lines - 16)
				off += (size_t)snprintf(lines + off, sizeof lines - off, "%s%d",
				    off ? ", " : "", m->line);
		}
		if (!bad)
			bad = json_object_set_new(rules, "columns", cols) != 0;
		else
			json_decref(cols);
		struct mask_profile_result pr = { NULL, NULL };
		if (!bad)
			pr = mask_profile_new(rules);
		json_decref(rules);
		if (bad || pr.error != NULL) {
			r.error = pr.error != NULL ? pr.error : mask_errf("out of memory");
			return r;
		}
		if (pr.profile == NULL)
			continue;
		/* Who: the assignment, over the patterns in play. */
		char who[1024];
		size_t w = 0;
		w += (size_t)snprintf(who + w, sizeof who - w, "--   people in");
		int any = 0;
		for (size_t i = 0; i < ps.n && w < sizeof who - 80; i++)
			if (bits & (1u << i)) {
				w += (size_t)snprintf(who + w, sizeof who - w, "%s a group "
				    "matching %s", any ? " and" : "", ps.v[i]);
				any = 1;
			}
		if (!any)
			w += (size_t)snprintf(who + w, sizeof who - w, " any groups");
		any = 0;
		for (size_t i = 0; i < ps.n && w < sizeof who - 80; i++)
			if (!(bits & (1u << i))) {
				w += (size_t)snprintf(who + w, sizeof who - w, "%s%s", any ?
				    ", " : ", none matching ", ps.v[i]);
				any = 1;
			}
		size_t k;
		for (k = 0; k < r.n; k++)
			if (strcmp(r.v[k].profile->id, pr.profile->id) == 0)
				break;
		if (k < r.n) {
			mask_profile_free(pr.profile);
			size_t ol = strlen(r.v[k].who);
			char *nw = realloc(r.v[k].who, ol + strlen(who) + 2);
			if (nw == NULL) {
				r.error = mask_errf("out of memory");
				return r;
			}
			snprintf(nw + ol, strlen(who) + 2, "\n%s", who);
			r.v[k].who = nw;
			continue;
		}
		struct mask_prov_profile *nv = realloc(r.v, (r.n + 1) * sizeof *nv);
		if (nv == NULL) {
			mask_profile_free(pr.profile);
			r.error = mask_errf("out of memory");
			return r;
		}
		r.v = nv;
		struct mask_prov_profile *pp = &r.v[r.n++];
		pp->profile = pr.profile;
		pp->lines = strdup(lines);
		pp->who = strdup(who);
		pp->uses_token = profile_uses_token(pr.profile);
		if (pp->lines == NULL || pp->who == NULL) {
			r.error = mask_errf("out of memory");
			return r;
		}
	}
	return r;
}

void
mask_profiles_result_free(struct mask_profiles_result r)
{
	for (size_t i = 0; i < r.n; i++) {
		mask_profile_free(r.v[i].profile);
		free(r.v[i].lines);
		free(r.v[i].who);
	}
	free(r.v);
	free(r.error);
}

void
mask_sql_result_free(struct mask_sql_result r)
{
	free(r.sql);
	free(r.error);
}

/* ---- SQL text ---- */

static void
ident(FILE *f, const char *name)
{
	fputc('"', f);
	for (const char *s = name; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* A string literal (standard_conforming_strings: only ' is special). */
static void
lit(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

static void
split_table(const char *t, char *schema, size_t sl, char *table, size_t tl)
{
	const char *dot = strchr(t, '.');
	if (dot == NULL) {
		snprintf(schema, sl, "public");
		snprintf(table, tl, "%s", t);
	} else {
		snprintf(schema, sl, "%.*s", (int)(dot - t), t);
		snprintf(table, tl, "%s", dot + 1);
	}
}

/* 'schema.table' as the literal of its quoted name, for to_regclass. */
static void
qualified_lit(FILE *f, const char *schema_table)
{
	char s[256], t[256], *b = NULL;
	size_t bl = 0;
	split_table(schema_table, s, sizeof s, t, sizeof t);
	FILE *q = open_memstream(&b, &bl);
	if (q == NULL) {
		fputs("NULL", f);	/* fails the script: to_regclass(NULL) */
		return;
	}
	ident(q, s);
	fputc('.', q);
	ident(q, t);
	fclose(q);
	lit(f, b);
	free(b);
}

static int
name_ok(const char *s)
{
	return strstr(s, TAG) == NULL && strlen(s) < 64 && *s != '\0';
}

void
mask_style_sql(FILE *f, enum mask_style style, int keep, const char *col,
    const char *type_sql)
{
	char v[600];
	snprintf(v, sizeof v, "(%s)::text", col);
	switch (style) {
	case MASK_PARTIAL:
		/* mask/styles.c: hide all but the last keep characters; all of
		 * a value of at most keep characters. */
		/* Each function of the value once per row where it can be:
		 * PostgreSQL does not share repeated subexpressions. NULL: the
		 * length is NULL, so is the repeat. */
		fprintf(f, "CASE WHEN pg_catalog.length(%s) > %d THEN pg_catalog.repeat('*', "
		    "pg_catalog.length(%s) - %d) OPERATOR(pg_catalog.||) pg_catalog.substr(%s, "
		    "pg_catalog.length(%s) - %d) ELSE pg_catalog.repeat('*', pg_catalog.length(%s)) "
		    "END", v, keep, v, keep, v, v, keep - 1, v);
		break;
	case MASK_REDACT:
		fprintf(f, "CASE WHEN %s IS NULL THEN NULL ELSE '" MASK_REDACTED
		    "'::text END", v);
		break;
	case MASK_EMAIL_DOMAIN:
		/* "****" and the text from the last '@'; no '@', or nothing
		 * after the last one: a redaction. */
		fprintf(f, "CASE WHEN %s IS NULL THEN NULL WHEN pg_catalog.strpos(%s, '@') "
		    "= 0 OR pg_catalog.\"right\"(%s, 1) = '@' THEN '" MASK_REDACTED "'::text "
		    "ELSE '****@' || pg_catalog.reverse(pg_catalog.split_part("
		    "pg_catalog.reverse(%s), '@', 1)) END", v, v, v, v);
		break;
	case MASK_TOKEN:
		fprintf(f, "pgward_mask.token(%s)", v);
		break;
	case MASK_NULL:
		fprintf(f, "NULL::%s", type_sql != NULL ? type_sql : "text");
		break;
	case MASK_NONE:
		fprintf(f, "%s", col);
		break;
	}
}

/* The CTEs every query about a profile starts from (after WITH
 * RECURSIVE): pgward_named(label, relid, attname, view) for the policy's
 * columns, pgward_masked(relid, attnum) for them and the same columns
 * in inheritance parents and children, pgward_tainted(relid) for the
 * views and relations with rules that read a masked table. */
static void
masked_ctes(FILE *f, const struct mask_profile *p)
{
	fputs("pgward_named(label, relid, attname, view) AS (VALUES\n", f);
	for (size_t i = 0; i < p->ncols; i++) {
		char s[256], t[256], *b = NULL;
		size_t bl = 0;
		split_table(p->cols[i].table, s, sizeof s, t, sizeof t);
		fputs(i ? ",\n  (" : "  (", f);
		char label[600];
		snprintf(label, sizeof label, "%s.%s", s, t);
		lit(f, label);
		fputs(", pg_catalog.to_regclass(", f);
		qualified_lit(f, p->cols[i].table);
		fputs(")::pg_catalog.oid, ", f);
		lit(f, p->cols[i].column);
		fputs("::pg_catalog.name, ", f);
		FILE *q = open_memstream(&b, &bl);
		if (q != NULL) {
			ident(q, p->schema);
			fputc('.', q);
			ident(q, t);
			fclose(q);
			lit(f, b);
			free(b);
		} else {
			fputs("NULL", f);
		}
		fputs(")", f);
	}
	fputs("),\n"
	    "pgward_tree(relid, attname) AS (\n"
	    "  SELECT relid, attname FROM pgward_named WHERE relid IS NOT NULL\n"
	    "  UNION SELECT CASE WHEN i.inhparent = t.relid THEN i.inhrelid ELSE i.inhparent END,\n"
	    "    t.attname FROM pgward_tree t JOIN pg_catalog.pg_inherits i\n"
	    "    ON t.relid IN (i.inhparent, i.inhrelid)),\n"
	    "pgward_masked(relid, attnum) AS (\n"
	    "  SELECT DISTINCT a.attrelid, a.attnum FROM pgward_tree t\n"
	    "  JOIN pg_catalog.pg_attribute a ON a.attrelid = t.relid AND a.attname = t.attname\n"
	    "    AND a.attnum > 0 AND NOT a.attisdropped),\n"
	    "pgward_tainted(relid) AS (\n"
	    "  SELECT relid FROM pgward_masked\n"
	    "  UNION SELECT rw.ev_class FROM pgward_tainted t\n"
	    "  JOIN pg_catalog.pg_depend d ON d.refobjid = t.relid\n"
	    "    AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass\n"
	    "    AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass\n"
	    "  JOIN pg_catalog.pg_rewrite rw ON rw.oid = d.objid\n"
	    "  JOIN pg_catalog.pg_class vc ON vc.oid = rw.ev_class\n"
	    "  JOIN pg_catalog.pg_namespace vn ON vn.oid = vc.relnamespace\n"
	    "  WHERE rw.ev_class <> t.relid AND vn.nspname !~ '^pgward_mask_')", f);
}

/* One DO block that (re)builds the profile's view of the table of
 * columns [from, to) from the catalog: every column in order, the masked
 * ones through their style. */
static void
table_view_sql(FILE *f, const struct mask_profile *p, size_t from, size_t to)
{
	char s[256], t[256];
	split_table(p->cols[from].table, s, sizeof s, t, sizeof t);
	fprintf(f, "-- view %s.%s of %s.%s\n", p->schema, t, s, t);
	fputs("DO " TAG "\nDECLARE\n  t pg_catalog.regclass := pg_catalog.to_regclass(", f);
	qualified_lit(f, p->cols[from].table);
	fputs(");\n  masked pg_catalog.name[] := ARRAY[", f);
	for (size_t i = from; i < to; i++) {
		if (i > from)
			fputs(", ", f);
		lit(f, p->cols[i].column);
	}
	fputs("]::pg_catalog.name[];\n  cols text;\n  missing text;\n  def text;\n"
	    "BEGIN\n  IF t IS NULL THEN\n    RAISE EXCEPTION 'pgward-mask: table %s does not "
	    "exist', ", f);
	lit(f, p->cols[from].table);
	fputs(";\n  END IF;\n"
	    "  IF (SELECT relrowsecurity FROM pg_catalog.pg_class WHERE oid = t) THEN\n"
	    "    RAISE EXCEPTION 'pgward-mask: table % has row-level security: its view "
	    "would show the rows as its owner sees them (not supported)', t;\n  END IF;\n"
	    "  SELECT pg_catalog.string_agg(x, ', ') INTO missing FROM pg_catalog.unnest(masked) x\n"
	    "  WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = t\n"
	    "    AND a.attname = x AND a.attnum > 0 AND NOT a.attisdropped);\n"
	    "  IF missing IS NOT NULL THEN\n"
	    "    RAISE EXCEPTION 'pgward-mask: table % has no column %', t, missing;\n  END IF;\n"
	    "  SELECT pg_catalog.string_agg(CASE a.attname\n", f);
	for (size_t i = from; i < to; i++) {
		char *b = NULL, *col = NULL;
		size_t bl = 0, cl = 0;
		FILE *q = open_memstream(&col, &cl);
		if (q == NULL)
			continue;
		ident(q, p->cols[i].column);
		fclose(q);
		fputs("      WHEN ", f);
		lit(f, p->cols[i].column);
		fputs(" THEN ", f);
		if (p->cols[i].style == MASK_NULL) {
			fputs("'NULL::' || pg_catalog.format_type(a.atttypid, a.atttypmod)", f);
		} else if ((q = open_memstream(&b, &bl)) != NULL) {
			mask_style_sql(q, p->cols[i].style, p->cols[i].keep, col, NULL);
			fclose(q);
			lit(f, b);
			free(b);
		}
		fputc('\n', f);
		free(col);
	}
	fputs("      ELSE pg_catalog.quote_ident(a.attname) END\n"
	    "    || ' AS ' || pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)\n"
	    "  INTO cols FROM pg_catalog.pg_attribute a\n"
	    "  WHERE a.attrelid = t AND a.attnum > 0 AND NOT a.attisdropped;\n"
	    "  def := pg_catalog.format('CREATE OR REPLACE VIEW %I.%I WITH (security_barrier) "
	    "AS SELECT %s FROM %s', ", f);
	lit(f, p->schema);
	fputs(", ", f);
	lit(f, t);
	fputs(", cols, t);\n"
	    "  BEGIN\n    EXECUTE def;\n"
	    "  EXCEPTION WHEN invalid_table_definition OR feature_not_supported OR\n"
	    "      datatype_mismatch OR wrong_object_type THEN\n"
	    "    -- columns were dropped, renamed or retyped: build it anew\n"
	    "    EXECUTE pg_catalog.format('DROP VIEW IF EXISTS %I.%I CASCADE', ", f);
	lit(f, p->schema);
	fputs(", ", f);
	lit(f, t);
	fputs(");\n    EXECUTE def;\n  END;\n"
	    "  EXECUTE pg_catalog.format('ALTER VIEW %I.%I OWNER TO %I', ", f);
	lit(f, p->schema);
	fputs(", ", f);
	lit(f, t);
	fputs(", current_user);\n"
	    "  EXECUTE pg_catalog.format('REVOKE ALL ON %I.%I FROM PUBLIC', ", f);
	lit(f, p->schema);
	fputs(", ", f);
	lit(f, t);
	fputs(");\nEND\n" TAG ";\n\n", f);
}

/* One DO block for database role R and its masked twin M of profile p. */
static void
role_sql(FILE *f, const struct mask_profile *p, const char *role,
    const char *masked, int token)
{
	fprintf(f, "-- role %s: the masked twin of %s for profile %s\n", masked, role,
	    p->id);
	fputs("DO " TAG "\nDECLARE\n  r pg_catalog.name := ", f);
	lit(f, role);
	fputs(";\n  m pg_catalog.name := ", f);
	lit(f, masked);
	fputs(";\n  s pg_catalog.name := ", f);
	lit(f, p->schema);
	fputs(";\n  pw text;\n  vu timestamptz;\n  sp text;\n  g record;\n  rel record;\n"
	    "  priv text;\n  collist text;\nBEGIN\n"
	    "  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN\n"
	    "    RAISE EXCEPTION 'pgward-mask: role % does not exist', r;\n  END IF;\n"
	    "  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = m) THEN\n"
	    "    EXECUTE pg_catalog.format('CREATE ROLE %I', m);\n  END IF;\n"
	    "  EXECUTE pg_catalog.format('ALTER ROLE %I LOGIN NOINHERIT NOSUPERUSER NOCREATEDB "
	    "NOCREATEROLE NOREPLICATION NOBYPASSRLS', m);\n"
	    "  -- a member of no role (so no SET ROLE out of the masking)\n"
	    "  FOR g IN SELECT am.roleid::pg_catalog.regrole AS grp FROM pg_catalog.pg_auth_members am\n"
	    "      WHERE am.member = m::pg_catalog.regrole LOOP\n"
	    "    EXECUTE pg_catalog.format('REVOKE %s FROM %I', g.grp, m);\n  END LOOP;\n"
	    "  -- R's password verifier: the relay's credential for R logs in as M\n"
	    "  SELECT a.rolpassword, a.rolvaliduntil INTO pw, vu FROM pg_catalog.pg_authid a\n"
	    "  WHERE a.rolname = r;\n"
	    "  IF pw IS NULL THEN\n"
	    "    EXECUTE pg_catalog.format('ALTER ROLE %I PASSWORD NULL', m);\n"
	    "  ELSE\n"
	    "    IF pw LIKE 'md5%' THEN\n"
	    "      RAISE NOTICE 'pgward-mask: role % has an md5 password, which is bound to the "
	    "role name: % cannot log in with it (use SCRAM-SHA-256, or give % its own "
	    "password and credential)', r, m, m;\n"
	    "    END IF;\n"
	    "    EXECUTE pg_catalog.format('ALTER ROLE %I PASSWORD %L', m, pw);\n"
	    "  END IF;\n"
	    "  EXECUTE pg_catalog.format('ALTER ROLE %I VALID UNTIL %L', m,\n"
	    "    COALESCE(vu::text, 'infinity'));\n"
	    "  -- search_path: the view schema, then R's own (\"$user\" being R)\n"
	    "  SELECT pg_catalog.substr(c, 13) INTO sp FROM pg_catalog.pg_db_role_setting rs,\n"
	    "    pg_catalog.unnest(rs.setconfig) c\n"
	    "  WHERE rs.setrole = r::pg_catalog.regrole AND c LIKE 'search_path=%'\n"
	    "    AND rs.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database\n"
	    "      WHERE datname = pg_catalog.current_database()))\n"
	    "  ORDER BY rs.setdatabase DESC LIMIT 1;\n"
	    "  sp := pg_catalog.replace(COALESCE(sp, '\"$user\", public'), '\"$user\"',\n"
	    "    pg_catalog.quote_ident(r));\n"
	    "  EXECUTE pg_catalog.format('ALTER ROLE %I SET search_path = %I, %s', m, s, sp);\n"
	    "  -- privileges: none but what follows, copied from R now\n"
	    "  EXECUTE pg_catalog.format('DROP OWNED BY %I', m);\n"
	    "  FOREACH priv IN ARRAY ARRAY['CONNECT', 'TEMPORARY'] LOOP\n"
	    "    IF pg_catalog.has_database_privilege(r, pg_catalog.current_database(), priv) THEN\n"
	    "      EXECUTE pg_catalog.format('GRANT %s ON DATABASE %I TO %I', priv,\n"
	    "        pg_catalog.current_database(), m);\n"
	    "    END IF;\n  END LOOP;\n"
	    "  FOR rel IN SELECT n.nspname FROM pg_catalog.pg_namespace n\n"
	    "      WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'\n"
	    "        AND n.nspname !~ '^pgward_mask'\n"
	    "        AND pg_catalog.has_schema_privilege(r, n.oid, 'USAGE') LOOP\n"
	    "    EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', rel.nspname, m);\n"
	    "  END LOOP;\n"
	    "  EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', s, m);\n"
	    "  -- relations: R's privileges, never on a masked column, never TRIGGER,\n"
	    "  -- nothing on views or rules that read a masked table\n"
	    "  FOR rel IN WITH RECURSIVE\n", f);
	masked_ctes(f, p);
	fputs("\n    SELECT c.oid, c.relkind, c.oid IN (SELECT relid FROM pgward_masked) AS masked,\n"
	    "      c.oid IN (SELECT relid FROM pgward_tainted) AS tainted,\n"
	    "      ARRAY(SELECT attnum FROM pgward_masked k WHERE k.relid = c.oid) AS cols\n"
	    "    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
	    "    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')\n"
	    "      AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'\n"
	    "      AND n.nspname !~ '^pgward_mask' LOOP\n"
	    "    IF rel.relkind = 'S' THEN\n"
	    "      FOREACH priv IN ARRAY ARRAY['USAGE', 'SELECT', 'UPDATE'] LOOP\n"
	    "        IF pg_catalog.has_sequence_privilege(r, rel.oid, priv) THEN\n"
	    "          EXECUTE pg_catalog.format('GRANT %s ON SEQUENCE %s TO %I', priv,\n"
	    "            rel.oid::pg_catalog.regclass, m);\n"
	    "        END IF;\n      END LOOP;\n      CONTINUE;\n    END IF;\n"
	    "    IF rel.tainted AND NOT rel.masked THEN\n"
	    "      IF pg_catalog.has_any_column_privilege(r, rel.oid, 'SELECT') THEN\n"
	    "        RAISE NOTICE 'pgward-mask: % reads a masked table: % gets no privilege on it',\n"
	    "          rel.oid::pg_catalog.regclass, m;\n"
	    "      END IF;\n      CONTINUE;\n    END IF;\n"
	    "    FOREACH priv IN ARRAY ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES'] LOOP\n"
	    "      IF NOT rel.masked AND pg_catalog.has_table_privilege(r, rel.oid, priv) THEN\n"
	    "        EXECUTE pg_catalog.format('GRANT %s ON %s TO %I', priv,\n"
	    "          rel.oid::pg_catalog.regclass, m);\n"
	    "        CONTINUE;\n      END IF;\n"
	    "      SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', '\n"
	    "        ORDER BY a.attnum) INTO collist FROM pg_catalog.pg_attribute a\n"
	    "      WHERE a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped\n"
	    "        AND a.attnum <> ALL (rel.cols)\n"
	    "        AND pg_catalog.has_column_privilege(r, rel.oid, a.attnum, priv);\n"
	    "      IF collist IS NOT NULL THEN\n"
	    "        EXECUTE pg_catalog.format('GRANT %s (%s) ON %s TO %I', priv, collist,\n"
	    "          rel.oid::pg_catalog.regclass, m);\n"
	    "      END IF;\n    END LOOP;\n"
	    "    FOREACH priv IN ARRAY ARRAY['DELETE', 'TRUNCATE'] LOOP\n"
	    "      IF pg_catalog.has_table_privilege(r, rel.oid, priv) THEN\n"
	    "        EXECUTE pg_catalog.format('GRANT %s ON %s TO %I', priv,\n"
	    "          rel.oid::pg_catalog.regclass, m);\n"
	    "      END IF;\n    END LOOP;\n"
	    "    -- the profile's view of a masked table: what R may do on the table,\n"
	    "    -- through the masked expressions (which cannot be written)\n"
	    "    IF rel.masked AND pg_catalog.to_regclass(pg_catalog.format('%I.%I', s,\n"
	    "        (SELECT relname FROM pg_catalog.pg_class WHERE oid = rel.oid))) IS NOT NULL THEN\n"
	    "      FOREACH priv IN ARRAY ARRAY['SELECT', 'INSERT', 'UPDATE'] LOOP\n"
	    "        SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', '\n"
	    "          ORDER BY a.attnum) INTO collist FROM pg_catalog.pg_attribute a\n"
	    "        WHERE a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped\n"
	    "          AND (priv = 'SELECT' OR a.attnum <> ALL (rel.cols))\n"
	    "          AND pg_catalog.has_column_privilege(r, rel.oid, a.attnum, priv);\n"
	    "        IF collist IS NOT NULL THEN\n"
	    "          EXECUTE pg_catalog.format('GRANT %s (%s) ON %I.%I TO %I', priv, collist, s,\n"
	    "            (SELECT relname FROM pg_catalog.pg_class WHERE oid = rel.oid), m);\n"
	    "        END IF;\n      END LOOP;\n"
	    "      IF pg_catalog.has_table_privilege(r, rel.oid, 'DELETE') THEN\n"
	    "        EXECUTE pg_catalog.format('GRANT DELETE ON %I.%I TO %I', s,\n"
	    "          (SELECT relname FROM pg_catalog.pg_class WHERE oid = rel.oid), m);\n"
	    "      END IF;\n    END IF;\n  END LOOP;\n"
	    "  -- functions R was granted EXECUTE on beyond PUBLIC's\n"
	    "  FOR rel IN SELECT p.oid FROM pg_catalog.pg_proc p\n"
	    "      JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace\n"
	    "      WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'\n"
	    "        AND n.nspname !~ '^pgward_mask'\n"
	    "        AND pg_catalog.has_function_privilege(r, p.oid, 'EXECUTE')\n"
	    "        AND NOT pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE') LOOP\n"
	    "    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I',\n"
	    "      rel.oid::pg_catalog.regprocedure, m);\n"
	    "  END LOOP;\n", f);
	if (token)
		fputs("  EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION "
		    "pgward_mask.token(text) TO %I', m);\n", f);
	fputs("END\n" TAG ";\n\n", f);
}

struct mask_sql_result
mask_provision_sql(const struct mask_profiles_result *ps,
    const char *const *roles, size_t nroles, const uint8_t *key, size_t keylen,
    const char *source)
{
	struct mask_sql_result r = { NULL, NULL };
	int token = 0;
	for (size_t i = 0; i < ps->n; i++)
		token |= ps->v[i].uses_token;
	if (token && key == NULL) {
		r.error = mask_errf("the token style needs the tokenization key: give --key FILE");
		return r;
	}
	if (nroles == 0 && ps->n > 0) {
		r.error = mask_errf("no roles to provision");
		return r;
	}
	for (size_t i = 0; i < ps->n; i++) {
		const struct mask_profile *p = ps->v[i].profile;
		for (size_t k = 0; k < p->ncols; k++) {
			char s[256], t[256];
			split_table(p->cols[k].table, s, sizeof s, t, sizeof t);
			if (!name_ok(s) || !name_ok(t) || !name_ok(p->cols[k].column)) {
				r.error = mask_errf("%s.%s: not a name pgward-mask can write into SQL",
				    p->cols[k].table, p->cols[k].column);
				return r;
			}
			/* One view schema cannot hold two tables of one name. */
			for (size_t j = 0; j < k; j++) {
				char s2[256], t2[256];
				split_table(p->cols[j].table, s2, sizeof s2, t2, sizeof t2);
				if (strcmp(t, t2) == 0 && strcmp(s, s2) != 0) {
					r.error = mask_errf("profile %s masks tables %s and %s: a profile "
					    "cannot mask two tables of one name in different schemas",
					    p->id, p->cols[j].table, p->cols[k].table);
					return r;
				}
			}
		}
		for (size_t k = 0; k < nroles; k++) {
			char m[MASK_PROFILE_NAMEDATALEN];
			if (!name_ok(roles[k]) || mask_profile_role(p, roles[k], m) != 0) {
				r.error = mask_errf("role %s: its masked twin's name (%s_m_%s) is longer "
				    "than 63 bytes", roles[k], roles[k], p->hex);
				return r;
			}
		}
	}
	size_t len = 0;
	FILE *f = open_memstream(&r.sql, &len);
	if (f == NULL) {
		r.error = mask_errf("out of memory");
		return r;
	}
	fprintf(f, "-- pgward-mask sql: database-enforced masking for %s\n"
	    "-- Generated; idempotent. Run it as a superuser (it reads pg_authid):\n"
	    "--   pgward-mask sql -p POLICY | psql -v ON_ERROR_STOP=1 -d DATABASE\n"
	    "-- and run it again after changing the policy, the tables' columns, or\n"
	    "-- the grants of the roles: views and privileges are a snapshot.\n",
	    source);
	if (token)
		fputs("-- This script holds the tokenization key: keep it secret.\n", f);
	fputs("\nBEGIN;\nSET LOCAL search_path = pg_catalog, pg_temp;\n"
	    "DO " TAG "\nBEGIN\n"
	    "  IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN\n"
	    "    RAISE EXCEPTION 'pgward-mask: run this as a superuser';\n  END IF;\n"
	    "END\n" TAG ";\n\n", f);
	if (token) {
		fputs("-- tokens: the key in a table only its owner reads, behind a\n"
		    "-- SECURITY DEFINER function the masked roles may execute\n"
		    "CREATE SCHEMA IF NOT EXISTS pgward_mask;\n"
		    "ALTER SCHEMA pgward_mask OWNER TO CURRENT_USER;\n"
		    "REVOKE ALL ON SCHEMA pgward_mask FROM PUBLIC;\n"
		    "CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA pgward_mask;\n"
		    "CREATE TABLE IF NOT EXISTS pgward_mask.key (key bytea NOT NULL);\n"
		    "ALTER TABLE pgward_mask.key OWNER TO CURRENT_USER;\n"
		    "REVOKE ALL ON pgward_mask.key FROM PUBLIC;\n"
		    "-- keep the key out of the server log\n"
		    "SET LOCAL log_statement = 'none';\n"
		    "SET LOCAL log_min_duration_statement = -1;\n"
		    "DELETE FROM pgward_mask.key;\n"
		    "INSERT INTO pgward_mask.key VALUES (pg_catalog.decode('", f);
		for (size_t i = 0; i < keylen; i++)
			fprintf(f, "%02x", key[i]);
		fputs("', 'hex'));\n"
		    "RESET log_statement;\nRESET log_min_duration_statement;\n"
		    "DO " TAG "\nDECLARE\n  x text;\nBEGIN\n"
		    "  SELECT n.nspname INTO x FROM pg_catalog.pg_extension e\n"
		    "  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace\n"
		    "  WHERE e.extname = 'pgcrypto';\n"
		    "  -- as the engine: 'tok_' and 16 hex of HMAC-SHA-256(key, UTF-8 text)\n"
		    "  EXECUTE pg_catalog.format($f$CREATE OR REPLACE FUNCTION pgward_mask.token(v text)\n"
		    "    RETURNS text LANGUAGE sql STABLE STRICT SECURITY DEFINER\n"
		    "    SET search_path = pg_catalog, pg_temp\n"
		    "    AS $b$SELECT 'tok_' || pg_catalog.\"left\"(pg_catalog.encode(%I.hmac(\n"
		    "      pg_catalog.convert_to(v, 'UTF8'), k.key, 'sha256'), 'hex'), 16)\n"
		    "      FROM pgward_mask.key k$b$$f$, x);\n"
		    "END\n" TAG ";\n"
		    "ALTER FUNCTION pgward_mask.token(text) OWNER TO CURRENT_USER;\n"
		    "REVOKE ALL ON FUNCTION pgward_mask.token(text) FROM PUBLIC;\n\n", f);
	}
	for (size_t i = 0; i < ps->n; i++) {
		const struct mask_prov_profile *pp = &ps->v[i];
		const struct mask_profile *p = pp->profile;
		fprintf(f, "-- profile %s: mask column lines %s, for\n%s\n", p->id,
		    pp->lines, pp->who);
		for (size_t k = 0; k < p->ncols; k++) {
			fprintf(f, "--   %s.%s %s", p->cols[k].table, p->cols[k].column,
			    mask_style_name(p->cols[k].style));
			if (p->cols[k].style == MASK_PARTIAL)
				fprintf(f, " keep %d", p->cols[k].keep);
			fputc('\n', f);
		}
		fputs("CREATE SCHEMA IF NOT EXISTS ", f);
		ident(f, p->schema);
		fputs(";\nALTER SCHEMA ", f);
		ident(f, p->schema);
		fputs(" OWNER TO CURRENT_USER;\nREVOKE ALL ON SCHEMA ", f);
		ident(f, p->schema);
		fputs(" FROM PUBLIC;\n\n", f);
		for (size_t a = 0; a < p->ncols;) {
			size_t b = a + 1;
			while (b < p->ncols && strcmp(p->cols[b].table, p->cols[a].table) == 0)
				b++;
			table_view_sql(f, p, a, b);
			a = b;
		}
		for (size_t k = 0; k < nroles; k++) {
			char m[MASK_PROFILE_NAMEDATALEN];
			mask_profile_role(p, roles[k], m);
			role_sql(f, p, roles[k], m, pp->uses_token);
		}
	}
	fputs("COMMIT;\n", f);
	int bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		free(r.sql);
		r.sql = NULL;
		r.error = mask_errf("out of memory");
	}
	return r;
}

struct mask_sql_result
mask_check_sql(const struct mask_profile *p, const char *masked_role)
{
	struct mask_sql_result r = { NULL, NULL };
	if (!name_ok(masked_role)) {
		r.error = mask_errf("\"%s\" is not a role name", masked_role);
		return r;
	}
	size_t len = 0;
	FILE *f = open_memstream(&r.sql, &len);
	if (f == NULL) {
		r.error = mask_errf("out of memory");
		return r;
	}
	fputs("WITH RECURSIVE\n", f);
	masked_ctes(f, p);
	fputs(",\npgward_role AS (SELECT oid, rolname, rolsuper, rolbypassrls\n"
	    "  FROM pg_catalog.pg_roles WHERE rolname = ", f);
	lit(f, masked_role);
	fputs("),\n"
	    "pgward_reach AS (SELECT g.oid, g.rolname, g.rolsuper FROM pg_catalog.pg_roles g,\n"
	    "  pgward_role m WHERE pg_catalog.pg_has_role(m.oid, g.oid, 'MEMBER')),\n"
	    "pgward_views AS (SELECT DISTINCT n.label, n.relid, n.view,\n"
	    "  pg_catalog.to_regclass(n.view)::pg_catalog.oid AS voids FROM pgward_named n\n"
	    "  WHERE n.relid IS NOT NULL),\n"
	    "pgward_token AS (SELECT f.oid FROM pg_catalog.pg_proc f\n"
	    "  JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace\n"
	    "  WHERE fn.nspname = 'pgward_mask' AND f.proname = 'token'\n"
	    "    AND f.proargtypes OPERATOR(pg_catalog.=) '25'::pg_catalog.oidvector),\n"
	    "pgward_key AS (SELECT c.oid FROM pg_catalog.pg_class c\n"
	    "  JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace\n"
	    "  WHERE cn.nspname = 'pgward_mask' AND c.relname = 'key')\n"
	    "SELECT 'role ' || ", f);
	lit(f, masked_role);
	fputs(" || ' does not exist' AS problem\n"
	    "  WHERE NOT EXISTS (SELECT FROM pgward_role)\n"
	    "UNION ALL SELECT 'role ' || rolname || ' is a superuser' FROM pgward_role WHERE rolsuper\n"
	    "UNION ALL SELECT 'role ' || rolname || ' has BYPASSRLS' FROM pgward_role WHERE rolbypassrls\n"
	    "UNION ALL SELECT 'role ' || m.rolname || ' is a member of role ' || g.rolname\n"
	    "  FROM pg_catalog.pg_auth_members am JOIN pgward_role m ON am.member = m.oid\n"
	    "  JOIN pg_catalog.pg_roles g ON g.oid = am.roleid\n"
	    "UNION ALL SELECT DISTINCT 'table ' || label || ' does not exist' FROM pgward_named\n"
	    "  WHERE relid IS NULL\n"
	    "UNION ALL SELECT 'column ' || n.label || '.' || n.attname || ' does not exist'\n"
	    "  FROM pgward_named n WHERE n.relid IS NOT NULL AND NOT EXISTS (SELECT\n"
	    "    FROM pg_catalog.pg_attribute a WHERE a.attrelid = n.relid AND a.attname = n.attname\n"
	    "    AND a.attnum > 0 AND NOT a.attisdropped)\n"
	    "UNION ALL SELECT 'table ' || v.label || ' has row-level security (not supported "
	    "with database masking)'\n"
	    "  FROM pgward_views v JOIN pg_catalog.pg_class c ON c.oid = v.relid WHERE c.relrowsecurity\n"
	    "UNION ALL SELECT x.problem FROM (SELECT DISTINCT pg_catalog.quote_ident(ns.nspname) || '.'\n"
	    "    || pg_catalog.quote_ident(c.relname) || '.' || pg_catalog.quote_ident(a.attname)\n"
	    "    || ' readable by role ' || g.rolname AS problem\n"
	    "  FROM pgward_masked k JOIN pg_catalog.pg_class c ON c.oid = k.relid\n"
	    "  JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace\n"
	    "  JOIN pg_catalog.pg_attribute a ON a.attrelid = k.relid AND a.attnum = k.attnum,\n"
	    "  pgward_reach g\n"
	    "  WHERE g.rolsuper OR pg_catalog.has_column_privilege(g.oid, k.relid, k.attnum, 'SELECT')\n"
	    "  ) x\n"
	    "UNION ALL SELECT 'view ' || t.relid::pg_catalog.regclass::text || ' reads a masked "
	    "table and is readable by role ' || g.rolname\n"
	    "  FROM pgward_tainted t, pgward_reach g\n"
	    "  WHERE t.relid NOT IN (SELECT relid FROM pgward_masked)\n"
	    "    AND pg_catalog.has_any_column_privilege(g.oid, t.relid, 'SELECT')\n"
	    "UNION ALL SELECT 'view ' || v.view || ' is missing' FROM pgward_views v\n"
	    "  WHERE v.voids IS NULL\n"
	    "UNION ALL SELECT 'view ' || v.view || ' lacks column ' || a.attname\n"
	    "  FROM pgward_views v JOIN pg_catalog.pg_attribute a ON a.attrelid = v.relid\n"
	    "    AND a.attnum > 0 AND NOT a.attisdropped\n"
	    "  WHERE v.voids IS NOT NULL AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute va\n"
	    "    WHERE va.attrelid = v.voids AND va.attname = a.attname AND NOT va.attisdropped)\n"
	    "UNION ALL SELECT 'view ' || v.view || ' column ' || n.attname || ' passes the raw value'\n"
	    "  FROM pgward_views v JOIN pgward_named n ON n.view = v.view\n"
	    "  JOIN pg_catalog.pg_attribute va ON va.attrelid = v.voids AND va.attname = n.attname\n"
	    "  WHERE pg_catalog.pg_column_is_updatable(v.voids::pg_catalog.regclass, va.attnum, false)\n"
	    "UNION ALL SELECT 'role ' || m.rolname || ': search_path does not start with ' || ", f);
	lit(f, p->schema);
	fputs("\n  FROM pgward_role m WHERE NOT EXISTS (SELECT FROM (SELECT pg_catalog.substr(c, 13) AS sp\n"
	    "    FROM pg_catalog.pg_db_role_setting rs, pg_catalog.unnest(rs.setconfig) c\n"
	    "    WHERE rs.setrole = m.oid AND c LIKE 'search_path=%'\n"
	    "      AND rs.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database\n"
	    "        WHERE datname = pg_catalog.current_database()))\n"
	    "    ORDER BY rs.setdatabase DESC LIMIT 1) x\n"
	    "    WHERE pg_catalog.btrim(pg_catalog.split_part(x.sp, ',', 1), ' \"') = ", f);
	lit(f, p->schema);
	fputs(")\n", f);
	/* The masked role has no USAGE on schema pgward_mask: the token
	 * function and the key are found in the catalogs, not by name
	 * (to_regclass and to_regprocedure raise "permission denied for
	 * schema" when the relay runs this as the masked role). */
	if (profile_uses_token(p))
		fputs("UNION ALL SELECT 'function pgward_mask.token(text) is missing'\n"
		    "  WHERE NOT EXISTS (SELECT FROM pgward_token)\n"
		    "UNION ALL SELECT 'role ' || m.rolname || ' cannot execute pgward_mask.token(text)'\n"
		    "  FROM pgward_role m, pgward_token t\n"
		    "  WHERE NOT pg_catalog.has_function_privilege(m.oid, t.oid, 'EXECUTE')\n"
		    "UNION ALL SELECT 'table pgward_mask.key readable by role ' || g.rolname\n"
		    "  FROM pgward_reach g, pgward_key k\n"
		    "  WHERE g.rolsuper OR pg_catalog.has_any_column_privilege(g.oid, k.oid, 'SELECT')\n", f);
	int bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		free(r.sql);
		r.sql = NULL;
		r.error = mask_errf("out of memory");
	}
	return r;
}
