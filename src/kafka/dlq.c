/* Dead letter queue writer (see dlq.h). */
#include "kafka/dlq.h"
#include "core/log.h"
#include "kafka/kclient.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define RETRY_DELAY_MIN_MS 300      /* Connect's RetryWithToleranceOperator */
#define METADATA_TIMEOUT_MS 15000
#define CLOSE_FLUSH_MS 5000

struct sl_kafka_dlq {
    rd_kafka_t *rk;
    bool (*stopping)(const void *arg); /* the caller's stop flag (NULL: never) */
    const void *stopping_arg;
    sl_kafka_dlq_opts o;        /* strings owned */
    /* Delivery report of the one record in flight. A report whose id is not
     * `waiting` belongs to a send that was abandoned at shutdown. */
    uintptr_t next_id, waiting;
    bool done;
    rd_kafka_resp_err_t err;
};

static bool caller_stops(const sl_kafka_dlq *d) { return d->stopping && d->stopping(d->stopping_arg); }

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    sl_kafka_dlq *d = opaque;
    if ((uintptr_t)m->_private != d->waiting) return;
    d->done = true;
    d->err = m->err;
}

/*
 * Waits before attempt number `attempt` (1-based) of an operation that
 * started at started_ms. False when the retry budget is spent or the
 * connector is stopping.
 */
static bool retry_wait(const sl_kafka_dlq *d, int64_t started_ms, int attempt) {
    if (d->o.retry_timeout_ms == 0 || caller_stops(d)) return false;
    int shift = attempt - 1 < 20 ? attempt - 1 : 20;
    int64_t delay = (int64_t)RETRY_DELAY_MIN_MS << shift;
    if (delay > d->o.retry_delay_max_ms) delay = d->o.retry_delay_max_ms;
    if (d->o.retry_timeout_ms > 0) {
        int64_t left = started_ms + d->o.retry_timeout_ms - sl_mono_ms();
        if (left <= 0) return false;
        if (delay > left) delay = left;
    }
    for (int64_t end = sl_mono_ms() + delay; sl_mono_ms() < end && !caller_stops(d);)
        sl_sleep_ms(end - sl_mono_ms() < 50 ? end - sl_mono_ms() : 50, NULL);
    return !caller_stops(d);
}

/* Creates the topic (one partition, like Connect); "already exists" is success. */
static int create_topic(sl_kafka_dlq *d, int rf, char *errstr, size_t errsz) {
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(d->o.topic, 1, rf, err, sizeof err);
    if (!nt) {
        snprintf(errstr, errsz, "errors.deadletterqueue.topic.name %s: %s", d->o.topic, err);
        return -1;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(d->rk);
    rd_kafka_CreateTopics(d->rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, METADATA_TIMEOUT_MS + 5000);
    rd_kafka_resp_err_t e = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
    const char *msg = ev && e ? rd_kafka_event_error_string(ev) : rd_kafka_err2str(e);
    const rd_kafka_CreateTopics_result_t *res = ev && !e ? rd_kafka_event_CreateTopics_result(ev) : NULL;
    if (res) {
        size_t n = 0;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
        if (n == 1 && rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            e = rd_kafka_topic_result_error(tr[0]);
            msg = e ? rd_kafka_topic_result_error_string(tr[0]) : "";
        }
    }
    if (e) snprintf(errstr, errsz, "errors.deadletterqueue.topic.name %s: cannot create the topic: %s", d->o.topic,
                    msg ? msg : rd_kafka_err2str(e));
    else SL_INFO("kafka", "created dead letter queue topic=%s replication.factor=%d", d->o.topic, rf);
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return e ? -1 : 0;
}

/* Lists the cluster's topics (as Connect does) and creates the DLQ topic if missing. */
static int ensure_topic(sl_kafka_dlq *d, char *errstr, size_t errsz) {
    const struct rd_kafka_metadata *md = NULL;
    int64_t started = sl_mono_ms();
    rd_kafka_resp_err_t e;
    for (int attempt = 1; (e = rd_kafka_metadata(d->rk, 1, NULL, &md, METADATA_TIMEOUT_MS)); attempt++)
        if (!retry_wait(d, started, attempt)) {
            snprintf(errstr, errsz, "errors.deadletterqueue.topic.name %s: cannot list the cluster's topics: %s",
                     d->o.topic, rd_kafka_err2str(e));
            return -1;
        }
    bool exists = false;
    for (int i = 0; i < md->topic_cnt && !exists; i++)
        exists = strcmp(md->topics[i].topic, d->o.topic) == 0 && md->topics[i].err == 0;
    int brokers = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    if (exists) return 0;
    int64_t rf = d->o.replication_factor;
    if (rf > brokers && brokers > 0) {
        SL_WARN("kafka", "errors.deadletterqueue.topic.replication.factor=%" PRId64 " but the cluster has %d "
                "broker(s): creating topic=%s with replication factor %d", rf, brokers, d->o.topic, brokers);
        rf = brokers;
    }
    return create_topic(d, (int)rf, errstr, errsz);
}

sl_kafka_dlq *sl_kafka_dlq_open(rd_kafka_conf_t *conf, const sl_kafka_dlq_opts *o, bool (*stopping)(const void *arg),
                                const void *stopping_arg,
                                char *errstr, size_t errsz) {
    char err[512];
    /* A copy, so that conf stays the caller's until this succeeds. */
    rd_kafka_conf_t *mine = rd_kafka_conf_dup(conf);
    /* Set last, so that no override weakens them: a DLQ record must not be lost or doubled by retries. */
    if (sl_kafka_conf_set(mine, "enable.idempotence", "true", err, sizeof err) < 0 ||
        sl_kafka_conf_set(mine, "acks", "all", err, sizeof err) < 0) {
        snprintf(errstr, errsz, "dead letter queue producer: %s", err);
        rd_kafka_conf_destroy(mine);
        return NULL;
    }
    sl_kafka_dlq *d = sl_calloc(1, sizeof *d);
    d->stopping = stopping;
    d->stopping_arg = stopping_arg;
    d->o = *o;
    d->o.topic = sl_strdup(o->topic);
    d->o.connector = sl_strdup(o->connector ? o->connector : "");
    d->next_id = 1;
    rd_kafka_conf_set_opaque(mine, d);
    rd_kafka_conf_set_dr_msg_cb(mine, dr_cb);
    sl_kafka_conf_logging(mine, "dlq");
    if (!(d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, mine, err, sizeof err))) {
        rd_kafka_conf_destroy(mine);
        snprintf(errstr, errsz, "dead letter queue producer: %s", err);
        goto fail;
    }
    if (ensure_topic(d, errstr, errsz) < 0) goto fail;
    SL_INFO("kafka", "dead letter queue topic=%s context.headers=%s", d->o.topic,
            d->o.context_headers ? "true" : "false");
    rd_kafka_conf_destroy(conf);
    return d;
fail:
    sl_kafka_dlq_close(d);
    return NULL;
}

static void add_header(rd_kafka_headers_t *h, const char *name, const char *value) {
    rd_kafka_header_add(h, name, -1, value, -1);
}

static rd_kafka_headers_t *make_headers(const sl_kafka_dlq *d, const sl_kafka_dlq_rec *rec, const char *stage,
                                        const char *class_name, const char *reason) {
    rd_kafka_headers_t *h = rec->headers ? rd_kafka_headers_copy(rec->headers) : rd_kafka_headers_new(10);
    if (!d->o.context_headers) return h;
    char num[32];
    add_header(h, "__connect.errors.topic", rec->topic);
    snprintf(num, sizeof num, "%d", (int)rec->partition);
    add_header(h, "__connect.errors.partition", num);
    snprintf(num, sizeof num, "%" PRId64, rec->offset);
    add_header(h, "__connect.errors.offset", num);
    add_header(h, "__connect.errors.connector.name", d->o.connector);
    add_header(h, "__connect.errors.task.id", "0");
    add_header(h, "__connect.errors.stage", stage);
    add_header(h, "__connect.errors.class.name", class_name);
    const char *exc = rec->exception ? rec->exception : "org.apache.kafka.connect.errors.DataException";
    add_header(h, "__connect.errors.exception.class.name", exc);
    add_header(h, "__connect.errors.exception.message", reason);
    /* There is no Java stack: a trace-shaped text naming the exception, the stage and the class. */
    size_t n = strlen(exc) + strlen(reason) + strlen(stage) + strlen(class_name) + 64;
    char *trace = sl_malloc(n);
    snprintf(trace, n, "%s: %s\n\tat sluice %s (%s)\n", exc, reason, stage, class_name);
    add_header(h, "__connect.errors.exception.stacktrace", trace);
    sl_free(trace);
    return h;
}

/* One produce + wait for its delivery report. Returns the delivery error. */
static rd_kafka_resp_err_t produce_once(sl_kafka_dlq *d, const sl_kafka_dlq_rec *rec, rd_kafka_headers_t *h) {
    uintptr_t id = d->next_id++;
    rd_kafka_resp_err_t e;
    for (;;) {
        e = rd_kafka_producev(d->rk, RD_KAFKA_V_TOPIC(d->o.topic),
                              RD_KAFKA_V_KEY((void *)rec->key, rec->key ? rec->key_len : 0),
                              RD_KAFKA_V_VALUE((void *)rec->value, rec->value ? rec->value_len : 0),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                              RD_KAFKA_V_TIMESTAMP(rec->ts_ms > 0 ? rec->ts_ms : 0),
                              RD_KAFKA_V_OPAQUE((void *)id), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
        rd_kafka_poll(d->rk, 100);
    }
    if (e) {
        rd_kafka_headers_destroy(h); /* not taken over on failure */
        return e;
    }
    d->waiting = id;
    d->done = false;
    while (!d->done) {
        rd_kafka_poll(d->rk, 100);
        if (!d->done && caller_stops(d)) {
            d->waiting = 0; /* abandoned: close() gives it a moment, a restart sends it again */
            return RD_KAFKA_RESP_ERR__DESTROY;
        }
    }
    d->waiting = 0;
    return d->err;
}

int sl_kafka_dlq_send(sl_kafka_dlq *d, const sl_kafka_dlq_rec *rec, const char *stage, const char *class_name,
                      const char *reason, char *errstr, size_t errsz) {
    int64_t started = sl_mono_ms();
    for (int attempt = 1;; attempt++) {
        rd_kafka_resp_err_t e = produce_once(d, rec, make_headers(d, rec, stage, class_name, reason));
        if (!e) return 0;
        bool permanent = e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
                         e == RD_KAFKA_RESP_ERR__DESTROY;
        SL_WARN("kafka", "dead letter queue: cannot produce topic=%s record=%s/%d/%" PRId64 " attempt=%d error=%s",
                d->o.topic, rec->topic, (int)rec->partition, rec->offset, attempt, rd_kafka_err2str(e));
        if (permanent || !retry_wait(d, started, attempt)) {
            snprintf(errstr, errsz, "dead letter queue topic %s: record %s/%d/%" PRId64 " not delivered: %s%s",
                     d->o.topic, rec->topic, (int)rec->partition, rec->offset, rd_kafka_err2str(e),
                     permanent || caller_stops(d) ? "" : " (errors.retry.timeout exhausted)");
            return -1;
        }
    }
}

void sl_kafka_dlq_close(sl_kafka_dlq *d) {
    if (!d) return;
    if (d->rk) {
        rd_kafka_flush(d->rk, CLOSE_FLUSH_MS);
        sl_kafka_forget(d->rk);
        rd_kafka_destroy(d->rk);
    }
    sl_free((char *)d->o.topic);
    sl_free((char *)d->o.connector);
    sl_free(d);
}
