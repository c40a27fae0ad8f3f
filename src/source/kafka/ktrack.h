/*
 * Which Kafka offsets the Kafka source may commit to its consumer group.
 *
 * The group's committed offsets are the source's real position, so one may
 * only move past a message once the sink made it durable. The tracker keeps,
 * per topic-partition, three positions (each "the next offset to read"):
 *
 *   pending    - noted by the batch being filled (not yet handed on)
 *   acked      - in batches the runtime reported durable and stored
 *                (offset_seq <= sl_ctx_committed_seq)
 *   committed  - committed to the group
 *
 * and, per batch handed on, the highest offset + 1 of each partition in it,
 * until that batch is acked. Skipped records (errors.tolerance=all) are
 * noted too: their offsets are committed with the batch that follows them.
 *
 * Plain data, no librdkafka, so it is unit tested without a broker. Thread:
 * the source thread only (librdkafka runs the rebalance callback there too).
 */
#ifndef SL_SOURCE_KAFKA_KTRACK_H
#define SL_SOURCE_KAFKA_KTRACK_H
#include <stdbool.h>
#include <stdint.h>
#include "util/buf.h"

typedef struct sl_ktp {
    char *topic;
    int32_t partition;
    int64_t pending;   /* -1: none; likewise below */
    int64_t acked;
    int64_t committed;
    int64_t last;      /* in the newest sealed batch that had the partition (kept when it is forgotten) */
} sl_ktp;

typedef struct sl_ktrack sl_ktrack;

sl_ktrack *sl_ktrack_new(void);
void sl_ktrack_destroy(sl_ktrack *t);
/* The batch being filled now covers the message at offset. */
void sl_ktrack_note(sl_ktrack *t, const char *topic, int32_t partition, int64_t offset);
/* True when the batch being filled has noted nothing (that is still tracked). */
bool sl_ktrack_open_empty(const sl_ktrack *t);
/*
 * Closes the batch being filled as number seq (strictly increasing between
 * calls) and appends its offset JSON {"<topic>/<partition>": next, ...} to json.
 */
void sl_ktrack_seal(sl_ktrack *t, uint64_t seq, sl_buf *json);
/* Appends {"<topic>/<partition>": next, ...} of every partition any sealed batch had (its `last`): the position
 * of everything so far, as a store that is the source's truth keeps it (sl_ctx_offsets_in_sink). */
void sl_ktrack_positions(const sl_ktrack *t, sl_buf *json);
/* Sets the position of a partition that reading starts at (from such a store). */
void sl_ktrack_set_last(sl_ktrack *t, const char *topic, int32_t partition, int64_t next);
/* Every sealed batch with seq <= committed_seq is durable: moves the acked
 * positions. Returns how many partitions have acked > committed. */
int sl_ktrack_ack(sl_ktrack *t, uint64_t committed_seq);
/* Partitions known so far; pointers stay valid until the next note(). */
int sl_ktrack_count(const sl_ktrack *t);
sl_ktp *sl_ktrack_at(sl_ktrack *t, int i);
sl_ktp *sl_ktrack_find(sl_ktrack *t, const char *topic, int32_t partition);
/* The partition was revoked or newly assigned: drops what the open and the
 * sealed batches noted for it and its positions. */
void sl_ktrack_forget(sl_ktrack *t, const char *topic, int32_t partition);

#endif
