/* Distributed mode's membership: a consumer group over the task slots topic (see group.h). */
#include "worker/group.h"
#include "core/log.h"
#include "kafka/kclient.h"
#include "util/mem.h"
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS_MAX 4096
#define OPEN_TIMEOUT_MS 30000

struct sl_wgroup {
    sl_wgroup_conf c;
    char *group_id, *instance_id, *topic;
    rd_kafka_t *rk;
    int nslots;
    _Atomic bool owned[SLOTS_MAX];
    _Atomic uint64_t rebalances;
    _Atomic bool stop;
    pthread_t thr;
    bool started;
};

static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int sl_wgroup_slot_of(const char *name, int nslots) { return (int)(fnv1a(name) % (uint32_t)nslots); }
int sl_wgroup_slot(const sl_wgroup *g, const char *name) { return sl_wgroup_slot_of(name, g->nslots); }

bool sl_wgroup_owns(const sl_wgroup *g, const char *name) { return atomic_load(&g->owned[sl_wgroup_slot(g, name)]); }

int sl_wgroup_owned(const sl_wgroup *g, int *out, int max, int *nslots) {
    int n = 0;
    for (int i = 0; i < g->nslots; i++)
        if (atomic_load(&g->owned[i]) && n < max) out[n++] = i;
    *nslots = g->nslots;
    return n;
}

uint64_t sl_wgroup_rebalances(const sl_wgroup *g) { return atomic_load(&g->rebalances); }

/* The slots of parts (partitions of the topic) into mask. */
static void slots_of(const sl_wgroup *g, const rd_kafka_topic_partition_list_t *parts, bool *mask) {
    for (int i = 0; i < parts->cnt; i++)
        if (!strcmp(parts->elems[i].topic, g->topic) && parts->elems[i].partition >= 0 &&
            parts->elems[i].partition < g->nslots)
            mask[parts->elems[i].partition] = true;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
    sl_wgroup *g = opaque;
    bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    bool *mask = sl_calloc((size_t)g->nslots, sizeof *mask);
    slots_of(g, parts, mask);
    atomic_fetch_add(&g->rebalances, 1);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_error_t *e = cooperative ? rd_kafka_incremental_assign(rk, parts) : NULL;
        if (!cooperative) rd_kafka_assign(rk, parts);
        if (e) {
            SL_ERR("worker", "group %s: taking slots: %s", g->group_id, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        int n = 0;
        for (int i = 0; i < g->nslots; i++)
            if (mask[i]) atomic_store(&g->owned[i], true), n++;
        SL_INFO("worker", "group %s: %d slots assigned to this worker (%s)", g->group_id, n, g->instance_id);
        if (g->c.assigned) g->c.assigned(g->c.arg);
    } else {
        bool lost = rd_kafka_assignment_lost(rk);
        for (int i = 0; i < g->nslots; i++)
            if (mask[i]) atomic_store(&g->owned[i], false);
        SL_INFO("worker", "group %s: %d slots %s; their connectors stop", g->group_id, parts->cnt,
                lost ? "lost (the session ended)" : "revoked");
        if (g->c.revoke) g->c.revoke(g->c.arg, mask, g->nslots); /* returns once they have stopped */
        rd_kafka_error_t *e = cooperative ? rd_kafka_incremental_unassign(rk, parts) : NULL;
        if (!cooperative) rd_kafka_assign(rk, NULL);
        if (e) rd_kafka_error_destroy(e);
    }
    sl_free(mask);
}

static void *group_main(void *arg) {
    sl_wgroup *g = arg;
    while (!atomic_load(&g->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(g->rk, 100);
        if (m) {
            if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                SL_WARN("worker", "group %s: %s", g->group_id, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        }
        if (g->c.tick) g->c.tick(g->c.arg);
    }
    return NULL;
}

static void group_free(sl_wgroup *g) {
    if (g->rk) {
        sl_kafka_forget(g->rk);
        rd_kafka_destroy(g->rk);
    }
    sl_free(g->group_id), sl_free(g->instance_id), sl_free(g->topic);
    sl_free(g);
}

sl_wgroup *sl_wgroup_start(const sl_wgroup_conf *c, char *errstr, size_t errsz) {
    sl_wgroup *g = sl_calloc(1, sizeof *g);
    g->c = *c;
    g->group_id = sl_strdup(c->group_id);
    g->instance_id = sl_strdup(c->instance_id);
    g->topic = sl_strdup(c->topic);
    char err[512], num[32];
    rd_kafka_conf_t *conf = sl_kafka_conf_new(c->kafka, NULL, NULL, err, sizeof err);
    if (!conf) {
        snprintf(errstr, errsz, "group.id %s: %s", c->group_id, err);
        group_free(g);
        return NULL;
    }
    sl_kafka_conf_logging(conf, "worker group");
    const char *kv[][2] = {{"group.id", c->group_id},
                           {"group.instance.id", c->instance_id},
                           {"partition.assignment.strategy", "cooperative-sticky"},
                           {"enable.auto.commit", "false"},
                           {"client.id", "sluice-worker-group"}};
    int rc = 0;
    for (size_t i = 0; i < sizeof kv / sizeof *kv && rc == 0; i++)
        rc = sl_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err);
    snprintf(num, sizeof num, "%lld", (long long)c->session_ms);
    if (rc == 0) rc = sl_kafka_conf_set(conf, "session.timeout.ms", num, err, sizeof err);
    snprintf(num, sizeof num, "%lld", (long long)c->heartbeat_ms);
    if (rc == 0) rc = sl_kafka_conf_set(conf, "heartbeat.interval.ms", num, err, sizeof err);
    if (rc < 0) {
        snprintf(errstr, errsz, "%s", err);
        rd_kafka_conf_destroy(conf);
        group_free(g);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, g);
    if (!(g->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
        snprintf(errstr, errsz, "group.id %s: %s", c->group_id, err);
        rd_kafka_conf_destroy(conf);
        group_free(g);
        return NULL;
    }
    rd_kafka_poll_set_consumer(g->rk);
    /* the slots topic: created when missing; its partition count is the number of slots, whoever made it */
    const char *const cfgs[] = {"cleanup.policy", "compact", NULL};
    if (sl_kafka_ensure_topic(g->rk, c->topic, c->slots, c->replication_factor, cfgs, OPEN_TIMEOUT_MS, err,
                              sizeof err) < 0) {
        snprintf(errstr, errsz, "task.slots.topic %s: %s", c->topic, err);
        group_free(g);
        return NULL;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(g->rk, c->topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t me = sl_kafka_metadata(g->rk, rkt, &md, OPEN_TIMEOUT_MS, err, sizeof err);
    if (!me && md->topic_cnt == 1 && !md->topics[0].err) g->nslots = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (g->nslots < 1 || g->nslots > SLOTS_MAX) {
        snprintf(errstr, errsz, "task.slots.topic %s: %s", c->topic,
                 me ? err : "its partition count (the slots) must be 1 to 4096");
        group_free(g);
        return NULL;
    }
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, c->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t se = rd_kafka_subscribe(g->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (se) {
        snprintf(errstr, errsz, "group.id %s: subscribing to %s: %s", c->group_id, c->topic, rd_kafka_err2str(se));
        group_free(g);
        return NULL;
    }
    if (pthread_create(&g->thr, NULL, group_main, g) != 0) {
        snprintf(errstr, errsz, "group.id %s: cannot start its thread", c->group_id);
        group_free(g);
        return NULL;
    }
    g->started = true;
    SL_INFO("worker", "group %s: joining as %s (task.slots.topic=%s, %d slots)", c->group_id, c->instance_id,
            c->topic, g->nslots);
    return g;
}

void sl_wgroup_stop(sl_wgroup *g) {
    if (!g) return;
    atomic_store(&g->stop, true);
    if (g->started) pthread_join(g->thr, NULL);
    g->c.revoke = NULL; /* the caller stops every connector itself */
    rd_kafka_consumer_close(g->rk);
    group_free(g);
}
