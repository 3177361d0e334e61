#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t
hash_key(const char *s)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

int
strmap_init(struct strmap *m, void (*free_value)(void *))
{
	m->nbuckets = 64;
	m->count = 0;
	m->free_value = free_value;
	m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
	return m->buckets ? 0 : -1;
}

static void
entry_free(struct strmap *m, struct strmap_entry *e)
{
	if (m->free_value != NULL && e->value != NULL)
		m->free_value(e->value);
	free(e->key);
	free(e);
}

void
strmap_clear(struct strmap *m)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct strmap_entry *e = m->buckets[i];
		while (e != NULL) {
			struct strmap_entry *next = e->next;
			entry_free(m, e);
			e = next;
		}
		m->buckets[i] = NULL;
	}
	m->count = 0;
}

void
strmap_free(struct strmap *m)
{
	if (m->buckets == NULL)
		return;
	strmap_clear(m);
	free(m->buckets);
	m->buckets = NULL;
}

static void
grow(struct strmap *m)
{
	size_t n = m->nbuckets * 2;
	struct strmap_entry **b = calloc(n, sizeof *b);
	if (b == NULL)
		return;		/* still correct, only slower */
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct strmap_entry *e = m->buckets[i];
		while (e != NULL) {
			struct strmap_entry *next = e->next;
			size_t h = hash_key(e->key) % n;
			e->next = b[h];
			b[h] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

int
strmap_put(struct strmap *m, const char *key, void *value)
{
	size_t h = hash_key(key) % m->nbuckets;
	for (struct strmap_entry *e = m->buckets[h]; e != NULL; e = e->next) {
		if (strcmp(e->key, key) == 0) {
			if (m->free_value != NULL && e->value != NULL && e->value != value)
				m->free_value(e->value);
			e->value = value;
			return 0;
		}
	}
	struct strmap_entry *e = malloc(sizeof *e);
	char *k = strdup(key);
	if (e == NULL || k == NULL) {
		free(e);
		free(k);
		if (m->free_value != NULL && value != NULL)
			m->free_value(value);
		return -1;
	}
	e->key = k;
	e->value = value;
	e->next = m->buckets[h];
	m->buckets[h] = e;
	if (++m->count > m->nbuckets * 2)
		grow(m);
	return 0;
}

void *
strmap_get(const struct strmap *m, const char *key)
{
	size_t h = hash_key(key) % m->nbuckets;
	for (struct strmap_entry *e = m->buckets[h]; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e->value;
	return NULL;
}

void
strmap_remove(struct strmap *m, const char *key)
{
	size_t h = hash_key(key) % m->nbuckets;
	for (struct strmap_entry **pp = &m->buckets[h]; *pp != NULL; pp = &(*pp)->next) {
		if (strcmp((*pp)->key, key) == 0) {
			struct strmap_entry *e = *pp;
			*pp = e->next;
			entry_free(m, e);
			m->count--;
			return;
		}
	}
}

void
strmap_remove_if(struct strmap *m, int (*pred)(void *value, void *ctx), void *ctx)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct strmap_entry **pp = &m->buckets[i];
		while (*pp != NULL) {
			struct strmap_entry *e = *pp;
			if (pred(e->value, ctx)) {
				*pp = e->next;
				entry_free(m, e);
				m->count--;
			} else {
				pp = &e->next;
			}
		}
	}
}
