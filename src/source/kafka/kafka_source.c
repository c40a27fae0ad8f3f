/*
 * Kafka source: a consumer group member that feeds any sluice sink, as
 * Kafka Connect's runtime feeds a sink connector.
 *
 * open():  builds the consumer (manual commits, cooperative-sticky
 *          assignment, read_committed, earliest), checks that the cluster
 *          answers, opens the dead letter queue writer (dlq.c) and
 *          subscribes to `topics` or `topics.regex`.
 * run():   polls messages into batches (up to max.batch.size, or what came
 *          within poll.interval.ms). Each message becomes a pre-encoded
 *          record (sl_raw): key and value converted to JSON text by
 *          kconvert.c, headers as strings, op from a Debezium envelope.
 *          A record that cannot be converted stops the connector, or with
 *          errors.tolerance=all is skipped (logged, sent to the DLQ).
 * Offsets: the group's committed offsets are the position. Each batch gets
 *          an offset_seq; ktrack.c remembers the offsets each batch covers,
 *          and a Kafka commit (synchronous, explicit offsets) includes only
 *          batches whose seq the runtime reported durable and stored
 *          (sl_ctx_committed_seq), checked on every loop iteration. The
 *          offset JSON stored locally, {"<topic>/<partition>": next, ...},
 *          is informational. A revoked partition gets its acked offsets
 *          committed and is forgotten; records of it still queued may be
 *          delivered again by its new owner (at-least-once).
 * close(): commits what the runtime stored last, leaves the group.
 *
 * Thread: everything runs on the source thread; librdkafka calls the
 * rebalance callback from rd_kafka_consumer_poll / rd_kafka_consumer_close
 * on that thread too. The fetch waker (kclient.h) has a thread of its own
 * that only sends watermark requests.
 */
#include "ctx/ctx.h"
#include "core/log.h"
#include "kafka/kclient.h"
#include "kafka/dlq.h"
#include "source/kafka/kconvert.h"
#include "source/kafka/ktrack.h"
#include "util/buf.h"
#include "util/jcheck.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <jansson.h>
#include <inttypes.h>
#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define POLL_MS 100             /* longest wait in one poll: bounds how late a commit or a stop is seen */
#define PROBE_TIMEOUT_MS 15000  /* open(): how long the cluster has to answer */
#define LOG_MESSAGE_MAX 1024    /* errors.log.include.messages: bytes of key / value shown */
#define ERROR_LOG_EVERY_MS 10000
#define COMMIT_HOLD_MAX_MS 30000 /* longest pause of regular commits around a rebalance */

typedef struct ks_conf {
    char *topics, *topics_regex, *group_id;
    int key_conv, value_conv;    /* index into SL_KCONV_NAMES */
} ks_conf;

#define F(x) offsetof(ks_conf, x)
/* bootstrap.servers and the security keys are the connector's (sl_core_conf.kafka), shared with the
 * Kafka sink and offset store; so are errors.tolerance and the dead letter queue keys (sl_core_conf). */
static const sl_prop ks_props[] = {
    {"topics", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(topics),
     "Comma-separated topics to consume. Set this or topics.regex, not both."},
    {"topics.regex", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(topics_regex),
     "Regular expression of the topics to consume (whole names; topics created later are picked up). Set this "
     "or topics, not both."},
    {"group.id", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(group_id),
     "Consumer group; its committed offsets are the source's position. Default connect-<connector name>, the "
     "group Kafka Connect gives a sink connector."},
    {"key.converter", SL_PT_ENUM, "org.apache.kafka.connect.json.JsonConverter", SL_KCONV_NAMES, 0, 0, 0,
     F(key_conv),
     "How message keys are read: JSON (with {schema, payload} when key.converter.schemas.enable), a string, or "
     "bytes (passed on as base64)."},
    {"value.converter", SL_PT_ENUM, "org.apache.kafka.connect.json.JsonConverter", SL_KCONV_NAMES, 0, 0, 0,
     F(value_conv),
     "How message values are read: JSON (with {schema, payload} when value.converter.schemas.enable), a "
     "string, or bytes (passed on as base64)."},
    {NULL}};
#undef F

/* ---- configuration checks (no I/O) ---- */

/* Next comma-separated item of *p, whitespace trimmed, into out; false at the end. */
static bool next_item(const char **p, char *out, size_t outsz) {
    while (**p == ',' || **p == ' ' || **p == '\t') (*p)++;
    if (!**p) return false;
    const char *e = strchr(*p, ',');
    size_t n = e ? (size_t)(e - *p) : strlen(*p);
    while (n && ((*p)[n - 1] == ' ' || (*p)[n - 1] == '\t')) n--;
    snprintf(out, outsz, "%.*s", (int)n, *p);
    *p = e ? e : *p + strlen(*p);
    return true;
}

static bool blank(const char *s) { return !s || !*s; }

/* The regex as librdkafka subscribes to it: anchored at both ends, as Java's Pattern.matches. */
static char *anchored_regex(const char *re) {
    if (*re == '^') re++;
    size_t n = strlen(re);
    if (n && re[n - 1] == '$' && (n < 2 || re[n - 2] != '\\')) n--;
    size_t sz = n + 5;
    char *out = sl_malloc(sz);
    snprintf(out, sz, "^(%.*s)$", (int)n, re);
    return out;
}

static void check_topics(ks_conf *cf, sl_errs *errs) {
    bool t = !blank(cf->topics), r = !blank(cf->topics_regex);
    if (t == r) {
        sl_errs_add(errs, "topics, topics.regex: %s (topics: a comma-separated list of topic names; "
                    "topics.regex: a regular expression of topic names)",
                    t ? "both are set; set only one of them" : "neither is set; set exactly one of them");
        return;
    }
    char item[512];
    int n = 0;
    for (const char *p = cf->topics; t && next_item(&p, item, sizeof item); n++)
        if (!sl_kafka_topic_legal(item))
            sl_errs_add(errs, "topics: '%s' is not a valid topic name (1-249 characters of a-z, A-Z, 0-9, '.', "
                        "'_', '-')", item);
    if (t && n == 0) sl_errs_add(errs, "topics: '%s' names no topic", cf->topics);
    regex_t rx;
    char *anchored = r ? anchored_regex(cf->topics_regex) : NULL;
    if (r && regcomp(&rx, anchored, REG_EXTENDED | REG_NOSUB) != 0)
        sl_errs_add(errs, "topics.regex: '%s' is not a valid regular expression", cf->topics_regex);
    else if (r)
        regfree(&rx);
    sl_free(anchored);
}

/* Would the connector consume its own dead letter queue? */
static bool dlq_is_input(const ks_conf *cf, const char *dlq) {
    if (!blank(cf->topics)) return sl_list_has(cf->topics, dlq);
    if (blank(cf->topics_regex)) return false;
    regex_t rx;
    char *anchored = anchored_regex(cf->topics_regex);
    bool hit = false;
    if (regcomp(&rx, anchored, REG_EXTENDED | REG_NOSUB) == 0) {
        hit = regexec(&rx, dlq, 0, NULL, 0) == 0;
        regfree(&rx);
    }
    sl_free(anchored);
    return hit;
}

/* Overrides that would break the delivery contract. */
static void check_overrides(sl_config *cfg, sl_errs *errs) {
    static const char *const fixed[] = {"enable.auto.commit", "enable.auto.offset.store", "group.id"};
    char key[128];
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        snprintf(key, sizeof key, "consumer.override.%s", fixed[i]);
        if (sl_config_get(cfg, key))
            sl_errs_add(errs, "%s: cannot be overridden: %s", key,
                        i == 2 ? "set group.id instead"
                               : "sluice commits offsets itself, only after the sink made the records durable");
    }
}

static void ks_check(void *settings, sl_config *cfg, sl_errs *errs) {
    ks_conf *cf = settings;
    check_topics(cf, errs);
    if (cf->group_id && !*cf->group_id) sl_errs_add(errs, "group.id: must not be empty (leave it out for the default)");
    const char *dlq = sl_config_get(cfg, "errors.deadletterqueue.topic.name");
    if (!blank(dlq) && dlq_is_input(cf, dlq))
        sl_errs_add(errs, "errors.deadletterqueue.topic.name: '%s' is also consumed by this connector (%s); "
                    "a failed record would come back forever", dlq, blank(cf->topics) ? "topics.regex" : "topics");
    /* The connector checks bootstrap.servers, security and the dead letter queue; here the consumer's keys. */
    sl_kafka_client_check(NULL, cfg, "consumer.override.", "source", errs);
    check_overrides(cfg, errs);
}

/* ---- the source ---- */

typedef struct kafka_source {
    ks_conf *cf;
    sl_ctx *ctx;
    rd_kafka_t *rk;
    sl_kafka_waker *waker; /* refills the prefetch queue as the source reads it (kclient.h) */
    sl_kafka_dlq *dlq;
    sl_ktrack *track;
    char *group;
    sl_kconv_kind key_kind, value_kind;
    bool key_schemas, value_schemas;
    sl_batch *batch;
    int64_t batch_started;   /* mono ms when the batch got its first record or note; 0: empty */
    const char *batch_topic; /* last topic name copied into the batch arena */
    uint64_t seq;            /* offset_seq of the last batch handed on */
    uint64_t seen_seq;       /* sl_ctx_committed_seq when last looked at */
    bool commit_failed;
    int64_t commit_next_ms, commit_backoff_ms;
    int hold_assigns;        /* rebalance callbacks (ASSIGN) still due before regular commits resume */
    int64_t hold_until_ms;
    bool failed;
    int last_err;
    int64_t last_err_ms;
    uint64_t skipped;
    sl_buf kb, vb, scratch, offset_json;
    sl_kconv_memo vmemo; /* the last value's schema text (kconvert.h) */
} kafka_source;

static void fail(kafka_source *s, sl_err_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(kafka_source *s, sl_err_code code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->failed = true;
    sl_ctx_fail_code(s->ctx, code, "%s", msg);
}

/* Commits the acked offsets (of the partitions in `only`, or all). */
static void commit_acked(kafka_source *s, const rd_kafka_topic_partition_list_t *only) {
    if (sl_ktrack_ack(s->track, sl_ctx_committed_seq(s->ctx)) == 0) {
        s->commit_failed = false;
        return;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; i < sl_ktrack_count(s->track); i++) {
        sl_ktp *p = sl_ktrack_at(s->track, i);
        if (p->acked <= p->committed) continue;
        if (only && !rd_kafka_topic_partition_list_find(only, p->topic, p->partition)) continue;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->acked;
    }
    rd_kafka_resp_err_t e = l->cnt ? rd_kafka_commit(s->rk, l, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!e) {
        for (int i = 0; i < l->cnt; i++) {
            sl_ktp *p = sl_ktrack_find(s->track, l->elems[i].topic, l->elems[i].partition);
            if (p) p->committed = l->elems[i].offset;
        }
        if (l->cnt) SL_DEBUG("kafka", "committed offsets of %d partition(s) group=%s", l->cnt, s->group);
        s->commit_failed = false;
        s->commit_backoff_ms = 0;
    } else {
        /* Not fatal: commits are cumulative, the next one covers these offsets too. */
        s->commit_backoff_ms = s->commit_backoff_ms ? s->commit_backoff_ms * 2 : 300;
        int64_t max = sl_ctx_core(s->ctx)->err_retry_delay_max_ms;
        if (s->commit_backoff_ms > max) s->commit_backoff_ms = max;
        s->commit_next_ms = sl_mono_ms() + s->commit_backoff_ms;
        s->commit_failed = true;
        SL_WARN("kafka", "offset commit failed group=%s partitions=%d error=%s retry_in_ms=%" PRId64, s->group,
                l->cnt, rd_kafka_err2str(e), s->commit_backoff_ms);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Every loop iteration: commit when the runtime stored more, or again after a failure. */
static void maybe_commit(kafka_source *s) {
    uint64_t cs = sl_ctx_committed_seq(s->ctx);
    if (cs == s->seen_seq && !s->commit_failed) return;
    if (s->hold_assigns > 0 && sl_mono_ms() < s->hold_until_ms) return;
    s->hold_assigns = 0;
    if (s->commit_failed && sl_mono_ms() < s->commit_next_ms) return;
    s->seen_seq = cs;
    commit_acked(s, NULL);
}

static void log_parts(const char *what, const rd_kafka_topic_partition_list_t *parts, const char *group) {
    sl_buf b;
    sl_buf_init(&b);
    for (int i = 0; i < parts->cnt && i < 64; i++)
        sl_buf_printf(&b, "%s%s/%d", i ? "," : "", parts->elems[i].topic, (int)parts->elems[i].partition);
    if (parts->cnt > 64) sl_buf_printf(&b, ",... (%d in all)", parts->cnt);
    SL_INFO("kafka", "%s group=%s partitions=%s", what, group, b.len ? sl_buf_cstr(&b) : "(none)");
    sl_buf_free(&b);
}

/* offset.storage=target: the sink's target holds the positions, written with the rows; reading starts there,
 * not at the group's committed offsets (which follow later and may be behind). */
static void seek_stored(kafka_source *s, rd_kafka_topic_partition_list_t *parts) {
    const char *stored = sl_ctx_stored_offset(s->ctx);
    json_t *o = stored ? json_loads(stored, 0, NULL) : NULL;
    char key[512];
    for (int i = 0; o && i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        snprintf(key, sizeof key, "%s/%d", p->topic, (int)p->partition);
        json_t *v = json_object_get(o, key);
        if (!json_is_integer(v) || json_integer_value(v) < 0) continue;
        p->offset = json_integer_value(v);
        sl_ktrack_set_last(s->track, p->topic, p->partition, p->offset);
        SL_INFO("kafka", "partition %s starts at offset %" PRId64 " (stored in the sink's target)", key, p->offset);
    }
    json_decref(o);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
    kafka_source *s = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t re = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* Reading starts at the group's committed offset: nothing noted before counts. */
        for (int i = 0; i < parts->cnt; i++) sl_ktrack_forget(s->track, parts->elems[i].topic, parts->elems[i].partition);
        if (sl_ctx_offsets_in_sink(s->ctx)) seek_stored(s, parts);
        log_parts("assigned", parts, s->group);
        if (s->hold_assigns > 0) s->hold_assigns--;
        if (coop) e = rd_kafka_incremental_assign(rk, parts);
        else re = rd_kafka_assign(rk, parts);
    } else {
        bool lost = rd_kafka_assignment_lost(rk);
        /* What is durable is committed while the partitions are still ours; records of them still
         * queued are not, and the next owner reads them again (at-least-once). */
        if (!lost && err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) commit_acked(s, parts);
        for (int i = 0; i < parts->cnt; i++) sl_ktrack_forget(s->track, parts->elems[i].topic, parts->elems[i].partition);
        log_parts(lost ? "lost" : "revoked", parts, s->group);
        /*
         * librdkafka before 2.10 (issue #4059) drops the whole assignment when a commit meets
         * ILLEGAL_GENERATION while the group rejoins, which it does right after a revocation:
         * the ASSIGN that follows this revoke, the rejoin, then the next generation's ASSIGN.
         * Regular commits wait for those (they are cumulative: nothing is lost by waiting).
         */
        s->hold_assigns = coop && !lost ? 2 : 1;
        s->hold_until_ms = sl_mono_ms() + COMMIT_HOLD_MAX_MS;
        if (coop) e = rd_kafka_incremental_unassign(rk, parts);
        else re = rd_kafka_assign(rk, NULL);
    }
    if (e) {
        SL_ERR("kafka", "rebalance group=%s: %s", s->group, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (re) {
        SL_ERR("kafka", "rebalance group=%s: %s", s->group, rd_kafka_err2str(re));
    }
}

/* The offset_seq of the next batch: a counter that never falls below the monotonic clock in µs, so
 * that a source reopened in the same process cannot reuse the seq of a batch still queued. */
static uint64_t next_seq(kafka_source *s) {
    uint64_t floor = (uint64_t)sl_mono_ms() * 1000;
    s->seq = s->seq + 1 > floor ? s->seq + 1 : floor;
    return s->seq;
}

static bool batch_has_content(const kafka_source *s) { return s->batch->n > 0 || !sl_ktrack_open_empty(s->track); }

/* Hands the batch being filled to the sink, with the offsets it covers. */
static int emit_batch(kafka_source *s) {
    if (!batch_has_content(s)) return 0;
    uint64_t seq = next_seq(s);
    sl_buf_reset(&s->offset_json);
    sl_ktrack_seal(s->track, seq, &s->offset_json);
    if (sl_ctx_offsets_in_sink(s->ctx)) { /* the stored offset is where to resume: every partition's position */
        sl_buf_reset(&s->offset_json);
        sl_ktrack_positions(s->track, &s->offset_json);
    }
    sl_batch *b = s->batch;
    sl_batch_set_offset(b, sl_buf_cstr(&s->offset_json), seq);
    s->batch = sl_batch_new();
    s->batch_started = 0;
    s->batch_topic = NULL;
    return sl_ctx_emit(s->ctx, b);
}

/* The topic name in the batch arena, copied once per run of records of one topic. */
static const char *batch_topic(kafka_source *s, const char *name) {
    if (!s->batch_topic || strcmp(s->batch_topic, name) != 0)
        s->batch_topic = sl_arena_strndup(&s->batch->arena, name, strlen(name));
    return s->batch_topic;
}

static const char *arena_utf8(kafka_source *s, const void *p, size_t n, uint32_t *len_out) {
    sl_buf_reset(&s->scratch);
    sl_kconv_put_utf8(&s->scratch, p, n);
    if (len_out) *len_out = (uint32_t)s->scratch.len;
    return sl_arena_strndup(&s->batch->arena, s->scratch.data ? s->scratch.data : "", s->scratch.len);
}

/* Kafka headers -> sl_header (string values, as Connect's SimpleHeaderConverter reads text). */
static void add_headers(kafka_source *s, sl_record *r, const rd_kafka_message_t *m) {
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h || rd_kafka_header_cnt(h) == 0) return;
    size_t n = rd_kafka_header_cnt(h);
    r->headers = sl_arena_alloc(&s->batch->arena, n * sizeof *r->headers);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const void *val;
        size_t len;
        if (rd_kafka_header_get_all(h, i, &name, &val, &len) != RD_KAFKA_RESP_ERR_NO_ERROR) break;
        sl_header *x = &r->headers[r->nheaders++];
        memset(x, 0, sizeof *x);
        x->key = arena_utf8(s, name, strlen(name), NULL);
        if (val) x->value = arena_utf8(s, val, len, &x->value_len);
    }
}

static int64_t message_ts(const rd_kafka_message_t *m) {
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    return tt == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts;
}

static void add_record(kafka_source *s, const rd_kafka_message_t *m, const char *topic, sl_op op,
                       const sl_kconv_parts *parts) {
    sl_arena *a = &s->batch->arena;
    sl_raw *raw = sl_arena_alloc(a, sizeof *raw);
    memset(raw, 0, sizeof *raw);
    raw->topic = batch_topic(s, topic);
    raw->partition = m->partition;
    raw->offset = m->offset;
    raw->ts_ms = message_ts(m);
    if (m->key) {
        raw->key = sl_arena_strndup(a, s->kb.data ? s->kb.data : "", s->kb.len);
        raw->key_len = (uint32_t)s->kb.len;
    }
    if (m->payload) {
        raw->value = sl_arena_strndup(a, s->vb.data ? s->vb.data : "", s->vb.len);
        raw->value_len = (uint32_t)s->vb.len;
        raw->value_schema_at = parts->schema_at, raw->value_schema_len = parts->schema_len;
        raw->value_payload_at = parts->payload_at, raw->value_payload_len = parts->payload_len;
    }
    sl_record *r = sl_batch_add(s->batch, NULL);
    r->op = op;
    r->raw = raw;
    r->ts_us = raw->ts_ms >= 0 ? raw->ts_ms * 1000 : 0;
    add_headers(s, r, m);
    if (sl_log_enabled(SL_LOG_TRACE))
        sl_log(SL_LOG_TRACE, "kafka", "record topic=%s partition=%d offset=%" PRId64 " op=%c", topic,
               (int)m->partition, m->offset, (char)op);
}

/* "key=... value=..." of a failed record for the error log: JSON strings of its text, cut at LOG_MESSAGE_MAX. */
static void describe_message(kafka_source *s, const rd_kafka_message_t *m, sl_buf *out) {
    const void *parts[2] = {m->key, m->payload};
    size_t lens[2] = {m->key_len, m->len};
    for (int i = 0; i < 2; i++) {
        sl_buf_puts(out, i ? " value=" : " key=");
        if (!parts[i]) {
            sl_buf_puts(out, "null");
            continue;
        }
        sl_buf_reset(&s->scratch);
        sl_kconv_put_utf8(&s->scratch, parts[i], lens[i] < LOG_MESSAGE_MAX ? lens[i] : LOG_MESSAGE_MAX);
        sl_buf_put_json_str(out, s->scratch.data ? s->scratch.data : "", s->scratch.len);
        if (lens[i] > LOG_MESSAGE_MAX) sl_buf_printf(out, "(%zu bytes in all)", lens[i]);
    }
}

/*
 * A record the converter rejected, as Connect's RetryWithToleranceOperator
 * handles a DataException (not retriable): fail, or skip it, log it and send
 * it to the DLQ. A skipped record's offset is committed with the next batch,
 * after the DLQ acknowledged it. Returns 0 (skipped) or -1 (stop).
 */
static int record_error(kafka_source *s, const rd_kafka_message_t *m, const char *topic, const char *stage,
                        sl_kconv_kind kind, const char *why) {
    const char *cls = sl_kconv_class(kind);
    const sl_core_conf *core = sl_ctx_core(s->ctx);
    if (core->err_tolerance == SL_TOL_NONE) {
        fail(s, SL_E_PROTOCOL, "kafka source: %s failed for the record at topic=%s partition=%d offset=%" PRId64 " (%s): %s "
             "(errors.tolerance=none stops the connector; errors.tolerance=all skips such records)",
             stage, topic, (int)m->partition, m->offset, cls, why);
        return -1;
    }
    sl_buf msg; /* a skipped record is always logged; errors.log.include.messages adds its key and value */
    sl_buf_init(&msg);
    if (core->err_log_messages) describe_message(s, m, &msg);
    SL_ERR("kafka", "skipping record topic=%s partition=%d offset=%" PRId64 " stage=%s class=%s error=%s%s", topic,
           (int)m->partition, m->offset, stage, cls, why, msg.len ? sl_buf_cstr(&msg) : "");
    sl_buf_free(&msg);
    if (s->dlq) {
        rd_kafka_headers_t *h = NULL;
        rd_kafka_message_headers(m, &h);
        sl_kafka_dlq_rec rec = {topic, m->partition, m->offset, message_ts(m), m->key, m->key_len,
                                m->payload, m->len, h};
        char err[1024];
        if (sl_kafka_dlq_send(s->dlq, &rec, stage, cls, why, err, sizeof err) < 0) {
            if (!sl_ctx_stopping(s->ctx)) fail(s, SL_E_SINK_UNAVAILABLE, "kafka source: %s", err);
            return -1; /* when stopping: not noted, so read (and sent) again after a restart */
        }
    }
    s->skipped++;
    sl_ctx_record_failed(s->ctx, s->dlq != NULL);
    sl_ktrack_note(s->track, topic, m->partition, m->offset);
    return 0;
}

static int on_message(kafka_source *s, const rd_kafka_message_t *m) {
    const char *topic = rd_kafka_topic_name(m->rkt);
    char why[1024];
    sl_op op = SL_OP_DELETE; /* a null value: tombstone */
    sl_buf_reset(&s->kb);
    sl_buf_reset(&s->vb);
    /* Key first, then value: the order of Connect's stages. */
    if (m->key && sl_kconv_convert(s->key_kind, s->key_schemas, m->key, m->key_len, &s->kb, NULL, why, sizeof why) < 0)
        return record_error(s, m, topic, "KEY_CONVERTER", s->key_kind, why);
    sl_kconv_parts parts = {0};
    if (m->payload && sl_kconv_convert_memo(s->value_kind, s->value_schemas, m->payload, m->len, &s->vb, &op, &parts,
                                            &s->vmemo, why, sizeof why) < 0)
        return record_error(s, m, topic, "VALUE_CONVERTER", s->value_kind, why);
    add_record(s, m, topic, op, &parts);
    sl_ktrack_note(s->track, topic, m->partition, m->offset);
    return 0;
}

/* Errors the consumer reports in place of a message. librdkafka retries on its own; only a fatal one stops. */
static int on_consumer_error(kafka_source *s, const rd_kafka_message_t *m) {
    char fatal[512];
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return 0;
    if (m->err == RD_KAFKA_RESP_ERR__FATAL && rd_kafka_fatal_error(s->rk, fatal, sizeof fatal)) {
        fail(s, SL_E_PROTOCOL, "kafka source: fatal consumer error in group %s: %s", s->group, fatal);
        return -1;
    }
    int64_t now = sl_mono_ms();
    if ((int)m->err != s->last_err || now - s->last_err_ms >= ERROR_LOG_EVERY_MS) {
        SL_WARN("kafka", "consumer error group=%s%s%s error=%s", s->group, m->rkt ? " topic=" : "",
                m->rkt ? rd_kafka_topic_name(m->rkt) : "", rd_kafka_message_errstr(m));
        s->last_err = (int)m->err;
        s->last_err_ms = now;
    }
    return 0;
}

/* Consumer lag (records behind the end of the assigned partitions), from librdkafka's cached
 * watermarks and positions: no request to the broker. */
static void report_lag(kafka_source *s) {
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(s->rk, &parts) || !parts) return;
    int64_t behind = 0;
    if (parts->cnt && !rd_kafka_position(s->rk, parts)) {
        for (int i = 0; i < parts->cnt; i++) {
            int64_t lo = 0, hi = 0;
            rd_kafka_topic_partition_t *p = &parts->elems[i];
            if (rd_kafka_get_watermark_offsets(s->rk, p->topic, p->partition, &lo, &hi) || hi < 0) continue;
            int64_t pos = p->offset >= 0 ? p->offset : lo;
            if (hi > pos) behind += hi - pos;
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
    sl_ctx_source_lag(s->ctx, behind, -1);
}

static int ks_run(void *src) {
    kafka_source *s = src;
    const sl_core_conf *core = sl_ctx_core(s->ctx);
    int64_t last_lag = 0;
    sl_ctx_set_source_state(s->ctx, SL_SRC_STREAMING); /* subscribed: what it reads are changes */
    while (!sl_ctx_stopping(s->ctx)) {
        maybe_commit(s);
        if (sl_mono_ms() - last_lag >= 1000) report_lag(s), last_lag = sl_mono_ms();
        int64_t wait = POLL_MS;
        if (s->batch_started) {
            /* Records read wait for no timer while nothing else is queued (as Connect hands a sink task
             * whatever one poll returned): poll.interval.ms only bounds a batch that never runs dry. */
            if (s->batch_started + core->poll_interval_ms <= sl_mono_ms() && emit_batch(s) < 0) break;
            wait = 0;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, (int)wait);
        if (m) {
            sl_kafka_waker_read(s->waker, m);
            int rc = m->err ? on_consumer_error(s, m) : on_message(s, m);
            rd_kafka_message_destroy(m);
            if (rc < 0) break;
        } else if (wait == 0 && emit_batch(s) < 0) {
            break; /* the consumer's queue is empty: hand on what was read */
        }
        if (!s->batch_started && batch_has_content(s)) s->batch_started = sl_mono_ms();
        if (sl_ctx_batch_full(s->ctx, s->batch) && emit_batch(s) < 0) break;
    }
    if (s->failed) return -1;
    emit_batch(s); /* hand on what was read: the sink drains it before the connector stops */
    return 0;
}

/* ---- open / close ---- */

static rd_kafka_conf_t *consumer_conf(kafka_source *s, char *errstr, size_t errsz) {
    const sl_config *cfg = sl_ctx_config(s->ctx);
    rd_kafka_conf_t *conf = sl_kafka_conf_new(&sl_ctx_core(s->ctx)->kafka, cfg, "consumer.override.", errstr, errsz);
    if (!conf) return NULL;
    char client_id[256], key[128], err[512];
    snprintf(client_id, sizeof client_id, "connector-consumer-%s-0", sl_ctx_name(s->ctx));
    /* Connect's defaults for sink connectors; consumer.override.* may change these (under either name).
     * Memory: the prefetch queue is bounded at 8 MiB instead of librdkafka's 64 MiB, and a fetch asks for
     * 256 KiB per partition instead of 1 MiB: the queue holds decompressed records, so each fetch of lz4
     * batches overshoots the bound by several times its size (Kafka -> MongoDB, 7.4 KB records: 89 MiB
     * peak with 1 MiB fetches, 58-63 MiB with 256 KiB, at the same documents/s). The fetch waker
     * (kclient.h) keeps that small queue refilled. */
    const char *defaults[][3] = {{"auto.offset.reset", "earliest", NULL},
                                 {"partition.assignment.strategy", "cooperative-sticky", NULL},
                                 {"isolation.level", "read_committed", NULL},
                                 {"queued.max.messages.kbytes", "8192", NULL},
                                 {"max.partition.fetch.bytes", "262144", "fetch.message.max.bytes"},
                                 {"client.id", client_id, NULL}};
    /* The delivery contract: only the source commits, and only what is durable (check() rejects overrides). */
    const char *fixed[][2] = {{"group.id", s->group},
                              {"enable.auto.commit", "false"},
                              {"enable.auto.offset.store", "false"},
                              {"enable.partition.eof", "false"}};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        char alias[128];
        snprintf(key, sizeof key, "consumer.override.%s", defaults[i][0]);
        snprintf(alias, sizeof alias, "consumer.override.%s", defaults[i][2] ? defaults[i][2] : defaults[i][0]);
        if (!sl_config_get(cfg, key) && !sl_config_get(cfg, alias) &&
            sl_kafka_conf_set(conf, defaults[i][0], defaults[i][1], err, sizeof err) < 0)
            goto fail;
    }
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (sl_kafka_conf_set(conf, fixed[i][0], fixed[i][1], err, sizeof err) < 0) goto fail;
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    sl_kafka_conf_logging(conf, "source");
    return conf;
fail:
    snprintf(errstr, errsz, "kafka source consumer: %s", err);
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* A wrong bootstrap.servers fails the start instead of a silent wait, wrong credentials (or TLS
 * settings) at once and for good. Runs before rd_kafka_poll_set_consumer, so that the wait's
 * slices can serve the error callback. */
static int probe(kafka_source *s, char *errstr, size_t errsz) {
    const struct rd_kafka_metadata *md = NULL;
    char why[768];
    rd_kafka_resp_err_t e = sl_kafka_metadata(s->rk, NULL, &md, PROBE_TIMEOUT_MS, why, sizeof why);
    if (e == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
        snprintf(errstr, errsz, "kafka source consumer: %s", why);
        return sl_ctx_error_code(s->ctx, SL_E_AUTH);
    }
    if (e) {
        snprintf(errstr, errsz, "bootstrap.servers %s: no answer from the Kafka cluster within %d ms: %s",
                 sl_ctx_core(s->ctx)->kafka.bootstrap, PROBE_TIMEOUT_MS, why);
        return sl_ctx_error_code(s->ctx, SL_E_CONNECT);
    }
    SL_INFO("kafka", "connected bootstrap.servers=%s brokers=%d", sl_ctx_core(s->ctx)->kafka.bootstrap,
            md->broker_cnt);
    rd_kafka_metadata_destroy(md);
    return 0;
}

static int open_dlq(kafka_source *s, char *errstr, size_t errsz) {
    return (s->dlq = sl_ctx_open_dlq(s->ctx, errstr, errsz)) ? 0 : -1;
}

static int subscribe(kafka_source *s, char *errstr, size_t errsz) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    char item[512];
    if (!blank(s->cf->topics_regex)) {
        char *re = anchored_regex(s->cf->topics_regex); /* a leading ^ makes it a regex for librdkafka */
        rd_kafka_topic_partition_list_add(l, re, RD_KAFKA_PARTITION_UA);
        sl_free(re);
    }
    for (const char *p = s->cf->topics; p && next_item(&p, item, sizeof item);)
        rd_kafka_topic_partition_list_add(l, item, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        snprintf(errstr, errsz, "%s: cannot subscribe: %s", blank(s->cf->topics) ? "topics.regex" : "topics",
                 rd_kafka_err2str(e));
        return sl_ctx_error_code(s->ctx, SL_E_CONFIG);
    }
    SL_INFO("kafka", "subscribed group=%s %s=%s key.converter=%s value.converter=%s", s->group,
            blank(s->cf->topics) ? "topics.regex" : "topics",
            blank(s->cf->topics) ? s->cf->topics_regex : s->cf->topics, sl_kconv_class(s->key_kind),
            sl_kconv_class(s->value_kind));
    return 0;
}

/* check_offset: partition {"group": ...}, offset {"<topic>/<partition>": next offset, ...} (informational: the
 * position is the group's committed offsets). */
static int ks_check_offset(const json_t *partition, const json_t *offset, char *errstr, size_t errsz) {
    const char *key;
    json_t *v;
    if (sl_jcheck_string(partition, "partition", "group", true, NULL, errstr, errsz) < 0) return -1;
    json_object_foreach((json_t *)offset, key, v) {
        const char *slash = strrchr(key, '/'), *p = slash ? slash + 1 : NULL;
        while (p && *p >= '0' && *p <= '9') p++;
        if (!slash || slash == key || p == slash + 1 || *p) {
            snprintf(errstr, errsz, "offset.%.200s: keys must be <topic>/<partition>", key);
            return -1;
        }
        if (sl_jcheck_uint(offset, "offset", key, true, errstr, errsz) < 0) return -1;
    }
    return 0;
}

static void set_partition(kafka_source *s) {
    sl_buf pb;
    sl_buf_init(&pb);
    sl_buf_puts(&pb, "{\"group\":");
    sl_buf_put_json_str(&pb, s->group, strlen(s->group));
    sl_buf_putc(&pb, '}');
    sl_ctx_set_partition(s->ctx, sl_buf_cstr(&pb));
    sl_buf_free(&pb);
}

static int ks_open(void **out, void *settings, sl_ctx *ctx, char *errstr, size_t errsz) {
    ks_conf *cf = settings;
    kafka_source *s = sl_calloc(1, sizeof *s);
    *out = s; /* close() frees a half-opened source */
    s->cf = cf;
    s->ctx = ctx;
    s->batch = sl_batch_new();
    s->track = sl_ktrack_new();
    sl_buf_init(&s->kb), sl_buf_init(&s->vb), sl_buf_init(&s->scratch), sl_buf_init(&s->offset_json);
    const sl_core_conf *core = sl_ctx_core(ctx);
    s->key_kind = sl_kconv_from_index(cf->key_conv);
    s->value_kind = sl_kconv_from_index(cf->value_conv);
    s->key_schemas = core->key_schemas;
    s->value_schemas = core->value_schemas;
    if (!blank(cf->group_id)) {
        s->group = sl_strdup(cf->group_id);
    } else {
        size_t n = strlen(sl_ctx_name(ctx)) + 9;
        s->group = sl_malloc(n);
        snprintf(s->group, n, "connect-%s", sl_ctx_name(ctx));
    }
    set_partition(s);
    char err[512];
    rd_kafka_conf_t *conf = consumer_conf(s, errstr, errsz);
    if (!conf) return sl_ctx_error_code(ctx, SL_E_CONFIG);
    if (!(s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errsz, "kafka source consumer: %s", err);
        return sl_ctx_error_code(ctx, SL_E_CONFIG);
    }
    int rc = probe(s, errstr, errsz);
    if (rc != 0) return rc;
    rd_kafka_poll_set_consumer(s->rk);
    s->waker = sl_kafka_waker_new(s->rk);
    if (!blank(core->dlq_topic) && core->err_tolerance == SL_TOL_ALL && open_dlq(s, errstr, errsz) < 0)
        return sl_ctx_error_code(ctx, SL_E_SINK_UNAVAILABLE); /* the dead letter queue's cluster */
    return subscribe(s, errstr, errsz);
}

static void ks_close(void *src) {
    kafka_source *s = src;
    if (!s) return;
    if (s->rk) {
        /* The runtime has stored what the sink flushed last: commit it while still a member. */
        commit_acked(s, NULL);
        sl_kafka_waker_free(s->waker);
        rd_kafka_consumer_close(s->rk); /* leaves the group; the revoke callback runs here */
        sl_kafka_forget(s->rk);
        rd_kafka_destroy(s->rk);
    }
    if (s->skipped) SL_INFO("kafka", "records skipped by errors.tolerance=all: %" PRIu64, s->skipped);
    sl_kafka_dlq_close(s->dlq);
    sl_ktrack_destroy(s->track);
    sl_batch_destroy(s->batch);
    sl_buf_free(&s->kb), sl_buf_free(&s->vb), sl_buf_free(&s->scratch), sl_buf_free(&s->offset_json);
    sl_kconv_memo_free(&s->vmemo);
    sl_free(s->group);
    sl_free(s);
}

/* The records come encoded (sl_record.raw); source.connector names the source all the same. */
static void ks_describe(const void *settings, sl_dbz_opts *o) {
    (void)settings;
    o->connector = "kafka";
}

const sl_source_ops sl_kafka_source_ops = {
    "kafka",
    "io.sluice.source.KafkaSource",
    "Kafka consumer group: reads topics as Kafka Connect's runtime reads them for a sink connector (JSON, "
    "string or bytes converters, errors.tolerance, dead letter queue) and hands every message to the sink; "
    "offsets are committed to the group only once the sink made the records durable.",
    ks_props,
    sizeof(ks_conf),
    ks_check,
    ks_open,
    ks_run,
    ks_close,
    ks_check_offset,
    .describe = ks_describe,
    .consumes_kafka = true,
    .splits = true,
};
