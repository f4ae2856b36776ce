/* Encryption of card data at rest, the key file that protects it, and the
 * hashes and MACs used for API keys, webhooks and request fingerprints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crypto.h"

/* Short enough that every path built under it fits a PATH_MAX buffer. */
static char workdir[1024];

/* libsodium must be initialised before any other call, as recoupd does at start. */
static int group_setup(void **state)
{
    (void)state;
    if (crypto_init() != 0)
        return -1;
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(workdir, sizeof workdir, "%s/recoup-crypto-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (n < 0 || (size_t)n >= sizeof workdir)
        return -1;
    return mkdtemp(workdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return rmdir(workdir);
}

static void key_path(char *out, size_t outsz, const char *name)
{
    snprintf(out, outsz, "%s/%s", workdir, name);
}

static void test_key(uint8_t key[CRYPTO_KEY_BYTES], uint8_t seed)
{
    for (int i = 0; i < CRYPTO_KEY_BYTES; i++)
        key[i] = (uint8_t)(seed + i * 7);
}

static void init_is_repeatable(void **state)
{
    (void)state;
    assert_int_equal(crypto_init(), 0);
    assert_int_equal(crypto_init(), 0);
}

static void seal_and_open_round_trip(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_BYTES];
    test_key(key, 1);
    static const char *const plains[] = {"4242424242424242", "", "x", "Jo\xc3\xa3o 378282246310005"};
    for (size_t i = 0; i < sizeof plains / sizeof plains[0]; i++) {
        char *sealed = crypto_seal_text(key, plains[i]);
        assert_non_null(sealed);
        assert_memory_equal(sealed, "v1:", 3);
        /* Printable and URL-safe, so it can live in any text column. */
        assert_int_equal(strspn(sealed + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                         strlen(sealed + 3));
        /* Short texts may show up in random base64 by chance; a card number may not. */
        if (strlen(plains[i]) >= 8)
            assert_null(strstr(sealed, plains[i]));
        char *plain = crypto_open_text(key, sealed);
        assert_non_null(plain);
        assert_string_equal(plain, plains[i]);
        free(plain);
        free(sealed);
    }

    char big[4097];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char *sealed = crypto_seal_text(key, big);
    char *plain = crypto_open_text(key, sealed);
    assert_non_null(plain);
    assert_string_equal(plain, big);
    free(plain);
    free(sealed);
}

static void sealing_is_randomised(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_BYTES];
    test_key(key, 2);
    char *a = crypto_seal_text(key, "4242424242424242");
    char *b = crypto_seal_text(key, "4242424242424242");
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void tampered_box_fails(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_BYTES];
    test_key(key, 3);
    char *sealed = crypto_seal_text(key, "4242424242424242");
    size_t len = strlen(sealed);
    /* Every character but the last carries six whole bits of nonce, MAC or ciphertext. */
    for (size_t i = 3; i + 1 < len; i++) {
        char *copy = strdup(sealed);
        copy[i] = copy[i] == 'A' ? 'B' : 'A';
        char *plain = crypto_open_text(key, copy);
        if (plain)
            fail_msg("a box changed at %zu opened as %s", i, plain);
        free(copy);
    }
    char *cut = strdup(sealed);
    cut[len - 4] = '\0';
    assert_null(crypto_open_text(key, cut));
    cut[3 + 10] = '\0';
    assert_null(crypto_open_text(key, cut));
    free(cut);

    char *other_version = strdup(sealed);
    other_version[1] = '2';
    assert_null(crypto_open_text(key, other_version));
    free(other_version);

    assert_null(crypto_open_text(key, sealed + 3));
    assert_null(crypto_open_text(key, "v1:"));
    assert_null(crypto_open_text(key, "v1:!!!!not base64!!!!"));
    assert_null(crypto_open_text(key, ""));
    assert_null(crypto_open_text(key, NULL));
    free(sealed);
}

static void wrong_key_fails(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_BYTES], other[CRYPTO_KEY_BYTES];
    test_key(key, 4);
    memcpy(other, key, sizeof other);
    other[CRYPTO_KEY_BYTES - 1] ^= 1;
    char *sealed = crypto_seal_text(key, "4242424242424242");
    assert_null(crypto_open_text(other, sealed));
    char *plain = crypto_open_text(key, sealed);
    assert_non_null(plain);
    free(plain);
    free(sealed);
}

static void key_file_created_private_and_reloaded(void **state)
{
    (void)state;
    char path[PATH_MAX + 32], err[512];
    key_path(path, sizeof path, "card.key");
    uint8_t created[CRYPTO_KEY_BYTES], loaded[CRYPTO_KEY_BYTES], zero[CRYPTO_KEY_BYTES] = {0};

    err[0] = '\0';
    assert_int_equal(crypto_load_or_create_key(path, 0, loaded, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open key file"));

    /* Even a permissive umask must not make the key readable by others. */
    mode_t old = umask(0);
    int rc = crypto_load_or_create_key(path, 1, created, err, sizeof err);
    umask(old);
    assert_int_equal(rc, 0);
    assert_memory_not_equal(created, zero, sizeof zero);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65);

    assert_int_equal(crypto_load_or_create_key(path, 0, loaded, err, sizeof err), 0);
    assert_memory_equal(loaded, created, sizeof created);
    /* An existing key is kept, never replaced, when creation is allowed. */
    assert_int_equal(crypto_load_or_create_key(path, 1, loaded, err, sizeof err), 0);
    assert_memory_equal(loaded, created, sizeof created);

    char *sealed = crypto_seal_text(created, "4242424242424242");
    char *plain = crypto_open_text(loaded, sealed);
    assert_non_null(plain);
    assert_string_equal(plain, "4242424242424242");
    free(plain);
    free(sealed);
    unlink(path);
}

static void shared_key_file_refused(void **state)
{
    (void)state;
    char path[PATH_MAX + 32], err[512];
    key_path(path, sizeof path, "shared.key");
    uint8_t key[CRYPTO_KEY_BYTES];
    assert_int_equal(crypto_load_or_create_key(path, 1, key, err, sizeof err), 0);
    static const mode_t modes[] = {0640, 0604, 0660, 0644, 0610};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal(chmod(path, modes[i]), 0);
        err[0] = '\0';
        assert_int_equal(crypto_load_or_create_key(path, 1, key, err, sizeof err), -1);
        assert_non_null(strstr(err, "chmod 600"));
    }
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(crypto_load_or_create_key(path, 0, key, err, sizeof err), 0);
    unlink(path);
}

static void write_key_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static void malformed_key_file_refused(void **state)
{
    (void)state;
    char path[PATH_MAX + 32], err[512];
    key_path(path, sizeof path, "bad.key");
    uint8_t key[CRYPTO_KEY_BYTES];

    write_key_file(path, "00112233\n");
    assert_int_equal(crypto_load_or_create_key(path, 1, key, err, sizeof err), -1);
    assert_non_null(strstr(err, "too short"));

    write_key_file(path, "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
    assert_int_equal(crypto_load_or_create_key(path, 1, key, err, sizeof err), -1);
    assert_non_null(strstr(err, "64 hex characters"));

    write_key_file(path, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
    assert_int_equal(crypto_load_or_create_key(path, 0, key, err, sizeof err), 0);
    static const uint8_t want[CRYPTO_KEY_BYTES] = {
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
    };
    assert_memory_equal(key, want, sizeof want);
    unlink(path);
}

static void hmac_sha256_rfc4231(void **state)
{
    (void)state;
    char out[65];
    crypto_hmac_sha256_hex((const uint8_t *)"Jefe", 4, (const uint8_t *)"what do ya want for nothing?", 28, out);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    uint8_t key1[20];
    memset(key1, 0x0b, sizeof key1);
    crypto_hmac_sha256_hex(key1, sizeof key1, (const uint8_t *)"Hi There", 8, out);
    assert_string_equal(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    /* A key longer than the block size is hashed first (test case 6). */
    uint8_t key6[131];
    memset(key6, 0xaa, sizeof key6);
    const char *msg6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    crypto_hmac_sha256_hex(key6, sizeof key6, (const uint8_t *)msg6, strlen(msg6), out);
    assert_string_equal(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void sha256_and_secret_hash(void **state)
{
    (void)state;
    char out[65];
    crypto_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    crypto_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    crypto_hash_secret("abc", out);
    assert_string_equal(out, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
    char other[65];
    crypto_hash_secret("abd", other);
    assert_string_not_equal(out, other);
    assert_int_equal(strlen(other), 64);
    assert_int_equal(strspn(other, "0123456789abcdef"), 64);
}

static void constant_time_equality(void **state)
{
    (void)state;
    assert_true(crypto_equal("secret-key", "secret-key"));
    assert_true(crypto_equal("", ""));
    assert_false(crypto_equal("secret-key", "secret-kez"));
    assert_false(crypto_equal("secret-key", "Secret-key"));
    assert_false(crypto_equal("secret", "secret-key"));
    assert_false(crypto_equal("secret-key", "secret"));
    assert_false(crypto_equal("", "x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_is_repeatable),
        cmocka_unit_test(seal_and_open_round_trip),
        cmocka_unit_test(sealing_is_randomised),
        cmocka_unit_test(tampered_box_fails),
        cmocka_unit_test(wrong_key_fails),
        cmocka_unit_test(key_file_created_private_and_reloaded),
        cmocka_unit_test(shared_key_file_refused),
        cmocka_unit_test(malformed_key_file_refused),
        cmocka_unit_test(hmac_sha256_rfc4231),
        cmocka_unit_test(sha256_and_secret_hash),
        cmocka_unit_test(constant_time_equality),
    };
    return cmocka_run_group_tests_name("crypto", tests, group_setup, group_teardown);
}
