/* The cache of verified credentials: hits within the ttl, nothing after
 * it, nothing after a clear, and a key is never answered with another's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/ttl_cache.h"

struct row {
    char name[32];
    int64_t n;
};

static void hits_within_ttl_only(void **state)
{
    (void)state;
    ttl_cache *c = ttl_cache_new(sizeof(struct row), 150);
    assert_non_null(c);
    struct row in = {"alpha", 42}, out;
    assert_int_equal(ttl_cache_get(c, "k1", &out), 0);
    ttl_cache_put(c, "k1", &in);
    memset(&out, 0, sizeof out);
    assert_int_equal(ttl_cache_get(c, "k1", &out), 1);
    assert_string_equal(out.name, "alpha");
    assert_int_equal(out.n, 42);
    assert_int_equal(ttl_cache_get(c, "k2", &out), 0);
    struct timespec nap = {0, 250 * 1000000L};
    nanosleep(&nap, NULL);
    assert_int_equal(ttl_cache_get(c, "k1", &out), 0); /* expired */
    ttl_cache_free(c);
}

static void clear_forgets_everything(void **state)
{
    (void)state;
    ttl_cache *c = ttl_cache_new(sizeof(struct row), 60000);
    struct row in = {"x", 1}, out;
    char key[16];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        ttl_cache_put(c, key, &in);
    }
    assert_int_equal(ttl_cache_get(c, "key-7", &out), 1);
    ttl_cache_clear(c);
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        assert_int_equal(ttl_cache_get(c, key, &out), 0);
    }
    ttl_cache_free(c);
}

/* Many keys share slots: whatever a lookup answers is that key's value. */
static void never_answers_with_another_key(void **state)
{
    (void)state;
    ttl_cache *c = ttl_cache_new(sizeof(struct row), 60000);
    char key[16];
    for (int i = 0; i < 5000; i++) {
        struct row in;
        snprintf(in.name, sizeof in.name, "v-%d", i);
        in.n = i;
        snprintf(key, sizeof key, "key-%d", i);
        ttl_cache_put(c, key, &in);
    }
    int hits = 0;
    for (int i = 0; i < 5000; i++) {
        struct row out;
        snprintf(key, sizeof key, "key-%d", i);
        if (ttl_cache_get(c, key, &out)) {
            hits++;
            assert_int_equal(out.n, i);
        }
    }
    assert_true(hits > 0 && hits <= 1024);
    char long_key[200];
    memset(long_key, 'a', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    struct row in = {"long", 7}, out;
    ttl_cache_put(c, long_key, &in); /* too long to cache: ignored */
    assert_int_equal(ttl_cache_get(c, long_key, &out), 0);
    ttl_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hits_within_ttl_only),
        cmocka_unit_test(clear_forgets_everything),
        cmocka_unit_test(never_answers_with_another_key),
    };
    return cmocka_run_group_tests_name("ttl_cache", tests, NULL, NULL);
}
