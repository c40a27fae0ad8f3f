/*
 * Transaction metadata (provide.transaction.metadata), as Debezium's
 * transaction monitor emits it: a BEGIN record before the first captured
 * event of a transaction and an END record after its commit with the number
 * of events per table. A transaction without captured events gets neither.
 * Used by a source on its own thread; the records go into the same batches
 * as the events, so they keep their order and share the offset contract.
 */
#ifndef SL_CORE_TXMON_H
#define SL_CORE_TXMON_H
#include "core/record.h"

typedef struct sl_txmon {
    bool open;               /* BEGIN emitted, END not yet */
    uint64_t events;
    struct sl_txmon_coll {
        char *name;          /* data_collection: "<schema>.<table>" (binlog: "<db>.<table>") */
        uint64_t n;
    } *coll;
    int ncoll, cap;
    uint64_t coll_order;     /* the last counted event's position among its table's (data_collection_order) */
} sl_txmon;

/* Before adding a change event of table t: when it is the transaction's
 * first, appends the BEGIN record to b and returns it (the caller fills its
 * transaction fields exactly as the event's: txid, pos, ts_us, tx_order);
 * counts the event either way. NULL when no BEGIN was added. */
sl_record *sl_txmon_event(sl_txmon *m, sl_batch *b, const sl_table *t);
/* The same for an event counted under the data collection name `coll` when t is NULL. */
sl_record *sl_txmon_event_coll(sl_txmon *m, sl_batch *b, const sl_table *t, const char *coll);
/* Opens the transaction at its start (Debezium PostgreSQL emits BEGIN on the BEGIN
 * message, captured events or not): appends and returns the BEGIN record. */
sl_record *sl_txmon_begin(sl_txmon *m, sl_batch *b);
/* At commit: appends and returns the END record (event_count and
 * data_collections filled, in the order of Debezium's HashMap of the
 * per-table counts; the caller fills the rest as for BEGIN), or NULL
 * when the transaction had no captured event. Resets the monitor. */
sl_record *sl_txmon_commit(sl_txmon *m, sl_batch *b);
/* Forgets an open transaction (the connection was lost mid-transaction). */
void sl_txmon_reset(sl_txmon *m);
void sl_txmon_free(sl_txmon *m);

#endif
