/*
 * Private parts of the MySQL/MariaDB source shared by its files:
 * my_source.c (config, start-up checks, the binlog loop), my_schema.c
 * (TABLE_MAP parsing, table schemas from the binlog's metadata or
 * information_schema) and my_snapshot.c (the consistent, chunked snapshot).
 */
#ifndef SL_SOURCE_MYSQL_INT_H
#define SL_SOURCE_MYSQL_INT_H
#include <mysql.h>
#include <stdbool.h>
#include <stdint.h>
#include "ctx/ctx.h"
#include "core/ctxhdr.h"
#include "core/filter.h"
#include "core/txmon.h"
#include "source/mysql/ddl.h"
#include "source/mysql/rowimage.h"
#include "util/buf.h"

enum { MY_SNAP_INITIAL, MY_SNAP_INITIAL_ONLY, MY_SNAP_NO_DATA, MY_SNAP_NEVER, MY_SNAP_WHEN_NEEDED };
enum { MY_LOCK_MINIMAL, MY_LOCK_NONE };

typedef struct my_conf {
    char *host;
    int64_t port;
    char *user, *password;
    int64_t server_id;
    char *topic_prefix;
    char *db_include, *db_exclude, *table_include, *table_exclude, *column_include, *column_exclude;
    int snapshot_mode, locking_mode;
    int64_t snapshot_chunk;
    int64_t snapshot_threads; /* snapshot.max.threads */
    int snapshot_new_tables;  /* snapshot.new.tables: 0 off, 1 incremental */
    bool read_only;           /* read.only: incremental snapshots take GTID positions as watermarks */
    int decimal_mode, time_mode, binary_mode, bigint_mode;
    int64_t heartbeat_ms;
    bool include_query;
    bool extended_headers;
    bool include_schema_changes, include_schema_comments;
    bool provide_tx;
    char *gtid_includes, *gtid_excludes;
    char *skipped_ops;
    char *skipped_server_ids; /* skipped.server.ids */
    int64_t connect_timeout_ms;
} my_conf;

/* A table as the binlog describes it (by TABLE_MAP table id). */
typedef struct my_rel {
    uint64_t table_id;
    bool captured;
    sl_table *table;      /* captured columns only */
    int ncols;            /* binlog columns */
    sl_my_col *cols;      /* binlog column descriptions (in arena) */
    int *map;             /* binlog column -> table column, or -1 */
    sl_arena arena;       /* strings and labels of cols */
    uint8_t *tmap;        /* the TABLE_MAP body this was built from (same bytes again: nothing to do) */
    bool signal;          /* the signal table (signal.data.collection): its inserts are signals and watermarks */
    bool hidden;          /* the signal table, not captured: decoded for its signals, no records */
    size_t tmap_len;
} my_rel;

/* Binlog position and GTID state: the offset. */
typedef struct my_pos {
    char file[256];
    uint64_t pos;
    char gtids[1024];     /* MariaDB domain-server-seq list, "" when unknown */
} my_pos;

typedef struct my_source {
    my_conf *cf;
    sl_txmon txmon;       /* provide.transaction.metadata: BEGIN/END records */
    sl_ctxhdr ctxhdr;     /* __debezium.context.* headers (extended.headers.enabled) */
    sl_ctx *ctx;
    MYSQL *sql;           /* queries, snapshot */
    MYSQL *binlog;        /* the replication connection */
    void *rpl;            /* MARIADB_RPL */
    sl_filter dbs, tables, columns;
    bool mariadb;         /* server flavour */
    bool gtid_mode;       /* resume by GTID */
    int checksum_len;     /* 4 when binlog events end with a CRC32 */
    bool do_snapshot, stream;
    bool schema_only; /* snapshot.mode=no_data: the snapshot sends the schema change events, no rows */
    char *resume_snapshot; /* snapshot progress from the stored offset (JSON), or NULL */
    my_pos start;          /* where streaming starts */
    my_pos cur;            /* position of the next event; gtids = committed state */
    /* transaction in progress */
    bool in_txn;
    char txn_gtid[64];
    uint64_t txn_pos;
    uint64_t ev_pos;      /* start of the rows event being decoded: its records' source.pos */
    uint64_t txn_thread;
    int64_t txn_ts_us;
    uint64_t txn_order;
    char *query;           /* last ANNOTATE_ROWS statement (arena of the current batch) */
    my_rel *rels;
    int nrels, rels_cap;
    sl_batch *batch;
    sl_filter gtid_filter; /* gtid.source.includes/excludes, compiled at the first GTID */
    int gtid_filter_state; /* 0 not compiled yet, 1 compiled, -1 none */
    int64_t lag_checked_ms; /* when the binlog bytes behind were last measured */
    bool lag_unavailable;  /* SHOW BINARY LOGS refused: not measured */
    char gone[1700];       /* the server said the position to stream from is not in its binlog (when_needed) */
    struct my_isnap *isnap; /* signals and incremental snapshots (my_incremental.c), NULL until the first */
    int64_t isnap_poll_ms;
} my_source;

/* my_schema.c */
my_rel *my_rel_find(my_source *s, uint64_t table_id);
/* Parses a TABLE_MAP event body (after the common header) and (re)builds its relation. */
int my_on_table_map(my_source *s, const uint8_t *body, size_t len, char *errstr, size_t errsz);
/* Table schema from information_schema (snapshot, or binlog without column names). */
sl_table *my_describe(my_source *s, const char *db, const char *table, sl_my_col **cols_out, int *ncols_out,
                      sl_arena *arena, char *errstr, size_t errsz);
void my_rels_free(my_source *s);
/* Debezium's context headers on a change event r of the current batch (extended.headers.enabled). */
void my_context_headers(my_source *s, sl_record *r);
/* Forgets what TABLE_MAPs said of db.table (a DDL statement changed it). */
void my_rels_forget(my_source *s, const char *db, const char *table);
void my_column_from_binlog(my_source *s, sl_column *c, const sl_my_col *mc);
/* to's default (the Connect schema's "default") becomes a copy of from's. */
void my_column_copy_default(sl_column *to, const sl_column *from);
/* Appends Debezium's tableChanges element for db.table as information_schema describes it now (table
 * null when it no longer exists); stmt is the DDL statement read from the binlog (NULL in the snapshot),
 * for what Debezium takes from the statement it parses. 0, or -1 with errstr when the query failed. */
int my_table_change(my_source *s, const char *type, const char *db, const char *table, bool comments,
                    const char *stmt, size_t stmt_len, sl_buf *out, char *errstr, size_t errsz);

/* my_snapshot.c */
int my_snapshot_run(my_source *s);
/* A table as a snapshot reads it: the server's columns and the captured ones' schema. */
typedef struct my_snap_table {
    sl_table *t;          /* information_schema's description, every column */
    sl_table *out;        /* the captured columns' schema, as streaming has it */
    sl_my_col *mcols;     /* every column */
    int nm;
    int *keep, nkeep;     /* the mcols of out's columns */
    int *keys, nkeys;     /* the mcols of the primary key */
    sl_arena meta;
} my_snap_table;
int my_snap_table_open(my_source *s, const char *db, const char *tb, my_snap_table *st, char *errstr, size_t errsz);
void my_snap_table_close(my_snap_table *st);
/* A text-protocol value in the binlog decoder's cell form (rowimage.h). */
sl_cell my_snap_cell(sl_arena *a, const sl_my_col *mc, const char *v, unsigned long n);
void my_quote_ident(sl_buf *b, const char *s);
void my_quote_literal(my_source *s, sl_buf *b, const char *v, size_t n);
/* Adds a schema change record (Debezium's SchemaChangeValue) to the batch, positioned at the transaction
 * being read; tables is the comma-separated names for source.table (NULL: none). */
sl_record *my_schema_record(my_source *s, uint32_t server_id, const char *db, const char *tables, const char *ddl,
                            size_t ddl_len, const char *changes, size_t changes_len);

/* my_source.c */
MYSQL *my_connect(const my_conf *cf, char *errstr, size_t errsz);
/* The database, table and column filters of s->cf. 0, or -1 with errstr. */
int my_setup_filters(my_source *s, char *errstr, size_t errsz);

/* my_verify.c: sl_source_ops.verify_open */
struct sl_vside;
int my_verify_open(void *settings, struct sl_vside **out, char *errstr, size_t errsz);
/* sluice verify's rechecks: does the committed offset cover the snapshot's binlog file:position (my_verify.c)? */
int my_position_passed(const char *offset, const char *pos);
int my_query(MYSQL *m, const char *what, const char *sql, char *errstr, size_t errsz);
/* Runs a query returning one row; copies up to ncols values (NULL -> ""). */
int my_query_row(MYSQL *m, const char *what, const char *sql, char **vals, int ncols, char *errstr, size_t errsz);
int my_emit_batch(my_source *s);
/* The newest GTID of domain dom in a MariaDB domain-server-seq list (copied to out), or NULL. */
const char *my_gtid_of_domain(const char *list, unsigned long dom, char *out, size_t outsz);

/* my_incremental.c: signals and incremental snapshots */
/* Between transactions: acts on signals, reads a chunk when one is due. 0, or what sl_ctx_raise returned. */
int my_isnap_step(my_source *s);
/* read.only watermarks: a transaction's GTID event (before the transaction). */
void my_isnap_on_gtid(my_source *s, const char *gtid);
/* An insert into the signal table (t's first three columns: id, type, data): a signal or a watermark. */
void my_isnap_signal_row(my_source *s, const sl_table *t, const sl_cell *after, uint32_t server_id);
/* A streamed change of a captured table (cells of t, NULL for a side the change has not). */
void my_isnap_on_change(my_source *s, const sl_table *t, const sl_cell *before, const sl_cell *after);
/* The offset's incremental_snapshot_* members (",..." or ""). */
const char *my_isnap_offset_fields(my_source *s);
int my_isnap_resume(my_source *s, const char *offset, char *errstr, size_t errsz);
void my_isnap_free(my_source *s);
/* Hands on the current batch (it carries an offset) and waits until that offset is stored. */
int my_emit_durable(my_source *s);
void my_offset_json(my_source *s, char *out, size_t outsz, const my_pos *p, const char *snapshot_progress);

#endif
