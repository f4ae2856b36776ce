/* From an invoice marked as needing the planner to a stored decision.
 *
 * The mark (plan_needed) is set by the same transaction that records a new
 * outcome, and cleared by the one that stores the decision, so a crash in
 * between only means planning again. Planning twice is harmless: the
 * planner is deterministic and the write is refused when the invoice
 * changed since it was read (it is then planned from the newer state). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/crypto.h"
#include "core/log.h"
#include "recover/invoice_state.h"
#include "recover/model.h"
#include "recover/planner.h"
#include "recover/recover.h"
#include "recover/retries.h"
#include "recover/webhooks.h"

/* Two months of the card's attempts: the caps count over 30 days at most,
 * and the model's pay-day feature needs last month's recovered payment,
 * which a monthly pay cycle puts up to a month plus its dunning back. */
#define CARD_HISTORY_MS (62LL * 86400 * 1000)

void rc_attempt_id(const char *merchant_id, const char *env, const char *invoice_id, int64_t attempt_no,
                   char out[33])
{
    char text[ID_MAX + RC_ENV_MAX + RC_ID_MAX + 48];
    int n = snprintf(text, sizeof text, "attempt\n%s\n%s\n%s\n%lld", merchant_id, env, invoice_id,
                     (long long)attempt_no);
    char hex[65];
    crypto_sha256_hex(text, (size_t)n, hex);
    memcpy(out, hex, 32);
    out[32] = '\0';
}

static int is_new_since(const struct rc_txn *t, int64_t since) { return t->psp_created_at > since; }

/* Outcomes recorded since the previous decision teach the model, each with
 * what was known before it. An outcome reported late, with a time before the
 * previous decision, is not learned: rare, and learning it twice would be
 * worse than once too few. */
void recover_learn_outcome(struct app *app, const struct rc_settings *st, const struct rc_invoice *inv,
                           const struct rc_txn *earlier, size_t nearlier, const struct rc_txn *outcome)
{
    if (!app->model)
        return;
    struct rc_model_features f;
    rc_model_features_for(&f, earlier, nearlier, outcome, "", st->timezone, outcome->psp_created_at);
    /* The card's earlier payments say when its holder's money arrives; the
     * planner predicts with them, so the model must learn with them too. */
    const struct store_recover_ops *ops = app->store->recover;
    struct rc_txn *card = NULL;
    size_t ncard = 0;
    if (outcome->payment_method_id[0] && ops->card_txns &&
        ops->card_txns(app->store, inv->merchant_id, inv->env, outcome->payment_method_id,
                       outcome->psp_created_at - CARD_HISTORY_MS, &card, &ncard) == STORE_OK) {
        rc_model_features_card(&f, card, ncard, rc_model_zone(outcome, "", st->timezone), outcome->psp_created_at);
        rc_txns_free(card, ncard);
    }
    rc_model_learn(app->model, inv->merchant_id, &f, outcome->success);
}

static void learn_invoice(struct app *app, const struct rc_settings *st, const struct rc_invoice *inv,
                          const struct rc_txn *txns, size_t n, int64_t since)
{
    for (size_t i = 0; i < n; i++)
        if (is_new_since(&txns[i], since))
            recover_learn_outcome(app, st, inv, txns, i, &txns[i]);
}

void recover_learn_event(struct app *app, const struct rc_payment_event *ev)
{
    if (!app->model)
        return;
    for (size_t i = 0; i < ev->ntxns; i++)
        if (!ev->txns[i].success || strcmp(ev->txns[i].origin, "recover") == 0)
            return; /* dunning: learned when planned, with the invoice's history */
    for (size_t i = 0; i < ev->ntxns; i++) {
        if (!ev->txns[i].is_new)
            continue; /* a repeat of an event already learned */
        struct rc_model_features f;
        rc_model_features_for(&f, NULL, 0, &ev->txns[i], ev->customer.postal_code, "UTC", ev->txns[i].psp_created_at);
        rc_model_learn(app->model, ev->merchant_id, &f, 1);
    }
}

void recover_decision_row(struct rc_decision_row *row, const struct rc_invoice *inv, const struct rc_decision *d)
{
    memset(row, 0, sizeof *row);
    str_copy(row->merchant_id, sizeof row->merchant_id, inv->merchant_id);
    str_copy(row->env, sizeof row->env, inv->env);
    str_copy(row->invoice_id, sizeof row->invoice_id, inv->invoice_id);
    row->decided_at = d->decided_at;
    str_copy(row->action, sizeof row->action, d->action);
    str_copy(row->reason, sizeof row->reason, d->reason);
    str_copy(row->decline_class, sizeof row->decline_class, d->decline_class);
    row->planned_at = d->planned_at;
    row->predicted_success = d->predicted_success;
    str_copy(row->limited_by, sizeof row->limited_by, d->limited_by);
    str_copy(row->payment_method_id, sizeof row->payment_method_id, d->payment_method_id);
    str_copy(row->explanation, sizeof row->explanation, d->explanation);
    row->alternatives = rc_plan_alts_json(d);
}

/* A closed invoice needs no plan, only its planned retry cancelled; the
 * decision says why dunning is over. */
void recover_closed_decision(const struct rc_invoice *inv, int64_t now, struct rc_decision *d)
{
    memset(d, 0, sizeof *d);
    str_copy(d->action, sizeof d->action, RC_ACTION_STOP);
    str_copy(d->reason, sizeof d->reason, inv->state);
    str_copy(d->limited_by, sizeof d->limited_by, "invoice_closed");
    d->decided_at = now;
    snprintf(d->explanation, sizeof d->explanation, "dunning is over: the invoice is %s%s%s", inv->state,
             inv->state_reason[0] ? " (" : "", inv->state_reason[0] ? inv->state_reason : "");
    if (inv->state_reason[0])
        str_copy(d->explanation + strlen(d->explanation), sizeof d->explanation - strlen(d->explanation), ")");
}

static const struct rc_txn *latest_failure(const struct rc_txn *txns, size_t n)
{
    for (size_t i = n; i-- > 0;)
        if (!txns[i].success)
            return &txns[i];
    return NULL;
}

int recover_decide(struct app *app, const struct rc_settings *st, const struct rc_invoice *inv,
                   const struct rc_txn *txns, size_t ntxns, const struct rc_txn *unstored, int64_t now,
                   struct rc_decision *d)
{
    const struct store_recover_ops *ops = app->store->recover;
    const struct rc_txn *failed = latest_failure(txns, ntxns);
    if (!failed)
        return -1;
    struct rc_plan_input in = {
        .merchant_id = inv->merchant_id,
        .dunning_days = st->dunning_days,
        .max_retries = st->max_retries,
        .merchant_tz = st->timezone,
        .invoice = inv,
        .txns = txns,
        .ntxns = ntxns,
        .payment_method_id = failed->payment_method_id,
        .postal_code = "",
        .recover_attempts = inv->recover_attempts,
        .now = now,
        .rules = &app->network_rules,
        .model = app->model,
    };
    char pm[RC_ID_MAX];
    int64_t pm_at = 0;
    enum store_rc rc = ops->pm_update_after(app->store, inv->merchant_id, inv->env, inv->customer_id,
                                            failed->psp_created_at, pm, &pm_at);
    if (rc == STORE_OK) {
        in.has_pm_update = 1;
        in.pm_updated_at = pm_at;
        in.payment_method_id = pm;
    } else if (rc != STORE_NOT_FOUND) {
        return -1;
    }
    struct rc_txn *card = NULL;
    size_t ncard = 0;
    if (ops->card_txns(app->store, inv->merchant_id, inv->env, in.payment_method_id, now - CARD_HISTORY_MS, &card,
                       &ncard) != STORE_OK)
        return -1;
    if (unstored && strcmp(unstored->payment_method_id, in.payment_method_id) == 0) {
        struct rc_txn *more = realloc(card, (ncard + 1) * sizeof *card);
        if (!more) {
            rc_txns_free(card, ncard);
            return -1;
        }
        card = more;
        card[ncard] = *unstored;
        card[ncard].raw = NULL; /* borrowed: not freed with the array */
        ncard++;
    }
    in.card_txns = card;
    in.ncard_txns = ncard;
    rc_plan(&in, d);
    d->decided_at = now;
    if (!d->payment_method_id[0])
        str_copy(d->payment_method_id, sizeof d->payment_method_id, in.payment_method_id);
    rc_txns_free(card, ncard);
    return 0;
}

void recover_next_retry(struct rc_retry *r, const struct rc_invoice *inv, const struct rc_decision *d, int64_t now)
{
    memset(r, 0, sizeof *r);
    str_copy(r->merchant_id, sizeof r->merchant_id, inv->merchant_id);
    str_copy(r->env, sizeof r->env, inv->env);
    str_copy(r->invoice_id, sizeof r->invoice_id, inv->invoice_id);
    r->attempt_no = inv->recover_attempts + 1;
    rc_attempt_id(inv->merchant_id, inv->env, inv->invoice_id, r->attempt_no, r->attempt_id);
    r->due_at = d->planned_at;
    str_copy(r->state, sizeof r->state, "planned");
    str_copy(r->payment_method_id, sizeof r->payment_method_id, d->payment_method_id);
    r->created_at = r->updated_at = now;
}

/* The platform integration: the merchant's platform charged on Recover's
 * request and reported the outcome as a transaction marked recover_retry.
 * The k-th such transaction of an invoice is the outcome of its k-th
 * attempt, whatever clock the platform stamped it with. The attempt is
 * closed with its Retry Results webhook (and End of Dunning when dunning is
 * over) like an attempt Recover charged itself; the invoice is then planned
 * again. Returns 1 when a report was recorded, 2 when a request still
 * waits for its report, 0 when there is no request, -1 on a store failure. */
static int platform_report(struct app *app, const struct rc_settings *st, const struct rc_invoice *inv,
                           const struct rc_txn *txns, size_t ntxns, int64_t now)
{
    const struct store_recover_ops *ops = app->store->recover;
    if (!ops->retry_requested)
        return 0;
    struct rc_retry req;
    enum store_rc rc = ops->retry_requested(app->store, inv->merchant_id, inv->env, inv->invoice_id, &req);
    if (rc == STORE_NOT_FOUND)
        return 0;
    if (rc != STORE_OK)
        return -1;
    const struct rc_txn *report = NULL;
    int64_t ours = 0;
    for (size_t i = 0; i < ntxns; i++) {
        if (strcmp(txns[i].origin, "recover") == 0 && ++ours == req.attempt_no)
            report = &txns[i];
    }
    if (!report)
        return 2; /* still waiting for the platform */
    struct rc_webhook hooks[2];
    memset(hooks, 0, sizeof hooks);
    size_t nh = 0;
    const char *close_state = NULL;
    char close_reason[256] = "";
    int complete = report->success || !rc_state_is_open(inv->state);
    struct rc_decision d;
    if (!complete && recover_decide(app, st, inv, txns, ntxns, NULL, now, &d) == 0 &&
        strcmp(d.action, RC_ACTION_STOP) == 0) {
        complete = 1;
        close_state = d.stop_state[0] ? d.stop_state : "exhausted";
        str_copy(close_reason, sizeof close_reason, d.explanation);
    }
    const struct rc_txn *original = NULL;
    for (size_t i = 0; i < ntxns && !original; i++)
        if (!txns[i].success)
            original = &txns[i];
    int failed = 0;
    int m = rc_retry_result_webhook(app, st, inv, original, &req, report, complete, now, &hooks[nh]);
    failed |= m < 0;
    nh += m > 0;
    if (complete && (close_state || report->success)) {
        m = rc_end_of_dunning_webhook(app, st, inv, report->success, now, &hooks[nh]);
        failed |= m < 0;
        nh += m > 0;
    }
    struct rc_attempt_write w = {
        .retry = &req,
        .retry_state = "done",
        .close_state = rc_state_is_open(inv->state) ? close_state : NULL,
        .close_reason = close_reason[0] ? close_reason : NULL,
        .webhooks = hooks,
        .nwebhooks = nh,
        .now = now,
    };
    rc = failed ? STORE_ERROR : ops->attempt_write(app->store, &w);
    for (size_t i = 0; i < nh; i++)
        free(hooks[i].body);
    if (rc == STORE_OK && nh)
        webhook_dispatcher_kick(app);
    return rc == STORE_OK || rc == STORE_STATE ? 1 : -1;
}

/* Plans one invoice: 1 planned, 0 skipped (changed meanwhile), -1 store failure. */
static int plan_one(struct app *app, const struct rc_invoice_ref *ref)
{
    const struct store_recover_ops *ops = app->store->recover;
    int64_t now = clock_now_ms(app->clock);
    struct rc_settings st;
    struct rc_invoice inv;
    struct rc_txn *txns = NULL;
    struct rc_invoice_event *events = NULL;
    struct rc_decision_row *prev = NULL;
    size_t ntxns = 0, nevents = 0, nprev = 0;
    int result = -1;
    memset(&inv, 0, sizeof inv);
    if (recover_settings_load(app, ref->merchant_id, &st) != STORE_OK)
        return -1;
    enum store_rc rc = ops->invoice_get(app->store, ref->merchant_id, ref->env, ref->invoice_id, &inv, &txns, &ntxns,
                                        &events, &nevents);
    if (rc != STORE_OK)
        return rc == STORE_NOT_FOUND ? 0 : -1;
    if (ops->decisions_list(app->store, ref->merchant_id, ref->env, ref->invoice_id, &prev, &nprev) != STORE_OK)
        goto out;
    learn_invoice(app, &st, &inv, txns, ntxns, nprev ? prev[nprev - 1].decided_at : INT64_MIN);
    int reported = platform_report(app, &st, &inv, txns, ntxns, now);
    if (reported == 1 || reported < 0) {
        result = reported;
        goto out;
    }

    struct rc_decision d;
    struct rc_plan_write w;
    memset(&w, 0, sizeof w);
    struct rc_webhook hook;
    memset(&hook, 0, sizeof hook);
    const struct rc_txn *failed = latest_failure(txns, ntxns);
    if (!rc_state_is_open(inv.state) || !failed) {
        recover_closed_decision(&inv, now, &d);
    } else if (reported == 2 && now < inv.dunning_started_at + st.dunning_days * 86400000LL) {
        /* No second attempt while the platform's report of the first is
         * due: it may have charged. Once the window is over the planner
         * ends dunning as for any invoice (a report arriving later is
         * still recorded). */
        memset(&d, 0, sizeof d);
        str_copy(d.action, sizeof d.action, RC_ACTION_WAIT_REPORT);
        str_copy(d.reason, sizeof d.reason, failed->raw_response_message);
        str_copy(d.limited_by, sizeof d.limited_by, "platform_report");
        d.decided_at = now;
        snprintf(d.explanation, sizeof d.explanation,
                 "the merchant's platform was asked to charge; the next decision follows its report");
    } else {
        if (recover_decide(app, &st, &inv, txns, ntxns, NULL, now, &d) != 0)
            goto out;
    }
    recover_decision_row(&w.decision, &inv, &d);
    w.expect_updated_at = inv.updated_at;
    w.now = now;
    if (rc_state_is_open(inv.state) && strcmp(d.action, RC_ACTION_RETRY) == 0) {
        recover_next_retry(&w.retry, &inv, &d, now);
    } else if (rc_state_is_open(inv.state) && strcmp(d.action, RC_ACTION_STOP) == 0) {
        w.close_state = d.stop_state[0] ? d.stop_state : "exhausted";
        w.close_reason = d.explanation;
        int made = rc_end_of_dunning_webhook(app, &st, &inv, 0, now, &hook);
        if (made < 0)
            goto out;
        if (made) {
            w.webhooks = &hook;
            w.nwebhooks = 1;
        }
    }
    rc = ops->plan_write(app->store, &w);
    free(w.decision.alternatives);
    free(hook.body);
    if (rc == STORE_OK) {
        result = 1;
        if (w.nwebhooks)
            webhook_dispatcher_kick(app);
        if (w.retry.attempt_no)
            rc_executor_kick(app);
    } else {
        result = rc == STORE_STATE ? 0 : -1;
    }
out:
    free(inv.custom);
    rc_txns_free(txns, ntxns);
    free(events);
    rc_decisions_free(prev, nprev);
    return result;
}

int64_t recover_sweep_windows(struct app *app)
{
    const struct store_recover_ops *ops = app->store->recover;
    if (!ops->mark_window_over)
        return 0;
    struct merchant_row *ms = NULL;
    size_t n = 0;
    if (app->store->ops->merchant_list(app->store, &ms, &n) != STORE_OK)
        return -1;
    int64_t now = clock_now_ms(app->clock), total = 0;
    for (size_t i = 0; i < n; i++) {
        struct rc_settings st;
        int64_t marked = 0;
        if (recover_settings_load(app, ms[i].merchant_id, &st) != STORE_OK ||
            ops->mark_window_over(app->store, ms[i].merchant_id, now - st.dunning_days * 86400000LL, now, &marked) !=
                STORE_OK) {
            free(ms);
            return -1;
        }
        total += marked;
    }
    free(ms);
    return total;
}

int recover_plan_pending(struct app *app, int max)
{
    const struct store_recover_ops *ops = app->store->recover;
    if (!ops->plan_pending)
        return 0;
    struct rc_invoice_ref *refs = NULL;
    size_t n = 0;
    if (ops->plan_pending(app->store, max, &refs, &n) != STORE_OK)
        return -1;
    int failed = 0;
    for (size_t i = 0; i < n && !failed; i++) {
        if (plan_one(app, &refs[i]) < 0) {
            const char *kv[] = {"component", "recover", "merchant", refs[i].merchant_id, "invoice", refs[i].invoice_id,
                                NULL};
            log_kv(LOG_ERROR, "planning failed; the invoice stays marked and is planned again", kv);
            failed = 1;
        }
    }
    free(refs);
    return failed ? -1 : (int)n;
}

/* ---- the model's persistence ----
 *
 * Nodes on one database share the model by merging: each sends what it
 * learned since its last sync (its delta) into the stored model, in one
 * locked read-modify-write per scope, and takes in what the others sent
 * (docs/retry-planning.md). */

static int load_scope(struct app *app, const char *merchant_id)
{
    char *blob = NULL;
    size_t len = 0;
    enum store_rc rc = app->store->recover->model_get(app->store, merchant_id ? merchant_id : "", &blob, &len);
    if (rc == STORE_NOT_FOUND)
        return 0;
    if (rc != STORE_OK)
        return -1;
    if (rc_model_load(app->model, merchant_id, blob, len) != 0) {
        /* A model this version cannot read is relearned from new outcomes
         * rather than stopping the service. */
        log_warn("the stored retry model of %s is not readable by this version; starting from the prior",
                 merchant_id ? merchant_id : "the global scope");
    }
    free(blob);
    return 0;
}

/* The versions are read before the blobs: a scope written in between is
 * then taken for changed and merged again, never missed. */
static void note_versions(struct app *app)
{
    struct rc_model_version *v = NULL;
    size_t n = 0;
    if (!app->store->recover->model_versions || app->store->recover->model_versions(app->store, &v, &n) != STORE_OK)
        return;
    for (size_t i = 0; i < n; i++)
        rc_model_set_version(app->model, v[i].scope[0] ? v[i].scope : NULL, v[i].version);
    free(v);
}

int recover_model_open(struct app *app)
{
    app->model = rc_model_new();
    if (!app->model)
        return -1;
    if (!app->store->recover->model_get)
        return 0;
    note_versions(app);
    if (load_scope(app, NULL) != 0)
        return -1;
    struct merchant_row *ms = NULL;
    size_t n = 0;
    if (app->store->ops->merchant_list(app->store, &ms, &n) != STORE_OK)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = load_scope(app, ms[i].merchant_id);
    free(ms);
    return rc;
}

struct sync_ctx {
    rc_model *model;
    const char *scope; /* NULL: the global one */
    buf merged;
    buf read;      /* the stored blob the latest merge read */
    int have_read; /* ...and whether there was one */
    int runs;
};

static int sync_scope_fn(void *arg, const void *stored, size_t stored_len, int64_t version, const void **out,
                         size_t *out_len)
{
    (void)version;
    struct sync_ctx *c = arg;
    /* A run again means the previous one's write did not happen: the
     * store still holds what that run read. */
    if (c->runs++ > 0 && rc_model_rebase(c->model, c->scope, c->have_read ? c->read.data : NULL, c->read.len) != 0)
        return -1;
    buf_reset(&c->read);
    c->have_read = stored != NULL;
    if (stored)
        buf_append(&c->read, stored, stored_len);
    buf_reset(&c->merged);
    if (c->read.oom || rc_model_sync(c->model, c->scope, stored, stored_len, &c->merged) != 0)
        return -1;
    *out = c->merged.data;
    *out_len = c->merged.len;
    /* Nothing learned here since the last sync: no write, so that nodes
     * do not keep rewriting each other's scopes. */
    return !stored || stored_len != c->merged.len || memcmp(stored, c->merged.data, stored_len) != 0;
}

static int sync_scope(struct app *app, const char *scope, int64_t now)
{
    struct sync_ctx c = {.model = app->model, .scope = scope};
    buf_init(&c.merged);
    buf_init(&c.read);
    int64_t version = 0;
    enum store_rc rc = app->store->recover->model_merge(app->store, scope ? scope : "", now, sync_scope_fn, &c,
                                                        &version);
    if (rc == STORE_OK)
        rc_model_set_version(app->model, scope, version);
    else if (c.runs > 0)
        rc_model_rebase(app->model, scope, c.have_read ? c.read.data : NULL, c.read.len);
    buf_free(&c.merged);
    buf_free(&c.read);
    return rc == STORE_OK ? 0 : -1;
}

/* The store without model_merge: this node's model replaces the stored
 * one, as a single node needs. */
static void save_overwrite(struct app *app, char (*scopes)[ID_MAX], size_t n, int global, int64_t now)
{
    int failed = 0;
    for (size_t i = 0; i <= n && !failed; i++) {
        if (i == n && !global)
            break;
        const char *scope = i < n ? scopes[i] : NULL;
        buf b;
        buf_init(&b);
        if (rc_model_save(app->model, scope, &b) != 0 ||
            app->store->recover->model_put(app->store, scope ? scope : "", b.data, b.len, now) != STORE_OK)
            failed = 1;
        buf_free(&b);
    }
    /* A failure leaves every scope dirty, to be saved next time. */
    if (!failed)
        rc_model_mark_saved(app->model);
    else
        log_warn("saving the retry model failed; it is saved again later");
}

/* pull: also take in the scopes other nodes wrote, which a node about to
 * stop has no use for. */
static void model_sync(struct app *app, int pull)
{
    if (!app->model || !app->store->recover->model_put)
        return;
    enum { MAX_SCOPES = 65536 };
    char (*scopes)[ID_MAX] = malloc(MAX_SCOPES * sizeof *scopes);
    if (!scopes)
        return;
    int global = 0;
    size_t n = rc_model_dirty_scopes(app->model, scopes, MAX_SCOPES, &global);
    if (n > MAX_SCOPES)
        n = MAX_SCOPES;
    int64_t now = clock_now_ms(app->clock);
    if (!app->store->recover->model_merge) {
        save_overwrite(app, scopes, n, global, now);
        free(scopes);
        return;
    }
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        failed |= sync_scope(app, scopes[i], now) != 0;
    if (global)
        failed |= sync_scope(app, NULL, now) != 0;
    free(scopes);
    /* Then the scopes other nodes wrote since this one last synced them;
     * the ones just merged carry the version they were written with. */
    struct rc_model_version *v = NULL;
    size_t nv = 0;
    if (pull && (!app->store->recover->model_versions ||
                 app->store->recover->model_versions(app->store, &v, &nv) != STORE_OK))
        failed = 1;
    for (size_t i = 0; i < nv; i++) {
        const char *scope = v[i].scope[0] ? v[i].scope : NULL;
        if (v[i].version != rc_model_version(app->model, scope))
            failed |= sync_scope(app, scope, now) != 0;
    }
    free(v);
    /* A scope that failed stays dirty and is merged next time. */
    if (failed)
        log_warn("syncing the retry model with the store failed; it is tried again later");
}

void recover_model_save(struct app *app) { model_sync(app, 1); }

void recover_model_close(struct app *app)
{
    if (!app->model)
        return;
    model_sync(app, 0);
    rc_model_free(app->model);
    app->model = NULL;
}
