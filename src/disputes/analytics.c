/* POST /v1/analytics: store the data of a successful checkout. GET one
 * record back, and mark a record as disputed or reported as fraud (such a
 * record never counts as evidence). */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "core/ids.h"
#include "disputes/disputes_internal.h"
#include "http/metrics.h"

#define RECORD_ID_LEN 24

void dsp_analytics_create(http_req *req, http_resp *resp)
{
    struct app *app = req->app;
    int64_t now = clock_now_ms(app->clock);
    struct dsp_record_row r;
    dsp_errs e;
    dsp_errs_init(&e);
    if (dsp_record_from_json(req->json, now, &r, &e) != 0) {
        dsp_unprocessable(resp, &e);
        metrics_count("recoup_disputes_records_invalid_total", 1);
        return;
    }
    dsp_errs_free(&e);
    str_copy(r.merchant_id, sizeof r.merchant_id, req->merchant_id);
    str_copy(r.environment, sizeof r.environment, req->key_env);
    id_random_prefixed(r.record_id, sizeof r.record_id, "rec_", RECORD_ID_LEN, ID_LOWER_ALNUM);
    r.received_at = now;
    char existing[DSP_RECORD_ID_MAX] = "";
    enum store_rc rc = app->store->disputes->record_insert(app->store, &r, existing);
    const char *id;
    if (rc == STORE_OK) {
        id = r.record_id;
        metrics_count("recoup_disputes_records_stored_total", 1);
    } else if (rc == STORE_REPLAY) {
        id = existing;
        resp_set_header(resp, "Idempotent-Replayed", "true");
        metrics_count("recoup_disputes_records_replayed_total", 1);
    } else {
        dsp_store_failed(resp);
        return;
    }
    /* Built by hand: this is the hot path, and the answer is two fixed keys. */
    buf_reset(&resp->body);
    buf_puts(&resp->body, "{\"status\":\"ok\",\"id\":");
    buf_put_json_string(&resp->body, id);
    buf_putc(&resp->body, '}');
    resp->status = 200;
    resp->content_type = NULL;
}

void dsp_analytics_get(http_req *req, http_resp *resp)
{
    struct dsp_record_row r;
    enum store_rc rc = req->app->store->disputes->record_get(req->app->store, req->merchant_id, req->key_env,
                                                             http_param(req, 0), &r);
    if (rc == STORE_NOT_FOUND)
        dsp_detail(resp, 404, "Not Found");
    else if (rc != STORE_OK)
        dsp_store_failed(resp);
    else
        resp_json(resp, 200, dsp_record_json(&r));
}

static void mark(http_req *req, http_resp *resp, enum dsp_flag flag)
{
    struct dsp_record_row r;
    enum store_rc rc = req->app->store->disputes->record_mark(req->app->store, req->merchant_id, req->key_env,
                                                              http_param(req, 0), flag,
                                                              clock_now_ms(req->app->clock), &r);
    if (rc == STORE_NOT_FOUND)
        dsp_detail(resp, 404, "Not Found");
    else if (rc != STORE_OK)
        dsp_store_failed(resp);
    else
        resp_json(resp, 200, dsp_record_json(&r));
}

void dsp_analytics_mark_disputed(http_req *req, http_resp *resp) { mark(req, resp, DSP_FLAG_DISPUTED); }

void dsp_analytics_mark_fraud(http_req *req, http_resp *resp) { mark(req, resp, DSP_FLAG_FRAUD_REPORTED); }
