/* The Recover payload contract on crafted payloads: field paths and
 * messages of every kind of problem, what a valid payload parses into
 * (normalised values, amounts in minor units), the "body" wrapper, and the
 * fingerprints that make a re-sent event a duplicate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/timefmt.h"
#include "recover/validate.h"

#define MIN_PAYLOAD                                                                                             \
    "{\"customer\":{\"id\":\"cus_1\"},\"subscription\":{\"id\":\"sub_1\",\"start_date\":\"2024-01-01T00:00:00Z\"}," \
    "\"invoice\":{\"id\":\"in_1\",\"created_at\":\"2024-03-01T00:00:00Z\"},"                                      \
    "\"transactions\":[{\"id\":\"txn_1\",\"psp_transaction_id\":\"ch_1\",\"psp\":\"stripe\","                     \
    "\"acquirer_country\":\"US\",\"amount\":12.23,\"currency\":\"USD\",\"funding_source\":\"credit\","           \
    "\"outcome\":{\"raw_response_message\":\"insufficient_funds\"},\"payment_method_id\":\"pm_1\","              \
    "\"psp_transaction_created_at\":\"2024-03-01T10:00:00Z\",\"scheme\":\"visa\",\"success\":false}]}"

static int group_setup(void **state)
{
    (void)state;
    return crypto_init();
}

static cJSON *parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    if (!j)
        fail_msg("does not parse: %s", text);
    return j;
}

static cJSON *txn0(cJSON *root)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "transactions"), 0);
}

static void replace(cJSON *obj, const char *name, const char *json_value)
{
    cJSON *v = parse(json_value);
    if (cJSON_GetObjectItemCaseSensitive(obj, name))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, name, v);
    else
        cJSON_AddItemToObject(obj, name, v);
}

/* The problems of root, as "field: message" lines, for messages on failure. */
static char *problems(const cJSON *root, int *count)
{
    verrs e;
    verrs_init(&e);
    *count = rc_parse_payment(root, NULL, &e);
    char *text = cJSON_PrintUnformatted(e.list);
    verrs_free(&e);
    return text;
}

/* Exactly one problem, on field, with a message containing msg. */
static void expect_one(const cJSON *root, const char *field, const char *msg)
{
    verrs e;
    verrs_init(&e);
    int n = rc_parse_payment(root, NULL, &e);
    char *text = cJSON_PrintUnformatted(e.list);
    const cJSON *first = cJSON_GetArrayItem(e.list, 0);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(first, "field");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(first, "message");
    int good = n == 1 && e.count == 1 && cJSON_IsString(f) && strcmp(f->valuestring, field) == 0 && cJSON_IsString(m) &&
               strstr(m->valuestring, msg) != NULL;
    verrs_free(&e);
    if (!good) {
        char copy[2000];
        snprintf(copy, sizeof copy, "%s", text ? text : "");
        free(text);
        fail_msg("want one problem on %s (\"%s\"), got %d: %s", field, msg, n, copy);
    }
    free(text);
}

static void expect_valid(const cJSON *root)
{
    int n;
    char *text = problems(root, &n);
    if (n != 0) {
        char copy[2000];
        snprintf(copy, sizeof copy, "%s", text);
        free(text);
        fail_msg("want no problem, got %d: %s", n, copy);
    }
    free(text);
}

static int names(const cJSON *list, const char *field)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, list)
    {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "field");
        if (cJSON_IsString(f) && strcmp(f->valuestring, field) == 0)
            return 1;
    }
    return 0;
}

static void minimal_parses(void **state)
{
    (void)state;
    cJSON *root = parse(MIN_PAYLOAD);
    verrs e;
    verrs_init(&e);
    struct rc_payment_event ev;
    assert_int_equal(rc_parse_payment(root, &ev, &e), 0);
    assert_int_equal(e.count, 0);
    assert_string_equal(ev.customer.customer_id, "cus_1");
    assert_int_equal(ev.customer.has_created_at, 0);
    assert_string_equal(ev.subscription.subscription_id, "sub_1");
    int64_t ms;
    assert_int_equal(time_parse_iso8601("2024-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ev.subscription.start_date, ms);
    assert_int_equal(ev.subscription.has_end_date, 0);
    assert_int_equal(ev.subscription.discounted, -1);
    assert_string_equal(ev.subscription.billing_period, "");
    assert_int_equal(ev.subscription.billing_frequency, 0);
    assert_string_equal(ev.invoice_id, "in_1");
    assert_null(ev.custom);
    assert_int_equal(ev.ntxns, 1);
    const struct rc_txn *t = &ev.txns[0];
    assert_string_equal(t->transaction_id, "txn_1");
    assert_string_equal(t->psp_transaction_id, "ch_1");
    assert_string_equal(t->psp, "stripe");
    assert_int_equal(t->amount, 1223);
    assert_string_equal(t->currency, "USD");
    assert_int_equal(t->success, 0);
    assert_int_equal(time_parse_iso8601("2024-03-01T10:00:00Z", &ms), 0);
    assert_int_equal(t->psp_created_at, ms);
    assert_string_equal(t->raw_response_message, "insufficient_funds");
    assert_string_equal(t->psp_response_message, "");
    assert_string_equal(t->processor_response_code, "");
    assert_string_equal(t->origin, "merchant");
    /* The transaction as received, to be shown back as sent. */
    cJSON *raw = parse(t->raw);
    assert_true(cJSON_Compare(raw, txn0(root), 1));
    cJSON_Delete(raw);
    rc_payment_event_free(&ev);
    verrs_free(&e);
    cJSON_Delete(root);
}

static void optional_fields_parse(void **state)
{
    (void)state;
    cJSON *root = parse(MIN_PAYLOAD);
    cJSON *customer = cJSON_GetObjectItemCaseSensitive(root, "customer");
    replace(customer, "psp_id", "\"cus_psp\"");
    replace(customer, "created_at", "\"2023-01-15T09:30:00+01:00\"");
    replace(customer, "postal_code", "\"1000-001\"");
    cJSON *sub = cJSON_GetObjectItemCaseSensitive(root, "subscription");
    replace(sub, "end_date", "\"2025-01-01\"");
    replace(sub, "discounted_or_free_period", "true");
    replace(sub, "product_id", "\"prod_1\"");
    replace(sub, "billing", "{\"period\":\"MONTH\",\"frequency\":3}");
    cJSON *t = txn0(root);
    replace(t, "psp", "\"STRIPE\"");
    replace(t, "funding_source", "\"Credit\"");
    replace(t, "scheme", "\"Visa\"");
    replace(t, "bin", "42424242");
    replace(t, "issuer_country", "\"PT\"");
    replace(t, "network_transaction_id", "\"ntid\"");
    replace(t, "recover_retry", "true");
    replace(t, "outcome", "{\"raw_response_message\":\"expired_card\",\"psp_response_message\":\"Expired\","
                          "\"processor_response_code\":54,\"network_status\":\"declined\","
                          "\"response_type\":\"HARD_DECLINE\"}");
    replace(root, "custom", "{\"plan\":\"gold\",\"n\":[1,2]}");
    struct rc_payment_event ev;
    verrs e;
    verrs_init(&e);
    assert_int_equal(rc_parse_payment(root, &ev, &e), 0);
    assert_string_equal(ev.customer.psp_id, "cus_psp");
    assert_int_equal(ev.customer.has_created_at, 1);
    int64_t ms;
    assert_int_equal(time_parse_iso8601("2023-01-15T08:30:00Z", &ms), 0);
    assert_int_equal(ev.customer.created_at, ms);
    assert_string_equal(ev.customer.postal_code, "1000-001");
    assert_int_equal(ev.subscription.has_end_date, 1);
    assert_int_equal(ev.subscription.discounted, 1);
    assert_string_equal(ev.subscription.product_id, "prod_1");
    assert_string_equal(ev.subscription.billing_period, "month");
    assert_int_equal(ev.subscription.billing_frequency, 3);
    const struct rc_txn *x = &ev.txns[0];
    assert_string_equal(x->psp, "stripe");
    assert_string_equal(x->funding_source, "credit");
    assert_string_equal(x->scheme, "visa");
    assert_string_equal(x->bin, "42424242");
    assert_string_equal(x->issuer_country, "PT");
    assert_string_equal(x->network_transaction_id, "ntid");
    assert_string_equal(x->origin, "recover");
    assert_string_equal(x->psp_response_message, "Expired");
    assert_string_equal(x->processor_response_code, "54");
    assert_string_equal(x->network_status, "declined");
    assert_string_equal(x->response_type, "hard_decline");
    cJSON *custom = parse(ev.custom);
    assert_true(cJSON_Compare(custom, cJSON_GetObjectItemCaseSensitive(root, "custom"), 1));
    cJSON_Delete(custom);
    rc_payment_event_free(&ev);
    verrs_free(&e);
    cJSON_Delete(root);
}

static void amounts_in_minor_units(void **state)
{
    (void)state;
    static const struct {
        const char *amount, *currency;
        int64_t minor;
    } ok[] = {
        {"12.23", "USD", 1223},   {"\"12.23\"", "USD", 1223}, {"12", "USD", 1200},     {"0.5", "EUR", 50},
        {"1234", "JPY", 1234},    {"1.234", "KWD", 1234},     {"\"0.001\"", "BHD", 1}, {"0", "USD", 0},
        {"99999.99", "USD", 9999999},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cJSON *root = parse(MIN_PAYLOAD);
        replace(txn0(root), "amount", ok[i].amount);
        cJSON_ReplaceItemInObjectCaseSensitive(txn0(root), "currency", cJSON_CreateString(ok[i].currency));
        struct rc_payment_event ev;
        verrs e;
        verrs_init(&e);
        if (rc_parse_payment(root, &ev, &e) != 0)
            fail_msg("%s %s refused", ok[i].amount, ok[i].currency);
        if (ev.txns[0].amount != ok[i].minor)
            fail_msg("%s %s: %lld minor units", ok[i].amount, ok[i].currency, (long long)ev.txns[0].amount);
        rc_payment_event_free(&ev);
        verrs_free(&e);
        cJSON_Delete(root);
    }
    static const struct {
        const char *amount, *currency, *msg;
    } bad[] = {
        {"12.345", "USD", "has more decimals than the currency allows (USD has 2 decimals)"},
        {"1234.5", "JPY", "(JPY has 0 decimals)"},
        {"1.2345", "KWD", "(KWD has 3 decimals)"},
        {"\"12.345\"", "USD", "more decimals"},
        {"-1", "USD", "must not be negative"},
        {"\"-0.01\"", "USD", "must not be negative"},
        {"\"abc\"", "USD", "must be a decimal number"},
        {"\"1e5\"", "USD", "must be a decimal number"},
        {"1e20", "USD", "out of range"},
        {"true", "USD", "must be a number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *root = parse(MIN_PAYLOAD);
        replace(txn0(root), "amount", bad[i].amount);
        cJSON_ReplaceItemInObjectCaseSensitive(txn0(root), "currency", cJSON_CreateString(bad[i].currency));
        expect_one(root, "transactions[0].amount", bad[i].msg);
        cJSON_Delete(root);
    }
}

/* One problem per table row, with its path and message. */
static void field_paths_and_messages(void **state)
{
    (void)state;
    static const struct {
        const char *object; /* "" root, "customer", ..., "t" transaction, "o" outcome */
        const char *name, *value; /* value NULL removes it */
        const char *field, *msg;
    } cases[] = {
        {"", "customer", NULL, "customer", "is required"},
        {"", "customer", "[]", "customer", "must be an object"},
        {"", "transactions", "null", "transactions", "is required and may not be null"},
        {"", "transactions", "[]", "transactions", "must hold at least one transaction"},
        {"", "transactions", "{}", "transactions", "must be an array"},
        {"", "transactions", "[7]", "transactions[0]", "must be an object"},
        {"", "custom", "\"x\"", "custom", "must be an object"},
        {"customer", "id", NULL, "customer.id", "is required"},
        {"customer", "id", "\"\"", "customer.id", "must not be empty"},
        {"customer", "id", "5", "customer.id", "must be a string"},
        {"customer", "created_at", "\"2024-02-30\"", "customer.created_at", "must be an ISO-8601 date-time"},
        {"subscription", "start_date", "\"yesterday\"", "subscription.start_date", "ISO-8601"},
        {"subscription", "start_date", "\"2024-13-01\"", "subscription.start_date", "ISO-8601"},
        {"subscription", "discounted_or_free_period", "0", "subscription.discounted_or_free_period",
         "must be a boolean"},
        {"subscription", "billing", "{\"period\":\"daily\"}", "subscription.billing.period",
         "must be one of day, week, month, year"},
        {"subscription", "billing", "{\"frequency\":0}", "subscription.billing.frequency",
         "must be a positive integer"},
        {"subscription", "billing", "{\"frequency\":2.5}", "subscription.billing.frequency", "must be an integer"},
        {"invoice", "created_at", NULL, "invoice.created_at", "is required"},
        {"invoice", "id", "\"\"", "invoice.id", "must not be empty"},
        {"t", "psp", "\"paypal\"", "transactions[0].psp", "must be one of stripe, braintree"},
        {"t", "funding_source", "\"cash\"", "transactions[0].funding_source", "must be one of credit, debit"},
        {"t", "scheme", "\"visaa\"", "transactions[0].scheme", "must be a card scheme"},
        {"t", "currency", "\"usd\"", "transactions[0].currency", "must be an ISO 4217 currency code"},
        {"t", "currency", "\"EURO\"", "transactions[0].currency", "must be at most 3 characters"},
        {"t", "currency", "\"XYZ\"", "transactions[0].currency", "ISO 4217"},
        {"t", "acquirer_country", "\"XX\"", "transactions[0].acquirer_country", "ISO 3166-1 alpha-2"},
        {"t", "acquirer_country", "\"USA\"", "transactions[0].acquirer_country", "must be at most 2 characters"},
        {"t", "acquirer_country", "\"us\"", "transactions[0].acquirer_country", "ISO 3166-1"},
        {"t", "issuer_country", "\"ZZ\"", "transactions[0].issuer_country", "ISO 3166-1"},
        {"t", "bin", "\"12345\"", "transactions[0].bin", "must be 6 to 8 digits"},
        {"t", "bin", "\"123456789\"", "transactions[0].bin", "must be at most 8 characters"},
        {"t", "bin", "\"12345a\"", "transactions[0].bin", "must be 6 to 8 digits"},
        {"t", "bin", "123", "transactions[0].bin", "must be 6 to 8 digits"},
        {"t", "bin", "true", "transactions[0].bin", "must be a string or an integer"},
        {"t", "success", "\"true\"", "transactions[0].success", "must be a boolean"},
        {"t", "success", NULL, "transactions[0].success", "is required"},
        {"t", "psp_transaction_created_at", "\"2024-03-01T24:00:00Z\"", "transactions[0].psp_transaction_created_at",
         "ISO-8601"},
        {"t", "outcome", NULL, "transactions[0].outcome", "is required"},
        {"t", "outcome", "[]", "transactions[0].outcome", "must be an object"},
        {"t", "enhanced_data", "{\"level_2\":[]}", "transactions[0].enhanced_data.level_2", "must be an object"},
        {"t", "enhanced_data", "{\"level_3\":\"x\"}", "transactions[0].enhanced_data.level_3", "must be an object"},
        {"t", "auth", "\"no\"", "transactions[0].auth", "must be a boolean"},
        {"o", "raw_response_message", NULL, "transactions[0].outcome.raw_response_message", "is required"},
        {"o", "raw_response_message", "\"\"", "transactions[0].outcome.raw_response_message", "must not be empty"},
        {"o", "response_type", "\"maybe\"", "transactions[0].outcome.response_type",
         "must be soft_decline or hard_decline"},
        {"o", "processor_response_code", "5.5", "transactions[0].outcome.processor_response_code",
         "must be an integer or a string"},
        {"o", "processor_response_code", "[]", "transactions[0].outcome.processor_response_code",
         "must be an integer or a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *root = parse(MIN_PAYLOAD);
        cJSON *obj = root;
        if (strcmp(cases[i].object, "t") == 0)
            obj = txn0(root);
        else if (strcmp(cases[i].object, "o") == 0)
            obj = cJSON_GetObjectItemCaseSensitive(txn0(root), "outcome");
        else if (cases[i].object[0])
            obj = cJSON_GetObjectItemCaseSensitive(root, cases[i].object);
        if (cases[i].value)
            replace(obj, cases[i].name, cases[i].value);
        else
            cJSON_DeleteItemFromObjectCaseSensitive(obj, cases[i].name);
        expect_one(root, cases[i].field, cases[i].msg);
        cJSON_Delete(root);
    }
}

static void values_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *object, *name, *value;
    } cases[] = {
        {"t", "funding_source", "\"Credit\""},   {"t", "funding_source", "\"UNKNOWN\""},
        {"t", "psp", "\"worldpay\""},            {"t", "psp", "\"recoup\""},
        {"t", "bin", "\"424242\""},              {"t", "bin", "12345678"},
        {"t", "scheme", "\"American_Express\""}, {"t", "enhanced_data", "{\"level_2\":{},\"level_3\":{\"x\":[1]}}"},
        {"sub", "billing", "{\"period\":\"Week\",\"frequency\":2}"},
        {"sub", "end_date", "null"},             {"", "custom", "null"},
        {"", "custom", "{}"},                    {"", "unknown_member", "1"},
        {"o", "processor_response_code", "\"05\""}, {"o", "processor_response_code", "-1"},
        {"o", "response_type", "\"Soft_Decline\""}, {"o", "psp_response_message", "\"\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *root = parse(MIN_PAYLOAD);
        cJSON *obj = root;
        if (strcmp(cases[i].object, "t") == 0)
            obj = txn0(root);
        else if (strcmp(cases[i].object, "o") == 0)
            obj = cJSON_GetObjectItemCaseSensitive(txn0(root), "outcome");
        else if (strcmp(cases[i].object, "sub") == 0)
            obj = cJSON_GetObjectItemCaseSensitive(root, "subscription");
        replace(obj, cases[i].name, cases[i].value);
        if (strcmp(cases[i].value, "\"worldpay\"") == 0) {
            replace(obj, "network_transaction_id", "\"ntid\"");
            replace(obj, "mid", "\"mid\"");
        }
        expect_valid(root);
        cJSON_Delete(root);
    }
}

static void every_problem_listed(void **state)
{
    (void)state;
    cJSON *root = parse(MIN_PAYLOAD);
    cJSON_DeleteItemFromObjectCaseSensitive(root, "invoice");
    replace(cJSON_GetObjectItemCaseSensitive(root, "customer"), "id", "1");
    cJSON *t = txn0(root);
    replace(t, "psp", "\"worldpay\"");
    replace(t, "scheme", "\"nope\"");
    replace(t, "success", "null");
    cJSON *txns = cJSON_GetObjectItemCaseSensitive(root, "transactions");
    cJSON *second = cJSON_Duplicate(cJSON_GetArrayItem(txns, 0), 1);
    replace(second, "currency", "\"usd\"");
    cJSON_AddItemToArray(txns, second);
    verrs e;
    verrs_init(&e);
    int n = rc_parse_payment(root, NULL, &e);
    char *text = cJSON_PrintUnformatted(e.list);
    static const char *const fields[] = {
        "invoice", "customer.id", "transactions[0].scheme", "transactions[0].success",
        "transactions[0].network_transaction_id", "transactions[0].mid", "transactions[1].scheme",
        "transactions[1].success", "transactions[1].currency", "transactions[1].network_transaction_id",
        "transactions[1].mid", "transactions[1].id",
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!names(e.list, fields[i]))
            fail_msg("%s not named: %s", fields[i], text);
    assert_int_equal(n, (int)(sizeof fields / sizeof fields[0]));
    const cJSON *it;
    cJSON_ArrayForEach(it, e.list)
    {
        if (strcmp(cJSON_GetObjectItemCaseSensitive(it, "field")->valuestring, "transactions[1].id") == 0)
            assert_string_equal(cJSON_GetObjectItemCaseSensitive(it, "message")->valuestring,
                                "repeats the id of transactions[0]");
    }
    free(text);
    verrs_free(&e);
    cJSON_Delete(root);
}

/* A problem of one field does not hide another field's. */
static void amount_checked_without_a_valid_currency(void **state)
{
    (void)state;
    cJSON *root = parse(MIN_PAYLOAD);
    replace(txn0(root), "amount", "\"abc\"");
    replace(txn0(root), "currency", "\"usd\"");
    int n;
    char *text = problems(root, &n);
    verrs e;
    verrs_init(&e);
    rc_parse_payment(root, NULL, &e);
    int named = names(e.list, "transactions[0].amount");
    verrs_free(&e);
    if (!named) {
        char copy[1000];
        snprintf(copy, sizeof copy, "%s", text);
        free(text);
        cJSON_Delete(root);
        fail_msg("an amount of \"abc\" is not reported when the currency is bad: %s", copy);
    }
    free(text);
    cJSON_Delete(root);
}

static void worldpay_rule(void **state)
{
    (void)state;
    cJSON *root = parse(MIN_PAYLOAD);
    replace(txn0(root), "psp", "\"WorldPay\"");
    verrs e;
    verrs_init(&e);
    assert_int_equal(rc_parse_payment(root, NULL, &e), 2);
    assert_true(names(e.list, "transactions[0].network_transaction_id"));
    assert_true(names(e.list, "transactions[0].mid"));
    verrs_free(&e);
    replace(txn0(root), "network_transaction_id", "\"n\"");
    expect_one(root, "transactions[0].mid", "is required when psp is worldpay");
    replace(txn0(root), "mid", "\"\"");
    expect_one(root, "transactions[0].mid", "is required when psp is worldpay");
    replace(txn0(root), "mid", "\"m\"");
    expect_valid(root);
    cJSON_Delete(root);
}

static void transaction_limit(void **state)
{
    (void)state;
    cJSON *root = parse(MIN_PAYLOAD);
    cJSON *txns = cJSON_GetObjectItemCaseSensitive(root, "transactions");
    for (int i = 1; i < 100; i++) {
        cJSON *t = cJSON_Duplicate(cJSON_GetArrayItem(txns, 0), 1);
        char id[16];
        snprintf(id, sizeof id, "t%d", i);
        cJSON_ReplaceItemInObjectCaseSensitive(t, "id", cJSON_CreateString(id));
        cJSON_AddItemToArray(txns, t);
    }
    struct rc_payment_event ev;
    verrs e;
    verrs_init(&e);
    assert_int_equal(rc_parse_payment(root, &ev, &e), 0);
    assert_int_equal(ev.ntxns, 100);
    rc_payment_event_free(&ev);
    cJSON *t = cJSON_Duplicate(cJSON_GetArrayItem(txns, 0), 1);
    cJSON_ReplaceItemInObjectCaseSensitive(t, "id", cJSON_CreateString("t100"));
    cJSON_AddItemToArray(txns, t);
    expect_one(root, "transactions", "at most 100");
    verrs_free(&e);
    cJSON_Delete(root);
}

static void not_an_object(void **state)
{
    (void)state;
    static const char *const texts[] = {"[]", "1", "\"x\"", "null", "true"};
    for (size_t i = 0; i < 5; i++) {
        cJSON *root = parse(texts[i]);
        expect_one(root, "body", "must be a JSON object");
        verrs e;
        verrs_init(&e);
        struct rc_pm_update up;
        assert_int_equal(rc_parse_pm_update(root, &up, &e), 1);
        verrs_free(&e);
        cJSON_Delete(root);
    }
}

static void unwrap_body(void **state)
{
    (void)state;
    cJSON *wrapped = parse("{\"body\":{\"customer\":{\"id\":\"c\"}}}");
    const cJSON *inner = rc_unwrap_body(wrapped);
    assert_ptr_equal(inner, cJSON_GetObjectItemCaseSensitive(wrapped, "body"));
    cJSON_Delete(wrapped);
    /* Only a lone "body" object is a wrapper. */
    static const char *const not_wrapped[] = {"{\"body\":{},\"customer\":{}}", "{\"body\":\"text\"}",
                                              "{\"body\":[1]}", "{\"Body\":{}}", "{}"};
    for (size_t i = 0; i < 5; i++) {
        cJSON *root = parse(not_wrapped[i]);
        assert_ptr_equal(rc_unwrap_body(root), root);
        cJSON_Delete(root);
    }
}

static void pm_update_contract(void **state)
{
    (void)state;
    cJSON *root = parse("{\"customer_id\":\"cus_1\",\"payment_method_id\":\"pm_2\",\"psp_customer_id\":\"cus_X\","
                        "\"reason\":\"Network_Updated\"}");
    struct rc_pm_update up;
    verrs e;
    verrs_init(&e);
    assert_int_equal(rc_parse_pm_update(root, &up, &e), 0);
    assert_string_equal(up.customer_id, "cus_1");
    assert_string_equal(up.payment_method_id, "pm_2");
    assert_string_equal(up.psp_customer_id, "cus_X");
    assert_string_equal(up.reason, "network_updated");
    cJSON_Delete(root);
    root = parse("{\"customer_id\":\"cus_1\",\"payment_method_id\":\"pm_2\"}");
    assert_int_equal(rc_parse_pm_update(root, &up, &e), 0);
    assert_string_equal(up.reason, "");
    cJSON_Delete(root);
    verrs_free(&e);

    static const struct {
        const char *text;
        int count;
        const char *field, *msg;
    } bad[] = {
        {"{\"payment_method_id\":\"pm\"}", 1, "customer_id", "is required"},
        {"{\"customer_id\":\"c\"}", 1, "payment_method_id", "is required"},
        {"{}", 2, "customer_id", "is required"},
        {"{\"customer_id\":\"\",\"payment_method_id\":\"pm\"}", 1, "customer_id", "must not be empty"},
        {"{\"customer_id\":\"c\",\"payment_method_id\":5}", 1, "payment_method_id", "must be a string"},
        {"{\"customer_id\":\"c\",\"payment_method_id\":\"pm\",\"reason\":[]}", 1, "reason", "must be a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        root = parse(bad[i].text);
        verrs_init(&e);
        assert_int_equal(rc_parse_pm_update(root, NULL, &e), bad[i].count);
        const cJSON *first = cJSON_GetArrayItem(e.list, 0);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(first, "field")->valuestring, bad[i].field);
        assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(first, "message")->valuestring, bad[i].msg));
        verrs_free(&e);
        cJSON_Delete(root);
    }
}

static void fingerprint_of(const char *text, char out[65])
{
    cJSON *root = parse(text);
    rc_payment_fingerprint(rc_unwrap_body(root), out);
    cJSON_Delete(root);
}

static void payment_fingerprint(void **state)
{
    (void)state;
    char a[65], b[65], c[65], d[65];
    fingerprint_of("{\"transactions\":[{\"id\":\"t1\"},{\"id\":\"t2\"},{\"id\":\"t3\"}]}", a);
    fingerprint_of("{\"transactions\":[{\"id\":\"t3\"},{\"id\":\"t1\"},{\"id\":\"t2\"}]}", b);
    assert_int_equal(strlen(a), 64);
    assert_string_equal(a, b);
    /* Other details of the same transactions: the same event. */
    fingerprint_of("{\"invoice\":{\"id\":\"x\"},\"transactions\":[{\"id\":\"t2\",\"amount\":5},{\"id\":\"t3\"},"
                   "{\"id\":\"t1\",\"success\":true}]}",
                   c);
    assert_string_equal(a, c);
    fingerprint_of("{\"body\":{\"transactions\":[{\"id\":\"t1\"},{\"id\":\"t2\"},{\"id\":\"t3\"}]}}", d);
    assert_string_equal(a, d);

    static const char *const different[] = {
        "{\"transactions\":[{\"id\":\"t1\"},{\"id\":\"t2\"}]}",
        "{\"transactions\":[{\"id\":\"t1\"},{\"id\":\"t2\"},{\"id\":\"t4\"}]}",
        "{\"transactions\":[{\"id\":\"t1\"},{\"id\":\"t2\"},{\"id\":\"t3\"},{\"id\":\"t4\"}]}",
        "{\"transactions\":[{\"id\":\"T1\"},{\"id\":\"t2\"},{\"id\":\"t3\"}]}",
    };
    for (size_t i = 0; i < sizeof different / sizeof different[0]; i++) {
        fingerprint_of(different[i], b);
        if (strcmp(a, b) == 0)
            fail_msg("same fingerprint for %s", different[i]);
    }
    /* Ids that would run together without a separator stay apart. */
    fingerprint_of("{\"transactions\":[{\"id\":\"ab\"},{\"id\":\"c\"}]}", a);
    fingerprint_of("{\"transactions\":[{\"id\":\"a\"},{\"id\":\"bc\"}]}", b);
    assert_string_not_equal(a, b);
    fingerprint_of("{\"transactions\":[{\"id\":\"a\\n1:b\"}]}", c);
    fingerprint_of("{\"transactions\":[{\"id\":\"a\"},{\"id\":\"b\"}]}", d);
    assert_string_not_equal(c, d);
}

static void pm_update_fingerprint(void **state)
{
    (void)state;
    /* Updates are never taken for repeats: the same update twice gets two
     * fingerprints, so both are stored and applied (harmlessly). */
    char a[65], b[65];
    cJSON *x = parse("{\"customer_id\":\"c\",\"payment_method_id\":\"pm\",\"reason\":\"expired\"}");
    rc_pm_update_fingerprint(x, a);
    rc_pm_update_fingerprint(x, b);
    assert_int_equal(strlen(a), 64);
    assert_string_not_equal(a, b);
    cJSON_Delete(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(minimal_parses),
        cmocka_unit_test(optional_fields_parse),
        cmocka_unit_test(amounts_in_minor_units),
        cmocka_unit_test(field_paths_and_messages),
        cmocka_unit_test(values_accepted),
        cmocka_unit_test(every_problem_listed),
        cmocka_unit_test(amount_checked_without_a_valid_currency),
        cmocka_unit_test(worldpay_rule),
        cmocka_unit_test(transaction_limit),
        cmocka_unit_test(not_an_object),
        cmocka_unit_test(unwrap_body),
        cmocka_unit_test(pm_update_contract),
        cmocka_unit_test(payment_fingerprint),
        cmocka_unit_test(pm_update_fingerprint),
    };
    return cmocka_run_group_tests_name("rc_validate", tests, group_setup, NULL);
}
