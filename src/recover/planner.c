/* The retry planner. docs/retry-planning.md describes the decision; the
 * comments here say why each step is as it is. */
#include "recover/planner.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/timefmt.h"
#include "recover/declines.h"
#include "recover/localtime.h"

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)

/* Value is in units of the invoice's amount. A recovery a day later is
 * worth a little less (the customer is without service, the merchant's
 * cash comes later): 1% a day. */
#define DISCOUNT_PER_DAY 0.01
/* What one attempt costs, as a share of the amount: network fees, the
 * issuer's patience with the card, and the merchant's wish for few
 * attempts. An attempt is made only if its expected value (its chance,
 * plus what the attempts after it are worth if it fails) exceeds this. */
#define ATTEMPT_COST 0.03
/* A customer_action decline other than authentication: a few spaced
 * retries (the customer may have called the bank), then wait for them. */
#define CUSTOMER_ACTION_RETRIES 2
#define CUSTOMER_ACTION_GAP (48 * HOUR_MS)
/* The grid never looks further than this, whatever the window. */
#define HORIZON_MAX (45 * DAY_MS)
#define MAX_CANDIDATES 192
#define HIST_STACK 128
/* Further attempts valued when choosing this one: the plan is made again
 * after each failure, with what it taught, so the far end of it matters
 * little, and each level costs a pass over the candidates. */
#define LOOKAHEAD 3
#define FOLLOW_STEP (12 * HOUR_MS)

enum mode {
    MODE_LATER,     /* the model picks among days */
    MODE_TECHNICAL, /* minutes to a few days */
    MODE_SOON,      /* new card data: within a day */
};

struct cand {
    int64_t at;
    double p;   /* predicted success */
    double disc; /* what a recovery then is worth against one now */
    double ev;  /* expected value of attempting here */
    int allowed;
    int chosen;
};

static void set_str(char *dst, size_t n, const char *s) { str_copy(dst, n, s ? s : ""); }

static void stop(struct rc_decision *out, const char *state, const char *limited_by, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void stop(struct rc_decision *out, const char *state, const char *limited_by, const char *fmt, ...)
{
    set_str(out->action, sizeof out->action, RC_ACTION_STOP);
    set_str(out->stop_state, sizeof out->stop_state, state);
    set_str(out->limited_by, sizeof out->limited_by, limited_by);
    out->planned_at = 0;
    out->predicted_success = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->explanation, sizeof out->explanation, fmt, ap);
    va_end(ap);
}

static void wait_pm(struct rc_decision *out, const char *limited_by, const char *why)
{
    set_str(out->action, sizeof out->action, RC_ACTION_WAIT_PM);
    set_str(out->limited_by, sizeof out->limited_by, limited_by);
    snprintf(out->explanation, sizeof out->explanation, "%s (%s): %s; waiting for a payment method update",
             out->reason, out->decline_class, why);
}

static void fmt_utc(int64_t ms, char *out, size_t n)
{
    char t[40];
    time_format_ms(ms, t, sizeof t);
    size_t l = strlen(t);
    if (l > 5 && strcmp(t + l - 5, ".000Z") == 0) {
        t[l - 5] = 'Z';
        t[l - 4] = '\0';
    }
    str_copy(out, n, t);
}

static void fmt_local(int64_t ms, int zone_idx, char *out, size_t n)
{
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct rc_local lt;
    rc_local_time_idx(ms, zone_idx, &lt);
    int64_t lmin = (ms / MIN_MS) + lt.offset_min;
    int minute = (int)(((lmin % 60) + 60) % 60);
    snprintf(out, n, "%s %d %s %02d:%02d local", wd[lt.wday], lt.mday, mo[(lt.month - 1) % 12], lt.hour, minute);
}

/* The merchant's and Recover's attempts on the card, once each: card_txns
 * should already hold the invoice's own, but a caller that has not stored
 * them yet must not let them go uncounted. */
static size_t gather_history(const struct rc_plan_input *in, const char *pm, struct nr_attempt *h, size_t cap)
{
    size_t n = nr_history_from_txns(in->card_txns, in->ncard_txns, pm, h, cap);
    for (size_t i = 0; i < in->ntxns; i++) {
        const struct rc_txn *t = &in->txns[i];
        if (strcmp(t->payment_method_id, pm) != 0)
            continue;
        int seen = 0;
        for (size_t j = 0; j < in->ncard_txns && !seen; j++)
            seen = in->card_txns[j].psp_created_at == t->psp_created_at &&
                   strcmp(in->card_txns[j].transaction_id, t->transaction_id) == 0;
        if (seen)
            continue;
        if (n < cap)
            h[n] = nr_attempt_from_txn(t);
        n++;
    }
    return n;
}

static int cmp_at(const void *a, const void *b)
{
    const struct nr_attempt *x = a, *y = b;
    if (x->at_ms != y->at_ms)
        return x->at_ms < y->at_ms ? -1 : 1;
    return x->success - y->success;
}

/* The cap with the least room at time t (the attempt at t included), for
 * the explanation; counts as network_rules.c does. */
static void tightest_cap(const struct nr_scheme_rules *sr, struct nr_attempt *h, size_t n, int64_t t, char *id,
                         size_t idsz, int64_t *room)
{
    qsort(h, n, sizeof *h, cmp_at);
    *room = INT64_MAX;
    id[0] = '\0';
    for (size_t c = 0; c < sr->n_caps; c++) {
        const struct nr_cap *cap = &sr->caps[c];
        int64_t count = 1; /* the planned attempt: off-session, after a decline */
        for (size_t i = 0; i < n; i++) {
            if (h[i].at_ms <= t - cap->window_ms || h[i].at_ms > t)
                continue;
            if (cap->per_initiator && h[i].initiator != NR_MIT)
                continue;
            int counted = cap->count == NR_COUNT_ATTEMPTS    ? 1
                          : cap->count == NR_COUNT_DECLINES ? !h[i].success
                                                            : (i > 0 && !h[i - 1].success);
            count += counted;
        }
        if (cap->count == NR_COUNT_DECLINES)
            count--; /* the planned attempt is not a decline yet */
        int64_t r = cap->max - count;
        if (r < *room) {
            *room = r;
            str_copy(id, idsz, cap->id);
        }
    }
}

/* The grid of candidate times from t0: dense where the near future is,
 * coarser days ahead, where a few hours matter less than the day. Steps of
 * whole hours from a whole hour keep every day's candidates at the same
 * local hours, so days compare like with like. */
static size_t candidate_grid(enum mode mode, int64_t t0, int64_t end, int64_t *out, size_t max)
{
    size_t n = 0;
    out[n++] = t0;
    int64_t base = (t0 / HOUR_MS + 1) * HOUR_MS;
    if (mode != MODE_LATER) {
        static const int64_t near[] = {10 * MIN_MS, 20 * MIN_MS, 30 * MIN_MS, 45 * MIN_MS};
        for (size_t i = 0; i < sizeof near / sizeof near[0] && n < max; i++)
            if (t0 + near[i] < end && t0 + near[i] < base)
                out[n++] = t0 + near[i];
    }
    int64_t t = base;
    while (t < end && n < max) {
        out[n++] = t;
        int64_t off = t - t0;
        int64_t step = off < DAY_MS ? HOUR_MS
                       : off < 3 * DAY_MS ? 2 * HOUR_MS
                       : off < 7 * DAY_MS ? 3 * HOUR_MS
                       : off < 14 * DAY_MS ? 6 * HOUR_MS
                                           : 12 * HOUR_MS;
        t += step;
    }
    return n;
}

static double discount(int64_t now, int64_t at)
{
    double days = (double)(at > now ? at - now : 0) / (double)DAY_MS;
    return exp(-DISCOUNT_PER_DAY * days);
}

/* The planner weighs thousands of chances per decision; a table of the
 * logistic function with linear steps between entries is exact to about
 * 1e-4, plenty to rank times, and built once from the model's own
 * sigmoid, so it is the same on every machine. */
#define SIG_RANGE 16
#define SIG_PER_UNIT 16
#define SIG_N (2 * SIG_RANGE * SIG_PER_UNIT)
static double sig_tab[SIG_N + 1];
static pthread_once_t sig_once = PTHREAD_ONCE_INIT;

static void sig_init(void)
{
    for (int i = 0; i <= SIG_N; i++)
        sig_tab[i] = rc_model_sigmoid((double)i / SIG_PER_UNIT - SIG_RANGE);
}

static double fast_sigmoid(double z)
{
    if (z <= -SIG_RANGE)
        return sig_tab[0];
    if (z >= SIG_RANGE)
        return sig_tab[SIG_N];
    double x = (z + SIG_RANGE) * SIG_PER_UNIT;
    int i = (int)x;
    if (i >= SIG_N)
        return sig_tab[SIG_N];
    return sig_tab[i] + (x - i) * (sig_tab[i + 1] - sig_tab[i]);
}

/* One level of the backward induction over the follow-up times t[0..n)
 * (ascending): best[k], for a failure at t[k], gets the best of 0 and,
 * over the follow-ups t[x] a bucket b allows after it, p d + (1 - p)
 * prev[x] - cost, where p is the follow-up's chance in bucket b with
 * `shift` more failed attempts. For one bucket that value does not depend
 * on the failure's time, and the follow-ups a bucket allows form a window
 * that slides left as the failure does, so a monotone queue per bucket
 * finds every maximum in linear time. */
static void ahead_level(const int64_t *t, const double *no_last, const double *disc, size_t n, const double *last_w,
                        double shift, int64_t gap, int64_t min_apart, const double *prev, double *best)
{
    double val[MAX_CANDIDATES + 2];
    size_t dq[MAX_CANDIDATES + 2];
    for (size_t k = 0; k < n; k++)
        best[k] = 0;
    if (!n)
        return;
    for (int b = 0; b < RC_MODEL_SINCE_LAST_BUCKETS; b++) {
        int64_t lo = rc_model_since_last_edge(b), hi = rc_model_since_last_edge(b + 1);
        if (lo < gap)
            lo = gap;
        if (hi <= lo || t[n - 1] - t[0] < lo)
            continue;
        /* Follow-ups are at least a block apart less a block's width. */
        if (hi <= min_apart)
            continue;
        double lw = last_w[b] + shift;
        size_t x0 = 0;
        while (x0 < n && t[x0] - t[0] < lo)
            x0++;
        for (size_t x = x0; x < n; x++) {
            double p = fast_sigmoid(no_last[x] + lw);
            val[x] = p * disc[x] + (1 - p) * prev[x] - ATTEMPT_COST;
        }
        /* dq holds follow-ups in decreasing time with decreasing values;
         * its head is the window's best. */
        size_t head = 0, tail = 0, jl = n, jh = n, k = n;
        int64_t tlast = t[n - 1];
        while (k > 0 && tlast - t[k - 1] < lo)
            k--;
        while (k-- > 0) {
            int64_t from = t[k] + lo, to = hi == INT64_MAX ? INT64_MAX : t[k] + hi;
            while (jl > x0 && t[jl - 1] >= from) {
                jl--;
                double v = val[jl];
                while (tail > head && val[dq[tail - 1]] <= v)
                    tail--;
                dq[tail++] = jl;
            }
            while (jh > 0 && t[jh - 1] >= to)
                jh--;
            while (tail > head && dq[head] >= jh)
                head++;
            if (tail > head && val[dq[head]] > best[k])
                best[k] = val[dq[head]];
        }
    }
}

/* cont[i]: the value of the best plan of at most `ahead` further attempts
 * after a failed one at candidate i (0: stop there), by backward
 * induction over the attempts left, each follow-up scored with its own
 * time since the failure before it and its own attempt count. Follow-ups
 * are placed on a coarser grid, the best candidate of each FOLLOW_STEP
 * block: they are planned again, with what this attempt taught, if it
 * fails, so their exact hour matters less than the cost of weighing every
 * one. */
static void plan_ahead(const struct cand *c, size_t n, const double *no_last_all, const double *last_w,
                       const double *att_delta, size_t ahead, int64_t gap, double *cont)
{
    size_t sub[MAX_CANDIDATES + 2], ns = 0;
    int64_t t[MAX_CANDIDATES + 2];
    double no_last[MAX_CANDIDATES + 2], disc[MAX_CANDIDATES + 2], prev[MAX_CANDIDATES + 2],
        next[MAX_CANDIDATES + 2];
    int64_t block = -1;
    for (size_t i = 0; i < n; i++) {
        cont[i] = 0;
        int64_t bk = (c[i].at - c[0].at) / FOLLOW_STEP;
        if (bk != block) {
            block = bk;
            ns++;
        } else if (no_last_all[i] <= no_last[ns - 1]) {
            continue;
        }
        /* the block's best time of day (and week and month) */
        sub[ns - 1] = i;
        t[ns - 1] = c[i].at;
        no_last[ns - 1] = no_last_all[i];
        disc[ns - 1] = c[i].disc;
        prev[ns - 1] = 0;
    }
    if (!ahead || !n)
        return;
    pthread_once(&sig_once, sig_init);
    int64_t min_apart = 0;
    for (size_t x = 1; x < ns; x++)
        if (min_apart == 0 || t[x] - t[x - 1] < min_apart)
            min_apart = t[x] - t[x - 1];
    for (size_t r = 1; r <= ahead; r++) {
        ahead_level(t, no_last, disc, ns, last_w, att_delta[ahead - r], gap, min_apart, prev, next);
        memcpy(prev, next, ns * sizeof *next);
    }
    /* A candidate takes the plan after the first follow-up time at or
     * after it: the same windows, hours later, so a little less. */
    for (size_t i = 0, x = 0; i < n; i++) {
        while (x < ns && sub[x] < i)
            x++;
        cont[i] = x < ns ? prev[x] : 0;
    }
}

static void add_alt(struct rc_decision *out, int64_t at, double p, const char *why)
{
    if (out->nalts >= RC_PLAN_MAX_ALTS)
        return;
    struct rc_plan_alt *a = &out->alts[out->nalts++];
    a->at = at;
    a->predicted_success = p;
    set_str(a->why_not, sizeof a->why_not, why);
}

int rc_plan(const struct rc_plan_input *in, struct rc_decision *out)
{
    memset(out, 0, sizeof *out);
    out->decided_at = in->now;

    /* The decline to plan from: the invoice's latest attempt. */
    const struct rc_txn *dec = NULL;
    size_t first_fail = 0;
    for (size_t i = 0; i < in->ntxns; i++)
        if (in->txns[i].success)
            first_fail = i + 1;
    if (in->ntxns && !in->txns[in->ntxns - 1].success)
        dec = &in->txns[in->ntxns - 1];
    if (!dec) {
        set_str(out->reason, sizeof out->reason, in->ntxns ? "approved" : "");
        stop(out, in->ntxns ? "recovered" : "unrecoverable", "input",
             in->ntxns ? "the latest attempt succeeded: there is nothing to retry"
                       : "no transaction to plan from");
        return -1;
    }
    struct rc_decline d;
    rc_decline_of_txn_cached(dec, &d);
    set_str(out->reason, sizeof out->reason, d.reason);
    set_str(out->decline_class, sizeof out->decline_class, rc_decline_class_name(d.cls));
    const char *pm = in->payment_method_id && *in->payment_method_id ? in->payment_method_id : dec->payment_method_id;
    set_str(out->payment_method_id, sizeof out->payment_method_id, pm);
    int pm_new = in->has_pm_update && in->pm_updated_at > dec->psp_created_at;

    int64_t start = in->invoice && in->invoice->has_dunning_started ? in->invoice->dunning_started_at
                                                                     : in->txns[first_fail].psp_created_at;
    int64_t window_end = start + (in->dunning_days > 0 ? in->dunning_days : 30) * DAY_MS;
    const struct nr_rules *rules = in->rules ? in->rules : &nr_default_rules;
    enum nr_scheme scheme = nr_scheme_from_name(dec->scheme);

    struct nr_attempt hstack[HIST_STACK], *hist = hstack;
    size_t nh = gather_history(in, pm, hstack, HIST_STACK);
    if (nh > HIST_STACK) {
        hist = malloc(nh * sizeof *hist);
        if (!hist) {
            stop(out, "exhausted", "input", "out of memory while reading the card's history");
            return -1;
        }
        gather_history(in, pm, hist, nh);
    }
    int rc = 0;

    /* New card data after a decline means the old decline's codes speak of
     * a card that is no longer the one charged. */
    struct nr_request q = {.scheme = scheme, .history = hist, .nhistory = nh, .initiator = NR_MIT};
    q.decline.network_code = pm_new ? "" : d.network_code;
    q.decline.mac = pm_new ? "" : d.mac;
    q.decline.decline_class = pm_new ? "" : out->decline_class;
    q.decline.declined_at_ms = dec->psp_created_at;
    q.decline.has_pm_update = pm_new;
    q.decline.pm_updated_at_ms = in->pm_updated_at;

    enum mode mode = MODE_LATER;
    int64_t min_gap = HOUR_MS;
    int64_t from = dec->psp_created_at;
    const char *why_class = NULL;
    if (pm_new) {
        mode = MODE_SOON;
        min_gap = 5 * MIN_MS;
        from = in->pm_updated_at;
    } else if (d.cls == RC_DCL_NEVER) {
        q.proposed_at_ms = in->now;
        struct nr_verdict v;
        const char *rule = "decline_class";
        if (nr_evaluate(rules, &q, &v) == 0 && v.rule_id[0])
            rule = v.rule_id;
        stop(out, "unrecoverable", rule, "%s (never): no retry can succeed on this payment method (%s)", d.reason,
             rule);
        goto done;
    } else if (d.cls == RC_DCL_TECHNICAL) {
        mode = MODE_TECHNICAL;
        min_gap = 10 * MIN_MS;
    } else if (d.cls == RC_DCL_FIX_DATA) {
        why_class = "the card's data must change before a retry can succeed";
    } else if (d.cls == RC_DCL_CUSTOMER_ACTION) {
        if (strcmp(d.reason, "authentication_required") == 0)
            why_class = "the issuer wants the customer to authenticate, which an off-session retry cannot do";
        else if (in->recover_attempts >= CUSTOMER_ACTION_RETRIES)
            why_class = "the customer must contact their bank, and the spaced retries for that are used";
        else
            min_gap = CUSTOMER_ACTION_GAP;
    }

    /* Rules that no waiting changes come first, then the merchant's limits. */
    q.proposed_at_ms = in->now > from + min_gap ? in->now : from + min_gap;
    struct nr_verdict v;
    if (nr_evaluate(rules, &q, &v) != 0) {
        stop(out, "exhausted", "input", "out of memory while checking the network rules");
        rc = -1;
        goto done;
    }
    if (v.earliest_ms == NR_NEVER && !v.needs_new_payment_method) {
        stop(out, "unrecoverable", v.rule_id, "%s (%s): %s", d.reason, out->decline_class, v.reason);
        goto done;
    }
    if (in->recover_attempts >= in->max_retries) {
        stop(out, "exhausted", "max_retries", "%s (%s): the %lld retries the merchant allows are used", d.reason,
             out->decline_class, (long long)in->max_retries);
        goto done;
    }
    if (in->now >= window_end) {
        char at[40];
        fmt_utc(window_end, at, sizeof at);
        stop(out, "exhausted", "dunning_window", "%s (%s): the dunning window ended at %s", d.reason,
             out->decline_class, at);
        goto done;
    }
    if (v.earliest_ms == NR_NEVER) {
        wait_pm(out, v.rule_id, "the network asks for the updated card data");
        goto done;
    }
    if (why_class) {
        wait_pm(out, "decline_class", why_class);
        goto done;
    }
    int64_t t0 = q.proposed_at_ms;
    if (t0 >= window_end) {
        char at[40];
        fmt_utc(window_end, at, sizeof at);
        stop(out, "exhausted", "dunning_window", "%s (%s): the dunning window ends at %s, before a retry makes sense",
             d.reason, out->decline_class, at);
        goto done;
    }
    if (v.earliest_ms >= window_end) {
        char at[40];
        fmt_utc(v.earliest_ms, at, sizeof at);
        stop(out, "exhausted", v.rule_id, "%s (%s): %s allows the next attempt only at %s, after the dunning window",
             d.reason, out->decline_class, v.rule_id, at);
        goto done;
    }

    /* The candidates, scored by the model. */
    int64_t horizon = mode == MODE_SOON ? DAY_MS : mode == MODE_TECHNICAL ? 3 * DAY_MS : HORIZON_MAX;
    int64_t grid_end = t0 + horizon < window_end ? t0 + horizon : window_end;
    int window_binds = window_end <= t0 + horizon;
    int64_t times[MAX_CANDIDATES + 2];
    size_t n = candidate_grid(mode, t0, grid_end, times, MAX_CANDIDATES);
    /* The first time the rules allow is always a candidate. */
    if (v.earliest_ms > t0) {
        size_t k = 0;
        while (k < n && times[k] < v.earliest_ms)
            k++;
        if (k == n || times[k] != v.earliest_ms) {
            memmove(&times[k + 1], &times[k], (n - k) * sizeof times[0]);
            times[k] = v.earliest_ms;
            n++;
        }
    }
    /* One time past the window, only to show what the window cost. */
    size_t n_in = n;
    if (window_binds)
        times[n++] = window_end;

    const struct rc_txn *shape = dec;
    int zone = rc_model_zone(shape, in->postal_code, in->merchant_tz);
    int attempts = (int)(in->ntxns - first_fail);
    int64_t first_at = in->txns[first_fail].psp_created_at;
    struct rc_model_features f;
    rc_model_features_at(&f, pm_new ? "" : d.reason, pm_new ? "" : out->decline_class, attempts, first_at,
                         dec->psp_created_at, shape, zone, t0);
    rc_model_features_card(&f, in->card_txns, in->ncard_txns, zone, t0);
    struct rc_model_when when[MAX_CANDIDATES + 2];
    struct rc_local lts[MAX_CANDIDATES + 2];
    rc_local_times_idx(times, n, zone, lts);
    for (size_t i = 0; i < n; i++)
        when[i] = (struct rc_model_when){.local_hour = lts[i].hour, .local_wday = lts[i].wday,
                                         .local_mday = lts[i].mday, .since_first_failure_ms = times[i] - first_at,
                                         .since_last_failure_ms = times[i] - dec->psp_created_at,
                                         .local_day = rc_model_local_day(times[i], lts[i].offset_min)};
    /* How many attempts after this one the merchant's limit leaves, and
     * how many of them are valued. */
    int64_t left = in->max_retries - in->recover_attempts - 1;
    size_t ahead = left <= 0 ? 0 : left < LOOKAHEAD ? (size_t)left : LOOKAHEAD;
    double logits[MAX_CANDIDATES + 2], no_last[MAX_CANDIDATES + 2], last_w[RC_MODEL_SINCE_LAST_BUCKETS],
        att_delta[LOOKAHEAD + 1];
    if (in->model) {
        rc_model_logits_ahead(in->model, in->merchant_id, &f, when, n, logits, no_last, last_w, att_delta,
                              ahead ? ahead : 1);
    } else {
        /* Without a model every time is alike: the earliest allowed wins. */
        for (size_t i = 0; i < n; i++)
            logits[i] = no_last[i] = -2.0;
        for (size_t b = 0; b < RC_MODEL_SINCE_LAST_BUCKETS; b++)
            last_w[b] = 0;
        for (size_t a = 0; a <= LOOKAHEAD; a++)
            att_delta[a] = -0.3 * (double)(a + 1);
    }

    struct cand c[MAX_CANDIDATES + 2];
    int more_after = ahead > 0;
    for (size_t i = 0; i < n; i++) {
        double disc = discount(in->now, times[i]);
        c[i] = (struct cand){.at = times[i], .p = rc_model_sigmoid(logits[i]), .disc = disc,
                             .allowed = i < n_in && times[i] >= v.earliest_ms};
    }
    /* What the attempts after this one are worth if it fails at each
     * candidate: the best plan of up to `ahead` further attempts, each
     * scored with its own time since the failure before it and its own
     * attempt count, less what each costs. */
    double cont[MAX_CANDIDATES + 2];
    plan_ahead(c, n_in, no_last, last_w, att_delta, ahead, min_gap > HOUR_MS ? min_gap : HOUR_MS, cont);
    for (size_t i = 0; i < n; i++)
        c[i].ev = c[i].p * c[i].disc + (1 - c[i].p) * (i < n_in ? cont[i] : 0) - ATTEMPT_COST;
    size_t bi = n;
    size_t nscored = 0;
    for (size_t i = 0; i < n_in; i++) {
        if (!c[i].allowed)
            continue;
        nscored++;
        if (bi == n || c[i].ev > c[bi].ev)
            bi = i;
    }
    if (bi == n) {
        stop(out, "exhausted", "dunning_window", "%s (%s): no allowed time is left in the dunning window", d.reason,
             out->decline_class);
        goto done;
    }
    if (c[bi].ev <= 0) {
        stop(out, "exhausted", "model",
             "%s (%s): after %d failed attempts the best chance left is %.1f%%, not worth what an attempt costs",
             d.reason, out->decline_class, attempts, 100 * c[bi].p);
        goto done;
    }
    c[bi].chosen = 1;

    set_str(out->action, sizeof out->action, RC_ACTION_RETRY);
    out->planned_at = c[bi].at;
    out->predicted_success = c[bi].p;
    const char *limit = "model";
    if (v.earliest_ms > t0)
        limit = v.rule_id;
    else if (mode == MODE_SOON || mode == MODE_TECHNICAL)
        limit = "decline_class";
    else if (window_binds && bi + 1 == n_in)
        limit = "dunning_window";
    else if (!more_after)
        limit = "max_retries";
    set_str(out->limited_by, sizeof out->limited_by, limit);

    /* Alternatives: what the rules refused, what the window cut, then the
     * best of the rest, a few hours apart so that they say something. */
    if (v.earliest_ms > t0) {
        char why[96];
        snprintf(why, sizeof why, "%s", v.rule_id);
        add_alt(out, c[0].at, c[0].p, why);
    }
    if (window_binds)
        add_alt(out, c[n - 1].at, c[n - 1].p, "outside dunning window");
    /* The best candidate of each other day (days counted from t0), best
     * days first: one pass and a short selection, so that the list costs
     * little and says what the other days were worth. */
    size_t day_best[MAX_CANDIDATES + 2], nd = 0;
    int64_t chosen_day = (c[bi].at - t0) / DAY_MS, last_day = -1;
    for (size_t i = 0; i < n_in; i++) {
        int64_t day = (c[i].at - t0) / DAY_MS;
        if (!c[i].allowed || day == chosen_day)
            continue;
        if (day != last_day) {
            day_best[nd++] = i;
            last_day = day;
        } else if (c[i].ev > c[day_best[nd - 1]].ev) {
            day_best[nd - 1] = i;
        }
    }
    for (size_t a = 0; a < nd && out->nalts < RC_PLAN_MAX_ALTS; a++) {
        size_t bj = a;
        for (size_t b = a + 1; b < nd; b++)
            if (c[day_best[b]].ev > c[day_best[bj]].ev)
                bj = b;
        size_t tmp = day_best[a];
        day_best[a] = day_best[bj];
        day_best[bj] = tmp;
        const struct cand *x = &c[day_best[a]];
        char why[96];
        snprintf(why, sizeof why, "lower expected value (%.3f vs %.3f)", x->ev, c[bi].ev);
        add_alt(out, x->at, x->p, why);
    }

    char when_s[64], cap_id[NR_ID_MAX], cap_s[128] = "";
    fmt_local(c[bi].at, zone, when_s, sizeof when_s);
    int64_t room;
    tightest_cap(&rules->schemes[scheme], hist, nh, c[bi].at, cap_id, sizeof cap_id, &room);
    if (cap_id[0])
        snprintf(cap_s, sizeof cap_s, "; %s allows %lld more attempt%s", cap_id, (long long)(room + 1),
                 room + 1 == 1 ? "" : "s");
    char lim_s[96] = "";
    if (v.earliest_ms > t0)
        snprintf(lim_s, sizeof lim_s, "; %s allowed no attempt before then", v.rule_id);
    snprintf(out->explanation, sizeof out->explanation,
             "%s (%s): retry on %s (predicted %.0f%%), the best of %zu candidate times%s%s%s", d.reason,
             out->decline_class, when_s, 100 * c[bi].p, nscored, pm_new ? " with the updated payment method" : "",
             lim_s, cap_s);

done:
    if (hist != hstack)
        free(hist);
    return rc;
}

char *rc_plan_alts_json(const struct rc_decision *dcs)
{
    buf b;
    buf_init(&b);
    buf_putc(&b, '[');
    for (size_t i = 0; i < dcs->nalts && i < RC_PLAN_MAX_ALTS; i++) {
        const struct rc_plan_alt *a = &dcs->alts[i];
        char at[40];
        time_format_ms(a->at, at, sizeof at); /* the API's form of every time */
        if (i)
            buf_putc(&b, ',');
        buf_puts(&b, "{\"at\":");
        buf_put_json_string(&b, at);
        buf_printf(&b, ",\"predicted_success\":%.4f,\"why_not\":", a->predicted_success);
        buf_put_json_string(&b, a->why_not);
        buf_putc(&b, '}');
    }
    buf_putc(&b, ']');
    if (b.oom) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}
