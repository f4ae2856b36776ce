/* /api/refunds on the refunds listener: create (never beyond the payment's
 * balance), get, and list (also served at /api/payments on that port). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/ids.h"
#include "core/money.h"
#include "gateway/filters.h"
#include "core/jsonout.h"
#include "gateway/gateway_internal.h"
#include "http/metrics.h"

void gw_refunds_create(http_req *req, http_resp *resp)
{
    struct app *app = req->app;
    struct gw_idem idem;
    if (gw_idem_begin(req, resp, "POST /api/refunds", &idem))
        return;
    verrs e;
    verrs_init(&e);
    const cJSON *body = req->json;
    if (!cJSON_IsObject(body)) {
        verrs_add(&e, "body", "must be a JSON object");
        gw_invalid(resp, "Invalid request body", &e);
        return;
    }
    const struct jv_field fields[] = {
        {"payment_id", JV_STRING, JV_REQUIRED, 255, NULL},
        {"amount", JV_NUMBER, JV_REQUIRED, 0, NULL},
    };
    jv_check(body, "", fields, sizeof fields / sizeof fields[0], 1, &e);
    if (e.count) {
        gw_invalid(resp, "Invalid request body", &e);
        return;
    }
    const char *payment_id = jv_get_string(body, "payment_id");
    struct payment_row p;
    enum store_rc rc = app->store->gateway->payment_get(app->store, req->merchant_id, payment_id, &p);
    if (rc == STORE_NOT_FOUND) {
        verrs_add(&e, "payment_id", "no payment has this id");
        resp_message(resp, 404, "No such payment", verrs_take(&e));
        return;
    }
    if (rc != STORE_OK) {
        verrs_free(&e);
        gw_store_failed(resp);
        return;
    }
    int64_t amount;
    enum money_err me = money_parse_json(jv_get(body, "amount"), currency_exponent(p.currency), &amount);
    if (me != MONEY_OK)
        verrs_add(&e, "amount", "%s (%s has %d decimals)", money_err_message(me), p.currency,
                  currency_exponent(p.currency));
    else if (amount <= 0)
        verrs_add(&e, "amount", "must be greater than zero");
    if (e.count) {
        gw_invalid(resp, "Invalid request body", &e);
        return;
    }
    verrs_free(&e);

    struct refund_row r;
    memset(&r, 0, sizeof r);
    str_copy(r.merchant_id, sizeof r.merchant_id, req->merchant_id);
    id_random(r.refund_id, REFUND_ID_LEN, ID_ALNUM);
    str_copy(r.payment_id, sizeof r.payment_id, p.payment_id);
    str_copy(r.currency, sizeof r.currency, p.currency);
    r.amount = amount;
    r.created_at = clock_now_ms(app->clock);

    cJSON *json = gw_refund_json(&r);
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    struct idem_in in;
    gw_idem_prepare(&idem, &in, 201, text, r.created_at);
    struct idem_out out = {0, NULL};
    int64_t refundable = 0;
    rc = app->store->gateway->refund_insert(app->store, &r, &in, &out, &refundable);
    if (rc == STORE_OK) {
        resp_text(resp, 201, NULL, text);
        metrics_count("recoup_gateway_refunds_total", 1);
    } else if (rc == STORE_REPLAY || rc == STORE_IDEM_MISMATCH) {
        gw_idem_answer(resp, rc, &out);
    } else if (rc == STORE_LIMIT) {
        char left[40], msg[160];
        money_format(refundable, currency_exponent(p.currency), left, sizeof left);
        snprintf(msg, sizeof msg, "exceeds what is left to refund: at most %s %s", left, p.currency);
        cJSON *errs = cJSON_CreateArray();
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "field", "amount");
        cJSON_AddStringToObject(item, "message", msg);
        cJSON_AddItemToArray(errs, item);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "message", "Refund exceeds the refundable amount");
        cJSON_AddItemToObject(o, "errors", errs);
        cJSON_AddItemToObject(o, "refundable_amount", json_money(refundable, p.currency));
        resp_json(resp, 409, o);
    } else if (rc == STORE_STATE) {
        gw_conflict(resp, "payment_id", "only successful or settled payments can be refunded");
    } else if (rc == STORE_NOT_FOUND) {
        /* Voided between the lookup and the insert: the same answer as an
         * unknown payment_id. */
        verrs_init(&e);
        verrs_add(&e, "payment_id", "no payment has this id");
        resp_message(resp, 404, "No such payment", verrs_take(&e));
    } else {
        gw_store_failed(resp);
    }
    cJSON_free(text);
}

void gw_refunds_get(http_req *req, http_resp *resp)
{
    struct refund_row r;
    enum store_rc rc = req->app->store->gateway->refund_get(req->app->store, req->merchant_id, http_param(req, 0), &r);
    if (rc == STORE_OK)
        resp_json(resp, 200, gw_refund_json(&r));
    else if (rc == STORE_NOT_FOUND)
        gw_not_found_empty(resp);
    else
        gw_store_failed(resp);
}

struct refund_list_parse {
    struct refund_filter f;
    verrs *e;
};

static int refund_query_param(void *ctx, const char *key, const char *value)
{
    struct refund_list_parse *lp = ctx;
    gw_filter_refund_param(&lp->f, key, value, lp->e);
    return 0;
}

void gw_refunds_list(http_req *req, http_resp *resp)
{
    verrs e;
    verrs_init(&e);
    struct refund_list_parse lp;
    memset(&lp, 0, sizeof lp);
    lp.f.limit = GW_LIST_DEFAULT_LIMIT;
    lp.e = &e;
    http_query_each(req, refund_query_param, &lp);
    if (e.count) {
        gw_invalid(resp, "Invalid query parameter", &e);
        return;
    }
    verrs_free(&e);
    int want = lp.f.limit;
    lp.f.limit = want + 1;
    struct refund_row *rows = NULL;
    size_t n = 0;
    if (req->app->store->gateway->refund_list(req->app->store, req->merchant_id, &lp.f, &rows, &n) != STORE_OK) {
        gw_store_failed(resp);
        return;
    }
    cJSON *arr = cJSON_CreateArray();
    size_t shown = n > (size_t)want ? (size_t)want : n;
    for (size_t i = 0; i < shown; i++)
        cJSON_AddItemToArray(arr, gw_refund_json(&rows[i]));
    if (n > (size_t)want) {
        char cur[24];
        snprintf(cur, sizeof cur, "%lld", (long long)rows[shown - 1].seq);
        gw_set_next_cursor(req, resp, cur);
    }
    free(rows);
    resp_json(resp, 200, arr);
}
