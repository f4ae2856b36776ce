/* Recover's connector to the project's own gateway: POST /api/payments with
 * the stored payment method and an Idempotency-Key. The gateway answers a
 * repeated key with the first payment, so a retried call never charges
 * twice. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/money.h"
#include "recover/psp.h"

static void text_of(const cJSON *o, const char *name, char *out, size_t outsz)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    str_copy(out, outsz, cJSON_IsString(v) ? v->valuestring : "");
}

static int recoup_charge(http_conn *conn, const struct rc_psp_charge *c, struct rc_psp_result *out)
{
    memset(out, 0, sizeof *out);
    int exp = currency_exponent(c->currency);
    char amount[40];
    money_format(c->amount, exp < 0 ? 2 : exp, amount, sizeof amount);
    cJSON *b = cJSON_CreateObject();
    /* The amount as decimal text in a raw number: exact, no binary float. */
    cJSON_AddItemToObject(b, "amount", cJSON_CreateRaw(amount));
    cJSON_AddStringToObject(b, "currency", c->currency);
    cJSON_AddStringToObject(b, "payment_method", "credit_card");
    cJSON_AddStringToObject(b, "payment_method_id", c->payment_method_id);
    char *body = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    if (!body) {
        str_copy(out->error, sizeof out->error, "out of memory");
        return -1;
    }
    char url[RC_URL_MAX + 32], auth[600], idem[128];
    http_url_join(url, sizeof url, c->base_url, "/api/payments", NULL);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->api_key);
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", c->idempotency_key);
    const char *headers[] = {"Content-Type: application/json", auth, idem, NULL};
    struct http_client_response r;
    int rc = http_conn_request(conn, "POST", url, headers, body, c->connect_timeout_ms, c->timeout_ms, &r);
    cJSON_free(body);
    if (rc != 0) {
        snprintf(out->error, sizeof out->error, "the gateway did not answer: %.200s", r.error);
        out->permanent = r.malformed_url;
    } else if (r.status == 201 || r.status == 200) {
        cJSON *j = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(j, "status");
        text_of(j, "payment_id", out->psp_transaction_id, sizeof out->psp_transaction_id);
        if (!cJSON_IsString(status) || !out->psp_transaction_id[0]) {
            snprintf(out->error, sizeof out->error, "the gateway answered %ld without a payment", r.status);
        } else {
            out->answered = 1;
            out->success = strcmp(status->valuestring, "error") != 0;
            text_of(j, "decline_code", out->decline_code, sizeof out->decline_code);
            text_of(j, "decline_message", out->decline_message, sizeof out->decline_message);
            text_of(j, "network_response_code", out->network_code, sizeof out->network_code);
        }
        cJSON_Delete(j);
    } else {
        /* 4xx: the request itself is wrong (key, payment method, amount):
         * the same request will not fare better. 5xx: the gateway failed. */
        snprintf(out->error, sizeof out->error, "the gateway answered %ld", r.status);
        out->permanent = r.status >= 400 && r.status < 500 && r.status != 409 && r.status != 429;
    }
    http_client_response_free(&r);
    return out->answered ? 0 : -1;
}

const struct rc_psp_connector rc_psp_recoup = {"recoup", recoup_charge};
