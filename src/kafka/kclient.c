/* Shared Kafka client configuration (see kclient.h). */
#include "kafka/kclient.h"
#include "core/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const protocols[] = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl"};

/* Java client names that librdkafka spells differently or does not have. */
static const struct {
    const char *java, *rd; /* rd NULL: has no meaning here, ignored with a warning */
} renames[] = {
    {"max.request.size", "message.max.bytes"},
    {"buffer.memory", "queue.buffering.max.kbytes"}, /* bytes -> KiB below */
    {"key.serializer", NULL},
    {"value.serializer", NULL},
    {"key.deserializer", NULL},
    {"value.deserializer", NULL},
    {"max.poll.records", NULL},
    {"interceptor.classes", NULL},
    {"metric.reporters", NULL},
};

/* Java assignor class names -> librdkafka's strategy names. */
static const struct {
    const char *java, *rd;
} assignors[] = {
    {"org.apache.kafka.clients.consumer.CooperativeStickyAssignor", "cooperative-sticky"},
    {"org.apache.kafka.clients.consumer.RangeAssignor", "range"},
    {"org.apache.kafka.clients.consumer.RoundRobinAssignor", "roundrobin"},
};

int sl_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr, size_t errsz) {
    char tmp[64], err[512];
    for (size_t i = 0; i < sizeof renames / sizeof renames[0]; i++) {
        if (strcmp(key, renames[i].java) != 0) continue;
        if (!renames[i].rd) {
            SL_WARN("kafka", "client property has no effect here, ignored: key=%s", key);
            return 0;
        }
        if (strcmp(key, "buffer.memory") == 0) {
            snprintf(tmp, sizeof tmp, "%lld", atoll(value) / 1024 > 0 ? atoll(value) / 1024 : 1);
            value = tmp;
        }
        key = renames[i].rd;
        break;
    }
    if (strcmp(key, "partition.assignment.strategy") == 0)
        for (size_t i = 0; i < sizeof assignors / sizeof assignors[0]; i++)
            if (strcmp(value, assignors[i].java) == 0) value = assignors[i].rd;
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errsz, "%s: %s", key, err);
        return -1;
    }
    return 0;
}

/* Value of name="..." (or name='...') inside a JAAS line, sl_malloc'ed, or NULL. */
static char *jaas_value(const char *jaas, const char *name) {
    size_t n = strlen(name);
    for (const char *p = jaas; (p = strstr(p, name)); p += n) {
        if (p > jaas && p[-1] != ' ' && p[-1] != '\t' && p[-1] != ';') continue;
        const char *q = p + n;
        while (*q == ' ') q++;
        if (*q != '=') continue;
        q++;
        while (*q == ' ') q++;
        char quote = *q;
        if (quote != '"' && quote != '\'') continue;
        const char *e = strchr(q + 1, quote);
        if (!e) return NULL;
        return sl_strndup(q + 1, (size_t)(e - q - 1));
    }
    return NULL;
}

static bool sensitive_key(const char *k) {
    return strstr(k, "password") || strstr(k, "jaas") || strstr(k, "secret") || strstr(k, "token");
}

static int apply_overrides(rd_kafka_conf_t *conf, const sl_config *cfg, const char *prefix, char *errstr,
                           size_t errsz) {
    size_t plen = prefix ? strlen(prefix) : 0;
    for (int i = 0; prefix && i < cfg->n; i++) {
        const char *k = cfg->kv[i].key;
        if (strncmp(k, prefix, plen) != 0 || !k[plen]) continue;
        if (sensitive_key(k)) sl_log_add_secret(cfg->kv[i].value);
        char err[512];
        if (sl_kafka_conf_set(conf, k + plen, cfg->kv[i].value, err, sizeof err) < 0) {
            snprintf(errstr, errsz, "%s%s", prefix, err);
            return -1;
        }
    }
    return 0;
}

rd_kafka_conf_t *sl_kafka_conf_new(const sl_kafka_client *kc, const sl_config *cfg, const char *prefix,
                                   char *errstr, size_t errsz) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    char *user = NULL, *pass = NULL;
    const char *proto = protocols[kc->security_protocol];
#define SET(k, v)                                                                                                     \
    do {                                                                                                              \
        if ((v) && sl_kafka_conf_set(conf, k, v, err, sizeof err) < 0) {                                              \
            snprintf(errstr, errsz, "%s", err);                                                                       \
            goto fail;                                                                                                \
        }                                                                                                             \
    } while (0)
    SET("bootstrap.servers", kc->bootstrap);
    SET("security.protocol", proto);
    if (strncmp(proto, "sasl", 4) == 0) {
        SET("sasl.mechanisms", kc->sasl_mechanism);
        user = kc->sasl_username ? sl_strdup(kc->sasl_username)
                                 : kc->sasl_jaas_config ? jaas_value(kc->sasl_jaas_config, "username") : NULL;
        pass = kc->sasl_password ? sl_strdup(kc->sasl_password)
                                 : kc->sasl_jaas_config ? jaas_value(kc->sasl_jaas_config, "password") : NULL;
        if (pass) sl_log_add_secret(pass);
        SET("sasl.username", user);
        SET("sasl.password", pass);
    }
    if (strstr(proto, "ssl")) {
        SET("ssl.ca.location", kc->ssl_ca);
        SET("ssl.certificate.location", kc->ssl_cert);
        SET("ssl.key.location", kc->ssl_key);
        SET("ssl.key.password", kc->ssl_key_password);
        SET("ssl.endpoint.identification.algorithm", kc->ssl_verify_hostname ? "https" : "none");
    }
#undef SET
    if (apply_overrides(conf, cfg, prefix, errstr, errsz) < 0) goto fail;
    sl_free(user);
    sl_free(pass);
    return conf;
fail:
    sl_free(user);
    sl_free(pass);
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static pthread_mutex_t worker_lock = PTHREAD_MUTEX_INITIALIZER;
static char *worker_bootstrap; /* under worker_lock */

void sl_kafka_set_worker_bootstrap(const char *servers) {
    pthread_mutex_lock(&worker_lock);
    sl_free(worker_bootstrap);
    worker_bootstrap = servers && *servers ? sl_strdup(servers) : NULL;
    pthread_mutex_unlock(&worker_lock);
}

void sl_kafka_client_default(sl_kafka_client *kc, sl_config *cfg, const char *who) {
    if (kc->bootstrap && *kc->bootstrap) return;
    const char *env = getenv(SL_KAFKA_BOOTSTRAP_ENV), *why;
    pthread_mutex_lock(&worker_lock);
    char *v = worker_bootstrap ? sl_strdup(worker_bootstrap) : NULL;
    pthread_mutex_unlock(&worker_lock);
    if (v) why = "the worker's bootstrap.servers";
    else if (env && *env) v = sl_strdup(env), why = "from the environment variable " SL_KAFKA_BOOTSTRAP_ENV;
    else v = sl_strdup(SL_KAFKA_BOOTSTRAP_DEFAULT), why = "Kafka's default";
    SL_INFO("kafka", "bootstrap.servers not set: using %s (%s) %s", v, why, who);
    sl_free(kc->bootstrap);
    kc->bootstrap = v;
    if (cfg) {
        sl_config_set(cfg, "bootstrap.servers", v);
        sl_config_claim(cfg, "bootstrap.servers");
    }
}

void sl_kafka_client_check(const sl_kafka_client *kc, sl_config *cfg, const char *prefix, const char *what,
                           sl_errs *errs) {
    if (!kc) goto overrides;
    if (!kc->bootstrap || !*kc->bootstrap)
        sl_errs_add(errs, "bootstrap.servers: required for the Kafka %s (host:port[,host:port...])", what);
    const char *proto = protocols[kc->security_protocol];
    if (strncmp(proto, "sasl", 4) == 0) {
        const char *m = kc->sasl_mechanism ? kc->sasl_mechanism : "";
        if (strcasecmp(m, "PLAIN") && strcasecmp(m, "SCRAM-SHA-256") && strcasecmp(m, "SCRAM-SHA-512"))
            sl_errs_add(errs, "sasl.mechanism: '%s' is not supported (allowed: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", m);
        char *u = kc->sasl_username ? NULL : kc->sasl_jaas_config ? jaas_value(kc->sasl_jaas_config, "username") : NULL;
        if (!kc->sasl_username && !u)
            sl_errs_add(errs, "sasl.jaas.config: security.protocol=%s needs a user: set sasl.jaas.config "
                              "(username=\"...\" password=\"...\") or sasl.username/sasl.password",
                        proto);
        sl_free(u);
    }
overrides:;
    size_t plen = prefix ? strlen(prefix) : 0;
    for (int i = 0; prefix && i < cfg->n; i++)
        if (strncmp(cfg->kv[i].key, prefix, plen) == 0) sl_config_claim(cfg, cfg->kv[i].key);
    /* Dry run: librdkafka checks names and values without any network I/O. */
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (apply_overrides(conf, cfg, prefix, err, sizeof err) < 0) sl_errs_add(errs, "%s", err);
    rd_kafka_conf_destroy(conf);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    /* syslog levels: 0-3 errors, 4 warning, 5-6 notice/info, 7 debug */
    if (level <= 4) SL_WARN("kafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
    else if (level <= 6) SL_INFO("kafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
    else SL_DEBUG("kafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

/*
 * Errors that will not heal by retrying (authentication, TLS), per client
 * handle, so that waits such as a metadata request end at once with the
 * real reason instead of a timeout with a vague one.
 */
static pthread_mutex_t hard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    const rd_kafka_t *rk;
    char msg[384];
} hard[16];

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)opaque;
    SL_WARN("kafka", "%s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    if (err != RD_KAFKA_RESP_ERR__AUTHENTICATION && err != RD_KAFKA_RESP_ERR__SSL &&
        err != RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED && err != RD_KAFKA_RESP_ERR__FATAL)
        return;
    pthread_mutex_lock(&hard_lock);
    size_t slot = ((uintptr_t)rk >> 4) % (sizeof hard / sizeof hard[0]);
    hard[slot].rk = rk;
    snprintf(hard[slot].msg, sizeof hard[slot].msg, "%s", reason);
    pthread_mutex_unlock(&hard_lock);
}

/* One configuration value of client rk into buf ("" when unset). */
static const char *conf_value(rd_kafka_t *rk, const char *key, char *buf, size_t bufsz) {
    size_t n = bufsz;
    if (rd_kafka_conf_get(rd_kafka_conf(rk), key, buf, &n) != RD_KAFKA_CONF_OK) buf[0] = '\0';
    return buf;
}

/* "<bootstrap> (<protocol>[, SASL mechanism M, user U])": where rk connects and as whom, never with what password. */
static void describe_client(rd_kafka_t *rk, char *out, size_t outsz) {
    char servers[256], proto[32], mech[64], user[128];
    conf_value(rk, "bootstrap.servers", servers, sizeof servers);
    conf_value(rk, "security.protocol", proto, sizeof proto);
    for (char *p = proto; *p; p++) *p = (char)toupper((unsigned char)*p);
    int n = snprintf(out, outsz, "%s (%s", servers, proto);
    if (n > 0 && (size_t)n < outsz && strncmp(proto, "SASL", 4) == 0)
        n += snprintf(out + n, outsz - (size_t)n, ", SASL mechanism %s, user %s",
                      conf_value(rk, "sasl.mechanisms", mech, sizeof mech),
                      *conf_value(rk, "sasl.username", user, sizeof user) ? user : "(none)");
    if (n > 0 && (size_t)n < outsz) snprintf(out + n, outsz - (size_t)n, ")");
}

int sl_kafka_hard_error(rd_kafka_t *rk, char *out, size_t outsz) {
    char msg[sizeof hard[0].msg];
    int found = 0;
    pthread_mutex_lock(&hard_lock);
    size_t slot = ((uintptr_t)rk >> 4) % (sizeof hard / sizeof hard[0]);
    if (hard[slot].rk == rk) {
        snprintf(msg, sizeof msg, "%s", hard[slot].msg);
        found = 1;
    }
    pthread_mutex_unlock(&hard_lock);
    if (found) {
        char who[512];
        describe_client(rk, who, sizeof who);
        snprintf(out, outsz, "cannot talk to the Kafka cluster at %s: %s", who, msg);
    }
    return found;
}

int sl_kafka_poll_hard_error(rd_kafka_t *rk, char *out, size_t outsz) {
    rd_kafka_poll(rk, 0); /* serves the error callback */
    return sl_kafka_hard_error(rk, out, outsz);
}

rd_kafka_resp_err_t sl_kafka_metadata(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const struct rd_kafka_metadata **md,
                                      int timeout_ms, char *errstr, size_t errsz) {
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    int64_t deadline = sl_mono_ms() + timeout_ms;
    /* A timed-out request is not answered later: the slices double, so a slow broker still can. */
    int64_t slice = 500;
    for (int64_t left = timeout_ms; left > 0; left = deadline - sl_mono_ms(), slice *= 2) {
        err = rd_kafka_metadata(rk, 0, rkt, md, (int)(left < slice ? left : slice));
        if (err != RD_KAFKA_RESP_ERR__TIMED_OUT && err != RD_KAFKA_RESP_ERR__TRANSPORT) break;
        if (sl_kafka_poll_hard_error(rk, errstr, errsz)) return RD_KAFKA_RESP_ERR__AUTHENTICATION;
    }
    if (err) snprintf(errstr, errsz, "%s", rd_kafka_err2str(err));
    return err;
}

void sl_kafka_conf_logging(rd_kafka_conf_t *conf, const char *what) {
    (void)what;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
}

rd_kafka_t *sl_kafka_store_producer(const sl_kafka_client *kc, const sl_config *cfg, const char *topic,
                                    int partitions, int replication_factor, int timeout_ms,
                                    const char *const *extra, void (*dr)(rd_kafka_t *, const rd_kafka_message_t *,
                                                                         void *),
                                    void *opaque, const char *what, bool *topic_failed, char *errstr,
                                    size_t errsz) {
    *topic_failed = false;
    rd_kafka_conf_t *conf = sl_kafka_conf_new(kc, cfg, NULL, errstr, errsz);
    if (!conf) return NULL;
    int bad = sl_kafka_conf_set(conf, "enable.idempotence", "true", errstr, errsz) < 0 ||
              sl_kafka_conf_set(conf, "linger.ms", "0", errstr, errsz) < 0;
    for (const char *const *kv = extra; !bad && kv && kv[0]; kv += 2)
        bad = sl_kafka_conf_set(conf, kv[0], kv[1], errstr, errsz) < 0;
    if (bad) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_conf_set_opaque(conf, opaque);
    sl_kafka_conf_logging(conf, what);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        snprintf(errstr, errsz, "%s", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    static const char *const topic_conf[] = {"cleanup.policy", "compact", NULL};
    if (sl_kafka_ensure_topic(rk, topic, partitions, replication_factor, topic_conf, timeout_ms, errstr, errsz) < 0) {
        *topic_failed = true;
        sl_kafka_forget(rk);
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

void sl_kafka_forget(const rd_kafka_t *rk) {
    pthread_mutex_lock(&hard_lock);
    size_t slot = ((uintptr_t)rk >> 4) % (sizeof hard / sizeof hard[0]);
    if (hard[slot].rk == rk) hard[slot].rk = NULL;
    pthread_mutex_unlock(&hard_lock);
}

/* ---- fetch waker (kclient.h) ---- */

struct sl_kafka_waker {
    rd_kafka_t *rk;
    size_t every, read; /* half the prefetch bound; bytes read since the last poke */
    pthread_t thr;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool due, stop;
    char topic[256];
    int32_t partition;
};

static void *waker_main(void *arg) {
    sl_kafka_waker *w = arg;
    char topic[sizeof w->topic];
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->due && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop) break;
        memcpy(topic, w->topic, sizeof topic);
        int32_t partition = w->partition;
        pthread_mutex_unlock(&w->mu);
        int64_t lo, hi; /* the answer is not needed: the request is what wakes the broker thread */
        rd_kafka_query_watermark_offsets(w->rk, topic, partition, &lo, &hi, 1000);
        pthread_mutex_lock(&w->mu);
        w->due = false; /* reads while the request was out are covered by it */
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

sl_kafka_waker *sl_kafka_waker_new(rd_kafka_t *rk) {
    char kb[32];
    long long bound = atoll(conf_value(rk, "queued.max.messages.kbytes", kb, sizeof kb));
    if (bound <= 0) return NULL;
    sl_kafka_waker *w = sl_calloc(1, sizeof *w);
    w->rk = rk;
    w->every = (size_t)bound * 512;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thr, NULL, waker_main, w) != 0) {
        SL_WARN("kafka", "no fetch waker thread: a source faster than its prefetch bound per second waits");
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        sl_free(w);
        return NULL;
    }
    return w;
}

void sl_kafka_waker_read(sl_kafka_waker *w, const rd_kafka_message_t *m) {
    if (!w || m->err || !m->rkt) return;
    w->read += m->len + m->key_len;
    if (w->read < w->every) return;
    w->read = 0;
    pthread_mutex_lock(&w->mu);
    if (!w->due) {
        snprintf(w->topic, sizeof w->topic, "%s", rd_kafka_topic_name(m->rkt));
        w->partition = m->partition;
        w->due = true;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
}

void sl_kafka_waker_free(sl_kafka_waker *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thr, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    sl_free(w);
}

/* 1: exists, 0: unknown to the broker, -1: error (an authentication or TLS failure at once). */
static int topic_exists(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr, size_t errsz) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    char why[768];
    rd_kafka_resp_err_t err = sl_kafka_metadata(rk, rkt, &md, timeout_ms, why, sizeof why);
    rd_kafka_topic_destroy(rkt);
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
        snprintf(errstr, errsz, "%s", why);
        return -1;
    }
    if (err) {
        snprintf(errstr, errsz, "topic %s: metadata request failed: %s", topic, why);
        return -1;
    }
    int rc = 0;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[0].partition_cnt > 0)
        rc = 1;
    else if (md->topic_cnt == 1 && md->topics[0].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
             md->topics[0].err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
        snprintf(errstr, errsz, "topic %s: %s", topic, rd_kafka_err2str(md->topics[0].err));
        rc = -1;
    }
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* After CreateTopics: waits until the client's metadata knows the topic's partitions, so the
 * first records are not held back until librdkafka's next periodic metadata refresh. */
static void await_metadata(rd_kafka_t *rk, const char *topic, int timeout_ms) {
    char err[256];
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (topic_exists(rk, topic, 1000, err, sizeof err) != 0) return;
        rd_kafka_poll(rk, 20);
    }
}

int sl_kafka_ensure_topic(rd_kafka_t *rk, const char *topic, int partitions, int rf, const char *const *configs,
                          int timeout_ms, char *errstr, size_t errsz) {
    int ex = topic_exists(rk, topic, timeout_ms, errstr, errsz);
    if (ex != 0) return ex > 0 ? 0 : -1;
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, rf, err, sizeof err);
    if (!nt) {
        snprintf(errstr, errsz, "topic %s: %s", topic, err);
        return -1;
    }
    for (int i = 0; configs && configs[i] && configs[i + 1]; i += 2)
        if (*configs[i + 1] && rd_kafka_NewTopic_set_config(nt, configs[i], configs[i + 1])) {
            snprintf(errstr, errsz, "topic %s: bad topic config %s=%s", topic, configs[i], configs[i + 1]);
            rd_kafka_NewTopic_destroy(nt);
            return -1;
        }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, timeout_ms, NULL, 0);
    rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, NULL, 0);
    rd_kafka_CreateTopics(rk, &nt, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    int rc = -1;
    if (!ev) {
        snprintf(errstr, errsz, "topic %s: no answer to CreateTopics within %d ms", topic, timeout_ms);
    } else if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errsz, "topic %s: cannot create: %s", topic, rd_kafka_event_error_string(ev));
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rd_kafka_resp_err_t e = n ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            rc = 0;
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                SL_INFO("kafka", "created topic topic=%s partitions=%d replication_factor=%d", topic, partitions, rf);
        } else {
            const char *m = rd_kafka_topic_result_error_string(res[0]);
            snprintf(errstr, errsz, "topic %s: cannot create: %s", topic, m ? m : rd_kafka_err2str(e));
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    if (rc == 0) await_metadata(rk, topic, timeout_ms);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

int sl_kafka_read_topic(const sl_kafka_client *kc, const sl_config *cfg, const char *topic, const char *group,
                        const char *what, const char *topic_key, int partitions, int timeout_ms,
                        sl_kafka_record_fn *fn, void *arg, char *errstr, size_t errsz) {
    char err[512];
    rd_kafka_conf_t *conf = sl_kafka_conf_new(kc, cfg, NULL, err, sizeof err);
    if (!conf) {
        snprintf(errstr, errsz, "%s: %s", what, err);
        return -1;
    }
    if (sl_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err) < 0 ||
        sl_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof err) < 0 ||
        sl_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) < 0 ||
        sl_kafka_conf_set(conf, "group.id", group, err, sizeof err) < 0 ||
        sl_kafka_conf_set(conf, "client.id", group, err, sizeof err) < 0) {
        snprintf(errstr, errsz, "%s: %s", what, err);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    sl_kafka_conf_logging(conf, what);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!c) {
        snprintf(errstr, errsz, "%s: %s", what, err);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    int rc = -1, records = 0;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = sl_kafka_metadata(c, rkt, &md, 30000, err, sizeof err);
    rd_kafka_topic_destroy(rkt);
    if (e || md->topic_cnt != 1 || md->topics[0].err) {
        snprintf(errstr, errsz, "%s: topic %s (%s): %s", what, topic, topic_key,
                 e ? err : rd_kafka_err2str(md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        goto out;
    }
    int np = md->topics[0].partition_cnt;
    if (partitions > 0 && np != partitions) {
        snprintf(errstr, errsz,
                 "%s: topic %s (%s) has %d partitions; it must have exactly %d, so that every change is read in "
                 "the order it was made (as Kafka Connect requires): use another topic",
                 what, topic, topic_key, np, partitions);
        goto out;
    }
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(np);
    for (int i = 0; i < np; i++)
        rd_kafka_topic_partition_list_add(tp, topic, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, tp);
    rd_kafka_topic_partition_list_destroy(tp);
    /* every partition's end, once (a partition reports it again only after new records). EOF alone is not
     * enough: a partition written on and on (an exactly-once connector commits a transaction every few ms) may
     * never come to one, since each fetch finds new records. So the end is also where the partition stood when
     * the read began (its last stable offset: what read_committed reads up to): a record at or past it ends it. */
    char *at_end = sl_calloc((size_t)(np ? np : 1), 1);
    int64_t *end = sl_calloc((size_t)(np ? np : 1), sizeof *end);
    int ends = 0;
    for (int i = 0; i < np; i++) {
        int32_t id = md->topics[0].partitions[i].id;
        int64_t lo = 0, hi = 0;
        if (id < 0 || id >= np) continue;
        if (rd_kafka_query_watermark_offsets(c, topic, id, &lo, &hi, 30000) != 0)
            hi = INT64_MAX; /* (unknown: its EOF tells) */
        end[id] = hi;
        if (hi <= lo) at_end[id] = 1, ends++;
    }
    int64_t deadline = sl_mono_ms() + timeout_ms;
    char hard[768];
    while (ends < np) {
        if (sl_mono_ms() > deadline) {
            /* which partitions, where, and how far their end is: an open transaction holds read_committed back */
            char parts[256] = "";
            size_t pl = 0;
            for (int i = 0; i < np && pl < sizeof parts - 64; i++) {
                if (at_end[i]) continue;
                int64_t lo = 0, hi = 0, pos = -1;
                rd_kafka_get_watermark_offsets(c, topic, i, &lo, &hi);
                rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(l, topic, i);
                if (!rd_kafka_position(c, l)) pos = l->elems[0].offset;
                rd_kafka_topic_partition_list_destroy(l);
                pl += (size_t)snprintf(parts + pl, sizeof parts - pl, "%s%d (at %lld of %lld)", pl ? ", " : "", i,
                                       (long long)pos, (long long)hi);
            }
            snprintf(errstr, errsz, "%s: topic %s (%s) not read to its end within %d ms: partition %s (a transaction "
                     "left open by a producer that is gone holds a read_committed reader back until "
                     "transaction.timeout.ms)", what, topic, topic_key, timeout_ms, parts);
            goto out_free;
        }
        if (sl_kafka_poll_hard_error(c, hard, sizeof hard)) {
            snprintf(errstr, errsz, "%s: reading topic %s: %s", what, topic, hard);
            goto out_free;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < np && !at_end[m->partition]) at_end[m->partition] = 1, ends++;
        } else if (m->err) {
            snprintf(errstr, errsz, "%s: reading topic %s: %s", what, topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            goto out_free;
        } else {
            if (m->partition >= 0 && m->partition < np && !at_end[m->partition] && m->offset >= end[m->partition] - 1)
                at_end[m->partition] = 1, ends++; /* (the last record before the end: a commit marker may follow) */
            if (!m->key) {
                rd_kafka_message_destroy(m);
                continue;
            }
            rd_kafka_timestamp_type_t tt;
            rd_kafka_headers_t *h = NULL;
            if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR) h = NULL;
            fn(arg, m->key, m->key_len, m->payload, m->len, rd_kafka_message_timestamp(m, &tt), h);
            records++;
        }
        rd_kafka_message_destroy(m);
    }
    rc = records;
out_free:
    sl_free(at_end);
    sl_free(end);
out:
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_consumer_close(c);
    sl_kafka_forget(c);
    rd_kafka_destroy(c);
    return rc;
}

bool sl_kafka_topic_legal(const char *t) {
    size_t n = strlen(t);
    if (n == 0 || n > 249 || !strcmp(t, ".") || !strcmp(t, "..")) return false;
    return strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}
