#ifndef PGWARD_RELAY_MASKING_H
#define PGWARD_RELAY_MASKING_H

/* Masking of results in the session (docs/masking.md), with the engine
 * from mask/. Every RowDescription says what each column gets; every
 * DataRow is rewritten before it reaches the client; COPY TO STDOUT rows,
 * ErrorResponse, NoticeResponse and NotificationResponse fields go through
 * the detectors. When
 * masking cannot be applied (an unknown row shape, an engine error) the
 * session ends with an error: no unmasked byte is sent. */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "mask/mask.h"
#include "mask/pgvalue.h"
#include "strmap.h"

struct row_shape;

struct mask_field {
	struct mask_action action;
	uint32_t type_oid;
	int16_t format;
};

struct masking {
	struct mask_engine *engine;
	json_t *tables;		/* tables named by column rules */
	/* "oid:attnum" -> "schema.table\0column" of tables that rules name */
	struct strmap catalog;
	/* Changes with every engine and catalog change: what was derived
	 * from a row shape under another generation is derived again. */
	uint64_t generation;
	int detect_all;		/* content detection on every text value */
	int database_enforced;	/* the database masks the columns (its views) */
	int copy_out;		/* inside COPY TO STDOUT */
	int copy_binary;
	uint64_t values_masked;
	uint64_t values_reported;	/* values_masked at the last result record */
	json_t *columns_masked;	/* labels masked since the last result record */
	struct pgvalue pv;	/* scratch for arrays and records */
	struct mask_buf out;	/* a masked value */
	char error[200];
};

/* Whether the relay can mask values in this client_encoding (0 for
 * encodings whose multibyte characters can hold ASCII bytes). */
int masking_encoding_safe(const char *encoding);

/* rules: the "mask" member of pgward-filter's connect reply. */
int masking_init(struct masking *m, json_t *rules, const uint8_t *key, size_t keylen,
    char *err, size_t errlen);
void masking_free(struct masking *m);
/* SQL that lists the columns of the tables the rules name, for
 * masking_add_catalog_row (malloc'd; NULL when no rule names a table). */
char *masking_catalog_query(const struct masking *m);
void masking_add_catalog_row(struct masking *m, const char *oid, const char *attnum,
    const char *schema, const char *table, const char *column);
/* Replaces the catalog map from the DataRows of the catalog query (as
 * received on the wire). Returns 0 or -1. */
void masking_clear_catalog(struct masking *m);
int masking_add_catalog_message(struct masking *m, const uint8_t *msg, size_t len);

/* What was masked since the last call (for the result record); NULL if
 * nothing. */
json_t *masking_take_report(struct masking *m);
/* A server message; shape is the row shape DataRows have now (from the
 * protocol state in extended.h; NULL: unknown, and rows are refused).
 * Masking is a function of (shape, message). Returns 0 (unchanged), 1
 * (replaced: *out and *outlen hold the new whole message, malloc'd) or -1
 * (masking impossible: end the session; m->error says why). */
int masking_on_server(struct masking *m, struct row_shape *shape, char type,
    const uint8_t *msg, size_t len, uint8_t **out, size_t *outlen);

#endif
