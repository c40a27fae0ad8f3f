/*
 * Fault tests of the Kafka sink through the real connector runtime, against
 * librdkafka's in-process mock cluster (rdkafka_mock.h, librdkafka 2.0.2).
 *
 * A fake source ("test-kafka-source") emits N create events of one table
 * (int key `id` = 0..N-1, a text column `v` of test.pad bytes) in batches,
 * each batch carrying the offset {"n":<last id in the batch>} with
 * offset_seq = <records emitted so far>. It can pause at a record index
 * (optionally after everything before it is committed) until the test
 * thread opens a gate: that is where faults are injected "mid-stream".
 *
 * Every scenario gets a fresh 3-broker mock cluster on a dedicated
 * rd_kafka_t handle; its topics are pre-created with
 * rd_kafka_mock_topic_create (the 2.0.2 mock does not answer CreateTopics,
 * so topic.creation.enable=false) and every partition's leader is broker 1.
 * A consumer on the mock then checks that each id arrived (exactly once
 * where the idempotent producer promises it, with the right value), and
 * that the stored offset never claims a record that is not in the topic:
 * stored n < length of the gap-free prefix of delivered ids.
 *
 * Scenarios: 1 baseline, 2 leader down ~2 s then up, 3 retriable Produce
 * errors, 4a delivery timeout with the leader kept down, 4b a non-retriable
 * Produce error, 5a/5b slow broker (500 ms RTT) with a small byte-bounded
 * queue and sluice's allocator peak, 6 exactly-once (transactions on the
 * mock, offsets in offset.storage.topic), 7 and 8 the runtime's cut of
 * exactly-once transactions (a recording transactional sink).
 *
 * No timing assertions: every wait is bounded and turns into a failed CHECK
 * (or, for a connector that cannot even be stopped, an exit) instead of a
 * hang. SL_TEST_LOG=warn|info|debug shows sluice's and librdkafka's logs.
 */
#include "runtime/connector.h"
#include "core/log.h"
#include "state/offsets.h"
#include "test.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* ApiKey of Produce (RD_KAFKAP_Produce lives in rdkafka_protocol.h, which is not installed). */
#define API_PRODUCE 0
#define PARTITIONS 4
#define LEADER 1
#define PARTITION_JSON "{\"server\":\"t\"}"

/* ---- fake source ---- */
typedef struct ksrc_conf {
    int64_t records, batch, pad, pause_at, offset_every, tail;
    bool pause_committed;
    char *topic;
} ksrc_conf;

#define F(x) offsetof(ksrc_conf, x)
static const sl_prop ksrc_props[] = {
    {"test.records", SL_PT_INT, "1000", NULL, 1, 10000000, 0, F(records), "records to emit"},
    {"test.batch.records", SL_PT_INT, "500", NULL, 1, 1000000, 0, F(batch), "records per batch"},
    {"test.pad", SL_PT_INT, "16", NULL, 0, 100000, 0, F(pad), "bytes of column v"},
    {"test.pause.at", SL_PT_INT, "0", NULL, 0, 10000000, 0, F(pause_at), "pause before this id (0: never)"},
    {"test.pause.committed", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(pause_committed),
     "before pausing, wait until everything before the pause is committed"},
    {"test.topic", SL_PT_STRING, "mk.sch.tbl", NULL, 0, 0, 0, F(topic), "topic of the table"},
    {"test.offset.every", SL_PT_INT, "1", NULL, 1, 1000, 0, F(offset_every),
     "only every Nth batch carries an offset (a source transaction spanning batches)"},
    {"test.tail.records", SL_PT_INT, "0", NULL, 0, 1000000, 0, F(tail),
     "a batch's offset covers all but its last N records (the next transaction begins in its tail)"},
    {NULL}};
#undef F

static _Atomic int g_paused, g_gate;
static _Atomic int64_t g_emitted;

typedef struct ksrc {
    ksrc_conf *cf;
    sl_ctx *ctx;
    sl_table *t;
    int64_t next, nbatch;
    bool paused;
    char *pad;
} ksrc;

static int ksrc_open(void **out, void *settings, sl_ctx *ctx, char *err, size_t errsz) {
    ksrc *s = sl_calloc(1, sizeof *s);
    s->cf = settings;
    s->ctx = ctx;
    sl_table *t = sl_table_new("db", "sch", "tbl", 2);
    t->cols[0] = (sl_column){.name = sl_strdup("id"), .type = SL_T_INT32, .src_type = 23, .typmod = -1,
                             .precision = -1, .scale = -1, .length = -1, .type_name = sl_strdup("int4"), .key = true};
    t->cols[1] = (sl_column){.name = sl_strdup("v"), .type = SL_T_STRING, .src_type = 25, .typmod = -1,
                             .precision = -1, .scale = -1, .length = -1, .type_name = sl_strdup("text"),
                             .optional = true};
    t->nkeys = 1;
    t->replident = 'd';
    t->topic = sl_strdup(s->cf->topic);
    s->t = t;
    s->pad = sl_malloc((size_t)s->cf->pad + 1);
    memset(s->pad, 'x', (size_t)s->cf->pad);
    sl_dbz_opts *o = sl_ctx_dbz(ctx);
    o->connector = "postgresql";
    o->server_name = "mk";
    sl_ctx_set_partition(ctx, PARTITION_JSON);
    const char *resume = sl_ctx_stored_offset(ctx);
    if (resume && strchr(resume, ':')) s->next = atoll(strchr(resume, ':') + 1) + 1;
    *out = s;
    return 0;
}

static int ksrc_run(void *p) {
    ksrc *s = p;
    const ksrc_conf *cf = s->cf;
    while (s->next < cf->records && !sl_ctx_stopping(s->ctx)) {
        if (cf->pause_at && s->next == cf->pause_at && !s->paused) {
            s->paused = true;
            for (int i = 0; cf->pause_committed && i < 6000 && !sl_ctx_stopping(s->ctx) &&
                            sl_ctx_committed_seq(s->ctx) < (uint64_t)cf->pause_at;
                 i++)
                sl_sleep_ms(10, NULL);
            atomic_store(&g_paused, 1);
            while (!atomic_load(&g_gate) && !sl_ctx_stopping(s->ctx)) sl_sleep_ms(5, NULL);
            continue;
        }
        int64_t end = s->next + cf->batch < cf->records ? s->next + cf->batch : cf->records;
        if (cf->pause_at > s->next && cf->pause_at < end) end = cf->pause_at;
        sl_batch *b = sl_batch_new();
        bool last = end == cf->records;
        for (int64_t id = s->next; id < end; id++) {
            if (cf->tail && !last && id == end - cf->tail) { /* the records before id are covered */
                char off[64];
                snprintf(off, sizeof off, "{\"n\":%lld}", (long long)id - 1);
                sl_batch_set_offset(b, off, (uint64_t)id);
            }
            sl_record *r = sl_batch_add(b, s->t);
            r->op = SL_OP_CREATE;
            r->ts_us = sl_wall_us();
            r->pos.lsn = r->pos.commit_lsn = (uint64_t)id + 1;
            r->after = sl_arena_alloc(&b->arena, 2 * sizeof(sl_cell));
            char num[24];
            int nl = snprintf(num, sizeof num, "%lld", (long long)id);
            r->after[0] = (sl_cell){sl_arena_strndup(&b->arena, num, (size_t)nl), (uint32_t)nl, 0};
            r->after[1] = (sl_cell){sl_arena_strndup(&b->arena, s->pad, (size_t)cf->pad), (uint32_t)cf->pad, 0};
        }
        s->nbatch++;
        if ((!cf->tail && s->nbatch % cf->offset_every == 0) || last) {
            char off[64];
            snprintf(off, sizeof off, "{\"n\":%lld}", (long long)end - 1);
            sl_batch_set_offset(b, off, (uint64_t)end);
        }
        if (sl_ctx_emit(s->ctx, b) < 0) return 0; /* stopping: the batch was destroyed */
        s->next = end;
        atomic_store(&g_emitted, end);
    }
    return 0; /* everything emitted: a clean stop, the runtime drains the queue */
}

static void ksrc_close(void *p) {
    ksrc *s = p;
    if (!s) return;
    sl_table_unref(s->t);
    sl_free(s->pad);
    sl_free(s);
}

static const sl_source_ops ksrc_ops = {"test-kafka-source", NULL, "N records of one table", ksrc_props,
                                       sizeof(ksrc_conf), NULL, ksrc_open, ksrc_run, ksrc_close};

/* ---- mock cluster ---- */
typedef struct mock {
    rd_kafka_t *rk; /* the dedicated handle the cluster lives on */
    rd_kafka_mock_cluster_t *mc;
    char bootstrap[256];
} mock;

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {}

static bool mock_up(mock *m) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log); /* "no bootstrap.servers": it only hosts the cluster */
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!m->rk) {
        fprintf(stderr, "mock handle: %s\n", err);
        return false;
    }
    m->mc = rd_kafka_mock_cluster_new(m->rk, 3);
    if (!m->mc) return false;
    snprintf(m->bootstrap, sizeof m->bootstrap, "%s", rd_kafka_mock_cluster_bootstraps(m->mc));
    return true;
}

static bool mock_topic(mock *m, const char *topic, int partitions) {
    if (rd_kafka_mock_topic_create(m->mc, topic, partitions, 3)) return false;
    for (int p = 0; p < partitions; p++)
        if (rd_kafka_mock_partition_set_leader(m->mc, topic, p, LEADER)) return false;
    return true;
}

static void mock_down(mock *m) {
    if (m->mc) rd_kafka_mock_cluster_destroy(m->mc);
    if (m->rk) rd_kafka_destroy(m->rk);
    m->mc = NULL, m->rk = NULL;
}

/* ---- verification ---- */
typedef struct tally {
    int64_t n;          /* ids expected: 0..n-1 */
    uint16_t *count;    /* per id */
    int64_t total;      /* messages read */
    int64_t bad;        /* unparsable, out of range, or value not matching the key */
    int64_t missing, dups;
    int64_t first_dup;  /* smallest id read more than once, -1 if none */
    int64_t prefix;     /* ids 0..prefix-1 all present */
    bool complete;      /* every partition read to its end */
} tally;

static int64_t json_id(json_t *j) { return json_is_integer(j) ? (int64_t)json_integer_value(j) : -1; }

/* Reads `topic` from the beginning to its end. */
static void consume(const char *bootstrap, const char *topic, int partitions, const char *isolation,
                    void (*on_msg)(const rd_kafka_message_t *, void *), void *arg, bool *complete) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "mock-verify", err, sizeof err); /* assign() only: never joins */
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "20", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_conf_set(conf, "isolation.level", isolation, err, sizeof err);
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    *complete = false;
    if (!c) {
        fprintf(stderr, "verify consumer: %s\n", err);
        return;
    }
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(tp, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, tp);
    rd_kafka_topic_partition_list_destroy(tp);
    bool eof[64] = {0};
    int neof = 0, nerr = 0;
    int64_t deadline = sl_mono_ms() + 30000;
    while (neof < partitions && sl_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < 64 && !eof[m->partition]) eof[m->partition] = true, neof++;
        } else if (m->err) {
            if (nerr++ < 3) fprintf(stderr, "verify consumer %s: %s\n", topic, rd_kafka_message_errstr(m));
        } else {
            on_msg(m, arg);
        }
        rd_kafka_message_destroy(m);
    }
    *complete = neof == partitions;
    if (!*complete) fprintf(stderr, "verify consumer: %s not read to its end within 30 s\n", topic);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

static void tally_msg(const rd_kafka_message_t *m, void *arg) {
    tally *t = arg;
    t->total++;
    json_t *k = m->key ? json_loadb(m->key, m->key_len, 0, NULL) : NULL;
    json_t *v = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
    int64_t id = json_id(json_object_get(k, "id"));
    int64_t vid = json_id(json_object_get(json_object_get(v, "after"), "id"));
    const char *op = json_string_value(json_object_get(v, "op"));
    if (id < 0 || id >= t->n || vid != id || !op || strcmp(op, "c") != 0) {
        if (t->bad++ < 3)
            fprintf(stderr, "unexpected record: key=%.*s value=%.80s\n", (int)m->key_len, (const char *)m->key,
                    m->payload ? (const char *)m->payload : "(null)");
    } else if (t->count[id] < UINT16_MAX) {
        t->count[id]++;
    }
    json_decref(k);
    json_decref(v);
}

static tally verify_topic(const char *bootstrap, const char *topic, int64_t n, const char *isolation) {
    tally t = {.n = n, .count = calloc((size_t)n, sizeof(uint16_t))};
    consume(bootstrap, topic, PARTITIONS, isolation, tally_msg, &t, &t.complete);
    t.prefix = -1;
    t.first_dup = -1;
    for (int64_t i = 0; i < n; i++) {
        if (!t.count[i]) {
            t.missing++;
            if (t.prefix < 0) t.prefix = i;
        }
        if (t.count[i] > 1 && t.dups++ == 0) t.first_dup = i;
    }
    if (t.prefix < 0) t.prefix = n;
    free(t.count);
    t.count = NULL;
    return t;
}

static void print_tally(const char *what, const tally *t) {
    printf("  %s: read=%lld missing=%lld dups=%lld bad=%lld prefix=%lld%s\n", what, (long long)t->total,
           (long long)t->missing, (long long)t->dups, (long long)t->bad, (long long)t->prefix,
           t->complete ? "" : " (incomplete read)");
}

/* The n of the stored offset {"n":K}, -1 when none is stored. */
static int64_t stored_n_sqlite(const char *db, const char *name) {
    char err[512], *off = NULL;
    sl_offsets *s = sl_offsets_open(db, err, sizeof err);
    if (!s) return -2;
    if (sl_offsets_get(s, name, PARTITION_JSON, &off, err, sizeof err) < 0) off = NULL;
    sl_offsets_close(s);
    int64_t n = off && strchr(off, ':') ? atoll(strchr(off, ':') + 1) : -1;
    sl_free(off);
    return n;
}

/* ---- running a connector ---- */
typedef struct run {
    char name[32], topic[64], db[96];
    sl_config *cfg;
    sl_connector *c;
    int rc;
    int64_t t0;
    char err[1024];
} run;

static void rm_db(const char *db) {
    char p[128];
    unlink(db);
    snprintf(p, sizeof p, "%s-wal", db), unlink(p);
    snprintf(p, sizeof p, "%s-shm", db), unlink(p);
}

static const char *g_sink_type = "kafka";

static bool start(run *r, const char *name, const mock *m, const char *extra) {
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->topic, sizeof r->topic, "%s.sch.tbl", name);
    snprintf(r->db, sizeof r->db, "/tmp/sl_kmock_%d_%s.db", (int)getpid(), name);
    rm_db(r->db);
    atomic_store(&g_paused, 0), atomic_store(&g_gate, 0), atomic_store(&g_emitted, 0);
    const char *lvl = getenv("SL_TEST_LOG");
    char json[4096];
    snprintf(json, sizeof json,
             "{\"name\":\"%s\",\"config\":{\"connector.class\":\"test-kafka-source\",\"sink.type\":\"%s\","
             "\"bootstrap.servers\":\"%s\",\"topic.creation.enable\":\"false\",\"test.topic\":\"%s\","
             "\"offset.storage.file.filename\":\"%s\",\"offset.flush.interval.ms\":\"0\","
             "\"key.converter.schemas.enable\":\"false\",\"value.converter.schemas.enable\":\"false\","
             "\"log.level\":\"%s\"%s}}",
             name, g_sink_type, m->bootstrap, r->topic, r->db, lvl ? lvl : "error", extra);
    r->err[0] = 0;
    r->rc = -9;
    r->cfg = sl_config_parse_json(json, "test", r->err, sizeof r->err);
    CHECK(r->cfg != NULL);
    if (!r->cfg) return false;
    sl_errs errs = {0};
    r->c = sl_connector_new(r->cfg, &errs);
    for (int i = 0; i < errs.n; i++) fprintf(stderr, "config: %s\n", errs.msg[i]);
    CHECK(r->c != NULL && errs.n == 0);
    sl_errs_free(&errs);
    if (!r->c) {
        sl_config_destroy(r->cfg);
        r->cfg = NULL;
        return false;
    }
    r->t0 = sl_mono_ms();
    int rc = sl_connector_start(r->c, r->err, sizeof r->err);
    CHECK(rc == 0);
    if (rc < 0) {
        fprintf(stderr, "start %s: %s\n", name, r->err);
        sl_connector_destroy(r->c);
        sl_config_destroy(r->cfg);
        r->c = NULL, r->cfg = NULL;
    }
    return rc == 0;
}

static bool wait_flag(_Atomic int *flag, int timeout_ms) {
    int64_t deadline = sl_mono_ms() + timeout_ms;
    while (!atomic_load(flag) && sl_mono_ms() < deadline) sl_sleep_ms(5, NULL);
    return atomic_load(flag) != 0;
}

/* Waits for the connector to finish by itself (bounded), then joins and destroys it. */
static int finish(run *r, int timeout_s) {
    int64_t deadline = sl_mono_ms() + (int64_t)timeout_s * 1000;
    while (sl_connector_running(r->c) && sl_mono_ms() < deadline) sl_sleep_ms(20, NULL);
    bool finished = !sl_connector_running(r->c);
    if (!finished) {
        fprintf(stderr, "%s: connector still running after %d s (stuck?): stopping it\n", r->name, timeout_s);
        sl_connector_stop(r->c);
        atomic_store(&g_gate, 1);
        /* Once stopping, the sink's flush gives up on unacknowledged records after 30 s: allow that, no more. */
        deadline = sl_mono_ms() + 45000;
        while (sl_connector_running(r->c) && sl_mono_ms() < deadline) sl_sleep_ms(20, NULL);
        if (sl_connector_running(r->c)) {
            fprintf(stderr, "%s: connector cannot be stopped (deadlock): giving up\n", r->name);
            fflush(NULL);
            _exit(3);
        }
    }
    CHECK(finished);
    r->rc = sl_connector_wait(r->c, r->err, sizeof r->err);
    sl_connector_destroy(r->c);
    sl_config_destroy(r->cfg);
    r->c = NULL, r->cfg = NULL;
    printf("  connector: rc=%d, done %.1f s after start%s%s\n", r->rc, (double)(sl_mono_ms() - r->t0) / 1000.0,
           r->rc ? ", error: " : "", r->rc ? r->err : "");
    return r->rc;
}

/* The checks every at-least-once scenario shares: ids and stored offset. Duplicates are allowed only from
 * id `dups_from` on (-1: none allowed). */
static void check_delivery(const run *r, const mock *m, int64_t n, int64_t dups_from) {
    tally t = verify_topic(m->bootstrap, r->topic, n, "read_uncommitted");
    print_tally(r->topic, &t);
    int64_t k = stored_n_sqlite(r->db, r->name);
    printf("  stored offset n=%lld\n", (long long)k);
    CHECK(t.complete);
    CHECK(t.bad == 0);
    CHECK(k >= -1);
    /* Never claims more than what the broker acknowledged: every id up to the stored one is in the topic. */
    CHECK(k < t.prefix);
    CHECK(t.missing == 0);
    if (dups_from < 0) {
        CHECK(t.dups == 0); /* idempotent producer: retries never duplicate */
        CHECK(t.total == n);
    } else {
        CHECK(t.dups == 0 || t.first_dup >= dups_from);
    }
    CHECK(k == n - 1);
}

/* ---- scenarios ---- */

/* 1. Baseline: 20000 records, nothing injected. */
static void scenario_baseline(void) {
    printf("1. baseline\n");
    const int64_t n = 20000;
    mock m = {0};
    run r = {0};
    CHECK(mock_up(&m) && mock_topic(&m, "mk1.sch.tbl", PARTITIONS));
    if (start(&r, "mk1", &m, ",\"test.records\":\"20000\",\"test.batch.records\":\"500\"")) {
        CHECK(finish(&r, 60) == 0);
        check_delivery(&r, &m, n, -1);
    }
    mock_down(&m);
    rm_db(r.db);
}

/* 2. The leader of every partition goes down mid-stream for ~2 s, then comes back. */
static void scenario_broker_down(void) {
    printf("2. leader down ~2 s mid-stream, then up\n");
    const int64_t n = 20000;
    mock m = {0};
    run r = {0};
    CHECK(mock_up(&m) && mock_topic(&m, "mk2.sch.tbl", PARTITIONS));
    /* reconnect.backoff.max.ms: librdkafka's default 10 s backoff would only make the test slower. */
    if (start(&r, "mk2", &m,
              ",\"test.records\":\"20000\",\"test.batch.records\":\"500\",\"test.pause.at\":\"10000\","
              "\"producer.override.reconnect.backoff.max.ms\":\"1000\"")) {
        CHECK(wait_flag(&g_paused, 30000));
        CHECK(rd_kafka_mock_broker_set_down(m.mc, LEADER) == 0);
        atomic_store(&g_gate, 1); /* the second half is produced while the leader is down */
        sl_sleep_ms(2000, NULL);
        CHECK(sl_connector_running(r.c)); /* waiting, not failed */
        /* Nothing after the pause can have been acknowledged while the leader is down. */
        int64_t k = stored_n_sqlite(r.db, r.name);
        printf("  stored offset while the leader is down: n=%lld\n", (long long)k);
        CHECK(k <= 9999);
        CHECK(rd_kafka_mock_broker_set_up(m.mc, LEADER) == 0);
        CHECK(finish(&r, 60) == 0);
        /* librdkafka 2.0.2's mock checks producer sequence numbers for transactional producers only, so a
         * request whose response was lost when the leader went down is appended again on retry (a real
         * broker answers DUPLICATE_SEQUENCE_NUMBER). Copies are allowed here (the connector ran once, so
         * sluice never re-read the source); nothing may be missing and the stored offset must be the last. */
        check_delivery(&r, &m, n, 0);
    }
    mock_down(&m);
    rm_db(r.db);
}

/* 3. Retriable Produce errors, before the first request and again mid-stream. */
static void scenario_produce_errors(void) {
    printf("3. retriable Produce errors\n");
    const int64_t n = 20000;
    mock m = {0};
    run r = {0};
    CHECK(mock_up(&m) && mock_topic(&m, "mk3.sch.tbl", PARTITIONS));
    rd_kafka_mock_push_request_errors(m.mc, API_PRODUCE, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
    if (start(&r, "mk3", &m,
              ",\"test.records\":\"20000\",\"test.batch.records\":\"500\",\"test.pause.at\":\"8000\"")) {
        CHECK(wait_flag(&g_paused, 30000));
        rd_kafka_mock_push_request_errors(m.mc, API_PRODUCE, 5, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                          RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                          RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                          RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                                          RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
        atomic_store(&g_gate, 1);
        CHECK(finish(&r, 60) == 0);
        check_delivery(&r, &m, n, -1);
    }
    mock_down(&m);
    rm_db(r.db);
}

/* The checks of a run that must fail: the error names the delivery failure, the
 * stored offset is the one before the fault (everything up to it delivered),
 * and the records after the fault are not claimed. */
static void check_failed_delivery(run *r, const mock *m, int64_t n, int64_t pause_at, const char *why) {
    CHECK(r->rc == -1);
    CHECK(strstr(r->err, "sink kafka") != NULL);
    /* A failed delivery report ("delivery to <topic> failed: ..."); after a permanent topic error
     * librdkafka may also refuse the next produce() call at once ("produce to <topic>: ..."). */
    CHECK((strstr(r->err, "delivery to") && strstr(r->err, "failed")) ||
          (!strcmp(why, "authoriz") && strstr(r->err, "produce to")));
    CHECK(strstr(r->err, r->topic) != NULL);
    CHECK(strstr(r->err, why) != NULL);
    tally t = verify_topic(m->bootstrap, r->topic, n, "read_uncommitted");
    print_tally(r->topic, &t);
    int64_t k = stored_n_sqlite(r->db, r->name);
    printf("  stored offset n=%lld (first half ends at %lld)\n", (long long)k, (long long)pause_at - 1);
    CHECK(t.complete);
    CHECK(t.bad == 0);
    CHECK(k == pause_at - 1); /* the first half was committed before the fault; nothing after it */
    CHECK(k < t.prefix);      /* and it is all in the topic */
    CHECK(t.missing > 0);     /* the fault did lose the delivery of records, which were not claimed */
}

/* 4a. The leader stays down: messages time out (message.timeout.ms=2000), the connector fails. */
static void scenario_delivery_timeout(void) {
    printf("4a. leader kept down: delivery times out\n");
    const int64_t n = 4000;
    mock m = {0};
    run r = {0};
    CHECK(mock_up(&m) && mock_topic(&m, "mk4a.sch.tbl", PARTITIONS));
    if (start(&r, "mk4a", &m,
              ",\"test.records\":\"4000\",\"test.batch.records\":\"250\",\"test.pause.at\":\"2000\","
              "\"test.pause.committed\":\"true\",\"producer.override.message.timeout.ms\":\"2000\"")) {
        CHECK(wait_flag(&g_paused, 30000));
        CHECK(rd_kafka_mock_broker_set_down(m.mc, LEADER) == 0);
        atomic_store(&g_gate, 1);
        finish(&r, 60);
        CHECK(rd_kafka_mock_broker_set_up(m.mc, LEADER) == 0); /* for the verifying consumer */
        check_failed_delivery(&r, &m, n, 2000, "timed out");
    }
    mock_down(&m);
    rm_db(r.db);
}

/* 4b. A non-retriable Produce error (TOPIC_AUTHORIZATION_FAILED) on every request after the pause. */
static void scenario_permanent_error(void) {
    printf("4b. non-retriable Produce error\n");
    const int64_t n = 4000;
    mock m = {0};
    run r = {0};
    CHECK(mock_up(&m) && mock_topic(&m, "mk4b.sch.tbl", PARTITIONS));
    if (start(&r, "mk4b", &m,
              ",\"test.records\":\"4000\",\"test.batch.records\":\"250\",\"test.pause.at\":\"2000\","
              "\"test.pause.committed\":\"true\"")) {
        CHECK(wait_flag(&g_paused, 30000));
        rd_kafka_resp_err_t errs[64];
        for (int i = 0; i < 64; i++) errs[i] = RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
        rd_kafka_mock_push_request_errors_array(m.mc, API_PRODUCE, 64, errs);
        atomic_store(&g_gate, 1);
        finish(&r, 60);
        rd_kafka_mock_clear_request_errors(m.mc, API_PRODUCE);
        check_failed_delivery(&r, &m, n, 2000, "authoriz");
    }
    mock_down(&m);
    rm_db(r.db);
}

/* Peak of sluice's counting allocator while a run is under way. */
static _Atomic int sampling;
static _Atomic int64_t peak;
static void *sampler(void *arg) {
    while (atomic_load(&sampling)) {
        int64_t u = sl_mem_used();
        if (u > atomic_load(&peak)) atomic_store(&peak, u);
        usleep(200);
    }
    return NULL;
}

/*
 * 5. Slow broker (500 ms RTT on every broker) with max.queue.size.in.bytes=1 MiB:
 * everything delivered and sluice's memory bounded. Run twice: 5a with
 * 200-record batches, 5b with 1-record batches (what the PostgreSQL source
 * hands on whenever its socket goes idle, e.g. a trickle of one-row
 * transactions while the sink is slow).
 *
 * What the bound covers: sl_mem_used() counts only what goes through
 * util/mem.h (batches: arena chunks and record arrays, the queue, the sink's
 * encode buffers and topic table, config). librdkafka's memory (its copy of
 * every produced message, up to queue.buffering.max.kbytes, plus its own
 * buffers), SQLite's and jansson's are NOT counted, so this checks sluice's
 * own back-pressure, not the process RSS. Outside the queue's 1 MiB, sluice
 * holds at most one batch being built by the source, one that was pushed
 * while the queue was just under its bound, and one being written by the
 * sink: the fixed margin (1 MiB) covers these three ~150 KiB batches and the
 * small per-connector state.
 *
 * 5b exceeds the bound (sluice bug, left failing): the queue charges a batch
 * sl_batch_bytes() = arena.used + record array + header, but an arena never
 * holds less than one 64 KiB chunk (util/arena.c CHUNK), so a 1-record batch
 * is charged ~49 KiB (256-slot record array) while it holds ~113 KiB: a
 * full 1 MiB queue really holds ~2.5 MB.
 */
static void scenario_slow_broker(const char *name, int64_t n, int64_t batch) {
    printf("%s. slow broker (RTT 500 ms), max.queue.size.in.bytes=1 MiB, %lld-record batches\n", name + 2,
           (long long)batch);
    const int64_t qbytes = 1 << 20, margin = 1 << 20;
    mock m = {0};
    run r = {0};
    char topic[64], extra[512];
    snprintf(topic, sizeof topic, "%s.sch.tbl", name);
    CHECK(mock_up(&m) && mock_topic(&m, topic, PARTITIONS));
    for (int b = 1; b <= 3; b++) CHECK(rd_kafka_mock_broker_set_rtt(m.mc, b, 500) == 0);
    snprintf(extra, sizeof extra,
             ",\"test.records\":\"%lld\",\"test.batch.records\":\"%lld\",\"test.pad\":\"256\","
             "\"max.queue.size\":\"10000000\",\"max.queue.size.in.bytes\":\"%lld\"",
             (long long)n, (long long)batch, (long long)qbytes);
    int64_t base = sl_mem_used();
    atomic_store(&peak, base);
    atomic_store(&sampling, 1);
    pthread_t th;
    pthread_create(&th, NULL, sampler, NULL);
    if (start(&r, name, &m, extra)) {
        CHECK(finish(&r, 60) == 0);
        atomic_store(&sampling, 0);
        pthread_join(th, NULL);
        for (int b = 1; b <= 3; b++) rd_kafka_mock_broker_set_rtt(m.mc, b, 0); /* a quick verification */
        int64_t grew = atomic_load(&peak) - base;
        printf("  sluice allocator: peak %lld bytes over the baseline (bound %lld = queue %lld + margin %lld)\n",
               (long long)grew, (long long)(qbytes + margin), (long long)qbytes, (long long)margin);
        CHECK(grew > 0);
        CHECK(grew <= qbytes + margin);
        check_delivery(&r, &m, n, -1);
    } else {
        atomic_store(&sampling, 0);
        pthread_join(th, NULL);
    }
    mock_down(&m);
    rm_db(r.db);
}

/* ---- 6. exactly-once ---- */
typedef struct offrec {
    const char *want_key;
    int64_t seen;
    char last[256];
} offrec;

static void offset_msg(const rd_kafka_message_t *m, void *arg) {
    offrec *o = arg;
    if (!m->key || m->key_len != strlen(o->want_key) || memcmp(m->key, o->want_key, m->key_len) != 0) return;
    o->seen++;
    snprintf(o->last, sizeof o->last, "%.*s", m->payload ? (int)m->len : 4, m->payload ? (char *)m->payload : "null");
}

static void scenario_eos(void) {
    printf("6. exactly-once (transactions on the mock)\n");
    /* The 2.0.2 mock handles InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and
     * EndTxn (rdkafka_mock.h: "Transactional Producer"), so this runs rather than being skipped. */
    const int64_t n = 20000;
    mock m = {0};
    run r = {0};
    CHECK(mock_up(&m) && mock_topic(&m, "mk6.sch.tbl", PARTITIONS) && mock_topic(&m, "mk6-offsets", 5));
    /* Some retriable Produce errors inside the transactions too. */
    rd_kafka_mock_push_request_errors(m.mc, API_PRODUCE, 3, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
    /* The pause (after the first half is committed) makes at least two transactions. */
    if (start(&r, "mk6", &m,
              ",\"test.records\":\"20000\",\"test.batch.records\":\"500\",\"exactly.once.support\":\"required\","
              "\"offset.storage.topic\":\"mk6-offsets\",\"test.pause.at\":\"10000\","
              "\"test.pause.committed\":\"true\"")) {
        CHECK(wait_flag(&g_paused, 30000));
        atomic_store(&g_gate, 1);
        CHECK(finish(&r, 60) == 0);
        tally t = verify_topic(m.bootstrap, r.topic, n, "read_committed");
        print_tally("read_committed", &t);
        CHECK(t.complete && t.bad == 0 && t.missing == 0 && t.dups == 0 && t.total == n);
        tally u = verify_topic(m.bootstrap, r.topic, n, "read_uncommitted");
        print_tally("read_uncommitted", &u);
        CHECK(u.total == n); /* nothing was aborted: no extra copies even for uncommitted readers */
        offrec o = {"[\"mk6\",{\"server\":\"t\"}]", 0, ""};
        bool complete;
        consume(m.bootstrap, "mk6-offsets", 5, "read_committed", offset_msg, &o, &complete);
        printf("  offsets topic: %lld records with key %s, last value %s\n", (long long)o.seen, o.want_key, o.last);
        CHECK(complete);
        CHECK(o.seen >= 2); /* one per transaction: {"n":9999} first */
        CHECK_STR(o.last, "{\"n\":19999}");
        /* And as sluice itself reads it back at start (read_committed, Connect's format). */
        char err[512] = "", json[512];
        snprintf(json, sizeof json, "{\"name\":\"mk6\",\"config\":{\"bootstrap.servers\":\"%s\"}}", m.bootstrap);
        sl_config *cfg = sl_config_parse_json(json, "test", err, sizeof err);
        sl_kafka_client kc = {.bootstrap = m.bootstrap};
        sl_offsets *st = cfg ? sl_offsets_open_kafka(&kc, cfg, "mk6-offsets", 5, -1, NULL, err, sizeof err) : NULL;
        if (!st) fprintf(stderr, "kafka offset store: %s\n", err);
        CHECK(st != NULL);
        char *off = NULL;
        if (st) CHECK(sl_offsets_get(st, "mk6", PARTITION_JSON, &off, err, sizeof err) == 0);
        CHECK_STR(off, "{\"n\":19999}");
        sl_free(off);
        sl_offsets_close(st);
        sl_config_destroy(cfg);
    }
    mock_down(&m);
    rm_db(r.db);
}

/*
 * 7. The runtime's exactly-once cut, with a recording transactional sink: every commit may hold only
 * records its offset covers. The source emits an offset every 3rd batch only (a source transaction
 * spanning batches) and the sink's first write is slow, so runs of several batches build up: a batch
 * without an offset after one with an offset must start the next transaction, not join the pending one.
 */
static int64_t txn_pending[16384];
static int txn_npending, txn_commits, txn_beyond, txn_empty_offset;
static int64_t txn_last_committed = -1;
static bool txs_slept;
static int64_t txs_hold; /* > 0: the first write waits until the source has emitted this many records */

static int txs_open(void **out, void *settings, sl_ctx *ctx, char *err, size_t errsz) {
    *out = ctx;
    return 0;
}
static int txs_write(void *p, sl_batch *b, char *err, size_t errsz) {
    if (!txs_slept && txs_hold) /* bounded: a source that cannot emit them all fails the test, not hangs it */
        for (int i = 0; i < 1000 && atomic_load(&g_emitted) < txs_hold; i++) sl_sleep_ms(10, NULL);
    else if (!txs_slept) sl_sleep_ms(300, NULL); /* let the queue fill up */
    txs_slept = true;
    for (int i = 0; i < b->n; i++)
        if (b->recs[i].after && txn_npending < 16384)
            txn_pending[txn_npending++] = atoll(b->recs[i].after[0].data);
    return 0;
}
static int txs_flush(void *p, char *err, size_t errsz) { return 0; }
static void txs_close(void *p) {}
static int txs_commit(void *p, const char *partition, const char *offset, char *err, size_t errsz) {
    int64_t k = offset && strchr(offset, ':') ? atoll(strchr(offset, ':') + 1) : -1;
    if (!offset) txn_empty_offset++;
    for (int i = 0; i < txn_npending; i++)
        if (txn_pending[i] > k) txn_beyond++;
    txn_commits++;
    txn_npending = 0;
    if (k > txn_last_committed) txn_last_committed = k;
    return 0;
}
static const sl_prop no_props[] = {{NULL}};
static const sl_sink_ops txs_ops = {"test-txn-sink", NULL, "records per transaction", no_props, 0, NULL, txs_open,
                                    txs_write, txs_flush, txs_close, txs_commit};

static void scenario_eos_cut(void) {
    printf("7. exactly-once cut: transactions hold only what their offset covers\n");
    mock m = {0};
    run r = {0};
    CHECK(mock_up(&m) && mock_topic(&m, "mk7-offsets", 5));
    g_sink_type = "test-txn-sink";
    if (start(&r, "mk7", &m,
              ",\"test.records\":\"10000\",\"test.batch.records\":\"50\",\"test.offset.every\":\"3\","
              "\"exactly.once.support\":\"required\",\"offset.storage.topic\":\"mk7-offsets\"")) {
        CHECK(finish(&r, 60) == 0);
        printf("  commits=%d records-beyond-their-offset=%d last-offset-n=%lld left-uncommitted=%d\n", txn_commits,
               txn_beyond, (long long)txn_last_committed, txn_npending);
        CHECK(txn_commits >= 2);
        CHECK(txn_beyond == 0);
        CHECK(txn_empty_offset == 0);
        CHECK(txn_last_committed == 9999);
        CHECK(txn_npending == 0);
    }
    g_sink_type = "kafka";
    mock_down(&m);
    rm_db(r.db);
}

/*
 * 8. Batches whose offset covers all but their last records, as the PostgreSQL source hands on a batch
 * whenever its socket is momentarily idle, often in the middle of the next transaction: the tail joins
 * the open Kafka transaction when the next queued batch's offset covers it, so a queue full of such
 * batches commits as one transaction, not one per batch. The sink's first write waits until all 100
 * batches are queued; each transaction still holds only what its offset covers. With max.batch.size=100
 * the first run is full after 64 batches: it commits there and the remaining 36 commit in a second run.
 */
static void scenario_eos_tails(const char *name, const char *extra, int want_commits) {
    printf("8. exactly-once: uncovered batch tails join the transaction of the offset after them%s\n", extra);
    mock m = {0};
    run r = {0};
    char topic[64], cfg[512];
    snprintf(topic, sizeof topic, "%s-offsets", name);
    snprintf(cfg, sizeof cfg,
             ",\"test.records\":\"1000\",\"test.batch.records\":\"10\",\"test.tail.records\":\"3\","
             "\"exactly.once.support\":\"required\",\"offset.storage.topic\":\"%s\"%s",
             topic, extra);
    CHECK(mock_up(&m) && mock_topic(&m, topic, 5));
    g_sink_type = "test-txn-sink";
    txn_npending = txn_commits = txn_beyond = txn_empty_offset = 0;
    txn_last_committed = -1;
    txs_slept = false, txs_hold = 1000;
    if (start(&r, name, &m, cfg)) {
        CHECK(finish(&r, 60) == 0);
        printf("  commits=%d records-beyond-their-offset=%d last-offset-n=%lld left-uncommitted=%d\n", txn_commits,
               txn_beyond, (long long)txn_last_committed, txn_npending);
        CHECK(txn_commits == want_commits);
        CHECK(txn_beyond == 0);
        CHECK(txn_empty_offset == 0);
        CHECK(txn_last_committed == 999);
        CHECK(txn_npending == 0);
    }
    txs_hold = 0;
    g_sink_type = "kafka";
    mock_down(&m);
    rm_db(r.db);
}

int main(void) {
    const char *lvl = getenv("SL_TEST_LOG");
    sl_log_set_level(lvl && sl_log_parse_level(lvl) >= 0 ? (sl_log_level)sl_log_parse_level(lvl) : SL_LOG_ERROR);
    setvbuf(stdout, NULL, _IOLBF, 0);
    CHECK(sl_plugin_add_source(&ksrc_ops) == 0);
    CHECK(sl_plugin_add_sink(&txs_ops) == 0);
    int64_t t0 = sl_mono_ms();
#define TIMED(call)                                                                                               \
    do {                                                                                                          \
        int64_t s_ = sl_mono_ms();                                                                                \
        call;                                                                                                     \
        printf("  (%.1f s)\n", (double)(sl_mono_ms() - s_) / 1000.0);                                              \
    } while (0)
    TIMED(scenario_baseline());
    TIMED(scenario_broker_down());
    TIMED(scenario_produce_errors());
    TIMED(scenario_delivery_timeout());
    TIMED(scenario_permanent_error());
    TIMED(scenario_slow_broker("mk5a", 5000, 200));
    TIMED(scenario_slow_broker("mk5b", 300, 1));
    TIMED(scenario_eos());
    TIMED(scenario_eos_cut());
    TIMED(scenario_eos_tails("mk8", "", 1));                               /* one run: the whole queue */
    TIMED(scenario_eos_tails("mk8b", ",\"max.batch.size\":\"100\"", 2)); /* 64 batches, then 36 */
    printf("total %.1f s\n", (double)(sl_mono_ms() - t0) / 1000.0);
    TEST_END();
}
