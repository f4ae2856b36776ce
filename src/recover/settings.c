/* Recover's settings per merchant, on the admin listener: dunning window,
 * retry limit, time zone, the merchant's endpoints and how recoup
 * authenticates to them, and the webhook signing secret. Secrets are
 * sealed at rest and never shown again after they are set. */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin/admin.h"
#include "app.h"
#include "auth/api_keys.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/jsonout.h"
#include "core/jsonv.h"
#include "recover/recover.h"

#define DEFAULT_DUNNING_DAYS 30
#define DEFAULT_MAX_RETRIES 8

static void defaults(const char *merchant_id, struct rc_settings *s)
{
    memset(s, 0, sizeof *s);
    str_copy(s->merchant_id, sizeof s->merchant_id, merchant_id);
    s->dunning_days = DEFAULT_DUNNING_DAYS;
    s->max_retries = DEFAULT_MAX_RETRIES;
    str_copy(s->timezone, sizeof s->timezone, "UTC");
    str_copy(s->integration, sizeof s->integration, "psp");
    str_copy(s->merchant_auth, sizeof s->merchant_auth, "none");
}

enum store_rc recover_settings_load(struct app *app, const char *merchant_id, struct rc_settings *out)
{
    enum store_rc rc = app->store->recover->settings_get(app->store, merchant_id, out);
    if (rc == STORE_NOT_FOUND) {
        defaults(merchant_id, out);
        return STORE_OK;
    }
    return rc;
}

/* 32 random bytes as hex: the shared secret for HMAC-SHA256 signatures. */
static int new_webhook_secret(struct app *app, struct rc_settings *s, char *secret_out, size_t secret_sz)
{
    unsigned char raw[32];
    char hex[65];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    char *sealed = crypto_seal_text(app->card_key, hex);
    if (!sealed)
        return -1;
    str_copy(s->webhook_secret, sizeof s->webhook_secret, sealed);
    free(sealed);
    str_copy(secret_out, secret_sz, hex);
    sodium_memzero(hex, sizeof hex);
    return 0;
}

enum store_rc recover_settings_init(struct app *app, const char *merchant_id, char *secret_out, size_t secret_sz)
{
    struct rc_settings s;
    enum store_rc rc = recover_settings_load(app, merchant_id, &s);
    if (rc != STORE_OK)
        return rc;
    if (new_webhook_secret(app, &s, secret_out, secret_sz) != 0)
        return STORE_ERROR;
    s.updated_at = clock_now_ms(app->clock);
    return app->store->recover->settings_put(app->store, &s);
}

enum store_rc recover_settings_own_gateway(struct app *app, const char *merchant_id)
{
    struct rc_settings s;
    enum store_rc rc = recover_settings_load(app, merchant_id, &s);
    if (rc != STORE_OK)
        return rc;
    char key[API_KEY_MAX];
    rc = api_key_create(app, merchant_id, "gateway", "sandbox", "Recover's retries", key, sizeof key, NULL);
    if (rc != STORE_OK)
        return rc;
    char *sealed = crypto_seal_text(app->card_key, key);
    sodium_memzero(key, sizeof key);
    if (!sealed)
        return STORE_ERROR;
    str_copy(s.psp_api_key, sizeof s.psp_api_key, sealed);
    free(sealed);
    s.updated_at = clock_now_ms(app->clock);
    return app->store->recover->settings_put(app->store, &s);
}

enum store_rc recover_settings_sandbox(struct app *app, const char *merchant_id, char *secret_out, size_t secret_sz)
{
    struct rc_settings s;
    enum store_rc rc = recover_settings_load(app, merchant_id, &s);
    if (rc != STORE_OK)
        return rc;
    if (s.webhook_secret[0]) {
        char *plain = crypto_open_text(app->card_key, s.webhook_secret);
        if (!plain)
            return STORE_ERROR; /* sealed with another key: this node's card key differs */
        str_copy(secret_out, secret_sz, plain);
        sodium_memzero(plain, strlen(plain));
        free(plain);
    } else if ((rc = recover_settings_init(app, merchant_id, secret_out, secret_sz)) != STORE_OK) {
        return rc;
    }
    return s.psp_api_key[0] ? STORE_OK : recover_settings_own_gateway(app, merchant_id);
}

static cJSON *settings_json(const struct rc_settings *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "merchant_id", s->merchant_id);
    cJSON_AddNumberToObject(o, "dunning_days", (double)s->dunning_days);
    cJSON_AddNumberToObject(o, "max_retries", (double)s->max_retries);
    cJSON_AddStringToObject(o, "timezone", s->timezone);
    cJSON_AddStringToObject(o, "integration", s->integration);
    cJSON_AddItemToObject(o, "retry_status_url", json_str_or_null(s->retry_status_url));
    cJSON_AddItemToObject(o, "retry_results_url", json_str_or_null(s->retry_results_url));
    cJSON_AddItemToObject(o, "end_of_dunning_url", json_str_or_null(s->end_of_dunning_url));
    cJSON_AddBoolToObject(o, "end_of_dunning_enabled", s->end_of_dunning_enabled);
    cJSON *auth = cJSON_AddObjectToObject(o, "merchant_auth");
    cJSON_AddStringToObject(auth, "type", s->merchant_auth);
    cJSON_AddItemToObject(auth, "username", json_str_or_null(s->merchant_auth_username));
    cJSON_AddBoolToObject(auth, "secret_set", s->merchant_auth_secret[0] != '\0');
    cJSON_AddBoolToObject(o, "webhook_signing_secret_set", s->webhook_secret[0] != '\0');
    cJSON_AddItemToObject(o, "platform_retry_url", json_str_or_null(s->platform_retry_url));
    cJSON_AddItemToObject(o, "psp_url", json_str_or_null(s->psp_url));
    cJSON_AddBoolToObject(o, "psp_api_key_set", s->psp_api_key[0] != '\0');
    cJSON_AddItemToObject(o, "updated_at", json_time(s->updated_at != 0, s->updated_at));
    return o;
}


static void settings_get(http_req *req, http_resp *resp)
{
    if (!admin_merchant_exists(req, resp))
        return;
    struct rc_settings s;
    if (recover_settings_load(req->app, http_param(req, 0), &s) != STORE_OK) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    resp_json(resp, 200, settings_json(&s));
}

static const char *check_url(const cJSON *v)
{
    const char *u = v->valuestring;
    if (*u == '\0')
        return NULL; /* "" clears it */
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return "must be an http:// or https:// URL";
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return "must not contain spaces or control characters";
    return NULL;
}

/* An IANA time zone name that this machine's zone database knows. */
static const char *check_timezone(const cJSON *v)
{
    const char *tz = v->valuestring;
    if (strcmp(tz, "UTC") == 0)
        return NULL;
    for (const char *p = tz; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '/' || *p == '_' || *p == '-' || *p == '+'))
            return "must be an IANA time zone name such as Europe/Lisbon";
    if (tz[0] == '/' || strstr(tz, ".."))
        return "must be an IANA time zone name such as Europe/Lisbon";
    struct stat st;
    if (stat("/usr/share/zoneinfo", &st) == 0) {
        char path[256];
        snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
        /* Zone files start with the magic "TZif"; the database directory
         * also holds other files (leapseconds, zone.tab). */
        FILE *f = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? fopen(path, "rb") : NULL;
        char magic[4] = {0};
        size_t got = f ? fread(magic, 1, sizeof magic, f) : 0;
        if (f)
            fclose(f);
        if (got != 4 || memcmp(magic, "TZif", 4) != 0)
            return "is not a known IANA time zone";
    }
    return NULL;
}

static const char *check_integration(const cJSON *v)
{
    return strcmp(v->valuestring, "psp") == 0 || strcmp(v->valuestring, "platform") == 0 ? NULL
                                                                                           : "must be psp or platform";
}

static const char *check_auth(const cJSON *v)
{
    const char *t = v->valuestring;
    return strcmp(t, "none") == 0 || strcmp(t, "basic") == 0 || strcmp(t, "api_key") == 0 ||
                   strcmp(t, "signing") == 0
               ? NULL
               : "must be none, basic, api_key or signing";
}

static const char *check_days(const cJSON *v)
{
    return v->valuedouble >= 1 && v->valuedouble <= 365 ? NULL : "must be from 1 to 365";
}

static const char *check_retries(const cJSON *v)
{
    return v->valuedouble >= 0 && v->valuedouble <= 100 ? NULL : "must be from 0 to 100";
}

static const struct jv_field settings_fields[] = {
    {"dunning_days", JV_INT, 0, 0, check_days},
    {"max_retries", JV_INT, 0, 0, check_retries},
    {"timezone", JV_STRING, 0, 63, check_timezone},
    {"integration", JV_STRING, 0, 15, check_integration},
    {"retry_status_url", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, RC_URL_MAX - 1, check_url},
    {"retry_results_url", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, RC_URL_MAX - 1, check_url},
    {"end_of_dunning_url", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, RC_URL_MAX - 1, check_url},
    {"end_of_dunning_enabled", JV_BOOL, 0, 0, NULL},
    {"merchant_auth", JV_STRING, 0, 15, check_auth},
    {"merchant_auth_username", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, 255, NULL},
    {"merchant_auth_secret", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, 255, NULL},
    {"platform_retry_url", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, RC_URL_MAX - 1, check_url},
    {"psp_url", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, RC_URL_MAX - 1, check_url},
    {"psp_api_key", JV_STRING, JV_NULLABLE | JV_ALLOW_EMPTY, 255, NULL},
};

static void take_url(char *dst, size_t dstsz, const cJSON *body, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
    if (cJSON_IsNull(v))
        dst[0] = '\0';
    else if (cJSON_IsString(v))
        str_copy(dst, dstsz, v->valuestring);
}

/* A secret sent in the body, sealed; null or "" clears it. */
static int take_secret(struct app *app, char *dst, size_t dstsz, const cJSON *body, const char *name)
{
    const cJSON *secret = cJSON_GetObjectItemCaseSensitive(body, name);
    if (cJSON_IsNull(secret) || (cJSON_IsString(secret) && !*secret->valuestring)) {
        dst[0] = '\0';
    } else if (cJSON_IsString(secret)) {
        char *sealed = crypto_seal_text(app->card_key, secret->valuestring);
        if (!sealed)
            return -1;
        str_copy(dst, dstsz, sealed);
        free(sealed);
    }
    return 0;
}

/* PUT: a partial update; fields not sent keep their values. */
static void settings_put(http_req *req, http_resp *resp)
{
    if (!admin_merchant_exists(req, resp))
        return;
    struct app *app = req->app;
    verrs e;
    verrs_init(&e);
    const cJSON *body = req->json;
    if (!cJSON_IsObject(body))
        verrs_add(&e, "body", "must be a JSON object");
    else
        jv_check(body, "", settings_fields, sizeof settings_fields / sizeof settings_fields[0], 1, &e);
    if (e.count) {
        resp_message(resp, 400, "Invalid request body", verrs_take(&e));
        return;
    }
    struct rc_settings s;
    if (recover_settings_load(app, http_param(req, 0), &s) != STORE_OK) {
        verrs_free(&e);
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    const cJSON *v;
    if ((v = jv_get(body, "dunning_days")))
        s.dunning_days = (int64_t)v->valuedouble;
    if ((v = jv_get(body, "max_retries")))
        s.max_retries = (int64_t)v->valuedouble;
    if ((v = jv_get(body, "timezone")))
        str_copy(s.timezone, sizeof s.timezone, v->valuestring);
    if ((v = jv_get(body, "integration")))
        str_copy(s.integration, sizeof s.integration, v->valuestring);
    take_url(s.retry_status_url, sizeof s.retry_status_url, body, "retry_status_url");
    take_url(s.retry_results_url, sizeof s.retry_results_url, body, "retry_results_url");
    take_url(s.end_of_dunning_url, sizeof s.end_of_dunning_url, body, "end_of_dunning_url");
    if ((v = jv_get(body, "end_of_dunning_enabled")))
        s.end_of_dunning_enabled = cJSON_IsTrue(v);
    if ((v = jv_get(body, "merchant_auth")))
        str_copy(s.merchant_auth, sizeof s.merchant_auth, v->valuestring);
    take_url(s.merchant_auth_username, sizeof s.merchant_auth_username, body, "merchant_auth_username");
    take_url(s.platform_retry_url, sizeof s.platform_retry_url, body, "platform_retry_url");
    take_url(s.psp_url, sizeof s.psp_url, body, "psp_url");
    if (take_secret(app, s.merchant_auth_secret, sizeof s.merchant_auth_secret, body, "merchant_auth_secret") != 0 ||
        take_secret(app, s.psp_api_key, sizeof s.psp_api_key, body, "psp_api_key") != 0) {
        verrs_free(&e);
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    /* Rules across fields, on the result of the update. */
    if (strcmp(s.merchant_auth, "basic") == 0 && (!s.merchant_auth_username[0] || !s.merchant_auth_secret[0]))
        verrs_add(&e, "merchant_auth", "basic needs merchant_auth_username and merchant_auth_secret");
    if ((strcmp(s.merchant_auth, "api_key") == 0 || strcmp(s.merchant_auth, "signing") == 0) &&
        !s.merchant_auth_secret[0])
        verrs_add(&e, "merchant_auth", "%s needs merchant_auth_secret", s.merchant_auth);
    if (strcmp(s.integration, "platform") == 0 && !s.platform_retry_url[0])
        verrs_add(&e, "integration", "platform needs platform_retry_url");
    if (s.end_of_dunning_enabled && !s.end_of_dunning_url[0])
        verrs_add(&e, "end_of_dunning_enabled", "needs end_of_dunning_url");
    if (e.count) {
        resp_message(resp, 400, "Invalid request body", verrs_take(&e));
        return;
    }
    verrs_free(&e);
    char secret_out[80] = "";
    if (!s.webhook_secret[0] && new_webhook_secret(app, &s, secret_out, sizeof secret_out) != 0) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    s.updated_at = clock_now_ms(app->clock);
    if (app->store->recover->settings_put(app->store, &s) != STORE_OK) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    cJSON *o = settings_json(&s);
    if (secret_out[0]) {
        cJSON_AddStringToObject(o, "webhook_signing_secret", secret_out);
        cJSON_AddStringToObject(o, "note", "the webhook signing secret is shown once");
    }
    sodium_memzero(secret_out, sizeof secret_out);
    resp_json(resp, 200, o);
}

static void webhook_secret_rotate(http_req *req, http_resp *resp)
{
    if (!admin_merchant_exists(req, resp))
        return;
    char secret[80];
    if (recover_settings_init(req->app, http_param(req, 0), secret, sizeof secret) != STORE_OK) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "merchant_id", http_param(req, 0));
    cJSON_AddStringToObject(o, "webhook_signing_secret", secret);
    cJSON_AddStringToObject(o, "note", "the secret is shown once; webhooks are signed with it from now on");
    sodium_memzero(secret, sizeof secret);
    resp_json(resp, 200, o);
}

static void admin_invoice_get(http_req *req, http_resp *resp)
{
    if (!admin_merchant_exists(req, resp))
        return;
    const char *env = http_query(req, "env");
    if (!env)
        env = "sandbox";
    if (strcmp(env, "sandbox") != 0 && strcmp(env, "production") != 0) {
        resp_message(resp, 400, "env must be sandbox or production", NULL);
        return;
    }
    recover_invoice_answer(req->app, http_param(req, 0), env, http_param(req, 1), resp);
}

const struct route recover_admin_routes[] = {
    {"GET", "/admin/merchants/{id}/recover", settings_get, 0},
    {"PUT", "/admin/merchants/{id}/recover", settings_put, ROUTE_JSON_BODY},
    {"POST", "/admin/merchants/{id}/recover/webhook-secret", webhook_secret_rotate, ROUTE_RAW_BODY},
    {"GET", "/admin/merchants/{id}/recover/invoices/{invoice}", admin_invoice_get, 0},
};
const size_t recover_admin_routes_count = sizeof recover_admin_routes / sizeof recover_admin_routes[0];
