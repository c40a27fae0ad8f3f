/*
 * PostgreSQL source: the initial snapshot.
 *
 * Runs on the regular connection inside a REPEATABLE READ transaction that
 * imports the snapshot exported by CREATE_REPLICATION_SLOT, so the rows read
 * here and the changes streamed from the slot's consistent point join with
 * no gap and no overlap. Each table is read with COPY ... TO STDOUT (text),
 * whose values are the same type output that pgoutput sends, so one encoder
 * serves both. Records are op r with Debezium 3's snapshot markers: the
 * first table's first row "first", every other table's first row
 * "first_in_data_collection", each table's last row
 * "last_in_data_collection" and the snapshot's last row "last" (where they
 * meet, last beats first beats last_in_data_collection, as
 * SnapshotMarkerResolver orders them) — which is why a full batch is handed
 * on only when the next row arrives.
 *
 * Before the first row goes out, the snapshot's start position is stored, marked unfinished
 * ("snapshot":true); the offset that ends the snapshot rides on its last batch. A crash in between
 * restarts the snapshot on the same slot: pg_open keeps a slot that still holds the stored position,
 * the new snapshot reads the tables in a transaction of its own, and streaming starts at the stored
 * position, so every change since the first attempt began (deletes of rows it sent included) follows
 * the new snapshot's rows. snapshot.mode=always does the same when a stored position exists, and
 * initial_only then streams up to the position of its snapshot before it stops. The unfinished
 * snapshot's offset also counts the tables read whole (snapshot_tables_done, with a hash of the table
 * list): a restart on the kept slot with the same tables skips those. Read in page ranges (readers), the
 * next table's progress rides along too (snapshot_table_pages_done, while its file node is
 * snapshot_table_filenode): the restart reads it from that page unless it was rewritten.
 */
#include "core/log.h"
#include "source/pg/pg_int.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/ranges.h"
#include "util/timeutil.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Unescapes one COPY text field in place; returns its new length. */
static size_t unescape(char *p, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c != '\\' || i + 1 == n) {
            p[o++] = c;
            continue;
        }
        c = p[++i];
        switch (c) {
        case 'b': p[o++] = '\b'; break;
        case 'f': p[o++] = '\f'; break;
        case 'n': p[o++] = '\n'; break;
        case 'r': p[o++] = '\r'; break;
        case 't': p[o++] = '\t'; break;
        case 'v': p[o++] = '\v'; break;
        case 'x': {
            int v = 0, k = 0;
            while (k < 2 && i + 1 < n && strchr("0123456789abcdefABCDEF", p[i + 1]) && p[i + 1]) {
                char h = p[++i];
                v = v * 16 + (h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
                k++;
            }
            p[o++] = k ? (char)v : 'x';
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                int v = c - '0', k = 1;
                while (k < 3 && i + 1 < n && p[i + 1] >= '0' && p[i + 1] <= '7') v = v * 8 + (p[++i] - '0'), k++;
                p[o++] = (char)v;
            } else {
                p[o++] = c;
            }
        }
    }
    return o;
}

/* Splits one COPY text row (copied into the batch arena) into cells. */
static int parse_row(char *line, size_t len, sl_cell *cells, int ncols) {
    if (len && line[len - 1] == '\n') len--;
    int col = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && line[i] != '\t') continue;
        if (col >= ncols) return -1;
        char *f = line + start;
        size_t flen = i - start;
        if (flen == 2 && f[0] == '\\' && f[1] == 'N') {
            cells[col] = (sl_cell){NULL, 0, SL_CELL_NULL};
        } else {
            cells[col] = (sl_cell){f, (uint32_t)unescape(f, flen), 0};
        }
        col++;
        start = i + 1;
    }
    return col == ncols ? 0 : -1;
}

static void progress(const char *name, int64_t done, double est, int64_t t0, bool final) {
    double secs = (double)(sl_mono_ms() - t0) / 1000.0;
    double rate = secs > 0 ? (double)done / secs : 0;
    double left = est > (double)done && rate > 0 ? (est - (double)done) / rate : 0;
    fprintf(stderr, "\r  snapshot %-40s %10" PRId64 " / %-10.0f rows %9.0f rows/s  ETA %5.0fs%s", name, done,
            est > (double)done ? est : (double)done, rate, left, final ? "\n" : "");
}

/* ---- parallel reading (snapshot.max.threads > 1) ---- */

/* The readers: their connections, each in the snapshot, and the ranges they read (util/ranges). */
typedef struct readers {
    sl_ranges *rg;
    PGconn **c;
    int n;
} readers;

/* The table being read: its pages from base on split into chunks. */
typedef struct pgjob {
    const char *select; /* "SELECT cols FROM nsp.rel" */
    bool ranged;        /* ctid conditions (else one chunk: the whole table) */
    int64_t base;       /* the first page read (a resumed table's pages before it were sent before the restart) */
    int64_t pages;      /* the pages from base on when the table was split */
    int nchunks;
} pgjob;

/* The first page of chunk k (k == nchunks: the end of the last, which reads on to the table's end). */
static int64_t chunk_page(const pgjob *j, int k) {
    return j->base + j->pages * k / j->nchunks;
}

/* Reads chunk k of the table, pages [chunk_page(k), chunk_page(k + 1)), into rows of a 4-byte length and the COPY
 * text. */
static int read_chunk(void *reader, void *jp, int k, void *arg, sl_range_out *o) {
    PGconn *c = reader;
    const pgjob *j = jp;
    sl_buf q;
    sl_buf_init(&q);
    sl_buf_printf(&q, "COPY (%s", j->select);
    bool from = j->ranged && chunk_page(j, k) > 0;
    if (from) sl_buf_printf(&q, " WHERE ctid >= '(%" PRId64 ",0)'::tid", chunk_page(j, k));
    if (j->ranged && k < j->nchunks - 1)
        sl_buf_printf(&q, " %s ctid < '(%" PRId64 ",0)'::tid", from ? "AND" : "WHERE", chunk_page(j, k + 1));
    sl_buf_puts(&q, ") TO STDOUT");
    PGresult *res = PQexec(c, sl_buf_cstr(&q));
    sl_buf_free(&q);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        char m[600];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(res));
        PQclear(res);
        m[strcspn(m, "\n")] = 0;
        return sl_range_fail(o, "snapshot: %s", m);
    }
    PQclear(res);
    char *line;
    int n;
    while ((n = PQgetCopyData(c, &line, 0)) > 0) {
        char *at = sl_range_room(o, 4 + (size_t)n);
        if (at) {
            uint32_t len = (uint32_t)n;
            memcpy(at, &len, 4);
            memcpy(at + 4, line, (size_t)n);
        }
        PQfreemem(line);
        if (!at) return -1; /* stopping: the connection goes with the readers */
    }
    if (n == -2) return sl_range_fail(o, "snapshot: %s", PQerrorMessage(c));
    res = PQgetResult(c);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char m[600];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(res));
        PQclear(res);
        m[strcspn(m, "\n")] = 0;
        return sl_range_fail(o, "snapshot: %s", m);
    }
    PQclear(res);
    return 0;
}

/* Ends the readers: they stop, are joined, their connections closed and what they read freed. */
static void readers_end(readers *p) {
    if (!p) return;
    sl_ranges_end(p->rg);
    for (int i = 0; i < p->n; i++)
        if (p->c[i]) PQfinish(p->c[i]);
    sl_free(p->c);
    sl_free(p);
}

/* n readers, each on a connection of its own in the snapshot named snap (NULL: none, errstr set). */
static readers *readers_start(pg_source *s, int n, const char *snap, char *errstr, size_t errsz) {
    readers *p = sl_calloc(1, sizeof *p);
    p->c = sl_calloc((size_t)n, sizeof *p->c);
    p->n = n;
    char q[256];
    snprintf(q, sizeof q, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '%s'", snap);
    for (int i = 0; i < n; i++) {
        PGresult *res = NULL;
        if (!(p->c[i] = pg_connect(s->cf, false, 10, errstr, errsz)) ||
            !(res = pg_query(p->c[i], "a snapshot reader importing the snapshot", q, 0, NULL, errstr, errsz))) {
            readers_end(p);
            return NULL;
        }
        PQclear(res);
    }
    if (!(p->rg = sl_ranges_start(n, (void *const *)p->c, read_chunk, "sl-snap-read"))) {
        snprintf(errstr, errsz, "snapshot: cannot start a reader thread");
        readers_end(p);
        return NULL;
    }
    return p;
}

/* ---- one table ---- */

/* A table being read: what its rows need, and where the snapshot stands (for the offsets stored on the way). */
typedef struct tread {
    sl_table *t;
    char fq[512];
    double est;
    int64_t done, batch_max, t0, last_print, ts_us;
    bool first_table, tty;
    int idx;                  /* its place in the snapshot's list of tables */
    uint64_t hash;            /* the list's (tables_hash) */
    int64_t from_page;        /* > 0: an earlier attempt sent the pages before this one... */
    int64_t from_filenode;    /* ...while the table's file node was this */
} tread;

static void progress_offset(char *out, size_t outsz, const pg_source *s, int64_t ts_us, int done, uint64_t h,
                            int64_t pages, int64_t filenode);

/* Adds one COPY row (copy: n bytes in the current batch's arena) as a record of tr's table. */
static int add_row(pg_source *s, tread *tr, char *copy, size_t n, char *errstr, size_t errsz) {
    sl_table *t = tr->t;
    sl_record *rec = sl_batch_add(s->batch, t);
    if (n > s->snapshot_max_row) s->snapshot_max_row = n;
    rec->op = SL_OP_READ;
    rec->snapshot = tr->done > 0 ? SL_SNAP_TRUE : tr->first_table ? SL_SNAP_FIRST : SL_SNAP_FIRST_IN_DC;
    rec->after = sl_arena_alloc(&s->batch->arena, sizeof(sl_cell) * (size_t)(t->ncols ? t->ncols : 1));
    rec->pos.lsn = rec->pos.commit_lsn = s->start_lsn;
    rec->ts_us = tr->ts_us;
    rec->txid = s->snapshot_txid;
    pg_context_headers(s, rec);
    if (parse_row(copy, n, rec->after, t->ncols) < 0) {
        snprintf(errstr, errsz, "snapshot of %s: malformed COPY row", tr->fq);
        return -1;
    }
    tr->done++;
    if ((tr->done & 1023) == 0) sl_ctx_snapshot_progress(s->ctx, tr->fq, tr->done, tr->est >= 0 ? (int64_t)tr->est : -1, false);
    if (tr->tty && sl_mono_ms() - tr->last_print >= 500)
        progress(tr->fq, tr->done, tr->est, tr->t0, false), tr->last_print = sl_mono_ms();
    return 0;
}

/* A full batch is handed on before the next row goes in: 1 handed on or not full, 0 stopping. */
static int make_room(pg_source *s, tread *tr) {
    if (s->batch->n >= tr->batch_max || sl_ctx_batch_full(s->ctx, s->batch)) return pg_emit_batch(s) < 0 ? 0 : 1;
    return 1;
}

/* The table's rows from one COPY on the snapshot's own connection. */
static int read_serial(pg_source *s, tread *tr, const char *select, char *errstr, size_t errsz) {
    char *sql = sl_malloc(strlen(select) + 32);
    sprintf(sql, "COPY (%s) TO STDOUT", select);
    PGresult *r = PQexec(s->sql, sql);
    sl_free(sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        snprintf(errstr, errsz, "snapshot of %s: %s", tr->fq, PQresultErrorMessage(r));
        errstr[strcspn(errstr, "\n")] = 0;
        PQclear(r);
        return -1;
    }
    PQclear(r);
    char *line;
    int n;
    while ((n = PQgetCopyData(s->sql, &line, 0)) > 0) {
        if (!make_room(s, tr)) {
            PQfreemem(line);
            return -1; /* stopping */
        }
        char *copy = pg_keep_message(s, line, (size_t)n, line, (size_t)n);
        if (add_row(s, tr, copy, (size_t)n, errstr, errsz) < 0) return -1;
        if (sl_ctx_stopping(s->ctx)) return -1;
    }
    if (n == -2) {
        snprintf(errstr, errsz, "snapshot of %s: %s", tr->fq, PQerrorMessage(s->sql));
        return -1;
    }
    r = PQgetResult(s->sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(errstr, errsz, "snapshot of %s: %s", tr->fq, PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

/* The table's rows from the readers: its pages split into chunks, read in parallel, taken in page order. */
static int read_parallel(pg_source *s, readers *p, uint32_t oid, tread *tr, const char *select, char *errstr,
                         size_t errsz) {
    char q[200];
    snprintf(q, sizeof q, "SELECT pg_relation_size(%u) / current_setting('block_size')::bigint, "
             "pg_relation_filenode(%u)", oid, oid);
    PGresult *r = pg_query(s->sql, "reading the table's size", q, 0, NULL, errstr, errsz);
    if (!r) return -1;
    int64_t pages = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    int64_t filenode = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 1), NULL, 10) : 0;
    PQclear(r);
    bool tid_ranges = PQserverVersion(s->sql) >= 140000; /* no TID range scans before 14 */
    /* A table an earlier attempt read in part: its rows in the pages before from_page went out then, and every
     * change since comes from the stream. The same file node means no rewrite moved rows between pages since
     * (VACUUM FULL, CLUSTER and TRUNCATE give the table a new one); else it is read whole. */
    int64_t base = 0;
    if (tr->from_page > 0 && tid_ranges && filenode == tr->from_filenode) {
        base = tr->from_page;
        SL_INFO("pg", "snapshot: table=%s resumes at page %" PRId64 " of %" PRId64 ": the pages before went out "
                "before the restart", tr->fq, base, pages);
    } else if (tr->from_page > 0)
        SL_INFO("pg", "snapshot: table=%s is read whole again: %s", tr->fq,
                tid_ranges ? "its file was rewritten since the restart's attempt read part of it"
                           : "a server before 14 has no TID range scans");
    int64_t left = pages > base ? pages - base : 0;
    int chunks = !tid_ranges || left < 2 * p->n ? 1 : left < 4 * p->n ? p->n : 4 * p->n;
    pgjob job = {.select = select, .ranged = chunks > 1 || base > 0, .base = base, .pages = left, .nchunks = chunks};
    sl_ranges_job(p->rg, &job, chunks, false, NULL);
    SL_DEBUG("pg", "snapshot table=%s pages=%" PRId64 " from=%" PRId64 " chunks=%d readers=%d", tr->fq, pages, base,
             chunks, p->n);
    sl_ctx_snapshot_progress(s->ctx, tr->fq, 0, tr->est >= 0 ? (int64_t)tr->est : -1, false);
    sl_ctx_snapshot_chunks(s->ctx, tr->fq, chunks, 0);
    int rc = 0;
    for (int k = 0; k < chunks && rc == 0; k++) {
        const char *data;
        size_t len;
        int t = 0;
        while (rc == 0 && (t = sl_ranges_take(p->rg, k, &data, &len)) == 1) {
            for (size_t at = 0; at < len && rc == 0;) {
                uint32_t n;
                memcpy(&n, data + at, 4);
                if (!make_room(s, tr)) rc = -1; /* stopping */
                else rc = add_row(s, tr, sl_arena_memdup(&s->batch->arena, data + at + 4, n), n, errstr, errsz);
                at += 4 + n;
            }
            if (rc == 0 && sl_ctx_stopping(s->ctx)) rc = -1;
        }
        if (rc == 0 && t < 0) {
            const char *e = sl_ranges_error(p->rg);
            snprintf(errstr, errsz, "%s", e[0] ? e : "snapshot: the readers stopped");
            rc = -1;
        }
        if (rc == 0) sl_ctx_snapshot_chunks(s->ctx, tr->fq, chunks, k + 1);
        if (rc == 0 && job.ranged && k < chunks - 1) {
            /* the chunk's rows are all in this batch or before it: once it is durable, a restart reads on after */
            char off[512];
            progress_offset(off, sizeof off, s, tr->ts_us, tr->idx, tr->hash, chunk_page(&job, k + 1), filenode);
            sl_batch_set_offset(s->batch, off, s->start_lsn);
        }
    }
    if (rc != 0) sl_ranges_stop(p->rg); /* the readers leave the job before it goes */
    return rc;
}

/* Reads one table into batches (through the readers when there are). */
static int snapshot_table(pg_source *s, readers *p, uint32_t oid, tread pos, int *count, char *errstr,
                          size_t errsz) {
    int *map = NULL;
    sl_table *t = pg_describe(s, oid, NULL, 0, &map, errstr, errsz);
    if (!t) return -1;
    sl_buf q;
    sl_buf_init(&q);
    sl_buf_puts(&q, "SELECT ");
    for (int i = 0; i < t->ncols; i++) {
        char *id = PQescapeIdentifier(s->sql, t->cols[i].name, strlen(t->cols[i].name));
        sl_buf_printf(&q, "%s%s", i ? ", " : "", id);
        PQfreemem(id);
    }
    if (t->ncols == 0) sl_buf_puts(&q, "NULL");
    char *nsp = PQescapeIdentifier(s->sql, t->schema, strlen(t->schema));
    char *rel = PQescapeIdentifier(s->sql, t->name, strlen(t->name));
    sl_buf_printf(&q, " FROM %s.%s", nsp, rel);
    PQfreemem(nsp), PQfreemem(rel);
    char estq[64];
    snprintf(estq, sizeof estq, "SELECT reltuples FROM pg_class WHERE oid = %u", oid);
    PGresult *er = PQexec(s->sql, estq);
    tread tr = pos;
    tr.t = t;
    tr.est = PQresultStatus(er) == PGRES_TUPLES_OK && PQntuples(er) ? atof(PQgetvalue(er, 0, 0)) : 0;
    tr.batch_max = sl_ctx_core(s->ctx)->max_batch_size;
    tr.tty = isatty(STDERR_FILENO);
    PQclear(er);
    if (s->cf->snapshot_fetch_size < tr.batch_max) tr.batch_max = s->cf->snapshot_fetch_size;
    tr.t0 = tr.last_print = sl_mono_ms();
    snprintf(tr.fq, sizeof tr.fq, "%s.%s", t->schema, t->name);
    SL_INFO("pg", "snapshot table=%s estimated_rows=%.0f", tr.fq, tr.est);
    if (!p && tr.from_page > 0)
        SL_INFO("pg", "snapshot: table=%s is read whole again: one connection reads it (snapshot.max.threads=1) and "
                "cannot start at a page", tr.fq);
    int rc = p ? read_parallel(s, p, oid, &tr, sl_buf_cstr(&q), errstr, errsz)
               : read_serial(s, &tr, sl_buf_cstr(&q), errstr, errsz);
    sl_buf_free(&q);
    *count += (int)tr.done;
    if (rc == 0) {
        /* the table's last row (still in the current batch: batches are handed on before an add) */
        if (tr.done > 0) {
            sl_record *last = &s->batch->recs[s->batch->n - 1];
            if (last->snapshot != SL_SNAP_FIRST) last->snapshot = SL_SNAP_LAST_IN_DC;
        }
        if (tr.tty) progress(tr.fq, tr.done, tr.est, tr.t0, true);
        sl_ctx_snapshot_progress(s->ctx, tr.fq, tr.done, tr.est >= 0 ? (int64_t)tr.est : -1, true);
        SL_INFO("pg", "snapshot done table=%s rows=%" PRId64, tr.fq, tr.done);
    }
    sl_free(map);
    sl_table_unref(t); /* records hold the batch's reference */
    return rc;
}

/* Exports the kept slot's new snapshot for the readers, as the transaction's first statement (it fixes the
 * snapshot; pg_export_snapshot cannot run in a subtransaction, so a failure ends the transaction, which then
 * begins again for this connection alone). The name, or NULL (warned: one connection reads). */
static char *export_snapshot(pg_source *s) {
    char e[512];
    PGresult *r = pg_query(s->sql, "exporting the snapshot", "SELECT pg_export_snapshot()", 0, NULL, e, sizeof e);
    if (r) {
        char *name = sl_strdup(PQgetvalue(r, 0, 0));
        PQclear(r);
        return name;
    }
    SL_WARN("pg", "snapshot.max.threads=%lld: %s; the snapshot is read by one connection",
            (long long)s->cf->snapshot_threads, e);
    PQclear(PQexec(s->sql, "ROLLBACK"));
    PQclear(PQexec(s->sql, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    return NULL;
}

/* FNV-1a over the tables' oids in snapshot order: a restart resumes only when it reads the same tables. */
static uint64_t tables_hash(const uint32_t *oids, int n) {
    uint64_t h = 14695981039346656037ULL;
    for (int i = 0; i < n; i++)
        for (int b = 0; b < 4; b++) h = (h ^ ((oids[i] >> (8 * b)) & 0xff)) * 1099511628211ULL;
    return h;
}

/* The unfinished snapshot's offset: its start, the first `done` tables (of the list hashing to h) read, and of the
 * next one the pages before `pages` (when > 0) while its file node was filenode. */
static void progress_offset(char *out, size_t outsz, const pg_source *s, int64_t ts_us, int done, uint64_t h,
                            int64_t pages, int64_t filenode) {
    pg_offset_json(out, outsz, s->start_lsn, s->start_lsn, 0, ts_us, true);
    size_t n = strlen(out);
    if (!n || out[n - 1] != '}') return;
    n += (size_t)snprintf(out + n - 1, outsz - (n - 1), ",\"snapshot_tables_done\":%d,\"snapshot_tables_hash\":\"%016"
                          PRIx64 "\"}", done, h) - 1;
    if (pages > 0 && n < outsz)
        snprintf(out + n - 1, outsz - (n - 1), ",\"snapshot_table_pages_done\":%" PRId64
                 ",\"snapshot_table_filenode\":%" PRId64 "}", pages, filenode);
}

int pg_snapshot_run(pg_source *s) {
    char err[1024];
    uint32_t *oids = NULL;
    int n = 0, count = 0;
    char q[256];
    readers *p = NULL;
    char *exported = NULL; /* a kept slot's snapshot, exported here for the readers */
    sl_ctx_set_source_state(s->ctx, SL_SRC_SNAPSHOTTING);
    PGresult *r = pg_query(s->sql, "starting snapshot transaction", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                           0, NULL, err, sizeof err);
    if (r && s->snapshot_name) { /* the slot's own snapshot: rows and stream join with no gap, no overlap */
        snprintf(q, sizeof q, "SET TRANSACTION SNAPSHOT '%s'", s->snapshot_name);
        PQclear(r), r = pg_query(s->sql, "importing the slot's snapshot", q, 0, NULL, err, sizeof err);
    } else if (r) {
        /* A kept slot (pg_open): the stream starts at the stored position, before this snapshot. Its first
         * statement fixes the snapshot; the WAL insert position read then or later is past every commit it
         * sees. */
        PQclear(r), r = NULL;
        if (s->cf->snapshot_threads > 1) exported = export_snapshot(s);
        r = pg_query(s->sql, "reading the snapshot's WAL position", "SELECT pg_current_wal_insert_lsn()",
                                 0, NULL, err, sizeof err);
        if (r && !s->stream && s->cf->snapshot_mode == SNAP_INITIAL_ONLY) s->stream_until = pg_parse_lsn(PQgetvalue(r, 0, 0));
    }
    if (!r) goto fail;
    PQclear(r);
    /* source.txId of the snapshot's records: the transaction's id (PostgresConnection.currentTransactionId) */
    r = pg_query(s->sql, "reading the snapshot's transaction id",
                 "SELECT (CASE pg_is_in_recovery() WHEN 't' THEN '0'::xid8 ELSE pg_current_xact_id() END)", 0, NULL,
                 err, sizeof err);
    if (!r) goto fail;
    s->snapshot_txid = PQntuples(r) ? strtoull(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    if (pg_list_tables(s, &oids, &n, err, sizeof err) < 0) goto fail;
    const char *shared = s->snapshot_name ? s->snapshot_name : exported;
    if (s->cf->snapshot_threads > 1 && n > 0 && shared &&
        !(p = readers_start(s, (int)s->cf->snapshot_threads, shared, err, sizeof err)))
        goto fail;
    int64_t ts_us = sl_wall_us();
    uint64_t hash = tables_hash(oids, n);
    /* Tables an earlier attempt read whole are not read again when streaming starts where that attempt began
     * (a kept slot) and the tables are the same: their rows then, and every change since, reach the sink. */
    int skip = 0;
    int64_t from_page = 0;
    bool resuming = s->resume_tables_done > 0 || s->resume_table_pages > 0;
    if (resuming && !s->snapshot_name && s->resume_tables_hash == hash && s->resume_tables_done <= n) {
        skip = (int)s->resume_tables_done;
        from_page = skip < n ? s->resume_table_pages : 0;
    } else if (resuming)
        SL_INFO("pg", "snapshot: the tables differ from those of the unfinished snapshot (or its slot is gone): "
                "reading all %d again", n);
    SL_INFO("pg", "snapshot start tables=%d lsn=%X/%X%s", n, (unsigned)(s->start_lsn >> 32), (unsigned)s->start_lsn,
            s->snapshot_name ? "" : " (slot kept: streaming starts at the stored position)");
    if (skip) SL_INFO("pg", "snapshot: resuming after the first %d of %d tables, read whole before the restart", skip, n);
    /* Before the first row goes out, the position this snapshot starts from is stored, marked unfinished:
     * after a crash, the next run keeps the slot and streams from there, so whatever this run sent is
     * superseded (pg_open) instead of a new slot skipping the changes in between. */
    char off[512];
    progress_offset(off, sizeof off, s, ts_us, skip, hash, from_page, s->resume_table_filenode);
    sl_batch_set_offset(s->batch, off, s->start_lsn);
    if (pg_emit_durable(s) < 0) goto stopped;
    for (int i = skip; i < n; i++) {
        tread pos = {.ts_us = ts_us, .first_table = i == skip, .idx = i, .hash = hash,
                     .from_page = i == skip ? from_page : 0, .from_filenode = s->resume_table_filenode};
        if (snapshot_table(s, p, oids[i], pos, &count, err, sizeof err) < 0) {
            if (sl_ctx_stopping(s->ctx)) goto stopped;
            goto fail;
        }
        /* the table's rows are all in this batch or before it: once it is durable, a restart skips the table */
        progress_offset(off, sizeof off, s, ts_us, i + 1, hash, 0, 0);
        sl_batch_set_offset(s->batch, off, s->start_lsn);
    }
    readers_end(p);
    sl_free(exported);
    r = PQexec(s->sql, "COMMIT");
    PQclear(r);
    sl_free(oids);
    /* BufferingSnapshotChangeRecordReceiver.completeSnapshot: the snapshot's last record is "last" */
    if (s->batch->n > 0) s->batch->recs[s->batch->n - 1].snapshot = SL_SNAP_LAST;
    /* Done, unless initial_only still has to stream up to this snapshot (then that stream's end says so). */
    pg_offset_json(off, sizeof off, s->start_lsn, s->start_lsn, 0, ts_us, s->stream_until != 0);
    sl_batch_set_offset(s->batch, off, s->start_lsn);
    s->offset_lsn = s->last_commit_lsn = s->start_lsn;
    SL_INFO("pg", "snapshot complete records=%d", count);
    /* initial_only drops the slot next: its end must be stored first, or a crash would find neither. */
    return s->stream || s->stream_until ? pg_emit_batch(s) : pg_emit_durable(s);
fail:
    readers_end(p);
    sl_free(exported);
    sl_free(oids);
    /* Lost the server: the runtime reconnects, the snapshot restarts. */
    return sl_ctx_raisef(s->ctx, PQstatus(s->sql) == CONNECTION_BAD ? SL_E_CONNECT : SL_E_PROTOCOL, "%s", err);
stopped:
    readers_end(p);
    sl_free(exported);
    sl_free(oids);
    PQclear(PQexec(s->sql, "ROLLBACK"));
    return 0;
}
