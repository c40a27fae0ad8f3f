/*
 * Signals to a connector's source (Debezium's signalling): ad hoc snapshots,
 * their stop / pause / resume, log lines.
 *
 * A signal is {id, type, data}: data is a JSON object or absent. They come
 * from four channels:
 *   - source: rows inserted into the signal table (signal.data.collection),
 *     which the source reads in its own change stream and hands to
 *     sl_signal_new itself;
 *   - file: signal.file, one JSON signal per line; read every
 *     signal.poll.interval.ms and emptied once read (as Debezium's file
 *     channel does);
 *   - kafka: signal.kafka.topic, records whose key is the connector's
 *     topic.prefix and whose value is {"type", "data"} (others are logged and
 *     skipped); the consumer (group signal.kafka.groupId) commits each record
 *     once it has been taken;
 *   - rest: POST /connectors/<name>/signals of the daemon (always on: the
 *     API's own authentication guards it).
 * The file and Kafka channels are polled by the source thread when it asks
 * for the next signal; REST signals wait in a queue under a lock.
 */
#include "ctx/ctx_int.h"
#include "core/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sl_signal_node {
    sl_signal *sig;
    struct sl_signal_node *next;
};

void sl_signal_free(sl_signal *s) {
    if (!s) return;
    sl_free(s->id), sl_free(s->type);
    json_decref(s->data);
    sl_free(s);
}

sl_signal *sl_signal_new(const char *id, const char *type, const char *data, const char *channel, char *errstr,
                         size_t errsz) {
    if (!type || !*type) {
        snprintf(errstr, errsz, "signal %s: no type", id ? id : "(no id)");
        return NULL;
    }
    json_t *d = NULL;
    if (data && *data) {
        json_error_t je;
        d = json_loads(data, JSON_REJECT_DUPLICATES, &je);
        if (!d || !json_is_object(d)) {
            snprintf(errstr, errsz, "signal %s (%s): data is not a JSON object%s%s", id ? id : "(no id)", type,
                     d ? "" : ": ", d ? "" : je.text);
            json_decref(d);
            return NULL;
        }
    }
    sl_signal *s = sl_calloc(1, sizeof *s);
    s->id = sl_strdup(id ? id : "");
    s->type = sl_strdup(type);
    s->data = d;
    s->channel = channel;
    return s;
}

sl_signal *sl_signal_parse(const char *json, size_t len, const char *channel, const char *default_id, char *errstr,
                           size_t errsz) {
    json_error_t je;
    json_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!j || !json_is_object(j)) {
        snprintf(errstr, errsz, "%s signal: not a JSON object%s%s", channel, j ? "" : ": ", j ? "" : je.text);
        json_decref(j);
        return NULL;
    }
    json_t *id = json_object_get(j, "id"), *type = json_object_get(j, "type"), *data = json_object_get(j, "data");
    sl_signal *s = NULL;
    if (!json_is_string(type)) {
        snprintf(errstr, errsz, "%s signal: \"type\" must be a string (execute-snapshot, stop-snapshot, "
                                "pause-snapshot, resume-snapshot or log)", channel);
    } else if (id && !json_is_string(id)) {
        snprintf(errstr, errsz, "%s signal: \"id\" must be a string", channel);
    } else if (data && !json_is_object(data) && !json_is_null(data) && !json_is_string(data)) {
        snprintf(errstr, errsz, "%s signal: \"data\" must be a JSON object", channel);
    } else if (json_is_string(data)) { /* the signal table's form: data as JSON text */
        s = sl_signal_new(id ? json_string_value(id) : default_id, json_string_value(type), json_string_value(data),
                          channel, errstr, errsz);
    } else {
        s = sl_signal_new(id ? json_string_value(id) : default_id, json_string_value(type), NULL, channel, errstr,
                          errsz);
        if (s && json_is_object(data)) s->data = json_incref(data);
    }
    json_decref(j);
    return s;
}

static void push(sl_ctx *c, sl_signal *s) {
    struct sl_signal_node *n = sl_calloc(1, sizeof *n);
    n->sig = s;
    pthread_mutex_lock(&c->sig_lock);
    struct sl_signal_node **p = &c->sig_head;
    while (*p) p = &(*p)->next;
    *p = n;
    pthread_mutex_unlock(&c->sig_lock);
}

int sl_ctx_signal_push(sl_ctx *x, const char *json, size_t len, char *errstr, size_t errsz) {
    if (!x->src_ops || !x->src_ops->takes_signals) {
        snprintf(errstr, errsz, "the %s source of connector %s takes no signals", x->src_ops ? x->src_ops->name : "",
                 x->name);
        return -1;
    }
    char id[64];
    snprintf(id, sizeof id, "rest-%lld", (long long)sl_wall_us());
    sl_signal *s = sl_signal_parse(json, len, "rest", id, errstr, errsz);
    if (!s) return -1;
    SL_INFO("signal", "received connector=%s channel=rest id=%s type=%s", x->name, s->id, s->type);
    push(x, s);
    return 0;
}

/* The file channel: every line of signal.file a signal; the file is emptied once read. */
static void poll_file(sl_ctx *c) {
    const char *path = c->core.sig_file;
    struct stat st;
    if (!path || !*path || stat(path, &st) != 0 || st.st_size == 0) return;
    FILE *f = fopen(path, "r+");
    if (!f) {
        sl_log_limited(&c->sig_log_limit, SL_LOG_WARN, "signal", "cannot open signal.file %s: %s", path,
                       strerror(errno));
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
        if (n == 0) continue;
        char err[512], id[64];
        snprintf(id, sizeof id, "file-%lld-%ld", (long long)sl_wall_us(), lineno);
        sl_signal *s = sl_signal_parse(line, (size_t)n, "file", id, err, sizeof err);
        if (!s) {
            SL_ERR("signal", "connector=%s signal.file %s line %ld skipped: %s", c->name, path, lineno, err);
            continue;
        }
        SL_INFO("signal", "received connector=%s channel=file id=%s type=%s", c->name, s->id, s->type);
        push(c, s);
    }
    free(line);
    if (ftruncate(fileno(f), 0) != 0)
        SL_WARN("signal", "cannot empty signal.file %s: %s (its signals may be read again)", path, strerror(errno));
    fclose(f);
}

/* The Kafka channel's consumer, made at the first poll. NULL (logged, tried again later) when it cannot be. */
static rd_kafka_t *signal_consumer(sl_ctx *c) {
    if (c->sig_rk) return c->sig_rk;
    int64_t now = sl_mono_ms();
    if (c->sig_rk_failed_ms && now - c->sig_rk_failed_ms < 10000) return NULL;
    char err[512];
    rd_kafka_conf_t *conf = sl_kafka_conf_new(&c->core.kafka, c->cfg, "signal.consumer.", err, sizeof err);
    const char *dflt[][2] = {{"group.id", c->core.sig_kafka_group},
                             {"auto.offset.reset", "earliest"},
                             {"enable.auto.commit", "false"},
                             {"bootstrap.servers", c->core.sig_kafka_bootstrap}};
    for (size_t i = 0; conf && i < sizeof dflt / sizeof *dflt; i++)
        if (dflt[i][1] && *dflt[i][1] && sl_kafka_conf_set(conf, dflt[i][0], dflt[i][1], err, sizeof err) < 0)
            rd_kafka_conf_destroy(conf), conf = NULL;
    rd_kafka_t *rk = NULL;
    if (conf) {
        sl_kafka_conf_logging(conf, "signal");
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
        if (!rk) rd_kafka_conf_destroy(conf);
    }
    if (rk) {
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, c->sig_topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e) {
            snprintf(err, sizeof err, "subscribe: %s", rd_kafka_err2str(e));
            rd_kafka_destroy(rk);
            rk = NULL;
        }
    }
    if (!rk) {
        SL_ERR("signal", "connector=%s: the Kafka signal channel (signal.kafka.topic=%s) cannot start: %s", c->name,
               c->sig_topic, err);
        c->sig_rk_failed_ms = now;
        return NULL;
    }
    SL_INFO("signal", "connector=%s reads signals from Kafka topic %s (group %s)", c->name, c->sig_topic,
            c->core.sig_kafka_group);
    return c->sig_rk = rk;
}

/* The Kafka channel: what its consumer holds now (no wait). */
static void poll_kafka(sl_ctx *c) {
    rd_kafka_t *rk = signal_consumer(c);
    if (!rk) return;
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(rk, 0))) {
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                sl_log_limited(&c->sig_log_limit, SL_LOG_WARN, "signal", "connector=%s signal topic %s: %s", c->name,
                               c->sig_topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        const char *prefix = c->dbz.server_name ? c->dbz.server_name : "";
        char id[96], err[512];
        snprintf(id, sizeof id, "%s-%d-%lld", c->sig_topic, (int)m->partition, (long long)m->offset);
        if (m->key_len != strlen(prefix) || memcmp(m->key, prefix, m->key_len) != 0) {
            SL_INFO("signal", "connector=%s signal %s skipped: its key is not the connector's topic.prefix '%s'",
                    c->name, id, prefix);
        } else if (!m->payload) {
            SL_WARN("signal", "connector=%s signal %s skipped: no value", c->name, id);
        } else {
            sl_signal *s = sl_signal_parse(m->payload, m->len, "kafka", id, err, sizeof err);
            if (s) {
                SL_INFO("signal", "received connector=%s channel=kafka id=%s type=%s", c->name, s->id, s->type);
                push(c, s);
            } else {
                SL_ERR("signal", "connector=%s signal %s skipped: %s", c->name, id, err);
            }
        }
        rd_kafka_commit_message(rk, m, 0); /* taken: a restart resumes an ad hoc snapshot from the source offset */
        rd_kafka_message_destroy(m);
    }
}

sl_signal *sl_ctx_signal_next(sl_ctx *x) {
    sl_ctx *c = x;
    if (!c->src_ops || !c->src_ops->takes_signals) return NULL;
    int64_t now = sl_mono_ms();
    if (sl_list_has(c->core.sig_channels, "file") && now - c->sig_file_ms >= c->core.sig_poll_ms) {
        c->sig_file_ms = now;
        poll_file(c);
    }
    if (sl_list_has(c->core.sig_channels, "kafka") && now - c->sig_kafka_ms >= 100) {
        c->sig_kafka_ms = now;
        poll_kafka(c);
    }
    pthread_mutex_lock(&c->sig_lock);
    struct sl_signal_node *n = c->sig_head;
    if (n) c->sig_head = n->next;
    pthread_mutex_unlock(&c->sig_lock);
    if (!n) return NULL;
    sl_signal *s = n->sig;
    sl_free(n);
    return s;
}

void sl_ctx_signals_close(sl_ctx *x) {
    sl_ctx *c = x;
    if (c->sig_rk) {
        rd_kafka_consumer_close(c->sig_rk);
        rd_kafka_destroy(c->sig_rk);
        c->sig_rk = NULL;
    }
    while (c->sig_head) {
        struct sl_signal_node *n = c->sig_head;
        c->sig_head = n->next;
        sl_signal_free(n->sig);
        sl_free(n);
    }
}
