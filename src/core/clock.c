#include "core/clock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct rclock {
    int is_virtual;
    _Atomic int64_t virtual_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned long generation; /* bumped by wake/advance so sleepers notice */
};

static int64_t real_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static rclock *clock_alloc(int is_virtual, int64_t start)
{
    rclock *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->is_virtual = is_virtual;
    atomic_store(&c->virtual_ms, start);
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &attr);
    pthread_condattr_destroy(&attr);
    return c;
}

rclock *clock_new_real(void) { return clock_alloc(0, 0); }

rclock *clock_new_virtual(int64_t start_ms) { return clock_alloc(1, start_ms ? start_ms : real_now_ms()); }

void clock_free(rclock *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

int64_t clock_now_ms(rclock *c)
{
    if (c && c->is_virtual)
        return atomic_load(&c->virtual_ms);
    return real_now_ms();
}

int clock_is_virtual(const rclock *c) { return c && c->is_virtual; }

int64_t clock_advance_ms(rclock *c, int64_t delta_ms)
{
    if (!c || !c->is_virtual || delta_ms < 0)
        return -1;
    int64_t now = atomic_fetch_add(&c->virtual_ms, delta_ms) + delta_ms;
    clock_wake(c);
    return now;
}

void clock_wake(rclock *c)
{
    pthread_mutex_lock(&c->mu);
    c->generation++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void clock_wait_until(rclock *c, int64_t deadline_ms, int64_t max_real_ms)
{
    int64_t now = clock_now_ms(c);
    if (now >= deadline_ms)
        return;
    int64_t wait_ms = c->is_virtual ? max_real_ms : deadline_ms - now;
    if (wait_ms > max_real_ms)
        wait_ms = max_real_ms;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += wait_ms / 1000;
    ts.tv_nsec += (wait_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&c->mu);
    unsigned long gen = c->generation;
    while (gen == c->generation) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&c->mu);
}
