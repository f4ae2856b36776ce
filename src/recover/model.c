/* The retry-success model: logistic regression over hashed binary
 * features, learned online with per-coordinate (AdaGrad) steps.
 *
 * The log-odds of an attempt is the sum of the weights of its features in
 * the global table plus the merchant's own deltas. The global table starts
 * at a prior written from what is known about retries (the reason's usual
 * recovery rate, pay days, night-time declines, limit resets), so the
 * planner is sensible on its first day; every outcome then moves the global
 * weights and the merchant's deltas. Deltas are pulled towards zero, so a
 * merchant with little data follows the global model and one with much
 * data follows its own. docs/retry-planning.md compares this learner with
 * gradient-boosted trees (XGBoost) on the same data.
 *
 * Same data in the same order gives the same bits everywhere: only IEEE
 * +, -, *, / and sqrt are used (correctly rounded), exp is computed here
 * rather than by the C library, and nothing depends on the order of a hash
 * table or on threads. */
#include "recover/model.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "recover/declines.h"
#include "recover/localtime.h"

#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)
/* A payment counts as recovered when a failure on the card came at most
 * this long before it: a dunning window or so. */
#define RECOVERED_WITHIN (20 * DAY_MS)

#define NBITS 16
#define NW (1u << NBITS)

/* Learning rates and the pull of a merchant's deltas towards the global
 * model, per outcome. Chosen on synthetic data with planted patterns
 * (bench/model-compare); they are not fitted to any one merchant. */
#define ETA_GLOBAL 0.05
#define ETA_MERCHANT 0.05
#define ADA_BETA 1.0
#define MERCHANT_SHRINK 0.01
#define LOGIT_CLAMP 30.0

/* ------------------------------------------------------------ arithmetic */

/* e^x from +, * and exact scaling, so results do not depend on libm. */
static double det_exp(double x)
{
    if (x > 700)
        x = 700;
    if (x < -700)
        x = -700;
    const double log2e = 1.44269504088896338700e+00;
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    double k = floor(x * log2e + 0.5);
    double r = (x - k * ln2_hi) - k * ln2_lo;
    /* Taylor series to r^13: |r| <= 0.35 keeps the error below 1e-16. */
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* 2^k built from its bits: exact, and |k| <= 1010 stays normal. */
    uint64_t bits = (uint64_t)(1023 + (int64_t)k) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

double rc_model_sigmoid(double z)
{
    if (z > LOGIT_CLAMP)
        z = LOGIT_CLAMP;
    if (z < -LOGIT_CLAMP)
        z = -LOGIT_CLAMP;
    return 1.0 / (1.0 + det_exp(-z));
}

/* ------------------------------------------------------------- features */

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        unsigned char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    return h;
}

enum group {
    G_BIAS = 1,
    G_REASON,
    G_CLASS,
    G_SCHEME,
    G_FUND,
    G_ISSUER,
    G_XBORDER,
    G_CUR,
    G_AMT,
    G_CUR_AMT,
    G_ATT,
    G_REASON_ATT,
    G_REASON_FUND,
    G_REASON_SCHEME,
    /* the ones that depend on the time of the attempt */
    G_HOUR,
    G_WDAY,
    G_MDAY,
    G_REASON_HOUR,
    G_REASON_WDAY,
    G_REASON_MDAY,
    G_FUND_HOUR,
    G_SINCE,
    G_REASON_SINCE,
    G_REASON_WDAY_BLOCK,
    G_REASON_SINCE_LAST,
    G_CLASS_SINCE_LAST,
    G_REASON_SINCE_DAY,
    G_PAID,
    G_PAID_WEEK,
    G_PAID_FORTNIGHT,
    G_PAID_MDAY,
};

#define NSTATIC 14
#define NDYN 18
/* The card's own pay day (below). */
#define NPAID 4
#define NFEAT (NSTATIC + NDYN + NPAID)

static uint32_t idx(enum group g, uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t h = mix(mix(mix((uint64_t)g * 0x100000001b3ULL, a), b), c);
    return (uint32_t)(h & (NW - 1));
}

static int amount_bucket(int64_t amount)
{
    int b = 0;
    while (amount > 1 && b < 40) {
        amount >>= 1;
        b++;
    }
    return b;
}

static int attempts_bucket(int a)
{
    if (a <= 0)
        return 0;
    if (a <= 4)
        return a;
    if (a <= 6)
        return 5;
    if (a <= 9)
        return 6;
    return 7;
}

/* The time since the first failure and since the latest one are curves
 * through knots (the values below), not steps: an attempt between two
 * knots weighs both in proportion to how near it is (two real-valued
 * features; linear interpolation of the log-odds). Steps are flat between
 * their edges, and a planner that discounts later recoveries then takes
 * each step's first hours, where a chance that still rises (money coming
 * with a pay day, a limit resetting, an updater) is lowest; a curve has
 * no such edges. */
static const int64_t since_knots_ms[9] = {0, HOUR_MS, 6 * HOUR_MS, DAY_MS, 2 * DAY_MS, 4 * DAY_MS, 7 * DAY_MS,
                                          14 * DAY_MS, 30 * DAY_MS};
static const int64_t last_knots_ms[RC_MODEL_SINCE_LAST_BUCKETS] = {0, HOUR_MS, 6 * HOUR_MS, DAY_MS,
                                                                   2 * DAY_MS, 4 * DAY_MS, 7 * DAY_MS, 14 * DAY_MS};

static void knots_of(int64_t ms, const int64_t *knots, int nk, int *k, double *frac)
{
    if (ms <= 0) {
        *k = 0;
        *frac = 0;
        return;
    }
    if (ms >= knots[nk - 1]) {
        *k = nk - 2;
        *frac = 1;
        return;
    }
    int i = 0;
    while (ms >= knots[i + 1])
        i++;
    *k = i;
    *frac = (double)(ms - knots[i]) / (double)(knots[i + 1] - knots[i]);
}

/* The parts of an attempt the indices are built from, hashed once. */
struct keys {
    uint64_t reason, cls, scheme, fund, issuer, cur;
    int xborder, amt, att;
    int paid; /* the card's latest recovered payment is known */
};

static void keys_of(const struct rc_model_features *f, struct keys *k)
{
    k->reason = fnv(f->reason);
    k->cls = fnv(f->decline_class);
    k->scheme = fnv(f->scheme);
    k->fund = fnv(f->funding_source);
    k->issuer = fnv(f->issuer_country);
    k->cur = fnv(f->currency);
    k->xborder = f->issuer_country && f->acquirer_country && f->issuer_country[0] && f->acquirer_country[0] &&
                 strcmp(f->issuer_country, f->acquirer_country) != 0;
    k->amt = amount_bucket(f->amount_minor);
    k->att = attempts_bucket(f->attempts);
    k->paid = f->paid_mday >= 1 && f->paid_mday <= 31;
}

static void static_indices(const struct keys *k, int att_bucket, uint32_t *out)
{
    out[0] = idx(G_BIAS, 0, 0, 0);
    out[1] = idx(G_REASON, k->reason, 0, 0);
    out[2] = idx(G_CLASS, k->cls, 0, 0);
    out[3] = idx(G_SCHEME, k->scheme, 0, 0);
    out[4] = idx(G_FUND, k->fund, 0, 0);
    out[5] = idx(G_ISSUER, k->issuer, 0, 0);
    out[6] = idx(G_XBORDER, (uint64_t)k->xborder, 0, 0);
    out[7] = idx(G_CUR, k->cur, 0, 0);
    out[8] = idx(G_AMT, (uint64_t)k->amt, 0, 0);
    out[9] = idx(G_CUR_AMT, k->cur, (uint64_t)k->amt, 0);
    out[10] = idx(G_ATT, (uint64_t)att_bucket, 0, 0);
    out[11] = idx(G_REASON_ATT, k->reason, (uint64_t)att_bucket, 0);
    out[12] = idx(G_REASON_FUND, k->reason, k->fund, 0);
    out[13] = idx(G_REASON_SCHEME, k->reason, k->scheme, 0);
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }


/* The time since the first failure, by reason, as a curve with a knot
 * per day: an attempt between two knots weighs both, in proportion to
 * how near it is (linear interpolation, learned as two real-valued
 * features). The buckets above are steps, flat over days, and a planner
 * that discounts later recoveries then takes each step's first hours,
 * where a chance that still rises (pay days, limits, an updater) is
 * lowest; a continuous curve has no such edges, and a day without data
 * takes its neighbours' values. */
#define SINCE_DAYS 46
static void since_knots(int64_t ms, int *d, double *frac)
{
    if (ms <= 0) {
        *d = 0;
        *frac = 0;
        return;
    }
    int64_t k = ms / DAY_MS;
    if (k >= SINCE_DAYS - 1) {
        *d = SINCE_DAYS - 2;
        *frac = 1;
        return;
    }
    *d = (int)k;
    *frac = (double)(ms - k * DAY_MS) / (double)DAY_MS;
}

static void dynamic_indices(const struct keys *k, int hour, int wday, int mday, int64_t since, int64_t since_last,
                            uint32_t *out, double *x)
{
    uint64_t h = (uint64_t)clampi(hour, 0, 23), w = (uint64_t)clampi(wday, 0, 6), d = (uint64_t)clampi(mday, 1, 31);
    out[0] = idx(G_HOUR, h, 0, 0);
    out[1] = idx(G_WDAY, w, 0, 0);
    out[2] = idx(G_MDAY, d, 0, 0);
    out[3] = idx(G_REASON_HOUR, k->reason, h, 0);
    out[4] = idx(G_REASON_WDAY, k->reason, w, 0);
    out[5] = idx(G_REASON_MDAY, k->reason, d, 0);
    out[6] = idx(G_FUND_HOUR, k->fund, h, 0);
    out[7] = idx(G_REASON_WDAY_BLOCK, k->reason, w, h / 6);
    for (int i = 0; i < 8; i++)
        x[i] = 1;
    int ks, kl, kd;
    double fs, fl, fd;
    knots_of(since, since_knots_ms, 9, &ks, &fs);
    knots_of(since_last, last_knots_ms, RC_MODEL_SINCE_LAST_BUCKETS, &kl, &fl);
    since_knots(since, &kd, &fd);
    for (uint64_t j = 0; j < 2; j++) {
        out[8 + j] = idx(G_SINCE, (uint64_t)ks + j, 0, 0);
        out[10 + j] = idx(G_REASON_SINCE, k->reason, (uint64_t)ks + j, 0);
        x[8 + j] = x[10 + j] = j ? fs : 1 - fs;
        out[12 + j] = idx(G_REASON_SINCE_LAST, k->reason, (uint64_t)kl + j, 0);
        out[14 + j] = idx(G_CLASS_SINCE_LAST, k->cls, (uint64_t)kl + j, 0);
        x[12 + j] = x[14 + j] = j ? fl : 1 - fl;
        out[16 + j] = idx(G_REASON_SINCE_DAY, k->reason, (uint64_t)kd + j, 0);
        x[16 + j] = j ? fd : 1 - fd;
    }
}

/* The card's own pay day. A payment that went through after failed ones
 * came when money (or whatever was missing) arrived; a customer's money
 * comes on a cycle (weekly, fortnightly, twice a month, monthly), so the
 * attempt's distance from that day, in days modulo a week and a
 * fortnight and as a difference of days of the month, tells whether it
 * falls on the next pay day, whichever the cycle. Each distance has its
 * own weight by reason, learned: nothing here says which distances are
 * good. */
static int mod_days(int64_t d, int m) { return (int)(((d % m) + m) % m); }

static int mday_distance(int mday, int paid_mday)
{
    int d = mday - paid_mday;
    if (d > 15)
        d -= 30;
    if (d < -15)
        d += 30;
    return clampi(d, -15, 15) + 15;
}

static void paid_indices(const struct keys *k, int64_t day, int mday, int64_t paid_day, int paid_mday, uint32_t *out,
                         double *x)
{
    double on = k->paid ? 1 : 0;
    out[0] = idx(G_PAID, k->reason, 0, 0);
    out[1] = idx(G_PAID_WEEK, k->reason, (uint64_t)mod_days(day - paid_day, 7), 0);
    out[2] = idx(G_PAID_FORTNIGHT, k->reason, (uint64_t)mod_days(day - paid_day, 14), 0);
    out[3] = idx(G_PAID_MDAY, k->reason, (uint64_t)mday_distance(mday, paid_mday), 0);
    for (int i = 0; i < NPAID; i++)
        x[i] = on;
}

/* Indices, and values: 1, but for the knots of the time curves and the
 * card's pay day. */
static void all_indices(const struct rc_model_features *f, uint32_t *out, double *x)
{
    struct keys k;
    keys_of(f, &k);
    static_indices(&k, k.att, out);
    for (size_t i = 0; i < NSTATIC; i++)
        x[i] = 1;
    dynamic_indices(&k, f->local_hour, f->local_wday, f->local_mday, f->since_first_failure_ms,
                    f->since_last_failure_ms, out + NSTATIC, x + NSTATIC);
    paid_indices(&k, f->local_day, clampi(f->local_mday, 1, 31), f->paid_local_day, f->paid_mday, out + NSTATIC + NDYN,
                 x + NSTATIC + NDYN);
}

/* ------------------------------------------------------------- the prior */

/* log x by Newton's method on det_exp, for the same reason as det_exp. */
static double det_log(double x)
{
    int e;
    double mant = frexp(x, &e);
    double y = e * 6.93147180559945309417e-01 + (mant - 1.0);
    for (int i = 0; i < 8; i++) {
        double ey = det_exp(y);
        y += 2.0 * (x - ey) / (x + ey);
    }
    return y;
}

static double logit_of(double p) { return det_log(p / (1 - p)); }

/* A retry's usual chance by reason, before any data (network-rules.md:
 * published recovery levels, and retries after technical errors mostly
 * succeeding). "" is a first attempt: most renewals go through. */
static const struct {
    const char *reason;
    double p;
} prior_reasons[] = {
    {"", 0.85},
    {"insufficient_funds", 0.12},
    {"withdrawal_limit", 0.15},
    {"do_not_honor", 0.10},
    {"generic_decline", 0.11},
    {"restricted_card", 0.04},
    {"previously_declined_do_not_retry", 0.06},
    {"duplicate_transaction", 0.30},
    {"try_again_later", 0.45},
    {"issuer_unavailable", 0.50},
    {"call_issuer", 0.05},
    {"authentication_required", 0.02},
    {"expired_card", 0.03},
    {"invalid_expiry", 0.03},
    {"incorrect_cvc", 0.04},
};

/* By class, for reasons not listed above (classes are what an unmapped
 * decline still has). */
static const struct {
    const char *cls;
    double p;
} prior_classes[] = {
    {"later", 0.11}, {"technical", 0.45}, {"fix_data", 0.03}, {"customer_action", 0.04}, {"never", 0.01},
};

static void prior_add(double *w, uint32_t i, double v) { w[i] += v; }

static void write_prior(double *w)
{
    /* Class weights carry unknown reasons; a known reason's weight is its
     * own log-odds minus its class's, so the sum is the reason's. */
    double cls_logit[sizeof prior_classes / sizeof prior_classes[0]];
    for (size_t i = 0; i < sizeof prior_classes / sizeof prior_classes[0]; i++) {
        cls_logit[i] = logit_of(prior_classes[i].p);
        prior_add(w, idx(G_CLASS, fnv(prior_classes[i].cls), 0, 0), cls_logit[i]);
    }
    for (size_t i = 0; i < sizeof prior_reasons / sizeof prior_reasons[0]; i++) {
        const char *r = prior_reasons[i].reason;
        const struct rc_decline_reason *info = NULL;
        double base = 0;
        if (*r) {
            for (size_t j = 0; j < rc_decline_reasons_count; j++)
                if (strcmp(rc_decline_reasons[j].name, r) == 0)
                    info = &rc_decline_reasons[j];
            const char *cname = info ? rc_decline_class_name(info->cls) : "later";
            for (size_t j = 0; j < sizeof prior_classes / sizeof prior_classes[0]; j++)
                if (strcmp(prior_classes[j].cls, cname) == 0)
                    base = cls_logit[j];
        }
        prior_add(w, idx(G_REASON, fnv(r), 0, 0), logit_of(prior_reasons[i].p) - base);
    }
    /* Issuers decline most between 00:00 and 05:00 local time. */
    static const double hour_w[24] = {-0.5, -0.55, -0.6, -0.6, -0.5, -0.25, 0.0,  0.1,  0.15, 0.2,  0.2, 0.2,
                                      0.15, 0.15,  0.15, 0.15, 0.1,  0.1,  0.05, 0.05, 0.0,  0.0, -0.1, -0.2};
    for (uint64_t h = 0; h < 24; h++)
        prior_add(w, idx(G_HOUR, h, 0, 0), hour_w[h]);
    /* Every failed attempt lowers the next one's chance. */
    static const double att_w[8] = {0, 0, -0.15, -0.3, -0.45, -0.6, -0.8, -1.0};
    for (uint64_t a = 0; a < 8; a++)
        prior_add(w, idx(G_ATT, a, 0, 0), att_w[a]);
    /* Money arrives on pay days: the 1st and the 15th (and the days just
     * after, as transfers settle), month ends, and Fridays. */
    uint64_t insf = fnv("insufficient_funds");
    for (uint64_t d = 1; d <= 31; d++) {
        double v = (d == 1 || d == 15) ? 0.55 : (d == 2 || d == 16) ? 0.4 : (d == 3 || d == 17) ? 0.15
                   : d >= 28                                        ? 0.1
                                                                    : -0.1;
        prior_add(w, idx(G_REASON_MDAY, insf, d, 0), v);
    }
    static const double insf_wday[7] = {-0.1, -0.05, -0.05, 0.0, 0.05, 0.35, 0.1};
    for (uint64_t d = 0; d < 7; d++)
        prior_add(w, idx(G_REASON_WDAY, insf, d, 0), insf_wday[d]);
    for (uint64_t h = 0; h < 5; h++)
        prior_add(w, idx(G_REASON_HOUR, insf, h, 0), -0.3);
    /* Funds rarely arrive within hours of the decline. */
    static const double insf_since[9] = {-1.0, -0.5, -0.15, 0, 0, 0, 0, -0.1, -0.2};
    for (uint64_t s = 0; s < 9; s++)
        prior_add(w, idx(G_REASON_SINCE, insf, s, 0), insf_since[s]);
    /* Hours after a failed retry the account is as it was. */
    static const double soon_again[8] = {-0.5, -0.4, -0.2, 0, 0, 0, 0, 0};
    static const char *const soon_cls[] = {"later", "customer_action"};
    for (size_t i = 0; i < 2; i++)
        for (uint64_t b = 0; b < 8; b++)
            prior_add(w, idx(G_CLASS_SINCE_LAST, fnv(soon_cls[i]), b, 0), soon_again[b]);
    /* Money that was missing comes back with the next pay, days away: the
     * longer since the failed attempt, the likelier a pay day fell in
     * between, up to about a week (the shortest common pay period); within
     * hours it almost never has. */
    static const double insf_again[8] = {-1.2, -1.0, -0.7, -0.35, -0.15, 0, 0.05, 0.05};
    for (uint64_t b = 0; b < 8; b++)
        prior_add(w, idx(G_REASON_SINCE_LAST, insf, b, 0), insf_again[b]);
    /* Velocity limits reset after a day, some at local midnight. */
    uint64_t wl = fnv("withdrawal_limit");
    static const double wl_since[9] = {-2.0, -1.6, -1.0, 0.4, 0.3, 0.2, 0.1, 0, -0.2};
    for (uint64_t s = 0; s < 9; s++)
        prior_add(w, idx(G_REASON_SINCE, wl, s, 0), wl_since[s]);
    for (uint64_t h = 0; h < 2; h++)
        prior_add(w, idx(G_REASON_HOUR, wl, h, 0), 0.6);
    /* Generic soft declines: a little time helps, the same day rarely. */
    static const char *const soft[] = {"do_not_honor", "generic_decline"};
    static const double soft_since[9] = {-0.8, -0.4, -0.1, 0, 0, 0, 0, -0.1, -0.2};
    for (size_t i = 0; i < 2; i++)
        for (uint64_t s = 0; s < 9; s++)
            prior_add(w, idx(G_REASON_SINCE, fnv(soft[i]), s, 0), soft_since[s]);
    /* Technical errors clear within minutes to hours. */
    static const char *const tech[] = {"try_again_later", "issuer_unavailable"};
    static const double tech_since[9] = {0.2, 0.1, 0, -0.1, -0.2, -0.3, -0.3, -0.4, -0.5};
    for (size_t i = 0; i < 2; i++)
        for (uint64_t s = 0; s < 9; s++)
            prior_add(w, idx(G_REASON_SINCE, fnv(tech[i]), s, 0), tech_since[s]);
}

/* ------------------------------------------------------------- the model */

/* A merchant's deltas: an open-addressing map from feature index to
 * weight and squared-gradient sum. */
struct scope {
    char id[ID_MAX];
    uint32_t *keys; /* index + 1; 0 is empty */
    double *w;
    double *g2;
    size_t cap, n;
    int64_t count;
    int dirty;
    /* The blob last synced with the store (NULL: none yet): what this
     * node learned since is the current state minus it. */
    unsigned char *base;
    size_t base_len;
    int64_t version; /* the store's version of that blob */
};

struct rc_model {
    pthread_rwlock_t lock;
    double *w;  /* global weights */
    double *g2; /* global squared-gradient sums */
    int64_t count;
    int dirty;
    unsigned char *base; /* the global scope's, as a merchant scope's */
    size_t base_len;
    int64_t version;
    struct scope **scopes; /* open addressing by merchant id */
    size_t scap, sn;
};

static uint32_t slot_hash(uint32_t k) { return (uint32_t)mix(k, 0x51ed27); }

static ssize_t scope_find_slot(const struct scope *s, uint32_t feature)
{
    if (!s || !s->cap)
        return -1;
    size_t mask = s->cap - 1;
    for (size_t i = slot_hash(feature) & mask;; i = (i + 1) & mask) {
        if (s->keys[i] == feature + 1)
            return (ssize_t)i;
        if (s->keys[i] == 0)
            return -1;
    }
}

static int scope_grow(struct scope *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 256;
    uint32_t *k = calloc(ncap, sizeof *k);
    double *w = calloc(ncap, sizeof *w), *g = calloc(ncap, sizeof *g);
    if (!k || !w || !g) {
        free(k);
        free(w);
        free(g);
        return -1;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->keys[i])
            continue;
        size_t j = slot_hash(s->keys[i] - 1) & (ncap - 1);
        while (k[j])
            j = (j + 1) & (ncap - 1);
        k[j] = s->keys[i];
        w[j] = s->w[i];
        g[j] = s->g2[i];
    }
    free(s->keys);
    free(s->w);
    free(s->g2);
    s->keys = k;
    s->w = w;
    s->g2 = g;
    s->cap = ncap;
    return 0;
}

/* The slot of feature, added when absent; -1 when memory runs out. */
static ssize_t scope_slot(struct scope *s, uint32_t feature)
{
    ssize_t i = scope_find_slot(s, feature);
    if (i >= 0)
        return i;
    if ((s->n + 1) * 2 > s->cap && scope_grow(s) != 0)
        return -1;
    size_t mask = s->cap - 1, j = slot_hash(feature) & mask;
    while (s->keys[j])
        j = (j + 1) & mask;
    s->keys[j] = feature + 1;
    s->w[j] = 0;
    s->g2[j] = 0;
    s->n++;
    return (ssize_t)j;
}

static void scope_free(struct scope *s)
{
    if (!s)
        return;
    free(s->keys);
    free(s->w);
    free(s->g2);
    free(s->base);
    free(s);
}

static struct scope *merchant_find(const rc_model *m, const char *id)
{
    if (!id || !*id || !m->scap)
        return NULL;
    size_t mask = m->scap - 1;
    for (size_t i = fnv(id) & mask;; i = (i + 1) & mask) {
        if (!m->scopes[i])
            return NULL;
        if (strcmp(m->scopes[i]->id, id) == 0)
            return m->scopes[i];
    }
}

static struct scope *merchant_get(rc_model *m, const char *id)
{
    struct scope *s = merchant_find(m, id);
    if (s || !id || !*id)
        return s;
    if ((m->sn + 1) * 2 > m->scap) {
        size_t ncap = m->scap ? m->scap * 2 : 16;
        struct scope **t = calloc(ncap, sizeof *t);
        if (!t)
            return NULL;
        for (size_t i = 0; i < m->scap; i++) {
            if (!m->scopes[i])
                continue;
            size_t j = fnv(m->scopes[i]->id) & (ncap - 1);
            while (t[j])
                j = (j + 1) & (ncap - 1);
            t[j] = m->scopes[i];
        }
        free(m->scopes);
        m->scopes = t;
        m->scap = ncap;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    str_copy(s->id, sizeof s->id, id);
    size_t j = fnv(id) & (m->scap - 1);
    while (m->scopes[j])
        j = (j + 1) & (m->scap - 1);
    m->scopes[j] = s;
    m->sn++;
    return s;
}

rc_model *rc_model_new(void)
{
    rc_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->w = calloc(NW, sizeof *m->w);
    m->g2 = calloc(NW, sizeof *m->g2);
    if (!m->w || !m->g2 || pthread_rwlock_init(&m->lock, NULL) != 0) {
        free(m->w);
        free(m->g2);
        free(m);
        return NULL;
    }
    write_prior(m->w);
    return m;
}

void rc_model_free(rc_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->scap; i++)
        scope_free(m->scopes[i]);
    free(m->scopes);
    free(m->w);
    free(m->g2);
    free(m->base);
    pthread_rwlock_destroy(&m->lock);
    free(m);
}

static double weight(const rc_model *m, const struct scope *s, uint32_t i)
{
    double v = m->w[i];
    ssize_t j = scope_find_slot(s, i);
    if (j >= 0)
        v += s->w[j];
    return v;
}

static double logit_valued(const rc_model *m, const struct scope *s, const uint32_t *ix, const double *x, size_t n)
{
    double z = 0;
    for (size_t i = 0; i < n; i++)
        z += x[i] * weight(m, s, ix[i]);
    return z;
}

static double logit_locked(const rc_model *m, const struct scope *s, const uint32_t *ix, size_t n)
{
    double z = 0;
    for (size_t i = 0; i < n; i++)
        z += weight(m, s, ix[i]);
    return z;
}

double rc_model_predict(rc_model *m, const char *merchant_id, const struct rc_model_features *f)
{
    uint32_t ix[NFEAT];
    double x[NFEAT];
    all_indices(f, ix, x);
    pthread_rwlock_rdlock(&m->lock);
    double z = logit_valued(m, merchant_find(m, merchant_id), ix, x, NFEAT);
    pthread_rwlock_unlock(&m->lock);
    return rc_model_sigmoid(z);
}

/* The time-feature tables of one attempt, weighed once under the lock. */
static void logits_tables(rc_model *m, const char *merchant_id, const struct rc_model_features *f,
                          const struct rc_model_when *when, size_t n, double *logits, double *no_last,
                          double *last_out, double *att_delta, size_t natt)
{
    struct keys k;
    keys_of(f, &k);
    uint32_t st[NSTATIC], st_next[NSTATIC];
    static_indices(&k, k.att, st);
    /* Each time feature takes few values: weigh each value once, then a
     * candidate is a handful of additions, however many there are. */
    double hour_w[24], wday_w[7], mday_w[32], since_w[9], block_w[7][4], last_w[8], day_w[SINCE_DAYS];
    pthread_rwlock_rdlock(&m->lock);
    const struct scope *s = merchant_find(m, merchant_id);
    double base = logit_locked(m, s, st, NSTATIC);
    double week_w[7] = {0}, fort_w[14] = {0}, pmday_w[31] = {0};
    if (k.paid) {
        base += weight(m, s, idx(G_PAID, k.reason, 0, 0));
        for (uint64_t d = 0; d < 14; d++) {
            if (d < 7)
                week_w[d] = weight(m, s, idx(G_PAID_WEEK, k.reason, d, 0));
            fort_w[d] = weight(m, s, idx(G_PAID_FORTNIGHT, k.reason, d, 0));
        }
        for (uint64_t d = 0; d < 31; d++)
            pmday_w[d] = weight(m, s, idx(G_PAID_MDAY, k.reason, d, 0));
    }
    for (size_t a = 0; a < natt; a++) {
        static_indices(&k, attempts_bucket(f->attempts + (int)a + 1), st_next);
        att_delta[a] = logit_locked(m, s, st_next, NSTATIC) - base;
    }
    for (uint64_t h = 0; h < 24; h++)
        hour_w[h] = weight(m, s, idx(G_HOUR, h, 0, 0)) + weight(m, s, idx(G_REASON_HOUR, k.reason, h, 0)) +
                    weight(m, s, idx(G_FUND_HOUR, k.fund, h, 0));
    for (uint64_t w = 0; w < 7; w++) {
        wday_w[w] = weight(m, s, idx(G_WDAY, w, 0, 0)) + weight(m, s, idx(G_REASON_WDAY, k.reason, w, 0));
        for (uint64_t b = 0; b < 4; b++)
            block_w[w][b] = weight(m, s, idx(G_REASON_WDAY_BLOCK, k.reason, w, b));
    }
    mday_w[0] = 0;
    for (uint64_t d = 1; d <= 31; d++)
        mday_w[d] = weight(m, s, idx(G_MDAY, d, 0, 0)) + weight(m, s, idx(G_REASON_MDAY, k.reason, d, 0));
    for (uint64_t b = 0; b < 9; b++)
        since_w[b] = weight(m, s, idx(G_SINCE, b, 0, 0)) + weight(m, s, idx(G_REASON_SINCE, k.reason, b, 0));
    for (uint64_t b = 0; b < 8; b++)
        last_w[b] = weight(m, s, idx(G_REASON_SINCE_LAST, k.reason, b, 0)) +
                    weight(m, s, idx(G_CLASS_SINCE_LAST, k.cls, b, 0));
    /* Only the days the times span: a decision looks a few weeks ahead. */
    int dlo = SINCE_DAYS, dhi = -1;
    for (size_t i = 0; i < n; i++) {
        int kd;
        double kf;
        since_knots(when[i].since_first_failure_ms, &kd, &kf);
        dlo = kd < dlo ? kd : dlo;
        dhi = kd + 1 > dhi ? kd + 1 : dhi;
    }
    for (int d = 0; d < SINCE_DAYS; d++)
        day_w[d] = d >= dlo && d <= dhi ? weight(m, s, idx(G_REASON_SINCE_DAY, k.reason, (uint64_t)d, 0)) : 0;
    pthread_rwlock_unlock(&m->lock);
    /* A later attempt's time since the failure before it is only known
     * to an interval between two knots: the interval's mean. */
    if (last_out)
        for (int b = 0; b < RC_MODEL_SINCE_LAST_BUCKETS; b++)
            last_out[b] = b + 1 < RC_MODEL_SINCE_LAST_BUCKETS ? (last_w[b] + last_w[b + 1]) / 2 : last_w[b];
    for (size_t i = 0; i < n; i++) {
        int h = clampi(when[i].local_hour, 0, 23), w = clampi(when[i].local_wday, 0, 6);
        int d = clampi(when[i].local_mday, 1, 31);
        int ks, kd, kl;
        double fs, fd, fl;
        knots_of(when[i].since_first_failure_ms, since_knots_ms, 9, &ks, &fs);
        since_knots(when[i].since_first_failure_ms, &kd, &fd);
        knots_of(when[i].since_last_failure_ms, last_knots_ms, RC_MODEL_SINCE_LAST_BUCKETS, &kl, &fl);
        double z = base + hour_w[h] + wday_w[w] + mday_w[d] + block_w[w][h / 6] + (1 - fs) * since_w[ks] +
                   fs * since_w[ks + 1] + (1 - fd) * day_w[kd] + fd * day_w[kd + 1];
        if (k.paid) {
            int64_t gap = when[i].local_day - f->paid_local_day;
            z += week_w[mod_days(gap, 7)] + fort_w[mod_days(gap, 14)] + pmday_w[mday_distance(d, f->paid_mday)];
        }
        if (no_last)
            no_last[i] = z;
        logits[i] = z + (1 - fl) * last_w[kl] + fl * last_w[kl + 1];
    }
}

void rc_model_logits(rc_model *m, const char *merchant_id, const struct rc_model_features *f,
                     const struct rc_model_when *when, size_t n, double *logits, double *next_attempt_delta)
{
    double delta = 0;
    logits_tables(m, merchant_id, f, when, n, logits, NULL, NULL, &delta, 1);
    if (next_attempt_delta)
        *next_attempt_delta = delta;
}

void rc_model_logits_ahead(rc_model *m, const char *merchant_id, const struct rc_model_features *f,
                           const struct rc_model_when *when, size_t n, double *logits, double *no_last,
                           double last_w[RC_MODEL_SINCE_LAST_BUCKETS], double *att_delta, size_t natt)
{
    logits_tables(m, merchant_id, f, when, n, logits, no_last, last_w, att_delta, natt);
}

int64_t rc_model_since_last_edge(int b)
{
    return b <= 0 ? 0 : b >= RC_MODEL_SINCE_LAST_BUCKETS ? INT64_MAX : last_knots_ms[b];
}

static void ada_step(double *w, double *g2, double grad, double eta)
{
    *g2 += grad * grad;
    *w -= eta * grad / (ADA_BETA + sqrt(*g2));
}

void rc_model_learn(rc_model *m, const char *merchant_id, const struct rc_model_features *f, int success)
{
    uint32_t ix[NFEAT];
    double x[NFEAT];
    all_indices(f, ix, x);
    pthread_rwlock_wrlock(&m->lock);
    struct scope *s = merchant_get(m, merchant_id);
    double z = logit_valued(m, s, ix, x, NFEAT);
    double g = rc_model_sigmoid(z) - (success ? 1.0 : 0.0);
    for (size_t i = 0; i < NFEAT; i++)
        if (x[i] != 0)
            ada_step(&m->w[ix[i]], &m->g2[ix[i]], g * x[i], ETA_GLOBAL);
    if (s) {
        for (size_t i = 0; i < NFEAT; i++) {
            if (x[i] == 0)
                continue;
            ssize_t j = scope_slot(s, ix[i]);
            if (j < 0)
                break;
            ada_step(&s->w[j], &s->g2[j], g * x[i] + MERCHANT_SHRINK * s->w[j], ETA_MERCHANT);
        }
        s->count++;
        s->dirty = 1;
    }
    m->count++;
    m->dirty = 1;
    pthread_rwlock_unlock(&m->lock);
}

int64_t rc_model_count(rc_model *m, const char *merchant_id)
{
    pthread_rwlock_rdlock(&m->lock);
    int64_t n = 0;
    if (!merchant_id) {
        n = m->count;
    } else {
        const struct scope *s = merchant_find(m, merchant_id);
        n = s ? s->count : 0;
    }
    pthread_rwlock_unlock(&m->lock);
    return n;
}

/* ----------------------------------------------------------- persistence */

/* Blob: "RCMD", version, scope kind (0 global, 1 merchant), hash bits,
 * outcomes learned, entry count, entries (feature index, weight, squared
 * gradients) in index order, then an FNV-1a checksum of all before it.
 * Integers little-endian, doubles as their IEEE bits: the same state gives
 * the same bytes on every machine. The global blob holds only what data
 * changed: the prior is code, rewritten at start. */
#define BLOB_MAGIC "RCMD"
#define BLOB_VERSION 1u

static void put_u32(buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    buf_append(b, x, 4);
}

static void put_u64(buf *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_f64(buf *b, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    put_u64(b, v);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static double get_f64(const unsigned char *p)
{
    uint64_t v = get_u64(p);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

static uint64_t bytes_fnv(const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

#define HEADER_LEN (4 + 4 + 4 + 4 + 8 + 4)
#define ENTRY_LEN (4 + 8 + 8)

/* Appends the scope's blob to out; the caller holds the lock. */
static int save_locked(rc_model *m, const char *merchant_id, buf *out)
{
    size_t start = out->len;
    const struct scope *s = merchant_id ? merchant_find(m, merchant_id) : NULL;
    buf_append(out, BLOB_MAGIC, 4);
    put_u32(out, BLOB_VERSION);
    put_u32(out, merchant_id ? 1u : 0u);
    put_u32(out, NBITS);
    put_u64(out, (uint64_t)(merchant_id ? (s ? s->count : 0) : m->count));
    uint32_t n = 0;
    if (!merchant_id) {
        for (uint32_t i = 0; i < NW; i++)
            n += m->g2[i] != 0;
        put_u32(out, n);
        for (uint32_t i = 0; i < NW; i++)
            if (m->g2[i] != 0) {
                put_u32(out, i);
                put_f64(out, m->w[i]);
                put_f64(out, m->g2[i]);
            }
    } else {
        n = s ? (uint32_t)s->n : 0;
        put_u32(out, n);
        /* Index order, not slot order: the bytes must not depend on how
         * the map happened to grow. */
        for (uint32_t i = 0; s && i < NW; i++) {
            ssize_t j = scope_find_slot(s, i);
            if (j < 0)
                continue;
            put_u32(out, i);
            put_f64(out, s->w[j]);
            put_f64(out, s->g2[j]);
        }
    }
    if (out->oom)
        return -1;
    put_u64(out, bytes_fnv((const unsigned char *)out->data + start, out->len - start));
    return out->oom ? -1 : 0;
}

int rc_model_save(rc_model *m, const char *merchant_id, buf *out)
{
    pthread_rwlock_rdlock(&m->lock);
    int rc = save_locked(m, merchant_id, out);
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

struct blob_view {
    int64_t count;
    uint32_t n;
    const unsigned char *e; /* the first entry */
};

static int blob_parse(const void *blob, size_t len, int merchant, struct blob_view *v)
{
    const unsigned char *p = blob;
    if (!p || len < HEADER_LEN + 8 || memcmp(p, BLOB_MAGIC, 4) != 0 || get_u32(p + 4) != BLOB_VERSION ||
        get_u32(p + 8) != (merchant ? 1u : 0u) || get_u32(p + 12) != NBITS)
        return -1;
    v->count = (int64_t)get_u64(p + 16);
    v->n = get_u32(p + 24);
    if (v->n > NW || len != HEADER_LEN + (size_t)v->n * ENTRY_LEN + 8 ||
        bytes_fnv(p, len - 8) != get_u64(p + len - 8))
        return -1;
    v->e = p + HEADER_LEN;
    for (uint32_t i = 0; i < v->n; i++)
        if (get_u32(v->e + (size_t)i * ENTRY_LEN) >= NW)
            return -1;
    return 0;
}

/* The merge walks entries in index order, as save writes them. */
static int blob_parse_sorted(const void *blob, size_t len, int merchant, struct blob_view *v)
{
    if (blob_parse(blob, len, merchant, v) != 0)
        return -1;
    for (uint32_t i = 1; i < v->n; i++)
        if (get_u32(v->e + (size_t)i * ENTRY_LEN) <= get_u32(v->e + (size_t)(i - 1) * ENTRY_LEN))
            return -1;
    return 0;
}

static int set_base(unsigned char **base, size_t *base_len, const void *blob, size_t len)
{
    unsigned char *copy = NULL;
    if (blob) {
        copy = malloc(len ? len : 1);
        if (!copy)
            return -1;
        memcpy(copy, blob, len);
    }
    free(*base);
    *base = copy;
    *base_len = blob ? len : 0;
    return 0;
}

int rc_model_load(rc_model *m, const char *merchant_id, const void *blob, size_t len)
{
    struct blob_view v;
    if (blob_parse(blob, len, merchant_id != NULL, &v) != 0)
        return -1;
    uint32_t n = v.n;
    const unsigned char *e = v.e;

    pthread_rwlock_wrlock(&m->lock);
    int rc = 0;
    if (!merchant_id) {
        memset(m->w, 0, NW * sizeof *m->w);
        memset(m->g2, 0, NW * sizeof *m->g2);
        write_prior(m->w);
        for (uint32_t i = 0; i < n; i++, e += ENTRY_LEN) {
            uint32_t k = get_u32(e);
            m->w[k] = get_f64(e + 4);
            m->g2[k] = get_f64(e + 12);
        }
        m->count = v.count;
        rc = set_base(&m->base, &m->base_len, blob, len);
    } else {
        struct scope *s = merchant_get(m, merchant_id);
        if (!s) {
            rc = -1;
        } else {
            free(s->keys);
            free(s->w);
            free(s->g2);
            s->keys = NULL;
            s->w = s->g2 = NULL;
            s->cap = s->n = 0;
            for (uint32_t i = 0; i < n && rc == 0; i++, e += ENTRY_LEN) {
                ssize_t j = scope_slot(s, get_u32(e));
                if (j < 0) {
                    rc = -1;
                    break;
                }
                s->w[j] = get_f64(e + 4);
                s->g2[j] = get_f64(e + 12);
            }
            s->count = v.count;
            s->dirty = 0;
            if (rc == 0)
                rc = set_base(&s->base, &s->base_len, blob, len);
        }
    }
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

/* One value of the merge: the store's, plus what this node learned since
 * the base. When either side did not move, its other side is taken as it
 * is, so that a single node (the store unchanged since its last sync)
 * keeps its state bit for bit, which stored + (current - base) would not
 * always give in floating point. */
static double merge_f64(double stored, double base, double cur)
{
    if (stored == base)
        return cur;
    if (cur == base)
        return stored;
    return stored + (cur - base);
}

static int64_t merge_i64(int64_t stored, int64_t base, int64_t cur) { return stored + (cur - base); }

struct walk {
    const struct blob_view *v; /* NULL: the blob is absent */
    uint32_t next;
};

/* The entry of feature k in a blob walked in index order, if it has one. */
static int walk_at(struct walk *w, uint32_t k, double *wt, double *g2)
{
    if (!w->v)
        return 0;
    while (w->next < w->v->n && get_u32(w->v->e + (size_t)w->next * ENTRY_LEN) < k)
        w->next++;
    if (w->next >= w->v->n)
        return 0;
    const unsigned char *e = w->v->e + (size_t)w->next * ENTRY_LEN;
    if (get_u32(e) != k)
        return 0;
    *wt = get_f64(e + 4);
    *g2 = get_f64(e + 12);
    return 1;
}

/* An entry absent from a global blob is the prior with no gradients; from
 * a merchant's, no delta at all. */
static void merge_global(rc_model *m, const struct blob_view *sv, const struct blob_view *bv, const double *prior)
{
    struct walk ws = {sv, 0}, wb = {bv, 0};
    for (uint32_t k = 0; k < NW; k++) {
        double sw = prior[k], sg = 0, bw = prior[k], bg = 0;
        walk_at(&ws, k, &sw, &sg);
        walk_at(&wb, k, &bw, &bg);
        m->w[k] = merge_f64(sw, bw, m->w[k]);
        m->g2[k] = merge_f64(sg, bg, m->g2[k]);
    }
    m->count = merge_i64(sv->count, bv ? bv->count : 0, m->count);
}

static int merge_merchant(struct scope *s, const struct blob_view *sv, const struct blob_view *bv)
{
    struct walk ws = {sv, 0}, wb = {bv, 0};
    for (uint32_t k = 0; k < NW; k++) {
        double sw = 0, sg = 0, bw = 0, bg = 0;
        int in_stored = walk_at(&ws, k, &sw, &sg);
        walk_at(&wb, k, &bw, &bg);
        ssize_t j = scope_find_slot(s, k);
        if (j < 0 && !in_stored)
            continue;
        double cw = j >= 0 ? s->w[j] : 0, cg = j >= 0 ? s->g2[j] : 0;
        if (j < 0 && (j = scope_slot(s, k)) < 0)
            return -1;
        s->w[j] = merge_f64(sw, bw, cw);
        s->g2[j] = merge_f64(sg, bg, cg);
    }
    s->count = merge_i64(sv->count, bv ? bv->count : 0, s->count);
    return 0;
}

int rc_model_sync(rc_model *m, const char *merchant_id, const void *stored, size_t stored_len, buf *out)
{
    int merchant = merchant_id != NULL;
    struct blob_view sv, bv;
    int have_stored = stored && blob_parse_sorted(stored, stored_len, merchant, &sv) == 0;
    double *prior = NULL;
    if (have_stored && !merchant) {
        prior = calloc(NW, sizeof *prior);
        if (!prior)
            return -1;
        write_prior(prior);
    }
    /* Held from the merge to the new base, so that an outcome learned
     * meanwhile lands either before both (and is merged) or after both
     * (and is the next sync's delta). */
    pthread_rwlock_wrlock(&m->lock);
    struct scope *s = merchant ? merchant_get(m, merchant_id) : NULL;
    int rc = merchant && !s ? -1 : 0;
    unsigned char **base = s ? &s->base : &m->base;
    size_t *base_len = s ? &s->base_len : &m->base_len;
    if (rc == 0 && have_stored && !(*base && *base_len == stored_len && memcmp(*base, stored, stored_len) == 0)) {
        const struct blob_view *b = *base && blob_parse_sorted(*base, *base_len, merchant, &bv) == 0 ? &bv : NULL;
        if (merchant)
            rc = merge_merchant(s, &sv, b);
        else
            merge_global(m, &sv, b, prior);
    }
    size_t start = out->len;
    if (rc == 0)
        rc = save_locked(m, merchant_id, out);
    if (rc == 0)
        rc = set_base(base, base_len, out->data + start, out->len - start);
    if (rc == 0) {
        if (s)
            s->dirty = 0;
        else
            m->dirty = 0;
    }
    pthread_rwlock_unlock(&m->lock);
    free(prior);
    return rc;
}

int rc_model_rebase(rc_model *m, const char *merchant_id, const void *blob, size_t len)
{
    pthread_rwlock_wrlock(&m->lock);
    struct scope *s = merchant_id ? merchant_get(m, merchant_id) : NULL;
    int rc = -1;
    if (s || !merchant_id) {
        rc = s ? set_base(&s->base, &s->base_len, blob, len) : set_base(&m->base, &m->base_len, blob, len);
        if (s)
            s->dirty = 1;
        else
            m->dirty = 1;
    }
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

int64_t rc_model_version(rc_model *m, const char *merchant_id)
{
    pthread_rwlock_rdlock(&m->lock);
    const struct scope *s = merchant_id ? merchant_find(m, merchant_id) : NULL;
    int64_t v = merchant_id ? (s ? s->version : 0) : m->version;
    pthread_rwlock_unlock(&m->lock);
    return v;
}

void rc_model_set_version(rc_model *m, const char *merchant_id, int64_t version)
{
    pthread_rwlock_wrlock(&m->lock);
    struct scope *s = merchant_id ? merchant_get(m, merchant_id) : NULL;
    if (s)
        s->version = version;
    else if (!merchant_id)
        m->version = version;
    pthread_rwlock_unlock(&m->lock);
}

size_t rc_model_dirty_scopes(rc_model *m, char (*out)[ID_MAX], size_t max, int *global_dirty)
{
    pthread_rwlock_rdlock(&m->lock);
    size_t k = 0;
    for (size_t i = 0; i < m->scap && k < max; i++)
        if (m->scopes[i] && m->scopes[i]->dirty)
            str_copy(out[k++], ID_MAX, m->scopes[i]->id);
    if (global_dirty)
        *global_dirty = m->dirty;
    pthread_rwlock_unlock(&m->lock);
    return k;
}

void rc_model_mark_saved(rc_model *m)
{
    pthread_rwlock_wrlock(&m->lock);
    for (size_t i = 0; i < m->scap; i++)
        if (m->scopes[i])
            m->scopes[i]->dirty = 0;
    m->dirty = 0;
    pthread_rwlock_unlock(&m->lock);
}

/* ----------------------------------------------------- features of txns */

/* Normalising a decline scans the whole mapping table (some 10 to 20 us);
 * the planner and the learner read the same few declines again and again.
 * A small cache per thread (no lock, nothing shared) keeps the last ones,
 * keyed by every field the normaliser reads. */
#define DCL_SLOTS 32
#define DCL_KEY_MAX 600

struct dcl_slot {
    uint64_t hash;
    size_t len;
    char key[DCL_KEY_MAX];
    struct rc_decline d;
};

static _Thread_local struct dcl_slot dcl_cache[DCL_SLOTS];

static int dcl_key(const struct rc_txn *t, char *key, size_t *len)
{
    const char *parts[] = {t->psp, t->raw_response_message, t->psp_response_message, t->processor_response_code,
                           t->response_type, t->network_status, t->success ? "1" : "0"};
    size_t o = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t l = strlen(parts[i]);
        if (o + l + 1 > DCL_KEY_MAX)
            return -1;
        memcpy(key + o, parts[i], l);
        o += l;
        key[o++] = '\x1f';
    }
    *len = o;
    return 0;
}

void rc_decline_of_txn_cached(const struct rc_txn *t, struct rc_decline *out)
{
    char key[DCL_KEY_MAX];
    size_t len;
    if (dcl_key(t, key, &len) != 0) {
        rc_decline_of_txn(t, out);
        return;
    }
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    struct dcl_slot *slot = &dcl_cache[h % DCL_SLOTS];
    if (slot->len == len && slot->hash == h && memcmp(slot->key, key, len) == 0) {
        *out = slot->d;
        return;
    }
    rc_decline_of_txn(t, out);
    slot->hash = h;
    slot->len = len;
    memcpy(slot->key, key, len);
    slot->d = *out;
}

int64_t rc_model_local_day(int64_t utc_ms, int offset_min)
{
    int64_t t = utc_ms + (int64_t)offset_min * 60000;
    int64_t q = t / DAY_MS;
    return t % DAY_MS < 0 ? q - 1 : q;
}

int rc_model_zone(const struct rc_txn *shape, const char *postal_code, const char *merchant_tz)
{
    const char *zone = shape ? rc_zone_for(shape->issuer_country, postal_code) : NULL;
    int i = zone ? rc_zone_index(zone) : -1;
    if (i < 0 && merchant_tz && *merchant_tz)
        i = rc_zone_index(merchant_tz);
    return i;
}

void rc_model_features_at(struct rc_model_features *f, const char *reason, const char *decline_class, int attempts,
                          int64_t first_failure_at, int64_t last_failure_at, const struct rc_txn *shape,
                          int zone_idx, int64_t at_ms)
{
    memset(f, 0, sizeof *f);
    f->reason = reason ? reason : "";
    f->decline_class = decline_class ? decline_class : "";
    f->scheme = shape ? shape->scheme : "";
    f->funding_source = shape ? shape->funding_source : "";
    f->issuer_country = shape ? shape->issuer_country : "";
    f->acquirer_country = shape ? shape->acquirer_country : "";
    f->currency = shape ? shape->currency : "";
    f->amount_minor = shape ? shape->amount : 0;
    f->attempts = attempts;
    f->since_first_failure_ms = first_failure_at > 0 && at_ms > first_failure_at ? at_ms - first_failure_at : 0;
    f->since_last_failure_ms = last_failure_at > 0 && at_ms > last_failure_at ? at_ms - last_failure_at : 0;
    struct rc_local lt;
    rc_local_time_idx(at_ms, zone_idx, &lt);
    f->local_hour = lt.hour;
    f->local_wday = lt.wday;
    f->local_mday = lt.mday;
    f->local_day = rc_model_local_day(at_ms, lt.offset_min);
}

void rc_model_features_card(struct rc_model_features *f, const struct rc_txn *card, size_t n, int zone_idx,
                            int64_t at_ms)
{
    const struct rc_txn *paid = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct rc_txn *s = &card[i];
        if (!s->success || s->psp_created_at >= at_ms || (paid && s->psp_created_at <= paid->psp_created_at))
            continue;
        int after_failure = 0;
        for (size_t j = 0; j < n && !after_failure; j++)
            after_failure = !card[j].success && card[j].psp_created_at < s->psp_created_at &&
                            card[j].psp_created_at >= s->psp_created_at - RECOVERED_WITHIN;
        if (after_failure)
            paid = s;
    }
    if (!paid)
        return;
    struct rc_local lt;
    rc_local_time_idx(paid->psp_created_at, zone_idx, &lt);
    f->paid_local_day = rc_model_local_day(paid->psp_created_at, lt.offset_min);
    f->paid_mday = lt.mday;
}

void rc_model_features_for(struct rc_model_features *f, const struct rc_txn *earlier, size_t nearlier,
                           const struct rc_txn *shape, const char *postal_code, const char *merchant_tz,
                           int64_t at_ms)
{
    /* The failures since the invoice's latest success (a success ends a
     * run of failures: what came before it does not weigh on this one). */
    size_t from = 0;
    for (size_t i = nearlier; i-- > 0;)
        if (earlier[i].success) {
            from = i + 1;
            break;
        }
    int attempts = 0;
    int64_t first = 0;
    for (size_t i = from; i < nearlier; i++) {
        if (!attempts)
            first = earlier[i].psp_created_at;
        attempts++;
    }
    const char *reason = "", *cls = "";
    struct rc_decline d;
    if (attempts) {
        rc_decline_of_txn_cached(&earlier[nearlier - 1], &d);
        reason = d.reason;
        cls = rc_decline_class_name(d.cls);
    }
    rc_model_features_at(f, reason, cls, attempts, first, attempts ? earlier[nearlier - 1].psp_created_at : 0, shape,
                         rc_model_zone(shape, postal_code, merchant_tz), at_ms);
}
