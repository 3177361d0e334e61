#ifndef PGWARD_STRMAP_H
#define PGWARD_STRMAP_H

/* A small string-keyed hash map owning copies of its keys; values are the
 * caller's, freed by the free function given at creation. */

#include <stddef.h>

struct strmap_entry {
	char *key;
	void *value;
	struct strmap_entry *next;
};

struct strmap {
	struct strmap_entry **buckets;
	size_t nbuckets;
	size_t count;
	void (*free_value)(void *);
};

int strmap_init(struct strmap *m, void (*free_value)(void *));
void strmap_free(struct strmap *m);
/* Replaces (and frees) any old value. Returns 0 or -1 (out of memory;
 * the value is then freed too). */
int strmap_put(struct strmap *m, const char *key, void *value);
void *strmap_get(const struct strmap *m, const char *key);
void strmap_remove(struct strmap *m, const char *key);
void strmap_clear(struct strmap *m);
/* Removes every entry for which pred(value, ctx) is true. */
void strmap_remove_if(struct strmap *m, int (*pred)(void *value, void *ctx), void *ctx);

#endif
