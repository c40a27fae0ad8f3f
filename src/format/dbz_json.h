/*
 * Debezium change events as Kafka Connect's JsonConverter writes them.
 *
 * Key: the primary-key struct; value: the envelope {before, after, source,
 * transaction, op, ts_ms, ts_us, ts_ns}. With schemas enabled each is
 * {"schema": {...}, "payload": {...}}, otherwise the bare payload. Column
 * values follow Debezium's type mapping for the configured
 * decimal.handling.mode / time.precision.mode / binary.handling.mode.
 * Schema JSON per table is computed once and cached on the sl_table.
 *
 * Thread: the sink thread of a connector (the table caches are not locked).
 */
#ifndef SL_FORMAT_DBZ_JSON_H
#define SL_FORMAT_DBZ_JSON_H
#include <stdbool.h>
#include "core/record.h"
#include "core/val.h"
#include "util/buf.h"

typedef enum { SL_DEC_PRECISE = 0, SL_DEC_DOUBLE, SL_DEC_STRING } sl_decimal_mode;
typedef enum { SL_TIME_ADAPTIVE = 0, SL_TIME_ADAPTIVE_MICRO, SL_TIME_CONNECT } sl_time_mode;
typedef enum { SL_BIN_BYTES = 0, SL_BIN_BASE64, SL_BIN_BASE64_URL, SL_BIN_HEX } sl_binary_mode;
/*
 * The form of the cells: PostgreSQL's text output, or the binlog cell forms of
 * source/mysql/rowimage.h (MySQL and MariaDB differ in a few mappings). Chosen
 * once per connector (by the source's describe op), so that no value compares names.
 */
typedef enum { SL_DBZ_PG = 0, SL_DBZ_MYSQL, SL_DBZ_MARIADB } sl_dbz_dialect;

typedef struct sl_dbz_opts {
    const char *connector;    /* source.connector: "postgresql", "mysql", "mariadb", ... (as written) */
    sl_dbz_dialect dialect;   /* the cells' value forms; also selects the source block */
    const char *server_name;  /* topic.prefix, also source.name */
    const char *version;      /* source.version */
    const char *db;           /* source.db of events without a table (op m) */
    sl_decimal_mode decimal_mode;
    sl_time_mode time_mode;
    sl_binary_mode binary_mode;
    bool key_schemas;         /* key.converter.schemas.enable */
    bool value_schemas;       /* value.converter.schemas.enable */
    bool provide_tx;          /* provide.transaction.metadata: fill "transaction" */
    bool bigint_unsigned_precise; /* MySQL bigint.unsigned.handling.mode=precise: Decimal, else int64 */
    bool hstore_map;              /* PostgreSQL hstore.handling.mode=map: Connect map, else a Json string */
    bool snapshot_read;           /* (set by the encoder per record) values as Debezium's snapshot reads them over JDBC */
    bool keep_nulls;              /* value.converter.replace.null.with.default=false: a null stays null even when its
                                     column has a default (JsonConverter's default writes the default instead) */
    const char *heartbeat_prefix; /* heartbeat.topics.prefix (NULL: __debezium-heartbeat) */
    const char *tx_topic;         /* topic.transaction (NULL: transaction) */
} sl_dbz_opts;

/* Topic of a record: the table's topic, or <prefix>.message for op m. Pre-encoded
 * records (r->raw) pass through: their topic, key and value as they came. */
const char *sl_dbz_topic(const sl_dbz_opts *o, const sl_record *r, sl_buf *scratch);
/* Appends the JSON key; "null" when the record has no key (no key columns, op t). */
void sl_dbz_key(const sl_dbz_opts *o, const sl_record *r, sl_buf *out);
/* Appends the JSON value (the envelope). */
void sl_dbz_value(const sl_dbz_opts *o, const sl_record *r, sl_buf *out);
/* Appends one column's Connect field schema (with "field":name) / one cell's JSON value. */
void sl_dbz_field_schema(const sl_dbz_opts *o, const sl_column *c, sl_buf *out);
void sl_dbz_cell_value(const sl_dbz_opts *o, const sl_column *c, const sl_cell *v, sl_buf *out);
/*
 * The record view of a data change (op c/u/d/r of a table, not pre-encoded):
 * its key and value payloads as values in h, lazy where they come from the
 * record (rows, cells, the source and transaction blocks), written by the
 * same code as sl_dbz_key / sl_dbz_value. *key is NULL when the record has
 * no key; value may be NULL (key only). The values point into r and o (and
 * r's table and batch): they live no longer than those. False for other
 * records (their text from sl_dbz_key / sl_dbz_value is the view).
 */
bool sl_dbz_view(const sl_dbz_opts *o, const sl_record *r, sl_vheap *h, sl_val **key, sl_val **value);
/*
 * Sets r's only header to `name` = the key struct of `cells` as JSON (the
 * __debezium.oldkey / __debezium.newkey headers of a key change), in arena.
 * Payload only, so it touches no table cache: safe on a source thread.
 */
void sl_dbz_key_header(const sl_dbz_opts *o, sl_record *r, const char *name, const sl_cell *cells, sl_arena *arena);

/* Date and time text as PostgreSQL (DateStyle ISO) and MariaDB write it, or ISO-8601 with 'T' and 'Z': the
 * epoch microseconds of a timestamp (with_tz: an offset or 'Z' must follow, the result is UTC), or the epoch day
 * (date_only). *inf: 0, or +1 / -1 for PostgreSQL's infinity / -infinity. false: not such text. */
bool sl_dbz_read_timestamp(const char *s, size_t n, bool with_tz, bool date_only, int *inf, int64_t *out);
/* [-]H:MM:SS[.fraction] (hours may exceed 23: a MySQL TIME duration) -> microseconds. */
bool sl_dbz_read_time(const char *s, size_t n, int64_t *us);

#endif
