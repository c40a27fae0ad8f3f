/* Clock helpers: monotonic milliseconds for timers, wall-clock micros for events. */
#ifndef SL_UTIL_TIMEUTIL_H
#define SL_UTIL_TIMEUTIL_H
#include <stdint.h>
#include <time.h>
int64_t sl_mono_ms(void);
/* The CLOCK_MONOTONIC time ms from now: the deadline of a pthread_cond_timedwait on a condvar of that clock. */
struct timespec sl_mono_deadline(int64_t ms);
int64_t sl_wall_us(void);
/* Sleeps up to ms, returning early when *stop becomes non-zero (checked every 50 ms). */
void sl_sleep_ms(int64_t ms, volatile int *stop);
#endif
