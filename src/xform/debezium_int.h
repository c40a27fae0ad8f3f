/*
 * Private parts shared by the Debezium transform files: debezium.c
 * (ExtractNewRecordState and the group's registry) and debezium_outbox.c
 * (the outbox EventRouter and its purge of published rows).
 */
#ifndef SL_XFORM_DEBEZIUM_INT_H
#define SL_XFORM_DEBEZIUM_INT_H
#include "xform/xform.h"

extern const sl_xform_ops sl_xform_unwrap_ops;
extern const sl_xform_ops sl_xform_outbox_ops;

/* True when r's value (the view) is a Debezium change envelope: a value schema named *.Envelope, or
 * (schemaless) an object with a string "op" and a "before" or "after" member. */
bool sl_xdbz_is_envelope(sl_xrec *r);
/* A struct field's schema as a schema of its own (Connect's ExtractField): a copy of fs's top level in h
 * without "field" (its children stay shared); NULL for NULL. */
sl_val *sl_xdbz_field_schema(sl_vheap *h, sl_val *fs);
/* sl_xdbz_field_schema(fs) made optional and without its default (Connect's
 * SchemaUtil.copySchemaBasics(..).optional()). */
sl_val *sl_xdbz_optional_copy(sl_vheap *h, sl_val *fs);

/*
 * Outbox purge (transforms.<name>.table.purge=durable). The router keeps the
 * ids of the rows whose events it emitted, per table; once the runtime says
 * everything emitted so far is durable in the sink, sl_outbox_durable()
 * deletes them from the source database. Sink thread.
 */
/* Appends the DELETE statements for the pending ids (one per table, ';'-terminated) to out; returns how
 * many ids they cover. dialect: 'p' PostgreSQL, 'm' MySQL/MariaDB. Does not clear the pending list. */
int sl_outbox_purge_sql(void *state, char dialect, sl_buf *out);
/* Everything the router emitted so far is durable: runs the purge and clears the pending ids. Returns the
 * number of ids purged, -1 on a database error (logged; the ids are kept for the next call). */
int sl_outbox_durable(void *state);

#endif
