/* POST /v1/analytics: store the data of a successful checkout. GET one
 * record back, and mark a record as disputed or reported as fraud (such a
 * record never counts as evidence). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "disputes/disputes_internal.h"
#include "http/metrics.h"

#define RECORD_ID_LEN 24

/* A record's id is a keyed hash of its merchant, environment and content:
 * the same record sent twice gets the same id without a second index to
 * find it by, and, the key being secret, an id reveals nothing about the
 * content it stands for. 24 base32 characters hold 120 bits. */
static void record_id_for(struct app *app, const struct dsp_record_row *r, char out[DSP_RECORD_ID_MAX])
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    unsigned char key[crypto_generichash_KEYBYTES], h[15];
    crypto_kdf_derive_from_key(key, sizeof key, 1, "dsp_rec_", app->card_key);
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, sizeof key, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)r->merchant_id, strlen(r->merchant_id) + 1);
    crypto_generichash_update(&st, (const unsigned char *)r->environment, strlen(r->environment) + 1);
    crypto_generichash_update(&st, (const unsigned char *)r->content_hash, strlen(r->content_hash));
    crypto_generichash_final(&st, h, sizeof h);
    sodium_memzero(key, sizeof key);
    memcpy(out, "rec_", 4);
    for (int i = 0; i < RECORD_ID_LEN; i++) {
        int bit = i * 5;
        unsigned v = ((unsigned)h[bit / 8] << 8 | (bit / 8 + 1 < (int)sizeof h ? h[bit / 8 + 1] : 0)) >> (11 - bit % 8);
        out[4 + i] = alphabet[v & 31];
    }
    out[4 + RECORD_ID_LEN] = '\0';
}

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
    record_id_for(app, &r, r.record_id);
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
