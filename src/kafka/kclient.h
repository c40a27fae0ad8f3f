/*
 * What every Kafka client of sluice shares: the connection and security
 * keys (bootstrap.servers, security.protocol, sasl.*, ssl.*), their
 * translation into a librdkafka configuration, and pass-through of
 * `<prefix>*` keys (producer.override.*, consumer.override.*) to librdkafka,
 * with the Java client names users paste mapped to librdkafka's.
 *
 * A plugin embeds sl_kafka_client in its settings struct and lists
 * SL_KAFKA_CLIENT_PROPS(its_type, member) in its property table.
 */
#ifndef SL_KAFKA_KCLIENT_H
#define SL_KAFKA_KCLIENT_H
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include "core/conf.h"

typedef struct sl_kafka_client {
    char *bootstrap;
    int security_protocol;  /* index into "PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL" */
    char *sasl_mechanism;
    char *sasl_jaas_config; /* Java form: ... username="u" password="p"; */
    char *sasl_username, *sasl_password;
    char *ssl_ca, *ssl_cert, *ssl_key, *ssl_key_password;
    bool ssl_verify_hostname;
} sl_kafka_client;

#define SL_KAFKA_BOOTSTRAP_DOC                                                                                         \
    "Kafka brokers, host:port[,host:port...]. Unset in a connector that needs Kafka (its sink, source, offset "     \
    "store or dead letter queue): the worker's under sluice serve, else the environment variable "                   \
    "SLUICE_BOOTSTRAP_SERVERS, else localhost:9092 (Kafka's default); the choice is logged."
#define SL_KAFKA_CLIENT_PROPS(T, m) SL_KAFKA_CLIENT_PROPS_DOC(T, m, SL_KAFKA_BOOTSTRAP_DOC)
/* The same, with bootstrap.servers described by doc. */
#define SL_KAFKA_CLIENT_PROPS_DOC(T, m, doc)                                                                          \
    {"bootstrap.servers", SL_PT_STRING, NULL, NULL, 0, 0, 0, offsetof(T, m.bootstrap), doc,                            \
     "sink.kafka.bootstrap.servers|kafka.bootstrap.servers"},                                                          \
        {"security.protocol", SL_PT_ENUM, "PLAINTEXT", "PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL", 0, 0, 0,               \
         offsetof(T, m.security_protocol), "How the Kafka clients connect."},                                          \
        {"sasl.mechanism", SL_PT_STRING, "PLAIN", NULL, 0, 0, 0, offsetof(T, m.sasl_mechanism),                         \
         "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."},                                                    \
        {"sasl.jaas.config", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_SENSITIVE, offsetof(T, m.sasl_jaas_config),          \
         "Java JAAS line as Kafka Connect takes it; its username=\"...\" and password=\"...\" are used."},             \
        {"sasl.username", SL_PT_STRING, NULL, NULL, 0, 0, 0, offsetof(T, m.sasl_username),                             \
         "SASL user (instead of sasl.jaas.config)."},                                                                  \
        {"sasl.password", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_SENSITIVE, offsetof(T, m.sasl_password),               \
         "SASL password (instead of sasl.jaas.config)."},                                                              \
        {"ssl.ca.location", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_FILE_IN, offsetof(T, m.ssl_ca),                      \
         "PEM file of the CA certificates that sign the brokers' certificates.", "ssl.truststore.location"},           \
        {"ssl.certificate.location", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_FILE_IN, offsetof(T, m.ssl_cert),           \
         "PEM client certificate (mutual TLS)."},                                                                      \
        {"ssl.key.location", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_FILE_IN, offsetof(T, m.ssl_key),                    \
         "PEM client private key."},                                                                                   \
        {"ssl.key.password", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_SENSITIVE, offsetof(T, m.ssl_key_password),          \
         "Password of the client private key."},                                                                       \
    {                                                                                                                  \
        "ssl.endpoint.identification.algorithm.enabled", SL_PT_BOOL, "true", NULL, 0, 0, 0,                            \
            offsetof(T, m.ssl_verify_hostname), "Check that a broker's certificate names its host."                   \
    }

/*
 * Gives a config that needs Kafka and has no bootstrap.servers the one a
 * Kafka Connect worker would: the worker's (sl_kafka_set_worker_bootstrap,
 * under `sluice serve`), else the environment variable
 * SLUICE_BOOTSTRAP_SERVERS, else Kafka's default localhost:9092. Sets
 * kc->bootstrap and, when cfg is not NULL, its bootstrap.servers (claimed),
 * so plugins that read the config see it too; logs at INFO which one it used
 * and why (`who` names the client). Does nothing when kc has one.
 */
void sl_kafka_client_default(sl_kafka_client *kc, sl_config *cfg, const char *who);
/* The worker's bootstrap.servers, offered to its connectors (NULL or "": none). Copied; thread-safe. */
void sl_kafka_set_worker_bootstrap(const char *servers);
#define SL_KAFKA_BOOTSTRAP_ENV "SLUICE_BOOTSTRAP_SERVERS"
#define SL_KAFKA_BOOTSTRAP_DEFAULT "localhost:9092"

/*
 * Cross-key checks (bootstrap required, SASL credentials present when the
 * protocol needs them) and a dry run of every `<override_prefix>*` key
 * through librdkafka, so a wrong override fails at validation. Claims the
 * override keys. `what` names the client in messages ("sink", "source").
 * kc NULL: only the override keys are checked.
 */
void sl_kafka_client_check(const sl_kafka_client *kc, sl_config *cfg, const char *override_prefix, const char *what,
                           sl_errs *errs);
/*
 * A librdkafka configuration from kc plus the override keys (applied last,
 * so they win). NULL with errstr naming the key on a bad value.
 */
rd_kafka_conf_t *sl_kafka_conf_new(const sl_kafka_client *kc, const sl_config *cfg, const char *override_prefix,
                                   char *errstr, size_t errstr_size);
/* Sets one librdkafka property; -1 with errstr naming the key. Java names mapped. */
int sl_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr, size_t errstr_size);
/*
 * Makes sure `topic` exists: a metadata request, and when the broker does
 * not know it, CreateTopics with `partitions` / `replication_factor` (-1:
 * the broker's defaults) and the NULL-terminated key/value list `configs`
 * (e.g. "cleanup.policy", "compact", NULL). A topic created concurrently by
 * someone else counts as success. Blocks up to timeout_ms. Returns 0 or -1.
 */
int sl_kafka_ensure_topic(rd_kafka_t *rk, const char *topic, int partitions, int replication_factor,
                          const char *const *configs, int timeout_ms, char *errstr, size_t errstr_size);
/*
 * The producer of a Kafka store (offsets, connector configs): idempotent, linger 0, plus the
 * NULL-terminated key/value list extra, delivery reports to dr with opaque; then its compacted
 * topic is made sure of (sl_kafka_ensure_topic). NULL with the reason in errstr; *topic_failed
 * tells whether the topic step failed (the producer could be made).
 */
rd_kafka_t *sl_kafka_store_producer(const sl_kafka_client *kc, const sl_config *cfg, const char *topic,
                                    int partitions, int replication_factor, int timeout_ms,
                                    const char *const *extra, void (*dr)(rd_kafka_t *, const rd_kafka_message_t *,
                                                                         void *),
                                    void *opaque, const char *what, bool *topic_failed, char *errstr,
                                    size_t errstr_size);
/* librdkafka log lines and errors go to sluice's log (set on conf); errors that retrying
 * cannot heal (authentication, TLS, fatal) are also kept for sl_kafka_hard_error. */
void sl_kafka_conf_logging(rd_kafka_conf_t *conf, const char *what);
/*
 * 1 when client rk has met such an error, with out = "cannot talk to the Kafka cluster at
 * <bootstrap.servers> (<security.protocol>[, SASL mechanism M, user U]): <librdkafka's reason>"
 * (never a password); else 0. Only what the error callback has seen counts: see
 * sl_kafka_poll_hard_error.
 */
int sl_kafka_hard_error(rd_kafka_t *rk, char *out, size_t outsz);
/* The same after serving rk's main queue (rd_kafka_poll(rk, 0), which runs the error callback): for
 * a blocking wait's slices. Not on a consumer after rd_kafka_poll_set_consumer. */
int sl_kafka_poll_hard_error(rd_kafka_t *rk, char *out, size_t outsz);
/*
 * rd_kafka_metadata (of rkt, or of the brokers alone when NULL) in slices (500 ms, doubling), ending at once on an error
 * retrying cannot heal: then RD_KAFKA_RESP_ERR__AUTHENTICATION with sl_kafka_hard_error's message
 * in errstr. Other errors: their code, librdkafka's text in errstr.
 */
rd_kafka_resp_err_t sl_kafka_metadata(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const struct rd_kafka_metadata **md,
                                      int timeout_ms, char *errstr, size_t errsz);
/* Call before rd_kafka_destroy(rk) (its address may be reused). */
void sl_kafka_forget(const rd_kafka_t *rk);

/*
 * A consumer's fetch waker. librdkafka 2.0 (Debian 12's) stops fetching while
 * the prefetch queue holds queued.max.messages.kbytes and looks again only
 * when the broker thread wakes: at a request to that broker, or after its
 * one-second sleep. Read faster than that, the bound becomes a rate (about one
 * bound per second: 7.7k records/s of 7.4 KB at 8 MiB). The waker counts the
 * bytes the application has read; each half bound, its own thread asks the
 * leader of the partition just read for its watermarks, which wakes that
 * broker's thread to refill the queue. It runs apart from the caller because
 * the request waits behind a fetch the broker is holding (fetch.wait.max.ms).
 * new(): NULL when rk bounds no bytes. read(): the caller's thread, after each
 * message. free(): before rd_kafka_destroy; waits for a request in flight.
 */
typedef struct sl_kafka_waker sl_kafka_waker;
sl_kafka_waker *sl_kafka_waker_new(rd_kafka_t *rk);
void sl_kafka_waker_read(sl_kafka_waker *w, const rd_kafka_message_t *m);
void sl_kafka_waker_free(sl_kafka_waker *w);

/* One record of a topic read by sl_kafka_read_topic. */
typedef void sl_kafka_record_fn(void *arg, const void *key, size_t key_len, const void *value, size_t value_len,
                                int64_t ts_ms, rd_kafka_headers_t *headers /* NULL: none */);
/*
 * Reads every partition of `topic` from its beginning to its end (the last
 * stable offset as the read begins: read_committed; a partition written on
 * meanwhile ends at its first record past that, EOF or not), calling fn for
 * each record that has a key:
 * how the Kafka stores (offsets, connector configs) load their compacted
 * topic. group is the client's group.id (assign() only, it never joins);
 * what and topic_key name the store and its config key in errors;
 * partitions > 0 requires the topic to have exactly that many. Gives up on
 * an error retrying cannot heal (authentication, TLS) and after timeout_ms.
 * Returns the number of records read, or -1 with errstr.
 */
int sl_kafka_read_topic(const sl_kafka_client *kc, const sl_config *cfg, const char *topic, const char *group,
                        const char *what, const char *topic_key, int partitions, int timeout_ms,
                        sl_kafka_record_fn *fn, void *arg, char *errstr, size_t errstr_size);

/* Kafka's rule for topic names: 1-249 characters of a-z, A-Z, 0-9, '.', '_', '-', not "." or "..". */
bool sl_kafka_topic_legal(const char *t);

#endif
