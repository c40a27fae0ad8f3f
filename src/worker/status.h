/*
 * Distributed mode's status topic (status.storage.topic), in Kafka Connect's
 * format, so that every worker of a group answers a connector's status with
 * the state and the worker id of the one that runs it, and Kafka tools read
 * the topic as a Connect cluster's:
 *   key "status-connector-<name>", value {"state": "RUNNING", "trace": null,
 *   "worker_id": "host:port", "generation": N}; the same for its tasks,
 *   key "status-task-<name>-<id>"; a null value when the connector is deleted.
 * Each worker writes the states of the connectors it runs (and UNASSIGNED
 * for one it gave up), and reads every record (the others' too) from the
 * beginning, then as they come. The caller serialises the calls (the worker's
 * lock).
 *
 * Generations: a worker given slots takes the generation one above the
 * highest it has read and writes it in every record until its next
 * assignment; a record of a lower generation than a connector's newest is
 * ignored. So a worker that lost a connector without noticing (frozen past
 * its session) cannot overwrite the state of the one that runs it now.
 */
#ifndef SL_WORKER_STATUS_H
#define SL_WORKER_STATUS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_kafka_client;
typedef struct sl_wstatus sl_wstatus;

/* Makes sure of the topic (partitions, replication factor: when created) and starts reading it. NULL with errstr. */
sl_wstatus *sl_wstatus_open(const struct sl_kafka_client *kc, const char *topic, int partitions, int rf,
                            const char *self, char *errstr, size_t errsz);
void sl_wstatus_close(sl_wstatus *s);
/* This worker's view of a task of connector name (state NULL: deleted), written without waiting for the broker;
 * task 0's is the connector's too. */
void sl_wstatus_put(sl_wstatus *s, const char *name, int task, const char *state, const char *trace,
                    int64_t generation);
/* The generation for a worker just given slots: one above every one read so far. */
int64_t sl_wstatus_next_generation(const sl_wstatus *s);
/* Takes in what was written since the last call (non-blocking). */
void sl_wstatus_poll(sl_wstatus *s);
/* The newest record of connector name (task 0), or of its task task: its state and worker id (false: none). */
bool sl_wstatus_get(const sl_wstatus *s, const char *name, int task, char *state, size_t ssz, char *worker,
                    size_t wsz);

#endif
