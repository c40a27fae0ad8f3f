/*
 * The delivery contract, end to end inside the runtime, with a scripted
 * source and a recording sink: offsets are stored only after the sink has
 * flushed the batches before them; a sink failure stores nothing past the
 * last flush; a source that asks for a retry is reopened and resumes from the
 * newest offset it had emitted.
 */
#include "runtime/connector.h"
#include "core/log.h"
#include "state/offsets.h"
#include "test.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- scripted source ---- */
typedef struct tsrc_conf {
    int64_t batches;     /* batches to emit; every odd one carries an offset */
    int64_t retry_after; /* return SL_RETRY once after this many batches (0: never) */
    bool wait_commit;    /* wait until each offset is committed before the next batch */
    int64_t delay_ms;    /* pause between batches */
} tsrc_conf;

static int opens, closes;
static char resume_seen[256];
static _Atomic int retried, emitted;
static sl_ctx *src_ctx; /* the newest test source's context */

typedef struct tsrc {
    tsrc_conf *cf;
    sl_ctx *ctx;
    int next;
} tsrc;

static const sl_prop tsrc_props[] = {
    {"test.batches", SL_PT_INT, "4", NULL, 0, 1000, 0, offsetof(tsrc_conf, batches), "batches"},
    {"test.retry.after", SL_PT_INT, "0", NULL, 0, 1000, 0, offsetof(tsrc_conf, retry_after), "retry"},
    {"test.wait.commit", SL_PT_BOOL, "false", NULL, 0, 0, 0, offsetof(tsrc_conf, wait_commit), "wait"},
    {"test.delay.ms", SL_PT_INT, "0", NULL, 0, 1000, 0, offsetof(tsrc_conf, delay_ms), "delay"},
    {NULL}};

static int tsrc_open(void **out, void *settings, sl_ctx *ctx, char *err, size_t errsz) {
    tsrc *s = sl_calloc(1, sizeof *s);
    s->cf = settings;
    s->ctx = src_ctx = ctx;
    sl_ctx_set_partition(ctx, "{\"server\":\"t\"}");
    const char *resume = sl_ctx_stored_offset(ctx);
    snprintf(resume_seen, sizeof resume_seen, "%s", resume ? resume : "");
    if (resume) s->next = atoi(strchr(resume, ':') + 1) + 1; /* {"n":K} -> continue after K */
    opens++;
    *out = s;
    return 0;
}

static int tsrc_run(void *p) {
    tsrc *s = p;
    static sl_table *t;
    if (!t) {
        t = sl_table_new("db", "sch", "tbl", 1);
        t->cols[0].name = sl_strdup("id");
        t->cols[0].type = SL_T_INT32;
        t->cols[0].key = true;
        t->nkeys = 1;
        t->topic = sl_strdup("t.sch.tbl");
    }
    for (; s->next < s->cf->batches && !sl_ctx_stopping(s->ctx); s->next++) {
        if (s->cf->retry_after && s->next == s->cf->retry_after && !atomic_exchange(&retried, 1)) {
            sl_ctx_retry(s->ctx, "scripted connection loss");
            return SL_RETRY;
        }
        sl_batch *b = sl_batch_new();
        sl_record *r = sl_batch_add(b, t);
        r->op = SL_OP_CREATE;
        r->ts_us = sl_wall_us();
        r->after = sl_arena_alloc(&b->arena, sizeof(sl_cell));
        char *v = sl_arena_strndup(&b->arena, "7", 1);
        r->after[0] = (sl_cell){v, 1, 0};
        if (s->next % 2 == 1) {
            char off[64];
            snprintf(off, sizeof off, "{\"n\":%d}", s->next);
            sl_batch_set_offset(b, off, (uint64_t)s->next);
        }
        if (sl_ctx_emit(s->ctx, b) < 0) return 0;
        atomic_fetch_add(&emitted, 1);
        if (s->cf->delay_ms) sl_sleep_ms(s->cf->delay_ms, NULL);
        if (s->cf->wait_commit && s->next % 2 == 1)
            for (int i = 0; i < 200 && sl_ctx_committed_seq(s->ctx) < (uint64_t)s->next; i++) sl_sleep_ms(10, NULL);
    }
    while (!sl_ctx_stopping(s->ctx)) sl_sleep_ms(10, NULL);
    return 0;
}

static void tsrc_close(void *p) {
    if (p) closes++;
    sl_free(p);
}

static const sl_source_ops tsrc_ops = {"test-source", NULL, "scripted", tsrc_props, sizeof(tsrc_conf), NULL,
                                       tsrc_open, tsrc_run, tsrc_close};

/* ---- recording sink ---- */
typedef struct tsink_conf {
    int64_t fail_at; /* fail the write of the Nth record (1-based, 0: never) */
    int64_t hold;    /* the first write waits until the source has emitted this many batches (0: no wait) */
} tsink_conf;

static _Atomic int written, flushes, held;
static const sl_prop tsink_props[] = {
    {"test.fail.at", SL_PT_INT, "0", NULL, 0, 1000, 0, offsetof(tsink_conf, fail_at), "fail"},
    {"test.hold", SL_PT_INT, "0", NULL, 0, 100000, 0, offsetof(tsink_conf, hold), "hold"},
    {NULL}};

static int tsink_open(void **out, void *settings, sl_ctx *ctx, char *err, size_t errsz) {
    *out = settings;
    return 0;
}

static int tsink_write(void *p, sl_batch *b, char *err, size_t errsz) {
    tsink_conf *cf = p;
    /* Bounded: a source that cannot emit them all (a queue too small) fails the test instead of hanging it. */
    if (cf->hold && !atomic_exchange(&held, 1))
        for (int i = 0; i < 1000 && atomic_load(&emitted) < cf->hold; i++) sl_sleep_ms(10, NULL);
    for (int i = 0; i < b->n; i++) {
        if (cf->fail_at && atomic_load(&written) + 1 == cf->fail_at) {
            snprintf(err, errsz, "boom");
            return -1;
        }
        atomic_fetch_add(&written, 1);
    }
    return 0;
}

static int tsink_flush(void *p, char *err, size_t errsz) {
    atomic_fetch_add(&flushes, 1);
    return 0;
}

static void tsink_close(void *p) {}

static const sl_sink_ops tsink_ops = {"test-sink", NULL, "records", tsink_props, sizeof(tsink_conf), NULL,
                                      tsink_open, tsink_write, tsink_flush, tsink_close};

/* ---- pipelined sink (mark/acked): acks what the test releases, or fails once a ticket is reached ---- */
static _Atomic uint64_t p_marked, p_release, p_fail_at, p_reported;
static uint64_t p_seq_upto[1024]; /* the newest offset seq written up to each ticket */
static uint64_t p_newest_seq;

static int psink_write(void *p, sl_batch *b, char *err, size_t errsz) {
    atomic_fetch_add(&written, b->n);
    if (b->offset && b->offset_seq > p_newest_seq) p_newest_seq = b->offset_seq;
    return 0;
}

static uint64_t psink_mark(void *p) {
    uint64_t t = atomic_fetch_add(&p_marked, 1) + 1;
    if (t < 1024) p_seq_upto[t] = p_newest_seq;
    return t;
}

static int psink_acked(void *p, int wait_ms, uint64_t *ticket, char *err, size_t errsz) {
    uint64_t fail = atomic_load(&p_fail_at);
    if (fail && atomic_load(&p_marked) >= fail) {
        snprintf(err, errsz, "delivery failed");
        return -1;
    }
    uint64_t m = atomic_load(&p_marked), r = atomic_load(&p_release);
    *ticket = m < r ? m : r;
    atomic_store(&p_reported, *ticket);
    return 0;
}

static const sl_sink_ops psink_ops = {"test-pipe-sink", NULL, "acks when released", tsink_props, sizeof(tsink_conf), NULL, tsink_open,
                                      psink_write, tsink_flush, tsink_close, .mark = psink_mark,
                                      .acked = psink_acked};

/* ---- helpers ---- */
static char dbpath[64];

static int run_connector(const char *extra, char *err, size_t errsz) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"name\":\"rt\",\"config\":{\"connector.class\":\"test-source\",\"sink.type\":\"test-sink\","
             "\"offset.storage.file.filename\":\"%s\",\"offset.flush.interval.ms\":\"0\","
             "\"retriable.restart.connector.wait.ms\":\"0\"%s}}",
             dbpath, extra);
    sl_config *cfg = sl_config_parse_json(json, "t", err, errsz);
    sl_errs errs = {0};
    sl_connector *c = sl_connector_new(cfg, &errs);
    CHECK(c != NULL && errs.n == 0);
    if (!c) return -9;
    CHECK(sl_connector_start(c, err, errsz) == 0);
    sl_sleep_ms(300, NULL);
    sl_connector_stop(c);
    int rc = sl_connector_wait(c, err, errsz);
    sl_connector_destroy(c);
    sl_config_destroy(cfg);
    sl_errs_free(&errs);
    return rc;
}

static char *stored(void) {
    char err[256], *off = NULL;
    sl_offsets *s = sl_offsets_open(dbpath, err, sizeof err);
    sl_offsets_get(s, "rt", "{\"server\":\"t\"}", &off, err, sizeof err);
    sl_offsets_close(s);
    return off;
}

static void reset(void) {
    char p[80];
    unlink(dbpath);
    snprintf(p, sizeof p, "%s-wal", dbpath), unlink(p);
    snprintf(p, sizeof p, "%s-shm", dbpath), unlink(p);
    atomic_store(&written, 0), atomic_store(&flushes, 0), atomic_store(&retried, 0);
    atomic_store(&emitted, 0), atomic_store(&held, 0);
    opens = closes = 0;
}

/* Pause closes the source and stops reading; resume reopens it where it stopped; metrics follow. */
static void test_pause_resume(void) {
    char err[512], json[1024];
    snprintf(json, sizeof json,
             "{\"name\":\"rt\",\"config\":{\"connector.class\":\"test-source\",\"sink.type\":\"test-sink\","
             "\"offset.storage.file.filename\":\"%s\",\"offset.flush.interval.ms\":\"0\","
             "\"test.batches\":\"1000\",\"test.delay.ms\":\"5\"}}",
             dbpath);
    sl_config *cfg = sl_config_parse_json(json, "t", err, sizeof err);
    sl_errs errs = {0};
    sl_connector *c = sl_connector_new(cfg, &errs);
    CHECK(c && sl_connector_start(c, err, sizeof err) == 0);
    sl_sleep_ms(200, NULL);
    sl_connector_pause(c);
    CHECK(sl_connector_paused(c));
    for (int i = 0; i < 100 && closes == 0; i++) sl_sleep_ms(10, NULL);
    CHECK(closes == 1 && opens == 1); /* the source let go of its connection */
    sl_connector_metrics m1, m2;
    sl_connector_get_metrics(c, &m1);
    sl_sleep_ms(200, NULL);
    sl_connector_get_metrics(c, &m2);
    CHECK(m1.records_read > 0 && m2.records_read == m1.records_read); /* nothing read while paused */
    CHECK(m2.paused && m2.running && !m2.failed);
    sl_connector_resume(c);
    for (int i = 0; i < 100 && opens < 2; i++) sl_sleep_ms(10, NULL);
    CHECK(opens == 2);
    sl_sleep_ms(200, NULL);
    sl_connector_get_metrics(c, &m2);
    CHECK(m2.records_read > m1.records_read && !m2.paused);
    CHECK(resume_seen[0] != 0); /* reopened at the newest offset it had emitted */
    sl_connector_stop(c);
    CHECK(sl_connector_wait(c, err, sizeof err) == 0);
    sl_connector_get_metrics(c, &m2);
    CHECK(m2.records_written == (uint64_t)atomic_load(&written));
    CHECK(m2.latency_count == m2.records_written);
    CHECK(m2.latency_buckets[SL_LATENCY_BUCKETS - 1] == m2.latency_count); /* cumulative, +Inf holds all */
    for (int k = 1; k < SL_LATENCY_BUCKETS; k++) CHECK(m2.latency_buckets[k] >= m2.latency_buckets[k - 1]);
    CHECK(m2.batch_size_count == m2.batches_written && m2.batch_size_sum == m2.records_written);
    CHECK(m2.queue_max_records == 8192 && strstr(m2.offset, "\"n\":") != NULL);
    CHECK(m2.bytes_read > 0 && m2.lag_records == -1);
    sl_connector_destroy(c);
    sl_config_destroy(cfg);
    sl_errs_free(&errs);
}

static sl_connector *start_pipelined(sl_config **cfg, char *err, size_t errsz) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"name\":\"rt\",\"config\":{\"connector.class\":\"test-source\",\"sink.type\":\"test-pipe-sink\","
             "\"offset.storage.file.filename\":\"%s\",\"offset.flush.interval.ms\":\"0\","
             "\"test.batches\":\"40\",\"test.delay.ms\":\"2\"}}",
             dbpath);
    *cfg = sl_config_parse_json(json, "t", err, errsz);
    sl_errs errs = {0};
    sl_connector *c = sl_connector_new(*cfg, &errs);
    sl_errs_free(&errs);
    CHECK(c && sl_connector_start(c, err, errsz) == 0);
    return c;
}

/* A pipelined sink: runs follow each other without a flush, and an offset is stored only once the ticket of
 * the run that carried it is acked; a failed delivery stores what was acked before it and nothing after. */
static void test_pipelined(void) {
    char err[512], *off;
    atomic_store(&p_marked, 0), atomic_store(&p_release, 0), atomic_store(&p_fail_at, 0);
    p_newest_seq = 0;
    sl_config *cfg;
    sl_connector *c = start_pipelined(&cfg, err, sizeof err);
    for (int i = 0; i < 300 && atomic_load(&written) < 40; i++) sl_sleep_ms(10, NULL);
    CHECK(atomic_load(&written) == 40 && atomic_load(&p_marked) >= 2);
    sl_sleep_ms(50, NULL);
    CHECK((off = stored()) == NULL); /* written, none acked: nothing stored */
    sl_free(off);
    CHECK(atomic_load(&flushes) == 0);
    CHECK(sl_ctx_unconfirmed_records(src_ctx) == 40); /* taken by the sink, none acked (what paces chunks) */
    uint64_t half = atomic_load(&p_marked) / 2;
    atomic_store(&p_release, half);
    off = NULL;
    char want[64];
    snprintf(want, sizeof want, "{\"n\":%llu}", (unsigned long long)p_seq_upto[half]);
    for (int i = 0; i < 200; i++, sl_sleep_ms(10, NULL)) {
        sl_free(off);
        if ((off = stored()) && !strcmp(off, want)) break;
    }
    CHECK_STR(off, want); /* the newest offset of the acked runs, not of the ones after them */
    sl_free(off);
    atomic_store(&p_release, UINT64_MAX);
    for (int i = 0; i < 200; i++, sl_sleep_ms(10, NULL)) {
        if ((off = stored()) && !strcmp(off, "{\"n\":39}")) break;
        sl_free(off);
        off = NULL;
    }
    CHECK_STR(off, "{\"n\":39}"); /* stored by the acks, before any stop */
    sl_free(off);
    CHECK(sl_ctx_unconfirmed_records(src_ctx) == 0);
    CHECK(atomic_load(&flushes) == 0);
    sl_connector_stop(c);
    CHECK(sl_connector_wait(c, err, sizeof err) == 0);
    sl_connector_destroy(c);
    sl_config_destroy(cfg);

    /* The sink reports a failed delivery once 6 tickets are out: the connector fails, and the stored offset is
     * the newest one the last successful acked() covered. */
    reset();
    atomic_store(&p_marked, 0), atomic_store(&p_release, UINT64_MAX), atomic_store(&p_fail_at, 6);
    atomic_store(&p_reported, 0);
    p_newest_seq = 0;
    c = start_pipelined(&cfg, err, sizeof err);
    sl_sleep_ms(500, NULL);
    sl_connector_stop(c);
    CHECK(sl_connector_wait(c, err, sizeof err) == -1);
    CHECK(strstr(err, "sink test-pipe-sink: delivery failed") != NULL);
    uint64_t acked = atomic_load(&p_reported);
    CHECK(acked >= 1 && acked < 6);
    off = stored();
    snprintf(want, sizeof want, "{\"n\":%llu}", (unsigned long long)p_seq_upto[acked]);
    if (p_seq_upto[acked]) CHECK_STR(off, want);
    else CHECK(off == NULL);
    sl_free(off);
    sl_connector_destroy(c);
    sl_config_destroy(cfg);
    atomic_store(&p_fail_at, 0);
}

int main(void) {
    sl_log_set_level(SL_LOG_ERROR);
    snprintf(dbpath, sizeof dbpath, "/tmp/sl_rt_%d.db", (int)getpid());
    CHECK(sl_plugin_add_source(&tsrc_ops) == 0);
    CHECK(sl_plugin_add_sink(&tsink_ops) == 0);
    CHECK(sl_plugin_add_sink(&psink_ops) == 0);
    char err[512];

    /* Clean run: every batch written and flushed, the newest offset stored. */
    reset();
    CHECK(run_connector(",\"test.batches\":\"6\"", err, sizeof err) == 0);
    CHECK(atomic_load(&written) == 6);
    CHECK(atomic_load(&flushes) >= 1);
    char *off = stored();
    CHECK_STR(off, "{\"n\":5}");
    sl_free(off);

    /* The sink fails on record 3: offset 1 (flushed before) is stored, nothing after it. */
    reset();
    CHECK(run_connector(",\"test.batches\":\"6\",\"test.wait.commit\":\"true\",\"test.fail.at\":\"3\"", err,
                        sizeof err) == -1);
    CHECK(strstr(err, "sink test-sink: boom") != NULL);
    off = stored();
    CHECK_STR(off, "{\"n\":1}");
    sl_free(off);

    /* A retry reopens the source, which resumes after the newest offset it emitted. */
    reset();
    CHECK(run_connector(",\"test.batches\":\"6\",\"test.retry.after\":\"4\"", err, sizeof err) == 0);
    CHECK(opens == 2);
    CHECK_STR(resume_seen, "{\"n\":3}");
    CHECK(atomic_load(&written) == 6); /* 0..3 before the retry, 4..5 after: none twice */
    off = stored();
    CHECK_STR(off, "{\"n\":5}");
    sl_free(off);

    /* errors.max.retries=0: the retry is refused and the connector fails with the reason. */
    reset();
    CHECK(run_connector(",\"test.batches\":\"6\",\"test.retry.after\":\"2\",\"errors.max.retries\":\"0\"", err,
                        sizeof err) == -1);
    CHECK(strstr(err, "scripted connection loss") && strstr(err, "errors.max.retries"));
    /* A source that hands on one record at a time (PostgreSQL while its socket is momentarily idle) still gets
     * one flush for a queue full of them: the sink's first write waits until all 301 batches are emitted, and
     * its run goes on to take them all (at least 64 batches and max.batch.size records), not 64 at a time. */
    reset();
    CHECK(run_connector(",\"test.batches\":\"301\",\"test.hold\":\"301\",\"max.queue.size.in.bytes\":\"0\"", err,
                        sizeof err) == 0);
    CHECK(atomic_load(&emitted) == 301 && atomic_load(&written) == 301);
    CHECK(atomic_load(&flushes) == 1);
    off = stored();
    CHECK_STR(off, "{\"n\":299}");
    sl_free(off);

    reset();
    test_pause_resume();
    reset();
    test_pipelined();
    reset();
    TEST_END();
}
