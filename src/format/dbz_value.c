/*
 * Debezium JSON encoder: one cell's value (see dbz_int.h for the pieces).
 *
 * Cells hold the source's text form; each value is parsed once and written
 * straight into the output buffer as the JSON of the Connect value Debezium
 * would produce. The value forms of the cells' dialect (sl_dbz_opts.dialect,
 * fixed per connector) live in dbz_pg.c / dbz_binlog.c.
 */
#include "format/dbz_int.h"
#include "util/mem.h"
#include <string.h>
#include <strings.h>

/* One value's text (s, n) as column c's JSON value of type t (c's type, or its element type in an array). */
static bool put_value(const sl_dbz_opts *o, const sl_column *c, sl_ctype t, bool in_array, const char *s, size_t n,
                      sl_buf *out);

/* ---------------------------------------------------------------------------
 * Arrays (PostgreSQL array text; the elements are values of the element type)
 */

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

/* ---------------------------------------------------------------------------
 * Values
 */

static bool put_value(const sl_dbz_opts *o, const sl_column *c, sl_ctype t, bool in_array, const char *s, size_t n,
                      sl_buf *out) {
    int64_t v;
    bool my = dbz_is_binlog(o);
    switch (t) {
    case SL_T_BOOL: dbz_put_bool(out, n == 1 && (s[0] == 't' || s[0] == 'T')); return true; /* "t".equalsIgnoreCase */
    case SL_T_INT16:
        if (!dbz_parse_i64(s, n, INT16_MIN, INT16_MAX, &v)) return false;
        return sl_buf_put_i64(out, v), true;
    case SL_T_INT32:
        if (!dbz_parse_i64(s, n, INT32_MIN, INT32_MAX, &v)) return false;
        return sl_buf_put_i64(out, v), true;
    case SL_T_INT64:
        if (my && c->is_unsigned) return dbz_my_ubigint(o, dbz_is_my_ubigint(o, c), s, n, out);
        if (!dbz_parse_i64(s, n, INT64_MIN, INT64_MAX, &v)) return false;
        return sl_buf_put_i64(out, v), true;
    case SL_T_FLOAT32: return dbz_put_float_text(out, s, n, true);
    case SL_T_FLOAT64: return dbz_put_float_text(out, s, n, false);
    case SL_T_NUMERIC: return dbz_put_numeric(o, c, s, n, out);
    case SL_T_MONEY: return dbz_pg_money(o, s, n, out);
    case SL_T_STRING:
        if (dbz_pg_ext_type(o, c) == PGX_HSTORE) return dbz_pg_hstore(o, s, n, out); /* hstore[] elements too */
        sl_buf_put_json_str(out, s, n);
        return true;
    case SL_T_UUID:
    case SL_T_JSON:
    case SL_T_XML:
    case SL_T_ENUM:
    case SL_T_SET:
    case SL_T_UNKNOWN: sl_buf_put_json_str(out, s, n); return true;
    case SL_T_BYTES:
        if (c->repr != SL_REPR_RAW) return dbz_pg_bytea(o, s, n, out);
        dbz_my_raw(o, c, s, n, out);
        return true;
    case SL_T_DATE: return my ? dbz_my_date(s, n, out) : dbz_pg_date(o, s, n, out);
    case SL_T_TIME: return my ? dbz_my_time(o, s, n, out) : dbz_pg_time(o, c, in_array, s, n, out);
    case SL_T_TIMETZ: return dbz_pg_timetz(in_array, s, n, out);
    case SL_T_TIMESTAMP: return my ? dbz_my_datetime(o, c, s, n, out) : dbz_pg_timestamp(o, c, s, n, out);
    case SL_T_TIMESTAMPTZ: return my ? dbz_my_timestamptz(c, s, n, out) : dbz_pg_timestamptz(c, s, n, out);
    case SL_T_INTERVAL: return dbz_pg_interval(s, n, out);
    case SL_T_BIT: return dbz_put_bits(c, s, n, my ? (size_t)(dbz_bits_length(c) + 7) / 8 : 0, out);
    case SL_T_ARRAY: return !in_array && put_array(o, c, s, n, out);
    case SL_T_YEAR: return dbz_my_year(s, n, out);
    case SL_T_GEOMETRY: return my ? dbz_my_geometry(c, s, n, out) : dbz_pg_point(s, n, out);
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
        sl_buf_puts(out, dbz_is_my_ubigint(o, c) && o->bigint_unsigned_precise ? "\"AA==\"" : "0");
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
        bool var = c->type == SL_T_NUMERIC && dbz_is_variable_numeric(c);
        int scale = c->type == SL_T_MONEY ? 2 : var ? 0 : c->scale;
        if (o->decimal_mode == SL_DEC_DOUBLE) sl_buf_puts(out, "0.0");
        else if (o->decimal_mode == SL_DEC_STRING) {
            numtext z = {NUM_FINITE, false, "", "", 0, 0};
            dbz_put_plain_decimal(out, &z, scale);
        } else sl_buf_puts(out, var ? "{\"scale\":0,\"value\":\"AA==\"}" : "\"AA==\"");
        break;
    }
    case SL_T_BIT: sl_buf_puts(out, dbz_bits_length(c) > 1 ? "\"\"" : "false"); break;
    case SL_T_TIMETZ: sl_buf_puts(out, "\"00:00:00Z\""); break;
    case SL_T_TIMESTAMPTZ: sl_buf_puts(out, "\"1970-01-01T00:00:00Z\""); break;
    case SL_T_ARRAY: sl_buf_puts(out, "[]"); break;
    case SL_T_JSON: /* BinlogValueConverters.convertJson (MariaDB: a LONGTEXT string) */
        sl_buf_puts(out, dbz_is_binlog(o) && !dbz_is_mariadb(o) ? "\"{}\"" : "\"\"");
        break;
    case SL_T_GEOMETRY:
        /* PostgreSQL point: Point.createValue(schema, 0, 0). Binlog: BinlogGeometry.createEmpty(),
         * GEOMETRYCOLLECTION EMPTY, no SRID (a POINT schema cannot hold it) */
        if (!dbz_is_binlog(o)) sl_buf_puts(out, "{\"x\":0.0,\"y\":0.0,\"wkb\":\"AQEAAAAAAAAAAAAAAAAAAAAAAAAA\",\"srid\":null}");
        else sl_buf_puts(out, dbz_is_my_point(c) ? "null" : "{\"wkb\":\"AQcAAAAAAAAA\",\"srid\":null}");
        break;
    case SL_T_STRING:
        /* hstore: convertHstoreToJsonString's "{}" / convertHstoreToMap's empty map */
        if (dbz_pg_ext_type(o, c) == PGX_HSTORE) sl_buf_puts(out, o->hstore_map ? "{}" : "\"{}\"");
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

#define SPILL_VALUE_BYTES 65536 /* smaller values are held: cheaper than asking writes_through */
/*
 * Types whose writer cannot fail once it has begun (text is written as it is, bytea is checked
 * first): only these may be handed on by a spilling buffer while they are written, so that one very
 * large value is never whole in the sink's memory. The others are held (sl_buf_hold) in case a
 * malformed value has to be taken back.
 */
static bool writes_through(const sl_dbz_opts *o, const sl_column *c) {
    switch (c->type) {
    case SL_T_STRING: return dbz_pg_ext_type(o, c) != PGX_HSTORE;
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
    bool my = dbz_is_binlog(o);
    const char *data = v && v->data ? v->data : "";
    size_t len = v && v->data ? v->len : 0;
    if (dbz_column_omitted(c)) {
        sl_buf_puts(out, "null");
    } else if (!v || (v->flags & SL_CELL_NULL) ||
               /* binlog: a column missing from a MINIMAL/NOBLOB row image is a null in Debezium */
               (my && ((v->flags & SL_CELL_UNCHANGED) || dbz_my_null_cell(o, c, data, len)))) {
        if (c->default_value && !o->keep_nulls) { /* JsonConverter's replace.null.with.default */
            sl_cell d = {c->default_value, c->default_len, 0};
            sl_dbz_cell_value(o, c, &d, out);
        } else if (c->optional) sl_buf_puts(out, "null");
        else put_fallback(o, c, out);
    } else if (v->flags & SL_CELL_UNCHANGED) {
        dbz_pg_unchanged(o, c, out);
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
