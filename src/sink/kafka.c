/*
 * Kafka sink: each change event becomes one Kafka record, as Debezium on
 * Kafka Connect writes it: topic <topic.prefix>.<schema>.<table>, key = the
 * primary-key struct and value = the envelope, both through the
 * JsonConverter settings, headers as the event's headers, and a tombstone
 * after each delete. Partitions are chosen by murmur2 of the key bytes like
 * the Java client's default partitioner, so a topic's layout matches what
 * Kafka Connect would produce.
 *
 * Delivery: an idempotent producer (acks=all). write() hands records to
 * librdkafka and goes on; each record counts against the ticket open when it
 * was produced (mark() closes one per write run), and its delivery report
 * counts it off. acked() names the newest ticket with no record left
 * unacknowledged before or in it, and only then does the runtime store the
 * offset of that ticket's run: runs follow each other without waiting for
 * the broker (flush() still waits for everything, at a stop). With
 * exactly-once (exactly.once.support), the producer is transactional:
 * write() opens a transaction, and commit() adds the source offset record to
 * offset.storage.topic and commits both at once. The runtime commits only
 * with an offset, so a source transaction larger than one write run stays in
 * one Kafka transaction; transaction.timeout.ms (default 15 min, the broker's
 * default maximum) bounds how long that may take. A second instance with the
 * same transactional.id fences this one (its next commit fails fatally).
 *
 * Missing topics are created through the admin API at first sight.
 */
#include "ctx/ctx.h"
#include "format/benc.h"
#include "core/log.h"
#include "kafka/kclient.h"
#include "state/offsets_kafka.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TXN_TIMEOUT_MS 60000
#define PROBE_TIMEOUT_MS 15000 /* open(): how long the cluster has to answer */
#define HAND_OVER_BYTES 65536   /* values from this size on are handed to librdkafka, not copied */
#define STOP_GRACE_MS 30000 /* how long a stopping connector still waits for an unanswering broker */
/* The broker writes a commit's markers after EndTxn has returned; a transaction that registers a
 * partition before they are written is refused (CONCURRENT_TRANSACTIONS) and librdkafka asks again
 * 20 ms later. Beginning the next transaction this long after a commit avoids most refusals: at 5,000
 * single-row transactions/s (bench-latency, two pairs) exactly-once p50 went from 15-16 to 9 ms and p99
 * from 56-68 to 24-27 ms. */
#define TXN_SETTLE_MS 5
/* Open tickets (write runs whose records await the broker's acks) at most; one more and mark() says 0. */
#define TICKETS 4096

typedef struct kafka_conf {
    bool create_topics;
    int64_t partitions, rf;
    char *cleanup_policy, *compression;
} kafka_conf;

/* Topics known to exist, with their librdkafka handles: a small open-addressing set. */
typedef struct topic_slot {
    char *name;
    rd_kafka_topic_t *rkt;
} topic_slot;

typedef struct kafka_sink {
    sl_ctx *ctx;
    kafka_conf *conf;
    rd_kafka_t *rk;
    bool eos, in_txn;
    int64_t committed_ms; /* mono ms of the last commit_transaction that succeeded */
    topic_slot *topics;
    size_t ntopics, cap;
    sl_table *last_table;         /* fast path: the table of the previous record (a reference) */
    rd_kafka_topic_t *last_rkt;
    rd_kafka_topic_t *offsets_rkt;
    _Atomic int delivery_failed;
    _Atomic int delivery_code;    /* sl_err_code of delivery_err */
    long long queue_kbytes;       /* queue.buffering.max.kbytes: a record larger cannot be produced */
    uint64_t ticket;              /* the open ticket: records produced now count against it (from 1) */
    uint64_t acked;               /* newest ticket with no record unacknowledged in it or before it */
    uint32_t unacked[TICKETS];    /* records awaiting their delivery report, by ticket % TICKETS */
    char delivery_err[512];
    sl_buf key, value, scratch;
    sl_benc enc; /* large batches: encoded on several threads */
} kafka_sink;

#define F(x) offsetof(kafka_conf, x)
static const sl_prop kafka_props[] = {
    {"topic.creation.enable", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(create_topics),
     "Create missing topics through the admin API (else a missing topic is an error, unless the broker "
     "auto-creates)."},
    {"topic.creation.default.partitions", SL_PT_INT, "-1", NULL, -1, 100000, 0, F(partitions),
     "Partitions of topics sluice creates (-1: the broker's num.partitions)."},
    {"topic.creation.default.replication.factor", SL_PT_INT, "-1", NULL, -1, 32767, 0, F(rf),
     "Replication factor of topics sluice creates (-1: the broker's default.replication.factor)."},
    {"topic.creation.default.cleanup.policy", SL_PT_STRING, "", NULL, 0, 0, 0, F(cleanup_policy),
     "cleanup.policy of created topics: delete, compact or compact,delete (empty: the broker's default)."},
    {"topic.creation.default.compression.type", SL_PT_STRING, "", NULL, 0, 0, 0, F(compression),
     "compression.type of created topics (empty: the broker's default, which keeps the producer's)."},
    {NULL}};
#undef F

static void kafka_check(void *settings, sl_config *cfg, sl_errs *errs) {
    kafka_conf *kc = settings;
    if (kc->partitions == 0) sl_errs_add(errs, "topic.creation.default.partitions: must be -1 or at least 1");
    if (kc->rf == 0) sl_errs_add(errs, "topic.creation.default.replication.factor: must be -1 or at least 1");
    const char *cp = kc->cleanup_policy ? kc->cleanup_policy : "";
    if (*cp && strcmp(cp, "delete") && strcmp(cp, "compact") && strcmp(cp, "compact,delete") &&
        strcmp(cp, "delete,compact"))
        sl_errs_add(errs, "topic.creation.default.cleanup.policy: '%s' is not allowed (allowed: delete, compact, "
                          "compact,delete)",
                    cp);
    sl_kafka_client_check(NULL, cfg, "producer.override.", "sink", errs);
}

/* The kind of a Kafka error: refused credentials or ACLs are auth; a record, a batch or a producer the broker
 * refuses (too large, invalid, fenced) is rejected; anything else (timeouts, brokers down) is the sink being
 * unavailable. */
static sl_err_code code_of(rd_kafka_resp_err_t e) {
    switch (e) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED: return SL_E_AUTH;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH: return SL_E_SINK_REJECTED;
    default: return SL_E_SINK_UNAVAILABLE;
    }
}

/* A failed write, flush or commit of kind code (errstr has the message). Returns -1. */
static int failed(kafka_sink *s, sl_err_code code) {
    sl_ctx_error_code(s->ctx, code);
    return -1;
}

/* A record's msg_opaque: its ticket << 1, | HANDED_OVER when librdkafka was handed its value buffer instead of
 * copying it (see produce): its delivery report frees it. */
#define HANDED_OVER 1u

/* Sink thread (delivery reports are served by rd_kafka_poll and rd_kafka_flush, which only it calls). */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    kafka_sink *s = opaque;
    uintptr_t o = (uintptr_t)m->_private;
    if (o & HANDED_OVER) sl_free(m->payload);
    s->unacked[(o >> 1) % TICKETS]--;
    if (!m->err || s->delivery_failed) return;
    snprintf(s->delivery_err, sizeof s->delivery_err, "delivery to %s failed: %s", rd_kafka_topic_name(m->rkt),
             rd_kafka_err2str(m->err));
    s->delivery_code = code_of(m->err);
    s->delivery_failed = 1;
}

/* A producer default that a producer.override.* key has not replaced. */
static int set_default(rd_kafka_conf_t *conf, const sl_config *cfg, const char *key, const char *val, char *errstr,
                       size_t errsz) {
    char ok[256];
    snprintf(ok, sizeof ok, "producer.override.%s", key);
    if (sl_config_get(cfg, ok)) return 0;
    return sl_kafka_conf_set(conf, key, val, errstr, errsz);
}

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static topic_slot *slot_of(kafka_sink *s, const char *name) {
    size_t i = fnv(name) & (s->cap - 1);
    while (s->topics[i].name && strcmp(s->topics[i].name, name) != 0) i = (i + 1) & (s->cap - 1);
    return &s->topics[i];
}

/* The handle of topic `name`, creating the topic first when it is new to this sink. */
static rd_kafka_topic_t *topic_handle(kafka_sink *s, const char *name, char *errstr, size_t errsz) {
    topic_slot *t = slot_of(s, name);
    if (t->name) return t->rkt;
    if (s->conf->create_topics) {
        char cp[64] = "", ct[64] = "";
        snprintf(cp, sizeof cp, "%s", s->conf->cleanup_policy ? s->conf->cleanup_policy : "");
        snprintf(ct, sizeof ct, "%s", s->conf->compression ? s->conf->compression : "");
        const char *cfgs[] = {"cleanup.policy", cp, "compression.type", ct, NULL};
        if (sl_kafka_ensure_topic(s->rk, name, (int)s->conf->partitions, (int)s->conf->rf, cfgs, 30000, errstr,
                                  errsz) < 0) {
            failed(s, SL_E_SINK_UNAVAILABLE);
            return NULL;
        }
    }
    if ((s->ntopics + 1) * 2 > s->cap) { /* grow and rehash */
        topic_slot *old = s->topics;
        size_t oldcap = s->cap;
        s->cap *= 2;
        s->topics = sl_calloc(s->cap, sizeof *s->topics);
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].name) *slot_of(s, old[i].name) = old[i];
        sl_free(old);
        t = slot_of(s, name);
    }
    t->name = sl_strdup(name);
    t->rkt = rd_kafka_topic_new(s->rk, name, NULL);
    s->ntopics++;
    return t->rkt;
}

static int txn_error(kafka_sink *s, rd_kafka_error_t *e, const char *what, char *errstr, size_t errsz) {
    snprintf(errstr, errsz, "%s: %s%s", what, rd_kafka_error_string(e),
             rd_kafka_error_is_fatal(e) ? " (fatal: another instance with this transactional.id may have fenced "
                                          "this one)"
                                        : "");
    if (rd_kafka_error_txn_requires_abort(e)) {
        rd_kafka_error_t *ae = rd_kafka_abort_transaction(s->rk, TXN_TIMEOUT_MS);
        if (ae) rd_kafka_error_destroy(ae);
        s->in_txn = false;
    }
    sl_err_code code = rd_kafka_error_is_fatal(e) ? SL_E_SINK_REJECTED : code_of(rd_kafka_error_code(e));
    rd_kafka_error_destroy(e);
    return failed(s, code);
}

/* Asks the cluster for its brokers, so that an unreachable cluster, wrong credentials or TLS
 * settings fail the start (wrong credentials at once) before the source touches its database. */
static int probe(kafka_sink *s, char *errstr, size_t errsz) {
    const struct rd_kafka_metadata *md = NULL;
    char why[768];
    rd_kafka_resp_err_t e = sl_kafka_metadata(s->rk, NULL, &md, PROBE_TIMEOUT_MS, why, sizeof why);
    if (e == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
        snprintf(errstr, errsz, "kafka sink: %s", why);
        return failed(s, SL_E_AUTH);
    }
    if (e) {
        snprintf(errstr, errsz, "kafka sink: bootstrap.servers %s: no answer from the Kafka cluster within %d ms: %s",
                 sl_ctx_core(s->ctx)->kafka.bootstrap, PROBE_TIMEOUT_MS, why);
        return failed(s, SL_E_SINK_UNAVAILABLE);
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

/*
 * Registers the transactional.id with the coordinator and fences older instances. Waits in
 * slices (init_transactions resumes where a timed-out call left off), serving the error
 * callback between them, so that wrong credentials or TLS settings end the start at once
 * instead of after TXN_TIMEOUT_MS.
 */
static int init_txn(kafka_sink *s, char *errstr, size_t errsz) {
    int64_t deadline = sl_mono_ms() + TXN_TIMEOUT_MS;
    for (;;) {
        int64_t left = deadline - sl_mono_ms();
        rd_kafka_error_t *e = rd_kafka_init_transactions(s->rk, left < 500 ? (int)(left > 0 ? left : 1) : 500);
        if (!e) return 0;
        if (!rd_kafka_error_is_retriable(e) || sl_mono_ms() >= deadline)
            return txn_error(s, e, "kafka sink: init_transactions", errstr, errsz);
        rd_kafka_error_destroy(e);
        char hard[768];
        if (sl_kafka_poll_hard_error(s->rk, hard, sizeof hard)) {
            snprintf(errstr, errsz, "kafka sink: init_transactions: %s", hard);
            return failed(s, SL_E_AUTH); /* credentials or TLS settings */
        }
    }
}

static int kafka_open(void **out, void *settings, sl_ctx *ctx, char *errstr, size_t errsz) {
    const sl_core_conf *core = sl_ctx_core(ctx);
    kafka_sink *s = sl_calloc(1, sizeof *s);
    s->ctx = ctx;
    s->conf = settings;
    s->eos = sl_ctx_eos(ctx);
    s->ticket = 1;
    s->cap = 64;
    s->topics = sl_calloc(s->cap, sizeof *s->topics);
    sl_buf_init(&s->key);
    sl_buf_init(&s->value);
    sl_buf_init(&s->scratch);
    *out = s;
    sl_benc_init(&s->enc, (int)core->encode_threads, "sl-kafka-enc");
    /* sl_ctx gives no config handle: rebuild the overrides from the core's config copy. */
    const sl_config *cfg = sl_ctx_config(ctx);
    rd_kafka_conf_t *conf = sl_kafka_conf_new(&core->kafka, cfg, NULL, errstr, errsz);
    if (!conf) return failed(s, SL_E_CONFIG);
    char txid[512];
    snprintf(txid, sizeof txid, "%s", core->transactional_id && *core->transactional_id ? core->transactional_id : "");
    int64_t task = sl_ctx_core(ctx)->task_id; /* (each task of a connector fences only its own predecessors) */
    if (!*txid) snprintf(txid, sizeof txid, task ? "sluice-%s-%lld" : "sluice-%s", sl_ctx_name(ctx), (long long)task);
    else if (task) snprintf(txid + strlen(txid), sizeof txid - strlen(txid), "-%lld", (long long)task);
    /* Throughput defaults (before overrides, which win): lz4, 1 MB batches, a short linger. */
    if (set_default(conf, cfg, "enable.idempotence", "true", errstr, errsz) < 0 ||
        set_default(conf, cfg, "acks", "all", errstr, errsz) < 0 ||
        set_default(conf, cfg, "compression.type", "lz4", errstr, errsz) < 0 ||
        set_default(conf, cfg, "linger.ms", "5", errstr, errsz) < 0 ||
        /* as the Java client, which always sets TCP_NODELAY: with requests pipelined, Nagle would hold a small
         * one back until the broker has acknowledged the previous one's bytes */
        set_default(conf, cfg, "socket.nagle.disable", "true", errstr, errsz) < 0 ||
        set_default(conf, cfg, "batch.size", "1000000", errstr, errsz) < 0 ||
        set_default(conf, cfg, "queue.buffering.max.kbytes", "16384", errstr, errsz) < 0 ||
        set_default(conf, cfg, "partitioner", "murmur2_random", errstr, errsz) < 0 ||
        set_default(conf, cfg, "client.id", sl_ctx_name(ctx), errstr, errsz) < 0 ||
        (s->eos && sl_kafka_conf_set(conf, "transactional.id", txid, errstr, errsz) < 0) ||
        (s->eos && set_default(conf, cfg, "transaction.timeout.ms", "900000", errstr, errsz) < 0)) {
        rd_kafka_conf_destroy(conf);
        return failed(s, SL_E_CONFIG);
    }
    /* Overrides again, last, so that they win over the defaults above. */
    for (int i = 0; i < cfg->n; i++)
        if (strncmp(cfg->kv[i].key, "producer.override.", 18) == 0 &&
            sl_kafka_conf_set(conf, cfg->kv[i].key + 18, cfg->kv[i].value, errstr, errsz) < 0) {
            rd_kafka_conf_destroy(conf);
            return failed(s, SL_E_CONFIG);
        }
    /* A record must fit in the producer's queue, or it is refused as "queue full" for ever: one raised
     * message.max.bytes raises the queue's default bound with it (buffer.memory still wins). */
    char v[64];
    size_t vn = sizeof v;
    long long max_msg = rd_kafka_conf_get(conf, "message.max.bytes", v, &vn) == RD_KAFKA_CONF_OK ? atoll(v) : 0;
    if (max_msg / 1024 + 1 > 16384 && !sl_config_get(cfg, "producer.override.queue.buffering.max.kbytes") &&
        !sl_config_get(cfg, "producer.override.buffer.memory")) {
        snprintf(v, sizeof v, "%lld", max_msg / 1024 + 1024);
        if (sl_kafka_conf_set(conf, "queue.buffering.max.kbytes", v, errstr, errsz) < 0) {
            rd_kafka_conf_destroy(conf);
            return failed(s, SL_E_CONFIG);
        }
    }
    vn = sizeof v;
    s->queue_kbytes = rd_kafka_conf_get(conf, "queue.buffering.max.kbytes", v, &vn) == RD_KAFKA_CONF_OK ? atoll(v) : 0;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, s);
    sl_kafka_conf_logging(conf, "sink");
    char err[512];
    if (!(s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err))) {
        snprintf(errstr, errsz, "kafka sink: %s", err);
        rd_kafka_conf_destroy(conf);
        return failed(s, SL_E_CONFIG);
    }
    if (!s->eos && probe(s, errstr, errsz) < 0) return -1;
    if (s->eos) {
        if (init_txn(s, errstr, errsz) < 0) return -1;
        s->offsets_rkt = rd_kafka_topic_new(s->rk, core->offset_topic, NULL);
        SL_INFO("sink", "exactly-once producer ready transactional.id=%s offsets_topic=%s", txid, core->offset_topic);
    }
    return 0;
}

static int begin_txn(kafka_sink *s, char *errstr, size_t errsz) {
    if (!s->eos || s->in_txn) return 0;
    int64_t settle = s->committed_ms + TXN_SETTLE_MS - sl_mono_ms();
    if (s->committed_ms && settle > 0) sl_sleep_ms(settle, NULL);
    rd_kafka_error_t *e = rd_kafka_begin_transaction(s->rk);
    if (e) return txn_error(s, e, "kafka sink: begin_transaction", errstr, errsz);
    s->in_txn = true;
    return 0;
}

/*
 * Produces one record (key or value NULL: a null one); waits for room in librdkafka's queue when it is
 * full. A value in own (the sink's buffer, not a part of format/benc) from HAND_OVER_BYTES on is not
 * copied: librdkafka gets the buffer itself, which the delivery report frees, and own is left empty (a
 * 50 MB value is then not held twice until it is delivered).
 */
static int produce(kafka_sink *s, rd_kafka_topic_t *rkt, const char *key, size_t key_len, const char *value,
                   size_t value_len, sl_buf *own, const sl_record *r, char *errstr, size_t errsz) {
    bool hand_over = own && value == own->data && value_len >= HAND_OVER_BYTES;
    rd_kafka_headers_t *h = NULL;
    if (r && r->nheaders) {
        h = rd_kafka_headers_new((size_t)r->nheaders);
        for (int i = 0; i < r->nheaders; i++)
            rd_kafka_header_add(h, r->headers[i].key, -1, r->headers[i].value,
                                r->headers[i].value ? (ssize_t)r->headers[i].value_len : 0);
    }
    int64_t full_since = 0;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            s->rk, RD_KAFKA_V_RKT(rkt),
            RD_KAFKA_V_PARTITION(r && r->raw && r->raw->pinned ? r->raw->to_partition : RD_KAFKA_PARTITION_UA),
            RD_KAFKA_V_KEY(key, key ? key_len : 0),
            RD_KAFKA_V_VALUE((void *)(uintptr_t)value, value ? value_len : 0), /* copied unless handed over */
            RD_KAFKA_V_MSGFLAGS(hand_over ? 0 : RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)(s->ticket << 1 | (hand_over ? HANDED_OVER : 0))),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (!e) {
            s->unacked[s->ticket % TICKETS]++;
            if (s->ctx) sl_ctx_bytes_written(s->ctx, (key ? key_len : 0) + (value ? value_len : 0));
            if (hand_over) sl_buf_init(own); /* librdkafka's now */
            return 0;
        }
        size_t size = (key ? key_len : 0) + (value ? value_len : 0);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && rd_kafka_outq_len(s->rk) == 0 && !s->delivery_failed) {
            /* Nothing queued and still no room: this record alone is larger than the queue. */
            if (h) rd_kafka_headers_destroy(h);
            snprintf(errstr, errsz, "produce to %s: a record of %zu bytes does not fit in the producer's buffer "
                     "(queue.buffering.max.kbytes=%lld); raise producer.override.buffer.memory (bytes) above it",
                     rd_kafka_topic_name(rkt), size, s->queue_kbytes);
            return failed(s, SL_E_SINK_REJECTED);
        }
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !s->delivery_failed) {
            /* Wait for delivery reports to make room, but not forever when the connector is stopping
             * and the broker does not answer: nothing unacknowledged is committed, so giving up loses nothing. */
            if (!full_since) full_since = sl_mono_ms();
            if (!sl_ctx_stopping(s->ctx) || sl_mono_ms() - full_since < STOP_GRACE_MS) {
                rd_kafka_poll(s->rk, 50);
                continue;
            }
        }
        if (s->delivery_failed) e = RD_KAFKA_RESP_ERR__FAIL;
        if (h) rd_kafka_headers_destroy(h);
        if (s->delivery_failed) snprintf(errstr, errsz, "%s", s->delivery_err);
        else snprintf(errstr, errsz, "produce to %s: %s", rd_kafka_topic_name(rkt), rd_kafka_err2str(e));
        return failed(s, s->delivery_failed ? (sl_err_code)s->delivery_code : code_of(e));
    }
}

/* A part's records (format/benc): key and value, two pieces each. Thread: one of the batch's encoding threads. */
static void encode_part(void *arg, const sl_dbz_opts *o, sl_benc_part *p, const sl_record *r) {
    (void)arg;
    sl_dbz_key(o, r, &p->out);
    sl_benc_piece_end(p);
    sl_dbz_value(o, r, &p->out);
    sl_benc_piece_end(p);
}

static bool is_null(const char *p, size_t n) { return n == 4 && memcmp(p, "null", 4) == 0; }

static int write_records(kafka_sink *s, sl_batch *b, bool par, char *errstr, size_t errsz) {
    const sl_dbz_opts *o = sl_ctx_dbz(s->ctx);
    bool tombstones = sl_ctx_core(s->ctx)->tombstones;
    for (int i = 0; i < b->n; i++) {
        const sl_record *r = &b->recs[i];
        rd_kafka_topic_t *rkt;
        if (s->delivery_failed) { /* fail now: the run cannot be committed anyway */
            snprintf(errstr, errsz, "%s", s->delivery_err);
            return failed(s, (sl_err_code)s->delivery_code);
        }
        if (r->table && r->table == s->last_table && r->op != SL_OP_MESSAGE) {
            rkt = s->last_rkt;
        } else {
            const char *topic = sl_dbz_topic(o, r, &s->scratch);
            if (!(rkt = topic_handle(s, topic, errstr, errsz))) return -1;
            /* Held by reference: a freed schema's address may come back for another table. */
            if (s->last_table) sl_table_unref(s->last_table);
            s->last_table = r->op != SL_OP_MESSAGE && r->table ? sl_table_ref(r->table) : NULL;
            s->last_rkt = rkt;
        }
        size_t kn = 0, vn = 0;
        const char *k = par ? sl_benc_piece(&s->enc, i, 0, &kn) : NULL, *v = NULL;
        if (k) {
            v = sl_benc_piece(&s->enc, i, 1, &vn);
        } else {
            sl_buf_reset(&s->key);
            sl_buf_reset(&s->value);
            sl_dbz_key(o, r, &s->key);
            sl_dbz_value(o, r, &s->value);
            k = s->key.data, kn = s->key.len, v = s->value.data, vn = s->value.len;
        }
        if (is_null(k, kn)) k = NULL;
        if (is_null(v, vn)) v = NULL;
        if (produce(s, rkt, k, kn, v, vn, &s->value, r, errstr, errsz) < 0) return -1;
        /* as Debezium's EventDispatcher: every delete, keyed or not, is followed by its tombstone */
        if (tombstones && r->op == SL_OP_DELETE && r->table &&
            produce(s, rkt, k, kn, NULL, 0, NULL, r, errstr, errsz) < 0)
            return -1;
    }
    return 0;
}

static int kafka_write(void *sink, sl_batch *b, char *errstr, size_t errsz) {
    kafka_sink *s = sink;
    if (begin_txn(s, errstr, errsz) < 0) return -1;
    bool par = sl_benc_start(&s->enc, sl_ctx_dbz(s->ctx), b, 2, encode_part, NULL);
    int rc = write_records(s, b, par, errstr, errsz);
    sl_benc_end(&s->enc);
    rd_kafka_poll(s->rk, 0);
    return rc;
}

static int kafka_flush(void *sink, char *errstr, size_t errsz) {
    kafka_sink *s = sink;
    int64_t start = sl_mono_ms();
    while (rd_kafka_outq_len(s->rk) > 0) {
        rd_kafka_flush(s->rk, 500);
        if (s->delivery_failed) break;
        /* Asked to stop while the broker does not answer: give up; nothing is committed, so nothing is lost. */
        if (sl_ctx_stopping(s->ctx) && sl_mono_ms() - start > STOP_GRACE_MS) {
            snprintf(errstr, errsz, "stopping with %d records unacknowledged by the broker (they are sent again "
                                    "on restart)",
                     rd_kafka_outq_len(s->rk));
            return failed(s, SL_E_CANCELLED);
        }
    }
    if (s->delivery_failed) {
        snprintf(errstr, errsz, "%s", s->delivery_err);
        return failed(s, (sl_err_code)s->delivery_code);
    }
    return 0;
}

/* Moves acked past every closed ticket whose records have all been acknowledged. */
static void advance(kafka_sink *s) {
    while (s->acked + 1 < s->ticket && s->unacked[(s->acked + 1) % TICKETS] == 0) s->acked++;
}

static uint64_t kafka_mark(void *sink) {
    kafka_sink *s = sink;
    advance(s);
    if (s->ticket - s->acked >= TICKETS) return 0; /* its slot is still taken: the runtime flushes instead */
    return s->ticket++;
}

static int kafka_acked(void *sink, int wait_ms, uint64_t *ticket, char *errstr, size_t errsz) {
    kafka_sink *s = sink;
    rd_kafka_poll(s->rk, wait_ms);
    if (s->delivery_failed) {
        snprintf(errstr, errsz, "%s", s->delivery_err);
        return failed(s, (sl_err_code)s->delivery_code);
    }
    advance(s);
    *ticket = s->acked;
    return 0;
}

static int kafka_commit(void *sink, const char *partition, const char *offset, char *errstr, size_t errsz) {
    kafka_sink *s = sink;
    if (begin_txn(s, errstr, errsz) < 0) return -1;
    if (offset) {
        sl_buf_reset(&s->key);
        sl_koffsets_key(&s->key, sl_ctx_name(s->ctx), partition);
        sl_buf_reset(&s->value);
        sl_buf_puts(&s->value, offset);
        if (produce(s, s->offsets_rkt, s->key.data, s->key.len, s->value.data, s->value.len, NULL, NULL, errstr,
                    errsz) < 0)
            return -1;
    }
    rd_kafka_error_t *e = rd_kafka_commit_transaction(s->rk, TXN_TIMEOUT_MS);
    if (e) return txn_error(s, e, "kafka sink: commit_transaction", errstr, errsz);
    s->in_txn = false;
    s->committed_ms = sl_mono_ms();
    if (s->delivery_failed) { /* cannot happen after a successful commit, but never hide it */
        snprintf(errstr, errsz, "%s", s->delivery_err);
        return failed(s, (sl_err_code)s->delivery_code);
    }
    return 0;
}

static void kafka_close(void *sink) {
    kafka_sink *s = sink;
    if (!s) return;
    if (s->rk) {
        if (s->in_txn) {
            rd_kafka_error_t *e = rd_kafka_abort_transaction(s->rk, 10000);
            if (e) rd_kafka_error_destroy(e);
        }
        rd_kafka_flush(s->rk, 10000);
    }
    for (size_t i = 0; i < s->cap; i++)
        if (s->topics[i].name) {
            sl_free(s->topics[i].name);
            rd_kafka_topic_destroy(s->topics[i].rkt);
        }
    if (s->offsets_rkt) rd_kafka_topic_destroy(s->offsets_rkt);
    if (s->last_table) sl_table_unref(s->last_table);
    if (s->rk) sl_kafka_forget(s->rk), rd_kafka_destroy(s->rk);
    sl_free(s->topics);
    sl_buf_free(&s->key);
    sl_buf_free(&s->value);
    sl_buf_free(&s->scratch);
    sl_benc_free(&s->enc);
    sl_free(s);
}

const sl_sink_ops sl_kafka_sink_ops = {
    "kafka",
    "io.sluice.sink.KafkaSink",
    "Produces Debezium change events to Kafka topics (idempotent; transactional with exactly.once.support).",
    kafka_props,
    sizeof(kafka_conf),
    kafka_check,
    kafka_open,
    kafka_write,
    kafka_flush,
    kafka_close,
    kafka_commit,
    .produces_kafka = true,
    .accepts_binary = true,
    .mark = kafka_mark,
    .acked = kafka_acked};
