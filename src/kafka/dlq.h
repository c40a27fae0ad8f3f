/*
 * Dead letter queue writer, as Kafka Connect's DeadLetterQueueReporter:
 * a record that failed (with errors.tolerance=all) is produced to the DLQ
 * topic with its original key, value, timestamp and headers and, when
 * context headers are enabled, Connect's __connect.errors.* headers saying
 * where it came from and why it failed.
 *
 * Delivery is synchronous: send() returns only once the broker acknowledged
 * the record (idempotent producer, acks=all), because the caller may commit
 * the failed record's offset only after that. A failed delivery is tried
 * again per errors.retry.timeout / errors.retry.delay.max.ms (Connect's
 * backoff: 300 ms doubling up to the maximum delay).
 *
 * open() creates the topic through the admin API when it is missing (with
 * the replication factor clamped to the number of brokers), so it works
 * against brokers that do not auto-create topics.
 *
 * Used by the Kafka source, the MongoDB sink and the runtime (records that no sink took); the failed
 * record is described by a plain struct, not a consumed message.
 * Thread: one thread per writer (the caller's).
 */
#ifndef SL_KAFKA_DLQ_H
#define SL_KAFKA_DLQ_H
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct sl_kafka_dlq_opts {
    const char *topic;           /* errors.deadletterqueue.topic.name */
    int64_t replication_factor;  /* for a topic created here; -1: the broker's default */
    bool context_headers;        /* errors.deadletterqueue.context.headers.enable */
    const char *connector;       /* connector name, for __connect.errors.connector.name */
    int64_t retry_timeout_ms;    /* errors.retry.timeout: 0 no retries, -1 retry forever */
    int64_t retry_delay_max_ms;  /* errors.retry.delay.max.ms */
} sl_kafka_dlq_opts;

/* The record that failed, as it was consumed (or would have been produced). */
typedef struct sl_kafka_dlq_rec {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t ts_ms;                       /* -1: none */
    const void *key;                     /* NULL: null key */
    size_t key_len;
    const void *value;                   /* NULL: null value */
    size_t value_len;
    const rd_kafka_headers_t *headers;   /* original headers (copied), or NULL */
    const char *exception;               /* the Java exception class of the failure; NULL: Connect's DataException */
} sl_kafka_dlq_rec;

typedef struct sl_kafka_dlq sl_kafka_dlq;

/*
 * Creates the producer from conf (bootstrap, security and override keys
 * already set; takes ownership of conf only on success) and the topic if it
 * does not exist. stopping(stopping_arg) (NULL: never) ends a wait early: the caller stops.
 * NULL with errstr naming the topic on failure.
 */
sl_kafka_dlq *sl_kafka_dlq_open(rd_kafka_conf_t *conf, const sl_kafka_dlq_opts *o, bool (*stopping)(const void *arg),
                                const void *stopping_arg,
                                char *errstr, size_t errstr_size);
/*
 * Produces rec to the DLQ with the context headers stage ("KEY_CONVERTER",
 * "VALUE_CONVERTER", ...), class_name (the Java class that failed) and
 * reason, and waits for the acknowledgement. Returns 0, or -1 with errstr
 * when it was not delivered within the retry budget or the connector is
 * stopping.
 */
int sl_kafka_dlq_send(sl_kafka_dlq *d, const sl_kafka_dlq_rec *rec, const char *stage, const char *class_name,
                      const char *reason, char *errstr, size_t errstr_size);
/* Waits briefly for anything still in flight, then frees. NULL: no-op. */
void sl_kafka_dlq_close(sl_kafka_dlq *d);

#endif
