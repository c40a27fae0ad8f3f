/*
 * PostgreSQL source: signals and incremental snapshots (Debezium's ad hoc
 * snapshots, by the watermark algorithm of DBLog); the queue, the signals,
 * the chunk's rows and the offset fields are ctx/isnap's.
 *
 * Signals reach the source from its signal table (a row inserted into
 * signal.data.collection, seen in its own change stream) and from the
 * context's channels (file, Kafka, REST: sl_ctx_signal_next). They are acted
 * on between transactions of the stream.
 *
 * A table is read in chunks of incremental.snapshot.chunk.size rows in key
 * order, up to the largest key it held when its turn came. Each chunk is
 * read on the SQL connection, between two transactions of the stream, in a
 * REPEATABLE READ transaction whose snapshot is noted (xmax and the running
 * transactions); then a watermark follows, a non-transactional logical
 * decoding message (pg_logical_emit_message, prefix __sluice_isnap: no
 * table is written, so no signal table is needed). The stream goes on
 * meanwhile. Until it reaches the watermark, a change of the table whose
 * transaction the snapshot does not see (it committed later, so it is newer
 * than the chunk's row) drops that key's row from the chunk. At the
 * watermark the rows left are emitted as op r with source.snapshot
 * "incremental", right there in the stream: no row read by a chunk ever
 * lands after a newer change of its key, and the stream never stops. (The
 * snapshot's own list decides, not an opening watermark: a commit is in
 * the WAL before it is visible, so a transaction before such a watermark
 * could still be missing from the chunk. One the stream has already handed
 * on and the snapshot lists as running makes the chunk be read again.)
 *
 * Progress rides in the source offset (incremental_snapshot_* fields): the
 * queue and the last key emitted. A restart (or a kill -9) goes on after the
 * last chunk whose rows the stored offset covers; watermarks of an earlier
 * run carry another nonce and are ignored.
 */
#include "core/log.h"
#include "ctx/isnap.h"
#include "source/pg/pg_int.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WM_PREFIX "__sluice_isnap"

typedef struct pg_isnap {
    sl_isnap *z;
    uint32_t xmax;            /* the chunk's snapshot: transactions from xmax on, and those in xip, are not in it */
    uint32_t *xip;
    int nxip;
} pg_isnap;

static pg_isnap *isnap(pg_source *s) {
    if (!s->isnap) {
        s->isnap = sl_calloc(1, sizeof *s->isnap);
        s->isnap->z = sl_isnap_new(s->ctx, "pg");
    }
    return s->isnap;
}

/* The captured tables in the connector's order: "schema.table" names. */
static int list_tables(void *src, char ***names, int *n, char *errstr, size_t errsz) {
    pg_source *s = src;
    uint32_t *oids = NULL;
    int no = 0;
    if (pg_list_tables(s, &oids, &no, errstr, errsz) < 0) return -1;
    sl_buf q;
    sl_buf_init(&q);
    sl_buf_puts(&q, "{");
    for (int i = 0; i < no; i++) sl_buf_printf(&q, "%s%u", i ? "," : "", oids[i]);
    sl_buf_puts(&q, "}");
    const char *p[1] = {sl_buf_cstr(&q)};
    PGresult *r = pg_query(s->sql, "listing the captured tables",
                           "SELECT n.nspname || '.' || c.relname FROM unnest($1::oid[]) WITH ORDINALITY u(o, k)"
                           " JOIN pg_class c ON c.oid = u.o JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY k",
                           1, p, errstr, errsz);
    sl_buf_free(&q);
    sl_free(oids);
    if (!r) return -1;
    *n = PQntuples(r);
    *names = sl_calloc((size_t)*n + 1, sizeof **names);
    for (int i = 0; i < *n; i++) (*names)[i] = sl_strdup(PQgetvalue(r, i, 0));
    PQclear(r);
    return 0;
}

void pg_isnap_signal_row(pg_source *s, const char *id, const char *type, const char *data) {
    sl_isnap_signal_row(isnap(s)->z, id, type, data);
}

/* ---- chunks ---- */

static int emit_watermark(pg_source *s, const char *what, char *errstr, size_t errsz) {
    sl_isnap *z = s->isnap->z;
    char content[96];
    snprintf(content, sizeof content, "%s:%s:%" PRIu64, what, z->nonce, z->chunk_no);
    const char *p[1] = {content};
    PGresult *r = pg_query(s->sql, "writing a snapshot watermark",
                           "SELECT pg_logical_emit_message(false, '" WM_PREFIX "', $1)", 1, p, errstr, errsz);
    if (!r) return -1;
    PQclear(r);
    return 0;
}

static void key_list(pg_source *s, sl_buf *q, bool desc) {
    sl_isnap *z = s->isnap->z;
    for (int i = 0; i < z->nkeys; i++) {
        const char *name = z->t->cols[z->keys[i]].name;
        char *id = PQescapeIdentifier(s->sql, name, strlen(name));
        sl_buf_printf(q, "%s%s%s", i ? ", " : "", id, desc ? " DESC" : "");
        PQfreemem(id);
    }
}

/* Starts the table colls[0]: its schema, key and largest key (ops.start_table). */
static int start_table(void *src, sl_isnap *z, char *errstr, size_t errsz) {
    pg_source *s = src;
    sl_isnap_coll *c = &z->colls[0];
    const char *p[1] = {c->fq};
    PGresult *r = pg_query(s->sql, "finding a snapshot table",
                           "SELECT c.oid, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                           " WHERE n.nspname || '.' || c.relname = $1", 1, p, errstr, errsz);
    if (!r) return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        SL_WARN("pg", "incremental snapshot: table %s no longer exists", c->fq);
        return 1;
    }
    z->tid = (uint32_t)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
    z->est = atof(PQgetvalue(r, 0, 1));
    PQclear(r);
    int *map = NULL;
    z->t = pg_describe(s, (uint32_t)z->tid, NULL, 0, &map, errstr, errsz);
    sl_free(map);
    if (!z->t) return -1;
    z->keys = sl_calloc((size_t)z->t->ncols + 1, sizeof *z->keys);
    z->nkeys = 0;
    for (int i = 0; i < z->t->ncols && z->nkeys < 32; i++)
        if (c->skey ? strcmp(z->t->cols[i].name, c->skey) == 0 : z->t->cols[i].key) z->keys[z->nkeys++] = i;
    if (z->nkeys == 0) {
        SL_ERR("pg", "incremental snapshot of %s skipped: %s", c->fq,
               c->skey ? "its surrogate-key column is not captured" : "the table has no primary key (name a "
                                                                      "surrogate-key in the signal)");
        return 1;
    }
    if (sl_isnap_take_resume(z)) return 0; /* a restart: the stored offset says where this table stands */
    /* The largest key now: rows inserted later come by the stream. */
    sl_buf q;
    sl_buf_init(&q);
    sl_buf_puts(&q, "SELECT ");
    key_list(s, &q, false);
    char *nsp = PQescapeIdentifier(s->sql, z->t->schema, strlen(z->t->schema));
    char *rel = PQescapeIdentifier(s->sql, z->t->name, strlen(z->t->name));
    sl_buf_printf(&q, " FROM %s.%s", nsp, rel);
    PQfreemem(nsp), PQfreemem(rel);
    if (c->cond) sl_buf_printf(&q, " WHERE (%s)", c->cond);
    sl_buf_puts(&q, " ORDER BY ");
    key_list(s, &q, true);
    sl_buf_puts(&q, " LIMIT 1");
    r = pg_query(s->sql, "reading a snapshot table's largest key", sl_buf_cstr(&q), 0, NULL, errstr, errsz);
    sl_buf_free(&q);
    if (!r) return -1;
    if (PQntuples(r) == 1) {
        z->max = sl_calloc((size_t)z->nkeys + 1, sizeof *z->max);
        for (int i = 0; i < z->nkeys; i++) z->max[i] = PQgetisnull(r, 0, i) ? NULL : sl_strdup(PQgetvalue(r, 0, i));
    }
    PQclear(r);
    if (!z->max) {
        SL_INFO("pg", "incremental snapshot of %s: no rows", c->fq);
        return 1;
    }
    return 0;
}

/* The chunk's rows into z (ops.read_chunk's end). */
static void take_rows(sl_isnap *z, PGresult *rows) {
    sl_isnap_chunk_begin(z);
    for (int row = 0; row < PQntuples(rows); row++) {
        sl_cell *cells = sl_isnap_chunk_row(z);
        for (int i = 0; i < z->t->ncols; i++)
            cells[i] = PQgetisnull(rows, row, i)
                           ? (sl_cell){NULL, 0, SL_CELL_NULL}
                           : (sl_cell){sl_arena_memdup(&z->arena, PQgetvalue(rows, row, i),
                                                       (size_t)PQgetlength(rows, row, i)),
                                       (uint32_t)PQgetlength(rows, row, i), 0};
        for (int i = 0; i < z->nkeys; i++) cells[z->t->ncols + i] = cells[z->keys[i]]; /* text: as the query takes it */
    }
    PQclear(rows);
    sl_isnap_chunk_ready(z);
}

/* Reads the next chunk of the current table and, unless blocking, writes its watermark (ops.read_chunk). */
static int read_chunk(void *src, sl_isnap *z, bool blocking, char *errstr, size_t errsz) {
    pg_source *s = src;
    pg_isnap *pz = s->isnap;
    sl_isnap_coll *c = &z->colls[0];
    sl_buf *q = &z->scratch;
    sl_buf_reset(q);
    sl_buf_puts(q, "SELECT ");
    for (int i = 0; i < z->t->ncols; i++) {
        char *id = PQescapeIdentifier(s->sql, z->t->cols[i].name, strlen(z->t->cols[i].name));
        sl_buf_printf(q, "%s%s", i ? ", " : "", id);
        PQfreemem(id);
    }
    if (z->t->ncols == 0) sl_buf_puts(q, "NULL");
    char *nsp = PQescapeIdentifier(s->sql, z->t->schema, strlen(z->t->schema));
    char *rel = PQescapeIdentifier(s->sql, z->t->name, strlen(z->t->name));
    sl_buf_printf(q, " FROM %s.%s WHERE ROW(", nsp, rel);
    PQfreemem(nsp), PQfreemem(rel);
    key_list(s, q, false);
    const char *params[64];
    Oid types[64];
    int np = 0;
    sl_buf_puts(q, ") <= ROW(");
    for (int i = 0; i < z->nkeys; i++) {
        types[np] = z->t->cols[z->keys[i]].src_type;
        params[np++] = z->max[i];
        sl_buf_printf(q, "%s$%d", i ? ", " : "", np);
    }
    sl_buf_puts(q, ")");
    if (z->last) {
        sl_buf_puts(q, " AND ROW(");
        key_list(s, q, false);
        sl_buf_puts(q, ") > ROW(");
        for (int i = 0; i < z->nkeys; i++) {
            types[np] = z->t->cols[z->keys[i]].src_type;
            params[np++] = z->last[i];
            sl_buf_printf(q, "%s$%d", i ? ", " : "", np);
        }
        sl_buf_puts(q, ")");
    }
    if (c->cond) sl_buf_printf(q, " AND (%s)", c->cond);
    sl_buf_puts(q, " ORDER BY ");
    key_list(s, q, false);
    sl_buf_printf(q, " LIMIT %" PRId64, sl_ctx_core(s->ctx)->isnap_chunk);
    if (blocking) { /* the stream waits: no window to watch */
        PGresult *rows = PQexecParams(s->sql, sl_buf_cstr(q), np, types, params, NULL, NULL, 0);
        if (PQresultStatus(rows) != PGRES_TUPLES_OK) {
            snprintf(errstr, errsz, "blocking snapshot of %s: %s", c->fq, PQresultErrorMessage(rows));
            errstr[strcspn(errstr, "\n")] = 0;
            PQclear(rows);
            return -1;
        }
        take_rows(z, rows);
        return 0;
    }
    /* The chunk in a snapshot whose transactions it knows (REPEATABLE READ: the snapshot of its first query). */
    PGresult *r = pg_query(s->sql, "beginning a snapshot chunk", "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL,
                           errstr, errsz);
    if (!r) return -1;
    PQclear(r);
    r = pg_query(s->sql, "reading a chunk's snapshot",
                 "SELECT pg_snapshot_xmax(s)::text, (SELECT string_agg(x::text, ',') FROM pg_snapshot_xip(s) x)"
                 " FROM pg_current_snapshot() s", 0, NULL, errstr, errsz);
    PGresult *rows = r ? PQexecParams(s->sql, sl_buf_cstr(q), np, types, params, NULL, NULL, 0) : NULL;
    if (rows && PQresultStatus(rows) != PGRES_TUPLES_OK) {
        snprintf(errstr, errsz, "incremental snapshot of %s: %s", c->fq, PQresultErrorMessage(rows));
        errstr[strcspn(errstr, "\n")] = 0;
        PQclear(rows), rows = NULL;
    }
    PGresult *end = PQexec(s->sql, rows ? "COMMIT" : "ROLLBACK");
    PQclear(end);
    if (!rows) {
        PQclear(r);
        return -1;
    }
    /* 64-bit transaction ids; the stream's are their low 32 bits */
    pz->xmax = (uint32_t)strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    pz->nxip = 0;
    const char *xl = PQgetvalue(r, 0, 1);
    pz->xip = sl_realloc(pz->xip, sizeof *pz->xip * (strlen(xl) / 2 + 1));
    for (char *e; *xl; xl = *e ? e + 1 : e) pz->xip[pz->nxip++] = (uint32_t)strtoull(xl, &e, 10);
    PQclear(r);
    /* A transaction the stream has already handed on can still be in the snapshot's running list (its commit is
     * in the WAL, it waited for the flush before it became visible): the chunk would then hold rows older than
     * changes already sent. Read it again. */
    for (int i = 0; i < pz->nxip; i++)
        if (pg_recently_committed(s, pz->xip[i])) {
            SL_DEBUG("pg", "incremental snapshot table=%s: transaction %u was handed on but not yet visible to the "
                           "chunk: reading it again", c->fq, pz->xip[i]);
            PQclear(rows);
            return 1;
        }
    z->chunk_no++;
    if (emit_watermark(s, "close", errstr, errsz) < 0) {
        PQclear(rows);
        return -1;
    }
    take_rows(z, rows);
    return 0;
}

typedef struct fill_arg {
    pg_source *s;
    uint64_t lsn;
} fill_arg;

/* Position and headers of a chunk row emitted at lsn (the watermark's, or the stream's for a blocking one). */
static void fill(void *arg, sl_record *rec) {
    fill_arg *f = arg;
    rec->pos.lsn = rec->pos.commit_lsn = f->lsn;
    rec->pos.last_commit_lsn = f->s->seq_commit_lsn;
    pg_context_headers(f->s, rec);
}

static int emit_chunk(void *src, sl_isnap *z) {
    pg_source *s = src;
    fill_arg f = {s, s->offset_lsn};
    sl_isnap_emit(z, s->batch, fill, &f);
    return pg_stream_emit(s);
}

/* snapshot.new.tables: which of names the stored filters captured. */
static int was_captured(void *src, const json_t *old, char *const *names, int n, bool *was, char *errstr,
                        size_t errsz) {
    sl_filter f;
    if (pg_table_filter(&f, json_string_value(json_object_get(old, "table.include.list")),
                        json_string_value(json_object_get(old, "table.exclude.list")),
                        json_string_value(json_object_get(old, "schema.include.list")),
                        json_string_value(json_object_get(old, "schema.exclude.list")), errstr, errsz) < 0)
        return -1;
    for (int i = 0; i < n; i++) was[i] = sl_filter_match(&f, names[i]);
    sl_filter_free(&f);
    return 0;
}

static const sl_isnap_ops pg_isnap_ops = {list_tables, start_table, read_chunk, emit_chunk, was_captured};

int pg_isnap_step(pg_source *s) {
    /* Between transactions only: a chunk's check against the transactions the stream handed on (read_chunk)
     * must not meet one half handed on. */
    sl_signal *first;
    if (s->in_txn || !sl_isnap_wake(s->isnap ? s->isnap->z : NULL, s->ctx, &s->isnap_poll_ms, (size_t)s->batch->n,
                                    &first))
        return 0;
    sl_isnap *z = isnap(s)->z;
    if (first) sl_isnap_push(z, first);
    char err[1024];
    int rc = sl_isnap_tick(z, &pg_isnap_ops, s, (size_t)s->batch->n, err, sizeof err);
    if (rc == 0 || !*err) return rc < 0 && sl_ctx_stopping(s->ctx) ? 0 : rc; /* !*err: emit_chunk's */
    return sl_ctx_raisef(s->ctx, PQstatus(s->sql) == CONNECTION_BAD ? SL_E_CONNECT : SL_E_PROTOCOL, "%s", err);
}

bool pg_isnap_on_message(pg_source *s, const char *prefix, const char *content, size_t len, uint64_t lsn) {
    if (strcmp(prefix, WM_PREFIX) != 0) return false;
    sl_isnap *z = s->isnap ? s->isnap->z : NULL;
    if (!z || !z->in_flight) return true; /* an earlier run's, or another connector's */
    char want[96];
    int n = snprintf(want, sizeof want, "close:%s:%" PRIu64, z->nonce, z->chunk_no);
    if ((size_t)n == len && memcmp(content, want, len) == 0) {
        fill_arg f = {s, lsn};
        sl_isnap_emit(z, s->batch, fill, &f);
    }
    return true;
}

/* Whether the stream's transaction xid is one the chunk's snapshot does not see (it committed later). */
static bool after_chunk(const pg_isnap *pz, uint32_t xid) {
    if ((int32_t)(xid - pz->xmax) >= 0) return true;
    for (int i = 0; i < pz->nxip; i++)
        if (pz->xip[i] == xid) return true;
    return false;
}

void pg_isnap_on_change(pg_source *s, const sl_table *t, const sl_cell *before, const sl_cell *after) {
    pg_isnap *pz = s->isnap;
    if (!pz->z->in_flight || t->id != pz->z->tid || !after_chunk(pz, s->txid)) return;
    sl_isnap_on_change(pz->z, t, before, after);
}

void pg_isnap_on_truncate(pg_source *s, const sl_table *t) {
    pg_isnap *pz = s->isnap;
    if (!pz->z->in_flight || t->id != pz->z->tid || !after_chunk(pz, s->txid)) return;
    sl_isnap_drop_all(pz->z);
}

const char *pg_isnap_offset_fields(pg_source *s) {
    return s->isnap ? sl_isnap_offset_fields(s->isnap->z) : "";
}

int pg_isnap_resume(pg_source *s, const char *offset, char *errstr, size_t errsz) {
    json_t *o = offset ? json_loads(offset, 0, NULL) : NULL;
    int rc = 0;
    if (json_object_get(o, "incremental_snapshot_collections")) rc = sl_isnap_resume(isnap(s)->z, o, errstr, errsz);
    const pg_conf *cf = s->cf;
    const char *filters[] = {"table.include.list", cf->table_include, "table.exclude.list", cf->table_exclude,
                             "schema.include.list", cf->schema_include, "schema.exclude.list", cf->schema_exclude,
                             NULL};
    if (rc == 0 && cf->snapshot_new_tables)
        rc = sl_isnap_new_tables(isnap(s)->z, &pg_isnap_ops, s, o, filters, s->do_snapshot, errstr, errsz);
    json_decref(o);
    return rc;
}

void pg_isnap_free(pg_source *s) {
    pg_isnap *pz = s->isnap;
    if (!pz) return;
    sl_isnap_free(pz->z);
    sl_free(pz->xip);
    sl_free(pz);
    s->isnap = NULL;
}
