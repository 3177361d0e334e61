#ifndef PGWARD_RELAY_SHAPEKEY_H
#define PGWARD_RELAY_SHAPEKEY_H

/* A cheap key for a statement's shape without parsing it: the text with
 * every number and string literal replaced by '?', hashed. Only a
 * conservative subset of SQL gets a key (letters, digits, blanks, commas,
 * parentheses, '.', '=', '<', '>', '*', '+', '-', ';', simple quoted
 * strings); anything else - comments, dollar quotes, escapes, quoted
 * identifiers, parameters - gets none and the caller parses instead. Two
 * texts with the same key differ only in literal values, so they have the
 * same parse tree shape (the same fingerprint). Returns 0 with the key as
 * 64 hex digits, or -1. */
int shapekey_of(const char *sql, char out[65]);

#endif
