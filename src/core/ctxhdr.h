/*
 * Debezium's context headers (EventDispatcher's extended headers, Debezium 3.x):
 * __debezium.context.connectorLogicalName (topic.prefix), .taskId ("0"),
 * .connectorName ("postgresql", "mariadb", ...) and .runId (a time-ordered
 * UUID made at each start), added after a change event's own headers. The
 * four headers live once per batch, in its arena, and every change event of
 * the batch points at them. Used by a source on its own thread.
 */
#ifndef SL_CORE_CTXHDR_H
#define SL_CORE_CTXHDR_H
#include "core/record.h"

typedef struct sl_ctxhdr {
    const char *logical_name, *connector_name; /* borrowed: they outlive the source */
    char run_id[37];
    sl_header *h;          /* in the arena of batch */
    const sl_batch *batch; /* the batch h belongs to, or NULL */
} sl_ctxhdr;

/* A new run id (UUIDUtils.generateNewUUID: version 7, the time in ms, random bits). */
void sl_ctxhdr_init(sl_ctxhdr *x, const char *logical_name, const char *connector_name);
/* Appends the headers to r, a change event of batch b. */
void sl_ctxhdr_add(sl_ctxhdr *x, sl_batch *b, sl_record *r);
/* Forgets the batch: call when a new batch starts (a freed batch's address may come back). */
static inline void sl_ctxhdr_new_batch(sl_ctxhdr *x) { x->batch = NULL; }

#endif
