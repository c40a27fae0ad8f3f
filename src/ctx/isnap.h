/*
 * Incremental snapshots (Debezium's ad hoc snapshots, by the watermark
 * algorithm of DBLog), the part every source that takes signals shares:
 * the queue of tables asked for and the signals that drive it, where the
 * table being read stands (its key columns, the last key emitted, the
 * largest key to read up to), the chunk in flight (its rows kept as cells,
 * indexed by key, so that a newer change of a key in the stream drops that
 * key's row), the rows emitted at the chunk's closing watermark, and the
 * progress the source offset carries (incremental_snapshot_* fields).
 *
 * The source reads its chunks and writes its watermarks its own way
 * (sl_isnap_ops) and tells the snapshot about the stream: the changes of the
 * table being read (sl_isnap_on_change, when newer than the chunk) and the
 * closing watermark (sl_isnap_emit). Source thread only.
 */
#ifndef SL_CTX_ISNAP_H
#define SL_CTX_ISNAP_H
#include "ctx/ctx.h"
#include "core/record.h"
#include "util/arena.h"
#include "util/buf.h"
#include <stdbool.h>
#include <stdint.h>

struct json_t;

typedef struct sl_isnap_coll {
    char *fq;    /* "schema.table" (MySQL: "db.table") */
    char *cond;  /* additional condition (SQL), or NULL */
    char *skey;  /* surrogate key column, or NULL */
    bool blocking; /* execute-snapshot type blocking: read whole while the stream waits (not in the offset) */
} sl_isnap_coll;

typedef struct sl_isnap {
    sl_ctx *ctx;
    const char *fac;          /* the source's log facility */
    char *id;                 /* the execute-snapshot signal's id (correlation id) */
    sl_isnap_coll *colls;     /* queued tables; colls[0] is being read */
    int ncolls;
    bool paused;
    /* the table being read (set by the source's start_table) */
    sl_table *t;              /* the schema of its rows, NULL until its turn */
    uint64_t tid;             /* the source's id of it (PostgreSQL: its oid) */
    int *keys, nkeys;         /* key columns of t */
    char **last, **max;       /* key texts (NULL entries: SQL NULL); last NULL: from the start; max NULL: not read */
    char **resume_last, **resume_max; /* from the stored offset, for the first table (width resume_n) */
    int resume_n;
    int64_t rows_done;
    double est;               /* estimated rows, < 0 unknown */
    /* the chunk in flight */
    char nonce[20];           /* this run's: watermarks of an earlier run carry another */
    uint64_t chunk_no;
    bool in_flight;           /* read, its rows not emitted yet (until the closing watermark) */
    sl_arena arena;           /* its rows' cells */
    sl_cell **rows;           /* t->ncols cells, then nkeys cells: the key as the source's query takes it back */
    int nrows, rows_cap;
    bool *gone;               /* rows dropped by newer changes */
    uint32_t *slots;          /* hash of the rows' keys: row + 1, 0 empty */
    uint32_t nslots;
    /* signals waiting for the end of the stream's transaction */
    struct sl_signal **pending;
    int npending;
    char *captured;           /* snapshot.new.tables=incremental: the table filters, JSON text for the offset */
    sl_buf offset;
    sl_buf scratch;           /* the source's, for its queries */
} sl_isnap;

/* What a source does its own way. Each returns -1 with errstr on an error. */
typedef struct sl_isnap_ops {
    /* The tables it captures, as "schema.table" names in its order (*names and each name sl_malloc'ed). */
    int (*tables)(void *src, char ***names, int *n, char *errstr, size_t errsz);
    /* Sets z->t, z->tid, z->keys/nkeys (the surrogate key colls[0].skey when given) and z->est for colls[0]
     * and, unless sl_isnap_take_resume gave them, z->max (the largest key now, with colls[0].cond). 0, or 1
     * when the table has nothing to read (gone, no key, no rows: logged). */
    int (*start_table)(void *src, sl_isnap *z, char *errstr, size_t errsz);
    /* Reads the next chunk (keys after z->last up to z->max, chunk-size rows: sl_isnap_chunk_begin, _row,
     * _ready) and, unless `blocking`, writes its watermarks. 0, or 1 to read it again at the next tick
     * (never when blocking). */
    int (*read_chunk)(void *src, sl_isnap *z, bool blocking, char *errstr, size_t errsz);
    /* A blocking snapshot's chunk: emits its rows at the stream's current position (sl_isnap_emit) and hands
     * the batch on, waiting for room in the queue as the stream does. 0, or what sl_ctx_raise returned. */
    int (*emit_chunk)(void *src, sl_isnap *z);
    /* snapshot.new.tables: for each of names (the tables captured now), whether the table filters stored in the
     * offset (the JSON object sl_isnap_new_tables recorded) captured it too. */
    int (*was_captured)(void *src, const struct json_t *stored, char *const *names, int n, bool *was, char *errstr,
                        size_t errsz);
} sl_isnap_ops;

sl_isnap *sl_isnap_new(sl_ctx *ctx, const char *fac);
void sl_isnap_free(sl_isnap *z);

/* Whether the source's snapshot z (NULL: none yet) should tick now: signals wait, a chunk is due, or 100 ms
 * passed since *last_ms. With no snapshot yet, only a signal from the channels makes it so: *first is that
 * signal, for sl_isnap_push once the source has made its snapshot. */
bool sl_isnap_wake(const sl_isnap *z, sl_ctx *ctx, int64_t *last_ms, size_t batched, struct sl_signal **first);
/* A signal acted on at the next tick. */
void sl_isnap_push(sl_isnap *z, struct sl_signal *sig);
/* A row of the signal table (channel "source"): acted on at the next tick. */
void sl_isnap_signal_row(sl_isnap *z, const char *id, const char *type, const char *data);
/* True when a chunk is due: a table queued, not paused, no chunk in flight, and fewer records queued for the
 * sink (with `batched` in the source's batch) than a chunk holds. */
bool sl_isnap_due(const sl_isnap *z, size_t batched);
/* Between two transactions of the stream: acts on the signals that came (the signal table's, then the
 * context's channels), then reads chunks while one is due: a blocking snapshot's table whole, the stream
 * waiting. 0, -1 with errstr, or (from emit_chunk) what sl_ctx_raise returned with errstr empty. */
int sl_isnap_tick(sl_isnap *z, const sl_isnap_ops *ops, void *src, size_t batched, char *errstr, size_t errsz);

/* The chunk: begin, one sl_isnap_chunk_row per row read (its t->ncols + nkeys cells to fill; data copied into
 * z->arena with sl_arena_memdup), then ready (indexes the keys; the chunk is in flight). */
void sl_isnap_chunk_begin(sl_isnap *z);
sl_cell *sl_isnap_chunk_row(sl_isnap *z);
void sl_isnap_chunk_ready(sl_isnap *z);
/* A change of table t (the table being read, newer than the chunk) seen in the stream: the chunk's rows with
 * its before or after key are dropped (t's columns matched to the chunk's by name). */
void sl_isnap_on_change(sl_isnap *z, const sl_table *t, const sl_cell *before, const sl_cell *after);
/* The table was truncated after the chunk: all its rows go. */
void sl_isnap_drop_all(sl_isnap *z);
/* At the chunk's closing watermark: its rows left become op r records (source.snapshot "incremental"; "true"
 * for a blocking snapshot's) of b, each passed to fill (position, headers) before the next; the table ends
 * when the chunk was short. */
void sl_isnap_emit(sl_isnap *z, sl_batch *b, void (*fill)(void *src, sl_record *r), void *src);

/* The offset's incremental_snapshot_* (and captured_tables) members, ",\"k\":v..." ("" when none). */
const char *sl_isnap_offset_fields(sl_isnap *z);
/* Takes the snapshot's progress from a stored offset (parsed): the queue, and the first table's position, given
 * to it at its start (start_table keeps a position only when its key has the same width). 0, or -1 with errstr. */
int sl_isnap_resume(sl_isnap *z, const struct json_t *offset, char *errstr, size_t errsz);
/* start_table's part of a resume: 1 when the stored position applies (z->last and z->max set), else 0. */
int sl_isnap_take_resume(sl_isnap *z);
/* Queues a table (snapshot.new.tables) under correlation id `id` when none is running. */
void sl_isnap_queue(sl_isnap *z, const char *id, const char *fq, const char *cond, const char *skey);
/* snapshot.new.tables=incremental: filters (key, value pairs, NULL-ended; a NULL value is "") are the source's
 * table filters now, kept for the offset (captured_tables). When the offset's differ and no initial snapshot
 * runs, each table captured now (ops->tables) that the stored filters did not capture (ops->was_captured) is
 * queued. 0, or -1 with errstr. */
int sl_isnap_new_tables(sl_isnap *z, const sl_isnap_ops *ops, void *src, const struct json_t *offset,
                        const char *const *filters, bool snapshotting, char *errstr, size_t errsz);

#endif
