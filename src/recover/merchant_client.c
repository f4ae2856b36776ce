#include "recover/merchant_client.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/money.h"
#include "recover/webhooks.h"

#define MAX_HEADERS 12

struct headers {
    char *list[MAX_HEADERS + 1];
    size_t n;
};

static void hdr_add(struct headers *h, const char *name, const char *value)
{
    if (h->n >= MAX_HEADERS)
        return;
    size_t len = strlen(name) + 2 + strlen(value) + 1;
    char *s = malloc(len);
    if (!s)
        return;
    snprintf(s, len, "%s: %s", name, value);
    h->list[h->n++] = s;
    h->list[h->n] = NULL;
}

static void hdr_free(struct headers *h)
{
    for (size_t i = 0; i < h->n; i++) {
        sodium_memzero(h->list[i], strlen(h->list[i]));
        free(h->list[i]);
    }
    h->n = 0;
}

/* The merchant's chosen authentication, on a request with this body.
 * Returns -1 when its secret cannot be opened (a different data key). */
static int add_auth(struct app *app, const struct rc_settings *s, const char *body, struct headers *h)
{
    if (strcmp(s->merchant_auth, "none") == 0 || !s->merchant_auth[0])
        return 0;
    char *secret = crypto_open_text(app->card_key, s->merchant_auth_secret);
    if (!secret)
        return -1;
    if (strcmp(s->merchant_auth, "basic") == 0) {
        size_t plain_len = strlen(s->merchant_auth_username) + 1 + strlen(secret);
        char *plain = malloc(plain_len + 1);
        size_t b64_len = sodium_base64_ENCODED_LEN(plain_len, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(b64_len);
        if (plain && b64) {
            snprintf(plain, plain_len + 1, "%s:%s", s->merchant_auth_username, secret);
            sodium_bin2base64(b64, b64_len, (const unsigned char *)plain, plain_len, sodium_base64_VARIANT_ORIGINAL);
            char *value = malloc(b64_len + 8);
            if (value) {
                snprintf(value, b64_len + 8, "Basic %s", b64);
                hdr_add(h, "Authorization", value);
                free(value);
            }
            sodium_memzero(plain, plain_len);
        }
        free(plain);
        free(b64);
    } else if (strcmp(s->merchant_auth, "api_key") == 0) {
        hdr_add(h, "x-api-key", secret);
    } else if (strcmp(s->merchant_auth, "signing") == 0) {
        /* The webhook scheme (HMAC over body "+" time) with the merchant's
         * own secret, so one verifier serves both directions. */
        char ts[24], sig[65];
        snprintf(ts, sizeof ts, "%lld", (long long)(clock_now_ms(app->clock) / 1000));
        rc_webhook_signature(secret, body, strlen(body), strtoll(ts, NULL, 10), sig);
        hdr_add(h, "X-Recoup-Timestamp", ts);
        hdr_add(h, "X-Recoup-Signature", sig);
    }
    sodium_memzero(secret, strlen(secret));
    free(secret);
    return 0;
}

static void answer_later(struct rc_retry_status_answer *out, enum rc_retry_status st, const char *why)
{
    out->status = st;
    str_copy(out->reason, sizeof out->reason, why);
}

void rc_retry_status_call(struct app *app, http_conn *conn, const struct rc_settings *s,
                          const struct rc_invoice *inv, struct rc_retry_status_answer *out)
{
    memset(out, 0, sizeof *out);
    if (!s->retry_status_url[0]) {
        out->status = RC_RS_RETRY;
        return;
    }
    char url[RC_URL_MAX + RC_ID_MAX * 3 + 16];
    http_url_join(url, sizeof url, s->retry_status_url, "/retry", inv->invoice_id);
    cJSON *b = cJSON_CreateObject();
    cJSON *custom = inv->custom ? cJSON_Parse(inv->custom) : NULL;
    cJSON_AddItemToObject(b, "custom", custom ? custom : cJSON_CreateObject());
    buf body;
    buf_init(&body);
    if (rc_json_compact(b, &body) != 0 || body.oom) {
        cJSON_Delete(b);
        buf_free(&body);
        answer_later(out, RC_RS_LATER, "could not build the RetryStatus request");
        return;
    }
    cJSON_Delete(b);
    struct headers h = {0};
    hdr_add(&h, "Content-Type", "application/json");
    if (add_auth(app, s, body.data, &h) != 0) {
        hdr_free(&h);
        buf_free(&body);
        answer_later(out, RC_RS_BAD_ANSWER, "the merchant's credentials cannot be opened");
        return;
    }
    struct http_client_response r;
    int rc = http_conn_request(conn, "POST", url, (const char *const *)h.list, body.data,
                               (long)app->retry.merchant_connect_timeout_ms, (long)app->retry.merchant_timeout_ms, &r);
    hdr_free(&h);
    buf_free(&body);
    out->http_status = r.status;
    char why[sizeof out->reason];
    snprintf(why, sizeof why, "RetryStatus answered %ld", r.status);
    if (rc != 0) {
        snprintf(why, sizeof why, "RetryStatus did not answer: %.80s", r.error);
        answer_later(out, RC_RS_LATER, why);
    } else if (r.status == 404) {
        out->status = RC_RS_UNKNOWN;
        str_copy(out->reason, sizeof out->reason, "unknown to the merchant (RetryStatus 404)");
    } else if (r.status == 429 || r.status >= 500) {
        answer_later(out, RC_RS_LATER, why);
    } else if (r.status != 200) {
        answer_later(out, RC_RS_BAD_ANSWER, why);
    } else {
        cJSON *j = r.body.data ? cJSON_ParseWithLength(r.body.data, r.body.len) : NULL;
        const cJSON *retry = cJSON_GetObjectItemCaseSensitive(j, "retry");
        if (!cJSON_IsBool(retry)) {
            answer_later(out, RC_RS_BAD_ANSWER, "RetryStatus answered 200 without a boolean \"retry\"");
        } else if (!cJSON_IsTrue(retry)) {
            out->status = RC_RS_CANCELLED;
            const cJSON *reason = cJSON_GetObjectItemCaseSensitive(j, "reason");
            str_copy(out->reason, sizeof out->reason,
                     cJSON_IsString(reason) && *reason->valuestring ? reason->valuestring : "retry: false");
        } else {
            out->status = RC_RS_RETRY;
            const cJSON *amount = cJSON_GetObjectItemCaseSensitive(j, "amount");
            int exp = currency_exponent(inv->currency);
            int64_t minor;
            if (amount && !cJSON_IsNull(amount)) {
                if (exp >= 0 && money_parse_json(amount, exp, &minor) == MONEY_OK && minor > 0) {
                    out->has_amount = 1;
                    out->amount = minor;
                } else {
                    answer_later(out, RC_RS_BAD_ANSWER, "RetryStatus answered 200 with an unusable amount");
                }
            }
            const cJSON *pms = cJSON_GetObjectItemCaseSensitive(j, "payment_methods");
            const cJSON *pm;
            cJSON_ArrayForEach(pm, pms)
            {
                const cJSON *id = cJSON_GetObjectItemCaseSensitive(pm, "id");
                if (cJSON_IsString(id) && *id->valuestring && out->npayment_methods < RC_MAX_PAYMENT_METHODS)
                    str_copy(out->payment_methods[out->npayment_methods++], RC_ID_MAX, id->valuestring);
            }
        }
        cJSON_Delete(j);
    }
    http_client_response_free(&r);
}

int rc_platform_retry_request(struct app *app, http_conn *conn, const struct rc_settings *s,
                              const struct rc_invoice *inv, const struct rc_retry *attempt, int64_t amount,
                              const char *payment_method_id, char *err, size_t errsz)
{
    char url[RC_URL_MAX + RC_ID_MAX * 3 + 16];
    http_url_join(url, sizeof url, s->platform_retry_url, "", inv->invoice_id);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "butter_id", attempt->attempt_id);
    cJSON_AddStringToObject(b, "invoice_id", inv->invoice_id);
    cJSON_AddStringToObject(b, "customer_id", inv->customer_id);
    cJSON_AddStringToObject(b, "subscription_id", inv->subscription_id);
    cJSON_AddNumberToObject(b, "amount", money_major(amount, inv->currency));
    cJSON_AddStringToObject(b, "currency", inv->currency);
    cJSON_AddStringToObject(b, "payment_method_id", payment_method_id);
    cJSON *custom = inv->custom ? cJSON_Parse(inv->custom) : NULL;
    cJSON_AddItemToObject(b, "custom", custom ? custom : cJSON_CreateNull());
    buf body;
    buf_init(&body);
    int bad = rc_json_compact(b, &body) != 0 || body.oom;
    cJSON_Delete(b);
    char *wsecret = bad ? NULL : crypto_open_text(app->card_key, s->webhook_secret);
    if (!wsecret) {
        buf_free(&body);
        str_copy(err, errsz, bad ? "could not build the request" : "no webhook signing secret to sign with");
        return -1;
    }
    int64_t expiration = clock_now_ms(app->clock) / 1000 + 300;
    char exp_text[24], sig[65];
    snprintf(exp_text, sizeof exp_text, "%lld", (long long)expiration);
    rc_webhook_signature(wsecret, body.data, body.len, expiration, sig);
    sodium_memzero(wsecret, strlen(wsecret));
    free(wsecret);
    struct headers h = {0};
    hdr_add(&h, "Content-Type", "application/json");
    hdr_add(&h, "X-Butter-Webhook-Type", "retry_request");
    hdr_add(&h, "X-Butter-Webhook-Expiration", exp_text);
    hdr_add(&h, "X-Butter-Webhook-Expires", exp_text);
    hdr_add(&h, "X-Butter-Webhook-Deduplication-ID", attempt->attempt_id);
    hdr_add(&h, "X-Butter-Webhook-Signature", sig);
    if (add_auth(app, s, body.data, &h) != 0) {
        hdr_free(&h);
        buf_free(&body);
        snprintf(err, errsz, "the merchant's credentials cannot be opened");
        return -1;
    }
    struct http_client_response r;
    int rc = http_conn_request(conn, "POST", url, (const char *const *)h.list, body.data,
                               (long)app->retry.merchant_connect_timeout_ms, (long)app->retry.merchant_timeout_ms, &r);
    hdr_free(&h);
    buf_free(&body);
    int ok = rc == 0 && r.status >= 200 && r.status < 300;
    if (!ok) {
        if (rc != 0)
            snprintf(err, errsz, "the platform did not answer: %s", r.error);
        else
            snprintf(err, errsz, "the platform answered %ld", r.status);
    }
    http_client_response_free(&r);
    return ok ? 0 : -1;
}
