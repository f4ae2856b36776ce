/* A small cache of recently verified credentials (API keys, Basic
 * credentials), so that authenticating a request costs no store read. Each
 * entry lives ttl; a revocation made through this process empties the cache
 * at once, other processes of a cluster see it within the ttl. */
#ifndef RECOUP_CORE_TTL_CACHE_H
#define RECOUP_CORE_TTL_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define TTL_CACHE_KEY_MAX 128

typedef struct ttl_cache ttl_cache;

/* A cache of values of value_size bytes. */
ttl_cache *ttl_cache_new(size_t value_size, int64_t ttl_ms);
void ttl_cache_free(ttl_cache *c);
/* Copies a live entry's value into out; returns 1 on a hit. */
int ttl_cache_get(ttl_cache *c, const char *key, void *out);
void ttl_cache_put(ttl_cache *c, const char *key, const void *value);
void ttl_cache_clear(ttl_cache *c);

#endif
