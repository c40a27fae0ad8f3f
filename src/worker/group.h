/*
 * Distributed mode's membership (sluice serve with group.id): the workers of
 * a group share the connectors through Kafka's own group protocol, with no
 * consensus of their own. librdkafka cannot join Kafka Connect's "connect"
 * protocol, so the group is an ordinary consumer group over an internal
 * topic (task.slots.topic) whose partitions stand for task slots: connector
 * <name> lives in slot fnv1a(name) mod the topic's partition count, and the
 * worker that holds that partition runs it. Assignment is cooperative-sticky
 * and membership static (group.instance.id = the worker id), so a worker that
 * restarts within session.timeout.ms gets its slots back without a
 * rebalance, and one that is gone loses them to the others after it.
 *
 * A slot being taken away (a rebalance, or a lost session) is released
 * before the group may give it to another worker: revoke() is called with
 * the slots and returns once their connectors have stopped. Nothing is read
 * from or written to the topic itself. More connectors than slots share
 * slots (a slot's connectors run on one worker); more slots than workers is
 * the normal case (the default is 32).
 *
 * Thread: one of its own, polling the consumer (and, through tick(), the
 * worker's other periodic Kafka work).
 */
#ifndef SL_WORKER_GROUP_H
#define SL_WORKER_GROUP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_kafka_client;

typedef struct sl_wgroup_conf {
    const struct sl_kafka_client *kafka;
    const char *group_id, *instance_id; /* group.id; the worker id */
    const char *topic;                  /* task.slots.topic */
    int slots;                          /* its partitions when the worker creates it */
    int replication_factor;             /* of a topic the worker creates; -1: the broker's default */
    int64_t session_ms, heartbeat_ms;
    /* Called on the group's thread: assigned (slots just given), revoke (slots taken: returns once their
     * connectors have stopped), tick (every 100 ms). */
    void (*assigned)(void *arg);
    void (*revoke)(void *arg, const bool *slots, int nslots);
    void (*tick)(void *arg);
    void *arg;
} sl_wgroup_conf;

typedef struct sl_wgroup sl_wgroup;

/* Makes sure of the topic and joins the group (on a thread of its own). NULL with errstr naming the key. */
sl_wgroup *sl_wgroup_start(const sl_wgroup_conf *c, char *errstr, size_t errsz);
/* Leaves: the slots' connectors are the caller's to stop (a static member keeps its slots until its session
 * times out, so that a quick restart gets them back). */
void sl_wgroup_stop(sl_wgroup *g);
/* The slot of connector name among nslots; g's slot of it; whether this worker holds it now. Any thread. */
int sl_wgroup_slot_of(const char *name, int nslots);
int sl_wgroup_slot(const sl_wgroup *g, const char *name);
bool sl_wgroup_owns(const sl_wgroup *g, const char *name);
/* The slots this worker holds (into out, at most max); how many, and the total in *nslots. */
int sl_wgroup_owned(const sl_wgroup *g, int *out, int max, int *nslots);
/* Rebalances this worker took part in (assignments and revocations). */
uint64_t sl_wgroup_rebalances(const sl_wgroup *g);

#endif
