/*
 * The SQL-row emitter: the third way out of the record view, after JSON
 * (dbz_json) and BSON (sink/mongo_conv). It reads a row's payload values by
 * their Kafka Connect field schema, as any record carries it (a change of a
 * source in this process through sl_dbz_view, or a record read from Kafka
 * with sl_v_parse), and writes each value in the form a SQL target takes:
 *
 *   SL_SQL_PG: one field of PostgreSQL's COPY text format (\N for null,
 *              backslash escapes), read by the target column's input function;
 *   SL_SQL_MY: a MariaDB/MySQL literal (NULL, a number, '...' with escapes,
 *              X'..', b'..', ST_GeomFromWKB(X'..', srid)).
 *
 * The Connect and Debezium logical types are converted on the way: Decimal
 * bytes -> exact decimal text, epoch days / ms / µs / ns -> date, time and
 * timestamp text, base64 bytes -> bytea hex or X'..', Bits -> bit strings,
 * MicroDuration -> an interval, arrays -> PostgreSQL array literals (JSON on
 * MariaDB), maps and structs -> JSON text. sl_sql_put_type writes the column
 * type a table created for the field gets (docs/connectors/sql.md has the
 * table). Pure: no I/O, no connection.
 */
#ifndef SL_FORMAT_SQL_ROW_H
#define SL_FORMAT_SQL_ROW_H
#include "core/val.h"
#include "util/buf.h"
#include <stdbool.h>

typedef enum sl_sql_dialect { SL_SQL_PG, SL_SQL_MY } sl_sql_dialect;

/* What a field holds, from its Connect type and logical name. */
typedef enum sl_sqlk {
    SL_SQLK_BOOL, SL_SQLK_INT8, SL_SQLK_INT16, SL_SQLK_INT32, SL_SQLK_INT64, SL_SQLK_FLOAT32, SL_SQLK_FLOAT64,
    SL_SQLK_STRING, SL_SQLK_BYTES,
    SL_SQLK_DECIMAL,   /* org.apache.kafka.connect.data.Decimal: base64 unscaled, parameters.scale */
    SL_SQLK_VSDECIMAL, /* io.debezium.data.VariableScaleDecimal {scale, value} */
    SL_SQLK_DATE,      /* epoch days */
    SL_SQLK_TIME_MS, SL_SQLK_TIME_US, SL_SQLK_TIME_NS,  /* since midnight */
    SL_SQLK_TS_MS, SL_SQLK_TS_US, SL_SQLK_TS_NS,        /* since the epoch, UTC */
    SL_SQLK_ZTS,       /* io.debezium.time.ZonedTimestamp: ISO-8601 text */
    SL_SQLK_ZTIME,     /* io.debezium.time.ZonedTime */
    SL_SQLK_DURATION,  /* io.debezium.time.MicroDuration: µs */
    SL_SQLK_YEAR,
    SL_SQLK_JSON, SL_SQLK_UUID, SL_SQLK_XML, SL_SQLK_ENUM, SL_SQLK_SET,
    SL_SQLK_BITS,      /* io.debezium.data.Bits: little-endian bytes, parameters.length bits */
    SL_SQLK_GEOMETRY,  /* io.debezium.data.geometry.Geometry / Geography {wkb, srid} */
    SL_SQLK_POINT,     /* io.debezium.data.geometry.Point {x, y, wkb, srid} */
    SL_SQLK_ARRAY, SL_SQLK_MAP, SL_SQLK_STRUCT,
} sl_sqlk;

typedef struct sl_sqlcol {
    char *name;          /* the field's name (the column's) */
    sl_sqlk kind;
    bool optional;
    int precision;       /* Decimal: connect.decimal.precision, -1 unknown */
    int scale;           /* Decimal scale; -1 unknown */
    int length;          /* Bits: bits; strings: a propagated source length; -1 unknown */
    char *allowed;       /* Enum / EnumSet labels, comma-separated, or NULL */
    char *src_type;      /* __debezium.source.column.type (propagated), or NULL */
    struct sl_sqlcol *elem; /* ARRAY: the element */
    bool duration;       /* a time of day that is a duration (MySQL's TIME, -838:59:59 to 838:59:59): PostgreSQL
                          * gets an interval (the caller sets it; the schema does not say) */
} sl_sqlcol;

/* Compiles the Connect field schema `schema` (a struct field: it names itself with "field") into *c.
 * 0, or -1 with err naming the field (a type the emitter cannot write). */
int sl_sqlcol_compile(sl_vheap *h, sl_val *schema, sl_sqlcol *c, char *err, size_t errsz);
void sl_sqlcol_free(sl_sqlcol *c);
/* True when two compiled columns are the same column (name, kind, parameters). */
bool sl_sqlcol_same(const sl_sqlcol *a, const sl_sqlcol *b);

/* Debezium's placeholder for a value the source did not send (an unchanged TOAST column). */
#define SL_SQL_UNAVAILABLE "__debezium_unavailable_value"

/*
 * Appends v (NULL or null: SQL NULL), a payload value of column c, in dialect d's form. Returns 0, 1 when
 * v is Debezium's placeholder for an unchanged value (nothing written: the column keeps what it holds), or
 * -1 with err naming the column (a value its schema does not allow, a value the dialect cannot hold).
 */
int sl_sql_put_value(const sl_sqlcol *c, sl_sql_dialect d, sl_vheap *h, sl_val *v, sl_buf *out, char *err,
                     size_t errsz);

/* Appends the column type a created table gives c (key: the column is part of the primary key). */
void sl_sql_put_type(const sl_sqlcol *c, sl_sql_dialect d, bool key, sl_buf *out);

/* Appends n bytes of text as a string literal of d ('...' with '' on PostgreSQL, backslash escapes on
 * MariaDB/MySQL). */
void sl_sql_put_literal(sl_buf *out, sl_sql_dialect d, const char *s, size_t n);

/* Appends identifier s quoted for d ("s" or `s`, the quote doubled inside). */
void sl_sql_put_ident(sl_buf *out, sl_sql_dialect d, const char *s);

/* PostgreSQL's infinite dates and timestamps as Debezium sends them (pgjdbc's sentinels): a timestamp v in units
 * of 1/per_s s (1000: ms, 1000000: µs), a date as epoch days. 1: +infinity, -1: -infinity, 0: a finite value. */
int sl_sql_infinite_ts(int64_t v, int64_t per_s);
int sl_sql_infinite_date(int64_t days);

#endif
