/* The retry executor: a scheduler thread claims due attempts under a lease
 * and hands them to worker threads, each of which asks the merchant
 * (RetryStatus), charges (or asks the merchant's platform to), and stores
 * the outcome with its webhooks in one transaction.
 *
 * Exactly once: a claim is a lease, so two workers (or nodes) never run
 * the same attempt at once; a worker that dies leaves its lease to run out,
 * and the attempt is then claimed again and run from the start. The charge
 * carries the attempt id as its idempotency key, so the second run gets the
 * first run's payment back instead of a new one. */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "core/crypto.h"
#include "core/log.h"
#include "http/metrics.h"
#include "recover/declines.h"
#include "recover/invoice_state.h"
#include "recover/merchant_client.h"
#include "recover/planner.h"
#include "recover/psp.h"
#include "recover/recover.h"
#include "recover/retries.h"
#include "recover/webhooks.h"

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Adds the time since *t0 to a stage's counter and restarts *t0. */
static void stage(const char *counter, int64_t *t0)
{
    int64_t t = mono_us();
    metrics_count(counter, t - *t0);
    *t0 = t;
}

/* A charge that got no answer is asked again soon, with the same key. */
#define UNANSWERED_CHARGE_WAIT_MS (5LL * 60 * 1000)

struct rc_executor {
    pthread_t scheduler;
    pthread_t *workers;
    int nworkers;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;  /* workers wait for claimed attempts */
    pthread_cond_t sched_cv; /* the scheduler waits for room, a kick or time */
    struct rc_retry *queue;
    size_t qcap, qhead, qlen;
    int running; /* attempts being worked on */
    int stop;
    int kicked;
    char owner[64];
    /* Read once at start: the listeners are freed at shutdown while
     * workers may still be finishing an attempt. */
    char own_gateway[256];
    struct app *app;
};

struct attempt_ctx {
    struct app *app;
    http_conn *merchant;
    http_conn *psp;
    const char *own_gateway; /* this node's payments URL, or "" */
};

static const struct rc_txn *first_failure(const struct rc_txn *txns, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!txns[i].success)
            return &txns[i];
    return NULL;
}

static const struct rc_txn *latest_on(const struct rc_txn *txns, size_t n, const char *pm)
{
    for (size_t i = n; i-- > 0;)
        if (strcmp(txns[i].payment_method_id, pm) == 0)
            return &txns[i];
    return NULL;
}

/* A payment method this invoice's declines showed can never be charged
 * again (a never or fix_data class): card rotation skips it. */
static int hard_declined(const struct rc_txn *txns, size_t n, const char *pm)
{
    for (size_t i = 0; i < n; i++) {
        if (txns[i].success || strcmp(txns[i].payment_method_id, pm) != 0)
            continue;
        struct rc_decline d;
        rc_decline_of_txn(&txns[i], &d);
        if (d.cls == RC_DCL_NEVER || d.cls == RC_DCL_FIX_DATA)
            return 1;
    }
    return 0;
}

struct outcome {
    const char *retry_state;
    int64_t new_due_at;
    char error[256];
    const char *close_state;
    char close_reason[256];
    struct rc_txn txn;
    int has_txn;
    int eod;           /* send End of Dunning */
    int recovered;
    int retry_result;  /* send Retry Results */
    int dunning_complete;
    struct rc_decision_row decision; /* the next decision, when taken here */
    int has_decision;
    struct rc_retry next; /* its planned attempt */
    int has_next;
    const char *open_state; /* an open state to move to, or NULL */
    char open_reason[256];
};

static void finish(struct attempt_ctx *cx, const struct rc_retry *r, const struct rc_settings *st,
                   const struct rc_invoice *inv, const struct rc_txn *txns, size_t ntxns, struct outcome *o)
{
    struct app *app = cx->app;
    int64_t now = clock_now_ms(app->clock);
    struct rc_webhook hooks[2];
    size_t nh = 0;
    memset(hooks, 0, sizeof hooks);
    int failed = 0;
    if (o->retry_result && o->has_txn) {
        int m = rc_retry_result_webhook(app, st, inv, first_failure(txns, ntxns), r, &o->txn, o->dunning_complete,
                                        now, &hooks[nh]);
        failed |= m < 0;
        nh += m > 0;
    }
    if (o->eod) {
        int m = rc_end_of_dunning_webhook(app, st, inv, o->recovered, now, &hooks[nh]);
        failed |= m < 0;
        nh += m > 0;
    }
    struct rc_attempt_write w = {
        .retry = r,
        .retry_state = o->retry_state,
        .new_due_at = o->new_due_at,
        .error = o->error[0] ? o->error : NULL,
        .txn = o->has_txn ? &o->txn : NULL,
        .close_state = o->close_state,
        .close_reason = o->close_reason[0] ? o->close_reason : NULL,
        .webhooks = hooks,
        .nwebhooks = nh,
        .now = now,
        .decision = o->has_decision ? &o->decision : NULL,
        .next = o->has_next ? &o->next : NULL,
        .open_state = o->open_state,
        .open_reason = o->open_reason[0] ? o->open_reason : NULL,
    };
    int64_t t0 = mono_us();
    enum store_rc rc = failed ? STORE_ERROR : app->store->recover->attempt_write(app->store, &w);
    stage("recoup_recover_attempt_record_us_total", &t0);
    for (size_t i = 0; i < nh; i++)
        free(hooks[i].body);
    const char *kv[] = {"component",  "recover",       "merchant", r->merchant_id, "invoice", r->invoice_id,
                        "attempt_id", r->attempt_id,   "outcome",  o->retry_state, "error",   o->error,
                        NULL};
    if (rc == STORE_OK) {
        log_kv(LOG_INFO, "retry attempt recorded", kv);
        if (nh)
            webhook_dispatcher_kick(app);
        recover_worker_kick(app); /* the planner decides what follows */
    } else if (rc == STORE_STATE) {
        log_kv(LOG_WARN, "retry attempt's lease was lost; another worker runs it", kv);
    } else {
        /* The lease runs out and the attempt runs again; its charge is
         * idempotent. */
        log_kv(LOG_ERROR, "retry attempt could not be recorded; it runs again after its lease", kv);
    }
}

static void postpone(struct outcome *o, const struct rc_invoice *inv, const struct rc_settings *st, int64_t now,
                     int64_t wait_ms, const char *why)
{
    int64_t window_end = inv->dunning_started_at + st->dunning_days * 86400000LL;
    str_copy(o->error, sizeof o->error, why);
    if (now + wait_ms >= window_end) {
        o->retry_state = "cancelled";
        o->close_state = "exhausted";
        /* The reason is bounded so that the prefix always fits. */
        snprintf(o->close_reason, sizeof o->close_reason, "the dunning window ended while waiting: %.200s", why);
        o->eod = 1;
    } else {
        o->retry_state = "planned";
        o->new_due_at = now + wait_ms;
    }
}

static void charge_txn(struct rc_txn *t, const struct rc_retry *r, const struct rc_txn *shape, const char *pm,
                       int64_t amount, const char *currency, const struct rc_psp_result *res, int64_t now)
{
    memset(t, 0, sizeof *t);
    snprintf(t->transaction_id, sizeof t->transaction_id, "rcv_%s", r->attempt_id);
    str_copy(t->psp_transaction_id, sizeof t->psp_transaction_id, res->psp_transaction_id);
    str_copy(t->psp, sizeof t->psp, rc_psp_recoup.psp);
    str_copy(t->acquirer_country, sizeof t->acquirer_country, shape ? shape->acquirer_country : "");
    t->amount = amount;
    str_copy(t->currency, sizeof t->currency, currency);
    str_copy(t->funding_source, sizeof t->funding_source, shape ? shape->funding_source : "unknown");
    str_copy(t->payment_method_id, sizeof t->payment_method_id, pm);
    t->psp_created_at = now;
    str_copy(t->scheme, sizeof t->scheme, shape ? shape->scheme : "unknown");
    t->success = res->success;
    str_copy(t->raw_response_message, sizeof t->raw_response_message, res->success ? "approved" : res->decline_code);
    str_copy(t->psp_response_message, sizeof t->psp_response_message, res->decline_message);
    str_copy(t->processor_response_code, sizeof t->processor_response_code, res->network_code);
    str_copy(t->response_type, sizeof t->response_type, "");
    if (shape) {
        str_copy(t->bin, sizeof t->bin, shape->bin);
        str_copy(t->issuer_country, sizeof t->issuer_country, shape->issuer_country);
    }
    str_copy(t->origin, sizeof t->origin, "recover");
}

/* Whether dunning ends with this declined attempt: the planner's next
 * decision, taken now with the attempt included, so that the Retry Results
 * webhook's dunning_complete is true exactly when no attempt follows (the
 * invoice is then closed in the same write, with its End of Dunning). */
static int ends_dunning(struct app *app, const struct rc_settings *st, const struct rc_invoice *inv,
                        const struct rc_txn *txns, size_t ntxns, const struct rc_txn *charge, int64_t now,
                        struct rc_decision *d, int *decided)
{
    *decided = 0;
    struct rc_txn *all = malloc((ntxns + 1) * sizeof *all);
    if (!all)
        return 0;
    memcpy(all, txns, ntxns * sizeof *all);
    all[ntxns] = *charge;
    struct rc_invoice after = *inv;
    after.recover_attempts++;
    *decided = recover_decide(app, st, &after, all, ntxns + 1, charge, now, d) == 0;
    free(all);
    return *decided && strcmp(d->action, RC_ACTION_STOP) == 0;
}

static void run_attempt(struct attempt_ctx *cx, const struct rc_retry *r)
{
    struct app *app = cx->app;
    const struct store_recover_ops *ops = app->store->recover;
    struct rc_settings st;
    struct rc_invoice inv;
    struct rc_txn *txns = NULL;
    struct rc_invoice_event *events = NULL;
    size_t ntxns = 0, nevents = 0;
    struct outcome o;
    /* At function scope: o.close_state may point into it until finish(). */
    struct rc_decision d;
    memset(&o, 0, sizeof o);
    memset(&inv, 0, sizeof inv);
    int64_t t0 = mono_us();
    if (recover_settings_load(app, r->merchant_id, &st) != STORE_OK)
        return; /* the lease runs out; tried again then */
    enum store_rc rc = ops->invoice_get(app->store, r->merchant_id, r->env, r->invoice_id, &inv, &txns, &ntxns,
                                        &events, &nevents);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND)
        return;
    int64_t now = clock_now_ms(app->clock);
    if (rc == STORE_NOT_FOUND || !rc_state_is_open(inv.state)) {
        o.retry_state = "cancelled";
        str_copy(o.error, sizeof o.error, "the invoice is no longer in dunning");
        finish(cx, r, &st, &inv, txns, ntxns, &o);
        goto out;
    }

    stage("recoup_recover_attempt_load_us_total", &t0);
    struct rc_retry_status_answer rs;
    rc_retry_status_call(app, cx->merchant, &st, &inv, &rs);
    stage("recoup_recover_attempt_retry_status_us_total", &t0);
    now = clock_now_ms(app->clock);
    if (rs.status == RC_RS_CANCELLED || rs.status == RC_RS_UNKNOWN) {
        o.retry_state = "cancelled";
        o.close_state = rs.status == RC_RS_CANCELLED ? "cancelled" : "unknown_to_merchant";
        str_copy(o.close_reason, sizeof o.close_reason, rs.reason);
        str_copy(o.error, sizeof o.error, rs.reason);
        o.eod = 1;
        metrics_count(rs.status == RC_RS_CANCELLED ? "recoup_recover_retry_status_cancelled_total"
                                                   : "recoup_recover_retry_status_unknown_total",
                      1);
        finish(cx, r, &st, &inv, txns, ntxns, &o);
        goto out;
    }
    if (rs.status != RC_RS_RETRY) {
        metrics_count("recoup_recover_retry_status_postponed_total", 1);
        postpone(&o, &inv, &st, now, app->retry.postpone_s * 1000, rs.reason);
        finish(cx, r, &st, &inv, txns, ntxns, &o);
        goto out;
    }

    /* The card: the merchant's list, in order, skipping cards this invoice
     * already saw hard-declined; else the one the planner chose. */
    const char *pm = r->payment_method_id;
    for (size_t i = 0; i < rs.npayment_methods; i++) {
        if (!hard_declined(txns, ntxns, rs.payment_methods[i])) {
            pm = rs.payment_methods[i];
            break;
        }
    }
    int64_t amount = rs.has_amount ? rs.amount : inv.amount_due;

    if (strcmp(st.integration, "platform") == 0) {
        char err[256];
        if (rc_platform_retry_request(app, cx->merchant, &st, &inv, r, amount, pm, err, sizeof err) == 0) {
            o.retry_state = "requested";
        } else {
            postpone(&o, &inv, &st, now, app->retry.postpone_s * 1000, err);
        }
        finish(cx, r, &st, &inv, txns, ntxns, &o);
        goto out;
    }

    char psp_url[RC_URL_MAX];
    str_copy(psp_url, sizeof psp_url, st.psp_url[0] ? st.psp_url : cx->own_gateway);
    char *key = st.psp_api_key[0] ? crypto_open_text(app->card_key, st.psp_api_key) : NULL;
    if (!psp_url[0] || !key) {
        free(key);
        postpone(&o, &inv, &st, now, app->retry.postpone_s * 1000,
                 !psp_url[0] ? "no psp_url is set for this merchant, and this node runs no gateway listener to default to"
                             : "no usable psp_api_key is set for this merchant");
        finish(cx, r, &st, &inv, txns, ntxns, &o);
        goto out;
    }
    struct rc_psp_charge charge = {
        .base_url = psp_url,
        .api_key = key,
        .payment_method_id = pm,
        .amount = amount,
        .currency = inv.currency,
        .idempotency_key = r->attempt_id,
        .connect_timeout_ms = app->retry.merchant_connect_timeout_ms,
        .timeout_ms = app->retry.psp_timeout_ms,
    };
    struct rc_psp_result res;
    t0 = mono_us();
    rc_psp_recoup.charge(cx->psp, &charge, &res);
    stage("recoup_recover_attempt_charge_us_total", &t0);
    free(key);
    now = clock_now_ms(app->clock);
    if (!res.answered) {
        metrics_count("recoup_recover_charges_unanswered_total", 1);
        postpone(&o, &inv, &st, now, res.permanent ? app->retry.postpone_s * 1000 : UNANSWERED_CHARGE_WAIT_MS,
                 res.error);
        finish(cx, r, &st, &inv, txns, ntxns, &o);
        goto out;
    }
    charge_txn(&o.txn, r, latest_on(txns, ntxns, pm), pm, amount, inv.currency, &res, now);
    o.has_txn = 1;
    o.retry_state = "done";
    o.retry_result = 1;
    /* The model learns the outcome before the next decision is taken from
     * it; the decision is stored with the outcome (no planning pass). */
    recover_learn_outcome(app, &st, &inv, txns, ntxns, &o.txn);
    struct rc_invoice after = inv;
    after.recover_attempts++;
    int decided = 0;
    if (res.success) {
        metrics_count("recoup_recover_retries_succeeded_total", 1);
        o.close_state = "recovered";
        snprintf(o.close_reason, sizeof o.close_reason, "recovered by attempt %lld", (long long)r->attempt_no);
        o.eod = 1;
        o.recovered = 1;
        o.dunning_complete = 1;
        str_copy(after.state, sizeof after.state, "recovered");
        str_copy(after.state_reason, sizeof after.state_reason, o.close_reason);
        recover_closed_decision(&after, now, &d);
        decided = 1;
    } else {
        metrics_count("recoup_recover_retries_declined_total", 1);
        if (ends_dunning(app, &st, &inv, txns, ntxns, &o.txn, now, &d, &decided)) {
            o.dunning_complete = 1;
            o.close_state = d.stop_state[0] ? d.stop_state : "exhausted";
            str_copy(o.close_reason, sizeof o.close_reason, d.explanation);
            o.eod = 1;
        }
    }
    if (decided) {
        recover_decision_row(&o.decision, &after, &d);
        o.has_decision = 1;
        if (!o.close_state && strcmp(d.action, RC_ACTION_RETRY) == 0) {
            recover_next_retry(&o.next, &after, &d, now);
            o.has_next = 1;
        } else if (!o.close_state && strcmp(d.action, RC_ACTION_WAIT_PM) == 0) {
            o.open_state = RC_STATE_AWAITING_PM;
            str_copy(o.open_reason, sizeof o.open_reason, d.explanation);
        }
    }
    finish(cx, r, &st, &inv, txns, ntxns, &o);
    free(o.decision.alternatives);
out:
    free(inv.custom);
    rc_txns_free(txns, ntxns);
    free(events);
}

/* ---- threads ---- */

static void *worker_main(void *arg)
{
    struct rc_executor *ex = arg;
    struct attempt_ctx cx = {ex->app, http_conn_new(), http_conn_new(), ex->own_gateway};
    for (;;) {
        pthread_mutex_lock(&ex->mu);
        while (!ex->stop && ex->qlen == 0)
            pthread_cond_wait(&ex->work_cv, &ex->mu);
        if (ex->stop) {
            pthread_mutex_unlock(&ex->mu);
            break;
        }
        struct rc_retry r = ex->queue[ex->qhead];
        ex->qhead = (ex->qhead + 1) % ex->qcap;
        ex->qlen--;
        ex->running++;
        pthread_mutex_unlock(&ex->mu);

        if (cx.merchant && cx.psp)
            run_attempt(&cx, &r);

        pthread_mutex_lock(&ex->mu);
        ex->running--;
        pthread_cond_signal(&ex->sched_cv);
        pthread_mutex_unlock(&ex->mu);
    }
    http_conn_free(cx.merchant);
    http_conn_free(cx.psp);
    return NULL;
}

static void *scheduler_main(void *arg)
{
    struct rc_executor *ex = arg;
    struct app *app = ex->app;
    int64_t lease_ms = app->retry.lease_s * 1000;
    for (;;) {
        pthread_mutex_lock(&ex->mu);
        if (ex->stop) {
            pthread_mutex_unlock(&ex->mu);
            break;
        }
        ex->kicked = 0;
        /* Claim no more than the workers can start soon: a claimed attempt
         * holds its lease while it waits in the queue. */
        int room = (int)ex->qcap - (int)ex->qlen - ex->running;
        pthread_mutex_unlock(&ex->mu);

        size_t got = 0;
        if (room > 0) {
            struct rc_retry *claimed = NULL;
            int64_t now = clock_now_ms(app->clock);
            int64_t t0 = mono_us();
            if (app->store->recover->retries_claim(app->store, now, ex->owner, lease_ms, room, &claimed, &got) !=
                STORE_OK)
                got = 0;
            if (got)
                stage("recoup_recover_attempt_claim_us_total", &t0);
            pthread_mutex_lock(&ex->mu);
            for (size_t i = 0; i < got; i++) {
                ex->queue[(ex->qhead + ex->qlen) % ex->qcap] = claimed[i];
                ex->qlen++;
            }
            if (got)
                pthread_cond_broadcast(&ex->work_cv);
            pthread_mutex_unlock(&ex->mu);
            free(claimed);
        }
        pthread_mutex_lock(&ex->mu);
        if (!ex->stop && !ex->kicked && (got == 0 || room <= (int)got)) {
            /* Nothing due (or no room): wait for a kick, a finished attempt,
             * or a short real-time tick, which also notices a virtual clock
             * moved forward and leases that ran out on other nodes. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&ex->sched_cv, &ex->mu, &ts);
        }
        pthread_mutex_unlock(&ex->mu);
    }
    return NULL;
}

int rc_executor_start(struct app *app)
{
    if (!app->store->recover->retries_claim)
        return 0;
    struct rc_executor *ex = calloc(1, sizeof *ex);
    if (!ex)
        return -1;
    ex->app = app;
    if (app_serves_gateway(app))
        app_listener_url(app, "payments", ex->own_gateway, sizeof ex->own_gateway);
    ex->nworkers = (int)app->retry.workers;
    ex->qcap = (size_t)ex->nworkers * 2;
    ex->queue = calloc(ex->qcap, sizeof *ex->queue);
    ex->workers = calloc((size_t)ex->nworkers, sizeof *ex->workers);
    char host[40] = "node";
    gethostname(host, sizeof host - 1);
    /* Unique per run: a restarted process must not inherit the leases of
     * the one before it (same host, maybe the same pid). */
    unsigned char rnd[4];
    char rhex[9];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(rhex, sizeof rhex, rnd, sizeof rnd);
    snprintf(ex->owner, sizeof ex->owner, "%.30s:%d:%s", host, (int)getpid(), rhex);
    pthread_mutex_init(&ex->mu, NULL);
    pthread_cond_init(&ex->work_cv, NULL);
    pthread_cond_init(&ex->sched_cv, NULL);
    if (!ex->queue || !ex->workers)
        goto fail;
    for (int i = 0; i < ex->nworkers; i++) {
        if (pthread_create(&ex->workers[i], NULL, worker_main, ex) != 0) {
            ex->nworkers = i;
            goto fail;
        }
    }
    if (pthread_create(&ex->scheduler, NULL, scheduler_main, ex) != 0)
        goto fail;
    app->executor = ex;
    return 0;
fail:
    pthread_mutex_lock(&ex->mu);
    ex->stop = 1;
    pthread_cond_broadcast(&ex->work_cv);
    pthread_mutex_unlock(&ex->mu);
    for (int i = 0; i < ex->nworkers; i++)
        pthread_join(ex->workers[i], NULL);
    free(ex->queue);
    free(ex->workers);
    free(ex);
    return -1;
}

void rc_executor_kick(struct app *app)
{
    struct rc_executor *ex = app->executor;
    if (!ex)
        return;
    pthread_mutex_lock(&ex->mu);
    ex->kicked = 1;
    pthread_cond_signal(&ex->sched_cv);
    pthread_mutex_unlock(&ex->mu);
}

void rc_executor_stop(struct app *app)
{
    struct rc_executor *ex = app->executor;
    if (!ex)
        return;
    pthread_mutex_lock(&ex->mu);
    int stopped = ex->stop;
    ex->stop = 1;
    pthread_mutex_unlock(&ex->mu);
    if (stopped)
        return;
    pthread_mutex_lock(&ex->mu);
    pthread_cond_broadcast(&ex->work_cv);
    pthread_cond_broadcast(&ex->sched_cv);
    pthread_mutex_unlock(&ex->mu);
    pthread_join(ex->scheduler, NULL);
    for (int i = 0; i < ex->nworkers; i++)
        pthread_join(ex->workers[i], NULL);
    ex->nworkers = 0;
    /* Claimed attempts still queued keep their lease until it runs out and
     * are then claimed again (here after a restart, or by another node). */
}

void rc_executor_free(struct app *app)
{
    struct rc_executor *ex = app->executor;
    if (!ex)
        return;
    app->executor = NULL;
    pthread_mutex_destroy(&ex->mu);
    pthread_cond_destroy(&ex->work_cv);
    pthread_cond_destroy(&ex->sched_cv);
    free(ex->queue);
    free(ex->workers);
    free(ex);
    app->executor = NULL;
}

int rc_executor_run_due(struct app *app, int max)
{
    struct rc_retry *claimed = NULL;
    size_t got = 0;
    int64_t now = clock_now_ms(app->clock);
    if (app->store->recover->retries_claim(app->store, now, "inline", app->retry.lease_s * 1000, max, &claimed,
                                           &got) != STORE_OK)
        return -1;
    char own[256] = "";
    if (app_serves_gateway(app))
        app_listener_url(app, "payments", own, sizeof own);
    struct attempt_ctx cx = {app, http_conn_new(), http_conn_new(), own};
    for (size_t i = 0; i < got && cx.merchant && cx.psp; i++)
        run_attempt(&cx, &claimed[i]);
    http_conn_free(cx.merchant);
    http_conn_free(cx.psp);
    free(claimed);
    return (int)got;
}
