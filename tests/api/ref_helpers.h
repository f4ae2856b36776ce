/* Shared pieces of the refunds, settlement and operations tests: assertions
 * that print the server's answer when they fail, id and time format checks,
 * and small request builders. Header-only (static inline) so that each test
 * stays one translation unit, as tests/api/meson.build expects. */
#ifndef RECOUP_TESTS_REF_HELPERS_H
#define RECOUP_TESTS_REF_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define R_CHECK(r, cond)                                                                                        \
    do {                                                                                                         \
        if (!(cond))                                                                                             \
            fail_msg("%s:%d: %s\n  status %ld, body: %.3000s", __FILE__, __LINE__, #cond, (r)->status,         \
                     (r)->body ? (r)->body : "(none)");                                                          \
    } while (0)

#define R_STATUS(r, want) R_CHECK(r, (r)->status == (want))

/* A 4xx answer whose errors[] names field. */
#define R_FIELD_ERROR(r, want_status, field)                                                                     \
    do {                                                                                                         \
        R_STATUS(r, want_status);                                                                                \
        R_CHECK(r, jstr((r)->json, "message") != NULL);                                                          \
        if (!has_error_field((r)->json, field))                                                                  \
            fail_msg("%s:%d: errors[] does not name \"%s\"\n  status %ld, body: %.3000s", __FILE__, __LINE__,   \
                     field, (r)->status, (r)->body);                                                             \
    } while (0)

/* 404 with exactly the empty object, the source document's "empty result". */
#define R_EMPTY_404(r)                                                                                           \
    do {                                                                                                         \
        R_STATUS(r, 404);                                                                                        \
        R_CHECK(r, cJSON_IsObject((r)->json) && cJSON_GetArraySize((r)->json) == 0);                             \
    } while (0)

/* The text of a string member, "" when absent, so that a wrong answer fails
 * an assertion instead of crashing the test. */
static inline const char *rs(const cJSON *o, const char *name)
{
    const char *v = jstr(o, name);
    return v ? v : "";
}

/* Whether the body holds "name":text literally: amounts are compared as the
 * server wrote them (50.00, not 50), never through a double. */
static inline int has_raw(const hres *r, const char *name, const char *text)
{
    char want[160];
    snprintf(want, sizeof want, "\"%s\":%s", name, text);
    const char *p = r->body ? strstr(r->body, want) : NULL;
    if (!p)
        return 0;
    char next = p[strlen(want)];
    return next == ',' || next == '}' || next == ']';
}

/* YYYY-MM-DDTHH:MM:SS.mmmZ, the only time format responses use. */
static inline int is_iso_ms(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (!s || strlen(s) != sizeof shape - 1)
        return 0;
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return 0;
    }
    return 1;
}

/* Payment ids: 200 upper-case letters. */
static inline int is_payment_id(const char *s)
{
    if (!s || strlen(s) != 200)
        return 0;
    for (const char *p = s; *p; p++)
        if (*p < 'A' || *p > 'Z')
            return 0;
    return 1;
}

/* Refund ids: 200 letters and digits. */
static inline int is_refund_id(const char *s)
{
    if (!s || strlen(s) != 200)
        return 0;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p))
            return 0;
    return 1;
}

static inline hres *refund_post_h(rserver *s, const char *payment_id, const char *amount_text,
                                  const char *const *extra_headers)
{
    char body[512];
    snprintf(body, sizeof body, "{\"payment_id\":\"%s\",\"amount\":%s}", payment_id, amount_text);
    return gw_do_h(s, "POST", s->refunds, "/api/refunds", extra_headers, body);
}

static inline hres *refund_post(rserver *s, const char *payment_id, const char *amount_text)
{
    return refund_post_h(s, payment_id, amount_text, NULL);
}

/* Creates a refund and returns its id (malloc'd); fails the test otherwise. */
static inline char *make_refund(rserver *s, const char *payment_id, const char *amount_text)
{
    hres *r = refund_post(s, payment_id, amount_text);
    R_STATUS(r, 201);
    R_CHECK(r, is_refund_id(jstr(r->json, "refund_id")));
    char *id = strdup(jstr(r->json, "refund_id"));
    hres_free(r);
    return id;
}

static inline hres *payment_get(rserver *s, const char *payment_id)
{
    char path[320];
    snprintf(path, sizeof path, "/api/payments/%s", payment_id);
    return gw_do(s, "GET", s->payments, path, NULL);
}

/* A card payment in another currency, answered as the server wrote it. */
static inline hres *card_payment_in(rserver *s, const char *number, const char *amount_text, const char *currency)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"amount\":%s,\"currency\":\"%s\",\"payment_method\":\"credit_card\",\"additional_params\":{"
             "\"number\":\"%s\",\"name\":\"Test Holder\",\"expiration_month\":\"12\",\"expiration_year\":\"%s\","
             "\"cvv\":\"123\"}}",
             amount_text, currency, number, future_year());
    return gw_do(s, "POST", s->payments, "/api/payments", body);
}

/* A request with the given gateway key (NULL: none) in x-api-key. */
static inline hres *ref_key_do(const char *key, const char *method, int port, const char *path, const char *body)
{
    char auth[320];
    snprintf(auth, sizeof auth, "x-api-key: %s", key ? key : "");
    const char *headers[] = {key ? auth : "Accept: application/json", "Content-Type: application/json", NULL};
    return http_do(method, port, path, headers, body);
}

/* Creates a merchant through the admin API and a sandbox gateway key for
 * it, written to key; fails the test otherwise. */
static inline void ref_merchant_key(rserver *s, const char *merchant_id, char *key, size_t keysz)
{
    static const char *const json[] = {"Content-Type: application/json", NULL};
    char body[256];
    snprintf(body, sizeof body, "{\"merchant_id\":\"%s\",\"name\":\"Merchant %s\"}", merchant_id, merchant_id);
    hres *r = http_do("POST", s->admin, "/admin/merchants", json, body);
    R_STATUS(r, 201);
    R_CHECK(r, strcmp(rs(r->json, "merchant_id"), merchant_id) == 0);
    hres_free(r);
    char path[200];
    snprintf(path, sizeof path, "/admin/merchants/%s/keys", merchant_id);
    r = http_do("POST", s->admin, path, json, "{\"service\":\"gateway\",\"env\":\"sandbox\",\"label\":\"tests\"}");
    R_STATUS(r, 201);
    R_CHECK(r, strlen(rs(r->json, "api_key")) > 20 && strlen(rs(r->json, "api_key")) < keysz);
    snprintf(key, keysz, "%s", rs(r->json, "api_key"));
    hres_free(r);
}

/* Runs a settlement batch through the admin API; returns how many payments
 * it settled, failing the test on anything but 200. */
static inline int ref_settle(rserver *s)
{
    hres *r = http_do("POST", s->admin, "/admin/settlements", NULL, NULL);
    R_STATUS(r, 200);
    R_CHECK(r, !isnan(jnum(r->json, "settled")) && is_iso_ms(jstr(r->json, "batch_at")));
    int n = (int)jnum(r->json, "settled");
    hres_free(r);
    return n;
}

/* A TCP connection to 127.0.0.1:port, or -1. */
static inline int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#endif
