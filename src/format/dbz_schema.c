/*
 * Debezium JSON encoder: Connect schemas, written in JsonConverter.asJsonSchema's
 * key order (type, items|fields, optional, name, version, doc, parameters,
 * default, then "field" last); the per-table key and envelope schemas are
 * cached on the sl_table.
 */
#include "format/dbz_int.h"
#include "util/mem.h"
#include <string.h>

/* ---------------------------------------------------------------------------
 * Schemas (JsonConverter.asJsonSchema key order; the closing brace is left
 * to the caller so that "field" can come last)
 */

static void schema_head(sl_buf *b, const char *type, bool optional, const char *name, int version) {
    sl_buf_puts(b, "{\"type\":\"");
    sl_buf_puts(b, type);
    sl_buf_puts(b, "\",\"optional\":");
    dbz_put_bool(b, optional);
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
    bool my = dbz_is_binlog(o);
    switch (t) {
    case SL_T_BOOL: schema_head(b, "boolean", optional, NULL, 0); break;
    case SL_T_INT16: schema_head(b, "int16", optional, NULL, 0); break;
    case SL_T_INT32: schema_head(b, "int32", optional, NULL, 0); break;
    case SL_T_INT64:
        /* bigint.unsigned.handling.mode=precise: SpecialValueDecimal.builder(PRECISE, 20, 0), whatever
         * decimal.handling.mode says */
        if (dbz_is_my_ubigint(o, c) && o->bigint_unsigned_precise) schema_decimal(b, optional, 0, 20);
        else schema_head(b, "int64", optional, NULL, 0);
        break;
    case SL_T_FLOAT32: schema_head(b, "float", optional, NULL, 0); break;
    case SL_T_FLOAT64: schema_head(b, "double", optional, NULL, 0); break;
    case SL_T_NUMERIC:
        if (o->decimal_mode == SL_DEC_DOUBLE) schema_head(b, "double", optional, NULL, 0);
        else if (o->decimal_mode == SL_DEC_STRING) schema_head(b, "string", optional, NULL, 0);
        else if (dbz_is_variable_numeric(c)) {
            sl_buf_puts(b, "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"scale\"},"
                           "{\"type\":\"bytes\",\"optional\":false,\"field\":\"value\"}],\"optional\":");
            dbz_put_bool(b, optional);
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
        switch (dbz_pg_ext_type(o, c)) {
        case PGX_HSTORE: /* hstoreSchema(): Json, or a map of string to optional string */
            if (!o->hstore_map) schema_head(b, "string", optional, "io.debezium.data.Json", 1);
            else {
                sl_buf_puts(b, "{\"type\":\"map\",\"keys\":{\"type\":\"string\",\"optional\":false},"
                               "\"values\":{\"type\":\"string\",\"optional\":true},\"optional\":");
                dbz_put_bool(b, optional);
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
            (o->time_mode == SL_TIME_ADAPTIVE && dbz_frac_digits(c) > 3))
            schema_head(b, "int64", optional, "io.debezium.time.MicroTime", 1);
        else if (o->time_mode == SL_TIME_ADAPTIVE) schema_head(b, "int32", optional, "io.debezium.time.Time", 1);
        else schema_head(b, "int32", optional, "org.apache.kafka.connect.data.Time", 1);
        break;
    case SL_T_TIMESTAMP:
        if (!adaptive) schema_head(b, "int64", optional, "org.apache.kafka.connect.data.Timestamp", 1);
        else if ((my ? dbz_my_fsp(c) : dbz_frac_digits(c)) <= 3)
            schema_head(b, "int64", optional, "io.debezium.time.Timestamp", 1);
        else schema_head(b, "int64", optional, "io.debezium.time.MicroTimestamp", 1);
        break;
    case SL_T_TIMETZ: schema_head(b, "string", optional, "io.debezium.time.ZonedTime", 1); break;
    case SL_T_TIMESTAMPTZ: schema_head(b, "string", optional, "io.debezium.time.ZonedTimestamp", 1); break;
    case SL_T_INTERVAL: schema_head(b, "int64", optional, "io.debezium.time.MicroDuration", 1); break;
    case SL_T_UUID: schema_head(b, "string", optional, "io.debezium.data.Uuid", 1); break;
    case SL_T_JSON:
        schema_head(b, "string", optional, dbz_is_mariadb(o) ? NULL : "io.debezium.data.Json", dbz_is_mariadb(o) ? 0 : 1);
        break;
    case SL_T_XML: schema_head(b, "string", optional, "io.debezium.data.Xml", 1); break;
    case SL_T_ENUM:
        schema_head(b, "string", optional, "io.debezium.data.Enum", 1);
        sl_buf_puts(b, ",\"parameters\":{\"allowed\":");
        dbz_put_str(b, c->enum_values);
        sl_buf_putc(b, '}');
        break;
    case SL_T_BIT:
        if (dbz_bits_length(c) > 1) {
            schema_head(b, "bytes", optional, "io.debezium.data.Bits", 1);
            sl_buf_printf(b, ",\"parameters\":{\"length\":\"%lld\"}", (long long)dbz_bits_length(c));
        } else {
            schema_head(b, "boolean", optional, NULL, 0);
        }
        break;
    case SL_T_YEAR: schema_head(b, "int32", optional, "io.debezium.time.Year", 1); break;
    case SL_T_SET:
        schema_head(b, "string", optional, "io.debezium.data.EnumSet", 1);
        sl_buf_puts(b, ",\"parameters\":{\"allowed\":");
        dbz_put_str(b, c->enum_values);
        sl_buf_putc(b, '}');
        break;
    case SL_T_GEOMETRY:
        if (dbz_is_my_point(c)) {
            sl_buf_puts(b, "{\"type\":\"struct\",\"fields\":[{\"type\":\"double\",\"optional\":false,\"field\":\"x\"},"
                           "{\"type\":\"double\",\"optional\":false,\"field\":\"y\"},"
                           "{\"type\":\"bytes\",\"optional\":true,\"field\":\"wkb\"},"
                           "{\"type\":\"int32\",\"optional\":true,\"field\":\"srid\"}],\"optional\":");
            dbz_put_bool(b, optional);
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
        dbz_put_bool(b, optional);
        break;
    case SL_T_UNKNOWN: schema_head(b, "string", optional, NULL, 0); break;
    }
}

void sl_dbz_field_schema(const sl_dbz_opts *o, const sl_column *c, sl_buf *out) {
    if (dbz_column_omitted(c)) return;
    schema_of(o, c, c->type, c->optional, false, out);
    if (c->default_value) { /* JsonConverter writes the default last, converted like a value */
        sl_cell d = {c->default_value, c->default_len, 0};
        sl_buf_puts(out, ",\"default\":");
        sl_dbz_cell_value(o, c, &d, out);
    }
    sl_buf_puts(out, ",\"field\":");
    dbz_put_str(out, c->name);
    sl_buf_putc(out, '}');
}

const char *dbz_table_space(const sl_dbz_opts *o, const sl_table *t) {
    const char *sp = dbz_is_binlog(o) ? (t->db ? t->db : t->schema) : (t->schema ? t->schema : t->db);
    return sp ? sp : "";
}

static void put_name(sl_buf *b, const sl_dbz_opts *o, const sl_table *t, const char *suffix) {
    sl_buf tmp;
    sl_buf_init(&tmp);
    sl_buf_puts(&tmp, o->server_name ? o->server_name : "");
    sl_buf_putc(&tmp, '.');
    sl_buf_puts(&tmp, dbz_table_space(o, t));
    sl_buf_putc(&tmp, '.');
    sl_buf_puts(&tmp, t->name);
    sl_buf_puts(&tmp, suffix);
    sl_buf_put_json_str(b, tmp.data, tmp.len);
    sl_buf_free(&tmp);
}

/* {"type":"struct","fields":[...],"optional":X,"name":"..." — closing brace left to the caller */
static void struct_schema(const sl_dbz_opts *o, const sl_table *t, bool keys_only, bool optional,
                          const char *suffix, sl_buf *b) {
    sl_buf_puts(b, "{\"type\":\"struct\",\"fields\":[");
    bool first = true;
    for (int i = 0; i < t->ncols; i++) {
        const sl_column *c = &t->cols[i];
        if ((keys_only && !c->key) || dbz_column_omitted(c)) continue;
        if (!first) sl_buf_putc(b, ',');
        first = false;
        sl_dbz_field_schema(o, c, b);
    }
    sl_buf_puts(b, "],\"optional\":");
    dbz_put_bool(b, optional);
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

const char *dbz_source_schema(const sl_dbz_opts *o) {
    if (!dbz_is_binlog(o)) return SOURCE_SCHEMA;
    return dbz_is_mariadb(o) ? MARIADB_SOURCE_SCHEMA : MYSQL_SOURCE_SCHEMA;
}

const char dbz_tx_schema[] =
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}],"
    "\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"}";

/* Appends the table's cached key schema (built on first use). */

static void fill_key_schema(const sl_dbz_opts *o, sl_table *t) {
    if (!t->enc_key_schema) {
        sl_buf b;
        sl_buf_init(&b);
        struct_schema(o, t, true, false, ".Key", &b);
        sl_buf_putc(&b, '}');
        t->enc_key_schema = sl_strndup(b.data, b.len);
        t->enc_key_schema_len = b.len;
        sl_buf_free(&b);
    }
}

void dbz_put_key_schema(const sl_dbz_opts *o, sl_table *t, sl_buf *out) {
    fill_key_schema(o, t);
    sl_buf_put(out, t->enc_key_schema, t->enc_key_schema_len);
}

/* Envelope: before, after, source, transaction, op, ts_ms, ts_us, ts_ns; version 2 (Envelope.SCHEMA_VERSION). */
static void fill_value_schema(const sl_dbz_opts *o, sl_table *t) {
    if (!t->enc_value_schema) {
        sl_buf b, row;
        sl_buf_init(&b), sl_buf_init(&row);
        struct_schema(o, t, false, true, ".Value", &row);
        sl_buf_puts(&b, "{\"type\":\"struct\",\"fields\":[");
        sl_buf_put(&b, row.data, row.len);
        sl_buf_puts(&b, ",\"field\":\"before\"},");
        sl_buf_put(&b, row.data, row.len);
        sl_buf_puts(&b, ",\"field\":\"after\"},");
        sl_buf_puts(&b, dbz_source_schema(o));
        sl_buf_putc(&b, ',');
        sl_buf_puts(&b, dbz_tx_schema);
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
}

void dbz_put_value_schema(const sl_dbz_opts *o, sl_table *t, sl_buf *out) {
    fill_value_schema(o, t);
    sl_buf_put(out, t->enc_value_schema, t->enc_value_schema_len);
}

void dbz_fill_caches(const sl_dbz_opts *o, const sl_record *r) {
    if (r->raw || !r->table) return;
    sl_dbz_opts ro;
    o = dbz_record_opts(o, r, &ro);
    if (o->key_schemas && r->table->nkeys) fill_key_schema(o, r->table);
    if (o->value_schemas) fill_value_schema(o, r->table);
}

#define OPT_STR(f) "{\"type\":\"string\",\"optional\":true,\"field\":\"" f "\"}"
#define OPT_INT(f) "{\"type\":\"int32\",\"optional\":true,\"field\":\"" f "\"}"
#define OPT_BOOL(f) "{\"type\":\"boolean\",\"optional\":true,\"field\":\"" f "\"}"
#define STR_ARRAY(f) "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":false},\"optional\":true,\"field\":\"" f "\"}"

/* SchemaFactory.schemaHistoryChangeSchema(): Change { type, id, table: Table { ..., columns: [Column] } } */
const char dbz_change_schema[] =
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
