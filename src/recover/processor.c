/* The inbox worker: applies acknowledged events in the order they were
 * received (so per invoice too), a batch per durable commit. It runs after
 * the acknowledgement, which therefore never waits for the domain writes. */
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "core/log.h"
#include "recover/invoice_state.h"
#include "recover/recover.h"
#include "recover/retries.h"
#include "recover/validate.h"

#define BATCH 128
/* The model is saved this often (and at stop); a crash loses at most this
 * much learning, which later outcomes make up for. */
#define MODEL_SAVE_INTERVAL_S 30
#define WINDOW_SWEEP_INTERVAL_MS (3600LL * 1000)

struct recover_worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int kicked;
    time_t last_model_save;
    int64_t last_window_sweep_ms;
};

int recover_process_pending(struct app *app, int max)
{
    struct rc_inbox_row *rows = NULL;
    size_t n = 0;
    if (app->store->recover->inbox_pending(app->store, max, &rows, &n) != STORE_OK)
        return -1;
    if (n == 0) {
        free(rows);
        return 0;
    }
    struct rc_apply_item *items = calloc(n, sizeof *items);
    struct rc_payment_event *payments = calloc(n, sizeof *payments);
    struct rc_pm_update *updates = calloc(n, sizeof *updates);
    size_t nitems = 0;
    int failed = !items || !payments || !updates;
    for (size_t i = 0; i < n && !failed; i++) {
        struct rc_inbox_row *r = &rows[i];
        cJSON *json = cJSON_Parse(r->payload);
        verrs e;
        verrs_init(&e);
        int bad = !json;
        if (!bad && strcmp(r->kind, "payment") == 0) {
            struct rc_payment_event *ev = &payments[i];
            bad = rc_parse_payment(json, ev, &e) > 0;
            ev->merchant_id = r->merchant_id;
            ev->env = r->env;
            ev->inbox_seq = r->seq;
            ev->received_at = r->received_at;
            ev->decide = rc_decide_payment;
            if (!bad)
                items[nitems++].payment = ev;
        } else if (!bad) {
            struct rc_pm_update *up = &updates[i];
            bad = rc_parse_pm_update(json, up, &e) > 0;
            up->merchant_id = r->merchant_id;
            up->env = r->env;
            up->inbox_seq = r->seq;
            up->received_at = r->received_at;
            up->decide = rc_decide_pm_update;
            if (!bad)
                items[nitems++].pm_update = up;
        }
        if (bad) {
            /* Validated before it was acknowledged, so this means the code
             * changed under a stored event; set aside, loudly, so that it
             * does not block the events after it. */
            const char *kv[] = {"component", "recover", "merchant", r->merchant_id, "request_id", r->request_id, NULL};
            log_kv(LOG_ERROR, "stored event no longer parses; set aside", kv);
            items[nitems].rejected = r;
            items[nitems].reject_reason = "does not parse";
            nitems++;
        }
        cJSON_Delete(json);
        verrs_free(&e);
    }
    int applied = 0;
    if (!failed && nitems > 0) {
        app->store->recover->apply_events(app->store, items, nitems);
        for (size_t i = 0; i < nitems; i++) {
            if (items[i].rc == STORE_OK) {
                applied++;
                if (items[i].payment)
                    recover_learn_event(app, items[i].payment);

            } else if (items[i].rc == STORE_ERROR) {
                failed = 1; /* the rest waits for the next round */
            } else {
                const char *kv[] = {"component", "recover", "error", store_rc_name(items[i].rc), NULL};
                log_kv(LOG_ERROR, "event could not be applied; recorded as rejected", kv);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (payments)
            rc_payment_event_free(&payments[i]);
        free(rows[i].payload);
    }
    free(rows);
    free(items);
    free(payments);
    free(updates);
    return failed && applied == 0 ? -1 : applied;
}

static void *worker_main(void *arg)
{
    struct app *app = arg;
    struct recover_worker *w = app->recover_worker;
    /* Acknowledging events comes first: when the CPUs are busy, applying
     * them waits (they are durable in the inbox) rather than slowing the
     * answers down. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        if (w->stop) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        w->kicked = 0;
        pthread_mutex_unlock(&w->mu);

        int n, planned = 0;
        do {
            n = recover_process_pending(app, BATCH);
            /* Plan what the batch marked before taking the next one, so
             * that a long backlog does not hold decisions back. */
            while ((planned = recover_plan_pending(app, BATCH)) == BATCH) {
                pthread_mutex_lock(&w->mu);
                int stop = w->stop;
                pthread_mutex_unlock(&w->mu);
                if (stop)
                    break;
            }
            pthread_mutex_lock(&w->mu);
            int stop = w->stop;
            pthread_mutex_unlock(&w->mu);
            if (stop)
                break;
        } while (n == BATCH);
        if (n < 0 || planned < 0)
            n = -1;
        struct timespec mono;
        clock_gettime(CLOCK_MONOTONIC, &mono);
        /* Once an hour of the app's clock (so a virtual clock's jumps count). */
        int64_t now_ms = clock_now_ms(app->clock);
        if (now_ms - w->last_window_sweep_ms >= WINDOW_SWEEP_INTERVAL_MS) {
            if (recover_sweep_windows(app) > 0)
                recover_plan_pending(app, BATCH);
            w->last_window_sweep_ms = now_ms;
        }
        if (mono.tv_sec - w->last_model_save >= MODEL_SAVE_INTERVAL_S) {
            recover_model_save(app);
            w->last_model_save = mono.tv_sec;
        }
        pthread_mutex_lock(&w->mu);
        if (!w->kicked && !w->stop) {
            /* Woken by new events; the timeout also retries after a store
             * failure. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += n < 0 ? 2 : 1;
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

int recover_worker_start(struct app *app)
{
    struct recover_worker *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    app->recover_worker = w;
    if (pthread_create(&w->thread, NULL, worker_main, app) != 0) {
        app->recover_worker = NULL;
        free(w);
        return -1;
    }
    return 0;
}

void recover_worker_kick(struct app *app)
{
    struct recover_worker *w = app->recover_worker;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->kicked = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void recover_worker_stop(struct app *app)
{
    struct recover_worker *w = app->recover_worker;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    app->recover_worker = NULL;
}
