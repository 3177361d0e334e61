#ifndef PGWARD_RELAY_MASKING_H
#define PGWARD_RELAY_MASKING_H

/* Masking of results in the session (docs/masking.md), with the engine
 * from mask/. Every RowDescription says what each column gets; every
 * DataRow is rewritten before it reaches the client; COPY TO STDOUT rows,
 * ErrorResponse and NoticeResponse fields go through the detectors. When
 * masking cannot be applied (an unknown row shape, an engine error) the
 * session ends with an error: no unmasked byte is sent. */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "mask/mask.h"
#include "strmap.h"

struct mask_field {
	struct mask_action action;
	uint32_t type_oid;
	int16_t format;
};

struct mask_shape {
	int nfields;
	struct mask_field *fields;
	char **names;		/* for the audit: masked column labels */
};

struct masking {
	struct mask_engine *engine;
	json_t *tables;		/* tables named by column rules */
	/* "oid:attnum" -> "schema.table\0column" of tables that rules name */
	struct strmap catalog;
	/* Row shapes of prepared statements and portals (Describe answers). */
	struct strmap statement_shapes;
	struct strmap portal_shapes;
	/* Describes sent, oldest first: 'S' or 'P' then the name. */
	char **describes;
	int ndescribes;
	/* The shape DataRows are read with now, and the one an Execute
	 * without its own RowDescription will use (both owned). */
	struct mask_shape *current_owned;
	struct mask_shape *pending_execute_shape;
	int detect_all;		/* content detection on every text value */
	int catalog_stale;	/* DDL ran: look the rule tables up again */
	int copy_out;		/* inside COPY TO STDOUT */
	int copy_binary;
	uint64_t values_masked;
	uint64_t values_reported;	/* values_masked at the last result record */
	json_t *columns_masked;	/* labels masked since the last result record */
	char error[200];
};

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

/* Client messages that decide which shape later DataRows have. */
void masking_on_client(struct masking *m, char type, const uint8_t *body, size_t len);
/* What was masked since the last call (for the result record); NULL if
 * nothing. */
json_t *masking_take_report(struct masking *m);
/* A server message. Returns 0 (unchanged), 1 (replaced: *out and *outlen hold
 * the new whole message, malloc'd) or -1 (masking impossible: end the
 * session; m->error says why). */
int masking_on_server(struct masking *m, char type, const uint8_t *msg, size_t len,
    uint8_t **out, size_t *outlen);

#endif
