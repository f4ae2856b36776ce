#include "recover/validate.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/countries.h"
#include "core/crypto.h"
#include "core/money.h"
#include "core/timefmt.h"

const cJSON *rc_unwrap_body(const cJSON *root)
{
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(root, "body");
    if (cJSON_IsObject(body) && cJSON_GetArraySize(root) == 1)
        return body;
    return root;
}

/* ---- value checks ---- */

static int in_list_ci(const char *value, const char *const *list)
{
    for (; *list; list++)
        if (strcasecmp(value, *list) == 0)
            return 1;
    return 0;
}

static const char *const psps[] = {"stripe", "braintree", "adyen", "worldpay", "recurly", "recharge", "recoup", NULL};
static const char *const funding_sources[] = {"credit", "debit", "mixed", "paypal", "prepaid", "uncategorized",
                                              "unknown", NULL};
static const char *const periods[] = {"day", "week", "month", "year", NULL};
static const char *const response_types[] = {"soft_decline", "hard_decline", NULL};
static const char *const schemes[] = {"visa", "mastercard", "amex", "american_express", "discover", "jcb", "diners",
                                      "diners_club", "unionpay", "maestro", "cartes_bancaires", "interac", "eftpos",
                                      "elo", "hipercard", "rupay", "mir", "dankort", "bancontact", "paypal",
                                      "unknown", "other", NULL};

static const char *check_psp(const cJSON *v)
{
    return in_list_ci(v->valuestring, psps)
               ? NULL
               : "must be one of stripe, braintree, adyen, worldpay, recurly, recharge, recoup";
}

static const char *check_funding(const cJSON *v)
{
    return in_list_ci(v->valuestring, funding_sources)
               ? NULL
               : "must be one of credit, debit, mixed, paypal, prepaid, uncategorized, unknown";
}

static const char *check_period(const cJSON *v)
{
    return in_list_ci(v->valuestring, periods) ? NULL : "must be one of day, week, month, year";
}

static const char *check_response_type(const cJSON *v)
{
    return in_list_ci(v->valuestring, response_types) ? NULL : "must be soft_decline or hard_decline";
}

static const char *check_scheme(const cJSON *v)
{
    return in_list_ci(v->valuestring, schemes)
               ? NULL
               : "must be a card scheme such as visa, mastercard, amex, discover, jcb, diners, unionpay, "
                 "maestro, cartes_bancaires, unknown or other";
}

static const char *check_country(const cJSON *v)
{
    return country_code_valid(v->valuestring) ? NULL : "must be an ISO 3166-1 alpha-2 country code such as US";
}

static const char *check_currency(const cJSON *v)
{
    return currency_exponent(v->valuestring) >= 0 ? NULL : "must be an ISO 4217 currency code such as USD";
}

static const char *check_instant(const cJSON *v)
{
    int64_t ms;
    return time_parse_iso8601(v->valuestring, &ms) == 0 ? NULL
                                                         : "must be an ISO-8601 date-time such as 2024-03-01T12:00:00Z";
}

static const char *check_positive_int(const cJSON *v)
{
    return v->valuedouble >= 1 ? NULL : "must be a positive integer";
}

static const char *check_bin(const cJSON *v)
{
    char text[32];
    if (cJSON_IsNumber(v))
        snprintf(text, sizeof text, "%.0f", v->valuedouble);
    else
        snprintf(text, sizeof text, "%s", v->valuestring);
    size_t n = strlen(text);
    if (n < 6 || n > 8)
        return "must be 6 to 8 digits";
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)text[i]))
            return "must be 6 to 8 digits";
    return NULL;
}

static const char *check_code(const cJSON *v)
{
    if (cJSON_IsString(v))
        return NULL;
    return cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble ? NULL
                                                                                     : "must be an integer or a string";
}

/* ---- the field tables ---- */

static const struct jv_field customer_fields[] = {
    {"id", JV_STRING, JV_REQUIRED, 255, NULL},
    {"psp_id", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, 255, NULL},
    {"created_at", JV_STRING, JV_NULLABLE, 64, check_instant},
    {"postal_code", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, 32, NULL},
};

static const struct jv_field subscription_fields[] = {
    {"id", JV_STRING, JV_REQUIRED, 255, NULL},
    {"start_date", JV_STRING, JV_REQUIRED, 64, check_instant},
    {"end_date", JV_STRING, JV_NULLABLE, 64, check_instant},
    {"discounted_or_free_period", JV_BOOL, JV_NULLABLE, 0, NULL},
    {"product_id", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, 255, NULL},
    {"billing", JV_OBJECT, JV_NULLABLE, 0, NULL},
};

static const struct jv_field billing_fields[] = {
    {"period", JV_STRING, JV_NULLABLE, 8, check_period},
    {"frequency", JV_INT, JV_NULLABLE, 0, check_positive_int},
};

static const struct jv_field invoice_fields[] = {
    {"id", JV_STRING, JV_REQUIRED, 255, NULL},
    {"created_at", JV_STRING, JV_REQUIRED, 64, check_instant},
};

static const struct jv_field transaction_fields[] = {
    {"id", JV_STRING, JV_REQUIRED, 255, NULL},
    {"psp_transaction_id", JV_STRING, JV_REQUIRED, 255, NULL},
    {"psp", JV_STRING, JV_REQUIRED, 32, check_psp},
    {"acquirer_country", JV_STRING, JV_REQUIRED, 2, check_country},
    {"amount", JV_NUMBER_OR_STRING, JV_REQUIRED, 32, NULL},
    {"currency", JV_STRING, JV_REQUIRED, 3, check_currency},
    {"funding_source", JV_STRING, JV_REQUIRED, 32, check_funding},
    {"payment_method_id", JV_STRING, JV_REQUIRED, 255, NULL},
    {"psp_transaction_created_at", JV_STRING, JV_REQUIRED, 64, check_instant},
    {"scheme", JV_STRING, JV_REQUIRED, 32, check_scheme},
    {"success", JV_BOOL, JV_REQUIRED, 0, NULL},
    {"outcome", JV_OBJECT, JV_REQUIRED, 0, NULL},
    {"network_transaction_id", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, 255, NULL},
    {"mid", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, 255, NULL},
    {"reporting_group", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, 255, NULL},
    {"billing_postal_code", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, 32, NULL},
    {"bin", JV_STRING_OR_INT, JV_NULLABLE, 8, check_bin},
    {"issuer_country", JV_STRING, JV_NULLABLE, 2, check_country},
    {"auth", JV_BOOL, JV_NULLABLE, 0, NULL},
    {"captured", JV_BOOL, JV_NULLABLE, 0, NULL},
    {"refunded", JV_BOOL, JV_NULLABLE, 0, NULL},
    {"enhanced_data", JV_OBJECT, JV_NULLABLE, 0, NULL},
    {"recover_retry", JV_BOOL, JV_NULLABLE, 0, NULL},
};

static const struct jv_field outcome_fields[] = {
    {"raw_response_message", JV_STRING, JV_REQUIRED, 255, NULL},
    {"psp_response_message", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, 255, NULL},
    {"processor_response_code", JV_ANY, JV_NULLABLE, 0, check_code},
    {"network_status", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, 64, NULL},
    {"response_type", JV_STRING, JV_NULLABLE, 24, check_response_type},
};

static const struct jv_field enhanced_fields[] = {
    {"level_2", JV_OBJECT, JV_NULLABLE, 0, NULL},
    {"level_3", JV_OBJECT, JV_NULLABLE, 0, NULL},
};

static const struct jv_field top_fields[] = {
    {"customer", JV_OBJECT, JV_REQUIRED, 0, NULL},
    {"subscription", JV_OBJECT, JV_REQUIRED, 0, NULL},
    {"invoice", JV_OBJECT, JV_REQUIRED, 0, NULL},
    {"transactions", JV_ARRAY, JV_REQUIRED, 0, NULL},
    {"custom", JV_OBJECT, JV_NULLABLE, 0, NULL},
};

#define N(a) (sizeof a / sizeof a[0])

/* ---- copying into the domain's types ---- */

static void copy_str(char *dst, size_t dstsz, const cJSON *obj, const char *name)
{
    const char *v = jv_get_string(obj, name);
    str_copy(dst, dstsz, v ? v : "");
}

static void copy_lower(char *dst, size_t dstsz, const cJSON *obj, const char *name)
{
    copy_str(dst, dstsz, obj, name);
    for (char *p = dst; *p; p++)
        *p = (char)tolower((unsigned char)*p);
}

static int64_t instant(const cJSON *obj, const char *name, int *has)
{
    int64_t ms = 0;
    const char *v = jv_get_string(obj, name);
    int ok = v && time_parse_iso8601(v, &ms) == 0;
    if (has)
        *has = ok;
    return ok ? ms : 0;
}

static char *print_json(const cJSON *v) { return v ? cJSON_PrintUnformatted(v) : NULL; }

static void check_transaction(const cJSON *t, const char *path, verrs *e, struct rc_txn *out)
{
    int before = e->count;
    jv_check(t, path, transaction_fields, N(transaction_fields), 0, e);
    char fp[300];
    const cJSON *outcome = jv_get(t, "outcome");
    if (cJSON_IsObject(outcome)) {
        jv_path(fp, sizeof fp, path, "outcome");
        jv_check(outcome, fp, outcome_fields, N(outcome_fields), 0, e);
    }
    const cJSON *enhanced = jv_get(t, "enhanced_data");
    if (cJSON_IsObject(enhanced)) {
        jv_path(fp, sizeof fp, path, "enhanced_data");
        jv_check(enhanced, fp, enhanced_fields, N(enhanced_fields), 0, e);
    }
    /* Worldpay identifies a transaction by these two. */
    const char *psp = jv_get_string(t, "psp");
    if (psp && strcasecmp(psp, "worldpay") == 0) {
        const char *ntid = jv_get_string(t, "network_transaction_id"), *mid = jv_get_string(t, "mid");
        if (!ntid || !*ntid) {
            jv_path(fp, sizeof fp, path, "network_transaction_id");
            verrs_add(e, fp, "is required when psp is worldpay");
        }
        if (!mid || !*mid) {
            jv_path(fp, sizeof fp, path, "mid");
            verrs_add(e, fp, "is required when psp is worldpay");
        }
    }
    /* The amount is checked against its currency's exponent; without a
     * usable currency, at least that it is a number at all. */
    const char *currency = jv_get_string(t, "currency");
    const cJSON *amount = jv_get(t, "amount");
    int64_t minor = 0;
    int exponent = currency ? currency_exponent(currency) : -1;
    int amount_text = amount && (cJSON_IsNumber(amount) || (cJSON_IsString(amount) && *amount->valuestring));
    if (amount_text) {
        enum money_err me = money_parse_json(amount, exponent >= 0 ? exponent : 4, &minor);
        jv_path(fp, sizeof fp, path, "amount");
        if (me == MONEY_NOT_A_NUMBER || me == MONEY_OUT_OF_RANGE || (exponent >= 0 && me != MONEY_OK))
            verrs_add(e, fp, exponent >= 0 ? "%s (%s has %d decimals)" : "%s", money_err_message(me),
                      currency ? currency : "", exponent);
        else if (minor < 0)
            verrs_add(e, fp, "must not be negative");
    }
    if (!out || e->count > before)
        return;
    memset(out, 0, sizeof *out);
    copy_str(out->transaction_id, sizeof out->transaction_id, t, "id");
    copy_str(out->psp_transaction_id, sizeof out->psp_transaction_id, t, "psp_transaction_id");
    copy_lower(out->psp, sizeof out->psp, t, "psp");
    copy_str(out->acquirer_country, sizeof out->acquirer_country, t, "acquirer_country");
    out->amount = minor;
    copy_str(out->currency, sizeof out->currency, t, "currency");
    copy_lower(out->funding_source, sizeof out->funding_source, t, "funding_source");
    copy_str(out->payment_method_id, sizeof out->payment_method_id, t, "payment_method_id");
    out->psp_created_at = instant(t, "psp_transaction_created_at", NULL);
    copy_lower(out->scheme, sizeof out->scheme, t, "scheme");
    out->success = cJSON_IsTrue(jv_get(t, "success"));
    copy_str(out->raw_response_message, sizeof out->raw_response_message, outcome, "raw_response_message");
    copy_str(out->psp_response_message, sizeof out->psp_response_message, outcome, "psp_response_message");
    const cJSON *code = jv_get(outcome, "processor_response_code");
    if (cJSON_IsNumber(code))
        snprintf(out->processor_response_code, sizeof out->processor_response_code, "%lld",
                 (long long)code->valuedouble);
    else
        copy_str(out->processor_response_code, sizeof out->processor_response_code, outcome,
                 "processor_response_code");
    copy_str(out->network_status, sizeof out->network_status, outcome, "network_status");
    copy_lower(out->response_type, sizeof out->response_type, outcome, "response_type");
    copy_str(out->network_transaction_id, sizeof out->network_transaction_id, t, "network_transaction_id");
    const cJSON *bin = jv_get(t, "bin");
    if (cJSON_IsNumber(bin))
        snprintf(out->bin, sizeof out->bin, "%.0f", bin->valuedouble);
    else
        copy_str(out->bin, sizeof out->bin, t, "bin");
    copy_str(out->issuer_country, sizeof out->issuer_country, t, "issuer_country");
    str_copy(out->origin, sizeof out->origin, cJSON_IsTrue(jv_get(t, "recover_retry")) ? "recover" : "merchant");
    out->raw = print_json(t);
}

int rc_parse_payment(const cJSON *root, struct rc_payment_event *ev, verrs *e)
{
    int before = e->count;
    if (ev)
        memset(ev, 0, sizeof *ev);
    if (!cJSON_IsObject(root)) {
        verrs_add(e, "body", "must be a JSON object");
        return e->count - before;
    }
    jv_check(root, "", top_fields, N(top_fields), 0, e);
    const cJSON *customer = jv_get(root, "customer");
    const cJSON *subscription = jv_get(root, "subscription");
    const cJSON *invoice = jv_get(root, "invoice");
    const cJSON *txns = jv_get(root, "transactions");
    if (cJSON_IsObject(customer))
        jv_check(customer, "customer", customer_fields, N(customer_fields), 0, e);
    if (cJSON_IsObject(subscription)) {
        jv_check(subscription, "subscription", subscription_fields, N(subscription_fields), 0, e);
        const cJSON *billing = jv_get(subscription, "billing");
        if (cJSON_IsObject(billing))
            jv_check(billing, "subscription.billing", billing_fields, N(billing_fields), 0, e);
    }
    if (cJSON_IsObject(invoice))
        jv_check(invoice, "invoice", invoice_fields, N(invoice_fields), 0, e);
    int ntx = cJSON_IsArray(txns) ? cJSON_GetArraySize(txns) : 0;
    if (cJSON_IsArray(txns) && ntx == 0)
        verrs_add(e, "transactions", "must hold at least one transaction");
    if (ntx > 100)
        verrs_add(e, "transactions", "must hold at most 100 transactions");
    struct rc_txn *parsed = NULL;
    if (ev && ntx > 0 && ntx <= 100)
        parsed = calloc((size_t)ntx, sizeof *parsed);
    int i = 0;
    const cJSON *t;
    if (ntx <= 100) {
        cJSON_ArrayForEach(t, txns)
        {
            char path[64];
            jv_path_index(path, sizeof path, "transactions", i);
            if (!cJSON_IsObject(t))
                verrs_add(e, path, "must be an object");
            else
                check_transaction(t, path, e, parsed ? &parsed[i] : NULL);
            i++;
        }
    }
    /* One transaction id twice in one event is a contradiction, not a retry. */
    for (int a = 0; a < ntx && ntx <= 100; a++) {
        const char *ida = jv_get_string(cJSON_GetArrayItem(txns, a), "id");
        for (int b = a + 1; ida && b < ntx; b++) {
            const char *idb = jv_get_string(cJSON_GetArrayItem(txns, b), "id");
            if (idb && strcmp(ida, idb) == 0) {
                char path[64];
                jv_path_index(path, sizeof path, "transactions", b);
                str_copy(path + strlen(path), sizeof path - strlen(path), ".id");
                verrs_add(e, path, "repeats the id of transactions[%d]", a);
            }
        }
    }
    if (e->count > before || !ev) {
        if (parsed)
            rc_txns_free(parsed, (size_t)ntx);
        return e->count - before;
    }
    copy_str(ev->customer.customer_id, sizeof ev->customer.customer_id, customer, "id");
    copy_str(ev->customer.psp_id, sizeof ev->customer.psp_id, customer, "psp_id");
    ev->customer.created_at = instant(customer, "created_at", &ev->customer.has_created_at);
    copy_str(ev->customer.postal_code, sizeof ev->customer.postal_code, customer, "postal_code");
    copy_str(ev->subscription.subscription_id, sizeof ev->subscription.subscription_id, subscription, "id");
    ev->subscription.start_date = instant(subscription, "start_date", NULL);
    ev->subscription.end_date = instant(subscription, "end_date", &ev->subscription.has_end_date);
    const cJSON *disc = jv_get(subscription, "discounted_or_free_period");
    ev->subscription.discounted = cJSON_IsBool(disc) ? cJSON_IsTrue(disc) : -1;
    copy_str(ev->subscription.product_id, sizeof ev->subscription.product_id, subscription, "product_id");
    const cJSON *billing = jv_get(subscription, "billing");
    copy_lower(ev->subscription.billing_period, sizeof ev->subscription.billing_period, billing, "period");
    const cJSON *freq = jv_get(billing, "frequency");
    ev->subscription.billing_frequency = cJSON_IsNumber(freq) ? (int64_t)freq->valuedouble : 0;
    copy_str(ev->invoice_id, sizeof ev->invoice_id, invoice, "id");
    ev->invoice_created_at = instant(invoice, "created_at", NULL);
    ev->custom = print_json(jv_get(root, "custom"));
    ev->txns = parsed;
    ev->ntxns = (size_t)ntx;
    return 0;
}

void rc_payment_event_free(struct rc_payment_event *ev)
{
    rc_txns_free(ev->txns, ev->ntxns);
    free(ev->custom);
    ev->txns = NULL;
    ev->ntxns = 0;
    ev->custom = NULL;
}

static const struct jv_field pm_update_fields[] = {
    {"customer_id", JV_STRING, JV_REQUIRED, 255, NULL},
    {"payment_method_id", JV_STRING, JV_REQUIRED, 255, NULL},
    {"psp_customer_id", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, 255, NULL},
    {"reason", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, 63, NULL},
};

int rc_parse_pm_update(const cJSON *root, struct rc_pm_update *up, verrs *e)
{
    int before = e->count;
    if (up)
        memset(up, 0, sizeof *up);
    if (!cJSON_IsObject(root)) {
        verrs_add(e, "body", "must be a JSON object");
        return e->count - before;
    }
    jv_check(root, "", pm_update_fields, N(pm_update_fields), 0, e);
    if (e->count > before || !up)
        return e->count - before;
    copy_str(up->customer_id, sizeof up->customer_id, root, "customer_id");
    copy_str(up->payment_method_id, sizeof up->payment_method_id, root, "payment_method_id");
    copy_str(up->psp_customer_id, sizeof up->psp_customer_id, root, "psp_customer_id");
    copy_lower(up->reason, sizeof up->reason, root, "reason");
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

void rc_payment_fingerprint(const cJSON *root, char out[65])
{
    const cJSON *txns = jv_get(root, "transactions");
    int n = cJSON_GetArraySize(txns);
    const char **ids = calloc((size_t)(n > 0 ? n : 1), sizeof *ids);
    int k = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, txns)
    {
        const char *id = jv_get_string(t, "id");
        if (id && ids)
            ids[k++] = id;
    }
    if (ids)
        qsort(ids, (size_t)k, sizeof *ids, cmp_str);
    buf b;
    buf_init(&b);
    buf_puts(&b, "payment");
    for (int i = 0; i < k; i++) {
        /* Length-prefixed, so ids containing the separator cannot collide. */
        buf_printf(&b, "\n%zu:", strlen(ids[i]));
        buf_puts(&b, ids[i]);
    }
    crypto_sha256_hex(buf_cstr(&b), b.len, out);
    buf_free(&b);
    free(ids);
}

void rc_pm_update_fingerprint(const cJSON *root, char out[65])
{
    (void)root;
    /* Applying an update twice changes nothing more than applying it once,
     * while the same update can rightly come again later (an updater
     * refreshing the same card), so updates are never taken for repeats. */
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, 65, raw, sizeof raw);
}
