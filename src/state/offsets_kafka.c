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

typedef struct entry {
    char *connector;
    json_t *partition;
    char *partition_text;
    char *offset;
    int64_t ts_ms;
} entry;

struct sl_koffsets {
    char *topic;
    rd_kafka_t *producer;
    rd_kafka_resp_err_t delivery_err;
    entry *e;
    int n, cap;
    sl_buf key;
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

/* Applies one record of the topic (or one put) to the in-memory map. */
static void apply(sl_koffsets *s, const char *key, size_t klen, const char *val, size_t vlen, int64_t ts_ms) {
    json_t *k = json_loadb(key, klen, 0, NULL);
    if (!json_is_array(k) || json_array_size(k) != 2 || !json_is_string(json_array_get(k, 0))) {
        json_decref(k);
        return; /* not an offset record of the Connect format: not ours */
    }
    const char *conn = json_string_value(json_array_get(k, 0));
    json_t *part = json_array_get(k, 1);
    entry *e = find(s, conn, part);
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
    }
    sl_free(e->offset);
    e->offset = sl_strndup(val, vlen);
    e->ts_ms = ts_ms;
    json_decref(k);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    sl_koffsets *s = opaque;
    if (m->err && !s->delivery_err) s->delivery_err = m->err;
}

static void load_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen, int64_t ts_ms) {
    apply(arg, key, klen, val, vlen, ts_ms);
}

/* Reads the topic from the beginning to its end (the last stable offset). */
static int load(sl_koffsets *s, const sl_kafka_client *kc, const sl_config *cfg, char *errstr, size_t errsz) {
    return sl_kafka_read_topic(kc, cfg, s->topic, "sluice-offset-reader", "offset store", "offset.storage.topic", 0,
                               LOAD_TIMEOUT_MS, load_one, s, errstr, errsz) < 0 ? -1 : 0;
}

sl_koffsets *sl_koffsets_open(const sl_kafka_client *kc, const sl_config *cfg, const char *topic, int partitions,
                              int rf, char *errstr, size_t errsz) {
    sl_koffsets *s = sl_calloc(1, sizeof *s);
    s->topic = sl_strdup(topic);
    sl_buf_init(&s->key);
    static const char *const extra[] = {"partitioner", "murmur2_random", NULL};
    bool topic_failed;
    char err[512];
    s->producer = sl_kafka_store_producer(kc, cfg, topic, partitions, rf, 30000, extra, dr_cb, s, "offsets",
                                          &topic_failed, err, sizeof err);
    if (!s->producer) {
        snprintf(errstr, errsz, "offset store%s: %s", topic_failed ? " (offset.storage.topic)" : "", err);
        goto fail;
    }
    if (load(s, kc, cfg, errstr, errsz) < 0) goto fail;
    SL_INFO("offsets", "kafka offset store loaded topic=%s entries=%d", topic, s->n);
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
    sl_buf_reset(&s->key);
    sl_koffsets_key(&s->key, connector, partition);
    s->delivery_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        s->producer, RD_KAFKA_V_TOPIC(s->topic), RD_KAFKA_V_KEY(s->key.data, s->key.len),
        RD_KAFKA_V_VALUE((void *)offset, offset ? strlen(offset) : 0), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_END);
    if (!e) e = rd_kafka_flush(s->producer, PUT_TIMEOUT_MS);
    if (!e) e = s->delivery_err;
    if (e) {
        snprintf(errstr, errsz, "offset store: writing to %s: %s", s->topic, rd_kafka_err2str(e));
        return -1;
    }
    apply(s, s->key.data, s->key.len, offset, offset ? strlen(offset) : 0, sl_wall_us() / 1000);
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
