/* The strategy lab's run: one virtual-time event loop per strategy over the
 * same population (a priority queue of next events, never a clock tick
 * loop), and the report that compares them. */
#ifndef RECOUP_LAB_SIMULATE_H
#define RECOUP_LAB_SIMULATE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "lab/scenario.h"
#include "lab/strategies.h"

struct lab_type_result {
    int64_t invoices;
    int64_t recovered;
    int64_t attempts;
    double failed_value;
    double recovered_value;
};

struct lab_result {
    int ran;
    int64_t invoices;
    int64_t recovered;
    int64_t attempts;     /* retries made (the merchant's failed renewal is not one) */
    int64_t violations;   /* retries a network rule forbids */
    int64_t cancelled;    /* invoices RetryStatus closed */
    double failed_value;  /* reporting currency */
    double recovered_value;
    double fees;          /* reporting currency */
    double median_days;   /* first failure to recovery, recovered invoices; -1 when none */
    int64_t plans;        /* planner decisions asked for (recoup) */
    int64_t planner_overruns; /* retries planned past the window or the limit (not made) */
    struct lab_type_result by_type[LAB_TYPE_COUNT];
    double seconds;       /* wall time of the run */
};

struct lab_options {
    uint64_t seed;
    unsigned strategies; /* bit per enum lab_strategy; 0: all */
    int jobs;            /* strategies run at once (threads); 0 or 1: one after another */
};

struct lab_report {
    const struct lab_scenario *s;
    uint64_t seed;
    int64_t warmup_outcomes; /* outcomes the model learned before the window */
    double warmup_seconds;
    struct lab_result r[LAB_STRATEGY_COUNT];
};

/* Runs the scenario; 0, or -1 when memory runs out (err says so). */
int lab_simulate(const struct lab_scenario *s, const struct lab_options *o, struct lab_report *out, char *err,
                 size_t errsz);

struct lab_check {
    char name[96];
    int pass;
    double value, target;
};
/* The checks against the targets whose strategies ran; returns how many. */
size_t lab_report_checks(const struct lab_report *r, struct lab_check *out, size_t max);

/* The human report (with_timing adds wall times, which vary run to run). */
void lab_report_text(const struct lab_report *r, int with_timing, buf *out);
cJSON *lab_report_json(const struct lab_report *r, int with_timing);

/* recoupctl simulate: parses argv (after "simulate"), runs, prints. */
int lab_simulate_main(int argc, char **argv);

#endif
