/* Shared pieces of the Recover API tests: the keys the sandbox bootstrap
 * writes, requests with the x-api-key header, payload builders that start
 * from the documented examples and change one field by its path, and a
 * bounded wait for the inbox worker, which applies events after the 200.
 * Header-only (static inline) so that each test stays one translation unit,
 * as tests/api/meson.build expects. */
#ifndef RECOUP_TESTS_RC_COMMON_H
#define RECOUP_TESTS_RC_COMMON_H

#include <unistd.h>

#include "pay_common.h"

/* The fixtures' failures happened in early March 2024: servers of these
 * tests run on a virtual clock stopped a few days later, so that every
 * invoice is still inside its dunning window and waits for a retry that
 * never comes due (the retry loop itself is tested in test_rc_e2e.c). */
static const char *const RC_FIXTURE_CLOCK[] = {"--clock=virtual", "--clock_start=2024-03-10T00:00:00Z", NULL};

/* The complete example of the public reference: every optional field. */
#define RC_FULL_PAYLOAD                                                                                         \
    "{\"customer\":{\"id\":\"cus_full\",\"psp_id\":\"cus_NffrFeUfNV2Hib\",\"created_at\":\"2023-01-15T09:30:00Z\","  \
    "\"postal_code\":\"94107\"},"                                                                                 \
    "\"subscription\":{\"id\":\"sub_full\",\"start_date\":\"2023-02-01T00:00:00Z\","                              \
    "\"end_date\":\"2025-02-01T00:00:00Z\",\"discounted_or_free_period\":false,\"product_id\":\"prod_premium\","  \
    "\"billing\":{\"period\":\"month\",\"frequency\":1}},"                                                        \
    "\"invoice\":{\"id\":\"in_full\",\"created_at\":\"2024-03-01T00:00:00Z\"},"                                  \
    "\"transactions\":[{\"id\":\"txn_full\",\"psp_transaction_id\":\"ch_3OqFull\",\"psp\":\"stripe\","            \
    "\"acquirer_country\":\"US\",\"amount\":12.23,\"currency\":\"USD\",\"funding_source\":\"credit\","           \
    "\"payment_method_id\":\"pm_full\",\"psp_transaction_created_at\":\"2024-03-01T10:15:00Z\","                 \
    "\"scheme\":\"visa\",\"success\":false,\"network_transaction_id\":\"483297487231504\","                      \
    "\"mid\":\"mid_0001\",\"reporting_group\":\"subscriptions-us\",\"billing_postal_code\":\"94107\","            \
    "\"bin\":\"424242\",\"issuer_country\":\"US\",\"auth\":false,\"captured\":false,\"refunded\":false,"         \
    "\"enhanced_data\":{\"level_2\":{\"tax_amount\":1.02,\"customer_reference\":\"PO-1001\"},"                   \
    "\"level_3\":{\"line_items\":[{\"description\":\"Premium plan\",\"quantity\":1,\"unit_price\":11.21}]}},"    \
    "\"outcome\":{\"raw_response_message\":\"insufficient_funds\","                                               \
    "\"psp_response_message\":\"Your card has insufficient funds.\",\"processor_response_code\":51,"            \
    "\"network_status\":\"declined_by_network\",\"response_type\":\"soft_decline\"}}],"                          \
    "\"custom\":{\"plan\":\"premium\",\"seats\":3,\"trial\":false,\"tags\":[\"vip\",\"annual\"],"                 \
    "\"meta\":{\"region\":\"emea\",\"score\":0.75,\"note\":null}}}"

/* The seed's minimal payload: the required fields only. */
#define RC_MIN_PAYLOAD                                                                                          \
    "{\"customer\":{\"id\":\"cus_min\"},"                                                                     \
    "\"subscription\":{\"id\":\"sub_min\",\"start_date\":\"2024-01-01T00:00:00Z\"},"                            \
    "\"invoice\":{\"id\":\"in_min\",\"created_at\":\"2024-03-01T00:00:00Z\"},"                                    \
    "\"transactions\":[{\"id\":\"txn_min\",\"psp_transaction_id\":\"ch_min\",\"psp\":\"stripe\","                 \
    "\"acquirer_country\":\"US\",\"amount\":12.23,\"currency\":\"USD\",\"funding_source\":\"credit\","           \
    "\"outcome\":{\"raw_response_message\":\"insufficient_funds\"},\"payment_method_id\":\"pm_min\","            \
    "\"psp_transaction_created_at\":\"2024-03-01T10:00:00Z\",\"scheme\":\"visa\",\"success\":false}]}"

struct rc_keys {
    char sandbox[200];
    char production[200];
};

/* The sandbox merchant's Recover keys from DATA_DIR/sandbox.json. */
static inline void rc_read_keys(const rserver *s, struct rc_keys *k)
{
    char path[320];
    snprintf(path, sizeof path, "%s/sandbox.json", s->dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *doc = cJSON_Parse(text);
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(doc, "recover");
    const char *sb = jstr(rc, "api_key"), *prod = jstr(rc, "production_api_key");
    if (!sb || !prod)
        fail_msg("sandbox.json has no recover keys: %s", text);
    snprintf(k->sandbox, sizeof k->sandbox, "%s", sb);
    snprintf(k->production, sizeof k->production, "%s", prod);
    cJSON_Delete(doc);
}

/* A request to the API listener with the key in x-api-key (NULL: no key)
 * and Content-Type: application/json. */
static inline hres *rc_do(const rserver *s, const char *key, const char *method, const char *path, const char *body)
{
    char auth[240];
    snprintf(auth, sizeof auth, "x-api-key: %s", key ? key : "");
    const char *headers[4];
    int n = 0;
    if (key)
        headers[n++] = auth;
    headers[n++] = "Content-Type: application/json";
    headers[n] = NULL;
    return http_do(method, s->api, path, headers, body);
}

static inline hres *rc_post_json(const rserver *s, const char *key, const char *path, const cJSON *payload)
{
    char *text = cJSON_PrintUnformatted(payload);
    hres *r = rc_do(s, key, "POST", path, text);
    free(text);
    return r;
}

static inline hres *rc_post_payment(const rserver *s, const char *key, const cJSON *payload)
{
    return rc_post_json(s, key, "/recover/payments", payload);
}

static inline hres *rc_admin(const rserver *s, const char *method, const char *path, const char *body)
{
    static const char *const json[] = {"Content-Type: application/json", NULL};
    return http_do(method, s->admin, path, body ? json : NULL, body);
}

/* ---- payloads ---- */

static inline cJSON *rc_parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    if (!j)
        fail_msg("test payload does not parse: %s", text);
    return j;
}

/* Resolves "a.b[2].c" to the member's parent and name (or index): returns
 * the parent, with *name set for an object member or *index for an array
 * element. */
static inline cJSON *rc_parent(cJSON *root, const char *path, char *name, size_t namesz, int *index)
{
    cJSON *cur = root;
    char seg[128];
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len >= sizeof seg)
            fail_msg("path segment too long: %s", path);
        memcpy(seg, p, len);
        seg[len] = '\0';
        char *br = strchr(seg, '[');
        int idx = -1;
        if (br) {
            idx = (int)strtol(br + 1, NULL, 10);
            *br = '\0';
        }
        if (!dot) {
            /* The last segment: "name" or "name[i]". */
            if (idx < 0) {
                snprintf(name, namesz, "%s", seg);
                *index = -1;
                return cur;
            }
            cJSON *arr = cJSON_GetObjectItemCaseSensitive(cur, seg);
            if (!arr)
                fail_msg("no %s in the payload (%s)", seg, path);
            name[0] = '\0';
            *index = idx;
            return arr;
        }
        cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
        if (cur && idx >= 0)
            cur = cJSON_GetArrayItem(cur, idx);
        if (!cur)
            fail_msg("no %s in the payload (%s)", seg, path);
        p = dot + 1;
    }
}

/* Sets the member at path to the JSON value text (replacing or adding). */
static inline void rc_set(cJSON *root, const char *path, const char *json_value)
{
    char name[128];
    int index;
    cJSON *parent = rc_parent(root, path, name, sizeof name, &index);
    cJSON *v = rc_parse(json_value);
    if (index >= 0) {
        if (!cJSON_ReplaceItemInArray(parent, index, v))
            fail_msg("cannot set %s", path);
    } else if (cJSON_GetObjectItemCaseSensitive(parent, name)) {
        cJSON_ReplaceItemInObjectCaseSensitive(parent, name, v);
    } else {
        cJSON_AddItemToObject(parent, name, v);
    }
}

static inline void rc_set_str(cJSON *root, const char *path, const char *text)
{
    cJSON *s = cJSON_CreateString(text);
    char *j = cJSON_PrintUnformatted(s);
    rc_set(root, path, j);
    free(j);
    cJSON_Delete(s);
}

static inline void rc_del(cJSON *root, const char *path)
{
    char name[128];
    int index;
    cJSON *parent = rc_parent(root, path, name, sizeof name, &index);
    if (index >= 0)
        cJSON_DeleteItemFromArray(parent, index);
    else
        cJSON_DeleteItemFromObjectCaseSensitive(parent, name);
}

/* The minimal payload for one invoice and one transaction. */
static inline cJSON *rc_event(const char *invoice, const char *customer, const char *txn, int success,
                              const char *raw_message, const char *created_at)
{
    cJSON *p = rc_parse(RC_MIN_PAYLOAD);
    rc_set_str(p, "invoice.id", invoice);
    rc_set_str(p, "customer.id", customer);
    rc_set_str(p, "transactions[0].id", txn);
    rc_set_str(p, "transactions[0].psp_transaction_id", txn);
    rc_set(p, "transactions[0].success", success ? "true" : "false");
    rc_set_str(p, "transactions[0].outcome.raw_response_message", raw_message);
    rc_set_str(p, "transactions[0].psp_transaction_created_at", created_at);
    /* A card per invoice: the card networks cap retries per card, and
     * these tests send many failures that are not about those caps. */
    char pm[300];
    snprintf(pm, sizeof pm, "pm_%.200s", invoice);
    rc_set_str(p, "transactions[0].payment_method_id", pm);
    return p;
}

/* Posts an event and returns its request id (malloc'd); fails unless 200. */
static inline char *rc_send(const rserver *s, const char *key, const cJSON *payload)
{
    hres *r = rc_post_payment(s, key, payload);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "message"), "Request submitted for processing") == 0);
    CHECK(r, *js(r->json, "request_id") != '\0');
    char *id = strdup(js(r->json, "request_id"));
    hres_free(r);
    return id;
}

static inline void rc_send_free(const rserver *s, const char *key, cJSON *payload)
{
    free(rc_send(s, key, payload));
    cJSON_Delete(payload);
}

/* ---- reading invoices ---- */

static inline int rc_count(const cJSON *o, const char *name)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
}

static inline hres *rc_get_invoice(const rserver *s, const char *key, const char *invoice)
{
    char path[600];
    snprintf(path, sizeof path, "/recover/invoices/%s", invoice);
    return rc_do(s, key, "GET", path, NULL);
}

/* What an invoice is waited for: -1 and NULL mean "any". */
struct rc_want {
    const char *state;
    int transactions;
    int failed_attempts;
    int history;
};

static inline int rc_matches(const hres *r, const struct rc_want *w)
{
    if (r->status != 200 || !cJSON_IsObject(r->json))
        return 0;
    if (w->state && strcmp(js(r->json, "state"), w->state) != 0)
        return 0;
    if (w->transactions >= 0 && rc_count(r->json, "transactions") != w->transactions)
        return 0;
    if (w->failed_attempts >= 0 && jnum(r->json, "failed_attempts") != w->failed_attempts)
        return 0;
    if (w->history >= 0 && rc_count(r->json, "history") != w->history)
        return 0;
    return 1;
}

/* Polls GET /recover/invoices/{id} for up to about 5 s until the invoice
 * matches; returns the last answer either way, so the caller's assertions
 * show what the server had. */
static inline hres *rc_wait(const rserver *s, const char *key, const char *invoice, struct rc_want want)
{
    hres *r = NULL;
    for (int i = 0; i < 100; i++) {
        hres_free(r);
        r = rc_get_invoice(s, key, invoice);
        if (rc_matches(r, &want))
            return r;
        usleep(50000);
    }
    return r;
}

#define RC_WAIT_OK(r, want)                                                                                     \
    do {                                                                                                         \
        if (!rc_matches(r, &(want)))                                                                             \
            fail_msg("%s:%d: the invoice did not reach the expected state within 5 s\n  status %ld, body: %.3000s", \
                     __FILE__, __LINE__, (r)->status, (r)->body ? (r)->body : "(none)");                         \
    } while (0)

/* Events are applied in the order they were received: once a later event's
 * invoice is there, every earlier event has been applied. */
static inline void rc_barrier(const rserver *s, const char *key, const char *tag)
{
    char inv[96], txn[96];
    snprintf(inv, sizeof inv, "barrier-%s", tag);
    snprintf(txn, sizeof txn, "barrier-txn-%s", tag);
    rc_send_free(s, key, rc_event(inv, "cus_barrier", txn, 0, "do_not_honor", "2024-03-01T00:00:00Z"));
    struct rc_want w = {NULL, 1, -1, -1};
    hres *r = rc_wait(s, key, inv, w);
    RC_WAIT_OK(r, w);
    hres_free(r);
}

/* A 400 "Invalid request body" whose errors are all {field, message}. */
#define RC_INVALID(r)                                                                                           \
    do {                                                                                                         \
        CHECK_STATUS(r, 400);                                                                                    \
        CHECK(r, strcmp(js((r)->json, "message"), "Invalid request body") == 0);                                 \
        const cJSON *rc_errs_ = cJSON_GetObjectItemCaseSensitive((r)->json, "errors");                           \
        CHECK(r, cJSON_IsArray(rc_errs_) && cJSON_GetArraySize(rc_errs_) > 0);                                  \
        const cJSON *rc_e_;                                                                                      \
        cJSON_ArrayForEach(rc_e_, rc_errs_) CHECK(r, jstr(rc_e_, "field") && jstr(rc_e_, "message"));            \
    } while (0)

/* The message of the error naming field, or NULL. */
static inline const char *rc_error_message(const hres *r, const char *field)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r->json, "errors"))
    {
        if (strcmp(js(e, "field"), field) == 0)
            return jstr(e, "message");
    }
    return NULL;
}

/* The body equals the JSON text exactly (as parsed values). */
static inline int rc_body_is(const hres *r, const char *json_text)
{
    cJSON *want = cJSON_Parse(json_text);
    int same = want && r->json && cJSON_Compare(r->json, want, 1);
    cJSON_Delete(want);
    return same;
}

/* Expectations checked without leaving the test at once, so that it frees
 * what it holds before failing (a sanitizer build would otherwise add leak
 * reports of the test itself to the failure). */
struct rc_soft {
    int failed;
    char ctx[300]; /* what was being checked, for the message */
    char text[4000];
};

static inline void rc_soft_check(struct rc_soft *s, const hres *r, int ok, const char *what, int line)
{
    if (ok || s->failed)
        return;
    s->failed = 1;
    snprintf(s->text, sizeof s->text, "line %d: %s%s%s\n  status %ld, body: %.3000s", line, s->ctx,
             s->ctx[0] ? ": " : "", what, r ? r->status : 0L, r && r->body ? r->body : "(none)");
}

#define SOFT(s, r, cond) rc_soft_check(s, r, (cond), #cond, __LINE__)

static inline void rc_soft_end(const struct rc_soft *s)
{
    if (s->failed)
        fail_msg("%s", s->text);
}

#endif
