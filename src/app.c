#include "app.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "auth/api_keys.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "core/ttl_cache.h"
#include "disputes/disputes.h"
#include "gateway/gateway.h"
#include "recover/recover.h"
#include "recover/retries.h"
#include "recover/webhooks.h"
#include "http/server.h"
#include "store/store.h"

void app_data_path(const struct app *app, const char *name, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s/%s", app->data_dir, name);
}

/* How long a verified credential is trusted without a store read: a
 * revocation reaches the other nodes of a cluster within this. */
#define AUTH_CACHE_TTL_MS 1000

static int mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    if (str_copy(tmp, sizeof tmp, path) != 0)
        return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static int has_service(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *end = p + strcspn(p, ", ");
        if ((size_t)(end - p) == n && strncmp(p, name, n) == 0)
            return 1;
        p = end;
    }
    return 0;
}

static int check_services(const char *list, char *err, size_t errsz)
{
    for (const char *p = list; p && *p;) {
        while (*p == ',' || *p == ' ')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, ", ");
        if (!((n == 7 && strncmp(p, "gateway", 7) == 0) || (n == 7 && strncmp(p, "recover", 7) == 0) ||
              (n == 8 && strncmp(p, "disputes", 8) == 0))) {
            snprintf(err, errsz, "setting services: unknown service '%.*s' (gateway, recover, disputes)", (int)n, p);
            return -1;
        }
        p += n;
    }
    return 0;
}

#define GET_INT(name, min, max, dst)                                                  \
    do {                                                                              \
        int64_t v_;                                                                   \
        if (config_get_int(cfg, name, min, max, &v_, err, errsz) != 0)                \
            return -1;                                                                \
        dst = v_;                                                                     \
    } while (0)

static int read_settings(struct app *app, config *cfg, char *err, size_t errsz)
{
    enum log_level lvl;
    if (log_parse_level(config_get(cfg, "log_level"), &lvl) != 0) {
        snprintf(err, errsz, "setting log_level must be debug, info, warn or error");
        return -1;
    }
    log_set_level(lvl);
    if (str_copy(app->data_dir, sizeof app->data_dir, config_get(cfg, "data_dir")) != 0 || !app->data_dir[0]) {
        snprintf(err, errsz, "setting data_dir is empty or too long");
        return -1;
    }
    GET_INT("http_threads", 1, 1024, app->http.threads);
    GET_INT("max_connections", 1, 1000000, app->http.max_connections);
    GET_INT("max_body_bytes", 1024, 64 * 1024 * 1024, app->http.max_body_bytes);
    GET_INT("max_url_bytes", 256, 65536, app->http.max_url_bytes);
    GET_INT("max_header_bytes", 4096, 1024 * 1024, app->http.max_header_bytes);
    GET_INT("idle_timeout", 1, 3600, app->http.idle_timeout_s);
    GET_INT("shutdown_timeout", 0, 3600, app->shutdown_timeout_s);
    GET_INT("settlement_interval", 0, 365LL * 86400, app->gateway.settlement_interval_s);
    GET_INT("fee_fixed", 0, 1000000000, app->gateway.fee_fixed_minor);
    GET_INT("fee_bps", 0, 10000, app->gateway.fee_bps);
    GET_INT("idempotency_ttl", 60, 365LL * 86400, app->gateway.idempotency_ttl_s);
    GET_INT("disputes_retention_months", 1, 1200, app->disputes.retention_months);
    GET_INT("disputes_purge_interval", 0, 365LL * 86400, app->disputes.purge_interval_s);
    GET_INT("disputes_ce3_min_days", 1, 3650, app->disputes.ce3_min_days);
    GET_INT("disputes_ce3_max_days", 1, 3650, app->disputes.ce3_max_days);
    GET_INT("disputes_ce3_min_prior", 1, 100, app->disputes.ce3_min_prior);
    GET_INT("retry_workers", 1, 256, app->retry.workers);
    GET_INT("retry_lease", 10, 86400, app->retry.lease_s);
    GET_INT("retry_postpone", 1, 7 * 86400, app->retry.postpone_s);
    GET_INT("merchant_connect_timeout_ms", 10, 60000, app->retry.merchant_connect_timeout_ms);
    GET_INT("merchant_timeout_ms", 10, 300000, app->retry.merchant_timeout_ms);
    GET_INT("psp_timeout_ms", 10, 300000, app->retry.psp_timeout_ms);
    GET_INT("webhook_retry_interval", 1, 365LL * 86400, app->webhooks.retry_interval_s);
    GET_INT("webhook_retry_for", 0, 365LL * 86400, app->webhooks.retry_for_s);
    GET_INT("webhook_expiry", 1, 365LL * 86400, app->webhooks.expiry_s);
    GET_INT("webhook_connect_timeout_ms", 10, 60000, app->webhooks.connect_timeout_ms);
    GET_INT("webhook_timeout_ms", 10, 300000, app->webhooks.timeout_ms);
    GET_INT("webhook_concurrency", 1, 4096, app->webhooks.concurrency);
    if (app->disputes.ce3_min_days > app->disputes.ce3_max_days) {
        snprintf(err, errsz, "setting disputes_ce3_min_days must not exceed disputes_ce3_max_days");
        return -1;
    }
    /* A bad rules file stops start-up: retrying outside the networks' rules costs fees. */
    if (nr_rules_load(&app->network_rules, config_get(cfg, "network_rules_file"), err, errsz) != 0)
        return -1;
    const char *services = config_get(cfg, "services");
    if (check_services(services, err, errsz) != 0)
        return -1;
    app->serve_gateway = has_service(services, "gateway");
    app->serve_recover = has_service(services, "recover");
    app->serve_disputes = has_service(services, "disputes");
    const char *role = config_get(cfg, "role");
    if (strcmp(role, "all") != 0 && strcmp(role, "api") != 0 && strcmp(role, "worker") != 0) {
        snprintf(err, errsz, "setting role must be api, worker or all");
        return -1;
    }
    app->run_api = strcmp(role, "worker") != 0;
    app->run_workers = strcmp(role, "api") != 0;
    const char *admin = config_get(cfg, "admin_address");
    if (strcmp(admin, "127.0.0.1") != 0 && strcmp(admin, "::1") != 0 && strncmp(admin, "127.", 4) != 0) {
        snprintf(err, errsz, "setting admin_address must be a loopback address (127.0.0.0/8 or ::1): the admin "
                             "listener has no authentication of its own");
        return -1;
    }
    const char *clk = config_get(cfg, "clock");
    if (strcmp(clk, "real") == 0) {
        app->clock = clock_new_real();
    } else if (strcmp(clk, "virtual") == 0) {
        /* A virtual clock may start in the past, so that recorded data
         * (test fixtures, a replayed month) is still inside its windows. */
        const char *start = config_get(cfg, "clock_start");
        int64_t start_ms = 0;
        if (start && *start && time_parse_iso8601_strict(start, &start_ms) != 0) {
            snprintf(err, errsz, "setting clock_start must be an ISO-8601 time such as 2026-03-01T00:00:00Z");
            return -1;
        }
        app->clock = clock_new_virtual(start_ms);
    } else {
        snprintf(err, errsz, "setting clock must be real or virtual");
        return -1;
    }
    return 0;
}

/* Whether a database has no merchant yet; when unsure, it is not empty, so
 * that a missing card key is never replaced by a new one. */
static int database_is_empty(store *s)
{
    struct merchant_row *m = NULL;
    size_t n = 0;
    if (s->ops->merchant_list(s, &m, &n) != STORE_OK)
        return 0;
    free(m);
    return n == 0;
}

int app_open(struct app *app, config *cfg, char *err, size_t errsz)
{
    memset(app, 0, sizeof *app);
    app->cfg = cfg;
    pthread_mutex_init(&app->worker_mu, NULL);
    if (crypto_init() != 0) {
        snprintf(err, errsz, "libsodium could not be initialised");
        return -1;
    }
    if (read_settings(app, cfg, err, errsz) != 0)
        return -1;
    if (mkdir_p(app->data_dir) != 0) {
        snprintf(err, errsz, "cannot create data directory %s: %s", app->data_dir, strerror(errno));
        return -1;
    }
    const char *sp = config_get(cfg, "sqlite_path");
    char dbpath[PATH_MAX];
    if (sp && *sp)
        str_copy(dbpath, sizeof dbpath, sp);
    else
        app_data_path(app, "recoup.db", dbpath, sizeof dbpath);

    /* A new key is made only with a new database: a key missing beside an
     * existing database means stored card numbers would become unreadable,
     * which must stop the start, not be papered over. */
    char path[PATH_MAX];
    const char *kf = config_get(cfg, "card_key_file");
    if (kf && *kf)
        str_copy(path, sizeof path, kf);
    else
        app_data_path(app, "card.key", path, sizeof path);
    const char *kind = config_get(cfg, "store");
    int on_postgres = strcmp(kind, "postgres") == 0;
    int64_t batch, pool;
    if (config_get_int(cfg, "commit_batch_max", 1, 100000, &batch, err, errsz) != 0 ||
        config_get_int(cfg, "pg_pool_size", 1, 10000, &pool, err, errsz) != 0)
        return -1;
    struct store_options opt = {.sqlite_path = dbpath, .commit_batch_max = (int)batch,
                                .database_url = config_get(cfg, "database_url"), .pg_pool_size = (int)pool};
    /* A PostgreSQL database is new when it holds no merchant yet, so it is
     * opened (and migrated) before the key is loaded. */
    if (on_postgres && !(app->store = store_open(kind, &opt, err, errsz)))
        return -1;
    int fresh_database = on_postgres ? database_is_empty(app->store) : access(dbpath, F_OK) != 0;
    if (crypto_load_or_create_key(path, fresh_database, app->card_key, err, errsz) != 0) {
        if (!fresh_database && access(path, F_OK) != 0)
            snprintf(err, errsz,
                     "card key %s is missing but %s%s already holds data: restore the key from backup (or point "
                     "card_key_file at it); a new key could not decrypt the stored card numbers",
                     path, on_postgres ? "the PostgreSQL database" : "database ", on_postgres ? "" : dbpath);
        store_close(app->store);
        app->store = NULL;
        return -1;
    }
    if (!on_postgres)
        app->store = store_open(kind, &opt, err, errsz);
    if (!app->store)
        return -1;
    /* A backend may not hold every domain yet: refuse at start-up rather
     * than fail on the first request of a service it cannot store. */
    const char *missing = app->serve_recover && !app->store->recover     ? "recover"
                          : app->serve_disputes && !app->store->disputes ? "disputes"
                                                                         : NULL;
    if (missing) {
        snprintf(err, errsz,
                 "the %s service is not yet available on %s: leave it out of the services setting (for example "
                 "services=gateway) or use store=sqlite",
                 missing, on_postgres ? "PostgreSQL" : app->store->ops->backend);
        store_close(app->store);
        app->store = NULL;
        return -1;
    }
    return 0;
}

/* Writes path atomically (temporary file, fsync, rename) with mode 0600. */
static int write_private_file(const char *path, const char *text)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int listener_port(struct app *app, const char *name)
{
    for (int i = 0; i < app->nlisteners; i++)
        if (strcmp(http_listener_name(app->listeners[i]), name) == 0)
            return http_listener_port(app->listeners[i]);
    return 0;
}

static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf b;
    buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < 1024 * 1024)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_steal(&b, NULL);
}

/* The host clients should use for a listener (a wildcard bind is reached
 * through loopback). */
static const char *client_host(struct app *app)
{
    const char *addr = config_get(app->cfg, "listen_address");
    return strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0 ? "127.0.0.1" : addr;
}

void app_listener_url(struct app *app, const char *listener, char *out, size_t outsz)
{
    int port = listener_port(app, listener);
    if (port == 0) {
        str_copy(out, outsz, ""); /* not served by this node (role workers) */
        return;
    }
    snprintf(out, outsz, "http://%s:%d", client_host(app), port);
}

static int sandbox_gateway_section(struct app *app, cJSON *section, char *err, size_t errsz)
{
    char key[API_KEY_MAX], url[256];
    if (api_key_create(app, "sandbox", "gateway", "sandbox", "created on first start", key, sizeof key, NULL) !=
        STORE_OK) {
        snprintf(err, errsz, "cannot create the sandbox gateway key");
        return -1;
    }
    cJSON_AddStringToObject(section, "api_key", key);
    app_listener_url(app, "payments", url, sizeof url);
    cJSON_AddStringToObject(section, "payments_url", url);
    app_listener_url(app, "refunds", url, sizeof url);
    cJSON_AddStringToObject(section, "refunds_url", url);
    printf("sandbox gateway API key: %s\n", key);
    return 0;
}

/* Sandbox and production keys (their data never mix), the API's URL, and
 * the webhook signing secret merchants verify recoup's webhooks with. */
static int sandbox_recover_section(struct app *app, cJSON *section, char *err, size_t errsz)
{
    char key[API_KEY_MAX], prod[API_KEY_MAX], url[256], secret[80];
    if (api_key_create(app, "sandbox", "recover", "sandbox", "created on first start", key, sizeof key, NULL) !=
            STORE_OK ||
        api_key_create(app, "sandbox", "recover", "production", "created on first start", prod, sizeof prod, NULL) !=
            STORE_OK ||
        recover_settings_sandbox(app, "sandbox", secret, sizeof secret) != STORE_OK) {
        snprintf(err, errsz, "cannot create the sandbox Recover keys");
        return -1;
    }
    cJSON_AddStringToObject(section, "api_key", key);
    cJSON_AddStringToObject(section, "production_api_key", prod);
    app_listener_url(app, "api", url, sizeof url);
    cJSON_AddStringToObject(section, "url", url);
    cJSON_AddStringToObject(section, "webhook_signing_secret", secret);
    printf("sandbox Recover API key: %s\n", key);
    return 0;
}

/* Each service that has sandbox credentials adds a section here: it runs
 * once per data directory, when its section is missing from sandbox.json,
 * so upgrading recoupd adds the new services' credentials to an existing
 * sandbox. */
static const struct sandbox_section {
    const char *name;
    int (*wanted)(const struct app *app);
    int (*fill)(struct app *app, cJSON *section, char *err, size_t errsz);
} sandbox_sections[] = {
    {"gateway", app_serves_gateway, sandbox_gateway_section},
    {"disputes", disputes_sandbox_wanted, disputes_sandbox_section},
    {"recover", app_serves_recover, sandbox_recover_section},
};

int app_serves_gateway(const struct app *app) { return app->serve_gateway; }
int app_serves_recover(const struct app *app) { return app->serve_recover; }
int app_serves_disputes(const struct app *app) { return app->serve_disputes; }

/* On first start (and after an upgrade), the sandbox merchant and its
 * credentials, written to DATA_DIR/sandbox.json so that the curl examples
 * can use them. */
static int bootstrap_sandbox(struct app *app, char *err, size_t errsz)
{
    char path[PATH_MAX];
    app_data_path(app, "sandbox.json", path, sizeof path);
    char *text = read_small_file(path);
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!doc)
        doc = cJSON_CreateObject();
    int changed = 0;
    if (!cJSON_GetObjectItemCaseSensitive(doc, "merchant_id")) {
        struct merchant_row m;
        memset(&m, 0, sizeof m);
        str_copy(m.merchant_id, sizeof m.merchant_id, "sandbox");
        str_copy(m.name, sizeof m.name, "Sandbox merchant");
        m.created_at = clock_now_ms(app->clock);
        enum store_rc rc = app->store->ops->merchant_create(app->store, &m);
        if (rc != STORE_OK && rc != STORE_EXISTS) {
            snprintf(err, errsz, "cannot create the sandbox merchant");
            cJSON_Delete(doc);
            return -1;
        }
        cJSON_AddStringToObject(doc, "merchant_id", "sandbox");
        changed = 1;
    }
    for (size_t i = 0; i < sizeof sandbox_sections / sizeof sandbox_sections[0]; i++) {
        const struct sandbox_section *sec = &sandbox_sections[i];
        if (!sec->wanted(app) || cJSON_GetObjectItemCaseSensitive(doc, sec->name))
            continue;
        cJSON *section = cJSON_CreateObject();
        if (sec->fill(app, section, err, errsz) != 0) {
            cJSON_Delete(section);
            cJSON_Delete(doc);
            return -1;
        }
        cJSON_AddItemToObject(doc, sec->name, section);
        changed = 1;
    }
    int ok = 1;
    if (changed) {
        char *out = cJSON_Print(doc);
        ok = out && write_private_file(path, out) == 0;
        cJSON_free(out);
        if (ok)
            printf("sandbox credentials are in %s\n", path);
        fflush(stdout);
    }
    cJSON_Delete(doc);
    if (!ok) {
        snprintf(err, errsz, "cannot write %s", path);
        return -1;
    }
    return 0;
}

/* Ports actually bound (port 0 picks one), for tests and tooling. */
static void write_listeners_file(struct app *app)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < app->nlisteners; i++)
        cJSON_AddNumberToObject(o, http_listener_name(app->listeners[i]), http_listener_port(app->listeners[i]));
    cJSON_AddNumberToObject(o, "pid", (double)getpid());
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    char path[PATH_MAX];
    app_data_path(app, "listeners.json", path, sizeof path);
    if (text && write_private_file(path, text) != 0)
        log_warn("cannot write %s", path);
    cJSON_free(text);
}

static void *worker_main(void *arg)
{
    struct app *app = arg;
    while (!atomic_load(&app->shutting_down)) {
        int64_t now = clock_now_ms(app->clock);
        if (app->serve_gateway)
            gateway_tick(app, now);
        if (app->serve_disputes)
            disputes_tick(app, now);
        clock_wait_until(app->clock, now + 1000, 1000);
    }
    return NULL;
}

static int start_listener(struct app *app, const char *name, const char *address, const char *port_setting,
                          const struct http_mount *mounts, size_t nmounts, char *err, size_t errsz)
{
    int64_t port;
    if (config_get_int(app->cfg, port_setting, 0, 65535, &port, err, errsz) != 0)
        return -1;
    struct http_listener_spec *spec = calloc(1, sizeof *spec);
    if (!spec)
        return -1;
    spec->name = name;
    spec->address = address;
    spec->port = (int)port;
    spec->mounts = mounts;
    spec->nmounts = nmounts;
    http_listener *l = http_listener_start(app, spec, err, errsz);
    free(spec); /* the listener keeps its own copy */
    if (!l)
        return -1;
    app->listeners[app->nlisteners++] = l;
    char p[16];
    snprintf(p, sizeof p, "#%d", http_listener_port(l));
    const char *kv[] = {"listener", name, "address", address, "port", p, NULL};
    log_kv(LOG_INFO, "listening", kv);
    return 0;
}

int app_start(struct app *app, char *err, size_t errsz)
{
    const char *addr = config_get(app->cfg, "listen_address");
    const char *admin = config_get(app->cfg, "admin_address");
    if ((app->serve_disputes &&
         !(app->disputes_auth = ttl_cache_new(sizeof(struct dsp_credential_row), AUTH_CACHE_TTL_MS))) ||
        !(app->api_keys = ttl_cache_new(sizeof(struct api_key_row), AUTH_CACHE_TTL_MS))) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    if (app->run_api && app->serve_gateway) {
        app->mounts.payments[0] = (struct http_mount){"", gateway_payments_routes, gateway_payments_routes_count,
                                                      &gateway_family};
        app->mounts.refunds[0] = (struct http_mount){"", gateway_refunds_routes, gateway_refunds_routes_count,
                                                     &gateway_family};
        if (start_listener(app, "payments", addr, "payments_port", app->mounts.payments, 1, err, errsz) != 0 ||
            start_listener(app, "refunds", addr, "refunds_port", app->mounts.refunds, 1, err, errsz) != 0)
            return -1;
    }
    if (app->run_api && (app->serve_recover || app->serve_disputes)) {
        /* Recover and Disputes share this listener, each under its prefix. */
        size_t n = 0;
        if (app->serve_disputes)
            app->mounts.api[n++] = (struct http_mount){"/v1/", disputes_routes, disputes_routes_count,
                                                       &disputes_family};
        if (app->serve_recover)
            app->mounts.api[n++] = (struct http_mount){"/recover/", recover_routes, recover_routes_count,
                                                       &recover_family};
        app->mounts.api[n++] = (struct http_mount){"", NULL, 0, NULL};
        if (start_listener(app, "api", addr, "api_port", app->mounts.api, n, err, errsz) != 0)
            return -1;
    }
    app->mounts.admin[0] = (struct http_mount){"", admin_routes, admin_routes_count, &admin_family};
    app->mounts.admin[1] = (struct http_mount){"", recover_admin_routes, recover_admin_routes_count, &admin_family};
    /* Recover's admin routes need its storage, which a backend may lack. */
    app->mounts.admin[2] = (struct http_mount){"", recover_webhook_admin_routes, recover_webhook_admin_routes_count,
                                               &admin_family};
    size_t nadmin = app->store->recover ? 3 : 1;
    if (start_listener(app, "admin", admin, "admin_port", app->mounts.admin, nadmin, err, errsz) != 0)
        return -1;
    int sandbox = 0;
    if (config_get_bool(app->cfg, "sandbox", &sandbox, err, errsz) != 0)
        return -1;
    if (sandbox && bootstrap_sandbox(app, err, errsz) != 0)
        return -1;
    if (app->run_workers) {
        if (pthread_create(&app->worker_thread, NULL, worker_main, app) != 0) {
            snprintf(err, errsz, "cannot start the worker thread");
            return -1;
        }
        app->worker_started = 1;
        if (app->serve_recover && recover_model_open(app) != 0) {
            snprintf(err, errsz, "cannot load Recover's retry model");
            return -1;
        }
        if (app->serve_recover && recover_worker_start(app) != 0) {
            snprintf(err, errsz, "cannot start the Recover inbox worker");
            return -1;
        }
        if (app->serve_recover && rc_executor_start(app) != 0) {
            snprintf(err, errsz, "cannot start the Recover retry executor");
            return -1;
        }
        if (app->serve_recover && webhook_dispatcher_start(app) != 0) {
            snprintf(err, errsz, "cannot start the Recover webhook dispatcher");
            return -1;
        }
    }
    atomic_store(&app->ready, 1);
    /* Written last: whoever waits for this file (scripts, tests) finds the
     * node ready, workers included. */
    write_listeners_file(app);
    return 0;
}

void app_stop(struct app *app)
{
    atomic_store(&app->shutting_down, 1);
    atomic_store(&app->ready, 0);
    for (int i = 0; i < app->nlisteners; i++)
        http_listener_quiesce(app->listeners[i]);
    /* Requests already inside a handler finish; new connections are refused. */
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int active = 0;
        for (int i = 0; i < app->nlisteners; i++)
            active += http_listener_active(app->listeners[i]);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t elapsed_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (active == 0 || elapsed_ms >= app->shutdown_timeout_s * 1000) {
            if (active)
                log_warn("shutdown timeout: %d requests still in flight are cut off", active);
            break;
        }
        usleep(10000);
    }
    for (int i = 0; i < app->nlisteners; i++)
        http_listener_stop(app->listeners[i]);
    app->nlisteners = 0;
    if (app->worker_started) {
        clock_wake(app->clock);
        pthread_join(app->worker_thread, NULL);
        app->worker_started = 0;
    }
    /* Events acknowledged but not yet applied stay in the inbox, durable,
     * and are applied after the next start. */
    /* Each kicks the other: both stop before either is freed. */
    rc_executor_stop(app);
    recover_worker_stop(app);
    rc_executor_free(app);
    recover_model_close(app);
    /* Deliveries in flight are released and sent again after the next start. */
    webhook_dispatcher_stop(app);
}

void app_close(struct app *app)
{
    ttl_cache_free(app->disputes_auth);
    ttl_cache_free(app->api_keys);
    app->disputes_auth = NULL;
    store_close(app->store);
    app->store = NULL;
    clock_free(app->clock);
    app->clock = NULL;
    sodium_memzero(app->card_key, sizeof app->card_key);
    pthread_mutex_destroy(&app->worker_mu);
}
