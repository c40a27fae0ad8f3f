/*
 * Debezium change events, byte for byte as Kafka Connect's JsonConverter
 * serializes them (Debezium 3.6 PostgreSQL, 3.5 MariaDB; Kafka Connect 4.3):
 * the key, the envelope and the topic of a record, the source block, and the
 * transaction, heartbeat, logical decoding message and schema change events.
 * The pieces it is made of are listed in dbz_int.h.
 *
 * Debezium behaviours reproduced on purpose (see the notes at each site):
 * a NULL in a NOT NULL column (delete with REPLICA IDENTITY DEFAULT) gets
 * the converter's fallback value (0, "", false, ...); unchanged TOAST values
 * get the "__debezium_unavailable_value" placeholder for the types Debezium
 * has a placeholder for and null otherwise; array types Debezium has no
 * schema for are left out of the row; Java's Double.toString/Float.toString
 * formatting for floating point values.
 *
 * MySQL / MariaDB: the binlog value forms (dbz_binlog.c), the
 * io.debezium.connector.{mysql,mariadb}.Source block and
 * <prefix>.<db>.<table> names.
 *
 * Hot path: no allocation except for values larger than the stack scratch
 * buffers (numeric with more than ~1200 digits, array elements with
 * escapes longer than 256 bytes, float text longer than 512 bytes).
 */
#include "format/dbz_int.h"
#include "util/mem.h"
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------------
 * Records
 */


int64_t dbz_now_us(void) {
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
    if (dbz_is_binlog(o)) {
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
        dbz_put_str(out, o->server_name);
    } else {
        sl_buf_puts(out, "{\"id\":");
        if (!tx_id(o, r, out)) sl_buf_puts(out, "\"\"");
    }
    sl_buf_putc(out, '}');
    if (o->key_schemas) sl_buf_putc(out, '}');
}

static void side_value(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    int64_t ts_ms = sl_floor_div(r->op == SL_OP_HEARTBEAT ? dbz_now_us() : r->ts_us, 1000);
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
        sl_buf_puts(scratch, dbz_table_space(o, r->table));
        sl_buf_putc(scratch, '.');
        sl_buf_puts(scratch, r->table->name);
    }
    return sl_buf_cstr(scratch);
}

/*
 * Row struct. An unchanged TOAST cell takes the old row's value when there
 * is one (REPLICA IDENTITY FULL; Debezium's cachedOldToastedValues).
 */
void dbz_put_row(const sl_dbz_opts *o, const sl_table *t, const sl_cell *cells, const sl_cell *old,
                    bool keys_only, sl_buf *out) {
    bool my = dbz_is_binlog(o); /* MySQL has no TOAST: an absent column stays null */
    sl_buf_putc(out, '{');
    bool first = true;
    for (int i = 0; i < t->ncols; i++) {
        const sl_column *c = &t->cols[i];
        if ((keys_only && !c->key) || dbz_column_omitted(c)) continue;
        if (!first) sl_buf_putc(out, ',');
        first = false;
        dbz_put_str(out, c->name);
        sl_buf_putc(out, ':');
        const sl_cell *v = &cells[i];
        bool old_usable = old && !my && !(old[i].flags & (SL_CELL_NULL | SL_CELL_UNCHANGED)) && old[i].data;
        if ((v->flags & SL_CELL_UNCHANGED) && old_usable) v = &old[i];
        sl_dbz_cell_value(o, c, v, out);
    }
    sl_buf_putc(out, '}');
}

/* ---- one writer for a struct's fields: JSON text, or the members of a value (the record view) ---- */

void dbz_fields_json(dbz_fields *f, sl_buf *out) {
    *f = (dbz_fields){.out = out};
    sl_buf_putc(out, '{');
}

void dbz_fields_val(dbz_fields *f, sl_vheap *h, sl_val *obj) { *f = (dbz_fields){.h = h, .obj = obj}; }

void dbz_fields_one(dbz_fields *f, sl_vheap *h, const char *name) { *f = (dbz_fields){.h = h, .only = name}; }

void dbz_fields_end(dbz_fields *f) {
    if (f->out) sl_buf_putc(f->out, '}');
}

/* Values with only: false for every other field (nothing is built for it). */
static inline bool wanted(const dbz_fields *f, const char *name) { return !f->only || !strcmp(f->only, name); }

/* JSON: the separator and the (plain ASCII) name; value: NULL, the caller appends. */
static bool field_name(dbz_fields *f, const char *name) {
    if (!f->out) return false;
    if (f->n++) sl_buf_putc(f->out, ',');
    sl_buf_putc(f->out, '"');
    sl_buf_puts(f->out, name);
    sl_buf_puts(f->out, "\":");
    return true;
}

/* Appends member name (each block writes a name once, so there is nothing to replace). */
static void field_val(dbz_fields *f, const char *name, sl_val *v) {
    if (f->only) {
        f->found = v;
        return;
    }
    sl_val *o = f->obj;
    if (o->n == o->cap) {
        sl_v_set_ref(f->h, o, name, strlen(name), v); /* grows it */
        return;
    }
    o->m[o->n++] = (sl_vmember){name, (uint32_t)strlen(name), v};
}

void dbz_f_strn(dbz_fields *f, const char *name, const char *s, size_t n) {
    if (!wanted(f, name)) return;
    if (field_name(f, name)) sl_buf_put_json_str(f->out, s, n);
    else field_val(f, name, sl_v_strn(f->h, s, n));
}

void dbz_f_str(dbz_fields *f, const char *name, const char *s) {
    if (!s) dbz_f_null(f, name);
    else dbz_f_strn(f, name, s, strlen(s));
}

void dbz_f_i64(dbz_fields *f, const char *name, int64_t v) {
    if (!wanted(f, name)) return;
    if (field_name(f, name)) sl_buf_put_i64(f->out, v);
    else field_val(f, name, sl_v_int(f->h, v));
}

void dbz_f_u64(dbz_fields *f, const char *name, uint64_t v) {
    if (!wanted(f, name)) return;
    if (field_name(f, name)) sl_buf_put_u64(f->out, v);
    else field_val(f, name, v > INT64_MAX ? sl_v_real(f->h, (double)v) : sl_v_int(f->h, (int64_t)v));
}

void dbz_f_null(dbz_fields *f, const char *name) {
    if (!wanted(f, name)) return;
    if (field_name(f, name)) sl_buf_puts(f->out, "null");
    else field_val(f, name, sl_v_null(f->h));
}

/*
 * io.debezium.connector.{mysql,mariadb}.Source payload (BinlogSourceInfoStructMaker):
 * no sequence; gtid/query null when absent, thread null when unknown; file is
 * a required field, so a missing one is written as "" rather than an
 * invalid null.
 */
static void binlog_source_tail(const sl_record *r, dbz_fields *f) {
    const sl_table *t = r->table;
    dbz_f_str(f, "table", t ? t->name : r->schema_change ? r->schema_change->table : NULL);
    dbz_f_u64(f, "server_id", r->pos.server_id);
    dbz_f_str(f, "gtid", r->pos.gtid);
    dbz_f_str(f, "file", r->pos.file ? r->pos.file : "");
    dbz_f_u64(f, "pos", r->pos.event_pos ? r->pos.event_pos : r->pos.file_pos);
    dbz_f_u64(f, "row", r->pos.row);
    if (r->pos.thread) dbz_f_u64(f, "thread", r->pos.thread);
    else dbz_f_null(f, "thread");
    dbz_f_str(f, "query", r->pos.query);
}

/* io.debezium.connector.postgresql.Source payload (or the binlog connectors' one). */
void dbz_source_fields(const sl_dbz_opts *o, const sl_record *r, dbz_fields *f) {
    static const char *snap[] = {"false", "true", "first", "last", "first_in_data_collection", "last_in_data_collection",
                                 "incremental"};
    const sl_table *t = r->table;
    int64_t ts = r->ts_us ? r->ts_us : dbz_now_us();
    dbz_f_str(f, "version", o->version ? o->version : "");
    dbz_f_str(f, "connector", o->connector ? o->connector : "");
    dbz_f_str(f, "name", o->server_name ? o->server_name : "");
    dbz_f_i64(f, "ts_ms", sl_floor_div(ts, 1000));
    dbz_f_str(f, "snapshot", (unsigned)r->snapshot < sizeof snap / sizeof *snap ? snap[r->snapshot] : "true");
    dbz_f_str(f, "db", t ? t->db : r->schema_change ? r->schema_change->db : o->db ? o->db : "");
    if (dbz_is_binlog(o)) {
        dbz_f_null(f, "sequence");
        dbz_f_i64(f, "ts_us", ts);
        dbz_f_i64(f, "ts_ns", ts * 1000);
        binlog_source_tail(r, f);
        return;
    }
    /* sequence: the JSON array ["<last commit LSN>","<LSN>"] (null when unknown) as a JSON string */
    char seq[64];
    size_t k = 0;
    seq[k++] = '[';
    for (int i = 0; i < 2; i++) {
        uint64_t lsn = i ? r->pos.lsn : r->pos.last_commit_lsn;
        if (i) seq[k++] = ',';
        if (!lsn) {
            memcpy(seq + k, "null", 4), k += 4;
            continue;
        }
        char dig[24];
        int nd = 0;
        for (; lsn; lsn /= 10) dig[nd++] = (char)('0' + lsn % 10);
        seq[k++] = '"';
        while (nd) seq[k++] = dig[--nd];
        seq[k++] = '"';
    }
    seq[k++] = ']';
    dbz_f_strn(f, "sequence", seq, k);
    dbz_f_i64(f, "ts_us", ts);
    dbz_f_i64(f, "ts_ns", ts * 1000);
    dbz_f_str(f, "schema", t ? t->schema : "");
    dbz_f_str(f, "table", t ? t->name : "");
    if (r->txid) dbz_f_u64(f, "txId", r->txid);
    else dbz_f_null(f, "txId");
    if (r->pos.lsn) dbz_f_u64(f, "lsn", r->pos.lsn);
    else dbz_f_null(f, "lsn");
    dbz_f_null(f, "xmin");
    dbz_f_str(f, "origin", r->pos.origin);
    if (r->pos.origin) dbz_f_u64(f, "origin_lsn", r->pos.origin_lsn);
    else dbz_f_null(f, "origin_lsn");
}

/*
 * The source block's JSON depends only on the inputs below, and consecutive records often share all of them
 * (every row of a snapshot, the rows of one binlog event but for their row number): the last block written on
 * this thread is kept with its inputs and written again when they match. Per thread, since a batch may be
 * encoded by several (format/benc.h).
 */
enum { SRC_KEY_MAX = 512, SRC_TEXT_MAX = 1536 };
static _Thread_local struct {
    size_t kn, tn;
    char key[SRC_KEY_MAX];
    char text[SRC_TEXT_MAX];
} last_source;

typedef struct { char *p; size_t n; bool full; } src_key;

static void key_put(src_key *k, const void *v, size_t n) {
    if (k->full || k->n + n > SRC_KEY_MAX) {
        k->full = true;
        return;
    }
    memcpy(k->p + k->n, v, n);
    k->n += n;
}

static void key_str(src_key *k, const char *s) {
    uint32_t n = s ? (uint32_t)strlen(s) + 1 : 0; /* NULL and "" differ */
    key_put(k, &n, sizeof n);
    if (n) key_put(k, s, n - 1);
}

/* The inputs of r's source block; 0 when it is not to be kept (its time is "now", or the inputs are too long). */
static size_t source_key(const sl_dbz_opts *o, const sl_record *r, char *buf) {
    if (!r->ts_us) return 0;
    src_key k = {buf, 0, false};
    const sl_pos *p = &r->pos;
    uint8_t head[2] = {(uint8_t)o->dialect, (uint8_t)r->snapshot};
    key_put(&k, head, sizeof head);
    key_put(&k, &r->ts_us, sizeof r->ts_us);
    key_str(&k, o->version), key_str(&k, o->connector), key_str(&k, o->server_name), key_str(&k, o->db);
    if (r->table) key_str(&k, r->table->db), key_str(&k, r->table->schema), key_str(&k, r->table->name);
    else if (r->schema_change) key_str(&k, r->schema_change->db), key_str(&k, r->schema_change->table);
    else key_put(&k, "", 1);
    if (dbz_is_binlog(o)) {
        uint64_t v[5] = {p->server_id, p->event_pos, p->file_pos, p->row, p->thread};
        key_put(&k, v, sizeof v);
        key_str(&k, p->gtid), key_str(&k, p->file), key_str(&k, p->query);
    } else {
        uint64_t v[4] = {p->lsn, p->last_commit_lsn, r->txid, p->origin_lsn};
        key_put(&k, v, sizeof v);
        key_str(&k, p->origin);
    }
    return k.full ? 0 : k.n;
}

/* The fields that tell consecutive records apart most often (the position, the time, the marker, the table): a
 * block is kept only within a run of records whose fields agree, so a stream where each record has a position
 * of its own (every change of a WAL, every row of a binlog event) builds no key and copies no block. */
static _Thread_local struct {
    uint64_t v[6];
    bool have;
} last_quick;

void dbz_put_source(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    char key[SRC_KEY_MAX];
    const sl_pos *p = &r->pos;
    uint64_t quick[6] = {(uint64_t)r->ts_us, (uint64_t)r->snapshot, p->lsn, p->event_pos, p->row,
                         (uint64_t)(uintptr_t)r->table};
    bool run = last_quick.have && memcmp(quick, last_quick.v, sizeof quick) == 0;
    memcpy(last_quick.v, quick, sizeof quick);
    last_quick.have = true;
    size_t kn = run ? source_key(o, r, key) : 0;
    if (kn && kn == last_source.kn && memcmp(key, last_source.key, kn) == 0) {
        sl_buf_put(out, last_source.text, last_source.tn);
        return;
    }
    size_t at = out->len;
    sl_buf_hold(out); /* what is written stays in out, to be kept */
    dbz_fields f;
    dbz_fields_json(&f, out);
    dbz_source_fields(o, r, &f);
    dbz_fields_end(&f);
    sl_buf_unhold(out);
    last_source.kn = 0;
    if (kn && out->len - at <= SRC_TEXT_MAX) {
        memcpy(last_source.key, key, kn);
        memcpy(last_source.text, out->data + at, out->len - at);
        last_source.kn = kn, last_source.tn = out->len - at;
    }
}

/* Schema change events (include.schema.changes): SchemaFactory's SchemaChangeKey / SchemaChangeValue. */
static void schema_change_key(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    if (o->key_schemas) {
        sl_buf_puts(out, "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,"
                         "\"field\":\"databaseName\"}],\"optional\":false,\"name\":\"io.debezium.connector.");
        sl_buf_puts(out, o->connector);
        sl_buf_puts(out, ".SchemaChangeKey\",\"version\":1},\"payload\":");
    }
    sl_buf_puts(out, "{\"databaseName\":");
    dbz_put_str(out, r->schema_change->db);
    sl_buf_putc(out, '}');
    if (o->key_schemas) sl_buf_putc(out, '}');
}

static void schema_change_value(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    const sl_schema_change *sc = r->schema_change;
    if (o->value_schemas) {
        sl_buf_puts(out, "{\"schema\":{\"type\":\"struct\",\"fields\":[");
        sl_buf_puts(out, dbz_source_schema(o));
        sl_buf_puts(out, ",{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},"
                         "{\"type\":\"string\",\"optional\":true,\"field\":\"databaseName\"},"
                         "{\"type\":\"string\",\"optional\":true,\"field\":\"schemaName\"},"
                         "{\"type\":\"string\",\"optional\":true,\"field\":\"ddl\"},"
                         "{\"type\":\"array\",\"items\":");
        sl_buf_puts(out, dbz_change_schema);
        sl_buf_puts(out, ",\"optional\":false,\"field\":\"tableChanges\"}],\"optional\":false,"
                         "\"name\":\"io.debezium.connector.");
        sl_buf_puts(out, o->connector);
        sl_buf_puts(out, ".SchemaChangeValue\",\"version\":1},\"payload\":");
    }
    sl_buf_puts(out, "{\"source\":");
    dbz_put_source(o, r, out);
    sl_buf_puts(out, ",\"ts_ms\":"); /* as Debezium: when the event was made (source.ts_ms: the statement's) */
    sl_buf_put_i64(out, sl_floor_div(dbz_now_us(), 1000));
    sl_buf_puts(out, ",\"databaseName\":");
    dbz_put_str(out, sc->db);
    sl_buf_puts(out, ",\"schemaName\":null,\"ddl\":");
    dbz_put_str(out, sc->ddl);
    sl_buf_puts(out, ",\"tableChanges\":");
    sl_buf_puts(out, sc->table_changes ? sc->table_changes : "[]");
    sl_buf_putc(out, '}');
    if (o->value_schemas) sl_buf_putc(out, '}');
}

/* The envelope's "transaction" (event.block): id, total_order, data_collection_order; null outside one. */
void dbz_put_tx_block(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
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
    if (r->msg_prefix) dbz_put_str(out, r->msg_prefix);
    else sl_buf_puts(out, "null");
    sl_buf_putc(out, '}');
    if (o->key_schemas) sl_buf_putc(out, '}');
}

static void message_value(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    if (o->value_schemas) {
        sl_buf_puts(out, "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,"
                         "\"field\":\"op\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},");
        sl_buf_puts(out, dbz_source_schema(o));
        sl_buf_putc(out, ',');
        sl_buf_puts(out, dbz_tx_schema);
        sl_buf_puts(out, ",{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":true,\"field\":"
                         "\"prefix\"},{\"type\":\"");
        sl_buf_puts(out, o->binary_mode == SL_BIN_BYTES ? "bytes" : "string");
        sl_buf_puts(out, "\",\"optional\":true,\"field\":\"content\"}],\"optional\":false,\"name\":"
                         "\"io.debezium.connector.postgresql.Message\",\"version\":1,\"field\":\"message\"}],"
                         "\"optional\":false,\"name\":\"io.debezium.connector.postgresql.MessageValue\","
                         "\"version\":1},\"payload\":");
    }
    sl_buf_puts(out, "{\"op\":\"m\",\"ts_ms\":");
    sl_buf_put_i64(out, sl_floor_div(dbz_now_us(), 1000));
    sl_buf_puts(out, ",\"source\":");
    dbz_put_source(o, r, out);
    sl_buf_puts(out, ",\"transaction\":");
    dbz_put_tx_block(o, r, out);
    sl_buf_puts(out, ",\"message\":{\"prefix\":");
    if (r->msg_prefix) dbz_put_str(out, r->msg_prefix);
    else sl_buf_puts(out, "null");
    sl_buf_puts(out, ",\"content\":");
    if (!r->msg_content && r->msg_len) {
        sl_buf_puts(out, "null");
    } else {
        bsink bs;
        dbz_bs_begin(&bs, out, dbz_bin_mode(o));
        for (uint32_t i = 0; i < r->msg_len; i++) dbz_bs_byte(&bs, (uint8_t)r->msg_content[i]);
        dbz_bs_end(&bs);
    }
    sl_buf_puts(out, "}}");
    if (o->value_schemas) sl_buf_putc(out, '}');
}

/* The options for r's values: snapshot reads (PostgreSQL) convert some values as JDBC delivers them. */
const sl_dbz_opts *dbz_record_opts(const sl_dbz_opts *o, const sl_record *r, sl_dbz_opts *tmp) {
    if (r->op != SL_OP_READ || dbz_is_binlog(o) || o->snapshot_read) return o;
    *tmp = *o;
    tmp->snapshot_read = true;
    return tmp;
}

void sl_dbz_key(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    sl_dbz_opts ro;
    o = dbz_record_opts(o, r, &ro);
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
        dbz_put_key_schema(o, t, out);
        sl_buf_puts(out, ",\"payload\":");
    }
    dbz_put_row(o, t, cells, NULL, true, out);
    if (o->key_schemas) sl_buf_putc(out, '}');
}

void sl_dbz_value(const sl_dbz_opts *o, const sl_record *r, sl_buf *out) {
    sl_dbz_opts ro;
    o = dbz_record_opts(o, r, &ro);
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
        dbz_put_value_schema(o, t, out);
        sl_buf_puts(out, ",\"payload\":");
    }
    bool has_before = (r->op == SL_OP_UPDATE || r->op == SL_OP_DELETE) && r->before;
    bool has_after = (r->op == SL_OP_CREATE || r->op == SL_OP_READ || r->op == SL_OP_UPDATE) && r->after;
    sl_buf_puts(out, "{\"before\":");
    if (has_before) dbz_put_row(o, t, r->before, NULL, false, out);
    else sl_buf_puts(out, "null");
    sl_buf_puts(out, ",\"after\":");
    if (has_after) dbz_put_row(o, t, r->after, r->op == SL_OP_UPDATE ? r->before : NULL, false, out);
    else sl_buf_puts(out, "null");
    sl_buf_puts(out, ",\"source\":");
    dbz_put_source(o, r, out);
    sl_buf_puts(out, ",\"transaction\":");
    dbz_put_tx_block(o, r, out);
    int64_t now = dbz_now_us();
    sl_buf_puts(out, ",\"op\":\"");
    sl_buf_putc(out, (char)r->op);
    sl_buf_puts(out, "\",\"ts_ms\":");
    sl_buf_put_i64(out, sl_floor_div(now, 1000));
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
