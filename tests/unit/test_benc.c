/*
 * Encoding on several threads (util/par, format/benc) and the source block the
 * encoder keeps per thread (format/dbz_envelope.c):
 *  - the pool runs every part once, the caller waits for parts in order, and
 *    finish drops parts nobody took;
 *  - a batch encoded in parts gives, record by record, the bytes the sink's
 *    own one-record-at-a-time path gives (the volatile envelope time masked),
 *    and a part that reaches its share of bytes leaves the rest to the caller;
 *  - a source block written again from the kept copy equals the block a
 *    thread that kept nothing writes, whichever input of it changes.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "format/benc.h"
#include "format/dbz_json.h"
#include "source/pg/pgtypes.h"
#include "util/mem.h"
#include "util/par.h"
#include "test.h"

/* ---- util/par ---- */

static atomic_int runs[SL_PAR_MAX_PARTS];

static void count_part(void *arg, int i) {
    (void)arg;
    atomic_fetch_add(&runs[i], 1);
}

static void test_par(void) {
    sl_par *p = sl_par_new(3, "test-par");
    CHECK(p && sl_par_width(p) == 4);
    for (int round = 0; round < 200; round++) {
        int parts = 1 + round % SL_PAR_MAX_PARTS;
        for (int i = 0; i < SL_PAR_MAX_PARTS; i++) runs[i] = 0;
        sl_par_run(p, parts, count_part, NULL);
        int bad = 0;
        for (int i = 0; i < SL_PAR_MAX_PARTS; i++) bad += runs[i] != (i < parts);
        CHECK(bad == 0);
    }
    /* in-order waits see each part done; a run ended early leaves the untaken parts out */
    for (int i = 0; i < SL_PAR_MAX_PARTS; i++) runs[i] = 0;
    sl_par_start(p, 40, count_part, NULL);
    for (int i = 0; i < 5; i++) {
        sl_par_wait(p, i);
        CHECK(runs[i] == 1);
    }
    sl_par_finish(p);
    int ran = 0, twice = 0;
    for (int i = 0; i < SL_PAR_MAX_PARTS; i++) ran += runs[i] > 0, twice += runs[i] > 1;
    CHECK(ran >= 5 && ran <= 40 && twice == 0);
    /* after finish, nothing more runs */
    int before = 0, after = 0;
    for (int i = 0; i < SL_PAR_MAX_PARTS; i++) before += runs[i];
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    for (int i = 0; i < SL_PAR_MAX_PARTS; i++) after += runs[i];
    CHECK(before == after);
    sl_par_destroy(p);
    /* no pool: the caller runs every part */
    CHECK(sl_par_new(0, "none") == NULL && sl_par_width(NULL) == 1);
    for (int i = 0; i < SL_PAR_MAX_PARTS; i++) runs[i] = 0;
    sl_par_run(NULL, 7, count_part, NULL);
    CHECK(runs[0] == 1 && runs[6] == 1 && runs[7] == 0);
    CHECK(sl_par_cores() >= 1);
}

/* ---- batches ---- */

static sl_table *mk_table(const char *name) {
    sl_table *t = sl_table_new("db", "public", name, 3);
    const char *names[] = {"id", "note", "at"};
    uint32_t oids[] = {23, 25, 1184};
    for (int i = 0; i < 3; i++) {
        sl_column *c = &t->cols[i];
        c->name = sl_strdup(names[i]);
        c->src_type = oids[i], c->typmod = -1, c->optional = i > 0;
        sl_pg_type_map(oids[i], -1, c);
    }
    t->cols[0].key = true;
    t->nkeys = 1;
    return t;
}

static sl_cell cell(sl_batch *b, const char *s) {
    size_t n = strlen(s);
    sl_cell c = {.data = sl_arena_memdup(&b->arena, s, n), .len = (uint32_t)n};
    return c;
}

/* n records over two tables, every op; every `big`-th note is big_len bytes long (0: none). */
static sl_batch *mk_batch(sl_table *t1, sl_table *t2, int n, int big, size_t big_len) {
    sl_batch *b = sl_batch_new();
    char *huge = NULL;
    if (big) {
        huge = malloc(big_len + 1);
        memset(huge, 'x', big_len);
        huge[big_len] = 0;
    }
    static const sl_op ops[] = {SL_OP_READ, SL_OP_CREATE, SL_OP_UPDATE, SL_OP_DELETE};
    for (int i = 0; i < n; i++) {
        sl_table *t = i % 7 < 4 ? t1 : t2;
        sl_record *r = sl_batch_add(b, t);
        r->op = ops[i % 4];
        r->ts_us = 1706696430123456LL + i / 50; /* runs of records that share their source block */
        r->snapshot = r->op == SL_OP_READ ? (i == 0 ? SL_SNAP_FIRST : SL_SNAP_TRUE) : SL_SNAP_NONE;
        r->pos.lsn = 1000 + (uint64_t)i / 3, r->pos.last_commit_lsn = 900, r->txid = 77 + (uint64_t)i / 10;
        char id[32], note[64];
        snprintf(id, sizeof id, "%d", i);
        snprintf(note, sizeof note, "note \"%d\"\n", i);
        sl_cell *row = sl_arena_alloc(&b->arena, 3 * sizeof *row);
        row[0] = cell(b, id);
        row[1] = big && i % big == 0 ? cell(b, huge) : cell(b, note);
        row[2] = cell(b, "2026-12-07 03:47:17.83789+00");
        if (r->op == SL_OP_DELETE) r->before = row;
        else r->after = row;
        if (r->op == SL_OP_UPDATE) r->before = row;
    }
    free(huge);
    return b;
}

/* The envelope's own processing time (the last ts_ms/ts_us/ts_ns) is set to 0. */
static char *masked(const char *p, size_t n) {
    char *s = malloc(n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    char *q = NULL;
    for (char *at = strstr(s, "\"op\":\""); at; at = strstr(at + 1, "\"op\":\"")) q = at;
    if (q && (q = strstr(q, ",\"ts_ms\":"))) strcpy(q, ",\"ts_ms\":0}");
    return s;
}

static void encode_kv(void *arg, const sl_dbz_opts *o, sl_benc_part *p, const sl_record *r) {
    (void)arg;
    sl_dbz_key(o, r, &p->out);
    sl_benc_piece_end(p);
    sl_dbz_value(o, r, &p->out);
    sl_benc_piece_end(p);
}

/* Every record's pieces from the parts equal the one-at-a-time encoding; returns how many were in parts. */
static int compare_batch(sl_benc *e, const sl_dbz_opts *o, sl_batch *b) {
    int in_parts = 0, differ = 0;
    bool started = sl_benc_start(e, o, b, 2, encode_kv, NULL);
    sl_buf k, v;
    sl_buf_init(&k), sl_buf_init(&v);
    for (int i = 0; i < b->n; i++) {
        size_t kn, vn;
        const char *kp = started ? sl_benc_piece(e, i, 0, &kn) : NULL;
        if (!kp) continue;
        const char *vp = sl_benc_piece(e, i, 1, &vn);
        in_parts++;
        sl_buf_reset(&k), sl_buf_reset(&v);
        sl_dbz_key(o, &b->recs[i], &k);
        sl_dbz_value(o, &b->recs[i], &v);
        char *a = masked(vp, vn), *want = masked(v.data, v.len);
        if (kn != k.len || memcmp(kp, k.data, kn) != 0 || strcmp(a, want) != 0) {
            if (!differ++) fprintf(stderr, "record %d differs:\n  %.*s %s\n  %.*s %s\n", i, (int)kn, kp, a,
                                   (int)k.len, k.data, want);
        }
        free(a), free(want);
    }
    sl_benc_end(e);
    sl_buf_free(&k), sl_buf_free(&v);
    CHECK(differ == 0);
    return in_parts;
}

static void test_benc(void) {
    sl_dbz_opts o = {.connector = "postgresql", .server_name = "srv", .version = "0.1.0"};
    sl_table *t1 = mk_table("t1"), *t2 = mk_table("t2");
    sl_benc e;
    sl_benc_init(&e, 3, "test-benc");
    /* too small to share out */
    sl_batch *small = mk_batch(t1, t2, 2 * SL_BENC_PART - 1, 0, 0);
    CHECK(!sl_benc_start(&e, &o, small, 2, encode_kv, NULL));
    size_t n;
    CHECK(sl_benc_piece(&e, 0, 0, &n) == NULL);
    sl_batch_destroy(small);
    /* schemas on and off: every record in a part, byte for byte as one at a time; the caches filled first */
    for (int schemas = 0; schemas < 2; schemas++) {
        o.key_schemas = o.value_schemas = schemas;
        sl_batch *b = mk_batch(t1, t2, 2000, 0, 0);
        CHECK(compare_batch(&e, &o, b) == 2000);
        if (schemas) CHECK(t1->enc_value_schema && t2->enc_value_schema && t1->enc_key_schema);
        sl_batch_destroy(b);
    }
    /* huge values: a part stops at its share and the caller gets NULL for the rest of it */
    o.key_schemas = o.value_schemas = false;
    sl_batch *b = mk_batch(t1, t2, 1024, 16, 1 << 20);
    int in_parts = compare_batch(&e, &o, b);
    CHECK(in_parts > 0 && in_parts < 1024);
    sl_batch_destroy(b);
    /* without helpers nothing is started */
    sl_benc one;
    sl_benc_init(&one, 1, "test-benc1");
    b = mk_batch(t1, t2, 2000, 0, 0);
    CHECK(!sl_benc_start(&one, &o, b, 2, encode_kv, NULL));
    sl_batch_destroy(b);
    sl_benc_free(&one);
    sl_benc_free(&e);
    sl_table_unref(t1), sl_table_unref(t2);
}

/* ---- the kept source block ---- */

typedef struct {
    const sl_dbz_opts *o;
    const sl_record *r;
    sl_buf out;
} fresh_job;

static void *fresh_main(void *a) {
    fresh_job *j = a;
    sl_dbz_value(j->o, j->r, &j->out);
    return NULL;
}

/* r's value from a new thread, which has kept no source block. */
static char *fresh(const sl_dbz_opts *o, const sl_record *r) {
    fresh_job j = {o, r, {0}};
    pthread_t th;
    pthread_create(&th, NULL, fresh_main, &j);
    pthread_join(th, NULL);
    char *s = masked(j.out.data, j.out.len);
    sl_buf_free(&j.out);
    return s;
}

static char *here(const sl_dbz_opts *o, const sl_record *r) {
    sl_buf b;
    sl_buf_init(&b);
    sl_dbz_value(o, r, &b);
    char *s = masked(b.data, b.len);
    sl_buf_free(&b);
    return s;
}

/* base is encoded here first, so that its block is kept; then r must come out as a fresh thread writes it. */
static void check_after(const sl_dbz_opts *o, const sl_record *base, const sl_record *r, const char *what) {
    free(here(o, base)); /* twice: a block is kept from the second record of a run on */
    free(here(o, base));
    char *got = here(o, r), *want = fresh(o, r);
    if (strcmp(got, want) != 0) fprintf(stderr, "source block after a change of %s:\n  %s\n  %s\n", what, got, want);
    CHECK(strcmp(got, want) == 0);
    free(got), free(want);
}

static void test_source_block(void) {
    sl_dbz_opts o = {.connector = "postgresql", .server_name = "srv", .version = "0.1.0"};
    sl_table *t = mk_table("t1"), *u = mk_table("t2");
    sl_batch *b = mk_batch(t, u, 4, 0, 0);
    sl_record base = b->recs[0];
    base.table = t;
    base.op = SL_OP_READ, base.after = base.after ? base.after : base.before, base.before = NULL;
    base.snapshot = SL_SNAP_TRUE;
    sl_record r = base;
    check_after(&o, &base, &r, "nothing");
    r = base, r.snapshot = SL_SNAP_LAST, check_after(&o, &base, &r, "snapshot");
    r = base, r.ts_us += 1, check_after(&o, &base, &r, "ts_us");
    r = base, r.pos.lsn += 1, check_after(&o, &base, &r, "lsn");
    r = base, r.pos.last_commit_lsn += 1, check_after(&o, &base, &r, "last_commit_lsn");
    r = base, r.txid += 1, check_after(&o, &base, &r, "txid");
    r = base, r.pos.origin = "up", r.pos.origin_lsn = 5, check_after(&o, &base, &r, "origin");
    r = base, r.table = u, check_after(&o, &base, &r, "table");
    r = base, r.ts_us = 0; /* "now": never kept */
    free(here(&o, &r));
    char *again = here(&o, &base);
    CHECK(strstr(again, "\"ts_us\":1706696430123456") != NULL);
    free(again);
    sl_dbz_opts o2 = o;
    o2.server_name = "other";
    free(here(&o, &base));
    char *got = here(&o2, &base), *want = fresh(&o2, &base);
    CHECK(strcmp(got, want) == 0 && strstr(got, "\"name\":\"other\""));
    free(got), free(want);
    /* the binlog block: row, file, position, gtid, thread, query, server id */
    sl_dbz_opts m = {.connector = "mysql", .dialect = SL_DBZ_MYSQL, .server_name = "srv", .version = "0.1.0"};
    base.pos = (sl_pos){.file = "bin.000001", .file_pos = 4, .event_pos = 120, .server_id = 1, .row = 0, .thread = 9};
    r = base, r.pos.row = 1, check_after(&m, &base, &r, "row");
    r = base, r.pos.file = "bin.000002", check_after(&m, &base, &r, "file");
    r = base, r.pos.event_pos = 121, check_after(&m, &base, &r, "event_pos");
    r = base, r.pos.gtid = "0-1-5", check_after(&m, &base, &r, "gtid");
    r = base, r.pos.thread = 10, check_after(&m, &base, &r, "thread");
    r = base, r.pos.query = "INSERT 1", check_after(&m, &base, &r, "query");
    r = base, r.pos.server_id = 2, check_after(&m, &base, &r, "server_id");
    sl_batch_destroy(b);
    sl_table_unref(t), sl_table_unref(u);
}

int main(void) {
    test_par();
    test_benc();
    test_source_block();
    TEST_END();
}
