#ifndef PGWARD_RELAY_RELATIONS_H
#define PGWARD_RELAY_RELATIONS_H

/* What writing a relation really touches, from the server's catalog:
 * for every view and every relation with rewrite rules, the plain tables
 * its rules reach (recursively). pgward-filter gets the map with each
 * decide request ("relations", docs/filter-protocol.md), so a DELETE
 * through a view or a rule is decided as a DELETE of its base tables.
 *
 * Keys: "schema.name", the bare "name" (the union over every schema, and
 * the table itself where a plain table has that name too, since the
 * client's search_path may change) and "pg_temp.name" for temporary
 * ones. Values: arrays of "schema.table"; an empty array: the relation
 * reaches no plain table the relay can name (the filter treats a write
 * to it as opaque). pgward's own masking views (schemas pgward_mask_*,
 * docs/masking.md) are left out: they stand for their table, and their
 * bare names would otherwise make every read of the table look like a
 * read through a view. */

#include <jansson.h>

/* One query whose single row and column is the map as JSON text. */
const char *relations_query(void);
/* The map from that JSON text: NULL on malformed input. */
json_t *relations_parse(const char *text, size_t len);

/* Gateway-mode masking (docs/masking.md): the functions outside
 * pg_catalog, information_schema and extensions that may read a column
 * the person's rules mask, because their source names a masked table or
 * column as a word, runs dynamic SQL (EXECUTE), is not SQL or PL/pgSQL
 * (its source cannot be read), or calls such a function (recursively,
 * by name). One query whose single row and column is a JSON array of
 * their names, "schema.name" and bare "name"; NULL when the rules mask
 * no column (malloc'd). pgward-filter refuses calls of them in gateway
 * mode. */
char *relations_functions_query(json_t *mask_rules);
/* The array from that JSON text: NULL on malformed input. */
json_t *relations_functions_parse(const char *text, size_t len);

#endif
