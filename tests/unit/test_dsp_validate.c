/* Disputes validation: every field rule with its edge cases, and the
 * record and evidence readers with the 422 error shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/timefmt.h"
#include "disputes/validate.h"

static int group_setup(void **state)
{
    (void)state;
    return crypto_init();
}

static void email_accepts(void **state)
{
    (void)state;
    const char *ok[] = {
        "ana@example.com", "a@b.co", "first.last@sub.example.org", "user+tag@example.com",
        "o'brien@example.ie", "x_y-z@mail-host.example.com", "UPPER@EXAMPLE.COM", "1234@example.com",
        "a@xn--bcher-kva.example",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!dsp_email_valid(ok[i]))
            fail_msg("refused %s", ok[i]);
}

static void email_refuses(void **state)
{
    (void)state;
    const char *bad[] = {
        "", "ana", "ana@", "@example.com", "ana@example", "ana@.com", "ana@example..com", "ana@-ex.com",
        "ana@ex-.com", "ana @example.com", " ana@example.com", "ana@example.com ", "ana@exa mple.com",
        "a na@example.com", "ana@@example.com", "ana@b@example.com", ".ana@example.com", "ana.@example.com",
        "an..a@example.com", "ana@example.c_m", "ana@1.2", "ana@[192.168.1.1]", "\"ana\"@example.com",
        "an\ta@example.com", "ana@exam\xc3\xa9ple.com", "an(a)@example.com", "ana@example.com.",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (dsp_email_valid(bad[i]))
            fail_msg("accepted \"%s\"", bad[i]);
    assert_false(dsp_email_valid(NULL));
    /* Length limits: 64 for the local part, 63 a label, 254 overall. */
    char addr[300];
    memset(addr, 'a', 64);
    snprintf(addr + 64, sizeof addr - 64, "@example.com");
    assert_true(dsp_email_valid(addr));
    memset(addr, 'a', 65);
    snprintf(addr + 65, sizeof addr - 65, "@example.com");
    assert_false(dsp_email_valid(addr));
    char label[64];
    memset(label, 'b', 63);
    label[63] = '\0';
    /* 60 + 1 + 3 * 64 + 3 = 256 characters, then 254 with a shorter local part. */
    memset(addr, 'a', 60);
    snprintf(addr + 60, sizeof addr - 60, "@%s.%s.%s.com", label, label, label);
    assert_int_equal(strlen(addr), 256);
    assert_false(dsp_email_valid(addr));
    snprintf(addr + 58, sizeof addr - 58, "@%s.%s.%s.com", label, label, label);
    assert_int_equal(strlen(addr), 254);
    assert_true(dsp_email_valid(addr));
    snprintf(addr, sizeof addr, "a@%s.com", label);
    assert_true(dsp_email_valid(addr));
    snprintf(addr, sizeof addr, "a@%sb.com", label);
    assert_false(dsp_email_valid(addr));
}

static void ipv4_accepts(void **state)
{
    (void)state;
    const char *ok[] = {"127.0.0.1", "192.168.1.1", "0.0.0.0", "255.255.255.255", "10.0.0.255", "1.2.3.4",
                        "100.64.0.10"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!dsp_ipv4_valid(ok[i]))
            fail_msg("refused %s", ok[i]);
}

static void ipv4_refuses(void **state)
{
    (void)state;
    const char *bad[] = {
        "256.1.1.1", "1.256.1.1", "1.1.1.256", "999.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.02.3.4",
        "1.2.3.00", "00.0.0.0", " 1.2.3.4", "1.2.3.4 ", "1. 2.3.4", "1.2.3.4\n", "", "1..2.3", ".1.2.3.4",
        "1.2.3.4.", "a.b.c.d", "1.2.3.-4", "+1.2.3.4", "1.2.3.4/24", "0x7f.0.0.1", "1234.1.1.1", "::1",
        "1.2.3.4:80", "1,2,3,4", "１.2.3.4",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (dsp_ipv4_valid(bad[i]))
            fail_msg("accepted \"%s\"", bad[i]);
    assert_false(dsp_ipv4_valid(NULL));
}

static void psp_names(void **state)
{
    (void)state;
    const char *ok[] = {"stripe", "braintree", "adyen", "worldpay", "recurly", "recharge"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(dsp_psp_valid(ok[i]));
    /* Other case is refused: the accepted values are the lower-case names. */
    const char *bad[] = {"Stripe", "STRIPE", "BrainTree", "Adyen", "WorldPay", "RECURLY", "ReCharge", "stripe ",
                         " stripe", "paypal", "", "strip", "stripes"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (dsp_psp_valid(bad[i]))
            fail_msg("accepted \"%s\"", bad[i]);
}

static void card_numbers_are_refused_as_credentials(void **state)
{
    (void)state;
    const char *pans[] = {
        "4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242", "tok_4242424242424242",
        "378282246310005",   /* 15-digit Amex */
        "6011111111111117", "5555555555554444", "4222222222222", /* 13 digits */
        "6759649826438453", "4000056655665556",
    };
    for (size_t i = 0; i < sizeof pans / sizeof pans[0]; i++)
        if (!dsp_looks_like_pan(pans[i]))
            fail_msg("did not see a card number in \"%s\"", pans[i]);
    const char *fine[] = {
        "pm_1N3xYz2eZvKYlo2C", "card_fp_9f8e7d6c5b4a", "fp_a1b2c3d4e5f6", "4242424242424241", /* Luhn fails */
        "42424242424",        /* 11 digits */
        "42424242424242424242", /* 20 digits */
        "4242--4242--4242--4242", /* doubled separators end the run */
        "tok 4242 4242", "", "abcdef",
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++)
        if (dsp_looks_like_pan(fine[i]))
            fail_msg("saw a card number in \"%s\"", fine[i]);
}

static void text_and_country(void **state)
{
    (void)state;
    assert_true(dsp_text_ok("Caf\xc3\xa9 au lait"));
    assert_false(dsp_text_ok("tab\there"));
    assert_false(dsp_text_ok("bad \xff byte"));
    assert_false(dsp_text_ok("cut \xc3"));
    assert_true(dsp_country_valid("US"));
    assert_false(dsp_country_valid("us"));
    assert_false(dsp_country_valid("USA"));
    assert_false(dsp_country_valid("U"));
}

static void address_normalisation(void **state)
{
    (void)state;
    struct dsp_address a = {.line1 = "221B Baker Street", .line2 = "", .city = "London", .state = "",
                            .postal_code = "NW1 6XE", .country = "GB"};
    struct dsp_address b = {.line1 = "221b  baker st.", .line2 = "", .city = "LONDON", .state = "",
                            .postal_code = "nw16xe", .country = "gb"};
    char na[512], nb[512];
    dsp_address_normalize(&a, na, sizeof na);
    dsp_address_normalize(&b, nb, sizeof nb);
    assert_string_equal(na, "221b baker st||london||NW16XE|GB");
    assert_string_equal(na, nb);
    struct dsp_address c = b;
    str_copy(c.line2, sizeof c.line2, "Flat 2");
    dsp_address_normalize(&c, nb, sizeof nb);
    assert_string_not_equal(na, nb);
    struct dsp_address d = {.line1 = "1 Main Avenue, Apartment 4", .city = "Springfield", .state = "IL",
                            .postal_code = "62701-1234", .country = "US"};
    dsp_address_normalize(&d, na, sizeof na);
    assert_string_equal(na, "1 main ave apt 4||springfield|il|627011234|US");
}

static cJSON *parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    return j;
}

/* Whether e holds an error at loc ["body", field] (field NULL: ["body"]) of type. */
static int has_error(const dsp_errs *e, const char *field, const char *sub, const char *type)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, e->list)
    {
        const cJSON *loc = cJSON_GetObjectItem(it, "loc");
        int n = cJSON_GetArraySize(loc);
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(it, "type"));
        if (!cJSON_GetStringValue(cJSON_GetObjectItem(it, "msg")) || !t || strcmp(t, type) != 0)
            continue;
        if (strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(loc, 0)), "body") != 0)
            continue;
        int want = 1 + (field != NULL) + (sub != NULL);
        if (n != want)
            continue;
        if (field && strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(loc, 1)), field) != 0)
            continue;
        if (sub && strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(loc, 2)), sub) != 0)
            continue;
        return 1;
    }
    return 0;
}

#define NOW 1780000000000LL /* 2026-05-28 */

static int read_record(const char *text, struct dsp_record_row *r, dsp_errs *e)
{
    cJSON *j = parse(text);
    dsp_errs_init(e);
    int n = dsp_record_from_json(j, NOW, r, e);
    cJSON_Delete(j);
    return n;
}

static void minimal_record(void **state)
{
    (void)state;
    struct dsp_record_row r;
    dsp_errs e;
    assert_int_equal(read_record("{\"customer_email\":\"Ana@Example.com\",\"ipv4_address\":\"192.168.1.1\","
                                 "\"psp\":\"stripe\",\"charge_id\":\"ch_1\"}",
                                 &r, &e),
                     0);
    assert_string_equal(r.customer_email, "Ana@Example.com");
    assert_string_equal(r.email_norm, "ana@example.com");
    assert_string_equal(r.charge_id, "ch_1");
    assert_int_equal(r.purchased_at, NOW);
    assert_int_equal(strlen(r.content_hash), 32);
    dsp_errs_free(&e);
}

static void each_id_alone_is_enough(void **state)
{
    (void)state;
    const char *ids[] = {"invoice_id", "subscription_id", "charge_id", "transaction_id", "network_transaction_id"};
    for (size_t i = 0; i < 5; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"adyen\",\"%s\":\"x1\"}", ids[i]);
        struct dsp_record_row r;
        dsp_errs e;
        if (read_record(body, &r, &e) != 0)
            fail_msg("%s alone was refused", ids[i]);
        dsp_errs_free(&e);
    }
}

static void missing_ids(void **state)
{
    (void)state;
    const char *bodies[] = {
        "{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"adyen\"}",
        "{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"adyen\",\"customer_id\":\"c\"}",
        "{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"adyen\",\"invoice_id\":null,"
        "\"charge_id\":\"\"}",
    };
    for (size_t i = 0; i < 3; i++) {
        struct dsp_record_row r;
        dsp_errs e;
        assert_int_equal(read_record(bodies[i], &r, &e), 1);
        assert_true(has_error(&e, NULL, NULL, "missing_identifier"));
        dsp_errs_free(&e);
    }
}

static void every_problem_is_listed(void **state)
{
    (void)state;
    struct dsp_record_row r;
    dsp_errs e;
    int n = read_record("{\"customer_email\":\"ana@\",\"ipv4_address\":\"01.2.3.4\",\"psp\":\"Stripe\","
                        "\"charge_id\":5,\"payment_credential\":\"4242424242424242\",\"amount\":1.234,"
                        "\"currency\":\"EUR\",\"purchased_at\":\"yesterday\",\"disputed\":\"yes\","
                        "\"shipping_address\":{\"line1\":\"x\",\"country\":\"USA\",\"zip\":\"1\"},\"extra\":1}",
                        &r, &e);
    assert_true(has_error(&e, "customer_email", NULL, "value_error"));
    assert_true(has_error(&e, "ipv4_address", NULL, "ip_v4_address"));
    assert_true(has_error(&e, "psp", NULL, "literal_error"));
    assert_true(has_error(&e, "charge_id", NULL, "string_type"));
    assert_true(has_error(&e, "payment_credential", NULL, "value_error"));
    assert_true(has_error(&e, "amount", NULL, "decimal_max_places"));
    assert_true(has_error(&e, "purchased_at", NULL, "datetime_parsing"));
    assert_true(has_error(&e, "disputed", NULL, "bool_type"));
    assert_true(has_error(&e, "shipping_address", "city", "missing"));
    assert_true(has_error(&e, "shipping_address", "country", "string_too_long"));
    assert_true(has_error(&e, "shipping_address", "zip", "extra_forbidden"));
    assert_true(has_error(&e, "extra", NULL, "extra_forbidden"));
    /* charge_id was sent (badly): no second error for the missing ids. */
    assert_false(has_error(&e, NULL, NULL, "missing_identifier"));
    assert_int_equal(n, 12);
    dsp_errs_free(&e);
}

static void required_fields(void **state)
{
    (void)state;
    struct dsp_record_row r;
    dsp_errs e;
    read_record("{\"charge_id\":\"c\"}", &r, &e);
    assert_true(has_error(&e, "customer_email", NULL, "missing"));
    assert_true(has_error(&e, "ipv4_address", NULL, "missing"));
    assert_true(has_error(&e, "psp", NULL, "missing"));
    dsp_errs_free(&e);
    read_record("{\"customer_email\":\"\",\"ipv4_address\":null,\"psp\":\"stripe\",\"charge_id\":\"c\"}", &r, &e);
    assert_true(has_error(&e, "customer_email", NULL, "string_too_short"));
    assert_true(has_error(&e, "ipv4_address", NULL, "missing"));
    dsp_errs_free(&e);
    cJSON *arr = parse("[1,2]");
    dsp_errs_init(&e);
    assert_int_equal(dsp_record_from_json(arr, NOW, &r, &e), 1);
    assert_true(has_error(&e, NULL, NULL, "model_attributes_type"));
    dsp_errs_free(&e);
    cJSON_Delete(arr);
}

static void lengths(void **state)
{
    (void)state;
    char body[4096];
    char id[300];
    memset(id, 'x', 256);
    id[256] = '\0';
    snprintf(body, sizeof body,
             "{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"stripe\",\"charge_id\":\"%s\"}", id);
    struct dsp_record_row r;
    dsp_errs e;
    read_record(body, &r, &e);
    assert_true(has_error(&e, "charge_id", NULL, "string_too_long"));
    dsp_errs_free(&e);
    id[255] = '\0';
    snprintf(body, sizeof body,
             "{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"stripe\",\"charge_id\":\"%s\"}", id);
    assert_int_equal(read_record(body, &r, &e), 0);
    assert_int_equal(strlen(r.charge_id), 255);
    dsp_errs_free(&e);
    /* 1000 characters of description, counted as characters: 2000 bytes. */
    char desc[2100] = "";
    for (int i = 0; i < 1000; i++)
        memcpy(desc + 2 * i, "\xc3\xa9", 3);
    snprintf(body, sizeof body,
             "{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"stripe\",\"charge_id\":\"c\","
             "\"product_description\":\"%s\"}",
             desc);
    assert_int_equal(read_record(body, &r, &e), 0);
    dsp_errs_free(&e);
}

static void money(void **state)
{
    (void)state;
    struct dsp_record_row r;
    dsp_errs e;
    const char *base = "{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"stripe\",\"charge_id\":\"c\",";
    char body[512];
    snprintf(body, sizeof body, "%s\"amount\":19.99,\"currency\":\"EUR\"}", base);
    assert_int_equal(read_record(body, &r, &e), 0);
    assert_true(r.has_amount);
    assert_int_equal(r.amount, 1999);
    dsp_errs_free(&e);
    snprintf(body, sizeof body, "%s\"amount\":\"1500\",\"currency\":\"JPY\"}", base);
    assert_int_equal(read_record(body, &r, &e), 0);
    assert_int_equal(r.amount, 1500);
    dsp_errs_free(&e);
    snprintf(body, sizeof body, "%s\"amount\":15.5,\"currency\":\"JPY\"}", base);
    read_record(body, &r, &e);
    assert_true(has_error(&e, "amount", NULL, "decimal_max_places"));
    dsp_errs_free(&e);
    snprintf(body, sizeof body, "%s\"amount\":1.234,\"currency\":\"KWD\"}", base);
    assert_int_equal(read_record(body, &r, &e), 0);
    assert_int_equal(r.amount, 1234);
    dsp_errs_free(&e);
    snprintf(body, sizeof body, "%s\"amount\":-1,\"currency\":\"USD\"}", base);
    read_record(body, &r, &e);
    assert_true(has_error(&e, "amount", NULL, "greater_than_equal"));
    dsp_errs_free(&e);
    snprintf(body, sizeof body, "%s\"amount\":10,\"currency\":\"usd\"}", base);
    read_record(body, &r, &e);
    assert_true(has_error(&e, "currency", NULL, "value_error"));
    dsp_errs_free(&e);
    snprintf(body, sizeof body, "%s\"amount\":10,\"currency\":\"XXY\"}", base);
    read_record(body, &r, &e);
    assert_true(has_error(&e, "currency", NULL, "value_error"));
    dsp_errs_free(&e);
    snprintf(body, sizeof body, "%s\"amount\":10}", base);
    read_record(body, &r, &e);
    assert_true(has_error(&e, "currency", NULL, "missing"));
    dsp_errs_free(&e);
    snprintf(body, sizeof body, "%s\"currency\":\"EUR\"}", base);
    read_record(body, &r, &e);
    assert_true(has_error(&e, "amount", NULL, "missing"));
    dsp_errs_free(&e);
    snprintf(body, sizeof body, "%s\"amount\":true,\"currency\":\"EUR\"}", base);
    read_record(body, &r, &e);
    assert_true(has_error(&e, "amount", NULL, "decimal_type"));
    dsp_errs_free(&e);
}

static void purchase_time(void **state)
{
    (void)state;
    struct dsp_record_row r;
    dsp_errs e;
    const char *base = "{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"stripe\",\"charge_id\":\"c\",";
    char body[512];
    snprintf(body, sizeof body, "%s\"purchased_at\":\"2026-01-02T03:04:05+01:00\"}", base);
    assert_int_equal(read_record(body, &r, &e), 0);
    int64_t want;
    assert_int_equal(time_parse_iso8601("2026-01-02T02:04:05Z", &want), 0);
    assert_int_equal(r.purchased_at, want);
    dsp_errs_free(&e);
    /* A date without a time, or a time without a zone, is ambiguous. */
    const char *bad[] = {"2026-01-02", "2026-01-02T03:04:05", "2026-02-30T00:00:00Z", "now", "2030-01-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(body, sizeof body, "%s\"purchased_at\":\"%s\"}", base, bad[i]);
        read_record(body, &r, &e);
        if (e.count != 1)
            fail_msg("accepted purchased_at %s", bad[i]);
        dsp_errs_free(&e);
    }
}

static void content_hash(void **state)
{
    (void)state;
    struct dsp_record_row a, b;
    dsp_errs e;
    read_record("{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"stripe\",\"charge_id\":\"c\"}",
                &a, &e);
    dsp_errs_free(&e);
    /* The same fields in another order, with other blanks, and null for
     * absent: the same record. */
    read_record("{ \"charge_id\" : \"c\", \"psp\":\"stripe\",\"ipv4_address\":\"1.2.3.4\",\"customer_email\":\"a@b.co\","
                "\"invoice_id\":null}",
                &b, &e);
    dsp_errs_free(&e);
    assert_string_equal(a.content_hash, b.content_hash);
    read_record("{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.5\",\"psp\":\"stripe\",\"charge_id\":\"c\"}",
                &b, &e);
    dsp_errs_free(&e);
    assert_string_not_equal(a.content_hash, b.content_hash);
    /* A value moved to another field is another record. */
    read_record("{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"stripe\",\"invoice_id\":\"c\"}",
                &b, &e);
    dsp_errs_free(&e);
    assert_string_not_equal(a.content_hash, b.content_hash);
}

static void evidence_query(void **state)
{
    (void)state;
    struct dsp_evidence_query q;
    dsp_errs e;
    dsp_errs_init(&e);
    cJSON *j = parse("{\"charge_id\":\"ch_1\",\"purchased_at\":\"2026-05-01\",\"ipv4_address\":\"1.2.3.4\"}");
    assert_int_equal(dsp_evidence_from_json(j, &q, &e), 0);
    assert_true(q.has_purchased_at);
    assert_string_equal(q.charge_id, "ch_1");
    cJSON_Delete(j);
    j = parse("{\"ipv4_address\":\"1.2.3\",\"device_id\":\"d\",\"nope\":1}");
    assert_int_equal(dsp_evidence_from_json(j, &q, &e), 3);
    assert_true(has_error(&e, NULL, NULL, "missing_identifier"));
    assert_true(has_error(&e, "ipv4_address", NULL, "ip_v4_address"));
    assert_true(has_error(&e, "nope", NULL, "extra_forbidden"));
    cJSON_Delete(j);
    dsp_errs_free(&e);
    dsp_errs_init(&e);
    j = parse("{\"payment_credential\":\"5555555555554444\"}");
    assert_int_equal(dsp_evidence_from_json(j, &q, &e), 1);
    assert_true(has_error(&e, "payment_credential", NULL, "value_error"));
    cJSON_Delete(j);
    dsp_errs_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(email_accepts),
        cmocka_unit_test(email_refuses),
        cmocka_unit_test(ipv4_accepts),
        cmocka_unit_test(ipv4_refuses),
        cmocka_unit_test(psp_names),
        cmocka_unit_test(card_numbers_are_refused_as_credentials),
        cmocka_unit_test(text_and_country),
        cmocka_unit_test(address_normalisation),
        cmocka_unit_test(minimal_record),
        cmocka_unit_test(each_id_alone_is_enough),
        cmocka_unit_test(missing_ids),
        cmocka_unit_test(every_problem_is_listed),
        cmocka_unit_test(required_fields),
        cmocka_unit_test(lengths),
        cmocka_unit_test(money),
        cmocka_unit_test(purchase_time),
        cmocka_unit_test(content_hash),
        cmocka_unit_test(evidence_query),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
