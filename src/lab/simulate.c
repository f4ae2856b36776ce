#include "lab/simulate.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/jsonv.h"
#include "core/timefmt.h"
#include "lab/events.h"
#include "lab/world.h"
#include "recover/declines.h"
#include "recover/invoice_state.h"
#include "recover/model.h"
#include "recover/network_rules.h"
#include "recover/planner.h"
#include "recover/validate.h"

enum ev_kind { EV_FAIL, EV_RETRY, EV_PM_UPDATE, EV_RENEWAL };

struct ev {
    int64_t at;
    uint64_t seq;
    uint32_t inv;
    uint32_t gen;
    uint8_t kind;
};

/* An invoice in dunning, as the lab keeps it in memory: its attempts
 * compactly, and the fields of struct rc_invoice the state machine keeps. */
struct inv {
    struct lab_attempt *att;
    uint16_t natt;
    uint16_t retries;
    uint8_t open;
    uint8_t has_pm_update;
    uint32_t gen; /* bumped to drop a planned retry that was replanned */
    int64_t pm_updated_at;
    char state[32];
    int64_t failed_attempts;
    int has_dunning_started;
    int64_t dunning_started_at;
    int64_t amount_due;
    int has_closed;
    int64_t closed_at;
};

struct run {
    const struct lab_world *w;
    const struct lab_scenario *s;
    const struct lab_customer *pop;
    size_t n;
    int stream;
    const char *tag;
    enum lab_strategy st;
    rc_model *model;
    int learn;
    int64_t renewals; /* successful renewals per invoice to learn (warm-up) */
    struct inv *inv;
    struct lab_attempt *pool;
    size_t per_inv;
    struct ev *heap;
    size_t nheap, capheap;
    uint64_t seq;
    struct lab_outcome *outcomes;
    size_t noutcomes, capoutcomes;
    struct rc_txn *tx;      /* the invoice's transactions, filled on demand */
    size_t tx_owner;        /* ... for this invoice */
    size_t tx_filled;       /* ... this many of them */
    struct rc_txn *card_tx; /* the card's attempts: earlier invoices', then those on the payment method to retry */
    struct lab_past past[LAB_MAX_PAST_INVOICES * LAB_PAST_ATTEMPTS];
    struct nr_attempt *hist;
    buf json;
    struct lab_result *res;
    double *days;
    size_t ndays;
    int64_t learned;
    char error[512];
};

/* ------------------------------------------------------------------ queue */

static int ev_before(const struct ev *a, const struct ev *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static int push(struct run *r, int64_t at, enum ev_kind kind, size_t i, uint32_t gen)
{
    if (r->nheap == r->capheap) {
        size_t cap = r->capheap ? r->capheap * 2 : 1024;
        struct ev *h = realloc(r->heap, cap * sizeof *h);
        if (!h)
            return -1;
        r->heap = h;
        r->capheap = cap;
    }
    struct ev e = {at, r->seq++, (uint32_t)i, gen, (uint8_t)kind};
    size_t k = r->nheap++;
    while (k > 0 && ev_before(&e, &r->heap[(k - 1) / 2])) {
        r->heap[k] = r->heap[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    r->heap[k] = e;
    return 0;
}

static struct ev pop(struct run *r)
{
    struct ev top = r->heap[0];
    struct ev last = r->heap[--r->nheap];
    size_t k = 0;
    for (;;) {
        size_t c = 2 * k + 1;
        if (c >= r->nheap)
            break;
        if (c + 1 < r->nheap && ev_before(&r->heap[c + 1], &r->heap[c]))
            c++;
        if (!ev_before(&r->heap[c], &last))
            break;
        r->heap[k] = r->heap[c];
        k = c;
    }
    if (r->nheap > 0)
        r->heap[k] = last;
    return top;
}

/* -------------------------------------------------------------- ingestion */

/* The outcome's index in the run's table of distinct outcomes; a new one
 * is normalised and added. The normaliser is a pure function of these
 * fields, so each distinct outcome is normalised once here (the state
 * machine still normalises every event itself). */
static int intern_outcome(struct run *r, const struct rc_txn *t)
{
    for (size_t i = 0; i < r->noutcomes; i++) {
        const struct lab_outcome *o = &r->outcomes[i];
        if (o->success == t->success && strcmp(o->psp, t->psp) == 0 && strcmp(o->raw, t->raw_response_message) == 0 &&
            strcmp(o->psp_message, t->psp_response_message) == 0 && strcmp(o->code, t->processor_response_code) == 0 &&
            strcmp(o->network_status, t->network_status) == 0 && strcmp(o->response_type, t->response_type) == 0)
            return (int)i;
    }
    if (r->noutcomes == r->capoutcomes) {
        size_t cap = r->capoutcomes ? r->capoutcomes * 2 : 64;
        if (cap > 65535)
            return -1;
        struct lab_outcome *o = realloc(r->outcomes, cap * sizeof *o);
        if (!o)
            return -1;
        r->outcomes = o;
        r->capoutcomes = cap;
    }
    struct lab_outcome *o = &r->outcomes[r->noutcomes];
    memset(o, 0, sizeof *o);
    str_copy(o->raw, sizeof o->raw, t->raw_response_message);
    str_copy(o->psp_message, sizeof o->psp_message, t->psp_response_message);
    str_copy(o->code, sizeof o->code, t->processor_response_code);
    str_copy(o->network_status, sizeof o->network_status, t->network_status);
    str_copy(o->response_type, sizeof o->response_type, t->response_type);
    str_copy(o->psp, sizeof o->psp, t->psp);
    o->success = t->success;
    rc_decline_of_txn(t, &o->decline);
    return (int)r->noutcomes++;
}

/* Attempts are only ever appended, so the transactions filled for the
 * invoice handled last stay valid and only new ones need filling. */
static size_t fill_txns(struct run *r, size_t i, size_t upto)
{
    const struct inv *v = &r->inv[i];
    size_t n = upto < v->natt ? upto : v->natt;
    if (r->tx_owner != i) {
        r->tx_owner = i;
        r->tx_filled = 0;
    }
    for (size_t k = r->tx_filled; k < n; k++)
        lab_txn_fill(r->w, &r->pop[i], r->tag, (int)k, &v->att[k], &r->outcomes[v->att[k].outcome], &r->tx[k]);
    if (n > r->tx_filled)
        r->tx_filled = n;
    return n;
}

static void fill_invoice(const struct run *r, size_t i, struct rc_invoice *out)
{
    const struct inv *v = &r->inv[i];
    const struct lab_customer *c = &r->pop[i];
    memset(out, 0, sizeof *out);
    str_copy(out->merchant_id, sizeof out->merchant_id, r->s->merchant_id);
    str_copy(out->env, sizeof out->env, "production");
    lab_invoice_id(c, r->tag, out->invoice_id, sizeof out->invoice_id);
    snprintf(out->customer_id, sizeof out->customer_id, "cus_%s_%u", r->tag, c->id);
    snprintf(out->subscription_id, sizeof out->subscription_id, "sub_%s_%u", r->tag, c->id);
    out->created_at = c->fail_at;
    str_copy(out->state, sizeof out->state, v->state);
    out->amount_due = v->amount_due;
    str_copy(out->currency, sizeof out->currency, r->s->currencies[c->currency].code);
    out->has_dunning_started = v->has_dunning_started;
    out->dunning_started_at = v->dunning_started_at;
    out->has_closed = v->has_closed;
    out->closed_at = v->closed_at;
    out->failed_attempts = v->failed_attempts;
    out->recover_attempts = v->retries;
    out->exists = v->natt > 0;
}

static void take_invoice(struct run *r, size_t i, const struct rc_invoice *in, const struct rc_transition *tr)
{
    struct inv *v = &r->inv[i];
    if (tr->changed)
        str_copy(v->state, sizeof v->state, tr->to_state);
    v->failed_attempts = in->failed_attempts;
    v->has_dunning_started = in->has_dunning_started;
    v->dunning_started_at = in->dunning_started_at;
    v->amount_due = in->amount_due;
    v->has_closed = in->has_closed;
    v->closed_at = in->closed_at;
}

/* The card's attempts on the customer's earlier invoices, as the merchant
 * forwarded them, into r->card_tx: the invoice's first transaction (same
 * card, same customer) with the time and outcome of each. */
static size_t past_txns(struct run *r, size_t i, const struct rc_txn *like)
{
    size_t n = lab_world_past(r->w, &r->pop[i], r->past);
    for (size_t k = 0; k < n; k++) {
        struct rc_txn *t = &r->card_tx[k];
        *t = *like;
        t->raw = NULL;
        snprintf(t->transaction_id, sizeof t->transaction_id, "tx_%s_%u_past%zu", r->tag, r->pop[i].id, k);
        snprintf(t->psp_transaction_id, sizeof t->psp_transaction_id, "ch_%s_%u_past%zu", r->tag, r->pop[i].id, k);
        t->psp_created_at = r->past[k].at;
        t->success = r->past[k].success;
        str_copy(t->origin, sizeof t->origin, "merchant");
        if (t->success) {
            str_copy(t->raw_response_message, sizeof t->raw_response_message, "approved");
            t->psp_response_message[0] = t->processor_response_code[0] = t->network_status[0] = '\0';
            t->response_type[0] = '\0';
        }
    }
    return n;
}

static void learn(struct run *r, size_t i, size_t nearlier, const struct rc_txn *t, int64_t at)
{
    struct rc_model_features f;
    const char *postal = lab_postal_code(r->w, &r->pop[i]);
    rc_model_features_for(&f, r->tx, nearlier, t, postal, r->s->merchant_tz, at);
    /* The card's history: its earlier invoices (the first transaction of
     * this one shows the card as it was) and this invoice's attempts. */
    const struct rc_txn *like = nearlier ? &r->tx[0] : t;
    size_t nc = past_txns(r, i, like);
    for (size_t k = 0; k < nearlier; k++)
        if (strcmp(r->tx[k].payment_method_id, like->payment_method_id) == 0)
            r->card_tx[nc++] = r->tx[k];
    if (strcmp(t->payment_method_id, like->payment_method_id) == 0)
        rc_model_features_card(&f, r->card_tx, nc, rc_model_zone(t, postal, r->s->merchant_tz), at);
    rc_model_learn(r->model, r->s->merchant_id, &f, t->success);
    r->learned++;
}

/* Sends one attempt through the API's parser and the normaliser, keeps it,
 * moves the invoice's state as the store would, and teaches the model. */
static int ingest(struct run *r, size_t i, const struct lab_attempt *a, const char *reason, const char *mac)
{
    const struct lab_customer *c = &r->pop[i];
    struct inv *v = &r->inv[i];
    struct lab_psp_outcome po;
    lab_psp_outcome(r->s->psps[c->psp].name, reason, mac, a->success, &po);
    buf_reset(&r->json);
    lab_event_json(r->w, c, r->tag, v->natt, a, &po, &r->json);
    cJSON *root = cJSON_Parse(buf_cstr(&r->json));
    verrs e;
    verrs_init(&e);
    struct rc_payment_event ev;
    if (!root || rc_parse_payment(root, &ev, &e) != 0 || ev.ntxns != 1) {
        char *why = e.list ? cJSON_PrintUnformatted(e.list) : NULL;
        snprintf(r->error, sizeof r->error, "a simulated event was refused by the parser: %.300s",
                 why ? why : "not JSON");
        free(why);
        verrs_free(&e);
        cJSON_Delete(root);
        return -1;
    }
    verrs_free(&e);
    cJSON_Delete(root);
    struct rc_txn *t = &ev.txns[0];
    t->is_new = 1;
    int oi = intern_outcome(r, t);
    if (oi < 0 || v->natt >= r->per_inv) {
        snprintf(r->error, sizeof r->error, "out of memory for outcomes or attempts");
        rc_payment_event_free(&ev);
        return -1;
    }
    size_t nearlier = 0;
    if (r->learn)
        nearlier = fill_txns(r, i, v->natt);
    struct lab_attempt kept = *a;
    kept.outcome = (uint16_t)oi;
    v->att[v->natt++] = kept;

    struct rc_invoice invoice;
    fill_invoice(r, i, &invoice);
    invoice.exists = v->natt > 1;
    struct rc_transition tr;
    rc_decide_payment(&invoice, t, 1, a->at, &tr);
    take_invoice(r, i, &invoice, &tr);
    if (r->learn)
        learn(r, i, nearlier, t, a->at);
    rc_payment_event_free(&ev);
    return 0;
}

/* A successful renewal of another customer like c: data the model learns
 * from, with no invoice behind it. */
static int ingest_renewal(struct run *r, size_t i, uint32_t nth, int64_t at)
{
    struct lab_customer c = r->pop[i];
    c.id = c.id * 64 + nth;
    struct lab_attempt a = {at, 0, 1, 0, 0};
    struct lab_psp_outcome po;
    lab_psp_outcome(r->s->psps[c.psp].name, "", "", 1, &po);
    buf_reset(&r->json);
    lab_event_json(r->w, &c, "renewal", 0, &a, &po, &r->json);
    cJSON *root = cJSON_Parse(buf_cstr(&r->json));
    verrs e;
    verrs_init(&e);
    struct rc_payment_event ev;
    int bad = !root || rc_parse_payment(root, &ev, &e) != 0;
    verrs_free(&e);
    cJSON_Delete(root);
    if (bad) {
        snprintf(r->error, sizeof r->error, "a simulated renewal was refused by the parser");
        return -1;
    }
    struct rc_decline d;
    rc_decline_of_txn(&ev.txns[0], &d);
    struct rc_model_features f;
    rc_model_features_for(&f, NULL, 0, &ev.txns[0], lab_postal_code(r->w, &c), r->s->merchant_tz, at);
    rc_model_learn(r->model, r->s->merchant_id, &f, 1);
    r->learned++;
    rc_payment_event_free(&ev);
    return 0;
}

/* ------------------------------------------------------------ card rules */

/* Whether the network rules allow a retry of invoice i at t, on the card
 * on file; v gets the verdict. */
static int rules_allow(struct run *r, size_t i, int64_t t, struct nr_verdict *verdict)
{
    const struct inv *v = &r->inv[i];
    const struct lab_customer *c = &r->pop[i];
    size_t n = fill_txns(r, i, v->natt);
    char pm[RC_ID_MAX];
    lab_payment_method_id(c, r->tag, v->has_pm_update, pm, sizeof pm);
    size_t nh = nr_history_from_txns(r->tx, n, pm, r->hist, r->per_inv + 1);
    if (nh > r->per_inv + 1)
        nh = r->per_inv + 1;
    struct nr_request q;
    memset(&q, 0, sizeof q);
    q.scheme = nr_scheme_from_name(r->s->schemes[c->scheme].name);
    q.history = r->hist;
    q.nhistory = nh;
    for (size_t k = v->natt; k-- > 0;) {
        if (v->att[k].success)
            continue;
        const struct lab_outcome *o = &r->outcomes[v->att[k].outcome];
        q.decline.network_code = o->decline.network_code;
        q.decline.mac = o->decline.mac;
        q.decline.decline_class = rc_decline_class_name(o->decline.cls);
        q.decline.declined_at_ms = v->att[k].at;
        break;
    }
    q.decline.has_pm_update = v->has_pm_update;
    q.decline.pm_updated_at_ms = v->pm_updated_at;
    q.initiator = NR_MIT;
    q.proposed_at_ms = t;
    int rc = nr_check_planned(&r->s->rules, &q, verdict);
    return rc == 0;
}

struct oracle_ctx {
    struct run *r;
    size_t i;
};

static int oracle_allowed(void *ctx, int64_t t, int64_t *earliest)
{
    struct oracle_ctx *o = ctx;
    struct nr_verdict v;
    int ok = rules_allow(o->r, o->i, t, &v);
    *earliest = ok ? t : (v.earliest_ms == NR_NEVER ? LAB_NEVER : v.earliest_ms);
    return ok;
}

/* ------------------------------------------------------------- strategies */

static int64_t window_end(const struct run *r, size_t i)
{
    return r->pop[i].fail_at + r->s->dunning_days * LAB_DAY_MS;
}

static int plan(struct run *r, size_t i, int64_t now)
{
    struct inv *v = &r->inv[i];
    const struct lab_customer *c = &r->pop[i];
    size_t n = fill_txns(r, i, v->natt);
    char pm[RC_ID_MAX];
    lab_payment_method_id(c, r->tag, v->has_pm_update, pm, sizeof pm);
    /* The earlier invoices were paid with the card the renewal used. */
    size_t nc = strcmp(r->tx[0].payment_method_id, pm) == 0 ? past_txns(r, i, &r->tx[0]) : 0;
    for (size_t k = 0; k < n; k++)
        if (strcmp(r->tx[k].payment_method_id, pm) == 0)
            r->card_tx[nc++] = r->tx[k];
    struct rc_invoice invoice;
    fill_invoice(r, i, &invoice);
    struct rc_plan_input in = {
        .merchant_id = r->s->merchant_id,
        .dunning_days = r->s->dunning_days,
        .max_retries = r->s->max_retries,
        .merchant_tz = r->s->merchant_tz,
        .invoice = &invoice,
        .txns = r->tx,
        .ntxns = n,
        .card_txns = r->card_tx,
        .ncard_txns = nc,
        .payment_method_id = pm,
        .has_pm_update = v->has_pm_update,
        .pm_updated_at = v->pm_updated_at,
        .postal_code = lab_postal_code(r->w, c),
        .recover_attempts = v->retries,
        .now = now,
        .rules = &r->s->rules,
        .model = r->model,
    };
    struct rc_decision d;
    memset(&d, 0, sizeof d);
    rc_plan(&in, &d);
    r->res->plans++;
    if (strcmp(d.action, RC_ACTION_RETRY) == 0) {
        int64_t at = d.planned_at < now ? now : d.planned_at;
        if (at >= window_end(r, i) || v->retries >= r->s->max_retries) {
            r->res->planner_overruns++;
            v->open = 0;
            return 0;
        }
        return push(r, at, EV_RETRY, i, v->gen);
    }
    if (strcmp(d.action, RC_ACTION_WAIT_PM) != 0)
        v->open = 0;
    return 0;
}

/* After a failure at now: the strategy's next retry, or the end. */
static int next_step(struct run *r, size_t i, int64_t now)
{
    struct inv *v = &r->inv[i];
    const struct lab_customer *c = &r->pop[i];
    int64_t end = window_end(r, i);
    switch (r->st) {
    case LAB_RECOUP:
        return plan(r, i, now);
    case LAB_ORACLE: {
        struct oracle_ctx ctx = {r, i};
        int64_t at = lab_oracle_next(r->w, c, now, v->retries, (int)r->s->max_retries, end, oracle_allowed, &ctx);
        if (at < 0) {
            v->open = 0;
            return 0;
        }
        return push(r, at, EV_RETRY, i, v->gen);
    }
    default: {
        int64_t off = lab_fixed_offset(r->st, v->retries);
        if (off < 0 || c->fail_at + off >= end) {
            v->open = 0;
            return 0;
        }
        return push(r, c->fail_at + off, EV_RETRY, i, v->gen);
    }
    }
}

static void recovered(struct run *r, size_t i, int64_t at)
{
    const struct lab_customer *c = &r->pop[i];
    r->res->recovered++;
    r->res->recovered_value += c->value;
    r->res->by_type[c->type].recovered++;
    r->res->by_type[c->type].recovered_value += c->value;
    r->days[r->ndays++] = (double)(at - c->fail_at) / (double)LAB_DAY_MS;
}

static int on_retry(struct run *r, size_t i, int64_t at)
{
    struct inv *v = &r->inv[i];
    const struct lab_customer *c = &r->pop[i];
    /* RetryStatus, asked just before every retry: a cancelled
     * subscription ends dunning without an attempt. */
    if (at >= c->cancel_at) {
        v->open = 0;
        r->res->cancelled++;
        return 0;
    }
    struct nr_verdict verdict;
    if (!rules_allow(r, i, at, &verdict)) {
        r->res->violations++;
        r->res->fees += (double)verdict.fee_cents / 100.0 * r->s->usd_rate;
    }
    int64_t last_fail = v->att[v->natt - 1].at;
    double p = lab_world_chance(r->w, c, at, v->retries, last_fail);
    double u = lab_world_draw(r->w, r->stream, c, v->retries);
    struct lab_attempt a = {at, 0, u < p, 1, v->has_pm_update};
    const char *reason = "", *mac = "";
    if (!a.success)
        lab_world_failure(r->w, c, at, &reason, &mac);
    if (ingest(r, i, &a, reason, mac) != 0)
        return -1;
    v->retries++;
    r->res->attempts++;
    r->res->by_type[c->type].attempts++;
    if (a.success) {
        v->open = 0;
        if (r->days)
            recovered(r, i, at);
        return 0;
    }
    return next_step(r, i, at);
}

static int on_pm_update(struct run *r, size_t i, int64_t at)
{
    struct inv *v = &r->inv[i];
    if (!v->open)
        return 0;
    buf_reset(&r->json);
    lab_pm_update_json(&r->pop[i], r->tag, &r->json);
    cJSON *root = cJSON_Parse(buf_cstr(&r->json));
    verrs e;
    verrs_init(&e);
    struct rc_pm_update up;
    int bad = !root || rc_parse_pm_update(root, &up, &e) != 0;
    verrs_free(&e);
    cJSON_Delete(root);
    if (bad) {
        snprintf(r->error, sizeof r->error, "a simulated payment method update was refused by the parser");
        return -1;
    }
    struct rc_invoice invoice;
    fill_invoice(r, i, &invoice);
    struct rc_transition tr;
    rc_decide_pm_update(&invoice, up.reason, at, &tr);
    take_invoice(r, i, &invoice, &tr);
    v->has_pm_update = 1;
    v->pm_updated_at = at;
    if (r->st != LAB_RECOUP)
        return 0;
    /* A new card changes the best time: the planned retry is replaced. */
    v->gen++;
    return plan(r, i, at);
}

static int on_fail(struct run *r, size_t i)
{
    struct inv *v = &r->inv[i];
    const struct lab_customer *c = &r->pop[i];
    struct lab_attempt a = {c->fail_at, 0, 0, 0, 0};
    const char *reason, *mac;
    lab_world_failure(r->w, c, c->fail_at, &reason, &mac);
    if (ingest(r, i, &a, reason, mac) != 0)
        return -1;
    v->open = rc_state_is_open(v->state);
    if (!v->open)
        return 0;
    return next_step(r, i, c->fail_at);
}

/* ------------------------------------------------------------------- runs */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run_free(struct run *r)
{
    free(r->inv);
    free(r->pool);
    free(r->heap);
    free(r->outcomes);
    free(r->tx);
    free(r->card_tx);
    free(r->hist);
    free(r->days);
    buf_free(&r->json);
}

static int run_init(struct run *r, const struct lab_world *w, const struct lab_customer *pop, size_t n, int stream,
                    const char *tag, enum lab_strategy st, struct lab_result *res)
{
    memset(r, 0, sizeof *r);
    r->w = w;
    r->s = w->s;
    r->pop = pop;
    r->n = n;
    r->stream = stream;
    r->tag = tag;
    r->st = st;
    r->res = res;
    buf_init(&r->json);
    /* The merchant's renewal, the most retries any strategy makes, and room
     * for one planned past the limit. */
    r->per_inv = (size_t)(r->s->max_retries > 8 ? r->s->max_retries : 8) + 2;
    r->inv = calloc(n ? n : 1, sizeof *r->inv);
    r->pool = calloc((n ? n : 1) * r->per_inv, sizeof *r->pool);
    r->tx = calloc(r->per_inv + 1, sizeof *r->tx);
    r->card_tx = calloc(r->per_inv + 1 + LAB_MAX_PAST_INVOICES * LAB_PAST_ATTEMPTS, sizeof *r->card_tx);
    r->hist = calloc(r->per_inv + 2, sizeof *r->hist);
    r->days = calloc(n ? n : 1, sizeof *r->days);
    if (!r->inv || !r->pool || !r->tx || !r->card_tx || !r->hist || !r->days) {
        snprintf(r->error, sizeof r->error, "out of memory for %zu invoices", n);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        r->inv[i].att = r->pool + i * r->per_inv;
    r->tx_owner = SIZE_MAX;
    return 0;
}

static int run_loop(struct run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct lab_customer *c = &r->pop[i];
        if (push(r, c->fail_at, EV_FAIL, i, 0) != 0)
            goto oom;
        if (c->replaced_at != LAB_NEVER && c->replaced_at < window_end(r, i) && push(r, c->replaced_at, EV_PM_UPDATE, i, 0))
            goto oom;
        for (int64_t k = 0; k < r->renewals; k++) {
            /* Renewals that went through, over the same stretch of time. */
            double u = lab_unit(lab_hash(r->w->seed, 77, c->id, (uint64_t)k));
            int64_t at = c->fail_at - 14 * LAB_DAY_MS + (int64_t)(u * 28 * (double)LAB_DAY_MS);
            if (push(r, at, EV_RENEWAL, i, (uint32_t)k) != 0)
                goto oom;
        }
    }
    while (r->nheap > 0) {
        struct ev e = pop(r);
        int rc = 0;
        switch ((enum ev_kind)e.kind) {
        case EV_FAIL:
            rc = on_fail(r, e.inv);
            break;
        case EV_RETRY:
            if (r->inv[e.inv].open && r->inv[e.inv].gen == e.gen)
                rc = on_retry(r, e.inv, e.at);
            break;
        case EV_PM_UPDATE:
            rc = on_pm_update(r, e.inv, e.at);
            break;
        case EV_RENEWAL:
            rc = ingest_renewal(r, e.inv, e.gen, e.at);
            break;
        }
        if (rc != 0) {
            if (!r->error[0])
                goto oom;
            return -1;
        }
    }
    return 0;
oom:
    snprintf(r->error, sizeof r->error, "out of memory");
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct job {
    const struct lab_world *w;
    const struct lab_customer *pop;
    size_t n;
    enum lab_strategy st;
    struct lab_result *res;
    int64_t warmup_outcomes;
    double warmup_seconds;
    char error[512];
    int rc;
};

/* The recoup strategy's model starts from a month of the merchant's
 * history: renewals that went through and failed ones retried on the
 * merchant's old fixed schedule, outcomes drawn from the same world. */
static int warm_up(struct job *j, rc_model *model)
{
    const struct lab_scenario *s = j->w->s;
    if (!s->warmup || s->warmup_invoices <= 0)
        return 0;
    double t0 = now_seconds();
    size_t n = (size_t)s->warmup_invoices;
    /* The old schedule's last retries end before the window opens. */
    int64_t from = s->start_ms - (s->spread_days + 14) * LAB_DAY_MS;
    struct lab_customer *pop = lab_population(j->w, 1, n, from, s->spread_days * LAB_DAY_MS);
    struct lab_result scratch;
    memset(&scratch, 0, sizeof scratch);
    struct run r;
    int rc = pop ? run_init(&r, j->w, pop, n, 1, "w", LAB_FIXED_8_IN_14, &scratch) : -1;
    if (rc == 0) {
        r.model = model;
        r.learn = 1;
        r.renewals = s->warmup_renewals;
        free(r.days);
        r.days = NULL;
        rc = run_loop(&r);
        j->warmup_outcomes = r.learned;
    }
    if (rc != 0)
        snprintf(j->error, sizeof j->error, "warm-up: %.400s", pop ? r.error : "out of memory");
    if (pop)
        run_free(&r);
    free(pop);
    j->warmup_seconds = now_seconds() - t0;
    return rc;
}

static void *run_job(void *arg)
{
    struct job *j = arg;
    double t0 = now_seconds();
    struct lab_result *res = j->res;
    memset(res, 0, sizeof *res);
    rc_model *model = NULL;
    if (j->st == LAB_RECOUP) {
        model = rc_model_new();
        if (!model || warm_up(j, model) != 0) {
            if (!j->error[0])
                snprintf(j->error, sizeof j->error, "out of memory for the model");
            rc_model_free(model);
            j->rc = -1;
            return NULL;
        }
    }
    struct run r;
    j->rc = run_init(&r, j->w, j->pop, j->n, 0, "lab", j->st, res);
    if (j->rc == 0) {
        r.model = model;
        r.learn = model != NULL;
        j->rc = run_loop(&r);
    }
    if (j->rc != 0) {
        snprintf(j->error, sizeof j->error, "%s: %.400s", lab_strategy_name(j->st), r.error);
    } else {
        for (size_t i = 0; i < j->n; i++) {
            const struct lab_customer *c = &j->pop[i];
            res->invoices++;
            res->failed_value += c->value;
            res->by_type[c->type].invoices++;
            res->by_type[c->type].failed_value += c->value;
        }
        qsort(r.days, r.ndays, sizeof *r.days, cmp_double);
        res->median_days = r.ndays == 0 ? -1
                           : r.ndays % 2 ? r.days[r.ndays / 2]
                                         : (r.days[r.ndays / 2 - 1] + r.days[r.ndays / 2]) / 2;
        res->ran = 1;
    }
    run_free(&r);
    rc_model_free(model);
    res->seconds = now_seconds() - t0;
    return NULL;
}

struct queue {
    pthread_mutex_t mu;
    struct job *jobs;
    size_t n, next;
};

static void *worker(void *arg)
{
    struct queue *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        struct job *j = q->next < q->n ? &q->jobs[q->next++] : NULL;
        pthread_mutex_unlock(&q->mu);
        if (!j)
            return NULL;
        run_job(j);
    }
}

int lab_simulate(const struct lab_scenario *s, const struct lab_options *o, struct lab_report *out, char *err,
                 size_t errsz)
{
    memset(out, 0, sizeof *out);
    out->s = s;
    out->seed = o->seed;
    struct lab_world w;
    if (lab_world_init(&w, s, o->seed) != 0) {
        snprintf(err, errsz, "out of memory for the time zone tables");
        return -1;
    }
    size_t n = (size_t)s->invoices;
    struct lab_customer *pop = lab_population(&w, 0, n, s->start_ms, s->spread_days * LAB_DAY_MS);
    if (!pop) {
        lab_world_free(&w);
        snprintf(err, errsz, "out of memory for %zu customers", n);
        return -1;
    }
    struct job jobs[LAB_STRATEGY_COUNT];
    size_t nj = 0;
    for (int st = 0; st < LAB_STRATEGY_COUNT; st++) {
        if (o->strategies && !(o->strategies & (1u << st)))
            continue;
        memset(&jobs[nj], 0, sizeof jobs[nj]);
        jobs[nj] = (struct job){.w = &w, .pop = pop, .n = n, .st = (enum lab_strategy)st, .res = &out->r[st]};
        nj++;
    }
    /* Workers take the next strategy as they finish one, so that a long
     * run (recoup's, the 8-in-14 schedule's) does not hold the others up. */
    struct queue q = {PTHREAD_MUTEX_INITIALIZER, jobs, nj, 0};
    size_t width = o->jobs > 1 ? (size_t)o->jobs : 1;
    if (width > nj)
        width = nj;
    pthread_t th[LAB_STRATEGY_COUNT];
    size_t started = 0;
    for (size_t k = 1; k < width; k++)
        if (pthread_create(&th[started], NULL, worker, &q) == 0)
            started++;
    worker(&q);
    for (size_t k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    int rc = 0;
    for (size_t k = 0; k < nj; k++) {
        if (jobs[k].st == LAB_RECOUP) {
            out->warmup_outcomes = jobs[k].warmup_outcomes;
            out->warmup_seconds = jobs[k].warmup_seconds;
        }
        if (jobs[k].rc != 0 && rc == 0) {
            snprintf(err, errsz, "%s", jobs[k].error);
            rc = -1;
        }
    }
    free(pop);
    lab_world_free(&w);
    return rc;
}

/* ----------------------------------------------------------------- report */

static double pct(double a, double b) { return b > 0 ? 100.0 * a / b : 0; }

static double per_recovered(const struct lab_result *r)
{
    return r->recovered > 0 ? (double)r->attempts / (double)r->recovered : 0;
}

size_t lab_report_checks(const struct lab_report *rep, struct lab_check *out, size_t max)
{
    const struct lab_result *rc = &rep->r[LAB_RECOUP];
    size_t k = 0;
    if (!rc->ran)
        return 0;
    if (rep->r[LAB_ORACLE].ran && k < max) {
        double v = pct(rc->recovered_value, rep->r[LAB_ORACLE].recovered_value);
        out[k++] = (struct lab_check){"recoup recovers at least 90% of the oracle's value", v >= 90, v, 90};
    }
    for (int st = LAB_FIXED_8_IN_14; st <= LAB_FIXED_1_3_5_7 && k < max; st++) {
        if (!rep->r[st].ran)
            continue;
        struct lab_check c = {"", rc->recovered_value > rep->r[st].recovered_value,
                              pct(rc->recovered_value, rc->failed_value),
                              pct(rep->r[st].recovered_value, rep->r[st].failed_value)};
        snprintf(c.name, sizeof c.name, "recoup recovers more than %s", lab_strategy_name((enum lab_strategy)st));
        out[k++] = c;
    }
    if (rep->r[LAB_FIXED_8_IN_14].ran && k < max) {
        double base = per_recovered(&rep->r[LAB_FIXED_8_IN_14]);
        double v = base > 0 ? 100.0 * per_recovered(rc) / base : 0;
        out[k++] = (struct lab_check){"recoup's attempts per recovered invoice at most 60% of fixed_8_in_14's",
                                      rc->recovered > 0 && base > 0 && v <= 60, v, 60};
    }
    if (k < max)
        out[k++] = (struct lab_check){"recoup breaks no network rule", rc->violations == 0, (double)rc->violations, 0};
    return k;
}

void lab_report_text(const struct lab_report *rep, int with_timing, buf *b)
{
    const struct lab_scenario *s = rep->s;
    const struct lab_result *any = NULL;
    for (int st = 0; st < LAB_STRATEGY_COUNT; st++)
        if (rep->r[st].ran && !any)
            any = &rep->r[st];
    buf_printf(b, "scenario %s, seed %llu: %lld failed invoices worth %.2f %s; %lld-day window, at most %lld retries\n",
               s->name, (unsigned long long)rep->seed, (long long)s->invoices, any ? any->failed_value : 0,
               s->reporting_currency, (long long)s->dunning_days, (long long)s->max_retries);
    if (rep->r[LAB_RECOUP].ran)
        buf_printf(b, "the model learned %lld outcomes of the warm-up month first\n", (long long)rep->warmup_outcomes);
    buf_printf(b, "\n%-15s %11s %12s %13s %10s %12s %11s\n", "strategy", "recovered %", "% of oracle",
               "attempts/rec", "violations", "fees", "median days");
    const struct lab_result *oracle = rep->r[LAB_ORACLE].ran ? &rep->r[LAB_ORACLE] : NULL;
    for (int st = 0; st < LAB_STRATEGY_COUNT; st++) {
        const struct lab_result *r = &rep->r[st];
        if (!r->ran)
            continue;
        char of_oracle[24], median[24], fees[40];
        if (oracle)
            snprintf(of_oracle, sizeof of_oracle, "%.1f", pct(r->recovered_value, oracle->recovered_value));
        else
            snprintf(of_oracle, sizeof of_oracle, "-");
        if (r->median_days >= 0)
            snprintf(median, sizeof median, "%.1f", r->median_days);
        else
            snprintf(median, sizeof median, "-");
        snprintf(fees, sizeof fees, "%.2f %s", r->fees, s->reporting_currency);
        buf_printf(b, "%-15s %11.1f %12s %13.2f %10lld %12s %11s\n", lab_strategy_name((enum lab_strategy)st),
                   pct(r->recovered_value, r->failed_value), of_oracle, per_recovered(r), (long long)r->violations,
                   fees, median);
    }
    buf_printf(b, "\nrecovered %% of failed value by decline type (retries per invoice)\n%-19s %8s", "type",
               "invoices");
    for (int st = 0; st < LAB_STRATEGY_COUNT; st++)
        if (rep->r[st].ran)
            buf_printf(b, " %15s", lab_strategy_name((enum lab_strategy)st));
    buf_putc(b, '\n');
    for (int t = 0; t < LAB_TYPE_COUNT; t++) {
        if (!any || any->by_type[t].invoices == 0)
            continue;
        buf_printf(b, "%-19s %8lld", lab_decline_type_name((enum lab_decline_type)t),
                   (long long)any->by_type[t].invoices);
        for (int st = 0; st < LAB_STRATEGY_COUNT; st++) {
            const struct lab_type_result *x = &rep->r[st].by_type[t];
            if (!rep->r[st].ran)
                continue;
            char cell[40];
            snprintf(cell, sizeof cell, "%.1f (%.2f)", pct(x->recovered_value, x->failed_value),
                     x->invoices ? (double)x->attempts / (double)x->invoices : 0);
            buf_printf(b, " %15s", cell);
        }
        buf_putc(b, '\n');
    }
    struct lab_check checks[8];
    size_t nc = lab_report_checks(rep, checks, 8);
    if (nc > 0)
        buf_puts(b, "\nchecks against the targets\n");
    for (size_t k = 0; k < nc; k++) {
        const struct lab_check *c = &checks[k];
        if (strstr(c->name, "more than"))
            buf_printf(b, "%s %s: %.1f%% against %.1f%%\n", c->pass ? "PASS" : "MISS", c->name, c->value, c->target);
        else if (strstr(c->name, "network rule"))
            buf_printf(b, "%s %s: %.0f violations\n", c->pass ? "PASS" : "MISS", c->name, c->value);
        else
            buf_printf(b, "%s %s: %.1f%% (target %s %.0f%%)\n", c->pass ? "PASS" : "MISS", c->name, c->value,
                       strstr(c->name, "at most") ? "<=" : ">=", c->target);
    }
    if (rep->r[LAB_RECOUP].ran && rep->r[LAB_RECOUP].planner_overruns > 0)
        buf_printf(b, "note: the planner planned %lld retries past the window or the retry limit (not made)\n",
                   (long long)rep->r[LAB_RECOUP].planner_overruns);
    if (with_timing) {
        buf_puts(b, "\nwall time\n");
        if (rep->r[LAB_RECOUP].ran)
            buf_printf(b, "%-15s %8.2f s (of which warm-up %.2f s)\n", "recoup", rep->r[LAB_RECOUP].seconds,
                       rep->warmup_seconds);
        for (int st = 1; st < LAB_STRATEGY_COUNT; st++)
            if (rep->r[st].ran)
                buf_printf(b, "%-15s %8.2f s\n", lab_strategy_name((enum lab_strategy)st), rep->r[st].seconds);
    }
}

static double round_to(double v, double unit) { return round(v / unit) * unit; }

cJSON *lab_report_json(const struct lab_report *rep, int with_timing)
{
    const struct lab_scenario *s = rep->s;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "scenario", s->name);
    cJSON_AddNumberToObject(o, "seed", (double)rep->seed);
    cJSON_AddNumberToObject(o, "invoices", (double)s->invoices);
    cJSON_AddStringToObject(o, "currency", s->reporting_currency);
    cJSON_AddNumberToObject(o, "dunning_days", (double)s->dunning_days);
    cJSON_AddNumberToObject(o, "max_retries", (double)s->max_retries);
    if (rep->r[LAB_RECOUP].ran)
        cJSON_AddNumberToObject(o, "warmup_outcomes", (double)rep->warmup_outcomes);
    const struct lab_result *oracle = rep->r[LAB_ORACLE].ran ? &rep->r[LAB_ORACLE] : NULL;
    cJSON *list = cJSON_AddArrayToObject(o, "strategies");
    for (int st = 0; st < LAB_STRATEGY_COUNT; st++) {
        const struct lab_result *r = &rep->r[st];
        if (!r->ran)
            continue;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", lab_strategy_name((enum lab_strategy)st));
        cJSON_AddNumberToObject(x, "failed_value", round_to(r->failed_value, 0.01));
        cJSON_AddNumberToObject(x, "recovered_value", round_to(r->recovered_value, 0.01));
        cJSON_AddNumberToObject(x, "recovered_pct", round_to(pct(r->recovered_value, r->failed_value), 0.01));
        if (oracle)
            cJSON_AddNumberToObject(x, "of_oracle_pct", round_to(pct(r->recovered_value, oracle->recovered_value), 0.01));
        cJSON_AddNumberToObject(x, "recovered_invoices", (double)r->recovered);
        cJSON_AddNumberToObject(x, "attempts", (double)r->attempts);
        cJSON_AddNumberToObject(x, "attempts_per_recovered", round_to(per_recovered(r), 0.001));
        cJSON_AddNumberToObject(x, "violations", (double)r->violations);
        cJSON_AddNumberToObject(x, "fees", round_to(r->fees, 0.01));
        if (r->median_days >= 0)
            cJSON_AddNumberToObject(x, "median_days", round_to(r->median_days, 0.01));
        else
            cJSON_AddNullToObject(x, "median_days");
        cJSON_AddNumberToObject(x, "cancelled", (double)r->cancelled);
        if (st == LAB_RECOUP) {
            cJSON_AddNumberToObject(x, "plans", (double)r->plans);
            cJSON_AddNumberToObject(x, "planner_overruns", (double)r->planner_overruns);
        }
        cJSON *bt = cJSON_AddObjectToObject(x, "by_type");
        for (int t = 0; t < LAB_TYPE_COUNT; t++) {
            const struct lab_type_result *y = &r->by_type[t];
            if (y->invoices == 0)
                continue;
            cJSON *z = cJSON_AddObjectToObject(bt, lab_decline_type_name((enum lab_decline_type)t));
            cJSON_AddNumberToObject(z, "invoices", (double)y->invoices);
            cJSON_AddNumberToObject(z, "recovered", (double)y->recovered);
            cJSON_AddNumberToObject(z, "attempts", (double)y->attempts);
            cJSON_AddNumberToObject(z, "recovered_pct", round_to(pct(y->recovered_value, y->failed_value), 0.01));
        }
        if (with_timing)
            cJSON_AddNumberToObject(x, "seconds", round_to(r->seconds, 0.001));
        cJSON_AddItemToArray(list, x);
    }
    struct lab_check checks[8];
    size_t nc = lab_report_checks(rep, checks, 8);
    cJSON *cl = cJSON_AddArrayToObject(o, "checks");
    int all = 1;
    for (size_t k = 0; k < nc; k++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "check", checks[k].name);
        cJSON_AddBoolToObject(x, "pass", checks[k].pass);
        cJSON_AddNumberToObject(x, "value", round_to(checks[k].value, 0.01));
        cJSON_AddNumberToObject(x, "target", round_to(checks[k].target, 0.01));
        cJSON_AddItemToArray(cl, x);
        all &= checks[k].pass;
    }
    cJSON_AddBoolToObject(o, "pass", nc > 0 && all);
    if (with_timing && rep->r[LAB_RECOUP].ran)
        cJSON_AddNumberToObject(o, "warmup_seconds", round_to(rep->warmup_seconds, 0.001));
    return o;
}

/* ------------------------------------------------------------- command */

static const char *usage_text =
    "usage: recoupctl simulate SCENARIO.json [--seed N] [--invoices N] [--strategies LIST] [--jobs N]\n"
    "                          [--json] [--check] [--timing]\n"
    "  LIST: comma-separated of recoup, fixed_8_in_14, fixed_8_16_24, fixed_1_3_5_7, oracle (default: all)\n"
    "  --check   exit 1 when recoup misses a target; --timing adds wall times\n";

static int parse_u64(const char *s, uint64_t *out)
{
    int64_t v;
    if (str_to_i64(s, &v) != 0 || v < 0)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int lab_simulate_main(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0, check = 0, timing = 0, has_seed = 0;
    uint64_t seed = 0, invoices = 0, jobs = 1;
    unsigned mask = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--check") == 0) {
            check = 1;
        } else if (strcmp(a, "--timing") == 0) {
            timing = 1;
        } else if (strcmp(a, "--seed") == 0 && i + 1 < argc) {
            if (parse_u64(argv[++i], &seed) != 0)
                goto usage;
            has_seed = 1;
        } else if (strcmp(a, "--invoices") == 0 && i + 1 < argc) {
            if (parse_u64(argv[++i], &invoices) != 0 || invoices < 1 || invoices > 2000000)
                goto usage;
        } else if (strcmp(a, "--jobs") == 0 && i + 1 < argc) {
            if (parse_u64(argv[++i], &jobs) != 0 || jobs < 1 || jobs > LAB_STRATEGY_COUNT)
                goto usage;
        } else if (strcmp(a, "--strategies") == 0 && i + 1 < argc) {
            char list[256];
            str_copy(list, sizeof list, argv[++i]);
            char *save = NULL;
            for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int st = lab_strategy_from_name(t);
                if (st < 0) {
                    fprintf(stderr, "recoupctl simulate: unknown strategy \"%s\"\n", t);
                    goto usage;
                }
                mask |= 1u << st;
            }
            if (!mask)
                goto usage;
        } else if (a[0] == '-' || path) {
            goto usage;
        } else {
            path = a;
        }
    }
    if (!path)
        goto usage;
    struct lab_scenario *s = malloc(sizeof *s);
    if (!s) {
        fprintf(stderr, "recoupctl simulate: out of memory\n");
        return 1;
    }
    char err[4096];
    if (lab_scenario_load(path, s, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        free(s);
        return 2;
    }
    if (invoices)
        s->invoices = (int64_t)invoices;
    struct lab_options o = {has_seed ? seed : s->seed, mask, (int)jobs};
    struct lab_report rep;
    if (lab_simulate(s, &o, &rep, err, sizeof err) != 0) {
        fprintf(stderr, "recoupctl simulate: %s\n", err);
        free(s);
        return 1;
    }
    if (json) {
        cJSON *j = lab_report_json(&rep, timing);
        char *text = cJSON_Print(j);
        if (text)
            printf("%s\n", text);
        free(text);
        cJSON_Delete(j);
    } else {
        buf b;
        buf_init(&b);
        lab_report_text(&rep, timing, &b);
        fputs(buf_cstr(&b), stdout);
        buf_free(&b);
    }
    int rc = 0;
    if (check) {
        struct lab_check checks[8];
        size_t nc = lab_report_checks(&rep, checks, 8);
        for (size_t k = 0; k < nc; k++)
            if (!checks[k].pass)
                rc = 1;
    }
    free(s);
    return rc;
usage:
    fputs(usage_text, stderr);
    return 2;
}
