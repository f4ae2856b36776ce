/* Route tables, authentication, error answers and rendering shared by the
 * gateway's endpoints. */
#include "gateway/gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth/api_keys.h"
#include "core/crypto.h"
#include "core/jsonout.h"
#include "core/log.h"
#include "core/money.h"
#include "core/timefmt.h"
#include "gateway/gateway_internal.h"
#include "http/metrics.h"

const struct route gateway_payments_routes[] = {
    {"GET", "/api/payments", gw_payments_list, 0},
    {"POST", "/api/payments", gw_payments_create, ROUTE_JSON_BODY},
    {"GET", "/api/payments/{id}", gw_payments_get, 0},
    {"PUT", "/api/payments/{id}", gw_payments_update, ROUTE_JSON_BODY},
    {"DELETE", "/api/payments/{id}", gw_payments_delete, 0},
    {"POST", "/api/payment_methods", gw_payment_methods_create, ROUTE_JSON_BODY},
    {"GET", "/api/payment_methods/{id}", gw_payment_methods_get, 0},
    {"DELETE", "/api/payment_methods/{id}", gw_payment_methods_delete, 0},
};
const size_t gateway_payments_routes_count = sizeof gateway_payments_routes / sizeof gateway_payments_routes[0];

const struct route gateway_refunds_routes[] = {
    {"GET", "/api/refunds", gw_refunds_list, 0},
    {"POST", "/api/refunds", gw_refunds_create, ROUTE_JSON_BODY},
    {"GET", "/api/refunds/{id}", gw_refunds_get, 0},
    /* The source document lists refunds at /api/payments on this port. */
    {"GET", "/api/payments", gw_refunds_list, 0},
};
const size_t gateway_refunds_routes_count = sizeof gateway_refunds_routes / sizeof gateway_refunds_routes[0];

static int gw_authenticate(http_req *req, http_resp *resp)
{
    int rc = api_key_authenticate(req, "gateway");
    if (rc == -2) {
        resp_message(resp, 503, "Service unavailable", NULL);
    } else if (rc != 0) {
        resp_message(resp, 401, "Missing or invalid API key", NULL);
        resp_set_header(resp, "WWW-Authenticate", "Bearer realm=\"recoup gateway\"");
    }
    return rc == 0 ? 0 : -1;
}

const struct api_family gateway_family = {
    .name = "gateway",
    .authenticate = gw_authenticate,
};

cJSON *gw_payment_json(struct app *app, const struct payment_row *p, int with_params)
{
    (void)app;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "payment_id", p->payment_id);
    cJSON_AddItemToObject(o, "amount", json_money(p->amount, p->currency));
    cJSON_AddStringToObject(o, "currency", p->currency);
    cJSON_AddStringToObject(o, "payment_method", p->method);
    cJSON_AddStringToObject(o, "status", p->status);
    cJSON_AddItemToObject(o, "decline_code", json_str_or_null(p->decline_code));
    cJSON_AddItemToObject(o, "decline_message", json_str_or_null(p->decline_message));
    cJSON_AddItemToObject(o, "network_response_code", json_str_or_null(p->network_code));
    cJSON_AddItemToObject(o, "created_at", json_time(1, p->created_at));
    cJSON_AddItemToObject(o, "settled_at", json_time(p->settled, p->settled_at));
    cJSON_AddItemToObject(o, "settled_amount",
                          p->settled ? json_money(p->settled_amount, p->currency) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "refunded_amount", json_money(p->refunded, p->currency));
    cJSON_AddItemToObject(o, "payment_method_id", json_str_or_null(p->payment_method_id));
    if (with_params) {
        cJSON *ap = cJSON_CreateObject();
        cJSON_AddStringToObject(ap, "payment", p->payment_id);
        cJSON_AddItemToObject(ap, "amount", json_money(p->amount, p->currency));
        cJSON_AddStringToObject(ap, "method", p->method);
        if (strcmp(p->method, "credit_card") == 0) {
            cJSON_AddStringToObject(ap, "number", p->card_masked);
            cJSON_AddStringToObject(ap, "brand", p->card_brand);
            cJSON_AddStringToObject(ap, "name", p->card_name);
            cJSON_AddStringToObject(ap, "expiration_month", p->exp_month);
            cJSON_AddStringToObject(ap, "expiration_year", p->exp_year);
        } else {
            cJSON_AddStringToObject(ap, "phone_number", p->phone);
        }
        cJSON_AddItemToObject(o, "additional_params", ap);
    }
    return o;
}

cJSON *gw_refund_json(const struct refund_row *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "refund_id", r->refund_id);
    cJSON_AddStringToObject(o, "payment_id", r->payment_id);
    cJSON_AddItemToObject(o, "amount", json_money(r->amount, r->currency));
    cJSON_AddStringToObject(o, "currency", r->currency);
    cJSON_AddItemToObject(o, "created_at", json_time(1, r->created_at));
    return o;
}

void gw_not_found_empty(http_resp *resp) { resp_json(resp, 404, cJSON_CreateObject()); }

void gw_invalid(http_resp *resp, const char *message, verrs *e) { resp_message(resp, 400, message, verrs_take(e)); }

void gw_conflict(http_resp *resp, const char *field, const char *message)
{
    cJSON *errs = cJSON_CreateArray();
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "field", field);
    cJSON_AddStringToObject(item, "message", message);
    cJSON_AddItemToArray(errs, item);
    resp_message(resp, 409, message, errs);
}

void gw_store_failed(http_resp *resp) { resp_message(resp, 500, "Internal server error", NULL); }

struct link_ctx {
    buf *b;
    int first;
};

static int append_query(void *ctx, const char *key, const char *value)
{
    struct link_ctx *l = ctx;
    if (strcmp(key, "cursor") == 0)
        return 0;
    buf_putc(l->b, l->first ? '?' : '&');
    l->first = 0;
    buf_puts(l->b, key);
    buf_putc(l->b, '=');
    /* Values are re-escaped: they came decoded from the query string. */
    buf_put_url_escaped(l->b, value, ":");
    return 0;
}

void gw_set_next_cursor(http_req *req, http_resp *resp, const char *cur)
{
    resp_set_header(resp, "X-Next-Cursor", cur);
    buf b;
    buf_init(&b);
    buf_putc(&b, '<');
    buf_puts(&b, req->url);
    struct link_ctx l = {&b, 1};
    http_query_each(req, append_query, &l);
    buf_puts(&b, l.first ? "?cursor=" : "&cursor=");
    buf_puts(&b, cur);
    buf_puts(&b, ">; rel=\"next\"");
    resp_set_header(resp, "Link", buf_cstr(&b));
    buf_free(&b);
}

int gw_idem_begin(http_req *req, http_resp *resp, const char *scope, struct gw_idem *idem)
{
    memset(idem, 0, sizeof *idem);
    str_copy(idem->scope, sizeof idem->scope, scope);
    const char *key = http_header(req, "Idempotency-Key");
    if (!key)
        return 0;
    size_t n = strlen(key);
    int ok = n >= 1 && n <= 255;
    for (size_t i = 0; ok && i < n; i++)
        ok = key[i] >= 0x20 && key[i] < 0x7f;
    if (!ok) {
        verrs e;
        verrs_init(&e);
        verrs_add(&e, "Idempotency-Key", "must be 1 to 255 printable ASCII characters");
        resp_message(resp, 400, "Invalid Idempotency-Key header", verrs_take(&e));
        return 1;
    }
    str_copy(idem->key, sizeof idem->key, key);
    idem->has_key = 1;
    /* The fingerprint is taken over the parsed body printed compactly, so a
     * retry that only re-indents the JSON still counts as the same request. */
    char *canon = req->json ? cJSON_PrintUnformatted(req->json) : NULL;
    crypto_sha256_hex(canon ? canon : "", canon ? strlen(canon) : 0, idem->request_hash);
    cJSON_free(canon);

    struct idem_in in;
    gw_idem_prepare(idem, &in, 0, NULL, 0);
    struct idem_out out = {0, NULL};
    enum store_rc rc = req->app->store->ops->idem_get(req->app->store, req->merchant_id, &in, &out);
    if (rc == STORE_REPLAY || rc == STORE_IDEM_MISMATCH) {
        gw_idem_answer(resp, rc, &out);
        return 1;
    }
    if (rc == STORE_ERROR) {
        gw_store_failed(resp);
        return 1;
    }
    return 0;
}

void gw_idem_prepare(const struct gw_idem *idem, struct idem_in *in, int status, const char *body, int64_t now)
{
    memset(in, 0, sizeof *in);
    if (!idem->has_key)
        return;
    in->key = idem->key;
    in->scope = idem->scope;
    in->request_hash = idem->request_hash;
    in->status = status;
    in->body = body;
    in->created_at = now;
}

void gw_idem_answer(http_resp *resp, enum store_rc rc, struct idem_out *out)
{
    if (rc == STORE_REPLAY) {
        resp->status = out->status;
        buf_reset(&resp->body);
        buf_puts(&resp->body, out->body ? out->body : "{}");
        resp_set_header(resp, "Idempotent-Replayed", "true");
        metrics_count("recoup_idempotent_replays_total", 1);
    } else {
        resp_message(resp, 422, "Idempotency-Key was already used with a different request", NULL);
    }
    free(out->body);
    out->body = NULL;
}

int64_t gateway_settle_now(struct app *app, int64_t *batch_at)
{
    struct fee_schedule fees = {app->gateway.fee_fixed_minor, app->gateway.fee_bps};
    int64_t n = 0;
    int64_t now = clock_now_ms(app->clock);
    if (batch_at)
        *batch_at = now;
    if (app->store->gateway->settle_batch(app->store, now, &fees, &n) != STORE_OK)
        return -1;
    if (n > 0) {
        char c[32];
        snprintf(c, sizeof c, "#%lld", (long long)n);
        const char *kv[] = {"component", "settlement", "settled", c, NULL};
        log_kv(LOG_INFO, "settlement batch", kv);
        metrics_count("recoup_gateway_payments_settled_total", n);
    }
    return n;
}

void gateway_tick(struct app *app, int64_t now_ms)
{
    int64_t *last_settlement = &app->gateway_worker.last_settlement_ms;
    int64_t *last_purge = &app->gateway_worker.last_purge_ms;
    if (app->gateway.settlement_interval_s > 0) {
        if (*last_settlement == 0)
            *last_settlement = now_ms;
        if (now_ms - *last_settlement >= app->gateway.settlement_interval_s * 1000) {
            *last_settlement = now_ms;
            gateway_settle_now(app, NULL);
        }
    }
    if (now_ms - *last_purge >= 60000) {
        *last_purge = now_ms;
        int64_t purged = 0;
        app->store->ops->idem_purge(app->store, now_ms - app->gateway.idempotency_ttl_s * 1000, &purged);
    }
}
