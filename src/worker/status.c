/* Distributed mode's status topic (see status.h). */
#include "worker/status.h"
#include "core/log.h"
#include "kafka/kclient.h"
#include "util/buf.h"
#include "util/mem.h"
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

#define OPEN_TIMEOUT_MS 30000
static const char CONN_PREFIX[] = "status-connector-", TASK_PREFIX[] = "status-task-";

typedef struct srec {
    char *name; /* the record's key */
    char state[16];
    char worker[256];
    int64_t gen;
} srec;

struct sl_wstatus {
    char *topic, *self;
    rd_kafka_t *producer, *reader;
    srec *r;
    int n, cap;
    int64_t max_gen; /* the highest generation read */
};

static srec *sfind(sl_wstatus *s, const char *name, size_t len, bool create) {
    for (int i = 0; i < s->n; i++)
        if (strlen(s->r[i].name) == len && !memcmp(s->r[i].name, name, len)) return &s->r[i];
    if (!create) return NULL;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->r = sl_realloc(s->r, (size_t)s->cap * sizeof *s->r);
    }
    srec *e = &s->r[s->n++];
    memset(e, 0, sizeof *e);
    e->name = sl_strndup(name, len);
    return e;
}

void sl_wstatus_close(sl_wstatus *s) {
    if (!s) return;
    if (s->producer) {
        rd_kafka_flush(s->producer, 5000);
        sl_kafka_forget(s->producer);
        rd_kafka_destroy(s->producer);
    }
    if (s->reader) {
        sl_kafka_forget(s->reader);
        rd_kafka_destroy(s->reader);
    }
    for (int i = 0; i < s->n; i++) sl_free(s->r[i].name);
    sl_free(s->r), sl_free(s->topic), sl_free(s->self);
    sl_free(s);
}

sl_wstatus *sl_wstatus_open(const sl_kafka_client *kc, const char *topic, int partitions, int rf, const char *self,
                            char *errstr, size_t errsz) {
    sl_wstatus *s = sl_calloc(1, sizeof *s);
    s->topic = sl_strdup(topic);
    s->self = sl_strdup(self);
    char err[512];
    bool topic_failed = false;
    const char *const extra[] = {"acks", "all", "client.id", "sluice-status-store", NULL};
    s->producer = sl_kafka_store_producer(kc, NULL, topic, partitions, rf, OPEN_TIMEOUT_MS, extra, NULL, NULL,
                                          "status store", &topic_failed, err, sizeof err);
    if (!s->producer) {
        snprintf(errstr, errsz, "status.storage.topic %s: %s", topic, err);
        sl_wstatus_close(s);
        return NULL;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(s->producer, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int np = 0;
    if (!sl_kafka_metadata(s->producer, rkt, &md, OPEN_TIMEOUT_MS, err, sizeof err) && md->topic_cnt == 1)
        np = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_conf_t *conf = np > 0 ? sl_kafka_conf_new(kc, NULL, NULL, err, sizeof err) : NULL;
    if (conf && (sl_kafka_conf_set(conf, "group.id", "sluice-status-reader", err, sizeof err) < 0 ||
                 sl_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) < 0))
        rd_kafka_conf_destroy(conf), conf = NULL;
    if (conf) sl_kafka_conf_logging(conf, "status store");
    if (!conf || !(s->reader = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
        if (conf) rd_kafka_conf_destroy(conf);
        snprintf(errstr, errsz, "status.storage.topic %s: %s", topic, np > 0 ? err : "no partitions");
        sl_wstatus_close(s);
        return NULL;
    }
    rd_kafka_poll_set_consumer(s->reader);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++) rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(s->reader, l);
    rd_kafka_topic_partition_list_destroy(l);
    return s;
}

static void produce(sl_wstatus *s, const char *key, const char *val) {
    rd_kafka_resp_err_t e =
        rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(s->topic), RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE((void *)val, val ? strlen(val) : 0), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END);
    if (e) SL_WARN("worker", "status store: writing %s: %s", key, rd_kafka_err2str(e));
    rd_kafka_poll(s->producer, 0);
}

void sl_wstatus_put(sl_wstatus *s, const char *name, int task, const char *state, const char *trace,
                    int64_t generation) {
    char *val = NULL;
    if (state) {
        json_t *v = json_pack("{s:s, s:o, s:s, s:I}", "state", state, "trace", trace ? json_string(trace) : json_null(),
                              "worker_id", s->self, "generation", (json_int_t)generation);
        val = json_dumps(v, JSON_COMPACT);
        json_decref(v);
    }
    sl_buf k;
    sl_buf_init(&k);
    sl_buf_printf(&k, "%s%s-%d", TASK_PREFIX, name, task);
    produce(s, sl_buf_cstr(&k), val);
    if (task == 0) { /* (the connector and its task 0 are one instance) */
        sl_buf_reset(&k);
        sl_buf_printf(&k, "%s%s", CONN_PREFIX, name);
        produce(s, sl_buf_cstr(&k), val);
    }
    sl_buf_free(&k);
    free(val);
}

void sl_wstatus_poll(sl_wstatus *s) {
    rd_kafka_poll(s->producer, 0); /* delivery reports */
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(s->reader, 0))) {
        size_t cl = sizeof CONN_PREFIX - 1, tl = sizeof TASK_PREFIX - 1;
        if (!m->err && m->key && ((m->key_len > cl && !memcmp(m->key, CONN_PREFIX, cl)) ||
                                  (m->key_len > tl && !memcmp(m->key, TASK_PREFIX, tl)))) {
            const char *name = (const char *)m->key;
            size_t len = m->key_len;
            json_t *v = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
            const char *st = json_string_value(json_object_get(v, "state")),
                       *wid = json_string_value(json_object_get(v, "worker_id"));
            json_int_t gen = json_integer_value(json_object_get(v, "generation"));
            if (gen > s->max_gen) s->max_gen = gen;
            srec *e = sfind(s, name, len, st != NULL);
            if (e && st && gen < e->gen) { /* a worker that has lost the connector and does not know it yet */
                SL_DEBUG("worker", "status store: ignoring %.*s of generation %lld from %s (generation %lld is newer)",
                         (int)m->key_len, (const char *)m->key, (long long)gen, wid ? wid : "?", (long long)e->gen);
            } else if (e && st) {
                snprintf(e->state, sizeof e->state, "%s", st);
                snprintf(e->worker, sizeof e->worker, "%s", wid ? wid : "");
                e->gen = gen;
            } else if (e) { /* deleted */
                sl_free(e->name);
                *e = s->r[--s->n];
            }
            json_decref(v);
        }
        rd_kafka_message_destroy(m);
    }
}

int64_t sl_wstatus_next_generation(const sl_wstatus *s) { return s->max_gen + 1; }

bool sl_wstatus_get(const sl_wstatus *s, const char *name, int task, char *state, size_t ssz, char *worker,
                    size_t wsz) {
    char key[600];
    if (task) snprintf(key, sizeof key, "%s%s-%d", TASK_PREFIX, name, task);
    else snprintf(key, sizeof key, "%s%s", CONN_PREFIX, name);
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->r[i].name, key)) {
            snprintf(state, ssz, "%s", s->r[i].state);
            snprintf(worker, wsz, "%s", s->r[i].worker);
            return true;
        }
    return false;
}
