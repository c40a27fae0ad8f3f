/*
 * The offset store: by default one SQLite file (WAL mode, synchronous=FULL so a
 * committed offset survives power loss) holding, per connector and source
 * partition, the last source offset whose records are durable in the sink.
 * Offsets are JSON objects, as in Kafka Connect's offset topics, so that they
 * can move to a Kafka-backed store unchanged. A handle is used by one thread
 * at a time.
 */
#ifndef SL_STATE_OFFSETS_H
#define SL_STATE_OFFSETS_H
#include <stddef.h>
#include <stdint.h>
#include "core/conf.h"
#include "kafka/kclient.h"

typedef struct sl_offsets sl_offsets;

sl_offsets *sl_offsets_open(const char *path, char *errstr, size_t errstr_size);
/* The same store kept in a Kafka topic as Kafka Connect does (offsets_kafka.h); fence_id NULL or "": no fencing. */
sl_offsets *sl_offsets_open_kafka(const sl_kafka_client *kc, const sl_config *cfg, const char *topic, int partitions,
                                  int replication_factor, const char *fence_id, char *errstr, size_t errstr_size);
/* A store that the sink keeps in its target (offset.storage=target): reads call get(arg, ...); writes happen in
 * the sink's own transactions, so put, remove, delete and list are refused with a message saying so. */
typedef int sl_offsets_get_fn(void *arg, const char *connector, const char *partition, char **offset, char *errstr,
                              size_t errstr_size);
sl_offsets *sl_offsets_open_fn(sl_offsets_get_fn *get, void *arg);
void sl_offsets_close(sl_offsets *s);
/* *offset_out: sl_malloc'ed JSON or NULL when none stored. Returns 0 or -1. */
int sl_offsets_get(sl_offsets *s, const char *connector, const char *partition, char **offset_out, char *errstr,
                   size_t errstr_size);
int sl_offsets_put(sl_offsets *s, const char *connector, const char *partition, const char *offset, char *errstr,
                   size_t errstr_size);
/* Removes the offset of one partition (none stored: not an error). */
int sl_offsets_remove(sl_offsets *s, const char *connector, const char *partition, char *errstr, size_t errstr_size);
/* Removes every offset of the connector; *removed counts rows. */
int sl_offsets_delete(sl_offsets *s, const char *connector, int *removed, char *errstr, size_t errstr_size);
/* Calls cb for every stored row (connector NULL: all connectors). */
int sl_offsets_list(sl_offsets *s, const char *connector,
                    void (*cb)(const char *connector, const char *partition, const char *offset, int64_t updated_ms,
                               void *arg),
                    void *arg, char *errstr, size_t errstr_size);

#endif
