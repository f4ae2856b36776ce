/* The retry strategies the lab compares: recoup's planner (reached only
 * through rc_plan and the rc_model_* API), three fixed schedules that
 * billing platforms ship, and an oracle that knows each customer's hidden
 * state but not the chance outcomes. */
#ifndef RECOUP_LAB_STRATEGIES_H
#define RECOUP_LAB_STRATEGIES_H

#include <stdint.h>

#include "lab/world.h"

enum lab_strategy {
    LAB_RECOUP,
    LAB_FIXED_8_IN_14,
    LAB_FIXED_8_16_24,
    LAB_FIXED_1_3_5_7,
    LAB_ORACLE,
    LAB_STRATEGY_COUNT
};

const char *lab_strategy_name(enum lab_strategy s);
/* -1 when the name is not a strategy. */
int lab_strategy_from_name(const char *name);

/* A fixed schedule's retry number k (0-based) as an offset from the first
 * failure, or -1 when the schedule has no such retry. */
int64_t lab_fixed_offset(enum lab_strategy s, int k);

/* Whether the network rules allow a retry at t (the caller's view of the
 * card's history); sets *earliest to the next allowed time, LAB_NEVER when
 * none. */
typedef int (*lab_rule_check_fn)(void *ctx, int64_t t, int64_t *earliest);

/* The oracle's next retry after the latest failure at now: the time in
 * the dunning window (hourly candidates from an hour after now) with the
 * highest true chance, the earliest among equals, that the network rules
 * allow. -1 when no retry can succeed or none is left. */
int64_t lab_oracle_next(const struct lab_world *w, const struct lab_customer *c, int64_t now, int retries,
                        int max_retries, int64_t window_end, lab_rule_check_fn allowed, void *ctx);

#endif
