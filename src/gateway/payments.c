/* /api/payments: create (authorise or decline), list with filters, get,
 * update (manual settlement), delete (void). */
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

#include "app.h"
#include "core/crypto.h"
#include "core/ids.h"
#include "core/money.h"
#include "core/timefmt.h"
#include "gateway/authorizer.h"
#include "gateway/card.h"
#include "gateway/filters.h"
#include "gateway/gateway_internal.h"
#include "http/metrics.h"

static const char *check_method(const cJSON *v)
{
    const char *s = v->valuestring;
    return strcmp(s, "credit_card") == 0 || strcmp(s, "mbway") == 0 ? NULL : "must be credit_card or mbway";
}

static const char *check_currency(const cJSON *v)
{
    return currency_exponent(v->valuestring) >= 0 ? NULL : "must be an ISO 4217 currency code such as EUR";
}

static const struct jv_field payment_fields[] = {
    {"amount", JV_NUMBER, JV_REQUIRED, 0, NULL},
    {"currency", JV_STRING, JV_NULLABLE, 3, check_currency},
    {"payment_method", JV_STRING, JV_REQUIRED, 32, check_method},
    {"additional_params", JV_OBJECT, JV_NULLABLE, 0, NULL},
    {"payment_method_id", JV_STRING, JV_NULLABLE, 64, NULL},
};

/* Reads amount and currency (default EUR); returns 0 when both are usable. */
static int read_amount(const cJSON *body, const char *field, char currency[4], int64_t *amount, verrs *e)
{
    const char *cur = jv_get_string(body, "currency");
    str_copy(currency, 4, cur && currency_exponent(cur) >= 0 ? cur : "EUR");
    const cJSON *a = jv_get(body, field);
    if (!cJSON_IsNumber(a))
        return -1;
    enum money_err me = money_parse_json(a, currency_exponent(currency), amount);
    if (me != MONEY_OK) {
        verrs_add(e, field, "%s (%s has %d decimals)", money_err_message(me), currency, currency_exponent(currency));
        return -1;
    }
    if (*amount <= 0) {
        verrs_add(e, field, "must be greater than zero");
        return -1;
    }
    return 0;
}

/* The source repeats amount and method inside additional_params; when they
 * are sent they must agree with the top-level fields. */
static void check_repeated(const cJSON *ap, const char *method, const char *currency, int64_t amount, verrs *e)
{
    const cJSON *m = jv_get(ap, "method");
    if (m && (!cJSON_IsString(m) || strcmp(m->valuestring, method) != 0))
        verrs_add(e, "additional_params.method", "must equal payment_method (%s)", method);
    const cJSON *a = jv_get(ap, "amount");
    if (a) {
        int64_t v;
        if (!cJSON_IsNumber(a) || money_parse_json(a, currency_exponent(currency), &v) != MONEY_OK || v != amount)
            verrs_add(e, "additional_params.amount", "must equal amount");
    }
}

static void finish_create(http_req *req, http_resp *resp, struct payment_row *p, const struct gw_idem *idem)
{
    struct app *app = req->app;
    cJSON *body = gw_payment_json(app, p, 1);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    struct idem_in in;
    gw_idem_prepare(idem, &in, 201, text, p->created_at);
    struct idem_out out = {0, NULL};
    enum store_rc rc = app->store->gateway->payment_insert(app->store, p, &in, &out);
    if (rc == STORE_OK) {
        resp_text(resp, 201, NULL, text);
        metrics_count(strcmp(p->status, "success") == 0 ? "recoup_gateway_payments_authorised_total"
                                                        : "recoup_gateway_payments_declined_total",
                      1);
    } else if (rc == STORE_REPLAY || rc == STORE_IDEM_MISMATCH) {
        gw_idem_answer(resp, rc, &out);
    } else {
        gw_store_failed(resp);
    }
    cJSON_free(text);
}

static void apply_result(struct payment_row *p, struct auth_result r)
{
    str_copy(p->status, sizeof p->status, r.approved ? "success" : "error");
    str_copy(p->decline_code, sizeof p->decline_code, r.decline_code ? r.decline_code : "");
    str_copy(p->decline_message, sizeof p->decline_message, r.decline_message ? r.decline_message : "");
    str_copy(p->network_code, sizeof p->network_code, r.network_code ? r.network_code : "");
}

void gw_payments_create(http_req *req, http_resp *resp)
{
    struct app *app = req->app;
    struct gw_idem idem;
    if (gw_idem_begin(req, resp, "POST /api/payments", &idem))
        return;
    verrs e;
    verrs_init(&e);
    const cJSON *body = req->json;
    if (!cJSON_IsObject(body)) {
        verrs_add(&e, "body", "must be a JSON object");
        gw_invalid(resp, "Invalid request body", &e);
        return;
    }
    jv_check(body, "", payment_fields, sizeof payment_fields / sizeof payment_fields[0], 1, &e);
    char currency[4];
    int64_t amount = 0;
    read_amount(body, "amount", currency, &amount, &e);
    const char *method = jv_get_string(body, "payment_method");
    const cJSON *ap = jv_get(body, "additional_params");
    const char *pm_id = jv_get_string(body, "payment_method_id");
    int64_t now = clock_now_ms(app->clock);

    struct payment_row p;
    memset(&p, 0, sizeof p);
    str_copy(p.merchant_id, sizeof p.merchant_id, req->merchant_id);
    str_copy(p.currency, sizeof p.currency, currency);
    p.amount = amount;
    p.created_at = now;
    struct auth_result result = {0};

    if (method && strcmp(method, "credit_card") == 0) {
        if (pm_id && cJSON_IsObject(ap)) {
            verrs_add(&e, "payment_method_id", "give either payment_method_id or additional_params, not both");
        } else if (pm_id) {
            if (e.count) {
                gw_invalid(resp, "Invalid request body", &e);
                return;
            }
            struct payment_method_row pm;
            enum store_rc rc = app->store->gateway->payment_method_get(app->store, req->merchant_id, pm_id, &pm);
            if (rc == STORE_NOT_FOUND) {
                verrs_add(&e, "payment_method_id", "no stored payment method has this id");
                resp_message(resp, 404, "No such payment method", verrs_take(&e));
                return;
            }
            if (rc != STORE_OK) {
                verrs_free(&e);
                gw_store_failed(resp);
                return;
            }
            char *digits = crypto_open_text(app->card_key, pm.sealed);
            if (!digits) {
                verrs_free(&e);
                gw_store_failed(resp);
                return;
            }
            int month = 0, year = 0;
            card_parse_month(pm.exp_month, &month);
            card_parse_year(pm.exp_year, &year);
            /* A stored card can expire after it was stored. */
            int64_t earlier = 0;
            if (auth_card_counts_charges(digits) &&
                app->store->gateway->payment_method_charges(app->store, req->merchant_id, pm_id, &earlier) !=
                    STORE_OK) {
                sodium_memzero(digits, strlen(digits));
                free(digits);
                verrs_free(&e);
                gw_store_failed(resp);
                return;
            }
            result = card_expiry_valid(month, year, now) ? auth_card_charge(digits, amount, earlier)
                                                         : auth_decline("expired_card");
            sodium_memzero(digits, strlen(digits));
            free(digits);
            str_copy(p.payment_method_id, sizeof p.payment_method_id, pm.payment_method_id);
            str_copy(p.card_sealed, sizeof p.card_sealed, pm.sealed);
            str_copy(p.card_masked, sizeof p.card_masked, pm.masked);
            str_copy(p.card_brand, sizeof p.card_brand, pm.brand);
            str_copy(p.card_name, sizeof p.card_name, pm.name);
            str_copy(p.exp_month, sizeof p.exp_month, pm.exp_month);
            str_copy(p.exp_year, sizeof p.exp_year, pm.exp_year);
        } else if (!cJSON_IsObject(ap)) {
            verrs_add(&e, "additional_params", "is required for credit_card (or give payment_method_id)");
        } else {
            struct card_input card;
            gw_card_read(ap, "additional_params", 1, now, &card, &e);
            const struct jv_field known[] = {
                {"number", JV_ANY, 0, 0, NULL}, {"name", JV_ANY, 0, 0, NULL},
                {"expiration_month", JV_ANY, 0, 0, NULL}, {"expiration_year", JV_ANY, 0, 0, NULL},
                {"cvv", JV_ANY, 0, 0, NULL}, {"amount", JV_ANY, 0, 0, NULL}, {"method", JV_ANY, 0, 0, NULL},
            };
            jv_check(ap, "additional_params", known, sizeof known / sizeof known[0], 1, &e);
            check_repeated(ap, method, currency, amount, &e);
            if (e.count == 0) {
                result = card.decline ? auth_decline(card.decline) : auth_card(card.digits, amount);
                char *sealed = crypto_seal_text(app->card_key, card.digits);
                if (!sealed) {
                    verrs_free(&e);
                    gw_store_failed(resp);
                    return;
                }
                str_copy(p.card_sealed, sizeof p.card_sealed, sealed);
                free(sealed);
                str_copy(p.card_masked, sizeof p.card_masked, card.masked);
                str_copy(p.card_brand, sizeof p.card_brand, card.brand);
                str_copy(p.card_name, sizeof p.card_name, card.name);
                str_copy(p.exp_month, sizeof p.exp_month, card.exp_month);
                str_copy(p.exp_year, sizeof p.exp_year, card.exp_year);
            }
        }
    } else if (method && strcmp(method, "mbway") == 0) {
        if (pm_id)
            verrs_add(&e, "payment_method_id", "stored payment methods are cards; use credit_card");
        if (!cJSON_IsObject(ap)) {
            verrs_add(&e, "additional_params", "is required for mbway");
        } else {
            const struct jv_field fields[] = {
                {"phone_number", JV_STRING, JV_REQUIRED, 32, NULL},
                {"amount", JV_ANY, 0, 0, NULL},
                {"method", JV_ANY, 0, 0, NULL},
            };
            jv_check(ap, "additional_params", fields, sizeof fields / sizeof fields[0], 1, &e);
            check_repeated(ap, method, currency, amount, &e);
            if (e.count == 0) {
                const char *phone = jv_get_string(ap, "phone_number");
                char national[10];
                if (mbway_normalize_phone(phone, national) == 0) {
                    result = auth_mbway(national, amount);
                    str_copy(p.phone, sizeof p.phone, national);
                } else {
                    result = auth_decline("invalid_phone_number");
                    str_copy(p.phone, sizeof p.phone, phone);
                }
            }
        }
    }
    if (e.count) {
        gw_invalid(resp, "Invalid request body", &e);
        return;
    }
    verrs_free(&e);
    str_copy(p.method, sizeof p.method, method);
    id_random(p.payment_id, PAYMENT_ID_LEN, ID_UPPER);
    apply_result(&p, result);
    finish_create(req, resp, &p, &idem);
}

/* ---- listing ---- */

struct list_parse {
    struct payment_filter f;
    verrs *e;
};

static int payment_query_param(void *ctx, const char *key, const char *value)
{
    struct list_parse *lp = ctx;
    gw_filter_payment_param(&lp->f, key, value, lp->e);
    return 0;
}

void gw_payments_list(http_req *req, http_resp *resp)
{
    verrs e;
    verrs_init(&e);
    struct list_parse lp;
    memset(&lp, 0, sizeof lp);
    lp.f.limit = GW_LIST_DEFAULT_LIMIT;
    lp.e = &e;
    http_query_each(req, payment_query_param, &lp);
    if (e.count) {
        gw_invalid(resp, "Invalid query parameter", &e);
        return;
    }
    verrs_free(&e);
    int want = lp.f.limit;
    lp.f.limit = want + 1; /* one more tells whether a next page exists */
    struct payment_row *rows = NULL;
    size_t n = 0;
    if (req->app->store->gateway->payment_list(req->app->store, req->merchant_id, &lp.f, &rows, &n) != STORE_OK) {
        gw_store_failed(resp);
        return;
    }
    cJSON *arr = cJSON_CreateArray();
    size_t shown = n > (size_t)want ? (size_t)want : n;
    for (size_t i = 0; i < shown; i++)
        cJSON_AddItemToArray(arr, gw_payment_json(req->app, &rows[i], 0));
    if (n > (size_t)want) {
        char cur[48];
        snprintf(cur, sizeof cur, "%lld.%lld", (long long)rows[shown - 1].created_at, (long long)rows[shown - 1].seq);
        gw_set_next_cursor(req, resp, cur);
    }
    free(rows);
    resp_json(resp, 200, arr);
}

void gw_payments_get(http_req *req, http_resp *resp)
{
    struct payment_row p;
    enum store_rc rc = req->app->store->gateway->payment_get(req->app->store, req->merchant_id, http_param(req, 0), &p);
    if (rc == STORE_OK)
        resp_json(resp, 200, gw_payment_json(req->app, &p, 1));
    else if (rc == STORE_NOT_FOUND)
        gw_not_found_empty(resp);
    else
        gw_store_failed(resp);
}

/* ---- update ---- */

static const char *check_status(const cJSON *v)
{
    const char *s = v->valuestring;
    return strcmp(s, "success") == 0 || strcmp(s, "error") == 0 || strcmp(s, "settled") == 0
               ? NULL
               : "must be success, error or settled";
}

static int stored_month(const char *text)
{
    int m = 0;
    return card_parse_month(text, &m) == 0 ? m : -1;
}

/* Compares what the client sent with what is stored; a difference in a
 * field that cannot change is a conflict named by its path. */
static void compare_immutable(struct app *app, const cJSON *body, const struct payment_row *p, verrs *conflicts,
                              verrs *e)
{
    const cJSON *a = jv_get(body, "amount");
    int64_t v;
    int exponent = currency_exponent(p->currency);
    if (a && cJSON_IsNumber(a)) {
        if (money_parse_json(a, exponent, &v) != MONEY_OK)
            verrs_add(e, "amount", "must be a decimal number with at most %d decimals", exponent);
        else if (v != p->amount)
            verrs_add(conflicts, "amount", "cannot be changed: an authorisation is for a fixed amount");
    }
    const char *cur = jv_get_string(body, "currency");
    if (cur && strcmp(cur, p->currency) != 0)
        verrs_add(conflicts, "currency", "cannot be changed");
    const char *m = jv_get_string(body, "payment_method");
    if (m && strcmp(m, p->method) != 0)
        verrs_add(conflicts, "payment_method", "cannot be changed");
    const cJSON *ap = jv_get(body, "additional_params");
    if (!cJSON_IsObject(ap))
        return;
    const char *pay = jv_get_string(ap, "payment");
    if (jv_get(ap, "payment") && (!pay || strcmp(pay, p->payment_id) != 0))
        verrs_add(conflicts, "additional_params.payment", "must be this payment's id");
    const cJSON *apa = jv_get(ap, "amount");
    if (apa && (!cJSON_IsNumber(apa) || money_parse_json(apa, exponent, &v) != MONEY_OK || v != p->amount))
        verrs_add(conflicts, "additional_params.amount", "cannot be changed");
    const char *apm = jv_get_string(ap, "method");
    if (jv_get(ap, "method") && (!apm || strcmp(apm, p->method) != 0))
        verrs_add(conflicts, "additional_params.method", "cannot be changed");
    char text[32];
    if (strcmp(p->method, "credit_card") == 0) {
        const char *num = jv_get_string(ap, "number");
        if (num) {
            char digits[24];
            char *stored = crypto_open_text(app->card_key, p->card_sealed);
            int same_masked = strcmp(num, p->card_masked) == 0;
            int same = card_normalize(num, digits, sizeof digits) > 0 && stored && strcmp(digits, stored) == 0;
            if (stored) {
                sodium_memzero(stored, strlen(stored));
                free(stored);
            }
            if (!same && !same_masked)
                verrs_add(conflicts, "additional_params.number", "cannot be changed");
        }
        const char *name = jv_get_string(ap, "name");
        if (name && strcmp(name, p->card_name) != 0)
            verrs_add(conflicts, "additional_params.name", "cannot be changed");
        const cJSON *mo = jv_get(ap, "expiration_month");
        int month;
        if (mo) {
            gw_string_or_int(mo, text, sizeof text);
            if (card_parse_month(text, &month) != 0 || month != stored_month(p->exp_month))
                verrs_add(conflicts, "additional_params.expiration_month", "cannot be changed");
        }
        const cJSON *yr = jv_get(ap, "expiration_year");
        int year;
        if (yr) {
            gw_string_or_int(yr, text, sizeof text);
            if (card_parse_year(text, &year) != 0 || strcmp(text, p->exp_year) != 0)
                verrs_add(conflicts, "additional_params.expiration_year", "cannot be changed");
        }
    } else {
        const char *phone = jv_get_string(ap, "phone_number");
        char national[10];
        if (phone && (mbway_normalize_phone(phone, national) != 0 || strcmp(national, p->phone) != 0) &&
            strcmp(phone, p->phone) != 0)
            verrs_add(conflicts, "additional_params.phone_number", "cannot be changed");
    }
}

void gw_payments_update(http_req *req, http_resp *resp)
{
    struct app *app = req->app;
    struct store *s = app->store;
    struct payment_row p;
    enum store_rc rc = s->gateway->payment_get(s, req->merchant_id, http_param(req, 0), &p);
    if (rc == STORE_NOT_FOUND) {
        gw_not_found_empty(resp);
        return;
    }
    if (rc != STORE_OK) {
        gw_store_failed(resp);
        return;
    }
    verrs e, conflicts;
    verrs_init(&e);
    verrs_init(&conflicts);
    const cJSON *body = req->json;
    if (!cJSON_IsObject(body)) {
        verrs_add(&e, "body", "must be a JSON object");
        verrs_free(&conflicts);
        gw_invalid(resp, "Invalid request body", &e);
        return;
    }
    const struct jv_field fields[] = {
        {"payment_id", JV_STRING, JV_NULLABLE, 255, NULL},
        {"amount", JV_NUMBER, JV_NULLABLE, 0, NULL},
        {"currency", JV_STRING, JV_NULLABLE, 3, NULL},
        {"payment_method", JV_STRING, JV_NULLABLE, 32, NULL},
        {"additional_params", JV_OBJECT, JV_NULLABLE, 0, NULL},
        {"status", JV_STRING, JV_NULLABLE, 16, check_status},
        {"settled_at", JV_STRING, JV_NULLABLE, 64, NULL},
        {"settled_amount", JV_NUMBER, JV_NULLABLE, 0, NULL},
        {"payment_method_id", JV_STRING, JV_NULLABLE, 64, NULL},
        {"created_at", JV_STRING, JV_NULLABLE, 64, NULL},
        /* Read-only fields a client may send back as it got them. */
        {"decline_code", JV_ANY, JV_NULLABLE, 0, NULL},
        {"decline_message", JV_ANY, JV_NULLABLE, 0, NULL},
        {"network_response_code", JV_ANY, JV_NULLABLE, 0, NULL},
        {"refunded_amount", JV_ANY, JV_NULLABLE, 0, NULL},
    };
    jv_check(body, "", fields, sizeof fields / sizeof fields[0], 1, &e);
    const char *pid = jv_get_string(body, "payment_id");
    if (pid && strcmp(pid, p.payment_id) != 0)
        verrs_add(&conflicts, "payment_id", "cannot be changed");
    compare_immutable(app, body, &p, &conflicts, &e);

    const char *status = jv_get_string(body, "status");
    const char *settled_at_text = jv_get_string(body, "settled_at");
    const cJSON *settled_amount_v = jv_get(body, "settled_amount");
    int64_t settled_at = clock_now_ms(app->clock), settled_amount = -1;
    int wants_settlement = (status && strcmp(status, "settled") == 0) || settled_at_text || settled_amount_v;
    if (status && strcmp(status, "settled") != 0 && strcmp(status, p.status) != 0)
        verrs_add(&conflicts, "status", "can only be changed to settled (and only from success)");
    if (settled_at_text && time_parse_iso8601(settled_at_text, &settled_at) != 0)
        verrs_add(&e, "settled_at", "must be an ISO-8601 date-time");
    if (cJSON_IsNumber(settled_amount_v)) {
        enum money_err me = money_parse_json(settled_amount_v, currency_exponent(p.currency), &settled_amount);
        if (me != MONEY_OK)
            verrs_add(&e, "settled_amount", "%s", money_err_message(me));
        else if (settled_amount < 0 || settled_amount > p.amount)
            verrs_add(&e, "settled_amount", "must be between 0 and the payment's amount");
    }
    if (e.count) {
        verrs_free(&conflicts);
        gw_invalid(resp, "Invalid request body", &e);
        return;
    }
    verrs_free(&e);
    if (conflicts.count) {
        resp_message(resp, 409, "The payment cannot be changed this way", verrs_take(&conflicts));
        return;
    }
    verrs_free(&conflicts);

    if (wants_settlement) {
        if (strcmp(p.status, "settled") == 0) {
            /* Repeating the settlement that is already there changes nothing. */
            int same = (!settled_at_text || settled_at == p.settled_at) &&
                       (settled_amount < 0 || settled_amount == p.settled_amount);
            if (!same) {
                gw_conflict(resp, "status", "the payment is already settled; settlement can be set only once");
                return;
            }
        } else if (strcmp(p.status, "error") == 0) {
            gw_conflict(resp, "status", "a declined payment cannot be settled");
            return;
        } else {
            struct fee_schedule fees = {app->gateway.fee_fixed_minor, app->gateway.fee_bps};
            rc = s->gateway->payment_settle_one(s, req->merchant_id, p.payment_id, settled_at, settled_amount, &fees, &p);
            if (rc == STORE_STATE) {
                gw_conflict(resp, "status", "the payment is already settled; settlement can be set only once");
                return;
            }
            if (rc != STORE_OK) {
                gw_store_failed(resp);
                return;
            }
            metrics_count("recoup_gateway_payments_settled_total", 1);
        }
    }
    resp_json(resp, 200, gw_payment_json(app, &p, 1));
}

void gw_payments_delete(http_req *req, http_resp *resp)
{
    struct payment_row p;
    enum store_rc rc = req->app->store->gateway->payment_delete(req->app->store, req->merchant_id, http_param(req, 0), &p);
    if (rc == STORE_OK)
        resp_json(resp, 200, gw_payment_json(req->app, &p, 1));
    else if (rc == STORE_NOT_FOUND)
        gw_not_found_empty(resp);
    else if (rc == STORE_STATE)
        gw_conflict(resp, "payment_id",
                    strcmp(p.status, "settled") == 0 ? "a settled payment cannot be deleted"
                                                     : "a payment with refunds cannot be deleted");
    else
        gw_store_failed(resp);
}
