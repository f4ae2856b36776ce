/* The fake merchant's verifier: the Python-style re-serialisation and both
 * signature variants, against vectors computed with Python's json and hmac
 * modules (json.dumps(json.loads(body), separators=(",", ":"))). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "pyjson.h"

static void check_compact(const char *in, const char *want)
{
    char *got = pyjson_compact(in, strlen(in));
    if (!got)
        fail_msg("%s: rejected, expected %s", in, want);
    if (strcmp(got, want) != 0) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s\n  got  %s\n  want %s", in, got, want);
        free(got);
        fail_msg("%s", msg);
    }
    free(got);
}

static void compact_vectors(void **state)
{
    (void)state;
    check_compact("{\"a\":1}", "{\"a\":1}");
    check_compact(" { \"b\" : [1, 2.50, -0, -0.0, 1E5, 1e16, 1e-5, 0.0001, 12.0, 1.5e300, "
                  "123456789012345678901234567890, 0.1, 3.14159, 1e400, -1e400] , "
                  "\"a\": \"h\xc3\xa9llo \\ud83d\\ude00 \\u00E9 /\\/ \\u0000\x7f\" } ",
                  "{\"b\":[1,2.5,0,-0.0,100000.0,1e+16,1e-05,0.0001,12.0,1.5e+300,"
                  "123456789012345678901234567890,0.1,3.14159,Infinity,-Infinity],"
                  "\"a\":\"h\\u00e9llo \\ud83d\\ude00 \\u00e9 // \\u0000\\u007f\"}");
    /* A repeated key keeps its first place and its last value. */
    check_compact("{\"k\":1,\"j\":2,\"k\":3}", "{\"k\":3,\"j\":2}");
    check_compact("\"\\ud800x\"", "\"\\ud800x\"");
    check_compact("[true,false,null]", "[true,false,null]");
    check_compact("{\"amount\":12.23,\"n\":-12.0}", "{\"amount\":12.23,\"n\":-12.0}");
    check_compact("[5e-324, 1.7976931348623157e308, 100.0, 1234567890123456789.0, 0.000123]",
                  "[5e-324,1.7976931348623157e+308,100.0,1.2345678901234568e+18,0.000123]");
    /* A character above the BMP written raw becomes a surrogate pair. */
    check_compact("\"\xf0\x9f\x98\x80\"", "\"\\ud83d\\ude00\"");
    check_compact("{\"t\":\"a\\tb\\n\\\"q\\\"\"}", "{\"t\":\"a\\tb\\n\\\"q\\\"\"}");
}

static void compact_rejects_what_python_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "{", "{\"a\":}", "[1,]", "01", "1.", ".5", "{\"a\" 1}", "\"\x01\"", "\"\\x\"", "\"\xc3\"",
        "\"\xed\xa0\x80\"", /* an encoded surrogate */
        "\"\xc0\xaf\"",     /* an overlong */
        "{} x", "tru", "[1 2]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *got = pyjson_compact(bad[i], strlen(bad[i]));
        if (got) {
            char msg[256];
            snprintf(msg, sizeof msg, "accepted %s as %s", bad[i], got);
            free(got);
            fail_msg("%s", msg);
        }
    }
}

static void float_repr(void **state)
{
    (void)state;
    static const struct { const char *in, *want; } v[] = {
        {"12.0", "12.0"}, {"0.1", "0.1"}, {"1e16", "1e+16"}, {"1e15", "1000000000000000.0"},
        {"0.0001", "0.0001"}, {"0.00001", "1e-05"}, {"-0.0", "-0.0"}, {"2.675", "2.675"},
        {"1e22", "1e+22"}, {"123.456e2", "12345.6"},
        /* the shortest digits that read back are not the nearest 16 */
        {"-6.0834930121445114e-210", "-6.083493012144512e-210"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[64];
        pyjson_float_repr(v[i].in, out, sizeof out);
        if (strcmp(out, v[i].want) != 0)
            fail_msg("%s: got %s, want %s", v[i].in, out, v[i].want);
    }
}

/* The spec's example message {"a":1}+1698251668, and a body that only the
 * re-serialising verifier signs differently. */
static void signature_variants(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    char hex[65];
    sig_hmac_hex("whsec_test", "{\"a\":1}", 7, "1698251668", hex);
    assert_string_equal(hex, "89618e7a67f6acf362b1f9a379526a2695692ccfbd608c956443eb34e9bd286e");
    assert_true(sig_raw_ok("whsec_test", "{\"a\":1}", 7, "1698251668", hex));
    assert_true(sig_compact_ok("whsec_test", "{\"a\":1}", 7, "1698251668", hex));
    assert_false(sig_raw_ok("whsec_other", "{\"a\":1}", 7, "1698251668", hex));
    assert_false(sig_raw_ok("whsec_test", "{\"a\":1}", 7, "1698251669", hex));

    const char *loose = "{ \"a\": 1,  \"name\": \"Jos\xc3\xa9\", \"amt\": 12.0 }";
    const char *raw_sig = "b8a9efc9b8ea1b2d80358bc22a9012cf530b11d3f333cd214fc5e3b497e0a7b8";
    const char *compact_sig = "374692bda566c1469bce23df19c4b6cca91ca3642f4523f4573133be80255a54";
    assert_true(sig_raw_ok("whsec_test", loose, strlen(loose), "1698251668", raw_sig));
    assert_false(sig_compact_ok("whsec_test", loose, strlen(loose), "1698251668", raw_sig));
    assert_true(sig_compact_ok("whsec_test", loose, strlen(loose), "1698251668", compact_sig));
    assert_false(sig_raw_ok("whsec_test", loose, strlen(loose), "1698251668", compact_sig));
    /* Upper-case hex is not what the verifiers compare against. */
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
    assert_false(sig_raw_ok("whsec_test", "{\"a\":1}", 7, "1698251668", upper));
    assert_false(sig_raw_ok("", "{\"a\":1}", 7, "1698251668", hex));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(compact_vectors),
        cmocka_unit_test(compact_rejects_what_python_rejects),
        cmocka_unit_test(float_repr),
        cmocka_unit_test(signature_variants),
    };
    return cmocka_run_group_tests_name("fake_merchant_verifier", tests, NULL, NULL);
}
