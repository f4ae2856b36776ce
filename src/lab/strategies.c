#include "lab/strategies.h"

#include <string.h>

static const char *const names[LAB_STRATEGY_COUNT] = {"recoup", "fixed_8_in_14", "fixed_8_16_24", "fixed_1_3_5_7",
                                                      "oracle"};

const char *lab_strategy_name(enum lab_strategy s) { return (unsigned)s < LAB_STRATEGY_COUNT ? names[s] : "?"; }

int lab_strategy_from_name(const char *name)
{
    for (int i = 0; i < LAB_STRATEGY_COUNT; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

int64_t lab_fixed_offset(enum lab_strategy s, int k)
{
    static const int days_8_16_24[] = {8, 16, 24};
    static const int days_1_3_5_7[] = {1, 3, 5, 7};
    if (k < 0)
        return -1;
    switch (s) {
    case LAB_FIXED_8_IN_14:
        /* Eight tries spread evenly so that the last falls on day 14. */
        return k < 8 ? (int64_t)(k + 1) * 14 * LAB_DAY_MS / 8 : -1;
    case LAB_FIXED_8_16_24:
        return k < 3 ? days_8_16_24[k] * LAB_DAY_MS : -1;
    case LAB_FIXED_1_3_5_7:
        return k < 4 ? days_1_3_5_7[k] * LAB_DAY_MS : -1;
    default:
        return -1;
    }
}

int64_t lab_oracle_next(const struct lab_world *w, const struct lab_customer *c, int64_t now, int retries,
                        int max_retries, int64_t window_end, lab_rule_check_fn allowed, void *ctx)
{
    if (retries >= max_retries)
        return -1;
    int64_t from = now + LAB_HOUR_MS;
    /* Each refusal moves the search past the rule's next slot, so a few
     * rounds suffice; the bound only guards a rule set that never frees. */
    for (int round = 0; round < 8; round++) {
        double best_p = 0;
        int64_t best_t = -1;
        for (int64_t t = from; t < window_end; t += LAB_HOUR_MS) {
            double p = lab_world_chance(w, c, t, retries, now);
            if (p > best_p) {
                best_p = p;
                best_t = t;
            }
        }
        if (best_t < 0)
            return -1;
        int64_t earliest = best_t;
        if (!allowed || allowed(ctx, best_t, &earliest))
            return best_t;
        if (earliest == LAB_NEVER || earliest <= best_t)
            return -1;
        /* Keep the hourly grid: the first candidate at or after the slot. */
        from += (earliest - from + LAB_HOUR_MS - 1) / LAB_HOUR_MS * LAB_HOUR_MS;
    }
    return -1;
}
