/*
 * Debezium JSON encoder: MySQL / MariaDB value forms. Cells follow
 * source/mysql/rowimage.h's cell forms and get Debezium's binlog connector
 * mapping (BinlogValueConverters: zero dates as null, time adjuster for
 * two-digit years, MicroTime TIME, fsp-wide ZonedTimestamp, Year, Geometry/Point,
 * BIGINT UNSIGNED long/precise).
 */
#include "format/dbz_int.h"
#include "util/jnum.h"
#include <string.h>

/* ---------------------------------------------------------------------------
 * MySQL / MariaDB cells (the "Cell forms" of source/mysql/rowimage.h), as
 * Debezium's BinlogValueConverters converts what its binlog client's row
 * deserializers (RowDeserializers) make of the same binlog values.
 */

/* enable.time.adjuster (default true, BinlogValueConverters.adjustTemporal): years 0..69 → 20xx, 70..99 → 19xx. */
static int64_t my_adjust_year(int64_t y) { return y >= 0 && y <= 69 ? y + 2000 : y >= 70 && y <= 99 ? y + 1900 : y; }

/*
 * Cells the binlog client turns into a Java null: zero dates and datetimes
 * (year, month or day 0; RowDeserializers.deserializeDate/Datetime[V2]) and
 * empty JSON (convertJson). They then become null, or the converter's
 * fallback in a NOT NULL column, exactly like a NULL.
 */
bool dbz_my_null_cell(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n) {
    if (c->type == SL_T_JSON) return n == 0 && !dbz_is_mariadb(o);
    if (c->type != SL_T_DATE && c->type != SL_T_TIMESTAMP) return false;
    dbz_cur cu = {s, n, 0};
    int64_t y, m, d;
    if (!dbz_cur_num(&cu, 1, 10, &y) || !dbz_cur_ch(&cu, '-') || !dbz_cur_num(&cu, 1, 2, &m) || !dbz_cur_ch(&cu, '-') ||
        !dbz_cur_num(&cu, 1, 2, &d))
        return false;
    return y == 0 || m == 0 || d == 0;
}

/* "YYYY-MM-DD" (LocalDate.of: a real date, year not 0) → epoch day of the adjusted date. */
static bool my_parse_date(dbz_cur *c, int64_t *days) {
    int64_t y, m, d;
    if (!dbz_parse_ymd(c, &y, &m, &d) || y == 0 || d > sl_days_in_month(y, m)) return false;
    *days = sl_days_from_civil(my_adjust_year(y), m, d);
    return true;
}

bool dbz_my_date(const char *s, size_t n, sl_buf *out) {
    dbz_cur cu = {s, n, 0};
    int64_t days;
    if (!my_parse_date(&cu, &days) || !dbz_cur_end(&cu)) return false;
    sl_buf_put_i64(out, days);
    return true;
}

/* DATETIME: Timestamp (ms) for fsp <= 3 and in connect mode, else MicroTimestamp (µs). */
bool dbz_my_datetime(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n, sl_buf *out) {
    dbz_cur cu = {s, n, 0};
    int64_t days, ns;
    if (!my_parse_date(&cu, &days) || !dbz_cur_ch(&cu, ' ') || !dbz_parse_hms(&cu, &ns) || !dbz_cur_end(&cu))
        return false;
    if (ns >= US_PER_DAY * 1000) return false; /* LocalDateTime.of: hour 0..23 */
    int64_t us = days * US_PER_DAY + ns / 1000;
    bool ms = o->time_mode == SL_TIME_CONNECT || dbz_my_fsp(c) <= 3;
    sl_buf_put_i64(out, ms ? sl_floor_div(us, 1000) : us);
    return true;
}

/*
 * TIMESTAMP → ZonedTimestamp in UTC. ZonedTimestamp.toIsoString(ZonedDateTime,
 * column.length()): exactly fsp fraction digits for TIMESTAMP(1..6),
 * ISO_OFFSET_DATE_TIME (no fraction, as the value has none) for TIMESTAMP(0).
 * The zero timestamp is epoch second 0 in the binlog: 1970-01-01T00:00:00Z.
 */
bool dbz_my_timestamptz(const sl_column *c, const char *s, size_t n, sl_buf *out) {
    int64_t us = 0;
    if (!(n >= 10 && memcmp(s, "0000-00-00", 10) == 0)) {
        int kind;
        if (!dbz_parse_timestamp(s, n, true, false, &kind, &us) || kind != TS_FINITE) return false;
    }
    int64_t days = sl_floor_div(us, US_PER_DAY);
    sl_buf_putc(out, '"');
    sl_put_iso_date(out, days);
    sl_buf_putc(out, 'T');
    sl_put_iso_time(out, (us - days * US_PER_DAY) * 1000, dbz_my_fsp(c));
    sl_buf_puts(out, "Z\"");
    return true;
}

/*
 * TIME "[-]HHH:MM:SS[.ffffff]" (a java.time.Duration in Debezium): MicroTime
 * µs, negative and beyond 24h included; connect mode: Time ms, where
 * Time.toMilliOfDay rejects negative and > 24:00:00 values (Debezium then
 * writes no value: null).
 */
bool dbz_my_time(const sl_dbz_opts *o, const char *s, size_t n, sl_buf *out) {
    dbz_cur cu = {s, n, 0};
    bool neg = dbz_cur_ch(&cu, '-');
    int64_t ns;
    if (!dbz_parse_hms(&cu, &ns) || !dbz_cur_end(&cu)) return false;
    int64_t us = ns / 1000;
    if (o->time_mode != SL_TIME_CONNECT) {
        sl_buf_put_i64(out, neg ? -us : us);
        return true;
    }
    if ((neg && us != 0) || us > US_PER_DAY) return false;
    sl_buf_put_i64(out, us / 1000);
    return true;
}

/* YEAR: the binlog client reads Year.of(1900 + byte), so the zero year (byte 0) is 1900; then the adjuster. */
bool dbz_my_year(const char *s, size_t n, sl_buf *out) {
    int64_t y;
    if (!dbz_parse_i64(s, n, 0, 9999, &y)) return false;
    sl_buf_put_i64(out, y == 0 ? 1900 : my_adjust_year(y));
    return true;
}

/*
 * BIGINT UNSIGNED: "long" mode converts the binlog client's signed Long, so
 * values above 2^63-1 wrap to negative; "precise" mode is a Decimal with
 * scale 0 (BigInteger.toByteArray of the unsigned value).
 */
bool dbz_my_ubigint(const sl_dbz_opts *o, bool bigint, const char *s, size_t n, sl_buf *out) {
    uint64_t v = 0;
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        if (!dbz_is_digit(s[i])) return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    if (bigint && o->bigint_unsigned_precise) dbz_put_unscaled_b64(out, false, s, n, NULL, 0, 0);
    else sl_buf_put_i64(out, (int64_t)v);
    return true;
}

/* Raw binary string bytes in the binary.handling.mode; BINARY(n) right-padded with 0x00 to n (DBZ-254). */
void dbz_my_raw(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n, sl_buf *out) {
    bsink bs;
    dbz_bs_begin(&bs, out, dbz_bin_mode(o));
    for (size_t i = 0; i < n; i++) dbz_bs_byte(&bs, (uint8_t)s[i]);
    if (c->length > 0 && dbz_type_is(c, "binary"))
        for (size_t i = n; i < (size_t)c->length; i++) dbz_bs_byte(&bs, 0);
    dbz_bs_end(&bs);
}

static uint32_t rd_u32(const uint8_t *p, bool le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

static double rd_double(const uint8_t *p, bool le) {
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u |= (uint64_t)p[le ? i : 7 - i] << (8 * i);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/*
 * Spatial value: 4-byte little-endian SRID, then WKB (BinlogGeometry.fromBytes;
 * SRID 0 is null). wkb is a Connect BYTES field: base64 whatever the
 * binary.handling.mode. POINT columns also carry x and y parsed from a
 * 21-byte 2D point WKB (anything else fails the conversion in Debezium).
 */
bool dbz_my_geometry(const sl_column *c, const char *s, size_t n, sl_buf *out) {
    if (n < 4) return false;
    const uint8_t *p = (const uint8_t *)s, *wkb = p + 4;
    size_t wn = n - 4;
    int32_t srid = (int32_t)rd_u32(p, true);
    if (dbz_is_my_point(c)) {
        bool le = wn == 21 && wkb[0] != 0;
        if (wn != 21 || rd_u32(wkb + 1, le) != 1) return false;
        sl_buf_puts(out, "{\"x\":");
        sl_jnum_put_json(out, rd_double(wkb + 5, le), false);
        sl_buf_puts(out, ",\"y\":");
        sl_jnum_put_json(out, rd_double(wkb + 13, le), false);
        sl_buf_puts(out, ",\"wkb\":");
    } else {
        sl_buf_puts(out, "{\"wkb\":");
    }
    bsink bs;
    dbz_bs_begin(&bs, out, BS_B64);
    for (size_t i = 0; i < wn; i++) dbz_bs_byte(&bs, wkb[i]);
    dbz_bs_end(&bs);
    sl_buf_puts(out, ",\"srid\":");
    if (srid) sl_buf_put_i64(out, srid);
    else sl_buf_puts(out, "null");
    sl_buf_putc(out, '}');
    return true;
}
