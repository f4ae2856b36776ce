/* Shared pieces of the Disputes API tests: HTTP Basic requests, the sandbox
 * credential from sandbox.json, credentials made through the admin API,
 * record bodies and assertions on the {"detail": ...} answers. Header-only
 * (static inline) so that each test stays one translation unit. */
#ifndef RECOUP_TESTS_DSP_HELPERS_H
#define RECOUP_TESTS_DSP_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define D_CHECK(r, cond)                                                                                        \
    do {                                                                                                         \
        if (!(cond))                                                                                             \
            fail_msg("%s:%d: %s\n  status %ld, body: %.3000s", __FILE__, __LINE__, #cond, (r)->status,         \
                     (r)->body ? (r)->body : "(none)");                                                          \
    } while (0)

#define D_STATUS(r, want) D_CHECK(r, (r)->status == (want))

struct dsp_cred {
    char user[128];
    char pass[200];
};

static inline char *dsp_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *b = calloc(1, 65536);
    size_t n = b ? fread(b, 1, 65535, f) : 0;
    (void)n;
    fclose(f);
    return b;
}

/* The sandbox's staging credential, from sandbox.json. */
static inline void dsp_sandbox_cred(const rserver *s, struct dsp_cred *c)
{
    char path[320];
    snprintf(path, sizeof path, "%s/sandbox.json", s->dir);
    char *text = dsp_read_file(path);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *d = cJSON_GetObjectItem(j, "disputes");
    if (!jstr(d, "username") || !jstr(d, "password"))
        fail_msg("sandbox.json has no disputes credential");
    snprintf(c->user, sizeof c->user, "%s", jstr(d, "username"));
    snprintf(c->pass, sizeof c->pass, "%s", jstr(d, "password"));
    cJSON_Delete(j);
}

static inline void dsp_basic_header(const char *user, const char *pass, char *out, size_t outsz)
{
    char raw[400];
    snprintf(raw, sizeof raw, "%s:%s", user, pass);
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char b64[560];
    size_t n = strlen(raw), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)raw[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)(unsigned char)raw[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)raw[i + 2];
        b64[o++] = tbl[(v >> 18) & 63];
        b64[o++] = tbl[(v >> 12) & 63];
        b64[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        b64[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    b64[o] = '\0';
    snprintf(out, outsz, "Authorization: Basic %s", b64);
}

/* A request with the credential (NULL: none) and Content-Type: application/json. */
static inline hres *dsp_do(const rserver *s, const struct dsp_cred *c, const char *method, const char *path,
                           const char *body)
{
    char auth[700];
    const char *headers[4];
    int n = 0;
    if (c) {
        dsp_basic_header(c->user, c->pass, auth, sizeof auth);
        headers[n++] = auth;
    }
    headers[n++] = "Content-Type: application/json";
    headers[n] = NULL;
    return http_do(method, s->api, path, headers, body);
}

/* Creates the merchant (an existing one is reused) and a credential for it. */
static inline void dsp_make_cred(const rserver *s, const char *merchant, const char *env, struct dsp_cred *c)
{
    static const char *const json[] = {"Content-Type: application/json", NULL};
    char body[256];
    snprintf(body, sizeof body, "{\"merchant_id\":\"%s\",\"name\":\"Merchant %s\"}", merchant, merchant);
    hres *r = http_do("POST", s->admin, "/admin/merchants", json, body);
    if (r->status != 201 && r->status != 409)
        fail_msg("merchant create: %ld %s", r->status, r->body);
    hres_free(r);
    char path[200];
    snprintf(path, sizeof path, "/admin/merchants/%s/disputes/credentials", merchant);
    snprintf(body, sizeof body, "{\"environment\":\"%s\",\"label\":\"test\"}", env);
    r = http_do("POST", s->admin, path, json, body);
    if (r->status != 201 || !jstr(r->json, "username") || !jstr(r->json, "password"))
        fail_msg("credential create: %ld %s", r->status, r->body);
    snprintf(c->user, sizeof c->user, "%s", jstr(r->json, "username"));
    snprintf(c->pass, sizeof c->pass, "%s", jstr(r->json, "password"));
    hres_free(r);
}

/* Posts a record; asserts 200 and returns its id (malloc'd). */
static inline char *dsp_store(const rserver *s, const struct dsp_cred *c, const char *body)
{
    hres *r = dsp_do(s, c, "POST", "/v1/analytics", body);
    if (r->status != 200 || !jstr(r->json, "id") || strcmp(jstr(r->json, "status"), "ok") != 0)
        fail_msg("store record: %ld %s\n  body sent: %s", r->status, r->body, body);
    char *id = strdup(jstr(r->json, "id"));
    hres_free(r);
    return id;
}

/* Whether a 422 body lists an error at ["body", field] (field NULL: ["body"])
 * with this type; every entry must have loc, msg and type. */
static inline int dsp_has_error(const cJSON *body, const char *field, const char *type)
{
    const cJSON *detail = cJSON_GetObjectItem(body, "detail");
    if (!cJSON_IsArray(detail) || cJSON_GetArraySize(detail) == 0)
        return 0;
    int found = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, detail)
    {
        const cJSON *loc = cJSON_GetObjectItem(it, "loc");
        const char *msg = jstr(it, "msg"), *t = jstr(it, "type");
        if (!cJSON_IsArray(loc) || !msg || !*msg || !t)
            return 0;
        const char *first = cJSON_GetStringValue(cJSON_GetArrayItem(loc, 0));
        if (!first || strcmp(first, "body") != 0)
            return 0;
        const char *f = cJSON_GetStringValue(cJSON_GetArrayItem(loc, 1));
        int loc_ok = field ? (f && strcmp(f, field) == 0) : cJSON_GetArraySize(loc) == 1;
        if (loc_ok && strcmp(t, type) == 0)
            found = 1;
    }
    return found;
}

#define D_422(r, field, type)                                                                                   \
    do {                                                                                                         \
        D_STATUS(r, 422);                                                                                        \
        if (!dsp_has_error((r)->json, field, type))                                                              \
            fail_msg("%s:%d: no %s error at %s\n  body: %.3000s", __FILE__, __LINE__, type,                      \
                     (field) ? (const char *)(field) : "body", (r)->body);                                        \
    } while (0)

/* {"detail": text} exactly. */
#define D_DETAIL(r, want_status, text)                                                                           \
    do {                                                                                                         \
        D_STATUS(r, want_status);                                                                                \
        D_CHECK(r, cJSON_GetArraySize((r)->json) == 1 && jstr((r)->json, "detail") &&                            \
                       strcmp(jstr((r)->json, "detail"), text) == 0);                                            \
    } while (0)

/* ISO-8601 UTC for now minus days (at the current time of day). */
static inline void dsp_days_ago(int days, char *out, size_t outsz)
{
    time_t t = time(NULL) - (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

#endif
