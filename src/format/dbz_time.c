/* Debezium JSON encoder: the date and time text readers the PostgreSQL and binlog value forms share. */
#include "format/dbz_int.h"
#include <string.h>

/* ---------------------------------------------------------------------------
 * Dates and times (DateStyle ISO; proleptic Gregorian like java.time)
 */

bool dbz_cur_num(dbz_cur *c, int min, int max, int64_t *v) {
    int k = 0;
    *v = 0;
    while (c->i < c->n && k < max && dbz_is_digit(c->s[c->i])) *v = *v * 10 + (c->s[c->i++] - '0'), k++;
    return k >= min;
}
bool dbz_cur_ch(dbz_cur *c, char ch) {
    if (c->i < c->n && c->s[c->i] == ch) return c->i++, true;
    return false;
}
bool dbz_cur_lit(dbz_cur *c, const char *lit) {
    size_t l = strlen(lit);
    if (c->n - c->i >= l && memcmp(c->s + c->i, lit, l) == 0) return c->i += l, true;
    return false;
}
bool dbz_cur_end(const dbz_cur *c) { return c->i == c->n; }

/* yyyy-mm-dd (year of era, 1..10 digits) → epoch day; *year_pos for a trailing " BC". */
bool dbz_parse_ymd(dbz_cur *c, int64_t *y, int64_t *m, int64_t *d) {
    return dbz_cur_num(c, 1, 10, y) && dbz_cur_ch(c, '-') && dbz_cur_num(c, 2, 2, m) && dbz_cur_ch(c, '-') &&
           dbz_cur_num(c, 2, 2, d) && *m >= 1 && *m <= 12 && *d >= 1 && *d <= 31;
}

/* HH:MM:SS[.fffffffff] → nanoseconds of day (hours may be 24). */
bool dbz_parse_hms(dbz_cur *c, int64_t *ns) {
    int64_t h, mi, se, frac = 0;
    if (!dbz_cur_num(c, 1, 3, &h) || !dbz_cur_ch(c, ':') || !dbz_cur_num(c, 2, 2, &mi) || !dbz_cur_ch(c, ':') ||
        !dbz_cur_num(c, 2, 2, &se))
        return false;
    if (dbz_cur_ch(c, '.')) {
        int k = 0;
        while (c->i < c->n && dbz_is_digit(c->s[c->i])) {
            if (k < 9) frac = frac * 10 + (c->s[c->i] - '0'), k++;
            c->i++;
        }
        while (k++ < 9) frac *= 10;
    }
    if (mi > 59 || se > 60) return false;
    *ns = ((h * 60 + mi) * 60 + se) * 1000000000LL + frac;
    return true;
}

/* ±HH[:MM[:SS]] → seconds east of UTC. */
bool dbz_parse_offset(dbz_cur *c, int64_t *secs) {
    if (c->i >= c->n || (c->s[c->i] != '+' && c->s[c->i] != '-')) return false;
    bool neg = c->s[c->i++] == '-';
    int64_t h, m = 0, s = 0;
    if (!dbz_cur_num(c, 2, 2, &h)) return false;
    if (dbz_cur_ch(c, ':')) {
        if (!dbz_cur_num(c, 2, 2, &m)) return false;
        if (dbz_cur_ch(c, ':') && !dbz_cur_num(c, 2, 2, &s)) return false;
    }
    *secs = (neg ? -1 : 1) * (h * 3600 + m * 60 + s);
    return true;
}

/* PostgreSQL date/timestamp/timestamptz text → epoch microseconds (UTC for tz). */
bool dbz_parse_timestamp(const char *s, size_t n, bool with_tz, bool date_only, int *kind, int64_t *us) {
    *kind = TS_FINITE;
    if (n == 8 && memcmp(s, "infinity", 8) == 0) return *kind = TS_PINF, true;
    if (n == 9 && memcmp(s, "-infinity", 9) == 0) return *kind = TS_NINF, true;
    dbz_cur c = {s, n, 0};
    int64_t y, m, d, ns = 0, off = 0;
    if (!dbz_parse_ymd(&c, &y, &m, &d)) return false;
    if (!date_only) {
        if (!dbz_cur_ch(&c, ' ') && !dbz_cur_ch(&c, 'T')) return false;
        if (!dbz_parse_hms(&c, &ns)) return false;
        if (with_tz && !dbz_parse_offset(&c, &off)) return false;
    }
    if (dbz_cur_lit(&c, " BC")) y = 1 - y;
    if (!dbz_cur_end(&c)) return false;
    int64_t days = sl_days_from_civil(y, m, d), t;
    if (date_only) return *us = days, true;
    if (__builtin_mul_overflow(days, US_PER_DAY, &t) || __builtin_add_overflow(t, ns / 1000 - off * 1000000, us))
        return false;
    return true;
}

bool sl_dbz_read_timestamp(const char *s, size_t n, bool with_tz, bool date_only, int *inf, int64_t *out) {
    char buf[64];
    if (with_tz && n > 1 && n < sizeof buf - 2 && s[n - 1] == 'Z') { /* ISO's Z: offset zero */
        memcpy(buf, s, n - 1);
        memcpy(buf + n - 1, "+00", 3);
        s = buf, n = n + 2;
    }
    int kind;
    if (!dbz_parse_timestamp(s, n, with_tz, date_only, &kind, out)) return false;
    *inf = kind == TS_PINF ? 1 : kind == TS_NINF ? -1 : 0;
    return true;
}

bool sl_dbz_read_time(const char *s, size_t n, int64_t *us) {
    bool neg = n && s[0] == '-';
    dbz_cur c = {s, n, neg ? 1u : 0u};
    int64_t ns;
    if (!dbz_parse_hms(&c, &ns) || !dbz_cur_end(&c)) return false;
    *us = (neg ? -1 : 1) * (ns / 1000);
    return true;
}
