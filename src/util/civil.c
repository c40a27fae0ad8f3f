/* Proleptic Gregorian calendar arithmetic and ISO-8601 writers (see civil.h). */
#include "util/civil.h"
#include <stdbool.h>

/* v (>= 0) as exactly `width` digits, zero padded (hot path: no printf). */
static void put_digits(sl_buf *b, uint64_t v, int width) {
    char tmp[24];
    for (int i = width - 1; i >= 0; i--) tmp[i] = (char)('0' + v % 10), v /= 10;
    sl_buf_put(b, tmp, (size_t)width);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (java.time.LocalDate.toEpochDay). */
int64_t sl_days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void sl_civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* ISO-8601 year as java.time prints it: at least 4 digits, '+' above 9999, '-' before year 0. */
void sl_put_iso_date(sl_buf *b, int64_t days) {
    int64_t y;
    int m, d;
    sl_civil_from_days(days, &y, &m, &d);
    if (y > 9999) {
        sl_buf_putc(b, '+');
        sl_buf_put_i64(b, y);
    } else if (y < 0) {
        sl_buf_putc(b, '-');
        if (y > -10000) put_digits(b, (uint64_t)-y, 4);
        else sl_buf_put_u64(b, (uint64_t)-y);
    } else {
        put_digits(b, (uint64_t)y, 4);
    }
    sl_buf_putc(b, '-');
    put_digits(b, (uint64_t)m, 2);
    sl_buf_putc(b, '-');
    put_digits(b, (uint64_t)d, 2);
}

/* HH:MM:SS plus the fraction: `width` digits (1..9), or DateTimeFormatter's minimal fraction otherwise. */
void sl_put_iso_time(sl_buf *b, int64_t ns_of_day, int width) {
    int64_t secs = ns_of_day / 1000000000LL, ns = ns_of_day % 1000000000LL;
    put_digits(b, (uint64_t)(secs / 3600), 2);
    sl_buf_putc(b, ':');
    put_digits(b, (uint64_t)(secs / 60 % 60), 2);
    sl_buf_putc(b, ':');
    put_digits(b, (uint64_t)(secs % 60), 2);
    char frac[9];
    for (int i = 8, v = (int)ns; i >= 0; i--) frac[i] = (char)('0' + v % 10), v /= 10;
    if (width >= 1 && width <= 9) {
        sl_buf_putc(b, '.');
        sl_buf_put(b, frac, (size_t)width);
    } else if (ns) {
        int len = 9;
        while (frac[len - 1] == '0') len--;
        sl_buf_putc(b, '.');
        sl_buf_put(b, frac, (size_t)len);
    }
}

/* Days in month m (1..12) of year y. */
int sl_days_in_month(int64_t y, int64_t m) {
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

