/* The payload contract of POST /recover/payments, one case per rule: each
 * required field missing, each wrong type, each bad enum value, dates,
 * currencies, countries, amounts and their precision, bins, the worldpay
 * rule and repeated transaction ids. A 400 names the field by its path and
 * lists every problem of the request; values the contract accepts get the
 * 200 acknowledgement. */
#include "rc_common.h"

static rserver srv;
static struct rc_keys keys;

static int group_setup(void **state)
{
    (void)state;
    server_start(&srv, NULL);
    rc_read_keys(&srv, &keys);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = server_stop(&srv);
    assert_int_equal(rc, 0);
    return rc;
}

enum base { MIN, FULL };

/* One change to a valid payload and its expected answer: field NULL means
 * 200, else 400 naming field (with message containing msg when given). */
struct vcase {
    const char *name;
    enum base base;
    const char *path;
    const char *value; /* JSON text; NULL removes the member */
    const char *field;
    const char *msg;
};

#define T "transactions[0]."

static const struct vcase cases[] = {
    /* every required field missing */
    {"missing customer", MIN, "customer", NULL, "customer", "is required"},
    {"missing customer.id", MIN, "customer.id", NULL, "customer.id", "is required"},
    {"missing subscription", MIN, "subscription", NULL, "subscription", "is required"},
    {"missing subscription.id", MIN, "subscription.id", NULL, "subscription.id", "is required"},
    {"missing subscription.start_date", MIN, "subscription.start_date", NULL, "subscription.start_date",
     "is required"},
    {"missing invoice", MIN, "invoice", NULL, "invoice", "is required"},
    {"missing invoice.id", MIN, "invoice.id", NULL, "invoice.id", "is required"},
    {"missing invoice.created_at", MIN, "invoice.created_at", NULL, "invoice.created_at", "is required"},
    {"missing transactions", MIN, "transactions", NULL, "transactions", "is required"},
    {"missing id", MIN, T "id", NULL, T "id", "is required"},
    {"missing psp_transaction_id", MIN, T "psp_transaction_id", NULL, T "psp_transaction_id", "is required"},
    {"missing psp", MIN, T "psp", NULL, T "psp", "is required"},
    {"missing acquirer_country", MIN, T "acquirer_country", NULL, T "acquirer_country", "is required"},
    {"missing amount", MIN, T "amount", NULL, T "amount", "is required"},
    {"missing currency", MIN, T "currency", NULL, T "currency", "is required"},
    {"missing funding_source", MIN, T "funding_source", NULL, T "funding_source", "is required"},
    {"missing payment_method_id", MIN, T "payment_method_id", NULL, T "payment_method_id", "is required"},
    {"missing psp_transaction_created_at", MIN, T "psp_transaction_created_at", NULL, T "psp_transaction_created_at",
     "is required"},
    {"missing scheme", MIN, T "scheme", NULL, T "scheme", "is required"},
    {"missing success", MIN, T "success", NULL, T "success", "is required"},
    {"missing outcome", MIN, T "outcome", NULL, T "outcome", "is required"},
    {"missing outcome.raw_response_message", MIN, T "outcome.raw_response_message", NULL,
     T "outcome.raw_response_message", "is required"},
    /* required fields null or empty */
    {"null customer.id", MIN, "customer.id", "null", "customer.id", "required"},
    {"null transactions", MIN, "transactions", "null", "transactions", "required"},
    {"null success", MIN, T "success", "null", T "success", "required"},
    {"empty customer.id", MIN, "customer.id", "\"\"", "customer.id", "must not be empty"},
    {"empty invoice.id", MIN, "invoice.id", "\"\"", "invoice.id", "must not be empty"},
    {"empty raw_response_message", MIN, T "outcome.raw_response_message", "\"\"", T "outcome.raw_response_message",
     "must not be empty"},
    /* wrong types */
    {"customer not an object", MIN, "customer", "\"cus_1\"", "customer", "must be an object"},
    {"customer.id a number", MIN, "customer.id", "42", "customer.id", "must be a string"},
    {"customer.psp_id a number", FULL, "customer.psp_id", "7", "customer.psp_id", "must be a string"},
    {"customer.created_at a number", FULL, "customer.created_at", "1673775000", "customer.created_at",
     "must be a string"},
    {"customer.postal_code a bool", FULL, "customer.postal_code", "true", "customer.postal_code", "must be a string"},
    {"subscription an array", MIN, "subscription", "[]", "subscription", "must be an object"},
    {"subscription.id a number", MIN, "subscription.id", "1", "subscription.id", "must be a string"},
    {"subscription.start_date a number", MIN, "subscription.start_date", "20240101", "subscription.start_date",
     "must be a string"},
    {"subscription.end_date a bool", FULL, "subscription.end_date", "false", "subscription.end_date",
     "must be a string"},
    {"discounted_or_free_period a string", FULL, "subscription.discounted_or_free_period", "\"no\"",
     "subscription.discounted_or_free_period", "must be a boolean"},
    {"product_id a number", FULL, "subscription.product_id", "7", "subscription.product_id", "must be a string"},
    {"billing a string", FULL, "subscription.billing", "\"monthly\"", "subscription.billing", "must be an object"},
    {"billing.period a number", FULL, "subscription.billing.period", "1", "subscription.billing.period",
     "must be a string"},
    {"billing.frequency a string", FULL, "subscription.billing.frequency", "\"1\"", "subscription.billing.frequency",
     "must be an integer"},
    {"billing.frequency a fraction", FULL, "subscription.billing.frequency", "1.5", "subscription.billing.frequency",
     "must be an integer"},
    {"billing.frequency zero", FULL, "subscription.billing.frequency", "0", "subscription.billing.frequency",
     "positive"},
    {"billing.frequency negative", FULL, "subscription.billing.frequency", "-3", "subscription.billing.frequency",
     "positive"},
    {"invoice a string", MIN, "invoice", "\"in_1\"", "invoice", "must be an object"},
    {"invoice.id a number", MIN, "invoice.id", "12", "invoice.id", "must be a string"},
    {"invoice.created_at a bool", MIN, "invoice.created_at", "true", "invoice.created_at", "must be a string"},
    {"transactions an object", MIN, "transactions", "{}", "transactions", "must be an array"},
    {"transactions a string", MIN, "transactions", "\"txn\"", "transactions", "must be an array"},
    {"transactions empty", MIN, "transactions", "[]", "transactions", "at least one"},
    {"transaction not an object", MIN, "transactions[0]", "\"txn\"", "transactions[0]", "must be an object"},
    {"id a number", MIN, T "id", "1", T "id", "must be a string"},
    {"psp_transaction_id null", MIN, T "psp_transaction_id", "null", T "psp_transaction_id", "required"},
    {"psp a number", MIN, T "psp", "1", T "psp", "must be a string"},
    {"acquirer_country a number", MIN, T "acquirer_country", "840", T "acquirer_country", "must be a string"},
    {"amount a bool", MIN, T "amount", "true", T "amount", "must be a number"},
    {"amount an object", MIN, T "amount", "{}", T "amount", "must be a number"},
    {"amount text not a number", MIN, T "amount", "\"abc\"", T "amount", "decimal number"},
    {"amount text with two points", MIN, T "amount", "\"12.2.3\"", T "amount", "decimal number"},
    {"currency a number", MIN, T "currency", "840", T "currency", "must be a string"},
    {"funding_source a bool", MIN, T "funding_source", "true", T "funding_source", "must be a string"},
    {"payment_method_id a number", MIN, T "payment_method_id", "3", T "payment_method_id", "must be a string"},
    {"psp_transaction_created_at a number", MIN, T "psp_transaction_created_at", "1709290000",
     T "psp_transaction_created_at", "must be a string"},
    {"scheme an array", MIN, T "scheme", "[\"visa\"]", T "scheme", "must be a string"},
    {"success a string", MIN, T "success", "\"false\"", T "success", "must be a boolean"},
    {"success a number", MIN, T "success", "0", T "success", "must be a boolean"},
    {"outcome a string", MIN, T "outcome", "\"declined\"", T "outcome", "must be an object"},
    {"raw_response_message a number", MIN, T "outcome.raw_response_message", "51", T "outcome.raw_response_message",
     "must be a string"},
    {"psp_response_message a number", FULL, T "outcome.psp_response_message", "1", T "outcome.psp_response_message",
     "must be a string"},
    {"processor_response_code a fraction", FULL, T "outcome.processor_response_code", "1.5",
     T "outcome.processor_response_code", "integer or a string"},
    {"processor_response_code a bool", FULL, T "outcome.processor_response_code", "true",
     T "outcome.processor_response_code", "integer or a string"},
    {"network_status a number", FULL, T "outcome.network_status", "1", T "outcome.network_status",
     "must be a string"},
    {"response_type a number", FULL, T "outcome.response_type", "1", T "outcome.response_type", "must be a string"},
    {"network_transaction_id a number", FULL, T "network_transaction_id", "1", T "network_transaction_id",
     "must be a string"},
    {"mid a number", FULL, T "mid", "1", T "mid", "must be a string"},
    {"reporting_group a number", FULL, T "reporting_group", "1", T "reporting_group", "must be a string"},
    {"billing_postal_code a number", FULL, T "billing_postal_code", "94107", T "billing_postal_code",
     "must be a string"},
    {"bin a bool", FULL, T "bin", "true", T "bin", "string or an integer"},
    {"bin a fraction", FULL, T "bin", "424242.5", T "bin", "string or an integer"},
    {"issuer_country a number", FULL, T "issuer_country", "1", T "issuer_country", "must be a string"},
    {"auth a string", FULL, T "auth", "\"yes\"", T "auth", "must be a boolean"},
    {"captured a number", FULL, T "captured", "1", T "captured", "must be a boolean"},
    {"refunded a string", FULL, T "refunded", "\"false\"", T "refunded", "must be a boolean"},
    {"enhanced_data a string", FULL, T "enhanced_data", "\"l2\"", T "enhanced_data", "must be an object"},
    {"enhanced_data.level_2 a string", FULL, T "enhanced_data.level_2", "\"x\"", T "enhanced_data.level_2",
     "must be an object"},
    {"enhanced_data.level_3 an array", FULL, T "enhanced_data.level_3", "[1]", T "enhanced_data.level_3",
     "must be an object"},
    {"custom a string", FULL, "custom", "\"x\"", "custom", "must be an object"},
    {"custom an array", FULL, "custom", "[1]", "custom", "must be an object"},
    /* enums */
    {"psp unknown", MIN, T "psp", "\"paypal_pro\"", T "psp", "must be one of"},
    {"funding_source unknown", MIN, T "funding_source", "\"cash\"", T "funding_source", "must be one of"},
    {"scheme unknown", MIN, T "scheme", "\"visaa\"", T "scheme", "scheme"},
    {"billing.period unknown", FULL, "subscription.billing.period", "\"biweekly\"", "subscription.billing.period",
     "day, week, month, year"},
    {"response_type unknown", FULL, T "outcome.response_type", "\"maybe\"", T "outcome.response_type",
     "soft_decline"},
    {"funding_source Credit accepted", MIN, T "funding_source", "\"Credit\"", NULL, NULL},
    {"funding_source DEBIT accepted", MIN, T "funding_source", "\"DEBIT\"", NULL, NULL},
    {"funding_source Prepaid accepted", MIN, T "funding_source", "\"Prepaid\"", NULL, NULL},
    {"billing.period MONTH accepted", FULL, "subscription.billing.period", "\"MONTH\"", NULL, NULL},
    {"billing.period Year accepted", FULL, "subscription.billing.period", "\"Year\"", NULL, NULL},
    {"psp braintree accepted", MIN, T "psp", "\"braintree\"", NULL, NULL},
    {"psp adyen accepted", MIN, T "psp", "\"adyen\"", NULL, NULL},
    {"psp recurly accepted", MIN, T "psp", "\"recurly\"", NULL, NULL},
    {"psp recharge accepted", MIN, T "psp", "\"recharge\"", NULL, NULL},
    {"scheme mastercard accepted", MIN, T "scheme", "\"mastercard\"", NULL, NULL},
    {"scheme amex accepted", MIN, T "scheme", "\"amex\"", NULL, NULL},
    {"scheme discover accepted", MIN, T "scheme", "\"discover\"", NULL, NULL},
    {"response_type hard_decline accepted", FULL, T "outcome.response_type", "\"hard_decline\"", NULL, NULL},
    {"processor_response_code text accepted", FULL, T "outcome.processor_response_code", "\"05\"", NULL, NULL},
    /* dates */
    {"date 2024-02-30", MIN, "invoice.created_at", "\"2024-02-30\"", "invoice.created_at", "ISO-8601"},
    {"date yesterday", MIN, "subscription.start_date", "\"yesterday\"", "subscription.start_date", "ISO-8601"},
    {"date 2024-13-01", FULL, "customer.created_at", "\"2024-13-01\"", "customer.created_at", "ISO-8601"},
    {"date 2023-02-29", MIN, T "psp_transaction_created_at", "\"2023-02-29T10:00:00Z\"",
     T "psp_transaction_created_at", "ISO-8601"},
    {"time 25:00", MIN, T "psp_transaction_created_at", "\"2024-03-01T25:00:00Z\"", T "psp_transaction_created_at",
     "ISO-8601"},
    {"date in US order", FULL, "subscription.end_date", "\"03/01/2025\"", "subscription.end_date", "ISO-8601"},
    {"leap day accepted", MIN, "invoice.created_at", "\"2024-02-29T00:00:00Z\"", NULL, NULL},
    {"offset and fraction accepted", MIN, T "psp_transaction_created_at", "\"2024-03-01T10:00:00.250+01:00\"", NULL,
     NULL},
    {"date without time accepted", MIN, "subscription.start_date", "\"2024-01-01\"", NULL, NULL},
    /* currencies */
    {"currency EURO", MIN, T "currency", "\"EURO\"", T "currency", NULL},
    {"currency lower case usd", MIN, T "currency", "\"usd\"", T "currency", "ISO 4217"},
    {"currency XYZ", MIN, T "currency", "\"XYZ\"", T "currency", "ISO 4217"},
    {"currency empty", MIN, T "currency", "\"\"", T "currency", "must not be empty"},
    {"currency EUR accepted", MIN, T "currency", "\"EUR\"", NULL, NULL},
    /* countries */
    {"acquirer_country USA", MIN, T "acquirer_country", "\"USA\"", T "acquirer_country", NULL},
    {"acquirer_country XX", MIN, T "acquirer_country", "\"XX\"", T "acquirer_country", "ISO 3166-1"},
    {"acquirer_country lower case", MIN, T "acquirer_country", "\"us\"", T "acquirer_country", "ISO 3166-1"},
    {"issuer_country XX", FULL, T "issuer_country", "\"XX\"", T "issuer_country", "ISO 3166-1"},
    {"issuer_country USA", FULL, T "issuer_country", "\"USA\"", T "issuer_country", NULL},
    {"acquirer_country GB accepted", MIN, T "acquirer_country", "\"GB\"", NULL, NULL},
    /* amounts */
    {"12.345 USD", MIN, T "amount", "12.345", T "amount", "more decimals"},
    {"\"12.345\" USD", MIN, T "amount", "\"12.345\"", T "amount", "more decimals"},
    {"12.3 USD accepted", MIN, T "amount", "12.3", NULL, NULL},
    {"12 USD accepted", MIN, T "amount", "12", NULL, NULL},
    {"amount as text accepted", MIN, T "amount", "\"12.23\"", NULL, NULL},
    {"negative amount", MIN, T "amount", "-1", T "amount", "negative"},
    {"negative amount as text", MIN, T "amount", "\"-0.01\"", T "amount", "negative"},
    {"amount out of range", MIN, T "amount", "1e20", T "amount", NULL},
    /* bins */
    {"bin of 5 digits", FULL, T "bin", "\"12345\"", T "bin", NULL},
    {"bin of 9 digits", FULL, T "bin", "\"123456789\"", T "bin", NULL},
    {"bin with a letter", FULL, T "bin", "\"42424a\"", T "bin", "6 to 8 digits"},
    {"bin of 5 digits as a number", FULL, T "bin", "12345", T "bin", "6 to 8 digits"},
    {"bin of 8 digits accepted", FULL, T "bin", "\"42424242\"", NULL, NULL},
    {"bin as a number accepted", FULL, T "bin", "424242", NULL, NULL},
    /* optional fields may be null */
    {"null optional fields accepted", FULL, "subscription.billing", "null", NULL, NULL},
    {"null custom accepted", FULL, "custom", "null", NULL, NULL},
    {"unknown members accepted", MIN, "extra", "{\"x\":1}", NULL, NULL},
};

/* Each case also gets its own ids, so that accepted ones are new events. */
static void run_case(void **state)
{
    const struct vcase *c = *state;
    static int n;
    char id[64];
    snprintf(id, sizeof id, "val-%d", ++n);
    cJSON *p = rc_parse(c->base == FULL ? RC_FULL_PAYLOAD : RC_MIN_PAYLOAD);
    if (strncmp(c->path, "transactions[0].id", 18) != 0 && strcmp(c->path, "transactions") != 0 &&
        strcmp(c->path, "transactions[0]") != 0)
        rc_set_str(p, "transactions[0].id", id);
    if (strncmp(c->path, "invoice", 7) != 0)
        rc_set_str(p, "invoice.id", id);
    if (c->value)
        rc_set(p, c->path, c->value);
    else
        rc_del(p, c->path);
    hres *r = rc_post_payment(&srv, keys.sandbox, p);
    if (!c->field) {
        CHECK_STATUS(r, 200);
        CHECK(r, strcmp(js(r->json, "message"), "Request submitted for processing") == 0);
        CHECK(r, *js(r->json, "request_id") != '\0');
    } else {
        RC_INVALID(r);
        CHECK_FIELD_ERROR(r, 400, c->field);
        const char *msg = rc_error_message(r, c->field);
        if (c->msg && (!msg || !strstr(msg, c->msg)))
            fail_msg("the message for %s does not say \"%s\"\n  body: %s", c->field, c->msg, r->body);
        /* The one problem made is the one reported. */
        CHECK(r, rc_count(r->json, "errors") == 1);
    }
    hres_free(r);
    cJSON_Delete(p);
}

/* The seed's minimal payload as such, and the full one. */
static void minimal_and_full_payloads_accepted(void **state)
{
    (void)state;
    cJSON *p = rc_parse(RC_MIN_PAYLOAD);
    rc_set_str(p, "invoice.id", "val-min");
    rc_set_str(p, "transactions[0].id", "val-min");
    free(rc_send(&srv, keys.sandbox, p));
    cJSON_Delete(p);
    p = rc_parse(RC_FULL_PAYLOAD);
    rc_set_str(p, "invoice.id", "val-full");
    rc_set_str(p, "transactions[0].id", "val-full");
    free(rc_send(&srv, keys.sandbox, p));
    cJSON_Delete(p);
}

static void amount_precision_per_currency(void **state)
{
    (void)state;
    static const struct {
        const char *amount, *currency;
        int ok;
    } a[] = {
        {"12.345", "USD", 0}, {"1234.5", "JPY", 0}, {"1234", "JPY", 1},  {"1.234", "KWD", 1},
        {"1.2345", "KWD", 0}, {"\"1.234\"", "BHD", 1}, {"0.5", "EUR", 1}, {"\"1234.5\"", "JPY", 0},
    };
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
        char id[32];
        snprintf(id, sizeof id, "val-amt-%zu", i);
        cJSON *p = rc_event(id, "cus_amt", id, 0, "insufficient_funds", "2024-03-01T10:00:00Z");
        rc_set(p, "transactions[0].amount", a[i].amount);
        rc_set_str(p, "transactions[0].currency", a[i].currency);
        hres *r = rc_post_payment(&srv, keys.sandbox, p);
        if (a[i].ok) {
            CHECK_STATUS(r, 200);
        } else {
            RC_INVALID(r);
            CHECK(r, rc_count(r->json, "errors") == 1);
            const char *msg = rc_error_message(r, "transactions[0].amount");
            CHECK(r, msg && strstr(msg, "more decimals") && strstr(msg, a[i].currency));
        }
        hres_free(r);
        cJSON_Delete(p);
    }
}

static void worldpay_needs_network_transaction_id_and_mid(void **state)
{
    (void)state;
    cJSON *p = rc_event("val-wp", "cus_wp", "val-wp", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    rc_set_str(p, "transactions[0].psp", "worldpay");
    hres *r = rc_post_payment(&srv, keys.sandbox, p);
    RC_INVALID(r);
    CHECK(r, rc_count(r->json, "errors") == 2);
    CHECK(r, has_error_field(r->json, "transactions[0].network_transaction_id"));
    CHECK(r, has_error_field(r->json, "transactions[0].mid"));
    CHECK(r, strstr(rc_error_message(r, "transactions[0].mid"), "worldpay") != NULL);
    hres_free(r);

    /* Empty text is no identifier either. */
    rc_set_str(p, "transactions[0].network_transaction_id", "");
    rc_set_str(p, "transactions[0].mid", "mid_1");
    r = rc_post_payment(&srv, keys.sandbox, p);
    RC_INVALID(r);
    CHECK(r, rc_count(r->json, "errors") == 1);
    CHECK(r, has_error_field(r->json, "transactions[0].network_transaction_id"));
    hres_free(r);

    rc_set_str(p, "transactions[0].network_transaction_id", "483297487231504");
    r = rc_post_payment(&srv, keys.sandbox, p);
    CHECK_STATUS(r, 200);
    hres_free(r);

    /* Other PSPs do not need them. */
    rc_set_str(p, "transactions[0].psp", "adyen");
    rc_set_str(p, "transactions[0].id", "val-wp-adyen");
    rc_del(p, "transactions[0].network_transaction_id");
    rc_del(p, "transactions[0].mid");
    r = rc_post_payment(&srv, keys.sandbox, p);
    CHECK_STATUS(r, 200);
    hres_free(r);
    cJSON_Delete(p);
}

static void repeated_transaction_id_in_one_event(void **state)
{
    (void)state;
    cJSON *p = rc_event("val-dup", "cus_dup", "val-dup-1", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    cJSON *txns = cJSON_GetObjectItemCaseSensitive(p, "transactions");
    cJSON *second = cJSON_Duplicate(cJSON_GetArrayItem(txns, 0), 1);
    cJSON_AddItemToArray(txns, second);
    rc_set_str(p, "transactions[1].psp_transaction_id", "ch_other");
    rc_set_str(p, "transactions[1].psp_transaction_created_at", "2024-03-01T11:00:00Z");
    hres *r = rc_post_payment(&srv, keys.sandbox, p);
    RC_INVALID(r);
    CHECK(r, rc_count(r->json, "errors") == 1);
    CHECK(r, has_error_field(r->json, "transactions[1].id"));
    hres_free(r);

    /* With distinct ids the same event is fine. */
    rc_set_str(p, "transactions[1].id", "val-dup-2");
    r = rc_post_payment(&srv, keys.sandbox, p);
    CHECK_STATUS(r, 200);
    hres_free(r);
    cJSON_Delete(p);
}

static void paths_of_later_transactions(void **state)
{
    (void)state;
    cJSON *p = rc_event("val-idx", "cus_idx", "val-idx-1", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    cJSON *txns = cJSON_GetObjectItemCaseSensitive(p, "transactions");
    for (int i = 0; i < 2; i++)
        cJSON_AddItemToArray(txns, cJSON_Duplicate(cJSON_GetArrayItem(txns, 0), 1));
    rc_set_str(p, "transactions[1].id", "val-idx-2");
    rc_set_str(p, "transactions[2].id", "val-idx-3");
    rc_set_str(p, "transactions[2].currency", "usd");
    rc_set(p, "transactions[1].success", "\"yes\"");
    rc_del(p, "transactions[2].outcome.raw_response_message");
    hres *r = rc_post_payment(&srv, keys.sandbox, p);
    RC_INVALID(r);
    CHECK(r, rc_count(r->json, "errors") == 3);
    CHECK(r, has_error_field(r->json, "transactions[1].success"));
    CHECK(r, has_error_field(r->json, "transactions[2].currency"));
    CHECK(r, has_error_field(r->json, "transactions[2].outcome.raw_response_message"));
    hres_free(r);
    cJSON_Delete(p);
}

/* Every problem of the request is listed, not only the first. */
static void every_problem_is_listed(void **state)
{
    (void)state;
    cJSON *p = rc_parse(RC_FULL_PAYLOAD);
    rc_del(p, "customer.id");
    rc_set(p, "subscription.start_date", "\"yesterday\"");
    rc_set(p, "subscription.billing.period", "\"daily\"");
    rc_set(p, "invoice.created_at", "\"2024-02-30\"");
    rc_set(p, "transactions[0].currency", "\"EURO\"");
    rc_set(p, "transactions[0].acquirer_country", "\"XX\"");
    rc_set(p, "transactions[0].funding_source", "\"cash\"");
    rc_set(p, "transactions[0].bin", "\"12345\"");
    rc_set(p, "transactions[0].success", "\"no\"");
    rc_del(p, "transactions[0].outcome.raw_response_message");
    rc_set(p, "transactions[0].outcome.response_type", "\"meh\"");
    rc_set(p, "custom", "[]");
    hres *r = rc_post_payment(&srv, keys.sandbox, p);
    RC_INVALID(r);
    static const char *const fields[] = {
        "customer.id", "subscription.start_date", "subscription.billing.period", "invoice.created_at",
        T "currency", T "acquirer_country", T "funding_source", T "bin", T "success",
        T "outcome.raw_response_message", T "outcome.response_type", "custom",
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!has_error_field(r->json, fields[i]))
            fail_msg("errors[] does not name %s\n  body: %s", fields[i], r->body);
    CHECK(r, rc_count(r->json, "errors") == (int)(sizeof fields / sizeof fields[0]));
    hres_free(r);
    cJSON_Delete(p);
}

/* An amount that is no number is a problem whatever the currency says. */
static void amount_checked_when_currency_is_bad(void **state)
{
    (void)state;
    struct rc_soft soft = {0};
    cJSON *p = rc_event("val-amt-cur", "cus_ac", "val-amt-cur", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    rc_set(p, "transactions[0].amount", "\"abc\"");
    rc_set(p, "transactions[0].currency", "\"usd\"");
    hres *r = rc_post_payment(&srv, keys.sandbox, p);
    snprintf(soft.ctx, sizeof soft.ctx, "amount \"abc\", currency \"usd\"");
    SOFT(&soft, r, r->status == 400);
    SOFT(&soft, r, has_error_field(r->json, "transactions[0].currency"));
    SOFT(&soft, r, has_error_field(r->json, "transactions[0].amount"));
    hres_free(r);
    rc_del(p, "transactions[0].currency");
    r = rc_post_payment(&srv, keys.sandbox, p);
    snprintf(soft.ctx, sizeof soft.ctx, "amount \"abc\", no currency");
    SOFT(&soft, r, r->status == 400);
    SOFT(&soft, r, has_error_field(r->json, "transactions[0].currency"));
    SOFT(&soft, r, has_error_field(r->json, "transactions[0].amount"));
    hres_free(r);
    cJSON_Delete(p);
    rc_soft_end(&soft);
}

static void too_many_transactions(void **state)
{
    (void)state;
    cJSON *p = rc_event("val-many", "cus_many", "val-many-0", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    cJSON *txns = cJSON_GetObjectItemCaseSensitive(p, "transactions");
    cJSON *proto = cJSON_GetArrayItem(txns, 0);
    for (int i = 1; i <= 100; i++) {
        cJSON *t = cJSON_Duplicate(proto, 1);
        char id[32];
        snprintf(id, sizeof id, "val-many-%d", i);
        cJSON_ReplaceItemInObjectCaseSensitive(t, "id", cJSON_CreateString(id));
        cJSON_AddItemToArray(txns, t);
    }
    hres *r = rc_post_payment(&srv, keys.sandbox, p);
    RC_INVALID(r);
    CHECK(r, has_error_field(r->json, "transactions"));
    hres_free(r);
    cJSON_Delete(p);
}

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(minimal_and_full_payloads_accepted),
        cmocka_unit_test(amount_precision_per_currency),
        cmocka_unit_test(worldpay_needs_network_transaction_id_and_mid),
        cmocka_unit_test(repeated_transaction_id_in_one_event),
        cmocka_unit_test(paths_of_later_transactions),
        cmocka_unit_test(every_problem_is_listed),
        cmocka_unit_test(amount_checked_when_currency_is_bad),
        cmocka_unit_test(too_many_transactions),
    };
    size_t ncases = sizeof cases / sizeof cases[0], nfixed = sizeof fixed / sizeof fixed[0];
    struct CMUnitTest *tests = calloc(ncases + nfixed, sizeof *tests);
    if (!tests)
        return 1;
    for (size_t i = 0; i < ncases; i++) {
        tests[i].name = cases[i].name;
        tests[i].test_func = run_case;
        tests[i].initial_state = (void *)&cases[i];
    }
    for (size_t i = 0; i < nfixed; i++)
        tests[ncases + i] = fixed[i];
    int rc = _cmocka_run_group_tests("rc_validation", tests, ncases + nfixed, group_setup, group_teardown);
    free(tests);
    return rc;
}
