/*
 * MySQL/MariaDB source: the snapshot.
 *
 * START TRANSACTION WITH CONSISTENT SNAPSHOT gives a read view whose binlog
 * position MariaDB reports as binlog_snapshot_file/_position (briefly under
 * FLUSH TABLES WITH READ LOCK with snapshot.locking.mode=minimal, which also
 * covers MySQL). Each table is read in primary-key order in chunks of
 * snapshot.fetch.size rows. Before the first record goes out, the
 * snapshot's binlog position is stored (snapshot_progress {}); after each
 * chunk the batch carries an offset with that position and the last key
 * read, so after a crash the snapshot resumes at that key, or from the
 * start when no chunk was committed (in a new read view; the stream then
 * starts at the first attempt's position, so changes in between, deletes of
 * rows already sent included, are replayed and every row converges). Values come from the text protocol and
 * are brought into the same cell forms the binlog decoder produces.
 *
 * The record marked snapshot=last is the last row read. The rows of the last
 * chunk stay in the pending batch until the snapshot knows no row follows, so
 * they go out together with the offset that ends the snapshot: a chunk's
 * progress is committed only once a later row was read. A resumed snapshot
 * can still find nothing left (the rows after the committed key, or the
 * tables after it, are gone by then); the row that ended the snapshot went
 * out before, marked "true", and is not sent again just to mark it "last", so
 * that snapshot has no "last" record, but its end is committed all the same.
 *
 * With include.schema.changes, a fresh snapshot first sends the schema change
 * events of the captured databases and tables (their SHOW CREATE statements);
 * snapshot.mode=no_data runs the snapshot for those alone, without rows.
 */
#include "core/log.h"
#include "source/mysql/my_int.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/ranges.h"
#include "util/timeutil.h"
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void my_quote_ident(sl_buf *b, const char *s) {
    sl_buf_putc(b, '`');
    for (; *s; s++) {
        if (*s == '`') sl_buf_putc(b, '`');
        sl_buf_putc(b, *s);
    }
    sl_buf_putc(b, '`');
}

void my_quote_literal(my_source *s, sl_buf *b, const char *v, size_t n) {
    char *e = sl_malloc(n * 2 + 1);
    unsigned long m = mysql_real_escape_string(s->sql, e, v, (unsigned long)n);
    sl_buf_putc(b, '\'');
    sl_buf_put(b, e, m);
    sl_buf_putc(b, '\'');
    sl_free(e);
}

/* A text-protocol value in the binlog decoder's cell form (rowimage.h). */
sl_cell my_snap_cell(sl_arena *a, const sl_my_col *mc, const char *v, unsigned long n) {
    if (!v) return (sl_cell){NULL, 0, SL_CELL_NULL};
    if (mc->type == MYSQL_TYPE_BIT) {
        int bits = (mc->meta >> 8) * 8 + (mc->meta & 0xff);
        char *o = sl_arena_alloc(a, (size_t)bits + 1);
        for (int i = 0; i < bits; i++) {
            int bit = bits - 1 - i; /* o[0] is the most significant bit */
            size_t byte = n - 1 - (size_t)(bit / 8);
            o[i] = (bit / 8 < (int)n && ((unsigned char)v[byte] >> (bit % 8)) & 1) ? '1' : '0';
        }
        return (sl_cell){o, (uint32_t)bits, 0};
    }
    if (mc->type == MYSQL_TYPE_TIMESTAMP2 || mc->type == MYSQL_TYPE_TIMESTAMP) {
        char *o = sl_arena_alloc(a, n + 4);
        memcpy(o, v, n);
        memcpy(o + n, "+00", 3);
        return (sl_cell){o, (uint32_t)n + 3, 0};
    }
    return (sl_cell){sl_arena_memdup(a, v, n), (uint32_t)n, 0};
}

typedef struct myreaders myreaders;

typedef struct snap_state {
    int count;          /* records so far (0: the next is "first") */
    bool resumed;
    const char *table;  /* resume: table to start with, NULL from the first */
    json_t *after;      /* resume: last key values read of that table */
    myreaders *par;     /* snapshot.max.threads > 1: the readers in the snapshot's read view, else NULL */
} snap_state;

static int emit_pending(my_source *s) {
    return s->batch->n || s->batch->offset ? my_emit_batch(s) : 0;
}

/* One table being read: what its rows need. */
typedef struct trows {
    my_source *s;
    snap_state *st;
    my_snap_table *sn;
    char fq[520];
    bool table_resumed; /* its first row went out before the restart */
    bool have_last;     /* lastkey holds the key of the last row read (or the one resumed after) */
    int64_t done;
    char lastkey[8][256];
    unsigned long lastlen[8];
} trows;

/* After a chunk: the batch carries an offset with the key of the last row read, where a restart resumes. */
static void progress_offset(trows *tr) {
    my_source *s = tr->s;
    sl_buf p;
    sl_buf_init(&p);
    sl_buf_puts(&p, "{\"table\":");
    sl_buf_put_json_str(&p, tr->fq, strlen(tr->fq));
    sl_buf_puts(&p, ",\"after\":[");
    for (int k = 0; k < tr->sn->nkeys; k++) {
        if (k) sl_buf_putc(&p, ',');
        sl_buf_put_json_str(&p, tr->lastkey[k], tr->lastlen[k]);
    }
    sl_buf_puts(&p, "]}");
    char off[4096];
    my_offset_json(s, off, sizeof off, &s->start, sl_buf_cstr(&p));
    sl_batch_set_offset(s->batch, off, 0);
    sl_buf_free(&p);
}

/* A snapshot record's time: now, in whole milliseconds, as Debezium stamps each snapshot row (its clock's
 * currentTime is millisecond-precise). Rows of one millisecond then share their source block. */
static int64_t snapshot_now_us(void) {
    return sl_wall_us() / 1000 * 1000;
}

/* Adds one row (every column's text-protocol value) as a record: 1 added, 0 added and stopping, -1 failed. */
static int add_row(trows *tr, char **row, const unsigned long *lens) {
    my_source *s = tr->s;
    my_snap_table *sn = tr->sn;
    if ((s->batch->n >= sl_ctx_core(s->ctx)->max_batch_size || s->batch->offset) && emit_pending(s) < 0) return -1;
    sl_record *r = sl_batch_add(s->batch, sn->out);
    r->op = SL_OP_READ;
    /* Debezium 3's markers: the snapshot's first row, each other table's first row */
    r->snapshot = tr->st->count == 0 && !tr->st->resumed ? SL_SNAP_FIRST
                  : tr->done == 0 && !tr->table_resumed ? SL_SNAP_FIRST_IN_DC : SL_SNAP_TRUE;
    r->ts_us = snapshot_now_us();
    r->pos.file = sl_arena_strndup(&s->batch->arena, s->start.file, strlen(s->start.file));
    r->pos.file_pos = s->start.pos;
    my_context_headers(s, r);
    r->after = sl_arena_alloc(&s->batch->arena, sizeof(sl_cell) * (size_t)(sn->nkeep ? sn->nkeep : 1));
    for (int k = 0; k < sn->nkeep; k++)
        r->after[k] = my_snap_cell(&s->batch->arena, &sn->mcols[sn->keep[k]], row[sn->keep[k]], lens[sn->keep[k]]);
    for (int k = 0; k < sn->nkeys && k < 8; k++) {
        int m = sn->keys[k];
        tr->lastlen[k] = lens[m] < sizeof tr->lastkey[k] - 1 ? lens[m] : sizeof tr->lastkey[k] - 1;
        memcpy(tr->lastkey[k], row[m] ? row[m] : "", tr->lastlen[k]);
        tr->lastkey[k][tr->lastlen[k]] = 0;
    }
    tr->st->count++, tr->done++;
    if ((tr->done & 1023) == 0) sl_ctx_snapshot_progress(s->ctx, tr->fq, tr->done, -1, false);
    return sl_ctx_stopping(s->ctx) ? 0 : 1;
}

int my_snap_table_open(my_source *s, const char *db, const char *tb, my_snap_table *st, char *errstr, size_t errsz) {
    memset(st, 0, sizeof *st);
    sl_arena_init(&st->meta);
    st->t = my_describe(s, db, tb, &st->mcols, &st->nm, &st->meta, errstr, errsz);
    if (!st->t) return -1;
    int nm = st->nm;
    sl_my_col *mcols = st->mcols;
    char fq[520];
    snprintf(fq, sizeof fq, "%s.%s", db, tb);
    /* Columns kept by the column filters (the full row is read for the key). */
    st->keep = sl_malloc(sizeof(int) * (size_t)(nm + 1)), st->keys = sl_malloc(sizeof(int) * (size_t)(nm + 1));
    for (int i = 0; i < nm; i++) {
        char fc[1024];
        snprintf(fc, sizeof fc, "%s.%s", fq, mcols[i].name);
        if (sl_filter_match(&s->columns, fc)) st->keep[st->nkeep++] = i;
        if (st->t->cols[i].key) st->keys[st->nkeys++] = i;
    }
    sl_table *out = st->out = sl_table_new(db, db, tb, st->nkeep);
    sl_buf tp;
    sl_buf_init(&tp);
    sl_buf_printf(&tp, "%s.%s.%s", s->cf->topic_prefix, db, tb);
    out->topic = sl_strdup(sl_buf_cstr(&tp));
    sl_buf_free(&tp);
    for (int k = 0; k < st->nkeep; k++) {
        int m = st->keep[k];
        sl_column *c = &out->cols[k];
        c->name = sl_strdup(mcols[m].name);
        my_column_from_binlog(s, c, &mcols[m]);
        if (mcols[m].type != MYSQL_TYPE_BLOB) { /* the declared type (POINT, BINARY(n)), as streaming has it */
            sl_free(c->type_name);
            c->type_name = sl_strdup(st->t->cols[m].type_name);
            if (c->length < 0) c->length = st->t->cols[m].length;
        }
        c->key = st->t->cols[m].key;
        out->nkeys += c->key;
        my_column_copy_default(c, &st->t->cols[m]);
    }
    return 0;
}

void my_snap_table_close(my_snap_table *st) {
    sl_free(st->keep), sl_free(st->keys);
    sl_table_unref(st->out);
    sl_table_unref(st->t);
    sl_arena_free(&st->meta);
    memset(st, 0, sizeof *st);
}

/* "SELECT <every column> FROM db.tb" */
static void select_all(sl_buf *q, const my_snap_table *sn, const char *db, const char *tb) {
    sl_buf_puts(q, "SELECT ");
    for (int i = 0; i < sn->nm; i++) {
        if (i) sl_buf_puts(q, ", ");
        my_quote_ident(q, sn->mcols[i].name);
    }
    sl_buf_puts(q, " FROM ");
    my_quote_ident(q, db);
    sl_buf_putc(q, '.');
    my_quote_ident(q, tb);
}

/* The table in primary-key chunks of snapshot.fetch.size rows on the snapshot's connection: 0 done (or
 * stopping), -1 failed. */
static int read_serial(trows *tr, const char *db, const char *tb, char *errstr, size_t errsz) {
    my_source *s = tr->s;
    my_snap_table *sn = tr->sn;
    int nkeys = sn->nkeys, *keys = sn->keys;
    sl_buf q;
    sl_buf_init(&q);
    int rc = -1;
    for (;;) {
        sl_buf_reset(&q);
        select_all(&q, sn, db, tb);
        bool chunked = nkeys > 0 && nkeys <= 8;
        if (chunked && tr->have_last) {
            sl_buf_puts(&q, " WHERE (");
            for (int k = 0; k < nkeys; k++) sl_buf_puts(&q, k ? ", " : ""), my_quote_ident(&q, sn->mcols[keys[k]].name);
            sl_buf_puts(&q, ") > (");
            for (int k = 0; k < nkeys; k++)
                sl_buf_puts(&q, k ? ", " : ""), my_quote_literal(s, &q, tr->lastkey[k], tr->lastlen[k]);
            sl_buf_putc(&q, ')');
        }
        if (chunked) {
            sl_buf_puts(&q, " ORDER BY ");
            for (int k = 0; k < nkeys; k++) sl_buf_puts(&q, k ? ", " : ""), my_quote_ident(&q, sn->mcols[keys[k]].name);
            sl_buf_printf(&q, " LIMIT %lld", (long long)s->cf->snapshot_chunk);
        }
        if (mysql_query(s->sql, sl_buf_cstr(&q)) != 0) {
            snprintf(errstr, errsz, "snapshot of %s: %s", tr->fq, mysql_error(s->sql));
            goto out;
        }
        MYSQL_RES *res = mysql_use_result(s->sql);
        MYSQL_ROW row;
        int64_t got = 0;
        while ((row = mysql_fetch_row(res)) != NULL) {
            int a = add_row(tr, row, mysql_fetch_lengths(res));
            got++;
            if (a <= 0) {
                mysql_free_result(res);
                rc = a < 0 ? -1 : 0;
                goto out;
            }
        }
        if (mysql_errno(s->sql)) {
            snprintf(errstr, errsz, "snapshot of %s: %s", tr->fq, mysql_error(s->sql));
            mysql_free_result(res);
            goto out;
        }
        mysql_free_result(res);
        tr->have_last = got > 0 || tr->have_last;
        if (got > 0 && chunked) progress_offset(tr);
        if (!chunked || got < s->cf->snapshot_chunk) break;
    }
    rc = 0;
out:
    sl_buf_free(&q);
    return rc;
}

/* ---- parallel reading (snapshot.max.threads > 1) ----
 *
 * Readers on connections of their own, each in a read view started under the global read lock that the
 * snapshot's own read view was started under, so all of them see the same rows at the same binlog position.
 * A table whose primary key is one integer column is cut into ranges of its key; the readers
 * (util/ranges) read the ranges ahead and the source thread takes them in key order, so the records, the
 * markers and the resumable progress (the last key of each range) are exactly those of one reader. Other tables are read by the snapshot's connection as before.
 */

struct myreaders {
    sl_ranges *rg;
    MYSQL **c; /* the readers' connections */
    int n;
};

/* The table being read in ranges of its integer key. */
typedef struct myjob {
    const char *select, *key; /* "SELECT cols FROM db.tb", the key column quoted */
    int ncols;
    int64_t lo, hi; /* its keys to read: [lo, hi] */
    int nchunks;
} myjob;

/* Reads range k of the table's keys, [from, to) (the last one up to hi inclusive), per row and column a 4-byte
 * length (~0: NULL) and the bytes. */
static int read_range(void *reader, void *jp, int k, void *arg, sl_range_out *o) {
    MYSQL *c = reader;
    const myjob *j = jp;
    __int128 span = (__int128)j->hi - j->lo + 1;
    int64_t from = (int64_t)(j->lo + span * k / j->nchunks), to = (int64_t)(j->lo + span * (k + 1) / j->nchunks);
    char q[64];
    if (k == j->nchunks - 1) snprintf(q, sizeof q, "<= %" PRId64, j->hi);
    else snprintf(q, sizeof q, "< %" PRId64, to);
    char *sql = sl_malloc(strlen(j->select) + 3 * strlen(j->key) + 128);
    sprintf(sql, "%s WHERE %s >= %" PRId64 " AND %s %s ORDER BY %s", j->select, j->key, from, j->key, q, j->key);
    int qr = mysql_query(c, sql);
    sl_free(sql);
    if (qr != 0) return sl_range_fail(o, "a snapshot reader: %s", mysql_error(c));
    MYSQL_RES *res = mysql_use_result(c);
    MYSQL_ROW row;
    int rc = 0;
    while (rc == 0 && (row = mysql_fetch_row(res)) != NULL) {
        unsigned long *lens = mysql_fetch_lengths(res);
        size_t need = 0;
        for (int i = 0; i < j->ncols; i++) need += 4 + (row[i] ? lens[i] : 0);
        char *at = sl_range_room(o, need);
        if (!at) {
            rc = -1; /* stopping */
            break;
        }
        for (int i = 0; i < j->ncols; i++) {
            uint32_t n = row[i] ? (uint32_t)lens[i] : UINT32_MAX;
            memcpy(at, &n, 4), at += 4;
            if (row[i]) memcpy(at, row[i], lens[i]), at += lens[i];
        }
    }
    if (rc == 0 && mysql_errno(c)) rc = sl_range_fail(o, "a snapshot reader: %s", mysql_error(c));
    mysql_free_result(res);
    return rc;
}

static void readers_end(myreaders *p) {
    if (!p) return;
    sl_ranges_end(p->rg);
    for (int i = 0; i < p->n; i++)
        if (p->c[i]) mysql_close(p->c[i]);
    sl_free(p->c);
    sl_free(p);
}

/* n reader connections, each with a read view started now (the caller holds the global read lock); NULL with
 * errstr set when one cannot be opened. */
static myreaders *readers_open(my_source *s, int n, char *errstr, size_t errsz) {
    myreaders *p = sl_calloc(1, sizeof *p);
    p->c = sl_calloc((size_t)n, sizeof *p->c);
    p->n = n;
    for (int i = 0; i < n; i++) {
        /* a reader ahead of the records waits with its result open: give the server's writes time */
        if (!(p->c[i] = my_connect(s->cf, errstr, errsz)) ||
            my_query(p->c[i], "a snapshot reader", "SET SESSION net_write_timeout = 3600", errstr, errsz) < 0 ||
            my_query(p->c[i], "a snapshot reader", "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", errstr,
                     errsz) < 0 ||
            my_query(p->c[i], "a snapshot reader", "START TRANSACTION WITH CONSISTENT SNAPSHOT", errstr, errsz) < 0) {
            readers_end(p);
            return NULL;
        }
    }
    if (!(p->rg = sl_ranges_start(n, (void *const *)p->c, read_range, "sl-snap-read"))) {
        snprintf(errstr, errsz, "snapshot: cannot start a reader thread");
        readers_end(p);
        return NULL;
    }
    return p;
}

static bool integer_type(uint8_t t) {
    return t == MYSQL_TYPE_TINY || t == MYSQL_TYPE_SHORT || t == MYSQL_TYPE_INT24 || t == MYSQL_TYPE_LONG ||
           t == MYSQL_TYPE_LONGLONG;
}

/*
 * The table in key ranges read by the readers, when its key is one integer column and it holds more than two
 * chunks of snapshot.fetch.size rows: 1 read (or stopping), 0 not for the readers (read it serially), -1 failed.
 */
static int read_parallel(trows *tr, const char *db, const char *tb, char *errstr, size_t errsz) {
    my_source *s = tr->s;
    my_snap_table *sn = tr->sn;
    myreaders *p = tr->st->par;
    if (sn->nkeys != 1 || !integer_type(sn->mcols[sn->keys[0]].type)) return 0;
    sl_buf q;
    sl_buf_init(&q);
    sl_buf key;
    sl_buf_init(&key);
    my_quote_ident(&key, sn->mcols[sn->keys[0]].name);
    /* the keys left (after the one a restart resumes after) and the server's estimate of the rows */
    sl_buf_printf(&q, "SELECT MIN(%s), MAX(%s), (SELECT TABLE_ROWS FROM information_schema.TABLES WHERE "
                      "TABLE_SCHEMA = ", sl_buf_cstr(&key), sl_buf_cstr(&key));
    my_quote_literal(s, &q, db, strlen(db));
    sl_buf_puts(&q, " AND TABLE_NAME = ");
    my_quote_literal(s, &q, tb, strlen(tb));
    sl_buf_puts(&q, ") FROM ");
    my_quote_ident(&q, db);
    sl_buf_putc(&q, '.');
    my_quote_ident(&q, tb);
    if (tr->have_last) {
        sl_buf_printf(&q, " WHERE %s > ", sl_buf_cstr(&key));
        my_quote_literal(s, &q, tr->lastkey[0], tr->lastlen[0]);
    }
    char *v[3] = {0};
    int rc = my_query_row(s->sql, "finding the key range of a table", sl_buf_cstr(&q), v, 3, errstr, errsz);
    if (rc < 0) goto out;
    char *e1, *e2;
    errno = 0;
    long long lo = strtoll(v[0], &e1, 10), hi = strtoll(v[1], &e2, 10), est = atoll(v[2]);
    if (!*v[0] || *e1 || *e2 || errno == ERANGE || hi < lo || est < 2 * s->cf->snapshot_chunk) {
        rc = 0; /* empty, keys beyond int64, or small: serially */
        goto out;
    }
    int nchunks = (int)(est / s->cf->snapshot_chunk);
    if (nchunks < 4 * p->n) nchunks = 4 * p->n;
    if (nchunks > 4096) nchunks = 4096;
    if ((__int128)hi - lo + 1 < nchunks) nchunks = (int)(hi - lo + 1);
    sl_buf_reset(&q);
    select_all(&q, sn, db, tb);
    myjob job = {.select = sl_buf_cstr(&q), .key = sl_buf_cstr(&key), .ncols = sn->nm, .lo = lo, .hi = hi,
                 .nchunks = nchunks};
    sl_ranges_job(p->rg, &job, nchunks, false, NULL);
    SL_DEBUG("mysql", "snapshot table=%s keys=[%lld, %lld] chunks=%d readers=%d", tr->fq, lo, hi, nchunks, p->n);
    sl_ctx_snapshot_chunks(s->ctx, tr->fq, nchunks, 0);
    char **row = sl_malloc(sizeof *row * (size_t)sn->nm);
    unsigned long *lens = sl_malloc(sizeof *lens * (size_t)sn->nm);
    rc = 1;
    for (int k = 0; k < nchunks && rc == 1; k++) {
        int64_t got = 0;
        const char *data;
        size_t len;
        int t = 0;
        while (rc == 1 && (t = sl_ranges_take(p->rg, k, &data, &len)) == 1) {
            /* the rows of the block, in the batch's arena as the serial read has them */
            for (size_t at = 0; at < len && rc == 1;) {
                for (int i = 0; i < sn->nm; i++) {
                    uint32_t n;
                    memcpy(&n, data + at, 4);
                    at += 4;
                    row[i] = n == UINT32_MAX ? NULL : (char *)data + at;
                    lens[i] = n == UINT32_MAX ? 0 : n;
                    if (n != UINT32_MAX) at += n;
                }
                int a = add_row(tr, row, lens);
                got++;
                if (a < 0) rc = -1;
                if (a == 0) rc = 2; /* stopping */
            }
        }
        if (rc == 1 && t < 0) {
            const char *e = sl_ranges_error(p->rg);
            snprintf(errstr, errsz, "snapshot of %.300s: %.500s", tr->fq, e[0] ? e : "the readers stopped");
            rc = -1;
        }
        if (rc == 1 && got > 0) tr->have_last = true, progress_offset(tr);
        if (rc == 1) sl_ctx_snapshot_chunks(s->ctx, tr->fq, nchunks, k + 1);
    }
    sl_free(row), sl_free(lens);
    if (rc != 1) {
        rc = rc == 2 ? 1 : -1;
        sl_ranges_stop(p->rg); /* stopping or failed: the readers end with the snapshot */
    }
out:
    for (int i = 0; i < 3; i++) sl_free(v[i]);
    sl_buf_free(&q), sl_buf_free(&key);
    return rc;
}

static int snapshot_table(my_source *s, const char *db, const char *tb, snap_state *st, char *errstr, size_t errsz) {
    my_snap_table sn;
    int rc = -1;
    trows tr = {.s = s, .st = st, .sn = &sn};
    if (my_snap_table_open(s, db, tb, &sn, errstr, errsz) < 0) goto out; /* it leaves sn closable */
    snprintf(tr.fq, sizeof tr.fq, "%s.%s", db, tb);
    json_t *after = st->after && st->table && !strcmp(st->table, tr.fq) ? st->after : NULL;
    if (after && sn.nkeys <= 8 && (int)json_array_size(after) == sn.nkeys) {
        for (int k = 0; k < sn.nkeys; k++) {
            const char *v = json_string_value(json_array_get(after, (size_t)k));
            snprintf(tr.lastkey[k], sizeof tr.lastkey[k], "%s", v ? v : "");
            tr.lastlen[k] = (unsigned long)strlen(tr.lastkey[k]);
        }
        tr.have_last = true;
    }
    SL_INFO("mysql", "snapshot table=%s%s", tr.fq, tr.have_last ? " (resuming after the last chunk read)" : "");
    tr.table_resumed = tr.have_last;
    int pr = st->par ? read_parallel(&tr, db, tb, errstr, errsz) : 0;
    if (pr < 0) goto out;
    if (pr == 0 && read_serial(&tr, db, tb, errstr, errsz) < 0) goto out;
    if (sl_ctx_stopping(s->ctx)) {
        rc = 0;
        goto out;
    }
    /* the table's last row (still in the batch: a batch is handed on before the next add) is marked
       last_in_data_collection, unless it is also the snapshot's first; the snapshot's last becomes "last" */
    if (tr.done > 0 && s->batch->n > 0) {
        sl_record *last = &s->batch->recs[s->batch->n - 1];
        if (last->op == SL_OP_READ && last->table == sn.out && last->snapshot != SL_SNAP_FIRST)
            last->snapshot = SL_SNAP_LAST_IN_DC;
    }
    sl_ctx_snapshot_progress(s->ctx, tr.fq, tr.done, tr.done, true);
    SL_INFO("mysql", "snapshot done table=%s rows=%" PRId64, tr.fq, tr.done);
    rc = 0;
out:
    my_snap_table_close(&sn);
    return rc;
}

/*
 * The snapshot's read view and its binlog position. With snapshot.max.threads above 1 the readers' read views
 * start under the same global read lock, so that all of them see the rows at that position; without the lock
 * (snapshot.locking.mode=none, or no RELOAD privilege) one connection reads.
 */
static int begin_snapshot(my_source *s, snap_state *st, char *errstr, size_t errsz) {
    bool locked = false;
    int threads = (int)s->cf->snapshot_threads;
    if (s->cf->locking_mode == MY_LOCK_MINIMAL) {
        if (mysql_query(s->sql, "FLUSH TABLES WITH READ LOCK") == 0) locked = true;
        else SL_WARN("mysql", "snapshot.locking.mode=minimal: FLUSH TABLES WITH READ LOCK failed (%s); going on with "
                     "the consistent snapshot alone", mysql_error(s->sql));
    }
    if (threads > 1 && !locked)
        SL_WARN("mysql", "snapshot.max.threads=%d: its readers can share one read view only under the global read "
                "lock (snapshot.locking.mode=minimal and the RELOAD privilege); the snapshot is read by one connection",
                threads);
    int rc = my_query(s->sql, "starting the snapshot transaction",
                      "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", errstr, errsz);
    if (rc == 0) rc = my_query(s->sql, "starting the snapshot transaction", "START TRANSACTION WITH CONSISTENT SNAPSHOT",
                               errstr, errsz);
    if (rc == 0 && threads > 1 && locked && !(st->par = readers_open(s, threads, errstr, errsz))) rc = -1;
    if (rc == 0 && !s->resume_snapshot) {
        if (s->mariadb) {
            char *v[2] = {0};
            rc = my_query_row(s->sql, "reading the snapshot's binlog position",
                              "SELECT (SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME"
                              " = 'BINLOG_SNAPSHOT_FILE'), (SELECT VARIABLE_VALUE FROM"
                              " information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'BINLOG_SNAPSHOT_POSITION')",
                              v, 2, errstr, errsz);
            if (rc == 0) {
                snprintf(s->start.file, sizeof s->start.file, "%s", v[0]);
                s->start.pos = strtoull(v[1], NULL, 10);
                for (int i = 0; i < 2; i++) sl_free(v[i]);
                char q[512], *g[1] = {0};
                snprintf(q, sizeof q, "SELECT BINLOG_GTID_POS('%s', %" PRIu64 ")", s->start.file, s->start.pos);
                rc = my_query_row(s->sql, "reading the snapshot's GTID position", q, g, 1, errstr, errsz);
                if (rc == 0) snprintf(s->start.gtids, sizeof s->start.gtids, "%s", g[0]), sl_free(g[0]);
            }
        } else {
            char *v[2] = {0};
            rc = my_query_row(s->sql, "reading the binlog position", "SHOW MASTER STATUS", v, 2, errstr, errsz);
            if (rc == 0) {
                snprintf(s->start.file, sizeof s->start.file, "%s", v[0]);
                s->start.pos = strtoull(v[1], NULL, 10);
                s->start.gtids[0] = 0;
                for (int i = 0; i < 2; i++) sl_free(v[i]);
            }
        }
    }
    if (locked) mysql_query(s->sql, "UNLOCK TABLES");
    return rc;
}

/*
 * The captured tables, in the snapshot's order (schema, name as the server sorts them). A resumed
 * snapshot leaves out the tables before the one it was reading, found by the server's comparison, so
 * that a resume table that is gone since (dropped, or no longer captured) still ends the skipping at
 * the right place. Fills names (schema, table pairs; caller frees) and returns their count, or -1.
 */
static int list_tables(my_source *s, const char *resume, char ***names_out, char *err, size_t errsz) {
    sl_buf q;
    sl_buf_init(&q);
    sl_buf_puts(&q, "SELECT TABLE_SCHEMA, TABLE_NAME, ");
    const char *dot = resume ? strchr(resume, '.') : NULL; /* MySQL names cannot contain '.' */
    if (dot) {
        sl_buf_puts(&q, "(TABLE_SCHEMA, TABLE_NAME) >= (");
        my_quote_literal(s, &q, resume, (size_t)(dot - resume));
        sl_buf_puts(&q, ", ");
        my_quote_literal(s, &q, dot + 1, strlen(dot + 1));
        sl_buf_putc(&q, ')');
    } else {
        sl_buf_puts(&q, "1");
    }
    sl_buf_puts(&q, " FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN "
                    "('mysql','sys','information_schema','performance_schema') ORDER BY TABLE_SCHEMA, TABLE_NAME");
    int rc = mysql_query(s->sql, sl_buf_cstr(&q));
    sl_buf_free(&q);
    if (rc != 0) {
        snprintf(err, errsz, "listing tables: %s", mysql_error(s->sql));
        return -1;
    }
    MYSQL_RES *res = mysql_store_result(s->sql);
    int n = res ? (int)mysql_num_rows(res) : 0, nt = 0;
    bool found = !resume;
    char **names = sl_calloc((size_t)n * 2 + 1, sizeof *names);
    MYSQL_ROW row;
    while (res && (row = mysql_fetch_row(res)) != NULL) {
        char fq[520];
        snprintf(fq, sizeof fq, "%s.%s", row[0], row[1]);
        if (!sl_filter_match(&s->dbs, row[0]) || !sl_filter_match(&s->tables, fq)) continue;
        if (row[2] && !strcmp(row[2], "0")) continue; /* read before the restart */
        found |= resume && !strcmp(fq, resume);
        names[2 * nt] = sl_strdup(row[0]), names[2 * nt + 1] = sl_strdup(row[1]);
        nt++;
    }
    mysql_free_result(res);
    if (!found)
        SL_WARN("mysql", "table %s of the unfinished snapshot is gone or no longer captured: resuming with the "
                "tables after it", resume);
    *names_out = names;
    return nt;
}

/* The second column of a one-row SHOW CREATE ... (caller frees), or NULL with errstr set. */
static char *show_create(my_source *s, const char *what, const char *db, const char *tb, char *errstr, size_t errsz) {
    sl_buf q;
    sl_buf_init(&q);
    sl_buf_printf(&q, "SHOW CREATE %s ", what);
    my_quote_ident(&q, db);
    if (tb) sl_buf_putc(&q, '.'), my_quote_ident(&q, tb);
    char *v[2] = {0};
    int rc = my_query_row(s->sql, "reading the DDL for a snapshot schema change event", sl_buf_cstr(&q), v, 2,
                          errstr, errsz);
    sl_buf_free(&q);
    sl_free(v[0]);
    return rc == 0 ? v[1] : NULL;
}

/* One snapshot schema change record: positioned at the snapshot's binlog position, as its rows. */
static void snapshot_schema_record(my_source *s, const char *db, const char *tb, const char *ddl, const sl_buf *ch) {
    sl_record *r = my_schema_record(s, 0, db, tb, ddl, strlen(ddl), ch->data, ch->len);
    r->snapshot = SL_SNAP_TRUE;
    r->ts_us = snapshot_now_us();
    r->pos.file = sl_arena_strndup(&s->batch->arena, s->start.file, strlen(s->start.file));
    r->pos.file_pos = s->start.pos;
    r->pos.gtid = NULL;
    r->tx_order = 0;
}

/* A statement with no table change: the SET, DROP DATABASE, CREATE DATABASE and USE of the snapshot. */
static void snapshot_statement(my_source *s, const char *db, const char *ddl) {
    sl_buf ch;
    sl_buf_init(&ch);
    sl_buf_puts(&ch, "[]");
    snapshot_schema_record(s, db, NULL, ddl, &ch);
    sl_buf_free(&ch);
}

/*
 * Debezium's snapshot schema change events, ahead of the rows, in Debezium's order: the server's
 * character set (SET character_set_server=..., collation_server=...), a DROP TABLE IF EXISTS per captured
 * table, then per captured database DROP DATABASE IF EXISTS, CREATE DATABASE with its default charset and
 * collation, USE, and per table its SHOW CREATE TABLE with a CREATE table change, read in the snapshot's
 * transaction. Only a fresh snapshot sends them: a resumed one sent them before its restart.
 */
static int snapshot_schema(my_source *s, char **names, int nt, char *errstr, size_t errsz) {
    char *v[2] = {0};
    if (my_query_row(s->sql, "reading the server's character set", "SELECT @@character_set_server, @@collation_server",
                     v, 2, errstr, errsz) < 0)
        return -1;
    sl_buf ddl, ch;
    sl_buf_init(&ddl), sl_buf_init(&ch);
    sl_buf_printf(&ddl, "SET character_set_server=%s, collation_server=%s", v[0] ? v[0] : "", v[1] ? v[1] : "");
    sl_free(v[0]), sl_free(v[1]);
    snapshot_statement(s, "", sl_buf_cstr(&ddl));
    for (int i = 0; i < nt; i++) {
        const char *db = names[2 * i], *tb = names[2 * i + 1];
        sl_buf_reset(&ddl), sl_buf_reset(&ch);
        sl_buf_puts(&ddl, "DROP TABLE IF EXISTS "), my_quote_ident(&ddl, db), sl_buf_putc(&ddl, '.'), my_quote_ident(&ddl, tb);
        sl_buf_putc(&ch, '[');
        sl_my_table_change_json(&ch, "DROP", db, tb, NULL, NULL, NULL, 0, NULL, 0);
        sl_buf_putc(&ch, ']');
        snapshot_schema_record(s, db, tb, sl_buf_cstr(&ddl), &ch);
    }
    int rc = -1;
    for (int i = 0; i < nt; i++) {
        const char *db = names[2 * i], *tb = names[2 * i + 1];
        if (i == 0 || strcmp(db, names[2 * i - 2]) != 0) {
            sl_buf_reset(&ddl);
            sl_buf_puts(&ddl, "DROP DATABASE IF EXISTS "), my_quote_ident(&ddl, db);
            snapshot_statement(s, db, sl_buf_cstr(&ddl));
            sl_buf q;
            sl_buf_init(&q);
            sl_buf_puts(&q, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
                            "WHERE SCHEMA_NAME = '");
            char *e = sl_malloc(strlen(db) * 2 + 1);
            mysql_real_escape_string(s->sql, e, db, (unsigned long)strlen(db));
            sl_buf_printf(&q, "%s'", e);
            sl_free(e);
            int qrc = my_query_row(s->sql, "reading a database's character set", sl_buf_cstr(&q), v, 2, errstr, errsz);
            sl_buf_free(&q);
            if (qrc < 0) goto done;
            sl_buf_reset(&ddl);
            sl_buf_puts(&ddl, "CREATE DATABASE "), my_quote_ident(&ddl, db);
            if (v[0]) sl_buf_printf(&ddl, " CHARSET %s", v[0]);
            if (v[1]) sl_buf_printf(&ddl, " COLLATE %s", v[1]);
            sl_free(v[0]), sl_free(v[1]);
            v[0] = v[1] = NULL;
            snapshot_statement(s, db, sl_buf_cstr(&ddl));
            sl_buf_reset(&ddl);
            sl_buf_puts(&ddl, "USE "), my_quote_ident(&ddl, db);
            snapshot_statement(s, db, sl_buf_cstr(&ddl));
        }
        char *create = show_create(s, "TABLE", db, tb, errstr, errsz);
        if (!create) goto done;
        sl_buf_reset(&ch);
        sl_buf_putc(&ch, '[');
        int trc = my_table_change(s, "CREATE", db, tb, s->cf->include_schema_comments, NULL, 0, &ch, errstr, errsz);
        sl_buf_putc(&ch, ']');
        if (trc == 0) snapshot_schema_record(s, db, tb, create, &ch);
        sl_free(create);
        if (trc < 0) goto done;
    }
    rc = 0;
done:
    sl_buf_free(&ddl), sl_buf_free(&ch);
    return rc;
}

int my_snapshot_run(my_source *s) {
    char err[1024];
    snap_state st = {0};
    json_t *prog = NULL;
    sl_ctx_set_source_state(s->ctx, SL_SRC_SNAPSHOTTING);
    if (s->resume_snapshot) {
        prog = json_loads(s->resume_snapshot, 0, NULL);
        st.table = prog ? json_string_value(json_object_get(prog, "table")) : NULL;
        st.after = prog ? json_object_get(prog, "after") : NULL;
        st.resumed = st.table != NULL; /* else only its start was stored: a fresh snapshot from that start */
    }
    if (begin_snapshot(s, &st, err, sizeof err) < 0) goto fail;
    SL_INFO("mysql", "snapshot start file=%s pos=%" PRIu64 " gtids=%s", s->start.file, s->start.pos, s->start.gtids);
    if (!s->resume_snapshot) {
        /* The start position is stored before the first record goes out: a crash before the first chunk's
         * offset then restarts the snapshot from here, and the stream from this position brings the
         * deletes of rows this attempt sent (a new position would skip them). */
        char off[2048];
        my_offset_json(s, off, sizeof off, &s->start, "{}");
        sl_batch_set_offset(s->batch, off, 0);
        if (my_emit_durable(s) < 0) {
            json_decref(prog);
            readers_end(st.par);
            mysql_query(s->sql, "ROLLBACK");
            return 0; /* stopping */
        }
    }
    char **names = NULL;
    int nt = list_tables(s, st.table, &names, err, sizeof err);
    if (nt < 0) goto fail;
    int rc = s->cf->include_schema_changes && !st.resumed ? snapshot_schema(s, names, nt, err, sizeof err) : 0;
    for (int i = 0; i < nt && rc == 0 && !s->schema_only && !sl_ctx_stopping(s->ctx); i++)
        rc = snapshot_table(s, names[2 * i], names[2 * i + 1], &st, err, sizeof err);
    for (int i = 0; i < 2 * nt; i++) sl_free(names[i]);
    sl_free(names);
    readers_end(st.par);
    st.par = NULL;
    if (rc < 0) goto fail;
    json_decref(prog);
    prog = NULL;
    mysql_query(s->sql, "COMMIT");
    if (sl_ctx_stopping(s->ctx)) return 0;
    if (s->batch->n > 0 && s->batch->recs[s->batch->n - 1].op == SL_OP_READ)
        s->batch->recs[s->batch->n - 1].snapshot = SL_SNAP_LAST;
    else if (st.resumed && st.count == 0)
        SL_INFO("mysql", "snapshot resumed with nothing left to read: no record is marked snapshot=last (the last "
                "row went out before the restart); committing the end of the snapshot");
    char off[2048];
    my_offset_json(s, off, sizeof off, &s->start, NULL);
    sl_batch_set_offset(s->batch, off, 0);
    SL_INFO("mysql", "snapshot complete records=%d%s", st.count, s->schema_only ? " (schemas only: no_data)" : "");
    sl_free(s->resume_snapshot);
    s->resume_snapshot = NULL;
    return my_emit_batch(s);
fail:
    json_decref(prog);
    readers_end(st.par);
    unsigned no = mysql_errno(s->sql); /* 2006, 2013: server gone, lost connection */
    return sl_ctx_raisef(s->ctx, no == 2006 || no == 2013 ? SL_E_CONNECT : SL_E_PROTOCOL, "%s", err);
}
