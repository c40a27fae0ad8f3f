/*
 * Binlog row-image decoder (see rowimage.h). The formats follow the
 * server's Field::pack()/do_save_field_metadata(): integers little-endian,
 * the MySQL 5.6 temporal types (TIME2/DATETIME2/TIMESTAMP2) and NEWDECIMAL
 * big-endian with offset or inverted-sign encodings, strings with a 1-4 byte
 * little-endian length prefix. Every read goes through a cursor that checks
 * the remaining length first; every length found in the data is checked
 * against what is left before anything is copied.
 *
 * Old temporal types (MYSQL_TYPE_TIME/DATETIME/TIMESTAMP) carry no metadata
 * in the table map. meta == 0 selects the classic formats; a caller that
 * knows the column's fractional precision (information_schema
 * DATETIME_PRECISION) may set meta to 1..6 after sl_my_parse_meta() to read
 * the MariaDB 5.3 "hires" formats that MariaDB still logs under those types.
 */
#include "source/mysql/rowimage.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    T_DECIMAL = 0, T_TINY = 1, T_SHORT = 2, T_LONG = 3, T_FLOAT = 4, T_DOUBLE = 5, T_NULL = 6, T_TIMESTAMP = 7,
    T_LONGLONG = 8, T_INT24 = 9, T_DATE = 10, T_TIME = 11, T_DATETIME = 12, T_YEAR = 13, T_NEWDATE = 14,
    T_VARCHAR = 15, T_BIT = 16, T_TIMESTAMP2 = 17, T_DATETIME2 = 18, T_TIME2 = 19, T_JSON = 245,
    T_NEWDECIMAL = 246, T_ENUM = 247, T_SET = 248, T_TINY_BLOB = 249, T_MEDIUM_BLOB = 250, T_LONG_BLOB = 251,
    T_BLOB = 252, T_VAR_STRING = 253, T_STRING = 254, T_GEOMETRY = 255,
};

/* Optional metadata field types (Table_map_log_event::Optional_metadata_field_type). */
enum {
    OM_SIGNEDNESS = 1, OM_DEFAULT_CHARSET, OM_COLUMN_CHARSET, OM_COLUMN_NAME, OM_SET_STR_VALUE, OM_ENUM_STR_VALUE,
    OM_GEOMETRY_TYPE, OM_SIMPLE_PRIMARY_KEY, OM_PRIMARY_KEY_WITH_PREFIX, OM_ENUM_AND_SET_DEFAULT_CHARSET,
    OM_ENUM_AND_SET_COLUMN_CHARSET,
};

#define MAX_ENUM_LABELS 65535
#define MAX_SET_LABELS 64
#define BINARY_COLLATION 63

static void fail(char *errstr, size_t errstr_size, const char *fmt, ...) {
    if (!errstr || !errstr_size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------------
 * Bounded reading
 */

typedef struct cur {
    const uint8_t *p;
    size_t n, i;
} cur;

static size_t left(const cur *c) { return c->n - c->i; }

static bool take(cur *c, size_t k, const uint8_t **out) {
    if (left(c) < k) return false;
    *out = c->p + c->i;
    c->i += k;
    return true;
}

static uint64_t le(const uint8_t *b, int k) {
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static uint64_t be(const uint8_t *b, int k) {
    uint64_t v = 0;
    for (int i = 0; i < k; i++) v = v << 8 | b[i];
    return v;
}

static bool get_le(cur *c, int k, uint64_t *v) {
    const uint8_t *b;
    if (!take(c, (size_t)k, &b)) return false;
    *v = le(b, k);
    return true;
}

static bool get_be(cur *c, int k, uint64_t *v) {
    const uint8_t *b;
    if (!take(c, (size_t)k, &b)) return false;
    *v = be(b, k);
    return true;
}

/* Length-encoded integer of the client/server protocol (the packed ints of the table map). */
static bool get_packed(cur *c, uint64_t *v) {
    const uint8_t *b;
    if (!take(c, 1, &b)) return false;
    switch (b[0]) {
    case 251:
    case 255: return false;
    case 252: return get_le(c, 2, v);
    case 253: return get_le(c, 3, v);
    case 254: return get_le(c, 8, v);
    default: *v = b[0]; return true;
    }
}

/* ---------------------------------------------------------------------------
 * Column classification
 */

static bool is_blob(uint8_t t) {
    return t == T_BLOB || t == T_TINY_BLOB || t == T_MEDIUM_BLOB || t == T_LONG_BLOB;
}

/* Columns that get an entry in the COLUMN_CHARSET / DEFAULT_CHARSET lists. */
static bool is_character(uint8_t t) {
    return t == T_STRING || t == T_VAR_STRING || t == T_VARCHAR || is_blob(t) || t == T_GEOMETRY;
}

static bool is_numeric(uint8_t t, bool with_year) {
    switch (t) {
    case T_TINY:
    case T_SHORT:
    case T_INT24:
    case T_LONG:
    case T_LONGLONG:
    case T_NEWDECIMAL:
    case T_FLOAT:
    case T_DOUBLE: return true;
    case T_YEAR: return with_year;
    default: return false;
    }
}

static bool is_latin1(uint32_t coll) {
    switch (coll) {
    case 5:
    case 8:
    case 15:
    case 31:
    case 47:
    case 48:
    case 49:
    case 94:
    case 1032: /* latin1_swedish_nopad_ci (MariaDB) */
    case 1071: /* latin1_nopad_bin (MariaDB) */
        return true;
    default: return false;
    }
}

static const char *col_name(const sl_my_col *c) { return c->name ? c->name : "?"; }

/* ---------------------------------------------------------------------------
 * TABLE_MAP metadata
 */

/* Bytes of metadata each binlog type carries in the table map. */
static int meta_size(uint8_t t) {
    switch (t) {
    case T_FLOAT:
    case T_DOUBLE:
    case T_BLOB:
    case T_TINY_BLOB:
    case T_MEDIUM_BLOB:
    case T_LONG_BLOB:
    case T_GEOMETRY:
    case T_JSON:
    case T_TIME2:
    case T_DATETIME2:
    case T_TIMESTAMP2: return 1;
    case T_STRING:
    case T_ENUM:
    case T_SET:
    case T_VARCHAR:
    case T_VAR_STRING:
    case T_BIT:
    case T_NEWDECIMAL: return 2;
    default: return 0;
    }
}

/* Checks the metadata that the row decoder relies on; NULL when fine. */
static const char *meta_problem(uint8_t t, uint16_t m) {
    switch (t) {
    case T_FLOAT: return m == 4 ? NULL : "FLOAT pack length is not 4";
    case T_DOUBLE: return m == 8 ? NULL : "DOUBLE pack length is not 8";
    case T_BLOB:
    case T_TINY_BLOB:
    case T_MEDIUM_BLOB:
    case T_LONG_BLOB:
    case T_GEOMETRY:
    case T_JSON: return m >= 1 && m <= 4 ? NULL : "length prefix size is not 1..4";
    case T_TIME2:
    case T_DATETIME2:
    case T_TIMESTAMP2:
    case T_TIME:
    case T_DATETIME:
    case T_TIMESTAMP: return m <= 6 ? NULL : "fractional precision above 6";
    case T_ENUM: return m == 1 || m == 2 ? NULL : "ENUM pack length is not 1 or 2";
    case T_SET: return m >= 1 && m <= 8 ? NULL : "SET pack length is not 1..8";
    case T_BIT:
        if ((m & 0xff) > 7 || (m >> 8) > 8 || (m >> 8) * 8 + (m & 0xff) > 64 || m == 0) return "bad BIT length";
        return NULL;
    case T_NEWDECIMAL: {
        int prec = m >> 8, scale = m & 0xff;
        return prec >= 1 && prec <= 65 && scale <= 30 && scale <= prec ? NULL : "bad DECIMAL precision/scale";
    }
    default: return NULL;
    }
}

int sl_my_parse_meta(const uint8_t *types, int ncols, const uint8_t *meta, size_t meta_len, sl_my_col *cols,
                     char *errstr, size_t errstr_size) {
    if (ncols < 1 || ncols > SL_MY_MAX_COLS) {
        fail(errstr, errstr_size, "table map: %d columns (limit %d)", ncols, SL_MY_MAX_COLS);
        return -1;
    }
    cur c = {meta, meta_len, 0};
    for (int i = 0; i < ncols; i++) {
        uint8_t t = types[i];
        uint64_t m = 0;
        const uint8_t *b;
        if (t > T_TIME2 && t < T_JSON) {
            fail(errstr, errstr_size, "table map: column %d: unsupported binlog type %u", i, t);
            return -1;
        }
        int k = meta_size(t);
        if (!take(&c, (size_t)k, &b)) {
            fail(errstr, errstr_size, "table map: metadata ends at column %d (type %u)", i, t);
            return -1;
        }
        if (t == T_STRING) {
            /* byte 0: real type, with bits 4-5 inverted and reused as bits 8-9 of a length > 255 */
            uint8_t real = b[0];
            if ((real & 0x30) != 0x30) {
                m = (uint64_t)(((real & 0x30) ^ 0x30) << 4 | b[1]);
                real |= 0x30;
            } else {
                m = b[1];
            }
            if (real == T_ENUM || real == T_SET) t = real;
            else if (real != T_STRING) {
                fail(errstr, errstr_size, "table map: column %d: CHAR with unknown real type %u", i, real);
                return -1;
            }
        } else if (t == T_NEWDECIMAL) {
            m = (uint64_t)b[0] << 8 | b[1];
        } else {
            m = le(b, k); /* VARCHAR and BIT: little-endian */
        }
        const char *why = meta_problem(t, (uint16_t)m);
        if (why) {
            fail(errstr, errstr_size, "table map: column %d: %s (metadata %llu)", i, why, (unsigned long long)m);
            return -1;
        }
        cols[i].type = t;
        cols[i].meta = (uint16_t)m;
    }
    if (left(&c)) {
        fail(errstr, errstr_size, "table map: %zu bytes of metadata left after %d columns", left(&c), ncols);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Optional metadata
 */

typedef struct omctx {
    sl_my_col *cols;
    int ncols;
    sl_arena *arena;
    char *errstr;
    size_t errstr_size;
    bool saw_charset;       /* a charset field was present: recompute cols[].binary */
    uint8_t *new_labels;    /* per column: labels parsed by this call (to convert from latin1) */
} omctx;

static int om_fail(omctx *x, const char *what) {
    fail(x->errstr, x->errstr_size, "table map optional metadata: %s", what);
    return -1;
}

/*
 * One bit per numeric column, most significant bit first. MariaDB counts
 * YEAR as a (unsigned) numeric column, MySQL does not: when the two
 * countings need different byte counts the field's length decides, else
 * MariaDB's counting is assumed.
 */
static int om_signedness(omctx *x, cur *f) {
    int n_all = 0, n_noyear = 0;
    for (int i = 0; i < x->ncols; i++)
        n_all += is_numeric(x->cols[i].type, true), n_noyear += is_numeric(x->cols[i].type, false);
    bool with_year = f->n >= (size_t)(n_all + 7) / 8;
    if (!with_year && f->n < (size_t)(n_noyear + 7) / 8)
        return om_fail(x, "SIGNEDNESS shorter than the numeric columns");
    for (int i = 0, k = 0; i < x->ncols; i++) {
        if (!is_numeric(x->cols[i].type, with_year)) continue;
        x->cols[i].is_unsigned = (f->p[k / 8] >> (7 - k % 8)) & 1;
        x->cols[i].known |= SL_MY_KNOWN_SIGN;
        k++;
    }
    return 0;
}

static bool charset_listed(const sl_my_col *c, bool enum_set) {
    return enum_set ? c->type == T_ENUM || c->type == T_SET : is_character(c->type);
}

/* DEFAULT_CHARSET-style field: default collation, then (index, collation) pairs for the exceptions. */
static int om_default_charset(omctx *x, cur *f, bool enum_set) {
    uint64_t def, idx, coll;
    int listed[SL_MY_MAX_COLS], n = 0; /* column index of each listed column */
    if (!get_packed(f, &def)) return om_fail(x, "bad default charset");
    for (int i = 0; i < x->ncols; i++)
        if (charset_listed(&x->cols[i], enum_set)) {
            x->cols[i].charset = (uint32_t)def, listed[n++] = i;
            if (!enum_set) x->cols[i].known |= SL_MY_KNOWN_CHARSET;
        }
    while (left(f)) {
        if (!get_packed(f, &idx) || !get_packed(f, &coll)) return om_fail(x, "bad charset exception");
        if (idx >= (uint64_t)n) return om_fail(x, "charset exception for a column that does not exist");
        x->cols[listed[idx]].charset = (uint32_t)coll;
    }
    return 0;
}

/* COLUMN_CHARSET-style field: one collation per character (or enum/set) column. */
static int om_column_charset(omctx *x, cur *f, bool enum_set) {
    for (int i = 0; i < x->ncols; i++) {
        sl_my_col *c = &x->cols[i];
        if (!charset_listed(c, enum_set)) continue;
        uint64_t coll;
        if (!get_packed(f, &coll)) return om_fail(x, "COLUMN_CHARSET shorter than the character columns");
        c->charset = (uint32_t)coll;
        if (!enum_set) c->known |= SL_MY_KNOWN_CHARSET;
    }
    return left(f) ? om_fail(x, "COLUMN_CHARSET longer than the character columns") : 0;
}

static bool get_str(cur *f, sl_arena *a, const char **out, size_t *lenp) {
    uint64_t len;
    const uint8_t *b;
    if (!get_packed(f, &len) || len > left(f) || !take(f, (size_t)len, &b)) return false;
    *out = sl_arena_strndup(a, (const char *)b, (size_t)len);
    if (lenp) *lenp = (size_t)len;
    return true;
}

static int om_names(omctx *x, cur *f) {
    for (int i = 0; i < x->ncols; i++)
        if (!get_str(f, x->arena, &x->cols[i].name, NULL)) return om_fail(x, "bad COLUMN_NAME");
    return left(f) ? om_fail(x, "COLUMN_NAME has more names than columns") : 0;
}

static int om_labels(omctx *x, cur *f, uint8_t type) {
    for (int i = 0; i < x->ncols; i++) {
        sl_my_col *c = &x->cols[i];
        if (c->type != type) continue;
        uint64_t n;
        /* each label takes at least its length byte: bounds the allocation */
        if (!get_packed(f, &n) || n > left(f) || n > (type == T_SET ? MAX_SET_LABELS : MAX_ENUM_LABELS))
            return om_fail(x, "bad ENUM/SET label count");
        const char **labels = sl_arena_alloc(x->arena, (n ? n : 1) * sizeof *labels);
        for (uint64_t k = 0; k < n; k++)
            if (!get_str(f, x->arena, &labels[k], NULL)) return om_fail(x, "bad ENUM/SET label");
        c->labels = labels;
        c->nlabels = (int)n;
        x->new_labels[i] = 1;
    }
    return left(f) ? om_fail(x, "ENUM/SET labels for more columns than the table has") : 0;
}

static int om_geometry(omctx *x, cur *f) {
    for (int i = 0; i < x->ncols; i++) {
        uint64_t gt;
        if (x->cols[i].type == T_GEOMETRY && !get_packed(f, &gt)) return om_fail(x, "bad GEOMETRY_TYPE");
    }
    return 0;
}

static int om_pk(omctx *x, cur *f, bool with_prefix, int **pk_out, int *npk) {
    int *pk = sl_arena_alloc(x->arena, (left(f) ? left(f) : 1) * sizeof *pk), n = 0;
    while (left(f)) {
        uint64_t idx, prefix;
        if (!get_packed(f, &idx) || (with_prefix && !get_packed(f, &prefix))) return om_fail(x, "bad primary key");
        if (idx >= (uint64_t)x->ncols) return om_fail(x, "primary key column out of range");
        pk[n++] = (int)idx;
    }
    if (pk_out) *pk_out = pk;
    if (npk) *npk = n;
    return 0;
}

/* latin1 (MySQL's cp1252; the five holes map to C1 controls, as the server converts them) */
static const uint16_t cp1252_80[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

static size_t latin1_to_utf8(const uint8_t *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = s[i] >= 0x80 && s[i] < 0xa0 ? cp1252_80[s[i] - 0x80] : s[i];
        if (u < 0x80) out[o++] = (char)u;
        else if (u < 0x800) out[o++] = (char)(0xc0 | u >> 6), out[o++] = (char)(0x80 | (u & 0x3f));
        else {
            out[o++] = (char)(0xe0 | u >> 12);
            out[o++] = (char)(0x80 | ((u >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (u & 0x3f));
        }
    }
    return o;
}

/* Latin-1 labels become UTF-8 once every field (charsets come in any order) has been read. */
static void labels_to_utf8(omctx *x) {
    for (int i = 0; i < x->ncols; i++) {
        sl_my_col *c = &x->cols[i];
        if (!x->new_labels[i] || !is_latin1(c->charset)) continue;
        const char **l = (const char **)c->labels;
        for (int k = 0; k < c->nlabels; k++) {
            size_t n = strlen(l[k]);
            char *u = sl_arena_alloc(x->arena, 3 * n + 1);
            u[latin1_to_utf8((const uint8_t *)l[k], n, u)] = 0;
            l[k] = u;
        }
    }
}

int sl_my_parse_optional_meta(const uint8_t *p, size_t len, sl_my_col *cols, int ncols, sl_arena *arena,
                              int **pk_out, int *npk, char *errstr, size_t errstr_size) {
    omctx x = {cols, ncols, arena, errstr, errstr_size, false, NULL};
    if (pk_out) *pk_out = NULL;
    if (npk) *npk = 0;
    if (ncols < 1 || ncols > SL_MY_MAX_COLS) return om_fail(&x, "bad column count");
    x.new_labels = sl_arena_alloc(arena, (size_t)ncols);
    memset(x.new_labels, 0, (size_t)ncols);
    cur c = {p, len, 0};
    while (left(&c)) {
        uint8_t type = p[c.i++];
        uint64_t flen;
        const uint8_t *body;
        if (!get_packed(&c, &flen) || flen > left(&c) || !take(&c, (size_t)flen, &body))
            return om_fail(&x, "field length runs past the event");
        cur f = {body, (size_t)flen, 0};
        int rc = 0;
        switch (type) {
        case OM_SIGNEDNESS: rc = om_signedness(&x, &f); break;
        case OM_DEFAULT_CHARSET: rc = om_default_charset(&x, &f, false); break;
        case OM_COLUMN_CHARSET: rc = om_column_charset(&x, &f, false); break;
        case OM_COLUMN_NAME: rc = om_names(&x, &f); break;
        case OM_SET_STR_VALUE: rc = om_labels(&x, &f, T_SET); break;
        case OM_ENUM_STR_VALUE: rc = om_labels(&x, &f, T_ENUM); break;
        case OM_GEOMETRY_TYPE: rc = om_geometry(&x, &f); break;
        case OM_SIMPLE_PRIMARY_KEY: rc = om_pk(&x, &f, false, pk_out, npk); break;
        case OM_PRIMARY_KEY_WITH_PREFIX: rc = om_pk(&x, &f, true, pk_out, npk); break;
        case OM_ENUM_AND_SET_DEFAULT_CHARSET: rc = om_default_charset(&x, &f, true); break;
        case OM_ENUM_AND_SET_COLUMN_CHARSET: rc = om_column_charset(&x, &f, true); break;
        default: break; /* COLUMN_VISIBILITY and later additions: not needed */
        }
        if (rc) return rc;
        x.saw_charset |= type == OM_DEFAULT_CHARSET || type == OM_COLUMN_CHARSET;
    }
    for (int i = 0; x.saw_charset && i < ncols; i++)
        if (is_character(cols[i].type)) cols[i].binary = cols[i].charset == BINARY_COLLATION;
    labels_to_utf8(&x);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Values
 */

typedef struct dctx {
    const sl_my_col *col;
    int idx;
    sl_arena *arena;
    char *errstr;
    size_t errstr_size;
} dctx;

static int bad(dctx *d, const char *fmt, ...) {
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fail(d->errstr, d->errstr_size, "row image: column %d (%s, type %u): %s", d->idx, col_name(d->col),
         d->col->type, what);
    return -1;
}

static int truncated(dctx *d) { return bad(d, "value truncated"); }

static void emit(dctx *d, sl_cell *cell, const char *s, size_t n) {
    cell->data = sl_arena_memdup(d->arena, s, n);
    cell->len = (uint32_t)n;
    cell->flags = 0;
}

static int emit_fmt(dctx *d, sl_cell *cell, const char *fmt, ...) {
    char buf[96];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf) return bad(d, "formatting failed");
    emit(d, cell, buf, (size_t)n);
    return 0;
}

static int dec_int(dctx *d, cur *c, int k, sl_cell *cell) {
    uint64_t v;
    if (!get_le(c, k, &v)) return truncated(d);
    if (d->col->is_unsigned) return emit_fmt(d, cell, "%llu", (unsigned long long)v);
    int shift = 64 - 8 * k;
    int64_t s = (int64_t)(v << shift) >> shift; /* sign-extend */
    return emit_fmt(d, cell, "%lld", (long long)s);
}

/* Shortest decimal that reads back to the same float/double. */
static int dec_float(dctx *d, cur *c, bool dbl, sl_cell *cell) {
    uint64_t bits;
    char buf[40];
    if (!get_le(c, dbl ? 8 : 4, &bits)) return truncated(d);
    double v;
    if (dbl) {
        memcpy(&v, &bits, 8);
    } else {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, 4);
        v = f;
    }
    if (!isfinite(v)) return bad(d, "not a finite number");
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (dbl ? strtod(buf, NULL) == v : strtof(buf, NULL) == (float)v) break;
    }
    emit(d, cell, buf, strlen(buf));
    return 0;
}

/*
 * NEWDECIMAL: groups of 9 digits in 4 big-endian bytes, the leftover
 * leading integer digits and trailing fraction digits in 1-4 bytes
 * (dig2bytes); the sign is the inverted top bit of the first byte and a
 * negative number has all bytes inverted.
 */
static const int dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
static const uint32_t pow10_9[10] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};

static void put_group(char *out, size_t *o, uint32_t v, int digits) {
    for (int i = digits - 1; i >= 0; i--) out[*o + (size_t)i] = (char)('0' + v % 10), v /= 10;
    *o += (size_t)digits;
}

static int dec_decimal(dctx *d, cur *c, sl_cell *cell) {
    int prec = d->col->meta >> 8, scale = d->col->meta & 0xff;
    int intg = prec - scale, intg0 = intg / 9, intg0x = intg % 9, frac0 = scale / 9, frac0x = scale % 9;
    size_t size = (size_t)(intg0 * 4 + dig2bytes[intg0x] + frac0 * 4 + dig2bytes[frac0x]);
    const uint8_t *src;
    uint8_t b[40];
    if (!take(c, size, &src)) return truncated(d);
    memcpy(b, src, size);
    bool neg = !(b[0] & 0x80);
    b[0] ^= 0x80;
    if (neg)
        for (size_t i = 0; i < size; i++) b[i] = (uint8_t)~b[i];
    /* all digits: the integer part zero-padded to intg, then the fraction */
    struct { int count, ndig; } seq[4] = {{intg0x > 0, intg0x}, {intg0, 9}, {frac0, 9}, {frac0x > 0, frac0x}};
    char digits[80];
    size_t o = 0, at = 0;
    for (int g = 0; g < 4; g++) {
        for (int k = 0; k < seq[g].count; k++) {
            int nb = dig2bytes[seq[g].ndig];
            uint32_t v = (uint32_t)be(b + at, nb);
            at += (size_t)nb;
            if (v >= pow10_9[seq[g].ndig]) return bad(d, "corrupt DECIMAL digits");
            put_group(digits, &o, v, seq[g].ndig);
        }
    }
    char out[84];
    size_t n = 0, lead = 0, nint = (size_t)intg;
    while (lead + 1 < nint && digits[lead] == '0') lead++;
    bool zero = true;
    for (size_t i = 0; i < o; i++) zero = zero && digits[i] == '0';
    if (neg && !zero) out[n++] = '-';
    if (nint == 0) out[n++] = '0';
    memcpy(out + n, digits + lead, nint - lead), n += nint - lead;
    if (scale) {
        out[n++] = '.';
        memcpy(out + n, digits + nint, (size_t)scale), n += (size_t)scale;
    }
    emit(d, cell, out, n);
    return 0;
}

/* "" or "." and the first fsp (1..6) digits of the microseconds us; buf has room for 8. */
static void frac_text(char *buf, int fsp, uint32_t us) {
    buf[0] = '.';
    for (int i = 6; i >= 1; i--, us /= 10) buf[i] = (char)('0' + us % 10);
    buf[fsp > 0 ? fsp + 1 : 0] = 0;
}

/* Microseconds from the fsp bytes of the MySQL 5.6 temporal types. */
static bool get_frac56(cur *c, int fsp, int64_t *us) {
    uint64_t v = 0;
    int nb = (fsp + 1) / 2;
    if (nb && !get_be(c, nb, &v)) return false;
    *us = (int64_t)v * (nb == 1 ? 10000 : nb == 2 ? 100 : 1);
    return true;
}

static int put_datetime(dctx *d, sl_cell *cell, int64_t y, int64_t mo, int64_t da, int64_t h, int64_t mi, int64_t s,
                        int64_t us, int fsp, const char *suffix) {
    char fr[8];
    if (y < 0 || y > 9999 || mo > 12 || da > 31 || h > 23 || mi > 59 || s > 59 || us < 0 || us > 999999 ||
        mo < 0 || da < 0 || h < 0 || mi < 0 || s < 0)
        return bad(d, "date/time out of range");
    frac_text(fr, fsp, (uint32_t)us);
    return emit_fmt(d, cell, "%04d-%02d-%02d %02d:%02d:%02d%s%s", (int)y, (int)mo, (int)da, (int)h, (int)mi, (int)s,
                    fr, suffix);
}

static int put_time(dctx *d, sl_cell *cell, bool neg, int64_t h, int64_t mi, int64_t s, int64_t us, int fsp) {
    char fr[8];
    if (h < 0 || h > 1023 || mi < 0 || mi > 59 || s < 0 || s > 59 || us < 0 || us > 999999)
        return bad(d, "time out of range");
    frac_text(fr, fsp, (uint32_t)us);
    return emit_fmt(d, cell, "%s%02d:%02d:%02d%s", neg ? "-" : "", (int)h, (int)mi, (int)s, fr);
}

/* Days since 1970-01-01 → proleptic Gregorian date. */
static void civil(int64_t z, int64_t *y, int64_t *m, int64_t *dd) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    *dd = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

static int put_timestamp(dctx *d, sl_cell *cell, uint64_t secs, int64_t us, int fsp) {
    if (secs == 0 && us == 0) return emit_fmt(d, cell, "0000-00-00 00:00:00+00");
    int64_t y, mo, da, t = (int64_t)secs;
    civil(t / 86400, &y, &mo, &da);
    t %= 86400;
    return put_datetime(d, cell, y, mo, da, t / 3600, t / 60 % 60, t % 60, us, fsp, "+00");
}

static int dec_time2(dctx *d, cur *c, int fsp, sl_cell *cell) {
    uint64_t v;
    int64_t packed, ip, fr;
    if (fsp >= 5) {
        if (!get_be(c, 6, &v)) return truncated(d);
        packed = (int64_t)v - 0x800000000000LL;
    } else {
        if (!get_be(c, 3, &v)) return truncated(d);
        ip = (int64_t)v - 0x800000;
        int nb = (fsp + 1) / 2;
        uint64_t f = 0;
        if (nb && !get_be(c, nb, &f)) return truncated(d);
        fr = (int64_t)f;
        if (ip < 0 && fr) ip++, fr -= nb == 1 ? 0x100 : 0x10000; /* negative: the fraction counts down */
        packed = ip * (1LL << 24) + fr * (nb == 1 ? 10000 : 100);
    }
    bool neg = packed < 0;
    uint64_t a = neg ? (uint64_t)-packed : (uint64_t)packed, hms = a >> 24;
    return put_time(d, cell, neg, (int64_t)(hms >> 12 & 0x3ff), (int64_t)(hms >> 6 & 63), (int64_t)(hms & 63),
                    (int64_t)(a & 0xffffff), fsp);
}

static int dec_datetime2(dctx *d, cur *c, int fsp, sl_cell *cell) {
    uint64_t v;
    int64_t us;
    if (!get_be(c, 5, &v) || !get_frac56(c, fsp, &us)) return truncated(d);
    if (v < 0x8000000000ULL) return bad(d, "negative DATETIME");
    v -= 0x8000000000ULL;
    uint64_t ym = v >> 22;
    return put_datetime(d, cell, (int64_t)(ym / 13), (int64_t)(ym % 13), (int64_t)(v >> 17 & 31),
                        (int64_t)(v >> 12 & 31), (int64_t)(v >> 6 & 63), (int64_t)(v & 63), us, fsp, "");
}

static int dec_timestamp2(dctx *d, cur *c, int fsp, sl_cell *cell) {
    uint64_t secs;
    int64_t us;
    if (!get_be(c, 4, &secs) || !get_frac56(c, fsp, &us)) return truncated(d);
    return put_timestamp(d, cell, secs, us, fsp);
}

/* MariaDB 5.3 hires formats: big-endian value scaled to dec digits (sec_part_shift). */
static const int time_hires_bytes[7] = {3, 4, 4, 5, 5, 5, 6};
static const int datetime_hires_bytes[7] = {5, 6, 6, 7, 7, 7, 8};
static const int sec_part_bytes[7] = {0, 1, 1, 2, 2, 3, 3};

static int dec_time_old(dctx *d, cur *c, int fsp, sl_cell *cell) {
    uint64_t v;
    if (fsp == 0) { /* 3-byte signed HHMMSS */
        if (!get_le(c, 3, &v)) return truncated(d);
        int64_t s = (int64_t)(v << 40) >> 40, a = s < 0 ? -s : s;
        return put_time(d, cell, s < 0, a / 10000, a / 100 % 100, a % 100, 0, 0);
    }
    if (!get_be(c, time_hires_bytes[fsp], &v)) return truncated(d);
    int64_t x = (int64_t)v - 3020400LL * pow10_9[fsp], a = x < 0 ? -x : x; /* zero point: 838:59:59 + 1 s */
    int64_t secs = a / pow10_9[fsp], us = a % pow10_9[fsp] * pow10_9[6 - fsp];
    return put_time(d, cell, x < 0, secs / 3600, secs / 60 % 60, secs % 60, us, fsp);
}

static int dec_datetime_old(dctx *d, cur *c, int fsp, sl_cell *cell) {
    uint64_t v;
    if (fsp == 0) { /* 8-byte YYYYMMDDhhmmss */
        if (!get_le(c, 8, &v)) return truncated(d);
        uint64_t dt = v / 1000000, tm = v % 1000000;
        return put_datetime(d, cell, (int64_t)(dt / 10000), (int64_t)(dt / 100 % 100), (int64_t)(dt % 100),
                            (int64_t)(tm / 10000), (int64_t)(tm / 100 % 100), (int64_t)(tm % 100), 0, 0, "");
    }
    if (!get_be(c, datetime_hires_bytes[fsp], &v)) return truncated(d);
    int64_t us = (int64_t)(v % pow10_9[fsp] * pow10_9[6 - fsp]);
    uint64_t t = v / pow10_9[fsp];
    int64_t s = (int64_t)(t % 60), mi = (int64_t)(t / 60 % 60), h = (int64_t)(t / 3600 % 24);
    t /= 86400;
    return put_datetime(d, cell, (int64_t)(t / 32 / 13), (int64_t)(t / 32 % 13), (int64_t)(t % 32), h, mi, s, us,
                        fsp, "");
}

static int dec_timestamp_old(dctx *d, cur *c, int fsp, sl_cell *cell) {
    uint64_t secs, frac = 0;
    if (fsp == 0) {
        if (!get_le(c, 4, &secs)) return truncated(d);
    } else if (!get_be(c, 4, &secs) || !get_be(c, sec_part_bytes[fsp], &frac)) {
        return truncated(d);
    }
    if (frac >= pow10_9[fsp]) return bad(d, "fraction out of range");
    return put_timestamp(d, cell, secs, (int64_t)(frac * pow10_9[6 - fsp]), fsp);
}

static int dec_date(dctx *d, cur *c, sl_cell *cell) {
    uint64_t v;
    if (!get_le(c, 3, &v)) return truncated(d);
    int64_t da = (int64_t)(v & 31), mo = (int64_t)(v >> 5 & 15), y = (int64_t)(v >> 9);
    if (mo > 12) return bad(d, "month out of range");
    return emit_fmt(d, cell, "%04d-%02d-%02d", (int)y, (int)mo, (int)da);
}

static int dec_bit(dctx *d, cur *c, sl_cell *cell) {
    int nbits = (d->col->meta >> 8) * 8 + (d->col->meta & 0xff), nbytes = (nbits + 7) / 8;
    uint64_t v;
    char s[64];
    if (!get_be(c, nbytes, &v)) return truncated(d);
    for (int i = 0; i < nbits; i++) s[i] = (char)('0' + (v >> (nbits - 1 - i) & 1));
    emit(d, cell, s, (size_t)nbits);
    return 0;
}

static int dec_enum(dctx *d, cur *c, sl_cell *cell) {
    uint64_t v;
    if (!get_le(c, d->col->meta, &v)) return truncated(d);
    if (v == 0) return emit(d, cell, "", 0), 0;
    if (v > (uint64_t)d->col->nlabels || !d->col->labels)
        return bad(d, "ENUM index %llu but %d labels", (unsigned long long)v, d->col->nlabels);
    const char *l = d->col->labels[v - 1];
    emit(d, cell, l, strlen(l));
    return 0;
}

static int dec_set(dctx *d, cur *c, sl_cell *cell) {
    uint64_t v;
    if (!get_le(c, d->col->meta, &v)) return truncated(d);
    int nl = d->col->nlabels;
    if (nl < 0 || (nl < 64 && v >> nl) || (nl && !d->col->labels))
        return bad(d, "SET bits 0x%llx but %d labels", (unsigned long long)v, nl);
    size_t n = 0;
    for (int i = 0; i < nl && i < 64; i++)
        if (v >> i & 1) n += strlen(d->col->labels[i]) + 1;
    char *s = sl_arena_alloc(d->arena, n ? n : 1);
    size_t o = 0;
    for (int i = 0; i < nl && i < 64; i++) {
        if (!(v >> i & 1)) continue;
        if (o) s[o++] = ',';
        size_t k = strlen(d->col->labels[i]);
        memcpy(s + o, d->col->labels[i], k), o += k;
    }
    cell->data = s, cell->len = (uint32_t)o, cell->flags = 0;
    return 0;
}

/*
 * Strings and blobs: length prefix of `pfx` bytes, then at most `max` bytes
 * (0: no limit but the prefix); latin1 text becomes UTF-8.
 */
static int dec_bytes(dctx *d, cur *c, int pfx, size_t max, size_t pad_to, sl_cell *cell) {
    uint64_t n;
    const uint8_t *b;
    if (!get_le(c, pfx, &n)) return truncated(d);
    if (max && n > max) return bad(d, "length %llu above the column's %zu", (unsigned long long)n, max);
    if (n > left(c)) return bad(d, "length %llu but %zu bytes left", (unsigned long long)n, left(c));
    take(c, (size_t)n, &b);
    const sl_my_col *col = d->col;
    if (!col->binary && is_latin1(col->charset)) {
        if (n > UINT32_MAX / 3) return bad(d, "value too long");
        char *s = sl_arena_alloc(d->arena, (size_t)n * 3 + 1);
        cell->len = (uint32_t)latin1_to_utf8(b, (size_t)n, s);
        cell->data = s, cell->flags = 0;
        return 0;
    }
    if (n > UINT32_MAX) return bad(d, "value too long");
    if (n < pad_to) { /* BINARY(n): the server strips trailing zero bytes, the value has them */
        char *s = sl_arena_alloc(d->arena, pad_to);
        memcpy(s, b, (size_t)n);
        memset(s + n, 0, pad_to - (size_t)n);
        cell->data = s, cell->len = (uint32_t)pad_to, cell->flags = 0;
        return 0;
    }
    emit(d, cell, (const char *)b, (size_t)n);
    return 0;
}

static int decode_value(dctx *d, cur *c, sl_cell *cell) {
    const sl_my_col *col = d->col;
    const char *why = meta_problem(col->type, col->meta);
    if (why) return bad(d, "%s", why);
    int fsp = col->meta;
    switch (col->type) {
    case T_TINY: return dec_int(d, c, 1, cell);
    case T_SHORT: return dec_int(d, c, 2, cell);
    case T_INT24: return dec_int(d, c, 3, cell);
    case T_LONG: return dec_int(d, c, 4, cell);
    case T_LONGLONG: return dec_int(d, c, 8, cell);
    case T_FLOAT: return dec_float(d, c, false, cell);
    case T_DOUBLE: return dec_float(d, c, true, cell);
    case T_NEWDECIMAL: return dec_decimal(d, c, cell);
    case T_YEAR: {
        uint64_t v;
        if (!get_le(c, 1, &v)) return truncated(d);
        return emit_fmt(d, cell, "%d", v ? (int)v + 1900 : 0);
    }
    case T_DATE:
    case T_NEWDATE: return dec_date(d, c, cell);
    case T_TIME2: return dec_time2(d, c, fsp, cell);
    case T_DATETIME2: return dec_datetime2(d, c, fsp, cell);
    case T_TIMESTAMP2: return dec_timestamp2(d, c, fsp, cell);
    case T_TIME: return dec_time_old(d, c, fsp, cell);
    case T_DATETIME: return dec_datetime_old(d, c, fsp, cell);
    case T_TIMESTAMP: return dec_timestamp_old(d, c, fsp, cell);
    case T_BIT: return dec_bit(d, c, cell);
    case T_ENUM: return dec_enum(d, c, cell);
    case T_SET: return dec_set(d, c, cell);
    case T_STRING: return dec_bytes(d, c, col->meta > 255 ? 2 : 1, col->meta, col->binary ? col->meta : 0, cell);
    case T_VARCHAR:
    case T_VAR_STRING: return dec_bytes(d, c, col->meta > 255 ? 2 : 1, col->meta, 0, cell);
    case T_BLOB:
    case T_TINY_BLOB:
    case T_MEDIUM_BLOB:
    case T_LONG_BLOB:
    case T_GEOMETRY: return dec_bytes(d, c, col->meta, 0, 0, cell);
    case T_JSON: return bad(d, "MySQL binary JSON is not supported");
    default: return bad(d, "unsupported binlog type");
    }
}

long sl_my_decode_row(const sl_my_col *cols, int ncols, const uint8_t *present, int present_bits, const uint8_t *p,
                      size_t len, sl_arena *arena, sl_cell *cells, char *errstr, size_t errstr_size) {
    if (ncols < 1 || ncols > SL_MY_MAX_COLS) {
        fail(errstr, errstr_size, "row image: %d columns (limit %d)", ncols, SL_MY_MAX_COLS);
        return -1;
    }
    if (present_bits != ncols) { /* the rows event's own column count against its table map's */
        fail(errstr, errstr_size, "row image: the rows event has %d columns, its table map %d", present_bits, ncols);
        return -1;
    }
    int npresent = 0;
    for (int i = 0; i < ncols; i++) npresent += present[i / 8] >> (i % 8) & 1;
    cur c = {p, len, 0};
    const uint8_t *nulls;
    if (!take(&c, (size_t)(npresent + 7) / 8, &nulls)) {
        fail(errstr, errstr_size, "row image: truncated null bitmap");
        return -1;
    }
    for (int i = 0, k = 0; i < ncols; i++) {
        sl_cell *cell = &cells[i];
        if (!(present[i / 8] >> (i % 8) & 1)) {
            cell->data = NULL, cell->len = 0, cell->flags = SL_CELL_UNCHANGED;
            continue;
        }
        bool is_null = nulls[k / 8] >> (k % 8) & 1;
        k++;
        if (is_null) {
            cell->data = NULL, cell->len = 0, cell->flags = SL_CELL_NULL;
            continue;
        }
        dctx d = {&cols[i], i, arena, errstr, errstr_size};
        if (decode_value(&d, &c, cell)) return -1;
    }
    return (long)c.i;
}

sl_ctype sl_my_ctype(const sl_my_col *c) {
    switch (c->type) {
    case T_TINY: return SL_T_INT16;
    case T_SHORT: return c->is_unsigned ? SL_T_INT32 : SL_T_INT16;
    case T_INT24: return SL_T_INT32;
    case T_LONG: return c->is_unsigned ? SL_T_INT64 : SL_T_INT32;
    case T_LONGLONG: return SL_T_INT64;
    case T_FLOAT: return SL_T_FLOAT32;
    case T_DOUBLE: return SL_T_FLOAT64;
    case T_DECIMAL:
    case T_NEWDECIMAL: return SL_T_NUMERIC;
    case T_DATE:
    case T_NEWDATE: return SL_T_DATE;
    case T_TIME:
    case T_TIME2: return SL_T_TIME;
    case T_DATETIME:
    case T_DATETIME2: return SL_T_TIMESTAMP;
    case T_TIMESTAMP:
    case T_TIMESTAMP2: return SL_T_TIMESTAMPTZ;
    case T_YEAR: return SL_T_YEAR;
    case T_BIT: return SL_T_BIT;
    case T_ENUM: return SL_T_ENUM;
    case T_SET: return SL_T_SET;
    case T_JSON: return SL_T_JSON;
    case T_GEOMETRY: return SL_T_GEOMETRY;
    case T_STRING:
    case T_VARCHAR:
    case T_VAR_STRING:
    case T_BLOB:
    case T_TINY_BLOB:
    case T_MEDIUM_BLOB:
    case T_LONG_BLOB: return c->binary ? SL_T_BYTES : SL_T_STRING;
    default: return SL_T_UNKNOWN;
    }
}
