/*
 * Debezium JSON encoder: PostgreSQL value forms (PostgresValueConverter of
 * the text pgoutput and the snapshot deliver): money, bytea, dates and
 * times, interval, point, hstore, arrays and unchanged TOAST placeholders.
 */
#include "format/dbz_int.h"
#include "util/jhash.h"
#include "util/jnum.h"
#include "util/mem.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PLACEHOLDER "__debezium_unavailable_value"
#define PLACEHOLDER_B64 "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="
#define PLACEHOLDER_HEX "5f5f646562657a69756d5f756e617661696c61626c655f76616c7565"
/* UUID.nameUUIDFromBytes(PLACEHOLDER) */
#define PLACEHOLDER_UUID "b68a35a7-17ad-35b3-af2a-ae46edb4545a"
/* the placeholder's bytes as Integer/Long list (Debezium's int[]/bigint[]/date[] placeholder) */
#define PLACEHOLDER_INTS \
    "[95,95,100,101,98,101,122,105,117,109,95,117,110,97,118,97,105,108,97,98,108,101,95,118,97,108,117,101]"

/* ---------------------------------------------------------------------------
 * money
 */

/*
 * money text under lc_monetary=C: "$1,234.56", "-$1,234.56" (or "($1.00)").
 * Debezium strips the currency symbol and separators (AbstractColumnValue.asMoney);
 * precise mode rounds HALF_UP to money.fraction.digits (2), string mode is
 * toPlainString() of the parsed value.
 */
bool dbz_pg_money(const sl_dbz_opts *o, const char *s, size_t n, sl_buf *out) {
    char buf[72];
    size_t len = 1;
    bool neg = false, point = false, any = false;
    buf[0] = '0'; /* room for a carry when rounding */
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '-' || ch == '(') neg = true;
        else if (dbz_is_digit(ch) || (ch == '.' && !point)) {
            if (len + 1 >= sizeof buf) return false;
            point |= ch == '.';
            any |= dbz_is_digit(ch);
            buf[len++] = ch;
        }
    }
    if (!any) return false;
    if (o->decimal_mode == SL_DEC_PRECISE) { /* setScale(2, HALF_UP) */
        char *dot = memchr(buf, '.', len);
        size_t fn = dot ? (size_t)(buf + len - dot - 1) : 0;
        if (fn > 2) {
            bool up = dot[3] >= '5';
            len = (size_t)(dot - buf) + 3;
            for (size_t i = len; up && i-- > 0;) {
                if (buf[i] == '.') continue;
                up = buf[i] == '9';
                buf[i] = up ? '0' : (char)(buf[i] + 1);
            }
        }
    }
    numtext x;
    if (!dbz_parse_numtext(buf, len, &x)) return false;
    x.neg = neg;
    char dbl[80];
    if (o->decimal_mode == SL_DEC_DOUBLE) {
        dbl[0] = '-';
        memcpy(dbl + 1, buf, len);
        return dbz_put_float_text(out, neg ? dbl : buf, neg ? len + 1 : len, false);
    }
    if (o->decimal_mode == SL_DEC_STRING) {
        dbz_put_plain_decimal(out, &x, 0);
        return true;
    }
    dbz_put_decimal_at_scale(out, &x, 2);
    return true;
}

/* ---------------------------------------------------------------------------
 * bytea
 */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* An escape-format bytea octal escape (backslash, three octal digits, the first 0-3) at s[0]. */
static bool escape_octal(const char *s, size_t n) {
    return n >= 4 && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7';
}

/* bytea text (hex "\x0102" or escape format) in the configured binary.handling.mode. The text is
 * checked before anything is written, so a malformed value never fails half-way through (after a
 * spilling buffer may have handed part of it on, see sl_buf). */
bool dbz_pg_bytea(const sl_dbz_opts *o, const char *s, size_t n, sl_buf *out) {
    bsink bs;
    if (n >= 2 && s[0] == '\\' && s[1] == 'x') {
        if ((n - 2) % 2) return false;
        for (size_t i = 2; i < n; i++)
            if (hexval(s[i]) < 0) return false;
        dbz_bs_begin(&bs, out, dbz_bin_mode(o));
        for (size_t i = 2; i < n; i += 2) dbz_bs_byte(&bs, (uint8_t)(hexval(s[i]) << 4 | hexval(s[i + 1])));
        dbz_bs_end(&bs);
        return true;
    }
    /* escape format: checked whole first, so that nothing written has to be taken back */
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') continue;
        if (i + 1 < n && s[i + 1] == '\\') i++;
        else if (escape_octal(s + i, n - i)) i += 3;
        else return false;
    }
    dbz_bs_begin(&bs, out, dbz_bin_mode(o));
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') dbz_bs_byte(&bs, (uint8_t)s[i]);
        else if (s[i + 1] == '\\') dbz_bs_byte(&bs, '\\'), i++;
        else {
            dbz_bs_byte(&bs, (uint8_t)((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0')));
            i += 3;
        }
    }
    dbz_bs_end(&bs);
    return true;
}

/* ---------------------------------------------------------------------------
 * Dates and times
 */

/*
 * timestamptz → ZonedTimestamp string in UTC. Debezium formats with the
 * column's fractional width (scale, default 6: "...30.000000Z"); scale 0
 * falls back to ISO_OFFSET_DATE_TIME (no fraction when zero).
 */
static inline bool digits(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

/*
 * The time of day (ns) of PostgreSQL's output in the UTC time zone, "YYYY-MM-DD HH:MM:SS[.f{1,6}]+00" with a
 * year from 1000 on: its date is then the ISO date as it stands, and nothing has to be moved across days.
 * -1 for any other form (the general path reads it).
 */
static int64_t utc_time_of_day(const char *s, size_t n) {
    if (n < 22 || n > 29 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' ||
        memcmp(s + n - 3, "+00", 3) != 0 || s[0] == '0' || !digits(s, 4) || !digits(s + 5, 2) ||
        !digits(s + 8, 2) || !digits(s + 11, 2) || !digits(s + 14, 2) || !digits(s + 17, 2))
        return -1;
    int64_t frac = 0;
    if (n > 22) {
        size_t fd = n - 23; /* digits after the point */
        if (s[19] != '.' || fd == 0 || !digits(s + 20, fd)) return -1;
        for (size_t i = 0; i < 9; i++) frac = frac * 10 + (i < fd ? s[20 + i] - '0' : 0);
    }
    int h = (s[11] - '0') * 10 + s[12] - '0', m = (s[14] - '0') * 10 + s[15] - '0',
        sec = (s[17] - '0') * 10 + s[18] - '0';
    if (h > 23 || m > 59 || sec > 59) return -1;
    return ((int64_t)(h * 60 + m) * 60 + sec) * 1000000000LL + frac;
}

bool dbz_pg_timestamptz(const sl_column *c, const char *s, size_t n, sl_buf *out) {
    int64_t tod = utc_time_of_day(s, n);
    if (tod >= 0) {
        sl_buf_putc(out, '"');
        sl_buf_put(out, s, 10);
        sl_buf_putc(out, 'T');
        sl_put_iso_time(out, tod, dbz_frac_digits(c));
        sl_buf_puts(out, "Z\"");
        return true;
    }
    int kind;
    int64_t us;
    if (!dbz_parse_timestamp(s, n, true, false, &kind, &us)) return false;
    if (kind != TS_FINITE) {
        sl_buf_puts(out, kind == TS_PINF ? "\"infinity\"" : "\"-infinity\"");
        return true;
    }
    int64_t days = sl_floor_div(us, US_PER_DAY);
    sl_buf_putc(out, '"');
    sl_put_iso_date(out, days);
    sl_buf_putc(out, 'T');
    sl_put_iso_time(out, (us - days * US_PER_DAY) * 1000, dbz_frac_digits(c));
    sl_buf_puts(out, "Z\"");
    return true;
}

/* PGStatement.DATE_POSITIVE_INFINITY / DATE_NEGATIVE_INFINITY read as epoch microseconds */
#define PINF_US 9223372036825200000LL
#define NINF_US (-9223372036832400000LL)

bool dbz_pg_timestamp(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n, sl_buf *out) {
    int kind;
    int64_t us;
    if (!dbz_parse_timestamp(s, n, false, false, &kind, &us)) return false;
    if (kind != TS_FINITE) us = kind == TS_PINF ? PINF_US : NINF_US;
    bool ms = o->time_mode == SL_TIME_CONNECT || dbz_frac_digits(c) <= 3;
    sl_buf_put_i64(out, ms ? sl_floor_div(us, 1000) : us);
    return true;
}

/*
 * date: epoch days. 'infinity' / '-infinity' streamed are DateTimeFormat.date()'s LocalDate -5877611-06-21
 * / -22; read by the snapshot they are pgjdbc's java.sql.Date(DATE_POSITIVE/NEGATIVE_INFINITY), whose
 * toLocalDate() (UTC; the Julian calendar before 1582 for the negative one) gives +292278994-08-16 /
 * +292269055-12-02, and Date.toEpochDay's (int) cast of their epoch days.
 */
bool dbz_pg_date(const sl_dbz_opts *o, const char *s, size_t n, sl_buf *out) {
    int kind;
    int64_t days;
    if (!dbz_parse_timestamp(s, n, false, true, &kind, &days)) return false;
    if (kind != TS_FINITE && o->snapshot_read)
        days = (int32_t)(uint32_t)(uint64_t)(kind == TS_PINF ? 106751991166LL : 106748361128LL);
    else if (kind != TS_FINITE) days = sl_days_from_civil(-5877611, 6, kind == TS_PINF ? 21 : 22);
    if (days < INT32_MIN || days > INT32_MAX) return false;
    sl_buf_put_i64(out, days);
    return true;
}

/* time: Strings.asDuration, then ms (int) / µs (long) by mode; time[] elements come as java.sql.Time (ms). */
bool dbz_pg_time(const sl_dbz_opts *o, const sl_column *c, bool in_array, const char *s, size_t n,
                 sl_buf *out) {
    dbz_cur cu = {s, n, 0};
    int64_t ns;
    if (!dbz_parse_hms(&cu, &ns) || !dbz_cur_end(&cu)) return false;
    if (in_array) sl_buf_put_i64(out, ns / 1000000 * 1000);
    else if (o->time_mode == SL_TIME_ADAPTIVE_MICRO || (o->time_mode == SL_TIME_ADAPTIVE && dbz_frac_digits(c) > 3))
        sl_buf_put_i64(out, ns / 1000);
    else sl_buf_put_i64(out, ns / 1000000);
    return true;
}

/* timetz → ZonedTime: shifted to UTC (wrapping around midnight), minimal fraction, "Z". */
bool dbz_pg_timetz(bool in_array, const char *s, size_t n, sl_buf *out) {
    dbz_cur cu = {s, n, 0};
    int64_t ns, off;
    if (!dbz_parse_hms(&cu, &ns) || !dbz_parse_offset(&cu, &off) || !dbz_cur_end(&cu)) return false;
    const int64_t ns_day = US_PER_DAY * 1000;
    ns = ((ns - off * 1000000000LL) % ns_day + ns_day) % ns_day;
    if (in_array) ns = ns / 1000000 * 1000000;
    sl_buf_putc(out, '"');
    sl_put_iso_time(out, ns, 0);
    sl_buf_puts(out, "Z\"");
    return true;
}

/* ---------------------------------------------------------------------------
 * interval → MicroDuration, computed like pgjdbc's PGInterval + Debezium's
 * MicroDuration.durationMicros (doubles, 365.25/12 days per month).
 */

typedef struct ivl {
    int32_t years, months, days, hours, minutes;
    double seconds;
} ivl;

static bool tok_int(const char *s, size_t n, int32_t *v) {
    int64_t x;
    if (!s) return *v = 0, true; /* PGInterval.nullSafeIntGet(null) */
    if (!dbz_parse_i64(s, n, INT32_MIN, INT32_MAX, &x)) return false;
    return *v = (int32_t)x, true;
}

static bool tok_double(const char *s, size_t n, double *v) {
    char tmp[64];
    if (!s) return *v = 0, true;
    dectext x;
    if (n >= sizeof tmp || !dbz_parse_dectext(s, n, &x)) return false;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    *v = strtod(tmp, NULL);
    return true;
}

/* IntervalStyle postgres ("1 year 2 mons 3 days 04:05:06.5") and postgres_verbose ("@ 1 year ... ago"). */
static bool parse_interval_pg(const char *s, size_t n, ivl *v) {
    bool verbose = n > 0 && s[0] == '@';
    const char *val = NULL;
    size_t vlen = 0, i = 0;
    for (int idx = 1;; idx++) {
        while (i < n && (s[i] == ' ' || s[i] == '+' || s[i] == '@' || s[i] == '\t')) i++;
        if (i == n) break;
        const char *t = s + i;
        while (i < n && !(s[i] == ' ' || s[i] == '+' || s[i] == '@' || s[i] == '\t')) i++;
        size_t tl = (size_t)(s + i - t);
        if (idx & 1) {
            const char *colon = memchr(t, ':', tl);
            if (!colon) {
                val = t, vlen = tl;
                continue;
            }
            size_t off = t[0] == '-';
            const char *c2 = memchr(colon + 1, ':', tl - (size_t)(colon + 1 - t));
            if (!tok_int(t + off, (size_t)(colon - t) - off, &v->hours)) return false;
            if (tl - (size_t)(colon + 1 - t) < 2 || !tok_int(colon + 1, 2, &v->minutes)) return false;
            v->seconds = 0;
            if (c2 && !tok_double(c2 + 1, tl - (size_t)(c2 + 1 - t), &v->seconds)) return false;
            if (off) v->hours = -v->hours, v->minutes = -v->minutes, v->seconds = -v->seconds;
            val = NULL;
        } else {
            bool ok = true;
            if (tl >= 4 && strncasecmp(t, "year", 4) == 0) ok = tok_int(val, vlen, &v->years);
            else if (tl >= 3 && strncasecmp(t, "mon", 3) == 0) ok = tok_int(val, vlen, &v->months);
            else if (tl >= 3 && strncasecmp(t, "day", 3) == 0) ok = tok_int(val, vlen, &v->days);
            else if (tl >= 4 && strncasecmp(t, "hour", 4) == 0) ok = tok_int(val, vlen, &v->hours);
            else if (tl >= 3 && strncasecmp(t, "min", 3) == 0) ok = tok_int(val, vlen, &v->minutes);
            else if (tl >= 3 && strncasecmp(t, "sec", 3) == 0) ok = tok_double(val, vlen, &v->seconds);
            if (!ok) return false;
        }
    }
    if (verbose && n >= 3 && strncasecmp(s + n - 3, "ago", 3) == 0) {
        v->years = -v->years, v->months = -v->months, v->days = -v->days;
        v->hours = -v->hours, v->minutes = -v->minutes, v->seconds = -v->seconds;
    }
    return true;
}

/* IntervalStyle iso_8601: P1Y2M3DT4H5M6.5S */
static bool parse_interval_iso(const char *s, size_t n, ivl *v) {
    size_t i = 1;
    bool time = false;
    while (i < n) {
        if (s[i] == 'T') {
            time = true, i++;
            continue;
        }
        size_t st = i;
        while (i < n && (dbz_is_digit(s[i]) || s[i] == '-' || s[i] == '+' || s[i] == '.')) i++;
        if (i == n || i == st) return false;
        char u = s[i++];
        bool ok;
        if (!time) ok = u == 'Y' ? tok_int(s + st, i - 1 - st, &v->years)
                      : u == 'M' ? tok_int(s + st, i - 1 - st, &v->months)
                      : u == 'D' ? tok_int(s + st, i - 1 - st, &v->days) : false;
        else ok = u == 'H' ? tok_int(s + st, i - 1 - st, &v->hours)
                : u == 'M' ? tok_int(s + st, i - 1 - st, &v->minutes)
                : u == 'S' ? tok_double(s + st, i - 1 - st, &v->seconds) : false;
        if (!ok) return false;
    }
    return true;
}

bool dbz_pg_interval(const char *s, size_t n, sl_buf *out) {
    ivl v = {0, 0, 0, 0, 0, 0};
    if (!(n > 0 && s[0] == 'P' ? parse_interval_iso(s, n, &v) : parse_interval_pg(s, n, &v))) return false;
    /* PGInterval.setSeconds/getSeconds: whole seconds + rounded microseconds */
    double total = floor(v.seconds * 1000000.0 + 0.5);
    if (!(fabs(total) < 9.2e18)) return false;
    int64_t tus = (int64_t)total;
    double secs = (double)(tus / 1000000) + (double)(tus % 1000000) / 1000000.0;
    /* MicroDuration.durationMicros(y, m, d, h, min, s, 365.25 / 12.0); volatile keeps the
     * operations separately rounded (no FMA contraction), as in Java */
    int32_t mon = (int32_t)((uint32_t)v.years * 12u + (uint32_t)v.months);
    volatile double days = (double)mon * (365.25 / 12.0);
    days = days + v.days;
    volatile double sec = days * 24;
    sec = sec + v.hours;
    sec = sec * 60;
    sec = sec + v.minutes;
    sec = sec * 60;
    sec = sec + secs;
    volatile double micros = sec * 1e6;
    double m = micros;
    /* Java's (long) cast: truncation, NaN → 0, saturating */
    int64_t r = isnan(m) ? 0 : m >= 9223372036854775807.0 ? INT64_MAX
                             : m <= -9223372036854775808.0 ? INT64_MIN : (int64_t)m;
    sl_buf_put_i64(out, r);
    return true;
}

/* ---------------------------------------------------------------------------
 * PostgreSQL point and hstore
 */

static void put_le_double(bsink *bs, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    for (int i = 0; i < 8; i++) dbz_bs_byte(bs, (uint8_t)(u >> (8 * i)));
}

/*
 * point "(x,y)" → Point.createValue(schema, x, y): x, y, the 21-byte
 * little-endian WKB Point Debezium builds from them, srid null. The
 * coordinates are PGpoint's Double.parseDouble of the two parts.
 */
bool dbz_pg_point(const char *s, size_t n, sl_buf *out) {
    if (n < 5 || s[0] != '(' || s[n - 1] != ')' || n > 128) return false;
    char tmp[130];
    memcpy(tmp, s + 1, n - 2);
    tmp[n - 2] = 0;
    char *comma = strchr(tmp, ','), *end;
    if (!comma) return false;
    *comma = 0;
    double x = strtod(tmp, &end);
    if (end == tmp || *end) return false;
    double y = strtod(comma + 1, &end);
    if (end == comma + 1 || *end) return false;
    sl_buf_puts(out, "{\"x\":");
    sl_jnum_put_json(out, x, false);
    sl_buf_puts(out, ",\"y\":");
    sl_jnum_put_json(out, y, false);
    sl_buf_puts(out, ",\"wkb\":");
    bsink bs;
    dbz_bs_begin(&bs, out, BS_B64);
    dbz_bs_byte(&bs, 1);
    dbz_bs_byte(&bs, 1), dbz_bs_byte(&bs, 0), dbz_bs_byte(&bs, 0), dbz_bs_byte(&bs, 0);
    put_le_double(&bs, x);
    put_le_double(&bs, y);
    dbz_bs_end(&bs);
    sl_buf_puts(out, ",\"srid\":null}");
    return true;
}

/* One "..."-quoted hstore token at s[*i] (a quote), backslash escapes removed, appended to b. */
static bool hstore_token(const char *s, size_t n, size_t *i, sl_buf *b) {
    if (*i >= n || s[*i] != '"') return false;
    for ((*i)++; *i < n && s[*i] != '"'; (*i)++) {
        if (s[*i] == '\\' && ++*i >= n) return false;
        sl_buf_putc(b, s[*i]);
    }
    if (*i >= n) return false;
    (*i)++;
    return true;
}

/*
 * hstore text ("k"=>"v", "k2"=>NULL) as pgjdbc's HStoreConverter.fromString
 * reads it into a HashMap, written by Jackson in the map's order:
 * {"k":"v","k2":null}. json mode: that object as a JSON string
 * (convertHstoreToJsonString); map mode: the object itself.
 */
bool dbz_pg_hstore(const sl_dbz_opts *o, const char *s, size_t n, sl_buf *out) {
    sl_buf text; /* unescaped keys and values, back to back */
    sl_buf_init(&text);
    size_t cap = 8, cnt = 0;
    size_t *ko = sl_malloc(cap * sizeof *ko), *kl = sl_malloc(cap * sizeof *kl);
    size_t *vo = sl_malloc(cap * sizeof *vo), *vl = sl_malloc(cap * sizeof *vl);
    bool ok = true;
    for (size_t i = 0; i < n;) {
        while (i < n && (s[i] == ' ' || s[i] == ',')) i++;
        if (i == n) break;
        if (cnt == cap) {
            cap *= 2;
            ko = sl_realloc(ko, cap * sizeof *ko), kl = sl_realloc(kl, cap * sizeof *kl);
            vo = sl_realloc(vo, cap * sizeof *vo), vl = sl_realloc(vl, cap * sizeof *vl);
        }
        ko[cnt] = text.len;
        if (!(ok = hstore_token(s, n, &i, &text))) break;
        kl[cnt] = text.len - ko[cnt];
        if (!(ok = i + 2 <= n && s[i] == '=' && s[i + 1] == '>')) break;
        i += 2;
        if (i + 4 <= n && memcmp(s + i, "NULL", 4) == 0) {
            vo[cnt] = SIZE_MAX, vl[cnt] = 0, i += 4;
        } else {
            vo[cnt] = text.len;
            if (!(ok = hstore_token(s, n, &i, &text))) break;
            vl[cnt] = text.len - vo[cnt];
        }
        cnt++;
    }
    if (ok) {
        const char **keys = sl_malloc((cnt ? cnt : 1) * sizeof *keys);
        int *order = sl_malloc((cnt ? cnt : 1) * sizeof *order);
        for (size_t k = 0; k < cnt; k++) keys[k] = text.data + ko[k];
        sl_java_hashmap_order(keys, kl, (int)cnt, order);
        sl_buf obj;
        sl_buf_init(&obj);
        sl_buf_putc(&obj, '{');
        for (size_t k = 0; k < cnt; k++) {
            int e = order[k];
            if (k) sl_buf_putc(&obj, ',');
            sl_buf_put_json_str(&obj, text.data + ko[e], kl[e]);
            sl_buf_putc(&obj, ':');
            if (vo[e] == SIZE_MAX) sl_buf_puts(&obj, "null");
            else sl_buf_put_json_str(&obj, text.data + vo[e], vl[e]);
        }
        sl_buf_putc(&obj, '}');
        if (o->hstore_map) sl_buf_put(out, obj.data, obj.len);
        else sl_buf_put_json_str(out, obj.data, obj.len);
        sl_buf_free(&obj);
        sl_free(keys), sl_free(order);
    }
    sl_free(ko), sl_free(kl), sl_free(vo), sl_free(vl);
    sl_buf_free(&text);
    return ok;
}

/*
 * Unchanged TOAST value (UnchangedToastedPlaceholder): the placeholder
 * string for string-like columns, its bytes for bytea (bytes mode; hex mode
 * gets the string, base64 modes end up null), and the list placeholders for
 * text/varchar/json/jsonb/bytea/int4/int8/date/uuid arrays. Every other
 * type makes Debezium fail the record; we write null.
 */
void dbz_pg_unchanged(const sl_dbz_opts *o, const sl_column *c, sl_buf *out) {
    switch (c->type) {
    case SL_T_STRING:
    case SL_T_UUID:
    case SL_T_JSON:
    case SL_T_XML:
    case SL_T_ENUM: sl_buf_puts(out, "\"" PLACEHOLDER "\""); return;
    case SL_T_BYTES:
        sl_buf_puts(out, o->binary_mode == SL_BIN_BYTES ? "\"" PLACEHOLDER_B64 "\""
                         : o->binary_mode == SL_BIN_HEX ? "\"" PLACEHOLDER "\"" : "null");
        return;
    case SL_T_ARRAY:
        if (dbz_has_array_oid(c, OID_TEXT_ARR, "_text") || dbz_has_array_oid(c, OID_VARCHAR_ARR, "_varchar") ||
            dbz_has_array_oid(c, OID_JSON_ARR, "_json") || dbz_has_array_oid(c, OID_JSONB_ARR, "_jsonb"))
            sl_buf_puts(out, "[\"" PLACEHOLDER "\"]");
        else if (dbz_has_array_oid(c, OID_BYTEA_ARR, "_bytea"))
            sl_buf_puts(out, o->binary_mode == SL_BIN_HEX ? "[\"" PLACEHOLDER_HEX "\"]" : "[\"" PLACEHOLDER_B64 "\"]");
        else if (dbz_has_array_oid(c, OID_INT4_ARR, "_int4") || dbz_has_array_oid(c, OID_INT8_ARR, "_int8") ||
                 dbz_has_array_oid(c, OID_DATE_ARR, "_date"))
            sl_buf_puts(out, PLACEHOLDER_INTS);
        else if (dbz_has_array_oid(c, OID_UUID_ARR, "_uuid")) sl_buf_puts(out, "[\"" PLACEHOLDER_UUID "\"]");
        else sl_buf_puts(out, "null");
        return;
    default: sl_buf_puts(out, "null"); return;
    }
}
