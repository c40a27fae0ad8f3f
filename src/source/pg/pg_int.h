/*
 * Private parts of the PostgreSQL source shared by its files:
 * pg_source.c (config, start-up decisions, the replication loop),
 * pg_catalog.c (connections, catalog look-ups, table schemas, filters) and
 * pg_snapshot.c (the initial snapshot inside the slot's exported snapshot).
 */
#ifndef SL_SOURCE_PG_INT_H
#define SL_SOURCE_PG_INT_H
#include <libpq-fe.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include "ctx/ctx.h"
#include "core/ctxhdr.h"
#include "core/filter.h"
#include "core/txmon.h"
#include "source/pg/pgoutput.h"

enum { SNAP_INITIAL, SNAP_INITIAL_ONLY, SNAP_NO_DATA, SNAP_NEVER, SNAP_WHEN_NEEDED, SNAP_ALWAYS };
enum { PUB_ALL_TABLES, PUB_DISABLED, PUB_FILTERED };

typedef struct pg_conf {
    char *host;
    int64_t port;
    char *user, *password, *dbname, *sslmode;
    char *topic_prefix;
    int plugin;
    char *slot_name;
    bool slot_drop_on_stop;
    int64_t slot_max_retries, slot_retry_delay_ms;
    char *publication;
    int pub_mode;
    char *table_include, *table_exclude, *column_include, *column_exclude;
    char *schema_include, *schema_exclude;
    int snapshot_mode;
    int64_t snapshot_fetch_size;
    int64_t snapshot_threads;
    int snapshot_new_tables;  /* snapshot.new.tables: 0 off, 1 incremental */
    int64_t heartbeat_ms;
    char *heartbeat_query;
    int decimal_mode, time_mode, binary_mode;
    char *skipped_ops;
    char *skipped_origins; /* skipped.origins */
    char *message_key_columns;
    bool provide_tx;
    int64_t status_interval_ms;
    int64_t retained_warn;    /* slot.retained.wal.warn.bytes */
    char *msg_prefix_include, *msg_prefix_exclude;
    int hstore_mode;          /* hstore.handling.mode: 0 json, 1 map */
    bool extended_headers;    /* extended.headers.enabled: __debezium.context.* headers */
} pg_conf;

/* A relation as the stream knows it: the published schema and the column map. */
typedef struct pg_rel {
    uint32_t relid;
    bool captured;
    int signal[3];      /* the signal table (signal.data.collection): its id, type and data columns; else -1s */
    sl_table *table;    /* captured columns only */
    int nsrc;           /* columns in the Relation message */
    int *map;           /* source column -> table column, or -1 */
} pg_rel;

typedef struct pg_source {
    pg_conf *cf;
    sl_txmon txmon;     /* provide.transaction.metadata: BEGIN/END records */
    sl_ctx *ctx;
    PGconn *sql;        /* regular connection: catalog, snapshot, heartbeats */
    PGconn *repl;       /* replication=database connection */
    sl_filter tables, columns, msg_prefixes;
    /* Start-up decisions. */
    bool do_snapshot, stream, created_slot, created_pub;
    bool keep_slot;     /* a new snapshot on the slot that holds the stored position (no exported snapshot) */
    char *snapshot_name;
    uint64_t start_lsn;
    uint64_t stream_until;    /* non-zero: stop streaming at this WAL position (initial_only catching up) */
    uint64_t snapshot_txid;   /* the snapshot transaction's id (its records' source.txId), 0 if none */
    /* An unfinished snapshot's progress from the stored offset: its first tables_done tables (of the list whose
     * oids hash to tables_hash) were read whole before the restart; of the next, the pages before
     * resume_table_pages while its file node was resume_table_filenode (parallel reads only). */
    int64_t resume_tables_done;
    uint64_t resume_tables_hash;
    int64_t resume_table_pages;
    int64_t resume_table_filenode;
    size_t snapshot_max_row;  /* the largest COPY row the snapshot read (libpq's buffer on sql is as large) */
    /* Stream state. */
    pg_rel *rels;
    int nrels, rels_cap;
    sl_pgo_scratch scratch;
    sl_batch *batch;
    bool in_txn;
    uint32_t txid;
    int64_t txn_ts_us;
    uint64_t txn_order;
    uint64_t begin_lsn;       /* WAL position of the transaction's BEGIN message */
    uint64_t final_lsn; /* the transaction's commit record position (BEGIN final_lsn) */
    bool origin_skipped; /* the transaction's origin is in skipped.origins: its changes are left out */
    char *origin;             /* replication origin of the transaction (Origin message), or NULL */
    uint64_t origin_lsn;
    const char *origin_in_batch; /* origin copied into the arena of origin_batch (the current batch, or NULL) */
    const sl_batch *origin_batch;
    sl_ctxhdr ctxhdr;         /* __debezium.context.* headers */
    uint64_t last_commit_lsn; /* end LSN of the last commit seen */
    uint64_t seq_commit_lsn;  /* source.sequence[0], Debezium's lastCommitLsn: 0 (null) after a start without
                               * a stored offset until the first COMMIT, then the last COMMIT's (or
                               * non-transactional message's) LSN */
    uint64_t received_lsn;    /* highest WAL position received */
    uint64_t offset_lsn;      /* newest offset attached to a batch */
    uint64_t reported_lsn;    /* flush position of the last status update */
    int64_t last_status_ms, last_heartbeat_ms, last_sql_check_ms;
    char **key_cols;          /* message.key.columns: "schema.table" -> "a,b" pairs */
    int nkey_cols;
    struct pg_isnap *isnap;   /* signals and incremental snapshots (pg_incremental.c), NULL until the first */
    int64_t isnap_poll_ms;
    uint32_t recent_xids[4096]; /* the last transactions the stream committed (a ring), for pg_recently_committed */
    unsigned recent_at;
} pg_source;

/* pg_verify.c: sl_source_ops.verify_open */
struct sl_vside;
int pg_verify_open(void *settings, struct sl_vside **out, char *errstr, size_t errsz);
/* sluice verify's rechecks: does the committed offset cover the snapshot's WAL position (pg_verify.c)? */
int pg_position_passed(const char *offset, const char *pos);

/* pg_catalog.c */
/* The table, column and message-prefix filters of s->cf (s->tables, s->columns, s->msg_prefixes). 0 or -1. */
int pg_setup_filters(pg_source *s, char *errstr, size_t errsz);
/* A table filter from the four lists (s->tables is made so). 0 or -1 with errstr. */
int pg_table_filter(sl_filter *f, const char *table_include, const char *table_exclude, const char *schema_include,
                    const char *schema_exclude, char *errstr, size_t errsz);
PGconn *pg_connect(const pg_conf *cf, bool replication, int timeout_s, char *errstr, size_t errsz);
/* Runs a query expecting tuples or a command; returns the result or NULL (errstr set). */
PGresult *pg_query(PGconn *c, const char *what, const char *sql, int nparams, const char *const *params,
                   char *errstr, size_t errsz);
/* Builds the table schema of relid from the catalog; cols restricts/orders it to the
 * Relation message's columns when given. NULL on error. */
sl_table *pg_describe(pg_source *s, uint32_t relid, const sl_pgo_col *cols, int ncols, int **map_out,
                      char *errstr, size_t errsz);
/* Captured tables ("schema.table" OIDs) in Debezium's snapshot order: by include-list entry, then name. */
int pg_list_tables(pg_source *s, uint32_t **oids, int *n, char *errstr, size_t errsz);
uint64_t pg_parse_lsn(const char *s);

/* pg_snapshot.c */
int pg_snapshot_run(pg_source *s);

/* pg_source.c: whether the stream handed on transaction xid among its last 4096. */
bool pg_recently_committed(const pg_source *s, uint32_t xid);
/* pg_incremental.c: signals and incremental snapshots. */
/* Stream loop, between messages: acts on signals, reads the next chunk when one is due. 0, -1 or SL_RETRY. */
int pg_isnap_step(pg_source *s);
/* Streaming: hands the batch on, tending the connection while the queue is full. 0, -1 (stopping) or SL_RETRY. */
int pg_stream_emit(pg_source *s);
/* A row inserted into the signal table. */
void pg_isnap_signal_row(pg_source *s, const char *id, const char *type, const char *data);
/* A logical decoding message: true when it is a watermark (it is then not emitted). */
bool pg_isnap_on_message(pg_source *s, const char *prefix, const char *content, size_t len, uint64_t lsn);
/* A change (or truncate) of table t in the stream: drops its key from an open window's chunk. */
void pg_isnap_on_change(pg_source *s, const sl_table *t, const sl_cell *before, const sl_cell *after);
void pg_isnap_on_truncate(pg_source *s, const sl_table *t);
/* The incremental_snapshot_* members (",..." or "") the source offset carries while a snapshot runs. */
const char *pg_isnap_offset_fields(pg_source *s);
/* Takes up an incremental snapshot from the stored offset. 0, or -1 with errstr. */
int pg_isnap_resume(pg_source *s, const char *offset, char *errstr, size_t errsz);
void pg_isnap_free(pg_source *s);

/* pg_source.c */
/* Hands on the current batch (it carries an offset) and waits until that offset is stored. */
int pg_emit_durable(pg_source *s);
int pg_emit_batch(pg_source *s);
/*
 * Keeps [data, data + len) of buf, a PQgetCopyData buffer of n bytes that this takes over, in the
 * current batch: copied into its arena (buf freed) or, from PG_ADOPT_BYTES on, buf itself adopted
 * by the arena (no copy: a 50 MB value is not held twice). Returns where the bytes now are; they
 * may be changed in place.
 */
#define PG_ADOPT_BYTES 65536
#define PG_RECONNECT_AFTER_BYTES (8u << 20) /* see release_copy_buffer in pg_source.c */
char *pg_keep_message(pg_source *s, char *buf, size_t n, char *data, size_t len);
/* Appends Debezium's __debezium.context.* headers to r (a record of the current batch). */
void pg_context_headers(pg_source *s, sl_record *r);
/* The source offset; snapshot_running marks the position a snapshot started from before its first row. */
void pg_offset_json(char *out, size_t outsz, uint64_t lsn, uint64_t commit_lsn, uint32_t txid, int64_t ts_us,
                    bool snapshot_running);

#endif
