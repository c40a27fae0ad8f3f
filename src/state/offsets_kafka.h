/*
 * The Kafka-backed offset store: offsets kept in a compacted topic exactly
 * as Kafka Connect keeps them (offset.storage.topic): key
 * ["<connector>",<partition JSON>], value <offset JSON>, a null value
 * removing the entry, records partitioned by murmur2 of the key like the Java
 * client. At open the whole topic is read (read_committed, so offsets of
 * aborted exactly-once transactions never count) into memory; puts produce
 * and wait for the broker's acknowledgement.
 *
 * Fencing (fence_id set: a distributed worker's connectors): every put is a
 * transaction of transactional.id fence_id, and opening the store first
 * registers that id, so the broker aborts what an older instance of the
 * connector left open and refuses its later writes (it ran on a worker that
 * lost the connector without noticing: frozen past its session). Each put
 * also carries its store's generation (header sluice.generation: one above
 * the highest read at open); a write of a lower generation than the one that
 * set an entry is ignored when read, whoever wrote it.
 */
#ifndef SL_STATE_OFFSETS_KAFKA_H
#define SL_STATE_OFFSETS_KAFKA_H
#include "core/conf.h"
#include "kafka/kclient.h"
#include "util/buf.h"

typedef struct sl_koffsets sl_koffsets;

sl_koffsets *sl_koffsets_open(const sl_kafka_client *kc, const sl_config *cfg, const char *topic, int partitions,
                              int replication_factor, const char *fence_id, char *errstr, size_t errstr_size);
void sl_koffsets_close(sl_koffsets *s);
int sl_koffsets_get(sl_koffsets *s, const char *connector, const char *partition, char **out, char *errstr,
                    size_t errstr_size);
/* offset NULL: a tombstone (removes the entry). */
int sl_koffsets_put(sl_koffsets *s, const char *connector, const char *partition, const char *offset, char *errstr,
                    size_t errstr_size);
int sl_koffsets_delete(sl_koffsets *s, const char *connector, int *removed, char *errstr, size_t errstr_size);
int sl_koffsets_list(sl_koffsets *s, const char *connector,
                     void (*cb)(const char *connector, const char *partition, const char *offset,
                                int64_t updated_ms, void *arg),
                     void *arg, char *errstr, size_t errstr_size);
/* The record key of an offset, as Connect writes it: ["connector",partition]. */
void sl_koffsets_key(sl_buf *out, const char *connector, const char *partition);

#endif
