/* The retry-success learner against XGBoost (gradient-boosted trees) on
 * synthetic outcomes with planted patterns: log-loss and AUC on held-out
 * outcomes, training time, and prediction time per row (in a batch, and
 * one row at a time as the planner asks). Built by compare.sh only.
 *
 * The outcomes come in time order and the hand-written model learns them
 * online, one pass; XGBoost trains in batch on all of them (its usual use,
 * and an advantage). The truth's own log-loss is the floor neither can
 * beat. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xgboost/c_api.h>

#include "core/buf.h"
#include "recover/model.h"

#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static double unif(void) { return (rnd() & 0xffffff) / (double)0x1000000; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *const reasons[] = {"insufficient_funds", "do_not_honor", "withdrawal_limit", "issuer_unavailable",
                                      "generic_decline"};
static const char *const classes[] = {"later", "later", "later", "technical", "later"};
static const char *const fundings[] = {"debit", "credit", "prepaid"};
static const char *const countries[] = {"US", "GB", "DE", "BR", "JP", "FR"};
#define NCOLS 10

struct row {
    int reason, funding, country, hour, wday, mday, attempts, merchant;
    int64_t since;
    int64_t amount;
    double p; /* the truth */
    int y;
};

/* The planted patterns: pay days and Fridays for insufficient funds,
 * night declines, limit resets after a day (and at midnight for debit),
 * technical errors clearing within hours, fewer successes with each
 * attempt, and one merchant (3) whose customers pay only on Fridays. */
static double truth(const struct row *r)
{
    static const double base[] = {-2.0, -2.2, -1.6, -0.2, -2.0};
    double z = base[r->reason];
    if (r->hour < 5)
        z -= 0.9;
    z -= 0.3 * r->attempts;
    if (r->reason == 0) {
        if (r->mday == 1 || r->mday == 15)
            z += 1.3;
        else if (r->mday == 2 || r->mday == 16)
            z += 0.7;
        if (r->wday == 5)
            z += 0.8;
    }
    if (r->reason == 2) {
        if (r->since < DAY_MS)
            z -= 2.0;
        if (r->funding == 0 && r->hour == 0)
            z += 1.5;
    }
    if (r->reason == 3 && r->since < 2 * HOUR_MS)
        z += 0.6;
    if (r->country == 3)
        z -= 0.4;
    if (r->merchant == 3)
        z = r->wday == 5 ? 0.5 : -4.0;
    return 1 / (1 + exp(-z));
}

static void gen(struct row *r)
{
    r->reason = (int)(rnd() % 5);
    r->funding = (int)(rnd() % 3);
    r->country = (int)(rnd() % 6);
    r->hour = (int)(rnd() % 24);
    r->wday = (int)(rnd() % 7);
    r->mday = 1 + (int)(rnd() % 30);
    r->attempts = 1 + (int)(rnd() % 6);
    r->merchant = (int)(rnd() % 8);
    r->since = (int64_t)(unif() * unif() * 20 * DAY_MS);
    r->amount = 500 + (int64_t)(rnd() % 20000);
    r->p = truth(r);
    r->y = unif() < r->p;
}

static void features(const struct row *r, struct rc_model_features *f)
{
    *f = (struct rc_model_features){.reason = reasons[r->reason], .decline_class = classes[r->reason],
                                    .scheme = "visa", .funding_source = fundings[r->funding],
                                    .issuer_country = countries[r->country], .acquirer_country = "US",
                                    .currency = "USD", .amount_minor = r->amount, .attempts = r->attempts,
                                    .since_first_failure_ms = r->since, .local_hour = r->hour,
                                    .local_wday = r->wday, .local_mday = r->mday};
}

static void dense(const struct row *r, float *x)
{
    float v[NCOLS] = {(float)r->reason, (float)r->funding, (float)r->country, (float)r->hour, (float)r->wday,
                      (float)r->mday,   (float)r->attempts, (float)(r->since / HOUR_MS), (float)r->amount,
                      (float)r->merchant};
    memcpy(x, v, sizeof v);
}

static double logloss(const double *p, const struct row *rows, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double q = p[i] < 1e-9 ? 1e-9 : p[i] > 1 - 1e-9 ? 1 - 1e-9 : p[i];
        s -= rows[i].y ? log(q) : log(1 - q);
    }
    return s / (double)n;
}

struct scored {
    double p;
    int y;
};

static int cmp_scored(const void *a, const void *b)
{
    double x = ((const struct scored *)a)->p, y = ((const struct scored *)b)->p;
    return x < y ? -1 : x > y;
}

/* Area under the ROC curve by ranks (ties share their mean rank). */
static double auc(const double *p, const struct row *rows, size_t n)
{
    struct scored *s = malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++)
        s[i] = (struct scored){p[i], rows[i].y};
    qsort(s, n, sizeof *s, cmp_scored);
    double rank_sum = 0, npos = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j].p == s[i].p)
            j++;
        double mean_rank = (i + 1 + j) / 2.0;
        for (size_t k = i; k < j; k++)
            if (s[k].y) {
                rank_sum += mean_rank;
                npos++;
            }
        i = j;
    }
    double nneg = (double)n - npos;
    free(s);
    return (rank_sum - npos * (npos + 1) / 2) / (npos * nneg);
}

#define XGB_OK(call)                                                                                               \
    do {                                                                                                           \
        if ((call) != 0) {                                                                                         \
            fprintf(stderr, "xgboost: %s\n", XGBGetLastError());                                                   \
            exit(1);                                                                                               \
        }                                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    int64_t ntrain = 200000, ntest = 50000, rounds = 100;
    if (argc > 1 && str_to_i64(argv[1], &ntrain) != 0)
        return 2;
    if (argc > 2 && str_to_i64(argv[2], &rounds) != 0)
        return 2;
    struct row *train = malloc((size_t)ntrain * sizeof *train), *test = malloc((size_t)ntest * sizeof *test);
    for (int64_t i = 0; i < ntrain; i++)
        gen(&train[i]);
    for (int64_t i = 0; i < ntest; i++)
        gen(&test[i]);
    double *p = malloc((size_t)ntest * sizeof *p);
    for (int64_t i = 0; i < ntest; i++)
        p[i] = test[i].p;
    double floor_ll = logloss(p, test, (size_t)ntest), floor_auc = auc(p, test, (size_t)ntest);
    double base_rate = 0;
    for (int64_t i = 0; i < ntrain; i++)
        base_rate += train[i].y;
    base_rate /= (double)ntrain;
    for (int64_t i = 0; i < ntest; i++)
        p[i] = base_rate;
    double const_ll = logloss(p, test, (size_t)ntest);

    /* The hand-written model: online, one pass, per merchant over global. */
    rc_model *m = rc_model_new();
    char mid[8][8];
    for (int i = 0; i < 8; i++)
        snprintf(mid[i], sizeof mid[i], "m%d", i);
    double t0 = now_s();
    for (int64_t i = 0; i < ntrain; i++) {
        struct rc_model_features f;
        features(&train[i], &f);
        rc_model_learn(m, mid[train[i].merchant], &f, train[i].y);
    }
    double t1 = now_s();
    for (int64_t i = 0; i < ntest; i++) {
        struct rc_model_features f;
        features(&test[i], &f);
        p[i] = rc_model_predict(m, mid[test[i].merchant], &f);
    }
    double t2 = now_s();
    double own_ll = logloss(p, test, (size_t)ntest), own_auc = auc(p, test, (size_t)ntest);
    /* The same before any data: the prior alone. */
    rc_model *prior = rc_model_new();
    for (int64_t i = 0; i < ntest; i++) {
        struct rc_model_features f;
        features(&test[i], &f);
        p[i] = rc_model_predict(prior, mid[test[i].merchant], &f);
    }
    double prior_ll = logloss(p, test, (size_t)ntest), prior_auc = auc(p, test, (size_t)ntest);
    rc_model_free(prior);
    buf blob;
    buf_init(&blob);
    rc_model_save(m, NULL, &blob);
    size_t own_bytes = blob.len;
    for (int i = 0; i < 8; i++)
        rc_model_save(m, mid[i], &blob);
    size_t own_all_bytes = blob.len;
    buf_free(&blob);

    /* XGBoost, batch-trained on the same outcomes. */
    float *xtr = malloc((size_t)ntrain * NCOLS * sizeof *xtr), *ytr = malloc((size_t)ntrain * sizeof *ytr);
    float *xte = malloc((size_t)ntest * NCOLS * sizeof *xte);
    for (int64_t i = 0; i < ntrain; i++) {
        dense(&train[i], xtr + i * NCOLS);
        ytr[i] = (float)train[i].y;
    }
    for (int64_t i = 0; i < ntest; i++)
        dense(&test[i], xte + i * NCOLS);
    DMatrixHandle dtr, dte;
    double t3 = now_s();
    XGB_OK(XGDMatrixCreateFromMat(xtr, (bst_ulong)ntrain, NCOLS, NAN, &dtr));
    XGB_OK(XGDMatrixSetFloatInfo(dtr, "label", ytr, (bst_ulong)ntrain));
    BoosterHandle bst;
    XGB_OK(XGBoosterCreate(&dtr, 1, &bst));
    XGB_OK(XGBoosterSetParam(bst, "objective", "binary:logistic"));
    XGB_OK(XGBoosterSetParam(bst, "max_depth", "6"));
    XGB_OK(XGBoosterSetParam(bst, "eta", "0.1"));
    XGB_OK(XGBoosterSetParam(bst, "nthread", "2"));
    XGB_OK(XGBoosterSetParam(bst, "tree_method", "hist"));
    XGB_OK(XGBoosterSetParam(bst, "seed", "0"));
    for (int i = 0; i < rounds; i++)
        XGB_OK(XGBoosterUpdateOneIter(bst, i, dtr));
    double t4 = now_s();
    XGB_OK(XGDMatrixCreateFromMat(xte, (bst_ulong)ntest, NCOLS, NAN, &dte));
    bst_ulong olen;
    const float *out;
    double t5 = now_s();
    XGB_OK(XGBoosterPredict(bst, dte, 0, 0, 0, &olen, &out));
    double t6 = now_s();
    for (int64_t i = 0; i < ntest; i++)
        p[i] = out[i];
    double xgb_ll = logloss(p, test, (size_t)ntest), xgb_auc = auc(p, test, (size_t)ntest);
    /* One row at a time, as a planner scoring one candidate would. */
    int singles = 2000;
    double t7 = now_s();
    for (int i = 0; i < singles; i++) {
        DMatrixHandle d1;
        XGB_OK(XGDMatrixCreateFromMat(xte + (size_t)i * NCOLS, 1, NCOLS, NAN, &d1));
        XGB_OK(XGBoosterPredict(bst, d1, 0, 0, 0, &olen, &out));
        XGDMatrixFree(d1);
    }
    double t8 = now_s();
    const char *xgb_raw;
    bst_ulong xgb_bytes;
    XGB_OK(XGBoosterSaveModelToBuffer(bst, "{\"format\": \"ubj\"}", &xgb_bytes, &xgb_raw));

    printf("| model | log-loss | AUC | training | predict, batch | predict, one row | model size |\n");
    printf("|---|---|---|---|---|---|---|\n");
    printf("| truth (the floor) | %.4f | %.4f | | | | |\n", floor_ll, floor_auc);
    printf("| constant base rate | %.4f | 0.5000 | | | | |\n", const_ll);
    printf("| hand-written, prior only (no data) | %.4f | %.4f | | | | |\n", prior_ll, prior_auc);
    printf("| hand-written, online one pass | %.4f | %.4f | %.2f s (%.2f us per outcome) | %.2f us/row | "
           "%.2f us/row | %zu B global, %zu B all scopes |\n",
           own_ll, own_auc, t1 - t0, (t1 - t0) * 1e6 / (double)ntrain, (t2 - t1) * 1e6 / (double)ntest,
           (t2 - t1) * 1e6 / (double)ntest, own_bytes, own_all_bytes);
    printf("| XGBoost %s, %" PRId64 " trees depth 6, batch | %.4f | %.4f | %.2f s (all data, each retrain) | "
           "%.2f us/row | %.1f us/row | %llu B |\n",
           "1.7 hist", rounds, xgb_ll, xgb_auc, t4 - t3, (t6 - t5) * 1e6 / (double)ntest,
           (t8 - t7) * 1e6 / singles, (unsigned long long)xgb_bytes);
    printf("\n(%" PRId64 " training outcomes in time order, %" PRId64 " held out; success rate %.3f)\n", ntrain,
           ntest, base_rate);

    XGDMatrixFree(dtr);
    XGDMatrixFree(dte);
    XGBoosterFree(bst);
    rc_model_free(m);
    free(train);
    free(test);
    free(p);
    free(xtr);
    free(ytr);
    free(xte);
    return 0;
}
