/* Clock helpers: monotonic milliseconds for timers, wall-clock micros for events. */
#ifndef SL_UTIL_TIMEUTIL_H
#define SL_UTIL_TIMEUTIL_H
#include <stdint.h>
int64_t sl_mono_ms(void);
int64_t sl_wall_us(void);
/* Sleeps up to ms, returning early when *stop becomes non-zero (checked every 50 ms). */
void sl_sleep_ms(int64_t ms, volatile int *stop);
#endif
