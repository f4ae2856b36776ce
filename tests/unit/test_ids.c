/* Random identifiers: length, alphabet, prefix, validation and uniqueness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/ids.h"

static int group_setup(void **state)
{
    (void)state;
    return crypto_init();
}

static void lengths_and_alphabets(void **state)
{
    (void)state;
    static const struct { size_t len; const char *alphabet; } kinds[] = {
        {200, ID_UPPER}, {200, ID_ALNUM}, {32, ID_ALNUM}, {24, ID_LOWER_ALNUM}, {64, ID_HEX}, {1, ID_HEX},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        char id[256];
        memset(id, '#', sizeof id);
        id_random(id, kinds[k].len, kinds[k].alphabet);
        assert_int_equal(strlen(id), kinds[k].len);
        assert_int_equal(strspn(id, kinds[k].alphabet), kinds[k].len);
        assert_true(id_matches(id, kinds[k].len, kinds[k].alphabet));
    }
    char empty[1] = {'#'};
    id_random(empty, 0, ID_UPPER);
    assert_int_equal(empty[0], '\0');
}

static void every_symbol_is_drawn(void **state)
{
    (void)state;
    static const char *const alphabets[] = {ID_UPPER, ID_ALNUM, ID_LOWER_ALNUM, ID_HEX};
    for (size_t a = 0; a < sizeof alphabets / sizeof alphabets[0]; a++) {
        const char *alphabet = alphabets[a];
        size_t n = strlen(alphabet);
        int seen[128] = {0};
        char id[4001];
        id_random(id, sizeof id - 1, alphabet);
        for (size_t i = 0; i < sizeof id - 1; i++)
            seen[(unsigned char)id[i]]++;
        /* 4000 draws over at most 62 symbols: about 65 each when uniform. */
        for (size_t i = 0; i < n; i++) {
            int count = seen[(unsigned char)alphabet[i]];
            if (count < 20 || count > (int)(3 * 4000 / n))
                fail_msg("'%c' drawn %d times in 4000 from a %zu-symbol alphabet", alphabet[i], count, n);
        }
    }
}

static void prefixed(void **state)
{
    (void)state;
    char id[64];
    id_random_prefixed(id, sizeof id, "pm_", 32, ID_ALNUM);
    assert_int_equal(strlen(id), 35);
    assert_memory_equal(id, "pm_", 3);
    assert_true(id_matches(id + 3, 32, ID_ALNUM));
    assert_false(id_matches(id, 35, ID_ALNUM));

    char exact[36];
    id_random_prefixed(exact, sizeof exact, "pm_", 32, ID_ALNUM);
    assert_int_equal(strlen(exact), 35);

    /* Too small a buffer yields an empty id, never a truncated one. */
    char small[35];
    memset(small, '#', sizeof small);
    id_random_prefixed(small, sizeof small, "pm_", 32, ID_ALNUM);
    assert_string_equal(small, "");
    char none[1] = {'#'};
    id_random_prefixed(none, 0, "pm_", 32, ID_ALNUM);
    assert_int_equal(none[0], '#');
}

static void matching(void **state)
{
    (void)state;
    assert_true(id_matches("ABCXYZ", 6, ID_UPPER));
    assert_false(id_matches("ABCXYZ", 5, ID_UPPER));
    assert_false(id_matches("ABCXYZ", 7, ID_UPPER));
    assert_false(id_matches("ABCxYZ", 6, ID_UPPER));
    assert_false(id_matches("ABC YZ", 6, ID_UPPER));
    assert_false(id_matches("ABC-YZ", 6, ID_ALNUM));
    assert_false(id_matches("ABC/YZ", 6, ID_ALNUM));
    assert_true(id_matches("aZ09", 4, ID_ALNUM));
    assert_false(id_matches("aZ09", 4, ID_LOWER_ALNUM));
    assert_true(id_matches("deadbeef", 8, ID_HEX));
    assert_false(id_matches("DEADBEEF", 8, ID_HEX));
    assert_false(id_matches(NULL, 0, ID_UPPER));
    assert_true(id_matches("", 0, ID_UPPER));
    assert_false(id_matches("", 1, ID_UPPER));
}

static int compare_ids(const void *a, const void *b) { return strcmp(a, b); }

static void ids_are_unique(void **state)
{
    (void)state;
    /* 16 symbols of 36 is 82 bits: any repeat among a few thousand means a broken generator. */
    enum { COUNT = 5000, LEN = 16 };
    char (*ids)[LEN + 1] = calloc(COUNT, sizeof *ids);
    assert_non_null(ids);
    for (int i = 0; i < COUNT; i++)
        id_random(ids[i], LEN, ID_LOWER_ALNUM);
    qsort(ids, COUNT, sizeof *ids, compare_ids);
    for (int i = 1; i < COUNT; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0) {
            char dup[LEN + 1];
            memcpy(dup, ids[i], sizeof dup);
            free(ids);
            fail_msg("id %s generated twice", dup);
        }
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lengths_and_alphabets),
        cmocka_unit_test(every_symbol_is_drawn),
        cmocka_unit_test(prefixed),
        cmocka_unit_test(matching),
        cmocka_unit_test(ids_are_unique),
    };
    return cmocka_run_group_tests_name("ids", tests, group_setup, NULL);
}
