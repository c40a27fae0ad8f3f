/* The worker's config store: the SQLite and the Kafka backend (see store.h). */
#include "worker/store.h"
#include "core/log.h"
#include "kafka/kclient.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wstore_ops {
    void (*close)(sl_wstore *s);
    int (*put)(sl_wstore *s, const char *name, const char *config, const char *target, char *errstr, size_t errsz);
    int (*set_target)(sl_wstore *s, const char *name, const char *target, char *errstr, size_t errsz);
    int (*del)(sl_wstore *s, const char *name, char *errstr, size_t errsz);
    int (*load)(sl_wstore *s, void (*cb)(const char *, const char *, const char *, void *), void *arg, char *errstr,
                size_t errsz);
    int (*follow)(sl_wstore *s, const char *self, void (*cb)(const char *, const char *, const char *, void *),
                  void *arg, char *errstr, size_t errsz); /* NULL: nobody else writes the store */
} wstore_ops;

struct sl_wstore {
    const wstore_ops *ops;
    char where[512];
    char cluster_id[128]; /* the Kafka cluster's id ("": not kept in Kafka) */
};

void sl_wstore_close(sl_wstore *s) {
    if (s) s->ops->close(s);
}

const char *sl_wstore_where(const sl_wstore *s) { return s->where; }
const char *sl_wstore_cluster_id(const sl_wstore *s) { return s->cluster_id; }

int sl_wstore_put(sl_wstore *s, const char *name, const char *config, const char *target, char *errstr,
                  size_t errsz) {
    return s->ops->put(s, name, config, target, errstr, errsz);
}

int sl_wstore_set_target(sl_wstore *s, const char *name, const char *target, char *errstr, size_t errsz) {
    return s->ops->set_target(s, name, target, errstr, errsz);
}

int sl_wstore_delete(sl_wstore *s, const char *name, char *errstr, size_t errsz) {
    return s->ops->del(s, name, errstr, errsz);
}

int sl_wstore_load(sl_wstore *s, void (*cb)(const char *, const char *, const char *, void *), void *arg,
                   char *errstr, size_t errsz) {
    return s->ops->load(s, cb, arg, errstr, errsz);
}

int sl_wstore_follow(sl_wstore *s, const char *self,
                     void (*cb)(const char *, const char *, const char *, void *), void *arg, char *errstr,
                     size_t errsz) {
    return s->ops->follow ? s->ops->follow(s, self, cb, arg, errstr, errsz) : 0;
}

/* ==== SQLite ==== */

typedef struct sqlite_store {
    sl_wstore base;
    sqlite3 *db;
    char *path;
} sqlite_store;

static int sq_fail(sqlite_store *s, const char *what, char *errstr, size_t errsz) {
    snprintf(errstr, errsz, "config store %s (config.storage.file.filename): %s: %s", s->path, what,
             s->db ? sqlite3_errmsg(s->db) : "out of memory");
    return -1;
}

static void sq_close(sl_wstore *base) {
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_close(s->db);
    sl_free(s->path);
    sl_free(s);
}

/* Runs one statement with up to three text parameters (NULL: not bound) and ?4 = now (ms). */
static int exec3(sqlite_store *s, const char *q, const char *a, const char *b, const char *c, const char *what,
                 char *errstr, size_t errsz) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK) return sq_fail(s, what, errstr, errsz);
    const char *v[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (v[i]) sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 4) sqlite3_bind_int64(st, 4, sl_wall_us() / 1000);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sq_fail(s, what, errstr, errsz);
}

static int sq_put(sl_wstore *base, const char *name, const char *config, const char *target, char *errstr,
                  size_t errsz) {
    return exec3((sqlite_store *)base,
                 "INSERT INTO connectors VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET"
                 " config = excluded.config, target = excluded.target, updated_ms = excluded.updated_ms",
                 name, config, target, "write", errstr, errsz);
}

static int sq_set_target(sl_wstore *base, const char *name, const char *target, char *errstr, size_t errsz) {
    return exec3((sqlite_store *)base, "UPDATE connectors SET target = ?2, updated_ms = ?4 WHERE name = ?1", name,
                 target, NULL, "write", errstr, errsz);
}

static int sq_delete(sl_wstore *base, const char *name, char *errstr, size_t errsz) {
    return exec3((sqlite_store *)base, "DELETE FROM connectors WHERE name = ?1", name, NULL, NULL, "delete", errstr,
                 errsz);
}

static int sq_load(sl_wstore *base, void (*cb)(const char *, const char *, const char *, void *), void *arg,
                   char *errstr, size_t errsz) {
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT name, config, target FROM connectors ORDER BY name", -1, &st, NULL) !=
        SQLITE_OK)
        return sq_fail(s, "read", errstr, errsz);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        cb((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
           (const char *)sqlite3_column_text(st, 2), arg);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sq_fail(s, "read", errstr, errsz);
}

static const wstore_ops sqlite_ops = {sq_close, sq_put, sq_set_target, sq_delete, sq_load, NULL};

static sl_wstore *sqlite_open(const char *path, char *errstr, size_t errsz) {
    sqlite_store *s = sl_calloc(1, sizeof *s);
    s->base.ops = &sqlite_ops;
    snprintf(s->base.where, sizeof s->base.where, "sqlite file %s", path);
    s->path = sl_strdup(path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        sq_fail(s, "open", errstr, errsz);
        goto err;
    }
    sqlite3_busy_timeout(s->db, 5000);
    const char *setup = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                        "CREATE TABLE IF NOT EXISTS connectors (name TEXT PRIMARY KEY, config TEXT NOT NULL,"
                        " target TEXT NOT NULL, updated_ms INTEGER NOT NULL);";
    if (sqlite3_exec(s->db, setup, NULL, NULL, NULL) != SQLITE_OK) {
        sq_fail(s, "setup", errstr, errsz);
        goto err;
    }
    return &s->base;
err:
    sq_close(&s->base);
    return NULL;
}

/* ==== Kafka: Connect's config topic ==== */

#define KS_OPEN_TIMEOUT_MS 30000  /* reaching the brokers, creating the topic */
#define KS_LOAD_TIMEOUT_MS 60000  /* reading the topic to its end */
#define KS_WRITE_TIMEOUT_MS 30000 /* message.timeout.ms: a write not acknowledged by then fails */

static const char CONNECTOR_PREFIX[] = "connector-";
#define SELF_HEADER "sluice.worker.id" /* the worker that wrote a record (Connect's readers ignore headers) */
static const char TARGET_PREFIX[] = "target-state-";

/* One connector as the topic says so far: either part may be missing (NULL). */
typedef struct kentry {
    char *name;
    char *config; /* JSON object text of "properties" */
    char *target; /* RUNNING | PAUSED | STOPPED */
} kentry;

typedef struct kafka_store {
    sl_wstore base;
    char *topic;
    const sl_kafka_client *kc;
    rd_kafka_t *producer;
    rd_kafka_t *follower;  /* sl_wstore_follow: reads the writes of the other workers of a group */
    int64_t follow_from;   /* the topic's end before it was loaded: where the follower starts */
    char *self;            /* the worker's id: a header of its writes, which the follower leaves out */
    rd_kafka_resp_err_t delivery_err; /* the first failed delivery of the current write */
    kentry *e;
    int n, cap;
} kafka_store;

static kentry *kfind(kafka_store *s, const char *name, bool create) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->e[i].name, name) == 0) return &s->e[i];
    if (!create) return NULL;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->e = sl_realloc(s->e, (size_t)s->cap * sizeof *s->e);
    }
    kentry *e = &s->e[s->n++];
    *e = (kentry){sl_strdup(name), NULL, NULL};
    return e;
}

/* Drops the entry once neither part is left. */
static void kprune(kafka_store *s, kentry *e) {
    if (e->config || e->target) return;
    sl_free(e->name);
    *e = s->e[--s->n];
}

static void kset(char **field, const char *v) {
    sl_free(*field);
    *field = v ? sl_strdup(v) : NULL;
}

/* Connect's target state names <-> the worker's. */
static const char *from_connect_state(const char *st) {
    if (!st) return NULL;
    if (strcmp(st, "STARTED") == 0) return "RUNNING";
    if (strcmp(st, "PAUSED") == 0) return "PAUSED";
    if (strcmp(st, "STOPPED") == 0) return "STOPPED";
    return NULL;
}

static const char *to_connect_state(const char *target) {
    return strcmp(target, "RUNNING") == 0 ? "STARTED" : target;
}

/* Applies one record (read from the topic, or just written) to the in-memory view, as Connect reads it:
 * records of other kinds (task configs, commits, session keys) are not ours to interpret. */
static void kapply(kafka_store *s, const char *key, size_t klen, const char *val, size_t vlen) {
    char *k = sl_strndup(key, klen);
    const char *name = NULL;
    bool is_conn = false;
    if (strncmp(k, CONNECTOR_PREFIX, sizeof CONNECTOR_PREFIX - 1) == 0) {
        name = k + sizeof CONNECTOR_PREFIX - 1;
        is_conn = true;
    } else if (strncmp(k, TARGET_PREFIX, sizeof TARGET_PREFIX - 1) == 0) {
        name = k + sizeof TARGET_PREFIX - 1;
    }
    if (!name || !*name) goto out;
    if (!val) { /* a tombstone: a deleted connector takes its target state along */
        kentry *e = kfind(s, name, false);
        if (!e) goto out;
        if (is_conn) kset(&e->config, NULL);
        kset(&e->target, NULL);
        kprune(s, e);
        goto out;
    }
    json_t *v = json_loadb(val, vlen, 0, NULL);
    if (is_conn) {
        json_t *props = json_object_get(v, "properties");
        if (!json_is_object(props)) {
            SL_WARN("worker", "config store: record %s of topic %s is not a connector config "
                              "({\"properties\": {...}}), ignored", k, s->topic);
        } else {
            char *text = json_dumps(props, JSON_COMPACT);
            kentry *e = kfind(s, name, true);
            kset(&e->config, text);
            free(text);
        }
    } else {
        /* Connect 3.5+ writes "state.v2" (STOPPED exists only there) and reads it first. */
        const char *t = from_connect_state(json_string_value(json_object_get(v, "state.v2")));
        if (!t) t = from_connect_state(json_string_value(json_object_get(v, "state")));
        if (!t) {
            SL_WARN("worker", "config store: record %s of topic %s has no valid target state, ignored", k, s->topic);
        } else {
            kentry *e = kfind(s, name, true);
            kset(&e->target, t);
        }
    }
    json_decref(v);
out:
    sl_free(k);
}

static void kdr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    kafka_store *s = opaque;
    if (m->err && !s->delivery_err) s->delivery_err = m->err;
}

static void kclose(sl_wstore *base) {
    kafka_store *s = (kafka_store *)base;
    if (s->follower) {
        sl_kafka_forget(s->follower);
        rd_kafka_destroy(s->follower);
    }
    sl_free(s->self);
    if (s->producer) {
        rd_kafka_flush(s->producer, 10000);
        sl_kafka_forget(s->producer);
        rd_kafka_destroy(s->producer);
    }
    for (int i = 0; i < s->n; i++) sl_free(s->e[i].name), sl_free(s->e[i].config), sl_free(s->e[i].target);
    sl_free(s->e);
    sl_free(s->topic);
    sl_free(s);
}

typedef struct krec {
    sl_buf key;
    const char *val; /* NULL: tombstone */
    size_t vlen;
} krec;

/*
 * Produces the records in order to partition 0 and waits until the broker has acknowledged every one
 * (or one failed). Applied to the in-memory view only when all were written.
 */
static int kwrite(kafka_store *s, krec *r, int n, char *errstr, size_t errsz) {
    s->delivery_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; i < n && !err; i++)
        err = s->self ? rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(s->topic), RD_KAFKA_V_PARTITION(0),
                                          RD_KAFKA_V_KEY(r[i].key.data, r[i].key.len),
                                          RD_KAFKA_V_VALUE((void *)r[i].val, r[i].val ? r[i].vlen : 0),
                                          RD_KAFKA_V_HEADER(SELF_HEADER, s->self, (ssize_t)strlen(s->self)),
                                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)
                      : rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(s->topic), RD_KAFKA_V_PARTITION(0),
                                          RD_KAFKA_V_KEY(r[i].key.data, r[i].key.len),
                                          RD_KAFKA_V_VALUE((void *)r[i].val, r[i].val ? r[i].vlen : 0),
                                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    /* Also after a failed produce: what was queued before it must be settled before the next write. */
    rd_kafka_resp_err_t ferr = rd_kafka_flush(s->producer, KS_WRITE_TIMEOUT_MS + 10000);
    if (!err) err = ferr;
    if (!err) err = s->delivery_err;
    if (err) {
        char fatal[256] = "";
        if (rd_kafka_fatal_error(s->producer, fatal, sizeof fatal))
            snprintf(errstr, errsz, "config store: writing to topic %s (config.storage.topic): %s (the producer "
                                    "cannot go on: restart the worker)", s->topic, fatal);
        else
            snprintf(errstr, errsz, "config store: writing to topic %s (config.storage.topic): %s", s->topic,
                     rd_kafka_err2str(err));
        return -1;
    }
    for (int i = 0; i < n; i++) kapply(s, r[i].key.data, r[i].key.len, r[i].val, r[i].vlen);
    return 0;
}

static void krec_init(krec *r, const char *prefix, const char *name, const char *val) {
    sl_buf_init(&r->key);
    sl_buf_puts(&r->key, prefix);
    sl_buf_puts(&r->key, name);
    r->val = val;
    r->vlen = val ? strlen(val) : 0;
}

/* Connect's target-state value; "state" says PAUSED for STOPPED, as Connect writes it for older workers. */
static char *target_value(const char *target) {
    const char *v2 = to_connect_state(target);
    json_t *v = json_pack("{s:s, s:s}", "state", strcmp(v2, "STOPPED") == 0 ? "PAUSED" : v2, "state.v2", v2);
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return text;
}

static int kput(sl_wstore *base, const char *name, const char *config, const char *target, char *errstr,
                size_t errsz) {
    kafka_store *s = (kafka_store *)base;
    /* The target state first, as Connect does: a config is never seen without the state it was written with. */
    char *tv = target_value(target);
    sl_buf cv;
    sl_buf_init(&cv);
    sl_buf_puts(&cv, "{\"properties\":");
    sl_buf_puts(&cv, config);
    sl_buf_putc(&cv, '}');
    krec r[2];
    krec_init(&r[0], TARGET_PREFIX, name, tv);
    krec_init(&r[1], CONNECTOR_PREFIX, name, NULL);
    r[1].val = cv.data, r[1].vlen = cv.len;
    int rc = kwrite(s, r, 2, errstr, errsz);
    sl_buf_free(&r[0].key), sl_buf_free(&r[1].key);
    sl_buf_free(&cv);
    free(tv);
    return rc;
}

static int kset_target(sl_wstore *base, const char *name, const char *target, char *errstr, size_t errsz) {
    kafka_store *s = (kafka_store *)base;
    kentry *e = kfind(s, name, false);
    if (!e || !e->config) return 0;
    char *tv = target_value(target);
    krec r;
    krec_init(&r, TARGET_PREFIX, name, tv);
    int rc = kwrite(s, &r, 1, errstr, errsz);
    sl_buf_free(&r.key);
    free(tv);
    return rc;
}

static int kdelete(sl_wstore *base, const char *name, char *errstr, size_t errsz) {
    kafka_store *s = (kafka_store *)base;
    krec r[2];
    krec_init(&r[0], CONNECTOR_PREFIX, name, NULL);
    krec_init(&r[1], TARGET_PREFIX, name, NULL);
    int rc = kwrite(s, r, 2, errstr, errsz);
    sl_buf_free(&r[0].key), sl_buf_free(&r[1].key);
    return rc;
}

static int kcmp(const void *a, const void *b) {
    return strcmp(((const kentry *)a)->name, ((const kentry *)b)->name);
}

static int kload(sl_wstore *base, void (*cb)(const char *, const char *, const char *, void *), void *arg,
                 char *errstr, size_t errsz) {
    (void)errstr, (void)errsz;
    kafka_store *s = (kafka_store *)base;
    if (s->n > 1) qsort(s->e, (size_t)s->n, sizeof *s->e, kcmp);
    for (int i = 0; i < s->n; i++)
        if (s->e[i].config) /* a config without a target-state record is STARTED, as in Connect */
            cb(s->e[i].name, s->e[i].config, s->e[i].target ? s->e[i].target : "RUNNING", arg);
    return 0;
}

/* The connector a config-topic key is about (NULL: another kind of record). */
static const char *key_name(const char *k) {
    if (!strncmp(k, CONNECTOR_PREFIX, sizeof CONNECTOR_PREFIX - 1)) return k + sizeof CONNECTOR_PREFIX - 1;
    if (!strncmp(k, TARGET_PREFIX, sizeof TARGET_PREFIX - 1)) return k + sizeof TARGET_PREFIX - 1;
    return NULL;
}

/* The records other workers wrote since the last call (or since the load): applied, then cb with the connector's
 * config and target as they stand (config NULL: deleted). */
static int kfollow(sl_wstore *base, const char *self, void (*cb)(const char *, const char *, const char *, void *),
                   void *arg, char *errstr, size_t errsz) {
    kafka_store *s = (kafka_store *)base;
    if (!s->follower) {
        if (!s->self) s->self = sl_strdup(self);
        char err[512];
        rd_kafka_conf_t *conf = sl_kafka_conf_new(s->kc, NULL, NULL, err, sizeof err);
        if (conf && (sl_kafka_conf_set(conf, "group.id", "sluice-config-follower", err, sizeof err) < 0 ||
                     sl_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) < 0 ||
                     sl_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof err) < 0))
            rd_kafka_conf_destroy(conf), conf = NULL;
        if (conf) sl_kafka_conf_logging(conf, "config store");
        if (!conf || !(s->follower = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
            if (conf) rd_kafka_conf_destroy(conf);
            snprintf(errstr, errsz, "config store: following topic %s: %s", s->topic, err);
            return -1;
        }
        rd_kafka_poll_set_consumer(s->follower);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, s->topic, 0)->offset = s->follow_from;
        rd_kafka_assign(s->follower, l);
        rd_kafka_topic_partition_list_destroy(l);
    }
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(s->follower, 0))) {
        if (m->err || !m->key) {
            if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                SL_WARN("worker", "config store: following topic %s: %s", s->topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        rd_kafka_headers_t *hs = NULL;
        const void *hv = NULL;
        size_t hn = 0;
        bool mine = rd_kafka_message_headers(m, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                    rd_kafka_header_get_last(hs, SELF_HEADER, &hv, &hn) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                    hn == strlen(s->self) && !memcmp(hv, s->self, hn);
        char *k = sl_strndup(m->key, m->key_len);
        const char *name = key_name(k);
        if (!mine && name && *name) {
            kapply(s, m->key, m->key_len, m->payload, m->payload ? m->len : 0);
            kentry *e = kfind(s, name, false);
            cb(name, e ? e->config : NULL, e && e->target ? e->target : "RUNNING", arg);
        }
        sl_free(k);
        rd_kafka_message_destroy(m);
    }
    return 0;
}

static const wstore_ops kafka_ops = {kclose, kput, kset_target, kdelete, kload, kfollow};

static void kread_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen, int64_t ts_ms,
                      rd_kafka_headers_t *h) {
    (void)ts_ms, (void)h;
    kapply(arg, key, klen, val, vlen);
}

/* Reads the topic from its beginning to its end (the last stable offset) into s. */
static int kread(kafka_store *s, const sl_kafka_client *kc, char *errstr, size_t errsz) {
    int records = sl_kafka_read_topic(kc, NULL, s->topic, "sluice-config-reader", "config store",
                                      "config.storage.topic", 1, KS_LOAD_TIMEOUT_MS, kread_one, s, errstr, errsz);
    if (records < 0) return -1;
    SL_INFO("worker", "config store: read topic=%s records=%d connectors=%d", s->topic, records, s->n);
    return 0;
}

static sl_wstore *kafka_open(const sl_wstore_conf *wc, char *errstr, size_t errsz) {
    const sl_kafka_client *kc = wc->kafka;
    sl_errs errs = {0};
    sl_kafka_client_check(kc, NULL, NULL, "config store (config.storage=kafka)", &errs);
    if (!wc->topic || !*wc->topic)
        sl_errs_add(&errs, "config.storage.topic: required with config.storage=kafka");
    if (wc->replication_factor == 0 || wc->replication_factor < -1)
        sl_errs_add(&errs, "config.storage.replication.factor: %d is not allowed (-1: the broker's default, or 1 "
                           "and up)", wc->replication_factor);
    if (errs.n) {
        sl_buf b;
        sl_buf_init(&b);
        for (int i = 0; i < errs.n; i++) sl_buf_printf(&b, "%s%s", i ? "; " : "", errs.msg[i]);
        snprintf(errstr, errsz, "%.*s", (int)b.len, b.data);
        sl_buf_free(&b);
        sl_errs_free(&errs);
        return NULL;
    }
    kafka_store *s = sl_calloc(1, sizeof *s);
    s->base.ops = &kafka_ops;
    snprintf(s->base.where, sizeof s->base.where, "kafka topic %s", wc->topic);
    s->topic = sl_strdup(wc->topic);
    char err[512], tmo[32];
    snprintf(tmo, sizeof tmo, "%d", KS_WRITE_TIMEOUT_MS);
    const char *const extra[] = {"acks", "all", "message.timeout.ms", tmo, "client.id", "sluice-config-store", NULL};
    bool topic_failed;
    s->producer = sl_kafka_store_producer(kc, NULL, s->topic, 1, wc->replication_factor, KS_OPEN_TIMEOUT_MS, extra,
                                          kdr_cb, s, "config store", &topic_failed, err, sizeof err);
    if (!s->producer && topic_failed) {
        snprintf(errstr, errsz,
                 "config store (config.storage=kafka): no usable topic %s (config.storage.topic) on the Kafka "
                 "cluster at bootstrap.servers=%s: %s",
                 s->topic, kc->bootstrap, err);
        goto fail;
    }
    if (!s->producer) {
        snprintf(errstr, errsz, "config store (config.storage=kafka): %s", err);
        goto fail;
    }
    s->kc = kc;
    char *cid = rd_kafka_clusterid(s->producer, KS_OPEN_TIMEOUT_MS);
    if (cid) snprintf(s->base.cluster_id, sizeof s->base.cluster_id, "%s", cid), rd_kafka_mem_free(s->producer, cid);
    int64_t lo = 0, hi = 0; /* the end before the load: a follower starts there (records after it, read twice, apply
                             * the same state again) */
    if (rd_kafka_query_watermark_offsets(s->producer, s->topic, 0, &lo, &hi, KS_OPEN_TIMEOUT_MS) == 0)
        s->follow_from = hi;
    else
        s->follow_from = RD_KAFKA_OFFSET_END;
    if (kread(s, kc, errstr, errsz) < 0) goto fail;
    return &s->base;
fail:
    kclose(&s->base);
    return NULL;
}

sl_wstore *sl_wstore_open(const sl_wstore_conf *conf, char *errstr, size_t errsz) {
    return conf->kind == SL_WSTORE_KAFKA ? kafka_open(conf, errstr, errsz) : sqlite_open(conf->file, errstr, errsz);
}
