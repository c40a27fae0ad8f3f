/*
 * The worker's config store: per connector, its configuration as submitted
 * (JSON text, config provider references unresolved, secrets included) and
 * its target state. Every change is durable before the call returns, so a
 * worker killed at any moment comes back with every connector in the state
 * it was last told. Two backends behind the same calls (config.storage):
 *
 * - sqlite: one SQLite file (config.storage.file.filename), each change
 *   committed (WAL, synchronous=FULL).
 * - kafka: a compacted one-partition topic (config.storage.topic) in Kafka
 *   Connect's format, so the same topic a Connect cluster uses can be read:
 *   key "connector-<name>", value {"properties": {...config...}};
 *   key "target-state-<name>", value {"state": ..., "state.v2": ...}
 *   (STARTED | PAUSED | STOPPED; as Connect writes it, "state" says PAUSED for
 *   STOPPED, for workers that predate STOPPED); a null value deletes. At open
 *   the topic is created if missing and read to its end (read_committed);
 *   writes are produced (idempotent, acks=all) and flushed: the call returns
 *   once the broker has acknowledged them.
 *
 * Target states are the worker's names here: "RUNNING" (Connect's STARTED),
 * "PAUSED", "STOPPED". A handle is used by one thread at a time (the
 * worker's lock).
 */
#ifndef SL_WORKER_STORE_H
#define SL_WORKER_STORE_H
#include <stddef.h>

struct sl_kafka_client;

typedef enum { SL_WSTORE_SQLITE, SL_WSTORE_KAFKA } sl_wstore_kind;

typedef struct sl_wstore_conf {
    sl_wstore_kind kind;
    const char *file;                    /* sqlite: the database file */
    const struct sl_kafka_client *kafka; /* kafka: bootstrap.servers and the security keys */
    const char *topic;                   /* kafka: config.storage.topic */
    int replication_factor;              /* kafka: for a topic it creates; -1: the broker's default */
} sl_wstore_conf;

typedef struct sl_wstore sl_wstore;

/* Opens the store (kafka: ensures the topic, reads it to its end). NULL with errstr naming the keys to check. */
sl_wstore *sl_wstore_open(const sl_wstore_conf *conf, char *errstr, size_t errstr_size);
void sl_wstore_close(sl_wstore *s);
/* Where the store is, for log lines ("sqlite file ./sluice-worker.db", "kafka topic connect-configs"). */
const char *sl_wstore_where(const sl_wstore *s);
/* The id of the Kafka cluster that keeps the configs ("" for a SQLite file). */
const char *sl_wstore_cluster_id(const sl_wstore *s);
/* Inserts or replaces a connector: config is a JSON object text, target "RUNNING"|"PAUSED"|"STOPPED". */
int sl_wstore_put(sl_wstore *s, const char *name, const char *config, const char *target, char *errstr,
                  size_t errstr_size);
/* Changes the target state of a stored connector (no-op for an unknown one). */
int sl_wstore_set_target(sl_wstore *s, const char *name, const char *target, char *errstr, size_t errstr_size);
int sl_wstore_delete(sl_wstore *s, const char *name, char *errstr, size_t errstr_size);
/* Distributed mode: applies what other writers (the other workers of the group) stored since the last call or
 * the load, calling cb for each connector changed with its config and target as they stand now (config NULL: it
 * was deleted). self: this worker's id, which marks its own writes (a record header) so that they are not applied
 * twice. A store nobody else writes (sqlite): 0, no calls. Non-blocking. */
int sl_wstore_follow(sl_wstore *s, const char *self,
                     void (*cb)(const char *name, const char *config, const char *target, void *arg), void *arg,
                     char *errstr, size_t errstr_size);
/* Calls cb for every stored connector, in name order. */
int sl_wstore_load(sl_wstore *s, void (*cb)(const char *name, const char *config, const char *target, void *arg),
                   void *arg, char *errstr, size_t errstr_size);

#endif
