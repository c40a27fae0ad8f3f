/* Kafka-backed offset store (see offsets_kafka.h). */
#include "state/offsets_kafka.h"
#include "core/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define LOAD_TIMEOUT_MS 60000
#define PUT_TIMEOUT_MS 60000
#define GEN_HEADER "sluice.generation"

typedef struct entry {
    char *connector;
    json_t *partition;
    char *partition_text;
    char *offset;
    int64_t ts_ms;
    int64_t gen; /* generation of the write that set it (-1: a write without one) */
} entry;

struct sl_koffsets {
    char *topic;
    rd_kafka_t *producer;
    rd_kafka_resp_err_t delivery_err;
    entry *e;
    int n, cap;
    sl_buf key;
    bool fenced;     /* writes in transactions of a fencing transactional.id */
    int64_t gen;     /* fenced: this store's generation (above every one in the topic at open) */
    int64_t max_gen; /* the highest generation read */
};

void sl_koffsets_key(sl_buf *out, const char *connector, const char *partition) {
    sl_buf_putc(out, '[');
    sl_buf_put_json_str(out, connector, strlen(connector));
    sl_buf_putc(out, ',');
    sl_buf_puts(out, partition && *partition ? partition : "{}");
    sl_buf_putc(out, ']');
}

static entry *find(sl_koffsets *s, const char *connector, const json_t *partition) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->e[i].connector, connector) == 0 && json_equal(s->e[i].partition, partition)) return &s->e[i];
    return NULL;
}

static void entry_free(entry *e) {
    sl_free(e->connector);
    json_decref(e->partition);
    free(e->partition_text); /* from json_dumps */
    sl_free(e->offset);
}

/* Applies one record of the topic (or one put) of generation gen (-1: none) to the in-memory map. A write of a
 * generation below the one that set the entry comes from a fenced instance, late: it is ignored. */
static void apply(sl_koffsets *s, const char *key, size_t klen, const char *val, size_t vlen, int64_t ts_ms,
                  int64_t gen) {
    json_t *k = json_loadb(key, klen, 0, NULL);
    if (!json_is_array(k) || json_array_size(k) != 2 || !json_is_string(json_array_get(k, 0))) {
        json_decref(k);
        return; /* not an offset record of the Connect format: not ours */
    }
    const char *conn = json_string_value(json_array_get(k, 0));
    json_t *part = json_array_get(k, 1);
    entry *e = find(s, conn, part);
    if (gen > s->max_gen) s->max_gen = gen;
    if (e && gen >= 0 && gen < e->gen) {
        SL_WARN("offsets", "offset store %s: ignoring a write of generation %lld to %.*s after one of generation "
                "%lld (the late write of an instance fenced since)", s->topic, (long long)gen, (int)klen, key,
                (long long)e->gen);
        json_decref(k);
        return;
    }
    if (!val) {
        if (e) {
            entry_free(e);
            *e = s->e[--s->n];
        }
        json_decref(k);
        return;
    }
    if (!e) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 16;
            s->e = sl_realloc(s->e, (size_t)s->cap * sizeof *s->e);
        }
        e = &s->e[s->n++];
        e->connector = sl_strdup(conn);
        e->partition = json_incref(part);
        e->partition_text = json_dumps(part, JSON_COMPACT | JSON_PRESERVE_ORDER);
        e->offset = NULL;
        e->gen = -1;
    }
    sl_free(e->offset);
    e->offset = sl_strndup(val, vlen);
    e->ts_ms = ts_ms;
    if (gen >= 0) e->gen = gen; /* (a write without a generation leaves the entry's) */
    json_decref(k);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    sl_koffsets *s = opaque;
    if (m->err && !s->delivery_err) s->delivery_err = m->err;
}

/* The generation a record's header names; -1 without one. */
static int64_t gen_of(rd_kafka_headers_t *h) {
    const void *v;
    size_t n;
    char num[24];
    if (!h || rd_kafka_header_get_last(h, GEN_HEADER, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v || n == 0 ||
        n >= sizeof num)
        return -1;
    memcpy(num, v, n);
    num[n] = 0;
    char *end;
    long long g = strtoll(num, &end, 10);
    return *end || g < 0 ? -1 : g;
}

static void load_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen, int64_t ts_ms,
                     rd_kafka_headers_t *h) {
    apply(arg, key, klen, val, vlen, ts_ms, gen_of(h));
}

/* Reads the topic from the beginning to its end (the last stable offset). */
static int load(sl_koffsets *s, const sl_kafka_client *kc, const sl_config *cfg, char *errstr, size_t errsz) {
    return sl_kafka_read_topic(kc, cfg, s->topic, "sluice-offset-reader", "offset store", "offset.storage.topic", 0,
                               LOAD_TIMEOUT_MS, load_one, s, errstr, errsz) < 0 ? -1 : 0;
}

/* Kafka's answer to a transactional call: 0, or -1 with errstr (a fenced producer said so). */
static int txn_ok(sl_koffsets *s, rd_kafka_error_t *e, const char *what, char *errstr, size_t errsz) {
    if (!e) return 0;
    bool fenced = rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__FENCED ||
                  rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
                  rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
    snprintf(errstr, errsz, "offset store %s: %s: %s%s", s->topic, what, rd_kafka_error_string(e),
             fenced ? " (fenced: another instance of this connector opened the store since, so this one no longer "
                      "runs it; its offset is not written)"
                    : "");
    if (!fenced && rd_kafka_error_txn_requires_abort(e)) {
        rd_kafka_error_t *a = rd_kafka_abort_transaction(s->producer, PUT_TIMEOUT_MS);
        if (a) rd_kafka_error_destroy(a);
    }
    rd_kafka_error_destroy(e);
    return -1;
}

sl_koffsets *sl_koffsets_open(const sl_kafka_client *kc, const sl_config *cfg, const char *topic, int partitions,
                              int rf, const char *fence_id, char *errstr, size_t errsz) {
    sl_koffsets *s = sl_calloc(1, sizeof *s);
    s->topic = sl_strdup(topic);
    s->max_gen = -1;
    s->fenced = fence_id && *fence_id;
    sl_buf_init(&s->key);
    const char *const extra[] = {"partitioner", "murmur2_random", s->fenced ? "transactional.id" : NULL, fence_id,
                                 NULL};
    bool topic_failed;
    char err[512];
    s->producer = sl_kafka_store_producer(kc, cfg, topic, partitions, rf, 30000, extra, dr_cb, s, "offsets",
                                          &topic_failed, err, sizeof err);
    if (!s->producer) {
        snprintf(errstr, errsz, "offset store%s: %s", topic_failed ? " (offset.storage.topic)" : "", err);
        goto fail;
    }
    /* fencing: first the broker aborts what an older instance left open and refuses its writes from now on, then
     * the topic is read (so nothing that instance commits later can be missed: it cannot commit) */
    if (s->fenced && txn_ok(s, rd_kafka_init_transactions(s->producer, LOAD_TIMEOUT_MS), "init_transactions",
                            errstr, errsz) < 0)
        goto fail;
    if (load(s, kc, cfg, errstr, errsz) < 0) goto fail;
    s->gen = s->max_gen + 1;
    SL_INFO("offsets", "kafka offset store loaded topic=%s entries=%d%s%s generation=%lld", topic, s->n,
            s->fenced ? " transactional.id=" : "", s->fenced ? fence_id : "", (long long)s->gen);
    return s;
fail:
    sl_koffsets_close(s);
    return NULL;
}

void sl_koffsets_close(sl_koffsets *s) {
    if (!s) return;
    if (s->producer) {
        rd_kafka_flush(s->producer, 10000);
        sl_kafka_forget(s->producer);
        rd_kafka_destroy(s->producer);
    }
    for (int i = 0; i < s->n; i++) entry_free(&s->e[i]);
    sl_free(s->e);
    sl_free(s->topic);
    sl_buf_free(&s->key);
    sl_free(s);
}

int sl_koffsets_get(sl_koffsets *s, const char *connector, const char *partition, char **out, char *errstr,
                    size_t errsz) {
    *out = NULL;
    json_t *p = json_loads(partition, 0, NULL);
    if (!p) {
        snprintf(errstr, errsz, "offset store: partition is not JSON: %s", partition);
        return -1;
    }
    entry *e = find(s, connector, p);
    json_decref(p);
    if (e) *out = sl_strdup(e->offset);
    return 0;
}

int sl_koffsets_put(sl_koffsets *s, const char *connector, const char *partition, const char *offset, char *errstr,
                    size_t errsz) {
    int64_t t0 = sl_mono_ms();
    sl_buf_reset(&s->key);
    sl_koffsets_key(&s->key, connector, partition);
    s->delivery_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (s->fenced && txn_ok(s, rd_kafka_begin_transaction(s->producer), "begin_transaction", errstr, errsz) < 0)
        return -1;
    char gen[24];
    snprintf(gen, sizeof gen, "%lld", (long long)s->gen);
    rd_kafka_headers_t *h = s->fenced ? rd_kafka_headers_new(1) : NULL;
    if (h) rd_kafka_header_add(h, GEN_HEADER, -1, gen, -1);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        s->producer, RD_KAFKA_V_TOPIC(s->topic), RD_KAFKA_V_KEY(s->key.data, s->key.len),
        RD_KAFKA_V_VALUE((void *)offset, offset ? strlen(offset) : 0), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    if (e && h) rd_kafka_headers_destroy(h); /* (on success the message owns them) */
    if (s->fenced) {
        if (e) {
            rd_kafka_error_t *a = rd_kafka_abort_transaction(s->producer, PUT_TIMEOUT_MS);
            if (a) rd_kafka_error_destroy(a);
        } else if (txn_ok(s, rd_kafka_commit_transaction(s->producer, PUT_TIMEOUT_MS), "commit_transaction", errstr,
                          errsz) < 0)
            return -1;
    }
    if (!e) e = rd_kafka_flush(s->producer, PUT_TIMEOUT_MS);
    if (!e) e = s->delivery_err;
    if (sl_mono_ms() - t0 > 5000)
        SL_WARN("offsets", "offset store %s: a write took %lld ms", s->topic, (long long)(sl_mono_ms() - t0));
    if (e) {
        snprintf(errstr, errsz, "offset store: writing to %s: %s", s->topic, rd_kafka_err2str(e));
        return -1;
    }
    apply(s, s->key.data, s->key.len, offset, offset ? strlen(offset) : 0, sl_wall_us() / 1000,
          s->fenced ? s->gen : -1);
    return 0;
}

int sl_koffsets_delete(sl_koffsets *s, const char *connector, int *removed, char *errstr, size_t errsz) {
    int n = 0;
    for (int i = 0; i < s->n;) {
        if (strcmp(s->e[i].connector, connector) != 0) {
            i++;
            continue;
        }
        char *part = sl_strdup(s->e[i].partition_text);
        int rc = sl_koffsets_put(s, connector, part, NULL, errstr, errsz); /* removes entry i */
        sl_free(part);
        if (rc < 0) return -1;
        n++;
    }
    if (removed) *removed = n;
    return 0;
}

int sl_koffsets_list(sl_koffsets *s, const char *connector,
                     void (*cb)(const char *, const char *, const char *, int64_t, void *), void *arg, char *errstr,
                     size_t errsz) {
    for (int i = 0; i < s->n; i++)
        if (!connector || strcmp(s->e[i].connector, connector) == 0)
            cb(s->e[i].connector, s->e[i].partition_text, s->e[i].offset, s->e[i].ts_ms, arg);
    return 0;
}
