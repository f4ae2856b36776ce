/* POST /recover/payments and /recover/payment_method_updates: validate,
 * store durably in the inbox, acknowledge. Processing happens after the
 * acknowledgement, in the inbox worker. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "core/buf.h"
#include "recover/recover.h"
#include "recover/validate.h"

/* A UUID (version 4) with the request id's 72-byte room. */
static void new_request_id(char out[72])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 72, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void acknowledge(http_req *req, http_resp *resp, const cJSON *payload, const char *kind,
                        const char *fingerprint)
{
    struct app *app = req->app;
    /* The body as received is stored when it is the payload itself (not
     * wrapped in "body"): printing the parsed tree again would cost as much
     * as parsing it. */
    char *text = payload == req->json ? strdup(buf_cstr(&req->body)) : cJSON_PrintUnformatted(payload);
    if (!text) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    struct rc_inbox_row ev;
    memset(&ev, 0, sizeof ev);
    str_copy(ev.merchant_id, sizeof ev.merchant_id, req->merchant_id);
    str_copy(ev.env, sizeof ev.env, req->key_env);
    str_copy(ev.kind, sizeof ev.kind, kind);
    str_copy(ev.fingerprint, sizeof ev.fingerprint, fingerprint);
    new_request_id(ev.request_id);
    ev.payload = text;
    ev.received_at = clock_now_ms(app->clock);
    int duplicate = 0;
    char request_id[72];
    enum store_rc rc = app->store->recover->inbox_append(app->store, &ev, &duplicate, request_id);
    free(text);
    if (rc != STORE_OK) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    if (!duplicate)
        recover_worker_kick(app);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "message", "Request submitted for processing");
    cJSON_AddStringToObject(o, "request_id", request_id);
    resp_json(resp, 200, o);
}

void rc_payments_create(http_req *req, http_resp *resp)
{
    const cJSON *root = rc_unwrap_body(req->json);
    verrs e;
    verrs_init(&e);
    if (rc_parse_payment(root, NULL, &e) > 0) {
        resp_message(resp, 400, "Invalid request body", verrs_take(&e));
        return;
    }
    verrs_free(&e);
    char fp[65];
    rc_payment_fingerprint(root, fp);
    acknowledge(req, resp, root, "payment", fp);
}

void rc_pm_updates_create(http_req *req, http_resp *resp)
{
    const cJSON *root = rc_unwrap_body(req->json);
    verrs e;
    verrs_init(&e);
    if (rc_parse_pm_update(root, NULL, &e) > 0) {
        resp_message(resp, 400, "Invalid request body", verrs_take(&e));
        return;
    }
    verrs_free(&e);
    char fp[65];
    rc_pm_update_fingerprint(root, fp);
    acknowledge(req, resp, root, "payment_method_update", fp);
}

void rc_invoices_get(http_req *req, http_resp *resp)
{
    recover_invoice_answer(req->app, req->merchant_id, req->key_env, http_param(req, 0), resp);
}
