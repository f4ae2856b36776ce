/* fake_merchant: a merchant's side of Recover for the end-to-end tests.
 *
 * It answers RetryStatus (POST /retry/{invoice_id}) per a script, receives
 * the Retry Results and End of Dunning webhooks and the subscription
 * platform's retry requests, verifying their signatures the way both
 * published merchant verifiers do, and proxies /psp/... to the real gateway,
 * holding the gateway's answer for a while when told to, so that a test can
 * stop recoupd between the charge and the recording of its outcome. Every
 * call is logged; GET /_control/log returns the log.
 *
 *   fake_merchant [--port=N] [--port-file=PATH] [--auth=none|basic:USER:PASS|
 *                 api_key:KEY|signing:SECRET] [--webhook-secret=S]
 *                 [--psp-upstream=http://127.0.0.1:PORT]
 *
 * Control endpoints (JSON bodies):
 *   PUT /_control/retry/{invoice_id}  {"responses":[{"status":200,"body":{...},"delay_ms":0},...]}
 *                                     consumed in order, the last one repeating
 *   PUT /_control/webhooks            {"status":500,"delay_ms":0}
 *   PUT /_control/platform            {"status":202}
 *   PUT /_control/psp                 {"hold_ms":5000}
 *   PUT /_control/config              {"auth":"basic:u:p","webhook_secret":"...",
 *                                      "psp_upstream":"http://127.0.0.1:PORT"}
 *   GET /_control/log, DELETE /_control/log
 *
 * Signed calls to the merchant (auth signing:SECRET) carry X-Recoup-Timestamp
 * and X-Recoup-Signature: lower-case hex HMAC-SHA256(secret, body + "+" +
 * timestamp). */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "pyjson.h"

#define MAX_BODY (4 * 1024 * 1024)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t stopping;

/* Configuration and scripts, under lock. */
static char auth_spec[512] = "none";
static char webhook_secret[256];
static char psp_upstream[256];
static cJSON *retry_scripts;  /* invoice_id -> {"responses":[...],"next":n} */
static int webhook_status = 200, webhook_delay_ms;
static int platform_status = 202;
static int psp_hold_ms;
static cJSON *call_log; /* array */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps in slices so that a stop does not wait for a long hold. */
static void nap_ms(int ms)
{
    for (int left = ms; left > 0 && !stopping; left -= 20)
        usleep((useconds_t)(left < 20 ? left : 20) * 1000);
}

struct request {
    char *body;
    size_t len, cap;
    int too_big;
};

static void free_request(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    struct request *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
    }
    *con_cls = NULL;
}

static enum MHD_Result answer(struct MHD_Connection *c, int status, const char *content_type, const char *text)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    if (content_type)
        MHD_add_response_header(resp, "Content-Type", content_type);
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static const char *const logged_headers[] = {
    "Authorization", "x-api-key", "Content-Type", "Idempotency-Key", "X-Recoup-Timestamp", "X-Recoup-Signature",
    "X-Butter-Webhook-Type", "X-Butter-Webhook-Expiration", "X-Butter-Webhook-Expires",
    "X-Butter-Webhook-Deduplication-ID", "X-Butter-Webhook-Signature", "User-Agent",
};

/* A new log entry with what every kind has; the caller adds the rest and
 * appends it with log_append. */
static cJSON *log_entry(struct MHD_Connection *c, const char *kind, const char *path, const char *invoice_id,
                        const struct request *r)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "kind", kind);
    cJSON_AddStringToObject(e, "path", path);
    if (invoice_id)
        cJSON_AddStringToObject(e, "invoice_id", invoice_id);
    else
        cJSON_AddNullToObject(e, "invoice_id");
    cJSON *h = cJSON_AddObjectToObject(e, "headers");
    for (size_t i = 0; i < sizeof logged_headers / sizeof logged_headers[0]; i++) {
        const char *v = header(c, logged_headers[i]);
        if (v)
            cJSON_AddStringToObject(h, logged_headers[i], v);
    }
    const char *body = r && r->body ? r->body : "";
    cJSON *parsed = body[0] ? cJSON_Parse(body) : NULL;
    cJSON_AddItemToObject(e, "body", parsed ? parsed : cJSON_CreateNull());
    cJSON_AddStringToObject(e, "raw_body", body);
    cJSON_AddNumberToObject(e, "at_ms", (double)now_ms());
    return e;
}

static void log_append(cJSON *e)
{
    pthread_mutex_lock(&lock);
    cJSON_AddItemToArray(call_log, e);
    pthread_mutex_unlock(&lock);
}

/* ---- RetryStatus ---- */

static int basic_ok(const char *authz, const char *user_pass)
{
    if (!authz || strncasecmp(authz, "Basic ", 6) != 0)
        return 0;
    const char *b64 = authz + 6;
    unsigned char decoded[600];
    size_t n = 0;
    if (sodium_base642bin(decoded, sizeof decoded - 1, b64, strlen(b64), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return 0;
    decoded[n] = '\0';
    return strlen(user_pass) == n && sodium_memcmp(decoded, user_pass, n) == 0;
}

static int str_eq_ct(const char *a, const char *b)
{
    return a && b && strlen(a) == strlen(b) && sodium_memcmp(a, b, strlen(a)) == 0;
}

/* Whether the call carries the configured credentials; why not, in why. */
static int merchant_auth_ok(struct MHD_Connection *c, const struct request *r, const char **why)
{
    char spec[sizeof auth_spec];
    pthread_mutex_lock(&lock);
    snprintf(spec, sizeof spec, "%s", auth_spec);
    pthread_mutex_unlock(&lock);
    *why = NULL;
    if (strcmp(spec, "none") == 0)
        return 1;
    if (strncmp(spec, "basic:", 6) == 0) {
        if (basic_ok(header(c, "Authorization"), spec + 6))
            return 1;
        *why = "basic credentials missing or wrong";
        return 0;
    }
    if (strncmp(spec, "api_key:", 8) == 0) {
        if (str_eq_ct(header(c, "x-api-key"), spec + 8))
            return 1;
        *why = "x-api-key missing or wrong";
        return 0;
    }
    if (strncmp(spec, "signing:", 8) == 0) {
        const char *ts = header(c, "X-Recoup-Timestamp"), *sig = header(c, "X-Recoup-Signature");
        if (ts && sig && sig_raw_ok(spec + 8, r->body ? r->body : "", r->len, ts, sig))
            return 1;
        *why = "X-Recoup-Signature missing or wrong";
        return 0;
    }
    *why = "unknown auth configuration";
    return 0;
}

static enum MHD_Result retry_status(struct MHD_Connection *c, const char *path, const char *invoice_id,
                                    const struct request *r)
{
    cJSON *e = log_entry(c, "retry_status", path, invoice_id, r);
    const char *why;
    if (!merchant_auth_ok(c, r, &why)) {
        cJSON_AddBoolToObject(e, "auth_ok", 0);
        cJSON_AddStringToObject(e, "auth_problem", why);
        cJSON_AddNumberToObject(e, "status_answered", 401);
        log_append(e);
        return answer(c, 401, "application/json", "{\"message\":\"Unauthorized\"}");
    }
    cJSON_AddBoolToObject(e, "auth_ok", 1);
    int status = 200, delay = 0;
    char *text = NULL;
    pthread_mutex_lock(&lock);
    cJSON *script = cJSON_GetObjectItemCaseSensitive(retry_scripts, invoice_id);
    cJSON *responses = cJSON_GetObjectItemCaseSensitive(script, "responses");
    int count = cJSON_GetArraySize(responses);
    if (count > 0) {
        cJSON *next = cJSON_GetObjectItemCaseSensitive(script, "next");
        int i = cJSON_IsNumber(next) ? next->valueint : 0;
        if (i >= count)
            i = count - 1;
        const cJSON *step = cJSON_GetArrayItem(responses, i);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(step, "status");
        const cJSON *dl = cJSON_GetObjectItemCaseSensitive(step, "delay_ms");
        const cJSON *bd = cJSON_GetObjectItemCaseSensitive(step, "body");
        if (cJSON_IsNumber(st))
            status = st->valueint;
        if (cJSON_IsNumber(dl))
            delay = dl->valueint;
        if (bd)
            text = cJSON_PrintUnformatted(bd);
        if (cJSON_IsNumber(next))
            cJSON_SetNumberValue(next, i + 1 < count ? i + 1 : count - 1);
        else
            cJSON_AddNumberToObject(script, "next", i + 1 < count ? i + 1 : count - 1);
        cJSON_AddNumberToObject(e, "script_step", i);
    }
    pthread_mutex_unlock(&lock);
    if (!text)
        text = strdup(status == 200 ? "{\"retry\":true}" : "{}");
    cJSON_AddNumberToObject(e, "status_answered", status);
    cJSON_AddNumberToObject(e, "delay_ms", delay);
    log_append(e);
    if (delay > 0)
        nap_ms(delay);
    enum MHD_Result rc = answer(c, status, "application/json", text ? text : "{}");
    free(text);
    return rc;
}

/* ---- signed calls from Recover: webhooks and platform retries ---- */

static int all_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
    return 1;
}

/* Checks the X-Butter-Webhook-* headers and both signature variants into e.
 * want_type NULL: any type. */
static void check_signed(struct MHD_Connection *c, const struct request *r, const char *want_type, cJSON *e)
{
    const char *exp = header(c, "X-Butter-Webhook-Expiration"), *exp2 = header(c, "X-Butter-Webhook-Expires"),
               *type = header(c, "X-Butter-Webhook-Type"), *dedup = header(c, "X-Butter-Webhook-Deduplication-ID"),
               *sig = header(c, "X-Butter-Webhook-Signature");
    char secret[sizeof webhook_secret];
    pthread_mutex_lock(&lock);
    snprintf(secret, sizeof secret, "%s", webhook_secret);
    pthread_mutex_unlock(&lock);
    const char *body = r->body ? r->body : "";
    int raw = sig_raw_ok(secret, body, r->len, exp, sig);
    int compact = sig_compact_ok(secret, body, r->len, exp, sig);
    cJSON_AddBoolToObject(e, "sig_raw_ok", raw);
    cJSON_AddBoolToObject(e, "sig_compact_ok", compact);
    /* The body recoup sends should already be in the compact form. */
    char *re = pyjson_compact(body, r->len);
    cJSON_AddBoolToObject(e, "body_is_compact", re && strlen(re) == r->len && memcmp(re, body, r->len) == 0);
    free(re);

    cJSON *problems = cJSON_AddArrayToObject(e, "header_problems");
    char *end = NULL;
    long long expiration = exp ? strtoll(exp, &end, 10) : 0;
    if (!exp || !*exp || *end != '\0')
        cJSON_AddItemToArray(problems, cJSON_CreateString("X-Butter-Webhook-Expiration missing or not decimal"));
    if (!exp2 || !exp || strcmp(exp, exp2) != 0)
        cJSON_AddItemToArray(problems, cJSON_CreateString("X-Butter-Webhook-Expires missing or different"));
    if (!type || (want_type && strcmp(type, want_type) != 0))
        cJSON_AddItemToArray(problems, cJSON_CreateString("X-Butter-Webhook-Type missing or wrong"));
    if (!all_hex(dedup, 32))
        cJSON_AddItemToArray(problems, cJSON_CreateString("X-Butter-Webhook-Deduplication-ID is not 32 hex"));
    if (!all_hex(sig, 64))
        cJSON_AddItemToArray(problems, cJSON_CreateString("X-Butter-Webhook-Signature is not 64 hex"));
    /* recoup may run on a virtual clock, so an expiry in the past is only
     * recorded. */
    cJSON_AddBoolToObject(e, "expired", exp && expiration * 1000 < now_ms());
    if (dedup)
        cJSON_AddStringToObject(e, "dedup_id", dedup);
}

static enum MHD_Result signed_call(struct MHD_Connection *c, const char *kind, const char *path,
                                   const char *invoice_id, const char *want_type, const struct request *r)
{
    cJSON *e = log_entry(c, kind, path, invoice_id, r);
    check_signed(c, r, want_type, e);
    int status, delay = 0;
    pthread_mutex_lock(&lock);
    if (strcmp(kind, "platform_retry") == 0) {
        status = platform_status;
    } else {
        status = webhook_status;
        delay = webhook_delay_ms;
    }
    pthread_mutex_unlock(&lock);
    cJSON_AddNumberToObject(e, "status_answered", status);
    log_append(e);
    if (delay > 0)
        nap_ms(delay);
    return answer(c, status, "application/json", status < 300 ? "{\"received\":true}" : "{\"message\":\"down\"}");
}

/* ---- PSP proxy ---- */

struct grow {
    char *p;
    size_t len;
};

static size_t collect(char *data, size_t size, size_t n, void *ud)
{
    struct grow *g = ud;
    size_t add = size * n;
    char *q = realloc(g->p, g->len + add + 1);
    if (!q)
        return 0;
    memcpy(q + g->len, data, add);
    g->p = q;
    g->len += add;
    g->p[g->len] = '\0';
    return add;
}

static size_t collect_type(char *data, size_t size, size_t n, void *ud)
{
    char *out = ud;
    size_t len = size * n;
    if (len > 13 && strncasecmp(data, "Content-Type:", 13) == 0) {
        const char *v = data + 13;
        size_t vl = len - 13;
        while (vl && (*v == ' '))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        snprintf(out, 128, "%.*s", (int)vl, v);
    }
    return len;
}

struct query {
    CURL *curl;
    char text[2048];
};

static enum MHD_Result add_query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    struct query *q = cls;
    char *k = curl_easy_escape(q->curl, key, 0), *v = value ? curl_easy_escape(q->curl, value, 0) : NULL;
    size_t used = strlen(q->text);
    snprintf(q->text + used, sizeof q->text - used, "%s%s%s%s", used ? "&" : "?", k ? k : "", v ? "=" : "",
             v ? v : "");
    curl_free(k);
    curl_free(v);
    return MHD_YES;
}

static enum MHD_Result psp_proxy(struct MHD_Connection *c, const char *method, const char *path,
                                 const struct request *r)
{
    char upstream[sizeof psp_upstream];
    int hold;
    pthread_mutex_lock(&lock);
    snprintf(upstream, sizeof upstream, "%s", psp_upstream);
    hold = psp_hold_ms;
    pthread_mutex_unlock(&lock);
    cJSON *e = log_entry(c, "psp", path, NULL, r);
    if (!upstream[0]) {
        cJSON_AddNumberToObject(e, "status_answered", 502);
        log_append(e);
        return answer(c, 502, "application/json", "{\"message\":\"no --psp-upstream\"}");
    }
    CURL *curl = curl_easy_init();
    struct query q = {curl, ""};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_query_arg, &q);
    char url[4096];
    snprintf(url, sizeof url, "%s%s%s", upstream, path + 4, q.text); /* path without "/psp" */
    struct curl_slist *hs = NULL;
    static const char *const forwarded[] = {"Authorization", "Idempotency-Key", "Content-Type"};
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
        const char *v = header(c, forwarded[i]);
        if (v) {
            char line[1024];
            snprintf(line, sizeof line, "%s: %s", forwarded[i], v);
            hs = curl_slist_append(hs, line);
        }
    }
    hs = curl_slist_append(hs, "Expect:");
    struct grow got = {NULL, 0};
    char ctype[128] = "application/json";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (r->len || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)r->len);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &got);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_type);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, ctype);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(curl);
    if (cc != CURLE_OK)
        status = 502;
    cJSON_AddNumberToObject(e, "upstream_status", (double)status);
    cJSON *ub = got.p ? cJSON_Parse(got.p) : NULL;
    cJSON_AddItemToObject(e, "upstream_body", ub ? ub : cJSON_CreateNull());
    cJSON_AddNumberToObject(e, "hold_ms", hold);
    cJSON_AddNumberToObject(e, "status_answered", (double)status);
    /* Logged before the hold, so that a test sees the charge happened while
     * the answer is still held back. */
    log_append(e);
    if (hold > 0)
        nap_ms(hold);
    enum MHD_Result rc = answer(c, (int)status, ctype, got.p ? got.p : "");
    free(got.p);
    return rc;
}

/* ---- control ---- */

static int control_set_int(const cJSON *body, const char *name, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v))
        return -1;
    *out = v->valueint;
    return 0;
}

static enum MHD_Result control(struct MHD_Connection *c, const char *method, const char *path,
                               const struct request *r)
{
    cJSON *body = r->body ? cJSON_Parse(r->body) : NULL;
    enum MHD_Result rc;
    int bad = 0;
    if (strcmp(path, "/_control/log") == 0 && strcmp(method, "GET") == 0) {
        pthread_mutex_lock(&lock);
        char *text = cJSON_PrintUnformatted(call_log);
        pthread_mutex_unlock(&lock);
        rc = answer(c, 200, "application/json", text ? text : "[]");
        free(text);
    } else if (strcmp(path, "/_control/log") == 0 && strcmp(method, "DELETE") == 0) {
        pthread_mutex_lock(&lock);
        cJSON_Delete(call_log);
        call_log = cJSON_CreateArray();
        pthread_mutex_unlock(&lock);
        rc = answer(c, 200, "application/json", "{}");
    } else if (strcmp(method, "PUT") != 0 || !cJSON_IsObject(body)) {
        rc = answer(c, strcmp(method, "PUT") != 0 ? 405 : 400, "application/json",
                    "{\"message\":\"control calls are PUT with a JSON object\"}");
    } else if (strncmp(path, "/_control/retry/", 16) == 0 && path[16]) {
        const cJSON *responses = cJSON_GetObjectItemCaseSensitive(body, "responses");
        if (!cJSON_IsArray(responses) || cJSON_GetArraySize(responses) == 0) {
            bad = 1;
        } else {
            cJSON *script = cJSON_CreateObject();
            cJSON_AddItemToObject(script, "responses", cJSON_Duplicate(responses, 1));
            cJSON_AddNumberToObject(script, "next", 0);
            pthread_mutex_lock(&lock);
            cJSON_DeleteItemFromObjectCaseSensitive(retry_scripts, path + 16);
            cJSON_AddItemToObject(retry_scripts, path + 16, script);
            pthread_mutex_unlock(&lock);
        }
        rc = bad ? answer(c, 400, "application/json", "{\"message\":\"responses must be a non-empty array\"}")
                 : answer(c, 200, "application/json", "{}");
    } else {
        pthread_mutex_lock(&lock);
        if (strcmp(path, "/_control/webhooks") == 0) {
            bad = control_set_int(body, "status", &webhook_status) || control_set_int(body, "delay_ms",
                                                                                        &webhook_delay_ms);
        } else if (strcmp(path, "/_control/platform") == 0) {
            bad = control_set_int(body, "status", &platform_status);
        } else if (strcmp(path, "/_control/psp") == 0) {
            bad = control_set_int(body, "hold_ms", &psp_hold_ms);
        } else if (strcmp(path, "/_control/config") == 0) {
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(body, "auth");
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(body, "webhook_secret");
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(body, "psp_upstream");
            if (cJSON_IsString(u))
                snprintf(psp_upstream, sizeof psp_upstream, "%s", u->valuestring);
            if (cJSON_IsString(a))
                snprintf(auth_spec, sizeof auth_spec, "%s", a->valuestring);
            if (cJSON_IsString(s))
                snprintf(webhook_secret, sizeof webhook_secret, "%s", s->valuestring);
        } else {
            bad = 2;
        }
        pthread_mutex_unlock(&lock);
        rc = bad == 2   ? answer(c, 404, "application/json", "{\"message\":\"unknown control\"}")
             : bad      ? answer(c, 400, "application/json", "{\"message\":\"numbers expected\"}")
                        : answer(c, 200, "application/json", "{}");
    }
    cJSON_Delete(body);
    return rc;
}

/* ---- dispatch ---- */

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)cls, (void)version;
    struct request *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->len + *upload_size > MAX_BODY) {
            r->too_big = 1;
        } else if (!r->too_big) {
            if (r->len + *upload_size + 1 > r->cap) {
                size_t cap = r->cap ? r->cap : 1024;
                while (cap < r->len + *upload_size + 1)
                    cap *= 2;
                char *q = realloc(r->body, cap);
                if (!q)
                    return MHD_NO;
                r->body = q;
                r->cap = cap;
            }
            memcpy(r->body + r->len, upload_data, *upload_size);
            r->len += *upload_size;
            r->body[r->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return answer(c, 413, "application/json", "{\"message\":\"too large\"}");

    int post = strcmp(method, "POST") == 0;
    if (strncmp(url, "/_control/", 10) == 0)
        return control(c, method, url, r);
    if (strncmp(url, "/psp/", 5) == 0)
        return psp_proxy(c, method, url, r);
    if (post && strncmp(url, "/retry/", 7) == 0 && url[7])
        return retry_status(c, url, url + 7, r);
    if (post && strcmp(url, "/webhooks/retry-results") == 0) {
        cJSON *b = r->body ? cJSON_Parse(r->body) : NULL;
        const cJSON *inv = cJSON_GetObjectItemCaseSensitive(b, "invoice_id");
        enum MHD_Result rc =
            signed_call(c, "retry_result", url, cJSON_IsString(inv) ? inv->valuestring : NULL, "retry_result", r);
        cJSON_Delete(b);
        return rc;
    }
    if (post && strcmp(url, "/webhooks/end-of-dunning") == 0) {
        cJSON *b = r->body ? cJSON_Parse(r->body) : NULL;
        const cJSON *inv = cJSON_GetObjectItemCaseSensitive(b, "invoice_id");
        enum MHD_Result rc = signed_call(c, "end_of_dunning", url, cJSON_IsString(inv) ? inv->valuestring : NULL,
                                         "end_of_dunning", r);
        cJSON_Delete(b);
        return rc;
    }
    if (post && strncmp(url, "/platform/retry/", 16) == 0 && url[16])
        return signed_call(c, "platform_retry", url, url + 16, NULL, r);
    return answer(c, 404, "application/json", "{\"message\":\"not found\"}");
}

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static const char *arg_value(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

int main(int argc, char **argv)
{
    unsigned port = 0;
    const char *port_file = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if ((v = arg_value(argv[i], "--port")))
            port = (unsigned)strtoul(v, NULL, 10);
        else if ((v = arg_value(argv[i], "--port-file")))
            port_file = v;
        else if ((v = arg_value(argv[i], "--auth")))
            snprintf(auth_spec, sizeof auth_spec, "%s", v);
        else if ((v = arg_value(argv[i], "--webhook-secret")))
            snprintf(webhook_secret, sizeof webhook_secret, "%s", v);
        else if ((v = arg_value(argv[i], "--psp-upstream")))
            snprintf(psp_upstream, sizeof psp_upstream, "%s", v);
        else {
            fprintf(stderr, "fake_merchant: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return 1;
    retry_scripts = cJSON_CreateObject();
    call_log = cJSON_CreateArray();

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A thread per connection: a scripted delay or a held PSP answer must
     * not hold up other calls. */
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                                MHD_USE_ERROR_LOG,
                                            0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &addr,
                                            MHD_OPTION_NOTIFY_COMPLETED, free_request, NULL,
                                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "fake_merchant: cannot listen\n");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info ? info->port : port;
    if (port_file) {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%u\n", bound) < 0 || fclose(f) != 0 || rename(tmp, port_file) != 0) {
            fprintf(stderr, "fake_merchant: cannot write %s\n", port_file);
            MHD_stop_daemon(d);
            return 1;
        }
    }
    printf("PORT %u\n", bound);
    fflush(stdout);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    while (!stopping)
        usleep(50000);
    MHD_stop_daemon(d);
    cJSON_Delete(retry_scripts);
    cJSON_Delete(call_log);
    curl_global_cleanup();
    return 0;
}
