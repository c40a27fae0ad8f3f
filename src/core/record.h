/*
 * The change record and its batch.
 *
 * A record is one change (op c/u/d/r/t/m) to one table, with its key, the
 * row before and after, its source position, commit time and transaction.
 * Rows are arrays of cells, one per column of the record's table schema; a
 * cell points at the value in the source's wire representation (for
 * PostgreSQL: the type's text output) inside the batch arena, and the
 * encoders turn it into the output format in one step. Table schemas are
 * reference counted because a schema change mid-stream creates a new schema
 * while records of the old one are still queued.
 *
 * Threads: a batch is filled by the source thread, then owned by the queue,
 * then by the sink thread, which frees it after the sink made it durable.
 */
#ifndef SL_CORE_RECORD_H
#define SL_CORE_RECORD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/arena.h"

typedef enum sl_op {
    SL_OP_CREATE = 'c',
    SL_OP_UPDATE = 'u',
    SL_OP_DELETE = 'd',
    SL_OP_READ = 'r',     /* snapshot */
    SL_OP_TRUNCATE = 't',
    SL_OP_MESSAGE = 'm',  /* logical decoding message */
    /* Not changes: Debezium's side records, each to a topic of its own. */
    SL_OP_HEARTBEAT = 'h', /* __debezium-heartbeat.<prefix> (heartbeat.interval.ms) */
    SL_OP_TX_BEGIN = 'B',  /* <prefix>.transaction (provide.transaction.metadata) */
    SL_OP_TX_END = 'E',
    SL_OP_SCHEMA = 'S',    /* <prefix> (include.schema.changes): a DDL statement, sl_record.schema_change */
} sl_op;

/* Logical column types; the encoders map each to Debezium's Connect schema. */
typedef enum sl_ctype {
    SL_T_UNKNOWN = 0,
    SL_T_BOOL,
    SL_T_INT16,
    SL_T_INT32,
    SL_T_INT64,
    SL_T_FLOAT32,
    SL_T_FLOAT64,
    SL_T_NUMERIC,     /* precision/scale in the column; scale < 0: variable */
    SL_T_MONEY,
    SL_T_STRING,      /* text, varchar, char, inet, cidr, macaddr, and unknown types */
    SL_T_BYTES,       /* bytea */
    SL_T_DATE,
    SL_T_TIME,        /* precision in the column */
    SL_T_TIMETZ,
    SL_T_TIMESTAMP,   /* precision in the column */
    SL_T_TIMESTAMPTZ,
    SL_T_INTERVAL,
    SL_T_UUID,
    SL_T_JSON,        /* json and jsonb */
    SL_T_XML,
    SL_T_ENUM,        /* allowed values in the column */
    SL_T_BIT,         /* bit(n) / varbit; length in the column */
    SL_T_ARRAY,       /* element type in column.elem */
    SL_T_YEAR,        /* MySQL YEAR: io.debezium.time.Year */
    SL_T_SET,         /* MySQL SET: io.debezium.data.EnumSet; labels in enum_values */
    SL_T_GEOMETRY,    /* MySQL spatial types: io.debezium.data.geometry.Geometry {wkb, srid} */
} sl_ctype;

/* How a cell's bytes represent the value. */
enum {
    SL_REPR_TEXT = 0, /* the text form (PostgreSQL type output; MySQL cell forms of rowimage.h) */
    SL_REPR_RAW = 1,  /* raw bytes (MySQL binary strings and geometry) */
};

typedef struct sl_column {
    char *name;
    sl_ctype type;
    sl_ctype elem;        /* element type when type == SL_T_ARRAY */
    uint32_t src_type;    /* source type id (PostgreSQL: type OID, base type for domains) */
    int32_t typmod;       /* source type modifier, -1 if none */
    int precision;        /* numeric precision, -1 if unconstrained */
    int scale;            /* numeric scale or fractional-second digits, -1 if unconstrained */
    int length;           /* bit(n) length, char(n) length; -1 if none */
    char *type_name;      /* source type name, e.g. "int4", "mood" */
    char *enum_values;    /* comma-separated labels for enums, else NULL */
    char *default_value;  /* the column's default in its cells' form (the Connect schema's "default"), or NULL */
    uint32_t default_len;
    bool key;             /* part of the record key */
    bool optional;        /* nullable */
    bool is_unsigned;     /* MySQL UNSIGNED integer or decimal */
    uint8_t repr;         /* SL_REPR_* of this column's cells */
} sl_column;

/* Schema of one captured table. Immutable once published; reference counted. */
typedef struct sl_table {
    int refcnt;           /* atomic */
    uint32_t id;          /* source id (PostgreSQL relation OID) */
    char *db, *schema, *name;
    char *topic;          /* <topic.prefix>.<schema>.<table> */
    int ncols;
    sl_column *cols;
    int nkeys;            /* columns with key == true */
    char replident;       /* PostgreSQL replica identity: d n f i */
    /* Encoder caches (schema JSON), filled lazily by the sink thread. */
    char *enc_key_schema, *enc_value_schema;
    size_t enc_key_schema_len, enc_value_schema_len;
} sl_table;

sl_table *sl_table_new(const char *db, const char *schema, const char *name, int ncols);
/* Sets c's default (n bytes in the form of its cells; NULL: none), replacing the one it had. */
void sl_column_set_default(sl_column *c, const char *v, size_t n);
sl_table *sl_table_ref(sl_table *t);
void sl_table_unref(sl_table *t);

enum { SL_CELL_NULL = 1, SL_CELL_UNCHANGED = 2 /* unchanged TOAST, value not sent */ };

typedef struct sl_cell {
    const char *data;     /* value bytes (not NUL-terminated), in the batch arena */
    uint32_t len;
    uint8_t flags;        /* SL_CELL_* */
} sl_cell;

/* source.snapshot (Debezium's SnapshotRecord): *_IN_DC mark a table's first / last row that is not the
 * snapshot's first / last. */
typedef enum sl_snap {
    SL_SNAP_NONE = 0, SL_SNAP_TRUE, SL_SNAP_FIRST, SL_SNAP_LAST, SL_SNAP_FIRST_IN_DC, SL_SNAP_LAST_IN_DC,
    SL_SNAP_INCREMENTAL
} sl_snap;

/* Source position of one record. PostgreSQL fills the LSN fields, MySQL the binlog fields. */
typedef struct sl_pos {
    uint64_t lsn;          /* LSN of this change (or of the commit for snapshot records) */
    uint64_t commit_lsn;   /* end LSN of the enclosing transaction's commit */
    uint64_t last_commit_lsn; /* end LSN of the previous transaction: Debezium's sequence[0] */
    /* MySQL / MariaDB (strings in the batch arena or static) */
    const char *file;      /* binlog file of the event */
    uint64_t file_pos;     /* position of the transaction's first event (the transaction id without GTIDs) */
    uint64_t event_pos;    /* Debezium's source.pos: where the rows event starts; 0: file_pos */
    const char *gtid;      /* GTID of the transaction (MariaDB domain-server-seq), or NULL */
    uint32_t server_id;
    uint32_t row;          /* row number inside the rows event */
    uint64_t thread;       /* thread id of the session that wrote it, 0 if unknown */
    const char *query;     /* the statement, when the server logs it (annotate rows), else NULL */
    /* PostgreSQL: the replication origin of the transaction (pgoutput Origin message), NULL if none */
    const char *origin;
    uint64_t origin_lsn;
    uint64_t final_lsn;    /* PostgreSQL: where the transaction's commit record starts (BEGIN's final_lsn) */
    const char *resume_token; /* MongoDB: the change's resume token (_id._data, hex), or NULL */
} sl_pos;

typedef struct sl_header {
    const char *key;
    const char *value;      /* in the batch arena; NULL: a null header */
    uint32_t value_len;
    bool is_json;           /* value is JSON text (e.g. a key struct), not a plain string */
} sl_header;

/*
 * A record that arrives already encoded (the Kafka source): its key and value
 * as JSON text, in the batch arena, exactly as the input converter produced
 * them (string converter: a JSON string; bytes: a base64 JSON string). Sinks
 * write them as they are; the record's op is taken from a Debezium envelope
 * when the value holds one, else SL_OP_CREATE.
 */
typedef struct sl_raw {
    const char *topic;      /* where it came from (and the default target topic) */
    int32_t partition;
    int64_t offset;
    int64_t ts_ms;          /* Kafka message timestamp, -1 if none */
    const char *key;        /* JSON text; NULL: null key */
    uint32_t key_len;
    const char *value;      /* JSON text; NULL: tombstone */
    uint32_t value_len;
    bool pinned;            /* a transform chose the target partition: to_partition (else: by key) */
    bool binary_key, binary_value; /* raw bytes (BSON, output.format=bson), not JSON text: Kafka sink only */
    /* Where the value's {"schema": S, "payload": P} parts are in its text, when the reader found them (lengths 0:
     * not known): a sink can take them without scanning the text again. */
    uint32_t value_schema_at, value_schema_len, value_payload_at, value_payload_len;
    int32_t to_partition;
} sl_raw;

/* A schema change (op S): Debezium's SchemaChangeValue parts, strings in the batch arena. */
typedef struct sl_schema_change {
    const char *db;           /* databaseName */
    const char *table;        /* source.table: the (first) table it changes, NULL for database statements */
    const char *ddl;          /* the statement */
    const char *table_changes; /* tableChanges: a JSON array of the payload form */
} sl_schema_change;

typedef struct sl_record {
    sl_op op;
    sl_snap snapshot;
    sl_table *table;        /* borrowed: the batch holds a reference; NULL for op m */
    sl_cell *before;        /* table->ncols cells or NULL */
    sl_cell *after;         /* table->ncols cells or NULL */
    sl_pos pos;
    int64_t ts_us;          /* source commit time, microseconds since the epoch */
    uint64_t txid;          /* 0 when not in a transaction */
    uint64_t tx_order;      /* 1-based position inside the transaction */
    uint64_t tx_coll_order; /* 1-based position among the transaction's events of this table (0: tx_order) */
    /* op m (logical decoding message) */
    const char *msg_prefix;
    const char *msg_content;
    uint32_t msg_len;
    bool msg_transactional;
    sl_header *headers;
    int nheaders;
    const sl_raw *raw;      /* set for pre-encoded records (table is NULL), else NULL */
    /* op E: the transaction's event count and its data_collections array (JSON payload, in the arena) */
    uint64_t tx_events;
    const char *tx_collections;
    const sl_schema_change *schema_change; /* op S */
} sl_record;

/*
 * A batch of records. offset/offset_seq describe the source position that is
 * safe to commit once this batch and every batch before it are durable in the
 * sink (NULL: the batch does not advance the position).
 */
typedef struct sl_batch {
    sl_arena arena;
    sl_record *recs;
    int n, cap;
    char *offset;           /* source offset as a JSON object, in the arena, or NULL */
    uint64_t offset_seq;    /* monotonic form of offset (PostgreSQL: LSN) for feedback */
    int offset_n;           /* the offset covers records [0, offset_n): those added before it was set
                             * (records after it, e.g. the start of the next transaction, are not) */
    uint64_t sync_id;       /* non-zero: store the offset at once (sl_ctx_emit_durable waits for it) */
    sl_table **tables;      /* references held by this batch */
    int ntables, tcap;
    struct sl_batch *next;  /* queue link */
    int64_t created_ms;     /* monotonic time the first record was added */
} sl_batch;

sl_batch *sl_batch_new(void);
/* Appends a zeroed record referencing table t (may be NULL) and returns it. */
sl_record *sl_batch_add(sl_batch *b, sl_table *t);
/* Approximate memory held by the batch, for the byte-bounded queue. */
size_t sl_batch_bytes(const sl_batch *b);
/* Sets the batch's offset; it covers the records added so far (offset_n). */
void sl_batch_set_offset(sl_batch *b, const char *offset_json, uint64_t seq);
void sl_batch_destroy(sl_batch *b);

const char *sl_ctype_name(sl_ctype t);
/* True when rows a and b of table t differ in a key column (unchanged-TOAST cells count as equal). */
bool sl_cells_key_changed(const sl_table *t, const sl_cell *a, const sl_cell *b);
/*
 * Checks that r holds only what the encoders can write: the text cells of its rows (columns of
 * SL_REPR_TEXT), its message prefix and its DDL statement are UTF-8. 0, or -1 with errstr naming the
 * column and the byte offset of the first bad byte. Pre-encoded records (raw) are the Kafka source's.
 */
int sl_record_check(const sl_record *r, char *errstr, size_t errstr_size);
/*
 * The record's place in its source's order of changes, as text: of two changes of one connector, the later one
 * has the greater text (bytewise; hex digits in upper case, so any locale's collation agrees). A snapshot row
 * sorts before every streamed change made after its snapshot. PostgreSQL: the transaction's commit position,
 * then the change's LSN and its place in the transaction (a key change's delete and create share an LSN);
 * MySQL / MariaDB: binlog file number, transaction start, event, row, place in the transaction; MongoDB: the resume
 * token; a Kafka record: its topic partition, then its offset (records of different partitions compare by
 * partition name only: they are not ordered). Returns the length (0: the record has no position, e.g. a copied
 * MongoDB document).
 */
size_t sl_record_order(const sl_record *r, char *out, size_t outsz);
/* Removes record i, keeping offset_n on the records its offset covers. */
void sl_batch_remove(sl_batch *b, int i);

#endif
