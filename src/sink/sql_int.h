/*
 * The SQL sink's parts (sink/sql.c): what the generic part (configuration,
 * records -> reduced rows per table, transactions, retries) shares with its
 * two dialects (sql_pg.c: libpq, COPY into a staging table; sql_my.c:
 * Connector/C, multi-row statements).
 */
#ifndef SL_SINK_SQL_INT_H
#define SL_SINK_SQL_INT_H
#include "core/conf.h"
#include "format/sql_row.h"
#include "util/arena.h"
#include "util/buf.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct sl_ctx sl_ctx;

enum { INS_INSERT, INS_UPSERT, INS_UPDATE };
enum { PK_NONE, PK_KAFKA, PK_RECORD_KEY, PK_RECORD_VALUE };

typedef struct sql_conf {
    char *url, *user, *password;
    int ins, pk, evolution; /* enums: INS_*, PK_*, 0 none / 1 basic */
    char *pk_fields;
    bool delete_enabled, truncate_enabled, auto_create, auto_evolve, quote_ids;
    char *quote_sql_ids;
    char *table_format;
    int64_t batch_size;
    bool reduction;
    char *field_include, *field_exclude;
    char *time_zone;
    int64_t max_retries, retry_ms;
    char *offsets_table; /* offset.storage.table */
    char *origin;        /* replication.origin.name: PostgreSQL target, "" none */
    int64_t server_id;   /* replication.server.id: MariaDB target, 0 none */
    /* Filled by check() (not table rows): */
    bool evolve, quote;
    /* Parsed from connection.url */
    sl_sql_dialect dialect;
    char host[256], db[256];
    int port;
    char url_params[2048]; /* key=value&... after '?' */
} sql_conf;

/* A result of running SQL: done, a statement the database refused (data, constraint, syntax: not worth
 * repeating), or a failure worth trying again on a new connection (lost connection, deadlock). */
enum { SQL_OK = 0, SQL_REFUSED = -1, SQL_RETRY = -2 };

/* A target table's name: schema (or database) may be empty (the connection's). */
typedef struct tname {
    char schema[128], table[128];
} tname;

/* One column of a target table as its catalog has it. */
typedef struct tcol {
    char *name;      /* as stored (PostgreSQL folds unquoted names to lower case) */
    char *type;      /* the catalog's type name, lower case (integer, character varying, int, varchar, ...) */
    int64_t length;  /* character maximum length, -1 */
    bool nullable;
    bool pk;         /* part of the table's primary key */
    int scale;       /* numeric scale or fractional-second digits, -1 none */
} tcol;

/* A run of rows for one table with one column layout: key columns first (nkeys of them), then the rest. Each
 * row is its columns' values rendered in the dialect's form (format/sql_row.h), one after the other. */
typedef struct srow {
    char op;            /* 'u' (insert/upsert/update) or 'd' */
    bool fresh;         /* the key's first change in this transaction created its row (op c or r, no unchanged
                         * columns): the target should not hold the key yet, so the row can be copied straight in */
    bool dead;          /* replaced by a later row of the same key, or its record was rejected */
    bool out;           /* left out of this apply (the sink is isolating a refused row) */
    uint32_t *at;       /* ncols + 1 offsets into text (the row's values: text + at[i] .. at[i + 1]) */
    const char *text;
    uint8_t *unchanged; /* bitmap of columns the source did not send (NULL: none) */
    uint32_t grp;       /* dialects: 0 = all columns, else the partial group (set by the dialect's apply) */
    uint32_t rec;       /* index into the sink's record identities */
} srow;

typedef struct seg {
    tname name;
    sl_sqlcol *cols;    /* owned copies */
    int ncols, nkeys;
    bool truncate;      /* a TRUNCATE, no rows */
    bool upsert;        /* rows of documents taken apart (__sluice_rows): upserted whatever insert.mode says */
    bool unique_key;    /* the target's primary key lies within the key columns: a second row of a key is refused
                         * (set before each apply; a dialect may then copy fresh rows straight into the table) */
    srow *rows;
    size_t nrows, cap;
    /* key text -> row index, for the reduction (open addressing, power-of-two size; 0 = empty, else idx + 1) */
    uint32_t *slots;
    size_t nslots;
    size_t live;
} seg;

typedef struct sql_sink sql_sink;

typedef struct sql_dialect {
    int (*connect)(sql_sink *s, char *err, size_t errsz);
    void (*disconnect)(sql_sink *s);
    /* Runs statements that return no rows. */
    int (*exec)(sql_sink *s, const char *sql, char *err, size_t errsz);
    /* Runs a query that returns at most one value: *out sl_malloc'ed, NULL for no row or a null. */
    int (*query1)(sql_sink *s, const char *sql, char **out, char *err, size_t errsz);
    /* The columns of table t (none: it does not exist). */
    int (*columns)(sql_sink *s, const tname *t, tcol **out, int *n, char *err, size_t errsz);
    /* Writes seg's fresh rows (live, not out) the fastest way the target has, without upserting: the generic
     * part runs it in a savepoint when the target's key is unique, and on a refusal (a key the target holds)
     * undoes it and leaves the rows to apply. */
    int (*fresh)(sql_sink *s, seg *g, char *err, size_t errsz);
    /* Writes seg's live rows that are not out (inside the transaction). */
    int (*apply)(sql_sink *s, seg *g, char *err, size_t errsz);
} sql_dialect;

/* A record a row came from: for errors and the dead letter queue. */
typedef struct srec {
    const char *what, *topic;
    int32_t partition;
    int64_t offset, ts_ms;
    const char *key, *value; /* copies for the log and the DLQ (errors.tolerance=all only); NULL: null */
    size_t key_len, value_len;
    bool failed;
} srec;

struct sql_sink {
    sl_ctx *ctx;
    sql_conf *conf;
    const sql_dialect *d;
    void *conn; /* PGconn / MYSQL */
    uint64_t conn_gen; /* bumped per connection (temporary tables are per connection) */
    sl_arena arena; /* rows, record identities: freed at each commit */
    seg **segs;
    size_t nsegs, capsegs;
    srec *recs;
    size_t nrecs, caprecs;
    void *dialect_state;
    struct sl_kafka_dlq *dlq; /* errors.deadletterqueue.topic.name, opened at the first rejected record */
    bool tolerate;            /* errors.tolerance=all */
    bool offsets;             /* offset.storage=target: commit() writes the offset with the rows */
    bool reader;              /* a connection that only reads (verify, a stored offset): no origin, no server id */
    char *commit_part, *commit_offset; /* the offset the transaction being written stores (NULL: none) */
    uint64_t dead;
    sl_buf sql, scratch;
    /* Documents taken apart into rows (values {"__sluice_rows": [...]}, the unembed transform's): the last one per
     * document (_id) in this transaction, turned into rows when the transaction is written */
    struct sgroup {
        const char *key, *ops; /* the record's topic, NUL, key; its value (JSON, in the arena) */
        size_t klen, olen;
        uint32_t rec;
        bool dead;             /* a later record of the same document replaced it, or it was rejected */
    } *groups;
    size_t ngroups, capgroups;
    bool expanded;             /* the groups are in the segments and in `after` */
    struct sdel *dels;         /* their deletes being batched per table (sql.c) */
    size_t ndels, capdels;
    sl_buf after;              /* their deletes (children a document no longer holds, deleted roots): statements
                                * run after the segments, each ending with a NUL */
};

/* The insert mode of segment g's rows. */
static inline int seg_ins(const sql_sink *s, const seg *g) { return g->upsert ? INS_UPSERT : s->conf->ins; }

/* The value of URL parameter k (percent-decoded) in out, or NULL. */
const char *sql_url_param(const sql_conf *c, const char *k, char *out, size_t outsz);
/* Appends identifier s as the sink writes it (quoted when quote.identifiers or when it needs quotes). */
void sql_put_ident(sl_buf *out, const sql_sink *s, const char *id);
/* Appends schema.table (or table). */
void sql_put_table(sl_buf *out, const sql_sink *s, const tname *t);
/* The value text of column i of row r. */
static inline const char *srow_val(const srow *r, int i, size_t *n) {
    *n = r->at[i + 1] - r->at[i];
    return r->text + r->at[i];
}
/* True for a row the dialect's apply leaves alone. */
static inline bool srow_skip(const srow *r) { return r->dead || r->out; }
static inline bool srow_unchanged(const srow *r, int i) { return r->unchanged && (r->unchanged[i / 8] >> (i % 8)) & 1; }

extern const sql_dialect sql_pg_dialect, sql_my_dialect;

#endif
