#ifndef PGWARD_MASK_PGVALUE_H
#define PGWARD_MASK_PGVALUE_H

/* Structured PostgreSQL values (arrays, records, composites) taken apart
 * for masking and put back together: every element reaches a callback,
 * which keeps it, replaces it or makes it NULL; the value is then written
 * again as PostgreSQL itself would write it. Pure code: no I/O, no relay
 * state. docs/masking.md "Structured values" is the reference.
 *
 * Formats, as the server sends them (array_out/array_send,
 * record_out/record_send):
 *   text array   [1:2][0:0]={{a,"b c"},{NULL,"NULL"}}  (decoration only when a
 *                lower bound is not 1; delimiter ',' except ';' for box)
 *   text record  (a,"b,c",,"")  (an empty unquoted field is NULL, "" is empty)
 *   binary array ndim, has-null flag, element oid, ndim x (length, lower
 *                bound), then per element int32 length (-1: NULL) and bytes
 *   binary record column count, then per column oid, int32 length, bytes
 *
 * Contract:
 * - Fail closed: malformed input, a truncated binary value, leftover bytes,
 *   more than PGVALUE_MAX_DIMS dimensions, nesting deeper than
 *   PGVALUE_MAX_DEPTH walkers, or a callback's -1 gives -1 with a reason in
 *   pv->error. Nothing of the input is then to be sent.
 * - Canonical output: unchanged elements are written again with
 *   PostgreSQL's quoting, so a value the server produced comes out byte
 *   for byte the same (tests/unit/pgvalue_fixture.h, from a real server);
 *   other accepted spellings (extra spaces, needless quotes, [1:2]=) come
 *   out in the server's spelling.
 * - Bytes, not characters: safe for UTF-8 and every other server-side
 *   encoding; a client_encoding whose multibyte characters may contain
 *   ASCII bytes (SJIS, BIG5, GBK, UHC, GB18030, JOHAB) must be refused by
 *   the caller before any of this runs.
 * - array_nulls is assumed on (the default): an unquoted NULL is NULL.
 * - Text "()" is reported as one NULL field (PostgreSQL writes a record of
 *   no columns and one of a single NULL column alike).
 * - Memory: struct pgvalue holds one pair of scratch buffers per nesting
 *   level, grown on demand and reused: no allocation per element once
 *   they are large enough. Time is linear in the input per nesting level.
 * - Not thread-safe per struct pgvalue; one per session is the intent.
 */

#include <stddef.h>
#include <stdint.h>

#include "mask/mask.h"

#define PGVALUE_MAX_DEPTH 64	/* nested arrays/records, walkers entered */
#define PGVALUE_MAX_DIMS 6	/* PostgreSQL's MAXDIM */

/* Scratch and error state; start with {0}, end with pgvalue_free. */
struct pgvalue {
	int depth;
	struct mask_buf elem[PGVALUE_MAX_DEPTH];	/* de-quoted element text */
	struct mask_buf repl[PGVALUE_MAX_DEPTH];	/* a callback's replacement */
	char error[200];
};
void pgvalue_free(struct pgvalue *pv);
/* Sets pv->error (printf style) unless a reason is already there; for
 * callbacks. Returns -1. */
int pgvalue_fail(struct pgvalue *pv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- the walkers: one level of one value ---- */

struct pgvalue_elem {
	const char *data;	/* text: de-quoted text; binary: the bytes (NULL if len is 0) */
	size_t len;
	int isnull;
	uint32_t type;		/* binary: element oid (array header or column); text: 0 */
	int index;		/* 0-based: element in storage order / record column */
};

/* Called once per element, NULLs included. Returns 0 to keep the element;
 * 1 after writing the replacement into out (out->len set, starting from
 * out->len == 0) or setting *out_null; -1 to fail (pgvalue_fail for a
 * reason). A callback may call the walkers again on el->data (nested
 * values): they use the next level's scratch. */
typedef int (*pgvalue_elem_fn)(struct pgvalue *pv, void *arg, const struct pgvalue_elem *el,
    struct mask_buf *out, int *out_null);

/* Each walker parses in[0, len), calls fn per element and writes the
 * value again into out (out->len reset first). Returns 1 if some element
 * was replaced, 0 if none (out then holds the canonical spelling of the
 * input), -1 on error. fn NULL: only checks the syntax (out may be NULL). */
int pgvalue_text_array(struct pgvalue *pv, const char *in, size_t len, char delim,
    pgvalue_elem_fn fn, void *arg, struct mask_buf *out);
int pgvalue_text_record(struct pgvalue *pv, const char *in, size_t len,
    pgvalue_elem_fn fn, void *arg, struct mask_buf *out);
int pgvalue_bin_array(struct pgvalue *pv, const uint8_t *in, size_t len,
    pgvalue_elem_fn fn, void *arg, struct mask_buf *out);
int pgvalue_bin_record(struct pgvalue *pv, const uint8_t *in, size_t len,
    pgvalue_elem_fn fn, void *arg, struct mask_buf *out);

/* ---- types ---- */

enum pgvalue_kind {
	PGVALUE_UNKNOWN = 0,	/* not built in and the lookup does not know it */
	PGVALUE_OTHER,		/* a scalar that is not text-like: int4, numeric, bytea... */
	PGVALUE_TEXT,		/* text-like: text varchar bpchar name json xml unknown jsonb */
	PGVALUE_ARRAY,
	PGVALUE_RECORD,		/* record (2249) or a composite type */
	PGVALUE_DOMAIN,		/* a domain: see base */
};

struct pgvalue_type {
	enum pgvalue_kind kind;
	uint32_t elem;		/* ARRAY: element type (0: varies, anyarray); DOMAIN: base type */
	char delim;		/* ARRAY: the element type's typdelim (',' or ';' for box) */
	int nfields;		/* RECORD: number of (non-dropped) columns; -1: unknown */
	const uint32_t *fields;	/* RECORD: their type oids in attnum order */
};

/* Built-in types only: the oids below 10000 that every cluster shares
 * (text-likes, record, _record, the arrays of built-in types, anyarray,
 * the catalogs' row types; every other one is OTHER). Oid 0 and higher
 * oids: PGVALUE_UNKNOWN. */
enum pgvalue_kind pgvalue_kind(uint32_t oid);
/* The same, with element, delimiter and field count; 0 if built in, -1 if not. */
int pgvalue_builtin(uint32_t oid, struct pgvalue_type *t);

/* The caller's catalog knowledge for other oids, consulted after the
 * built-in table. Fills *t and returns 0, or -1 when it does not know the
 * oid (the kind is then PGVALUE_UNKNOWN). t->fields must stay valid while
 * the value is masked. The relay fills it from pg_type and pg_attribute:
 *
 *   SELECT t.oid, t.typtype, t.typelem, t.typdelim, t.typbasetype, t.typrelid,
 *          t.typcategory
 *     FROM pg_type t WHERE t.oid = ANY($1::oid[]);
 *   -- typtype 'd': DOMAIN, elem = typbasetype
 *   -- typcategory 'A' (typelem <> 0, typlen = -1): ARRAY, elem = typelem,
 *   --   delim = typdelim of the element type
 *   -- typtype 'c': RECORD, fields from
 *   SELECT a.atttypid FROM pg_attribute a
 *    WHERE a.attrelid = $typrelid AND a.attnum > 0 AND NOT a.attisdropped
 *    ORDER BY a.attnum;
 *   -- anything else: OTHER (or TEXT for a type whose text and binary
 *   --   forms are its text, as citext's are)
 * and asks again for every oid it meets in the answer (element, base and
 * field types), until it knows all of them. */
typedef int (*pgvalue_lookup_fn)(void *arg, uint32_t oid, struct pgvalue_type *t);

/* ---- masking a whole value, every leaf ---- */

struct pgvalue_leaf {
	uint32_t type;		/* after domains: the base type; 0: not known (text
				 * of an anonymous record's column, of anyarray) */
	enum pgvalue_kind kind;	/* TEXT, OTHER or UNKNOWN */
	uint32_t composite;	/* the named composite type of the innermost record
				 * holding it (array elements count as their array
				 * column's), else 0 (anonymous record, or none) */
	int field;		/* its column number in that record (0-based, non-dropped
				 * columns), -1 if no record holds it */
	int binary;
	const char *data;	/* text form; binary: the bytes (jsonb: without its version byte) */
	size_t len;
};

/* Called for every non-NULL scalar leaf. Same returns as pgvalue_elem_fn.
 * In binary, a leaf that is not TEXT may only be kept or made NULL. */
typedef int (*pgvalue_leaf_fn)(void *arg, const struct pgvalue_leaf *leaf,
    struct mask_buf *out, int *out_null);

struct pgvalue_masker {
	pgvalue_lookup_fn lookup;	/* may be NULL: built-in types only */
	void *lookup_arg;
	pgvalue_leaf_fn leaf;
	void *leaf_arg;
};

/* Masks one value of type oid (a result column's type, or 0 for unknown)
 * in text (binary 0) or binary format: arrays and records are walked down
 * to their leaves, each leaf goes to m->leaf. Structure is guessed only
 * for text values of unknown type (a field of an anonymous record, an
 * element of anyarray, an unknown oid): text that parses as an array or
 * record literal is walked as one, anything else is one leaf.
 * Returns 0: nothing replaced, send the input (out may hold scratch); 1:
 * the masked value is in out, or *out_null; -1: fail closed (pv->error). */
int pgvalue_mask(struct pgvalue *pv, const struct pgvalue_masker *m, uint32_t oid,
    int binary, const char *in, size_t len, struct mask_buf *out, int *out_null);

#endif
