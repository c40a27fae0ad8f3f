/*
 * Debezium PostgreSQL change events, byte for byte as Kafka Connect's
 * JsonConverter serializes them (Debezium 3.6 PostgreSQL, 3.5 MariaDB; Kafka
 * Connect 4.3).
 *
 * How it works: cells hold PostgreSQL's text output; each value is parsed
 * once and written straight into the output buffer in the JSON form of the
 * Connect value Debezium would produce for the configured
 * decimal/time/binary handling modes. Schemas are written in
 * JsonConverter.asJsonSchema's key order (type, items|fields, optional,
 * name, version, doc, parameters, default, then "field" last) and the
 * per-table key and envelope schemas are cached on the sl_table.
 *
 * Debezium behaviours reproduced on purpose (see the notes at each site):
 * a NULL in a NOT NULL column (delete with REPLICA IDENTITY DEFAULT) gets
 * the converter's fallback value (0, "", false, ...); unchanged TOAST values
 * get the "__debezium_unavailable_value" placeholder for the types Debezium
 * has a placeholder for and null otherwise; array types Debezium has no
 * schema for are left out of the row; Java's Double.toString/Float.toString
 * formatting for floating point values.
 *
 * MySQL / MariaDB (sl_dbz_opts.connector other than "postgresql"): cells
 * follow source/mysql/rowimage.h's cell forms and get Debezium's binlog
 * connector mapping (BinlogValueConverters: zero dates as null, time
 * adjuster for two-digit years, MicroTime TIME, fsp-wide ZonedTimestamp,
 * padded little-endian BIT, Year, EnumSet, Geometry/Point, BIGINT UNSIGNED
 * long/precise), the io.debezium.connector.{mysql,mariadb}.Source block and
 * <prefix>.<db>.<table> names.
 *
 * Hot path: no allocation except for values larger than the stack scratch
 * buffers (numeric with more than ~1200 digits, array elements with
 * escapes longer than 256 bytes, float text longer than 512 bytes).
 */
#include "format/dbz_json.h"
#include "util/jhash.h"
#include "util/jnum.h"
#include "util/mem.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PLACEHOLDER "__debezium_unavailable_value"
#define PLACEHOLDER_B64 "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="
#define PLACEHOLDER_HEX "5f5f646562657a69756d5f756e617661696c61626c655f76616c7565"
/* UUID.nameUUIDFromBytes(PLACEHOLDER) */
#define PLACEHOLDER_UUID "b68a35a7-17ad-35b3-af2a-ae46edb4545a"
/* the placeholder's bytes as Integer/Long list (Debezium's int[]/bigint[]/date[] placeholder) */
#define PLACEHOLDER_INTS \
    "[95,95,100,101,98,101,122,105,117,109,95,117,110,97,118,97,105,108,97,98,108,101,95,118,97,108,117,101]"

/* PostgreSQL array type OIDs whose placeholder or schema Debezium special-cases. */
enum {
    OID_BYTEA_ARR = 1001, OID_NAME_ARR = 1003, OID_INT8_ARR = 1016, OID_INT4_ARR = 1007,
    OID_TEXT_ARR = 1009, OID_VARCHAR_ARR = 1015, OID_JSON_ARR = 199, OID_JSONB_ARR = 3807,
    OID_DATE_ARR = 1182, OID_UUID_ARR = 2951, OID_VARBIT = 1562,
};

static const int64_t US_PER_DAY = 86400000000LL;

/* ---------------------------------------------------------------------------
 * Small writers
 */

static void put_str(sl_buf *b, const char *s) { sl_buf_put_json_str(b, s ? s : "", s ? strlen(s) : 0); }

static void put_bool(sl_buf *b, bool v) { sl_buf_puts(b, v ? "true" : "false"); }

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* v (>= 0) as exactly `width` digits, zero padded (hot path: no printf). */
static void put_digits(sl_buf *b, uint64_t v, int width) {
    char tmp[24];
    for (int i = width - 1; i >= 0; i--) tmp[i] = (char)('0' + v % 10), v /= 10;
    sl_buf_put(b, tmp, (size_t)width);
}

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/*
 * Binary writer: bytes go through a stack chunk (a multiple of 3 so that
 * chunk-wise base64 equals whole-value base64) into base64, URL-safe base64
 * (java.util.Base64.getUrlEncoder(): padded) or lowercase hex.
 */
typedef enum { BS_B64, BS_B64URL, BS_HEX } bs_mode;
typedef struct bsink {
    sl_buf *out;
    bs_mode mode;
    size_t n;
    uint8_t buf[768];
} bsink;

static void bs_flush(bsink *s) {
    if (s->mode == BS_HEX) {
        static const char hx[] = "0123456789abcdef";
        sl_buf_reserve(s->out, s->n * 2);
        for (size_t i = 0; i < s->n; i++) {
            s->out->data[s->out->len++] = hx[s->buf[i] >> 4];
            s->out->data[s->out->len++] = hx[s->buf[i] & 15];
        }
    } else {
        sl_buf_reserve(s->out, (s->n + 2) / 3 * 4); /* may spill: only after it is len where base64 starts */
        size_t from = s->out->len;
        sl_buf_put_base64(s->out, s->buf, s->n);
        if (s->mode == BS_B64URL)
            for (size_t i = from; i < s->out->len; i++) {
                if (s->out->data[i] == '+') s->out->data[i] = '-';
                else if (s->out->data[i] == '/') s->out->data[i] = '_';
            }
    }
    s->n = 0;
}

static void bs_begin(bsink *s, sl_buf *out, bs_mode mode) {
    s->out = out, s->mode = mode, s->n = 0;
    sl_buf_putc(out, '"');
}
static void bs_byte(bsink *s, uint8_t v) {
    s->buf[s->n++] = v;
    if (s->n == sizeof s->buf) bs_flush(s);
}
static void bs_end(bsink *s) {
    bs_flush(s);
    sl_buf_putc(s->out, '"');
}

static bs_mode bin_mode(const sl_dbz_opts *o) {
    return o->binary_mode == SL_BIN_HEX ? BS_HEX : o->binary_mode == SL_BIN_BASE64_URL ? BS_B64URL : BS_B64;
}

/* ---------------------------------------------------------------------------
 * Column classification
 */

static bool is_variable_numeric(const sl_column *c) { return c->precision <= 0 || c->scale < 0; }

/* MySQL / MariaDB (binlog) connectors: every connector that is not "postgresql". */
static bool is_binlog(const sl_dbz_opts *o) { return o->connector && strcmp(o->connector, "postgresql") != 0; }

/* MySQL fractional-second digits (the binlog fsp): Debezium's column length, -1/0 when none. */
static int my_fsp(const sl_column *c) { return c->scale > 0 ? c->scale : 0; }

/* type_name is `name` ignoring case, maybe followed by "(..." or " ..." ("bigint(20) unsigned"). */
static bool type_is(const sl_column *c, const char *name) {
    size_t n = strlen(name);
    return c->type_name && strncasecmp(c->type_name, name, n) == 0 &&
           (c->type_name[n] == 0 || c->type_name[n] == '(' || c->type_name[n] == ' ');
}

enum { MYSQL_TYPE_LONGLONG = 8 };

/*
 * BIGINT UNSIGNED, the type bigint.unsigned.handling.mode applies to (INT
 * UNSIGNED also maps to int64 but always stays a plain int64).
 */
static bool is_my_ubigint(const sl_dbz_opts *o, const sl_column *c) {
    if (c->type != SL_T_INT64 || !c->is_unsigned || !is_binlog(o)) return false;
    return c->type_name ? type_is(c, "bigint") || type_is(c, "int8") : c->src_type == MYSQL_TYPE_LONGLONG;
}

/* POINT columns (MySQL POINT, PostgreSQL point) get io.debezium.data.geometry.Point, every other spatial type Geometry. */
static bool is_my_point(const sl_column *c) {
    return (c->type == SL_T_GEOMETRY && type_is(c, "point")) ||
           (c->elem == SL_T_GEOMETRY && c->type_name && strcmp(c->type_name, "_point") == 0); /* point[] */
}

/* MariaDB's JSON is LONGTEXT with a json_valid() check: Debezium's MariaDB connector sees a plain string. */
static bool is_mariadb(const sl_dbz_opts *o) { return o->connector && strcmp(o->connector, "mariadb") == 0; }

/*
 * PostgreSQL extension / text-search types that Debezium names (others of
 * SL_T_STRING are plain strings): a column of the type, or of an array of it
 * (type name "_hstore"; hstore[] and ltree[] only, as Debezium has them).
 */
typedef enum { PGX_NONE, PGX_HSTORE, PGX_LTREE, PGX_TSVECTOR } pg_ext;
static pg_ext pg_ext_type(const sl_dbz_opts *o, const sl_column *c) {
    const char *n = c->type_name;
    if (!n || is_binlog(o) || !(c->type == SL_T_STRING || (c->type == SL_T_ARRAY && c->elem == SL_T_STRING)))
        return PGX_NONE;
    bool arr = n[0] == '_';
    if (strcmp(n + arr, "hstore") == 0) return PGX_HSTORE;
    if (strcmp(n + arr, "ltree") == 0) return PGX_LTREE;
    if (strcmp(n, "tsvector") == 0) return PGX_TSVECTOR;
    return PGX_NONE;
}

static int frac_digits(const sl_column *c) { return c->scale >= 0 ? c->scale : 6; }

/* bit(n)/varbit(n) length as the JDBC driver reports it; unbounded varbit is Integer.MAX_VALUE. */
static int64_t bits_length(const sl_column *c) {
    if (c->length >= 0) return c->length;
    if (c->src_type == OID_VARBIT || (c->type_name && strcmp(c->type_name, "varbit") == 0)) return 2147483647;
    return 1;
}

static bool has_array_oid(const sl_column *c, uint32_t oid, const char *name) {
    return c->src_type == oid || (c->type_name && strcmp(c->type_name, name) == 0);
}

/*
 * Columns Debezium leaves out of the row: unknown types (with the default
 * include.unknown.datatypes=false) and the arrays PostgresValueConverter
 * has no schema for (money[], name[], interval[], varbit[], xml[]; bit[]
 * gets a non-array schema that then fails conversion). Nested arrays are
 * not a thing in PostgreSQL's type system.
 */
static bool column_omitted(const sl_column *c) {
    if (c->type == SL_T_UNKNOWN) return true;
    if (c->type != SL_T_ARRAY) return false;
    switch (c->elem) {
    case SL_T_UNKNOWN:
    case SL_T_ARRAY:
    case SL_T_MONEY:
    case SL_T_INTERVAL:
    case SL_T_XML:
    case SL_T_GEOMETRY: /* point[] */
    case SL_T_BIT: return true;
    default: return has_array_oid(c, OID_NAME_ARR, "_name");
    }
}

/* ---------------------------------------------------------------------------
 * Schemas (JsonConverter.asJsonSchema key order; the closing brace is left
 * to the caller so that "field" can come last)
 */

static void schema_head(sl_buf *b, const char *type, bool optional, const char *name, int version) {
    sl_buf_puts(b, "{\"type\":\"");
    sl_buf_puts(b, type);
    sl_buf_puts(b, "\",\"optional\":");
    put_bool(b, optional);
    if (name) {
        sl_buf_puts(b, ",\"name\":\"");
        sl_buf_puts(b, name);
        sl_buf_putc(b, '"');
    }
    if (version) sl_buf_printf(b, ",\"version\":%d", version);
}

static void schema_decimal(sl_buf *b, bool optional, int scale, int precision) {
    schema_head(b, "bytes", optional, "org.apache.kafka.connect.data.Decimal", 1);
    sl_buf_printf(b, ",\"parameters\":{\"scale\":\"%d\"", scale);
    if (precision >= 0) sl_buf_printf(b, ",\"connect.decimal.precision\":\"%d\"", precision);
    sl_buf_putc(b, '}');
}

static void schema_of(const sl_dbz_opts *o, const sl_column *c, sl_ctype t, bool optional, bool in_array,
                      sl_buf *b) {
    bool adaptive = o->time_mode != SL_TIME_CONNECT;
    bool my = is_binlog(o);
    switch (t) {
    case SL_T_BOOL: schema_head(b, "boolean", optional, NULL, 0); break;
    case SL_T_INT16: schema_head(b, "int16", optional, NULL, 0); break;
    case SL_T_INT32: schema_head(b, "int32", optional, NULL, 0); break;
    case SL_T_INT64:
        /* bigint.unsigned.handling.mode=precise: SpecialValueDecimal.builder(PRECISE, 20, 0), whatever
         * decimal.handling.mode says */
        if (is_my_ubigint(o, c) && o->bigint_unsigned_precise) schema_decimal(b, optional, 0, 20);
        else schema_head(b, "int64", optional, NULL, 0);
        break;
    case SL_T_FLOAT32: schema_head(b, "float", optional, NULL, 0); break;
    case SL_T_FLOAT64: schema_head(b, "double", optional, NULL, 0); break;
    case SL_T_NUMERIC:
        if (o->decimal_mode == SL_DEC_DOUBLE) schema_head(b, "double", optional, NULL, 0);
        else if (o->decimal_mode == SL_DEC_STRING) schema_head(b, "string", optional, NULL, 0);
        else if (is_variable_numeric(c)) {
            sl_buf_puts(b, "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"scale\"},"
                           "{\"type\":\"bytes\",\"optional\":false,\"field\":\"value\"}],\"optional\":");
            put_bool(b, optional);
            sl_buf_puts(b, ",\"name\":\"io.debezium.data.VariableScaleDecimal\",\"version\":1,"
                           "\"doc\":\"Variable scaled decimal\"");
        } else {
            schema_decimal(b, optional, c->scale, c->precision);
        }
        break;
    case SL_T_MONEY: /* money.fraction.digits = 2; no precision parameter */
        if (o->decimal_mode == SL_DEC_DOUBLE) schema_head(b, "double", optional, NULL, 0);
        else if (o->decimal_mode == SL_DEC_STRING) schema_head(b, "string", optional, NULL, 0);
        else schema_decimal(b, optional, 2, -1);
        break;
    case SL_T_STRING:
        switch (pg_ext_type(o, c)) {
        case PGX_HSTORE: /* hstoreSchema(): Json, or a map of string to optional string */
            if (!o->hstore_map) schema_head(b, "string", optional, "io.debezium.data.Json", 1);
            else {
                sl_buf_puts(b, "{\"type\":\"map\",\"keys\":{\"type\":\"string\",\"optional\":false},"
                               "\"values\":{\"type\":\"string\",\"optional\":true},\"optional\":");
                put_bool(b, optional);
            }
            break;
        case PGX_LTREE: schema_head(b, "string", optional, "io.debezium.data.Ltree", 1); break;
        case PGX_TSVECTOR: schema_head(b, "string", optional, "io.debezium.data.Tsvector", 1); break;
        case PGX_NONE: schema_head(b, "string", optional, NULL, 0); break;
        }
        break;
    case SL_T_BYTES: schema_head(b, o->binary_mode == SL_BIN_BYTES ? "bytes" : "string", optional, NULL, 0); break;
    case SL_T_DATE:
        schema_head(b, "int32", optional, adaptive ? "io.debezium.time.Date" : "org.apache.kafka.connect.data.Date", 1);
        break;
    case SL_T_TIME:
        /* MySQL: adaptive_time_microseconds (the default; plain "adaptive" is rejected by the
         * binlog connectors) → MicroTime whatever the fsp; connect → Time */
        if (my) {
            if (adaptive) schema_head(b, "int64", optional, "io.debezium.time.MicroTime", 1);
            else schema_head(b, "int32", optional, "org.apache.kafka.connect.data.Time", 1);
            break;
        }
        /* time[] is always MicroTime (PostgresValueConverter.schemaBuilder TIME_ARRAY) */
        if (in_array || o->time_mode == SL_TIME_ADAPTIVE_MICRO ||
            (o->time_mode == SL_TIME_ADAPTIVE && frac_digits(c) > 3))
            schema_head(b, "int64", optional, "io.debezium.time.MicroTime", 1);
        else if (o->time_mode == SL_TIME_ADAPTIVE) schema_head(b, "int32", optional, "io.debezium.time.Time", 1);
        else schema_head(b, "int32", optional, "org.apache.kafka.connect.data.Time", 1);
        break;
    case SL_T_TIMESTAMP:
        if (!adaptive) schema_head(b, "int64", optional, "org.apache.kafka.connect.data.Timestamp", 1);
        else if ((my ? my_fsp(c) : frac_digits(c)) <= 3) schema_head(b, "int64", optional, "io.debezium.time.Timestamp", 1);
        else schema_head(b, "int64", optional, "io.debezium.time.MicroTimestamp", 1);
        break;
    case SL_T_TIMETZ: schema_head(b, "string", optional, "io.debezium.time.ZonedTime", 1); break;
    case SL_T_TIMESTAMPTZ: schema_head(b, "string", optional, "io.debezium.time.ZonedTimestamp", 1); break;
    case SL_T_INTERVAL: schema_head(b, "int64", optional, "io.debezium.time.MicroDuration", 1); break;
    case SL_T_UUID: schema_head(b, "string", optional, "io.debezium.data.Uuid", 1); break;
    case SL_T_JSON: schema_head(b, "string", optional, is_mariadb(o) ? NULL : "io.debezium.data.Json", is_mariadb(o) ? 0 : 1); break;
    case SL_T_XML: schema_head(b, "string", optional, "io.debezium.data.Xml", 1); break;
    case SL_T_ENUM:
        schema_head(b, "string", optional, "io.debezium.data.Enum", 1);
        sl_buf_puts(b, ",\"parameters\":{\"allowed\":");
        put_str(b, c->enum_values);
        sl_buf_putc(b, '}');
        break;
    case SL_T_BIT:
        if (bits_length(c) > 1) {
            schema_head(b, "bytes", optional, "io.debezium.data.Bits", 1);
            sl_buf_printf(b, ",\"parameters\":{\"length\":\"%lld\"}", (long long)bits_length(c));
        } else {
            schema_head(b, "boolean", optional, NULL, 0);
        }
        break;
    case SL_T_YEAR: schema_head(b, "int32", optional, "io.debezium.time.Year", 1); break;
    case SL_T_SET:
        schema_head(b, "string", optional, "io.debezium.data.EnumSet", 1);
        sl_buf_puts(b, ",\"parameters\":{\"allowed\":");
        put_str(b, c->enum_values);
        sl_buf_putc(b, '}');
        break;
    case SL_T_GEOMETRY:
        if (is_my_point(c)) {
            sl_buf_puts(b, "{\"type\":\"struct\",\"fields\":[{\"type\":\"double\",\"optional\":false,\"field\":\"x\"},"
                           "{\"type\":\"double\",\"optional\":false,\"field\":\"y\"},"
                           "{\"type\":\"bytes\",\"optional\":true,\"field\":\"wkb\"},"
                           "{\"type\":\"int32\",\"optional\":true,\"field\":\"srid\"}],\"optional\":");
            put_bool(b, optional);
            sl_buf_puts(b, ",\"name\":\"io.debezium.data.geometry.Point\",\"version\":1,\"doc\":\"Geometry (POINT)\"");
        } else {
            /* Geometry.builder() is optional() itself, so NOT NULL columns get an optional schema too */
            sl_buf_puts(b, "{\"type\":\"struct\",\"fields\":[{\"type\":\"bytes\",\"optional\":false,\"field\":\"wkb\"},"
                           "{\"type\":\"int32\",\"optional\":true,\"field\":\"srid\"}],\"optional\":true,"
                           "\"name\":\"io.debezium.data.geometry.Geometry\",\"version\":1,\"doc\":\"Geometry\"");
        }
        break;
    case SL_T_ARRAY:
        /* element schemas are optional, except enum elements (SchemaBuilder.array(Enum.builder(..))) */
        sl_buf_puts(b, "{\"type\":\"array\",\"items\":");
        schema_of(o, c, c->elem, c->elem != SL_T_ENUM, true, b);
        sl_buf_puts(b, "},\"optional\":");
        put_bool(b, optional);
        break;
    case SL_T_UNKNOWN: schema_head(b, "string", optional, NULL, 0); break;
    }
}

void sl_dbz_field_schema(const sl_dbz_opts *o, const sl_column *c, sl_buf *out) {
    if (column_omitted(c)) return;
    schema_of(o, c, c->type, c->optional, false, out);
    if (c->default_value) { /* JsonConverter writes the default last, converted like a value */
        sl_cell d = {c->default_value, c->default_len, 0};
        sl_buf_puts(out, ",\"default\":");
        sl_dbz_cell_value(o, c, &d, out);
    }
    sl_buf_puts(out, ",\"field\":");
    put_str(out, c->name);
    sl_buf_putc(out, '}');
}

/* ---------------------------------------------------------------------------
 * Numbers: integers, Java-formatted floating point, decimals
 */

static bool parse_i64(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    if (i == n) return false;
    uint64_t lim = neg ? (uint64_t)0 - (uint64_t)lo : (uint64_t)hi, v = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i])) return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (lim - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = !neg ? (int64_t)v : v == 0 ? 0 : -(int64_t)(v - 1) - 1;
    return true;
}

enum { MAXSIG = 40 };

/* Significant digits of [+-]ddd[.ddd][e[+-]dd]: up to MAXSIG of them, with *more set past that. */
typedef struct dectext {
    bool neg, more;
    int n, k; /* digits d[0..n), value = d[0].d[1..] x 10^k */
    char d[MAXSIG];
} dectext;

static bool parse_dectext(const char *s, size_t len, dectext *x) {
    size_t i = 0;
    int exp10 = 0, ndigits = 0; /* position of the decimal point relative to the first digit seen */
    int lead = -1, point = -1, seen = 0;
    x->neg = false, x->more = false, x->n = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) x->neg = s[i++] == '-';
    for (; i < len; i++) {
        char ch = s[i];
        if (ch == '.' && point < 0) {
            point = seen;
            continue;
        }
        if (!is_digit(ch)) break;
        if (lead < 0 && ch != '0') lead = seen;
        if (lead >= 0) {
            if (x->n < MAXSIG) x->d[x->n++] = ch;
            else if (ch != '0') x->more = true;
        }
        seen++;
        ndigits++;
    }
    if (ndigits == 0) return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        int64_t e;
        size_t j = i + 1;
        if (!parse_i64(s + j, len - j, -100000000, 100000000, &e)) return false;
        exp10 = (int)e;
        i = len;
    }
    if (i != len) return false;
    if (point < 0) point = seen;
    while (x->n > 0 && x->d[x->n - 1] == '0') x->n--;
    x->k = lead < 0 ? 0 : point - lead - 1 + exp10;
    return true;
}

/*
 * A decimal text (PostgreSQL float4/float8/numeric output) as Java would
 * print Double.valueOf(text) / Float.valueOf(text) / BigDecimal.doubleValue().
 * Up to 15 (6 for float) significant digits the text's digits are already
 * the shortest round-trip digits; otherwise go through strtod/strtof.
 */
static bool put_float_text(sl_buf *b, const char *s, size_t n, bool is_float) {
    if (n == 3 && memcmp(s, "NaN", 3) == 0) return sl_buf_puts(b, "\"NaN\""), true;
    if ((n == 8 && memcmp(s, "Infinity", 8) == 0) || (n == 9 && memcmp(s, "+Infinity", 9) == 0))
        return sl_buf_puts(b, "\"Infinity\""), true;
    if (n == 9 && memcmp(s, "-Infinity", 9) == 0) return sl_buf_puts(b, "\"-Infinity\""), true;
    dectext x;
    if (!parse_dectext(s, n, &x)) return false;
    int maxfast = is_float ? 6 : 15, krange = is_float ? 36 : 306;
    if (!x.more && x.n <= maxfast && x.k > -krange && x.k < krange) {
        sl_jnum_put_digits(b, x.neg, x.d, x.n, x.k);
        return true;
    }
    char stack[512], *tmp = n < sizeof stack ? stack : sl_malloc(n + 1);
    memcpy(tmp, s, n);
    tmp[n] = 0;
    double v = is_float ? (double)strtof(tmp, NULL) : strtod(tmp, NULL);
    if (tmp != stack) sl_free(tmp);
    sl_jnum_put_json(b, v, is_float);
    return true;
}

/* PostgreSQL numeric text: [-]int[.frac] or NaN / Infinity / -Infinity. */
typedef enum { NUM_FINITE, NUM_NAN, NUM_PINF, NUM_NINF } num_kind;
typedef struct numtext {
    num_kind kind;
    bool neg;
    const char *ip, *fp; /* integer digits (leading zeros stripped, may be empty), fraction digits */
    size_t in, fn;
} numtext;

static bool parse_numtext(const char *s, size_t n, numtext *x) {
    memset(x, 0, sizeof *x);
    if (n == 3 && memcmp(s, "NaN", 3) == 0) return x->kind = NUM_NAN, true;
    if ((n == 8 && memcmp(s, "Infinity", 8) == 0) || (n == 9 && memcmp(s, "+Infinity", 9) == 0))
        return x->kind = NUM_PINF, true;
    if (n == 9 && memcmp(s, "-Infinity", 9) == 0) return x->kind = NUM_NINF, true;
    size_t i = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) x->neg = s[i++] == '-';
    size_t start = i;
    while (i < n && is_digit(s[i])) i++;
    size_t iend = i;
    if (i < n && s[i] == '.') {
        x->fp = s + ++i;
        while (i < n && is_digit(s[i])) i++;
        x->fn = (size_t)(s + i - x->fp);
    }
    if (i != n || (iend == start && x->fn == 0)) return false;
    while (start < iend && s[start] == '0') start++;
    x->ip = s + start, x->in = iend - start;
    return true;
}

/*
 * base64 of BigInteger.toByteArray() for the integer written by the digit
 * spans (then `zeros` more zero digits), negated when neg: the minimal
 * big-endian two's complement, bitLength/8 + 1 bytes.
 */
static void put_unscaled_b64(sl_buf *out, bool neg, const char *d1, size_t n1, const char *d2, size_t n2,
                             size_t zeros) {
    static const uint32_t pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};
    size_t total = n1 + n2 + zeros, cap = total / 9 + 2, nl = 0;
    uint32_t stack[128], *limb = cap <= 128 ? stack : sl_malloc(cap * sizeof *limb);
    uint32_t chunk = 0;
    int clen = 0;
    for (size_t i = 0; i < total; i++) {
        char ch = i < n1 ? d1[i] : i < n1 + n2 ? d2[i - n1] : '0';
        chunk = chunk * 10 + (uint32_t)(ch - '0');
        if (++clen == 9 || i + 1 == total) {
            uint64_t carry = chunk;
            for (size_t j = 0; j < nl; j++) {
                uint64_t t = (uint64_t)limb[j] * pow10[clen] + carry;
                limb[j] = (uint32_t)t;
                carry = t >> 32;
            }
            if (carry) limb[nl++] = (uint32_t)carry;
            chunk = 0, clen = 0;
        }
    }
    while (nl > 0 && limb[nl - 1] == 0) nl--;
    if (nl == 0) neg = false;
    if (neg) /* -m is ~(m-1) */
        for (size_t j = 0; j < nl && limb[j]-- == 0; j++) {}
    while (nl > 0 && limb[nl - 1] == 0) nl--;
    size_t bitlen = nl ? (nl - 1) * 32 + (32 - (size_t)__builtin_clz(limb[nl - 1])) : 0;
    size_t nbytes = bitlen / 8 + 1;
    bsink bs;
    bs_begin(&bs, out, BS_B64);
    for (size_t i = nbytes; i-- > 0;) {
        uint8_t byte = i / 4 < nl ? (uint8_t)(limb[i / 4] >> (8 * (i % 4))) : 0;
        bs_byte(&bs, neg ? (uint8_t)~byte : byte);
    }
    bs_end(&bs);
    if (limb != stack) sl_free(limb);
}

/* Unscaled digits of x at `scale` (padding or dropping fraction digits) as Connect Decimal bytes. */
static void put_decimal_at_scale(sl_buf *out, const numtext *x, int scale) {
    if (scale < 0) { /* PostgreSQL 15 negative scale: integer digits beyond the scale are zeros */
        size_t drop = (size_t)-scale;
        put_unscaled_b64(out, x->neg, x->ip, x->in > drop ? x->in - drop : 0, NULL, 0, 0);
    } else if ((size_t)scale >= x->fn) {
        put_unscaled_b64(out, x->neg, x->ip, x->in, x->fp, x->fn, (size_t)scale - x->fn);
    } else {
        put_unscaled_b64(out, x->neg, x->ip, x->in, x->fp, (size_t)scale, 0);
    }
}

/* Debezium's decimal string: BigDecimal.toPlainString() of the value at the column's scale. */
static void put_plain_decimal(sl_buf *out, const numtext *x, int scale) {
    sl_buf_putc(out, '"');
    if (x->neg) sl_buf_putc(out, '-');
    if (x->in) sl_buf_put(out, x->ip, x->in);
    else sl_buf_putc(out, '0');
    size_t fn = scale > 0 && (size_t)scale > x->fn ? (size_t)scale : x->fn;
    if (fn) {
        sl_buf_putc(out, '.');
        if (x->fn) sl_buf_put(out, x->fp, x->fn);
        for (size_t i = x->fn; i < fn; i++) sl_buf_putc(out, '0');
    }
    sl_buf_putc(out, '"');
}

static bool put_numeric_parsed(const sl_dbz_opts *o, const numtext *x, const char *s, size_t n, int scale,
                               bool variable, sl_buf *out) {
    if (x->kind != NUM_FINITE) {
        /* special values: "string" → SpecialValueDecimal name; "double" → NaN/±Infinity; precise throws in Debezium */
        static const char *names[] = {"", "\"NAN\"", "\"POSITIVE_INFINITY\"", "\"NEGATIVE_INFINITY\""};
        static const char *dbl[] = {"", "\"NaN\"", "\"Infinity\"", "\"-Infinity\""};
        if (o->decimal_mode == SL_DEC_PRECISE) return false;
        sl_buf_puts(out, o->decimal_mode == SL_DEC_STRING ? names[x->kind] : dbl[x->kind]);
        return true;
    }
    switch (o->decimal_mode) {
    case SL_DEC_DOUBLE: return put_float_text(out, s, n, false);
    case SL_DEC_STRING: put_plain_decimal(out, x, variable ? 0 : scale); return true;
    case SL_DEC_PRECISE: break;
    }
    if (!variable) {
        put_decimal_at_scale(out, x, scale);
        return true;
    }
    /* VariableScaleDecimal: stripTrailingZeros(), negative scales set back to 0 */
    size_t fn = x->fn;
    while (fn > 0 && x->fp[fn - 1] == '0') fn--;
    sl_buf_puts(out, "{\"scale\":");
    sl_buf_put_u64(out, fn);
    sl_buf_puts(out, ",\"value\":");
    put_unscaled_b64(out, x->neg, x->ip, x->in, x->fp, fn, 0);
    sl_buf_putc(out, '}');
    return true;
}

static bool put_numeric(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n, sl_buf *out) {
    numtext x;
    if (!parse_numtext(s, n, &x)) return false;
    return put_numeric_parsed(o, &x, s, n, c->scale, is_variable_numeric(c), out);
}

/*
 * money text under lc_monetary=C: "$1,234.56", "-$1,234.56" (or "($1.00)").
 * Debezium strips the currency symbol and separators (AbstractColumnValue.asMoney);
 * precise mode rounds HALF_UP to money.fraction.digits (2), string mode is
 * toPlainString() of the parsed value.
 */
static bool put_money(const sl_dbz_opts *o, const char *s, size_t n, sl_buf *out) {
    char buf[72];
    size_t len = 1;
    bool neg = false, point = false, any = false;
    buf[0] = '0'; /* room for a carry when rounding */
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '-' || ch == '(') neg = true;
        else if (is_digit(ch) || (ch == '.' && !point)) {
            if (len + 1 >= sizeof buf) return false;
            point |= ch == '.';
            any |= is_digit(ch);
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
    if (!parse_numtext(buf, len, &x)) return false;
    x.neg = neg;
    char dbl[80];
    if (o->decimal_mode == SL_DEC_DOUBLE) {
        dbl[0] = '-';
        memcpy(dbl + 1, buf, len);
        return put_float_text(out, neg ? dbl : buf, neg ? len + 1 : len, false);
    }
    if (o->decimal_mode == SL_DEC_STRING) {
        put_plain_decimal(out, &x, 0);
        return true;
    }
    put_decimal_at_scale(out, &x, 2);
    return true;
}

/* ---------------------------------------------------------------------------
 * Binary: bytea and bit strings
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
static bool put_bytea(const sl_dbz_opts *o, const char *s, size_t n, sl_buf *out) {
    bsink bs;
    if (n >= 2 && s[0] == '\\' && s[1] == 'x') {
        if ((n - 2) % 2) return false;
        for (size_t i = 2; i < n; i++)
            if (hexval(s[i]) < 0) return false;
        bs_begin(&bs, out, bin_mode(o));
        for (size_t i = 2; i < n; i += 2) bs_byte(&bs, (uint8_t)(hexval(s[i]) << 4 | hexval(s[i + 1])));
        bs_end(&bs);
        return true;
    }
    /* escape format: checked whole first, so that nothing written has to be taken back */
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') continue;
        if (i + 1 < n && s[i + 1] == '\\') i++;
        else if (escape_octal(s + i, n - i)) i += 3;
        else return false;
    }
    bs_begin(&bs, out, bin_mode(o));
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') bs_byte(&bs, (uint8_t)s[i]);
        else if (s[i + 1] == '\\') bs_byte(&bs, '\\'), i++;
        else {
            bs_byte(&bs, (uint8_t)((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0')));
            i += 3;
        }
    }
    bs_end(&bs);
    return true;
}

/*
 * bit(n>1)/varbit: Debezium builds a BitSet where the last character is bit
 * 0 and emits BitSet.toByteArray() (little-endian, only as many bytes as the
 * highest set bit needs: "00" gives no bytes at all). bit(1): boolean.
 * MySQL BIT(n) then pads to min_bytes (JdbcValueConverters.padLittleEndian
 * to ceil(n/8) bytes); PostgreSQL passes 0.
 */
static bool put_bits(const sl_column *c, const char *s, size_t n, size_t min_bytes, sl_buf *out) {
    size_t first_one = n;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '0' && s[i] != '1') return false;
        if (s[i] == '1' && first_one == n) first_one = i;
    }
    if (bits_length(c) <= 1) {
        put_bool(out, first_one < n);
        return true;
    }
    size_t nbytes = first_one == n ? 0 : (n - 1 - first_one) / 8 + 1;
    if (nbytes < min_bytes) nbytes = min_bytes;
    bsink bs;
    bs_begin(&bs, out, BS_B64);
    for (size_t j = 0; j < nbytes; j++) {
        uint8_t byte = 0;
        for (size_t bit = 0; bit < 8; bit++) {
            size_t k = 8 * j + bit;
            if (k < n && s[n - 1 - k] == '1') byte |= (uint8_t)(1u << bit);
        }
        bs_byte(&bs, byte);
    }
    bs_end(&bs);
    return true;
}

/* ---------------------------------------------------------------------------
 * Dates and times (DateStyle ISO; proleptic Gregorian like java.time)
 */

typedef struct cur {
    const char *s;
    size_t n, i;
} cur;

static bool cur_num(cur *c, int min, int max, int64_t *v) {
    int k = 0;
    *v = 0;
    while (c->i < c->n && k < max && is_digit(c->s[c->i])) *v = *v * 10 + (c->s[c->i++] - '0'), k++;
    return k >= min;
}
static bool cur_ch(cur *c, char ch) {
    if (c->i < c->n && c->s[c->i] == ch) return c->i++, true;
    return false;
}
static bool cur_lit(cur *c, const char *lit) {
    size_t l = strlen(lit);
    if (c->n - c->i >= l && memcmp(c->s + c->i, lit, l) == 0) return c->i += l, true;
    return false;
}
static bool cur_end(const cur *c) { return c->i == c->n; }

/* Days since 1970-01-01 of a proleptic Gregorian date (java.time.LocalDate.toEpochDay). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
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

/* yyyy-mm-dd (year of era, 1..10 digits) → epoch day; *year_pos for a trailing " BC". */
static bool parse_ymd(cur *c, int64_t *y, int64_t *m, int64_t *d) {
    return cur_num(c, 1, 10, y) && cur_ch(c, '-') && cur_num(c, 2, 2, m) && cur_ch(c, '-') && cur_num(c, 2, 2, d) &&
           *m >= 1 && *m <= 12 && *d >= 1 && *d <= 31;
}

/* HH:MM:SS[.fffffffff] → nanoseconds of day (hours may be 24). */
static bool parse_hms(cur *c, int64_t *ns) {
    int64_t h, mi, se, frac = 0;
    if (!cur_num(c, 1, 3, &h) || !cur_ch(c, ':') || !cur_num(c, 2, 2, &mi) || !cur_ch(c, ':') || !cur_num(c, 2, 2, &se))
        return false;
    if (cur_ch(c, '.')) {
        int k = 0;
        while (c->i < c->n && is_digit(c->s[c->i])) {
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
static bool parse_offset(cur *c, int64_t *secs) {
    if (c->i >= c->n || (c->s[c->i] != '+' && c->s[c->i] != '-')) return false;
    bool neg = c->s[c->i++] == '-';
    int64_t h, m = 0, s = 0;
    if (!cur_num(c, 2, 2, &h)) return false;
    if (cur_ch(c, ':')) {
        if (!cur_num(c, 2, 2, &m)) return false;
        if (cur_ch(c, ':') && !cur_num(c, 2, 2, &s)) return false;
    }
    *secs = (neg ? -1 : 1) * (h * 3600 + m * 60 + s);
    return true;
}

enum { TS_FINITE, TS_PINF, TS_NINF };

/* PostgreSQL date/timestamp/timestamptz text → epoch microseconds (UTC for tz). */
static bool parse_timestamp(const char *s, size_t n, bool with_tz, bool date_only, int *kind, int64_t *us) {
    *kind = TS_FINITE;
    if (n == 8 && memcmp(s, "infinity", 8) == 0) return *kind = TS_PINF, true;
    if (n == 9 && memcmp(s, "-infinity", 9) == 0) return *kind = TS_NINF, true;
    cur c = {s, n, 0};
    int64_t y, m, d, ns = 0, off = 0;
    if (!parse_ymd(&c, &y, &m, &d)) return false;
    if (!date_only) {
        if (!cur_ch(&c, ' ') && !cur_ch(&c, 'T')) return false;
        if (!parse_hms(&c, &ns)) return false;
        if (with_tz && !parse_offset(&c, &off)) return false;
    }
    if (cur_lit(&c, " BC")) y = 1 - y;
    if (!cur_end(&c)) return false;
    int64_t days = days_from_civil(y, m, d), t;
    if (date_only) return *us = days, true;
    if (__builtin_mul_overflow(days, US_PER_DAY, &t) || __builtin_add_overflow(t, ns / 1000 - off * 1000000, us))
        return false;
    return true;
}

/* ISO-8601 year as java.time prints it: at least 4 digits, '+' above 9999, '-' before year 0. */
static void put_iso_date(sl_buf *b, int64_t days) {
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
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
static void put_iso_time(sl_buf *b, int64_t ns_of_day, int width) {
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

/*
 * timestamptz → ZonedTimestamp string in UTC. Debezium formats with the
 * column's fractional width (scale, default 6: "...30.000000Z"); scale 0
 * falls back to ISO_OFFSET_DATE_TIME (no fraction when zero).
 */
static bool put_timestamptz(const sl_column *c, const char *s, size_t n, sl_buf *out) {
    int kind;
    int64_t us;
    if (!parse_timestamp(s, n, true, false, &kind, &us)) return false;
    if (kind != TS_FINITE) {
        sl_buf_puts(out, kind == TS_PINF ? "\"infinity\"" : "\"-infinity\"");
        return true;
    }
    int64_t days = floor_div(us, US_PER_DAY);
    sl_buf_putc(out, '"');
    put_iso_date(out, days);
    sl_buf_putc(out, 'T');
    put_iso_time(out, (us - days * US_PER_DAY) * 1000, frac_digits(c));
    sl_buf_puts(out, "Z\"");
    return true;
}

/* PGStatement.DATE_POSITIVE_INFINITY / DATE_NEGATIVE_INFINITY read as epoch microseconds */
#define PINF_US 9223372036825200000LL
#define NINF_US (-9223372036832400000LL)

static bool put_timestamp(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n, sl_buf *out) {
    int kind;
    int64_t us;
    if (!parse_timestamp(s, n, false, false, &kind, &us)) return false;
    if (kind != TS_FINITE) us = kind == TS_PINF ? PINF_US : NINF_US;
    bool ms = o->time_mode == SL_TIME_CONNECT || frac_digits(c) <= 3;
    sl_buf_put_i64(out, ms ? floor_div(us, 1000) : us);
    return true;
}

/*
 * date: epoch days. 'infinity' / '-infinity' streamed are DateTimeFormat.date()'s LocalDate -5877611-06-21
 * / -22; read by the snapshot they are pgjdbc's java.sql.Date(DATE_POSITIVE/NEGATIVE_INFINITY), whose
 * toLocalDate() (UTC; the Julian calendar before 1582 for the negative one) gives +292278994-08-16 /
 * +292269055-12-02, and Date.toEpochDay's (int) cast of their epoch days.
 */
static bool put_date(const sl_dbz_opts *o, const char *s, size_t n, sl_buf *out) {
    int kind;
    int64_t days;
    if (!parse_timestamp(s, n, false, true, &kind, &days)) return false;
    if (kind != TS_FINITE && o->snapshot_read)
        days = (int32_t)(uint32_t)(uint64_t)(kind == TS_PINF ? 106751991166LL : 106748361128LL);
    else if (kind != TS_FINITE) days = days_from_civil(-5877611, 6, kind == TS_PINF ? 21 : 22);
    if (days < INT32_MIN || days > INT32_MAX) return false;
    sl_buf_put_i64(out, days);
    return true;
}

/* time: Strings.asDuration, then ms (int) / µs (long) by mode; time[] elements come as java.sql.Time (ms). */
static bool put_time(const sl_dbz_opts *o, const sl_column *c, bool in_array, const char *s, size_t n,
                     sl_buf *out) {
    cur cu = {s, n, 0};
    int64_t ns;
    if (!parse_hms(&cu, &ns) || !cur_end(&cu)) return false;
    if (in_array) sl_buf_put_i64(out, ns / 1000000 * 1000);
    else if (o->time_mode == SL_TIME_ADAPTIVE_MICRO || (o->time_mode == SL_TIME_ADAPTIVE && frac_digits(c) > 3))
        sl_buf_put_i64(out, ns / 1000);
    else sl_buf_put_i64(out, ns / 1000000);
    return true;
}

/* timetz → ZonedTime: shifted to UTC (wrapping around midnight), minimal fraction, "Z". */
static bool put_timetz(bool in_array, const char *s, size_t n, sl_buf *out) {
    cur cu = {s, n, 0};
    int64_t ns, off;
    if (!parse_hms(&cu, &ns) || !parse_offset(&cu, &off) || !cur_end(&cu)) return false;
    const int64_t ns_day = US_PER_DAY * 1000;
    ns = ((ns - off * 1000000000LL) % ns_day + ns_day) % ns_day;
    if (in_array) ns = ns / 1000000 * 1000000;
    sl_buf_putc(out, '"');
    put_iso_time(out, ns, 0);
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
    if (!parse_i64(s, n, INT32_MIN, INT32_MAX, &x)) return false;
    return *v = (int32_t)x, true;
}

static bool tok_double(const char *s, size_t n, double *v) {
    char tmp[64];
    if (!s) return *v = 0, true;
    dectext x;
    if (n >= sizeof tmp || !parse_dectext(s, n, &x)) return false;
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
        while (i < n && (is_digit(s[i]) || s[i] == '-' || s[i] == '+' || s[i] == '.')) i++;
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

static bool put_interval(const char *s, size_t n, sl_buf *out) {
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
 * MySQL / MariaDB cells (the "Cell forms" of source/mysql/rowimage.h), as
 * Debezium's BinlogValueConverters converts what its binlog client's row
 * deserializers (RowDeserializers) make of the same binlog values.
 */

/* enable.time.adjuster (default true, BinlogValueConverters.adjustTemporal): years 0..69 → 20xx, 70..99 → 19xx. */
static int64_t my_adjust_year(int64_t y) { return y >= 0 && y <= 69 ? y + 2000 : y >= 70 && y <= 99 ? y + 1900 : y; }

static int days_in_month(int64_t y, int64_t m) {
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

/*
 * Cells the binlog client turns into a Java null: zero dates and datetimes
 * (year, month or day 0; RowDeserializers.deserializeDate/Datetime[V2]) and
 * empty JSON (convertJson). They then become null, or the converter's
 * fallback in a NOT NULL column, exactly like a NULL.
 */
static bool my_null_cell(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n) {
    if (c->type == SL_T_JSON) return n == 0 && !is_mariadb(o);
    if (c->type != SL_T_DATE && c->type != SL_T_TIMESTAMP) return false;
    cur cu = {s, n, 0};
    int64_t y, m, d;
    if (!cur_num(&cu, 1, 10, &y) || !cur_ch(&cu, '-') || !cur_num(&cu, 1, 2, &m) || !cur_ch(&cu, '-') ||
        !cur_num(&cu, 1, 2, &d))
        return false;
    return y == 0 || m == 0 || d == 0;
}

/* "YYYY-MM-DD" (LocalDate.of: a real date, year not 0) → epoch day of the adjusted date. */
static bool my_parse_date(cur *c, int64_t *days) {
    int64_t y, m, d;
    if (!parse_ymd(c, &y, &m, &d) || y == 0 || d > days_in_month(y, m)) return false;
    *days = days_from_civil(my_adjust_year(y), m, d);
    return true;
}

static bool my_put_date(const char *s, size_t n, sl_buf *out) {
    cur cu = {s, n, 0};
    int64_t days;
    if (!my_parse_date(&cu, &days) || !cur_end(&cu)) return false;
    sl_buf_put_i64(out, days);
    return true;
}

/* DATETIME: Timestamp (ms) for fsp <= 3 and in connect mode, else MicroTimestamp (µs). */
static bool my_put_datetime(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n, sl_buf *out) {
    cur cu = {s, n, 0};
    int64_t days, ns;
    if (!my_parse_date(&cu, &days) || !cur_ch(&cu, ' ') || !parse_hms(&cu, &ns) || !cur_end(&cu)) return false;
    if (ns >= US_PER_DAY * 1000) return false; /* LocalDateTime.of: hour 0..23 */
    int64_t us = days * US_PER_DAY + ns / 1000;
    bool ms = o->time_mode == SL_TIME_CONNECT || my_fsp(c) <= 3;
    sl_buf_put_i64(out, ms ? floor_div(us, 1000) : us);
    return true;
}

/*
 * TIMESTAMP → ZonedTimestamp in UTC. ZonedTimestamp.toIsoString(ZonedDateTime,
 * column.length()): exactly fsp fraction digits for TIMESTAMP(1..6),
 * ISO_OFFSET_DATE_TIME (no fraction, as the value has none) for TIMESTAMP(0).
 * The zero timestamp is epoch second 0 in the binlog: 1970-01-01T00:00:00Z.
 */
static bool my_put_timestamptz(const sl_column *c, const char *s, size_t n, sl_buf *out) {
    int64_t us = 0;
    if (!(n >= 10 && memcmp(s, "0000-00-00", 10) == 0)) {
        int kind;
        if (!parse_timestamp(s, n, true, false, &kind, &us) || kind != TS_FINITE) return false;
    }
    int64_t days = floor_div(us, US_PER_DAY);
    sl_buf_putc(out, '"');
    put_iso_date(out, days);
    sl_buf_putc(out, 'T');
    put_iso_time(out, (us - days * US_PER_DAY) * 1000, my_fsp(c));
    sl_buf_puts(out, "Z\"");
    return true;
}

/*
 * TIME "[-]HHH:MM:SS[.ffffff]" (a java.time.Duration in Debezium): MicroTime
 * µs, negative and beyond 24h included; connect mode: Time ms, where
 * Time.toMilliOfDay rejects negative and > 24:00:00 values (Debezium then
 * writes no value: null).
 */
static bool my_put_time(const sl_dbz_opts *o, const char *s, size_t n, sl_buf *out) {
    cur cu = {s, n, 0};
    bool neg = cur_ch(&cu, '-');
    int64_t ns;
    if (!parse_hms(&cu, &ns) || !cur_end(&cu)) return false;
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
static bool my_put_year(const char *s, size_t n, sl_buf *out) {
    int64_t y;
    if (!parse_i64(s, n, 0, 9999, &y)) return false;
    sl_buf_put_i64(out, y == 0 ? 1900 : my_adjust_year(y));
    return true;
}

/*
 * BIGINT UNSIGNED: "long" mode converts the binlog client's signed Long, so
 * values above 2^63-1 wrap to negative; "precise" mode is a Decimal with
 * scale 0 (BigInteger.toByteArray of the unsigned value).
 */
static bool my_put_ubigint(const sl_dbz_opts *o, bool bigint, const char *s, size_t n, sl_buf *out) {
    uint64_t v = 0;
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    if (bigint && o->bigint_unsigned_precise) put_unscaled_b64(out, false, s, n, NULL, 0, 0);
    else sl_buf_put_i64(out, (int64_t)v);
    return true;
}

/* Raw binary string bytes in the binary.handling.mode; BINARY(n) right-padded with 0x00 to n (DBZ-254). */
static void my_put_raw(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n, sl_buf *out) {
    bsink bs;
    bs_begin(&bs, out, bin_mode(o));
    for (size_t i = 0; i < n; i++) bs_byte(&bs, (uint8_t)s[i]);
    if (c->length > 0 && type_is(c, "binary"))
        for (size_t i = n; i < (size_t)c->length; i++) bs_byte(&bs, 0);
    bs_end(&bs);
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
static bool my_put_geometry(const sl_column *c, const char *s, size_t n, sl_buf *out) {
    if (n < 4) return false;
    const uint8_t *p = (const uint8_t *)s, *wkb = p + 4;
    size_t wn = n - 4;
    int32_t srid = (int32_t)rd_u32(p, true);
    if (is_my_point(c)) {
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
    bs_begin(&bs, out, BS_B64);
    for (size_t i = 0; i < wn; i++) bs_byte(&bs, wkb[i]);
    bs_end(&bs);
    sl_buf_puts(out, ",\"srid\":");
    if (srid) sl_buf_put_i64(out, srid);
    else sl_buf_puts(out, "null");
    sl_buf_putc(out, '}');
    return true;
}

/* ---------------------------------------------------------------------------
 * PostgreSQL point and hstore
 */

static void put_le_double(bsink *bs, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    for (int i = 0; i < 8; i++) bs_byte(bs, (uint8_t)(u >> (8 * i)));
}

/*
 * point "(x,y)" → Point.createValue(schema, x, y): x, y, the 21-byte
 * little-endian WKB Point Debezium builds from them, srid null. The
 * coordinates are PGpoint's Double.parseDouble of the two parts.
 */
static bool put_pg_point(const char *s, size_t n, sl_buf *out) {
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
    bs_begin(&bs, out, BS_B64);
    bs_byte(&bs, 1);
    bs_byte(&bs, 1), bs_byte(&bs, 0), bs_byte(&bs, 0), bs_byte(&bs, 0);
    put_le_double(&bs, x);
    put_le_double(&bs, y);
    bs_end(&bs);
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
static bool put_hstore(const sl_dbz_opts *o, const char *s, size_t n, sl_buf *out) {
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

/* ---------------------------------------------------------------------------
 * Values
 */

static bool put_value(const sl_dbz_opts *o, const sl_column *c, sl_ctype t, bool in_array, const char *s,
                      size_t n, sl_buf *out);

/* One array element: NULL, nested sub-array or value. */
static void put_array_elem(const sl_dbz_opts *o, const sl_column *ec, const char *s, size_t n, bool quoted,
                           bool escaped, sl_buf *out) {
    if (!quoted && n == 4 && strncasecmp(s, "NULL", 4) == 0) {
        sl_buf_puts(out, "null");
        return;
    }
    char stack[256], *tmp = NULL;
    const char *p = s;
    size_t len = n;
    if (escaped) {
        tmp = n <= sizeof stack ? stack : sl_malloc(n);
        len = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '\\' && i + 1 < n) i++;
            tmp[len++] = s[i];
        }
        p = tmp;
    }
    size_t mark = out->len;
    if (!put_value(o, ec, ec->type, true, p, len, out)) {
        out->len = mark;
        sl_buf_puts(out, "null");
    }
    if (tmp && tmp != stack) sl_free(tmp);
}

/*
 * PostgreSQL array text: optional "[lb:ub]=" decoration, then
 * {e1,e2,...} with double-quoted elements using backslash escapes and
 * unquoted NULL. Debezium's PgArray path turns the sub-arrays of a
 * multi-dimensional array into null elements.
 */
static bool put_array(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n, sl_buf *out) {
    sl_column ec = *c;
    ec.type = c->elem, ec.elem = SL_T_UNKNOWN, ec.optional = true;
    size_t i = 0;
    if (n && s[0] == '[') {
        const char *eq = memchr(s, '=', n);
        if (!eq) return false;
        i = (size_t)(eq - s) + 1;
    }
    if (i >= n || s[i] != '{') return false;
    i++;
    sl_buf_putc(out, '[');
    bool first = true;
    if (i < n && s[i] == '}') i++;
    else
        for (;;) {
            if (i >= n) return false;
            if (!first) sl_buf_putc(out, ',');
            first = false;
            if (s[i] == '{') { /* nested dimension: skip it, respecting quotes */
                int depth = 0;
                bool q = false;
                for (; i < n; i++) {
                    if (q) {
                        if (s[i] == '\\') i++;
                        else if (s[i] == '"') q = false;
                    } else if (s[i] == '"') q = true;
                    else if (s[i] == '{') depth++;
                    else if (s[i] == '}' && --depth == 0) break;
                }
                if (i >= n) return false;
                i++;
                sl_buf_puts(out, "null");
            } else if (s[i] == '"') {
                size_t st = ++i;
                bool esc = false;
                while (i < n && s[i] != '"') {
                    if (s[i] == '\\') esc = true, i++;
                    i++;
                }
                if (i >= n) return false;
                put_array_elem(o, &ec, s + st, i - st, true, esc, out);
                i++;
            } else {
                size_t st = i;
                while (i < n && s[i] != ',' && s[i] != '}') i++;
                size_t en = i;
                while (st < en && (s[st] == ' ' || s[st] == '\t')) st++;
                while (en > st && (s[en - 1] == ' ' || s[en - 1] == '\t')) en--;
                put_array_elem(o, &ec, s + st, en - st, false, false, out);
            }
            if (i < n && s[i] == ',') {
                i++;
                continue;
            }
            if (i < n && s[i] == '}') {
                i++;
                break;
            }
            return false;
        }
    if (i != n) return false;
    sl_buf_putc(out, ']');
    return true;
}

static bool put_value(const sl_dbz_opts *o, const sl_column *c, sl_ctype t, bool in_array, const char *s,
                      size_t n, sl_buf *out) {
    int64_t v;
    bool my = is_binlog(o);
    switch (t) {
    case SL_T_BOOL: put_bool(out, n == 1 && (s[0] == 't' || s[0] == 'T')); return true; /* "t".equalsIgnoreCase */
    case SL_T_INT16:
        if (!parse_i64(s, n, INT16_MIN, INT16_MAX, &v)) return false;
        return sl_buf_put_i64(out, v), true;
    case SL_T_INT32:
        if (!parse_i64(s, n, INT32_MIN, INT32_MAX, &v)) return false;
        return sl_buf_put_i64(out, v), true;
    case SL_T_INT64:
        if (my && c->is_unsigned) return my_put_ubigint(o, is_my_ubigint(o, c), s, n, out);
        if (!parse_i64(s, n, INT64_MIN, INT64_MAX, &v)) return false;
        return sl_buf_put_i64(out, v), true;
    case SL_T_FLOAT32: return put_float_text(out, s, n, true);
    case SL_T_FLOAT64: return put_float_text(out, s, n, false);
    case SL_T_NUMERIC: return put_numeric(o, c, s, n, out);
    case SL_T_MONEY: return put_money(o, s, n, out);
    case SL_T_STRING:
        if (pg_ext_type(o, c) == PGX_HSTORE) return put_hstore(o, s, n, out); /* hstore[] elements too */
        sl_buf_put_json_str(out, s, n);
        return true;
    case SL_T_UUID:
    case SL_T_JSON:
    case SL_T_XML:
    case SL_T_ENUM:
    case SL_T_SET:
    case SL_T_UNKNOWN: sl_buf_put_json_str(out, s, n); return true;
    case SL_T_BYTES:
        if (c->repr != SL_REPR_RAW) return put_bytea(o, s, n, out);
        my_put_raw(o, c, s, n, out);
        return true;
    case SL_T_DATE: return my ? my_put_date(s, n, out) : put_date(o, s, n, out);
    case SL_T_TIME: return my ? my_put_time(o, s, n, out) : put_time(o, c, in_array, s, n, out);
    case SL_T_TIMETZ: return put_timetz(in_array, s, n, out);
    case SL_T_TIMESTAMP: return my ? my_put_datetime(o, c, s, n, out) : put_timestamp(o, c, s, n, out);
    case SL_T_TIMESTAMPTZ: return my ? my_put_timestamptz(c, s, n, out) : put_timestamptz(c, s, n, out);
    case SL_T_INTERVAL: return put_interval(s, n, out);
    case SL_T_BIT: return put_bits(c, s, n, my ? (size_t)(bits_length(c) + 7) / 8 : 0, out);
    case SL_T_ARRAY: return !in_array && put_array(o, c, s, n, out);
    case SL_T_YEAR: return my_put_year(s, n, out);
    case SL_T_GEOMETRY: return my ? my_put_geometry(c, s, n, out) : put_pg_point(s, n, out);
    }
    return false;
}

/*
 * Value of a NULL in a NOT NULL column: JdbcValueConverters.convertValue
 * returns the converter's fallback (this is what a delete with REPLICA
 * IDENTITY DEFAULT shows for the non-key columns).
 */
static void put_fallback(const sl_dbz_opts *o, const sl_column *c, sl_buf *out) {
    switch (c->type) {
    case SL_T_BOOL: sl_buf_puts(out, "false"); break;
    case SL_T_INT64:
        /* BIGINT UNSIGNED precise: a zero Decimal (Debezium's 0L fallback would not even serialize) */
        sl_buf_puts(out, is_my_ubigint(o, c) && o->bigint_unsigned_precise ? "\"AA==\"" : "0");
        break;
    case SL_T_INT16:
    case SL_T_INT32:
    case SL_T_YEAR:
    case SL_T_DATE:
    case SL_T_TIME:
    case SL_T_TIMESTAMP:
    case SL_T_INTERVAL: sl_buf_putc(out, '0'); break;
    case SL_T_FLOAT32:
    case SL_T_FLOAT64: sl_buf_puts(out, "0.0"); break;
    case SL_T_NUMERIC:
    case SL_T_MONEY: {
        bool var = c->type == SL_T_NUMERIC && is_variable_numeric(c);
        int scale = c->type == SL_T_MONEY ? 2 : var ? 0 : c->scale;
        if (o->decimal_mode == SL_DEC_DOUBLE) sl_buf_puts(out, "0.0");
        else if (o->decimal_mode == SL_DEC_STRING) {
            numtext z = {NUM_FINITE, false, "", "", 0, 0};
            put_plain_decimal(out, &z, scale);
        } else sl_buf_puts(out, var ? "{\"scale\":0,\"value\":\"AA==\"}" : "\"AA==\"");
        break;
    }
    case SL_T_BIT: sl_buf_puts(out, bits_length(c) > 1 ? "\"\"" : "false"); break;
    case SL_T_TIMETZ: sl_buf_puts(out, "\"00:00:00Z\""); break;
    case SL_T_TIMESTAMPTZ: sl_buf_puts(out, "\"1970-01-01T00:00:00Z\""); break;
    case SL_T_ARRAY: sl_buf_puts(out, "[]"); break;
    case SL_T_JSON: /* BinlogValueConverters.convertJson (MariaDB: a LONGTEXT string) */
        sl_buf_puts(out, is_binlog(o) && !is_mariadb(o) ? "\"{}\"" : "\"\"");
        break;
    case SL_T_GEOMETRY:
        /* PostgreSQL point: Point.createValue(schema, 0, 0). Binlog: BinlogGeometry.createEmpty(),
         * GEOMETRYCOLLECTION EMPTY, no SRID (a POINT schema cannot hold it) */
        if (!is_binlog(o)) sl_buf_puts(out, "{\"x\":0.0,\"y\":0.0,\"wkb\":\"AQEAAAAAAAAAAAAAAAAAAAAAAAAA\",\"srid\":null}");
        else sl_buf_puts(out, is_my_point(c) ? "null" : "{\"wkb\":\"AQcAAAAAAAAA\",\"srid\":null}");
        break;
    case SL_T_STRING:
        /* hstore: convertHstoreToJsonString's "{}" / convertHstoreToMap's empty map */
        if (pg_ext_type(o, c) == PGX_HSTORE) sl_buf_puts(out, o->hstore_map ? "{}" : "\"{}\"");
        else sl_buf_puts(out, "\"\"");
        break;
    case SL_T_BYTES:
    case SL_T_UUID:
    case SL_T_XML:
    case SL_T_ENUM:
    case SL_T_SET:
    case SL_T_UNKNOWN: sl_buf_puts(out, "\"\""); break;
    }
}

/*
 * Unchanged TOAST value (UnchangedToastedPlaceholder): the placeholder
 * string for string-like columns, its bytes for bytea (bytes mode; hex mode
 * gets the string, base64 modes end up null), and the list placeholders for
 * text/varchar/json/jsonb/bytea/int4/int8/date/uuid arrays. Every other
 * type makes Debezium fail the record; we write null.
 */
static void put_unchanged(const sl_dbz_opts *o, const sl_column *c, sl_buf *out) {
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
        if (has_array_oid(c, OID_TEXT_ARR, "_text") || has_array_oid(c, OID_VARCHAR_ARR, "_varchar") ||
            has_array_oid(c, OID_JSON_ARR, "_json") || has_array_oid(c, OID_JSONB_ARR, "_jsonb"))
            sl_buf_puts(out, "[\"" PLACEHOLDER "\"]");
        else if (has_array_oid(c, OID_BYTEA_ARR, "_bytea"))
            sl_buf_puts(out, o->binary_mode == SL_BIN_HEX ? "[\"" PLACEHOLDER_HEX "\"]" : "[\"" PLACEHOLDER_B64 "\"]");
        else if (has_array_oid(c, OID_INT4_ARR, "_int4") || has_array_oid(c, OID_INT8_ARR, "_int8") ||
                 has_array_oid(c, OID_DATE_ARR, "_date"))
            sl_buf_puts(out, PLACEHOLDER_INTS);
        else if (has_array_oid(c, OID_UUID_ARR, "_uuid")) sl_buf_puts(out, "[\"" PLACEHOLDER_UUID "\"]");
        else sl_buf_puts(out, "null");
        return;
    default: sl_buf_puts(out, "null"); return;
    }
}

#define SPILL_VALUE_BYTES 65536 /* smaller values are held: cheaper than asking writes_through */
/*
 * Types whose writer cannot fail once it has begun (text is written as it is, bytea is checked
 * first): only these may be handed on by a spilling buffer while they are written, so that one very
 * large value is never whole in the sink's memory. The others are held (sl_buf_hold) in case a
 * malformed value has to be taken back.
 */
static bool writes_through(const sl_dbz_opts *o, const sl_column *c) {
    switch (c->type) {
    case SL_T_STRING: return pg_ext_type(o, c) != PGX_HSTORE;
    case SL_T_UUID:
    case SL_T_JSON:
    case SL_T_XML:
    case SL_T_ENUM:
    case SL_T_SET:
    case SL_T_UNKNOWN:
    case SL_T_BYTES: return true;
    default: return false;
    }
}

void sl_dbz_cell_value(const sl_dbz_opts *o, const sl_column *c, const sl_cell *v, sl_buf *out) {
    bool my = is_binlog(o);
    const char *data = v && v->data ? v->data : "";
    size_t len = v && v->data ? v->len : 0;
    if (column_omitted(c)) {
        sl_buf_puts(out, "null");
    } else if (!v || (v->flags & SL_CELL_NULL) ||
               /* binlog: a column missing from a MINIMAL/NOBLOB row image is a null in Debezium */
               (my && ((v->flags & SL_CELL_UNCHANGED) || my_null_cell(o, c, data, len)))) {
        if (c->default_value && !o->keep_nulls) { /* JsonConverter's replace.null.with.default */
            sl_cell d = {c->default_value, c->default_len, 0};
            sl_dbz_cell_value(o, c, &d, out);
        } else if (c->optional) sl_buf_puts(out, "null");
        else put_fallback(o, c, out);
    } else if (v->flags & SL_CELL_UNCHANGED) {
        put_unchanged(o, c, out);
    } else if (len >= SPILL_VALUE_BYTES && writes_through(o, c)) {
        if (!put_value(o, c, c->type, false, data, len, out)) sl_buf_puts(out, "null"); /* nothing written */
    } else {
        size_t mark = out->len;
        sl_buf_hold(out);
        if (!put_value(o, c, c->type, false, data, len, out)) { /* malformed: null, never a crash */
            out->len = mark;
            sl_buf_puts(out, "null");
        }
        sl_buf_unhold(out);
    }
}

/* ---------------------------------------------------------------------------
 * Records
 */

/* The middle part of topic and schema names: the schema (PostgreSQL) or the database (MySQL: <prefix>.<db>.<table>). */
static const char *table_space(const sl_dbz_opts *o, const sl_table *t) {
    const char *sp = is_binlog(o) ? (t->db ? t->db : t->schema) : (t->schema ? t->schema : t->db);
    return sp ? sp : "";
}

static void put_name(sl_buf *b, const sl_dbz_opts *o, const sl_table *t, const char *suffix) {
    sl_buf tmp;
    sl_buf_init(&tmp);
    sl_buf_puts(&tmp, o->server_name ? o->server_name : "");
    sl_buf_putc(&tmp, '.');
    sl_buf_puts(&tmp, table_space(o, t));
    sl_buf_putc(&tmp, '.');
    sl_buf_puts(&tmp, t->name);
    sl_buf_puts(&tmp, suffix);
    sl_buf_put_json_str(b, tmp.data, tmp.len);
    sl_buf_free(&tmp);
}

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * The transaction id of r as a JSON string appended to out (out NULL: only
 * tells whether r has one). PostgreSQL: "<txId>:<lsn>" with the LSN of the
 * record itself (PostgresTransactionMonitor.adjustTxId: the offset's last
 * seen LSN when the record is made; BEGIN: the first change's, END: the
 * commit's end); binlog sources: the GTID, else
 * "file=<file>,pos=<position of BEGIN>" (BinlogOffsetContext); snapshot
 * records are in no transaction.
 */
static bool tx_id(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    if (is_binlog(o)) {
        if (r->op == SL_OP_READ || !r->tx_order || !(r->pos.gtid || r->pos.file)) return false;
        if (!out) return true;
        sl_buf id;
        sl_buf_init(&id);
        if (r->pos.gtid) sl_buf_puts(&id, r->pos.gtid);
        else {
            sl_buf_puts(&id, "file=");
            sl_buf_puts(&id, r->pos.file);
            sl_buf_puts(&id, ",pos=");
            sl_buf_put_u64(&id, r->pos.file_pos);
        }
        sl_buf_put_json_str(out, id.data, id.len);
        sl_buf_free(&id);
        return true;
    }
    if (!r->txid || r->op == SL_OP_READ) return false; /* snapshot reads have a txId but no transaction */
    if (out) {
        sl_buf_putc(out, '"');
        sl_buf_put_u64(out, r->txid);
        sl_buf_putc(out, ':');
        sl_buf_put_u64(out, r->pos.lsn);
        sl_buf_putc(out, '"');
    }
    return true;
}

static bool side_record(const sl_record *r) {
    return r->op == SL_OP_HEARTBEAT || r->op == SL_OP_TX_BEGIN || r->op == SL_OP_TX_END;
}

/* Heartbeat and transaction metadata keys/values, as Debezium's SchemaFactory defines them. */
static void side_key(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    bool hb = r->op == SL_OP_HEARTBEAT;
    if (o->key_schemas) {
        sl_buf_puts(out, hb ? "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,"
                              "\"field\":\"serverName\"}],\"optional\":false,\"name\":"
                              "\"io.debezium.connector.common.ServerNameKey\",\"version\":1},\"payload\":"
                            : "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,"
                              "\"field\":\"id\"}],\"optional\":false,\"name\":"
                              "\"io.debezium.connector.common.TransactionMetadataKey\",\"version\":1},\"payload\":");
    }
    if (hb) {
        sl_buf_puts(out, "{\"serverName\":");
        put_str(out, o->server_name);
    } else {
        sl_buf_puts(out, "{\"id\":");
        if (!tx_id(o, r, out)) sl_buf_puts(out, "\"\"");
    }
    sl_buf_putc(out, '}');
    if (o->key_schemas) sl_buf_putc(out, '}');
}

static void side_value(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    int64_t ts_ms = floor_div(r->op == SL_OP_HEARTBEAT ? now_us() : r->ts_us, 1000);
    if (r->op == SL_OP_HEARTBEAT) {
        if (o->value_schemas)
            sl_buf_puts(out, "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\",\"optional\":false,"
                             "\"field\":\"ts_ms\"}],\"optional\":false,\"name\":"
                             "\"io.debezium.connector.common.Heartbeat\",\"version\":1},\"payload\":");
        sl_buf_puts(out, "{\"ts_ms\":");
        sl_buf_put_i64(out, ts_ms);
        sl_buf_putc(out, '}');
        if (o->value_schemas) sl_buf_putc(out, '}');
        return;
    }
    if (o->value_schemas)
        sl_buf_puts(out, "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,"
                         "\"field\":\"status\"},{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
                         "{\"type\":\"int64\",\"optional\":true,\"field\":\"event_count\"},{\"type\":\"array\","
                         "\"items\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,"
                         "\"field\":\"data_collection\"},{\"type\":\"int64\",\"optional\":false,\"field\":"
                         "\"event_count\"}],\"optional\":true,\"name\":\"event.collection\",\"version\":1},"
                         "\"optional\":true,\"field\":\"data_collections\"},{\"type\":\"int64\",\"optional\":false,"
                         "\"field\":\"ts_ms\"}],\"optional\":false,\"name\":"
                         "\"io.debezium.connector.common.TransactionMetadataValue\",\"version\":1},\"payload\":");
    bool end = r->op == SL_OP_TX_END;
    sl_buf_puts(out, end ? "{\"status\":\"END\",\"id\":" : "{\"status\":\"BEGIN\",\"id\":");
    if (!tx_id(o, r, out)) sl_buf_puts(out, "\"\"");
    sl_buf_puts(out, ",\"event_count\":");
    if (end) sl_buf_put_u64(out, r->tx_events);
    else sl_buf_puts(out, "null");
    sl_buf_puts(out, ",\"data_collections\":");
    sl_buf_puts(out, end && r->tx_collections ? r->tx_collections : "null");
    sl_buf_puts(out, ",\"ts_ms\":");
    sl_buf_put_i64(out, ts_ms);
    sl_buf_putc(out, '}');
    if (o->value_schemas) sl_buf_putc(out, '}');
}

const char *sl_dbz_topic(const sl_dbz_opts *o, const sl_record *r, sl_buf *scratch) {
    if (r->raw) return r->raw->topic;
    if (side_record(r)) {
        sl_buf_reset(scratch);
        if (r->op == SL_OP_HEARTBEAT) {
            sl_buf_puts(scratch, o->heartbeat_prefix ? o->heartbeat_prefix : "__debezium-heartbeat");
            sl_buf_putc(scratch, '.');
            sl_buf_puts(scratch, o->server_name ? o->server_name : "");
        } else {
            sl_buf_puts(scratch, o->server_name ? o->server_name : "");
            sl_buf_putc(scratch, '.');
            sl_buf_puts(scratch, o->tx_topic ? o->tx_topic : "transaction");
        }
        return sl_buf_cstr(scratch);
    }
    if (r->op == SL_OP_SCHEMA) return o->server_name ? o->server_name : ""; /* Debezium: <topic.prefix> */
    if (r->op != SL_OP_MESSAGE && r->table && r->table->topic) return r->table->topic;
    sl_buf_reset(scratch);
    sl_buf_puts(scratch, o->server_name ? o->server_name : "");
    if (r->op == SL_OP_MESSAGE || !r->table) {
        sl_buf_puts(scratch, ".message");
    } else {
        sl_buf_putc(scratch, '.');
        sl_buf_puts(scratch, table_space(o, r->table));
        sl_buf_putc(scratch, '.');
        sl_buf_puts(scratch, r->table->name);
    }
    return sl_buf_cstr(scratch);
}

/* {"type":"struct","fields":[...],"optional":X,"name":"..." — closing brace left to the caller */
static void struct_schema(const sl_dbz_opts *o, const sl_table *t, bool keys_only, bool optional,
                          const char *suffix, sl_buf *b) {
    sl_buf_puts(b, "{\"type\":\"struct\",\"fields\":[");
    bool first = true;
    for (int i = 0; i < t->ncols; i++) {
        const sl_column *c = &t->cols[i];
        if ((keys_only && !c->key) || column_omitted(c)) continue;
        if (!first) sl_buf_putc(b, ',');
        first = false;
        sl_dbz_field_schema(o, c, b);
    }
    sl_buf_puts(b, "],\"optional\":");
    put_bool(b, optional);
    sl_buf_puts(b, ",\"name\":");
    put_name(b, o, t, suffix);
}

/*
 * SchemaFactory.sourceInfoSchemaBuilder() (Debezium 3.x): version 1; the snapshot enum lists
 * SnapshotRecord's values in declaration order, default "false".
 */
#define SOURCE_COMMON_FIELDS                                                                                       \
    "{\"type\":\"struct\",\"fields\":["                                                                           \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},"                                             \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},"                                           \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"                                                \
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},"                                                \
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,"                     \
    "\"parameters\":{\"allowed\":\"true,first,first_in_data_collection,last_in_data_collection,last,false,"    \
    "incremental\"},\"default\":\"false\",\"field\":\"snapshot\"},"                                                   \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},"                                                  \
    "{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},"                                             \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"                                                 \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"},"

static const char SOURCE_SCHEMA[] =
    SOURCE_COMMON_FIELDS
    "{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"txId\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"lsn\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"xmin\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"origin\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"origin_lsn\"}],"
    "\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\",\"version\":1,\"field\":\"source\"}";

/* BinlogSourceInfoStructMaker: the common fields, then table ... query (schema version 1 as every source block). */
#define BINLOG_SOURCE_SCHEMA(module)                                                                               \
    SOURCE_COMMON_FIELDS                                                                                           \
    "{\"type\":\"string\",\"optional\":true,\"field\":\"table\"},"                                                \
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"server_id\"},"                                            \
    "{\"type\":\"string\",\"optional\":true,\"field\":\"gtid\"},"                                                 \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"file\"},"                                                \
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"pos\"},"                                                  \
    "{\"type\":\"int32\",\"optional\":false,\"field\":\"row\"},"                                                  \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"thread\"},"                                                \
    "{\"type\":\"string\",\"optional\":true,\"field\":\"query\"}],"                                               \
    "\"optional\":false,\"name\":\"io.debezium.connector." module ".Source\",\"version\":1,\"field\":\"source\"}"

static const char MYSQL_SOURCE_SCHEMA[] = BINLOG_SOURCE_SCHEMA("mysql");
static const char MARIADB_SOURCE_SCHEMA[] = BINLOG_SOURCE_SCHEMA("mariadb");

static const char *source_schema(const sl_dbz_opts *o) {
    if (!is_binlog(o)) return SOURCE_SCHEMA;
    return strcmp(o->connector, "mariadb") == 0 ? MARIADB_SOURCE_SCHEMA : MYSQL_SOURCE_SCHEMA;
}

static const char TX_SCHEMA[] =
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}],"
    "\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"}";

/* Appends the table's cached key schema (built on first use). */
static void put_key_schema(const sl_dbz_opts *o, sl_table *t, sl_buf *out) {
    if (!t->enc_key_schema) {
        sl_buf b;
        sl_buf_init(&b);
        struct_schema(o, t, true, false, ".Key", &b);
        sl_buf_putc(&b, '}');
        t->enc_key_schema = sl_strndup(b.data, b.len);
        t->enc_key_schema_len = b.len;
        sl_buf_free(&b);
    }
    sl_buf_put(out, t->enc_key_schema, t->enc_key_schema_len);
}

/* Envelope: before, after, source, transaction, op, ts_ms, ts_us, ts_ns; version 2 (Envelope.SCHEMA_VERSION). */
static void put_value_schema(const sl_dbz_opts *o, sl_table *t, sl_buf *out) {
    if (!t->enc_value_schema) {
        sl_buf b, row;
        sl_buf_init(&b), sl_buf_init(&row);
        struct_schema(o, t, false, true, ".Value", &row);
        sl_buf_puts(&b, "{\"type\":\"struct\",\"fields\":[");
        sl_buf_put(&b, row.data, row.len);
        sl_buf_puts(&b, ",\"field\":\"before\"},");
        sl_buf_put(&b, row.data, row.len);
        sl_buf_puts(&b, ",\"field\":\"after\"},");
        sl_buf_puts(&b, source_schema(o));
        sl_buf_putc(&b, ',');
        sl_buf_puts(&b, TX_SCHEMA);
        sl_buf_puts(&b, ",{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},"
                        "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},"
                        "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"
                        "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"}],"
                        "\"optional\":false,\"name\":");
        put_name(&b, o, t, ".Envelope");
        sl_buf_puts(&b, ",\"version\":2}");
        t->enc_value_schema = sl_strndup(b.data, b.len);
        t->enc_value_schema_len = b.len;
        sl_buf_free(&b), sl_buf_free(&row);
    }
    sl_buf_put(out, t->enc_value_schema, t->enc_value_schema_len);
}

/*
 * Row struct. An unchanged TOAST cell takes the old row's value when there
 * is one (REPLICA IDENTITY FULL; Debezium's cachedOldToastedValues).
 */
static void put_row(const sl_dbz_opts *o, const sl_table *t, const sl_cell *cells, const sl_cell *old,
                    bool keys_only, sl_buf *out) {
    bool my = is_binlog(o); /* MySQL has no TOAST: an absent column stays null */
    sl_buf_putc(out, '{');
    bool first = true;
    for (int i = 0; i < t->ncols; i++) {
        const sl_column *c = &t->cols[i];
        if ((keys_only && !c->key) || column_omitted(c)) continue;
        if (!first) sl_buf_putc(out, ',');
        first = false;
        put_str(out, c->name);
        sl_buf_putc(out, ':');
        const sl_cell *v = &cells[i];
        bool old_usable = old && !my && !(old[i].flags & (SL_CELL_NULL | SL_CELL_UNCHANGED)) && old[i].data;
        if ((v->flags & SL_CELL_UNCHANGED) && old_usable) v = &old[i];
        sl_dbz_cell_value(o, c, v, out);
    }
    sl_buf_putc(out, '}');
}


static void put_opt_str(sl_buf *out, const char *s) {
    if (s) put_str(out, s);
    else sl_buf_puts(out, "null");
}

/*
 * io.debezium.connector.{mysql,mariadb}.Source payload (BinlogSourceInfoStructMaker):
 * no sequence; gtid/query null when absent, thread null when unknown; file is
 * a required field, so a missing one is written as "" rather than an
 * invalid null.
 */
static void put_binlog_source_tail(const sl_record *r, sl_buf *out) {
    const sl_table *t = r->table;
    sl_buf_puts(out, ",\"table\":");
    put_opt_str(out, t ? t->name : r->schema_change ? r->schema_change->table : NULL);
    sl_buf_puts(out, ",\"server_id\":");
    sl_buf_put_u64(out, r->pos.server_id);
    sl_buf_puts(out, ",\"gtid\":");
    put_opt_str(out, r->pos.gtid);
    sl_buf_puts(out, ",\"file\":");
    put_str(out, r->pos.file);
    sl_buf_puts(out, ",\"pos\":");
    sl_buf_put_u64(out, r->pos.event_pos ? r->pos.event_pos : r->pos.file_pos);
    sl_buf_puts(out, ",\"row\":");
    sl_buf_put_u64(out, r->pos.row);
    sl_buf_puts(out, ",\"thread\":");
    if (r->pos.thread) sl_buf_put_u64(out, r->pos.thread);
    else sl_buf_puts(out, "null");
    sl_buf_puts(out, ",\"query\":");
    put_opt_str(out, r->pos.query);
    sl_buf_putc(out, '}');
}

/* io.debezium.connector.postgresql.Source payload (or the binlog connectors' one). */
static void put_source(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    static const char *snap[] = {"false", "true", "first", "last", "first_in_data_collection", "last_in_data_collection"};
    const sl_table *t = r->table;
    bool my = is_binlog(o);
    int64_t ts = r->ts_us ? r->ts_us : now_us();
    sl_buf_puts(out, "{\"version\":");
    put_str(out, o->version);
    sl_buf_puts(out, ",\"connector\":");
    put_str(out, o->connector);
    sl_buf_puts(out, ",\"name\":");
    put_str(out, o->server_name);
    sl_buf_puts(out, ",\"ts_ms\":");
    sl_buf_put_i64(out, floor_div(ts, 1000));
    sl_buf_puts(out, ",\"snapshot\":\"");
    sl_buf_puts(out, (unsigned)r->snapshot < sizeof snap / sizeof *snap ? snap[r->snapshot] : "true");
    sl_buf_puts(out, "\",\"db\":");
    put_str(out, t ? t->db : r->schema_change ? r->schema_change->db : o->db ? o->db : "");
    if (my) {
        sl_buf_puts(out, ",\"sequence\":null,\"ts_us\":");
        sl_buf_put_i64(out, ts);
        sl_buf_puts(out, ",\"ts_ns\":");
        sl_buf_put_i64(out, ts * 1000);
        put_binlog_source_tail(r, out);
        return;
    }
    /* sequence: the JSON array ["<last commit LSN>","<LSN>"] (null when unknown) as a JSON string */
    sl_buf_puts(out, ",\"sequence\":\"[");
    for (int i = 0; i < 2; i++) {
        uint64_t lsn = i ? r->pos.lsn : r->pos.last_commit_lsn;
        if (i) sl_buf_putc(out, ',');
        if (!lsn) {
            sl_buf_puts(out, "null");
            continue;
        }
        sl_buf_puts(out, "\\\"");
        sl_buf_put_u64(out, lsn);
        sl_buf_puts(out, "\\\"");
    }
    sl_buf_puts(out, "]\"");
    sl_buf_puts(out, ",\"ts_us\":");
    sl_buf_put_i64(out, ts);
    sl_buf_puts(out, ",\"ts_ns\":");
    sl_buf_put_i64(out, ts * 1000);
    sl_buf_puts(out, ",\"schema\":");
    put_str(out, t ? t->schema : "");
    sl_buf_puts(out, ",\"table\":");
    put_str(out, t ? t->name : "");
    sl_buf_puts(out, ",\"txId\":");
    if (r->txid) sl_buf_put_u64(out, r->txid);
    else sl_buf_puts(out, "null");
    sl_buf_puts(out, ",\"lsn\":");
    if (r->pos.lsn) sl_buf_put_u64(out, r->pos.lsn);
    else sl_buf_puts(out, "null");
    sl_buf_puts(out, ",\"xmin\":null,\"origin\":");
    put_opt_str(out, r->pos.origin);
    sl_buf_puts(out, ",\"origin_lsn\":");
    if (r->pos.origin) sl_buf_put_u64(out, r->pos.origin_lsn);
    else sl_buf_puts(out, "null");
    sl_buf_putc(out, '}');
}

#define OPT_STR(f) "{\"type\":\"string\",\"optional\":true,\"field\":\"" f "\"}"
#define OPT_INT(f) "{\"type\":\"int32\",\"optional\":true,\"field\":\"" f "\"}"
#define OPT_BOOL(f) "{\"type\":\"boolean\",\"optional\":true,\"field\":\"" f "\"}"
#define STR_ARRAY(f) "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":false},\"optional\":true,\"field\":\"" f "\"}"

/* SchemaFactory.schemaHistoryChangeSchema(): Change { type, id, table: Table { ..., columns: [Column] } } */
static const char CHANGE_SCHEMA[] =
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"string\",\"optional\":false,\"field\":\"type\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"struct\",\"fields\":[" OPT_STR("defaultCharsetName") "," STR_ARRAY("primaryKeyColumnNames") ","
    "{\"type\":\"array\",\"items\":{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"
    "{\"type\":\"int32\",\"optional\":false,\"field\":\"jdbcType\"}," OPT_INT("nativeType") ","
    "{\"type\":\"string\",\"optional\":false,\"field\":\"typeName\"}," OPT_STR("typeExpression") ","
    OPT_STR("charsetName") "," OPT_INT("length") "," OPT_INT("scale") ","
    "{\"type\":\"int32\",\"optional\":false,\"field\":\"position\"}," OPT_BOOL("optional") ","
    OPT_BOOL("autoIncremented") "," OPT_BOOL("generated") "," OPT_STR("comment") ","
    OPT_STR("defaultValueExpression") "," STR_ARRAY("enumValues")
    "],\"optional\":false,\"name\":\"io.debezium.connector.schema.Column\",\"version\":1},"
    "\"optional\":false,\"field\":\"columns\"}," OPT_STR("comment")
    "],\"optional\":true,\"name\":\"io.debezium.connector.schema.Table\",\"version\":1,\"field\":\"table\"}"
    "],\"optional\":false,\"name\":\"io.debezium.connector.schema.Change\",\"version\":1}";

/* Schema change events (include.schema.changes): SchemaFactory's SchemaChangeKey / SchemaChangeValue. */
static void schema_change_key(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    if (o->key_schemas) {
        sl_buf_puts(out, "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,"
                         "\"field\":\"databaseName\"}],\"optional\":false,\"name\":\"io.debezium.connector.");
        sl_buf_puts(out, o->connector);
        sl_buf_puts(out, ".SchemaChangeKey\",\"version\":1},\"payload\":");
    }
    sl_buf_puts(out, "{\"databaseName\":");
    put_str(out, r->schema_change->db);
    sl_buf_putc(out, '}');
    if (o->key_schemas) sl_buf_putc(out, '}');
}

static void schema_change_value(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    const sl_schema_change *sc = r->schema_change;
    if (o->value_schemas) {
        sl_buf_puts(out, "{\"schema\":{\"type\":\"struct\",\"fields\":[");
        sl_buf_puts(out, source_schema(o));
        sl_buf_puts(out, ",{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},"
                         "{\"type\":\"string\",\"optional\":true,\"field\":\"databaseName\"},"
                         "{\"type\":\"string\",\"optional\":true,\"field\":\"schemaName\"},"
                         "{\"type\":\"string\",\"optional\":true,\"field\":\"ddl\"},"
                         "{\"type\":\"array\",\"items\":");
        sl_buf_puts(out, CHANGE_SCHEMA);
        sl_buf_puts(out, ",\"optional\":false,\"field\":\"tableChanges\"}],\"optional\":false,"
                         "\"name\":\"io.debezium.connector.");
        sl_buf_puts(out, o->connector);
        sl_buf_puts(out, ".SchemaChangeValue\",\"version\":1},\"payload\":");
    }
    sl_buf_puts(out, "{\"source\":");
    put_source(o, r, out);
    sl_buf_puts(out, ",\"ts_ms\":"); /* as Debezium: when the event was made (source.ts_ms: the statement's) */
    sl_buf_put_i64(out, floor_div(now_us(), 1000));
    sl_buf_puts(out, ",\"databaseName\":");
    put_str(out, sc->db);
    sl_buf_puts(out, ",\"schemaName\":null,\"ddl\":");
    put_str(out, sc->ddl);
    sl_buf_puts(out, ",\"tableChanges\":");
    sl_buf_puts(out, sc->table_changes ? sc->table_changes : "[]");
    sl_buf_putc(out, '}');
    if (o->value_schemas) sl_buf_putc(out, '}');
}

/* The envelope's "transaction" (event.block): id, total_order, data_collection_order; null outside one. */
static void put_tx_block(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    if (!o->provide_tx || !tx_id(o, r, NULL)) {
        sl_buf_puts(out, "null");
        return;
    }
    sl_buf_puts(out, "{\"id\":");
    tx_id(o, r, out);
    sl_buf_puts(out, ",\"total_order\":");
    sl_buf_put_u64(out, r->tx_order);
    sl_buf_puts(out, ",\"data_collection_order\":");
    sl_buf_put_u64(out, r->tx_coll_order ? r->tx_coll_order : r->tx_order);
    sl_buf_putc(out, '}');
}

/*
 * Logical decoding message key/value (LogicalDecodingMessageMonitor; value
 * fields op, ts_ms, source, transaction, message). A transactional message
 * gets its transaction block; a non-transactional one has no txId: null.
 */
static void message_key(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    if (o->key_schemas)
        sl_buf_puts(out, "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":true,"
                         "\"field\":\"prefix\"}],\"optional\":false,\"name\":\"io.debezium.connector.postgresql."
                         "MessageKey\",\"version\":1},\"payload\":");
    sl_buf_puts(out, "{\"prefix\":");
    if (r->msg_prefix) put_str(out, r->msg_prefix);
    else sl_buf_puts(out, "null");
    sl_buf_putc(out, '}');
    if (o->key_schemas) sl_buf_putc(out, '}');
}

static void message_value(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    if (o->value_schemas) {
        sl_buf_puts(out, "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,"
                         "\"field\":\"op\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},");
        sl_buf_puts(out, source_schema(o));
        sl_buf_putc(out, ',');
        sl_buf_puts(out, TX_SCHEMA);
        sl_buf_puts(out, ",{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":true,\"field\":"
                         "\"prefix\"},{\"type\":\"");
        sl_buf_puts(out, o->binary_mode == SL_BIN_BYTES ? "bytes" : "string");
        sl_buf_puts(out, "\",\"optional\":true,\"field\":\"content\"}],\"optional\":false,\"name\":"
                         "\"io.debezium.connector.postgresql.Message\",\"version\":1,\"field\":\"message\"}],"
                         "\"optional\":false,\"name\":\"io.debezium.connector.postgresql.MessageValue\","
                         "\"version\":1},\"payload\":");
    }
    sl_buf_puts(out, "{\"op\":\"m\",\"ts_ms\":");
    sl_buf_put_i64(out, floor_div(now_us(), 1000));
    sl_buf_puts(out, ",\"source\":");
    put_source(o, r, out);
    sl_buf_puts(out, ",\"transaction\":");
    put_tx_block(o, r, out);
    sl_buf_puts(out, ",\"message\":{\"prefix\":");
    if (r->msg_prefix) put_str(out, r->msg_prefix);
    else sl_buf_puts(out, "null");
    sl_buf_puts(out, ",\"content\":");
    if (!r->msg_content && r->msg_len) {
        sl_buf_puts(out, "null");
    } else {
        bsink bs;
        bs_begin(&bs, out, bin_mode(o));
        for (uint32_t i = 0; i < r->msg_len; i++) bs_byte(&bs, (uint8_t)r->msg_content[i]);
        bs_end(&bs);
    }
    sl_buf_puts(out, "}}");
    if (o->value_schemas) sl_buf_putc(out, '}');
}

/* The options for r's values: snapshot reads (PostgreSQL) convert some values as JDBC delivers them. */
static const sl_dbz_opts *record_opts(const sl_dbz_opts *o, const sl_record *r, sl_dbz_opts *tmp) {
    if (r->op != SL_OP_READ || is_binlog(o) || o->snapshot_read) return o;
    *tmp = *o;
    tmp->snapshot_read = true;
    return tmp;
}

void sl_dbz_key(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    sl_dbz_opts ro;
    o = record_opts(o, r, &ro);
    if (r->raw) {
        if (r->raw->key) sl_buf_put(out, r->raw->key, r->raw->key_len);
        else sl_buf_puts(out, "null");
        return;
    }
    if (side_record(r)) {
        side_key(o, r, out);
        return;
    }
    if (r->op == SL_OP_MESSAGE) {
        message_key(o, r, out);
        return;
    }
    if (r->op == SL_OP_SCHEMA && r->schema_change) {
        schema_change_key(o, r, out);
        return;
    }
    sl_table *t = r->table;
    const sl_cell *cells = r->after ? r->after : r->before;
    if (!t || t->nkeys == 0 || r->op == SL_OP_TRUNCATE || !cells) {
        sl_buf_puts(out, "null");
        return;
    }
    if (o->key_schemas) {
        sl_buf_puts(out, "{\"schema\":");
        put_key_schema(o, t, out);
        sl_buf_puts(out, ",\"payload\":");
    }
    put_row(o, t, cells, NULL, true, out);
    if (o->key_schemas) sl_buf_putc(out, '}');
}

void sl_dbz_value(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    sl_dbz_opts ro;
    o = record_opts(o, r, &ro);
    if (r->raw) {
        if (r->raw->value) sl_buf_put(out, r->raw->value, r->raw->value_len);
        else sl_buf_puts(out, "null");
        return;
    }
    if (side_record(r)) {
        side_value(o, r, out);
        return;
    }
    if (r->op == SL_OP_MESSAGE) {
        message_value(o, r, out);
        return;
    }
    if (r->op == SL_OP_SCHEMA && r->schema_change) {
        schema_change_value(o, r, out);
        return;
    }
    sl_table *t = r->table;
    if (!t) { /* a data change without a table cannot be encoded */
        sl_buf_puts(out, "null");
        return;
    }
    if (o->value_schemas) {
        sl_buf_puts(out, "{\"schema\":");
        put_value_schema(o, t, out);
        sl_buf_puts(out, ",\"payload\":");
    }
    bool has_before = (r->op == SL_OP_UPDATE || r->op == SL_OP_DELETE) && r->before;
    bool has_after = (r->op == SL_OP_CREATE || r->op == SL_OP_READ || r->op == SL_OP_UPDATE) && r->after;
    sl_buf_puts(out, "{\"before\":");
    if (has_before) put_row(o, t, r->before, NULL, false, out);
    else sl_buf_puts(out, "null");
    sl_buf_puts(out, ",\"after\":");
    if (has_after) put_row(o, t, r->after, r->op == SL_OP_UPDATE ? r->before : NULL, false, out);
    else sl_buf_puts(out, "null");
    sl_buf_puts(out, ",\"source\":");
    put_source(o, r, out);
    sl_buf_puts(out, ",\"transaction\":");
    put_tx_block(o, r, out);
    int64_t now = now_us();
    sl_buf_puts(out, ",\"op\":\"");
    sl_buf_putc(out, (char)r->op);
    sl_buf_puts(out, "\",\"ts_ms\":");
    sl_buf_put_i64(out, floor_div(now, 1000));
    sl_buf_puts(out, ",\"ts_us\":");
    sl_buf_put_i64(out, now);
    sl_buf_puts(out, ",\"ts_ns\":");
    sl_buf_put_i64(out, now * 1000);
    sl_buf_putc(out, '}');
    if (o->value_schemas) sl_buf_putc(out, '}');
}

void sl_dbz_key_header(const sl_dbz_opts *o, sl_record *r, const char *name, const sl_cell *cells, sl_arena *arena) {
    sl_record tmp = {.op = SL_OP_CREATE, .table = r->table, .after = (sl_cell *)cells};
    sl_dbz_opts po = *o;
    po.key_schemas = false;
    sl_buf b;
    sl_buf_init(&b);
    sl_dbz_key(&po, &tmp, &b);
    sl_header *h = sl_arena_alloc(arena, sizeof *h);
    *h = (sl_header){name, sl_arena_memdup(arena, b.data, b.len), (uint32_t)b.len, true};
    sl_buf_free(&b);
    r->headers = h;
    r->nheaders = 1;
}
