/*
 * MySQL/MariaDB source: signals and incremental snapshots (the queue, the
 * signals, the chunk's rows and the offset fields are ctx/isnap's).
 *
 * Signals come from the signal table (signal.data.collection: rows inserted
 * into it, read from the binlog whether the table is captured or not) and
 * from the context's channels (file, Kafka, REST). They are acted on between
 * transactions of the binlog.
 *
 * A chunk is read as Debezium reads one on MySQL, by DBLog's watermarks
 * written into the signal table: a row of type snapshot-window-open, the
 * chunk's SELECT (keys after the last one emitted, up to the largest key the
 * table held when its turn came, in key order), a row of type
 * snapshot-window-close, each committed on its own. The binlog holds
 * commits in commit order, so what comes before the opening row is in the
 * chunk, what comes after the closing row is newer than it, and a change
 * between the two may or may not be: a change of the table between them
 * drops that key's row from the chunk (the change itself goes out in its
 * place). At the closing row the rows left are emitted as op r with
 * source.snapshot "incremental", right there in the stream. So an
 * incremental snapshot on MySQL needs signal.data.collection and the right
 * to insert into it; the watermark rows carry this run's nonce, and rows of
 * another run or another connector are passed over.
 */
#include "core/log.h"
#include "ctx/isnap.h"
#include "source/mysql/my_int.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct my_isnap {
    sl_isnap *z;
    my_snap_table sn;   /* the table being read, as the snapshot reads it */
    bool have_sn;
    int *key_m;         /* the mcols of the snapshot key (z->keys are out's columns) */
    bool window_open;   /* between the chunk's opening and closing rows in the binlog */
    /* read.only: the chunk's watermarks are the server's GTID positions before and after its SELECT */
    bool ro_wait;       /* a chunk read, waiting for the stream to pass its high watermark */
    char ro_low[sizeof ((my_pos *)0)->gtids], ro_high[sizeof ((my_pos *)0)->gtids];
} my_isnap;

static my_isnap *isnap(my_source *s) {
    if (!s->isnap) {
        s->isnap = sl_calloc(1, sizeof *s->isnap);
        s->isnap->z = sl_isnap_new(s->ctx, "mysql");
    }
    return s->isnap;
}

/* The captured tables, "db.table", in the server's order. */
static int list_tables(void *src, char ***names, int *n, char *errstr, size_t errsz) {
    my_source *s = src;
    if (mysql_query(s->sql, "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = "
                            "'BASE TABLE' ORDER BY table_schema, table_name") != 0) {
        snprintf(errstr, errsz, "listing the captured tables: %s", mysql_error(s->sql));
        return -1;
    }
    MYSQL_RES *res = mysql_store_result(s->sql);
    MYSQL_ROW row;
    int cap = 16;
    *n = 0;
    *names = sl_calloc((size_t)cap + 1, sizeof **names);
    while (res && (row = mysql_fetch_row(res))) {
        char fq[520];
        snprintf(fq, sizeof fq, "%s.%s", row[0], row[1]);
        if (!sl_filter_match(&s->dbs, row[0]) || !sl_filter_match(&s->tables, fq)) continue;
        if (*n == cap) cap *= 2, *names = sl_realloc(*names, sizeof **names * (size_t)(cap + 1));
        (*names)[(*n)++] = sl_strdup(fq);
    }
    mysql_free_result(res);
    return 0;
}

static void table_done(my_isnap *mz) {
    if (mz->have_sn) my_snap_table_close(&mz->sn);
    mz->have_sn = false;
    sl_free(mz->key_m), mz->key_m = NULL;
}

static void quote_table(my_isnap *mz, sl_buf *q) {
    my_quote_ident(q, mz->sn.out->db);
    sl_buf_putc(q, '.');
    my_quote_ident(q, mz->sn.out->name);
}

static void key_list(my_isnap *mz, sl_buf *q, bool desc) {
    for (int i = 0; i < mz->z->nkeys; i++) {
        sl_buf_puts(q, i ? ", " : "");
        my_quote_ident(q, mz->sn.mcols[mz->key_m[i]].name);
        if (desc) sl_buf_puts(q, " DESC");
    }
}

/* Starts the table colls[0]: its schema, key and largest key (ops.start_table). */
static int start_table(void *src, sl_isnap *z, char *errstr, size_t errsz) {
    my_source *s = src;
    my_isnap *mz = s->isnap;
    sl_isnap_coll *c = &z->colls[0];
    table_done(mz);
    const char *dot = strchr(c->fq, '.');
    if (!dot) return 1;
    char db[256];
    snprintf(db, sizeof db, "%.*s", (int)(dot - c->fq), c->fq);
    char err[512];
    if (my_snap_table_open(s, db, dot + 1, &mz->sn, err, sizeof err) < 0) {
        my_snap_table_close(&mz->sn);
        SL_WARN("mysql", "incremental snapshot of %s skipped: %s", c->fq, err);
        return 1;
    }
    mz->have_sn = true;
    z->t = sl_table_ref(mz->sn.out);
    z->est = -1;
    z->keys = sl_calloc((size_t)mz->sn.nkeep + 1, sizeof *z->keys);
    mz->key_m = sl_calloc((size_t)mz->sn.nkeep + 1, sizeof *mz->key_m);
    z->nkeys = 0;
    for (int k = 0; k < mz->sn.nkeep && z->nkeys < 32; k++) {
        int m = mz->sn.keep[k];
        if (c->skey ? strcmp(mz->sn.mcols[m].name, c->skey) == 0 : mz->sn.t->cols[m].key)
            z->keys[z->nkeys] = k, mz->key_m[z->nkeys++] = m;
    }
    if (z->nkeys == 0 || (!c->skey && z->nkeys != mz->sn.nkeys)) {
        SL_ERR("mysql", "incremental snapshot of %s skipped: %s", c->fq,
               c->skey ? "its surrogate-key column is not captured"
               : mz->sn.nkeys ? "a primary key column is left out by column.include.list/column.exclude.list"
                              : "the table has no primary key (name a surrogate-key in the signal)");
        return 1;
    }
    sl_buf *q = &mz->z->scratch;
    sl_buf_reset(q);
    sl_buf_printf(q, "SELECT table_rows FROM information_schema.tables WHERE table_schema = ");
    my_quote_literal(s, q, db, strlen(db));
    sl_buf_puts(q, " AND table_name = ");
    my_quote_literal(s, q, dot + 1, strlen(dot + 1));
    char *est[1] = {0};
    if (my_query_row(s->sql, "estimating a snapshot table's rows", sl_buf_cstr(q), est, 1, err, sizeof err) == 0 &&
        est[0] && *est[0])
        z->est = atof(est[0]);
    sl_free(est[0]);
    if (sl_isnap_take_resume(z)) return 0; /* a restart: the stored offset says where this table stands */
    /* The largest key now: rows inserted later come by the stream. */
    sl_buf_reset(q);
    sl_buf_puts(q, "SELECT ");
    key_list(mz, q, false);
    sl_buf_puts(q, " FROM ");
    quote_table(mz, q);
    if (c->cond) sl_buf_printf(q, " WHERE (%s)", c->cond);
    sl_buf_puts(q, " ORDER BY ");
    key_list(mz, q, true);
    sl_buf_puts(q, " LIMIT 1");
    if (mysql_query(s->sql, sl_buf_cstr(q)) != 0) {
        snprintf(errstr, errsz, "incremental snapshot of %s: reading its largest key: %s", c->fq, mysql_error(s->sql));
        return -1;
    }
    MYSQL_RES *res = mysql_store_result(s->sql);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    if (row) {
        z->max = sl_calloc((size_t)z->nkeys + 1, sizeof *z->max);
        unsigned long *lens = mysql_fetch_lengths(res);
        for (int i = 0; i < z->nkeys; i++) z->max[i] = row[i] ? sl_strndup(row[i], lens[i]) : NULL;
    }
    mysql_free_result(res);
    if (!z->max) {
        SL_INFO("mysql", "incremental snapshot of %s: no rows", c->fq);
        return 1;
    }
    return 0;
}

/* A watermark row in the signal table (committed on its own). */
static int watermark(my_source *s, const char *what, char *errstr, size_t errsz) {
    sl_isnap *z = s->isnap->z;
    const char *sc = sl_ctx_core(s->ctx)->sig_collection, *dot = strchr(sc, '.');
    sl_buf *q = &s->isnap->z->scratch;
    sl_buf_reset(q);
    sl_buf_puts(q, "INSERT INTO ");
    char db[256];
    snprintf(db, sizeof db, "%.*s", (int)(dot - sc), sc);
    my_quote_ident(q, db);
    sl_buf_putc(q, '.');
    my_quote_ident(q, dot + 1);
    sl_buf_printf(q, " VALUES ('%s-%" PRIu64 "-%s', 'snapshot-window-%s', '{}')", z->nonce, z->chunk_no, what, what);
    if (mysql_query(s->sql, sl_buf_cstr(q)) != 0) {
        snprintf(errstr, errsz, "incremental snapshot: writing the %s watermark into the signal table %s (the "
                 "connector's user needs INSERT on it): %s", what, sc, mysql_error(s->sql));
        return -1;
    }
    return 0;
}

/* ---- read.only: GTID watermarks (MariaDB domain-server-seq lists) ---- */

/* The sequence number of a domain-server-seq GTID. */
static unsigned long long gtid_seq(const char *g) {
    const char *q = strrchr(g, '-');
    return q ? strtoull(q + 1, NULL, 10) : 0;
}

/* Whether the GTID list holds domain dom at seq or later. */
static bool gtid_covers(const char *list, unsigned long dom, unsigned long long seq) {
    char have[64];
    const char *g = my_gtid_of_domain(list, dom, have, sizeof have);
    return g && gtid_seq(g) >= seq;
}

/* Whether list a covers every item of list b. */
static bool gtids_cover(const char *a, const char *b) {
    for (const char *g = b; *g;) {
        while (*g == ' ' || *g == ',') g++;
        size_t n = strcspn(g, ",");
        char item[64];
        snprintf(item, sizeof item, "%.*s", (int)n, g);
        if (n && !gtid_covers(a, strtoul(item, NULL, 10), gtid_seq(item))) return false;
        g += n;
    }
    return true;
}

static int gtid_pos(my_source *s, char *out, size_t outsz, char *errstr, size_t errsz) {
    char *g[1] = {0};
    if (my_query_row(s->sql, "reading gtid_binlog_pos (a read.only watermark)", "SELECT @@gtid_binlog_pos", g, 1,
                     errstr, errsz) < 0)
        return -1;
    snprintf(out, outsz, "%s", g[0] ? g[0] : "");
    sl_free(g[0]);
    return 0;
}

static void fill(void *arg, sl_record *rec);
typedef struct fill_arg {
    my_source *s;
    uint32_t server_id;
} fill_arg;

/* The stream went past the chunk's high watermark: its rows left go out here, between two transactions. */
static void ro_close(my_source *s) {
    my_isnap *mz = s->isnap;
    mz->ro_wait = mz->window_open = false;
    fill_arg f = {s, 0};
    s->txn_pos = s->ev_pos = s->cur.pos;
    sl_isnap_emit(mz->z, s->batch, fill, &f);
    if (!mz->z->t) table_done(mz);
}

void my_isnap_on_gtid(my_source *s, const char *gtid) {
    my_isnap *mz = s->isnap;
    if (!mz || !s->cf->read_only || !mz->ro_wait) return;
    unsigned long dom = strtoul(gtid, NULL, 10);
    unsigned long long seq = gtid_seq(gtid);
    if (gtid_covers(mz->ro_low, dom, seq)) return;              /* committed before the chunk was read */
    if (gtid_covers(mz->ro_high, dom, seq)) mz->window_open = true; /* while it was read */
    else ro_close(s);                                            /* after it: the chunk goes first */
}

/* Appends "(k1, k2) op ('v1', 'v2')". */
static void key_cmp(my_source *s, my_isnap *mz, sl_buf *q, const char *op, char **vals) {
    sl_buf_putc(q, '(');
    key_list(mz, q, false);
    sl_buf_printf(q, ") %s (", op);
    for (int i = 0; i < mz->z->nkeys; i++) {
        sl_buf_puts(q, i ? ", " : "");
        if (vals[i]) my_quote_literal(s, q, vals[i], strlen(vals[i]));
        else sl_buf_puts(q, "NULL");
    }
    sl_buf_putc(q, ')');
}

/* Reads the next chunk between its two watermarks, or without them when blocking (ops.read_chunk). */
static int read_chunk(void *src, sl_isnap *z, bool blocking, char *errstr, size_t errsz) {
    my_source *s = src;
    my_isnap *mz = s->isnap;
    sl_isnap_coll *c = &z->colls[0];
    bool ro = s->cf->read_only && !blocking;
    if (!blocking) z->chunk_no++;
    if (ro && gtid_pos(s, mz->ro_low, sizeof mz->ro_low, errstr, errsz) < 0) return -1;
    if (!blocking && !ro && watermark(s, "open", errstr, errsz) < 0) return -1;
    sl_buf *q = &mz->z->scratch;
    sl_buf_reset(q);
    sl_buf_puts(q, "SELECT ");
    for (int i = 0; i < mz->sn.nm; i++) sl_buf_puts(q, i ? ", " : ""), my_quote_ident(q, mz->sn.mcols[i].name);
    sl_buf_puts(q, " FROM ");
    quote_table(mz, q);
    sl_buf_puts(q, " WHERE ");
    key_cmp(s, mz, q, "<=", z->max);
    if (z->last) sl_buf_puts(q, " AND "), key_cmp(s, mz, q, ">", z->last);
    if (c->cond) sl_buf_printf(q, " AND (%s)", c->cond);
    sl_buf_puts(q, " ORDER BY ");
    key_list(mz, q, false);
    sl_buf_printf(q, " LIMIT %" PRId64, sl_ctx_core(s->ctx)->isnap_chunk);
    if (mysql_query(s->sql, sl_buf_cstr(q)) != 0) {
        snprintf(errstr, errsz, "incremental snapshot of %s: %s", c->fq, mysql_error(s->sql));
        return -1;
    }
    MYSQL_RES *res = mysql_use_result(s->sql);
    MYSQL_ROW row;
    sl_isnap_chunk_begin(z);
    while (res && (row = mysql_fetch_row(res))) {
        unsigned long *lens = mysql_fetch_lengths(res);
        sl_cell *cells = sl_isnap_chunk_row(z);
        for (int k = 0; k < mz->sn.nkeep; k++) {
            int m = mz->sn.keep[k];
            cells[k] = my_snap_cell(&z->arena, &mz->sn.mcols[m], row[m], lens[m]);
        }
        for (int i = 0; i < z->nkeys; i++) { /* the key as the query takes it back */
            int m = mz->key_m[i];
            cells[mz->sn.nkeep + i] = row[m] ? (sl_cell){sl_arena_memdup(&z->arena, row[m], lens[m]), (uint32_t)lens[m], 0}
                                             : (sl_cell){NULL, 0, SL_CELL_NULL};
        }
    }
    bool failed = mysql_errno(s->sql) != 0;
    if (failed) snprintf(errstr, errsz, "incremental snapshot of %s: %s", c->fq, mysql_error(s->sql));
    mysql_free_result(res);
    if (failed) return -1;
    sl_isnap_chunk_ready(z);
    mz->window_open = false;
    if (ro) { /* emitted once the stream is past the high watermark (my_isnap_step, my_isnap_on_gtid) */
        if (gtid_pos(s, mz->ro_high, sizeof mz->ro_high, errstr, errsz) < 0) return -1;
        mz->ro_wait = true;
        return 0;
    }
    return blocking ? 0 : watermark(s, "close", errstr, errsz);
}

/* A blocking snapshot's chunk, at the stream's position (between two transactions). */
static int emit_chunk(void *src, sl_isnap *z) {
    my_source *s = src;
    fill_arg f = {s, 0};
    s->txn_pos = s->ev_pos = s->cur.pos;
    sl_isnap_emit(z, s->batch, fill, &f);
    if (!z->t) table_done(s->isnap);
    return my_emit_batch(s) < 0 ? -1 : 0;
}

/* snapshot.new.tables: which of names ("db.table") the stored filters captured. */
static int was_captured(void *src, const json_t *old, char *const *names, int n, bool *was, char *errstr,
                        size_t errsz) {
    sl_filter dbs, tables;
    if (sl_filter_init(&dbs, json_string_value(json_object_get(old, "database.include.list")),
                       json_string_value(json_object_get(old, "database.exclude.list")), "database.include.list",
                       "database.exclude.list", errstr, errsz) < 0)
        return -1;
    if (sl_filter_init(&tables, json_string_value(json_object_get(old, "table.include.list")),
                       json_string_value(json_object_get(old, "table.exclude.list")), "table.include.list",
                       "table.exclude.list", errstr, errsz) < 0) {
        sl_filter_free(&dbs);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char db[260];
        const char *dot = strchr(names[i], '.'); /* MySQL names cannot contain '.' */
        snprintf(db, sizeof db, "%.*s", dot ? (int)(dot - names[i]) : 0, names[i]);
        was[i] = sl_filter_match(&dbs, db) && sl_filter_match(&tables, names[i]);
    }
    sl_filter_free(&dbs), sl_filter_free(&tables);
    return 0;
}

static const sl_isnap_ops my_isnap_ops = {list_tables, start_table, read_chunk, emit_chunk, was_captured};

int my_isnap_step(my_source *s) {
    sl_signal *first;
    if (!s->in_txn && s->isnap && s->isnap->ro_wait && gtids_cover(s->cur.gtids, s->isnap->ro_high))
        ro_close(s); /* the stream has committed everything the chunk's high watermark holds */
    if (s->in_txn || !sl_isnap_wake(s->isnap ? s->isnap->z : NULL, s->ctx, &s->isnap_poll_ms, (size_t)s->batch->n,
                                    &first))
        return 0;
    sl_isnap *z = isnap(s)->z;
    if (first) sl_isnap_push(z, first);
    char err[1024];
    int rc = sl_isnap_tick(z, &my_isnap_ops, s, (size_t)s->batch->n, err, sizeof err);
    if (rc == 0 || !*err) return rc < 0 && sl_ctx_stopping(s->ctx) ? 0 : rc; /* !*err: emit_chunk's */
    return sl_ctx_raisef(s->ctx, mysql_errno(s->sql) == 2006 || mysql_errno(s->sql) == 2013 ? SL_E_CONNECT
                                                                                            : SL_E_PROTOCOL,
                         "%s", err);
}

static void fill(void *arg, sl_record *rec) {
    fill_arg *f = arg;
    my_source *s = f->s;
    rec->pos.file = sl_arena_strndup(&s->batch->arena, s->cur.file, strlen(s->cur.file));
    rec->pos.file_pos = s->txn_pos;
    rec->pos.event_pos = s->ev_pos;
    rec->pos.server_id = f->server_id;
    my_context_headers(s, rec);
}

/* A text cell of the signal table's row (NULL: SQL NULL), NUL-terminated in the batch's arena. */
static const char *text(my_source *s, const sl_cell *c) {
    return c->flags & SL_CELL_NULL ? NULL : sl_arena_strndup(&s->batch->arena, c->data, c->len);
}

void my_isnap_signal_row(my_source *s, const sl_table *t, const sl_cell *after, uint32_t server_id) {
    if (!after || t->ncols < 3) {
        if (after) SL_ERR("mysql", "signal table %s.%s: a signal row needs the columns id, type and data", t->db, t->name);
        return;
    }
    const char *id = text(s, &after[0]), *type = text(s, &after[1]), *data = text(s, &after[2]);
    if (!id || !type) return;
    bool open = strcmp(type, "snapshot-window-open") == 0, close = strcmp(type, "snapshot-window-close") == 0;
    if (!open && !close) {
        sl_isnap_signal_row(isnap(s)->z, id, type, data);
        return;
    }
    my_isnap *mz = s->isnap;
    if (!mz || !mz->z->in_flight) return; /* an earlier run's, or another connector's */
    char want[96];
    snprintf(want, sizeof want, "%s-%" PRIu64 "-%s", mz->z->nonce, mz->z->chunk_no, open ? "open" : "close");
    if (strcmp(id, want) != 0) return;
    if (open) {
        mz->window_open = true;
        return;
    }
    mz->window_open = false;
    fill_arg f = {s, server_id};
    sl_isnap_emit(mz->z, s->batch, fill, &f);
    if (!mz->z->t) table_done(mz); /* the table is done */
}

void my_isnap_on_change(my_source *s, const sl_table *t, const sl_cell *before, const sl_cell *after) {
    my_isnap *mz = s->isnap;
    if (!mz->window_open || !mz->z->in_flight || !mz->z->t || strcmp(t->db, mz->z->t->db) != 0 ||
        strcmp(t->name, mz->z->t->name) != 0)
        return;
    sl_isnap_on_change(mz->z, t, before, after);
}

const char *my_isnap_offset_fields(my_source *s) {
    return s->isnap ? sl_isnap_offset_fields(s->isnap->z) : "";
}

int my_isnap_resume(my_source *s, const char *offset, char *errstr, size_t errsz) {
    json_t *o = offset ? json_loads(offset, 0, NULL) : NULL;
    int rc = 0;
    if (json_object_get(o, "incremental_snapshot_collections")) rc = sl_isnap_resume(isnap(s)->z, o, errstr, errsz);
    const my_conf *cf = s->cf;
    const char *filters[] = {"database.include.list", cf->db_include, "database.exclude.list", cf->db_exclude,
                             "table.include.list", cf->table_include, "table.exclude.list", cf->table_exclude, NULL};
    if (rc == 0 && cf->snapshot_new_tables)
        rc = sl_isnap_new_tables(isnap(s)->z, &my_isnap_ops, s, o, filters, s->do_snapshot, errstr, errsz);
    json_decref(o);
    return rc;
}

void my_isnap_free(my_source *s) {
    my_isnap *mz = s->isnap;
    if (!mz) return;
    sl_isnap_free(mz->z);
    table_done(mz);
    sl_free(mz);
    s->isnap = NULL;
}
