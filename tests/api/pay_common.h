/* Shared pieces of the payments listener's tests: request bodies and
 * assertions that print the response when they fail, so a failing run
 * shows what the server actually answered. Header-only (static inline) so
 * each test stays one translation unit, as tests/api/meson.build expects. */
#ifndef RECOUP_TESTS_PAY_COMMON_H
#define RECOUP_TESTS_PAY_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

/* A far-future expiry keeps the bodies constant (the server accepts years
 * up to 2999). */
#define PAY_YEAR "2099"

#define CHECK(r, cond)                                                                                          \
    do {                                                                                                         \
        if (!(cond))                                                                                             \
            fail_msg("%s:%d: %s\n  status %ld, body: %.3000s", __FILE__, __LINE__, #cond, (r)->status,         \
                     (r)->body ? (r)->body : "(none)");                                                          \
    } while (0)

#define CHECK_STATUS(r, want) CHECK(r, (r)->status == (want))

/* A 4xx answer whose errors[] names field. */
#define CHECK_FIELD_ERROR(r, want_status, field)                                                                 \
    do {                                                                                                         \
        CHECK_STATUS(r, want_status);                                                                            \
        CHECK(r, cJSON_IsArray(cJSON_GetObjectItemCaseSensitive((r)->json, "errors")));                        \
        if (!has_error_field((r)->json, field))                                                                  \
            fail_msg("%s:%d: errors[] does not name \"%s\"\n  status %ld, body: %.3000s", __FILE__, __LINE__,   \
                     field, (r)->status, (r)->body);                                                             \
    } while (0)

/* Text of a string member, "" when absent, so that string comparisons on a
 * wrong answer fail with a message instead of crashing. */
static inline const char *js(const cJSON *o, const char *name)
{
    const char *v = jstr(o, name);
    return v ? v : "";
}

static inline const cJSON *jobj(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

/* Number of entries of a JSON array body, -1 when the body is not one. */
static inline int jlen(const hres *r) { return cJSON_IsArray(r->json) ? cJSON_GetArraySize(r->json) : -1; }

/* A credit card payment body; cvv NULL picks the right length for the
 * brand. */
static inline void card_body(char *out, size_t outsz, const char *amount, const char *number, const char *cvv)
{
    snprintf(out, outsz,
             "{\"amount\":%s,\"payment_method\":\"credit_card\",\"additional_params\":{\"number\":\"%s\","
             "\"name\":\"Ana Silva\",\"expiration_month\":\"12\",\"expiration_year\":\"" PAY_YEAR "\","
             "\"cvv\":\"%s\"}}",
             amount, number, cvv ? cvv : (number[0] == '3' ? "1234" : "123"));
}

static inline void mbway_body(char *out, size_t outsz, const char *amount, const char *phone)
{
    snprintf(out, outsz,
             "{\"amount\":%s,\"payment_method\":\"mbway\",\"additional_params\":{\"phone_number\":\"%s\"}}", amount,
             phone);
}

/* Posts a body with the given key and returns the new payment's id
 * (malloc'd); fails the test unless the answer is 201. */
static inline char *create_with_key(rserver *s, const char *key, const char *body)
{
    hres *r = key_do(key, "POST", s->payments, "/api/payments", NULL, body);
    CHECK_STATUS(r, 201);
    CHECK(r, jstr(r->json, "payment_id") != NULL);
    char *id = strdup(jstr(r->json, "payment_id"));
    hres_free(r);
    return id;
}

static inline char *create_card(rserver *s, const char *key, const char *amount, const char *number)
{
    char body[1024];
    card_body(body, sizeof body, amount, number, NULL);
    return create_with_key(s, key, body);
}

static inline char *create_mbway(rserver *s, const char *key, const char *amount, const char *phone)
{
    char body[512];
    mbway_body(body, sizeof body, amount, phone);
    return create_with_key(s, key, body);
}

static inline int is_upper_id(const char *id, size_t len)
{
    if (!id || strlen(id) != len)
        return 0;
    for (const char *p = id; *p; p++)
        if (*p < 'A' || *p > 'Z')
            return 0;
    return 1;
}

/* Whether t looks like the API's instants: 2026-11-21T10:15:30.123Z. */
static inline int is_api_time(const char *t)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (!t || strlen(t) != sizeof shape - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)t[i]) : t[i] != shape[i])
            return 0;
    return 1;
}

/* The raw text of a member in a compact JSON body ("amount":50.00), to
 * check how numbers are written, which a parsed double cannot show. */
static inline int body_has(const hres *r, const char *text) { return r->body && strstr(r->body, text) != NULL; }

#endif
