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
 * initial_only then streams up to the position of its snapshot before it stops.
 */
#include "core/log.h"
#include "source/pg/pg_int.h"
#include "util/buf.h"
#include "util/mem.h"
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

/* Reads one table with COPY into batches. *last is the newest record added. */
static int snapshot_table(pg_source *s, uint32_t oid, bool first_table, int64_t ts_us, int *count, char *errstr,
                          size_t errsz) {
    int *map = NULL;
    sl_table *t = pg_describe(s, oid, NULL, 0, &map, errstr, errsz);
    if (!t) return -1;
    sl_buf q;
    sl_buf_init(&q);
    sl_buf_puts(&q, "COPY (SELECT ");
    for (int i = 0; i < t->ncols; i++) {
        char *id = PQescapeIdentifier(s->sql, t->cols[i].name, strlen(t->cols[i].name));
        sl_buf_printf(&q, "%s%s", i ? ", " : "", id);
        PQfreemem(id);
    }
    if (t->ncols == 0) sl_buf_puts(&q, "NULL");
    char *nsp = PQescapeIdentifier(s->sql, t->schema, strlen(t->schema));
    char *rel = PQescapeIdentifier(s->sql, t->name, strlen(t->name));
    sl_buf_printf(&q, " FROM %s.%s) TO STDOUT", nsp, rel);
    PQfreemem(nsp), PQfreemem(rel);
    char estq[64];
    snprintf(estq, sizeof estq, "SELECT reltuples FROM pg_class WHERE oid = %u", oid);
    PGresult *er = PQexec(s->sql, estq);
    double est = PQresultStatus(er) == PGRES_TUPLES_OK && PQntuples(er) ? atof(PQgetvalue(er, 0, 0)) : 0;
    PQclear(er);
    PGresult *r = PQexec(s->sql, sl_buf_cstr(&q));
    sl_buf_free(&q);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        snprintf(errstr, errsz, "snapshot of %s.%s: %s", t->schema, t->name, PQresultErrorMessage(r));
        errstr[strcspn(errstr, "\n")] = 0;
        PQclear(r);
        goto out;
    }
    PQclear(r);
    bool tty = isatty(STDERR_FILENO);
    int64_t batch_max = sl_ctx_core(s->ctx)->max_batch_size;
    if (s->cf->snapshot_fetch_size < batch_max) batch_max = s->cf->snapshot_fetch_size;
    int64_t t0 = sl_mono_ms(), last_print = t0, done = 0;
    char fq[512];
    snprintf(fq, sizeof fq, "%s.%s", t->schema, t->name);
    SL_INFO("pg", "snapshot table=%s estimated_rows=%.0f", fq, est);
    char *line;
    int n;
    while ((n = PQgetCopyData(s->sql, &line, 0)) > 0) {
        if ((s->batch->n >= batch_max || sl_ctx_batch_full(s->ctx, s->batch)) && pg_emit_batch(s) < 0) {
            PQfreemem(line);
            goto out; /* stopping */
        }
        sl_record *rec = sl_batch_add(s->batch, t);
        if ((size_t)n > s->snapshot_max_row) s->snapshot_max_row = (size_t)n;
        char *copy = pg_keep_message(s, line, (size_t)n, line, (size_t)n);
        rec->op = SL_OP_READ;
        rec->snapshot = done > 0 ? SL_SNAP_TRUE : first_table ? SL_SNAP_FIRST : SL_SNAP_FIRST_IN_DC;
        rec->after = sl_arena_alloc(&s->batch->arena, sizeof(sl_cell) * (size_t)(t->ncols ? t->ncols : 1));
        rec->pos.lsn = rec->pos.commit_lsn = s->start_lsn;
        rec->ts_us = ts_us;
        rec->txid = s->snapshot_txid;
        pg_context_headers(s, rec);
        if (parse_row(copy, (size_t)n, rec->after, t->ncols) < 0) {
            snprintf(errstr, errsz, "snapshot of %s: malformed COPY row", fq);
            goto out;
        }
        (*count)++;
        done++;
        if ((done & 1023) == 0) sl_ctx_snapshot_progress(s->ctx, fq, done, est >= 0 ? (int64_t)est : -1, false);
        if (tty && sl_mono_ms() - last_print >= 500) progress(fq, done, est, t0, false), last_print = sl_mono_ms();
        if (sl_ctx_stopping(s->ctx)) goto out;
    }
    if (n == -2) {
        snprintf(errstr, errsz, "snapshot of %s: %s", fq, PQerrorMessage(s->sql));
        goto out;
    }
    r = PQgetResult(s->sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(errstr, errsz, "snapshot of %s: %s", fq, PQresultErrorMessage(r));
        PQclear(r);
        goto out;
    }
    PQclear(r);
    /* the table's last row (still in the current batch: batches are handed on before an add) */
    if (done > 0) {
        sl_record *last = &s->batch->recs[s->batch->n - 1];
        if (last->snapshot != SL_SNAP_FIRST) last->snapshot = SL_SNAP_LAST_IN_DC;
    }
    if (tty) progress(fq, done, est, t0, true);
    sl_ctx_snapshot_progress(s->ctx, fq, done, est >= 0 ? (int64_t)est : -1, true);
    SL_INFO("pg", "snapshot done table=%s rows=%" PRId64, fq, done);
    rc = 0;
out:
    sl_free(map);
    sl_table_unref(t); /* records hold the batch's reference */
    return rc;
}

int pg_snapshot_run(pg_source *s) {
    char err[1024];
    uint32_t *oids = NULL;
    int n = 0, count = 0;
    char q[256];
    sl_ctx_set_source_state(s->ctx, SL_SRC_SNAPSHOTTING);
    PGresult *r = pg_query(s->sql, "starting snapshot transaction", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                           0, NULL, err, sizeof err);
    if (r && s->snapshot_name) { /* the slot's own snapshot: rows and stream join with no gap, no overlap */
        snprintf(q, sizeof q, "SET TRANSACTION SNAPSHOT '%s'", s->snapshot_name);
        PQclear(r), r = pg_query(s->sql, "importing the slot's snapshot", q, 0, NULL, err, sizeof err);
    } else if (r) {
        /* A kept slot (pg_open): the stream starts at the stored position, before this snapshot. Its first
         * statement fixes the snapshot; the WAL insert position read by it is past every commit it sees. */
        PQclear(r), r = pg_query(s->sql, "reading the snapshot's WAL position", "SELECT pg_current_wal_insert_lsn()",
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
    int64_t ts_us = sl_wall_us();
    SL_INFO("pg", "snapshot start tables=%d lsn=%X/%X%s", n, (unsigned)(s->start_lsn >> 32), (unsigned)s->start_lsn,
            s->snapshot_name ? "" : " (slot kept: streaming starts at the stored position)");
    /* Before the first row goes out, the position this snapshot starts from is stored, marked unfinished:
     * after a crash, the next run keeps the slot and streams from there, so whatever this run sent is
     * superseded (pg_open) instead of a new slot skipping the changes in between. */
    char off[256];
    pg_offset_json(off, sizeof off, s->start_lsn, s->start_lsn, 0, ts_us, true);
    sl_batch_set_offset(s->batch, off, s->start_lsn);
    if (pg_emit_durable(s) < 0) goto stopped;
    for (int i = 0; i < n; i++) {
        if (snapshot_table(s, oids[i], i == 0, ts_us, &count, err, sizeof err) < 0) {
            if (sl_ctx_stopping(s->ctx)) goto stopped;
            goto fail;
        }
    }
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
    sl_free(oids);
    /* Lost the server: the runtime reconnects, the snapshot restarts. */
    return sl_ctx_raisef(s->ctx, PQstatus(s->sql) == CONNECTION_BAD ? SL_E_CONNECT : SL_E_PROTOCOL, "%s", err);
stopped:
    sl_free(oids);
    PQclear(PQexec(s->sql, "ROLLBACK"));
    return 0;
}
