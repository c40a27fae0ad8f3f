/*
 * Proleptic Gregorian calendar arithmetic and ISO-8601 writers, as
 * java.time computes and prints them (LocalDate.toEpochDay, DateTimeFormatter).
 */
#ifndef SL_UTIL_CIVIL_H
#define SL_UTIL_CIVIL_H
#include "util/buf.h"
#include <stdint.h>

/* Days since 1970-01-01 of y-m-d (java.time.LocalDate.toEpochDay), and back. */
int64_t sl_days_from_civil(int64_t y, int64_t m, int64_t d);
void sl_civil_from_days(int64_t z, int64_t *y, int *m, int *d);
/* Days in month m (1..12) of year y. */
int sl_days_in_month(int64_t y, int64_t m);
/* Appends the ISO-8601 date of epoch day `days`: at least 4 year digits, '+' above 9999, '-' before year 0. */
void sl_put_iso_date(sl_buf *b, int64_t days);
/* Appends HH:MM:SS plus the fraction: `width` digits (1..9), or DateTimeFormatter's minimal fraction otherwise. */
void sl_put_iso_time(sl_buf *b, int64_t ns_of_day, int width);

/* a / b rounded toward negative infinity (Math.floorDiv). */
static inline int64_t sl_floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

#endif
