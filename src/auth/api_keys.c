#include "auth/api_keys.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/ids.h"
#include "core/ttl_cache.h"
#include "http/server.h"

#define KEY_ID_LEN 16
#define SECRET_LEN 40

enum store_rc api_key_create(struct app *app, const char *merchant_id, const char *service, const char *env,
                             const char *label, char *out, size_t outsz, struct api_key_row *row)
{
    struct api_key_row k;
    memset(&k, 0, sizeof k);
    str_copy(k.merchant_id, sizeof k.merchant_id, merchant_id);
    str_copy(k.service, sizeof k.service, service);
    str_copy(k.env, sizeof k.env, env);
    str_copy(k.label, sizeof k.label, label ? label : "");
    id_random(k.key_id, KEY_ID_LEN, ID_LOWER_ALNUM);
    char secret[SECRET_LEN + 1];
    id_random(secret, SECRET_LEN, ID_ALNUM);
    crypto_hash_secret(secret, k.secret_hash);
    k.created_at = clock_now_ms(app->clock);
    enum store_rc rc = app->store->ops->api_key_insert(app->store, &k);
    if (rc == STORE_OK) {
        snprintf(out, outsz, "rk_%s_%s_%s", env, k.key_id, secret);
        if (row)
            *row = k;
    }
    return rc;
}

int api_key_verify(struct app *app, const char *presented, const char *service, struct api_key_row *row)
{
    if (!presented || strncmp(presented, "rk_", 3) != 0 || strlen(presented) > API_KEY_MAX)
        return -1;
    const char *secret = strrchr(presented, '_');
    if (!secret || secret - presented < KEY_ID_LEN + 1)
        return -1;
    const char *key_id = secret - KEY_ID_LEN;
    if (key_id[-1] != '_')
        return -1;
    char kid[KEY_ID_LEN + 1];
    memcpy(kid, key_id, KEY_ID_LEN);
    kid[KEY_ID_LEN] = '\0';
    secret++;
    if (!id_matches(kid, KEY_ID_LEN, ID_LOWER_ALNUM) || !id_matches(secret, SECRET_LEN, ID_ALNUM))
        return -1;
    struct api_key_row k;
    if (!ttl_cache_get(app->api_keys, kid, &k)) {
        enum store_rc rc = app->store->ops->api_key_get(app->store, kid, &k);
        if (rc == STORE_ERROR)
            return -2;
        if (rc != STORE_OK)
            return -1;
        ttl_cache_put(app->api_keys, kid, &k);
    }
    char hash[65];
    crypto_hash_secret(secret, hash);
    int ok = crypto_equal(hash, k.secret_hash);
    if (!ok || k.revoked_at != 0 || strcmp(k.service, service) != 0)
        return -1;
    /* The environment in the key's text must be the one it was made for. */
    size_t envlen = strlen(k.env);
    if (strncmp(presented + 3, k.env, envlen) != 0 || presented[3 + envlen] != '_')
        return -1;
    if (row)
        *row = k;
    return 0;
}

const char *api_key_from_request(const struct http_req *req)
{
    const char *auth = http_header(req, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        auth += 7;
        while (*auth == ' ')
            auth++;
        return auth;
    }
    return http_header(req, "x-api-key");
}

int api_key_authenticate(struct http_req *req, const char *service)
{
    struct api_key_row k;
    int rc = api_key_verify(req->app, api_key_from_request(req), service, &k);
    if (rc == 0) {
        str_copy(req->merchant_id, sizeof req->merchant_id, k.merchant_id);
        str_copy(req->key_env, sizeof req->key_env, k.env);
    }
    return rc;
}
