#include "http/metrics.h"

#include <stdatomic.h>
#include <string.h>

static const char *const listener_names[ML_COUNT] = {"payments", "refunds", "api", "admin"};
static const int status_codes[] = {200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 414, 415, 422, 429, 431, 500, 503};
#define NSTATUS (sizeof status_codes / sizeof status_codes[0])
static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
#define NLAT (sizeof latency_bounds / sizeof latency_bounds[0])

static atomic_llong req_count[ML_COUNT][NSTATUS + 1];
static atomic_llong req_hist[ML_COUNT][NLAT + 1];
static atomic_llong req_sum_us[ML_COUNT];
static atomic_llong commit_batches, commit_writes, commit_sum_us;

static const char *const counter_names[] = {
    "recoup_gateway_payments_authorised_total",
    "recoup_gateway_payments_declined_total",
    "recoup_gateway_refunds_total",
    "recoup_gateway_payments_settled_total",
    "recoup_idempotent_replays_total",
    "recoup_recover_unknown_declines_total",
    "recoup_recover_retries_succeeded_total",
    "recoup_recover_retries_declined_total",
    "recoup_recover_retry_status_cancelled_total",
    "recoup_recover_retry_status_unknown_total",
    "recoup_recover_retry_status_postponed_total",
    "recoup_recover_charges_unanswered_total",
    /* where an attempt's time goes, summed over attempts (microseconds) */
    "recoup_recover_attempt_claim_us_total",
    "recoup_recover_attempt_load_us_total",
    "recoup_recover_attempt_retry_status_us_total",
    "recoup_recover_attempt_charge_us_total",
    "recoup_recover_attempt_record_us_total",
    "recoup_recover_webhooks_delivered_total",
    "recoup_recover_webhooks_failed_total",
    "recoup_recover_webhooks_redeliveries_total",
    "recoup_recover_webhooks_redeliver_requests_total",
};
#define NCOUNTERS (sizeof counter_names / sizeof counter_names[0])
static atomic_llong counters[NCOUNTERS];

int metrics_listener_index(const char *name)
{
    for (int i = 0; i < ML_COUNT; i++)
        if (strcmp(name, listener_names[i]) == 0)
            return i;
    return ML_API;
}

void metrics_observe_request(int listener, int status, double seconds)
{
    if (listener < 0 || listener >= ML_COUNT)
        return;
    size_t si = NSTATUS;
    for (size_t i = 0; i < NSTATUS; i++)
        if (status_codes[i] == status)
            si = i;
    atomic_fetch_add(&req_count[listener][si], 1);
    size_t bi = NLAT;
    for (size_t i = 0; i < NLAT; i++)
        if (seconds <= latency_bounds[i]) {
            bi = i;
            break;
        }
    atomic_fetch_add(&req_hist[listener][bi], 1);
    atomic_fetch_add(&req_sum_us[listener], (long long)(seconds * 1e6));
}

void metrics_observe_commit(int batch_size, double seconds)
{
    atomic_fetch_add(&commit_batches, 1);
    atomic_fetch_add(&commit_writes, batch_size);
    atomic_fetch_add(&commit_sum_us, (long long)(seconds * 1e6));
}

void metrics_count(const char *name, int64_t delta)
{
    for (size_t i = 0; i < NCOUNTERS; i++)
        if (strcmp(counter_names[i], name) == 0) {
            atomic_fetch_add(&counters[i], delta);
            return;
        }
}

void metrics_render(buf *out)
{
    buf_puts(out, "# HELP recoup_http_requests_total HTTP requests answered, by listener and status.\n"
                  "# TYPE recoup_http_requests_total counter\n");
    for (int l = 0; l < ML_COUNT; l++)
        for (size_t s = 0; s <= NSTATUS; s++) {
            long long v = atomic_load(&req_count[l][s]);
            if (!v)
                continue;
            if (s < NSTATUS)
                buf_printf(out, "recoup_http_requests_total{listener=\"%s\",code=\"%d\"} %lld\n",
                           listener_names[l], status_codes[s], v);
            else
                buf_printf(out, "recoup_http_requests_total{listener=\"%s\",code=\"other\"} %lld\n",
                           listener_names[l], v);
        }
    buf_puts(out, "# HELP recoup_http_request_duration_seconds Time from request start to response.\n"
                  "# TYPE recoup_http_request_duration_seconds histogram\n");
    for (int l = 0; l < ML_COUNT; l++) {
        long long cum = 0;
        for (size_t b = 0; b < NLAT; b++) {
            cum += atomic_load(&req_hist[l][b]);
            buf_printf(out, "recoup_http_request_duration_seconds_bucket{listener=\"%s\",le=\"%g\"} %lld\n",
                       listener_names[l], latency_bounds[b], cum);
        }
        cum += atomic_load(&req_hist[l][NLAT]);
        buf_printf(out, "recoup_http_request_duration_seconds_bucket{listener=\"%s\",le=\"+Inf\"} %lld\n",
                   listener_names[l], cum);
        buf_printf(out, "recoup_http_request_duration_seconds_sum{listener=\"%s\"} %.6f\n", listener_names[l],
                   (double)atomic_load(&req_sum_us[l]) / 1e6);
        buf_printf(out, "recoup_http_request_duration_seconds_count{listener=\"%s\"} %lld\n", listener_names[l], cum);
    }
    buf_printf(out,
               "# HELP recoup_store_commits_total Durable commits (each may group many writes).\n"
               "# TYPE recoup_store_commits_total counter\nrecoup_store_commits_total %lld\n"
               "# HELP recoup_store_committed_writes_total Writes made durable.\n"
               "# TYPE recoup_store_committed_writes_total counter\nrecoup_store_committed_writes_total %lld\n"
               "# HELP recoup_store_commit_seconds_total Time spent in commits, fsync included.\n"
               "# TYPE recoup_store_commit_seconds_total counter\nrecoup_store_commit_seconds_total %.6f\n",
               atomic_load(&commit_batches), atomic_load(&commit_writes), (double)atomic_load(&commit_sum_us) / 1e6);
    for (size_t i = 0; i < NCOUNTERS; i++)
        buf_printf(out, "# TYPE %s counter\n%s %lld\n", counter_names[i], counter_names[i],
                   atomic_load(&counters[i]));
}
