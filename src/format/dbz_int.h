/*
 * What the pieces of the Debezium JSON encoder share (internal to
 * src/format/dbz_*.c; the public interface is format/dbz_json.h):
 *
 *   dbz_envelope.c  key, value and topic of a record, the source block,
 *                   transaction, heartbeat, message and schema change events
 *   dbz_schema.c    Connect schemas: column fields, the table key/envelope
 *                   schemas (cached on the sl_table), source/transaction blocks
 *   dbz_value.c     one cell's value: the value dispatcher, arrays, NULL
 *                   fallbacks, unchanged values
 *   dbz_column.c    column classification (which type mapping a column gets)
 *   dbz_time.c      the date/time text readers both dialects use
 *   dbz_num.c       numbers (integers, Java floating point, decimals) and
 *                   bit strings
 *   dbz_pg.c        PostgreSQL value forms (money, bytea, date/time, interval,
 *                   point, hstore, unchanged TOAST placeholders)
 *   dbz_binlog.c    MySQL / MariaDB binlog value forms
 */
#ifndef SL_FORMAT_DBZ_INT_H
#define SL_FORMAT_DBZ_INT_H
#include "format/dbz_json.h"
#include "util/civil.h"
#include <stdint.h>
#include <string.h>

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

static inline void dbz_put_str(sl_buf *b, const char *s) { sl_buf_put_json_str(b, s ? s : "", s ? strlen(s) : 0); }

static inline void dbz_put_bool(sl_buf *b, bool v) { sl_buf_puts(b, v ? "true" : "false"); }

static inline bool dbz_is_digit(char c) { return c >= '0' && c <= '9'; }

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

static inline void dbz_bs_flush(bsink *s) {
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

static inline void dbz_bs_begin(bsink *s, sl_buf *out, bs_mode mode) {
    s->out = out, s->mode = mode, s->n = 0;
    sl_buf_putc(out, '"');
}
static inline void dbz_bs_byte(bsink *s, uint8_t v) {
    s->buf[s->n++] = v;
    if (s->n == sizeof s->buf) dbz_bs_flush(s);
}
static inline void dbz_bs_end(bsink *s) {
    dbz_bs_flush(s);
    sl_buf_putc(s->out, '"');
}

static inline bs_mode dbz_bin_mode(const sl_dbz_opts *o) {
    return o->binary_mode == SL_BIN_HEX ? BS_HEX : o->binary_mode == SL_BIN_BASE64_URL ? BS_B64URL : BS_B64;
}

/* ---------------------------------------------------------------------------
 * Column classification (dbz_column.c)
 */

/* MySQL / MariaDB (binlog) cells. */
static inline bool dbz_is_binlog(const sl_dbz_opts *o) { return o->dialect != SL_DBZ_PG; }
/* MariaDB's JSON is LONGTEXT with a json_valid() check: Debezium's MariaDB connector sees a plain string. */
static inline bool dbz_is_mariadb(const sl_dbz_opts *o) { return o->dialect == SL_DBZ_MARIADB; }
bool dbz_is_variable_numeric(const sl_column *c);
int dbz_my_fsp(const sl_column *c);
bool dbz_type_is(const sl_column *c, const char *name);
bool dbz_is_my_ubigint(const sl_dbz_opts *o, const sl_column *c);
bool dbz_is_my_point(const sl_column *c);
typedef enum { PGX_NONE, PGX_HSTORE, PGX_LTREE, PGX_TSVECTOR } dbz_pg_ext;
dbz_pg_ext dbz_pg_ext_type(const sl_dbz_opts *o, const sl_column *c);
int dbz_frac_digits(const sl_column *c);
int64_t dbz_bits_length(const sl_column *c);
bool dbz_has_array_oid(const sl_column *c, uint32_t oid, const char *name);
bool dbz_column_omitted(const sl_column *c);


/* ---------------------------------------------------------------------------
 * Date and time text (DateStyle ISO; dbz_time.c)
 */

typedef struct dbz_cur {
    const char *s;
    size_t n, i;
} dbz_cur;

bool dbz_cur_num(dbz_cur *c, int min, int max, int64_t *v);
bool dbz_cur_ch(dbz_cur *c, char ch);
bool dbz_cur_lit(dbz_cur *c, const char *lit);
bool dbz_cur_end(const dbz_cur *c);
bool dbz_parse_ymd(dbz_cur *c, int64_t *y, int64_t *m, int64_t *d);
bool dbz_parse_hms(dbz_cur *c, int64_t *ns);
bool dbz_parse_offset(dbz_cur *c, int64_t *secs);
enum { TS_FINITE, TS_PINF, TS_NINF };
bool dbz_parse_timestamp(const char *s, size_t n, bool with_tz, bool date_only, int *kind, int64_t *us);

/* ---------------------------------------------------------------------------
 * Numbers and bit strings (dbz_num.c)
 */

enum { MAXSIG = 40 };

/* Significant digits of [+-]ddd[.ddd][e[+-]dd]: up to MAXSIG of them, with *more set past that. */
typedef struct dectext {
    bool neg, more;
    int n, k; /* digits d[0..n), value = d[0].d[1..] x 10^k */
    char d[MAXSIG];
} dectext;

/* PostgreSQL numeric text: [-]int[.frac] or NaN / Infinity / -Infinity. */
typedef enum { NUM_FINITE, NUM_NAN, NUM_PINF, NUM_NINF } num_kind;
typedef struct numtext {
    num_kind kind;
    bool neg;
    const char *ip, *fp; /* integer digits (leading zeros stripped, may be empty), fraction digits */
    size_t in, fn;
} numtext;

bool dbz_parse_i64(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out);
bool dbz_parse_dectext(const char *s, size_t len, dectext *x);
bool dbz_put_float_text(sl_buf *b, const char *s, size_t n, bool is_float);
bool dbz_parse_numtext(const char *s, size_t n, numtext *x);
void dbz_put_unscaled_b64(sl_buf *out, bool neg, const char *d1, size_t n1, const char *d2, size_t n2,
                          size_t zeros);
void dbz_put_decimal_at_scale(sl_buf *out, const numtext *x, int scale);
void dbz_put_plain_decimal(sl_buf *out, const numtext *x, int scale);
bool dbz_put_numeric(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n, sl_buf *out);
bool dbz_put_bits(const sl_column *c, const char *s, size_t n, size_t min_bytes, sl_buf *out);

/* ---------------------------------------------------------------------------
 * PostgreSQL value forms (dbz_pg.c)
 */

bool dbz_pg_money(const sl_dbz_opts *o, const char *s, size_t n, sl_buf *out);
bool dbz_pg_bytea(const sl_dbz_opts *o, const char *s, size_t n, sl_buf *out);
bool dbz_pg_timestamptz(const sl_column *c, const char *s, size_t n, sl_buf *out);
bool dbz_pg_timestamp(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n, sl_buf *out);
bool dbz_pg_date(const sl_dbz_opts *o, const char *s, size_t n, sl_buf *out);
bool dbz_pg_time(const sl_dbz_opts *o, const sl_column *c, bool in_array, const char *s, size_t n, sl_buf *out);
bool dbz_pg_timetz(bool in_array, const char *s, size_t n, sl_buf *out);
bool dbz_pg_interval(const char *s, size_t n, sl_buf *out);
bool dbz_pg_point(const char *s, size_t n, sl_buf *out);
bool dbz_pg_hstore(const sl_dbz_opts *o, const char *s, size_t n, sl_buf *out);
void dbz_pg_unchanged(const sl_dbz_opts *o, const sl_column *c, sl_buf *out);

/* ---------------------------------------------------------------------------
 * MySQL / MariaDB value forms (dbz_binlog.c)
 */

bool dbz_my_null_cell(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n);
bool dbz_my_date(const char *s, size_t n, sl_buf *out);
bool dbz_my_datetime(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n, sl_buf *out);
bool dbz_my_timestamptz(const sl_column *c, const char *s, size_t n, sl_buf *out);
bool dbz_my_time(const sl_dbz_opts *o, const char *s, size_t n, sl_buf *out);
bool dbz_my_year(const char *s, size_t n, sl_buf *out);
bool dbz_my_ubigint(const sl_dbz_opts *o, bool bigint, const char *s, size_t n, sl_buf *out);
void dbz_my_raw(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n, sl_buf *out);
bool dbz_my_geometry(const sl_column *c, const char *s, size_t n, sl_buf *out);

/* ---------------------------------------------------------------------------
 * Envelope parts (dbz_envelope.c), which the record view (dbz_view.c) writes lazily
 */

/* A row struct (keys_only: the key struct); an unchanged TOAST cell takes old's value when usable. */
void dbz_put_row(const sl_dbz_opts *o, const sl_table *t, const sl_cell *cells, const sl_cell *old, bool keys_only,
                 sl_buf *out);
void dbz_put_source(const sl_dbz_opts *o, const sl_record *r, sl_buf *out);

/*
 * One writer for the fields of a struct whichever form it takes: JSON text
 * ({"a":1,...}, names plain ASCII) or the members of an object value. A
 * block written with these (the source block) comes out the same both ways.
 */
typedef struct dbz_fields {
    sl_buf *out;      /* JSON text, or NULL: members of obj in h */
    sl_vheap *h;
    sl_val *obj;      /* NULL with only: just find that one */
    int n;
    const char *only; /* values: only the field of this name, into found */
    sl_val *found;
} dbz_fields;
void dbz_fields_json(dbz_fields *f, sl_buf *out);
void dbz_fields_val(dbz_fields *f, sl_vheap *h, sl_val *obj);
/* Values, but only field `name` is built (into f->found, NULL when the struct has none). */
void dbz_fields_one(dbz_fields *f, sl_vheap *h, const char *name);
void dbz_fields_end(dbz_fields *f);
void dbz_f_strn(dbz_fields *f, const char *name, const char *s, size_t n);
void dbz_f_str(dbz_fields *f, const char *name, const char *s); /* NULL: null */
void dbz_f_i64(dbz_fields *f, const char *name, int64_t v);
void dbz_f_u64(dbz_fields *f, const char *name, uint64_t v);
void dbz_f_null(dbz_fields *f, const char *name);
/* The source block's fields. */
void dbz_source_fields(const sl_dbz_opts *o, const sl_record *r, dbz_fields *f);
void dbz_put_tx_block(const sl_dbz_opts *o, const sl_record *r, sl_buf *out);
/* The options for r's values: o, or (PostgreSQL snapshot reads) *tmp, a copy with snapshot_read set. */
const sl_dbz_opts *dbz_record_opts(const sl_dbz_opts *o, const sl_record *r, sl_dbz_opts *tmp);
/* The envelope's ts_ms / ts_us / ts_ns clock (microseconds). */
int64_t dbz_now_us(void);

/* ---------------------------------------------------------------------------
 * Schemas (dbz_schema.c)
 */

/* The middle part of topic and schema names: the schema (PostgreSQL) or the database (MySQL: <prefix>.<db>.<table>). */
const char *dbz_table_space(const sl_dbz_opts *o, const sl_table *t);
/* The source block's schema (with "field":"source") of the connector. */
const char *dbz_source_schema(const sl_dbz_opts *o);
extern const char dbz_tx_schema[];     /* the envelope's "transaction" field (event.block) */
extern const char dbz_change_schema[]; /* a schema change event's Change struct */
/* Append the table's cached key / envelope schema (built on first use). */
void dbz_put_key_schema(const sl_dbz_opts *o, sl_table *t, sl_buf *out);
/* Fills r's table's schema caches that sl_dbz_key / sl_dbz_value would fill for r (format/benc.c: before the
 * records are shared out among threads, which then only read them). */
void dbz_fill_caches(const sl_dbz_opts *o, const sl_record *r);
void dbz_put_value_schema(const sl_dbz_opts *o, sl_table *t, sl_buf *out);

#endif
