#include "core/ttl_cache.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"

/* Direct-mapped: a key has one slot, and a newer key evicts an older one.
 * A miss only costs the store read the cache saves. */
#define SLOTS 1024 /* a power of two */

struct slot {
    char key[TTL_CACHE_KEY_MAX];
    int64_t expires_ns;
};

struct ttl_cache {
    pthread_mutex_t mu;
    size_t value_size;
    int64_t ttl_ns;
    struct slot slots[SLOTS];
    unsigned char *values; /* SLOTS * value_size */
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t slot_of(const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h & (SLOTS - 1));
}

ttl_cache *ttl_cache_new(size_t value_size, int64_t ttl_ms)
{
    ttl_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->values = calloc(SLOTS, value_size);
    if (!c->values) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->value_size = value_size;
    c->ttl_ns = ttl_ms * 1000000;
    return c;
}

void ttl_cache_free(ttl_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    /* The values are credential rows: hashes, but still not left behind. */
    sodium_memzero(c->values, SLOTS * c->value_size);
    free(c->values);
    free(c);
}

int ttl_cache_get(ttl_cache *c, const char *key, void *out)
{
    if (!c || strlen(key) >= TTL_CACHE_KEY_MAX)
        return 0;
    size_t i = slot_of(key);
    int hit = 0;
    pthread_mutex_lock(&c->mu);
    if (c->slots[i].expires_ns > mono_ns() && strcmp(c->slots[i].key, key) == 0) {
        memcpy(out, c->values + i * c->value_size, c->value_size);
        hit = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void ttl_cache_put(ttl_cache *c, const char *key, const void *value)
{
    if (!c || strlen(key) >= TTL_CACHE_KEY_MAX)
        return;
    size_t i = slot_of(key);
    pthread_mutex_lock(&c->mu);
    str_copy(c->slots[i].key, sizeof c->slots[i].key, key);
    memcpy(c->values + i * c->value_size, value, c->value_size);
    c->slots[i].expires_ns = mono_ns() + c->ttl_ns;
    pthread_mutex_unlock(&c->mu);
}

void ttl_cache_clear(ttl_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < SLOTS; i++)
        c->slots[i].expires_ns = 0;
    pthread_mutex_unlock(&c->mu);
}
