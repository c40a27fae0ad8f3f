#include "format/sql_row.h"
#include "util/civil.h"
#include "util/codec.h"
#include "util/jnum.h"
#include "util/mem.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- compiling a field schema ---- */

static const struct {
    const char *name;
    sl_sqlk kind;
} logical[] = {
    {"org.apache.kafka.connect.data.Decimal", SL_SQLK_DECIMAL},
    {"org.apache.kafka.connect.data.Date", SL_SQLK_DATE},
    {"org.apache.kafka.connect.data.Time", SL_SQLK_TIME_MS},
    {"org.apache.kafka.connect.data.Timestamp", SL_SQLK_TS_MS},
    {"io.debezium.data.VariableScaleDecimal", SL_SQLK_VSDECIMAL},
    {"io.debezium.time.Date", SL_SQLK_DATE},
    {"io.debezium.time.Time", SL_SQLK_TIME_MS},
    {"io.debezium.time.MicroTime", SL_SQLK_TIME_US},
    {"io.debezium.time.NanoTime", SL_SQLK_TIME_NS},
    {"io.debezium.time.Timestamp", SL_SQLK_TS_MS},
    {"io.debezium.time.MicroTimestamp", SL_SQLK_TS_US},
    {"io.debezium.time.NanoTimestamp", SL_SQLK_TS_NS},
    {"io.debezium.time.ZonedTimestamp", SL_SQLK_ZTS},
    {"io.debezium.time.ZonedTime", SL_SQLK_ZTIME},
    {"io.debezium.time.MicroDuration", SL_SQLK_DURATION},
    {"io.debezium.time.Year", SL_SQLK_YEAR},
    {"io.debezium.data.Json", SL_SQLK_JSON},
    {"io.debezium.data.Uuid", SL_SQLK_UUID},
    {"io.debezium.data.Xml", SL_SQLK_XML},
    {"io.debezium.data.Enum", SL_SQLK_ENUM},
    {"io.debezium.data.EnumSet", SL_SQLK_SET},
    {"io.debezium.data.Bits", SL_SQLK_BITS},
    {"io.debezium.data.geometry.Geometry", SL_SQLK_GEOMETRY},
    {"io.debezium.data.geometry.Geography", SL_SQLK_GEOMETRY},
    {"io.debezium.data.geometry.Point", SL_SQLK_POINT},
};

static const struct {
    const char *type;
    sl_sqlk kind;
} plain[] = {
    {"boolean", SL_SQLK_BOOL}, {"int8", SL_SQLK_INT8},       {"int16", SL_SQLK_INT16},  {"int32", SL_SQLK_INT32},
    {"int64", SL_SQLK_INT64},  {"float", SL_SQLK_FLOAT32},   {"float32", SL_SQLK_FLOAT32},
    {"double", SL_SQLK_FLOAT64}, {"float64", SL_SQLK_FLOAT64}, {"string", SL_SQLK_STRING},
    {"bytes", SL_SQLK_BYTES},  {"array", SL_SQLK_ARRAY},     {"map", SL_SQLK_MAP},      {"struct", SL_SQLK_STRUCT},
};

static const char *str_of(sl_vheap *h, sl_val *o, const char *k) { return sl_v_strval(h, sl_v_get(h, o, k), NULL); }

static int int_param(sl_vheap *h, sl_val *params, const char *k) {
    const char *s = str_of(h, params, k);
    if (!s) return -1;
    char *end;
    long v = strtol(s, &end, 10);
    return *end || v < -100000 || v > 100000000 ? -1 : (int)v;
}

int sl_sqlcol_compile(sl_vheap *h, sl_val *schema, sl_sqlcol *c, char *err, size_t errsz) {
    memset(c, 0, sizeof *c);
    c->precision = c->scale = c->length = -1;
    const char *field = str_of(h, schema, "field");
    c->name = sl_strdup(field ? field : "");
    const char *type = str_of(h, schema, "type"), *name = str_of(h, schema, "name");
    sl_val *opt = sl_v_get(h, schema, "optional");
    c->optional = opt && sl_v_kind(h, opt) == SL_V_BOOL && opt->b;
    bool found = false;
    for (size_t i = 0; name && !found && i < sizeof logical / sizeof *logical; i++)
        if (strcmp(name, logical[i].name) == 0) c->kind = logical[i].kind, found = true;
    for (size_t i = 0; type && !found && i < sizeof plain / sizeof *plain; i++)
        if (strcmp(type, plain[i].type) == 0) c->kind = plain[i].kind, found = true;
    if (!found) {
        snprintf(err, errsz, "field '%s': Connect type '%s'%s%s%s has no SQL column type", c->name,
                 type ? type : "(none)", name ? " (" : "", name ? name : "", name ? ")" : "");
        sl_sqlcol_free(c);
        return -1;
    }
    sl_val *params = sl_v_get(h, schema, "parameters");
    if (params) {
        c->scale = int_param(h, params, "scale");
        c->precision = int_param(h, params, "connect.decimal.precision");
        c->length = int_param(h, params, "length");
        const char *allowed = str_of(h, params, "allowed");
        if (allowed) c->allowed = sl_strdup(allowed);
        const char *st = str_of(h, params, "__debezium.source.column.type");
        if (st) c->src_type = sl_strdup(st);
        if (c->length < 0) c->length = int_param(h, params, "__debezium.source.column.length");
    }
    if (c->kind == SL_SQLK_ARRAY) {
        sl_val *items = sl_v_get(h, schema, "items");
        c->elem = sl_malloc(sizeof *c->elem);
        if (!items || sl_sqlcol_compile(h, items, c->elem, err, errsz) < 0) {
            if (!items) snprintf(err, errsz, "field '%s': an array schema without items", c->name);
            sl_free(c->elem); /* the element freed what it had */
            c->elem = NULL;
            sl_sqlcol_free(c);
            return -1;
        }
    }
    return 0;
}

void sl_sqlcol_free(sl_sqlcol *c) {
    if (!c) return;
    sl_free(c->name);
    sl_free(c->allowed);
    sl_free(c->src_type);
    if (c->elem) {
        sl_sqlcol_free(c->elem);
        sl_free(c->elem);
    }
    memset(c, 0, sizeof *c);
}

static bool str_eq(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

bool sl_sqlcol_same(const sl_sqlcol *a, const sl_sqlcol *b) {
    if (!str_eq(a->name, b->name) || a->kind != b->kind || a->optional != b->optional ||
        a->precision != b->precision || a->scale != b->scale || a->length != b->length ||
        !str_eq(a->allowed, b->allowed) || !str_eq(a->src_type, b->src_type) || !a->elem != !b->elem ||
        a->duration != b->duration)
        return false;
    return !a->elem || sl_sqlcol_same(a->elem, b->elem);
}

/* ---- values ---- */

#define PLACEHOLDER_B64 "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="
#define PLACEHOLDER_HEX "5f5f646562657a69756d5f756e617661696c61626c655f76616c7565"
#define PLACEHOLDER_UUID "b68a35a7-17ad-35b3-af2a-ae46edb4545a"

static bool is_placeholder_str(sl_vheap *h, sl_val *v) {
    size_t n;
    const char *s = sl_v_strval(h, v, &n);
    return s && ((n == sizeof SL_SQL_UNAVAILABLE - 1 && !memcmp(s, SL_SQL_UNAVAILABLE, n)) ||
                 (n == sizeof PLACEHOLDER_B64 - 1 && !memcmp(s, PLACEHOLDER_B64, n)) ||
                 (n == sizeof PLACEHOLDER_HEX - 1 && !memcmp(s, PLACEHOLDER_HEX, n)) ||
                 (n == sizeof PLACEHOLDER_UUID - 1 && !memcmp(s, PLACEHOLDER_UUID, n)));
}

/* Debezium's placeholders for a value it did not get: the text (or its base64 bytes) for string-like and
 * bytes columns; for arrays a one-element list of it, or its bytes as a list of integers. */
static bool is_placeholder(const sl_sqlcol *c, sl_vheap *h, sl_val *v) {
    sl_vkind k = sl_v_kind(h, v);
    if (k == SL_V_STR) return c->kind != SL_SQLK_DECIMAL && is_placeholder_str(h, v);
    if (k != SL_V_ARR || c->kind != SL_SQLK_ARRAY) return false;
    if (v->n == 1) return sl_v_kind(h, sl_v_at(h, v, 0)) == SL_V_STR && is_placeholder_str(h, sl_v_at(h, v, 0));
    static const char ph[] = SL_SQL_UNAVAILABLE;
    if (v->n != sizeof ph - 1) return false;
    for (uint32_t i = 0; i < v->n; i++) {
        sl_val *e = sl_v_at(h, v, i);
        if (sl_v_kind(h, e) != SL_V_INT || e->i != (unsigned char)ph[i]) return false;
    }
    return true;
}

/* Characters written as a backslash and a letter: from[i] becomes '\\' to[i]. */
typedef struct escapes {
    const char *from, *to;
    size_t n;
} escapes;

/* PostgreSQL COPY text. */
static const escapes copy_escapes = {"\\\n\r\t", "\\nrt", 4};
/* A MariaDB/MySQL string literal (backslash escapes: the session's sql_mode keeps them). */
static const escapes my_escapes = {"\0\\'\n\r\x1a", "0\\'nrZ", 6};

static void put_escaped(sl_buf *out, const char *s, size_t n, const escapes *e) {
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        const char *hit = memchr(e->from, s[i], e->n);
        if (!hit) continue;
        sl_buf_put(out, s + from, i - from);
        sl_buf_putc(out, '\\');
        sl_buf_putc(out, e->to[hit - e->from]);
        from = i + 1;
    }
    sl_buf_put(out, s + from, n - from);
}

static void put_copy_escaped(sl_buf *out, const char *s, size_t n) { put_escaped(out, s, n, &copy_escapes); }

static void put_my_quoted(sl_buf *out, const char *s, size_t n) {
    sl_buf_putc(out, '\'');
    put_escaped(out, s, n, &my_escapes);
    sl_buf_putc(out, '\'');
}

static int bad(const sl_sqlcol *c, char *err, size_t errsz, const char *what) {
    snprintf(err, errsz, "column '%s': %s", c->name, what);
    return -1;
}

/* The bytes of a base64 payload (BYTES, Decimal, Bits, wkb) into *tmp (grown), or false. */
static bool b64_of(sl_vheap *h, sl_val *v, sl_buf *tmp, size_t *n) {
    size_t tn;
    const char *t = sl_v_strval(h, v, &tn);
    if (!t) return false;
    sl_buf_reset(tmp);
    sl_buf_reserve(tmp, SL_B64_DECODED_MAX(tn));
    return sl_b64_decode(t, tn, (uint8_t *)tmp->data, n);
}

static void put_hex(sl_buf *out, const uint8_t *b, size_t n) {
    static const char hx[] = "0123456789abcdef";
    sl_buf_reserve(out, 2 * n);
    for (size_t i = 0; i < n; i++) {
        out->data[out->len++] = hx[b[i] >> 4];
        out->data[out->len++] = hx[b[i] & 15];
    }
}

/* A date in PostgreSQL's or ISO form (PostgreSQL writes years before 1 as "YYYY-MM-DD BC"). */
static void put_date(sl_buf *t, sl_sql_dialect d, int64_t days, bool *bc) {
    int64_t y;
    int m, dd;
    sl_civil_from_days(days, &y, &m, &dd);
    *bc = d == SL_SQL_PG && y <= 0;
    sl_buf_printf(t, "%04" PRId64 "-%02d-%02d", *bc ? 1 - y : y, m, dd);
}

/* A timestamp of `units` per second since the epoch: "YYYY-MM-DD HH:MM:SS.ffffff" (µs; ns are rounded down). */
static void put_ts(sl_buf *t, sl_sql_dialect d, int64_t v, int64_t per_s) {
    int64_t per_day = per_s * 86400;
    int64_t days = sl_floor_div(v, per_day), rem = v - days * per_day;
    bool bc;
    put_date(t, d, days, &bc);
    sl_buf_putc(t, ' ');
    sl_put_iso_time(t, rem * (1000000000 / per_s), per_s == 1000 ? 3 : 6);
    if (bc) sl_buf_puts(t, " BC");
}

/* A time of day (MySQL's TIME may be negative or past 24 h: [-]H+:MM:SS.ffffff). */
static void put_time(sl_buf *t, int64_t v, int64_t per_s) {
    bool neg = v < 0;
    uint64_t a = neg ? 0 - (uint64_t)v : (uint64_t)v;
    uint64_t secs = a / (uint64_t)per_s, frac = a % (uint64_t)per_s;
    if (per_s == 1000000000) frac /= 1000, per_s = 1000000;
    sl_buf_printf(t, "%s%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%0*" PRIu64, neg ? "-" : "", secs / 3600,
                  secs / 60 % 60, secs % 60, per_s == 1000 ? 3 : 6, frac);
}

/*
 * PostgreSQL's infinite dates and timestamps as Debezium sends them: a timestamp as pgjdbc's
 * DATE_POSITIVE/NEGATIVE_INFINITY in µs (or ms); a streamed date as LocalDate -5877611-06-21 / -22, a
 * snapshot's as the int cast of pgjdbc's dates' epoch days. 1: +infinity, -1: -infinity, 0: a date.
 * PostgreSQL takes 'infinity'; MariaDB/MySQL have none, and get their types' last and first days.
 */
#define PINF_US 9223372036825200000LL
#define NINF_US (-9223372036832400000LL)
int sl_sql_infinite_ts(int64_t v, int64_t per_s) {
    if (per_s == 1000) return v == sl_floor_div(PINF_US, 1000) ? 1 : v == sl_floor_div(NINF_US, 1000) ? -1 : 0;
    return v == PINF_US ? 1 : v == NINF_US ? -1 : 0;
}

int sl_sql_infinite_date(int64_t days) {
    if (days == sl_days_from_civil(-5877611, 6, 21) || days == (int32_t)(uint32_t)(uint64_t)106751991166LL) return 1;
    if (days == sl_days_from_civil(-5877611, 6, 22) || days == (int32_t)(uint32_t)(uint64_t)106748361128LL) return -1;
    return 0;
}

static void put_infinite(sl_buf *t, sl_sql_dialect d, int inf, bool date) {
    if (d == SL_SQL_PG) sl_buf_puts(t, inf > 0 ? "infinity" : "-infinity");
    else if (date) sl_buf_puts(t, inf > 0 ? "9999-12-31" : "0001-01-01");
    else sl_buf_puts(t, inf > 0 ? "9999-12-31 23:59:59.999999" : "0001-01-01 00:00:00");
}

/* The value's text (what put_text then quotes) for the kinds that have one; 0, or -1 with err. *quote: the
 * text is a string literal for MariaDB (else a bare number or a bare SQL expression). */
static int text_of(const sl_sqlcol *c, sl_sql_dialect d, sl_vheap *h, sl_val *v, sl_buf *t, sl_buf *tmp,
                   bool *quote, char *err, size_t errsz);

/* A PostgreSQL array literal of v's elements. */
static int put_pg_array(const sl_sqlcol *c, sl_vheap *h, sl_val *v, sl_buf *t, sl_buf *tmp, char *err,
                        size_t errsz) {
    sl_buf et;
    sl_buf_init(&et);
    sl_buf_putc(t, '{');
    int rc = 0;
    for (uint32_t i = 0; i < v->n && rc == 0; i++) {
        sl_val *e = sl_v_at(h, v, i);
        if (i) sl_buf_putc(t, ',');
        if (sl_v_is_null(h, e)) {
            sl_buf_puts(t, "NULL");
            continue;
        }
        bool q;
        sl_buf_reset(&et);
        if ((rc = text_of(c->elem, SL_SQL_PG, h, e, &et, tmp, &q, err, errsz)) < 0) break;
        sl_buf_putc(t, '"');
        for (size_t k = 0; k < et.len; k++) {
            if (et.data[k] == '"' || et.data[k] == '\\') sl_buf_putc(t, '\\');
            sl_buf_putc(t, et.data[k]);
        }
        sl_buf_putc(t, '"');
    }
    sl_buf_putc(t, '}');
    sl_buf_free(&et);
    return rc;
}

static bool int_of(sl_vheap *h, sl_val *v, int64_t *out) {
    sl_vkind k = sl_v_kind(h, v);
    if (k == SL_V_INT) return *out = v->i, true;
    if (k == SL_V_REAL && v->d == floor(v->d) && fabs(v->d) < 9.2e18) return *out = (int64_t)v->d, true;
    return false;
}

static int text_of(const sl_sqlcol *c, sl_sql_dialect d, sl_vheap *h, sl_val *v, sl_buf *t, sl_buf *tmp,
                   bool *quote, char *err, size_t errsz) {
    sl_vkind k = sl_v_kind(h, v);
    int64_t i;
    size_t n;
    *quote = false;
    switch (c->kind) {
    case SL_SQLK_BOOL:
        if (k != SL_V_BOOL) return bad(c, err, errsz, "not a boolean");
        sl_buf_puts(t, d == SL_SQL_PG ? (v->b ? "t" : "f") : (v->b ? "1" : "0"));
        return 0;
    case SL_SQLK_INT8:
    case SL_SQLK_INT16:
    case SL_SQLK_INT32:
    case SL_SQLK_INT64:
    case SL_SQLK_YEAR:
        if (!int_of(h, v, &i)) return bad(c, err, errsz, "not an integer");
        sl_buf_put_i64(t, i);
        return 0;
    case SL_SQLK_FLOAT32:
    case SL_SQLK_FLOAT64:
        if (k == SL_V_INT) {
            sl_buf_put_i64(t, v->i);
        } else if (k == SL_V_REAL) {
            if (c->kind == SL_SQLK_FLOAT32) sl_jnum_put_float(t, (float)v->d);
            else sl_jnum_put_double(t, v->d);
        } else if (k == SL_V_STR && (!strcmp(v->s, "NaN") || !strcmp(v->s, "Infinity") || !strcmp(v->s, "-Infinity"))) {
            if (d == SL_SQL_MY) return bad(c, err, errsz, "MariaDB/MySQL cannot store NaN or infinity");
            sl_buf_puts(t, v->s);
        } else {
            return bad(c, err, errsz, "not a number");
        }
        return 0;
    case SL_SQLK_DECIMAL:
        *quote = false;
        if (k == SL_V_STR && c->scale >= 0) {
            if (!b64_of(h, v, tmp, &n)) return bad(c, err, errsz, "a Decimal that is not base64");
            sl_put_unscaled_decimal(t, (const uint8_t *)tmp->data, n, c->scale);
            return 0;
        }
        if (k == SL_V_INT) return sl_buf_put_i64(t, v->i), 0;
        if (k == SL_V_REAL) return sl_jnum_put_double(t, v->d), 0;
        return bad(c, err, errsz, "not a Decimal");
    case SL_SQLK_VSDECIMAL: {
        int64_t scale;
        sl_val *val = sl_v_get(h, v, "value");
        if (k != SL_V_OBJ || !int_of(h, sl_v_get(h, v, "scale"), &scale) || scale < -1000 || scale > 1000 ||
            !b64_of(h, val, tmp, &n))
            return bad(c, err, errsz, "not a VariableScaleDecimal {scale, value}");
        sl_put_unscaled_decimal(t, (const uint8_t *)tmp->data, n, (int32_t)scale);
        return 0;
    }
    case SL_SQLK_DATE: {
        bool bc;
        if (!int_of(h, v, &i)) return bad(c, err, errsz, "not a date (epoch days)");
        *quote = true;
        if (sl_sql_infinite_date(i)) return put_infinite(t, d, sl_sql_infinite_date(i), true), 0;
        put_date(t, d, i, &bc);
        if (bc) sl_buf_puts(t, " BC");
        return 0;
    }
    case SL_SQLK_TIME_MS:
    case SL_SQLK_TIME_US:
    case SL_SQLK_TIME_NS:
        if (!int_of(h, v, &i)) return bad(c, err, errsz, "not a time (an integer)");
        if (c->duration && d == SL_SQL_PG) {
            sl_buf_put_i64(t, c->kind == SL_SQLK_TIME_MS ? i * 1000 : c->kind == SL_SQLK_TIME_NS ? i / 1000 : i);
            sl_buf_puts(t, " microseconds");
            *quote = true;
            return 0;
        }
        put_time(t, i, c->kind == SL_SQLK_TIME_MS ? 1000 : c->kind == SL_SQLK_TIME_US ? 1000000 : 1000000000);
        *quote = true;
        return 0;
    case SL_SQLK_TS_MS:
    case SL_SQLK_TS_US:
    case SL_SQLK_TS_NS:
        if (!int_of(h, v, &i)) return bad(c, err, errsz, "not a timestamp (an integer)");
        *quote = true;
        if (c->kind != SL_SQLK_TS_NS && sl_sql_infinite_ts(i, c->kind == SL_SQLK_TS_MS ? 1000 : 1000000))
            return put_infinite(t, d, sl_sql_infinite_ts(i, c->kind == SL_SQLK_TS_MS ? 1000 : 1000000), false), 0;
        if (c->kind == SL_SQLK_TS_NS) i = sl_floor_div(i, 1000);
        put_ts(t, d, i, c->kind == SL_SQLK_TS_MS ? 1000 : 1000000);
        return 0;
    case SL_SQLK_ZTS:
    case SL_SQLK_ZTIME: {
        const char *s = sl_v_strval(h, v, &n);
        if (!s) return bad(c, err, errsz, "not a string (ISO-8601)");
        *quote = true;
        if (d == SL_SQL_PG) return sl_buf_put(t, s, n), 0;
        if (c->kind == SL_SQLK_ZTS && (!strcmp(s, "infinity") || !strcmp(s, "-infinity")))
            return put_infinite(t, d, s[0] == '-' ? -1 : 1, false), 0;
        /* MariaDB/MySQL have no zone in their values: the UTC time Debezium writes ("...Z"), without the Z */
        if (n < 2 || s[n - 1] != 'Z') return bad(c, err, errsz, "a zoned time that is not in UTC ('Z')");
        for (size_t j = 0; j + 1 < n; j++) sl_buf_putc(t, s[j] == 'T' ? ' ' : s[j]);
        return 0;
    }
    case SL_SQLK_DURATION:
        if (!int_of(h, v, &i)) return bad(c, err, errsz, "not a duration (µs)");
        sl_buf_put_i64(t, i);
        if (d == SL_SQL_PG) sl_buf_puts(t, " microseconds");
        *quote = d == SL_SQL_PG;
        return 0;
    case SL_SQLK_STRING:
    case SL_SQLK_JSON:
    case SL_SQLK_UUID:
    case SL_SQLK_XML:
    case SL_SQLK_ENUM:
    case SL_SQLK_SET: {
        const char *s = sl_v_strval(h, v, &n);
        *quote = true;
        if (s) return sl_buf_put(t, s, n), 0;
        if (k == SL_V_OBJ || k == SL_V_ARR) return sl_v_put_json(t, v), 0; /* a document in a string column */
        return bad(c, err, errsz, "not a string");
    }
    case SL_SQLK_BYTES:
        if (!b64_of(h, v, tmp, &n)) return bad(c, err, errsz, "bytes that are not base64");
        if (d == SL_SQL_PG) {
            sl_buf_puts(t, "\\x");
            put_hex(t, (const uint8_t *)tmp->data, n);
            *quote = true;
        } else {
            sl_buf_puts(t, "X'");
            put_hex(t, (const uint8_t *)tmp->data, n);
            sl_buf_putc(t, '\'');
        }
        return 0;
    case SL_SQLK_BITS: {
        if (!b64_of(h, v, tmp, &n)) return bad(c, err, errsz, "Bits that are not base64");
        /* java.util.BitSet.toByteArray: bit k is bit k%8 of byte k/8; the text starts with the highest bit */
        const uint8_t *b = (const uint8_t *)tmp->data;
        int64_t nbits = c->length > 0 ? c->length : (int64_t)n * 8;
        if (c->length <= 0) /* a length the schema does not give (varbit): the significant bits, at least one */
            while (nbits > 1 && !((size_t)((nbits - 1) / 8) < n && (b[(nbits - 1) / 8] >> ((nbits - 1) % 8)) & 1)) nbits--;
        if (d == SL_SQL_MY) sl_buf_puts(t, "b'");
        for (int64_t j = nbits; j-- > 0;)
            sl_buf_putc(t, (size_t)(j / 8) < n && (b[j / 8] >> (j % 8)) & 1 ? '1' : '0');
        if (d == SL_SQL_MY) sl_buf_putc(t, '\'');
        *quote = d == SL_SQL_PG;
        return 0;
    }
    case SL_SQLK_GEOMETRY:
    case SL_SQLK_POINT: {
        int64_t srid = 0;
        sl_val *sv = sl_v_get(h, v, "srid");
        if (k != SL_V_OBJ || (sv && !sl_v_is_null(h, sv) && !int_of(h, sv, &srid)))
            return bad(c, err, errsz, "not a geometry {wkb, srid}");
        if (c->kind == SL_SQLK_POINT && d == SL_SQL_PG) { /* the native point type */
            sl_val *x = sl_v_get(h, v, "x"), *y = sl_v_get(h, v, "y");
            sl_vkind xk = sl_v_kind(h, x), yk = sl_v_kind(h, y);
            if ((xk != SL_V_REAL && xk != SL_V_INT) || (yk != SL_V_REAL && yk != SL_V_INT))
                return bad(c, err, errsz, "not a point {x, y}");
            sl_buf_putc(t, '(');
            sl_jnum_put_double(t, xk == SL_V_INT ? (double)x->i : x->d);
            sl_buf_putc(t, ',');
            sl_jnum_put_double(t, yk == SL_V_INT ? (double)y->i : y->d);
            sl_buf_putc(t, ')');
            *quote = true;
            return 0;
        }
        if (!b64_of(h, sl_v_get(h, v, "wkb"), tmp, &n)) return bad(c, err, errsz, "a geometry without wkb");
        if (d == SL_SQL_PG) { /* bytea: the well-known binary */
            sl_buf_puts(t, "\\x");
            put_hex(t, (const uint8_t *)tmp->data, n);
            *quote = true;
        } else {
            sl_buf_puts(t, "ST_GeomFromWKB(X'");
            put_hex(t, (const uint8_t *)tmp->data, n);
            sl_buf_printf(t, "', %" PRId64 ")", srid);
        }
        return 0;
    }
    case SL_SQLK_ARRAY:
        if (k != SL_V_ARR) return bad(c, err, errsz, "not an array");
        *quote = true;
        if (d == SL_SQL_PG) return put_pg_array(c, h, v, t, tmp, err, errsz);
        sl_v_put_json(t, v);
        return 0;
    case SL_SQLK_MAP:
    case SL_SQLK_STRUCT:
        if (k != SL_V_OBJ && k != SL_V_ARR) return bad(c, err, errsz, "not a map or struct");
        sl_v_put_json(t, v);
        *quote = true;
        return 0;
    }
    return bad(c, err, errsz, "unknown kind");
}

int sl_sql_put_value(const sl_sqlcol *c, sl_sql_dialect d, sl_vheap *h, sl_val *v, sl_buf *out, char *err,
                     size_t errsz) {
    if (sl_v_is_null(h, v)) {
        sl_buf_puts(out, d == SL_SQL_PG ? "\\N" : "NULL");
        return 0;
    }
    if (is_placeholder(c, h, v)) return 1;
    sl_buf t, tmp;
    sl_buf_init(&t);
    sl_buf_init(&tmp);
    bool quote;
    int rc = text_of(c, d, h, v, &t, &tmp, &quote, err, errsz);
    if (rc == 0 && t.len && memchr(t.data, 0, t.len) && d == SL_SQL_PG)
        rc = bad(c, err, errsz, "PostgreSQL text cannot hold a NUL character");
    if (rc == 0) {
        const char *td = t.data ? t.data : ""; /* an empty text: nothing was allocated */
        if (d == SL_SQL_PG) put_copy_escaped(out, td, t.len);
        else if (quote) put_my_quoted(out, td, t.len);
        else sl_buf_put(out, td, t.len);
    }
    sl_buf_free(&t);
    sl_buf_free(&tmp);
    return rc;
}

/* ---- column types ---- */

static void put_decimal_type(sl_buf *out, const sl_sqlcol *c, sl_sql_dialect d) {
    int s = c->scale < 0 ? 0 : c->scale, p = c->precision;
    if (d == SL_SQL_PG) {
        if (p > 0 && p <= 1000 && s <= p) sl_buf_printf(out, "numeric(%d,%d)", p, s);
        else sl_buf_puts(out, "numeric");
        return;
    }
    if (s > 38) s = 38;
    if (p <= 0 || p > 65) p = 65;
    if (s > p) s = p;
    sl_buf_printf(out, "decimal(%d,%d)", p, s);
}

static bool src_is(const sl_sqlcol *c, const char *t) { return c->src_type && strcasecmp(c->src_type, t) == 0; }

void sl_sql_put_type(const sl_sqlcol *c, sl_sql_dialect d, bool key, sl_buf *out) {
    bool pg = d == SL_SQL_PG;
    switch (c->kind) {
    case SL_SQLK_BOOL: sl_buf_puts(out, "boolean"); return;
    case SL_SQLK_INT8: sl_buf_puts(out, pg ? "smallint" : "tinyint"); return;
    case SL_SQLK_INT16: sl_buf_puts(out, "smallint"); return;
    case SL_SQLK_INT32: sl_buf_puts(out, pg ? "integer" : "int"); return;
    case SL_SQLK_INT64: sl_buf_puts(out, "bigint"); return;
    case SL_SQLK_FLOAT32: sl_buf_puts(out, pg ? "real" : "float"); return;
    case SL_SQLK_FLOAT64: sl_buf_puts(out, pg ? "double precision" : "double"); return;
    case SL_SQLK_STRING:
    case SL_SQLK_XML:
        if (pg) sl_buf_puts(out, c->kind == SL_SQLK_XML ? "xml" : "text");
        else if (key || (c->length > 0 && c->length <= 16383)) sl_buf_printf(out, "varchar(%d)", c->length > 0 ? c->length : 255);
        else sl_buf_puts(out, "longtext");
        return;
    case SL_SQLK_ENUM:
    case SL_SQLK_SET:
        if (pg || !c->allowed || !*c->allowed) {
            sl_buf_puts(out, pg ? "text" : key ? "varchar(255)" : "longtext");
            return;
        }
        sl_buf_puts(out, c->kind == SL_SQLK_ENUM ? "enum(" : "set(");
        for (const char *p = c->allowed;;) {
            size_t n = strcspn(p, ",");
            put_my_quoted(out, p, n);
            if (!p[n]) break;
            sl_buf_putc(out, ',');
            p += n + 1;
        }
        sl_buf_putc(out, ')');
        return;
    case SL_SQLK_BYTES: sl_buf_puts(out, pg ? "bytea" : key ? "varbinary(255)" : "longblob"); return;
    case SL_SQLK_DECIMAL: put_decimal_type(out, c, d); return;
    case SL_SQLK_VSDECIMAL: sl_buf_puts(out, pg ? "numeric" : "decimal(65,30)"); return;
    case SL_SQLK_DATE: sl_buf_puts(out, "date"); return;
    case SL_SQLK_TIME_MS: sl_buf_puts(out, pg && c->duration ? "interval" : "time(3)"); return;
    case SL_SQLK_TIME_US:
    case SL_SQLK_TIME_NS: sl_buf_puts(out, pg && c->duration ? "interval" : "time(6)"); return;
    case SL_SQLK_TS_MS: sl_buf_puts(out, pg ? "timestamp(3)" : "datetime(3)"); return;
    case SL_SQLK_TS_US:
    case SL_SQLK_TS_NS: sl_buf_puts(out, pg ? "timestamp(6)" : "datetime(6)"); return;
    case SL_SQLK_ZTS: sl_buf_puts(out, pg ? "timestamptz" : "datetime(6)"); return;
    case SL_SQLK_ZTIME: sl_buf_puts(out, pg ? "timetz" : "time(6)"); return;
    case SL_SQLK_DURATION: sl_buf_puts(out, pg ? "interval" : "bigint"); return;
    case SL_SQLK_YEAR: sl_buf_puts(out, pg ? "integer" : "year"); return;
    case SL_SQLK_JSON: sl_buf_puts(out, pg ? (src_is(c, "JSONB") ? "jsonb" : "json") : key ? "varchar(255)" : "json"); return;
    case SL_SQLK_UUID: sl_buf_puts(out, pg ? "uuid" : "char(36)"); return;
    case SL_SQLK_BITS:
        if (c->length > 0 && c->length <= (pg ? 83886080 : 64)) sl_buf_printf(out, "bit(%d)", c->length);
        else sl_buf_puts(out, pg ? "bit varying" : "bit(64)");
        return;
    case SL_SQLK_GEOMETRY: sl_buf_puts(out, pg ? "bytea" : "geometry"); return;
    case SL_SQLK_POINT: sl_buf_puts(out, pg ? "point" : "point"); return;
    case SL_SQLK_ARRAY:
        if (!pg) {
            sl_buf_puts(out, key ? "varchar(255)" : "json"); /* MariaDB keys no JSON (a BLOB) */
            return;
        }
        sl_sql_put_type(c->elem, d, false, out);
        sl_buf_puts(out, "[]");
        return;
    case SL_SQLK_MAP:
    case SL_SQLK_STRUCT: sl_buf_puts(out, pg ? "jsonb" : key ? "varchar(255)" : "json"); return;
    }
}

void sl_sql_put_literal(sl_buf *out, sl_sql_dialect d, const char *s, size_t n) {
    if (d == SL_SQL_MY) return put_my_quoted(out, s, n);
    sl_buf_putc(out, '\'');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'') sl_buf_putc(out, '\'');
        sl_buf_putc(out, s[i]);
    }
    sl_buf_putc(out, '\'');
}

void sl_sql_put_ident(sl_buf *out, sl_sql_dialect d, const char *s) {
    char q = d == SL_SQL_PG ? '"' : '`';
    sl_buf_putc(out, q);
    for (; *s; s++) {
        if (*s == q) sl_buf_putc(out, q);
        sl_buf_putc(out, *s);
    }
    sl_buf_putc(out, q);
}
