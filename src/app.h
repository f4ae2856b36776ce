/* The one context object: configuration, clock, store, keys and the running
 * listeners and workers. Passed down to every handler; there is no other
 * mutable global state beyond metrics counters. */
#ifndef RECOUP_APP_H
#define RECOUP_APP_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/crypto.h"
#include "http/server.h"
#include "recover/network_rules.h"

struct store;
struct http_listener;
struct rc_model;
struct rc_executor;
struct webhook_dispatcher;

struct http_limits {
    size_t max_body_bytes;
    size_t max_url_bytes;
    size_t max_header_bytes;
    unsigned idle_timeout_s;
    unsigned threads;
    unsigned max_connections;
};

struct gateway_settings {
    int64_t settlement_interval_s;
    int64_t fee_fixed_minor;
    int64_t fee_bps;
    int64_t idempotency_ttl_s;
};

struct disputes_settings {
    int64_t retention_months;
    int64_t purge_interval_s;
    int ce3_min_days, ce3_max_days, ce3_min_prior;
};

struct app {
    config *cfg;
    rclock *clock;
    struct store *store;
    uint8_t card_key[CRYPTO_KEY_BYTES];
    char data_dir[PATH_MAX];
    struct http_limits http;
    struct gateway_settings gateway;
    struct {
        int64_t last_settlement_ms, last_purge_ms;
    } gateway_worker;
    struct disputes_settings disputes;
    struct {
        int64_t last_purge_ms;
    } disputes_worker;
    /* Card-network retry rules: the defaults, or network_rules_file over them. */
    struct nr_rules network_rules;
    /* Credentials verified in the last second (core/ttl_cache.h): Disputes'
     * Basic credentials, and API keys of every service. */
    struct ttl_cache *disputes_auth;
    struct ttl_cache *api_keys;
    int serve_gateway, serve_recover, serve_disputes;
    int run_api, run_workers;
    int64_t shutdown_timeout_s;
    atomic_int shutting_down;
    atomic_int ready;

    struct http_listener *listeners[4];
    int nlisteners;
    struct {
        struct http_mount payments[1], refunds[1], api[4], admin[3];
    } mounts;

    struct recover_worker *recover_worker;
    /* Recover's webhook delivery: settings (seconds unless named _ms) and
     * the dispatcher thread. */
    struct {
        int64_t retry_interval_s, retry_for_s, expiry_s, connect_timeout_ms, timeout_ms, concurrency;
    } webhooks;
    struct webhook_dispatcher *webhook_dispatcher;
    /* Recover's retries: settings, the learned model, the executor. */
    struct {
        int64_t workers, lease_s, postpone_s;
        int64_t merchant_connect_timeout_ms, merchant_timeout_ms, psp_timeout_ms;
    } retry;
    struct rc_model *model;
    struct rc_executor *executor;

    pthread_t worker_thread;
    int worker_started;
    pthread_mutex_t worker_mu;
};

/* Reads and checks every setting, opens the store (applying migrations),
 * loads or creates the card key. Returns 0, or -1 with a message. */
int app_open(struct app *app, config *cfg, char *err, size_t errsz);
/* Starts listeners and background workers. */
int app_start(struct app *app, char *err, size_t errsz);
/* Graceful stop: stop accepting, finish in-flight requests (up to the
 * shutdown timeout), stop workers, flush and close the store. */
void app_stop(struct app *app);
void app_close(struct app *app);

/* The URL clients use to reach a listener ("payments", "api", ...); ""
 * when this node does not run it. */
void app_listener_url(struct app *app, const char *listener, char *out, size_t outsz);
int app_serves_gateway(const struct app *app);
int app_serves_recover(const struct app *app);
int app_serves_disputes(const struct app *app);

/* Path inside the data directory. */
void app_data_path(const struct app *app, const char *name, char *out, size_t outsz);

#endif
