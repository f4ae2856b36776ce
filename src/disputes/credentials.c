/* HTTP Basic credentials of the Disputes API. Each merchant has any number
 * of credentials per environment (staging, production), so a password can
 * be rotated by creating a new credential before revoking the old one.
 *
 * The username reads <merchant>.<environment>.<12 random characters>: the
 * merchant and environment it names lead the key of the credential row, so
 * the lookup never scans across merchants. The password is 40 random
 * letters and digits (about 238 bits), generated here and shown once; only
 * its BLAKE2b hash is stored and compared in constant time. A slow password
 * hash would add its cost to every request without making a secret of that
 * size any harder to guess (docs/architecture.md, API keys). */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin/admin.h"
#include "app.h"
#include "core/ttl_cache.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/ids.h"
#include "core/jsonv.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "disputes/disputes_internal.h"

#define CRED_ID_LEN 12
#define PASSWORD_LEN 40

static int env_valid(const char *env) { return strcmp(env, "staging") == 0 || strcmp(env, "production") == 0; }

static enum store_rc credential_create(struct app *app, const char *merchant_id, const char *env, const char *label,
                                       struct dsp_credential_row *row, char password[PASSWORD_LEN + 1])
{
    memset(row, 0, sizeof *row);
    str_copy(row->merchant_id, sizeof row->merchant_id, merchant_id);
    str_copy(row->environment, sizeof row->environment, env);
    str_copy(row->label, sizeof row->label, label ? label : "");
    char id[CRED_ID_LEN + 1];
    id_random(id, CRED_ID_LEN, ID_LOWER_ALNUM);
    snprintf(row->username, sizeof row->username, "%s.%s.%s", merchant_id, env, id);
    id_random(password, PASSWORD_LEN, ID_ALNUM);
    crypto_hash_secret(password, row->secret_hash);
    row->created_at = clock_now_ms(app->clock);
    return app->store->disputes->credential_insert(app->store, row);
}

/* ---- authentication of API requests ---- */

static int unauthorized(http_resp *resp)
{
    dsp_detail(resp, 401, "Unauthorized");
    resp_set_header(resp, "WWW-Authenticate", "Basic realm=\"recoup disputes\", charset=\"UTF-8\"");
    return -1;
}

/* Splits "Basic base64(user:password)". Returns 0 when well formed. */
static int parse_basic(const char *header, char *user, size_t usersz, char *pass, size_t passsz)
{
    if (!header || strncasecmp(header, "Basic ", 6) != 0)
        return -1;
    const char *b64 = header + 6;
    while (*b64 == ' ')
        b64++;
    size_t len = strlen(b64);
    while (len && b64[len - 1] == ' ')
        len--;
    unsigned char raw[256];
    size_t rawlen = 0;
    if (len == 0 || len > 340)
        return -1;
    if (sodium_base642bin(raw, sizeof raw - 1, b64, len, NULL, &rawlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 &&
        sodium_base642bin(raw, sizeof raw - 1, b64, len, NULL, &rawlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0)
        return -1;
    raw[rawlen] = '\0';
    int rc = -1;
    char *colon = memchr(raw, ':', rawlen);
    if (colon && strlen((char *)raw) == rawlen) {
        *colon = '\0';
        rc = str_copy(user, usersz, (char *)raw) == 0 && str_copy(pass, passsz, colon + 1) == 0 ? 0 : -1;
    }
    sodium_memzero(raw, sizeof raw);
    return rc;
}

/* merchant and environment named by a username. */
static int split_username(const char *user, char *merchant, size_t msz, char *env, size_t esz)
{
    const char *dot1 = strchr(user, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || dot1 == user || (size_t)(dot1 - user) >= msz || (size_t)(dot2 - dot1 - 1) >= esz)
        return -1;
    memcpy(merchant, user, (size_t)(dot1 - user));
    merchant[dot1 - user] = '\0';
    memcpy(env, dot1 + 1, (size_t)(dot2 - dot1 - 1));
    env[dot2 - dot1 - 1] = '\0';
    return env_valid(env) && id_matches(dot2 + 1, CRED_ID_LEN, ID_LOWER_ALNUM) ? 0 : -1;
}

int dsp_authenticate(http_req *req, http_resp *resp)
{
    struct app *app = req->app;
    if (!app->store->disputes) {
        dsp_detail(resp, 503, "Service Unavailable");
        return -1;
    }
    char user[DSP_USERNAME_MAX], pass[128], merchant[ID_MAX], env[DSP_ENV_MAX];
    if (parse_basic(http_header(req, "Authorization"), user, sizeof user, pass, sizeof pass) != 0)
        return unauthorized(resp);
    int rc = -1;
    struct dsp_credential_row c;
    if (split_username(user, merchant, sizeof merchant, env, sizeof env) == 0) {
        enum store_rc src = STORE_OK;
        if (!ttl_cache_get(app->disputes_auth, user, &c)) {
            src = app->store->disputes->credential_get(app->store, merchant, env, user, &c);
            if (src == STORE_ERROR) {
                sodium_memzero(pass, sizeof pass);
                dsp_detail(resp, 503, "Service Unavailable");
                return -1;
            }
            if (src == STORE_OK)
                ttl_cache_put(app->disputes_auth, c.username, &c);
        }
        if (src == STORE_OK) {
            char hash[65];
            crypto_hash_secret(pass, hash);
            rc = crypto_equal(hash, c.secret_hash) ? 0 : -1;
        }
    }
    sodium_memzero(pass, sizeof pass);
    if (rc != 0)
        return unauthorized(resp);
    /* The password is right: a revoked credential or a disabled merchant is
     * known and refused, not unknown. */
    if (c.revoked_at != 0 || c.merchant_disabled) {
        str_copy(req->merchant_id, sizeof req->merchant_id, c.merchant_id);
        dsp_detail(resp, 403, "Forbidden");
        return -1;
    }
    str_copy(req->merchant_id, sizeof req->merchant_id, c.merchant_id);
    str_copy(req->key_env, sizeof req->key_env, c.environment);
    return 0;
}

/* ---- admin API ---- */

static cJSON *credential_json(const struct dsp_credential_row *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "username", c->username);
    cJSON_AddStringToObject(o, "merchant_id", c->merchant_id);
    cJSON_AddStringToObject(o, "environment", c->environment);
    cJSON_AddStringToObject(o, "label", c->label);
    cJSON_AddItemToObject(o, "created_at", dsp_time_json(c->created_at));
    cJSON_AddItemToObject(o, "revoked_at", c->revoked_at ? dsp_time_json(c->revoked_at) : cJSON_CreateNull());
    return o;
}


static int disputes_store(http_req *req, http_resp *resp)
{
    if (req->app->store->disputes)
        return 1;
    resp_message(resp, 501, "This storage backend does not hold Disputes data", NULL);
    return 0;
}

void disputes_admin_credentials_list(http_req *req, http_resp *resp)
{
    if (!disputes_store(req, resp) || !admin_merchant_exists(req, resp))
        return;
    struct dsp_credential_row *rows = NULL;
    size_t n = 0;
    if (req->app->store->disputes->credential_list(req->app->store, http_param(req, 0), &rows, &n) != STORE_OK) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, credential_json(&rows[i]));
    free(rows);
    resp_json(resp, 200, arr);
}

static const char *check_env(const cJSON *v) { return env_valid(v->valuestring) ? NULL : "must be staging or production"; }

void disputes_admin_credentials_create(http_req *req, http_resp *resp)
{
    if (!disputes_store(req, resp))
        return;
    verrs e;
    verrs_init(&e);
    const struct jv_field fields[] = {
        {"environment", JV_STRING, JV_REQUIRED, 16, check_env},
        {"label", JV_STRING, JV_ALLOW_EMPTY | JV_NULLABLE, 63, NULL},
    };
    if (!cJSON_IsObject(req->json))
        verrs_add(&e, "body", "must be a JSON object");
    else
        jv_check(req->json, "", fields, 2, 1, &e);
    if (e.count) {
        resp_message(resp, 400, "Invalid request body", verrs_take(&e));
        return;
    }
    verrs_free(&e);
    struct dsp_credential_row row;
    char password[PASSWORD_LEN + 1];
    enum store_rc rc = credential_create(req->app, http_param(req, 0), jv_get_string(req->json, "environment"),
                                         jv_get_string(req->json, "label"), &row, password);
    if (rc == STORE_NOT_FOUND) {
        resp_message(resp, 404, "No such merchant", NULL);
        return;
    }
    if (rc != STORE_OK) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    cJSON *o = credential_json(&row);
    cJSON_AddStringToObject(o, "password", password);
    sodium_memzero(password, sizeof password);
    char url[256];
    app_listener_url(req->app, "api", url, sizeof url);
    str_copy(url + strlen(url), sizeof url - strlen(url), "/v1/analytics");
    cJSON_AddStringToObject(o, "url", url);
    cJSON_AddStringToObject(o, "note", "the password is shown once; only its hash is stored");
    resp_json(resp, 201, o);
}

void disputes_admin_credentials_revoke(http_req *req, http_resp *resp)
{
    if (!disputes_store(req, resp))
        return;
    enum store_rc rc = req->app->store->disputes->credential_revoke(req->app->store, http_param(req, 0),
                                                                    http_param(req, 1), clock_now_ms(req->app->clock));
    ttl_cache_clear(req->app->disputes_auth);
    if (rc == STORE_NOT_FOUND)
        resp_message(resp, 404, "No such active credential for this merchant", NULL);
    else if (rc != STORE_OK)
        resp_message(resp, 500, "Internal server error", NULL);
    else
        resp_message(resp, 200, "revoked", NULL);
}

void disputes_admin_merchant_set(http_req *req, http_resp *resp)
{
    if (!disputes_store(req, resp))
        return;
    verrs e;
    verrs_init(&e);
    const struct jv_field fields[] = {{"enabled", JV_BOOL, JV_REQUIRED, 0, NULL}};
    if (!cJSON_IsObject(req->json))
        verrs_add(&e, "body", "must be a JSON object");
    else
        jv_check(req->json, "", fields, 1, 1, &e);
    if (e.count) {
        resp_message(resp, 400, "Invalid request body", verrs_take(&e));
        return;
    }
    verrs_free(&e);
    if (!admin_merchant_exists(req, resp))
        return;
    int enabled = cJSON_IsTrue(jv_get(req->json, "enabled"));
    enum store_rc rc = req->app->store->disputes->merchant_set_disabled(req->app->store, http_param(req, 0), !enabled,
                                                                        clock_now_ms(req->app->clock));
    ttl_cache_clear(req->app->disputes_auth);
    if (rc != STORE_OK) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "merchant_id", http_param(req, 0));
    cJSON_AddBoolToObject(o, "enabled", enabled);
    resp_json(resp, 200, o);
}

void disputes_admin_purge(http_req *req, http_resp *resp)
{
    if (!disputes_store(req, resp))
        return;
    int64_t cutoff = 0;
    int64_t n = disputes_purge_now(req->app, &cutoff);
    if (n < 0) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "purged", (double)n);
    cJSON_AddItemToObject(o, "cutoff", dsp_time_json(cutoff));
    cJSON_AddNumberToObject(o, "retention_months", (double)req->app->disputes.retention_months);
    resp_json(resp, 200, o);
}

/* ---- sandbox ---- */

int disputes_sandbox_wanted(const struct app *app) { return app->serve_disputes && app->store->disputes != NULL; }

int disputes_sandbox_section(struct app *app, cJSON *section, char *err, size_t errsz)
{
    struct dsp_credential_row row;
    char password[PASSWORD_LEN + 1];
    if (credential_create(app, "sandbox", "staging", "created on first start", &row, password) != STORE_OK) {
        snprintf(err, errsz, "cannot create the sandbox disputes credential");
        return -1;
    }
    char url[256];
    app_listener_url(app, "api", url, sizeof url);
    str_copy(url + strlen(url), sizeof url - strlen(url), "/v1/analytics");
    cJSON_AddStringToObject(section, "username", row.username);
    cJSON_AddStringToObject(section, "password", password);
    cJSON_AddStringToObject(section, "url", url);
    cJSON_AddStringToObject(section, "environment", "staging");
    sodium_memzero(password, sizeof password);
    printf("sandbox Disputes username (staging): %s\n", row.username);
    return 0;
}
