/* The one source of "now". Everything that schedules or stamps time asks the
 * clock, so that tests and the sandbox can run days of virtual time in
 * seconds. */
#ifndef RECOUP_CORE_CLOCK_H
#define RECOUP_CORE_CLOCK_H

#include <stdint.h>

typedef struct rclock rclock;

/* A real clock follows CLOCK_REALTIME. A virtual clock starts at the real
 * time and moves only when advanced (or set). */
rclock *clock_new_real(void);
rclock *clock_new_virtual(int64_t start_ms);
void clock_free(rclock *c);

int64_t clock_now_ms(rclock *c);
int clock_is_virtual(const rclock *c);
/* Virtual clocks only: moves time forward; returns the new now, or -1. */
int64_t clock_advance_ms(rclock *c, int64_t delta_ms);

/* Sleeps until the clock reads at least deadline_ms, for at most
 * max_real_ms of real time (virtual clocks wake when advanced). Returns
 * early when clock_wake is called. */
void clock_wait_until(rclock *c, int64_t deadline_ms, int64_t max_real_ms);
void clock_wake(rclock *c);

#endif
