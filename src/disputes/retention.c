/* Retention: records purchased more than disputes_retention_months ago are
 * deleted. Evidence older than a year cannot count under the network rules,
 * and data kept longer than it is useful is only a liability. The purge
 * runs from the worker thread on its interval (driven by the app clock, so
 * a virtual clock moves it in tests) and from the admin API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "disputes/disputes_internal.h"
#include "http/metrics.h"

#define DAY_MS 86400000LL
/* Rows per delete: short enough that requests queued behind the single
 * writer wait milliseconds, not seconds. */
#define PURGE_CHUNK 2000

static unsigned month_days(int64_t y, unsigned m)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* now minus whole calendar months, at the same time of day; the 31st of a
 * month less one month is the last day of the shorter month. */
int64_t dsp_months_before(int64_t now_ms, int64_t months)
{
    int64_t day = now_ms >= 0 ? now_ms / DAY_MS : -((-now_ms + DAY_MS - 1) / DAY_MS);
    int64_t in_day = now_ms - day * DAY_MS;
    int64_t y;
    unsigned m, d;
    civil_from_days(day, &y, &m, &d);
    int64_t total = y * 12 + (m - 1) - months;
    int64_t ny = total >= 0 ? total / 12 : -((-total + 11) / 12);
    unsigned nm = (unsigned)(total - ny * 12) + 1;
    unsigned nd = d > month_days(ny, nm) ? month_days(ny, nm) : d;
    return days_from_civil(ny, nm, nd) * DAY_MS + in_day;
}

int64_t disputes_purge_now(struct app *app, int64_t *cutoff_ms)
{
    int64_t cutoff = dsp_months_before(clock_now_ms(app->clock), app->disputes.retention_months);
    if (cutoff_ms)
        *cutoff_ms = cutoff;
    if (!app->store->disputes)
        return 0;
    struct merchant_row *merchants = NULL;
    size_t n = 0;
    if (app->store->ops->merchant_list(app->store, &merchants, &n) != STORE_OK)
        return -1;
    static const char *const envs[] = {"staging", "production"};
    int64_t total = 0;
    int failed = 0;
    for (size_t i = 0; i < n && !failed; i++) {
        for (size_t k = 0; k < 2 && !failed; k++) {
            int64_t purged;
            do {
                purged = 0;
                if (app->store->disputes->record_purge(app->store, merchants[i].merchant_id, envs[k], cutoff,
                                                       PURGE_CHUNK, &purged) != STORE_OK)
                    failed = 1;
                total += purged;
            } while (!failed && purged == PURGE_CHUNK && !atomic_load(&app->shutting_down));
        }
    }
    free(merchants);
    if (total > 0 || failed) {
        char c[32], t[40];
        snprintf(c, sizeof c, "#%lld", (long long)total);
        time_format_ms(cutoff, t, sizeof t);
        const char *kv[] = {"component", "disputes", "purged", c, "cutoff", t, NULL};
        log_kv(failed ? LOG_ERROR : LOG_INFO, failed ? "retention purge failed" : "retention purge", kv);
        metrics_count("recoup_disputes_records_purged_total", total);
    }
    return failed ? -1 : total;
}

void disputes_tick(struct app *app, int64_t now_ms)
{
    if (app->disputes.purge_interval_s <= 0)
        return;
    int64_t *last = &app->disputes_worker.last_purge_ms;
    if (*last != 0 && now_ms - *last < app->disputes.purge_interval_s * 1000)
        return;
    *last = now_ms;
    disputes_purge_now(app, NULL);
}
